/*
 * The node's warm workers (`tfuse node --warm N`, docs/node-api.md "Warm workers"): per device,
 * N worker processes started before any client, each with the backend loaded and the device's
 * primary context made (src/worker/warm.c). A client the gate admitted is handed to a ready one
 * of its device (tf_conn_handoff_send over the worker's socket) instead of a fresh fork; a
 * warm worker serves one session only and a new one is started in its place. One that dies
 * while warm is replaced (after a backoff when it never became ready). Retired (a reload, the
 * drain, or a vGPU promised the memory its context holds) by closing its socket.
 *
 * Memory: each warm worker is charged ctx_bytes (the node's --ctx-overhead) to the node, never
 * to a tenant: warm_bytes of node_vgpus (devices listing, metrics, heartbeats) and the session
 * table's warm list (tfuse ps). A warm worker starts only in memory no vGPU is promised, and
 * yields it when a vGPU is. Once handed a session its context is the session's, charged to the
 * session's vGPU when the program makes its context, as on a cold worker.
 *
 * Owns: the warm processes, their sockets, their charges. Runs on the node's main thread; the
 * published figures are read by the API threads. May call: src/transport (handoff),
 * sessions.h, vgpus.h, src/worker/worker.h (the handoff's layout), src/common/log.h, libc.
 */
#ifndef TFUSE_NODE_WARM_H
#define TFUSE_NODE_WARM_H

#include <stdint.h>
#include <sys/types.h>

#include "sessions.h"
#include "transport.h"
#include "vgpus.h"

#define NODE_WARM_DEFAULT 1       /* per device */
#define NODE_WARM_MAX 16          /* per device, --warm's bound */
#define NODE_WARM_RETIRED_MAX 256 /* retired processes not yet reaped */

/* Starts a warm worker for device dev that talks to the node over sock (the worker's end):
 * forks; the child never returns. The pid, or -1 with errno. */
typedef pid_t (*node_warm_spawn_fn)(void *arg, int dev, int sock);

struct node_warm_worker {
    pid_t pid;
    int sock;                     /* the node's end: the handoff goes here */
    int dev;
    int ready;                    /* it said so: backend loaded, context made */
    double started_unix;
};

struct node_warm {
    int per_dev, ndev;
    uint64_t ctx_bytes;           /* charged to the node per warm worker */
    struct node_vgpus *vgpus;     /* NULL (no --api): no memory accounting */
    struct node_sessions *table;  /* NULL: not listed */
    node_warm_spawn_fn spawn;
    void *arg;
    struct node_warm_worker w[NODE_MAX_DEVICES * NODE_WARM_MAX];
    int n;
    pid_t retired[NODE_WARM_RETIRED_MAX];   /* closed, not yet reaped */
    int nretired;
    int failures[NODE_MAX_DEVICES];         /* deaths before ready in a row */
    double retry_at[NODE_MAX_DEVICES];      /* monotonic s: no spawn before */
    uint64_t handed, crashed;               /* since start */
};

/* per_dev warm workers for each of ndev devices (0: off). vgpus and table may be NULL. */
void node_warm_init(struct node_warm *w, int per_dev, int ndev, uint64_t ctx_bytes,
                    struct node_vgpus *vgpus, struct node_sessions *table,
                    node_warm_spawn_fn spawn, void *arg);
/* Main loop: notes which became ready, retires those whose memory a vGPU was promised, starts
 * the missing ones (within the device's unpromised memory), publishes the list. */
void node_warm_tick(struct node_warm *w);
/* The sockets of the node's end: a forked child closes them all (node_warm_close_fds). */
void node_warm_close_fds(const struct node_warm *w);

/* Hands conn (hello read and authorized) to a warm worker of device dev, the session's stats
 * entry at stats_index (-1: none). The worker's pid, its warm charge ended; or -1 when none
 * could take it (conn is untouched: fork a worker as without warm workers). */
pid_t node_warm_hand(struct node_warm *w, int dev, struct tf_conn *conn,
                     const struct tf_hello *hello, int stats_index);

/* A child was reaped: 1 when it was a warm (or retired) worker, which the caller then forgets
 * (no session was its); 0 otherwise. */
int node_warm_reaped(struct node_warm *w, pid_t pid, int status);

/* Retires every warm worker (a reload: they hold the old configuration; the drain), and, with
 * stop, starts no more. */
void node_warm_retire_all(struct node_warm *w, int stop);

#endif
