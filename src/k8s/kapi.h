/*
 * A client of the Kubernetes API server: JSON objects over HTTPS with the service account's
 * bearer token, for tfuse-k8s's subcommands (ResourceSlices, ResourceClaims, Nodes, pods).
 * Owns: where the API server is (the --kube-api URL, else in-cluster from
 * KUBERNETES_SERVICE_HOST/_PORT), the token (re-read before every request: projected tokens
 * rotate) and CA, error messages from the server's Status objects, and the retry of an update
 * that lost a race (409 Conflict: read again, apply the change again, write again).
 * May call: src/common/httpc.h (libcurl), jansson, config.h.
 */
#ifndef TFUSE_K8S_KAPI_H
#define TFUSE_K8S_KAPI_H

#include <jansson.h>
#include <stddef.h>

#include "k8s.h"

struct k8s_api;

/* The API server of cfg (kube_api, else in-cluster). NULL with err when neither is known. */
struct k8s_api *k8s_api_open(const struct k8s_config *cfg, char *err, size_t errlen);
void k8s_api_close(struct k8s_api *api);
const char *k8s_api_base(const struct k8s_api *api);

/* Content types of a PATCH. */
#define K8S_PATCH_MERGE "application/merge-patch+json"
#define K8S_PATCH_STRATEGIC "application/strategic-merge-patch+json"
#define K8S_PATCH_JSON "application/json-patch+json"

/*
 * One request: method path (e.g. "/apis/resource.k8s.io/v1/resourceslices") with an optional
 * JSON body (content_type NULL: application/json). Returns the HTTP status, 0 when the server
 * could not be reached; *reply (may be NULL to ignore) is the JSON answer or NULL. For a status
 * outside 2xx, err holds "METHOD PATH: HTTP N: <the Status's message>".
 */
int k8s_api_request(struct k8s_api *api, const char *method, const char *path,
                    const char *content_type, const json_t *body, json_t **reply, char *err,
                    size_t errlen);

/* GET an object. 200 and *obj; 404 (err says so) or another status/0 without *obj. */
int k8s_api_get(struct k8s_api *api, const char *path, json_t **obj, char *err, size_t errlen);

/*
 * Read-modify-write with optimistic concurrency: GET path, call mutate(obj, arg), PUT the
 * result (it carries the resourceVersion read, so the server refuses it with 409 when someone
 * wrote in between), and on 409 start again from a fresh GET, up to K8S_API_CONFLICT_RETRIES
 * times. mutate returns 0 to write, 1 when nothing needs writing (no PUT), -1 to stop (its
 * message in err). subresource: NULL, or "status" to write PATH/status.
 * Returns the last HTTP status (200 also for "nothing to write"), 0 unreachable.
 */
#define K8S_API_CONFLICT_RETRIES 8
typedef int (*k8s_mutate_fn)(json_t *obj, void *arg, char *err, size_t errlen);
int k8s_api_update(struct k8s_api *api, const char *path, const char *subresource,
                   k8s_mutate_fn mutate, void *arg, json_t **result, char *err, size_t errlen);

/* The server's version from GET /version: major and minor as numbers ("34+" is 34), and its
 * gitVersion in git (may be NULL). 0, or -1 with err. */
int k8s_api_server_version(struct k8s_api *api, int *major, int *minor, char *git,
                           size_t gitlen, char *err, size_t errlen);

/* A path segment is safe to paste into a URL: a DNS name or a UID ([a-z0-9.-], at most 253). */
int k8s_name_ok(const char *name);

#endif
