/*
 * `tfuse-k8s webhook`: the mutating admission webhook of the device-plugin path
 * (AdmissionReview admission.k8s.io/v1 over HTTPS). For a pod created with our annotations, or
 * Tensor Fusion's or HAMi's vocabulary as aliases, it answers a JSONPatch that writes our
 * canonical annotations, labels the pod tensorfuse.io/vgpu=true, replaces HAMi's container
 * resources by the tensorfuse.io/vgpu extended resource (so the kube-scheduler counts the
 * device plugin's shares and the extender sees the pod) and sets spec.schedulerName when
 * asked. A request it cannot honour is denied with the reason; a pod that asks for no GPU is
 * allowed untouched. Owns: the review's decoding and answer. May call: annotations.h, https.h,
 * jansson, libc.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "annotations.h"
#include "b64.h"
#include "https.h"
#include "k8s_cmds.h"
#include "webhook.h"

static const char *const hami_names[] = {"nvidia.com/gpu", "nvidia.com/gpumem",
                                         "nvidia.com/gpumem-percentage", "nvidia.com/gpucores",
                                         "nvidia.com/priority", NULL};

/* "add" of a whole member: RFC 6902 replaces an existing member, creates an absent one. */
static void add_op(json_t *patch, const char *path, json_t *value)
{
    json_array_append_new(patch, json_pack("{s:s, s:s, s:o}", "op", "add", "path", path, "value",
                                           value));
}

/* The container's resources with HAMi's names gone and tensorfuse.io/vgpu = count. */
static json_t *container_resources(const json_t *c, int count)
{
    json_t *res = json_deep_copy(json_object_get(c, "resources"));
    if (!json_is_object(res)) {
        json_decref(res);
        res = json_object();
    }
    char n[16];
    snprintf(n, sizeof n, "%d", count);
    const char *kinds[] = {"limits", "requests"};
    for (int k = 0; k < 2; k++) {
        json_t *m = json_object_get(res, kinds[k]);
        if (!json_is_object(m)) {
            if (k == 1)
                continue;   /* requests of an extended resource default to its limits */
            json_object_set_new(res, kinds[k], m = json_object());
        }
        for (int i = 0; hami_names[i]; i++)
            json_object_del(m, hami_names[i]);
        if (k == 0 || json_object_get(m, K8S_RESOURCE_VGPU))
            json_object_set_new(m, K8S_RESOURCE_VGPU, json_string(n));
        if (k == 1 && json_object_size(m) == 0)
            json_object_del(res, "requests");
    }
    return res;
}

static json_t *merged(const json_t *meta, const char *key, json_t *add)
{
    json_t *m = json_deep_copy(json_object_get(meta, key));
    if (!json_is_object(m)) {
        json_decref(m);
        m = json_object();
    }
    json_object_update(m, add);
    json_decref(add);
    return m;
}

static json_t *pod_patch(const struct k8s_webhook_opts *o, const json_t *pod,
                         const struct k8s_gpu_request *r)
{
    json_t *patch = json_array();
    const json_t *meta = json_object_get(pod, "metadata");
    add_op(patch, "/metadata/annotations",
           merged(meta, "annotations", k8s_gpu_request_annotations(r)));
    add_op(patch, "/metadata/labels",
           merged(meta, "labels", json_pack("{s:s}", K8S_LABEL_MANAGED, "true")));
    const json_t *containers = json_object_get(json_object_get(pod, "spec"), "containers");
    for (size_t i = 0; i < json_array_size(containers); i++) {
        const json_t *c = json_array_get(containers, i);
        const char *name = k8s_json_str(c, "name");
        bool gpu = false;
        for (int k = 0; k < r->n_containers && !gpu; k++)
            gpu = name && !strcmp(name, r->containers[k]);
        char path[64];
        snprintf(path, sizeof path, "/spec/containers/%zu/resources", i);
        if (gpu)
            add_op(patch, path, container_resources(c, r->gpu_count));
    }
    if (o->scheduler_name && o->scheduler_name[0])
        add_op(patch, "/spec/schedulerName", json_string(o->scheduler_name));
    return patch;
}

static json_t *answer(const char *uid, bool allowed, const char *message, json_t *patch)
{
    json_t *resp = json_pack("{s:s, s:b}", "uid", uid, "allowed", allowed);
    if (!allowed)
        json_object_set_new(resp, "status", json_pack("{s:i, s:s, s:s}", "code", 400, "reason",
                                                      "BadRequest", "message", message));
    if (patch) {
        char *text = json_dumps(patch, JSON_COMPACT);
        char *b64 = text ? k8s_b64_encode(text, strlen(text)) : NULL;
        json_object_set_new(resp, "patchType", json_string("JSONPatch"));
        json_object_set_new(resp, "patch", json_string(b64 ? b64 : ""));
        free(text);
        free(b64);
        json_decref(patch);
    }
    return json_pack("{s:s, s:s, s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
                     "AdmissionReview", "response", resp);
}

/* The review's request, or NULL with the reason: what is not a v1 AdmissionReview is a 400. */
static const json_t *review_request(const json_t *rv, char *err, size_t errlen)
{
    const char *api = k8s_json_str(rv, "apiVersion"), *kind = k8s_json_str(rv, "kind");
    const json_t *req = json_object_get(rv, "request");
    const char *uid = k8s_json_str(req, "uid");
    if (!json_is_object(rv) || !api || strcmp(api, "admission.k8s.io/v1") || !kind ||
        strcmp(kind, "AdmissionReview"))
        snprintf(err, errlen, "expected an AdmissionReview of admission.k8s.io/v1");
    else if (!json_is_object(req) || !uid || !uid[0] || strlen(uid) > 128)
        snprintf(err, errlen, "the review has no request with a uid (1-128 characters)");
    else
        return req;
    return NULL;
}

int k8s_webhook_review(const struct k8s_webhook_opts *o, const char *body, size_t len,
                       char **resp)
{
    json_error_t je;
    char err[600];
    json_t *rv = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    const json_t *req = rv ? review_request(rv, err, sizeof err) : NULL;
    if (!rv)
        snprintf(err, sizeof err, "invalid JSON at line %d: %s", je.line, je.text);
    if (!req) {
        json_decref(rv);
        *resp = k8s_https_error("invalid", err);
        return 400;
    }
    const char *uid = k8s_json_str(req, "uid");
    const char *op = k8s_json_str(req, "operation");
    const json_t *obj = json_object_get(req, "object");
    const char *kind = k8s_json_str(obj, "kind");
    json_t *out;
    struct k8s_gpu_request r;
    if (!op || strcmp(op, "CREATE") || (kind && strcmp(kind, "Pod"))) {
        out = answer(uid, true, NULL, NULL);   /* only pod creations are ours to change */
    } else {
        int rc = k8s_pod_gpu_request(obj, &o->defaults, &r, err, sizeof err);
        if (rc < 0) {
            char msg[700];
            snprintf(msg, sizeof msg, "tensorfuse: %s", err);
            out = answer(uid, false, msg, NULL);
        } else {
            out = answer(uid, true, NULL, rc ? pod_patch(o, obj, &r) : NULL);
        }
    }
    json_decref(rv);
    *resp = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    return *resp ? 200 : 500;
}

static int handle(void *arg, const char *method, const char *url, const char *body, size_t len,
                  char **resp)
{
    if (!strcmp(url, "/healthz")) {
        *resp = strdup("{\"status\":\"ok\"}");
        return 200;
    }
    if (strcmp(url, "/mutate") != 0) {
        *resp = k8s_https_error("invalid", "no such path (the webhook serves POST /mutate)");
        return 404;
    }
    if (strcmp(method, "POST") != 0) {
        *resp = k8s_https_error("invalid", "method not allowed: POST an AdmissionReview");
        return 405;
    }
    return k8s_webhook_review(arg, body, len, resp);
}

static const char usage_text[] =
    "usage: tfuse-k8s webhook --listen HOST:PORT --tls-cert FILE --tls-key FILE\n"
    "                         [--scheduler-name NAME] [--default-vram SIZE]\n"
    "                         [--default-compute PCT] [--default-compute-limit PCT]\n"
    "                         [--ready-file PATH]\n"
    "Serves POST /mutate (AdmissionReview v1) and GET /healthz over HTTPS.\n";

int k8s_cmd_webhook(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'}, {"tls-cert", required_argument, 0, 'c'},
        {"tls-key", required_argument, 0, 'k'}, {"scheduler-name", required_argument, 0, 's'},
        {"default-vram", required_argument, 0, 'v'},
        {"default-compute", required_argument, 0, 'p'},
        {"default-compute-limit", required_argument, 0, 'P'},
        {"ready-file", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    struct k8s_webhook_opts o = {.defaults = {0, 10, 100}};
    const char *listen = NULL, *cert = NULL, *key = NULL, *ready = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 's': o.scheduler_name = optarg; break;
        case 'r': ready = optarg; break;
        case 'v':
            if (k8s_ann_bytes(optarg, &o.defaults.vram) || !o.defaults.vram) {
                fprintf(stderr, "tfuse-k8s webhook: --default-vram '%s': a size such as 4Gi\n",
                        optarg);
                return 2;
            }
            break;
        case 'p':
        case 'P': {
            double *d = c == 'p' ? &o.defaults.compute_request_pct : &o.defaults.compute_limit_pct;
            if (k8s_ann_number(optarg, d) || *d <= 0 || *d > 100) {
                fprintf(stderr, "tfuse-k8s webhook: %s: a percent in (0, 100]\n", optarg);
                return 2;
            }
            break;
        }
        case 'h': fputs(usage_text, stdout); return 0;
        default: fputs(usage_text, stderr); return 2;
        }
    }
    if (optind != argc || !listen) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (o.defaults.compute_limit_pct < o.defaults.compute_request_pct) {
        fprintf(stderr, "tfuse-k8s webhook: --default-compute-limit is below --default-compute\n");
        return 2;
    }
    return k8s_serve("webhook", listen, cert, key, 4u << 20, handle, &o, ready);
}
