/* SPDX-License-Identifier: MIT */
/*
 * emulator/dev-plic.c - SiFive PLIC as QEMU 7.2's virt has it: 96 sources,
 * 3 priority bits, contexts 0 (M, drives MEIP) and 1 (S, drives SEIP).
 * Sources are level-triggered: a claimed source re-pends on complete while
 * its line is still high.
 */
#include "emulator/rv-int.h"

#include "common/bytes.h"

#define PLIC_PENDING        0x1000
#define PLIC_ENABLE         0x2000
#define PLIC_ENABLE_STRIDE  0x80
#define PLIC_CONTEXT        0x200000
#define PLIC_CONTEXT_STRIDE 0x1000

static bool bit_get(const uint32_t *w, unsigned i)
{
    return (w[i / 32] >> (i % 32)) & 1;
}

static void bit_set(uint32_t *w, unsigned i, bool v)
{
    if (v) {
        w[i / 32] |= 1u << (i % 32);
    } else {
        w[i / 32] &= ~(1u << (i % 32));
    }
}

/* Highest-priority deliverable source for context @ctx, or 0. */
static unsigned best_source(const struct rv_plic *p, unsigned ctx)
{
    unsigned best = 0;
    uint32_t best_prio = 0;

    for (unsigned i = 1; i < RV_PLIC_SOURCES; i++) {
        if (!bit_get(p->pending, i) || bit_get(p->claimed, i) ||
            !bit_get(p->enable[ctx], i)) {
            continue;
        }
        if (p->prio[i] > best_prio) {
            best_prio = p->prio[i];
            best = i;
        }
    }
    if (best_prio <= p->threshold[ctx]) {
        return 0;
    }
    return best;
}

static void plic_update(struct rv_plic *p)
{
    p->host->set_mip(p->host->opaque, RV_IRQ_MEIP, best_source(p, 0) != 0);
    p->host->set_mip(p->host->opaque, RV_IRQ_SEIP, best_source(p, 1) != 0);
}

void rv_dev_plic_init(struct rv_plic *p, const struct rv_dev_host *host)
{
    p->host = host;
    for (unsigned i = 0; i < RV_PLIC_SOURCES; i++) {
        p->raised[i] = 0;
    }
    for (unsigned i = 0; i < RV_PLIC_WORDS; i++) {
        p->level[i] = 0;
    }
    rv_dev_plic_reset(p);
}

void rv_dev_plic_reset(struct rv_plic *p)
{
    for (unsigned i = 0; i < RV_PLIC_SOURCES; i++) {
        p->prio[i] = 0;
    }
    for (unsigned i = 0; i < RV_PLIC_WORDS; i++) {
        p->pending[i] = p->level[i];
        p->claimed[i] = 0;
        for (unsigned c = 0; c < RV_PLIC_CONTEXTS; c++) {
            p->enable[c][i] = 0;
        }
    }
    for (unsigned c = 0; c < RV_PLIC_CONTEXTS; c++) {
        p->threshold[c] = 0;
    }
    plic_update(p);
}

void rv_dev_plic_set_irq(struct rv_plic *p, unsigned src, bool level)
{
    if (src == 0 || src >= RV_PLIC_SOURCES) {
        return;
    }
    if (level && !bit_get(p->level, src)) {
        p->raised[src]++;
    }
    bit_set(p->level, src, level);
    bit_set(p->pending, src, level);
    plic_update(p);
}

int rv_dev_plic_read(void *dev, uint64_t off, unsigned size_log2, uint64_t *val)
{
    struct rv_plic *p = dev;
    uint64_t ctx;
    unsigned src;

    if (size_log2 != 2 || (off & 3)) {
        return -1;
    }
    *val = 0;
    if (off < 4 * RV_PLIC_SOURCES) {
        *val = p->prio[off / 4];
    } else if (off >= PLIC_PENDING && off < PLIC_PENDING + 4 * RV_PLIC_WORDS) {
        *val = p->pending[(off - PLIC_PENDING) / 4];
    } else if (off >= PLIC_ENABLE &&
               off < PLIC_ENABLE + PLIC_ENABLE_STRIDE * RV_PLIC_CONTEXTS) {
        ctx = (off - PLIC_ENABLE) / PLIC_ENABLE_STRIDE;
        off = (off - PLIC_ENABLE) % PLIC_ENABLE_STRIDE;
        if (off < 4 * RV_PLIC_WORDS) {
            *val = p->enable[ctx][off / 4];
        }
    } else if (off >= PLIC_CONTEXT &&
               off < PLIC_CONTEXT + PLIC_CONTEXT_STRIDE * RV_PLIC_CONTEXTS) {
        ctx = (off - PLIC_CONTEXT) / PLIC_CONTEXT_STRIDE;
        off = (off - PLIC_CONTEXT) % PLIC_CONTEXT_STRIDE;
        if (off == 0) {
            *val = p->threshold[ctx];
        } else if (off == 4) {
            src = best_source(p, (unsigned)ctx);
            if (src) {
                bit_set(p->pending, src, false);
                bit_set(p->claimed, src, true);
                plic_update(p);
            }
            *val = src;
        }
    }
    return 0;
}

int rv_dev_plic_write(void *dev, uint64_t off, unsigned size_log2, uint64_t val)
{
    struct rv_plic *p = dev;
    uint32_t v = (uint32_t)val;
    uint64_t ctx;

    if (size_log2 != 2 || (off & 3)) {
        return -1;
    }
    if (off < 4 * RV_PLIC_SOURCES) {
        if (off != 0) {
            p->prio[off / 4] = v & RV_PLIC_PRIO_MASK;
        }
    } else if (off >= PLIC_ENABLE &&
               off < PLIC_ENABLE + PLIC_ENABLE_STRIDE * RV_PLIC_CONTEXTS) {
        ctx = (off - PLIC_ENABLE) / PLIC_ENABLE_STRIDE;
        off = (off - PLIC_ENABLE) % PLIC_ENABLE_STRIDE;
        if (off < 4 * RV_PLIC_WORDS) {
            if (off == 0) {
                v &= ~1u;
            }
            if (off / 4 == RV_PLIC_WORDS - 1) {
                v &= (1u << (RV_PLIC_SOURCES % 32)) - 1;
            }
            p->enable[ctx][off / 4] = v;
        }
    } else if (off >= PLIC_CONTEXT &&
               off < PLIC_CONTEXT + PLIC_CONTEXT_STRIDE * RV_PLIC_CONTEXTS) {
        ctx = (off - PLIC_CONTEXT) / PLIC_CONTEXT_STRIDE;
        off = (off - PLIC_CONTEXT) % PLIC_CONTEXT_STRIDE;
        if (off == 0) {
            p->threshold[ctx] = v & RV_PLIC_PRIO_MASK;
        } else if (off == 4) {
            if (v > 0 && v < RV_PLIC_SOURCES && bit_get(p->claimed, v)) {
                bit_set(p->claimed, v, false);
                if (bit_get(p->level, v)) {
                    bit_set(p->pending, v, true);
                }
            }
        }
    }
    plic_update(p);
    return 0;
}

void rv_dev_plic_save(const struct rv_plic *p, uint8_t *dst)
{
    for (unsigned i = 0; i < RV_PLIC_SOURCES; i++) {
        wr_le32(dst, p->prio[i]);
        dst += 4;
    }
    for (unsigned i = 0; i < RV_PLIC_WORDS; i++) {
        wr_le32(dst, p->pending[i]);
        wr_le32(dst + 4, p->claimed[i]);
        wr_le32(dst + 8, p->level[i]);
        dst += 12;
    }
    for (unsigned c = 0; c < RV_PLIC_CONTEXTS; c++) {
        for (unsigned i = 0; i < RV_PLIC_WORDS; i++) {
            wr_le32(dst, p->enable[c][i]);
            dst += 4;
        }
        wr_le32(dst, p->threshold[c]);
        dst += 4;
    }
}

/* Restores pending, claimed and level exactly: load the PLIC after every
 * device that drives a line (their loads re-drive them, which re-pends
 * claimed sources). */
void rv_dev_plic_load(struct rv_plic *p, const uint8_t *src)
{
    for (unsigned i = 0; i < RV_PLIC_SOURCES; i++) {
        p->prio[i] = i ? rd_le32(src) & RV_PLIC_PRIO_MASK : 0;
        src += 4;
    }
    for (unsigned i = 0; i < RV_PLIC_WORDS; i++) {
        p->pending[i] = rd_le32(src);
        p->claimed[i] = rd_le32(src + 4);
        p->level[i] = rd_le32(src + 8);
        src += 12;
    }
    for (unsigned c = 0; c < RV_PLIC_CONTEXTS; c++) {
        for (unsigned i = 0; i < RV_PLIC_WORDS; i++) {
            p->enable[c][i] = rd_le32(src);
            src += 4;
        }
        p->threshold[c] = rd_le32(src) & RV_PLIC_PRIO_MASK;
        src += 4;
    }
    plic_update(p);
}
