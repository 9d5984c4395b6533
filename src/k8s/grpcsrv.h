/*
 * A small gRPC server and client over gRPC core's C API for the kubelet's local plugin sockets
 * (plugin registration, DRA, device plugin): insecure credentials on a unix: address, the
 * messages as protobuf bytes the caller packs and unpacks (protobuf-c).
 * Owns: the completion queues, the dispatcher thread and one thread per call, the socket file
 * (created 0600 beside its final name and renamed over it, so a stale one is replaced and no
 * other mode is ever visible), the bound on concurrent calls and on message size (4 MiB).
 * May call: gRPC core only.
 */
#ifndef TFUSE_K8S_GRPCSRV_H
#define TFUSE_K8S_GRPCSRV_H

#include <stddef.h>
#include <stdint.h>

#define K8S_GRPC_MAX_MESSAGE (4 * 1024 * 1024) /* larger messages are refused both ways */
#define K8S_GRPC_MAX_CALLS 32                  /* calls handled at once; more: RESOURCE_EXHAUSTED */

/* gRPC status codes (the numbers are the protocol's; grpc/status.h has the same) */
enum {
    K8S_GRPC_OK = 0,
    K8S_GRPC_CANCELLED = 1,
    K8S_GRPC_UNKNOWN = 2,
    K8S_GRPC_INVALID_ARGUMENT = 3,
    K8S_GRPC_DEADLINE_EXCEEDED = 4,
    K8S_GRPC_NOT_FOUND = 5,
    K8S_GRPC_ALREADY_EXISTS = 6,
    K8S_GRPC_RESOURCE_EXHAUSTED = 8,
    K8S_GRPC_FAILED_PRECONDITION = 9,
    K8S_GRPC_UNIMPLEMENTED = 12,
    K8S_GRPC_INTERNAL = 13,
    K8S_GRPC_UNAVAILABLE = 14,
};

struct k8s_grpc_server;
struct k8s_grpc_stream;

/* unary: returns a gRPC status code; *resp malloc'd (protobuf bytes; the server frees it),
 * sent only when the status is OK; msg: the status text (already "" on entry). */
typedef int (*k8s_grpc_unary_fn)(void *arg, const uint8_t *req, size_t req_len,
                                 uint8_t **resp, size_t *resp_len, char *msg, size_t msglen);

/* server-streaming: send with k8s_grpc_stream_send until done or it returns -1 (client gone
 * or server stopping); return the final status code. */
typedef int (*k8s_grpc_stream_fn)(void *arg, const uint8_t *req, size_t req_len,
                                  struct k8s_grpc_stream *s);

/* 0 sent, -1 the call is over (client gone, server stopping, message too large) */
int k8s_grpc_stream_send(struct k8s_grpc_stream *s, const uint8_t *msg, size_t len);
/* Wait up to timeout_ms (-1: forever) for the call to end: 0 timed out (the call goes on),
 * -1 the client is gone or the server is stopping. A handler's way to sleep between sends. */
int k8s_grpc_stream_wait(struct k8s_grpc_stream *s, int timeout_ms);

/* A server that will listen on unix_path once started; NULL with a message on bad input. */
struct k8s_grpc_server *k8s_grpc_server_new(const char *unix_path, char *err, size_t errlen);
/* Register a handler for a full method name "/package.Service/Method"; before start only.
 * 0, or -1 (started already, table full, duplicate, bad name). */
int k8s_grpc_server_add_unary(struct k8s_grpc_server *srv, const char *method,
                              k8s_grpc_unary_fn fn, void *arg);
int k8s_grpc_server_add_stream(struct k8s_grpc_server *srv, const char *method,
                               k8s_grpc_stream_fn fn, void *arg);
/* Listen: a stale socket file at the path is replaced; one a live server answers on is not
 * (-1, "in use"), nor a path that is not a socket. 0, or -1 with a message. */
int k8s_grpc_server_start(struct k8s_grpc_server *srv, char *err, size_t errlen);
/* Stop and free: running streams end (their send/wait return -1), handler threads are joined,
 * the socket file is removed if it is still ours. NULL is fine. */
void k8s_grpc_server_free(struct k8s_grpc_server *srv);

/* A client's unary call over a unix socket (the device plugin's Register with the kubelet).
 * Returns the call's gRPC status code (K8S_GRPC_OK with *resp malloc'd, possibly empty and
 * then NULL with *resp_len 0); on any other code err holds the status text. Failures to reach
 * the server are UNAVAILABLE, the timeout DEADLINE_EXCEEDED. */
int k8s_grpc_call_unary(const char *unix_path, const char *method, const uint8_t *req,
                        size_t req_len, uint8_t **resp, size_t *resp_len, int timeout_ms,
                        char *err, size_t errlen);

#endif
