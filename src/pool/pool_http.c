/*
 * HTTP routes of the pool (see pool_http.h and docs/pool-api.md). Request bodies are collected
 * into a per-request buffer (declared Content-Length over the limit is refused before reading
 * it; a body that turns out larger is drained and refused), then decoded strictly and handed
 * to the service. Every route but /healthz needs a bearer credential: the caller (admin,
 * tenant, join token, node) is resolved once per request and each route says whom it serves;
 * no credential or an unknown one is 401, a known one on a route not its own 403, and another
 * tenant's allocation 404 like one that does not exist. Calls pool_svc, pool_req,
 * libmicrohttpd, jansson and libc.
 */
#include "pool_http.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fdlimit.h"
#include "mhdtls.h"
#include "pool_req.h"
#include "credfile.h"

struct pool_http {
    struct MHD_Daemon *daemon;
    struct pool_svc *svc;
    uint16_t port;
};

struct request {
    char *body;
    size_t len, max;
    bool too_large;
};

/* The largest body a path may bring: a node's heartbeat carries every vGPU's usage. */
static size_t body_max(const char *url)
{
    size_t n = strlen(url), k = strlen("/heartbeat");
    return n > k && strcmp(url + n - k, "/heartbeat") == 0 ? POOL_HEARTBEAT_BODY_MAX
                                                           : POOL_BODY_MAX;
}

/* ---- responses ---------------------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
                                 const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends (and releases) a JSON value. */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!text)
        return send_text(c, 500, "application/json",
                         "{\"error\":\"internal\",\"message\":\"out of memory\"}");
    enum MHD_Result ret = send_text(c, status, "application/json", text);
    free(text);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *reason,
                                  const char *message)
{
    return send_json(c, status, json_pack("{s:s, s:s}", "error", reason, "message", message));
}

static enum MHD_Result send_pool_error(struct MHD_Connection *c, const struct pool_error *e)
{
    return send_error(c, (unsigned)e->status, pool_fail_reason_name(e->reason), e->message);
}

static enum MHD_Result send_empty(struct MHD_Connection *c, unsigned status)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- routing ------------------------------------------------------------------------------ */

struct route_ctx {
    struct pool_http *h;
    struct MHD_Connection *c;
    const char *method;
    const char *body;
    size_t len;
    const char *seg[6];                 /* path segments after /api/v1 */
    int nseg;
    const char *bearer;                 /* the Authorization header's token, NULL: none */
    struct pool_caller who;
};

static bool is(const struct route_ctx *r, const char *method)
{
    return strcmp(r->method, method) == 0;
}

/* 200 with the object v, or 404 with `missing` when there is no such thing (v is NULL). */
static enum MHD_Result send_found(struct MHD_Connection *c, json_t *v, const char *missing)
{
    return v ? send_json(c, 200, v) : send_error(c, 404, "invalid", missing);
}

/* The answer to a change with no body: 204 when the service call (rc) succeeded, else its error. */
static enum MHD_Result send_done(struct MHD_Connection *c, int rc, const struct pool_error *e)
{
    return rc ? send_pool_error(c, e) : send_empty(c, 204);
}

/* No credential, or one the pool does not know: 401 with the scheme to use. A known caller on
 * a route that is not its own: 403. */
static enum MHD_Result deny(struct route_ctx *r)
{
    if (r->who.role != POOL_CALLER_NONE)
        return send_error(r->c, 403, "forbidden", "this credential may not call this route");
    json_t *v = json_pack("{s:s, s:s}", "error", "unauthorized", "message",
                          "this route needs Authorization: Bearer <credential>");
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    struct MHD_Response *resp =
        text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"tfuse-pool\"");
    enum MHD_Result ret = MHD_queue_response(r->c, 401, resp);
    MHD_destroy_response(resp);
    return ret;
}

static bool admin(const struct route_ctx *r)
{
    return r->who.role == POOL_CALLER_ADMIN;
}

static bool tenant(const struct route_ctx *r)
{
    return r->who.role == POOL_CALLER_TENANT;
}

static enum MHD_Result bad_method(struct route_ctx *r)
{
    return send_error(r->c, 405, "invalid", "method not allowed on this path");
}

static enum MHD_Result bad_body(struct route_ctx *r, const char *msg)
{
    pool_svc_count_failure(r->h->svc, POOL_FAIL_INVALID);
    return send_error(r->c, 400, "invalid", msg);
}

/* The allocation's owner as the service sees it: a tenant is one, the admin sees all. */
static const char *owner(const struct route_ctx *r)
{
    return tenant(r) ? r->who.name : NULL;
}

static enum MHD_Result allocate(struct route_ctx *r)
{
    struct pool_alloc_req req;
    struct pool_error e = {0};
    char err[512];
    if (pool_req_decode_alloc(r->body, r->len, &req, err, sizeof err))
        return bad_body(r, err);
    if (tenant(r) && req.tenant[0] && strcmp(req.tenant, r->who.name) != 0)
        return send_error(r->c, 403, "forbidden", "a tenant allocates for itself only");
    if (!req.tenant[0]) /* a tenant's own; the admin's default tenant */
        snprintf(req.tenant, sizeof req.tenant, "%s", tenant(r) ? r->who.name : "default");
    json_t *out;
    int rc = pool_svc_allocate(r->h->svc, &req, &out, &e);
    return rc < 0 ? send_pool_error(r->c, &e) : send_json(r->c, (unsigned)rc, out);
}

/* PATCH /api/v1/allocations/{id}: a live resize; a tenant resizes its own only. */
static enum MHD_Result resize(struct route_ctx *r)
{
    struct pool_resize_req rq;
    struct pool_error e = {0};
    char err[512];
    if (pool_req_decode_resize(r->body, r->len, &rq, err, sizeof err))
        return bad_body(r, err);
    json_t *out;
    int rc = pool_svc_resize(r->h->svc, r->seg[1], owner(r), &rq, &out, &e);
    return rc < 0 ? send_pool_error(r->c, &e) : send_json(r->c, 200, out);
}

static enum MHD_Result route_allocations(struct route_ctx *r)
{
    struct pool_svc *svc = r->h->svc;
    struct pool_error e = {0};
    if (!admin(r) && !tenant(r))
        return deny(r);
    if (r->nseg == 1 && is(r, "POST"))
        return allocate(r);
    if (r->nseg == 1 && is(r, "GET")) {
        const char *t = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "tenant");
        if (tenant(r) && t && strcmp(t, r->who.name) != 0)
            return send_json(r->c, 200, json_pack("{s:[]}", "allocations"));
        return send_json(r->c, 200, pool_svc_allocations_json(svc, tenant(r) ? r->who.name : t,
                                                              tenant(r)));
    }
    if (r->nseg == 1)
        return bad_method(r);
    if (r->nseg != 2)
        return send_error(r->c, 404, "invalid", "no such path");
    if (is(r, "GET"))
        return send_found(r->c, pool_svc_allocation_json(svc, r->seg[1], owner(r)),
                          "no such allocation");
    if (is(r, "DELETE"))
        return send_done(r->c, pool_svc_release(svc, r->seg[1], owner(r), &e), &e);
    if (is(r, "PATCH"))
        return resize(r);
    return bad_method(r);
}

/* ---- usage history, recommendations, modes and auto mode (docs/autoscale.md) ---------- */

/* GET /api/v1/workloads/{tenant}/{name}/chart[?from_ms=&to_ms=|hours=&columns=]: the columns
 * of its history `tfuse pool plot` draws (pool_chart.c); by default the last 24 hours in 600. */
static enum MHD_Result route_chart(struct route_ctx *r, const char *w)
{
    if (!is(r, "GET"))
        return bad_method(r);
    static const char *const names[] = {"to_ms", "hours", "from_ms", "columns"};
    long long v[4] = {pool_svc_now_ms(r->h->svc), 24, 0, 600};
    for (int i = 0; i < 4; i++) {
        const char *a = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, names[i]);
        char *end = NULL;
        if (i == 2 && !a)
            v[2] = v[0] - (v[1] > 0 && v[1] <= 90 * 24 ? v[1] : 0) * 3600000;
        else if (a && (v[i] = strtoll(a, &end, 10), *end || end == a))
            return bad_body(r, "to_ms, hours, from_ms and columns are integers");
    }
    struct pool_error e = {0};
    json_t *o = pool_svc_chart_json(r->h->svc, w, owner(r), v[2], v[0],
                                    v[3] > 0 && v[3] <= INT32_MAX ? (int)v[3] : 0, &e);
    return o ? send_json(r->c, 200, o) : send_pool_error(r->c, &e);
}

/* /api/v1/workloads/{tenant}/{name}[/mode]: GET its recommendation, PUT its mode. A tenant
 * reaches only its own (another's reads as absent). */
static enum MHD_Result route_workloads(struct route_ctx *r)
{
    struct pool_svc *svc = r->h->svc;
    if (!admin(r) && !tenant(r))
        return deny(r);
    if (r->nseg == 4 && strcmp(r->seg[3], "chart") == 0) {
        char cw[POOL_WORKLOAD_MAX];
        snprintf(cw, sizeof cw, "%s/%s", r->seg[1], r->seg[2]);
        return route_chart(r, cw);
    }
    if (r->nseg < 3 || r->nseg > 4 || (r->nseg == 4 && strcmp(r->seg[3], "mode") != 0))
        return send_error(r->c, 404, "invalid", "no such path: /api/v1/workloads/TENANT/NAME"
                                                "[/mode|/chart]");
    char w[POOL_WORKLOAD_MAX];
    snprintf(w, sizeof w, "%s/%s", r->seg[1], r->seg[2]);
    if (is(r, "GET"))
        return send_found(r->c, pool_svc_workload_json(svc, w, owner(r)), "no such workload");
    if (r->nseg != 4 || !is(r, "PUT"))
        return bad_method(r);
    struct pool_mode_req m;
    struct pool_error e = {0};
    char err[512], who[POOL_NAME_MAX + 8];
    if (pool_req_decode_mode(r->body, r->len, &m, err, sizeof err))
        return bad_body(r, err);
    snprintf(who, sizeof who, "%s%s", tenant(r) ? "tenant:" : "admin", tenant(r) ? r->who.name
                                                                                : "");
    if (pool_svc_set_mode(svc, w, owner(r), &m, who, &e))
        return send_pool_error(r->c, &e);
    return send_found(r->c, pool_svc_workload_json(svc, w, owner(r)), "no such workload");
}

/* GET /api/v1/events[?workload=W&limit=N]: auto mode's changes and mode changes, newest
 * first; a tenant sees its own workloads' only. */
static enum MHD_Result route_events(struct route_ctx *r)
{
    if (!admin(r) && !tenant(r))
        return deny(r);
    if (r->nseg != 1)
        return send_error(r->c, 404, "invalid", "no such path");
    if (!is(r, "GET"))
        return bad_method(r);
    const char *w = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "workload");
    const char *lim = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "limit");
    char *end = NULL;
    long limit = lim ? strtol(lim, &end, 10) : 100;
    if (lim && (*end || limit < 1 || limit > 1000))
        return bad_body(r, "limit must be 1..1000");
    return send_json(r->c, 200, pool_svc_events_json(r->h->svc, owner(r), w, (int)limit));
}

/* POST /api/v1/autoscale: one pass of auto mode now (admin). POST /api/v1/test/clock
 * {"advance_ms": N}: moves a test clock (serve --test-clock) forward. */
static enum MHD_Result route_autoscale(struct route_ctx *r, bool clock)
{
    if (!admin(r))
        return deny(r);
    if (r->nseg != (clock ? 2 : 1) || (clock && strcmp(r->seg[1], "clock") != 0))
        return send_error(r->c, 404, "invalid", "no such path");
    if (!is(r, "POST"))
        return bad_method(r);
    if (!clock)
        return send_json(r->c, 200, pool_svc_autoscale(r->h->svc));
    json_t *b = json_loadb(r->body, r->len, 0, NULL);
    json_t *ms = json_object_get(b, "advance_ms");
    json_int_t v = json_is_integer(ms) ? json_integer_value(ms) : -1;
    json_decref(b);
    if (v < 0)
        return bad_body(r, "body must be {\"advance_ms\": N >= 0}");
    if (pool_svc_clock_advance(r->h->svc, v))
        return send_error(r->c, 404, "invalid", "this pool has no test clock (serve "
                                                "--test-clock)");
    return send_json(r->c, 200, json_pack("{s:I}", "now_ms",
                                          (json_int_t)pool_svc_now_ms(r->h->svc)));
}

/* POST /api/v1/placements: a dry run of an allocation (pool_svc_dry_run); a tenant asks for
 * itself, the admin for any tenant. */
static enum MHD_Result route_placements(struct route_ctx *r)
{
    if (!admin(r) && !tenant(r))
        return deny(r);
    if (r->nseg != 1)
        return send_error(r->c, 404, "invalid", "no such path");
    if (!is(r, "POST"))
        return bad_method(r);
    struct pool_alloc_req req;
    char(*nodes)[POOL_NAME_MAX];
    int nnodes;
    char err[512];
    if (pool_req_decode_dry_run(r->body, r->len, &req, &nodes, &nnodes, err, sizeof err))
        return bad_body(r, err);
    if (tenant(r) && req.tenant[0] && strcmp(req.tenant, r->who.name) != 0) {
        free(nodes);
        return send_error(r->c, 403, "forbidden", "a tenant asks for itself only");
    }
    if (!req.tenant[0])
        snprintf(req.tenant, sizeof req.tenant, "%s", tenant(r) ? r->who.name : "default");
    json_t *out = pool_svc_dry_run(r->h->svc, &req, nodes, nnodes);
    free(nodes);
    return out ? send_json(r->c, 200, out) : send_error(r->c, 500, "store", "out of memory");
}

/* POST /api/v1/nodes: the join token (or the admin) registers a new node; a registered node
 * registers again with its own credential. The answer carries a credential when one was
 * issued: the only time the pool ever shows it. */
static enum MHD_Result register_node(struct route_ctx *r)
{
    struct pool_svc *svc = r->h->svc;
    struct pool_error e = {0};
    char err[512], cred[TF_CRED_MAX];
    if (tenant(r))
        return deny(r);
    struct pool_node *n = calloc(1, sizeof *n);
    if (!n)
        return send_error(r->c, 500, "internal", "out of memory");
    if (pool_req_decode_node(r->body, r->len, n, err, sizeof err)) {
        free(n);
        return r->who.role == POOL_CALLER_NONE ? deny(r) : send_error(r->c, 400, "invalid", err);
    }
    if (r->who.role == POOL_CALLER_NONE && pool_svc_node_authenticated(svc, n->name, r->bearer)) {
        r->who.role = POOL_CALLER_NODE;
        snprintf(r->who.name, sizeof r->who.name, "%s", n->name);
    }
    if (r->who.role == POOL_CALLER_NONE) {
        free(n);
        return deny(r);
    }
    int rc = pool_svc_register_node(svc, n, &r->who, cred, &e);
    json_t *view = rc > 0 ? pool_svc_node_json(svc, n->name) : NULL;
    free(n);
    if (rc < 0)
        return send_pool_error(r->c, &e);
    if (view && cred[0])
        json_object_set_new(view, "credential", json_string(cred));
    return send_json(r->c, (unsigned)rc, view);
}

/* A node's own routes: its heartbeat and its expected vGPUs, with its credential. */
static bool node_itself(struct route_ctx *r)
{
    if (r->who.role == POOL_CALLER_NONE &&
        pool_svc_node_authenticated(r->h->svc, r->seg[1], r->bearer)) {
        r->who.role = POOL_CALLER_NODE;
        snprintf(r->who.name, sizeof r->who.name, "%s", r->seg[1]);
    }
    return r->who.role == POOL_CALLER_NODE && strcmp(r->who.name, r->seg[1]) == 0;
}

static enum MHD_Result route_node_own(struct route_ctx *r)
{
    struct pool_svc *svc = r->h->svc;
    struct pool_error e = {0};
    char err[512];
    bool self = node_itself(r);
    if (strcmp(r->seg[2], "vgpus") == 0) {
        if (!self && !admin(r))
            return deny(r);
        if (!is(r, "GET"))
            return bad_method(r);
        return send_found(r->c, pool_svc_node_vgpus_json(svc, r->seg[1]), "no such node");
    }
    if (!self)
        return deny(r);
    if (!is(r, "POST"))
        return bad_method(r);
    struct pool_heartbeat hb;
    if (pool_req_decode_heartbeat(r->body, r->len, &hb, err, sizeof err))
        return send_error(r->c, 400, "invalid", err);
    int rc = pool_svc_heartbeat(svc, r->seg[1], &hb, &e);
    pool_req_free_heartbeat(&hb);
    return send_done(r->c, rc, &e);
}

static enum MHD_Result route_nodes(struct route_ctx *r)
{
    struct pool_svc *svc = r->h->svc;
    struct pool_error e = {0};
    if (r->nseg == 1 && is(r, "POST"))
        return register_node(r);
    if (r->nseg == 3 && (strcmp(r->seg[2], "vgpus") == 0 || strcmp(r->seg[2], "heartbeat") == 0))
        return route_node_own(r);
    if (!admin(r))
        return deny(r);
    if (r->nseg == 1)
        return is(r, "GET") ? send_json(r->c, 200, pool_svc_nodes_json(svc)) : bad_method(r);
    if (r->nseg != 2)
        return send_error(r->c, 404, "invalid", "no such path");
    if (is(r, "GET")) {
        json_t *n = pool_svc_node_json(svc, r->seg[1]);
        return send_found(r->c, n, "no such node");
    }
    if (is(r, "DELETE"))
        return send_done(r->c, pool_svc_remove_node(svc, r->seg[1], &e), &e);
    return bad_method(r);
}

/* A tenant sees its own quota only: the list holds it alone, another's is 404. */
static enum MHD_Result route_quotas(struct route_ctx *r)
{
    struct pool_svc *svc = r->h->svc;
    struct pool_error e = {0};
    char err[512];
    if (!admin(r) && !tenant(r))
        return deny(r);
    if (r->nseg == 1 && is(r, "GET") && tenant(r)) {
        json_t *own = pool_svc_quota_json(svc, r->who.name), *list = json_array();
        if (own)
            json_array_append_new(list, own);
        return send_json(r->c, 200, json_pack("{s:o}", "quotas", list));
    }
    if (r->nseg == 1)
        return is(r, "GET") ? send_json(r->c, 200, pool_svc_quotas_json(svc)) : bad_method(r);
    if (r->nseg != 2)
        return send_error(r->c, 404, "invalid", "no such path");
    if (is(r, "GET")) {
        bool mine = admin(r) || strcmp(r->seg[1], r->who.name) == 0;
        json_t *q = mine ? pool_svc_quota_json(svc, r->seg[1]) : NULL;
        return send_found(r->c, q, "tenant has no quota and no allocations");
    }
    if (!is(r, "PUT"))
        return bad_method(r);
    if (!admin(r))
        return deny(r);
    if (!pool_valid_name(r->seg[1], POOL_NAME_MAX))
        return send_error(r->c, 400, "invalid", "tenant names are 1-63 characters");
    struct pool_quota q = {0};
    snprintf(q.tenant, sizeof q.tenant, "%s", r->seg[1]);
    if (pool_req_decode_quota(r->body, r->len, &q, err, sizeof err))
        return send_error(r->c, 400, "invalid", err);
    if (pool_svc_set_quota(svc, &q, &e))
        return send_pool_error(r->c, &e);
    return send_json(r->c, 200, pool_svc_quota_json(svc, r->seg[1]));
}

static enum MHD_Result route_pools(struct route_ctx *r)
{
    struct pool_svc *svc = r->h->svc;
    struct pool_error e = {0};
    char err[512];
    if (!admin(r) && !tenant(r))
        return deny(r);
    if (r->nseg != 2)
        return send_error(r->c, 404, "invalid", "no such path");
    if (!pool_valid_name(r->seg[1], POOL_NAME_MAX))
        return send_error(r->c, 400, "invalid", "pool names are 1-63 characters");
    if (is(r, "GET"))
        return send_json(r->c, 200, pool_svc_pool_json(svc, r->seg[1]));
    if (!is(r, "PUT"))
        return bad_method(r);
    if (!admin(r))
        return deny(r);
    struct pool_def d = pool_svc_pool(svc, r->seg[1]);
    if (pool_req_decode_pool(r->body, r->len, &d, err, sizeof err))
        return send_error(r->c, 400, "invalid", err);
    if (pool_svc_set_pool(svc, &d, &e))
        return send_pool_error(r->c, &e);
    return send_json(r->c, 200, pool_svc_pool_json(svc, r->seg[1]));
}

/* The answer that shows a tenant's new token, once. */
static enum MHD_Result send_token(struct route_ctx *r, unsigned status, const char *name,
                                  const char *token)
{
    json_t *v = pool_svc_tenant_json(r->h->svc, name);
    if (v)
        json_object_set_new(v, "token", json_string(token));
    return send_json(r->c, status, v);
}

/* Tenants with credentials: the admin's alone. POST /tenants/{name} creates one (the body, if
 * any, its quota), POST /tenants/{name}/token rotates its credential. */
static enum MHD_Result route_tenants(struct route_ctx *r)
{
    struct pool_svc *svc = r->h->svc;
    struct pool_error e = {0};
    char err[512], token[TF_CRED_MAX];
    if (!admin(r))
        return deny(r);
    if (r->nseg == 1)
        return is(r, "GET") ? send_json(r->c, 200, pool_svc_tenants_json(svc)) : bad_method(r);
    const char *name = r->seg[1];
    if (r->nseg == 3 && strcmp(r->seg[2], "token") == 0) {
        if (!is(r, "POST"))
            return bad_method(r);
        if (pool_svc_rotate_tenant(svc, name, token, &e))
            return send_pool_error(r->c, &e);
        return send_token(r, 200, name, token);
    }
    if (r->nseg != 2)
        return send_error(r->c, 404, "invalid", "no such path");
    if (is(r, "GET"))
        return send_found(r->c, pool_svc_tenant_json(svc, name), "no such tenant");
    if (is(r, "DELETE"))
        return send_done(r->c, pool_svc_delete_tenant(svc, name, &e), &e);
    if (!is(r, "POST"))
        return bad_method(r);
    struct pool_quota q = {0};
    snprintf(q.tenant, sizeof q.tenant, "%s", name);
    if (r->len && pool_req_decode_quota(r->body, r->len, &q, err, sizeof err))
        return send_error(r->c, 400, "invalid", err);
    if (pool_svc_create_tenant(svc, name, r->len ? &q : NULL, token, &e))
        return send_pool_error(r->c, &e);
    return send_token(r, 201, name, token);
}

/* The token of "Authorization: Bearer TOKEN" (scheme case-insensitive), NULL otherwise. */
static const char *bearer_of(struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

/* Splits "/api/v1/a/b/c" into segments; each must be a valid name. */
static int split_path(struct route_ctx *r, char *path)
{
    const char *prefix = "/api/v1/";
    if (strncmp(path, prefix, strlen(prefix)) != 0)
        return -1;
    char *save = NULL;
    for (char *s = strtok_r(path + strlen(prefix), "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        if (r->nseg == (int)(sizeof r->seg / sizeof *r->seg) || !pool_valid_name(s, POOL_KEY_MAX))
            return -2;
        r->seg[r->nseg++] = s;
    }
    return r->nseg ? 0 : -1;
}

static enum MHD_Result route(struct route_ctx *r, const char *url)
{
    if (strcmp(url, "/healthz") == 0)
        return send_json(r->c, 200, json_pack("{s:s}", "status", "ok"));
    r->bearer = bearer_of(r->c);
    r->who = pool_svc_authenticate(r->h->svc, r->bearer);
    if (strcmp(url, "/metrics") == 0) {
        if (!admin(r))
            return deny(r);
        if (!is(r, "GET"))
            return bad_method(r);
        char *text = pool_svc_metrics(r->h->svc);
        if (!text)
            return send_error(r->c, 500, "internal", "out of memory");
        enum MHD_Result ret = send_text(r->c, 200, "text/plain; version=0.0.4", text);
        free(text);
        return ret;
    }
    char path[1024];
    if (strlen(url) >= sizeof path)
        return r->who.role == POOL_CALLER_NONE ? deny(r)
                                               : send_error(r->c, 414, "invalid", "path too long");
    strcpy(path, url);
    int rc = split_path(r, path);
    /* Nodes prove themselves on their own routes; anyone else without a credential learns
     * nothing, not even which paths exist. */
    bool node_route = rc == 0 && strcmp(r->seg[0], "nodes") == 0 &&
                      ((r->nseg == 1 && is(r, "POST")) || r->nseg == 3);
    if (r->who.role == POOL_CALLER_NONE && !node_route)
        return deny(r);
    if (rc == -2)
        return send_error(r->c, 400, "invalid", "path segments must be names of [A-Za-z0-9._:-]");
    if (rc < 0)
        return send_error(r->c, 404, "invalid", "no such path");
    if (strcmp(r->seg[0], "allocations") == 0)
        return route_allocations(r);
    if (strcmp(r->seg[0], "nodes") == 0)
        return route_nodes(r);
    if (strcmp(r->seg[0], "placements") == 0)
        return route_placements(r);
    if (strcmp(r->seg[0], "quotas") == 0)
        return route_quotas(r);
    if (strcmp(r->seg[0], "pools") == 0)
        return route_pools(r);
    if (strcmp(r->seg[0], "tenants") == 0)
        return route_tenants(r);
    if (strcmp(r->seg[0], "recommendations") == 0) {
        if (!admin(r) && !tenant(r))
            return deny(r);
        if (r->nseg != 1 || !is(r, "GET"))
            return r->nseg != 1 ? send_error(r->c, 404, "invalid", "no such path")
                                : bad_method(r);
        return send_json(r->c, 200, pool_svc_recommendations_json(r->h->svc, owner(r)));
    }
    if (strcmp(r->seg[0], "workloads") == 0)
        return route_workloads(r);
    if (strcmp(r->seg[0], "events") == 0)
        return route_events(r);
    if (strcmp(r->seg[0], "autoscale") == 0 || strcmp(r->seg[0], "test") == 0)
        return route_autoscale(r, strcmp(r->seg[0], "test") == 0);
    return send_error(r->c, 404, "invalid", "no such path");
}

/* ---- libmicrohttpd glue ------------------------------------------------------------------- */

static bool append(struct request *req, const char *data, size_t n)
{
    if (req->too_large || req->len + n > req->max) {
        req->too_large = true;
        return true; /* keep draining; answered with 413 at the end */
    }
    char *b = realloc(req->body, req->len + n + 1);
    if (!b)
        return false;
    memcpy(b + req->len, data, n);
    req->body = b;
    req->len += n;
    req->body[req->len] = '\0';
    return true;
}

static bool declared_too_large(struct MHD_Connection *c, size_t max)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl && strtoull(cl, NULL, 10) > max;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct pool_http *h = cls;
    struct request *req = *con_cls;
    if (!req) {
        if (declared_too_large(c, body_max(url))) {
            pool_svc_count_failure(h->svc, POOL_FAIL_INVALID);
            return send_error(c, 413, "invalid", "request body too large");
        }
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->max = body_max(url);
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_size) {
        bool ok = append(req, upload, *upload_size);
        *upload_size = 0;
        return ok ? MHD_YES : MHD_NO;
    }
    if (req->too_large) {
        pool_svc_count_failure(h->svc, POOL_FAIL_INVALID);
        return send_error(c, 413, "invalid", "request body too large");
    }
    struct route_ctx r = {.h = h, .c = c, .method = method, .body = req->body ? req->body : "",
                          .len = req->len};
    return route(&r, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    struct request *req = *con_cls;
    if (req) {
        free(req->body);
        free(req);
        *con_cls = NULL;
    }
}

static int resolve(const char *host, uint16_t port, struct sockaddr_in *sa, char *err,
                   size_t errlen)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) == 1)
        return 0;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
        snprintf(err, errlen, "cannot resolve listen host '%s'", host);
        return -1;
    }
    sa->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return 0;
}

struct pool_http *pool_http_start(struct pool_svc *svc, const char *host, uint16_t port, char *err,
                                  size_t errlen)
{
    return pool_http_start_tls(svc, host, port, NULL, NULL, err, errlen);
}

struct pool_http *pool_http_start_tls(struct pool_svc *svc, const char *host, uint16_t port,
                                      const char *cert_pem, const char *key_pem, char *err,
                                      size_t errlen)
{
    if (cert_pem && tf_mhd_tls_check(err, errlen) != 0)
        return NULL;
    struct sockaddr_in sa;
    if (resolve(host, port, &sa, err, errlen))
        return NULL;
    struct pool_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->svc = svc;
    tf_raise_fd_limit();   /* the caps below, not 1024 descriptors, bound a flood */
    /* A thread per connection (a route may wait seconds on a node), each waiting in poll(2),
     * never select(2): no FD_SETSIZE bound. The per-address cap keeps one client from taking
     * the connections the nodes' heartbeats and the health check need. */
    struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | (cert_pem ? tf_mhd_tls_options(tls, cert_pem, key_pem) : 0);
    h->daemon = MHD_start_daemon(
        flags, port, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, tls,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)POOL_HTTP_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)POOL_HTTP_MAX_PER_HOST,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)POOL_HTTP_IDLE_TIMEOUT_S,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)POOL_HTTP_THREAD_STACK,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)512, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        h, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%u%s", host, (unsigned)port,
                 cert_pem ? " (or the TLS key is not the certificate's)" : "");
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : port;
    return h;
}

uint16_t pool_http_port(const struct pool_http *h)
{
    return h->port;
}

void pool_http_stop(struct pool_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
