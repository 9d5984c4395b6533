// share_handles: a VMM allocation exported as a file descriptor (cuMemExportToShareableHandle)
// is imported by a second process (exec'd with the descriptor), which maps it, checks the
// producer's bytes and adds one to each with a kernel; the producer sees the writes. Around it:
// cuMemRetainAllocationHandle gives the allocation's handle back from its address (its extra
// release is answered), cuMemGetAllocationPropertiesFromHandle reports what was created, a pool
// without handle types cannot be exported. The same for a pool: exported as a descriptor with
// the export data of one of its pointers, imported in the second process, where the pointer is
// read, written by a kernel and freed. Through a node over TCP, where descriptors cannot
// reach the node, every descriptor call answers CUDA_ERROR_NOT_SUPPORTED instead.
#include <cstring>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cuda.h>
#include "check.h"
#include "cu_check.h"
#include "hex.h"

__global__ void add_one(int *p, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] += 1;
}

static CUmemAllocationProp shareable_prop(void)
{
    CUmemAllocationProp prop;
    memset(&prop, 0, sizeof prop);
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 0;
    prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    return prop;
}

/* A pool of device 0 whose memory can be shared by descriptors. */
static CUmemoryPool exportable_pool(void)
{
    CUmemPoolProps pp;
    memset(&pp, 0, sizeof pp);
    pp.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    pp.handleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    pp.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    CUmemoryPool pool;
    CU(cuMemPoolCreate(&pool, &pp));
    return pool;
}

/* Reserves and maps `bytes` of h, read-write for device 0. */
static CUdeviceptr map_handle(CUmemGenericAllocationHandle h, size_t bytes)
{
    CUdeviceptr p;
    CU(cuMemAddressReserve(&p, bytes, 0, 0, 0));
    CU(cuMemMap(p, bytes, 0, h, 0));
    CUmemAccessDesc a;
    memset(&a, 0, sizeof a);
    a.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    a.location.id = 0;
    a.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    CU(cuMemSetAccess(p, bytes, &a, 1));
    return p;
}

/* The pool's pointer: n ints of 9 * i, each plus one when done. */
static void consume_pool(int fd, const char *hex, int n)
{
    CUmemoryPool pool;
    CU(cuMemPoolImportFromShareableHandle(&pool, (void *)(intptr_t)fd,
                                          CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0));
    close(fd);
    CUmemPoolPtrExportData data;
    from_hex(hex, &data, sizeof data);
    CUdeviceptr p;
    CU(cuMemPoolImportPointer(&p, pool, &data));
    int *host = (int *)malloc(n * sizeof(int));
    CU(cuMemcpyDtoH(host, p, n * sizeof(int)));
    for (int i = 0; i < n; i++)
        if (host[i] != 9 * i)
            FAIL("consumer: pool int %d is %d, expected %d", i, host[i], 9 * i);
    add_one<<<(n + 255) / 256, 256>>>((int *)p, n);
    CHECK_LAUNCH();
    CHECK(cudaDeviceSynchronize());
    CU(cuMemFree(p));
    CU(cuMemPoolDestroy(pool));
    free(host);
}

static int consume(int fd, size_t bytes, int pool_fd, const char *hex)
{
    CHECK(cudaFree(0));
    consume_pool(pool_fd, hex, 4096);
    CUmemGenericAllocationHandle h;
    CU(cuMemImportFromShareableHandle(&h, (void *)(intptr_t)fd,
                                      CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR));
    close(fd);   // the import keeps what it needs
    CUdeviceptr p = map_handle(h, bytes);
    int n = (int)(bytes / sizeof(int));
    int *host = (int *)malloc(bytes);
    CU(cuMemcpyDtoH(host, p, bytes));
    for (int i = 0; i < n; i++)
        if (host[i] != 5 * i)
            FAIL("consumer: int %d is %d, expected %d", i, host[i], 5 * i);
    add_one<<<(n + 255) / 256, 256>>>((int *)p, n);
    CHECK_LAUNCH();
    CHECK(cudaDeviceSynchronize());
    CU(cuMemUnmap(p, bytes));
    CU(cuMemAddressFree(p, bytes));
    CU(cuMemRelease(h));
    free(host);
    return 0;
}

/* Over TCP: nothing that carries a descriptor reaches the node. */
static void check_tcp(void)
{
    CUmemAllocationProp prop = shareable_prop();
    size_t gran = 0;
    CU(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    CUmemGenericAllocationHandle h;
    CU(cuMemCreate(&h, gran, &prop, 0));
    int fd = -1;
    EXPECT_CU(cuMemExportToShareableHandle(&fd, h, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0),
              CUDA_ERROR_NOT_SUPPORTED);
    int mine = memfd_create("share-tcp", 0);
    if (mine < 0 || ftruncate(mine, 1 << 16) != 0)
        FAIL("memfd");
    CUDA_EXTERNAL_MEMORY_HANDLE_DESC md;
    memset(&md, 0, sizeof md);
    md.type = CU_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD;
    md.handle.fd = mine;
    md.size = 1 << 16;
    CUexternalMemory em;
    EXPECT_CU(cuImportExternalMemory(&em, &md), CUDA_ERROR_NOT_SUPPORTED);
    CUDA_EXTERNAL_SEMAPHORE_HANDLE_DESC sd;
    memset(&sd, 0, sizeof sd);
    sd.type = CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD;
    sd.handle.fd = eventfd(0, 0);
    CUexternalSemaphore es;
    EXPECT_CU(cuImportExternalSemaphore(&es, &sd), CUDA_ERROR_NOT_SUPPORTED);
    EXPECT_CU(cuMemImportFromShareableHandle(&h, (void *)(intptr_t)mine,
                                             CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR),
              CUDA_ERROR_NOT_SUPPORTED);
    CUdeviceptr d;
    CU(cuMemAlloc(&d, 1 << 16));
    EXPECT_CU(cuMemGetHandleForAddressRange(&fd, d, 1 << 16,
                                            CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, 0),
              CUDA_ERROR_NOT_SUPPORTED);
    CU(cuMemFree(d));
    CUmemoryPool pool = exportable_pool();
    EXPECT_CU(cuMemPoolExportToShareableHandle(&fd, pool, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR,
                                               0), CUDA_ERROR_NOT_SUPPORTED);
    CU(cuMemPoolDestroy(pool));
    CU(cuMemRelease(h));
    close(mine);
    close(sd.handle.fd);
}

/* The exporter: creates, fills, exports and keeps the allocation mapped while the consumer
 * writes to it; checks retain, properties and the pool refusal on the way. */
static void produce(const char *self)
{
    CUmemAllocationProp prop = shareable_prop();
    size_t bytes = 0;
    CU(cuMemGetAllocationGranularity(&bytes, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    CUmemGenericAllocationHandle h, again;
    CU(cuMemCreate(&h, bytes, &prop, 0));
    CUdeviceptr p = map_handle(h, bytes);
    int n = (int)(bytes / sizeof(int));
    int *host = (int *)malloc(bytes);
    for (int i = 0; i < n; i++)
        host[i] = 5 * i;
    CU(cuMemcpyHtoD(p, host, bytes));
    CU(cuMemRetainAllocationHandle(&again, (void *)(uintptr_t)(p + 4096)));
    if (again != h)
        FAIL("retain gave another handle");
    CU(cuMemRelease(again));   // the retain's reference
    CUmemAllocationProp got;
    CU(cuMemGetAllocationPropertiesFromHandle(&got, h));
    if (got.location.type != CU_MEM_LOCATION_TYPE_DEVICE || got.location.id != 0 ||
        !(got.requestedHandleTypes & CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR))
        FAIL("properties: location %d/%d handle types %d", (int)got.location.type,
             got.location.id, (int)got.requestedHandleTypes);
    int fd = -1;
    CU(cuMemExportToShareableHandle(&fd, h, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0));
    int keep = dup(fd);   // without close-on-exec, for the consumer
    close(fd);
    // an exportable pool and one of its pointers
    CUmemoryPool spool = exportable_pool();
    CUdeviceptr q;
    enum { PN = 4096 };
    CU(cuMemAllocFromPoolAsync(&q, PN * sizeof(int), spool, 0));
    static int pool_host[PN];
    for (int i = 0; i < PN; i++)
        pool_host[i] = 9 * i;
    CU(cuMemcpyHtoD(q, pool_host, sizeof pool_host));
    int pfd = -1;
    CU(cuMemPoolExportToShareableHandle(&pfd, spool, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0));
    int pkeep = dup(pfd);
    close(pfd);
    CUmemPoolPtrExportData data;
    CU(cuMemPoolExportPointer(&data, q));
    char fd_arg[16], bytes_arg[32], pfd_arg[16], hex[2 * sizeof data + 1];
    snprintf(fd_arg, sizeof fd_arg, "%d", keep);
    snprintf(bytes_arg, sizeof bytes_arg, "%zu", bytes);
    snprintf(pfd_arg, sizeof pfd_arg, "%d", pkeep);
    to_hex(&data, sizeof data, hex);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        execl("/proc/self/exe", self, "consume", fd_arg, bytes_arg, pfd_arg, hex, (char *)NULL);
        _exit(127);
    }
    close(keep);
    close(pkeep);
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        FAIL("the consumer failed (status %d)", status);
    CU(cuMemcpyDtoH(host, p, bytes));
    for (int i = 0; i < n; i++)
        if (host[i] != 5 * i + 1)
            FAIL("producer: int %d is %d after the consumer, expected %d", i, host[i], 5 * i + 1);
    CU(cuMemcpyDtoH(pool_host, q, sizeof pool_host));
    for (int i = 0; i < PN; i++)
        if (pool_host[i] != 9 * i + 1)
            FAIL("producer: pool int %d is %d after the consumer, expected %d", i, pool_host[i],
                 9 * i + 1);
    CU(cuMemFreeAsync(q, 0));
    CU(cuStreamSynchronize(0));
    CU(cuMemPoolDestroy(spool));
    // a pool created without handle types is not exportable
    CUmemoryPool pool;
    CU(cuDeviceGetDefaultMemPool(&pool, 0));
    EXPECT_CU(cuMemPoolExportToShareableHandle(&fd, pool, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR,
                                               0), CUDA_ERROR_INVALID_VALUE);
    CU(cuMemUnmap(p, bytes));
    CU(cuMemAddressFree(p, bytes));
    CU(cuMemRelease(h));
    free(host);
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "consume"))
        return consume(atoi(argv[2]), (size_t)strtoull(argv[3], NULL, 10), atoi(argv[4]),
                       argv[5]);
    CHECK(cudaFree(0));
    const char *via = getenv("TFUSE_CONNECT");
    if (via && !strncmp(via, "tcp:", 4))
        check_tcp();
    else
        produce(argv[0]);
    printf("share_handles: OK an allocation and a pool's pointer exported to a second process "
           "and written there (descriptors refused where they cannot pass)\n");
    return 0;
}
