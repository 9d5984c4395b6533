/*
 * The engines' differential run over generated kernels (gen_random_ptx.py: random opcodes and
 * operands of every kind): every module of a folder that parses is launched once (one block of
 * 64 threads, the same inputs each time) and one line per module says how it ended: the status,
 * and for a launch that succeeded a digest of the memory it may write (a buffer its pointer
 * parameter points into and its global). tests/ptx/diff_fuzz.sh runs this once per engine
 * (SOFTGPU_EXEC) and compares the lines. Kernels with a backward branch are skipped (a random
 * one may loop forever, and only the interpreter has a watchdog), and so are kernels that
 * compute with the host address of a shared/local/param window (cvta): it differs between two
 * processes (diff_fuzz.sh also runs both without address randomisation, so that the device
 * memory and its globals are at the same addresses). Lines for modules the JIT
 * compiled are also written to stderr ("jit NAME") so that the script can count them.
 * usage: diff_ptx_exec DIR OUT
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ptx_internal.h"
#include "ptx_test_util.h"

static struct test_dev D;

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const uint8_t *)p)[i]) * 0x100000001b3ull;
    return h;
}

static int has_back_edge(const ptx_kernel *k)
{
    for (uint32_t pc = 0; pc < k->fn->ncode; pc++)
        if (k->fn->code[pc].op == OP_BRA && k->fn->code[pc].o[0].imm <= pc)
            return 1;
    return 0;
}

/* cvta to or from the shared, local or param window: the value is a host heap address, which
 * differs between two processes whatever the engine */
static int uses_host_address(const ptx_kernel *k)
{
    for (uint32_t pc = 0; pc < k->fn->ncode; pc++) {
        const ptx_insn *in = &k->fn->code[pc];
        if (in->op == OP_CVTA && in->space != SP_GLOBAL && in->space != SP_CONST)
            return 1;
    }
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[*len] = 0;
    return buf;
}

static void run_one(FILE *out, const char *dir, const char *name, uint8_t *buf, size_t bufsz)
{
    char path[4096], err[256], why[200];
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = slurp(path, &len);
    ptx_module *m = text ? ptx_module_parse(text, len, err, sizeof err) : NULL;
    free(text);
    const ptx_kernel *k = m ? ptx_module_find_kernel(m, "k") : NULL;
    if (!k || has_back_edge(k) || uses_host_address(k)) {
        fprintf(out, "%s %s\n", name, !m ? "parse" : !k ? "nokernel"
                                      : has_back_edge(k) ? "loop" : "hostaddr");
        if (m)
            ptx_module_free(m);
        return;
    }
    if (ptx_kernel_engine(k, why, sizeof why))
        fprintf(stderr, "jit %s\n", name);
    for (size_t i = 0; i < bufsz; i++)
        buf[i] = (uint8_t)(i * 37 + 11);
    uint8_t *p0 = buf + bufsz / 2;
    unsigned p1 = 5;
    void *args[] = {&p0, &p1};
    enum ptx_status st = tdev_launch(&D, m, "k", 1, 64, 0, args);
    if (st == PTX_OK) {
        uint64_t g = tdev_global(&D, m, "g");
        uint64_t h = fnv(buf, bufsz, 0xcbf29ce484222325ull);
        h = fnv((const void *)(uintptr_t)g, 64, h);
        fprintf(out, "%s ok %016llx\n", name, (unsigned long long)h);
    } else {
        fprintf(out, "%s status %d\n", name, (int)st);
    }
    tdev_free(m);
}

static int is_ptx(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 4 && !strcmp(d->d_name + n - 4, ".ptx");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DIR OUT\n", argv[0]);
        return 2;
    }
    FILE *out = fopen(argv[2], "w");
    struct dirent **names;
    int n = scandir(argv[1], &names, is_ptx, alphasort);
    if (!out || n < 0) {
        fprintf(stderr, "%s: cannot read %s or write %s\n", argv[0], argv[1], argv[2]);
        return 2;
    }
    tdev_init(&D, 1);
    enum { BUF = 8192 };
    uint8_t *buf = tdev_alloc(&D, BUF);
    for (int i = 0; i < n; i++) {
        run_one(out, argv[1], names[i]->d_name, buf, BUF);
        free(names[i]);
    }
    free(names);
    fclose(out);
    tdev_fini(&D);
    return 0;
}
