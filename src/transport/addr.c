/*
 * Transport addresses: parsing and formatting "unix:PATH", "tcp:HOST:PORT" and "tls:HOST:PORT"
 * (TCP inside TLS).
 * Owns only the textual form; resolving and connecting live in sock.c. Calls libc only.
 */
#include "transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int addr_fail(char *err, size_t errlen, const char *text, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "bad address \"%.200s\": %s", text ? text : "(null)", what);
    return TF_ERR_INVALID;
}

static int parse_port(const char *s, uint16_t *out)
{
    if (!*s)
        return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    errno = 0;
    unsigned long v = strtoul(s, NULL, 10);
    if (errno || v > 65535 || strlen(s) > 5)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

static int parse_tcp(const char *text, const char *rest, struct tf_addr *out, char *err,
                     size_t errlen)
{
    const char *colon;
    size_t hostlen;
    const char *host = rest;
    if (*rest == '[') {     /* IPv6 literal: tcp:[::1]:PORT */
        const char *close = strchr(rest, ']');
        if (!close || close[1] != ':')
            return addr_fail(err, errlen, text, "IPv6 host must be written [ADDR]:PORT");
        host = rest + 1;
        hostlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(rest, ':');
        if (!colon)
            return addr_fail(err, errlen, text, "expected tcp:HOST:PORT");
        hostlen = (size_t)(colon - rest);
        if (memchr(rest, ':', hostlen))
            return addr_fail(err, errlen, text, "IPv6 host must be written [ADDR]:PORT");
    }
    if (hostlen == 0)
        return addr_fail(err, errlen, text, "empty host");
    if (hostlen >= sizeof out->host)
        return addr_fail(err, errlen, text, "host name too long");
    if (parse_port(colon + 1, &out->port) < 0)
        return addr_fail(err, errlen, text, "port must be a number from 0 to 65535");
    memcpy(out->host, host, hostlen);
    out->host[hostlen] = '\0';
    out->kind = TF_ADDR_TCP;
    return TF_OK;
}

int tf_addr_parse(const char *text, struct tf_addr *out, char *err, size_t errlen)
{
    if (!text || !out)
        return addr_fail(err, errlen, text, "no address given");
    memset(out, 0, sizeof *out);
    if (!strncmp(text, "unix:", 5)) {
        const char *path = text + 5;
        if (!*path)
            return addr_fail(err, errlen, text, "empty socket path");
        if (strlen(path) >= sizeof out->path)
            return addr_fail(err, errlen, text, "socket path longer than 107 bytes");
        strcpy(out->path, path);
        out->kind = TF_ADDR_UNIX;
        return TF_OK;
    }
    if (!strncmp(text, "tcp:", 4))
        return parse_tcp(text, text + 4, out, err, errlen);
    if (!strncmp(text, "tls:", 4)) {
        out->tls = 1;
        return parse_tcp(text, text + 4, out, err, errlen);
    }
    return addr_fail(err, errlen, text, "expected unix:PATH, tcp:HOST:PORT or tls:HOST:PORT");
}

int tf_addr_format(const struct tf_addr *addr, char *buf, size_t len)
{
    if (addr->kind == TF_ADDR_UNIX)
        return snprintf(buf, len, "unix:%s", addr->path);
    const char *scheme = addr->tls ? "tls" : "tcp";
    if (strchr(addr->host, ':'))
        return snprintf(buf, len, "%s:[%s]:%u", scheme, addr->host, (unsigned)addr->port);
    return snprintf(buf, len, "%s:%s:%u", scheme, addr->host, (unsigned)addr->port);
}
