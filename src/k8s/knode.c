/*
 * Calls to the TensorFuse node and Kubernetes quantities (see knode.h).
 * May call: httpc.h, jansson, config.h (k8s_read_token), libc.
 */
#include "knode.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "httpc.h"

#define K8S_NODE_TIMEOUT_MS 30000

int k8s_node_call(const struct k8s_config *cfg, const char *method, const char *path,
                  const json_t *body, json_t **reply, char *err, size_t errlen)
{
    char url[1024], token[512] = "", why[512];
    const char *sock;
    *reply = NULL;
    if (tf_http_api_url(cfg->node_api, path, url, sizeof url, &sock, err, errlen) != 0)
        return 0;
    if (cfg->node_token_file[0] &&
        k8s_read_token(cfg->node_token_file, token, sizeof token, why, sizeof why) != 0) {
        snprintf(err, errlen, "node API token: %s", why);
        return 0;
    }
    struct tf_http_opts o = {.bearer = token, .unix_socket = sock};
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct tf_http_response r;
    int rc = tf_http_request(method, url, text, K8S_NODE_TIMEOUT_MS, &o, &r, why, sizeof why);
    free(text);
    if (rc != 0) {
        snprintf(err, errlen, "cannot reach the TensorFuse node API at %s: %s", cfg->node_api,
                 why);
        return 0;
    }
    if (r.len)
        *reply = json_loadb(r.body, r.len, 0, NULL);
    if (r.status >= 400) {
        const char *m = json_string_value(json_object_get(*reply, "message"));
        snprintf(err, errlen, "node API %s %s: HTTP %ld: %s", method, path, r.status,
                 m ? m : "no message");
    }
    free(r.body);
    return (int)r.status;
}

json_t *k8s_node_devices(const struct k8s_config *cfg, char *err, size_t errlen)
{
    json_t *reply = NULL;
    int st = k8s_node_call(cfg, "GET", "/api/v1/devices", NULL, &reply, err, errlen);
    json_t *devs = json_object_get(reply, "devices");
    if (st == 200 && json_is_array(devs)) {
        json_incref(devs);
        json_decref(reply);
        return devs;
    }
    if (st == 200)
        snprintf(err, errlen, "node API GET /api/v1/devices: no \"devices\" array");
    json_decref(reply);
    return NULL;
}

int k8s_node_delete_vgpu(const struct k8s_config *cfg, const char *id, char *err, size_t errlen)
{
    char path[256];
    for (const char *p = id; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_.-", *p)) {
            snprintf(err, errlen, "the vGPU id '%s' is outside the id rule", id);
            return -1;
        }
    snprintf(path, sizeof path, "/api/v1/vgpus/%s", id);
    json_t *reply = NULL;
    int st = k8s_node_call(cfg, "DELETE", path, NULL, &reply, err, errlen);
    json_decref(reply);
    return st == 204 || st == 404 || st == 202 || st == 200 ? 0 : -1;
}

/* ---- quantities ---- */

static double suffix_scale(const char *s, int *ok)
{
    static const struct { const char *s; double m; } tab[] = {
        {"", 1}, {"n", 1e-9}, {"u", 1e-6}, {"m", 1e-3}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9},
        {"T", 1e12}, {"P", 1e15}, {"E", 1e18}, {"Ki", 1024.0}, {"Mi", 1048576.0},
        {"Gi", 1073741824.0}, {"Ti", 1099511627776.0}, {"Pi", 1125899906842624.0},
        {"Ei", 1152921504606846976.0},
    };
    *ok = 1;
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(s, tab[i].s))
            return tab[i].m;
    if ((s[0] == 'e' || s[0] == 'E') && s[1]) {
        char *end;
        long e = strtol(s + 1, &end, 10);
        if (!*end && e > -30 && e < 30)
            return pow(10.0, (double)e);
    }
    *ok = 0;
    return 0;
}

int k8s_quantity_parse(const char *s, double *v)
{
    if (!s || !*s || strlen(s) > 64)
        return -1;
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    const char *digits = p;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p);)
            p++;
    if (p == digits || (p == digits + 1 && *digits == '.'))
        return -1;
    char num[72];
    memcpy(num, s, (size_t)(p - s));
    num[p - s] = '\0';
    int ok;
    double scale = suffix_scale(p, &ok);
    if (!ok)
        return -1;
    *v = strtod(num, NULL) * scale;
    return 0;
}

int k8s_quantity_bytes(const char *s, uint64_t *bytes)
{
    double v;
    if (k8s_quantity_parse(s, &v) != 0 || v < 0 || v >= 9.2e18)
        return -1;
    *bytes = (uint64_t)ceil(v);   /* a fraction of a byte rounds up, as the API server does */
    return 0;
}

void k8s_quantity_format(double v, char *out, size_t len)
{
    if (v == floor(v) && fabs(v) < 9e15)
        snprintf(out, len, "%.0f", v);
    else
        snprintf(out, len, "%.0fm", ceil(v * 1000.0));
}
