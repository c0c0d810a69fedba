/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz-rv-disas.c - the in_asm disassembler on guest bytes: the
 * input is a guest pc, an output capacity and an instruction stream, walked
 * as rrvm's log walks a block. Every call writes into a heap buffer of
 * exactly that capacity (ASan sees any overflow) and must give a
 * terminated prefix of the untruncated text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/rv-disas.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input header: capacity byte, then the 8-byte pc. */
#define FUZZ_HDR 9

static void check_prefix(const char *small, size_t cap, const char *full)
{
    size_t n;

    if (cap == 0) {
        return;
    }
    n = strlen(small);
    if (n >= cap || strncmp(small, full, n) != 0 ||
        (n < cap - 1 && full[n] != '\0')) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char full[RV_DISAS_LINE_MAX + 1];
    char text[RV_DISAS_TEXT_MAX + 1];
    size_t cap;
    uint64_t pc = 0;
    char *small;

    if (size < FUZZ_HDR) {
        return 0;
    }
    cap = data[0] % (RV_DISAS_LINE_MAX + 8);
    memcpy(&pc, data + 1, 8);
    small = malloc(cap ? cap : 1);
    if (!small) {
        return 0;
    }
    for (size_t off = FUZZ_HDR; off + 2 <= size;) {
        uint64_t raw = 0;
        size_t avail = size - off < 8 ? size - off : 8;
        size_t len, len2;

        /* Whole parcels only: a trailing odd byte is not guest input. */
        avail &= ~(size_t)1;
        memcpy(&raw, data + off, avail);
        len = rv_disas_line(pc, raw, avail, full, sizeof(full));
        if (len != 2 && len != 4 && len != 6 && len != 8) {
            abort();
        }
        if (strlen(full) >= RV_DISAS_LINE_MAX) {
            abort();
        }
        len2 = rv_disas_line(pc, raw, avail, small, cap);
        if (len2 != len) {
            abort();
        }
        check_prefix(small, cap, full);
        rv_disas(pc, (uint32_t)raw, text, sizeof(text));
        if (strcmp(text, full + 39) != 0) {
            abort();
        }
        rv_disas(pc, (uint32_t)raw, small, cap);
        check_prefix(small, cap, text);
        pc += len;
        off += len;
    }
    free(small);
    return 0;
}
