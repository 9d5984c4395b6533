/*
 * Fuzz target: the reader of compressed ("packed") frames (src/transport/pack.c) behind
 * tf_recv_header / tf_recv_payload, on a stream connection that negotiated compression. The
 * input's first byte picks the method (lz4 or zstd) and the piece size the payload is read in;
 * the rest is what the peer sent (a frame header, its extension, chunks). Beyond "no crash and
 * no huge allocation" (ASan, the chunk bound): a refusal is a protocol error with a reason,
 * and a frame that is accepted delivers exactly its length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (200u << 10))
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 0;
    int big = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1)) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }
    close(sv[1]);   /* the peer is done: short input ends in "closed", never a wait */
    struct tf_conn *c = tft_conn_new(sv[0], false, true);
    c->transport = TF_TRANSPORT_STREAM;
    c->handshaken = true;
    c->compress = data[0] & 1 ? TF_COMPRESS_ZSTD : TF_COMPRESS_LZ4;
    c->max_frame = 1 << 20;
    c->rbuf_cap = 64 << 10;
    c->rbuf = malloc(c->rbuf_cap);
    size_t piece = 1 + (size_t)(data[0] >> 1) * 4099;
    uint8_t *out = malloc(piece);
    struct tf_frame_header h;
    while (tf_recv_header(c, &h, 0) == TF_OK) {
        uint64_t got = 0;
        int rc = TF_OK;
        while (rc == TF_OK && got < h.length) {
            uint64_t k = h.length - got < piece ? h.length - got : piece;
            if ((rc = tf_recv_payload(c, out, k)) == TF_OK)
                got += k;
        }
        if (rc != TF_OK && rc != TF_ERR_PROTOCOL && rc != TF_ERR_CLOSED)
            abort();
        if (rc != TF_OK && (!c->err[0] || strcmp(c->err, "no error") == 0))
            abort();   /* every refusal says why */
        if (rc != TF_OK)
            break;
        if (tf_recv_remaining(c) != 0)
            abort();
    }
    free(out);
    tf_conn_close(c);
    return 0;
}
