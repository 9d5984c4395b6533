/*
 * Recommendations, workload modes and auto mode (issue 14, docs/autoscale.md). Each workload
 * is off, recommend (the default: recommendations shown, nothing changed) or auto: a pass
 * (every autoscale_period_s, or on demand) resizes the workload's allocations through the
 * pool's live resize (pool_svc_resize) to the recommender's target when their limits left the
 * recommended bounds, never below the memory the vGPU uses now, never twice within the
 * cool-down, and records every change and every mode change (who, when, from, to, why) in the
 * events table. Modes, events and the history live in the store: they survive a restart.
 *
 * Owns: the workload_modes and autoscale_events rows, the pass and its thread, the
 * recommendation metrics. May call: pool_recommend, the history source, pool_svc_resize, the
 * store's connection (sqlite3), pool_usage.c's internals, jansson, pthreads, libc.
 */
#include "pool_auto_int.h"
#include "pool_svc_int.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define MIB (1024.0 * 1024.0)
#define HISTORY_MS (90ll * 24 * 3600 * 1000)   /* what a recommendation reads back */
#define EVENTS_MAX 1000                        /* the most one GET /events answers */

static const char *const mode_names[POOL_MODE_COUNT] = {"off", "recommend", "auto"};

const char *pool_mode_name(enum pool_wl_mode m)
{
    return (unsigned)m < POOL_MODE_COUNT ? mode_names[m] : "recommend";
}

int pool_mode_parse(const char *s)
{
    for (int i = 0; i < POOL_MODE_COUNT; i++)
        if (strcmp(s, mode_names[i]) == 0)
            return i;
    return -1;
}

/* A tenant's workloads are "<tenant>/..."; the admin (owner NULL) sees them all. */
static bool owns(const char *owner, const char *workload)
{
    size_t n = owner ? strlen(owner) : 0;
    return !owner || (strncmp(workload, owner, n) == 0 && workload[n] == '/');
}

static bool valid_workload(const char *w)
{
    const char *slash = strchr(w, '/');
    char tenant[POOL_NAME_MAX];
    if (!slash || (size_t)(slash - w) >= sizeof tenant || strlen(w) >= POOL_WORKLOAD_MAX)
        return false;
    snprintf(tenant, sizeof tenant, "%.*s", (int)(slash - w), w);
    return pool_valid_name(tenant, POOL_NAME_MAX) && pool_valid_name(slash + 1, POOL_NAME_MAX);
}

static sqlite3_stmt *prepare(struct pool_svc *svc, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(pool_store_db(svc->store), sql, -1, &s, NULL) != SQLITE_OK)
        tf_warn("pool: autoscale: %s", sqlite3_errmsg(pool_store_db(svc->store)));
    return s;
}

/* Lock held: the workload's mode and bounds (recommend and none when it has no row). */
static struct pool_mode_req mode_locked(struct pool_svc *svc, const char *workload)
{
    struct pool_mode_req m = {.mode = POOL_MODE_RECOMMEND};
    sqlite3_stmt *s = prepare(svc, "SELECT mode,min_vram,max_vram FROM workload_modes "
                                   "WHERE workload=?1");
    if (!s)
        return m;
    sqlite3_bind_text(s, 1, workload, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) == SQLITE_ROW) {
        int k = pool_mode_parse((const char *)sqlite3_column_text(s, 0));
        m.mode = k < 0 ? POOL_MODE_RECOMMEND : (enum pool_wl_mode)k;
        m.min_vram = (uint64_t)sqlite3_column_int64(s, 1);
        m.max_vram = (uint64_t)sqlite3_column_int64(s, 2);
    }
    sqlite3_finalize(s);
    return m;
}

/* Lock held, inside a transaction. */
static int add_event(struct pool_svc *svc, int64_t t, const char *workload, const char *alloc,
                     const char *who, const char *action, json_t *from, json_t *to,
                     const char *why)
{
    sqlite3_stmt *s = prepare(svc, "INSERT INTO autoscale_events(t_ms,workload,alloc_id,who,"
                                   "action,from_state,to_state,why) "
                                   "VALUES(?1,?2,?3,?4,?5,?6,?7,?8)");
    char *f = json_dumps(from, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char *o = json_dumps(to, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    int rc = -1;
    if (s && f && o) {
        sqlite3_bind_int64(s, 1, t);
        sqlite3_bind_text(s, 2, workload, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, alloc, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 4, who, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 5, action, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 6, f, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 7, o, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 8, why, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(s);
    free(f);
    free(o);
    return rc;
}

static json_t *mode_json(const struct pool_mode_req *m)
{
    json_t *o = json_pack("{s:s}", "mode", pool_mode_name(m->mode));
    if (o && m->min_vram)
        json_object_set_new(o, "min_vram", json_integer((json_int_t)m->min_vram));
    if (o && m->max_vram)
        json_object_set_new(o, "max_vram", json_integer((json_int_t)m->max_vram));
    return o;
}

int pool_svc_set_mode(struct pool_svc *svc, const char *workload, const char *owner,
                      const struct pool_mode_req *m, const char *who, struct pool_error *e)
{
    if (!valid_workload(workload) || !owns(owner, workload)) {
        pool_fail(e, owner && valid_workload(workload) ? 404 : 400, POOL_FAIL_INVALID,
                  owner && valid_workload(workload) ? "no workload %s"
                                                    : "a workload is <tenant>/<name>: %s",
                  workload);
        return -1;
    }
    pthread_mutex_lock(&svc->lock);
    int64_t now = pool_svc_now_ms(svc);
    struct pool_mode_req old = mode_locked(svc, workload);
    json_t *from = mode_json(&old), *to = mode_json(m);
    sqlite3_stmt *s = NULL;
    int rc = pool_store_begin(svc->store);
    if (rc == 0 && (s = prepare(svc, "INSERT OR REPLACE INTO workload_modes(workload,mode,"
                                     "min_vram,max_vram,updated_ms,updated_by) "
                                     "VALUES(?1,?2,?3,?4,?5,?6)"))) {
        sqlite3_bind_text(s, 1, workload, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, pool_mode_name(m->mode), -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, (int64_t)m->min_vram);
        sqlite3_bind_int64(s, 4, (int64_t)m->max_vram);
        sqlite3_bind_int64(s, 5, now);
        sqlite3_bind_text(s, 6, who, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    } else {
        rc = -1;
    }
    sqlite3_finalize(s);
    if (rc == 0)
        rc = add_event(svc, now, workload, "", who, "mode", from, to, "mode set");
    if (rc || pool_store_commit(svc->store)) {
        pool_store_rollback(svc->store);
        pool_fail(e, 500, POOL_FAIL_STORE, "store: %s",
                  sqlite3_errmsg(pool_store_db(svc->store)));
        rc = -1;
    }
    pthread_mutex_unlock(&svc->lock);
    json_decref(from);
    json_decref(to);
    if (rc == 0)
        tf_info("pool: workload %s: mode %s (by %s)", workload, pool_mode_name(m->mode), who);
    return rc;
}

/* ---- which workloads there are -------------------------------------------------------- */

struct names {
    struct pool_map set;
    const char *owner;
};

static void add_alloc_workload(const char *key, void *value, void *arg)
{
    (void)key;
    struct names *n = arg;
    const struct pool_alloc *a = value;
    if (a->status == POOL_ALLOC_ACTIVE && a->workload[0] && owns(n->owner, a->workload))
        pool_map_put(&n->set, a->workload, (void *)1);
}

static void to_array(const char *key, void *value, void *arg)
{
    (void)value;
    json_array_append_new(arg, json_string(key));
}

static int by_name(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* Lock held: every workload with a mode, a sample or an active allocation, sorted. */
static json_t *workloads_locked(struct pool_svc *svc, const char *owner)
{
    struct names n = {.owner = owner};
    pool_map_init(&n.set);
    pool_map_each(&svc->allocs, add_alloc_workload, &n);
    sqlite3_stmt *s = prepare(svc, "SELECT workload FROM workload_modes UNION "
                                   "SELECT DISTINCT workload FROM usage_samples");
    while (s && sqlite3_step(s) == SQLITE_ROW) {
        const char *w = (const char *)sqlite3_column_text(s, 0);
        if (w && owns(owner, w))
            pool_map_put(&n.set, w, (void *)1);
    }
    sqlite3_finalize(s);
    json_t *arr = json_array();
    pool_map_each(&n.set, to_array, arr);
    pool_map_free(&n.set);
    size_t k = json_array_size(arr);
    json_t **items = malloc((k + 1) * sizeof *items);
    for (size_t i = 0; items && i < k; i++)
        items[i] = json_incref(json_array_get(arr, i));
    if (items) {
        qsort(items, k, sizeof *items, by_name);
        json_array_clear(arr);
        for (size_t i = 0; i < k; i++)
            json_array_append_new(arr, items[i]);
    }
    free(items);
    return arr;
}

/* ---- recommendations ------------------------------------------------------------------ */

/* Recommends for workload from its history (no lock held; the pass lock serialises the
 * source). */
static int recommend(struct pool_svc *svc, const char *workload, const struct pool_mode_req *m,
                     int64_t now, struct pool_reco *r, struct pool_usage_sample **hs,
                     size_t *hn)
{
    *hs = NULL;
    *hn = 0;
    struct pool_reco_params p = svc->autos->reco;
    if (m->min_vram > p.mem_min)
        p.mem_min = m->min_vram;
    if (m->max_vram && (!p.mem_max || m->max_vram < p.mem_max))
        p.mem_max = m->max_vram;
    if (p.mem_max && p.mem_min > p.mem_max)
        p.mem_min = p.mem_max;
    struct pool_usage_sample *s = NULL;
    size_t n = 0;
    char err[256] = "";
    struct pool_usage_source *src = &svc->autos->history;
    if (src->query(src->ctx, workload, now - HISTORY_MS, now + 1, &s, &n, err, sizeof err)) {
        memset(r, 0, sizeof *r);
        snprintf(r->why, sizeof r->why, "history unavailable: %.200s", err);
        return -1;
    }
    int rc = pool_recommend(s, n, now, &p, r);
    *hs = s;   /* auto mode's working target reads the recent part */
    *hn = n;
    return rc;
}

/* An allocation of a workload as the pass sees it (copied under the lock). */
struct alloc_view {
    char id[POOL_UUID_MAX];
    uint64_t vram_limit, used;
    bool used_known;
    double compute_limit;       /* share of the device; < 0: unknown (no rating) */
    int64_t last_change_ms;     /* INT64_MIN: never changed by auto mode */
    uint64_t refused_bytes;     /* the largest allocation refused since then (0: none) */
};

static int64_t last_change_locked(struct pool_svc *svc, const char *id)
{
    int64_t t = INT64_MIN;
    sqlite3_stmt *s = prepare(svc, "SELECT MAX(t_ms) FROM autoscale_events WHERE alloc_id=?1 "
                                   "AND action='resize'");
    if (!s)
        return t;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        t = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return t;
}

struct collect {
    struct pool_svc *svc;
    const char *workload;
    struct alloc_view *v;
    size_t n, cap;
};

static void collect_alloc(const char *key, void *value, void *arg)
{
    (void)key;
    struct collect *c = arg;
    const struct pool_alloc *a = value;
    if (a->status != POOL_ALLOC_ACTIVE || strcmp(a->workload, c->workload) != 0 || c->n == c->cap)
        return;
    struct alloc_view *v = &c->v[c->n++];
    memset(v, 0, sizeof *v);
    snprintf(v->id, sizeof v->id, "%s", a->id);
    struct pool_node *n = pool_inv_node(&c->svc->inv, a->node);
    const struct pool_device *d = n ? pool_node_device(n, a->dev[0].uuid) : NULL;
    v->compute_limit = d && d->tflops > 0 ? a->dev[0].tflops_limit / d->tflops : -1;
    v->used_known = a->ndev > 0;
    v->last_change_ms = last_change_locked(c->svc, a->id);
    for (int i = 0; i < a->ndev; i++) {
        uint64_t r = pool_usage_refused_locked(c->svc, a->id, i, v->last_change_ms);
        if (r > v->refused_bytes)
            v->refused_bytes = r;
        uint64_t u = 0;
        if (a->dev[i].vram_limit > v->vram_limit)
            v->vram_limit = a->dev[i].vram_limit;
        v->used_known = v->used_known && pool_usage_current_locked(c->svc, a->id, i, &u);
        if (u > v->used)
            v->used = u;
    }
}

/* Lock held: the workload's active allocations (malloc'd, *n of them). */
static struct alloc_view *allocs_of_locked(struct pool_svc *svc, const char *workload, size_t *n)
{
    struct collect c = {svc, workload, NULL, 0, svc->allocs.count};
    c.v = calloc(c.cap + 1, sizeof *c.v);
    if (c.v)
        pool_map_each(&svc->allocs, collect_alloc, &c);
    *n = c.n;
    return c.v;
}

static json_t *bounds_json(struct pool_reco *r, bool mem)
{
    if (mem)
        return json_pack("{s:I, s:I, s:I}", "target", (json_int_t)r->mem_target, "lower",
                         (json_int_t)r->mem_lower, "upper", (json_int_t)r->mem_upper);
    return json_pack("{s:f, s:f, s:f}", "target", r->compute_target, "lower", r->compute_lower,
                     "upper", r->compute_upper);
}

static json_t *alloc_view_json(const struct alloc_view *v, int64_t cooldown_ms)
{
    json_t *o = json_pack("{s:s, s:I}", "id", v->id, "vram_limit", (json_int_t)v->vram_limit);
    if (o && v->compute_limit >= 0)
        json_object_set_new(o, "compute_limit", json_real(v->compute_limit));
    if (o && v->used_known)
        json_object_set_new(o, "mem_used", json_integer((json_int_t)v->used));
    if (o && v->last_change_ms != INT64_MIN) {
        json_object_set_new(o, "last_change_ms", json_integer(v->last_change_ms));
        json_object_set_new(o, "next_change_ms", json_integer(v->last_change_ms + cooldown_ms));
    }
    return o;
}

static json_t *reco_json(const char *w, const struct pool_mode_req *m, int rc,
                         struct pool_reco *r, const struct alloc_view *v, size_t nv,
                         int64_t cooldown_ms)
{
    const char *slash = strchr(w, '/');
    json_t *o = json_pack("{s:s, s:s#, s:s, s:I, s:s}", "workload", w, "tenant", w,
                          (int)(slash - w), "mode", pool_mode_name(m->mode), "samples",
                          (json_int_t)r->samples, "why", r->why);
    if (!o)
        return NULL;
    if (rc == 0) {
        json_object_set_new(o, "memory", bounds_json(r, true));
        json_object_set_new(o, "compute", bounds_json(r, false));
    }
    if (m->min_vram)
        json_object_set_new(o, "min_vram", json_integer((json_int_t)m->min_vram));
    if (m->max_vram)
        json_object_set_new(o, "max_vram", json_integer((json_int_t)m->max_vram));
    json_t *arr = json_array();
    for (size_t i = 0; i < nv; i++)
        json_array_append_new(arr, alloc_view_json(&v[i], cooldown_ms));
    json_object_set_new(o, "allocations", arr);
    return o;
}

/* The recommendation of one workload with its allocations; pass lock held. */
static json_t *workload_entry(struct pool_svc *svc, const char *w, int64_t now,
                              struct pool_reco *r, int *rc, struct alloc_view **v, size_t *nv,
                              struct pool_mode_req *m, struct pool_usage_sample **hs,
                              size_t *hn)
{
    struct pool_usage_sample *own = NULL;
    size_t own_n = 0;
    pthread_mutex_lock(&svc->lock);
    *m = mode_locked(svc, w);
    pthread_mutex_unlock(&svc->lock);
    *rc = recommend(svc, w, m, now, r, hs ? hs : &own, hn ? hn : &own_n);
    free(own);
    pthread_mutex_lock(&svc->lock);
    *v = allocs_of_locked(svc, w, nv);
    pthread_mutex_unlock(&svc->lock);
    return reco_json(w, m, *rc, r, *v, *nv, (int64_t)(svc->cfg.cooldown_s * 1000));
}

json_t *pool_svc_recommendations_json(struct pool_svc *svc, const char *owner)
{
    pthread_mutex_lock(&svc->autos->pass_lock);
    pthread_mutex_lock(&svc->lock);
    json_t *names = workloads_locked(svc, owner);
    pthread_mutex_unlock(&svc->lock);
    int64_t now = pool_svc_now_ms(svc);
    json_t *out = json_array(), *name;
    size_t i;
    json_array_foreach(names, i, name) {
        struct pool_reco r;
        struct pool_mode_req m;
        struct alloc_view *v;
        size_t nv;
        int rc;
        json_array_append_new(out, workload_entry(svc, json_string_value(name), now, &r, &rc,
                                                  &v, &nv, &m, NULL, NULL));
        free(v);
    }
    pthread_mutex_unlock(&svc->autos->pass_lock);
    json_decref(names);
    return json_pack("{s:o, s:I}", "recommendations", out, "now_ms", (json_int_t)now);
}

json_t *pool_svc_workload_json(struct pool_svc *svc, const char *workload, const char *owner)
{
    if (!valid_workload(workload) || !owns(owner, workload))
        return NULL;
    pthread_mutex_lock(&svc->autos->pass_lock);
    struct pool_reco r;
    struct pool_mode_req m;
    struct alloc_view *v;
    size_t nv;
    int rc;
    json_t *o = workload_entry(svc, workload, pool_svc_now_ms(svc), &r, &rc, &v, &nv, &m, NULL,
                               NULL);
    pthread_mutex_unlock(&svc->autos->pass_lock);
    free(v);
    return o;
}

/* ---- events --------------------------------------------------------------------------- */

static json_t *event_row(sqlite3_stmt *s)
{
    json_t *from = json_loads((const char *)sqlite3_column_text(s, 6), JSON_DECODE_ANY, NULL);
    json_t *to = json_loads((const char *)sqlite3_column_text(s, 7), JSON_DECODE_ANY, NULL);
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:s}", "id",
                     (json_int_t)sqlite3_column_int64(s, 0), "t_ms",
                     (json_int_t)sqlite3_column_int64(s, 1), "workload",
                     (const char *)sqlite3_column_text(s, 2), "allocation",
                     (const char *)sqlite3_column_text(s, 3), "who",
                     (const char *)sqlite3_column_text(s, 4), "action",
                     (const char *)sqlite3_column_text(s, 5), "from",
                     from ? from : json_null(), "to", to ? to : json_null(), "why",
                     (const char *)sqlite3_column_text(s, 8));
}

json_t *pool_svc_events_json(struct pool_svc *svc, const char *owner, const char *workload,
                             int limit)
{
    if (limit <= 0 || limit > EVENTS_MAX)
        limit = EVENTS_MAX;
    json_t *arr = json_array();
    pthread_mutex_lock(&svc->lock);
    /* Newest first; a tenant's own: the workload starts with "<tenant>/". */
    sqlite3_stmt *s = prepare(svc, "SELECT id,t_ms,workload,alloc_id,who,action,from_state,"
                                   "to_state,why FROM autoscale_events WHERE (?1 IS NULL OR "
                                   "substr(workload,1,length(?1)+1) = ?1 || '/') AND (?2 IS "
                                   "NULL OR workload = ?2) ORDER BY id DESC LIMIT ?3");
    if (s) {
        sqlite3_bind_text(s, 1, owner, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, workload, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 3, limit);
        while (sqlite3_step(s) == SQLITE_ROW)
            json_array_append_new(arr, event_row(s));
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&svc->lock);
    return json_pack("{s:o}", "events", arr);
}

/* ---- auto mode ------------------------------------------------------------------------ */

static json_t *limits_json(uint64_t vram, double compute)
{
    json_t *o = json_pack("{s:I}", "vram_limit", (json_int_t)vram);
    if (o && compute >= 0)
        json_object_set_new(o, "compute_limit", json_real(compute));
    return o;
}

/* The most memory a workload may get: its own maximum inside the pool's (0: none). */
static uint64_t workload_max(struct pool_svc *svc, const struct pool_mode_req *m)
{
    uint64_t pool_max = svc->autos->reco.mem_max;
    if (m->max_vram && (!pool_max || m->max_vram < pool_max))
        return m->max_vram;
    return pool_max;
}

/* Applies p to allocation v through the pool's live resize and records the event. */
static json_t *apply(struct pool_svc *svc, const char *w, const struct alloc_view *v,
                     uint64_t mem, double compute, const char *why)
{
    struct pool_resize_req rq = {.qos = -1};
    if (mem)
        rq.vram_request = rq.vram_limit = mem;
    if (compute >= 0)
        rq.compute_request_pct = rq.compute_limit_pct = fmin(100, fmax(compute * 100, 0.01));
    json_t *out = NULL;
    struct pool_error e = {0};
    int rc = pool_svc_resize(svc, v->id, NULL, &rq, &out, &e);
    json_decref(out);
    json_t *from = limits_json(v->vram_limit, v->compute_limit);
    json_t *to = limits_json(mem ? mem : v->vram_limit,
                             compute >= 0 ? rq.compute_limit_pct / 100 : v->compute_limit);
    char reason[512];
    if (snprintf(reason, sizeof reason, "%s%s%s", why, rc < 0 ? "; refused: " : "",
                 rc < 0 ? e.message : "") >= (int)sizeof reason)
        memcpy(reason + sizeof reason - 4, "...", 4);   /* the event keeps what fits */
    pthread_mutex_lock(&svc->lock);
    int64_t now = pool_svc_now_ms(svc);
    const char *action = rc < 0 ? "resize_failed" : "resize";
    if (pool_store_begin(svc->store) ||
        add_event(svc, now, w, v->id, "autoscaler", action, from, to, reason) ||
        pool_store_commit(svc->store)) {
        pool_store_rollback(svc->store);
        tf_error("pool: autoscale: the event of %s was not stored", v->id);
    }
    if (rc < 0)
        svc->autos->resize_failures++;
    else
        svc->autos->resizes++;
    pthread_mutex_unlock(&svc->lock);
    tf_info("pool: autoscale: %s %s: %s", action, v->id, reason);
    json_t *ev = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:I}", "workload", w, "allocation",
                           v->id, "action", action, "from", from, "to", to, "why", reason,
                           "t_ms", (json_int_t)now);
    return ev;
}

/* The workload's history (hs, hn) feeds each allocation's working target. */
struct wl_history {
    const struct pool_usage_sample *s;
    size_t n;
};

static void auto_workload(struct pool_svc *svc, const char *w, const struct pool_reco *r,
                          const struct pool_mode_req *m, const struct alloc_view *v, size_t nv,
                          int64_t now, struct wl_history h, json_t *changes)
{
    const struct pool_config *c = &svc->cfg;
    struct pool_auto_policy pol;
    pool_auto_policy_default(&pol);
    pol.cooldown_ms = (int64_t)(c->cooldown_s * 1000);
    pol.grow_cooldown_ms = (int64_t)(c->grow_cooldown_s * 1000);
    pol.mem_headroom = svc->autos->reco.mem_margin;
    pol.mem_max = workload_max(svc, m);
    pol.mem_min = m->min_vram > svc->autos->reco.mem_min ? m->min_vram : svc->autos->reco.mem_min;
    if (pol.mem_max && pol.mem_min > pol.mem_max)
        pol.mem_min = pol.mem_max;
    pol.window_ms = c->auto_window_s > 0 ? (int64_t)(c->auto_window_s * 1000) : 0;
    pol.lookahead_ms = c->auto_lookahead_s > 0 ? (int64_t)(c->auto_lookahead_s * 1000) : 0;
    for (size_t i = 0; i < nv; i++) {
        struct pool_auto_state st = {.mem_limit = v[i].vram_limit, .mem_used = v[i].used,
                                     .used_known = v[i].used_known,
                                     .compute_limit = v[i].compute_limit,
                                     .last_change_ms = v[i].last_change_ms};
        pool_auto_history(h.s, h.n, now, &pol, &st);
        st.refused_bytes = v[i].refused_bytes;
        struct pool_auto_decision d;
        if (pool_auto_decide(r, &pol, &st, now, &d))   /* cooling: the views say until */
            json_array_append_new(changes, apply(svc, w, &v[i], d.mem_limit, d.compute_limit,
                                                 d.why));
    }
}

json_t *pool_svc_autoscale(struct pool_svc *svc)
{
    pthread_mutex_lock(&svc->autos->pass_lock);
    int64_t now = pool_svc_now_ms(svc);
    pthread_mutex_lock(&svc->lock);
    pool_usage_sweep_locked(svc, now);
    pool_usage_compact_locked(svc, now, false);
    json_t *names = workloads_locked(svc, NULL);
    pthread_mutex_unlock(&svc->lock);
    json_t *changes = json_array(), *recos = json_array(), *name;
    size_t i;
    json_array_foreach(names, i, name) {
        const char *w = json_string_value(name);
        struct pool_reco r;
        struct pool_mode_req m;
        struct alloc_view *v;
        size_t nv;
        int rc;
        struct pool_usage_sample *hs;
        size_t hn;
        json_array_append_new(recos, workload_entry(svc, w, now, &r, &rc, &v, &nv, &m, &hs,
                                                    &hn));
        if (rc == 0 && m.mode == POOL_MODE_AUTO && v)
            auto_workload(svc, w, &r, &m, v, nv, now, (struct wl_history){hs, hn}, changes);
        free(hs);
        free(v);
    }
    pthread_mutex_lock(&svc->lock);
    json_decref(svc->autos->recos);
    svc->autos->recos = recos;
    pthread_mutex_unlock(&svc->lock);
    pthread_mutex_unlock(&svc->autos->pass_lock);
    json_decref(names);
    return json_pack("{s:o, s:I}", "changes", changes, "now_ms", (json_int_t)now);
}

/* ---- the background pass, open and close ---------------------------------------------- */

static void *auto_main(void *arg)
{
    struct pool_svc *svc = arg;
    struct pool_auto *au = svc->autos;
    int64_t last = pool_svc_now_ms(svc);
    pthread_mutex_lock(&au->stop_lock);
    while (!au->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;   /* a test clock moved forward is noticed within a second */
        pthread_cond_timedwait(&au->stop_cond, &au->stop_lock, &until);
        if (au->stop)
            break;
        pthread_mutex_unlock(&au->stop_lock);
        int64_t now = pool_svc_now_ms(svc);
        if (now - last >= (int64_t)(svc->cfg.autoscale_period_s * 1000)) {
            last = now;
            json_decref(pool_svc_autoscale(svc));
        }
        pthread_mutex_lock(&au->stop_lock);
    }
    pthread_mutex_unlock(&au->stop_lock);
    return NULL;
}

int pool_auto_start(struct pool_svc *svc)
{
    if (svc->cfg.autoscale_period_s <= 0)
        return 0;
    if (pthread_create(&svc->autos->thread, NULL, auto_main, svc) != 0)
        return -1;
    svc->autos->running = true;
    return 0;
}

void pool_auto_stop(struct pool_svc *svc)
{
    struct pool_auto *au = svc->autos;
    if (!au || !au->running)
        return;
    pthread_mutex_lock(&au->stop_lock);
    au->stop = true;
    pthread_cond_signal(&au->stop_cond);
    pthread_mutex_unlock(&au->stop_lock);
    pthread_join(au->thread, NULL);
    au->running = false;
}

int pool_auto_open(struct pool_svc *svc, char *err, size_t errlen)
{
    struct pool_auto *au = calloc(1, sizeof *au);
    if (!au) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct pool_config *c = &svc->cfg;
    if (c->usage_period_s <= 0)
        c->usage_period_s = 60;
    if (c->autoscale_period_s == 0)
        c->autoscale_period_s = 60;
    if (c->cooldown_s <= 0)
        c->cooldown_s = 900;
    if (c->grow_cooldown_s <= 0)
        c->grow_cooldown_s = 60;
    if (c->auto_window_s == 0)
        c->auto_window_s = 1800;
    if (c->auto_lookahead_s == 0)
        c->auto_lookahead_s = 900;
    if (c->reco)
        au->reco = *c->reco;
    else
        pool_reco_params_default(&au->reco);
    c->reco = NULL;   /* copied: the caller's may go away */
    pool_map_init(&au->accs);
    pthread_mutex_init(&au->pass_lock, NULL);
    pthread_mutex_init(&au->stop_lock, NULL);
    pthread_cond_init(&au->stop_cond, NULL);
    svc->autos = au;
    au->history = pool_svc_store_source(svc);
    return 0;
}

static void free_acc(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void pool_auto_close(struct pool_svc *svc)
{
    struct pool_auto *au = svc->autos;
    if (!au)
        return;
    pool_auto_stop(svc);
    if (au->history.close)
        au->history.close(au->history.ctx);
    pool_map_each(&au->accs, free_acc, NULL);
    pool_map_free(&au->accs);
    json_decref(au->recos);
    pthread_cond_destroy(&au->stop_cond);
    pthread_mutex_destroy(&au->stop_lock);
    pthread_mutex_destroy(&au->pass_lock);
    free(au);
    svc->autos = NULL;
}

/* ---- metrics -------------------------------------------------------------------------- */

static void reco_gauges(FILE *f, json_t *recos, const char *name, const char *key,
                        const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    json_t *o;
    size_t i;
    json_array_foreach(recos, i, o) {
        json_t *b = json_object_get(o, key);
        if (!b)
            continue;
        const char *w = json_string_value(json_object_get(o, "workload"));
        const char *t = json_string_value(json_object_get(o, "tenant"));
        static const char *const bound[] = {"target", "lower", "upper"};
        for (int k = 0; k < 3; k++)
            fprintf(f, "%s{workload=\"%s\",tenant=\"%s\",bound=\"%s\"} %.17g\n", name, w, t,
                    bound[k], json_number_value(json_object_get(b, bound[k])));
    }
}

void pool_auto_metrics_locked(struct pool_svc *svc, FILE *f)
{
    struct pool_auto *au = svc->autos;
    json_t *recos = au->recos, *o;
    size_t i;
    reco_gauges(f, recos, "tfuse_pool_recommendation_memory_bytes", "memory",
                "Recommended vGPU memory per workload (target, VPA-like lower and upper bound)");
    reco_gauges(f, recos, "tfuse_pool_recommendation_compute_share", "compute",
                "Recommended compute per workload, share of a device 0..1");
    fputs("# HELP tfuse_pool_recommendation_samples Usage samples behind the recommendation\n"
          "# TYPE tfuse_pool_recommendation_samples gauge\n", f);
    json_array_foreach(recos, i, o)
        fprintf(f, "tfuse_pool_recommendation_samples{workload=\"%s\",mode=\"%s\"} %lld\n",
                json_string_value(json_object_get(o, "workload")),
                json_string_value(json_object_get(o, "mode")),
                (long long)json_integer_value(json_object_get(o, "samples")));
    fprintf(f, "# HELP tfuse_pool_autoscale_resizes_total Changes made by auto mode\n"
               "# TYPE tfuse_pool_autoscale_resizes_total counter\n"
               "tfuse_pool_autoscale_resizes_total{result=\"applied\"} %llu\n"
               "tfuse_pool_autoscale_resizes_total{result=\"failed\"} %llu\n"
               "# HELP tfuse_pool_usage_samples_total Usage samples written to the store\n"
               "# TYPE tfuse_pool_usage_samples_total counter\n"
               "tfuse_pool_usage_samples_total %llu\n",
            (unsigned long long)au->resizes, (unsigned long long)au->resize_failures,
            (unsigned long long)au->samples);
}
