/* SPDX-License-Identifier: MIT */
/*
 * common/err.h - error reporting shared by every module.
 *
 * Fallible functions return 0 (or a non-negative count) on success and a
 * negative errno on failure, and take an optional last parameter
 * `struct err *err` that receives a one-line message. The vocabulary:
 *   -EINVAL  bad argument            -EBADMSG  corrupt on-disk data
 *   -ENOTSUP valid but unsupported   -EIO      I/O failure
 *   -ENOMEM  allocation failure      -ENOSPC   no space
 *   -EEXIST / -ENOENT                -EPROTO   malformed monitor input
 *   -ERANGE  file- or guest-supplied size over a named limit
 *   -EBUSY   resource locked by another process
 * Success never touches @err; failure sets it exactly once.
 */
#ifndef COMMON_ERR_H
#define COMMON_ERR_H

#include <assert.h>
#include <errno.h>

/* Fixed buffer, so error paths never allocate. */
struct err {
    int code;      /* negative errno, 0 if unset */
    char msg[256]; /* NUL-terminated one-line message */
};

/* Fill @err (may be NULL) and return @code (< 0). */
int err_set(struct err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend "context: " to the message already in @err (may be NULL). */
void err_prefix(struct err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reset @err (may be NULL) to "no error". */
void err_clear(struct err *err);

/*
 * Check an argument at a public entry point: asserts in debug builds and
 * returns -EINVAL in release builds.
 */
#ifdef NDEBUG
#define CHECK_ARG(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            return -EINVAL;                                                    \
        }                                                                      \
    } while (0)
#else
#define CHECK_ARG(cond) assert(cond)
#endif

#endif /* COMMON_ERR_H */
