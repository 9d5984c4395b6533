/*
 * Fuzz target for the worker's request decoders: the first 4 bytes pick a call id, the rest is
 * the request payload. The session has no backend entries, so every decoder runs to its checks
 * and stops; it must never crash, read out of bounds or leak, whatever the bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t id;
    memcpy(&id, data, 4);
    id %= TFP_CALL_COUNT + 2;
    static struct tfw_session s;
    tfw_handles_free(&s.handles);
    tf_ranges_free(&s.allocs);
    memset(&s, 0, sizeof s);
    s.out_fd = -1;
    s.max_frame = 1 << 20;
    tfp_writer_init(&s.out);
    /* Some owned objects so the checks have something to compare against. */
    tfw_handles_add(&s.handles, 0x1000, TFW_K_STREAM);
    tfw_handles_add(&s.handles, 0x2000, TFW_K_FUNC);
    tf_ranges_add(&s.allocs, 0x100000, 4096);
    tfw_self = &s;
    tfw_handle_request(&s, id, data + 4, size - 4);
    tfp_writer_free(&s.out);
    tfw_handles_free(&s.handles);
    tf_ranges_free(&s.allocs);
    free(s.bulk);   /* a bulk reply of 64 KiB or more (what the worker frees at session end) */
    s.bulk = NULL;
    tfw_self = NULL;
    return 0;
}
