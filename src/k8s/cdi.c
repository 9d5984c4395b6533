/*
 * CDI specs of prepared claims (see cdi.h). The file is written through tf_cred_write (a
 * temporary file, fsync, rename, mode 0600), then the folder is fsync'd so the rename survives
 * a crash: the kubelet starts containers only after prepare answered.
 * May call: src/common/credfile.h, jansson, libc.
 */
#include "cdi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "credfile.h"

void k8s_cdi_device_id(const struct k8s_config *cfg, const char *uid, size_t index, char *out,
                       size_t len)
{
    snprintf(out, len, "%s/%s=%s-%zu", cfg->driver, K8S_CDI_CLASS, uid, index);
}

void k8s_cdi_path(const struct k8s_config *cfg, const char *uid, char *out, size_t len)
{
    snprintf(out, len, "%s/%s-%s_%s.json", cfg->cdi_dir, cfg->driver, K8S_CDI_CLASS, uid);
}

static json_t *mount(const char *host, const char *container)
{
    return json_pack("{s:s, s:s, s:[s,s,s,s]}", "hostPath", host, "containerPath", container,
                     "options", "ro", "nosuid", "nodev", "bind");
}

static json_t *device_edits(const struct k8s_config *cfg, const struct k8s_cdi_vgpu *v)
{
    size_t n = strlen(v->connect) + strlen(v->token) + 32;
    char *conn = malloc(n), *tok = malloc(n);
    if (!conn || !tok) {
        free(conn);
        free(tok);
        return NULL;
    }
    snprintf(conn, n, "TFUSE_CONNECT=%s", v->connect);
    snprintf(tok, n, "TFUSE_TOKEN=%s", v->token);
    /* Our libraries first; the CUDA images' own entries kept after them (an env edit replaces
     * the image's value, it does not append). */
    json_t *env = json_pack("[s, s, s]", conn, tok,
                            "LD_LIBRARY_PATH=" K8S_CDI_LIB_DIR
                            ":/usr/local/nvidia/lib:/usr/local/nvidia/lib64");
    free(conn);
    free(tok);
    json_t *mounts = json_array();
    char host[1024];
    static const char *const libs[] = {"libcuda.so.1", "libnvidia-ml.so.1"};
    for (size_t i = 0; i < 2; i++) {
        char ctr[256];
        snprintf(host, sizeof host, "%s/%s", cfg->stub_dir, libs[i]);
        snprintf(ctr, sizeof ctr, "%s/%s", K8S_CDI_LIB_DIR, libs[i]);
        json_array_append_new(mounts, mount(host, ctr));
    }
    /* A session socket on the host must exist in the container at the address the stub dials.
     * No device nodes: the program's driver calls run in the node's worker, and a /dev/nvidia*
     * in the container would let it reach the GPU around the vGPU's limits. */
    if (strncmp(v->connect, "unix:", 5) == 0)
        json_array_append_new(mounts, json_pack("{s:s, s:s, s:[s,s]}", "hostPath",
                                                v->connect + 5, "containerPath", v->connect + 5,
                                                "options", "rw", "bind"));
    return json_pack("{s:o, s:o}", "env", env, "mounts", mounts);
}

json_t *k8s_cdi_spec(const struct k8s_config *cfg, const char *uid, const struct k8s_cdi_vgpu *v,
                     size_t n)
{
    char kind[K8S_NAME_MAX + 16];
    snprintf(kind, sizeof kind, "%s/%s", cfg->driver, K8S_CDI_CLASS);
    json_t *devs = json_array();
    for (size_t i = 0; i < n; i++) {
        char name[K8S_NAME_MAX + 24];
        snprintf(name, sizeof name, "%s-%zu", uid, i);
        json_t *edits = device_edits(cfg, &v[i]);
        if (!edits) {
            json_decref(devs);
            return NULL;
        }
        json_array_append_new(devs, json_pack("{s:s, s:o}", "name", name, "containerEdits",
                                              edits));
    }
    return json_pack("{s:s, s:s, s:o}", "cdiVersion", K8S_CDI_VERSION, "kind", kind, "devices",
                     devs);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int k8s_cdi_write(const struct k8s_config *cfg, const char *uid, const struct k8s_cdi_vgpu *v,
                  size_t n, char *err, size_t errlen)
{
    if (mkdir(cfg->cdi_dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the CDI folder %s: %s", cfg->cdi_dir,
                 strerror(errno));
        return -1;
    }
    json_t *spec = k8s_cdi_spec(cfg, uid, v, n);
    char *text = spec ? json_dumps(spec, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(spec);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char path[1024];
    k8s_cdi_path(cfg, uid, path, sizeof path);
    int rc = tf_cred_write(path, text, err, errlen);
    free(text);
    if (rc == 0 && fsync_dir(cfg->cdi_dir) != 0) {
        snprintf(err, errlen, "cannot sync the CDI folder %s: %s", cfg->cdi_dir,
                 strerror(errno));
        unlink(path);
        rc = -1;
    }
    return rc;
}

int k8s_cdi_remove(const struct k8s_config *cfg, const char *uid, char *err, size_t errlen)
{
    char path[1024];
    k8s_cdi_path(cfg, uid, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove the CDI spec %s: %s", path, strerror(errno));
        return -1;
    }
    fsync_dir(cfg->cdi_dir);
    return 0;
}
