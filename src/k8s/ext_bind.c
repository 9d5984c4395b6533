/*
 * The extender's bind verb (see extender.h; the release loop and the subcommand are in
 * ext_main.c). Bind: the pool allocates on the node the scheduler chose
 * (request pinned by "node", tenant = the pod's namespace, idempotency key k8s-<pod uid>-<ms>),
 * the vGPU tokens go into a Secret owned by the pod (never into an annotation: whoever may
 * read pods would read them), the pod is annotated with the allocation, its vGPU ids, the
 * Secret's name and the bind time (what the device plugin's Allocate looks for), and then
 * bound; a failure after the allocation releases it. Calls kapi.h, https.h,
 * b64.h, the log, jansson.
 */
#include "extender.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b64.h"
#include "https.h"
#include "kapi.h"
#include "log.h"

#define SECRET_PREFIX "tfuse-vgpu-"

static char *bind_answer(const char *error)
{
    json_t *o = json_pack("{s:s}", "Error", error ? error : "");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* Releases the allocations of tenant whose key names this pod (a failed earlier bind). */
static void release_stale(struct k8s_extender *x, const char *tenant, const char *uid)
{
    char path[256], prefix[128], err[600];
    snprintf(path, sizeof path, "/api/v1/allocations?tenant=%s", tenant);
    snprintf(prefix, sizeof prefix, K8S_EXT_KEY_PREFIX "%s-", uid);
    json_t *reply;
    if (k8s_ext_pool(x, "GET", path, NULL, &reply, err, sizeof err) != 200) {
        json_decref(reply);
        return;   /* the new allocation's own key is fresh: nothing to conflict with */
    }
    json_t *list = json_object_get(reply, "allocations");
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *a = json_array_get(list, i);
        const char *key = k8s_json_str(a, "idempotency_key"), *id = k8s_json_str(a, "id");
        if (!key || !id || strncmp(key, prefix, strlen(prefix)) != 0)
            continue;
        snprintf(path, sizeof path, "/api/v1/allocations/%s", id);
        if (k8s_ext_pool(x, "DELETE", path, NULL, NULL, err, sizeof err) / 100 == 2)
            tf_info("extender: released %s of an earlier bind of pod %s", id, uid);
    }
    json_decref(reply);
}

/* The Secret with the allocation's tokens, owned by the pod (deleted with it). */
static json_t *secret_of(const char *ns, const char *pod, const char *uid, const json_t *alloc)
{
    char name[128], tokens[16 * 170] = "";
    snprintf(name, sizeof name, SECRET_PREFIX "%s", uid);
    const json_t *devs = json_object_get(alloc, "devices");
    const char *connect = k8s_json_str(json_array_get(devs, 0), "connect");
    for (size_t i = 0; i < json_array_size(devs); i++)
        snprintf(tokens + strlen(tokens), sizeof tokens - strlen(tokens), "%s%s", i ? "," : "",
                 k8s_json_str(json_array_get(devs, i), "token") ?: "");
    const char *id = k8s_json_str(alloc, "id") ?: "";
    char *t = k8s_b64_encode(tokens, strlen(tokens));
    char *c = k8s_b64_encode(connect ?: "", strlen(connect ?: ""));
    char *a = k8s_b64_encode(id, strlen(id));
    json_t *o = t && c && a ? json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:{s:s}, s:[{s:s, s:s, s:s, s:s}]}, s:s, s:{s:s, s:s, s:s}}",
        "apiVersion", "v1", "kind", "Secret", "metadata", "name", name, "namespace", ns,
        "labels", K8S_LABEL_MANAGED, "true", "ownerReferences", "apiVersion", "v1", "kind",
        "Pod", "name", pod, "uid", uid, "type", "Opaque", "data", "tokens", t, "connect", c,
        "allocation", a) : NULL;
    explicit_bzero(tokens, sizeof tokens);
    free(t);
    free(c);
    free(a);
    return o;
}

static int put_secret(struct k8s_extender *x, const char *ns, json_t *secret, char *err,
                      size_t errlen)
{
    char path[512];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/secrets", ns);
    int st = k8s_api_request(x->api, "POST", path, NULL, secret, NULL, err, errlen);
    if (st == 409) {   /* left by an earlier bind of the pod: replace it */
        snprintf(path + strlen(path), sizeof path - strlen(path), "/%s",
                 k8s_json_str(json_object_get(secret, "metadata"), "name"));
        st = k8s_api_request(x->api, "PUT", path, NULL, secret, NULL, err, errlen);
    }
    return st / 100 == 2 ? 0 : -1;
}

static json_t *bind_patch(const json_t *alloc, const char *node, const char *uid)
{
    char ids[16 * 80] = "", secret[128], when[64];
    const json_t *devs = json_object_get(alloc, "devices");
    for (size_t i = 0; i < json_array_size(devs); i++)
        snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%s", i ? "," : "",
                 k8s_json_str(json_array_get(devs, i), "vgpu_id") ?: "");
    snprintf(secret, sizeof secret, SECRET_PREFIX "%s", uid);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(when, sizeof when, "%lld.%09ld", (long long)ts.tv_sec, ts.tv_nsec);
    return json_pack("{s:{s:{s:s}, s:{s:s, s:s, s:s, s:s, s:s}}}", "metadata", "labels",
                     K8S_LABEL_MANAGED, "true", "annotations", K8S_ANN_ALLOCATION,
                     k8s_json_str(alloc, "id") ?: "", K8S_ANN_NODE, node, K8S_ANN_VGPUS, ids,
                     K8S_ANN_SECRET, secret, K8S_ANN_BIND_TIME, when);
}

/* Allocation, Secret, annotations: everything the device plugin needs before the binding. */
static int allocate_for(struct k8s_extender *x, const json_t *pod, const char *ns,
                        const char *name, const char *uid, const char *node, char **alloc_id,
                        char *err, size_t errlen)
{
    struct k8s_gpu_request r;
    int rc = k8s_pod_gpu_request(pod, NULL, &r, err, errlen);
    if (rc <= 0)
        return rc;
    const char *tenant = k8s_ext_tenant(x, ns);
    release_stale(x, tenant, uid);
    char key[128], path[512];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(key, sizeof key, K8S_EXT_KEY_PREFIX "%s-%lld", uid,
             (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    json_t *body = k8s_gpu_request_pool_body(&r, tenant, node, key), *alloc;
    int st = k8s_ext_pool(x, "POST", "/api/v1/allocations", body, &alloc, err, errlen);
    json_decref(body);
    if (st != 201 && st != 200) {
        json_decref(alloc);
        return -1;
    }
    *alloc_id = strdup(k8s_json_str(alloc, "id") ?: "");
    json_t *secret = secret_of(ns, name, uid, alloc), *patch = bind_patch(alloc, node, uid);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", ns, name);
    rc = !secret || !patch || put_secret(x, ns, secret, err, errlen) ||
                 k8s_api_request(x->api, "PATCH", path, K8S_PATCH_MERGE, patch, NULL, err,
                                 errlen) / 100 != 2
             ? -1 : 1;
    json_decref(secret);
    json_decref(patch);
    json_decref(alloc);
    return rc;
}

static void undo(struct k8s_extender *x, const char *ns, const char *uid, const char *alloc_id)
{
    char path[512], err[600];
    snprintf(path, sizeof path, "/api/v1/allocations/%s", alloc_id);
    if (k8s_ext_pool(x, "DELETE", path, NULL, NULL, err, sizeof err) / 100 != 2)
        tf_warn("extender: could not release %s: %s", alloc_id, err);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/secrets/" SECRET_PREFIX "%s", ns, uid);
    k8s_api_request(x->api, "DELETE", path, NULL, NULL, NULL, err, sizeof err);
}

static int bind_pod(struct k8s_extender *x, const char *ns, const char *name, const char *uid,
                    const char *node, char *err, size_t errlen)
{
    char path[512];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", ns, name);
    json_t *pod = NULL;
    if (k8s_api_get(x->api, path, &pod, err, errlen) != 200)
        return -1;
    const char *got_uid = k8s_json_str(json_object_get(pod, "metadata"), "uid");
    const char *bound = k8s_json_str(json_object_get(pod, "spec"), "nodeName");
    int rc = 0;
    char *alloc_id = NULL;
    if (!got_uid || strcmp(got_uid, uid) != 0) {
        snprintf(err, errlen, "pod %s/%s is not the pod %s the scheduler bound", ns, name, uid);
        rc = -1;
    } else if (bound && bound[0]) {   /* a retried bind whose answer was lost */
        if (strcmp(bound, node) != 0) {
            snprintf(err, errlen, "pod %s/%s is already bound to %s", ns, name, bound);
            rc = -1;
        }
    } else if (allocate_for(x, pod, ns, name, uid, node, &alloc_id, err, errlen) < 0) {
        rc = -1;
    } else {
        json_t *b = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}}", "apiVersion",
                              "v1", "kind", "Binding", "metadata", "name", name, "namespace",
                              ns, "uid", uid, "target", "apiVersion", "v1", "kind", "Node",
                              "name", node);
        snprintf(path + strlen(path), sizeof path - strlen(path), "/binding");
        if (k8s_api_request(x->api, "POST", path, NULL, b, NULL, err, errlen) / 100 != 2)
            rc = -1;
        json_decref(b);
    }
    if (rc && alloc_id)
        undo(x, ns, uid, alloc_id);
    else if (alloc_id)
        tf_info("extender: pod %s/%s bound to %s with allocation %s", ns, name, node, alloc_id);
    free(alloc_id);
    json_decref(pod);
    return rc;
}

int k8s_ext_bind(struct k8s_extender *x, const char *body, size_t len, char **resp)
{
    json_t *args = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    const char *f[4] = {"PodName", "PodNamespace", "PodUID", "Node"}, *v[4];
    bool ok = json_is_object(args);
    for (int i = 0; i < 4 && ok; i++) {
        json_t *m = k8s_ext_member(args, f[i]);
        v[i] = json_is_string(m) ? json_string_value(m) : NULL;
        ok = v[i] && k8s_name_ok(v[i]);
    }
    if (!ok) {
        json_decref(args);
        *resp = k8s_https_error("invalid", "expected ExtenderBindingArgs: PodName, "
                                "PodNamespace, PodUID and Node, each a DNS name or a UID");
        return 400;
    }
    char err[800] = "", msg[900];
    int rc = x->api ? bind_pod(x, v[1], v[0], v[2], v[3], err, sizeof err) : -1;
    if (!x->api)
        snprintf(err, sizeof err, "the extender has no API server to bind with");
    snprintf(msg, sizeof msg, "tensorfuse: %s", err);
    json_decref(args);
    *resp = bind_answer(rc ? msg : NULL);
    return *resp ? 200 : 500;
}
