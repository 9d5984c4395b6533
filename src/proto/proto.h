/*
 * The call protocol between the stub and the worker, on top of src/transport frames.
 *
 * Owns: call ids (expanded from calls.def), each call's mode, the request/reply payload
 * layout, the byte writer (gathers small scalars and large caller buffers into an iovec list so
 * bulk data is never concatenated) and the bounded reader every decoder uses.
 * May call: libc only. Knows nothing about connections (the caller sends what it builds).
 *
 * Request frame: type = call id (enum tfp_call), flags = TFP_FLAG_ASYNC when no reply is wanted,
 *   id = the client's sequence number; payload = u64 current context of the calling thread,
 *   then the arguments in calls.def order (docs/forwarding.md: encoding per argument kind).
 * Reply frame: type = TFP_REPLY, id = the request's id; payload = i32 CUresult, u32 length of
 *   device printf output then those bytes, then (on CUDA_SUCCESS only) the outputs in order.
 * All integers are little-endian host order (both ends of a connection are x86-64 or
 * aarch64 Linux: the handshake's version check is what pins the layout).
 */
#ifndef TFUSE_PROTO_H
#define TFUSE_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <cuda.h>

#include "abi32.h" /* the CUDA 3.1 ABIs' types (src/driverkit) */
#include "foreach.h"

/* Expansion defaults: a user of calls.def defines the entries it needs, then includes
 * "calls_defaults.h" to give the others empty bodies. */

enum tfp_mode { TFP_SYNC = 0, TFP_SYNCPT = 1, TFP_ASYNC = 2, TFP_STREAMPT = 3 };

enum tfp_call {
    TFP_CALL_NONE = 0,
#define TF_CALL(sym, base, ver, mode, ...) TFP_ID_##sym,
#define TF_CUSTOM(sym, base, ver, mode) TFP_ID_##sym,
#define TF_INTERNAL(sym, mode, ...) TFP_ID_##sym,
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"
    TFP_CALL_COUNT,
};

#define TFP_REPLY 0x7fff0001u      /* frame type of every reply */
#define TFP_FLAG_ASYNC 1u          /* request flag: pipelined, the worker sends no reply */

#define TFP_MAX_STRING 4096u       /* longest name (kernel, global) a request may carry */
#define TFP_MAX_PARAMS 1024u       /* kernel parameters we learn a layout for */
#define TFP_MAX_PARAM_BYTES 32764u /* the driver's limit on a kernel's parameter buffer */
#define TFP_MAX_IMAGE (512u << 20) /* largest module image a request may carry */
#define TFP_MAX_GRAPH_DEPS 4096u   /* dependencies (or edges) one graph request may name */

/* Saturating arithmetic for the byte counts calls.def derives from arguments: a product or sum
 * that would wrap becomes UINT64_MAX, which no allocation contains, so the range check refuses
 * it instead of checking a small wrapped length. */
static inline uint64_t tfp_mul(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}
static inline uint64_t tfp_add(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}
/* Bytes spanned by `height` rows of `width` bytes, `pitch` apart. */
static inline uint64_t tfp_span2d(uint64_t pitch, uint64_t width, uint64_t height)
{
    return height ? tfp_add(tfp_mul(pitch, height - 1), width) : 0;
}
/* How many entries a tensor map's per-dimension arrays hold (0 past the driver's 5 dimensions,
 * which the driver refuses: nothing past an array the caller sized for its rank is read). */
static inline uint64_t tfp_tm_rank(uint32_t rank)
{
    return rank <= 5 ? rank : 0;
}

/* The size of a memory pool attribute's value: cuuint64_t for the release threshold and the
 * memory counters, int for the reuse policies (cuMemPoolSetAttribute/GetAttribute). */
static inline uint64_t tfp_pool_attr_size(CUmemPool_attribute attr)
{
    return attr >= CU_MEMPOOL_ATTR_RELEASE_THRESHOLD ? sizeof(cuuint64_t) : sizeof(int);
}
/* Bytes from a 3D copy side's base pointer to the end of the last row it touches: the side starts
 * at (x, y, z) in slices of `rows` rows of `pitch` bytes; the copy is width x height x depth. */
static inline uint64_t tfp_extent3d(uint64_t x, uint64_t y, uint64_t z, uint64_t pitch,
                                    uint64_t rows, uint64_t width, uint64_t height, uint64_t depth)
{
    uint64_t slice = tfp_mul(pitch, rows);
    uint64_t start = tfp_add(tfp_add(x, tfp_mul(y, pitch)), tfp_mul(z, slice));
    if (!width || !height || !depth)
        return start;
    return tfp_add(start, tfp_add(tfp_mul(depth - 1, slice), tfp_span2d(pitch, width, height)));
}

/* FNV-1a of every calls.def entry as written (names, modes, arguments): both ends of a session
 * must have been built from the same table. */
uint64_t tfp_table_hash(void);

/* Mode and name of a call id (NULL / TFP_SYNC for an unknown id). */
enum tfp_mode tfp_call_mode(uint32_t id);
const char *tfp_call_name(uint32_t id);

/* What the worker reports about one device, cached by the stub for the session (device queries
 * never cross the transport after the first). */
#define TFP_ATTR_COUNT 160
struct tfp_device_info {
    char name[256];
    uint64_t total_mem;
    CUuuid uuid;
    int32_t attr[TFP_ATTR_COUNT];      /* by CUdevice_attribute id */
    uint8_t attr_ok[TFP_ATTR_COUNT];   /* 1 where the backend answered the attribute */
};

/* One kernel parameter's place in the parameter buffer (cuFuncGetParamInfo). */
struct tfp_param {
    uint32_t offset;
    uint32_t size;
};

/* SHA-256 of len bytes (module images are cached by it). */
void tfp_sha256(const void *data, size_t len, uint8_t out[32]);

/* ---- writer ---- */

#define TFP_MAX_SEGS 32

struct tfp_seg {
    const void *ext;      /* caller-owned bytes, or NULL: bytes at `off` in the inline buffer */
    size_t off, len;
};

struct tfp_writer {
    struct tfp_seg seg[TFP_MAX_SEGS];
    int nseg;
    uint8_t *buf;         /* inline bytes (scalars, strings, reserved outputs) */
    size_t len, cap;
    size_t total;         /* payload bytes in all segments */
    int failed;           /* out of memory or segments: the message must not be sent */
    void *owned[8];       /* reservations owned by the writer, freed by reset */
    int nowned;
};

void tfp_writer_init(struct tfp_writer *w);
void tfp_writer_reset(struct tfp_writer *w);   /* keeps the inline buffer for reuse */
void tfp_writer_free(struct tfp_writer *w);
/* Copies n bytes into the message. */
void tfp_put(struct tfp_writer *w, const void *p, size_t n);
/* References n caller bytes that must stay valid until the message is sent. */
void tfp_put_ref(struct tfp_writer *w, const void *p, size_t n);
static inline void tfp_put_u32(struct tfp_writer *w, uint32_t v) { tfp_put(w, &v, sizeof v); }
static inline void tfp_put_u64(struct tfp_writer *w, uint64_t v) { tfp_put(w, &v, sizeof v); }
/* Reserves n bytes in the message and returns where to write them (NULL on failure); the
 * place does not move when more is written, until the message is sent or the writer reset. */
void *tfp_reserve(struct tfp_writer *w, size_t n);
/* The message as an iovec list (valid until the writer changes). Returns the count. */
int tfp_iov(struct tfp_writer *w, struct iovec *iov, int max);

/* ---- reader ---- */

struct tfp_reader {
    const uint8_t *p;
    size_t len, pos;
    int bad;              /* a read went past the end: the message is malformed */
};

static inline void tfp_reader_init(struct tfp_reader *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->pos = 0;
    r->bad = 0;
}
/* Copies n bytes out; on a short message zero-fills dst and marks the reader bad. */
void tfp_get(struct tfp_reader *r, void *dst, size_t n);
/* A pointer to the next n bytes inside the message (NULL and bad when short). */
const void *tfp_get_ref(struct tfp_reader *r, size_t n);
static inline uint32_t tfp_get_u32(struct tfp_reader *r) { uint32_t v; tfp_get(r, &v, sizeof v); return v; }
static inline uint64_t tfp_get_u64(struct tfp_reader *r) { uint64_t v; tfp_get(r, &v, sizeof v); return v; }
/* A length-prefixed string (u32 length including the NUL, at most TFP_MAX_STRING): a pointer
 * into the message, or NULL and bad when malformed (missing NUL, NUL inside, too long). */
const char *tfp_get_str(struct tfp_reader *r);
void tfp_put_str(struct tfp_writer *w, const char *s);
/* True when everything was read and nothing was short. */
static inline int tfp_reader_done(const struct tfp_reader *r) { return !r->bad && r->pos == r->len; }

#endif
