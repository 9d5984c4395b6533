/*
 * Logging for TensorFuse processes (node, worker, stub, pool, CLI): leveled lines on stderr,
 * each prefixed with the component name and pid. The level comes from TFUSE_LOG
 * (error|warn|info|debug), default warn for libraries loaded into user programs (the stub)
 * and info for daemons, set by tf_log_init. A daemon may send its lines to syslog instead
 * (tf_log_use_syslog; facility daemon, levels mapped to LOG_ERR..LOG_DEBUG).
 */
#ifndef TFUSE_COMMON_LOG_H
#define TFUSE_COMMON_LOG_H

#include <stddef.h>

enum tf_log_level { TF_LOG_ERROR, TF_LOG_WARN, TF_LOG_INFO, TF_LOG_DEBUG };

void tf_log_init(const char *component, enum tf_log_level default_level);
void tf_log_set_level(enum tf_log_level level);
enum tf_log_level tf_log_get_level(void);
/* on: lines go to syslog(3) with the component as ident; off: back to stderr (the default). */
void tf_log_use_syslog(int on);
int tf_log_syslog_enabled(void);
int tf_log_enabled(enum tf_log_level level);
void tf_log(enum tf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define tf_error(...) tf_log(TF_LOG_ERROR, __VA_ARGS__)
#define tf_warn(...) tf_log(TF_LOG_WARN, __VA_ARGS__)
#define tf_info(...) tf_log(TF_LOG_INFO, __VA_ARGS__)
#define tf_debug(...) \
    do { if (tf_log_enabled(TF_LOG_DEBUG)) tf_log(TF_LOG_DEBUG, __VA_ARGS__); } while (0)

/* Copies in to out (outlen bytes, NUL included) with every byte that could break or forge a
 * line written as \\xNN: control characters (newline, carriage return, escape, ...), DEL, bytes
 * that are not well-formed UTF-8, and the C1 controls and line separators of Unicode. Printable
 * ASCII and well-formed UTF-8 text pass unchanged. Truncates on a whole character or escape.
 * Returns the length written. tf_log applies it to every message. */
size_t tf_log_escape(const char *in, char *out, size_t outlen);

/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int tf_log_parse_level(const char *name);

#endif
