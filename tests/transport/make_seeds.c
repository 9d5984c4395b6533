/* Writes the fuzz seeds (run once by hand; the seeds are checked in):
 *   cc -I../../src/transport -I../../include make_seeds.c ../../src/transport/wire.c -o /tmp/ms
 *   (cd seeds && /tmp/ms) */
#include <stdio.h>
#include <string.h>

#include "transport.h"

static void put(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len)
        perror(path);
    if (f)
        fclose(f);
}

int main(void)
{
    uint8_t buf[8 + TF_WELCOME_MAX_SIZE + 1];
    uint64_t max = 1 << 20;
    struct tf_frame_header h = {.type = 3, .flags = 1, .id = 42, .length = 4096};
    memcpy(buf, &max, 8);
    tf_frame_header_encode(&h, buf + 8);
    put("frame/small.bin", buf, 8 + TF_FRAME_HEADER_SIZE);
    h.length = 2 << 20;
    tf_frame_header_encode(&h, buf + 8);
    put("frame/too-large.bin", buf, 8 + TF_FRAME_HEADER_SIZE);
    tf_frame_header_encode(&h, buf);
    put("frame/bare.bin", buf, TF_FRAME_HEADER_SIZE);

    struct tf_hello hello = {.version = TFUSE_PROTOCOL_VERSION, .transport = TF_TRANSPORT_SHM,
                             .pid = 1234, .ring_bytes = 4 << 20, .max_frame = 1 << 30};
    strcpy(hello.token, "session-token-0123456789");
    strcpy(hello.hostname, "gpu-node-7");
    buf[0] = 0;
    int n = tf_hello_encode(&hello, buf + 1, sizeof buf - 1);
    put("handshake/hello.bin", buf, (size_t)n + 1);
    struct tf_welcome w = {.version = TFUSE_PROTOCOL_VERSION, .accepted = 0};
    strcpy(w.reason, "protocol version mismatch: client speaks version 2, node speaks version 1");
    buf[0] = 1;
    n = tf_welcome_encode(&w, buf + 1, sizeof buf - 1);
    put("handshake/reject.bin", buf, (size_t)n + 1);
    w = (struct tf_welcome){.version = 1, .accepted = 1, .transport = 1, .session_id = 9,
                            .max_frame = 1 << 30};
    n = tf_welcome_encode(&w, buf + 1, sizeof buf - 1);
    put("handshake/accept.bin", buf, (size_t)n + 1);
    return 0;
}
