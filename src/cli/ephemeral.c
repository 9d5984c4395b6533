/*
 * Ephemeral vGPUs (see ephemeral.h): the create, renew and delete calls `tfuse run --vram` and
 * the Slurm plugin make on a node's API.
 * May call: nodeapi.h, src/vgpu (vgpu_parse.h), jansson, libc.
 */
#include "ephemeral.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nodeapi.h"
#include "vgpu_parse.h"

/* The create body of spec on device (a uuid; NULL: where the node chooses) named id ("": the
 * node names it). NULL with err for a size that does not parse. */
static json_t *create_body(const struct eph_spec *spec, const char *device, const char *id,
                           char *err, size_t errlen)
{
    uint64_t bytes;
    char why[256];
    if (!spec->vram || vgpu_parse_size(spec->vram, &bytes, why, sizeof why) != 0) {
        snprintf(err, errlen, "vram: %s", spec->vram ? why : "required");
        return NULL;
    }
    json_t *body = json_object();
    json_object_set_new(body, "vram_bytes", json_integer((json_int_t)bytes));
    if (spec->compute)
        json_object_set_new(body, "compute_request", json_string(spec->compute));
    if (spec->limit)
        json_object_set_new(body, "compute_limit", json_string(spec->limit));
    if (spec->qos)
        json_object_set_new(body, "qos", json_string(spec->qos));
    if (spec->owner)
        json_object_set_new(body, "owner", json_string(spec->owner));
    if (device)
        json_object_set_new(body, "device", json_string(device));
    if (*id)
        json_object_set_new(body, "id", json_string(id));
    /* Ours while we renew it: killed (even by SIGKILL), we stop, and the node deletes it. */
    json_object_set_new(body, "lease_seconds",
                        json_integer(spec->lease > 0 ? spec->lease : EPH_LEASE_DEFAULT_S));
    return body;
}

/* Creates one vGPU and appends it to set. 0; -1 with err; 409 (no room) with the node's
 * message in err. */
static int create_one(const struct eph_spec *spec, const char *device, const char *id,
                      struct eph_set *set, char *err, size_t errlen)
{
    json_t *body = create_body(spec, device, id, err, errlen), *reply = NULL;
    if (!body)
        return -1;
    char why[512];
    int status = nodeapi_call(set->api, "POST", "/api/v1/vgpus", body, &reply, why, sizeof why);
    json_decref(body);
    const char *rid = json_string_value(json_object_get(reply, "id"));
    const char *tok = json_string_value(json_object_get(reply, "token"));
    if (status == 201 && (!rid || !tok || strlen(rid) >= EPH_ID_MAX || strlen(tok) > 160)) {
        snprintf(err, errlen, "the node's answer to the create has no usable id or token");
        status = 502;
    } else if (status != 201) {
        snprintf(err, errlen, "%s", status ? nodeapi_message(reply, "the node refused") : why);
    }
    if (status != 201) {
        json_decref(reply);
        return status == 409 ? 409 : -1;
    }
    snprintf(set->ids[set->n], sizeof set->ids[0], "%s", rid);
    size_t at = strlen(set->tokens);
    snprintf(set->tokens + at, sizeof set->tokens - at, "%s%s", set->n ? "," : "", tok);
    if (!set->n) {
        const char *c = json_string_value(json_object_get(reply, "connect"));
        snprintf(set->connect, sizeof set->connect, "%s",
                 spec->connect ? spec->connect : c ? c : "");
        /* A node with an https API speaks TLS on its tcp session port too (--tls-cert): an
         * address that came over https is used inside TLS, never in clear. */
        if (!spec->connect && strncmp(set->api, "https://", 8) == 0 &&
            strncmp(set->connect, "tcp:", 4) == 0)
            memcpy(set->connect, "tls:", 4);
    }
    set->n++;
    json_decref(reply);
    return 0;
}

/* The uuids of the node's devices (GET /api/v1/devices); returns how many, -1 with err. */
static int node_devices(const char *api, char uuids[][128], int max, char *err, size_t errlen)
{
    char why[512];
    json_t *reply = NULL;
    int status = nodeapi_call(api, "GET", "/api/v1/devices", NULL, &reply, why, sizeof why);
    json_t *list = json_object_get(reply, "devices");
    if (status != 200 || !json_is_array(list)) {
        snprintf(err, errlen, "cannot list the node's devices: %s",
                 status ? nodeapi_message(reply, "unexpected answer") : why);
        json_decref(reply);
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i < json_array_size(list) && n < max; i++) {
        const char *u = json_string_value(json_object_get(json_array_get(list, i), "uuid"));
        if (u)
            snprintf(uuids[n++], 128, "%s", u);
    }
    json_decref(reply);
    return n;
}

/* ngpus vGPUs on distinct devices: the first that have room, in the node's order. */
static int create_gang(const struct eph_spec *spec, struct eph_set *set, char *err,
                       size_t errlen)
{
    static __thread char uuids[EPH_MAX_GPUS * 4][128];
    int ndev = node_devices(set->api, uuids, EPH_MAX_GPUS * 4, err, errlen);
    if (ndev < 0)
        return -1;
    if (ndev < spec->ngpus) {
        snprintf(err, errlen, "%d vGPUs asked: the node has %d device%s", spec->ngpus, ndev,
                 ndev == 1 ? "" : "s");
        return -1;
    }
    char why[512] = "", id[EPH_ID_MAX + 16];   /* room for the suffix; the node checks it */
    for (int d = 0; d < ndev && set->n < spec->ngpus; d++) {
        /* Our own ids: a node numbers its vGPUs per device, and a DELETE names one by id. */
        if (spec->id)
            snprintf(id, sizeof id, "%.*s-%d", EPH_ID_MAX - 5, spec->id, d);
        else
            snprintf(id, sizeof id, "run-%d-%lld-%d", (int)getpid(), (long long)time(NULL), d);
        int st = create_one(spec, uuids[d], id, set, why, sizeof why);
        if (st == 409)
            continue;   /* no room on this device: try the next one */
        if (st != 0) {
            snprintf(err, errlen, "%s", why);
            return -1;
        }
    }
    if (set->n < spec->ngpus) {
        snprintf(err, errlen, "%d vGPUs of %s asked: only %d of the node's %d devices have "
                 "room%s%s%s", spec->ngpus, spec->vram, set->n, ndev,
                 *why ? " (the node said: " : "", why, *why ? ")" : "");
        return 409;
    }
    return 0;
}

int tf_eph_create(const char *api, const struct eph_spec *spec, struct eph_set *set,
                  char *err, size_t errlen)
{
    memset(set, 0, sizeof *set);
    snprintf(set->api, sizeof set->api, "%s", api);
    if (spec->ngpus > EPH_MAX_GPUS) {
        snprintf(err, errlen, "at most %d vGPUs", EPH_MAX_GPUS);
        return -1;
    }
    int rc = spec->ngpus > 1 ? create_gang(spec, set, err, errlen)
                             : create_one(spec, NULL, spec->id ? spec->id : "", set, err, errlen);
    if (rc != 0) {
        char ignored[256];
        tf_eph_delete(set, ignored, sizeof ignored);   /* nothing half-made is left behind */
    }
    return rc;
}

int tf_eph_renew(struct eph_set *set)
{
    int gone = 0;
    for (int i = 0; i < set->n; i++) {
        char path[600], err[512];
        json_t *reply = NULL;
        nodeapi_vgpu_path(path, sizeof path - 6, set->ids[i]);
        strcat(path, "/lease");
        int status = nodeapi_call(set->api, "POST", path, NULL, &reply, err, sizeof err);
        gone += status == 404;
        json_decref(reply);   /* unreachable: try again next period */
    }
    if (gone)
        set->lost = 1;
    return gone;
}

int tf_eph_delete(struct eph_set *set, char *err, size_t errlen)
{
    int rc = 0;
    if (errlen)
        err[0] = '\0';
    while (set->n > 0) {
        const char *id = set->ids[--set->n];
        char path[512], why[512];
        json_t *reply = NULL;
        nodeapi_vgpu_path(path, sizeof path, id);
        int status = nodeapi_call(set->api, "DELETE", path, NULL, &reply, why, sizeof why);
        /* 202: the workers of our program are still ending; wait until the memory is back, so
         * that the next program finds it free. */
        if (status == 202 && !nodeapi_wait_gone(set->api, path, NODEAPI_DELETE_WAIT_S)) {
            snprintf(err, errlen, "vGPU %s is deleted, but its sessions still hold its memory "
                     "after %d s", id, NODEAPI_DELETE_WAIT_S);
            rc = -1;
        } else if (status != 202 && status != 204 && status != 404) {
            snprintf(err, errlen, "could not delete vGPU %s: %s", id,
                     status ? nodeapi_message(reply, "the node refused") : why);
            rc = -1;
        }
        json_decref(reply);
    }
    set->tokens[0] = '\0';
    return rc;
}

int tf_eph_library_path(const char *stub_dir, const char *old, char *out, size_t len)
{
    int n = snprintf(out, len, "%s%s%s", stub_dir, old && *old ? ":" : "", old ? old : "");
    return n < 0 || (size_t)n >= len ? -1 : 0;
}
