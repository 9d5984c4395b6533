/*
 * cuGetProcAddress over the whole driver surface: for every ABI of src/driverkit/driver_api.def,
 * the library given (our stub or softgpu, loaded with dlopen) must answer cuGetProcAddress_v2 and
 * the 11.3 cuGetProcAddress with that very symbol at its version and at every later one up to the
 * next ABI, with the default flags and with CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM (which
 * must give the _ptds/_ptsz variant where the driver has one), and refuse older versions with
 * CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT.
 * usage: surface_getproc LIBRARY
 */
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

struct abi {
    const char *base, *sym, *of;
    int version;
};

static const struct abi abis[] = {
#define CU_API(base, ver, sym, params, args) {#base, #sym, NULL, ver},
#define CU_API_PT(base, ver, sym, of, kind, params, args) {#base, #sym, #of, ver},
#include "driver_api.def"
#undef CU_API
#undef CU_API_PT
};
#define NABIS (sizeof abis / sizeof abis[0])

typedef CUresult (*getproc2_fn)(const char *, void **, int, cuuint64_t,
                                CUdriverProcAddressQueryResult *);
typedef CUresult (*getproc1_fn)(const char *, void **, int, cuuint64_t);

static int failures;

static void expect(void *lib, getproc2_fn gp2, getproc1_fn gp1, const char *base, int version,
                   cuuint64_t flags, const char *want)
{
    void *fn = NULL, *fn1 = NULL;
    CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    CUresult r = gp2(base, &fn, version, flags, &st);
    CUresult r1 = gp1(base, &fn1, version, flags);
    void *expected = dlsym(lib, want);
    if (r != CUDA_SUCCESS || st != CU_GET_PROC_ADDRESS_SUCCESS || fn != expected || !expected
        || r1 != CUDA_SUCCESS || fn1 != expected) {
        printf("FAIL %s at %d flags %llu: got %p (%d, status %d), want %s = %p\n", base, version,
               (unsigned long long)flags, fn, r, st, want, expected);
        failures++;
    }
}

/* The oldest version of base's next ABI after `version`, or a version past every ABI. */
static int next_version(const char *base, int version)
{
    int next = 99999;
    for (size_t i = 0; i < NABIS; i++)
        if (!abis[i].of && !strcmp(abis[i].base, base) && abis[i].version > version
            && abis[i].version < next)
            next = abis[i].version;
    return next;
}

static const char *per_thread_of(const char *sym, int version)
{
    for (size_t i = 0; i < NABIS; i++)
        if (abis[i].of && !strcmp(abis[i].of, sym) && abis[i].version <= version)
            return abis[i].sym;
    return NULL;
}

int main(int argc, char **argv)
{
    void *lib = argc == 2 ? dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!lib) {
        fprintf(stderr, "usage: surface_getproc LIBRARY (%s)\n", dlerror());
        return 2;
    }
    getproc2_fn gp2 = (getproc2_fn)dlsym(lib, "cuGetProcAddress_v2");
    getproc1_fn gp1 = (getproc1_fn)dlsym(lib, "cuGetProcAddress");
    int oldest_checked = 0, checked = 0;
    for (size_t i = 0; i < NABIS; i++) {
        const struct abi *a = &abis[i];
        if (a->of)
            continue;
        int next = next_version(a->base, a->version);
        int probes[] = {a->version, next - 1 < 13000 ? next - 1 : 13000};
        for (int p = 0; p < 2; p++) {
            int v = probes[p];
            if (v < a->version)
                continue;
            expect(lib, gp2, gp1, a->base, v, CU_GET_PROC_ADDRESS_DEFAULT, a->sym);
            const char *pt = per_thread_of(a->sym, v);
            expect(lib, gp2, gp1, a->base, v, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM,
                   pt ? pt : a->sym);
            checked += 2;
        }
        int oldest = 1;
        for (size_t j = 0; j < NABIS; j++)
            oldest &= abis[j].of || strcmp(abis[j].base, a->base) || abis[j].version >= a->version;
        if (oldest) {
            void *fn = (void *)1;
            CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SUCCESS;
            if (gp2(a->base, &fn, a->version - 1, 0, &st) != CUDA_ERROR_NOT_FOUND || fn
                || st != CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT) {
                printf("FAIL %s at %d: older than its first ABI, yet answered\n", a->base,
                       a->version - 1);
                failures++;
            }
            oldest_checked++;
        }
    }
    void *fn = (void *)1;
    CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SUCCESS;
    if (gp2("cuNoSuchFunction", &fn, 13000, 0, &st) != CUDA_ERROR_NOT_FOUND || fn
        || st != CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND) {
        printf("FAIL an unknown name was answered\n");
        failures++;
    }
    printf("%s: %d lookups of %zu ABIs, %d names refused below their first version, %d failures\n",
           argv[1], checked, NABIS, oldest_checked, failures);
    return failures != 0;
}
