/*
 * Memory beyond the device (docs/freeze.md, "Oversubscription"): with --oversubscribe-memory
 * RATIO the vGPUs' memory limits of a device may add up to RATIO x its memory, and a session
 * whose allocation or resume does not fit in what the device has free asks the node for room
 * through its entry of the session table (stats.h: room_need, room_seq). The room thread
 * answers: it freezes other vGPUs of the same device, least recently active first, never the
 * requester's own vGPU and never one of a higher QoS than the requester's, until the frozen
 * bytes cover the request, and tells the worker whether anything was freed (it tries again,
 * and asks again, until its --oversubscribe-wait passes).
 *
 * Owns: the option's parsing, the room thread, the oversubscription counters and metrics.
 * May call: vgpus_freeze_int.h (the freezes themselves; asks for room within a vGPU go to
 * vgpus_switch.c), sessions.h, src/vgpu, src/common.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "stats.h"
#include "vgpus_freeze_int.h"
#include "vgpus_int.h"

#define ROOM_TICK_MS 5    /* how soon a request is seen (the worker sleeps meanwhile) */
#define RATIO_MAX 100.0

int node_oversub_parse(const char *text, const char *freeze_to, int oversubscribe,
                       double *ratio, char *err, size_t len)
{
    *ratio = 1;
    if (!text)
        return 0;
    char *end = NULL;
    errno = 0;
    double r = strtod(text, &end);
    if (errno || end == text || *end || !(r >= 1 && r <= RATIO_MAX)) {
        snprintf(err, len, "--oversubscribe-memory takes a ratio from 1 to %.0f (1.8: the "
                 "vGPUs' limits may add up to 180%% of a device), not '%.40s'", RATIO_MAX, text);
        return -1;
    }
    if (oversubscribe) {
        snprintf(err, len, "--oversubscribe-memory and --oversubscribe do not go together: "
                 "--oversubscribe promises without bound and never makes room");
        return -1;
    }
    if (!freeze_to || (strcmp(freeze_to, "host") != 0 && strcmp(freeze_to, "disk") != 0)) {
        snprintf(err, len, "--oversubscribe-memory needs --freeze-to host or --freeze-to disk: "
                 "room is made by freezing vGPUs");
        return -1;
    }
    *ratio = r;
    return 0;
}

void node_oversub_init(struct node_freeze *f, int on, int wait_s)
{
    f->room = on && f->to;
    f->room_wait_s = wait_s > 0 ? wait_s : 10;
}

/* ---- counters ---- */

static void count(struct node_freeze *f, const struct node_fz_target *g, uint64_t *base)
{
    pthread_mutex_lock(&f->count_lock);
    if (f->oversub_gen[g->dev][g->slot] != g->gen) {
        f->oversub_gen[g->dev][g->slot] = g->gen;
        f->evictions[g->dev][g->slot] = f->room_asks[g->dev][g->slot] = 0;
        f->room_fails[g->dev][g->slot] = 0;
    }
    base[g->dev * VGPU_MAX_SLOTS + g->slot]++;
    pthread_mutex_unlock(&f->count_lock);
}

void node_oversub_metrics(struct node_freeze *f, FILE *m, const struct node_fz_target *g, int n)
{
    static const char *const fam[][2] = {
        {"tfuse_vgpu_evictions_total", "Freezes of the vGPU made to give its device memory to "
         "another vGPU (--oversubscribe-memory)."},
        {"tfuse_vgpu_room_requests_total", "Times a session of the vGPU found the device full "
         "and asked the node to make room."},
        {"tfuse_vgpu_room_failures_total", "Of them, times no other vGPU could be frozen."},
    };
    if (!f->room)
        return;
    pthread_mutex_lock(&f->count_lock);
    for (int i = 0; i < 3; i++) {
        fprintf(m, "# HELP %s %s\n# TYPE %s counter\n", fam[i][0], fam[i][1], fam[i][0]);
        for (int k = 0; k < n; k++) {
            int d = g[k].dev, s = g[k].slot;
            uint64_t val = f->oversub_gen[d][s] != g[k].gen ? 0
                         : i == 0 ? f->evictions[d][s] : i == 1 ? f->room_asks[d][s]
                         : f->room_fails[d][s];
            fprintf(m, "%s{vgpu=\"%s\",device=\"%s\"} %llu\n", fam[i][0], g[k].id,
                    f->v->dev[d].uuid, (unsigned long long)val);
        }
    }
    pthread_mutex_unlock(&f->count_lock);
}

/* ---- the room thread ---- */

struct request {   /* one session's ask */
    struct tfw_stats *e;
    int32_t pid;
    uint32_t seq;
    int vgpu;          /* room within the vGPU's limit (model switching, vgpus_switch.c) */
    uint64_t need;
    struct node_fz_target who;
};

struct candidate {
    struct node_fz_target g;
    uint64_t last_call_ns;
};

/* The asks pending now (at most cap). */
static int pending(struct node_freeze *f, struct request *r, int cap)
{
    int n = 0;
    pthread_mutex_lock(&f->t->lock);
    for (int i = 0; i < f->t->cap && n < cap; i++) {
        struct tfw_stats *e = &f->t->table[i];
        if (!node_session_listed(e) || e->slot < 0 || e->device < 0 ||
            e->device >= NODE_MAX_DEVICES || !atomic_load(&e->fz.enabled))
            continue;
        uint32_t seq = atomic_load_explicit(&e->fz.room_seq, memory_order_acquire);
        if (seq == atomic_load(&e->fz.room_done))
            continue;
        r[n] = (struct request){e, atomic_load(&e->worker_pid), seq,
                                (int)atomic_load(&e->fz.room_vgpu), atomic_load(&e->fz.room_need),
                                {.dev = e->device, .slot = e->slot, .gen = e->vgpu_generation}};
        snprintf(r[n++].who.id, sizeof r->who.id, "%s", e->vgpu);
    }
    pthread_mutex_unlock(&f->t->lock);
    return n;
}

/* The worker still waits for this very ask. */
static int wanted(struct node_freeze *f, const struct request *r)
{
    pthread_mutex_lock(&f->t->lock);
    int yes = node_session_listed(r->e) && atomic_load(&r->e->worker_pid) == r->pid &&
              atomic_load(&r->e->fz.room_seq) == r->seq && atomic_load(&r->e->fz.room_need);
    pthread_mutex_unlock(&f->t->lock);
    return yes;
}

static void answer(struct node_freeze *f, const struct request *r, int result)
{
    pthread_mutex_lock(&f->t->lock);
    if (node_session_listed(r->e) && atomic_load(&r->e->worker_pid) == r->pid) {
        atomic_store_explicit(&r->e->fz.room_result, result, memory_order_relaxed);
        atomic_store_explicit(&r->e->fz.room_done, r->seq, memory_order_release);
    }
    pthread_mutex_unlock(&f->t->lock);
}

static int qos_of(struct node_vgpus *v, const struct node_fz_target *g)
{
    pthread_mutex_lock(&v->lock);
    struct vgpu_slot *s = vgpu_slot_at(v->regions[g->dev], g->slot);
    int q = s && s->generation == g->gen ? (int)atomic_load(&s->qos) : -1;
    pthread_mutex_unlock(&v->lock);
    return q;
}

static int by_last_call(const void *a, const void *b)
{
    uint64_t x = ((const struct candidate *)a)->last_call_ns;
    uint64_t y = ((const struct candidate *)b)->last_call_ns;
    return x < y ? -1 : x > y;
}

/* The vGPUs that may give room to r, least recently active first: on r's device, not r's, of
 * no higher QoS, running, every session freezable, holding freezable memory, none of their
 * sessions itself waiting for room (it could not answer). */
static int candidates(struct node_freeze *f, const struct request *r, struct node_fz_target *all,
                      int nall, struct candidate *c)
{
    int mine = qos_of(f->v, &r->who), n = 0;
    for (int k = 0; k < nall; k++) {
        struct node_fz_target *g = &all[k];
        if (g->dev != r->who.dev || g->slot == r->who.slot || qos_of(f->v, g) > mine)
            continue;
        struct node_fz_view o;
        node_fz_view(f, g, &o);
        if (o.sessions && o.enabled == o.sessions && o.frozen < o.sessions &&
            o.freezable_bytes && !o.room_waiting)
            c[n++] = (struct candidate){*g, o.last_call_ns};
    }
    qsort(c, (size_t)n, sizeof *c, by_last_call);
    return n;
}

/* Freezes candidates for r until their frozen bytes cover its need; how many were frozen. */
static int make_room(struct node_freeze *f, const struct request *r, struct candidate *c, int n,
                     uint64_t *freed)
{
    int froze = 0;
    for (int k = 0; k < n && *freed < r->need && wanted(f, r); k++) {
        char why[200];
        snprintf(why, sizeof why, "to make room for vGPU %s: %llu bytes on device %d",
                 r->who.id, (unsigned long long)r->need, r->who.dev);
        json_t *reply = NULL;
        struct node_fz_view o;
        pthread_mutex_lock(&f->op);
        node_fz_view(f, &c[k].g, &o);   /* again: an API call may have frozen it meanwhile */
        int status = o.sessions && o.frozen < o.sessions && !o.room_waiting
                   ? node_fz_operate(f, &c[k].g, (uint32_t)f->to, why, &reply) : 0;
        pthread_mutex_unlock(&f->op);
        if (status == 200) {
            json_t *fz = json_object_get(reply, "freeze");
            *freed += (uint64_t)json_integer_value(json_object_get(fz, "frozen_bytes"));
            froze++;
            count(f, &c[k].g, &f->evictions[0][0]);
        }
        json_decref(reply);
    }
    return froze;
}

static void serve(struct node_freeze *f, const struct request *r, struct node_fz_target *all,
                  int nall, struct candidate *c)
{
    if (!r->need) {   /* withdrawn before it was seen */
        answer(f, r, TFW_ROOM_NONE);
        return;
    }
    if (!r->vgpu)
        count(f, &r->who, &f->room_asks[0][0]);
    pthread_mutex_lock(&f->t->lock);   /* the worker's wait stops counting while we freeze */
    if (node_session_listed(r->e) && atomic_load(&r->e->worker_pid) == r->pid)
        atomic_store(&r->e->fz.room_busy, r->seq);
    pthread_mutex_unlock(&f->t->lock);
    if (r->vgpu) {   /* within the vGPU: its idle sessions, not other vGPUs */
        int n = node_switch_make_room(f, r->e, r->pid, r->seq, &r->who, r->need);
        answer(f, r, n ? TFW_ROOM_FREED : TFW_ROOM_NONE);
        return;
    }
    uint64_t freed = 0;
    int n = candidates(f, r, all, nall, c);
    int froze = make_room(f, r, c, n, &freed);
    if (froze) {
        tf_info("made room for vGPU %s on device %d: %d vGPU(s) frozen, %llu bytes, for an "
                "allocation of %llu", r->who.id, r->who.dev, froze, (unsigned long long)freed,
                (unsigned long long)r->need);
    } else {
        count(f, &r->who, &f->room_fails[0][0]);
        tf_debug("no room for vGPU %s on device %d (%llu bytes): no other vGPU of its QoS or "
                 "lower can be frozen", r->who.id, r->who.dev, (unsigned long long)r->need);
    }
    answer(f, r, froze ? TFW_ROOM_FREED : TFW_ROOM_NONE);
}

static void *room_main(void *arg)
{
    struct node_freeze *f = arg;
    enum { CAP = NODE_MAX_DEVICES * VGPU_MAX_SLOTS, ASKS = 256 };
    struct node_fz_target *all = malloc(CAP * sizeof *all);
    struct candidate *c = malloc(CAP * sizeof *c);
    struct request *r = malloc(ASKS * sizeof *r);
    while (all && c && r && !atomic_load(&f->stop)) {
        int n = pending(f, r, ASKS), nall = n ? node_fz_targets(f->v, all, CAP) : 0;
        for (int i = 0; i < n && !atomic_load(&f->stop); i++)
            serve(f, &r[i], all, nall, c);
        struct timespec ts = {0, ROOM_TICK_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    free(all);
    free(c);
    free(r);
    return NULL;
}

int node_oversub_start(struct node_freeze *f)
{
    if (!f->room && !f->switch_ms)   /* model switching's asks come the same way */
        return 0;
    f->room_running = pthread_create(&f->room_thread, NULL, room_main, f) == 0;
    return f->room_running ? 0 : -1;
}

void node_oversub_stop(struct node_freeze *f)
{
    if (!f->room_running)
        return;
    atomic_store(&f->stop, 1);
    pthread_join(f->room_thread, NULL);
    f->room_running = 0;
}
