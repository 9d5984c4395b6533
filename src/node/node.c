/*
 * `tfuse node` (see node.h): options, listeners, the accept loop, worker processes.
 * With --api it also owns the node's vGPUs (vgpus.c) and serves the control API (api.c).
 * With --pool it registers with the pool manager and sends heartbeats (poolreg.c).
 * May call: src/transport, src/worker, src/backend, src/vgpu, vgpus.c, api.c, poolreg.c,
 * src/common/log.h.
 */
#include "node.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "backend.h"
#include "log.h"
#include "poolreg.h"
#include "transport.h"
#include "vgpu_parse.h"
#include "vgpus.h"
#include "enforce.h"
#include "worker.h"

#define MAX_LISTEN 8

struct node {
    struct tf_listener *listeners[MAX_LISTEN];
    int nlisteners;
    char backend[PATH_MAX];
    const char *token;
    char cache_dir[PATH_MAX];
    int sessions;
    const char *api[NODE_API_MAX];
    int napi;
    int oversubscribe, allow_unlimited;
    uint64_t ctx_overhead;
    struct node_vgpus vgpus;   /* used when napi > 0 */
    struct node_api api_servers;
    struct node_poolreg_opts pool;  /* pool.pool_url != NULL: register with a pool manager */
    struct node_poolreg *poolreg;
};

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tfuse node --backend soft|nvidia|PATH --listen unix:PATH|tcp:HOST:PORT\n"
               "                  [--listen ADDR ...] [--token TOKEN] [--state DIR]\n"
               "                  [--api unix:PATH|tcp:HOST:PORT ...] [--oversubscribe]\n"
               "                  [--allow-unlimited] [--ctx-overhead SIZE]\n"
               "                  [--pool URL [--node-name NAME] [--advertise tcp:HOST:PORT]\n"
               "                   [--heartbeat-interval S]]\n"
               "Serves CUDA sessions: one worker process per client connection.\n"
               "With --api the node owns vGPUs (tfuse vgpu create) and a session must present a\n"
               "vGPU's token, unless --allow-unlimited (then any other session gets the whole\n"
               "device, still checked against --token).\n"
               "With --pool (needs --api) the node registers its devices with the pool manager\n"
               "at URL and sends heartbeats; the pool calls the first tcp --api address unless\n"
               "--advertise names another.\n");
}

static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static int parse_args(struct node *n, int argc, char **argv)
{
    static const struct option opts[] = {
        {"backend", required_argument, 0, 'b'}, {"listen", required_argument, 0, 'l'},
        {"token", required_argument, 0, 't'},   {"state", required_argument, 0, 's'},
        {"api", required_argument, 0, 'a'},     {"oversubscribe", no_argument, 0, 'O'},
        {"allow-unlimited", no_argument, 0, 'U'}, {"ctx-overhead", required_argument, 0, 'C'},
        {"pool", required_argument, 0, 'P'},    {"node-name", required_argument, 0, 'N'},
        {"advertise", required_argument, 0, 'A'},
        {"heartbeat-interval", required_argument, 0, 'H'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    char err[512];
    const char *backend = "soft", *state = NULL, *listen[MAX_LISTEN];
    int nlisten = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:l:t:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': backend = optarg; break;
        case 't': n->token = optarg; break;
        case 's': state = optarg; break;
        case 'l':
            if (nlisten == MAX_LISTEN) {
                fprintf(stderr, "tfuse node: at most %d --listen addresses\n", MAX_LISTEN);
                return -1;
            }
            listen[nlisten++] = optarg;
            break;
        case 'a':
            if (n->napi == NODE_API_MAX) {
                fprintf(stderr, "tfuse node: at most %d --api addresses\n", NODE_API_MAX);
                return -1;
            }
            n->api[n->napi++] = optarg;
            break;
        case 'O': n->oversubscribe = 1; break;
        case 'U': n->allow_unlimited = 1; break;
        case 'C':
            if (strcmp(optarg, "0") == 0) {
                n->ctx_overhead = 0;
            } else if (vgpu_parse_size(optarg, &n->ctx_overhead, err, sizeof err) != 0) {
                fprintf(stderr, "tfuse node: --ctx-overhead: %s\n", err);
                return -1;
            }
            break;
        case 'P': n->pool.pool_url = optarg; break;
        case 'N': n->pool.name = optarg; break;
        case 'A': n->pool.advertise = optarg; break;
        case 'H': {
            char *end;
            n->pool.interval_s = strtod(optarg, &end);
            if (*end || !(n->pool.interval_s >= 0.05 && n->pool.interval_s <= 3600)) {
                fprintf(stderr, "tfuse node: --heartbeat-interval takes seconds (0.05-3600)\n");
                return -1;
            }
            break;
        }
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind != argc || nlisten == 0) {
        usage(stderr);
        return -1;
    }
    if (!n->pool.pool_url && (n->pool.name || n->pool.advertise || n->pool.interval_s > 0)) {
        fprintf(stderr, "tfuse node: --node-name, --advertise and --heartbeat-interval go "
                        "with --pool\n");
        return -1;
    }
    if (n->pool.pool_url && n->napi == 0) {
        fprintf(stderr, "tfuse node: --pool needs --api (the pool creates vGPUs through it)\n");
        return -1;
    }
    if (tf_backend_resolve(backend, n->backend, sizeof n->backend, err, sizeof err) != 0) {
        fprintf(stderr, "tfuse node: %s\n", err);
        return -1;
    }
    if (strchr(n->backend, '/') && access(n->backend, R_OK) != 0) {
        fprintf(stderr, "tfuse node: backend library %s: %s\n", n->backend, strerror(errno));
        return -1;
    }
    if (state)
        snprintf(n->cache_dir, sizeof n->cache_dir, "%s/modules", state);
    else
        snprintf(n->cache_dir, sizeof n->cache_dir, "/tmp/tfuse-node-%d/modules", (int)getuid());
    if (make_dirs(n->cache_dir) != 0) {
        tf_warn("cannot create the module cache %s: %s (caching off)", n->cache_dir,
                strerror(errno));
        n->cache_dir[0] = '\0';
    }
    for (int i = 0; i < nlisten; i++) {
        if (tf_listen(listen[i], &n->listeners[n->nlisteners], err, sizeof err) != TF_OK) {
            fprintf(stderr, "tfuse node: cannot listen on %s: %s\n", listen[i], err);
            return -1;
        }
        n->nlisteners++;
    }
    return 0;
}

/* In the forked child: become the session's worker. Never returns. */
static void run_worker(struct node *n, struct tf_conn *conn)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)          /* the node died between fork and prctl */
        _exit(1);
    signal(SIGINT, SIG_IGN);     /* a terminal's ^C goes to the node, which stops us */
    signal(SIGTERM, SIG_DFL);
    for (int i = 0; i < n->nlisteners; i++)
        close(tf_listener_fd(n->listeners[i]));  /* the node keeps the sockets, not us */
    tf_log_init("worker", TF_LOG_INFO);
    struct tfw_opts o = {
        .backend_path = n->backend,
        .token = n->token,
        .cache_dir = n->cache_dir[0] ? n->cache_dir : NULL,
        .capture_stdout = 1,
        .regions = n->napi ? n->vgpus.regions : NULL,
        .nregions = n->napi ? n->vgpus.ndev : 0,
        .allow_unlimited = n->allow_unlimited,
        .ctx_overhead = n->ctx_overhead,
    };
    int rc = tfw_serve(conn, &o);
    fflush(stderr);
    _exit(rc);
}

static void accept_ready(struct node *n, struct tf_listener *l)
{
    struct tf_conn *conn;
    while (tf_listener_accept(l, &conn) == TF_OK) {
        pid_t pid = fork();
        if (pid == 0)
            run_worker(n, conn);
        if (pid < 0)
            tf_error("fork failed: %s (connection dropped)", strerror(errno));
        else
            n->sessions++;
        if (pid < 0)
            tf_conn_close(conn);
        else
            tf_conn_abandon(conn);
    }
}

/* Probes the devices, creates their vGPU regions, starts the controller and the API. */
static int start_vgpus(struct node *n)
{
    char err[512];
    const char *connect = tf_listener_address(n->listeners[0]);
    if (node_vgpus_init(&n->vgpus, n->backend, n->oversubscribe, connect, err, sizeof err) != 0) {
        fprintf(stderr, "tfuse node: %s\n", err);
        return -1;
    }
    if (node_vgpus_start(&n->vgpus) != 0) {
        fprintf(stderr, "tfuse node: cannot start the vGPU controller thread\n");
        return -1;
    }
    for (int i = 0; i < n->napi; i++) {
        if (node_api_start(&n->api_servers, &n->vgpus, n->api[i], err, sizeof err) != 0) {
            fprintf(stderr, "tfuse node: %s\n", err);
            return -1;
        }
        printf("tfuse node: control API on %s\n", n->api[i]);
    }
    printf("tfuse node: %d device(s) with vGPUs\n", n->vgpus.ndev);
    if (n->pool.pool_url) {
        n->pool.api = n->api;
        n->pool.napi = n->napi;
        if (node_poolreg_start(&n->poolreg, &n->pool, &n->vgpus, err, sizeof err) != 0) {
            fprintf(stderr, "tfuse node: %s\n", err);
            return -1;
        }
        printf("tfuse node: registering with the pool %s\n", n->pool.pool_url);
    }
    return 0;
}

static void reap(struct node *n)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        n->sessions--;
        if (n->napi)
            node_vgpus_reap(&n->vgpus, pid);
        if (WIFSIGNALED(status))
            tf_warn("worker %d killed by signal %d", (int)pid, WTERMSIG(status));
        else
            tf_debug("worker %d exited with %d", (int)pid, WEXITSTATUS(status));
    }
}

int tfuse_node_main(int argc, char **argv)
{
    tf_log_init("node", TF_LOG_INFO);
    struct node n;
    memset(&n, 0, sizeof n);
    n.ctx_overhead = TFW_DEFAULT_CTX_OVERHEAD;
    if (parse_args(&n, argc, argv) != 0)
        return 2;
    if (n.napi && start_vgpus(&n) != 0)
        return 2;
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < n.nlisteners; i++)
        printf("tfuse node: listening on %s\n", tf_listener_address(n.listeners[i]));
    printf("tfuse node: backend %s\n", n.backend);
    fflush(stdout);
    struct pollfd pfd[MAX_LISTEN];
    while (!stopping) {
        for (int i = 0; i < n.nlisteners; i++)
            pfd[i] = (struct pollfd){.fd = tf_listener_fd(n.listeners[i]), .events = POLLIN};
        int ready = poll(pfd, (nfds_t)n.nlisteners, 200);
        if (ready < 0 && errno != EINTR) {
            tf_error("poll: %s", strerror(errno));
            break;
        }
        for (int i = 0; ready > 0 && i < n.nlisteners; i++)
            if (pfd[i].revents & POLLIN)
                accept_ready(&n, n.listeners[i]);
        reap(&n);
    }
    tf_info("stopping (%d sessions end with the node)", n.sessions);
    for (int i = 0; i < n.nlisteners; i++)
        tf_listener_close(n.listeners[i]);
    if (n.napi) {
        node_poolreg_stop(n.poolreg);
        node_api_stop(&n.api_servers);
        node_vgpus_stop(&n.vgpus);
    }
    return 0;
}
