/*
 * The node's warm workers (see warm.h).
 * May call: src/transport (handoff), sessions.h, vgpus.h, src/worker/worker.h (the handoff's
 * layout), src/common/log.h, libc.
 */
#include "warm.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

#define BACKOFF_FIRST_S 0.25   /* a worker that died before ready: wait, doubling, */
#define BACKOFF_MAX_S 30.0     /* so that a backend that cannot start is not forked in a loop */

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void node_warm_init(struct node_warm *w, int per_dev, int ndev, uint64_t ctx_bytes,
                    struct node_vgpus *vgpus, struct node_sessions *table,
                    node_warm_spawn_fn spawn, void *arg)
{
    memset(w, 0, sizeof *w);
    w->per_dev = per_dev < NODE_WARM_MAX ? per_dev : NODE_WARM_MAX;
    w->ndev = ndev < NODE_MAX_DEVICES ? ndev : NODE_MAX_DEVICES;
    w->ctx_bytes = ctx_bytes;
    w->vgpus = vgpus;
    w->table = table;
    w->spawn = spawn;
    w->arg = arg;
}

static int count_dev(const struct node_warm *w, int dev)
{
    int k = 0;
    for (int i = 0; i < w->n; i++)
        k += w->w[i].dev == dev;
    return k;
}

/* What the figures of the API show: the warm list (tfuse ps) and each device's charge. */
static void publish(struct node_warm *w)
{
    struct node_sessions_warm list[NODE_SESSIONS_WARM_MAX];
    int n = 0;
    for (int i = 0; i < w->n && n < NODE_SESSIONS_WARM_MAX; i++)
        list[n++] = (struct node_sessions_warm){.pid = w->w[i].pid, .device = w->w[i].dev,
                                                .ready = w->w[i].ready,
                                                .started_unix = w->w[i].started_unix,
                                                .memory_bytes = w->ctx_bytes};
    if (w->table)
        node_sessions_set_warm(w->table, list, n);
    for (int d = 0; w->vgpus && d < w->vgpus->ndev; d++) {
        int k = count_dev(w, d);
        atomic_store(&w->vgpus->warm_workers[d], k);
        atomic_store(&w->vgpus->warm_bytes[d], (uint64_t)k * w->ctx_bytes);
    }
}

/* Device memory no vGPU is promised (unbounded when the node oversubscribes or has no vGPUs). */
static uint64_t unpromised(const struct node_warm *w, int dev)
{
    if (!w->vgpus || dev >= w->vgpus->ndev)
        return UINT64_MAX;
    const struct vgpu_region_header *h = w->vgpus->regions[dev]->hdr;
    if (h->flags & VGPU_REGION_OVERSUBSCRIBE)
        return UINT64_MAX;
    uint64_t promised = atomic_load(&h->mem_limit_sum);
    return promised < h->device_mem ? h->device_mem - promised : 0;
}

static void forget(struct node_warm *w, int i)
{
    w->w[i] = w->w[--w->n];
}

/* Closing its socket ends a ready one (its wait sees the close); one still starting may be
 * inside the driver's initialization for a while, holding nothing yet: killed. Reaped later. */
static void retire(struct node_warm *w, int i, int sig)
{
    close(w->w[i].sock);
    if (!sig && !w->w[i].ready)
        sig = SIGKILL;
    if (sig)
        kill(w->w[i].pid, sig);
    if (w->nretired < NODE_WARM_RETIRED_MAX)
        w->retired[w->nretired++] = w->w[i].pid;
    forget(w, i);
}

static void note_ready(struct node_warm *w)
{
    for (int i = 0; i < w->n; i++) {
        char b;
        if (!w->w[i].ready && recv(w->w[i].sock, &b, 1, MSG_DONTWAIT) == 1 &&
            b == TFW_WARM_READY) {
            w->w[i].ready = 1;
            w->failures[w->w[i].dev] = 0;
            tf_debug("warm worker %d ready on device %d", (int)w->w[i].pid, w->w[i].dev);
        }
    }
}

static int spawn_one(struct node_warm *w, int dev)
{
    int sv[2];
    if (w->n == NODE_MAX_DEVICES * NODE_WARM_MAX ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    /* Listed before the fork, so that the child closes the node's end with the others. */
    struct node_warm_worker *ww = &w->w[w->n++];
    *ww = (struct node_warm_worker){.pid = 0, .sock = sv[0], .dev = dev,
                                    .started_unix = clock_s(CLOCK_REALTIME)};
    pid_t pid = w->spawn(w->arg, dev, sv[1]);
    close(sv[1]);
    if (pid < 0) {
        tf_warn("cannot start a warm worker: %s", strerror(errno));
        close(sv[0]);
        w->n--;
        w->retry_at[dev] = clock_s(CLOCK_MONOTONIC) + BACKOFF_FIRST_S;
        return -1;
    }
    ww->pid = pid;
    return 0;
}

void node_warm_tick(struct node_warm *w)
{
    note_ready(w);
    double now = clock_s(CLOCK_MONOTONIC);
    for (int d = 0; d < w->ndev; d++) {
        /* A vGPU was promised the memory warm contexts hold: they give it back. */
        for (int k = count_dev(w, d); k > 0 && (uint64_t)k * w->ctx_bytes > unpromised(w, d);
             k--)
            for (int i = w->n - 1; i >= 0; i--)
                if (w->w[i].dev == d) {
                    tf_info("warm worker %d retired: device %d's memory is promised to vGPUs",
                            (int)w->w[i].pid, d);
                    retire(w, i, 0);
                    break;
                }
        if (now < w->retry_at[d])
            continue;
        for (int k = count_dev(w, d);
             k < w->per_dev && (uint64_t)(k + 1) * w->ctx_bytes <= unpromised(w, d); k++)
            if (spawn_one(w, d) != 0)
                break;
    }
    publish(w);
}

void node_warm_close_fds(const struct node_warm *w)
{
    for (int i = 0; i < w->n; i++)
        close(w->w[i].sock);
}

pid_t node_warm_hand(struct node_warm *w, int dev, struct tf_conn *conn,
                     const struct tf_hello *hello, int stats_index)
{
    struct tfw_warm_handoff *h = calloc(1, sizeof *h);
    if (!h || w->n == 0) {
        free(h);
        return -1;
    }
    *h = (struct tfw_warm_handoff){.magic = TFW_WARM_MAGIC, .stats_index = stats_index,
                                   .hello = *hello};
    note_ready(w);
    pid_t pid = -1;
    /* A ready one first; else one still starting is further along than a fresh fork. */
    for (int pass = 1; pass >= 0 && pid < 0; pass--)
        for (int i = w->n - 1; i >= 0 && pid < 0; i--) {
            if (w->w[i].dev != dev || w->w[i].ready != pass)
                continue;
            int rc = tf_conn_handoff_send(conn, w->w[i].sock, h, sizeof *h);
            if (rc == TF_OK) {
                pid = w->w[i].pid;
                close(w->w[i].sock);
                forget(w, i);
                w->handed++;
            } else if (rc == TF_ERR_NOT_SUPPORTED || rc == TF_ERR_STATE ||
                       rc == TF_ERR_INVALID) {
                pass = -1;   /* this connection cannot move (TLS): a fresh fork serves it */
                break;
            } else {
                tf_warn("warm worker %d did not take a session (%s): retired",
                        (int)w->w[i].pid, tf_err_str(rc));
                retire(w, i, SIGKILL);
            }
        }
    free(h);
    if (pid > 0)
        publish(w);
    return pid;
}

int node_warm_reaped(struct node_warm *w, pid_t pid, int status)
{
    for (int i = 0; i < w->nretired; i++)
        if (w->retired[i] == pid) {
            w->retired[i] = w->retired[--w->nretired];
            return 1;
        }
    for (int i = 0; i < w->n; i++) {
        if (w->w[i].pid != pid)
            continue;
        int dev = w->w[i].dev;
        w->crashed++;
        if (!w->w[i].ready) {   /* never became ready: back off before the next try */
            int f = ++w->failures[dev];
            double wait = BACKOFF_FIRST_S * (double)(1u << (f < 8 ? f - 1 : 7));
            w->retry_at[dev] = clock_s(CLOCK_MONOTONIC) + (wait < BACKOFF_MAX_S ? wait
                                                                                : BACKOFF_MAX_S);
        }
        if (WIFSIGNALED(status))
            tf_warn("warm worker %d (device %d) killed by signal %d: replaced", (int)pid, dev,
                    WTERMSIG(status));
        else
            tf_warn("warm worker %d (device %d) exited with %d before any session: replaced",
                    (int)pid, dev, WEXITSTATUS(status));
        close(w->w[i].sock);
        forget(w, i);
        publish(w);
        return 1;
    }
    return 0;
}

void node_warm_retire_all(struct node_warm *w, int stop)
{
    while (w->n > 0)
        retire(w, w->n - 1, stop ? SIGTERM : 0);
    if (stop)
        w->per_dev = 0;
    publish(w);
}
