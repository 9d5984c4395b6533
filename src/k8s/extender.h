/*
 * The scheduler extender (kube-scheduler's extender v1: filter, prioritize, bind over HTTPS),
 * shared by extender.c (the pool client, filter and prioritize) and ext_bind.c (bind, the
 * release of allocations whose pods are gone, the subcommand). Decisions are the pool's: every
 * verdict and score comes from its dry-run placement (POST /api/v1/placements) and the bind's
 * allocation is made by the pool on the node the scheduler chose, so the strategies, quotas
 * and gang rules are those of `tfuse run --pool`. May call: annotations.h, kapi.h, httpc.h.
 */
#ifndef TFUSE_K8S_EXTENDER_H
#define TFUSE_K8S_EXTENDER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "annotations.h"
#include "k8s.h"

#define K8S_EXT_BODY_MAX (32u << 20)      /* ExtenderArgs with full Node objects are large */
#define K8S_EXT_CHUNK 500                 /* node names per dry run (the pool reads 64 KiB) */
#define K8S_EXT_POOL_TIMEOUT_MS 30000
#define K8S_EXT_KEY_PREFIX "k8s-"         /* idempotency key of a pod's allocation: + its uid */

struct k8s_api;

struct k8s_extender {
    struct k8s_config cfg;             /* the API server (kube_api, token, CA) */
    struct k8s_api *api;               /* NULL: no API server (filter/prioritize only) */
    char pool_url[512];                /* the pool's base URL, no trailing slash */
    char pool_token_file[512];         /* the pool's admin credential (re-read per call) */
    char tenant[64];                   /* "": each pod's namespace is its tenant */
    double reconcile_s;                /* release allocations of gone pods this often; 0: never */
    double grace_s;                    /* an allocation younger than this is never released */
    bool stopping;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

/* A pool call: status (0: unreachable, err says why) and the JSON answer (*reply, may be
 * NULL). body may be NULL. */
int k8s_ext_pool(struct k8s_extender *x, const char *method, const char *path, json_t *body,
                 json_t **reply, char *err, size_t errlen);

/* The tenant of a pod of namespace ns. */
const char *k8s_ext_tenant(const struct k8s_extender *x, const char *ns);

/* The verbs: the body of a request in, the answer out (*resp malloc'd), the HTTP status. */
int k8s_ext_filter(struct k8s_extender *x, const char *body, size_t len, char **resp);
int k8s_ext_prioritize(struct k8s_extender *x, const char *body, size_t len, char **resp);
int k8s_ext_bind(struct k8s_extender *x, const char *body, size_t len, char **resp);

/* One pass of the release of allocations whose pods are gone or finished (ext_bind.c); how
 * many were released, -1 when the pool or the API server could not be asked. */
int k8s_ext_reconcile(struct k8s_extender *x, char *err, size_t errlen);

/* A member of obj by name, case-insensitively: the scheduler sends Go field names ("Pod",
 * "NodeNames") and reads its answers case-insensitively. */
json_t *k8s_ext_member(const json_t *obj, const char *name);

#endif
