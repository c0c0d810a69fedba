/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-emu-vmstate.c - the machine-state serialiser on the whole
 * virt machine: saving (and hashing, and save -> load -> save) at every
 * CPU slice leaves the run exactly as one that never saves; the RAM hash
 * tree kept from the dirty bitmap equals one computed from scratch; bad
 * blobs are refused with clear errors and leave the machine alone; a
 * golden blob (tests/data/vmstate/) loads and re-saves byte for byte.
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

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/hash.h"
#include "emulator/rv-int.h"
#include "emulator/rv.h"

/* The echo program of test-emu-machine.c: echoes serial input until 'q',
 * then powers off through sifive_test. */
static const uint32_t echo_prog[] = {
    0x100002b7, 0x0052c303, 0x00137313, 0xfe030ce3, 0x0002c383,
    0x00728023, 0x07100e13, 0xffc394e3, 0x001002b7, 0x00005337,
    0x55530313, 0x0062a023, 0x0000006f,
};

/* What the serial hook does at each input point (between CPU slices). */
struct probe {
    struct rv_machine *m;
    const char *input;
    size_t pos;
    bool roundtrip;      /* save, hash, load, save again, compare */
    unsigned full_every; /* compare with a from-scratch RAM hash every Nth */
    unsigned every;      /* round trip at every Nth input point (0: all) */
    unsigned points;     /* input points seen */
    unsigned roundtrips; /* of which round trips made */
    bool failed;
    char why[512];
};

static void probe_fail(struct probe *p, const char *what)
{
    if (!p->failed) {
        p->failed = true;
        snprintf(p->why, sizeof(p->why), "at icount %llu: %s",
                 (unsigned long long)rv_machine_icount(p->m), what);
    }
}

/* The RAM tree as docs/formats/vmstate.md defines it, from scratch. */
static void ram_root_reference(const struct rv_ram *ram, uint8_t *dst)
{
    uint64_t np = ram->size >> 12;
    uint64_t ng = (np + RV_VMSTATE_HASH_FANOUT - 1) / RV_VMSTATE_HASH_FANOUT;
    uint8_t(*leaf)[32] = mem_alloc(np * 32);
    uint8_t(*group)[32] = mem_alloc(ng * 32);
    uint8_t *buf = mem_alloc(8 + ng * 32);

    assert_non_null(leaf);
    assert_non_null(group);
    assert_non_null(buf);
    for (uint64_t i = 0; i < np; i++) {
        hash_sha256(ram->host + (i << 12), 4096, leaf[i]);
    }
    for (uint64_t g = 0; g < ng; g++) {
        uint64_t n = np - g * RV_VMSTATE_HASH_FANOUT;

        if (n > RV_VMSTATE_HASH_FANOUT) {
            n = RV_VMSTATE_HASH_FANOUT;
        }
        hash_sha256(leaf[g * RV_VMSTATE_HASH_FANOUT], n * 32, group[g]);
    }
    wr_le64(buf, ram->size);
    memcpy(buf + 8, group, ng * 32);
    hash_sha256(buf, 8 + ng * 32, dst);
    mem_free(leaf);
    mem_free(group);
    mem_free(buf);
}

static void probe_roundtrip(struct probe *p)
{
    struct rv_vmstate_ctx c;
    uint8_t *a = NULL, *b = NULL;
    size_t alen, blen;
    uint8_t h1[RV_STATE_HASH_LEN], h2[RV_STATE_HASH_LEN];
    uint8_t r1[32], r2[32];
    struct err err;

    p->roundtrips++;
    if (rv_machine_vmstate_save(p->m, &a, &alen, &err) < 0 ||
        rv_machine_state_hash(p->m, h1) < 0) {
        probe_fail(p, "save failed");
        goto out;
    }
    /* The tree kept from dirty pages equals one made from scratch. */
    if (p->full_every && p->roundtrips % p->full_every != 1) {
        goto load;
    }
    rv_machine_vmstate_ctx(p->m, &c);
    if (rv_vmstate_ram_root(&c, r1, &err) < 0) {
        probe_fail(p, "ram root failed");
        goto out;
    }
    ram_root_reference(rv_machine_ram(p->m), r2);
    if (memcmp(r1, r2, 32)) {
        probe_fail(p, "incremental RAM hash differs from a full one");
        goto out;
    }
load:
    if (rv_machine_vmstate_load(p->m, a, alen, &err) < 0) {
        probe_fail(p, err.msg);
        goto out;
    }
    if (rv_machine_vmstate_save(p->m, &b, &blen, &err) < 0 ||
        rv_machine_state_hash(p->m, h2) < 0) {
        probe_fail(p, "save after load failed");
        goto out;
    }
    if (alen != blen || memcmp(a, b, alen)) {
        char msg[128];
        size_t i = 0, off = rd_le32(a + 8);

        while (i < alen && i < blen && a[i] == b[i]) {
            i++;
        }
        while (off + 16 <= alen && off + 16 + rd_le32(a + off + 8) <= i) {
            off += 16 + rd_le32(a + off + 8);
        }
        if (i < off + 16 + 28) {
            i = off + 16 + 28;
            while (i < alen && i < blen && a[i] == b[i]) {
                i++;
            }
        }
        snprintf(msg, sizeof(msg),
                 "save -> load -> save changed the blob: section %u, "
                 "payload byte %zu (%zu vs %zu bytes)",
                 off + 4 <= alen ? rd_le32(a + off) : 0, i - off - 16, alen,
                 blen);
        probe_fail(p, msg);
    } else if (memcmp(h1, h2, sizeof(h1))) {
        probe_fail(p, "load changed the state hash");
    }
out:
    mem_free(a);
    mem_free(b);
}

static int probe_serial(void *opaque, uint64_t icount, int avail, uint8_t *byte)
{
    struct probe *p = opaque;

    p->points++;
    if (p->roundtrip && p->m && (!p->every || p->points % p->every == 0)) {
        probe_roundtrip(p);
    }
    if (!p->input || !p->input[p->pos]) {
        return 0;
    }
    *byte = (uint8_t)p->input[p->pos++];
    return 1;
}

static char *write_echo(void)
{
    char *path = strdup("/tmp/rrvm-test-vmstate-XXXXXX");
    uint8_t buf[sizeof(echo_prog)];
    int fd = mkstemp(path);

    for (size_t i = 0; i < sizeof(echo_prog) / 4; i++) {
        wr_le32(buf + 4 * i, echo_prog[i]);
    }
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    close(fd);
    return path;
}

struct run {
    uint64_t icount;
    uint8_t hash[RV_STATE_HASH_LEN];
    struct rv_exit_info ex;
};

/* Optional extra configuration: a virtio-rng and a raw disk (with a
 * temporary overlay when extra_snapshot), a kernel command line. */
static const char *extra_disk;
static bool extra_snapshot;
static const char *extra_append;
static unsigned extra_every;

static struct rv_machine *machine_new(const char *bios, const char *kernel,
                                      uint64_t ram, struct probe *p)
{
    struct rv_machine_config cfg;
    struct rv_machine *m = NULL;
    struct err err;

    rv_machine_config_init(&cfg);
    if (extra_disk) {
        cfg.virtio[0].kind = RV_VIRTIO_BLK;
        cfg.virtio[0].drive.file = extra_disk;
        cfg.virtio[0].drive.format = "raw";
        cfg.virtio[0].drive.snapshot = extra_snapshot;
        cfg.virtio[1].kind = RV_VIRTIO_RNG;
        cfg.nb_virtio = 2;
    }
    cfg.bios = bios;
    cfg.kernel = kernel;
    cfg.append = extra_append;
    cfg.ram_size = ram;
    cfg.icount_sleep = false;
    cfg.hooks.opaque = p;
    cfg.hooks.serial = probe_serial;
    if (rv_machine_new(&cfg, &m, &err) < 0) {
        print_message("rv_machine_new: %s\n", err.msg);
        fail();
    }
    p->m = m;
    return m;
}

static void run_one(const char *bios, const char *kernel, const char *input,
                    bool roundtrip, struct run *r)
{
    struct probe p = {.input = input,
                      .roundtrip = roundtrip,
                      .full_every = 16,
                      .every = extra_every};
    struct rv_machine *m =
        machine_new(bios, kernel, (extra_append ? 256ull : 64ull) << 20, &p);
    struct err err;

    assert_int_equal(rv_machine_run(m, &r->ex, &err), 0);
    if (p.failed) {
        print_message("%s\n", p.why);
    }
    assert_false(p.failed);
    if (roundtrip) {
        assert_true(p.roundtrips > 0);
        if (getenv("RV_VMSTATE_VERBOSE")) {
            print_message("%u round trips, icount %llu\n", p.roundtrips,
                          (unsigned long long)rv_machine_icount(m));
        }
    }
    r->icount = rv_machine_icount(m);
    assert_int_equal(rv_machine_state_hash(m, r->hash), 0);
    rv_machine_free(m);
}

static void extras_clear(void)
{
    extra_disk = NULL;
    extra_snapshot = false;
    extra_append = NULL;
    extra_every = 0;
}

static int extras_setup(void **state)
{
    extras_clear();
    return 0;
}

static void check_program(const char *bios, const char *kernel,
                          const char *input)
{
    struct run plain, saved;

    run_one(bios, kernel, input, false, &plain);
    run_one(bios, kernel, input, true, &saved);
    assert_int_equal(plain.ex.kind, RV_EXIT_POWEROFF);
    assert_int_equal(saved.ex.kind, plain.ex.kind);
    assert_int_equal(saved.ex.exit_code, plain.ex.exit_code);
    assert_int_equal(saved.icount, plain.icount);
    assert_memory_equal(saved.hash, plain.hash, sizeof(plain.hash));
}

static void test_echo_save_every_slice(void **state)
{
    char *prog = write_echo();

    check_program(prog, NULL, "hello q");
    unlink(prog);
    free(prog);
}

/* The ISA programs (paging, PMP, self-modifying code, AMOs) when built. */
static void test_isa_save_every_slice(void **state)
{
    static const char *const progs[] = {"vm", "priv", "smc", "amo", "pmp"};
    const char *dir = getenv("RV_ISA_ELF_DIR");
    char path[4096];

    if (!dir || !*dir) {
        print_message("skipped: inputs absent\n");
        return;
    }
    for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
        snprintf(path, sizeof(path), "%s/rv-isa-%s.elf", dir, progs[i]);
        if (access(path, R_OK) != 0) {
            print_message("skipped: inputs absent\n");
            return;
        }
        check_program(NULL, path, NULL);
    }
}

/*
 * U-Boot (under OpenSBI, with a virtio disk and a virtio-rng) driven
 * through a few commands and powered off: saving, hashing, loading and
 * re-saving at every slice changes nothing, mid-boot and at the prompt.
 */
#define FW_JUMP "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"
#define UBOOT_S "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"
#define PAD     "                                        \r"

static void test_uboot_save_every_slice(void **state)
{
    static const char input[] =
        "\r" PAD "version\r" PAD "virtio scan\r" PAD
        "virtio read 0x84000000 0 1\r" PAD "mw.b 0x85000000 0x3c 0x200\r" PAD
        "virtio write 0x85000000 2 1\r" PAD "poweroff\r" PAD;
    char disk[] = "/tmp/rrvm-test-vmstate-disk-XXXXXX";
    int fd;

    if (access(FW_JUMP, R_OK) != 0 || access(UBOOT_S, R_OK) != 0) {
        print_message("skipped: inputs absent\n");
        return;
    }
    fd = mkstemp(disk);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 8 << 20), 0);
    close(fd);
    extra_disk = disk;
    check_program(FW_JUMP, UBOOT_S, input);
    extra_disk = NULL;
    unlink(disk);
}

/* Linux and busybox (scripts/artefacts.sh; skipped without them): a
 * session with paging, Linux clearing accessed bits without sfence.vma,
 * virtio-blk and virtio-rng, powered off; a round trip every few slices. */
static bool artefact(const char *key, char *dst, size_t cap)
{
    const char *path = getenv("RRVM_ARTEFACTS_ENV");
    char line[4096];
    size_t kl = strlen(key);
    FILE *f = path ? fopen(path, "r") : NULL;
    bool found = false;

    while (f && fgets(line, sizeof(line), f)) {
        if (!strncmp(line, key, kl) && line[kl] == '=') {
            line[strcspn(line, "\n")] = 0;
            snprintf(dst, cap, "%s", line + kl + 1);
            found = access(dst, R_OK) == 0;
        }
    }
    if (f) {
        fclose(f);
    }
    return found;
}

static void test_linux_save_every_few_slices(void **state)
{
    static const char input[] = "uname -a\nhead -c 8 /dev/hwrng | hexdump -C\n"
                                "cat /proc/interrupts\npoweroff\n";
    static char bios[4096], kernel[4096], rootfs[4096];

    if (!artefact("RRVM_BIOS", bios, sizeof(bios)) ||
        !artefact("RRVM_KERNEL", kernel, sizeof(kernel)) ||
        !artefact("RRVM_ROOTFS_RAW", rootfs, sizeof(rootfs))) {
        print_message("skipped: inputs absent\n");
        return;
    }
    extra_disk = rootfs;
    extra_snapshot = true;
    extra_append = "console=ttyS0 root=/dev/vda rw";
    extra_every = 4;
    check_program(bios, kernel, input);
    extra_disk = NULL;
    extra_snapshot = false;
    extra_append = NULL;
    extra_every = 0;
}

/* ---- refusals ---- */

/* Rewrite section @id's version (and its CRC); returns false if absent. */
static bool set_section_version(uint8_t *blob, size_t len, uint32_t id,
                                uint16_t ver, uint16_t flags)
{
    size_t off = rd_le32(blob + 8);

    while (off + 16 <= len) {
        uint32_t plen = rd_le32(blob + off + 8);

        if (rd_le32(blob + off) == id) {
            wr_le16(blob + off + 4, ver);
            wr_le16(blob + off + 6, flags);
            wr_le32(blob + off + 12, hash_crc32c(hash_crc32c(0, blob + off, 12),
                                                 blob + off + 16, plen));
            return true;
        }
        off += 16 + plen;
    }
    return false;
}

static void expect_refused(struct rv_machine *m, const uint8_t *blob,
                           size_t len, int code, const char *needle)
{
    uint8_t *before, *after;
    size_t blen, alen;
    struct err err = {0};

    assert_int_equal(rv_machine_vmstate_save(m, &before, &blen, NULL), 0);
    assert_int_equal(rv_machine_vmstate_load(m, blob, len, &err), code);
    if (!strstr(err.msg, needle)) {
        print_message("message \"%s\" lacks \"%s\"\n", err.msg, needle);
        fail();
    }
    assert_int_equal(rv_machine_vmstate_save(m, &after, &alen, NULL), 0);
    assert_int_equal(alen, blen);
    assert_memory_equal(before, after, blen);
    mem_free(before);
    mem_free(after);
}

static void test_refusals(void **state)
{
    char *prog = write_echo();
    struct probe p = {.input = "hi q"}, p2 = {0};
    struct rv_machine *m = machine_new(prog, NULL, 32ull << 20, &p);
    struct rv_machine *other = machine_new(prog, NULL, 64ull << 20, &p2);
    struct rv_exit_info ex;
    uint8_t *blob, *copy, *ob;
    size_t len, olen;
    struct err err;

    assert_int_equal(rv_machine_run(m, &ex, &err), 0);
    assert_int_equal(rv_machine_vmstate_save(m, &blob, &len, &err), 0);
    copy = mem_alloc(len + 1);
    assert_non_null(copy);

    /* Every single flipped byte is caught. */
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, blob, len);
        copy[i] ^= 0x20;
        assert_int_not_equal(rv_machine_vmstate_check(m, copy, len, &err), 0);
    }
    memcpy(copy, blob, len);
    copy[len / 2] ^= 1;
    expect_refused(m, copy, len, -EBADMSG, "checksum mismatch");
    expect_refused(m, blob, len - 1, -EBADMSG, "truncated");

    /* A newer (or older) section version than this build reads. */
    memcpy(copy, blob, len);
    assert_true(set_section_version(copy, len, 7 /* uart */, 9, 0));
    expect_refused(m, copy, len, -ENOTSUP, "section uart version 9");
    memcpy(copy, blob, len);
    assert_true(set_section_version(copy, len, 3 /* cpu */, 0, 0));
    expect_refused(m, copy, len, -ENOTSUP, "section cpu version 0");

    /* An unknown section: refused, unless flagged skippable. */
    memcpy(copy, blob, len);
    wr_le32(copy + rd_le32(copy + 8), 999); /* the first section's id */
    assert_true(set_section_version(copy, len, 999, 1, 0));
    expect_refused(m, copy, len, -ENOTSUP, "unknown section 999");

    /* Unknown incompatible feature bits. */
    memcpy(copy, blob, len);
    wr_le32(copy + 12, 1u << 31);
    wr_le32(copy + 40, hash_crc32c(0, copy, 40));
    expect_refused(m, copy, len, -ENOTSUP, "incompatible features");

    /* Another machine's state: a clear message, nothing changed. */
    assert_int_equal(rv_machine_vmstate_save(other, &ob, &olen, &err), 0);
    expect_refused(m, ob, olen, -EINVAL, "64 MiB of RAM, this one has 32 MiB");
    expect_refused(other, blob, len, -EINVAL, "another machine");

    assert_int_equal(rv_machine_vmstate_load(m, blob, len, &err), 0);
    mem_free(ob);
    mem_free(copy);
    mem_free(blob);
    rv_machine_free(m);
    rv_machine_free(other);
    unlink(prog);
    free(prog);
}

/* ---- the golden blob ---- */

static unsigned bits_set(const uint64_t *w, size_t words)
{
    unsigned n = 0;

    for (size_t i = 0; i < words; i++) {
        n += (unsigned)__builtin_popcountll(w[i]);
    }
    return n;
}

/*
 * The snapshot writer's dirty pages (rv_vmstate_written_take) and the hash
 * tree share the CPU's marks: a page written between two takes is in the
 * second however many hashes ran in between, and a take never hides a
 * page from the next hash.
 */
static void test_written_take_shares_marks(void **state)
{
    char *prog = write_echo();
    struct probe p = {.input = "hi q"};
    struct rv_machine *m = machine_new(prog, NULL, 64ull << 20, &p);
    struct rv_vmstate_ctx c;
    struct rv_exit_info ex;
    struct err err;
    size_t words = (size_t)((64ull << 20) / 4096 / 64);
    uint64_t *w = calloc(words, 8);
    uint8_t h1[RV_STATE_HASH_LEN], h2[RV_STATE_HASH_LEN];
    uint8_t *ram;

    assert_non_null(w);
    assert_int_equal(rv_machine_run(m, &ex, &err), 0);
    rv_machine_vmstate_ctx(m, &c);
    /* The first take: every page (nothing was saved yet). */
    assert_int_equal(rv_vmstate_written_take(&c, w, &err), 0);
    assert_int_equal(bits_set(w, words), words * 64);
    memset(w, 0, words * 8);
    assert_int_equal(rv_machine_state_hash(m, h1), 0);
    assert_int_equal(rv_vmstate_written_take(&c, w, &err), 0);
    assert_true(bits_set(w, words) < 64);
    memset(w, 0, words * 8);
    /* A host write to page 100, then a hash, then a take: both see it. */
    ram = c.ram->host;
    ram[100 * 4096 + 7] ^= 0x5a;
    rv_cpu_ram_written(c.cpu, c.ram->base + 100 * 4096 + 7, 1);
    assert_int_equal(rv_machine_state_hash(m, h2), 0);
    assert_memory_not_equal(h1, h2, sizeof(h1));
    assert_int_equal(rv_vmstate_written_take(&c, w, &err), 0);
    assert_true(w[100 / 64] & (1ull << (100 % 64)));
    /* And the other way round: the take did not hide it from the hash. */
    ram[100 * 4096 + 7] ^= 0x5a;
    rv_cpu_ram_written(c.cpu, c.ram->base + 100 * 4096 + 7, 1);
    memset(w, 0, words * 8);
    assert_int_equal(rv_vmstate_written_take(&c, w, &err), 0);
    assert_true(w[100 / 64] & (1ull << (100 % 64)));
    assert_int_equal(rv_machine_state_hash(m, h2), 0);
    assert_memory_equal(h1, h2, sizeof(h1));
    free(w);
    rv_machine_free(m);
    unlink(prog);
    free(prog);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;

    if (!f) {
        return NULL;
    }
    buf = mem_alloc(1u << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, 1u << 20, f);
    fclose(f);
    return buf;
}

/* The echo program powered off after "vmstate q": its blob is
 * tests/data/vmstate/echo.vmstate (RV_VMSTATE_WRITE_GOLDEN=1 rewrites it). */
static void test_golden(void **state)
{
    const char *dir = getenv("RV_VMSTATE_DATA_DIR");
    char *prog = write_echo();
    char path[4096];
    struct probe p = {.input = "vmstate q"}, p2 = {0};
    struct rv_machine *m = machine_new(prog, NULL, 32ull << 20, &p);
    struct rv_machine *fresh = machine_new(prog, NULL, 32ull << 20, &p2);
    struct rv_exit_info ex;
    uint8_t *blob, *gold, *again;
    size_t len, glen = 0, alen;
    struct err err;

    assert_non_null(dir);
    snprintf(path, sizeof(path), "%s/echo.vmstate", dir);
    assert_int_equal(rv_machine_run(m, &ex, &err), 0);
    assert_int_equal(rv_machine_vmstate_save(m, &blob, &len, &err), 0);
    if (getenv("RV_VMSTATE_WRITE_GOLDEN")) {
        FILE *f = fopen(path, "wb");

        assert_non_null(f);
        assert_int_equal(fwrite(blob, 1, len, f), len);
        fclose(f);
    }
    gold = read_all(path, &glen);
    assert_non_null(gold);
    /* This build writes the golden blob, byte for byte... */
    assert_int_equal(len, glen);
    assert_memory_equal(blob, gold, len);
    /* ...and a fresh machine loads it and writes it back unchanged. */
    if (rv_machine_vmstate_load(fresh, gold, glen, &err) < 0) {
        print_message("load: %s\n", err.msg);
        fail();
    }
    assert_int_equal(rv_machine_icount(fresh), rv_machine_icount(m));
    assert_int_equal(rv_machine_vmstate_save(fresh, &again, &alen, &err), 0);
    assert_int_equal(alen, glen);
    assert_memory_equal(again, gold, glen);
    mem_free(again);
    mem_free(gold);
    mem_free(blob);
    rv_machine_free(m);
    rv_machine_free(fresh);
    unlink(prog);
    free(prog);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_echo_save_every_slice, extras_setup),
        cmocka_unit_test_setup(test_isa_save_every_slice, extras_setup),
        cmocka_unit_test_setup(test_uboot_save_every_slice, extras_setup),
        cmocka_unit_test_setup(test_linux_save_every_few_slices, extras_setup),
        cmocka_unit_test_setup(test_refusals, extras_setup),
        cmocka_unit_test_setup(test_golden, extras_setup),
        cmocka_unit_test_setup(test_written_take_shares_marks, extras_setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
