/*
 * The node's control API (docs/node-api.md): HTTP/JSON with libmicrohttpd on `tcp:HOST:PORT`
 * and/or `unix:PATH` (a unix socket created mode 0600: file permissions are the
 * authentication; tcp listeners check the bearer token when the node has one). Routes:
 * GET /healthz, GET /api/v1/version, GET /metrics, GET /api/v1/devices,
 * GET/POST /api/v1/vgpus, GET/PATCH/DELETE /api/v1/vgpus/{id}, POST /api/v1/vgpus/{id}/lease,
 * GET /api/v1/sessions[/{id}].
 * One daemon per listener, each with its own event-loop thread (epoll where the system has it,
 * else poll: never select, so no FD_SETSIZE bound) and its own limits: total connections, per
 * client address (tcp), an idle timeout, body size. The operations lock the vGPU state or the
 * session table. Paths are matched undecoded; an {id} segment is percent-decoded on its own,
 * so that any id, even one an older version accepted ("a/b", ""), can be named and deleted.
 *
 * Owns: listeners, request bodies, routing, authentication, error replies.
 * May call: vgpus.c, sessions.c, metrics.c, libmicrohttpd, jansson.
 */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "metrics.h"
#include "mhdtls.h"
#include "secret.h"
#include "transport.h"
#include "vgpus_freeze.h"
#include "vgpus_migrate.h"
#include "tfuse/version.h"

#define MAX_BODY NODE_API_MAX_BODY
/* A chunked body (no Content-Length) past MAX_BODY is read and dropped so that the 413 reaches
 * the client, but not forever: past this many bytes the connection is closed. */
#define MAX_DROPPED (1u << 20)

/* A token string set on the API, kept until node_api_stop (see api.h). */
struct node_api_token {
    struct node_api_token *next;
    char text[];
};

struct freeze_job;

struct body {
    char *data;
    size_t len;
    size_t dropped;        /* bytes past MAX_BODY read and thrown away */
    int too_big;
    struct freeze_job *job;  /* a freeze or resume running while the connection is suspended */
};

/* Whether the request declares a body larger than MAX_BODY (refused before it is read). */
static int declared_too_big(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (!cl)
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return end != cl && (n > MAX_BODY || errno == ERANGE);
}

static int listen_unix(const char *path, char *err, size_t len)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, len, "unix socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, len, "socket: %s", strerror(errno));
        return -1;
    }
    unlink(path);   /* a socket left by a node that died: nothing listens on it any more */
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc != 0 || listen(fd, 512) != 0) {
        snprintf(err, len, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int listen_tcp(const char *hostport, char *err, size_t len)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof host) {
        snprintf(err, len, "expected tcp:HOST:PORT, got tcp:%s", hostport);
        return -1;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *ai;
    int gai = getaddrinfo(host, colon + 1, &hints, &ai);
    if (gai != 0) {
        snprintf(err, len, "tcp:%s: %s", hostport, gai_strerror(gai));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 512) != 0) {
        snprintf(err, len, "cannot listen on tcp:%s: %s", hostport, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* What a request gets back: JSON, or text (metrics). */
struct reply {
    int status;
    json_t *json;
    char *text;            /* malloc'd; wins over json */
    const char *allow;     /* 405: the Allow header */
    int challenge;         /* 401: WWW-Authenticate: Bearer */
};

static enum MHD_Result send_reply(struct MHD_Connection *c, struct reply *r)
{
    char *text = r->text ? r->text : r->json ? json_dumps(r->json, JSON_COMPACT) : NULL;
    json_decref(r->json);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        text ? strlen(text) : 0, text ? text : (void *)"",
        text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    if (text)
        MHD_add_response_header(resp, "Content-Type",
                                r->text ? NODE_METRICS_CONTENT_TYPE : "application/json");
    if (r->allow)
        MHD_add_response_header(resp, "Allow", r->allow);
    if (r->challenge)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"tfuse-node\"");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static int fail(struct reply *r, int status, const char *reason, const char *msg)
{
    r->json = json_pack("{s:s, s:s}", "error", reason, "message", msg);
    r->status = status;
    return status;
}

/* ---- routes ---- */

enum resource { R_NONE, R_HEALTH, R_VERSION, R_METRICS, R_DEVICES, R_VGPUS, R_VGPU,
                R_SESSIONS, R_SESSION, R_VGPU_LEASE, R_VGPU_FREEZE, R_VGPU_RESUME,
                R_VGPU_MIGRATE };

static const char *const allowed[] = {
    [R_NONE] = "", [R_HEALTH] = "GET", [R_VERSION] = "GET", [R_METRICS] = "GET",
    [R_DEVICES] = "GET", [R_VGPUS] = "GET, POST", [R_VGPU] = "GET, PATCH, DELETE",
    [R_SESSIONS] = "GET", [R_SESSION] = "GET", [R_VGPU_LEASE] = "POST",
    [R_VGPU_FREEZE] = "POST", [R_VGPU_RESUME] = "POST", [R_VGPU_MIGRATE] = "POST",
};

/* The {id} of `url` when it is `prefix` + "/" + one segment (maybe empty: an id an older
 * version accepted), percent-decoded into out; NULL when url is not such a path. A segment that
 * decodes to a NUL byte or does not fit names nothing (NULL). */
static const char *item_id(const char *url, const char *prefix, char *out, size_t len)
{
    size_t n = strlen(prefix);
    if (strncmp(url, prefix, n) != 0 || url[n] != '/' || strchr(url + n + 1, '/'))
        return NULL;
    size_t seg = strlen(url + n + 1);
    if (seg >= len)
        return NULL;
    memcpy(out, url + n + 1, seg + 1);
    size_t got = MHD_http_unescape(out);
    return strlen(out) == got ? out : NULL;
}

/* The resource a (still percent-encoded) path names; *id: the decoded {id} of an item path,
 * in buf. */
static enum resource resource_of(const char *url, const char **id, char *buf, size_t len)
{
    static const char vgpus[] = "/api/v1/vgpus", sessions[] = "/api/v1/sessions";
    if (strcmp(url, "/healthz") == 0)
        return R_HEALTH;
    if (strcmp(url, "/api/v1/version") == 0)
        return R_VERSION;
    if (strcmp(url, "/metrics") == 0)
        return R_METRICS;
    if (strcmp(url, "/api/v1/devices") == 0)
        return R_DEVICES;
    if (strcmp(url, vgpus) == 0)
        return R_VGPUS;
    if (strcmp(url, sessions) == 0)
        return R_SESSIONS;
    if ((*id = item_id(url, vgpus, buf, len)))
        return R_VGPU;
    size_t n = strlen(url);   /* /api/v1/vgpus/{id}/lease: an ephemeral vGPU's owner renews */
    char item[1024];
    if (n > 6 && n - 6 < sizeof item && strcmp(url + n - 6, "/lease") == 0 &&
        snprintf(item, sizeof item, "%.*s", (int)(n - 6), url) > 0 &&
        (*id = item_id(item, vgpus, buf, len)))
        return R_VGPU_LEASE;
    static const char *const tails[] = {"/freeze", "/resume", "/migrate"};
    static const enum resource verbs[] = {R_VGPU_FREEZE, R_VGPU_RESUME, R_VGPU_MIGRATE};
    for (int verb = 0; verb < 3; verb++) {   /* /api/v1/vgpus/{id}/freeze, ... */
        size_t k = strlen(tails[verb]);
        if (n > k && n - k < sizeof item && strcmp(url + n - k, tails[verb]) == 0 &&
            snprintf(item, sizeof item, "%.*s", (int)(n - k), url) > 0 &&
            (*id = item_id(item, vgpus, buf, len)))
            return verbs[verb];
    }
    if ((*id = item_id(url, sessions, buf, len)))
        return R_SESSION;
    return R_NONE;
}

static int method_allowed(enum resource res, const char *method)
{
    const char *list = allowed[res];
    size_t n = strlen(method);
    for (const char *p = strstr(list, method); p; p = strstr(p + 1, method))
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ','))
            return 1;
    return 0;
}

/* tf_secret_equal: the time taken does not depend on the header's bytes. */
static int bearer_ok(const char *header, const char *token)
{
    if (!header || strncasecmp(header, "Bearer ", 7) != 0)
        return 0;
    const char *got = header + 7;
    while (*got == ' ')
        got++;
    return tf_secret_equal(got, token);
}

static int json_content_type(const char *ct)
{
    static const char json[] = "application/json";
    if (!ct)   /* no Content-Type at all: accepted, the body is still parsed strictly */
        return 1;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, json, sizeof json - 1) != 0)
        return 0;
    char after = ct[sizeof json - 1];
    return after == '\0' || after == ';' || after == ' ';
}

static const char *backend_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strstr(base, "softgpu"))
        return "soft";
    if (strncmp(base, "libcuda.so", 10) == 0)
        return "nvidia";
    return base;
}

static void health(struct node_api *a, struct reply *r)
{
    int draining = atomic_load(&a->draining);
    int n = a->sessions ? node_sessions_count(a->sessions) : 0;
    r->json = json_pack("{s:s, s:i, s:b}", "status", draining ? "draining" : "ok", "sessions", n,
                        "draining", draining);
    r->status = draining ? 503 : 200;
}

static void version(struct node_api *a, struct reply *r)
{
    r->json = json_pack("{s:s, s:i, s:s, s:i}", "version", TFUSE_VERSION_STRING, "protocol",
                        (int)TFUSE_PROTOCOL_VERSION, "backend", a->backend,
                        "vgpu_region_version", (int)VGPU_REGION_VERSION);
    r->status = 200;
}

/* Each vGPU of a list answer gets its session count. */
static void add_session_counts(struct node_api *a, json_t *list)
{
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(list, "vgpus"), i, g) {
        int dev = (int)json_integer_value(json_object_get(g, "device_index"));
        uint64_t gen = (uint64_t)json_integer_value(json_object_get(g, "generation"));
        const char *id = json_string_value(json_object_get(g, "id"));
        int n = a->sessions && id ? node_sessions_count_vgpu(a->sessions, dev, id, gen) : 0;
        json_object_set_new(g, "sessions", json_integer(n));
        if (a->freeze)
            node_freeze_describe(a->freeze, g);
        if (a->freeze)
            node_migrate_describe(a->freeze, g);
    }
}

static void list_vgpus(struct node_api *a, const char *only, struct reply *r)
{
    json_t *list = NULL;
    r->status = node_vgpus_list(a->vgpus, &list);
    add_session_counts(a, list);
    if (!only) {
        r->json = list;
        return;
    }
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(list, "vgpus"), i, g) {
        if (strcmp(json_string_value(json_object_get(g, "id")), only) == 0) {
            r->json = json_incref(g);
            break;
        }
    }
    json_decref(list);
    if (!r->json) {
        char msg[200];
        snprintf(msg, sizeof msg, "no vGPU named '%.80s'", only);
        fail(r, 404, "not_found", msg);
    }
}

/* The request's JSON body (a new reference), or NULL with r answered (415, 413, 400). */
static json_t *json_body(struct MHD_Connection *c, struct body *b, struct reply *r)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!json_content_type(ct)) {
        fail(r, 415, "unsupported_media_type", "the body must be application/json");
        return NULL;
    }
    if (b->too_big) {
        char msg[100];
        snprintf(msg, sizeof msg, "body larger than %u bytes", MAX_BODY);
        fail(r, 413, "payload_too_large", msg);
        return NULL;
    }
    json_error_t je;
    json_t *body = json_loadb(b->data ? b->data : "", b->len, JSON_REJECT_DUPLICATES, &je);
    if (!body) {
        char msg[300];
        snprintf(msg, sizeof msg, "body is not JSON: %s", je.text);
        fail(r, 400, "bad_request", msg);
    }
    return body;
}

static void create_vgpu(struct node_api *a, struct MHD_Connection *c, struct body *b,
                        struct reply *r)
{
    json_t *body = json_body(c, b, r);
    if (body)
        r->status = node_vgpus_create(a->vgpus, body, &r->json);
    json_decref(body);
}

static void resize_vgpu(struct node_api *a, struct MHD_Connection *c, const char *id,
                        struct body *b, struct reply *r)
{
    json_t *body = json_body(c, b, r);
    if (body)
        r->status = node_vgpus_resize(a->vgpus, id, body, &r->json);
    json_decref(body);
}

/* A freeze or resume copies for seconds per GiB: it runs on a thread of its own while its
 * connection is suspended, so that the listener's event loop goes on answering (tfuse ps). */
struct freeze_job {
    struct node_api *a;
    struct MHD_Connection *c;
    char id[3 * VGPU_ID_MAX + 4];
    int resume;
    int migrate;             /* POST .../migrate (vgpus_migrate.h) */
    json_t *body;
    struct reply r;
    _Atomic int done;
};

static void *freeze_job_main(void *arg)
{
    struct freeze_job *j = arg;
    struct MHD_Connection *c = j->c;
    struct node_api *a = j->a;
    j->r.status = j->migrate ? node_migrate_request(a->freeze, j->id, j->body, &j->r.json)
                             : node_freeze_request(a->freeze, j->id, j->resume, j->body,
                                                   &j->r.json);
    json_decref(j->body);
    j->body = NULL;
    atomic_store(&j->done, 1);   /* j is the connection's from here */
    MHD_resume_connection(c);
    atomic_fetch_sub(&a->freeze_jobs, 1);
    return NULL;
}

/* POST /api/v1/vgpus/{id}/freeze or /resume; the body is optional. r->status -1: suspended,
 * the answer comes from the job (on_request). */
static void freeze_vgpu(struct node_api *a, struct MHD_Connection *c, const char *id,
                        struct body *b, enum resource res, struct reply *r)
{
    json_t *body = b->len || b->too_big ? json_body(c, b, r) : NULL;
    struct freeze_job *j = NULL;
    if ((b->len || b->too_big) && !body)
        return;   /* answered: 400, 413 or 415 */
    if (!a->freeze || !(j = calloc(1, sizeof *j))) {
        fail(r, a->freeze ? 500 : 404, a->freeze ? "internal" : "not_found",
             a->freeze ? "out of memory" : "this node does not freeze vGPUs");
        json_decref(body);
        return;
    }
    *j = (struct freeze_job){.a = a, .c = c, .resume = res == R_VGPU_RESUME,
                             .migrate = res == R_VGPU_MIGRATE, .body = body};
    snprintf(j->id, sizeof j->id, "%s", id);
    b->job = j;
    r->status = -1;
    atomic_fetch_add(&a->freeze_jobs, 1);
    MHD_suspend_connection(c);   /* before the thread can resume it */
    pthread_t th;
    if (pthread_create(&th, NULL, freeze_job_main, j) == 0)
        pthread_detach(th);
    else
        freeze_job_main(j);   /* no thread: here, as before */
}

/* Freeze and resume also take the vGPU's own token (its tenant's): 1 let in, 0 not, -1 the
 * token of another vGPU (answered 403). */
static int tenant_verb(struct node_api *a, enum resource res, const char *id, const char *auth,
                       struct reply *r)
{
    if ((res != R_VGPU_FREEZE && res != R_VGPU_RESUME) || !a->freeze || !id || !auth ||
        strncasecmp(auth, "Bearer ", 7) != 0)
        return 0;
    const char *got = auth + 7;
    while (*got == ' ')
        got++;
    int t = node_freeze_tenant_token(a->freeze, id, got);
    if (t < 0)
        fail(r, 403, "forbidden", "this token is another vGPU's: a tenant may freeze and "
             "resume only its own");
    return t;
}

static void route(struct node_api_listener *l, struct MHD_Connection *c, const char *method,
                  const char *url, struct body *b, struct reply *r)
{
    struct node_api *a = l->api;
    const char *id = NULL;
    char idbuf[3 * VGPU_ID_MAX + 4];   /* room for an id written %XX throughout */
    enum resource res = resource_of(url, &id, idbuf, sizeof idbuf);
    const char *token = atomic_load(&a->token);
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    int tenant = 0;
    if (res != R_HEALTH && res != R_VERSION && l->tcp && token && token[0] &&
        !bearer_ok(auth, token) && (tenant = tenant_verb(a, res, id, auth, r)) <= 0) {
        if (tenant < 0)
            return;
        r->challenge = 1;
        fail(r, 401, "unauthorized", "this address needs Authorization: Bearer <api token>");
        return;
    }
    if (res == R_NONE) {
        fail(r, 404, "not_found", "no such route");
        return;
    }
    if (!method_allowed(res, method)) {
        r->allow = allowed[res];
        fail(r, 405, "method_not_allowed", "method not allowed on this route");
        return;
    }
    int post = strcmp(method, "POST") == 0, del = strcmp(method, "DELETE") == 0;
    switch (res) {
    case R_HEALTH: health(a, r); break;
    case R_VERSION: version(a, r); break;
    case R_METRICS:
        r->text = node_metrics_render(a);
        if (!r->text)
            fail(r, 500, "internal", "out of memory rendering the metrics");
        else
            r->status = 200;
        break;
    case R_DEVICES: r->status = node_vgpus_devices(a->vgpus, &r->json); break;
    case R_VGPUS:
        if (post)
            create_vgpu(a, c, b, r);
        else
            list_vgpus(a, NULL, r);
        break;
    case R_VGPU:
        if (del)
            r->status = node_vgpus_delete(a->vgpus, id, &r->json);
        else if (strcmp(method, "PATCH") == 0)
            resize_vgpu(a, c, id, b, r);
        else
            list_vgpus(a, id, r);
        break;
    case R_VGPU_LEASE: r->status = node_vgpus_renew(a->vgpus, id, &r->json); break;
    case R_VGPU_FREEZE:
    case R_VGPU_RESUME:
    case R_VGPU_MIGRATE: freeze_vgpu(a, c, id, b, res, r); break;
    case R_SESSIONS:
        if (a->sessions) {
            r->status = node_sessions_list(a->sessions, a->vgpus, &r->json);
        } else {
            r->json = json_pack("{s:[]}", "sessions");
            r->status = 200;
        }
        break;
    case R_SESSION:
        if (a->sessions)
            r->status = node_sessions_get(a->sessions, a->vgpus, id, &r->json);
        else
            fail(r, 404, "not_found", "no such session");
        break;
    case R_NONE: break;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version_,
                                  const char *upload, size_t *upload_len, void **state)
{
    (void)version_;
    struct body *b = *state;
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b)
            return MHD_NO;
        *state = b;
        if (!declared_too_big(c))
            return MHD_YES;
        b->too_big = 1;   /* answered now: the body is never read */
        struct reply r = {.status = 500};
        route(cls, c, method, url, b, &r);
        return send_reply(c, &r);
    }
    if (*upload_len) {
        if (b->too_big || b->len + *upload_len > MAX_BODY) {
            /* keep reading (and dropping) so that the 413 reaches the client, up to a point */
            b->too_big = 1;
            b->dropped += *upload_len;
            if (b->dropped > MAX_DROPPED)
                return MHD_NO;
        } else {
            char *nd = realloc(b->data, b->len + *upload_len + 1);
            if (!nd)
                return MHD_NO;
            memcpy(nd + b->len, upload, *upload_len);
            b->data = nd;
            b->len += *upload_len;
        }
        *upload_len = 0;
        return MHD_YES;
    }
    if (b->job) {   /* resumed: the freeze or resume has its answer */
        if (!atomic_load(&b->job->done))
            return MHD_YES;
        struct reply r = b->job->r;
        b->job->r.json = NULL;
        return send_reply(c, &r);
    }
    struct reply r = {.status = 500};
    route(cls, c, method, url, b, &r);
    return r.status < 0 ? MHD_YES : send_reply(c, &r);
}

static void on_done(void *cls, struct MHD_Connection *c, void **state,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)c, (void)code;
    struct body *b = *state;
    if (b && b->job && !atomic_load(&b->job->done))
        tf_error("an API connection ended during a freeze: its job is left to finish");
    else if (b && b->job) {
        json_decref(b->job->r.json);
        free(b->job);
    }
    if (b) {
        free(b->data);
        free(b);
    }
    *state = NULL;
}

/* Paths reach the router undecoded (resource_of decodes an {id} segment on its own); the node
 * takes no query arguments, which this leaves undecoded too. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    return strlen(s);
}

static unsigned or_default(unsigned v, unsigned def)
{
    return v ? v : def;
}

/* One listener's daemon: its own event-loop thread (MHD_USE_AUTO: epoll on Linux, else poll),
 * its own limits. A connection over a limit is closed at once by libmicrohttpd. */
static struct MHD_Daemon *start_daemon(struct node_api_listener *l,
                                       const struct node_api_config *cfg, int fd)
{
    unsigned total = l->tcp ? or_default(cfg->max_connections, NODE_API_DEFAULT_MAX_CONNECTIONS)
                            : NODE_API_UNIX_MAX_CONNECTIONS;
    /* a unix socket's peers have no address: there the total is the only limit (0: none) */
    unsigned per_host = l->tcp ? or_default(cfg->max_per_host, NODE_API_DEFAULT_MAX_PER_HOST) : 0;
    unsigned idle = or_default(cfg->idle_timeout_s, NODE_API_DEFAULT_IDLE_TIMEOUT_S);
    struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (l->tls)
        flags |= tf_mhd_tls_options(tls, cfg->tls_cert, cfg->tls_key);
    return MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, l, MHD_OPTION_ARRAY, tls,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
        MHD_OPTION_CONNECTION_LIMIT, total, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_host,
        MHD_OPTION_CONNECTION_TIMEOUT, idle, MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
        MHD_OPTION_END);
}

int node_api_start(struct node_api *a, const struct node_api_config *cfg, const char *addr,
                   char *err, size_t len)
{
    if (a->n == NODE_API_MAX) {
        snprintf(err, len, "at most %d --api addresses", NODE_API_MAX);
        return -1;
    }
    if (a->n == 0 && node_api_set_token(a, cfg->token) != 0) {
        snprintf(err, len, "the API token must be at most %d characters",
                 NODE_API_TOKEN_MAX - 1);
        return -1;
    }
    a->vgpus = cfg->vgpus;
    a->sessions = cfg->sessions;
    a->freeze = cfg->freeze;
    snprintf(a->backend, sizeof a->backend, "%s", backend_name(cfg->backend ? cfg->backend : ""));
    int fd, tcp = 0;
    if (strncmp(addr, "unix:", 5) == 0)
        fd = listen_unix(addr + 5, err, len);
    else if (strncmp(addr, "tcp:", 4) == 0)
        fd = listen_tcp(addr + 4, err, len), tcp = 1;
    else {
        snprintf(err, len, "--api takes unix:PATH or tcp:HOST:PORT, not '%s'", addr);
        return -1;
    }
    if (fd < 0)
        return -1;
    struct node_api_listener *l = &a->listeners[a->n];
    *l = (struct node_api_listener){.api = a, .tcp = tcp, .tls = tcp && cfg->tls_cert};
    if (l->tls && tf_mhd_tls_check(err, len) != 0) {
        close(fd);
        return -1;
    }
    struct MHD_Daemon *d = start_daemon(l, cfg, fd);
    if (!d) {
        snprintf(err, len, "cannot start the API server on %s%s", addr,
                 l->tls ? " (is --tls-key the key of --tls-cert?)" : "");
        close(fd);
        return -1;
    }
    const char *token = atomic_load(&a->token);
    if (tcp && !token[0])
        tf_warn("API on %s without a token: anyone who reaches it controls the node's vGPUs "
                "(set --api-token or TFUSE_NODE_TOKEN)", addr);
    a->daemons[a->n] = d;
    snprintf(a->addrs[a->n], sizeof a->addrs[a->n], "%s", addr);
    a->n++;
    return 0;
}

void node_api_stop(struct node_api *a)
{
    /* a suspended connection must be resumed before its daemon stops: the jobs end once their
     * workers answer or end (the sessions are drained by now), bounded by their own wait */
    for (int i = 0; i < 15000 && atomic_load(&a->freeze_jobs) > 0; i++)
        usleep(10000);
    for (int i = 0; i < a->n; i++) {
        MHD_stop_daemon(a->daemons[i]);
        if (strncmp(a->addrs[i], "unix:", 5) == 0)
            unlink(a->addrs[i] + 5);
    }
    a->n = 0;
    atomic_store(&a->token, NULL);   /* no request thread is left to read them */
    while (a->tokens) {
        struct node_api_token *next = a->tokens->next;
        free(a->tokens);
        a->tokens = next;
    }
    free((char *)atomic_exchange(&a->token, NULL));   /* no request thread is left to read it */
}

int node_api_set_token(struct node_api *a, const char *token)
{
    size_t n = token ? strlen(token) : 0;
    if (n >= NODE_API_TOKEN_MAX)
        return -1;
    struct node_api_token *t = malloc(sizeof *t + n + 1);
    if (!t)
        return -1;
    memcpy(t->text, token ? token : "", n + 1);
    t->next = a->tokens;   /* set_token runs on one thread (start, reload) */
    a->tokens = t;
    atomic_store(&a->token, t->text);
    return 0;
}

void node_api_set_draining(struct node_api *a, int draining)
{
    atomic_store(&a->draining, draining ? 1 : 0);
}
