/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-emu-fdt.c - the virt device tree read back with libfdt,
 * the reset ROM, FDT placement, and the ELF/raw loader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libfdt.h>

#include "common/bytes.h"
#include "emulator/rv-int.h"

static uint8_t dtb[RV_FDT_MAX_SIZE];

/* The board's tree: its /soc nodes come from the device table. */
static int build(const char *bootargs, uint64_t is, uint64_t ie)
{
    struct rv_fdt_node nodes[RV_FDT_NODES_MAX];
    struct rv_fdt_params p = {256ull << 20, "rv64imafdc_zicsr_zifencei",
                              "riscv,sv48", bootargs,
                              is,           ie};
    struct err err;
    int n;

    p.devs = nodes;
    p.nb_devs = rv_machine_fdt_nodes(nodes, RV_FDT_NODES_MAX);
    assert_true(p.nb_devs > 0 && p.nb_devs < RV_FDT_NODES_MAX);
    n = rv_fdt_build(&p, dtb, sizeof(dtb), &err);

    assert_true(n > 0);
    assert_int_equal(fdt_check_header(dtb), 0);
    return n;
}

static const char *str(const char *path, const char *prop)
{
    int off = fdt_path_offset(dtb, path);
    const char *v;

    assert_true(off >= 0);
    v = fdt_getprop(dtb, off, prop, NULL);
    assert_non_null(v);
    return v;
}

static uint32_t cell(const char *path, const char *prop, int idx)
{
    int off = fdt_path_offset(dtb, path), len;
    const fdt32_t *v;

    assert_true(off >= 0);
    v = fdt_getprop(dtb, off, prop, &len);
    assert_non_null(v);
    assert_true((idx + 1) * 4 <= len);
    return fdt32_to_cpu(v[idx]);
}

static void test_fdt_contents(void **state)
{
    int off, len;
    const char *s;

    build(NULL, 0, 0);
    assert_string_equal(str("/", "compatible"), "riscv-virtio");
    assert_string_equal(str("/", "model"), "riscv-virtio,qemu");
    assert_string_equal(str("/chosen", "stdout-path"), "/soc/serial@10000000");
    off = fdt_path_offset(dtb, "/chosen");
    assert_null(fdt_getprop(dtb, off, "rng-seed", NULL));
    assert_null(fdt_getprop(dtb, off, "bootargs", NULL));
    assert_int_equal(cell("/memory@80000000", "reg", 1), 0x80000000);
    assert_int_equal(cell("/memory@80000000", "reg", 3), 0x10000000);
    assert_int_equal(cell("/cpus", "timebase-frequency", 0), 10000000);
    assert_string_equal(str("/cpus/cpu@0", "riscv,isa"),
                        "rv64imafdc_zicsr_zifencei");
    assert_string_equal(str("/cpus/cpu@0", "mmu-type"), "riscv,sv48");
    assert_string_equal(str("/cpus/cpu@0/interrupt-controller", "compatible"),
                        "riscv,cpu-intc");
    /* PLIC: context 0 = M external (11), context 1 = S external (9). */
    assert_int_equal(cell("/soc/plic@c000000", "riscv,ndev", 0), 96);
    assert_int_equal(cell("/soc/plic@c000000", "interrupts-extended", 1), 11);
    assert_int_equal(cell("/soc/plic@c000000", "interrupts-extended", 3), 9);
    assert_int_equal(cell("/soc/plic@c000000", "reg", 3), 0x600000);
    assert_int_equal(cell("/soc/clint@2000000", "interrupts-extended", 1), 3);
    assert_int_equal(cell("/soc/clint@2000000", "interrupts-extended", 3), 7);
    assert_int_equal(cell("/soc/serial@10000000", "interrupts", 0), 10);
    assert_int_equal(cell("/soc/serial@10000000", "clock-frequency", 0),
                     3686400);
    assert_int_equal(cell("/soc/rtc@101000", "interrupts", 0), 11);
    s = fdt_getprop(dtb, fdt_path_offset(dtb, "/soc/test@100000"), "compatible",
                    &len);
    assert_int_equal(len, (int)sizeof("sifive,test1\0sifive,test0\0syscon"));
    assert_string_equal(s, "sifive,test1");
    assert_int_equal(cell("/poweroff", "value", 0), 0x5555);
    assert_int_equal(cell("/reboot", "value", 0), 0x7777);
    assert_int_equal(cell("/poweroff", "regmap", 0),
                     cell("/soc/test@100000", "phandle", 0));
    /* Nodes we do not model are absent. */
    assert_true(fdt_path_offset(dtb, "/soc/pci@30000000") < 0);
    assert_true(fdt_path_offset(dtb, "/fw-cfg@10100000") < 0);
    assert_true(fdt_path_offset(dtb, "/flash@20000000") < 0);
    /* virtio-mmio nodes in QEMU's order: highest address first. */
    off = fdt_path_offset(dtb, "/soc");
    for (off = fdt_first_subnode(dtb, off); off >= 0;
         off = fdt_next_subnode(dtb, off)) {
        if (!strncmp(fdt_get_name(dtb, off, NULL), "virtio_mmio", 11)) {
            break;
        }
    }
    assert_string_equal(fdt_get_name(dtb, off, NULL), "virtio_mmio@10008000");
    assert_int_equal(cell("/soc/virtio_mmio@10008000", "interrupts", 0), 8);
    assert_int_equal(cell("/soc/virtio_mmio@10001000", "interrupts", 0), 1);
}

static void test_fdt_deterministic_and_chosen(void **state)
{
    static uint8_t first[RV_FDT_MAX_SIZE];
    struct rv_fdt_params p = {256ull << 20,
                              "rv64imafdc_zicsr_zifencei",
                              "riscv,sv39",
                              "console=ttyS0",
                              0,
                              0};
    struct err err;
    int n1, n2;

    n1 = build("console=ttyS0", 0x88200000, 0x88300000);
    memcpy(first, dtb, (size_t)n1);
    n2 = build("console=ttyS0", 0x88200000, 0x88300000);
    assert_int_equal(n1, n2);
    assert_memory_equal(first, dtb, (size_t)n1);
    assert_string_equal(str("/chosen", "bootargs"), "console=ttyS0");
    assert_int_equal(cell("/chosen", "linux,initrd-start", 0), 0x88200000);
    assert_int_equal(cell("/chosen", "linux,initrd-end", 0), 0x88300000);

    /* -dtb: /chosen is rewritten in a user's blob. */
    build(NULL, 0, 0);
    p.bootargs = "root=/dev/vda";
    p.initrd_start = 0x90000000;
    p.initrd_end = 0x90001000;
    n1 = rv_fdt_fixup_chosen(dtb, sizeof(dtb), &p, &err);
    assert_true(n1 > 0);
    assert_string_equal(str("/chosen", "bootargs"), "root=/dev/vda");
    assert_int_equal(cell("/chosen", "linux,initrd-start", 1), 0x90000000);
    /* Garbage is refused. */
    memset(dtb, 0x41, 64);
    assert_int_equal(rv_fdt_fixup_chosen(dtb, sizeof(dtb), &p, &err), -EBADMSG);
}

static void test_reset_vector(void **state)
{
    static uint8_t rom[RV_MROM_SIZE];

    rv_load_reset_vector(rom, sizeof(rom), 0x80000000, 0x8fe00000, 0x80200000);
    /* As dumped from QEMU 7.2 with xp /14gx 0x1000. */
    assert_int_equal(rd_le32(rom + 0), 0x00000297);
    assert_int_equal(rd_le32(rom + 4), 0x02828613);
    assert_int_equal(rd_le32(rom + 8), 0xf1402573);
    assert_int_equal(rd_le32(rom + 12), 0x0202b583);
    assert_int_equal(rd_le32(rom + 16), 0x0182b283);
    assert_int_equal(rd_le32(rom + 20), 0x00028067);
    assert_int_equal(rd_le64(rom + 0x18), 0x80000000);
    assert_int_equal(rd_le64(rom + 0x20), 0x8fe00000);
    assert_int_equal(rd_le64(rom + 0x28), 0x4942534f);
    assert_int_equal(rd_le64(rom + 0x30), 2);
    assert_int_equal(rd_le64(rom + 0x38), 0x80200000);
    assert_int_equal(rd_le64(rom + 0x40), 1);
    assert_int_equal(rd_le64(rom + 0x48), 0);
    assert_int_equal(rd_le64(rom + 0x50), 0);
    /* FDT placement (QEMU 7.2 observed values). */
    assert_int_equal(rv_load_fdt_addr(256ull << 20, 0x1000), 0x8fe00000);
    assert_int_equal(rv_load_fdt_addr(2048ull << 20, 0x1000), 0xbfe00000);
    assert_int_equal(rv_load_fdt_addr(128ull << 20, 0x1000), 0x87e00000);
}

static char *write_tmp(const void *data, size_t len)
{
    char *path = strdup("/tmp/rrvm-test-loader-XXXXXX");
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static void make_elf(uint8_t *e, uint64_t paddr, uint64_t filesz,
                     uint64_t memsz)
{
    memset(e, 0, 256);
    memcpy(e,
           "\x7f"
           "ELF",
           4);
    e[4] = 2;
    e[5] = 1;
    e[6] = 1;
    wr_le16(e + 16, 2);
    wr_le16(e + 18, 243);
    wr_le64(e + 24, paddr + 4);
    wr_le64(e + 32, 64);
    wr_le16(e + 52, 64);
    wr_le16(e + 54, 56);
    wr_le16(e + 56, 1);
    wr_le32(e + 64, 1);           /* PT_LOAD */
    wr_le64(e + 64 + 8, 128);     /* offset */
    wr_le64(e + 64 + 16, paddr);  /* vaddr */
    wr_le64(e + 64 + 24, paddr);  /* paddr */
    wr_le64(e + 64 + 32, filesz); /* filesz */
    wr_le64(e + 64 + 40, memsz);  /* memsz */
    for (unsigned i = 0; i < filesz && 128 + i < 256; i++) {
        e[128 + i] = (uint8_t)(0x10 + i);
    }
}

static void test_loader(void **state)
{
    static uint8_t mem[1 << 20];
    struct rv_ram ram = {mem, 0x80000000, sizeof(mem)};
    uint8_t elf[256];
    uint64_t entry, lo, end;
    struct err err;
    char *path;

    memset(mem, 0xee, sizeof(mem));
    make_elf(elf, 0x80001000, 16, 64);
    path = write_tmp(elf, sizeof(elf));
    assert_int_equal(
        rv_load_file(&ram, path, true, 0x80000000, &entry, &lo, &end, &err), 0);
    assert_int_equal(entry, 0x80001004);
    assert_int_equal(lo, 0x80001000);
    assert_int_equal(end, 0x80001040);
    assert_int_equal(mem[0x1000], 0x10);
    assert_int_equal(mem[0x100f], 0x1f);
    assert_int_equal(mem[0x1010], 0); /* bss zeroed */
    assert_int_equal(mem[0x1040], 0xee);
    /* Raw: the same file as bytes. */
    assert_int_equal(
        rv_load_file(&ram, path, false, 0x80010000, &entry, &lo, &end, &err),
        0);
    assert_int_equal(entry, 0x80010000);
    assert_int_equal(end, 0x80010100);
    assert_memory_equal(mem + 0x10000, elf, sizeof(elf));
    /* Raw past the end of RAM. */
    assert_int_equal(rv_load_file(&ram, path, false, 0x800fff00 + 1, &entry,
                                  &lo, &end, &err),
                     -ERANGE);
    unlink(path);
    free(path);

    /* A segment outside RAM. */
    make_elf(elf, 0x10000000, 16, 16);
    path = write_tmp(elf, sizeof(elf));
    assert_int_equal(
        rv_load_file(&ram, path, true, 0x80000000, &entry, &lo, &end, &err),
        -ERANGE);
    unlink(path);
    free(path);
    /* A segment larger than the file. */
    make_elf(elf, 0x80000000, 4096, 4096);
    path = write_tmp(elf, sizeof(elf));
    assert_int_equal(
        rv_load_file(&ram, path, true, 0x80000000, &entry, &lo, &end, &err),
        -EBADMSG);
    unlink(path);
    free(path);
    /* Not RISC-V. */
    make_elf(elf, 0x80000000, 16, 16);
    wr_le16(elf + 18, 62);
    path = write_tmp(elf, sizeof(elf));
    assert_int_equal(
        rv_load_file(&ram, path, true, 0x80000000, &entry, &lo, &end, &err),
        -EBADMSG);
    unlink(path);
    free(path);
    assert_int_equal(rv_load_file(&ram, "/nonexistent/fw.bin", true, 0x80000000,
                                  &entry, &lo, &end, &err),
                     -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fdt_contents),
        cmocka_unit_test(test_fdt_deterministic_and_chosen),
        cmocka_unit_test(test_reset_vector),
        cmocka_unit_test(test_loader),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
