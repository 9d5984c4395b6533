/*
 * The pool's HTTP/JSON API (docs/pool-api.md) on libmicrohttpd: one thread per connection (each
 * polling its socket: no FD_SETSIZE bound), connections capped in all and per client, bodies
 * capped at POOL_BODY_MAX, every error answered as {"error": reason, "message": text} with the
 * right 4xx/5xx status. Calls pool_svc, pool_req, libmicrohttpd and jansson.
 */
#ifndef TFUSE_POOL_HTTP_H
#define TFUSE_POOL_HTTP_H

#include <stdint.h>

#include "pool_svc.h"

/* The listener's limits (docs/pool-api.md "Limits"): a connection over one is closed at once. */
#define POOL_HTTP_MAX_CONNECTIONS 1024   /* in all */
#define POOL_HTTP_MAX_PER_HOST 64        /* from one client address */
#define POOL_HTTP_IDLE_TIMEOUT_S 30      /* a connection silent this long is closed */
#define POOL_HTTP_THREAD_STACK (1u << 20)  /* per connection thread */

struct pool_http;

/* Listens on host:port (port 0: any free port). */
struct pool_http *pool_http_start(struct pool_svc *svc, const char *host, uint16_t port, char *err,
                                  size_t errlen);
/* The same serving https with the PEM certificate chain and key (text, not paths; read only
 * while this runs); both NULL: http. */
struct pool_http *pool_http_start_tls(struct pool_svc *svc, const char *host, uint16_t port,
                                      const char *cert_pem, const char *key_pem, char *err,
                                      size_t errlen);
uint16_t pool_http_port(const struct pool_http *h);
void pool_http_stop(struct pool_http *h);

#endif
