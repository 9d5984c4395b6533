/*
 * The kubelet plugin registration service (pluginregistration v1; dra_service.h): on the
 * socket <registry_dir>/<driver>-reg.sock, GetInfo tells the kubelet's plugin watcher what we
 * are and where the DRA service listens; NotifyRegistrationStatus tells us its verdict. And
 * the plugin as a whole: both servers started and stopped in the order the kubelet needs.
 * Owns: struct k8s_registration's answer and the verdict, struct k8s_dra_plugin.
 * May call: grpcsrv.h, dra_service.h, protobuf-c (pluginregistration_v1.pb-c.h),
 * src/common/log.h, POSIX.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dra_service.h"
#include "log.h"
#include "pluginregistration_v1.pb-c.h"

void k8s_registration_init(struct k8s_registration *r, const char *driver,
                           const char *endpoint)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->type, sizeof(r->type), "DRAPlugin");
    snprintf(r->name, sizeof(r->name), "%s", driver);
    snprintf(r->endpoint, sizeof(r->endpoint), "%s", endpoint);
    /* the kubelet picks the newest it speaks: v1 from 1.34, v1beta1 on 1.32/1.33 */
    r->versions[r->n_versions++] = "v1.DRAPlugin";
    r->versions[r->n_versions++] = "v1beta1.DRAPlugin";
    pthread_mutex_init(&r->mu, NULL);
}

static int get_info(void *arg, const uint8_t *req, size_t req_len, uint8_t **resp,
                    size_t *resp_len, char *msg, size_t msglen)
{
    struct k8s_registration *r = arg;
    Pluginregistration__InfoRequest *in =
        pluginregistration__info_request__unpack(NULL, req_len, req);
    if (!in) {
        snprintf(msg, msglen, "InfoRequest does not decode");
        return K8S_GRPC_INVALID_ARGUMENT;
    }
    pluginregistration__info_request__free_unpacked(in, NULL);
    Pluginregistration__PluginInfo info = PLUGINREGISTRATION__PLUGIN_INFO__INIT;
    info.type = r->type;
    info.name = r->name;
    info.endpoint = r->endpoint;
    info.n_supported_versions = r->n_versions;
    info.supported_versions = (char **)r->versions;
    size_t n = pluginregistration__plugin_info__get_packed_size(&info);
    *resp = malloc(n ? n : 1);
    if (!*resp)
        return K8S_GRPC_RESOURCE_EXHAUSTED;
    *resp_len = pluginregistration__plugin_info__pack(&info, *resp);
    return K8S_GRPC_OK;
}

static int notify(void *arg, const uint8_t *req, size_t req_len, uint8_t **resp,
                  size_t *resp_len, char *msg, size_t msglen)
{
    struct k8s_registration *r = arg;
    Pluginregistration__RegistrationStatus *st =
        pluginregistration__registration_status__unpack(NULL, req_len, req);
    if (!st) {
        snprintf(msg, msglen, "RegistrationStatus does not decode");
        return K8S_GRPC_INVALID_ARGUMENT;
    }
    pthread_mutex_lock(&r->mu);
    r->notified = 1;
    r->registered = st->plugin_registered;
    snprintf(r->error, sizeof(r->error), "%s", st->error ? st->error : "");
    pthread_mutex_unlock(&r->mu);
    if (st->plugin_registered)
        tf_info("the kubelet registered %s", r->name);
    else
        tf_error("the kubelet refused %s: %s", r->name, st->error ? st->error : "(no reason)");
    pluginregistration__registration_status__free_unpacked(st, NULL);
    return K8S_GRPC_OK; /* RegistrationStatusResponse is empty: no bytes */
}

int k8s_registration_serve(struct k8s_registration *r, struct k8s_grpc_server *srv)
{
    if (k8s_grpc_server_add_unary(srv, K8S_REG_SERVICE "/GetInfo", get_info, r) < 0 ||
        k8s_grpc_server_add_unary(srv, K8S_REG_SERVICE "/NotifyRegistrationStatus", notify,
                                  r) < 0)
        return -1;
    return 0;
}

int k8s_registration_state(struct k8s_registration *r, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->mu);
    int s = !r->notified ? -1 : r->registered ? 0 : 1;
    if (s == 1)
        snprintf(err, errlen, "%s", r->error);
    pthread_mutex_unlock(&r->mu);
    return s;
}

void k8s_registration_destroy(struct k8s_registration *r)
{
    pthread_mutex_destroy(&r->mu);
}

struct k8s_dra_plugin *k8s_dra_plugin_start(const struct k8s_config *cfg,
                                            const struct k8s_dra_ops *ops, char *err,
                                            size_t errlen)
{
    struct k8s_dra_plugin *p = calloc(1, sizeof(*p));
    if (errlen)
        err[0] = 0;
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (mkdir(cfg->plugin_dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", cfg->plugin_dir, strerror(errno));
        free(p);
        return NULL;
    }
    if ((size_t)snprintf(p->dra_sock, sizeof(p->dra_sock), "%s/dra.sock", cfg->plugin_dir) >=
            sizeof(p->dra_sock) ||
        (size_t)snprintf(p->reg_sock, sizeof(p->reg_sock), "%s/%s-reg.sock", cfg->registry_dir,
                         cfg->driver) >= sizeof(p->reg_sock)) {
        snprintf(err, errlen, "plugin or registry folder name too long");
        free(p);
        return NULL;
    }
    k8s_registration_init(&p->reg, cfg->driver, p->dra_sock);
    if (!(p->dra = k8s_dra_new(cfg, ops, err, errlen)) ||
        !(p->dra_srv = k8s_grpc_server_new(p->dra_sock, err, errlen)) ||
        k8s_dra_serve(p->dra, p->dra_srv) < 0 ||
        k8s_grpc_server_start(p->dra_srv, err, errlen) < 0 ||
        k8s_dra_plugin_reregister(p, err, errlen) < 0) {
        if (!err[0])
            snprintf(err, errlen, "cannot register the plugin's methods");
        k8s_dra_plugin_stop(p);
        return NULL;
    }
    return p;
}

int k8s_dra_plugin_reregister(struct k8s_dra_plugin *p, char *err, size_t errlen)
{
    k8s_grpc_server_free(p->reg_srv);
    pthread_mutex_lock(&p->reg.mu);
    p->reg.notified = p->reg.registered = 0; /* the kubelet will tell us again */
    pthread_mutex_unlock(&p->reg.mu);
    if (!(p->reg_srv = k8s_grpc_server_new(p->reg_sock, err, errlen)))
        return -1;
    if (k8s_registration_serve(&p->reg, p->reg_srv) < 0 ||
        k8s_grpc_server_start(p->reg_srv, err, errlen) < 0) {
        k8s_grpc_server_free(p->reg_srv);
        p->reg_srv = NULL;
        return -1;
    }
    return 0;
}

void k8s_dra_plugin_stop(struct k8s_dra_plugin *p)
{
    if (!p)
        return;
    k8s_grpc_server_free(p->reg_srv);
    k8s_grpc_server_free(p->dra_srv);
    k8s_dra_free(p->dra);
    k8s_registration_destroy(&p->reg);
    free(p);
}
