/*
 * The worker's side of calls_misc.def: GPU core dumps (tfi_coredump_arm/take), the vGPU's
 * over-budget refusals for the program's asynchronous notifications (tfi_over_budget), and the
 * cluster occupancy queries (TF_CUSTOM decoders).
 *
 * Core dumps: the tenant's dump settings live in its program (src/driverkit/coredump.c). Armed,
 * the worker has its backend dump GPU exceptions into a memfd of this process (the path
 * /proc/self/fd/N), with CU_COREDUMP_SKIP_ABORT so that no exception ever aborts the worker,
 * and hands the dump's bytes to the stub, which writes the file the program asked for. The
 * tenant never names a path the worker writes. softgpu's dump starts with the driver kit's
 * header; the stub writes its own, so the bytes before the first "error:" line stay here. A
 * backend dump longer than the stub's capacity (64 KiB) arrives cut.
 *
 * Notifications: enforce.c reports each allocation its vGPU's memory limit refused
 * (tfw_note_over_budget); one worker serves one session, so file-scope state is the session's.
 * May call: the backend table, the session's handle checks (session.c).
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "migrate.h"
#include "worker_int.h"

static int dump_fd = -1;
static struct { unsigned count; CUdevice device; unsigned long long over; } budget;

void tfw_note_over_budget(CUdevice dev, uint64_t over)
{
    budget.count++;
    budget.device = dev;
    budget.over = over;
}

CUresult tfw_tfi_over_budget(unsigned int *count, CUdevice *device,
                             unsigned long long *bytesOver)
{
    *count = budget.count;
    *device = budget.device;
    *bytesOver = budget.over;
    budget.count = 0;
    return CUDA_SUCCESS;
}

static CUresult set_global(struct tfw_session *s, CUcoredumpSettings a, void *v, size_t n)
{
    return s->be.cuCoredumpSetAttributeGlobal(a, v, &n);
}

CUresult tfw_tfi_coredump_arm(unsigned int enable)
{
    struct tfw_session *s = tfw_self;
    if (!s->be.cuCoredumpSetAttributeGlobal)
        return CUDA_ERROR_NOT_SUPPORTED;
    if (dump_fd < 0 && enable) {
        dump_fd = memfd_create("tfuse-coredump", MFD_CLOEXEC);
        if (dump_fd < 0)
            return CUDA_ERROR_OPERATING_SYSTEM;
    }
    CUresult r = CUDA_SUCCESS;
    if (enable) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", dump_fd);
        int flags = CU_COREDUMP_LIGHTWEIGHT_FLAGS | CU_COREDUMP_SKIP_ABORT;
        r = set_global(s, CU_COREDUMP_FILE, path, strlen(path) + 1);
        if (r == CUDA_SUCCESS)
            r = set_global(s, CU_COREDUMP_GENERATION_FLAGS, &flags, sizeof flags);
    }
    _Bool on = enable != 0;
    if (r == CUDA_SUCCESS)
        r = set_global(s, CU_COREDUMP_ENABLE_ON_EXCEPTION, &on, sizeof on);
    if (r != CUDA_SUCCESS)
        tf_debug("the backend refused core-dump settings: %d", (int)r);
    return r;
}

CUresult tfw_tfi_coredump_take(uint64_t capacity, uint64_t *length, void *text)
{
    *length = 0;
    if (dump_fd < 0)
        return CUDA_SUCCESS;
    off_t size = lseek(dump_fd, 0, SEEK_END);
    size_t skip = 0, n = size > 0 ? (size_t)size : 0;
    char head[512];
    ssize_t h = pread(dump_fd, head, sizeof head - 1, 0);
    if (h > 0) {   /* the kit's header: the stub writes its own */
        head[h] = '\0';
        const char *e = strstr(head, "\nerror:");
        skip = e && !strncmp(head, "TFUSE-CUDA-COREDUMP", 19) ? (size_t)(e + 1 - head) : 0;
    }
    n -= skip;
    n = n < capacity ? n : (size_t)capacity;
    ssize_t got = n ? pread(dump_fd, text, n, (off_t)skip) : 0;
    *length = got > 0 ? (uint64_t)got : 0;
    if (ftruncate(dump_fd, 0) != 0)
        tf_debug("cannot empty the core-dump memfd");
    return CUDA_SUCCESS;
}

/* ---- cluster occupancy: the configuration as cuLaunchKernelEx sends it ---- */

/* Attributes that name no object of the program's process travel as they are. */
static int plain_attribute(CUlaunchAttributeID id)
{
    return id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION ||
           id == CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE ||
           id == CU_LAUNCH_ATTRIBUTE_COOPERATIVE || id == CU_LAUNCH_ATTRIBUTE_PRIORITY;
}

typedef CUresult (*cluster_fn)(int *, CUfunction, const CUlaunchConfig *);

static CUresult cluster_query(struct tfw_session *s, struct tfp_reader *in,
                              struct tfp_writer *out, cluster_fn fn, const char *call)
{
    uint64_t f = tfw_xin(s, tfp_get_u64(in));
    CUlaunchConfig cfg = {0};
    unsigned *dims[] = {&cfg.gridDimX, &cfg.gridDimY, &cfg.gridDimZ,
                        &cfg.blockDimX, &cfg.blockDimY, &cfg.blockDimZ, &cfg.sharedMemBytes};
    for (int i = 0; i < 7; i++)
        *dims[i] = tfp_get_u32(in);
    uint64_t stream = tfw_xin(s, tfp_get_u64(in));
    uint32_t nattrs = tfp_get_u32(in);
    CUlaunchAttribute attrs[16];
    if (nattrs > 16)
        return tfw_malformed(s, call, "too many attributes");
    tfp_get(in, attrs, nattrs * sizeof attrs[0]);
    if (!tfp_reader_done(in))
        return tfw_malformed(s, call, "arguments do not match");
    CUresult r = f ? tfw_check_handle(s, TFW_K_FUNC, f) : CUDA_ERROR_INVALID_HANDLE;
    if (r == CUDA_SUCCESS)
        r = tfw_check_handle(s, TFW_K_STREAM, stream);
    for (uint32_t i = 0; r == CUDA_SUCCESS && i < nattrs; i++)
        if (!plain_attribute(attrs[i].id))
            r = CUDA_ERROR_NOT_SUPPORTED;
    if (r != CUDA_SUCCESS)
        return r;
    if (!fn)
        return CUDA_ERROR_NOT_SUPPORTED;
    cfg.hStream = (CUstream)(uintptr_t)stream;
    cfg.attrs = nattrs ? attrs : NULL;
    cfg.numAttrs = nattrs;
    int value = 0;
    r = fn(&value, (CUfunction)(uintptr_t)f, &cfg);
    if (r == CUDA_SUCCESS)
        tfp_put_u32(out, (uint32_t)value);
    return r;
}

CUresult tfw_custom_cuOccupancyMaxActiveClusters(struct tfw_session *s, struct tfp_reader *in,
                                                 struct tfp_writer *out)
{
    return cluster_query(s, in, out, s->be.cuOccupancyMaxActiveClusters,
                         "cuOccupancyMaxActiveClusters");
}

CUresult tfw_custom_cuOccupancyMaxPotentialClusterSize(struct tfw_session *s,
                                                       struct tfp_reader *in,
                                                       struct tfp_writer *out)
{
    return cluster_query(s, in, out, s->be.cuOccupancyMaxPotentialClusterSize,
                         "cuOccupancyMaxPotentialClusterSize");
}
