/*
 * The pool service's lifecycle and its node, quota and pool operations (allocation lives in
 * pool_alloc.c). Start-up reads the store back into memory: nodes get a fresh heartbeat grace
 * period, active allocations are re-booked, and allocations left pending by a crash are rolled
 * back (their node was never told to keep them). Calls pool_inv, pool_quota, pool_store,
 * pool_alloc/pool_views/pool_health (internals), jansson, pthreads and the log.
 */
#include "pool_svc_int.h"
#include "pool_auto_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "credfile.h"

static int load_pool(void *arg, const struct pool_def *d)
{
    struct pool_svc *svc = arg;
    return pool_inv_set_pool(&svc->inv, d) ? 0 : -1;
}

static int load_node(void *arg, const struct pool_node *n)
{
    struct pool_svc *svc = arg;
    char err[256];
    struct pool_node *stored = pool_inv_put_node(&svc->inv, n, err, sizeof err);
    if (!stored)
        return -1;
    /* A grace period: it has heartbeat_timeout_s to show up. A node stored before nodes had
     * credentials stays unhealthy (never placed on, never called) until it registers again. */
    stored->healthy = n->credential_hash[0] != '\0';
    stored->last_heartbeat = pool_now();
    return 0;
}

static int load_quota(void *arg, const struct pool_quota *q)
{
    struct pool_svc *svc = arg;
    return pool_quota_set_limits(&svc->quotas, q) ? 0 : -1;
}

static int load_alloc(void *arg, const struct pool_alloc *a)
{
    struct pool_svc *svc = arg;
    if (a->status == POOL_ALLOC_PENDING) {
        tf_warn("pool: allocation %s was pending at shutdown; rolling it back", a->id);
        if (pool_store_begin(svc->store) || pool_store_release_alloc(svc->store, a->id, true) ||
            pool_store_commit(svc->store)) {
            pool_store_rollback(svc->store);
            return -1;
        }
        return 0;
    }
    struct pool_alloc *copy = malloc(sizeof *copy);
    if (!copy)
        return -1;
    *copy = *a;
    copy->request_json = strdup(a->request_json);
    if (!copy->request_json || !pool_map_put(&svc->allocs, copy->id, copy)) {
        pool_map_del(&svc->allocs, copy->id);
        pool_alloc_free(copy);
        return -1;
    }
    if (copy->idempotency_key[0]) {
        char key[POOL_ALLOC_KEY_MAX];
        pool_alloc_key(copy->tenant, copy->idempotency_key, key);
        pool_map_put(&svc->alloc_keys, key, copy);
    }
    pool_alloc_book(svc, copy);
    return 0;
}

static void set_defaults(struct pool_config *c)
{
    if (c->heartbeat_timeout_s <= 0)
        c->heartbeat_timeout_s = 15;
    if (c->oversub < 1)
        c->oversub = 1;
    if (c->node_timeout_ms <= 0)
        c->node_timeout_ms = 10000;
    if ((unsigned)c->strategy >= POOL_STRATEGY_COUNT)
        c->strategy = POOL_STRATEGY_COMPACT_FIRST;
}

struct pool_svc *pool_svc_open(const struct pool_config *cfg, char *err, size_t errlen)
{
    struct pool_svc *svc = calloc(1, sizeof *svc);
    if (!svc || !cfg->db_path || !(svc->db_path = strdup(cfg->db_path))) {
        snprintf(err, errlen, svc ? "a database path is required" : "out of memory");
        free(svc);
        return NULL;
    }
    svc->cfg = *cfg;
    svc->cfg.db_path = svc->db_path;
    set_defaults(&svc->cfg);
    pthread_mutex_init(&svc->lock, NULL);
    pthread_cond_init(&svc->stop_cond, NULL);
    pool_inv_init(&svc->inv, svc->cfg.oversub, svc->cfg.strategy);
    pool_quotas_init(&svc->quotas);
    pool_map_init(&svc->allocs);
    pool_map_init(&svc->alloc_keys);
    pool_map_init(&svc->tenants);
    if (cfg->admin_token && cfg->admin_token[0])
        pool_auth_hash(cfg->admin_token, svc->admin_hash);
    if (cfg->join_token && cfg->join_token[0])
        pool_auth_hash(cfg->join_token, svc->join_hash);
    svc->cfg.admin_token = svc->cfg.join_token = NULL;   /* only the hashes are kept */
    if (getrandom(&svc->id_prefix, sizeof svc->id_prefix, 0) != sizeof svc->id_prefix)
        svc->id_prefix = (uint32_t)(pool_now() * 1e6);
    svc->store = pool_store_open(svc->db_path, cfg->sync, err, errlen);
    if (!svc->store || pool_auto_open(svc, err, errlen) != 0) {
        pool_svc_close(svc);
        return NULL;
    }
    struct pool_store_loader ld = {svc, load_pool, load_node, load_quota, load_alloc,
                                   pool_tenant_load};
    if (pool_store_load(svc->store, &ld) != 0) {
        snprintf(err, errlen, "loading %s: %s", svc->db_path, pool_store_error(svc->store));
        pool_svc_close(svc);
        return NULL;
    }
    if (svc->cfg.health_thread && (pool_health_start(svc) != 0 || pool_auto_start(svc) != 0)) {
        snprintf(err, errlen, "cannot start the health checker or autoscaler thread");
        pool_svc_close(svc);
        return NULL;
    }
    return svc;
}

static void free_alloc_entry(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    pool_alloc_free(value);
}

void pool_svc_close(struct pool_svc *svc)
{
    if (!svc)
        return;
    pool_health_stop(svc);
    pool_auto_close(svc);
    pool_store_close(svc->store);
    pool_map_each(&svc->allocs, free_alloc_entry, NULL);
    pool_map_free(&svc->allocs);
    pool_map_free(&svc->alloc_keys);
    pool_tenants_free(svc);
    pool_quotas_free(&svc->quotas);
    pool_inv_free(&svc->inv);
    pthread_cond_destroy(&svc->stop_cond);
    pthread_mutex_destroy(&svc->lock);
    free(svc->db_path);
    free(svc);
}

static int store_error(struct pool_svc *svc, struct pool_error *e)
{
    pool_store_rollback(svc->store);
    pool_err_set(e, 500, POOL_FAIL_STORE);
    snprintf(e->message, sizeof e->message, "store: %s", pool_store_error(svc->store));
    tf_error("pool: %s", e->message);
    return -1;
}

static int refuse(struct pool_error *e, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(struct pool_error *e, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    pool_err_set(e, status, status == 409   ? POOL_FAIL_CONFLICT
                            : status == 500 ? POOL_FAIL_STORE
                                            : POOL_FAIL_INVALID);
    return -1;
}

/* A live node's name or GPUs are its own: only the node itself (proven by its credential) may
 * register them again; a node that stopped heartbeating may be replaced. Lock held. */
static int admit_node(struct pool_svc *svc, const struct pool_node *n,
                      const struct pool_caller *who, bool *proven, struct pool_error *e)
{
    const struct pool_node *old = pool_inv_node(&svc->inv, n->name);
    *proven = who && who->role == POOL_CALLER_NODE && strcmp(who->name, n->name) == 0 && old;
    bool trusted = !who || who->role == POOL_CALLER_ADMIN || who->role == POOL_CALLER_JOIN;
    if (!*proven && !trusted)
        return refuse(e, 403, "registering a node takes the join token or its own credential");
    if (old && !*proven && old->healthy)
        return refuse(e, 409, "node %s is registered and heartbeating: only that node (with its "
                              "credential) may register it again", n->name);
    for (int i = 0; i < svc->inv.nslots; i++) {
        struct pool_node *m = svc->inv.nodes[i];
        if (!m || !m->healthy || strcmp(m->name, n->name) == 0)
            continue;
        for (int d = 0; d < n->ndev; d++)
            if (pool_node_device(m, n->dev[d].uuid))
                return refuse(e, 409, "GPU %s belongs to live node %s", n->dev[d].uuid,
                              m->name);
    }
    if (old && !*proven)
        tf_warn("pool: node %s registers again without its credential: it replaces the "
                "registration that stopped heartbeating", n->name);
    return 0;
}

/* Puts the node in memory and the store as one change: whichever fails undoes the other. */
static int register_locked(struct pool_svc *svc, struct pool_node *n,
                           const struct pool_caller *who, char *cred, struct pool_error *e)
{
    bool proven;
    if (admit_node(svc, n, who, &proven, e) != 0)
        return -1;
    if (proven) {
        memcpy(n->credential_hash, pool_inv_node(&svc->inv, n->name)->credential_hash,
               sizeof n->credential_hash);
    } else {
        if (tf_cred_generate("tfn-", cred, TF_CRED_MAX) != 0)
            return refuse(e, 500, "no randomness for node %s's credential", n->name);
        pool_auth_hash(cred, n->credential_hash);
    }
    struct pool_node *old = pool_inv_node(&svc->inv, n->name);
    bool existed = old != NULL;
    struct pool_node *saved = old ? malloc(sizeof *saved) : NULL;
    if (old && !saved) {
        pool_err_set(e, 500, POOL_FAIL_STORE);
        snprintf(e->message, sizeof e->message, "out of memory");
        return -1;
    }
    if (old)
        *saved = *old;
    if (pool_store_begin(svc->store) || pool_store_put_node(svc->store, n)) {
        free(saved);
        return store_error(svc, e);
    }
    struct pool_node *stored = pool_inv_put_node(&svc->inv, n, e->message, sizeof e->message);
    if (!stored) {
        pool_store_rollback(svc->store);
        free(saved);
        pool_err_set(e, 409, POOL_FAIL_CONFLICT);
        return -1;
    }
    if (pool_store_commit(svc->store)) {
        if (saved) /* the saved copy still has its bookings: restoring it cannot fail on them */
            pool_inv_put_node(&svc->inv, saved, e->message, sizeof e->message);
        else
            pool_inv_remove_node(&svc->inv, n->name);
        free(saved);
        return store_error(svc, e);
    }
    stored->healthy = true;
    stored->last_heartbeat = pool_now();
    free(saved);
    return existed ? 200 : 201;
}

int pool_svc_register_node(struct pool_svc *svc, struct pool_node *n,
                           const struct pool_caller *who, char *cred, struct pool_error *e)
{
    char scratch[TF_CRED_MAX];
    char *out = cred ? cred : scratch;
    out[0] = '\0';
    pthread_mutex_lock(&svc->lock);
    int rc = register_locked(svc, n, who, out, e);
    pthread_mutex_unlock(&svc->lock);
    if (rc < 0)
        out[0] = '\0';
    if (rc > 0)
        tf_info("pool: node %s registered (%d devices, pool %s)", n->name, n->ndev, n->pool);
    return rc;
}

struct vgpu_check {
    const char *node;
    const struct pool_heartbeat *hb;
};

static bool reported(const struct pool_heartbeat *hb, const char *id)
{
    for (int i = 0; i < hb->nvgpus; i++)
        if (strcmp(hb->vgpus[i], id) == 0)
            return true;
    return false;
}

/* An active allocation of the node whose vGPU the node no longer reports is counted missing
 * (twice in a row: a heartbeat the node sent before a create was answered must not count). */
static void check_alloc_vgpus(const char *key, void *value, void *arg)
{
    (void)key;
    struct vgpu_check *c = arg;
    struct pool_alloc *a = value;
    if (strcmp(a->node, c->node) != 0 || a->status != POOL_ALLOC_ACTIVE || a->releasing)
        return;
    bool all = true;
    for (int i = 0; i < a->ndev && all; i++)
        all = reported(c->hb, a->dev[i].vgpu_id);
    if (all) {
        if (a->missing_beats >= 2)
            tf_info("pool: node %s has allocation %s's vGPUs again", c->node, a->id);
        a->missing_beats = 0;
    } else if (++a->missing_beats == 2) {
        tf_warn("pool: node %s no longer has a vGPU of allocation %s: reported lost (release "
                "it)", c->node, a->id);
    }
}

int pool_svc_heartbeat(struct pool_svc *svc, const char *name, const struct pool_heartbeat *hb,
                       struct pool_error *e)
{
    pthread_mutex_lock(&svc->lock);
    struct pool_node *n = pool_inv_node(&svc->inv, name);
    int rc = 0;
    if (!n) {
        pool_err_set(e, 404, POOL_FAIL_INVALID);
        snprintf(e->message, sizeof e->message, "node %s is not registered: register first", name);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < hb->ndev; i++)
        if (!pool_node_device(n, hb->dev[i].uuid)) {
            pool_err_set(e, 400, POOL_FAIL_INVALID);
            snprintf(e->message, sizeof e->message, "node %s has no device %s", name,
                     hb->dev[i].uuid);
            rc = -1;
        }
    /* Usage is informational and refreshed every few seconds: it stays in memory, so a cluster
     * of heartbeats does not turn into a stream of fsyncs. Health is not persisted either: a
     * restarted pool gives every node one timeout to report in. */
    if (rc == 0) {
        for (int i = 0; i < hb->ndev; i++) {
            struct pool_device *d = pool_node_device(n, hb->dev[i].uuid);
            d->used_bytes = hb->dev[i].used_bytes;
            d->util_pct = hb->dev[i].util_pct;
        }
        if (!n->healthy)
            tf_info("pool: node %s is back (heartbeat)", name);
        n->healthy = true;
        n->last_heartbeat = pool_now();
        if (hb->has_vgpus)
            pool_map_each(&svc->allocs, check_alloc_vgpus,
                          &(struct vgpu_check){.node = name, .hb = hb});
        pool_usage_heartbeat_locked(svc, name, hb);
    }
    pthread_mutex_unlock(&svc->lock);
    return rc;
}

int pool_svc_remove_node(struct pool_svc *svc, const char *name, struct pool_error *e)
{
    pthread_mutex_lock(&svc->lock);
    int rc = 0;
    if (!pool_inv_node(&svc->inv, name)) {
        pool_err_set(e, 404, POOL_FAIL_INVALID);
        snprintf(e->message, sizeof e->message, "no node %s", name);
        rc = -1;
    } else if (pool_store_begin(svc->store) || pool_alloc_release_node(svc, name) ||
               pool_store_del_node(svc->store, name) || pool_store_commit(svc->store)) {
        rc = store_error(svc, e);
    } else {
        pool_inv_remove_node(&svc->inv, name);
    }
    pthread_mutex_unlock(&svc->lock);
    return rc;
}

int pool_svc_set_quota(struct pool_svc *svc, const struct pool_quota *limits, struct pool_error *e)
{
    pthread_mutex_lock(&svc->lock);
    int rc = 0;
    if (pool_store_begin(svc->store) || pool_store_put_quota(svc->store, limits))
        rc = store_error(svc, e);
    else if (!pool_quota_set_limits(&svc->quotas, limits)) {
        pool_store_rollback(svc->store);
        pool_err_set(e, 500, POOL_FAIL_STORE);
        snprintf(e->message, sizeof e->message, "out of memory");
        rc = -1;
    } else if (pool_store_commit(svc->store))
        rc = store_error(svc, e); /* memory now ahead of disk until the next write: logged */
    pthread_mutex_unlock(&svc->lock);
    return rc;
}

int pool_svc_set_pool(struct pool_svc *svc, const struct pool_def *def, struct pool_error *e)
{
    pthread_mutex_lock(&svc->lock);
    int rc = 0;
    if (pool_store_begin(svc->store) || pool_store_put_pool(svc->store, def) ||
        pool_store_commit(svc->store))
        rc = store_error(svc, e);
    else if (!pool_inv_set_pool(&svc->inv, def)) {
        pool_err_set(e, 500, POOL_FAIL_STORE);
        snprintf(e->message, sizeof e->message, "out of memory");
        rc = -1;
    }
    pthread_mutex_unlock(&svc->lock);
    return rc;
}

struct pool_def pool_svc_pool(struct pool_svc *svc, const char *name)
{
    pthread_mutex_lock(&svc->lock);
    struct pool_def d = pool_inv_pool(&svc->inv, name);
    pthread_mutex_unlock(&svc->lock);
    return d;
}

int pool_svc_check_health(struct pool_svc *svc, double now)
{
    int changed = 0;
    pthread_mutex_lock(&svc->lock);
    for (int i = 0; i < svc->inv.nslots; i++) {
        struct pool_node *n = svc->inv.nodes[i];
        if (!n || !n->healthy || now - n->last_heartbeat <= svc->cfg.heartbeat_timeout_s)
            continue;
        n->healthy = false;
        changed++;
        tf_warn("pool: node %s missed heartbeats for %.1f s: unhealthy, its allocations are lost",
                n->name, now - n->last_heartbeat);
    }
    pthread_mutex_unlock(&svc->lock);
    return changed;
}

void pool_svc_count_failure(struct pool_svc *svc, enum pool_fail_reason reason)
{
    pthread_mutex_lock(&svc->lock);
    if ((unsigned)reason < POOL_FAIL_COUNT)
        svc->metrics.failures[reason]++;
    pthread_mutex_unlock(&svc->lock);
}
