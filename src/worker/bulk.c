/*
 * Large copies in pieces: cuMemcpyHtoD_v2 and cuMemcpyDtoH_v2 of at least TFW_BULK_MIN bytes
 * with the bytes inline (not in a shared region). The wire format is the ordinary one (the
 * stub does not know); what changes is that the worker no longer gathers the whole payload in
 * a buffer before the device copy, nor the whole reply before sending it:
 *   shm     the device copy reads the request's bytes where they lie in the ring, or writes the
 *           reply's bytes into the ring, piece by piece: one copy on each side, and the stub's
 *           copy of one piece runs while the device copies the next.
 *   stream  pieces go through two staging buffers of TFW_BULK_CHUNK bytes that stay in cache,
 *           with the device copies asynchronous on the legacy stream (events tell when a
 *           buffer is free again): the device copy of one piece overlaps the socket's transfer
 *           of the next.
 * Semantics are those of the synchronous copies: ordered on the legacy stream, complete when
 * the reply goes. An error of the first piece is the call's; a device copy that fails after a
 * DtoH reply began is held and reported by the next synchronizing call (the rest of the bytes
 * are zeros), as the asynchronous copies' errors are.
 * A held error (reported by this call) or a missing backend entry takes the ordinary path.
 * Calls src/transport (tf_send_begin/more/space/commit, tf_recv_peek) and the backend.
 */
#include <stdlib.h>
#include <string.h>

#include "bulk.h"
#include "log.h"
#include "stats.h"

#define TFW_BULK_MIN (1u << 20)
#define TFW_BULK_CHUNK_DEFAULT (1u << 20)
#define HTOD_PREFIX 24u   /* context, destination, length word */
#define PROBE_MAX (64u << 10)

static __thread struct {
    uint32_t type;          /* the current request's call and id */
    uint64_t id;
    uint64_t htod_bytes;    /* > 0: a large HtoD whose bytes are still in the transport */
    int replied;            /* the bulk path sent the reply itself */
    uint8_t *stage;         /* two staging buffers (stream sessions) */
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
        bk.stage = aligned_alloc(4096, 2 * chunk_bytes());
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
           s->be.cuCtxSynchronize && chunk_bytes() > 0;
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

static CUresult wait_stage(struct tfw_session *s, CUevent ev, int *pending, CUresult r)
{
    if (!*pending)
        return r;
    *pending = 0;
    CUresult e = ev ? s->be.cuEventSynchronize(ev) : s->be.cuCtxSynchronize();
    return r == CUDA_SUCCESS ? e : r;
}

static CUresult htod_stream(struct tfw_session *s, CUdeviceptr dst, uint64_t n, CUevent ev[2])
{
    uint8_t *st = stages();
    size_t chunk = chunk_bytes();
    if (!st)
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult r = CUDA_SUCCESS;
    int pending[2] = {0, 0};
    for (uint64_t off = 0, k = 0; off < n; k++) {
        int b = (int)(k & 1);
        uint64_t m = n - off < chunk ? n - off : chunk;
        r = wait_stage(s, ev[b], &pending[b], r);   /* its previous piece left the buffer */
        if (tf_recv_payload(s->conn, st + (size_t)b * chunk, m) != TF_OK)
            return CUDA_ERROR_UNKNOWN;
        if (r == CUDA_SUCCESS && ev[b]) {
            r = s->be.cuMemcpyHtoDAsync_v2(dst + off, st + (size_t)b * chunk, m, NULL);
            if (r == CUDA_SUCCESS)
                r = s->be.cuEventRecord(ev[b], NULL);
            pending[b] = r == CUDA_SUCCESS;
        } else if (r == CUDA_SUCCESS) {
            r = s->be.cuMemcpyHtoD_v2(dst + off, st + (size_t)b * chunk, m);
        }
        off += m;
    }
    r = wait_stage(s, ev[0], &pending[0], r);
    return wait_stage(s, ev[1], &pending[1], r);
}

/* Two events for the staging buffers, or none (then each piece is copied synchronously). */
static void events_make(struct tfw_session *s, CUevent ev[2])
{
    ev[0] = ev[1] = NULL;
    if (!s->be.cuEventCreate || !s->be.cuEventRecord || !s->be.cuEventSynchronize ||
        !s->be.cuEventDestroy_v2 || !s->be.cuMemcpyHtoDAsync_v2 || !s->be.cuMemcpyDtoHAsync_v2)
        return;
    if (s->be.cuEventCreate(&ev[0], CU_EVENT_DISABLE_TIMING) != CUDA_SUCCESS)
        ev[0] = NULL;
    else if (s->be.cuEventCreate(&ev[1], CU_EVENT_DISABLE_TIMING) != CUDA_SUCCESS) {
        s->be.cuEventDestroy_v2(ev[0]);
        ev[0] = ev[1] = NULL;
    }
}

static void events_free(struct tfw_session *s, CUevent ev[2])
{
    for (int i = 0; i < 2; i++)
        if (ev[i])
            s->be.cuEventDestroy_v2(ev[i]);
}

typedef CUresult (*shm_fn)(struct tfw_session *s, CUdeviceptr d, uint64_t n);
typedef CUresult (*stream_fn)(struct tfw_session *s, CUdeviceptr d, uint64_t n, CUevent ev[2]);

/* The copy on the session's transport: in place on shm, through the stages on a stream. */
static CUresult on_transport(struct tfw_session *s, CUdeviceptr d, uint64_t n, shm_fn shm,
                             stream_fn stream)
{
    if (stream_is_shm(s))
        return shm(s, d, n);
    CUevent ev[2];
    events_make(s, ev);
    CUresult r = stream(s, d, n, ev);
    events_free(s, ev);
    return r;
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
    iov[k] = (struct iovec){probe, first};
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

/* Starts the device copy of piece k into its staging buffer. */
static CUresult dtoh_issue(struct tfw_session *s, CUdeviceptr src, uint64_t n, uint64_t k,
                           CUevent ev[2], int pending[2])
{
    size_t chunk = chunk_bytes();
    uint64_t off = k * chunk;
    if (off >= n)
        return CUDA_SUCCESS;
    int b = (int)(k & 1);
    uint64_t m = n - off < chunk ? n - off : chunk;
    uint8_t *dst = bk.stage + (size_t)b * chunk;
    if (!ev[b])
        return s->be.cuMemcpyDtoH_v2(dst, src + off, m);
    CUresult r = s->be.cuMemcpyDtoHAsync_v2(dst, src + off, m, NULL);
    if (r == CUDA_SUCCESS)
        r = s->be.cuEventRecord(ev[b], NULL);
    pending[b] = r == CUDA_SUCCESS;
    return r;
}

/* stream: pieces k and k+1 are copied from the device while piece k-1 is on the socket. */
static CUresult dtoh_stream(struct tfw_session *s, CUdeviceptr src, uint64_t n, CUevent ev[2])
{
    size_t chunk = chunk_bytes();
    int pending[2] = {0, 0};
    if (!stages())
        return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult r = dtoh_issue(s, src, n, 0, ev, pending), r1 = CUDA_SUCCESS;
    if (r == CUDA_SUCCESS)
        r1 = dtoh_issue(s, src, n, 1, ev, pending);
    r = wait_stage(s, ev[0], &pending[0], r);
    if (r != CUDA_SUCCESS) {
        wait_stage(s, ev[1], &pending[1], CUDA_SUCCESS);
        return r;   /* nothing sent: the ordinary error reply */
    }
    struct tfp_writer head;
    struct iovec iov[TFP_MAX_SEGS + 1];
    int k = head_iov(s, &head, iov);
    uint64_t hbytes = 0, m = n < chunk ? n : chunk;
    for (int i = 0; i < k; i++)
        hbytes += iov[i].iov_len;
    iov[k] = (struct iovec){bk.stage, m};
    int e = k < 0 ? TF_ERR_NOMEM
                  : tf_send_begin(s->conn, TFP_REPLY, 0, bk.id, hbytes + n, iov, k + 1);
    tfp_writer_free(&head);
    if (e != TF_OK) {
        wait_stage(s, ev[1], &pending[1], CUDA_SUCCESS);
        return e == TF_ERR_NOMEM ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_UNKNOWN;
    }
    bk.replied = 1;
    r = r1;
    if (r == CUDA_SUCCESS)
        r = dtoh_issue(s, src, n, 2, ev, pending);
    for (uint64_t j = 1; j * chunk < n; j++) {
        int b = (int)(j & 1);
        r = wait_stage(s, ev[b], &pending[b], r);
        m = n - j * chunk < chunk ? n - j * chunk : chunk;
        if (r != CUDA_SUCCESS) {
            hold(s, r);
            memset(bk.stage + (size_t)b * chunk, 0, m);
        }
        struct iovec v = {bk.stage + (size_t)b * chunk, m};
        if (tf_send_more(s->conn, &v, 1) != TF_OK)
            break;   /* the connection failed: the session ends at the next read */
        if (r == CUDA_SUCCESS)
            r = dtoh_issue(s, src, n, j + 2, ev, pending);
    }
    r = wait_stage(s, ev[0], &pending[0], r);
    wait_stage(s, ev[1], &pending[1], r);
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
        n + 4096 > s->max_frame || !may_stream(s))
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

int tfw_bulk_call(struct tfw_session *s, uint32_t id, struct tfp_reader *in, CUresult *r)
{
    int taken = 0;
    if (id == TFP_ID_cuMemcpyHtoD_v2 && bk.htod_bytes) {
        *r = htod(s, in);
        return 1;
    }
    if (id == TFP_ID_cuMemcpyDtoH_v2 && bk.type == id)
        *r = dtoh(s, in, &taken);
    return taken;
}

int tfw_bulk_replied(void)
{
    return bk.replied;
}
