/*
 * TEST DOUBLE of a node daemon (see fake_node.h). Calls libmicrohttpd, jansson, the pool's HTTP
 * client (src/common/httpc.h) and pthreads.
 */
#include "fake_node.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"

#define MAX_VGPUS 4096

struct vgpu {
    char id[32];
    int gpu;
    uint64_t vram;
    bool live;
};

struct fake_node {
    char name[64];
    char url[64];
    struct fake_gpu gpus[16];
    char uuids[16][64], models[16][64];
    int ngpus;
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    struct vgpu vgpus[MAX_VGPUS];
    int nvgpus;
    uint64_t vram_used[16];
    int creates, deletes, create_calls, fail_at;
    bool overbooked;
    int requests;
    char bearers[64][160];           /* the Authorization headers of the first 64 requests */
    char join[160], cred[160];
};

struct body {
    char buf[8192];
    size_t len;
    bool counted;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : strdup("");
    json_decref(v);
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static int gpu_index(struct fake_node *fn, const char *uuid)
{
    for (int i = 0; i < fn->ngpus; i++)
        if (uuid && strcmp(fn->gpus[i].uuid, uuid) == 0)
            return i;
    return -1;
}

static enum MHD_Result create(struct fake_node *fn, struct MHD_Connection *c, const struct body *b)
{
    json_t *req = json_loadb(b->buf, b->len, 0, NULL);
    const char *dev = json_string_value(json_object_get(req, "device"));
    json_int_t vram = json_integer_value(json_object_get(req, "vram_bytes"));
    pthread_mutex_lock(&fn->lock);
    int g = gpu_index(fn, dev);
    fn->create_calls++;
    json_t *out = NULL;
    unsigned status;
    if (fn->fail_at && fn->create_calls == fn->fail_at) {
        status = 500;
        out = json_pack("{s:s, s:s}", "error", "internal", "message", "injected failure");
    } else if (g < 0 || vram <= 0 || fn->nvgpus == MAX_VGPUS) {
        status = 400;
        out = json_pack("{s:s, s:s}", "error", "invalid", "message", "bad vGPU request");
    } else {
        struct vgpu *v = &fn->vgpus[fn->nvgpus];
        snprintf(v->id, sizeof v->id, "vgpu-%d", fn->nvgpus++);
        v->gpu = g;
        v->vram = (uint64_t)vram;
        v->live = true;
        fn->vram_used[g] += v->vram;
        if (fn->vram_used[g] > fn->gpus[g].memory_bytes)
            fn->overbooked = true;
        fn->creates++;
        status = 201;
        char token[160];
        snprintf(token, sizeof token, "token-%s-%s", fn->name, v->id);
        out = json_pack("{s:s, s:s, s:s, s:s}", "id", v->id, "token", token, "device", dev,
                        "connect", "tcp:127.0.0.1:9");
    }
    pthread_mutex_unlock(&fn->lock);
    json_decref(req);
    return reply(c, status, out);
}

static enum MHD_Result delete(struct fake_node *fn, struct MHD_Connection *c, const char *id)
{
    pthread_mutex_lock(&fn->lock);
    unsigned status = 404;
    for (int i = 0; i < fn->nvgpus; i++)
        if (fn->vgpus[i].live && strcmp(fn->vgpus[i].id, id) == 0) {
            fn->vgpus[i].live = false;
            fn->vram_used[fn->vgpus[i].gpu] -= fn->vgpus[i].vram;
            fn->deletes++;
            status = 204;
        }
    pthread_mutex_unlock(&fn->lock);
    return reply(c, status, NULL);
}

static json_t *devices_json(struct fake_node *fn)
{
    json_t *a = json_array();
    for (int i = 0; i < fn->ngpus; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:f}", "uuid", fn->gpus[i].uuid,
                                           "model", fn->gpus[i].model, "memory_bytes",
                                           (json_int_t)fn->gpus[i].memory_bytes, "tflops_fp16",
                                           fn->gpus[i].tflops));
    return a;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct fake_node *fn = cls;
    (void)version;
    if (!*con_cls) {
        *con_cls = calloc(1, sizeof(struct body));
        return *con_cls ? MHD_YES : MHD_NO;
    }
    struct body *b = *con_cls;
    if (!b->counted) {
        b->counted = true;
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        pthread_mutex_lock(&fn->lock);
        if (fn->requests < 64)
            snprintf(fn->bearers[fn->requests], sizeof fn->bearers[0], "%s", auth ? auth : "");
        fn->requests++;
        pthread_mutex_unlock(&fn->lock);
    }
    if (*upload_size) {
        size_t n = *upload_size < sizeof b->buf - b->len ? *upload_size : sizeof b->buf - b->len;
        memcpy(b->buf + b->len, upload, n);
        b->len += n;
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") == 0 && strcmp(url, "/api/v1/vgpus") == 0)
        return create(fn, c, b);
    if (strcmp(method, "DELETE") == 0 && strncmp(url, "/api/v1/vgpus/", 14) == 0)
        return delete(fn, c, url + 14);
    if (strcmp(method, "GET") == 0 && strcmp(url, "/api/v1/devices") == 0)
        return reply(c, 200, json_pack("{s:o}", "devices", devices_json(fn)));
    return reply(c, 404, json_pack("{s:s, s:s}", "error", "invalid", "message", "no such path"));
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)c, (void)code;
    free(*con_cls);
    *con_cls = NULL;
}

struct fake_node *fake_node_start(const char *name, const struct fake_gpu *gpus, int ngpus)
{
    struct fake_node *fn = calloc(1, sizeof *fn);
    if (!fn || ngpus > 16)
        return NULL;
    snprintf(fn->name, sizeof fn->name, "%s", name);
    for (int i = 0; i < ngpus; i++) {
        fn->gpus[i] = gpus[i];
        snprintf(fn->uuids[i], 64, "%s", gpus[i].uuid);
        snprintf(fn->models[i], 64, "%s", gpus[i].model);
        fn->gpus[i].uuid = fn->uuids[i];
        fn->gpus[i].model = fn->models[i];
    }
    fn->ngpus = ngpus;
    pthread_mutex_init(&fn->lock, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fn->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
                                  0, NULL, NULL, on_request, fn, MHD_OPTION_SOCK_ADDR, &sa,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_done, fn, MHD_OPTION_END);
    if (!fn->daemon) {
        free(fn);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(fn->daemon, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(fn->url, sizeof fn->url, "http://127.0.0.1:%u", info->port);
    return fn;
}

void fake_node_stop(struct fake_node *fn)
{
    if (!fn)
        return;
    MHD_stop_daemon(fn->daemon);
    pthread_mutex_destroy(&fn->lock);
    free(fn);
}

const char *fake_node_url(const struct fake_node *fn)
{
    return fn->url;
}

#define LOCKED_GET(type, expr)             \
    pthread_mutex_lock(&fn->lock);         \
    type v = (expr);                       \
    pthread_mutex_unlock(&fn->lock);       \
    return v

void fake_node_fail_create_at(struct fake_node *fn, int nth)
{
    pthread_mutex_lock(&fn->lock);
    fn->fail_at = nth ? fn->create_calls + nth : 0;
    pthread_mutex_unlock(&fn->lock);
}

int fake_node_creates(struct fake_node *fn) { LOCKED_GET(int, fn->creates); }
int fake_node_deletes(struct fake_node *fn) { LOCKED_GET(int, fn->deletes); }
int fake_node_live_vgpus(struct fake_node *fn) { LOCKED_GET(int, fn->creates - fn->deletes); }
bool fake_node_overbooked(struct fake_node *fn) { LOCKED_GET(bool, fn->overbooked); }

int fake_node_requests(struct fake_node *fn) { LOCKED_GET(int, fn->requests); }

int fake_node_requests_with_bearer(struct fake_node *fn, const char *token)
{
    char want[200];
    snprintf(want, sizeof want, "Bearer %s", token);
    int n = 0;
    pthread_mutex_lock(&fn->lock);
    for (int i = 0; i < fn->requests && i < 64; i++)
        n += strcmp(fn->bearers[i], want) == 0;
    pthread_mutex_unlock(&fn->lock);
    return n;
}

void fake_node_set_join_token(struct fake_node *fn, const char *token)
{
    snprintf(fn->join, sizeof fn->join, "%s", token ? token : "");
}

const char *fake_node_credential(struct fake_node *fn)
{
    return fn->cred;
}

void fake_node_set_credential(struct fake_node *fn, const char *cred)
{
    snprintf(fn->cred, sizeof fn->cred, "%s", cred ? cred : "");
}

/* POSTs body with bearer; a "credential" in the answer is kept as the node's. */
static int post(struct fake_node *fn, const char *url, json_t *body, const char *bearer)
{
    char *text = json_dumps(body, JSON_COMPACT), err[256];
    json_decref(body);
    struct tf_http_response r;
    struct tf_http_opts o = {.bearer = bearer};
    int rc = tf_http_request("POST", url, text, 10000, &o, &r, err, sizeof err);
    free(text);
    if (rc)
        return -1;
    json_t *v = json_loadb(r.body, r.len, 0, NULL);
    const char *cred = json_string_value(json_object_get(v, "credential"));
    if (cred && r.status < 300)
        fake_node_set_credential(fn, cred);
    json_decref(v);
    free(r.body);
    return (int)r.status;
}

int fake_node_register(struct fake_node *fn, const char *pool_url, const char *pool,
                       const char *labels)
{
    json_t *l = json_object();
    char copy[256];
    snprintf(copy, sizeof copy, "%s", labels ? labels : "");
    char *save = NULL;
    for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq) {
            *eq = '\0';
            json_object_set_new(l, kv, json_string(eq + 1));
        }
    }
    json_t *body = json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", fn->name, "address", fn->url,
                             "pool", pool ? pool : "default", "labels", l, "devices",
                             devices_json(fn));
    char url[512];
    snprintf(url, sizeof url, "%s/api/v1/nodes", pool_url);
    return post(fn, url, body, fn->cred[0] ? fn->cred : fn->join);
}

int fake_node_heartbeat(struct fake_node *fn, const char *pool_url)
{
    json_t *devs = json_array();
    pthread_mutex_lock(&fn->lock);
    for (int i = 0; i < fn->ngpus; i++)
        json_array_append_new(devs, json_pack("{s:s, s:I, s:f}", "uuid", fn->gpus[i].uuid,
                                              "used_bytes", (json_int_t)fn->vram_used[i],
                                              "util_pct", 0.0));
    pthread_mutex_unlock(&fn->lock);
    char url[512];
    snprintf(url, sizeof url, "%s/api/v1/nodes/%s/heartbeat", pool_url, fn->name);
    return post(fn, url, json_pack("{s:o}", "devices", devs), fn->cred);
}
