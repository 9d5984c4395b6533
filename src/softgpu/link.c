/*
 * The JIT linker: cuLinkCreate, cuLinkAddData, cuLinkAddFile (each in both ABIs),
 * cuLinkComplete and cuLinkDestroy. softgpu runs PTX, so linking is done on PTX text: every
 * input is reduced to PTX (PTX as given; fat binaries and "cubins", which for softgpu are
 * containers of our own PTX, through the fat-binary reader, which picks the best PTX for the
 * device's SOFTGPU_CC)
 * and checked by the PTX parser when it is added (calls to functions it does not define are
 * left for the joined module to resolve). cuLinkComplete joins the inputs into one PTX
 * module: one header (the highest .version and .target of the inputs, 64-bit addresses), then
 * every input's `.extern .func` declarations, then the rest of each input in the order added,
 * so an `.extern .func` of one input is resolved by the `.visible .func` of another, as by the
 * parser of a single module. The result is NUL-terminated PTX text that cuModuleLoadData and cuLibraryLoadData
 * load like any image; it lives until cuLinkDestroy.
 *
 * Inputs softgpu cannot turn into PTX: CU_JIT_INPUT_NVVM (no NVVM compiler) is
 * CUDA_ERROR_NOT_SUPPORTED, an image with only SASS is CUDA_ERROR_NO_BINARY_FOR_GPU. The error
 * log (CU_JIT_ERROR_LOG_BUFFER) receives the parser's message; the info log stays empty.
 * Calls the fat-binary reader and the PTX parser only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "softgpu.h"

#include "fatbin.h"

/* softgpu's device (SOFTGPU_CC): the PTX picked from fat binaries */
#define LINK_SM sg_device_sm()

struct sg_link {
    char **inputs;           /* PTX texts */
    size_t ninputs;
    char *output;
    char *error_log;         /* caller's buffers (CU_JIT_*_LOG_BUFFER), may be NULL */
    size_t error_log_size;
    char *info_log;
    size_t info_log_size;
};

static void log_error(struct sg_link *l, const char *fmt, const char *what, const char *why)
{
    sg_log(SG_LOG_ERROR, fmt, what, why);
    if (l->error_log && l->error_log_size)
        snprintf(l->error_log, l->error_log_size, fmt, what, why);
}

static void read_options(struct sg_link *l, unsigned n, const CUjit_option *opt, void **val)
{
    for (unsigned i = 0; i < n; i++) {
        switch (opt[i]) {
        case CU_JIT_ERROR_LOG_BUFFER: l->error_log = val[i]; break;
        case CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES: l->error_log_size = (size_t)(uintptr_t)val[i]; break;
        case CU_JIT_INFO_LOG_BUFFER: l->info_log = val[i]; break;
        case CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES: l->info_log_size = (size_t)(uintptr_t)val[i]; break;
        default: break; /* optimisation levels, targets, ...: nothing to tune in an interpreter */
        }
    }
    if (l->error_log && l->error_log_size)
        l->error_log[0] = 0;
    if (l->info_log && l->info_log_size)
        l->info_log[0] = 0;
}

CUresult cuLinkCreate_v2(unsigned int numOptions, CUjit_option *options, void **optionValues,
                         CUlinkState *stateOut)
{
    CUresult r = sg_check_init();
    if (r)
        return r;
    if (!stateOut || (numOptions && (!options || !optionValues)))
        return CUDA_ERROR_INVALID_VALUE;
    struct sg_link *l = calloc(1, sizeof *l);
    if (!l)
        return CUDA_ERROR_OUT_OF_MEMORY;
    read_options(l, numOptions, options, optionValues);
    *stateOut = (CUlinkState)l;
    return CUDA_SUCCESS;
}

/* The PTX of one input, in a new NUL-terminated buffer. */
static CUresult input_to_ptx(struct sg_link *l, CUjitInputType type, const void *data,
                             size_t size, const char *name, char **out)
{
    char err[256] = "";
    if (type == CU_JIT_INPUT_NVVM) {
        log_error(l, "%s: %s", name, "NVVM IR needs an NVVM compiler, which softgpu has not");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    if (type == CU_JIT_INPUT_PTX) {
        size_t len = strnlen(data, size);
        *out = malloc(len + 1);
        if (!*out)
            return CUDA_ERROR_OUT_OF_MEMORY;
        memcpy(*out, data, len);
        (*out)[len] = 0;
        return CUDA_SUCCESS;
    }
    size_t len;
    int fr = fatbin_select_ptx(data, size, (unsigned)LINK_SM, out, &len, err, sizeof err);
    if (fr == FATBIN_OK)
        return CUDA_SUCCESS;
    log_error(l, "%s: %s", name, err);
    return fr == FATBIN_ENOCODE ? CUDA_ERROR_NO_BINARY_FOR_GPU
           : fr == FATBIN_ENOMEM ? CUDA_ERROR_OUT_OF_MEMORY
                                 : CUDA_ERROR_INVALID_IMAGE;
}

/* Adds a PTX text after checking that it parses on its own. */
static CUresult add_ptx(struct sg_link *l, char *ptx, const char *name)
{
    char err[256] = "";
    ptx_module *m = ptx_module_parse(ptx, strlen(ptx), err, sizeof err);
    /* a call to a function another input defines is resolved when the inputs are joined */
    if (!m && !strstr(err, "call to undefined function")) {
        log_error(l, "%s: %s", name, err);
        free(ptx);
        return CUDA_ERROR_INVALID_PTX;
    }
    ptx_module_free(m);
    char **n = realloc(l->inputs, (l->ninputs + 1) * sizeof *n);
    if (!n) {
        free(ptx);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    l->inputs = n;
    l->inputs[l->ninputs++] = ptx;
    return CUDA_SUCCESS;
}

CUresult cuLinkAddData_v2(CUlinkState state, CUjitInputType type, void *data, size_t size,
                          const char *name, unsigned int numOptions, CUjit_option *options,
                          void **optionValues)
{
    struct sg_link *l = (struct sg_link *)state;
    if (!l || !data || (type != CU_JIT_INPUT_PTX && !size) || (numOptions && (!options || !optionValues)))
        return CUDA_ERROR_INVALID_VALUE;
    if (type < CU_JIT_INPUT_CUBIN || type > CU_JIT_INPUT_NVVM)
        return CUDA_ERROR_INVALID_VALUE;
    if (!size)
        size = strlen(data) + 1;
    char *ptx;
    CUresult r = input_to_ptx(l, type, data, size, name ? name : "input", &ptx);
    return r ? r : add_ptx(l, ptx, name ? name : "input");
}

CUresult cuLinkAddFile_v2(CUlinkState state, CUjitInputType type, const char *path,
                          unsigned int numOptions, CUjit_option *options, void **optionValues)
{
    if (!state || !path)
        return CUDA_ERROR_INVALID_VALUE;
    size_t len;
    char *bytes = sg_read_file(path, &len);
    if (!bytes)
        return CUDA_ERROR_FILE_NOT_FOUND;
    CUresult r = cuLinkAddData_v2(state, type, bytes, len, path, numOptions, options, optionValues);
    free(bytes);
    return r;
}

/* ---- joining ------------------------------------------------------------------------------- */

/* Is the line at p (after leading blanks) the module header directive `dir`? */
static int line_is(const char *p, const char *dir)
{
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(dir);
    return !strncmp(p, dir, n) && (p[n] == ' ' || p[n] == '\t');
}

/* The highest ".version X.Y" (as 10*X+Y) and sm_NN of ".target" in text. */
static void scan_header(const char *text, int *version, int *sm)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        int a, b;
        const char *q = p + strspn(p, " \t");
        if (sscanf(q, ".version %d.%d", &a, &b) == 2 && a * 10 + b > *version)
            *version = a * 10 + b;
        if (sscanf(q, ".target sm_%d", &a) == 1 && a > *sm)
            *sm = a;
    }
}

/* Length of the `.extern .func ...;` declaration at p (after blanks), 0 when p is not one. */
static size_t extern_func_len(const char *p)
{
    const char *q = p + strspn(p, " \t");
    if (strncmp(q, ".extern", 7) != 0)
        return 0;
    q += 7 + strspn(q + 7, " \t");
    if (strncmp(q, ".func", 5) != 0)
        return 0;
    const char *end = strchr(q, ';');
    return end ? (size_t)(end - p) + 1 : 0;
}

/* Appends to out (which has room) either only the `.extern .func` declarations of text
 * (externs) or everything else but the header directives. */
static size_t append_part(char *out, const char *text, int externs)
{
    size_t n = 0;
    for (const char *p = text; *p;) {
        size_t ext = extern_func_len(p);
        if (ext) {
            if (externs) {
                memcpy(out + n, p, ext);
                n += ext;
                out[n++] = '\n';
            }
            p += ext;
            continue;
        }
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) + 1 : strlen(p);
        if (!externs && !line_is(p, ".version") && !line_is(p, ".target")
            && !line_is(p, ".address_size")) {
            memcpy(out + n, p, len);
            n += len;
        }
        p += len;
    }
    out[n++] = '\n';
    return n;
}

static CUresult join_inputs(struct sg_link *l)
{
    int version = 0, sm = 0;
    size_t total = 128 + 2 * l->ninputs;
    for (size_t i = 0; i < l->ninputs; i++) {
        scan_header(l->inputs[i], &version, &sm);
        total += strlen(l->inputs[i]) + 1;
    }
    char *out = malloc(total);
    if (!out)
        return CUDA_ERROR_OUT_OF_MEMORY;
    size_t n = (size_t)snprintf(out, 128, ".version %d.%d\n.target sm_%d\n.address_size 64\n",
                                version ? version / 10 : 7, version ? version % 10 : 0, sm ? sm : LINK_SM);
    /* every input's function declarations first, so each precedes the definition it names */
    for (int externs = 1; externs >= 0; externs--)
        for (size_t i = 0; i < l->ninputs; i++)
            n += append_part(out + n, l->inputs[i], externs);
    out[n] = 0;
    free(l->output);
    l->output = out;
    return CUDA_SUCCESS;
}

CUresult cuLinkComplete(CUlinkState state, void **cubinOut, size_t *sizeOut)
{
    struct sg_link *l = (struct sg_link *)state;
    if (!l || !cubinOut || !sizeOut)
        return CUDA_ERROR_INVALID_VALUE;
    if (!l->ninputs) {
        log_error(l, "%s: %s", "link", "no input was added");
        return CUDA_ERROR_INVALID_VALUE;
    }
    CUresult r = join_inputs(l);
    if (r)
        return r;
    char err[256] = "";
    ptx_module *m = ptx_module_parse(l->output, strlen(l->output), err, sizeof err);
    if (!m) {
        log_error(l, "%s: %s", "linked module", err); /* e.g. a symbol defined twice */
        return CUDA_ERROR_INVALID_PTX;
    }
    ptx_module_free(m);
    *cubinOut = l->output;
    *sizeOut = strlen(l->output) + 1;
    return CUDA_SUCCESS;
}

CUresult cuLinkDestroy(CUlinkState state)
{
    struct sg_link *l = (struct sg_link *)state;
    if (!l)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < l->ninputs; i++)
        free(l->inputs[i]);
    free(l->inputs);
    free(l->output);
    free(l);
    return CUDA_SUCCESS;
}

/* ---- the 5.5 ABIs: the same arguments ------------------------------------------------------- */

#undef cuLinkCreate
#undef cuLinkAddData
#undef cuLinkAddFile
CUresult cuLinkCreate(unsigned int numOptions, CUjit_option *options, void **optionValues,
                      CUlinkState *stateOut);
CUresult cuLinkAddData(CUlinkState state, CUjitInputType type, void *data, size_t size,
                       const char *name, unsigned int numOptions, CUjit_option *options,
                       void **optionValues);
CUresult cuLinkAddFile(CUlinkState state, CUjitInputType type, const char *path,
                       unsigned int numOptions, CUjit_option *options, void **optionValues);

CUresult cuLinkCreate(unsigned int numOptions, CUjit_option *options, void **optionValues,
                      CUlinkState *stateOut)
{
    return cuLinkCreate_v2(numOptions, options, optionValues, stateOut);
}

CUresult cuLinkAddData(CUlinkState state, CUjitInputType type, void *data, size_t size,
                       const char *name, unsigned int numOptions, CUjit_option *options,
                       void **optionValues)
{
    return cuLinkAddData_v2(state, type, data, size, name, numOptions, options, optionValues);
}

CUresult cuLinkAddFile(CUlinkState state, CUjitInputType type, const char *path,
                       unsigned int numOptions, CUjit_option *options, void **optionValues)
{
    return cuLinkAddFile_v2(state, type, path, numOptions, options, optionValues);
}
