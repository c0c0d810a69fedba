/* SPDX-License-Identifier: MIT */
/*
 * qcow2/qcow2.c - image handles: open and header validation, header
 * extensions, QEMU-compatible image locking, backing chains, the raw
 * format, create/resize/amend/measure and the public read/write entry
 * points.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/falloc.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/log.h"
#include "qcow2/qcow2-int.h"

/*
 * QEMU's file-posix lock bytes (block/file-posix.c): byte 100+bit is held
 * (shared) for each permission we use, 200+bit for each permission we do
 * not let others use. Permission bits (include/block/block-common.h):
 * consistent read 0, write 1, write-unchanged 2, resize 3.
 */
#define LOCK_PERM_BASE       100
#define LOCK_SHARED_BASE     200
#define PERM_CONSISTENT_READ (1u << 0)
#define PERM_WRITE           (1u << 1)
#define PERM_WRITE_UNCHANGED (1u << 2)
#define PERM_RESIZE          (1u << 3)
#define PERM_BITS            4

/* Largest bitmap directory we read (QEMU: QCOW2_MAX_BITMAP_DIRECTORY_SIZE
 * is 64 KiB of entries per bitmap times 65535; we cap at 64 MiB). */
#define BITMAP_DIR_MAX_BYTES (64u << 20)
#define BITMAP_MAX_COUNT     65535
/* QEMU's limit on the backing format string. */
#define BACKING_FMT_MAX 15

static const char *const perm_names[PERM_BITS] = {"consistent read", "write",
                                                  "write unchanged", "resize"};

/* Feature name table as qemu-img 7.2 writes it. */
static const struct {
    uint8_t type;
    uint8_t bit;
    const char *name;
} feature_names[] = {
    {0, 0, "dirty bit"},
    {0, 1, "corrupt bit"},
    {0, 2, "external data file"},
    {0, 3, "compression type"},
    {0, 4, "extended L2 entries"},
    {1, 0, "lazy refcounts"},
    {2, 0, "bitmaps"},
    {2, 1, "raw external data"},
};
#define FEATURE_ENTRY_LEN 48

static int open_depth(const char *path, enum qcow2_format fmt, unsigned flags,
                      int depth, struct qcow2_image **out, struct err *err);

/* ---- file I/O ---- */

#ifdef CONFIG_TESTING
void qcow2_io_set_trace(struct qcow2_image *img, qcow2_io_trace_fn *fn,
                        void *opaque)
{
    img->io_trace_fn = (void *)fn;
    img->io_trace_opaque = opaque;
}

static void io_trace(struct qcow2_image *img, enum qcow2_io_event kind,
                     uint64_t off, const void *buf, uint64_t len)
{
    if (img->io_trace_fn) {
        ((qcow2_io_trace_fn *)img->io_trace_fn)(img->io_trace_opaque, kind, off,
                                                buf, len);
    }
}
#define IO_TRACE(img, kind, off, buf, len) io_trace(img, kind, off, buf, len)
#else
#define IO_TRACE(img, kind, off, buf, len)                                     \
    do {                                                                       \
    } while (0)
#endif

/*
 * O_DIRECT (cache=none): every transfer must have its buffer, offset and
 * length aligned to the file's alignment (img->dio_align). Unaligned
 * requests go through an aligned bounce buffer; unaligned writes read,
 * modify and write the whole aligned window, then give the file back the
 * length it would have had (so the bytes on disk match a buffered write).
 */

/* Buffer alignment for O_DIRECT: the largest logical block size (QEMU's
 * MAX_BLOCKSIZE), which also suits every smaller one. */
#define DIO_MEM_ALIGN 4096u
/* Largest bounce transfer: requests above it are split. */
#define DIO_BOUNCE_MAX (4u << 20)

/* Memory needs the same alignment as offsets and lengths (the logical
 * block size), as QEMU finds for regular files. */
static bool dio_aligned(const struct qcow2_image *img, const void *buf,
                        size_t len, uint64_t off)
{
    uint64_t a = img->dio_align;

    return ((uintptr_t)buf % a) == 0 && (len % a) == 0 && (off % a) == 0;
}

/* A buffer of @len bytes aligned to DIO_MEM_ALIGN; *@base is what to
 * mem_free(). NULL on allocation failure. */
static uint8_t *dio_buf_alloc(size_t len, void **base)
{
    uint8_t *p = mem_alloc(len + DIO_MEM_ALIGN);

    *base = p;
    if (!p) {
        return NULL;
    }
    return p + (DIO_MEM_ALIGN - (uintptr_t)p % DIO_MEM_ALIGN) % DIO_MEM_ALIGN;
}

/* pread() that retries EINTR. */
static ssize_t fd_pread(int fd, void *dst, size_t len, uint64_t off)
{
    ssize_t n;

    do {
        n = pread(fd, dst, len, (off_t)off);
    } while (n < 0 && errno == EINTR);
    return n;
}

static ssize_t fd_pwrite(int fd, const void *src, size_t len, uint64_t off)
{
    ssize_t n;

    do {
        n = pwrite(fd, src, len, (off_t)off);
    } while (n < 0 && errno == EINTR);
    return n;
}

/* Fill @win (@wlen bytes at aligned @woff) from the file, zeros past its
 * end. Returns the bytes the file held, or -errno. */
static ssize_t dio_window_read(struct qcow2_image *img, uint8_t *win,
                               size_t wlen, uint64_t woff)
{
    size_t got = 0;

    while (got < wlen) {
        ssize_t n = fd_pread(img->fd, win + got, wlen - got, woff + got);
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
        if (got % img->dio_align) {
            break; /* the file ends inside this block */
        }
    }
    memset(win + got, 0, wlen - got);
    return (ssize_t)got;
}

ssize_t qcow2_io_pread_some(struct qcow2_image *img, void *dst, size_t len,
                            uint64_t off)
{
    uint64_t a = img->dio_align;
    uint64_t woff, wend;
    uint8_t *win;
    void *base;
    ssize_t got;
    size_t n;

    if (a == 0 || dio_aligned(img, dst, len, off)) {
        ssize_t r = fd_pread(img->fd, dst, len, off);
        return r < 0 ? -errno : r;
    }
    if (len > DIO_BOUNCE_MAX) {
        len = DIO_BOUNCE_MAX;
    }
    woff = off / a * a;
    wend = (off + len + a - 1) / a * a;
    win = dio_buf_alloc((size_t)(wend - woff), &base);
    if (!win) {
        return -ENOMEM;
    }
    got = dio_window_read(img, win, (size_t)(wend - woff), woff);
    if (got >= 0) {
        n = 0;
        if ((uint64_t)got > off - woff) {
            n = (size_t)((uint64_t)got - (off - woff));
        }
        if (n > len) {
            n = len;
        }
        memcpy(dst, win + (off - woff), n);
        got = (ssize_t)n;
    }
    mem_free(base);
    return got;
}

/* One bounced write of at most DIO_BOUNCE_MAX bytes. Returns the bytes
 * written or -errno. */
static ssize_t dio_pwrite_bounced(struct qcow2_image *img, const void *src,
                                  size_t len, uint64_t off)
{
    uint64_t a = img->dio_align;
    uint64_t woff, wend;
    struct stat st;
    uint8_t *win;
    void *base;
    ssize_t r;
    size_t wlen;

    if (len > DIO_BOUNCE_MAX) {
        len = DIO_BOUNCE_MAX;
    }
    if (fstat(img->fd, &st) < 0) {
        return -errno;
    }
    woff = off / a * a;
    wend = (off + len + a - 1) / a * a;
    wlen = (size_t)(wend - woff);
    win = dio_buf_alloc(wlen, &base);
    if (!win) {
        return -ENOMEM;
    }
    if (woff < off || wend > off + len) {
        r = dio_window_read(img, win, wlen, woff);
        if (r < 0) {
            goto out;
        }
    }
    memcpy(win + (off - woff), src, len);
    r = fd_pwrite(img->fd, win, wlen, woff);
    if (r < 0) {
        r = -errno;
        goto out;
    }
    if ((size_t)r < wlen) {
        r = -EIO;
        goto out;
    }
    /* Whole blocks went out: restore the length a plain write leaves. */
    if (wend > (uint64_t)st.st_size && wend > off + len) {
        uint64_t keep =
            off + len > (uint64_t)st.st_size ? off + len : (uint64_t)st.st_size;
        if (ftruncate(img->fd, (off_t)keep) < 0) {
            r = -errno;
            goto out;
        }
    }
    r = (ssize_t)len;
out:
    mem_free(base);
    return r;
}

ssize_t qcow2_io_pwrite_some(struct qcow2_image *img, const void *src,
                             size_t len, uint64_t off)
{
    if (img->dio_align == 0 || dio_aligned(img, src, len, off)) {
        ssize_t r = fd_pwrite(img->fd, src, len, off);
        return r < 0 ? -errno : r;
    }
    return dio_pwrite_bounced(img, src, len, off);
}

/*
 * The file's O_DIRECT request alignment, found as QEMU's
 * raw_probe_alignment() does: the smallest read size (1, 512 ... 4096)
 * the file accepts, where 1 (nothing to learn, e.g. an empty file) means
 * the safe 4096.
 */
static uint32_t dio_probe_align(int fd)
{
    static const uint32_t sizes[] = {1, 512, 1024, 2048, 4096};
    uint32_t align = DIO_MEM_ALIGN;
    uint8_t *buf;
    void *base;
    size_t i;

    buf = dio_buf_alloc(DIO_MEM_ALIGN, &base);
    if (!buf) {
        return align;
    }
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        if (fd_pread(fd, buf, sizes[i], 0) >= 0 || errno != EINVAL) {
            align = sizes[i] == 1 ? DIO_MEM_ALIGN : sizes[i];
            break;
        }
    }
    mem_free(base);
    return align;
}

int qcow2_io_pread(struct qcow2_image *img, uint64_t off, void *dst, size_t len,
                   struct err *err)
{
    uint8_t *p = dst;

    while (len > 0) {
        ssize_t n = qcow2_io_pread_some(img, p, len, off);
        if (n < 0) {
            return err_set(err, (int)n,
                           "read of %zu bytes at %#" PRIx64 " failed", len,
                           off);
        }
        if (n == 0) {
            return err_set(err, -EBADMSG,
                           "metadata at %#" PRIx64 " is past the end of the "
                           "file",
                           off);
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int qcow2_io_pwrite(struct qcow2_image *img, uint64_t off, const void *src,
                    size_t len, struct err *err)
{
    const uint8_t *p = src;
    uint64_t start = off;
    size_t total = len;

    IO_TRACE(img, QCOW2_IO_WRITE, off, src, len);
    while (len > 0) {
        ssize_t n = qcow2_io_pwrite_some(img, p, len, off);
        if (n < 0) {
            return err_set(err, n == -ENOSPC ? -ENOSPC : -EIO,
                           "write of %zu bytes at %#" PRIx64 " failed: %s", len,
                           off, strerror((int)-n));
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    if (start + total > img->file_size) {
        img->file_size = start + total;
    }
    if (start + total > img->disk_end) {
        img->disk_end = start + total;
    }
    return 0;
}

int qcow2_sync(struct qcow2_image *img, struct err *err)
{
    if (img->flags & QCOW2_OPEN_UNSAFE) {
        return 0;
    }
    IO_TRACE(img, QCOW2_IO_FLUSH, 0, NULL, 0);
    if (fdatasync(img->fd) < 0) {
        int e = errno;
        img->sticky_err = -EIO;
        return err_set(err, -EIO, "fdatasync: %s", strerror(e));
    }
    return 0;
}

static int file_truncate(struct qcow2_image *img, uint64_t len, struct err *err)
{
    IO_TRACE(img, QCOW2_IO_TRUNCATE, 0, NULL, len);
    if (ftruncate(img->fd, (off_t)len) < 0) {
        return err_set(err, -errno, "truncate to %" PRIu64 ": %s", len,
                       strerror(errno));
    }
    img->file_size = len;
    img->disk_end = len;
    return 0;
}

int qcow2_compressed_end(struct qcow2_image *img, struct err *err)
{
    struct stat st;
    int ret;

    CHECK_ARG(img);
    ret = qcow2_check_writable(img, err);
    if (ret < 0) {
        return ret;
    }
    if (fstat(img->fd, &st) < 0) {
        return err_set(err, -errno, "stat: %s", strerror(errno));
    }
    if (st.st_size % 512) {
        return file_truncate(img, ((uint64_t)st.st_size + 511) & ~511ull, err);
    }
    return 0;
}

/* ---- locking (QEMU file-posix compatible) ---- */

static int lock_byte(int fd, short type, off_t byte)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* 1 if another open file description holds a lock on @byte. */
static int lock_test(int fd, off_t byte)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = byte;
    fl.l_len = 1;
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
        return -errno;
    }
    return fl.l_type != F_UNLCK;
}

/* Apply QEMU's lock bytes for a read-only or read-write user on @fd. */
static int lock_fd(int fd, bool read_only, const char *name, struct err *err)
{
    unsigned perm = PERM_CONSISTENT_READ;
    unsigned unshared = PERM_WRITE | PERM_RESIZE;
    int i, ret;

    if (!read_only) {
        perm |= PERM_WRITE | PERM_RESIZE;
    }
    for (i = 0; i < PERM_BITS; i++) {
        if (perm & (1u << i)) {
            ret = lock_byte(fd, F_RDLCK, LOCK_PERM_BASE + i);
            if (ret < 0) {
                goto fail;
            }
        }
        if (unshared & (1u << i)) {
            ret = lock_byte(fd, F_RDLCK, LOCK_SHARED_BASE + i);
            if (ret < 0) {
                goto fail;
            }
        }
    }
    for (i = 0; i < PERM_BITS; i++) {
        if (perm & (1u << i)) {
            ret = lock_test(fd, LOCK_SHARED_BASE + i);
            if (ret != 0) {
                goto fail;
            }
        }
        if (unshared & (1u << i)) {
            ret = lock_test(fd, LOCK_PERM_BASE + i);
            if (ret != 0) {
                goto fail;
            }
        }
    }
    return 1;
fail:
    if (ret == -EINVAL || ret == -ENOTSUP || ret == -ENOLCK) {
        /* The filesystem has no OFD locks: run unlocked, as QEMU warns. */
        return 0;
    }
    return err_set(err, -EBUSY,
                   "Failed to get \"%s\" lock: Is another process using the "
                   "image [%s]?",
                   perm_names[i < PERM_BITS ? i : 1], name);
}

static int image_lock(struct qcow2_image *img, struct err *err)
{
    int ret;

    if (img->flags & QCOW2_OPEN_FORCE_SHARE) {
        return 0;
    }
    ret = lock_fd(img->fd, img->read_only, img->filename, err);
    if (ret < 0) {
        return ret;
    }
    img->locked = ret == 1;
    return 0;
}

/* Open @path for creation: lock it like a writer before truncating, so an
 * image in use by QEMU or another handle is never clobbered. */
static int create_open(const char *path, struct err *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    int ret;

    if (fd < 0) {
        return err_set(err, -errno, "Could not create '%s': %s", path,
                       strerror(errno));
    }
    ret = lock_fd(fd, false, path, err);
    if (ret < 0) {
        close(fd);
        return ret;
    }
    if (ftruncate(fd, 0) < 0) {
        ret = err_set(err, -errno, "Could not truncate '%s': %s", path,
                      strerror(errno));
        close(fd);
        return ret;
    }
    return fd;
}

/* ---- header ---- */

static void feature_names_for(const struct qcow2_image *img, uint64_t mask,
                              char *dst, size_t cap)
{
    size_t used = 0;
    uint64_t left = mask;
    uint32_t off;

    dst[0] = '\0';
    for (off = 0; img->feature_table &&
                  off + FEATURE_ENTRY_LEN <= img->feature_table_len;
         off += FEATURE_ENTRY_LEN) {
        const uint8_t *e = img->feature_table + off;
        char name[47];

        if (e[0] != 0 || e[1] >= 64 || !(left & (1ull << e[1]))) {
            continue;
        }
        memcpy(name, e + 2, 46);
        name[46] = '\0';
        used += (size_t)snprintf(dst + used, used < cap ? cap - used : 0,
                                 "%s%s", used ? ", " : "", name);
        left &= ~(1ull << e[1]);
        if (used >= cap) {
            return;
        }
    }
    if (left) {
        snprintf(dst + used, used < cap ? cap - used : 0,
                 "%sUnknown incompatible feature: %" PRIx64, used ? ", " : "",
                 left);
    }
}

static int ext_add(uint8_t *buf, size_t cap, size_t *pos, uint32_t magic,
                   const void *data, uint32_t len)
{
    size_t padded = ((size_t)len + 7) & ~(size_t)7;

    if (*pos + 8 + padded > cap) {
        return -1;
    }
    wr_be32(buf + *pos, magic);
    wr_be32(buf + *pos + 4, len);
    if (len) {
        memcpy(buf + *pos + 8, data, len);
    }
    memset(buf + *pos + 8 + len, 0, padded - len);
    *pos += 8 + padded;
    return 0;
}

/* Serialise the header cluster into @buf (cluster_size bytes). */
static int header_serialise(struct qcow2_image *img, uint8_t *buf,
                            struct err *err)
{
    const struct qcow2_header *h = &img->hdr;
    size_t cap = img->cluster_size;
    size_t pos;
    uint32_t hlen;

    memset(buf, 0, cap);
    wr_be32(buf + 0, QCOW2_MAGIC);
    wr_be32(buf + 4, h->version);
    wr_be32(buf + 20, img->cluster_bits);
    wr_be64(buf + 24, img->size);
    wr_be32(buf + 32, h->crypt_method);
    wr_be32(buf + 36, img->l1_size);
    wr_be64(buf + 40, h->l1_table_offset);
    wr_be64(buf + 48, h->refcount_table_offset);
    wr_be32(buf + 56, h->refcount_table_clusters);
    wr_be32(buf + 60, h->nb_snapshots);
    wr_be64(buf + 64, h->snapshots_offset);
    if (h->version >= 3) {
        hlen = h->header_length < QCOW2_DEFAULT_HDR_LEN ? QCOW2_DEFAULT_HDR_LEN
                                                        : h->header_length;
        wr_be64(buf + 72, h->incompatible_features);
        wr_be64(buf + 80, h->compatible_features);
        wr_be64(buf + 88, h->autoclear_features);
        wr_be32(buf + 96, h->refcount_order);
        wr_be32(buf + 100, hlen);
        buf[104] = h->compression_type;
        if (img->hdr_extra_len &&
            QCOW2_DEFAULT_HDR_LEN + img->hdr_extra_len <= hlen) {
            memcpy(buf + QCOW2_DEFAULT_HDR_LEN, img->hdr_extra,
                   img->hdr_extra_len);
        }
    } else {
        hlen = QCOW2_V2_HEADER_LEN;
    }
    pos = hlen;
    if (img->backing_fmt &&
        ext_add(buf, cap, &pos, QCOW2_EXT_BACKING_FMT, img->backing_fmt,
                (uint32_t)strlen(img->backing_fmt)) < 0) {
        goto too_big;
    }
    /* As QEMU: no feature table at 4 KiB clusters and below, where it
     * would crowd out the backing file name. */
    if (h->version >= 3 && img->cluster_size > 4096) {
        uint8_t ft[sizeof(feature_names) / sizeof(feature_names[0]) *
                   FEATURE_ENTRY_LEN];
        size_t i;

        memset(ft, 0, sizeof(ft));
        for (i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++) {
            ft[i * FEATURE_ENTRY_LEN] = feature_names[i].type;
            ft[i * FEATURE_ENTRY_LEN + 1] = feature_names[i].bit;
            memcpy(ft + i * FEATURE_ENTRY_LEN + 2, feature_names[i].name,
                   strlen(feature_names[i].name));
        }
        if (ext_add(buf, cap, &pos, QCOW2_EXT_FEATURE_NAME, ft,
                    (uint32_t)sizeof(ft)) < 0) {
            goto too_big;
        }
    }
    if (img->has_bitmaps_ext) {
        uint8_t b[24];
        wr_be32(b, img->nb_bitmaps);
        wr_be32(b + 4, 0);
        wr_be64(b + 8, img->bitmap_dir_size);
        wr_be64(b + 16, img->bitmap_dir_offset);
        if (ext_add(buf, cap, &pos, QCOW2_EXT_BITMAPS, b, 24) < 0) {
            goto too_big;
        }
    }
    for (size_t i = 0; i < img->nb_exts; i++) {
        if (ext_add(buf, cap, &pos, img->exts[i].magic, img->exts[i].data,
                    img->exts[i].len) < 0) {
            goto too_big;
        }
    }
    if (ext_add(buf, cap, &pos, QCOW2_EXT_END, NULL, 0) < 0) {
        goto too_big;
    }
    if (img->backing_file) {
        size_t bl = strlen(img->backing_file);
        if (pos + bl > cap) {
            goto too_big;
        }
        memcpy(buf + pos, img->backing_file, bl);
        wr_be64(buf + 8, pos);
        wr_be32(buf + 16, (uint32_t)bl);
        pos += bl;
    }
    img->header_ext_bytes = pos;
    return 0;
too_big:
    return err_set(err, -ENOSPC,
                   "header, extensions and backing name exceed one cluster");
}

int qcow2_header_write(struct qcow2_image *img, struct err *err)
{
    uint8_t *buf = mem_alloc(img->cluster_size);
    int ret;

    if (!buf) {
        return err_set(err, -ENOMEM, "header buffer");
    }
    ret = header_serialise(img, buf, err);
    if (ret == 0) {
        ret = qcow2_io_pwrite(img, 0, buf, img->cluster_size, err);
        if (ret < 0) {
            img->sticky_err = ret;
        }
    }
    if (ret == 0) {
        img->header_dirty = false;
    }
    mem_free(buf);
    return ret;
}

int qcow2_signal_corruption(struct qcow2_image *img, struct err *err,
                            const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (img->flags & QCOW2_OPEN_CHECK) {
        return err_set(err, -EBADMSG, "%s", msg);
    }
    if (!img->read_only && img->sticky_err == 0 &&
        !(img->hdr.incompatible_features & QCOW2_INCOMPAT_CORRUPT)) {
        uint8_t b[8];
        img->hdr.incompatible_features |= QCOW2_INCOMPAT_CORRUPT;
        wr_be64(b, img->hdr.incompatible_features);
        /* Only the feature word: the rest of the header may be suspect. */
        if (img->hdr.version >= 3) {
            (void)qcow2_io_pwrite(img, 72, b, 8, NULL);
            (void)qcow2_sync(img, NULL);
        }
    }
    if (img->sticky_err == 0) {
        img->sticky_err = -EIO;
    }
    log_debug("qcow2: %s: marking image as corrupt: %s", img->filename, msg);
    return err_set(err, -EIO, "Marking image as corrupt: %s", msg);
}

/* Parse header extensions in [start, end) of cluster 0. */
static int ext_parse(struct qcow2_image *img, const uint8_t *buf,
                     uint64_t start, uint64_t end, struct err *err)
{
    uint64_t off = start;
    bool seen_bfmt = false;

    while (off < end) {
        uint32_t magic, len;

        if (end - off < 8) {
            return err_set(err, -EBADMSG, "header extension truncated");
        }
        magic = rd_be32(buf + off);
        len = rd_be32(buf + off + 4);
        off += 8;
        if (len > end - off) {
            return err_set(err, -EBADMSG,
                           "header extension %#x: length %u too large", magic,
                           len);
        }
        switch (magic) {
        case QCOW2_EXT_END:
            return 0;
        case QCOW2_EXT_BACKING_FMT:
            if (len > BACKING_FMT_MAX || seen_bfmt) {
                return err_set(err, -EBADMSG,
                               "backing format extension: length %u", len);
            }
            img->backing_fmt = mem_calloc(1, len + 1);
            if (!img->backing_fmt) {
                return err_set(err, -ENOMEM, "backing format");
            }
            memcpy(img->backing_fmt, buf + off, len);
            seen_bfmt = true;
            break;
        case QCOW2_EXT_FEATURE_NAME:
            mem_free(img->feature_table);
            img->feature_table = mem_alloc(len ? len : 1);
            if (!img->feature_table) {
                return err_set(err, -ENOMEM, "feature table");
            }
            memcpy(img->feature_table, buf + off, len);
            img->feature_table_len = len;
            break;
        case QCOW2_EXT_CRYPTO:
            if (img->hdr.crypt_method != 2) {
                return err_set(err, -EBADMSG,
                               "crypto header extension without LUKS "
                               "encryption");
            }
            break;
        case QCOW2_EXT_BITMAPS: {
            uint32_t nb;
            uint64_t dsize, doff;

            if (len != 24) {
                return err_set(err, -EBADMSG, "bitmaps extension: length %u",
                               len);
            }
            if (!(img->hdr.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS)) {
                /* Stale: a bitmap-unaware writer cleared the bit. Dropped
                 * (with its clusters leaked) like QEMU does. */
                break;
            }
            nb = rd_be32(buf + off);
            dsize = rd_be64(buf + off + 8);
            doff = rd_be64(buf + off + 16);
            if (nb == 0 || nb > BITMAP_MAX_COUNT) {
                return err_set(err, -EBADMSG, "bad bitmap count %u", nb);
            }
            if (dsize == 0 || dsize > BITMAP_DIR_MAX_BYTES) {
                return err_set(err, -ERANGE, "bitmap directory size %" PRIu64,
                               dsize);
            }
            if (doff == 0 || qcow2_offset_into_cluster(img, doff) ||
                doff > QCOW2_MAX_HOST_OFFSET) {
                return err_set(err, -EBADMSG,
                               "bitmap directory offset %#" PRIx64, doff);
            }
            img->has_bitmaps_ext = true;
            img->nb_bitmaps = nb;
            img->bitmap_dir_size = dsize;
            img->bitmap_dir_offset = doff;
            break;
        }
        case QCOW2_EXT_DATA_FILE:
            mem_free(img->data_file);
            img->data_file = mem_calloc(1, (size_t)len + 1);
            if (!img->data_file) {
                return err_set(err, -ENOMEM, "data file name");
            }
            memcpy(img->data_file, buf + off, len);
            break;
        default: {
            struct qcow2_ext *n =
                mem_realloc(img->exts, (img->nb_exts + 1) * sizeof(*n));
            if (!n) {
                return err_set(err, -ENOMEM, "header extension");
            }
            img->exts = n;
            n[img->nb_exts].magic = magic;
            n[img->nb_exts].len = len;
            n[img->nb_exts].data = mem_alloc(len ? len : 1);
            if (!n[img->nb_exts].data) {
                return err_set(err, -ENOMEM, "header extension");
            }
            memcpy(n[img->nb_exts].data, buf + off, len);
            img->nb_exts++;
            break;
        }
        }
        off += ((uint64_t)len + 7) & ~7ull;
    }
    return 0;
}

static int table_check(struct qcow2_image *img, uint64_t off, uint64_t entries,
                       uint64_t entry_len, uint64_t max_bytes, const char *what,
                       struct err *err)
{
    if (max_bytes && entries > max_bytes / entry_len) {
        return err_set(err, -ERANGE, "%s too large", what);
    }
    if (qcow2_offset_into_cluster(img, off)) {
        return err_set(err, -EBADMSG, "Invalid %s offset %#" PRIx64, what, off);
    }
    if (entries && (off > QCOW2_MAX_HOST_OFFSET ||
                    entries * entry_len > QCOW2_MAX_HOST_OFFSET - off)) {
        return err_set(err, -EBADMSG, "%s offset %#" PRIx64 " too large", what,
                       off);
    }
    return 0;
}

/* Read and validate cluster 0. */
static int header_load(struct qcow2_image *img, struct err *err)
{
    struct qcow2_header *h = &img->hdr;
    uint8_t first[QCOW2_DEFAULT_HDR_LEN];
    uint8_t *buf = NULL;
    uint64_t ext_end, cs, l1_need;
    size_t got;
    ssize_t n;
    int ret;

    memset(first, 0, sizeof(first));
    n = qcow2_io_pread_some(img, first, sizeof(first), 0);
    if (n < 0) {
        return err_set(err, (int)n, "reading header: %s", strerror((int)-n));
    }
    if (n < QCOW2_V2_HEADER_LEN || rd_be32(first) != QCOW2_MAGIC) {
        return err_set(err, -EBADMSG, "Image is not in qcow2 format");
    }
    h->magic = QCOW2_MAGIC;
    h->version = rd_be32(first + 4);
    h->backing_file_offset = rd_be64(first + 8);
    h->backing_file_size = rd_be32(first + 16);
    h->cluster_bits = rd_be32(first + 20);
    h->size = rd_be64(first + 24);
    h->crypt_method = rd_be32(first + 32);
    h->l1_size = rd_be32(first + 36);
    h->l1_table_offset = rd_be64(first + 40);
    h->refcount_table_offset = rd_be64(first + 48);
    h->refcount_table_clusters = rd_be32(first + 56);
    h->nb_snapshots = rd_be32(first + 60);
    h->snapshots_offset = rd_be64(first + 64);
    if (h->version != 2 && h->version != 3) {
        return err_set(err, -ENOTSUP, "Unsupported qcow2 version %" PRIu32,
                       h->version);
    }
    if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
        h->cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
        return err_set(err, -EBADMSG, "Unsupported cluster size: 2^%" PRIu32,
                       h->cluster_bits);
    }
    cs = 1ull << h->cluster_bits;
    img->cluster_bits = h->cluster_bits;
    img->cluster_size = cs;
    if (h->version == 2) {
        h->refcount_order = 4;
        h->header_length = QCOW2_V2_HEADER_LEN;
    } else {
        if (n < QCOW2_V3_HEADER_LEN) {
            return err_set(err, -EBADMSG, "qcow2 header too short");
        }
        h->incompatible_features = rd_be64(first + 72);
        h->compatible_features = rd_be64(first + 80);
        h->autoclear_features = rd_be64(first + 88);
        h->refcount_order = rd_be32(first + 96);
        h->header_length = rd_be32(first + 100);
        if (h->header_length < QCOW2_V3_HEADER_LEN) {
            return err_set(err, -EBADMSG, "qcow2 header too short");
        }
        if (h->header_length > cs) {
            return err_set(err, -EBADMSG, "qcow2 header exceeds cluster size");
        }
        if (h->header_length % 8) {
            return err_set(err, -EBADMSG,
                           "qcow2 header length %" PRIu32
                           " not a multiple of 8",
                           h->header_length);
        }
        if (h->header_length > QCOW2_V3_HEADER_LEN) {
            h->compression_type = first[104];
        }
    }
    if (h->refcount_order > 6) {
        return err_set(err, -EBADMSG,
                       "Reference count entry width too large; may not "
                       "exceed 64 bits");
    }
    if (h->backing_file_offset > cs ||
        (h->backing_file_offset &&
         h->backing_file_size > cs - h->backing_file_offset)) {
        return err_set(err, -EBADMSG, "Invalid backing file offset");
    }
    if (h->backing_file_size > QCOW2_MAX_BACKING_NAME) {
        return err_set(err, -ERANGE, "Backing file name too long");
    }
    /* Cluster 0 in full (a short file is padded with zeros). */
    buf = mem_calloc(1, cs);
    if (!buf) {
        return err_set(err, -ENOMEM, "header cluster");
    }
    n = qcow2_io_pread_some(img, buf, cs, 0);
    if (n < 0) {
        ret = err_set(err, (int)n, "reading header: %s", strerror((int)-n));
        goto out;
    }
    got = (size_t)n;
    if (h->version >= 3 && got < h->header_length) {
        ret = err_set(err, -EBADMSG, "qcow2 header truncated");
        goto out;
    }
    if (h->version >= 3 && h->header_length > QCOW2_DEFAULT_HDR_LEN) {
        img->hdr_extra_len = h->header_length - QCOW2_DEFAULT_HDR_LEN;
        img->hdr_extra = mem_alloc(img->hdr_extra_len);
        if (!img->hdr_extra) {
            ret = err_set(err, -ENOMEM, "header");
            goto out;
        }
        memcpy(img->hdr_extra, buf + QCOW2_DEFAULT_HDR_LEN, img->hdr_extra_len);
    }
    ext_end = h->backing_file_offset ? h->backing_file_offset : cs;
    if (ext_end > h->header_length) {
        ret = ext_parse(img, buf, h->header_length, ext_end, err);
        if (ret < 0) {
            goto out;
        }
    }
    if (h->incompatible_features & ~QCOW2_INCOMPAT_KNOWN) {
        char names[180];
        feature_names_for(img, h->incompatible_features & ~QCOW2_INCOMPAT_KNOWN,
                          names, sizeof(names));
        ret = err_set(err, -ENOTSUP, "Unsupported qcow2 feature(s): %s", names);
        goto out;
    }
    if (h->crypt_method != 0) {
        ret = err_set(err, h->crypt_method > 2 ? -EBADMSG : -ENOTSUP,
                      h->crypt_method > 2
                          ? "Unsupported encryption method: %" PRIu32
                          : "Encrypted images are not supported (method "
                            "%" PRIu32 ")",
                      h->crypt_method);
        goto out;
    }
    if (h->incompatible_features & QCOW2_INCOMPAT_DATA_FILE) {
        ret = err_set(err, -ENOTSUP, "External data files are not supported");
        goto out;
    }
    if (h->compression_type > QCOW2_COMPRESSION_ZSTD) {
        ret = err_set(err, -ENOTSUP, "Unknown compression type %u",
                      h->compression_type);
        goto out;
    }
    if (!!(h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION) !=
        (h->compression_type != 0)) {
        ret = err_set(err, -EBADMSG,
                      "Compression type incompatible feature bit must %sbe "
                      "set",
                      h->compression_type ? "" : "not ");
        goto out;
    }
    img->extended_l2 = h->incompatible_features & QCOW2_INCOMPAT_EXTL2;
    if (img->extended_l2 && h->cluster_bits < 14) {
        ret = err_set(err, -EBADMSG,
                      "Extended L2 entries are only supported with cluster "
                      "sizes of at least 16384 bytes");
        goto out;
    }
    img->l2_entry_size = img->extended_l2 ? 16 : 8;
    img->l2_bits = h->cluster_bits - (img->extended_l2 ? 4 : 3);
    img->l2_size = 1ull << img->l2_bits;
    img->subcluster_bits =
        img->extended_l2 ? h->cluster_bits - 5 : h->cluster_bits;
    ret =
        table_check(img, h->refcount_table_offset,
                    (uint64_t)h->refcount_table_clusters << h->cluster_bits, 1,
                    QCOW2_MAX_REFTABLE_BYTES, "reference count table", err);
    if (ret < 0) {
        goto out;
    }
    if (h->refcount_table_clusters == 0) {
        ret = err_set(err, -EBADMSG,
                      "Image does not contain a reference "
                      "count table");
        goto out;
    }
    /* In check mode qcow2_check() reads and reports the snapshot table. */
    if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS &&
        !(img->flags & QCOW2_OPEN_CHECK)) {
        ret = err_set(err, -ERANGE, "Too many snapshots");
        goto out;
    }
    ret = table_check(img, h->snapshots_offset, h->nb_snapshots, 40, 0,
                      "snapshot table", err);
    if (ret < 0) {
        if (!(img->flags & QCOW2_OPEN_CHECK)) {
            goto out;
        }
        err_clear(err);
        ret = 0;
    }
    if (h->l1_size > QCOW2_MAX_L1_BYTES / 8) {
        ret = err_set(err, -ERANGE, "Active L1 table too large");
        goto out;
    }
    ret =
        table_check(img, h->l1_table_offset, h->l1_size, 8, 0, "L1 table", err);
    if (ret < 0) {
        goto out;
    }
    if (h->size > (1ull << 62)) {
        ret = err_set(err, -ERANGE, "Image is too big");
        goto out;
    }
    img->size = h->size;
    l1_need = qcow2_size_to_l1(img, h->size);
    if (l1_need > QCOW2_MAX_L1_BYTES / 8) {
        ret = err_set(err, -ERANGE, "Image is too big");
        goto out;
    }
    if (h->l1_size < l1_need) {
        ret = err_set(err, -EBADMSG, "L1 table is too small");
        goto out;
    }
    if (h->backing_file_offset && h->backing_file_size) {
        img->backing_file = mem_calloc(1, h->backing_file_size + 1);
        if (!img->backing_file) {
            ret = err_set(err, -ENOMEM, "backing file name");
            goto out;
        }
        memcpy(img->backing_file, buf + h->backing_file_offset,
               h->backing_file_size);
    }
    img->l1_size = h->l1_size;
    img->vm_state_offset = l1_need << (img->cluster_bits + img->l2_bits);
    ret = 0;
out:
    mem_free(buf);
    return ret;
}

static int l1_load_active(struct qcow2_image *img, struct err *err)
{
    uint64_t bytes = (uint64_t)img->l1_size * 8;
    uint32_t i;
    int ret;

    img->l1_table = mem_calloc(img->l1_size ? img->l1_size : 1, 8);
    if (!img->l1_table) {
        return err_set(err, -ENOMEM, "L1 table");
    }
    if (!bytes) {
        return 0;
    }
    ret = qcow2_io_pread(img, img->hdr.l1_table_offset, img->l1_table,
                         (size_t)bytes, err);
    if (ret < 0) {
        err_prefix(err, "L1 table");
        return ret;
    }
    for (i = 0; i < img->l1_size; i++) {
        img->l1_table[i] = rd_be64(&img->l1_table[i]);
    }
    return 0;
}

int qcow2_l1_write(struct qcow2_image *img, uint32_t first, uint32_t count,
                   struct err *err)
{
    uint8_t *buf;
    uint32_t i;
    uint64_t off = img->hdr.l1_table_offset + (uint64_t)first * 8;
    int ret;

    if ((uint64_t)first + count > img->l1_size) {
        return err_set(err, -EINVAL, "L1 write out of range");
    }
    if (count == 0) {
        return 0;
    }
    buf = mem_alloc((size_t)count * 8);
    if (!buf) {
        return err_set(err, -ENOMEM, "L1 write");
    }
    for (i = 0; i < count; i++) {
        wr_be64(buf + 8 * i, img->l1_table[first + i]);
    }
    ret = qcow2_pre_write_check(img, QCOW2_OL_ACTIVE_L1, off,
                                (uint64_t)count * 8, err);
    if (ret == 0) {
        ret = qcow2_io_pwrite(img, off, buf, (size_t)count * 8, err);
        if (ret < 0) {
            img->sticky_err = ret;
        }
    }
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    mem_free(buf);
    return ret;
}

/* Move the active L1 to a new table of @new_size entries. */
static int l1_resize_to(struct qcow2_image *img, uint64_t new_size,
                        struct err *err)
{
    uint64_t bytes = new_size * 8;
    uint64_t old_off = img->hdr.l1_table_offset;
    uint64_t old_bytes = (uint64_t)img->l1_size * 8;
    uint64_t *nt;
    uint8_t *buf;
    int64_t off;
    uint64_t i;
    int ret;

    if (new_size > QCOW2_MAX_L1_BYTES / 8) {
        return err_set(err, -EFBIG, "L1 table would exceed %u bytes",
                       QCOW2_MAX_L1_BYTES);
    }
    nt = mem_calloc(new_size ? new_size : 1, 8);
    buf = mem_calloc(1, bytes ? bytes : 8);
    if (!nt || !buf) {
        mem_free(nt);
        mem_free(buf);
        return err_set(err, -ENOMEM, "L1 table");
    }
    memcpy(nt, img->l1_table,
           (img->l1_size < new_size ? img->l1_size : new_size) * 8);
    /* Table clusters referenced by the L2s must reach the disk first. */
    ret = qcow2_metadata_flush(img, err);
    if (ret < 0) {
        goto fail;
    }
    off = qcow2_cluster_alloc(img, qcow2_size_to_clusters(img, bytes), err);
    if (off < 0) {
        ret = (int)off;
        goto fail;
    }
    ret = qcow2_cache_flush(img->refcount_cache, err);
    if (ret < 0) {
        goto fail;
    }
    for (i = 0; i < new_size; i++) {
        wr_be64(buf + 8 * i, nt[i]);
    }
    ret = qcow2_pre_write_check(img, 0, (uint64_t)off, bytes, err);
    if (ret == 0) {
        ret = qcow2_io_pwrite(img, (uint64_t)off, buf, bytes, err);
    }
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    if (ret < 0) {
        goto fail;
    }
    mem_free(buf);
    mem_free(img->l1_table);
    img->l1_table = nt;
    img->l1_size = (uint32_t)new_size;
    img->hdr.l1_size = (uint32_t)new_size;
    img->hdr.l1_table_offset = (uint64_t)off;
    ret = qcow2_header_write(img, err);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    if (ret < 0) {
        img->sticky_err = ret;
        return ret;
    }
    if (old_bytes && old_off) {
        ret = qcow2_cluster_free(
            img, old_off,
            qcow2_size_to_clusters(img, old_bytes) << img->cluster_bits, err);
    }
    return ret;
fail:
    mem_free(nt);
    mem_free(buf);
    return ret;
}

int qcow2_l1_grow(struct qcow2_image *img, uint64_t min_size, struct err *err)
{
    uint64_t n = img->l1_size ? img->l1_size : 1;

    if (min_size <= img->l1_size) {
        return 0;
    }
    while (n < min_size) {
        n = (n * 3 + 1) / 2;
    }
    if (n > QCOW2_MAX_L1_BYTES / 8) {
        n = QCOW2_MAX_L1_BYTES / 8;
    }
    if (n < min_size) {
        return err_set(err, -EFBIG, "L1 table would exceed %u bytes",
                       QCOW2_MAX_L1_BYTES);
    }
    return l1_resize_to(img, n, err);
}

int qcow2_metadata_flush(struct qcow2_image *img, struct err *err)
{
    int ret;

    if (img->format != QCOW2_FORMAT_QCOW2 || img->read_only) {
        return 0;
    }
    ret = qcow2_frees_settle(img, err);
    if (ret == 0) {
        ret = qcow2_cache_flush(img->l2_cache, err);
    }
    if (ret == 0) {
        ret = qcow2_cache_flush(img->refcount_cache, err);
    }
    if (ret == 0) {
        img->freed_min = UINT64_MAX;
    }
    if (ret == 0 && img->header_dirty) {
        ret = qcow2_header_write(img, err);
    }
    return ret;
}

int qcow2_flush(struct qcow2_image *img, struct err *err)
{
    int ret;

    CHECK_ARG(img);
    if (img->read_only) {
        return 0;
    }
    if (img->sticky_err < 0) {
        return err_set(err, img->sticky_err,
                       "image is in an error state after a failed write");
    }
    ret = qcow2_metadata_flush(img, err);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    return ret;
}

/* The bitmap directory (bitmap_dir_size bytes, bounded at open) in a new
 * buffer for the caller to mem_free(). */
static int bitmap_dir_read(struct qcow2_image *img, uint8_t **out,
                           struct err *err)
{
    uint8_t *dir = mem_alloc(img->bitmap_dir_size);
    int ret;

    if (!dir) {
        return err_set(err, -ENOMEM, "bitmap directory");
    }
    ret = qcow2_io_pread(img, img->bitmap_dir_offset, dir, img->bitmap_dir_size,
                         err);
    if (ret < 0) {
        mem_free(dir);
        return ret;
    }
    *out = dir;
    return 0;
}

int qcow2_bitmap_list(struct qcow2_image *img, struct qcow2_bitmap_info *out,
                      size_t cap, size_t *nb, struct err *err)
{
    uint8_t *dir = NULL;
    uint64_t off = 0;
    size_t n = 0;
    int ret;

    CHECK_ARG(img && nb && (out || !cap));
    *nb = 0;
    if (!img->has_bitmaps_ext) {
        return 0;
    }
    ret = bitmap_dir_read(img, &dir, err);
    if (ret < 0) {
        return ret;
    }
    while (n < img->nb_bitmaps) {
        uint32_t extra, flags;
        uint16_t name_len;
        unsigned gbits;
        uint64_t len;

        if (off + 24 > img->bitmap_dir_size) {
            ret = err_set(err, -EBADMSG, "bitmap directory is truncated");
            break;
        }
        flags = rd_be32(dir + off + 12);
        gbits = dir[off + 17];
        name_len = rd_be16(dir + off + 18);
        extra = rd_be32(dir + off + 20);
        len = 24 + (uint64_t)extra + name_len;
        if (name_len == 0 || name_len > QCOW2_MAX_BITMAP_NAME || gbits > 63 ||
            off + len > img->bitmap_dir_size) {
            ret = err_set(err, -EBADMSG, "bad bitmap directory entry %zu", n);
            break;
        }
        if (n < cap) {
            memcpy(out[n].name, dir + off + 24 + extra, name_len);
            out[n].name[name_len] = '\0';
            out[n].flags = flags;
            out[n].granularity = 1ull << gbits;
        }
        n++;
        off += (len + 7) & ~7ull;
    }
    mem_free(dir);
    if (ret == 0) {
        *nb = n;
    }
    return ret;
}

/* Set the in-use flag of every bitmap before our first write: we do not
 * track dirty bits, so the bitmaps become inconsistent (as after a crash of
 * QEMU) while their clusters stay allocated and counted. */
static int bitmaps_mark_in_use(struct qcow2_image *img, struct err *err)
{
    uint8_t *dir;
    uint64_t off = 0;
    int ret;

    if (!img->has_bitmaps_ext) {
        return 0;
    }
    ret = bitmap_dir_read(img, &dir, err);
    if (ret < 0) {
        return ret;
    }
    while (off + 24 <= img->bitmap_dir_size) {
        uint32_t flags = rd_be32(dir + off + 12);
        uint16_t name = rd_be16(dir + off + 18);
        uint32_t extra = rd_be32(dir + off + 20);
        uint64_t len = (24 + (uint64_t)extra + name + 7) & ~7ull;

        wr_be32(dir + off + 12, flags | 1u);
        off += len;
    }
    ret = qcow2_io_pwrite(img, img->bitmap_dir_offset, dir,
                          img->bitmap_dir_size, err);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    mem_free(dir);
    return ret;
}

/* ---- open/close ---- */

static void image_free(struct qcow2_image *img)
{
    size_t i;

    if (!img) {
        return;
    }
    qcow2_snapshots_free(img);
    mem_free(img->deferred_free);
    qcow2_cache_free(img->l2_cache);
    qcow2_cache_free(img->refcount_cache);
    qcow2_cluster_fini(img);
    if (img->backing) {
        qcow2_close(img->backing);
    }
    if (img->fd >= 0) {
        close(img->fd);
    }
    for (i = 0; i < img->nb_exts; i++) {
        mem_free(img->exts[i].data);
    }
    mem_free(img->exts);
    mem_free(img->l1_table);
    mem_free(img->refcount_table);
    mem_free(img->backing_file);
    mem_free(img->backing_fmt);
    mem_free(img->full_backing_filename);
    mem_free(img->data_file);
    mem_free(img->hdr_extra);
    mem_free(img->feature_table);
    mem_free(img->scratch);
    mem_free(img->filename);
    mem_free(img);
}

/* Resolve @name relative to the directory of @base, as QEMU's
 * bdrv_get_full_backing_filename does. */
static char *path_combine(const char *base, const char *name)
{
    const char *slash;
    size_t dl;
    char *out;

    if (name[0] == '/') {
        return mem_strdup(name);
    }
    slash = strrchr(base, '/');
    dl = slash ? (size_t)(slash - base) + 1 : 0;
    out = mem_alloc(dl + strlen(name) + 1);
    if (!out) {
        return NULL;
    }
    memcpy(out, base, dl);
    strcpy(out + dl, name);
    return out;
}

static int probe_fd(int fd, enum qcow2_format *out)
{
    uint8_t m[4];
    ssize_t n = pread(fd, m, 4, 0);

    if (n < 0) {
        return -errno;
    }
    *out = (n == 4 && rd_be32(m) == QCOW2_MAGIC) ? QCOW2_FORMAT_QCOW2
                                                 : QCOW2_FORMAT_RAW;
    return 0;
}

int qcow2_probe(const char *path, enum qcow2_format *out, struct err *err)
{
    int fd, ret;

    CHECK_ARG(path && out);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return err_set(err, -errno, "Could not open '%s': %s", path,
                       strerror(errno));
    }
    ret = probe_fd(fd, out);
    close(fd);
    if (ret < 0) {
        return err_set(err, ret, "%s: read failed", path);
    }
    return 0;
}

static int backing_open(struct qcow2_image *img, int depth, struct err *err)
{
    enum qcow2_format fmt = QCOW2_FORMAT_RAW;
    unsigned flags;
    int ret;

    if (!img->backing_file || !img->backing_file[0]) {
        return 0;
    }
    if (strncmp(img->backing_file, "json:", 5) == 0) {
        return err_set(err, -ENOTSUP,
                       "backing file '%s': json: names are not supported",
                       img->backing_file);
    }
    img->full_backing_filename = path_combine(img->filename, img->backing_file);
    if (!img->full_backing_filename) {
        return err_set(err, -ENOMEM, "backing file name");
    }
    if (img->flags & QCOW2_OPEN_NO_BACKING) {
        return 0;
    }
    if (depth + 1 >= QCOW2_MAX_BACKING_DEPTH) {
        return err_set(err, -ELOOP,
                       "backing chain deeper than %d (loop?) at '%s'",
                       QCOW2_MAX_BACKING_DEPTH, img->backing_file);
    }
    if (img->backing_fmt) {
        if (strcmp(img->backing_fmt, "qcow2") == 0) {
            fmt = QCOW2_FORMAT_QCOW2;
        } else if (strcmp(img->backing_fmt, "raw") == 0 ||
                   strcmp(img->backing_fmt, "file") == 0) {
            fmt = QCOW2_FORMAT_RAW;
        } else {
            return err_set(err, -ENOTSUP,
                           "backing file '%s': unsupported format '%s'",
                           img->backing_file, img->backing_fmt);
        }
    } else {
        ret = qcow2_probe(img->full_backing_filename, &fmt, err);
        if (ret < 0) {
            return ret;
        }
    }
    flags = QCOW2_OPEN_RDONLY |
            (img->flags &
             (QCOW2_OPEN_FORCE_SHARE | QCOW2_OPEN_NOCACHE | QCOW2_OPEN_UNSAFE));
    ret = open_depth(img->full_backing_filename, fmt, flags, depth + 1,
                     &img->backing, err);
    if (ret < 0) {
        err_prefix(err, "Could not open backing file");
    }
    return ret;
}

static size_t cache_entries(const struct qcow2_image *img, uint64_t budget,
                            size_t min)
{
    uint64_t n = budget >> img->cluster_bits;

    if (n < min) {
        n = min;
    }
    return (size_t)n;
}

static int qcow2_open_file(struct qcow2_image *img, int depth, struct err *err)
{
    int ret;

    ret = header_load(img, err);
    if (ret < 0) {
        return ret;
    }
    if (img->hdr.incompatible_features & QCOW2_INCOMPAT_CORRUPT) {
        if (!img->read_only && !(img->flags & QCOW2_OPEN_CHECK)) {
            return err_set(err, -EPERM,
                           "qcow2: Image is corrupt; cannot be opened "
                           "read/write");
        }
    }
    /*
     * L2 cache: 4 MiB of tables (maps 32 GiB of guest data at 64 KiB
     * clusters), at least 4 tables; refcount cache a quarter of that.
     * Backing files are read-only and usually cold: a quarter again.
     */
    {
        uint64_t l2_budget = depth ? 1u << 20 : 4u << 20;
        uint64_t rc_budget = depth ? 256u << 10 : 1u << 20;

        ret = qcow2_cache_new(img, cache_entries(img, l2_budget, 4),
                              &img->l2_cache);
        if (ret == 0) {
            ret = qcow2_cache_new(img, cache_entries(img, rc_budget, 4),
                                  &img->refcount_cache);
        }
    }
    if (ret < 0) {
        return err_set(err, ret, "metadata caches");
    }
    qcow2_cache_set_kind(img->l2_cache, QCOW2_OL_ACTIVE_L2);
    qcow2_cache_set_kind(img->refcount_cache, QCOW2_OL_REFCOUNT_BLOCK);
    ret = qcow2_refcount_init(img, err);
    if (ret < 0) {
        return ret;
    }
    ret = l1_load_active(img, err);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_snapshots_load(img, err);
    if (ret < 0) {
        return ret;
    }
    ret = backing_open(img, depth, err);
    if (ret < 0) {
        return ret;
    }
    img->autoclear_done = false;
    if ((img->hdr.incompatible_features & QCOW2_INCOMPAT_DIRTY) &&
        !img->read_only &&
        !(img->flags & (QCOW2_OPEN_NO_REPAIR | QCOW2_OPEN_CHECK))) {
        ret = qcow2_rebuild_refcounts(img, err);
        if (ret < 0) {
            err_prefix(err, "repairing dirty image");
            return ret;
        }
        ret = qcow2_metadata_flush(img, err);
        if (ret == 0) {
            ret = qcow2_sync(img, err);
        }
        if (ret < 0) {
            return ret;
        }
        img->hdr.incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
        img->lazy_dirty = false;
        ret = qcow2_header_write(img, err);
        if (ret == 0) {
            ret = qcow2_sync(img, err);
        }
        if (ret < 0) {
            return ret;
        }
    } else if (img->hdr.incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        img->lazy_dirty = true;
    }
    if (!img->read_only && img->has_bitmaps_ext) {
        ret = bitmaps_mark_in_use(img, err);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

static int open_depth(const char *path, enum qcow2_format fmt, unsigned flags,
                      int depth, struct qcow2_image **out, struct err *err)
{
    struct qcow2_image *img;
    struct stat st;
    int oflags;
    int ret;

    CHECK_ARG(path && out);
    if ((flags & QCOW2_OPEN_FORCE_SHARE) && !(flags & QCOW2_OPEN_RDONLY)) {
        return err_set(err, -EINVAL,
                       "force-share is only allowed for read-only opens");
    }
    img = mem_calloc(1, sizeof(*img));
    if (!img) {
        return err_set(err, -ENOMEM, "image handle");
    }
    img->fd = -1;
    img->format = fmt;
    img->flags = flags;
    img->read_only = flags & QCOW2_OPEN_RDONLY;
    img->freed_min = UINT64_MAX;
    img->filename = mem_strdup(path);
    if (!img->filename) {
        ret = err_set(err, -ENOMEM, "image handle");
        goto fail;
    }
    oflags = (img->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    if (flags & QCOW2_OPEN_NOCACHE) {
        oflags |= O_DIRECT;
    }
    img->fd = open(path, oflags);
    if (img->fd < 0 && errno == EINVAL && (oflags & O_DIRECT)) {
        int fd = open(path, oflags & ~O_DIRECT);

        if (fd >= 0) {
            close(fd);
            ret = err_set(err, -EINVAL,
                          "Could not open '%s': filesystem does not support "
                          "O_DIRECT",
                          path);
            goto fail;
        }
        errno = EINVAL;
    }
    if (img->fd < 0) {
        ret = err_set(err, -errno, "Could not open '%s': %s", path,
                      strerror(errno));
        goto fail;
    }
    if (oflags & O_DIRECT) {
        img->dio_align = dio_probe_align(img->fd);
    }
    if (fstat(img->fd, &st) < 0) {
        ret = err_set(err, -errno, "stat '%s'", path);
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        ret = err_set(err, -EISDIR, "'%s' is a directory", path);
        goto fail;
    }
    img->file_size = (uint64_t)st.st_size;
    img->disk_end = img->file_size;
    ret = image_lock(img, err);
    if (ret < 0) {
        goto fail;
    }
    if (fmt == QCOW2_FORMAT_RAW) {
        /* QEMU sees a raw file in whole sectors: the tail reads as zero. */
        img->size = (img->file_size + 511) & ~511ull;
        img->cluster_size = 512;
        img->cluster_bits = 9;
    } else if (fmt == QCOW2_FORMAT_QCOW2) {
        ret = qcow2_open_file(img, depth, err);
        if (ret < 0) {
            err_prefix(err, "%s", path);
            goto fail;
        }
    } else {
        ret = err_set(err, -EINVAL, "unknown format %d", (int)fmt);
        goto fail;
    }
    *out = img;
    return 0;
fail:
    image_free(img);
    return ret;
}

int qcow2_open(const char *path, enum qcow2_format fmt, unsigned flags,
               struct qcow2_image **out, struct err *err)
{
    return open_depth(path, fmt, flags, 0, out, err);
}

int qcow2_close(struct qcow2_image *img)
{
    int ret = 0;

    if (!img) {
        return 0;
    }
    if (img->format == QCOW2_FORMAT_QCOW2 && !img->read_only &&
        img->sticky_err == 0) {
        ret = qcow2_metadata_flush(img, NULL);
        if (ret == 0 && img->lazy_dirty) {
            ret = qcow2_sync(img, NULL);
            if (ret == 0) {
                img->hdr.incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
                ret = qcow2_header_write(img, NULL);
            }
        }
        if (ret == 0) {
            ret = qcow2_sync(img, NULL);
        }
    } else if (img->format == QCOW2_FORMAT_RAW && !img->read_only) {
        ret = qcow2_sync(img, NULL);
    } else if (!img->read_only && img->sticky_err < 0) {
        ret = img->sticky_err; /* dirty metadata could not be written */
    }
    image_free(img);
    return ret;
}

/* ---- accessors ---- */

uint64_t qcow2_size(const struct qcow2_image *img)
{
    return img->size;
}

enum qcow2_format qcow2_format_of(const struct qcow2_image *img)
{
    return img->format;
}

uint32_t qcow2_cluster_size(const struct qcow2_image *img)
{
    return (uint32_t)img->cluster_size;
}

struct qcow2_image *qcow2_backing(struct qcow2_image *img)
{
    return img->backing;
}

const char *qcow2_filename(const struct qcow2_image *img)
{
    return img->filename;
}

void qcow2_get_info(struct qcow2_image *img, struct qcow2_info *out)
{
    struct stat st;

    memset(out, 0, sizeof(*out));
    out->format = img->format;
    out->virtual_size = img->size;
    if (fstat(img->fd, &st) == 0) {
        out->actual_size = (uint64_t)st.st_blocks * 512;
    }
    out->cluster_size = (uint32_t)img->cluster_size;
    if (img->format == QCOW2_FORMAT_RAW) {
        return;
    }
    out->version = (int)img->hdr.version;
    out->refcount_bits = img->refcount_bits;
    out->lazy_refcounts =
        img->hdr.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS;
    out->extended_l2 = img->extended_l2;
    out->corrupt = img->hdr.incompatible_features & QCOW2_INCOMPAT_CORRUPT;
    out->dirty = img->hdr.incompatible_features & QCOW2_INCOMPAT_DIRTY;
    out->compression_type = (enum qcow2_compression)img->hdr.compression_type;
    out->backing_file = img->backing_file;
    out->backing_fmt = img->backing_fmt;
    out->full_backing_filename = img->full_backing_filename;
    out->data_file = img->data_file;
    out->encrypted = img->hdr.crypt_method != 0;
    out->incompatible_features = img->hdr.incompatible_features;
    out->compatible_features = img->hdr.compatible_features;
    out->autoclear_features = img->hdr.autoclear_features;
    out->nb_snapshots = img->nb_snapshots;
}

/* ---- raw format ---- */

static int raw_read(struct qcow2_image *img, uint64_t off, uint8_t *dst,
                    size_t len, struct err *err)
{
    while (len > 0) {
        ssize_t n = qcow2_io_pread_some(img, dst, len, off);
        if (n < 0) {
            return err_set(err, -EIO, "read at %#" PRIx64 ": %s", off,
                           strerror((int)-n));
        }
        if (n == 0) {
            memset(dst, 0, len);
            return 0;
        }
        dst += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int qcow2_raw_write_zeroes(struct qcow2_image *img, uint64_t off, uint64_t len,
                           unsigned flags, struct err *err)
{
    int mode = (flags & QCOW2_ZERO_MAY_UNMAP)
                   ? (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
                   : FALLOC_FL_ZERO_RANGE;
    uint8_t *zero;
    int ret = 0;

    if (len == 0) {
        return 0;
    }
    if (fallocate(img->fd, mode, (off_t)off, (off_t)len) == 0 ||
        (mode != FALLOC_FL_ZERO_RANGE &&
         fallocate(img->fd, FALLOC_FL_ZERO_RANGE, (off_t)off, (off_t)len) ==
             0)) {
        IO_TRACE(img, QCOW2_IO_WRITE, off, NULL, 0);
        return 0;
    }
    zero = mem_calloc(1, 1u << 16);
    if (!zero) {
        return err_set(err, -ENOMEM, "zero buffer");
    }
    while (len > 0 && ret == 0) {
        size_t n = len > (1u << 16) ? (1u << 16) : (size_t)len;
        ret = qcow2_io_pwrite(img, off, zero, n, err);
        off += n;
        len -= n;
    }
    mem_free(zero);
    return ret;
}

int qcow2_raw_discard(struct qcow2_image *img, uint64_t off, uint64_t len,
                      struct err *err)
{
    if (len &&
        fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)off, (off_t)len) < 0 &&
        errno != EOPNOTSUPP) {
        return err_set(err, -errno, "discard: %s", strerror(errno));
    }
    return 0;
}

/*
 * Status of the host file bytes [off, off+len) of @img, as QEMU's file-posix
 * driver reports it with want_zero: SEEK_DATA/SEEK_HOLE tell data from
 * holes, and a failed probe counts as data. out->flags is DATA or ZERO, with
 * ALLOCATED and OFFSET (host_offset = off); out->length is the run. The file
 * length counts rounded up to 512 bytes (QEMU's sector-granular length); at
 * or past it out->length is 0. Returns 1 when the run ends at that length
 * (BDRV_BLOCK_EOF), 0 when it does not, or a negative errno.
 */
int qcow2_raw_block_status(struct qcow2_image *img, uint64_t off, uint64_t len,
                           struct qcow2_extent *out, struct err *err)
{
    struct stat st;
    uint64_t total;
    uint64_t n = len;
    bool zero = false;
    off_t d, h;

    memset(out, 0, sizeof(*out));
    out->file = img;
    if (fstat(img->fd, &st) < 0) {
        return err_set(err, -errno, "stat: %s", strerror(errno));
    }
    total = ((uint64_t)st.st_size + 511) & ~511ull;
    if (off >= total) {
        return 1;
    }
    if (len > total - off) {
        len = total - off;
        n = len;
    }
    d = lseek(img->fd, (off_t)off, SEEK_DATA);
    if (d < 0) {
        zero = errno == ENXIO; /* trailing hole; other errors: data */
    } else if ((uint64_t)d > off) {
        zero = true;
        n = (uint64_t)d - off;
    } else if ((uint64_t)d == off) {
        h = lseek(img->fd, (off_t)off, SEEK_HOLE);
        if (h > 0 && (uint64_t)h > off) {
            n = (uint64_t)h - off;
        }
    }
    if (n > len) {
        n = len;
    }
    out->flags = (zero ? QCOW2_BS_ZERO : QCOW2_BS_DATA) | QCOW2_BS_ALLOCATED |
                 QCOW2_BS_OFFSET;
    out->host_offset = off;
    out->length = n;
    return off + n == total;
}

/* ---- public read/write ---- */

int qcow2_read(struct qcow2_image *img, uint64_t off, void *dst, size_t len,
               struct err *err)
{
    CHECK_ARG(img && (dst || !len));
    if (off > img->size || len > img->size - off) {
        return err_set(err, -EINVAL,
                       "read of %zu bytes at %" PRIu64 " past the end (%" PRIu64
                       ")",
                       len, off, img->size);
    }
    if (img->format == QCOW2_FORMAT_RAW) {
        return raw_read(img, off, dst, len, err);
    }
    return qcow2_guest_read(img, off, dst, len, err);
}

int qcow2_write(struct qcow2_image *img, uint64_t off, const void *src,
                size_t len, struct err *err)
{
    int ret;

    CHECK_ARG(img && (src || !len));
    if (off > img->size || len > img->size - off) {
        return err_set(err, -EINVAL,
                       "write of %zu bytes at %" PRIu64
                       " past the end (%" PRIu64 ")",
                       len, off, img->size);
    }
    ret = qcow2_check_writable(img, err);
    if (ret < 0) {
        return ret;
    }
    if (len == 0) {
        return 0;
    }
    if (img->format == QCOW2_FORMAT_RAW) {
        return qcow2_io_pwrite(img, off, src, len, err);
    }
    return qcow2_guest_write(img, off, src, len, err);
}

/* ---- create ---- */

void qcow2_create_opts_init(struct qcow2_create_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->format = QCOW2_FORMAT_QCOW2;
    o->version = 3;
    o->cluster_size = 65536;
    o->refcount_bits = 16;
    o->compression_type = QCOW2_COMPRESSION_ZLIB;
    o->preallocation = QCOW2_PREALLOC_OFF;
}

static int ilog2_exact(uint64_t v)
{
    int b = 0;

    if (v == 0 || (v & (v - 1))) {
        return -1;
    }
    while ((1ull << b) != v) {
        b++;
    }
    return b;
}

static int create_validate(const struct qcow2_create_opts *o, int *cbits,
                           int *rorder, struct err *err)
{
    *cbits = ilog2_exact(o->cluster_size);
    *rorder = ilog2_exact(o->refcount_bits);
    if (o->version != 2 && o->version != 3) {
        return err_set(err, -EINVAL, "Invalid compatibility level");
    }
    if (*cbits < QCOW2_MIN_CLUSTER_BITS || *cbits > QCOW2_MAX_CLUSTER_BITS) {
        return err_set(err, -EINVAL,
                       "Cluster size must be a power of two between 512 "
                       "and 2048k");
    }
    if (*rorder < 0 || *rorder > 6) {
        return err_set(err, -EINVAL,
                       "Refcount width must be a power of two and may not "
                       "exceed 64 bits");
    }
    if (o->version < 3 && *rorder != 4) {
        return err_set(err, -EINVAL,
                       "Different refcount widths than 16 bits require "
                       "compatibility level 1.1 or above (use compat=1.1 or "
                       "greater)");
    }
    if (o->version < 3 && o->lazy_refcounts) {
        return err_set(err, -EINVAL,
                       "Lazy refcounts only supported with compatibility "
                       "level 1.1 and above (use compat=1.1 or greater)");
    }
    if (o->version < 3 && o->extended_l2) {
        return err_set(err, -EINVAL,
                       "Extended L2 entries are only supported with "
                       "compatibility level 1.1 and above (use compat=1.1 "
                       "or greater)");
    }
    if (o->extended_l2 && o->cluster_size < 16384) {
        return err_set(err, -EINVAL,
                       "Extended L2 entries are only supported with cluster "
                       "sizes of at least 16384 bytes");
    }
    if (o->compression_type != QCOW2_COMPRESSION_ZLIB &&
        o->compression_type != QCOW2_COMPRESSION_ZSTD) {
        return err_set(err, -EINVAL, "Unknown compression type");
    }
    if (o->version < 3 && o->compression_type != QCOW2_COMPRESSION_ZLIB) {
        return err_set(err, -EINVAL,
                       "Non-zlib compression type is only supported with "
                       "compatibility level 1.1 and above (use compat=1.1 "
                       "or greater)");
    }
    if (o->backing_fmt && !o->backing_file) {
        return err_set(err, -EINVAL,
                       "Backing format cannot be used without backing file");
    }
    if (o->backing_file && strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME) {
        return err_set(err, -EINVAL, "Backing file name too long");
    }
    if (o->backing_fmt && strlen(o->backing_fmt) > BACKING_FMT_MAX) {
        return err_set(err, -EINVAL, "Backing format name too long");
    }
    if (o->backing_file && o->preallocation != QCOW2_PREALLOC_OFF) {
        return err_set(err, -EINVAL,
                       "Backing file and preallocation can only be used "
                       "together with preallocation=off");
    }
    return 0;
}

/* Size of the backing file as the new image would see it. */
static int backing_size(const char *image_path,
                        const struct qcow2_create_opts *o, uint64_t *out,
                        struct err *err)
{
    struct qcow2_image *b = NULL;
    enum qcow2_format fmt;
    char *full = path_combine(image_path, o->backing_file);
    int ret;

    if (!full) {
        return err_set(err, -ENOMEM, "backing file name");
    }
    if (o->backing_fmt) {
        fmt = strcmp(o->backing_fmt, "qcow2") == 0 ? QCOW2_FORMAT_QCOW2
                                                   : QCOW2_FORMAT_RAW;
        if (strcmp(o->backing_fmt, "qcow2") != 0 &&
            strcmp(o->backing_fmt, "raw") != 0) {
            mem_free(full);
            return err_set(err, -EINVAL, "Unknown backing format '%s'",
                           o->backing_fmt);
        }
    } else {
        ret = qcow2_probe(full, &fmt, err);
        if (ret < 0) {
            mem_free(full);
            return ret;
        }
    }
    ret = qcow2_open(full, fmt,
                     QCOW2_OPEN_RDONLY | QCOW2_OPEN_FORCE_SHARE |
                         QCOW2_OPEN_NO_BACKING,
                     &b, err);
    mem_free(full);
    if (ret < 0) {
        err_prefix(err, "Could not open backing image");
        return ret;
    }
    *out = b->size;
    qcow2_close(b);
    return 0;
}

static int raw_create(const char *path, const struct qcow2_create_opts *o,
                      uint64_t size, struct err *err)
{
    int fd = create_open(path, err);
    int ret = 0;

    if (fd < 0) {
        return fd;
    }
    if (ftruncate(fd, (off_t)size) < 0) {
        ret =
            err_set(err, -errno, "Could not resize file: %s", strerror(errno));
        goto out;
    }
    if (o->preallocation == QCOW2_PREALLOC_FALLOC && size) {
        int e = posix_fallocate(fd, 0, (off_t)size);
        if (e) {
            ret =
                err_set(err, -e, "Could not preallocate data: %s", strerror(e));
        }
    } else if (o->preallocation == QCOW2_PREALLOC_FULL && size) {
        uint8_t *z = mem_calloc(1, 1u << 20);
        uint64_t off = 0;
        if (!z) {
            ret = err_set(err, -ENOMEM, "zero buffer");
            goto out;
        }
        while (off < size && ret == 0) {
            size_t n = size - off > (1u << 20) ? (1u << 20) : size - off;
            if (pwrite(fd, z, n, (off_t)off) != (ssize_t)n) {
                ret = err_set(err, -EIO, "Could not write zeros: %s",
                              strerror(errno));
            }
            off += n;
        }
        mem_free(z);
    }
    if (ret == 0 && fsync(fd) < 0) {
        ret = err_set(err, -EIO, "fsync: %s", strerror(errno));
    }
out:
    close(fd);
    return ret;
}

/* QEMU's cluster_needs_new_alloc(): anything but a host cluster that is
 * ours alone (COPIED) gets a new one. */
static bool prealloc_needs_cluster(uint64_t entry)
{
    return !(entry & QCOW2_OFLAG_COPIED) || (entry & QCOW2_OFLAG_COMPRESSED) ||
           !(entry & QCOW2_L2E_OFFSET_MASK);
}

/* Fill new host cluster @host with guest bytes [@gbase, @gbase + @len) as
 * they read now (QEMU's copy-on-write of a partial first cluster). */
static int prealloc_copy_head(struct qcow2_image *img, uint64_t gbase,
                              uint64_t host, uint64_t len, struct err *err)
{
    uint8_t *buf;
    int ret;

    if (!len) {
        return 0;
    }
    buf = mem_alloc(len);
    if (!buf) {
        return err_set(err, -ENOMEM, "copy-on-write buffer");
    }
    ret = qcow2_guest_read(img, gbase, buf, len, err);
    if (ret == 0) {
        ret = qcow2_io_pwrite(img, host, buf, len, err);
    }
    if (ret == 0) {
        ret = qcow2_sync(img, err); /* data before the table mapping it */
    }
    mem_free(buf);
    return ret;
}

/*
 * preallocation=metadata, as QEMU's preallocate_co(): for each L2 table
 * covering guest [from, size), the table (allocated if missing) and then
 * one run of host clusters for the entries that need one; a partial first
 * cluster keeps its bytes below @from. The file is extended to cover the
 * new clusters. Extended-L2 bitmaps are left alone, as QEMU's link for
 * preallocation does.
 */
static int preallocate_metadata(struct qcow2_image *img, uint64_t from,
                                struct err *err)
{
    uint64_t cs = img->cluster_size;
    uint64_t first = from >> img->cluster_bits;
    uint64_t c = first;
    uint64_t nc = qcow2_size_to_clusters(img, img->size);
    uint64_t end_host = 0;
    int ret;

    while (c < nc) {
        uint64_t l2i = c & (img->l2_size - 1);
        uint64_t n = img->l2_size - l2i;
        uint64_t k = 0;
        uint8_t *l2 = NULL;

        if (n > nc - c) {
            n = nc - c;
        }
        ret = qcow2_l2_get_writable(img, c >> img->l2_bits, &l2, err);
        if (ret < 0) {
            return ret;
        }
        while (k < n) {
            uint64_t run = 0, end;
            int64_t a;
            uint64_t j;

            while (k + run < n &&
                   prealloc_needs_cluster(
                       rd_be64(l2 + (l2i + k + run) * img->l2_entry_size))) {
                run++;
            }
            if (run == 0) {
                k++;
                continue;
            }
            a = qcow2_cluster_alloc(img, run, err);
            ret = a < 0 ? (int)a : 0;
            if (ret == 0 && c + k == first) {
                ret = prealloc_copy_head(img, first << img->cluster_bits,
                                         (uint64_t)a, from & (cs - 1), err);
            }
            for (j = 0; j < run && ret == 0; j++) {
                uint8_t *e = l2 + (l2i + k + j) * img->l2_entry_size;
                uint64_t old = rd_be64(e);

                wr_be64(e, ((uint64_t)a + j * cs) | QCOW2_OFLAG_COPIED);
                ret = qcow2_l2_entry_free(img, old, err);
            }
            if (ret < 0) {
                qcow2_cache_put(img->l2_cache, (void **)&l2);
                return ret;
            }
            qcow2_cache_mark_dirty(img->l2_cache, l2);
            end = (uint64_t)a + run * cs;
            if (img->extended_l2 && c + k + run == nc) {
                /* QEMU's last allocation ends at the subcluster holding
                 * the end of the disk. */
                uint64_t sc = cs >> 5;
                uint64_t tail = img->size - ((nc - 1) << img->cluster_bits);
                end -= cs - (tail + sc - 1) / sc * sc;
            }
            if (end > end_host) {
                end_host = end;
            }
            k += run;
        }
        qcow2_cache_put(img->l2_cache, (void **)&l2);
        c += n;
    }
    ret = qcow2_metadata_flush(img, err);
    if (ret < 0) {
        return ret;
    }
    {
        struct stat st;
        if (fstat(img->fd, &st) < 0) {
            return err_set(err, -errno, "stat: %s", strerror(errno));
        }
        if (end_host > (uint64_t)st.st_size) {
            ret = file_truncate(img, end_host, err);
        }
    }
    return ret;
}

/* Grow the file from @from to @to bytes: fallocate()d, or written with
 * zeros (preallocation=full), as QEMU's raw truncate does. */
static int grow_file_prealloc(struct qcow2_image *img, enum qcow2_prealloc mode,
                              uint64_t from, uint64_t to, struct err *err)
{
    enum { ZERO_CHUNK = 1u << 20 };
    uint8_t *zeros;
    int ret = 0;

    if (to <= from) {
        return 0;
    }
    if (mode == QCOW2_PREALLOC_FALLOC) {
        int e = posix_fallocate(img->fd, (off_t)from, (off_t)(to - from));
        if (e) {
            return err_set(err, -e, "Could not preallocate new data: %s",
                           strerror(e));
        }
        img->file_size = img->disk_end = to;
        return 0;
    }
    zeros = mem_calloc(1, ZERO_CHUNK);
    if (!zeros) {
        return err_set(err, -ENOMEM, "zero buffer");
    }
    while (from < to && ret == 0) {
        uint64_t n = to - from > ZERO_CHUNK ? ZERO_CHUNK : to - from;
        ret = qcow2_io_pwrite(img, from, zeros, n, err);
        from += n;
    }
    mem_free(zeros);
    return ret;
}

/*
 * preallocation=falloc|full, as QEMU's qcow2_co_truncate(): new refcount
 * structures at the end of the used space, sized (exactly) to count the
 * new data clusters and their L2 tables too; right after them one run of
 * data clusters for guest [from, size) on preallocated file space; then
 * the L2 entries (tables taken from free space, such as the old refcount
 * table's). A partial first cluster keeps its bytes below @from.
 */
static int preallocate_data(struct qcow2_image *img, enum qcow2_prealloc mode,
                            uint64_t from, struct err *err)
{
    uint64_t cs = img->cluster_size;
    uint64_t first = from >> img->cluster_bits;
    uint64_t nb_data = qcow2_size_to_clusters(img, img->size) - first;
    uint64_t nb_l2 = (nb_data + img->l2_size - 1) / img->l2_size + 1;
    uint64_t head = from & (cs - 1);
    uint64_t old_end, host, g, done;
    int64_t used, start;
    int ret;

    if (qcow2_size_to_clusters(img, img->size) <= first) {
        return 0;
    }
    used = qcow2_refcount_highest(img, err);
    if (used < 0) {
        return (int)used;
    }
    old_end = used > 0 ? (uint64_t)used << img->cluster_bits
                       : (img->file_size + cs - 1) & ~(cs - 1);
    start = qcow2_refcount_area(img, old_end, nb_data + nb_l2, true, 0, 0, err);
    if (start < 0) {
        return (int)start;
    }
    ret = qcow2_refcount_update(img, (uint64_t)start, nb_data * cs, 1, err);
    if (ret == 0) {
        ret = qcow2_metadata_flush(img, err);
    }
    if (ret == 0) {
        ret = grow_file_prealloc(img, mode, img->disk_end,
                                 (uint64_t)start + nb_data * cs, err);
    }
    if (ret == 0) {
        ret = qcow2_sync(img, err); /* data space before the tables */
    }
    if (ret == 0) {
        /* The new first cluster takes over the bytes below @from. */
        ret = prealloc_copy_head(img, first * cs, (uint64_t)start, head, err);
    }
    host = (uint64_t)start;
    g = first;
    done = 0;
    while (ret == 0 && done < nb_data) {
        uint64_t l2i = g & (img->l2_size - 1);
        uint64_t n = img->l2_size - l2i;
        uint64_t k;
        uint8_t *l2;

        if (n > nb_data - done) {
            n = nb_data - done;
        }
        ret = qcow2_l2_get_writable(img, g >> img->l2_bits, &l2, err);
        if (ret < 0) {
            break;
        }
        for (k = 0; k < n && ret == 0; k++) {
            uint8_t *e = l2 + (l2i + k) * img->l2_entry_size;
            uint64_t old = rd_be64(e);

            wr_be64(e, (host + k * cs) | QCOW2_OFLAG_COPIED);
            /* The table reaches the disk before a freed cluster is reused. */
            ret = qcow2_l2_entry_free(img, old, err);
        }
        qcow2_cache_mark_dirty(img->l2_cache, l2);
        qcow2_cache_put(img->l2_cache, (void **)&l2);
        g += n;
        host += n * cs;
        done += n;
    }
    if (ret == 0) {
        ret = qcow2_metadata_flush(img, err);
    }
    return ret;
}

static int preallocate(struct qcow2_image *img, enum qcow2_prealloc mode,
                       uint64_t from, struct err *err)
{
    if (mode == QCOW2_PREALLOC_METADATA) {
        return preallocate_metadata(img, from, err);
    }
    return preallocate_data(img, mode, from, err);
}

int qcow2_create(const char *path, const struct qcow2_create_opts *o,
                 struct err *err)
{
    struct qcow2_image *img = NULL;
    uint64_t size;
    uint8_t *buf = NULL;
    int cbits, rorder;
    uint64_t cs;
    int fd = -1;
    int ret;

    CHECK_ARG(path && o);
    size = (o->size + 511) & ~511ull;
    if (o->size > (1ull << 62)) {
        return err_set(err, -EINVAL, "Image size too large");
    }
    if (o->format == QCOW2_FORMAT_RAW) {
        return raw_create(path, o, size, err);
    }
    ret = create_validate(o, &cbits, &rorder, err);
    if (ret < 0) {
        return ret;
    }
    if (size == 0 && o->backing_file) {
        ret = backing_size(path, o, &size, err);
        if (ret < 0) {
            return ret;
        }
    }
    cs = 1ull << cbits;
    {
        /* L1 for the size must fit QEMU's limit. */
        uint64_t l2_bits = (uint64_t)cbits - (o->extended_l2 ? 4 : 3);
        uint64_t span = 1ull << (cbits + l2_bits);
        if ((size + span - 1) / span > QCOW2_MAX_L1_BYTES / 8) {
            return err_set(err, -EFBIG,
                           "Could not resize image: Image size too large "
                           "for this cluster size");
        }
    }
    buf = mem_calloc(3, cs);
    if (!buf) {
        return err_set(err, -ENOMEM, "create buffer");
    }
    fd = create_open(path, err);
    if (fd < 0) {
        ret = fd;
        fd = -1;
        goto out;
    }
    /* Minimal image: header, refcount table at 1, refcount block at 2. */
    wr_be32(buf, QCOW2_MAGIC);
    wr_be32(buf + 4, (uint32_t)o->version);
    wr_be32(buf + 20, (uint32_t)cbits);
    wr_be64(buf + 48, cs);
    wr_be32(buf + 56, 1);
    if (o->version >= 3) {
        uint64_t incompat = 0;
        if (o->extended_l2) {
            incompat |= QCOW2_INCOMPAT_EXTL2;
        }
        if (o->compression_type == QCOW2_COMPRESSION_ZSTD) {
            incompat |= QCOW2_INCOMPAT_COMPRESSION;
        }
        wr_be64(buf + 72, incompat);
        wr_be64(buf + 80, o->lazy_refcounts ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0);
        wr_be32(buf + 96, (uint32_t)rorder);
        wr_be32(buf + 100, QCOW2_DEFAULT_HDR_LEN);
        buf[104] = (uint8_t)o->compression_type;
    }
    wr_be64(buf + cs, 2 * cs);
    /* The refcount block already counts clusters 0-2, so a crash at any
     * later point leaves at worst leaks, never an uncounted cluster. */
    {
        unsigned bits = 1u << rorder;
        for (unsigned i = 0; i < 3; i++) {
            uint64_t bit = (uint64_t)i * bits; /* first bit of entry i */
            if (bits >= 8) {
                buf[2 * cs + (bit + bits) / 8 - 1] = 1;
            } else {
                buf[2 * cs + bit / 8] |= (uint8_t)(1u << (bit % 8));
            }
        }
    }
    /* Refcount table and block first, the header last: a process killed
     * in between (a large write can stop part way) leaves a file that is
     * not yet a qcow2 image rather than one with uncounted clusters. */
    if (pwrite(fd, buf + cs, 2 * cs, (off_t)cs) != (ssize_t)(2 * cs) ||
        pwrite(fd, buf, cs, 0) != (ssize_t)cs) {
        ret = err_set(err, -EIO, "Could not write qcow2 header: %s",
                      strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    ret = qcow2_open(path, QCOW2_FORMAT_QCOW2,
                     QCOW2_OPEN_NO_BACKING | QCOW2_OPEN_UNSAFE, &img, err);
    if (ret < 0) {
        goto out;
    }
    img->size = size;
    img->hdr.size = size;
    if (size) {
        ret = l1_resize_to(img, qcow2_size_to_l1(img, size), err);
        if (ret < 0) {
            goto out;
        }
    }
    if (o->backing_file) {
        img->backing_file = mem_strdup(o->backing_file);
        if (o->backing_fmt) {
            img->backing_fmt = mem_strdup(o->backing_fmt);
        }
        if (!img->backing_file || (o->backing_fmt && !img->backing_fmt)) {
            ret = err_set(err, -ENOMEM, "backing file name");
            goto out;
        }
    }
    ret = qcow2_header_write(img, err);
    if (ret < 0) {
        goto out;
    }
    if (o->preallocation != QCOW2_PREALLOC_OFF && size) {
        ret = preallocate(img, o->preallocation, 0, err);
        if (ret < 0) {
            goto out;
        }
    }
    ret = qcow2_metadata_flush(img, err);
    if (ret < 0) {
        goto out;
    }
    img->flags &= ~QCOW2_OPEN_UNSAFE;
    ret = qcow2_sync(img, err);
out:
    if (fd >= 0) {
        close(fd);
    }
    if (img) {
        int r2 = qcow2_close(img);
        if (ret == 0 && r2 < 0) {
            ret = err_set(err, r2, "closing the new image");
        }
    }
    mem_free(buf);
    return ret;
}

/* ---- resize, backing, make_empty, amend, measure ---- */

static int l1_grow_exact(struct qcow2_image *img, uint64_t min_size,
                         struct err *err)
{
    if (min_size <= img->l1_size) {
        return 0;
    }
    return l1_resize_to(img, min_size, err);
}

int qcow2_resize(struct qcow2_image *img, uint64_t new_size, bool shrink,
                 enum qcow2_prealloc prealloc, struct err *err)
{
    uint64_t old = img->size;
    int ret;

    CHECK_ARG(img);
    ret = qcow2_check_writable(img, err);
    if (ret < 0) {
        return ret;
    }
    if (img->format == QCOW2_FORMAT_RAW) {
        if (new_size < old && !shrink) {
            return err_set(err, -EINVAL,
                           "Use the --shrink option to perform a shrink "
                           "operation.");
        }
        ret = file_truncate(img, new_size, err);
        if (ret == 0 && new_size > old && prealloc == QCOW2_PREALLOC_FALLOC) {
            int e =
                posix_fallocate(img->fd, (off_t)old, (off_t)(new_size - old));
            if (e) {
                ret = err_set(err, -e, "preallocation: %s", strerror(e));
            }
        }
        if (ret == 0) {
            img->size = new_size;
        }
        return ret;
    }
    if (new_size % 512) {
        return err_set(err, -EINVAL, "The new size must be a multiple of 512");
    }
    if (img->nb_snapshots && img->hdr.version < 3) {
        return err_set(err, -ENOTSUP,
                       "Can't resize a v2 image which has snapshots");
    }
    if (img->has_bitmaps_ext) {
        return err_set(err, -ENOTSUP,
                       "Can't resize an image which has bitmaps");
    }
    if (new_size < old) {
        uint64_t cs = img->cluster_size;
        uint64_t from = (new_size + cs - 1) & ~(cs - 1);
        uint64_t new_l1 = qcow2_size_to_l1(img, new_size);
        uint32_t i;
        int64_t end;

        if (!shrink) {
            return err_set(err, -EINVAL,
                           "Use the --shrink option to perform a shrink "
                           "operation.");
        }
        if (prealloc != QCOW2_PREALLOC_OFF) {
            return err_set(err, -ENOTSUP,
                           "Preallocation can't be used for shrinking an "
                           "image");
        }
        /* Free everything mapped past the new end (whole clusters). */
        ret = qcow2_cluster_unmap(img, from, old - from, err);
        if (ret < 0) {
            return ret;
        }
        /* Drop L2 tables wholly past the end. */
        for (i = (uint32_t)new_l1; i < img->l1_size; i++) {
            uint64_t l2 = img->l1_table[i] & QCOW2_L1E_OFFSET_MASK;
            if (!l2) {
                continue;
            }
            img->l1_table[i] = 0;
            ret = qcow2_l1_write(img, i, 1, err);
            if (ret == 0) {
                ret = qcow2_cluster_free(img, l2, cs, err);
            }
            if (ret < 0) {
                return ret;
            }
        }
        img->size = new_size;
        img->hdr.size = new_size;
        ret = qcow2_metadata_flush(img, err);
        if (ret == 0) {
            ret = qcow2_header_write(img, err);
        }
        if (ret == 0) {
            ret = qcow2_sync(img, err);
        }
        if (ret < 0) {
            return ret;
        }
        end = qcow2_refcount_highest(img, err);
        if (end < 0) {
            return (int)end;
        }
        if (((uint64_t)end << img->cluster_bits) < img->file_size) {
            ret = file_truncate(img, (uint64_t)end << img->cluster_bits, err);
        }
        img->vm_state_offset = new_l1 << (img->cluster_bits + img->l2_bits);
        return ret;
    }
    ret = l1_grow_exact(img, qcow2_size_to_l1(img, new_size), err);
    if (ret < 0) {
        return ret;
    }
    img->size = new_size;
    img->hdr.size = new_size;
    img->vm_state_offset = qcow2_size_to_l1(img, new_size)
                           << (img->cluster_bits + img->l2_bits);
    if (prealloc != QCOW2_PREALLOC_OFF) {
        ret = preallocate(img, prealloc, old, err);
        if (ret < 0) {
            return ret;
        }
    }
    ret = qcow2_header_write(img, err);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    return ret;
}

int qcow2_set_backing(struct qcow2_image *img, const char *backing_file,
                      const char *backing_fmt, struct err *err)
{
    char *nb = NULL, *nf = NULL;
    char *ob, *of;
    int ret;

    CHECK_ARG(img);
    ret = qcow2_check_writable(img, err);
    if (ret < 0) {
        return ret;
    }
    if (img->format != QCOW2_FORMAT_QCOW2) {
        return err_set(err, -ENOTSUP, "raw images have no backing file");
    }
    if (backing_file && backing_file[0]) {
        if (strlen(backing_file) > QCOW2_MAX_BACKING_NAME) {
            return err_set(err, -EINVAL, "Backing file name too long");
        }
        nb = mem_strdup(backing_file);
        if (!nb) {
            return err_set(err, -ENOMEM, "backing file name");
        }
        if (backing_fmt) {
            if (strlen(backing_fmt) > BACKING_FMT_MAX) {
                mem_free(nb);
                return err_set(err, -EINVAL, "Backing format too long");
            }
            nf = mem_strdup(backing_fmt);
            if (!nf) {
                mem_free(nb);
                return err_set(err, -ENOMEM, "backing format");
            }
        }
    }
    /* What was written through the old backing file (rebase's copies) is
     * durable before the header names the new one. */
    ret = qcow2_metadata_flush(img, err);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    if (ret < 0) {
        mem_free(nb);
        mem_free(nf);
        return ret;
    }
    ob = img->backing_file;
    of = img->backing_fmt;
    img->backing_file = nb;
    img->backing_fmt = nf;
    ret = qcow2_header_write(img, err);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    if (ret < 0) {
        img->backing_file = ob;
        img->backing_fmt = of;
        mem_free(nb);
        mem_free(nf);
        return ret;
    }
    mem_free(ob);
    mem_free(of);
    if (img->backing) {
        qcow2_close(img->backing);
        img->backing = NULL;
    }
    mem_free(img->full_backing_filename);
    img->full_backing_filename = NULL;
    if (nb) {
        struct err e2;
        /* The new backing file may not exist yet (rebase -u): best effort. */
        if (backing_open(img, 0, &e2) < 0 && img->backing) {
            qcow2_close(img->backing);
            img->backing = NULL;
        }
    }
    return 0;
}

/*
 * QEMU's make_completely_empty() applies (v3, no snapshots or bitmaps, the
 * header, refcount table, one refcount block and the L1 fit in that block)
 * and the image is laid out as create leaves it: refcount table of one
 * cluster at cluster 1, its first block at 2, the L1 at 3.
 */
static bool empty_in_place(const struct qcow2_image *img)
{
    uint64_t cs = img->cluster_size;
    uint64_t l1c = qcow2_size_to_clusters(img, (uint64_t)img->l1_size * 8);

    return img->hdr.version >= 3 && img->nb_snapshots == 0 &&
           !img->has_bitmaps_ext &&
           3 + l1c <= (1ull << img->refcount_block_bits) &&
           img->hdr.refcount_table_offset == cs &&
           img->hdr.refcount_table_clusters == 1 &&
           img->refcount_table_size == cs / 8 &&
           img->refcount_table[0] == 2 * cs &&
           img->hdr.l1_table_offset == 3 * cs;
}

/*
 * The file QEMU's make_completely_empty() leaves (header, refcount table,
 * one block, an empty L1, nothing after), reached in an order where a crash
 * at any point leaves only leaks: the L1 is cleared first, so that nothing
 * but the header and the tables is referenced any more; then the table
 * keeps only its first block, which is rewritten to count just those.
 */
static int make_completely_empty(struct qcow2_image *img, struct err *err)
{
    uint64_t cs = img->cluster_size;
    uint64_t l1c = qcow2_size_to_clusters(img, (uint64_t)img->l1_size * 8);
    uint8_t *buf;
    void *block;
    int ret;

    ret = qcow2_metadata_flush(img, err);
    if (ret == 0) {
        ret = qcow2_cache_empty(img->l2_cache, err);
    }
    if (ret == 0) {
        ret = qcow2_cache_empty(img->refcount_cache, err);
    }
    if (ret < 0) {
        return ret;
    }
    buf = mem_calloc(1, l1c * cs);
    if (!buf) {
        return err_set(err, -ENOMEM, "empty L1 table");
    }
    ret = qcow2_io_pwrite(img, 3 * cs, buf, l1c * cs, err);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    if (ret == 0) {
        memset(img->l1_table, 0, (size_t)img->l1_size * 8);
        wr_be64(buf, 2 * cs);
        ret = qcow2_io_pwrite(img, cs, buf, cs, err);
    }
    mem_free(buf);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    if (ret < 0) {
        img->sticky_err = ret;
        return ret;
    }
    memset(img->refcount_table, 0, (size_t)img->refcount_table_size * 8);
    img->refcount_table[0] = 2 * cs;
    img->reftable_used = 1;
    img->reftable_used_of = img->refcount_table;
    img->free_cluster_index = 0;
    img->free_byte_offset = 0;
    qcow2_cluster_invalidate(img);
    ret = qcow2_cache_get_empty(img->refcount_cache, 2 * cs, &block, err);
    if (ret < 0) {
        return ret;
    }
    memset(block, 0, cs);
    qcow2_cache_mark_dirty(img->refcount_cache, block);
    qcow2_cache_put(img->refcount_cache, &block);
    ret = qcow2_refcount_update(img, 0, (3 + l1c) * cs, 1, err);
    if (ret == 0) {
        ret = qcow2_cache_flush(img->refcount_cache, err);
    }
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    if (ret == 0) {
        ret = file_truncate(img, (3 + l1c) * cs, err);
    }
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    if (ret < 0) {
        img->sticky_err = ret;
    }
    return ret;
}

int qcow2_make_empty(struct qcow2_image *img, struct err *err)
{
    int ret;

    CHECK_ARG(img);
    ret = qcow2_check_writable(img, err);
    if (ret < 0) {
        return ret;
    }
    if (img->format == QCOW2_FORMAT_RAW) {
        return qcow2_raw_write_zeroes(img, 0, img->size, QCOW2_ZERO_MAY_UNMAP,
                                      err);
    }
    if (empty_in_place(img)) {
        return make_completely_empty(img, err);
    }
    /* Otherwise, as QEMU's fallback, every mapping is dropped. */
    ret = qcow2_cluster_unmap(
        img, 0, (uint64_t)img->l1_size << (img->cluster_bits + img->l2_bits),
        err);
    if (ret == 0) {
        ret = qcow2_flush(img, err);
    }
    return ret;
}

static int64_t refcount_metadata_size(int64_t clusters, uint64_t cs, int rorder)
{
    int64_t per_table = (int64_t)(cs / 8);
    int64_t per_block = (int64_t)(cs * 8 / (1u << rorder));
    int64_t table = 0, blocks = 0, last, n = 0;

    do {
        last = n;
        blocks = (clusters + table + blocks + per_block - 1) / per_block;
        table = (blocks + per_table - 1) / per_table;
        n = clusters + blocks + table;
    } while (n != last);
    return (blocks + table) * (int64_t)cs;
}

void qcow2_measure(const struct qcow2_create_opts *o, uint64_t size,
                   uint64_t allocated, uint64_t *required,
                   uint64_t *fully_allocated)
{
    uint64_t cs = o->cluster_size ? o->cluster_size : 65536;
    int rorder = ilog2_exact(o->refcount_bits ? o->refcount_bits : 16);
    uint64_t l2e = o->extended_l2 ? 16 : 8;
    uint64_t vsize = (size + cs - 1) / cs * cs;
    uint64_t meta = cs;
    uint64_t nl2e, nl1e;
    uint64_t full;

    if (o->format == QCOW2_FORMAT_RAW) {
        *required = allocated;
        *fully_allocated = size;
        return;
    }
    if (rorder < 0) {
        rorder = 4;
    }
    nl2e = vsize / cs;
    nl2e = (nl2e + cs / l2e - 1) / (cs / l2e) * (cs / l2e);
    meta += nl2e * l2e;
    nl1e = nl2e * l2e / cs;
    nl1e = (nl1e + cs / 8 - 1) / (cs / 8) * (cs / 8);
    meta += nl1e * 8;
    meta += (uint64_t)refcount_metadata_size((int64_t)((meta + vsize) / cs), cs,
                                             rorder);
    full = meta + vsize;
    *fully_allocated = full;
    *required = full - vsize + allocated;
}

/* Largest refcount in the image and the first cluster carrying it. */
static int refcount_max_used(struct qcow2_image *img, uint64_t *max,
                             uint64_t *where, struct err *err)
{
    int64_t end = qcow2_refcount_highest(img, err);
    uint64_t i;
    int ret;

    *max = 0;
    *where = 0;
    if (end < 0) {
        return (int)end;
    }
    for (i = 0; i < (uint64_t)end; i++) {
        uint64_t rc;
        ret = qcow2_refcount_get(img, i, &rc, err);
        if (ret < 0) {
            return ret;
        }
        if (rc > *max) {
            *max = rc;
            *where = i;
        }
    }
    return 0;
}

static int amend_refcount_bits(struct qcow2_image *img, int bits,
                               struct err *err)
{
    int order = ilog2_exact((uint64_t)bits);
    uint64_t max, where;
    uint32_t old_order = img->hdr.refcount_order;
    int ret;

    if (order < 0 || order > 6) {
        return err_set(err, -EINVAL,
                       "Refcount width must be a power of two and may not "
                       "exceed 64 bits");
    }
    if ((uint32_t)order == img->hdr.refcount_order) {
        return 0;
    }
    if (img->hdr.version < 3) {
        return err_set(err, -EINVAL,
                       "Different refcount widths than 16 bits require "
                       "compatibility level 1.1 or above (use compat=1.1 or "
                       "greater)");
    }
    ret = refcount_max_used(img, &max, &where, err);
    if (ret < 0) {
        return ret;
    }
    if (order < 6 && max > (1ull << (1u << order)) - 1) {
        return err_set(err, -EINVAL,
                       "Cannot decrease refcount entry width to %d bits: "
                       "cluster %" PRIu64 " is referenced %" PRIu64 " times",
                       bits, where, max);
    }
    ret = qcow2_metadata_flush(img, err);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    if (ret == 0) {
        ret = qcow2_cache_empty(img->refcount_cache, err);
    }
    if (ret < 0) {
        return ret;
    }
    /* Rebuild from the metadata with the new width; the old refcount
     * structures are simply no longer referenced. */
    img->hdr.refcount_order = (uint32_t)order;
    img->refcount_bits = 1u << order;
    img->refcount_max =
        order == 6 ? UINT64_MAX : (1ull << img->refcount_bits) - 1;
    img->refcount_block_bits = img->cluster_bits + 3 - (uint32_t)order;
    ret = qcow2_rebuild_refcounts(img, err);
    if (ret < 0) {
        img->hdr.refcount_order = old_order;
        img->sticky_err = ret;
        return ret;
    }
    ret = qcow2_metadata_flush(img, err);
    if (ret == 0) {
        ret = qcow2_header_write(img, err);
    }
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    img->free_cluster_index = 0;
    return ret;
}

static int make_clean(struct qcow2_image *img, struct err *err)
{
    int ret;

    if (!(img->hdr.incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        return 0;
    }
    ret = qcow2_metadata_flush(img, err);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    if (ret < 0) {
        return ret;
    }
    img->hdr.incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
    img->lazy_dirty = false;
    ret = qcow2_header_write(img, err);
    if (ret == 0) {
        ret = qcow2_sync(img, err);
    }
    return ret;
}

int qcow2_amend(struct qcow2_image *img, const struct qcow2_amend_opts *o,
                struct err *err)
{
    int version;
    int ret;

    CHECK_ARG(img && o);
    ret = qcow2_check_writable(img, err);
    if (ret < 0) {
        return ret;
    }
    if (img->format != QCOW2_FORMAT_QCOW2) {
        return err_set(err, -ENOTSUP, "amend needs a qcow2 image");
    }
    version = o->version >= 0 ? o->version : (int)img->hdr.version;
    if (version != 2 && version != 3) {
        return err_set(err, -EINVAL, "Invalid compatibility level");
    }
    if (o->lazy_refcounts == 1 && version < 3) {
        return err_set(err, -EINVAL,
                       "Lazy refcounts only supported with compatibility "
                       "level 1.1 and above (use compat=1.1 or greater)");
    }
    if (version < 3 && o->refcount_bits >= 0 && o->refcount_bits != 16) {
        return err_set(err, -EINVAL,
                       "Refcount widths other than 16 bits require "
                       "compatibility level 1.1 or above (use compat=1.1 or "
                       "greater)");
    }
    if (version > (int)img->hdr.version) {
        img->hdr.version = 3;
        img->hdr.header_length = QCOW2_DEFAULT_HDR_LEN;
        ret = qcow2_header_write(img, err);
        if (ret == 0 && img->nb_snapshots) {
            /* v3 entries need extra data; rewriting the table adds it. */
            ret = qcow2_snapshots_store(img, err);
        }
        if (ret == 0) {
            ret = qcow2_sync(img, err);
        }
        if (ret < 0) {
            return ret;
        }
    }
    if (o->refcount_bits >= 0) {
        ret = amend_refcount_bits(img, o->refcount_bits, err);
        if (ret < 0) {
            return ret;
        }
    }
    if (o->lazy_refcounts == 1 &&
        !(img->hdr.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS)) {
        img->hdr.compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
        ret = qcow2_header_write(img, err);
        if (ret == 0) {
            ret = qcow2_sync(img, err);
        }
        if (ret < 0) {
            return ret;
        }
    } else if (o->lazy_refcounts == 0 &&
               (img->hdr.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS)) {
        ret = make_clean(img, err);
        if (ret < 0) {
            return ret;
        }
        img->hdr.compatible_features &= ~QCOW2_COMPAT_LAZY_REFCOUNTS;
        ret = qcow2_header_write(img, err);
        if (ret == 0) {
            ret = qcow2_sync(img, err);
        }
        if (ret < 0) {
            return ret;
        }
    }
    if (version < (int)img->hdr.version) {
        if (img->hdr.refcount_order != 4) {
            return err_set(err, -EINVAL,
                           "compat=0.10 requires refcount_bits=16");
        }
        ret = make_clean(img, err);
        if (ret < 0) {
            return ret;
        }
        if (img->hdr.incompatible_features & ~QCOW2_INCOMPAT_COMPRESSION) {
            return err_set(err, -ENOTSUP,
                           "Cannot downgrade an image with incompatible "
                           "features %#" PRIx64 " set",
                           img->hdr.incompatible_features);
        }
        if (img->hdr.compression_type != QCOW2_COMPRESSION_ZLIB) {
            return err_set(err, -ENOTSUP,
                           "Cannot downgrade an image with a non-zlib "
                           "compression type");
        }
        ret = qcow2_expand_zero_clusters(img, err);
        if (ret == 0) {
            ret = qcow2_metadata_flush(img, err);
        }
        if (ret == 0) {
            ret = qcow2_sync(img, err);
        }
        if (ret < 0) {
            return ret;
        }
        img->hdr.compatible_features = 0;
        img->hdr.autoclear_features = 0;
        img->has_bitmaps_ext = false;
        img->hdr.version = 2;
        img->hdr.header_length = QCOW2_V2_HEADER_LEN;
        mem_free(img->hdr_extra);
        img->hdr_extra = NULL;
        img->hdr_extra_len = 0;
        ret = qcow2_header_write(img, err);
        if (ret == 0) {
            ret = qcow2_sync(img, err);
        }
    }
    return ret;
}
