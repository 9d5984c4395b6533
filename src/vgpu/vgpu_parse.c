/*
 * Parsing of vGPU quantities (sizes, percents, TFLOPs, QoS names). See vgpu_parse.h.
 *
 * Owns: pure string-to-number conversion with error messages. May call: libc only.
 */
#include "vgpu_parse.h"
#include "vgpu_err.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Reads a non-negative decimal number (digits with an optional fraction, no sign, no exponent,
 * no hex: strtod would accept "inf", "0x10" and "1e3", none of which is a size). */
static int read_decimal(const char *s, double *value, const char **rest)
{
    const char *p = s;
    while (isdigit((unsigned char)*p))
        p++;
    int int_digits = (int)(p - s);
    int frac_digits = 0;
    if (*p == '.') {
        const char *f = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        frac_digits = (int)(p - f);
    }
    if (int_digits == 0 && frac_digits == 0)
        return -1;
    char buf[64];
    size_t len = (size_t)(p - s);
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    errno = 0;
    *value = strtod(buf, NULL);
    if (errno || !isfinite(*value))
        return -1;
    *rest = p;
    return 0;
}

struct size_unit {
    const char *name;
    uint64_t factor;
};

static const struct size_unit size_units[] = {
    {"", 1},           {"b", 1},
    {"k", 1ull << 10}, {"kib", 1ull << 10}, {"kb", 1000ull},
    {"m", 1ull << 20}, {"mib", 1ull << 20}, {"mb", 1000000ull},
    {"g", 1ull << 30}, {"gib", 1ull << 30}, {"gb", 1000000000ull},
    {"t", 1ull << 40}, {"tib", 1ull << 40}, {"tb", 1000000000000ull},
};

int vgpu_parse_size(const char *text, uint64_t *bytes, char *err, size_t errlen)
{
    if (!text || !*text)
        return vgpu_fail(err, errlen, "empty size (expected e.g. 2GiB or 512MiB)");
    double number;
    const char *unit;
    if (read_decimal(text, &number, &unit) != 0)
        return vgpu_fail(err, errlen, "invalid size '%s' (expected a number and a unit, e.g. 2GiB)", text);
    for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++) {
        if (strcasecmp(unit, size_units[i].name) != 0)
            continue;
        double total = number * (double)size_units[i].factor;
        if (total >= 18446744073709551615.0)
            return vgpu_fail(err, errlen, "size '%s' is too large", text);
        if (total != floor(total))
            return vgpu_fail(err, errlen, "size '%s' is not a whole number of bytes", text);
        if (total < 1)
            return vgpu_fail(err, errlen, "size '%s' is zero", text);
        *bytes = (uint64_t)total;
        return 0;
    }
    return vgpu_fail(err, errlen, "unknown unit '%s' in size '%s' (use B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)",
                     unit, text);
}

/* Converts a fraction of the device (0 < f <= 1) to basis points, rounding to nearest. */
static int fraction_to_bp(double f, const char *text, uint32_t *bp, char *err, size_t errlen)
{
    if (f <= 0)
        return vgpu_fail(err, errlen, "compute share '%s' must be above zero", text);
    if (f > 1.0 + 1e-12)
        return vgpu_fail(err, errlen, "compute share '%s' is more than the whole device (100%%)", text);
    uint32_t v = (uint32_t)lround(f * VGPU_BP_FULL);
    if (v == 0)
        return vgpu_fail(err, errlen, "compute share '%s' is below the 0.01%% resolution", text);
    *bp = v;
    return 0;
}

int vgpu_parse_percent(const char *text, uint32_t *bp, char *err, size_t errlen)
{
    if (!text || !*text)
        return vgpu_fail(err, errlen, "empty compute share (expected e.g. 30%%)");
    double number;
    const char *rest;
    if (read_decimal(text, &number, &rest) != 0)
        return vgpu_fail(err, errlen, "invalid compute share '%s' (expected e.g. 30%% or 0.3)", text);
    if (strcmp(rest, "%") == 0)
        return fraction_to_bp(number / 100.0, text, bp, err, errlen);
    if (*rest == 0)
        return fraction_to_bp(number, text, bp, err, errlen);
    return vgpu_fail(err, errlen, "invalid compute share '%s' (expected e.g. 30%% or 0.3)", text);
}

int vgpu_parse_compute(const char *text, double device_tflops, uint32_t *bp, char *err,
                       size_t errlen)
{
    double number;
    const char *rest;
    if (text && read_decimal(text, &number, &rest) == 0 &&
        (strcasecmp(rest, "tflops") == 0 || strcasecmp(rest, "tf") == 0)) {
        if (device_tflops <= 0)
            return vgpu_fail(err, errlen, "compute '%s' is in TFLOPs but the device has no rating; use a percent", text);
        if (number > device_tflops * (1.0 + 1e-9))
            return vgpu_fail(err, errlen, "compute '%s' is more than the device's %.2f TFLOPs", text, device_tflops);
        return fraction_to_bp(number / device_tflops, text, bp, err, errlen);
    }
    return vgpu_parse_percent(text, bp, err, errlen);
}

static const char *const qos_names[VGPU_QOS_COUNT] = {"low", "medium", "high", "critical"};

int vgpu_qos_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < VGPU_QOS_COUNT; i++)
        if (strcasecmp(name, qos_names[i]) == 0)
            return i;
    return -1;
}

const char *vgpu_qos_name(int qos)
{
    return qos >= 0 && qos < VGPU_QOS_COUNT ? qos_names[qos] : "unknown";
}

void vgpu_format_size(uint64_t bytes, char *out, size_t outlen)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (u < 4 && bytes && bytes % 1024 == 0) {
        bytes /= 1024;
        u++;
    }
    snprintf(out, outlen, "%llu%s", (unsigned long long)bytes, units[u]);
}
