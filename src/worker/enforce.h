/*
 * vGPU enforcement inside a worker: a session attached to a vGPU has every device allocation
 * charged to the vGPU's shared ledger before it is made (and refunded when freed), every
 * kernel launch admitted by the vGPU's token bucket and charged with its GPU time measured by
 * events, and the memory queries answer the vGPU's view (total = limit, free = limit - used).
 *
 * It works by interposing on the session's backend table after the backend is loaded: the
 * generated handlers and the custom ones call s->be.cuMemAlloc_v2 and friends as before, and
 * reach the wrappers here. A session that is not attached (a node without vGPUs) keeps the
 * backend's own entries and pays nothing.
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

/* Attaches the session to the vGPU in slot `slot` of region r (worker process, after the backend
 * loaded): claims the process's ledger entry, charges ctx_overhead, and installs the wrappers in
 * s->be. Returns 0, or -1 with a message in err. */
int tfw_limits_attach(struct tfw_session *s, struct vgpu_region *r, int slot,
                      uint64_t ctx_overhead, char *err, size_t errlen);

/* CUDA_SUCCESS while the session's vGPU exists (or the session has none);
 * CUDA_ERROR_DEVICE_UNAVAILABLE once the vGPU was deleted. One atomic load. */
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

#endif
