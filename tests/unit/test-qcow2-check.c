/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-qcow2-check.c - qcow2_check() against `qemu-img check` on
 * the damaged-image corpus (tests/data/qcow2-damaged/): same counts, same
 * problem lines, same exit class, and repairs that qemu-img calls clean.
 */
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
#include "common/err.h"
#include "qcow2/qcow2-int.h"
#include "qcow2/qcow2.h"

#define MAX_LINES 4096

/* Problem lines, as reported or as qemu-img printed them. */
struct lines {
    char *v[MAX_LINES];
    int n;
};

static void lines_add(struct lines *l, const char *s)
{
    if (l->n < MAX_LINES) {
        l->v[l->n++] = strdup(s);
    }
}

static void lines_free(struct lines *l)
{
    int i;

    for (i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    l->n = 0;
}

static void report_cb(void *opaque, const char *line)
{
    lines_add(opaque, line);
}

/* qemu-img's check lines: strip the program prefix and drop what is not a
 * per-problem line of the check itself. */
static void lines_load_qemu(struct lines *l, const char *path)
{
    char buf[1024];
    FILE *f = fopen(path, "r");

    assert_non_null(f);
    while (fgets(buf, sizeof(buf), f)) {
        char *s = buf;

        buf[strcspn(buf, "\n")] = '\0';
        if (!strncmp(s, "qemu-img: ", 10)) {
            s += 10;
        }
        /* Not per-problem lines of the check: qemu-img's verdict, the
         * block layer's corruption notices and its failure to free the
         * old snapshot table (which only leaks it). */
        if (!strncmp(s, "Check failed", 12) || !strncmp(s, "qcow2: ", 7) ||
            !strncmp(s, "qcow2_free_clusters failed", 26) || !s[0]) {
            continue;
        }
        lines_add(l, s);
    }
    fclose(f);
}

/* Every line of @a is in @b and vice versa, as multisets. */
static void lines_assert_equal(const char *what, struct lines *a,
                               struct lines *b)
{
    char used[MAX_LINES] = {0};
    int i, j;

    for (i = 0; i < a->n; i++) {
        for (j = 0; j < b->n; j++) {
            if (!used[j] && !strcmp(a->v[i], b->v[j])) {
                used[j] = 1;
                break;
            }
        }
        if (j == b->n) {
            fail_msg("%s: we reported '%s', qemu-img did not", what, a->v[i]);
        }
    }
    for (j = 0; j < b->n; j++) {
        if (!used[j]) {
            fail_msg("%s: qemu-img reported '%s', we did not", what, b->v[j]);
        }
    }
}

static char data_dir[4096];

/* Find tests/data/qcow2-damaged from the source path or the executable. */
static int find_data_dir(void **state)
{
    char exe[4096], cand[4096 + 64], *p;
    ssize_t n;
    struct stat st;

    snprintf(cand, sizeof(cand), "%s", __FILE__);
    p = strrchr(cand, '/');
    if (p) {
        strcpy(p, "/../data/qcow2-damaged");
        if (stat(cand, &st) == 0 && realpath(cand, data_dir)) {
            return 0;
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
            assert_non_null(realpath(cand, data_dir));
            return 0;
        }
    }
    fail_msg("tests/data/qcow2-damaged not found");
    return -1;
}

struct tmp {
    char dir[64];
};

static void tmp_init(struct tmp *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/rrvm-chk-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
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

/* qemu-img check --output=json counters. */
struct qres {
    int rc;
    bool has_json;
    long long v[10];
};

enum {
    Q_CHECK_ERRORS,
    Q_CORRUPTIONS,
    Q_LEAKS,
    Q_CORRUPTIONS_FIXED,
    Q_LEAKS_FIXED,
    Q_END,
    Q_TOTAL,
    Q_ALLOCATED,
    Q_FRAGMENTED,
    Q_COMPRESSED = Q_FRAGMENTED + 1,
};

static const char *const qkeys[] = {
    "check-errors",      "corruptions",        "leaks",
    "corruptions-fixed", "leaks-fixed",        "image-end-offset",
    "total-clusters",    "allocated-clusters", "fragmented-clusters",
};

static long long json_get(const char *js, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\":", key);
    p = strstr(js, pat);
    if (!p) {
        return 0; /* qemu-img omits zero counters */
    }
    return strtoll(p + strlen(pat), NULL, 10);
}

/* Run `qemu-img check` (with the -r options of each image) on q, ql and
 * (with @all) qa.qcow2 in @dir at once; each leaves NAME.json, NAME.err and
 * NAME.rc. */
static void qemu_checks_run(const char *dir, bool all)
{
    assert_int_equal(
        run("cd '%s' && { "
            "(qemu-img check -f qcow2 --output=json q.qcow2 >q.json "
            "2>q.err; echo $? >q.rc) & "
            "(qemu-img check -f qcow2 -r leaks --output=json ql.qcow2 "
            ">ql.json 2>ql.err; echo $? >ql.rc) & "
            "(%s) & wait; }",
            dir,
            all ? "qemu-img check -f qcow2 -r all --output=json qa.qcow2 "
                  ">qa.json 2>qa.err; echo $? >qa.rc"
                : "true"),
        0);
}

static void slurp(const char *dir, const char *name, const char *ext, char *dst,
                  size_t cap)
{
    char path[256];
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(dst, 1, cap - 1, f);
    fclose(f);
    dst[n] = '\0';
}

/* The outcome of qemu_checks_run() for image @name (without .qcow2). */
static void qemu_check_load(const char *dir, const char *name, struct qres *q,
                            struct lines *l)
{
    char path[256], js[16384], rc[16];
    int i;

    memset(q, 0, sizeof(*q));
    slurp(dir, name, "rc", rc, sizeof(rc));
    q->rc = atoi(rc);
    slurp(dir, name, "json", js, sizeof(js));
    q->has_json = strstr(js, "\"check-errors\"") != NULL;
    for (i = 0; i < 9; i++) {
        q->v[i] = json_get(js, qkeys[i]);
    }
    q->v[Q_COMPRESSED] = json_get(js, "compressed-clusters");
    snprintf(path, sizeof(path), "%s/%s.err", dir, name);
    lines_load_qemu(l, path);
}

/* Copy image @src to the six working copies in @dir. */
static void copy_corpus(const char *src, const char *dir)
{
    static const char *const dst[] = {"q", "o", "ql", "ol", "qa", "oa"};
    char path[4096 + 256];
    uint8_t *buf;
    size_t n, i;
    FILE *f;

    f = fopen(src, "rb");
    assert_non_null(f);
    buf = malloc(1 << 20);
    assert_non_null(buf);
    n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    assert_true(n > 0 && n < (1 << 20));
    for (i = 0; i < 6; i++) {
        snprintf(path, sizeof(path), "%s/%s.qcow2", dir, dst[i]);
        f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(buf, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
    }
    free(buf);
}

/* qemu-img check's exit code for a result, as img_check computes it. */
static int exit_class(int ret, const struct qcow2_check_result *r)
{
    if (ret < 0 || r->check_errors) {
        return 1;
    }
    if (r->corruptions) {
        return 2;
    }
    return r->leaks ? 3 : 0;
}

static void assert_same_counts(const char *what, const struct qres *q,
                               const struct qcow2_check_result *r)
{
    if (q->v[Q_CHECK_ERRORS] != r->check_errors ||
        q->v[Q_CORRUPTIONS] != r->corruptions || q->v[Q_LEAKS] != r->leaks ||
        q->v[Q_CORRUPTIONS_FIXED] != r->corruptions_fixed ||
        q->v[Q_LEAKS_FIXED] != r->leaks_fixed ||
        (uint64_t)q->v[Q_END] != r->image_end_offset ||
        (uint64_t)q->v[Q_TOTAL] != r->total_clusters ||
        (uint64_t)q->v[Q_ALLOCATED] != r->allocated_clusters ||
        (uint64_t)q->v[Q_FRAGMENTED] != r->fragmented_clusters ||
        (uint64_t)q->v[Q_COMPRESSED] != r->compressed_clusters) {
        fail_msg("%s: qemu-img errors=%lld corr=%lld leaks=%lld "
                 "cfix=%lld lfix=%lld end=%lld total=%lld alloc=%lld "
                 "frag=%lld comp=%lld; ours errors=%d corr=%d leaks=%d "
                 "cfix=%d lfix=%d end=%llu total=%llu alloc=%llu frag=%llu "
                 "comp=%llu",
                 what, q->v[0], q->v[1], q->v[2], q->v[3], q->v[4], q->v[5],
                 q->v[6], q->v[7], q->v[8], q->v[9], r->check_errors,
                 r->corruptions, r->leaks, r->corruptions_fixed, r->leaks_fixed,
                 (unsigned long long)r->image_end_offset,
                 (unsigned long long)r->total_clusters,
                 (unsigned long long)r->allocated_clusters,
                 (unsigned long long)r->fragmented_clusters,
                 (unsigned long long)r->compressed_clusters);
    }
}

/* Run our check on @dir/@img. Returns qcow2_check's result, or the open
 * error. */
static int our_check(const char *dir, const char *img, unsigned repair,
                     struct qcow2_check_result *r, struct lines *l)
{
    struct qcow2_image *q = NULL;
    struct err e = {0};
    char path[256];
    unsigned flags = QCOW2_OPEN_CHECK | QCOW2_OPEN_NO_BACKING;
    int ret;

    memset(r, 0, sizeof(*r));
    if (!repair) {
        flags |= QCOW2_OPEN_RDONLY;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, img);
    ret = qcow2_open(path, QCOW2_FORMAT_QCOW2, flags, &q, &e);
    if (ret < 0) {
        print_message("# open %s: %s\n", img, e.msg);
        return ret;
    }
    ret = qcow2_check(q, repair, report_cb, l, r, &e);
    if (ret < 0) {
        print_message("# check %s: %s\n", img, e.msg);
    }
    assert_int_equal(qcow2_close(q), 0);
    return ret;
}

/* One corpus image: plain check, -r leaks and -r all, each against
 * qemu-img on its own copy. */
/*
 * Hold our check of @src to qemu-img's: plain, -r leaks and -r all (unless
 * !@qemu_all: then our -r all must leave an image our own check calls
 * consistent, which saves qemu-img's half-minute on 65536 snapshots).
 */
static void check_file(const char *src, const char *name, bool qemu_all)
{
    struct tmp t;
    struct qres q;
    struct qcow2_check_result r;
    struct lines ql = {0}, ol = {0};
    char what[128];
    int ret;

    tmp_init(&t);
    copy_corpus(src, t.dir);

    /* Plain check: counts, lines and exit class. */
    qemu_checks_run(t.dir, qemu_all);
    qemu_check_load(t.dir, "q", &q, &ql);
    ret = our_check(t.dir, "o.qcow2", 0, &r, &ol);
    snprintf(what, sizeof(what), "%s (check)", name);
    assert_int_equal(exit_class(ret, &r), q.rc);
    if (q.has_json) {
        assert_int_equal(ret, 0);
        assert_same_counts(what, &q, &r);
    }
    lines_assert_equal(what, &ol, &ql);
    lines_free(&ql);
    lines_free(&ol);

    /* -r leaks */
    qemu_check_load(t.dir, "ql", &q, &ql);
    ret = our_check(t.dir, "ol.qcow2", QCOW2_REPAIR_LEAKS, &r, &ol);
    snprintf(what, sizeof(what), "%s (-r leaks)", name);
    assert_int_equal(exit_class(ret, &r), q.rc);
    if (q.has_json) {
        assert_same_counts(what, &q, &r);
    }
    lines_assert_equal(what, &ol, &ql);
    lines_free(&ql);
    lines_free(&ol);

    if (!qemu_all) {
        ret = our_check(t.dir, "oa.qcow2",
                        QCOW2_REPAIR_LEAKS | QCOW2_REPAIR_ERRORS, &r, &ol);
        assert_int_equal(ret, 0);
        assert_int_equal(exit_class(ret, &r), 0);
        lines_free(&ol);
        ret = our_check(t.dir, "oa.qcow2", 0, &r, &ol);
        assert_int_equal(exit_class(ret, &r), 0);
        lines_free(&ol);
        tmp_fini(&t);
        return;
    }

    /* -r all, then qemu-img judges both results. */
    qemu_check_load(t.dir, "qa", &q, &ql);
    ret = our_check(t.dir, "oa.qcow2", QCOW2_REPAIR_LEAKS | QCOW2_REPAIR_ERRORS,
                    &r, &ol);
    snprintf(what, sizeof(what), "%s (-r all)", name);
    if (q.rc == 1 && exit_class(ret, &r) == 0) {
        /* qemu-img 7.2 gives up on some of these (its overlap check
         * refuses the new refblocks while the broken reftable entry is
         * still in place); our repair must then leave a clean image. */
        print_message("# %s: qemu-img could not repair, we did\n", name);
        assert_int_equal(run("qemu-img check -q -f qcow2 '%s/oa.qcow2' "
                             ">/dev/null 2>&1",
                             t.dir),
                         0);
        lines_free(&ql);
        lines_free(&ol);
        tmp_fini(&t);
        return;
    }
    assert_int_equal(exit_class(ret, &r), q.rc);
    if (q.has_json) {
        assert_same_counts(what, &q, &r);
    }
    lines_assert_equal(what, &ol, &ql);
    lines_free(&ql);
    lines_free(&ol);
    /* qemu-img judges our repaired image as it judges its own (the exit
     * code of its -r all describes the repaired state, unless the repair
     * itself failed). */
    {
        int oa = run("qemu-img check -q -f qcow2 '%s/oa.qcow2' >/dev/null "
                     "2>&1",
                     t.dir);

        if (q.rc == 1) {
            q.rc = run("qemu-img check -q -f qcow2 '%s/qa.qcow2' >/dev/null "
                       "2>&1",
                       t.dir);
        }
        if (oa != q.rc) {
            fail_msg("%s: after -r all qemu-img check says %d for ours, "
                     "%d for its own repair",
                     name, oa, q.rc);
        }
    }
    tmp_fini(&t);
}

static void check_one(const char *name)
{
    char src[4096 + 256];

    snprintf(src, sizeof(src), "%s/%s", data_dir, name);
    check_file(src, name, strcmp(name, "snap-count-huge.qcow2") != 0);
}

/* Big-endian helpers for patching generated images in place. */
static uint64_t file_rd64(FILE *f, uint64_t off)
{
    uint8_t b[8];
    uint64_t v = 0;
    int i;

    assert_int_equal(fseeko(f, (off_t)off, SEEK_SET), 0);
    assert_int_equal(fread(b, 1, 8, f), 8);
    for (i = 0; i < 8; i++) {
        v = (v << 8) | b[i];
    }
    return v;
}

static void file_zero(FILE *f, uint64_t off, size_t len)
{
    static const uint8_t zeros[65536];

    assert_true(len <= sizeof(zeros));
    assert_int_equal(fseeko(f, (off_t)off, SEEK_SET), 0);
    assert_int_equal(fwrite(zeros, 1, len, f), len);
}

/*
 * Make an image with qemu-img options @opts, fill it with qemu-io, run the
 * commands @extra (each gets the image path appended; NULL-terminated; may
 * be NULL), damage it (zero L2 entries 1 and 5 of the first L2 table: two
 * leaks; with @kill_refblock also the first refcount block: a rebuild) and
 * hold our check to qemu-img's on it.
 */
static void check_generated_with(const char *opts, const char *const *extra,
                                 bool kill_refblock)
{
    struct tmp g;
    char path[256];
    uint64_t l1, l2, rt, rb, esz, cs;
    FILE *f;

    tmp_init(&g);
    snprintf(path, sizeof(path), "%s/gen.qcow2", g.dir);
    assert_int_equal(run("qemu-img create -q -f qcow2 -o %s '%s' 1M && "
                         "qemu-io -c 'write -P 0x11 0 64k' -c 'write -P 0x22 "
                         "512k 4k' '%s' >/dev/null",
                         opts, path, path),
                     0);
    while (extra && *extra) {
        assert_int_equal(run("%s '%s' >/dev/null", *extra, path), 0);
        extra++;
    }
    f = fopen(path, "r+b");
    assert_non_null(f);
    cs = 1ull << (file_rd64(f, 16) & 0xffffffff);
    esz = strstr(opts, "extended_l2=on") ? 16 : 8;
    l1 = file_rd64(f, 40);
    rt = file_rd64(f, 48);
    l2 = file_rd64(f, l1) & 0x00fffffffffffe00ull;
    assert_true(l2 != 0);
    file_zero(f, l2 + 1 * esz, esz);
    file_zero(f, l2 + 5 * esz, esz);
    if (kill_refblock) {
        rb = file_rd64(f, rt) & ~0x1ffull;
        file_zero(f, rb, cs);
    }
    assert_int_equal(fclose(f), 0);
    check_file(path, opts, true);
    tmp_fini(&g);
}

static void check_generated(const char *opts, bool kill_refblock)
{
    check_generated_with(opts, NULL, kill_refblock);
}

/* VM state in the active L1 and in a snapshot's, compressed clusters
 * shared with a snapshot: all counted like qemu-img counts them. */
static void test_vmstate_and_compressed(void **state)
{
    static const char *const vm[] = {
        "qemu-io -c 'write -b -P 0x33 0 96k'",
        "qemu-img snapshot -c withvm",
        "qemu-io -c 'write -b -P 0x34 32k 8k' -c 'write -P 0x35 4k 4k'",
        NULL,
    };
    static const char *const comp[] = {
        "qemu-io -c 'write -c -P 0x44 128k 64k'",
        "qemu-img snapshot -c c1",
        "qemu-io -c 'write -c -P 0x45 256k 32k' -c 'write -P 0x46 128k 4k'",
        NULL,
    };

    check_generated_with("cluster_size=4096", vm, false);
    check_generated_with("cluster_size=4096", vm, true);
    check_generated_with("cluster_size=4096", comp, false);
    check_generated_with("cluster_size=4096", comp, true);
}

static void test_refcount_widths(void **state)
{
    /* 16 bits is the corpus' width; a rebuild writes the IMRT out, so it
     * is run for a sub-byte, a byte and the widest encoding. */
    static const char *const bits[] = {"1", "2", "4", "8", "32", "64"};
    char opts[128];
    size_t i;

    for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
        snprintf(opts, sizeof(opts), "cluster_size=512,refcount_bits=%s",
                 bits[i]);
        check_generated(opts, !strcmp(bits[i], "2") || !strcmp(bits[i], "8") ||
                                  !strcmp(bits[i], "64"));
    }
}

static void test_extended_l2(void **state)
{
    check_generated("cluster_size=16384,extended_l2=on", false);
    check_generated("cluster_size=16384,extended_l2=on", true);
}

#define CORPUS_TEST(fn, file)                                                  \
    static void fn(void **state)                                               \
    {                                                                          \
        check_one(file);                                                       \
    }

CORPUS_TEST(test_leak, "leak.qcow2")
CORPUS_TEST(test_leak_tail, "leak-tail.qcow2")
CORPUS_TEST(test_refcount_zero, "refcount-zero.qcow2")
CORPUS_TEST(test_refcount_two, "refcount-two.qcow2")
CORPUS_TEST(test_copied_data, "copied-data.qcow2")
CORPUS_TEST(test_copied_l1, "copied-l1.qcow2")
CORPUS_TEST(test_l2_into_header, "l2-into-header.qcow2")
CORPUS_TEST(test_l1_into_header, "l1-into-header.qcow2")
CORPUS_TEST(test_unaligned_l2e, "unaligned-l2e.qcow2")
CORPUS_TEST(test_unaligned_l1e, "unaligned-l1e.qcow2")
CORPUS_TEST(test_unaligned_zero, "unaligned-zero.qcow2")
CORPUS_TEST(test_refblock_overlap, "refblock-overlap.qcow2")
CORPUS_TEST(test_refblock_unaligned, "refblock-unaligned.qcow2")
CORPUS_TEST(test_reftable_reserved, "reftable-reserved.qcow2")
CORPUS_TEST(test_refblock_outside, "refblock-outside.qcow2")
CORPUS_TEST(test_reserved_bits, "reserved-bits.qcow2")
CORPUS_TEST(test_truncated, "truncated.qcow2")
CORPUS_TEST(test_snap_clean, "snap-clean.qcow2")
CORPUS_TEST(test_snap_table_eof, "snap-table-eof.qcow2")
CORPUS_TEST(test_snap_count_huge, "snap-count-huge.qcow2")
CORPUS_TEST(test_snap_table_unaligned, "snap-table-unaligned.qcow2")
CORPUS_TEST(test_snap_extra_huge, "snap-extra-huge.qcow2")
CORPUS_TEST(test_snap_extra_none, "snap-extra-none.qcow2")
CORPUS_TEST(test_snap_l1_unaligned, "snap-l1-unaligned.qcow2")
CORPUS_TEST(test_snap_l1_huge, "snap-l1-huge.qcow2")
CORPUS_TEST(test_snap_refcount_low, "snap-refcount-low.qcow2")
CORPUS_TEST(test_compressed, "compressed.qcow2")
CORPUS_TEST(test_bitmap, "bitmap.qcow2")
CORPUS_TEST(test_lazy_dirty, "lazy-dirty.qcow2")

/* Opening a dirty lazy-refcount image read-write repairs it (the core
 * calls qcow2_rebuild_refcounts()); the data written before the crash
 * survives and qemu-img finds the image clean. */
static void test_lazy_dirty_open_repairs(void **state)
{
    struct qcow2_image *q = NULL;
    struct err e = {0};
    struct tmp t;
    char path[256];
    uint8_t buf[4096];
    size_t i;

    tmp_init(&t);
    assert_int_equal(
        run("cp '%s/lazy-dirty.qcow2' '%s/d.qcow2'", data_dir, t.dir), 0);
    snprintf(path, sizeof(path), "%s/d.qcow2", t.dir);
    if (qcow2_open(path, QCOW2_FORMAT_QCOW2, 0, &q, &e) < 0) {
        fail_msg("open: %s", e.msg);
    }
    assert_int_equal(qcow2_read(q, 0, buf, sizeof(buf), &e), 0);
    for (i = 0; i < sizeof(buf); i++) {
        assert_int_equal(buf[i], 0x5a);
    }
    assert_int_equal(qcow2_close(q), 0);
    assert_int_equal(
        run("qemu-img check -q -f qcow2 '%s' >/dev/null 2>&1", path), 0);
    tmp_fini(&t);
}

/* qcow2_rebuild_refcounts() on an image whose refcount block is gone
 * entirely: the structure is rebuilt and qemu-img agrees with it. */
static void test_rebuild_from_nothing(void **state)
{
    struct qcow2_image *q = NULL;
    struct qcow2_check_result r;
    struct err e = {0};
    struct lines l = {0};
    struct tmp t;
    char path[256];
    int i;

    tmp_init(&t);
    assert_int_equal(
        run("qemu-img create -q -f qcow2 -o cluster_size=4096 '%s/r.qcow2' "
            "1M && qemu-io -c 'write -P 0x61 0 64k' -c 'write -P 0x62 512k "
            "8k' '%s/r.qcow2' >/dev/null && qemu-img snapshot -c s1 "
            "'%s/r.qcow2' && qemu-io -c 'write -P 0x63 4k 4k' '%s/r.qcow2' "
            ">/dev/null",
            t.dir, t.dir, t.dir, t.dir),
        0);
    /* Zero the whole refcount block (cluster 2 of a fresh image). */
    assert_int_equal(run("dd if=/dev/zero of='%s/r.qcow2' bs=4096 seek=2 "
                         "count=1 conv=notrunc status=none",
                         t.dir),
                     0);
    assert_int_equal(run("qemu-img check -q -f qcow2 '%s/r.qcow2' >/dev/null "
                         "2>&1",
                         t.dir),
                     2);
    snprintf(path, sizeof(path), "%s/r.qcow2", t.dir);
    if (qcow2_open(path, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_CHECK, &q, &e) < 0) {
        fail_msg("open: %s", e.msg);
    }
    assert_int_equal(qcow2_check(q, QCOW2_REPAIR_LEAKS | QCOW2_REPAIR_ERRORS,
                                 report_cb, &l, &r, &e),
                     0);
    assert_true(r.rebuilt);
    assert_int_equal(r.corruptions, 0);
    assert_int_equal(r.check_errors, 0);
    for (i = 0; i < l.n; i++) {
        if (!strcmp(l.v[i], "Rebuilding refcount structure")) {
            break;
        }
    }
    assert_true(i < l.n);
    lines_free(&l);
    assert_int_equal(qcow2_close(q), 0);
    assert_int_equal(
        run("qemu-img check -q -f qcow2 '%s' >/dev/null 2>&1", path), 0);
    assert_int_equal(run("qemu-io -c 'read -P 0x61 0 4k' -c 'read -P 0x63 "
                         "4k 4k' -c 'read -P 0x62 512k 8k' '%s' >/dev/null",
                         path),
                     0);
    tmp_fini(&t);
}

/* A refcount block entry 1 TiB past the end of the file: QEMU would grow
 * the file to there; we refuse (a bounded repair) and rebuild instead. */
static void test_refblock_far_outside(void **state)
{
    struct qcow2_check_result r;
    struct qcow2_image *q = NULL;
    struct lines l = {0};
    struct err e = {0};
    struct tmp t;
    char path[256];
    struct stat st;
    uint64_t rt;
    FILE *f;
    int i;

    tmp_init(&t);
    snprintf(path, sizeof(path), "%s/far.qcow2", t.dir);
    assert_int_equal(run("cp '%s/leak.qcow2' '%s'", data_dir, path), 0);
    f = fopen(path, "r+b");
    assert_non_null(f);
    rt = file_rd64(f, 48);
    {
        uint8_t b[8] = {0, 0, 1, 0, 0, 0, 0, 0}; /* 1 TiB */

        assert_int_equal(fseeko(f, (off_t)(rt + 8), SEEK_SET), 0);
        assert_int_equal(fwrite(b, 1, 8, f), 8);
    }
    assert_int_equal(fclose(f), 0);
    if (qcow2_open(path, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_CHECK, &q, &e) < 0) {
        fail_msg("open: %s", e.msg);
    }
    assert_int_equal(qcow2_check(q, QCOW2_REPAIR_LEAKS | QCOW2_REPAIR_ERRORS,
                                 report_cb, &l, &r, &e),
                     0);
    assert_int_equal(qcow2_close(q), 0);
    for (i = 0; i < l.n; i++) {
        if (!strcmp(l.v[i], "ERROR could not resize image: File too large")) {
            break;
        }
    }
    assert_true(i < l.n);
    lines_free(&l);
    assert_true(r.rebuilt);
    assert_int_equal(r.corruptions, 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size < (1 << 20));
    assert_int_equal(
        run("qemu-img check -q -f qcow2 '%s' >/dev/null 2>&1", path), 0);
    tmp_fini(&t);
}

/*
 * Random damage (a fixed seed, so failures reproduce): byte mutations in
 * the metadata of three corpus images. Nothing may crash; whenever our
 * -r all says it left a consistent image, qemu-img must agree.
 */
static void test_mutations(void **state)
{
    static const char *const files[] = {"snap-clean.qcow2", "compressed.qcow2",
                                        "bitmap.qcow2"};
    static uint8_t orig[1 << 16], buf[1 << 16];
    unsigned seed = 20261125;
    struct tmp t;
    char src[4096 + 256], path[256];
    size_t fi, n;
    int it, m;

    tmp_init(&t);
    snprintf(path, sizeof(path), "%s/m.qcow2", t.dir);
    for (fi = 0; fi < sizeof(files) / sizeof(files[0]); fi++) {
        FILE *f;

        snprintf(src, sizeof(src), "%s/%s", data_dir, files[fi]);
        f = fopen(src, "rb");
        assert_non_null(f);
        n = fread(orig, 1, sizeof(orig), f);
        fclose(f);
        assert_true(n > 4096 && n < sizeof(orig));
        for (it = 0; it < 20; it++) {
            struct qcow2_check_result r;
            struct qcow2_image *q = NULL;
            int ret, rc;

            memcpy(buf, orig, n);
            for (m = 0; m < 1 + it % 4; m++) {
                size_t pos = (size_t)rand_r(&seed) % n;

                if (rand_r(&seed) & 1) {
                    pos = 40 + (size_t)rand_r(&seed) % 40; /* header tables */
                }
                buf[pos] ^= (uint8_t)(1u << (rand_r(&seed) % 8));
            }
            f = fopen(path, "wb");
            assert_non_null(f);
            assert_int_equal(fwrite(buf, 1, n, f), n);
            assert_int_equal(fclose(f), 0);
            if (qcow2_open(path, QCOW2_FORMAT_QCOW2,
                           QCOW2_OPEN_CHECK | QCOW2_OPEN_NO_BACKING, &q,
                           NULL) < 0) {
                continue;
            }
            ret = qcow2_check(q, QCOW2_REPAIR_LEAKS | QCOW2_REPAIR_ERRORS, NULL,
                              NULL, &r, NULL);
            qcow2_close(q);
            if (ret < 0 || r.corruptions || r.check_errors) {
                continue;
            }
            rc = run("qemu-img check -q -f qcow2 '%s' >/dev/null 2>&1", path);
            if (rc == 1 || rc == 2) {
                (void)!run("qemu-img check -f qcow2 '%s' 2>&1 | head -5", path);
                fail_msg("%s mutation %d: we repaired to clean, qemu-img "
                         "check exits %d",
                         files[fi], it, rc);
            }
        }
    }
    tmp_fini(&t);
}

/* Raw images cannot be checked (qemu-img's exit 63). */
static void test_raw_not_supported(void **state)
{
    struct qcow2_image *q = NULL;
    struct qcow2_check_result r;
    struct tmp t;
    char path[256];

    tmp_init(&t);
    snprintf(path, sizeof(path), "%s/x.raw", t.dir);
    assert_int_equal(run("truncate -s 64k '%s'", path), 0);
    assert_int_equal(
        qcow2_open(path, QCOW2_FORMAT_RAW, QCOW2_OPEN_RDONLY, &q, NULL), 0);
    assert_int_equal(qcow2_check(q, 0, NULL, NULL, &r, NULL), -ENOTSUP);
    qcow2_close(q);
    tmp_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leak),
        cmocka_unit_test(test_leak_tail),
        cmocka_unit_test(test_refcount_zero),
        cmocka_unit_test(test_refcount_two),
        cmocka_unit_test(test_copied_data),
        cmocka_unit_test(test_copied_l1),
        cmocka_unit_test(test_l2_into_header),
        cmocka_unit_test(test_l1_into_header),
        cmocka_unit_test(test_unaligned_l2e),
        cmocka_unit_test(test_unaligned_l1e),
        cmocka_unit_test(test_unaligned_zero),
        cmocka_unit_test(test_refblock_overlap),
        cmocka_unit_test(test_refblock_unaligned),
        cmocka_unit_test(test_reftable_reserved),
        cmocka_unit_test(test_refblock_outside),
        cmocka_unit_test(test_reserved_bits),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_snap_clean),
        cmocka_unit_test(test_snap_table_eof),
        cmocka_unit_test(test_snap_count_huge),
        cmocka_unit_test(test_snap_table_unaligned),
        cmocka_unit_test(test_snap_extra_huge),
        cmocka_unit_test(test_snap_extra_none),
        cmocka_unit_test(test_snap_l1_unaligned),
        cmocka_unit_test(test_snap_l1_huge),
        cmocka_unit_test(test_snap_refcount_low),
        cmocka_unit_test(test_compressed),
        cmocka_unit_test(test_bitmap),
        cmocka_unit_test(test_lazy_dirty),
        cmocka_unit_test(test_lazy_dirty_open_repairs),
        cmocka_unit_test(test_refcount_widths),
        cmocka_unit_test(test_extended_l2),
        cmocka_unit_test(test_vmstate_and_compressed),
        cmocka_unit_test(test_rebuild_from_nothing),
        cmocka_unit_test(test_refblock_far_outside),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_raw_not_supported),
    };

    return cmocka_run_group_tests(tests, find_data_dir, NULL);
}
