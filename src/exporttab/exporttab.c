/*
 * The export tables that CUDA 13 cudart asks a driver for with cuGetExportTable, with their
 * slot layouts and size words (facts: docs/export-tables.md). Owns the static
 * tables, the driver callbacks given to exporttab_init, the TOOLS hook buffers and the
 * INTEGRITY_CHECK answer. Calls only the driver callbacks, cls.c, md2.c, libc and pthreads.
 *
 * Slots whose meaning is unknown hold a function that reports the call once on stderr and
 * answers CUDA_ERROR_NOT_SUPPORTED: cudart 13.0 never calls them, and if a future one does the
 * message names the slot instead of leaving a NULL to jump through.
 */
#include "exporttab.h"

#include "cls.h"
#include "md2.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct exporttab_driver drv;
static _Atomic int drv_ready;

void exporttab_init(const struct exporttab_driver *d)
{
    if (!d)
        return;
    drv = *d;
    atomic_store_explicit(&drv_ready, 1, memory_order_release);
}

static const struct exporttab_driver *driver(void)
{
    return atomic_load_explicit(&drv_ready, memory_order_acquire) ? &drv : NULL;
}

/* ---- slots of unknown meaning ------------------------------------------------------------ */

#define UNKNOWN_SLOT(table, slot)                                                              \
    static CUresult unknown_##table##_##slot(void)                                             \
    {                                                                                          \
        static _Atomic int said;                                                               \
        if (!atomic_exchange(&said, 1))                                                        \
            fprintf(stderr, "exporttab: unknown slot %d of %s called; answering "             \
                            "CUDA_ERROR_NOT_SUPPORTED\n", slot, #table);                       \
        return CUDA_ERROR_NOT_SUPPORTED;                                                       \
    }

UNKNOWN_SLOT(CUDART_INTERFACE, 3)
UNKNOWN_SLOT(CUDART_INTERFACE, 4)
UNKNOWN_SLOT(CUDART_INTERFACE, 5)
UNKNOWN_SLOT(CUDART_INTERFACE, 9)
UNKNOWN_SLOT(CUDART_INTERFACE, 10)
UNKNOWN_SLOT(CUDART_INTERFACE, 11)
UNKNOWN_SLOT(TOOLS_RUNTIME_CALLBACK_HOOKS, 1)
UNKNOWN_SLOT(TOOLS_RUNTIME_CALLBACK_HOOKS, 3)
UNKNOWN_SLOT(TOOLS_RUNTIME_CALLBACK_HOOKS, 4)
UNKNOWN_SLOT(TOOLS_RUNTIME_CALLBACK_HOOKS, 5)
UNKNOWN_SLOT(TOOLS_TLS, 1)
UNKNOWN_SLOT(TOOLS_TLS, 3)
UNKNOWN_SLOT(CONTEXT_CHECKS, 1)
UNKNOWN_SLOT(INTEGRITY_CHECK, 2)

#define SLOT(fn) ((void *)(fn))
#define SIZE_WORD(nslots) ((void *)(uintptr_t)((nslots) * sizeof(void *)))

/* ---- CUDART_INTERFACE -------------------------------------------------------------------- */

static CUresult load_fatbin(CUmodule *out, const void *image)
{
    const struct exporttab_driver *d = driver();
    if (!out || !image)
        return CUDA_ERROR_INVALID_VALUE;
    if (!d || !d->module_load_data)
        return CUDA_ERROR_NOT_SUPPORTED;
    return d->module_load_data(out, image);
}

static CUresult get_module_from_cubin(CUmodule *out, const void *wrapper)
{
    return load_fatbin(out, wrapper);
}

static CUresult get_primary_context(CUcontext *out, CUdevice dev)
{
    const struct exporttab_driver *d = driver();
    if (!out)
        return CUDA_ERROR_INVALID_VALUE;
    if (!d || !d->primary_ctx_handle)
        return CUDA_ERROR_NOT_INITIALIZED;
    return d->primary_ctx_handle(out, dev);
}

/* The extra arguments' meaning is unknown; only the all-default form is served. */
static CUresult get_module_from_cubin_ext1(CUmodule *out, const void *wrapper, void *a3,
                                           void *a4, unsigned a5)
{
    if (a3 || a4 || a5)
        return CUDA_ERROR_NOT_SUPPORTED;
    return load_fatbin(out, wrapper);
}

static void cudart_fn7(size_t unused)
{
    (void)unused;
}

/* Note the swapped order: a raw fatbin container first, then the output. */
static CUresult get_module_from_cubin_ext2(const void *fatbin, CUmodule *out, void *a3,
                                           void *a4, unsigned a5)
{
    if (a3 || a4 || a5)
        return CUDA_ERROR_NOT_SUPPORTED;
    return load_fatbin(out, fatbin);
}

/* The real driver loads its PTX compiler here; ours needs nothing loaded. */
static CUresult load_compilers(void)
{
    return CUDA_SUCCESS;
}

static void *cudart_interface[13] = {
    SIZE_WORD(13),
    SLOT(get_module_from_cubin),
    SLOT(get_primary_context),
    SLOT(unknown_CUDART_INTERFACE_3),
    SLOT(unknown_CUDART_INTERFACE_4),
    SLOT(unknown_CUDART_INTERFACE_5),
    SLOT(get_module_from_cubin_ext1),
    SLOT(cudart_fn7),
    SLOT(get_module_from_cubin_ext2),
    SLOT(unknown_CUDART_INTERFACE_9),
    SLOT(unknown_CUDART_INTERFACE_10),
    SLOT(unknown_CUDART_INTERFACE_11),
    SLOT(load_compilers),
};

/* ---- TOOLS_RUNTIME_CALLBACK_HOOKS and TOOLS_TLS ------------------------------------------ */

/* All-zero buffers mean "no profiling tool attached". cudart needs the counts to be at least
 * 600 and 14 (smaller ones crash it); the buffers are larger than the counts in case the
 * elements are wider than 4 bytes. */
#define HOOKS_BUFFER1_COUNT 1024
#define HOOKS_BUFFER2_COUNT 14
static uint64_t hooks_buffer1[HOOKS_BUFFER1_COUNT];
static uint64_t hooks_buffer2[64];

static void hooks_get_buffer1(void **ptr, size_t *count)
{
    if (ptr)
        *ptr = hooks_buffer1;
    if (count)
        *count = HOOKS_BUFFER1_COUNT;
}

static void hooks_get_buffer2(void **ptr, size_t *count)
{
    if (ptr)
        *ptr = hooks_buffer2;
    if (count)
        *count = HOOKS_BUFFER2_COUNT;
}

static void *tools_hooks[7] = {
    SIZE_WORD(7),
    SLOT(unknown_TOOLS_RUNTIME_CALLBACK_HOOKS_1),
    SLOT(hooks_get_buffer1),
    SLOT(unknown_TOOLS_RUNTIME_CALLBACK_HOOKS_3),
    SLOT(unknown_TOOLS_RUNTIME_CALLBACK_HOOKS_4),
    SLOT(unknown_TOOLS_RUNTIME_CALLBACK_HOOKS_5),
    SLOT(hooks_get_buffer2),
};

/* Slot 2: the calling thread's current context. cuBLAS hands the answer to TOOLS_CONTEXT's
 * stream slots (51, 39) as their context, and CUPTI's profiler fills a NULL `ctx` of its
 * parameter structs with it (docs/export-tables.md). With no current context there is nothing
 * to answer: CUDA_ERROR_INVALID_CONTEXT (our choice; cuBLAS then fails the call cleanly). */
static CUresult resolve_ctx(CUcontext *ctx);

static CUresult tools_tls_current_ctx(CUcontext *out)
{
    if (!out)
        return CUDA_ERROR_INVALID_VALUE;
    CUcontext cur = NULL;
    CUresult rc = resolve_ctx(&cur);
    *out = rc == CUDA_SUCCESS ? cur : NULL;
    return rc;
}

static void *tools_tls[4] = {
    SIZE_WORD(4),
    SLOT(unknown_TOOLS_TLS_1),
    SLOT(tools_tls_current_ctx),
    SLOT(unknown_TOOLS_TLS_3),
};

/* ---- CONTEXT_LOCAL_STORAGE_INTERFACE_V0301 (no size word) ---------------------------------- */

/* NULL and (CUcontext)-1 both mean the calling thread's current context. */
static CUresult resolve_ctx(CUcontext *ctx)
{
    if (*ctx && *ctx != (CUcontext)(intptr_t)-1)
        return CUDA_SUCCESS;
    const struct exporttab_driver *d = driver();
    if (!d || !d->ctx_get_current)
        return CUDA_ERROR_NOT_INITIALIZED;
    CUcontext cur = NULL;
    CUresult rc = d->ctx_get_current(&cur);
    if (rc != CUDA_SUCCESS)
        return rc;
    if (!cur)
        return CUDA_ERROR_INVALID_CONTEXT;
    *ctx = cur;
    return CUDA_SUCCESS;
}

static CUresult cls_slot_put(CUcontext ctx, void *key, void *value, cls_dtor_fn dtor)
{
    CUresult rc = resolve_ctx(&ctx);
    return rc == CUDA_SUCCESS ? cls_put(ctx, key, value, dtor) : rc;
}

static CUresult cls_slot_delete(CUcontext ctx, void *key)
{
    CUresult rc = resolve_ctx(&ctx);
    return rc == CUDA_SUCCESS ? cls_delete(ctx, key) : rc;
}

static CUresult cls_slot_get(void **value, CUcontext ctx, void *key)
{
    if (!value)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = resolve_ctx(&ctx);
    return rc == CUDA_SUCCESS ? cls_get(value, ctx, key) : rc;
}

static void *context_local_storage[4] = {
    SLOT(cls_slot_put),
    SLOT(cls_slot_delete),
    SLOT(cls_slot_get),
    NULL,
};

void exporttab_context_destroyed(CUcontext ctx)
{
    if (ctx)
        cls_context_destroyed(ctx);
}

/* ---- CONTEXT_CHECKS ---------------------------------------------------------------------- */

/* cudart asks before bring-up and synchronize; 0 in *flags means "nothing special". */
static CUresult context_check(CUcontext ctx, uint32_t *flags, const void **unused)
{
    (void)ctx;
    (void)unused;
    if (flags)
        *flags = 0;
    return CUDA_SUCCESS;
}

static uint32_t context_checks_fn3(void)
{
    return 0;
}

static void *context_checks[4] = {
    SIZE_WORD(4),
    SLOT(unknown_CONTEXT_CHECKS_1),
    SLOT(context_check),
    SLOT(context_checks_fn3),
};

/* ---- INTEGRITY_CHECK --------------------------------------------------------------------- */

static const unsigned char integrity_key[16] = {
    0x14, 0x6a, 0xdd, 0xae, 0x53, 0xa9, 0xa7, 0x52,
    0xaa, 0x08, 0x41, 0x36, 0x0b, 0xf5, 0x5a, 0x9f,
};

static void *integrity_table[3];

/* The 48-byte record that opens the hashed message (docs/export-tables.md,
 * "INTEGRITY_CHECK"), packed as cudart lays it out. */
struct __attribute__((packed)) integrity_header {
    uint32_t driver_version;
    uint32_t query_version;
    uint32_t pid;
    uint32_t thread_low;
    uint64_t cudart_interface;
    uint64_t integrity_table;
    uint64_t integrity_fn;
    uint64_t unix_seconds;
};
_Static_assert(sizeof(struct integrity_header) == 48, "integrity header is 48 bytes");

/* One 28-byte record per device; the handle of device i is i (as cuDeviceGet returns). */
struct __attribute__((packed)) integrity_device {
    unsigned char uuid[16];
    int32_t pci_domain;
    int32_t pci_bus;
    int32_t pci_device;
};
_Static_assert(sizeof(struct integrity_device) == 28, "integrity device record is 28 bytes");

static CUresult integrity_device_record(const struct exporttab_driver *d, int dev,
                                        struct integrity_device *rec)
{
    CUuuid uuid;
    int domain, bus, device;
    CUresult rc;

    if ((rc = d->device_get_uuid(&uuid, dev)) != CUDA_SUCCESS ||
        (rc = d->device_get_attribute(&domain, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, dev)) ||
        (rc = d->device_get_attribute(&bus, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, dev)) ||
        (rc = d->device_get_attribute(&device, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, dev)))
        return rc;
    memcpy(rec->uuid, uuid.bytes, sizeof(rec->uuid));
    rec->pci_domain = domain;
    rec->pci_bus = bus;
    rec->pci_device = device;
    return CUDA_SUCCESS;
}

static CUresult integrity_hmac(uint32_t version, uint64_t unix_seconds, uint64_t result[2])
{
    const struct exporttab_driver *d = driver();
    if (!d || !d->driver_get_version || !d->device_get_count || !d->device_get_uuid ||
        !d->device_get_attribute)
        return CUDA_ERROR_NOT_INITIALIZED;

    int driver_version = 0, count = 0;
    CUresult rc;
    if ((rc = d->driver_get_version(&driver_version)) != CUDA_SUCCESS ||
        (rc = d->device_get_count(&count)) != CUDA_SUCCESS)
        return rc;

    struct integrity_header h = {
        .driver_version = (uint32_t)driver_version,
        .query_version = version,
        .pid = (uint32_t)getpid(),
        .thread_low = (uint32_t)(uintptr_t)pthread_self(),
        .cudart_interface = (uint64_t)(uintptr_t)cudart_interface,
        .integrity_table = (uint64_t)(uintptr_t)integrity_table,
        .integrity_fn = (uint64_t)(uintptr_t)integrity_table[1],
        .unix_seconds = unix_seconds,
    };
    struct hmac_md2_ctx hmac;
    exporttab_hmac_md2_init(&hmac, integrity_key);
    exporttab_hmac_md2_update(&hmac, &h, sizeof(h));
    for (int dev = 0; dev < count; dev++) {
        struct integrity_device rec;
        if ((rc = integrity_device_record(d, dev, &rec)) != CUDA_SUCCESS)
            return rc;
        exporttab_hmac_md2_update(&hmac, &rec, sizeof(rec));
    }
    unsigned char digest[MD2_DIGEST];
    exporttab_hmac_md2_final(&hmac, digest);
    memcpy(result, digest, sizeof(digest));
    return CUDA_SUCCESS;
}

/* cudart asks three times (versions ending in 0, 1, 2); only the third answer is verified,
 * the first two are the constants every known driver gives. */
static CUresult integrity_check(uint32_t version, uint64_t unix_seconds, uint64_t result[2])
{
    if (!result)
        return CUDA_ERROR_INVALID_VALUE;
    switch (version % 10) {
    case 0:
        result[0] = 0x3341181C03CB675Cull;
        result[1] = 0x8ED383AA1F4CD1E8ull;
        return CUDA_SUCCESS;
    case 1:
        result[0] = 0x1841181C03CB675Cull;
        result[1] = 0x8ED383AA1F4CD1E8ull;
        return CUDA_SUCCESS;
    case 2:
        return integrity_hmac(version, unix_seconds, result);
    default:
        return CUDA_ERROR_NOT_SUPPORTED;
    }
}

static void *integrity_table[3] = {
    SIZE_WORD(3),
    SLOT(integrity_check),
    SLOT(unknown_INTEGRITY_CHECK_2),
};

/* ---- TOOLS_CONTEXT and TOOLS_MODULE (NVIDIA's libraries) ---------------------------------- */

/* cuBLAS, cuBLASLt and cuFFT ask for these two tables (docs/export-tables.md, "Tables the
 * libraries add"). Of their many slots TOOLS_CONTEXT's 4, 39 and 51 and TOOLS_MODULE's 7 have
 * an established meaning; every other slot answers CUDA_ERROR_NOT_SUPPORTED and says once
 * which slot was called. */
static CUresult unknown_slot(const char *table, int slot)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static struct { const char *table; int slot; } said[64];
    static int nsaid;
    int seen = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < nsaid && !seen; i++)
        seen = said[i].table == table && said[i].slot == slot;
    if (!seen && nsaid < 64) {
        said[nsaid].table = table;
        said[nsaid++].slot = slot;
    }
    pthread_mutex_unlock(&lock);
    if (!seen)
        fprintf(stderr, "exporttab: unknown slot %d of %s called; answering "
                        "CUDA_ERROR_NOT_SUPPORTED\n", slot, table);
    return CUDA_ERROR_NOT_SUPPORTED;
}

#define U(t, n) static CUresult unk_##t##_##n(void) { return unknown_slot(#t, n); }
#define U10(t, d) U(t, d##0) U(t, d##1) U(t, d##2) U(t, d##3) U(t, d##4) U(t, d##5) \
                  U(t, d##6) U(t, d##7) U(t, d##8) U(t, d##9)
#define P(t, n) SLOT(unk_##t##_##n)
#define P10(t, d) P(t, d##0), P(t, d##1), P(t, d##2), P(t, d##3), P(t, d##4), P(t, d##5), \
                  P(t, d##6), P(t, d##7), P(t, d##8), P(t, d##9)

/* TOOLS_CONTEXT: 95 slots (the size word a 13.x driver reports). */
U(TOOLS_CONTEXT, 1) U(TOOLS_CONTEXT, 2) U(TOOLS_CONTEXT, 3) U(TOOLS_CONTEXT, 5)
U(TOOLS_CONTEXT, 6) U(TOOLS_CONTEXT, 7) U(TOOLS_CONTEXT, 8) U(TOOLS_CONTEXT, 9)
U10(TOOLS_CONTEXT, 1) U10(TOOLS_CONTEXT, 2)
U(TOOLS_CONTEXT, 30) U(TOOLS_CONTEXT, 31) U(TOOLS_CONTEXT, 32) U(TOOLS_CONTEXT, 33)
U(TOOLS_CONTEXT, 34) U(TOOLS_CONTEXT, 35) U(TOOLS_CONTEXT, 36) U(TOOLS_CONTEXT, 37)
U(TOOLS_CONTEXT, 38) U10(TOOLS_CONTEXT, 4)
U(TOOLS_CONTEXT, 50) U(TOOLS_CONTEXT, 52) U(TOOLS_CONTEXT, 53) U(TOOLS_CONTEXT, 54)
U(TOOLS_CONTEXT, 55) U(TOOLS_CONTEXT, 56) U(TOOLS_CONTEXT, 57) U(TOOLS_CONTEXT, 58)
U(TOOLS_CONTEXT, 59) U10(TOOLS_CONTEXT, 6) U10(TOOLS_CONTEXT, 7) U10(TOOLS_CONTEXT, 8)
U(TOOLS_CONTEXT, 90) U(TOOLS_CONTEXT, 91) U(TOOLS_CONTEXT, 92) U(TOOLS_CONTEXT, 93)
U(TOOLS_CONTEXT, 94)

/* Slot 4: the context's unique id, what cuCtxGetId answers (NULL: the current context). */
static CUresult tools_context_id(CUcontext ctx, unsigned long long *id)
{
    const struct exporttab_driver *d = driver();
    if (!id)
        return CUDA_ERROR_INVALID_VALUE;
    if (!d || !d->ctx_get_id)
        return CUDA_ERROR_NOT_SUPPORTED;
    CUresult rc = resolve_ctx(&ctx);
    return rc == CUDA_SUCCESS ? d->ctx_get_id(ctx, id) : rc;
}

/* The special stream handles (NULL, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD) name a stream
 * of the current context only; a stream slot asked about another context cannot answer. */
static int special_stream(CUstream s)
{
    return s == NULL || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD;
}

static CUresult stream_ctx_check(CUcontext ctx, CUstream s)
{
    if (!special_stream(s) || !ctx || ctx == (CUcontext)(intptr_t)-1)
        return CUDA_SUCCESS;
    CUcontext cur = NULL;
    CUresult rc = resolve_ctx(&cur);
    return rc != CUDA_SUCCESS ? rc : cur == ctx ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

/* Slot 51: the stream a runtime handle means in ctx. A NULL handle is the legacy default
 * stream, or the thread's per-thread default stream when per_thread is set (cuBLAS sets it
 * for cudaStreamPerThread, CUPTI's cuptiGetStreamIdEx passes its perThreadStream flag).
 * NVIDIA's answer is an internal object that only slot 39 reads; ours is a driver handle. */
static CUresult tools_context_stream(CUcontext ctx, CUstream stream, CUstream *out,
                                     int per_thread)
{
    if (!out)
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = stream_ctx_check(ctx, stream);
    if (rc != CUDA_SUCCESS)
        return rc;
    *out = stream ? stream : per_thread ? CU_STREAM_PER_THREAD : CU_STREAM_LEGACY;
    return CUDA_SUCCESS;
}

/* Slot 39: the id of a stream slot 51 answered, unique within its context (cuStreamGetId). */
static CUresult tools_context_stream_id(CUcontext ctx, CUstream stream, unsigned long long *id)
{
    const struct exporttab_driver *d = driver();
    if (!id)
        return CUDA_ERROR_INVALID_VALUE;
    if (!d || !d->stream_get_id)
        return CUDA_ERROR_NOT_SUPPORTED;
    CUresult rc = stream_ctx_check(ctx, stream);
    return rc == CUDA_SUCCESS ? d->stream_get_id(stream, id) : rc;
}

static void *tools_context[95] = {
    SIZE_WORD(95),
    P(TOOLS_CONTEXT, 1), P(TOOLS_CONTEXT, 2), P(TOOLS_CONTEXT, 3), SLOT(tools_context_id),
    P(TOOLS_CONTEXT, 5), P(TOOLS_CONTEXT, 6), P(TOOLS_CONTEXT, 7), P(TOOLS_CONTEXT, 8),
    P(TOOLS_CONTEXT, 9),
    P10(TOOLS_CONTEXT, 1), P10(TOOLS_CONTEXT, 2),
    P(TOOLS_CONTEXT, 30), P(TOOLS_CONTEXT, 31), P(TOOLS_CONTEXT, 32), P(TOOLS_CONTEXT, 33),
    P(TOOLS_CONTEXT, 34), P(TOOLS_CONTEXT, 35), P(TOOLS_CONTEXT, 36), P(TOOLS_CONTEXT, 37),
    P(TOOLS_CONTEXT, 38), SLOT(tools_context_stream_id), P10(TOOLS_CONTEXT, 4),
    P(TOOLS_CONTEXT, 50), SLOT(tools_context_stream), P(TOOLS_CONTEXT, 52),
    P(TOOLS_CONTEXT, 53), P(TOOLS_CONTEXT, 54), P(TOOLS_CONTEXT, 55), P(TOOLS_CONTEXT, 56),
    P(TOOLS_CONTEXT, 57), P(TOOLS_CONTEXT, 58), P(TOOLS_CONTEXT, 59),
    P10(TOOLS_CONTEXT, 6), P10(TOOLS_CONTEXT, 7), P10(TOOLS_CONTEXT, 8),
    P(TOOLS_CONTEXT, 90), P(TOOLS_CONTEXT, 91), P(TOOLS_CONTEXT, 92), P(TOOLS_CONTEXT, 93),
    P(TOOLS_CONTEXT, 94),
};

/* TOOLS_MODULE: 64 slots (the highest slot public traces name is 55); slot 7 established. */
U(TOOLS_MODULE, 1) U(TOOLS_MODULE, 2) U(TOOLS_MODULE, 3) U(TOOLS_MODULE, 4)
U(TOOLS_MODULE, 5) U(TOOLS_MODULE, 6) U(TOOLS_MODULE, 8) U(TOOLS_MODULE, 9)
U10(TOOLS_MODULE, 1) U10(TOOLS_MODULE, 2) U10(TOOLS_MODULE, 3) U10(TOOLS_MODULE, 4)
U10(TOOLS_MODULE, 5) U(TOOLS_MODULE, 60) U(TOOLS_MODULE, 61) U(TOOLS_MODULE, 62)
U(TOOLS_MODULE, 63)

/* Slot 7: calls fn(arg, f) for each function f of the module, in order, and answers 1 when
 * it called fn at least once. cuFFT uses it, with the context current, to find the one kernel
 * of a module it loaded, and takes only an answer of 1 as success; whether 1 is a count or a
 * status is not established (docs/export-tables.md). */
static CUresult tools_module_functions(CUcontext ctx, CUmodule mod,
                                       void (*fn)(void *arg, CUfunction f), void *arg)
{
    const struct exporttab_driver *d = driver();
    (void)ctx;
    if (!mod || !fn)
        return CUDA_ERROR_INVALID_VALUE;
    if (!d || !d->module_function_count || !d->module_functions)
        return CUDA_ERROR_NOT_SUPPORTED;
    unsigned n = 0;
    CUresult rc = d->module_function_count(&n, mod);
    if (rc != CUDA_SUCCESS || n == 0)
        return rc != CUDA_SUCCESS ? rc : CUDA_ERROR_NOT_FOUND;
    CUfunction *f = calloc(n, sizeof *f);
    if (!f)
        return CUDA_ERROR_OUT_OF_MEMORY;
    rc = d->module_functions(f, n, mod);
    for (unsigned i = 0; rc == CUDA_SUCCESS && i < n; i++)
        fn(arg, f[i]);
    free(f);
    return rc != CUDA_SUCCESS ? rc : (CUresult)1;
}

static void *tools_module[64] = {
    SIZE_WORD(64),
    P(TOOLS_MODULE, 1), P(TOOLS_MODULE, 2), P(TOOLS_MODULE, 3), P(TOOLS_MODULE, 4),
    P(TOOLS_MODULE, 5), P(TOOLS_MODULE, 6), SLOT(tools_module_functions), P(TOOLS_MODULE, 8),
    P(TOOLS_MODULE, 9),
    P10(TOOLS_MODULE, 1), P10(TOOLS_MODULE, 2), P10(TOOLS_MODULE, 3), P10(TOOLS_MODULE, 4),
    P10(TOOLS_MODULE, 5),
    P(TOOLS_MODULE, 60), P(TOOLS_MODULE, 61), P(TOOLS_MODULE, 62), P(TOOLS_MODULE, 63),
};

/* ---- cuGetExportTable -------------------------------------------------------------------- */

struct known_table {
    const char *name;
    const char *uuid_hex; /* the 16 UUID bytes in memory order, as lowercase hex */
    void **table;
};

static const struct known_table known_tables[] = {
    { "CUDART_INTERFACE", "6bd5fb6c5bf4e74a8987d93912fd9df9", cudart_interface },
    { "TOOLS_RUNTIME_CALLBACK_HOOKS", "a094798c2e742e7493f20800200c0a66", tools_hooks },
    { "TOOLS_TLS", "42d85a8123f6cb478298f6e78a3aecdc", tools_tls },
    { "CONTEXT_LOCAL_STORAGE_INTERFACE_V0301", "c693336e1121df11a8c368f355d89593",
      context_local_storage },
    { "CONTEXT_CHECKS", "263e88607cd2614392f6bbd5006dfa7e", context_checks },
    { "INTEGRITY_CHECK", "d4082055bde6704b8d34ba123c66e1f2", integrity_table },
    { "TOOLS_CONTEXT", "21318c60971432488ca641ff7324c8f2", tools_context },
    { "TOOLS_MODULE", "6e163fbeb958444d835ce182aff1991e", tools_module },
};

static const struct known_table *find_table(const CUuuid *id)
{
    if (!id)
        return NULL;
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)id->bytes[i]);
    for (size_t i = 0; i < sizeof(known_tables) / sizeof(known_tables[0]); i++)
        if (strcmp(known_tables[i].uuid_hex, hex) == 0)
            return &known_tables[i];
    return NULL;
}

CUresult exporttab_get(const void **table, const CUuuid *id)
{
    if (!table)
        return CUDA_ERROR_INVALID_VALUE;
    const struct known_table *t = find_table(id);
    *table = t ? (const void *)t->table : NULL;
    return t ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

const char *exporttab_name(const CUuuid *id)
{
    const struct known_table *t = find_table(id);
    return t ? t->name : NULL;
}
