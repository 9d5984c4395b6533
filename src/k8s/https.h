/*
 * The HTTPS server of the webhook and the scheduler extender: libmicrohttpd with TLS only (the
 * API server and kube-scheduler verify it; there is no plain-http mode), a thread per
 * connection waiting in poll(2), bounded connections (in all and per address), an idle
 * timeout, and bodies collected up to a cap (a larger one is 413 before or while it is read).
 * Owns: the listener and request bodies. May call: libmicrohttpd, src/common (pemfile, mhdtls).
 */
#ifndef TFUSE_K8S_HTTPS_H
#define TFUSE_K8S_HTTPS_H

#include <stddef.h>
#include <stdint.h>

#define K8S_HTTPS_MAX_CONNECTIONS 256
#define K8S_HTTPS_MAX_PER_HOST 64
#define K8S_HTTPS_IDLE_TIMEOUT_S 30

/* Answers one request: returns the HTTP status and sets *resp (malloc'd JSON, or NULL: no
 * body). Runs on the connection's thread; handlers of different connections run at once. */
typedef int (*k8s_https_fn)(void *arg, const char *method, const char *url, const char *body,
                            size_t len, char **resp);

struct k8s_https;

/* Listens on listen ("HOST:PORT", port 0: any) with the PEM certificate chain and key files.
 * NULL with the reason in err. */
struct k8s_https *k8s_https_start(const char *listen, const char *cert_file,
                                  const char *key_file, size_t body_max, k8s_https_fn fn,
                                  void *arg, char *err, size_t errlen);
uint16_t k8s_https_port(const struct k8s_https *s);
void k8s_https_stop(struct k8s_https *s);

/* {"error": ..., "message": ...} as a malloc'd string (never NULL unless out of memory). */
char *k8s_https_error(const char *reason, const char *message);

/* Blocks SIGINT and SIGTERM in the calling thread, so that threads started afterwards inherit
 * the mask and k8s_serve's sigwait receives them. Call before starting any thread. */
void k8s_block_stop_signals(void);

/* A subcommand's server: starts the listener (signals blocked first), writes the https URL to
 * ready_file (if any) once listening, serves until SIGINT/SIGTERM, stops. The exit status. */
int k8s_serve(const char *who, const char *listen, const char *cert_file, const char *key_file,
              size_t body_max, k8s_https_fn fn, void *arg, const char *ready_file);

#endif
