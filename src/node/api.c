/*
 * The node's control API (docs/node-api.md): HTTP/JSON with libmicrohttpd on `tcp:HOST:PORT`
 * and/or `unix:PATH` (a unix socket created mode 0600: file permissions are the
 * authentication). Routes: POST/GET /api/v1/vgpus, DELETE /api/v1/vgpus/{id},
 * GET /api/v1/devices. One polling thread per listener; the operations lock the vGPU state.
 *
 * Owns: listeners, request bodies, routing. May call: vgpus.c, libmicrohttpd, jansson.
 */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"

#define MAX_BODY (64u << 10)

struct body {
    char *data;
    size_t len;
    int too_big;
};

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
    if (rc != 0 || listen(fd, 64) != 0) {
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
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        snprintf(err, len, "cannot listen on tcp:%s: %s", hostport, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        text ? strlen(text) : 0, text ? text : (void *)"", text ? MHD_RESPMEM_MUST_FREE
                                                                : MHD_RESPMEM_PERSISTENT);
    if (text)
        MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static json_t *error_json(const char *reason, const char *msg)
{
    return json_pack("{s:s, s:s}", "error", reason, "message", msg);
}

static int route(struct node_vgpus *v, const char *method, const char *url, struct body *b,
                 json_t **reply)
{
    static const char vgpus[] = "/api/v1/vgpus";
    if (strcmp(url, "/api/v1/devices") == 0 && strcmp(method, "GET") == 0)
        return node_vgpus_devices(v, reply);
    if (strcmp(url, vgpus) == 0 && strcmp(method, "GET") == 0)
        return node_vgpus_list(v, reply);
    if (strcmp(url, vgpus) == 0 && strcmp(method, "POST") == 0) {
        if (b->too_big) {
            *reply = error_json("bad_request", "body too large");
            return 413;
        }
        json_error_t je;
        json_t *body = json_loadb(b->data ? b->data : "", b->len, 0, &je);
        if (!body) {
            char msg[300];
            snprintf(msg, sizeof msg, "body is not JSON: %s", je.text);
            *reply = error_json("bad_request", msg);
            return 400;
        }
        int status = node_vgpus_create(v, body, reply);
        json_decref(body);
        return status;
    }
    if (strncmp(url, vgpus, sizeof vgpus - 1) == 0 && url[sizeof vgpus - 1] == '/' &&
        strcmp(method, "DELETE") == 0)
        return node_vgpus_delete(v, url + sizeof vgpus, reply);
    int known = strcmp(url, vgpus) == 0 || strcmp(url, "/api/v1/devices") == 0 ||
                strncmp(url, vgpus, sizeof vgpus - 1) == 0;
    *reply = error_json(known ? "method_not_allowed" : "not_found",
                        known ? "method not allowed on this route" : "no such route");
    return known ? 405 : 404;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_len, void **state)
{
    (void)version;
    struct body *b = *state;
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b)
            return MHD_NO;
        *state = b;
        return MHD_YES;
    }
    if (*upload_len) {
        if (b->len + *upload_len > MAX_BODY) {
            b->too_big = 1;
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
    json_t *reply = NULL;
    int status = route(cls, method, url, b, &reply);
    return send_json(c, status, reply);
}

static void on_done(void *cls, struct MHD_Connection *c, void **state,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)c, (void)code;
    struct body *b = *state;
    if (b) {
        free(b->data);
        free(b);
    }
    *state = NULL;
}

int node_api_start(struct node_api *a, struct node_vgpus *v, const char *addr, char *err,
                   size_t len)
{
    if (a->n == NODE_API_MAX) {
        snprintf(err, len, "at most %d --api addresses", NODE_API_MAX);
        return -1;
    }
    int fd;
    if (strncmp(addr, "unix:", 5) == 0)
        fd = listen_unix(addr + 5, err, len);
    else if (strncmp(addr, "tcp:", 4) == 0)
        fd = listen_tcp(addr + 4, err, len);
    else {
        snprintf(err, len, "--api takes unix:PATH or tcp:HOST:PORT, not '%s'", addr);
        return -1;
    }
    if (fd < 0)
        return -1;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, v,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!d) {
        snprintf(err, len, "cannot start the API server on %s", addr);
        close(fd);
        return -1;
    }
    a->daemons[a->n] = d;
    snprintf(a->addrs[a->n], sizeof a->addrs[a->n], "%s", addr);
    a->n++;
    return 0;
}

void node_api_stop(struct node_api *a)
{
    for (int i = 0; i < a->n; i++) {
        MHD_stop_daemon(a->daemons[i]);
        if (strncmp(a->addrs[i], "unix:", 5) == 0)
            unlink(a->addrs[i] + 5);
    }
    a->n = 0;
}
