/*
 * The pool's HTTP/JSON API (docs/pool-api.md) on libmicrohttpd: one thread per connection, bodies
 * capped at POOL_BODY_MAX, every error answered as {"error": reason, "message": text} with the
 * right 4xx/5xx status. Calls pool_svc, pool_req, libmicrohttpd and jansson.
 */
#ifndef TFUSE_POOL_HTTP_H
#define TFUSE_POOL_HTTP_H

#include <stdint.h>

#include "pool_svc.h"

struct pool_http;

/* Listens on host:port (port 0: any free port). */
struct pool_http *pool_http_start(struct pool_svc *svc, const char *host, uint16_t port, char *err,
                                  size_t errlen);
uint16_t pool_http_port(const struct pool_http *h);
void pool_http_stop(struct pool_http *h);

#endif
