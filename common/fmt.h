/* SPDX-License-Identifier: MIT */
/* common/fmt.h - human-readable numbers, worded as QEMU words them. */
#ifndef COMMON_FMT_H
#define COMMON_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Enough for any fmt_size() result ("1e+03 KiB", "16 EiB") and its NUL. */
#define FMT_SIZE_LEN 16

/*
 * QEMU's size_to_str(): @val bytes as "0 B", "204 KiB", "1 MiB" (three
 * significant digits, binary units up to EiB), NUL-terminated and
 * truncated to @dst_cap as snprintf() truncates.
 */
void fmt_size(char *dst, size_t dst_cap, uint64_t val);

#endif /* COMMON_FMT_H */
