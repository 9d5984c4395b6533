/*
 * The shared device's segment (shm_stats.h): its name, creating, attaching and detaching, and
 * process identities (pid + start time) for telling live slots from dead ones. Linked into both
 * the driver and the NVML library. Calls libc only.
 *
 * Lifetime without a lock in the segment: a creator builds a segment under a private name and
 * link()s it into place, so the public name only ever shows a complete segment (two creators:
 * one link wins, the other attaches). Every attached process holds a shared flock on its own
 * descriptor; the kernel drops it when the process dies. Detaching tries an exclusive flock:
 * granted, no other process is attached, and the segment is unlinked. An opener takes its
 * shared flock and then checks that the name still refers to the file it opened, so it never
 * keeps a segment that a last detacher unlinked under it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shm_stats.h"

void sg_shm_path(char *out, size_t n, const char *ns, int dev)
{
    if (ns && *ns)
        snprintf(out, n, "/dev/shm/softgpu-%u-%s-dev%d", (unsigned)getuid(), ns, dev);
    else
        snprintf(out, n, "/dev/shm/softgpu-%u-dev%d", (unsigned)getuid(), dev);
}

/* Whether path still names the file open as fd. */
static int same_file(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino
           && a.st_dev == b.st_dev;
}

/* Builds a complete segment under a private name and links it to path. 0, or -1 (msg). */
static int create_segment(const char *path, uint64_t capacity, char *msg, size_t n)
{
    char tmp[192];
    snprintf(tmp, sizeof tmp, "%s.%ld.new", path, (long)syscall(SYS_gettid));
    unlink(tmp); /* a leftover of a dead thread that had this id */
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    void *p = MAP_FAILED;
    if (fd >= 0 && ftruncate(fd, sizeof(struct sg_shm_file)) == 0)
        p = mmap(NULL, sizeof(struct sg_shm_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        snprintf(msg, n, "cannot create %s: %s", tmp, strerror(errno));
        if (fd >= 0) {
            unlink(tmp);
            close(fd);
        }
        return -1;
    }
    struct sg_shm_file *f = p; /* zero-filled: every slot free, nothing used */
    f->capacity = capacity;
    f->size = sizeof *f;
    f->version = SG_SHM_VERSION;
    f->magic = SG_SHM_MAGIC;
    munmap(p, sizeof *f);
    int r = link(tmp, path);
    int err = errno;
    unlink(tmp);
    close(fd);
    if (r != 0 && err != EEXIST) {
        snprintf(msg, n, "cannot create %s: %s", path, strerror(err));
        return -1;
    }
    return 0;
}

/* fd holds a shared flock on the file path names. 0: mapped into a; 1: it was of another layout
 * and nobody held it, so it is gone (try again); -2: msg says why. */
static int map_checked(struct sg_shm_att *a, int fd, const char *path, char *msg, size_t n)
{
    struct { uint32_t magic, version, size; } h = {0};
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(msg, n, "cannot read %s: %s", path, strerror(errno));
        return -2;
    }
    ssize_t got = pread(fd, &h, sizeof h, 0);
    size_t size = sizeof(struct sg_shm_file);
    if (got == (ssize_t)sizeof h && h.magic == SG_SHM_MAGIC && h.version == SG_SHM_VERSION
        && h.size == size && st.st_size == (off_t)size) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            snprintf(msg, n, "cannot map %s: %s", path, strerror(errno));
            return -2;
        }
        a->f = p;
        a->fd = fd;
        return 0;
    }
    /* Another build's segment (or a torn file): replace it only when no process holds it. A
     * failed upgrade drops the shared flock too, which is fine: we are giving it up. */
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && same_file(fd, path)) {
        unlink(path);
        snprintf(msg, n, "replaced %s, a segment of version %u and %lld bytes that no process "
                 "used (this library: version %u, %zu bytes)", path, h.version,
                 (long long)st.st_size, SG_SHM_VERSION, sizeof(struct sg_shm_file));
        return 1;
    }
    snprintf(msg, n, "%s is a softgpu device of version %u and %lld bytes (this library: version "
             "%u, %zu bytes) that a running process of another build uses; set SOFTGPU_NAMESPACE "
             "to use another machine, or end that process", path, h.version,
             (long long)st.st_size, SG_SHM_VERSION, sizeof(struct sg_shm_file));
    return -2;
}

int sg_shm_attach(struct sg_shm_att *a, const char *ns, int dev, uint64_t capacity, int create,
                  char *msg, size_t n)
{
    char path[160];
    sg_shm_path(path, sizeof path, ns, dev);
    msg[0] = 0;
    char note[400] = "";
    /* each round either attaches or sees the file change under it; a few rounds is plenty */
    for (int round = 0; round < 64; round++) {
        int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            if (errno != ENOENT) {
                snprintf(msg, n, "cannot open %s: %s", path, strerror(errno));
                return -2;
            }
            if (!create)
                return -1;
            if (create_segment(path, capacity, msg, n) != 0)
                return -2;
            continue;
        }
        if (flock(fd, LOCK_SH) != 0 || !same_file(fd, path)) {
            close(fd); /* unlinked (or replaced) between the open and the flock */
            continue;
        }
        int r = map_checked(a, fd, path, msg, n);
        if (r == 0) {
            snprintf(msg, n, "%s", note);
            return 0;
        }
        close(fd);
        if (r < 0)
            return -2;
        snprintf(note, sizeof note, "%s", msg);
    }
    snprintf(msg, n, "cannot attach %s: it keeps changing", path);
    return -2;
}

void sg_shm_detach(struct sg_shm_att *a, const char *ns, int dev)
{
    if (a->fd < 0)
        return;
    char path[160];
    sg_shm_path(path, sizeof path, ns, dev);
    /* Every attacher unlinks only under the exclusive flock, so the name is still ours here. */
    if (flock(a->fd, LOCK_EX | LOCK_NB) == 0 && same_file(a->fd, path))
        unlink(path);
    close(a->fd);
    a->fd = -1;
}

void sg_shm_reattach_child(struct sg_shm_att *a)
{
    if (a->fd < 0)
        return;
    /* The inherited descriptor shares the parent's open file and so its flock: unlocking it
     * would unlock the parent. A new open of the same file gets a flock of the child's own; the
     * parent's shared flock keeps the file from being unlinked meanwhile. */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", a->fd);
    int fd = open(proc, O_RDWR | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_SH) != 0) {
        close(fd);
        fd = -1;
    }
    close(a->fd);
    a->fd = fd;
}

int sg_shm_proc_start(int32_t pid, uint64_t *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? 0 : -1;
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0)
        return got == 0 ? 0 : -1;
    buf[got] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p || p[1] != ' ')
        return -1;
    char state = p[2];
    if (state == 'Z' || state == 'X' || state == 'x')
        return 0;
    /* starttime is field 22; field 3 (state) follows ") " */
    for (int field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    unsigned long long v;
    if (!p || sscanf(p + 1, "%llu", &v) != 1)
        return -1;
    *start = v;
    return 1;
}

uint64_t sg_shm_owner_self(void)
{
    int32_t pid = (int32_t)getpid();
    uint64_t start = 0;
    if (sg_shm_proc_start(pid, &start) != 1)
        start = 0; /* no /proc: the pid alone names the process */
    return (uint64_t)(uint32_t)start << 32 | (uint32_t)pid; /* starttime's low 32 bits */
}

int sg_shm_owner_alive(uint64_t owner)
{
    int32_t pid = (int32_t)(owner & 0x7fffffffu);
    if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH))
        return 0;
    uint64_t start;
    int r = sg_shm_proc_start(pid, &start);
    if (r < 0)
        return 1; /* kill says it exists and /proc cannot tell more */
    return r == 1 && (owner >> 32 == 0 || (uint32_t)start == (uint32_t)(owner >> 32));
}
