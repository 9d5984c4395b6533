/*
 * Private to src/transport: the connection object, the shared-memory layout of the rings and
 * the helpers the transport's files share. Nothing outside src/transport includes this.
 */
#ifndef TFUSE_TRANSPORT_INTERNAL_H
#define TFUSE_TRANSPORT_INTERNAL_H

#include "transport.h"

#include <stdatomic.h>
#include <stdbool.h>

#define SHM_MAGIC 0x4d485346u          /* "FSHM" */
#define SHM_DATA_OFFSET 4096u          /* ring data starts on the second page */
#define RING_BYTES_MIN 4096u
#define RING_BYTES_MAX (1u << 30)
#define CTL_MAGIC 0x43465446u          /* "TFFC": a control record on the unix socket */
#define CTL_RECORD_SIZE 24u
#define MAX_SPIN_NS_DEFAULT 50000u     /* upper bound of the adaptive spin */
#define MIN_SPIN_NS 2000u

enum ctl_kind { CTL_FD = 1, CTL_REGION_ADD = 2, CTL_REGION_RELEASE = 3 };

/* One direction of traffic, in shared memory. head is written only by the producer, tail only
 * by the consumer; each sits on its own cache line so the two sides do not false-share. The
 * *_sleeping flags tell the other side that a futex wake is needed (otherwise it is skipped:
 * a wake costs ~70 us here, a spin-observed store ~0.2 us). */
struct ring_ctl {
    _Alignas(64) _Atomic uint64_t head;
    _Alignas(64) _Atomic uint64_t tail;
    _Alignas(64) _Atomic uint32_t consumer_sleeping;
    _Atomic uint32_t consumer_seq;     /* futex word the consumer sleeps on */
    _Alignas(64) _Atomic uint32_t producer_sleeping;
    _Atomic uint32_t producer_seq;     /* futex word a producer waiting for space sleeps on */
};

/* Page 0 of the memfd the client creates; then the request and response ring data. */
struct shm_header {
    uint32_t magic;
    uint32_t version;
    uint64_t ring_bytes;
    _Atomic uint32_t closed[2];        /* [0] client closed, [1] server closed */
    _Atomic uint64_t ctl_sent[2];      /* control records sent by [0] client, [1] server: a
                                          receiver drains the socket only when it is behind */
    _Alignas(64) struct ring_ctl req;  /* client -> server */
    struct ring_ctl resp;              /* server -> client */
};

/* This process's view of one ring. */
struct ring {
    struct ring_ctl *ctl;
    uint8_t *data;
    uint64_t size;                     /* power of two */
    uint64_t pos;                      /* our index: head if we produce, tail if we consume */
    uint64_t peer_seen;                /* last value of the other side's index we loaded */
    uint32_t spin_ns;                  /* adaptive spin budget for waits on this ring */
};

struct region {
    uint64_t id;
    uint8_t *base;
    uint64_t size;
    bool released;                     /* server: peer released it; unmapped between frames */
};

struct passed_fd {
    uint64_t tag;
    int fd;
};

struct tf_conn {
    int fd;                            /* unix or tcp socket, O_NONBLOCK */
    bool is_server, is_unix, handshaken, dead;
    int err_code;                      /* sticky connection error (0 while healthy) */
    char err[256];
    enum tf_transport_kind transport;
    uint64_t session_id, max_frame;
    pid_t peer_pid;
    char peer[300];

    /* shm */
    struct shm_header *shm;
    size_t shm_len;
    int shm_fd;
    struct ring out, in;               /* what we produce / consume */
    uint32_t max_spin_ns;
    int64_t last_liveness_ns;          /* last peer check: due every TF_LIVENESS_MS of waiting,
                                          however short the caller's timeouts are */

    /* stream: receive buffer so a small frame costs one recv */
    uint8_t *rbuf;
    size_t rbuf_cap, rbuf_pos, rbuf_len;

    /* a frame sent in pieces (bulk.c): payload bytes still to come, packed or not */
    uint64_t send_left;
    bool send_packed;

    /* compression (pack.c): the method asked (server) and in force; the frame being read is
     * packed */
    int compress_asked, compress;
    bool packed;
    struct tft_pack *pack;

    /* receive state */
    bool frame_open;
    uint64_t payload_left;
    uint8_t *small;                    /* tf_recv's transport-owned buffer */
    size_t small_cap;

    /* control records from the unix socket (shm only) */
    uint8_t ctl_buf[CTL_RECORD_SIZE];
    size_t ctl_have;
    uint64_t ctl_received;             /* complete records handled */
    int ctl_fd;                        /* fd that came with the partial record, or -1 */
    struct passed_fd *fds;
    size_t nfds, fds_cap;
    struct region *regions;
    size_t nregions, regions_cap;
    uint64_t next_region_id;

    /* tls: a TCP session to or from another host (tls.c); NULL on plain connections */
    struct tft_tls *tls;
    void *tls_client_cred;             /* the client's trust (gnutls credentials) */
};

/* conn.c */
struct tf_conn *tft_conn_new(int fd, bool is_unix, bool is_server);
int tft_conn_fail(struct tf_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same without the log line: for a failure the caller reports itself (a handshake refused:
 * the stub's error, the node's gate), so that it is said once. */
int tft_conn_fail_quietly(struct tf_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int tft_conn_check_peer(struct tf_conn *c, const char **why);
/* TF_OK for a live, handshaken connection; else TF_ERR_INVALID, TF_ERR_STATE or its error. */
int tft_conn_check_usable(struct tf_conn *c);
int64_t tft_now_ns(void);
int64_t tft_deadline_after(int timeout_ms);

/* shmring.c */
void tft_ring_attach(struct ring *r, struct ring_ctl *ctl, uint8_t *data, uint64_t size,
                     bool producer, uint32_t spin_ns);
int tft_ring_write(struct tf_conn *c, const struct iovec *iov, int iovcnt, uint64_t total);
int tft_ring_read(struct tf_conn *c, void *dst, uint64_t len, int64_t deadline);
int tft_ring_wait_readable(struct tf_conn *c, uint64_t need, int64_t deadline);
uint64_t tft_ring_readable(struct tf_conn *c);
void tft_ring_wake_all(struct shm_header *shm);
int tft_ring_space(struct tf_conn *c, uint64_t want, void **ptr, uint64_t *len);
void tft_ring_commit(struct tf_conn *c, uint64_t n);
int tft_ring_peek(struct tf_conn *c, uint64_t want, const void **ptr, uint64_t *len);

/* sock.c */
int tft_sock_connect(const struct tf_addr *a, int timeout_ms, char *err, size_t errlen);
int tft_sock_listen(const struct tf_addr *a, char *bound, size_t boundlen, char *err,
                    size_t errlen);
int tft_sock_write_all(struct tf_conn *c, struct iovec *iov, int iovcnt, int fd_to_pass);
int tft_sock_read_exact(struct tf_conn *c, void *buf, size_t len, int64_t deadline, int *fd_out);
int tft_stream_read(struct tf_conn *c, void *dst, uint64_t len, int64_t deadline);
int tft_stream_wait_readable(struct tf_conn *c, int64_t deadline);
void tft_sock_describe_peer(struct tf_conn *c);
void tft_sock_tune_tcp(int fd);
ssize_t tft_sock_recv_some(int fd, void *buf, size_t len, int *fd_out);

/* tls.c */
struct tft_tls_cred;
int tft_tls_cred_server(const char *cert_pem, const char *key_pem, struct tft_tls_cred **out,
                        char *err, size_t errlen);
void tft_tls_cred_free(struct tft_tls_cred *cr);
/* Server: the session of an accepted connection, before its handshake. */
int tft_tls_accept(struct tf_conn *c, struct tft_tls_cred *cred);
/* Server: one non-blocking step of the handshake: 1 done, 0 again (poll tft_tls_events), or
 * the error it failed the connection with. */
int tft_tls_step(struct tf_conn *c);
short tft_tls_events(const struct tf_conn *c);
/* Waits (until deadline, at most TF_LIVENESS_MS) for what the handshake waits for. */
int tft_tls_wait(struct tf_conn *c, int64_t deadline);
/* Client: the whole handshake, verifying the peer's chain and host name, until deadline. */
int tft_tls_connect(struct tf_conn *c, const char *host, const char *ca_file, int64_t deadline,
                    char *err, size_t errlen);
/* Bytes, TF_ERR_AGAIN when it would block, or the error it failed the connection with. */
ssize_t tft_tls_recv(struct tf_conn *c, void *buf, size_t len);
ssize_t tft_tls_send(struct tf_conn *c, const void *buf, size_t len);
/* One frame's records are gathered (on) and sent together (off: the first flush); then
 * tft_tls_flush until it is not TF_ERR_AGAIN. */
int tft_tls_gather(struct tf_conn *c, bool on);
int tft_tls_flush(struct tf_conn *c);
bool tft_tls_handshaken(const struct tf_conn *c);
uint64_t tft_tls_received(const struct tf_conn *c);
/* Frees the session; notify sends close_notify first (never in the node after its fork). */
void tft_tls_end(struct tf_conn *c, bool notify);

/* pack.c */
int tft_pack_write(struct tf_conn *c, const uint8_t *hdr, const struct iovec *iov, int iovcnt);
int tft_pack_open(struct tf_conn *c, struct tf_frame_header *h);
int tft_pack_read(struct tf_conn *c, void *dst, uint64_t len);
void tft_pack_free(struct tf_conn *c);
/* Client: the method to ask for (opts' text, else $TFUSE_COMPRESS, else auto), or
 * TF_ERR_INVALID with the reason for a value that is none. Server: the method to grant. */
int tft_compress_ask(struct tf_conn *c, const char *text, char *err, size_t errlen);
int tft_compress_grant(const struct tf_conn *c);
/* The session packs a payload of this many bytes. */
static inline bool tft_packs(const struct tf_conn *c, uint64_t bytes)
{
    return c->compress != TF_COMPRESS_OFF && c->transport == TF_TRANSPORT_STREAM &&
           bytes >= TF_PACK_MIN;
}

/* region.c */
int tft_ctl_drain(struct tf_conn *c, const char **why);
int tft_ctl_send(struct tf_conn *c, uint32_t kind, uint64_t tag, uint64_t size, int fd);
void tft_regions_free(struct tf_conn *c);
void tft_regions_collect(struct tf_conn *c);
int tft_memfd_sealed(const char *name, size_t bytes, int *fd_out, void **map_out);
int tft_memfd_check_and_map(int fd, size_t bytes, size_t *len_out, void **map_out, char *why,
                            size_t whylen);

#endif
