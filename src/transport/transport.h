/*
 * TensorFuse transport: how a stub (client) and a worker (server) exchange frames.
 *
 * Owns: address parsing, listeners, connections, the handshake, frame encoding/validation, the
 * same-host shared-memory rings (request ring client->worker, response ring worker->client) with
 * adaptive spin-then-sleep waiting, the TCP stream path, fd passing over the unix socket and
 * shared regions for page-locked host memory. Knows nothing about CUDA or about what frames
 * mean: the frame `type`, `flags` and `id` are the caller's (src/proto), except the range
 * TF_FRAME_TYPE_RESERVED_MIN.. which the transport keeps for itself.
 * May call: libc, Linux syscalls (memfd, futex, SCM_RIGHTS), src/common/log.h, GnuTLS (tls.c,
 * through dlopen: nothing links it).
 *
 * Transports
 *   shm    same host: the unix socket carries the handshake, passed fds and liveness; frames go
 *          through two single-producer/single-consumer rings in a memfd the client creates.
 *          A frame larger than a ring is streamed through it in chunks, transparently.
 *   stream unix or TCP socket (TCP_NODELAY, keepalive): the same frames on the socket.
 *   Asking for shm over a tcp: address is answered with stream.
 *   Tuning: TFUSE_SPIN_US (environment) bounds the adaptive spin, default 50 (0: always sleep);
 *   TFUSE_SOCKBUF_KB the TCP socket buffers (default 4096; 0: the kernel's autotuning).
 *   Compression: TFUSE_COMPRESS=off|lz4|zstd|auto, negotiated at the handshake (pack.c).
 *
 * Thread model
 *   A tf_conn is NOT thread-safe: one thread uses it at a time (the stub serialises its calls;
 *   the worker runs one thread per connection). A tf_listener is used by one thread (the node's
 *   accept loop). Different connections are fully independent. After fork(), only one process
 *   may keep using a connection; the other calls tf_conn_abandon.
 *
 * Flow control
 *   Sending blocks while the peer's ring (or socket buffer) is full, until the peer consumes.
 *   So the protocol above must never have both sides blocked sending at once: a pipelining
 *   client sends without waiting, and the worker replies only to calls the client waits for
 *   (or the client drains replies before it blocks). Every wait also watches the peer: a peer
 *   that dies or closes turns any blocked call into TF_ERR_CLOSED within TF_LIVENESS_MS-ish,
 *   never a hang.
 *
 * Errors
 *   Functions return 0 (TF_OK) or a negative enum tf_err. Connection-level failures are sticky:
 *   once a connection reports TF_ERR_CLOSED / TF_ERR_PROTOCOL / TF_ERR_TOO_LARGE every later call
 *   on it returns the same error; tf_conn_error() says why in words (and the reason is logged).
 *
 * TLS
 *   tls:HOST:PORT is TCP inside TLS 1.2/1.3 (GnuTLS, loaded on first use): the client verifies
 *   the server's chain (tf_client_opts.ca_file, $TFUSE_CA_FILE, else the system store) and its
 *   host name, and never falls back to plain TCP; a listener speaks TLS once given a
 *   certificate (tf_listener_set_tls). Frames, handshake and errors are the stream transport's.
 *   A plain client on a TLS listener, or the reverse, fails at the handshake with words that
 *   say so. The session survives fork: the process that abandons it sends no close_notify.
 *
 * Wire format: docs/protocol.md. All integers are little-endian on the wire.
 */
#ifndef TFUSE_TRANSPORT_H
#define TFUSE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "tfuse/version.h"

/* Bumped whenever the frame or handshake layout changes; compared exactly at handshake. */
#define TFUSE_PROTOCOL_VERSION 2u  /* 2: the token may be a comma-separated list of vGPU
                                    * tokens (one session on several devices), up to 4096 bytes */

#define TF_FRAME_MAGIC 0x52465446u      /* "TFFR" little-endian: every frame header */
#define TF_HELLO_MAGIC 0x48465446u      /* "TFFH": the client's handshake */
#define TF_WELCOME_MAGIC 0x57465446u    /* "TFFW": the server's handshake reply */
#define TF_FRAME_HEADER_SIZE 32u        /* bytes on the wire */
#define TF_TOKEN_MAX 4096u              /* session token: opaque bytes, NUL-free string */
#define TF_HOSTNAME_MAX 64u
#define TF_REASON_MAX 255u              /* reject reason, bytes */
#define TF_FRAME_MAX_DEFAULT (1ull << 30)   /* default bound on one frame's payload: 1 GiB */
#define TF_RING_BYTES_DEFAULT (4u << 20)    /* default size of each shm ring */
#define TF_LIVENESS_MS 100              /* how often a sleeping waiter checks its peer */

/* Frame types at or above this value belong to the transport; tf_send refuses them. */
#define TF_FRAME_TYPE_RESERVED_MIN 0xFFFF0000u
/* A compressed frame (pack.c, docs/protocol.md): on sessions that negotiated compression, a
 * payload of TF_PACK_MIN bytes or more travels in chunks of at most TF_PACK_CHUNK_MAX raw bytes,
 * each compressed only where a sample says it pays. Receivers see the frame as sent. */
#define TF_FRAME_PACKED 0xFFFF0001u
#define TF_PACK_MIN (64u << 10)
#define TF_PACK_CHUNK_MAX (4u << 20)

/* Payload compression of a session, asked in the hello and granted in the welcome. */
enum tf_compress { TF_COMPRESS_OFF = 0, TF_COMPRESS_LZ4 = 1, TF_COMPRESS_ZSTD = 2 };
/* "off", "lz4", "zstd" (static). */
const char *tf_compress_name(int method);
/* Parses TFUSE_COMPRESS's value: off|lz4|zstd, or auto (lz4 to another host over TCP or TLS,
 * off on loopback and unix sockets). -1 for anything else. */
int tf_compress_parse(const char *text, int *method, int *is_auto);

enum tf_err {
    TF_OK = 0,
    TF_ERR_INVALID = -1,       /* bad argument or address (nothing was sent) */
    TF_ERR_SYS = -2,           /* a system call failed (see tf_conn_error / errno text) */
    TF_ERR_NOMEM = -3,
    TF_ERR_TIMEOUT = -4,       /* nothing arrived within the timeout; the connection is fine */
    TF_ERR_AGAIN = -5,         /* non-blocking operation would block (accept, fd lookup) */
    TF_ERR_CLOSED = -6,        /* the peer closed or died; sticky */
    TF_ERR_PROTOCOL = -7,      /* malformed frame or handshake; the connection is closed */
    TF_ERR_TOO_LARGE = -8,     /* frame above the negotiated maximum; the connection is closed */
    TF_ERR_REJECTED = -9,      /* the server rejected the handshake (reason in err text) */
    TF_ERR_VERSION = -10,      /* protocol version mismatch (rejected; message names both) */
    TF_ERR_NOT_SUPPORTED = -11,/* e.g. shared regions or fd passing over TCP */
    TF_ERR_STATE = -12,        /* call out of order (e.g. payload read with no frame pending) */
    TF_ERR_NOT_FOUND = -13,    /* unknown region id / fd tag */
};

/* Static English name of an error code ("closed", "timeout", ...). */
const char *tf_err_str(int err);

/* ---- Addresses ---------------------------------------------------------------------------- */

enum tf_addr_kind { TF_ADDR_UNIX = 1, TF_ADDR_TCP = 2 };

struct tf_addr {
    enum tf_addr_kind kind;
    char path[108];            /* unix: socket path (sun_path size; abstract not supported) */
    char host[256];            /* tcp: host name or numeric address ("[::1]" brackets removed) */
    uint16_t port;             /* tcp: port (0 allowed for listeners: pick a free one) */
    int tls;                   /* tcp inside TLS: written tls:HOST:PORT */
};

/* Parses "unix:PATH", "tcp:HOST:PORT" or "tls:HOST:PORT" (IPv6 as tcp:[::1]:PORT; tls: is a TCP
 * address with tls set, the connection then runs inside TLS: see "TLS"). On error returns
 * TF_ERR_INVALID and writes a sentence saying what is wrong into err (if err != NULL). */
int tf_addr_parse(const char *text, struct tf_addr *out, char *err, size_t errlen);
/* Formats back to the textual form; returns the snprintf-style length. */
int tf_addr_format(const struct tf_addr *addr, char *buf, size_t len);

/* ---- Frames -------------------------------------------------------------------------------- */

/* One frame header, decoded. On the wire: magic u32, version u32, type u32, flags u32, id u64,
 * length u64 (32 bytes, little-endian). */
struct tf_frame_header {
    uint32_t type;             /* caller-defined, < TF_FRAME_TYPE_RESERVED_MIN; 0 is invalid */
    uint32_t flags;            /* caller-defined */
    uint64_t id;               /* caller-defined sequence / request id */
    uint64_t length;           /* payload bytes that follow */
};

void tf_frame_header_encode(const struct tf_frame_header *h, uint8_t out[TF_FRAME_HEADER_SIZE]);
/* Validates and decodes a received header: magic, protocol version, type != 0 and
 * length <= max_payload. Returns TF_OK, TF_ERR_PROTOCOL or TF_ERR_TOO_LARGE, with the reason in
 * why (if non-NULL). Never reads past len; safe on any input (fuzzed by fuzz_frame). Reserved
 * types are accepted here (the transport uses them); tf_recv_header never returns them. */
int tf_frame_header_decode(const uint8_t *buf, size_t len, uint64_t max_payload,
                           struct tf_frame_header *out, char *why, size_t whylen);

/* ---- Handshake ----------------------------------------------------------------------------- */

enum tf_transport_kind {
    TF_TRANSPORT_AUTO = 0,     /* client request: shm on unix sockets, stream on tcp */
    TF_TRANSPORT_SHM = 1,
    TF_TRANSPORT_STREAM = 2,
};

/* What a client says in its first message. */
struct tf_hello {
    uint32_t version;                  /* client's TFUSE_PROTOCOL_VERSION */
    uint32_t transport;                /* enum tf_transport_kind requested */
    int32_t pid;                       /* client pid (as the client sees it) */
    uint64_t ring_bytes;               /* shm: size of each ring in the memfd */
    uint64_t max_frame;                /* largest payload the client will send/accept */
    uint32_t compress;                 /* enum tf_compress asked (byte 36; 0 from old clients) */
    char token[TF_TOKEN_MAX + 1];      /* NUL-terminated */
    char hostname[TF_HOSTNAME_MAX + 1];
};

/* The server's answer. */
struct tf_welcome {
    uint32_t version;                  /* server's TFUSE_PROTOCOL_VERSION */
    uint32_t accepted;                 /* 1 accept, 0 reject */
    uint32_t transport;                /* granted enum tf_transport_kind (shm or stream) */
    uint64_t session_id;               /* server-chosen, meaningful when accepted */
    uint64_t max_frame;                /* effective bound: min(client, server) */
    uint32_t compress;                 /* enum tf_compress granted (byte 34; 0 from old nodes) */
    char reason[TF_REASON_MAX + 1];    /* reject reason, NUL-terminated */
};

/* Encoders return the number of bytes written (<= len), or TF_ERR_INVALID if len is too small.
 * Decoders return TF_OK or TF_ERR_PROTOCOL (reason in why); they accept a hello of any protocol
 * version so that the server can reject a mismatch with a message naming both versions. Both
 * decoders are safe on arbitrary input (fuzzed by fuzz_handshake). */
#define TF_HELLO_MAX_SIZE (40u + TF_TOKEN_MAX + TF_HOSTNAME_MAX)
#define TF_WELCOME_MAX_SIZE (40u + TF_REASON_MAX)
int tf_hello_encode(const struct tf_hello *h, uint8_t *buf, size_t len);
int tf_hello_decode(const uint8_t *buf, size_t len, struct tf_hello *out, char *why, size_t whylen);
/* How many bytes the hello that buf begins with takes in all (its fixed part names the lengths
 * of the rest), or 0 while fewer than its fixed part are at hand. A server that waits for a
 * whole hello before tf_server_handshake (the node: no process per silent connection) peeks at
 * the socket with it. Garbage gives the fixed part's size: the handshake then refuses it. */
size_t tf_hello_size(const uint8_t *buf, size_t len);
int tf_welcome_encode(const struct tf_welcome *w, uint8_t *buf, size_t len);
int tf_welcome_decode(const uint8_t *buf, size_t len, struct tf_welcome *out, char *why,
                      size_t whylen);

/* ---- Connections: client side -------------------------------------------------------------- */

struct tf_conn;

struct tf_client_opts {
    const char *token;                 /* NULL = "" */
    enum tf_transport_kind transport;  /* AUTO (default, 0) picks shm for unix: addresses */
    size_t ring_bytes;                 /* 0 = TF_RING_BYTES_DEFAULT; rounded up to a power of 2 */
    uint64_t max_frame;                /* 0 = TF_FRAME_MAX_DEFAULT */
    int timeout_ms;                    /* connect + handshake; 0 = $TFUSE_CONNECT_TIMEOUT_MS
                                        * or 10000 */
    const char *ca_file;               /* tls: the CA (PEM) the node's certificate must chain
                                        * to; NULL = $TFUSE_CA_FILE, else the system store */
    const char *compress;              /* off|lz4|zstd|auto; NULL = $TFUSE_COMPRESS, else auto
                                        * (a node that does not know compression: off) */
};

/* Connects to "unix:PATH" or "tcp:HOST:PORT", performs the handshake and returns a ready
 * connection. opts may be NULL. On failure returns a tf_err and writes the reason into err:
 * TF_ERR_REJECTED / TF_ERR_VERSION carry the server's reason string verbatim. */
int tf_connect(const char *address, const struct tf_client_opts *opts, struct tf_conn **out,
               char *err, size_t errlen);

/* ---- Listeners and connections: server side ------------------------------------------------ */

struct tf_listener;

/* Listens on one address. A unix socket path that exists and is a stale socket is replaced;
 * a tcp port 0 binds a free port (read it back with tf_listener_address). */
int tf_listen(const char *address, struct tf_listener **out, char *err, size_t errlen);
/* The listening fd, non-blocking: poll it for POLLIN, then call tf_listener_accept. */
int tf_listener_fd(const struct tf_listener *l);
/* The bound address in textual form (with the real port for tcp). */
const char *tf_listener_address(const struct tf_listener *l);
/* Accepts one pending connection without blocking (TF_ERR_AGAIN if none). The connection has
 * not shaken hands yet: hand it to its worker thread/process, which calls tf_server_handshake.
 * (After fork, the process that does not keep it calls tf_conn_abandon.) */
int tf_listener_accept(struct tf_listener *l, struct tf_conn **out);
/* Closes the socket; unlinks the unix socket path it created. NULL is fine. */
void tf_listener_close(struct tf_listener *l);
/* Makes a tcp listener speak TLS with this certificate chain and key (PEM text; both copied):
 * every connection it accepts from then on shakes hands in TLS first, and its address reads
 * tls:HOST:PORT. A tls: listener accepts nothing until it has them. TF_ERR_INVALID (with the
 * reason) for a unix listener or a pair GnuTLS refuses, TF_ERR_NOT_SUPPORTED without GnuTLS. */
int tf_listener_set_tls(struct tf_listener *l, const char *cert_pem, const char *key_pem,
                        char *err, size_t errlen);

/* For a server that must not block on one client (the node's gate): advances an accepted
 * connection towards its whole hello without waiting. Plain connections are peeked at (nothing
 * consumed, a passed memfd stays attached); TLS ones shake hands a step and read the decrypted
 * hello into the connection. Returns 1 when the whole hello is there (tf_server_handshake then
 * never waits on the network), 0 not yet: poll the fd for *events (progress: the bytes taken in
 * so far, unchanged when nothing new could be read), or a tf_err once the connection failed
 * (reason in tf_conn_error: a peer gone, a TLS handshake refused, a plaintext client on a TLS
 * listener, which has then been told in plain words to use tls:). */
int tf_server_hello_ready(struct tf_conn *c, short *events, uint64_t *progress);

struct tf_server_opts {
    uint64_t max_frame;                /* 0 = TF_FRAME_MAX_DEFAULT; effective = min with client */
    int timeout_ms;                    /* to receive the hello; 0 = as the client's */
};

/* Reads and validates the client's hello (and, for shm, maps the client's rings). A version
 * mismatch is rejected here with a reason naming both versions, and returns TF_ERR_VERSION.
 * On TF_OK the caller inspects hello (token, pid, hostname) and MUST then call exactly one of
 * tf_server_accept or tf_server_reject. opts may be NULL. */
int tf_server_handshake(struct tf_conn *c, const struct tf_server_opts *opts,
                        struct tf_hello *hello);
/* Accepts the session: sends the welcome; the connection is ready for frames. */
int tf_server_accept(struct tf_conn *c, uint64_t session_id);
/* Rejects with a reason (truncated to TF_REASON_MAX); the caller then closes the connection. */
int tf_server_reject(struct tf_conn *c, const char *reason);

/* ---- Connections: both sides --------------------------------------------------------------- */

struct tf_conn_info {
    enum tf_transport_kind transport;  /* SHM or STREAM once established */
    int is_server;
    int is_unix;                       /* 1: unix socket (same host), 0: tcp */
    uint64_t session_id;
    uint64_t max_frame;                /* effective payload bound */
    size_t ring_bytes;                 /* shm: size of each ring */
    pid_t peer_pid;                    /* unix: from SO_PEERCRED; tcp: the pid in the hello */
    char peer[300];                    /* peer description, e.g. "unix pid 123" or "tcp 1.2.3.4:5" */
    int tls;                           /* 1: the session runs inside TLS */
    int compress;                      /* enum tf_compress in force */
};
void tf_conn_get_info(const struct tf_conn *c, struct tf_conn_info *info);

/* The reason for the connection's last error, in words (never NULL). */
const char *tf_conn_error(const struct tf_conn *c);

/* The socket fd (unix or tcp). Poll it for POLLHUP to learn of a dead peer from another
 * thread; do not read or write it. */
int tf_conn_fd(const struct tf_conn *c);

/* Sends one frame: header (type, flags, id, payload length = sum of iov lengths) followed by
 * the gathered payload. Blocks while the ring/socket is full (peer-death aware). iov may be NULL
 * when iovcnt == 0. type must be nonzero and below TF_FRAME_TYPE_RESERVED_MIN (else
 * TF_ERR_INVALID). A payload above the negotiated max_frame returns TF_ERR_TOO_LARGE with
 * nothing sent and the connection intact (only a received oversized frame is fatal).
 * When tf_send returns the bytes have been copied (the caller may reuse its buffers); for shm
 * the frame is visible to the consumer and the consumer has been woken if it sleeps. */
int tf_send(struct tf_conn *c, uint32_t type, uint32_t flags, uint64_t id,
            const struct iovec *iov, int iovcnt);

/* A large frame in pieces (bulk copies: the worker's device copy of one piece overlaps the
 * network or the peer's copy of the previous one). tf_send_begin sends the header (payload
 * length `total`) and the first pieces (iov, may be empty); tf_send_more sends further pieces;
 * the frame is complete when they add up to total. Until then tf_send refuses (TF_ERR_STATE),
 * and a piece beyond total is TF_ERR_INVALID with nothing sent. A failure mid-frame is fatal
 * to the connection (the peer cannot resynchronise). */
int tf_send_begin(struct tf_conn *c, uint32_t type, uint32_t flags, uint64_t id, uint64_t total,
                  const struct iovec *iov, int iovcnt);
int tf_send_more(struct tf_conn *c, const struct iovec *iov, int iovcnt);
/* shm only, in place: up to `want` bytes of contiguous room for the open frame in the ring
 * (waits for room); fill them and publish with tf_send_commit. TF_ERR_NOT_SUPPORTED on a
 * stream session (use tf_send_more from a buffer of your own). */
int tf_send_space(struct tf_conn *c, uint64_t want, void **ptr, uint64_t *len);
int tf_send_commit(struct tf_conn *c, uint64_t len);
/* shm only, in place: up to `want` contiguous bytes of the current frame's payload as they lie
 * in the ring (waits for at least some); consume them with tf_recv_payload(c, NULL, n). The
 * pointer is valid until then. TF_ERR_NOT_SUPPORTED on a stream session. */
int tf_recv_peek(struct tf_conn *c, uint64_t want, const void **ptr, uint64_t *len);

/* Waits up to timeout_ms (-1 forever, 0 poll) for the next frame header and decodes it.
 * TF_ERR_TIMEOUT if none arrived (connection fine). After it returns TF_OK the caller reads the
 * payload with tf_recv_payload (any number of calls adding up to hdr->length); a payload
 * left unread is discarded by the next tf_recv_header / tf_recv. */
int tf_recv_header(struct tf_conn *c, struct tf_frame_header *hdr, int timeout_ms);
/* Reads the next len bytes of the current frame's payload into dst (dst NULL: discard them).
 * len must not exceed what remains (TF_ERR_STATE). Blocks until they arrive; a frame bigger
 * than the ring streams through it here. */
int tf_recv_payload(struct tf_conn *c, void *dst, uint64_t len);
/* Bytes of the current frame's payload still unread. */
uint64_t tf_recv_remaining(const struct tf_conn *c);

/* Convenience for small frames: header + whole payload into a transport-owned buffer valid
 * until the next receive call on this connection. *payload is NULL when length is 0. */
int tf_recv(struct tf_conn *c, struct tf_frame_header *hdr, const void **payload, int timeout_ms);

/* Is a frame waiting? Returns 1 if a frame (header) can be read without blocking, 0 if none
 * arrived within timeout_ms (0: just look; cheap for shm: a few loads, plus a peer check at most
 * every TF_LIVENESS_MS), or a tf_err (e.g. TF_ERR_CLOSED once the peer is gone). */
int tf_poll(struct tf_conn *c, int timeout_ms);

/* Closes the connection: tells the peer (its waits end with TF_ERR_CLOSED), wakes it, unmaps
 * the rings and every shared region, closes received fds and frees everything. NULL is fine. */
void tf_conn_close(struct tf_conn *c);
/* Frees this process's copy of the connection WITHOUT telling the peer: for the node process
 * after it forked a worker that keeps the connection. NULL is fine. */
void tf_conn_abandon(struct tf_conn *c);

/* ---- Handing a server connection to another process (handoff.c) --------------------------- */
/* The node's warm workers: a connection that passed tf_server_handshake (hello read, rings
 * mapped) and was neither accepted nor rejected moves to an already running process over a
 * unix socket `sock` (SOCK_SEQPACKET): its descriptors by SCM_RIGHTS, its state and the
 * caller's `extra` bytes (at most TF_HANDOFF_EXTRA_MAX) in one message. The sender then
 * abandons its copy (tf_conn_abandon); the receiver calls tf_server_accept or tf_server_reject
 * on the one it got. A TLS session cannot move (its keys live in this process's GnuTLS):
 * TF_ERR_NOT_SUPPORTED, nothing sent. */
#define TF_HANDOFF_EXTRA_MAX 16384u
int tf_conn_handoff_send(struct tf_conn *c, int sock, const void *extra, size_t extra_len);
/* Waits up to timeout_ms (-1: forever) for one handed-off connection on sock. On TF_OK *out
 * is the connection and *extra_len the bytes of extra written (at most extra_cap);
 * TF_ERR_CLOSED when the sender closed sock, TF_ERR_PROTOCOL for a malformed message. */
int tf_conn_handoff_recv(int sock, int timeout_ms, struct tf_conn **out, void *extra,
                         size_t extra_cap, size_t *extra_len);

/* ---- Same host only: fd passing and shared regions ----------------------------------------- */
/* These need the shm transport (the unix socket then carries no frames, only these records):
 * over TCP or a unix stream session they return TF_ERR_NOT_SUPPORTED. */

/* Sends an fd (duplicated by the kernel; the caller keeps its own) with a caller-chosen tag
 * over the unix socket. It is ordered before any frame sent after this call returns. */
int tf_conn_send_fd(struct tf_conn *c, uint64_t tag, int fd);
/* Takes ownership of a received fd by tag. Reads pending fd messages from the socket without
 * blocking; TF_ERR_AGAIN if the tag has not arrived. So a receiver that got a frame naming a
 * tag that the sender passed before the frame always finds it. */
int tf_conn_take_fd(struct tf_conn *c, uint64_t tag, int *fd_out);

/* Shared regions: page-locked host memory both processes map (how cuMemHostAlloc memory
 * reaches the worker so copies move the bytes once).
 * Client: creates a sealed memfd of `bytes` (rounded up to whole pages), maps it, sends it to
 * the worker with a fresh id (ids start at 1 and are never reused on a connection).
 * Worker: finds it by id on first use (it is ordered before any later frame); a lookup costs
 * one atomic load plus a scan of the region table when no new record arrived. */
int tf_region_create(struct tf_conn *c, size_t bytes, uint64_t *id_out, void **ptr_out);
/* Either side: translate (id, offset, len) to a pointer in this process. NULL with
 * TF_ERR_NOT_FOUND / TF_ERR_INVALID (range outside the region) in *err if err != NULL. */
void *tf_region_ptr(struct tf_conn *c, uint64_t id, uint64_t offset, uint64_t len, int *err);
/* Client: finds which region (if any) contains [ptr, ptr+len); returns 1 and sets id/offset. */
int tf_region_find(struct tf_conn *c, const void *ptr, uint64_t len, uint64_t *id,
                   uint64_t *offset);
/* Client: unmaps its mapping and tells the worker to unmap its own. The worker's lookups fail
 * from its next frame on, and its mapping is removed when it starts receiving the next frame
 * (never in the middle of a call). The client must ensure that no work it queued (e.g. an
 * async copy the worker runs on a stream) still uses the region: synchronize first. */
int tf_region_release(struct tf_conn *c, uint64_t id);

#endif
