/*
 * The scheduler extender's filter and prioritize verbs and its pool client (see extender.h).
 * A pod's request comes from its annotations (annotations.h: ours, as the webhook wrote them,
 * or the aliases); the candidate nodes go to the pool's dry run in chunks; the pool's verdicts
 * become the scheduler's FailedNodes (capacity, quota, health: preemption or time may help)
 * and FailedAndUnresolvableNodes (not a node of the pool, wrong pool, model or labels), and
 * its scores, 0..1 by the pool's strategy, become priorities 0..10. A pod that asks for no GPU
 * passes through untouched. Calls annotations.h, config.h (tokens), httpc.h, jansson.
 */
#include "extender.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "https.h"
#include "httpc.h"

#define MAX_PRIORITY 10   /* k8s.io/kube-scheduler/extender/v1 MaxExtenderPriority */

json_t *k8s_ext_member(const json_t *obj, const char *name)
{
    const char *key;
    json_t *v;
    if (!json_is_object(obj))
        return NULL;
    json_object_foreach((json_t *)obj, key, v)
        if (strcasecmp(key, name) == 0)
            return v;
    return NULL;
}

const char *k8s_ext_tenant(const struct k8s_extender *x, const char *ns)
{
    return x->tenant[0] ? x->tenant : ns;
}

int k8s_ext_pool(struct k8s_extender *x, const char *method, const char *path, json_t *body,
                 json_t **reply, char *err, size_t errlen)
{
    char token[4096] = "", url[1024], terr[600];
    if (reply)
        *reply = NULL;
    if (x->pool_token_file[0] && k8s_read_token(x->pool_token_file, token, sizeof token, terr,
                                                sizeof terr)) {
        snprintf(err, errlen, "the pool's credential: %s", terr);
        return 0;
    }
    snprintf(url, sizeof url, "%s%s", x->pool_url, path);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct tf_http_opts opts = {.bearer = token};
    struct tf_http_response r = {0};
    int rc = tf_http_request(method, url, text, K8S_EXT_POOL_TIMEOUT_MS, &opts, &r, terr,
                             sizeof terr);
    free(text);
    explicit_bzero(token, sizeof token);
    if (rc) {
        snprintf(err, errlen, "%s %s: %s", method, url, terr);
        return 0;
    }
    json_t *j = r.len ? json_loadb(r.body, r.len, 0, NULL) : NULL;
    if (r.status < 200 || r.status > 299) {
        const char *m = k8s_json_str(j, "message");
        snprintf(err, errlen, "%s %s: HTTP %ld: %s", method, path, r.status,
                 m ? m : r.body ? r.body : "");
    }
    free(r.body);
    if (reply)
        *reply = j;
    else
        json_decref(j);
    return (int)r.status;
}

/* The candidate names of ExtenderArgs: NodeNames (nodeCacheCapable) or Nodes.items. */
static json_t *candidate_names(const json_t *args, bool *by_name)
{
    json_t *names = k8s_ext_member(args, "NodeNames"), *out = json_array();
    *by_name = json_is_array(names);
    if (*by_name) {
        size_t i;
        json_t *v;
        json_array_foreach(names, i, v)
            if (json_is_string(v))
                json_array_append(out, v);
        return out;
    }
    json_t *items = k8s_ext_member(k8s_ext_member(args, "Nodes"), "items");
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *n = k8s_json_str(json_object_get(json_array_get(items, i), "metadata"),
                                     "name");
        json_array_append_new(out, json_string(n ? n : ""));
    }
    return out;
}

/* What the pool accepts as a node name (docs/pool-api.md); Kubernetes allows up to 253. */
static bool pool_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 64 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789._:-") == n;
}

/* The pool's verdicts for every name: {name: {"fits", "score", "reason", "message"}}. */
static json_t *dry_run(struct k8s_extender *x, const struct k8s_gpu_request *r, const char *ns,
                       const json_t *names, char *err, size_t errlen)
{
    json_t *verdicts = json_object();
    for (size_t at = 0; at < json_array_size(names); at += K8S_EXT_CHUNK) {
        json_t *body = k8s_gpu_request_pool_body(r, k8s_ext_tenant(x, ns), NULL, NULL);
        json_t *chunk = json_array();
        for (size_t i = at; i < at + K8S_EXT_CHUNK && i < json_array_size(names); i++) {
            json_t *n = json_array_get(names, i);
            if (pool_name_ok(json_string_value(n)))
                json_array_append(chunk, n);
            else   /* a name the pool refuses is no pool node's: asking would fail them all */
                json_object_set_new(verdicts, json_string_value(n), json_pack(
                    "{s:b, s:s, s:s}", "fits", 0, "reason", "unknown", "message",
                    "the pool names nodes with 1-63 characters of [A-Za-z0-9._:-]"));
        }
        json_object_set_new(body, "nodes", chunk);
        if (json_array_size(chunk) == 0) {
            json_decref(body);
            continue;
        }
        json_t *reply;
        int st = k8s_ext_pool(x, "POST", "/api/v1/placements", body, &reply, err, errlen);
        json_decref(body);
        if (st != 200) {
            json_decref(reply);
            json_decref(verdicts);
            return NULL;
        }
        json_t *list = json_object_get(reply, "nodes");
        for (size_t i = 0; i < json_array_size(list); i++) {
            json_t *e = json_array_get(list, i);
            const char *n = k8s_json_str(e, "name");
            if (n)
                json_object_set(verdicts, n, e);
        }
        json_decref(reply);
    }
    return verdicts;
}

/* Not a node of this pool, nor of its model or labels: waiting or preempting will not help. */
static bool unresolvable(const char *reason)
{
    static const char *const r[] = {"unknown", "other_pool", "labels", "model", NULL};
    for (int i = 0; reason && r[i]; i++)
        if (!strcmp(reason, r[i]))
            return true;
    return false;
}

static char *dump(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    return s;
}

static json_t *filter_answer(const json_t *args, const json_t *names, bool by_name,
                             const json_t *verdicts, const char *all_fail)
{
    json_t *keep = json_array(), *failed = json_object(), *hard = json_object();
    json_t *items = k8s_ext_member(k8s_ext_member(args, "Nodes"), "items");
    for (size_t i = 0; i < json_array_size(names); i++) {
        const char *n = json_string_value(json_array_get(names, i));
        const json_t *v = verdicts ? json_object_get(verdicts, n) : NULL;
        if (!all_fail && (!verdicts || json_is_true(json_object_get(v, "fits")))) {
            json_array_append(keep, by_name ? json_array_get(names, i) : json_array_get(items, i));
            continue;
        }
        char msg[700];
        const char *m = all_fail ? all_fail : k8s_json_str(v, "message");
        if (snprintf(msg, sizeof msg, "tensorfuse: %s",
                     m ? m : "the pool did not judge this node") >= (int)sizeof msg)
            memcpy(msg + sizeof msg - 4, "...", 4);   /* a pool message that long is cut */
        const char *reason = all_fail ? "invalid" : k8s_json_str(v, "reason");
        json_object_set_new(unresolvable(reason) || all_fail ? hard : failed, n, json_string(msg));
    }
    json_t *out = json_pack("{s:o, s:o, s:s}", "FailedNodes", failed,
                            "FailedAndUnresolvableNodes", hard, "Error", "");
    if (by_name)
        json_object_set_new(out, "NodeNames", keep);
    else
        json_object_set_new(out, "Nodes", json_pack("{s:o}", "items", keep));
    return out;
}

/* One filter or prioritize call: its arguments, and the pool's verdicts on its candidates. */
struct judged {
    json_t *args, *names;
    bool by_name;
    int asks;                          /* the pod asks for GPUs: 1; not: 0; wrongly: -1 (err) */
    json_t *verdicts;                  /* NULL unless asks == 1 and the pool answered */
    char err[700];
};

/* Reads ExtenderArgs and asks the pool about its candidates. 0; 400 with the answer in *resp
 * (not ExtenderArgs); -1 when the pool could not judge (j->err). */
static int judge(struct k8s_extender *x, const char *body, size_t len, struct judged *j,
                 char **resp)
{
    memset(j, 0, sizeof *j);
    j->args = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *pod = k8s_ext_member(j->args, "Pod");
    if (!json_is_object(j->args) || !json_is_object(pod)) {
        json_decref(j->args);
        j->args = NULL;
        *resp = k8s_https_error("invalid",
                                "expected ExtenderArgs: {\"Pod\": {...}, \"NodeNames\": [...]}");
        return 400;
    }
    j->names = candidate_names(j->args, &j->by_name);
    const char *ns = k8s_json_str(json_object_get(pod, "metadata"), "namespace");
    struct k8s_gpu_request r;
    j->asks = k8s_pod_gpu_request(pod, NULL, &r, j->err, sizeof j->err);
    if (j->asks == 1 &&
        !(j->verdicts = dry_run(x, &r, ns ? ns : "default", j->names, j->err, sizeof j->err)))
        return -1;
    return 0;
}

static void judged_free(struct judged *j)
{
    json_decref(j->verdicts);
    json_decref(j->names);
    json_decref(j->args);
}

int k8s_ext_filter(struct k8s_extender *x, const char *body, size_t len, char **resp)
{
    struct judged j;
    int rc = judge(x, body, len, &j, resp);
    if (rc == 400)
        return 400;
    json_t *out;
    if (rc < 0) {
        char msg[800];
        snprintf(msg, sizeof msg, "tensorfuse: the pool's placement: %s", j.err);
        out = json_pack("{s:s}", "Error", msg);   /* the scheduler retries the pod later */
    } else {
        out = filter_answer(j.args, j.names, j.by_name, j.verdicts, j.asks < 0 ? j.err : NULL);
    }
    judged_free(&j);
    *resp = dump(out);
    return *resp ? 200 : 500;
}

int k8s_ext_prioritize(struct k8s_extender *x, const char *body, size_t len, char **resp)
{
    struct judged j;
    int rc = judge(x, body, len, &j, resp);
    if (rc == 400)
        return 400;
    if (rc < 0) {
        *resp = k8s_https_error("pool", j.err);   /* the scheduler logs it and goes on */
        judged_free(&j);
        return 500;
    }
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(j.names); i++) {
        const char *n = json_string_value(json_array_get(j.names, i));
        const json_t *v = j.verdicts ? json_object_get(j.verdicts, n) : NULL;
        double s = json_is_true(json_object_get(v, "fits"))
                       ? json_number_value(json_object_get(v, "score")) : 0;
        long score = lround(fmin(fmax(s, 0), 1) * MAX_PRIORITY);
        json_array_append_new(out, json_pack("{s:s, s:I}", "Host", n, "Score",
                                             (json_int_t)score));
    }
    judged_free(&j);
    *resp = dump(out);
    return *resp ? 200 : 500;
}
