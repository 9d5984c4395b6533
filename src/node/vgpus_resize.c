/*
 * PATCH /api/v1/vgpus/{id}: live resize of a vGPU (vgpus.h node_vgpus_resize). The body names
 * what changes; what it leaves out stays. Checked as a create is (sizes, shares, QoS; a memory
 * limit within the device unless the node oversubscribes, and within what the device has not
 * promised to other vGPUs), then applied through vgpu_resize_prepare, saved to --state, and
 * kept (vgpu_resize_finish) or undone when the save fails: the same rule as a create. A limit
 * below the memory in use is refused (409 with both figures), never left pending: a pending
 * shrink would have to hold back every allocation of the vGPU until enough was freed, which a
 * program that never frees would wait on forever, and a caller would not know when its
 * change took effect (docs/vgpu.md, "Live resize").
 *
 * Owns: the PATCH body and its answer. May call: vgpus_int.h, src/vgpu, jansson, log.h.
 */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "vgpu_mem.h"
#include "vgpu_parse.h"
#include "vgpus_int.h"

/* vgpus_int.h: an error answer, for vgpus_resize.c and vgpus_freeze.c. */
int node_vgpus_fail(json_t **reply, int status, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    node_vgpus_vfail(reply, status, reason, fmt, ap);
    va_end(ap);
    return status;
}

static const char *const fields[] = {"vram_bytes", "vram", "compute_request_pct",
                                     "compute_request", "compute_limit_pct", "compute_limit",
                                     "qos"};

/* The first key the body has that PATCH does not take (a typo must not pass as "no change"). */
static const char *unknown_field(json_t *body)
{
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val) {
        size_t i = 0;
        while (i < sizeof fields / sizeof *fields && strcmp(key, fields[i]) != 0)
            i++;
        if (i == sizeof fields / sizeof *fields)
            return key;
    }
    return NULL;
}

static int has(json_t *body, const char *a, const char *b)
{
    return json_object_get(body, a) || json_object_get(body, b);
}

static int is_null(json_t *body, const char *a, const char *b)
{
    return json_is_null(json_object_get(body, a)) || json_is_null(json_object_get(body, b));
}

/* Compute: a request without a limit keeps the limit (an unlimited vGPU gets limit =
 * request, as at creation); a limit without a request keeps the request; a null request
 * makes compute unlimited. 0, or -1 with err. */
static int new_compute(json_t *body, double tflops, struct vgpu_spec *to, char *err,
                       size_t len)
{
    int req = has(body, "compute_request_pct", "compute_request");
    int lim = has(body, "compute_limit_pct", "compute_limit");
    if (req && is_null(body, "compute_request_pct", "compute_request")) {
        if (lim && !is_null(body, "compute_limit_pct", "compute_limit")) {
            snprintf(err, len, "a compute limit needs a compute request");
            return -1;
        }
        to->request_bp = to->limit_bp = 0;   /* unlimited */
        return 0;
    }
    uint32_t r = 0, l = 0;
    if ((req && node_vgpus_body_compute(body, "compute_request_pct", "compute_request",
                                        tflops, &r, err, len) != 0) ||
        (lim && node_vgpus_body_compute(body, "compute_limit_pct", "compute_limit", tflops,
                                        &l, err, len) != 0))
        return -1;
    if (lim && !req && to->request_bp == 0) {
        snprintf(err, len, "a compute limit needs a compute request (this vGPU's compute is "
                 "unlimited: give compute_request too)");
        return -1;
    }
    if (req)
        to->request_bp = r;
    if (lim)
        to->limit_bp = l;
    else if (req && to->limit_bp == 0)
        to->limit_bp = r;
    if (to->limit_bp < to->request_bp) {
        snprintf(err, len, "the compute limit (%.2f%%) would be below the request (%.2f%%): "
                 "give compute_limit too", to->limit_bp / 100.0, to->request_bp / 100.0);
        return -1;
    }
    return 0;
}

/* The new description: the old one with the body's fields. Returns 0 or an HTTP status. */
static int parse(struct node_vgpus *v, int dev, json_t *body, struct vgpu_spec *to,
                 json_t **reply)
{
    char err[256];
    if (!json_is_object(body))
        return node_vgpus_fail(reply, 400, "bad_request", "the body must be a JSON object");
    const char *bad = unknown_field(body);
    if (bad)
        return node_vgpus_fail(reply, 400, "bad_request", "PATCH takes vram_bytes (or vram), "
                               "compute_request(_pct), compute_limit(_pct) and qos; not '%.64s'",
                               bad);
    if (json_object_size(body) == 0)
        return node_vgpus_fail(reply, 400, "bad_request", "nothing to change: give "
                               "vram_bytes, compute_request_pct, compute_limit_pct or qos");
    json_t *qos = json_object_get(body, "qos");
    if (qos && (!json_is_string(qos) || (to->qos = vgpu_qos_parse(json_string_value(qos))) < 0))
        return node_vgpus_fail(reply, 400, "bad_request",
                               "qos must be low, medium, high or critical");
    if (has(body, "vram_bytes", "vram") &&
        node_vgpus_body_memory(body, &to->mem_limit, err, sizeof err) != 0)
        return node_vgpus_fail(reply, 400, "bad_request", "%s", err);
    if (new_compute(body, v->dev[dev].tflops, to, err, sizeof err) != 0)
        return node_vgpus_fail(reply, 400, "bad_request", "%s", err);
    if (to->mem_limit > v->dev[dev].memory &&
        !(v->regions[dev]->hdr->flags & VGPU_REGION_OVERSUBSCRIBE))
        return node_vgpus_fail(reply, 409, "insufficient_memory",
                               "%llu bytes asked, the device has %llu",
                               (unsigned long long)to->mem_limit,
                               (unsigned long long)v->dev[dev].memory);
    return 0;
}

static json_t *spec_json(const struct vgpu_spec *s)
{
    json_t *o = json_pack("{s:I, s:s}", "vram_bytes", (json_int_t)s->mem_limit, "qos",
                          vgpu_qos_name(s->qos));
    json_object_set_new(o, "compute_request_pct",
                        s->request_bp ? json_real(s->request_bp / 100.0) : json_null());
    json_object_set_new(o, "compute_limit_pct",
                        s->request_bp ? json_real(s->limit_bp / 100.0) : json_null());
    return o;
}

/* prepare's refusal as an answer: 409 with the figures for memory, else 400/404. */
static int prepare_failed(int rc, const char *err, uint64_t used, uint64_t asked,
                          json_t **reply)
{
    if (rc == -EBUSY) {
        node_vgpus_fail(reply, 409, "memory_in_use", "%s", err);
        json_object_set_new(*reply, "used_bytes", json_integer((json_int_t)used));
        json_object_set_new(*reply, "asked_bytes", json_integer((json_int_t)asked));
        return 409;
    }
    if (rc == -ENOSPC)
        return node_vgpus_fail(reply, 409, "insufficient_memory", "%s", err);
    if (rc == -ENOENT)
        return node_vgpus_fail(reply, 404, "not_found", "%s", err);
    return node_vgpus_fail(reply, 400, "bad_request", "%s", err);
}

static int resize_locked(struct node_vgpus *v, const char *id, json_t *body, json_t **reply)
{
    int dev = 0, slot = -1;
    for (; dev < v->ndev && slot < 0; dev++)
        slot = vgpu_find_id(v->regions[dev], id);
    if (slot < 0)
        return node_vgpus_fail(reply, 404, "not_found", "no live vGPU named '%s'", id);
    dev--;
    struct vgpu_spec from, to;
    vgpu_spec_of(v->regions[dev], slot, &to);
    int status = parse(v, dev, body, &to, reply);
    if (status)
        return status;
    char err[700];
    uint64_t used = 0;
    int rc = vgpu_resize_prepare(v->regions[dev], slot, &to, &from, &used, err, sizeof err);
    if (rc != 0)
        return prepare_failed(rc, err, used, to.mem_limit, reply);
    rc = v->changed ? v->changed(v, v->changed_arg, -1, -1, err, sizeof err) : 0;
    vgpu_resize_finish(v->regions[dev], slot, &from, &to, rc == 0);
    if (rc != 0) {
        tf_error("vGPU %s not resized: %s", id, err);
        return node_vgpus_state_failed(reply, rc, err, "the vGPU was not resized");
    }
    tf_info("resized vGPU %s on device %d: %llu -> %llu bytes, compute %.2f/%.2f%% -> "
            "%.2f/%.2f%%, qos %s -> %s", id, dev, (unsigned long long)from.mem_limit,
            (unsigned long long)to.mem_limit, from.request_bp / 100.0, from.limit_bp / 100.0,
            to.request_bp / 100.0, to.limit_bp / 100.0, vgpu_qos_name(from.qos),
            vgpu_qos_name(to.qos));
    *reply = node_vgpus_describe_locked(v, dev, slot);
    json_object_set_new(*reply, "previous", spec_json(&from));
    return 200;
}

int node_vgpus_resize(struct node_vgpus *v, const char *id, json_t *body, json_t **reply)
{
    pthread_mutex_lock(&v->lock);
    int status = resize_locked(v, id, body, reply);
    pthread_mutex_unlock(&v->lock);
    return status;
}
