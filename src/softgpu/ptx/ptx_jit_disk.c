/*
 * The JIT's disk cache (issue 21, "compiled once per node"): a kernel's object code, so that the
 * next process loading the same PTX links it instead of compiling. One file per kernel,
 * DIR/KEY.o, KEY the hex SHA-256 of everything the code depends on: the PTX text's own SHA-256,
 * the kernel's name, the engine (the GNU build-id of the object that holds the emitter, so any
 * rebuild of softgpu starts afresh), LLVM (its version and its library's build-id) and the host
 * CPU (name and features, which code generation used).
 *
 * DIR is $SOFTGPU_JIT_CACHE, else $XDG_CACHE_HOME/tensorfuse/softgpu-jit, else
 * $HOME/.cache/tensorfuse/softgpu-jit; SOFTGPU_JIT_CACHE=off turns the cache off. A process
 * given a scope (tfuse_softgpu_set_jit_scope: a node's worker names its tenant's before any
 * module loads) uses DIR/scopes/S instead, S a hash of the scope's name, so that one tenant's
 * compile time cannot tell whether another loaded the same PTX (a hit is far faster than a
 * compile); a program run directly keeps the user's DIR. Each folder must be this user's and
 * 0700 (made so when created; one that is another user's, a link, or open to others is not
 * used, with a warning). Files are written to a temporary name and renamed (a reader sees a
 * whole file or none, with any number of processes), and verified on every read: this user's
 * regular file, the header's magic, key and payload size equal to the file's, the payload's
 * SHA-256. A file that fails is ignored with a warning and removed (the caller compiles and
 * writes a good one). Bounded per folder (the user's, each scope's): SOFTGPU_JIT_CACHE_MB
 * (default 256); a write that takes the folder past it removes the least recently used files
 * (a hit touches its file) down to three quarters of it. The scopes' folders are at most
 * SOFTGPU_JIT_SCOPES (default 64): a process opening its scope removes the least recently
 * opened ones past it.
 *
 * Called by ptx_jit_compile.c; calls libc, ptx_sha256 (ptx_module.c) and the dynamic loader.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <llvm-c/Core.h>
#include <llvm/Config/llvm-config.h>

#include "ptx_internal.h"
#include "ptx_jit_disk.h"

#define MAGIC "SGJITOB1"
#define STALE_TMP_S 60            /* a temporary file this old is a dead writer's */
#define MAX_OBJECT (64u << 20)    /* no kernel's object comes near it: a bigger file is bad */

struct header {
    char magic[8];
    uint8_t key[32];
    uint64_t size;                /* payload bytes */
    uint8_t sha[32];              /* of the payload */
};

static pthread_mutex_t dir_lock = PTHREAD_MUTEX_INITIALIZER;
static int dir_state;             /* 0 not looked at, 1 usable, -1 off or refused */
static char dir[4096];
static char scope[40];            /* "" the user's cache, else the scope's folder name */
static uint64_t max_bytes;
static _Atomic unsigned long stats[JIT_DISK_NSTATS];

static void warn(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "softgpu: JIT cache: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
}

/* ---- the key ------------------------------------------------------------------------------ */

struct note_find {
    uintptr_t base;
    uint8_t id[64];
    size_t len;
};

static int note_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct note_find *nf = arg;
    if (info->dlpi_addr != nf->base && !(nf->base == 0 && info->dlpi_name[0] == 0))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        const uint8_t *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
            const uint8_t *name = p + sizeof *n;
            const uint8_t *desc = name + ((n->n_namesz + 3u) & ~3u);
            if (desc + n->n_descsz > end)
                break;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && !memcmp(name, "GNU", 4) &&
                n->n_descsz <= sizeof nf->id) {
                memcpy(nf->id, desc, n->n_descsz);
                nf->len = n->n_descsz;
                return 1;
            }
            p = desc + ((n->n_descsz + 3u) & ~3u);
        }
    }
    return 1;
}

/* The build-id of the object holding addr; without one, its path, size and time (a rebuild
 * changes them too). */
static void object_identity(const void *addr, char *out, size_t outlen)
{
    Dl_info di;
    memset(&di, 0, sizeof di);
    if (!dladdr(addr, &di)) {
        snprintf(out, outlen, "unknown");
        return;
    }
    struct note_find nf = {(uintptr_t)di.dli_fbase, {0}, 0};
    dl_iterate_phdr(note_cb, &nf);
    if (!nf.len) { /* the main program's base reads 0 in dl_iterate_phdr */
        nf.base = 0;
        dl_iterate_phdr(note_cb, &nf);
    }
    size_t used = (size_t)snprintf(out, outlen, "id:");
    for (size_t i = 0; i < nf.len && used + 3 < outlen; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%02x", nf.id[i]);
    struct stat st;
    if (!nf.len && di.dli_fname && stat(di.dli_fname, &st) == 0)
        snprintf(out, outlen, "file:%s:%lld:%lld", di.dli_fname, (long long)st.st_size,
                 (long long)st.st_mtime);
}

static char engine_id[200], llvm_id[200];

static void init_ids(void)
{
    object_identity((const void *)ptx_jit_disk_key, engine_id, sizeof engine_id);
    char lib[160];
    object_identity((const void *)LLVMContextCreate, lib, sizeof lib);
    snprintf(llvm_id, sizeof llvm_id, "%s %s", LLVM_VERSION_STRING, lib);
}

void ptx_jit_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = 0;
}

int ptx_jit_disk_key(const uint8_t text_sha[32], const char *kernel, const char *cpu,
                     const char *features, uint8_t key[32])
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_ids);
    size_t len = strlen(kernel) + strlen(cpu) + strlen(features) + 700;
    char *m = malloc(len), hex[65];
    if (!m)
        return -1;
    ptx_jit_hex(text_sha, 32, hex);
    int n = snprintf(m, len, "softgpu-jit 1\n%s\n%s\n%s\n%s\n%s\n%s\n", engine_id, llvm_id,
                     cpu, features, kernel, hex);
    ptx_sha256(m, (size_t)n, key);
    free(m);
    return 0;
}

/* ---- the folder --------------------------------------------------------------------------- */

/* mkdir -p with 0700 for what it creates. */
static int make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        int rc = mkdir(path, 0700);
        *p = '/';
        if (rc < 0 && errno != EEXIST)
            return -1;
    }
    return mkdir(path, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* This user's folder, not a link, 0700 (a folder of ours open to others is closed). */
static int dir_safe(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
        warn("%s is not a folder%s: not used", path, "");
        return -1;
    }
    if (st.st_uid != geteuid()) {
        warn("%s belongs to another user%s: not used", path, "");
        return -1;
    }
    if ((st.st_mode & 077) && chmod(path, 0700) < 0) {
        warn("%s is open to other users and cannot be closed (%s): not used", path,
             strerror(errno));
        return -1;
    }
    return 0;
}

/* A whole number in [lo, hi] from the environment, else def (a bad value is warned about). */
static unsigned long long env_bound(const char *name, unsigned long long def,
                                    unsigned long long lo, unsigned long long hi)
{
    const char *s = getenv(name);
    if (s && *s) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (!*end && v >= lo && v <= hi)
            return v;
        fprintf(stderr, "softgpu: JIT cache: %s=%.40s is not a number in [%llu, %llu]: %llu\n",
                name, s, lo, hi, def);
    }
    return def;
}

static uint64_t cache_limit(void)
{
    return (uint64_t)env_bound("SOFTGPU_JIT_CACHE_MB", 256, 1, 1ull << 20) << 20;
}

struct file_ent {
    char name[80];
    time_t mtime;
    uint64_t bytes;
};

static int older(const void *a, const void *b)
{
    const struct file_ent *x = a, *y = b;
    return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* A scope's folder and its files (it holds nothing else). */
static void remove_scope(int scopes_fd, const char *name)
{
    int fd = openat(scopes_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.')
            unlinkat(dirfd(d), de->d_name, 0);
    if (d)
        closedir(d);
    else if (fd >= 0)
        close(fd);
    unlinkat(scopes_fd, name, AT_REMOVEDIR);
}

/* Bounds the number of scope folders (SOFTGPU_JIT_SCOPES, default 64: each is bounded in
 * bytes, so this bounds the whole): past it, the least recently used folders go, whole, never
 * mine. A tenant whose folder went compiles again. dir_lock held. */
static void prune_scopes(const char *scopes, const char *mine)
{
    size_t max = (size_t)env_bound("SOFTGPU_JIT_SCOPES", 64, 1, 1u << 20), n = 0, cap = 0;
    struct file_ent *v = NULL;
    DIR *d = opendir(scopes);
    struct dirent *de;
    struct stat st;
    while (d && (de = readdir(d))) {
        if (strncmp(de->d_name, "s-", 2) || !strcmp(de->d_name, mine) ||
            strlen(de->d_name) >= sizeof v->name ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (n == cap) {
            struct file_ent *nv = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof *nv);
            if (!nv)
                break;
            v = nv;
        }
        memcpy(v[n].name, de->d_name, strlen(de->d_name) + 1); /* length checked above */
        v[n++].mtime = st.st_mtime;
    }
    if (d && n + 1 > max) {
        qsort(v, n, sizeof *v, older);
        for (size_t i = 0; i < n + 1 - max; i++)
            remove_scope(dirfd(d), v[i].name);
    }
    if (d)
        closedir(d);
    free(v);
}

/* The folder, decided once per process (dir_lock held). */
static int dir_ready(void)
{
    if (dir_state)
        return dir_state;
    dir_state = -1;
    const char *env = getenv("SOFTGPU_JIT_CACHE"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (env && (!strcmp(env, "off") || !strcmp(env, "0")))
        return -1;
    int n;
    if (env && *env)
        n = snprintf(dir, sizeof dir, "%s", env);
    else if (xdg && *xdg == '/')
        n = snprintf(dir, sizeof dir, "%s/tensorfuse/softgpu-jit", xdg);
    else if (home && *home == '/')
        n = snprintf(dir, sizeof dir, "%s/.cache/tensorfuse/softgpu-jit", home);
    else
        return -1; /* nowhere of this user's: compile every time */
    if (n <= 0 || (size_t)n >= sizeof dir - 80)
        return -1;
    if (make_dirs(dir) < 0) {
        warn("cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if (dir_safe(dir) < 0)
        return -1;
    if (scope[0]) { /* the scope's folder, inside the user's (checked above) */
        size_t len = strlen(dir);
        snprintf(dir + len, sizeof dir - len, "/scopes/%s", scope);
        if (make_dirs(dir) < 0) {
            warn("cannot create %s: %s", dir, strerror(errno));
            return -1;
        }
        if (dir_safe(dir) < 0)
            return -1;
        utimensat(AT_FDCWD, dir, NULL, 0); /* used now: the last folder pruning takes */
        dir[len + strlen("/scopes")] = 0;
        prune_scopes(dir, scope);
        dir[len + strlen("/scopes")] = '/';
    }
    max_bytes = cache_limit();
    dir_state = 1;
    return 1;
}

static void file_path(const uint8_t key[32], char *out, size_t len)
{
    char hex[65];
    ptx_jit_hex(key, 32, hex);
    snprintf(out, len, "%s/%s.o", dir, hex);
}

void tfuse_softgpu_set_jit_scope(const char *name)
{
    char folder[sizeof scope] = "";
    if (name && *name) { /* hashed: any name is a safe folder name, and it is not shown */
        char salted[300], hex[65];
        uint8_t h[32];
        int n = snprintf(salted, sizeof salted, "softgpu-jit scope\n%s", name);
        ptx_sha256(salted, (size_t)(n < (int)sizeof salted ? n : (int)sizeof salted - 1), h);
        ptx_jit_hex(h, 16, hex);   /* 32 digits and a NUL */
        memcpy(folder, "s-", 2);
        memcpy(folder + 2, hex, 33);
    }
    pthread_mutex_lock(&dir_lock);
    if (strcmp(folder, scope)) {
        memcpy(scope, folder, sizeof scope);
        dir_state = 0; /* decided again, under the new scope, at the next get or put */
    }
    pthread_mutex_unlock(&dir_lock);
}

/* ---- reading ------------------------------------------------------------------------------ */

/* The payload of an open file checked against key, or NULL with why. */
static void *read_checked(int fd, const uint8_t key[32], size_t *size, const char **why)
{
    struct stat st;
    struct header h;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        *why = "not a regular file of this user's";
        return NULL;
    }
    if ((size_t)st.st_size < sizeof h || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
        memcmp(h.magic, MAGIC, sizeof h.magic)) {
        *why = "no header";
        return NULL;
    }
    if (memcmp(h.key, key, 32)) {
        *why = "the header names another key";
        return NULL;
    }
    if (h.size == 0 || h.size > MAX_OBJECT || (uint64_t)st.st_size != sizeof h + h.size) {
        *why = "its size differs from the header's (truncated or appended to)";
        return NULL;
    }
    uint8_t *p = malloc(h.size);
    if (!p) {
        *why = "out of memory";
        return NULL;
    }
    uint8_t sha[32];
    if (pread(fd, p, h.size, sizeof h) != (ssize_t)h.size) {
        *why = "short read";
    } else {
        ptx_sha256(p, h.size, sha);
        if (!memcmp(sha, h.sha, 32)) {
            *size = h.size;
            return p;
        }
        *why = "its checksum does not match (corrupted)";
    }
    free(p);
    return NULL;
}

void *ptx_jit_disk_get(const uint8_t key[32], size_t *size)
{
    pthread_mutex_lock(&dir_lock);
    int ok = dir_ready() > 0;
    pthread_mutex_unlock(&dir_lock);
    if (!ok)
        return NULL;
    char path[4200];
    file_path(key, path, sizeof path);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        atomic_fetch_add(&stats[errno == ENOENT ? JIT_DISK_MISS : JIT_DISK_BAD], 1);
        if (errno != ENOENT) /* a link, or unreadable: not ours to trust */
            warn("%s cannot be opened (%s): ignored, compiling", path, strerror(errno));
        return NULL;
    }
    const char *why = NULL;
    void *p = read_checked(fd, key, size, &why);
    if (p)
        futimens(fd, NULL); /* most recently used: the last one eviction takes */
    close(fd);
    if (!p) {
        atomic_fetch_add(&stats[JIT_DISK_BAD], 1);
        warn("%s: %s: ignored and replaced", path, why);
        unlink(path);
        return NULL;
    }
    atomic_fetch_add(&stats[JIT_DISK_HIT], 1);
    return p;
}

/* ---- writing and eviction ----------------------------------------------------------------- */

/* Lists the folder's files (dead writers' temporaries are removed); their total bytes. */
static uint64_t list_files(struct file_ent **out, size_t *count)
{
    DIR *d = opendir(dir);
    uint64_t total = 0;
    size_t n = 0, cap = 0;
    struct file_ent *v = NULL;
    struct dirent *de;
    time_t now = time(NULL);
    while (d && (de = readdir(d))) {
        struct stat st;
        if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof v->name ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (!strncmp(de->d_name, "tmp.", 4)) {
            if (now - st.st_mtime > STALE_TMP_S)
                unlinkat(dirfd(d), de->d_name, 0);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct file_ent *nv = realloc(v, cap * sizeof *nv);
            if (!nv)
                break;
            v = nv;
        }
        memcpy(v[n].name, de->d_name, strlen(de->d_name) + 1); /* length checked above */
        v[n].mtime = st.st_mtime;
        v[n].bytes = (uint64_t)st.st_blocks * 512u;
        total += v[n++].bytes;
    }
    if (d)
        closedir(d);
    *out = v;
    *count = n;
    return total;
}

/* Past the bound: the least recently used files go, down to three quarters of it. Several
 * processes may do this at once; a file already gone is simply skipped. */
static void evict(void)
{
    struct file_ent *v;
    size_t n;
    uint64_t total = list_files(&v, &n);
    if (total > max_bytes) {
        qsort(v, n, sizeof *v, older);
        for (size_t i = 0; i < n && total > max_bytes / 4 * 3; i++) {
            char path[4200];
            snprintf(path, sizeof path, "%s/%s", dir, v[i].name);
            if (unlink(path) == 0)
                atomic_fetch_add(&stats[JIT_DISK_EVICTED], 1);
            total -= v[i].bytes;
        }
    }
    free(v);
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

void ptx_jit_disk_put(const uint8_t key[32], const void *obj, size_t size)
{
    pthread_mutex_lock(&dir_lock);
    int ok = dir_ready() > 0;
    pthread_mutex_unlock(&dir_lock);
    if (!ok || !size || size > MAX_OBJECT)
        return;
    struct header h;
    memcpy(h.magic, MAGIC, sizeof h.magic);
    memcpy(h.key, key, 32);
    h.size = size;
    ptx_sha256(obj, size, h.sha);
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/tmp.XXXXXX", dir);
    int fd = mkostemp(tmp, O_CLOEXEC); /* 0600 */
    if (fd < 0) {
        warn("cannot write to %s: %s", dir, strerror(errno));
        return;
    }
    int bad = write_all(fd, &h, sizeof h) < 0 || write_all(fd, obj, size) < 0;
    bad |= close(fd) < 0;
    file_path(key, path, sizeof path);
    if (bad || rename(tmp, path) < 0) {
        warn("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return;
    }
    atomic_fetch_add(&stats[JIT_DISK_WRITTEN], 1);
    evict();
}

unsigned long ptx_jit_disk_stat(enum jit_disk_stat which) { return atomic_load(&stats[which]); }
