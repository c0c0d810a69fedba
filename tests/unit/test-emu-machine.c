/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-emu-machine.c - the whole virt machine (real CPU, real
 * devices) running a tiny echo program: serial input through the input
 * hook, poweroff through sifive_test, and a state hash that depends only on
 * the program and its input.
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

#include "common/bytes.h"
#include "emulator/rv-int.h"
#include "emulator/rv.h"

/*
 * echo.S, built with riscv64-unknown-elf-gcc -nostdlib -march=rv64i
 * -Wl,-Ttext=0x80000000 and objcopy -O binary:
 *     lui t0,0x10000; 1: lbu t1,5(t0); andi t1,t1,1; beqz t1,1b
 *     lbu t2,0(t0); sb t2,0(t0); li t3,'q'; bne t2,t3,1b
 *     lui t0,0x100; lui t1,0x5; addi t1,t1,0x555; sw t1,0(t0); 2: j 2b
 */
static const uint32_t echo_prog[] = {
    0x100002b7, 0x0052c303, 0x00137313, 0xfe030ce3, 0x0002c383,
    0x00728023, 0x07100e13, 0xffc394e3, 0x001002b7, 0x00005337,
    0x55530313, 0x0062a023, 0x0000006f,
};

struct feed {
    const char *text;
    size_t pos;
    uint64_t last_icount;
    unsigned calls;
    bool monotonic;
};

static int feed_serial(void *opaque, uint64_t icount, int avail, uint8_t *byte)
{
    struct feed *f = opaque;

    f->calls++;
    if (icount < f->last_icount) {
        f->monotonic = false;
    }
    f->last_icount = icount;
    if (!f->text[f->pos]) {
        return 0;
    }
    *byte = (uint8_t)f->text[f->pos++];
    return 1;
}

static char *write_prog(void)
{
    char *path = strdup("/tmp/rrvm-test-echo-XXXXXX");
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

struct capture {
    char buf[256];
    size_t len;
};

static void capture_out(void *opaque, const uint8_t *src, size_t len)
{
    struct capture *c = opaque;

    if (len > sizeof(c->buf) - 1 - c->len) {
        len = sizeof(c->buf) - 1 - c->len;
    }
    memcpy(c->buf + c->len, src, len);
    c->len += len;
    c->buf[c->len] = '\0';
}

/* Run the echo program on @input; returns the serial output. */
static char *run_echo(const char *input, uint8_t *hash, uint64_t *icount,
                      struct rv_exit_info *ex, struct feed *f)
{
    static struct capture out;
    char *prog = write_prog();
    struct rv_machine_config cfg;
    struct rv_machine *m = NULL;
    struct err err;

    memset(&out, 0, sizeof(out));
    memset(f, 0, sizeof(*f));
    f->text = input;
    f->monotonic = true;
    rv_machine_config_init(&cfg);
    cfg.bios = prog;
    cfg.icount_sleep = false;
    cfg.serial_out = capture_out;
    cfg.serial_opaque = &out;
    cfg.hooks.opaque = f;
    cfg.hooks.serial = feed_serial;
    assert_int_equal(rv_machine_new(&cfg, &m, &err), 0);
    assert_int_equal(rv_machine_run(m, ex, &err), 0);
    assert_int_equal(rv_machine_state_hash(m, hash), 0);
    *icount = rv_machine_icount(m);
    rv_machine_free(m);
    unlink(prog);
    free(prog);
    return out.buf;
}

static void test_echo_and_poweroff(void **state)
{
    uint8_t h1[RV_STATE_HASH_LEN], h2[RV_STATE_HASH_LEN], h3[32];
    uint64_t ic1, ic2, ic3;
    struct rv_exit_info ex;
    struct feed f;

    assert_string_equal(run_echo("hello q", h1, &ic1, &ex, &f), "hello q");
    assert_int_equal(ex.kind, RV_EXIT_POWEROFF);
    assert_int_equal(ex.exit_code, 0);
    assert_true(f.monotonic);
    assert_true(f.calls >= 7);
    assert_true(ic1 > 7 * 5);
    /* Same input: same instructions, same state. */
    assert_string_equal(run_echo("hello q", h2, &ic2, &ex, &f), "hello q");
    assert_int_equal(ic1, ic2);
    assert_memory_equal(h1, h2, sizeof(h1));
    /* Different input: a different state. */
    assert_string_equal(run_echo("jello q", h3, &ic3, &ex, &f), "jello q");
    assert_memory_not_equal(h1, h3, sizeof(h1));
}

static void test_bad_config(void **state)
{
    struct rv_machine_config cfg;
    struct rv_machine *m = NULL;
    struct err err;

    rv_machine_config_init(&cfg);
    cfg.ram_size = 1 << 20;
    assert_int_equal(rv_machine_new(&cfg, &m, &err), -EINVAL);
    assert_null(m);
    rv_machine_config_init(&cfg);
    cfg.bios = "/nonexistent/firmware.bin";
    assert_int_equal(rv_machine_new(&cfg, &m, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/firmware.bin"));
    rv_machine_config_init(&cfg);
    cfg.icount_shift = 11;
    assert_int_equal(rv_machine_new(&cfg, &m, &err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_and_poweroff),
        cmocka_unit_test(test_bad_config),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
