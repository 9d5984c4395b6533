/*
 * MD2 (RFC 1319) and HMAC-MD2 (RFC 2104 with MD2's 16-byte block): the hash that cudart's
 * INTEGRITY_CHECK answer is computed with. Owns nothing but pure functions; calls only libc.
 * MD2 is long broken as a cryptographic hash; it is here because cudart demands it.
 */
#include "md2.h"

#include <string.h>

/* RFC 1319 §3.2: the permutation built from the digits of pi. */
static const unsigned char pi_subst[256] = {
    41,  46,  67,  201, 162, 216, 124, 1,   61,  54,  84,  161, 236, 240, 6,   19,
    98,  167, 5,   243, 192, 199, 115, 140, 152, 147, 43,  217, 188, 76,  130, 202,
    30,  155, 87,  60,  253, 212, 224, 22,  103, 66,  111, 24,  138, 23,  229, 18,
    190, 78,  196, 214, 218, 158, 222, 73,  160, 251, 245, 142, 187, 47,  238, 122,
    169, 104, 121, 145, 21,  178, 7,   63,  148, 194, 16,  137, 11,  34,  95,  33,
    128, 127, 93,  154, 90,  144, 50,  39,  53,  62,  204, 231, 191, 247, 151, 3,
    255, 25,  48,  179, 72,  165, 181, 209, 215, 94,  146, 42,  172, 86,  170, 198,
    79,  184, 56,  210, 150, 164, 125, 182, 118, 252, 107, 226, 156, 116, 4,   241,
    69,  157, 112, 89,  100, 113, 135, 32,  134, 91,  207, 101, 230, 45,  168, 2,
    27,  96,  37,  173, 174, 176, 185, 246, 28,  70,  97,  105, 52,  64,  126, 15,
    85,  71,  163, 35,  221, 81,  175, 58,  195, 92,  249, 206, 186, 197, 234, 38,
    44,  83,  13,  110, 133, 40,  132, 9,   211, 223, 205, 244, 65,  129, 77,  82,
    106, 220, 55,  200, 108, 193, 171, 250, 36,  225, 123, 8,   12,  189, 177, 74,
    120, 136, 149, 139, 227, 99,  232, 109, 233, 203, 213, 254, 59,  0,   29,  57,
    242, 239, 183, 14,  102, 88,  208, 228, 166, 119, 114, 248, 235, 117, 75,  10,
    49,  68,  80,  180, 143, 237, 31,  26,  219, 153, 141, 51,  159, 17,  131, 20,
};

/* One 16-byte block: RFC 1319 §3.3 (checksum update) and §3.4 (18 rounds over 48 bytes). */
static void md2_block(struct md2_ctx *c, const unsigned char block[MD2_BLOCK])
{
    unsigned char x[48];
    unsigned char last = c->checksum[MD2_BLOCK - 1];

    for (int j = 0; j < MD2_BLOCK; j++) {
        c->checksum[j] ^= pi_subst[block[j] ^ last];
        last = c->checksum[j];
    }
    memcpy(x, c->state, MD2_BLOCK);
    memcpy(x + MD2_BLOCK, block, MD2_BLOCK);
    for (int j = 0; j < MD2_BLOCK; j++)
        x[2 * MD2_BLOCK + j] = c->state[j] ^ block[j];

    unsigned t = 0;
    for (unsigned round = 0; round < 18; round++) {
        for (int k = 0; k < 48; k++)
            t = x[k] ^= pi_subst[t];
        t = (t + round) & 0xff;
    }
    memcpy(c->state, x, MD2_BLOCK);
}

void exporttab_md2_init(struct md2_ctx *c)
{
    memset(c, 0, sizeof(*c));
}

void exporttab_md2_update(struct md2_ctx *c, const void *data, size_t len)
{
    const unsigned char *p = data;

    while (len > 0) {
        size_t take = MD2_BLOCK - c->used;
        if (take > len)
            take = len;
        memcpy(c->buf + c->used, p, take);
        c->used += take;
        p += take;
        len -= take;
        if (c->used == MD2_BLOCK) {
            md2_block(c, c->buf);
            c->used = 0;
        }
    }
}

void exporttab_md2_final(struct md2_ctx *c, unsigned char out[MD2_DIGEST])
{
    /* §3.1: always pad, with n bytes of value n (1..16); §3.2: then the checksum block. */
    unsigned char pad[MD2_BLOCK];
    size_t n = MD2_BLOCK - c->used;
    unsigned char checksum[MD2_BLOCK];

    memset(pad, (int)n, n);
    exporttab_md2_update(c, pad, n);
    memcpy(checksum, c->checksum, MD2_BLOCK);
    exporttab_md2_update(c, checksum, MD2_BLOCK);
    memcpy(out, c->state, MD2_DIGEST);
    memset(c, 0, sizeof(*c));
}

void exporttab_md2(const void *msg, size_t len, unsigned char out[MD2_DIGEST])
{
    struct md2_ctx c;

    exporttab_md2_init(&c);
    exporttab_md2_update(&c, msg, len);
    exporttab_md2_final(&c, out);
}

void exporttab_hmac_md2_init(struct hmac_md2_ctx *h, const unsigned char key[MD2_BLOCK])
{
    unsigned char ipad[MD2_BLOCK];

    /* RFC 2104 with B = 16: the 16-byte key is exactly one block, so no hashing or padding. */
    for (int i = 0; i < MD2_BLOCK; i++) {
        ipad[i] = key[i] ^ 0x36;
        h->opad[i] = key[i] ^ 0x5c;
    }
    exporttab_md2_init(&h->inner);
    exporttab_md2_update(&h->inner, ipad, MD2_BLOCK);
}

void exporttab_hmac_md2_update(struct hmac_md2_ctx *h, const void *data, size_t len)
{
    exporttab_md2_update(&h->inner, data, len);
}

void exporttab_hmac_md2_final(struct hmac_md2_ctx *h, unsigned char out[MD2_DIGEST])
{
    unsigned char inner_digest[MD2_DIGEST];
    struct md2_ctx outer;

    exporttab_md2_final(&h->inner, inner_digest);
    exporttab_md2_init(&outer);
    exporttab_md2_update(&outer, h->opad, MD2_BLOCK);
    exporttab_md2_update(&outer, inner_digest, MD2_DIGEST);
    exporttab_md2_final(&outer, out);
}

void exporttab_hmac_md2(const unsigned char key[MD2_BLOCK], const void *msg, size_t len,
                        unsigned char out[MD2_DIGEST])
{
    struct hmac_md2_ctx h;

    exporttab_hmac_md2_init(&h, key);
    exporttab_hmac_md2_update(&h, msg, len);
    exporttab_hmac_md2_final(&h, out);
}
