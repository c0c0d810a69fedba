/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-emu-disas.c - rv-disas against QEMU 7.2's in_asm lines
 * recorded in tests/data/disas (RV_DISAS_GOLDEN_DIR; see its README), and
 * the API contract: lengths, truncation that never writes past the
 * buffer, the hex column of every length, partial reads.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "emulator/rv-disas.h"

/* Longest golden line we accept (QEMU's lines are under 100 characters). */
#define GOLDEN_LINE_MAX 256
/* Column where QEMU's text starts: "0x" 16 digits ":  " 18-column hex. */
#define TEXT_COL 39

struct golden_line {
    uint64_t pc;
    uint64_t raw;
    size_t nbytes; /* bytes shown in the hex column */
    char line[GOLDEN_LINE_MAX];
};

static int golden_parse(const char *s, struct golden_line *g)
{
    char hex[32];

    if (strlen(s) >= GOLDEN_LINE_MAX ||
        sscanf(s, "0x%16" SCNx64 ":  %31s", &g->pc, hex) != 2 ||
        strlen(hex) % 4 != 0 || strlen(hex) > 16) {
        return -1;
    }
    g->raw = strtoull(hex, NULL, 16);
    g->nbytes = strlen(hex) / 2;
    snprintf(g->line, sizeof(g->line), "%s", s);
    return 0;
}

/* Check every line of @name; returns how many. */
static unsigned golden_check(const char *name)
{
    const char *dir = getenv("RV_DISAS_GOLDEN_DIR");
    char path[1024];
    char buf[GOLDEN_LINE_MAX + 2];
    unsigned count = 0;
    FILE *f;

    assert_non_null(dir);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(buf, sizeof(buf), f)) {
        struct golden_line g;
        char out[RV_DISAS_LINE_MAX + 1];
        char text[RV_DISAS_TEXT_MAX + 1];
        size_t len;

        buf[strcspn(buf, "\n")] = '\0';
        assert_int_equal(golden_parse(buf, &g), 0);
        len = rv_disas_line(g.pc, g.raw, g.nbytes, out, sizeof(out));
        assert_string_equal(out, g.line);
        assert_int_equal(len, g.nbytes);
        len = rv_disas(g.pc, (uint32_t)g.raw, text, sizeof(text));
        assert_string_equal(text, g.line + TEXT_COL);
        assert_int_equal(len, g.nbytes);
        count++;
    }
    fclose(f);
    return count;
}

static void test_golden_compressed(void **state)
{
    assert_true(golden_check("c16.txt") > 400);
}

static void test_golden_rv64(void **state)
{
    assert_true(golden_check("rv64.txt") > 500);
}

static void test_golden_csr(void **state)
{
    assert_int_equal(golden_check("csr.txt"), 267);
}

static void test_lengths(void **state)
{
    assert_int_equal(rv_disas_len(0x0000), 2);
    assert_int_equal(rv_disas_len(0x8082), 2);
    assert_int_equal(rv_disas_len(0xfffe), 2);
    assert_int_equal(rv_disas_len(0x0003), 4);
    assert_int_equal(rv_disas_len(0x0297), 4);
    assert_int_equal(rv_disas_len(0x001f), 6);
    assert_int_equal(rv_disas_len(0x003f), 8);
    assert_int_equal(rv_disas_len(0x007f), 0);
    assert_int_equal(rv_disas_len(0xffff), 0);
}

/* Every outsz from 0 up: no byte past outsz is touched, the text is
 * terminated and is a prefix of the full text. */
static void check_truncation(uint64_t pc, uint64_t raw, size_t avail)
{
    char full[RV_DISAS_LINE_MAX + 1];
    char buf[RV_DISAS_LINE_MAX + 16];
    size_t full_len;

    rv_disas_line(pc, raw, avail, full, sizeof(full));
    full_len = strlen(full);
    for (size_t cap = 0; cap <= full_len + 2; cap++) {
        size_t r1, r2;

        memset(buf, 'X', sizeof(buf));
        r1 = rv_disas_line(pc, raw, avail, buf, cap);
        for (size_t i = cap; i < sizeof(buf); i++) {
            assert_int_equal(buf[i], 'X');
        }
        if (cap > 0) {
            size_t n = cap - 1 < full_len ? cap - 1 : full_len;

            assert_int_equal(strlen(buf), n);
            assert_memory_equal(buf, full, n);
        }
        memset(buf, 'X', sizeof(buf));
        r2 = rv_disas(pc, (uint32_t)raw, buf, cap);
        for (size_t i = cap; i < sizeof(buf); i++) {
            assert_int_equal(buf[i], 'X');
        }
        if (cap > 0) {
            size_t n =
                cap - 1 < full_len - TEXT_COL ? cap - 1 : full_len - TEXT_COL;

            assert_int_equal(strlen(buf), n);
            assert_memory_equal(buf, full + TEXT_COL, n);
        }
        assert_int_equal(r1, r2 ? r2 : 2);
    }
}

static void test_truncation(void **state)
{
    /* auipc with its "# 0x..." comment, a padded "ret", the widest
     * vsetvli, an illegal parcel, a 48-bit form. */
    check_truncation(0x1000, 0x00000297, 4);
    check_truncation(0x8000055a, 0x8082, 2);
    check_truncation(0xffffffffffffff00ull, 0xfe000ee3, 4);
    check_truncation(0, 0x7ffcf7d7, 4);
    check_truncation(0, 0x0000, 2);
    check_truncation(0, 0x1234561f, 6);
}

static void test_hex_column(void **state)
{
    char out[RV_DISAS_LINE_MAX + 1];

    assert_int_equal(rv_disas_line(0x1000, 0x00000297, 4, out, sizeof(out)), 4);
    assert_int_equal(
        strncmp(out, "0x0000000000001000:  00000297          ", TEXT_COL), 0);
    assert_int_equal(
        rv_disas_line(0x10, 0xabcd1234561full, 8, out, sizeof(out)), 6);
    assert_int_equal(
        strncmp(out, "0x0000000000000010:  abcd1234561f      ", TEXT_COL), 0);
    /* Only the parcels that could be read show, in the full width. */
    assert_int_equal(
        rv_disas_line(0x10, 0xabcd1234561full, 4, out, sizeof(out)), 6);
    assert_int_equal(
        strncmp(out, "0x0000000000000010:  00001234561f      ", TEXT_COL), 0);
    assert_int_equal(
        rv_disas_line(0x10, 0x1122334455667f3full, 8, out, sizeof(out)), 8);
    assert_int_equal(
        strncmp(out, "0x0000000000000010:  1122334455667f3f  ", TEXT_COL), 0);
    /* Lengthless: one parcel, 16 digits wide, and we move on by 2. */
    assert_int_equal(rv_disas_line(0x10, 0x1234007full, 4, out, sizeof(out)),
                     2);
    assert_string_equal(out, "0x0000000000000010:  000000000000007f  "
                             "illegal                 ");
}

/* A 32-bit instruction whose second parcel could not be read decodes, as
 * in QEMU, with that parcel zero. */
static void test_partial_read(void **state)
{
    char a[RV_DISAS_LINE_MAX + 1], b[RV_DISAS_LINE_MAX + 1];

    assert_int_equal(rv_disas_line(0x1000, 0x12345297, 2, a, sizeof(a)), 4);
    assert_int_equal(rv_disas_line(0x1000, 0x00005297, 4, b, sizeof(b)), 4);
    assert_string_equal(a, b);
    assert_int_equal(rv_disas_line(0x1000, 0x12345297, 4, b, sizeof(b)), 4);
    assert_string_not_equal(a, b);
}

static void test_branch_target_wraps(void **state)
{
    char text[RV_DISAS_TEXT_MAX + 1];

    /* beq zero,zero,-4 at 0: the comment shows pc + imm modulo 2^64. */
    rv_disas(0, 0xfe000ee3, text, sizeof(text));
    assert_string_equal(text, "beqz                    zero,-4          "
                              "       # 0xfffffffffffffffc");
}

static void test_every_parcel_fits(void **state)
{
    char text[RV_DISAS_TEXT_MAX + 2];

    for (uint32_t h = 0; h < 0x10000; h++) {
        text[RV_DISAS_TEXT_MAX + 1] = 'X';
        rv_disas(UINT64_MAX - h, h | (h << 16), text, sizeof(text));
        assert_true(strlen(text) < RV_DISAS_TEXT_MAX);
        assert_true(strlen(text) >= 24);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_compressed),
        cmocka_unit_test(test_golden_rv64),
        cmocka_unit_test(test_golden_csr),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_hex_column),
        cmocka_unit_test(test_partial_read),
        cmocka_unit_test(test_branch_target_wraps),
        cmocka_unit_test(test_every_parcel_fits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
