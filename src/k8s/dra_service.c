/*
 * The DRA plugin service, v1 and v1beta1 (dra_service.h). The two versions' messages are the
 * same on the wire but for v1's Device.share_id, so both are decoded and encoded with the v1
 * types from proto/dra_v1.proto, and the v1beta1 answer leaves share_id out.
 * Owns: per-claim answers, the busy set that runs calls for one uid one at a time, the
 * checkpoint's lock. May call: grpcsrv.h, checkpoint.h, the k8s_dra_ops it is given,
 * protobuf-c (dra_v1.pb-c.h), src/common/log.h.
 */
#include "dra_service.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "dra_v1.pb-c.h"
#include "log.h"

#define DRA(x) K8s__Io__Kubelet__Pkg__Apis__Dra__V1__##x
#define DRA_INIT(x) K8S__IO__KUBELET__PKG__APIS__DRA__V1__##x##__INIT
#define DRA_DESC(x) k8s__io__kubelet__pkg__apis__dra__v1__##x##__descriptor
#define BUSY_MAX 64 /* uids in progress at once: more than the calls grpcsrv runs */

/* one version's entry points on the server: whether its Device has share_id */
struct dra_version {
    struct k8s_dra *d;
    int share_id;
};

struct k8s_dra {
    const struct k8s_config *cfg;
    const struct k8s_dra_ops *ops;
    pthread_mutex_t mu; /* the checkpoint and the busy set */
    pthread_cond_t idle;
    struct k8s_checkpoint ck;
    char busy[BUSY_MAX][K8S_NAME_MAX];
    struct dra_version v1, v1beta1;
};

struct k8s_dra *k8s_dra_new(const struct k8s_config *cfg, const struct k8s_dra_ops *ops,
                            char *err, size_t errlen)
{
    struct k8s_dra *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (k8s_ckpt_load(&d->ck, cfg->plugin_dir, err, errlen) < 0) {
        free(d);
        return NULL;
    }
    d->cfg = cfg;
    d->ops = ops;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->idle, NULL);
    return d;
}

/* ---- one uid at a time ------------------------------------------------------------------- */

static int busy_index(struct k8s_dra *d, const char *uid)
{
    for (int i = 0; i < BUSY_MAX; i++)
        if (d->busy[i][0] && !strcmp(d->busy[i], uid))
            return i;
    return -1;
}

/* with mu held: wait until nobody works on uid and a slot is free, then take it */
static int busy_enter(struct k8s_dra *d, const char *uid)
{
    for (;;) {
        int slot = -1;
        for (int i = 0; i < BUSY_MAX && slot < 0; i++)
            if (!d->busy[i][0])
                slot = i;
        if (busy_index(d, uid) < 0 && slot >= 0) {
            snprintf(d->busy[slot], sizeof(d->busy[slot]), "%s", uid);
            return slot;
        }
        pthread_cond_wait(&d->idle, &d->mu);
    }
}

static void busy_leave(struct k8s_dra *d, int slot)
{
    pthread_mutex_lock(&d->mu);
    d->busy[slot][0] = 0;
    pthread_cond_broadcast(&d->idle);
    pthread_mutex_unlock(&d->mu);
}

/* ---- per claim --------------------------------------------------------------------------- */

static int claim_ok(const DRA(Claim) *c, char *err, size_t errlen)
{
    const char *what = !c->uid || !c->uid[0]               ? "uid"
                       : !c->namespace_ || !c->namespace_[0] ? "namespace"
                       : !c->name || !c->name[0]           ? "name"
                                                           : NULL;
    if (what) {
        snprintf(err, errlen, "claim without a %s", what);
        return -1;
    }
    if (strlen(c->uid) >= K8S_NAME_MAX || strlen(c->namespace_) >= K8S_NAME_MAX ||
        strlen(c->name) >= K8S_NAME_MAX) {
        snprintf(err, errlen, "claim's uid, namespace or name over %d bytes", K8S_NAME_MAX - 1);
        return -1;
    }
    return 0;
}

/* Prepare one claim into *out: from the checkpoint if it is there, else by ops->prepare and
 * then the checkpoint (a failed save undoes the prepare: the kubelet will ask again). */
static int prepare_one(struct k8s_dra *d, const DRA(Claim) *c, struct k8s_prepared_claim *out,
                       char *err, size_t errlen)
{
    if (claim_ok(c, err, errlen) < 0)
        return -1;
    pthread_mutex_lock(&d->mu);
    int slot = busy_enter(d, c->uid);
    const struct k8s_prepared_claim *done = k8s_ckpt_find(&d->ck, c->uid);
    if (done)
        *out = *done;
    pthread_mutex_unlock(&d->mu);
    int rc = 0;
    if (!done) {
        memset(out, 0, sizeof(*out));
        rc = d->ops->prepare(d->cfg, c->namespace_, c->name, c->uid, out, err, errlen);
        if (rc == 0) {
            snprintf(out->uid, sizeof(out->uid), "%s", c->uid);
            snprintf(out->ns, sizeof(out->ns), "%s", c->namespace_);
            snprintf(out->name, sizeof(out->name), "%s", c->name);
            pthread_mutex_lock(&d->mu);
            rc = k8s_ckpt_put(&d->ck, out, err, errlen);
            pthread_mutex_unlock(&d->mu);
            char uerr[256];
            if (rc < 0 && d->ops->unprepare(d->cfg, out, uerr, sizeof(uerr)) < 0)
                snprintf(err + strlen(err), errlen - strlen(err), "; undoing it: %s", uerr);
        }
        if (rc == 0)
            tf_info("prepared claim %s/%s (%s): %zu device(s)", c->namespace_, c->name, c->uid,
                    out->n_devices);
        else
            tf_warn("claim %s/%s (%s) not prepared: %s", c->namespace_, c->name, c->uid, err);
    }
    busy_leave(d, slot);
    return rc;
}

/* Unprepare one claim from its checkpoint record alone; a uid we never prepared (or undid
 * already) is done. The record goes only once the undo worked. */
static int unprepare_one(struct k8s_dra *d, const DRA(Claim) *c, char *err, size_t errlen)
{
    if (!c->uid || !c->uid[0] || strlen(c->uid) >= K8S_NAME_MAX) {
        snprintf(err, errlen, "claim without a valid uid");
        return -1;
    }
    struct k8s_prepared_claim *rec = malloc(sizeof(*rec));
    if (!rec) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&d->mu);
    int slot = busy_enter(d, c->uid);
    const struct k8s_prepared_claim *done = k8s_ckpt_find(&d->ck, c->uid);
    if (done)
        *rec = *done;
    pthread_mutex_unlock(&d->mu);
    int rc = 0;
    if (done && (rc = d->ops->unprepare(d->cfg, rec, err, errlen)) == 0) {
        pthread_mutex_lock(&d->mu);
        rc = k8s_ckpt_del(&d->ck, c->uid, err, errlen);
        pthread_mutex_unlock(&d->mu);
    }
    if (done && rc == 0)
        tf_info("unprepared claim %s/%s (%s)", rec->ns, rec->name, rec->uid);
    else if (done)
        tf_warn("claim %s/%s (%s) not unprepared: %s", rec->ns, rec->name, rec->uid, err);
    busy_leave(d, slot);
    free(rec);
    return rc;
}

/* ---- the RPCs ---------------------------------------------------------------------------- */

/* everything one claim's answer points to, alive until it is packed */
struct prep_answer {
    struct k8s_prepared_claim rec;
    char error[512];
    char *req_names[K8S_CLAIM_DEVICES_MAX], *cdi_ids[K8S_CLAIM_DEVICES_MAX];
    DRA(Device) devs[K8S_CLAIM_DEVICES_MAX];
    DRA(Device) *devp[K8S_CLAIM_DEVICES_MAX];
    DRA(NodePrepareResourceResponse) resp;
    DRA(NodePrepareResourcesResponse__ClaimsEntry) entry;
};

static void answer_fill(struct prep_answer *a, int ok, int with_share_id)
{
    DRA(NodePrepareResourceResponse) r = DRA_INIT(NODE_PREPARE_RESOURCE_RESPONSE);
    a->resp = r;
    if (!ok) {
        a->resp.error = a->error[0] ? a->error : "prepare failed";
        return;
    }
    for (size_t i = 0; i < a->rec.n_devices; i++) {
        struct k8s_prepared_device *pd = &a->rec.devices[i];
        DRA(Device) dev = DRA_INIT(DEVICE);
        a->req_names[i] = pd->request;
        a->cdi_ids[i] = pd->cdi_id;
        dev.n_request_names = pd->request[0] ? 1 : 0;
        dev.request_names = &a->req_names[i];
        dev.pool_name = pd->pool;
        dev.device_name = pd->device;
        dev.n_cdi_device_ids = pd->cdi_id[0] ? 1 : 0;
        dev.cdi_device_ids = &a->cdi_ids[i];
        if (with_share_id)
            dev.share_id = pd->share_id;
        a->devs[i] = dev;
        a->devp[i] = &a->devs[i];
    }
    a->resp.n_devices = a->rec.n_devices;
    a->resp.devices = a->devp;
}

/* the uid answered earlier in this request (the map has one entry per uid) */
static int seen_before(DRA(Claim) **claims, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (claims[i]->uid && claims[j]->uid && !strcmp(claims[i]->uid, claims[j]->uid))
            return 1;
    return 0;
}

static int pack_reply(const ProtobufCMessage *m, uint8_t **resp, size_t *resp_len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    *resp = malloc(n ? n : 1);
    if (!*resp)
        return K8S_GRPC_RESOURCE_EXHAUSTED;
    *resp_len = protobuf_c_message_pack(m, *resp);
    return K8S_GRPC_OK;
}

static int prepare_rpc(void *arg, const uint8_t *req, size_t req_len, uint8_t **resp,
                       size_t *resp_len, char *msg, size_t msglen)
{
    struct dra_version *v = arg;
    DRA(NodePrepareResourcesRequest) *in = (DRA(NodePrepareResourcesRequest) *)
        protobuf_c_message_unpack(&DRA_DESC(node_prepare_resources_request), NULL, req_len, req);
    if (!in) {
        snprintf(msg, msglen, "NodePrepareResourcesRequest does not decode");
        return K8S_GRPC_INVALID_ARGUMENT;
    }
    struct prep_answer *ans = calloc(in->n_claims ? in->n_claims : 1, sizeof(*ans));
    DRA(NodePrepareResourcesResponse__ClaimsEntry) **entries =
        calloc(in->n_claims ? in->n_claims : 1, sizeof(*entries));
    int code = K8S_GRPC_RESOURCE_EXHAUSTED;
    if (ans && entries) {
        DRA(NodePrepareResourcesResponse) out = DRA_INIT(NODE_PREPARE_RESOURCES_RESPONSE);
        for (size_t i = 0; i < in->n_claims; i++) {
            if (seen_before(in->claims, i))
                continue;
            struct prep_answer *a = &ans[i];
            int ok = prepare_one(v->d, in->claims[i], &a->rec, a->error, sizeof(a->error)) == 0;
            answer_fill(a, ok, v->share_id);
            DRA(NodePrepareResourcesResponse__ClaimsEntry) e =
                DRA_INIT(NODE_PREPARE_RESOURCES_RESPONSE__CLAIMS_ENTRY);
            a->entry = e;
            a->entry.key = in->claims[i]->uid;
            a->entry.value = &a->resp;
            entries[out.n_claims++] = &a->entry;
        }
        out.claims = entries;
        code = pack_reply(&out.base, resp, resp_len);
    }
    free(entries);
    free(ans);
    protobuf_c_message_free_unpacked(&in->base, NULL);
    return code;
}

static int unprepare_rpc(void *arg, const uint8_t *req, size_t req_len, uint8_t **resp,
                         size_t *resp_len, char *msg, size_t msglen)
{
    struct dra_version *v = arg;
    DRA(NodeUnprepareResourcesRequest) *in = (DRA(NodeUnprepareResourcesRequest) *)
        protobuf_c_message_unpack(&DRA_DESC(node_unprepare_resources_request), NULL, req_len,
                                  req);
    if (!in) {
        snprintf(msg, msglen, "NodeUnprepareResourcesRequest does not decode");
        return K8S_GRPC_INVALID_ARGUMENT;
    }
    size_t n = in->n_claims ? in->n_claims : 1;
    DRA(NodeUnprepareResourceResponse) *res = calloc(n, sizeof(*res));
    DRA(NodeUnprepareResourcesResponse__ClaimsEntry) *ent = calloc(n, sizeof(*ent)), **entp =
        calloc(n, sizeof(*entp));
    char(*errs)[512] = calloc(n, sizeof(*errs));
    int code = K8S_GRPC_RESOURCE_EXHAUSTED;
    if (res && ent && entp && errs) {
        DRA(NodeUnprepareResourcesResponse) out = DRA_INIT(NODE_UNPREPARE_RESOURCES_RESPONSE);
        for (size_t i = 0; i < in->n_claims; i++) {
            if (seen_before(in->claims, i))
                continue;
            DRA(NodeUnprepareResourceResponse) r = DRA_INIT(NODE_UNPREPARE_RESOURCE_RESPONSE);
            DRA(NodeUnprepareResourcesResponse__ClaimsEntry) e =
                DRA_INIT(NODE_UNPREPARE_RESOURCES_RESPONSE__CLAIMS_ENTRY);
            res[i] = r;
            if (unprepare_one(v->d, in->claims[i], errs[i], sizeof(errs[i])) < 0)
                res[i].error = errs[i][0] ? errs[i] : "unprepare failed";
            ent[i] = e;
            ent[i].key = in->claims[i]->uid;
            ent[i].value = &res[i];
            entp[out.n_claims++] = &ent[i];
        }
        out.claims = entp;
        code = pack_reply(&out.base, resp, resp_len);
    }
    free(res);
    free(ent);
    free(entp);
    free(errs);
    protobuf_c_message_free_unpacked(&in->base, NULL);
    return code;
}

int k8s_dra_serve(struct k8s_dra *d, struct k8s_grpc_server *srv)
{
    d->v1 = (struct dra_version){d, 1};
    d->v1beta1 = (struct dra_version){d, 0};
    const struct {
        const char *method;
        k8s_grpc_unary_fn fn;
        struct dra_version *v;
    } m[] = {
        {K8S_DRA_V1_SERVICE "/NodePrepareResources", prepare_rpc, &d->v1},
        {K8S_DRA_V1_SERVICE "/NodeUnprepareResources", unprepare_rpc, &d->v1},
        {K8S_DRA_V1BETA1_SERVICE "/NodePrepareResources", prepare_rpc, &d->v1beta1},
        {K8S_DRA_V1BETA1_SERVICE "/NodeUnprepareResources", unprepare_rpc, &d->v1beta1},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        if (k8s_grpc_server_add_unary(srv, m[i].method, m[i].fn, m[i].v) < 0)
            return -1;
    return 0;
}

size_t k8s_dra_prepared_count(struct k8s_dra *d)
{
    pthread_mutex_lock(&d->mu);
    size_t n = d->ck.n;
    pthread_mutex_unlock(&d->mu);
    return n;
}

void k8s_dra_free(struct k8s_dra *d)
{
    if (!d)
        return;
    k8s_ckpt_free(&d->ck);
    pthread_cond_destroy(&d->idle);
    pthread_mutex_destroy(&d->mu);
    free(d);
}
