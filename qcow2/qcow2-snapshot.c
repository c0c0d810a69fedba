/* SPDX-License-Identifier: MIT */
/*
 * qcow2/qcow2-snapshot.c - the internal snapshot table (load, store, list)
 * and snapshot create/apply/delete, plus access to the VM-state area.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/log.h"
#include "qcow2/qcow2-int.h"

/* Fixed part of a snapshot table entry (bytes 0-39). */
#define SNAP_HDR_LEN 40
/* Known extra data: vm_state_size_large, disk_size, icount. */
#define SNAP_EXTRA_LEN 24
/* v3 entries must carry vm_state_size_large and disk_size. */
#define SNAP_EXTRA_V3_MIN 16
/* Longest snapshot table QEMU accepts (QCOW_MAX_SNAPSHOTS_SIZE): 1 KiB of
 * entry on average for the largest snapshot count. */
#define SNAP_MAX_TABLE_BYTES (1024ull * QCOW2_MAX_SNAPSHOTS)

static size_t snap_entry_len(const struct qcow2_snapshot *sn)
{
    size_t extra = sn->extra_data_size;

    if (extra < SNAP_EXTRA_LEN) {
        extra = SNAP_EXTRA_LEN;
    }
    return SNAP_HDR_LEN + extra + strlen(sn->id) + strlen(sn->name);
}

static void snap_entry_fini(struct qcow2_snapshot *sn)
{
    mem_free(sn->id);
    mem_free(sn->name);
    mem_free(sn->extra_data);
    memset(sn, 0, sizeof(*sn));
}

void qcow2_snapshots_free(struct qcow2_image *img)
{
    uint32_t i;

    if (!img) {
        return;
    }
    for (i = 0; i < img->nb_snapshots; i++) {
        snap_entry_fini(&img->snapshots[i]);
    }
    mem_free(img->snapshots);
    img->snapshots = NULL;
    img->nb_snapshots = 0;
}

/* Decode the known extra-data fields of @sn (vm_state_size_large,
 * disk_size, icount) falling back to the defaults QEMU uses. */
static void snap_entry_decode_extra(struct qcow2_image *img,
                                    struct qcow2_snapshot *sn)
{
    sn->vm_state_size = sn->vm_state_size32;
    if (sn->extra_data_size >= 8) {
        sn->vm_state_size = rd_be64(sn->extra_data);
    }
    sn->disk_size = img->size;
    if (sn->extra_data_size >= 16) {
        sn->disk_size = rd_be64(sn->extra_data + 8);
    }
    sn->icount = UINT64_MAX;
    if (sn->extra_data_size >= 24) {
        sn->icount = rd_be64(sn->extra_data + 16);
    }
}

/* Window of the sequential snapshot-table reader. */
#define SNAP_WIN (64u << 10)

/*
 * Sequential reader of a snapshot table through a window, so a table of
 * 65536 entries costs a few preads rather than four per entry. With
 * @zero_fill, bytes past the end of the file read as zero (as QEMU's block
 * layer does, which check relies on); otherwise they are an error.
 */
struct snap_rd {
    struct qcow2_image *img;
    bool zero_fill;
    uint64_t flen;    /* file length, bytes */
    uint8_t *win;     /* owned; SNAP_WIN bytes */
    uint64_t win_off; /* file offset of win[0] */
    size_t win_len;   /* valid bytes in win */
};

static int snap_rd_init(struct snap_rd *rd, struct qcow2_image *img,
                        bool zero_fill, struct err *err)
{
    struct stat st;

    memset(rd, 0, sizeof(*rd));
    rd->img = img;
    rd->zero_fill = zero_fill;
    if (fstat(img->fd, &st) < 0) {
        return err_set(err, -errno, "cannot stat image file");
    }
    rd->flen = (uint64_t)st.st_size;
    rd->win = mem_alloc(SNAP_WIN);
    if (!rd->win) {
        return err_set(err, -ENOMEM, "snapshot table window");
    }
    return 0;
}

static void snap_rd_fini(struct snap_rd *rd)
{
    mem_free(rd->win);
    rd->win = NULL;
}

static int snap_pread(struct snap_rd *rd, uint64_t off, void *dst, size_t len,
                      struct err *err)
{
    uint8_t *p = dst;
    int ret;

    if (!rd->zero_fill && (off > rd->flen || len > rd->flen - off)) {
        /* Let the core name the short read. */
        return qcow2_io_pread(rd->img, off, dst, len, err);
    }
    while (len) {
        size_t n;

        if (off < rd->win_off || off >= rd->win_off + rd->win_len) {
            size_t avail = 0;

            if (off < rd->flen) {
                avail = rd->flen - off < SNAP_WIN ? (size_t)(rd->flen - off)
                                                  : SNAP_WIN;
                ret = qcow2_io_pread(rd->img, off, rd->win, avail, err);
                if (ret < 0) {
                    rd->win_len = 0;
                    return ret;
                }
            }
            memset(rd->win + avail, 0, SNAP_WIN - avail);
            rd->win_off = off;
            rd->win_len = rd->zero_fill ? SNAP_WIN : avail;
        }
        n = (size_t)(rd->win_off + rd->win_len - off);
        if (n > len) {
            n = len;
        }
        memcpy(p, rd->win + (off - rd->win_off), n);
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* Read a string of @len bytes (not NUL-terminated on disk). Like QEMU, an
 * embedded NUL simply ends the string. */
static int snap_read_string(struct snap_rd *rd, uint64_t off, uint16_t len,
                            char **out, struct err *err)
{
    char *s = mem_alloc((size_t)len + 1);
    int ret;

    if (!s) {
        return err_set(err, -ENOMEM, "snapshot string of %u bytes", len);
    }
    if (len) {
        ret = snap_pread(rd, off, s, len, err);
        if (ret < 0) {
            mem_free(s);
            return ret;
        }
    }
    s[len] = '\0';
    *out = s;
    return 0;
}

/*
 * Parse one entry at @off (8-byte aligned) into @sn and set *@next to the
 * offset just past it. Extra data above QCOW2_MAX_SNAPSHOT_EXTRA is refused
 * with -ERANGE unless @truncate_extra, which keeps only the first
 * QCOW2_MAX_SNAPSHOT_EXTRA bytes (check -r all) and sets *@truncated.
 */
static int snap_entry_read(struct qcow2_image *img, struct snap_rd *rd,
                           uint64_t off, uint32_t index, bool truncate_extra,
                           qcow2_check_report_fn *report, void *opaque,
                           struct qcow2_snapshot *sn, uint64_t *next,
                           bool *truncated, struct err *err)
{
    uint8_t h[SNAP_HDR_LEN];
    uint16_t id_len, name_len;
    uint32_t extra_len, keep;
    int ret;

    *truncated = false;
    ret = snap_pread(rd, off, h, sizeof(h), err);
    if (ret < 0) {
        return ret;
    }
    sn->l1_table_offset = rd_be64(h);
    sn->l1_size = rd_be32(h + 8);
    id_len = rd_be16(h + 12);
    name_len = rd_be16(h + 14);
    sn->date_sec = rd_be32(h + 16);
    sn->date_nsec = rd_be32(h + 20);
    sn->vm_clock_nsec = rd_be64(h + 24);
    sn->vm_state_size32 = rd_be32(h + 32);
    extra_len = rd_be32(h + 36);
    off += SNAP_HDR_LEN;

    keep = extra_len;
    if (extra_len > QCOW2_MAX_SNAPSHOT_EXTRA) {
        if (!truncate_extra) {
            return err_set(err, -ERANGE,
                           "Too much extra metadata in snapshot table entry "
                           "%" PRIu32,
                           index);
        }
        if (report) {
            char line[160];

            snprintf(line, sizeof(line),
                     "Discarding too much extra metadata in snapshot table "
                     "entry %" PRIu32 " (%" PRIu32 " > %u)",
                     index, extra_len, QCOW2_MAX_SNAPSHOT_EXTRA);
            report(opaque, line);
        }
        keep = QCOW2_MAX_SNAPSHOT_EXTRA;
        *truncated = true;
    }
    sn->extra_data_size = keep;
    if (keep) {
        sn->extra_data = mem_alloc(keep);
        if (!sn->extra_data) {
            return err_set(err, -ENOMEM, "snapshot extra data");
        }
        ret = snap_pread(rd, off, sn->extra_data, keep, err);
        if (ret < 0) {
            return ret;
        }
    }
    off += extra_len;
    snap_entry_decode_extra(img, sn);

    ret = snap_read_string(rd, off, id_len, &sn->id, err);
    if (ret < 0) {
        return ret;
    }
    off += id_len;
    ret = snap_read_string(rd, off, name_len, &sn->name, err);
    if (ret < 0) {
        return ret;
    }
    off += name_len;
    *next = off;
    return 0;
}

int qcow2_snapshots_read_table(struct qcow2_image *img, uint64_t table_off,
                               uint32_t nb, bool zero_fill, bool repair,
                               qcow2_check_report_fn *report, void *opaque,
                               struct qcow2_snapshot **out, uint32_t *out_nb,
                               uint64_t *table_len, int *dropped,
                               int *extra_dropped, struct err *err)
{
    struct qcow2_snapshot *tab = NULL;
    struct snap_rd rd = {0};
    uint64_t off = table_off;
    uint64_t len = 0;
    uint32_t i, n = 0;
    int ret = 0;

    if (nb > QCOW2_MAX_SNAPSHOTS) {
        return err_set(err, -ERANGE, "%" PRIu32 " snapshots exceeds limit %u",
                       nb, QCOW2_MAX_SNAPSHOTS);
    }
    if (nb && (qcow2_offset_into_cluster(img, table_off) ||
               table_off > QCOW2_MAX_HOST_OFFSET)) {
        return err_set(err, -EBADMSG,
                       "snapshot table offset %#" PRIx64 " invalid", table_off);
    }
    if (!nb) {
        *out = NULL;
        *out_nb = 0;
        *table_len = 0;
        return 0;
    }
    tab = mem_calloc(nb, sizeof(*tab));
    if (!tab) {
        return err_set(err, -ENOMEM, "snapshot table: %" PRIu32 " entries", nb);
    }
    ret = snap_rd_init(&rd, img, zero_fill, err);
    if (ret < 0) {
        goto out;
    }
    for (i = 0; i < nb; i++) {
        bool truncated = false;
        uint64_t next = 0;
        uint64_t start = (off + 7) & ~7ull;

        ret = snap_entry_read(img, &rd, start, i, repair, report, opaque,
                              &tab[i], &next, &truncated, err);
        if (ret < 0) {
            n = i + 1;
            goto out;
        }
        if (truncated) {
            (*extra_dropped)++;
        }
        len = ((len + 7) & ~7ull) + SNAP_HDR_LEN + tab[i].extra_data_size +
              strlen(tab[i].id) + strlen(tab[i].name);
        /* QEMU also bounds the table's extent on disk by INT_MAX. */
        if (len > SNAP_MAX_TABLE_BYTES || next - table_off > INT32_MAX) {
            if (!repair) {
                ret = err_set(err, -ERANGE, "Snapshot table is too big");
                n = i + 1;
                goto out;
            }
            if (report) {
                char line[128];

                snprintf(line, sizeof(line),
                         "Discarding %" PRIu32 " overhanging snapshots "
                         "(snapshot table is too big)",
                         nb - i);
                report(opaque, line);
            }
            *dropped += (int)(nb - i);
            snap_entry_fini(&tab[i]);
            break;
        }
        off = next;
    }
    n = i;
out:
    snap_rd_fini(&rd);
    if (ret < 0) {
        for (i = 0; i < n; i++) {
            snap_entry_fini(&tab[i]);
        }
        mem_free(tab);
        return ret;
    }
    *out = tab;
    *out_nb = n;
    *table_len = n ? off - table_off : 0;
    return 0;
}

int qcow2_snapshots_load(struct qcow2_image *img, struct err *err)
{
    struct qcow2_snapshot *tab = NULL;
    uint64_t len = 0;
    uint32_t n = 0;
    int dropped = 0, extra_dropped = 0;
    int ret;

    ret = qcow2_snapshots_read_table(
        img, img->hdr.snapshots_offset, img->hdr.nb_snapshots, false, false,
        NULL, NULL, &tab, &n, &len, &dropped, &extra_dropped, err);
    if (ret < 0) {
        if (img->flags & QCOW2_OPEN_CHECK) {
            /* qcow2_check() re-reads and reports the table. */
            log_debug("qcow2: snapshot table ignored for check: %s",
                      err ? err->msg : "");
            err_clear(err);
            qcow2_snapshots_free(img);
            return 0;
        }
        err_prefix(err, "snapshot table");
        return ret;
    }
    qcow2_snapshots_free(img);
    img->snapshots = tab;
    img->nb_snapshots = n;
    return 0;
}

size_t qcow2_snapshot_list(struct qcow2_image *img,
                           struct qcow2_snapshot_info *out, size_t cap)
{
    size_t i;

    if (!img || img->format != QCOW2_FORMAT_QCOW2) {
        return 0;
    }
    for (i = 0; out && i < cap && i < img->nb_snapshots; i++) {
        const struct qcow2_snapshot *sn = &img->snapshots[i];

        out[i].id = sn->id;
        out[i].name = sn->name;
        out[i].vm_state_size = sn->vm_state_size;
        out[i].date_sec = sn->date_sec;
        out[i].date_nsec = sn->date_nsec;
        out[i].vm_clock_nsec = sn->vm_clock_nsec;
        out[i].icount = sn->icount;
        out[i].disk_size = sn->disk_size;
    }
    return img->nb_snapshots;
}

/* Length in bytes of the table currently on disk (header's offset and
 * count), walking the entry headers. */
static int snap_table_disk_len(struct qcow2_image *img, uint64_t *len,
                               struct err *err)
{
    uint64_t off = img->hdr.snapshots_offset;
    uint32_t i;
    int ret;

    for (i = 0; i < img->hdr.nb_snapshots; i++) {
        uint8_t h[SNAP_HDR_LEN];

        off = (off + 7) & ~7ull;
        ret = qcow2_io_pread(img, off, h, sizeof(h), err);
        if (ret < 0) {
            return ret;
        }
        off += SNAP_HDR_LEN + (uint64_t)rd_be32(h + 36) + rd_be16(h + 12) +
               rd_be16(h + 14);
    }
    *len = off - img->hdr.snapshots_offset;
    return 0;
}

/* Serialise img->snapshots into @buf (@len bytes, zeroed by the caller). */
static void snap_table_encode(struct qcow2_image *img, uint8_t *buf)
{
    size_t off = 0;
    uint32_t i;

    for (i = 0; i < img->nb_snapshots; i++) {
        const struct qcow2_snapshot *sn = &img->snapshots[i];
        uint32_t extra = sn->extra_data_size;
        size_t id_len = strlen(sn->id), name_len = strlen(sn->name);
        uint8_t *h;

        if (extra < SNAP_EXTRA_LEN) {
            extra = SNAP_EXTRA_LEN;
        }
        off = (off + 7) & ~(size_t)7;
        h = buf + off;
        wr_be64(h, sn->l1_table_offset);
        wr_be32(h + 8, sn->l1_size);
        wr_be16(h + 12, (uint16_t)id_len);
        wr_be16(h + 14, (uint16_t)name_len);
        wr_be32(h + 16, sn->date_sec);
        wr_be32(h + 20, sn->date_nsec);
        wr_be64(h + 24, sn->vm_clock_nsec);
        /* Too large for 32 bits: older readers see a disk-only snapshot. */
        wr_be32(h + 32, sn->vm_state_size <= UINT32_MAX
                            ? (uint32_t)sn->vm_state_size
                            : 0);
        wr_be32(h + 36, extra);
        off += SNAP_HDR_LEN;
        if (sn->extra_data_size > SNAP_EXTRA_LEN) {
            memcpy(buf + off + SNAP_EXTRA_LEN, sn->extra_data + SNAP_EXTRA_LEN,
                   sn->extra_data_size - SNAP_EXTRA_LEN);
        }
        wr_be64(buf + off, sn->vm_state_size);
        wr_be64(buf + off + 8, sn->disk_size);
        wr_be64(buf + off + 16, sn->icount);
        off += extra;
        memcpy(buf + off, sn->id, id_len);
        off += id_len;
        memcpy(buf + off, sn->name, name_len);
        off += name_len;
    }
}

int qcow2_snapshots_store(struct qcow2_image *img, struct err *err)
{
    uint64_t old_len = 0;
    int ret;

    ret = snap_table_disk_len(img, &old_len, err);
    if (ret < 0) {
        err_prefix(err, "old snapshot table");
        return ret;
    }
    return qcow2_snapshots_store_over(img, img->hdr.snapshots_offset, old_len,
                                      err);
}

int qcow2_snapshots_store_over(struct qcow2_image *img, uint64_t old_off,
                               uint64_t old_len, struct err *err)
{
    uint64_t len = 0;
    int64_t new_off = 0;
    uint8_t *buf = NULL;
    uint8_t ptr[12];
    uint32_t i;
    int ret;

    for (i = 0; i < img->nb_snapshots; i++) {
        const struct qcow2_snapshot *sn = &img->snapshots[i];

        if (strlen(sn->id) > UINT16_MAX || strlen(sn->name) > UINT16_MAX) {
            return err_set(err, -ERANGE, "snapshot id or name too long");
        }
        len = ((len + 7) & ~7ull) + snap_entry_len(sn);
        if (len > SNAP_MAX_TABLE_BYTES) {
            return err_set(err, -ERANGE, "snapshot table is too big");
        }
    }
    if (len) {
        buf = mem_calloc(1, len);
        if (!buf) {
            return err_set(err, -ENOMEM, "snapshot table: %" PRIu64 " bytes",
                           len);
        }
        snap_table_encode(img, buf);
        new_off =
            qcow2_cluster_alloc(img, qcow2_size_to_clusters(img, len), err);
        if (new_off < 0) {
            ret = (int)new_off;
            new_off = 0;
            goto out;
        }
        if (qcow2_overlaps_metadata(img, (uint64_t)new_off, len)) {
            ret = qcow2_signal_corruption(img, err,
                                          "new snapshot table at %#" PRIx64
                                          " overlaps metadata",
                                          (uint64_t)new_off);
            goto out;
        }
        ret = qcow2_io_pwrite(img, (uint64_t)new_off, buf, len, err);
        if (ret < 0) {
            goto out;
        }
    }
    /* The new table and its refcounts must be stable before the header
     * points at it. */
    ret = qcow2_flush(img, err);
    if (ret < 0) {
        goto out;
    }
    wr_be32(ptr, img->nb_snapshots);
    wr_be64(ptr + 4, (uint64_t)new_off);
    ret = qcow2_io_pwrite(img, 60, ptr, sizeof(ptr), err);
    if (ret < 0) {
        img->sticky_err = ret;
        goto out;
    }
    img->hdr.nb_snapshots = img->nb_snapshots;
    img->hdr.snapshots_offset = (uint64_t)new_off;
    new_off = 0;
    ret = qcow2_flush(img, err);
    if (ret < 0) {
        goto out;
    }
    /* As QEMU, a failure to free the old table only leaks it. */
    if (old_off && old_len &&
        qcow2_cluster_free(img, old_off, old_len, NULL) < 0) {
        log_debug("qcow2: old snapshot table at %#" PRIx64 " leaked", old_off);
    }
out:
    if (new_off > 0) {
        qcow2_cluster_free(img, (uint64_t)new_off, len, NULL);
    }
    mem_free(buf);
    return ret;
}

/* Index of the snapshot whose id is @id, or -1. */
static int snap_find_id(const struct qcow2_image *img, const char *id)
{
    uint32_t i;

    for (i = 0; i < img->nb_snapshots; i++) {
        if (!strcmp(img->snapshots[i].id, id)) {
            return (int)i;
        }
    }
    return -1;
}

static int snap_find_name(const struct qcow2_image *img, const char *name)
{
    uint32_t i;

    for (i = 0; i < img->nb_snapshots; i++) {
        if (!strcmp(img->snapshots[i].name, name)) {
            return (int)i;
        }
    }
    return -1;
}

/* As QEMU: an id matches first, then a name. */
static int snap_find(const struct qcow2_image *img, const char *id_or_name)
{
    int i = snap_find_id(img, id_or_name);

    return i >= 0 ? i : snap_find_name(img, id_or_name);
}

/* QEMU's find_new_snapshot_id(): the largest numeric id plus one. */
static void snap_new_id(const struct qcow2_image *img, char *dst,
                        size_t dst_cap)
{
    unsigned long id, max = 0;
    uint32_t i;

    for (i = 0; i < img->nb_snapshots; i++) {
        id = strtoul(img->snapshots[i].id, NULL, 10);
        if (id > max) {
            max = id;
        }
    }
    snprintf(dst, dst_cap, "%lu", max + 1);
}

/* Common preconditions of the snapshot operations that write. */
static int snap_writable(struct qcow2_image *img, struct err *err)
{
    if (img->format != QCOW2_FORMAT_QCOW2) {
        return err_set(err, -ENOTSUP, "raw images have no snapshots");
    }
    if (img->data_file) {
        return err_set(err, -ENOTSUP,
                       "internal snapshots are not possible with an "
                       "external data file");
    }
    return qcow2_check_writable(img, err);
}

/* A snapshot's L1 must be usable before anything trusts it. */
static int snap_l1_validate(struct qcow2_image *img,
                            const struct qcow2_snapshot *sn, struct err *err)
{
    if (sn->l1_size > QCOW2_MAX_L1_BYTES / 8) {
        return err_set(err, -ERANGE,
                       "snapshot %s: L1 table of %" PRIu32
                       " entries exceeds limit %u",
                       sn->id, sn->l1_size, QCOW2_MAX_L1_BYTES / 8);
    }
    if (qcow2_offset_into_cluster(img, sn->l1_table_offset) ||
        sn->l1_table_offset > QCOW2_MAX_HOST_OFFSET ||
        (sn->l1_size && sn->l1_table_offset < img->cluster_size)) {
        return err_set(err, -EBADMSG,
                       "snapshot %s: L1 table offset %#" PRIx64 " invalid",
                       sn->id, sn->l1_table_offset);
    }
    return 0;
}

/* Write @n entries of @l1 (host-endian) big-endian at @off. */
static int snap_l1_write_at(struct qcow2_image *img, uint64_t off,
                            const uint64_t *l1, uint32_t n, struct err *err)
{
    uint8_t *buf;
    uint32_t i;
    int ret;

    if (!n) {
        return 0;
    }
    buf = mem_alloc((size_t)n * 8);
    if (!buf) {
        return err_set(err, -ENOMEM, "L1 copy of %" PRIu32 " entries", n);
    }
    /* COPIED means nothing outside the active L1: store none. */
    for (i = 0; i < n; i++) {
        wr_be64(buf + (size_t)i * 8, l1[i] & ~QCOW2_OFLAG_COPIED);
    }
    if (qcow2_overlaps_metadata(img, off, (uint64_t)n * 8)) {
        ret = qcow2_signal_corruption(
            img, err, "L1 copy at %#" PRIx64 " overlaps metadata", off);
    } else {
        ret = qcow2_io_pwrite(img, off, buf, (size_t)n * 8, err);
    }
    mem_free(buf);
    return ret;
}

/* Allocate clusters for @n L1 entries and write @l1 there. Sets *@out to
 * the offset (0 when @n is 0). */
static int snap_l1_copy(struct qcow2_image *img, const uint64_t *l1, uint32_t n,
                        uint64_t *out, struct err *err)
{
    int64_t off;
    int ret;

    *out = 0;
    if (!n) {
        return 0;
    }
    off = qcow2_cluster_alloc(img, qcow2_size_to_clusters(img, (uint64_t)n * 8),
                              err);
    if (off < 0) {
        return (int)off;
    }
    ret = snap_l1_write_at(img, (uint64_t)off, l1, n, err);
    if (ret < 0) {
        qcow2_cluster_free(img, (uint64_t)off, (uint64_t)n * 8, NULL);
        return ret;
    }
    *out = (uint64_t)off;
    return 0;
}

/*
 * After a failure part-way through changing refcounts, make the active
 * COPIED flags match the refcounts again if at all possible, so that the
 * failure costs leaked clusters only. Errors are ignored: the caller
 * already returns one.
 */
static void snap_fix_flags_after_error(struct qcow2_image *img)
{
    if (img->sticky_err < 0) {
        return;
    }
    /* Rewrite the whole active L1 too: a failed entry write may have left
     * the disk behind the in-memory table. */
    if (qcow2_fix_copied_flags(img, NULL) == 0 &&
        qcow2_l1_write(img, 0, img->l1_size, NULL) == 0) {
        (void)qcow2_flush(img, NULL);
    }
}

static uint64_t snap_vm_state_offset(const struct qcow2_image *img)
{
    return qcow2_size_to_l1(img, img->size)
           << (img->cluster_bits + img->l2_bits);
}

int qcow2_snapshot_create(struct qcow2_image *img,
                          const struct qcow2_snapshot_params *p,
                          struct err *err)
{
    struct qcow2_snapshot sn, *tab;
    char idbuf[24];
    const char *id;
    bool shared = false;
    int ret;

    CHECK_ARG(img && p && p->name);
    memset(&sn, 0, sizeof(sn));
    if (!p->name[0]) {
        return err_set(err, -EINVAL, "snapshot name must not be empty");
    }
    ret = snap_writable(img, err);
    if (ret < 0) {
        return ret;
    }
    if (img->refcount_bits < 2) {
        return err_set(err, -ENOTSUP,
                       "snapshots need refcount_bits >= 2 (this image has "
                       "1; convert it with amend -o refcount_bits=16)");
    }
    if (img->nb_snapshots >= QCOW2_MAX_SNAPSHOTS) {
        return err_set(err, -ERANGE, "too many snapshots (limit %u)",
                       QCOW2_MAX_SNAPSHOTS);
    }
    if (p->id && p->id[0]) {
        id = p->id;
    } else {
        snap_new_id(img, idbuf, sizeof(idbuf));
        id = idbuf;
    }
    if (strlen(id) > UINT16_MAX || strlen(p->name) > UINT16_MAX) {
        return err_set(err, -ERANGE, "snapshot id or name too long");
    }
    if (snap_find_id(img, id) >= 0) {
        return err_set(err, -EEXIST, "a snapshot with id '%s' exists", id);
    }
    /* Names may repeat, as in QEMU's qcow2 driver; only ids are unique. */

    sn.id = mem_strdup(id);
    sn.name = mem_strdup(p->name);
    sn.extra_data = mem_calloc(1, SNAP_EXTRA_LEN);
    if (!sn.id || !sn.name || !sn.extra_data) {
        ret = err_set(err, -ENOMEM, "snapshot entry");
        goto fail;
    }
    sn.extra_data_size = SNAP_EXTRA_LEN;
    sn.date_sec = p->date_sec;
    sn.date_nsec = p->date_nsec;
    sn.vm_clock_nsec = p->vm_clock_nsec;
    sn.vm_state_size = p->vm_state_size;
    sn.vm_state_size32 =
        p->vm_state_size <= UINT32_MAX ? (uint32_t)p->vm_state_size : 0;
    sn.disk_size = img->size;
    sn.icount = p->icount;
    wr_be64(sn.extra_data, sn.vm_state_size);
    wr_be64(sn.extra_data + 8, sn.disk_size);
    wr_be64(sn.extra_data + 16, sn.icount);

    /* Write back cached tables; qcow2_snapshots_store() syncs everything
     * before the header points at the new snapshot. */
    ret = qcow2_metadata_flush(img, err);
    if (ret < 0) {
        goto fail;
    }
    sn.l1_size = img->l1_size;
    ret = snap_l1_copy(img, img->l1_table, img->l1_size, &sn.l1_table_offset,
                       err);
    if (ret < 0) {
        goto fail;
    }
    ret = qcow2_update_snapshot_refcount(img, img->hdr.l1_table_offset,
                                         img->l1_size, 1, err);
    shared = true;
    if (ret < 0) {
        goto fail;
    }
    ret = qcow2_fix_copied_flags(img, err);
    if (ret < 0) {
        goto fail;
    }

    tab = mem_realloc(img->snapshots,
                      ((size_t)img->nb_snapshots + 1) * sizeof(*tab));
    if (!tab) {
        ret = err_set(err, -ENOMEM, "snapshot table");
        goto fail;
    }
    img->snapshots = tab;
    img->snapshots[img->nb_snapshots++] = sn;
    ret = qcow2_snapshots_store(img, err);
    if (ret < 0) {
        img->nb_snapshots--;
        goto fail;
    }
    memset(&sn, 0, sizeof(sn));

    /* The VM state now lives in the snapshot; keeping it mapped in the
     * active L1 would make the next snapshot share (and COW) it. */
    if (!p->keep_vmstate && p->vm_state_size) {
        uint64_t len = (p->vm_state_size + img->cluster_size - 1) &
                       ~(img->cluster_size - 1);

        ret = qcow2_guest_discard(img, snap_vm_state_offset(img), len, err);
        if (ret < 0) {
            err_prefix(err, "dropping the VM state from the active L1");
            return ret;
        }
    }
    return 0;

fail:
    /* Clusters already referenced for the new snapshot leak (check -r
     * leaks reclaims them), as in QEMU; the COPIED flags must still match
     * the refcounts. */
    if (shared) {
        snap_fix_flags_after_error(img);
    }
    snap_entry_fini(&sn);
    return ret;
}

int qcow2_snapshot_apply(struct qcow2_image *img, const char *id_or_name,
                         struct err *err)
{
    struct qcow2_snapshot *sn;
    uint64_t *sn_l1 = NULL, *old_l1 = NULL;
    uint64_t tmp_off = 0;
    uint32_t cur_size, old_size, i;
    uint8_t *raw = NULL;
    bool shared = false;
    int idx, ret;

    CHECK_ARG(img && id_or_name);
    ret = snap_writable(img, err);
    if (ret < 0) {
        return ret;
    }
    idx = snap_find(img, id_or_name);
    if (idx < 0) {
        return err_set(err, -ENOENT, "snapshot '%s' not found", id_or_name);
    }
    sn = &img->snapshots[idx];
    ret = snap_l1_validate(img, sn, err);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_metadata_flush(img, err);
    if (ret < 0) {
        return ret;
    }

    /* The disk size reverts to the snapshot's (QEMU truncates first). */
    if (sn->disk_size != img->size) {
        uint64_t need = qcow2_size_to_l1(img, sn->disk_size);

        if (need > QCOW2_MAX_L1_BYTES / 8) {
            return err_set(err, -ERANGE,
                           "snapshot %s: disk size %" PRIu64 " too large",
                           sn->id, sn->disk_size);
        }
        if (need > img->l1_size) {
            ret = qcow2_l1_grow(img, need, err);
            if (ret < 0) {
                return ret;
            }
        }
        img->size = sn->disk_size;
        img->hdr.size = sn->disk_size;
        img->vm_state_offset = snap_vm_state_offset(img);
        ret = qcow2_header_write(img, err);
        if (ret < 0) {
            return ret;
        }
    }
    if (sn->l1_size > img->l1_size) {
        ret = qcow2_l1_grow(img, sn->l1_size, err);
        if (ret < 0) {
            return ret;
        }
    }
    cur_size = img->l1_size;

    sn_l1 = mem_calloc(cur_size ? cur_size : 1, sizeof(uint64_t));
    old_l1 = mem_alloc((cur_size ? cur_size : 1) * sizeof(uint64_t));
    raw = mem_alloc(sn->l1_size ? (size_t)sn->l1_size * 8 : 1);
    if (!sn_l1 || !old_l1 || !raw) {
        ret = err_set(err, -ENOMEM, "L1 tables");
        goto out;
    }
    if (sn->l1_size) {
        ret = qcow2_io_pread(img, sn->l1_table_offset, raw,
                             (size_t)sn->l1_size * 8, err);
        if (ret < 0) {
            err_prefix(err, "snapshot %s L1", sn->id);
            goto out;
        }
    }
    /* The copy carries the COPIED flags of its day; until they are fixed
     * below, the new active L1 must not claim sole ownership of anything
     * (a crash in between would let writes modify shared L2 tables). */
    for (i = 0; i < sn->l1_size; i++) {
        sn_l1[i] = rd_be64(raw + (size_t)i * 8) & ~QCOW2_OFLAG_COPIED;
    }
    memcpy(old_l1, img->l1_table, (size_t)cur_size * 8);
    old_size = cur_size;

    /* +1 on the snapshot's tree before the active L1 points at it. */
    ret = qcow2_update_snapshot_refcount(img, sn->l1_table_offset, sn->l1_size,
                                         1, err);
    shared = true;
    if (ret < 0) {
        goto out;
    }
    /* Park the old active L1 so its tree can be released by offset. */
    ret = snap_l1_copy(img, old_l1, old_size, &tmp_off, err);
    if (ret < 0) {
        goto out;
    }
    ret = qcow2_flush(img, err);
    if (ret < 0) {
        goto out;
    }
    memcpy(img->l1_table, sn_l1, (size_t)cur_size * 8);
    ret = qcow2_l1_write(img, 0, cur_size, err);
    if (ret < 0) {
        /* The active L1 on disk is still the old one (or the image is in
         * its sticky error state): keep the memory copy in step. */
        memcpy(img->l1_table, old_l1, (size_t)cur_size * 8);
        goto out;
    }
    ret = qcow2_flush(img, err);
    if (ret < 0) {
        goto out;
    }
    /* From here a failure only leaks clusters. */
    ret = qcow2_update_snapshot_refcount(img, tmp_off, old_size, -1, err);
    if (ret < 0) {
        goto out;
    }
    ret = qcow2_cluster_free(img, tmp_off, (uint64_t)old_size * 8, err);
    tmp_off = 0;
    if (ret < 0) {
        goto out;
    }
    ret = qcow2_fix_copied_flags(img, err);
    if (ret < 0) {
        goto out;
    }
    ret = qcow2_flush(img, err);
out:
    if (ret < 0 && shared) {
        snap_fix_flags_after_error(img);
    }
    mem_free(raw);
    mem_free(sn_l1);
    mem_free(old_l1);
    return ret;
}

int qcow2_snapshot_delete(struct qcow2_image *img, const char *id_or_name,
                          struct err *err)
{
    struct qcow2_snapshot sn;
    int idx, ret;

    CHECK_ARG(img && id_or_name);
    ret = snap_writable(img, err);
    if (ret < 0) {
        return ret;
    }
    idx = snap_find(img, id_or_name);
    if (idx < 0) {
        return err_set(err, -ENOENT, "snapshot '%s' not found", id_or_name);
    }
    ret = snap_l1_validate(img, &img->snapshots[idx], err);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_metadata_flush(img, err);
    if (ret < 0) {
        return ret;
    }

    /* Remove the entry first: a crash later only leaks clusters. */
    sn = img->snapshots[idx];
    memmove(&img->snapshots[idx], &img->snapshots[idx + 1],
            (img->nb_snapshots - (uint32_t)idx - 1) * sizeof(sn));
    img->nb_snapshots--;
    ret = qcow2_snapshots_store(img, err);
    if (ret < 0) {
        memmove(&img->snapshots[idx + 1], &img->snapshots[idx],
                (img->nb_snapshots - (uint32_t)idx) * sizeof(sn));
        img->snapshots[idx] = sn;
        img->nb_snapshots++;
        err_prefix(err, "removing the snapshot from the table");
        return ret;
    }
    ret = qcow2_update_snapshot_refcount(img, sn.l1_table_offset, sn.l1_size,
                                         -1, err);
    if (ret < 0) {
        goto out;
    }
    if (sn.l1_size) {
        ret = qcow2_cluster_free(img, sn.l1_table_offset,
                                 (uint64_t)sn.l1_size * 8, err);
        if (ret < 0) {
            goto out;
        }
    }
    ret = qcow2_fix_copied_flags(img, err);
    if (ret < 0) {
        goto out;
    }
    ret = qcow2_flush(img, err);
out:
    if (ret < 0) {
        snap_fix_flags_after_error(img);
    }
    snap_entry_fini(&sn);
    return ret;
}

/* Bounds of the VM-state area: whatever the largest L1 can address. */
static int snap_vmstate_range(struct qcow2_image *img, uint64_t off, size_t len,
                              uint64_t *guest_off, struct err *err)
{
    uint64_t base, limit;

    if (img->format != QCOW2_FORMAT_QCOW2) {
        return err_set(err, -ENOTSUP, "raw images have no VM-state area");
    }
    base = snap_vm_state_offset(img);
    limit = (uint64_t)(QCOW2_MAX_L1_BYTES / 8)
            << (img->cluster_bits + img->l2_bits);
    if (base > limit || off > limit - base || len > limit - base - off) {
        return err_set(err, -ERANGE,
                       "VM-state range %" PRIu64 "+%zu beyond what the L1 "
                       "can address",
                       off, len);
    }
    *guest_off = base + off;
    return 0;
}

int qcow2_vmstate_read(struct qcow2_image *img, uint64_t off, void *dst,
                       size_t len, struct err *err)
{
    uint64_t goff;
    int ret;

    CHECK_ARG(img && (dst || !len));
    ret = snap_vmstate_range(img, off, len, &goff, err);
    if (ret < 0) {
        return ret;
    }
    return qcow2_guest_read(img, goff, dst, len, err);
}

int qcow2_vmstate_write(struct qcow2_image *img, uint64_t off, const void *src,
                        size_t len, struct err *err)
{
    uint64_t goff;
    int ret;

    CHECK_ARG(img && (src || !len));
    ret = snap_vmstate_range(img, off, len, &goff, err);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_check_writable(img, err);
    if (ret < 0) {
        return ret;
    }
    return qcow2_guest_write(img, goff, src, len, err);
}
