/*
 * Who may call the pool (docs/pool-api.md, "Authentication"): the admin, tenants and nodes
 * present bearer credentials; the pool keeps only their SHA-256 and compares digests in
 * constant time, scanning every credential whatever matched. Tenants with credentials are
 * created, rotated and deleted here (by the admin, through the HTTP layer), persisted in the
 * store's tenants table. Calls pool_store, pool_quota, pool_map, src/proto (SHA-256),
 * src/common/credfile.h, jansson, pthreads and the log.
 */
#include "pool_svc_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "proto.h"
#include "credfile.h"

void pool_auth_hash(const char *token, char hex[POOL_HASH_HEX])
{
    uint8_t d[32];
    tfp_sha256(token, strlen(token), d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

bool pool_auth_matches(const char *caller_hash, const char *hex)
{
    /* Both are 64 hex digits or hex is "" (no credential): the length test leaks nothing. */
    return hex[0] && strlen(hex) == POOL_HASH_HEX - 1 &&
           tf_cred_equal(caller_hash, hex, POOL_HASH_HEX - 1);
}

static bool usable_bearer(const char *bearer)
{
    return bearer && bearer[0] && strlen(bearer) < TF_CRED_MAX;
}

struct tenant_scan {
    const char *hash;
    const struct pool_tenant *found;
};

static void scan_tenant(const char *key, void *value, void *arg)
{
    (void)key;
    struct tenant_scan *s = arg;
    const struct pool_tenant *t = value;
    if (pool_auth_matches(s->hash, t->token_hash))   /* no early exit: every tenant compared */
        s->found = t;
}

struct pool_caller pool_svc_authenticate(struct pool_svc *svc, const char *bearer)
{
    struct pool_caller c = {.role = POOL_CALLER_NONE};
    if (!usable_bearer(bearer))
        return c;
    char hash[POOL_HASH_HEX];
    pool_auth_hash(bearer, hash);
    pthread_mutex_lock(&svc->lock);
    bool admin = pool_auth_matches(hash, svc->admin_hash);
    bool join = pool_auth_matches(hash, svc->join_hash);
    struct tenant_scan s = {hash, NULL};
    pool_map_each(&svc->tenants, scan_tenant, &s);
    if (admin)
        c.role = POOL_CALLER_ADMIN;
    else if (join)
        c.role = POOL_CALLER_JOIN;
    else if (s.found) {
        c.role = POOL_CALLER_TENANT;
        snprintf(c.name, sizeof c.name, "%s", s.found->name);
    }
    pthread_mutex_unlock(&svc->lock);
    return c;
}

bool pool_svc_node_authenticated(struct pool_svc *svc, const char *node, const char *bearer)
{
    if (!usable_bearer(bearer))
        return false;
    char hash[POOL_HASH_HEX];
    pool_auth_hash(bearer, hash);
    pthread_mutex_lock(&svc->lock);
    const struct pool_node *n = pool_inv_node(&svc->inv, node);
    bool ok = n && pool_auth_matches(hash, n->credential_hash);
    pthread_mutex_unlock(&svc->lock);
    return ok;
}

/* ---- tenants ------------------------------------------------------------------------------ */

int pool_tenant_load(void *arg, const struct pool_tenant *t)
{
    struct pool_svc *svc = arg;
    struct pool_tenant *copy = malloc(sizeof *copy);
    if (!copy)
        return -1;
    *copy = *t;
    free(pool_map_del(&svc->tenants, t->name));
    if (!pool_map_put(&svc->tenants, copy->name, copy)) {
        free(copy);
        return -1;
    }
    return 0;
}

static void free_tenant(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void pool_tenants_free(struct pool_svc *svc)
{
    pool_map_each(&svc->tenants, free_tenant, NULL);
    pool_map_free(&svc->tenants);
}

#define fail(e, status, r, ...) (pool_fail(e, status, r, __VA_ARGS__), -1)

static int store_fail(struct pool_svc *svc, struct pool_error *e)
{
    pool_store_rollback(svc->store);
    pool_err_set(e, 500, POOL_FAIL_STORE);
    snprintf(e->message, sizeof e->message, "store: %s", pool_store_error(svc->store));
    tf_error("pool: %s", e->message);
    return -1;
}

/* Stores t (and the limits q when given) in one transaction, then in memory. Lock held. */
static int save_tenant(struct pool_svc *svc, const struct pool_tenant *t,
                       const struct pool_quota *q, struct pool_error *e)
{
    if (pool_store_begin(svc->store) || pool_store_put_tenant(svc->store, t) ||
        (q && pool_store_put_quota(svc->store, q)) || pool_store_commit(svc->store))
        return store_fail(svc, e);
    if (pool_tenant_load(svc, t) != 0 || (q && !pool_quota_set_limits(&svc->quotas, q)))
        return fail(e, 500, POOL_FAIL_STORE, "out of memory (tenant %s)", t->name);
    return 0;
}

static int new_token(struct pool_tenant *t, char *token, struct pool_error *e)
{
    if (tf_cred_generate("tft-", token, TF_CRED_MAX) != 0)
        return fail(e, 500, POOL_FAIL_STORE, "no randomness for tenant %s's token", t->name);
    pool_auth_hash(token, t->token_hash);
    return 0;
}

int pool_svc_create_tenant(struct pool_svc *svc, const char *name, const struct pool_quota *q,
                           char *token, struct pool_error *e)
{
    struct pool_tenant t = {.created_unix = (int64_t)time(NULL)};
    if (!pool_valid_name(name, sizeof t.name))
        return fail(e, 400, POOL_FAIL_INVALID,
                    "tenant names are 1-63 characters of [A-Za-z0-9._:-]");
    snprintf(t.name, sizeof t.name, "%s", name);
    pthread_mutex_lock(&svc->lock);
    int rc = 0;
    if (pool_map_get(&svc->tenants, name))
        rc = fail(e, 409, POOL_FAIL_CONFLICT,
                  "tenant %s exists: rotate its credential to get a new one", name);
    else
        rc = new_token(&t, token, e) || save_tenant(svc, &t, q, e) ? -1 : 0;
    pthread_mutex_unlock(&svc->lock);
    if (rc == 0)
        tf_info("pool: tenant %s created", name);
    return rc;
}

int pool_svc_rotate_tenant(struct pool_svc *svc, const char *name, char *token,
                           struct pool_error *e)
{
    pthread_mutex_lock(&svc->lock);
    const struct pool_tenant *old = pool_map_get(&svc->tenants, name);
    struct pool_tenant t = old ? *old : (struct pool_tenant){0};
    int rc = !old ? fail(e, 404, POOL_FAIL_INVALID, "no tenant %s", name)
                  : new_token(&t, token, e) || save_tenant(svc, &t, NULL, e) ? -1 : 0;
    pthread_mutex_unlock(&svc->lock);
    if (rc == 0)
        tf_info("pool: tenant %s has a new credential (the old one no longer works)", name);
    return rc;
}

int pool_svc_delete_tenant(struct pool_svc *svc, const char *name, struct pool_error *e)
{
    pthread_mutex_lock(&svc->lock);
    const struct pool_quota *q = pool_quota_get(&svc->quotas, name, false);
    int rc = 0;
    if (!pool_map_get(&svc->tenants, name))
        rc = fail(e, 404, POOL_FAIL_INVALID, "no tenant %s", name);
    else if (q && q->used_vgpus > 0)
        rc = fail(e, 409, POOL_FAIL_CONFLICT,
                  "tenant %s still has allocations: release them first", name);
    else if (pool_store_begin(svc->store) || pool_store_del_tenant(svc->store, name) ||
             pool_store_commit(svc->store))
        rc = store_fail(svc, e);
    else
        free(pool_map_del(&svc->tenants, name));
    pthread_mutex_unlock(&svc->lock);
    if (rc == 0)
        tf_info("pool: tenant %s deleted (its credential no longer works)", name);
    return rc;
}

static json_t *tenant_view(const struct pool_tenant *t)
{
    return json_pack("{s:s, s:I}", "name", t->name, "created_unix", (json_int_t)t->created_unix);
}

static void add_tenant(const char *key, void *value, void *arg)
{
    (void)key;
    json_array_append_new(arg, tenant_view(value));
}

json_t *pool_svc_tenants_json(struct pool_svc *svc)
{
    json_t *a = json_array();
    pthread_mutex_lock(&svc->lock);
    pool_map_each(&svc->tenants, add_tenant, a);
    pthread_mutex_unlock(&svc->lock);
    return json_pack("{s:o}", "tenants", a);
}

json_t *pool_svc_tenant_json(struct pool_svc *svc, const char *name)
{
    pthread_mutex_lock(&svc->lock);
    const struct pool_tenant *t = pool_map_get(&svc->tenants, name);
    json_t *o = t ? tenant_view(t) : NULL;
    pthread_mutex_unlock(&svc->lock);
    return o;
}
