/*
 * build/bin/tfuse: the TensorFuse command line.
 *   tfuse node ...   serve CUDA sessions (src/node)
 *   tfuse run  ...   run an unmodified CUDA program against a node (on an ephemeral vGPU with
 *                    --vram/--compute, created and deleted through the node's API)
 *   tfuse vgpu ...   create, list, resize and delete a node's vGPUs (nodeapi.c)
 *   tfuse pool ...   the pool manager (src/pool, when built)
 *   tfuse doctor     the driver API surface: forwarded, local, refused (doctor.c)
 *   tfuse run --pool allocates through the pool manager (poolrun.c)
 * Owns: subcommand dispatch and `run`. May call: src/node, src/pool, nodeapi.c, poolrun.c,
 * src/common.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "doctor.h"
#include "ephemeral.h"
#include "node.h"
#include "nodeapi.h"
#include "flags.h"
#include "paths.h"
#include "poolrun.h"
#include "view.h"
#include "vgpu_parse.h"
#include "tfuse/version.h"

#ifdef TFUSE_HAVE_SLURM
#include "slurm_cli.h"  /* `tfuse slurm gres` (src/slurm) */
#endif
#ifdef TFUSE_HAVE_POOL
#include "tfuse_pool.h"     /* the pool's declared in-process entry (src/pool) */
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tfuse <command> [options]\n"
            "  node --backend soft|nvidia --listen unix:PATH|tcp:HOST:PORT [...]\n"
            "                           serve CUDA sessions on this machine's device\n"
            "  run --connect ADDR [--token T | --vgpu TOKEN[,TOKEN...]] [--ca-file F]\n"
            "      -- PROGRAM [ARGS...]   (ADDR unix:PATH, tcp:HOST:PORT or tls:HOST:PORT)\n"
            "  run [--connect ADDR] --api ADDR --vram SIZE [--compute PCT] [--compute-limit PCT]\n"
            "      [--qos CLASS] [--gpus N] [--lease S] -- PROGRAM [ARGS...]\n"
            "  run --pool URL --vram SIZE (--tflops N | --compute PCT) [--compute-limit PCT]\n"
            "      [--tflops-limit N] [--qos CLASS] [--tenant T] [--model M] [--gpus N]\n"
            "      [--strategy S] -- PROGRAM [ARGS...]\n"
            "                           run a CUDA program on a node's device; with --vram on\n"
            "                           an ephemeral vGPU deleted afterwards (leased: renewed\n"
            "                           while we run, --lease SECONDS, default 30; the node\n"
            "                           deletes it when we die without deleting it)\n"
            "  vgpu create|list|resize|delete --node ADDR ...\n"
            "                           manage a node's vGPUs (tfuse vgpu --help)\n"
            "  ps --node ADDR [--json]  a node's devices, vGPUs and sessions, usage against limits\n"
            "  top --node ADDR [--interval S] [--iterations N] [--json]\n"
            "                           the same, refreshed in place\n"
#ifdef TFUSE_HAVE_POOL
            "  pool ...                 the pool manager (tfuse pool --help)\n"
#endif
#ifdef TFUSE_HAVE_SLURM
            "  slurm gres [--node ADDR] [--name NODENAME]\n"
            "                           this node's Slurm GRES lines (docs/slurm.md)\n"
#endif
            "  doctor [--refused] [--json]\n"
            "                           the CUDA driver API per family: forwarded, local or\n"
            "                           refused through the stub; served or refused by softgpu\n"
            "  version                  print the version\n");
}

/* The folder of our libcuda.so.1: <dir of this executable>/../lib/tfuse. */
static int stub_dir(char *out, size_t len)
{
    return tf_exe_relative("../lib/tfuse", out, len);
}

struct run_opts {
    const char *connect, *token, *api, *vram, *compute, *limit, *qos, *gpus, *lease_text;
    const char *ca_file;
    int ngpus;   /* --gpus, 1 by default */
    int lease;   /* --lease: seconds the node keeps our vGPUs once we stop renewing them */
};


static int parse_lease(const char *text, int *seconds)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > EPH_LEASE_MAX_S) {
        fprintf(stderr, "tfuse run: --lease %s: expected whole seconds from 1 to %d\n", text,
                EPH_LEASE_MAX_S);
        return -1;
    }
    *seconds = (int)v;
    return 0;
}

static int parse_gpus(const char *text, int *n)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > EPH_MAX_GPUS) {
        fprintf(stderr, "tfuse run: --gpus %s: expected a count from 1 to %d\n", text,
                EPH_MAX_GPUS);
        return -1;
    }
    *n = (int)v;
    return 0;
}

static int parse_run(int argc, char **argv, struct run_opts *o, int *prog)
{
    static const struct cli_flag flags[] = {
        CLI_FLAG("--connect", struct run_opts, connect),
        CLI_FLAG("--token", struct run_opts, token),
        CLI_FLAG("--vgpu", struct run_opts, token),
        CLI_FLAG("--api", struct run_opts, api),
        CLI_FLAG("--vram", struct run_opts, vram),
        CLI_FLAG("--compute", struct run_opts, compute),
        CLI_FLAG("--compute-limit", struct run_opts, limit),
        CLI_FLAG("--qos", struct run_opts, qos),
        CLI_FLAG("--gpus", struct run_opts, gpus),
        CLI_FLAG("--lease", struct run_opts, lease_text),
        CLI_FLAG("--ca-file", struct run_opts, ca_file),
    };
    int i = cli_parse_flags("tfuse run", argc, argv, flags, sizeof flags / sizeof flags[0], o);
    if (i == CLI_HELP) {
        usage(stdout);
        exit(0);
    }
    if (i < 0) {
        usage(stderr);
        return -1;
    }
    *prog = i;
    if (o->gpus && parse_gpus(o->gpus, &o->ngpus) != 0)
        return -1;
    o->lease = EPH_LEASE_DEFAULT_S;
    if (o->lease_text && parse_lease(o->lease_text, &o->lease) != 0)
        return -1;
    if (o->ngpus > 1 && !o->vram) {
        fprintf(stderr, "tfuse run: --gpus needs --vram (it creates that many vGPUs); to join "
                        "existing ones, list their tokens: --vgpu TOKEN1,TOKEN2\n");
        return -1;
    }
    if (!o->vram && (o->compute || o->limit || o->qos)) {
        fprintf(stderr, "tfuse run: --compute, --compute-limit and --qos need --vram\n");
        return -1;
    }
    if (o->vram && o->token) {
        fprintf(stderr, "tfuse run: --vram creates a vGPU, --vgpu/--token joins one: not both\n");
        return -1;
    }
    if (o->vram && !o->api && !(o->api = getenv("TFUSE_NODE_API"))) {
        fprintf(stderr, "tfuse run: --vram needs the node's API address (--api ADDR or "
                        "$TFUSE_NODE_API)\n");
        return -1;
    }
    return 0;
}

static int exec_program(const char *connect, const char *token, char **argv)
{
    char dir[PATH_MAX], path[2 * PATH_MAX];
    if (stub_dir(dir, sizeof dir) != 0) {
        fprintf(stderr, "tfuse run: cannot find TensorFuse's library folder\n");
        return 2;
    }
    tf_eph_library_path(dir, getenv("LD_LIBRARY_PATH"), path, sizeof path);
    setenv("LD_LIBRARY_PATH", path, 1);
    setenv("TFUSE_CONNECT", connect, 1);
    if (token)
        setenv("TFUSE_TOKEN", token, 1);
    execvp(argv[0], argv);
    fprintf(stderr, "tfuse run: cannot run %s: %s\n", argv[0], strerror(errno));
    return 127;
}

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

/* Renews the leases of the program's vGPUs; says once that the node lost one. */
static void renew_leases(void *arg)
{
    struct eph_set *set = arg;
    int lost = set->lost;
    if (tf_eph_renew(set) && !lost)
        fprintf(stderr, "tfuse run: the node no longer has one of our vGPUs (its lease "
                        "expired?)\n");
}

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for pid; every period seconds meanwhile calls tick(arg) (tick NULL: just waits). */
static int wait_child(pid_t pid, void (*tick)(void *), void *arg, double period)
{
    int status = 0;
    double next = monotonic_s() + period;
    for (;;) {
        pid_t w = waitpid(pid, &status, tick ? WNOHANG : 0);
        if (w == pid || (w < 0 && errno != EINTR))
            break;
        if (w != 0)
            continue;
        if (monotonic_s() >= next) {
            tick(arg);
            next = monotonic_s() + period;
        }
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
    }
    return status;
}

/* The program runs as our child so that what was created for it is deleted when it ends: ^C
 * reaches the program (same process group) and we wait for it; SIGTERM/SIGHUP sent to us are
 * passed on to it. tick(arg) runs every period seconds while it runs (tick NULL: nothing). */
static int run_child_ticking(const char *connect, const char *token, char **argv,
                             void (*tick)(void *), void *arg, double period)
{
    /* Blocked across fork: a SIGTERM that arrives before the handler knows the child's pid
     * stays pending and is forwarded once it does, instead of killing us holding a vGPU. */
    sigset_t fwd, old;
    sigemptyset(&fwd);
    sigaddset(&fwd, SIGTERM);
    sigaddset(&fwd, SIGHUP);
    sigprocmask(SIG_BLOCK, &fwd, &old);
    signal(SIGINT, SIG_IGN);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);   /* not a handler of the caller's until exec resets it */
        signal(SIGHUP, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        _exit(exec_program(connect, token, argv));
    }
    struct sigaction sa = {.sa_handler = forward_signal};
    sigemptyset(&sa.sa_mask);
    child_pid = pid;
    if (pid > 0) {
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        fprintf(stderr, "tfuse run: fork: %s\n", strerror(errno));
        return 2;
    }
    int status = wait_child(pid, tick, arg, period);
    signal(SIGTERM, SIG_IGN);   /* let the caller release what it holds */
    signal(SIGHUP, SIG_IGN);
    child_pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int cli_run_child(const char *connect, const char *token, char **argv)
{
    return run_child_ticking(connect, token, argv, NULL, NULL, 0);
}

/* Creates the program's vGPUs, runs it while renewing their leases every third of the lease,
 * and deletes them when it ended (also when they could not all be made). */
static int run_ephemeral(struct run_opts *o, char **argv)
{
    struct eph_spec spec = {.vram = o->vram, .compute = o->compute, .limit = o->limit,
                            .qos = o->qos, .connect = o->connect, .lease = o->lease,
                            .ngpus = o->ngpus};
    static struct eph_set set;
    char err[1024];
    if (tf_eph_create(o->api, &spec, &set, err, sizeof err) != 0) {
        fprintf(stderr, "tfuse run: %s%s\n", o->ngpus > 1 ? "" : "cannot create the vGPU: ",
                err);
        return 2;
    }
    int rc = run_child_ticking(set.connect, set.tokens, argv, renew_leases, &set,
                               o->lease / 3.0);
    if (tf_eph_delete(&set, err, sizeof err) != 0)
        fprintf(stderr, "tfuse run: %s\n", err);
    return rc;
}

static int run_main(int argc, char **argv)
{
    struct run_opts o = {0};
    int prog;
    if (parse_run(argc, argv, &o, &prog) != 0)
        return 2;
    if ((!o.connect && !o.vram) || prog >= argc) {
        fprintf(stderr, "tfuse run: need --connect ADDR (or --vram with --api) and -- PROGRAM\n");
        return 2;
    }
    if (o.ca_file && nodeapi_set_ca_file("tfuse run", o.ca_file) != 0)
        return 2;
    if (!o.vram)
        return exec_program(o.connect, o.token, &argv[prog]);
    return run_ephemeral(&o, &argv[prog]);
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
    if (strcmp(cmd, "run") == 0 && poolrun_wanted(argc - 1, argv + 1))
        return poolrun_main(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return run_main(argc - 1, argv + 1);
    if (strcmp(cmd, "vgpu") == 0)
        return tfuse_vgpu_main(argc - 1, argv + 1);
    if (strcmp(cmd, "ps") == 0)
        return tfuse_ps_main(argc - 1, argv + 1);
    if (strcmp(cmd, "top") == 0)
        return tfuse_top_main(argc - 1, argv + 1);
#ifdef TFUSE_HAVE_SLURM
    if (strcmp(cmd, "slurm") == 0)
        return tfuse_slurm_main(argc - 1, argv + 1);
#endif
#ifdef TFUSE_HAVE_POOL
    if (strcmp(cmd, "pool") == 0)
        return tfuse_pool_main(argc - 1, argv + 1);
#endif
    if (strcmp(cmd, "doctor") == 0)
        return tfuse_doctor_main(argc - 1, argv + 1);
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
