/*
 * nvml_smi: an nvidia-smi-like table through dlopen("libnvidia-ml.so.1"), for whichever
 * library the loader finds (softgpu's, or TensorFuse's through `tfuse run`), then one line per
 * exported NVML function with its answer ("answers:"), in a form that does not depend on the
 * moment (values that move are printed as checks), so that a test can compare it with a
 * golden file (tests/nvml/expect-*.txt). Every name our libraries export must resolve.
 *
 *   nvml_smi [--alloc MIB]   first hold MIB of device memory through libcuda.so.1's primary
 *                            context (so that this process is on the device)
 * Exits 0 when every name resolved and no call answered an undocumented error.
 * Owns nothing. May call: libdl, the NVML and CUDA driver libraries it loads.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvml_smi.h"
#include "nvml_smi_names.h"

static void *lib;
static int bad;   /* names that did not resolve, answers NVML does not document */

void *smi_sym(const char *name)
{
    void *p = dlsym(lib, name);
    if (!p) {
        printf("MISSING %s\n", name);
        bad++;
    }
    return p;
}

const char *smi_error(nvmlReturn_t r)
{
    const char *(*text)(nvmlReturn_t) = (const char *(*)(nvmlReturn_t))smi_sym("nvmlErrorString");
    return text ? text(r) : "?";
}

void smi_answer(const char *name, const char *what, nvmlReturn_t r, const char *value)
{
    int show = value && r == NVML_SUCCESS;
    printf("  %s%s%s%s: %s%s%s\n", name, what[0] ? "(" : "", what, what[0] ? ")" : "",
           smi_error(r), show ? " " : "", show ? value : "");
    if (r != NVML_SUCCESS && r != NVML_ERROR_NOT_SUPPORTED && r != NVML_ERROR_NOT_FOUND &&
        r != NVML_ERROR_TIMEOUT && r != NVML_ERROR_INSUFFICIENT_SIZE &&
        r != NVML_ERROR_INVALID_ARGUMENT && r != NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
        bad++;
}

char *smi_fmt(const char *f, ...)
{
    static char buf[8][160];
    static int k;
    char *b = buf[k++ % 8];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, sizeof buf[0], f, ap);
    va_end(ap);
    return b;
}

/* Holds mib MiB of device memory through the CUDA driver the loader finds. */
static int hold_memory(unsigned mib)
{
    typedef int (*init_t)(unsigned);
    typedef int (*retain_t)(void **, int);
    typedef int (*set_t)(void *);
    typedef int (*alloc_t)(unsigned long long *, size_t);
    void *cu = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (!cu)
        return -1;
    void *ctx;
    unsigned long long p;
    init_t init = (init_t)dlsym(cu, "cuInit");
    retain_t retain = (retain_t)dlsym(cu, "cuDevicePrimaryCtxRetain");
    set_t set = (set_t)dlsym(cu, "cuCtxSetCurrent");
    alloc_t alloc = (alloc_t)dlsym(cu, "cuMemAlloc_v2");
    if (!init || !retain || !set || !alloc || init(0) || retain(&ctx, 0) || set(ctx))
        return -1;
    return alloc(&p, (size_t)mib << 20) ? -1 : 0;
}

int main(int argc, char **argv)
{
    unsigned alloc_mib = argc > 2 && strcmp(argv[1], "--alloc") == 0 ? (unsigned)atoi(argv[2]) : 0;
    if (alloc_mib && hold_memory(alloc_mib) != 0) {
        fprintf(stderr, "nvml_smi: cannot hold %u MiB through libcuda.so.1\n", alloc_mib);
        return 1;
    }
    lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "nvml_smi: %s\n", dlerror());
        return 1;
    }
    unsigned resolved = 0, total = sizeof smi_names / sizeof smi_names[0];
    for (unsigned i = 0; i < total; i++)
        resolved += smi_sym(smi_names[i]) != NULL;
    printf("entry points: %u of %u resolved\n", resolved, total);
    nvmlReturn_t r;
    CALL(r, nvmlReturn_t (*)(void), nvmlInit_v2);
    if (r != NVML_SUCCESS) {
        printf("nvmlInit_v2: %s\n", smi_error(r));
        return 1;
    }
    smi_print_table();
    smi_print_answers(alloc_mib);
    CALL(r, nvmlReturn_t (*)(void), nvmlShutdown);
    smi_answer("nvmlShutdown", "", r, NULL);
    printf("%s\n", bad ? "nvml_smi: FAILED" : "nvml_smi: ok");
    return bad ? 1 : 0;
}
