/*
 * Fuzz target for the PTX parser: any byte string must parse or fail with a message, never
 * crash; a module that parses must answer every query and free cleanly.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ptx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    ptx_module *m = ptx_module_parse((const char *)data, size, err, sizeof err);
    if (!m) {
        if (!memchr(err, 0, sizeof err) || err[0] == 0)
            __builtin_trap(); /* every failure must say why */
        return 0;
    }
    for (int i = 0; i < ptx_module_kernel_count(m); i++) {
        const ptx_kernel *k = ptx_module_kernel(m, i);
        struct ptx_kernel_attrs a;
        ptx_kernel_get_attrs(k, &a);
        for (int p = 0; p < ptx_kernel_param_count(k); p++) {
            size_t off, sz;
            ptx_kernel_param(k, p, &off, &sz);
        }
        (void)ptx_kernel_param_bytes(k);
        (void)ptx_kernel_name(k);
    }
    for (int i = 0; i < ptx_module_global_count(m); i++)
        (void)ptx_module_global(m, i);
    ptx_module_free(m);
    return 0;
}
