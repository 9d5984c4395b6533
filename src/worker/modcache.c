/*
 * Module images by content: the node's file cache of images keyed by their SHA-256, so that a second tenant loading the same fat binary sends only its hash.
 * The cache is shared by every session of a node: an image is stored only after the worker has
 * hashed the bytes itself, so a client cannot plant an image under another image's hash.
 * May call: libc only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "worker_int.h"

static void cache_path(const char *dir, const uint8_t hash[32], char *out, size_t outlen)
{
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    snprintf(out, outlen, "%s/%s.img", dir, hex);
}

void *tfw_cache_get(const char *dir, const uint8_t hash[32], uint64_t size)
{
    if (!dir)
        return NULL;
    char path[4096];
    cache_path(dir, hash, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    void *buf = NULL;
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size == size && (buf = malloc(size ? size : 1))) {
        if (pread(fd, buf, size, 0) != (ssize_t)size) {
            free(buf);
            buf = NULL;
        }
    }
    close(fd);
    if (buf) {
        uint8_t check[32];
        tfp_sha256(buf, size, check);
        if (memcmp(check, hash, 32) != 0) {   /* a damaged file: ignore it */
            tf_warn("module cache file %s does not match its hash; ignored", path);
            free(buf);
            buf = NULL;
        }
    }
    return buf;
}

void tfw_cache_put(const char *dir, const uint8_t hash[32], const void *data, uint64_t size)
{
    if (!dir)
        return;
    char path[4096], tmp[4200];
    cache_path(dir, hash, path, sizeof path);
    if (access(path, F_OK) == 0)
        return;
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        tf_debug("module cache: cannot create %s: %s", tmp, strerror(errno));
        return;
    }
    int ok = write(fd, data, size) == (ssize_t)size;
    close(fd);
    /* rename is atomic: a concurrent reader sees the whole image or none. */
    if (!ok || rename(tmp, path) != 0)
        unlink(tmp);
}
