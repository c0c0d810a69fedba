/* SPDX-License-Identifier: MIT */
/* common/fmt.c - human-readable numbers, worded as QEMU words them. */
#include "common/fmt.h"

#include <math.h>
#include <stdio.h>

void fmt_size(char *dst, size_t dst_cap, uint64_t val)
{
    static const char *const suffixes[] = {"",   "Ki", "Mi", "Gi",
                                           "Ti", "Pi", "Ei"};
    int e = 0;
    int i;

    /*
     * e - 1 is floor(log2(val * 1024 / 1000)): the next unit up starts
     * where the number would reach 1000 (QEMU commit e41b509d68af).
     */
    frexp((double)val / (1000.0 / 1024.0), &e);
    i = (e - 1) / 10;
    if (i < 0) {
        i = 0;
    }
    if (i > 6) {
        i = 6;
    }
    snprintf(dst, dst_cap, "%0.3g %sB",
             (double)val / (double)(1ull << (i * 10)), suffixes[i]);
}
