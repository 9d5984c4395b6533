/*
 * Prepare and unprepare of a ResourceClaim (the contract is in k8s.h): the claim's allocation
 * results for our driver become one vGPU each on the TensorFuse node, sized by the capacity the
 * scheduler recorded (consumedCapacity: memory, compute, tflops) or the whole GPU, shaped by
 * our opaque config (VGPUConfig), then one CDI spec for the claim and status.devices.
 * Owns: reading an allocation, VGPUConfig (apiVersion gpu.tensorfuse.io/v1alpha1), the vGPU
 * create bodies (idempotency key and id from the claim's uid, so a retried prepare finds the
 * vGPUs a crashed one made), and the rollback of a prepare that failed half way.
 * May call: kapi.h, knode.h, cdi.h, slices.h (device names), src/common/log.h, jansson.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdi.h"
#include "kapi.h"
#include "knode.h"
#include "log.h"
#include "slices.h"

#define VGPUCONFIG_API_VERSION "gpu.tensorfuse.io/v1alpha1"

/* VGPUConfig, merged from the class's configs then the claim's (later ones win). */
struct vgpu_config {
    char qos[16];            /* "" = the node's default (medium) */
    double compute_limit;    /* percent; 0 = the consumed share is the limit too */
    int shared;              /* isolation "shared": no compute guarantee nor limit */
};

/* One result of ours, and what prepare made of it. */
struct result {
    const char *request, *pool, *device, *share_id;
    json_t *consumed;        /* consumedCapacity or NULL (a whole device) */
    struct vgpu_config conf;
    char uuid[128];
    double tflops;           /* the device's rating, converting tflops to percent */
    uint64_t memory;         /* the device's memory */
    char id[K8S_NAME_MAX], token[192], connect[520];
};

static int fail(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    snprintf(err, errlen, fmt, a, b);
    return -1;
}

/* ---- VGPUConfig ---- */

static int qos_ok(const char *q)
{
    return q && (!strcmp(q, "low") || !strcmp(q, "medium") || !strcmp(q, "high") ||
                 !strcmp(q, "critical"));
}

static int config_apply(json_t *params, struct vgpu_config *c, char *err, size_t errlen)
{
    const char *av = json_string_value(json_object_get(params, "apiVersion"));
    const char *kind = json_string_value(json_object_get(params, "kind"));
    if (!av || strcmp(av, VGPUCONFIG_API_VERSION) || !kind || strcmp(kind, "VGPUConfig"))
        return fail(err, errlen, "opaque config: expected apiVersion " VGPUCONFIG_API_VERSION
                    " and kind VGPUConfig, got '%s' '%s'", av ? av : "", kind ? kind : "");
    const char *key;
    json_t *v;
    json_object_foreach(params, key, v) {
        if (!strcmp(key, "apiVersion") || !strcmp(key, "kind"))
            continue;
        if (!strcmp(key, "qos") && qos_ok(json_string_value(v))) {
            snprintf(c->qos, sizeof c->qos, "%s", json_string_value(v));
        } else if (!strcmp(key, "computeLimit") && json_is_number(v) &&
                   json_number_value(v) > 0 && json_number_value(v) <= 100) {
            c->compute_limit = json_number_value(v);
        } else if (!strcmp(key, "isolation") && json_is_string(v) &&
                   (!strcmp(json_string_value(v), "hard") ||
                    !strcmp(json_string_value(v), "shared"))) {
            c->shared = !strcmp(json_string_value(v), "shared");
        } else {
            return fail(err, errlen, "VGPUConfig: bad field '%s'%s (qos: low|medium|high|"
                        "critical; computeLimit: a percent in (0, 100]; isolation: hard|shared)",
                        key, "");
        }
    }
    return 0;
}

static int applies_to(json_t *requests, const char *request)
{
    if (json_array_size(requests) == 0)
        return 1;
    size_t i;
    json_t *r;
    json_array_foreach(requests, i, r) {
        const char *s = json_string_value(r);
        size_t n = s ? strlen(s) : 0;
        /* "main" also names its subrequests "main/sub" */
        if (s && !strncmp(request, s, n) && (request[n] == '\0' || request[n] == '/'))
            return 1;
    }
    return 0;
}

/* The allocation's configs for our driver, FromClass before FromClaim, each in order. */
static int config_for(const struct k8s_config *cfg, json_t *configs, const char *request,
                      struct vgpu_config *c, char *err, size_t errlen)
{
    static const char *const order[] = {"FromClass", "FromClaim"};
    memset(c, 0, sizeof *c);
    for (int pass = 0; pass < 2; pass++) {
        size_t i;
        json_t *e;
        json_array_foreach(configs, i, e) {
            json_t *op = json_object_get(e, "opaque");
            const char *src = json_string_value(json_object_get(e, "source"));
            const char *drv = json_string_value(json_object_get(op, "driver"));
            if (!src || strcmp(src, order[pass]) || !drv || strcmp(drv, cfg->driver) ||
                !applies_to(json_object_get(e, "requests"), request))
                continue;
            if (config_apply(json_object_get(op, "parameters"), c, err, errlen) != 0)
                return -1;
        }
    }
    return 0;
}

/* ---- the allocation ---- */

static int read_results(const struct k8s_config *cfg, json_t *claim, struct result *res,
                        size_t *n, char *err, size_t errlen)
{
    json_t *devs = json_object_get(json_object_get(json_object_get(claim, "status"),
                                                   "allocation"), "devices");
    json_t *results = json_object_get(devs, "results"), *configs = json_object_get(devs, "config");
    size_t i;
    json_t *r;
    *n = 0;
    if (!json_is_array(results))
        return fail(err, errlen, "the claim is not allocated (no status.allocation)%s%s", "",
                    "");
    json_array_foreach(results, i, r) {
        const char *drv = json_string_value(json_object_get(r, "driver"));
        if (!drv || strcmp(drv, cfg->driver))
            continue;
        if (*n == K8S_CLAIM_DEVICES_MAX)
            return fail(err, errlen, "the claim has more than %s devices of %s", "16",
                        cfg->driver);
        struct result *x = &res[(*n)++];
        memset(x, 0, sizeof *x);
        x->request = json_string_value(json_object_get(r, "request"));
        x->pool = json_string_value(json_object_get(r, "pool"));
        x->device = json_string_value(json_object_get(r, "device"));
        x->share_id = json_string_value(json_object_get(r, "shareID"));
        x->consumed = json_object_get(r, "consumedCapacity");
        if (!x->request || !x->pool || !x->device)
            return fail(err, errlen, "a result of %s lacks request, pool or device%s",
                        cfg->driver, "");
        if (strcmp(x->pool, cfg->node_name))
            return fail(err, errlen, "result device %s is in pool %s, not this node's",
                        x->device, x->pool);
        if (config_for(cfg, configs, x->request, &x->conf, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* The node's device that a ResourceSlice device name stands for. */
static int find_device(json_t *node_devs, struct result *x, char *err, size_t errlen)
{
    size_t i;
    json_t *d;
    json_array_foreach(node_devs, i, d) {
        char name[K8S_NAME_MAX];
        const char *uuid = json_string_value(json_object_get(d, "uuid"));
        if (!uuid || k8s_slice_device_name(uuid, name, sizeof name) != 0 ||
            strcmp(name, x->device))
            continue;
        snprintf(x->uuid, sizeof x->uuid, "%s", uuid);
        x->tflops = json_number_value(json_object_get(d, "tflops_fp16"));
        x->memory = (uint64_t)json_integer_value(json_object_get(d, "memory_bytes"));
        return 0;
    }
    return fail(err, errlen, "device %s is not on the TensorFuse node (its GPUs changed since "
                "the slice was published?)%s", x->device, "");
}

static double consumed(json_t *cc, const char *name, int *present)
{
    double v = 0;
    const char *s = json_string_value(json_object_get(cc, name));
    *present = s && k8s_quantity_parse(s, &v) == 0;
    return *present ? v : 0;
}

/* The vGPU create body of result x, the index-th of claim uid. */
static json_t *create_body(const struct k8s_config *cfg, const char *uid, size_t index,
                           const struct result *x, char *err, size_t errlen)
{
    uint64_t vram = x->memory;
    double pct = 0;
    int has_mem = 0, has_c, has_t;
    const char *mem = json_string_value(json_object_get(x->consumed, "memory"));
    if (mem && (has_mem = 1) && k8s_quantity_bytes(mem, &vram) != 0) {
        fail(err, errlen, "consumedCapacity memory '%s' is not a quantity%s", mem, "");
        return NULL;
    }
    double c = consumed(x->consumed, "compute", &has_c), t = consumed(x->consumed, "tflops",
                                                                       &has_t);
    pct = fmax(c, x->tflops > 0 ? 100.0 * t / x->tflops : 0);
    if (!x->consumed)
        pct = 0;   /* a whole device: nobody else is on it, no guarantee needed */
    char key[80], id[80];
    snprintf(key, sizeof key, "k8s/%s/%zu", uid, index);
    snprintf(id, sizeof id, "k8s-%s-%zu", uid, index);
    json_t *b = json_pack("{s:s, s:I, s:s, s:s, s:s}", "device", x->uuid, "vram_bytes",
                          (json_int_t)vram, "idempotency_key", key, "id", id, "owner", "k8s");
    if (x->conf.qos[0])
        json_object_set_new(b, "qos", json_string(x->conf.qos));
    double limit = x->conf.compute_limit;
    if (!x->conf.shared && (pct > 0 || limit > 0)) {
        pct = fmin(fmax(pct, 0.01), 100);   /* 0.01: the node's smallest share (1 bp) */
        json_object_set_new(b, "compute_request_pct", json_real(pct));
        json_object_set_new(b, "compute_limit_pct", json_real(fmax(limit, pct)));
    }
    (void)has_mem;
    return b;
}

static int create_vgpu(const struct k8s_config *cfg, const char *uid, size_t index,
                       struct result *x, char *err, size_t errlen)
{
    json_t *body = create_body(cfg, uid, index, x, err, errlen), *reply = NULL;
    if (!body)
        return -1;
    int st = k8s_node_call(cfg, "POST", "/api/v1/vgpus", body, &reply, err, errlen);
    json_decref(body);
    const char *id = json_string_value(json_object_get(reply, "id"));
    const char *tok = json_string_value(json_object_get(reply, "token"));
    const char *conn = json_string_value(json_object_get(reply, "connect"));
    int ok = (st == 200 || st == 201) && id && tok && conn;
    if (ok) {
        snprintf(x->id, sizeof x->id, "%s", id);
        snprintf(x->token, sizeof x->token, "%s", tok);
        snprintf(x->connect, sizeof x->connect, "%s",
                 cfg->session_addr[0] ? cfg->session_addr : conn);
    } else if (st == 200 || st == 201) {
        snprintf(err, errlen, "node API: the vGPU create answer lacks id, token or connect");
    }
    json_decref(reply);
    return ok ? 0 : -1;
}

/* ---- status.devices ---- */

struct status_arg {
    const struct k8s_config *cfg;
    const char *uid;
    const struct result *res;
    size_t n;
};

static json_t *device_status(const struct k8s_config *cfg, const struct result *x)
{
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    json_t *cond = json_pack("[{s:s, s:s, s:s, s:s, s:s}]", "type", "Ready", "status", "True",
                             "reason", "VGPUCreated", "message", "vGPU created on the node",
                             "lastTransitionTime", now);
    json_t *d = json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:s}}", "driver", cfg->driver, "pool",
                          x->pool, "device", x->device, "conditions", cond, "data", "vgpu",
                          x->id, "uuid", x->uuid);
    if (x->share_id)
        json_object_set_new(d, "shareID", json_string(x->share_id));
    return d;
}

static int set_status(json_t *claim, void *arg, char *err, size_t errlen)
{
    struct status_arg *a = arg;
    const char *uid = json_string_value(json_object_get(json_object_get(claim, "metadata"),
                                                        "uid"));
    if (!uid || strcmp(uid, a->uid))
        return fail(err, errlen, "the claim was replaced (uid %s, not %s)", uid ? uid : "?",
                    a->uid);
    json_t *status = json_object_get(claim, "status");
    json_t *old = json_object_get(status, "devices"), *devs = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(old, i, d) {   /* other drivers' entries are theirs */
        const char *drv = json_string_value(json_object_get(d, "driver"));
        if (!drv || strcmp(drv, a->cfg->driver))
            json_array_append(devs, d);
    }
    for (size_t k = 0; k < a->n; k++)
        json_array_append_new(devs, device_status(a->cfg, &a->res[k]));
    json_object_set_new(status, "devices", devs);
    return 0;
}

/* ---- prepare / unprepare ---- */

static void rollback(const struct k8s_config *cfg, const char *uid, struct result *res,
                     size_t n)
{
    char why[512];
    for (size_t i = 0; i < n; i++)
        if (res[i].id[0] && k8s_node_delete_vgpu(cfg, res[i].id, why, sizeof why) != 0)
            tf_warn("prepare of claim %s failed; its vGPU %s was not deleted: %s", uid,
                    res[i].id, why);
    if (k8s_cdi_remove(cfg, uid, why, sizeof why) != 0)
        tf_warn("%s", why);
}

static void fill_out(const struct k8s_config *cfg, const char *ns, const char *name,
                     const char *uid, const struct result *res, size_t n,
                     struct k8s_prepared_claim *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->uid, sizeof out->uid, "%s", uid);
    snprintf(out->ns, sizeof out->ns, "%s", ns);
    snprintf(out->name, sizeof out->name, "%s", name);
    out->n_devices = n;
    for (size_t i = 0; i < n; i++) {
        struct k8s_prepared_device *d = &out->devices[i];
        snprintf(d->request, sizeof d->request, "%s", res[i].request);
        snprintf(d->pool, sizeof d->pool, "%s", res[i].pool);
        snprintf(d->device, sizeof d->device, "%s", res[i].device);
        snprintf(d->share_id, sizeof d->share_id, "%s", res[i].share_id ? res[i].share_id : "");
        snprintf(d->vgpu_id, sizeof d->vgpu_id, "%s", res[i].id);
        k8s_cdi_device_id(cfg, uid, i, d->cdi_id, sizeof d->cdi_id);
    }
}

/* Creates the vGPUs and the CDI spec; on failure deletes what it made. */
static int make_vgpus(const struct k8s_config *cfg, const char *uid, struct result *res,
                      size_t n, char *err, size_t errlen)
{
    json_t *node_devs = k8s_node_devices(cfg, err, errlen);
    if (!node_devs)
        return -1;
    struct k8s_cdi_vgpu cdi[K8S_CLAIM_DEVICES_MAX];
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = find_device(node_devs, &res[i], err, errlen);
        if (rc == 0)
            rc = create_vgpu(cfg, uid, i, &res[i], err, errlen);
        cdi[i] = (struct k8s_cdi_vgpu){res[i].connect, res[i].token};
    }
    json_decref(node_devs);
    if (rc == 0 && n)
        rc = k8s_cdi_write(cfg, uid, cdi, n, err, errlen);
    if (rc != 0)
        rollback(cfg, uid, res, n);
    return rc;
}

static json_t *get_claim(struct k8s_api *api, const char *ns, const char *name, const char *uid,
                         char *path, size_t pathlen, char *err, size_t errlen)
{
    snprintf(path, pathlen, "/apis/resource.k8s.io/v1/namespaces/%s/resourceclaims/%s", ns,
             name);
    json_t *claim = NULL;
    if (k8s_api_get(api, path, &claim, err, errlen) != 200)
        return NULL;
    const char *u = json_string_value(json_object_get(json_object_get(claim, "metadata"),
                                                      "uid"));
    if (!u || strcmp(u, uid)) {
        snprintf(err, errlen, "claim %s/%s has uid %s, not %s (deleted and created again)", ns,
                 name, u ? u : "(none)", uid);
        json_decref(claim);
        return NULL;
    }
    return claim;
}

int k8s_claim_prepare(const struct k8s_config *cfg, const char *ns, const char *name,
                      const char *uid, struct k8s_prepared_claim *out, char *err, size_t errlen)
{
    if (!k8s_name_ok(ns) || !k8s_name_ok(name) || !k8s_name_ok(uid) || strlen(uid) > 63)
        return fail(err, errlen, "bad claim reference (namespace, name and uid must be DNS "
                    "names): '%s' '%s'", ns, name);
    struct k8s_api *api = k8s_api_open(cfg, err, errlen);
    if (!api)
        return -1;
    char path[768];
    struct result res[K8S_CLAIM_DEVICES_MAX];
    size_t n = 0;
    json_t *claim = get_claim(api, ns, name, uid, path, sizeof path, err, errlen);
    int rc = claim ? read_results(cfg, claim, res, &n, err, errlen) : -1;
    if (rc == 0)
        rc = make_vgpus(cfg, uid, res, n, err, errlen);
    if (rc == 0 && n) {
        /* Reporting is not worth failing a pod for: the feature gate may be off, RBAC short. */
        char why[512];
        struct status_arg a = {cfg, uid, res, n};
        int st = k8s_api_update(api, path, "status", set_status, &a, NULL, why, sizeof why);
        if (st < 200 || st > 299)
            tf_warn("claim %s/%s prepared, but its status.devices was not written: %s", ns,
                    name, why);
    }
    if (rc == 0)
        fill_out(cfg, ns, name, uid, res, n, out);
    json_decref(claim);   /* the results' strings pointed into it */
    k8s_api_close(api);
    return rc;
}

int k8s_claim_unprepare(const struct k8s_config *cfg, const struct k8s_prepared_claim *pc,
                        char *err, size_t errlen)
{
    int rc = 0;
    char why[512];
    err[0] = '\0';
    for (size_t i = 0; i < pc->n_devices && i < K8S_CLAIM_DEVICES_MAX; i++) {
        const char *id = pc->devices[i].vgpu_id;
        if (id[0] && k8s_node_delete_vgpu(cfg, id, why, sizeof why) != 0) {
            snprintf(err, errlen, "vGPU %s of claim %s: %s", id, pc->uid, why);
            rc = -1;
        }
    }
    if (k8s_cdi_remove(cfg, pc->uid, why, sizeof why) != 0 && rc == 0) {
        snprintf(err, errlen, "%s", why);
        rc = -1;
    }
    return rc;
}
