/* SPDX-License-Identifier: MIT */
/* common/err.c - struct err helpers. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err) {
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void err_prefix(struct err *err, const char *fmt, ...)
{
    char prefix[sizeof(err->msg)];
    char old[sizeof(err->msg)];
    size_t plen, rest;
    va_list ap;

    if (!err) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    plen = strlen(prefix);
    if (plen > sizeof(err->msg) - 3) {
        plen = sizeof(err->msg) - 3;
    }
    memcpy(err->msg, prefix, plen);
    memcpy(err->msg + plen, ": ", 2);
    plen += 2;
    rest = strnlen(old, sizeof(old) - 1);
    if (rest > sizeof(err->msg) - 1 - plen) {
        rest = sizeof(err->msg) - 1 - plen;
    }
    memcpy(err->msg + plen, old, rest);
    err->msg[plen + rest] = '\0';
}

void err_clear(struct err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}
