/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz-rv-decode.c - the untrusted-guest path of the hart: the
 * input is a guest program (raw instructions in 64 KiB of RAM at
 * 0x80000000), run for a bounded number of instructions in every
 * privilege mode, with mtvec/stvec pointing into the same bytes and a bus
 * that faults outside RAM except a scratch MMIO word. Also loads the input
 * as a snapshot blob. Any crash, hang or sanitizer report is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/rv-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_RAM_BASE 0x80000000ULL
#define FUZZ_RAM_SIZE (64u << 10)
#define FUZZ_MMIO     0x10000000ULL
/* Instructions per run: enough for loops and traps, small enough to stay
 * fast. */
#define FUZZ_BUDGET 20000

struct fuzz_bus {
    uint64_t word;
    uint64_t time;
};

static int fz_read(void *opaque, uint64_t pa, unsigned size_log2, uint64_t *val)
{
    struct fuzz_bus *b = opaque;

    if (pa >= FUZZ_MMIO && pa < FUZZ_MMIO + 8) {
        *val = b->word;
        return 0;
    }
    return -1;
}

static int fz_write(void *opaque, uint64_t pa, unsigned size_log2, uint64_t val)
{
    struct fuzz_bus *b = opaque;

    if (pa >= FUZZ_MMIO && pa < FUZZ_MMIO + 8) {
        b->word = val;
        return 0;
    }
    return -1;
}

static uint64_t fz_time(void *opaque)
{
    struct fuzz_bus *b = opaque;

    return b->time++;
}

/*
 * Boot ROM at 0x1000: mtvec = stvec = mepc = RAM, MPP = a0 >> 11,
 * medeleg = a1, mideleg = a2, PMP allows all, satp = a3, mie = a4,
 * mstatus |= a5, then mret into the program.
 */
static const uint32_t fuzz_rom[] = {
    0x00100293, /* li t0, 1 */
    0x01f29293, /* slli t0, t0, 31 */
    0x30529073, /* csrw mtvec, t0 */
    0x10529073, /* csrw stvec, t0 */
    0x34129073, /* csrw mepc, t0 */
    0x00002337, /* lui t1, 0x2 */
    0x8003031b, /* addiw t1, t1, -2048 */
    0x30033073, /* csrc mstatus, t1 */
    0x30052073, /* csrs mstatus, a0 */
    0x30259073, /* csrw medeleg, a1 */
    0x30361073, /* csrw mideleg, a2 */
    0x01f00393, /* li t2, 31 */
    0x3a039073, /* csrw pmpcfg0, t2 */
    0xfff00393, /* li t2, -1 */
    0x3b039073, /* csrw pmpaddr0, t2 */
    0x18069073, /* csrw satp, a3 */
    0x30471073, /* csrw mie, a4 */
    0x3007a073, /* csrs mstatus, a5 */
    0x30200073, /* mret */
};

static uint64_t input_word(const uint8_t *data, size_t size, unsigned i)
{
    uint64_t v = 0;

    if (size >= 8 * ((size_t)i + 1)) {
        memcpy(&v, data + 8 * (size_t)i, 8);
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t modes[] = {3, 1, 0};
    struct fuzz_bus fb = {0};
    struct rv_bus bus = {0};
    struct rv_cpu *cpu = NULL;
    uint8_t *ram = calloc(1, FUZZ_RAM_SIZE);
    uint8_t rom[0x1000] = {0};

    if (!ram) {
        return 0;
    }
    memcpy(ram, data, size < FUZZ_RAM_SIZE ? size : FUZZ_RAM_SIZE);
    memcpy(rom, fuzz_rom, sizeof(fuzz_rom));
    bus.opaque = &fb;
    bus.regions[0].base = FUZZ_RAM_BASE;
    bus.regions[0].size = FUZZ_RAM_SIZE;
    bus.regions[0].host = ram;
    bus.regions[1].base = 0x1000;
    bus.regions[1].size = sizeof(rom);
    bus.regions[1].host = rom;
    bus.regions[1].read_only = true;
    bus.nb_regions = 2;
    bus.read = fz_read;
    bus.write = fz_write;
    bus.get_time = fz_time;
    if (rv_cpu_new(&bus, &cpu) < 0) {
        free(ram);
        return 0;
    }
    (void)rv_cpu_load(cpu, data, size);
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        rv_cpu_reset(cpu, 0x1000);
        /* Odd registers point into RAM, even ones are raw input words. */
        for (unsigned r = 1; r < 32; r++) {
            uint64_t v = input_word(data, size, r);

            rv_cpu_set_xreg(cpu, r, r & 1 ? FUZZ_RAM_BASE + (v & 0xfff8) : v);
        }
        rv_cpu_set_xreg(cpu, 10, modes[m] << 11);
        rv_cpu_set_xreg(cpu, 11, input_word(data, size, 1));
        rv_cpu_set_xreg(cpu, 12, input_word(data, size, 2));
        rv_cpu_set_xreg(cpu, 13, input_word(data, size, 3));
        rv_cpu_set_xreg(cpu, 14, input_word(data, size, 4));
        rv_cpu_set_xreg(cpu, 15, input_word(data, size, 5) & 0x7e19aa);
        (void)rv_cpu_run(cpu, FUZZ_BUDGET / 2);
        rv_cpu_set_irq(cpu, RV_IRQ_MTIP, true);
        rv_cpu_set_irq(cpu, RV_IRQ_SEIP, true);
        (void)rv_cpu_run(cpu, FUZZ_BUDGET / 2);
        rv_cpu_set_irq(cpu, RV_IRQ_MTIP, false);
        rv_cpu_set_irq(cpu, RV_IRQ_SEIP, false);
        {
            uint8_t blob[4096];
            size_t n = rv_cpu_save(cpu, blob, sizeof(blob));

            if (n == 0 || rv_cpu_load(cpu, blob, n) != 0) {
                abort();
            }
        }
    }
    rv_cpu_free(cpu);
    free(ram);
    return 0;
}
