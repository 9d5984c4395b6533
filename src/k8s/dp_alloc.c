/*
 * The device plugin's Allocate (see dp_alloc.h). The kubelet admits a pod's containers one
 * Allocate at a time, after the extender bound the pod and annotated it; like HAMi, the pod is
 * found as the oldest bound-and-pending one still owed a container, and a small record
 * (cfg->plugin_dir/dp-alloc.json, written whole: tmp, fsync, rename) counts what each pending
 * pod has been given, so two pods of one shape are served one after the other. Pods that left
 * Pending are dropped from the record. Calls kapi.h, annotations.h, b64.h, jansson, libc.
 */
#include "dp_alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "annotations.h"
#include "b64.h"
#include "kapi.h"

static pthread_mutex_t dp_lock = PTHREAD_MUTEX_INITIALIZER;   /* the record's one writer */

/* The shares each GPU container asks, in the kubelet's order: init containers, containers. */
static int gpu_containers(const json_t *pod, long counts[], int max)
{
    const char *lists[] = {"initContainers", "containers"};
    int k = 0;
    for (int l = 0; l < 2; l++) {
        const json_t *cs = json_object_get(json_object_get(pod, "spec"), lists[l]);
        for (size_t i = 0; i < json_array_size(cs) && k < max; i++) {
            json_t *lim = json_object_get(json_object_get(json_object_get(
                json_array_get(cs, i), "resources"), "limits"), K8S_RESOURCE_VGPU);
            long v = json_is_string(lim) ? strtol(json_string_value(lim), NULL, 10)
                     : json_is_integer(lim) ? (long)json_integer_value(lim) : 0;
            if (v > 0)
                counts[k++] = v;
        }
    }
    return k;
}

static json_t *load_record(const char *path)
{
    json_t *r = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(r)) {   /* absent or unreadable: nothing served that we know of */
        json_decref(r);
        r = json_object();
    }
    return r;
}

static int save_record(const char *path, const json_t *rec, char *err, size_t errlen)
{
    char tmp[600];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(err, errlen, "the record's path is too long: %s", path);
        return -1;
    }
    char *text = json_dumps(rec, JSON_COMPACT);
    int fd = text ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    size_t n = text ? strlen(text) : 0;
    int ok = fd >= 0 && write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
    if (fd >= 0)
        ok &= close(fd) == 0;
    free(text);
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

struct pick {
    const json_t *pod;
    double bind_time;
};

/* The oldest pending pod bound here whose next GPU container asks for n shares. */
static const json_t *choose(const struct k8s_config *cfg, const json_t *items, json_t *rec,
                            size_t n)
{
    struct pick best = {NULL, 0};
    for (size_t i = 0; i < json_array_size(items); i++) {
        const json_t *p = json_array_get(items, i);
        const json_t *meta = json_object_get(p, "metadata");
        const json_t *ann = json_object_get(meta, "annotations");
        const char *uid = k8s_json_str(meta, "uid"), *node = k8s_json_str(ann, K8S_ANN_NODE);
        const char *t = k8s_json_str(ann, K8S_ANN_BIND_TIME);
        if (!uid || !node || strcmp(node, cfg->node_name) || !t ||
            !k8s_json_str(ann, K8S_ANN_SECRET) || !k8s_json_str(ann, K8S_ANN_ALLOCATION))
            continue;
        long counts[64];
        int k = gpu_containers(p, counts, 64);
        json_int_t served = json_integer_value(json_object_get(rec, uid));
        if (served >= k || counts[served] != (long)n)
            continue;
        double bt = strtod(t, NULL);
        if (!best.pod || bt < best.bind_time)
            best = (struct pick){p, bt};
    }
    return best.pod;
}

/* Keeps only the pods still pending here: the others have been admitted or are gone. */
static void prune(json_t *rec, const json_t *items)
{
    const char *uid;
    json_t *v, *tmp;
    json_object_foreach_safe(rec, tmp, uid, v) {
        bool seen = false;
        for (size_t i = 0; i < json_array_size(items) && !seen; i++)
            seen = !strcmp(k8s_json_str(json_object_get(json_array_get(items, i), "metadata"),
                                        "uid") ?: "", uid);
        if (!seen)
            json_object_del(rec, uid);
    }
}

static char *secret_value(const json_t *secret, const char *key)
{
    const char *v = k8s_json_str(json_object_get(secret, "data"), key);
    size_t len;
    char *out = v ? k8s_b64_decode(v, &len) : NULL;
    if (out && strlen(out) != len) {   /* an embedded NUL: not ours */
        free(out);
        out = NULL;
    }
    return out;
}

static int add_env(struct k8s_dp_alloc *a, const char *k, const char *v)
{
    char **e = realloc(a->env, (a->n_env + 1) * sizeof *e);
    if (!e)
        return -1;
    a->env = e;
    size_t len = strlen(k) + strlen(v) + 2;
    if (!(e[a->n_env] = malloc(len)))
        return -1;
    snprintf(e[a->n_env++], len, "%s=%s", k, v);
    return 0;
}

/* One mount the container gets; -1 when a path does not fit (refused rather than cut). */
static int add_mount(struct k8s_dp_alloc *a, const char *host, const char *container, int ro)
{
    typeof(a->mounts) m = realloc(a->mounts, (a->n_mounts + 1) * sizeof *m);
    if (!m)
        return -1;
    a->mounts = m;
    m += a->n_mounts;
    int wh = snprintf(m->host, sizeof m->host, "%s", host);
    int wc = snprintf(m->container, sizeof m->container, "%s", container);
    if (wh < 0 || (size_t)wh >= sizeof m->host || wc < 0 || (size_t)wc >= sizeof m->container)
        return -1;
    m->ro = ro;
    a->n_mounts++;
    return 0;
}

static int fill(const struct k8s_config *cfg, const char *tokens, const char *connect,
                struct k8s_dp_alloc *out)
{
    const char *libs[] = {"libcuda.so.1", "libnvidia-ml.so.1"};
    const char *addr = cfg->session_addr[0] ? cfg->session_addr : connect;
    if (add_env(out, "TFUSE_CONNECT", addr) || add_env(out, "TFUSE_TOKEN", tokens))
        return -1;
    /* A session socket on the host must exist in the container at the address the stub
     * dials (the CDI spec of the DRA path mounts it the same way). */
    if (strncmp(addr, "unix:", 5) == 0 && add_mount(out, addr + 5, addr + 5, 0))
        return -1;
    if (!cfg->stub_dir[0])
        return 0;
    /* CUDA images look in /usr/local/nvidia/lib64 too; ours come first. */
    if (add_env(out, "LD_LIBRARY_PATH",
                K8S_DP_LIB_DIR ":/usr/local/nvidia/lib64:/usr/local/nvidia/lib"))
        return -1;
    for (int i = 0; i < 2; i++) {
        char host[600], ctr[600];
        snprintf(host, sizeof host, "%s/%s", cfg->stub_dir, libs[i]);
        snprintf(ctr, sizeof ctr, "%s/%s", K8S_DP_LIB_DIR, libs[i]);
        if (add_mount(out, host, ctr, 1))
            return -1;
    }
    return 0;
}

/* The chosen pod's Secret into *out. */
static int from_secret(const struct k8s_config *cfg, struct k8s_api *api, const json_t *pod,
                       struct k8s_dp_alloc *out, char *err, size_t errlen)
{
    const json_t *meta = json_object_get(pod, "metadata");
    const char *ns = k8s_json_str(meta, "namespace") ?: "default";
    const char *name = k8s_json_str(json_object_get(meta, "annotations"), K8S_ANN_SECRET);
    char path[600];
    if (!k8s_name_ok(ns) || !k8s_name_ok(name)) {
        snprintf(err, errlen, "pod %s names a Secret that is not a DNS name",
                 k8s_json_str(meta, "name") ?: "?");
        return -1;
    }
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/secrets/%s", ns, name);
    json_t *secret = NULL;
    if (k8s_api_get(api, path, &secret, err, errlen) != 200)
        return -1;
    char *tokens = secret_value(secret, "tokens"), *connect = secret_value(secret, "connect");
    int rc = 0;
    if (!tokens || !tokens[0] || !connect || !connect[0]) {
        snprintf(err, errlen, "Secret %s/%s lacks the vGPU tokens or the address", ns, name);
        rc = -1;
    } else if (fill(cfg, tokens, connect, out)) {
        snprintf(err, errlen, "cannot build the answer: out of memory or a path over 511 bytes");
        rc = -1;
    }
    if (tokens)
        explicit_bzero(tokens, strlen(tokens));
    free(tokens);
    free(connect);
    json_decref(secret);
    return rc;
}

static int allocate_locked(const struct k8s_config *cfg, struct k8s_api *api, size_t n,
                           struct k8s_dp_alloc *out, char *err, size_t errlen)
{
    char path[900], rec_path[600];
    if (!k8s_name_ok(cfg->node_name)) {
        snprintf(err, errlen, "the node's name is not set (--node-name or NODE_NAME)");
        return -1;
    }
    snprintf(path, sizeof path, "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s%%2C"
             "status.phase%%3DPending&labelSelector=tensorfuse.io%%2Fvgpu%%3Dtrue",
             cfg->node_name);
    json_t *list = NULL;
    if (k8s_api_get(api, path, &list, err, errlen) != 200)
        return -1;
    const json_t *items = json_object_get(list, "items");
    snprintf(rec_path, sizeof rec_path, "%s/%s", cfg->plugin_dir, K8S_DP_STATE_FILE);
    json_t *rec = load_record(rec_path);
    prune(rec, items);
    const json_t *pod = choose(cfg, items, rec, n);
    int rc = -1;
    if (!pod) {
        snprintf(err, errlen, "no pending pod bound to %s by the extender awaits a container "
                 "of %zu %s", cfg->node_name, n, K8S_RESOURCE_VGPU);
    } else if (from_secret(cfg, api, pod, out, err, errlen) == 0) {
        const char *uid = k8s_json_str(json_object_get(pod, "metadata"), "uid");
        json_object_set_new(rec, uid,
                            json_integer(json_integer_value(json_object_get(rec, uid)) + 1));
        rc = save_record(rec_path, rec, err, errlen);
    }
    json_decref(rec);
    json_decref(list);
    return rc;
}

int k8s_dp_allocate(const struct k8s_config *cfg, const char *const *device_ids, size_t n,
                    struct k8s_dp_alloc *out, char *err, size_t errlen)
{
    (void)device_ids;   /* interchangeable shares: only their number says which container */
    memset(out, 0, sizeof *out);
    if (n == 0) {
        snprintf(err, errlen, "Allocate without devices");
        return -1;
    }
    struct k8s_api *api = k8s_api_open(cfg, err, errlen);
    if (!api)
        return -1;
    pthread_mutex_lock(&dp_lock);
    int rc = allocate_locked(cfg, api, n, out, err, errlen);
    pthread_mutex_unlock(&dp_lock);
    k8s_api_close(api);
    if (rc)
        k8s_dp_alloc_free(out);
    return rc;
}

void k8s_dp_alloc_free(struct k8s_dp_alloc *a)
{
    for (size_t i = 0; i < a->n_env; i++) {
        explicit_bzero(a->env[i], strlen(a->env[i]));   /* TFUSE_TOKEN */
        free(a->env[i]);
    }
    free(a->env);
    free(a->mounts);
    memset(a, 0, sizeof *a);
}
