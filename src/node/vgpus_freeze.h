/*
 * Freeze and resume of vGPUs (docs/freeze.md): POST /api/v1/vgpus/{id}/freeze and /resume, the
 * --freeze-idle policy, the vGPU's freeze state in its JSON and /metrics, and the disk images'
 * folder. The node asks each session's worker through the session's entry of the node's table
 * (src/worker/stats.h, struct tfw_freeze_words) and waits, bounded, for its answer; the workers
 * do the copying (src/worker/freeze.c). A frozen vGPU keeps its memory limit promised on its
 * device: freezing gives memory back to the device, not to other vGPUs' limits.
 *
 * Owns: struct node_freeze, its thread, the freeze folder. May call: vgpus_int.h, sessions.h,
 * src/vgpu, src/common (log, secret), jansson, libc.
 */
#ifndef TFUSE_NODE_VGPUS_FREEZE_H
#define TFUSE_NODE_VGPUS_FREEZE_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "sessions.h"
#include "vgpus.h"

struct node_freeze {
    struct node_vgpus *v;
    struct node_sessions *t;
    int to;                    /* the default: TFW_FZ_CMD_FREEZE_HOST or _DISK; 0 off */
    int idle_s;                /* --freeze-idle; 0: no idle policy */
    char dir[1024];            /* the disk images' folder */
    pthread_mutex_t op;        /* one freeze or resume at a time */
    uint64_t retry_ns[NODE_MAX_DEVICES][VGPU_MAX_SLOTS]; /* idle policy: not before (failed) */
    pthread_t thread;
    int running;
    _Atomic int stop;
    /* Oversubscription (vgpus_oversub.c): room is made for a session whose allocation or
     * resume does not fit by freezing other vGPUs of its device; per-vGPU counters, of the
     * generation in oversub_gen. */
    int room;                  /* 1 with --oversubscribe-memory */
    int room_wait_s;           /* --oversubscribe-wait */
    int switch_ms;             /* --switch-idle-ms (vgpus_switch.c); 0: no model switching */
    uint64_t switch_gen[NODE_MAX_DEVICES][VGPU_MAX_SLOTS];  /* of the counts below */
    uint64_t switches[NODE_MAX_DEVICES][VGPU_MAX_SLOTS];    /* sessions switched out */
    pthread_t room_thread;
    int room_running;
    uint64_t oversub_gen[NODE_MAX_DEVICES][VGPU_MAX_SLOTS];
    uint64_t evictions[NODE_MAX_DEVICES][VGPU_MAX_SLOTS];   /* frozen to make room */
    uint64_t room_asks[NODE_MAX_DEVICES][VGPU_MAX_SLOTS];   /* its sessions asked for room */
    uint64_t room_fails[NODE_MAX_DEVICES][VGPU_MAX_SLOTS];  /* ... and nothing could go */
    pthread_mutex_t count_lock;   /* the counters (the room thread writes, /metrics reads) */
};

/* to: "off", "host" or "disk" (--freeze-to); idle_s: --freeze-idle (0: none; turns freezing
 * on to host memory when `to` is off). dir: the disk images' folder (--state's freeze/), made
 * and emptied of a previous node's images. 0, or -1 with err. */
int node_freeze_init(struct node_freeze *f, struct node_vgpus *v, struct node_sessions *t,
                     const char *to, int idle_s, const char *dir, char *err, size_t len);
/* 1 when workers allocate freezably (tfw_opts.freezable). */
int node_freeze_enabled(const struct node_freeze *f);
/* --oversubscribe-memory RATIO (NULL: none) and --oversubscribe-wait, checked against
 * --freeze-to and --oversubscribe: *ratio is the most the vGPUs' memory limits of a device may
 * add up to, in device memories (1 without the option). 0, or -1 with err. */
int node_oversub_parse(const char *text, const char *freeze_to, int oversubscribe,
                       double *ratio, char *err, size_t len);
/* After node_freeze_init: on (the option was given) turns the room thread on; a session
 * waits wait_s seconds for room before its call fails. */
void node_oversub_init(struct node_freeze *f, int on, int wait_s);
/* After node_freeze_init: --switch-idle-ms MS (0: off; needs --freeze-to): a session whose
 * allocation or resume does not fit its vGPU's limit may freeze sessions of the same vGPU
 * idle for MS (vgpus_switch.c). 0, or -1 with err. */
int node_switch_init(struct node_freeze *f, int ms, char *err, size_t len);
/* The idle policy's thread (nothing without --freeze-idle) and the room thread (nothing
 * without --oversubscribe-memory). */
int node_freeze_start(struct node_freeze *f);
void node_freeze_stop(struct node_freeze *f);
/* A worker was reaped: its disk image, if it left one, goes. */
void node_freeze_reaped(struct node_freeze *f, pid_t pid);

/* POST /api/v1/vgpus/{id}/freeze (resume 0; body NULL or {"to": "host"|"disk"}) and /resume
 * (resume 1): an HTTP status and *reply, as vgpus.h's operations. */
int node_freeze_request(struct node_freeze *f, const char *id, int resume, json_t *body,
                        json_t **reply);
/* A bearer token that is vGPU id's own (a tenant may freeze and resume its vGPU): 1; 0 when
 * it is not; -1 when it is another vGPU's. */
int node_freeze_tenant_token(struct node_freeze *f, const char *id, const char *token);
/* Adds "freeze" to a vGPU's JSON (its device_index, generation and id name it). */
void node_freeze_describe(struct node_freeze *f, json_t *vgpu);
/* The freeze families of /metrics (malloc'd text; NULL when out of memory). */
char *node_freeze_metrics(struct node_freeze *f);

#endif
