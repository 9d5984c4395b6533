/*
 * softgpu: device, page-locked, registered and managed memory; memory info; pointer
 * attributes; synchronous and asynchronous copies (1D, 2D, 3D, unified, peer) and memsets,
 * including their error paths (bad pointers, over-size allocations).
 */
#include <stdlib.h>

#include "sg_test.h"

static void test_alloc_free_info(void **state)
{
    (void)state;
    size_t free0, total;
    CU_OK(cuMemGetInfo(&free0, &total));
    assert_int_equal(total, 256u << 20);
    CUdeviceptr p;
    CU_OK(cuMemAlloc(&p, 1 << 20));
    assert_true(p != 0);
    size_t free1;
    CU_OK(cuMemGetInfo(&free1, &total));
    assert_int_equal(free0 - free1, 1 << 20);
    CUdeviceptr base;
    size_t size;
    CU_OK(cuMemGetAddressRange(&base, &size, p + 100));
    assert_true(base == p);
    assert_int_equal(size, 1 << 20);
    /* new memory reads as zeros */
    unsigned char buf[64];
    memset(buf, 0xff, sizeof buf);
    CU_OK(cuMemcpyDtoH(buf, p + 4096, sizeof buf));
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0);
    CU_OK(cuMemFree(p));
    CU_ERR(cuMemFree(p), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMemFree(p + 8), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuMemFree(0));
    CU_ERR(cuMemGetAddressRange(&base, &size, p), CUDA_ERROR_NOT_FOUND);
    CU_OK(cuMemGetInfo(&free1, &total));
    assert_int_equal(free1, free0);
    CU_ERR(cuMemAlloc(&p, 0), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMemAlloc(NULL, 16), CUDA_ERROR_INVALID_VALUE);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    CUdeviceptr p, q;
    CU_ERR(cuMemAlloc(&p, (size_t)257 << 20), CUDA_ERROR_OUT_OF_MEMORY);
    CU_ERR(cuMemAlloc(&p, (size_t)1 << 40), CUDA_ERROR_OUT_OF_MEMORY);
    CU_OK(cuMemAlloc(&p, (size_t)200 << 20));
    CU_ERR(cuMemAlloc(&q, (size_t)100 << 20), CUDA_ERROR_OUT_OF_MEMORY);
    CU_OK(cuMemFree(p));
    CU_OK(cuMemAlloc(&q, (size_t)100 << 20));
    CU_OK(cuMemFree(q));
}

static void test_freed_memory_is_zeroed(void **state)
{
    (void)state;
    CUdeviceptr p;
    CU_OK(cuMemAlloc(&p, 8192));
    CU_OK(cuMemsetD8(p, 0xab, 8192));
    CU_OK(cuMemFree(p));
    CUdeviceptr q;
    CU_OK(cuMemAlloc(&q, 8192));
    unsigned char buf[8192];
    CU_OK(cuMemcpyDtoH(buf, q, sizeof buf));
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0);
    CU_OK(cuMemFree(q));
}

static void test_copies_and_bad_pointers(void **state)
{
    (void)state;
    enum { N = 10000 };
    int *h = malloc(N * sizeof *h), *back = calloc(N, sizeof *back);
    for (int i = 0; i < N; i++)
        h[i] = i * 3;
    CUdeviceptr a, b;
    CU_OK(cuMemAlloc(&a, N * sizeof(int)));
    CU_OK(cuMemAlloc(&b, N * sizeof(int)));
    CU_OK(cuMemcpyHtoD(a, h, N * sizeof(int)));
    CU_OK(cuMemcpyDtoD(b, a, N * sizeof(int)));
    CU_OK(cuMemcpyDtoH(back, b, N * sizeof(int)));
    assert_memory_equal(h, back, N * sizeof(int));
    /* unified copy in both directions */
    memset(back, 0, N * sizeof(int));
    CU_OK(cuMemcpy(b, (CUdeviceptr)(uintptr_t)h, 16));
    CU_OK(cuMemcpy((CUdeviceptr)(uintptr_t)back, b, 16));
    assert_memory_equal(h, back, 16);
    /* past the end, freed, and never-allocated pointers are rejected, not faulted on */
    CU_ERR(cuMemcpyHtoD(a, h, N * sizeof(int) + 4096 * 2), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMemcpyDtoH(back, 0x10, 4), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMemcpyDtoH(back, 0xdead0000ull, 4), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMemsetD32(0x1000, 0, 4), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMemsetD32(a + 2, 0, 4), CUDA_ERROR_INVALID_VALUE); /* misaligned */
    CU_OK(cuMemFree(b));
    CU_ERR(cuMemcpyDtoD(b, a, 4), CUDA_ERROR_INVALID_VALUE);
    /* peer copy between contexts */
    CUcontext cur;
    CU_OK(cuCtxGetCurrent(&cur));
    CU_OK(cuMemAlloc(&b, 64));
    CU_OK(cuMemcpyPeer(b, cur, a, cur, 64));
    CU_OK(cuMemcpyDtoH(back, b, 64));
    assert_memory_equal(h, back, 64);
    CU_OK(cuMemFree(a));
    CU_OK(cuMemFree(b));
    free(h);
    free(back);
}

static void test_memset_forms(void **state)
{
    (void)state;
    CUdeviceptr p;
    CU_OK(cuMemAlloc(&p, 4096));
    uint8_t b8[64];
    uint16_t b16[32];
    uint32_t b32[16];
    CU_OK(cuMemsetD8(p, 0x5a, 64));
    CU_OK(cuMemcpyDtoH(b8, p, 64));
    for (int i = 0; i < 64; i++)
        assert_int_equal(b8[i], 0x5a);
    CU_OK(cuMemsetD16(p, 0x1234, 32));
    CU_OK(cuMemcpyDtoH(b16, p, 64));
    for (int i = 0; i < 32; i++)
        assert_int_equal(b16[i], 0x1234);
    CU_OK(cuMemsetD32(p, 0xdeadbeef, 16));
    CU_OK(cuMemcpyDtoH(b32, p, 64));
    for (int i = 0; i < 16; i++)
        assert_int_equal(b32[i], 0xdeadbeef);
    /* 2D: 4 rows of 8 bytes in a 64-byte pitch; the gaps stay untouched */
    CU_OK(cuMemsetD8(p, 0, 4096));
    CU_OK(cuMemsetD2D8(p, 64, 7, 8, 4));
    uint8_t img[256];
    CU_OK(cuMemcpyDtoH(img, p, 256));
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 64; x++)
            assert_int_equal(img[y * 64 + x], x < 8 ? 7 : 0);
    CU_OK(cuMemsetD2D32(p, 64, 0x01020304, 4, 2));
    CU_OK(cuMemcpyDtoH(b32, p, 64));
    assert_int_equal(b32[3], 0x01020304);
    assert_int_equal(b32[4], 0); /* bytes 16.. of row 0: beyond the 4 elements */
    CU_ERR(cuMemsetD2D8(p, 4, 1, 8, 2), CUDA_ERROR_INVALID_VALUE); /* pitch < width */
    CU_OK(cuMemFree(p));
}

static void test_pitch_and_2d_3d_copies(void **state)
{
    (void)state;
    CUdeviceptr p;
    size_t pitch;
    CU_OK(cuMemAllocPitch(&p, &pitch, 100, 10, 4));
    assert_true(pitch >= 100 && pitch % 256 == 0);
    unsigned char src[10][100], dst[10][100];
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 100; x++)
            src[y][x] = (unsigned char)(y * 100 + x);
    CUDA_MEMCPY2D c = {0};
    c.srcMemoryType = CU_MEMORYTYPE_HOST;
    c.srcHost = src;
    c.srcPitch = 100;
    c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    c.dstDevice = p;
    c.dstPitch = pitch;
    c.WidthInBytes = 100;
    c.Height = 10;
    CU_OK(cuMemcpy2D(&c));
    CUDA_MEMCPY2D d = {0};
    d.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    d.srcDevice = p;
    d.srcPitch = pitch;
    d.dstMemoryType = CU_MEMORYTYPE_HOST;
    d.dstHost = dst;
    d.dstPitch = 100;
    d.WidthInBytes = 100;
    d.Height = 10;
    CU_OK(cuMemcpy2DAsync(&d, NULL));
    CU_OK(cuStreamSynchronize(NULL));
    assert_memory_equal(src, dst, sizeof src);
    c.WidthInBytes = pitch + 1; /* wider than the pitch */
    CU_ERR(cuMemcpy2D(&c), CUDA_ERROR_INVALID_VALUE);
    /* 3D: a 4x3x2 box out of an 8x4x3 volume */
    CUdeviceptr vol;
    CU_OK(cuMemAlloc(&vol, 8 * 4 * 3));
    unsigned char hv[3][4][8], out[2][3][4];
    for (int i = 0; i < 96; i++)
        ((unsigned char *)hv)[i] = (unsigned char)i;
    CU_OK(cuMemcpyHtoD(vol, hv, sizeof hv));
    CUDA_MEMCPY3D m = {0};
    m.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    m.srcDevice = vol;
    m.srcPitch = 8;
    m.srcHeight = 4;
    m.srcXInBytes = 1;
    m.srcY = 1;
    m.srcZ = 1;
    m.dstMemoryType = CU_MEMORYTYPE_HOST;
    m.dstHost = out;
    m.dstPitch = 4;
    m.dstHeight = 3;
    m.WidthInBytes = 4;
    m.Height = 3;
    m.Depth = 2;
    CU_OK(cuMemcpy3D(&m));
    for (int z = 0; z < 2; z++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                assert_int_equal(out[z][y][x], hv[z + 1][y + 1][x + 1]);
    CU_OK(cuMemFree(vol));
    CU_OK(cuMemFree(p));
}

static void test_host_memory(void **state)
{
    (void)state;
    void *h;
    CU_OK(cuMemHostAlloc(&h, 4096, CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_PORTABLE));
    unsigned flags;
    CU_OK(cuMemHostGetFlags(&flags, h));
    assert_true(flags & CU_MEMHOSTALLOC_PORTABLE);
    CUdeviceptr d;
    CU_OK(cuMemHostGetDevicePointer(&d, h, 0));
    assert_true(d == (CUdeviceptr)(uintptr_t)h);
    /* the device sees what the host writes */
    memcpy(h, "hello", 6);
    char back[6];
    CU_OK(cuMemcpyDtoH(back, d, 6));
    assert_string_equal(back, "hello");
    CUmemorytype type;
    CU_OK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, d));
    assert_int_equal(type, CU_MEMORYTYPE_HOST);
    CU_OK(cuMemFreeHost(h));
    CU_ERR(cuMemFreeHost(h), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuMemHostAlloc(&h, 16, 0x80), CUDA_ERROR_INVALID_VALUE);
    void *h2;
    CU_OK(cuMemAllocHost(&h2, 100));
    CU_OK(cuMemFreeHost(h2));

    /* registered memory becomes addressable as device memory */
    char *buf = aligned_alloc(4096, 8192);
    CU_OK(cuMemHostRegister(buf, 8192, CU_MEMHOSTREGISTER_DEVICEMAP));
    CU_ERR(cuMemHostRegister(buf + 4096, 10, 0), CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
    CU_OK(cuMemHostGetDevicePointer(&d, buf, 0));
    CU_OK(cuMemsetD8(d, 'x', 8192));
    assert_int_equal(buf[8191], 'x');
    CU_OK(cuMemHostUnregister(buf));
    CU_ERR(cuMemHostUnregister(buf), CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
    CU_ERR(cuMemsetD8(d, 'y', 16), CUDA_ERROR_INVALID_VALUE);
    free(buf);
}

static void test_managed_and_attributes(void **state)
{
    (void)state;
    CUdeviceptr m;
    CU_OK(cuMemAllocManaged(&m, 1000, CU_MEM_ATTACH_GLOBAL));
    int *hp = (int *)(uintptr_t)m;
    hp[10] = 42; /* the host touches managed memory directly */
    int v = 0;
    CU_OK(cuMemcpyDtoH(&v, m + 40, 4));
    assert_int_equal(v, 42);
    CUmemLocation loc = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
    CU_OK(cuMemAdvise(m, 1000, CU_MEM_ADVISE_SET_READ_MOSTLY, loc));
    CU_OK(cuMemPrefetchAsync(m, 1000, loc, 0, NULL));
    CU_ERR(cuMemAllocManaged(&m, 10, 7), CUDA_ERROR_INVALID_VALUE);

    CUpointer_attribute attrs[] = {CU_POINTER_ATTRIBUTE_CONTEXT, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                   CU_POINTER_ATTRIBUTE_DEVICE_POINTER, CU_POINTER_ATTRIBUTE_HOST_POINTER,
                                   CU_POINTER_ATTRIBUTE_IS_MANAGED, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL};
    CUcontext ctx = NULL, cur;
    CUmemorytype type = 0;
    CUdeviceptr dp = 0;
    void *hptr = NULL;
    int managed = 0, ordinal = -1;
    void *data[] = {&ctx, &type, &dp, &hptr, &managed, &ordinal};
    CU_OK(cuPointerGetAttributes(6, attrs, data, m + 8));
    CU_OK(cuCtxGetCurrent(&cur));
    assert_ptr_equal(ctx, cur);
    assert_int_equal(type, CU_MEMORYTYPE_DEVICE);
    assert_true(dp == m + 8);
    assert_int_equal(managed, 1);
    assert_int_equal(ordinal, 0);
    /* plain host memory: not an error, just nothing known */
    int local;
    CU_OK(cuPointerGetAttributes(6, attrs, data, (CUdeviceptr)(uintptr_t)&local));
    assert_int_equal(type, 0);
    assert_null(ctx);
    CU_ERR(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                 (CUdeviceptr)(uintptr_t)&local),
           CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuMemFree(m));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_free_info),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_freed_memory_is_zeroed),
        cmocka_unit_test(test_copies_and_bad_pointers),
        cmocka_unit_test(test_memset_forms),
        cmocka_unit_test(test_pitch_and_2d_3d_copies),
        cmocka_unit_test(test_host_memory),
        cmocka_unit_test(test_managed_and_attributes),
    };
    return cmocka_run_group_tests(tests, sg_setup_primary, sg_teardown_primary);
}
