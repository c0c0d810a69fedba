/* SPDX-License-Identifier: MIT */
/*
 * emulator/dev-clint.c - SiFive CLINT (ACLINT MSWI + MTIMER) for one hart.
 * mtime is derived from virtual time (10 MHz), never from the host clock.
 */
#include "emulator/rv-int.h"

#include "common/bytes.h"

#define CLINT_MSIP     0x0
#define CLINT_MTIMECMP 0x4000
#define CLINT_MTIME    0xbff8
#define NS_PER_TICK    (1000000000u / RV_TIMEBASE_HZ)

void rv_dev_clint_init(struct rv_clint *c, const struct rv_dev_host *host)
{
    c->host = host;
    /* Power-on: mtimecmp 0, as QEMU 7.2 allocates it (g_new0), so MTIP is
     * pending from the first instruction, as `info registers` shows on
     * QEMU (mip 0x80). */
    c->mtimecmp = 0;
    c->mtime_delta = 0;
    rv_dev_clint_reset(c);
}

void rv_dev_clint_reset(struct rv_clint *c)
{
    /* The ACLINT spec (and QEMU 7.2's reset): MSIP and mtime cleared,
     * mtimecmp left as it is; MTIP follows. */
    c->msip = 0;
    c->mtime_delta = 0;
    c->mtime_delta = -(int64_t)rv_dev_clint_mtime(c);
    c->host->set_mip(c->host->opaque, RV_IRQ_MSIP, false);
    rv_dev_clint_update(c);
}

uint64_t rv_dev_clint_mtime(const struct rv_clint *c)
{
    uint64_t ticks = c->host->now_ns(c->host->opaque) / NS_PER_TICK;

    return ticks + (uint64_t)c->mtime_delta;
}

uint64_t rv_dev_clint_deadline_ns(const struct rv_clint *c)
{
    uint64_t target = c->mtimecmp - (uint64_t)c->mtime_delta;

    if (c->mtimecmp == UINT64_MAX) {
        return UINT64_MAX;
    }
    if (c->mtime_delta > 0 && c->mtimecmp < (uint64_t)c->mtime_delta) {
        return 0;
    }
    if (c->mtime_delta < 0 && target < c->mtimecmp) {
        return UINT64_MAX;
    }
    if (target > UINT64_MAX / NS_PER_TICK) {
        return UINT64_MAX;
    }
    return target * NS_PER_TICK;
}

void rv_dev_clint_update(struct rv_clint *c)
{
    bool level = rv_dev_clint_mtime(c) >= c->mtimecmp;

    c->host->set_mip(c->host->opaque, RV_IRQ_MTIP, level);
}

/* Read or merge a 32- or 64-bit access at byte @sub of a 64-bit register. */
static uint64_t reg64_read(uint64_t reg, unsigned sub, unsigned size_log2)
{
    if (size_log2 == 3) {
        return reg;
    }
    return (uint32_t)(reg >> (sub * 8));
}

static uint64_t reg64_write(uint64_t reg, unsigned sub, unsigned size_log2,
                            uint64_t val)
{
    uint64_t mask;

    if (size_log2 == 3) {
        return val;
    }
    mask = (uint64_t)UINT32_MAX << (sub * 8);
    return (reg & ~mask) | (((uint64_t)(uint32_t)val << (sub * 8)) & mask);
}

static bool access_ok(uint64_t off, unsigned size_log2)
{
    if (size_log2 < 2) {
        return false;
    }
    return (off & ((1u << size_log2) - 1)) == 0;
}

int rv_dev_clint_read(void *dev, uint64_t off, unsigned size_log2,
                      uint64_t *val)
{
    struct rv_clint *c = dev;

    if (!access_ok(off, size_log2)) {
        return -1;
    }
    if (off == CLINT_MSIP && size_log2 == 2) {
        *val = c->msip;
    } else if (off >= CLINT_MTIMECMP && off < CLINT_MTIMECMP + 8) {
        *val = reg64_read(c->mtimecmp, (unsigned)(off & 7), size_log2);
    } else if (off >= CLINT_MTIME && off < CLINT_MTIME + 8) {
        *val =
            reg64_read(rv_dev_clint_mtime(c), (unsigned)(off & 7), size_log2);
    } else {
        *val = 0;
    }
    return 0;
}

int rv_dev_clint_write(void *dev, uint64_t off, unsigned size_log2,
                       uint64_t val)
{
    struct rv_clint *c = dev;
    uint64_t now;

    if (!access_ok(off, size_log2)) {
        return -1;
    }
    if (off == CLINT_MSIP && size_log2 == 2) {
        c->msip = (uint32_t)val & 1;
        c->host->set_mip(c->host->opaque, RV_IRQ_MSIP, c->msip != 0);
    } else if (off >= CLINT_MTIMECMP && off < CLINT_MTIMECMP + 8) {
        c->mtimecmp =
            reg64_write(c->mtimecmp, (unsigned)(off & 7), size_log2, val);
        rv_dev_clint_update(c);
        c->host->kick(c->host->opaque);
    } else if (off >= CLINT_MTIME && off < CLINT_MTIME + 8) {
        now = rv_dev_clint_mtime(c);
        now = reg64_write(now, (unsigned)(off & 7), size_log2, val);
        c->mtime_delta =
            (int64_t)(now - (rv_dev_clint_mtime(c) - (uint64_t)c->mtime_delta));
        rv_dev_clint_update(c);
        c->host->kick(c->host->opaque);
    }
    return 0;
}

void rv_dev_clint_save(const struct rv_clint *c, uint8_t *dst)
{
    wr_le32(dst, c->msip);
    wr_le32(dst + 4, 0);
    wr_le64(dst + 8, c->mtimecmp);
    wr_le64(dst + 16, (uint64_t)c->mtime_delta);
}

void rv_dev_clint_load(struct rv_clint *c, const uint8_t *src)
{
    c->msip = rd_le32(src) & 1;
    c->mtimecmp = rd_le64(src + 8);
    c->mtime_delta = (int64_t)rd_le64(src + 16);
    c->host->set_mip(c->host->opaque, RV_IRQ_MSIP, c->msip != 0);
    rv_dev_clint_update(c);
}
