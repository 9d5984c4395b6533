/*
 * The call protocol's tables and byte codecs (see proto.h): call modes and names expanded from
 * calls.def, the gathering writer and the bounded reader.
 * May call: libc only.
 */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    enum tfp_mode mode;
} call_table[TFP_CALL_COUNT] = {
    [TFP_CALL_NONE] = {"(none)", TFP_SYNC},
#define TF_CALL(sym, base, ver, mode, ...) [TFP_ID_##sym] = {#sym, TFP_##mode},
#define TF_CUSTOM(sym, base, ver, mode) [TFP_ID_##sym] = {#sym, TFP_##mode},
#define TF_INTERNAL(sym, mode, ...) [TFP_ID_##sym] = {#sym, TFP_##mode},
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"
};

static const char *const table_text[] = {
#define TF_CALL(sym, base, ver, mode, ...) #sym " " #base " " #ver " " #mode " " #__VA_ARGS__,
#define TF_CUSTOM(sym, base, ver, mode) #sym " " #base " " #ver " " #mode,
#define TF_INTERNAL(sym, mode, ...) #sym " " #mode " " #__VA_ARGS__,
#include "calls_defaults.h"
#include "calls.def"
#include "calls_undef.h"
};

uint64_t tfp_table_hash(void)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < sizeof table_text / sizeof table_text[0]; i++)
        for (const char *p = table_text[i]; ; p++) {
            h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
            if (!*p)
                break;
        }
    return h;
}

enum tfp_mode tfp_call_mode(uint32_t id)
{
    return id < TFP_CALL_COUNT ? call_table[id].mode : TFP_SYNC;
}

const char *tfp_call_name(uint32_t id)
{
    return id > 0 && id < TFP_CALL_COUNT ? call_table[id].name : NULL;
}

/* ---- writer ---- */

void tfp_writer_init(struct tfp_writer *w)
{
    memset(w, 0, sizeof *w);
}

void tfp_writer_reset(struct tfp_writer *w)
{
    for (int i = 0; i < w->nowned; i++)
        free(w->owned[i]);
    w->nowned = 0;
    w->nseg = 0;
    w->len = 0;
    w->total = 0;
    w->failed = 0;
}

void tfp_writer_free(struct tfp_writer *w)
{
    tfp_writer_reset(w);
    free(w->buf);
    memset(w, 0, sizeof *w);
}

/* Appends n inline bytes; extends the last segment when it is inline too. */
static void *inline_append(struct tfp_writer *w, size_t n)
{
    if (w->failed)
        return NULL;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb) {
            w->failed = 1;
            return NULL;
        }
        w->buf = nb;
        w->cap = cap;
    }
    struct tfp_seg *last = w->nseg ? &w->seg[w->nseg - 1] : NULL;
    if (last && !last->ext && last->off + last->len == w->len) {
        last->len += n;
    } else {
        if (w->nseg == TFP_MAX_SEGS) {
            w->failed = 1;
            return NULL;
        }
        w->seg[w->nseg++] = (struct tfp_seg){NULL, w->len, n};
    }
    void *dst = w->buf + w->len;
    w->len += n;
    w->total += n;
    return dst;
}

void tfp_put(struct tfp_writer *w, const void *p, size_t n)
{
    if (n == 0)
        return;
    void *dst = inline_append(w, n);
    if (dst)
        memcpy(dst, p, n);
}

/* Below this size a copy is cheaper than a segment. */
#define TFP_REF_MIN 256

void tfp_put_ref(struct tfp_writer *w, const void *p, size_t n)
{
    if (n < TFP_REF_MIN) {
        tfp_put(w, p, n);
        return;
    }
    if (w->failed || w->nseg == TFP_MAX_SEGS) {
        w->failed = 1;
        return;
    }
    w->seg[w->nseg++] = (struct tfp_seg){p, 0, n};
    w->total += n;
}

/* The space returned stays put until the message is sent, whatever is written after it: a
 * handler reserves every bulk output before the call fills them (two reservations in one reply
 * must not move each other), so a small one goes inline only where the buffer needs no growing
 * (growing moves it); the others get memory of their own. */
void *tfp_reserve(struct tfp_writer *w, size_t n)
{
    if (n < (64u << 10) && w->len + n <= w->cap)
        return inline_append(w, n);
    if (w->failed || w->nowned == (int)(sizeof w->owned / sizeof w->owned[0])) {
        w->failed = 1;
        return NULL;
    }
    void *p = malloc(n);
    if (!p) {
        w->failed = 1;
        return NULL;
    }
    if (w->nseg == TFP_MAX_SEGS) {
        free(p);
        w->failed = 1;
        return NULL;
    }
    w->owned[w->nowned++] = p;
    w->seg[w->nseg++] = (struct tfp_seg){p, 0, n};
    w->total += n;
    return p;
}

int tfp_iov(struct tfp_writer *w, struct iovec *iov, int max)
{
    int n = 0;
    for (int i = 0; i < w->nseg && n < max; i++, n++) {
        const struct tfp_seg *s = &w->seg[i];
        iov[n].iov_base = (void *)(s->ext ? s->ext : w->buf + s->off);
        iov[n].iov_len = s->len;
    }
    return n;
}

void tfp_put_str(struct tfp_writer *w, const char *s)
{
    size_t n = strlen(s) + 1;
    tfp_put_u32(w, (uint32_t)n);
    tfp_put(w, s, n);
}

/* ---- reader ---- */

void tfp_get(struct tfp_reader *r, void *dst, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
}

const void *tfp_get_ref(struct tfp_reader *r, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return NULL;
    }
    const void *p = r->p + r->pos;
    r->pos += n;
    return p;
}

const char *tfp_get_str(struct tfp_reader *r)
{
    uint32_t n = tfp_get_u32(r);
    if (r->bad || n == 0 || n > TFP_MAX_STRING) {
        r->bad = 1;
        return NULL;
    }
    const char *s = tfp_get_ref(r, n);
    if (!s || s[n - 1] != '\0' || memchr(s, '\0', n - 1)) {
        r->bad = 1;
        return NULL;
    }
    return s;
}
