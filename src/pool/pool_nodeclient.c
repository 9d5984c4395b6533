/*
 * Client of the node daemon's vGPU API (see pool_nodeclient.h and docs/node-api.md).
 * Calls src/common/httpc.h, src/vgpu/vgpu_id.h (the vGPU id rule), jansson and libc.
 */
#include "pool_nodeclient.h"

#include "httpc.h"
#include "pool_req.h"
#include "vgpu_id.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *node_token;   /* NULL: TFUSE_NODE_TOKEN */

void pool_node_set_token(const char *token)
{
    node_token = token;
}

/* One call with the nodes' token; a failed exchange says which request it was in err. */
static int node_request(const char *method, const char *url, const char *json_body,
                        long timeout_ms, struct tf_http_response *r, char *err, size_t errlen)
{
    struct tf_http_opts o = {.bearer = node_token ? node_token : getenv("TFUSE_NODE_TOKEN")};
    char why[256];
    if (tf_http_request(method, url, json_body, timeout_ms, &o, r, why, sizeof why) == 0)
        return 0;
    snprintf(err, errlen, "%s %s: %s", method, url, why);
    return -1;
}

/* The node's error message when it sent one, else the raw status. */
static void node_error(const struct tf_http_response *r, const char *what, char *err,
                       size_t errlen)
{
    json_t *o = json_loadb(r->body, r->len, 0, NULL);
    const char *msg = json_string_value(json_object_get(o, "message"));
    snprintf(err, errlen, "node %s failed with HTTP %ld%s%.200s", what, r->status,
             msg ? ": " : "", msg ? msg : "");
    json_decref(o);
}

static int copy_field(json_t *o, const char *field, char *dst, size_t cap, char *err,
                      size_t errlen)
{
    const char *s = json_string_value(json_object_get(o, field));
    if (!s || strlen(s) == 0 || strlen(s) >= cap) {
        snprintf(err, errlen, "node answer lacks a valid '%s'", field);
        return -1;
    }
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

/* The id a node answers with follows the node's own rule (vgpu_id.h): it goes into the
 * DELETE path, the store and the views as it is. */
static int answer_id_ok(const char *id, char *err, size_t errlen)
{
    char why[200];
    if (vgpu_id_check(id, why, sizeof why) == 0)
        return 0;
    snprintf(err, errlen, "node answer: %s", why);
    return -1;
}

static int parse_created(const struct tf_http_response *r, const char *device,
                         struct pool_alloc_dev *out, char *err, size_t errlen)
{
    json_t *o = json_loadb(r->body, r->len, 0, NULL);
    int rc = -1;
    const char *dev = json_string_value(json_object_get(o, "device"));
    if (!json_is_object(o))
        snprintf(err, errlen, "node answer is not a JSON object");
    else if (dev && strcmp(dev, device) != 0)
        snprintf(err, errlen, "node created the vGPU on %.80s instead of %s", dev, device);
    else if (copy_field(o, "id", out->vgpu_id, sizeof out->vgpu_id, err, errlen) == 0 &&
             copy_field(o, "token", out->token, sizeof out->token, err, errlen) == 0 &&
             copy_field(o, "connect", out->connect, sizeof out->connect, err, errlen) == 0)
        rc = answer_id_ok(out->vgpu_id, err, errlen);
    json_decref(o);
    return rc;
}

int pool_node_create_vgpu(const char *address, const struct pool_vgpu_spec *spec,
                          long timeout_ms, struct pool_alloc_dev *out, char *err, size_t errlen)
{
    json_t *body = json_pack("{s:s, s:I, s:f, s:f, s:s, s:s, s:s}", "device", spec->device,
                             "vram_bytes", (json_int_t)spec->vram_bytes, "compute_request_pct",
                             spec->compute_request_pct, "compute_limit_pct",
                             spec->compute_limit_pct, "qos", pool_qos_name(spec->qos),
                             "idempotency_key", spec->idempotency_key, "owner",
                             spec->owner ? spec->owner : "pool:default");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char url[POOL_ADDR_MAX + 32];
    snprintf(url, sizeof url, "%s/api/v1/vgpus", address);
    struct tf_http_response r;
    err[0] = '\0';
    int rc = node_request("POST", url, text, timeout_ms, &r, err, errlen);
    free(text);
    if (rc)
        return -1;
    if (r.status == 201 || r.status == 200)
        rc = parse_created(&r, spec->device, out, err, errlen);
    else {
        node_error(&r, "vGPU create", err, errlen);
        rc = -1;
    }
    free(r.body);
    return rc;
}

int pool_node_resize_vgpu(const char *address, const char *vgpu_id,
                          const struct pool_vgpu_spec *spec, long timeout_ms, int *status,
                          char *err, size_t errlen)
{
    json_t *body = json_pack("{s:I, s:f, s:f, s:s}", "vram_bytes", (json_int_t)spec->vram_bytes,
                             "compute_request_pct", spec->compute_request_pct,
                             "compute_limit_pct", spec->compute_limit_pct, "qos",
                             pool_qos_name(spec->qos));
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    *status = 0;
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char url[POOL_ADDR_MAX + POOL_UUID_MAX + 32];
    snprintf(url, sizeof url, "%s/api/v1/vgpus/%s", address, vgpu_id);
    struct tf_http_response r;
    int rc = node_request("PATCH", url, text, timeout_ms, &r, err, errlen);
    free(text);
    if (rc)
        return -1;
    *status = (int)r.status;
    if (r.status != 200) {
        node_error(&r, "vGPU resize", err, errlen);
        rc = -1;
    }
    free(r.body);
    return rc;
}

/* After a 202 to DELETE: polls the vGPU until the node answers 404 (its memory is free, so
 * the capacity the pool books back is really there), for at most timeout_ms. */
static int wait_gone(const char *url, long timeout_ms, char *err, size_t errlen)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct tf_http_response r;
        if (node_request("GET", url, NULL, timeout_ms, &r, err, errlen))
            return -1;
        long status = r.status;
        free(r.body);
        if (status == 404)
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms >= timeout_ms) {
            snprintf(err, errlen, "vGPU still deleting after %ld ms (last answer %ld)", ms,
                     status);
            return -1;
        }
        nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
    }
}

int pool_node_delete_vgpu(const char *address, const char *vgpu_id, long timeout_ms, char *err,
                          size_t errlen)
{
    char url[POOL_ADDR_MAX + POOL_UUID_MAX + 32];
    snprintf(url, sizeof url, "%s/api/v1/vgpus/%s", address, vgpu_id);
    struct tf_http_response r;
    if (node_request("DELETE", url, NULL, timeout_ms, &r, err, errlen))
        return -1;
    int rc = 0;
    if (r.status == 202)   /* accepted: its sessions are ending; the memory is back at 404 */
        rc = wait_gone(url, timeout_ms, err, errlen);
    else if (r.status != 204 && r.status != 200 && r.status != 404) {
        node_error(&r, "vGPU delete", err, errlen);
        rc = -1;
    }
    free(r.body);
    return rc;
}
