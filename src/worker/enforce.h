/*
 * vGPU enforcement inside a worker: a session attached to a vGPU has every device allocation
 * charged to the vGPU's shared ledger before it is made (and refunded when freed), every
 * kernel launch admitted by the vGPU's token bucket and charged with its GPU time measured by
 * events, and the memory queries answer the vGPU's view (total = limit, free = limit - used).
 *
 * It works by interposing on the session's backend table after the backend is loaded: the
 * generated handlers and the custom ones call s->be.cuMemAlloc_v2 and friends as before, and
 * reach the wrappers here. A session that is not attached (a node without vGPUs) keeps the
 * backend's own entries and pays nothing. The wrappers take the backend's device ordinals:
 * devmap.c, installed above them, translates the session's.
 *
 * Owns: the session's vGPU attachment, its allocation sizes, its launch measurements.
 * May call: src/vgpu, the backend table, src/common/log.h.
 */
#ifndef TFUSE_WORKER_ENFORCE_H
#define TFUSE_WORKER_ENFORCE_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "vgpu_region.h"

struct tfw_session;

/* Memory charged to the vGPU for each attached session (its context's own overhead). On NVIDIA a
 * context costs a few hundred MiB on the device; this is the figure the vGPU reserves for it
 * unless the node passes another (tfuse node --ctx-overhead). */
#define TFW_DEFAULT_CTX_OVERHEAD (32ull << 20)

/* The most vGPUs one session may hold (one per physical device: tfuse run --gpus N). */
#define TFW_MAX_GPUS 16

/* Attaches the session to n vGPUs, vGPU i in slot slots[i] of region regions[i], each on its own
 * physical device (worker process, after the backend loaded): claims the process's ledger entry
 * on each, and installs the wrappers in s->be; ctx_overhead is charged on a vGPU when the
 * session makes its first context on that device (tfw_limits_context_on). Calls are charged to the vGPU of their context's device. Returns 0, or -1 with a
 * message in err (nothing stays attached). */
int tfw_limits_attach(struct tfw_session *s, struct vgpu_region *const *regions, const int *slots,
                      int n, uint64_t ctx_overhead, char *err, size_t errlen);

/* How many vGPUs the session holds (0: none, it sees the whole node), and the backend's device
 * ordinal of vGPU i (-1 when there is none): the session's device i. */
int tfw_limits_count(const struct tfw_session *s);
int tfw_limits_device(const struct tfw_session *s, int i);

/* CUDA_SUCCESS while the session's vGPUs exist (or the session has none);
 * CUDA_ERROR_DEVICE_UNAVAILABLE once one of them was deleted. One atomic load per vGPU. */
CUresult tfw_limits_check(const struct tfw_session *s);

/* Memory charged outside the allocation wrappers (managed memory mapped by hostmap.c, module
 * globals loaded by custom.c): reserve before the backend call, then remember it under a key
 * (the address, or TFW_LIMITS_HANDLE_KEY of a module/library handle) or release it if the call
 * failed. refund(key) gives back what was remembered under key. All are no-ops returning
 * CUDA_SUCCESS for a session without a vGPU. */
#define TFW_LIMITS_HANDLE_KEY(h) ((uint64_t)(h) | (1ull << 63)) /* never a device address */
CUresult tfw_limits_reserve(struct tfw_session *s, uint64_t bytes);
void tfw_limits_remember(struct tfw_session *s, uint64_t key, uint64_t bytes);
void tfw_limits_release(struct tfw_session *s, uint64_t bytes);
void tfw_limits_refund(struct tfw_session *s, uint64_t key);

/* Charges launches that have finished (called between requests is not needed: launches collect
 * what finished before them; the session end collects the rest). */
void tfw_limits_end(struct tfw_session *s);

/* Session device i's vGPU: percent of the device's time its kernels ran since the previous call
 * (a window of at least 100 ms; a quicker call gets the last answer), and the bytes this
 * process holds on it. CUDA_ERROR_NOT_SUPPORTED without vGPUs. */
CUresult tfw_limits_usage(struct tfw_session *s, int i, unsigned *pct, uint64_t *held);

/* A context is about to be made on backend device dev: the first one on a vGPU's device
 * charges the context overhead there (held until the session ends). CUDA_ERROR_OUT_OF_MEMORY
 * when the vGPU has no room for it; CUDA_SUCCESS without vGPUs. */
CUresult tfw_limits_context_on(struct tfw_session *s, CUdevice dev);

#endif
