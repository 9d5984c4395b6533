/* The vGPU id rule; see vgpu_id.h. */
#include "vgpu_id.h"

#include <stdio.h>
#include <string.h>

_Static_assert(VGPU_ID_LEN_MAX == 63, "VGPU_ID_RULE spells the limit out");

static int alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int vgpu_id_check(const char *id, char *err, size_t errlen)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0) {
        snprintf(err, errlen, "the vGPU id is empty; ids are " VGPU_ID_RULE);
        return -1;
    }
    if (n > VGPU_ID_LEN_MAX) {
        snprintf(err, errlen, "the vGPU id is %zu characters long; ids are " VGPU_ID_RULE, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (alnum(c) || (i > 0 && (c == '_' || c == '.' || c == '-')))
            continue;
        /* a byte outside printable ASCII is shown as a code, never as itself: it may be a
         * newline or half of a UTF-8 sequence, and the message ends up in logs and terminals */
        char shown[16];
        if (c > 0x20 && c < 0x7f)
            snprintf(shown, sizeof shown, "'%c'", c);
        else
            snprintf(shown, sizeof shown, "byte 0x%02x", c);
        snprintf(err, errlen, "the vGPU id has %s%s at position %zu; ids are " VGPU_ID_RULE,
                 i == 0 && !alnum(c) ? "a leading " : "", shown, i + 1);
        return -1;
    }
    return 0;
}
