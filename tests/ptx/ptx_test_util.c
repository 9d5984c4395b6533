/*
 * Test harness of the PTX interpreter tests (see ptx_test_util.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "ptx_test_util.h"

#define DEV_SIZE (64u << 20)

void tdev_init(struct test_dev *d, int threads)
{
    memset(d, 0, sizeof *d);
    d->size = DEV_SIZE;
    d->base = mmap(NULL, d->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(d->base != MAP_FAILED);
    d->pages = malloc(d->size / SG_PAGE_SIZE);
    assert_non_null(d->pages);
    memset(d->pages, 1, d->size / SG_PAGE_SIZE);
    d->pages[0] = 0; /* the first page stays unmapped: catches near-NULL accesses */
    d->used = SG_PAGE_SIZE;
    d->as.base = (uint64_t)(uintptr_t)d->base;
    d->as.limit = d->as.base + d->size;
    d->as.pages = d->pages;
    d->pool = ptx_pool_create(threads);
    assert_non_null(d->pool);
}

void tdev_fini(struct test_dev *d)
{
    ptx_pool_destroy(d->pool);
    munmap(d->base, d->size);
    free(d->pages);
}

void *tdev_alloc(struct test_dev *d, size_t size)
{
    size_t off = (d->used + 255) & ~(size_t)255;
    assert_true(off + size <= d->size);
    d->used = off + size;
    memset(d->base + off, 0, size);
    return d->base + off;
}

char *tdev_read_file(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", PTX_KERNEL_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

ptx_module *tdev_parse(struct test_dev *d, const char *text)
{
    ptx_module *m = ptx_module_parse(text, strlen(text), d->err, sizeof d->err);
    if (!m)
        fail_msg("parse failed: %s", d->err);
    return m;
}

ptx_module *tdev_load(struct test_dev *d, const char *file)
{
    size_t n;
    char *text = tdev_read_file(file, &n);
    ptx_module *m = ptx_module_parse(text, n, d->err, sizeof d->err);
    free(text);
    if (!m)
        fail_msg("%s: parse failed: %s", file, d->err);
    return m;
}

static void sink(void *opaque, const char *text, size_t len)
{
    struct test_dev *d = opaque;
    size_t room = sizeof d->out - 1 - d->out_len;
    if (len > room)
        len = room;
    memcpy(d->out + d->out_len, text, len);
    d->out_len += len;
    d->out[d->out_len] = 0;
}

/* module globals: one allocation per module, remembered by module pointer */
static struct { ptx_module *m; uint64_t *addrs; } gtab[64];

static uint64_t *globals_of(struct test_dev *d, ptx_module *m)
{
    int n = ptx_module_global_count(m);
    for (int i = 0; i < 64; i++)
        if (gtab[i].m == m)
            return gtab[i].addrs;
    uint64_t *addrs = calloc((size_t)(n ? n : 1), sizeof *addrs);
    for (int i = 0; i < n; i++) {
        const struct ptx_global_info *g = ptx_module_global(m, i);
        uint8_t *p = tdev_alloc(d, g->size);
        if (g->init)
            memcpy(p, g->init, g->init_size);
        addrs[i] = (uint64_t)(uintptr_t)p;
    }
    for (int i = 0; i < 64; i++)
        if (!gtab[i].m) {
            gtab[i].m = m;
            gtab[i].addrs = addrs;
            return addrs;
        }
    fail_msg("too many modules");
    return NULL;
}

void tdev_free(ptx_module *m)
{
    for (int i = 0; i < 64; i++)
        if (gtab[i].m == m) {
            free(gtab[i].addrs);
            gtab[i].m = NULL;
            gtab[i].addrs = NULL;
        }
    ptx_module_free(m);
}

uint64_t tdev_global(struct test_dev *d, ptx_module *m, const char *name)
{
    int i = ptx_module_find_global(m, name);
    assert_true(i >= 0);
    return globals_of(d, m)[i];
}

/* device heap for malloc(): a bump allocator (free does nothing), serialised */
static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t heap_alloc(void *opaque, uint64_t size)
{
    struct test_dev *d = opaque;
    pthread_mutex_lock(&heap_lock);
    size_t off = (d->used + 15) & ~(size_t)15;
    uint64_t r = 0;
    if (size <= d->size && off + size <= d->size) {
        d->used = off + size;
        r = (uint64_t)(uintptr_t)(d->base + off);
    }
    pthread_mutex_unlock(&heap_lock);
    return r;
}

static void heap_free(void *opaque, uint64_t addr)
{
    (void)opaque;
    (void)addr;
}

enum ptx_status tdev_launch3(struct test_dev *d, ptx_module *m, const char *name,
                             const unsigned grid[3], const unsigned block[3], size_t dyn_smem,
                             void **params, int cooperative)
{
    const ptx_kernel *k = ptx_module_find_kernel(m, name);
    if (!k)
        fail_msg("kernel %s not found", name);
    uint8_t buf[4096];
    memset(buf, 0, sizeof buf);
    int np = ptx_kernel_param_count(k);
    for (int i = 0; i < np; i++) {
        size_t off, size;
        ptx_kernel_param(k, i, &off, &size);
        memcpy(buf + off, params[i], size);
    }
    struct ptx_launch l;
    memset(&l, 0, sizeof l);
    l.kernel = k;
    l.global_addrs = globals_of(d, m);
    l.params = buf;
    l.param_bytes = ptx_kernel_param_bytes(k);
    memcpy(l.grid, grid, sizeof l.grid);
    memcpy(l.block, block, sizeof l.block);
    l.dynamic_shared_bytes = dyn_smem;
    l.max_shared_bytes = 160 * 1024;
    l.cooperative = cooperative;
    if (cooperative)
        l.grid_sync_workspace = (uint64_t)(uintptr_t)tdev_alloc(d, 64);
    l.mem = &d->as;
    l.pool = d->pool;
    l.num_sms = 4;
    l.print = sink;
    l.print_opaque = d;
    l.heap_alloc = heap_alloc;
    l.heap_free = heap_free;
    l.heap_opaque = d;
    d->out_len = 0;
    d->out[0] = 0;
    return ptx_launch_run(&l, d->err, sizeof d->err);
}

enum ptx_status tdev_launch(struct test_dev *d, ptx_module *m, const char *name, unsigned gx,
                            unsigned bx, size_t dyn_smem, void **params)
{
    unsigned grid[3] = {gx, 1, 1}, block[3] = {bx, 1, 1};
    return tdev_launch3(d, m, name, grid, block, dyn_smem, params, 0);
}
