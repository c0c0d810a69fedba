/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv-int.h - internals shared by the emulator's files, grouped by
 * the file that defines them. The CPU (rv-*.c) sees physical memory only
 * through struct rv_bus; the machine (machine-virt.c, dev-*.c) drives the
 * CPU only through the rv_cpu_* functions below.
 */
#ifndef EMULATOR_RV_INT_H
#define EMULATOR_RV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* ---- CPU <-> machine contract ---- */

/* Interrupt-pending bits the machine drives (mip bit numbers). */
#define RV_IRQ_SSIP 1
#define RV_IRQ_MSIP 3
#define RV_IRQ_STIP 5
#define RV_IRQ_MTIP 7
#define RV_IRQ_SEIP 9
#define RV_IRQ_MEIP 11

/* A range of host memory the CPU may access directly (RAM, ROM). */
struct rv_mem_region {
    uint64_t base;     /* guest physical address */
    uint64_t size;     /* bytes */
    uint8_t *host;     /* host pointer to the first byte */
    bool read_only;    /* stores raise an access fault */
};

#define RV_BUS_MAX_REGIONS 4

/*
 * Physical memory as the CPU sees it. Accesses inside a region go straight
 * to host memory; everything else goes through read/write (MMIO), which
 * return 0, or -1 for an access fault. @size_log2 is 0..3. Device callbacks
 * may call rv_cpu_set_irq() and rv_cpu_request_exit().
 */
struct rv_bus {
    void *opaque;
    struct rv_mem_region regions[RV_BUS_MAX_REGIONS];
    unsigned nb_regions;
    int (*read)(void *opaque, uint64_t paddr, unsigned size_log2,
                uint64_t *val);
    int (*write)(void *opaque, uint64_t paddr, unsigned size_log2,
                 uint64_t val);
    /* The `time` CSR / CLINT mtime (ticks), derived from the icount. */
    uint64_t (*get_time)(void *opaque);
};

/* ---- rv-cpu.c (the hart) ---- */

struct rv_cpu; /* opaque hart state */

/* Why rv_cpu_run() returned. */
enum rv_stop {
    RV_STOP_BUDGET = 0, /* executed the whole budget */
    RV_STOP_WFI,        /* waiting for an interrupt; no instruction pending */
    RV_STOP_EXIT,       /* rv_cpu_request_exit() was called (e.g. by a device) */
    RV_STOP_TRAP_LOOP,  /* trap handler faulted at the same PC, nothing retired */
};

/* @bus is copied. Returns 0 or -ENOMEM. */
int rv_cpu_new(const struct rv_bus *bus, struct rv_cpu **out);
void rv_cpu_free(struct rv_cpu *cpu); /* accepts NULL */
/* Reset to M-mode at @pc with all registers zero except as the spec says. */
void rv_cpu_reset(struct rv_cpu *cpu, uint64_t pc);
void rv_cpu_set_xreg(struct rv_cpu *cpu, unsigned reg, uint64_t val);
uint64_t rv_cpu_get_xreg(const struct rv_cpu *cpu, unsigned reg);
uint64_t rv_cpu_get_pc(const struct rv_cpu *cpu);
/*
 * Execute at most @budget instructions (exactly @budget unless it stops
 * early). Interrupts are taken at instruction boundaries.
 */
enum rv_stop rv_cpu_run(struct rv_cpu *cpu, uint64_t budget);
/* Instructions retired since reset (exact at every instruction). */
uint64_t rv_cpu_icount(const struct rv_cpu *cpu);
/* Set or clear mip bit @irq (RV_IRQ_*) as driven by a device line. */
void rv_cpu_set_irq(struct rv_cpu *cpu, unsigned irq, bool level);
/* Make the current rv_cpu_run() return RV_STOP_EXIT after the current
 * instruction. */
void rv_cpu_request_exit(struct rv_cpu *cpu);
/* Drop cached translations/decodes of guest memory after a host-side write
 * to RAM (loader, DMA, snapshot load). */
void rv_cpu_flush_caches(struct rv_cpu *cpu);
/* Serialised hart state for snapshots and hashing: returns bytes written,
 * or the size needed when @dst is NULL. */
size_t rv_cpu_save(const struct rv_cpu *cpu, uint8_t *dst, size_t dst_cap);
/* Returns 0, or -EBADMSG on a malformed blob. */
int rv_cpu_load(struct rv_cpu *cpu, const uint8_t *src, size_t src_len);

#endif /* EMULATOR_RV_INT_H */
