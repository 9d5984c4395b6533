/*
 * The stub's side of calls_misc.def: the driver kit's hooks for GPU core dumps and
 * asynchronous notifications, what the stub does after each forwarded call for them
 * (tfs_misc_after, called by tfs_end outside the call lock), and the cluster occupancy encoders.
 *
 * Core dumps (src/driverkit/coredump.c keeps the settings here, in the program): while a context
 * may dump, the worker is armed (tfi_coredump_arm). A call that reports a GPU exception
 * (illegal address, misaligned address, launch failure, assert, ...) makes the dump: the stub
 * takes the backend's description from the worker (tfi_coredump_take) and the kit writes the
 * file on the program's host, at the program's path, over unix and TCP alike; then aborts the
 * program if CU_COREDUMP_TRIGGER_HOST says so. The first exception of a context is its dump (the
 * error is sticky: later calls report it again).
 *
 * Notifications (src/driverkit/notify.c calls the program's callbacks on its own thread): when a
 * call fails with CUDA_ERROR_OUT_OF_MEMORY while a callback is registered, the stub asks the
 * worker whether its vGPU's memory limit refused an allocation (tfi_over_budget) and posts
 * CU_ASYNC_NOTIFICATION_TYPE_OVER_BUDGET with the bytes over budget.
 * May call: conn.c, entry.c (tfi_* requests), the driver kit's coredump.c and notify.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coredump.h"
#include "notify.h"
#include "stub.h"

#define DUMP_CAP 65536

static __thread int in_hook;   /* the hook's own requests pass through tfs_end too */
static int armed_sent;         /* what the worker was last told */
static pthread_mutex_t arm_lock = PTHREAD_MUTEX_INITIALIZER;

CUresult dk_coredump_context(CUcontext *ctx)
{
    *ctx = tfs_current_ctx();
    return CUDA_SUCCESS;
}

void dk_coredump_changed(int armed)
{
    pthread_mutex_lock(&arm_lock);
    if (armed != armed_sent) {
        in_hook++;
        if (tfi_coredump_arm((unsigned)armed) == CUDA_SUCCESS)
            armed_sent = armed;
        in_hook--;
    }
    pthread_mutex_unlock(&arm_lock);
}

CUresult dk_notify_device(CUdevice dev)
{
    CUresult r = tfs_ensure_session();
    if (r != CUDA_SUCCESS)
        return r;
    return dev < 0 || dev >= tfs_info.device_count ? CUDA_ERROR_INVALID_DEVICE : CUDA_SUCCESS;
}

static int gpu_exception(CUresult r)
{
    switch (r) {
    case CUDA_ERROR_ILLEGAL_ADDRESS:
    case CUDA_ERROR_MISALIGNED_ADDRESS:
    case CUDA_ERROR_LAUNCH_FAILED:
    case CUDA_ERROR_ASSERT:
    case CUDA_ERROR_ILLEGAL_INSTRUCTION:
    case CUDA_ERROR_HARDWARE_STACK_ERROR:
    case CUDA_ERROR_INVALID_PC:
    case CUDA_ERROR_INVALID_ADDRESS_SPACE:
        return 1;
    default:
        return 0;
    }
}

static void dump(CUresult err)
{
    CUcontext ctx = tfs_current_ctx();
    if (!dk_coredump_enabled(ctx))
        return;
    char *body = malloc(DUMP_CAP + 128);
    if (!body)
        return;
    uint64_t len = 0;
    if (tfi_coredump_take(DUMP_CAP, &len, body) != CUDA_SUCCESS || len == 0) {
        const char *name = "CUDA_ERROR_UNKNOWN";
        cuGetErrorName(err, &name);
        len = (uint64_t)snprintf(body, 128, "error: %s\ndetail: the node described nothing "
                                 "more\n", name);
    }
    int abort_now = dk_coredump_write(ctx, body, (size_t)len);
    free(body);
    if (abort_now == 1)
        abort();   /* CU_COREDUMP_TRIGGER_HOST: the host process dumps too */
}

void tfs_misc_after(CUresult r)
{
    static int env_read;
    if (in_hook)
        return;
    in_hook++;
    if (!__atomic_exchange_n(&env_read, 1, __ATOMIC_ACQ_REL))
        dk_coredump_enabled(NULL);   /* reads the environment: arms the worker if it says so */
    if (gpu_exception(r))
        dump(r);
    if (r == CUDA_ERROR_OUT_OF_MEMORY && dk_notify_wanted()) {
        unsigned count = 0;
        CUdevice dev = 0;
        unsigned long long over = 0;
        if (tfi_over_budget(&count, &dev, &over) == CUDA_SUCCESS && count)
            dk_notify_over_budget(dev, over);
    }
    in_hook--;
}

/* ---- cluster occupancy: the configuration as cuLaunchKernelEx sends it ---- */

static CUresult cluster_query(uint32_t id, int *out, CUfunction f, const CUlaunchConfig *config)
{
    if (!out || !config || config->numAttrs > 16 || (config->numAttrs && !config->attrs))
        return CUDA_ERROR_INVALID_VALUE;
    if (!f)
        return CUDA_ERROR_INVALID_HANDLE;
    struct tfs_call c;
    CUresult r = tfs_begin(&c, id);
    if (r != CUDA_SUCCESS)
        return r;
    tfp_put_u64(c.w, (uint64_t)(uintptr_t)f);
    const unsigned dims[] = {config->gridDimX, config->gridDimY, config->gridDimZ,
                             config->blockDimX, config->blockDimY, config->blockDimZ,
                             config->sharedMemBytes};
    for (int i = 0; i < 7; i++)
        tfp_put_u32(c.w, dims[i]);
    tfp_put_u64(c.w, tfs_stream_arg(config->hStream));
    tfp_put_u32(c.w, config->numAttrs);
    tfp_put(c.w, config->attrs, config->numAttrs * sizeof *config->attrs);
    r = tfs_transact(&c);
    uint32_t v = 0;
    if (r == CUDA_SUCCESS) {
        tfs_get(&c, &v, sizeof v);
        *out = (int)v;
    }
    return tfs_end(&c, r);
}

CUresult CUDAAPI cuOccupancyMaxActiveClusters(int *numClusters, CUfunction func,
                                              const CUlaunchConfig *config)
{
    return cluster_query(TFP_ID_cuOccupancyMaxActiveClusters, numClusters, func, config);
}

CUresult CUDAAPI cuOccupancyMaxPotentialClusterSize(int *clusterSize, CUfunction func,
                                                    const CUlaunchConfig *config)
{
    return cluster_query(TFP_ID_cuOccupancyMaxPotentialClusterSize, clusterSize, func, config);
}
