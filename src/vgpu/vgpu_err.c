/* Error reporting shared by src/vgpu; see vgpu_err.h. May call: libc only. */
#include "vgpu_err.h"

#include <stdarg.h>
#include <stdio.h>

int vgpu_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}
