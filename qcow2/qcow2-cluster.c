/* SPDX-License-Identifier: MIT */
/*
 * qcow2/qcow2-cluster.c - guest-to-host mapping: L2 lookup, reads (plain,
 * zero, compressed, backing, extended-L2 subclusters), allocating writes
 * with copy-on-write, zero writes, discard, compressed writes and block
 * status.
 */
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/log.h"
#include "qcow2/qcow2-int.h"

/* Status of a guest byte run, one level below qcow2_cluster_type. */
enum run_type {
    RUN_UNALLOC,    /* falls through to the backing file (or zero) */
    RUN_ZERO,       /* reads as zero in this layer */
    RUN_NORMAL,     /* plain data at host */
    RUN_COMPRESSED, /* one compressed cluster */
};

struct run {
    enum run_type type;
    uint64_t bytes; /* run length from the requested offset */
    uint64_t host;  /* NORMAL: host offset of the first byte; ZERO: host
                       cluster kept allocated (0 if none) */
    uint64_t entry; /* COMPRESSED: the L2 entry */
};

/* One decompressed cluster kept for small sequential reads. */
struct zcache {
    uint64_t entry; /* L2 entry of the cached cluster; 0 = empty */
    uint8_t *buf;   /* cluster_size bytes; owned */
};

#define SUBCLUSTER_ALLOC_MASK 0xffffffffull
#define L2_BITMAP_ALL_ZEROES  (0xffffffffull << 32)

enum qcow2_cluster_type qcow2_l2_entry_type(const struct qcow2_image *img,
                                            uint64_t entry)
{
    if (entry & QCOW2_OFLAG_COMPRESSED) {
        return QCOW2_CLUSTER_COMPRESSED;
    }
    if (!img->extended_l2 && (entry & QCOW2_OFLAG_ZERO)) {
        return (entry & QCOW2_L2E_OFFSET_MASK) ? QCOW2_CLUSTER_ZERO_ALLOC
                                               : QCOW2_CLUSTER_ZERO_PLAIN;
    }
    return (entry & QCOW2_L2E_OFFSET_MASK) ? QCOW2_CLUSTER_NORMAL
                                           : QCOW2_CLUSTER_UNALLOCATED;
}

void qcow2_compressed_desc(const struct qcow2_image *img, uint64_t entry,
                           uint64_t *host_off, uint64_t *nb_bytes)
{
    unsigned x = 62 - (img->cluster_bits - 8);
    uint64_t off = entry & ((1ull << x) - 1);
    uint64_t sectors =
        ((entry >> x) & ((1ull << (img->cluster_bits - 8)) - 1)) + 1;

    *host_off = off;
    *nb_bytes = sectors * 512 - (off & 511);
}

static uint64_t l2_entry_at(const struct qcow2_image *img, const uint8_t *l2,
                            uint64_t i)
{
    return rd_be64(l2 + i * img->l2_entry_size);
}

static uint64_t l2_bitmap_at(const struct qcow2_image *img, const uint8_t *l2,
                             uint64_t i)
{
    return img->extended_l2 ? rd_be64(l2 + i * 16 + 8) : 0;
}

static void l2_set(const struct qcow2_image *img, uint8_t *l2, uint64_t i,
                   uint64_t entry, uint64_t bitmap)
{
    wr_be64(l2 + i * img->l2_entry_size, entry);
    if (img->extended_l2) {
        wr_be64(l2 + i * 16 + 8, bitmap);
    }
}

static int l2_offset_check(struct qcow2_image *img, uint64_t l1e,
                           uint64_t *l2_off, struct err *err)
{
    uint64_t off = l1e & QCOW2_L1E_OFFSET_MASK;

    *l2_off = 0;
    if (off && qcow2_offset_into_cluster(img, off)) {
        return qcow2_signal_corruption(
            img, err, "L2 table offset %#" PRIx64 " unaligned", off);
    }
    if (off && off < img->cluster_size) {
        return qcow2_signal_corruption(img, err,
                                       "L2 table at offset 0 (header)");
    }
    *l2_off = off;
    return 0;
}

int qcow2_l2_entry_get(struct qcow2_image *img, const uint64_t *l1,
                       uint32_t l1_size, uint64_t offset, uint64_t *entry,
                       uint64_t *bitmap, struct err *err)
{
    uint64_t ci = offset >> img->cluster_bits;
    uint64_t l1i = ci >> img->l2_bits;
    uint64_t l2i = ci & (img->l2_size - 1);
    uint64_t l2_off;
    uint8_t *l2;
    int ret;

    *entry = 0;
    *bitmap = 0;
    if (l1i >= l1_size) {
        return 0;
    }
    ret = l2_offset_check(img, l1[l1i], &l2_off, err);
    if (ret < 0 || !l2_off) {
        return ret;
    }
    ret = qcow2_cache_get(img->l2_cache, l2_off, (void **)&l2, err);
    if (ret < 0) {
        return ret;
    }
    *entry = l2_entry_at(img, l2, l2i);
    *bitmap = l2_bitmap_at(img, l2, l2i);
    qcow2_cache_put(img->l2_cache, (void **)&l2);
    return 0;
}

/* Classify subcluster @sc of an extended entry. */
static enum run_type sub_type(uint64_t entry, uint64_t bitmap, unsigned sc)
{
    if (entry & QCOW2_OFLAG_COMPRESSED) {
        return RUN_COMPRESSED;
    }
    if (bitmap & (1ull << sc)) {
        return RUN_NORMAL;
    }
    if (bitmap & (1ull << (sc + 32))) {
        return RUN_ZERO;
    }
    return RUN_UNALLOC;
}

static enum run_type entry_run_type(const struct qcow2_image *img,
                                    uint64_t entry)
{
    switch (qcow2_l2_entry_type(img, entry)) {
    case QCOW2_CLUSTER_UNALLOCATED:
        return RUN_UNALLOC;
    case QCOW2_CLUSTER_ZERO_PLAIN:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        return RUN_ZERO;
    case QCOW2_CLUSTER_NORMAL:
        return RUN_NORMAL;
    case QCOW2_CLUSTER_COMPRESSED:
        return RUN_COMPRESSED;
    }
    return RUN_UNALLOC;
}

static int entry_sanity(struct qcow2_image *img, uint64_t entry,
                        uint64_t bitmap, struct err *err)
{
    uint64_t host = entry & QCOW2_L2E_OFFSET_MASK;

    if (entry & QCOW2_OFLAG_COMPRESSED) {
        return 0;
    }
    if (host && qcow2_offset_into_cluster(img, host)) {
        return qcow2_signal_corruption(
            img, err, "Cluster allocation offset %#" PRIx64 " unaligned", host);
    }
    if (img->extended_l2) {
        if ((bitmap & SUBCLUSTER_ALLOC_MASK) & (bitmap >> 32)) {
            return qcow2_signal_corruption(
                img, err,
                "subcluster both allocated and zero (L2 bitmap %#" PRIx64 ")",
                bitmap);
        }
        if (!host && (bitmap & SUBCLUSTER_ALLOC_MASK)) {
            return qcow2_signal_corruption(
                img, err, "allocated subclusters without a host cluster");
        }
    }
    return 0;
}

/*
 * Map the run of guest bytes starting at @off (at most @max bytes; never
 * crossing an L2 table) with one status and, for data, contiguous host
 * offsets.
 */
static int map_run(struct qcow2_image *img, uint64_t off, uint64_t max,
                   struct run *r, struct err *err)
{
    uint64_t cs = img->cluster_size;
    uint64_t ci = off >> img->cluster_bits;
    uint64_t l1i = ci >> img->l2_bits;
    uint64_t l2i = ci & (img->l2_size - 1);
    uint64_t in_cl = off & (cs - 1);
    uint64_t to_l2_end = ((img->l2_size - l2i) << img->cluster_bits) - in_cl;
    uint64_t l2_off;
    uint8_t *l2;
    uint64_t e, bm, done;
    int ret;

    if (max > to_l2_end) {
        max = to_l2_end;
    }
    memset(r, 0, sizeof(*r));
    if (l1i >= img->l1_size) {
        r->type = RUN_UNALLOC;
        r->bytes = max;
        return 0;
    }
    ret = l2_offset_check(img, img->l1_table[l1i], &l2_off, err);
    if (ret < 0) {
        return ret;
    }
    if (!l2_off) {
        r->type = RUN_UNALLOC;
        r->bytes = max;
        return 0;
    }
    ret = qcow2_cache_get(img->l2_cache, l2_off, (void **)&l2, err);
    if (ret < 0) {
        return ret;
    }
    e = l2_entry_at(img, l2, l2i);
    bm = l2_bitmap_at(img, l2, l2i);
    ret = entry_sanity(img, e, bm, err);
    if (ret < 0) {
        goto out;
    }
    if (img->extended_l2) {
        uint64_t scs = cs / QCOW2_EXTL2_SUBCLUSTERS;
        unsigned sc = (unsigned)(in_cl / scs);
        enum run_type t = sub_type(e, bm, sc);
        uint64_t host = e & QCOW2_L2E_OFFSET_MASK;

        r->type = t;
        if (t == RUN_COMPRESSED) {
            r->entry = e;
            r->bytes = cs - in_cl;
            goto clamp;
        }
        if (t == RUN_NORMAL) {
            r->host = host + in_cl;
        }
        done = (uint64_t)(sc + 1) * scs - in_cl;
        /* Extend over subclusters, then whole clusters, of one status. */
        for (;;) {
            while (++sc < QCOW2_EXTL2_SUBCLUSTERS && done < max) {
                if (sub_type(e, bm, sc) != t) {
                    goto ext_done;
                }
                done += scs;
            }
            if (done >= max || ++l2i >= img->l2_size) {
                break;
            }
            {
                uint64_t ne = l2_entry_at(img, l2, l2i);
                uint64_t nbm = l2_bitmap_at(img, l2, l2i);
                if (entry_sanity(img, ne, nbm, err) < 0 ||
                    sub_type(ne, nbm, 0) != t ||
                    (t == RUN_NORMAL &&
                     (ne & QCOW2_L2E_OFFSET_MASK) != host + cs)) {
                    break;
                }
                e = ne;
                bm = nbm;
                host = ne & QCOW2_L2E_OFFSET_MASK;
                sc = 0;
                done += scs;
            }
        }
    ext_done:
        r->bytes = done;
        goto clamp;
    }
    r->type = entry_run_type(img, e);
    if (r->type == RUN_COMPRESSED) {
        r->entry = e;
        r->bytes = cs - in_cl;
        goto clamp;
    }
    r->host = e & QCOW2_L2E_OFFSET_MASK;
    if (r->type == RUN_NORMAL) {
        r->host += in_cl;
    }
    done = cs - in_cl;
    while (done < max && ++l2i < img->l2_size) {
        uint64_t ne = l2_entry_at(img, l2, l2i);
        if (entry_run_type(img, ne) != r->type) {
            break;
        }
        if (r->type == RUN_NORMAL &&
            (ne & QCOW2_L2E_OFFSET_MASK) != r->host + done) {
            break;
        }
        if (qcow2_offset_into_cluster(img, ne & QCOW2_L2E_OFFSET_MASK)) {
            break;
        }
        done += cs;
    }
    r->bytes = done;
clamp:
    if (r->bytes > max) {
        r->bytes = max;
    }
out:
    qcow2_cache_put(img->l2_cache, (void **)&l2);
    return ret;
}

void qcow2_cluster_invalidate(struct qcow2_image *img)
{
    struct zcache *z = img->compress_ctx;

    if (z) {
        z->entry = 0;
    }
}

void qcow2_cluster_fini(struct qcow2_image *img)
{
    struct zcache *z = img->compress_ctx;

    if (z) {
        mem_free(z->buf);
        mem_free(z);
        img->compress_ctx = NULL;
    }
}

/* Decompress the cluster of compressed entry @entry into the zcache. */
static int compressed_load(struct qcow2_image *img, uint64_t entry,
                           const uint8_t **out, struct err *err)
{
    struct zcache *z = img->compress_ctx;
    uint64_t coff, clen;
    uint8_t *cbuf = NULL;
    ssize_t n;
    int ret;

    if (!z) {
        z = mem_calloc(1, sizeof(*z));
        if (!z) {
            return err_set(err, -ENOMEM, "decompression buffer");
        }
        z->buf = mem_alloc(img->cluster_size);
        if (!z->buf) {
            mem_free(z);
            return err_set(err, -ENOMEM, "decompression buffer");
        }
        img->compress_ctx = z;
    }
    if (z->entry == entry) {
        *out = z->buf;
        return 0;
    }
    z->entry = 0;
    qcow2_compressed_desc(img, entry, &coff, &clen);
    if (coff < img->cluster_size || coff > QCOW2_MAX_HOST_OFFSET) {
        return qcow2_signal_corruption(
            img, err, "compressed cluster at %#" PRIx64 " inside the header",
            coff);
    }
    /* clen <= 2 * cluster_size by construction of the descriptor. */
    cbuf = mem_alloc(clen);
    if (!cbuf) {
        return err_set(err, -ENOMEM, "compressed cluster");
    }
    n = qcow2_io_pread_some(img, cbuf, clen, coff);
    if (n < 0) {
        ret = err_set(err, (int)n, "reading compressed cluster at %#" PRIx64,
                      coff);
        goto out;
    }
    /* The descriptor rounds up to a sector; the file may end sooner. */
    if ((uint64_t)n + 511 < clen || n == 0) {
        ret = err_set(err, -EBADMSG,
                      "compressed cluster at %#" PRIx64 " (%" PRIu64
                      " bytes) extends past the end of the file",
                      coff, clen);
        goto out;
    }
    ret = qcow2_decompress((enum qcow2_compression)img->hdr.compression_type,
                           z->buf, img->cluster_size, cbuf, (size_t)n);
    if (ret < 0) {
        ret = err_set(err, -EBADMSG,
                      "compressed cluster at %#" PRIx64 " does not decompress",
                      coff);
        goto out;
    }
    z->entry = entry;
    *out = z->buf;
out:
    mem_free(cbuf);
    return ret;
}

/* Read data bytes from the file; bytes past its end read as zero. */
static int data_pread(struct qcow2_image *img, uint64_t host, uint8_t *dst,
                      uint64_t len, struct err *err)
{
    while (len > 0) {
        ssize_t n = qcow2_io_pread_some(img, dst, (size_t)len, host);
        if (n < 0) {
            return err_set(err, (int)n, "read at %#" PRIx64, host);
        }
        if (n == 0) {
            memset(dst, 0, len);
            return 0;
        }
        dst += n;
        host += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return 0;
}

static int backing_read(struct qcow2_image *img, uint64_t off, uint8_t *dst,
                        uint64_t len, struct err *err)
{
    struct qcow2_image *b = img->backing;
    uint64_t n = 0;
    int ret;

    if (b && off < b->size) {
        n = b->size - off;
        if (n > len) {
            n = len;
        }
        ret = qcow2_read(b, off, dst, n, err);
        if (ret < 0) {
            return ret;
        }
    }
    if (n < len) {
        memset(dst + n, 0, len - n);
    }
    return 0;
}

int qcow2_guest_read(struct qcow2_image *img, uint64_t off, void *dst,
                     size_t len, struct err *err)
{
    uint8_t *p = dst;
    int ret;

    while (len > 0) {
        struct run r;

        ret = map_run(img, off, len, &r, err);
        if (ret < 0) {
            return ret;
        }
        switch (r.type) {
        case RUN_UNALLOC:
            ret = backing_read(img, off, p, r.bytes, err);
            break;
        case RUN_ZERO:
            memset(p, 0, r.bytes);
            break;
        case RUN_NORMAL:
            ret = data_pread(img, r.host, p, r.bytes, err);
            break;
        case RUN_COMPRESSED: {
            const uint8_t *c = NULL;
            ret = compressed_load(img, r.entry, &c, err);
            if (ret == 0) {
                memcpy(p, c + qcow2_offset_into_cluster(img, off), r.bytes);
            }
            break;
        }
        }
        if (ret < 0) {
            return ret;
        }
        p += r.bytes;
        off += r.bytes;
        len -= r.bytes;
    }
    return 0;
}

/* Largest guest offset the L1 limit can address. */
static uint64_t guest_limit(const struct qcow2_image *img)
{
    uint64_t max_l1 = QCOW2_MAX_L1_BYTES / 8;

    return max_l1 << (img->cluster_bits + img->l2_bits);
}

int qcow2_l2_get_writable(struct qcow2_image *img, uint64_t l1i,
                          uint8_t **l2_out, struct err *err)
{
    uint64_t old, l1e;
    int64_t new_off;
    uint8_t *l2 = NULL;
    int ret;

    if (l1i >= img->l1_size) {
        ret = qcow2_l1_grow(img, l1i + 1, err);
        if (ret < 0) {
            return ret;
        }
    }
    l1e = img->l1_table[l1i];
    ret = l2_offset_check(img, l1e, &old, err);
    if (ret < 0) {
        return ret;
    }
    if (old && (l1e & QCOW2_OFLAG_COPIED)) {
        return qcow2_cache_get(img->l2_cache, old, (void **)l2_out, err);
    }
    new_off = qcow2_cluster_alloc(img, 1, err);
    if (new_off < 0) {
        return (int)new_off;
    }
    ret = qcow2_cache_get_empty(img->l2_cache, (uint64_t)new_off, (void **)&l2,
                                err);
    if (ret < 0) {
        return ret;
    }
    if (old) {
        uint8_t *src;
        ret = qcow2_cache_get(img->l2_cache, old, (void **)&src, err);
        if (ret < 0) {
            qcow2_cache_put(img->l2_cache, (void **)&l2);
            return ret;
        }
        memcpy(l2, src, img->cluster_size);
        qcow2_cache_put(img->l2_cache, (void **)&src);
    } else {
        memset(l2, 0, img->cluster_size);
    }
    qcow2_cache_mark_dirty(img->l2_cache, l2);
    /* The table (and its refcount) reach the disk before the L1 entry. */
    ret = qcow2_cache_flush(img->l2_cache, err);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    if (ret < 0) {
        qcow2_cache_put(img->l2_cache, (void **)&l2);
        return ret;
    }
    img->l1_table[l1i] = (uint64_t)new_off | QCOW2_OFLAG_COPIED;
    ret = qcow2_l1_write(img, (uint32_t)l1i, 1, err);
    if (ret < 0) {
        qcow2_cache_put(img->l2_cache, (void **)&l2);
        return ret;
    }
    if (old) {
        ret = qcow2_cluster_free(img, old, img->cluster_size, err);
        if (ret < 0) {
            qcow2_cache_put(img->l2_cache, (void **)&l2);
            return ret;
        }
    }
    *l2_out = l2;
    return 0;
}

int qcow2_l2_entry_free(struct qcow2_image *img, uint64_t entry,
                        struct err *err)
{
    uint64_t host = entry & QCOW2_L2E_OFFSET_MASK;

    if (entry & QCOW2_OFLAG_COMPRESSED) {
        uint64_t coff, clen;
        qcow2_compressed_desc(img, entry, &coff, &clen);
        return qcow2_cluster_free(img, coff, clen, err);
    }
    if (host) {
        return qcow2_cluster_free(img, host, img->cluster_size, err);
    }
    return 0;
}

static int data_pwrite(struct qcow2_image *img, uint64_t host, const void *src,
                       uint64_t len, struct err *err)
{
    int ret = qcow2_pre_write_check(img, 0, host, len, err);

    if (ret < 0) {
        return ret;
    }
    return qcow2_io_pwrite(img, host, src, len, err);
}

/* Data for a cluster the L2 table does not map yet: the table may only be
 * written once the data is on disk. */
static int new_data_pwrite(struct qcow2_image *img, uint64_t host,
                           const void *src, uint64_t len, struct err *err)
{
    qcow2_cache_depends_on_flush(img->l2_cache);
    return data_pwrite(img, host, src, len, err);
}

/* Fill the new cluster's bytes [lo, hi) from what guest range
 * [gbase+lo, gbase+hi) reads now. */
static int cow_fill(struct qcow2_image *img, uint64_t gbase, uint64_t host,
                    uint64_t lo, uint64_t hi, uint8_t *scratch, struct err *err)
{
    int ret;

    if (lo >= hi) {
        return 0;
    }
    if (host + lo >= img->disk_end) {
        /* Past the end of the file the new cluster already reads zero:
         * skip the write if the old content is zero too. */
        struct run r;
        ret = map_run(img, gbase + lo, hi - lo, &r, err);
        if (ret < 0) {
            return ret;
        }
        if (r.bytes >= hi - lo &&
            (r.type == RUN_ZERO ||
             (r.type == RUN_UNALLOC &&
              (!img->backing || gbase + lo >= img->backing->size)))) {
            return 0;
        }
    }
    ret = qcow2_guest_read(img, gbase + lo, scratch, hi - lo, err);
    if (ret < 0) {
        return ret;
    }
    return new_data_pwrite(img, host + lo, scratch, hi - lo, err);
}

/*
 * Write [off, off+len) where the whole range lies in one L2 table and the
 * clusters are all non-extended. Returns 0 or -errno.
 */
static int write_in_l2(struct qcow2_image *img, uint64_t off,
                       const uint8_t *src, uint64_t len, uint8_t *scratch,
                       struct err *err)
{
    uint64_t cs = img->cluster_size;
    uint64_t ci = off >> img->cluster_bits;
    uint64_t l1i = ci >> img->l2_bits;
    uint64_t l2i = ci & (img->l2_size - 1);
    uint64_t end = off + len;
    uint8_t *l2 = NULL;
    int ret;

    ret = qcow2_l2_get_writable(img, l1i, &l2, err);
    if (ret < 0) {
        return ret;
    }
    while (off < end) {
        uint64_t e = l2_entry_at(img, l2, l2i);
        enum qcow2_cluster_type t = qcow2_l2_entry_type(img, e);
        uint64_t in_cl = off & (cs - 1);
        uint64_t n, k, chunk;

        ret = entry_sanity(img, e, 0, err);
        if (ret < 0) {
            goto out;
        }
        if (t == QCOW2_CLUSTER_NORMAL && (e & QCOW2_OFLAG_COPIED)) {
            /* In place: extend over host-contiguous COPIED clusters. */
            uint64_t host = e & QCOW2_L2E_OFFSET_MASK;
            chunk = cs - in_cl;
            k = 1;
            while (off + chunk < end && l2i + k < img->l2_size) {
                uint64_t ne = l2_entry_at(img, l2, l2i + k);
                if (qcow2_l2_entry_type(img, ne) != QCOW2_CLUSTER_NORMAL ||
                    !(ne & QCOW2_OFLAG_COPIED) ||
                    (ne & QCOW2_L2E_OFFSET_MASK) != host + k * cs) {
                    break;
                }
                chunk += cs;
                k++;
            }
            if (chunk > end - off) {
                chunk = end - off;
            }
            ret = data_pwrite(img, host + in_cl, src, chunk, err);
            if (ret < 0) {
                goto out;
            }
            off += chunk;
            src += chunk;
            l2i += k;
            continue;
        }
        /* Allocate: count clusters that need new storage. */
        n = 1;
        while (off - in_cl + n * cs < end && l2i + n < img->l2_size) {
            uint64_t ne = l2_entry_at(img, l2, l2i + n);
            if (qcow2_l2_entry_type(img, ne) == QCOW2_CLUSTER_NORMAL &&
                (ne & QCOW2_OFLAG_COPIED)) {
                break;
            }
            n++;
        }
        {
            uint64_t gbase = off - in_cl;
            uint64_t run_end = gbase + n * cs;
            uint64_t data_end = end < run_end ? end : run_end;
            uint64_t host;
            int64_t a;

            if (n == 1 && t == QCOW2_CLUSTER_ZERO_ALLOC &&
                (e & QCOW2_OFLAG_COPIED)) {
                host = e & QCOW2_L2E_OFFSET_MASK; /* reuse in place */
            } else {
                a = qcow2_cluster_alloc(img, n, err);
                if (a < 0) {
                    ret = (int)a;
                    goto out;
                }
                host = (uint64_t)a;
            }
            ret = cow_fill(img, gbase, host, 0, in_cl, scratch, err);
            if (ret < 0) {
                goto out;
            }
            ret = cow_fill(img, gbase + (n - 1) * cs, host + (n - 1) * cs,
                           data_end - (gbase + (n - 1) * cs), cs, scratch, err);
            if (ret < 0) {
                goto out;
            }
            ret = new_data_pwrite(img, host + in_cl, src, data_end - off, err);
            if (ret < 0) {
                goto out;
            }
            for (k = 0; k < n; k++) {
                uint64_t old = l2_entry_at(img, l2, l2i + k);
                uint64_t ne = (host + k * cs) | QCOW2_OFLAG_COPIED;

                l2_set(img, l2, l2i + k, ne, 0);
                qcow2_cache_mark_dirty(img->l2_cache, l2);
                if ((old & QCOW2_L2E_OFFSET_MASK) != host + k * cs ||
                    (old & QCOW2_OFLAG_COMPRESSED)) {
                    ret = qcow2_l2_entry_free(img, old, err);
                    if (ret < 0) {
                        goto out;
                    }
                }
            }
            src += data_end - off;
            off = data_end;
            l2i += n;
        }
    }
out:
    qcow2_cache_put(img->l2_cache, (void **)&l2);
    return ret;
}

/* Extended L2: write within one cluster, subcluster-granular. */
static int write_ext_cluster(struct qcow2_image *img, uint64_t off,
                             const uint8_t *src, uint64_t len, uint8_t *scratch,
                             struct err *err)
{
    uint64_t cs = img->cluster_size;
    uint64_t scs = cs / QCOW2_EXTL2_SUBCLUSTERS;
    uint64_t ci = off >> img->cluster_bits;
    uint64_t l1i = ci >> img->l2_bits;
    uint64_t l2i = ci & (img->l2_size - 1);
    uint64_t gbase = off & ~(cs - 1);
    uint64_t lo = off - gbase, hi = lo + len;
    uint64_t slo = lo / scs * scs;
    uint64_t shi = (hi + scs - 1) / scs * scs;
    uint64_t e, bm, host, new_bm, touched = 0;
    uint8_t *l2 = NULL;
    bool fresh;
    unsigned sc;
    int ret;

    ret = qcow2_l2_get_writable(img, l1i, &l2, err);
    if (ret < 0) {
        return ret;
    }
    e = l2_entry_at(img, l2, l2i);
    bm = l2_bitmap_at(img, l2, l2i);
    ret = entry_sanity(img, e, bm, err);
    if (ret < 0) {
        goto out;
    }
    for (sc = (unsigned)(slo / scs); sc < shi / scs; sc++) {
        touched |= 1ull << sc;
    }
    host = e & QCOW2_L2E_OFFSET_MASK;
    fresh = !host || !(e & QCOW2_OFLAG_COPIED) || (e & QCOW2_OFLAG_COMPRESSED);
    if (fresh) {
        int64_t a = qcow2_cluster_alloc(img, 1, err);
        if (a < 0) {
            ret = (int)a;
            goto out;
        }
        host = (uint64_t)a;
        if (e & QCOW2_OFLAG_COMPRESSED) {
            /* Whole cluster becomes plain data. */
            ret = cow_fill(img, gbase, host, 0, lo, scratch, err);
            if (ret == 0) {
                ret = cow_fill(img, gbase, host, hi, cs, scratch, err);
            }
            new_bm = SUBCLUSTER_ALLOC_MASK;
        } else {
            /* Copy the old cluster's other allocated subclusters. */
            new_bm = bm & ~touched & ~(touched << 32);
            if (!(e & QCOW2_L2E_OFFSET_MASK)) {
                new_bm &= ~SUBCLUSTER_ALLOC_MASK;
            }
            for (sc = 0; sc < QCOW2_EXTL2_SUBCLUSTERS && ret == 0; sc++) {
                if (new_bm & (1ull << sc)) {
                    ret = cow_fill(img, gbase, host, sc * scs, (sc + 1) * scs,
                                   scratch, err);
                }
            }
            if (ret == 0) {
                ret = cow_fill(img, gbase, host, slo, lo, scratch, err);
            }
            if (ret == 0) {
                ret = cow_fill(img, gbase, host, hi, shi, scratch, err);
            }
            new_bm |= touched;
        }
    } else {
        /* In place; partially written unallocated subclusters need their
         * other bytes from below. */
        unsigned first = (unsigned)(slo / scs);
        unsigned last = (unsigned)(shi / scs) - 1;
        if (lo > slo && !(bm & (1ull << first))) {
            ret = cow_fill(img, gbase, host, slo, lo, scratch, err);
        }
        if (ret == 0 && hi < shi && !(bm & (1ull << last))) {
            ret = cow_fill(img, gbase, host, hi, shi, scratch, err);
        }
        new_bm = (bm | touched) & ~(touched << 32);
    }
    if (ret < 0) {
        goto out;
    }
    ret = new_data_pwrite(img, host + lo, src, len, err);
    if (ret < 0) {
        goto out;
    }
    l2_set(img, l2, l2i, host | QCOW2_OFLAG_COPIED, new_bm);
    qcow2_cache_mark_dirty(img->l2_cache, l2);
    if (fresh) {
        ret = qcow2_l2_entry_free(img, e, err);
    }
out:
    qcow2_cache_put(img->l2_cache, (void **)&l2);
    return ret;
}

int qcow2_check_writable(struct qcow2_image *img, struct err *err)
{
    if (img->read_only) {
        return err_set(err, -EROFS, "%s: image is read-only", img->filename);
    }
    if (img->sticky_err < 0) {
        return err_set(err, img->sticky_err,
                       "%s: image is in an error state after a failed "
                       "metadata write",
                       img->filename);
    }
    if (img->format == QCOW2_FORMAT_QCOW2 &&
        (img->hdr.incompatible_features & QCOW2_INCOMPAT_CORRUPT) &&
        !(img->flags & QCOW2_OPEN_CHECK)) {
        return err_set(err, -EPERM, "%s: image is marked corrupt",
                       img->filename);
    }
    return 0;
}

/* Set the dirty bit before the first lazy-refcount write. */
static int prepare_write(struct qcow2_image *img, struct err *err);

int qcow2_guest_write(struct qcow2_image *img, uint64_t off, const void *src,
                      size_t len, struct err *err)
{
    const uint8_t *p = src;
    uint8_t *scratch = NULL;
    int ret;

    ret = prepare_write(img, err);
    if (ret < 0) {
        return ret;
    }
    if (off > guest_limit(img) || len > guest_limit(img) - off) {
        return err_set(err, -EFBIG, "write past the largest L1 table");
    }
    qcow2_cluster_invalidate(img);
    if (!img->scratch) {
        img->scratch = mem_alloc(img->cluster_size);
        if (!img->scratch) {
            return err_set(err, -ENOMEM, "write buffer");
        }
    }
    scratch = img->scratch;
    while (len > 0) {
        uint64_t l2_span = img->cluster_size << img->l2_bits;
        uint64_t chunk = l2_span - (off & (l2_span - 1));

        if (img->extended_l2) {
            chunk = img->cluster_size - qcow2_offset_into_cluster(img, off);
        }
        if (chunk > len) {
            chunk = len;
        }
        if (img->extended_l2) {
            ret = write_ext_cluster(img, off, p, chunk, scratch, err);
        } else {
            ret = write_in_l2(img, off, p, chunk, scratch, err);
        }
        if (ret < 0) {
            break;
        }
        off += chunk;
        p += chunk;
        len -= chunk;
    }
    return ret;
}

static int prepare_write(struct qcow2_image *img, struct err *err)
{
    int ret = qcow2_check_writable(img, err);

    if (ret < 0) {
        return ret;
    }
    if (!img->autoclear_done ||
        ((img->hdr.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS) &&
         !img->lazy_dirty)) {
        bool changed = false;

        if (!img->autoclear_done) {
            /* Unknown autoclear bits go; the bitmaps bit stays, since
             * the bitmaps were marked in use (inconsistent) at open and
             * their clusters stay allocated. */
            uint64_t keep =
                img->hdr.autoclear_features &
                (img->has_bitmaps_ext ? QCOW2_AUTOCLEAR_BITMAPS : 0);
            if (keep != img->hdr.autoclear_features) {
                img->hdr.autoclear_features = keep;
                changed = true;
            }
            img->autoclear_done = true;
        }
        if ((img->hdr.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS) &&
            !img->lazy_dirty && img->hdr.version >= 3) {
            img->hdr.incompatible_features |= QCOW2_INCOMPAT_DIRTY;
            img->lazy_dirty = true;
            changed = true;
        }
        if (changed) {
            ret = qcow2_header_write(img, err);
            if (ret == 0) {
                ret = qcow2_sync(img, err);
            }
            if (ret < 0) {
                img->sticky_err = ret;
                return ret;
            }
        }
    }
    return 0;
}

/* Is [off, off+len) of the backing chain below @img all zero/absent? */
/*
 * An unmapping zero write passes the discard down, as QEMU does when the
 * image is opened with discard=unmap: a plain cluster whose refcount
 * dropped to 0 becomes a hole in the file. Its old mapping reads zeros
 * too, so the hole may come before the L2 table reaches the disk.
 */
static int punch_if_free(struct qcow2_image *img, uint64_t old, struct err *err)
{
    uint64_t host = old & QCOW2_L2E_OFFSET_MASK;
    uint64_t rc;
    int ret;

    if (!host || (old & QCOW2_OFLAG_COMPRESSED)) {
        return 0;
    }
    ret = qcow2_refcount_get(img, host >> img->cluster_bits, &rc, err);
    if (ret < 0 || rc != 0) {
        return ret;
    }
    return qcow2_raw_discard(img, host, img->cluster_size, err);
}

static bool reads_zero_below(struct qcow2_image *img, uint64_t off,
                             uint64_t len)
{
    if (!img->backing) {
        /* A backing file we did not open may hold anything. */
        return !img->backing_file || !img->backing_file[0];
    }
    return off >= img->backing->size;
}

int qcow2_write_zeroes(struct qcow2_image *img, uint64_t off, uint64_t len,
                       unsigned flags, struct err *err)
{
    uint64_t cs;
    uint8_t *zero = NULL;
    int ret;

    CHECK_ARG(img);
    if (off > img->size || len > img->size - off) {
        return err_set(err, -EINVAL, "write_zeroes past the end of the image");
    }
    ret = qcow2_check_writable(img, err);
    if (ret < 0) {
        return ret;
    }
    if (img->format == QCOW2_FORMAT_RAW) {
        return qcow2_raw_write_zeroes(img, off, len, flags, err);
    }
    ret = prepare_write(img, err);
    if (ret < 0) {
        return ret;
    }
    qcow2_cluster_invalidate(img);
    cs = img->cluster_size;
    while (len > 0) {
        uint64_t in_cl = off & (cs - 1);
        uint64_t chunk;
        bool explicit_zeroes;

        if (in_cl || len < cs) {
            /* Partial cluster: explicit zeroes unless already zero. */
            struct run r;
            chunk = cs - in_cl;
            if (chunk > len) {
                chunk = len;
            }
            ret = map_run(img, off, chunk, &r, err);
            if (ret < 0) {
                break;
            }
            if (r.bytes >= chunk &&
                (r.type == RUN_ZERO || (r.type == RUN_UNALLOC &&
                                        reads_zero_below(img, off, chunk)))) {
                off += chunk;
                len -= chunk;
                continue;
            }
            explicit_zeroes = true;
        } else {
            uint64_t l2_span = cs << img->l2_bits;
            chunk = (len & ~(cs - 1));
            if (chunk > l2_span - (off & (l2_span - 1))) {
                chunk = l2_span - (off & (l2_span - 1));
            }
            explicit_zeroes = img->hdr.version < 3 && img->backing;
        }
        if (explicit_zeroes) {
            if (!zero) {
                zero = mem_calloc(1, cs);
                if (!zero) {
                    ret = err_set(err, -ENOMEM, "zero buffer");
                    break;
                }
            }
            {
                uint64_t done = 0;
                while (done < chunk && ret == 0) {
                    uint64_t n = chunk - done > cs ? cs : chunk - done;
                    ret = qcow2_guest_write(img, off + done, zero, n, err);
                    done += n;
                }
            }
        } else {
            /* Whole clusters in one L2 table. */
            uint64_t ci = off >> img->cluster_bits;
            uint64_t l2i = ci & (img->l2_size - 1);
            uint64_t k, n = chunk >> img->cluster_bits;
            bool unmap = flags & QCOW2_ZERO_MAY_UNMAP;
            uint64_t l1i = ci >> img->l2_bits;
            uint8_t *l2 = NULL;

            if ((l1i >= img->l1_size || img->l1_table[l1i] == 0) &&
                reads_zero_below(img, off, chunk)) {
                /* No L2 table and nothing below: already reads zero. */
                off += chunk;
                len -= chunk;
                continue;
            }
            ret = qcow2_l2_get_writable(img, l1i, &l2, err);
            if (ret < 0) {
                break;
            }
            for (k = 0; k < n && ret == 0; k++) {
                uint64_t old = l2_entry_at(img, l2, l2i + k);
                bool drop = unmap || (old & QCOW2_OFLAG_COMPRESSED);
                uint64_t ne, nbm = 0;

                if (img->hdr.version < 3) {
                    ne = 0; /* no backing: unallocated reads zero */
                    drop = true;
                } else if (img->extended_l2) {
                    ne = drop ? 0 : old;
                    nbm = L2_BITMAP_ALL_ZEROES;
                } else {
                    ne = (drop ? 0 : old) | QCOW2_OFLAG_ZERO;
                }
                l2_set(img, l2, l2i + k, ne, nbm);
                qcow2_cache_mark_dirty(img->l2_cache, l2);
                if (drop) {
                    ret = qcow2_l2_entry_free(img, old, err);
                }
                if (ret == 0 && unmap) {
                    ret = punch_if_free(img, old, err);
                }
            }
            qcow2_cache_put(img->l2_cache, (void **)&l2);
        }
        if (ret < 0) {
            break;
        }
        off += chunk;
        len -= chunk;
    }
    mem_free(zero);
    return ret;
}

/* QEMU's discard_in_l2_slice; @full leaves entries unallocated. */
static int discard_clusters(struct qcow2_image *img, uint64_t off, uint64_t len,
                            bool full, struct err *err)
{
    uint64_t cs = img->cluster_size;
    uint64_t start = (off + cs - 1) & ~(cs - 1);
    uint64_t end = (off + len) & ~(cs - 1);
    int ret;

    if (end <= start) {
        return 0;
    }
    ret = prepare_write(img, err);
    if (ret < 0) {
        return ret;
    }
    qcow2_cluster_invalidate(img);
    while (start < end) {
        uint64_t ci = start >> img->cluster_bits;
        uint64_t l1i = ci >> img->l2_bits;
        uint64_t l2i = ci & (img->l2_size - 1);
        uint64_t n = (end - start) >> img->cluster_bits;
        uint64_t l2_off, k;
        uint8_t *l2 = NULL;

        if (n > img->l2_size - l2i) {
            n = img->l2_size - l2i;
        }
        if (l1i >= img->l1_size) {
            break;
        }
        ret = l2_offset_check(img, img->l1_table[l1i], &l2_off, err);
        if (ret < 0) {
            return ret;
        }
        if (l2_off || (!full && img->backing)) {
            ret = qcow2_l2_get_writable(img, l1i, &l2, err);
            if (ret < 0) {
                return ret;
            }
            for (k = 0; k < n && ret == 0; k++) {
                uint64_t old = l2_entry_at(img, l2, l2i + k);
                uint64_t obm = l2_bitmap_at(img, l2, l2i + k);
                uint64_t ne = old, nbm = obm;
                bool allocated =
                    (old & QCOW2_L2E_OFFSET_MASK) ||
                    (old & QCOW2_OFLAG_COMPRESSED) ||
                    (!img->extended_l2 && (old & QCOW2_OFLAG_ZERO)) ||
                    (obm >> 32);

                if (full) {
                    ne = 0;
                    nbm = 0;
                } else if (img->backing || allocated) {
                    if (img->extended_l2) {
                        ne = 0;
                        nbm = L2_BITMAP_ALL_ZEROES;
                    } else {
                        ne = img->hdr.version >= 3 ? QCOW2_OFLAG_ZERO : 0;
                    }
                }
                if (ne == old && nbm == obm) {
                    continue;
                }
                l2_set(img, l2, l2i + k, ne, nbm);
                qcow2_cache_mark_dirty(img->l2_cache, l2);
                ret = qcow2_l2_entry_free(img, old, err);
            }
            qcow2_cache_put(img->l2_cache, (void **)&l2);
            if (ret < 0) {
                return ret;
            }
        }
        start += n << img->cluster_bits;
    }
    return 0;
}

int qcow2_guest_discard(struct qcow2_image *img, uint64_t off, uint64_t len,
                        struct err *err)
{
    return discard_clusters(img, off, len, false, err);
}

int qcow2_discard(struct qcow2_image *img, uint64_t off, uint64_t len,
                  struct err *err)
{
    int ret;

    CHECK_ARG(img);
    if (off > img->size || len > img->size - off) {
        return err_set(err, -EINVAL, "discard past the end of the image");
    }
    ret = qcow2_check_writable(img, err);
    if (ret < 0) {
        return ret;
    }
    if (img->format == QCOW2_FORMAT_RAW) {
        return qcow2_raw_discard(img, off, len, err);
    }
    /* The tail cluster of the image counts as whole (QEMU aligns the
     * request end to the image size). */
    if (off + len == img->size) {
        uint64_t cs = img->cluster_size;
        len = ((off + len + cs - 1) & ~(cs - 1)) - off;
    }
    return discard_clusters(img, off, len, false, err);
}

int qcow2_write_compressed_raw(struct qcow2_image *img, uint64_t off,
                               const void *src, size_t src_len, struct err *err)
{
    uint64_t ci, l2i, old, nb_csectors;
    unsigned x;
    int64_t coff;
    uint8_t *l2 = NULL;
    int ret;

    CHECK_ARG(img && src);
    if (img->format != QCOW2_FORMAT_QCOW2) {
        return err_set(err, -ENOTSUP, "compression needs qcow2");
    }
    if (qcow2_offset_into_cluster(img, off) || off >= img->size ||
        src_len == 0 || src_len >= img->cluster_size) {
        return err_set(err, -EINVAL, "bad compressed write at %#" PRIx64, off);
    }
    ret = prepare_write(img, err);
    if (ret < 0) {
        return ret;
    }
    qcow2_cluster_invalidate(img);
    ci = off >> img->cluster_bits;
    l2i = ci & (img->l2_size - 1);
    ret = qcow2_l2_get_writable(img, ci >> img->l2_bits, &l2, err);
    if (ret < 0) {
        return ret;
    }
    coff = qcow2_bytes_alloc(img, src_len, err);
    if (coff < 0) {
        ret = (int)coff;
        goto out;
    }
    ret = new_data_pwrite(img, (uint64_t)coff, src, src_len, err);
    if (ret < 0) {
        goto out;
    }
    x = 62 - (img->cluster_bits - 8);
    nb_csectors = (((uint64_t)coff + src_len - 1) >> 9) - ((uint64_t)coff >> 9);
    old = l2_entry_at(img, l2, l2i);
    l2_set(img, l2, l2i,
           QCOW2_OFLAG_COMPRESSED | (nb_csectors << x) | (uint64_t)coff, 0);
    qcow2_cache_mark_dirty(img->l2_cache, l2);
    ret = qcow2_l2_entry_free(img, old, err);
out:
    qcow2_cache_put(img->l2_cache, (void **)&l2);
    return ret;
}

int qcow2_write_compressed(struct qcow2_image *img, uint64_t off,
                           const void *src, size_t len, struct err *err)
{
    uint8_t *buf = NULL;
    uint8_t *pad = NULL;
    const uint8_t *in = src;
    int n, ret;

    CHECK_ARG(img && src);
    if (img->format != QCOW2_FORMAT_QCOW2) {
        return err_set(err, -ENOTSUP, "compression needs qcow2");
    }
    if (qcow2_offset_into_cluster(img, off) || off >= img->size ||
        len > img->cluster_size ||
        (len != img->cluster_size && off + len != img->size)) {
        return err_set(err, -EINVAL,
                       "compressed writes must cover one whole cluster");
    }
    ret = qcow2_check_writable(img, err);
    if (ret < 0) {
        return ret;
    }
    buf = mem_alloc(img->cluster_size);
    if (len < img->cluster_size) {
        pad = mem_calloc(1, img->cluster_size);
    }
    if (!buf || (len < img->cluster_size && !pad)) {
        ret = err_set(err, -ENOMEM, "compression buffer");
        goto out;
    }
    if (pad) {
        memcpy(pad, src, len);
        in = pad;
    }
    n = qcow2_compress(img, buf, img->cluster_size, in, img->cluster_size);
    if (n == -ENOSPC) {
        ret = qcow2_write(img, off, src, len, err);
    } else if (n < 0) {
        ret = err_set(err, n, "compression failed");
    } else {
        ret = qcow2_write_compressed_raw(img, off, buf, (size_t)n, err);
    }
out:
    mem_free(buf);
    mem_free(pad);
    return ret;
}

/* ---- block status ---- */

/* QEMU's subcluster types (QCow2SubclusterType), for block status. */
enum bs_type {
    BS_UNALLOC_PLAIN, /* no host cluster, reads from backing */
    BS_UNALLOC_ALLOC, /* host cluster, this subcluster unallocated */
    BS_ZERO_PLAIN,
    BS_ZERO_ALLOC,
    BS_NORMAL,
    BS_COMPRESSED,
    BS_INVALID,
};

/* Largest run one status call reports (QEMU's qcow2 passes INT_MAX). */
#define BS_MAX_RUN 0x7fffffffull

static enum bs_type bs_sub_type(const struct qcow2_image *img, uint64_t e,
                                uint64_t bm, unsigned sc)
{
    bool host = (e & QCOW2_L2E_OFFSET_MASK) != 0;

    if (e & QCOW2_OFLAG_COMPRESSED) {
        return BS_COMPRESSED;
    }
    if (!img->extended_l2) {
        if (e & QCOW2_OFLAG_ZERO) {
            return host ? BS_ZERO_ALLOC : BS_ZERO_PLAIN;
        }
        return host ? BS_NORMAL : BS_UNALLOC_PLAIN;
    }
    if (host) {
        if ((bm >> 32) & bm) {
            return BS_INVALID;
        }
        if (bm & (1ull << (sc + 32))) {
            return BS_ZERO_ALLOC;
        }
        return (bm & (1ull << sc)) ? BS_NORMAL : BS_UNALLOC_ALLOC;
    }
    if (bm & (1ull << (sc + 32))) {
        return BS_ZERO_PLAIN;
    }
    return (bm & (1ull << sc)) ? BS_INVALID : BS_UNALLOC_PLAIN;
}

/* Subclusters from @from on in one entry with the type of @from (*@t).
 * Returns the count, or -1 for an invalid entry. */
static int bs_sub_range(const struct qcow2_image *img, uint64_t e, uint64_t bm,
                        unsigned from, enum bs_type *t)
{
    unsigned sc = from;

    *t = bs_sub_type(img, e, bm, from);
    if (*t == BS_INVALID) {
        return -1;
    }
    if (!img->extended_l2) {
        return 1;
    }
    if (*t == BS_COMPRESSED) {
        return QCOW2_EXTL2_SUBCLUSTERS - (int)from;
    }
    while (sc < QCOW2_EXTL2_SUBCLUSTERS && bs_sub_type(img, e, bm, sc) == *t) {
        sc++;
    }
    return (int)(sc - from);
}

static bool bs_has_host(enum bs_type t)
{
    return t == BS_NORMAL || t == BS_ZERO_ALLOC || t == BS_UNALLOC_ALLOC;
}

/*
 * Type of guest @off and the bytes from @off (at most @bytes, within one L2
 * table) that share it and, where there is a host cluster, run contiguous
 * on the host: QEMU's qcow2_get_host_offset().
 */
static int bs_host_range(struct qcow2_image *img, uint64_t off, uint64_t bytes,
                         enum bs_type *type, uint64_t *pnum, uint64_t *host,
                         struct err *err)
{
    uint64_t cs = img->cluster_size;
    uint64_t ci = off >> img->cluster_bits;
    uint64_t l1i = ci >> img->l2_bits;
    uint64_t l2i = ci & (img->l2_size - 1);
    uint64_t in_cl = off & (cs - 1);
    unsigned spc = img->extended_l2 ? QCOW2_EXTL2_SUBCLUSTERS : 1;
    unsigned sc_index = (unsigned)(in_cl >> img->subcluster_bits);
    uint64_t needed, avail, nb, i, count = 0, expect = 0;
    uint64_t l2_off, e;
    uint8_t *l2;
    int ret;

    if (bytes > BS_MAX_RUN) {
        bytes = BS_MAX_RUN;
    }
    needed = bytes + in_cl;
    avail = (img->l2_size - l2i) << img->cluster_bits;
    if (needed > avail) {
        needed = avail;
    }
    *type = BS_UNALLOC_PLAIN;
    *host = 0;
    if (l1i >= img->l1_size) {
        goto out;
    }
    ret = l2_offset_check(img, img->l1_table[l1i], &l2_off, err);
    if (ret < 0) {
        return ret;
    }
    if (!l2_off) {
        goto out;
    }
    ret = qcow2_cache_get(img->l2_cache, l2_off, (void **)&l2, err);
    if (ret < 0) {
        return ret;
    }
    e = l2_entry_at(img, l2, l2i);
    *type = bs_sub_type(img, e, l2_bitmap_at(img, l2, l2i), sc_index);
    if (img->hdr.version < 3 &&
        (*type == BS_ZERO_PLAIN || *type == BS_ZERO_ALLOC)) {
        ret = qcow2_signal_corruption(
            img, err,
            "Zero cluster entry found in pre-v3 image (L2 offset: %#" PRIx64
            ", L2 index: %#" PRIx64 ")",
            l2_off, l2i);
        goto put;
    }
    if (bs_has_host(*type)) {
        *host = (e & QCOW2_L2E_OFFSET_MASK) + in_cl;
        if (qcow2_offset_into_cluster(img, e & QCOW2_L2E_OFFSET_MASK)) {
            ret = qcow2_signal_corruption(
                img, err,
                "Cluster allocation offset %#" PRIx64
                " unaligned (L2 offset: %#" PRIx64 ", L2 index: %#" PRIx64 ")",
                (uint64_t)(e & QCOW2_L2E_OFFSET_MASK), l2_off, l2i);
            goto put;
        }
    }
    nb = (needed + cs - 1) >> img->cluster_bits;
    for (i = 0; i < nb; i++) {
        unsigned first = i == 0 ? sc_index : 0;
        uint64_t ne = l2_entry_at(img, l2, l2i + i);
        enum bs_type t;
        int n =
            bs_sub_range(img, ne, l2_bitmap_at(img, l2, l2i + i), first, &t);

        if (n < 0) {
            ret = qcow2_signal_corruption(
                img, err,
                "Invalid cluster entry found (L2 offset: %#" PRIx64
                ", L2 index: %#" PRIx64 ")",
                l2_off, l2i + i);
            goto put;
        }
        if (i == 0) {
            if (t == BS_COMPRESSED) {
                count = (uint64_t)n;
                break;
            }
            expect = ne & QCOW2_L2E_OFFSET_MASK;
        } else if (t != *type) {
            break;
        } else if (bs_has_host(t)) {
            expect += cs;
            if (expect != (ne & QCOW2_L2E_OFFSET_MASK)) {
                break;
            }
        }
        count += (uint64_t)n;
        if (first + (unsigned)n < spc) {
            break;
        }
    }
    avail = (count + sc_index) << img->subcluster_bits;
    ret = 0;
put:
    qcow2_cache_put(img->l2_cache, (void **)&l2);
    if (ret < 0) {
        return ret;
    }
out:
    if (avail > needed) {
        avail = needed;
    }
    *pnum = avail - in_cl;
    return 0;
}

/*
 * QEMU's qcow2_detect_metadata_preallocation(), decided once per open: the
 * image counts as metadata-preallocated when more clusters have a refcount
 * than the host file really allocates (with a 10% or two-cluster margin).
 * Errors count as "no", as in QEMU.
 */
static bool bs_meta_prealloc(struct qcow2_image *img)
{
    uint64_t real, threshold, end, i, count = 0;
    struct stat st;

    if (img->meta_prealloc) {
        return img->meta_prealloc == 2;
    }
    img->meta_prealloc = 1;
    if (fstat(img->fd, &st) < 0) {
        return false;
    }
    real = (uint64_t)st.st_blocks * 512 / img->cluster_size;
    threshold = real * 10 / 9 > real + 2 ? real * 10 / 9 : real + 2;
    end = qcow2_size_to_clusters(img, ((uint64_t)st.st_size + 511) & ~511ull);
    for (i = 0; i < end && count < threshold; i++) {
        uint64_t rc;

        if (qcow2_refcount_get(img, i, &rc, NULL) < 0) {
            return false;
        }
        count += rc != 0;
    }
    if (count >= threshold) {
        img->meta_prealloc = 2;
    }
    return img->meta_prealloc == 2;
}

/*
 * Status of [off, off+bytes) in @img alone (QEMU's bdrv_co_block_status
 * with want_zero on one node). Unallocated runs get ZERO where nothing
 * below can supply data. @off < size.
 */
static int bs_layer(struct qcow2_image *img, uint64_t off, uint64_t bytes,
                    struct qcow2_extent *out, struct err *err)
{
    struct qcow2_extent fe;
    enum bs_type t;
    uint64_t pnum, host;
    int ret;

    if (bytes > img->size - off) {
        bytes = img->size - off;
    }
    if (img->format == QCOW2_FORMAT_RAW) {
        ret = qcow2_raw_block_status(img, off, bytes, out, err);
        return ret < 0 ? ret : 0;
    }
    memset(out, 0, sizeof(*out));
    out->file = img;
    ret = bs_host_range(img, off, bytes, &t, &pnum, &host, err);
    if (ret < 0) {
        return ret;
    }
    out->length = pnum;
    if (bs_has_host(t)) {
        out->flags |= QCOW2_BS_OFFSET;
        out->host_offset = host;
    }
    if (t == BS_ZERO_PLAIN || t == BS_ZERO_ALLOC) {
        out->flags |= QCOW2_BS_ZERO | QCOW2_BS_ALLOCATED;
    } else if (t == BS_NORMAL) {
        out->flags |= QCOW2_BS_DATA | QCOW2_BS_ALLOCATED;
    } else if (t == BS_COMPRESSED) {
        out->flags |= QCOW2_BS_DATA | QCOW2_BS_ALLOCATED | QCOW2_BS_COMPRESSED;
    } else if (!img->backing || off >= img->backing->size) {
        out->flags |= QCOW2_BS_ZERO;
    }
    if (t != BS_NORMAL || !bs_meta_prealloc(img)) {
        return 0;
    }
    /* QEMU's BDRV_BLOCK_RECURSE: ask the host file; errors are ignored. */
    ret = qcow2_raw_block_status(img, host, pnum, &fe, NULL);
    if (ret == 1 && (fe.length == 0 || (fe.flags & QCOW2_BS_ZERO))) {
        out->flags |= QCOW2_BS_ZERO; /* past the end of the file */
    } else if (ret >= 0) {
        out->length = fe.length;
        out->flags |= fe.flags & QCOW2_BS_ZERO;
    }
    return 0;
}

int qcow2_guest_map(struct qcow2_image *img, uint64_t off, uint64_t max_len,
                    uint64_t *host, uint64_t *len, struct err *err)
{
    enum bs_type t;
    uint64_t pnum = 0, h = 0;
    int ret;

    *host = 0;
    *len = 0;
    if (img->format != QCOW2_FORMAT_QCOW2 || img->extended_l2 || !max_len) {
        return 0;
    }
    ret = bs_host_range(img, off, max_len, &t, &pnum, &h, err);
    if (ret < 0) {
        return ret;
    }
    if (t == BS_NORMAL && h) {
        *host = h;
        *len = pnum < max_len ? pnum : max_len;
    }
    return 0;
}

int qcow2_block_status(struct qcow2_image *img, uint64_t off, uint64_t max_len,
                       bool follow_backing, struct qcow2_extent *out,
                       struct err *err)
{
    struct qcow2_image *layer = img;
    int depth = 0;
    int ret;

    CHECK_ARG(img && out);
    memset(out, 0, sizeof(*out));
    if (off >= img->size || max_len == 0) {
        return err_set(err, -EINVAL, "block status past the end");
    }
    for (;;) {
        ret = bs_layer(layer, off, max_len, out, err);
        if (ret < 0) {
            return ret;
        }
        if (out->flags & (QCOW2_BS_DATA | QCOW2_BS_ZERO)) {
            break;
        }
        if (!follow_backing || !layer->backing) {
            out->flags |= QCOW2_BS_ZERO;
            break;
        }
        if (++depth > QCOW2_MAX_BACKING_DEPTH) {
            return err_set(err, -ELOOP, "backing chain too deep");
        }
        max_len = out->length;
        layer = layer->backing;
    }
    if (out->flags & QCOW2_BS_ALLOCATED) {
        out->flags |= QCOW2_BS_PRESENT;
    }
    if (depth > 0) {
        out->flags &= ~QCOW2_BS_ALLOCATED;
    }
    out->depth = depth;
    out->file = layer;
    return 0;
}

int qcow2_cluster_unmap(struct qcow2_image *img, uint64_t off, uint64_t len,
                        struct err *err)
{
    return discard_clusters(img, off, len, true, err);
}

/* Expand zero entries of the L2 table at @l2_off (see the prototype). */
static int expand_l2(struct qcow2_image *img, uint64_t l2_off, bool active,
                     uint8_t *zero, struct err *err)
{
    uint64_t cs = img->cluster_size;
    uint64_t l2rc;
    uint8_t *l2 = NULL;
    uint64_t k;
    int ret;

    ret = qcow2_refcount_get(img, l2_off >> img->cluster_bits, &l2rc, err);
    if (ret < 0) {
        return ret;
    }
    if (l2rc == 0) {
        return qcow2_signal_corruption(
            img, err, "L2 table %#" PRIx64 " has refcount 0", l2_off);
    }
    ret = qcow2_cache_get(img->l2_cache, l2_off, (void **)&l2, err);
    if (ret < 0) {
        return ret;
    }
    for (k = 0; k < img->l2_size && ret == 0; k++) {
        uint64_t e = l2_entry_at(img, l2, k);
        enum qcow2_cluster_type t = qcow2_l2_entry_type(img, e);
        uint64_t host = e & QCOW2_L2E_OFFSET_MASK;
        int64_t a;

        if (t != QCOW2_CLUSTER_ZERO_PLAIN && t != QCOW2_CLUSTER_ZERO_ALLOC) {
            continue;
        }
        if (t == QCOW2_CLUSTER_ZERO_PLAIN) {
            if (!img->backing) {
                l2_set(img, l2, k, 0, 0);
                qcow2_cache_mark_dirty(img->l2_cache, l2);
                continue;
            }
            a = qcow2_cluster_alloc(img, 1, err);
            if (a < 0) {
                ret = (int)a;
                break;
            }
            if (l2rc > 1) {
                ret = qcow2_refcount_update(img, (uint64_t)a, cs,
                                            (int64_t)l2rc - 1, err);
                if (ret < 0) {
                    break;
                }
            }
            host = (uint64_t)a;
        }
        ret = new_data_pwrite(img, host, zero, cs, err);
        if (ret < 0) {
            break;
        }
        {
            uint64_t rc;
            ret = qcow2_refcount_get(img, host >> img->cluster_bits, &rc, err);
            if (ret < 0) {
                break;
            }
            l2_set(img, l2, k,
                   host | (active && rc == 1 ? QCOW2_OFLAG_COPIED : 0), 0);
            qcow2_cache_mark_dirty(img->l2_cache, l2);
        }
    }
    qcow2_cache_put(img->l2_cache, (void **)&l2);
    return ret;
}

static int expand_l1(struct qcow2_image *img, const uint64_t *l1,
                     uint32_t l1_size, bool active, uint8_t *zero,
                     struct err *err)
{
    uint32_t i;
    int ret;

    for (i = 0; i < l1_size; i++) {
        uint64_t l2_off;
        ret = l2_offset_check(img, l1[i], &l2_off, err);
        if (ret < 0) {
            return ret;
        }
        if (l2_off) {
            ret = expand_l2(img, l2_off, active, zero, err);
            if (ret < 0) {
                return ret;
            }
        }
    }
    return 0;
}

int qcow2_expand_zero_clusters(struct qcow2_image *img, struct err *err)
{
    uint8_t *zero = mem_calloc(1, img->cluster_size);
    uint32_t s;
    int ret;

    if (!zero) {
        return err_set(err, -ENOMEM, "zero buffer");
    }
    if (img->extended_l2) {
        mem_free(zero);
        return err_set(err, -ENOTSUP, "extended L2 images cannot be expanded");
    }
    ret = expand_l1(img, img->l1_table, img->l1_size, true, zero, err);
    for (s = 0; s < img->nb_snapshots && ret == 0; s++) {
        const struct qcow2_snapshot *sn = &img->snapshots[s];
        uint64_t bytes = (uint64_t)sn->l1_size * 8;
        uint64_t *l1;
        uint32_t i;

        if (bytes > QCOW2_MAX_L1_BYTES) {
            ret = err_set(err, -ERANGE, "snapshot L1 too large");
            break;
        }
        l1 = mem_alloc(bytes ? bytes : 8);
        if (!l1) {
            ret = err_set(err, -ENOMEM, "snapshot L1");
            break;
        }
        ret = qcow2_io_pread(img, sn->l1_table_offset, l1, bytes, err);
        for (i = 0; ret == 0 && i < sn->l1_size; i++) {
            l1[i] = rd_be64(&l1[i]);
        }
        if (ret == 0) {
            ret = expand_l1(img, l1, sn->l1_size, false, zero, err);
        }
        mem_free(l1);
    }
    mem_free(zero);
    return ret;
}
