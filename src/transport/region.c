/*
 * Same-host extras carried by the unix socket next to the shm rings: control records (passed
 * fds, shared-region announcements and releases) and the shared regions themselves (sealed
 * memfds both processes map: page-locked host memory that copies read in place).
 * Calls sock.c (fd passing), conn.c (errors) and libc/Linux memfd APIs.
 *
 * A control record is 24 bytes on the socket: magic u32, kind u32, tag/id u64, size u64; an fd
 * (SCM_RIGHTS) rides on the first byte of FD and REGION_ADD records. Records are sent before
 * the frame that names them, so a receiver that does not know a tag yet drains the socket.
 * Every memfd is sealed against shrinking: a peer cannot truncate memory we have mapped
 * (which would make our next access a SIGBUS).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PENDING_FDS 4096
#define MAX_REGIONS 65536

int tft_memfd_sealed(const char *name, size_t bytes, int *fd_out, void **map_out)
{
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return TF_ERR_SYS;
    if (ftruncate(fd, (off_t)bytes) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return TF_ERR_SYS;
    }
    void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        int e = errno;
        close(fd);
        errno = e;
        return errno == ENOMEM ? TF_ERR_NOMEM : TF_ERR_SYS;
    }
    *fd_out = fd;
    *map_out = map;
    return TF_OK;
}

int tft_memfd_check_and_map(int fd, size_t bytes, size_t *len_out, void **map_out, char *why,
                            size_t whylen)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "passed fd is not a memory file");
        return TF_ERR_PROTOCOL;
    }
    if ((uint64_t)st.st_size != bytes || bytes == 0) {
        snprintf(why, whylen, "memory file is %lld bytes, expected %zu", (long long)st.st_size,
                 bytes);
        return TF_ERR_PROTOCOL;
    }
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
        snprintf(why, whylen, "memory file is not sealed against shrinking");
        return TF_ERR_PROTOCOL;
    }
    void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        snprintf(why, whylen, "mmap of %zu bytes: %s", bytes, strerror(errno));
        return TF_ERR_SYS;
    }
    *len_out = bytes;
    *map_out = map;
    return TF_OK;
}

static int fd_passing_ok(struct tf_conn *c)
{
    int rc = tft_conn_check_usable(c);
    if (rc)
        return rc;
    /* Only with shm is the unix socket free of frames, so records cannot interleave with them. */
    return c->is_unix && c->transport == TF_TRANSPORT_SHM ? TF_OK : TF_ERR_NOT_SUPPORTED;
}

int tft_ctl_send(struct tf_conn *c, uint32_t kind, uint64_t tag, uint64_t size, int fd)
{
    uint8_t rec[CTL_RECORD_SIZE];
    uint32_t magic = CTL_MAGIC;
    memcpy(rec, &magic, 4);
    memcpy(rec + 4, &kind, 4);
    memcpy(rec + 8, &tag, 8);
    memcpy(rec + 16, &size, 8);
    struct iovec v = {rec, sizeof rec};
    int rc = tft_sock_write_all(c, &v, 1, fd);
    if (rc == TF_OK)   /* counted once the record is in the socket, so a drain will find it */
        atomic_fetch_add(&c->shm->ctl_sent[c->is_server ? 1 : 0], 1);
    return rc;
}

/* Drains the socket only if the peer has sent records we have not handled yet. */
static int ctl_catch_up(struct tf_conn *c)
{
    if (atomic_load(&c->shm->ctl_sent[c->is_server ? 0 : 1]) == c->ctl_received)
        return TF_OK;
    const char *why;
    int rc = tft_ctl_drain(c, &why);
    if (rc)
        return c->dead ? c->err_code : tft_conn_fail(c, rc, "%s", why);
    return TF_OK;
}

static struct region *region_lookup(struct tf_conn *c, uint64_t id)
{
    for (size_t i = 0; i < c->nregions; i++)
        if (c->regions[i].id == id && !c->regions[i].released)
            return &c->regions[i];
    return NULL;
}

static int region_add(struct tf_conn *c, uint64_t id, void *base, uint64_t size)
{
    if (c->nregions == c->regions_cap) {
        size_t cap = c->regions_cap ? 2 * c->regions_cap : 16;
        struct region *r = realloc(c->regions, cap * sizeof *r);
        if (!r)
            return TF_ERR_NOMEM;
        c->regions = r;
        c->regions_cap = cap;
    }
    c->regions[c->nregions++] = (struct region){id, base, size, false};
    return TF_OK;
}

static void region_remove(struct tf_conn *c, struct region *r)
{
    munmap(r->base, r->size);
    *r = c->regions[--c->nregions];
}

static int push_fd(struct tf_conn *c, uint64_t tag, int fd)
{
    if (c->nfds == c->fds_cap) {
        size_t cap = c->fds_cap ? 2 * c->fds_cap : 8;
        struct passed_fd *f = realloc(c->fds, cap * sizeof *f);
        if (!f)
            return TF_ERR_NOMEM;
        c->fds = f;
        c->fds_cap = cap;
    }
    c->fds[c->nfds++] = (struct passed_fd){tag, fd};
    return TF_OK;
}

/* Handles one complete record; takes ownership of fd (may be -1). */
static int ctl_handle(struct tf_conn *c, int fd)
{
    uint32_t magic, kind;
    uint64_t tag, size;
    memcpy(&magic, c->ctl_buf, 4);
    memcpy(&kind, c->ctl_buf + 4, 4);
    memcpy(&tag, c->ctl_buf + 8, 8);
    memcpy(&size, c->ctl_buf + 16, 8);
    int rc = TF_OK;
    char why[160];
    if (magic != CTL_MAGIC) {
        rc = tft_conn_fail(c, TF_ERR_PROTOCOL, "bad control record magic 0x%08x", magic);
    } else if (kind == CTL_FD && fd >= 0) {
        if (c->nfds >= MAX_PENDING_FDS)
            rc = tft_conn_fail(c, TF_ERR_PROTOCOL, "peer passed more than %d unclaimed fds",
                               MAX_PENDING_FDS);
        else if ((rc = push_fd(c, tag, fd)) == TF_OK)
            fd = -1;
    } else if (kind == CTL_REGION_ADD && fd >= 0) {
        void *base;
        size_t len;
        if (region_lookup(c, tag) || c->nregions >= MAX_REGIONS)
            rc = tft_conn_fail(c, TF_ERR_PROTOCOL,
                               "region %llu announced twice or too many regions",
                               (unsigned long long)tag);
        else if (size > SIZE_MAX || tft_memfd_check_and_map(fd, (size_t)size, &len, &base, why,
                                                            sizeof why))
            rc = tft_conn_fail(c, TF_ERR_PROTOCOL, "region %llu unusable: %s",
                               (unsigned long long)tag, size > SIZE_MAX ? "too large" : why);
        else if ((rc = region_add(c, tag, base, len)) != TF_OK)
            munmap(base, len);
    } else if (kind == CTL_REGION_RELEASE && fd < 0) {
        /* Not unmapped here: this may run inside a wait while the current call still reads
         * the region. tft_regions_collect unmaps it when the next frame begins. */
        struct region *r = region_lookup(c, tag);
        if (r)
            r->released = true;
    } else {
        rc = tft_conn_fail(c, TF_ERR_PROTOCOL, "control record kind %u %s", kind,
                           fd >= 0 ? "carried an unexpected fd" : "without its fd");
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

int tft_ctl_drain(struct tf_conn *c, const char **why)
{
    for (;;) {
        ssize_t n = tft_sock_recv_some(c->fd, c->ctl_buf + c->ctl_have,
                                       CTL_RECORD_SIZE - c->ctl_have, &c->ctl_fd);
        if (n == 0) {
            *why = "peer hung up";
            return TF_ERR_CLOSED;
        }
        if (n < 0) {
            if (n == -EINTR)
                continue;
            if (n == -EAGAIN || n == -EWOULDBLOCK)
                return TF_OK;
            *why = "peer connection failed";
            return TF_ERR_CLOSED;
        }
        c->ctl_have += (size_t)n;
        if (c->ctl_have < CTL_RECORD_SIZE)
            continue;
        int fd = c->ctl_fd;
        c->ctl_fd = -1;
        c->ctl_have = 0;
        c->ctl_received++;
        int rc = ctl_handle(c, fd);
        if (rc) {
            *why = c->err;
            return rc;
        }
    }
}

int tf_conn_send_fd(struct tf_conn *c, uint64_t tag, int fd)
{
    int rc = fd_passing_ok(c);
    if (rc)
        return rc;
    if (fd < 0)
        return TF_ERR_INVALID;
    return tft_ctl_send(c, CTL_FD, tag, 0, fd);
}

int tf_conn_take_fd(struct tf_conn *c, uint64_t tag, int *fd_out)
{
    int rc = fd_passing_ok(c);
    if (rc || !fd_out)
        return rc ? rc : TF_ERR_INVALID;
    if ((rc = ctl_catch_up(c)))
        return rc;
    for (size_t i = 0; i < c->nfds; i++) {
        if (c->fds[i].tag == tag) {
            *fd_out = c->fds[i].fd;
            c->fds[i] = c->fds[--c->nfds];
            return TF_OK;
        }
    }
    return TF_ERR_AGAIN;
}

int tf_region_create(struct tf_conn *c, size_t bytes, uint64_t *id_out, void **ptr_out)
{
    int rc = fd_passing_ok(c);
    if (rc)
        return rc;
    if (c->is_server || bytes == 0 || !id_out || !ptr_out)
        return TF_ERR_INVALID;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (bytes > SIZE_MAX - page)
        return TF_ERR_INVALID;
    size_t len = (bytes + page - 1) / page * page;
    int fd;
    void *map;
    if ((rc = tft_memfd_sealed("tfuse-region", len, &fd, &map)))
        return rc;
    uint64_t id = c->next_region_id++;
    rc = region_add(c, id, map, len);
    if (rc == TF_OK)
        rc = tft_ctl_send(c, CTL_REGION_ADD, id, len, fd);
    close(fd);   /* both mappings keep the memory alive */
    if (rc) {
        struct region *r = region_lookup(c, id);
        if (r)
            region_remove(c, r);
        else
            munmap(map, len);
        return rc;
    }
    *id_out = id;
    *ptr_out = map;
    return TF_OK;
}

void *tf_region_ptr(struct tf_conn *c, uint64_t id, uint64_t offset, uint64_t len, int *err)
{
    int rc = fd_passing_ok(c);
    struct region *r = NULL;
    if (rc == TF_OK)
        rc = ctl_catch_up(c);   /* one atomic load when nothing new was announced */
    if (rc == TF_OK && !(r = region_lookup(c, id)))
        rc = TF_ERR_NOT_FOUND;
    if (rc == TF_OK && (offset > r->size || len > r->size - offset))
        rc = TF_ERR_INVALID;
    if (err)
        *err = rc;
    return rc == TF_OK ? r->base + offset : NULL;
}

int tf_region_find(struct tf_conn *c, const void *ptr, uint64_t len, uint64_t *id,
                   uint64_t *offset)
{
    if (!c || !ptr)
        return 0;
    uintptr_t p = (uintptr_t)ptr;
    for (size_t i = 0; i < c->nregions; i++) {
        uintptr_t base = (uintptr_t)c->regions[i].base;
        if (p >= base && p - base <= c->regions[i].size && len <= c->regions[i].size - (p - base)) {
            if (id)
                *id = c->regions[i].id;
            if (offset)
                *offset = p - base;
            return 1;
        }
    }
    return 0;
}

int tf_region_release(struct tf_conn *c, uint64_t id)
{
    if (!c)
        return TF_ERR_INVALID;
    struct region *r = region_lookup(c, id);
    if (!r)
        return TF_ERR_NOT_FOUND;
    region_remove(c, r);
    /* The local mapping is gone either way; a dead connection has nobody left to tell. */
    return c->dead ? TF_OK : tft_ctl_send(c, CTL_REGION_RELEASE, id, 0, -1);
}

void tft_regions_free(struct tf_conn *c)
{
    for (size_t i = 0; i < c->nregions; i++)
        munmap(c->regions[i].base, c->regions[i].size);
    free(c->regions);
    c->regions = NULL;
    c->nregions = c->regions_cap = 0;
}

void tft_regions_collect(struct tf_conn *c)
{
    for (size_t i = 0; i < c->nregions;) {
        if (c->regions[i].released)
            region_remove(c, &c->regions[i]);   /* moves the last entry here: recheck i */
        else
            i++;
    }
}
