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
#include "node.h"
#include "nodeapi.h"
#include "flags.h"
#include "paths.h"
#include "poolrun.h"
#include "view.h"
#include "vgpu_parse.h"
#include "tfuse/version.h"

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

#define RUN_LEASE_DEFAULT_S 30
#define RUN_LEASE_MAX_S 86400   /* the node's bound (NODE_LEASE_MAX_S) */

static int parse_lease(const char *text, int *seconds)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > RUN_LEASE_MAX_S) {
        fprintf(stderr, "tfuse run: --lease %s: expected whole seconds from 1 to %d\n", text,
                RUN_LEASE_MAX_S);
        return -1;
    }
    *seconds = (int)v;
    return 0;
}

/* The most vGPUs one program may use (the worker's bound: one per device, 16 devices). */
#define RUN_MAX_GPUS 16

static int parse_gpus(const char *text, int *n)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > RUN_MAX_GPUS) {
        fprintf(stderr, "tfuse run: --gpus %s: expected a count from 1 to %d\n", text,
                RUN_MAX_GPUS);
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
    o->lease = RUN_LEASE_DEFAULT_S;
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

/* Creates one ephemeral vGPU (on `device`, a uuid, or where the node chooses when NULL): fills
 * id (asked for when it comes non-empty), token and (when not given) the connect address. Returns 0, -1 after printing why, or the
 * HTTP status 409 (no room on that device) with the node's message in why when why is set. */
static int create_vgpu(struct run_opts *o, const char *device, char *id, char *token,
                       char *connect, size_t len, char *why, size_t whylen)
{
    json_t *body = json_object();
    char err[512];
    uint64_t bytes;
    if (vgpu_parse_size(o->vram, &bytes, err, sizeof err) != 0) {
        fprintf(stderr, "tfuse run: --vram: %s\n", err);
        json_decref(body);
        return -1;
    }
    json_object_set_new(body, "vram_bytes", json_integer((json_int_t)bytes));
    if (o->compute)
        json_object_set_new(body, "compute_request", json_string(o->compute));
    if (o->limit)
        json_object_set_new(body, "compute_limit", json_string(o->limit));
    if (o->qos)
        json_object_set_new(body, "qos", json_string(o->qos));
    if (device)
        json_object_set_new(body, "device", json_string(device));
    if (*id)
        json_object_set_new(body, "id", json_string(id));
    /* Ours while we renew it: killed (even by SIGKILL), we stop, and the node deletes it. */
    json_object_set_new(body, "lease_seconds", json_integer(o->lease));
    json_t *reply = NULL;
    int status = nodeapi_call(o->api, "POST", "/api/v1/vgpus", body, &reply, err, sizeof err);
    json_decref(body);
    if (status == 409 && why) {
        snprintf(why, whylen, "%s", nodeapi_message(reply, "no room"));
        json_decref(reply);
        return 409;
    }
    if (status != 201) {
        fprintf(stderr, "tfuse run: cannot create the vGPU: %s\n",
                status ? nodeapi_message(reply, "the node refused") : err);
        json_decref(reply);
        return -1;
    }
    snprintf(id, len, "%s", json_string_value(json_object_get(reply, "id")));
    snprintf(token, len, "%s", json_string_value(json_object_get(reply, "token")));
    const char *c = json_string_value(json_object_get(reply, "connect"));
    snprintf(connect, len, "%s", o->connect ? o->connect : c ? c : "");
    /* A node with an https API speaks TLS on its tcp session port too (--tls-cert): an address
     * that came over https is used inside TLS, never in clear. */
    if (!o->connect && strncmp(o->api, "https://", 8) == 0 && strncmp(connect, "tcp:", 4) == 0)
        memcpy(connect, "tls:", 4);
    json_decref(reply);
    return 0;
}

static void delete_vgpu(const char *api, const char *id)
{
    char path[512], err[512];
    json_t *reply = NULL;
    nodeapi_vgpu_path(path, sizeof path, id);
    int status = nodeapi_call(api, "DELETE", path, NULL, &reply, err, sizeof err);
    /* 202: the worker of our program is still ending; wait until the memory is back, so that
     * the next `tfuse run` finds it free. */
    if (status == 202 && !nodeapi_wait_gone(api, path, NODEAPI_DELETE_WAIT_S))
        fprintf(stderr, "tfuse run: vGPU %s is deleted, but its sessions still hold its memory "
                "after %d s\n", id, NODEAPI_DELETE_WAIT_S);
    else if (status == 202)
        status = 204;
    if (status != 204 && status != 404)
        fprintf(stderr, "tfuse run: could not delete vGPU %s: %s\n", id,
                status ? nodeapi_message(reply, "the node refused") : err);
    json_decref(reply);
}

static int exec_program(const char *connect, const char *token, char **argv)
{
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

/* The vGPUs we hold leases on while the program runs. */
struct leases {
    const char *api;
    char (*ids)[256];
    int n;
    int lost;   /* warned that the node no longer has one */
};

static void renew_leases(void *arg)
{
    struct leases *l = arg;
    for (int i = 0; i < l->n; i++) {
        char path[600], err[512];
        json_t *reply = NULL;
        snprintf(path, sizeof path, "/api/v1/vgpus/%s/lease", l->ids[i]);
        int status = nodeapi_call(l->api, "POST", path, NULL, &reply, err, sizeof err);
        if (status == 404 && !l->lost) {
            fprintf(stderr, "tfuse run: the node no longer has vGPU %s (its lease expired?)\n",
                    l->ids[i]);
            l->lost = 1;
        }
        json_decref(reply);   /* unreachable: try again next period */
    }
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

/* Runs the program while renewing the leases of ids[0..n) every third of the lease. */
static int run_leased(struct run_opts *o, const char *connect, const char *token, char **argv,
                      char (*ids)[256], int n)
{
    struct leases l = {.api = o->api, .ids = ids, .n = n};
    return run_child_ticking(connect, token, argv, renew_leases, &l, o->lease / 3.0);
}

/* The uuids of the node's devices (GET /api/v1/devices); returns how many, -1 on error. */
static int node_devices(const char *api, char uuids[][128], int max)
{
    char err[512];
    json_t *reply = NULL;
    int status = nodeapi_call(api, "GET", "/api/v1/devices", NULL, &reply, err, sizeof err);
    json_t *list = json_object_get(reply, "devices");
    if (status != 200 || !json_is_array(list)) {
        fprintf(stderr, "tfuse run: cannot list the node's devices: %s\n",
                status ? nodeapi_message(reply, "unexpected answer") : err);
        json_decref(reply);
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i < json_array_size(list) && n < max; i++) {
        const char *u = json_string_value(json_object_get(json_array_get(list, i), "uuid"));
        if (u)
            snprintf(uuids[n++], 128, "%s", u);
    }
    json_decref(reply);
    return n;
}

/* --gpus N: one ephemeral vGPU on each of N distinct devices of the node (the first N, in the
 * node's order, that have room), the program sees them as devices 0..N-1. Every vGPU created
 * is deleted when the program ends, and on any failure before it starts. */
static int run_on_gang(struct run_opts *o, char **argv)
{
    static char uuids[RUN_MAX_GPUS * 4][128];
    int ndev = node_devices(o->api, uuids, RUN_MAX_GPUS * 4);
    if (ndev < 0)
        return 2;
    if (ndev < o->ngpus) {
        fprintf(stderr, "tfuse run: --gpus %d: the node has %d device%s\n", o->ngpus, ndev,
                ndev == 1 ? "" : "s");
        return 2;
    }
    char ids[RUN_MAX_GPUS][256], tok[256], connect[512], first_connect[512] = "", why[512] = "";
    char tokens[RUN_MAX_GPUS * 257] = "";
    int made = 0, rc = 2;
    for (int d = 0; d < ndev && made < o->ngpus; d++) {
        /* Our own ids: a node numbers its vGPUs per device, and a DELETE names one by id. */
        snprintf(ids[made], sizeof ids[made], "run-%d-%lld-%d", (int)getpid(),
                 (long long)time(NULL), d);
        int st = create_vgpu(o, uuids[d], ids[made], tok, connect, sizeof tok, why, sizeof why);
        if (st == 409)
            continue;   /* no room on this device: try the next one */
        if (st != 0)
            goto out;
        if (!made)
            snprintf(first_connect, sizeof first_connect, "%s", connect);
        size_t at = strlen(tokens);
        snprintf(tokens + at, sizeof tokens - at, "%s%s", made ? "," : "", tok);
        made++;
    }
    if (made < o->ngpus) {
        fprintf(stderr, "tfuse run: --gpus %d --vram %s: only %d of the node's %d devices have "
                        "room%s%s%s\n", o->ngpus, o->vram, made, ndev,
                *why ? " (the node said: " : "", why, *why ? ")" : "");
        goto out;
    }
    rc = run_leased(o, first_connect, tokens, argv, ids, made);
out:
    while (made > 0)
        delete_vgpu(o->api, ids[--made]);
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
    if (o.ngpus > 1)
        return run_on_gang(&o, &argv[prog]);
    char id[1][256] = {""}, token[256], connect[512];
    if (create_vgpu(&o, NULL, id[0], token, connect, sizeof id[0], NULL, 0) != 0)
        return 2;
    int rc = run_leased(&o, connect, token, &argv[prog], id, 1);
    delete_vgpu(o.api, id[0]);
    return rc;
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
