/*
 * Strict JSON decoders for the pool's request bodies (see pool_req.h). Each decoder first
 * rejects fields it does not know, then reads every field with a typed getter that checks range
 * and length. Calls jansson and libc only.
 */
#include "pool_req.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TFLOPS_MAX 1e6                    /* no card is rated above this */
#define BYTES_MAX (1ull << 50)            /* 1 PiB: larger memory figures are typos or attacks */

struct ctx {
    char *err;
    size_t errlen;
};

static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

bool pool_valid_name(const char *s, size_t cap)
{
    size_t n = strlen(s);
    if (n == 0 || n >= cap)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '.' || ch == '_' || ch == '-' || ch == ':';
        if (!ok)
            return false;
    }
    return true;
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

static json_t *parse_object_max(struct ctx *c, const char *body, size_t len, size_t max)
{
    if (len > max) {
        fail(c, "request body larger than %zu bytes", max);
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        fail(c, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        fail(c, "request body must be a JSON object");
        return NULL;
    }
    return root;
}

static json_t *parse_object(struct ctx *c, const char *body, size_t len)
{
    return parse_object_max(c, body, len, POOL_BODY_MAX);
}

/* Every key of obj must appear in the NULL-terminated list allowed. */
static int only_known(struct ctx *c, json_t *obj, const char *where, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool known = false;
        for (int i = 0; allowed[i] && !known; i++)
            known = strcmp(key, allowed[i]) == 0;
        if (!known)
            return fail(c, "unknown field '%.64s'%s%s", key, where[0] ? " in " : "", where);
    }
    return 0;
}

/* String field into dst[cap]; name=true also restricts characters. Absent leaves dst as is. */
static int get_str(struct ctx *c, json_t *obj, const char *field, char *dst, size_t cap,
                   bool required, bool name)
{
    json_t *v = json_object_get(obj, field);
    if (!v)
        return required ? fail(c, "missing field '%s'", field) : 0;
    if (!json_is_string(v))
        return fail(c, "field '%s' must be a string", field);
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return fail(c, "field '%s' contains a NUL character", field);
    if (strlen(s) >= cap)
        return fail(c, "field '%s' is longer than %zu characters", field, cap - 1);
    if (name && !pool_valid_name(s, cap))
        return fail(c, "field '%s' must be 1-%zu characters of [A-Za-z0-9._:-]", field, cap - 1);
    if (!name && !printable(s))
        return fail(c, "field '%s' must be printable ASCII without spaces", field);
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

static int get_u64(struct ctx *c, json_t *obj, const char *field, uint64_t *dst, uint64_t max,
                   bool required)
{
    json_t *v = json_object_get(obj, field);
    if (!v)
        return required ? fail(c, "missing field '%s'", field) : 0;
    if (!json_is_integer(v))
        return fail(c, "field '%s' must be an integer", field);
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x > max)
        return fail(c, "field '%s' must be between 0 and %llu", field, (unsigned long long)max);
    *dst = (uint64_t)x;
    return 0;
}

static int get_int(struct ctx *c, json_t *obj, const char *field, int *dst, int lo, int hi)
{
    json_t *v = json_object_get(obj, field);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return fail(c, "field '%s' must be an integer", field);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return fail(c, "field '%s' must be between %d and %d", field, lo, hi);
    *dst = (int)x;
    return 0;
}

/* A number (integer or real) in [lo, hi]; lo itself is excluded when open_lo. */
static int get_num(struct ctx *c, json_t *obj, const char *field, double *dst, double lo,
                   double hi, bool open_lo)
{
    json_t *v = json_object_get(obj, field);
    if (!v)
        return 0;
    if (!json_is_number(v))
        return fail(c, "field '%s' must be a number", field);
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi || (open_lo && x <= lo))
        return fail(c, "field '%s' must be %s %g and at most %g", field,
                    open_lo ? "greater than" : "at least", lo, hi);
    *dst = x;
    return 0;
}

static int get_labels(struct ctx *c, json_t *obj, struct pool_label *labels, int *nlabels)
{
    json_t *v = json_object_get(obj, "labels");
    *nlabels = 0;
    if (!v)
        return 0;
    if (!json_is_object(v))
        return fail(c, "field 'labels' must be an object of strings");
    if (json_object_size(v) > POOL_MAX_LABELS)
        return fail(c, "at most %d labels", POOL_MAX_LABELS);
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        struct pool_label *l = &labels[*nlabels];
        if (!pool_valid_name(key, sizeof l->key))
            return fail(c, "label key '%.64s' must be 1-%zu characters of [A-Za-z0-9._:-]", key,
                        sizeof l->key - 1);
        if (!json_is_string(val) || strlen(json_string_value(val)) >= sizeof l->value ||
            strlen(json_string_value(val)) != json_string_length(val) ||
            !printable(json_string_value(val)))
            return fail(c, "label '%s' must be a printable string shorter than %zu", key,
                        sizeof l->value);
        strcpy(l->key, key);
        strcpy(l->value, json_string_value(val));
        (*nlabels)++;
    }
    return 0;
}

static const char *const alloc_fields[] = {
    "tenant", "pool", "model", "gpu_count", "tflops_request", "tflops_limit",
    "compute_request_pct", "compute_limit_pct", "vram_request", "vram_limit", "qos", "priority",
    "strategy", "labels", "idempotency_key", "node", "workload", NULL};

static int check_compute(struct ctx *c, struct pool_alloc_req *r)
{
    bool by_tflops = r->tflops_request > 0, by_pct = r->compute_request_pct > 0;
    if (by_tflops == by_pct)
        return fail(c, "give exactly one of 'tflops_request' and 'compute_request_pct'");
    if (by_tflops && r->compute_limit_pct > 0)
        return fail(c, "'compute_limit_pct' goes with 'compute_request_pct', not 'tflops_request'");
    if (by_pct && r->tflops_limit > 0)
        return fail(c, "'tflops_limit' goes with 'tflops_request', not 'compute_request_pct'");
    if (by_tflops && r->tflops_limit > 0 && r->tflops_limit < r->tflops_request)
        return fail(c, "'tflops_limit' must not be below 'tflops_request'");
    if (by_pct && r->compute_limit_pct > 0 && r->compute_limit_pct < r->compute_request_pct)
        return fail(c, "'compute_limit_pct' must not be below 'compute_request_pct'");
    return 0;
}

static int decode_alloc_fields(struct ctx *c, json_t *o, struct pool_alloc_req *r)
{
    char qos[16] = "medium", strategy[32] = "";
    if (only_known(c, o, "", alloc_fields) ||
        get_str(c, o, "tenant", r->tenant, sizeof r->tenant, false, true) ||
        get_str(c, o, "pool", r->pool, sizeof r->pool, false, true) ||
        get_str(c, o, "model", r->model, sizeof r->model, false, true) ||
        get_int(c, o, "gpu_count", &r->gpu_count, 1, POOL_MAX_GANG) ||
        get_num(c, o, "tflops_request", &r->tflops_request, 0, TFLOPS_MAX, true) ||
        get_num(c, o, "tflops_limit", &r->tflops_limit, 0, TFLOPS_MAX, true) ||
        get_num(c, o, "compute_request_pct", &r->compute_request_pct, 0, 100, true) ||
        get_num(c, o, "compute_limit_pct", &r->compute_limit_pct, 0, 100, true) ||
        get_u64(c, o, "vram_request", &r->vram_request, BYTES_MAX, true) ||
        get_u64(c, o, "vram_limit", &r->vram_limit, BYTES_MAX, false) ||
        get_str(c, o, "qos", qos, sizeof qos, false, true) ||
        get_int(c, o, "priority", &r->priority, -1000, 1000) ||
        get_str(c, o, "strategy", strategy, sizeof strategy, false, true) ||
        get_labels(c, o, r->labels, &r->nlabels) ||
        get_str(c, o, "idempotency_key", r->idempotency_key, sizeof r->idempotency_key, false,
                false) ||
        get_str(c, o, "node", r->node, sizeof r->node, false, true) ||
        get_str(c, o, "workload", r->workload, sizeof r->workload, false, true))
        return -1;
    if (r->vram_request == 0)
        return fail(c, "field 'vram_request' must be greater than 0");
    if (!r->vram_limit)
        r->vram_limit = r->vram_request;
    if (r->vram_limit < r->vram_request)
        return fail(c, "'vram_limit' must not be below 'vram_request'");
    int q = pool_qos_parse(qos);
    if (q < 0)
        return fail(c, "field 'qos' must be one of low, medium, high, critical");
    r->qos = (enum pool_qos)q;
    if (strategy[0] && (r->strategy = pool_strategy_parse(strategy)) < 0)
        return fail(c, "field 'strategy' must be CompactFirst, LowLoadFirst or NodeCompactGPULowLoad");
    return check_compute(c, r);
}

int pool_req_decode_alloc(const char *body, size_t len, struct pool_alloc_req *out, char *err,
                          size_t errlen)
{
    struct ctx c = {err, errlen};
    json_t *o = parse_object(&c, body, len);
    if (!o)
        return -1;
    struct pool_alloc_req r = {.gpu_count = 1, .qos = POOL_QOS_MEDIUM, .strategy = -1};
    strcpy(r.pool, "default");
    int rc = decode_alloc_fields(&c, o, &r);
    json_decref(o);
    if (rc == 0)
        *out = r;
    return rc;
}

static const char *const resize_fields[] = {
    "tflops_request", "tflops_limit", "compute_request_pct", "compute_limit_pct",
    "vram_request", "vram_limit", "qos", NULL};

static int decode_resize_fields(struct ctx *c, json_t *o, struct pool_resize_req *r)
{
    char qos[16] = "";
    if (only_known(c, o, "", resize_fields) ||
        get_num(c, o, "tflops_request", &r->tflops_request, 0, TFLOPS_MAX, true) ||
        get_num(c, o, "tflops_limit", &r->tflops_limit, 0, TFLOPS_MAX, true) ||
        get_num(c, o, "compute_request_pct", &r->compute_request_pct, 0, 100, true) ||
        get_num(c, o, "compute_limit_pct", &r->compute_limit_pct, 0, 100, true) ||
        get_u64(c, o, "vram_request", &r->vram_request, BYTES_MAX, false) ||
        get_u64(c, o, "vram_limit", &r->vram_limit, BYTES_MAX, false) ||
        get_str(c, o, "qos", qos, sizeof qos, false, true))
        return -1;
    if (json_object_size(o) == 0)
        return fail(c, "nothing to change: give vram_request, vram_limit, tflops_request, "
                    "tflops_limit, compute_request_pct, compute_limit_pct or qos");
    if ((json_object_get(o, "vram_request") && !r->vram_request) ||
        (json_object_get(o, "vram_limit") && !r->vram_limit))
        return fail(c, "'vram_request' and 'vram_limit' must be greater than 0");
    if (r->vram_request && r->vram_limit && r->vram_limit < r->vram_request)
        return fail(c, "'vram_limit' must not be below 'vram_request'");
    if ((r->tflops_request > 0 || r->tflops_limit > 0) &&
        (r->compute_request_pct > 0 || r->compute_limit_pct > 0))
        return fail(c, "give compute in TFLOPs or in percent, not both");
    if (r->tflops_request > 0 && r->tflops_limit > 0 && r->tflops_limit < r->tflops_request)
        return fail(c, "'tflops_limit' must not be below 'tflops_request'");
    if (r->compute_request_pct > 0 && r->compute_limit_pct > 0 &&
        r->compute_limit_pct < r->compute_request_pct)
        return fail(c, "'compute_limit_pct' must not be below 'compute_request_pct'");
    if (qos[0] && (r->qos = pool_qos_parse(qos)) < 0)
        return fail(c, "field 'qos' must be one of low, medium, high, critical");
    return 0;
}

int pool_req_decode_resize(const char *body, size_t len, struct pool_resize_req *out,
                           char *err, size_t errlen)
{
    struct ctx c = {err, errlen};
    json_t *o = parse_object(&c, body, len);
    if (!o)
        return -1;
    struct pool_resize_req r = {.qos = -1};
    int rc = decode_resize_fields(&c, o, &r);
    json_decref(o);
    if (rc == 0)
        *out = r;
    return rc;
}

static int decode_peers(struct ctx *c, json_t *d, struct pool_device *dev, pool_peer_list peers_out)
{
    json_t *peers = json_object_get(d, "nvlink_peers");
    if (!peers)
        return 0;
    if (!json_is_array(peers) || json_array_size(peers) > POOL_MAX_PEERS)
        return fail(c, "'nvlink_peers' must be an array of at most %d uuids", POOL_MAX_PEERS);
    size_t i;
    json_t *p;
    json_array_foreach(peers, i, p) {
        if (!json_is_string(p) || !pool_valid_name(json_string_value(p), POOL_UUID_MAX) ||
            strlen(json_string_value(p)) != json_string_length(p))
            return fail(c, "'nvlink_peers' entries must be device uuids");
        strcpy(peers_out[dev->npeers++], json_string_value(p));
    }
    return 0;
}

static const char *const device_fields[] = {"uuid", "model", "memory_bytes", "tflops_fp16",
                                            "numa", "nvlink_peers", NULL};

static int decode_device(struct ctx *c, json_t *d, struct pool_device *dev, pool_peer_list peers)
{
    memset(dev, 0, sizeof *dev);
    dev->numa = -1;
    if (!json_is_object(d))
        return fail(c, "'devices' entries must be objects");
    if (only_known(c, d, "a device", device_fields) ||
        get_str(c, d, "uuid", dev->uuid, sizeof dev->uuid, true, true) ||
        get_str(c, d, "model", dev->model, sizeof dev->model, true, true) ||
        get_u64(c, d, "memory_bytes", &dev->memory_bytes, BYTES_MAX, true) ||
        get_num(c, d, "tflops_fp16", &dev->tflops, 0, TFLOPS_MAX, true) ||
        get_int(c, d, "numa", &dev->numa, -1, 1024) || decode_peers(c, d, dev, peers))
        return -1;
    if (!json_object_get(d, "tflops_fp16"))
        return fail(c, "missing field 'tflops_fp16' in a device");
    if (dev->memory_bytes == 0)
        return fail(c, "device %s: 'memory_bytes' must be greater than 0", dev->uuid);
    return 0;
}

static const char *const node_fields[] = {"name", "address", "pool", "labels", "devices", NULL};

static int decode_node_fields(struct ctx *c, json_t *o, struct pool_node *n)
{
    if (only_known(c, o, "", node_fields) ||
        get_str(c, o, "name", n->name, sizeof n->name, true, true) ||
        get_str(c, o, "address", n->address, sizeof n->address, true, false) ||
        get_str(c, o, "pool", n->pool, sizeof n->pool, false, true) ||
        get_labels(c, o, n->labels, &n->nlabels))
        return -1;
    if (strncmp(n->address, "http://", 7) != 0 && strncmp(n->address, "https://", 8) != 0)
        return fail(c, "field 'address' must be an http:// or https:// base URL");
    json_t *devs = json_object_get(o, "devices");
    if (!json_is_array(devs) || json_array_size(devs) == 0 ||
        json_array_size(devs) > POOL_MAX_DEVICES)
        return fail(c, "field 'devices' must be an array of 1 to %d devices", POOL_MAX_DEVICES);
    size_t i;
    json_t *d;
    json_array_foreach(devs, i, d) {
        if (decode_device(c, d, &n->dev[i], n->peers[i]))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(n->dev[j].uuid, n->dev[i].uuid) == 0)
                return fail(c, "device uuid %s appears twice", n->dev[i].uuid);
        n->ndev++;
    }
    return 0;
}

int pool_req_decode_node(const char *body, size_t len, struct pool_node *out, char *err,
                         size_t errlen)
{
    struct ctx c = {err, errlen};
    json_t *o = parse_object(&c, body, len);
    if (!o)
        return -1;
    struct pool_node *n = calloc(1, sizeof *n);
    int rc = -1;
    if (n) {
        strcpy(n->pool, "default");
        rc = decode_node_fields(&c, o, n);
        if (rc == 0)
            *out = *n;
        free(n);
    } else {
        fail(&c, "out of memory");
    }
    json_decref(o);
    return rc;
}

static const char *const hb_fields[] = {"devices", "vgpus", "usage", NULL};
#define HB_VGPUS_MAX (POOL_MAX_DEVICES * POOL_MAX_VGPUS_PER_DEVICE)

/* "vgpus": an array of at most HB_VGPUS_MAX vGPU ids. */
static int decode_hb_vgpus(struct ctx *c, json_t *o, struct pool_heartbeat *hb)
{
    json_t *v = json_object_get(o, "vgpus"), *id;
    size_t i;
    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > HB_VGPUS_MAX)
        return fail(c, "field 'vgpus' must be an array of at most %d ids", HB_VGPUS_MAX);
    hb->vgpus = calloc(json_array_size(v) + 1, sizeof *hb->vgpus);
    if (!hb->vgpus)
        return fail(c, "out of memory");
    hb->has_vgpus = true;
    json_array_foreach(v, i, id) {
        const char *s = json_string_value(id);
        if (!s || !*s || strlen(s) >= POOL_UUID_MAX)
            return fail(c, "'vgpus' entries must be vGPU ids shorter than %d", POOL_UUID_MAX);
        strcpy(hb->vgpus[hb->nvgpus++], s);
    }
    return 0;
}

static const char *const usage_fields[] = {
    "vgpu", "mem_used", "mem_peak", "mem_limit", "busy_ns", "throttled_ns", "launches",
    "oom_refusals", "oom_largest", "compute_limit", NULL};

/* "usage": per-vGPU counters (struct pool_vgpu_usage), at most HB_VGPUS_MAX entries. */
static int decode_hb_usage(struct ctx *c, json_t *o, struct pool_heartbeat *hb)
{
    json_t *v = json_object_get(o, "usage"), *u;
    size_t i;
    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > HB_VGPUS_MAX)
        return fail(c, "field 'usage' must be an array of at most %d entries", HB_VGPUS_MAX);
    hb->usage = calloc(json_array_size(v) + 1, sizeof *hb->usage);
    if (!hb->usage)
        return fail(c, "out of memory");
    json_array_foreach(v, i, u) {
        struct pool_vgpu_usage *x = &hb->usage[hb->nusage];
        x->compute_limit = 1;
        if (!json_is_object(u))
            return fail(c, "'usage' entries must be objects");
        if (only_known(c, u, "a usage entry", usage_fields) ||
            get_str(c, u, "vgpu", x->vgpu, sizeof x->vgpu, true, false) ||
            get_u64(c, u, "mem_used", &x->mem_used, BYTES_MAX, false) ||
            get_u64(c, u, "mem_peak", &x->mem_peak, BYTES_MAX, false) ||
            get_u64(c, u, "mem_limit", &x->mem_limit, BYTES_MAX, false) ||
            get_u64(c, u, "busy_ns", &x->busy_ns, UINT64_MAX, false) ||
            get_u64(c, u, "throttled_ns", &x->throttled_ns, UINT64_MAX, false) ||
            get_u64(c, u, "launches", &x->launches, UINT64_MAX, false) ||
            get_u64(c, u, "oom_refusals", &x->oom_refusals, UINT64_MAX, false) ||
            get_u64(c, u, "oom_largest", &x->oom_largest, BYTES_MAX, false) ||
            get_num(c, u, "compute_limit", &x->compute_limit, 0, 1, false))
            return -1;
        hb->nusage++;
    }
    return 0;
}

void pool_req_free_heartbeat(struct pool_heartbeat *hb)
{
    free(hb->vgpus);
    hb->vgpus = NULL;
    hb->nvgpus = 0;
    free(hb->usage);
    hb->usage = NULL;
    hb->nusage = 0;
}
static const char *const hb_dev_fields[] = {"uuid", "used_bytes", "util_pct", NULL};

int pool_req_decode_heartbeat(const char *body, size_t len, struct pool_heartbeat *out, char *err,
                              size_t errlen)
{
    struct ctx c = {err, errlen};
    *out = (struct pool_heartbeat){0};   /* owns nothing after a refusal, even of the JSON */
    json_t *o = parse_object_max(&c, body, len, POOL_HEARTBEAT_BODY_MAX);
    if (!o)
        return -1;
    struct pool_heartbeat hb = {0};
    int rc = only_known(&c, o, "", hb_fields);
    json_t *devs = json_object_get(o, "devices");
    if (rc == 0 && devs && (!json_is_array(devs) || json_array_size(devs) > POOL_MAX_DEVICES))
        rc = fail(&c, "field 'devices' must be an array of at most %d entries", POOL_MAX_DEVICES);
    size_t i;
    json_t *d;
    if (rc == 0 && devs)
        json_array_foreach(devs, i, d) {
            struct pool_heartbeat_dev *hd = &hb.dev[hb.ndev];
            if (!json_is_object(d) || only_known(&c, d, "a device", hb_dev_fields) ||
                get_str(&c, d, "uuid", hd->uuid, sizeof hd->uuid, true, true) ||
                get_u64(&c, d, "used_bytes", &hd->used_bytes, BYTES_MAX, false) ||
                get_num(&c, d, "util_pct", &hd->util_pct, 0, 100, false)) {
                if (!json_is_object(d))
                    fail(&c, "'devices' entries must be objects");
                rc = -1;
                break;
            }
            hb.ndev++;
        }
    if (rc == 0)
        rc = decode_hb_vgpus(&c, o, &hb);
    if (rc == 0)
        rc = decode_hb_usage(&c, o, &hb);
    json_decref(o);
    if (rc != 0)
        pool_req_free_heartbeat(&hb);
    *out = hb;
    return rc;
}

static const char *const mode_fields[] = {"mode", "min_vram", "max_vram", NULL};

int pool_req_decode_mode(const char *body, size_t len, struct pool_mode_req *out, char *err,
                         size_t errlen)
{
    struct ctx c = {err, errlen};
    json_t *o = parse_object(&c, body, len);
    if (!o)
        return -1;
    char mode[16] = "";
    struct pool_mode_req m = {0};
    int rc = only_known(&c, o, "", mode_fields) ||
             get_str(&c, o, "mode", mode, sizeof mode, true, true) ||
             get_u64(&c, o, "min_vram", &m.min_vram, BYTES_MAX, false) ||
             get_u64(&c, o, "max_vram", &m.max_vram, BYTES_MAX, false) ? -1 : 0;
    int parsed = rc == 0 ? pool_mode_parse(mode) : 0;
    if (parsed < 0)
        rc = fail(&c, "field 'mode' must be off, recommend or auto");
    if (rc == 0 && m.max_vram && m.min_vram > m.max_vram)
        rc = fail(&c, "'min_vram' must not be above 'max_vram'");
    m.mode = (enum pool_wl_mode)parsed;
    json_decref(o);
    if (rc == 0)
        *out = m;
    return rc;
}

static const char *const quota_fields[] = {"max_tflops", "max_vram", "max_vgpus", NULL};

int pool_req_decode_quota(const char *body, size_t len, struct pool_quota *out, char *err,
                          size_t errlen)
{
    struct ctx c = {err, errlen};
    json_t *o = parse_object(&c, body, len);
    if (!o)
        return -1;
    double tflops = -1;
    uint64_t vram = 0, vgpus = 0;
    int rc = only_known(&c, o, "", quota_fields) ||
             get_num(&c, o, "max_tflops", &tflops, 0, TFLOPS_MAX * 1e3, false) ||
             get_u64(&c, o, "max_vram", &vram, BYTES_MAX * 1024, false) ||
             get_u64(&c, o, "max_vgpus", &vgpus, 1u << 30, false)
                 ? -1
                 : 0;
    if (rc == 0) {
        out->max_tflops = json_object_get(o, "max_tflops") ? tflops : -1;
        out->max_vram = json_object_get(o, "max_vram") ? (int64_t)vram : -1;
        out->max_vgpus = json_object_get(o, "max_vgpus") ? (int64_t)vgpus : -1;
    }
    json_decref(o);
    return rc;
}

static const char *const pool_fields[] = {"oversub_ratio", "strategy", NULL};

int pool_req_decode_pool(const char *body, size_t len, struct pool_def *out, char *err,
                         size_t errlen)
{
    struct ctx c = {err, errlen};
    json_t *o = parse_object(&c, body, len);
    if (!o)
        return -1;
    struct pool_def d = *out;
    char strategy[32] = "";
    int rc = only_known(&c, o, "", pool_fields) ||
             get_num(&c, o, "oversub_ratio", &d.oversub, 1, 100, false) ||
             get_str(&c, o, "strategy", strategy, sizeof strategy, false, true)
                 ? -1
                 : 0;
    if (rc == 0 && strategy[0]) {
        int s = pool_strategy_parse(strategy);
        if (s < 0)
            rc = fail(&c, "field 'strategy' must be CompactFirst, LowLoadFirst or NodeCompactGPULowLoad");
        d.strategy = (enum pool_strategy)s;
    }
    json_decref(o);
    if (rc == 0)
        *out = d;
    return rc;
}

char *pool_req_canonical(const struct pool_alloc_req *r)
{
    json_t *labels = json_object();
    for (int i = 0; i < r->nlabels; i++)
        json_object_set_new(labels, r->labels[i].key, json_string(r->labels[i].value));
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:f, s:f, s:f, s:f, s:I, s:I, s:s, s:i, s:i, s:o}",
                          "tenant", r->tenant, "pool", r->pool, "model", r->model, "gpu_count",
                          r->gpu_count, "tflops_request", r->tflops_request, "tflops_limit",
                          r->tflops_limit, "compute_request_pct", r->compute_request_pct,
                          "compute_limit_pct", r->compute_limit_pct, "vram_request",
                          (json_int_t)r->vram_request, "vram_limit", (json_int_t)r->vram_limit,
                          "qos", pool_qos_name(r->qos), "priority", r->priority, "strategy",
                          r->strategy, "labels", labels);
    if (!o)
        return NULL;
    if (r->node[0]) /* only when given: keys stored before the field existed still match */
        json_object_set_new(o, "node", json_string(r->node));
    if (r->workload[0])
        json_object_set_new(o, "workload", json_string(r->workload));
    char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(o);
    return s;
}
