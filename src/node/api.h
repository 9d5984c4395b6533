/*
 * The node's control API over HTTP/JSON (docs/node-api.md), served by libmicrohttpd on the
 * `--api` addresses. Owns: the HTTP servers. May call: vgpus.h, libmicrohttpd, jansson.
 */
#ifndef TFUSE_NODE_API_H
#define TFUSE_NODE_API_H

#include <stddef.h>

#include "vgpus.h"

#define NODE_API_MAX 4

struct MHD_Daemon;

struct node_api {
    struct MHD_Daemon *daemons[NODE_API_MAX];
    char addrs[NODE_API_MAX][300];
    int n;
};

/* Serves the API on addr ("unix:PATH" or "tcp:HOST:PORT"). 0, or -1 with err. */
int node_api_start(struct node_api *a, struct node_vgpus *v, const char *addr, char *err,
                   size_t len);
void node_api_stop(struct node_api *a);

#endif
