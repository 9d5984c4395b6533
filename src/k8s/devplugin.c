/*
 * The device plugin's life beside the kubelet (devplugin.h): our server on the kubelet's
 * device-plugins folder, Register on kubelet.sock, and both again after a kubelet restart.
 * May call: grpcsrv.h, dp_service.h, src/common/log.h, libc.
 */
#include "devplugin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dp_service.h"
#include "grpcsrv.h"
#include "log.h"

#define DP_REGISTER_TIMEOUT_MS 5000
#define DP_BACKOFF_MIN_S 1.0
#define DP_BACKOFF_MAX_S 30.0

struct k8s_dp {
    struct k8s_dp_options o;
    struct k8s_dp_service svc;
    struct k8s_grpc_server *srv;
    char sock_path[700], kubelet_path[700];
    dev_t sock_dev;               /* our socket file as we made it: gone or replaced = wiped */
    ino_t sock_ino;
    int registered;
    dev_t kubelet_dev;            /* the kubelet.sock we registered with */
    ino_t kubelet_ino;
    unsigned registrations;
    double next_try, backoff;     /* monotonic seconds: the pause after a failure */
    char last_err[512];           /* logged once, not at every retry */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int k8s_dp_resource_check(const char *name, char *err, size_t errlen)
{
    const char *slash = strchr(name, '/');
    size_t dlen = slash ? (size_t)(slash - name) : 0;
    int ok = slash && dlen > 0 && dlen <= 253 && !strchr(slash + 1, '/') && slash[1] &&
             strlen(slash + 1) <= 63;
    for (const char *p = name; ok && p < slash; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.';
    for (const char *p = slash ? slash + 1 : ""; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
             (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_';
    if (ok && (name[0] == '.' || name[0] == '-' || slash[-1] == '.' || slash[-1] == '-'))
        ok = 0;
    /* the kubelet refuses extended resources in kubernetes.io's own domains */
    if (ok && ((dlen == 13 && !strncmp(name, "kubernetes.io", 13)) ||
               (dlen > 14 && !strncmp(slash - 14, ".kubernetes.io", 14)))) {
        snprintf(err, errlen, "resource name '%s': the kubernetes.io domain is reserved", name);
        return -1;
    }
    if (!ok) {
        snprintf(err, errlen, "resource name '%.300s' is not DOMAIN/NAME (a DNS subdomain, and "
                              "up to 63 of [A-Za-z0-9._-])", name);
        return -1;
    }
    return 0;
}

struct k8s_dp *k8s_dp_new(const struct k8s_config *cfg, const struct k8s_dp_options *o,
                          struct k8s_dp_devices *devs)
{
    struct k8s_dp *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->o = *o;
    p->svc.cfg = cfg;
    p->svc.devs = devs;
    snprintf(p->sock_path, sizeof p->sock_path, "%s/%s", o->dir, o->socket);
    snprintf(p->kubelet_path, sizeof p->kubelet_path, "%s/%s", o->dir, K8S_DP_KUBELET_SOCKET);
    return p;
}

/* A failure of this step: logged when it differs from the last, retried after a pause. */
static void failed(struct k8s_dp *p, const char *what, const char *why)
{
    char line[sizeof p->last_err];
    snprintf(line, sizeof line, "%s: %s", what, why);
    if (strcmp(line, p->last_err) != 0) {
        tf_warn("%s (retrying)", line);
        snprintf(p->last_err, sizeof p->last_err, "%s", line);
    }
    p->backoff = p->backoff < DP_BACKOFF_MIN_S ? DP_BACKOFF_MIN_S : p->backoff * 2;
    if (p->backoff > DP_BACKOFF_MAX_S)
        p->backoff = DP_BACKOFF_MAX_S;
    p->next_try = now_s() + p->backoff;
}

static void succeeded(struct k8s_dp *p)
{
    p->backoff = 0;
    p->next_try = 0;
    p->last_err[0] = '\0';
}

static void stop_server(struct k8s_dp *p)
{
    k8s_grpc_server_free(p->srv);
    p->srv = NULL;
    p->registered = 0;
}

static int start_server(struct k8s_dp *p)
{
    char err[512];
    struct k8s_grpc_server *srv = k8s_grpc_server_new(p->sock_path, err, sizeof err);
    if (!srv) {
        failed(p, "device plugin socket", err);
        return -1;
    }
    struct stat st;
    int added = k8s_dp_service_add(srv, &p->svc) == 0;
    if (!added || k8s_grpc_server_start(srv, err, sizeof err) != 0) {
        if (!added)
            snprintf(err, sizeof err, "cannot add the DevicePlugin methods");
        k8s_grpc_server_free(srv);
        failed(p, p->sock_path, err);
        return -1;
    }
    if (stat(p->sock_path, &st) != 0) {
        snprintf(err, sizeof err, "the socket vanished right after start: %s", strerror(errno));
        k8s_grpc_server_free(srv);
        failed(p, p->sock_path, err);
        return -1;
    }
    p->srv = srv;
    p->sock_dev = st.st_dev;
    p->sock_ino = st.st_ino;
    tf_info("serving the device plugin API v1beta1 on %s", p->sock_path);
    return 0;
}

static int do_register(struct k8s_dp *p, const struct stat *kst)
{
    uint8_t *req = NULL, *resp = NULL;
    size_t len = 0, resp_len = 0;
    char err[512] = "";
    if (k8s_dp_register_request(p->o.socket, p->o.resource, &req, &len) != 0) {
        failed(p, "Register", "out of memory");
        return -1;
    }
    int st = k8s_grpc_call_unary(p->kubelet_path, K8S_DP_REGISTER, req, len, &resp, &resp_len,
                                 DP_REGISTER_TIMEOUT_MS, err, sizeof err);
    free(req);
    free(resp);
    if (st != K8S_GRPC_OK) {
        char why[640];
        snprintf(why, sizeof why, "the kubelet answered status %d: %s", st, err);
        failed(p, "Register with the kubelet", why);
        return -1;
    }
    p->registered = 1;
    p->kubelet_dev = kst->st_dev;
    p->kubelet_ino = kst->st_ino;
    p->registrations++;
    succeeded(p);
    tf_info("registered %s with the kubelet (%s, endpoint %s)", p->o.resource, p->kubelet_path,
            p->o.socket);
    return 0;
}

int k8s_dp_step(struct k8s_dp *p)
{
    struct stat st;
    if (p->srv && (stat(p->sock_path, &st) != 0 || st.st_dev != p->sock_dev ||
                   st.st_ino != p->sock_ino)) {
        tf_warn("%s was removed or replaced (the kubelet restarted?): serving it again",
                p->sock_path);
        stop_server(p);
        succeeded(p);
    }
    int have_kubelet = stat(p->kubelet_path, &st) == 0 && S_ISSOCK(st.st_mode);
    if (p->registered && (!have_kubelet || st.st_dev != p->kubelet_dev ||
                          st.st_ino != p->kubelet_ino)) {
        tf_warn("%s %s: registering again when it is back", p->kubelet_path,
                have_kubelet ? "was recreated (the kubelet restarted)" : "is gone");
        p->registered = 0;
        succeeded(p);
    }
    if (now_s() < p->next_try)
        return p->registered;
    if (!p->srv && start_server(p) != 0)
        return 0;
    if (!p->registered && have_kubelet)
        do_register(p, &st);
    return p->registered;
}

unsigned k8s_dp_registrations(const struct k8s_dp *p)
{
    return p->registrations;
}

void k8s_dp_free(struct k8s_dp *p)
{
    if (!p)
        return;
    k8s_grpc_server_free(p->srv);
    free(p);
}
