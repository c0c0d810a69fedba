/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-qcow2-snapshot.c - internal snapshots and the VM-state
 * area, with qemu-img/qemu-io 7.2 as the oracle in both directions: what we
 * create, apply and delete passes `qemu-img check` and lists the same in
 * `qemu-img snapshot -l`; what qemu-img made, we list, apply and delete.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "qcow2/qcow2-int.h"
#include "qcow2/qcow2.h"

struct tmp {
    char dir[64];
    char img[128];
};

static void tmp_init(struct tmp *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/rrvm-snap-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->img, sizeof(t->img), "%s/s.qcow2", t->dir);
}

static void tmp_fini(struct tmp *t)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
    (void)!system(cmd);
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc)) {
        return -1;
    }
    return WEXITSTATUS(rc);
}

/* Output of a command, NUL-terminated, in @dst. */
static void capture(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void capture(char *dst, size_t cap, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    FILE *p;
    size_t n;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(dst, 1, cap - 1, p);
    dst[n] = '\0';
    pclose(p);
}

static void assert_qemu_clean(const char *path)
{
    char out[4096];

    if (run("qemu-img check -q -f qcow2 '%s' >/dev/null 2>&1", path) != 0) {
        capture(out, sizeof(out), "qemu-img check -f qcow2 '%s' 2>&1", path);
        fail_msg("qemu-img check not clean:\n%s", out);
    }
}

static struct qcow2_image *open_rw(const char *path)
{
    struct qcow2_image *q = NULL;
    struct err e = {0};

    if (qcow2_open(path, QCOW2_FORMAT_QCOW2, 0, &q, &e) < 0) {
        fail_msg("open %s: %s", path, e.msg);
    }
    return q;
}

/* Close (which releases our lock), let qemu-img check it, open again. */
static struct qcow2_image *reopen(struct qcow2_image *q, const char *path)
{
    assert_int_equal(qcow2_close(q), 0);
    assert_qemu_clean(path);
    return open_rw(path);
}

static void snap_create(struct qcow2_image *q, const char *name,
                        uint64_t vm_state_size, bool keep)
{
    struct qcow2_snapshot_params p;
    struct err e = {0};

    memset(&p, 0, sizeof(p));
    p.name = name;
    p.date_sec = 1700000000;
    p.date_nsec = 5;
    p.vm_clock_nsec = 1500000000ull;
    p.vm_state_size = vm_state_size;
    p.icount = 0;
    p.keep_vmstate = keep;
    if (qcow2_snapshot_create(q, &p, &e) < 0) {
        fail_msg("snapshot create %s: %s", name, e.msg);
    }
}

static void fill(struct qcow2_image *q, uint64_t off, size_t len, int byte)
{
    uint8_t *b = malloc(len);
    struct err e = {0};

    assert_non_null(b);
    memset(b, byte, len);
    if (qcow2_write(q, off, b, len, &e) < 0) {
        fail_msg("write: %s", e.msg);
    }
    free(b);
}

static void expect(struct qcow2_image *q, uint64_t off, size_t len, int byte)
{
    uint8_t *b = malloc(len);
    struct err e = {0};
    size_t i;

    assert_non_null(b);
    if (qcow2_read(q, off, b, len, &e) < 0) {
        fail_msg("read: %s", e.msg);
    }
    for (i = 0; i < len; i++) {
        if (b[i] != byte) {
            fail_msg("offset %llu: 0x%02x, expected 0x%02x",
                     (unsigned long long)(off + i), b[i], byte);
        }
    }
    free(b);
}

/*
 * `qemu-img snapshot -l` must show exactly our snapshots: the same ids and
 * tags in order, and the VM sizes qemu-img computes from our entries.
 */
static void assert_list_matches(struct qcow2_image *q, const char *path)
{
    struct qcow2_snapshot_info info[16];
    char out[8192], want[8192];
    size_t n, i, len = 0;

    n = qcow2_snapshot_list(q, info, 16);
    assert_true(n <= 16);
    want[0] = '\0';
    for (i = 0; i < n; i++) {
        len += (size_t)snprintf(want + len, sizeof(want) - len, "%s %s\n",
                                info[i].id, info[i].name);
    }
    capture(out, sizeof(out),
            "qemu-img snapshot -l -U '%s' | tail -n +3 | "
            "awk '{print $1, $2}'",
            path);
    assert_string_equal(out, want);
}

static void test_create_apply_delete(void **state)
{
    struct qcow2_image *q;
    struct tmp t;
    struct err e = {0};

    tmp_init(&t);
    assert_int_equal(run("qemu-img create -q -f qcow2 -o cluster_size=4096 "
                         "'%s' 1M && qemu-io -c 'write -P 0x11 0 64k' -c "
                         "'write -P 0x12 512k 4k' '%s' >/dev/null",
                         t.img, t.img),
                     0);
    q = open_rw(t.img);
    snap_create(q, "s1", 0, false);
    assert_int_equal(qcow2_snapshot_list(q, NULL, 0), 1);
    assert_list_matches(q, t.img);
    q = reopen(q, t.img);

    /* Diverge from the snapshot, then go back. */
    fill(q, 0, 8192, 0x21);
    fill(q, 700 * 1024, 4096, 0x22);
    snap_create(q, "s2", 0, false);
    fill(q, 4096, 4096, 0x31);
    q = reopen(q, t.img);
    assert_list_matches(q, t.img);

    if (qcow2_snapshot_apply(q, "s1", &e) < 0) {
        fail_msg("apply: %s", e.msg);
    }
    expect(q, 0, 65536, 0x11);
    expect(q, 512 * 1024, 4096, 0x12);
    expect(q, 700 * 1024, 4096, 0);
    q = reopen(q, t.img);

    /* By id: "2" is s2. */
    if (qcow2_snapshot_apply(q, "2", &e) < 0) {
        fail_msg("apply 2: %s", e.msg);
    }
    expect(q, 0, 8192, 0x21);
    expect(q, 8192, 4096, 0x11);
    expect(q, 700 * 1024, 4096, 0x22);

    if (qcow2_snapshot_delete(q, "s1", &e) < 0) {
        fail_msg("delete: %s", e.msg);
    }
    assert_int_equal(qcow2_snapshot_delete(q, "s1", &e), -ENOENT);
    assert_int_equal(qcow2_snapshot_apply(q, "nope", &e), -ENOENT);
    assert_list_matches(q, t.img);
    assert_int_equal(qcow2_close(q), 0);
    assert_qemu_clean(t.img);
    assert_int_equal(run("qemu-io -c 'read -P 0x21 0 8k' -c 'read -P 0x22 "
                         "700k 4k' '%s' >/dev/null",
                         t.img),
                     0);
    tmp_fini(&t);
}

/* Snapshots qemu-img made: we list their fields, apply and delete them. */
static void test_qemu_made(void **state)
{
    struct qcow2_snapshot_info info[4];
    struct qcow2_image *q;
    struct tmp t;
    struct err e = {0};
    char out[4096];

    tmp_init(&t);
    assert_int_equal(
        run("qemu-img create -q -f qcow2 '%s' 4M && qemu-io -c 'write -P "
            "0x41 0 128k' '%s' >/dev/null && qemu-img snapshot -c a '%s' && "
            "qemu-io -c 'write -P 0x42 64k 64k' '%s' >/dev/null && qemu-img "
            "snapshot -c b '%s' && qemu-io -c 'write -P 0x43 0 4k' '%s' "
            ">/dev/null",
            t.img, t.img, t.img, t.img, t.img, t.img),
        0);
    q = open_rw(t.img);
    assert_int_equal(qcow2_snapshot_list(q, info, 4), 2);
    assert_string_equal(info[0].id, "1");
    assert_string_equal(info[0].name, "a");
    assert_string_equal(info[1].id, "2");
    assert_string_equal(info[1].name, "b");
    assert_true(info[0].disk_size == 4 << 20);
    assert_true(info[0].icount == 0); /* qemu-img writes 0, not -1 */
    assert_true(info[0].vm_state_size == 0);
    capture(out, sizeof(out),
            "qemu-img info -U --output=json -f qcow2 '%s' | grep -c "
            "'\"date-sec\": %u'",
            t.img, info[0].date_sec);
    assert_true(atoi(out) >= 1);
    assert_list_matches(q, t.img);

    if (qcow2_snapshot_apply(q, "a", &e) < 0) {
        fail_msg("apply: %s", e.msg);
    }
    expect(q, 0, 128 * 1024, 0x41);
    if (qcow2_snapshot_delete(q, "b", &e) < 0) {
        fail_msg("delete: %s", e.msg);
    }
    /* A new id is max + 1 even after deleting the highest. */
    snap_create(q, "c", 0, false);
    assert_int_equal(qcow2_snapshot_list(q, info, 4), 2);
    assert_string_equal(info[1].id, "2");
    assert_int_equal(qcow2_close(q), 0);
    assert_qemu_clean(t.img);
    assert_int_equal(run("qemu-img snapshot -a c '%s' && qemu-io -c 'read -P "
                         "0x41 0 128k' '%s' >/dev/null",
                         t.img, t.img),
                     0);
    assert_qemu_clean(t.img);
    tmp_fini(&t);
}

/* Snapshots we made on an image made with qemu-img options @opts:
 * qemu-img applies them, lists them and deletes them. */
static void we_made(const char *opts)
{
    struct qcow2_image *q;
    struct tmp t;
    char out[4096];

    tmp_init(&t);
    assert_int_equal(
        run("qemu-img create -q -f qcow2 -o %s '%s' 2M", opts, t.img), 0);
    q = open_rw(t.img);
    fill(q, 0, 192 * 1024, 0x51);
    snap_create(q, "first", 0, false);
    fill(q, 64 * 1024, 64 * 1024, 0x52);
    snap_create(q, "second", 0, false);
    fill(q, 0, 4096, 0x53);
    assert_int_equal(qcow2_close(q), 0);
    assert_qemu_clean(t.img);

    capture(out, sizeof(out),
            "qemu-img snapshot -l '%s' | tail -n +3 | awk '{print "
            "$1, $2, $3, $4, $NF}'",
            t.img);
    assert_string_equal(out, "1 first 0 B 0\n2 second 0 B 0\n");
    /* The times we passed, as qemu-img reads them. */
    capture(out, sizeof(out),
            "qemu-img info --output=json -f qcow2 '%s' | grep -c -e "
            "'\"date-sec\": 1700000000' -e '\"date-nsec\": 5,' -e "
            "'\"vm-clock-sec\": 1,' -e '\"vm-clock-nsec\": 500000000'",
            t.img);
    assert_int_equal(atoi(out), 8);
    assert_int_equal(run("qemu-img snapshot -a first '%s' && qemu-io -c "
                         "'read -P 0x51 0 192k' '%s' >/dev/null",
                         t.img, t.img),
                     0);
    assert_int_equal(run("qemu-img snapshot -a 2 '%s' && qemu-io -c 'read -P "
                         "0x51 0 64k' -c 'read -P 0x52 64k 64k' '%s' "
                         ">/dev/null",
                         t.img, t.img),
                     0);
    assert_int_equal(run("qemu-img snapshot -d first '%s'", t.img), 0);
    assert_qemu_clean(t.img);
    tmp_fini(&t);
}

static void test_we_made(void **state)
{
    we_made("cluster_size=65536");
    we_made("compat=0.10,cluster_size=4096");
    we_made("cluster_size=16384,extended_l2=on");
    we_made("cluster_size=512,refcount_bits=64");
    we_made("cluster_size=4096,lazy_refcounts=on");
    we_made("cluster_size=4096,compression_type=zstd");
}

/* VM state written through us reads back through qemu-io -b after
 * qemu-img applies the snapshot, and through us after our apply. */
static void test_vmstate(void **state)
{
    struct qcow2_snapshot_info info[2];
    struct qcow2_image *q;
    struct tmp t;
    struct err e = {0};
    uint8_t *buf;
    size_t i, len = 100 * 1024;
    char out[4096];

    tmp_init(&t);
    assert_int_equal(run("qemu-img create -q -f qcow2 -o cluster_size=4096 "
                         "'%s' 1M",
                         t.img),
                     0);
    buf = malloc(len);
    assert_non_null(buf);
    memset(buf, 0xab, len);
    q = open_rw(t.img);
    fill(q, 0, 4096, 0x61);
    if (qcow2_vmstate_write(q, 0, buf, len, &e) < 0) {
        fail_msg("vmstate write: %s", e.msg);
    }
    snap_create(q, "vm", len, false);
    /* Dropped from the active L1 (QEMU's behaviour)... */
    memset(buf, 0x55, len);
    assert_int_equal(qcow2_vmstate_read(q, 0, buf, len, &e), 0);
    for (i = 0; i < len; i++) {
        assert_int_equal(buf[i], 0);
    }
    assert_int_equal(qcow2_snapshot_list(q, info, 2), 1);
    assert_true(info[0].vm_state_size == len);
    assert_int_equal(qcow2_close(q), 0);
    assert_qemu_clean(t.img);
    capture(out, sizeof(out),
            "qemu-img snapshot -l '%s' | tail -n +3 | awk '{print "
            "$2, $3, $4}'",
            t.img);
    assert_string_equal(out, "vm 100 KiB\n");

    /* ...and back once the snapshot is applied, through qemu-io... */
    assert_int_equal(run("cp '%s' '%s/copy.qcow2' && qemu-img snapshot -a vm "
                         "'%s/copy.qcow2' && qemu-io -c 'read -b -P 0xab 0 "
                         "100k' '%s/copy.qcow2' >/dev/null",
                         t.img, t.dir, t.dir, t.dir),
                     0);
    /* ...and through us. */
    q = open_rw(t.img);
    if (qcow2_snapshot_apply(q, "vm", &e) < 0) {
        fail_msg("apply: %s", e.msg);
    }
    assert_int_equal(qcow2_vmstate_read(q, 0, buf, len, &e), 0);
    for (i = 0; i < len; i++) {
        assert_int_equal(buf[i], 0xab);
    }
    expect(q, 0, 4096, 0x61);
    assert_int_equal(qcow2_close(q), 0);
    assert_qemu_clean(t.img);
    free(buf);
    tmp_fini(&t);
}

/* keep_vmstate leaves the VM state mapped in the active L1. */
static void test_vmstate_keep(void **state)
{
    struct qcow2_image *q;
    struct tmp t;
    struct err e = {0};
    uint8_t b[8192];
    size_t i;

    tmp_init(&t);
    assert_int_equal(run("qemu-img create -q -f qcow2 '%s' 1M", t.img), 0);
    q = open_rw(t.img);
    memset(b, 0xcd, sizeof(b));
    assert_int_equal(qcow2_vmstate_write(q, 4096, b, sizeof(b), &e), 0);
    snap_create(q, "k", 4096 + sizeof(b), true);
    memset(b, 0, sizeof(b));
    assert_int_equal(qcow2_vmstate_read(q, 4096, b, sizeof(b), &e), 0);
    for (i = 0; i < sizeof(b); i++) {
        assert_int_equal(b[i], 0xcd);
    }
    assert_int_equal(qcow2_close(q), 0);
    assert_qemu_clean(t.img);
    tmp_fini(&t);
}

/* Ids are unique, names may repeat (as in QEMU); refcount_bits=1 cannot
 * hold snapshots. */
static void test_errors(void **state)
{
    struct qcow2_snapshot_params p;
    struct qcow2_image *q;
    struct tmp t;
    struct err e = {0};

    tmp_init(&t);
    assert_int_equal(run("qemu-img create -q -f qcow2 '%s' 1M", t.img), 0);
    q = open_rw(t.img);
    snap_create(q, "dup", 0, false);
    memset(&p, 0, sizeof(p));
    p.name = "dup";
    assert_int_equal(qcow2_snapshot_create(q, &p, &e), 0);
    assert_int_equal(qcow2_snapshot_list(q, NULL, 0), 2);
    assert_int_equal(qcow2_snapshot_delete(q, "2", &e), 0);
    p.name = "other";
    p.id = "1";
    assert_int_equal(qcow2_snapshot_create(q, &p, &e), -EEXIST);
    /* An explicit id, and a name that looks like another's id. */
    p.id = "7";
    p.name = "1";
    assert_int_equal(qcow2_snapshot_create(q, &p, &e), 0);
    /* "1" is an id first: it names "dup", not the snapshot named "1". */
    assert_int_equal(qcow2_snapshot_delete(q, "1", &e), 0);
    assert_int_equal(qcow2_snapshot_list(q, NULL, 0), 1);
    assert_int_equal(qcow2_snapshot_delete(q, "1", &e), 0);
    assert_int_equal(qcow2_snapshot_list(q, NULL, 0), 0);
    assert_int_equal(qcow2_close(q), 0);
    assert_qemu_clean(t.img);

    assert_int_equal(run("qemu-img create -q -f qcow2 -o refcount_bits=1 "
                         "'%s/r1.qcow2' 1M",
                         t.dir),
                     0);
    {
        char path[256];

        snprintf(path, sizeof(path), "%s/r1.qcow2", t.dir);
        q = open_rw(path);
        memset(&p, 0, sizeof(p));
        p.name = "x";
        assert_int_equal(qcow2_snapshot_create(q, &p, &e), -ENOTSUP);
        assert_int_equal(qcow2_close(q), 0);
    }
    tmp_fini(&t);
}

/* Applying a snapshot taken at another size restores that size, as 7.2's
 * qemu-img does. */
static void test_apply_restores_size(void **state)
{
    struct qcow2_image *q;
    struct tmp t;
    struct err e = {0};
    char out[256];

    tmp_init(&t);
    assert_int_equal(run("qemu-img create -q -f qcow2 '%s' 1M && qemu-io -c "
                         "'write -P 0x71 0 64k' '%s' >/dev/null && qemu-img "
                         "snapshot -c small '%s' && qemu-img resize -q '%s' "
                         "3M && qemu-io -c 'write -P 0x72 2M 64k' '%s' "
                         ">/dev/null",
                         t.img, t.img, t.img, t.img, t.img),
                     0);
    q = open_rw(t.img);
    assert_true(qcow2_size(q) == 3 << 20);
    if (qcow2_snapshot_apply(q, "small", &e) < 0) {
        fail_msg("apply: %s", e.msg);
    }
    assert_true(qcow2_size(q) == 1 << 20);
    expect(q, 0, 65536, 0x71);
    snap_create(q, "again", 0, false);
    assert_int_equal(qcow2_close(q), 0);
    assert_qemu_clean(t.img);
    capture(out, sizeof(out),
            "qemu-img info -f qcow2 --output=json '%s' | grep -m1 "
            "'\"virtual-size\"'",
            t.img);
    assert_non_null(strstr(out, "1048576"));
    tmp_fini(&t);
}

/* Big-endian field access on an image file. */
static uint64_t img_rd(FILE *f, uint64_t off, int bytes)
{
    uint8_t b[8];
    uint64_t v = 0;
    int i;

    assert_int_equal(fseeko(f, (off_t)off, SEEK_SET), 0);
    assert_int_equal(fread(b, 1, (size_t)bytes, f), (size_t)bytes);
    for (i = 0; i < bytes; i++) {
        v = (v << 8) | b[i];
    }
    return v;
}

/* Extra data we do not know (iotest 261) survives a table rewrite. */
static void test_unknown_extra_data(void **state)
{
    struct qcow2_snapshot_info info[4];
    struct qcow2_image *q;
    struct tmp t;
    uint8_t entry[512], out[512];
    uint64_t tab;
    size_t len, id_name;
    FILE *f;

    tmp_init(&t);
    assert_int_equal(run("qemu-img create -q -f qcow2 '%s' 1M && qemu-io -c "
                         "'write -P 0x11 0 64k' '%s' >/dev/null && qemu-img "
                         "snapshot -c a '%s'",
                         t.img, t.img, t.img),
                     0);
    /* Grow entry 0's extra data from 24 to 32 bytes: "RRVMTEST". */
    f = fopen(t.img, "r+b");
    assert_non_null(f);
    tab = img_rd(f, 64, 8);
    assert_int_equal(img_rd(f, tab + 36, 4), 24);
    id_name = img_rd(f, tab + 12, 2) + img_rd(f, tab + 14, 2);
    len = 40 + 24 + id_name;
    assert_int_equal(fseeko(f, (off_t)tab, SEEK_SET), 0);
    assert_int_equal(fread(entry, 1, len, f), len);
    memcpy(out, entry, 64);
    out[39] = 32;
    memcpy(out + 64, "RRVMTEST", 8);
    memcpy(out + 72, entry + 64, id_name);
    assert_int_equal(fseeko(f, (off_t)tab, SEEK_SET), 0);
    assert_int_equal(fwrite(out, 1, len + 8, f), len + 8);
    assert_int_equal(fclose(f), 0);
    assert_qemu_clean(t.img);

    q = open_rw(t.img);
    snap_create(q, "b", 0, false);
    assert_int_equal(qcow2_snapshot_list(q, info, 4), 2);
    assert_true(info[0].disk_size == 1 << 20);
    assert_int_equal(qcow2_close(q), 0);
    assert_qemu_clean(t.img);

    f = fopen(t.img, "rb");
    assert_non_null(f);
    tab = img_rd(f, 64, 8);
    assert_int_equal(img_rd(f, 60, 4), 2);
    assert_int_equal(img_rd(f, tab + 36, 4), 32);
    assert_int_equal(fseeko(f, (off_t)(tab + 64), SEEK_SET), 0);
    assert_int_equal(fread(out, 1, 8, f), 8);
    assert_memory_equal(out, "RRVMTEST", 8);
    fclose(f);
    tmp_fini(&t);
}

/* With refcount_bits=2 a cluster holds three references: the third
 * snapshot cannot be taken, and failing costs no consistency. */
static void test_refcount_overflow(void **state)
{
    struct qcow2_snapshot_params p;
    struct qcow2_image *q;
    struct tmp t;
    struct err e = {0};
    int rc;

    tmp_init(&t);
    assert_int_equal(run("qemu-img create -q -f qcow2 -o refcount_bits=2 "
                         "'%s' 1M && qemu-io -c 'write -P 0x11 0 64k' '%s' "
                         ">/dev/null",
                         t.img, t.img),
                     0);
    q = open_rw(t.img);
    snap_create(q, "one", 0, false);
    snap_create(q, "two", 0, false);
    memset(&p, 0, sizeof(p));
    p.name = "three";
    assert_true(qcow2_snapshot_create(q, &p, &e) < 0);
    assert_int_equal(qcow2_snapshot_list(q, NULL, 0), 2);
    expect(q, 0, 65536, 0x11);
    assert_int_equal(qcow2_close(q), 0);
    rc = run("qemu-img check -q -f qcow2 '%s' >/dev/null 2>&1", t.img);
    assert_true(rc == 0 || rc == 3);
    tmp_fini(&t);
}

/* Judge an image with our own check (itself held to qemu-img's verdicts
 * by test-qcow2-check): no corruption and no internal error. */
static void assert_no_corruption(const char *path, int op, long n)
{
    struct qcow2_check_result r;
    struct qcow2_image *q = NULL;
    struct err e = {0};

    if (qcow2_open(path, QCOW2_FORMAT_QCOW2,
                   QCOW2_OPEN_RDONLY | QCOW2_OPEN_CHECK, &q, &e) < 0) {
        fail_msg("op %d, failing allocation %ld: open: %s", op, n, e.msg);
    }
    if (qcow2_check(q, 0, NULL, NULL, &r, &e) < 0 || r.corruptions ||
        r.check_errors) {
        fail_msg("op %d, failing allocation %ld: %d corruptions, %d errors "
                 "(%s)",
                 op, n, r.corruptions, r.check_errors, e.msg);
    }
    qcow2_close(q);
}

/* Fault injection: fail the Nth allocation during create/apply/delete,
 * for every N until the operation succeeds; each failure must leave an
 * image without corruption (leaks are allowed). */
static void test_alloc_failures(void **state)
{
    struct qcow2_snapshot_params p;
    struct qcow2_image *q;
    struct tmp t;
    struct err e = {0};
    long n;
    int op, ret = -1;

    tmp_init(&t);
    assert_int_equal(run("qemu-img create -q -f qcow2 -o cluster_size=4096 "
                         "'%s/base.qcow2' 256k && qemu-io -c 'write -P 0x11 "
                         "0 32k' -c 'write -P 0x12 128k 8k' '%s/base.qcow2' "
                         ">/dev/null && qemu-img snapshot -c base "
                         "'%s/base.qcow2' && qemu-io -c 'write -P 0x13 4k 4k' "
                         "'%s/base.qcow2' >/dev/null",
                         t.dir, t.dir, t.dir, t.dir),
                     0);
    for (op = 0; op < 3; op++) {
        for (n = 0; n < 1000; n++) {
            assert_int_equal(run("cp '%s/base.qcow2' '%s'", t.dir, t.img), 0);
            q = open_rw(t.img);
            memset(&p, 0, sizeof(p));
            p.name = "new";
            mem_fail_after(n, 0);
            if (op == 0) {
                ret = qcow2_snapshot_create(q, &p, &e);
            } else if (op == 1) {
                ret = qcow2_snapshot_apply(q, "base", &e);
            } else {
                ret = qcow2_snapshot_delete(q, "base", &e);
            }
            mem_fail_after(-1, 0);
            qcow2_close(q);
            assert_no_corruption(t.img, op, n);
            if (ret == 0) {
                break;
            }
        }
        assert_int_equal(ret, 0);
        assert_qemu_clean(t.img);
    }
    tmp_fini(&t);
}

/* Limit the size files may grow to (RLIMIT_FSIZE); 0 lifts it. */
static void file_size_limit(uint64_t bytes)
{
    struct rlimit rl;

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = bytes ? (rlim_t)bytes : rl.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/*
 * Writes that fail (the file may not grow, so every new structure's write
 * fails) leave the image and the open handle as they were: the snapshot
 * list and the data are the old ones, and the same handle then completes
 * the operation.
 */
static void test_write_failures(void **state)
{
    struct qcow2_snapshot_params p;
    struct qcow2_snapshot_info info[4];
    struct qcow2_image *q;
    struct tmp t;
    struct err e = {0};
    struct stat st;
    int op, ret;

    signal(SIGXFSZ, SIG_IGN);
    tmp_init(&t);
    for (op = 0; op < 3; op++) {
        /* A fresh image has no free cluster below its end. */
        assert_int_equal(run("rm -f '%s' && qemu-img create -q -f qcow2 -o "
                             "cluster_size=4096 '%s' 1M && qemu-io -c 'write "
                             "-P 0x11 0 256k' '%s' >/dev/null && qemu-img "
                             "snapshot -c base '%s' && qemu-io -c 'write -P "
                             "0x12 0 64k' '%s' >/dev/null",
                             t.img, t.img, t.img, t.img, t.img),
                         0);
        q = open_rw(t.img);
        assert_int_equal(stat(t.img, &st), 0);
        file_size_limit((uint64_t)st.st_size);
        memset(&p, 0, sizeof(p));
        p.name = "new";
        if (op == 0) {
            ret = qcow2_snapshot_create(q, &p, &e);
        } else if (op == 1) {
            ret = qcow2_snapshot_apply(q, "base", &e);
        } else {
            ret = qcow2_snapshot_delete(q, "base", &e);
        }
        file_size_limit(0);
        assert_true(ret < 0);
        print_message("# op %d failed as it should: %s\n", op, e.msg);
        assert_int_equal(qcow2_snapshot_list(q, info, 4), 1);
        assert_string_equal(info[0].name, "base");
        expect(q, 0, 65536, 0x12);
        expect(q, 65536, 65536, 0x11);
        if (op == 0) {
            snap_create(q, "new", 0, false);
            assert_int_equal(qcow2_snapshot_list(q, NULL, 0), 2);
        } else if (op == 1) {
            assert_int_equal(qcow2_snapshot_apply(q, "base", &e), 0);
            expect(q, 0, 65536, 0x11);
        } else {
            assert_int_equal(qcow2_snapshot_delete(q, "base", &e), 0);
            assert_int_equal(qcow2_snapshot_list(q, NULL, 0), 0);
        }
        assert_int_equal(qcow2_close(q), 0);
        assert_qemu_clean(t.img);
    }
    tmp_fini(&t);
}

/*
 * A persistent bitmap's directory, table and data clusters stay counted
 * through create, apply and delete (the new refcounts are computed from
 * scratch, so anything left out would be freed); lazy refcounts with the
 * dirty bit set keep working, and close clears the bit.
 */
/* A read-only image reads through a snapshot's L1 at its current size;
 * a writable one refuses, and so does an unknown id. */
static void test_load_tmp(void **state)
{
    struct qcow2_image *q;
    struct tmp t;
    struct err e = {0};
    uint8_t buf[4096];

    (void)state;
    tmp_init(&t);
    assert_int_equal(
        run("qemu-img create -q -f qcow2 '%s' 1M && qemu-io -c 'write -P 0x61 "
            "0 64k' '%s' >/dev/null && qemu-img snapshot -c one '%s' && "
            "qemu-io -c 'write -P 0x62 0 64k' '%s' >/dev/null && qemu-img "
            "resize -q '%s' 2M && qemu-io -c 'write -P 0x63 1536k 4k' '%s' "
            ">/dev/null",
            t.img, t.img, t.img, t.img, t.img, t.img),
        0);
    q = open_rw(t.img);
    assert_int_equal(qcow2_snapshot_load_tmp(q, "1", &e), -EINVAL);
    qcow2_close(q);
    assert_int_equal(
        qcow2_open(t.img, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &q, &e), 0);
    assert_int_equal(qcow2_snapshot_load_tmp(q, "one", &e), -ENOENT);
    assert_int_equal(qcow2_snapshot_load_tmp(q, "1", &e), 0);
    assert_int_equal(qcow2_size(q), 2u << 20);
    assert_int_equal(qcow2_read(q, 0, buf, sizeof(buf), &e), 0);
    assert_int_equal(buf[0], 0x61);
    assert_int_equal(buf[4095], 0x61);
    assert_int_equal(qcow2_read(q, 1536 << 10, buf, sizeof(buf), &e), 0);
    assert_int_equal(buf[0], 0);
    qcow2_close(q);
    tmp_fini(&t);
}

/* The bitmap directory as QEMU wrote it: names, flags, granularity; and
 * the in-use flag we set before our first write. */
static void test_bitmap_list(void **state)
{
    struct qcow2_bitmap_info b[2];
    struct qcow2_image *q;
    struct tmp t;
    struct err e = {0};
    size_t nb = 99;

    (void)state;
    tmp_init(&t);
    assert_int_equal(run("qemu-img create -q -f qcow2 '%s' 4M", t.img), 0);
    q = open_rw(t.img);
    assert_int_equal(qcow2_bitmap_list(q, NULL, 0, &nb, &e), 0);
    assert_int_equal(nb, 0);
    qcow2_close(q);
    assert_int_equal(run("qemu-img bitmap --add '%s' first && qemu-img bitmap "
                         "--add --granularity 128k --disable '%s' "
                         "second-with-a-longer-name",
                         t.img, t.img),
                     0);
    assert_int_equal(
        qcow2_open(t.img, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &q, &e), 0);
    assert_int_equal(qcow2_bitmap_list(q, b, 1, &nb, &e), 0);
    assert_int_equal(nb, 2);
    assert_string_equal(b[0].name, "first");
    assert_int_equal(b[0].flags, QCOW2_BITMAP_AUTO);
    assert_int_equal(b[0].granularity, 65536);
    qcow2_close(q);
    q = open_rw(t.img);
    assert_int_equal(qcow2_write(q, 0, "x", 1, &e), 0);
    assert_int_equal(qcow2_bitmap_list(q, b, 2, &nb, &e), 0);
    assert_int_equal(nb, 2);
    assert_int_equal(b[0].flags, QCOW2_BITMAP_AUTO | QCOW2_BITMAP_IN_USE);
    assert_string_equal(b[1].name, "second-with-a-longer-name");
    assert_int_equal(b[1].flags, QCOW2_BITMAP_IN_USE);
    assert_int_equal(b[1].granularity, 131072);
    qcow2_close(q);
    tmp_fini(&t);
}

static void test_bitmaps_and_lazy(void **state)
{
    struct qcow2_image *q;
    struct tmp t;
    struct err e = {0};
    char out[4096];
    FILE *f;
    int lazy;

    tmp_init(&t);
    for (lazy = 0; lazy < 2; lazy++) {
        if (lazy) {
            assert_int_equal(run("rm -f '%s' && qemu-img create -q -f qcow2 "
                                 "-o cluster_size=4096,lazy_refcounts=on "
                                 "'%s' 1M",
                                 t.img, t.img),
                             0);
        } else {
            assert_int_equal(run("rm -f '%s' && qemu-img create -q -f qcow2 "
                                 "-o cluster_size=4096 '%s' 1M && qemu-img "
                                 "bitmap --add '%s' b0 && qemu-io -c 'write "
                                 "-P 1 0 128k' '%s' >/dev/null",
                                 t.img, t.img, t.img, t.img),
                             0);
        }
        q = open_rw(t.img);
        fill(q, 64 * 1024, 128 * 1024, 0x41);
        if (lazy) {
            /* The first write set the dirty bit on disk. */
            f = fopen(t.img, "rb");
            assert_non_null(f);
            assert_int_equal(img_rd(f, 72, 8) & 1, 1);
            fclose(f);
        }
        snap_create(q, "s1", 0, false);
        fill(q, 0, 128 * 1024, 0x42);
        snap_create(q, "s2", 0, false);
        assert_int_equal(qcow2_snapshot_apply(q, "s1", &e), 0);
        expect(q, 64 * 1024, 128 * 1024, 0x41);
        assert_int_equal(qcow2_snapshot_delete(q, "s2", &e), 0);
        fill(q, 512 * 1024, 8192, 0x43);
        assert_int_equal(qcow2_close(q), 0);
        assert_qemu_clean(t.img);
        f = fopen(t.img, "rb");
        assert_non_null(f);
        assert_int_equal(img_rd(f, 72, 8) & 1, 0);
        fclose(f);
        if (!lazy) {
            capture(out, sizeof(out),
                    "qemu-img info -f qcow2 '%s' | grep -c 'name: b0'", t.img);
            assert_int_equal(atoi(out), 1);
        }
        assert_int_equal(run("qemu-io -c 'read -P 0x41 64k 128k' -c 'read "
                             "-P 0x43 512k 8k' '%s' >/dev/null",
                             t.img),
                         0);
    }
    tmp_fini(&t);
}

/*
 * A data cluster whose refcount is 0 (a corruption) is still never taken
 * for the new structures: the new state is counted before anything is
 * placed. The operation rewrites the refcounts, which repairs the image.
 */
static void test_refcount_zero_data(void **state)
{
    struct qcow2_image *q;
    struct tmp t;
    char out[256];
    uint64_t host, rt, rb;
    uint8_t zero[2] = {0, 0};
    FILE *f;

    tmp_init(&t);
    assert_int_equal(run("qemu-img create -q -f qcow2 -o cluster_size=4096 "
                         "'%s' 1M && qemu-io -c 'write -P 0x11 0 4k' -c "
                         "'write -P 0x12 4k 60k' '%s' >/dev/null",
                         t.img, t.img),
                     0);
    capture(out, sizeof(out),
            "qemu-img map --output=json '%s' | grep -m1 -o '\"offset\": "
            "[0-9]*' | grep -o '[0-9]*$'",
            t.img);
    host = strtoull(out, NULL, 10);
    assert_true(host >= 4096);
    f = fopen(t.img, "r+b");
    assert_non_null(f);
    rt = img_rd(f, 48, 8);
    rb = img_rd(f, rt, 8);
    assert_int_equal(img_rd(f, rb + 2 * (host / 4096), 2), 1);
    assert_int_equal(fseeko(f, (off_t)(rb + 2 * (host / 4096)), SEEK_SET), 0);
    assert_int_equal(fwrite(zero, 1, 2, f), 2);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(run("qemu-img check -q '%s' >/dev/null 2>&1", t.img), 2);

    q = open_rw(t.img);
    snap_create(q, "s", 0, false);
    expect(q, 0, 4096, 0x11);
    expect(q, 4096, 60 * 1024, 0x12);
    assert_int_equal(qcow2_close(q), 0);
    assert_qemu_clean(t.img);
    assert_int_equal(
        run("qemu-io -c 'read -P 0x11 0 4k' '%s' >/dev/null", t.img), 0);
    tmp_fini(&t);
}

/* With cache=none (O_DIRECT, bounced I/O) the operations work alike,
 * the one-sector header switch included. */
static void test_nocache(void **state)
{
    struct qcow2_image *q = NULL;
    struct tmp t;
    struct err e = {0};

    tmp_init(&t);
    assert_int_equal(run("qemu-img create -q -f qcow2 -o cluster_size=4096 "
                         "'%s' 1M && qemu-io -c 'write -P 0x11 0 64k' '%s' "
                         ">/dev/null",
                         t.img, t.img),
                     0);
    if (qcow2_open(t.img, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_NOCACHE, &q, &e) < 0) {
        /* Only a temporary directory without O_DIRECT (ramfs) may skip;
         * any other failure is one. */
        if (!strstr(e.msg, "does not support O_DIRECT")) {
            fail_msg("open with O_DIRECT: %s", e.msg);
        }
        print_message("# skipped: %s\n", e.msg);
        tmp_fini(&t);
        skip();
    }
    snap_create(q, "a", 0, false);
    fill(q, 0, 8192, 0x22);
    snap_create(q, "b", 0, false);
    assert_int_equal(qcow2_snapshot_apply(q, "a", &e), 0);
    expect(q, 0, 65536, 0x11);
    assert_int_equal(qcow2_snapshot_delete(q, "b", &e), 0);
    assert_int_equal(qcow2_close(q), 0);
    assert_qemu_clean(t.img);
    assert_int_equal(run("qemu-img snapshot -l '%s' | grep -c ' a ' | grep -qx "
                         "1 && qemu-io -c 'read -P 0x11 0 64k' '%s' >/dev/null",
                         t.img, t.img),
                     0);
    tmp_fini(&t);
}

/* Find tests/data/qcow2-damaged from the source path or the executable. */
static void find_data_dir(char *dst, size_t cap)
{
    char exe[4096], cand[4096 + 64], *p;
    ssize_t n;
    struct stat st;

    snprintf(cand, sizeof(cand), "%s", __FILE__);
    p = strrchr(cand, '/');
    if (p) {
        strcpy(p, "/../data/qcow2-damaged");
        if (stat(cand, &st) == 0 && realpath(cand, exe)) {
            snprintf(dst, cap, "%s", exe);
            return;
        }
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    while ((p = strrchr(exe, '/')) && p != exe) {
        *p = '\0';
        snprintf(cand, sizeof(cand), "%s/tests/data/qcow2-damaged/make.sh",
                 exe);
        if (stat(cand, &st) == 0) {
            snprintf(cand, sizeof(cand), "%s/tests/data/qcow2-damaged", exe);
            assert_non_null(realpath(cand, exe));
            snprintf(dst, cap, "%s", exe);
            return;
        }
    }
    fail_msg("tests/data/qcow2-damaged not found");
}

/*
 * Hostile snapshot tables and L1s (the corpus): opening either fails
 * cleanly or the snapshot operations fail cleanly; nothing crashes, and
 * no operation leaves corruption qemu-img did not already see.
 */
static void test_hostile(void **state)
{
    static const char *const files[] = {
        "snap-clean.qcow2",        "snap-table-eof.qcow2",
        "snap-extra-huge.qcow2",   "snap-extra-none.qcow2",
        "snap-l1-unaligned.qcow2", "snap-l1-huge.qcow2",
        "snap-refcount-low.qcow2", "l1-into-header.qcow2",
    };
    struct qcow2_snapshot_info info[4];
    char dir[4096];
    struct tmp t;
    size_t i;

    find_data_dir(dir, sizeof(dir));
    tmp_init(&t);
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct qcow2_image *q = NULL;
        struct err e = {0};
        int before, after, ret;
        size_t n;

        assert_int_equal(run("cp '%s/%s' '%s'", dir, files[i], t.img), 0);
        before = run("qemu-img check -q -f qcow2 '%s' >/dev/null 2>&1", t.img);
        ret = qcow2_open(t.img, QCOW2_FORMAT_QCOW2, 0, &q, &e);
        if (ret < 0) {
            print_message("# %s: open refused: %s\n", files[i], e.msg);
            continue;
        }
        n = qcow2_snapshot_list(q, info, 4);
        if (n > 0) {
            ret = qcow2_snapshot_apply(q, info[0].id, &e);
            print_message("# %s: apply: %d %s\n", files[i], ret,
                          ret < 0 ? e.msg : "");
            ret = qcow2_snapshot_delete(q, info[0].id, &e);
            print_message("# %s: delete: %d %s\n", files[i], ret,
                          ret < 0 ? e.msg : "");
        }
        qcow2_close(q);
        after = run("qemu-img check -q -f qcow2 '%s' >/dev/null 2>&1", t.img);
        if (after == 2 && before != 2) {
            fail_msg("%s: snapshot operations corrupted the image", files[i]);
        }
    }
    tmp_fini(&t);
}

/* Check lines collected from qcow2_check(). */
struct chk_lines {
    char v[512][160];
    int n;
};

static void chk_lines_cb(void *opaque, const char *line)
{
    struct chk_lines *l = opaque;

    if (l->n < 512) {
        snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", line);
    }
}

/* The first problem line that is not a leak, or NULL. */
static const char *first_problem(const struct chk_lines *l)
{
    int i;

    for (i = 0; i < l->n; i++) {
        if (strncmp(l->v[i], "Leaked cluster ", 15)) {
            return l->v[i];
        }
    }
    return NULL;
}

/* ---- Crash consistency of snapshot operations ---- */

struct io_ev {
    enum qcow2_io_event kind;
    uint64_t off;
    uint64_t len;
    uint8_t *data; /* owned copy for writes */
};

struct io_log {
    struct io_ev ev[16384];
    size_t nb;
};

static void io_log_cb(void *opaque, enum qcow2_io_event kind, uint64_t off,
                      const void *buf, uint64_t len)
{
    struct io_log *l = opaque;
    struct io_ev *e;

    assert_true(l->nb < sizeof(l->ev) / sizeof(l->ev[0]));
    e = &l->ev[l->nb++];
    e->kind = kind;
    e->off = off;
    e->len = len;
    e->data = NULL;
    if (kind == QCOW2_IO_WRITE) {
        e->data = malloc(len ? len : 1);
        assert_non_null(e->data);
        memcpy(e->data, buf, len);
    }
}

static void io_log_free(struct io_log *l)
{
    size_t i;

    for (i = 0; i < l->nb; i++) {
        free(l->ev[i].data);
    }
    l->nb = 0;
}

/* A byte image of a file that events are replayed onto. */
struct fimg {
    uint8_t *b;
    uint64_t len;
    uint64_t cap;
};

static void fimg_reserve(struct fimg *f, uint64_t len)
{
    if (len > f->cap) {
        uint64_t cap = len * 2;

        f->b = realloc(f->b, cap);
        assert_non_null(f->b);
        memset(f->b + f->cap, 0, cap - f->cap);
        f->cap = cap;
    }
}

/* Apply event @e; with @torn, only a random subset of its sectors. */
static void fimg_apply(struct fimg *f, const struct io_ev *e, bool torn,
                       unsigned *seed)
{
    uint64_t s;

    if (e->kind == QCOW2_IO_TRUNCATE) {
        fimg_reserve(f, e->len);
        if (e->len < f->len) {
            memset(f->b + e->len, 0, f->len - e->len);
        }
        f->len = e->len;
        return;
    }
    if (e->kind != QCOW2_IO_WRITE) {
        return;
    }
    fimg_reserve(f, e->off + e->len);
    for (s = 0; s < e->len; s += 512) {
        uint64_t n = e->len - s < 512 ? e->len - s : 512;

        if (torn && (rand_r(seed) & 1)) {
            continue;
        }
        memcpy(f->b + e->off + s, e->data + s, n);
        if (e->off + s + n > f->len) {
            f->len = e->off + s + n;
        }
    }
}

static void file_load(const char *path, struct fimg *f)
{
    FILE *fp = fopen(path, "rb");
    long n;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    assert_true(n > 0);
    rewind(fp);
    memset(f, 0, sizeof(*f));
    fimg_reserve(f, (uint64_t)n);
    assert_int_equal(fread(f->b, 1, (size_t)n, fp), (size_t)n);
    f->len = (uint64_t)n;
    fclose(fp);
}

static void file_store(const char *path, const struct fimg *f)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(f->b, 1, f->len, fp), f->len);
    assert_int_equal(fclose(fp), 0);
}

/* Guest contents of @path (qcow2_size() bytes, malloc'd) and its size. */
static uint8_t *guest_bytes(const char *path, uint64_t *size)
{
    struct qcow2_image *q = NULL;
    struct err e = {0};
    uint8_t *b;

    if (qcow2_open(path, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &q, &e) < 0) {
        fail_msg("open %s: %s", path, e.msg);
    }
    *size = qcow2_size(q);
    b = malloc(*size ? *size : 1);
    assert_non_null(b);
    if (qcow2_read(q, 0, b, *size, &e) < 0) {
        fail_msg("read %s: %s", path, e.msg);
    }
    qcow2_close(q);
    return b;
}

/* "id name\n" per snapshot of @path, as we read the table. */
static void snap_ids(const char *path, char *dst, size_t cap)
{
    struct qcow2_snapshot_info info[16];
    struct qcow2_image *q = NULL;
    struct err e = {0};
    size_t n, i, len = 0;

    if (qcow2_open(path, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &q, &e) < 0) {
        fail_msg("open %s: %s", path, e.msg);
    }
    n = qcow2_snapshot_list(q, info, 16);
    assert_true(n <= 16);
    dst[0] = '\0';
    for (i = 0; i < n; i++) {
        len += (size_t)snprintf(dst + len, cap - len, "%s %s\n", info[i].id,
                                info[i].name);
    }
    qcow2_close(q);
}

/*
 * Run snapshot operation @op (0 create, 1 apply "base", 2 delete "base", 3
 * create with VM state; 4 is commit's make_empty) on a copy of @base while
 * tracing its file I/O,
 * then rebuild the file as a crash at every point of the trace would leave
 * it: events before the last flush land, those after it up to the cut land
 * torn (each sector kept or not), the rest are lost. Every crashed image
 * must pass `qemu-img check` with nothing worse than leaks (exit 0 or 3)
 * and show either the old state (snapshot list and guest data) or the new
 * one, never a mix.
 */
static void crash_op(const char *dir, const char *base, int op)
{
    static struct io_log log;
    static struct chk_lines lines;
    struct qcow2_snapshot_params p;
    struct qcow2_image *q;
    struct fimg orig, cur;
    struct err e = {0};
    char work[256], crashed[256];
    char old_ids[1024], new_ids[1024], ids[1024];
    uint8_t *old_data, *new_data;
    uint64_t old_size, new_size;
    size_t cut, i, last_flush;
    unsigned seed = 1234u + (unsigned)op;
    int ret, nb_old = 0, nb_new = 0;

    snprintf(work, sizeof(work), "%s/work.qcow2", dir);
    snprintf(crashed, sizeof(crashed), "%s/crashed.qcow2", dir);
    assert_int_equal(run("cp '%s' '%s'", base, work), 0);
    file_load(work, &orig);
    old_data = guest_bytes(work, &old_size);
    snap_ids(work, old_ids, sizeof(old_ids));
    q = open_rw(work);
    log.nb = 0;
    qcow2_io_set_trace(q, io_log_cb, &log);
    memset(&p, 0, sizeof(p));
    p.name = "new";
    p.icount = UINT64_MAX;
    if (op == 3) {
        /* With VM state (the base images have 12k of it), which is then
         * dropped from the active L1. */
        p.vm_state_size = 12288;
    }
    if (op == 0 || op == 3) {
        ret = qcow2_snapshot_create(q, &p, &e);
    } else if (op == 4) {
        ret = qcow2_make_empty(q, &e);
    } else if (op == 1) {
        ret = qcow2_snapshot_apply(q, "base", &e);
    } else {
        ret = qcow2_snapshot_delete(q, "base", &e);
    }
    if (ret < 0) {
        fail_msg("%s op %d: %s", base, op, e.msg);
    }
    assert_int_equal(qcow2_close(q), 0);
    assert_true(log.nb > 0);
    assert_qemu_clean(work);
    new_data = guest_bytes(work, &new_size);
    snap_ids(work, new_ids, sizeof(new_ids));
    if (op != 4) {
        assert_string_not_equal(old_ids, op == 1 ? "" : new_ids);
    }

    for (cut = 0; cut <= log.nb; cut++) {
        struct qcow2_check_result r;
        struct qcow2_image *c = NULL;
        uint8_t *data;
        uint64_t size;
        bool is_new;
        int rc;

        last_flush = 0;
        for (i = 0; i < cut; i++) {
            if (log.ev[i].kind == QCOW2_IO_FLUSH) {
                last_flush = i + 1;
            }
        }
        memset(&cur, 0, sizeof(cur));
        fimg_reserve(&cur, orig.len);
        memcpy(cur.b, orig.b, orig.len);
        cur.len = orig.len;
        for (i = 0; i < cut; i++) {
            fimg_apply(&cur, &log.ev[i], i >= last_flush, &seed);
        }
        file_store(crashed, &cur);
        free(cur.b);

        if (qcow2_open(crashed, QCOW2_FORMAT_QCOW2,
                       QCOW2_OPEN_RDONLY | QCOW2_OPEN_CHECK, &c, &e) < 0) {
            fail_msg("%s op %d cut %zu/%zu: open: %s", base, op, cut, log.nb,
                     e.msg);
        }
        lines.n = 0;
        if (qcow2_check(c, 0, chk_lines_cb, &lines, &r, &e) < 0 ||
            r.check_errors || r.corruptions) {
            for (i = 0; i < log.nb; i++) {
                print_message("# event %zu: kind %d off %#llx len %llu\n", i,
                              (int)log.ev[i].kind,
                              (unsigned long long)log.ev[i].off,
                              (unsigned long long)log.ev[i].len);
            }
            (void)!run("qemu-img check -f qcow2 '%s' 2>&1 | head", crashed);
            fail_msg("%s op %d cut %zu/%zu: %d corruptions %d errors (%s): %s",
                     base, op, cut, log.nb, r.corruptions, r.check_errors,
                     e.msg, first_problem(&lines));
        }
        qcow2_close(c);
        /* qemu-img agrees: nothing worse than leaks. */
        rc = run("qemu-img check -q -f qcow2 '%s' >/dev/null 2>&1", crashed);
        if (rc != 0 && rc != 3) {
            (void)!run("qemu-img check -f qcow2 '%s' 2>&1 | head", crashed);
            fail_msg("%s op %d cut %zu/%zu: qemu-img check exit %d", base, op,
                     cut, log.nb, rc);
        }
        /* The old state or the new one: list and guest data agree. */
        snap_ids(crashed, ids, sizeof(ids));
        data = guest_bytes(crashed, &size);
        if (op == 1 || op == 4) {
            is_new = size == new_size && !memcmp(data, new_data, size) &&
                     (size != old_size || memcmp(data, old_data, size));
        } else {
            is_new = !strcmp(ids, new_ids);
        }
        if (is_new) {
            assert_string_equal(ids, new_ids);
            assert_true(size == new_size);
            assert_memory_equal(data, new_data, size);
            nb_new++;
        } else {
            assert_string_equal(ids, old_ids);
            assert_true(size == old_size);
            if (memcmp(data, old_data, size)) {
                fail_msg("%s op %d cut %zu/%zu: guest data is neither the "
                         "old nor the new",
                         base, op, cut, log.nb);
            }
            nb_old++;
        }
        free(data);
    }
    /* Both states were seen: the switch is somewhere in the trace. */
    assert_true(nb_old > 0 && nb_new > 0);
    free(old_data);
    free(new_data);
    free(orig.b);
    io_log_free(&log);
}

/*
 * A base image: qemu-img options @opts, @size, data, snapshot "base", more
 * data and 12k of VM state; with @more, two more snapshots with data
 * written between them; with @bitmap, a persistent dirty bitmap that
 * records all those writes.
 */
static void make_base(const char *path, const char *opts, const char *size,
                      bool more, bool bitmap)
{
    assert_int_equal(
        run("qemu-img create -q -f qcow2 -o %s '%s' %s", opts, path, size), 0);
    if (bitmap) {
        assert_int_equal(run("qemu-img bitmap --add '%s' b0", path), 0);
    }
    assert_int_equal(run("qemu-io -c 'write -P 0x11 0 96k' -c 'write -P 0x12 "
                         "300k 8k' '%s' >/dev/null && qemu-img snapshot -c "
                         "base '%s' && qemu-io -c 'write -P 0x13 8k 8k' -c "
                         "'write -b -P 0x14 0 12k' '%s' >/dev/null",
                         path, path, path),
                     0);
    if (more) {
        assert_int_equal(run("qemu-img snapshot -c two '%s' && qemu-io -c "
                             "'write -P 0x15 64k 200k' '%s' >/dev/null && "
                             "qemu-img snapshot -c three '%s' && qemu-io -c "
                             "'write -P 0x16 4k 16k' -c 'write -z 400k 64k' "
                             "'%s' >/dev/null",
                             path, path, path, path),
                         0);
    }
}

/* Crash tests of the operations in bit mask @ops (bit 0 create, 1 apply,
 * 2 delete, 3 create with VM state) on a make_base() image. */
static void crash_all(const char *opts, const char *size, bool more,
                      bool bitmap, int ops)
{
    struct tmp t;
    char base[256];
    int op;

    tmp_init(&t);
    snprintf(base, sizeof(base), "%s/base.qcow2", t.dir);
    make_base(base, opts, size, more, bitmap);
    for (op = 0; op < 4; op++) {
        if (ops & (1 << op)) {
            crash_op(t.dir, base, op);
        }
    }
    tmp_fini(&t);
}

/* make_empty rewrites the image in place (QEMU's make_completely_empty):
 * a crash anywhere leaves the old data or an empty image, with leaks. */
static void test_crash_make_empty(void **state)
{
    struct tmp t;
    char base[256];

    (void)state;
    tmp_init(&t);
    snprintf(base, sizeof(base), "%s/base.qcow2", t.dir);
    assert_int_equal(
        run("qemu-img create -q -f qcow2 -o cluster_size=4096 '%s' 600M && "
            "qemu-io -c 'write -P 0x11 0 96k' -c 'write -c -P 0x12 300k 4k' "
            "-c 'write -z 400k 8k' -c 'write -P 0x13 520M 8k' '%s' >/dev/null",
            base, base),
        0);
    crash_op(t.dir, base, 4);
    tmp_fini(&t);
}

static void test_crash_consistency(void **state)
{
    crash_all("cluster_size=4096", "512k", false, false, 15);
}

static void test_crash_many_snapshots(void **state)
{
    crash_all("cluster_size=4096", "1M", true, false, 15);
}

static void test_crash_v2(void **state)
{
    crash_all("compat=0.10,cluster_size=4096", "1M", true, false, 7);
}

/* 512-byte clusters: 64 entries per L2 table, 256 per refcount block, so
 * an operation copies many tables and writes many blocks. */
static void test_crash_small_clusters(void **state)
{
    crash_all("cluster_size=512", "1M", true, false, 7);
}

static void test_crash_refcount_bits_64(void **state)
{
    crash_all("cluster_size=4096,refcount_bits=64", "1M", true, false, 7);
}

/* A persistent bitmap's clusters stay counted in every crashed image. */
static void test_crash_bitmap(void **state)
{
    crash_all("cluster_size=4096", "1M", true, true, 7);
}

/*
 * refcount_bits=1 holds no shared cluster, so only a snapshot that shares
 * nothing can exist (one taken while the disk was empty): apply and delete
 * it. Create is refused (test_errors).
 */
static void test_crash_refcount_bits_1(void **state)
{
    struct tmp t;
    char base[256];
    int op;

    tmp_init(&t);
    snprintf(base, sizeof(base), "%s/base.qcow2", t.dir);
    assert_int_equal(run("qemu-img create -q -f qcow2 -o cluster_size=4096,"
                         "refcount_bits=1 '%s' 1M && qemu-img snapshot -c "
                         "base '%s' && qemu-io -c 'write -P 0x21 0 200k' -c "
                         "'write -P 0x22 600k 8k' '%s' >/dev/null",
                         base, base, base),
                     0);
    for (op = 1; op < 3; op++) {
        crash_op(t.dir, base, op);
    }
    tmp_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_apply_delete),
        cmocka_unit_test(test_qemu_made),
        cmocka_unit_test(test_we_made),
        cmocka_unit_test(test_vmstate),
        cmocka_unit_test(test_vmstate_keep),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_apply_restores_size),
        cmocka_unit_test(test_unknown_extra_data),
        cmocka_unit_test(test_refcount_overflow),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_write_failures),
        cmocka_unit_test(test_bitmaps_and_lazy),
        cmocka_unit_test(test_refcount_zero_data),
        cmocka_unit_test(test_nocache),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_load_tmp),
        cmocka_unit_test(test_bitmap_list),
        cmocka_unit_test(test_crash_make_empty),
        cmocka_unit_test(test_crash_consistency),
        cmocka_unit_test(test_crash_many_snapshots),
        cmocka_unit_test(test_crash_v2),
        cmocka_unit_test(test_crash_small_clusters),
        cmocka_unit_test(test_crash_refcount_bits_64),
        cmocka_unit_test(test_crash_bitmap),
        cmocka_unit_test(test_crash_refcount_bits_1),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
