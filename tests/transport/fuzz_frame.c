/*
 * Fuzz target: the frame-header decoder (tf_frame_header_decode), the first code that touches
 * bytes a peer sends on every frame. Checks, beyond "no crash", that an accepted header really
 * respects the bound it was decoded against and re-encodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first 8 bytes (if any) choose the bound, so small and huge bounds are both explored. */
    uint64_t max = 1 << 20;
    if (size >= 8 + TF_FRAME_HEADER_SIZE) {
        memcpy(&max, data, 8);
        data += 8;
        size -= 8;
    }
    struct tf_frame_header h;
    char why[160];
    int rc = tf_frame_header_decode(data, size, max, &h, why, sizeof why);
    if (rc == TF_OK) {
        if (h.length > max || h.type == 0)
            abort();
        uint8_t again[TF_FRAME_HEADER_SIZE];
        tf_frame_header_encode(&h, again);
        if (memcmp(again, data, TF_FRAME_HEADER_SIZE) != 0)
            abort();
    } else if (rc != TF_ERR_PROTOCOL && rc != TF_ERR_TOO_LARGE) {
        abort();
    } else if (!memchr(why, '\0', sizeof why) || why[0] == '\0') {
        abort();   /* every refusal says why */
    }
    return 0;
}
