/*
 * Wire encoding of the transport: frame headers and the handshake (hello / welcome), plus the
 * names of error codes. Pure functions on byte buffers, so that the fuzz targets drive exactly
 * the code that decodes what a peer sends. Layouts: docs/protocol.md. Calls libc only.
 */
#include "transport.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define HELLO_FIXED 40u
#define WELCOME_FIXED 40u

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static int wire_fail(char *why, size_t whylen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int wire_fail(char *why, size_t whylen, int code, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *tf_err_str(int err)
{
    switch (err) {
    case TF_OK: return "ok";
    case TF_ERR_INVALID: return "invalid argument";
    case TF_ERR_SYS: return "system call failed";
    case TF_ERR_NOMEM: return "out of memory";
    case TF_ERR_TIMEOUT: return "timeout";
    case TF_ERR_AGAIN: return "would block";
    case TF_ERR_CLOSED: return "connection closed";
    case TF_ERR_PROTOCOL: return "protocol error";
    case TF_ERR_TOO_LARGE: return "frame too large";
    case TF_ERR_REJECTED: return "rejected by server";
    case TF_ERR_VERSION: return "protocol version mismatch";
    case TF_ERR_NOT_SUPPORTED: return "not supported";
    case TF_ERR_STATE: return "call out of order";
    case TF_ERR_NOT_FOUND: return "not found";
    default: return "unknown error";
    }
}

const char *tf_compress_name(int method)
{
    return method == TF_COMPRESS_LZ4 ? "lz4" : method == TF_COMPRESS_ZSTD ? "zstd" : "off";
}

int tf_compress_parse(const char *text, int *method, int *is_auto)
{
    static const char *const names[] = {"off", "lz4", "zstd"};
    *is_auto = 0;
    *method = TF_COMPRESS_OFF;
    if (!text || !*text || strcmp(text, "auto") == 0) {
        *is_auto = 1;
        return 0;
    }
    for (int i = 0; i < 3; i++)
        if (strcmp(text, names[i]) == 0) {
            *method = i;
            return 0;
        }
    return -1;
}

/* ---- Frame header ---- */

void tf_frame_header_encode(const struct tf_frame_header *h, uint8_t out[TF_FRAME_HEADER_SIZE])
{
    put32(out, TF_FRAME_MAGIC);
    put32(out + 4, TFUSE_PROTOCOL_VERSION);
    put32(out + 8, h->type);
    put32(out + 12, h->flags);
    put64(out + 16, h->id);
    put64(out + 24, h->length);
}

int tf_frame_header_decode(const uint8_t *buf, size_t len, uint64_t max_payload,
                           struct tf_frame_header *out, char *why, size_t whylen)
{
    if (!buf || len < TF_FRAME_HEADER_SIZE)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "short frame header (%zu of %u bytes)",
                         len, TF_FRAME_HEADER_SIZE);
    uint32_t magic = get32(buf);
    if (magic != TF_FRAME_MAGIC)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "bad frame magic 0x%08x", magic);
    uint32_t version = get32(buf + 4);
    if (version != TFUSE_PROTOCOL_VERSION)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "frame protocol version %u, expected %u",
                         version, TFUSE_PROTOCOL_VERSION);
    out->type = get32(buf + 8);
    out->flags = get32(buf + 12);
    out->id = get64(buf + 16);
    out->length = get64(buf + 24);
    if (out->type == 0)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "frame type 0 is invalid");
    if (out->length > max_payload)
        return wire_fail(why, whylen, TF_ERR_TOO_LARGE,
                         "frame payload of %llu bytes exceeds the limit of %llu",
                         (unsigned long long)out->length, (unsigned long long)max_payload);
    return TF_OK;
}

/* ---- Handshake ---- */

/* Copies a length-prefixed string field, refusing embedded NULs so the C string we hand the
 * caller is exactly what was sent (a token "abc\0xyz" must not compare equal to "abc"). */
static int copy_field(const uint8_t *src, size_t n, char *dst, const char *name, char *why,
                      size_t whylen)
{
    if (memchr(src, '\0', n))
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "%s contains a NUL byte", name);
    memcpy(dst, src, n);
    dst[n] = '\0';
    return TF_OK;
}

int tf_hello_encode(const struct tf_hello *h, uint8_t *buf, size_t len)
{
    size_t tlen = strnlen(h->token, TF_TOKEN_MAX + 1);
    size_t hlen = strnlen(h->hostname, TF_HOSTNAME_MAX + 1);
    if (tlen > TF_TOKEN_MAX || hlen > TF_HOSTNAME_MAX || len < HELLO_FIXED + tlen + hlen)
        return TF_ERR_INVALID;
    memset(buf, 0, HELLO_FIXED);
    put32(buf, TF_HELLO_MAGIC);
    put32(buf + 4, h->version);
    put32(buf + 8, h->transport);
    put32(buf + 12, (uint32_t)h->pid);
    put64(buf + 16, h->ring_bytes);
    put64(buf + 24, h->max_frame);
    put16(buf + 32, (uint16_t)tlen);
    put16(buf + 34, (uint16_t)hlen);
    buf[36] = (uint8_t)(h->compress <= 0xff ? h->compress : 0);   /* old nodes ignore it */
    memcpy(buf + HELLO_FIXED, h->token, tlen);
    memcpy(buf + HELLO_FIXED + tlen, h->hostname, hlen);
    return (int)(HELLO_FIXED + tlen + hlen);
}

size_t tf_hello_size(const uint8_t *buf, size_t len)
{
    if (!buf || len < HELLO_FIXED)
        return 0;
    if (get32(buf) != TF_HELLO_MAGIC)
        return HELLO_FIXED;   /* garbage: the fixed part is enough for the decoder to say so */
    size_t tlen = get16(buf + 32), hlen = get16(buf + 34);
    if (tlen > TF_TOKEN_MAX || hlen > TF_HOSTNAME_MAX)
        return HELLO_FIXED;
    return HELLO_FIXED + tlen + hlen;
}

int tf_hello_decode(const uint8_t *buf, size_t len, struct tf_hello *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (!buf || len < HELLO_FIXED)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "short handshake (%zu bytes)", len);
    if (get32(buf) != TF_HELLO_MAGIC)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "not a TensorFuse handshake (magic 0x%08x)",
                         get32(buf));
    out->version = get32(buf + 4);
    out->transport = get32(buf + 8);
    out->pid = (int32_t)get32(buf + 12);
    out->ring_bytes = get64(buf + 16);
    out->max_frame = get64(buf + 24);
    out->compress = buf[36];   /* a method this side does not know is simply not granted */
    size_t tlen = get16(buf + 32), hlen = get16(buf + 34);
    if (tlen > TF_TOKEN_MAX)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "token of %zu bytes (max %u)", tlen,
                         TF_TOKEN_MAX);
    if (hlen > TF_HOSTNAME_MAX)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "hostname of %zu bytes (max %u)", hlen,
                         TF_HOSTNAME_MAX);
    if (len != HELLO_FIXED + tlen + hlen)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "handshake is %zu bytes, fields say %zu",
                         len, HELLO_FIXED + tlen + hlen);
    if (out->transport > TF_TRANSPORT_STREAM)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "unknown transport %u", out->transport);
    int rc = copy_field(buf + HELLO_FIXED, tlen, out->token, "token", why, whylen);
    if (rc == TF_OK)
        rc = copy_field(buf + HELLO_FIXED + tlen, hlen, out->hostname, "hostname", why, whylen);
    return rc;
}

int tf_welcome_encode(const struct tf_welcome *w, uint8_t *buf, size_t len)
{
    size_t rlen = strnlen(w->reason, TF_REASON_MAX);
    if (len < WELCOME_FIXED + rlen)
        return TF_ERR_INVALID;
    memset(buf, 0, WELCOME_FIXED);
    put32(buf, TF_WELCOME_MAGIC);
    put32(buf + 4, w->version);
    put32(buf + 8, w->accepted);
    put32(buf + 12, w->transport);
    put64(buf + 16, w->session_id);
    put64(buf + 24, w->max_frame);
    put16(buf + 32, (uint16_t)rlen);
    buf[34] = (uint8_t)(w->compress <= 0xff ? w->compress : 0);   /* old clients ignore it */
    memcpy(buf + WELCOME_FIXED, w->reason, rlen);
    return (int)(WELCOME_FIXED + rlen);
}

int tf_welcome_decode(const uint8_t *buf, size_t len, struct tf_welcome *out, char *why,
                      size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (!buf || len < WELCOME_FIXED)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "short handshake reply (%zu bytes)", len);
    if (get32(buf) != TF_WELCOME_MAGIC)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "not a TensorFuse reply (magic 0x%08x)",
                         get32(buf));
    out->version = get32(buf + 4);
    out->accepted = get32(buf + 8);
    out->transport = get32(buf + 12);
    out->session_id = get64(buf + 16);
    out->max_frame = get64(buf + 24);
    out->compress = buf[34];
    size_t rlen = get16(buf + 32);
    if (rlen > TF_REASON_MAX || len != WELCOME_FIXED + rlen)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "handshake reply of %zu bytes is malformed",
                         len);
    if (out->accepted > 1)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "bad accept flag %u", out->accepted);
    if (out->accepted && out->transport != TF_TRANSPORT_SHM &&
        out->transport != TF_TRANSPORT_STREAM)
        return wire_fail(why, whylen, TF_ERR_PROTOCOL, "unknown granted transport %u",
                         out->transport);
    return copy_field(buf + WELCOME_FIXED, rlen, out->reason, "reason", why, whylen);
}
