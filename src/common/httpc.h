/*
 * The HTTP/JSON client of TensorFuse's processes, over libcurl: the pool calling nodes and the
 * operator CLI calling the pool (src/pool), the node registering with the pool
 * (src/node/poolreg.c), and the tfuse CLI calling a node's API (src/cli/nodeapi.c).
 * Owns: blocking request/response exchanges and the connections kept alive between them.
 * Every request: responses are capped at TF_HTTP_RESPONSE_MAX so a hostile server cannot
 * exhaust memory; only http and https are spoken; timeouts use no signal (safe in a daemon's
 * threads); a bearer token containing CR or LF is never sent (no header splitting).
 * Built as its own library, tfuse_httpc, not in tfuse_common: the stub links tfuse_common and
 * must not pull libcurl. May call: libcurl, libc.
 */
#ifndef TFUSE_COMMON_HTTPC_H
#define TFUSE_COMMON_HTTPC_H

#include <stddef.h>

#define TF_HTTP_RESPONSE_MAX (4 * 1024 * 1024)

struct tf_http_response {
    long status;                       /* HTTP status, 0 when no response came */
    char *body;                        /* NUL-terminated, malloc'd (may be empty), caller frees */
    size_t len;
};

/* What a request may add; a NULL pointer (or a zeroed struct) adds nothing. */
struct tf_http_opts {
    const char *bearer;       /* `Authorization: Bearer <bearer>`; NULL or "": no header */
    const char *unix_socket;  /* connect to this AF_UNIX path instead of the URL's host:port */
    const char *ca_file;      /* https: trust this CA bundle for this request only (a
                               * Kubernetes API server's service-account CA) */
    const char *content_type; /* of the body; NULL: application/json (a PATCH names its kind) */
};

/*
 * The URL of path on a TensorFuse API address: "unix:PATH" (*unix_socket = PATH, the URL's host
 * is localhost), "tcp:HOST:PORT" (plain http) or "http(s)://HOST:PORT". 0, or -1 with the
 * accepted forms in err.
 */
int tf_http_api_url(const char *addr, const char *path, char *url, size_t len,
                    const char **unix_socket, char *err, size_t errlen);

/* Call once per process before threads start (curl_global_init is not thread-safe); a
 * request calls it too, so a single-threaded program may skip it. */
void tf_http_global_init(void);
/*
 * https: the server is always verified (certificate chain and host name). Trusted are the CA
 * bundle given here (--ca-file), else the one in $TFUSE_CA_FILE, else the system store. The
 * file is checked now: -1 with the reason in err when it cannot be read or holds no PEM
 * certificate. Call before threads start; NULL goes back to $TFUSE_CA_FILE / the system store.
 */
int tf_http_set_ca_file(const char *path, char *err, size_t errlen);
/* The CA bundle requests trust (set above, else $TFUSE_CA_FILE); NULL: the system store. */
const char *tf_http_ca_file(void);

/* Closes the kept-alive connections (optional, at exit). */
void tf_http_global_cleanup(void);

/*
 * Sends method url with an optional JSON body (Content-Type: application/json) and waits at
 * most timeout_ms for the whole exchange (connecting: at most 5 s of it). opts may be NULL.
 * Returns 0 when a response came (whatever its status) and fills resp; -1 when the exchange
 * itself failed (connect, timeout, size cap, memory), with only the reason in err: the caller
 * says which request it was.
 */
int tf_http_request(const char *method, const char *url, const char *json_body, long timeout_ms,
                    const struct tf_http_opts *opts, struct tf_http_response *resp, char *err,
                    size_t errlen);

#endif
