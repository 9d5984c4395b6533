/*
 * softgpu's side of the driver kit's GPU core dumps and asynchronous notifications.
 *
 * Notifications (src/driverkit/notify.c): memory.c posts CU_ASYNC_NOTIFICATION_TYPE_OVER_BUDGET
 * when a device allocation is refused because the device's configured memory (SOFTGPU_MEMORY) is
 * used up, with the bytes the allocation would have gone over; dk_notify_device checks devices.
 *
 * Core dumps: the driver kit keeps the cuCoredump* settings and writes the file
 * (src/driverkit/coredump.c); this file tells it the current context and describes a kernel's
 * exception (launch.c calls sg_coredump_fault when the interpreter stops a kernel on a fault).
 * The description, after the kit's header, is
 *     error: CUDA_ERROR_ILLEGAL_ADDRESS
 *     kernel: <name>
 *     grid: X Y Z
 *     block: X Y Z
 *     address: 0x...        (when the fault names one)
 *     detail: <the interpreter's message: instruction, line, block and thread>
 * On a CPU the generation flags have nothing to skip (no memory images are written), and the
 * host abort of CU_COREDUMP_TRIGGER_HOST is the process's abort() after the file is written.
 * Calls the driver kit's coredump.c, notify.c and errors (cuGetErrorName), device.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coredump.h"
#include "notify.h"
#include "sg_coredump.h"
#include "softgpu.h"

CUresult dk_coredump_context(CUcontext *ctx)
{
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    *ctx = r ? NULL : (CUcontext)c;
    return r;
}

CUresult dk_notify_device(CUdevice dev)
{
    return sg_device_arg(dev, 1);
}

void dk_coredump_changed(int armed)
{
    (void)armed;   /* softgpu looks at the settings when a fault happens */
}

void sg_coredump_fault(struct sg_ctx *ctx, const char *kernel, const unsigned grid[3],
                       const unsigned block[3], CUresult err, const char *detail)
{
    if (!dk_coredump_enabled((CUcontext)ctx))
        return;
    const char *name = "CUDA_ERROR_UNKNOWN";
    cuGetErrorName(err, &name);
    char addr[40] = "";
    const char *a = strstr(detail, "address 0x");
    if (a)
        snprintf(addr, sizeof addr, "address: 0x%llx\n", strtoull(a + 10, NULL, 16));
    char body[1024];
    int n = snprintf(body, sizeof body,
                     "error: %s\nkernel: %s\ngrid: %u %u %u\nblock: %u %u %u\n%sdetail: %s\n",
                     name, kernel, grid[0], grid[1], grid[2], block[0], block[1], block[2], addr,
                     detail);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof body ? (size_t)n : sizeof body - 1;
    int abort_now = dk_coredump_write((CUcontext)ctx, body, len);
    if (abort_now == 1) {
        sg_log(SG_LOG_ERROR, "GPU exception in %s: core dump written, aborting the process "
               "(CU_COREDUMP_TRIGGER_HOST)", kernel);
        abort();
    }
}
