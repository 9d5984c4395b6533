/*
 * Control-plane credentials (see credfile.h): generation from getrandom, 0600 files written
 * atomically, strict reading, constant-time comparison. May call: libc only.
 */
#include "credfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int tf_cred_generate(const char *prefix, char *out, size_t outlen)
{
    unsigned char raw[32];
    size_t plen = strlen(prefix);
    if (plen + 2 * sizeof raw + 1 > outlen)
        return -1;
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    memcpy(out, prefix, plen);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + plen + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

bool tf_cred_equal(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned)(x[i] ^ y[i]);
    return diff == 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int tf_cred_write(const char *path, const char *text, char *err, size_t errlen)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= sizeof tmp) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    int rc = fchmod(fd, 0600);   /* the umask may have narrowed it, never widened: be exact */
    if (rc == 0)
        rc = write_all(fd, text, strlen(text));
    if (rc == 0)
        rc = write_all(fd, "\n", 1);
    if (rc == 0)
        rc = fsync(fd);
    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        saved = errno;
    }
    if (rc != 0) {
        unlink(tmp);
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(saved));
    }
    return rc;
}

int tf_cred_read(const char *path, char *out, size_t outlen, bool *loose, char *err,
                 size_t errlen)
{
    *loose = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    char buf[TF_CRED_MAX + 2];
    ssize_t n = fstat(fd, &st) == 0 ? read(fd, buf, sizeof buf - 1) : -1;
    int saved = errno;
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(saved));
        return -1;
    }
    *loose = (st.st_mode & 077) != 0;
    buf[n] = '\0';
    size_t len = strcspn(buf, "\r\n");
    buf[len] = '\0';
    bool bad = len == 0 || len >= TF_CRED_MAX || len >= outlen;
    for (size_t i = 0; !bad && i < len; i++)
        bad = (unsigned char)buf[i] <= ' ' || (unsigned char)buf[i] >= 0x7f;
    if (bad) {
        snprintf(err, errlen, "%s: expected one line of 1-%d printable characters without "
                              "spaces", path, TF_CRED_MAX - 1);
        return -1;
    }
    memcpy(out, buf, len + 1);
    return 1;
}

int tf_cred_load_or_create(const char *path, const char *prefix, char *out, size_t outlen,
                           char *err, size_t errlen)
{
    bool loose;
    int rc = tf_cred_read(path, out, outlen, &loose, err, errlen);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (tf_cred_generate(prefix, out, outlen) != 0) {
        snprintf(err, errlen, "cannot generate a credential for %s", path);
        return -1;
    }
    return tf_cred_write(path, out, err, errlen) == 0 ? 1 : -1;
}

int tf_cred_make_private(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = fstat(fd, &st);
    if (rc == 0 && !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "%s is not a regular file", path);
        return -1;
    }
    if (rc == 0 && (st.st_mode & 0777) != 0600)
        rc = fchmod(fd, 0600);
    int saved = errno;
    close(fd);
    if (rc != 0) {
        snprintf(err, errlen, "cannot make %s private (mode 0600): %s", path, strerror(saved));
        return -1;
    }
    return 0;
}
