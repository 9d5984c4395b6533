/*
 * SQLite store of the pool (see pool_store.h): WAL journal, foreign keys on, schema migrations
 * keyed by PRAGMA user_version, one prepared statement per operation kept for the store's life.
 * Labels and NVLink peers are stored as JSON text. Calls sqlite3, jansson and libc.
 */
#include "pool_store.h"

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "credfile.h"

/* Migration i brings the schema from version i to i+1. Never edit one that shipped: append. */
static const char *const migrations[] = {
    "CREATE TABLE pools(name TEXT PRIMARY KEY, oversub REAL NOT NULL, strategy TEXT NOT NULL);"
    "CREATE TABLE nodes(name TEXT PRIMARY KEY, address TEXT NOT NULL, pool TEXT NOT NULL,"
    "  labels TEXT NOT NULL, registered_unix INTEGER NOT NULL);"
    "CREATE TABLE devices(node TEXT NOT NULL REFERENCES nodes(name) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL, uuid TEXT NOT NULL, model TEXT NOT NULL,"
    "  memory_bytes INTEGER NOT NULL, tflops REAL NOT NULL, numa INTEGER NOT NULL,"
    "  nvlink_peers TEXT NOT NULL, used_bytes INTEGER NOT NULL DEFAULT 0,"
    "  util_pct REAL NOT NULL DEFAULT 0, PRIMARY KEY(node, uuid));"
    "CREATE TABLE allocations(id TEXT PRIMARY KEY, tenant TEXT NOT NULL, pool TEXT NOT NULL,"
    "  node TEXT NOT NULL, model TEXT NOT NULL, qos TEXT NOT NULL, priority INTEGER NOT NULL,"
    "  strategy TEXT NOT NULL, status TEXT NOT NULL, idempotency_key TEXT,"
    "  request TEXT NOT NULL, created_unix INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX allocations_key ON allocations(idempotency_key)"
    "  WHERE idempotency_key IS NOT NULL;"
    "CREATE INDEX allocations_status ON allocations(status);"
    "CREATE TABLE allocation_devices(alloc_id TEXT NOT NULL REFERENCES allocations(id)"
    "  ON DELETE CASCADE, idx INTEGER NOT NULL, uuid TEXT NOT NULL, tflops REAL NOT NULL,"
    "  tflops_limit REAL NOT NULL, vram INTEGER NOT NULL, vram_limit INTEGER NOT NULL,"
    "  vgpu_id TEXT NOT NULL, token TEXT NOT NULL, connect TEXT NOT NULL,"
    "  PRIMARY KEY(alloc_id, idx));"
    "CREATE TABLE quotas(tenant TEXT PRIMARY KEY, max_tflops REAL NOT NULL,"
    "  max_vram INTEGER NOT NULL, max_vgpus INTEGER NOT NULL);",
    /* 2: authentication (docs/pool-api.md). Tenants' credentials and each node's, as SHA-256
     * hex (the pool only verifies them); idempotency keys become per tenant, so that a key
     * tells nothing about another tenant's requests. A node registered before this version has
     * no credential: it must register again with the join token before the pool calls it. */
    "CREATE TABLE tenants(name TEXT PRIMARY KEY, token_hash TEXT NOT NULL,"
    "  created_unix INTEGER NOT NULL);"
    "ALTER TABLE nodes ADD COLUMN credential_hash TEXT NOT NULL DEFAULT '';"
    "DROP INDEX allocations_key;"
    "CREATE UNIQUE INDEX allocations_key ON allocations(tenant, idempotency_key)"
    "  WHERE idempotency_key IS NOT NULL;",
    /* 3: usage history and autoscaling (issue 14; pool_usage.c, pool_autoscale.c). Samples
     * per workload (tier 0 raw, 1 per 5 minutes, 2 per hour; count: raw samples a row stands
     * for), which vGPU served which workload when, each workload's mode and the changes made. */
    "ALTER TABLE allocations ADD COLUMN workload TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE usage_samples(workload TEXT NOT NULL, t_ms INTEGER NOT NULL,"
    "  tier INTEGER NOT NULL, count INTEGER NOT NULL, mem_used INTEGER NOT NULL,"
    "  mem_peak INTEGER NOT NULL, mem_limit INTEGER NOT NULL, compute_used REAL NOT NULL,"
    "  compute_limit REAL NOT NULL, throttled_frac REAL NOT NULL, launches INTEGER NOT NULL,"
    "  oom_refusals INTEGER NOT NULL);"
    "CREATE INDEX usage_samples_w ON usage_samples(workload, t_ms);"
    "CREATE INDEX usage_samples_tier ON usage_samples(tier, t_ms);"
    "CREATE TABLE usage_vgpus(vgpu_id TEXT NOT NULL, workload TEXT NOT NULL,"
    "  first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL, PRIMARY KEY(workload, vgpu_id));"
    "CREATE TABLE workload_modes(workload TEXT PRIMARY KEY, mode TEXT NOT NULL,"
    "  min_vram INTEGER NOT NULL, max_vram INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    "  updated_by TEXT NOT NULL);"
    "CREATE TABLE autoscale_events(id INTEGER PRIMARY KEY AUTOINCREMENT, t_ms INTEGER NOT NULL,"
    "  workload TEXT NOT NULL, alloc_id TEXT NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,"
    "  from_state TEXT NOT NULL, to_state TEXT NOT NULL, why TEXT NOT NULL);"
    "CREATE INDEX autoscale_events_w ON autoscale_events(workload, t_ms);"
    "CREATE INDEX autoscale_events_a ON autoscale_events(alloc_id, t_ms);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof *migrations))

enum stmt_id {
    S_BEGIN, S_COMMIT, S_ROLLBACK,
    S_PUT_NODE, S_DEL_DEVICES, S_PUT_DEVICE, S_DEL_NODE,
    S_PUT_ALLOC, S_DEL_ALLOC_DEVS, S_PUT_ALLOC_DEV, S_RELEASE, S_DELETE_ALLOC, S_FIND_KEY,
    S_PUT_QUOTA, S_DEL_QUOTA, S_PUT_POOL, S_PUT_TENANT, S_DEL_TENANT,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_PUT_NODE] = "INSERT INTO nodes(name,address,pool,labels,registered_unix,credential_hash) "
                   "VALUES(?1,?2,?3,?4,strftime('%s','now'),?5) ON CONFLICT(name) DO UPDATE "
                   "SET address=?2, pool=?3, labels=?4, credential_hash=?5",
    [S_DEL_DEVICES] = "DELETE FROM devices WHERE node=?1",
    [S_PUT_DEVICE] = "INSERT INTO devices(node,idx,uuid,model,memory_bytes,tflops,numa,"
                     "nvlink_peers,used_bytes,util_pct) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
    [S_DEL_NODE] = "DELETE FROM nodes WHERE name=?1",
    [S_PUT_ALLOC] = "INSERT OR REPLACE INTO allocations(id,tenant,pool,node,model,qos,priority,"
                    "strategy,status,idempotency_key,request,created_unix,workload) "
                    "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
    [S_DEL_ALLOC_DEVS] = "DELETE FROM allocation_devices WHERE alloc_id=?1",
    [S_PUT_ALLOC_DEV] = "INSERT INTO allocation_devices(alloc_id,idx,uuid,tflops,tflops_limit,"
                        "vram,vram_limit,vgpu_id,token,connect) "
                        "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
    [S_RELEASE] = "UPDATE allocations SET status='released' WHERE id=?1",
    [S_DELETE_ALLOC] = "DELETE FROM allocations WHERE id=?1",
    [S_FIND_KEY] = "SELECT id, status FROM allocations WHERE tenant=?1 AND idempotency_key=?2",
    [S_PUT_QUOTA] = "INSERT OR REPLACE INTO quotas(tenant,max_tflops,max_vram,max_vgpus) "
                    "VALUES(?1,?2,?3,?4)",
    [S_DEL_QUOTA] = "DELETE FROM quotas WHERE tenant=?1",
    [S_PUT_POOL] = "INSERT OR REPLACE INTO pools(name,oversub,strategy) VALUES(?1,?2,?3)",
    [S_PUT_TENANT] = "INSERT OR REPLACE INTO tenants(name,token_hash,created_unix) "
                     "VALUES(?1,?2,?3)",
    [S_DEL_TENANT] = "DELETE FROM tenants WHERE name=?1",
};

struct pool_store;
static int db_fail(struct pool_store *st, const char *what);

struct pool_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    char err[256];
    /* Checkpoints run on a second connection in a background thread: done inline (SQLite's
     * auto-checkpoint) they land on whichever commit crosses the threshold, a latency spike of
     * several milliseconds on the allocation path. */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    bool ckpt_running, ckpt_stop;
    pthread_mutex_t ckpt_lock;
    pthread_cond_t ckpt_cond;
};

#define CHECKPOINT_PERIOD_MS 200

static void *checkpointer(void *arg)
{
    struct pool_store *st = arg;
    pthread_mutex_lock(&st->ckpt_lock);
    while (!st->ckpt_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += CHECKPOINT_PERIOD_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&st->ckpt_cond, &st->ckpt_lock, &until);
        if (st->ckpt_stop)
            break;
        pthread_mutex_unlock(&st->ckpt_lock);
        sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&st->ckpt_lock);
    }
    pthread_mutex_unlock(&st->ckpt_lock);
    return NULL;
}

static int start_checkpointer(struct pool_store *st, const char *path)
{
    pthread_mutex_init(&st->ckpt_lock, NULL);
    pthread_cond_init(&st->ckpt_cond, NULL);
    if (sqlite3_open_v2(path, &st->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(st->err, sizeof st->err, "checkpoint connection: %s",
                 st->ckpt_db ? sqlite3_errmsg(st->ckpt_db) : "out of memory");
        return -1;
    }
    sqlite3_busy_timeout(st->ckpt_db, 1000);
    if (sqlite3_exec(st->db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(st, "wal_autocheckpoint");
    if (pthread_create(&st->ckpt_thread, NULL, checkpointer, st) != 0) {
        snprintf(st->err, sizeof st->err, "cannot start the checkpoint thread");
        return -1;
    }
    st->ckpt_running = true;
    return 0;
}

static void stop_checkpointer(struct pool_store *st)
{
    if (st->ckpt_running) {
        pthread_mutex_lock(&st->ckpt_lock);
        st->ckpt_stop = true;
        pthread_cond_signal(&st->ckpt_cond);
        pthread_mutex_unlock(&st->ckpt_lock);
        pthread_join(st->ckpt_thread, NULL);
        st->ckpt_running = false;
    }
    if (st->ckpt_db) {
        sqlite3_close(st->ckpt_db);
        st->ckpt_db = NULL;
        pthread_cond_destroy(&st->ckpt_cond);
        pthread_mutex_destroy(&st->ckpt_lock);
    }
}

const char *pool_store_error(struct pool_store *st)
{
    return st->err;
}

static int db_fail(struct pool_store *st, const char *what)
{
    snprintf(st->err, sizeof st->err, "%s: %s", what, sqlite3_errmsg(st->db));
    return -1;
}


static int migrate(struct pool_store *st)
{
    int version = pool_store_schema_version(st);
    if (version > SCHEMA_VERSION) {
        snprintf(st->err, sizeof st->err,
                 "database schema version %d is newer than this program's %d", version,
                 SCHEMA_VERSION);
        return -1;
    }
    for (int v = version; v < SCHEMA_VERSION; v++) {
        char set[64];
        snprintf(set, sizeof set, "PRAGMA user_version=%d", v + 1);
        if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            return db_fail(st, "migration");
        if (sqlite3_exec(st->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(st->db, set, NULL, NULL, NULL) != SQLITE_OK) {
            db_fail(st, "migration");
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            return db_fail(st, "migration commit");
    }
    return 0;
}

static int configure(struct pool_store *st, enum pool_store_sync sync)
{
    const char *pragmas = sync == POOL_SYNC_FULL
                              ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                "PRAGMA foreign_keys=ON;"
                              : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                "PRAGMA foreign_keys=ON;";
    sqlite3_busy_timeout(st->db, 5000);
    if (sqlite3_exec(st->db, pragmas, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(st, "configure");
    return 0;
}

struct pool_store *pool_store_open(const char *path, enum pool_store_sync sync, char *err,
                                   size_t errlen)
{
    struct pool_store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* The store holds the vGPU tokens its tenants use: created (or tightened to) 0600 before
     * SQLite opens it, whatever the umask; SQLite gives its -wal and -shm files the database
     * file's mode. */
    if (tf_cred_make_private(path, err, errlen) != 0) {
        pool_store_close(st);
        return NULL;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : "out of memory");
        pool_store_close(st);
        return NULL;
    }
    int rc = configure(st, sync);
    if (rc == 0)
        rc = migrate(st);
    for (int i = 0; rc == 0 && i < S_COUNT; i++)
        if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                               NULL) != SQLITE_OK)
            rc = db_fail(st, "prepare");
    if (rc == 0)
        rc = start_checkpointer(st, path);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, st->err);
        pool_store_close(st);
        return NULL;
    }
    return st;
}

void pool_store_close(struct pool_store *st)
{
    if (!st)
        return;
    stop_checkpointer(st);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_close(st->db);
    free(st);
}

void pool_store_remove_files(const char *path)
{
    char companion[PATH_MAX + 8];
    unlink(path);
    snprintf(companion, sizeof companion, "%s-wal", path);
    unlink(companion);
    snprintf(companion, sizeof companion, "%s-shm", path);
    unlink(companion);
}

sqlite3 *pool_store_db(struct pool_store *st)
{
    return st->db;
}

int pool_store_schema_version(struct pool_store *st)
{
    sqlite3_stmt *s;
    int v = -1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* Runs a statement to completion and resets it (bindings included). */
static int run(struct pool_store *st, enum stmt_id id)
{
    sqlite3_stmt *s = st->stmt[id];
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_fail(st, stmt_sql[id]);
    return 0;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

int pool_store_begin(struct pool_store *st)
{
    return run(st, S_BEGIN);
}

int pool_store_commit(struct pool_store *st)
{
    return run(st, S_COMMIT);
}

void pool_store_rollback(struct pool_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        run(st, S_ROLLBACK);
}

static char *labels_json(const struct pool_label *labels, int n)
{
    json_t *o = json_object();
    for (int i = 0; i < n; i++)
        json_object_set_new(o, labels[i].key, json_string(labels[i].value));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static char *peers_json(const struct pool_device *d, const pool_peer_list peers)
{
    json_t *a = json_array();
    for (int i = 0; i < d->npeers; i++)
        json_array_append_new(a, json_string(peers[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static int put_device(struct pool_store *st, const char *node, int idx, const struct pool_device *d,
                      const pool_peer_list peer_list)
{
    sqlite3_stmt *s = st->stmt[S_PUT_DEVICE];
    char *peers = peers_json(d, peer_list);
    if (!peers)
        return -1;
    bind_text(s, 1, node);
    sqlite3_bind_int(s, 2, idx);
    bind_text(s, 3, d->uuid);
    bind_text(s, 4, d->model);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)d->memory_bytes);
    sqlite3_bind_double(s, 6, d->tflops);
    sqlite3_bind_int(s, 7, d->numa);
    bind_text(s, 8, peers);
    sqlite3_bind_int64(s, 9, (sqlite3_int64)d->used_bytes);
    sqlite3_bind_double(s, 10, d->util_pct);
    free(peers);
    return run(st, S_PUT_DEVICE);
}

int pool_store_put_node(struct pool_store *st, const struct pool_node *n)
{
    char *labels = labels_json(n->labels, n->nlabels);
    if (!labels)
        return -1;
    sqlite3_stmt *s = st->stmt[S_PUT_NODE];
    bind_text(s, 1, n->name);
    bind_text(s, 2, n->address);
    bind_text(s, 3, n->pool);
    bind_text(s, 4, labels);
    bind_text(s, 5, n->credential_hash);
    free(labels);
    if (run(st, S_PUT_NODE))
        return -1;
    bind_text(st->stmt[S_DEL_DEVICES], 1, n->name);
    if (run(st, S_DEL_DEVICES))
        return -1;
    for (int i = 0; i < n->ndev; i++)
        if (put_device(st, n->name, i, &n->dev[i], n->peers[i]))
            return -1;
    return 0;
}

int pool_store_del_node(struct pool_store *st, const char *name)
{
    bind_text(st->stmt[S_DEL_NODE], 1, name);
    return run(st, S_DEL_NODE);
}

static int put_alloc_dev(struct pool_store *st, const char *id, int idx,
                         const struct pool_alloc_dev *d)
{
    sqlite3_stmt *s = st->stmt[S_PUT_ALLOC_DEV];
    bind_text(s, 1, id);
    sqlite3_bind_int(s, 2, idx);
    bind_text(s, 3, d->uuid);
    sqlite3_bind_double(s, 4, d->tflops);
    sqlite3_bind_double(s, 5, d->tflops_limit);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)d->vram);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)d->vram_limit);
    bind_text(s, 8, d->vgpu_id);
    bind_text(s, 9, d->token);
    bind_text(s, 10, d->connect);
    return run(st, S_PUT_ALLOC_DEV);
}

int pool_store_put_alloc(struct pool_store *st, const struct pool_alloc *a)
{
    sqlite3_stmt *s = st->stmt[S_PUT_ALLOC];
    bind_text(s, 1, a->id);
    bind_text(s, 2, a->tenant);
    bind_text(s, 3, a->pool);
    bind_text(s, 4, a->node);
    bind_text(s, 5, a->model);
    bind_text(s, 6, pool_qos_name(a->qos));
    sqlite3_bind_int(s, 7, a->priority);
    bind_text(s, 8, pool_strategy_name(a->strategy));
    bind_text(s, 9, pool_status_name(a->status));
    if (a->idempotency_key[0])
        bind_text(s, 10, a->idempotency_key);
    else
        sqlite3_bind_null(s, 10);
    bind_text(s, 11, a->request_json ? a->request_json : "{}");
    sqlite3_bind_int64(s, 12, a->created_unix);
    bind_text(s, 13, a->workload);
    if (run(st, S_PUT_ALLOC))
        return -1;
    bind_text(st->stmt[S_DEL_ALLOC_DEVS], 1, a->id);
    if (run(st, S_DEL_ALLOC_DEVS))
        return -1;
    for (int i = 0; i < a->ndev; i++)
        if (put_alloc_dev(st, a->id, i, &a->dev[i]))
            return -1;
    return 0;
}

int pool_store_release_alloc(struct pool_store *st, const char *id, bool keep)
{
    enum stmt_id which = keep ? S_RELEASE : S_DELETE_ALLOC;
    bind_text(st->stmt[which], 1, id);
    return run(st, which);
}

int pool_store_find_key(struct pool_store *st, const char *tenant, const char *key, char *id,
                        size_t idlen, enum pool_alloc_status *status)
{
    sqlite3_stmt *s = st->stmt[S_FIND_KEY];
    bind_text(s, 1, tenant);
    bind_text(s, 2, key);
    int rc = sqlite3_step(s), found = 0;
    if (rc == SQLITE_ROW) {
        snprintf(id, idlen, "%s", (const char *)sqlite3_column_text(s, 0));
        int stt = pool_status_parse((const char *)sqlite3_column_text(s, 1));
        *status = stt < 0 ? POOL_ALLOC_RELEASED : (enum pool_alloc_status)stt;
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = db_fail(st, "find idempotency key");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return found;
}

int pool_store_put_quota(struct pool_store *st, const struct pool_quota *q)
{
    sqlite3_stmt *s = st->stmt[S_PUT_QUOTA];
    bind_text(s, 1, q->tenant);
    sqlite3_bind_double(s, 2, q->max_tflops);
    sqlite3_bind_int64(s, 3, q->max_vram);
    sqlite3_bind_int64(s, 4, q->max_vgpus);
    return run(st, S_PUT_QUOTA);
}

int pool_store_del_quota(struct pool_store *st, const char *tenant)
{
    bind_text(st->stmt[S_DEL_QUOTA], 1, tenant);
    return run(st, S_DEL_QUOTA);
}

int pool_store_put_pool(struct pool_store *st, const struct pool_def *d)
{
    sqlite3_stmt *s = st->stmt[S_PUT_POOL];
    bind_text(s, 1, d->name);
    sqlite3_bind_double(s, 2, d->oversub);
    bind_text(s, 3, pool_strategy_name(d->strategy));
    return run(st, S_PUT_POOL);
}

int pool_store_put_tenant(struct pool_store *st, const struct pool_tenant *t)
{
    sqlite3_stmt *s = st->stmt[S_PUT_TENANT];
    bind_text(s, 1, t->name);
    bind_text(s, 2, t->token_hash);
    sqlite3_bind_int64(s, 3, t->created_unix);
    return run(st, S_PUT_TENANT);
}

int pool_store_del_tenant(struct pool_store *st, const char *name)
{
    bind_text(st->stmt[S_DEL_TENANT], 1, name);
    return run(st, S_DEL_TENANT);
}

/* ---- loading at start-up ------------------------------------------------------------------ */

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

static void parse_labels(const char *text, struct pool_label *labels, int *n)
{
    json_t *o = json_loads(text, 0, NULL);
    const char *key;
    json_t *v;
    *n = 0;
    if (json_is_object(o))
        json_object_foreach(o, key, v) {
            if (*n == POOL_MAX_LABELS || !json_is_string(v))
                break;
            snprintf(labels[*n].key, sizeof labels[*n].key, "%s", key);
            snprintf(labels[*n].value, sizeof labels[*n].value, "%s", json_string_value(v));
            (*n)++;
        }
    json_decref(o);
}

static void parse_peers(const char *text, struct pool_device *d, pool_peer_list peers)
{
    json_t *a = json_loads(text, 0, NULL);
    size_t i;
    json_t *v;
    d->npeers = 0;
    if (json_is_array(a))
        json_array_foreach(a, i, v) {
            if (d->npeers == POOL_MAX_PEERS || !json_is_string(v))
                break;
            snprintf(peers[d->npeers++], POOL_UUID_MAX, "%s", json_string_value(v));
        }
    json_decref(a);
}

/* Steps a query, calling row(st, s, ld) per row; the statement is finalized here. */
static int each_row(struct pool_store *st, const char *sql, const struct pool_store_loader *ld,
                    int (*row)(struct pool_store *, sqlite3_stmt *, const struct pool_store_loader *))
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_fail(st, sql);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int r = row(st, s, ld);
        if (r) {
            sqlite3_finalize(s);
            return r;
        }
    }
    if (rc != SQLITE_DONE) {
        db_fail(st, sql);
        sqlite3_finalize(s);
        return -1;
    }
    sqlite3_finalize(s);
    return 0;
}

static int pool_row(struct pool_store *st, sqlite3_stmt *s, const struct pool_store_loader *ld)
{
    struct pool_def d = {0};
    snprintf(d.name, sizeof d.name, "%s", col_text(s, 0));
    d.oversub = sqlite3_column_double(s, 1);
    int strat = pool_strategy_parse(col_text(s, 2));
    d.strategy = strat < 0 ? POOL_STRATEGY_COMPACT_FIRST : (enum pool_strategy)strat;
    return ld->pool ? ld->pool(ld->arg, &d) : 0;
}

static int load_devices(struct pool_store *st, struct pool_node *n)
{
    sqlite3_stmt *s;
    const char *sql = "SELECT uuid,model,memory_bytes,tflops,numa,nvlink_peers,used_bytes,"
                      "util_pct FROM devices WHERE node=?1 ORDER BY idx";
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_fail(st, sql);
    bind_text(s, 1, n->name);
    while (n->ndev < POOL_MAX_DEVICES && sqlite3_step(s) == SQLITE_ROW) {
        struct pool_device *d = &n->dev[n->ndev++];
        memset(d, 0, sizeof *d);
        snprintf(d->uuid, sizeof d->uuid, "%s", col_text(s, 0));
        snprintf(d->model, sizeof d->model, "%s", col_text(s, 1));
        d->memory_bytes = (uint64_t)sqlite3_column_int64(s, 2);
        d->tflops = sqlite3_column_double(s, 3);
        d->numa = sqlite3_column_int(s, 4);
        parse_peers(col_text(s, 5), d, n->peers[n->ndev - 1]);
        d->used_bytes = (uint64_t)sqlite3_column_int64(s, 6);
        d->util_pct = sqlite3_column_double(s, 7);
    }
    sqlite3_finalize(s);
    return 0;
}

static int node_row(struct pool_store *st, sqlite3_stmt *s, const struct pool_store_loader *ld)
{
    struct pool_node *n = calloc(1, sizeof *n);
    if (!n)
        return -1;
    snprintf(n->name, sizeof n->name, "%s", col_text(s, 0));
    snprintf(n->address, sizeof n->address, "%s", col_text(s, 1));
    snprintf(n->pool, sizeof n->pool, "%s", col_text(s, 2));
    parse_labels(col_text(s, 3), n->labels, &n->nlabels);
    snprintf(n->credential_hash, sizeof n->credential_hash, "%s", col_text(s, 4));
    int rc = load_devices(st, n);
    if (rc == 0 && ld->node)
        rc = ld->node(ld->arg, n);
    free(n);
    return rc;
}

static int quota_row(struct pool_store *st, sqlite3_stmt *s, const struct pool_store_loader *ld)
{
    struct pool_quota q = {0};
    snprintf(q.tenant, sizeof q.tenant, "%s", col_text(s, 0));
    q.max_tflops = sqlite3_column_double(s, 1);
    q.max_vram = sqlite3_column_int64(s, 2);
    q.max_vgpus = sqlite3_column_int64(s, 3);
    return ld->quota ? ld->quota(ld->arg, &q) : 0;
}

static int tenant_row(struct pool_store *st, sqlite3_stmt *s, const struct pool_store_loader *ld)
{
    (void)st;
    struct pool_tenant t = {0};
    snprintf(t.name, sizeof t.name, "%s", col_text(s, 0));
    snprintf(t.token_hash, sizeof t.token_hash, "%s", col_text(s, 1));
    t.created_unix = sqlite3_column_int64(s, 2);
    return ld->tenant ? ld->tenant(ld->arg, &t) : 0;
}

static int load_alloc_devices(struct pool_store *st, struct pool_alloc *a)
{
    sqlite3_stmt *s;
    const char *sql = "SELECT uuid,tflops,tflops_limit,vram,vram_limit,vgpu_id,token,connect "
                      "FROM allocation_devices WHERE alloc_id=?1 ORDER BY idx";
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_fail(st, sql);
    bind_text(s, 1, a->id);
    while (a->ndev < POOL_MAX_GANG && sqlite3_step(s) == SQLITE_ROW) {
        struct pool_alloc_dev *d = &a->dev[a->ndev++];
        snprintf(d->uuid, sizeof d->uuid, "%s", col_text(s, 0));
        d->tflops = sqlite3_column_double(s, 1);
        d->tflops_limit = sqlite3_column_double(s, 2);
        d->vram = (uint64_t)sqlite3_column_int64(s, 3);
        d->vram_limit = (uint64_t)sqlite3_column_int64(s, 4);
        snprintf(d->vgpu_id, sizeof d->vgpu_id, "%s", col_text(s, 5));
        snprintf(d->token, sizeof d->token, "%s", col_text(s, 6));
        snprintf(d->connect, sizeof d->connect, "%s", col_text(s, 7));
    }
    sqlite3_finalize(s);
    return 0;
}

static int alloc_row(struct pool_store *st, sqlite3_stmt *s, const struct pool_store_loader *ld)
{
    struct pool_alloc *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    snprintf(a->id, sizeof a->id, "%s", col_text(s, 0));
    snprintf(a->tenant, sizeof a->tenant, "%s", col_text(s, 1));
    snprintf(a->pool, sizeof a->pool, "%s", col_text(s, 2));
    snprintf(a->node, sizeof a->node, "%s", col_text(s, 3));
    snprintf(a->model, sizeof a->model, "%s", col_text(s, 4));
    int q = pool_qos_parse(col_text(s, 5)), strat = pool_strategy_parse(col_text(s, 7));
    int status = pool_status_parse(col_text(s, 8));
    a->qos = q < 0 ? POOL_QOS_MEDIUM : (enum pool_qos)q;
    a->priority = sqlite3_column_int(s, 6);
    a->strategy = strat < 0 ? POOL_STRATEGY_COMPACT_FIRST : (enum pool_strategy)strat;
    a->status = status < 0 ? POOL_ALLOC_RELEASED : (enum pool_alloc_status)status;
    snprintf(a->idempotency_key, sizeof a->idempotency_key, "%s", col_text(s, 9));
    a->request_json = strdup(col_text(s, 10));
    a->created_unix = sqlite3_column_int64(s, 11);
    snprintf(a->workload, sizeof a->workload, "%s", col_text(s, 12));
    if (!a->workload[0] && a->request_json) {   /* allocated before workloads were named */
        json_t *rq = json_loads(a->request_json, 0, NULL);
        const char *m = json_string_value(json_object_get(rq, "model"));
        snprintf(a->workload, sizeof a->workload, "%s/%s", a->tenant, m && *m ? m : "any");
        json_decref(rq);
    }
    int rc = a->request_json ? load_alloc_devices(st, a) : -1;
    if (rc == 0 && ld->alloc)
        rc = ld->alloc(ld->arg, a);
    free(a->request_json);
    free(a);
    return rc;
}

int pool_store_load(struct pool_store *st, const struct pool_store_loader *ld)
{
    int rc = each_row(st, "SELECT name,oversub,strategy FROM pools", ld, pool_row);
    if (rc == 0)
        rc = each_row(st, "SELECT name,address,pool,labels,credential_hash FROM nodes "
                          "ORDER BY name", ld, node_row);
    if (rc == 0)
        rc = each_row(st, "SELECT name,token_hash,created_unix FROM tenants", ld, tenant_row);
    if (rc == 0)
        rc = each_row(st, "SELECT tenant,max_tflops,max_vram,max_vgpus FROM quotas", ld, quota_row);
    if (rc == 0)
        rc = each_row(st,
                      "SELECT id,tenant,pool,node,model,qos,priority,strategy,status,"
                      "COALESCE(idempotency_key,''),request,created_unix,workload "
                      "FROM allocations "
                      "WHERE status != 'released' ORDER BY created_unix, id",
                      ld, alloc_row);
    return rc;
}
