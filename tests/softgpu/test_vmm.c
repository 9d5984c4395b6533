/*
 * softgpu: virtual-memory management (reserve, create, map, access, aliasing, unmap, release,
 * properties, retained handles) and stream-ordered allocation (pools, attributes,
 * cuMemAllocAsync / cuMemFreeAsync, accounting).
 */
#include "sg_test.h"

static CUmemAllocationProp device_prop(void)
{
    CUmemAllocationProp p;
    memset(&p, 0, sizeof p);
    p.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    p.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    p.location.id = 0;
    return p;
}

static void test_vmm_map_and_access(void **state)
{
    (void)state;
    CUmemAllocationProp prop = device_prop();
    size_t gran;
    CU_OK(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    assert_true(gran >= 4096 && (gran & (gran - 1)) == 0);
    size_t free0, free1, total;
    CU_OK(cuMemGetInfo(&free0, &total));
    CUmemGenericAllocationHandle h;
    CU_ERR(cuMemCreate(&h, gran + 1, &prop, 0), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuMemCreate(&h, 2 * gran, &prop, 0));
    CU_OK(cuMemGetInfo(&free1, &total));
    assert_int_equal(free0 - free1, 2 * gran); /* physical memory counts when created */
    CUdeviceptr va;
    CU_OK(cuMemAddressReserve(&va, 4 * gran, 0, 0, 0));
    /* map the same physical memory twice: the two ranges alias */
    CU_OK(cuMemMap(va, 2 * gran, 0, h, 0));
    CU_OK(cuMemMap(va + 2 * gran, 2 * gran, 0, h, 0));
    CU_ERR(cuMemMap(va, gran, 0, h, 0), CUDA_ERROR_INVALID_VALUE); /* already mapped */
    /* mapped but not yet accessible */
    CU_ERR(cuMemsetD32(va, 7, 4), CUDA_ERROR_INVALID_VALUE);
    CUmemAccessDesc acc = {{CU_MEM_LOCATION_TYPE_DEVICE, 0}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    CU_OK(cuMemSetAccess(va, 4 * gran, &acc, 1));
    unsigned long long flags;
    CUmemLocation loc = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
    CU_OK(cuMemGetAccess(&flags, &loc, va + 100));
    assert_int_equal(flags, CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
    CU_OK(cuMemsetD32(va + 16, 0xfeedf00d, 1));
    unsigned v = 0;
    CU_OK(cuMemcpyDtoH(&v, va + 2 * gran + 16, 4));
    assert_int_equal(v, 0xfeedf00d);
    CUdeviceptr base;
    size_t size;
    CU_OK(cuMemGetAddressRange(&base, &size, va + 2 * gran + 5));
    assert_true(base == va + 2 * gran);
    assert_int_equal(size, 2 * gran);
    /* properties and retained handles */
    CUmemAllocationProp got;
    CU_OK(cuMemGetAllocationPropertiesFromHandle(&got, h));
    assert_int_equal(got.location.id, 0);
    CUmemGenericAllocationHandle h2;
    CU_OK(cuMemRetainAllocationHandle(&h2, (void *)(uintptr_t)(va + 10)));
    assert_true(h2 == h);
    CU_OK(cuMemRelease(h2));
    /* releasing the handle keeps mapped memory alive; unmapping the last mapping frees it */
    CU_OK(cuMemRelease(h));
    CU_OK(cuMemcpyDtoH(&v, va + 16, 4));
    assert_int_equal(v, 0xfeedf00d);
    CU_ERR(cuMemUnmap(va, gran), CUDA_ERROR_INVALID_VALUE); /* part of a mapping */
    CU_OK(cuMemUnmap(va, 4 * gran));
    CU_ERR(cuMemcpyDtoH(&v, va + 16, 4), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuMemGetInfo(&free1, &total));
    assert_int_equal(free1, free0);
    CU_ERR(cuMemAddressFree(va, gran), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuMemAddressFree(va, 4 * gran));
    CU_ERR(cuMemRelease(h), CUDA_ERROR_INVALID_VALUE);
}

static void test_vmm_errors(void **state)
{
    (void)state;
    CUmemAllocationProp prop = device_prop();
    size_t gran;
    CU_OK(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
    CUmemGenericAllocationHandle h;
    CU_ERR(cuMemCreate(&h, (size_t)1 << 30, &prop, 0), CUDA_ERROR_OUT_OF_MEMORY);
    prop.location.id = 5;
    CU_ERR(cuMemCreate(&h, gran, &prop, 0), CUDA_ERROR_INVALID_DEVICE);
    prop = device_prop();
    prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_FABRIC; /* POSIX fds are shareable (test_ipc) */
    CU_ERR(cuMemCreate(&h, gran, &prop, 0), CUDA_ERROR_NOT_SUPPORTED);
    prop = device_prop();
    CU_OK(cuMemCreate(&h, gran, &prop, 0));
    CUdeviceptr va;
    CU_OK(cuMemAddressReserve(&va, gran, 0, 0, 0));
    CU_ERR(cuMemMap(va, 2 * gran, 0, h, 0), CUDA_ERROR_INVALID_VALUE); /* beyond the reservation */
    CU_ERR(cuMemMap(0x10000, gran, 0, h, 0), CUDA_ERROR_INVALID_VALUE); /* not reserved */
    CU_ERR(cuMemMap(va, gran, 0, (CUmemGenericAllocationHandle)0x42, 0), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuMemMap(va, gran, 0, h, 0));
    /* freeing the reservation unmaps what is still mapped */
    CU_OK(cuMemAddressFree(va, gran));
    CU_OK(cuMemRelease(h));
}

static void test_mempools(void **state)
{
    (void)state;
    CUmemoryPool def, cur;
    CU_OK(cuDeviceGetDefaultMemPool(&def, 0));
    CU_OK(cuDeviceGetMemPool(&cur, 0));
    assert_ptr_equal(def, cur);
    CUstream s;
    CU_OK(cuStreamCreate(&s, 0));
    CUdeviceptr p;
    CU_OK(cuMemAllocAsync(&p, 1 << 20, s));
    CU_OK(cuMemsetD8Async(p, 3, 1 << 20, s));
    cuuint64_t used = 0, high = 0;
    CU_OK(cuMemPoolGetAttribute(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used));
    assert_int_equal(used, 1 << 20);
    CUmemoryPool owner = NULL;
    CU_OK(cuPointerGetAttribute(&owner, CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE, p));
    assert_ptr_equal(owner, def);
    CU_OK(cuMemFreeAsync(p, s));
    CU_OK(cuStreamSynchronize(s));
    CU_OK(cuMemPoolGetAttribute(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used));
    assert_int_equal(used, 0);
    CU_OK(cuMemPoolGetAttribute(def, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &high));
    assert_int_equal(high, 1 << 20);
    cuuint64_t zero = 0, threshold = 1 << 30;
    CU_OK(cuMemPoolSetAttribute(def, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &zero));
    CU_OK(cuMemPoolGetAttribute(def, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &high));
    assert_int_equal(high, 0);
    CU_OK(cuMemPoolSetAttribute(def, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &threshold));
    CU_OK(cuMemPoolGetAttribute(def, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &high));
    assert_int_equal(high, 1 << 30);
    CU_OK(cuMemPoolTrimTo(def, 0));

    /* a created pool, made the device's current one */
    CUmemPoolProps props;
    memset(&props, 0, sizeof props);
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    props.location.id = 0;
    CUmemoryPool mine;
    CU_OK(cuMemPoolCreate(&mine, &props));
    CU_OK(cuMemAllocFromPoolAsync(&p, 4096, mine, s));
    CU_OK(cuMemPoolGetAttribute(mine, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used));
    assert_int_equal(used, 4096);
    CU_OK(cuMemFreeAsync(p, s));
    CU_OK(cuDeviceSetMemPool(0, mine));
    CU_OK(cuDeviceGetMemPool(&cur, 0));
    assert_ptr_equal(cur, mine);
    CU_OK(cuMemAllocAsync(&p, 100, s));
    CU_OK(cuMemFreeAsync(p, s));
    CU_OK(cuStreamSynchronize(s));
    CU_ERR(cuMemFreeAsync(p, s), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuMemPoolDestroy(mine));
    CU_OK(cuDeviceGetMemPool(&cur, 0));
    assert_ptr_equal(cur, def);
    CU_ERR(cuMemPoolDestroy(def), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMemAllocAsync(&p, (size_t)1 << 31, s), CUDA_ERROR_OUT_OF_MEMORY);
    CU_OK(cuStreamDestroy(s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vmm_map_and_access),
        cmocka_unit_test(test_vmm_errors),
        cmocka_unit_test(test_mempools),
    };
    return cmocka_run_group_tests(tests, sg_setup_primary, sg_teardown_primary);
}
