/* SPDX-License-Identifier: MIT */
/*
 * qcow2/qcow2-int.h - internals shared by the qcow2 source files, grouped by
 * the file that defines them (as QEMU's block/qcow2.h). Not installed.
 */
#ifndef QCOW2_QCOW2_INT_H
#define QCOW2_QCOW2_INT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "qcow2/qcow2.h"

/* ---- On-disk constants (docs/interop/qcow2.txt) ---- */

#define QCOW2_MAGIC           0x514649fbu /* "QFI\xfb" */
#define QCOW2_V2_HEADER_LEN   72
#define QCOW2_V3_HEADER_LEN   104
#define QCOW2_DEFAULT_HDR_LEN 112 /* with compression_type + padding */

#define QCOW2_INCOMPAT_DIRTY        (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT      (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE    (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION  (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2        (1ull << 4)
#define QCOW2_INCOMPAT_KNOWN        0x1full
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)
#define QCOW2_AUTOCLEAR_BITMAPS     (1ull << 0)
#define QCOW2_AUTOCLEAR_DATA_RAW    (1ull << 1)
#define QCOW2_AUTOCLEAR_KNOWN       0x3ull

#define QCOW2_EXT_END          0x00000000u
#define QCOW2_EXT_BACKING_FMT  0xe2792acau
#define QCOW2_EXT_FEATURE_NAME 0x6803f857u
#define QCOW2_EXT_BITMAPS      0x23852875u
#define QCOW2_EXT_CRYPTO       0x0537be77u
#define QCOW2_EXT_DATA_FILE    0x44415441u

#define QCOW2_OFLAG_COPIED      (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED  (1ull << 62)
#define QCOW2_OFLAG_ZERO        (1ull << 0)
#define QCOW2_L1E_OFFSET_MASK   0x00fffffffffffe00ull
#define QCOW2_L2E_OFFSET_MASK   0x00fffffffffffe00ull
#define QCOW2_REFT_OFFSET_MASK  0xfffffffffffffe00ull
#define QCOW2_L1E_RESERVED      0x7f000000000001ffull
#define QCOW2_L2E_STD_RESERVED  0x3f000000000001feull
#define QCOW2_EXTL2_SUBCLUSTERS 32

/* Highest host offset a descriptor can express (56 bits). */
#define QCOW2_MAX_HOST_OFFSET ((1ull << 56) - 1)

/* ---- In-memory image (qcow2.c) ---- */

/* Mirror of the fixed header fields (all host-endian). */
struct qcow2_header {
    uint32_t magic;
    uint32_t version;
    uint64_t backing_file_offset;
    uint32_t backing_file_size;
    uint32_t cluster_bits;
    uint64_t size;
    uint32_t crypt_method;
    uint32_t l1_size;
    uint64_t l1_table_offset;
    uint64_t refcount_table_offset;
    uint32_t refcount_table_clusters;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint32_t refcount_order;
    uint32_t header_length;
    uint8_t compression_type;
};

/* A header extension kept verbatim so a header rewrite preserves it. */
struct qcow2_ext {
    uint32_t magic;
    uint32_t len;  /* payload bytes */
    uint8_t *data; /* owned */
};

/* One parsed snapshot table entry (qcow2-snapshot.c keeps the table). */
struct qcow2_snapshot {
    uint64_t l1_table_offset;
    uint32_t l1_size;
    char *id;   /* owned, NUL-terminated */
    char *name; /* owned, NUL-terminated */
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint32_t vm_state_size32;
    uint64_t vm_state_size; /* from extra data when present */
    uint64_t disk_size;     /* from extra data, else the image size */
    uint64_t icount;        /* UINT64_MAX when absent or -1 */
    uint32_t extra_data_size;
    uint8_t *extra_data; /* owned; preserved verbatim beyond what we know */
};

struct qcow2_cache; /* qcow2-cache.c */

struct qcow2_image {
    enum qcow2_format format;
    char *filename; /* owned */
    int fd;
    unsigned flags; /* QCOW2_OPEN_* */
    bool read_only;
    int sticky_err;     /* <0 after a failed metadata write: no writes */
    uint64_t size;      /* guest bytes */
    uint64_t file_size; /* host file length as last known */

    /* qcow2 only below. */
    struct qcow2_header hdr;
    uint32_t cluster_bits;
    uint64_t cluster_size;
    uint32_t l2_bits;     /* log2(entries per L2 table) */
    uint64_t l2_size;     /* entries per L2 table */
    size_t l2_entry_size; /* 8, or 16 with extended L2 */
    bool extended_l2;
    uint32_t subcluster_bits;
    uint32_t refcount_bits;
    uint64_t refcount_max;        /* 2^refcount_bits - 1 */
    uint32_t refcount_block_bits; /* log2(entries per refcount block) */
    uint64_t *l1_table;           /* l1_size entries, host-endian; owned */
    uint32_t l1_size;
    uint64_t *refcount_table;     /* host-endian; owned */
    uint64_t refcount_table_size; /* entries */
    uint64_t free_cluster_index;  /* allocation search hint */
    struct qcow2_ext *exts;       /* unknown/preserved extensions; owned */
    size_t nb_exts;
    char *backing_file;               /* owned; NULL if none */
    char *backing_fmt;                /* owned; NULL if none */
    char *full_backing_filename;      /* owned; resolved relative to image */
    struct qcow2_image *backing;      /* owned; NULL if none or not opened */
    struct qcow2_snapshot *snapshots; /* owned array */
    uint32_t nb_snapshots;
    uint64_t vm_state_offset; /* guest-address of the VM-state area */
    struct qcow2_cache *l2_cache;
    struct qcow2_cache *refcount_cache;
    bool header_dirty;  /* header needs rewriting on flush */
    bool lazy_dirty;    /* dirty bit set on disk (lazy refcounts) */
    void *compress_ctx; /* per-image zstd/zlib scratch; owned */

    /* Core (qcow2.c, qcow2-refcount.c, qcow2-cluster.c) private state. */
    uint64_t free_byte_offset;  /* compressed-data packing cursor; 0 = none */
    bool has_bitmaps_ext;       /* bitmaps extension present and valid */
    uint32_t nb_bitmaps;        /* from the bitmaps extension */
    uint64_t bitmap_dir_size;   /* bytes */
    uint64_t bitmap_dir_offset; /* host offset of the bitmap directory */
    char *data_file;            /* owned; external data file name, or NULL */
    bool locked;                /* OFD lock bytes applied */
    bool autoclear_done;        /* unknown autoclear bits cleared on disk */
    uint64_t header_ext_bytes;  /* serialised header + extensions size */
    /* Frees held back while defer_frees > 0 (VM-state writes), as
     * {offset, length} pairs: qcow2_frees_settle() applies them once the
     * L2 tables that dropped the clusters are on disk, so a batch of
     * copy-on-write updates costs one ordered flush, not two per write. A
     * crash before that leaks the clusters (refcount invariant 4). */
    uint64_t *deferred_free;
    size_t nb_deferred_free, deferred_free_cap; /* pairs */
    unsigned defer_frees;
    uint64_t freed_min;         /* lowest cluster freed since the last L2
                                   write-back; UINT64_MAX if none */
    uint8_t *hdr_extra;         /* owned; header bytes [112, header_length) */
    uint32_t hdr_extra_len;     /* bytes */
    uint8_t *feature_table;     /* owned; feature-name table payload */
    uint32_t feature_table_len; /* bytes */
    uint64_t disk_end;          /* bytes the file really holds (writes and
                                   truncates seen), unlike file_size which
                                   also counts allocated clusters */
    uint64_t reftable_used;     /* 1 + highest non-zero reftable index */
    const uint64_t *reftable_used_of; /* table reftable_used describes */
    uint8_t *scratch;                 /* owned; one cluster for copy-on-write */
    uint8_t meta_prealloc; /* block status: 0 unchecked, 1 no, 2 yes */
    uint32_t dio_align;    /* O_DIRECT request alignment; 0: buffered I/O */
    void *io_trace_fn;     /* CONFIG_TESTING hook (qcow2_io_trace_fn) */
    void *io_trace_opaque;
};

/* ---- qcow2.c ---- */

/* pread/pwrite the whole range or fail (-EIO; short read past EOF on a
 * metadata read is -EBADMSG). */
int qcow2_io_pread(struct qcow2_image *img, uint64_t off, void *dst, size_t len,
                   struct err *err);
int qcow2_io_pwrite(struct qcow2_image *img, uint64_t off, const void *src,
                    size_t len, struct err *err);
/* One pread()/pwrite() of the image file, aligned for O_DIRECT when the
 * image uses it. Returns the bytes moved (a read is short at the end of the
 * file) or -errno. */
ssize_t qcow2_io_pread_some(struct qcow2_image *img, void *dst, size_t len,
                            uint64_t off);
ssize_t qcow2_io_pwrite_some(struct qcow2_image *img, const void *src,
                             size_t len, uint64_t off);
/* Serialise the header and extensions into cluster 0 (as QEMU lays them
 * out) and write it. */
int qcow2_header_write(struct qcow2_image *img, struct err *err);
/* Write the in-memory L1 entries [first, first+count) to disk. */
int qcow2_l1_write(struct qcow2_image *img, uint32_t first, uint32_t count,
                   struct err *err);
/* Grow the active L1 to at least @min_size entries (relocating it). */
int qcow2_l1_grow(struct qcow2_image *img, uint64_t min_size, struct err *err);
/* Raw-format helpers (qcow2.c). */
int qcow2_raw_write_zeroes(struct qcow2_image *img, uint64_t off, uint64_t len,
                           unsigned flags, struct err *err);
int qcow2_raw_discard(struct qcow2_image *img, uint64_t off, uint64_t len,
                      struct err *err);
int qcow2_raw_block_status(struct qcow2_image *img, uint64_t off, uint64_t len,
                           struct qcow2_extent *out, struct err *err);
/* Write back dirty refcount blocks then L2 tables, and the header if
 * dirty, in crash-safe order (no final fsync). */
int qcow2_metadata_flush(struct qcow2_image *img, struct err *err);
/* fdatasync the image file unless opened UNSAFE. */
int qcow2_sync(struct qcow2_image *img, struct err *err);
/* 0 if writes are allowed, else -EROFS/-EPERM/the sticky error. */
int qcow2_check_writable(struct qcow2_image *img, struct err *err);
/* Mark the image corrupt (set incompatible bit 1 on disk), enter the sticky
 * error state and return -EIO with a message naming @what. */
int qcow2_signal_corruption(struct qcow2_image *img, struct err *err,
                            const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline uint64_t qcow2_offset_into_cluster(const struct qcow2_image *img,
                                                 uint64_t off)
{
    return off & (img->cluster_size - 1);
}

static inline uint64_t qcow2_size_to_clusters(const struct qcow2_image *img,
                                              uint64_t size)
{
    return (size + img->cluster_size - 1) >> img->cluster_bits;
}

/* Number of L1 entries that cover @size guest bytes. */
static inline uint64_t qcow2_size_to_l1(const struct qcow2_image *img,
                                        uint64_t size)
{
    unsigned shift = img->cluster_bits + img->l2_bits;
    return (size + (1ull << shift) - 1) >> shift;
}

/* ---- qcow2-cache.c ---- */

/* A write-back cache of cluster-sized metadata tables (L2 or refcount
 * blocks). Entries are borrowed with get/put; put NULLs the pointer. */
int qcow2_cache_new(struct qcow2_image *img, size_t nb_entries,
                    struct qcow2_cache **out);
void qcow2_cache_free(struct qcow2_cache *c);
/* Borrow the table at @offset, reading it from disk. */
int qcow2_cache_get(struct qcow2_cache *c, uint64_t offset, void **table,
                    struct err *err);
/* Borrow the table at @offset without reading it (caller fills it). */
int qcow2_cache_get_empty(struct qcow2_cache *c, uint64_t offset, void **table,
                          struct err *err);
void qcow2_cache_put(struct qcow2_cache *c, void **table);
void qcow2_cache_mark_dirty(struct qcow2_cache *c, void *table);
/* Write back every dirty entry (no fsync). */
int qcow2_cache_flush(struct qcow2_cache *c, struct err *err);
/* Drop the entry for @offset (after the cluster is freed). */
void qcow2_cache_discard(struct qcow2_cache *c, uint64_t offset);
/* Drop every entry (after writing back dirty ones). */
int qcow2_cache_empty(struct qcow2_cache *c, struct err *err);
/* Before writing back any entry of @c, write back @dep and fsync (used to
 * order refcount blocks before L2 tables and the reverse on frees). */
int qcow2_cache_depends_on(struct qcow2_cache *c, struct qcow2_cache *dep,
                           struct err *err);
/* Make the next write-back of @c fsync first (data written to newly
 * allocated clusters must be on disk before the tables that map it). */
void qcow2_cache_depends_on_flush(struct qcow2_cache *c);
/* Overlap-check kinds to ignore when writing back @c's tables. */
void qcow2_cache_set_kind(struct qcow2_cache *c, unsigned ol_kind);

/* ---- qcow2-refcount.c ---- */

int qcow2_refcount_init(struct qcow2_image *img, struct err *err);
/* Refcount of host cluster @cluster_index (0 past the table). */
int qcow2_refcount_get(struct qcow2_image *img, uint64_t cluster_index,
                       uint64_t *out, struct err *err);
/* Add @delta (may be negative) to the refcounts of every cluster touched
 * by host byte range [offset, offset+length). Fails with -ERANGE on
 * overflow/underflow without changing anything. */
int qcow2_refcount_update(struct qcow2_image *img, uint64_t offset,
                          uint64_t length, int64_t delta, struct err *err);
/* Allocate @nb_clusters contiguous free clusters with refcount 1 and return
 * the host offset of the first. */
int64_t qcow2_cluster_alloc(struct qcow2_image *img, uint64_t nb_clusters,
                            struct err *err);
/* Allocate @size bytes for compressed data (packed into partly used
 * clusters like QEMU's qcow2_alloc_bytes). */
int64_t qcow2_bytes_alloc(struct qcow2_image *img, uint64_t size,
                          struct err *err);
/* Decrement the refcount of clusters in the range (freeing at 0). */
/* Write back the L2 tables, then apply the deferred frees (see
 * deferred_free). Returns 0 or -errno. */
int qcow2_frees_settle(struct qcow2_image *img, struct err *err);
int qcow2_cluster_free(struct qcow2_image *img, uint64_t offset,
                       uint64_t length, struct err *err);
/*
 * The clusters a shadow update may not write: those in use by the image as
 * it is on disk (non-zero refcount, or a known metadata structure) and those
 * the update has taken already. Clusters past the bitmap are free.
 */
struct qcow2_shadow {
    uint8_t *busy; /* one bit per host cluster; owned */
    uint64_t nb;   /* clusters the bitmap covers */
    uint64_t hint; /* no free cluster below this one */
    uint64_t end;  /* 1 + highest cluster taken by the update; 0 if none */
};
/* Build the bitmap from the refcounts on disk: the caller has flushed the
 * metadata caches. Returns 0, -EBADMSG (bad refcount table entry), -EFBIG,
 * -ENOMEM, -EIO. */
int qcow2_shadow_init(struct qcow2_image *img, struct qcow2_shadow *s,
                      struct err *err);
void qcow2_shadow_fini(struct qcow2_shadow *s);
/* Mark cluster @idx busy. Returns 0, -EFBIG or -ENOMEM. */
int qcow2_shadow_mark(struct qcow2_shadow *s, uint64_t idx);
/* Take @n contiguous free clusters and return the host offset of the
 * first, or -ENOSPC/-EFBIG/-ENOMEM. */
int64_t qcow2_shadow_alloc(struct qcow2_image *img, struct qcow2_shadow *s,
                           uint64_t n, struct err *err);
/* True if [offset, offset+len) overlaps any metadata structure (header,
 * L1, refcount table/blocks, snapshot table and L1s, cached L2s). */
bool qcow2_overlaps_metadata(struct qcow2_image *img, uint64_t offset,
                             uint64_t len);

/* Metadata kinds for the overlap check (QEMU's QCOW2_OL_*). */
#define QCOW2_OL_MAIN_HEADER    (1u << 0)
#define QCOW2_OL_ACTIVE_L1      (1u << 1)
#define QCOW2_OL_ACTIVE_L2      (1u << 2)
#define QCOW2_OL_REFCOUNT_TABLE (1u << 3)
#define QCOW2_OL_REFCOUNT_BLOCK (1u << 4)
#define QCOW2_OL_SNAPSHOT_TABLE (1u << 5)
#define QCOW2_OL_INACTIVE_L1    (1u << 6)
#define QCOW2_OL_BITMAP_DIR     (1u << 7)
/* Kinds [offset, offset+len) overlaps, ignoring those in @ignore; 0 if
 * none. */
unsigned qcow2_overlap_check(struct qcow2_image *img, unsigned ignore,
                             uint64_t offset, uint64_t len);
/* Overlap check before a write: on a hit, signal corruption and return
 * -EIO; else 0. */
int qcow2_pre_write_check(struct qcow2_image *img, unsigned ignore,
                          uint64_t offset, uint64_t len, struct err *err);
/*
 * QEMU's qcow2_refcount_area(): write a new refcount table, plus the refcount
 * blocks needed to count everything below @start_offset and
 * @additional_clusters more (with slack unless @exact_size), at
 * @start_offset, which must be past everything in use. Blocks and table
 * describe themselves and reach the disk before the header switches to the
 * new table; the old table is freed last. @new_rb_offset, if non-zero, is
 * entered at @new_rb_index. Returns the end of the new structures (where
 * the covered free space begins) or -errno.
 */
int64_t qcow2_refcount_area(struct qcow2_image *img, uint64_t start_offset,
                            uint64_t additional_clusters, bool exact_size,
                            uint64_t new_rb_index, uint64_t new_rb_offset,
                            struct err *err);
/* Next host cluster index at or after which nothing is allocated
 * (refcount-wise): the end of used space, in clusters. */
int64_t qcow2_refcount_highest(struct qcow2_image *img, struct err *err);

/* ---- qcow2-cluster.c ---- */

/* Decoded L2 entry for one guest cluster. */
enum qcow2_cluster_type {
    QCOW2_CLUSTER_UNALLOCATED = 0,
    QCOW2_CLUSTER_ZERO_PLAIN, /* zero flag, no host cluster */
    QCOW2_CLUSTER_ZERO_ALLOC, /* zero flag, host cluster preallocated */
    QCOW2_CLUSTER_NORMAL,
    QCOW2_CLUSTER_COMPRESSED,
};

/* Read one L2 entry (and the extended bitmap word) for guest @offset from
 * L1 table @l1 (active or a snapshot's). Returns 0, or negative errno. */
int qcow2_l2_entry_get(struct qcow2_image *img, const uint64_t *l1,
                       uint32_t l1_size, uint64_t offset, uint64_t *entry,
                       uint64_t *bitmap, struct err *err);
enum qcow2_cluster_type qcow2_l2_entry_type(const struct qcow2_image *img,
                                            uint64_t entry);
/* Borrow the L2 table for L1 index @l1i ready for writing: allocated and
 * not shared (COPIED). Copies a shared table first, as QEMU's l2_allocate.
 * Release with qcow2_cache_put(img->l2_cache, ...). */
int qcow2_l2_get_writable(struct qcow2_image *img, uint64_t l1i,
                          uint8_t **l2_out, struct err *err);
/* Drop the host storage an old L2 entry referenced (none for 0 or a plain
 * zero entry). */
int qcow2_l2_entry_free(struct qcow2_image *img, uint64_t entry,
                        struct err *err);
/* Decode a compressed descriptor into host byte offset and byte length. */
void qcow2_compressed_desc(const struct qcow2_image *img, uint64_t entry,
                           uint64_t *host_off, uint64_t *nb_bytes);
/*
 * Read/write/discard guest bytes at any offset the L1 can address (the disk
 * and the VM-state area past it); unlike qcow2_read/write there is no check
 * against img->size. Writes grow the L1 as needed. Returns 0 or -errno.
 */
/* The plain data run at guest offset @off (qcow2_vmstate_map()). */
int qcow2_guest_map(struct qcow2_image *img, uint64_t off, uint64_t max_len,
                    uint64_t *host, uint64_t *len, struct err *err);
int qcow2_guest_read(struct qcow2_image *img, uint64_t off, void *dst,
                     size_t len, struct err *err);
int qcow2_guest_write(struct qcow2_image *img, uint64_t off, const void *src,
                      size_t len, struct err *err);
/* Discard whole clusters in [off, off+len) as QEMU's qcow2_cluster_discard
 * with full_discard=false (zero flag on v3, unallocated on v2). */
int qcow2_guest_discard(struct qcow2_image *img, uint64_t off, uint64_t len,
                        struct err *err);
/* Unmap whole clusters in [off, off+len): entries become 0 (read from the
 * backing file) and their clusters are freed (QEMU's full discard). */
int qcow2_cluster_unmap(struct qcow2_image *img, uint64_t off, uint64_t len,
                        struct err *err);
/* Turn zero-flag clusters into real zeroes or unallocated clusters in every
 * L1 (active and snapshots), for a downgrade to version 2. */
int qcow2_expand_zero_clusters(struct qcow2_image *img, struct err *err);
/* Free per-image read/write scratch (the decompressed-cluster cache). */
void qcow2_cluster_fini(struct qcow2_image *img);
/* Forget cached decompressed data (after any change to the mapping). */
void qcow2_cluster_invalidate(struct qcow2_image *img);

/* ---- qcow2-compress.c ---- */

/* Decompress exactly @dst_len bytes from @src. Thread-safe. Returns 0 or
 * -EBADMSG. */
int qcow2_decompress(enum qcow2_compression type, void *dst, size_t dst_len,
                     const void *src, size_t src_len);
/* Compress into @dst; returns bytes, -ENOSPC if not smaller than @dst_cap. */
int qcow2_compress_buf(enum qcow2_compression type, void *dst, size_t dst_cap,
                       const void *src, size_t src_len);

/* ---- qcow2-snapshot.c ---- */

/* Parse the snapshot table named by the header into img->snapshots. */
int qcow2_snapshots_load(struct qcow2_image *img, struct err *err);
/* Write img->snapshots as a new table, update the header, free the old. */
int qcow2_snapshots_store(struct qcow2_image *img, struct err *err);
/* The same, with the old table's extent given (check, whose idea of the
 * old table may differ from what the header's entries say). */
int qcow2_snapshots_store_over(struct qcow2_image *img, uint64_t old_off,
                               uint64_t old_len, struct err *err);
void qcow2_snapshots_free(struct qcow2_image *img);
/*
 * Parse @nb entries at @table_off into a new array (*@out, owned by the
 * caller; *@out_nb entries) and set *@table_len to the bytes the table
 * spans on disk. @zero_fill reads past the end of the file as zeros (as
 * QEMU's check does). @repair truncates entries with too much extra data
 * (counted in *@extra_dropped) and cuts a table over QEMU's size limit
 * short (dropped entries counted in *@dropped) instead of failing, and
 * says so through @report (may be NULL).
 */
int qcow2_snapshots_read_table(struct qcow2_image *img, uint64_t table_off,
                               uint32_t nb, bool zero_fill, bool repair,
                               qcow2_check_report_fn *report, void *opaque,
                               struct qcow2_snapshot **out, uint32_t *out_nb,
                               uint64_t *table_len, int *dropped,
                               int *extra_dropped, struct err *err);

/* ---- qcow2-check.c ---- */

/* Rebuild refcounts from scratch by walking all metadata (used by check
 * -r all and by opening a dirty lazy-refcount image read-write). */
int qcow2_rebuild_refcounts(struct qcow2_image *img, struct err *err);

/* A metadata state to count references of (borrowed pointers). */
/* An L1 table given in memory counts its own clusters only once placed
 * (non-zero offset); a snapshot table not placed yet has length 0. */
struct qcow2_state {
    const uint64_t *l1; /* active L1, host-endian; NULL: read it from disk */
    uint32_t l1_size;   /* entries */
    uint64_t l1_offset; /* host offset of the active L1 */
    const struct qcow2_snapshot *snapshots; /* L1s read from disk unless */
    const uint64_t *const *snap_l1; /* [i] non-NULL gives snapshot i's L1
                                       (host-endian); NULL: none given */
    uint32_t nb_snapshots;
    uint64_t snap_offset; /* snapshot table; 0 if none */
    uint64_t snap_len;    /* bytes */
};

/* Refcounts held in memory, in refcount block encoding: slice i (one
 * cluster of bytes) is the content of refcount block i. */
struct qcow2_refs {
    uint8_t *rt; /* owned; whole clusters */
    uint64_t nb; /* clusters covered */
};

/*
 * Count into *@out (owned by the caller: qcow2_refs_fini()) every reference
 * of state @st, except those of the refcount structures: the header cluster,
 * the L1 tables and their trees (a data cluster once per L1 whose tree
 * reaches it, as QEMU counts), the snapshot table, bitmaps and the LUKS
 * area. @file_len bounds the references, as in check. Returns 0, -ERANGE
 * (a refcount would overflow refcount_bits), -EBADMSG (the walk found
 * corruption), -EFBIG, -ENOMEM, -EIO.
 */
int qcow2_refs_count(struct qcow2_image *img, const struct qcow2_state *st,
                     uint64_t file_len, struct qcow2_refs *out,
                     struct err *err);
/* Refcount of cluster @idx (0 past the end). */
uint64_t qcow2_refs_get(const struct qcow2_image *img,
                        const struct qcow2_refs *r, uint64_t idx);
/* Add @delta to the refcount of cluster @idx. Returns 0, -ERANGE (over or
 * underflow, nothing changed), -EFBIG or -ENOMEM. */
int qcow2_refs_add(struct qcow2_image *img, struct qcow2_refs *r, uint64_t idx,
                   int64_t delta);
void qcow2_refs_fini(struct qcow2_refs *r);

/* Take @n contiguous clusters free in @sh and count them in @r; returns
 * the host offset or -errno. */
int64_t qcow2_refs_take(struct qcow2_image *img, struct qcow2_refs *r,
                        struct qcow2_shadow *sh, uint64_t n, struct err *err);
/* Mark busy in @sh every cluster @r counts. Returns 0 or -errno. */
int qcow2_refs_mark_busy(struct qcow2_image *img, const struct qcow2_refs *r,
                         struct qcow2_shadow *sh, struct err *err);

/* A refcount table written by qcow2_refs_write(). */
struct qcow2_reftable {
    uint64_t *table;   /* host-endian; owned */
    uint64_t entries;  /* a whole number of clusters of entries */
    uint64_t offset;   /* host offset */
    uint32_t clusters; /* table size */
};
/*
 * Place refcount blocks and a refcount table that describe @r in clusters
 * free in @sh (taking them there), count them in @r, and write them (no
 * flush). Every cluster @r counts must be busy in @sh already
 * (qcow2_refs_mark_busy()). The header is left alone. On success *@out is
 * filled (release with mem_free(out->table)). Returns 0, -EFBIG, -ENOSPC,
 * -ENOMEM, -EIO.
 */
int qcow2_refs_write(struct qcow2_image *img, struct qcow2_refs *r,
                     struct qcow2_shadow *sh, struct qcow2_reftable *out,
                     struct err *err);

/* ---- Test hooks (qcow2.c) ---- */
#ifdef CONFIG_TESTING
/* File-level events on an image's own file, in the order issued. */
enum qcow2_io_event {
    QCOW2_IO_WRITE = 0,    /* @buf/@len written at @off */
    QCOW2_IO_FLUSH = 1,    /* fdatasync barrier */
    QCOW2_IO_TRUNCATE = 2, /* file length set to @len */
};
typedef void qcow2_io_trace_fn(void *opaque, enum qcow2_io_event kind,
                               uint64_t off, const void *buf, uint64_t len);
/* Report every write, flush and length change of @img's file (not its
 * backing files) to @fn; NULL stops. Used by the crash-consistency test. */
void qcow2_io_set_trace(struct qcow2_image *img, qcow2_io_trace_fn *fn,
                        void *opaque);
#endif

#endif /* QCOW2_QCOW2_INT_H */
