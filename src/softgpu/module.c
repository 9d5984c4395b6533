/*
 * Modules and functions: turning any device-code image into a parsed PTX module (through the
 * fat-binary reader), instantiating a module in a context (device memory for its globals,
 * initialised from the PTX initialisers; one sg_func per kernel), the cuModule* entry points,
 * function attributes, parameter info and occupancy queries. Calls the PTX interpreter,
 * src/fatbin, memory.c, context.c and library.c (CUkernel handles used as CUfunction).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "softgpu.h"
#ifdef SG_HAVE_FATBIN
#include "fatbin.h"
#endif

#define SG_RESERVED_SMEM 1024 /* per-block shared memory the system keeps on sm_80 */

/* ---- images -------------------------------------------------------------------------------- */

static CUresult parse_ptx(const char *text, size_t len, ptx_module **out)
{
    char err[256] = "";
    ptx_module *m = ptx_module_parse(text, len, err, sizeof err);
    if (!m) {
        sg_log(SG_LOG_ERROR, "cannot load PTX: %s", err);
        return CUDA_ERROR_INVALID_PTX;
    }
    if (ptx_module_target_sm(m) > sg_device_sm()) {
        sg_log(SG_LOG_ERROR, "PTX targets sm_%d; softgpu is sm_%d (SOFTGPU_CC)",
               ptx_module_target_sm(m), sg_device_sm());
        ptx_module_free(m);
        return CUDA_ERROR_NO_BINARY_FOR_GPU;
    }
    sg_log(SG_LOG_DEBUG, "loaded PTX (sm_%d, %d kernels, %d globals)", ptx_module_target_sm(m),
           ptx_module_kernel_count(m), ptx_module_global_count(m));
    ptx_module_prepare(m); /* the JIT compiles its kernels from now, off the launch path */
    *out = m;
    return CUDA_SUCCESS;
}

#ifdef SG_HAVE_FATBIN
/* Images without code softgpu runs (SASS only, or PTX only for newer targets) still load, as
 * an empty module, so that a library whose fat binaries are partly SASS-only works for the
 * kernels that have PTX; each such module is listed here with the kernel names its cubins
 * define and the reason, and a lookup of one of them fails with CUDA_ERROR_NO_BINARY_FOR_GPU
 * naming the kernel (nvcc's runtime reports that as "no kernel image is available"). */
struct nocode {
    const ptx_module *ptx;
    struct fatbin_names names;
    unsigned char *logged; /* per name: said once */
    char reason[240];
    struct nocode *next;
};
static pthread_mutex_t nocode_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nocode *nocodes;

static CUresult empty_module(const void *data, size_t size, const char *reason, ptx_module **out)
{
    char text[128], err[256] = "";
    snprintf(text, sizeof text, ".version 7.0\n.target sm_%d\n.address_size 64\n",
             sg_device_sm());
    struct nocode *n = calloc(1, sizeof *n);
    ptx_module *m = n ? ptx_module_parse(text, strlen(text), err, sizeof err) : NULL;
    if (!m) {
        free(n);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    /* without names every lookup in the module answers NO_BINARY_FOR_GPU */
    if (fatbin_image_kernel_names(data, size, &n->names, err, sizeof err) != FATBIN_OK)
        fatbin_names_free(&n->names);
    n->logged = calloc(n->names.count ? n->names.count : 1, 1);
    n->ptx = m;
    snprintf(n->reason, sizeof n->reason, "%s", reason);
    sg_log(SG_LOG_INFO, "image with no code softgpu runs loaded empty (%zu kernels): %s",
           n->names.count, reason);
    pthread_mutex_lock(&nocode_lock);
    n->next = nocodes;
    nocodes = n;
    pthread_mutex_unlock(&nocode_lock);
    *out = m;
    return CUDA_SUCCESS;
}

/* A bare cubin is SASS and nothing else (what NVRTC's nvrtcGetCUBIN and nvJitLink without -ptx
 * produce): unlike a fat binary of a library, which may mix SASS-only images with PTX ones and
 * loads empty, it has nothing softgpu could ever run, so its load fails, as NVIDIA's driver
 * fails a cubin built for another architecture; the log names its kernels. */
static CUresult refuse_cubin(const void *data, size_t size, const char *reason)
{
    struct fatbin_names names = {0};
    char err[256] = "", list[200] = "";
    if (fatbin_image_kernel_names(data, size, &names, err, sizeof err) != FATBIN_OK)
        fatbin_names_free(&names);
    size_t used = 0;
    for (size_t i = 0; i < names.count && used < sizeof list; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                         names.names[i]);
        used += w > 0 ? (size_t)w : 0;
    }
    sg_log(SG_LOG_ERROR, "cannot load a cubin with kernels %s: %s; SASS cannot run on softgpu, "
           "load PTX instead (NVRTC: nvrtcGetPTX with compute_XX; nvJitLink: -ptx)",
           names.count ? list : "(none named)", reason);
    fatbin_names_free(&names);
    return CUDA_ERROR_NO_BINARY_FOR_GPU;
}
#endif

CUresult sg_kernel_missing(const ptx_module *ptx, const char *name)
{
    CUresult r = CUDA_ERROR_NOT_FOUND;
#ifdef SG_HAVE_FATBIN
    pthread_mutex_lock(&nocode_lock);
    for (struct nocode *n = nocodes; n; n = n->next) {
        if (n->ptx != ptx)
            continue;
        size_t i = 0;
        while (i < n->names.count && strcmp(n->names.names[i], name))
            i++;
        if (n->names.count && i == n->names.count)
            break;
        r = CUDA_ERROR_NO_BINARY_FOR_GPU;
        if (n->names.count && n->logged[i]++)
            break;
        /* the first such kernel of the process is an error; libraries that look up all their
         * kernels at start (cuDNN: thousands) would drown a log, so the others are info */
        static _Atomic int said;
        int first = atomic_fetch_add(&said, 1) == 0;
        sg_log(first ? SG_LOG_ERROR : SG_LOG_INFO, "kernel %s has no code softgpu can run: %s%s",
               name, n->reason, first ? " (further such kernels: SOFTGPU_LOG=info)" : "");
        break;
    }
    pthread_mutex_unlock(&nocode_lock);
#else
    (void)ptx;
    (void)name;
#endif
    return r;
}

void sg_ptx_release(ptx_module *ptx)
{
#ifdef SG_HAVE_FATBIN
    pthread_mutex_lock(&nocode_lock);
    for (struct nocode **p = &nocodes; *p; p = &(*p)->next) {
        if ((*p)->ptx != ptx)
            continue;
        struct nocode *n = *p;
        *p = n->next;
        fatbin_names_free(&n->names);
        free(n->logged);
        free(n);
        break;
    }
    pthread_mutex_unlock(&nocode_lock);
#endif
    ptx_module_free(ptx);
}

CUresult sg_image_to_ptx(const void *image, ptx_module **out)
{
    if (!image)
        return CUDA_ERROR_INVALID_VALUE;
#ifdef SG_HAVE_FATBIN
    char err[256] = "";
    const void *data;
    size_t size;
    if (fatbin_locate(image, &data, &size, err, sizeof err) != FATBIN_OK) {
        sg_log(SG_LOG_ERROR, "cannot read the device-code image: %s", err);
        return CUDA_ERROR_INVALID_IMAGE;
    }
    char *ptx;
    size_t len;
    int fr = fatbin_select_ptx(data, size, (unsigned)sg_device_sm(), &ptx, &len, err, sizeof err);
    if (fr == FATBIN_ENOCODE && fatbin_image_kind(data, size) == FATBIN_IMAGE_ELF)
        return refuse_cubin(data, size, err);
    if (fr == FATBIN_ENOCODE)
        return empty_module(data, size, err, out);
    if (fr != FATBIN_OK) {
        sg_log(SG_LOG_ERROR, "cannot read the device-code image: %s", err);
        return fr == FATBIN_ENOMEM ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_INVALID_IMAGE;
    }
    CUresult r = parse_ptx(ptx, len, out);
    free(ptx);
    return r;
#else
    const unsigned char *b = image;
    if (b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F') {
        sg_log(SG_LOG_ERROR, "the image is a cubin (SASS): softgpu runs PTX only");
        return CUDA_ERROR_NO_BINARY_FOR_GPU;
    }
    return parse_ptx(image, strlen(image), out);
#endif
}

/* ---- instances ------------------------------------------------------------------------------ */

static CUresult alloc_globals(struct sg_module *m)
{
    int n = ptx_module_global_count(m->ptx);
    m->nglobals = n;
    if (!n)
        return CUDA_SUCCESS;
    m->global_addrs = calloc((size_t)n, sizeof *m->global_addrs);
    uint64_t *offsets = calloc((size_t)n, sizeof *offsets);
    if (!m->global_addrs || !offsets) {
        free(offsets);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    /* all globals of a module share one allocation, each at its own alignment */
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        const struct ptx_global_info *g = ptx_module_global(m->ptx, i);
        uint64_t align = g->align ? g->align : 1;
        total = (total + align - 1) / align * align;
        offsets[i] = total;
        total += g->size ? g->size : 1;
    }
    uint64_t base;
    /* below 4 GiB when there is room, so that the CUDA 3.1 ABI's cuModuleGetGlobal, whose
     * pointers are 32 bits wide, can name them (src/driverkit/abi32.h) */
    CUresult r = sg_mem_alloc_low(m->ctx, total, SG_R_DEVICE, &base);
    if (r)
        r = sg_mem_alloc(m->ctx, total, SG_PAGE_SIZE, SG_R_DEVICE, 0, &base);
    if (r) {
        free(offsets);
        return r;
    }
    for (int i = 0; i < n; i++) {
        const struct ptx_global_info *g = ptx_module_global(m->ptx, i);
        m->global_addrs[i] = base + offsets[i];
        if (g->init && g->init_size)
            memcpy((void *)(uintptr_t)m->global_addrs[i], g->init,
                   g->init_size < g->size ? g->init_size : g->size);
    }
    free(offsets);
    return CUDA_SUCCESS;
}

CUresult sg_module_instantiate(struct sg_ctx *ctx, ptx_module *ptx, struct sg_library *lib,
                               struct sg_module **out)
{
    struct sg_module *m = calloc(1, sizeof *m);
    if (!m)
        return CUDA_ERROR_OUT_OF_MEMORY;
    m->ctx = ctx;
    m->ptx = ptx;
    m->owns_ptx = lib == NULL;
    m->library = lib;
    m->nfuncs = ptx_module_kernel_count(ptx);
    m->funcs = calloc((size_t)(m->nfuncs ? m->nfuncs : 1), sizeof *m->funcs);
    CUresult r = m->funcs ? alloc_globals(m) : CUDA_ERROR_OUT_OF_MEMORY;
    if (r) {
        free(m->funcs);
        free(m->global_addrs);
        free(m);
        return r;
    }
    for (int i = 0; i < m->nfuncs; i++) {
        struct sg_func *f = &m->funcs[i];
        struct ptx_kernel_attrs a;
        f->module = m;
        f->kernel = ptx_module_kernel(ptx, i);
        ptx_kernel_get_attrs(f->kernel, &a);
        f->max_dynamic_shared = (int)(SG_SHARED_DEFAULT > a.static_shared_bytes
                                          ? SG_SHARED_DEFAULT - a.static_shared_bytes : 0);
        f->preferred_carveout = -1;
        sg_handle_add(f, SG_K_FUNC);
        if (lib && i < lib->nkernels) {
            struct sg_kernel_handle *k = &lib->kernels[i];
            if (k->max_dynamic_shared >= 0)
                f->max_dynamic_shared = k->max_dynamic_shared;
            f->preferred_carveout = k->preferred_carveout;
        }
    }
    sg_handle_add(m, SG_K_MODULE);
    pthread_mutex_lock(&ctx->lock);
    m->next_in_ctx = ctx->modules;
    ctx->modules = m;
    pthread_mutex_unlock(&ctx->lock);
    *out = m;
    return CUDA_SUCCESS;
}

/* Frees the module; the caller has unlinked it from its context. */
void sg_module_destroy(struct sg_module *m)
{
    sg_handle_del(m);
    for (int i = 0; i < m->nfuncs; i++)
        sg_handle_del(&m->funcs[i]);
    if (m->nglobals && m->global_addrs && m->ctx->active)
        sg_mem_free(m->global_addrs[0], SG_R_DEVICE);
    if (m->owns_ptx)
        sg_ptx_release(m->ptx);
    free(m->global_addrs);
    free(m->funcs);
    free(m);
}

void sg_module_unlink(struct sg_module *m)
{
    struct sg_ctx *c = m->ctx;
    pthread_mutex_lock(&c->lock);
    for (struct sg_module **p = &c->modules; *p; p = &(*p)->next_in_ctx)
        if (*p == m) {
            *p = m->next_in_ctx;
            break;
        }
    pthread_mutex_unlock(&c->lock);
}

CUresult sg_func_resolve(CUfunction h, struct sg_func **out)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (sg_handle_is(h, SG_K_FUNC)) {
        *out = (struct sg_func *)h;
        return CUDA_SUCCESS;
    }
    if (sg_handle_is(h, SG_K_KERNEL)) {
        struct sg_kernel_handle *k = (struct sg_kernel_handle *)h;
        struct sg_ctx *c;
        struct sg_module *m;
        r = sg_ctx_get(&c);
        if (!r)
            r = sg_library_instance(k->library, c, &m);
        if (!r)
            *out = &m->funcs[k->index];
        return r;
    }
    return CUDA_ERROR_INVALID_HANDLE;
}

/* ---- cuModule* ------------------------------------------------------------------------------ */

static CUresult module_load(CUmodule *module, const void *image)
{
    if (!module || !image)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_ctx *c;
    CUresult r = sg_ctx_get(&c);
    if (r)
        return r;
    ptx_module *ptx;
    r = sg_image_to_ptx(image, &ptx);
    if (r)
        return r;
    struct sg_module *m;
    r = sg_module_instantiate(c, ptx, NULL, &m);
    if (r) {
        sg_ptx_release(ptx);
        return r;
    }
    *module = (CUmodule)m;
    return CUDA_SUCCESS;
}

CUresult cuModuleLoadData(CUmodule *module, const void *image) { return module_load(module, image); }

CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions,
                            CUjit_option *options, void **optionValues)
{
    /* JIT options steer a compiler softgpu does not have; they are accepted and ignored,
     * except that log buffers are answered empty. */
    if (numOptions && (!options || !optionValues))
        return CUDA_ERROR_INVALID_VALUE;
    for (unsigned i = 0; i < numOptions; i++) {
        if ((options[i] == CU_JIT_INFO_LOG_BUFFER || options[i] == CU_JIT_ERROR_LOG_BUFFER)
            && optionValues[i])
            *(char *)optionValues[i] = 0;
    }
    return module_load(module, image);
}

CUresult cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin)
{
    return module_load(module, fatCubin);
}

/* Reads a whole file, NUL-terminated (PTX files are text). */
char *sg_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

CUresult cuModuleLoad(CUmodule *module, const char *fname)
{
    if (!module || !fname)
        return CUDA_ERROR_INVALID_VALUE;
    char *data = sg_read_file(fname, NULL);
    if (!data)
        return CUDA_ERROR_FILE_NOT_FOUND;
    CUresult r = module_load(module, data);
    free(data);
    return r;
}

CUresult cuModuleUnload(CUmodule hmod)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!sg_handle_is(hmod, SG_K_MODULE))
        return CUDA_ERROR_INVALID_HANDLE;
    struct sg_module *m = (struct sg_module *)hmod;
    if (m->library)
        return CUDA_ERROR_INVALID_HANDLE; /* owned by its library: cuLibraryUnload */
    sg_ctx_synchronize(m->ctx); /* launches in flight still use its functions */
    sg_module_unlink(m);
    sg_module_destroy(m);
    return CUDA_SUCCESS;
}

CUresult cuModuleGetLoadingMode(CUmoduleLoadingMode *mode)
{
    if (!mode)
        return CUDA_ERROR_INVALID_VALUE;
    *mode = CU_MODULE_EAGER_LOADING;
    return CUDA_SUCCESS;
}

static CUresult module_lookup(CUmodule h, struct sg_module **out)
{
    void *p;
    CUresult r = sg_handle_get(h, SG_K_MODULE, CUDA_ERROR_INVALID_HANDLE, &p);
    if (!r)
        *out = p;
    return r;
}

CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
{
    if (!hfunc || !name)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_module *m;
    CUresult r = module_lookup(hmod, &m);
    if (r)
        return r;
    for (int i = 0; i < m->nfuncs; i++) {
        if (!strcmp(ptx_kernel_name(m->funcs[i].kernel), name)) {
            *hfunc = (CUfunction)&m->funcs[i];
            return CUDA_SUCCESS;
        }
    }
    return sg_kernel_missing(m->ptx, name);
}

CUresult cuModuleGetFunctionCount(unsigned int *count, CUmodule mod)
{
    if (!count)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_module *m;
    CUresult r = module_lookup(mod, &m);
    if (!r)
        *count = (unsigned)m->nfuncs;
    return r;
}

CUresult cuModuleEnumerateFunctions(CUfunction *functions, unsigned int numFunctions, CUmodule mod)
{
    if (!functions)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_module *m;
    CUresult r = module_lookup(mod, &m);
    if (r)
        return r;
    for (unsigned i = 0; i < numFunctions && i < (unsigned)m->nfuncs; i++)
        functions[i] = (CUfunction)&m->funcs[i];
    return CUDA_SUCCESS;
}

CUresult sg_module_global(struct sg_module *m, const char *name, CUdeviceptr *dptr, size_t *bytes)
{
    if (!name)
        return CUDA_ERROR_INVALID_VALUE;
    int i = ptx_module_find_global(m->ptx, name);
    if (i < 0)
        return CUDA_ERROR_NOT_FOUND;
    if (dptr)
        *dptr = m->global_addrs[i];
    if (bytes)
        *bytes = ptx_module_global(m->ptx, i)->size;
    return CUDA_SUCCESS;
}

CUresult cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule hmod, const char *name)
{
    struct sg_module *m;
    CUresult r = module_lookup(hmod, &m);
    return r ? r : sg_module_global(m, name, dptr, bytes);
}

/* ---- function attributes -------------------------------------------------------------------- */

CUresult sg_func_attribute(const ptx_module *m, const ptx_kernel *k, int max_dyn, int carveout,
                           CUfunction_attribute a, int *v)
{
    struct ptx_kernel_attrs at;
    ptx_kernel_get_attrs(k, &at);
    switch (a) {
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = at.max_threads_per_block; break;
    case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES: *v = (int)at.static_shared_bytes; break;
    case CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES: *v = 0; break;
    case CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES: *v = (int)at.local_bytes; break;
    case CU_FUNC_ATTRIBUTE_NUM_REGS: *v = at.num_regs; break;
    case CU_FUNC_ATTRIBUTE_PTX_VERSION: *v = ptx_module_target_sm(m); break;
    case CU_FUNC_ATTRIBUTE_BINARY_VERSION: *v = sg_device_sm(); break;
    case CU_FUNC_ATTRIBUTE_CACHE_MODE_CA: *v = 0; break;
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: *v = max_dyn; break;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT: *v = carveout; break;
    case CU_FUNC_ATTRIBUTE_CLUSTER_SIZE_MUST_BE_SET: *v = 0; break;
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH: *v = 0; break;
    case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED: *v = 0; break;
    case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE: *v = 0; break;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

/* Validates a settable attribute; returns the error for a bad value. */
CUresult sg_func_attribute_check(const ptx_kernel *k, CUfunction_attribute a, int value)
{
    struct ptx_kernel_attrs at;
    ptx_kernel_get_attrs(k, &at);
    switch (a) {
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
        if (value < 0 || (size_t)value + at.static_shared_bytes > SG_SHARED_OPTIN)
            return CUDA_ERROR_INVALID_VALUE;
        return CUDA_SUCCESS;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
        return value >= -1 && value <= 100 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
        return value <= 1 ? CUDA_SUCCESS : CUDA_ERROR_NOT_SUPPORTED; /* no clusters */
    case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
    case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
        return CUDA_SUCCESS;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc)
{
    if (!pi)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_func *f;
    CUresult r = sg_func_resolve(hfunc, &f);
    return r ? r : sg_func_attribute(f->module->ptx, f->kernel, f->max_dynamic_shared, f->preferred_carveout, attrib, pi);
}

CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value)
{
    struct sg_func *f;
    CUresult r = sg_func_resolve(hfunc, &f);
    if (!r)
        r = sg_func_attribute_check(f->kernel, attrib, value);
    if (r)
        return r;
    if (attrib == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
        f->max_dynamic_shared = value;
    else if (attrib == CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT)
        f->preferred_carveout = value;
    return CUDA_SUCCESS;
}

CUresult cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config)
{
    struct sg_func *f;
    CUresult r = sg_func_resolve(hfunc, &f);
    if (r)
        return r;
    if ((unsigned)config > CU_FUNC_CACHE_PREFER_EQUAL)
        return CUDA_ERROR_INVALID_VALUE;
    f->cache_config = config;
    return CUDA_SUCCESS;
}

CUresult cuFuncGetModule(CUmodule *hmod, CUfunction hfunc)
{
    if (!hmod)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_func *f;
    CUresult r = sg_func_resolve(hfunc, &f);
    if (!r)
        *hmod = (CUmodule)f->module;
    return r;
}

CUresult cuFuncGetName(const char **name, CUfunction hfunc)
{
    if (!name)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_func *f;
    CUresult r = sg_func_resolve(hfunc, &f);
    if (!r)
        *name = ptx_kernel_name(f->kernel);
    return r;
}

CUresult sg_param_info(const ptx_kernel *k, size_t index, size_t *offset, size_t *size)
{
    if (!offset)
        return CUDA_ERROR_INVALID_VALUE;
    if (index >= (size_t)ptx_kernel_param_count(k))
        return CUDA_ERROR_INVALID_VALUE;
    size_t o, s;
    ptx_kernel_param(k, (int)index, &o, &s);
    *offset = o;
    if (size)
        *size = s;
    return CUDA_SUCCESS;
}

CUresult cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset,
                            size_t *paramSize)
{
    struct sg_func *f;
    CUresult r = sg_func_resolve(func, &f);
    return r ? r : sg_param_info(f->kernel, paramIndex, paramOffset, paramSize);
}

CUresult cuFuncIsLoaded(CUfunctionLoadingState *state, CUfunction function)
{
    if (!state)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_func *f;
    CUresult r = sg_func_resolve(function, &f);
    if (!r)
        *state = CU_FUNCTION_LOADING_STATE_LOADED;
    return r;
}

CUresult cuFuncLoad(CUfunction function)
{
    struct sg_func *f;
    return sg_func_resolve(function, &f);
}

/* ---- occupancy ------------------------------------------------------------------------------ */

static int blocks_per_sm(const ptx_kernel *k, int block, size_t dyn)
{
    struct ptx_kernel_attrs a;
    ptx_kernel_get_attrs(k, &a);
    if (block <= 0 || block > a.max_threads_per_block)
        return 0;
    int warps = (block + 31) / 32;
    int n = 32;                                 /* max blocks per SM */
    if (64 / warps < n)
        n = 64 / warps;                         /* 2048 threads = 64 warps per SM */
    int regs = a.num_regs > 0 ? a.num_regs : 1;
    int by_regs = 65536 / (regs * warps * 32);
    if (by_regs < n)
        n = by_regs;
    size_t smem = a.static_shared_bytes + dyn;
    if (smem > SG_SHARED_OPTIN)
        return 0;
    if (smem) {
        int by_smem = (int)(SG_SHARED_PER_SM / (smem + SG_RESERVED_SMEM));
        if (by_smem < n)
            n = by_smem;
    }
    return n > 0 ? n : 0;
}

CUresult cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *numBlocks, CUfunction func,
                                                               int blockSize, size_t dynamicSMemSize,
                                                               unsigned int flags)
{
    if (!numBlocks || flags > CU_OCCUPANCY_DISABLE_CACHING_OVERRIDE)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_func *f;
    CUresult r = sg_func_resolve(func, &f);
    if (r)
        return r;
    *numBlocks = blocks_per_sm(f->kernel, blockSize, dynamicSMemSize);
    return CUDA_SUCCESS;
}

CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction func, int blockSize,
                                                     size_t dynamicSMemSize)
{
    return cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(numBlocks, func, blockSize,
                                                                dynamicSMemSize, 0);
}

CUresult cuOccupancyMaxPotentialBlockSizeWithFlags(int *minGridSize, int *blockSize, CUfunction func,
                                                   CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                                   size_t dynamicSMemSize, int blockSizeLimit,
                                                   unsigned int flags)
{
    if (!minGridSize || !blockSize || flags > CU_OCCUPANCY_DISABLE_CACHING_OVERRIDE)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_func *f;
    CUresult r = sg_func_resolve(func, &f);
    if (r)
        return r;
    struct ptx_kernel_attrs a;
    ptx_kernel_get_attrs(f->kernel, &a);
    int limit = a.max_threads_per_block;
    if (blockSizeLimit > 0 && blockSizeLimit < limit)
        limit = blockSizeLimit;
    int best_block = 0, best_threads = 0, best_blocks = 0;
    for (int b = (limit + 31) / 32 * 32; b > 0; b -= 32) {
        int bs = b > limit ? limit : b;
        size_t dyn = blockSizeToDynamicSMemSize ? blockSizeToDynamicSMemSize(bs) : dynamicSMemSize;
        int n = blocks_per_sm(f->kernel, bs, dyn);
        if (n * bs > best_threads) {
            best_threads = n * bs;
            best_block = bs;
            best_blocks = n;
        }
    }
    *blockSize = best_block;
    *minGridSize = best_blocks * sg.sms;
    return CUDA_SUCCESS;
}

CUresult cuOccupancyMaxPotentialBlockSize(int *minGridSize, int *blockSize, CUfunction func,
                                          CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                          size_t dynamicSMemSize, int blockSizeLimit)
{
    return cuOccupancyMaxPotentialBlockSizeWithFlags(minGridSize, blockSize, func,
                                                     blockSizeToDynamicSMemSize, dynamicSMemSize,
                                                     blockSizeLimit, 0);
}

CUresult cuOccupancyAvailableDynamicSMemPerBlock(size_t *dynamicSmemSize, CUfunction func,
                                                 int numBlocks, int blockSize)
{
    if (!dynamicSmemSize || numBlocks <= 0 || blockSize <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_func *f;
    CUresult r = sg_func_resolve(func, &f);
    if (r)
        return r;
    if (blocks_per_sm(f->kernel, blockSize, 0) < numBlocks) {
        *dynamicSmemSize = 0;
        return CUDA_SUCCESS;
    }
    struct ptx_kernel_attrs a;
    ptx_kernel_get_attrs(f->kernel, &a);
    size_t per_block = SG_SHARED_PER_SM / (size_t)numBlocks;
    per_block = per_block > SG_RESERVED_SMEM ? per_block - SG_RESERVED_SMEM : 0;
    if (per_block > SG_SHARED_OPTIN)
        per_block = SG_SHARED_OPTIN;
    *dynamicSmemSize = per_block > a.static_shared_bytes ? per_block - a.static_shared_bytes : 0;
    return CUDA_SUCCESS;
}
