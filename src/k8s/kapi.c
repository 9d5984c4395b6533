/*
 * The Kubernetes API client (see kapi.h). Requests go through src/common/httpc.h, which caps
 * answers at 4 MiB, keeps connections alive and never turns TLS verification off; this file adds
 * the API server's address, token and CA, the Status objects' messages and conflict retries.
 * May call: httpc.h, jansson, config.h (k8s_read_token), libc.
 */
#include "kapi.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "httpc.h"

#define K8S_API_TIMEOUT_MS 30000
#define K8S_TOKEN_MAX 16384   /* projected service-account tokens are JWTs of 1-2 KiB */

struct k8s_api {
    char base[512];            /* https://host:port, no trailing slash */
    char token_file[512];      /* "" or missing file: no Authorization header */
    char ca_file[512];         /* "" or missing file: the system store / $TFUSE_CA_FILE */
};

static int file_exists(const char *p)
{
    FILE *f = *p ? fopen(p, "re") : NULL;
    if (f)
        fclose(f);
    return f != NULL;
}

struct k8s_api *k8s_api_open(const struct k8s_config *cfg, char *err, size_t errlen)
{
    struct k8s_api *api = calloc(1, sizeof *api);
    if (!api) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (cfg->kube_api[0]) {
        snprintf(api->base, sizeof api->base, "%s", cfg->kube_api);
    } else if (host && *host) {
        int v6 = strchr(host, ':') != NULL;   /* an IPv6 service address needs brackets */
        snprintf(api->base, sizeof api->base, "https://%s%s%s:%s", v6 ? "[" : "", host,
                 v6 ? "]" : "", port && *port ? port : "443");
    } else {
        snprintf(err, errlen, "no API server: pass --kube-api URL, or run in a pod "
                              "(KUBERNETES_SERVICE_HOST is not set)");
        free(api);
        return NULL;
    }
    size_t n = strlen(api->base);
    while (n && api->base[n - 1] == '/')
        api->base[--n] = '\0';
    if (strncmp(api->base, "https://", 8) != 0 && strncmp(api->base, "http://", 7) != 0) {
        snprintf(err, errlen, "the API server address '%s' is not an http(s) URL", api->base);
        free(api);
        return NULL;
    }
    snprintf(api->token_file, sizeof api->token_file, "%s", cfg->kube_token_file);
    if (file_exists(cfg->kube_ca_file))
        snprintf(api->ca_file, sizeof api->ca_file, "%s", cfg->kube_ca_file);
    return api;
}

void k8s_api_close(struct k8s_api *api)
{
    free(api);
}

const char *k8s_api_base(const struct k8s_api *api)
{
    return api->base;
}

int k8s_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 253)
        return 0;
    for (const char *p = name; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '.'))
            return 0;
    return 1;
}

/* "METHOD PATH: HTTP N: message" from a Status object, else from the raw body's start. */
static void describe_status(const char *method, const char *path, long status, json_t *reply,
                            const char *body, char *err, size_t errlen)
{
    const char *msg = json_string_value(json_object_get(reply, "message"));
    const char *reason = json_string_value(json_object_get(reply, "reason"));
    if (msg)
        snprintf(err, errlen, "%s %s: HTTP %ld%s%s: %s", method, path, status,
                 reason ? " " : "", reason ? reason : "", msg);
    else
        snprintf(err, errlen, "%s %s: HTTP %ld: %.200s", method, path, status,
                 body && *body ? body : "(no body)");
}

int k8s_api_request(struct k8s_api *api, const char *method, const char *path,
                    const char *content_type, const json_t *body, json_t **reply, char *err,
                    size_t errlen)
{
    char url[1536], *token = NULL, why[512];
    if (reply)
        *reply = NULL;
    snprintf(url, sizeof url, "%s%s", api->base, path);
    if (api->token_file[0] && file_exists(api->token_file)) {
        token = malloc(K8S_TOKEN_MAX);
        if (!token || k8s_read_token(api->token_file, token, K8S_TOKEN_MAX, why,
                                     sizeof why) != 0) {
            snprintf(err, errlen, "%s %s: service-account token: %s", method, path,
                     token ? why : "out of memory");
            free(token);
            return 0;
        }
    }
    struct tf_http_opts o = {.bearer = token, .ca_file = api->ca_file[0] ? api->ca_file : NULL,
                             .content_type = content_type};
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct tf_http_response r;
    int rc = tf_http_request(method, url, text, K8S_API_TIMEOUT_MS, &o, &r, why, sizeof why);
    free(text);
    free(token);
    if (rc != 0) {
        snprintf(err, errlen, "%s %s: cannot reach the API server at %s: %s", method, path,
                 api->base, why);
        return 0;
    }
    json_t *j = r.len ? json_loadb(r.body, r.len, 0, NULL) : NULL;
    if (r.status < 200 || r.status > 299)
        describe_status(method, path, r.status, j, r.body, err, errlen);
    free(r.body);
    if (reply)
        *reply = j;
    else
        json_decref(j);
    return (int)r.status;
}

int k8s_api_get(struct k8s_api *api, const char *path, json_t **obj, char *err, size_t errlen)
{
    int st = k8s_api_request(api, "GET", path, NULL, NULL, obj, err, errlen);
    if (st == 200 && !json_is_object(*obj)) {
        snprintf(err, errlen, "GET %s: the answer is not a JSON object", path);
        st = 502;
    }
    if (st != 200) {
        json_decref(*obj);
        *obj = NULL;
    }
    return st;
}

static void backoff(int attempt)
{
    /* 20, 40, 80 ... ms: writers that collide spread out instead of colliding again */
    long ms = 20L << (attempt < 5 ? attempt : 5);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int k8s_api_update(struct k8s_api *api, const char *path, const char *subresource,
                   k8s_mutate_fn mutate, void *arg, json_t **result, char *err, size_t errlen)
{
    char put_path[1024];
    snprintf(put_path, sizeof put_path, "%s%s%s", path, subresource ? "/" : "",
             subresource ? subresource : "");
    if (result)
        *result = NULL;
    for (int attempt = 0;; attempt++) {
        json_t *obj = NULL;
        int st = k8s_api_get(api, path, &obj, err, errlen);
        if (st != 200)
            return st;
        int m = mutate(obj, arg, err, errlen);
        if (m != 0) {
            if (m > 0 && result)
                *result = obj;
            else
                json_decref(obj);
            return m > 0 ? 200 : 422;
        }
        json_t *reply = NULL;
        st = k8s_api_request(api, "PUT", put_path, NULL, obj, &reply, err, errlen);
        json_decref(obj);
        if (st == 409 && attempt < K8S_API_CONFLICT_RETRIES) {
            json_decref(reply);
            backoff(attempt);
            continue;
        }
        if (result && st >= 200 && st < 300)
            *result = reply;
        else
            json_decref(reply);
        return st;
    }
}

/* "34", "34+" (some providers' minor) -> 34; -1 when no number leads. */
static int leading_number(const char *s)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    return (int)strtol(s, NULL, 10);
}

int k8s_api_server_version(struct k8s_api *api, int *major, int *minor, char *git,
                           size_t gitlen, char *err, size_t errlen)
{
    json_t *v = NULL;
    if (k8s_api_get(api, "/version", &v, err, errlen) != 200)
        return -1;
    *major = leading_number(json_string_value(json_object_get(v, "major")));
    *minor = leading_number(json_string_value(json_object_get(v, "minor")));
    const char *gv = json_string_value(json_object_get(v, "gitVersion"));
    if ((*major < 0 || *minor < 0) && gv && gv[0] == 'v' &&
        sscanf(gv + 1, "%d.%d", major, minor) != 2)
        *major = *minor = -1;
    if (git && gitlen)
        snprintf(git, gitlen, "%s", gv ? gv : "");
    json_decref(v);
    if (*major < 0 || *minor < 0) {
        snprintf(err, errlen, "GET /version: no major and minor version in the answer");
        return -1;
    }
    return 0;
}
