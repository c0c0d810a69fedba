/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/rv-disas-tool.c - feeds instructions to rv_disas_line() for
 * the QEMU comparison tests: reads "PC HEX" lines on stdin (both hex, HEX
 * as QEMU's in_asm column prints it, 4 to 16 digits) and prints one
 * in_asm line for each.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/rv-disas.h"

int main(void)
{
    char in[256];
    char out[RV_DISAS_LINE_MAX + 1];
    unsigned long lineno = 0;

    while (fgets(in, sizeof(in), stdin)) {
        char pcs[64], hexs[64];
        uint64_t pc, raw;
        size_t ndig;

        lineno++;
        if (sscanf(in, "%63s %63s", pcs, hexs) != 2) {
            fprintf(stderr, "rv-disas-tool: line %lu: expected PC HEX\n",
                    lineno);
            return 2;
        }
        ndig = strlen(hexs);
        if (ndig < 4 || ndig > 16 || ndig % 4) {
            fprintf(stderr, "rv-disas-tool: line %lu: bad HEX %s\n", lineno,
                    hexs);
            return 2;
        }
        pc = strtoull(pcs, NULL, 16);
        raw = strtoull(hexs, NULL, 16);
        rv_disas_line(pc, raw, ndig / 2, out, sizeof(out));
        puts(out);
    }
    return 0;
}
