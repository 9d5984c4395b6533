/*
 * Twins of the program's mapped page-locked memory when no memfd can pass (TCP, another host):
 * the worker maps memory of its own (at the program's address when it is free here, else
 * elsewhere) and registers it with the backend as device-mapped host memory, exactly as
 * hostmap.c does with a memfd; kernels use the twin. The program's bytes and the twin's meet in
 * runs (src/proto/mirror.h): tfi_mirror_push writes the program's changes into the twin before
 * whatever request follows it, tfi_mirror_pull gives back what the device changed, both against
 * a shadow of what the two sides last agreed on (the stub keeps the same shadow).
 *
 * Bounded: at most TFW_MIRROR_MAX bytes of twins per session (the stub's own bound, smaller by
 * default, says so to the program first). One session per worker process, so the twins are
 * this file's. May call: hostmap.c (install, release), the backend table through them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "mirror.h"
#include "worker_int.h"

#define TFW_MIRROR_MAX (64ull << 20)
#define USER_TOP (1ull << 47)

struct twin {
    uint64_t addr;      /* the program's address: the key of its runs */
    uint64_t bytes;
    uint8_t *here;      /* the twin, in this process */
    uint8_t *shadow;    /* what both sides last agreed on */
    struct twin *next;
};

static struct twin *twins;
static uint64_t twin_bytes;

static struct twin *find_twin(uint64_t addr)
{
    struct twin *t = twins;
    while (t && t->addr != addr)
        t = t->next;
    return t;
}

/* 1 when [addr, addr+bytes) meets a mapping of the program's memory already here. */
static int overlaps(const struct tfw_session *s, uint64_t addr, uint64_t bytes)
{
    for (size_t i = 0; i < s->hostmaps.n; i++) {
        const struct tf_range *m = &s->hostmaps.v[i];
        if (m->base < addr + bytes && addr < m->base + m->size)
            return 1;
    }
    return 0;
}

CUresult tfw_tfi_mirror_create(uint64_t addr, uint64_t bytes, CUdeviceptr *dptr)
{
    struct tfw_session *s = tfw_self;
    if (bytes == 0 || (addr & 4095) || (bytes & 4095) || addr == 0 || addr >= USER_TOP ||
        bytes > USER_TOP - addr || overlaps(s, addr, bytes))
        return CUDA_ERROR_INVALID_VALUE;
    if (!s->be.cuMemHostRegister_v2 || !s->be.cuMemHostGetDevicePointer_v2)
        return CUDA_ERROR_NOT_SUPPORTED;
    if (bytes > TFW_MIRROR_MAX - twin_bytes)
        return CUDA_ERROR_OUT_OF_MEMORY;
    struct twin *t = calloc(1, sizeof *t);
    uint8_t *shadow = calloc(1, bytes);
    void *p = MAP_FAILED;
    if (t && shadow) {
        p = mmap((void *)(uintptr_t)addr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p != MAP_FAILED && (uint64_t)(uintptr_t)p != addr) {
            munmap(p, bytes);
            p = MAP_FAILED;
        }
        if (p == MAP_FAILED)   /* the address is taken here: the device address differs */
            p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (p == MAP_FAILED) {
        tf_debug("no twin for 0x%llx: %s", (unsigned long long)addr, strerror(errno));
        free(t);
        free(shadow);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    CUresult r = tfw_hostmap_install(s, p, addr, bytes, 0, dptr);   /* unmaps p on failure */
    if (r != CUDA_SUCCESS) {
        free(t);
        free(shadow);
        return r;
    }
    *t = (struct twin){.addr = addr, .bytes = bytes, .here = p, .shadow = shadow, .next = twins};
    twins = t;
    twin_bytes += bytes;
    return CUDA_SUCCESS;
}

void tfw_mirror_forget(uint64_t addr)
{
    struct twin **at = &twins;
    while (*at && (*at)->addr != addr)
        at = &(*at)->next;
    struct twin *t = *at;
    if (!t)
        return;
    *at = t->next;
    twin_bytes -= t->bytes;
    free(t->shadow);
    free(t);
}

/* The program's changes, written into the twins now: the request that follows (a launch, a
 * copy) is decoded after this one, so whatever the device does for it sees them. */
CUresult tfw_tfi_mirror_push(uint64_t bytes, const void *runs)
{
    size_t at = 0;
    uint64_t key;
    uint32_t off, len;
    const uint8_t *in;
    int more;
    while ((more = tfp_mirror_next(runs, bytes, &at, &key, &off, &len, &in)) == 1) {
        struct twin *t = find_twin(key);
        if (!t || off > t->bytes || len > t->bytes - off)
            return tfw_malformed(tfw_self, "tfi_mirror_push", "a run outside the twins");
        tfp_mirror_apply(t->here + off, t->shadow + off, in, len);
    }
    return more == 0 ? CUDA_SUCCESS
                     : tfw_malformed(tfw_self, "tfi_mirror_push", "runs do not parse");
}

/* What the device changed in the twins since the last exchange, as much as fits. Asked after a
 * synchronizing call, so the work it waited for has finished writing. */
CUresult tfw_tfi_mirror_pull(uint64_t capacity, uint64_t *used, unsigned int *more, void *runs)
{
    size_t n = 0;
    *more = 0;
    for (struct twin *t = twins; t && !*more; t = t->next) {
        size_t pos = 0;
        tfp_mirror_diff(t->addr, 0, t->here, t->shadow, t->bytes, &pos, runs, capacity, &n);
        *more = pos < t->bytes;
    }
    *used = n;
    return CUDA_SUCCESS;
}
