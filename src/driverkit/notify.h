/*
 * Asynchronous device notifications for a driver-shaped library of ours (notify.c): the
 * registry of callbacks, the thread that calls them, and the posting of an over-budget event.
 */
#ifndef TFUSE_DRIVERKIT_NOTIFY_H
#define TFUSE_DRIVERKIT_NOTIFY_H

#include <cuda.h>

/* Provided by the library: CUDA_SUCCESS for a device it has, else the driver's error for it. */
CUresult dk_notify_device(CUdevice dev);

/* Queues CU_ASYNC_NOTIFICATION_TYPE_OVER_BUDGET for dev's callbacks (none: nothing happens);
 * never calls a callback itself. */
void dk_notify_over_budget(CUdevice dev, unsigned long long bytes);
/* Whether any callback is registered (a library may skip the work of noticing otherwise). */
int dk_notify_wanted(void);

#endif
