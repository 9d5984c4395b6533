/*
 * The pool's usage history (issue 14, docs/autoscale.md): what nodes report of each vGPU
 * (heartbeat "usage": memory now, peak and limit, counters of device time, throttled time,
 * launches and refused allocations) becomes one sample per vGPU per usage period in the store,
 * under the vGPU's workload, so a workload's history outlives its vGPUs. Rows are down-sampled
 * with age (raw for 6 hours, then per 5 minutes, then per hour after 7 days, dropped after 90)
 * and bounded per workload. The store is also a history source (pool_usage.h) like Prometheus.
 *
 * Owns: the accumulators, the usage tables' rows, the store source, the clock.
 * May call: the store's connection (sqlite3), pool_map, pool_svc internals, libc.
 */
#include "pool_auto_int.h"
#include "pool_svc_int.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define MIN_MS 60000ll
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)
/* Down-sampling: (tier, kept as is for, bucket of the next tier). */
#define RAW_KEEP_MS (6 * HOUR_MS)
#define FIVE_MIN_KEEP_MS (7 * DAY_MS)
#define HOURLY_KEEP_MS (90 * DAY_MS)
#define COMPACT_EVERY_MS (5 * MIN_MS)
/* At most this many rows per workload: a workload of many replicas cannot fill the disk. */
#define ROWS_PER_WORKLOAD 50000
/* A query answers at most this many samples (the raw tier of a large workload). */
#define QUERY_MAX 200000

int64_t pool_svc_now_ms(struct pool_svc *svc)
{
    if (svc->cfg.clock_ms)
        return svc->cfg.clock_ms(svc->cfg.clock_arg);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (!svc->autos)
        return ms;
    pthread_mutex_lock(&svc->autos->stop_lock);
    ms += svc->autos->offset_ms;
    pthread_mutex_unlock(&svc->autos->stop_lock);
    return ms;
}

int pool_svc_clock_advance(struct pool_svc *svc, int64_t ms)
{
    if (!svc->cfg.test_clock || ms < 0)
        return -1;
    pthread_mutex_lock(&svc->autos->stop_lock);
    svc->autos->offset_ms += ms;
    pthread_mutex_unlock(&svc->autos->stop_lock);
    return 0;
}

static int usage_fail(struct pool_svc *svc, const char *what)
{
    tf_warn("pool: usage history: %s: %s", what, sqlite3_errmsg(pool_store_db(svc->store)));
    return -1;
}

/* Runs sql with the int64/text arguments given ("i" or "s" per character of types). */
static int exec_args(struct pool_svc *svc, const char *sql, const char *types, ...)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(pool_store_db(svc->store), sql, -1, &s, NULL) != SQLITE_OK)
        return usage_fail(svc, "prepare");
    va_list ap;
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 'i')
            sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
        else
            sqlite3_bind_text(s, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
    }
    va_end(ap);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : usage_fail(svc, sql);
}

/* Lock held, inside a transaction. */
static int insert_sample(struct pool_svc *svc, const char *workload,
                         const struct pool_usage_sample *x, int tier)
{
    sqlite3_stmt *s;
    const char *sql = "INSERT INTO usage_samples(workload,t_ms,tier,count,mem_used,mem_peak,"
                      "mem_limit,compute_used,compute_limit,throttled_frac,launches,oom_refusals)"
                      " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)";
    if (sqlite3_prepare_v2(pool_store_db(svc->store), sql, -1, &s, NULL) != SQLITE_OK)
        return usage_fail(svc, "prepare");
    sqlite3_bind_text(s, 1, workload, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, x->t_ms);
    sqlite3_bind_int(s, 3, tier);
    sqlite3_bind_int64(s, 4, x->count > 1 ? x->count : 1);
    sqlite3_bind_int64(s, 5, (int64_t)x->mem_used);
    sqlite3_bind_int64(s, 6, (int64_t)x->mem_peak);
    sqlite3_bind_int64(s, 7, (int64_t)x->mem_limit);
    sqlite3_bind_double(s, 8, x->compute_used);
    sqlite3_bind_double(s, 9, x->compute_limit);
    sqlite3_bind_double(s, 10, x->throttled_frac);
    sqlite3_bind_int64(s, 11, (int64_t)x->launches);
    sqlite3_bind_int64(s, 12, x->oom_refusals);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return usage_fail(svc, "insert");
    svc->autos->samples++;
    return 0;
}

/* ---- accumulators: reports -> samples ------------------------------------------------- */

static uint64_t grown(uint64_t now, uint64_t before)
{
    return now >= before ? now - before : now;   /* smaller: a new vGPU under the same id */
}

static double frac(uint64_t ns, int64_t ms)
{
    double v = ms > 0 ? (double)ns / ((double)ms * 1e6) : 0;
    return v > 1 ? 1 : v;
}

/* The sample the interval ending at now makes; the accumulator starts a new interval. */
static struct pool_usage_sample close_interval(struct pool_usage_acc *a, int64_t now)
{
    int64_t span = now - a->start_ms;
    struct pool_usage_sample x = {
        .t_ms = now, .mem_used = a->last.mem_used,
        .mem_peak = a->peak_max > a->used_max ? a->peak_max : a->used_max,
        .mem_limit = a->last.mem_limit, .compute_used = frac(a->d_busy, span),
        .compute_limit = a->last.compute_limit, .throttled_frac = frac(a->d_thr, span),
        .launches = a->d_launches,
        .oom_refusals = a->d_oom > UINT32_MAX ? UINT32_MAX : (uint32_t)a->d_oom, .count = 1};
    a->start_ms = now;
    a->used_max = a->last.mem_used;
    a->peak_max = 0;
    a->d_busy = a->d_thr = a->d_launches = a->d_oom = 0;
    return x;
}

static void fold(struct pool_usage_acc *a, const struct pool_vgpu_usage *u, bool first,
                 int64_t now)
{
    if (!first) {
        a->d_busy += grown(u->busy_ns, a->last.busy_ns);
        a->d_thr += grown(u->throttled_ns, a->last.throttled_ns);
        a->d_launches += grown(u->launches, a->last.launches);
        uint64_t oom = grown(u->oom_refusals, a->last.oom_refusals);
        a->d_oom += oom;
        if (oom) {   /* the node's largest is since the vGPU began: an upper bound */
            a->refused_ms = now;
            a->refused_bytes = u->oom_largest;
        }
    }
    if (u->mem_used > a->used_max)
        a->used_max = u->mem_used;
    /* The node's peak is since the vGPU was made: it says something of this interval only
     * when it moved (or on the first report, a peak of the vGPU's recent past). */
    if ((first || u->mem_peak != a->last.mem_peak) && u->mem_peak > a->peak_max)
        a->peak_max = u->mem_peak;
    a->last = *u;
}

static struct pool_usage_acc *acc_for(struct pool_svc *svc, const struct pool_alloc *al,
                                      int dev, int64_t now, bool *first)
{
    char key[POOL_UUID_MAX + 16];
    snprintf(key, sizeof key, "%s#%d", al->id, dev);
    struct pool_usage_acc *a = pool_map_get(&svc->autos->accs, key);
    *first = a == NULL;
    if (a)
        return a;
    a = calloc(1, sizeof *a);
    if (!a || !pool_map_put(&svc->autos->accs, key, a)) {
        free(a);
        return NULL;
    }
    snprintf(a->workload, sizeof a->workload, "%s", al->workload);
    snprintf(a->vgpu, sizeof a->vgpu, "%s", al->dev[dev].vgpu_id);
    a->start_ms = now;
    return a;
}

/* Lock held. Returns 1 when a sample was written, 0 when not yet, -1 on error. */
static int observe_locked(struct pool_svc *svc, const struct pool_alloc *al, int dev,
                          const struct pool_vgpu_usage *u, int64_t now, bool *in_tx)
{
    bool first;
    struct pool_usage_acc *a = acc_for(svc, al, dev, now, &first);
    if (!a)
        return -1;
    fold(a, u, first, now);
    a->seen_ms = now;
    double period_ms = svc->cfg.usage_period_s * 1000;
    if ((double)(now - a->start_ms) < period_ms)
        return 0;
    struct pool_usage_sample x = close_interval(a, now);
    if (!*in_tx) {
        if (pool_store_begin(svc->store))
            return usage_fail(svc, "begin");
        *in_tx = true;
    }
    if (insert_sample(svc, a->workload, &x, 0) ||
        (a->vgpu[0] && exec_args(svc, "INSERT INTO usage_vgpus(vgpu_id,workload,first_ms,last_ms) "
                       "VALUES(?1,?2,?3,?3) ON CONFLICT(workload,vgpu_id) DO UPDATE SET "
                       "last_ms=MAX(last_ms,?3)", "ssi", a->vgpu, a->workload, now)))
        return -1;
    return 1;
}

static int finish_tx(struct pool_svc *svc, bool in_tx, int rc)
{
    if (!in_tx)
        return rc;
    if (rc < 0 || pool_store_commit(svc->store)) {
        pool_store_rollback(svc->store);
        return -1;
    }
    return 0;
}

static struct pool_alloc *active_alloc(struct pool_svc *svc, const char *id, int dev)
{
    struct pool_alloc *al = pool_map_get(&svc->allocs, id);
    if (!al || al->status != POOL_ALLOC_ACTIVE || dev < 0 || dev >= al->ndev)
        return NULL;
    return al;
}

int pool_svc_usage_observe(struct pool_svc *svc, const char *alloc_id, int dev,
                           const struct pool_vgpu_usage *u)
{
    pthread_mutex_lock(&svc->lock);
    struct pool_alloc *al = active_alloc(svc, alloc_id, dev);
    bool in_tx = false;
    int rc = al ? observe_locked(svc, al, dev, u, pool_svc_now_ms(svc), &in_tx) : -1;
    rc = finish_tx(svc, in_tx, rc);
    if (rc >= 0 && in_tx)
        pool_usage_compact_locked(svc, pool_svc_now_ms(svc), false);
    pthread_mutex_unlock(&svc->lock);
    return rc < 0 ? -1 : 0;
}

struct vgpu_index {
    const char *node;
    struct pool_map map;            /* vGPU id -> allocation (dev found again by id) */
};

static void index_alloc(const char *key, void *value, void *arg)
{
    (void)key;
    struct vgpu_index *ix = arg;
    struct pool_alloc *al = value;
    if (strcmp(al->node, ix->node) != 0 || al->status != POOL_ALLOC_ACTIVE)
        return;
    for (int i = 0; i < al->ndev; i++)
        if (al->dev[i].vgpu_id[0])
            pool_map_put(&ix->map, al->dev[i].vgpu_id, al);
}

void pool_usage_heartbeat_locked(struct pool_svc *svc, const char *node,
                                 const struct pool_heartbeat *hb)
{
    if (!hb->nusage)
        return;
    struct vgpu_index ix = {.node = node};
    pool_map_init(&ix.map);
    pool_map_each(&svc->allocs, index_alloc, &ix);
    int64_t now = pool_svc_now_ms(svc);
    bool in_tx = false;
    int rc = 0;
    for (int k = 0; k < hb->nusage && rc >= 0; k++) {
        struct pool_alloc *al = pool_map_get(&ix.map, hb->usage[k].vgpu);
        for (int i = 0; al && i < al->ndev && rc >= 0; i++)
            if (strcmp(al->dev[i].vgpu_id, hb->usage[k].vgpu) == 0)
                rc = observe_locked(svc, al, i, &hb->usage[k], now, &in_tx);
    }
    pool_map_free(&ix.map);
    if (finish_tx(svc, in_tx, rc) < 0)
        tf_warn("pool: node %s's usage samples were not stored", node);
    else if (in_tx)
        pool_usage_compact_locked(svc, now, false);
}

bool pool_usage_current_locked(struct pool_svc *svc, const char *id, int dev, uint64_t *used)
{
    char key[POOL_UUID_MAX + 16];
    snprintf(key, sizeof key, "%s#%d", id, dev);
    const struct pool_usage_acc *a = pool_map_get(&svc->autos->accs, key);
    int64_t fresh_ms = (int64_t)(3 * svc->cfg.usage_period_s * 1000);
    if (!a || pool_svc_now_ms(svc) - a->seen_ms > fresh_ms)
        return false;
    *used = a->last.mem_used;
    return true;
}

uint64_t pool_usage_refused_locked(struct pool_svc *svc, const char *id, int dev,
                                   int64_t after_ms)
{
    char key[POOL_UUID_MAX + 16];
    snprintf(key, sizeof key, "%s#%d", id, dev);
    const struct pool_usage_acc *a = pool_map_get(&svc->autos->accs, key);
    return a && a->refused_ms && a->refused_ms > after_ms ? a->refused_bytes : 0;
}

struct sweep {
    int64_t before;
    struct pool_map *accs;
    char (*gone)[POOL_UUID_MAX + 16];
    size_t n, cap;
};

static void find_stale(const char *key, void *value, void *arg)
{
    struct sweep *s = arg;
    const struct pool_usage_acc *a = value;
    if (a->seen_ms >= s->before || s->n == s->cap)
        return;
    snprintf(s->gone[s->n++], sizeof *s->gone, "%s", key);
}

void pool_usage_sweep_locked(struct pool_svc *svc, int64_t now_ms)
{
    struct sweep s = {.before = now_ms - (int64_t)(10 * svc->cfg.usage_period_s * 1000),
                      .accs = &svc->autos->accs, .cap = svc->autos->accs.count};
    if (!s.cap || !(s.gone = calloc(s.cap, sizeof *s.gone)))
        return;
    pool_map_each(&svc->autos->accs, find_stale, &s);
    for (size_t i = 0; i < s.n; i++)
        free(pool_map_del(&svc->autos->accs, s.gone[i]));
    free(s.gone);
}

int pool_svc_usage_record(struct pool_svc *svc, const char *workload,
                          const struct pool_usage_sample *s, struct pool_error *e)
{
    pthread_mutex_lock(&svc->lock);
    int rc = pool_store_begin(svc->store) || insert_sample(svc, workload, s, 0) ||
             pool_store_commit(svc->store) ? -1 : 0;
    if (rc) {
        pool_store_rollback(svc->store);
        pool_fail(e, 500, POOL_FAIL_STORE, "store: %s", pool_store_error(svc->store));
    }
    pthread_mutex_unlock(&svc->lock);
    return rc;
}

/* ---- down-sampling -------------------------------------------------------------------- */

/* Rows of tier `from` older than cutoff (a multiple of bucket) become one row per workload
 * and bucket of tier from + 1: means weighted by count, peaks and limits at their maximum,
 * counts summed. */
static int downsample(struct pool_svc *svc, int from, int64_t cutoff, int64_t bucket)
{
    static const char sql[] =
        "INSERT INTO usage_samples(workload,t_ms,tier,count,mem_used,mem_peak,mem_limit,"
        "compute_used,compute_limit,throttled_frac,launches,oom_refusals) "
        "SELECT workload, (t_ms / ?3) * ?3, ?2 + 1, SUM(count),"
        " CAST(SUM(mem_used * count) / SUM(count) AS INTEGER), MAX(mem_peak), MAX(mem_limit),"
        " SUM(compute_used * count) / SUM(count), MAX(compute_limit),"
        " SUM(throttled_frac * count) / SUM(count), SUM(launches), SUM(oom_refusals)"
        " FROM usage_samples WHERE tier = ?2 AND t_ms < ?1 GROUP BY workload, t_ms / ?3";
    return exec_args(svc, sql, "iii", cutoff, (int64_t)from, bucket) ||
           exec_args(svc, "DELETE FROM usage_samples WHERE tier = ?2 AND t_ms < ?1", "ii",
                     cutoff, (int64_t)from);
}

static int bound_rows(struct pool_svc *svc, int64_t now)
{
    return exec_args(svc, "DELETE FROM usage_samples WHERE t_ms < ?1", "i",
                     now - HOURLY_KEEP_MS) ||
           exec_args(svc, "DELETE FROM usage_vgpus WHERE last_ms < ?1", "i",
                     now - HOURLY_KEEP_MS) ||
           exec_args(svc, "DELETE FROM autoscale_events WHERE t_ms < ?1", "i",
                     now - HOURLY_KEEP_MS) ||
           exec_args(svc, "DELETE FROM usage_samples WHERE rowid IN (SELECT r FROM (SELECT "
                          "rowid AS r, ROW_NUMBER() OVER (PARTITION BY workload ORDER BY t_ms "
                          "DESC) AS k FROM usage_samples WHERE workload IN (SELECT workload "
                          "FROM usage_samples GROUP BY workload HAVING COUNT(*) > ?1)) "
                          "WHERE k > ?1)", "i", (int64_t)ROWS_PER_WORKLOAD);
}

void pool_usage_compact_locked(struct pool_svc *svc, int64_t now, bool force)
{
    struct pool_auto *au = svc->autos;
    if (!force && now - au->last_compact_ms < COMPACT_EVERY_MS)
        return;
    au->last_compact_ms = now;
    int64_t five = 5 * MIN_MS;
    int64_t cut0 = (now - RAW_KEEP_MS) / five * five;
    int64_t cut1 = (now - FIVE_MIN_KEEP_MS) / HOUR_MS * HOUR_MS;
    if (pool_store_begin(svc->store) || downsample(svc, 0, cut0, five) ||
        downsample(svc, 1, cut1, HOUR_MS) || bound_rows(svc, now) ||
        pool_store_commit(svc->store)) {
        pool_store_rollback(svc->store);
        tf_warn("pool: usage history: down-sampling failed (kept as it was)");
    }
}

/* ---- the store as a history source ---------------------------------------------------- */

static void read_sample(sqlite3_stmt *s, struct pool_usage_sample *x)
{
    *x = (struct pool_usage_sample){
        .t_ms = sqlite3_column_int64(s, 0), .mem_used = (uint64_t)sqlite3_column_int64(s, 1),
        .mem_peak = (uint64_t)sqlite3_column_int64(s, 2),
        .mem_limit = (uint64_t)sqlite3_column_int64(s, 3),
        .compute_used = sqlite3_column_double(s, 4), .compute_limit = sqlite3_column_double(s, 5),
        .throttled_frac = sqlite3_column_double(s, 6),
        .launches = (uint64_t)sqlite3_column_int64(s, 7),
        .oom_refusals = (uint32_t)sqlite3_column_int64(s, 8),
        .count = (uint32_t)sqlite3_column_int64(s, 9)};
}

static int store_query(void *ctx, const char *workload, int64_t from_ms, int64_t to_ms,
                       struct pool_usage_sample **out, size_t *n, char *err, size_t errlen)
{
    struct pool_svc *svc = ctx;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s;
    size_t cap = 0;
    int rc = 0;
    pthread_mutex_lock(&svc->lock);
    /* The newest QUERY_MAX, handed back oldest first. */
    const char *sql = "SELECT * FROM (SELECT t_ms,mem_used,mem_peak,mem_limit,compute_used,"
                      "compute_limit,throttled_frac,launches,oom_refusals,count FROM "
                      "usage_samples WHERE workload=?1 AND t_ms>=?2 AND t_ms<?3 "
                      "ORDER BY t_ms DESC LIMIT ?4) ORDER BY t_ms";
    if (sqlite3_prepare_v2(pool_store_db(svc->store), sql, -1, &s, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "store: %s", sqlite3_errmsg(pool_store_db(svc->store)));
        pthread_mutex_unlock(&svc->lock);
        return -1;
    }
    sqlite3_bind_text(s, 1, workload, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, from_ms);
    sqlite3_bind_int64(s, 3, to_ms);
    sqlite3_bind_int64(s, 4, QUERY_MAX);
    int step;
    while (rc == 0 && (step = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? 2 * cap : 256;
            struct pool_usage_sample *more = realloc(*out, ncap * sizeof *more);
            if (!more) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            *out = more;
            cap = ncap;
        }
        read_sample(s, &(*out)[(*n)++]);
    }
    if (rc == 0 && step != SQLITE_DONE) {
        snprintf(err, errlen, "store: %s", sqlite3_errmsg(pool_store_db(svc->store)));
        rc = -1;
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&svc->lock);
    if (rc) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static void store_close(void *ctx)
{
    (void)ctx;   /* the store belongs to the pool */
}

struct pool_usage_source pool_svc_store_source(struct pool_svc *svc)
{
    return (struct pool_usage_source){.query = store_query, .close = store_close, .ctx = svc};
}

void pool_svc_set_history(struct pool_svc *svc, const struct pool_usage_source *src)
{
    pthread_mutex_lock(&svc->autos->pass_lock);
    struct pool_usage_source old = svc->autos->history;
    svc->autos->history = src ? *src : pool_svc_store_source(svc);
    pthread_mutex_unlock(&svc->autos->pass_lock);
    if (old.close)
        old.close(old.ctx);
}

int pool_svc_vgpus_of(void *arg, const char *workload, int64_t from_ms, int64_t to_ms,
                      char (*ids)[80], size_t max)
{
    struct pool_svc *svc = arg;
    sqlite3_stmt *s;
    int n = 0;
    pthread_mutex_lock(&svc->lock);
    if (sqlite3_prepare_v2(pool_store_db(svc->store),
                           "SELECT vgpu_id FROM usage_vgpus WHERE workload=?1 AND last_ms>=?2 "
                           "AND first_ms<?3 ORDER BY vgpu_id LIMIT ?4", -1, &s,
                           NULL) != SQLITE_OK) {
        pthread_mutex_unlock(&svc->lock);
        return -1;
    }
    sqlite3_bind_text(s, 1, workload, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, from_ms);
    sqlite3_bind_int64(s, 3, to_ms);
    sqlite3_bind_int64(s, 4, (int64_t)max);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW)
        snprintf(ids[n++], 80, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    pthread_mutex_unlock(&svc->lock);
    return step == SQLITE_DONE ? n : -1;
}
