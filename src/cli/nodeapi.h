/*
 * A small client of the node's control API (docs/node-api.md) for the CLI: `tfuse vgpu ...`,
 * the ephemeral vGPUs of `tfuse run --vram/--compute`, and the snapshots of `tfuse ps/top`.
 * Sends the node's bearer token (--token, $TFUSE_NODE_TOKEN) with every call.
 * Owns: HTTP requests to one node. May call: src/common/httpc.h, jansson.
 */
#ifndef TFUSE_CLI_NODEAPI_H
#define TFUSE_CLI_NODEAPI_H

#include <jansson.h>
#include <stddef.h>

/*
 * The bearer token sent with every API call (a node with a token refuses remote calls without
 * it). Defaults to $TFUSE_NODE_TOKEN; NULL or "" sends none. The string is not copied.
 */
void nodeapi_set_token(const char *token);

/*
 * --ca-file of the commands that call a node over https (vgpu, ps, top, run): the CA (PEM) the
 * node's certificate must chain to, instead of $TFUSE_CA_FILE or the system store. Checked at
 * once: 0, or -1 after printing why, prefixed by cmd. Also exported as TFUSE_CA_FILE, so that a
 * program `tfuse run` starts verifies a tls: session address against the same CA.
 */
int nodeapi_set_ca_file(const char *cmd, const char *path);

/*
 * Sends method path with body (may be NULL) to the node at addr ("unix:PATH",
 * "tcp:HOST:PORT" or "http://HOST:PORT"). Returns the HTTP status (0 when the node could not be
 * reached: err says why) and sets *reply to the parsed JSON answer (NULL when empty).
 */
int nodeapi_call(const char *addr, const char *method, const char *path, json_t *body,
                 json_t **reply, char *err, size_t errlen);

/*
 * GET path and its JSON object. Returns the HTTP status (200 with *reply set; anything else with
 * err saying why: 0 unreachable, 401 token refused, 404 route not served).
 */
int nodeapi_get(const char *addr, const char *path, json_t **reply, char *err, size_t errlen);

/* "/api/v1/vgpus/{id}" with id percent-encoded (every byte outside [A-Za-z0-9_.-]), so that an
 * id an older node accepted ("a/b", "", a newline) can still be named and deleted. */
void nodeapi_vgpu_path(char *out, size_t len, const char *id);

/* A DELETE answered 202 (the vGPU's sessions are ending): polls GET path every 0.1 s until it
 * answers 404, the signal that the vGPU's memory is back and its id free, or seconds pass.
 * Returns 1 when gone. */
#define NODEAPI_DELETE_WAIT_S 30
int nodeapi_wait_gone(const char *addr, const char *path, double seconds);

/* The message of an error reply, or a fallback. */
const char *nodeapi_message(json_t *reply, const char *fallback);

/* `tfuse vgpu create|list|resize|delete ...` */
int tfuse_vgpu_main(int argc, char **argv);

#endif
