/* SPDX-License-Identifier: MIT */
/*
 * emulator/dev-test.c - the sifive_test finisher: a 16/32-bit write of 0x5555
 * powers off (exit 0), 0x3333 | code << 16 fails with exit code @code, and
 * 0x7777 resets. Other values are ignored, as in QEMU.
 */
#include "emulator/rv-int.h"

int rv_dev_test_read(void *dev, uint64_t off, unsigned size_log2, uint64_t *val)
{
    *val = 0;
    return 0;
}

int rv_dev_test_write(void *dev, uint64_t off, unsigned size_log2, uint64_t val)
{
    struct rv_test *t = dev;
    uint32_t v = (uint32_t)val;
    uint32_t code = v >> 16;

    /* QEMU accepts 16- and 32-bit writes; OpenSBI uses writew(). */
    if (off != 0 || size_log2 < 1 || size_log2 > 2) {
        return 0;
    }
    switch (v & 0xffff) {
    case RV_TEST_PASS:
        t->host->shutdown(t->host->opaque, false, 0);
        break;
    case RV_TEST_FAIL:
        t->host->shutdown(t->host->opaque, false, (int)code);
        break;
    case RV_TEST_RESET:
        t->host->shutdown(t->host->opaque, true, 0);
        break;
    default:
        if (t->host->log) {
            t->host->log(t->host->opaque, RV_LOG_GUEST_ERRORS,
                         "sifive_test: unknown command");
        }
        break;
    }
    return 0;
}
