/*
 * IPC memory and event handles, and exported descriptors, between sessions of one node. A
 * handle a session exports (cuIpcGetMemHandle) is published in the ipc table of its vGPU
 * (src/vgpu/vgpu_ipc.c); a session opens a handle (tfi_ipc_open) only when one of its own vGPUs published it, so two
 * processes of one vGPU share memory the way two processes share it on a GPU, while a tenant
 * of another vGPU, or a program on another node, is refused with CUDA_ERROR_NOT_PERMITTED
 * however it learnt the handle's bytes. A session without vGPUs (a node serving whole devices)
 * is the operator's own and may open any handle its driver can. What a session opens becomes
 * one of its allocations until cuIpcCloseMemHandle; the memory stays charged to the exporter.
 * IPC event handles follow the same rule. So do descriptors a backend exports (allocations,
 * pools, dma-buf ranges: share.c), published by the file they name (device and inode): an
 * import of a backend's descriptor no process of the session's vGPUs exported is refused; a
 * descriptor the program made itself (a memfd, an eventfd) is its own to import.
 * May call: src/vgpu (the ipc table), proto (SHA-256), the backend table, enforce_int.h,
 * share.c (its wrappers are installed with these).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enforce_int.h"
#include "log.h"
#include "vgpu_ipc.h"
#include "worker_int.h"

static void digest_of(const CUipcMemHandle *h, uint8_t out[VGPU_IPC_DIGEST])
{
    tfp_sha256(h->reserved, sizeof h->reserved, out);
}

/* The session's vGPUs' slots: n of them (0 for a session without vGPUs). */
static int session_slots(struct tfw_session *s, struct vgpu_slot **slots)
{
    struct tfw_limits *L = s->lim;
    int n = L ? L->nvgpus : 0;
    for (int i = 0; i < n; i++)
        slots[i] = L->vgpus[i].slot;
    return n;
}

/* Publishes digest d in the vGPU of the current context's device (the session's first without
 * one), where the session's other processes see it. */
static CUresult publish(struct tfw_session *s, const uint8_t d[VGPU_IPC_DIGEST])
{
    struct tfw_vgpu *v = s->lim ? tfw_lim_current_vgpu(s->lim) : NULL;
    if (!v && s->lim)
        v = &s->lim->vgpus[0];
    if (v && vgpu_ipc_publish(v->slot, d, getpid()) != 0) {
        tf_warn("vGPU %s has %d IPC handles exported: no room for another", v->slot->id,
                VGPU_MAX_IPC);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    return CUDA_SUCCESS;
}

/* 1 when a process of one of the session's vGPUs published d, or the session has none. */
static int known(struct tfw_session *s, const uint8_t d[VGPU_IPC_DIGEST])
{
    struct vgpu_slot *slots[TFW_MAX_GPUS];
    int n = session_slots(s, slots), ok = n == 0;
    for (int i = 0; i < n && !ok; i++)
        ok = vgpu_ipc_known(slots[i], d);
    return ok;
}

/* Installed over the backend's cuIpcGetMemHandle: the handle is published in the vGPU of the
 * device the memory is on (the current context's), where the session's other processes see it. */
static CUresult w_ipc_get_mem_handle(CUipcMemHandle *h, CUdeviceptr p)
{
    struct tfw_session *s = tfw_self;
    CUresult r = s->ipc_orig_get(h, p);
    uint8_t d[VGPU_IPC_DIGEST];
    digest_of(h, d);
    return r == CUDA_SUCCESS ? publish(s, d) : r;
}

/* The same for events: an event handle is published as its 64 bytes. */
static PFN_cuIpcGetEventHandle_v4010 orig_get_event;
static PFN_cuIpcOpenEventHandle_v4010 orig_open_event;

static CUresult w_ipc_get_event_handle(CUipcEventHandle *h, CUevent e)
{
    CUresult r = orig_get_event(h, e);
    uint8_t d[VGPU_IPC_DIGEST];
    tfp_sha256(h->reserved, sizeof h->reserved, d);
    return r == CUDA_SUCCESS ? publish(tfw_self, d) : r;
}

static CUresult w_ipc_open_event_handle(CUevent *e, CUipcEventHandle h)
{
    uint8_t d[VGPU_IPC_DIGEST];
    tfp_sha256(h.reserved, sizeof h.reserved, d);
    if (!known(tfw_self, d)) {
        tf_warn("refused an IPC event handle that no process of this session's vGPUs exported");
        return CUDA_ERROR_NOT_PERMITTED;
    }
    return orig_open_event(e, h);
}

/* A descriptor is published as the file it names. */
static int fd_digest(int fd, uint8_t d[VGPU_IPC_DIGEST])
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    uint64_t id[3] = {0x6664 /* "fd" */, (uint64_t)st.st_dev, (uint64_t)st.st_ino};
    tfp_sha256(id, sizeof id, d);
    return 0;
}

CUresult tfw_ipc_publish_fd(struct tfw_session *s, int fd)
{
    uint8_t d[VGPU_IPC_DIGEST];
    return fd_digest(fd, d) != 0 ? CUDA_ERROR_INVALID_VALUE : publish(s, d);
}

/* A backend's export: softgpu's memfds (the NVIDIA driver's descriptors are device files). */
static int made_by_backend(int fd)
{
    char path[64], link[128];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0)
        return 1; /* unknown: treat it as the backend's */
    link[n] = 0;
    return !strncmp(link, "/memfd:softgpu", 14) || !strncmp(link, "/dev/nvidia", 11);
}

CUresult tfw_ipc_fd_permitted(struct tfw_session *s, int fd)
{
    uint8_t d[VGPU_IPC_DIGEST];
    if (fd_digest(fd, d) != 0)
        return CUDA_ERROR_INVALID_VALUE;
    if (known(s, d) || !made_by_backend(fd))
        return CUDA_SUCCESS;
    tf_warn("refused a descriptor of device memory that no process of this session's vGPUs "
            "exported");
    return CUDA_ERROR_NOT_PERMITTED;
}

void tfw_ipc_install(struct tfw_session *s)
{
    if (s->be.cuIpcGetMemHandle) {
        s->ipc_orig_get = s->be.cuIpcGetMemHandle;
        TFW_WRAP(&s->be, cuIpcGetMemHandle, w_ipc_get_mem_handle);
    }
    orig_get_event = s->be.cuIpcGetEventHandle;
    orig_open_event = s->be.cuIpcOpenEventHandle;
    TFW_WRAP(&s->be, cuIpcGetEventHandle, w_ipc_get_event_handle);
    TFW_WRAP(&s->be, cuIpcOpenEventHandle, w_ipc_open_event_handle);
    tfw_share_install(s);
}

void tfw_ipc_end(struct tfw_session *s)
{
    struct vgpu_slot *slots[TFW_MAX_GPUS];
    int n = session_slots(s, slots);
    for (int i = 0; i < n; i++)
        vgpu_ipc_forget(slots[i], getpid());
}

CUresult tfw_tfi_ipc_open(CUipcMemHandle handle, unsigned int flags, CUdeviceptr *dptr,
                          uint64_t *size)
{
    struct tfw_session *s = tfw_self;
    if (!s->be.cuIpcOpenMemHandle_v2 || !s->be.cuMemGetAddressRange_v2)
        return CUDA_ERROR_NOT_SUPPORTED;
    uint8_t d[VGPU_IPC_DIGEST];
    digest_of(&handle, d);
    if (!known(s, d)) {
        tf_warn("refused an IPC memory handle that no process of this session's vGPUs exported");
        return CUDA_ERROR_NOT_PERMITTED;
    }
    CUresult r = s->be.cuIpcOpenMemHandle_v2(dptr, handle, flags);
    CUdeviceptr base = 0;
    size_t bytes = 0;
    if (r == CUDA_SUCCESS)
        r = s->be.cuMemGetAddressRange_v2(&base, &bytes, *dptr);
    if (r == CUDA_SUCCESS && base == *dptr) {
        tfw_record_alloc(s, base, bytes);
        *size = bytes;
    } else if (r == CUDA_SUCCESS) {
        s->be.cuIpcCloseMemHandle(*dptr);
        r = CUDA_ERROR_INVALID_VALUE;
    }
    return r;
}
