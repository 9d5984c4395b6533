/*
 * build/bin/tfuse: the TensorFuse command line.
 *   tfuse node ...   serve CUDA sessions (src/node)
 *   tfuse run  ...   run an unmodified CUDA program against a node
 *   tfuse pool ...   the pool manager (src/pool, when built)
 * Owns: subcommand dispatch and `run`. May call: src/node, src/pool, src/common.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node.h"
#include "tfuse/version.h"

#ifdef TFUSE_HAVE_POOL
int tfuse_pool_main(int argc, char **argv);
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tfuse <command> [options]\n"
            "  node --backend soft|nvidia --listen unix:PATH|tcp:HOST:PORT [...]\n"
            "                           serve CUDA sessions on this machine's device\n"
            "  run --connect ADDR [--token T] -- PROGRAM [ARGS...]\n"
            "                           run a CUDA program on a node's device\n"
#ifdef TFUSE_HAVE_POOL
            "  pool ...                 the pool manager (tfuse pool --help)\n"
#endif
            "  version                  print the version\n");
}

/* The folder of our libcuda.so.1: <dir of this executable>/../lib/tfuse. */
static int stub_dir(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return (size_t)snprintf(out, len, "%s/../lib/tfuse", exe) < len ? 0 : -1;
}

static int run_main(int argc, char **argv)
{
    const char *connect = NULL, *token = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--connect") == 0 && i + 1 < argc) {
            connect = argv[++i];
        } else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) {
            token = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "tfuse run: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!connect || i >= argc) {
        fprintf(stderr, "tfuse run: need --connect ADDR and -- PROGRAM\n");
        return 2;
    }
    char dir[PATH_MAX], path[2 * PATH_MAX];
    if (stub_dir(dir, sizeof dir) != 0) {
        fprintf(stderr, "tfuse run: cannot find TensorFuse's library folder\n");
        return 2;
    }
    const char *old = getenv("LD_LIBRARY_PATH");
    snprintf(path, sizeof path, "%s%s%s", dir, old && *old ? ":" : "", old ? old : "");
    setenv("LD_LIBRARY_PATH", path, 1);
    setenv("TFUSE_CONNECT", connect, 1);
    if (token)
        setenv("TFUSE_TOKEN", token, 1);
    execvp(argv[i], &argv[i]);
    fprintf(stderr, "tfuse run: cannot run %s: %s\n", argv[i], strerror(errno));
    return 127;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "node") == 0)
        return tfuse_node_main(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return run_main(argc - 1, argv + 1);
#ifdef TFUSE_HAVE_POOL
    if (strcmp(cmd, "pool") == 0)
        return tfuse_pool_main(argc - 1, argv + 1);
#endif
    if (strcmp(cmd, "version") == 0) {
        printf("tfuse %s\n", TFUSE_VERSION_STRING);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "tfuse: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
