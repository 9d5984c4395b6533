/*
 * The node's Prometheus metrics (text exposition format 0.0.4), served on GET /metrics by api.c.
 * docs/metrics.md lists every family. Per device, per vGPU, per session, node-wide, and the
 * call latency histogram by call class.
 *
 * Owns: the rendering. May call: vgpus.h, sessions.h, api.h (the node's API state), libc.
 */
#ifndef TFUSE_NODE_METRICS_H
#define TFUSE_NODE_METRICS_H

#define NODE_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct node_api;

/* The whole exposition as a malloc'd NUL-terminated string, or NULL when out of memory. */
char *node_metrics_render(struct node_api *a);

#endif
