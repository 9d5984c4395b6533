/*
 * Reading PEM files for TLS (see pemfile.h). Calls libc only.
 */
#include "pemfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        snprintf(err, errlen, "%s is not a regular file", path);
    else if (st.st_size > TF_PEM_MAX)
        snprintf(err, errlen, "%s is larger than %d bytes: not a PEM file", path, TF_PEM_MAX);
    else if (!(buf = malloc((size_t)st.st_size + 1)))
        snprintf(err, errlen, "out of memory reading %s", path);
    else {
        size_t n = fread(buf, 1, (size_t)st.st_size, f);
        buf[n] = '\0';
        if (ferror(f)) {
            snprintf(err, errlen, "cannot read %s", path);
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

/* A "-----BEGIN <label>-----" line whose label ends with what (so "PRIVATE KEY" takes the
 * RSA, EC and PKCS#8 forms alike). */
static int has_block(const char *text, const char *what)
{
    size_t wl = strlen(what);
    for (const char *b = strstr(text, "-----BEGIN "); b; b = strstr(b + 1, "-----BEGIN ")) {
        const char *label = b + 11, *end = strstr(label, "-----");
        const char *nl = strchr(label, '\n');
        if (!end || (nl && nl < end))
            continue;
        if ((size_t)(end - label) >= wl && memcmp(end - wl, what, wl) == 0)
            return 1;
    }
    return 0;
}

char *tf_pem_read(const char *path, const char *what, char *err, size_t errlen)
{
    char *text = slurp(path, err, errlen);
    if (text && !has_block(text, what)) {
        snprintf(err, errlen, "%s holds no PEM %s", path, what);
        free(text);
        text = NULL;
    }
    return text;
}

int tf_pem_check(const char *path, const char *what, char *err, size_t errlen)
{
    char *text = tf_pem_read(path, what, err, errlen);
    free(text);
    return text ? 0 : -1;
}

int tf_tls_pair_load(struct tf_tls_pair *p, const char *cert_file, const char *key_file,
                     char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    if (!cert_file && !key_file)
        return 0;
    if (!cert_file || !key_file) {
        snprintf(err, errlen, "TLS needs both --tls-cert FILE and --tls-key FILE");
        return -1;
    }
    p->cert = tf_pem_read(cert_file, "CERTIFICATE", err, errlen);
    p->key = p->cert ? tf_pem_read(key_file, "PRIVATE KEY", err, errlen) : NULL;
    if (!p->key) {
        tf_tls_pair_free(p);
        return -1;
    }
    return 0;
}

void tf_tls_pair_free(struct tf_tls_pair *p)
{
    if (p->key) {
        volatile char *k = p->key;   /* volatile: the wipe is not optimised away */
        for (size_t i = 0; k[i]; i++)
            k[i] = 0;
    }
    free(p->key);
    free(p->cert);
    p->cert = p->key = NULL;
}
