/*
 * The pool's durable store: SQLite in WAL mode with versioned migrations and prepared
 * statements. It owns the schema (documented in docs/pool-api.md) and nothing else: callers
 * bracket every change in pool_store_begin/commit so each logical write (a registration, an
 * allocation with its vGPUs, a release) is one transaction. Not thread-safe: the pool service
 * serialises access with its writer lock. Calls sqlite3, jansson and libc.
 */
#ifndef TFUSE_POOL_STORE_H
#define TFUSE_POOL_STORE_H

#include "pool_model.h"

struct pool_store;

enum pool_store_sync { POOL_SYNC_NORMAL, POOL_SYNC_FULL };

/* Creates the database (mode 0600 whatever the umask, an existing one is tightened to it). */
struct pool_store *pool_store_open(const char *path, enum pool_store_sync sync, char *err,
                                   size_t errlen);
void pool_store_close(struct pool_store *st);
/* Deletes the database file at path with its WAL and shared-memory companions (path-wal,
 * path-shm); missing files are fine. For tests and benches that start from an empty store. */
void pool_store_remove_files(const char *path);
int pool_store_schema_version(struct pool_store *st);
/* The connection, for the usage history's own statements (pool_usage.c, pool_autoscale.c),
 * used under the same writer lock as everything else. */
struct sqlite3 *pool_store_db(struct pool_store *st);
const char *pool_store_error(struct pool_store *st);

int pool_store_begin(struct pool_store *st);
int pool_store_commit(struct pool_store *st);
void pool_store_rollback(struct pool_store *st);

int pool_store_put_node(struct pool_store *st, const struct pool_node *n);
int pool_store_del_node(struct pool_store *st, const char *name);
/* Inserts or replaces the allocation and its vGPUs. */
int pool_store_put_alloc(struct pool_store *st, const struct pool_alloc *a);
/* Marks an allocation released; one without idempotency key is deleted outright (nothing can
 * ask for it again), so the store does not grow with churn. */
int pool_store_release_alloc(struct pool_store *st, const char *id, bool keep);
/* 1 and the id/status when some allocation (any status) of tenant holds key, 0 when none, -1
 * on error. */
int pool_store_find_key(struct pool_store *st, const char *tenant, const char *key, char *id,
                        size_t idlen, enum pool_alloc_status *status);
int pool_store_put_quota(struct pool_store *st, const struct pool_quota *q);
int pool_store_del_quota(struct pool_store *st, const char *tenant);
int pool_store_put_pool(struct pool_store *st, const struct pool_def *d);
int pool_store_put_tenant(struct pool_store *st, const struct pool_tenant *t);
int pool_store_del_tenant(struct pool_store *st, const char *name);

/* Reads everything back at start-up; released allocations are skipped. A callback returning
 * non-zero stops the load with that value. */
struct pool_store_loader {
    void *arg;
    int (*pool)(void *arg, const struct pool_def *d);
    int (*node)(void *arg, const struct pool_node *n);
    int (*quota)(void *arg, const struct pool_quota *q);
    int (*alloc)(void *arg, const struct pool_alloc *a);
    int (*tenant)(void *arg, const struct pool_tenant *t);
};
int pool_store_load(struct pool_store *st, const struct pool_store_loader *ld);

#endif
