/*
 * The DevicePlugin service (dp_service.h): the kubelet's five calls on our socket.
 * May call: grpcsrv.h, dp_devices.h, dp_alloc.h, protobuf-c, src/common/log.h.
 */
#include "dp_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deviceplugin_v1beta1.pb-c.h"
#include "dp_alloc.h"
#include "log.h"

/* How long a ListAndWatch stream sleeps between looks at the client and the device list: the
 * bound on how late a stream notices the kubelet hung up while nothing changes. */
#define DP_WATCH_TICK_MS 250

static int pack(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    *out = malloc(n ? n : 1);
    if (!*out)
        return -1;
    *len = protobuf_c_message_pack(m, *out);
    return 0;
}

/* req as a message of desc, or NULL with the text of INVALID_ARGUMENT in msg. */
static void *unpack(const ProtobufCMessageDescriptor *desc, const char *call, const uint8_t *req,
                    size_t len, char *msg, size_t msglen)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, req);
    if (!m)
        snprintf(msg, msglen, "%s: the request is not a %s message", call, desc->short_name);
    return m;
}

static void unpacked_free(void *m)
{
    protobuf_c_message_free_unpacked(m, NULL);
}

static int packed_or_internal(const ProtobufCMessage *m, uint8_t **resp, size_t *resp_len,
                              char *msg, size_t msglen)
{
    if (pack(m, resp, resp_len) == 0)
        return K8S_GRPC_OK;
    snprintf(msg, msglen, "out of memory");
    return K8S_GRPC_INTERNAL;
}

/* What we tell the kubelet at Register and in GetDevicePluginOptions: the same both times. */
static void options_init(V1beta1__DevicePluginOptions *o)
{
    v1beta1__device_plugin_options__init(o);
    o->pre_start_required = 0;   /* nothing to do before a start: the vGPU exists by Allocate */
    o->get_preferred_allocation_available = 1;
}

static int dp_options(void *arg, const uint8_t *req, size_t req_len, uint8_t **resp,
                      size_t *resp_len, char *msg, size_t msglen)
{
    (void)arg;
    V1beta1__Empty *e = unpack(&v1beta1__empty__descriptor, "GetDevicePluginOptions", req,
                               req_len, msg, msglen);
    if (!e)
        return K8S_GRPC_INVALID_ARGUMENT;
    unpacked_free(e);
    V1beta1__DevicePluginOptions o;
    options_init(&o);
    return packed_or_internal(&o.base, resp, resp_len, msg, msglen);
}

/* The ListAndWatchResponse of the list now; *gen its generation. 0, or -1 out of memory. */
static int pack_list(struct k8s_dp_devices *d, uint8_t **out, size_t *len, uint64_t *gen)
{
    struct k8s_dp_share *s;
    size_t n = k8s_dp_devices_list(d, &s, gen);
    V1beta1__Device *dev = calloc(n ? n : 1, sizeof *dev);
    V1beta1__Device **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    int rc = -1;
    if (dev && ptrs) {
        for (size_t i = 0; i < n; i++) {
            v1beta1__device__init(&dev[i]);
            dev[i].id = s[i].id;
            dev[i].health = (char *)(s[i].healthy ? "Healthy" : "Unhealthy");
            ptrs[i] = &dev[i];
        }
        V1beta1__ListAndWatchResponse r = V1BETA1__LIST_AND_WATCH_RESPONSE__INIT;
        r.n_devices = n;
        r.devices = ptrs;
        rc = pack(&r.base, out, len);
    }
    free(dev);
    free(ptrs);
    free(s);
    return rc;
}

static int dp_list_and_watch(void *arg, const uint8_t *req, size_t req_len,
                             struct k8s_grpc_stream *st)
{
    struct k8s_dp_service *svc = arg;
    char msg[128];
    V1beta1__Empty *e = unpack(&v1beta1__empty__descriptor, "ListAndWatch", req, req_len, msg,
                               sizeof msg);
    if (!e)
        return K8S_GRPC_INVALID_ARGUMENT;
    unpacked_free(e);
    for (;;) {
        uint8_t *buf;
        size_t len;
        uint64_t gen;
        if (pack_list(svc->devs, &buf, &len, &gen) != 0)
            return K8S_GRPC_INTERNAL;
        int sent = k8s_grpc_stream_send(st, buf, len);
        free(buf);
        if (sent != 0)
            return K8S_GRPC_OK;    /* the kubelet hung up, or we are stopping */
        while (k8s_dp_devices_wait(svc->devs, gen, DP_WATCH_TICK_MS) == gen)
            if (k8s_grpc_stream_wait(st, 0) < 0)
                return K8S_GRPC_OK;
    }
}

/* The ids of one container's request: each a share we advertise and healthy, none twice.
 * K8S_GRPC_OK, or a status with msg saying which id and why. */
static int check_ids(struct k8s_dp_devices *d, char **ids, size_t n, char *msg, size_t msglen)
{
    if (n == 0) {
        snprintf(msg, msglen, "a container request names no device");
        return K8S_GRPC_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < n; i++) {
        int c = k8s_dp_devices_check(d, ids[i]);
        if (c < 0) {
            snprintf(msg, msglen, "device '%.80s' is not a share this plugin advertises",
                     ids[i]);
            return K8S_GRPC_INVALID_ARGUMENT;
        }
        if (c == 0) {
            snprintf(msg, msglen, "device '%.80s' is unhealthy: the TensorFuse node does not "
                                  "answer", ids[i]);
            return K8S_GRPC_FAILED_PRECONDITION;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(ids[i], ids[j]) == 0) {
                snprintf(msg, msglen, "device '%.80s' is named twice", ids[i]);
                return K8S_GRPC_INVALID_ARGUMENT;
            }
    }
    return K8S_GRPC_OK;
}

static void free_container(V1beta1__ContainerAllocateResponse *c)
{
    for (size_t i = 0; i < c->n_envs; i++) {
        free(c->envs[i]->key);
        free(c->envs[i]);
    }
    free(c->envs);
    for (size_t i = 0; i < c->n_mounts; i++)
        free(c->mounts[i]);
    free(c->mounts);
    free(c);
}

/* One container's answer from K4's allocation (strings point into a, which outlives it). */
static int fill_container(const struct k8s_dp_alloc *a, V1beta1__ContainerAllocateResponse *c,
                          char *msg, size_t msglen)
{
    c->envs = calloc(a->n_env ? a->n_env : 1, sizeof *c->envs);
    c->mounts = calloc(a->n_mounts ? a->n_mounts : 1, sizeof *c->mounts);
    if (!c->envs || !c->mounts)
        goto oom;
    for (size_t i = 0; i < a->n_env; i++) {
        const char *eq = strchr(a->env[i], '=');
        if (!eq || eq == a->env[i]) {
            snprintf(msg, msglen, "the allocation's environment entry '%.60s' is not K=V",
                     a->env[i]);
            return K8S_GRPC_INTERNAL;
        }
        V1beta1__ContainerAllocateResponse__EnvsEntry *e = malloc(sizeof *e);
        char *key = e ? strndup(a->env[i], (size_t)(eq - a->env[i])) : NULL;
        if (!key) {
            free(e);
            goto oom;
        }
        v1beta1__container_allocate_response__envs_entry__init(e);
        e->key = key;
        e->value = (char *)eq + 1;
        c->envs[c->n_envs++] = e;
    }
    for (size_t i = 0; i < a->n_mounts; i++) {
        V1beta1__Mount *m = malloc(sizeof *m);
        if (!m)
            goto oom;
        v1beta1__mount__init(m);
        m->host_path = (char *)a->mounts[i].host;
        m->container_path = (char *)a->mounts[i].container;
        m->read_only = a->mounts[i].ro != 0;
        c->mounts[c->n_mounts++] = m;
    }
    return K8S_GRPC_OK;
oom:
    snprintf(msg, msglen, "out of memory");
    return K8S_GRPC_INTERNAL;
}

struct alloc_answer {
    size_t n;
    struct k8s_dp_alloc *allocs;
    V1beta1__ContainerAllocateResponse **c;
};

static void answer_free(struct alloc_answer *a)
{
    for (size_t i = 0; i < a->n; i++) {
        if (a->c[i])
            free_container(a->c[i]);
        k8s_dp_alloc_free(&a->allocs[i]);
    }
    free(a->c);
    free(a->allocs);
}

/* Allocates container i of req into ans; a status and msg on failure. */
static int alloc_one(struct k8s_dp_service *svc, const V1beta1__ContainerAllocateRequest *cr,
                     size_t i, struct alloc_answer *ans, char *msg, size_t msglen)
{
    int st = check_ids(svc->devs, cr->devices_ids, cr->n_devices_ids, msg, msglen);
    if (st != K8S_GRPC_OK)
        return st;
    char err[512] = "";
    ans->n = i + 1;   /* allocs[i] is freed from here on, whatever k8s_dp_allocate did */
    if (k8s_dp_allocate(svc->cfg, (const char *const *)cr->devices_ids, cr->n_devices_ids,
                        &ans->allocs[i], err, sizeof err) != 0) {
        snprintf(msg, msglen, "allocating %s%s for a container: %s", cr->devices_ids[0],
                 cr->n_devices_ids > 1 ? " and more shares" : "", err);
        return K8S_GRPC_FAILED_PRECONDITION;
    }
    ans->c[i] = malloc(sizeof *ans->c[i]);
    if (!ans->c[i]) {
        snprintf(msg, msglen, "out of memory");
        return K8S_GRPC_INTERNAL;
    }
    v1beta1__container_allocate_response__init(ans->c[i]);
    return fill_container(&ans->allocs[i], ans->c[i], msg, msglen);
}

static int dp_allocate(void *arg, const uint8_t *req, size_t req_len, uint8_t **resp,
                       size_t *resp_len, char *msg, size_t msglen)
{
    struct k8s_dp_service *svc = arg;
    V1beta1__AllocateRequest *r = unpack(&v1beta1__allocate_request__descriptor, "Allocate",
                                         req, req_len, msg, msglen);
    if (!r)
        return K8S_GRPC_INVALID_ARGUMENT;
    size_t n = r->n_container_requests;
    struct alloc_answer ans = {0, calloc(n ? n : 1, sizeof *ans.allocs),
                               calloc(n ? n : 1, sizeof *ans.c)};
    int st = ans.allocs && ans.c ? K8S_GRPC_OK : K8S_GRPC_INTERNAL;
    for (size_t i = 0; i < n && st == K8S_GRPC_OK; i++)
        st = alloc_one(svc, r->container_requests[i], i, &ans, msg, msglen);
    if (st == K8S_GRPC_OK) {
        V1beta1__AllocateResponse out = V1BETA1__ALLOCATE_RESPONSE__INIT;
        out.n_container_responses = n;
        out.container_responses = ans.c;
        st = packed_or_internal(&out.base, resp, resp_len, msg, msglen);
        tf_info("Allocate: %zu container(s), first share %s", n,
                n ? r->container_requests[0]->devices_ids[0] : "-");
    } else {
        tf_warn("Allocate refused: %s", msg[0] ? msg : "out of memory");
    }
    answer_free(&ans);
    unpacked_free(r);
    return st;
}

static int prefer_one(const V1beta1__ContainerPreferredAllocationRequest *q,
                      V1beta1__ContainerPreferredAllocationResponse *a, char *msg, size_t msglen)
{
    if (q->allocation_size < 0) {
        snprintf(msg, msglen, "allocation_size %d is negative", (int)q->allocation_size);
        return K8S_GRPC_INVALID_ARGUMENT;
    }
    size_t size = (size_t)q->allocation_size;
    if (size > q->n_available_deviceids + q->n_must_include_deviceids)
        size = q->n_available_deviceids + q->n_must_include_deviceids;
    a->deviceids = calloc(size ? size : 1, sizeof *a->deviceids);
    if (!a->deviceids) {
        snprintf(msg, msglen, "out of memory");
        return K8S_GRPC_INTERNAL;
    }
    a->n_deviceids = k8s_dp_prefer((const char *const *)q->available_deviceids,
                                   q->n_available_deviceids,
                                   (const char *const *)q->must_include_deviceids,
                                   q->n_must_include_deviceids, size,
                                   (const char **)a->deviceids);
    return K8S_GRPC_OK;
}

static int dp_preferred(void *arg, const uint8_t *req, size_t req_len, uint8_t **resp,
                        size_t *resp_len, char *msg, size_t msglen)
{
    (void)arg;
    V1beta1__PreferredAllocationRequest *r =
        unpack(&v1beta1__preferred_allocation_request__descriptor, "GetPreferredAllocation",
               req, req_len, msg, msglen);
    if (!r)
        return K8S_GRPC_INVALID_ARGUMENT;
    size_t n = r->n_container_requests;
    V1beta1__ContainerPreferredAllocationResponse *a = calloc(n ? n : 1, sizeof *a);
    V1beta1__ContainerPreferredAllocationResponse **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    int st = a && ptrs ? K8S_GRPC_OK : K8S_GRPC_INTERNAL;
    for (size_t i = 0; i < n && st == K8S_GRPC_OK; i++) {
        v1beta1__container_preferred_allocation_response__init(&a[i]);
        ptrs[i] = &a[i];
        st = prefer_one(r->container_requests[i], &a[i], msg, msglen);
    }
    if (st == K8S_GRPC_OK) {
        V1beta1__PreferredAllocationResponse out = V1BETA1__PREFERRED_ALLOCATION_RESPONSE__INIT;
        out.n_container_responses = n;
        out.container_responses = ptrs;
        st = packed_or_internal(&out.base, resp, resp_len, msg, msglen);
    } else if (!msg[0]) {
        snprintf(msg, msglen, "out of memory");
    }
    for (size_t i = 0; a && i < n; i++)
        free(a[i].deviceids);
    free(a);
    free(ptrs);
    unpacked_free(r);
    return st;
}

/* Not asked for (pre_start_required is false), but answered if a kubelet calls anyway. */
static int dp_prestart(void *arg, const uint8_t *req, size_t req_len, uint8_t **resp,
                       size_t *resp_len, char *msg, size_t msglen)
{
    (void)arg;
    void *r = unpack(&v1beta1__pre_start_container_request__descriptor, "PreStartContainer",
                     req, req_len, msg, msglen);
    if (!r)
        return K8S_GRPC_INVALID_ARGUMENT;
    unpacked_free(r);
    V1beta1__PreStartContainerResponse out = V1BETA1__PRE_START_CONTAINER_RESPONSE__INIT;
    return packed_or_internal(&out.base, resp, resp_len, msg, msglen);
}

int k8s_dp_service_add(struct k8s_grpc_server *srv, struct k8s_dp_service *svc)
{
    if (k8s_grpc_server_add_unary(srv, K8S_DP_SERVICE "GetDevicePluginOptions", dp_options,
                                  svc) != 0 ||
        k8s_grpc_server_add_stream(srv, K8S_DP_SERVICE "ListAndWatch", dp_list_and_watch,
                                   svc) != 0 ||
        k8s_grpc_server_add_unary(srv, K8S_DP_SERVICE "GetPreferredAllocation", dp_preferred,
                                  svc) != 0 ||
        k8s_grpc_server_add_unary(srv, K8S_DP_SERVICE "Allocate", dp_allocate, svc) != 0 ||
        k8s_grpc_server_add_unary(srv, K8S_DP_SERVICE "PreStartContainer", dp_prestart,
                                  svc) != 0)
        return -1;
    return 0;
}

int k8s_dp_register_request(const char *endpoint, const char *resource, uint8_t **out,
                            size_t *len)
{
    V1beta1__DevicePluginOptions o;
    options_init(&o);
    V1beta1__RegisterRequest r = V1BETA1__REGISTER_REQUEST__INIT;
    r.version = (char *)K8S_DP_API_VERSION;
    r.endpoint = (char *)endpoint;
    r.resource_name = (char *)resource;
    r.options = &o;
    return pack(&r.base, out, len);
}
