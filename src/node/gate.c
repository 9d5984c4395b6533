/*
 * The node's session gate (see gate.h). A pending connection is polled for input; each time
 * input comes, tf_server_hello_ready advances it without waiting: a plain socket is peeked
 * (nothing is consumed, a passed memfd stays attached), a TLS one shakes hands a step and reads
 * the decrypted hello, until the whole hello is there; only then does tf_server_handshake run,
 * which therefore never waits on the network and never holds up the node's loop. A TLS
 * handshake that stalls is dropped at the same deadline as a silent connection. A peer that
 * sent part of a hello and stalls is not polled again for a moment, so
 * that a socket with unread bytes cannot spin the loop.
 *
 * May call: src/transport, src/vgpu (slot generations), src/common/log.h, libc.
 */
#include "gate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "vgpu_region.h"

#define HOST_KEY_MAX 64
#define STALL_S 0.05            /* a partial hello that did not grow: not polled for this long */
#define WARN_EVERY_S 10.0       /* at most one "pending full" warning this often */
#define MAX_VGPUS 16            /* vGPUs one session may name (TFW_MAX_GPUS) */

struct node_gate_pending {
    struct tf_conn *conn;
    double deadline, quiet_until;
    uint64_t seen;               /* bytes taken in (peeked, or read through TLS) last time */
    short events;                /* what the connection waits for (TLS may need to write) */
    char host[HOST_KEY_MAX];     /* "tcp 10.0.0.7", "unix uid 1000" */
};

struct node_gate_session {
    pid_t pid;
    int n;
    struct { uint32_t dev, slot; uint64_t generation; } vgpu[MAX_VGPUS];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void apply_defaults(struct node_gate_opts *o)
{
    if (o->max_sessions <= 0)
        o->max_sessions = NODE_GATE_DEFAULT_MAX_SESSIONS;
    if (o->max_per_vgpu <= 0)
        o->max_per_vgpu = NODE_GATE_DEFAULT_MAX_PER_VGPU;
    if (o->max_pending <= 0)
        o->max_pending = NODE_GATE_DEFAULT_MAX_PENDING;
    if (o->max_pending_per_host <= 0)
        o->max_pending_per_host = NODE_GATE_DEFAULT_MAX_PENDING_PER_HOST;
    if (o->handshake_timeout_s <= 0)
        o->handshake_timeout_s = NODE_GATE_DEFAULT_HANDSHAKE_TIMEOUT_S;
}

int node_gate_init(struct node_gate *g, const struct node_gate_opts *o, node_gate_ready_fn ready,
                   void *arg)
{
    memset(g, 0, sizeof *g);
    g->ready = ready;
    g->arg = arg;
    node_gate_set_opts(g, o);
    g->pending = calloc((size_t)g->o.max_pending, sizeof *g->pending);
    return g->pending ? 0 : -1;
}

void node_gate_set_opts(struct node_gate *g, const struct node_gate_opts *o)
{
    int had = g->o.max_pending;
    g->o = *o;
    apply_defaults(&g->o);
    if (had && g->o.max_pending > had) {
        /* pending holds `had` entries: a larger cap needs a restart (config.c says so) */
        g->o.max_pending = had;
    }
}

void node_gate_destroy(struct node_gate *g)
{
    for (int i = 0; i < g->npending; i++)
        tf_conn_close(g->pending[i].conn);
    free(g->pending);
    free(g->sessions);
    memset(g, 0, sizeof *g);
}

/* The client's host, the unit of the per-host cap: the address without the port for tcp, the
 * user for a unix socket. */
static void host_key(struct tf_conn *conn, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = tf_conn_fd(conn);
    char addr[INET6_ADDRSTRLEN] = "?";
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0 || ss.ss_family == AF_UNIX) {
        struct ucred cred;
        socklen_t cl = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
            snprintf(out, len, "unix uid %u", (unsigned)cred.uid);
        else
            snprintf(out, len, "unix");
        return;
    }
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof addr);
    snprintf(out, len, "tcp %s", addr);
}

static int pending_of_host(const struct node_gate *g, const char *host)
{
    int n = 0;
    for (int i = 0; i < g->npending; i++)
        n += strcmp(g->pending[i].host, host) == 0;
    return n;
}

/* One warning at most every WARN_EVERY_S, with the totals: a flood must not flood the log. */
static void warn_drops(struct node_gate *g, const char *why, const char *host)
{
    double now = now_s();
    if (g->warned_at && now - g->warned_at < WARN_EVERY_S)
        return;
    g->warned_at = now;
    tf_warn("session connection from %s dropped: %s (dropped so far: %llu at the pending caps, "
            "%llu without a handshake within %g s)", host, why,
            (unsigned long long)g->dropped_full, (unsigned long long)g->dropped_timeout,
            g->o.handshake_timeout_s);
}

static void drop_full(struct node_gate *g, struct tf_conn *conn, const char *host, int host_cap)
{
    g->dropped_full++;
    char why[160];
    snprintf(why, sizeof why, "%d connections without a handshake %s", host_cap ?
             g->o.max_pending_per_host : g->o.max_pending, host_cap ? "from this host" :
             "in all");
    warn_drops(g, why, host);
    tf_conn_close(conn);
}

void node_gate_admit(struct node_gate *g, struct tf_conn *conn)
{
    char host[HOST_KEY_MAX];
    host_key(conn, host, sizeof host);
    if (g->npending >= g->o.max_pending) {
        drop_full(g, conn, host, 0);
        return;
    }
    if (pending_of_host(g, host) >= g->o.max_pending_per_host) {
        drop_full(g, conn, host, 1);
        return;
    }
    struct node_gate_pending *p = &g->pending[g->npending++];
    *p = (struct node_gate_pending){.conn = conn, .events = POLLIN,
                                    .deadline = now_s() + g->o.handshake_timeout_s};
    snprintf(p->host, sizeof p->host, "%s", host);
}

int node_gate_pending(const struct node_gate *g)
{
    return g->npending;
}

int node_gate_pollfds(struct node_gate *g, struct pollfd *pfd, int cap, int *timeout_ms)
{
    double now = now_s();
    int n = 0;
    for (int i = 0; i < g->npending && n < cap; i++) {
        struct node_gate_pending *p = &g->pending[i];
        double wake = p->quiet_until > now ? p->quiet_until : p->deadline;
        int ms = wake <= now ? 0 : (int)((wake - now) * 1000.0) + 1;
        if (ms < *timeout_ms)
            *timeout_ms = ms;
        /* a quiet entry is still listed (events 0: hang-ups are reported all the same) */
        pfd[n++] = (struct pollfd){.fd = tf_conn_fd(p->conn),
                                   .events = p->quiet_until > now ? 0 : p->events};
    }
    return n;
}

/* 1 when the whole hello has come, 0 not yet, -1 when the connection failed (the peer left,
 * its TLS handshake failed, a plaintext client on a TLS listener). */
static int hello_arrived(struct node_gate_pending *p, double now)
{
    uint64_t have = 0;
    int rc = tf_server_hello_ready(p->conn, &p->events, &have);
    if (rc < 0) {
        tf_log(rc == TF_ERR_CLOSED ? TF_LOG_DEBUG : TF_LOG_WARN, "session connection from %s "
               "dropped: %s", p->host, tf_conn_error(p->conn));
        return -1;
    }
    if (rc > 0)
        return 1;
    if (have == p->seen)    /* input was reported but nothing new can be read: rest a while */
        p->quiet_until = now + STALL_S;
    p->seen = have;
    return 0;
}

/* Takes entry i out (the last one moves in its place). */
static struct tf_conn *take(struct node_gate *g, int i)
{
    struct tf_conn *conn = g->pending[i].conn;
    g->pending[i] = g->pending[--g->npending];
    return conn;
}

static void hand_over(struct node_gate *g, struct tf_conn *conn)
{
    struct tf_hello *hello = malloc(sizeof *hello);   /* 4 KiB of token: not on the stack */
    struct tf_server_opts opts = {.timeout_ms = 1000};  /* the bytes are there: no real wait */
    int rc = hello ? tf_server_handshake(conn, &opts, hello) : TF_ERR_NOMEM;
    if (rc == TF_OK) {
        g->ready(g->arg, conn, hello);
    } else {
        tf_log(rc == TF_ERR_CLOSED ? TF_LOG_INFO : TF_LOG_WARN, "handshake failed: %s",
               tf_conn_error(conn));
        tf_conn_close(conn);
    }
    free(hello);
}

void node_gate_service(struct node_gate *g, const struct pollfd *pfd, int n)
{
    double now = now_s();
    /* pfd[i] describes pending[i] as listed (connections admitted since come after them).
     * Walking backwards, taking entry i moves in the last one, which was already visited, so
     * every entry is seen once and pfd[i] still matches the entry at i when it is. */
    for (int i = g->npending - 1; i >= 0; i--) {
        struct node_gate_pending *p = &g->pending[i];
        int state = 0;
        if (i < n && (pfd[i].revents & (POLLIN | POLLOUT | POLLHUP | POLLERR)))
            state = hello_arrived(p, now);
        if (state > 0) {
            hand_over(g, take(g, i));
        } else if (state < 0) {
            tf_conn_close(take(g, i));   /* left before a whole hello: a probe, or a scan */
        } else if (now >= p->deadline) {
            g->dropped_timeout++;
            warn_drops(g, "no handshake within the timeout", p->host);
            tf_conn_close(take(g, i));
        }
    }
}

void node_gate_close_fds(const struct node_gate *g)
{
    for (int i = 0; i < g->npending; i++)
        close(tf_conn_fd(g->pending[i].conn));
}

/* ---- admitted sessions ---- */

static int sessions_of(const struct node_gate *g, uint32_t dev, uint32_t slot, uint64_t gen)
{
    int n = 0;
    for (int i = 0; i < g->nsessions; i++)
        for (int k = 0; k < g->sessions[i].n; k++)
            n += g->sessions[i].vgpu[k].dev == dev && g->sessions[i].vgpu[k].slot == slot &&
                 g->sessions[i].vgpu[k].generation == gen;
    return n;
}

int node_gate_check_caps(const struct node_gate *g, struct vgpu_region *const *regions,
                         const int *slots, int n, char *err, size_t errlen)
{
    if (g->nsessions >= g->o.max_sessions) {
        snprintf(err, errlen, "the node serves its maximum of %d sessions (--max-sessions): "
                 "try again when one ends", g->o.max_sessions);
        return -1;
    }
    for (int i = 0; i < n && i < MAX_VGPUS; i++) {
        const struct vgpu_slot *s = &regions[i]->slots[slots[i]];
        if (sessions_of(g, regions[i]->hdr->device_index, (uint32_t)slots[i], s->generation) >=
            g->o.max_per_vgpu) {
            snprintf(err, errlen, "vGPU %s has its maximum of %d sessions "
                     "(--max-sessions-per-vgpu): try again when one ends", s->id,
                     g->o.max_per_vgpu);
            return -1;
        }
    }
    return 0;
}

void node_gate_started(struct node_gate *g, pid_t pid, struct vgpu_region *const *regions,
                       const int *slots, int n)
{
    if (g->nsessions == g->cap_sessions) {
        int cap = g->cap_sessions ? 2 * g->cap_sessions : 64;
        struct node_gate_session *grown = realloc(g->sessions, (size_t)cap * sizeof *grown);
        if (!grown) {   /* the session runs; only the caps undercount it */
            tf_warn("out of memory recording session %d for the session caps", (int)pid);
            return;
        }
        g->sessions = grown;
        g->cap_sessions = cap;
    }
    struct node_gate_session *e = &g->sessions[g->nsessions++];
    e->pid = pid;
    e->n = n < MAX_VGPUS ? n : MAX_VGPUS;
    for (int i = 0; i < e->n; i++) {
        e->vgpu[i].dev = regions[i]->hdr->device_index;
        e->vgpu[i].slot = (uint32_t)slots[i];
        e->vgpu[i].generation = regions[i]->slots[slots[i]].generation;
    }
}

void node_gate_ended(struct node_gate *g, pid_t pid)
{
    for (int i = 0; i < g->nsessions; i++) {
        if (g->sessions[i].pid == pid) {
            g->sessions[i] = g->sessions[--g->nsessions];
            return;
        }
    }
}

int node_gate_sessions(const struct node_gate *g)
{
    return g->nsessions;
}
