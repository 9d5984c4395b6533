/*
 * Mirrored memory's wire form (tfi_mirror_push / tfi_mirror_pull): the bytes of a buffer that
 * changed since the two sides last agreed, as runs of (u64 key, u32 offset, u32 length, bytes).
 * Each side keeps a shadow: what both sides last agreed the buffer holds. A sender diffs its
 * buffer against the shadow and moves the shadow to what it sent; a receiver takes a byte only
 * where it differs from its own shadow, so bytes it changed itself and the sender did not are
 * kept (runs may span a few unchanged bytes). The stub (src/stub/mirror.c) and the worker
 * (src/worker/mirror.c) share it. May call: libc only.
 */
#ifndef TFUSE_PROTO_MIRROR_H
#define TFUSE_PROTO_MIRROR_H

#include <stddef.h>
#include <stdint.h>

enum { TFP_MIRROR_RUN_HEADER = 16 };

/* Appends to out (cap bytes, `*used` of them taken) the runs of data[0, len) that differ from
 * shadow, from byte *pos on, each named (key, base + offset); copies what it sends into shadow.
 * Stops when out is full: *pos is then where to go on (len when all was sent). */
void tfp_mirror_diff(uint64_t key, uint32_t base, const uint8_t *data, uint8_t *shadow,
                     size_t len, size_t *pos, uint8_t *out, size_t cap, size_t *used);

/* The next run of buf[*at, n): 1 with its fields, 0 at the end, -1 when malformed. */
int tfp_mirror_next(const uint8_t *buf, size_t n, size_t *at, uint64_t *key, uint32_t *off,
                    uint32_t *len, const uint8_t **bytes);

/* Takes a received run into data (and shadow) where it differs from shadow. */
void tfp_mirror_apply(uint8_t *data, uint8_t *shadow, const uint8_t *in, size_t n);

#endif
