/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-rv-isa.c - runs the ISA test programs (tests/isa/NAME.S,
 * built at test time) on the hart with a minimal bus: RAM, the ns16550 THR
 * and LSR, the sifive_test finisher and a CLINT (msip, mtimecmp, mtime).
 * Compares each program's UART output with its golden file, made on QEMU
 * (tests/data/isa/README). Also checks the rv_cpu_* contract: exact budget,
 * save/load, WFI, trap loop detection.
 *
 *   test-rv-isa                     cmocka suite (RV_ISA_ELF_DIR,
 * RV_ISA_GOLDEN_DIR) test-rv-isa --run prog.elf      print the UART output;
 * exit status is 0 pass, the failure code, or 125
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "emulator/rv-int.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE (16ULL << 20)
/* Largest ELF accepted: the whole RAM. */
#define ELF_MAX_BYTES RAM_SIZE
/* Instruction budget for one program. */
#define RUN_MAX_INSNS (400ULL * 1000 * 1000)
#define OUT_MAX       (1u << 20)

#define UART_BASE  0x10000000ULL
#define TEST_BASE  0x100000ULL
#define CLINT_BASE 0x2000000ULL

struct harness {
    uint8_t *ram;
    struct rv_cpu *cpu;
    char *out;
    size_t out_len;
    bool done;
    int code;
    uint32_t msip;
    uint64_t mtimecmp;
};

static uint64_t h_time(void *opaque)
{
    struct harness *h = opaque;

    return rv_cpu_icount(h->cpu);
}

static void h_update_timer(struct harness *h)
{
    rv_cpu_set_irq(h->cpu, RV_IRQ_MTIP, h_time(h) >= h->mtimecmp);
}

static int h_read(void *opaque, uint64_t pa, unsigned size_log2, uint64_t *val)
{
    struct harness *h = opaque;

    if (pa >= UART_BASE && pa < UART_BASE + 8) {
        *val = pa == UART_BASE + 5 ? 0x60 : 0;
        return 0;
    }
    if (pa >= TEST_BASE && pa < TEST_BASE + 0x1000) {
        *val = 0;
        return 0;
    }
    if (pa == CLINT_BASE) {
        *val = h->msip;
        return 0;
    }
    if (pa == CLINT_BASE + 0x4000) {
        *val = h->mtimecmp;
        return 0;
    }
    if (pa == CLINT_BASE + 0xbff8) {
        *val = h_time(h);
        return 0;
    }
    return -1;
}

static int h_write(void *opaque, uint64_t pa, unsigned size_log2, uint64_t val)
{
    struct harness *h = opaque;

    if (pa == UART_BASE) {
        if (h->out_len + 1 < OUT_MAX) {
            h->out[h->out_len++] = (char)val;
            h->out[h->out_len] = 0;
        }
        return 0;
    }
    if (pa > UART_BASE && pa < UART_BASE + 8) {
        return 0;
    }
    if (pa == TEST_BASE) {
        if ((val & 0xffff) == 0x5555) {
            h->done = true;
            h->code = 0;
        } else if ((val & 0xffff) == 0x3333) {
            h->done = true;
            h->code = (int)((val >> 16) & 0xffff);
        }
        rv_cpu_request_exit(h->cpu);
        return 0;
    }
    if (pa == CLINT_BASE) {
        h->msip = val & 1;
        rv_cpu_set_irq(h->cpu, RV_IRQ_MSIP, h->msip);
        return 0;
    }
    if (pa == CLINT_BASE + 0x4000) {
        h->mtimecmp = val;
        h_update_timer(h);
        return 0;
    }
    return -1;
}

static int h_init(struct harness *h)
{
    struct rv_bus bus = {0};

    memset(h, 0, sizeof(*h));
    h->ram = mem_calloc(1, RAM_SIZE);
    h->out = mem_calloc(1, OUT_MAX);
    h->mtimecmp = UINT64_MAX;
    if (!h->ram || !h->out) {
        return -ENOMEM;
    }
    bus.opaque = h;
    bus.regions[0].base = RAM_BASE;
    bus.regions[0].size = RAM_SIZE;
    bus.regions[0].host = h->ram;
    bus.nb_regions = 1;
    bus.read = h_read;
    bus.write = h_write;
    bus.get_time = h_time;
    return rv_cpu_new(&bus, &h->cpu);
}

static void h_fini(struct harness *h)
{
    rv_cpu_free(h->cpu);
    mem_free(h->ram);
    mem_free(h->out);
}

/* Load an ELF64 RISC-V executable into RAM. Returns 0 or -errno. */
static int h_load_elf(struct harness *h, const char *path, uint64_t *entry)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len;
    long flen;
    int ret = -EBADMSG;

    if (!f) {
        return -ENOENT;
    }
    if (fseek(f, 0, SEEK_END) || (flen = ftell(f)) < 64 ||
        (uint64_t)flen > ELF_MAX_BYTES || fseek(f, 0, SEEK_SET)) {
        fclose(f);
        return -ERANGE;
    }
    len = (size_t)flen;
    buf = mem_alloc(len);
    if (!buf || fread(buf, 1, len, f) != len) {
        ret = -EIO;
        goto out;
    }
    if (memcmp(buf,
               "\x7f"
               "ELF",
               4) ||
        buf[4] != 2 || buf[5] != 1 || rd_le16(buf + 18) != 243) {
        goto out;
    }
    {
        uint64_t phoff = rd_le64(buf + 32);
        unsigned phentsize = rd_le16(buf + 54), phnum = rd_le16(buf + 56);

        if (phentsize < 56 || phoff > len ||
            (uint64_t)phnum * phentsize > len - phoff) {
            goto out;
        }
        for (unsigned i = 0; i < phnum; i++) {
            const uint8_t *ph = buf + phoff + (size_t)i * phentsize;
            uint64_t off = rd_le64(ph + 8), pa = rd_le64(ph + 24);
            uint64_t filesz = rd_le64(ph + 32), memsz = rd_le64(ph + 40);

            if (rd_le32(ph) != 1 || memsz == 0) {
                continue;
            }
            if (filesz > memsz || off > len || filesz > len - off ||
                pa < RAM_BASE || memsz > RAM_SIZE ||
                pa - RAM_BASE > RAM_SIZE - memsz) {
                goto out;
            }
            memcpy(h->ram + (pa - RAM_BASE), buf + off, filesz);
        }
    }
    *entry = rd_le64(buf + 24);
    ret = 0;
out:
    mem_free(buf);
    fclose(f);
    return ret;
}

/* Run until the finisher is written. Returns the exit status. */
static int h_run(struct harness *h, uint64_t max)
{
    while (!h->done && rv_cpu_icount(h->cpu) < max) {
        enum rv_stop st = rv_cpu_run(h->cpu, 100000);

        h_update_timer(h);
        if (st == RV_STOP_TRAP_LOOP) {
            return 125;
        }
        if (st == RV_STOP_WFI && h->mtimecmp == UINT64_MAX && !h->msip) {
            return 125;
        }
        if (st == RV_STOP_WFI) {
            rv_cpu_set_irq(h->cpu, RV_IRQ_MTIP, true);
        }
    }
    return h->done ? h->code : 125;
}

static int run_main(const char *path)
{
    struct harness h;
    uint64_t entry;
    int ret;

    if (h_init(&h) < 0) {
        fprintf(stderr, "test-rv-isa: out of memory\n");
        return 125;
    }
    ret = h_load_elf(&h, path, &entry);
    if (ret < 0) {
        fprintf(stderr, "test-rv-isa: %s: cannot load (%d)\n", path, ret);
        h_fini(&h);
        return 125;
    }
    rv_cpu_reset(h.cpu, entry);
    ret = h_run(&h, RUN_MAX_INSNS);
    fwrite(h.out, 1, h.out_len, stdout);
    h_fini(&h);
    return ret;
}

/* ---- golden ISA programs ---- */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s;
    size_t n;

    if (!f) {
        return NULL;
    }
    s = mem_calloc(1, OUT_MAX);
    n = s ? fread(s, 1, OUT_MAX - 1, f) : 0;
    if (s) {
        s[n] = 0;
    }
    fclose(f);
    return s;
}

static void run_golden(const char *name)
{
    const char *elf_dir = getenv("RV_ISA_ELF_DIR");
    const char *gold_dir = getenv("RV_ISA_GOLDEN_DIR");
    char path[4096];
    struct harness h;
    uint64_t entry;
    char *gold;
    int code;

    assert_non_null(elf_dir);
    assert_non_null(gold_dir);
    assert_int_equal(h_init(&h), 0);
    snprintf(path, sizeof(path), "%s/rv-isa-%s.elf", elf_dir, name);
    assert_int_equal(h_load_elf(&h, path, &entry), 0);
    rv_cpu_reset(h.cpu, entry);
    code = h_run(&h, RUN_MAX_INSNS);
    snprintf(path, sizeof(path), "%s/%s.out", gold_dir, name);
    gold = read_text(path);
    assert_non_null(gold);
    if (strcmp(gold, h.out) != 0) {
        print_message("%s: output differs from golden %s\n--- got:\n%s\n", name,
                      path, h.out);
    }
    assert_string_equal(h.out, gold);
    assert_int_equal(code, 0);
    mem_free(gold);
    h_fini(&h);
}

/* Self-checking programs (no QEMU golden): exit status 0. */
static void run_selfcheck(const char *name)
{
    const char *elf_dir = getenv("RV_ISA_ELF_DIR");
    char path[4096];
    struct harness h;
    uint64_t entry;
    int code;

    assert_non_null(elf_dir);
    assert_int_equal(h_init(&h), 0);
    snprintf(path, sizeof(path), "%s/rv-isa-%s.elf", elf_dir, name);
    assert_int_equal(h_load_elf(&h, path, &entry), 0);
    rv_cpu_reset(h.cpu, entry);
    code = h_run(&h, RUN_MAX_INSNS);
    if (code != 0) {
        print_message("%s: exit %d\n%s\n", name, code, h.out);
    }
    assert_int_equal(code, 0);
    h_fini(&h);
}

/*
 * Run @name in steps of @step instructions; with @roundtrip, after every
 * step save the hart and its soft TLB, load both back and check a second
 * save is identical. Returns the exit status; *@cpu_out is the final hart
 * blob and @h keeps the output.
 */
static int run_stepped(const char *name, uint64_t step, bool roundtrip,
                       struct harness *h, uint8_t **cpu_out, size_t *cpu_len)
{
    const char *elf_dir = getenv("RV_ISA_ELF_DIR");
    char path[4096];
    uint64_t entry;
    size_t n;
    uint8_t *a = mem_alloc(RV_CPU_TLB_MAX_BYTES), *b;
    uint8_t *t1 = mem_alloc(RV_CPU_TLB_MAX_BYTES);
    uint8_t *t2 = mem_alloc(RV_CPU_TLB_MAX_BYTES);

    assert_non_null(elf_dir);
    assert_int_equal(h_init(h), 0);
    snprintf(path, sizeof(path), "%s/rv-isa-%s.elf", elf_dir, name);
    assert_int_equal(h_load_elf(h, path, &entry), 0);
    rv_cpu_reset(h->cpu, entry);
    n = rv_cpu_save(h->cpu, NULL, 0);
    b = mem_alloc(n);
    assert_true(a && b && t1 && t2 && n <= RV_CPU_TLB_MAX_BYTES);
    while (!h->done && rv_cpu_icount(h->cpu) < RUN_MAX_INSNS) {
        enum rv_stop st = rv_cpu_run(h->cpu, step);

        h_update_timer(h);
        if (st == RV_STOP_TRAP_LOOP ||
            (st == RV_STOP_WFI && h->mtimecmp == UINT64_MAX && !h->msip)) {
            break;
        }
        if (st == RV_STOP_WFI) {
            rv_cpu_set_irq(h->cpu, RV_IRQ_MTIP, true);
        }
        if (roundtrip) {
            size_t tl = rv_cpu_tlb_save(h->cpu, t1, RV_CPU_TLB_MAX_BYTES);

            assert_true(tl >= 4);
            assert_int_equal(rv_cpu_save(h->cpu, a, n), n);
            assert_int_equal(rv_cpu_load(h->cpu, a, n), 0);
            assert_int_equal(rv_cpu_tlb_load(h->cpu, t1, tl), 0);
            assert_int_equal(rv_cpu_save(h->cpu, b, n), n);
            assert_memory_equal(a, b, n);
            assert_int_equal(rv_cpu_tlb_save(h->cpu, t2, RV_CPU_TLB_MAX_BYTES),
                             tl);
            assert_memory_equal(t1, t2, tl);
        }
    }
    assert_int_equal(rv_cpu_save(h->cpu, b, n), n);
    *cpu_out = b;
    *cpu_len = n;
    mem_free(a);
    mem_free(t1);
    mem_free(t2);
    return h->done ? h->code : 125;
}

/* Saving and restoring the hart (with its TLB, never flushed) every few
 * hundred instructions leaves every program's run exactly as it was. */
static void test_isa_save_load_every_step(void **state)
{
    static const char *const progs[] = {"vm", "priv", "smc", "amo", "pmp"};
    static const uint64_t steps[] = {31, 1009};

    for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
        for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
            struct harness h1, h2;
            uint8_t *c1, *c2;
            size_t n1, n2;
            int r1 = run_stepped(progs[i], steps[k], false, &h1, &c1, &n1);
            int r2 = run_stepped(progs[i], steps[k], true, &h2, &c2, &n2);

            assert_int_equal(r1, 0);
            assert_int_equal(r2, r1);
            assert_string_equal(h2.out, h1.out);
            assert_int_equal(n1, n2);
            assert_memory_equal(c1, c2, n1);
            mem_free(c1);
            mem_free(c2);
            h_fini(&h1);
            h_fini(&h2);
        }
    }
}

static void test_isa_exact(void **state)
{
    run_selfcheck("exact");
}

#define GOLDEN(n)                                                              \
    static void test_isa_##n(void **state)                                     \
    {                                                                          \
        run_golden(#n);                                                        \
    }
#define RV_ISA_PROGRAMS(X)                                                     \
    X(int) X(rvc) X(amo) X(priv) X(vm) X(fp) X(smc) X(pmp)
RV_ISA_PROGRAMS(GOLDEN)

/* ---- the rv_cpu_* contract, on small hand-made programs ---- */

static void put32(struct harness *h, uint64_t pa, uint32_t insn)
{
    wr_le32(h->ram + (pa - RAM_BASE), insn);
}

/* addi a0,a0,1 ; j .-4 : an endless counting loop at RAM_BASE. */
static void load_counter_loop(struct harness *h)
{
    put32(h, RAM_BASE, 0x00150513);
    put32(h, RAM_BASE + 4, 0xffdff06f);
    rv_cpu_reset(h->cpu, RAM_BASE);
}

static void test_budget_exact(void **state)
{
    struct harness h;

    assert_int_equal(h_init(&h), 0);
    load_counter_loop(&h);
    assert_int_equal(rv_cpu_run(h.cpu, 1001), RV_STOP_BUDGET);
    assert_int_equal(rv_cpu_icount(h.cpu), 1001);
    assert_int_equal(rv_cpu_get_xreg(h.cpu, 10), 501);
    assert_int_equal(rv_cpu_get_pc(h.cpu), RAM_BASE + 4);
    assert_int_equal(rv_cpu_run(h.cpu, 0), RV_STOP_BUDGET);
    assert_int_equal(rv_cpu_icount(h.cpu), 1001);
    h_fini(&h);
}

static void test_save_load_roundtrip(void **state)
{
    struct harness h;
    size_t n;
    uint8_t *a, *b, *c;

    assert_int_equal(h_init(&h), 0);
    load_counter_loop(&h);
    rv_cpu_set_xreg(h.cpu, 7, 0x1234);
    assert_int_equal(rv_cpu_run(h.cpu, 333), RV_STOP_BUDGET);
    n = rv_cpu_save(h.cpu, NULL, 0);
    assert_true(n > 0);
    a = mem_alloc(n);
    b = mem_alloc(n);
    c = mem_alloc(n);
    assert_int_equal(rv_cpu_save(h.cpu, a, n), n);
    assert_int_equal(rv_cpu_save(h.cpu, a, n - 1), 0);
    assert_int_equal(rv_cpu_run(h.cpu, 1000), RV_STOP_BUDGET);
    assert_int_equal(rv_cpu_save(h.cpu, b, n), n);
    /* Restore and replay: the same state again. */
    rv_cpu_reset(h.cpu, 0);
    assert_int_equal(rv_cpu_load(h.cpu, a, n), 0);
    assert_int_equal(rv_cpu_icount(h.cpu), 333);
    assert_int_equal(rv_cpu_get_xreg(h.cpu, 7), 0x1234);
    assert_int_equal(rv_cpu_run(h.cpu, 1000), RV_STOP_BUDGET);
    assert_int_equal(rv_cpu_save(h.cpu, c, n), n);
    assert_memory_equal(b, c, n);
    /* Corrupt blobs are refused and leave the hart alone. */
    assert_int_equal(rv_cpu_load(h.cpu, a, n - 1), -EBADMSG);
    a[n - 5] ^= 1; /* payload: CRC mismatch */
    assert_int_equal(rv_cpu_load(h.cpu, a, n), -EBADMSG);
    a[n - 5] ^= 1;
    a[12] |= 1; /* unknown incompatible feature */
    assert_int_equal(rv_cpu_load(h.cpu, a, n), -ENOTSUP);
    a[12] &= (uint8_t)~1;
    a[0] ^= 1;
    assert_int_equal(rv_cpu_load(h.cpu, a, n), -EBADMSG);
    assert_int_equal(rv_cpu_save(h.cpu, b, n), n);
    assert_memory_equal(b, c, n);
    mem_free(a);
    mem_free(b);
    mem_free(c);
    h_fini(&h);
}

static void test_wfi_stops_and_wakes(void **state)
{
    struct harness h;

    assert_int_equal(h_init(&h), 0);
    /* wfi ; addi a0,a0,1 ; j .-4 */
    put32(&h, RAM_BASE, 0x10500073);
    put32(&h, RAM_BASE + 4, 0x00150513);
    put32(&h, RAM_BASE + 8, 0xffdff06f);
    rv_cpu_reset(h.cpu, RAM_BASE);
    assert_int_equal(rv_cpu_run(h.cpu, 100), RV_STOP_WFI);
    assert_int_equal(rv_cpu_icount(h.cpu), 1);
    assert_int_equal(rv_cpu_run(h.cpu, 100), RV_STOP_WFI);
    assert_int_equal(rv_cpu_icount(h.cpu), 1);
    /* Pending but not enabled in mie: still waiting. */
    rv_cpu_set_irq(h.cpu, RV_IRQ_MSIP, true);
    assert_int_equal(rv_cpu_run(h.cpu, 100), RV_STOP_WFI);
    h_fini(&h);
}

static void test_wfi_wakes_on_enabled_irq(void **state)
{
    struct harness h;

    assert_int_equal(h_init(&h), 0);
    /* li t0,8 ; csrw mie,t0 ; wfi ; addi a0,a0,1 ; j .-4 */
    put32(&h, RAM_BASE, 0x00800293);
    put32(&h, RAM_BASE + 4, 0x30429073);
    put32(&h, RAM_BASE + 8, 0x10500073);
    put32(&h, RAM_BASE + 12, 0x00150513);
    put32(&h, RAM_BASE + 16, 0xffdff06f);
    rv_cpu_reset(h.cpu, RAM_BASE);
    assert_int_equal(rv_cpu_run(h.cpu, 100), RV_STOP_WFI);
    assert_int_equal(rv_cpu_icount(h.cpu), 3);
    rv_cpu_set_irq(h.cpu, RV_IRQ_MSIP, true);
    assert_int_equal(rv_cpu_run(h.cpu, 10), RV_STOP_BUDGET);
    assert_int_equal(rv_cpu_icount(h.cpu), 13);
    assert_int_equal(rv_cpu_get_xreg(h.cpu, 10), 5);
    h_fini(&h);
}

static void test_trap_loop(void **state)
{
    struct harness h;

    assert_int_equal(h_init(&h), 0);
    /* mtvec = 0 (unmapped): the first fault loops at pc 0. */
    put32(&h, RAM_BASE, 0x00000000); /* illegal */
    rv_cpu_reset(h.cpu, RAM_BASE);
    assert_int_equal(rv_cpu_run(h.cpu, 1000), RV_STOP_TRAP_LOOP);
    assert_int_equal(rv_cpu_icount(h.cpu), 0);
    h_fini(&h);
}

static void test_request_exit_from_mmio(void **state)
{
    struct harness h;

    assert_int_equal(h_init(&h), 0);
    /* lui t0,0x100 ; sw zero,0(t0) ; addi a0,a0,1 */
    put32(&h, RAM_BASE, 0x001002b7);
    put32(&h, RAM_BASE + 4, 0x0002a023);
    put32(&h, RAM_BASE + 8, 0x00150513);
    rv_cpu_reset(h.cpu, RAM_BASE);
    assert_int_equal(rv_cpu_run(h.cpu, 1000), RV_STOP_EXIT);
    assert_int_equal(rv_cpu_icount(h.cpu), 2);
    assert_int_equal(rv_cpu_get_pc(h.cpu), RAM_BASE + 8);
    h_fini(&h);
}

static void test_icount_exact_at_mmio(void **state)
{
    struct harness h;

    assert_int_equal(h_init(&h), 0);
    /* 40 x nop ; lui t0,0x200c ; ld a0,-8(t0): mtime is the icount */
    for (unsigned i = 0; i < 40; i++) {
        put32(&h, RAM_BASE + 4 * i, 0x00000013);
    }
    put32(&h, RAM_BASE + 160, 0x0200c2b7);
    put32(&h, RAM_BASE + 164, 0xff82b503);
    rv_cpu_reset(h.cpu, RAM_BASE);
    assert_int_equal(rv_cpu_run(h.cpu, 42), RV_STOP_BUDGET);
    /* The load ran after 41 retired instructions. */
    assert_int_equal(rv_cpu_get_xreg(h.cpu, 10), 41);
    h_fini(&h);
}

#define GOLDEN_ENTRY(n) cmocka_unit_test(test_isa_##n),

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_exact),
        cmocka_unit_test(test_save_load_roundtrip),
        cmocka_unit_test(test_wfi_stops_and_wakes),
        cmocka_unit_test(test_wfi_wakes_on_enabled_irq),
        cmocka_unit_test(test_trap_loop),
        cmocka_unit_test(test_request_exit_from_mmio),
        cmocka_unit_test(test_icount_exact_at_mmio),
        RV_ISA_PROGRAMS(GOLDEN_ENTRY) cmocka_unit_test(test_isa_exact),
        cmocka_unit_test(test_isa_save_load_every_step)};

    if (argc == 3 && strcmp(argv[1], "--run") == 0) {
        return run_main(argv[2]);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
