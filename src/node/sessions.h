/*
 * The node's session table: one `struct tfw_stats` entry (src/worker/stats.h) per worker, in an
 * anonymous MAP_SHARED mapping made before any worker is forked. The node claims an entry before
 * fork, the worker fills it in and counts its calls, the reaper folds an ended session's counters
 * into per-vGPU totals (so that Prometheus counters never go backwards when a session ends) and
 * frees the entry. The API threads read it under the table's mutex.
 *
 * Owns: the mapping, entry claims and frees, the folded totals, the sessions' JSON.
 * May call: src/worker/stats.h (layout), vgpus.h (memory held, vGPU slots), jansson,
 * src/common/log.h, libc.
 */
#ifndef TFUSE_NODE_SESSIONS_H
#define TFUSE_NODE_SESSIONS_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "stats.h"
#include "vgpus.h"

#define NODE_SESSIONS_DEFAULT_CAP 256
#define NODE_SESSION_IDLE_NS 2000000000ull /* no call for 2 s: "idle" */

/* Counters of ended sessions, per vGPU (and one set for sessions without a vGPU). */
struct node_sessions_fold {
    uint64_t generation;          /* the vGPU slot generation these belong to */
    uint64_t calls[TFP_CALL_COUNT];
    uint64_t calls_total, errors_total, launches_total, bytes_in, bytes_out;
    uint64_t freezes, resumes;    /* vgpus_freeze.h */
};

/* A warm worker (warm.h) as `tfuse ps` lists it: no session, its context charged to the node. */
#define NODE_SESSIONS_WARM_MAX 256
struct node_sessions_warm {
    int32_t pid, device, ready;
    double started_unix;
    uint64_t memory_bytes;        /* its charge to the node */
};

struct node_sessions {
    struct tfw_stats *table;
    int cap;
    size_t map_len;
    pthread_mutex_t lock;
    uint64_t ended;               /* sessions (that passed the handshake) that ended */
    int full_warned;              /* the "table full" warning was given */
    struct node_sessions_fold *vgpu_fold;  /* [NODE_MAX_DEVICES * VGPU_MAX_SLOTS] */
    struct node_sessions_fold none_fold;   /* sessions without a vGPU */
    /* node-wide latency histogram of ended sessions */
    uint64_t hist[TFW_CLASS_COUNT][TFW_STATS_BUCKETS + 1];
    uint64_t hist_sum_ns[TFW_CLASS_COUNT];
    struct node_sessions_warm warm[NODE_SESSIONS_WARM_MAX];   /* published by warm.c */
    int nwarm;
};

/* Maps a table of cap entries. 0, or -1 with err. */
int node_sessions_init(struct node_sessions *t, int cap, char *err, size_t len);
void node_sessions_destroy(struct node_sessions *t);

/* Before fork: a fresh entry (STARTING) for the next worker, or NULL when the table is full
 * (the session then runs without statistics). */
struct tfw_stats *node_sessions_claim(struct node_sessions *t);
/* After fork: the worker's pid, or pid < 0 (fork failed) to give the entry back. */
void node_sessions_forked(struct node_sessions *t, struct tfw_stats *e, pid_t pid);
/* A worker was reaped: fold its counters into the totals and free its entry. */
void node_sessions_reap(struct node_sessions *t, pid_t pid);

/* The warm workers now (warm.c, main thread); listed as "warm" beside the sessions. */
void node_sessions_set_warm(struct node_sessions *t, const struct node_sessions_warm *w, int n);

/* Readers (they take the lock). vgpus may be NULL. */
int node_sessions_count(struct node_sessions *t);  /* sessions past the handshake */
/* Sessions attached to the vGPU `id` of device `dev` (created as `generation`). */
int node_sessions_count_vgpu(struct node_sessions *t, int dev, const char *id,
                             uint64_t generation);
/* GET /api/v1/sessions and /api/v1/sessions/{id}: status and *reply, as vgpus.h's operations. */
int node_sessions_list(struct node_sessions *t, struct node_vgpus *v, json_t **reply);
int node_sessions_get(struct node_sessions *t, struct node_vgpus *v, const char *id,
                      json_t **reply);

/* For metrics.c, with the lock held: 1 when entry e is a session (past the handshake). */
int node_session_listed(const struct tfw_stats *e);
/* Bytes the session's worker holds on its vGPU (0 without one). */
uint64_t node_session_memory(const struct tfw_stats *e, struct node_vgpus *v);
/* "active", "idle" or "closing". */
const char *node_session_state(const struct tfw_stats *e, uint64_t now_mono_ns);

#endif
