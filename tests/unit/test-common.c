/* SPDX-License-Identifier: MIT */
/* tests/unit/test-common.c - err, bytes, alloc and hash helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/fmt.h"
#include "common/hash.h"

static void test_err_set_prefix(void **state)
{
    struct err e = {0};

    assert_int_equal(err_set(&e, -EIO, "read %d bytes", 7), -EIO);
    assert_int_equal(e.code, -EIO);
    assert_string_equal(e.msg, "read 7 bytes");
    err_prefix(&e, "L1 table");
    assert_string_equal(e.msg, "L1 table: read 7 bytes");
    assert_int_equal(err_set(NULL, -EINVAL, "ignored"), -EINVAL);
    err_clear(&e);
    assert_int_equal(e.code, 0);
}

static void test_bytes_roundtrip(void **state)
{
    uint8_t b[8];

    wr_be64(b, 0x0102030405060708ull);
    assert_int_equal(b[0], 1);
    assert_int_equal(b[7], 8);
    assert_true(rd_be64(b) == 0x0102030405060708ull);
    wr_le32(b, 0xa1b2c3d4u);
    assert_int_equal(b[0], 0xd4);
    assert_int_equal(rd_le32(b), 0xa1b2c3d4u);
    wr_be16(b, 0xbeef);
    assert_int_equal(rd_be16(b), 0xbeef);
    wr_le64(b, 0x1122334455667788ull);
    assert_true(rd_le64(b) == 0x1122334455667788ull);
}

static void test_alloc_failure_injection(void **state)
{
    void *p;

    mem_fail_after(1, 0);
    p = mem_alloc(16);
    assert_non_null(p);
    mem_free(p);
    assert_null(mem_alloc(16));
    p = mem_alloc(16);
    assert_non_null(p);
    mem_free(p);
    mem_free(NULL);
    mem_fail_after(-1, 0);
}

static void test_crc32c_known_value(void **state)
{
    /* RFC 3720 B.4 check value for "123456789". */
    assert_int_equal(hash_crc32c(0, "123456789", 9), 0xe3069283u);
    uint32_t c = hash_crc32c(0, "1234", 4);
    assert_int_equal(hash_crc32c(c, "56789", 5), 0xe3069283u);
}

/* Bit-at-a-time CRC32C, the definition the fast paths must match. */
static uint32_t crc32c_ref(const uint8_t *p, size_t len)
{
    uint32_t crc = ~0u;

    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
        }
    }
    return ~crc;
}

static void test_crc32c_long_unaligned(void **state)
{
    static uint8_t buf[9000];

    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)(i * 131 + (i >> 7));
    }
    for (size_t off = 0; off < 9; off++) {
        size_t len = sizeof(buf) - 16 + off;

        assert_int_equal(hash_crc32c(0, buf + off, len),
                         crc32c_ref(buf + off, len));
        assert_int_equal(hash_crc32c(hash_crc32c(0, buf + off, 4099),
                                     buf + off + 4099, len - 4099),
                         crc32c_ref(buf + off, len));
    }
}

static void test_sha256_known_value(void **state)
{
    uint8_t d[HASH_SHA256_LEN];
    char hex[2 * HASH_SHA256_LEN + 1];
    struct hash_sha256 *h;

    hash_sha256("abc", 3, d);
    hash_hex(d, sizeof(d), hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(hash_sha256_new(&h), 0);
    hash_sha256_update(h, "a", 1);
    hash_sha256_update(h, "bc", 2);
    hash_sha256_final(h, d);
    hash_hex(d, sizeof(d), hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
}

static void test_fmt_size_as_qemu(void **state)
{
    static const struct {
        uint64_t val;
        const char *want;
    } cases[] = {
        {0, "0 B"},
        {999, "999 B"},
        {1000, "0.977 KiB"},
        {1024, "1 KiB"},
        {200704, "196 KiB"},
        {1023990, "1e+03 KiB"}, /* QEMU's rounding, kept */
        {1048576, "1 MiB"},
        {32ull << 20, "32 MiB"},
        {UINT64_MAX, "16 EiB"},
    };
    char buf[FMT_SIZE_LEN];
    char small[4];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fmt_size(buf, sizeof(buf), cases[i].val);
        assert_string_equal(buf, cases[i].want);
    }
    fmt_size(small, sizeof(small), 1048576);
    assert_string_equal(small, "1 M");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_set_prefix),
        cmocka_unit_test(test_bytes_roundtrip),
        cmocka_unit_test(test_alloc_failure_injection),
        cmocka_unit_test(test_crc32c_known_value),
        cmocka_unit_test(test_crc32c_long_unaligned),
        cmocka_unit_test(test_sha256_known_value),
        cmocka_unit_test(test_fmt_size_as_qemu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
