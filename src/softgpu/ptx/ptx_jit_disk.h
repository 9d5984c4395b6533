/*
 * The JIT's disk cache of compiled kernels (ptx_jit_disk.c): object code by a key of everything
 * it depends on, in a per-user folder, verified on read, bounded with LRU eviction. Private to
 * src/softgpu/ptx (ptx_jit_compile.c).
 */
#ifndef SOFTGPU_PTX_JIT_DISK_H
#define SOFTGPU_PTX_JIT_DISK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* key = SHA-256 of the engine's and LLVM's identities, the CPU, the kernel's name and the PTX
 * text's SHA-256. 0, or -1 (out of memory: no key, no cache). */
int ptx_jit_disk_key(const uint8_t text_sha[32], const char *kernel, const char *cpu,
                     const char *features, uint8_t key[32]);
/* The object stored under key (malloc'd, *size bytes), or NULL: none, the cache is off, or the
 * file failed its checks (warned about on stderr and removed). */
void *ptx_jit_disk_get(const uint8_t key[32], size_t *size);
/* Stores an object (atomically), then evicts past the size bound. Failures are warned about. */
void ptx_jit_disk_put(const uint8_t key[32], const void *obj, size_t size);

enum jit_disk_stat { JIT_DISK_HIT, JIT_DISK_MISS, JIT_DISK_BAD, JIT_DISK_WRITTEN,
                     JIT_DISK_EVICTED, JIT_DISK_NSTATS };
unsigned long ptx_jit_disk_stat(enum jit_disk_stat which); /* this process's counts */

void ptx_jit_hex(const uint8_t *b, size_t n, char *out); /* out: 2n + 1 chars */

/* Exported (softgpu.map): the cache's scope from now on; NULL or "" the user's own folder. A
 * node's worker sets its tenant's before the tenant's first module (docs/softgpu.md). */
void tfuse_softgpu_set_jit_scope(const char *name);

#endif
