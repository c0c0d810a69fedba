/* SPDX-License-Identifier: MIT */
/*
 * qcow2/qcow2.h - disk images: qcow2 (v2 and v3, byte-compatible with QEMU
 * 7.2) and raw, behind one handle, with backing chains, internal snapshots,
 * the VM-state area, compression, check/repair and resize.
 *
 * All offsets and lengths are in bytes and need no alignment unless a
 * function says otherwise. One handle is used by one thread at a time,
 * except where a function says it is thread-safe.
 */
#ifndef QCOW2_QCOW2_H
#define QCOW2_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct qcow2_image; /* opaque; one per open image (qcow2 or raw) */

/* Image formats this library opens. */
enum qcow2_format {
    QCOW2_FORMAT_QCOW2 = 0,
    QCOW2_FORMAT_RAW = 1,
};

/* Limits, mirroring QEMU's (block/qcow2.h) so we accept what it accepts. */
#define QCOW2_MIN_CLUSTER_BITS   9
#define QCOW2_MAX_CLUSTER_BITS   21
#define QCOW2_MAX_L1_BYTES       (32u << 20) /* QEMU's L1 cap */
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)  /* QEMU's refcount table cap */
#define QCOW2_MAX_SNAPSHOTS      65536
#define QCOW2_MAX_BACKING_NAME   1023
#define QCOW2_MAX_BACKING_DEPTH  64 /* chain length before we call it a loop */
#define QCOW2_MAX_SNAPSHOT_EXTRA 1024 /* bytes of extra data per entry */
#define QCOW2_MAX_SNAPSHOT_NAME  65535

/* Open flags. */
#define QCOW2_OPEN_RDONLY      (1u << 0) /* no writes; shared lock only */
#define QCOW2_OPEN_NO_BACKING  (1u << 1) /* do not open the backing file */
#define QCOW2_OPEN_FORCE_SHARE (1u << 2) /* -U: no lock; read-only */
#define QCOW2_OPEN_NOCACHE     (1u << 3) /* cache=none: O_DIRECT, bounced */
#define QCOW2_OPEN_UNSAFE      (1u << 4) /* flush is a no-op (cache=unsafe) */
#define QCOW2_OPEN_NO_REPAIR   (1u << 5) /* do not repair a dirty image */
#define QCOW2_OPEN_CHECK       (1u << 6) /* open for check: tolerate damage */

/* Compression types (header byte 104). */
enum qcow2_compression {
    QCOW2_COMPRESSION_ZLIB = 0,
    QCOW2_COMPRESSION_ZSTD = 1,
};

enum qcow2_prealloc {
    QCOW2_PREALLOC_OFF = 0,
    QCOW2_PREALLOC_METADATA,
    QCOW2_PREALLOC_FALLOC,
    QCOW2_PREALLOC_FULL,
};

/* Options for qcow2_create(); start from qcow2_create_opts_init(). */
struct qcow2_create_opts {
    enum qcow2_format format;
    uint64_t size;          /* bytes; rounded up to 512 */
    int version;            /* 2 (compat=0.10) or 3 (compat=1.1) */
    uint32_t cluster_size;  /* bytes, power of two, 512..2 MiB */
    unsigned refcount_bits; /* 1, 2, 4, ..., 64 */
    bool lazy_refcounts;    /* v3 only */
    bool extended_l2;       /* v3 only, cluster_size >= 16 KiB */
    enum qcow2_compression compression_type;
    enum qcow2_prealloc preallocation;
    const char *backing_file; /* NULL if none; stored verbatim */
    const char *backing_fmt;  /* "qcow2" or "raw"; NULL if none */
};

/* Fill @o with qemu-img 7.2's defaults for qcow2 (v3, 64 KiB, 16 bits). */
void qcow2_create_opts_init(struct qcow2_create_opts *o);

/*
 * Create a new image at @path (truncating any existing file). When
 * @o->size is 0 and a backing file is given, the size is the backing
 * file's. Returns 0, or -EINVAL (bad option), -ENOENT (backing file
 * missing), -EIO, -ENOSPC, -ENOMEM.
 */
int qcow2_create(const char *path, const struct qcow2_create_opts *o,
                 struct err *err);

/*
 * Open @path as @fmt (never probed: untrusted images must say their
 * format). Backing files are opened as the image records them (backing_fmt,
 * else raw unless the file is qcow2 and backing_fmt was absent, as QEMU
 * probes). On success *@out owns the image; release it with qcow2_close().
 * Returns 0, or -ENOENT, -EBADMSG (corrupt), -ENOTSUP (unknown incompatible
 * feature, encryption, external data file), -EBUSY (locked by another
 * process), -ELOOP (backing loop or chain too deep), -EIO, -ENOMEM.
 * With QCOW2_OPEN_NOCACHE the files (backing files too) are opened with
 * O_DIRECT, and unaligned requests go through aligned bounce buffers; a
 * file system that refuses O_DIRECT fails the open with -EINVAL ("filesystem
 * does not support O_DIRECT", as QEMU words it).
 */
int qcow2_open(const char *path, enum qcow2_format fmt, unsigned flags,
               struct qcow2_image **out, struct err *err);

/*
 * Probe the format of @path by its magic, as qemu-img does without -f.
 * Returns 0 and sets *@out, or -ENOENT/-EIO.
 */
int qcow2_probe(const char *path, enum qcow2_format *out, struct err *err);

/* Flushes (unless read-only), unlocks and frees. Accepts NULL. Returns the
 * first error seen while flushing. */
int qcow2_close(struct qcow2_image *img);

/* Guest-visible size in bytes. */
uint64_t qcow2_size(const struct qcow2_image *img);
enum qcow2_format qcow2_format_of(const struct qcow2_image *img);
uint32_t qcow2_cluster_size(const struct qcow2_image *img); /* 512 for raw */
/* The backing image, or NULL. Borrowed; owned by @img. */
struct qcow2_image *qcow2_backing(struct qcow2_image *img);
/* Path the image was opened with. Borrowed. */
const char *qcow2_filename(const struct qcow2_image *img);

/* Read @len bytes at @off into @dst; past the end reads fail with -EINVAL.
 * Returns 0 or a negative errno. */
int qcow2_read(struct qcow2_image *img, uint64_t off, void *dst, size_t len,
               struct err *err);
/* Write @len bytes at @off. Returns 0, -EROFS/-EPERM (read-only or corrupt),
 * -ENOSPC, -EIO. */
int qcow2_write(struct qcow2_image *img, uint64_t off, const void *src,
                size_t len, struct err *err);

#define QCOW2_ZERO_MAY_UNMAP (1u << 0) /* deallocate if possible */
/* Make [off, off+len) read as zero (zero flag or unmap on v3; explicit
 * zeros where the format cannot express it). */
int qcow2_write_zeroes(struct qcow2_image *img, uint64_t off, uint64_t len,
                       unsigned flags, struct err *err);
/* Deallocate whole clusters inside [off, off+len); partial clusters are
 * left alone. Data then reads from the backing file (or zero, on v3 with
 * the zero flag when there is a backing file, as QEMU does). */
int qcow2_discard(struct qcow2_image *img, uint64_t off, uint64_t len,
                  struct err *err);
/*
 * Write one cluster compressed with the image's compression type. @off must
 * be cluster aligned and @len equal the cluster size (or the remainder at
 * the end of the image). Stores uncompressed if compression does not help.
 * Compression itself is thread-safe: callers may use qcow2_compress() on
 * worker threads and hand the result to qcow2_write_compressed_raw().
 */
int qcow2_write_compressed(struct qcow2_image *img, uint64_t off,
                           const void *src, size_t len, struct err *err);
/*
 * Compress one cluster of @src_len bytes for @img into @dst (@dst_cap >=
 * cluster size). Thread-safe. Returns the compressed length, or -ENOSPC if
 * it does not fit in less than a cluster, or -ENOMEM.
 */
int qcow2_compress(const struct qcow2_image *img, void *dst, size_t dst_cap,
                   const void *src, size_t src_len);
/* Store an already-compressed cluster (from qcow2_compress()) at @off. */
int qcow2_write_compressed_raw(struct qcow2_image *img, uint64_t off,
                               const void *src, size_t src_len,
                               struct err *err);
/* After a run of compressed writes: pad the file to a 512-byte boundary,
 * as QEMU's zero-length compressed write (which ends qemu-img convert -c)
 * does. */
int qcow2_compressed_end(struct qcow2_image *img, struct err *err);
/* Write dirty metadata and fsync (unless opened UNSAFE). */
int qcow2_flush(struct qcow2_image *img, struct err *err);

/* Allocation status of a range, as qemu-img map reports it. */
#define QCOW2_BS_DATA       (1u << 0) /* reads come from a data cluster */
#define QCOW2_BS_ZERO       (1u << 1) /* reads as zero */
#define QCOW2_BS_ALLOCATED  (1u << 2) /* allocated in this layer */
#define QCOW2_BS_COMPRESSED (1u << 3) /* data is compressed */
#define QCOW2_BS_OFFSET     (1u << 4) /* host_offset is valid */
#define QCOW2_BS_PRESENT    (1u << 5) /* allocated in the layer at depth */

struct qcow2_extent {
    uint64_t length;      /* bytes with identical status, >= 1 */
    unsigned flags;       /* QCOW2_BS_* */
    uint64_t host_offset; /* file offset of the data when BS_OFFSET */
    int depth;            /* 0 = this image, 1 = its backing, ... */
    /* Image that holds the data (borrowed), for map's "File" column. */
    const struct qcow2_image *file;
};

/*
 * Status of the bytes starting at @off (< size), as QEMU 7.2's block status
 * with want_zero: when @follow_backing, unallocated runs are looked up in
 * the backing chain (qemu-img map's walk); ALLOCATED always means allocated
 * in @img itself, PRESENT in the layer that answered. Data of an image that
 * looks metadata-preallocated (more clusters in use than the host file
 * holds) is split where its host file has holes, which read as zero, as
 * QEMU does. Without @follow_backing, unallocated runs read as ZERO. Fills
 * @out for the longest run (at most @max_len) with identical status.
 * Returns 0 or a negative errno.
 */
int qcow2_block_status(struct qcow2_image *img, uint64_t off, uint64_t max_len,
                       bool follow_backing, struct qcow2_extent *out,
                       struct err *err);

/* Everything `info` shows, borrowed from the open image. */
struct qcow2_info {
    enum qcow2_format format;
    uint64_t virtual_size;
    uint64_t actual_size; /* bytes allocated on the host (st_blocks) */
    uint32_t cluster_size;
    int version; /* 2 or 3; 0 for raw */
    unsigned refcount_bits;
    bool lazy_refcounts;
    bool extended_l2;
    bool corrupt;
    bool dirty; /* incompatible bit 0 on disk */
    enum qcow2_compression compression_type;
    const char *backing_file;          /* as recorded; NULL if none */
    const char *backing_fmt;           /* NULL if not recorded */
    const char *full_backing_filename; /* resolved path; NULL if none */
    const char *data_file;             /* NULL if none */
    bool encrypted;
    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint32_t nb_snapshots;
};

void qcow2_get_info(struct qcow2_image *img, struct qcow2_info *out);

/* Longest persistent bitmap name (QEMU's BME_MAX_NAME_SIZE). */
#define QCOW2_MAX_BITMAP_NAME 1023
#define QCOW2_BITMAP_IN_USE   (1u << 0) /* inconsistent: written while open */
#define QCOW2_BITMAP_AUTO     (1u << 1) /* tracks writes automatically */

/* One persistent dirty bitmap of the directory, as info lists it. */
struct qcow2_bitmap_info {
    char name[QCOW2_MAX_BITMAP_NAME + 1];
    uint32_t flags;       /* QCOW2_BITMAP_*; other bits as stored */
    uint64_t granularity; /* bytes per bit */
};

/*
 * Read the bitmap directory: the number of bitmaps in *@nb (0 without the
 * bitmaps extension) and the first @cap of them in @out (may be NULL).
 * A malformed directory is -EBADMSG with a message.
 */
int qcow2_bitmap_list(struct qcow2_image *img, struct qcow2_bitmap_info *out,
                      size_t cap, size_t *nb, struct err *err);

/* One internal snapshot, as listed. Strings borrowed from the image. */
struct qcow2_snapshot_info {
    const char *id; /* numeric string */
    const char *name;
    uint64_t vm_state_size; /* bytes */
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t icount;    /* UINT64_MAX = icount disabled */
    uint64_t disk_size; /* virtual size at snapshot time */
};

/* Number of snapshots; fills up to @cap entries of @out (may be NULL). The
 * strings stay valid until the next snapshot change or close. */
size_t qcow2_snapshot_list(struct qcow2_image *img,
                           struct qcow2_snapshot_info *out, size_t cap);
/*
 * One row of QEMU 7.2's snapshot table (bdrv_snapshot_dump(): ID, TAG, VM
 * SIZE, DATE in local time, VM CLOCK, ICOUNT), without a newline, in a new
 * string (mem_free); @sn NULL: the header row; @id non-NULL replaces the
 * snapshot's id (info snapshots prints "--"). NULL when out of memory.
 */
char *qcow2_snapshot_row(const struct qcow2_snapshot_info *sn, const char *id);

struct qcow2_snapshot_params {
    const char *name; /* tag; must not be empty */
    const char *id;   /* NULL: max existing id + 1 */
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t vm_state_size; /* bytes already written with vmstate_write */
    uint64_t icount;        /* UINT64_MAX when icount is off */
    /* false: drop the VM-state range from the active L1 after the snapshot
     * (QEMU's behaviour); true: keep it mapped so later saves share it. */
    bool keep_vmstate;
};

/*
 * Create an internal snapshot of the current state. Names may repeat, as
 * in QEMU; ids are unique. Returns 0, -EEXIST (a snapshot has that id),
 * -ENOTSUP (refcount_bits 1, raw image), -ENOSPC, -EIO.
 */
int qcow2_snapshot_create(struct qcow2_image *img,
                          const struct qcow2_snapshot_params *p,
                          struct err *err);
/*
 * QEMU's bdrv_snapshot_load_tmp(): make a read-only image read through
 * snapshot @snapshot_id's L1 table (an id, not a name) until it is closed;
 * the virtual size stays the image's (past the snapshot's L1 it reads as
 * unallocated), and nothing is written. Returns 0, -ENOENT, -EINVAL (image
 * open read-write) or -errno.
 */
int qcow2_snapshot_load_tmp(struct qcow2_image *img, const char *snapshot_id,
                            struct err *err);
/* Revert the disk (and VM-state area) to snapshot @id_or_name (an id is
 * matched first, then a name). Returns 0, -ENOENT, -EIO. */
int qcow2_snapshot_apply(struct qcow2_image *img, const char *id_or_name,
                         struct err *err);
/* Delete snapshot @id_or_name. Returns 0, -ENOENT, -EIO. */
int qcow2_snapshot_delete(struct qcow2_image *img, const char *id_or_name,
                          struct err *err);

/* Read or write the VM-state area (at QEMU's vm_state_offset) of the
 * active image. Returns 0 or a negative errno. */
int qcow2_vmstate_read(struct qcow2_image *img, uint64_t off, void *dst,
                       size_t len, struct err *err);
int qcow2_vmstate_write(struct qcow2_image *img, uint64_t off, const void *src,
                        size_t len, struct err *err);
/*
 * Where VM-state bytes [@off, @off + @max_len) live: *@host is the file
 * offset of @off and *@len (<= @max_len) the length of the run from there
 * held by plain data clusters at consecutive file offsets; *@host = 0 when
 * @off is not in such a cluster (zero, unallocated, compressed, or an image
 * with extended L2 entries). Data clusters are never rewritten in place
 * while shared, so two handles on one file (the active image and one
 * reading a snapshot through qcow2_snapshot_load_tmp()) that report the
 * same offset read the same bytes there. Returns 0 or a negative errno.
 */
int qcow2_vmstate_map(struct qcow2_image *img, uint64_t off, uint64_t max_len,
                      uint64_t *host, uint64_t *len, struct err *err);

/* Outcome of qcow2_check(), the fields of qemu-img's ImageCheck. */
struct qcow2_check_result {
    int check_errors; /* internal failures: check could not finish */
    int corruptions;
    int leaks;
    int corruptions_fixed;
    int leaks_fixed;
    uint64_t image_end_offset;
    uint64_t total_clusters;
    uint64_t allocated_clusters;
    uint64_t fragmented_clusters;
    uint64_t compressed_clusters;
    bool rebuilt; /* "Rebuilding refcount structure" happened */
};

/* Receives each per-problem line qemu-img prints on stderr (no newline). */
typedef void qcow2_check_report_fn(void *opaque, const char *line);

#define QCOW2_REPAIR_LEAKS  (1u << 0)
#define QCOW2_REPAIR_ERRORS (1u << 1)

/*
 * Check refcounts and metadata like `qemu-img check`, repairing with
 * QCOW2_REPAIR_*. Problem lines go to @report (may be NULL). @res describes
 * the image after any repair (as qemu-img reports a second pass).
 * Returns 0 when the check ran (whatever it found), -ENOTSUP for raw, or a
 * negative errno when it could not run.
 */
int qcow2_check(struct qcow2_image *img, unsigned repair,
                qcow2_check_report_fn *report, void *opaque,
                struct qcow2_check_result *res, struct err *err);

/* Resize to @new_size. Shrinking needs @shrink and fails (-ENOTSUP) where
 * qemu-img's does. */
int qcow2_resize(struct qcow2_image *img, uint64_t new_size, bool shrink,
                 enum qcow2_prealloc prealloc, struct err *err);

/* Change the backing file name and format in the header only (rebase -u).
 * @backing_file NULL or "" removes the backing file. */
int qcow2_set_backing(struct qcow2_image *img, const char *backing_file,
                      const char *backing_fmt, struct err *err);

/* Options `amend` may change; fields left negative/NULL are unchanged. */
struct qcow2_amend_opts {
    int version;        /* 2 or 3, or -1 */
    int refcount_bits;  /* or -1 */
    int lazy_refcounts; /* 0/1, or -1 */
};
int qcow2_amend(struct qcow2_image *img, const struct qcow2_amend_opts *o,
                struct err *err);

/* Empty the top image (commit's bdrv_make_empty): drop every mapping. */
int qcow2_make_empty(struct qcow2_image *img, struct err *err);

/* Bytes a new qcow2 image with options @o needs for @size guest bytes of
 * which @allocated are data (measure). */
void qcow2_measure(const struct qcow2_create_opts *o, uint64_t size,
                   uint64_t allocated, uint64_t *required,
                   uint64_t *fully_allocated);

#endif /* QCOW2_QCOW2_H */
