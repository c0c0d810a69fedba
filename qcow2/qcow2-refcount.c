/* SPDX-License-Identifier: MIT */
/*
 * qcow2/qcow2-refcount.c - refcount table and blocks (1..64-bit entries),
 * cluster and byte allocation, the shadow allocation bitmap of snapshot
 * operations and the metadata overlap check.
 *
 * DESIGN NOTES
 *
 * Invariants (checked by refcount_invariants_ok()):
 *  1. img->refcount_table holds refcount_table_size entries, equal to
 *     hdr.refcount_table_clusters * cluster_size / 8.
 *  2. Every non-zero reftable entry is cluster aligned and below 2^56.
 *  3. refcount_max == 2^refcount_bits - 1 and refcount_block_bits ==
 *     cluster_bits + 3 - refcount_order.
 *  4. A cluster is referenced on disk only after its refcount increase is
 *     on disk (the L2 cache depends on the refcount cache), and its
 *     refcount decrease reaches the disk only after the last reference is
 *     gone (the refcount cache depends on the L2 cache): a crash leaks
 *     clusters but never frees a used one. Frees made inside VM-state
 *     writes wait in img->deferred_free until qcow2_frees_settle() has
 *     written the L2 tables back (every metadata flush and snapshot
 *     operation settles first), so a batch of copy-on-write updates is
 *     one ordered flush.
 *
 * States of one host cluster:
 *
 *     FREE --alloc (+1)--> USED(1) --snapshot (+1)--> SHARED(>=2)
 *       ^                    |  ^                        |
 *       +------free (-1)-----+  +-------free (-1)--------+
 *
 * Transitions:
 *   FREE -> USED        qcow2_cluster_alloc(), qcow2_bytes_alloc()
 *   USED -> SHARED      snapshot create/apply (a whole new refcount
 *                       structure, see below)
 *   SHARED -> USED      qcow2_cluster_free(), snapshot delete/apply
 *   USED -> FREE        qcow2_cluster_free(), snapshot delete/apply
 * Snapshot operations do not update refcounts in place: they count the new
 * state in memory (qcow2_refs_count(), qcow2-check.c), write new refcount
 * blocks and a new table into clusters the shadow bitmap
 * (qcow2_shadow_*()) says are free in the old state, and switch the header
 * to them in one sector write (qcow2-snapshot.c).
 * A missing refcount block means "all FREE"; allocating one is
 * self-describing where possible (the block counts itself), and growing the
 * refcount table writes a new table plus the blocks that describe it past
 * the end of the image before switching the header to it.
 */
#include <inttypes.h>
#include <string.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/log.h"
#include "qcow2/qcow2-int.h"

static inline bool refcount_invariants_ok(const struct qcow2_image *img)
{
    if (img->refcount_table_size !=
        (uint64_t)img->hdr.refcount_table_clusters * img->cluster_size / 8) {
        return false;
    }
    if (img->refcount_max != (img->refcount_bits == 64
                                  ? UINT64_MAX
                                  : (1ull << img->refcount_bits) - 1)) {
        return false;
    }
    return img->refcount_block_bits ==
           img->cluster_bits + 3 - img->hdr.refcount_order;
}

static uint64_t rb_get(const struct qcow2_image *img, const uint8_t *block,
                       uint64_t i)
{
    unsigned bits = img->refcount_bits;

    switch (bits) {
    case 1:
    case 2:
    case 4: {
        uint64_t per = 8 / bits;
        unsigned shift = (unsigned)((i % per) * bits);
        return (block[i / per] >> shift) & ((1u << bits) - 1);
    }
    case 8:
        return block[i];
    case 16:
        return rd_be16(block + 2 * i);
    case 32:
        return rd_be32(block + 4 * i);
    default:
        return rd_be64(block + 8 * i);
    }
}

static void rb_set(const struct qcow2_image *img, uint8_t *block, uint64_t i,
                   uint64_t v)
{
    unsigned bits = img->refcount_bits;

    switch (bits) {
    case 1:
    case 2:
    case 4: {
        uint64_t per = 8 / bits;
        unsigned shift = (unsigned)((i % per) * bits);
        unsigned mask = ((1u << bits) - 1) << shift;
        block[i / per] =
            (uint8_t)((block[i / per] & ~mask) | ((unsigned)v << shift));
        break;
    }
    case 8:
        block[i] = (uint8_t)v;
        break;
    case 16:
        wr_be16(block + 2 * i, (uint16_t)v);
        break;
    case 32:
        wr_be32(block + 4 * i, (uint32_t)v);
        break;
    default:
        wr_be64(block + 8 * i, v);
        break;
    }
}

int qcow2_refcount_init(struct qcow2_image *img, struct err *err)
{
    uint64_t n = (uint64_t)img->hdr.refcount_table_clusters
                 << img->cluster_bits;
    uint8_t *buf;
    uint64_t i;
    int ret;

    if (n > QCOW2_MAX_REFTABLE_BYTES) {
        return err_set(err, -ERANGE, "refcount table too large");
    }
    img->refcount_bits = 1u << img->hdr.refcount_order;
    img->refcount_max = img->refcount_bits == 64
                            ? UINT64_MAX
                            : (1ull << img->refcount_bits) - 1;
    img->refcount_block_bits = img->cluster_bits + 3 - img->hdr.refcount_order;
    img->refcount_table_size = n / 8;
    img->refcount_table = mem_calloc(n ? n / 8 : 1, sizeof(uint64_t));
    if (!img->refcount_table) {
        return err_set(err, -ENOMEM, "refcount table");
    }
    if (n == 0) {
        return 0;
    }
    buf = mem_alloc(n);
    if (!buf) {
        return err_set(err, -ENOMEM, "refcount table");
    }
    ret = qcow2_io_pread(img, img->hdr.refcount_table_offset, buf, n, err);
    if (ret < 0) {
        err_prefix(err, "refcount table");
        goto out;
    }
    for (i = 0; i < n / 8; i++) {
        img->refcount_table[i] = rd_be64(buf + 8 * i);
        if (img->refcount_table[i]) {
            img->reftable_used = i + 1;
        }
    }
    img->reftable_used_of = img->refcount_table;
    assert(refcount_invariants_ok(img));
out:
    mem_free(buf);
    return ret;
}

/* Offset of refcount block @rt_index; 0 if none. -EBADMSG if bad. */
static int64_t refblock_offset(struct qcow2_image *img, uint64_t rt_index,
                               struct err *err)
{
    uint64_t off;

    if (rt_index >= img->refcount_table_size) {
        return 0;
    }
    off = img->refcount_table[rt_index] & QCOW2_REFT_OFFSET_MASK;
    if (off == 0) {
        return 0;
    }
    if (qcow2_offset_into_cluster(img, off) != 0 ||
        off > QCOW2_MAX_HOST_OFFSET) {
        return qcow2_signal_corruption(img, err,
                                       "refblock offset %#" PRIx64
                                       " unaligned (reftable index %#" PRIx64
                                       ")",
                                       off, rt_index);
    }
    return (int64_t)off;
}

int qcow2_refcount_get(struct qcow2_image *img, uint64_t cluster_index,
                       uint64_t *out, struct err *err)
{
    uint64_t rt_index = cluster_index >> img->refcount_block_bits;
    uint64_t bi = cluster_index & ((1ull << img->refcount_block_bits) - 1);
    int64_t off = refblock_offset(img, rt_index, err);
    void *block;
    int ret;

    if (off <= 0) {
        *out = 0;
        return (int)off;
    }
    ret = qcow2_cache_get(img->refcount_cache, (uint64_t)off, &block, err);
    if (ret < 0) {
        return ret;
    }
    *out = rb_get(img, block, bi);
    qcow2_cache_put(img->refcount_cache, &block);
    return 0;
}

static int reftable_write_entry(struct qcow2_image *img, uint64_t rt_index,
                                struct err *err)
{
    uint8_t buf[8];
    uint64_t off = img->hdr.refcount_table_offset + rt_index * 8;
    int ret;

    wr_be64(buf, img->refcount_table[rt_index]);
    ret = qcow2_pre_write_check(img, QCOW2_OL_REFCOUNT_TABLE, off, 8, err);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_io_pwrite(img, off, buf, 8, err);
    if (ret < 0) {
        img->sticky_err = ret;
    }
    return ret;
}

/*
 * Find @n contiguous clusters with refcount 0, starting at the hint.
 * Clusters without a refcount block count as free.
 */
static int64_t find_free(struct qcow2_image *img, uint64_t n, struct err *err)
{
    uint64_t per_block = 1ull << img->refcount_block_bits;
    uint64_t i = img->free_cluster_index;
    uint64_t run_start = i;
    uint64_t run = 0;
    uint64_t max_index = QCOW2_MAX_HOST_OFFSET >> img->cluster_bits;
    int ret;

    while (run < n) {
        uint64_t rt_index = i >> img->refcount_block_bits;
        int64_t boff;
        void *block;
        uint64_t end;

        if (i + (n - run) > max_index) {
            return err_set(err, -ENOSPC, "host offsets exhausted");
        }
        boff = refblock_offset(img, rt_index, err);
        if (boff < 0) {
            return boff;
        }
        end = (rt_index + 1) * per_block;
        if (boff == 0) {
            if (run == 0) {
                run_start = i;
            }
            run += end - i;
            i = end;
            continue;
        }
        ret = qcow2_cache_get(img->refcount_cache, (uint64_t)boff, &block, err);
        if (ret < 0) {
            return ret;
        }
        for (; i < end && run < n; i++) {
            if (rb_get(img, block, i & (per_block - 1)) == 0) {
                if (run == 0) {
                    run_start = i;
                }
                run++;
            } else {
                run = 0;
            }
        }
        qcow2_cache_put(img->refcount_cache, &block);
    }
    return (int64_t)run_start;
}

static int refcount_apply(struct qcow2_image *img, uint64_t first,
                          uint64_t last, int64_t delta, bool check_only,
                          struct err *err);

/*
 * Make sure the refcount block covering host cluster @cluster_index exists,
 * placing it as QEMU's alloc_refcount_block does: at the next free cluster
 * after the allocation hint (counting itself when it falls in its own
 * range), or, when the refcount table is too small, with a new table and
 * self-describing blocks in a fresh area (refcount_area()). Returns 0 if the
 * block existed, 1 if one was allocated (the caller must search for free
 * clusters again), or -errno.
 */
static int refblock_ensure(struct qcow2_image *img, uint64_t cluster_index,
                           int depth, struct err *err)
{
    uint64_t per_block = 1ull << img->refcount_block_bits;
    uint64_t rt_index = cluster_index >> img->refcount_block_bits;
    uint64_t nb_off;
    int64_t boff, c;
    void *block;
    int ret;

    if (depth > 4) {
        return err_set(err, -EIO, "refcount block allocation recursion");
    }
    boff = refblock_offset(img, rt_index, err);
    if (boff != 0) {
        return boff < 0 ? (int)boff : 0;
    }
    c = find_free(img, 1, err);
    if (c < 0) {
        return (int)c;
    }
    if (c == 0) {
        return qcow2_signal_corruption(img, err,
                                       "refcount block allocated at offset 0");
    }
    img->free_cluster_index = (uint64_t)c + 1;
    nb_off = (uint64_t)c << img->cluster_bits;
    if (((uint64_t)c >> img->refcount_block_bits) == rt_index) {
        /* Self-describing: the new block counts itself. */
        ret = qcow2_cache_get_empty(img->refcount_cache, nb_off, &block, err);
        if (ret < 0) {
            return ret;
        }
        memset(block, 0, img->cluster_size);
        rb_set(img, block, (uint64_t)c & (per_block - 1), 1);
    } else {
        /* Counted by another block (which may need allocating first). */
        ret = refblock_ensure(img, (uint64_t)c, depth + 1, err);
        if (ret < 0) {
            return ret;
        }
        ret = refcount_apply(img, (uint64_t)c, (uint64_t)c, 1, false, err);
        if (ret < 0) {
            return ret;
        }
        ret = qcow2_cache_flush(img->refcount_cache, err);
        if (ret < 0) {
            return ret;
        }
        ret = qcow2_cache_get_empty(img->refcount_cache, nb_off, &block, err);
        if (ret < 0) {
            return ret;
        }
        memset(block, 0, img->cluster_size);
    }
    qcow2_cache_mark_dirty(img->refcount_cache, block);
    qcow2_cache_put(img->refcount_cache, &block);
    /* The block must be on disk before any table points at it. */
    ret = qcow2_cache_flush(img->refcount_cache, err);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    if (ret < 0) {
        return ret;
    }
    if (nb_off + img->cluster_size > img->file_size) {
        img->file_size = nb_off + img->cluster_size;
    }
    if (rt_index < img->refcount_table_size) {
        img->refcount_table[rt_index] = nb_off;
        if (rt_index >= img->reftable_used) {
            img->reftable_used = rt_index + 1;
        }
        ret = reftable_write_entry(img, rt_index, err);
        if (ret == 0) {
            ret = qcow2_sync(img, err);
        }
        return ret < 0 ? ret : 1;
    }
    {
        /* Grow the table: new structures start after every block in use
         * (including the one just made). */
        uint64_t hi = cluster_index + 1;
        uint64_t blocks_used;

        if ((uint64_t)c + 1 > hi) {
            hi = (uint64_t)c + 1;
        }
        blocks_used = (hi + per_block - 1) / per_block;
        int64_t end = qcow2_refcount_area(
            img, (blocks_used * per_block) << img->cluster_bits, 0, false,
            rt_index, nb_off, err);
        ret = end < 0 ? (int)end : 0;
    }
    return ret < 0 ? ret : 1;
}

/* QEMU's qcow2_refcount_metadata_size(): refcount blocks needed to count
 * @clusters plus the refcount structures themselves (a fixed point), with
 * half the table again as slack when @generous. */
static uint64_t refcount_blocks_needed(uint64_t clusters, uint64_t cs,
                                       unsigned order, bool generous)
{
    uint64_t per_table = cs / 8;
    uint64_t per_block = cs * 8 / (1u << order);
    uint64_t table = 0, blocks = 0, last, n = 0;

    do {
        last = n;
        blocks = (clusters + table + blocks + per_block - 1) / per_block;
        table = (blocks + per_table - 1) / per_table;
        n = clusters + blocks + table;
        if (n == last && generous) {
            clusters += (table + 1) / 2;
            n = 0;
            generous = false;
        }
    } while (n != last);
    return blocks;
}

int64_t qcow2_refcount_area(struct qcow2_image *img, uint64_t start_offset,
                            uint64_t additional_clusters, bool exact_size,
                            uint64_t new_rb_index, uint64_t new_rb_offset,
                            struct err *err)
{
    uint64_t cs = img->cluster_size;
    uint64_t per_block = 1ull << img->refcount_block_bits;
    uint64_t total = refcount_blocks_needed(
        (start_offset >> img->cluster_bits) + additional_clusters, cs,
        img->hdr.refcount_order, !exact_size);
    uint64_t area_index = (start_offset >> img->cluster_bits) / per_block;
    uint64_t table_size, table_clusters, extra = 0, i;
    uint64_t table_offset, end_offset = 0, block_offset;
    uint64_t old_off = img->hdr.refcount_table_offset;
    uint64_t old_clusters = img->hdr.refcount_table_clusters;
    uint64_t *nt = NULL;
    uint8_t *buf = NULL;
    int ret = 0;

    table_size = exact_size ? total : total + (total + 1) / 2;
    table_size = (table_size + cs / 8 - 1) / (cs / 8) * (cs / 8);
    table_clusters = table_size * 8 / cs;
    if (table_size * 8 > QCOW2_MAX_REFTABLE_BYTES) {
        return err_set(err, -EFBIG, "refcount table would exceed %u bytes",
                       QCOW2_MAX_REFTABLE_BYTES);
    }
    if (new_rb_offset && new_rb_index >= total) {
        return err_set(err, -EIO, "refcount table growth miscounted");
    }
    nt = mem_calloc(table_size, sizeof(uint64_t));
    buf = mem_alloc(table_size * 8 > cs ? table_size * 8 : cs);
    if (!nt || !buf) {
        ret = err_set(err, -ENOMEM, "refcount table growth");
        goto out;
    }
    memcpy(nt, img->refcount_table,
           (img->refcount_table_size < table_size ? img->refcount_table_size
                                                  : table_size) *
               sizeof(uint64_t));
    if (new_rb_offset) {
        nt[new_rb_index] = new_rb_offset;
    }
    for (i = area_index; i < total; i++) {
        if (!nt[i]) {
            extra++;
        }
    }
    table_offset = start_offset + extra * cs;
    end_offset = table_offset + table_clusters * cs;
    if ((end_offset >> img->cluster_bits) >
        (QCOW2_MAX_HOST_OFFSET >> img->cluster_bits)) {
        ret = err_set(err, -EFBIG, "host offsets exhausted");
        goto out;
    }
    block_offset = start_offset;
    for (i = area_index; i < total; i++) {
        uint64_t first = (i * per_block) << img->cluster_bits;
        void *block;

        if (nt[i]) {
            ret = qcow2_cache_get(img->refcount_cache, nt[i], &block, err);
        } else {
            ret = qcow2_cache_get_empty(img->refcount_cache, block_offset,
                                        &block, err);
            if (ret == 0) {
                memset(block, 0, cs);
                qcow2_cache_mark_dirty(img->refcount_cache, block);
            }
            nt[i] = block_offset;
            block_offset += cs;
        }
        if (ret < 0) {
            goto out;
        }
        if (first < end_offset) {
            uint64_t j = first < start_offset ? (start_offset - first) / cs : 0;
            uint64_t end = (end_offset - first) / cs;

            if (end > per_block) {
                end = per_block;
            }
            for (; j < end; j++) {
                rb_set(img, block, j, 1);
            }
            qcow2_cache_mark_dirty(img->refcount_cache, block);
        }
        qcow2_cache_put(img->refcount_cache, &block);
    }
    if (end_offset > img->file_size) {
        img->file_size = end_offset;
    }
    ret = qcow2_cache_flush(img->refcount_cache, err);
    if (ret < 0) {
        goto out;
    }
    for (i = 0; i < table_size; i++) {
        wr_be64(buf + 8 * i, nt[i]);
    }
    ret = qcow2_io_pwrite(img, table_offset, buf, table_size * 8, err);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    if (ret < 0) {
        goto out;
    }
    img->hdr.refcount_table_offset = table_offset;
    img->hdr.refcount_table_clusters = (uint32_t)table_clusters;
    mem_free(img->refcount_table);
    img->refcount_table = nt;
    img->refcount_table_size = table_size;
    img->reftable_used = 0;
    for (i = 0; i < table_size; i++) {
        if (nt[i]) {
            img->reftable_used = i + 1;
        }
    }
    img->reftable_used_of = nt;
    nt = NULL;
    ret = qcow2_header_write(img, err);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    if (ret < 0) {
        img->sticky_err = ret;
        goto out;
    }
    ret = qcow2_cluster_free(img, old_off, old_clusters * cs, err);
out:
    mem_free(nt);
    mem_free(buf);
    return ret < 0 ? ret : (int64_t)end_offset;
}

static void note_freed(struct qcow2_image *img, uint64_t cluster_index)
{
    uint64_t off = cluster_index << img->cluster_bits;

    if (cluster_index < img->free_cluster_index) {
        img->free_cluster_index = cluster_index;
    }
    if (cluster_index < img->freed_min) {
        img->freed_min = cluster_index;
    }
    if (img->free_byte_offset &&
        (img->free_byte_offset >> img->cluster_bits) == cluster_index) {
        /* The packing cursor's cluster may be reused for anything. */
        img->free_byte_offset = 0;
    }
    qcow2_cache_discard(img->l2_cache, off);
    qcow2_cache_discard(img->refcount_cache, off);
}

/* Apply @delta to clusters [first, last]; every refblock must exist when
 * delta > 0. @check_only validates without writing. */
static int refcount_apply(struct qcow2_image *img, uint64_t first,
                          uint64_t last, int64_t delta, bool check_only,
                          struct err *err)
{
    uint64_t per_block = 1ull << img->refcount_block_bits;
    uint64_t i = first;
    int ret;

    while (i <= last) {
        uint64_t rt_index = i >> img->refcount_block_bits;
        uint64_t end = (rt_index + 1) * per_block - 1;
        int64_t boff = refblock_offset(img, rt_index, err);
        void *block;

        if (end > last) {
            end = last;
        }
        if (boff < 0) {
            return (int)boff;
        }
        if (boff == 0) {
            if (delta < 0) {
                return err_set(
                    err, -ERANGE,
                    "refcount of cluster %" PRIu64 " would drop below 0", i);
            }
            if (!check_only) {
                return err_set(err, -EIO, "refcount block missing");
            }
            if ((uint64_t)delta > img->refcount_max) {
                return err_set(err, -ERANGE, "refcount overflow");
            }
            i = end + 1;
            continue;
        }
        ret = qcow2_cache_get(img->refcount_cache, (uint64_t)boff, &block, err);
        if (ret < 0) {
            return ret;
        }
        for (; i <= end; i++) {
            uint64_t bi = i & (per_block - 1);
            uint64_t v = rb_get(img, block, bi);
            uint64_t nv;

            if (delta < 0) {
                if (v < (uint64_t)-delta) {
                    qcow2_cache_put(img->refcount_cache, &block);
                    return err_set(err, -ERANGE,
                                   "refcount of cluster %" PRIu64
                                   " would drop below 0",
                                   i);
                }
                nv = v - (uint64_t)-delta;
            } else {
                if (img->refcount_max - v < (uint64_t)delta) {
                    qcow2_cache_put(img->refcount_cache, &block);
                    return err_set(err, -ERANGE,
                                   "refcount of cluster %" PRIu64
                                   " would exceed %" PRIu64,
                                   i, img->refcount_max);
                }
                nv = v + (uint64_t)delta;
            }
            if (!check_only) {
                rb_set(img, block, bi, nv);
                if (nv == 0) {
                    note_freed(img, i);
                }
            }
        }
        if (!check_only) {
            qcow2_cache_mark_dirty(img->refcount_cache, block);
        }
        qcow2_cache_put(img->refcount_cache, &block);
    }
    return 0;
}

/* Make every refblock covering [first, last] exist. Returns 1 if any was
 * allocated. */
static int refblocks_ensure_range(struct qcow2_image *img, uint64_t first,
                                  uint64_t last, struct err *err)
{
    uint64_t rt;
    int any = 0;
    int ret;

    for (rt = first >> img->refcount_block_bits;
         rt <= last >> img->refcount_block_bits; rt++) {
        uint64_t ci = rt << img->refcount_block_bits;
        ret = refblock_ensure(img, ci > first ? ci : first, 0, err);
        if (ret < 0) {
            return ret;
        }
        if (ret == 1) {
            any = 1;
        }
    }
    return any;
}

int qcow2_refcount_update(struct qcow2_image *img, uint64_t offset,
                          uint64_t length, int64_t delta, struct err *err)
{
    uint64_t first, last;
    int ret;

    assert(refcount_invariants_ok(img));
    if (length == 0 || delta == 0) {
        return 0;
    }
    if (img->sticky_err < 0) {
        return err_set(err, img->sticky_err, "image is in an error state");
    }
    if (offset > QCOW2_MAX_HOST_OFFSET ||
        length > QCOW2_MAX_HOST_OFFSET - offset) {
        return err_set(err, -ERANGE, "refcount update past 2^56");
    }
    first = offset >> img->cluster_bits;
    last = (offset + length - 1) >> img->cluster_bits;
    ret = refcount_apply(img, first, last, delta, true, err);
    if (ret < 0) {
        return ret;
    }
    if (delta > 0) {
        ret = refblocks_ensure_range(img, first, last, err);
        if (ret < 0) {
            return ret;
        }
        if (!img->lazy_dirty) {
            ret =
                qcow2_cache_depends_on(img->l2_cache, img->refcount_cache, err);
        }
    } else if (!img->lazy_dirty) {
        ret = qcow2_cache_depends_on(img->refcount_cache, img->l2_cache, err);
    }
    if (ret < 0) {
        return ret;
    }
    return refcount_apply(img, first, last, delta, false, err);
}

int64_t qcow2_cluster_alloc(struct qcow2_image *img, uint64_t nb_clusters,
                            struct err *err)
{
    int attempts;

    if (nb_clusters == 0) {
        return err_set(err, -EINVAL, "zero-cluster allocation");
    }
    if (img->sticky_err < 0) {
        return err_set(err, img->sticky_err, "image is in an error state");
    }
    for (attempts = 0; attempts < 64; attempts++) {
        int64_t idx = find_free(img, nb_clusters, err);
        uint64_t last;
        int ret;

        if (idx < 0) {
            return idx;
        }
        last = (uint64_t)idx + nb_clusters - 1;
        if (last >= img->freed_min) {
            /*
             * Reusing a cluster freed since the last L2 write-back: the
             * tables that dropped it must be on disk before new data lands
             * there, or a crash would map old guest data to new bytes.
             */
            ret = qcow2_cache_flush(img->l2_cache, err);
            if (ret == 0) {
                ret = qcow2_sync(img, err);
            }
            if (ret < 0) {
                return ret;
            }
            img->freed_min = UINT64_MAX;
        }
        /*
         * New refcount blocks go after the chosen range (as QEMU's search
         * continues from its free-cluster index), then the same range is
         * tried again.
         */
        img->free_cluster_index = last + 1;
        ret = refblocks_ensure_range(img, (uint64_t)idx, last, err);
        if (img->free_cluster_index > (uint64_t)idx) {
            img->free_cluster_index = (uint64_t)idx;
        }
        if (ret < 0) {
            return ret;
        }
        if (ret == 1) {
            continue; /* a new refblock may sit in the chosen range */
        }
        ret = qcow2_refcount_update(img, (uint64_t)idx << img->cluster_bits,
                                    nb_clusters << img->cluster_bits, 1, err);
        if (ret < 0) {
            return ret;
        }
        img->free_cluster_index = last + 1;
        if ((last + 1) << img->cluster_bits > img->file_size) {
            /* Not on disk yet; reads of metadata there would fail. */
            img->file_size = (last + 1) << img->cluster_bits;
        }
        return (int64_t)((uint64_t)idx << img->cluster_bits);
    }
    return err_set(err, -EIO, "cluster allocation did not settle");
}

int64_t qcow2_bytes_alloc(struct qcow2_image *img, uint64_t size,
                          struct err *err)
{
    uint64_t cs = img->cluster_size;
    uint64_t offset = img->free_byte_offset;
    uint64_t free_in_cluster;
    int ret;

    if (size == 0 || size > cs) {
        return err_set(err, -EINVAL, "bad compressed size %" PRIu64, size);
    }
    if (offset) {
        uint64_t rc;
        ret = qcow2_refcount_get(img, offset >> img->cluster_bits, &rc, err);
        if (ret < 0) {
            return ret;
        }
        if (rc == img->refcount_max || rc == 0) {
            offset = 0;
        }
    }
    free_in_cluster = offset ? cs - qcow2_offset_into_cluster(img, offset) : 0;
    if (!offset || free_in_cluster < size) {
        uint64_t next = (offset + cs - 1) & ~(cs - 1);
        uint64_t rt_index =
            (next >> img->cluster_bits) >> img->refcount_block_bits;
        /* QEMU gives up straddling when counting the next cluster needs a
         * new refcount block (-EAGAIN): the data then starts the new
         * cluster. */
        bool may_straddle = offset && rt_index < img->refcount_table_size &&
                            img->refcount_table[rt_index] != 0;
        int64_t nc = qcow2_cluster_alloc(img, 1, err);
        if (nc < 0) {
            return nc;
        }
        if (may_straddle && next == (uint64_t)nc) {
            /* Contiguous: the data may straddle into the new cluster. The
             * new cluster already has its +1; count only the old part. */
            ret = qcow2_refcount_update(img, offset, free_in_cluster, 1, err);
            if (ret < 0) {
                return ret;
            }
        } else {
            offset = (uint64_t)nc;
        }
    } else {
        ret = qcow2_refcount_update(img, offset, size, 1, err);
        if (ret < 0) {
            return ret;
        }
    }
    img->free_byte_offset = offset + size;
    if (qcow2_offset_into_cluster(img, img->free_byte_offset) == 0) {
        img->free_byte_offset = 0;
    }
    if (offset + size > img->file_size) {
        img->file_size = offset + size;
    }
    return (int64_t)offset;
}

/* Hold a free back for qcow2_frees_settle(); false if out of memory. */
static bool free_defer(struct qcow2_image *img, uint64_t offset,
                       uint64_t length)
{
    if (img->nb_deferred_free == img->deferred_free_cap) {
        size_t cap = img->deferred_free_cap ? img->deferred_free_cap * 2 : 64;
        uint64_t *p = mem_realloc(img->deferred_free, cap * 16);

        if (!p) {
            return false;
        }
        img->deferred_free = p;
        img->deferred_free_cap = cap;
    }
    img->deferred_free[2 * img->nb_deferred_free] = offset;
    img->deferred_free[2 * img->nb_deferred_free + 1] = length;
    img->nb_deferred_free++;
    return true;
}

int qcow2_frees_settle(struct qcow2_image *img, struct err *err)
{
    int ret = 0;

    if (!img->nb_deferred_free) {
        return 0;
    }
    /* Invariant 4: the tables that dropped the clusters go first. */
    ret = qcow2_cache_flush(img->l2_cache, err);
    while (ret == 0 && img->nb_deferred_free) {
        size_t i = --img->nb_deferred_free;

        ret = qcow2_refcount_update(img, img->deferred_free[2 * i],
                                    img->deferred_free[2 * i + 1], -1, err);
    }
    img->nb_deferred_free = 0; /* after a failure: leaked */
    return ret;
}

int qcow2_cluster_free(struct qcow2_image *img, uint64_t offset,
                       uint64_t length, struct err *err)
{
    if (img->defer_frees && !img->lazy_dirty && length &&
        free_defer(img, offset, length)) {
        return 0;
    }
    return qcow2_refcount_update(img, offset, length, -1, err);
}

/* ---- Shadow allocation (snapshot operations) ---- */

/* Most clusters a shadow bitmap covers: QEMU's check counts clusters in an
 * int, and so does ours (256 MiB of bitmap). */
#define SHADOW_MAX_CLUSTERS (1ull << 31)

static bool shadow_busy(const struct qcow2_shadow *s, uint64_t idx)
{
    return idx < s->nb && (s->busy[idx >> 3] >> (idx & 7)) & 1;
}

int qcow2_shadow_mark(struct qcow2_shadow *s, uint64_t idx)
{
    if (idx >= s->nb) {
        uint64_t nb = s->nb ? s->nb : 4096;
        uint8_t *p;

        while (nb <= idx) {
            nb *= 2;
        }
        if (idx >= SHADOW_MAX_CLUSTERS) {
            return -EFBIG;
        }
        if (nb > SHADOW_MAX_CLUSTERS) {
            nb = SHADOW_MAX_CLUSTERS;
        }
        p = mem_realloc(s->busy, nb / 8);
        if (!p) {
            return -ENOMEM;
        }
        memset(p + s->nb / 8, 0, (nb - s->nb) / 8);
        s->busy = p;
        s->nb = nb;
    }
    s->busy[idx >> 3] |= (uint8_t)(1u << (idx & 7));
    return 0;
}

/* Mark the clusters of host byte range [off, off+len) busy. */
static int shadow_mark_range(struct qcow2_image *img, struct qcow2_shadow *s,
                             uint64_t off, uint64_t len)
{
    uint64_t i;
    int ret;

    if (!len) {
        return 0;
    }
    if (off > QCOW2_MAX_HOST_OFFSET || len > QCOW2_MAX_HOST_OFFSET - off) {
        return -EBADMSG;
    }
    for (i = off >> img->cluster_bits;
         i <= (off + len - 1) >> img->cluster_bits; i++) {
        ret = qcow2_shadow_mark(s, i);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

int qcow2_shadow_init(struct qcow2_image *img, struct qcow2_shadow *s,
                      struct err *err)
{
    uint64_t per_block = 1ull << img->refcount_block_bits;
    uint64_t cs = img->cluster_size;
    uint8_t *buf = NULL;
    uint64_t rt, k;
    uint32_t i;
    int ret;

    memset(s, 0, sizeof(*s));
    buf = mem_alloc(cs);
    if (!buf) {
        return err_set(err, -ENOMEM, "refcount block buffer");
    }
    for (rt = 0; rt < img->refcount_table_size; rt++) {
        int64_t boff = refblock_offset(img, rt, err);

        if (boff < 0) {
            ret = (int)boff;
            goto fail;
        }
        if (boff == 0) {
            continue;
        }
        ret = qcow2_shadow_mark(s, (uint64_t)boff >> img->cluster_bits);
        if (ret < 0) {
            goto mark_fail;
        }
        ret = qcow2_io_pread(img, (uint64_t)boff, buf, cs, err);
        if (ret < 0) {
            err_prefix(err, "refcount block %" PRIu64, rt);
            goto fail;
        }
        for (k = 0; k < per_block; k++) {
            if (!buf[(k << img->hdr.refcount_order) >> 3]) {
                /* A zero byte covers whole entries of <= 8 bits; wider
                 * entries are decoded. */
                if (img->refcount_bits <= 8) {
                    k |= (8u >> img->hdr.refcount_order) - 1;
                    continue;
                }
            }
            if (rb_get(img, buf, k)) {
                ret = qcow2_shadow_mark(s, rt * per_block + k);
                if (ret < 0) {
                    goto mark_fail;
                }
            }
        }
    }
    /* The known structures, in case a refcount says otherwise. */
    ret = shadow_mark_range(img, s, 0, cs);
    if (ret == 0) {
        ret =
            shadow_mark_range(img, s, img->hdr.refcount_table_offset,
                              (uint64_t)img->hdr.refcount_table_clusters * cs);
    }
    if (ret == 0) {
        ret = shadow_mark_range(img, s, img->hdr.l1_table_offset,
                                (uint64_t)img->l1_size * 8);
    }
    if (ret == 0 && img->hdr.nb_snapshots) {
        ret = shadow_mark_range(img, s, img->hdr.snapshots_offset, cs);
    }
    for (i = 0; ret == 0 && i < img->nb_snapshots; i++) {
        ret = shadow_mark_range(img, s, img->snapshots[i].l1_table_offset,
                                (uint64_t)img->snapshots[i].l1_size * 8);
    }
    if (ret == 0 && img->has_bitmaps_ext) {
        ret = shadow_mark_range(img, s, img->bitmap_dir_offset,
                                img->bitmap_dir_size);
    }
    if (ret < 0) {
        goto mark_fail;
    }
    mem_free(buf);
    return 0;
mark_fail:
    ret = err_set(err, ret, "cluster bitmap");
fail:
    mem_free(buf);
    qcow2_shadow_fini(s);
    return ret;
}

void qcow2_shadow_fini(struct qcow2_shadow *s)
{
    if (s) {
        mem_free(s->busy);
        memset(s, 0, sizeof(*s));
    }
}

int64_t qcow2_shadow_alloc(struct qcow2_image *img, struct qcow2_shadow *s,
                           uint64_t n, struct err *err)
{
    uint64_t max_index = QCOW2_MAX_HOST_OFFSET >> img->cluster_bits;
    uint64_t i = s->hint, start, k;
    int ret;

    if (n == 0) {
        return err_set(err, -EINVAL, "zero-cluster allocation");
    }
    for (;;) {
        /* Skip busy clusters, a byte at a time where possible. */
        while (i < s->nb) {
            if ((i & 7) == 0 && s->busy[i >> 3] == 0xff) {
                i += 8;
            } else if (shadow_busy(s, i)) {
                i++;
            } else {
                break;
            }
        }
        start = i;
        while (i < s->nb && i - start < n && !shadow_busy(s, i)) {
            i++;
        }
        if (i >= s->nb || i - start >= n) {
            break;
        }
    }
    if (start + n > max_index || start + n > SHADOW_MAX_CLUSTERS) {
        return err_set(err, -ENOSPC, "host offsets exhausted");
    }
    for (k = 0; k < n; k++) {
        ret = qcow2_shadow_mark(s, start + k);
        if (ret < 0) {
            return err_set(err, ret, "cluster bitmap");
        }
    }
    if (start == s->hint) {
        s->hint = start + n;
    }
    if (start + n > s->end) {
        s->end = start + n;
    }
    return (int64_t)(start << img->cluster_bits);
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

unsigned qcow2_overlap_check(struct qcow2_image *img, unsigned ignore,
                             uint64_t offset, uint64_t len)
{
    uint64_t cs = img->cluster_size;
    uint64_t i;

    if (img->format != QCOW2_FORMAT_QCOW2 || (img->flags & QCOW2_OPEN_CHECK)) {
        return 0;
    }
    if (!(ignore & QCOW2_OL_MAIN_HEADER) &&
        ranges_overlap(offset, len, 0, cs)) {
        return QCOW2_OL_MAIN_HEADER;
    }
    if (!(ignore & QCOW2_OL_ACTIVE_L1) &&
        ranges_overlap(offset, len, img->hdr.l1_table_offset,
                       (uint64_t)img->l1_size * 8)) {
        return QCOW2_OL_ACTIVE_L1;
    }
    if (!(ignore & QCOW2_OL_REFCOUNT_TABLE) &&
        ranges_overlap(offset, len, img->hdr.refcount_table_offset,
                       (uint64_t)img->hdr.refcount_table_clusters * cs)) {
        return QCOW2_OL_REFCOUNT_TABLE;
    }
    if (!(ignore & QCOW2_OL_SNAPSHOT_TABLE) && img->hdr.nb_snapshots &&
        ranges_overlap(offset, len, img->hdr.snapshots_offset, cs)) {
        return QCOW2_OL_SNAPSHOT_TABLE;
    }
    if (!(ignore & QCOW2_OL_BITMAP_DIR) && img->has_bitmaps_ext &&
        ranges_overlap(offset, len, img->bitmap_dir_offset,
                       img->bitmap_dir_size)) {
        return QCOW2_OL_BITMAP_DIR;
    }
    if (!(ignore & QCOW2_OL_INACTIVE_L1)) {
        for (i = 0; i < img->nb_snapshots; i++) {
            if (ranges_overlap(offset, len, img->snapshots[i].l1_table_offset,
                               (uint64_t)img->snapshots[i].l1_size * 8)) {
                return QCOW2_OL_INACTIVE_L1;
            }
        }
    }
    if (!(ignore & QCOW2_OL_REFCOUNT_BLOCK)) {
        uint64_t used;

        if (img->reftable_used_of != img->refcount_table) {
            /* The table was replaced (repair): recount. */
            img->reftable_used = 0;
            for (i = 0; i < img->refcount_table_size; i++) {
                if (img->refcount_table[i]) {
                    img->reftable_used = i + 1;
                }
            }
            img->reftable_used_of = img->refcount_table;
        }
        used = img->reftable_used < img->refcount_table_size
                   ? img->reftable_used
                   : img->refcount_table_size;
        for (i = 0; i < used; i++) {
            uint64_t b = img->refcount_table[i] & QCOW2_REFT_OFFSET_MASK;
            if (b && ranges_overlap(offset, len, b, cs)) {
                return QCOW2_OL_REFCOUNT_BLOCK;
            }
        }
    }
    if (!(ignore & QCOW2_OL_ACTIVE_L2)) {
        for (i = 0; i < img->l1_size; i++) {
            uint64_t b = img->l1_table[i] & QCOW2_L1E_OFFSET_MASK;
            if (b && ranges_overlap(offset, len, b, cs)) {
                return QCOW2_OL_ACTIVE_L2;
            }
        }
    }
    return 0;
}

bool qcow2_overlaps_metadata(struct qcow2_image *img, uint64_t offset,
                             uint64_t len)
{
    return qcow2_overlap_check(img, 0, offset, len) != 0;
}

static const char *ol_name(unsigned kind)
{
    switch (kind) {
    case QCOW2_OL_MAIN_HEADER:
        return "qcow2_header";
    case QCOW2_OL_ACTIVE_L1:
        return "active L1 table";
    case QCOW2_OL_ACTIVE_L2:
        return "active L2 table";
    case QCOW2_OL_REFCOUNT_TABLE:
        return "refcount table";
    case QCOW2_OL_REFCOUNT_BLOCK:
        return "refcount block";
    case QCOW2_OL_SNAPSHOT_TABLE:
        return "snapshot table";
    case QCOW2_OL_INACTIVE_L1:
        return "inactive L1 table";
    case QCOW2_OL_BITMAP_DIR:
        return "bitmap directory";
    }
    return "metadata";
}

int qcow2_pre_write_check(struct qcow2_image *img, unsigned ignore,
                          uint64_t offset, uint64_t len, struct err *err)
{
    unsigned hit = qcow2_overlap_check(img, ignore, offset, len);

    if (!hit) {
        return 0;
    }
    return qcow2_signal_corruption(
        img, err,
        "Preventing invalid write on metadata (overlaps with %s); "
        "write at %#" PRIx64 " length %" PRIu64,
        ol_name(hit), offset, len);
}

int64_t qcow2_refcount_highest(struct qcow2_image *img, struct err *err)
{
    uint64_t per_block = 1ull << img->refcount_block_bits;
    uint64_t rt = img->refcount_table_size;
    int ret;

    while (rt-- > 0) {
        int64_t boff = refblock_offset(img, rt, err);
        void *block;
        uint64_t k;

        if (boff < 0) {
            return boff;
        }
        if (boff == 0) {
            continue;
        }
        ret = qcow2_cache_get(img->refcount_cache, (uint64_t)boff, &block, err);
        if (ret < 0) {
            return ret;
        }
        for (k = per_block; k-- > 0;) {
            if (rb_get(img, block, k) != 0) {
                qcow2_cache_put(img->refcount_cache, &block);
                return (int64_t)(rt * per_block + k + 1);
            }
        }
        qcow2_cache_put(img->refcount_cache, &block);
    }
    return 0;
}
