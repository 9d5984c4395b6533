/*
 * Fuzz target for the fat-binary reader: lists the entries of arbitrary bytes as a container,
 * decompresses each, selects PTX for a few SMs and classifies the image. Wrappers are skipped
 * by fatbin_select_ptx here because a wrapper holds a raw pointer that the reader (like the
 * driver) must trust; everything else must be rejected cleanly or parsed within the input.
 *
 * May call: the fat-binary reader (fatbin.h), libc.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fatbin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    struct fatbin_entry v[16];
    size_t n = 0;
    if (fatbin_entries(data, size, v, 16, &n, err, sizeof err) == FATBIN_OK) {
        for (size_t i = 0; i < n && i < 16; i++) {
            uint8_t *out;
            size_t len;
            if (fatbin_entry_bytes(&v[i], &out, &len, err, sizeof err) == FATBIN_OK)
                free(out);
        }
    }
    if (fatbin_image_kind(data, size) != FATBIN_IMAGE_WRAPPER) {
        static const unsigned sms[] = {52, 80, 90, 120};
        for (int i = 0; i < 4; i++) {
            char *ptx;
            size_t len;
            if (fatbin_select_ptx(data, size, sms[i], &ptx, &len, err, sizeof err) == FATBIN_OK)
                free(ptx);
        }
        uint64_t bytes;
        fatbin_image_globals_bytes(data, size, &bytes, err, sizeof err);
    }
    return 0;
}
