/* SPDX-License-Identifier: MIT */
/*
 * emulator/dev-rtc.c - goldfish RTC. Time of day is base_ns + virtual time
 * (+ what the guest set), so it is a function of the instruction count.
 * Reading TIME_LOW latches TIME_HIGH, as the Linux driver expects.
 */
#include "emulator/rv-int.h"

#include "common/bytes.h"

enum {
    RTC_TIME_LOW = 0x00,
    RTC_TIME_HIGH = 0x04,
    RTC_ALARM_LOW = 0x08,
    RTC_ALARM_HIGH = 0x0c,
    RTC_IRQ_ENABLED = 0x10,
    RTC_CLEAR_ALARM = 0x14,
    RTC_ALARM_STATUS = 0x18,
    RTC_CLEAR_INTERRUPT = 0x1c,
};

static uint64_t rtc_now(const struct rv_rtc *r)
{
    return r->base_ns + (uint64_t)r->delta_ns +
           r->host->now_ns(r->host->opaque);
}

static void rtc_update_irq(struct rv_rtc *r)
{
    r->host->set_irq(r->host->opaque, r->irq, r->irq_pending && r->irq_enabled);
}

void rv_dev_rtc_init(struct rv_rtc *r, const struct rv_dev_host *host,
                     unsigned irq, uint64_t base_ns)
{
    r->host = host;
    r->irq = irq;
    r->base_ns = base_ns;
    r->delta_ns = 0;
    rv_dev_rtc_reset(r);
}

void rv_dev_rtc_reset(struct rv_rtc *r)
{
    r->alarm_ns = 0;
    r->time_high = 0;
    r->irq_enabled = 0;
    r->alarm_running = 0;
    r->irq_pending = 0;
    rtc_update_irq(r);
}

uint64_t rv_dev_rtc_deadline_ns(const struct rv_rtc *r)
{
    uint64_t now = rtc_now(r);
    uint64_t vnow = r->host->now_ns(r->host->opaque);

    if (!r->alarm_running) {
        return UINT64_MAX;
    }
    if (r->alarm_ns <= now) {
        return vnow;
    }
    return vnow + (r->alarm_ns - now);
}

void rv_dev_rtc_update(struct rv_rtc *r)
{
    if (r->alarm_running && rtc_now(r) >= r->alarm_ns) {
        r->alarm_running = 0;
        r->irq_pending = 1;
        rtc_update_irq(r);
    }
}

int rv_dev_rtc_read(void *dev, uint64_t off, unsigned size_log2, uint64_t *val)
{
    struct rv_rtc *r = dev;
    uint64_t now;

    if (size_log2 != 2) {
        return -1;
    }
    *val = 0;
    switch (off) {
    case RTC_TIME_LOW:
        now = rtc_now(r);
        r->time_high = (uint32_t)(now >> 32);
        *val = (uint32_t)now;
        break;
    case RTC_TIME_HIGH:
        *val = r->time_high;
        break;
    case RTC_ALARM_LOW:
        *val = (uint32_t)r->alarm_ns;
        break;
    case RTC_ALARM_HIGH:
        *val = (uint32_t)(r->alarm_ns >> 32);
        break;
    case RTC_IRQ_ENABLED:
        *val = r->irq_enabled;
        break;
    case RTC_ALARM_STATUS:
        *val = r->alarm_running;
        break;
    default:
        break;
    }
    return 0;
}

int rv_dev_rtc_write(void *dev, uint64_t off, unsigned size_log2, uint64_t val)
{
    struct rv_rtc *r = dev;
    uint32_t v = (uint32_t)val;
    uint64_t now, set;

    if (size_log2 != 2) {
        return -1;
    }
    switch (off) {
    case RTC_TIME_LOW:
        now = rtc_now(r);
        set = (now & 0xffffffff00000000ull) | v;
        r->delta_ns += (int64_t)(set - now);
        break;
    case RTC_TIME_HIGH:
        now = rtc_now(r);
        set = ((uint64_t)v << 32) | (now & 0xffffffffull);
        r->delta_ns += (int64_t)(set - now);
        break;
    case RTC_ALARM_LOW:
        r->alarm_ns = (r->alarm_ns & 0xffffffff00000000ull) | v;
        r->alarm_running = 1;
        rv_dev_rtc_update(r);
        r->host->kick(r->host->opaque);
        break;
    case RTC_ALARM_HIGH:
        r->alarm_ns = ((uint64_t)v << 32) | (r->alarm_ns & 0xffffffffull);
        break;
    case RTC_IRQ_ENABLED:
        r->irq_enabled = v & 1;
        rtc_update_irq(r);
        break;
    case RTC_CLEAR_ALARM:
        r->alarm_running = 0;
        break;
    case RTC_CLEAR_INTERRUPT:
        r->irq_pending = 0;
        rtc_update_irq(r);
        break;
    default:
        break;
    }
    return 0;
}

void rv_dev_rtc_save(const struct rv_rtc *r, uint8_t *dst)
{
    wr_le64(dst, r->base_ns);
    wr_le64(dst + 8, (uint64_t)r->delta_ns);
    wr_le64(dst + 16, r->alarm_ns);
    wr_le32(dst + 24, r->time_high);
    wr_le32(dst + 28, r->irq_enabled);
    wr_le32(dst + 32, r->alarm_running);
    wr_le32(dst + 36, r->irq_pending);
}

void rv_dev_rtc_load(struct rv_rtc *r, const uint8_t *src)
{
    r->base_ns = rd_le64(src);
    r->delta_ns = (int64_t)rd_le64(src + 8);
    r->alarm_ns = rd_le64(src + 16);
    r->time_high = rd_le32(src + 24);
    r->irq_enabled = rd_le32(src + 28) & 1;
    r->alarm_running = rd_le32(src + 32) & 1;
    r->irq_pending = rd_le32(src + 36) & 1;
    rtc_update_irq(r);
}
