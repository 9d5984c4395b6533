/* Writes the fuzz seeds (run once by hand; the seeds are checked in):
 *   cc -I../../src/transport -I../../include make_seeds.c ../../src/transport/wire.c \
 *      -llz4 -lzstd -o /tmp/ms
 *   (cd seeds && mkdir -p pack && /tmp/ms) */
#include <lz4.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

#include "transport.h"

static void put(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len)
        perror(path);
    if (f)
        fclose(f);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Packed frames for fuzz_pack: byte 0 picks the method (bit 0: zstd) and the read piece. Each
 * frame: a 6000-byte payload as a raw chunk of 1000 bytes and a compressed chunk of 5000. */
static void pack_seeds(void)
{
    static uint8_t raw[6000], out[1 + 32 + 8 + 2 * 12 + 8000];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = i % 64 < 16 ? (uint8_t)(i * 2654435761u >> 24) : 0;
    for (int zstd = 0; zstd < 2; zstd++) {
        uint8_t *p = out;
        *p++ = (uint8_t)(zstd | 4);
        struct tf_frame_header h = {TF_FRAME_PACKED, 7, 1, sizeof raw};
        tf_frame_header_encode(&h, p);
        p += TF_FRAME_HEADER_SIZE;
        memset(p, 0, 8);
        p += 8;
        put32(p, 1000);
        put32(p + 4, 1000);
        memset(p + 8, 0, 4);
        memcpy(p + 12, raw, 1000);
        p += 12 + 1000;
        size_t n = zstd ? ZSTD_compress(p + 12, 4000, raw + 1000, 5000, 1)
                        : (size_t)LZ4_compress_default((const char *)raw + 1000,
                                                       (char *)p + 12, 5000, 4000);
        put32(p, 5000);
        put32(p + 4, (uint32_t)n);
        memset(p + 8, 0, 4);
        p[8] = (uint8_t)(zstd ? 2 : 1);
        p += 12 + n;
        put(zstd ? "pack/zstd.bin" : "pack/lz4.bin", out, (size_t)(p - out));
    }
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
    pack_seeds();
    return 0;
}
