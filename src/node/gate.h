/*
 * The node's session gate: what happens to a session connection between accept and fork. A
 * worker process is forked only for a client that has sent its whole hello and whose token the
 * node accepted (tfw_authorize), within the session caps; until then the connection is one
 * entry here, costing one descriptor and no process. Pending connections are bounded in total
 * and per client host (tcp: the address; unix: the uid) and dropped when no whole hello came
 * within the handshake timeout. The node's main loop polls the gate's descriptors beside its
 * listeners (node_gate_pollfds) and hands the results back (node_gate_service); every call runs
 * on that one thread.
 *
 * Also owns the admitted sessions' vGPUs (pid -> the vGPUs its token named), for the per-vGPU
 * cap: counted here, before fork, not from what workers attach later.
 *
 * Owns: pending connections, their deadlines, the caps' counts. May call: src/transport,
 * src/vgpu (slot generations), src/common/log.h, libc.
 */
#ifndef TFUSE_NODE_GATE_H
#define TFUSE_NODE_GATE_H

#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#include "transport.h"

struct vgpu_region;

/* Defaults of the node's options (config.c). */
#define NODE_GATE_DEFAULT_MAX_SESSIONS 256         /* worker processes at once */
#define NODE_GATE_DEFAULT_MAX_PER_VGPU 64          /* sessions of one vGPU (VGPU_MAX_PROCS) */
#define NODE_GATE_DEFAULT_MAX_PENDING 128          /* connections without a whole hello */
#define NODE_GATE_DEFAULT_MAX_PENDING_PER_HOST 32
#define NODE_GATE_DEFAULT_HANDSHAKE_TIMEOUT_S 10.0
#define NODE_GATE_POLL_MAX 4096   /* pending connections polled at once (--max-handshakes max) */

struct node_gate_opts {
    int max_sessions, max_per_vgpu, max_pending, max_pending_per_host;
    double handshake_timeout_s;
};

/* A client whose whole hello arrived and passed the transport's checks: the node decides
 * (node_gate_check_caps, tfw_authorize), then forks (node_gate_started) or rejects and closes.
 * The hello is valid during the call only. */
typedef void (*node_gate_ready_fn)(void *arg, struct tf_conn *conn, const struct tf_hello *hello);

struct node_gate_pending;
struct node_gate_session;

struct node_gate {
    struct node_gate_opts o;
    node_gate_ready_fn ready;
    void *arg;
    struct node_gate_pending *pending;
    int npending;
    struct node_gate_session *sessions;
    int nsessions, cap_sessions;
    uint64_t dropped_full, dropped_timeout;   /* since start, for the logs */
    double warned_at;                         /* last drop warning (monotonic s) */
};

/* 0, or -1 when out of memory. Zero fields of o take the defaults above. */
int node_gate_init(struct node_gate *g, const struct node_gate_opts *o, node_gate_ready_fn ready,
                   void *arg);
/* Closes every pending connection and forgets the sessions. */
void node_gate_destroy(struct node_gate *g);
/* Options changed by a reload; pending connections keep their deadlines. */
void node_gate_set_opts(struct node_gate *g, const struct node_gate_opts *o);

/* A connection just accepted: kept pending, or closed at once when its host or the gate is at
 * the pending cap. */
void node_gate_admit(struct node_gate *g, struct tf_conn *conn);

/* Fills pfd (up to cap entries) with the pending descriptors to poll; returns how many, and
 * lowers *timeout_ms to the nearest deadline. */
int node_gate_pollfds(struct node_gate *g, struct pollfd *pfd, int cap, int *timeout_ms);
/* After poll: pfd/n as node_gate_pollfds filled them. Hands over every connection whose hello
 * is complete (ready callback), drops those that hung up or ran out of time. */
void node_gate_service(struct node_gate *g, const struct pollfd *pfd, int n);
int node_gate_pending(const struct node_gate *g);
/* In a child the node forked (a worker, warm or not): closes the pending connections' sockets,
 * which are the node's; a copy held by a long-lived child would keep a client the gate dropped
 * from ever seeing its connection close. The connection being handed over is not among them. */
void node_gate_close_fds(const struct node_gate *g);

/* Whether one more session may start: below max_sessions, and each vGPU (regions[i], slots[i],
 * n of them) below max_per_vgpu. 0, or -1 with the reason for the client in err. */
int node_gate_check_caps(const struct node_gate *g, struct vgpu_region *const *regions,
                         const int *slots, int n, char *err, size_t errlen);
/* A worker was forked for such a session / was reaped. */
void node_gate_started(struct node_gate *g, pid_t pid, struct vgpu_region *const *regions,
                       const int *slots, int n);
void node_gate_ended(struct node_gate *g, pid_t pid);
int node_gate_sessions(const struct node_gate *g);

#endif
