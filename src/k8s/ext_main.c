/*
 * `tfuse-k8s extender`: the listener of the scheduler extender's verbs and the loop that
 * releases the pool allocations of pods that are gone or finished (an allocation made by a
 * bind carries the key k8s-<pod uid>-<ms>; its pod is looked up among the pods labelled
 * tensorfuse.io/vgpu=true, listed page by page; nothing is released when the list fails, and
 * never an allocation younger than the grace, which a bind in flight may still be annotating).
 * Calls extender.h, kapi.h, config.h, https.h, httpc.h, the log, pthreads.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "extender.h"
#include "https.h"
#include "httpc.h"
#include "k8s_cmds.h"
#include "kapi.h"
#include "log.h"

#define UID_LEN 36

/* {uid: phase} of every pod labelled ours, or NULL (err) when the list failed. */
static json_t *our_pods(struct k8s_extender *x, char *err, size_t errlen)
{
    json_t *pods = json_object();
    char cont[1024] = "", path[1400];
    do {
        snprintf(path, sizeof path, "/api/v1/pods?labelSelector=tensorfuse.io%%2Fvgpu%%3Dtrue"
                 "&limit=500%s%s", cont[0] ? "&continue=" : "", cont);
        json_t *list = NULL;
        if (k8s_api_get(x->api, path, &list, err, errlen) != 200) {
            json_decref(pods);
            return NULL;
        }
        json_t *items = json_object_get(list, "items");
        for (size_t i = 0; i < json_array_size(items); i++) {
            const json_t *p = json_array_get(items, i);
            const char *uid = k8s_json_str(json_object_get(p, "metadata"), "uid");
            const char *phase = k8s_json_str(json_object_get(p, "status"), "phase");
            if (uid)
                json_object_set_new(pods, uid, json_string(phase ? phase : ""));
        }
        const char *c = k8s_json_str(json_object_get(list, "metadata"), "continue");
        bool ok = !c || strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                  "0123456789-_=") == strlen(c);
        snprintf(cont, sizeof cont, "%s", c && ok && strlen(c) < sizeof cont ? c : "");
        json_decref(list);
        if (c && c[0] && !cont[0]) {
            snprintf(err, errlen, "the pod list's continue token is not usable");
            json_decref(pods);
            return NULL;
        }
    } while (cont[0]);
    return pods;
}

/* The pod uid an allocation's key names, or false when the key is not a bind's. */
static bool key_uid(const char *key, char uid[UID_LEN + 1])
{
    size_t p = strlen(K8S_EXT_KEY_PREFIX);
    if (!key || strncmp(key, K8S_EXT_KEY_PREFIX, p) != 0 || strlen(key) < p + UID_LEN + 1 ||
        key[p + UID_LEN] != '-')
        return false;
    memcpy(uid, key + p, UID_LEN);
    uid[UID_LEN] = '\0';
    return true;
}

int k8s_ext_reconcile(struct k8s_extender *x, char *err, size_t errlen)
{
    if (!x->api) {
        snprintf(err, errlen, "no API server");
        return -1;
    }
    time_t started = time(NULL);
    json_t *allocs = NULL;
    if (k8s_ext_pool(x, "GET", "/api/v1/allocations", NULL, &allocs, err, errlen) != 200) {
        json_decref(allocs);
        return -1;
    }
    json_t *pods = our_pods(x, err, errlen);   /* listed after the allocations: see below */
    if (!pods) {
        json_decref(allocs);
        return -1;
    }
    int released = 0;
    json_t *list = json_object_get(allocs, "allocations");
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *a = json_array_get(list, i);
        char uid[UID_LEN + 1], path[256], e[600];
        const char *id = k8s_json_str(a, "id");
        json_t *created = json_object_get(a, "created_unix");
        if (!id || !key_uid(k8s_json_str(a, "idempotency_key"), uid) ||
            !json_is_integer(created) ||
            json_integer_value(created) > (json_int_t)(started - x->grace_s))
            continue;   /* not a bind's, or young enough that its pod may not be listed yet */
        const char *phase = k8s_json_str(pods, uid);
        if (phase && strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0)
            continue;
        snprintf(path, sizeof path, "/api/v1/allocations/%s", id);
        if (k8s_ext_pool(x, "DELETE", path, NULL, NULL, e, sizeof e) / 100 == 2) {
            tf_info("extender: released %s: pod %s is %s", id, uid, phase ? phase : "gone");
            released++;
        } else {
            tf_warn("extender: could not release %s: %s", id, e);
        }
    }
    json_decref(pods);
    json_decref(allocs);
    return released;
}

static void *reconcile_loop(void *arg)
{
    struct k8s_extender *x = arg;
    pthread_mutex_lock(&x->lock);
    while (!x->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)x->reconcile_s;
        while (!x->stopping && pthread_cond_timedwait(&x->wake, &x->lock, &until) != ETIMEDOUT)
            ;
        if (x->stopping)
            break;
        pthread_mutex_unlock(&x->lock);
        char err[800];
        if (k8s_ext_reconcile(x, err, sizeof err) < 0)
            tf_warn("extender: release pass skipped: %s", err);
        pthread_mutex_lock(&x->lock);
    }
    pthread_mutex_unlock(&x->lock);
    return NULL;
}

static int handle(void *arg, const char *method, const char *url, const char *body, size_t len,
                  char **resp)
{
    struct k8s_extender *x = arg;
    if (!strcmp(url, "/healthz")) {
        *resp = strdup("{\"status\":\"ok\"}");
        return 200;
    }
    int (*verb)(struct k8s_extender *, const char *, size_t, char **) =
        !strcmp(url, "/filter") ? k8s_ext_filter
        : !strcmp(url, "/prioritize") ? k8s_ext_prioritize
        : !strcmp(url, "/bind") ? k8s_ext_bind : NULL;
    if (!verb) {
        *resp = k8s_https_error("invalid", "no such path (POST /filter, /prioritize, /bind)");
        return 404;
    }
    if (strcmp(method, "POST") != 0) {
        *resp = k8s_https_error("invalid", "method not allowed: POST");
        return 405;
    }
    return verb(x, body, len, resp);
}

static const char usage_text[] =
    "usage: tfuse-k8s extender --listen HOST:PORT --tls-cert FILE --tls-key FILE --pool URL\n"
    "                          --pool-token-file F [--pool-ca-file F] [--tenant NAME]\n"
    "                          [--reconcile-interval S] [--release-grace S]\n"
    "                          [--ready-file PATH]\n"
    "                          [--kube-api URL --kube-token-file F --kube-ca-file F]\n"
    "Serves POST /filter, /prioritize, /bind (kube-scheduler extender v1) over HTTPS.\n"
    "The pool's admin credential allocates for each pod's namespace as tenant (--tenant:\n"
    "one tenant for all); allocations of gone or finished pods are released every\n"
    "--reconcile-interval seconds (default 30, 0: never), none younger than\n"
    "--release-grace seconds (default 60).\n";

struct ext_flags {
    const char *listen, *cert, *key, *ready, *ca;
};

static int parse(struct k8s_extender *x, struct ext_flags *f, int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'}, {"tls-cert", required_argument, 0, 'c'},
        {"tls-key", required_argument, 0, 'k'}, {"pool", required_argument, 0, 'p'},
        {"pool-token-file", required_argument, 0, 't'},
        {"pool-ca-file", required_argument, 0, 'a'}, {"tenant", required_argument, 0, 'T'},
        {"reconcile-interval", required_argument, 0, 'i'},
        {"release-grace", required_argument, 0, 'g'},
        {"ready-file", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l': f->listen = optarg; break;
        case 'c': f->cert = optarg; break;
        case 'k': f->key = optarg; break;
        case 'r': f->ready = optarg; break;
        case 'a': f->ca = optarg; break;
        case 'p': snprintf(x->pool_url, sizeof x->pool_url, "%s", optarg); break;
        case 't': snprintf(x->pool_token_file, sizeof x->pool_token_file, "%s", optarg); break;
        case 'T':
            if (strlen(optarg) >= sizeof x->tenant || !k8s_name_ok(optarg)) {
                fprintf(stderr, "tfuse-k8s extender: --tenant '%s': a DNS name\n", optarg);
                return 2;
            }
            snprintf(x->tenant, sizeof x->tenant, "%s", optarg);
            break;
        case 'i':
        case 'g': {
            double *d = c == 'i' ? &x->reconcile_s : &x->grace_s;
            *d = strtod(optarg, &end);
            if (*end || end == optarg || *d < 0 || *d > 86400) {
                fprintf(stderr, "tfuse-k8s extender: --%s: 0 to 86400 s\n",
                        c == 'i' ? "reconcile-interval" : "release-grace");
                return 2;
            }
            break;
        }
        case 'h': fputs(usage_text, stdout); return 0;
        default: fputs(usage_text, stderr); return 2;
        }
    }
    size_t n = strlen(x->pool_url);
    while (n && x->pool_url[n - 1] == '/')
        x->pool_url[--n] = '\0';
    if (optind != argc || !f->listen || !n || !x->pool_token_file[0]) {
        fputs(usage_text, stderr);
        return 2;
    }
    return -1;
}

int k8s_cmd_extender(int argc, char **argv)
{
    static struct k8s_extender x;   /* lives as long as the listener's threads */
    char err[700];
    tf_log_init("extender", TF_LOG_INFO);
    k8s_config_init(&x.cfg);
    argc = k8s_config_parse(&x.cfg, argc, argv, err, sizeof err);
    if (argc < 0) {
        fprintf(stderr, "tfuse-k8s extender: %s\n", err);
        return 2;
    }
    x.reconcile_s = 30;
    x.grace_s = 60;
    struct ext_flags f = {0};
    int rc = parse(&x, &f, argc, argv);
    if (rc >= 0)
        return rc;
    tf_http_global_init();
    if (f.ca && tf_http_set_ca_file(f.ca, err, sizeof err)) {
        fprintf(stderr, "tfuse-k8s extender: --pool-ca-file: %s\n", err);
        return 2;
    }
    x.api = k8s_api_open(&x.cfg, err, sizeof err);
    if (!x.api)
        fprintf(stderr, "tfuse-k8s extender: %s; bind and the release of allocations are "
                "off\n", err);
    pthread_mutex_init(&x.lock, NULL);
    pthread_cond_init(&x.wake, NULL);
    k8s_block_stop_signals();   /* before any thread, so that only k8s_serve takes them */
    pthread_t th;
    bool loop = x.api && x.reconcile_s > 0 && pthread_create(&th, NULL, reconcile_loop, &x) == 0;
    rc = k8s_serve("extender", f.listen, f.cert, f.key, K8S_EXT_BODY_MAX, handle, &x, f.ready);
    pthread_mutex_lock(&x.lock);
    x.stopping = true;
    pthread_cond_broadcast(&x.wake);
    pthread_mutex_unlock(&x.lock);
    if (loop)
        pthread_join(th, NULL);
    k8s_api_close(x.api);
    tf_http_global_cleanup();
    return rc;
}
