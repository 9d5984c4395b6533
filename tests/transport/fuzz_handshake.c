/*
 * Fuzz target: the handshake decoders (tf_hello_decode on the server, tf_welcome_decode on the
 * client). The first input byte picks which one. An accepted message must hold NUL-terminated
 * strings within their bounds and re-encode to exactly the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport.h"

static void check_hello(const uint8_t *data, size_t size)
{
    struct tf_hello h;
    char why[160];
    if (tf_hello_decode(data, size, &h, why, sizeof why) != TF_OK)
        return;
    if (strlen(h.token) > TF_TOKEN_MAX || strlen(h.hostname) > TF_HOSTNAME_MAX)
        abort();
    uint8_t again[TF_HELLO_MAX_SIZE];
    int n = tf_hello_encode(&h, again, sizeof again);
    /* Reserved bytes 36..39 are not carried, so compare everything else. */
    if (n != (int)size || memcmp(again, data, 36) != 0 || memcmp(again + 40, data + 40, size - 40))
        abort();
}

static void check_welcome(const uint8_t *data, size_t size)
{
    struct tf_welcome w;
    char why[160];
    if (tf_welcome_decode(data, size, &w, why, sizeof why) != TF_OK)
        return;
    if (strlen(w.reason) > TF_REASON_MAX || w.accepted > 1)
        abort();
    uint8_t again[TF_WELCOME_MAX_SIZE];
    int n = tf_welcome_encode(&w, again, sizeof again);
    if (n != (int)size || memcmp(again, data, 34) != 0 || memcmp(again + 40, data + 40, size - 40))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        check_welcome(data + 1, size - 1);
    else
        check_hello(data + 1, size - 1);
    return 0;
}
