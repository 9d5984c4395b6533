/*
 * Fuzz target for the interpreter as a whole: parses the input and, when it is a module, runs
 * each of its first kernels on a small grid in a private address space, under an instruction
 * limit. 8-byte parameters point into a zeroed scratch buffer, 4-byte ones hold a small count,
 * so that seeds get past their first loads. Whatever the PTX does, the launch must end with
 * a status and the process must survive.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ptx.h"

#define SPACE (1u << 20)
#define SCRATCH (256u << 10)

static struct sg_addr_space as;
static ptx_pool *pool;

static void setup(void)
{
    uint8_t *base = mmap(NULL, SPACE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint8_t *pages = malloc(SPACE / SG_PAGE_SIZE);
    if (base == MAP_FAILED || !pages)
        abort();
    memset(pages, 1, SPACE / SG_PAGE_SIZE);
    as.base = (uint64_t)(uintptr_t)base;
    as.limit = as.base + SPACE;
    as.pages = pages;
    pool = ptx_pool_create(2);
    if (!pool)
        abort();
}

static void sink(void *opaque, const char *text, size_t len)
{
    (void)opaque;
    (void)text;
    (void)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pool)
        setup();
    char err[256];
    ptx_module *m = ptx_module_parse((const char *)data, size, err, sizeof err);
    if (!m)
        return 0;
    int ng = ptx_module_global_count(m);
    uint64_t *globals = calloc((size_t)(ng ? ng : 1), sizeof *globals);
    uint64_t next = as.base;
    for (int i = 0; i < ng; i++) {
        const struct ptx_global_info *g = ptx_module_global(m, i);
        if (g->size > 65536 || next + g->size > as.limit - SCRATCH) {
            globals[i] = 0;
            continue;
        }
        globals[i] = next;
        memset((void *)(uintptr_t)next, 0, g->size);
        if (g->init)
            memcpy((void *)(uintptr_t)next, g->init, g->init_size);
        next += (g->size + 255) & ~(uint64_t)255;
    }
    for (int k = 0; k < ptx_module_kernel_count(m) && k < 3; k++) {
        const ptx_kernel *kern = ptx_module_kernel(m, k);
        size_t pb = ptx_kernel_param_bytes(kern);
        if (pb > 4096)
            continue;
        uint8_t *params = calloc(1, pb ? pb : 1);
        uint64_t scratch = as.limit - SCRATCH;
        memset((void *)(uintptr_t)scratch, 0, SCRATCH);
        for (int i = 0; i < ptx_kernel_param_count(kern); i++) {
            size_t off, sz;
            ptx_kernel_param(kern, i, &off, &sz);
            uint32_t count = 37;
            if (sz == 8)
                memcpy(params + off, &scratch, 8);
            else if (sz == 4)
                memcpy(params + off, &count, 4);
        }
        struct ptx_launch l;
        memset(&l, 0, sizeof l);
        l.kernel = kern;
        l.global_addrs = globals;
        l.params = params;
        l.param_bytes = pb;
        l.grid[0] = 2, l.grid[1] = 1, l.grid[2] = 1;
        l.block[0] = 40, l.block[1] = 1, l.block[2] = 1;
        l.dynamic_shared_bytes = 256;
        l.max_shared_bytes = 1 << 20;
        l.mem = &as;
        l.pool = pool;
        l.num_sms = 2;
        l.print = sink;
        l.max_thread_instructions = 200000;
        (void)ptx_launch_run(&l, err, sizeof err);
        free(params);
    }
    free(globals);
    ptx_module_free(m);
    return 0;
}
