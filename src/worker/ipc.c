/*
 * IPC memory handles between sessions of one node. A handle a session exports
 * (cuIpcGetMemHandle) is published in the ipc table of its vGPU (src/vgpu/vgpu_ipc.c); a
 * session opens a handle (tfi_ipc_open) only when one of its own vGPUs published it, so two
 * processes of one vGPU share memory the way two processes share it on a GPU, while a tenant
 * of another vGPU, or a program on another node, is refused with CUDA_ERROR_NOT_PERMITTED
 * however it learnt the handle's bytes. A session without vGPUs (a node serving whole devices)
 * is the operator's own and may open any handle its driver can. What a session opens becomes
 * one of its allocations until cuIpcCloseMemHandle; the memory stays charged to the exporter.
 * May call: src/vgpu (the ipc table), proto (SHA-256), the backend table, enforce_int.h.
 */
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

/* Installed over the backend's cuIpcGetMemHandle: the handle is published in the vGPU of the
 * device the memory is on (the current context's), where the session's other processes see it. */
static CUresult w_ipc_get_mem_handle(CUipcMemHandle *h, CUdeviceptr p)
{
    struct tfw_session *s = tfw_self;
    CUresult r = s->ipc_orig_get(h, p);
    struct tfw_vgpu *v = r == CUDA_SUCCESS && s->lim ? tfw_lim_current_vgpu(s->lim) : NULL;
    if (!v && r == CUDA_SUCCESS && s->lim)
        v = &s->lim->vgpus[0];
    if (v) {
        uint8_t d[VGPU_IPC_DIGEST];
        digest_of(h, d);
        if (vgpu_ipc_publish(v->slot, d, getpid()) != 0) {
            tf_warn("vGPU %s has %d IPC handles exported: no room for another", v->slot->id,
                    VGPU_MAX_IPC);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
    }
    return r;
}

void tfw_ipc_install(struct tfw_session *s)
{
    if (s->be.cuIpcGetMemHandle) {
        s->ipc_orig_get = s->be.cuIpcGetMemHandle;
        TFW_WRAP(&s->be, cuIpcGetMemHandle, w_ipc_get_mem_handle);
    }
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
    struct vgpu_slot *slots[TFW_MAX_GPUS];
    int n = session_slots(s, slots), known = n == 0;
    uint8_t d[VGPU_IPC_DIGEST];
    digest_of(&handle, d);
    for (int i = 0; i < n && !known; i++)
        known = vgpu_ipc_known(slots[i], d);
    if (!known) {
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
