/* SPDX-License-Identifier: MIT */
/* common/log.c - leveled logging; the process-wide sink is set by main(). */
#include "common/log.h"

#include <stdio.h>

/* Process-wide logging configuration, written only by the program's main. */
static log_sink_fn *sink_fn;
static void *sink_opaque;
static enum log_level max_level = LOG_INFO;
static const char *prog_name;

void log_set_sink(log_sink_fn *fn, void *opaque)
{
    sink_fn = fn;
    sink_opaque = opaque;
}

void log_set_level(enum log_level level)
{
    max_level = level;
}

void log_set_prog(const char *prog)
{
    prog_name = prog;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    char line[1024];

    if (level > max_level) {
        return;
    }
    vsnprintf(line, sizeof(line), fmt, ap);
    if (sink_fn) {
        sink_fn(sink_opaque, level, line);
        return;
    }
    if (prog_name) {
        fprintf(stderr, "%s: %s\n", prog_name, line);
    } else {
        fprintf(stderr, "%s\n", line);
    }
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}
