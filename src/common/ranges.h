/*
 * Byte ranges of an address space, sorted and non-overlapping, each with the object it came
 * from: the worker's record of a session's allocations (src/worker/session.h) and the stub's
 * record of the device pointers its program holds (src/stub/local.c). Lookups are a binary
 * search; insertion and removal move the tail (allocations are few and long-lived).
 * May call: libc only. Not thread-safe: callers serialise.
 */
#ifndef TFUSE_COMMON_RANGES_H
#define TFUSE_COMMON_RANGES_H

#include <stddef.h>
#include <stdint.h>

struct tf_range {
    uint64_t base, size;
    uint64_t parent;     /* what it came from (a module global: its module), else 0 */
    uint64_t id;         /* unique in the process (from 1), new at each add: a buffer id */
};

struct tf_ranges {
    struct tf_range *v;  /* sorted by base, non-overlapping */
    size_t n, cap;
};

/* Records [base, base+size); an existing range with the same base is replaced (a module global
 * looked up twice). Returns 0, or -1 when out of memory. size 0 is recorded as 1 byte. */
int tf_ranges_add(struct tf_ranges *r, uint64_t base, uint64_t size);
int tf_ranges_add_child(struct tf_ranges *r, uint64_t base, uint64_t size, uint64_t parent);
/* 1 when [addr, addr+len) lies inside one recorded range. */
int tf_ranges_contains(const struct tf_ranges *r, uint64_t addr, uint64_t len);
/* The range that holds addr, or NULL. */
const struct tf_range *tf_ranges_find(const struct tf_ranges *r, uint64_t addr);
/* 1 when a range starts exactly at base. */
int tf_ranges_is_base(const struct tf_ranges *r, uint64_t base);
void tf_ranges_del(struct tf_ranges *r, uint64_t base);
void tf_ranges_free(struct tf_ranges *r);

#endif
