/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-qcow2-crash.c - crash consistency of the qcow2 writer.
 *
 * A workload of random writes, zero writes, discards and flushes runs on a
 * 64 MiB image while an I/O trace records every write, truncate and flush
 * barrier the library issues on the image file. Then, for at least 200
 * random cut points, a crashed image is rebuilt from the initial file: every
 * event before the last flush preceding the cut lands, events between that
 * flush and the cut land partially (each 512-byte sector of a write kept or
 * dropped at random, i.e. reordered and torn), later ones are lost.
 * `qemu-img check` must find no corruption (leaks are allowed) and every
 * byte whose last write was flushed must read back. One workload also takes
 * and deletes internal snapshots between the guest ops.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "qcow2/qcow2-int.h"

#define IMG_SIZE     (64ull << 20)
#define SECTOR       512u
#define NB_GUEST_OPS 400
#define NB_CUTS      200
#define MAX_OP_BYTES (192u << 10)

/* One file-level event seen through the trace hook. */
struct io_event {
    enum qcow2_io_event kind;
    uint64_t off;
    uint64_t len;
    uint8_t *data; /* owned copy for writes */
};

/* One guest-level operation and the trace position when it returned. */
struct guest_op {
    int kind; /* 0 write, 1 zero, 2 discard */
    uint64_t off;
    uint64_t len;
    uint8_t fill;   /* writes fill with a per-op pattern seeded by this */
    size_t done_at; /* number of I/O events when the call returned */
};

struct trace {
    struct io_event *ev;
    size_t nb, cap;
};

struct fixture {
    char dir[64];
    char img[128];
    char initial[128];
    struct trace tr;
    struct guest_op ops[NB_GUEST_OPS];
    size_t nb_ops;
    /* Trace positions at which a qcow2_flush() call had returned. */
    size_t flushed_at[NB_GUEST_OPS + 1];
    size_t nb_flushed;
    /* Trace positions [begin, end) of each snapshot create or delete. */
    size_t snap_begin[NB_GUEST_OPS];
    size_t snap_end[NB_GUEST_OPS];
    size_t nb_snaps;
    uint64_t cluster_size;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    /* xorshift64*: reproducible, seeded per test. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void trace_hook(void *opaque, enum qcow2_io_event kind, uint64_t off,
                       const void *buf, uint64_t len)
{
    struct trace *tr = opaque;
    struct io_event *e;

    if (tr->nb == tr->cap) {
        tr->cap = tr->cap ? tr->cap * 2 : 1024;
        tr->ev = realloc(tr->ev, tr->cap * sizeof(*tr->ev));
        assert_non_null(tr->ev);
    }
    e = &tr->ev[tr->nb++];
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

static void fill_pattern(uint8_t *dst, uint64_t len, uint8_t seed,
                         uint64_t guest_off)
{
    for (uint64_t i = 0; i < len; i++) {
        dst[i] = (uint8_t)(seed + ((guest_off + i) >> 9) * 7);
    }
}

static void copy_file(const char *src, const char *dst)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s'", src, dst);
    assert_int_equal(system(cmd), 0);
}

/*
 * A snapshot operation between guest ops: create one, or delete the oldest
 * when there are @max. Neither changes the guest's data, and both flush
 * everything first, so the trace position where one returns is a point up
 * to which every earlier guest op is durable.
 */
/* Bytes of VM state the vmstate workload writes and snapshots keep. */
#define VMSTATE_BYTES (2u << 20)

/* Rewrite a random range of the VM-state area: the copy-on-write of
 * clusters a snapshot shares, whose frees wait for the next flush. */
static void vmstate_op(struct qcow2_image *img, uint8_t *buf)
{
    struct err err = {0};
    size_t len = SECTOR * (1 + rnd() % (MAX_OP_BYTES / SECTOR));
    uint64_t off = (rnd() % ((VMSTATE_BYTES - len) / SECTOR)) * SECTOR;

    memset(buf, (int)(1 + rnd() % 250), len);
    if (qcow2_vmstate_write(img, off, buf, len, &err) != 0) {
        fail_msg("vmstate write: %s", err.msg);
    }
}

static void snapshot_op(struct qcow2_image *img, unsigned *made, unsigned max,
                        bool vmstate)
{
    struct qcow2_snapshot_info info[8];
    struct qcow2_snapshot_params p;
    struct err err = {0};
    char name[16];
    size_t n = qcow2_snapshot_list(img, info, 8);

    if (n >= max) {
        if (qcow2_snapshot_delete(img, info[0].id, &err) != 0) {
            fail_msg("snapshot delete: %s", err.msg);
        }
        return;
    }
    snprintf(name, sizeof(name), "s%u", (*made)++);
    memset(&p, 0, sizeof(p));
    p.name = name;
    p.icount = UINT64_MAX;
    if (vmstate) {
        p.vm_state_size = VMSTATE_BYTES;
        p.keep_vmstate = true;
    }
    if (qcow2_snapshot_create(img, &p, &err) != 0) {
        fail_msg("snapshot create: %s", err.msg);
    }
}

static void run_workload(struct fixture *f, uint32_t cluster_size, bool lazy,
                         bool snapshots, bool vmstate)
{
    struct qcow2_create_opts o;
    struct qcow2_image *img = NULL;
    struct err err = {0};
    unsigned made = 0;
    uint8_t *buf = malloc(MAX_OP_BYTES);
    /* tmpfs when there is one: 300 crash images are copied and read. */
    char tmpl[] = "/dev/shm/rrvm-crash-XXXXXX";

    assert_non_null(buf);
    if (!mkdtemp(tmpl)) {
        memcpy(tmpl, "/tmp/rrvm-crash-XXXXXX",
               sizeof("/tmp/rrvm-crash-XXXXXX"));
        assert_non_null(mkdtemp(tmpl));
    }
    snprintf(f->dir, sizeof(f->dir), "%s", tmpl);
    snprintf(f->img, sizeof(f->img), "%s/work.qcow2", f->dir);
    snprintf(f->initial, sizeof(f->initial), "%s/initial.qcow2", f->dir);
    f->cluster_size = cluster_size;

    qcow2_create_opts_init(&o);
    o.size = IMG_SIZE;
    o.cluster_size = cluster_size;
    o.lazy_refcounts = lazy;
    assert_int_equal(qcow2_create(f->img, &o, &err), 0);
    copy_file(f->img, f->initial);

    if (qcow2_open(f->img, QCOW2_FORMAT_QCOW2, 0, &img, &err) != 0) {
        fail_msg("open: %s", err.msg);
    }
    qcow2_io_set_trace(img, trace_hook, &f->tr);
    for (size_t i = 0; i < NB_GUEST_OPS; i++) {
        struct guest_op *op = &f->ops[f->nb_ops];
        uint64_t r = rnd() % 100;

        op->len = SECTOR * (1 + rnd() % (MAX_OP_BYTES / SECTOR));
        op->off = (rnd() % ((IMG_SIZE - op->len) / SECTOR)) * SECTOR;
        op->fill = (uint8_t)(1 + rnd() % 250);
        if (r < 8) {
            assert_int_equal(qcow2_flush(img, &err), 0);
            f->flushed_at[f->nb_flushed++] = f->tr.nb;
            continue;
        } else if (snapshots && r < 12) {
            f->snap_begin[f->nb_snaps] = f->tr.nb;
            snapshot_op(img, &made, 3, vmstate);
            f->snap_end[f->nb_snaps++] = f->tr.nb;
            f->flushed_at[f->nb_flushed++] = f->tr.nb;
            continue;
        } else if (vmstate && r < 30) {
            vmstate_op(img, buf);
            continue;
        } else if (r < 80) {
            op->kind = 0;
            fill_pattern(buf, op->len, op->fill, op->off);
            if (qcow2_write(img, op->off, buf, op->len, &err) != 0) {
                fail_msg("write: %s", err.msg);
            }
        } else if (r < 92) {
            op->kind = 1;
            if (qcow2_write_zeroes(img, op->off, op->len,
                                   (rnd() & 1) ? QCOW2_ZERO_MAY_UNMAP : 0,
                                   &err) != 0) {
                fail_msg("write_zeroes: %s", err.msg);
            }
        } else {
            op->kind = 2;
            if (qcow2_discard(img, op->off, op->len, &err) != 0) {
                fail_msg("discard: %s", err.msg);
            }
        }
        op->done_at = f->tr.nb;
        f->nb_ops++;
    }
    assert_int_equal(qcow2_flush(img, &err), 0);
    qcow2_io_set_trace(img, NULL, NULL);
    assert_int_equal(qcow2_close(img), 0);
    free(buf);
}

static void apply_event(int fd, const struct io_event *e, bool tear)
{
    if (e->kind == QCOW2_IO_TRUNCATE) {
        assert_int_equal(ftruncate(fd, (off_t)e->len), 0);
        return;
    }
    if (e->kind != QCOW2_IO_WRITE) {
        return;
    }
    if (!tear) {
        assert_int_equal(pwrite(fd, e->data, e->len, (off_t)e->off),
                         (ssize_t)e->len);
        return;
    }
    /* Keep each sector with probability 1/2: reordered, torn writes. */
    for (uint64_t s = 0; s < e->len; s += SECTOR) {
        uint64_t n = e->len - s < SECTOR ? e->len - s : SECTOR;
        if (rnd() & 1) {
            assert_int_equal(pwrite(fd, e->data + s, n, (off_t)(e->off + s)),
                             (ssize_t)n);
        }
    }
}

/* Expected guest content after the ops durable at trace position @flush;
 * @care marks bytes no later (maybe partly applied) op touched. */
static void expected_content(const struct fixture *f, size_t flush,
                             uint8_t *exp, uint8_t *care)
{
    memset(exp, 0, IMG_SIZE);
    memset(care, 1, IMG_SIZE);
    for (size_t i = 0; i < f->nb_ops; i++) {
        const struct guest_op *op = &f->ops[i];
        if (op->done_at <= flush) {
            if (op->kind == 0) {
                fill_pattern(exp + op->off, op->len, op->fill, op->off);
            } else {
                memset(exp + op->off, 0, op->len);
            }
        } else {
            memset(care + op->off, 0, op->len);
        }
    }
    /* A discard's data is undefined on a crash (it may revert), and so
     * is any range a discard touched, durable or not. */
    for (size_t i = 0; i < f->nb_ops; i++) {
        const struct guest_op *op = &f->ops[i];
        if (op->kind == 2) {
            memset(care + op->off, 0, op->len);
        }
    }
}

/* On a failure, list the guest ops that touched byte @at. */
static void explain(const struct fixture *f, uint64_t at, size_t flush)
{
    fprintf(stderr, "# durable up to event %zu of %zu\n", flush, f->tr.nb);
    if (getenv("CRASH_DEBUG")) {
        for (size_t i = flush > 12 ? flush - 12 : 0;
             i < f->tr.nb && i < flush + 40; i++) {
            fprintf(stderr, "#   ev %zu kind %d off %#llx len %#llx\n", i,
                    f->tr.ev[i].kind, (unsigned long long)f->tr.ev[i].off,
                    (unsigned long long)f->tr.ev[i].len);
        }
    }
    for (size_t i = 0; i < f->nb_ops; i++) {
        const struct guest_op *op = &f->ops[i];
        if (at >= op->off && at < op->off + op->len) {
            fprintf(stderr, "#   op %zu kind %d [%#llx,+%#llx) done_at %zu\n",
                    i, op->kind, (unsigned long long)op->off,
                    (unsigned long long)op->len, op->done_at);
        }
    }
}

static void check_crash_image(const struct fixture *f, const char *path,
                              size_t flush, uint8_t *exp, uint8_t *care,
                              uint8_t *got, int cut)
{
    char cmd[512];
    char raw[160];
    int rc, fd;

    snprintf(cmd, sizeof(cmd),
             "qemu-img check -f qcow2 '%s' >'%s/check.log' 2>&1", path, f->dir);
    rc = system(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (rc != 0 && rc != 3) {
        snprintf(cmd, sizeof(cmd), "cat '%s/check.log' >&2", f->dir);
        (void)!system(cmd);
        fail_msg("cut %d: qemu-img check exit %d (corruption)", cut, rc);
    }
    snprintf(raw, sizeof(raw), "%s/crash.raw", f->dir);
    snprintf(cmd, sizeof(cmd),
             "qemu-img convert -f qcow2 -O raw '%s' '%s' 2>&1", path, raw);
    assert_int_equal(system(cmd), 0);
    fd = open(raw, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, got, IMG_SIZE, 0), (ssize_t)IMG_SIZE);
    close(fd);
    unlink(raw);
    expected_content(f, flush, exp, care);
    for (uint64_t b = 0; b < IMG_SIZE; b += SECTOR) {
        if (memcmp(exp + b, got + b, SECTOR) == 0) {
            continue;
        }
        for (uint64_t i = b; i < b + SECTOR; i++) {
            if (care[i] && exp[i] != got[i]) {
                explain(f, i, flush);
                fail_msg("cut %d: flushed byte at %#llx is %#x, want %#x", cut,
                         (unsigned long long)i, got[i], exp[i]);
            }
        }
    }
}

static void crash_cuts(struct fixture *f, int nb_cuts)
{
    uint8_t *exp = malloc(IMG_SIZE);
    uint8_t *care = malloc(IMG_SIZE);
    uint8_t *got = malloc(IMG_SIZE);
    char crash[160];

    assert_non_null(exp);
    assert_non_null(care);
    assert_non_null(got);
    snprintf(crash, sizeof(crash), "%s/crash.qcow2", f->dir);
    for (int c = 0; c < nb_cuts; c++) {
        size_t cut = (size_t)(rnd() % (f->tr.nb + 1));
        /* Every other cut falls inside a snapshot operation, right before
         * one of its barriers, where most is in flight: its windows are a
         * few events among thousands. */
        if (f->nb_snaps && (c & 1)) {
            size_t s = (size_t)(rnd() % f->nb_snaps);

            cut = f->snap_begin[s] +
                  (size_t)(rnd() % (f->snap_end[s] - f->snap_begin[s] + 1));
            while (cut < f->snap_end[s] &&
                   f->tr.ev[cut].kind != QCOW2_IO_FLUSH) {
                cut++;
            }
        }
        size_t flush = 0;   /* events before the last barrier all landed */
        size_t durable = 0; /* ops done by the last returned qcow2_flush */
        int fd;

        for (size_t i = 0; i < cut; i++) {
            if (f->tr.ev[i].kind == QCOW2_IO_FLUSH) {
                flush = i + 1;
            }
        }
        for (size_t i = 0; i < f->nb_flushed; i++) {
            if (f->flushed_at[i] <= cut) {
                durable = f->flushed_at[i];
            }
        }
        copy_file(f->initial, crash);
        fd = open(crash, O_RDWR);
        assert_true(fd >= 0);
        for (size_t i = 0; i < cut; i++) {
            apply_event(fd, &f->tr.ev[i], i >= flush);
        }
        close(fd);
        check_crash_image(f, crash, durable, exp, care, got, c);
    }
    free(exp);
    free(care);
    free(got);
}

static void fixture_free(struct fixture *f)
{
    char cmd[128];

    for (size_t i = 0; i < f->tr.nb; i++) {
        free(f->tr.ev[i].data);
    }
    free(f->tr.ev);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    (void)!system(cmd);
    free(f);
}

static void test_crash_64k_clusters(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    rng_state = 0x1234567;
    run_workload(f, 65536, false, false, false);
    crash_cuts(f, NB_CUTS);
    fixture_free(f);
}

static void test_crash_4k_clusters(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    rng_state = 0x7654321;
    run_workload(f, 4096, false, false, false);
    crash_cuts(f, NB_CUTS / 2);
    fixture_free(f);
}

/* Snapshot create and delete among the guest ops: crashes inside them and
 * in the copy-on-write writes after them. */
static void test_crash_with_snapshots(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    rng_state = 0x5eed5eed;
    run_workload(f, 4096, false, true, false);
    crash_cuts(f, NB_CUTS / 2);
    fixture_free(f);
}

/* Snapshots that keep their VM state mapped (as savevm's), and VM-state
 * rewrites between them whose copy-on-write frees are batched until the
 * next flush: crashes anywhere leak at most. */
static void test_crash_with_vmstate(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    rng_state = 0x0dd5eed5;
    run_workload(f, 4096, false, true, true);
    crash_cuts(f, NB_CUTS / 2);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_64k_clusters),
        cmocka_unit_test(test_crash_4k_clusters),
        cmocka_unit_test(test_crash_with_snapshots),
        cmocka_unit_test(test_crash_with_vmstate),
    };

    /* CRASH_ONLY=<glob> runs only the matching tests (while debugging). */
    if (getenv("CRASH_ONLY")) {
        cmocka_set_test_filter(getenv("CRASH_ONLY"));
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
