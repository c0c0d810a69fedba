/* SPDX-License-Identifier: MIT */
/*
 * qcow2/qcow2-check.c - consistency check and repair of qcow2 metadata, as
 * `qemu-img check [-r leaks|all]` of QEMU 7.2 does (same problem lines, same
 * counts), and the refcount rebuild used for dirty lazy-refcount images.
 *
 * The check builds an in-memory refcount table (IMRT) by walking every
 * structure that references host clusters, then compares it with the
 * on-disk refcounts. The IMRT uses the on-disk refblock encoding, so a
 * rebuild writes slices of it as new refcount blocks. Snapshot operations
 * use the same walk to count the state they are about to switch to
 * (qcow2_refs_count(), qcow2_refs_write()).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/log.h"
#include "qcow2/qcow2-int.h"

/* QEMU refuses to check files of more clusters than an int can count. */
#define CHK_MAX_CLUSTERS  0x7fffffffll
#define CHK_REFT_RESERVED 0x1ffull
/*
 * How far repairing a refcount block "outside the image" may grow the file.
 * QEMU grows it to wherever the entry points (up to INT_MAX clusters); an
 * entry far past the end is garbage, not a lost tail, and growing a file to
 * a TiB (and the in-memory refcounts with it) is a denial of service. Past
 * this we rebuild the refcount structure instead.
 */
#define CHK_MAX_GROW (1ull << 30)
/* In-memory refcounts the check may hold: 1 GiB covers 2^29 clusters at
 * 16 bits (32 TiB of 64 KiB clusters). A sparse hostile file must not make
 * us allocate more. */
#define CHK_MAX_IMRT_BYTES (1ull << 30)
/* Bitmap directory and table limits (docs/interop/qcow2.txt). */
#define CHK_BM_DIR_MAX_BYTES     (64u << 20)
#define CHK_BM_TABLE_MAX_ENTRIES (0x8000000u)
#define CHK_BME_OFFSET_MASK      0x00fffffffffffe00ull
#define CHK_BME_RESERVED         0xff000000000001feull
#define CHK_EXTL2_ALL_ALLOC      0xffffffffull

enum chk_fix {
    CHK_FIX_LEAKS = QCOW2_REPAIR_LEAKS,
    CHK_FIX_ERRORS = QCOW2_REPAIR_ERRORS,
};

/* State of one check pass. */
struct chk {
    struct qcow2_image *img;
    qcow2_check_report_fn *report;
    void *opaque;
    unsigned fix;
    uint8_t *rt;          /* IMRT, refblock-encoded; owned */
    int64_t nb_clusters;  /* entries the IMRT covers */
    uint64_t file_len;    /* bytes */
    uint64_t snap_offset; /* snapshot table as read by the check */
    uint64_t snap_len;    /* bytes */
    bool rebuild;
    bool rebuilt;
    /* One cached on-disk refcount block for chk_disk_refcount(). */
    uint8_t *rb;
    uint64_t rb_offset; /* 0 = nothing cached */
};

static void chk_print(struct chk *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void chk_print(struct chk *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log_debug("qcow2 check: %s", line);
    if (c->report) {
        c->report(c->opaque, line);
    }
}

static unsigned chk_order(const struct qcow2_image *img)
{
    unsigned order = 0;

    while ((1u << order) < img->refcount_bits) {
        order++;
    }
    return order;
}

/* ---- IMRT: an array of refcounts in refblock encoding ---- */

static uint64_t rc_array_get(const struct qcow2_image *img, const uint8_t *a,
                             uint64_t i)
{
    unsigned order = chk_order(img);

    switch (order) {
    case 3:
        return a[i];
    case 4:
        return rd_be16(a + 2 * i);
    case 5:
        return rd_be32(a + 4 * i);
    case 6:
        return rd_be64(a + 8 * i);
    default: {
        unsigned bits = 1u << order;
        unsigned shift = (unsigned)(i & ((8u >> order) - 1)) << order;

        return (a[i >> (3 - order)] >> shift) & ((1u << bits) - 1);
    }
    }
}

static void rc_array_set(const struct qcow2_image *img, uint8_t *a, uint64_t i,
                         uint64_t v)
{
    unsigned order = chk_order(img);

    switch (order) {
    case 3:
        a[i] = (uint8_t)v;
        break;
    case 4:
        wr_be16(a + 2 * i, (uint16_t)v);
        break;
    case 5:
        wr_be32(a + 4 * i, (uint32_t)v);
        break;
    case 6:
        wr_be64(a + 8 * i, v);
        break;
    default: {
        unsigned bits = 1u << order;
        unsigned shift = (unsigned)(i & ((8u >> order) - 1)) << order;
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << shift);
        uint8_t *p = &a[i >> (3 - order)];

        *p = (uint8_t)((*p & ~mask) | ((v << shift) & mask));
        break;
    }
    }
}

/* Bytes of IMRT for @entries, rounded to whole clusters. */
static uint64_t rc_array_bytes(const struct qcow2_image *img, int64_t entries)
{
    uint64_t bytes = (((uint64_t)entries << chk_order(img)) + 7) / 8;

    return qcow2_size_to_clusters(img, bytes) << img->cluster_bits;
}

static int rc_array_resize(struct chk *c, int64_t new_size)
{
    uint64_t old_bytes = c->rt ? rc_array_bytes(c->img, c->nb_clusters) : 0;
    uint64_t new_bytes = rc_array_bytes(c->img, new_size);
    uint8_t *p;

    if (new_size > CHK_MAX_CLUSTERS * 2 || new_bytes > CHK_MAX_IMRT_BYTES ||
        new_bytes > SIZE_MAX) {
        return -EFBIG;
    }
    if (c->rt && new_bytes == old_bytes) {
        c->nb_clusters = new_size;
        return 0;
    }
    p = mem_realloc(c->rt, new_bytes ? new_bytes : 1);
    if (!p) {
        return -ENOMEM;
    }
    if (new_bytes > old_bytes) {
        memset(p + old_bytes, 0, new_bytes - old_bytes);
    }
    c->rt = p;
    c->nb_clusters = new_size;
    return 0;
}

/* ---- I/O helpers ---- */

static int chk_file_len(struct chk *c, uint64_t *out)
{
    struct stat st;

    if (fstat(c->img->fd, &st) < 0) {
        return -errno;
    }
    *out = (uint64_t)st.st_size;
    return 0;
}

/* Read like QEMU's block layer: bytes past the end of the file read as
 * zero. */
static int chk_pread(struct chk *c, uint64_t off, void *dst, size_t len)
{
    uint64_t flen = c->file_len;
    size_t n = len;
    int ret;

    if (off >= flen) {
        memset(dst, 0, len);
        return 0;
    }
    if (flen - off < n) {
        n = (size_t)(flen - off);
    }
    ret = qcow2_io_pread(c->img, off, dst, n, NULL);
    if (ret < 0) {
        return ret;
    }
    memset((uint8_t *)dst + n, 0, len - n);
    return 0;
}

/*
 * Refcount of host cluster @idx according to the on-disk structures (read
 * directly, bypassing the refcount cache, which the caller has flushed).
 */
static int chk_disk_refcount(struct chk *c, uint64_t idx, uint64_t *out)
{
    struct qcow2_image *img = c->img;
    uint64_t rt_idx = idx >> img->refcount_block_bits;
    uint64_t rb_off;
    int ret;

    *out = 0;
    if (rt_idx >= img->refcount_table_size) {
        return 0;
    }
    rb_off = img->refcount_table[rt_idx] & QCOW2_REFT_OFFSET_MASK;
    if (!rb_off) {
        return 0;
    }
    if (qcow2_offset_into_cluster(img, rb_off)) {
        return -EIO;
    }
    if (c->rb_offset != rb_off) {
        c->rb_offset = 0;
        ret = chk_pread(c, rb_off, c->rb, img->cluster_size);
        if (ret < 0) {
            return ret;
        }
        c->rb_offset = rb_off;
    }
    *out = rc_array_get(img, c->rb,
                        idx & ((1ull << img->refcount_block_bits) - 1));
    return 0;
}

/* Make the on-disk refcounts current and drop what we cached of them. */
static int chk_sync_refcounts(struct chk *c)
{
    c->rb_offset = 0;
    if (c->img->refcount_cache) {
        return qcow2_cache_flush(c->img->refcount_cache, NULL);
    }
    return 0;
}

/* ---- Building the IMRT ---- */

/* QEMU's qcow2_inc_refcounts_imrt(). */
static int chk_inc(struct chk *c, struct qcow2_check_result *res,
                   uint64_t offset, uint64_t size)
{
    struct qcow2_image *img = c->img;
    uint64_t first, last, k;
    int ret;

    if (size == 0) {
        return 0;
    }
    if (offset + size < offset || offset + size > (1ull << 62) ||
        (offset + size > c->file_len &&
         offset + size - c->file_len >= img->cluster_size)) {
        chk_print(c,
                  "ERROR: counting reference for region exceeding the end "
                  "of the file by one cluster or more: offset 0x%" PRIx64
                  " size 0x%" PRIx64,
                  offset, size);
        res->corruptions++;
        return 0;
    }
    first = offset >> img->cluster_bits;
    last = (offset + size - 1) >> img->cluster_bits;
    for (k = first; k <= last; k++) {
        uint64_t rc;

        if ((int64_t)k >= c->nb_clusters) {
            ret = rc_array_resize(c, (int64_t)k + 1);
            if (ret < 0) {
                res->check_errors++;
                return ret;
            }
        }
        rc = rc_array_get(img, c->rt, k);
        if (rc == img->refcount_max) {
            chk_print(c, "ERROR: overflow cluster offset=0x%" PRIx64,
                      k << img->cluster_bits);
            chk_print(c, "Use qemu-img amend to increase the refcount entry "
                         "width or qemu-img convert to create a clean copy if "
                         "the image cannot be opened for writing");
            res->corruptions++;
            continue;
        }
        rc_array_set(img, c->rt, k, rc + 1);
    }
    return 0;
}

static bool chk_ranges_overlap(uint64_t a, uint64_t alen, uint64_t b,
                               uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* Metadata overlap check for repairs, which write through the file rather
 * than the caches (QEMU's qcow2_pre_write_overlap_check with @ignore). */
static bool chk_overlaps(struct chk *c, uint64_t off, uint64_t len,
                         bool ignore_active_l2)
{
    struct qcow2_image *img = c->img;
    uint64_t cs = img->cluster_size;
    uint64_t i;

    if (off < cs) {
        return true;
    }
    len = ((off & (cs - 1)) + len + cs - 1) & ~(cs - 1);
    off &= ~(cs - 1);
    if (img->l1_size && chk_ranges_overlap(off, len, img->hdr.l1_table_offset,
                                           (uint64_t)img->l1_size * 8)) {
        return true;
    }
    if (img->refcount_table_size &&
        chk_ranges_overlap(off, len, img->hdr.refcount_table_offset,
                           img->refcount_table_size * 8)) {
        return true;
    }
    if (c->snap_len &&
        chk_ranges_overlap(off, len, c->snap_offset, c->snap_len)) {
        return true;
    }
    for (i = 0; i < img->nb_snapshots; i++) {
        const struct qcow2_snapshot *sn = &img->snapshots[i];

        if (sn->l1_size && chk_ranges_overlap(off, len, sn->l1_table_offset,
                                              (uint64_t)sn->l1_size * 8)) {
            return true;
        }
    }
    for (i = 0; !ignore_active_l2 && i < img->l1_size; i++) {
        uint64_t l2 = img->l1_table[i] & QCOW2_L1E_OFFSET_MASK;

        if (l2 && chk_ranges_overlap(off, len, l2, cs)) {
            return true;
        }
    }
    for (i = 0; i < img->refcount_table_size; i++) {
        uint64_t rb = img->refcount_table[i] & QCOW2_REFT_OFFSET_MASK;

        if (rb && chk_ranges_overlap(off, len, rb, cs)) {
            return true;
        }
    }
    return false;
}

static uint64_t chk_l2_entry(const struct qcow2_image *img, const uint8_t *t,
                             uint64_t i)
{
    return rd_be64(t + i * img->l2_entry_size);
}

static uint64_t chk_l2_bitmap(const struct qcow2_image *img, const uint8_t *t,
                              uint64_t i)
{
    if (!img->extended_l2) {
        return 0;
    }
    return rd_be64(t + i * img->l2_entry_size + 8);
}

static enum qcow2_cluster_type chk_cluster_type(const struct qcow2_image *img,
                                                uint64_t e)
{
    if (e & QCOW2_OFLAG_COMPRESSED) {
        return QCOW2_CLUSTER_COMPRESSED;
    }
    if ((e & QCOW2_OFLAG_ZERO) && !img->extended_l2) {
        return (e & QCOW2_L2E_OFFSET_MASK) ? QCOW2_CLUSTER_ZERO_ALLOC
                                           : QCOW2_CLUSTER_ZERO_PLAIN;
    }
    if (!(e & QCOW2_L2E_OFFSET_MASK)) {
        return QCOW2_CLUSTER_UNALLOCATED;
    }
    return QCOW2_CLUSTER_NORMAL;
}

/* Host byte range of a compressed descriptor, as QEMU computes it. */
static void chk_compressed(const struct qcow2_image *img, uint64_t e,
                           uint64_t *off, uint64_t *len)
{
    unsigned x = 62 - (img->cluster_bits - 8);
    uint64_t nb_sectors;

    *off = e & ((1ull << x) - 1);
    nb_sectors = ((e >> x) & ((1ull << (img->cluster_bits - 8)) - 1)) + 1;
    *len = nb_sectors * 512 - (*off & 511);
}

/* QEMU's fix_l2_entry_by_zero(): turn entry @idx into a plain zero
 * cluster on disk. */
static int chk_fix_l2_zero(struct chk *c, struct qcow2_check_result *res,
                           uint64_t l2_off, uint8_t *t, uint64_t idx,
                           bool active, bool *overlap)
{
    struct qcow2_image *img = c->img;
    uint8_t *e = t + idx * img->l2_entry_size;
    uint64_t eoff = l2_off + idx * img->l2_entry_size;
    int ret;

    if (img->extended_l2) {
        uint64_t bm = rd_be64(e + 8);

        bm |= bm << 32;
        bm &= 0xffffffff00000000ull;
        wr_be64(e + 8, bm);
        wr_be64(e, 0);
    } else {
        wr_be64(e, QCOW2_OFLAG_ZERO);
    }
    *overlap = chk_overlaps(c, eoff, img->l2_entry_size, active);
    if (*overlap) {
        chk_print(c, "ERROR: Overlap check failed");
        res->check_errors++;
        return -EIO;
    }
    ret = qcow2_io_pwrite(img, eoff, e, img->l2_entry_size, NULL);
    if (ret == 0 && !(img->flags & QCOW2_OPEN_UNSAFE) &&
        fdatasync(img->fd) < 0) {
        ret = -errno;
    }
    if (ret < 0) {
        chk_print(c, "ERROR: Failed to overwrite L2 table entry: %s",
                  strerror(-ret));
        res->check_errors++;
        return ret;
    }
    res->corruptions--;
    res->corruptions_fixed++;
    return 0;
}

/* QEMU's check_refcounts_l2(). */
static int chk_l2(struct chk *c, struct qcow2_check_result *res,
                  uint64_t l2_off, bool frag, bool active)
{
    struct qcow2_image *img = c->img;
    uint64_t next_contiguous = 0;
    uint8_t *t;
    uint64_t i;
    int ret = 0;

    t = mem_alloc(img->cluster_size);
    if (!t) {
        res->check_errors++;
        return -ENOMEM;
    }
    ret = chk_pread(c, l2_off, t, img->cluster_size);
    if (ret < 0) {
        chk_print(c, "ERROR: I/O error in check_refcounts_l2");
        res->check_errors++;
        goto out;
    }
    for (i = 0; i < img->l2_size; i++) {
        uint64_t e = chk_l2_entry(img, t, i);
        uint64_t bm = chk_l2_bitmap(img, t, i);
        enum qcow2_cluster_type type = chk_cluster_type(img, e);

        if (type != QCOW2_CLUSTER_COMPRESSED && (e & QCOW2_L2E_STD_RESERVED)) {
            chk_print(
                c, "ERROR found l2 entry with reserved bits set: %" PRIx64, e);
            res->corruptions++;
        }
        switch (type) {
        case QCOW2_CLUSTER_COMPRESSED: {
            uint64_t coff, clen;

            if (e & QCOW2_OFLAG_COPIED) {
                unsigned x = 62 - (img->cluster_bits - 8);

                chk_print(c,
                          "ERROR: coffset=0x%" PRIx64 ": copied flag must "
                          "never be set for compressed clusters",
                          (uint64_t)(e & ((1ull << x) - 1)));
                e &= ~QCOW2_OFLAG_COPIED;
                res->corruptions++;
            }
            if (bm) {
                chk_print(c,
                          "ERROR compressed cluster %d with non-zero "
                          "subcluster allocation bitmap, entry=0x%" PRIx64,
                          (int)i, e);
                res->corruptions++;
                break;
            }
            chk_compressed(img, e, &coff, &clen);
            ret = chk_inc(c, res, coff, clen);
            if (ret < 0) {
                goto out;
            }
            if (frag) {
                res->allocated_clusters++;
                res->compressed_clusters++;
                res->fragmented_clusters++;
            }
            break;
        }
        case QCOW2_CLUSTER_ZERO_ALLOC:
        case QCOW2_CLUSTER_NORMAL: {
            uint64_t off = e & QCOW2_L2E_OFFSET_MASK;

            if ((bm >> 32) & bm) {
                res->corruptions++;
                chk_print(c,
                          "ERROR offset=%" PRIx64 ": Allocated cluster has "
                          "corrupted subcluster allocation bitmap",
                          off);
            }
            if (qcow2_offset_into_cluster(img, off)) {
                bool has_data;

                res->corruptions++;
                if (img->extended_l2) {
                    has_data = (bm & CHK_EXTL2_ALL_ALLOC) != 0;
                } else {
                    has_data = !(e & QCOW2_OFLAG_ZERO);
                }
                if (!has_data) {
                    chk_print(c,
                              "%s offset=%" PRIx64 ": Preallocated cluster "
                              "is not properly aligned; L2 entry corrupted.",
                              (c->fix & CHK_FIX_ERRORS) ? "Repairing" : "ERROR",
                              off);
                    if (c->fix & CHK_FIX_ERRORS) {
                        bool overlap = false;

                        ret = chk_fix_l2_zero(c, res, l2_off, t, i, active,
                                              &overlap);
                        if (overlap) {
                            goto out;
                        }
                        if (ret == 0) {
                            continue;
                        }
                        ret = 0;
                    }
                } else {
                    chk_print(c,
                              "ERROR offset=%" PRIx64 ": Data cluster is not "
                              "properly aligned; L2 entry corrupted.",
                              off);
                }
            }
            if (frag) {
                res->allocated_clusters++;
                if (next_contiguous && off != next_contiguous) {
                    res->fragmented_clusters++;
                }
                next_contiguous = off + img->cluster_size;
            }
            ret = chk_inc(c, res, off, img->cluster_size);
            if (ret < 0) {
                goto out;
            }
            break;
        }
        case QCOW2_CLUSTER_ZERO_PLAIN:
            break;
        case QCOW2_CLUSTER_UNALLOCATED:
            if (bm & CHK_EXTL2_ALL_ALLOC) {
                res->corruptions++;
                chk_print(c, "ERROR: Unallocated cluster has non-zero "
                             "subcluster allocation map");
            }
            break;
        }
    }
    ret = 0;
out:
    mem_free(t);
    return ret;
}

/* The entries of an L1 table (@l1, host-endian, @l1_size entries at
 * @l1_off): the table (if @count_self), its L2 tables and what they
 * reference. */
static int chk_l1_walk(struct chk *c, struct qcow2_check_result *res,
                       uint64_t l1_off, const uint64_t *l1, uint32_t l1_size,
                       bool count_self, bool frag, bool active)
{
    struct qcow2_image *img = c->img;
    uint32_t i;
    int ret;

    if (!l1_size) {
        return 0;
    }
    if (count_self) {
        ret = chk_inc(c, res, l1_off, (uint64_t)l1_size * 8);
        if (ret < 0) {
            return ret;
        }
    }
    for (i = 0; i < l1_size; i++) {
        uint64_t e = l1[i];
        uint64_t l2_off;

        if (!e) {
            continue;
        }
        if (e & QCOW2_L1E_RESERVED) {
            chk_print(
                c, "ERROR found L1 entry with reserved bits set: %" PRIx64, e);
            res->corruptions++;
        }
        l2_off = e & QCOW2_L1E_OFFSET_MASK;
        ret = chk_inc(c, res, l2_off, img->cluster_size);
        if (ret < 0) {
            return ret;
        }
        if (qcow2_offset_into_cluster(img, l2_off)) {
            chk_print(c,
                      "ERROR l2_offset=%" PRIx64 ": Table is not cluster "
                      "aligned; L1 entry corrupted",
                      l2_off);
            res->corruptions++;
        }
        ret = chk_l2(c, res, l2_off, frag, active);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* QEMU's check_refcounts_l1(): the L1 table as it is on disk. */
static int chk_l1(struct chk *c, struct qcow2_check_result *res,
                  uint64_t l1_off, uint32_t l1_size, bool frag, bool active)
{
    size_t bytes = (size_t)l1_size * 8;
    uint64_t *l1;
    uint32_t i;
    int ret;

    if (!l1_size) {
        return 0;
    }
    l1 = mem_alloc(bytes);
    if (!l1) {
        res->check_errors++;
        return -ENOMEM;
    }
    ret = chk_pread(c, l1_off, l1, bytes);
    if (ret < 0) {
        (void)chk_inc(c, res, l1_off, bytes);
        chk_print(c, "ERROR: I/O error in check_refcounts_l1");
        res->check_errors++;
        mem_free(l1);
        return ret;
    }
    for (i = 0; i < l1_size; i++) {
        l1[i] = rd_be64(&l1[i]);
    }
    ret = chk_l1_walk(c, res, l1_off, l1, l1_size, true, frag, active);
    mem_free(l1);
    return ret;
}

/* QEMU's qcow2_check_bitmaps_refcounts(): the bitmap directory, each
 * bitmap table and the clusters it references. */
static int chk_bitmaps(struct chk *c, struct qcow2_check_result *res)
{
    struct qcow2_image *img = c->img;
    uint64_t dir_off = img->bitmap_dir_offset;
    uint64_t dir_len = img->bitmap_dir_size;
    uint8_t *dir = NULL, *tab = NULL;
    uint64_t pos = 0;
    uint32_t n;
    int ret;

    if (!img->has_bitmaps_ext || img->nb_bitmaps == 0) {
        return 0;
    }
    ret = chk_inc(c, res, dir_off, dir_len);
    if (ret < 0) {
        return ret;
    }
    if (dir_len > CHK_BM_DIR_MAX_BYTES || dir_len == 0 ||
        qcow2_offset_into_cluster(img, dir_off)) {
        res->corruptions++;
        return -EINVAL;
    }
    dir = mem_alloc(dir_len);
    if (!dir) {
        res->check_errors++;
        return -ENOMEM;
    }
    ret = chk_pread(c, dir_off, dir, dir_len);
    if (ret < 0) {
        res->corruptions++;
        goto out;
    }
    for (n = 0; n < img->nb_bitmaps; n++) {
        uint64_t t_off, i, ent_len;
        uint32_t t_size, extra;
        uint16_t name_len;

        if (dir_len - pos < 24) {
            res->corruptions++;
            ret = -EINVAL;
            goto out;
        }
        t_off = rd_be64(dir + pos);
        t_size = rd_be32(dir + pos + 8);
        name_len = rd_be16(dir + pos + 18);
        extra = rd_be32(dir + pos + 20);
        ent_len = (24 + (uint64_t)extra + name_len + 7) & ~7ull;
        if (ent_len > dir_len - pos || t_size > CHK_BM_TABLE_MAX_ENTRIES ||
            qcow2_offset_into_cluster(img, t_off)) {
            res->corruptions++;
            ret = -EINVAL;
            goto out;
        }
        pos += ent_len;
        ret = chk_inc(c, res, t_off, (uint64_t)t_size * 8);
        if (ret < 0) {
            goto out;
        }
        mem_free(tab);
        tab = mem_alloc(t_size ? (size_t)t_size * 8 : 1);
        if (!tab) {
            res->check_errors++;
            ret = -ENOMEM;
            goto out;
        }
        ret = chk_pread(c, t_off, tab, (size_t)t_size * 8);
        if (ret < 0) {
            res->corruptions++;
            break;
        }
        for (i = 0; i < t_size; i++) {
            uint64_t e = rd_be64(tab + i * 8);
            uint64_t off = e & CHK_BME_OFFSET_MASK;

            if ((e & CHK_BME_RESERVED) ||
                (off && ((e & 1) || qcow2_offset_into_cluster(img, off)))) {
                res->corruptions++;
                continue;
            }
            if (!off) {
                continue;
            }
            ret = chk_inc(c, res, off, img->cluster_size);
            if (ret < 0) {
                goto out;
            }
        }
    }
    ret = 0;
out:
    mem_free(tab);
    mem_free(dir);
    return ret;
}

/* The LUKS header area named by the crypto header extension. */
static int chk_crypto(struct chk *c, struct qcow2_check_result *res)
{
    struct qcow2_image *img = c->img;
    size_t i;

    for (i = 0; i < img->nb_exts; i++) {
        const struct qcow2_ext *x = &img->exts[i];

        if (x->magic == QCOW2_EXT_CRYPTO && x->len >= 16 && x->data) {
            return chk_inc(c, res, rd_be64(x->data), rd_be64(x->data + 8));
        }
    }
    return 0;
}

/* QEMU's check_refblocks(). */
static int chk_refblocks(struct chk *c, struct qcow2_check_result *res)
{
    struct qcow2_image *img = c->img;
    uint64_t i;
    int ret;

    for (i = 0; i < img->refcount_table_size; i++) {
        uint64_t off = img->refcount_table[i] & QCOW2_REFT_OFFSET_MASK;
        uint64_t cl = off >> img->cluster_bits;

        if (img->refcount_table[i] & CHK_REFT_RESERVED) {
            chk_print(c,
                      "ERROR refcount table entry %" PRId64
                      " has reserved bits set",
                      (int64_t)i);
            res->corruptions++;
            c->rebuild = true;
            continue;
        }
        if (qcow2_offset_into_cluster(img, off)) {
            chk_print(c,
                      "ERROR refcount block %" PRId64 " is not cluster "
                      "aligned; refcount table entry corrupted",
                      (int64_t)i);
            res->corruptions++;
            c->rebuild = true;
            continue;
        }
        if ((int64_t)cl >= c->nb_clusters) {
            res->corruptions++;
            chk_print(c, "%s refcount block %" PRId64 " is outside image",
                      (c->fix & CHK_FIX_ERRORS) ? "Repairing" : "ERROR",
                      (int64_t)i);
            if (c->fix & CHK_FIX_ERRORS) {
                int64_t new_nb;
                uint64_t len = 0;

                ret = -EFBIG;
                if (off + img->cluster_size > c->file_len + CHK_MAX_GROW) {
                    goto resize_fail;
                }
                if (ftruncate(img->fd, (off_t)(off + img->cluster_size)) < 0) {
                    ret = -errno;
                    goto resize_fail;
                }
                ret = chk_file_len(c, &len);
                if (ret < 0) {
                    goto resize_fail;
                }
                c->file_len = len;
                img->file_size = len;
                new_nb = (int64_t)qcow2_size_to_clusters(img, len);
                ret = rc_array_resize(
                    c, new_nb > c->nb_clusters ? new_nb : c->nb_clusters);
                if (ret < 0) {
                    res->check_errors++;
                    return ret;
                }
                if ((int64_t)cl >= c->nb_clusters) {
                    ret = -EINVAL;
                    goto resize_fail;
                }
                res->corruptions--;
                res->corruptions_fixed++;
                ret = chk_inc(c, res, off, img->cluster_size);
                if (ret < 0) {
                    return ret;
                }
                continue;
            resize_fail:
                c->rebuild = true;
                chk_print(c, "ERROR could not resize image: %s",
                          strerror(-ret));
            }
            continue;
        }
        if (off) {
            uint64_t rc;

            ret = chk_inc(c, res, off, img->cluster_size);
            if (ret < 0) {
                return ret;
            }
            rc = rc_array_get(img, c->rt, cl);
            if (rc != 1) {
                chk_print(c,
                          "ERROR refcount block %" PRId64 " refcount=%" PRIu64,
                          (int64_t)i, rc);
                res->corruptions++;
                c->rebuild = true;
            }
        }
    }
    return 0;
}

/*
 * Count every reference of state @st: the header cluster, the active L1
 * (from @st->l1 when given, else read at @st->l1_offset) and its tree, each
 * snapshot's L1 tree, the snapshot table, with @refstructs the refcount
 * table, then the LUKS area and bitmaps. The order is QEMU's.
 */
static int chk_count(struct chk *c, struct qcow2_check_result *res,
                     const struct qcow2_state *st, bool refstructs)
{
    struct qcow2_image *img = c->img;
    uint32_t i;
    int ret;

    if (!c->rt) {
        ret = rc_array_resize(c, c->nb_clusters);
        if (ret < 0) {
            res->check_errors++;
            return ret;
        }
    }
    ret = chk_inc(c, res, 0, img->cluster_size);
    if (ret < 0) {
        return ret;
    }
    if (st->l1) {
        ret = chk_l1_walk(c, res, st->l1_offset, st->l1, st->l1_size,
                          st->l1_offset != 0, true, true);
    } else {
        ret = chk_l1(c, res, st->l1_offset, st->l1_size, true, true);
    }
    if (ret < 0) {
        return ret;
    }
    for (i = 0; i < st->nb_snapshots; i++) {
        const struct qcow2_snapshot *sn = &st->snapshots[i];

        if (qcow2_offset_into_cluster(img, sn->l1_table_offset)) {
            chk_print(c,
                      "ERROR snapshot %s (%s) l1_offset=%#" PRIx64 ": L1 "
                      "table is not cluster aligned; snapshot table entry "
                      "corrupted",
                      sn->id, sn->name, sn->l1_table_offset);
            res->corruptions++;
            continue;
        }
        if (sn->l1_size > QCOW2_MAX_L1_BYTES / 8) {
            chk_print(c,
                      "ERROR snapshot %s (%s) l1_size=%#" PRIx32 ": L1 "
                      "table is too large; snapshot table entry corrupted",
                      sn->id, sn->name, sn->l1_size);
            res->corruptions++;
            continue;
        }
        if (st->snap_l1 && st->snap_l1[i]) {
            ret = chk_l1_walk(c, res, sn->l1_table_offset, st->snap_l1[i],
                              sn->l1_size, sn->l1_table_offset != 0, false,
                              false);
        } else {
            ret =
                chk_l1(c, res, sn->l1_table_offset, sn->l1_size, false, false);
        }
        if (ret < 0) {
            return ret;
        }
    }
    ret = chk_inc(c, res, st->snap_offset, st->snap_len);
    if (ret < 0) {
        return ret;
    }
    if (refstructs) {
        ret = chk_inc(c, res, img->hdr.refcount_table_offset,
                      img->refcount_table_size * 8);
        if (ret < 0) {
            return ret;
        }
    }
    ret = chk_crypto(c, res);
    if (ret < 0) {
        return ret;
    }
    return chk_bitmaps(c, res);
}

/* QEMU's calculate_refcounts(). */
static int chk_calculate(struct chk *c, struct qcow2_check_result *res)
{
    struct qcow2_image *img = c->img;
    struct qcow2_state st = {
        .l1 = NULL,
        .l1_size = img->l1_size,
        .l1_offset = img->hdr.l1_table_offset,
        .snapshots = img->snapshots,
        .nb_snapshots = img->nb_snapshots,
        .snap_offset = c->snap_offset,
        .snap_len = c->snap_len,
    };
    int ret;

    ret = chk_count(c, res, &st, true);
    if (ret < 0) {
        return ret;
    }
    return chk_refblocks(c, res);
}

/* QEMU's compare_refcounts(). */
static void chk_compare(struct chk *c, struct qcow2_check_result *res,
                        unsigned fix, int64_t *highest)
{
    struct qcow2_image *img = c->img;
    int64_t i;
    int ret;

    c->rb_offset = 0;
    *highest = 0;
    for (i = 0; i < c->nb_clusters; i++) {
        uint64_t disk = 0, ref;
        int *fixed = NULL;

        ret = chk_disk_refcount(c, (uint64_t)i, &disk);
        if (ret < 0) {
            chk_print(c, "Can't get refcount for cluster %" PRId64 ": %s", i,
                      strerror(-ret));
            res->check_errors++;
            continue;
        }
        ref = rc_array_get(img, c->rt, (uint64_t)i);
        if (disk > 0 || ref > 0) {
            *highest = i;
        }
        if (disk == ref) {
            continue;
        }
        if (disk == 0) {
            c->rebuild = true;
        } else if (disk > ref && (fix & CHK_FIX_LEAKS)) {
            fixed = &res->leaks_fixed;
        } else if (disk < ref && (fix & CHK_FIX_ERRORS)) {
            fixed = &res->corruptions_fixed;
        }
        chk_print(
            c, "%s cluster %" PRId64 " refcount=%" PRIu64 " reference=%" PRIu64,
            fixed        ? "Repairing"
            : disk < ref ? "ERROR"
                         : "Leaked",
            i, disk, ref);
        if (fixed) {
            int64_t delta =
                disk > ref ? -(int64_t)(disk - ref) : (int64_t)(ref - disk);

            ret = qcow2_refcount_update(img, (uint64_t)i << img->cluster_bits,
                                        1, delta, NULL);
            if (ret >= 0) {
                (*fixed)++;
                continue;
            }
        }
        if (disk < ref) {
            res->corruptions++;
        } else {
            res->leaks++;
        }
    }
    /* Repairs went through the refcount cache: make them visible. */
    chk_sync_refcounts(c);
}

/* Allocate @count clusters in the IMRT (QEMU's alloc_clusters_imrt()). */
static int64_t chk_alloc_imrt(struct chk *c, int64_t count, int64_t *first_free)
{
    struct qcow2_image *img = c->img;
    int64_t cl = *first_free, i, run = 0;
    bool first_gap = true;
    int ret;

    for (; cl < c->nb_clusters && run < count; cl++) {
        if (!rc_array_get(img, c->rt, (uint64_t)cl)) {
            run++;
            if (first_gap) {
                *first_free = cl;
                first_gap = false;
            }
        } else {
            run = 0;
        }
    }
    if (run < count) {
        ret = rc_array_resize(c, cl + count - run);
        if (ret < 0) {
            return ret;
        }
    }
    cl -= run;
    for (i = 0; i < count; i++) {
        rc_array_set(img, c->rt, (uint64_t)(cl + i), 1);
    }
    return cl << img->cluster_bits;
}

/*
 * Write the refblocks covering allocated clusters in [first, end) as
 * slices of the IMRT, allocating them in the IMRT and entering them in
 * *@reft (grown as needed). Returns 1 if *@reft grew, 0 if not, or -errno.
 */
static int chk_write_refblocks(struct chk *c, int64_t first, int64_t end,
                               uint64_t **reft, uint64_t *reft_n,
                               struct err *err)
{
    struct qcow2_image *img = c->img;
    int64_t first_free = 0, cl;
    uint64_t rb_entries = 1ull << img->refcount_block_bits;
    bool grown = false;
    int ret;

    for (cl = first; cl < end; cl++) {
        uint64_t rb_idx, rb_start;
        int64_t rb_off;

        if (!rc_array_get(img, c->rt, (uint64_t)cl)) {
            continue;
        }
        rb_idx = (uint64_t)cl >> img->refcount_block_bits;
        rb_start = rb_idx << img->refcount_block_bits;
        if (*reft_n > rb_idx && (*reft)[rb_idx]) {
            rb_off = (int64_t)(*reft)[rb_idx];
        } else {
            if (first_free < (int64_t)rb_start) {
                first_free = (int64_t)rb_start;
            }
            rb_off = chk_alloc_imrt(c, 1, &first_free);
            if (rb_off < 0) {
                return err_set(err, (int)rb_off, "ERROR allocating refblock");
            }
            if ((rb_off >> img->cluster_bits) >= end) {
                end = (rb_off >> img->cluster_bits) + 1;
            }
            if (*reft_n <= rb_idx) {
                uint64_t n = (((rb_idx + 1) * 8 + img->cluster_size - 1) &
                              ~(img->cluster_size - 1)) /
                             8;
                uint64_t *p;

                if (n * 8 > QCOW2_MAX_REFTABLE_BYTES) {
                    return err_set(err, -EFBIG, "ERROR reftable too large");
                }
                p = mem_realloc(*reft, n * 8);
                if (!p) {
                    return err_set(err, -ENOMEM,
                                   "ERROR allocating reftable memory");
                }
                memset(p + *reft_n, 0, (n - *reft_n) * 8);
                *reft = p;
                *reft_n = n;
                grown = true;
            }
            (*reft)[rb_idx] = (uint64_t)rb_off;
        }
        /* Write the slice only after this refblock's own allocation is in
         * the IMRT (it may lie in the slice). */
        if ((uint64_t)rb_off < img->cluster_size) {
            return err_set(err, -EIO, "ERROR writing refblock");
        }
        ret = qcow2_io_pwrite(img, (uint64_t)rb_off,
                              c->rt + rb_idx * img->cluster_size,
                              img->cluster_size, NULL);
        if (ret < 0) {
            return err_set(err, ret, "ERROR writing refblock: %s",
                           strerror(-ret));
        }
        cl = (int64_t)(rb_start + rb_entries - 1);
    }
    return grown ? 1 : 0;
}

/* QEMU's rebuild_refcount_structure(): new refblocks and reftable from the
 * IMRT, then switch the header to them. The old structures leak. */
static int chk_rebuild(struct chk *c, struct qcow2_check_result *res,
                       struct err *err)
{
    struct qcow2_image *img = c->img;
    uint64_t *reft = NULL;
    uint64_t reft_n = 0, i;
    int64_t reft_off = -1, reft_clusters = 0;
    uint8_t *buf = NULL;
    uint8_t ptr[52]; /* header bytes 48..99: reftable .. refcount_order */
    size_t ptr_len;
    int changed, ret;

    if (img->refcount_cache) {
        qcow2_cache_empty(img->refcount_cache, NULL);
    }
    changed = chk_write_refblocks(c, 0, c->nb_clusters, &reft, &reft_n, err);
    if (changed < 0) {
        res->check_errors++;
        ret = changed;
        goto out;
    }
    do {
        int64_t first_free = 0, start;

        reft_clusters = (int64_t)qcow2_size_to_clusters(img, reft_n * 8);
        reft_off = chk_alloc_imrt(c, reft_clusters, &first_free);
        if (reft_off < 0) {
            ret = err_set(err, (int)reft_off, "ERROR allocating reftable");
            res->check_errors++;
            goto out;
        }
        start = reft_off >> img->cluster_bits;
        changed = chk_write_refblocks(c, start, start + reft_clusters, &reft,
                                      &reft_n, err);
        if (changed < 0) {
            res->check_errors++;
            ret = changed;
            goto out;
        }
    } while (changed);

    buf = mem_calloc(1, reft_n * 8);
    if (!buf) {
        ret = err_set(err, -ENOMEM, "ERROR writing reftable");
        goto out;
    }
    for (i = 0; i < reft_n; i++) {
        wr_be64(buf + i * 8, reft[i]);
    }
    ret = qcow2_io_pwrite(img, (uint64_t)reft_off, buf, reft_n * 8, NULL);
    if (ret == 0 && !(img->flags & QCOW2_OPEN_UNSAFE) &&
        fdatasync(img->fd) < 0) {
        ret = -errno;
    }
    if (ret < 0) {
        err_set(err, ret, "ERROR writing reftable: %s", strerror(-ret));
        goto out;
    }
    /* One write for the table and, in v3, the refcount order: amend
     * rebuilds with a new order, which must switch with the table. */
    ptr_len = img->hdr.version >= 3 ? sizeof(ptr) : 12;
    ret = qcow2_io_pread(img, 48, ptr, ptr_len, NULL);
    wr_be64(ptr, (uint64_t)reft_off);
    wr_be32(ptr + 8, (uint32_t)reft_clusters);
    if (ptr_len == sizeof(ptr)) {
        wr_be32(ptr + 48, img->hdr.refcount_order);
    }
    if (ret == 0) {
        ret = qcow2_io_pwrite(img, 48, ptr, ptr_len, NULL);
    }
    if (ret == 0 && !(img->flags & QCOW2_OPEN_UNSAFE) &&
        fdatasync(img->fd) < 0) {
        ret = -errno;
    }
    if (ret < 0) {
        err_set(err, ret, "ERROR setting reftable: %s", strerror(-ret));
        goto out;
    }
    mem_free(img->refcount_table);
    img->refcount_table = reft;
    img->refcount_table_size = reft_n;
    img->hdr.refcount_table_offset = (uint64_t)reft_off;
    img->hdr.refcount_table_clusters = (uint32_t)reft_clusters;
    img->free_cluster_index = 0;
    reft = NULL;
    c->rb_offset = 0;
    c->rebuilt = true;
    /* The new structures may lie past the old end of the file. */
    ret = chk_file_len(c, &c->file_len);
    if (ret < 0) {
        err_set(err, ret, "cannot get the image file length");
        goto out;
    }
    img->file_size = c->file_len;
out:
    mem_free(buf);
    mem_free(reft);
    return ret;
}

static void chk_add(struct qcow2_check_result *out,
                    const struct qcow2_check_result *src, bool alloc_info)
{
    out->corruptions += src->corruptions;
    out->leaks += src->leaks;
    out->check_errors += src->check_errors;
    out->corruptions_fixed += src->corruptions_fixed;
    out->leaks_fixed += src->leaks_fixed;
    if (alloc_info) {
        out->image_end_offset = src->image_end_offset;
        out->total_clusters = src->total_clusters;
        out->allocated_clusters = src->allocated_clusters;
        out->fragmented_clusters = src->fragmented_clusters;
        out->compressed_clusters = src->compressed_clusters;
    }
}

/* QEMU's check_oflag_copied(). */
static int chk_oflag_copied(struct chk *c, struct qcow2_check_result *res)
{
    struct qcow2_image *img = c->img;
    uint8_t *t = NULL;
    bool repair;
    uint32_t i;
    int ret = 0;

    if (c->fix & CHK_FIX_ERRORS) {
        repair = true;
    } else if (c->fix & CHK_FIX_LEAKS) {
        repair = !res->check_errors && !res->corruptions && !res->leaks;
    } else {
        repair = false;
    }
    t = mem_alloc(img->cluster_size);
    if (!t) {
        res->check_errors++;
        return -ENOMEM;
    }
    c->rb_offset = 0;
    for (i = 0; i < img->l1_size; i++) {
        uint64_t l1e = img->l1_table[i];
        uint64_t l2_off = l1e & QCOW2_L1E_OFFSET_MASK;
        uint64_t rc = 0, j;
        int dirty = 0;

        if (!l2_off) {
            continue;
        }
        if (chk_disk_refcount(c, l2_off >> img->cluster_bits, &rc) < 0) {
            continue;
        }
        if ((rc == 1) != ((l1e & QCOW2_OFLAG_COPIED) != 0)) {
            res->corruptions++;
            chk_print(
                c,
                "%s OFLAG_COPIED L2 cluster: l1_index=%d l1_entry=%" PRIx64
                " refcount=%" PRIu64,
                repair ? "Repairing" : "ERROR", (int)i, l1e, rc);
            if (repair) {
                img->l1_table[i] = rc == 1 ? l1e | QCOW2_OFLAG_COPIED
                                           : l1e & ~QCOW2_OFLAG_COPIED;
                ret = qcow2_l1_write(img, i, 1, NULL);
                if (ret < 0) {
                    res->check_errors++;
                    goto out;
                }
                res->corruptions--;
                res->corruptions_fixed++;
            }
        }
        ret = chk_pread(c, l2_off, t, img->cluster_size);
        if (ret < 0) {
            chk_print(c, "ERROR: Could not read L2 table: %s", strerror(-ret));
            res->check_errors++;
            goto out;
        }
        for (j = 0; j < img->l2_size; j++) {
            uint64_t e = chk_l2_entry(img, t, j);
            enum qcow2_cluster_type type = chk_cluster_type(img, e);

            if (type != QCOW2_CLUSTER_NORMAL &&
                type != QCOW2_CLUSTER_ZERO_ALLOC) {
                continue;
            }
            if (chk_disk_refcount(
                    c, (e & QCOW2_L2E_OFFSET_MASK) >> img->cluster_bits, &rc) <
                0) {
                continue;
            }
            if ((rc == 1) != ((e & QCOW2_OFLAG_COPIED) != 0)) {
                res->corruptions++;
                chk_print(c,
                          "%s OFLAG_COPIED data cluster: l2_entry=%" PRIx64
                          " refcount=%" PRIu64,
                          repair ? "Repairing" : "ERROR", e, rc);
                if (repair) {
                    wr_be64(t + j * img->l2_entry_size,
                            rc == 1 ? e | QCOW2_OFLAG_COPIED
                                    : e & ~QCOW2_OFLAG_COPIED);
                    dirty++;
                }
            }
        }
        if (dirty > 0) {
            if (chk_overlaps(c, l2_off, img->cluster_size, true)) {
                chk_print(c,
                          "ERROR: Could not write L2 table; metadata "
                          "overlap check failed: %s",
                          strerror(EIO));
                res->check_errors++;
                ret = -EIO;
                goto out;
            }
            ret = qcow2_io_pwrite(img, l2_off, t, img->cluster_size, NULL);
            if (ret < 0) {
                chk_print(c, "ERROR: Could not write L2 table: %s",
                          strerror(-ret));
                res->check_errors++;
                goto out;
            }
            res->corruptions -= dirty;
            res->corruptions_fixed += dirty;
        }
    }
    ret = 0;
out:
    mem_free(t);
    return ret;
}

/* QEMU's qcow2_check_refcounts(). */
static int chk_refcounts(struct chk *c, struct qcow2_check_result *res,
                         struct err *err)
{
    struct qcow2_image *img = c->img;
    struct qcow2_check_result pre;
    int64_t highest = 0;
    int ret;

    ret = chk_file_len(c, &c->file_len);
    if (ret < 0) {
        res->check_errors++;
        return err_set(err, ret, "cannot get the image file length");
    }
    c->nb_clusters = (int64_t)qcow2_size_to_clusters(img, c->file_len);
    if (c->nb_clusters > CHK_MAX_CLUSTERS) {
        res->check_errors++;
        return err_set(err, -EFBIG, "image file too large to check");
    }
    res->total_clusters = qcow2_size_to_clusters(img, img->size);
    ret = chk_calculate(c, res);
    if (ret < 0) {
        goto fail;
    }
    pre = *res;
    chk_compare(c, res, 0, &highest);

    if (c->rebuild && (c->fix & CHK_FIX_ERRORS)) {
        struct qcow2_check_result old = *res;
        int fresh_leaks = 0;

        chk_print(c, "Rebuilding refcount structure");
        ret = chk_rebuild(c, res, err);
        if (ret < 0) {
            chk_print(c, "%s", err ? err->msg : "ERROR rebuilding refcounts");
            goto fail;
        }
        res->corruptions = 0;
        res->leaks = 0;
        c->rebuild = false;
        memset(c->rt, 0, rc_array_bytes(img, c->nb_clusters));
        {
            unsigned saved_fix = c->fix;

            c->fix = 0;
            ret = chk_calculate(c, res);
            c->fix = saved_fix;
        }
        if (ret < 0) {
            goto fail;
        }
        if (c->fix & CHK_FIX_LEAKS) {
            struct qcow2_check_result saved = *res;

            memset(res, 0, sizeof(*res));
            chk_compare(c, res, CHK_FIX_LEAKS, &highest);
            if (c->rebuild) {
                chk_print(c,
                          "ERROR rebuilt refcount structure is still broken");
            }
            fresh_leaks = res->leaks;
            *res = saved;
        }
        if (res->corruptions < old.corruptions) {
            res->corruptions_fixed += old.corruptions - res->corruptions;
        }
        if (res->leaks < old.leaks) {
            res->leaks_fixed += old.leaks - res->leaks;
        }
        res->leaks += fresh_leaks;
    } else if (c->fix) {
        if (c->rebuild) {
            chk_print(c, "ERROR need to rebuild refcount structures");
            res->check_errors++;
            ret = err_set(err, -EIO, "need to rebuild refcount structures");
            goto fail;
        }
        if (res->leaks || res->corruptions) {
            *res = pre;
            chk_compare(c, res, c->fix, &highest);
        }
    }
    ret = chk_oflag_copied(c, res);
    if (ret < 0) {
        err_set(err, ret, "OFLAG_COPIED check failed");
        goto fail;
    }
    res->image_end_offset = (uint64_t)(highest + 1) << img->cluster_bits;
    ret = 0;
fail:
    if (ret < 0 && err && err->code == 0) {
        err_set(err, ret, "refcount check failed");
    }
    mem_free(c->rt);
    c->rt = NULL;
    return ret;
}

/* QEMU's qcow2_check_read_snapshot_table(): re-read the table named by the
 * on-disk header, repairing (with REPAIR_ERRORS) what can be repaired. */
static int chk_snapshot_table(struct chk *c, struct qcow2_check_result *res,
                              struct err *err)
{
    struct qcow2_image *img = c->img;
    struct qcow2_snapshot *tab = NULL;
    uint8_t ptr[12];
    uint64_t off, len = 0;
    uint32_t nb, n = 0, i;
    int reduced = 0, extra_dropped = 0;
    struct err lerr;
    int ret;

    c->snap_offset = 0;
    c->snap_len = 0;
    ret = chk_pread(c, 60, ptr, sizeof(ptr));
    if (ret < 0) {
        res->check_errors++;
        chk_print(c,
                  "ERROR failed to read the snapshot table pointer from the "
                  "image header: %s",
                  strerror(-ret));
        return err_set(err, ret, "cannot read the snapshot table pointer");
    }
    nb = rd_be32(ptr);
    off = rd_be64(ptr + 4);
    if (nb > QCOW2_MAX_SNAPSHOTS && (c->fix & CHK_FIX_ERRORS)) {
        chk_print(c, "Discarding %u overhanging snapshots",
                  nb - QCOW2_MAX_SNAPSHOTS);
        reduced += (int)(nb - QCOW2_MAX_SNAPSHOTS);
        nb = QCOW2_MAX_SNAPSHOTS;
    }
    if (nb > QCOW2_MAX_SNAPSHOTS || (uint64_t)nb * 40 > INT64_MAX - off ||
        qcow2_offset_into_cluster(img, off)) {
        res->check_errors++;
        chk_print(c, "ERROR snapshot table %s",
                  nb > QCOW2_MAX_SNAPSHOTS ? "too large" : "offset invalid");
        if (nb > QCOW2_MAX_SNAPSHOTS) {
            chk_print(c,
                      "You can force-remove all %u overhanging snapshots "
                      "with qemu-img check -r all",
                      nb - QCOW2_MAX_SNAPSHOTS);
        }
        qcow2_snapshots_free(img);
        img->hdr.nb_snapshots = 0;
        img->hdr.snapshots_offset = 0;
        return err_set(err, -EINVAL, "invalid snapshot table");
    }
    err_clear(&lerr);
    ret = qcow2_snapshots_read_table(
        img, off, nb, true, (c->fix & CHK_FIX_ERRORS) != 0, c->report,
        c->opaque, &tab, &n, &len, &reduced, &extra_dropped, &lerr);
    if (ret < 0) {
        res->check_errors++;
        chk_print(c, "ERROR failed to read the snapshot table: %s", lerr.msg);
        if (!strncmp(lerr.msg, "Too much extra metadata", 23)) {
            chk_print(c, "You can force-remove this extra metadata with "
                         "qemu-img check -r all");
        }
        qcow2_snapshots_free(img);
        img->hdr.nb_snapshots = 0;
        img->hdr.snapshots_offset = 0;
        return err_set(err, ret, "cannot read the snapshot table: %s",
                       lerr.msg);
    }
    qcow2_snapshots_free(img);
    img->snapshots = tab;
    img->nb_snapshots = n;
    img->hdr.nb_snapshots = nb;
    img->hdr.snapshots_offset = off;
    c->snap_offset = off;
    c->snap_len = len;
    res->corruptions += reduced + extra_dropped;

    if (reduced) {
        uint8_t cnt[4];

        wr_be32(cnt, n);
        ret = qcow2_io_pwrite(img, 60, cnt, sizeof(cnt), NULL);
        if (ret == 0 && !(img->flags & QCOW2_OPEN_UNSAFE) &&
            fdatasync(img->fd) < 0) {
            ret = -errno;
        }
        if (ret < 0) {
            res->check_errors++;
            chk_print(c,
                      "ERROR failed to update the snapshot count in the "
                      "image header: %s",
                      strerror(-ret));
            return err_set(err, ret, "cannot update the snapshot count");
        }
        img->hdr.nb_snapshots = n;
        res->corruptions_fixed += reduced;
        res->corruptions -= reduced;
    }
    if (img->hdr.version >= 3) {
        for (i = 0; i < n; i++) {
            if (img->snapshots[i].extra_data_size < 16) {
                res->corruptions++;
                chk_print(c, "%s snapshot table entry %u is incomplete",
                          (c->fix & CHK_FIX_ERRORS) ? "Repairing" : "ERROR", i);
            }
        }
    }
    return 0;
}

/* QEMU's qcow2_check_fix_snapshot_table(). */
static int chk_fix_snapshot_table(struct chk *c, struct qcow2_check_result *res,
                                  struct err *err)
{
    int ret;

    if (res->corruptions && (c->fix & CHK_FIX_ERRORS)) {
        ret = qcow2_snapshots_store_over(c->img, c->snap_offset, c->snap_len,
                                         err);
        if (ret < 0) {
            res->check_errors++;
            chk_print(c, "ERROR failed to update snapshot table: %s",
                      strerror(-ret));
            return ret;
        }
        res->corruptions_fixed += res->corruptions;
        res->corruptions = 0;
    }
    return 0;
}

/* Clear the dirty and corrupt bits once a repair left no corruption. */
static int chk_mark_clean(struct qcow2_image *img, struct err *err)
{
    uint64_t bits = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT;
    int ret;

    if (!(img->hdr.incompatible_features & bits)) {
        return 0;
    }
    ret = qcow2_flush(img, err);
    if (ret < 0) {
        return ret;
    }
    img->hdr.incompatible_features &= ~bits;
    img->lazy_dirty = false;
    ret = qcow2_header_write(img, err);
    if (ret < 0) {
        return ret;
    }
    return qcow2_flush(img, err);
}

/* One pass of QEMU's qcow2_co_check_locked(). */
static int chk_pass(struct qcow2_image *img, unsigned fix,
                    qcow2_check_report_fn *report, void *opaque,
                    struct qcow2_check_result *res, bool *rebuilt,
                    struct err *err)
{
    struct qcow2_check_result snap_res, rc_res;
    struct chk c;
    int ret;

    memset(res, 0, sizeof(*res));
    memset(&snap_res, 0, sizeof(snap_res));
    memset(&rc_res, 0, sizeof(rc_res));
    memset(&c, 0, sizeof(c));
    c.img = img;
    c.fix = fix;
    c.report = report;
    c.opaque = opaque;
    c.rb = mem_alloc(img->cluster_size);
    if (!c.rb) {
        res->check_errors++;
        return err_set(err, -ENOMEM, "check: refcount block buffer");
    }
    /* Everything below reads the file directly: write back what the
     * caches hold first. */
    if (!img->read_only && img->sticky_err == 0) {
        ret = qcow2_flush(img, err);
        if (ret < 0) {
            goto out;
        }
    }
    /* (After a failed metadata write only a plain check runs: it reports
     * what is on disk.) */
    if (img->l2_cache && img->sticky_err == 0) {
        qcow2_cache_empty(img->l2_cache, NULL);
    }
    ret = chk_file_len(&c, &c.file_len);
    if (ret < 0) {
        err_set(err, ret, "cannot get the image file length");
        goto out;
    }
    ret = chk_snapshot_table(&c, &snap_res, err);
    if (ret < 0) {
        chk_add(res, &snap_res, false);
        goto out;
    }
    ret = chk_refcounts(&c, &rc_res, err);
    chk_add(res, &rc_res, true);
    if (ret < 0) {
        chk_add(res, &snap_res, false);
        goto out;
    }
    ret = chk_fix_snapshot_table(&c, &snap_res, err);
    chk_add(res, &snap_res, false);
    if (ret < 0) {
        goto out;
    }
    if (fix && res->check_errors == 0 && res->corruptions == 0) {
        ret = chk_mark_clean(img, err);
    }
out:
    if (fix) {
        /* Repairs may have freed the cluster compressed data was being
         * packed into. */
        img->free_byte_offset = 0;
    }
    if (img->l2_cache && img->sticky_err == 0) {
        qcow2_cache_empty(img->l2_cache, NULL);
    }
    if (img->refcount_cache && img->sticky_err == 0) {
        qcow2_cache_empty(img->refcount_cache, NULL);
    }
    *rebuilt = *rebuilt || c.rebuilt;
    mem_free(c.rb);
    mem_free(c.rt);
    return ret;
}

int qcow2_check(struct qcow2_image *img, unsigned repair,
                qcow2_check_report_fn *report, void *opaque,
                struct qcow2_check_result *res, struct err *err)
{
    bool rebuilt = false;
    int fixed_c, fixed_l;
    int ret;

    CHECK_ARG(img && res);
    CHECK_ARG(!(repair & ~(QCOW2_REPAIR_LEAKS | QCOW2_REPAIR_ERRORS)));
    memset(res, 0, sizeof(*res));
    if (img->format != QCOW2_FORMAT_QCOW2) {
        return err_set(err, -ENOTSUP,
                       "This image format does not support checks");
    }
    if (repair) {
        ret = qcow2_check_writable(img, err);
        if (ret < 0) {
            return ret;
        }
    }
    /* Count the refcounts the image means, with no free pending. */
    if (!img->read_only && img->sticky_err == 0) {
        ret = qcow2_frees_settle(img, err);
        if (ret < 0) {
            return ret;
        }
    }
    ret = chk_pass(img, repair, report, opaque, res, &rebuilt, err);
    if (ret < 0) {
        res->rebuilt = rebuilt;
        return ret;
    }
    if (res->corruptions_fixed || res->leaks_fixed) {
        fixed_c = res->corruptions_fixed;
        fixed_l = res->leaks_fixed;
        ret = chk_pass(img, 0, report, opaque, res, &rebuilt, err);
        res->corruptions_fixed = fixed_c;
        res->leaks_fixed = fixed_l;
    }
    res->rebuilt = rebuilt;
    return ret;
}

int qcow2_rebuild_refcounts(struct qcow2_image *img, struct err *err)
{
    struct qcow2_check_result res;
    bool rebuilt = false;
    int ret;

    ret = chk_pass(img, QCOW2_REPAIR_LEAKS | QCOW2_REPAIR_ERRORS, NULL, NULL,
                   &res, &rebuilt, err);
    if (ret < 0) {
        err_prefix(err, "could not repair dirty image");
        return ret;
    }
    if (res.check_errors || res.corruptions) {
        return err_set(err, -EIO,
                       "could not repair dirty image: %d errors, %d "
                       "corruptions left",
                       res.check_errors, res.corruptions);
    }
    return 0;
}

/* ---- Counting a new state (snapshot operations) ---- */

/* First problem line of a count, and whether it was an overflow. */
struct refs_report {
    char first[256];
    bool overflow;
};

static void refs_report_cb(void *opaque, const char *line)
{
    struct refs_report *r = opaque;

    if (!strncmp(line, "ERROR: overflow", 15)) {
        r->overflow = true;
    }
    if (!r->first[0]) {
        snprintf(r->first, sizeof(r->first), "%s", line);
    }
}

int qcow2_refs_count(struct qcow2_image *img, const struct qcow2_state *st,
                     uint64_t file_len, struct qcow2_refs *out, struct err *err)
{
    struct qcow2_check_result res;
    struct refs_report rep;
    struct chk c;
    int ret;

    memset(&c, 0, sizeof(c));
    memset(&res, 0, sizeof(res));
    memset(&rep, 0, sizeof(rep));
    c.img = img;
    c.report = refs_report_cb;
    c.opaque = &rep;
    c.file_len = file_len;
    c.nb_clusters = (int64_t)qcow2_size_to_clusters(img, file_len);
    if (c.nb_clusters > CHK_MAX_CLUSTERS) {
        return err_set(err, -EFBIG, "image file too large to count");
    }
    ret = chk_count(&c, &res, st, false);
    if (ret == 0 && (res.corruptions || res.check_errors)) {
        ret = rep.overflow ? -ERANGE : -EBADMSG;
    }
    if (ret < 0) {
        mem_free(c.rt);
        if (rep.overflow) {
            return err_set(err, -ERANGE,
                           "a refcount would exceed %" PRIu64
                           " (refcount_bits=%u)",
                           img->refcount_max, img->refcount_bits);
        }
        return err_set(err, ret, "counting references: %s",
                       rep.first[0] ? rep.first : strerror(-ret));
    }
    out->rt = c.rt;
    out->nb = (uint64_t)c.nb_clusters;
    return 0;
}

uint64_t qcow2_refs_get(const struct qcow2_image *img,
                        const struct qcow2_refs *r, uint64_t idx)
{
    return idx < r->nb ? rc_array_get(img, r->rt, idx) : 0;
}

int qcow2_refs_add(struct qcow2_image *img, struct qcow2_refs *r, uint64_t idx,
                   int64_t delta)
{
    uint64_t v;

    if (idx >= r->nb) {
        struct chk c;
        int ret;

        if (delta < 0) {
            return -ERANGE;
        }
        memset(&c, 0, sizeof(c));
        c.img = img;
        c.rt = r->rt;
        c.nb_clusters = (int64_t)r->nb;
        ret = rc_array_resize(&c, (int64_t)idx + 1);
        if (ret < 0) {
            return ret;
        }
        r->rt = c.rt;
        r->nb = (uint64_t)c.nb_clusters;
    }
    v = rc_array_get(img, r->rt, idx);
    if (delta < 0 ? v < (uint64_t)-delta
                  : img->refcount_max - v < (uint64_t)delta) {
        return -ERANGE;
    }
    rc_array_set(img, r->rt, idx, v + (uint64_t)delta);
    return 0;
}

void qcow2_refs_fini(struct qcow2_refs *r)
{
    if (r) {
        mem_free(r->rt);
        r->rt = NULL;
        r->nb = 0;
    }
}

/* Does slice @b of @r (refcount block @b) hold any non-zero refcount? */
static bool refs_slice_used(const struct qcow2_image *img,
                            const struct qcow2_refs *r, uint64_t b)
{
    const uint8_t *p = r->rt + b * img->cluster_size;
    uint64_t i;

    for (i = 0; i < img->cluster_size; i++) {
        if (p[i]) {
            return true;
        }
    }
    return false;
}

int qcow2_refs_mark_busy(struct qcow2_image *img, const struct qcow2_refs *r,
                         struct qcow2_shadow *sh, struct err *err)
{
    uint64_t per_block = 1ull << img->refcount_block_bits;
    uint64_t b, i;
    int ret;

    for (b = 0; b * per_block < r->nb; b++) {
        if (!refs_slice_used(img, r, b)) {
            continue;
        }
        for (i = b * per_block; i < (b + 1) * per_block && i < r->nb; i++) {
            if (rc_array_get(img, r->rt, i)) {
                ret = qcow2_shadow_mark(sh, i);
                if (ret < 0) {
                    return err_set(err, ret, "cluster bitmap");
                }
            }
        }
    }
    return 0;
}

int64_t qcow2_refs_take(struct qcow2_image *img, struct qcow2_refs *r,
                        struct qcow2_shadow *sh, uint64_t n, struct err *err)
{
    int64_t off = qcow2_shadow_alloc(img, sh, n, err);
    uint64_t i;
    int ret;

    if (off < 0) {
        return off;
    }
    for (i = 0; i < n; i++) {
        ret =
            qcow2_refs_add(img, r, ((uint64_t)off >> img->cluster_bits) + i, 1);
        if (ret < 0) {
            return err_set(err, ret, "counting a new refcount structure");
        }
    }
    return off;
}

/* Grow *@t (*@n entries) to cover index @b, in whole clusters of entries. */
static int reft_cover(struct qcow2_image *img, uint64_t **t, uint64_t *n,
                      uint64_t b, struct err *err)
{
    uint64_t per = img->cluster_size / 8;
    uint64_t want = (b / per + 1) * per;
    uint64_t *p;

    if (b < *n) {
        return 0;
    }
    if (want * 8 > QCOW2_MAX_REFTABLE_BYTES) {
        return err_set(err, -EFBIG, "refcount table would exceed %u bytes",
                       QCOW2_MAX_REFTABLE_BYTES);
    }
    p = mem_realloc(*t, want * 8);
    if (!p) {
        return err_set(err, -ENOMEM, "refcount table");
    }
    memset(p + *n, 0, (want - *n) * 8);
    *t = p;
    *n = want;
    return 0;
}

/* Upper bound on placement rounds: each round only adds structures past
 * the previous ones, and a round adds at most a block and a table. */
#define REFS_MAX_ROUNDS 64

int qcow2_refs_write(struct qcow2_image *img, struct qcow2_refs *r,
                     struct qcow2_shadow *sh, struct qcow2_reftable *out,
                     struct err *err)
{
    uint64_t cs = img->cluster_size;
    uint64_t per_block = 1ull << img->refcount_block_bits;
    uint64_t *reft = NULL, reft_n = 0, tab_off = 0, tab_clusters = 0;
    uint64_t i, b;
    uint8_t *buf = NULL;
    int64_t off;
    int round, ret = 0;

    for (round = 0;; round++) {
        bool placed = false;
        uint64_t need;

        if (round >= REFS_MAX_ROUNDS) {
            ret = err_set(err, -EIO,
                          "refcount structure placement did not "
                          "settle");
            goto fail;
        }
        for (b = 0; b * per_block < r->nb; b++) {
            if ((b < reft_n && reft[b]) || !refs_slice_used(img, r, b)) {
                continue;
            }
            ret = reft_cover(img, &reft, &reft_n, b, err);
            if (ret < 0) {
                goto fail;
            }
            off = qcow2_refs_take(img, r, sh, 1, err);
            if (off < 0) {
                ret = (int)off;
                goto fail;
            }
            reft[b] = (uint64_t)off;
            placed = true;
        }
        need = qcow2_size_to_clusters(img, reft_n * 8);
        if (need != tab_clusters) {
            /* The table grew: the old place is dropped (uncounted, never
             * referenced), a new one taken. */
            for (i = 0; i < tab_clusters; i++) {
                ret = qcow2_refs_add(img, r, (tab_off >> img->cluster_bits) + i,
                                     -1);
                if (ret < 0) {
                    ret = err_set(err, ret, "refcount table placement");
                    goto fail;
                }
            }
            off = qcow2_refs_take(img, r, sh, need, err);
            if (off < 0) {
                ret = (int)off;
                goto fail;
            }
            tab_off = (uint64_t)off;
            tab_clusters = need;
            placed = true;
        }
        if (!placed) {
            break;
        }
    }
    if (tab_clusters > UINT32_MAX) {
        ret = err_set(err, -EFBIG, "refcount table too large");
        goto fail;
    }
    for (b = 0; b < reft_n; b++) {
        if (!reft[b]) {
            continue;
        }
        ret = qcow2_io_pwrite(img, reft[b], r->rt + b * cs, cs, err);
        if (ret < 0) {
            goto fail;
        }
    }
    buf = mem_calloc(1, tab_clusters * cs);
    if (!buf) {
        ret = err_set(err, -ENOMEM, "refcount table");
        goto fail;
    }
    for (i = 0; i < reft_n; i++) {
        wr_be64(buf + i * 8, reft[i]);
    }
    ret = qcow2_io_pwrite(img, tab_off, buf, tab_clusters * cs, err);
    mem_free(buf);
    if (ret < 0) {
        goto fail;
    }
    out->table = reft;
    out->entries = reft_n;
    out->offset = tab_off;
    out->clusters = (uint32_t)tab_clusters;
    return 0;
fail:
    mem_free(reft);
    return ret;
}
