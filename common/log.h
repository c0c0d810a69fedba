/* SPDX-License-Identifier: MIT */
/*
 * common/log.h - leveled logging to stderr (never stdout, which carries QMP
 * and machine-readable output). Libraries log only at debug or trace level.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdarg.h>

enum log_level {
    LOG_ERROR = 0,
    LOG_WARN = 1,
    LOG_INFO = 2,
    LOG_DEBUG = 3,
    LOG_TRACE = 4,
};

/* Receives every emitted line (without trailing newline). */
typedef void log_sink_fn(void *opaque, enum log_level level, const char *line);

/* Route log lines to @fn (NULL restores the default stderr sink). */
void log_set_sink(log_sink_fn *fn, void *opaque);
/* Lines above @level are dropped. The default is LOG_INFO. */
void log_set_level(enum log_level level);
/* Program name used as the "prog: " prefix on stderr. */
void log_set_prog(const char *prog);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_trace(...) log_msg(LOG_TRACE, __VA_ARGS__)

#ifdef CONFIG_TRACE
#define TRACE(...) log_msg(LOG_TRACE, __VA_ARGS__)
#else
#define TRACE(...)                                                             \
    do {                                                                       \
    } while (0)
#endif

#endif /* COMMON_LOG_H */
