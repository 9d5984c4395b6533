// memory_more: batched 3D copies (both ABIs) between host, device and CUDA array sides of
// several shapes, checked against the CPU; batched decompression of data compressed on the host
// by zlib (raw Deflate), libsnappy and liblz4, with each operation's output size, a corrupt
// stream (0 bytes) and refused operations (errorIndex); a multicast object bound to two
// allocations and mapped, written through and read back through both; and sparse array
// tiles, refused cleanly where unsupported.
#include <cstdint>
#include <cstring>
#include <vector>
#include <cuda.h>
#include <cudaTypedefs.h>
#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>
#include "cu_check.h"

static CUmemcpy3DOperand ptr_op(const void *p, size_t row, size_t layer)
{
    CUmemcpy3DOperand o;
    memset(&o, 0, sizeof o);
    o.type = CU_MEMCPY_OPERAND_TYPE_POINTER;
    o.op.ptr.ptr = (CUdeviceptr)(uintptr_t)p;
    o.op.ptr.rowLength = row;
    o.op.ptr.layerHeight = layer;
    return o;
}

static CUmemcpy3DOperand dev_op(CUdeviceptr p, size_t row, size_t layer)
{
    return ptr_op((const void *)(uintptr_t)p, row, layer);
}

static CUmemcpy3DOperand array_op(CUarray a, size_t x, size_t y, size_t z)
{
    CUmemcpy3DOperand o;
    memset(&o, 0, sizeof o);
    o.type = CU_MEMCPY_OPERAND_TYPE_ARRAY;
    o.op.array.array = a;
    o.op.array.offset.x = x, o.op.array.offset.y = y, o.op.array.offset.z = z;
    return o;
}

static CUDA_MEMCPY3D_BATCH_OP batch_op(CUmemcpy3DOperand src, CUmemcpy3DOperand dst, size_t w,
                                       size_t h, size_t d)
{
    CUDA_MEMCPY3D_BATCH_OP op;
    memset(&op, 0, sizeof op);
    op.src = src, op.dst = dst;
    op.extent.width = w, op.extent.height = h, op.extent.depth = d;
    op.srcAccessOrder = CU_MEMCPY_SRC_ACCESS_ORDER_STREAM;
    return op;
}

// Host bytes (W x H x D packed) into a pitched device box (row 64, layer 8) at (3, 1, 1), and
// floats into a 16 x 8 x 4 array; then the box's inner part to a packed device buffer and an
// 8 x 4 x 2 block of the array from (4, 2, 1) to device memory; then both back to the host.
static void copy_batches(CUstream s)
{
    const size_t W = 37, H = 5, D = 3, RL = 64, LH = 8, AW = 16, AH = 8, AD = 4;
    std::vector<unsigned char> src(W * H * D), back(W * H * D);
    for (size_t i = 0; i < src.size(); i++)
        src[i] = (unsigned char)(i * 7 + 3);
    std::vector<float> fsrc(AW * AH * AD), fback(8 * 4 * 2);
    for (size_t i = 0; i < fsrc.size(); i++)
        fsrc[i] = (float)i * 0.5f;
    CUdeviceptr box, packed, block;
    CU(cuMemAlloc(&box, RL * LH * (D + 1)));
    CU(cuMemsetD8(box, 0, RL * LH * (D + 1)));
    CU(cuMemAlloc(&packed, W * H * D));
    CU(cuMemAlloc(&block, fback.size() * sizeof(float)));
    CUDA_ARRAY3D_DESCRIPTOR ad;
    memset(&ad, 0, sizeof ad);
    ad.Width = AW, ad.Height = AH, ad.Depth = AD, ad.Format = CU_AD_FORMAT_FLOAT;
    ad.NumChannels = 1;
    CUarray arr;
    CU(cuArray3DCreate(&arr, &ad));

    const size_t at = 3 + 1 * RL + 1 * RL * LH;   // (3, 1, 1) in the box
    CUDA_MEMCPY3D_BATCH_OP up[2] = {
        batch_op(ptr_op(src.data(), 0, 0), dev_op(box + at, RL, LH), W, H, D),
        batch_op(ptr_op(fsrc.data(), 0, 0), array_op(arr, 0, 0, 0), AW, AH, AD)};
    CU(cuMemcpy3DBatchAsync(2, up, 0, s));
    CU(cuStreamSynchronize(s));
    CUDA_MEMCPY3D_BATCH_OP across[2] = {
        batch_op(dev_op(box + at, RL, LH), dev_op(packed, 0, 0), W, H, D),
        batch_op(array_op(arr, 4, 2, 1), dev_op(block, 0, 0), 8, 4, 2)};
    // the CUDA 12.8 ABI, with its failing-operation index
    PFN_cuMemcpy3DBatchAsync_v12080 batch128 = NULL;
    CU(cuGetProcAddress("cuMemcpy3DBatchAsync", (void **)&batch128, 12080, 0, NULL));
    size_t fail = 0;
    CU(batch128(2, across, &fail, 0, s));
    CUDA_MEMCPY3D_BATCH_OP down[2] = {
        batch_op(dev_op(packed, 0, 0), ptr_op(back.data(), 0, 0), W, H, D),
        batch_op(dev_op(block, 0, 0), ptr_op(fback.data(), 0, 0), 8 * sizeof(float), 4, 2)};
    CU(cuMemcpy3DBatchAsync(2, down, 0, s));
    CU(cuStreamSynchronize(s));
    if (memcmp(src.data(), back.data(), src.size()) != 0)
        FAIL("host -> pitched device -> packed device -> host changed the bytes");
    for (size_t z = 0; z < 2; z++)
        for (size_t y = 0; y < 4; y++)
            for (size_t x = 0; x < 8; x++) {
                float want = fsrc[(z + 1) * AW * AH + (y + 2) * AW + x + 4];
                if (fback[z * 32 + y * 8 + x] != want)
                    FAIL("array block (%zu,%zu,%zu) = %g, expected %g", x, y, z,
                         fback[z * 32 + y * 8 + x], want);
            }
    // a stack source read by the time the call returns
    {
        unsigned char row[16];
        for (int i = 0; i < 16; i++)
            row[i] = (unsigned char)(200 + i);
        CUDA_MEMCPY3D_BATCH_OP op = batch_op(ptr_op(row, 0, 0), dev_op(packed, 0, 0), 16, 1, 1);
        op.srcAccessOrder = CU_MEMCPY_SRC_ACCESS_ORDER_DURING_API_CALL;
        CU(cuMemcpy3DBatchAsync(1, &op, 0, s));
        memset(row, 0, sizeof row);
        unsigned char got[16];
        CU(cuMemcpyDtoH(got, packed, 16));
        for (int i = 0; i < 16; i++)
            if (got[i] != 200 + i)
                FAIL("during-the-call source byte %d = %d", i, got[i]);
    }
    // refusals: an empty batch, the legacy stream, an operation without an access order
    EXPECT_CU(cuMemcpy3DBatchAsync(0, up, 0, s), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemcpy3DBatchAsync(2, up, 0, CU_STREAM_LEGACY), CUDA_ERROR_INVALID_VALUE);
    across[1].srcAccessOrder = CU_MEMCPY_SRC_ACCESS_ORDER_INVALID;
    EXPECT_CU(batch128(2, across, &fail, 0, s), CUDA_ERROR_INVALID_VALUE);
    if (fail != 1)
        FAIL("the failing operation was reported as %zu, expected 1", fail);
    CU(cuStreamSynchronize(s));
    CU(cuArrayDestroy(arr));
    CU(cuMemFree(box));
    CU(cuMemFree(packed));
    CU(cuMemFree(block));
}

// ---- decompression ----

static std::vector<unsigned char> sample(size_t n)
{
    std::vector<unsigned char> v(n);
    const char *words[] = {"tensor ", "fuse ", "softgpu ", "worker ", "stub ", "node "};
    size_t k = 0;
    for (size_t i = 0; i < n; k++)
        for (const char *w = words[(k * 7) % 6]; *w && i < n; w++)
            v[i++] = (unsigned char)*w;
    return v;
}

static std::vector<unsigned char> deflate_raw(const std::vector<unsigned char> &in)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        FAIL("deflateInit2");
    std::vector<unsigned char> out(deflateBound(&z, in.size()));
    z.next_in = (Bytef *)in.data(), z.avail_in = (uInt)in.size();
    z.next_out = out.data(), z.avail_out = (uInt)out.size();
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        FAIL("deflate");
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

static std::vector<unsigned char> snappy_of(const std::vector<unsigned char> &in)
{
    size_t len = snappy_max_compressed_length(in.size());
    std::vector<unsigned char> out(len);
    if (snappy_compress((const char *)in.data(), in.size(), (char *)out.data(), &len) != SNAPPY_OK)
        FAIL("snappy_compress");
    out.resize(len);
    return out;
}

static std::vector<unsigned char> lz4_of(const std::vector<unsigned char> &in)
{
    std::vector<unsigned char> out(LZ4_compressBound((int)in.size()));
    int n = LZ4_compress_default((const char *)in.data(), (char *)out.data(), (int)in.size(),
                                 (int)out.size());
    if (n <= 0)
        FAIL("LZ4_compress_default");
    out.resize(n);
    return out;
}

static CUdeviceptr upload(const std::vector<unsigned char> &v)
{
    CUdeviceptr d;
    CU(cuMemAlloc(&d, v.size()));
    CU(cuMemcpyHtoD(d, v.data(), v.size()));
    return d;
}

static CUmemDecompressParams dparams(CUdeviceptr src, size_t n, CUdeviceptr dst, size_t cap,
                                     CUdeviceptr act, CUmemDecompressAlgorithm algo)
{
    CUmemDecompressParams p;
    memset(&p, 0, sizeof p);
    p.srcNumBytes = n, p.dstNumBytes = cap;
    p.src = (const void *)(uintptr_t)src, p.dst = (void *)(uintptr_t)dst;
    p.dstActBytes = (cuuint32_t *)(uintptr_t)act;
    p.algo = algo;
    return p;
}

static void decompression(CUstream s)
{
    int mask = 0;
    CU(cuDeviceGetAttribute(&mask, CU_DEVICE_ATTRIBUTE_MEM_DECOMPRESS_ALGORITHM_MASK, 0));
    if (mask != 7)
        FAIL("decompression algorithm mask %d, expected Deflate | Snappy | LZ4", mask);
    const size_t N = 200000, CAP = N + 4096;
    std::vector<unsigned char> plain = sample(N);
    std::vector<unsigned char> packed[3] = {deflate_raw(plain), snappy_of(plain), lz4_of(plain)};
    CUmemDecompressAlgorithm algo[3] = {CU_MEM_DECOMPRESS_ALGORITHM_DEFLATE,
                                        CU_MEM_DECOMPRESS_ALGORITHM_SNAPPY,
                                        CU_MEM_DECOMPRESS_ALGORITHM_LZ4};
    std::vector<unsigned char> junk(1000, 0xff);
    CUdeviceptr src[4], dst[4], act;
    CU(cuMemAlloc(&act, 4 * sizeof(cuuint32_t)));
    CU(cuMemsetD32(act, 0xdeadbeef, 4));
    CUmemDecompressParams ops[4];
    for (int i = 0; i < 4; i++) {
        src[i] = upload(i < 3 ? packed[i] : junk);
        CU(cuMemAlloc(&dst[i], CAP));
        ops[i] = dparams(src[i], i < 3 ? packed[i].size() : junk.size(), dst[i], CAP,
                         act + i * sizeof(cuuint32_t), i < 3 ? algo[i] : algo[2]);
    }
    size_t bad = 0;
    CU(cuMemBatchDecompressAsync(ops, 4, 0, &bad, s));
    CU(cuStreamSynchronize(s));
    cuuint32_t got[4];
    CU(cuMemcpyDtoH(got, act, sizeof got));
    std::vector<unsigned char> out(N);
    for (int i = 0; i < 3; i++) {
        if (got[i] != N)
            FAIL("operation %d reported %u bytes, expected %zu", i, (unsigned)got[i], N);
        CU(cuMemcpyDtoH(out.data(), dst[i], N));
        if (memcmp(out.data(), plain.data(), N) != 0)
            FAIL("operation %d decompressed other bytes", i);
    }
    if (got[3] != 0)
        FAIL("a corrupt LZ4 block reported %u bytes, expected 0", (unsigned)got[3]);
    // refusals name the operation: an unknown algorithm, an output outside device memory
    ops[1].algo = (CUmemDecompressAlgorithm)8;
    EXPECT_CU(cuMemBatchDecompressAsync(ops, 3, 0, &bad, s), CUDA_ERROR_INVALID_VALUE);
    if (bad != 1)
        FAIL("an unknown algorithm was reported at %zu, expected 1", bad);
    ops[1].algo = algo[1];
    ops[2].dst = (void *)(uintptr_t)(dst[2] + CAP);   // past the end of its allocation
    EXPECT_CU(cuMemBatchDecompressAsync(ops, 3, 0, &bad, s), CUDA_ERROR_INVALID_VALUE);
    if (bad != 2)
        FAIL("an output outside device memory was reported at %zu, expected 2", bad);
    EXPECT_CU(cuMemBatchDecompressAsync(ops, 0, 0, &bad, s), CUDA_ERROR_INVALID_VALUE);
    for (int i = 0; i < 4; i++) {
        CU(cuMemFree(src[i]));
        CU(cuMemFree(dst[i]));
    }
    CU(cuMemFree(act));
    printf("memory_more: decompressed %zu bytes from Deflate, Snappy and LZ4\n", N);
}

// ---- multicast objects: what is written through the object's mapping is in the memory bound to
// it (one device: the same bytes), and the other way round ----

__global__ void fill(int *p, int n, int base)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = base + i;
}

static CUdeviceptr map_va(CUmemGenericAllocationHandle h, size_t size)
{
    CUdeviceptr va;
    CU(cuMemAddressReserve(&va, size, 0, 0, 0));
    CU(cuMemMap(va, size, 0, h, 0));
    CUmemAccessDesc acc;
    memset(&acc, 0, sizeof acc);
    acc.location.type = CU_MEM_LOCATION_TYPE_DEVICE, acc.location.id = 0;
    acc.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    CU(cuMemSetAccess(va, size, &acc, 1));
    return va;
}

static void unmap_va(CUdeviceptr va, size_t size)
{
    CU(cuMemUnmap(va, size));
    CU(cuMemAddressFree(va, size));
}

static void check_ints(CUdeviceptr p, int n, int base, const char *what)
{
    std::vector<int> h(n);
    CU(cuMemcpyDtoH(h.data(), p, n * sizeof(int)));
    for (int i = 0; i < n; i++)
        if (h[i] != base + i)
            FAIL("%s: element %d = %d, expected %d", what, i, h[i], base + i);
}

static void multicast(CUstream s)
{
    int supported = -1;
    CU(cuDeviceGetAttribute(&supported, CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED, 0));
    CUmulticastObjectProp mp;
    memset(&mp, 0, sizeof mp);
    mp.numDevices = 1;
    size_t g = 0;
    CUresult r = cuMulticastGetGranularity(&g, &mp, CU_MULTICAST_GRANULARITY_MINIMUM);
    if (!supported) {
        if (r != CUDA_ERROR_NOT_SUPPORTED)
            FAIL("multicast granularity without multicast support returned %d", (int)r);
        printf("memory_more: multicast unsupported\n");
        return;
    }
    CU(r);
    const size_t size = 2 * g;
    const int n = (int)(size / sizeof(int)), half = n / 2;
    mp.size = size;
    CUmemGenericAllocationHandle mc, a, b;
    CU(cuMulticastCreate(&mc, &mp));
    CU(cuMulticastAddDevice(mc, 0));
    CUmemAllocationProp ap;
    memset(&ap, 0, sizeof ap);
    ap.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    ap.location.type = CU_MEM_LOCATION_TYPE_DEVICE, ap.location.id = 0;
    CU(cuMemCreate(&a, size, &ap, 0));
    CU(cuMemCreate(&b, g, &ap, 0));
    CUdeviceptr va_a = map_va(a, size), va_b = map_va(b, g);
    // the object's first half is a's second half (by handle), its second half b (by address)
    CU(cuMulticastBindMem(mc, 0, a, g, g, 0));
    CU(cuMulticastBindAddr(mc, g, va_b, g, 0));
    EXPECT_CU(cuMulticastBindMem(mc, 0, b, 0, g, 0), CUDA_ERROR_INVALID_VALUE);   // bound
    EXPECT_CU(cuMulticastBindMem(mc, 4096, a, 0, g, 0), CUDA_ERROR_INVALID_VALUE);   // unaligned
    CUdeviceptr va_mc = map_va(mc, size);
    fill<<<n / 256, 256, 0, (cudaStream_t)s>>>((int *)va_mc, n, 1000);
    CHECK_LAUNCH();
    CU(cuStreamSynchronize(s));
    check_ints(va_a + g, half, 1000, "a's bound half after writes through the object");
    check_ints(va_b, half, 1000 + half, "b after writes through the object");
    fill<<<half / 256, 256, 0, (cudaStream_t)s>>>((int *)va_b, half, 7);
    CHECK_LAUNCH();
    CU(cuStreamSynchronize(s));
    check_ints(va_mc + g, half, 7, "the object after writes to b");
    unmap_va(va_mc, size);
    CU(cuMulticastUnbind(mc, 0, g, g));
    EXPECT_CU(cuMulticastUnbind(mc, 0, g, g), CUDA_ERROR_INVALID_VALUE);   // nothing bound
    CU(cuMemRelease(mc));
    unmap_va(va_a, size);
    unmap_va(va_b, g);
    CU(cuMemRelease(a));
    CU(cuMemRelease(b));
    printf("memory_more: multicast object mapped over two bindings OK\n");
}

// ---- sparse arrays: reported unsupported, refused cleanly ----

static void sparse_arrays(CUstream s)
{
    int sparse = -1;
    CU(cuDeviceGetAttribute(&sparse, CU_DEVICE_ATTRIBUTE_SPARSE_CUDA_ARRAY_SUPPORTED, 0));
    // tiles of an array that is not sparse, backed by nothing: never a success
    CUDA_ARRAY3D_DESCRIPTOR ad;
    memset(&ad, 0, sizeof ad);
    ad.Width = 64, ad.Height = 64, ad.Format = CU_AD_FORMAT_UNSIGNED_INT8, ad.NumChannels = 1;
    CUarray arr;
    CU(cuArray3DCreate(&arr, &ad));
    CUarrayMapInfo mi;
    memset(&mi, 0, sizeof mi);
    mi.resourceType = CU_RESOURCE_TYPE_ARRAY;
    mi.resource.array = arr;
    mi.subresourceType = CU_ARRAY_SPARSE_SUBRESOURCE_TYPE_SPARSE_LEVEL;
    mi.subresource.sparseLevel.extentWidth = 64, mi.subresource.sparseLevel.extentHeight = 64;
    mi.subresource.sparseLevel.extentDepth = 1;
    mi.memOperationType = CU_MEM_OPERATION_TYPE_MAP;
    mi.memHandleType = CU_MEM_HANDLE_TYPE_GENERIC;
    mi.memHandle.memHandle = 0x1234;   // no allocation of ours
    mi.deviceBitMask = 1;
    if (cuMemMapArrayAsync(&mi, 1, s) == CUDA_SUCCESS)
        FAIL("mapping an unknown allocation into a dense array succeeded");
    CU(cuStreamSynchronize(s));
    CU(cuArrayDestroy(arr));
    printf("memory_more: sparse arrays %s\n", sparse ? "supported" : "unsupported");
}

int main()
{
    CHECK(cudaFree(0));
    CUstream s;
    CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    copy_batches(s);
    printf("memory_more: 3D copy batches OK (host, device, array sides)\n");
    decompression(s);
    multicast(s);
    sparse_arrays(s);
    CU(cuStreamDestroy(s));
    return 0;
}
