/*
 * Base64 (RFC 4648, with padding) for the Kubernetes pieces: AdmissionReview patches, Secret
 * data. Header-only. May call: libc.
 */
#ifndef TFUSE_K8S_B64_H
#define TFUSE_K8S_B64_H

#include <stdlib.h>
#include <string.h>

/* malloc'd, NUL-terminated; NULL when out of memory. */
static inline char *k8s_b64_encode(const void *data, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = data;
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static inline int k8s_b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* The decoded bytes, malloc'd and NUL-terminated (*len without it); NULL when s is not
 * base64 or out of memory. */
static inline char *k8s_b64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n % 4)
        return NULL;
    char *out = malloc(n / 4 * 3 + 1);
    size_t k = 0;
    for (size_t i = 0; out && i < n; i += 4) {
        int v[4];
        for (int j = 0; j < 4; j++) {
            v[j] = s[i + j] == '=' && i + 4 == n && j >= 2 ? 0 : k8s_b64_value(s[i + j]);
            if (v[j] < 0 || (j == 2 && s[i + 2] == '=' && s[i + 3] != '=')) {
                free(out);
                return NULL;
            }
        }
        unsigned w = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        out[k++] = (char)(w >> 16);
        if (s[i + 2] != '=')
            out[k++] = (char)(w >> 8 & 255);
        if (s[i + 3] != '=')
            out[k++] = (char)(w & 255);
    }
    if (out) {
        out[k] = '\0';
        *len = k;
    }
    return out;
}

#endif
