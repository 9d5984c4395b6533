/*
 * softgpu process state: configuration from the environment (SOFTGPU_DEVICES, SOFTGPU_SMS,
 * SOFTGPU_MEMORY, SOFTGPU_THREADS, SOFTGPU_LOG), logging, the handle registry, device-ordinal
 * checks, cuInit, cuDriverGetVersion and cuGetExportTable. Calls memory.c (address-space
 * setup), context.c and mempool.c (per-device setup), the PTX interpreter (thread pool) and
 * exporttab (registration of our entry points, the tables themselves).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "logs.h"
#include "softgpu.h"
#ifdef SG_HAVE_EXPORTTAB
#include "exporttab.h"
#endif

struct sg_global sg;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CUresult init_result = CUDA_ERROR_NOT_INITIALIZED;
static _Atomic int init_done;
static int log_level = SG_LOG_WARN;

/* ---- logging ------------------------------------------------------------------------------ */

void sg_log(enum sg_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    if ((int)level > log_level && level > SG_LOG_WARN)
        return;
    char line[1024];
    int n = snprintf(line, sizeof line, "softgpu: %s: ", names[level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    /* errors and warnings are the driver's log (cuLogs*), whatever goes to stderr */
    if (level <= SG_LOG_WARN)
        dk_logs_add(level == SG_LOG_ERROR ? CU_LOG_LEVEL_ERROR : CU_LOG_LEVEL_WARNING, line + n);
    if ((int)level > log_level)
        return;
    size_t len = strlen(line);
    line[len++] = '\n';
    /* one write per line so lines from several threads do not interleave */
    ssize_t w = write(2, line, len);
    (void)w;
}

static void config_warn(const char *msg) { sg_log(SG_LOG_WARN, "%s", msg); }

/* ---- time ---------------------------------------------------------------------------------- */

uint64_t sg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double sg_now_ms(void) { return (double)sg_now_ns() / 1e6; }

/* ---- handle registry: open addressing, pointer -> kind ------------------------------------- */

struct reg_slot {
    const void *h;
    int kind; /* 0 empty, -1 tombstone */
};
static struct reg_slot *reg;
static size_t reg_cap, reg_used; /* used counts live + tombstones */
static pthread_rwlock_t reg_lock = PTHREAD_RWLOCK_INITIALIZER;

static size_t reg_hash(const void *h)
{
    uint64_t x = (uint64_t)(uintptr_t)h;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

static void reg_grow(void)
{
    size_t ncap = reg_cap ? reg_cap * 2 : 1024;
    struct reg_slot *n = calloc(ncap, sizeof *n);
    if (!n)
        abort(); /* cannot keep the handle table consistent without memory */
    for (size_t i = 0; i < reg_cap; i++) {
        if (reg[i].kind <= 0)
            continue;
        size_t j = reg_hash(reg[i].h) & (ncap - 1);
        while (n[j].kind)
            j = (j + 1) & (ncap - 1);
        n[j] = reg[i];
    }
    free(reg);
    reg = n;
    reg_cap = ncap;
    size_t live = 0;
    for (size_t i = 0; i < ncap; i++)
        live += n[i].kind > 0;
    reg_used = live;
}

void sg_handle_add(const void *h, enum sg_kind kind)
{
    pthread_rwlock_wrlock(&reg_lock);
    if ((reg_used + 1) * 2 >= reg_cap)
        reg_grow();
    size_t j = reg_hash(h) & (reg_cap - 1);
    while (reg[j].kind > 0 && reg[j].h != h)
        j = (j + 1) & (reg_cap - 1);
    if (reg[j].kind == 0)
        reg_used++;
    reg[j].h = h;
    reg[j].kind = (int)kind;
    pthread_rwlock_unlock(&reg_lock);
}

static ssize_t reg_find(const void *h)
{
    if (!reg_cap)
        return -1;
    size_t j = reg_hash(h) & (reg_cap - 1);
    for (size_t n = 0; n < reg_cap && reg[j].kind; n++) {
        if (reg[j].kind > 0 && reg[j].h == h)
            return (ssize_t)j;
        j = (j + 1) & (reg_cap - 1);
    }
    return -1;
}

void sg_handle_del(const void *h)
{
    pthread_rwlock_wrlock(&reg_lock);
    ssize_t j = reg_find(h);
    if (j >= 0)
        reg[j].kind = -1;
    pthread_rwlock_unlock(&reg_lock);
}

int sg_handle_is(const void *h, enum sg_kind kind)
{
    if (!h)
        return 0;
    pthread_rwlock_rdlock(&reg_lock);
    ssize_t j = reg_find(h);
    int ok = j >= 0 && reg[j].kind == (int)kind;
    pthread_rwlock_unlock(&reg_lock);
    return ok;
}

CUresult sg_handle_get(const void *h, enum sg_kind kind, CUresult bad, void **out)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!sg_handle_is(h, kind))
        return bad;
    *out = (void *)h;
    return CUDA_SUCCESS;
}

#ifdef SG_HAVE_EXPORTTAB
static CUresult et_ctx_get_current(CUcontext *ctx) { return cuCtxGetCurrent(ctx); }
static CUresult et_device_get_uuid(CUuuid *u, CUdevice d) { return cuDeviceGetUuid_v2(u, d); }
static CUresult et_get_attribute(int *v, CUdevice_attribute a, CUdevice d)
{
    return cuDeviceGetAttribute(v, a, d);
}
#endif

static void init_once_body(void)
{
    struct sg_config cfg;
    log_level = SG_LOG_ERROR;
    sg_config_load(&cfg, NULL);
    log_level = cfg.log_level;
    sg_config_load(&cfg, config_warn); /* again, now that warnings can be shown */
    sg.ndev = cfg.ndev;
    sg.sms = cfg.sms;
    sg.cc_major = cfg.cc_major;
    sg.cc_minor = cfg.cc_minor;
    sg.threads = cfg.threads;
    sg.mem_bytes = cfg.mem_bytes;
    memcpy(sg.ns, cfg.ns, sizeof sg.ns);
    CUresult r = sg_mem_init();
    if (r != CUDA_SUCCESS) {
        init_result = r;
        return;
    }
    sg.pool = ptx_pool_create(sg.threads);
    if (!sg.pool)
        sg_log(SG_LOG_WARN, "the PTX interpreter has no thread pool: kernel launches will fail");
    else if (cfg.pin_sms && ptx_pool_pin(sg.pool) != 0)
        sg_log(SG_LOG_WARN, "SOFTGPU_PIN_SMS: the pool threads could not all be pinned");
    for (int i = 0; i < sg.ndev; i++) {
        struct sg_device *d = &sg.dev[i];
        d->ordinal = i;
        d->mem_total = sg.mem_bytes;
        sg_device_uuid((unsigned char *)d->uuid.bytes, i);
        sg_ctx_init_device(d);
        sg_mempool_init_device(d);
    }
    sg_shm_open_devices(); /* the shared devices' capacities replace mem_total */
#ifdef SG_HAVE_EXPORTTAB
    static const struct exporttab_driver drv = {
        .driver_get_version = cuDriverGetVersion,
        .device_get_count = cuDeviceGetCount,
        .device_get_uuid = et_device_get_uuid,
        .device_get_attribute = et_get_attribute,
        .primary_ctx_handle = sg_primary_ctx_handle,
        .ctx_get_current = et_ctx_get_current,
        .ctx_get_id = cuCtxGetId,
        .module_function_count = cuModuleGetFunctionCount,
        .module_functions = cuModuleEnumerateFunctions,
        .stream_get_id = cuStreamGetId,
    };
    exporttab_init(&drv);
#endif
    sg_log(SG_LOG_INFO, "%d device(s), %d SMs, %llu bytes each, %d host threads", sg.ndev,
           sg.sms, (unsigned long long)sg.mem_bytes, sg.threads);
    init_result = CUDA_SUCCESS;
    atomic_store(&init_done, 1);
}

CUresult sg_check_init(void)
{
    if (atomic_load_explicit(&init_done, memory_order_acquire))
        return CUDA_SUCCESS;
    return init_result == CUDA_SUCCESS ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}

CUresult sg_device_check(CUdevice dev)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    return dev >= 0 && dev < sg.ndev ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

CUresult sg_device_arg(CUdevice dev, int args_ok)
{
    return args_ok ? sg_device_check(dev) : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuInit(unsigned int flags)
{
    if (flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_once(&init_once, init_once_body);
    if (init_result == CUDA_SUCCESS && sg.ndev == 0)
        return CUDA_ERROR_NO_DEVICE;
    return init_result;
}

CUresult cuDriverGetVersion(int *version)
{
    if (!version)
        return CUDA_ERROR_INVALID_VALUE;
    *version = SG_DRIVER_VERSION;
    return CUDA_SUCCESS;
}

/* cudart's private tables (src/exporttab; docs/export-tables.md). */
CUresult cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId)
{
    if (!ppExportTable || !pExportTableId)
        return CUDA_ERROR_INVALID_VALUE;
#ifdef SG_HAVE_EXPORTTAB
    /* cudart asks before cuInit: make sure exporttab_init has been given our functions */
    cuInit(0);
    return exporttab_get(ppExportTable, pExportTableId);
#else
    *ppExportTable = NULL;
    return CUDA_ERROR_NOT_SUPPORTED;
#endif
}
