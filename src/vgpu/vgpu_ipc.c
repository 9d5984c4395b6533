/*
 * The ipc table of a vGPU slot (see vgpu_ipc.h). Writers claim a free entry (or one whose
 * exporter is dead) by moving its pid to -1, write the digest, then publish their pid; readers
 * look only at entries with a positive pid, so they never see half a digest.
 */
#include "vgpu_ipc.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static int alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

int vgpu_ipc_publish(struct vgpu_slot *s, const uint8_t digest[VGPU_IPC_DIGEST], pid_t pid)
{
    if (vgpu_ipc_known(s, digest))
        return 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < VGPU_MAX_IPC; i++) {
            struct vgpu_ipc_entry *e = &s->ipc[i];
            int32_t seen = atomic_load(&e->pid);
            /* first pass: free entries; second: entries of exporters that died */
            if (pass == 0 ? seen != 0 : (seen <= 0 || alive(seen)))
                continue;
            if (!atomic_compare_exchange_strong(&e->pid, &seen, -1))
                continue;
            memcpy(e->digest, digest, VGPU_IPC_DIGEST);
            atomic_store(&e->pid, (int32_t)pid);
            return 0;
        }
    }
    return -ENOSPC;
}

int vgpu_ipc_known(struct vgpu_slot *s, const uint8_t digest[VGPU_IPC_DIGEST])
{
    for (int i = 0; i < VGPU_MAX_IPC; i++) {
        int32_t pid = atomic_load(&s->ipc[i].pid);
        if (pid > 0 && !memcmp(s->ipc[i].digest, digest, VGPU_IPC_DIGEST) && alive(pid))
            return 1;
    }
    return 0;
}

void vgpu_ipc_forget(struct vgpu_slot *s, pid_t pid)
{
    for (int i = 0; i < VGPU_MAX_IPC; i++) {
        int32_t seen = (int32_t)pid;
        atomic_compare_exchange_strong(&s->ipc[i].pid, &seen, 0);
    }
}
