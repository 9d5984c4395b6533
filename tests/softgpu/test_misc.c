/*
 * softgpu: memory-pool reuse and attributes (release threshold, reuse flags, used/reserved
 * current and high-water marks, trimming), CUDA 13's location-based pool selection, pool
 * sharing refusals, host-memory registration flags, and the profiler calls.
 */
#include <cudaProfiler.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "sg_test.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* deprecated calls are tested */

#define MiB (1024 * 1024)

static cuuint64_t pool_attr(CUmemoryPool p, CUmemPool_attribute a)
{
    cuuint64_t v = 0;
    CU_OK(cuMemPoolGetAttribute(p, a, &v));
    return v;
}

static CUmemoryPool new_pool(void)
{
    CUmemPoolProps props = {0};
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    props.location.id = 0;
    CUmemoryPool p;
    CU_OK(cuMemPoolCreate(&p, &props));
    return p;
}

static void pool_threshold_keeps_memory(void **state)
{
    (void)state;
    CUmemoryPool p = new_pool();
    int flag = -1;
    CU_OK(cuMemPoolGetAttribute(p, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &flag));
    assert_int_equal(flag, 1); /* the driver's default */
    CUstream s;
    CU_OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUdeviceptr a, b;
    /* threshold 0: a freed block goes back to the device */
    CU_OK(cuMemAllocFromPoolAsync(&a, 4 * MiB, p, s));
    assert_int_equal(pool_attr(p, CU_MEMPOOL_ATTR_USED_MEM_CURRENT), 4 * MiB);
    CU_OK(cuMemFreeAsync(a, s));
    CU_OK(cuStreamSynchronize(s));
    assert_int_equal(pool_attr(p, CU_MEMPOOL_ATTR_USED_MEM_CURRENT), 0);
    assert_int_equal(pool_attr(p, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT), 0);
    assert_int_equal(pool_attr(p, CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH), 4 * MiB);
    /* a high threshold: the pool keeps it reserved and hands it out again */
    cuuint64_t keep = UINT64_MAX;
    CU_OK(cuMemPoolSetAttribute(p, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keep));
    assert_true(pool_attr(p, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD) == UINT64_MAX);
    size_t free_before, free_after, total;
    CU_OK(cuMemAllocFromPoolAsync(&a, 4 * MiB, p, s));
    CU_OK(cuMemFreeAsync(a, s));
    CU_OK(cuStreamSynchronize(s));
    CU_OK(cuMemGetInfo(&free_before, &total));
    assert_int_equal(pool_attr(p, CU_MEMPOOL_ATTR_USED_MEM_CURRENT), 0);
    assert_int_equal(pool_attr(p, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT), 4 * MiB);
    CU_OK(cuMemAllocFromPoolAsync(&b, 4 * MiB, p, s));
    assert_int_equal(b, a); /* the same block, without asking the device */
    CU_OK(cuMemGetInfo(&free_after, &total));
    assert_int_equal(free_after, free_before);
    CU_OK(cuMemFreeAsync(b, s));
    CU_OK(cuStreamSynchronize(s));
    /* trimming releases it */
    CU_OK(cuMemPoolTrimTo(p, 0));
    assert_int_equal(pool_attr(p, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT), 0);
    CU_OK(cuMemGetInfo(&free_after, &total));
    assert_int_equal(free_after, free_before + 4 * MiB);
    /* the high-water marks reset to the current values */
    cuuint64_t zero = 0, one = 1;
    CU_OK(cuMemPoolSetAttribute(p, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &zero));
    CU_OK(cuMemPoolSetAttribute(p, CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH, &zero));
    assert_int_equal(pool_attr(p, CU_MEMPOOL_ATTR_USED_MEM_HIGH), 0);
    assert_int_equal(pool_attr(p, CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH), 0);
    CU_ERR(cuMemPoolSetAttribute(p, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &one), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMemPoolSetAttribute(p, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &zero), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuStreamDestroy(s));
    CU_OK(cuMemPoolDestroy(p));
}

/* Reuse across streams follows the reuse flags; within a stream it is always allowed. */
static void pool_reuse_flags(void **state)
{
    (void)state;
    CUmemoryPool p = new_pool();
    cuuint64_t keep = UINT64_MAX;
    CU_OK(cuMemPoolSetAttribute(p, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keep));
    int off = 0;
    CU_OK(cuMemPoolSetAttribute(p, CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES, &off));
    CU_OK(cuMemPoolSetAttribute(p, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &off));
    CU_OK(cuMemPoolSetAttribute(p, CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES, &off));
    CUstream s1, s2;
    CU_OK(cuStreamCreate(&s1, CU_STREAM_NON_BLOCKING));
    CU_OK(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
    CUdeviceptr a, b, c;
    CU_OK(cuMemAllocFromPoolAsync(&a, MiB, p, s1));
    CU_OK(cuMemFreeAsync(a, s1));
    CU_OK(cuStreamSynchronize(s1));
    CU_OK(cuMemAllocFromPoolAsync(&b, MiB, p, s2));
    assert_int_not_equal(b, a); /* another stream may not take it */
    assert_int_equal(pool_attr(p, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT), 2 * MiB);
    CU_OK(cuMemAllocFromPoolAsync(&c, MiB, p, s1));
    assert_int_equal(c, a); /* the freeing stream may */
    CU_OK(cuMemFreeAsync(b, s2));
    CU_OK(cuStreamSynchronize(s2));
    int on = 1;
    CU_OK(cuMemPoolSetAttribute(p, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &on));
    CU_OK(cuMemAllocFromPoolAsync(&a, MiB, p, s1));
    assert_int_equal(a, b); /* opportunistic reuse of s2's completed free */
    int v = -1;
    CU_OK(cuMemPoolGetAttribute(p, CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES, &v));
    assert_int_equal(v, 0);
    CU_OK(cuMemFreeAsync(a, s1));
    CU_OK(cuMemFreeAsync(c, s1));
    CU_OK(cuStreamSynchronize(s1));
    CU_OK(cuStreamDestroy(s1));
    CU_OK(cuStreamDestroy(s2));
    CU_OK(cuMemPoolDestroy(p));
}

static void pool_locations_and_sharing(void **state)
{
    (void)state;
    CUmemLocation loc = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
    CUmemoryPool def, cur, dev_def;
    CU_OK(cuMemGetDefaultMemPool(&def, &loc, CU_MEM_ALLOCATION_TYPE_PINNED));
    CU_OK(cuDeviceGetDefaultMemPool(&dev_def, 0));
    assert_ptr_equal(def, dev_def);
    CUmemoryPool p = new_pool();
    CU_OK(cuMemSetMemPool(&loc, CU_MEM_ALLOCATION_TYPE_PINNED, p));
    CU_OK(cuMemGetMemPool(&cur, &loc, CU_MEM_ALLOCATION_TYPE_PINNED));
    assert_ptr_equal(cur, p);
    CU_OK(cuDeviceGetMemPool(&cur, 0));
    assert_ptr_equal(cur, p);
    CU_OK(cuMemSetMemPool(&loc, CU_MEM_ALLOCATION_TYPE_PINNED, def));
    CUmemLocation host = {CU_MEM_LOCATION_TYPE_HOST, 0};
    CU_ERR(cuMemGetDefaultMemPool(&cur, &host, CU_MEM_ALLOCATION_TYPE_PINNED), CUDA_ERROR_NOT_SUPPORTED);
    CU_ERR(cuMemGetMemPool(&cur, &loc, CU_MEM_ALLOCATION_TYPE_MANAGED), CUDA_ERROR_NOT_SUPPORTED);
    CU_ERR(cuMemGetMemPool(&cur, &loc, (CUmemAllocationType)9), CUDA_ERROR_INVALID_VALUE);
    int fd;
    CU_ERR(cuMemPoolExportToShareableHandle(&fd, p, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0),
           CUDA_ERROR_INVALID_VALUE);
    CUmemoryPool imp;
    CU_ERR(cuMemPoolImportFromShareableHandle(&imp, (void *)(intptr_t)-1,
                                              CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0),
           CUDA_ERROR_INVALID_VALUE);   /* not a pool's descriptor */
    CUdeviceptr d;
    CU_OK(cuMemAllocFromPoolAsync(&d, 4096, p, NULL));
    CUmemPoolPtrExportData data;
    CU_ERR(cuMemPoolExportPointer(&data, d), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMemPoolImportPointer(&d, p, &data), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuMemFreeAsync(d, NULL));
    CU_OK(cuCtxSynchronize());
    CU_OK(cuMemPoolDestroy(p));
}

static void host_register_flags(void **state)
{
    (void)state;
    size_t len = 64 * 1024;
    char *buf = aligned_alloc(4096, len);
    assert_non_null(buf);
    CU_OK(cuMemHostRegister(buf, len, CU_MEMHOSTREGISTER_DEVICEMAP | CU_MEMHOSTREGISTER_PORTABLE));
    CUdeviceptr d;
    CU_OK(cuMemHostGetDevicePointer(&d, buf, 0));
    assert_int_equal(d, (CUdeviceptr)(uintptr_t)buf);
    unsigned flags = 0;
    CU_OK(cuMemHostGetFlags(&flags, buf));
    assert_true(flags & CU_MEMHOSTREGISTER_DEVICEMAP);
    CU_OK(cuMemsetD8(d + 10, 0x42, 5)); /* the device writes host memory */
    assert_int_equal(buf[12], 0x42);
    CU_ERR(cuMemHostRegister(buf + 4096, 4096, 0), CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
    CU_OK(cuMemHostUnregister(buf));
    /* read-only host pages need CU_MEMHOSTREGISTER_READ_ONLY */
    void *ro = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(ro != MAP_FAILED);
    CU_ERR(cuMemHostRegister(ro, len, 0), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuMemHostRegister(ro, len, CU_MEMHOSTREGISTER_READ_ONLY));
    CU_OK(cuMemHostGetFlags(&flags, ro));
    assert_true(flags & CU_MEMHOSTREGISTER_READ_ONLY);
    char back[8];
    CU_OK(cuMemcpyDtoH(back, (CUdeviceptr)(uintptr_t)ro, sizeof back)); /* the device reads it */
    assert_int_equal(back[0], 0);
    CU_OK(cuMemHostUnregister(ro));
    munmap(ro, len);
    /* unmapped memory cannot be registered; I/O memory does not exist on softgpu */
    void *gone = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gone, len);
    CU_ERR(cuMemHostRegister(gone, len, 0), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMemHostRegister(buf, len, CU_MEMHOSTREGISTER_IOMEMORY), CUDA_ERROR_NOT_SUPPORTED);
    free(buf);
}

static void profiler_calls(void **state)
{
    (void)state;
    CU_OK(cuProfilerStart());
    CU_OK(cuProfilerStop());
    CU_ERR(cuProfilerInitialize("cfg", "out", CU_OUT_CSV), CUDA_ERROR_NOT_SUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pool_threshold_keeps_memory, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(pool_reuse_flags, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(pool_locations_and_sharing, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(host_register_flags, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(profiler_calls, sg_setup_primary, sg_teardown_primary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
