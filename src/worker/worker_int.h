/*
 * Inside the worker: the session state every handler sees, and the helpers handlers share.
 * Private to src/worker.
 */
#ifndef TFUSE_WORKER_INT_H
#define TFUSE_WORKER_INT_H

#include <stdint.h>

#include "backend.h"
#include "modcache.h"
#include "params.h"
#include "proto.h"
#include "session.h"
#include "transport.h"

struct tfw_session {
    struct tf_backend be;
    struct tf_conn *conn;
    struct tfw_handles handles;
    struct tf_ranges allocs;
    CUcontext current;         /* the worker thread's current context (mirrors the client's) */
    CUresult held;             /* first error of a pipelined call, reported at the next sync */
    int out_fd;                /* memfd behind fd 1: device printf output, -1 when not captured */
    int backend_ran;           /* a backend call ran since the capture was last read */
    int malformed;             /* the request could not be decoded: the session ends */
    char reason[256];
    uint64_t max_frame;
    struct tfw_cache cache;    /* module image cache, this session's scope (modcache.h) */
    uint8_t *rx;               /* current request payload */
    size_t rx_cap;
    struct tfp_writer out;     /* reply outputs of the current request */
    uint8_t *bulk;             /* reply space for bulk outputs, kept between requests: page */
    size_t bulk_cap;           /*   faults on fresh memory cost more than the copy on VMs */
    struct tf_ranges hostmaps; /* client memfds mapped here at the client's addresses */
    CUstream last_stream;      /* the stream the current request named */
    uint64_t last_parent;      /* the module or library the current request named */
    /* The current request's small inline buffers, aligned (dispatch.c: tfw_aligned_in). */
    _Alignas(16) unsigned char scratch[2048];
    size_t scratch_used;
    int idle;                  /* nothing was queued since `current` last synchronized cleanly */
    int sync_after;            /* the request's bytes must be consumed before the next one */
    struct tfw_limits *lim;    /* the vGPUs the session is attached to (enforce.c), or NULL */
    struct tfw_devmap *devmap; /* session device ordinals -> backend's (devmap.c), or NULL */
    PFN_cuIpcGetMemHandle_v4010 ipc_orig_get; /* the backend's, below ipc.c's wrapper */
    struct tfw_freeze *fz;     /* freezable allocations and the frozen image (freeze.c) */
    struct tfw_xlate *xl;      /* handle translation once migrated (migrate.h), or NULL */
    struct tfw_migrate *mg;    /* module images kept for migration (migrate.c), or NULL */
};

/* The session whose request is being handled (internal calls reach it through this). */
extern __thread struct tfw_session *tfw_self;

typedef CUresult (*tfw_handler)(struct tfw_session *s, struct tfp_reader *in,
                                struct tfp_writer *out);

/* Marks the request malformed (the session is closed after it with this reason). */
CUresult tfw_malformed(struct tfw_session *s, const char *call, const char *what);
/* CUDA_SUCCESS when h names an object of kind k that belongs to the session (NULL and the
 * special stream handles always do; a CUkernel is accepted where a CUfunction is). */
CUresult tfw_check_handle(struct tfw_session *s, enum tfw_kind k, uint64_t h);
/* CUDA_SUCCESS when [p, p+len) lies inside one of the session's allocations (len 0: any p). */
CUresult tfw_check_range(struct tfw_session *s, uint64_t p, uint64_t len);
/* IPC handles between the sessions of one vGPU (ipc.c): the export wrapper, installed for
 * every session after its vGPUs are attached; the handles it exported are forgotten at its end. */
void tfw_ipc_install(struct tfw_session *s);
/* Exported descriptors (ipc.c, for share.c): publishes the file fd names in the session's vGPU;
 * whether the session may import fd (CUDA_ERROR_NOT_PERMITTED: a backend's export that no
 * process of its vGPUs made). */
CUresult tfw_ipc_publish_fd(struct tfw_session *s, int fd);
CUresult tfw_ipc_fd_permitted(struct tfw_session *s, int fd);
/* share.c's wrappers over the backend table (called by tfw_ipc_install). */
void tfw_share_install(struct tfw_session *s);
void tfw_ipc_end(struct tfw_session *s);

/* Closes the host-function channel (callbacks.c). */
void tfw_callbacks_end(void);
/* Runs the program's function fn(data) through the channel and waits for it (nothing without
 * a channel); 1 when the channel is open (callbacks.c). */
void tfw_callback_run(uint64_t fn, uint64_t data);
int tfw_callback_ready(void);
/* A wait or write of a batch memory operation names a word of the session's (memop.c). */
CUresult tfw_memop_check(struct tfw_session *s, const CUstreamBatchMemOpParams *op);

/* The arrays and device ranges a texture or surface resource names (resource.c). */
CUresult tfw_check_resource(struct tfw_session *s, const CUDA_RESOURCE_DESC *d);
/* Record what a call created; it came from s->last_parent (a module or library the request
 * named, forgotten with it) or from nothing. */
void tfw_record_handle(struct tfw_session *s, enum tfw_kind k, uint64_t h);
void tfw_record_alloc(struct tfw_session *s, uint64_t base, uint64_t size);
/* An IBUF argument: u64 length word (bit 63: the bytes are in shared region u64 id at u64
 * offset) then the bytes inline. Returns where the bytes are in this process (NULL and the
 * request marked malformed when the region range is bad). */
const void *tfw_get_in(struct tfw_session *s, struct tfp_reader *in, uint64_t *len, int *shared);
/* An OBUF argument: u64 0 (the bytes go back in the reply) or 1, u64 id, u64 offset (the
 * call writes into the client's shared region). Returns 1 for a region. */
int tfw_get_out(struct tfw_session *s, struct tfp_reader *in, uint64_t *id, uint64_t *off);
/* The bytes a reply may carry in an OBUF: the session's frame bound less room for the reply's
 * header and other outputs. A buffer of the whole bound made a reply over it, which the client
 * refuses by ending the session; such a call now fails alone (an older stub's copy of exactly
 * the bound; this one splits copies at half of it). */
#define TFW_REPLY_SLACK 4096u
static inline uint64_t tfw_reply_room(const struct tfw_session *s)
{
    return s->max_frame > TFW_REPLY_SLACK ? s->max_frame - TFW_REPLY_SLACK : 0;
}
/* Where to write `len` bytes of an OBUF: the region, or reply space. NULL: out of memory. */
void *tfw_out_buffer(struct tfw_session *s, struct tfp_writer *out, int shared, uint64_t id,
                     uint64_t off, uint64_t len);

/* Appends the device printf output captured since the last reply (u32 length, bytes). */
void tfw_take_printf(struct tfw_session *s, struct tfp_writer *head);

/* Decodes and executes one request payload (context word + arguments) of call `id`: the
 * outputs are in s->out. Marks s->malformed when the request cannot be decoded. */
CUresult tfw_handle_request(struct tfw_session *s, uint32_t id, const void *payload, size_t len);

/* Releases a mapping made by tfi_map_host (also when the client frees managed memory with
 * cuMemFree). */
CUresult tfw_release_hostmap(struct tfw_session *s, uint64_t addr);
/* Registers p (bytes, mapped here; kind 0 mapped page-locked, 1 managed, whose charge the
 * caller reserved) as device-mapped host memory recorded at the program's addr; on failure
 * unmaps p and releases the charge (hostmap.c). */
CUresult tfw_hostmap_install(struct tfw_session *s, void *p, uint64_t addr, uint64_t bytes,
                             unsigned kind, CUdeviceptr *dptr);
/* Forgets the twin of the program's memory at addr, if it is one (mirror.c). */
void tfw_mirror_forget(uint64_t addr);

/* The stub's managed memory (memory_more.c): 1 when [p, p+count) lies in one of its
 * allocations mapped here; the hints on it, remembered for cuMemRangeGetAttribute (device
 * ordinals as the session numbers them); forgotten when the mapping goes. */
int tfw_managed_here(const struct tfw_session *s, uint64_t p, uint64_t count);
CUresult tfw_advice_apply(uint64_t p, uint64_t count, CUmem_advise advice, CUmemLocation loc);
CUresult tfw_advice_prefetched(uint64_t p, uint64_t count, CUmemLocation loc);
void tfw_advice_forget(uint64_t p, uint64_t count);
/* Answers cuMemRangeGetAttribute for the stub's managed memory, the backend for the rest. */
void tfw_memrange_install(struct tfw_session *s);

/* 1 when the stream of the current request (last_stream) is capturing a graph. */
int tfw_capturing(struct tfw_session *s);

/* Interposes `fn` over the backend table's entry `sym` where the backend has one: how the vGPU
 * ledger, device translation and IPC bookkeeping sit between the handlers and the driver. The
 * surface test reads these lines to check every call that takes memory has its wrapper. */
#define TFW_WRAP(be, sym, fn) do { if ((be)->sym) (be)->sym = (fn); } while (0)

/* An allocation the vGPU's memory limit refused on the backend's device dev, `over` bytes past
 * the budget: counted for the program's asynchronous notifications (misc.c). */
void tfw_note_over_budget(CUdevice dev, uint64_t over);

/* The handler for a call id (NULL when unknown). */
tfw_handler tfw_handler_for(uint32_t id);

/* Hand-written handlers (custom.c), named by calls.def TF_CUSTOM entries. */
#define TF_CUSTOM(sym, base, ver, mode) \
    CUresult tfw_custom_##sym(struct tfw_session *s, struct tfp_reader *in, struct tfp_writer *out);
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"

/* Internal calls (internal.c), named by calls.def TF_INTERNAL entries. */
#define TF_INTERNAL(sym, mode, ...) CUresult tfw_##sym(TFP_PARAMS(__VA_ARGS__));
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"


#endif
