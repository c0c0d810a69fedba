/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz-vmstate.c - the vmstate loader (emulator/vmstate.c) on
 * untrusted blobs: a hart with 64 KiB of RAM and every device of the virt
 * machine. A blob the loader accepts must re-save to itself and hash; any
 * crash, sanitizer report or abort is a bug. FUZZ_VMSTATE_SEED_DIR=DIR
 * writes the seed corpus (see corpus/fuzz-vmstate/).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/hash.h"
#include "emulator/rv-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_RAM_BASE 0x80000000ULL
#define FUZZ_RAM_SIZE (64u << 10)

struct fuzz_machine {
    struct rv_cpu *cpu;
    struct rv_dev_host host;
    struct rv_clint clint;
    struct rv_plic plic;
    struct rv_uart uart;
    struct rv_rtc rtc;
    struct rv_virtio virtio[RV_VIRTIO_SLOTS];
    struct rv_ram ram;
    uint64_t icount_base, idle_ns, rng[4];
    struct rv_vmstate_cache *cache;
    struct rv_vmstate_ctx ctx;
};

static void fz_set_irq(void *o, unsigned line, bool level)
{
    struct fuzz_machine *f = o;

    rv_dev_plic_set_irq(&f->plic, line, level);
}

static void fz_set_mip(void *o, unsigned irq, bool level)
{
    struct fuzz_machine *f = o;

    rv_cpu_set_irq(f->cpu, irq, level);
}

static uint64_t fz_now(void *o)
{
    struct fuzz_machine *f = o;

    return rv_cpu_icount(f->cpu) << 3;
}

static uint64_t fz_time(void *o)
{
    struct fuzz_machine *f = o;

    return rv_dev_clint_mtime(&f->clint);
}

static void fz_nop(void *o)
{
}

static int fz_input(void *o, uint8_t *b)
{
    return 0;
}

static void fz_output(void *o, const uint8_t *src, size_t len)
{
}

static void fz_entropy(void *o, uint8_t *dst, size_t len)
{
    memset(dst, 0x5a, len);
}

static uint8_t *fz_dma(void *o, uint64_t gpa, uint64_t len)
{
    struct fuzz_machine *f = o;

    if (gpa < FUZZ_RAM_BASE || gpa - FUZZ_RAM_BASE > FUZZ_RAM_SIZE ||
        len > FUZZ_RAM_SIZE - (gpa - FUZZ_RAM_BASE)) {
        return NULL;
    }
    return f->ram.host + (gpa - FUZZ_RAM_BASE);
}

static void fz_dma_written(void *o, uint64_t gpa, uint64_t len)
{
}

static void fz_shutdown(void *o, bool reset, int code)
{
}

static struct fuzz_machine *fuzz_machine(void)
{
    static struct fuzz_machine *f;
    struct rv_bus bus = {0};

    if (f) {
        return f;
    }
    f = mem_calloc(1, sizeof(*f));
    if (!f) {
        abort();
    }
    f->ram.base = FUZZ_RAM_BASE;
    f->ram.size = FUZZ_RAM_SIZE;
    f->ram.host = mem_calloc(1, FUZZ_RAM_SIZE);
    if (!f->ram.host) {
        abort();
    }
    bus.opaque = f;
    bus.regions[0] = (struct rv_mem_region){FUZZ_RAM_BASE, FUZZ_RAM_SIZE,
                                            f->ram.host, false};
    bus.nb_regions = 1;
    bus.get_time = fz_time;
    if (rv_cpu_new(&bus, &f->cpu) < 0) {
        abort();
    }
    f->host = (struct rv_dev_host){
        .opaque = f,
        .set_irq = fz_set_irq,
        .set_mip = fz_set_mip,
        .now_ns = fz_now,
        .kick = fz_nop,
        .input_byte = fz_input,
        .output = fz_output,
        .entropy = fz_entropy,
        .dma = fz_dma,
        .dma_written = fz_dma_written,
        .shutdown = fz_shutdown,
    };
    rv_dev_plic_init(&f->plic, &f->host);
    rv_dev_clint_init(&f->clint, &f->host);
    rv_dev_uart_init(&f->uart, &f->host, RV_UART_IRQ);
    rv_dev_rtc_init(&f->rtc, &f->host, RV_RTC_IRQ, RV_RTC_DEFAULT_BASE_NS);
    for (unsigned i = 0; i < RV_VIRTIO_SLOTS; i++) {
        rv_dev_virtio_init(&f->virtio[i], &f->host, RV_VIRTIO_IRQ + i,
                           i == 7 ? RV_VIRTIO_ID_RNG : 0, NULL);
    }
    f->ctx.cpu = f->cpu;
    f->ctx.mach.icount_base = &f->icount_base;
    f->ctx.mach.idle_ns = &f->idle_ns;
    f->ctx.mach.rng = f->rng;
    f->ctx.dev =
        (struct rv_devices){&f->clint, &f->plic, &f->uart, &f->rtc, f->virtio};
    f->ctx.ram = &f->ram;
    f->ctx.cache = &f->cache;
    f->ctx.icount_shift = 3;
    f->ctx.isa = "rv64imafdc_zicsr_zifencei";
    f->ctx.mmu_type = "riscv,sv48";
    rv_cpu_reset(f->cpu, FUZZ_RAM_BASE);
    return f;
}

/* Seeds: the reset state, and the state after a loop of loads and stores
 * that fills the data and fetch TLBs (M-mode with MPRV off maps 1:1). */
static void write_seed(const char *dir, const char *name,
                       struct fuzz_machine *f)
{
    char path[4096];
    uint8_t *blob;
    size_t len;
    FILE *o;

    if (rv_vmstate_save(&f->ctx, &blob, &len, NULL) < 0) {
        abort();
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    o = fopen(path, "wb");
    if (!o || fwrite(blob, 1, len, o) != len) {
        abort();
    }
    fclose(o);
    mem_free(blob);
}

static void write_seeds(const char *dir)
{
    static const uint32_t prog[] = {
        0x00000397, /* auipc t2, 0 */
        0x10a3b023, /* sd a0, 256(t2) */
        0x1003b503, /* ld a0, 256(t2) */
        0x00150513, /* addi a0, a0, 1 */
        0xff5ff06f, /* j -12 (the sd) */
    };
    struct fuzz_machine *f = fuzz_machine();

    write_seed(dir, "reset", f);
    for (size_t i = 0; i < sizeof(prog) / sizeof(prog[0]); i++) {
        wr_le32(f->ram.host + 4 * i, prog[i]);
    }
    rv_cpu_ram_written(f->cpu, FUZZ_RAM_BASE, sizeof(prog));
    rv_cpu_flush_caches(f->cpu);
    rv_cpu_run(f->cpu, 1000);
    f->idle_ns = 12345;
    f->rng[0] = 1;
    write_seed(dir, "running", f);
    rv_cpu_reset(f->cpu, FUZZ_RAM_BASE);
}

/* Recompute every checksum the input's own lengths reach, so mutations get
 * past the CRCs to the parsers behind them. */
static void fix_crcs(uint8_t *p, size_t size)
{
    uint32_t hlen;
    size_t off;

    if (size < RV_VMSTATE_HDR_LEN) {
        return;
    }
    hlen = rd_le32(p + 8);
    if (hlen < 4 || hlen > size) {
        return;
    }
    wr_le32(p + hlen - 4, hash_crc32c(0, p, hlen - 4));
    for (off = hlen; size - off >= 16;) {
        uint32_t len = rd_le32(p + off + 8);

        if (len > size - off - 16) {
            return;
        }
        wr_le32(p + off + 12,
                hash_crc32c(hash_crc32c(0, p + off, 12), p + off + 16, len));
        off += 16 + (size_t)len;
    }
}

static void try_load(struct fuzz_machine *f, const uint8_t *data, size_t size)
{
    uint8_t *a = NULL, *b = NULL;
    uint8_t h[RV_STATE_HASH_LEN];
    size_t alen, blen;

    if (rv_vmstate_load(&f->ctx, data, size, NULL) < 0) {
        return;
    }
    /* Accepted: it must round-trip and hash. */
    if (rv_vmstate_save(&f->ctx, &a, &alen, NULL) < 0 ||
        rv_vmstate_load(&f->ctx, a, alen, NULL) < 0 ||
        rv_vmstate_save(&f->ctx, &b, &blen, NULL) < 0 || alen != blen ||
        memcmp(a, b, alen) != 0 || rv_vmstate_hash(&f->ctx, h, NULL) < 0) {
        abort();
    }
    rv_cpu_run(f->cpu, 100);
    mem_free(a);
    mem_free(b);
    rv_cpu_reset(f->cpu, FUZZ_RAM_BASE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_machine *f = fuzz_machine();
    static bool seeded;
    uint8_t *fixed;

    if (!seeded) {
        const char *dir = getenv("FUZZ_VMSTATE_SEED_DIR");

        seeded = true;
        if (dir) {
            write_seeds(dir);
        }
    }
    if (size > (1u << 20)) {
        return 0;
    }
    try_load(f, data, size);
    fixed = mem_alloc(size ? size : 1);
    if (!fixed) {
        return 0;
    }
    memcpy(fixed, data, size);
    fix_crcs(fixed, size);
    try_load(f, fixed, size);
    mem_free(fixed);
    return 0;
}
