/*
 * Mirrored memory's runs (mirror.h): the diff a sender makes, the reader and the per-byte merge
 * a receiver applies. May call: libc only.
 */
#include <string.h>

#include "mirror.h"

/* Unchanged bytes a run may span rather than start a new one (a header is 16 bytes). */
#define GAP 16

void tfp_mirror_diff(uint64_t key, uint32_t base, const uint8_t *data, uint8_t *shadow,
                     size_t len, size_t *pos, uint8_t *out, size_t cap, size_t *used)
{
    size_t i = *pos;
    while (i < len) {
        /* unchanged memory is skipped in blocks: this scan is what every call costs */
        while (i + 512 <= len && memcmp(data + i, shadow + i, 512) == 0)
            i += 512;
        while (i + 8 <= len && memcmp(data + i, shadow + i, 8) == 0)
            i += 8;
        while (i < len && data[i] == shadow[i])
            i++;
        if (i >= len || cap - *used < TFP_MIRROR_RUN_HEADER + 1)
            break;
        size_t room = cap - *used - TFP_MIRROR_RUN_HEADER, last = i;
        for (size_t end = i + 1; end < len && end - i < room && end - last < GAP; end++)
            if (data[end] != shadow[end])
                last = end;
        uint32_t off = base + (uint32_t)i, n = (uint32_t)(last + 1 - i);
        uint8_t *run = out + *used;
        memcpy(run, &key, 8);
        memcpy(run + 8, &off, 4);
        memcpy(run + 12, &n, 4);
        /* one read of the bytes: the shadow takes what was sent, even if data moves on */
        memcpy(run + TFP_MIRROR_RUN_HEADER, data + i, n);
        memcpy(shadow + i, run + TFP_MIRROR_RUN_HEADER, n);
        *used += TFP_MIRROR_RUN_HEADER + n;
        i = last + 1;
    }
    *pos = i < len ? i : len;
}

int tfp_mirror_next(const uint8_t *buf, size_t n, size_t *at, uint64_t *key, uint32_t *off,
                    uint32_t *len, const uint8_t **bytes)
{
    if (*at == n)
        return 0;
    if (n - *at < TFP_MIRROR_RUN_HEADER)
        return -1;
    memcpy(key, buf + *at, 8);
    memcpy(off, buf + *at + 8, 4);
    memcpy(len, buf + *at + 12, 4);
    if (*len == 0 || n - *at - TFP_MIRROR_RUN_HEADER < *len)
        return -1;
    *bytes = buf + *at + TFP_MIRROR_RUN_HEADER;
    *at += TFP_MIRROR_RUN_HEADER + *len;
    return 1;
}

void tfp_mirror_apply(uint8_t *data, uint8_t *shadow, const uint8_t *in, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (in[k] != shadow[k]) {
            data[k] = in[k];
            shadow[k] = in[k];
        }
}
