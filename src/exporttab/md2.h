/*
 * Streaming MD2 and HMAC-MD2, private to src/exporttab (the one-shot forms are declared in
 * exporttab.h). Used to hash the integrity-check message without building it in memory.
 */
#ifndef TFUSE_EXPORTTAB_MD2_H
#define TFUSE_EXPORTTAB_MD2_H

#include <stddef.h>

#define MD2_BLOCK 16
#define MD2_DIGEST 16

struct md2_ctx {
    unsigned char state[MD2_BLOCK];
    unsigned char checksum[MD2_BLOCK];
    unsigned char buf[MD2_BLOCK];
    size_t used;
};

struct hmac_md2_ctx {
    struct md2_ctx inner;
    unsigned char opad[MD2_BLOCK];
};

void exporttab_md2_init(struct md2_ctx *c);
void exporttab_md2_update(struct md2_ctx *c, const void *data, size_t len);
void exporttab_md2_final(struct md2_ctx *c, unsigned char out[MD2_DIGEST]);

void exporttab_hmac_md2_init(struct hmac_md2_ctx *h, const unsigned char key[MD2_BLOCK]);
void exporttab_hmac_md2_update(struct hmac_md2_ctx *h, const void *data, size_t len);
void exporttab_hmac_md2_final(struct hmac_md2_ctx *h, unsigned char out[MD2_DIGEST]);

/* One-shot forms (also declared in exporttab.h). */
void exporttab_md2(const void *msg, size_t len, unsigned char out[MD2_DIGEST]);
void exporttab_hmac_md2(const unsigned char key[MD2_BLOCK], const void *msg, size_t len,
                        unsigned char out[MD2_DIGEST]);

#endif
