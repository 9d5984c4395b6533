/*
 * `--backend auto` (see autobackend.h): a forked child dlopens NVIDIA's libcuda.so.1, calls
 * cuInit(0) and cuDeviceGetCount and writes one line back through a pipe: "<count> <message>".
 *
 * Owns: the probe child. May call: backend.h (tf_backend_resolve), dlopen/dlsym, libc.
 */
#include "autobackend.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "paths.h"

typedef int (*cu_init_fn)(unsigned);
typedef int (*cu_count_fn)(int *);

/* In the child: the probe itself. Writes "<count> <message>" to fd. */
static void probe_child(int fd, const char *lib, int check_origin)
{
    char line[600], lib_shown[256];   /* the library's name, short enough for any message */
    snprintf(lib_shown, sizeof lib_shown, "%.250s", lib);
    int count = -1;
    void *dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    cu_init_fn init = dl ? (cu_init_fn)dlsym(dl, "cuInit") : NULL;
    cu_count_fn get_count = dl ? (cu_count_fn)dlsym(dl, "cuDeviceGetCount") : NULL;
    int rc;
    if (!dl) {
        const char *e = dlerror();
        snprintf(line, sizeof line, "-1 %s not loadable (%s)", lib_shown, e ? e : "dlopen failed");
    } else if (!init || !get_count) {
        snprintf(line, sizeof line, "-1 %s lacks cuInit/cuDeviceGetCount", lib_shown);
    } else if (check_origin && tf_is_tensorfuse_library(*(void **)&init)) {
        snprintf(line, sizeof line, "-1 %s resolved to a TensorFuse library "
                 "(a TensorFuse lib folder is on LD_LIBRARY_PATH)", lib_shown);
    } else if ((rc = init(0)) != 0) {
        snprintf(line, sizeof line, "-1 %s: cuInit failed with error %d", lib_shown, rc);
    } else if ((rc = get_count(&count)) != 0) {
        snprintf(line, sizeof line, "-1 %s: cuDeviceGetCount failed with error %d", lib_shown, rc);
    } else {
        snprintf(line, sizeof line, "%d %s reports %d device(s)", count, lib_shown, count);
    }
    ssize_t w = write(fd, line, strlen(line));
    (void)w;
    _exit(0);
}

/* Runs the probe in a child; the number of devices (-1 when unusable) and a message. */
static int probe(const char *lib, int check_origin, char *msg, size_t msglen)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(msg, msglen, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        probe_child(fds[1], lib, check_origin);
    }
    close(fds[1]);
    if (pid < 0) {
        snprintf(msg, msglen, "fork: %s", strerror(errno));
        close(fds[0]);
        return -1;
    }
    char line[600];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof line - 1 && (r = read(fds[0], line + got, sizeof line - 1 - got)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        got += (size_t)r;
    }
    line[got] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char *space = strchr(line, ' ');
    if (!space || !WIFEXITED(status)) {
        snprintf(msg, msglen, "the probe of %.250s crashed", lib);
        return -1;
    }
    snprintf(msg, msglen, "%s", space + 1);
    return atoi(line);
}

int node_backend_choose(const char *name, char *path, size_t pathlen, char *why, size_t whylen,
                        char *err, size_t errlen)
{
    why[0] = '\0';
    if (!name || strcmp(name, "auto") != 0)
        return tf_backend_resolve(name, path, pathlen, err, errlen);
    const char *env = getenv("TFUSE_NVIDIA_CUDA_LIB");
    int explicit_lib = env && *env;
    char nvidia[PATH_MAX], msg[512];
    if (explicit_lib)
        snprintf(nvidia, sizeof nvidia, "%s", env);
    else if (tf_backend_resolve("nvidia", nvidia, sizeof nvidia, err, errlen) != 0)
        return -1;
    int count = probe(nvidia, !explicit_lib, msg, sizeof msg);
    if (count > 0) {
        snprintf(path, pathlen, "%s", nvidia);
        snprintf(why, whylen, "auto: NVIDIA driver, %.400s", msg);
        return 0;
    }
    if (tf_backend_resolve("soft", path, pathlen, err, errlen) != 0)
        return -1;
    snprintf(why, whylen, "auto: softgpu, because %.400s", msg);
    return 0;
}
