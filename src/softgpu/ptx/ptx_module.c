/*
 * Module objects: the allocation arena of a parsed module and the public accessors of ptx.h for
 * modules, globals and kernels, and the text's SHA-256. Calls the parser (ptx_parse.c) and
 * Nettle.
 */
#include <stdlib.h>

#include <nettle/sha2.h>

#include "ptx_internal.h"
#include "ptx_jit.h"
#include "ptx_parse.h"

void *ptx_mod_alloc(ptx_module *m, size_t size)
{
    if (m->nallocs == m->cap_allocs) {
        int nc = m->cap_allocs ? m->cap_allocs * 2 : 64;
        void **nb = realloc(m->allocs, (size_t)nc * sizeof *nb);
        if (!nb)
            return NULL;
        m->allocs = nb;
        m->cap_allocs = nc;
    }
    void *p = calloc(1, size ? size : 1);
    if (p)
        m->allocs[m->nallocs++] = p;
    return p;
}

char *ptx_mod_strdup(ptx_module *m, const char *s, size_t n)
{
    char *p = ptx_mod_alloc(m, n + 1);
    if (p)
        memcpy(p, s, n);
    return p;
}

void ptx_sha256(const void *data, size_t len, uint8_t out[32])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, len, data);
    sha256_digest(&c, SHA256_DIGEST_SIZE, out);
}

ptx_module *ptx_module_parse(const char *text, size_t len, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (!text) {
        if (err && errlen)
            snprintf(err, errlen, "no PTX text");
        return NULL;
    }
    ptx_module *m = calloc(1, sizeof *m);
    if (!m) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (ptx_parse_module(m, text, len, err, errlen) < 0) {
        ptx_module_free(m);
        return NULL;
    }
    /* the JIT caches' key (in memory and on disk, shared by every process of this user): a
     * collision would run another kernel's code, so a cryptographic hash */
    ptx_sha256(text, len, m->text_sha);
    return m;
}

void ptx_module_free(ptx_module *m)
{
    if (!m)
        return;
    ptx_jit_forget_module(m); /* its kernels may be queued or compiling */
    for (int i = 0; i < m->nfuncs; i++) {
        free(m->funcs[i]->code);
        free(m->funcs[i]->params);
        free(m->funcs[i]->rets);
    }
    for (int i = 0; i < m->nallocs; i++)
        free(m->allocs[i]);
    free(m->allocs);
    free(m->funcs);
    free(m->globals);
    free(m->shvars);
    free(m);
}

int ptx_module_target_sm(const ptx_module *m) { return m ? m->target_sm : 0; }
int ptx_module_ptx_version(const ptx_module *m) { return m ? m->version : 0; }
int ptx_module_kernel_count(const ptx_module *m) { return m ? m->nkernels : 0; }

const ptx_kernel *ptx_module_kernel(const ptx_module *m, int index)
{
    if (!m || index < 0 || index >= m->nkernels)
        return NULL;
    return &m->kernels[index];
}

const ptx_kernel *ptx_module_find_kernel(const ptx_module *m, const char *name)
{
    if (!m || !name)
        return NULL;
    for (int i = 0; i < m->nkernels; i++)
        if (!strcmp(m->kernels[i].fn->name, name))
            return &m->kernels[i];
    return NULL;
}

int ptx_module_global_count(const ptx_module *m) { return m ? m->nglobals : 0; }

const struct ptx_global_info *ptx_module_global(const ptx_module *m, int index)
{
    if (!m || index < 0 || index >= m->nglobals)
        return NULL;
    return &m->globals[index];
}

int ptx_module_find_global(const ptx_module *m, const char *name)
{
    if (!m || !name)
        return -1;
    for (int i = 0; i < m->nglobals; i++)
        if (!strcmp(m->globals[i].name, name))
            return i;
    return -1;
}

const char *ptx_kernel_name(const ptx_kernel *k) { return k ? k->fn->name : NULL; }
int ptx_kernel_param_count(const ptx_kernel *k) { return k ? k->fn->nparams : 0; }

void ptx_kernel_param(const ptx_kernel *k, int index, size_t *offset, size_t *size)
{
    size_t o = 0, s = 0;
    if (k && index >= 0 && index < k->fn->nparams) {
        o = k->fn->params[index].offset;
        s = k->fn->params[index].size;
    }
    if (offset)
        *offset = o;
    if (size)
        *size = s;
}

size_t ptx_kernel_param_bytes(const ptx_kernel *k) { return k ? k->fn->kparam_bytes : 0; }

void ptx_kernel_get_attrs(const ptx_kernel *k, struct ptx_kernel_attrs *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!k)
        return;
    out->static_shared_bytes = k->static_shared;
    out->local_bytes = k->fn->depot_bytes;
    out->num_regs = (int)(k->fn->nregs < 255 ? k->fn->nregs : 255);
    int prod = k->fn->maxntid[0] ? k->fn->maxntid[0] * k->fn->maxntid[1] * k->fn->maxntid[2] : 0;
    if (k->fn->reqntid[0]) {
        int r = k->fn->reqntid[0] * k->fn->reqntid[1] * k->fn->reqntid[2];
        prod = prod ? (prod < r ? prod : r) : r;
    }
    out->max_threads_per_block = prod > 0 && prod < 1024 ? prod : 1024;
    for (int i = 0; i < 3; i++)
        out->reqntid[i] = k->fn->reqntid[i];
    out->uses_grid_sync = k->uses_grid_sync;
    out->uses_heap = k->uses_heap;
}
