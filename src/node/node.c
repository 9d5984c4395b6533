/*
 * `tfuse node` (see node.h): listeners, the accept loop, worker processes, and the daemon's
 * life cycle: SIGTERM drains (new clients refused with a reason, running sessions get
 * --drain-timeout, then SIGTERM, then SIGKILL), SIGHUP reloads the configuration (config.c) in
 * the main loop. With --api it also owns the node's vGPUs (vgpus.c) and serves the control API
 * (api.c). With --pool it registers with the pool manager and sends heartbeats (poolreg.c).
 * A connection becomes a worker only through the gate (gate.c): a whole hello, a token the node
 * accepts, the session caps; until then it costs a descriptor, never a process. Then it is
 * handed to a warm worker (warm.c) or a worker is forked for it.
 * May call: config.c, autobackend.c, persist.c, statedir.c, src/transport, src/worker,
 * src/backend, src/vgpu, vgpus.c, api.c, gate.c, poolreg.c, warm.c, src/common/log.h.
 */
#include "node.h"

#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "autobackend.h"
#include "config.h"
#include "fdlimit.h"
#include "gate.h"
#include "httpc.h"
#include "pemfile.h"
#include "persist.h"
#include "forkroots.h"
#include "log.h"
#include "poolreg.h"
#include "statedir.h"
#include "transport.h"
#include "vgpus.h"
#include "vgpus_freeze.h"
#include "warm.h"
#include "enforce.h"
#include "worker.h"

#define MAX_LISTEN NODE_CONFIG_LIST_MAX
#define KILL_GRACE_S 2.0      /* after the drain: SIGTERM, this long, then SIGKILL */
/* The gate's options from a configuration. */
#define GATE_OPTS(c) {                                                                  \
        .max_sessions = (c)->counts[NO_MAX_SESSIONS],                                   \
        .max_per_vgpu = (c)->counts[NO_MAX_SESSIONS_PER_VGPU],                          \
        .max_pending = (c)->counts[NO_MAX_HANDSHAKES],                                  \
        .max_pending_per_host = (c)->counts[NO_MAX_HANDSHAKES_PER_HOST],                \
        .handshake_timeout_s = (c)->counts[NO_HANDSHAKE_TIMEOUT]}

struct node {
    struct node_config cfg;   /* the configuration in force (SIGHUP swaps in a new one) */
    struct node_config *retired;  /* replaced configurations: threads may hold their strings */
    int nretired;
    int argc;
    char **argv;              /* kept for reloads: flags stay the top layer */
    struct tf_listener *listeners[MAX_LISTEN];
    int draining;             /* SIGTERM came: new clients are refused (on_hello) */
    int nlisteners;
    char backend[PATH_MAX];
    const char *token;
    const char *api_token;    /* bearer token of remote API clients; NULL: none */
    pid_t *workers;           /* live worker processes, n->sessions of them */
    int cap_workers;
    char vgpus_file[PATH_MAX];  /* --state's vgpus.json (persist.h); "" without --state */
    struct node_statedir dirs;   /* --state, its lock, the module cache (statedir.h) */
    int sessions;
    const char *api[NODE_API_MAX];
    int napi;
    int oversubscribe, allow_unlimited;
    double mem_ratio;                    /* --oversubscribe-memory (vgpus_oversub.c); 1: none */
    uint64_t ctx_overhead;
    struct node_vgpus vgpus;   /* used when napi > 0 */
    struct node_api api_servers;
    struct node_sessions session_table;  /* shared with workers (sessions.h); when napi > 0 */
    struct tfw_stats *next_stats;        /* the entry of the worker being forked, or NULL */
    struct node_gate gate;               /* connections before their worker (gate.h) */
    struct node_warm warm;               /* workers started before their session (warm.h) */
    struct node_freeze freeze;           /* freeze and resume of vGPUs (vgpus_freeze.h) */
    struct node_poolreg_opts pool;  /* pool.pool_url != NULL: register with a pool manager */
    struct node_poolreg *poolreg;
};

static volatile sig_atomic_t stop_signals, reload_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_signals++;
}

static void on_hup(int sig)
{
    (void)sig;
    reload_requested = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The reloadable options, from n->cfg into the fields workers and the API read. */
static void adopt_config(struct node *n)
{
    const struct node_config *c = &n->cfg;
    n->token = c->token;
    n->api_token = c->api_token;
    n->allow_unlimited = c->allow_unlimited;
    n->ctx_overhead = c->ctx_overhead_set ? c->ctx_overhead : TFW_DEFAULT_CTX_OVERHEAD;
    tf_log_use_syslog(c->log_syslog);
    tf_log_set_level((enum tf_log_level)c->log_level);
}

/* api.c replaces a unix socket file unconditionally (it cannot tell a dead node's socket from a
 * live one); refuse first when something answers there, so a second node never steals it. */
static int check_api_socket_free(const char *addr, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strncmp(addr, "unix:", 5) != 0 || strlen(addr + 5) >= sizeof sa.sun_path)
        return 0;   /* tcp: bind itself refuses a port in use; a long path: api.c says so */
    strcpy(sa.sun_path, addr + 5);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int live = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    if (live) {
        snprintf(err, errlen, "--api %s is in use by a running server (another node?): stop it "
                 "or choose another path", addr);
        return -1;
    }
    return 0;
}

static int choose_backend(struct node *n, char *err, size_t errlen)
{
    char why[700];
    if (node_backend_choose(n->cfg.backend, n->backend, sizeof n->backend, why, sizeof why, err,
                            errlen) != 0)
        return -1;
    if (strchr(n->backend, '/') && access(n->backend, R_OK) != 0) {
        snprintf(err, errlen, "backend library %.512s: %s", n->backend, strerror(errno));
        return -1;
    }
    if (why[0])
        tf_info("backend %s (%s)", n->backend, why);
    return 0;
}

/* With --tls-cert/--tls-key every tcp session listener speaks TLS (its address then reads
 * tls:HOST:PORT, and so does the connect address the vGPUs report); a --listen tls: without them
 * stops the node, since nothing may cross it in clear. */
static int listeners_tls(struct node *n, char *err, size_t errlen)
{
    const struct node_config *c = &n->cfg;
    struct tf_tls_pair pair = {0};
    if (c->tls_cert && tf_tls_pair_load(&pair, c->tls_cert, c->tls_key, err, errlen) != 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < n->nlisteners && rc == 0; i++) {
        const char *a = tf_listener_address(n->listeners[i]);
        if (strncmp(a, "unix:", 5) == 0)
            continue;
        if (!pair.cert) {
            if (strncmp(a, "tls:", 4) == 0) {
                snprintf(err, errlen, "--listen %s needs --tls-cert and --tls-key", a);
                rc = -1;
            }
            continue;
        }
        char why[300];
        if (tf_listener_set_tls(n->listeners[i], pair.cert, pair.key, why, sizeof why) != 0) {
            snprintf(err, errlen, "TLS on %s: %s", a, why);
            rc = -1;
        }
    }
    tf_tls_pair_free(&pair);
    return rc;
}

/* Applies a freshly loaded configuration: backend, state folder, listeners. */
static int setup(struct node *n, char *err, size_t errlen)
{
    const struct node_config *c = &n->cfg;
    adopt_config(n);
    n->oversubscribe = c->oversubscribe;
    if (node_oversub_parse(c->oversubscribe_memory, c->freeze_to, c->oversubscribe,
                           &n->mem_ratio, err, errlen) != 0)
        return -1;
    if (c->napi > NODE_API_MAX) {
        snprintf(err, errlen, "at most %d --api addresses", NODE_API_MAX);
        return -1;
    }
    for (int i = 0; i < c->napi; i++)
        n->api[n->napi++] = c->api[i];
    n->pool.pool_url = c->pool;
    n->pool.name = c->node_name;
    n->pool.advertise = c->advertise;
    n->pool.api_tls = c->tls_cert != NULL;
    n->pool.interval_s = c->heartbeat_interval;
    n->pool.join_token = c->pool_join_token;
    n->pool.join_token_file = c->pool_join_token_file;
    n->pool.pool_name = c->pool_name;
    n->pool.labels = (const char *const *)c->label;
    n->pool.nlabels = c->nlabel;
    n->pool.state_dir = c->state;
    if (choose_backend(n, err, errlen) != 0)
        return -1;
    for (int i = 0; i < n->napi; i++)
        if (check_api_socket_free(n->api[i], err, errlen) != 0)
            return -1;
    if (node_statedir_open(&n->dirs, c->state, err, errlen) != 0)
        return -1;
    char why[512];
    for (int i = 0; i < c->nlisten; i++) {
        if (tf_listen(c->listen[i], &n->listeners[n->nlisteners], why, sizeof why) != TF_OK) {
            snprintf(err, errlen, "cannot listen on %s: %s", c->listen[i], why);
            return -1;
        }
        n->nlisteners++;
    }
    return listeners_tls(n, err, errlen);
}

/* In a forked child of the node (a worker): die with the node, and leave the
 * listening sockets to it. */
static void child_of_node(struct node *n)
{
    __fpurge(stdout);            /* the node's unwritten output is the node's to write */
    __fpurge(stderr);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)          /* the node died between fork and prctl */
        _exit(1);
    for (int i = 0; i < n->nlisteners; i++)
        close(tf_listener_fd(n->listeners[i]));
    node_warm_close_fds(&n->warm);   /* the warm workers' sockets are the node's to use */
    node_gate_close_fds(&n->gate);   /* and so are the connections still in the gate */
    signal(SIGINT, SIG_IGN);     /* a terminal's ^C goes to the node, which stops us */
    signal(SIGTERM, SIG_DFL);
    enum tf_log_level level = tf_log_get_level();   /* the node's, reloads included */
    tf_log_init("worker", level);
    tf_log_set_level(level);
}

/* What a worker serves a session with, forked for it or warm (hello NULL: it comes later). */
static struct tfw_opts worker_opts(struct node *n, const struct tf_hello *hello)
{
    return (struct tfw_opts){
        .backend_path = n->backend,
        .token = n->token,
        .cache_dir = n->dirs.cache_dir[0] ? n->dirs.cache_dir : NULL,
        .cache_max_total = n->cfg.module_cache_max,
        .cache_max_scope = n->cfg.module_cache_per_vgpu,
        .capture_stdout = 1,
        .regions = n->napi ? n->vgpus.regions : NULL,
        .nregions = n->napi ? n->vgpus.ndev : 0,
        .allow_unlimited = n->allow_unlimited,
        .ctx_overhead = n->ctx_overhead,
        .stats = n->next_stats,
        .hello = hello,
        .freezable = n->napi && node_freeze_enabled(&n->freeze),
        .freeze_dir = n->freeze.dir[0] ? n->freeze.dir : NULL,
        .room = n->freeze.room,
        .room_wait_ms = n->freeze.room_wait_s * 1000,
        .switch_idle_ms = n->freeze.switch_ms,
    };
}

/* In the forked child: become the session's worker. Never returns. */
static void run_worker(struct node *n, struct tf_conn *conn, const struct tf_hello *hello)
{
    child_of_node(n);
    struct tfw_opts o = worker_opts(n, hello);
    int rc = tfw_serve(conn, &o);
    /* exit, not _exit: the backend's exit handlers run (softgpu gives its device entry and the
     * shared segment back at once instead of leaving them to be reaped; NVIDIA's driver tears
     * down as in any program). The node registers none, and its stdio buffers were dropped at
     * the fork (child_of_node), so nothing of the node's runs or prints twice. */
    exit(rc);
}

/* warm.h's spawn: a warm worker for backend device dev, waiting on sock. */
static pid_t spawn_warm(void *arg, int dev, int sock)
{
    struct node *n = arg;
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    child_of_node(n);
    struct tfw_opts o = worker_opts(n, NULL);
    o.stats = NULL;   /* its session's entry comes with the handoff */
    exit(tfw_warm_serve(sock, dev, &o, n->napi ? n->session_table.table : NULL,
                        n->napi ? n->session_table.cap : 0));
}

/* --warm, or 0 when every listener speaks TLS: a TLS session cannot move to a warm worker (its
 * keys live in the node's GnuTLS), so warm ones would only hold memory. */
static int warm_count(const struct node *n)
{
    for (int i = 0; i < n->nlisteners; i++)
        if (strncmp(tf_listener_address(n->listeners[i]), "tls:", 4) != 0)
            return n->cfg.counts[NO_WARM];
    return 0;
}

/* The node's index of the device a session's first vGPU is on (0 without a vGPU). */
static int session_device(const struct node *n, struct vgpu_region *const *regions, int nv)
{
    for (int d = 0; nv > 0 && d < n->vgpus.ndev; d++)
        if (n->vgpus.regions[d] == regions[0])
            return d;
    return 0;
}

/* Remembers a worker (the drain signals them); n->sessions counts them. */
static void track_worker(struct node *n, pid_t pid)
{
    if (n->sessions == n->cap_workers) {
        int cap = n->cap_workers ? 2 * n->cap_workers : 64;
        pid_t *grown = realloc(n->workers, (size_t)cap * sizeof *grown);
        if (!grown) {   /* still counted; only a drain's SIGTERM would miss it (PDEATHSIG won't) */
            tf_warn("out of memory tracking worker %d", (int)pid);
            n->sessions++;
            return;
        }
        n->workers = grown;
        n->cap_workers = cap;
    }
    n->workers[n->sessions++] = pid;
}

static void forget_worker(struct node *n, pid_t pid)
{
    for (int i = 0; i < n->sessions && i < n->cap_workers; i++) {
        if (n->workers[i] == pid) {
            n->workers[i] = n->workers[n->sessions - 1];
            break;
        }
    }
    n->sessions--;
}

/* A client's whole hello came (gate.c): refused with a reason (draining, token, caps), or
 * its worker is forked, which shakes hands with it and serves it. */
static void on_hello(void *arg, struct tf_conn *conn, const struct tf_hello *hello)
{
    struct node *n = arg;
    struct tfw_opts who = {.token = n->token, .allow_unlimited = n->allow_unlimited,
                           .regions = n->napi ? n->vgpus.regions : NULL,
                           .nregions = n->napi ? n->vgpus.ndev : 0};
    struct vgpu_region *regions[TFW_MAX_GPUS];
    int slots[TFW_MAX_GPUS], nv = 0;
    char err[512];
    if (n->draining)
        snprintf(err, sizeof err, "the node is draining: it accepts no new sessions");
    else if ((nv = tfw_authorize(&who, hello->token, regions, slots, err, sizeof err)) >= 0 &&
             node_gate_check_caps(&n->gate, regions, slots, nv, err, sizeof err) == 0)
        err[0] = '\0';
    if (err[0]) {
        tf_warn("rejected client pid %d from %s: %s", hello->pid, hello->hostname, err);
        tf_server_reject(conn, err);
        tf_conn_close(conn);
        return;
    }
    n->next_stats = node_sessions_claim(&n->session_table);
    int stats_index = n->next_stats ? (int)(n->next_stats - n->session_table.table) : -1;
    pid_t pid = node_warm_hand(&n->warm, session_device(n, regions, nv), conn, hello,
                               stats_index);
    if (pid > 0) {   /* a warm worker took it: it shakes hands and serves */
        node_sessions_forked(&n->session_table, n->next_stats, pid);
        track_worker(n, pid);
        node_gate_started(&n->gate, pid, regions, slots, nv);
        tf_conn_abandon(conn);
        return;
    }
    pid = fork();
    if (pid == 0)
        run_worker(n, conn, hello);
    node_sessions_forked(&n->session_table, n->next_stats, pid);
    if (pid < 0) {
        tf_error("fork failed: %s (connection dropped)", strerror(errno));
        tf_conn_close(conn);
        return;
    }
    track_worker(n, pid);
    node_gate_started(&n->gate, pid, regions, slots, nv);
    tf_conn_abandon(conn);
}

static void accept_ready(struct node *n, struct tf_listener *l)
{
    struct tf_conn *conn;
    while (tf_listener_accept(l, &conn) == TF_OK)
        node_gate_admit(&n->gate, conn);
}

/* One wait of up to ms for new clients and for the hellos of pending ones; takes what came. */
static void poll_once(struct node *n, int ms)
{
    struct pollfd pfd[MAX_LISTEN + NODE_GATE_POLL_MAX];
    for (int i = 0; i < n->nlisteners; i++)
        pfd[i] = (struct pollfd){.fd = tf_listener_fd(n->listeners[i]), .events = POLLIN};
    int ng = node_gate_pollfds(&n->gate, pfd + n->nlisteners, NODE_GATE_POLL_MAX, &ms);
    int ready = poll(pfd, (nfds_t)(n->nlisteners + ng), ms);
    if (ready < 0 && errno != EINTR)
        tf_error("poll: %s", strerror(errno));
    node_gate_service(&n->gate, pfd + n->nlisteners, ready > 0 ? ng : 0);
    for (int i = 0; ready > 0 && i < n->nlisteners; i++)
        if (pfd[i].revents & POLLIN)
            accept_ready(n, n->listeners[i]);
}

/* vgpus.c's hook, lock held: a create is saved after it is made, a delete before. */
static int save_vgpus(struct node_vgpus *v, void *arg, int skip_dev, int skip_slot, char *err,
                      size_t errlen)
{
    struct node *n = arg;
    int rc = n->vgpus_file[0] ? node_persist_save_locked(v, n->vgpus_file, skip_dev, skip_slot,
                                                         err, errlen) : 0;
    if (rc == 0 && skip_dev >= 0)
        node_statedir_sweep(&n->dirs, &n->vgpus, skip_dev, skip_slot);
    return rc;
}

/* With --state: the previous node's vGPUs come back, and every change is saved (persist.h). */
static int restore_vgpus(struct node *n)
{
    n->vgpus.changed = save_vgpus;   /* also sweeps the module cache of deleted vGPUs */
    n->vgpus.changed_arg = n;
    if (!n->cfg.state) {
        node_statedir_sweep(&n->dirs, &n->vgpus, -1, -1);
        return 0;
    }
    char err[700];
    snprintf(n->vgpus_file, sizeof n->vgpus_file, "%.4000s/vgpus.json", n->cfg.state);
    int restored = node_persist_restore(&n->vgpus, n->vgpus_file, err, sizeof err);
    if (restored < 0) {
        fprintf(stderr, "tfuse node: %s (move it aside to start without those vGPUs)\n", err);
        return -1;
    }
    if (restored > 0)
        tf_info("restored %d vGPU(s) from %s", restored, n->vgpus_file);
    node_statedir_sweep(&n->dirs, &n->vgpus, -1, -1);
    return 0;
}

/* --tls-cert/--tls-key read into tls (zeroed without them) and --ca-file checked, before any
 * listener opens, so that a wrong path stops the node with its reason. */
static int start_tls(struct node *n, struct tf_tls_pair *tls, char *err, size_t errlen)
{
    const struct node_config *c = &n->cfg;
    if (c->ca_file && tf_http_set_ca_file(c->ca_file, err, errlen) != 0) {
        fprintf(stderr, "tfuse node: --ca-file: %s\n", err);
        return -1;
    }
    if (tf_tls_pair_load(tls, c->tls_cert, c->tls_key, err, errlen) != 0) {
        fprintf(stderr, "tfuse node: %s\n", err);
        return -1;
    }
    int tcp = 0;
    for (int i = 0; i < n->napi; i++)
        tcp |= strncmp(n->api[i], "tcp:", 4) == 0;
    for (int i = 0; i < n->nlisteners; i++)   /* a tcp session listener speaks TLS with it */
        tcp |= strncmp(tf_listener_address(n->listeners[i]), "tls:", 4) == 0;
    if (tls->cert && !tcp)
        tf_warn("--tls-cert without a tcp --api or --listen: unix sockets stay plain (nothing "
                "to encrypt)");
    return 0;
}

/* Probes the devices, creates their vGPU regions, starts the controller and the API. */
static int start_vgpus(struct node *n)
{
    char err[512];
    const char *connect = tf_listener_address(n->listeners[0]);
    double promise = n->oversubscribe ? INFINITY : n->mem_ratio;
    if (node_vgpus_init(&n->vgpus, n->backend, promise, connect, err, sizeof err) != 0) {
        fprintf(stderr, "tfuse node: %s\n", err);
        return -1;
    }
    if (restore_vgpus(n) != 0)
        return -1;
    if (node_vgpus_start(&n->vgpus) != 0) {
        fprintf(stderr, "tfuse node: cannot start the vGPU controller thread\n");
        return -1;
    }
    if (node_sessions_init(&n->session_table, n->cfg.counts[NO_MAX_SESSIONS], err,
                           sizeof err) != 0) {
        fprintf(stderr, "tfuse node: %s\n", err);
        return -1;
    }
    char fzdir[PATH_MAX + 32];   /* the disk images: --state's, or this node's own */
    err[0] = '\0';
    snprintf(fzdir, sizeof fzdir, "%s%s", n->cfg.state ? n->cfg.state : n->dirs.cache_dir,
             n->cfg.state ? "/freeze" : ".freeze");
    if (node_freeze_init(&n->freeze, &n->vgpus, &n->session_table, n->cfg.freeze_to,
                         n->cfg.counts[NO_FREEZE_IDLE], fzdir, err, sizeof err) != 0 ||
        (node_oversub_init(&n->freeze, n->cfg.oversubscribe_memory != NULL,
                           n->cfg.counts[NO_OVERSUBSCRIBE_WAIT]), 0) ||
        node_switch_init(&n->freeze, n->cfg.counts[NO_SWITCH_IDLE_MS], err, sizeof err) != 0 ||
        node_freeze_start(&n->freeze) != 0) {
        fprintf(stderr, "tfuse node: %s\n", err[0] ? err : "cannot start the freeze thread");
        return -1;
    }
    struct tf_tls_pair tls;
    if (start_tls(n, &tls, err, sizeof err) != 0)
        return -1;
    struct node_api_config api_cfg = {
        .freeze = &n->freeze,
        .tls_cert = tls.cert, .tls_key = tls.key,
        .vgpus = &n->vgpus, .sessions = &n->session_table, .token = n->api_token,
        .backend = n->backend,
        .max_connections = (unsigned)n->cfg.counts[NO_API_MAX_CONNECTIONS],
        .max_per_host = (unsigned)n->cfg.counts[NO_API_MAX_PER_HOST],
        .idle_timeout_s = (unsigned)n->cfg.counts[NO_API_IDLE_TIMEOUT]};
    for (int i = 0; i < n->napi; i++) {
        if (node_api_start(&n->api_servers, &api_cfg, n->api[i], err, sizeof err) != 0) {
            fprintf(stderr, "tfuse node: %s\n", err);
            tf_tls_pair_free(&tls);
            return -1;
        }
        printf("tfuse node: control API on %s%s\n", n->api[i],
               tls.cert && strncmp(n->api[i], "tcp:", 4) == 0 ? " (https)" : "");
    }
    tf_tls_pair_free(&tls);   /* GnuTLS holds its own copy once a daemon has started */
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
        if (node_warm_reaped(&n->warm, pid, status))
            continue;   /* no session was its */
        forget_worker(n, pid);
        node_gate_ended(&n->gate, pid);
        if (n->napi)
            node_vgpus_reap(&n->vgpus, pid);
        node_freeze_reaped(&n->freeze, pid);
        node_sessions_reap(&n->session_table, pid);
        if (WIFSIGNALED(status))
            tf_warn("worker %d killed by signal %d", (int)pid, WTERMSIG(status));
        else
            tf_debug("worker %d exited with %d", (int)pid, WEXITSTATUS(status));
    }
}

/* SIGHUP: loads the file and the environment again (the flags stay on top). A configuration
 * with an error is rejected whole; options that cannot change while running keep their value in
 * force and are named in a warning. Runs in the main loop, never in the signal handler. */
static void reload(struct node *n)
{
    struct node_config next;
    char err[1024], was[1024], now[1024];
    int rc = node_config_load(&next, n->argc, n->argv, err, sizeof err);
    if (rc != 0) {
        tf_error("reload rejected, the configuration in force stays: %s",
                 rc == 1 ? "--help among the flags" : err);
        node_config_free(&next);
        return;
    }
    int applied = 0, restart = 0;
    for (int o = 0; o < NO_COUNT; o++) {
        node_config_format(&n->cfg, (enum node_option)o, was, sizeof was);
        node_config_format(&next, (enum node_option)o, now, sizeof now);
        if (strcmp(was, now) == 0)
            continue;
        int secret = o == NO_TOKEN || o == NO_API_TOKEN || o == NO_POOL_JOIN_TOKEN;
        if (node_option_reloadable((enum node_option)o)) {
            tf_info("reload: %s = %s (was %s)", node_option_name((enum node_option)o),
                    secret ? "<new token>" : now, secret ? "<old token>" : was);
            applied++;
        } else {
            tf_warn("reload: %s changed to '%s' but needs a restart; '%s' stays in force",
                    node_option_name((enum node_option)o), secret ? "<new token>" : now,
                    secret ? "<old token>" : was);
            node_config_swap_option(&n->cfg, &next, (enum node_option)o);
            restart++;
        }
    }
    /* Threads (API, pool registration) and n->api may point into the old strings: they are
     * kept until exit rather than freed. */
    struct node_config *grown = realloc(n->retired, (size_t)(n->nretired + 1) * sizeof *grown);
    if (!grown) {
        tf_error("reload rejected: out of memory");
        node_config_free(&next);
        return;
    }
    n->retired = grown;
    n->retired[n->nretired++] = n->cfg;
    n->cfg = next;
    adopt_config(n);
    node_gate_set_opts(&n->gate, &(struct node_gate_opts)GATE_OPTS(&n->cfg));
    /* Warm workers hold the configuration they were started with (token, limits, cache,
     * log level): new ones start from the new one. */
    node_warm_retire_all(&n->warm, 0);
    n->warm.per_dev = warm_count(n);
    n->warm.ctx_bytes = n->ctx_overhead;
    if (n->napi && n->api_servers.n > 0 && node_api_set_token(&n->api_servers, n->api_token) != 0)
        tf_error("reload: the new API token was refused (too long?); the old one stays");
    tf_info("reloaded the configuration%s%s: %d option(s) changed, %d need a restart",
            n->cfg.config ? " from " : "", n->cfg.config ? n->cfg.config : "", applied, restart);
}

static void serve(struct node *n)
{
    while (!stop_signals) {
        if (reload_requested) {
            reload_requested = 0;
            reload(n);
        }
        poll_once(n, 200);
        reap(n);
        node_warm_tick(&n->warm);
    }
}

/* Reaps until no worker is left or seconds pass; a new stop signal ends the wait when
 * stop_on_signal. Returns the number still running. */
static int wait_workers(struct node *n, double seconds, int stop_on_signal)
{
    double deadline = now_s() + seconds;
    sig_atomic_t seen = stop_signals;
    reap(n);
    while (n->sessions > 0 && now_s() < deadline && !(stop_on_signal && stop_signals != seen)) {
        if (reload_requested) {   /* e.g. a longer --drain-timeout while draining */
            reload_requested = 0;
            double before = n->cfg.drain_timeout;
            reload(n);
            if (stop_on_signal)
                deadline += n->cfg.drain_timeout - before;
        }
        poll_once(n, 20);   /* refused with a reason while draining */
        reap(n);
    }
    return n->sessions;
}

static void signal_workers(struct node *n, int sig)
{
    for (int i = 0; i < n->sessions && i < n->cap_workers; i++)
        kill(n->workers[i], sig);
}

/* SIGTERM/SIGINT: no new sessions, running ones get --drain-timeout, then SIGTERM, then
 * SIGKILL. A second signal skips the wait. */
static void drain(struct node *n)
{
    n->draining = 1;   /* new clients are refused with a reason from now on */
    node_warm_retire_all(&n->warm, 1);   /* no session is theirs: they just go */
    if (n->napi)
        node_api_set_draining(&n->api_servers, 1);   /* /healthz answers 503 from now on */
    int running = n->sessions;
    tf_info("draining: new sessions refused, %d session(s) running, waiting up to %g s for them "
            "(signal again to stop them now)", running, n->cfg.drain_timeout);
    int left = stop_signals > 1 ? n->sessions : wait_workers(n, n->cfg.drain_timeout, 1);
    if (left > 0) {
        tf_warn("drain: %d session(s) still running after %s: sending SIGTERM", left,
                stop_signals > 1 ? "a second stop signal" : "the drain timeout");
        signal_workers(n, SIGTERM);
        if (wait_workers(n, KILL_GRACE_S, 0) > 0) {
            tf_warn("drain: %d worker(s) ignored SIGTERM for %g s: sending SIGKILL", n->sessions,
                    KILL_GRACE_S);
            signal_workers(n, SIGKILL);
            wait_workers(n, 5.0, 0);
        }
    }
    tf_info("drained: %d session(s) finished on their own, %d stopped%s", running - left, left,
            n->sessions ? " (some could not be reaped)" : "");
}

/* services: start_vgpus succeeded (the vGPU controller, API and pool threads run). */
static void shut_down(struct node *n, int services)
{
    for (int i = 0; i < n->nlisteners; i++)
        tf_listener_close(n->listeners[i]);
    n->nlisteners = 0;
    if (services && n->napi) {
        tf_info("stopping pool registration, the control API and the vGPU controller");
        node_poolreg_stop(n->poolreg);
        node_api_stop(&n->api_servers);
        node_freeze_stop(&n->freeze);
        node_vgpus_stop(&n->vgpus);
        node_sessions_destroy(&n->session_table);
    }
    node_gate_destroy(&n->gate);
    for (int i = 0; i < n->nretired; i++)
        node_config_free(&n->retired[i]);
    free(n->retired);
    free(n->workers);
    node_statedir_close(&n->dirs);
    node_config_free(&n->cfg);
}

static void install_signals(void)
{
    struct sigaction stop = {.sa_handler = on_stop}, hup = {.sa_handler = on_hup};
    sigaction(SIGINT, &stop, NULL);
    sigaction(SIGTERM, &stop, NULL);
    sigaction(SIGHUP, &hup, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int tfuse_node_main(int argc, char **argv)
{
    tf_log_init("node", TF_LOG_INFO);
    struct node n;
    memset(&n, 0, sizeof n);
    n.argc = argc;
    n.argv = argv;
    char err[1024];
    int rc = node_config_load(&n.cfg, argc, argv, err, sizeof err);
    if (rc == 1)
        node_config_usage(stdout);
    else if (rc != 0)
        fprintf(stderr, "tfuse node: %s\n", err);
    if (rc != 0) {
        node_config_free(&n.cfg);
        return rc == 1 ? 0 : 2;
    }
    install_signals();
    tf_raise_fd_limit();   /* the listeners' caps, not 1024 descriptors, bound a flood */
    tf_forkroots_install();   /* sanitizer builds: workers' leak checks see our threads' stacks */
    if (node_gate_init(&n.gate, &(struct node_gate_opts)GATE_OPTS(&n.cfg), on_hello, &n) != 0) {
        fprintf(stderr, "tfuse node: out of memory\n");
        shut_down(&n, 0);
        return 2;
    }
    if (setup(&n, err, sizeof err) != 0) {
        fprintf(stderr, "tfuse node: %s\n", err);
        shut_down(&n, 0);
        return 2;
    }
    if (n.napi && start_vgpus(&n) != 0) {
        shut_down(&n, 0);
        return 2;
    }
    node_warm_init(&n.warm, warm_count(&n), n.napi ? n.vgpus.ndev : 1, n.ctx_overhead,
                   n.napi ? &n.vgpus : NULL, n.napi ? &n.session_table : NULL, spawn_warm, &n);
    for (int i = 0; i < n.nlisteners; i++)
        printf("tfuse node: listening on %s\n", tf_listener_address(n.listeners[i]));
    printf("tfuse node: backend %s\n", n.backend);
    fflush(stdout);
    serve(&n);
    drain(&n);
    shut_down(&n, 1);
    tf_info("node stopped");
    return 0;
}
