/*
 * softgpu's device address space, as the PTX interpreter sees it.
 *
 * Device memory is host memory: a device pointer is the host address of its bytes (unified
 * addressing, as on a real GPU with UVA). All device allocations of the process live in one
 * reserved range [base, limit); `pages` holds one byte per 4 KiB page of that range, non-zero
 * while the page belongs to a live allocation. Freed pages stay mapped (zero-filled) so that a
 * kernel racing a free reads zeros instead of faulting; they are only marked inaccessible.
 * Host memory that kernels may touch but that lies outside the range (cuMemHostRegister'ed
 * buffers) is answered by `check_extra`, the slow path.
 *
 * Implemented by the driver side of softgpu (memory.c); read by the interpreter on every
 * global access through sg_addr_ok(), which is why it is inline and lock-free.
 */
#ifndef SOFTGPU_DEVMEM_H
#define SOFTGPU_DEVMEM_H

#include <stddef.h>
#include <stdint.h>

#define SG_PAGE_SHIFT 12
#define SG_PAGE_SIZE ((uint64_t)1 << SG_PAGE_SHIFT)

struct sg_addr_space {
    uint64_t base;                 /* first byte of the reserved range */
    uint64_t limit;                /* one past its last byte */
    const volatile uint8_t *pages; /* (limit-base)/SG_PAGE_SIZE entries; non-zero = accessible */
    /* Slow path for accessible host memory outside the range; may be NULL. */
    int (*check_extra)(const struct sg_addr_space *as, uint64_t addr, uint64_t len);
};

/* True when [addr, addr+len) may be read and written by a kernel. len is > 0. */
static inline int sg_addr_ok(const struct sg_addr_space *as, uint64_t addr, uint64_t len)
{
    uint64_t end = addr + len;
    if (addr >= as->base && end <= as->limit && end > addr) {
        uint64_t first = (addr - as->base) >> SG_PAGE_SHIFT;
        uint64_t last = (end - 1 - as->base) >> SG_PAGE_SHIFT;
        for (uint64_t p = first; p <= last; p++)
            if (!as->pages[p])
                return 0;
        return 1;
    }
    return as->check_extra ? as->check_extra(as, addr, len) : 0;
}

#endif
