/*
 * What the node's freeze files share (private to src/node): vgpus_freeze.c runs freezes and
 * resumes, vgpus_oversub.c decides which vGPUs to freeze to make room on an oversubscribed
 * device and asks vgpus_freeze.c to do it; vgpus_switch.c decides which sessions of one vGPU
 * to freeze to make room within its limit (model switching); vgpus_migrate.c sends its
 * migrate commands through the same asking and waiting.
 */
#ifndef TFUSE_NODE_VGPUS_FREEZE_INT_H
#define TFUSE_NODE_VGPUS_FREEZE_INT_H

#include <jansson.h>
#include <stdint.h>

#include "vgpus_freeze.h"

struct node_fz_target {   /* one vGPU */
    int dev, slot;
    uint64_t gen;
    char id[VGPU_ID_MAX];
};

struct node_fz_view {
    int sessions, enabled, frozen, disk;
    int room_waiting;        /* sessions waiting for room inside a request */
    uint64_t frozen_bytes, host_bytes, freezable_bytes, freezes, resumes, resumes_by_call;
    uint64_t switched_bytes; /* frozen for a model switch: off the vGPU's used_bytes too */
    uint64_t last_call_ns;   /* CLOCK_MONOTONIC of the latest call (or start) of a session */
};

uint64_t node_fz_mono_ns(void);

/* One command to one session (vgpus_freeze.c; vgpus_migrate.c asks through it too). */
struct node_fz_asked {
    struct tfw_stats *e;
    int32_t pid;
    uint32_t seq;
    int answered;            /* result -1: the session ended (it holds nothing any more) */
    int32_t result;
};
/* Writes cmd into each session of g that can take it; returns how many (at most cap). */
int node_fz_ask(struct node_freeze *f, const struct node_fz_target *g, uint32_t cmd,
                struct node_fz_asked *a, int cap);
/* Waits for every asked worker (or its end), at least 60 s and 30 s more per GiB of bytes;
 * returns how many did not answer in time. */
int node_fz_await(struct node_freeze *f, struct node_fz_asked *a, int n, uint64_t bytes);
/* [{"worker_pid", "outcome", "cuda_error"}] of the answers. */
json_t *node_fz_answers_json(const struct node_fz_asked *a, int n);
/* The vGPU's sessions as the session table shows them now. */
void node_fz_view(struct node_freeze *f, const struct node_fz_target *g, struct node_fz_view *o);
/* Freezes (cmd TFW_FZ_CMD_FREEZE_*) or resumes g's sessions, whole or not at all; `why` goes
 * to the log. Call with f->op held. An HTTP status and *reply, as the API verbs. */
int node_fz_operate(struct node_freeze *f, const struct node_fz_target *g, uint32_t cmd,
                    const char *why, json_t **reply);
/* Runs cmd in the one session e (worker pid), waiting for its answer (bounded as a vGPU's):
 * 0 with *result its CUresult, -1 when the session ended, -ETIMEDOUT. */
int node_fz_session(struct node_freeze *f, struct tfw_stats *e, int32_t pid, uint32_t cmd,
                    uint64_t bytes, int32_t *result);
/* vgpus_switch.c, on the room thread: the ask `seq` of session e (worker pid) of vGPU who for
 * need bytes within its limit: idle other sessions of who are frozen off its ledger until
 * their bytes cover it. How many were frozen. */
int node_switch_make_room(struct node_freeze *f, struct tfw_stats *e, int32_t pid, uint32_t seq,
                          const struct node_fz_target *who, uint64_t need);
/* vgpus_switch.c: model switching's family of /metrics, for the vGPUs in g. */
void node_switch_metrics(struct node_freeze *f, FILE *m, const struct node_fz_target *g, int n);
/* Every live vGPU of the node (at most cap). */
int node_fz_targets(struct node_vgpus *v, struct node_fz_target *out, int cap);

/* vgpus_oversub.c: the room thread (started and stopped with the idle policy's) and the
 * oversubscription families of /metrics, for the vGPUs in g. */
int node_oversub_start(struct node_freeze *f);
void node_oversub_stop(struct node_freeze *f);
void node_oversub_metrics(struct node_freeze *f, FILE *m, const struct node_fz_target *g, int n);

#endif
