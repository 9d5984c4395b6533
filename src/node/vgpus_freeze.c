/*
 * Freeze and resume of vGPUs (see vgpus_freeze.h, docs/freeze.md). An operation resolves the
 * vGPU, writes the command into the entry of each of its sessions (under the table's lock),
 * then waits without any lock for every worker to answer (a worker runs it between two
 * requests, within 50 ms when idle), a worker that exits answering for itself. A freeze that
 * failed in some sessions is undone in the others, so a vGPU is frozen whole or not at all.
 *
 * Owns: the operations, the idle policy's thread, the freeze folder.
 * May call: vgpus_int.h, sessions.h, src/vgpu, src/common, jansson, libc.
 */
#include "vgpus_freeze.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "secret.h"
#include "stats.h"
#include "vgpus_freeze_int.h"
#include "vgpus_int.h"
#include "vgpus_migrate.h"


#define WAIT_MIN_NS (60ull * 1000000000ull)   /* a worker's answer, at the least */
#define WAIT_PER_GIB_NS (30ull * 1000000000ull) /* and per GiB it copies (a slow disk) */
#define IDLE_TICK_MS 500

uint64_t node_fz_mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t ld(_Atomic uint64_t *p) { return atomic_load_explicit(p, memory_order_relaxed); }


static int of_target(const struct tfw_stats *e, const struct node_fz_target *g)
{
    return node_session_listed(e) && e->device == g->dev && e->slot == g->slot &&
           e->vgpu_generation == g->gen;
}

/* The vGPU's sessions as the table shows them now; t->lock held. */
static void view_locked(struct node_freeze *f, const struct node_fz_target *g,
                        struct node_fz_view *o)
{
    memset(o, 0, sizeof *o);
    const struct node_sessions_fold *fold = &f->t->vgpu_fold[g->dev * VGPU_MAX_SLOTS + g->slot];
    if (fold->generation == g->gen) {
        o->freezes = fold->freezes;
        o->resumes = fold->resumes;
    }
    for (int i = 0; i < f->t->cap; i++) {
        struct tfw_stats *e = &f->t->table[i];
        if (!of_target(e, g))
            continue;
        o->sessions++;
        o->enabled += atomic_load(&e->fz.enabled) != 0;
        uint32_t fr = atomic_load(&e->fz.frozen);
        o->frozen += fr != 0;
        o->disk += fr == 2;
        o->frozen_bytes += ld(&e->fz.frozen_bytes);
        o->host_bytes += fr == 1 ? ld(&e->fz.frozen_bytes) : 0;
        o->freezable_bytes += ld(&e->fz.freezable_bytes);
        o->switched_bytes += ld(&e->fz.uncharged_bytes);
        o->freezes += ld(&e->fz.freezes);
        o->resumes += ld(&e->fz.resumes);
        o->resumes_by_call += ld(&e->fz.resumes_by_call);
        o->room_waiting += atomic_load(&e->fz.room_seq) != atomic_load(&e->fz.room_done) &&
                           ld(&e->fz.room_need);
        uint64_t t = ld(&e->last_call_ticks);
        uint64_t last = t ? tfw_stats_ticks_to_mono_ns(t) : e->started_mono_ns;
        if (last > o->last_call_ns)
            o->last_call_ns = last;
    }
}

void node_fz_view(struct node_freeze *f, const struct node_fz_target *g, struct node_fz_view *o)
{
    pthread_mutex_lock(&f->t->lock);
    view_locked(f, g, o);
    pthread_mutex_unlock(&f->t->lock);
}

static json_t *view_json(const struct node_fz_view *o)
{
    const char *state = !o->sessions || !o->frozen ? "running"
                      : o->frozen == o->sessions ? "frozen" : "partly_frozen";
    return json_pack("{s:s, s:b, s:i, s:i, s:s?, s:I, s:I, s:I, s:I, s:I, s:I}", "state", state,
                     "frozen", o->sessions && o->frozen == o->sessions, "sessions_frozen",
                     o->frozen, "sessions_freezable", o->enabled, "frozen_to",
                     !o->frozen ? NULL : o->disk ? "disk" : "host", "frozen_bytes",
                     (json_int_t)o->frozen_bytes, "host_bytes", (json_int_t)o->host_bytes,
                     "freezable_bytes", (json_int_t)o->freezable_bytes, "freezes_total",
                     (json_int_t)o->freezes, "resumes_total", (json_int_t)o->resumes,
                     "switched_bytes", (json_int_t)o->switched_bytes);
}

/* ---- setup ---- */

static void clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        char path[2048];
        if (len > 7 && strcmp(de->d_name + len - 7, ".frozen") == 0 &&
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name) < (int)sizeof path &&
            unlink(path) == 0)
            n++;
    }
    if (d)
        closedir(d);
    if (n)
        tf_warn("removed %d disk image(s) of frozen sessions a previous node left in %s: those "
                "sessions ended with it", n, dir);
}

int node_freeze_init(struct node_freeze *f, struct node_vgpus *v, struct node_sessions *t,
                     const char *to, int idle_s, const char *dir, char *err, size_t len)
{
    memset(f, 0, sizeof *f);
    f->v = v;
    f->t = t;
    f->idle_s = idle_s;
    pthread_mutex_init(&f->op, NULL);
    pthread_mutex_init(&f->count_lock, NULL);
    if (!to || strcmp(to, "off") == 0)
        f->to = idle_s ? TFW_FZ_CMD_FREEZE_HOST : 0;
    else if (strcmp(to, "host") == 0)
        f->to = TFW_FZ_CMD_FREEZE_HOST;
    else if (strcmp(to, "disk") == 0)
        f->to = TFW_FZ_CMD_FREEZE_DISK;
    else {
        snprintf(err, len, "--freeze-to must be off, host or disk, not '%s'", to);
        return -1;
    }
    if (!f->to)
        return 0;
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    if (mkdir(f->dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, len, "cannot make %s: %s", f->dir, strerror(errno));
        return -1;
    }
    clear_dir(f->dir);
    return 0;
}

int node_freeze_enabled(const struct node_freeze *f) { return f->to != 0; }

void node_freeze_reaped(struct node_freeze *f, pid_t pid)
{
    char path[1100];
    if (!f->to)
        return;
    snprintf(path, sizeof path, "%s/session-%d.frozen", f->dir, (int)pid);
    if (unlink(path) == 0)
        tf_warn("worker %d ended frozen: its disk image is removed", (int)pid);
}

/* ---- one operation ---- */

static int find_target(struct node_vgpus *v, const char *id, struct node_fz_target *g)
{
    pthread_mutex_lock(&v->lock);
    int slot = -1, dev = 0;
    for (; dev < v->ndev && slot < 0; dev++)
        slot = vgpu_find_id(v->regions[dev], id);
    if (slot >= 0) {
        g->dev = dev - 1;
        g->slot = slot;
        g->gen = vgpu_slot_at(v->regions[g->dev], slot)->generation;
        snprintf(g->id, sizeof g->id, "%s", id);
    }
    pthread_mutex_unlock(&v->lock);
    return slot >= 0 ? 0 : -1;
}

int node_fz_ask(struct node_freeze *f, const struct node_fz_target *g, uint32_t cmd,
                struct node_fz_asked *a, int cap)
{
    int n = 0;
    pthread_mutex_lock(&f->t->lock);
    for (int i = 0; i < f->t->cap && n < cap; i++) {
        struct tfw_stats *e = &f->t->table[i];
        if (!of_target(e, g) || !atomic_load(&e->fz.enabled))
            continue;
        atomic_store_explicit(&e->fz.cmd, cmd, memory_order_relaxed);
        uint32_t seq = atomic_load(&e->fz.seq) + 1;
        atomic_store_explicit(&e->fz.seq, seq, memory_order_release);
        a[n++] = (struct node_fz_asked){e, atomic_load(&e->worker_pid), seq, 0, 0};
    }
    pthread_mutex_unlock(&f->t->lock);
    return n;
}

int node_fz_session(struct node_freeze *f, struct tfw_stats *e, int32_t pid, uint32_t cmd,
                    uint64_t bytes, int32_t *result)
{
    struct node_fz_asked a = {e, pid, 0, 0, 0};
    pthread_mutex_lock(&f->t->lock);
    int live = node_session_listed(e) && atomic_load(&e->worker_pid) == pid &&
               atomic_load(&e->fz.enabled);
    if (live) {
        atomic_store_explicit(&e->fz.cmd, cmd, memory_order_relaxed);
        a.seq = atomic_load(&e->fz.seq) + 1;
        atomic_store_explicit(&e->fz.seq, a.seq, memory_order_release);
    }
    pthread_mutex_unlock(&f->t->lock);
    if (!live)
        return -1;
    if (node_fz_await(f, &a, 1, bytes))
        return -ETIMEDOUT;
    *result = a.result;
    return a.result == -1 ? -1 : 0;
}

int node_fz_await(struct node_freeze *f, struct node_fz_asked *a, int n, uint64_t bytes)
{
    uint64_t deadline = node_fz_mono_ns() + WAIT_MIN_NS + bytes / (1ull << 30) * WAIT_PER_GIB_NS;
    for (;;) {
        int left = 0;
        pthread_mutex_lock(&f->t->lock);
        for (int i = 0; i < n; i++) {
            struct node_fz_asked *x = &a[i];
            if (x->answered)
                continue;
            if (!node_session_listed(x->e) || atomic_load(&x->e->worker_pid) != x->pid) {
                x->answered = 1;   /* the session ended: it holds nothing any more */
                x->result = -1;
            } else if (atomic_load_explicit(&x->e->fz.done, memory_order_acquire) == x->seq) {
                x->answered = 1;
                x->result = atomic_load(&x->e->fz.result);
            } else {
                left++;
            }
        }
        pthread_mutex_unlock(&f->t->lock);
        if (!left || node_fz_mono_ns() >= deadline)
            return left;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

json_t *node_fz_answers_json(const struct node_fz_asked *a, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:i, s:s, s:i}", "worker_pid", a[i].pid,
                                             "outcome", !a[i].answered ? "no answer"
                                             : a[i].result == -1 ? "ended"
                                             : a[i].result ? "failed" : "done",
                                             "cuda_error", a[i].answered ? a[i].result : 0));
    return arr;
}

/* Runs cmd on g's sessions. 0 when all answered success (or ended); else the first failure,
 * with the answers in *arr. */
static int run_cmd(struct node_freeze *f, const struct node_fz_target *g, uint32_t cmd,
                   uint64_t bytes, json_t **arr, int *nsessions)
{
    struct node_fz_asked a[VGPU_MAX_PROCS];
    int n = node_fz_ask(f, g, cmd, a, VGPU_MAX_PROCS), failed = 0;
    int late = node_fz_await(f, a, n, bytes);
    for (int i = 0; i < n; i++)
        failed += a[i].answered && a[i].result > 0;
    *arr = node_fz_answers_json(a, n);
    *nsessions = n;
    return late ? -ETIMEDOUT : failed ? -EIO : 0;
}

int node_fz_operate(struct node_freeze *f, const struct node_fz_target *g, uint32_t cmd,
                    const char *why, json_t **reply)
{
    struct node_fz_view before, after;
    node_fz_view(f, g, &before);
    int resume = cmd == TFW_FZ_CMD_RESUME;
    if (!before.sessions)
        return node_vgpus_fail(reply, 409, "no_sessions", "vGPU %s has no sessions: nothing "
                               "to %s", g->id, resume ? "resume" : "freeze");
    if (!resume && before.frozen == before.sessions)
        return node_vgpus_fail(reply, 409, "already_frozen", "vGPU %s is frozen already",
                               g->id);
    if (resume && !before.frozen)
        return node_vgpus_fail(reply, 409, "not_frozen", "vGPU %s is not frozen", g->id);
    uint64_t t0 = node_fz_mono_ns();
    json_t *arr = NULL;
    int n = 0, rc = run_cmd(f, g, cmd, before.freezable_bytes, &arr, &n);
    double ms = (double)(node_fz_mono_ns() - t0) / 1e6;
    if (rc != 0 && !resume) {   /* frozen whole or not at all */
        json_t *undo = NULL;
        int m = 0;
        run_cmd(f, g, TFW_FZ_CMD_RESUME, before.freezable_bytes, &undo, &m);
        json_decref(undo);
    }
    node_fz_view(f, g, &after);
    const char *where = cmd == TFW_FZ_CMD_FREEZE_DISK ? "disk" : "host memory";
    if (rc != 0) {
        tf_error("vGPU %s not %s (%s): %s", g->id, resume ? "resumed" : "frozen", why,
                 rc == -ETIMEDOUT ? "a session did not answer in time" : "a session failed");
        node_vgpus_fail(reply, rc == -ETIMEDOUT ? 504 : 500,
                        rc == -ETIMEDOUT ? "timeout" : "failed",
                        "vGPU %s was not %s: %s (see the node's log)%s", g->id,
                        resume ? "resumed" : "frozen", rc == -ETIMEDOUT
                        ? "a session did not answer" : "a session failed",
                        resume ? "" : "; the others were resumed");
        json_object_set_new(*reply, "sessions", arr);
        return rc == -ETIMEDOUT ? 504 : 500;
    }
    if (resume)
        tf_info("vGPU %s resumed (%s): %d session(s), %llu bytes back on device %d in %.1f ms",
                g->id, why, n, (unsigned long long)before.frozen_bytes, g->dev, ms);
    else
        tf_info("vGPU %s frozen to %s (%s): %d session(s), %llu bytes off device %d in %.1f ms",
                g->id, where, why, n, (unsigned long long)after.frozen_bytes, g->dev, ms);
    *reply = json_pack("{s:s, s:o, s:o, s:f}", "id", g->id, "freeze", view_json(&after),
                       "sessions", arr, "took_ms", ms);
    return 200;
}

int node_freeze_request(struct node_freeze *f, const char *id, int resume, json_t *body,
                        json_t **reply)
{
    struct node_fz_target g;
    if (find_target(f->v, id, &g) != 0)
        return node_vgpus_fail(reply, 404, "not_found", "no live vGPU named '%s'", id);
    if (!f->to)
        return node_vgpus_fail(reply, 409, "freeze_off", "this node allocates device memory "
                               "so that it cannot be frozen: start it with --freeze-to host or "
                               "--freeze-to disk");
    uint32_t cmd = resume ? TFW_FZ_CMD_RESUME : (uint32_t)f->to;
    json_t *to = body ? json_object_get(body, "to") : NULL;
    if (body && (!json_is_object(body) || json_object_size(body) > (to ? 1u : 0u)))
        return node_vgpus_fail(reply, 400, "bad_request", "the body may only be "
                               "{\"to\": \"host\"} or {\"to\": \"disk\"}");
    if (to && (resume || !json_is_string(to)))
        return node_vgpus_fail(reply, 400, "bad_request",
                               "\"to\" (freeze only) is \"host\" or \"disk\"");
    if (to && strcmp(json_string_value(to), "host") == 0)
        cmd = TFW_FZ_CMD_FREEZE_HOST;
    else if (to && strcmp(json_string_value(to), "disk") == 0)
        cmd = TFW_FZ_CMD_FREEZE_DISK;
    else if (to)
        return node_vgpus_fail(reply, 400, "bad_request",
                               "\"to\" is \"host\" or \"disk\", not '%.32s'",
                               json_string_value(to));
    pthread_mutex_lock(&f->op);
    int status = node_fz_operate(f, &g, cmd, "asked through the API", reply);
    pthread_mutex_unlock(&f->op);
    return status;
}

int node_freeze_tenant_token(struct node_freeze *f, const char *id, const char *token)
{
    if (!token || !*token)
        return 0;
    int mine = 0, other = 0;
    pthread_mutex_lock(&f->v->lock);
    for (int d = 0; d < f->v->ndev; d++) {
        int s = vgpu_find_token(f->v->regions[d], token);
        struct vgpu_slot *vs = s >= 0 ? vgpu_slot_at(f->v->regions[d], s) : NULL;
        if (vs && strcmp(vs->id, id) == 0)
            mine = 1;
        else if (vs)
            other = 1;
    }
    pthread_mutex_unlock(&f->v->lock);
    return mine ? 1 : other ? -1 : 0;
}

/* ---- views ---- */

void node_freeze_describe(struct node_freeze *f, json_t *vgpu)
{
    const char *id = json_string_value(json_object_get(vgpu, "id"));
    uint64_t gen = (uint64_t)json_integer_value(json_object_get(vgpu, "generation"));
    struct node_fz_target g;
    if (!f || !f->v || !id || find_target(f->v, id, &g) != 0 || g.gen != gen)
        return;
    struct node_fz_view o;
    node_fz_view(f, &g, &o);
    json_object_set_new(vgpu, "freeze", view_json(&o));
}

/* Every live vGPU (at most cap); v->lock taken. */
int node_fz_targets(struct node_vgpus *v, struct node_fz_target *out, int cap)
{
    int n = 0;
    pthread_mutex_lock(&v->lock);
    for (int d = 0; d < v->ndev; d++)
        for (int s = 0; s < VGPU_MAX_SLOTS && n < cap; s++) {
            struct vgpu_slot *vs = vgpu_slot_at(v->regions[d], s);
            if (!vs || atomic_load(&vs->state) != VGPU_SLOT_LIVE)
                continue;
            out[n] = (struct node_fz_target){.dev = d, .slot = s, .gen = vs->generation};
            snprintf(out[n++].id, sizeof out->id, "%s", vs->id);
        }
    pthread_mutex_unlock(&v->lock);
    return n;
}

char *node_freeze_metrics(struct node_freeze *f)
{
    static const char *const fam[][3] = {
        {"tfuse_vgpu_frozen", "gauge", "1 while every session of the vGPU is frozen."},
        {"tfuse_vgpu_frozen_bytes", "gauge", "Device bytes the vGPU's frozen sessions gave "
         "back, held in host memory or on disk."},
        {"tfuse_vgpu_frozen_host_bytes", "gauge", "Of them, bytes held in host memory."},
        {"tfuse_vgpu_freezes_total", "counter", "Freezes of the vGPU's sessions."},
        {"tfuse_vgpu_resumes_total", "counter", "Resumes of the vGPU's sessions (asked, or "
         "made by a call of a frozen session)."},
    };
    enum { CAP = NODE_MAX_DEVICES * VGPU_MAX_SLOTS };
    struct node_fz_target *g = malloc(CAP * sizeof *g);
    struct node_fz_view *o = malloc(CAP * sizeof *o);
    char *text = NULL;
    size_t len = 0;
    FILE *m = g && o ? open_memstream(&text, &len) : NULL;
    int n = m ? node_fz_targets(f->v, g, CAP) : 0;
    for (int k = 0; k < n; k++)
        node_fz_view(f, &g[k], &o[k]);
    if (m)
        node_oversub_metrics(f, m, g, n);
    if (m)
        node_migrate_metrics(f, m, g, n);
    if (m)
        node_switch_metrics(f, m, g, n);
    for (size_t i = 0; m && i < sizeof fam / sizeof *fam; i++) {
        fprintf(m, "# HELP %s %s\n# TYPE %s %s\n", fam[i][0], fam[i][2], fam[i][0], fam[i][1]);
        for (int k = 0; k < n; k++) {
            uint64_t val = i == 0 ? (uint64_t)(o[k].sessions && o[k].frozen == o[k].sessions)
                         : i == 1 ? o[k].frozen_bytes : i == 2 ? o[k].host_bytes
                         : i == 3 ? o[k].freezes : o[k].resumes;
            fprintf(m, "%s{vgpu=\"%s\",device=\"%s\"} %llu\n", fam[i][0], g[k].id,
                    f->v->dev[g[k].dev].uuid, (unsigned long long)val);
        }
    }
    if (m && fclose(m) != 0) {
        free(text);
        text = NULL;
    }
    free(g);
    free(o);
    return text;
}

/* ---- the idle policy ---- */

/* Frozen now: every session freezable, none frozen, none called for idle_s seconds. */
static int idle_enough(struct node_freeze *f, const struct node_fz_target *g, uint64_t now)
{
    struct node_fz_view o;
    node_fz_view(f, g, &o);
    return o.sessions && o.enabled == o.sessions && !o.frozen && now > o.last_call_ns &&
           now - o.last_call_ns >= (uint64_t)f->idle_s * 1000000000ull &&
           now >= f->retry_ns[g->dev][g->slot];
}

static void idle_pass(struct node_freeze *f, struct node_fz_target *g, int n)
{
    for (int k = 0; k < n && !atomic_load(&f->stop); k++) {
        if (!idle_enough(f, &g[k], node_fz_mono_ns()))
            continue;
        char why[64];
        snprintf(why, sizeof why, "idle for %d s", f->idle_s);
        json_t *reply = NULL;
        pthread_mutex_lock(&f->op);
        int status = idle_enough(f, &g[k], node_fz_mono_ns())
                   ? node_fz_operate(f, &g[k], (uint32_t)f->to, why, &reply) : 200;
        pthread_mutex_unlock(&f->op);
        if (status != 200)   /* tried again after another idle period, not at every tick */
            f->retry_ns[g[k].dev][g[k].slot] =
                node_fz_mono_ns() + (uint64_t)f->idle_s * 1000000000ull;
        json_decref(reply);
    }
}

static void *idle_main(void *arg)
{
    struct node_freeze *f = arg;
    enum { CAP = NODE_MAX_DEVICES * VGPU_MAX_SLOTS };
    struct node_fz_target *g = malloc(CAP * sizeof *g);
    while (g && !atomic_load(&f->stop)) {
        idle_pass(f, g, node_fz_targets(f->v, g, CAP));
        for (int i = 0; i < IDLE_TICK_MS / 50 && !atomic_load(&f->stop); i++) {
            struct timespec ts = {0, 50000000};
            nanosleep(&ts, NULL);
        }
    }
    free(g);
    return NULL;
}

int node_freeze_start(struct node_freeze *f)
{
    if (node_oversub_start(f) != 0)
        return -1;
    if (!f->to || !f->idle_s)
        return 0;
    f->running = pthread_create(&f->thread, NULL, idle_main, f) == 0;
    return f->running ? 0 : -1;
}

void node_freeze_stop(struct node_freeze *f)
{
    node_oversub_stop(f);
    if (f->running) {
        atomic_store(&f->stop, 1);
        pthread_join(f->thread, NULL);
        f->running = 0;
    }
    if (f->dir[0])
        rmdir(f->dir);   /* when empty: the workers, and their images, are gone */
}
