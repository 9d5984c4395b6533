/*
 * The kubelet's DRA plugin service (NodePrepareResources, NodeUnprepareResources), v1 and
 * v1beta1, on a grpcsrv server, and the plugin registration service the kubelet's plugin
 * watcher asks first, and the plugin that runs both (registration.c).
 * Owns: the answer to each claim of a request (a claim's failure is its entry's error, never
 * the RPC's), idempotence (a uid in the checkpoint is answered from it; calls for one uid run
 * one at a time), the checkpoint (checkpoint.h) written before the kubelet hears of a prepare.
 * May call: grpcsrv.h, checkpoint.h, the prepare/unprepare it is given (k8s.h's claim.c in
 * tfuse-k8s, a test double in the tests), protobuf-c.
 */
#ifndef TFUSE_K8S_DRA_SERVICE_H
#define TFUSE_K8S_DRA_SERVICE_H

#include <pthread.h>
#include <stddef.h>

#include "grpcsrv.h"
#include "k8s.h"

#define K8S_DRA_V1_SERVICE "/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin"
#define K8S_DRA_V1BETA1_SERVICE "/k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin"
#define K8S_REG_SERVICE "/pluginregistration.Registration"

/* what prepares and undoes one claim: k8s_claim_prepare / k8s_claim_unprepare in tfuse-k8s */
struct k8s_dra_ops {
    int (*prepare)(const struct k8s_config *cfg, const char *ns, const char *name,
                   const char *uid, struct k8s_prepared_claim *out, char *err, size_t errlen);
    int (*unprepare)(const struct k8s_config *cfg, const struct k8s_prepared_claim *pc,
                     char *err, size_t errlen);
};

struct k8s_dra;

/* Load the checkpoint from cfg->plugin_dir; NULL with the reason (an unreadable checkpoint
 * is refused and left in place). cfg and ops must outlive the service. */
struct k8s_dra *k8s_dra_new(const struct k8s_config *cfg, const struct k8s_dra_ops *ops,
                            char *err, size_t errlen);
/* Register both versions' methods on srv (before it starts). 0 or -1. */
int k8s_dra_serve(struct k8s_dra *d, struct k8s_grpc_server *srv);
/* how many claims the checkpoint holds */
size_t k8s_dra_prepared_count(struct k8s_dra *d);
/* after the server that calls it is freed */
void k8s_dra_free(struct k8s_dra *d);

/* The plugin registration service: what GetInfo answers and what NotifyRegistrationStatus
 * told us. */
struct k8s_registration {
    char type[32];              /* "DRAPlugin" */
    char name[K8S_NAME_MAX];    /* the driver name */
    char endpoint[600];         /* the DRA socket's absolute path */
    const char *versions[4];    /* "v1.DRAPlugin", "v1beta1.DRAPlugin" */
    size_t n_versions;
    pthread_mutex_t mu;
    int notified, registered;   /* under mu */
    char error[512];            /* the kubelet's reason, when it refused */
};

void k8s_registration_init(struct k8s_registration *r, const char *driver,
                           const char *endpoint);
int k8s_registration_serve(struct k8s_registration *r, struct k8s_grpc_server *srv);
/* -1 the kubelet has not told us yet, 0 registered, 1 refused (the reason in err) */
int k8s_registration_state(struct k8s_registration *r, char *err, size_t errlen);
void k8s_registration_destroy(struct k8s_registration *r);

/* The whole kubelet plugin: the DRA service on <plugin_dir>/dra.sock (the folder made 0700 if
 * missing), then registration on <registry_dir>/<driver>-reg.sock, so the kubelet never finds
 * a registration whose endpoint does not answer yet. */
struct k8s_dra_plugin {
    struct k8s_dra *dra;
    struct k8s_grpc_server *dra_srv, *reg_srv;
    struct k8s_registration reg;
    char dra_sock[600], reg_sock[600];
};

struct k8s_dra_plugin *k8s_dra_plugin_start(const struct k8s_config *cfg,
                                            const struct k8s_dra_ops *ops, char *err,
                                            size_t errlen);
/* Serve registration again on a fresh socket (ours was removed). 0, or -1 with err. */
int k8s_dra_plugin_reregister(struct k8s_dra_plugin *p, char *err, size_t errlen);
/* registration first (the kubelet drops the plugin), then the service; NULL is fine */
void k8s_dra_plugin_stop(struct k8s_dra_plugin *p);

#endif
