/* Leveled logging to stderr or syslog; see log.h. One write(2) per line on stderr so lines from
 * threads never mix; syslog(3) is itself one message per call. */
#include "log.h"

#include <stdarg.h>
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

void tf_log(enum tf_log_level level, const char *fmt, ...)
{
    if (!tf_log_enabled(level))
        return;
    char line[2048];
    va_list ap;
    if (log_to_syslog) {
        static const int priority[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        va_start(ap, fmt);
        vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
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
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
