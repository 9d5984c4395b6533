/*
 * The node's control API over HTTP/JSON (docs/node-api.md) and its Prometheus metrics
 * (docs/metrics.md), served by libmicrohttpd on the `--api` addresses. TCP listeners require
 * `Authorization: Bearer <token>` when the node has an API token (every route but /healthz and
 * /api/v1/version); unix listeners rely on the socket's 0600 permissions. Each listener has its
 * own libmicrohttpd daemon and event loop (epoll: no FD_SETSIZE bound) with its own connection
 * limits, so a flood of one listener never starves another.
 *
 * Owns: the HTTP servers, routing, authentication, error replies.
 * May call: vgpus.h, sessions.h, metrics.h, libmicrohttpd, jansson.
 */
#ifndef TFUSE_NODE_API_H
#define TFUSE_NODE_API_H

#include <stdatomic.h>
#include <stddef.h>

#include "sessions.h"
#include "vgpus.h"

#define NODE_API_MAX 4
#define NODE_API_TOKEN_MAX 256
/* Listener limits (docs/node-api.md "Limits"): defaults of the --api-* options. */
#define NODE_API_DEFAULT_MAX_CONNECTIONS 1000  /* per tcp listener, all clients together */
#define NODE_API_DEFAULT_MAX_PER_HOST 64       /* per tcp listener and client address */
#define NODE_API_DEFAULT_IDLE_TIMEOUT_S 30     /* a connection silent this long is closed */
#define NODE_API_UNIX_MAX_CONNECTIONS 256      /* per unix listener (owner-only socket) */
#define NODE_API_MAX_BODY (64u << 10)          /* a request body's bytes */

struct MHD_Daemon;
struct node_api;
struct node_freeze;
struct node_api_token;

/* What the API serves. sessions may be NULL (no session routes data: empty lists). */
struct node_api_config {
    struct node_vgpus *vgpus;
    struct node_sessions *sessions;
    struct node_freeze *freeze;  /* vgpus_freeze.h: the freeze and resume verbs; NULL: none */
    const char *token;     /* bearer token for tcp listeners; NULL or "": none required */
    const char *backend;   /* the backend library path (for /api/v1/version) */
    /* tcp listeners' limits; 0: the NODE_API_DEFAULT_* value. Unix listeners get their own
     * daemon with NODE_API_UNIX_MAX_CONNECTIONS, so a tcp flood cannot starve them. */
    unsigned max_connections, max_per_host, idle_timeout_s;
    /* PEM certificate chain and key: tcp listeners serve https (unix ones stay plain, their
     * file permissions authenticate); NULL: http. Read once at start; not kept. */
    const char *tls_cert, *tls_key;
};

struct node_api_listener {
    struct node_api *api;
    int tcp;               /* 1: tcp (token checked), 0: unix (file permissions) */
    int tls;               /* 1: https */
};

struct node_api {
    struct MHD_Daemon *daemons[NODE_API_MAX];
    char addrs[NODE_API_MAX][300];
    struct node_api_listener listeners[NODE_API_MAX];
    int n;
    struct node_vgpus *vgpus;
    struct node_sessions *sessions;
    struct node_freeze *freeze;
    _Atomic int freeze_jobs;   /* freezes and resumes running on threads of their own */
    /* The bearer token ("" for none). Replaced whole by node_api_set_token; a replaced string
     * is kept (a request thread may still be comparing against it) on the `tokens` list until
     * node_api_stop. */
    const char *_Atomic token;
    struct node_api_token *tokens;
    char backend[64];
    _Atomic int draining;
};

/* Serves the API on addr ("unix:PATH" or "tcp:HOST:PORT"). 0, or -1 with err (also for a token
 * longer than NODE_API_TOKEN_MAX - 1). */
int node_api_start(struct node_api *a, const struct node_api_config *cfg, const char *addr,
                   char *err, size_t len);
void node_api_stop(struct node_api *a);

/* While draining, /healthz answers 503 {"status":"draining","draining":true}. */
void node_api_set_draining(struct node_api *a, int draining);
/* A new token for the tcp listeners (SIGHUP reload); NULL or "" removes it. 0, or -1 when out
 * of memory or too long (the old token stays). */
int node_api_set_token(struct node_api *a, const char *token);

#endif
