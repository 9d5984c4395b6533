/*
 * Compressed ("packed") frames on stream sessions that negotiated compression at the handshake
 * (TCP or TLS; lz4 or zstd). A payload of TF_PACK_MIN bytes or more is sent as a packed frame:
 *   header  type TF_FRAME_PACKED, flags = the frame's type, id, length = its payload's length
 *   8 bytes u32 the frame's flags, u32 0
 *   chunks  until their raw lengths add up to the length: u32 raw length (1 .. TF_PACK_CHUNK_MAX),
 *           u32 stored length, u8 method (0 raw, or the session's method), 3 bytes 0, then the
 *           stored bytes.
 * Each chunk is compressed only where it pays: a sample of it (two 2 KiB pieces, LZ4) decides,
 * and a chunk that does not shrink by 1/16 goes raw, straight from the caller's memory, so
 * random data costs a few microseconds per MiB. The receiver checks every chunk header before
 * it reads or allocates: lengths within the frame and the chunk bound, a stored length within
 * the method's worst case, the method the session's; a decompressed chunk must be exactly its
 * raw length. Anything else closes the session with the reason ("corrupt compressed frame:
 * ..."). Buffers are bounded by TF_PACK_CHUNK_MAX whatever the peer says.
 * Calls liblz4, libzstd, sock.c and conn.c.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <lz4.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <zstd.h>

#define CHUNK_HDR 12u
#define SEND_CHUNK (1u << 20)
#define SAMPLE 2048
#define BATCH 64                 /* iovecs gathered into one sendmsg */

struct tft_pack {
    ZSTD_CCtx *zc;
    ZSTD_DCtx *zd;
    uint8_t *cbuf;               /* one compressed chunk (send or receive) */
    size_t cbuf_cap;
    uint8_t *dbuf;               /* one decompressed chunk the caller reads in pieces */
    uint64_t dpos, dlen;
    uint64_t raw_left;           /* bytes of a raw chunk still on the socket */
    uint64_t uncovered;          /* frame bytes no chunk header has announced yet */
    uint8_t hdrs[BATCH][CHUNK_HDR];
};

static size_t bound(int method, size_t raw)
{
    return method == TF_COMPRESS_ZSTD ? ZSTD_compressBound(raw)
                                      : (size_t)LZ4_compressBound((int)raw);
}

static struct tft_pack *pack_of(struct tf_conn *c)
{
    if (!c->pack)
        c->pack = calloc(1, sizeof *c->pack);
    return c->pack;
}

static int grow(uint8_t **buf, size_t *cap, size_t want)
{
    if (*cap >= want)
        return 0;
    uint8_t *p = realloc(*buf, want);
    if (!p)
        return -1;
    *buf = p;
    *cap = want;
    return 0;
}

void tft_pack_free(struct tf_conn *c)
{
    struct tft_pack *p = c->pack;
    if (!p)
        return;
    ZSTD_freeCCtx(p->zc);
    ZSTD_freeDCtx(p->zd);
    free(p->cbuf);
    free(p->dbuf);
    free(p);
    c->pack = NULL;
}

/* ---- sending ---- */

/* 1 when a sample of the chunk shrinks by more than 15 % under LZ4 (fast for both methods). */
static int worth_it(const uint8_t *p, size_t n)
{
    if (n < 4 * SAMPLE)
        return 0;
    char out[LZ4_COMPRESSBOUND(SAMPLE)];
    int a = LZ4_compress_default((const char *)p, out, SAMPLE, (int)sizeof out);
    int b = LZ4_compress_default((const char *)p + n / 2, out, SAMPLE, (int)sizeof out);
    return a > 0 && b > 0 && (size_t)(a + b) * 100 < 2 * SAMPLE * 85;
}

/* Compresses one chunk into cbuf; its stored length, or 0 when it should go raw. */
static size_t squeeze(struct tf_conn *c, const uint8_t *src, size_t n)
{
    struct tft_pack *p = c->pack;
    if (!worth_it(src, n) || grow(&p->cbuf, &p->cbuf_cap, bound(c->compress, SEND_CHUNK)))
        return 0;
    size_t got = 0;
    if (c->compress == TF_COMPRESS_ZSTD) {
        if (!p->zc && !(p->zc = ZSTD_createCCtx()))
            return 0;
        got = ZSTD_compressCCtx(p->zc, p->cbuf, p->cbuf_cap, src, n, 1);
        if (ZSTD_isError(got))
            got = 0;
    } else {
        int k = LZ4_compress_default((const char *)src, (char *)p->cbuf, (int)n,
                                     (int)p->cbuf_cap);
        got = k > 0 ? (size_t)k : 0;
    }
    return got && got < n - n / 16 ? got : 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

struct batch {
    struct iovec v[2 * BATCH + 2];
    int n, hdrs;
};

static int flush(struct tf_conn *c, struct batch *b)
{
    int rc = b->n ? tft_sock_write_all(c, b->v, b->n, -1) : TF_OK;
    b->n = b->hdrs = 0;
    return rc;
}

/* Appends one chunk (compressed into cbuf, or raw from src) to the batch. */
static int add_chunk(struct tf_conn *c, struct batch *b, const uint8_t *src, size_t n)
{
    if (b->hdrs == BATCH && flush(c, b))
        return c->err_code;
    size_t stored = squeeze(c, src, n);
    uint8_t *h = c->pack->hdrs[b->hdrs++];
    put32(h, (uint32_t)n);
    put32(h + 4, (uint32_t)(stored ? stored : n));
    memset(h + 8, 0, 4);
    h[8] = stored ? (uint8_t)c->compress : 0;
    b->v[b->n++] = (struct iovec){h, CHUNK_HDR};
    b->v[b->n++] = (struct iovec){stored ? c->pack->cbuf : (void *)src, stored ? stored : n};
    return stored ? flush(c, b) : TF_OK;   /* cbuf is reused by the next chunk */
}

int tft_pack_write(struct tf_conn *c, const uint8_t *hdr, const struct iovec *iov, int iovcnt)
{
    if (!pack_of(c))
        return TF_ERR_NOMEM;
    struct batch b = {.n = 0};
    uint8_t head[TF_FRAME_HEADER_SIZE + 8];
    if (hdr) {   /* the packed frame's header: the frame's type moves to flags */
        struct tf_frame_header h;
        tf_frame_header_decode(hdr, TF_FRAME_HEADER_SIZE, UINT64_MAX, &h, NULL, 0);
        struct tf_frame_header outer = {TF_FRAME_PACKED, h.type, h.id, h.length};
        tf_frame_header_encode(&outer, head);
        put32(head + TF_FRAME_HEADER_SIZE, h.flags);
        put32(head + TF_FRAME_HEADER_SIZE + 4, 0);
        b.v[b.n++] = (struct iovec){head, sizeof head};
    }
    for (int i = 0; i < iovcnt; i++) {
        const uint8_t *p = iov[i].iov_base;
        for (size_t left = iov[i].iov_len; left > 0;) {
            size_t n = left < SEND_CHUNK ? left : SEND_CHUNK;
            int rc = add_chunk(c, &b, p, n);
            if (rc)
                return rc;
            p += n;
            left -= n;
        }
    }
    return flush(c, &b);
}

/* ---- receiving ---- */

int tft_pack_open(struct tf_conn *c, struct tf_frame_header *h)
{
    if (c->compress == TF_COMPRESS_OFF)
        return tft_conn_fail(c, TF_ERR_PROTOCOL, "corrupt compressed frame: this session did "
                             "not negotiate compression");
    uint8_t ext[8];
    int rc = tft_stream_read(c, ext, sizeof ext, -1);
    if (rc)
        return rc;
    if (h->flags == 0 || h->flags >= TF_FRAME_TYPE_RESERVED_MIN || get32(ext + 4) != 0)
        return tft_conn_fail(c, TF_ERR_PROTOCOL, "corrupt compressed frame: inner type 0x%08x",
                             h->flags);
    if (!pack_of(c))
        return tft_conn_fail(c, TF_ERR_NOMEM, "out of memory for a compressed frame");
    h->type = h->flags;
    h->flags = get32(ext);
    c->packed = true;
    c->pack->dpos = c->pack->dlen = c->pack->raw_left = 0;
    c->pack->uncovered = h->length;
    return TF_OK;
}

/* Decompresses a chunk of `stored` bytes in cbuf into out (exactly raw bytes). */
static int unsqueeze(struct tf_conn *c, int method, size_t stored, uint8_t *out, size_t raw)
{
    struct tft_pack *p = c->pack;
    size_t got = 0;
    if (method == TF_COMPRESS_ZSTD) {
        if (!p->zd && !(p->zd = ZSTD_createDCtx()))
            return tft_conn_fail(c, TF_ERR_NOMEM, "out of memory for zstd");
        got = ZSTD_decompressDCtx(p->zd, out, raw, p->cbuf, stored);
        if (ZSTD_isError(got))
            return tft_conn_fail(c, TF_ERR_PROTOCOL, "corrupt compressed frame: zstd: %s",
                                 ZSTD_getErrorName(got));
    } else {
        int k = LZ4_decompress_safe((const char *)p->cbuf, (char *)out, (int)stored, (int)raw);
        if (k < 0)
            return tft_conn_fail(c, TF_ERR_PROTOCOL, "corrupt compressed frame: lz4 chunk "
                                 "of %zu bytes does not decode", stored);
        got = (size_t)k;
    }
    if (got != raw)
        return tft_conn_fail(c, TF_ERR_PROTOCOL, "corrupt compressed frame: a chunk gave %zu "
                             "bytes, its header says %zu", got, raw);
    return TF_OK;
}

/* Reads the next chunk's header and, for a compressed chunk, its bytes: into dst when the
 * caller takes the whole chunk (*direct set), else into dbuf. */
static int next_chunk(struct tf_conn *c, uint8_t *dst, uint64_t want, int *direct)
{
    struct tft_pack *p = c->pack;
    uint8_t h[CHUNK_HDR];
    int rc = tft_stream_read(c, h, sizeof h, -1);
    if (rc)
        return rc;
    uint32_t raw = get32(h), stored = get32(h + 4);
    int method = h[8];
    *direct = 0;
    if (raw == 0 || raw > TF_PACK_CHUNK_MAX || raw > p->uncovered || h[9] || h[10] || h[11])
        return tft_conn_fail(c, TF_ERR_PROTOCOL, "corrupt compressed frame: chunk of %u bytes "
                             "with %llu left", raw, (unsigned long long)p->uncovered);
    p->uncovered -= raw;
    if (method == 0) {
        if (stored != raw)
            return tft_conn_fail(c, TF_ERR_PROTOCOL, "corrupt compressed frame: raw chunk "
                                 "stores %u of %u bytes", stored, raw);
        p->raw_left = raw;
        return TF_OK;
    }
    if (method != c->compress || stored == 0 || stored > bound(method, raw))
        return tft_conn_fail(c, TF_ERR_PROTOCOL, "corrupt compressed frame: chunk method %d, "
                             "%u bytes stored for %u", method, stored, raw);
    if (grow(&p->cbuf, &p->cbuf_cap, bound(method, TF_PACK_CHUNK_MAX)) ||
        (!(dst && want >= raw) && !p->dbuf && !(p->dbuf = malloc(TF_PACK_CHUNK_MAX))))
        return tft_conn_fail(c, TF_ERR_NOMEM, "out of memory for a compressed chunk");
    if ((rc = tft_stream_read(c, p->cbuf, stored, -1)))
        return rc;
    *direct = dst && want >= raw;
    if ((rc = unsqueeze(c, method, stored, *direct ? dst : p->dbuf, raw)))
        return rc;
    if (*direct)
        return (int)raw;   /* delivered */
    p->dpos = 0;
    p->dlen = raw;
    return TF_OK;
}

int tft_pack_read(struct tf_conn *c, void *dst, uint64_t len)
{
    struct tft_pack *p = c->pack;
    uint8_t *out = dst;
    while (len > 0) {
        uint64_t n;
        if (p->dpos < p->dlen) {
            n = p->dlen - p->dpos < len ? p->dlen - p->dpos : len;
            if (out)
                memcpy(out, p->dbuf + p->dpos, n);
            p->dpos += n;
        } else if (p->raw_left) {
            n = p->raw_left < len ? p->raw_left : len;
            int rc = tft_stream_read(c, out, n, -1);
            if (rc)
                return rc;
            p->raw_left -= n;
        } else {
            int direct = 0, rc = next_chunk(c, out, len, &direct);
            if (rc < 0)
                return rc;
            if (!direct)
                continue;
            n = (uint64_t)rc;
        }
        if (out)
            out += n;
        len -= n;
    }
    return TF_OK;
}

/* ---- negotiation (handshake.c) ---- */

/* 1 when the connected TCP peer is this host (127/8, ::1, v4-mapped 127/8). */
static int peer_is_loopback(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family != AF_INET6)
        return 0;
    const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

int tft_compress_ask(struct tf_conn *c, const char *text, char *err, size_t errlen)
{
    int method, is_auto;
    if (!text)
        text = getenv("TFUSE_COMPRESS");
    if (tf_compress_parse(text, &method, &is_auto)) {
        if (err && errlen)
            snprintf(err, errlen, "TFUSE_COMPRESS=%s: expected off, lz4, zstd or auto", text);
        return TF_ERR_INVALID;
    }
    if (c->is_unix)
        return TF_COMPRESS_OFF;   /* same host: nothing to save */
    if (is_auto)   /* loopback moves bytes faster than LZ4 makes them: only when asked */
        return peer_is_loopback(c->fd) ? TF_COMPRESS_OFF : TF_COMPRESS_LZ4;
    return method;
}

int tft_compress_grant(const struct tf_conn *c)
{
    int method, is_auto;
    const char *text = getenv("TFUSE_COMPRESS");   /* the node's own: "off" refuses it */
    if (c->is_unix || c->compress_asked > TF_COMPRESS_ZSTD)
        return TF_COMPRESS_OFF;
    if (text && *text && tf_compress_parse(text, &method, &is_auto) == 0 && !is_auto &&
        method == TF_COMPRESS_OFF)
        return TF_COMPRESS_OFF;
    return c->compress_asked;
}
