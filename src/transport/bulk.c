/*
 * Large frames in pieces, for bulk copies: a frame sent as a header and then pieces as the
 * worker's device copies produce them, and on shared memory, room in the ring and payload in
 * the ring used in place (a device copy writes into or reads from the ring itself: no staging
 * buffer, and the peer copies the previous piece meanwhile). Frame layout is unchanged: the
 * peer sees an ordinary frame. Calls conn.c, shmring.c, sock.c and wire.c.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define SMALL_IOV 16

/* The pieces of iov, their sum in *sum; TF_ERR_INVALID for a negative count or a NULL list. */
static int iov_sum(const struct iovec *iov, int iovcnt, uint64_t *sum)
{
    if (iovcnt < 0 || (iovcnt > 0 && !iov))
        return TF_ERR_INVALID;
    *sum = 0;
    for (int i = 0; i < iovcnt; i++)
        *sum += iov[i].iov_len;
    return TF_OK;
}

/* Writes one piece of the open frame (hdr, if not NULL, first) on either transport. */
static int write_piece(struct tf_conn *c, const uint8_t *hdr, const struct iovec *iov, int iovcnt,
                       uint64_t bytes)
{
    struct iovec small[SMALL_IOV], *v = small;
    int n = iovcnt + (hdr ? 1 : 0);
    if (n > SMALL_IOV && !(v = malloc(sizeof *v * (size_t)n)))
        return TF_ERR_NOMEM;
    int k = 0;
    if (hdr)
        v[k++] = (struct iovec){(void *)hdr, TF_FRAME_HEADER_SIZE};
    if (iovcnt > 0)
        memcpy(v + k, iov, sizeof *v * (size_t)iovcnt);
    uint64_t total = bytes + (hdr ? TF_FRAME_HEADER_SIZE : 0);
    int rc = c->send_packed ? tft_pack_write(c, hdr, iov, iovcnt)
             : total == 0 ? TF_OK
             : c->transport == TF_TRANSPORT_SHM ? tft_ring_write(c, v, n, total)
                                                : tft_sock_write_all(c, v, n, -1);
    if (v != small)
        free(v);
    return rc;
}

int tf_send_begin(struct tf_conn *c, uint32_t type, uint32_t flags, uint64_t id, uint64_t total,
                  const struct iovec *iov, int iovcnt)
{
    int rc = tft_conn_check_usable(c);
    if (rc)
        return rc;
    if (c->send_left)
        return TF_ERR_STATE;
    uint64_t first;
    if (type == 0 || type >= TF_FRAME_TYPE_RESERVED_MIN || iov_sum(iov, iovcnt, &first) ||
        first > total)
        return TF_ERR_INVALID;
    if (total > c->max_frame)
        return TF_ERR_TOO_LARGE;
    uint8_t hdr[TF_FRAME_HEADER_SIZE];
    struct tf_frame_header h = {type, flags, id, total};
    tf_frame_header_encode(&h, hdr);
    c->send_packed = tft_packs(c, total);
    if ((rc = write_piece(c, hdr, iov, iovcnt, first)))
        return rc;
    c->send_left = total - first;
    return TF_OK;
}

int tf_send_more(struct tf_conn *c, const struct iovec *iov, int iovcnt)
{
    int rc = tft_conn_check_usable(c);
    if (rc)
        return rc;
    uint64_t bytes;
    if (iov_sum(iov, iovcnt, &bytes) || bytes > c->send_left)
        return TF_ERR_INVALID;
    if ((rc = write_piece(c, NULL, iov, iovcnt, bytes)))
        return rc;
    c->send_left -= bytes;
    return TF_OK;
}

int tf_send_space(struct tf_conn *c, uint64_t want, void **ptr, uint64_t *len)
{
    int rc = tft_conn_check_usable(c);
    if (rc)
        return rc;
    if (c->transport != TF_TRANSPORT_SHM)
        return TF_ERR_NOT_SUPPORTED;
    if (want > c->send_left)
        want = c->send_left;
    if (want == 0)
        return TF_ERR_STATE;
    return tft_ring_space(c, want, ptr, len);
}

int tf_send_commit(struct tf_conn *c, uint64_t len)
{
    int rc = tft_conn_check_usable(c);
    if (rc)
        return rc;
    if (c->transport != TF_TRANSPORT_SHM)
        return TF_ERR_NOT_SUPPORTED;
    if (len > c->send_left)
        return TF_ERR_INVALID;
    tft_ring_commit(c, len);
    c->send_left -= len;
    return TF_OK;
}

int tf_recv_peek(struct tf_conn *c, uint64_t want, const void **ptr, uint64_t *len)
{
    int rc = tft_conn_check_usable(c);
    if (rc)
        return rc;
    if (c->transport != TF_TRANSPORT_SHM)
        return TF_ERR_NOT_SUPPORTED;
    if (!c->frame_open || c->payload_left == 0)
        return TF_ERR_STATE;
    if (want > c->payload_left)
        want = c->payload_left;
    return tft_ring_peek(c, want, ptr, len);
}
