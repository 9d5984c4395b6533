/*
 * Device printf: formats vprintf(fmt, args) the way CUDA does, reading the format string and
 * the packed argument buffer (each argument aligned to its own size: 4 bytes for int-sized
 * conversions, 8 for long, double and pointers) from device memory, and delivers the text to
 * the launch's print sink, serialised. Also reads the C strings of __assertfail. Every device
 * access goes through ptx_translate(), so bad pointers fail the launch instead of the process.
 */
#include <stdlib.h>

#include "ptx_internal.h"

void ptx_emit_print(ptx_warp *w, const char *text, size_t len)
{
    ptx_run *run = w->blk->run;
    const struct ptx_launch *l = w->blk->l;
    if (!l->print)
        return;
    pthread_mutex_lock(&run->lock);
    l->print(l->print_opaque, text, len);
    pthread_mutex_unlock(&run->lock);
}

int ptx_read_cstring(ptx_warp *w, const ptx_insn *in, uint64_t addr, char *out, size_t outlen,
                     int lane)
{
    if (addr == 0) {
        snprintf(out, outlen, "(null)");
        return 0;
    }
    size_t n = 0;
    for (;; n++) {
        const char *p = ptx_translate(w, in, SP_GENERIC, addr + n, 1, lane, 0);
        if (!p)
            return -1;
        if (n + 1 < outlen)
            out[n] = *p;
        if (*p == 0)
            break;
        if (n > (1u << 20)) /* an unterminated string: stop reading */
            break;
    }
    out[n + 1 < outlen ? n : outlen - 1] = 0;
    return 0;
}

typedef struct fmt_state {
    ptx_warp *w;
    const ptx_insn *in;
    int lane;
    uint64_t args;
    uint64_t off;
    char *out;
    size_t len, cap;
} fmt_state;

/* Reads the next argument of `size` bytes (aligned to its size). */
static int next_arg(fmt_state *s, unsigned size, uint64_t *v)
{
    s->off = (s->off + size - 1) / size * size;
    const uint8_t *p = ptx_translate(s->w, s->in, SP_GENERIC, s->args + s->off, size, s->lane, 0);
    if (!p)
        return -1;
    *v = 0;
    memcpy(v, p, size);
    s->off += size;
    return 0;
}

static void put(fmt_state *s, const char *text, size_t n)
{
    if (s->len >= s->cap)
        return;
    size_t room = s->cap - s->len - 1;
    if (n > room)
        n = room;
    memcpy(s->out + s->len, text, n);
    s->len += n;
    s->out[s->len] = 0;
}

/* One conversion; spec holds "%[flags][width][.prec]" without length or conversion. */
static int convert(fmt_state *s, const char *spec, const char *len, char conv)
{
    char f[64], buf[1024];
    uint64_t v;
    int n = 0;
    int wide = !strcmp(len, "l") || !strcmp(len, "ll") || !strcmp(len, "j") ||
               !strcmp(len, "z") || !strcmp(len, "t");
    switch (conv) {
    case 'd': case 'i':
        if (next_arg(s, wide ? 8 : 4, &v) < 0)
            return -1;
        snprintf(f, sizeof f, "%sll%c", spec, conv);
        n = snprintf(buf, sizeof buf, f, wide ? (long long)v : (long long)(int32_t)v);
        break;
    case 'u': case 'x': case 'X': case 'o':
        if (next_arg(s, wide ? 8 : 4, &v) < 0)
            return -1;
        snprintf(f, sizeof f, "%sll%c", spec, conv);
        n = snprintf(buf, sizeof buf, f, wide ? (unsigned long long)v : (unsigned long long)(uint32_t)v);
        break;
    case 'c':
        if (next_arg(s, 4, &v) < 0)
            return -1;
        snprintf(f, sizeof f, "%sc", spec);
        n = snprintf(buf, sizeof buf, f, (int)(unsigned char)v);
        break;
    case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case 'a': case 'A':
        if (next_arg(s, 8, &v) < 0)
            return -1;
        snprintf(f, sizeof f, "%s%c", spec, conv);
        n = snprintf(buf, sizeof buf, f, ptx_as_f64(v));
        break;
    case 'p':
        if (next_arg(s, 8, &v) < 0)
            return -1;
        snprintf(f, sizeof f, "%sp", spec);
        n = snprintf(buf, sizeof buf, f, (void *)(uintptr_t)v);
        break;
    case 's': {
        if (next_arg(s, 8, &v) < 0)
            return -1;
        char str[1024];
        if (ptx_read_cstring(s->w, s->in, v, str, sizeof str, s->lane) < 0)
            return -1;
        snprintf(f, sizeof f, "%ss", spec);
        n = snprintf(buf, sizeof buf, f, str);
        break;
    }
    default:
        /* unknown conversion: print it verbatim, as the CUDA runtime does */
        n = snprintf(buf, sizeof buf, "%s%s%c", spec, len, conv);
        break;
    }
    if (n > 0)
        put(s, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    return 0;
}

int ptx_format_printf(ptx_warp *w, const ptx_insn *in, uint64_t fmt, uint64_t args, int lane,
                      char *out, size_t outlen)
{
    char *f = malloc(4096);
    if (!f)
        return -1;
    if (ptx_read_cstring(w, in, fmt, f, 4096, lane) < 0) {
        free(f);
        return -1;
    }
    fmt_state s = {w, in, lane, args, 0, out, 0, outlen};
    out[0] = 0;
    for (const char *p = f; *p;) {
        if (*p != '%') {
            const char *q = strchr(p, '%');
            size_t n = q ? (size_t)(q - p) : strlen(p);
            put(&s, p, n);
            p += n;
            continue;
        }
        if (p[1] == '%') {
            put(&s, "%", 1);
            p += 2;
            continue;
        }
        char spec[32], len[4] = "";
        size_t k = 0;
        spec[k++] = *p++;
        while (*p && strchr("-+ #0", *p) && k < 10)
            spec[k++] = *p++;
        while (*p >= '0' && *p <= '9' && k < 18)
            spec[k++] = *p++;
        if (*p == '.') {
            spec[k++] = *p++;
            while (*p >= '0' && *p <= '9' && k < 28)
                spec[k++] = *p++;
        }
        spec[k] = 0;
        size_t ln = 0;
        while (*p && strchr("hlLqjzt", *p) && ln < 2)
            len[ln++] = *p++;
        len[ln] = 0;
        if (!strcmp(len, "h") || !strcmp(len, "hh") || !strcmp(len, "L") || !strcmp(len, "q"))
            len[0] = 0;
        if (!*p)
            break;
        if (convert(&s, spec, len, *p++) < 0) {
            free(f);
            return -1;
        }
    }
    free(f);
    return (int)s.len;
}
