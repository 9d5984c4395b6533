/*
 * The node's registration and heartbeat thread (see poolreg.h and docs/node-api.md).
 * May call: vgpus.h, discover.h, topology.h, src/common/httpc.h, src/common/credfile.h, jansson,
 * src/common/log.h.
 */
#include "poolreg.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "credfile.h"
#include "discover.h"
#include "httpc.h"
#include "log.h"
#include "topology.h"
#include "vgpu_mem.h"

#define NAME_MAX_LEN 63
#define HTTP_TIMEOUT_MS 5000L
/* Reconciliation (node_vgpus_reconcile): every RECONCILE_EVERY-th heartbeat and after every
 * registration. A pool vGPU younger than the grace is left alone: the pool's answer may predate
 * a create it made since (twice the HTTP timeout covers the answer's trip). */
#define RECONCILE_EVERY 5
#define RECONCILE_GRACE_S (2 * HTTP_TIMEOUT_MS / 1000.0)

struct node_poolreg {
    char pool_url[512];
    char name[NAME_MAX_LEN + 1];
    char address[320];           /* http(s)://HOST:PORT */
    double interval_s;
    struct node_vgpus *v;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    int registered;
    int pool_down;               /* last call failed: log only state changes, not every retry */
    long down_status;            /* the HTTP status of that failure (0: unreachable) */
    char join[TF_CRED_MAX];      /* "": none */
    char cred[TF_CRED_MAX];      /* the node's own credential at the pool; "": none yet */
    char cred_file[4200];        /* "": kept in memory only */
    char pool_name[NAME_MAX_LEN + 1];   /* "": not sent (the pool's default) */
    json_t *labels;              /* {"KEY": "VALUE"} of --label */
    unsigned beats;              /* heartbeats since the last reconciliation */
    struct node_topology topo;   /* probed once, when the thread starts */
    uint64_t last_busy_ns[NODE_MAX_DEVICES];
    struct timespec last_sample;
};

double node_device_tflops(const char *model, int sms)
{
    if (strcmp(model, TFD_SOFTGPU_NAME) == 0)
        return tfd_softgpu_tflops(sms);
    return tfd_tflops_lookup(model);
}

/* Pool names are [A-Za-z0-9._:-]{1,63}: NVML model names ("NVIDIA H100 80GB HBM3") have
 * spaces and parentheses, so every other character becomes '-' (runs collapsed, ends trimmed). */
static void pool_name(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = in; *p && n + 1 < cap; p++) {
        int ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                 (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == ':' || *p == '-';
        if (ok)
            out[n++] = *p;
        else if (n > 0 && out[n - 1] != '-')
            out[n++] = '-';
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    out[n] = '\0';
    if (n == 0)
        snprintf(out, cap, "unknown");
}

/* POSTs body to pool_url + path with bearer. Returns the HTTP status, 0 when the pool was
 * unreachable; *answer (when asked for) the parsed answer or NULL. */
static long post_json(struct node_poolreg *r, const char *path, json_t *body, const char *bearer,
                      json_t **answer, char *err, size_t errlen)
{
    if (answer)
        *answer = NULL;
    char url[700];
    snprintf(url, sizeof url, "%s%s", r->pool_url, path);
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    struct tf_http_response resp;
    struct tf_http_opts o = {.bearer = bearer};
    long status = 0;
    if (tf_http_request("POST", url, text, HTTP_TIMEOUT_MS, &o, &resp, err, errlen) == 0) {
        status = resp.status;
        if (answer)
            *answer = json_loadb(resp.body, resp.len, 0, NULL);
        free(resp.body);
    }
    free(text);
    return status;
}

static json_t *register_body(struct node_poolreg *r)
{
    json_t *devs = json_array();
    for (int i = 0; i < r->v->ndev; i++) {
        const struct node_device *d = &r->v->dev[i];
        char model[NAME_MAX_LEN + 1];
        pool_name(d->name, model, sizeof model);
        json_t *dev = json_pack("{s:s, s:s, s:I, s:f}", "uuid", d->uuid, "model", model,
                                "memory_bytes", (json_int_t)d->memory, "tflops_fp16", d->tflops);
        node_topology_json(&r->topo, r->v, i, dev);
        json_array_append_new(devs, dev);
    }
    json_t *b = json_pack("{s:s, s:s, s:O, s:o}", "name", r->name, "address", r->address,
                          "labels", r->labels, "devices", devs);
    if (b && r->pool_name[0])
        json_object_set_new(b, "pool", json_string(r->pool_name));
    return b;
}

/* The largest allocation the vGPU's limit refused, for the pool's autoscaler; one larger than
 * any device (a program asking for 2^64 bytes) is said as 1 PiB, what the pool accepts. */
static uint64_t largest_refused(const struct vgpu_slot *s)
{
    uint64_t v = atomic_load(&s->mem_denied_max);
    return v > (1ull << 50) ? 1ull << 50 : v;
}

/* One live vGPU's usage for the pool's history (issue 14, node-api.md): memory now, its peak
 * and limit, and the counters that only grow while it lives (device time charged, time held
 * back on an empty bucket, launches, allocations refused by the limit). */
static json_t *usage_json(struct vgpu_slot *s)
{
    double limit = atomic_load(&s->compute_unlimited) ? 1.0
                                                      : atomic_load(&s->limit_bp) / 10000.0;
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "vgpu", s->id,
                     "mem_used", (json_int_t)vgpu_mem_used(s),
                     "mem_peak", (json_int_t)atomic_load(&s->mem_peak),
                     "mem_limit", (json_int_t)atomic_load(&s->mem_limit),
                     "busy_ns", (json_int_t)atomic_load(&s->busy_ns),
                     "throttled_ns", (json_int_t)atomic_load(&s->throttled_ns),
                     "launches", (json_int_t)atomic_load(&s->launches),
                     "oom_refusals", (json_int_t)atomic_load(&s->mem_denied),
                     "oom_largest", (json_int_t)largest_refused(s),
                     "compute_limit", limit > 1 ? 1.0 : limit);
}

/* Memory in use (sum of the live vGPUs' allocations) and kernel-time utilization since the
 * last sample, per device, read under the vGPU lock (no I/O while it is held). */
static json_t *heartbeat_body(struct node_poolreg *r)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double wall_ns = (double)(now.tv_sec - r->last_sample.tv_sec) * 1e9 +
                     (double)(now.tv_nsec - r->last_sample.tv_nsec);
    int first = r->last_sample.tv_sec == 0 && r->last_sample.tv_nsec == 0;
    r->last_sample = now;
    json_t *devs = json_array(), *ids = json_array(), *usage = json_array();
    pthread_mutex_lock(&r->v->lock);
    for (int d = 0; d < r->v->ndev; d++) {
        uint64_t used = 0, busy = 0;
        for (int i = 0; i < VGPU_MAX_SLOTS; i++) {
            struct vgpu_slot *s = vgpu_slot_at(r->v->regions[d], i);
            if (atomic_load(&s->state) == VGPU_SLOT_FREE)
                continue;
            if (atomic_load(&s->state) == VGPU_SLOT_LIVE) {   /* what the pool may still use */
                json_array_append_new(ids, json_string(s->id));
                json_array_append_new(usage, usage_json(s));
            }
            used += vgpu_mem_used(s);
            busy += atomic_load(&s->busy_ns);
        }
        used += atomic_load(&r->v->warm_bytes[d]);   /* warm workers' contexts: the node's */
        /* busy_ns of a freed slot leaves the sum: a drop reads as idle, not negative. */
        double util = 0;
        if (!first && wall_ns > 0 && busy > r->last_busy_ns[d])
            util = fmin(100.0, (double)(busy - r->last_busy_ns[d]) / wall_ns * 100.0);
        r->last_busy_ns[d] = busy;
        json_array_append_new(devs, json_pack("{s:s, s:I, s:f}", "uuid", r->v->dev[d].uuid,
                                              "used_bytes", (json_int_t)used, "util_pct", util));
    }
    pthread_mutex_unlock(&r->v->lock);
    return json_pack("{s:o, s:o, s:o}", "devices", devs, "vgpus", ids, "usage", usage);
}

static void note_failure(struct node_poolreg *r, const char *what, long status, json_t *answer,
                         const char *err)
{
    if (r->pool_down && r->down_status == status)
        return;   /* a new kind of failure (unreachable, then refused) is told again */
    r->pool_down = 1;
    r->down_status = status;
    const char *msg = json_string_value(json_object_get(answer, "message"));
    if (status)
        tf_warn("pool %s: %s answered HTTP %ld%s%s (retrying)", r->pool_url, what, status,
                msg ? ": " : "", msg ? msg : "");
    else
        tf_warn("pool %s: %s failed: %s (retrying)", r->pool_url, what, err);
}

/* Keeps the credential the pool issued: in memory, and in --state (0600) when there is one. */
static void keep_credential(struct node_poolreg *r, json_t *answer)
{
    const char *cred = json_string_value(json_object_get(answer, "credential"));
    char err[512];
    if (!cred || strlen(cred) >= sizeof r->cred)
        return;
    snprintf(r->cred, sizeof r->cred, "%s", cred);
    if (r->cred_file[0] && tf_cred_write(r->cred_file, cred, err, sizeof err) != 0)
        tf_warn("pool credential kept in memory only: %s", err);
}

/* A registration: with the node's own credential when it has one (the pool knows it), else
 * with the join token. A credential the pool refuses (a new pool, or the node was removed) is
 * dropped: the next attempt presents the join token. */
static void register_step(struct node_poolreg *r)
{
    char err[256] = "";
    json_t *body = register_body(r), *answer = NULL;
    if (!body)
        return;
    bool own = r->cred[0] != '\0';
    long status = post_json(r, "/api/v1/nodes", body, own ? r->cred : r->join, &answer, err,
                            sizeof err);
    json_decref(body);
    if (status == 200 || status == 201) {
        keep_credential(r, answer);
        r->registered = 1;
        r->beats = 0;
        r->pool_down = 0;
        tf_info("registered with the pool %s as %s (%d device(s))", r->pool_url, r->name,
                r->v->ndev);
    } else if (status == 401 && own && r->join[0]) {
        tf_warn("pool %s does not know this node's credential: registering with the join token",
                r->pool_url);
        r->cred[0] = '\0';
    } else {
        note_failure(r, "registration", status, answer, err);
    }
    json_decref(answer);
}

/* Asks the pool which of its vGPUs it expects here and deletes the pool's vGPUs it forgot
 * (a DELETE that never arrived, a pool restored from an older database). */
static void reconcile(struct node_poolreg *r)
{
    char url[700], err[256];
    snprintf(url, sizeof url, "%s/api/v1/nodes/%s/vgpus", r->pool_url, r->name);
    struct tf_http_response resp;
    struct tf_http_opts o = {.bearer = r->cred};
    if (tf_http_request("GET", url, NULL, HTTP_TIMEOUT_MS, &o, &resp, err, sizeof err) != 0)
        return;   /* the next heartbeat tells an outage */
    json_t *a = resp.status == 200 ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
    json_t *keep = json_object_get(a, "vgpus"), *creating = json_object_get(a, "creating");
    if (json_is_array(keep) && json_is_array(creating))
        node_vgpus_reconcile(r->v, keep, creating, RECONCILE_GRACE_S);
    else
        tf_warn("pool %s: reconciliation answered HTTP %ld without the vGPU lists", r->pool_url,
                resp.status);
    r->beats = 0;
    json_decref(a);
    free(resp.body);
}

/* One step: register when not registered, else heartbeat (and now and then reconcile). */
static void step(struct node_poolreg *r)
{
    if (!r->registered) {
        register_step(r);
        return;
    }
    char err[256] = "", path[128];
    json_t *body = heartbeat_body(r), *answer = NULL;
    if (!body)
        return;
    snprintf(path, sizeof path, "/api/v1/nodes/%s/heartbeat", r->name);
    long status = post_json(r, path, body, r->cred, &answer, err, sizeof err);
    json_decref(body);
    if (status == 204 || status == 200) {
        if (r->pool_down)
            tf_info("pool %s answers heartbeats again", r->pool_url);
        r->pool_down = 0;
        if (r->beats++ % RECONCILE_EVERY == 0)   /* beats is 0 after a registration */
            reconcile(r);
    } else if (status == 404 || status == 401) {
        tf_warn("pool %s forgot node %s (HTTP %ld): registering again", r->pool_url, r->name,
                status);
        r->registered = 0;
    } else {
        note_failure(r, "heartbeat", status, answer, err);
    }
    json_decref(answer);
}

static void *poolreg_main(void *arg)
{
    struct node_poolreg *r = arg;
    node_topology_probe(r->v, &r->topo);   /* here: NVML's start-up never delays the node's */
    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        pthread_mutex_unlock(&r->lock);
        int was = r->registered;
        step(r);
        pthread_mutex_lock(&r->lock);
        if (r->registered != was && r->registered)
            continue;   /* registered just now: the first heartbeat follows at once */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double s = r->interval_s;
        until.tv_sec += (time_t)s;
        until.tv_nsec += (long)((s - floor(s)) * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_nsec -= 1000000000L;
            until.tv_sec++;
        }
        while (!r->stopping &&
               pthread_cond_timedwait(&r->wake, &r->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* The base URL the pool calls: --advertise, else the first tcp --api (which must name a host
 * the pool can reach: a wildcard address cannot be advertised). */
static int pick_address(struct node_poolreg *r, const struct node_poolreg_opts *o, char *err,
                        size_t errlen)
{
    const char *a = o->advertise;
    for (int i = 0; !a && i < o->napi; i++)
        if (strncmp(o->api[i], "tcp:", 4) == 0)
            a = o->api[i];
    if (!a) {
        snprintf(err, errlen, "--pool needs a tcp --api address the pool can call "
                              "(or --advertise tcp:HOST:PORT)");
        return -1;
    }
    if (strncmp(a, "tcp:", 4) != 0 || !strrchr(a + 4, ':') || strlen(a) > 300) {
        snprintf(err, errlen, "--advertise takes tcp:HOST:PORT, not '%s'", a);
        return -1;
    }
    const char *host = a + 4;
    if (strncmp(host, "0.0.0.0:", 8) == 0 || strncmp(host, "[::]:", 5) == 0 || host[0] == ':') {
        snprintf(err, errlen, "%s listens on every address: tell the pool which one with "
                              "--advertise tcp:HOST:PORT", a);
        return -1;
    }
    snprintf(r->address, sizeof r->address, "%s://%s", o->api_tls ? "https" : "http", host);
    return 0;
}

static int pick_name(struct node_poolreg *r, const char *name, char *err, size_t errlen)
{
    char host[256] = "";
    if (!name) {
        if (gethostname(host, sizeof host - 1) != 0)
            snprintf(host, sizeof host, "node");
        pool_name(host, r->name, sizeof r->name);
        return 0;
    }
    pool_name(name, r->name, sizeof r->name);
    if (strcmp(r->name, name) != 0) {
        snprintf(err, errlen, "--node-name '%s': 1-63 characters of [A-Za-z0-9._:-]", name);
        return -1;
    }
    return 0;
}

/* --pool-name and the --label KEY=VALUE list, checked here rather than refused by the pool
 * on every registration attempt. */
static int pick_membership(struct node_poolreg *r, const struct node_poolreg_opts *o, char *err,
                           size_t errlen)
{
    if (o->pool_name) {
        pool_name(o->pool_name, r->pool_name, sizeof r->pool_name);
        if (strcmp(r->pool_name, o->pool_name) != 0) {
            snprintf(err, errlen, "--pool-name '%s': 1-63 characters of [A-Za-z0-9._:-]",
                     o->pool_name);
            return -1;
        }
    }
    r->labels = json_object();
    for (int i = 0; r->labels && i < o->nlabels; i++) {
        const char *eq = strchr(o->labels[i], '=');
        char key[NAME_MAX_LEN + 1] = "", clean[NAME_MAX_LEN + 1];
        if (eq && eq > o->labels[i] && eq - o->labels[i] <= NAME_MAX_LEN)
            snprintf(key, sizeof key, "%.*s", (int)(eq - o->labels[i]), o->labels[i]);
        pool_name(key, clean, sizeof clean);
        int ok = key[0] && strcmp(key, clean) == 0 && strlen(eq + 1) < 128;
        for (const char *p = eq ? eq + 1 : ""; ok && *p; p++)
            ok = *p >= 0x20 && *p < 0x7f;
        if (!ok || json_object_get(r->labels, key)) {
            snprintf(err, errlen, "--label '%s': want KEY=VALUE, KEY 1-63 characters of "
                     "[A-Za-z0-9._:-] given once, VALUE printable and under 128", o->labels[i]);
            return -1;
        }
        json_object_set_new(r->labels, key, json_string(eq + 1));
    }
    if (o->nlabels > 16) {
        snprintf(err, errlen, "at most 16 --label");
        return -1;
    }
    return r->labels ? 0 : -1;
}

/* The join token (flag or file) and the credential a previous run kept in --state. */
static int load_credentials(struct node_poolreg *r, const struct node_poolreg_opts *o,
                            char *err, size_t errlen)
{
    char why[600];
    bool loose;
    if (o->join_token &&
        snprintf(r->join, sizeof r->join, "%s", o->join_token) >= (int)sizeof r->join) {
        snprintf(err, errlen, "--pool-join-token is longer than %d characters", TF_CRED_MAX - 1);
        return -1;
    }
    if (o->join_token_file) {
        int rc = tf_cred_read(o->join_token_file, r->join, sizeof r->join, &loose, why,
                              sizeof why);
        if (rc <= 0) {
            snprintf(err, errlen, "--pool-join-token-file: %s", rc == 0 ? "no such file" : why);
            return -1;
        }
        if (loose)
            tf_warn("%s can be read by other users (chmod 600 it)", o->join_token_file);
    }
    if (o->state_dir)
        snprintf(r->cred_file, sizeof r->cred_file, "%.4000s/pool-credential", o->state_dir);
    if (r->cred_file[0] &&
        tf_cred_read(r->cred_file, r->cred, sizeof r->cred, &loose, why, sizeof why) < 0) {
        tf_warn("ignoring the saved pool credential: %s", why);
        r->cred[0] = '\0';
    }
    if (!r->join[0] && !r->cred[0]) {
        snprintf(err, errlen, "--pool needs the pool's join token: --pool-join-token-file FILE "
                              "(the pool writes it to its --db PATH.join-token)");
        return -1;
    }
    return 0;
}

int node_poolreg_start(struct node_poolreg **out, const struct node_poolreg_opts *o,
                       struct node_vgpus *v, char *err, size_t errlen)
{
    *out = NULL;
    size_t ulen = strlen(o->pool_url);
    if ((strncmp(o->pool_url, "http://", 7) != 0 && strncmp(o->pool_url, "https://", 8) != 0) ||
        ulen >= 500) {
        snprintf(err, errlen, "--pool takes the pool's base URL (http://HOST:PORT), not '%s'",
                 o->pool_url);
        return -1;
    }
    if (v->ndev == 0) {
        snprintf(err, errlen, "--pool: the backend has no device to register");
        return -1;
    }
    struct node_poolreg *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(r->pool_url, o->pool_url, ulen + 1);
    while (ulen > 0 && r->pool_url[ulen - 1] == '/')
        r->pool_url[--ulen] = '\0';
    r->v = v;
    r->interval_s = o->interval_s > 0 ? o->interval_s : 3.0;
    if (pick_address(r, o, err, errlen) != 0 || pick_name(r, o->name, err, errlen) != 0 ||
        pick_membership(r, o, err, errlen) != 0 || load_credentials(r, o, err, errlen) != 0) {
        json_decref(r->labels);
        free(r);
        return -1;
    }
    tf_http_global_init();   /* before the thread: curl_global_init is not thread-safe */
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    if (pthread_create(&r->thread, NULL, poolreg_main, r) != 0) {
        snprintf(err, errlen, "cannot start the pool registration thread");
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->wake);
        json_decref(r->labels);
        free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void node_poolreg_stop(struct node_poolreg *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);   /* an HTTP call in flight ends within HTTP_TIMEOUT_MS */
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    json_decref(r->labels);
    free(r);
}
