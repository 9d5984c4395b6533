/* Leveled logging to stderr or syslog; see log.h. One write(2) per line on stderr so lines from
 * threads never mix; syslog(3) is itself one message per call. Every message is escaped
 * (tf_log_escape): one call, one line. */
#include "log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *level_names[] = {"error", "warn", "info", "debug"};
static char log_component[32] = "tfuse";
static volatile int log_level = TF_LOG_WARN;
static volatile int log_to_syslog;

int tf_log_parse_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && !strcmp(name, level_names[i]))
            return i;
    return -1;
}

void tf_log_init(const char *component, enum tf_log_level default_level)
{
    snprintf(log_component, sizeof log_component, "%s", component);
    if (log_to_syslog)   /* a forked worker renames itself: its syslog ident follows */
        openlog(log_component, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    int env = tf_log_parse_level(getenv("TFUSE_LOG"));
    log_level = env >= 0 ? env : (int)default_level;
}

void tf_log_set_level(enum tf_log_level level) { log_level = level; }

enum tf_log_level tf_log_get_level(void) { return (enum tf_log_level)log_level; }

int tf_log_enabled(enum tf_log_level level) { return (int)level <= log_level; }

void tf_log_use_syslog(int on)
{
    if (on && !log_to_syslog)
        openlog(log_component, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    else if (!on && log_to_syslog)
        closelog();
    log_to_syslog = on;
}

int tf_log_syslog_enabled(void) { return log_to_syslog; }

/* Length of the UTF-8 sequence at s (at most n bytes) that may go into a line as it is: a
 * well-formed sequence (no overlong form, no surrogate) of a code point that is not a C1 control
 * nor a line or paragraph separator (U+2028, U+2029); 0 for anything else. */
static size_t printable_utf8(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || len > n || s[0] > 0xf4)
        return 0;
    uint32_t cp = s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f ||
        cp == 0x2028 || cp == 0x2029)
        return 0;
    return len;
}

size_t tf_log_escape(const char *in, char *out, size_t outlen)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t n = strlen(in), o = 0;
    if (outlen == 0)
        return 0;
    for (size_t i = 0; i < n;) {
        size_t u = s[i] >= 0x80 ? printable_utf8(s + i, n - i) : 0;
        if (s[i] >= 0x20 && s[i] < 0x7f)
            u = 1;
        if (u > 0) {
            if (o + u >= outlen)
                break;
            memcpy(out + o, s + i, u);
            o += u;
            i += u;
            continue;
        }
        if (o + 4 >= outlen)
            break;
        snprintf(out + o, 5, "\\x%02x", s[i++]);
        o += 4;
    }
    out[o] = '\0';
    return o;
}

void tf_log(enum tf_log_level level, const char *fmt, ...)
{
    if (!tf_log_enabled(level))
        return;
    /* The message may carry bytes a client chose (an id, a host name, a path): control bytes
     * and broken UTF-8 are escaped, so that no client can forge or break a line. */
    char msg[1536], line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_to_syslog) {
        static const int priority[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        tf_log_escape(msg, line, sizeof line);
        syslog(priority[level & 3], "%s", line);
        return;
    }
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %s[%d] %s: ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (long)tv.tv_usec / 1000, log_component, (int)getpid(),
                     level_names[level]);
    n += (int)tf_log_escape(msg, line + n, sizeof line - (size_t)n - 1);
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
