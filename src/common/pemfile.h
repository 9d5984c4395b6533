/*
 * PEM files of TLS: the CA bundle a client trusts (httpc.c) and the certificate and key a
 * server presents (the node's API, the pool's API). Owns reading them whole, bounded, and
 * saying clearly when a path is not what the flag wants, before any TLS library sees it.
 * Built into tfuse_httpc. May call: libc.
 */
#ifndef TFUSE_COMMON_PEMFILE_H
#define TFUSE_COMMON_PEMFILE_H

#include <stddef.h>

#define TF_PEM_MAX (1024 * 1024)   /* a certificate chain is kilobytes; a bigger file is wrong */

/* The whole file, NUL-terminated and malloc'd, when it holds a PEM block whose label ends
 * with what ("CERTIFICATE", "PRIVATE KEY"); else NULL with the reason (naming path) in err. */
char *tf_pem_read(const char *path, const char *what, char *err, size_t errlen);
/* tf_pem_read, keeping nothing: 0 or -1 with err. */
int tf_pem_check(const char *path, const char *what, char *err, size_t errlen);

/* A server's certificate chain and key, read from their files (both or neither). */
struct tf_tls_pair {
    char *cert, *key;   /* PEM text; NULL: no TLS */
};

/* Reads cert_file and key_file into p: 0 (p zeroed when both are NULL), or -1 with err when
 * only one is given or either cannot be used. */
int tf_tls_pair_load(struct tf_tls_pair *p, const char *cert_file, const char *key_file,
                     char *err, size_t errlen);
/* Frees p's text, wiping the key first. */
void tf_tls_pair_free(struct tf_tls_pair *p);

#endif
