/*
 * A small client of the node's control API (docs/node-api.md) for the CLI: `tfuse vgpu ...` and
 * the ephemeral vGPUs of `tfuse run --vram/--compute`.
 * Owns: HTTP requests to one node. May call: libcurl, jansson.
 */
#ifndef TFUSE_CLI_NODEAPI_H
#define TFUSE_CLI_NODEAPI_H

#include <jansson.h>
#include <stddef.h>

/*
 * Sends method path with body (may be NULL) to the node at addr ("unix:PATH",
 * "tcp:HOST:PORT" or "http://HOST:PORT"). Returns the HTTP status (0 when the node could not be
 * reached: err says why) and sets *reply to the parsed JSON answer (NULL when empty).
 */
int nodeapi_call(const char *addr, const char *method, const char *path, json_t *body,
                 json_t **reply, char *err, size_t errlen);

/* The message of an error reply, or a fallback. */
const char *nodeapi_message(json_t *reply, const char *fallback);

/* `tfuse vgpu create|list|delete ...` */
int tfuse_vgpu_main(int argc, char **argv);

#endif
