/*
 * TEST DOUBLE of a TensorFuse node daemon for the pool's tests: a small libmicrohttpd server that
 * serves the node API of docs/node-api.md (POST/DELETE /api/v1/vgpus, GET /api/v1/devices) from
 * memory, records every request, checks that the pool never books more VRAM on a device than it
 * has, and can be told to fail. It also plays the node->pool side (register, heartbeat).
 * Not a node implementation: src/node is.
 */
#ifndef TFUSE_TESTS_FAKE_NODE_H
#define TFUSE_TESTS_FAKE_NODE_H

#include <stdbool.h>
#include <stdint.h>

struct fake_node;

struct fake_gpu {
    const char *uuid;
    const char *model;
    uint64_t memory_bytes;
    double tflops;
};

/* Starts on 127.0.0.1 with a free port. */
struct fake_node *fake_node_start(const char *name, const struct fake_gpu *gpus, int ngpus);
void fake_node_stop(struct fake_node *fn);
const char *fake_node_url(const struct fake_node *fn);   /* http://127.0.0.1:PORT */

/* Fail the nth vGPU create from now on (1 = the next one) with HTTP 500; 0 disables. */
void fake_node_fail_create_at(struct fake_node *fn, int nth);

int fake_node_creates(struct fake_node *fn);     /* successful creates so far */
int fake_node_deletes(struct fake_node *fn);     /* successful deletes so far */
int fake_node_live_vgpus(struct fake_node *fn);
bool fake_node_overbooked(struct fake_node *fn); /* some device got more VRAM than it has */

/* Every request the pool made to this node, and whether each carried
 * "Authorization: Bearer <token>". */
int fake_node_requests(struct fake_node *fn);
int fake_node_requests_with_bearer(struct fake_node *fn, const char *token);

/* The pool's join token the node presents to register (NULL: none), and the credential the
 * pool issued it (kept from the registration's answer; "" before). */
void fake_node_set_join_token(struct fake_node *fn, const char *token);
const char *fake_node_credential(struct fake_node *fn);
void fake_node_set_credential(struct fake_node *fn, const char *cred);

/* node -> pool: register (labels "k=v,k2=v2" or NULL; pool NULL = default) and heartbeat.
 * Registration presents the node's credential when it has one, else the join token; the
 * heartbeat presents the credential.
 * Return the HTTP status (or -1 when the pool could not be reached). */
int fake_node_register(struct fake_node *fn, const char *pool_url, const char *pool,
                       const char *labels);
int fake_node_heartbeat(struct fake_node *fn, const char *pool_url);

#endif
