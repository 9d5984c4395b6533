/*
 * The per-device shared-memory region: creation, mapping and validation, and the vGPU slot
 * lifecycle (create with the device-wide memory check, delete, collect, lookups). See
 * vgpu_region.h for the layout and docs/vgpu.md for the protocol between node and workers.
 *
 * Owns: the region file/memfd and the slot state machine. May call: libc, Linux syscalls,
 * src/common/secret.h (token compare).
 */
#include "vgpu_region.h"
#include "vgpu_futex.h"
#include "vgpu_err.h"
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

size_t vgpu_region_size(uint32_t nslots)
{
    size_t hdr = (sizeof(struct vgpu_region_header) + 63) & ~(size_t)63;
    return hdr + (size_t)nslots * sizeof(struct vgpu_slot);
}

static struct vgpu_slot *slots_of(struct vgpu_region_header *h)
{
    size_t hdr = (sizeof(struct vgpu_region_header) + 63) & ~(size_t)63;
    return (struct vgpu_slot *)((char *)h + hdr);
}

static int map_region(int fd, size_t size, struct vgpu_region **out, char *err, size_t errlen)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return vgpu_fail(err, errlen, "cannot map vGPU region: %s", strerror(errno));
    struct vgpu_region *r = calloc(1, sizeof *r);
    if (!r) {
        munmap(p, size);
        return vgpu_fail(err, errlen, "out of memory");
    }
    r->hdr = p;
    r->slots = slots_of(p);
    r->size = size;
    r->fd = fd;
    *out = r;
    return 0;
}

int vgpu_region_create(const char *name, const struct vgpu_device_desc *dev, uint32_t nslots,
                       struct vgpu_region **out, char *err, size_t errlen)
{
    if (!dev || dev->memory == 0)
        return vgpu_fail(err, errlen, "vGPU region: the device's memory size is required");
    if (nslots == 0 || nslots > VGPU_MAX_SLOTS)
        return vgpu_fail(err, errlen, "vGPU region: %u slots requested, 1..%d allowed", nslots, VGPU_MAX_SLOTS);
    int fd = name ? shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)
                  : memfd_create("tfuse-vgpu", MFD_CLOEXEC);
    if (fd < 0)
        return vgpu_fail(err, errlen, "cannot create vGPU region %s: %s", name ? name : "(memfd)", strerror(errno));
    size_t size = vgpu_region_size(nslots);
    if (ftruncate(fd, (off_t)size) != 0) {
        int e = errno;
        close(fd);
        if (name)
            shm_unlink(name);
        return vgpu_fail(err, errlen, "cannot size vGPU region: %s", strerror(e));
    }
    if (map_region(fd, size, out, err, errlen) != 0) {
        close(fd);
        if (name)
            shm_unlink(name);
        return -1;
    }
    /* ftruncate zero-fills: every slot starts FREE and every counter at zero. */
    struct vgpu_region_header *h = (*out)->hdr;
    h->version = VGPU_REGION_VERSION;
    h->header_size = sizeof *h;
    h->slot_size = sizeof(struct vgpu_slot);
    h->nslots = nslots;
    h->flags = dev->flags;
    h->mem_promise_max = dev->promise_max > dev->memory ? dev->promise_max : 0;
    h->device_index = dev->index;
    h->device_mem = dev->memory;
    h->device_tflops = dev->tflops;
    snprintf(h->device_uuid, sizeof h->device_uuid, "%s", dev->uuid ? dev->uuid : "");
    for (uint32_t i = 0; i < nslots; i++)
        (*out)->slots[i].index = i;
    /* The magic goes last: a process that opens the region early sees it as not ready. */
    atomic_thread_fence(memory_order_release);
    h->magic = VGPU_REGION_MAGIC;
    return 0;
}

static int check_header(const struct vgpu_region_header *h, size_t file_size, char *err, size_t errlen)
{
    if (h->magic != VGPU_REGION_MAGIC)
        return vgpu_fail(err, errlen, "not a vGPU region (bad magic 0x%08x)", h->magic);
    atomic_thread_fence(memory_order_acquire); /* pairs with the creator's fence before magic */
    if (h->version != VGPU_REGION_VERSION)
        return vgpu_fail(err, errlen, "vGPU region version %u, this build speaks %u", h->version, VGPU_REGION_VERSION);
    if (h->header_size != sizeof *h || h->slot_size != sizeof(struct vgpu_slot))
        return vgpu_fail(err, errlen, "vGPU region layout mismatch (header %u/%zu, slot %u/%zu bytes)",
                         h->header_size, sizeof *h, h->slot_size, sizeof(struct vgpu_slot));
    if (h->nslots == 0 || h->nslots > VGPU_MAX_SLOTS || vgpu_region_size(h->nslots) > file_size)
        return vgpu_fail(err, errlen, "vGPU region is truncated or has a bad slot count (%u)", h->nslots);
    return 0;
}

int vgpu_region_open(const char *name, int fd, struct vgpu_region **out, char *err, size_t errlen)
{
    int own = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0)
                      : (name ? shm_open(name, O_RDWR | O_CLOEXEC, 0) : -1);
    if (own < 0)
        return vgpu_fail(err, errlen, "cannot open vGPU region %s: %s", name ? name : "(fd)",
                         name || fd >= 0 ? strerror(errno) : "no name and no fd");
    struct stat st;
    if (fstat(own, &st) != 0 || (size_t)st.st_size < sizeof(struct vgpu_region_header)) {
        close(own);
        return vgpu_fail(err, errlen, "vGPU region is too small to be one");
    }
    if (map_region(own, (size_t)st.st_size, out, err, errlen) != 0) {
        close(own);
        return -1;
    }
    if (check_header((*out)->hdr, (size_t)st.st_size, err, errlen) != 0) {
        vgpu_region_close(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

void vgpu_region_close(struct vgpu_region *r)
{
    if (!r)
        return;
    munmap(r->hdr, r->size);
    if (r->fd >= 0)
        close(r->fd);
    free(r);
}

int vgpu_region_unlink(const char *name)
{
    return shm_unlink(name) == 0 ? 0 : -errno;
}

int vgpu_random_token(char out[VGPU_TOKEN_MAX])
{
    unsigned char raw[VGPU_TOKEN_BYTES];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * sizeof raw] = 0;
    return 0;
}

/* Adds limit to the device-wide sum unless that would pass device memory (and the region does
 * not allow oversubscription). A CAS loop, so two nodes' threads cannot both squeeze in. */
int vgpu_region_charge_sum(struct vgpu_region_header *h, uint64_t limit, char *err, size_t errlen)
{
    uint64_t sum = atomic_load(&h->mem_limit_sum);
    for (;;) {
        if (limit > UINT64_MAX - sum)
            return vgpu_fail(err, errlen, "memory limits overflow");
        uint64_t cap = h->mem_promise_max ? h->mem_promise_max : h->device_mem;
        if (!(h->flags & VGPU_REGION_OVERSUBSCRIBE) && sum + limit > cap) {
            char want[32], have[32], free_[32];
            vgpu_format_size(limit, want, sizeof want);
            vgpu_format_size(cap, have, sizeof have);
            vgpu_format_size(cap - sum, free_, sizeof free_);
            return vgpu_fail(err, errlen,
                             "device %u can promise %s%s, of which %s is not yet promised to "
                             "vGPUs; a %s vGPU does not fit%s", h->device_index, have,
                             h->mem_promise_max ? " (--oversubscribe-memory)" : "", free_, want,
                             h->mem_promise_max ? "" : " (the node does not oversubscribe memory "
                             "unless told to)");
        }
        if (atomic_compare_exchange_weak(&h->mem_limit_sum, &sum, sum + limit))
            return 0;
    }
}

int vgpu_spec_validate(const struct vgpu_spec *spec, char *err, size_t errlen)
{
    if (spec->mem_limit == 0)
        return vgpu_fail(err, errlen, "a vGPU needs a memory limit above zero");
    if (spec->mem_limit > VGPU_MEM_LIMIT_MAX)
        return vgpu_fail(err, errlen, "a vGPU's memory limit is at most %llu bytes (256 TiB)",
                         (unsigned long long)VGPU_MEM_LIMIT_MAX);
    if (spec->qos < 0 || spec->qos >= VGPU_QOS_COUNT)
        return vgpu_fail(err, errlen, "unknown QoS class %d", spec->qos);
    if (spec->request_bp > VGPU_BP_FULL || spec->limit_bp > VGPU_BP_FULL)
        return vgpu_fail(err, errlen, "compute request and limit are at most 100%% of the device");
    if (spec->limit_bp && spec->limit_bp < spec->request_bp)
        return vgpu_fail(err, errlen, "compute limit (%.2f%%) is below the request (%.2f%%)",
                         spec->limit_bp / 100.0, spec->request_bp / 100.0);
    if (spec->request_bp == 0 && spec->limit_bp != 0)
        return vgpu_fail(err, errlen, "a compute limit needs a compute request");
    if (spec->id && strlen(spec->id) >= VGPU_ID_MAX)
        return vgpu_fail(err, errlen, "vGPU id is longer than %d characters", VGPU_ID_MAX - 1);
    return 0;
}

static void fill_slot(struct vgpu_slot *s, const struct vgpu_spec *spec, const char *token)
{
    s->qos = (uint32_t)spec->qos;
    s->request_bp = spec->request_bp;
    s->limit_bp = spec->limit_bp ? spec->limit_bp : spec->request_bp;
    /* No compute spec at all means unlimited: the fast path that pays nothing per launch. A
     * vGPU with a request stays under the controller even at a 100% limit, because its
     * request must be arbitrated against the other vGPUs' requests. */
    s->compute_unlimited = spec->request_bp == 0;
    s->mem_limit = spec->mem_limit;
    atomic_store(&s->mem_admit, spec->mem_limit);
    s->generation++;
    if (spec->id)
        snprintf(s->id, sizeof s->id, "%s", spec->id);
    else
        snprintf(s->id, sizeof s->id, "vgpu-%u", s->index);
    memcpy(s->token, token, VGPU_TOKEN_MAX);
    for (int i = 0; i < VGPU_MAX_IPC; i++)
        atomic_store(&s->ipc[i].pid, 0);
    atomic_store(&s->mem_used, 0);
    atomic_store(&s->mem_peak, 0);
    atomic_store(&s->mem_denied, 0);
    atomic_store(&s->mem_denied_max, 0);
    atomic_store(&s->tokens_ns, 0);
    atomic_store(&s->throttled, 0);
    atomic_store(&s->placed_device, 0);
    atomic_store(&s->busy_ns, 0);
    atomic_store(&s->launches, 0);
    atomic_store(&s->throttled_ns, 0);
}

int vgpu_create(struct vgpu_region *r, const struct vgpu_spec *spec, char *err, size_t errlen)
{
    if (!r || !spec)
        return vgpu_fail(err, errlen, "no region or no spec");
    if (vgpu_spec_validate(spec, err, errlen) != 0)
        return -1;
    if (spec->id && vgpu_find_id(r, spec->id) >= 0)
        return vgpu_fail(err, errlen, "a vGPU named '%s' already exists", spec->id);
    char token[VGPU_TOKEN_MAX];
    int rc = vgpu_random_token(token);
    if (rc != 0)
        return vgpu_fail(err, errlen, "cannot draw a random token: %s", strerror(-rc));
    if (vgpu_region_charge_sum(r->hdr, spec->mem_limit, err, errlen) != 0)
        return -1;
    for (uint32_t i = 0; i < r->hdr->nslots; i++) {
        struct vgpu_slot *s = &r->slots[i];
        uint32_t expect = VGPU_SLOT_FREE;
        if (!atomic_compare_exchange_strong(&s->state, &expect, VGPU_SLOT_CLAIMED))
            continue;
        fill_slot(s, spec, token);
        atomic_store_explicit(&s->state, VGPU_SLOT_LIVE, memory_order_release);
        return (int)i;
    }
    atomic_fetch_sub(&r->hdr->mem_limit_sum, spec->mem_limit);
    return vgpu_fail(err, errlen, "device %u already has %u vGPUs, the most this region holds",
                     r->hdr->device_index, r->hdr->nslots);
}

struct vgpu_slot *vgpu_slot_at(const struct vgpu_region *r, int slot)
{
    if (!r || slot < 0 || (uint32_t)slot >= r->hdr->nslots)
        return NULL;
    return &r->slots[slot];
}

int vgpu_delete(struct vgpu_region *r, int slot)
{
    struct vgpu_slot *s = vgpu_slot_at(r, slot);
    if (!s)
        return -ENOENT;
    uint32_t expect = VGPU_SLOT_LIVE;
    if (!atomic_compare_exchange_strong(&s->state, &expect, VGPU_SLOT_DELETED))
        return -ENOENT;
    /* Wake every sleeping acquirer: each re-reads the state and fails with -ENODEV. */
    atomic_fetch_add(&s->wake_seq, 1);
    vgpu_futex_wake_all(&s->wake_seq);
    vgpu_region_collect(r);
    return 0;
}

static int slot_has_processes(struct vgpu_slot *s)
{
    for (int i = 0; i < VGPU_MAX_PROCS; i++)
        if (atomic_load(&s->procs[i].pid) != 0)
            return 1;
    return 0;
}

int vgpu_region_collect(struct vgpu_region *r)
{
    int freed = 0;
    for (uint32_t i = 0; i < r->hdr->nslots; i++) {
        struct vgpu_slot *s = &r->slots[i];
        uint32_t expect = VGPU_SLOT_DELETED;
        /* CLAIMED fences off the slot while we look; an attacher that raced in sees a state
         * other than LIVE after claiming its entry and backs out (vgpu_mem_attach). */
        if (!atomic_compare_exchange_strong(&s->state, &expect, VGPU_SLOT_CLAIMED))
            continue;
        if (slot_has_processes(s)) {
            atomic_store(&s->state, VGPU_SLOT_DELETED);
            continue;
        }
        atomic_fetch_sub(&r->hdr->mem_limit_sum, s->mem_limit);
        memset(s->token, 0, sizeof s->token);
        atomic_store(&s->state, VGPU_SLOT_FREE);
        freed++;
    }
    return freed;
}

int vgpu_find_token(const struct vgpu_region *r, const char *token)
{
    if (!r || !token || strlen(token) != 2 * VGPU_TOKEN_BYTES)
        return -1;
    int found = -1;
    for (uint32_t i = 0; i < r->hdr->nslots; i++) {
        const struct vgpu_slot *s = &r->slots[i];
        if (atomic_load(&s->state) != VGPU_SLOT_LIVE)
            continue;
        /* every live slot is compared, in constant time: the time taken tells nothing */
        if (tf_secret_equal_n(token, 2 * VGPU_TOKEN_BYTES, s->token, 2 * VGPU_TOKEN_BYTES))
            found = (int)i;
    }
    return found;
}

int vgpu_find_id(const struct vgpu_region *r, const char *id)
{
    if (!r || !id)
        return -1;
    for (uint32_t i = 0; i < r->hdr->nslots; i++) {
        const struct vgpu_slot *s = &r->slots[i];
        if (atomic_load(&s->state) == VGPU_SLOT_LIVE && strcmp(s->id, id) == 0)
            return (int)i;
    }
    return -1;
}
