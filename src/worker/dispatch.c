/*
 * The worker's decoders and dispatch, expanded from calls.def: for every TF_CALL one handler
 * that decodes the request, checks every handle and device range against the session,
 * calls the backend, records what the call created or destroyed, and encodes the outputs.
 * TF_INTERNAL entries are decoded the same way and call tfw_<name>; TF_CUSTOM entries point at
 * the hand-written handlers of custom.c.
 *
 * Reply outputs: every OBUF (bulk) in calls.def order first, then the other outputs in order
 * (the stub's entry decodes in the same two passes).
 * Bulk bytes of IBUF/OBUF arguments are counted in the session statistics (stats.h).
 * May call: the backend table, session.c, proto, stats.c.
 */
#include <stdint.h>
#include <string.h>

#include "attach.h"
#include "devmap.h"
#include "migrate.h"
#include "stats.h"
#include "worker_int.h"

/* Inline request bytes follow whatever came before them in the frame, so a structure there may
 * be misaligned for its type: small inline buffers (structures) are moved to the session's
 * aligned scratch, which lives as long as the request buffer (until the next request, so an
 * asynchronous call may still read it); larger ones are bytes to copy, which need no alignment,
 * and a shared region's bytes stay where they are (a captured copy must read them there). */
#define TFW_ALIGNED_IBUF 512
static inline const void *tfw_aligned_in(struct tfw_session *s, const void *p, uint64_t len,
                                         int shared)
{
    if (!p || shared || ((uintptr_t)p & 15) == 0 || len > TFW_ALIGNED_IBUF ||
        len > sizeof s->scratch - s->scratch_used)
        return p;
    void *q = memcpy(s->scratch + s->scratch_used, p, len);
    s->scratch_used += (len + 15) & ~(uint64_t)15;
    return q;
}

/* A request's location, copied to the scratch and put in the backend's numbering; NULL with *r
 * set when it names a device the session does not hold (or the scratch is full). */
static inline CUmemLocation *tfw_location_in(struct tfw_session *s, const void *p, CUresult *r)
{
    *r = CUDA_ERROR_INVALID_VALUE;
    if (!p || sizeof s->scratch - s->scratch_used < sizeof(CUmemLocation))
        return NULL;
    CUmemLocation *loc = memcpy(s->scratch + s->scratch_used, p, sizeof *loc);
    s->scratch_used += (sizeof *loc + 15) & ~(size_t)15;
    *r = tfw_devmap_location(s, loc);
    return *r == CUDA_SUCCESS ? loc : NULL;
}

/* ---- 1. locals ---- */
#define TFW_DECL(a) TFW_DECL_##a
#define TFW_DECL_VOID()
#define TFW_DECL_IN(T, n) T n;
#define TFW_DECL_DEV(n) CUdevice n;
#define TFW_DECL_DEVOUT(n) TFW_DECL_OUT(CUdevice, n)
#define TFW_DECL_LOC(T, n) TFW_DECL_IBUF(T, n, 0)
#define TFW_DECL_HFOUND(K, T, n) TFW_DECL_HOUT(K, T, n)
#define TFW_DECL_IBUFOPT(T, n, b) TFW_DECL_IBUF(T, n, b)
#define TFW_DECL_RESDESC(n) TFW_DECL_IBUF(const CUDA_RESOURCE_DESC *, n, 0)
#define TFW_DECL_OUT(T, n) T n##_v; memset(&n##_v, 0, sizeof n##_v); T *n = &n##_v;
#define TFW_DECL_OUTOPT(T, n) TFW_DECL_OUT(T, n)
#define TFW_DECL_HIN(K, T, n) T n;
#define TFW_DECL_HOUT(K, T, n) T n##_v = 0; T *n = &n##_v;
#define TFW_DECL_HDEL(K, T, n) T n; uint64_t n##_wire;
#define TFW_DECL_DPTR(n, b) CUdeviceptr n;
#define TFW_DECL_DPOUT(n, b) CUdeviceptr n##_v = 0; CUdeviceptr *n = &n##_v;
#define TFW_DECL_DPADDR(n, b) TFW_DECL_DPOUT(n, b)
#define TFW_DECL_DPFREE(n) CUdeviceptr n;
#define TFW_DECL_DPADDRFREE(n) TFW_DECL_DPFREE(n)
/* The CUDA 3.1 ABIs' 32-bit pointers travel as u64 like the others: one that does not fit
 * names nothing of the session. */
#define TFW_DECL_DPOUT32(n, b) CUdeviceptr_v1 n##_v = 0; CUdeviceptr_v1 *n = &n##_v;
#define TFW_DECL_DPFREE32(n) CUdeviceptr_v1 n; uint64_t n##_wire;
#define TFW_DECL_IBUF(T, n, b) T n; uint64_t n##_len; int n##_shared;
#define TFW_DECL_OBUF(T, n, b) T n = NULL; uint64_t n##_rid = 0, n##_roff = 0; int n##_shared;
#define TFW_DECL_ISTR(n) const char *n;

/* ---- 2. decode the request ---- */
#define TFW_DEC(a) TFW_DEC_##a
#define TFW_DEC_VOID()
#define TFW_DEC_IN(T, n) tfp_get(in, &n, sizeof n);
#define TFW_DEC_DEV(n) tfp_get(in, &n, sizeof n);
#define TFW_DEC_DEVOUT(n)
#define TFW_DEC_LOC(T, n) n = (T)tfw_get_in(s, in, &n##_len, &n##_shared);
#define TFW_DEC_HFOUND(K, T, n)
#define TFW_DEC_IBUFOPT(T, n, b) TFW_DEC_IBUF(T, n, b) if (!n##_len) n = NULL;
#define TFW_DEC_RESDESC(n) TFW_DEC_IBUF(const CUDA_RESOURCE_DESC *, n, 0)
#define TFW_DEC_OUT(T, n)
#define TFW_DEC_OUTOPT(T, n)
/* A migrated session's handles are translated from the values the program holds (migrate.h). */
#define TFW_DEC_HIN(K, T, n) n = (T)(uintptr_t)tfw_xin(s, tfp_get_u64(in)); TFW_NOTE_##K(n)
/* The stream a request names is known before any check (capture-aware checks need it). */
#define TFW_NOTE_STREAM(n) s->last_stream = n;
#define TFW_NOTE_CTX(n)
#define TFW_NOTE_EVENT(n)
/* What a request creates from a module or library is forgotten with it. */
#define TFW_NOTE_MOD(n) s->last_parent = (uint64_t)(uintptr_t)n;
#define TFW_NOTE_FUNC(n)
#define TFW_NOTE_LIB(n) s->last_parent = (uint64_t)(uintptr_t)n;
#define TFW_NOTE_KERN(n) s->last_parent = (uint64_t)(uintptr_t)n;
#define TFW_NOTE_POOL(n)
#define TFW_NOTE_GRAPH(n)
#define TFW_NOTE_GEXEC(n)
/* What a call naming a node reveals (a child graph, ...) is forgotten with the node. */
#define TFW_NOTE_NODE(n) s->last_parent = (uint64_t)(uintptr_t)n;
#define TFW_NOTE_ALLOC(n)
/* A level or plane of an array is forgotten with it. */
#define TFW_NOTE_ARRAY(n) s->last_parent = (uint64_t)(uintptr_t)n;
#define TFW_NOTE_MIPMAP(n) s->last_parent = (uint64_t)(uintptr_t)n;
#define TFW_NOTE_TEXOBJ(n)
#define TFW_NOTE_SURFOBJ(n)
#define TFW_NOTE_TEXREF(n)
#define TFW_NOTE_SURFREF(n)
#define TFW_NOTE_LINK(n)
#define TFW_NOTE_GREEN(n) s->last_parent = (uint64_t)(uintptr_t)n;
#define TFW_NOTE_RDESC(n)
/* Not a parent: what is mapped from external memory outlives it (freed by cuMemFree). */
#define TFW_NOTE_EXTMEM(n)
#define TFW_NOTE_EXTSEM(n)
#define TFW_DEC_HOUT(K, T, n)
#define TFW_DEC_HDEL(K, T, n) n##_wire = tfp_get_u64(in); n = (T)(uintptr_t)tfw_xin(s, n##_wire);
#define TFW_DEC_DPTR(n, b) n = (CUdeviceptr)tfp_get_u64(in);
#define TFW_DEC_DPOUT(n, b)
#define TFW_DEC_DPADDR(n, b) TFW_DEC_DPOUT(n, b)
#define TFW_DEC_DPFREE(n) n = (CUdeviceptr)tfp_get_u64(in);
#define TFW_DEC_DPADDRFREE(n) TFW_DEC_DPFREE(n)
#define TFW_DEC_DPOUT32(n, b)
#define TFW_DEC_DPFREE32(n) n##_wire = tfp_get_u64(in); n = (CUdeviceptr_v1)n##_wire;
#define TFW_DEC_IBUF(T, n, b) \
    n = (T)tfw_get_in(s, in, &n##_len, &n##_shared); \
    n = (T)tfw_aligned_in(s, n, n##_len, n##_shared);
#define TFW_DEC_OBUF(T, n, b) n##_shared = tfw_get_out(s, in, &n##_rid, &n##_roff);
#define TFW_DEC_ISTR(n) n = tfp_get_str(in);

/* ---- 3. check against the session; reserve bulk outputs ---- */
#define TFW_CHECK(a) TFW_CHECK_##a
#define TFW_CHECK_VOID()
#define TFW_CHECK_IN(T, n)
/* The session's device ordinal becomes the backend's (src/worker/devmap.c). */
#define TFW_CHECK_DEV(n) \
    if ((r = tfw_devmap_to_backend(s, n, &n)) != CUDA_SUCCESS) return r;
#define TFW_CHECK_HFOUND(K, T, n)
#define TFW_CHECK_DEVOUT(n)
/* A location's device is the session's ordinal: a copy in the backend's numbering is passed. */
#define TFW_CHECK_LOC(T, n) \
    if (n##_len != sizeof(CUmemLocation)) return tfw_malformed(s, call, "location size"); \
    if (!(n = (T)tfw_location_in(s, n, &r))) return r;
#define TFW_CHECK_IBUFOPT(T, n, b) if (n) { TFW_CHECK_IBUF(T, n, b) }
/* Every array, mipmapped array and device range a resource names must be the session's. */
#define TFW_CHECK_RESDESC(n) \
    TFW_CHECK_IBUF(const CUDA_RESOURCE_DESC *, n, sizeof(CUDA_RESOURCE_DESC)) \
    if ((r = tfw_check_resource(s, n)) != CUDA_SUCCESS) return r;
#define TFW_CHECK_OUT(T, n)
#define TFW_CHECK_OUTOPT(T, n)
#define TFW_CHECK_HIN(K, T, n) \
    if ((r = tfw_check_handle(s, TFW_K_##K, (uint64_t)(uintptr_t)n)) != CUDA_SUCCESS) return r;
#define TFW_CHECK_HOUT(K, T, n)
#define TFW_CHECK_HDEL(K, T, n) \
    if (!n) return CUDA_ERROR_INVALID_HANDLE; \
    if ((r = tfw_check_handle(s, TFW_K_##K, (uint64_t)(uintptr_t)n)) != CUDA_SUCCESS) return r;
#define TFW_CHECK_DPTR(n, b) \
    if ((r = tfw_check_range(s, n, (uint64_t)(b))) != CUDA_SUCCESS) return r;
#define TFW_CHECK_DPOUT(n, b)
#define TFW_CHECK_DPADDR(n, b) TFW_CHECK_DPOUT(n, b)
#define TFW_CHECK_DPFREE(n) \
    if (n && !tf_ranges_is_base(&s->allocs, n)) return CUDA_ERROR_INVALID_VALUE; \
    if (n && tf_ranges_is_base(&s->hostmaps, n)) return tfw_release_hostmap(s, n);
#define TFW_CHECK_DPADDRFREE(n) TFW_CHECK_DPFREE(n)
#define TFW_CHECK_DPOUT32(n, b)
#define TFW_CHECK_DPFREE32(n) \
    if (n##_wire > UINT32_MAX) return CUDA_ERROR_INVALID_VALUE; \
    TFW_CHECK_DPFREE(n)
#define TFW_CHECK_IBUF(T, n, b) \
    if (n##_len != (uint64_t)(b)) return tfw_malformed(s, call, "buffer length disagrees"); \
    if (s->malformed) return CUDA_ERROR_INVALID_VALUE; \
    if ((r = tfw_attach_error()) != CUDA_SUCCESS) return r; /* the client's address */ \
    if (!n##_shared && call_mode == TFP_ASYNC && tfw_capturing(s)) \
        return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
#define TFW_CHECK_OBUF(T, n, b) \
    if ((uint64_t)(b) > tfw_reply_room(s)) return CUDA_ERROR_INVALID_VALUE; \
    if (!n##_shared && call_mode == TFP_STREAMPT && tfw_capturing(s)) \
        return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED; \
    n = tfw_out_buffer(s, out, n##_shared, n##_rid, n##_roff, (uint64_t)(b)); \
    if (s->malformed) return CUDA_ERROR_INVALID_VALUE; \
    if (!n && (b) != 0) return CUDA_ERROR_OUT_OF_MEMORY;
#define TFW_CHECK_ISTR(n)

/* ---- 4. the call's arguments ---- */
#define TFW_PASS(a) TFW_PASS_##a
#define TFW_PASS_VOID()
#define TFW_PASS_IN(T, n) n
#define TFW_PASS_DEV(n) n
#define TFW_PASS_DEVOUT(n) n
#define TFW_PASS_LOC(T, n) n
#define TFW_PASS_HFOUND(K, T, n) n
#define TFW_PASS_IBUFOPT(T, n, b) n
#define TFW_PASS_RESDESC(n) n
#define TFW_PASS_OUT(T, n) n
#define TFW_PASS_OUTOPT(T, n) n
#define TFW_PASS_HIN(K, T, n) n
#define TFW_PASS_HOUT(K, T, n) n
#define TFW_PASS_HDEL(K, T, n) n
#define TFW_PASS_DPTR(n, b) n
#define TFW_PASS_DPOUT(n, b) n
#define TFW_PASS_DPADDR(n, b) TFW_PASS_DPOUT(n, b)
#define TFW_PASS_DPFREE(n) n
#define TFW_PASS_DPADDRFREE(n) TFW_PASS_DPFREE(n)
#define TFW_PASS_DPOUT32(n, b) n
#define TFW_PASS_DPFREE32(n) n
#define TFW_PASS_IBUF(T, n, b) n
#define TFW_PASS_OBUF(T, n, b) n
#define TFW_PASS_ISTR(n) n

/* ---- 5. after success: record what was created, forget what was destroyed ---- */
#define TFW_POST(a) TFW_POST_##a
#define TFW_POST_VOID()
#define TFW_POST_IN(T, n)
#define TFW_POST_DEV(n)
#define TFW_POST_DEVOUT(n)
#define TFW_POST_LOC(T, n)
/* A handle the call reveals (the module of a function, ...) is the session's from now on; one
 * it holds already keeps its record (and the object it came from). */
#define TFW_POST_HFOUND(K, T, n) \
    if (tfw_handles_kind(&s->handles, (uint64_t)(uintptr_t)*n) == TFW_K_NONE) \
        tfw_record_handle(s, TFW_K_##K, (uint64_t)(uintptr_t)*n);
#define TFW_POST_IBUFOPT(T, n, b) TFW_POST_IBUF(T, n, b)
#define TFW_POST_RESDESC(n) TFW_POST_IBUF(T, n, 0)
#define TFW_POST_OUT(T, n)
#define TFW_POST_OUTOPT(T, n)
#define TFW_POST_HIN(K, T, n) TFW_POST_HIN_##K(n)
#define TFW_POST_HIN_CTX(n)
#define TFW_POST_HIN_STREAM(n) s->last_stream = n;
#define TFW_POST_HIN_EVENT(n)
#define TFW_POST_HIN_MOD(n)
#define TFW_POST_HIN_FUNC(n)
#define TFW_POST_HIN_LIB(n)
#define TFW_POST_HIN_KERN(n)
#define TFW_POST_HIN_POOL(n)
#define TFW_POST_HIN_GRAPH(n)
#define TFW_POST_HIN_GEXEC(n)
#define TFW_POST_HIN_NODE(n)
#define TFW_POST_HIN_ALLOC(n)
#define TFW_POST_HIN_ARRAY(n)
#define TFW_POST_HIN_MIPMAP(n)
#define TFW_POST_HIN_TEXOBJ(n)
#define TFW_POST_HIN_SURFOBJ(n)
#define TFW_POST_HIN_TEXREF(n)
#define TFW_POST_HIN_SURFREF(n)
#define TFW_POST_HIN_LINK(n)
#define TFW_POST_HIN_GREEN(n)
#define TFW_POST_HIN_RDESC(n)
#define TFW_POST_HIN_EXTMEM(n)
#define TFW_POST_HIN_EXTSEM(n)
#define TFW_POST_HOUT(K, T, n) tfw_record_handle(s, TFW_K_##K, (uint64_t)(uintptr_t)*n);
#define TFW_POST_HDEL(K, T, n) \
    tfw_handles_del_tree(&s->handles, (uint64_t)(uintptr_t)n, &s->allocs); \
    if (s->xl || s->mg) tfw_migrate_forget(s, n##_wire, (uint64_t)(uintptr_t)n);
#define TFW_POST_DPTR(n, b)
#define TFW_POST_DPOUT(n, b) tfw_record_alloc(s, *n, (uint64_t)(b));
#define TFW_POST_DPADDR(n, b) TFW_POST_DPOUT(n, b)
#define TFW_POST_DPFREE(n) tf_ranges_del(&s->allocs, n);
#define TFW_POST_DPADDRFREE(n) TFW_POST_DPFREE(n)
#define TFW_POST_DPOUT32(n, b) TFW_POST_DPOUT(n, b)
#define TFW_POST_DPFREE32(n) TFW_POST_DPFREE(n)
/* Inline bytes live in the request buffer, which the next request reuses. */
#define TFW_POST_IBUF(T, n, b) if (!n##_shared) s->sync_after = 1; tfw_stats_bytes(n##_len, 0);
#define TFW_POST_OBUF(T, n, b) tfw_stats_bytes(0, (uint64_t)(b));
#define TFW_POST_ISTR(n)

/* ---- 6. outputs other than bulk buffers (those were reserved in step 3) ---- */
#define TFW_REPLY(a) TFW_REPLY_##a
#define TFW_REPLY_VOID()
#define TFW_REPLY_IN(T, n)
#define TFW_REPLY_DEV(n)
/* A device the backend reports goes back as the session numbers it. */
#define TFW_REPLY_DEVOUT(n) \
    if ((r = tfw_devmap_to_session(s, n)) != CUDA_SUCCESS) return r; \
    tfp_put(out, n, sizeof *n);
#define TFW_REPLY_LOC(T, n)
#define TFW_REPLY_HFOUND(K, T, n) TFW_REPLY_HOUT(K, T, n)
#define TFW_REPLY_IBUFOPT(T, n, b)
#define TFW_REPLY_RESDESC(n)
#define TFW_REPLY_OUT(T, n) tfp_put(out, n, sizeof *n);
#define TFW_REPLY_OUTOPT(T, n) tfp_put(out, n, sizeof *n);
#define TFW_REPLY_HIN(K, T, n)
#define TFW_REPLY_HOUT(K, T, n) tfp_put_u64(out, tfw_xout(s, (uint64_t)(uintptr_t)*n));
#define TFW_REPLY_HDEL(K, T, n)
#define TFW_REPLY_DPTR(n, b)
#define TFW_REPLY_DPOUT(n, b) tfp_put_u64(out, (uint64_t)*n);
#define TFW_REPLY_DPADDR(n, b) TFW_REPLY_DPOUT(n, b)
#define TFW_REPLY_DPFREE(n)
#define TFW_REPLY_DPADDRFREE(n) TFW_REPLY_DPFREE(n)
#define TFW_REPLY_DPOUT32(n, b) TFW_REPLY_DPOUT(n, b)
#define TFW_REPLY_DPFREE32(n)
#define TFW_REPLY_IBUF(T, n, b)
#define TFW_REPLY_OBUF(T, n, b)
#define TFW_REPLY_ISTR(n)

#define TFW_HANDLER(name, mode_, callee, available, ...)                                       \
    static CUresult tfw_h_##name(struct tfw_session *s, struct tfp_reader *in,                 \
                                 struct tfp_writer *out)                                       \
    {                                                                                          \
        static const char call[] = #name;                                                      \
        const enum tfp_mode call_mode = mode_;                                                      \
        CUresult r = CUDA_SUCCESS;                                                             \
        (void)call;                                                                            \
        (void)call_mode;                                                                          \
        TF_FOREACH(TFW_DECL, __VA_ARGS__)                                                      \
        TF_FOREACH(TFW_DEC, __VA_ARGS__)                                                       \
        if (!tfp_reader_done(in))                                                              \
            return tfw_malformed(s, call, "arguments do not match the call");                  \
        TF_FOREACH(TFW_CHECK, __VA_ARGS__)                                                     \
        if (!(available))                                                                      \
            return CUDA_ERROR_NOT_SUPPORTED;                                                   \
        r = callee(TF_FOREACH_COMMA(TFW_PASS, __VA_ARGS__));                                   \
        if (r != CUDA_SUCCESS)                                                                 \
            return r;                                                                          \
        TF_FOREACH(TFW_POST, __VA_ARGS__)                                                      \
        TF_FOREACH(TFW_REPLY, __VA_ARGS__)                                                     \
        return r;                                                                              \
    }

#define TF_CALL(sym, base, ver, mode, ...) \
    TFW_HANDLER(sym, TFP_##mode, s->be.sym, s->be.sym, __VA_ARGS__)
#define TF_INTERNAL(sym, mode, ...) TFW_HANDLER(sym, TFP_##mode, tfw_##sym, 1, __VA_ARGS__)
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"

static const tfw_handler handlers[TFP_CALL_COUNT] = {
#define TF_CALL(sym, base, ver, mode, ...) [TFP_ID_##sym] = tfw_h_##sym,
#define TF_INTERNAL(sym, mode, ...) [TFP_ID_##sym] = tfw_h_##sym,
#define TF_CUSTOM(sym, base, ver, mode) [TFP_ID_##sym] = tfw_custom_##sym,
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"
};

tfw_handler tfw_handler_for(uint32_t id)
{
    return id < TFP_CALL_COUNT ? handlers[id] : NULL;
}
