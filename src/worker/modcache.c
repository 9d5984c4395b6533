/*
 * Module images by content, one scope per tenant, bounded (see modcache.h). A file is
 * DIR/SCOPE/HASH.img; writers take DIR/.lock, write HASH.img.PID.tmp and rename it, so a reader
 * (who takes no lock) sees a whole image or none, and checks its hash anyway.
 * May call: libc, src/proto (SHA-256), log.h.
 */
#include "modcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"

#define STALE_TMP_S 60   /* a .tmp this old is a dead writer's */

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void tfw_cache_scope_name(const char *token, char out[TFW_CACHE_SCOPE_MAX])
{
    if (!token) {
        snprintf(out, TFW_CACHE_SCOPE_MAX, "%s", TFW_CACHE_NODE_SCOPE);
        return;
    }
    /* One-way: the folder name must not give the token away to whoever lists the folder. */
    char salted[128];
    int n = snprintf(salted, sizeof salted, "tfuse module cache scope\n%s", token);
    uint8_t h[32];
    tfp_sha256(salted, (size_t)(n < (int)sizeof salted ? n : (int)sizeof salted - 1), h);
    out[0] = 'v';
    out[1] = '-';
    hex(h, 16, out + 2);
}

static int usable(const struct tfw_cache *c)
{
    return c && c->dir && c->scope[0] && c->max_total && c->max_scope;
}

static void image_path(const struct tfw_cache *c, const uint8_t hash[32], char *out, size_t len)
{
    char h[65];
    hex(hash, 32, h);
    snprintf(out, len, "%s/%s/%s.img", c->dir, c->scope, h);
}

void *tfw_cache_get(const struct tfw_cache *c, const uint8_t hash[32], uint64_t size)
{
    if (!usable(c))
        return NULL;
    char path[4096];
    image_path(c, hash, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    void *buf = NULL;
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size == size && (buf = calloc(1, size + 8))) {
        if (pread(fd, buf, size, 0) != (ssize_t)size) {
            free(buf);
            buf = NULL;
        }
    }
    if (buf) {
        uint8_t check[32];
        tfp_sha256(buf, size, check);
        if (memcmp(check, hash, 32) != 0) {   /* a damaged file: ignore it */
            tf_warn("module cache file %s does not match its hash; ignored", path);
            free(buf);
            buf = NULL;
        } else {
            futimens(fd, NULL);   /* recently used: evicted last */
        }
    }
    close(fd);
    return buf;
}

/* ---- eviction ---- */

struct entry {
    char *path;
    uint64_t bytes;
    struct timespec used;
};

struct listing {
    struct entry *e;
    int n, cap;
    uint64_t bytes;
};

static int add_entry(struct listing *l, const char *path, const struct stat *st)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        struct entry *grown = realloc(l->e, (size_t)cap * sizeof *grown);
        if (!grown)
            return -1;
        l->e = grown;
        l->cap = cap;
    }
    struct entry *e = &l->e[l->n];
    if (!(e->path = strdup(path)))
        return -1;
    l->n++;
    e->bytes = (uint64_t)st->st_size;
    e->used = st->st_mtim;
    l->bytes += e->bytes;
    return 0;
}

/* Adds the images of DIR/scope to l (and removes dead writers' temporary files). */
static int list_scope(const char *dir, const char *scope, struct listing *l)
{
    char folder[1024], path[1400];
    snprintf(folder, sizeof folder, "%.700s/%.200s", dir, scope);
    DIR *d = opendir(folder);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *de;
    struct stat st;
    time_t now = time(NULL);
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        snprintf(path, sizeof path, "%s/%s", folder, de->d_name);
        if (n > 4 && strcmp(de->d_name + n - 4, ".tmp") == 0) {
            if (stat(path, &st) == 0 && now - st.st_mtime > STALE_TMP_S)
                unlink(path);
        } else if (n > 4 && strcmp(de->d_name + n - 4, ".img") == 0 && stat(path, &st) == 0) {
            rc = add_entry(l, path, &st);
        }
    }
    closedir(d);
    return rc;
}

/* Adds every scope's images. */
static int list_all(const char *dir, struct listing *l)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)))
        if (de->d_name[0] != '.' && de->d_type == DT_DIR)
            rc = list_scope(dir, de->d_name, l);
    closedir(d);
    return rc;
}

static int older(const void *a, const void *b)
{
    const struct timespec *x = &((const struct entry *)a)->used;
    const struct timespec *y = &((const struct entry *)b)->used;
    return x->tv_sec != y->tv_sec ? (x->tv_sec < y->tv_sec ? -1 : 1)
           : x->tv_nsec != y->tv_nsec ? (x->tv_nsec < y->tv_nsec ? -1 : 1) : 0;
}

/* Evicts the least recently used images of l until `need` more bytes (and, when max_files,
 * one more file) fit. 0, or -1 when they cannot. */
static int make_room(struct listing *l, uint64_t max_bytes, int max_files, uint64_t need)
{
    if (l->n > 1)   /* an empty listing has no array (qsort must not get NULL) */
        qsort(l->e, (size_t)l->n, sizeof *l->e, older);
    int kept = l->n;
    for (int i = 0; i < l->n && (l->bytes + need > max_bytes || (max_files && kept >= max_files));
         i++) {
        if (unlink(l->e[i].path) != 0 && errno != ENOENT)
            continue;
        l->bytes -= l->e[i].bytes;
        kept--;
    }
    return l->bytes + need > max_bytes || (max_files && kept >= max_files) ? -1 : 0;
}

static void free_listing(struct listing *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->e[i].path);
    free(l->e);
}

/* Under DIR/.lock: room in the scope first, then in all scopes. */
static int make_room_locked(const struct tfw_cache *c, uint64_t size)
{
    struct listing mine = {0}, all = {0};
    int rc = list_scope(c->dir, c->scope, &mine) == 0 &&
                     make_room(&mine, c->max_scope, TFW_CACHE_FILES_PER_SCOPE, size) == 0 &&
                     list_all(c->dir, &all) == 0 && make_room(&all, c->max_total, 0, size) == 0
                 ? 0 : -1;
    free_listing(&mine);
    free_listing(&all);
    return rc;
}

static int write_image(const char *path, const void *data, uint64_t size)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    const char *p = data;
    uint64_t left = size;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        left -= (uint64_t)w;
    }
    int ok = close(fd) == 0 && left == 0;
    /* rename is atomic: a concurrent reader sees the whole image or none. */
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

void tfw_cache_put(const struct tfw_cache *c, const uint8_t hash[32], const void *data,
                   uint64_t size)
{
    if (!usable(c) || size > c->max_scope || size > c->max_total)
        return;
    char path[4096], folder[1024];
    image_path(c, hash, path, sizeof path);
    if (utimensat(AT_FDCWD, path, NULL, 0) == 0)
        return;   /* present: now recently used */
    snprintf(folder, sizeof folder, "%.900s/%s", c->dir, c->scope);
    if (mkdir(folder, 0700) != 0 && errno != EEXIST) {
        tf_debug("module cache: cannot create %s: %s", folder, strerror(errno));
        return;
    }
    char lock[1100];
    snprintf(lock, sizeof lock, "%.900s/.lock", c->dir);
    int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
        tf_debug("module cache: cannot lock %s: %s", lock, strerror(errno));
        if (lfd >= 0)
            close(lfd);
        return;
    }
    if (make_room_locked(c, size) != 0)
        tf_debug("module cache: no room for a %llu-byte image", (unsigned long long)size);
    else if (write_image(path, data, size) != 0)
        tf_debug("module cache: cannot write %s: %s", path, strerror(errno));
    close(lfd);   /* releases the lock */
}

/* ---- the node's sweep ---- */

static void remove_scope(const char *dir, const char *scope)
{
    char folder[1024], path[1400];
    snprintf(folder, sizeof folder, "%.700s/%.200s", dir, scope);
    DIR *d = opendir(folder);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", folder, de->d_name);
            unlink(path);
        }
    closedir(d);
    if (rmdir(folder) != 0)
        tf_debug("module cache: cannot remove %s: %s", folder, strerror(errno));
}

int tfw_cache_sweep(const char *dir, const char (*keep)[TFW_CACHE_SCOPE_MAX], int nkeep)
{
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d)
        return 0;
    struct dirent *de;
    int removed = 0;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n > 4 && strcmp(de->d_name + n - 4, ".img") == 0) {
            char path[1400];   /* an older version's unscoped image: every tenant's to probe */
            snprintf(path, sizeof path, "%.900s/%.300s", dir, de->d_name);
            removed += unlink(path) == 0;
            continue;
        }
        if (strncmp(de->d_name, "v-", 2) != 0)
            continue;   /* the node scope, the lock file */
        int kept = 0;
        for (int i = 0; i < nkeep && !kept; i++)
            kept = strcmp(keep[i], de->d_name) == 0;
        if (!kept) {
            remove_scope(dir, de->d_name);
            removed++;
        }
    }
    closedir(d);
    return removed;
}
