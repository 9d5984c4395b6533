/*
 * A minimal blocking HTTP/JSON client over libcurl, shared by the node client (pool -> node)
 * and the operator CLI (tfuse pool ... --pool URL). Connections are kept alive between calls;
 * responses are capped in size so a hostile server cannot exhaust memory. Calls libcurl and
 * libc.
 */
#ifndef TFUSE_POOL_HTTPC_H
#define TFUSE_POOL_HTTPC_H

#include <stddef.h>

#define POOL_HTTPC_RESPONSE_MAX (4 * 1024 * 1024)

struct pool_http_response {
    long status;                       /* HTTP status, 0 when no response came */
    char *body;                        /* NUL-terminated, malloc'd (may be empty), caller frees */
    size_t len;
};

/* Call once per process before threads start (curl_global_init is not thread-safe). */
void pool_httpc_global_init(void);
/* Closes the kept-alive connections (optional, at exit). */
void pool_httpc_global_cleanup(void);

/* Sends method url with an optional JSON body. Returns 0 when a response came (whatever its
 * status), -1 with a message in err when the exchange itself failed (connect, timeout, size). */
int pool_http_request(const char *method, const char *url, const char *json_body, long timeout_ms,
                      struct pool_http_response *resp, char *err, size_t errlen);
/* The same with `Authorization: Bearer <bearer>` (bearer NULL or "": no header). */
int pool_http_request_auth(const char *method, const char *url, const char *json_body,
                           const char *bearer, long timeout_ms, struct pool_http_response *resp,
                           char *err, size_t errlen);

#endif
