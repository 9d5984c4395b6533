/*
 * The node's session table (see sessions.h).
 * May call: src/worker/stats.h, vgpus.h, jansson, src/common/log.h, libc.
 */
#include "sessions.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "log.h"

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t load(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

int node_sessions_init(struct node_sessions *t, int cap, char *err, size_t len)
{
    memset(t, 0, sizeof *t);
    t->map_len = (size_t)cap * sizeof(struct tfw_stats);
    /* Shared with every worker forked later; pages are touched only by entries in use. */
    void *p = mmap(NULL, t->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, len, "cannot map the session table: %s", strerror(errno));
        return -1;
    }
    t->vgpu_fold = calloc((size_t)NODE_MAX_DEVICES * VGPU_MAX_SLOTS, sizeof *t->vgpu_fold);
    if (!t->vgpu_fold) {
        munmap(p, t->map_len);
        snprintf(err, len, "out of memory for the session totals");
        return -1;
    }
    t->table = p;
    t->cap = cap;
    tfw_stats_calibrate();   /* before any worker is forked: they inherit the clock */
    pthread_mutex_init(&t->lock, NULL);
    return 0;
}

void node_sessions_destroy(struct node_sessions *t)
{
    if (!t->table)
        return;
    munmap(t->table, t->map_len);
    free(t->vgpu_fold);
    pthread_mutex_destroy(&t->lock);
    t->table = NULL;
}

struct tfw_stats *node_sessions_claim(struct node_sessions *t)
{
    if (!t->table)
        return NULL;
    struct tfw_stats *e = NULL;
    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < t->cap && !e; i++)
        if (atomic_load(&t->table[i].state) == TFW_STATS_FREE)
            e = &t->table[i];
    if (e) {
        memset((char *)e + sizeof e->state, 0, sizeof *e - sizeof e->state);
        e->device = e->slot = -1;
        e->started_mono_ns = clock_ns(CLOCK_MONOTONIC);
        e->started_unix = (double)clock_ns(CLOCK_REALTIME) / 1e9;
        atomic_store(&e->state, TFW_STATS_STARTING);
    } else if (!t->full_warned) {
        t->full_warned = 1;
        tf_warn("the session table is full (%d entries): further sessions run without "
                "statistics and are not listed", t->cap);
    }
    pthread_mutex_unlock(&t->lock);
    return e;
}

void node_sessions_forked(struct node_sessions *t, struct tfw_stats *e, pid_t pid)
{
    if (!e)
        return;
    pthread_mutex_lock(&t->lock);
    if (pid > 0)
        atomic_store(&e->worker_pid, (int32_t)pid);
    else
        atomic_store(&e->state, TFW_STATS_FREE);
    pthread_mutex_unlock(&t->lock);
}

static void fold_into(struct node_sessions_fold *f, struct tfw_stats *e)
{
    for (int c = 0; c < TFP_CALL_COUNT; c++)
        f->calls[c] += load(&e->calls[c]);
    f->calls_total += load(&e->calls_total);
    f->errors_total += load(&e->errors_total);
    f->launches_total += load(&e->launches_total);
    f->bytes_in += load(&e->bytes_in);
    f->bytes_out += load(&e->bytes_out);
    f->freezes += load(&e->fz.freezes);
    f->resumes += load(&e->fz.resumes);
}

static void fold_locked(struct node_sessions *t, struct tfw_stats *e)
{
    struct node_sessions_fold *f = &t->none_fold;
    if (e->device >= 0 && e->device < NODE_MAX_DEVICES && e->slot >= 0 &&
        e->slot < VGPU_MAX_SLOTS) {
        f = &t->vgpu_fold[e->device * VGPU_MAX_SLOTS + e->slot];
        if (f->generation != e->vgpu_generation) {   /* the slot holds another vGPU now */
            memset(f, 0, sizeof *f);
            f->generation = e->vgpu_generation;
        }
    }
    fold_into(f, e);
    for (int c = 0; c < TFW_CLASS_COUNT; c++) {
        for (int b = 0; b <= TFW_STATS_BUCKETS; b++)
            t->hist[c][b] += load(&e->hist[c][b]);
        t->hist_sum_ns[c] += tfw_stats_ticks_to_ns(load(&e->hist_sum_ticks[c]));
    }
    t->ended++;
}

void node_sessions_reap(struct node_sessions *t, pid_t pid)
{
    if (!t->table || pid <= 0)
        return;
    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < t->cap; i++) {
        struct tfw_stats *e = &t->table[i];
        if (atomic_load(&e->state) == TFW_STATS_FREE || atomic_load(&e->worker_pid) != pid)
            continue;
        if (node_session_listed(e))
            fold_locked(t, e);
        atomic_store(&e->state, TFW_STATS_FREE);
        break;
    }
    pthread_mutex_unlock(&t->lock);
}

/* CLOCK_MONOTONIC ns of the session's last call, 0 when it made none. */
static uint64_t last_call_mono_ns(const struct tfw_stats *e)
{
    uint64_t t = atomic_load_explicit(&e->last_call_ticks, memory_order_relaxed);
    return t ? tfw_stats_ticks_to_mono_ns(t) : 0;
}

int node_session_listed(const struct tfw_stats *e)
{
    uint32_t st = atomic_load_explicit(&e->state, memory_order_acquire);
    return st == TFW_STATS_ACTIVE || st == TFW_STATS_CLOSING;
}

const char *node_session_state(const struct tfw_stats *e, uint64_t now)
{
    if (atomic_load(&e->state) == TFW_STATS_CLOSING)
        return "closing";
    uint64_t last = last_call_mono_ns(e);
    if (last == 0)
        last = e->started_mono_ns;
    return now - last < NODE_SESSION_IDLE_NS || last > now ? "active" : "idle";
}

static struct vgpu_slot *session_slot(const struct tfw_stats *e, struct node_vgpus *v)
{
    if (!v || e->device < 0 || e->device >= v->ndev)
        return NULL;
    struct vgpu_slot *s = vgpu_slot_at(v->regions[e->device], e->slot);
    return s && s->generation == e->vgpu_generation ? s : NULL;
}

uint64_t node_session_memory(const struct tfw_stats *e, struct node_vgpus *v)
{
    struct vgpu_slot *s = session_slot(e, v);
    int32_t pid = atomic_load(&e->worker_pid);
    for (int i = 0; s && i < VGPU_MAX_PROCS; i++)
        if (atomic_load(&s->procs[i].pid) == pid)
            return atomic_load(&s->procs[i].bytes);
    return 0;
}

int node_sessions_count(struct node_sessions *t)
{
    int n = 0;
    pthread_mutex_lock(&t->lock);
    for (int i = 0; t->table && i < t->cap; i++)
        n += node_session_listed(&t->table[i]);
    pthread_mutex_unlock(&t->lock);
    return n;
}

int node_sessions_count_vgpu(struct node_sessions *t, int dev, const char *id,
                             uint64_t generation)
{
    int n = 0;
    pthread_mutex_lock(&t->lock);
    for (int i = 0; t->table && i < t->cap; i++) {
        struct tfw_stats *e = &t->table[i];
        n += node_session_listed(e) && e->device == dev && e->vgpu_generation == generation &&
             strcmp(e->vgpu, id) == 0;
    }
    pthread_mutex_unlock(&t->lock);
    return n;
}

static json_t *describe(struct tfw_stats *e, struct node_vgpus *v, uint64_t mono, double unix_now)
{
    int32_t pid = atomic_load(&e->worker_pid);
    char id[32];
    snprintf(id, sizeof id, "%d", (int)pid);
    int has_vgpu = e->device >= 0 && e->vgpu[0];
    uint64_t last = last_call_mono_ns(e);
    json_t *o = json_pack(
        "{s:s, s:i, s:o, s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:o, s:s}", "id",
        id, "worker_pid", (int)pid, "client_pid",
        e->client_pid > 0 ? json_integer(e->client_pid) : json_null(), "host", e->host,
        "transport", e->transport == TFW_STATS_UNIX ? "unix" : "tcp", "vgpu",
        has_vgpu ? json_string(e->vgpu) : json_null(), "device",
        has_vgpu && v && e->device < v->ndev ? json_string(v->dev[e->device].uuid)
                                              : json_null(),
        "memory_bytes", (json_int_t)node_session_memory(e, v), "calls_total",
        (json_int_t)load(&e->calls_total), "errors_total", (json_int_t)load(&e->errors_total),
        "launches_total", (json_int_t)load(&e->launches_total), "bytes_in",
        (json_int_t)load(&e->bytes_in), "bytes_out", (json_int_t)load(&e->bytes_out),
        "started_unix", e->started_unix, "last_call_unix",
        last ? json_real(unix_now - (last < mono ? (double)(mono - last) / 1e9 : 0))
             : json_null(),
        "state", node_session_state(e, mono));
    return o;
}

void node_sessions_set_warm(struct node_sessions *t, const struct node_sessions_warm *w, int n)
{
    if (!t->table)
        return;
    pthread_mutex_lock(&t->lock);
    t->nwarm = n < NODE_SESSIONS_WARM_MAX ? n : NODE_SESSIONS_WARM_MAX;
    memcpy(t->warm, w, (size_t)t->nwarm * sizeof *w);
    pthread_mutex_unlock(&t->lock);
}

/* The warm workers, lock held: a process each, no client, charged to the node. */
static json_t *describe_warm(struct node_sessions *t, struct node_vgpus *v)
{
    json_t *arr = json_array();
    for (int i = 0; i < t->nwarm; i++) {
        const struct node_sessions_warm *w = &t->warm[i];
        json_array_append_new(
            arr, json_pack("{s:i, s:i, s:o, s:I, s:f, s:s, s:s}", "worker_pid", (int)w->pid,
                           "device_index", (int)w->device, "device",
                           v && w->device < v->ndev ? json_string(v->dev[w->device].uuid)
                                                    : json_null(),
                           "memory_bytes", (json_int_t)w->memory_bytes, "started_unix",
                           w->started_unix, "state", w->ready ? "warm" : "starting",
                           "charged_to", "node"));
    }
    return arr;
}

int node_sessions_list(struct node_sessions *t, struct node_vgpus *v, json_t **reply)
{
    json_t *arr = json_array();
    uint64_t mono = clock_ns(CLOCK_MONOTONIC);
    double unix_now = (double)clock_ns(CLOCK_REALTIME) / 1e9;
    pthread_mutex_lock(&t->lock);
    for (int i = 0; t->table && i < t->cap; i++)
        if (node_session_listed(&t->table[i]))
            json_array_append_new(arr, describe(&t->table[i], v, mono, unix_now));
    json_t *warm = describe_warm(t, v);
    pthread_mutex_unlock(&t->lock);
    *reply = json_pack("{s:o, s:o}", "sessions", arr, "warm", warm);
    return 200;
}

int node_sessions_get(struct node_sessions *t, struct node_vgpus *v, const char *id,
                      json_t **reply)
{
    char *end;
    long pid = strtol(id, &end, 10);
    *reply = NULL;
    if (*id && !*end && pid > 0) {
        uint64_t mono = clock_ns(CLOCK_MONOTONIC);
        double unix_now = (double)clock_ns(CLOCK_REALTIME) / 1e9;
        pthread_mutex_lock(&t->lock);
        for (int i = 0; t->table && i < t->cap && !*reply; i++) {
            struct tfw_stats *e = &t->table[i];
            if (node_session_listed(e) && atomic_load(&e->worker_pid) == pid)
                *reply = describe(e, v, mono, unix_now);
        }
        pthread_mutex_unlock(&t->lock);
    }
    if (*reply)
        return 200;
    char msg[200];
    snprintf(msg, sizeof msg, "no session '%.80s'", id);
    *reply = json_pack("{s:s, s:s}", "error", "not_found", "message", msg);
    return 404;
}
