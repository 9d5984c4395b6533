/*
 * softgpu's device address space, as the PTX interpreter sees it.
 *
 * Device memory is host memory: a device pointer is the host address of its bytes (unified
 * addressing, as on a real GPU with UVA). All device allocations of the process live in one
 * reserved range [base, limit); `pages` holds one byte per 4 KiB page of that range, non-zero
 * while the page belongs to a live allocation. Freed pages stay mapped (zero-filled) so that a
 * kernel racing a free reads zeros instead of faulting; they are only marked inaccessible.
 * A second range below 4 GiB, the 32-bit window, holds what the CUDA 3.1 ABIs allocate and
 * module globals (memory.c); it is checked the same way. Host memory that kernels may touch
 * but that lies outside both (cuMemHostRegister'ed buffers) is answered by `check_extra`, the
 * slow path.
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
    /* The 32-bit window (memory.c), the same way: empty (low_limit 0) until first used. */
    uint64_t low_base, low_limit;
    const volatile uint8_t *low_pages;
    /* Slow path for accessible host memory outside the range; may be NULL. */
    int (*check_extra)(const struct sg_addr_space *as, uint64_t addr, uint64_t len);
};

/* True when [addr, end) lies in [base, limit) and each of its pages is accessible. */
static inline int sg_range_ok(uint64_t base, uint64_t limit, const volatile uint8_t *pages,
                              uint64_t addr, uint64_t end)
{
    if (addr < base || end > limit || end <= addr)
        return 0;
    uint64_t first = (addr - base) >> SG_PAGE_SHIFT;
    uint64_t last = (end - 1 - base) >> SG_PAGE_SHIFT;
    for (uint64_t p = first; p <= last; p++)
        if (!pages[p])
            return 0;
    return 1;
}

/* True when [addr, addr+len) may be read and written by a kernel. len is > 0. */
static inline int sg_addr_ok(const struct sg_addr_space *as, uint64_t addr, uint64_t len)
{
    uint64_t end = addr + len;
    if (addr >= as->base && end <= as->limit && end > addr)
        return sg_range_ok(as->base, as->limit, as->pages, addr, end);
    if (addr < as->low_limit && end > as->low_base)
        return sg_range_ok(as->low_base, as->low_limit, as->low_pages, addr, end);
    return as->check_extra ? as->check_extra(as, addr, len) : 0;
}

#endif
