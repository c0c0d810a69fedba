/* SPDX-License-Identifier: MIT */
/*
 * imgtool/cmd-convert.c - `rrvm-img convert`: copy one or more sources
 * (concatenated) into a new or existing raw/qcow2 target.
 *
 * Without -c: a reader thread owns the source handles and fills a ring of
 * 2 MiB slots; the main thread owns the target handle and writes them in
 * order, so reads and writes overlap. With -c: -m worker threads each take
 * the next chunk, read it under a source lock, compress its clusters
 * (qcow2_compress() is thread-safe) and write them when every earlier chunk
 * has been written, so that the output is the same on every run and, as
 * qemu-img never writes compressed data out of order, the same as
 * qemu-img's. Each qcow2_image is used by one thread at a time. Zero detection
 * runs at -S granularity and skips zero runs on a fresh target, as qemu-img
 * does.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "imgtool/img.h"

/* Bytes per pipeline slot (qemu-img also moves 2 MiB at a time). */
#define IMG_CONVERT_CHUNK (2u << 20)
/* Largest -S qemu-img accepts (MAX_BUF_SECTORS * 512). */
#define IMG_CONVERT_MAX_SPARSE (16u << 20)
/* -m bounds (qemu-img's MAX_COROUTINES). */
#define IMG_CONVERT_MAX_WORKERS 16
/* Bytes each -c worker takes at a time: small, because every buffer page
 * is a page fault on first touch, which costs more than the lock. */
#define IMG_CONVERT_CCHUNK (256u << 10)

enum img_slot_state {
    IMG_SLOT_FREE,
    IMG_SLOT_DONE, /* ready for the writer */
};

enum img_slot_kind {
    IMG_KIND_DATA,   /* buf holds the bytes */
    IMG_KIND_ZERO,   /* reads as zero in the source */
    IMG_KIND_BACKING /* unallocated in the source's top layer (-B) */
};

struct img_slot {
    enum img_slot_state state;
    enum img_slot_kind kind;
    uint64_t seq;
    uint64_t off;   /* target offset, bytes */
    uint64_t len;   /* bytes; data slots at most one chunk */
    uint8_t *buf;   /* chunk bytes, aligned for O_DIRECT */
    void *buf_base; /* allocation holding buf; owned */
    uint8_t *cbuf;  /* compressed clusters, one cluster_size each */
    int *clen;      /* per cluster: >0 compressed length, 0 zero,
                       -1 store uncompressed */
};

struct img_src {
    const char *name;
    struct qcow2_image *img;
    uint64_t start; /* offset of this source in the concatenation */
    uint64_t size;
};

struct img_convert {
    struct img_src *src;
    int nsrc;
    uint64_t total;
    struct qcow2_image *dst;
    const char *dst_name;
    bool compress;
    bool has_backing; /* -B: leave unallocated source areas alone */
    bool target_zero; /* target reads as zero where we do not write */
    uint64_t sparse;  /* -S bytes; 0 = fully allocate */
    uint32_t cluster; /* target cluster size */
    size_t chunk;     /* bytes per slot */
    uint64_t nchunks;

    pthread_mutex_t lock; /* reader/writer hand-off; -c: source access */
    pthread_cond_t cond;
    uint64_t next_off;  /* -c: next offset a worker takes (under lock) */
    uint64_t write_off; /* -c: offset of the chunk whose turn it is to be
                           written (under lock); chunks land in order */
    bool reader_done;   /* the reader queued its last slot (nchunks) */
    struct img_slot *slots;
    int nslots;
    bool stop; /* an error happened: everyone leaves */
    int err_code;
    char err_msg[512];
};

static void img_convert_fail(struct img_convert *s, int code, const char *msg)
{
    pthread_mutex_lock(&s->lock);
    if (!s->stop) {
        s->stop = true;
        s->err_code = code;
        snprintf(s->err_msg, sizeof(s->err_msg), "%s", msg);
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/*
 * img_convert_fail() with "error while @what at byte @off: " and the reason:
 * @err's message when it has one, else strerror(-@code).
 */
static void img_convert_fail_at(struct img_convert *s, int code,
                                const char *what, uint64_t off,
                                const struct err *err)
{
    char msg[400];

    snprintf(msg, sizeof(msg), "error while %s at byte %" PRIu64 ": %s", what,
             off, err->msg[0] ? err->msg : strerror(-code));
    img_convert_fail(s, code, msg);
}

/* Read [off, off+len) of the concatenated sources. */
static int img_src_read(struct img_convert *s, uint64_t off, uint8_t *dst,
                        size_t len, struct err *err)
{
    int i;

    for (i = 0; i < s->nsrc && len > 0; i++) {
        struct img_src *src = &s->src[i];
        uint64_t n;
        int ret;

        if (off >= src->start + src->size) {
            continue;
        }
        n = src->start + src->size - off;
        if (n > len) {
            n = len;
        }
        ret = qcow2_read(src->img, off - src->start, dst, (size_t)n, err);
        if (ret < 0) {
            return ret;
        }
        off += n;
        dst += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Block status of [@lo, @lo + @max) of @src (@max > 0) into *@e. Returns 0
 * with e->length in (0, @max], or -errno (-EIO for an empty answer).
 */
static int img_src_status(const struct img_convert *s,
                          const struct img_src *src, uint64_t lo, uint64_t max,
                          struct qcow2_extent *e, struct err *err)
{
    int ret = qcow2_block_status(src->img, lo, max, !s->has_backing, e, err);

    if (ret < 0) {
        return ret;
    }
    if (e->length == 0) {
        return -EIO;
    }
    if (e->length > max) {
        e->length = max;
    }
    return 0;
}

/*
 * What the extent @e is copied as: IMG_KIND_BACKING (with -B) when nothing
 * is allocated, IMG_KIND_ZERO when it reads as zero, else IMG_KIND_DATA.
 */
static enum img_slot_kind img_extent_class(const struct img_convert *s,
                                           const struct qcow2_extent *e)
{
    if (s->has_backing) {
        if (!(e->flags & QCOW2_BS_ALLOCATED)) {
            return IMG_KIND_BACKING;
        }
        return (e->flags & QCOW2_BS_ZERO) ? IMG_KIND_ZERO : IMG_KIND_DATA;
    }
    if ((e->flags & QCOW2_BS_ZERO) ||
        !(e->flags & (QCOW2_BS_DATA | QCOW2_BS_ALLOCATED))) {
        return IMG_KIND_ZERO;
    }
    return IMG_KIND_DATA;
}

/*
 * Classify [off, off+len): IMG_KIND_ZERO if it all reads as zero per block
 * status, IMG_KIND_BACKING if (with -B) nothing is allocated in the top
 * layers, else IMG_KIND_DATA.
 */
static int img_src_kind(struct img_convert *s, uint64_t off, size_t len,
                        enum img_slot_kind *kind, struct err *err)
{
    bool all_zero = true;
    bool all_backing = true;
    uint64_t end = off + len;
    int i;

    for (i = 0; i < s->nsrc && off < end; i++) {
        struct img_src *src = &s->src[i];

        while (off < end && off < src->start + src->size) {
            struct qcow2_extent e;
            uint64_t lo = off - src->start;
            uint64_t max = src->start + src->size - off;
            enum img_slot_kind c;
            int ret;

            if (max > end - off) {
                max = end - off;
            }
            ret = img_src_status(s, src, lo, max, &e, err);
            if (ret < 0) {
                return ret;
            }
            c = img_extent_class(s, &e);
            if (c != IMG_KIND_BACKING) {
                all_backing = false;
            }
            if (c != IMG_KIND_ZERO) {
                all_zero = false;
            }
            off += e.length;
        }
    }
    if (all_backing && s->has_backing) {
        *kind = IMG_KIND_BACKING;
    } else if (all_zero) {
        *kind = IMG_KIND_ZERO;
    } else {
        *kind = IMG_KIND_DATA;
    }
    return 0;
}

/* Class of the extent at @off and, unless data, the length of its run. */
static int img_src_run(struct img_convert *s, uint64_t off,
                       enum img_slot_kind *cls, uint64_t *run, struct err *err)
{
    uint64_t start = off;
    bool first = true;
    int i;

    *cls = IMG_KIND_DATA;
    *run = 0;
    for (i = 0; i < s->nsrc; i++) {
        struct img_src *src = &s->src[i];

        while (off >= src->start && off < src->start + src->size) {
            struct qcow2_extent e;
            uint64_t max = src->start + src->size - off;
            enum img_slot_kind c;
            int ret;

            ret = img_src_status(s, src, off - src->start, max, &e, err);
            if (ret < 0) {
                return ret;
            }
            c = img_extent_class(s, &e);
            if (first) {
                *cls = c;
                first = false;
                if (c == IMG_KIND_DATA) {
                    return 0;
                }
            } else if (c != *cls) {
                *run = off - start;
                return 0;
            }
            off += e.length;
        }
    }
    *run = off - start;
    return 0;
}

/*
 * The next chunk at @off: a whole run of zero (or, with -B, unallocated)
 * extents cut at a target cluster boundary, so empty terabytes cost a few
 * block-status calls; otherwise at most @maxdata bytes, classified as a
 * whole.
 */
static int img_next_chunk(struct img_convert *s, uint64_t off, uint64_t maxdata,
                          enum img_slot_kind *kind, uint64_t *len,
                          struct err *err)
{
    uint64_t n = s->total - off < maxdata ? s->total - off : maxdata;
    enum img_slot_kind cls;
    uint64_t run;
    int ret;

    *kind = IMG_KIND_DATA;
    *len = n;
    if (s->sparse == 0 && !s->has_backing) {
        return 0;
    }
    ret = img_src_run(s, off, &cls, &run, err);
    if (ret < 0) {
        return ret;
    }
    if (cls != IMG_KIND_DATA) {
        uint64_t end = off + run;

        if (end < s->total) {
            end -= end % s->cluster;
        }
        if (end > off) {
            *kind = cls;
            *len = end - off;
            if (s->sparse == 0 && *len > n) {
                *len = n; /* written out as zeros: one buffer at a time */
            }
            return 0;
        }
    }
    return img_src_kind(s, off, (size_t)n, kind, err);
}

static bool img_is_zero(const uint8_t *p, size_t len)
{
    static const uint8_t zeros[4096];

    while (len >= sizeof(zeros)) {
        if (memcmp(p, zeros, sizeof(zeros))) {
            return false;
        }
        p += sizeof(zeros);
        len -= sizeof(zeros);
    }
    return len == 0 || !memcmp(p, zeros, len);
}

static void *img_reader_main(void *opaque)
{
    struct img_convert *s = opaque;
    uint64_t seq = 0;
    uint64_t off = 0;

    while (off < s->total) {
        struct img_slot *sl = &s->slots[seq % (uint64_t)s->nslots];
        struct err err = {0};
        enum img_slot_kind kind;
        uint64_t len;
        int ret;

        pthread_mutex_lock(&s->lock);
        while (!s->stop && sl->state != IMG_SLOT_FREE) {
            pthread_cond_wait(&s->cond, &s->lock);
        }
        pthread_mutex_unlock(&s->lock);
        if (s->stop) {
            break;
        }
        ret = img_next_chunk(s, off, s->chunk, &kind, &len, &err);
        if (ret == 0 && kind == IMG_KIND_DATA) {
            ret = img_src_read(s, off, sl->buf, (size_t)len, &err);
        }
        if (ret < 0) {
            img_convert_fail_at(s, ret, "reading", off, &err);
            break;
        }
        pthread_mutex_lock(&s->lock);
        sl->seq = seq;
        sl->off = off;
        sl->len = len;
        sl->kind = kind;
        sl->state = IMG_SLOT_DONE;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        off += len;
        seq++;
    }
    pthread_mutex_lock(&s->lock);
    s->nchunks = seq;
    s->reader_done = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Compress cluster @i of @sl into its cbuf/clen entry. */
static void img_compress_cluster(struct img_convert *s, struct img_slot *sl,
                                 size_t i)
{
    size_t o = i * s->cluster;
    size_t n = sl->len - o < s->cluster ? sl->len - o : s->cluster;
    int r;

    if (img_is_zero(sl->buf + o, n)) {
        sl->clen[i] = 0;
        return;
    }
    r = qcow2_compress(s->dst, sl->cbuf + o, s->cluster, sl->buf + o, n);
    sl->clen[i] = r > 0 ? r : -1;
}

/* Write zeros the target does not already read as zero. */
static int img_write_zero_run(struct img_convert *s, uint64_t off, uint64_t len,
                              struct err *err)
{
    if (s->target_zero || len == 0) {
        return 0;
    }
    return qcow2_write_zeroes(s->dst, off, len,
                              s->has_backing ? 0 : QCOW2_ZERO_MAY_UNMAP, err);
}

static int img_write_data(struct img_convert *s, struct img_slot *sl,
                          uint64_t *fail_off, struct err *err)
{
    size_t pos = 0;
    size_t gran = (size_t)s->sparse;
    int ret;

    if (gran == 0) {
        *fail_off = sl->off;
        return qcow2_write(s->dst, sl->off, sl->buf, sl->len, err);
    }
    while (pos < sl->len) {
        size_t start = pos;
        bool zero;
        size_t step;

        /* Runs are cut at -S boundaries of the target offset. */
        step = gran - (size_t)((sl->off + pos) % gran);
        if (step > sl->len - pos) {
            step = sl->len - pos;
        }
        zero = img_is_zero(sl->buf + pos, step);
        pos += step;
        while (pos < sl->len) {
            size_t st = gran < sl->len - pos ? gran : sl->len - pos;

            if (img_is_zero(sl->buf + pos, st) != zero) {
                break;
            }
            pos += st;
        }
        *fail_off = sl->off + start;
        if (zero) {
            ret = img_write_zero_run(s, sl->off + start, pos - start, err);
        } else {
            ret = qcow2_write(s->dst, sl->off + start, sl->buf + start,
                              pos - start, err);
        }
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

static int img_write_compressed(struct img_convert *s, struct img_slot *sl,
                                uint64_t *fail_off, struct err *err)
{
    size_t ncl = (sl->len + s->cluster - 1) / s->cluster;
    size_t i;
    int ret = 0;

    for (i = 0; i < ncl && ret == 0; i++) {
        size_t o = i * s->cluster;
        size_t n = sl->len - o < s->cluster ? sl->len - o : s->cluster;

        *fail_off = sl->off + o;
        if (sl->clen[i] == 0) {
            ret = img_write_zero_run(s, sl->off + o, n, err);
        } else if (sl->clen[i] > 0) {
            ret = qcow2_write_compressed_raw(s->dst, sl->off + o, sl->cbuf + o,
                                             (size_t)sl->clen[i], err);
        } else {
            ret = qcow2_write(s->dst, sl->off + o, sl->buf + o, n, err);
        }
    }
    return ret;
}

static int img_write_slot(struct img_convert *s, struct img_slot *sl,
                          uint64_t *fail_off, struct err *err)
{
    *fail_off = sl->off;
    switch (sl->kind) {
    case IMG_KIND_BACKING:
        return 0;
    case IMG_KIND_ZERO:
        if (s->sparse == 0) {
            memset(sl->buf, 0, sl->len);
            return qcow2_write(s->dst, sl->off, sl->buf, sl->len, err);
        }
        return img_write_zero_run(s, sl->off, sl->len, err);
    case IMG_KIND_DATA:
        if (s->compress) {
            return img_write_compressed(s, sl, fail_off, err);
        }
        return img_write_data(s, sl, fail_off, err);
    }
    return 0;
}

/*
 * -c: each worker takes the next chunk, reads it under the source lock,
 * compresses it, waits for its turn and writes it. No hand-off of data
 * between threads, so a busy machine cannot stall a pipeline stage (a
 * reader and writer thread fed by compression workers ran at half
 * qemu-img's speed under load, waiting to be scheduled).
 */
static void *img_cworker_main(void *opaque)
{
    struct img_convert *s = opaque;
    struct img_slot sl = {0};
    size_t ncl = s->chunk / s->cluster + 1;

    sl.buf = img_alloc_aligned(s->chunk, &sl.buf_base);
    sl.cbuf = mem_alloc(s->chunk);
    sl.clen = mem_calloc(ncl, sizeof(int));
    if (!sl.buf || !sl.cbuf || !sl.clen) {
        img_convert_fail(s, -ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        struct err err = {0};
        uint64_t fail_off = 0;
        size_t i;
        bool stop;
        int ret = 0;

        pthread_mutex_lock(&s->lock);
        if (s->stop || s->next_off >= s->total) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        sl.off = s->next_off;
        ret = img_next_chunk(s, sl.off, s->chunk, &sl.kind, &sl.len, &err);
        if (ret == 0) {
            s->next_off += sl.len;
        }
        if (ret == 0 && sl.kind == IMG_KIND_DATA) {
            ret = img_src_read(s, sl.off, sl.buf, (size_t)sl.len, &err);
        }
        pthread_mutex_unlock(&s->lock);
        if (ret < 0) {
            img_convert_fail_at(s, ret, "reading", sl.off, &err);
            break;
        }
        if (sl.kind == IMG_KIND_DATA) {
            for (i = 0; i * s->cluster < sl.len; i++) {
                img_compress_cluster(s, &sl, i);
            }
        }
        pthread_mutex_lock(&s->lock);
        while (!s->stop && s->write_off != sl.off) {
            pthread_cond_wait(&s->cond, &s->lock);
        }
        stop = s->stop;
        pthread_mutex_unlock(&s->lock);
        if (stop) {
            break;
        }
        /* Our turn: no other thread touches the target until we pass it. */
        ret = img_write_slot(s, &sl, &fail_off, &err);
        if (ret == 0) {
            img_progress_print((float)sl.len * 100.0f / (float)s->total, 100);
            pthread_mutex_lock(&s->lock);
            s->write_off = sl.off + sl.len;
            pthread_cond_broadcast(&s->cond);
            pthread_mutex_unlock(&s->lock);
        }
        if (ret < 0) {
            img_convert_fail_at(s, ret, "writing", fail_off, &err);
            break;
        }
    }
out:
    mem_free(sl.buf_base);
    mem_free(sl.cbuf);
    mem_free(sl.clen);
    return NULL;
}

static int img_convert_run_compress(struct img_convert *s, int workers)
{
    pthread_t wt[IMG_CONVERT_MAX_WORKERS];
    int nw;
    int i;

    s->chunk = IMG_CONVERT_CCHUNK;
    if (s->chunk < s->cluster) {
        s->chunk = s->cluster;
    }
    s->chunk -= s->chunk % s->cluster;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->write_off = s->next_off;
    for (nw = 0; nw < workers; nw++) {
        if (pthread_create(&wt[nw], NULL, img_cworker_main, s) != 0) {
            break;
        }
    }
    if (nw == 0) {
        img_cworker_main(s);
    }
    for (i = 0; i < nw; i++) {
        pthread_join(wt[i], NULL);
    }
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    if (s->err_code) {
        img_error("%s", s->err_msg);
        return -1;
    }
    return 0;
}

/* Run the pipeline. Returns 0 or -1 (printed). */
static int img_convert_run(struct img_convert *s)
{
    pthread_t reader;
    uint64_t seq;
    int i;
    int ret = -1;

    s->chunk = IMG_CONVERT_CHUNK;
    if (s->chunk < s->cluster) {
        s->chunk = s->cluster;
    }
    s->chunk -= s->chunk % s->cluster;
    s->nslots = 4;
    s->slots = mem_calloc((size_t)s->nslots, sizeof(*s->slots));
    if (!s->slots) {
        img_oom();
    }
    for (i = 0; i < s->nslots; i++) {
        s->slots[i].buf = img_alloc_aligned(s->chunk, &s->slots[i].buf_base);
        if (!s->slots[i].buf) {
            img_oom();
        }
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (pthread_create(&reader, NULL, img_reader_main, s) != 0) {
        img_error("Could not start the reader thread");
        goto out_free;
    }
    for (seq = 0;; seq++) {
        struct img_slot *sl = &s->slots[seq % (uint64_t)s->nslots];
        struct err err = {0};
        uint64_t fail_off = 0;
        bool end;
        int r;

        pthread_mutex_lock(&s->lock);
        while (!s->stop && !(sl->state == IMG_SLOT_DONE && sl->seq == seq) &&
               !(s->reader_done && seq >= s->nchunks)) {
            pthread_cond_wait(&s->cond, &s->lock);
        }
        end = s->stop || (s->reader_done && seq >= s->nchunks &&
                          !(sl->state == IMG_SLOT_DONE && sl->seq == seq));
        pthread_mutex_unlock(&s->lock);
        if (end) {
            break;
        }
        r = img_write_slot(s, sl, &fail_off, &err);
        if (r < 0) {
            img_convert_fail_at(s, r, "writing", fail_off, &err);
            break;
        }
        img_progress_print((float)sl->len * 100.0f / (float)s->total, 100);
        pthread_mutex_lock(&s->lock);
        sl->state = IMG_SLOT_FREE;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(reader, NULL);
    if (s->err_code) {
        img_error("%s", s->err_msg);
    } else {
        ret = 0;
    }
out_free:
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    for (i = 0; i < s->nslots; i++) {
        mem_free(s->slots[i].buf_base);
    }
    mem_free(s->slots);
    return ret;
}

/* convert -l: read the (only) source as it was at the snapshot. */
static int img_convert_load_snapshot(struct img_src *src, const char *param)
{
    if (img_load_snapshot(src->img, param) < 0) {
        return -1;
    }
    src->size = qcow2_size(src->img);
    return 0;
}

/* Is the target one of the (open) sources? Creating it would truncate it. */
static bool img_convert_target_is_source(const struct img_convert *s)
{
    struct stat a;
    struct stat b;
    int i;

    if (stat(s->dst_name, &a) != 0) {
        return false;
    }
    for (i = 0; i < s->nsrc; i++) {
        if (stat(s->src[i].name, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            return true;
        }
    }
    return false;
}

/*
 * --bitmaps: as qemu-img, a single source that can hold bitmaps and a
 * qcow2 target. The source's persistent bitmaps are not copied, so a
 * source that has any is refused rather than converted without them.
 */
static int img_convert_check_bitmaps(struct img_convert *s,
                                     enum qcow2_format out)
{
    struct err err = {0};
    size_t nb = 0;

    if (s->nsrc > 1) {
        img_error("Copying bitmaps only possible with single source");
        return -1;
    }
    if (qcow2_format_of(s->src[0].img) != QCOW2_FORMAT_QCOW2) {
        img_error("Source lacks bitmap support");
        return -1;
    }
    if (out != QCOW2_FORMAT_QCOW2) {
        img_error("Format driver 'raw' does not support bitmaps");
        return -1;
    }
    if (qcow2_bitmap_list(s->src[0].img, NULL, 0, &nb, &err) < 0) {
        img_error("Could not read the bitmaps of '%s': %s", s->src[0].name,
                  err.msg);
        return -1;
    }
    if (nb > 0) {
        img_error("'%s' has %zu persistent bitmap(s); copying bitmaps is not "
                  "supported by " IMG_PROG,
                  s->src[0].name, nb);
        return -1;
    }
    return 0;
}

static const struct option img_convert_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"object", required_argument, NULL, IMG_OPT_OBJECT},
    {"image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS},
    {"force-share", no_argument, NULL, 'U'},
    {"target-image-opts", no_argument, NULL, IMG_OPT_TARGET_IMAGE_OPTS},
    {"salvage", no_argument, NULL, IMG_OPT_SALVAGE},
    {"target-is-zero", no_argument, NULL, IMG_OPT_TARGET_IS_ZERO},
    {"bitmaps", no_argument, NULL, IMG_OPT_BITMAPS},
    {NULL, 0, NULL, 0},
};

int img_cmd_convert(int argc, char **argv)
{
    struct img_convert s;
    struct img_kvlist kv = {0};
    struct qcow2_create_opts o;
    struct err err = {0};
    const char *fmt = NULL;
    const char *out_fmt = "raw";
    const char *backing = NULL;
    const char *backing_fmt = NULL;
    const char *snapshot = NULL;
    enum qcow2_format of;
    unsigned src_flags = QCOW2_OPEN_RDONLY;
    unsigned dst_flags = QCOW2_OPEN_UNSAFE;
    unsigned cflags;
    bool progress = false;
    bool quiet = false;
    bool skip_create = false;
    bool target_is_zero = false;
    bool bitmaps = false;
    int64_t sparse = 4096;
    int workers = 8;
    int ret = 1;
    int i;
    int c;

    memset(&s, 0, sizeof(s));
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hf:O:B:CcF:o:l:S:pt:T:qnm:WUr:",
                            img_convert_longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'O':
            out_fmt = optarg;
            break;
        case 'B':
            backing = optarg;
            break;
        case 'F':
            backing_fmt = optarg;
            break;
        case 'C':
        case 'W':
            break;
        case 'q':
            quiet = true;
            break;
        case 'c':
            s.compress = true;
            break;
        case 'o':
            if (img_kv_parse(&kv, optarg) < 0) {
                img_oom();
            }
            break;
        case 'l':
            snapshot = optarg;
            break;
        case 'S':
            if (img_cvtnum("buffer size for sparse output", optarg, 0,
                           INT64_MAX, &sparse) < 0) {
                goto out;
            }
            if (sparse % 512 || sparse > IMG_CONVERT_MAX_SPARSE) {
                img_error("Invalid buffer size for sparse output specified. "
                          "Valid sizes are multiples of 512 up to %u. Select "
                          "0 to disable sparse detection (fully allocates "
                          "output).",
                          IMG_CONVERT_MAX_SPARSE);
                goto out;
            }
            break;
        case 'p':
            progress = true;
            break;
        case 't':
            if (img_opt_cache(optarg, false, &cflags) < 0) {
                goto out;
            }
            dst_flags = cflags;
            break;
        case 'T':
            if (img_opt_cache(optarg, true, &cflags) < 0) {
                goto out;
            }
            src_flags = QCOW2_OPEN_RDONLY | cflags;
            break;
        case 'n':
            skip_create = true;
            break;
        case 'm': {
            unsigned long m;

            if (img_strtoul(optarg, &m) < 0 || m < 1 ||
                m > IMG_CONVERT_MAX_WORKERS) {
                img_error("Invalid number of coroutines. Allowed number of "
                          "coroutines is between 1 and %d",
                          IMG_CONVERT_MAX_WORKERS);
                goto out;
            }
            workers = (int)m;
            break;
        }
        case 'U':
            src_flags |= QCOW2_OPEN_FORCE_SHARE;
            break;
        case 'r':
        case IMG_OPT_SALVAGE:
            break;
        case IMG_OPT_TARGET_IS_ZERO:
            target_is_zero = true;
            break;
        case IMG_OPT_TARGET_IMAGE_OPTS:
            ret = img_refuse_opt("--target-image-opts");
            goto out;
        case IMG_OPT_BITMAPS:
            bitmaps = true;
            break;
        default:
            if (img_opt_common(c, argv, &ret)) {
                goto out;
            }
            break;
        }
    }
    if (img_format_parse(out_fmt, &of) < 0) {
        img_error("Unknown file format '%s'", out_fmt);
        goto out;
    }
    if (img_kv_has_help(&kv)) {
        img_create_help(of, argc - optind >= 1);
        ret = 0;
        goto out;
    }
    if (target_is_zero && !skip_create) {
        img_error("--target-is-zero requires use of -n flag");
        goto out;
    }
    if (quiet) {
        progress = false; /* -q wins over -p, as in qemu-img */
    }
    s.nsrc = argc - optind - 1;
    if (s.nsrc < 1) {
        img_error("Must specify image file name");
        goto out;
    }
    if (skip_create && kv.n > 0) {
        img_error("-o has no effect when skipping image creation");
        goto out;
    }
    s.dst_name = argv[argc - 1];
    s.src = mem_calloc((size_t)s.nsrc, sizeof(*s.src));
    if (!s.src) {
        img_oom();
    }
    for (i = 0; i < s.nsrc; i++) {
        s.src[i].name = argv[optind + i];
        if (img_open(s.src[i].name, fmt, src_flags, &s.src[i].img) < 0) {
            goto out;
        }
        s.src[i].start = s.total;
        s.src[i].size = qcow2_size(s.src[i].img);
        s.total += s.src[i].size;
    }
    if (snapshot) {
        if (s.nsrc > 1) {
            img_error("No support for concatenating multiple snapshot");
            goto out;
        }
        if (img_convert_load_snapshot(&s.src[0], snapshot) < 0) {
            goto out;
        }
        s.total = s.src[0].size;
    }
    if (s.compress && of != QCOW2_FORMAT_QCOW2) {
        img_error("Compression not supported for this file format");
        goto out;
    }
    if (bitmaps && img_convert_check_bitmaps(&s, of) < 0) {
        goto out;
    }
    if (!skip_create) {
        const char *prealloc;
        char pfx[4096];
        bool found;

        snprintf(pfx, sizeof(pfx),
                 "%s: error while converting %s: ", s.dst_name, out_fmt);
        if (img_create_parse("", of, &kv) < 0) {
            goto out;
        }
        prealloc = img_kv_get(&kv, "preallocation", &found);
        if (s.compress && prealloc && strcmp(prealloc, "off")) {
            img_error("Compression and preallocation not supported at the "
                      "same time");
            goto out;
        }
        if (!backing) {
            backing = img_kv_get(&kv, "backing_file", &found);
        }
        if (!backing_fmt) {
            backing_fmt = img_kv_get(&kv, "backing_fmt", &found);
        }
        if (backing && of == QCOW2_FORMAT_RAW) {
            img_error("Backing file not supported for file format 'raw'");
            goto out;
        }
        if (backing && !backing_fmt) {
            img_error("Use of backing file requires explicit backing format");
            goto out;
        }
        if (img_create_build(pfx, of, &kv, &o) < 0) {
            goto out;
        }
        o.size = s.total;
        o.backing_file = backing;
        o.backing_fmt = backing_fmt;
        if (img_convert_target_is_source(&s)) {
            img_error("%sFailed to get \"write\" lock", pfx);
            fprintf(stderr, "Is another process using the image [%s]?\n",
                    s.dst_name);
            goto out;
        }
        if (img_target_check(s.dst_name, pfx) < 0) {
            goto out;
        }
        if (qcow2_create(s.dst_name, &o, &err) < 0) {
            img_error("%s%s", pfx, err.msg);
            goto out;
        }
    }
    s.has_backing = backing != NULL;
    if (img_open(s.dst_name, out_fmt, dst_flags, &s.dst) < 0) {
        goto out;
    }
    if (skip_create && qcow2_size(s.dst) < s.total) {
        img_error("output file is smaller than input file");
        goto out;
    }
    s.target_zero = (!skip_create && !s.has_backing) || target_is_zero;
    s.sparse = (uint64_t)sparse;
    s.cluster = qcow2_cluster_size(s.dst);
    if (s.cluster < 512) {
        s.cluster = 512;
    }
    img_progress_init(progress, 1.0f);
    img_progress_print(0, 100);
    if (s.total > 0 && (s.compress ? img_convert_run_compress(&s, workers)
                                   : img_convert_run(&s)) < 0) {
        goto out;
    }
    img_progress_print(100, 0);
    img_progress_end();
    if (s.compress && qcow2_compressed_end(s.dst, &err) < 0) {
        img_error("error while writing compressed data: %s", err.msg);
        goto out;
    }
    if (qcow2_flush(s.dst, &err) < 0) {
        img_error("error while flushing %s: %s", s.dst_name, err.msg);
        goto out;
    }
    ret = 0;
out:
    if (s.dst) {
        int r = qcow2_close(s.dst);

        if (r < 0 && ret == 0) {
            img_error("error while closing %s: %s", s.dst_name, strerror(-r));
            ret = 1;
        }
    }
    for (i = 0; s.src && i < s.nsrc; i++) {
        qcow2_close(s.src[i].img);
    }
    mem_free(s.src);
    img_kv_fini(&kv);
    return ret;
}
