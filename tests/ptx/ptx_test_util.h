/*
 * Test-only harness for the PTX interpreter tests: a private device address space (an mmap'ed
 * range with every page accessible), a bump allocator in it, loading PTX files from the
 * checked-in kernels folder, and a launch helper that collects printf output.
 */
#ifndef TESTS_PTX_TEST_UTIL_H
#define TESTS_PTX_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ptx.h"

struct test_dev {
    struct sg_addr_space as;
    uint8_t *base;
    size_t size, used;
    uint8_t *pages;
    ptx_pool *pool;
    char out[65536]; /* printf output of the last launch */
    size_t out_len;
    char err[512];
};

void tdev_init(struct test_dev *d, int threads);
void tdev_fini(struct test_dev *d);
void *tdev_alloc(struct test_dev *d, size_t size);
char *tdev_read_file(const char *name, size_t *len); /* from tests/ptx/kernels; malloc'd */
ptx_module *tdev_load(struct test_dev *d, const char *file);   /* fails the test on error */
ptx_module *tdev_parse(struct test_dev *d, const char *text);  /* fails the test on error */

/* Launches kernel `name` of m; params is an array of pointers to argument values (as in
 * cuLaunchKernel). Globals of the module are allocated on first use and kept in m_globals. */
enum ptx_status tdev_launch(struct test_dev *d, ptx_module *m, const char *name, unsigned gx,
                            unsigned bx, size_t dyn_smem, void **params);
enum ptx_status tdev_launch3(struct test_dev *d, ptx_module *m, const char *name,
                             const unsigned grid[3], const unsigned block[3], size_t dyn_smem,
                             void **params, int cooperative);
uint64_t tdev_global(struct test_dev *d, ptx_module *m, const char *name);
/* Frees a module loaded by tdev_load/tdev_parse and forgets its globals. */
void tdev_free(ptx_module *m);

#endif
