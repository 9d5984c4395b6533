/*
 * softgpu: sharing device memory between processes. cuIpcGetMemHandle / cuIpcOpenMemHandle
 * across a fork+exec'd second process (bytes move both ways), opening one's own handle
 * (CUDA_ERROR_INVALID_CONTEXT), closing, IPC events (not supported: the device says so), and
 * VMM physical memory exported as a POSIX file descriptor and imported again (aliasing bytes).
 * The test binary is also the child: `test_ipc child <hex handle>`.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sg_test.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* deprecated calls are tested */

#define N 4096

static char self_path[4096];

static void to_hex(const CUipcMemHandle *h, char *out)
{
    for (size_t i = 0; i < sizeof h->reserved; i++)
        sprintf(out + 2 * i, "%02x", (unsigned char)h->reserved[i]);
}

static int from_hex(const char *s, CUipcMemHandle *h)
{
    for (size_t i = 0; i < sizeof h->reserved; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        h->reserved[i] = (char)v;
    }
    return 0;
}

/* The child: opens the handle, checks the parent's bytes, writes its own, closes. */
static int child_main(const char *hex)
{
    CUipcMemHandle h;
    CUcontext ctx;
    CUdeviceptr p;
    static unsigned buf[N];
    if (from_hex(hex, &h) || cuInit(0) || cuDevicePrimaryCtxRetain(&ctx, 0) || cuCtxSetCurrent(ctx))
        return 10;
    if (cuIpcOpenMemHandle(&p, h, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS))
        return 11;
    if (cuMemcpyDtoH(buf, p, sizeof buf))
        return 12;
    for (unsigned i = 0; i < N; i++)
        if (buf[i] != i * 3)
            return 13;
    for (unsigned i = 0; i < N; i++)
        buf[i] = i + 7;
    if (cuMemcpyHtoD(p, buf, sizeof buf) || cuCtxSynchronize())
        return 14;
    if (cuIpcCloseMemHandle(p) || cuIpcCloseMemHandle(p) != CUDA_ERROR_INVALID_VALUE)
        return 15;
    return 0;
}

static int run_child(const CUipcMemHandle *h)
{
    char hex[2 * CU_IPC_HANDLE_SIZE + 1];
    to_hex(h, hex);
    pid_t pid = fork();
    if (pid == 0) {
        execl(self_path, self_path, "child", hex, (char *)NULL);
        _exit(99);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static void ipc_moves_bytes_between_processes(void **state)
{
    (void)state;
    static unsigned buf[N];
    CUdeviceptr p;
    CU_OK(cuMemAlloc(&p, sizeof buf));
    for (unsigned i = 0; i < N; i++)
        buf[i] = i * 3;
    CU_OK(cuMemcpyHtoD(p, buf, sizeof buf));
    CUipcMemHandle h;
    CU_OK(cuIpcGetMemHandle(&h, p));
    assert_int_equal(run_child(&h), 0);
    CU_OK(cuMemcpyDtoH(buf, p, sizeof buf));
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(buf[i], i + 7);
    /* the exported pages still behave as device memory here: kernels and memsets reach them */
    CU_OK(cuMemsetD32(p, 5, N));
    CU_OK(cuMemcpyDtoH(buf, p, sizeof buf));
    assert_int_equal(buf[N - 1], 5);
    CU_OK(cuMemFree(p));
    /* the next allocation at that address is private zeros again, not the shared file */
    CUdeviceptr q;
    CU_OK(cuMemAlloc(&q, sizeof buf));
    CU_OK(cuMemcpyDtoH(buf, q, sizeof buf));
    assert_int_equal(buf[0], 0);
    CU_OK(cuMemFree(q));
}

static void ipc_own_handle_and_bad_handles(void **state)
{
    (void)state;
    CUdeviceptr p, q;
    CU_OK(cuMemAlloc(&p, 8192));
    CUipcMemHandle h;
    CU_OK(cuIpcGetMemHandle(&h, p + 100)); /* any address in the allocation names it */
    CU_ERR(cuIpcOpenMemHandle(&q, h, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS), CUDA_ERROR_INVALID_CONTEXT);
    CUipcMemHandle junk;
    memset(&junk, 0x5a, sizeof junk);
    CU_ERR(cuIpcOpenMemHandle(&q, junk, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS), CUDA_ERROR_INVALID_HANDLE);
    CU_ERR(cuIpcGetMemHandle(&h, 0x1000), CUDA_ERROR_INVALID_VALUE);
    CU_ERR(cuIpcCloseMemHandle(p), CUDA_ERROR_INVALID_VALUE); /* not an opened handle */
    CU_OK(cuMemFree(p));
    /* after the free the old handle no longer names memory */
    assert_int_not_equal(run_child(&h), 0);
}

/* An opened IPC event shares its records with the exported one (here in one process; the
 * CUDA test ipc_event checks two). */
static void ipc_events(void **state)
{
    (void)state;
    int v = -1;
    CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_IPC_EVENT_SUPPORTED, 0));
    assert_int_equal(v, 1);
    CUevent e, plain, o;
    CU_OK(cuEventCreate(&e, CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING));
    CU_OK(cuEventCreate(&plain, CU_EVENT_DISABLE_TIMING));
    CUipcEventHandle eh;
    CU_ERR(cuIpcGetEventHandle(&eh, plain), CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuIpcGetEventHandle(&eh, e));
    CU_OK(cuIpcOpenEventHandle(&o, eh));
    CU_OK(cuEventRecord(e, NULL));
    CU_OK(cuEventSynchronize(o));
    CU_OK(cuEventQuery(o));
    CU_OK(cuEventRecord(o, NULL));   /* a record through the other side */
    CU_OK(cuEventSynchronize(e));
    memset(eh.reserved, 0x5a, sizeof eh.reserved);
    CU_ERR(cuIpcOpenEventHandle(&o, eh), CUDA_ERROR_INVALID_HANDLE);
    CU_OK(cuEventDestroy(o));
    CU_OK(cuEventDestroy(e));
    CU_OK(cuEventDestroy(plain));
}

static void vmm_posix_fd_export_import(void **state)
{
    (void)state;
    int v = 0;
    CU_OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED, 0));
    assert_int_equal(v, 1);
    CUmemAllocationProp prop = {0};
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 0;
    prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    size_t gran;
    CU_OK(cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    CUmemGenericAllocationHandle a, b;
    CU_OK(cuMemCreate(&a, gran, &prop, 0));
    int fd = -1;
    CU_OK(cuMemExportToShareableHandle(&fd, a, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0));
    assert_true(fd >= 0);
    CU_ERR(cuMemExportToShareableHandle(&fd, a, CU_MEM_HANDLE_TYPE_FABRIC, 0), CUDA_ERROR_NOT_SUPPORTED);
    CU_OK(cuMemImportFromShareableHandle(&b, (void *)(intptr_t)fd, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR));
    close(fd);
    CUdeviceptr va, vb;
    CU_OK(cuMemAddressReserve(&va, gran, 0, 0, 0));
    CU_OK(cuMemAddressReserve(&vb, gran, 0, 0, 0));
    CU_OK(cuMemMap(va, gran, 0, a, 0));
    CU_OK(cuMemMap(vb, gran, 0, b, 0));
    CUmemAccessDesc acc = {{CU_MEM_LOCATION_TYPE_DEVICE, 0}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    CU_OK(cuMemSetAccess(va, gran, &acc, 1));
    CU_OK(cuMemSetAccess(vb, gran, &acc, 1));
    CU_OK(cuMemsetD32(va, 0xabcd, gran / 4));
    unsigned x = 0;
    CU_OK(cuMemcpyDtoH(&x, vb + gran - 4, 4));
    assert_int_equal(x, 0xabcd);
    CU_OK(cuMemUnmap(va, gran));
    CU_OK(cuMemUnmap(vb, gran));
    CU_OK(cuMemAddressFree(va, gran));
    CU_OK(cuMemAddressFree(vb, gran));
    CU_OK(cuMemRelease(a));
    CU_OK(cuMemRelease(b));
    /* an allocation made without the handle type cannot be exported */
    prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_NONE;
    CU_OK(cuMemCreate(&a, gran, &prop, 0));
    CU_ERR(cuMemExportToShareableHandle(&fd, a, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0),
           CUDA_ERROR_INVALID_VALUE);
    CU_OK(cuMemRelease(a));
    int h = -1;   /* a dma-buf of memory that is no allocation */
    CU_ERR(cuMemGetHandleForAddressRange(&h, 0x1000, 4096, CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, 0),
           CUDA_ERROR_INVALID_VALUE);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "child"))
        return child_main(argv[2]);
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n <= 0)
        return 1;
    self_path[n] = 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ipc_moves_bytes_between_processes, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(ipc_own_handle_and_bad_handles, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(ipc_events, sg_setup_primary, sg_teardown_primary),
        cmocka_unit_test_setup_teardown(vmm_posix_fd_export_import, sg_setup_primary, sg_teardown_primary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
