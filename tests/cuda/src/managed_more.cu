// managed_more: managed memory's hints read back as range attributes (read-mostly, preferred
// location, accessed-by, last prefetch location, their CUDA 12 type/id forms, one by one and as
// a list) over ranges where the hints agree and where they differ; CUDA 13's batched prefetch,
// discard and discard-and-prefetch followed by kernels that read and write the memory; and the
// refusals (wrong sizes, memory that is not managed, bad location indices, the legacy stream).
#include <cstring>
#include <cuda.h>
#include "cu_check.h"

static const size_t PAGE = 4096, PAGES = 16;

__global__ void add(int *p, int n, int v)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] += v;
}

static CUmemLocation dev_loc(int id)
{
    CUmemLocation l;
    l.type = CU_MEM_LOCATION_TYPE_DEVICE, l.id = id;
    return l;
}

static CUmemLocation host_loc()
{
    CUmemLocation l;
    l.type = CU_MEM_LOCATION_TYPE_HOST, l.id = 0;
    return l;
}

// One int attribute of pages [first, first + n).
static int attr(CUmem_range_attribute a, CUdeviceptr m, size_t first, size_t n)
{
    int v = 12345;
    CU(cuMemRangeGetAttribute(&v, sizeof v, a, m + first * PAGE, n * PAGE));
    return v;
}

#define WANT(a, first, n, want)                                                              \
    do {                                                                                     \
        int got_ = attr(a, m, first, n);                                                     \
        if (got_ != (want))                                                                  \
            FAIL("%s over pages %d+%d = %d, expected %d", #a, (int)(first), (int)(n), got_,  \
                 (int)(want));                                                               \
    } while (0)

static void range_attributes(CUdeviceptr m, CUstream s)
{
    // nothing said yet
    WANT(CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, 0, PAGES, 0);
    WANT(CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION, 0, PAGES, CU_DEVICE_INVALID);
    WANT(CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, 0, PAGES, CU_DEVICE_INVALID);
    CU(cuMemAdvise(m, 8 * PAGE, CU_MEM_ADVISE_SET_READ_MOSTLY, dev_loc(0)));
    CU(cuMemAdvise(m, 4 * PAGE, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, dev_loc(0)));
    CU(cuMemAdvise(m + 4 * PAGE, 4 * PAGE, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, host_loc()));
    CU(cuMemAdvise(m, PAGES * PAGE, CU_MEM_ADVISE_SET_ACCESSED_BY, dev_loc(0)));
    CU(cuMemPrefetchAsync(m, PAGES * PAGE, dev_loc(0), 0, s));
    CU(cuMemPrefetchAsync(m + 8 * PAGE, 8 * PAGE, host_loc(), 0, s));
    CU(cuStreamSynchronize(s));

    WANT(CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, 0, 8, 1);
    WANT(CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, 2, 3, 1);
    WANT(CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, 0, 9, 0);
    WANT(CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION, 0, 4, 0);
    WANT(CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION, 4, 4, CU_DEVICE_CPU);
    WANT(CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION, 0, 8, CU_DEVICE_INVALID);
    WANT(CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION, 6, 4, CU_DEVICE_INVALID);
    WANT(CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_TYPE, 1, 2, CU_MEM_LOCATION_TYPE_DEVICE);
    WANT(CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_ID, 1, 2, 0);
    WANT(CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_TYPE, 4, 1, CU_MEM_LOCATION_TYPE_HOST);
    WANT(CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_TYPE, 3, 2, CU_MEM_LOCATION_TYPE_INVALID);
    WANT(CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, 0, 8, 0);
    WANT(CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, 8, 8, CU_DEVICE_CPU);
    WANT(CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, 0, PAGES, CU_DEVICE_INVALID);
    WANT(CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_TYPE, 9, 2, CU_MEM_LOCATION_TYPE_HOST);
    WANT(CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_TYPE, 0, 1, CU_MEM_LOCATION_TYPE_DEVICE);
    WANT(CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_ID, 0, 1, 0);

    // accessed-by: the devices in order, CU_DEVICE_INVALID in the room left
    int by[3] = {7, 7, 7};
    CU(cuMemRangeGetAttribute(by, sizeof by, CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY, m + PAGE,
                              3 * PAGE));
    if (by[0] != 0 || by[1] != CU_DEVICE_INVALID || by[2] != CU_DEVICE_INVALID)
        FAIL("accessed-by {%d, %d, %d}, expected {0, -2, -2}", by[0], by[1], by[2]);

    // several at once, over pages 0-3 (an unaligned range covers the pages it touches)
    int rm = -1, pref = -1, last = -1, acc[2] = {-1, -1};
    void *data[4] = {&rm, &pref, &last, acc};
    size_t sizes[4] = {4, 4, 4, 8};
    CUmem_range_attribute which[4] = {
        CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION,
        CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY};
    CU(cuMemRangeGetAttributes(data, sizes, which, 4, m + 100, 4 * PAGE - 200));
    if (rm != 1 || pref != 0 || last != 0 || acc[0] != 0 || acc[1] != CU_DEVICE_INVALID)
        FAIL("the list gave %d %d %d {%d, %d}", rm, pref, last, acc[0], acc[1]);

    // unsetting
    CU(cuMemAdvise(m, PAGES * PAGE, CU_MEM_ADVISE_UNSET_ACCESSED_BY, dev_loc(0)));
    CU(cuMemAdvise(m, 2 * PAGE, CU_MEM_ADVISE_UNSET_READ_MOSTLY, dev_loc(0)));
    CU(cuMemAdvise(m, PAGES * PAGE, CU_MEM_ADVISE_UNSET_PREFERRED_LOCATION, dev_loc(0)));
    CU(cuMemRangeGetAttribute(by, sizeof by, CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY, m, PAGE));
    if (by[0] != CU_DEVICE_INVALID)
        FAIL("accessed-by after unsetting it: %d", by[0]);
    WANT(CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, 0, 8, 0);
    WANT(CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, 2, 6, 1);
    WANT(CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_TYPE, 0, 4, CU_MEM_LOCATION_TYPE_INVALID);

    // refusals
    long long wide = 0;
    EXPECT_CU(cuMemRangeGetAttribute(&wide, sizeof wide, CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, m,
                                  PAGE), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemRangeGetAttribute(by, 6, CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY, m, PAGE),
           CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemRangeGetAttribute(by, 4, (CUmem_range_attribute)99, m, PAGE),
           CUDA_ERROR_INVALID_VALUE);
    CUdeviceptr plain;
    CU(cuMemAlloc(&plain, PAGE));
    EXPECT_CU(cuMemRangeGetAttribute(by, 4, CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, plain, PAGE),
           CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemRangeGetAttribute(by, 4, CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, m,
                                  (PAGES + 1) * PAGE), CUDA_ERROR_INVALID_VALUE);
    CU(cuMemFree(plain));
}

static void check_values(const int *p, int n, int base, const char *what)
{
    for (int i = 0; i < n; i++)
        if (p[i] != base + i)
            FAIL("%s: element %d = %d, expected %d", what, i, p[i], base + i);
}

static void batches(CUdeviceptr m, CUstream s)
{
    const int n = (int)(PAGES * PAGE / sizeof(int));
    int *h = (int *)(uintptr_t)m;
    for (int i = 0; i < n; i++)
        h[i] = i;
    // pages 0-3 and 4-7 to the device, 8-15 to the host
    CUdeviceptr ptrs[3] = {m, m + 4 * PAGE, m + 8 * PAGE};
    size_t sizes[3] = {4 * PAGE, 4 * PAGE, 8 * PAGE};
    CUmemLocation locs[2] = {dev_loc(0), host_loc()};
    size_t idxs[2] = {0, 2};
    CU(cuMemPrefetchBatchAsync(ptrs, sizes, 3, locs, idxs, 2, 0, s));
    add<<<n / 256, 256, 0, (cudaStream_t)s>>>(h, n, 1);
    CHECK_LAUNCH();
    CU(cuStreamSynchronize(s));
    check_values(h, n, 1, "after a batched prefetch and a kernel");
    int m0 = attr(CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, m, 0, 8);
    int m1 = attr(CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, m, 8, 8);
    if (m0 != 0 || m1 != CU_DEVICE_CPU)
        FAIL("batched prefetch locations %d and %d, expected 0 and %d", m0, m1, CU_DEVICE_CPU);

    // discarded pages hold undefined values until written: a kernel writes them all
    CU(cuMemDiscardBatchAsync(ptrs, sizes, 2, 0, s));
    for (int i = 0; i < n / 2; i++)
        h[i] = 0;
    add<<<n / 256, 256, 0, (cudaStream_t)s>>>(h, n / 2, 5);
    CHECK_LAUNCH();
    CU(cuStreamSynchronize(s));
    for (int i = 0; i < n / 2; i++)
        if (h[i] != 5)
            FAIL("discarded then rewritten: element %d = %d, expected 5", i, h[i]);
    check_values(h + n / 2, n / 2, n / 2 + 1, "the pages not discarded");

    // discard and prefetch to the device, then write and read back
    CU(cuMemDiscardAndPrefetchBatchAsync(ptrs + 2, sizes + 2, 1, locs, idxs, 1, 0, s));
    CU(cuStreamSynchronize(s));
    for (int i = n / 2; i < n; i++)
        h[i] = 2 * i;
    add<<<n / 256, 256, 0, (cudaStream_t)s>>>(h, n, 1);
    CHECK_LAUNCH();
    CU(cuStreamSynchronize(s));
    for (int i = n / 2; i < n; i++)
        if (h[i] != 2 * i + 1)
            FAIL("after discard and prefetch: element %d = %d, expected %d", i, h[i], 2 * i + 1);
    if (attr(CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, m, 8, 8) != 0)
        FAIL("discard-and-prefetch did not prefetch pages 8-15 to device 0");

    // refusals
    size_t bad_idxs[2] = {1, 2};
    EXPECT_CU(cuMemPrefetchBatchAsync(ptrs, sizes, 3, locs, bad_idxs, 2, 0, s),
           CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemPrefetchBatchAsync(ptrs, sizes, 3, locs, idxs, 2, 1, s), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemDiscardBatchAsync(ptrs, sizes, 2, 0, CU_STREAM_LEGACY), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemDiscardBatchAsync(ptrs, sizes, 0, 0, s), CUDA_ERROR_INVALID_VALUE);
    CUdeviceptr plain;
    CU(cuMemAlloc(&plain, PAGE));
    size_t one = PAGE;
    EXPECT_CU(cuMemDiscardBatchAsync(&plain, &one, 1, 0, s), CUDA_ERROR_INVALID_VALUE);
    CU(cuMemFree(plain));
    CU(cuStreamSynchronize(s));
}

int main()
{
    CHECK(cudaFree(0));
    CUstream s;
    CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUdeviceptr m;
    CU(cuMemAllocManaged(&m, PAGES * PAGE, CU_MEM_ATTACH_GLOBAL));
    range_attributes(m, s);
    batches(m, s);
    CU(cuMemFree(m));
    // a new allocation at the same place knows nothing of the old one's hints
    CU(cuMemAllocManaged(&m, PAGES * PAGE, CU_MEM_ATTACH_GLOBAL));
    WANT(CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, 2, 6, 0);
    WANT(CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, 0, PAGES, CU_DEVICE_INVALID);
    CU(cuMemFree(m));
    CU(cuStreamDestroy(s));
    printf("managed_more: range attributes, batched prefetch and discard OK\n");
    return 0;
}
