/*
 * Large copies in pieces: cuMemcpyHtoD_v2 and cuMemcpyDtoH_v2 of at least TFW_BULK_MIN bytes
 * with the bytes inline (not in a shared region). The wire format is the ordinary one (the
 * stub does not know); what changes is that the worker no longer gathers the whole payload in
 * a buffer before the device copy, nor the whole reply before sending it:
 *   shm     the device copy reads the request's bytes where they lie in the ring, or writes the
 *           reply's bytes into the ring, piece by piece: one copy on each side, and the stub's
 *           copy of one piece runs while the device copies the next.
 *   stream  pieces go through a staging buffer of TFW_BULK_CHUNK bytes that stays in cache;
 *           the socket's buffers keep the line busy while the device copy of a piece runs.
 * Semantics are those of the synchronous copies (each piece is one): ordered on the legacy
 * stream, complete when the reply goes. An error of the first piece is the call's; a device
 * copy that fails after a DtoH reply began is held and reported by the next synchronizing call
 * (the rest of the bytes are zeros), as the asynchronous copies' errors are.
 * A synchronous copy whose host side names the program's address (cross-memory attach,
 * attach.c) runs here too: on softgpu straight between the program's memory and the device's
 * (one copy); elsewhere in pieces through two page-locked stages, the attach's copy of one piece
 * overlapping the device's copy of the other.
 * A held error (reported by this call) or a missing backend entry takes the ordinary path.
 * Calls src/transport (tf_send_begin/more/space/commit, tf_recv_peek) and the backend.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "bulk.h"
#include "devmap.h"
#include "log.h"
#include "stats.h"

#define TFW_BULK_MIN (1u << 20)
#define TFW_BULK_CHUNK_DEFAULT (1u << 20)
#define HTOD_PREFIX 24u   /* context, destination, length word */
#define PROBE_MAX (64u << 10)
/* Pieces of an attach copy: small enough that the stage stays in the L2 cache. */
#define ATTACH_CHUNK (256u << 10)

static __thread struct {
    uint32_t type;          /* the current request's call and id */
    uint64_t id;
    uint64_t htod_bytes;    /* > 0: a large HtoD whose bytes are still in the transport */
    int replied;            /* the bulk path sent the reply itself */
    uint8_t *stage;         /* the staging buffer (stream sessions; shm's first piece) */
    size_t chunk;
} bk;

/* TFUSE_BULK_CHUNK_KB (64 .. 65536) sets the piece size, 1 MiB by default; 0 turns the bulk
 * path off (the whole payload is gathered first, as before it: for comparisons). */
static size_t chunk_bytes(void)
{
    static int off;
    if (bk.chunk || off)
        return bk.chunk;
    const char *e = getenv("TFUSE_BULK_CHUNK_KB");
    long kb = e && *e ? strtol(e, NULL, 10) : -1;
    off = kb == 0;
    bk.chunk = off ? 0 : kb >= 64 && kb <= 65536 ? (size_t)kb << 10 : TFW_BULK_CHUNK_DEFAULT;
    return bk.chunk;
}

static uint8_t *stages(void)
{
    if (!bk.stage)
        bk.stage = aligned_alloc(4096, chunk_bytes());
    return bk.stage;
}

static int stream_is_shm(struct tfw_session *s)
{
    struct tf_conn_info info;
    tf_conn_get_info(s->conn, &info);
    return info.transport == TF_TRANSPORT_SHM;
}

/* A held error must be reported by this call (the ordinary path does it). A capture in
 * progress needs no check: the legacy stream cannot capture, and a copy the capture forbids is
 * refused by the backend, for the pieces as for the whole. */
static int may_stream(struct tfw_session *s)
{
    return s->held == CUDA_SUCCESS && s->be.cuMemcpyHtoD_v2 && s->be.cuMemcpyDtoH_v2 &&
           chunk_bytes() > 0;
}

uint64_t tfw_bulk_prefix(struct tfw_session *s, const struct tf_frame_header *h)
{
    bk.type = h->type;
    bk.id = h->id;
    bk.htod_bytes = 0;
    bk.replied = 0;
    if (h->type != TFP_ID_cuMemcpyHtoD_v2 || h->length < HTOD_PREFIX + 8 + TFW_BULK_MIN ||
        !may_stream(s))
        return h->length;
    bk.htod_bytes = h->length - HTOD_PREFIX - 8;   /* the trailing ByteCount is read last */
    return HTOD_PREFIX;
}

/* ---- host to device ---- */

/* Reads (and drops) what is left of the request: after an error the bytes still come. */
static void drain(struct tfw_session *s)
{
    uint64_t left = tf_recv_remaining(s->conn);
    if (left)
        tf_recv_payload(s->conn, NULL, left);
}

static CUresult htod_shm(struct tfw_session *s, CUdeviceptr dst, uint64_t n)
{
    CUresult r = CUDA_SUCCESS;
    for (uint64_t off = 0; off < n;) {
        const void *p;
        uint64_t m;
        if (tf_recv_peek(s->conn, n - off, &p, &m) != TF_OK)
            return CUDA_ERROR_UNKNOWN;   /* the connection failed: the session ends */
        if (r == CUDA_SUCCESS)
            r = s->be.cuMemcpyHtoD_v2(dst + off, p, m);
        if (tf_recv_payload(s->conn, NULL, m) != TF_OK)
            return CUDA_ERROR_UNKNOWN;
        off += m;
    }
    return r;
}

/* Through the staging buffer: the socket's buffers (4 MiB each way) keep the line busy while
 * the device copy of a piece runs, and a piece stays in cache between its two copies. The device
 * copies are synchronous: an asynchronous copy from pageable staging memory is staged again by the
 * driver (softgpu snapshots it) and costs a hand-off to the stream's thread per piece, which on a
 * loaded host took HtoD down to 0.1 of the line. */
static CUresult htod_stream(struct tfw_session *s, CUdeviceptr dst, uint64_t n)
{
    uint8_t *st = stages();
    size_t chunk = chunk_bytes();
    CUresult r = st ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    for (uint64_t off = 0; off < n;) {
        uint64_t m = n - off < chunk ? n - off : chunk;
        if (!st)
            break;   /* the bytes are dropped when the next request is read */
        if (tf_recv_payload(s->conn, st, m) != TF_OK)
            return CUDA_ERROR_UNKNOWN;   /* the connection failed: the session ends */
        if (r == CUDA_SUCCESS)
            r = s->be.cuMemcpyHtoD_v2(dst + off, st, m);
        off += m;
    }
    return r;
}

typedef CUresult (*piece_fn)(struct tfw_session *s, CUdeviceptr d, uint64_t n);

/* The copy on the session's transport: in place on shm, through the stage on a stream. */
static CUresult on_transport(struct tfw_session *s, CUdeviceptr d, uint64_t n, piece_fn shm,
                             piece_fn stream)
{
    return stream_is_shm(s) ? shm(s, d, n) : stream(s, d, n);
}

static CUresult htod(struct tfw_session *s, struct tfp_reader *in)
{
    CUdeviceptr dst = (CUdeviceptr)tfp_get_u64(in);
    uint64_t word = tfp_get_u64(in), n = bk.htod_bytes;
    bk.htod_bytes = 0;
    if (in->bad || word != n)
        return tfw_malformed(s, "cuMemcpyHtoD_v2", "buffer length disagrees");
    CUresult r = tfw_check_range(s, dst, n);
    if (r != CUDA_SUCCESS)
        return r;   /* the bytes are dropped when the next request is read */
    r = on_transport(s, dst, n, htod_shm, htod_stream);
    uint64_t count = 0;
    if (tf_recv_remaining(s->conn) == 8 && tf_recv_payload(s->conn, &count, 8) == TF_OK &&
        count != n)
        return tfw_malformed(s, "cuMemcpyHtoD_v2", "ByteCount disagrees with the buffer");
    drain(s);
    tfw_stats_bytes(n, 0);
    return r;
}

/* ---- device to host ---- */

/* The reply's head: result 0 and the device printf output so far (worker.c). */
static int head_iov(struct tfw_session *s, struct tfp_writer *head, struct iovec *iov)
{
    tfp_writer_init(head);
    int32_t res = CUDA_SUCCESS;
    tfp_put(head, &res, sizeof res);
    tfw_take_printf(s, head);
    return head->failed ? -1 : tfp_iov(head, iov, TFP_MAX_SEGS);
}

/* A device copy after the reply began failed: the rest goes as zeros, the error is held. */
static void hold(struct tfw_session *s, CUresult r)
{
    if (r != CUDA_SUCCESS && s->held == CUDA_SUCCESS) {
        tf_debug("cuMemcpyDtoH_v2 failed with %d after its reply began: held", (int)r);
        s->held = r;
    }
}

/* shm: the first piece through a small buffer (its error is the call's), then in place. */
static CUresult dtoh_shm(struct tfw_session *s, CUdeviceptr src, uint64_t n)
{
    uint8_t *probe = stages();
    uint64_t first = n < PROBE_MAX ? n : PROBE_MAX;
    if (!probe)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult r = s->be.cuMemcpyDtoH_v2(probe, src, first);
    if (r != CUDA_SUCCESS)
        return r;
    struct tfp_writer head;
    struct iovec iov[TFP_MAX_SEGS + 1];
    int k = head_iov(s, &head, iov);
    uint64_t hbytes = 0;
    for (int i = 0; i < k; i++)
        hbytes += iov[i].iov_len;
    iov[k > 0 ? k : 0] = (struct iovec){probe, first};   /* k < 0: nothing is sent */
    int e = k < 0 ? TF_ERR_NOMEM
                  : tf_send_begin(s->conn, TFP_REPLY, 0, bk.id, hbytes + n, iov, k + 1);
    tfp_writer_free(&head);
    if (e != TF_OK)
        return e == TF_ERR_NOMEM ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_UNKNOWN;
    bk.replied = 1;
    r = CUDA_SUCCESS;
    for (uint64_t off = first; off < n;) {
        void *p;
        uint64_t m;
        if (tf_send_space(s->conn, n - off, &p, &m) != TF_OK)
            return CUDA_ERROR_UNKNOWN;   /* the connection failed: the session ends */
        if (r == CUDA_SUCCESS && (r = s->be.cuMemcpyDtoH_v2(p, src + off, m)) != CUDA_SUCCESS)
            hold(s, r);
        if (r != CUDA_SUCCESS)
            memset(p, 0, m);
        if (tf_send_commit(s->conn, m) != TF_OK)
            return CUDA_ERROR_UNKNOWN;
        off += m;
    }
    return CUDA_SUCCESS;
}

/* stream: piece by piece through the stage; the first piece's error is the call's. */
static CUresult dtoh_stream(struct tfw_session *s, CUdeviceptr src, uint64_t n)
{
    uint8_t *st = stages();
    size_t chunk = chunk_bytes();
    uint64_t m = n < chunk ? n : chunk, hbytes = 0;
    if (!st)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult r = s->be.cuMemcpyDtoH_v2(st, src, m);
    if (r != CUDA_SUCCESS)
        return r;   /* nothing sent: the ordinary error reply */
    struct tfp_writer head;
    struct iovec iov[TFP_MAX_SEGS + 1];
    int k = head_iov(s, &head, iov);
    for (int i = 0; i < k; i++)
        hbytes += iov[i].iov_len;
    iov[k > 0 ? k : 0] = (struct iovec){st, m};
    int e = k < 0 ? TF_ERR_NOMEM
                  : tf_send_begin(s->conn, TFP_REPLY, 0, bk.id, hbytes + n, iov, k + 1);
    tfp_writer_free(&head);
    if (e != TF_OK)
        return e == TF_ERR_NOMEM ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_UNKNOWN;
    bk.replied = 1;
    for (uint64_t off = m; off < n; off += m) {
        m = n - off < chunk ? n - off : chunk;
        if (r == CUDA_SUCCESS && (r = s->be.cuMemcpyDtoH_v2(st, src + off, m)) != CUDA_SUCCESS)
            hold(s, r);
        if (r != CUDA_SUCCESS)
            memset(st, 0, m);
        struct iovec v = {st, m};
        if (tf_send_more(s->conn, &v, 1) != TF_OK)
            break;   /* the connection failed: the session ends at the next read */
    }
    return CUDA_SUCCESS;
}

static CUresult dtoh(struct tfw_session *s, struct tfp_reader *in, int *taken)
{
    struct tfp_reader peek = *in;
    uint64_t where = tfp_get_u64(&peek);
    CUdeviceptr src = (CUdeviceptr)tfp_get_u64(&peek);
    uint64_t n = tfp_get_u64(&peek);
    *taken = 0;
    if (peek.bad || !tfp_reader_done(&peek) || where != 0 || n < TFW_BULK_MIN ||
        n > tfw_reply_room(s) || !may_stream(s))
        return CUDA_SUCCESS;   /* the ordinary path (which also says what is wrong) */
    *taken = 1;
    *in = peek;
    CUresult r = tfw_check_range(s, src, n);
    if (r != CUDA_SUCCESS)
        return r;
    r = on_transport(s, src, n, dtoh_shm, dtoh_stream);
    if (r == CUDA_SUCCESS)
        tfw_stats_bytes(0, n);
    return r;
}

/* ---- the program's pageable memory by cross-memory attach (attach.c) ---- */

/* softgpu's device memory is this process's memory at the device address (docs/softgpu.md),
 * so the attach copies straight between the program's memory and the device's: one copy, as
 * the direct path's. TFUSE_ATTACH_PIPE=1 (the node's environment) takes the pinned pipeline
 * instead, as on NVIDIA's driver (to test it here). */
static int device_is_host(struct tfw_session *s)
{
    static int known, yes;
    if (!known) {
        const char *e = getenv("TFUSE_ATTACH_PIPE");
        yes = s->be.dl && dlsym(s->be.dl, "tfuse_softgpu_device_clock_ns") && !(e && *e == '1');
        known = 1;
    }
    return yes;
}

/* Ordered on the legacy stream as the synchronous copy is (softgpu's drains it first too). */
static CUresult attach_in_place(struct tfw_session *s, CUdeviceptr d, uint64_t addr, uint64_t n,
                                int htod)
{
    CUresult r = s->be.cuStreamSynchronize ? s->be.cuStreamSynchronize(NULL)
                                           : CUDA_ERROR_NOT_SUPPORTED;
    if (r != CUDA_SUCCESS)
        return r;
    void *dev = (void *)(uintptr_t)d;
    return htod ? tfw_attach_read(s, dev, addr, n) : tfw_attach_write(s, addr, dev, n);
}

/* Two page-locked stages (portable: any context may copy from them), kept for the session and
 * made in the device's primary context, which the worker retains for them: a context of the
 * program's could be destroyed under them. cuMemHostAlloc is the stub's own (TF_LOCAL), so it
 * is not in the backend's table. */
static uint8_t *pinned[2];
typedef CUresult (*host_alloc_fn)(void **p, size_t bytes, unsigned int flags);

static host_alloc_fn host_alloc(struct tfw_session *s)
{
    return s->be.dl ? (host_alloc_fn)dlsym(s->be.dl, "cuMemHostAlloc") : NULL;
}

static CUresult make_pinned(struct tfw_session *s)
{
    CUdevice dev;
    CUcontext primary;
    CUresult r = tfw_devmap_to_backend(s, 0, &dev);
    if (r == CUDA_SUCCESS)
        r = s->be.cuDevicePrimaryCtxRetain(&primary, dev);
    if (r == CUDA_SUCCESS && (r = s->be.cuCtxSetCurrent(primary)) == CUDA_SUCCESS) {
        for (int i = 0; i < 2 && r == CUDA_SUCCESS; i++)
            if (!pinned[i])
                r = host_alloc(s)((void **)&pinned[i], ATTACH_CHUNK, CU_MEMHOSTALLOC_PORTABLE);
        CUresult back = s->be.cuCtxSetCurrent(s->current);   /* the request's context */
        r = r != CUDA_SUCCESS ? r : back;
    }
    return r;
}

/* NVIDIA's driver: pieces through the two page-locked stages on the legacy stream, so that the
 * attach's copy of one piece overlaps the device's DMA of the other (an event per stage says
 * when it is free again, or, for a DtoH, filled). */
static CUresult attach_pipelined(struct tfw_session *s, CUdeviceptr d, uint64_t addr, uint64_t n,
                                 int htod)
{
    CUevent ev[2] = {NULL, NULL};
    CUresult r = CUDA_SUCCESS;
    if (!pinned[1])
        r = make_pinned(s);
    for (int i = 0; i < 2 && r == CUDA_SUCCESS; i++)
        r = s->be.cuEventCreate(&ev[i], CU_EVENT_DISABLE_TIMING);
    uint64_t pieces = (n + ATTACH_CHUNK - 1) / ATTACH_CHUNK;
    for (uint64_t k = 0; r == CUDA_SUCCESS && k < pieces + (htod ? 0 : 1); k++) {
        if (!htod && k > 0) {   /* the previous piece is on the host: hand it over */
            uint64_t off = (k - 1) * ATTACH_CHUNK, m = n - off < ATTACH_CHUNK ? n - off
                                                                              : ATTACH_CHUNK;
            if ((r = s->be.cuEventSynchronize(ev[(k - 1) & 1])) == CUDA_SUCCESS)
                r = tfw_attach_write(s, addr + off, pinned[(k - 1) & 1], m);
        }
        if (r != CUDA_SUCCESS || k == pieces)
            break;
        uint64_t off = k * ATTACH_CHUNK, m = n - off < ATTACH_CHUNK ? n - off : ATTACH_CHUNK;
        uint8_t *st = pinned[k & 1];
        if ((r = s->be.cuEventSynchronize(ev[k & 1])) != CUDA_SUCCESS)
            break;   /* an event never recorded is complete */
        if (htod && (r = tfw_attach_read(s, st, addr + off, m)) == CUDA_SUCCESS)
            r = s->be.cuMemcpyHtoDAsync_v2(d + off, st, m, NULL);
        if (!htod)
            r = s->be.cuMemcpyDtoHAsync_v2(st, d + off, m, NULL);
        if (r == CUDA_SUCCESS)
            r = s->be.cuEventRecord(ev[k & 1], NULL);
    }
    CUresult w = s->be.cuStreamSynchronize(NULL);   /* complete, as a synchronous copy is */
    for (int i = 0; i < 2; i++)
        if (ev[i])
            s->be.cuEventDestroy_v2(ev[i]);
    return r != CUDA_SUCCESS ? r : w;
}

static int pipeline_ready(struct tfw_session *s)
{
    return host_alloc(s) && s->be.cuDevicePrimaryCtxRetain && s->be.cuCtxSetCurrent &&
           s->be.cuEventCreate && s->be.cuEventRecord &&
           s->be.cuEventSynchronize && s->be.cuEventDestroy_v2 && s->be.cuMemcpyHtoDAsync_v2 &&
           s->be.cuMemcpyDtoHAsync_v2 && s->be.cuStreamSynchronize;
}

/* Piece by piece through the stage, which stays in cache between the attach's copy and the
 * device's; the whole copy runs in this process while the program waits for the reply. */
static CUresult attach_pieces(struct tfw_session *s, CUdeviceptr d, uint64_t addr, uint64_t n,
                              int htod)
{
    if (device_is_host(s))
        return attach_in_place(s, d, addr, n, htod);
    if (pipeline_ready(s))
        return attach_pipelined(s, d, addr, n, htod);
    uint8_t *st = stages();
    uint64_t chunk = ATTACH_CHUNK < chunk_bytes() ? ATTACH_CHUNK : chunk_bytes();
    CUresult r = st ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    for (uint64_t off = 0; r == CUDA_SUCCESS && off < n; off += chunk) {
        uint64_t m = n - off < chunk ? n - off : chunk;
        if (htod && (r = tfw_attach_read(s, st, addr + off, m)) == CUDA_SUCCESS)
            r = s->be.cuMemcpyHtoD_v2(d + off, st, m);
        if (!htod && (r = s->be.cuMemcpyDtoH_v2(st, d + off, m)) == CUDA_SUCCESS)
            r = tfw_attach_write(s, addr + off, st, m);
    }
    return r;
}

/* cuMemcpyHtoD_v2 whose IBUF names the program's address: 1 when taken. */
static int attach_htod(struct tfw_session *s, struct tfp_reader *in, CUresult *r)
{
    struct tfp_reader peek = *in;
    CUdeviceptr dst = (CUdeviceptr)tfp_get_u64(&peek);
    uint64_t word = tfp_get_u64(&peek), addr = tfp_get_u64(&peek), count = tfp_get_u64(&peek);
    uint64_t n = word & ~TFW_ATTACH_BIT;
    if (peek.bad || !tfp_reader_done(&peek) || !(word & TFW_ATTACH_BIT) ||
        (word >> 63) || count != n || !tfw_attach_on() || !may_stream(s))
        return 0;   /* the ordinary path (which also says what is wrong) */
    *in = peek;
    *r = tfw_check_range(s, dst, n);
    if (*r == CUDA_SUCCESS)
        *r = attach_pieces(s, dst, addr, n, 1);
    if (*r == CUDA_SUCCESS)
        tfw_stats_bytes(n, 0);
    return 1;
}

/* cuMemcpyDtoH_v2 whose OBUF names the program's address: 1 when taken. */
static int attach_dtoh(struct tfw_session *s, struct tfp_reader *in, CUresult *r)
{
    struct tfp_reader peek = *in;
    uint64_t where = tfp_get_u64(&peek), addr = tfp_get_u64(&peek), zero = tfp_get_u64(&peek);
    CUdeviceptr src = (CUdeviceptr)tfp_get_u64(&peek);
    uint64_t n = tfp_get_u64(&peek);
    if (peek.bad || !tfp_reader_done(&peek) || where != TFW_ATTACH_WHERE || zero != 0 ||
        !tfw_attach_on() || !may_stream(s))
        return 0;
    *in = peek;
    *r = tfw_check_range(s, src, n);
    if (*r == CUDA_SUCCESS)
        *r = attach_pieces(s, src, addr, n, 0);
    if (*r == CUDA_SUCCESS)
        tfw_stats_bytes(0, n);
    return 1;
}

int tfw_bulk_call(struct tfw_session *s, uint32_t id, struct tfp_reader *in, CUresult *r)
{
    int taken = 0;
    if (id == TFP_ID_cuMemcpyHtoD_v2 && bk.htod_bytes) {
        *r = htod(s, in);
        return 1;
    }
    if (id == TFP_ID_cuMemcpyHtoD_v2 && attach_htod(s, in, r))
        return 1;
    if (id == TFP_ID_cuMemcpyDtoH_v2 && attach_dtoh(s, in, r))
        return 1;
    if (id == TFP_ID_cuMemcpyDtoH_v2 && bk.type == id)
        *r = dtoh(s, in, &taken);
    return taken;
}

int tfw_bulk_replied(void)
{
    return bk.replied;
}
