/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-qcow2-core.c - the qcow2 core checked against Debian's
 * qemu-img and qemu-io (7.2) as the oracle: reads of every kind of image
 * they make, writes that qemu-img check and compare accept, byte-identical
 * create, hostile headers, locking, backing chains, resize/amend/measure.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "qcow2/qcow2-int.h"

static char tmpdir[64];

static void path_in(char *dst, size_t cap, const char *name)
{
    snprintf(dst, cap, "%s/%s", tmpdir, name);
}

/* Run a shell command; returns its exit status (-1 on a signal). */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    st = system(cmd);
    if (st == -1 || !WIFEXITED(st)) {
        return -1;
    }
    return WEXITSTATUS(st);
}

static uint8_t *file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (!f) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(n ? (size_t)n : 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Read the whole guest disk through our library in @chunk-sized pieces and
 * compare with qemu-img convert -O raw. */
static void compare_with_qemu(const char *img_path, const char *fmt,
                              size_t chunk)
{
    char raw[300];
    struct qcow2_image *img = NULL;
    struct err e = {0};
    uint8_t *ref, *ours;
    size_t ref_len = 0;
    uint64_t off;
    int ret;

    path_in(raw, sizeof(raw), "ref.raw");
    assert_int_equal(
        sh("qemu-img convert -U -f %s -O raw '%s' '%s'", fmt, img_path, raw),
        0);
    ref = file_read(raw, &ref_len);
    assert_non_null(ref);
    ret = qcow2_open(img_path,
                     strcmp(fmt, "raw") == 0 ? QCOW2_FORMAT_RAW
                                             : QCOW2_FORMAT_QCOW2,
                     QCOW2_OPEN_RDONLY, &img, &e);
    if (ret < 0) {
        fail_msg("open %s: %s", img_path, e.msg);
    }
    assert_int_equal(qcow2_size(img), ref_len);
    ours = malloc(ref_len ? ref_len : 1);
    assert_non_null(ours);
    for (off = 0; off < ref_len; off += chunk) {
        size_t n = ref_len - off < chunk ? ref_len - off : chunk;
        ret = qcow2_read(img, off, ours + off, n, &e);
        if (ret < 0) {
            fail_msg("read %s at %llu: %s", img_path, (unsigned long long)off,
                     e.msg);
        }
    }
    for (off = 0; off < ref_len; off++) {
        if (ours[off] != ref[off]) {
            fail_msg("%s: byte %llu differs: ours %02x qemu %02x", img_path,
                     (unsigned long long)off, ours[off], ref[off]);
        }
    }
    qcow2_close(img);
    free(ours);
    free(ref);
}

/* qemu-io workload touching every kind of L2 entry in a 4 MiB image; the
 * compressed write covers cluster @cs at 1M (skipped when @cs is 0). */
static int qemu_fill(const char *p, const char *cs)
{
    char comp[128] = "";

    if (cs) {
        /* Compressed first (QEMU cannot compress over allocated data); the
         * later writes then partly overwrite it. */
        snprintf(comp, sizeof(comp), "-c 'write -c -P 0x55 %s %s' ",
                 strcmp(cs, "2M") == 0 ? "0" : "1M", cs);
    }
    return sh("qemu-io -f qcow2 %s-c 'write -P 0x11 0 300k' "
              "-c 'write -P 0x22 1000 5000' -c 'write -P 0x33 2M 64k' "
              "-c 'write -z 64k 128k' -c 'write -P 0x44 3M 1M' "
              "-c 'discard 3200k 256k' -c 'write -P 0x66 1040k 3k' "
              "-c 'write -z -u 3712k 128k' -c 'write -P 0x77 4000k 96k' "
              "'%s' >/dev/null",
              comp, p);
}

struct variant {
    const char *opts;
    const char *cs; /* cluster size for the compressed write; NULL: none */
    size_t chunk;
};

static void test_read_qemu_images(void **state)
{
    static const struct variant v[] = {
        {"compat=1.1", "64k", 65536},
        {"compat=0.10", "64k", 4096},
        {"cluster_size=512", "512", 1000},
        {"cluster_size=4096,refcount_bits=1", "4k", 65536},
        {"cluster_size=2M", "2M", 1 << 20},
        {"cluster_size=16k,refcount_bits=2", "16k", 7777},
        {"refcount_bits=4", "64k", 65536},
        {"refcount_bits=8", "64k", 65536},
        {"refcount_bits=32", "64k", 65536},
        {"refcount_bits=64", "64k", 12345},
        {"lazy_refcounts=on", "64k", 65536},
        {"extended_l2=on", "64k", 3000},
        {"extended_l2=on,cluster_size=16k", "16k", 65536},
        {"compression_type=zstd", "64k", 65536},
        {"compression_type=zstd,cluster_size=2M", "2M", 65536},
        {"preallocation=metadata", NULL, 65536},
        {"preallocation=falloc", NULL, 65536},
        {"preallocation=full,cluster_size=8k", NULL, 65536},
    };
    char p[300];
    size_t i;

    path_in(p, sizeof(p), "r.qcow2");
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        assert_int_equal(
            sh("qemu-img create -q -f qcow2 -o %s '%s' 4M", v[i].opts, p), 0);
        if (qemu_fill(p, v[i].cs) != 0) {
            fail_msg("qemu-io fill failed for %s", v[i].opts);
        }
        compare_with_qemu(p, "qcow2", v[i].chunk);
    }
}

static void test_read_backing_chain(void **state)
{
    char base[300], mid[300], top[300], rawb[300];

    path_in(base, sizeof(base), "base.qcow2");
    path_in(mid, sizeof(mid), "mid.qcow2");
    path_in(top, sizeof(top), "top.qcow2");
    path_in(rawb, sizeof(rawb), "base.raw");
    assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 3M", base), 0);
    assert_int_equal(sh("qemu-io -f qcow2 -c 'write -P 0xa1 0 3M' '%s' "
                        ">/dev/null",
                        base),
                     0);
    /* Relative names, growing sizes: the top reads zeros past the base. */
    assert_int_equal(sh("cd %s && qemu-img create -q -f qcow2 -b base.qcow2 "
                        "-F qcow2 mid.qcow2 4M",
                        tmpdir),
                     0);
    assert_int_equal(sh("qemu-io -f qcow2 -c 'write -P 0xb2 512k 100k' "
                        "-c 'write -z 1M 64k' -c 'discard 2M 128k' '%s' "
                        ">/dev/null",
                        mid),
                     0);
    assert_int_equal(sh("cd %s && qemu-img create -q -f qcow2 -b mid.qcow2 "
                        "-F qcow2 -o cluster_size=4k top.qcow2 5M",
                        tmpdir),
                     0);
    assert_int_equal(sh("qemu-io -f qcow2 -c 'write -P 0xc3 520k 10k' "
                        "-c 'write -P 0xc4 3500k 1M' '%s' >/dev/null",
                        top),
                     0);
    compare_with_qemu(top, "qcow2", 65536);
    compare_with_qemu(mid, "qcow2", 4096);
    /* Raw backing file. */
    assert_int_equal(sh("head -c 2M /dev/urandom > '%s'", rawb), 0);
    assert_int_equal(sh("cd %s && qemu-img create -q -f qcow2 -b base.raw "
                        "-F raw -o extended_l2=on over.qcow2 3M",
                        tmpdir),
                     0);
    path_in(top, sizeof(top), "over.qcow2");
    assert_int_equal(sh("qemu-io -f qcow2 -c 'write -P 0xd5 1000 3000' "
                        "-c 'write -P 0xd6 1M 1234' '%s' >/dev/null",
                        top),
                     0);
    compare_with_qemu(top, "qcow2", 65536);
    compare_with_qemu(rawb, "raw", 65536);
}

/* xorshift PRNG: reproducible workloads. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void file_write(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/*
 * Random writes, overwrites, zero writes, discards and compressed writes
 * through our library, mirrored in @ref (which starts as the image's
 * current content). Discarded clusters read @below (the backing content,
 * for v2 images with a backing file) or zero. Closes the image.
 */
/* Open flags for random_workload(). */
static unsigned workload_flags;

static void random_workload(const char *p, uint8_t *ref, uint64_t size,
                            int nops, bool compress, const uint8_t *below)
{
    struct qcow2_image *img = NULL;
    struct err e = {0};
    uint8_t *buf = malloc(4 << 20);
    unsigned flags = workload_flags;
    uint32_t cs;
    int i, ret;

    assert_non_null(buf);
    ret = qcow2_open(p, QCOW2_FORMAT_QCOW2, flags, &img, &e);
    if (ret < 0) {
        fail_msg("open %s: %s", p, e.msg);
    }
    cs = qcow2_cluster_size(img);
    for (i = 0; i < nops; i++) {
        int kind = (int)(rnd() % 10);
        uint64_t off = rnd() % size;
        uint64_t len = 1 + rnd() % (rnd() % 4 == 0 ? (1 << 20) : 20000);

        if (len > size - off) {
            len = size - off;
        }
        if (kind < 6) {
            memset(buf, (int)(rnd() & 0xff), len);
            buf[0] ^= 0x5a;
            buf[len - 1] ^= 0xa5;
            ret = qcow2_write(img, off, buf, len, &e);
            memcpy(ref + off, buf, len);
        } else if (kind < 8) {
            ret = qcow2_write_zeroes(img, off, len,
                                     kind == 6 ? QCOW2_ZERO_MAY_UNMAP : 0, &e);
            memset(ref + off, 0, len);
        } else if (kind == 8) {
            uint64_t a = (off + cs - 1) / cs * cs;
            uint64_t b = (off + len) / cs * cs;
            if (off + len == size) {
                b = (size + cs - 1) / cs * cs;
                if (b > size) {
                    b = size;
                }
            }
            ret = qcow2_discard(img, off, len, &e);
            if (b > a && below) {
                memcpy(ref + a, below + a, b - a);
            } else if (b > a) {
                memset(ref + a, 0, b - a);
            }
        } else {
            uint64_t c = off / cs * cs;
            uint64_t n = size - c < cs ? size - c : cs;
            if (!compress) {
                continue;
            }
            /* Compressible but not uniform. */
            for (uint64_t k = 0; k < n; k++) {
                buf[k] = (uint8_t)((k / 100) * 7 + i);
            }
            ret = qcow2_write_compressed(img, c, buf, n, &e);
            memcpy(ref + c, buf, n);
        }
        if (ret < 0) {
            fail_msg("op %d kind %d at %llu+%llu: %s", i, kind,
                     (unsigned long long)off, (unsigned long long)len, e.msg);
        }
        if (i % 50 == 49) {
            assert_int_equal(qcow2_flush(img, &e), 0);
        }
        if (getenv("CHECK_EACH")) {
            uint8_t *all = malloc(size);
            assert_int_equal(qcow2_read(img, 0, all, size, &e), 0);
            for (uint64_t k = 0; k < size; k++) {
                if (all[k] != ref[k]) {
                    fail_msg("after op %d kind %d at %llu+%llu: byte %llu", i,
                             kind, (unsigned long long)off,
                             (unsigned long long)len, (unsigned long long)k);
                }
            }
            free(all);
        }
    }
    /* Our own reads agree before close. */
    for (uint64_t off = 0; off < size; off += 1 << 20) {
        uint64_t n = size - off < (1 << 20) ? size - off : (1 << 20);
        assert_int_equal(qcow2_read(img, off, buf, n, &e), 0);
        if (memcmp(buf, ref + off, n) != 0) {
            fail_msg("read-back mismatch in MiB at %llu",
                     (unsigned long long)off);
        }
    }
    assert_int_equal(qcow2_close(img), 0);
    free(buf);
}

/* qemu-img check must be clean (exit 0: no corruption, no leaks) and
 * qemu-img compare must find @ref's content. */
static void qemu_verify(const char *p, const uint8_t *ref, uint64_t size)
{
    char raw[300];

    path_in(raw, sizeof(raw), "expect.raw");
    file_write(raw, ref, size);
    if (sh("qemu-img check -q -f qcow2 '%s'", p) != 0) {
        sh("qemu-img check -f qcow2 '%s' 1>&2", p);
        fail_msg("qemu-img check failed on %s", p);
    }
    if (sh("qemu-img compare -q -f raw -F qcow2 '%s' '%s'", raw, p) != 0) {
        sh("qemu-img compare -f raw -F qcow2 '%s' '%s' 1>&2", raw, p);
        fail_msg("qemu-img compare differs on %s", p);
    }
}

static void test_write_random(void **state)
{
    static const char *const opts[] = {
        "compat=1.1",
        "compat=0.10",
        "cluster_size=512",
        "cluster_size=4k,refcount_bits=1",
        "cluster_size=8k,refcount_bits=2",
        "refcount_bits=4",
        "refcount_bits=8,cluster_size=32k",
        "refcount_bits=32",
        "refcount_bits=64,cluster_size=2M",
        "lazy_refcounts=on",
        "extended_l2=on",
        "extended_l2=on,cluster_size=16k",
        "compression_type=zstd",
        "preallocation=metadata",
    };
    const uint64_t size = 6 << 20;
    uint8_t *ref = calloc(1, size);
    char p[300];
    size_t i;

    assert_non_null(ref);
    /* fdatasync ordering is the crash test's job (and is exercised by the
     * backing-file workload below); skip the syncs in this long one. */
    workload_flags = QCOW2_OPEN_UNSAFE;
    path_in(p, sizeof(p), "w.qcow2");
    for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        memset(ref, 0, size);
        assert_int_equal(sh("qemu-img create -q -f qcow2 -o %s '%s' %llu",
                            opts[i], p, (unsigned long long)size),
                         0);
        random_workload(p, ref, size, 300, true, NULL);
        qemu_verify(p, ref, size);
        /* Again on the image we wrote (COW of our own clusters). */
        random_workload(p, ref, size, 100, true, NULL);
        qemu_verify(p, ref, size);
    }
    workload_flags = 0;
    free(ref);
}

static void test_write_over_backing(void **state)
{
    static const char *const opts[] = {
        "compat=1.1",
        "compat=0.10",
        "extended_l2=on",
        "cluster_size=4k",
        "cluster_size=128k,extended_l2=on",
    };
    const uint64_t size = 5 << 20;
    uint8_t *ref = calloc(1, size);
    char base[300], p[300], raw[300];
    size_t i, blen;
    uint8_t *b;

    assert_non_null(ref);
    path_in(base, sizeof(base), "wb-base.qcow2");
    path_in(p, sizeof(p), "wb-top.qcow2");
    path_in(raw, sizeof(raw), "wb-base.raw");
    for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        /* Base shorter than the overlay: the tail reads zero. */
        assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 4M", base), 0);
        assert_int_equal(sh("qemu-io -f qcow2 -c 'write -P 0x3c 0 4M' "
                            "-c 'write -P 0x4d 1M 77k' '%s' >/dev/null",
                            base),
                         0);
        assert_int_equal(sh("cd %s && qemu-img create -q -f qcow2 -b "
                            "wb-base.qcow2 -F qcow2 -o %s wb-top.qcow2 %llu",
                            tmpdir, opts[i], (unsigned long long)size),
                         0);
        assert_int_equal(
            sh("qemu-img convert -f qcow2 -O raw '%s' '%s'", p, raw), 0);
        b = file_read(raw, &blen);
        assert_int_equal(blen, size);
        memcpy(ref, b, size);
        random_workload(p, ref, size, 200, strstr(opts[i], "0.10") == NULL,
                        strstr(opts[i], "0.10") ? b : NULL);
        free(b);
        qemu_verify(p, ref, size);
    }
    free(ref);
}

/* Build an image with our library and with qemu-img: identical bytes. */
static void test_create_identical(void **state)
{
    static const struct {
        const char *qopts;
        uint64_t size;
        int version;
        uint32_t cs;
        unsigned rb;
        bool lazy, ext, zstd;
        enum qcow2_prealloc prealloc;
    } c[] = {
        {"", 1ull << 30, 3, 65536, 16, false, false, false},
        {"-o compat=0.10", 1ull << 30, 2, 65536, 16, false, false, false},
        {"-o cluster_size=512,refcount_bits=1", 100000000, 3, 512, 1, false,
         false, false},
        {"-o cluster_size=4k", 100000000000ull, 3, 4096, 16, false, false,
         false},
        {"-o lazy_refcounts=on,extended_l2=on,compression_type=zstd",
         5000000000ull, 3, 65536, 16, true, true, true},
        {"-o cluster_size=2M,refcount_bits=64", 10000000000ull, 3, 2 << 20, 64,
         false, false, false},
        {"-o refcount_bits=8,cluster_size=32k", 12345 * 512, 3, 32768, 8, false,
         false, false},
        {"-o compat=1.1", 0, 3, 65536, 16, false, false, false},
        /* Refcount table growth (512 B clusters: 8 MiB per table cluster). */
        {"-o cluster_size=512", 10000000000ull, 3, 512, 16, false, false,
         false},
        {"-o cluster_size=512,refcount_bits=64", 3000000000ull, 3, 512, 64,
         false, false, false},
        {"-o cluster_size=512,preallocation=metadata", 30000000, 3, 512, 16,
         false, false, false, QCOW2_PREALLOC_METADATA},
        {"-o cluster_size=4k,preallocation=metadata", 50000000, 3, 4096, 16,
         false, false, false, QCOW2_PREALLOC_METADATA},
        {"-o preallocation=metadata", 300000000, 3, 65536, 16, false, false,
         false, QCOW2_PREALLOC_METADATA},
    };
    char ours[300], theirs[300];
    struct err e = {0};
    size_t i;

    path_in(ours, sizeof(ours), "c-ours.qcow2");
    path_in(theirs, sizeof(theirs), "c-theirs.qcow2");
    for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        struct qcow2_create_opts o;

        qcow2_create_opts_init(&o);
        o.size = c[i].size;
        o.version = c[i].version;
        o.cluster_size = c[i].cs;
        o.refcount_bits = c[i].rb;
        o.lazy_refcounts = c[i].lazy;
        o.extended_l2 = c[i].ext;
        o.compression_type =
            c[i].zstd ? QCOW2_COMPRESSION_ZSTD : QCOW2_COMPRESSION_ZLIB;
        o.preallocation = c[i].prealloc;
        if (qcow2_create(ours, &o, &e) < 0) {
            fail_msg("create %s: %s", c[i].qopts, e.msg);
        }
        assert_int_equal(sh("qemu-img create -q -f qcow2 %s '%s' %llu",
                            c[i].qopts, theirs, (unsigned long long)c[i].size),
                         0);
        if (sh("cmp -s '%s' '%s'", ours, theirs) != 0) {
            fail_msg("create %s: files differ", c[i].qopts);
        }
    }
    /* With a backing file, the size defaults to the backing file's. */
    assert_int_equal(sh("qemu-img create -q -f qcow2 '%s/cb.qcow2' 3G", tmpdir),
                     0);
    {
        struct qcow2_create_opts o;
        qcow2_create_opts_init(&o);
        o.backing_file = "cb.qcow2";
        o.backing_fmt = "qcow2";
        assert_int_equal(qcow2_create(ours, &o, &e), 0);
        assert_int_equal(sh("cd %s && qemu-img create -q -f qcow2 -b cb.qcow2 "
                            "-F qcow2 c-theirs.qcow2",
                            tmpdir),
                         0);
        assert_int_equal(sh("cmp -s '%s' '%s'", ours, theirs), 0);
        o.backing_file = "missing.qcow2";
        assert_int_equal(qcow2_create(ours, &o, &e), -ENOENT);
    }
    /* Preallocated images are complete and clean. */
    for (i = QCOW2_PREALLOC_METADATA; i <= QCOW2_PREALLOC_FULL; i++) {
        struct qcow2_create_opts o;
        qcow2_create_opts_init(&o);
        o.size = 3000000;
        o.cluster_size = 4096;
        o.preallocation = (enum qcow2_prealloc)i;
        assert_int_equal(qcow2_create(ours, &o, &e), 0);
        assert_int_equal(sh("qemu-img check -q '%s'", ours), 0);
        assert_int_equal(sh("qemu-img map --output=json '%s' | grep -q "
                            "'\"present\": false'",
                            ours),
                         1);
    }
    /* Bad options. */
    {
        struct qcow2_create_opts o;
        qcow2_create_opts_init(&o);
        o.size = 1 << 20;
        o.cluster_size = 3000;
        assert_int_equal(qcow2_create(ours, &o, &e), -EINVAL);
        o.cluster_size = 8192;
        o.extended_l2 = true;
        assert_int_equal(qcow2_create(ours, &o, &e), -EINVAL);
        o.extended_l2 = false;
        o.version = 2;
        o.refcount_bits = 8;
        assert_int_equal(qcow2_create(ours, &o, &e), -EINVAL);
    }
}

/* Patch @len bytes at @off of file @path. */
static void patch(const char *path, long off, const void *src, size_t len)
{
    int fd = open(path, O_WRONLY);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, src, len, off), (ssize_t)len);
    close(fd);
}

static void patch_be32(const char *path, long off, uint32_t v)
{
    uint8_t b[4];
    wr_be32(b, v);
    patch(path, off, b, 4);
}

static void patch_be64(const char *path, long off, uint64_t v)
{
    uint8_t b[8];
    wr_be64(b, v);
    patch(path, off, b, 8);
}

static int try_open(const char *path, unsigned flags, struct err *e)
{
    struct qcow2_image *img = NULL;
    int ret;

    memset(e, 0, sizeof(*e));
    ret = qcow2_open(path, QCOW2_FORMAT_QCOW2, flags, &img, e);
    if (ret == 0) {
        qcow2_close(img);
    } else {
        assert_true(e->msg[0] != '\0');
        assert_int_equal(e->code, ret);
    }
    return ret;
}

static void fresh(const char *path, const char *opts)
{
    assert_int_equal(sh("qemu-img create -q -f qcow2 %s '%s' 1M && qemu-io -f "
                        "qcow2 -c 'write -P 0x42 0 1M' '%s' >/dev/null",
                        opts, path, path),
                     0);
}

static void test_malformed_headers(void **state)
{
    char p[300], q[300];
    struct err e;

    path_in(p, sizeof(p), "bad.qcow2");
    path_in(q, sizeof(q), "bad2.qcow2");
    fresh(p, "");
    assert_int_equal(try_open(p, QCOW2_OPEN_RDONLY, &e), 0);
    assert_int_equal(sh("truncate -s 50 '%s'", p), 0);
    assert_int_equal(try_open(p, QCOW2_OPEN_RDONLY, &e), -EBADMSG);
    assert_int_equal(sh("truncate -s 0 '%s'", p), 0);
    assert_int_equal(try_open(p, QCOW2_OPEN_RDONLY, &e), -EBADMSG);
    fresh(p, "");
    patch_be32(p, 0, 0x12345678);
    assert_int_equal(try_open(p, 0, &e), -EBADMSG);
    fresh(p, "");
    patch_be32(p, 4, 4);
    assert_int_equal(try_open(p, 0, &e), -ENOTSUP);
    fresh(p, "");
    patch_be32(p, 20, 8);
    assert_int_equal(try_open(p, 0, &e), -EBADMSG);
    patch_be32(p, 20, 22);
    assert_int_equal(try_open(p, 0, &e), -EBADMSG);
    patch_be32(p, 20, 200);
    assert_int_equal(try_open(p, 0, &e), -EBADMSG);
    fresh(p, "-o extended_l2=on,cluster_size=16k");
    patch_be32(p, 20, 13);
    assert_int_equal(try_open(p, 0, &e), -EBADMSG);
    fresh(p, "");
    patch_be32(p, 36, 0x10000000);
    assert_int_equal(try_open(p, 0, &e), -ERANGE);
    patch_be32(p, 36, 0);
    assert_int_equal(try_open(p, 0, &e), -EBADMSG);
    fresh(p, "");
    patch_be64(p, 40, 0x30200);
    assert_int_equal(try_open(p, 0, &e), -EBADMSG);
    fresh(p, "");
    patch_be64(p, 40, 1ull << 60);
    assert_int_equal(try_open(p, 0, &e), -EBADMSG);
    fresh(p, "");
    patch_be64(p, 48, 0x10001);
    assert_int_equal(try_open(p, 0, &e), -EBADMSG);
    fresh(p, "");
    patch_be32(p, 56, 0x7fffffff);
    assert_int_equal(try_open(p, 0, &e), -ERANGE);
    fresh(p, "");
    patch_be32(p, 60, 70000);
    assert_int_equal(try_open(p, 0, &e), -ERANGE);
    fresh(p, "");
    patch_be32(p, 96, 7);
    assert_int_equal(try_open(p, 0, &e), -EBADMSG);
    fresh(p, "");
    patch_be32(p, 100, 100);
    assert_int_equal(try_open(p, 0, &e), -EBADMSG);
    fresh(p, "");
    patch_be64(p, 24, 1ull << 62); /* size needing a huge L1 */
    assert_true(try_open(p, 0, &e) < 0);
    fresh(p, "");
    patch_be64(p, 72, 1ull << 20);
    assert_int_equal(try_open(p, 0, &e), -ENOTSUP);
    assert_non_null(strstr(e.msg, "Unsupported qcow2 feature(s)"));
    assert_non_null(strstr(e.msg, "Unknown incompatible feature: 100000"));
    fresh(p, "");
    patch_be64(p, 72, 1ull << 2);
    assert_int_equal(try_open(p, 0, &e), -ENOTSUP);
    fresh(p, "");
    patch_be32(p, 32, 2);
    assert_int_equal(try_open(p, QCOW2_OPEN_RDONLY, &e), -ENOTSUP);
    fresh(p, "");
    patch_be32(p, 32, 7);
    assert_int_equal(try_open(p, QCOW2_OPEN_RDONLY, &e), -EBADMSG);
    /* Extension running past the cluster. */
    fresh(p, "");
    patch_be32(p, 112 + 4, 0x100000);
    assert_int_equal(try_open(p, 0, &e), -EBADMSG);
    /* Backing name past cluster 0 / too long. */
    fresh(p, "");
    patch_be64(p, 8, 65530);
    patch_be32(p, 16, 100);
    assert_int_equal(try_open(p, 0, &e), -EBADMSG);
    /* Corrupt bit: read-only works, read-write refused. */
    fresh(p, "");
    patch_be64(p, 72, 1ull << 1);
    assert_int_equal(try_open(p, QCOW2_OPEN_RDONLY, &e), 0);
    assert_int_equal(try_open(p, 0, &e), -EPERM);
    /* Backing loop. */
    assert_int_equal(sh("cd %s && qemu-img create -q -f qcow2 la.qcow2 1M && "
                        "qemu-img create -q -f qcow2 -b la.qcow2 -F qcow2 -u "
                        "lb.qcow2 1M && qemu-img rebase -u -f qcow2 -b "
                        "lb.qcow2 -F qcow2 la.qcow2",
                        tmpdir),
                     0);
    path_in(q, sizeof(q), "lb.qcow2");
    assert_int_equal(
        try_open(q, QCOW2_OPEN_RDONLY | QCOW2_OPEN_FORCE_SHARE, &e), -ELOOP);
    /* Missing backing file. */
    assert_int_equal(sh("cd %s && qemu-img create -q -f qcow2 -b gone.qcow2 "
                        "-F qcow2 -u orphan.qcow2 1M",
                        tmpdir),
                     0);
    path_in(q, sizeof(q), "orphan.qcow2");
    assert_int_equal(try_open(q, QCOW2_OPEN_RDONLY, &e), -ENOENT);
    assert_int_equal(try_open(q, QCOW2_OPEN_RDONLY | QCOW2_OPEN_NO_BACKING, &e),
                     0);
}

/* Damaged tables are reported when used, never crash, and a read-only
 * image is never written. */
static void test_malformed_tables(void **state)
{
    char p[300];
    struct qcow2_image *img = NULL;
    struct err e = {0};
    uint8_t buf[4096];
    size_t before_len = 0, after_len = 0;
    uint8_t *before, *after;

    path_in(p, sizeof(p), "tab.qcow2");
    /* Compressed cluster whose descriptor runs past the end of the file. */
    assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 1M && qemu-io -f "
                        "qcow2 -c 'write -c -P 0x42 0 64k' '%s' >/dev/null",
                        p, p),
                     0);
    {
        /* L2 at 0x40000: make the descriptor claim 200 sectors past EOF. */
        uint8_t l2e[8];
        int fd = open(p, O_RDWR);
        assert_true(pread(fd, l2e, 8, 0x40000) == 8);
        wr_be64(l2e, rd_be64(l2e) | (200ull << 54));
        assert_true(pwrite(fd, l2e, 8, 0x40000) == 8);
        close(fd);
    }
    before = file_read(p, &before_len);
    assert_int_equal(
        qcow2_open(p, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &img, &e), 0);
    assert_int_equal(qcow2_read(img, 0, buf, sizeof(buf), &e), -EBADMSG);
    qcow2_close(img);
    /* Garbage that does not decompress. */
    assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 1M && qemu-io -f "
                        "qcow2 -c 'write -c -P 0x42 0 64k' '%s' >/dev/null && "
                        "dd if=/dev/urandom of='%s' bs=1 seek=327680 count=64 "
                        "conv=notrunc status=none",
                        p, p, p),
                     0);
    assert_int_equal(
        qcow2_open(p, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &img, &e), 0);
    assert_int_equal(qcow2_read(img, 0, buf, sizeof(buf), &e), -EBADMSG);
    qcow2_close(img);
    /* Unaligned L2 entry: an error on read; a read-only open never writes. */
    assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 1M && qemu-io -f "
                        "qcow2 -c 'write -P 0x42 0 64k' '%s' >/dev/null",
                        p, p),
                     0);
    patch_be64(p, 0x40000, 0x8000000000050200ull);
    free(before);
    before = file_read(p, &before_len);
    assert_int_equal(
        qcow2_open(p, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &img, &e), 0);
    assert_int_equal(qcow2_read(img, 0, buf, sizeof(buf), &e), -EIO);
    assert_int_equal(qcow2_write(img, 0, buf, 10, &e), -EROFS);
    qcow2_close(img);
    after = file_read(p, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(after);
    /* Read-write: the overlap check refuses a data cluster on the L1 and
     * marks the image corrupt; further writes fail (sticky). */
    patch_be64(p, 0x40000, 0x8000000000030000ull);
    assert_int_equal(qcow2_open(p, QCOW2_FORMAT_QCOW2, 0, &img, &e), 0);
    assert_int_equal(qcow2_write(img, 0, buf, 512, &e), -EIO);
    assert_non_null(strstr(e.msg, "corrupt"));
    assert_true(qcow2_write(img, 128 << 10, buf, 512, &e) < 0);
    qcow2_close(img);
    assert_int_equal(sh("qemu-img info '%s' | grep -q 'corrupt: true'", p), 0);
    free(before);
}

static void test_locking(void **state)
{
    char p[300];
    struct qcow2_image *img = NULL;
    struct err e = {0};
    int i, ret = 0, qst;
    pid_t qpid;

    path_in(p, sizeof(p), "lock.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 1M", p), 0);
    /* A running qemu-io holds the image read-write. */
    qpid = fork();
    if (qpid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        dup2(nul, 2);
        execlp("qemu-io", "qemu-io", "-f", "qcow2", "-c", "sleep 60000", p,
               (char *)NULL);
        _exit(127);
    }
    assert_true(qpid > 0);
    /* Wait (without taking locks ourselves, which would make qemu-io give
     * up) until qemu-io holds its write-permission byte. */
    for (i = 0; i < 3000; i++) {
        struct flock fl = {.l_type = F_WRLCK,
                           .l_whence = SEEK_SET,
                           .l_start = 101,
                           .l_len = 1};
        int fd = open(p, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(fcntl(fd, F_OFD_GETLK, &fl), 0);
        close(fd);
        if (fl.l_type != F_UNLCK) {
            break;
        }
        usleep(10000);
    }
    ret = qcow2_open(p, QCOW2_FORMAT_QCOW2, 0, &img, &e);
    assert_int_equal(ret, -EBUSY);
    assert_non_null(strstr(e.msg, "lock"));
    assert_int_equal(
        qcow2_open(p, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &img, &e), -EBUSY);
    assert_int_equal(qcow2_open(p, QCOW2_FORMAT_QCOW2,
                                QCOW2_OPEN_RDONLY | QCOW2_OPEN_FORCE_SHARE,
                                &img, &e),
                     0);
    qcow2_close(img);
    /* Once qemu-io is gone we hold the image and QEMU sees our lock. */
    kill(qpid, SIGTERM);
    assert_int_equal(waitpid(qpid, &qst, 0), qpid);
    ret = qcow2_open(p, QCOW2_FORMAT_QCOW2, 0, &img, &e);
    assert_int_equal(ret, 0);
    assert_int_not_equal(sh("qemu-img info '%s' >/dev/null 2>&1", p), 0);
    assert_int_equal(sh("qemu-img info -U '%s' >/dev/null 2>&1", p), 0);
    /* A second handle in another process (forked) is refused too. */
    {
        pid_t pid = fork();
        int st;
        if (pid == 0) {
            struct qcow2_image *o = NULL;
            int r = qcow2_open(p, QCOW2_FORMAT_QCOW2, 0, &o, NULL);
            _exit(r == -EBUSY ? 0 : 1);
        }
        assert_true(pid > 0);
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    /* Creating over an image in use is refused before anything is
     * truncated. */
    {
        struct qcow2_create_opts o;
        qcow2_create_opts_init(&o);
        o.size = 1 << 20;
        assert_int_equal(qcow2_create(p, &o, &e), -EBUSY);
    }
    qcow2_close(img);
    assert_int_equal(sh("qemu-img check -q '%s'", p), 0);
    assert_int_equal(sh("qemu-img info '%s' >/dev/null 2>&1", p), 0);
    /* Force-share is only for read-only opens. */
    assert_int_equal(
        qcow2_open(p, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_FORCE_SHARE, &img, &e),
        -EINVAL);
}

/* Snapshot of the guest content via qemu-img convert. */
static uint8_t *qemu_content(const char *p, size_t *len)
{
    char raw[300];

    path_in(raw, sizeof(raw), "content.raw");
    assert_int_equal(
        sh("qemu-img convert -U -f qcow2 -O raw '%s' '%s'", p, raw), 0);
    return file_read(raw, len);
}

static void test_resize(void **state)
{
    char p[300];
    struct qcow2_image *img = NULL;
    struct err e = {0};
    uint8_t *a, *b;
    size_t alen, blen;

    path_in(p, sizeof(p), "rs.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 -o cluster_size=4k '%s' "
                        "3M && qemu-io -f qcow2 -c 'write -P 0x61 0 3M' '%s' "
                        ">/dev/null",
                        p, p),
                     0);
    a = qemu_content(p, &alen);
    assert_int_equal(qcow2_open(p, QCOW2_FORMAT_QCOW2, 0, &img, &e), 0);
    /* Grow past several L2 tables (4k clusters: 2 MiB per table). */
    assert_int_equal(qcow2_resize(img, 64 << 20, false, QCOW2_PREALLOC_OFF, &e),
                     0);
    assert_int_equal(qcow2_size(img), 64 << 20);
    assert_int_equal(qcow2_write(img, 60 << 20, "tail", 4, &e), 0);
    assert_int_equal(qcow2_resize(img, 1 << 20, false, QCOW2_PREALLOC_OFF, &e),
                     -EINVAL);
    assert_int_equal(qcow2_resize(img, 1000, true, QCOW2_PREALLOC_OFF, &e),
                     -EINVAL);
    assert_int_equal(qcow2_resize(img, 1 << 20, true, QCOW2_PREALLOC_OFF, &e),
                     0);
    assert_int_equal(qcow2_close(img), 0);
    assert_int_equal(sh("qemu-img check -q '%s'", p), 0);
    assert_int_equal(sh("qemu-img info '%s' | grep -q '(1048576 bytes)'", p),
                     0);
    b = qemu_content(p, &blen);
    assert_int_equal(blen, 1 << 20);
    assert_memory_equal(a, b, blen);
    free(b);
    /* The file shrank too: the clusters past the end were freed and the
     * tail truncated (only the relocated L1 stays where it was). */
    assert_int_equal(sh("test $(stat -c %%s '%s') -lt 3400000", p), 0);
    /* Growing with preallocation. */
    assert_int_equal(qcow2_open(p, QCOW2_FORMAT_QCOW2, 0, &img, &e), 0);
    assert_int_equal(
        qcow2_resize(img, 2 << 20, false, QCOW2_PREALLOC_METADATA, &e), 0);
    assert_int_equal(qcow2_close(img), 0);
    assert_int_equal(sh("qemu-img check -q '%s'", p), 0);
    b = qemu_content(p, &blen);
    assert_int_equal(blen, 2 << 20);
    assert_memory_equal(a, b, 1 << 20);
    free(b);
    free(a);
}

static void test_amend(void **state)
{
    char p[300];
    struct qcow2_image *img = NULL;
    struct err e = {0};
    struct qcow2_amend_opts ao;
    uint8_t *a, *b;
    size_t alen, blen;
    static const int widths[] = {1, 64, 2, 8, 16};
    size_t i;

    path_in(p, sizeof(p), "am.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 4M && qemu-io -f "
                        "qcow2 -c 'write -P 0x61 0 1M' -c 'write -z 512k 256k' "
                        "-c 'write -z -u 2M 128k' -c 'write -c -P 7 3M 64k' "
                        "'%s' >/dev/null",
                        p, p),
                     0);
    a = qemu_content(p, &alen);
    for (i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
        assert_int_equal(qcow2_open(p, QCOW2_FORMAT_QCOW2, 0, &img, &e), 0);
        ao.version = -1;
        ao.lazy_refcounts = -1;
        ao.refcount_bits = widths[i];
        if (qcow2_amend(img, &ao, &e) < 0) {
            fail_msg("amend refcount_bits=%d: %s", widths[i], e.msg);
        }
        assert_int_equal(qcow2_close(img), 0);
        if (sh("qemu-img check -q '%s'", p) != 0) {
            fail_msg("check after refcount_bits=%d", widths[i]);
        }
        assert_int_equal(sh("qemu-img info '%s' | grep -q 'refcount bits: "
                            "%d$'",
                            p, widths[i]),
                         0);
    }
    /* Downgrade to v2 (zero clusters become unallocated), then back. */
    assert_int_equal(qcow2_open(p, QCOW2_FORMAT_QCOW2, 0, &img, &e), 0);
    ao.version = 2;
    ao.refcount_bits = -1;
    ao.lazy_refcounts = -1;
    if (qcow2_amend(img, &ao, &e) < 0) {
        fail_msg("amend compat=0.10: %s", e.msg);
    }
    assert_int_equal(qcow2_close(img), 0);
    assert_int_equal(sh("qemu-img check -q '%s'", p), 0);
    assert_int_equal(sh("qemu-img info '%s' | grep -q 'compat: 0.10'", p), 0);
    b = qemu_content(p, &blen);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    free(b);
    assert_int_equal(qcow2_open(p, QCOW2_FORMAT_QCOW2, 0, &img, &e), 0);
    ao.version = 3;
    ao.lazy_refcounts = 1;
    assert_int_equal(qcow2_amend(img, &ao, &e), 0);
    assert_int_equal(qcow2_write(img, 100, "lazy", 4, &e), 0);
    assert_int_equal(qcow2_close(img), 0);
    assert_int_equal(sh("qemu-img check -q '%s'", p), 0);
    assert_int_equal(
        sh("qemu-img info '%s' | grep -q 'lazy refcounts: true'", p), 0);
    /* v2 cannot have other widths or lazy refcounts. */
    assert_int_equal(qcow2_open(p, QCOW2_FORMAT_QCOW2, 0, &img, &e), 0);
    ao.version = 2;
    ao.lazy_refcounts = 1;
    assert_int_equal(qcow2_amend(img, &ao, &e), -EINVAL);
    ao.lazy_refcounts = 0;
    ao.refcount_bits = 4;
    assert_int_equal(qcow2_amend(img, &ao, &e), -EINVAL);
    qcow2_close(img);
    free(a);
}

/* A lazy-refcount image left dirty (process died without closing) is
 * repaired on the next read-write open. */
static void test_lazy_dirty_repair(void **state)
{
    char p[300];
    struct qcow2_image *img = NULL;
    struct err e = {0};
    uint8_t buf[65536];
    pid_t pid;
    int st;

    path_in(p, sizeof(p), "lazy.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 -o lazy_refcounts=on "
                        "'%s' 8M",
                        p),
                     0);
    pid = fork();
    if (pid == 0) {
        struct qcow2_image *c = NULL;
        memset(buf, 0x5e, sizeof(buf));
        if (qcow2_open(p, QCOW2_FORMAT_QCOW2, 0, &c, NULL) < 0) {
            _exit(1);
        }
        for (int i = 0; i < 40; i++) {
            if (qcow2_write(c, (uint64_t)i * 150000, buf, sizeof(buf), NULL) <
                0) {
                _exit(2);
            }
        }
        if (qcow2_flush(c, NULL) < 0) {
            _exit(3);
        }
        _exit(0); /* no close: the dirty bit stays set */
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(sh("qemu-img info -U '%s' | grep -q 'cleanly shut "
                        "down: no'",
                        p),
                     0);
    /* Read-only: still readable, not repaired. */
    assert_int_equal(
        qcow2_open(p, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &img, &e), 0);
    assert_int_equal(qcow2_read(img, 150000, buf, 100, &e), 0);
    assert_int_equal(buf[0], 0x5e);
    qcow2_close(img);
    assert_int_equal(qcow2_open(p, QCOW2_FORMAT_QCOW2, 0, &img, &e), 0);
    assert_int_equal(qcow2_close(img), 0);
    assert_int_equal(sh("qemu-img check -q '%s'", p), 0);
    assert_int_not_equal(sh("qemu-img info '%s' | grep -q 'cleanly shut "
                            "down: no'",
                            p),
                         0);
}

static void test_measure(void **state)
{
    static const struct {
        const char *qopts;
        uint64_t size;
        uint32_t cs;
        unsigned rb;
        bool ext;
    } m[] = {
        {"", 10ull << 30, 65536, 16, false},
        {"-o cluster_size=512", 1ull << 30, 512, 16, false},
        {"-o refcount_bits=1,cluster_size=4k", 123456789, 4096, 1, false},
        {"-o extended_l2=on", 100ull << 30, 65536, 16, true},
        {"-o cluster_size=2M,refcount_bits=64", 1ull << 40, 2 << 20, 64, false},
    };
    char out[300];
    size_t i;

    path_in(out, sizeof(out), "measure.txt");
    for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        struct qcow2_create_opts o;
        unsigned long long qreq = 0, qfull = 0;
        uint64_t req, full;
        FILE *f;

        qcow2_create_opts_init(&o);
        o.cluster_size = m[i].cs;
        o.refcount_bits = m[i].rb;
        o.extended_l2 = m[i].ext;
        qcow2_measure(&o, m[i].size, 0, &req, &full);
        assert_int_equal(sh("qemu-img measure -O qcow2 %s --size %llu > '%s'",
                            m[i].qopts, (unsigned long long)m[i].size, out),
                         0);
        f = fopen(out, "r");
        assert_non_null(f);
        assert_int_equal(fscanf(f, "required size: %llu\n", &qreq), 1);
        assert_int_equal(fscanf(f, "fully allocated size: %llu", &qfull), 1);
        fclose(f);
        if (req != qreq || full != qfull) {
            fail_msg("measure %s: ours %llu/%llu qemu %llu/%llu", m[i].qopts,
                     (unsigned long long)req, (unsigned long long)full, qreq,
                     qfull);
        }
    }
}

static void test_raw_and_block_status(void **state)
{
    char p[300], q[300];
    struct qcow2_image *img = NULL;
    struct qcow2_create_opts o;
    struct qcow2_extent ex;
    struct err e = {0};
    uint8_t buf[8192];
    enum qcow2_format fmt;

    path_in(p, sizeof(p), "disk.raw");
    qcow2_create_opts_init(&o);
    o.format = QCOW2_FORMAT_RAW;
    o.size = 1 << 20;
    assert_int_equal(qcow2_create(p, &o, &e), 0);
    assert_int_equal(qcow2_probe(p, &fmt, &e), 0);
    assert_int_equal(fmt, QCOW2_FORMAT_RAW);
    assert_int_equal(qcow2_open(p, QCOW2_FORMAT_RAW, 0, &img, &e), 0);
    assert_int_equal(qcow2_size(img), 1 << 20);
    memset(buf, 0x33, sizeof(buf));
    assert_int_equal(qcow2_write(img, 4096, buf, sizeof(buf), &e), 0);
    assert_int_equal(qcow2_write_zeroes(img, 8192, 4096, 0, &e), 0);
    assert_int_equal(qcow2_read(img, 4000, buf, 8192, &e), 0);
    assert_int_equal(buf[0], 0);
    assert_int_equal(buf[96], 0x33);
    assert_int_equal(buf[4096 + 96], 0);
    assert_int_equal(qcow2_read(img, (1 << 20) - 10, buf, 11, &e), -EINVAL);
    qcow2_close(img);
    /* qcow2 block status, as qemu-img map reports it. */
    path_in(q, sizeof(q), "bs.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 4M && qemu-io -f "
                        "qcow2 -c 'write -P 1 0 256k' -c 'write -z 1M 128k' "
                        "-c 'write -c -P 2 2M 64k' '%s' >/dev/null",
                        q, q),
                     0);
    assert_int_equal(qcow2_probe(q, &fmt, &e), 0);
    assert_int_equal(fmt, QCOW2_FORMAT_QCOW2);
    assert_int_equal(
        qcow2_open(q, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &img, &e), 0);
    assert_int_equal(qcow2_block_status(img, 0, 4 << 20, true, &ex, &e), 0);
    assert_int_equal(ex.length, 256 << 10);
    assert_int_equal(ex.flags, QCOW2_BS_DATA | QCOW2_BS_ALLOCATED |
                                   QCOW2_BS_OFFSET | QCOW2_BS_PRESENT);
    assert_int_equal(ex.host_offset, 0x50000);
    assert_int_equal(qcow2_block_status(img, 256 << 10, 4 << 20, true, &ex, &e),
                     0);
    assert_int_equal(ex.length, 768 << 10);
    assert_int_equal(ex.flags, QCOW2_BS_ZERO);
    assert_int_equal(qcow2_block_status(img, 1 << 20, 4 << 20, true, &ex, &e),
                     0);
    assert_int_equal(ex.length, 128 << 10);
    assert_int_equal(ex.flags,
                     QCOW2_BS_ZERO | QCOW2_BS_ALLOCATED | QCOW2_BS_PRESENT);
    assert_int_equal(qcow2_block_status(img, 2 << 20, 4 << 20, true, &ex, &e),
                     0);
    assert_int_equal(ex.length, 64 << 10);
    assert_true(ex.flags & QCOW2_BS_COMPRESSED);
    qcow2_close(img);
}

/*
 * Block status follows QEMU's rules: in a metadata-preallocated image the
 * holes of the host file inside data clusters read as zero; extended L2
 * entries give host offsets for unallocated subclusters of an allocated
 * cluster; a raw file counts in whole sectors; past a short backing file
 * the overlay answers itself.
 */
static void test_block_status_rules(void **state)
{
    char p[300], b[300];
    struct qcow2_image *img = NULL;
    struct qcow2_extent ex;
    struct err e = {0};
    const unsigned data =
        QCOW2_BS_DATA | QCOW2_BS_ALLOCATED | QCOW2_BS_OFFSET | QCOW2_BS_PRESENT;

    path_in(p, sizeof(p), "meta.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 -o preallocation=metadata "
                        "'%s' 1M && qemu-io -f qcow2 -c 'write -P 1 4k 4k' "
                        "'%s' >/dev/null",
                        p, p),
                     0);
    assert_int_equal(
        qcow2_open(p, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &img, &e), 0);
    assert_int_equal(qcow2_block_status(img, 0, 1 << 20, true, &ex, &e), 0);
    assert_int_equal(ex.length, 4096);
    assert_int_equal(ex.flags, data | QCOW2_BS_ZERO);
    assert_int_equal(qcow2_block_status(img, 4096, 1 << 20, true, &ex, &e), 0);
    assert_int_equal(ex.length, 4096);
    assert_int_equal(ex.flags, data);
    assert_int_equal(ex.host_offset, 0x51000);
    assert_int_equal(qcow2_block_status(img, 8192, 1 << 20, true, &ex, &e), 0);
    assert_int_equal(ex.length, (1 << 20) - 8192);
    assert_int_equal(ex.flags, data | QCOW2_BS_ZERO);
    qcow2_close(img);

    path_in(p, sizeof(p), "extl2.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 -o extended_l2=on '%s' "
                        "1M && qemu-io -f qcow2 -c 'write -P 1 0 4k' "
                        "-c 'write -P 2 8k 4k' '%s' >/dev/null",
                        p, p),
                     0);
    assert_int_equal(
        qcow2_open(p, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &img, &e), 0);
    assert_int_equal(qcow2_block_status(img, 4096, 1 << 20, true, &ex, &e), 0);
    assert_int_equal(ex.length, 4096);
    assert_int_equal(ex.flags, QCOW2_BS_ZERO | QCOW2_BS_OFFSET);
    assert_int_equal(ex.host_offset, 0x51000);
    qcow2_close(img);

    path_in(b, sizeof(b), "short.qcow2");
    path_in(p, sizeof(p), "long.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 1M && qemu-img "
                        "create -q -f qcow2 -b '%s' -F qcow2 '%s' 3M",
                        b, b, p),
                     0);
    assert_int_equal(
        qcow2_open(p, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &img, &e), 0);
    assert_int_equal(qcow2_block_status(img, 0, 3 << 20, true, &ex, &e), 0);
    assert_int_equal(ex.length, 1 << 20);
    assert_int_equal(ex.depth, 1);
    assert_int_equal(qcow2_block_status(img, 1 << 20, 3 << 20, true, &ex, &e),
                     0);
    assert_int_equal(ex.length, 2 << 20);
    assert_int_equal(ex.depth, 0);
    assert_int_equal(ex.flags, QCOW2_BS_ZERO);
    qcow2_close(img);

    path_in(p, sizeof(p), "odd.raw");
    assert_int_equal(sh("head -c 1000 /dev/urandom > '%s'", p), 0);
    assert_int_equal(
        qcow2_open(p, QCOW2_FORMAT_RAW, QCOW2_OPEN_RDONLY, &img, &e), 0);
    assert_int_equal(qcow2_size(img), 1024);
    assert_int_equal(qcow2_block_status(img, 0, 1024, true, &ex, &e), 0);
    assert_int_equal(ex.length, 1000);
    assert_int_equal(ex.flags, data);
    assert_int_equal(qcow2_block_status(img, 1000, 1024, true, &ex, &e), 0);
    assert_int_equal(ex.length, 24);
    assert_int_equal(ex.flags, QCOW2_BS_ZERO | QCOW2_BS_ALLOCATED |
                                   QCOW2_BS_OFFSET | QCOW2_BS_PRESENT);
    qcow2_close(img);
}

/* The open file flags of @fd, from /proc/self/fdinfo (octal). */
static long fd_flags(int fd)
{
    char path[64], line[128];
    long flags = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
    f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "flags:", 6)) {
            flags = strtol(line + 6, NULL, 8);
        }
    }
    fclose(f);
    return flags;
}

/*
 * cache=none: the file (and the backing file) is open with O_DIRECT, and
 * unaligned reads and writes, metadata and data, give the same bytes and
 * the same file length as buffered I/O.
 */
static void test_nocache_direct_io(void **state)
{
    char b[300], t[300], r1[300], r2[300];
    struct qcow2_image *img = NULL;
    struct qcow2_create_opts o;
    struct err e = {0};
    uint8_t *pat = mem_alloc(300000);
    uint8_t *got = mem_alloc(300000);
    struct stat st1, st2;
    size_t i;

    assert_non_null(pat);
    assert_non_null(got);
    for (i = 0; i < 300000; i++) {
        pat[i] = (uint8_t)(i * 7 + i / 251);
    }
    path_in(b, sizeof(b), "dio-base.qcow2");
    path_in(t, sizeof(t), "dio-top.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 4M && qemu-io -f "
                        "qcow2 -c 'write -P 9 0 1M' '%s' >/dev/null && "
                        "qemu-img create -q -f qcow2 -o cluster_size=4k -b "
                        "'%s' -F qcow2 '%s'",
                        b, b, b, t),
                     0);
    assert_int_equal(
        qcow2_open(t, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_NOCACHE, &img, &e), 0);
    assert_true(fd_flags(img->fd) & O_DIRECT);
    assert_true(fd_flags(img->backing->fd) & O_DIRECT);
    assert_true(img->dio_align >= 512);
    /* unaligned buffer, offset and length; COW from the backing file */
    assert_int_equal(qcow2_write(img, 1001, pat + 3, 299997, &e), 0);
    assert_int_equal(qcow2_read(img, 999, got + 1, 300001 - 1000, &e), 0);
    assert_int_equal(got[1], 9);
    assert_int_equal(got[2], 9);
    assert_memory_equal(got + 3, pat + 3, 299997 - 1000);
    assert_int_equal(qcow2_close(img), 0);
    img = NULL;
    assert_int_equal(sh("qemu-img check -q '%s'", t), 0);
    assert_int_equal(sh("qemu-io -f qcow2 -c 'read -P 9 0 1001' -c "
                        "'read -P 9 301000 700000' '%s' >/dev/null",
                        t),
                     0);

    /* a raw file of odd length keeps it through unaligned direct writes */
    path_in(r1, sizeof(r1), "dio-1.raw");
    path_in(r2, sizeof(r2), "dio-2.raw");
    qcow2_create_opts_init(&o);
    o.format = QCOW2_FORMAT_RAW;
    o.size = 5000;
    assert_int_equal(qcow2_create(r1, &o, &e), 0);
    assert_int_equal(qcow2_create(r2, &o, &e), 0);
    assert_int_equal(truncate(r1, 4999), 0);
    assert_int_equal(truncate(r2, 4999), 0);
    for (i = 0; i < 2; i++) {
        assert_int_equal(qcow2_open(i ? r2 : r1, QCOW2_FORMAT_RAW,
                                    i ? QCOW2_OPEN_NOCACHE : 0, &img, &e),
                         0);
        assert_int_equal(qcow2_write(img, 3, pat, 10, &e), 0);
        assert_int_equal(qcow2_write(img, 4990, pat + 10, 9, &e), 0);
        assert_int_equal(qcow2_read(img, 0, got, 5000, &e), 0);
        assert_memory_equal(got + 3, pat, 10);
        assert_memory_equal(got + 4990, pat + 10, 9);
        assert_int_equal(got[4999], 0);
        assert_int_equal(qcow2_close(img), 0);
        img = NULL;
    }
    assert_int_equal(stat(r1, &st1), 0);
    assert_int_equal(stat(r2, &st2), 0);
    assert_int_equal(st1.st_size, 4999);
    assert_int_equal(st2.st_size, 4999);
    assert_int_equal(sh("cmp -s '%s' '%s'", r1, r2), 0);
    mem_free(pat);
    mem_free(got);
}

/* Bitmaps survive our writes (marked in use, still counted) and unknown
 * header extensions survive a header rewrite. */
static void test_extensions_preserved(void **state)
{
    char p[300];
    struct qcow2_image *img = NULL;
    struct qcow2_amend_opts ao = {-1, -1, 1};
    struct err e = {0};
    uint8_t ext[16], got[16];
    size_t len = 0;
    uint8_t *f;
    int fd;

    path_in(p, sizeof(p), "bm.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 4M && qemu-io -f "
                        "qcow2 -c 'write -P 1 0 1M' '%s' >/dev/null && "
                        "qemu-img bitmap --add '%s' b0 && qemu-img bitmap "
                        "--add -g 128k '%s' b1",
                        p, p, p, p),
                     0);
    assert_int_equal(qcow2_open(p, QCOW2_FORMAT_QCOW2, 0, &img, &e), 0);
    assert_int_equal(qcow2_write(img, 2 << 20, "hello", 5, &e), 0);
    assert_int_equal(qcow2_close(img), 0);
    assert_int_equal(sh("qemu-img check -q '%s'", p), 0);
    assert_int_equal(sh("qemu-img info '%s' | grep -c in-use | grep -q 2", p),
                     0);
    /* Plant an unknown extension where the end marker was (after the
     * 112-byte header and the 392-byte feature table). */
    assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 4M", p), 0);
    wr_be32(ext, 0x12345678);
    wr_be32(ext + 4, 5);
    memcpy(ext + 8, "abcde\0\0\0", 8);
    fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, ext, 16, 112 + 392), 16);
    close(fd);
    assert_int_equal(qcow2_open(p, QCOW2_FORMAT_QCOW2, 0, &img, &e), 0);
    assert_int_equal(qcow2_amend(img, &ao, &e), 0); /* rewrites the header */
    assert_int_equal(qcow2_close(img), 0);
    f = file_read(p, &len);
    assert_non_null(f);
    memcpy(got, f + 112 + 392, 16);
    assert_memory_equal(got, ext, 16);
    assert_int_equal(rd_be64(f + 80) & 1, 1); /* lazy refcounts on */
    free(f);
    assert_int_equal(sh("qemu-img check -q '%s'", p), 0);
}

static void test_make_empty_and_set_backing(void **state)
{
    char top[300], base[300];
    struct qcow2_image *img = NULL;
    struct qcow2_info info;
    struct err e = {0};
    uint8_t buf[4096];

    path_in(base, sizeof(base), "me-base.qcow2");
    path_in(top, sizeof(top), "me-top.qcow2");
    assert_int_equal(sh("cd %s && qemu-img create -q -f qcow2 me-base.qcow2 "
                        "2M && qemu-io -f qcow2 -c 'write -P 0x21 0 2M' "
                        "me-base.qcow2 >/dev/null && qemu-img create -q -f "
                        "qcow2 -b me-base.qcow2 -F qcow2 me-top.qcow2 && "
                        "qemu-io -f qcow2 -c 'write -P 0x43 100k 300k' "
                        "me-top.qcow2 >/dev/null",
                        tmpdir),
                     0);
    assert_int_equal(qcow2_open(top, QCOW2_FORMAT_QCOW2, 0, &img, &e), 0);
    assert_int_equal(qcow2_read(img, 200 << 10, buf, sizeof(buf), &e), 0);
    assert_int_equal(buf[0], 0x43);
    assert_int_equal(qcow2_make_empty(img, &e), 0);
    assert_int_equal(qcow2_read(img, 200 << 10, buf, sizeof(buf), &e), 0);
    assert_int_equal(buf[0], 0x21);
    /* Drop the backing file: unallocated clusters now read zero. */
    assert_int_equal(qcow2_set_backing(img, NULL, NULL, &e), 0);
    assert_null(qcow2_backing(img));
    assert_int_equal(qcow2_read(img, 200 << 10, buf, sizeof(buf), &e), 0);
    assert_int_equal(buf[0], 0);
    /* And back (relative name, with format). */
    assert_int_equal(qcow2_set_backing(img, "me-base.qcow2", "qcow2", &e), 0);
    assert_non_null(qcow2_backing(img));
    qcow2_get_info(img, &info);
    assert_string_equal(info.backing_file, "me-base.qcow2");
    assert_string_equal(info.backing_fmt, "qcow2");
    assert_int_equal(qcow2_close(img), 0);
    assert_int_equal(sh("qemu-img check -q '%s'", top), 0);
    assert_int_equal(
        sh("qemu-img compare -q -f qcow2 -F qcow2 '%s' '%s'", top, base), 0);
    assert_int_equal(sh("qemu-img info '%s' | grep -q 'backing file format: "
                        "qcow2'",
                        top),
                     0);
}

static int group_setup(void **state)
{
    strcpy(tmpdir, "/tmp/test-qcow2-core-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    if (!getenv("KEEP_TMP")) {
        sh("rm -rf '%s'", tmpdir);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_qemu_images),
        cmocka_unit_test(test_read_backing_chain),
        cmocka_unit_test(test_write_random),
        cmocka_unit_test(test_write_over_backing),
        cmocka_unit_test(test_create_identical),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_malformed_tables),
        cmocka_unit_test(test_locking),
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_amend),
        cmocka_unit_test(test_lazy_dirty_repair),
        cmocka_unit_test(test_measure),
        cmocka_unit_test(test_raw_and_block_status),
        cmocka_unit_test(test_block_status_rules),
        cmocka_unit_test(test_nocache_direct_io),
        cmocka_unit_test(test_extensions_preserved),
        cmocka_unit_test(test_make_empty_and_set_backing),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
