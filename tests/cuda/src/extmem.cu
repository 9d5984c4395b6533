// extmem: external memory and semaphores from file descriptors, and dma-buf ranges. A memfd the
// program writes is imported (OPAQUE_FD): a kernel adds to a buffer mapped at an offset and the
// program sees the sums through its own mapping; the same file mapped as a mipmapped array holds
// the file's bytes (softgpu copies them when mapping). An eventfd is a binary semaphore and a
// memfd holding a 64-bit counter a timeline one: a wait holds its stream until the program
// signals (the stream stays NOT_READY before), a signal on a stream reaches the program. A
// device range's dma-buf (cuMemGetHandleForAddressRange) reads back through mmap and imports
// as external memory that aliases the allocation. Bad input gets the driver's errors.
#include <cstring>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cuda.h>
#include "check.h"
#include "cu_check.h"

enum { FILE_BYTES = 1 << 16, OFFSET = 4096, N = 8192 };

__global__ void add(int *p, int n, int v)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] += v;
}

__global__ void store(int *p, int v) { *p = v; }

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static int *map_file(int fd, size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        FAIL("mmap");
    return (int *)p;
}

static void check_memory(void)
{
    int fd = memfd_create("extmem-test", 0);
    if (fd < 0 || ftruncate(fd, FILE_BYTES) != 0)
        FAIL("memfd");
    int *host = map_file(fd, FILE_BYTES);
    for (int i = 0; i < FILE_BYTES / 4; i++)
        host[i] = 2 * i;
    CUDA_EXTERNAL_MEMORY_HANDLE_DESC d;
    memset(&d, 0, sizeof d);
    d.type = CU_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD;
    d.handle.fd = dup(fd);   // import takes the descriptor
    d.size = FILE_BYTES;
    CUexternalMemory em;
    CU(cuImportExternalMemory(&em, &d));
    CUDA_EXTERNAL_MEMORY_BUFFER_DESC b;
    memset(&b, 0, sizeof b);
    b.offset = OFFSET;
    b.size = N * sizeof(int);
    CUdeviceptr p;
    CU(cuExternalMemoryGetMappedBuffer(&p, em, &b));
    add<<<N / 256, 256>>>((int *)p, N, 5);
    CHECK_LAUNCH();
    CHECK(cudaDeviceSynchronize());
    for (int i = 0; i < FILE_BYTES / 4; i++) {
        int k = i - OFFSET / 4, want = 2 * i + (k >= 0 && k < N ? 5 : 0);
        if (host[i] != want)
            FAIL("file int %d is %d after the kernel, expected %d", i, host[i], want);
    }
    // a mipmapped array of 64x32 ints from the offset: level 0 holds the file's bytes
    CUDA_EXTERNAL_MEMORY_MIPMAPPED_ARRAY_DESC md;
    memset(&md, 0, sizeof md);
    md.offset = OFFSET;
    md.arrayDesc.Width = 64;
    md.arrayDesc.Height = 32;
    md.arrayDesc.Format = CU_AD_FORMAT_SIGNED_INT32;
    md.arrayDesc.NumChannels = 1;
    md.numLevels = 1;
    CUmipmappedArray mm;
    CU(cuExternalMemoryGetMappedMipmappedArray(&mm, em, &md));
    CUarray level;
    CU(cuMipmappedArrayGetLevel(&level, mm, 0));
    static int back[64 * 32];
    CHECK(cudaMemcpy2DFromArray(back, 64 * 4, (cudaArray_t)level, 0, 0, 64 * 4, 32,
                                cudaMemcpyDeviceToHost));
    if (memcmp(back, host + OFFSET / 4, sizeof back) != 0)
        FAIL("the mipmapped array does not hold the file's bytes");
    CU(cuMipmappedArrayDestroy(mm));
    // bad input
    b.offset = FILE_BYTES - 4096;
    b.size = 8192;
    EXPECT_CU(cuExternalMemoryGetMappedBuffer(&p, em, &b), CUDA_ERROR_INVALID_VALUE);
    d.type = CU_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_HEAP;
    EXPECT_CU(cuImportExternalMemory(&em, &d), CUDA_ERROR_NOT_SUPPORTED);
    CHECK(cudaFree((void *)p));
    CU(cuDestroyExternalMemory(em));
    EXPECT_CU(cuDestroyExternalMemory(em), CUDA_ERROR_INVALID_HANDLE);
    munmap(host, FILE_BYTES);
    close(fd);
}

static CUexternalSemaphore import_sem(CUexternalSemaphoreHandleType type, int fd)
{
    CUDA_EXTERNAL_SEMAPHORE_HANDLE_DESC d;
    memset(&d, 0, sizeof d);
    d.type = type;
    d.handle.fd = fd;
    CUexternalSemaphore s;
    CU(cuImportExternalSemaphore(&s, &d));
    return s;
}

// A wait holds the stream: its later kernel has not run while the stream is NOT_READY.
static void expect_blocked(cudaStream_t st, int *flag)
{
    sleep_ms(100);
    if (cudaStreamQuery(st) != cudaErrorNotReady)
        FAIL("the stream ran past an unsignalled semaphore");
    int v = -1;
    CHECK(cudaMemcpy(&v, flag, sizeof v, cudaMemcpyDeviceToHost));
    if (v != 0)
        FAIL("the kernel behind the wait ran early (%d)", v);
}

static void check_semaphores(void)
{
    cudaStream_t st;
    CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    int *flag;
    CHECK(cudaMalloc(&flag, sizeof(int)));
    CHECK(cudaMemset(flag, 0, sizeof(int)));
    // binary: an eventfd
    int efd = eventfd(0, EFD_CLOEXEC);
    CUexternalSemaphore bin = import_sem(CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD, dup(efd));
    CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS wp;
    memset(&wp, 0, sizeof wp);
    CU(cuWaitExternalSemaphoresAsync(&bin, &wp, 1, st));
    store<<<1, 1, 0, st>>>(flag, 1);
    expect_blocked(st, flag);
    uint64_t one = 1;
    if (write(efd, &one, sizeof one) != sizeof one)
        FAIL("eventfd write");
    CHECK(cudaStreamSynchronize(st));
    CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS sp;
    memset(&sp, 0, sizeof sp);
    CU(cuSignalExternalSemaphoresAsync(&bin, &sp, 1, st));
    CHECK(cudaStreamSynchronize(st));
    uint64_t got = 0;
    if (read(efd, &got, sizeof got) != sizeof got || got != 1)
        FAIL("the stream's signal did not reach the eventfd (%llu)", (unsigned long long)got);
    // timeline: a memfd holding the counter
    int tfd = memfd_create("timeline", 0);
    if (tfd < 0 || ftruncate(tfd, 8) != 0)
        FAIL("memfd");
    volatile uint64_t *counter = (volatile uint64_t *)mmap(NULL, 8, PROT_READ | PROT_WRITE,
                                                           MAP_SHARED, tfd, 0);
    CUexternalSemaphore tl =
        import_sem(CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_TIMELINE_SEMAPHORE_FD, dup(tfd));
    CHECK(cudaMemset(flag, 0, sizeof(int)));
    wp.params.fence.value = 5;
    CU(cuWaitExternalSemaphoresAsync(&tl, &wp, 1, st));
    store<<<1, 1, 0, st>>>(flag, 2);
    *counter = 3;   // not yet
    expect_blocked(st, flag);
    *counter = 5;
    CHECK(cudaStreamSynchronize(st));
    sp.params.fence.value = 9;
    CU(cuSignalExternalSemaphoresAsync(&tl, &sp, 1, st));
    CHECK(cudaStreamSynchronize(st));
    int v = 0;
    CHECK(cudaMemcpy(&v, flag, sizeof v, cudaMemcpyDeviceToHost));
    if (v != 2 || *counter != 9)
        FAIL("timeline: flag %d counter %llu, expected 2 and 9", v,
             (unsigned long long)*counter);
    // bad input
    CUexternalSemaphore none = (CUexternalSemaphore)0x1234;
    EXPECT_CU(cuSignalExternalSemaphoresAsync(&none, &sp, 1, st), CUDA_ERROR_INVALID_HANDLE);
    CU(cuDestroyExternalSemaphore(bin));
    CU(cuDestroyExternalSemaphore(tl));
    EXPECT_CU(cuDestroyExternalSemaphore(tl), CUDA_ERROR_INVALID_HANDLE);
    close(efd);
    close(tfd);
    CHECK(cudaFree(flag));
    CHECK(cudaStreamDestroy(st));
}

static void check_dmabuf(void)
{
    enum { BYTES = 1 << 16 };
    CUdeviceptr p;
    CU(cuMemAlloc(&p, BYTES));
    static int host[BYTES / 4];
    for (int i = 0; i < BYTES / 4; i++)
        host[i] = 7 * i;
    CU(cuMemcpyHtoD(p, host, BYTES));
    int fd = -1;
    CU(cuMemGetHandleForAddressRange(&fd, p + 4096, 8192, CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, 0));
    int *view = map_file(fd, 8192);
    if (memcmp(view, host + 1024, 8192) != 0)
        FAIL("the dma-buf does not read as the range");
    // imported as external memory, it aliases the allocation
    CUDA_EXTERNAL_MEMORY_HANDLE_DESC d;
    memset(&d, 0, sizeof d);
    d.type = CU_EXTERNAL_MEMORY_HANDLE_TYPE_DMABUF_FD;
    d.handle.fd = fd;
    d.size = 8192;
    CUexternalMemory em;
    CU(cuImportExternalMemory(&em, &d));
    CUDA_EXTERNAL_MEMORY_BUFFER_DESC b;
    memset(&b, 0, sizeof b);
    b.size = 8192;
    CUdeviceptr q;
    CU(cuExternalMemoryGetMappedBuffer(&q, em, &b));
    add<<<8, 256>>>((int *)q, 2048, 1);
    CHECK_LAUNCH();
    CHECK(cudaDeviceSynchronize());
    CU(cuMemcpyDtoH(host, p, BYTES));
    for (int i = 0; i < BYTES / 4; i++) {
        int want = 7 * i + (i >= 1024 && i < 3072 ? 1 : 0);
        if (host[i] != want || (i >= 1024 && i < 3072 && view[i - 1024] != want))
            FAIL("after the kernel on the imported dma-buf, int %d is %d, expected %d", i,
                 host[i], want);
    }
    EXPECT_CU(cuMemGetHandleForAddressRange(&fd, p + 1, 4096, CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD,
                                            0), CUDA_ERROR_INVALID_VALUE);
    CU(cuMemFree(q));
    CU(cuDestroyExternalMemory(em));
    munmap(view, 8192);
    CU(cuMemFree(p));
}

int main()
{
    CHECK(cudaFree(0));
    check_memory();
    check_semaphores();
    check_dmabuf();
    printf("extmem: OK buffer and mipmapped array of a memfd, binary and timeline semaphores, "
           "dma-buf range\n");
    return 0;
}
