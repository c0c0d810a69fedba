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
#include <time.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/fmt.h"
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

/* Bytes of a table holding @snaps (@nb entries): 0, or -ERANGE with a
 * message when too big. */
static int snap_table_len(const struct qcow2_snapshot *snaps, uint32_t nb,
                          uint64_t *out, struct err *err)
{
    uint64_t len = 0;
    uint32_t i;

    for (i = 0; i < nb; i++) {
        if (strlen(snaps[i].id) > UINT16_MAX ||
            strlen(snaps[i].name) > UINT16_MAX) {
            return err_set(err, -ERANGE, "snapshot id or name too long");
        }
        len = ((len + 7) & ~7ull) + snap_entry_len(&snaps[i]);
        if (len > SNAP_MAX_TABLE_BYTES) {
            return err_set(err, -ERANGE, "snapshot table is too big");
        }
    }
    *out = len;
    return 0;
}

/* Serialise @snaps (@nb entries) into @buf (zeroed by the caller, as long
 * as snap_table_len() says). */
static void snap_table_encode(const struct qcow2_snapshot *snaps, uint32_t nb,
                              uint8_t *buf)
{
    size_t off = 0;
    uint32_t i;

    for (i = 0; i < nb; i++) {
        const struct qcow2_snapshot *sn = &snaps[i];
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
    int ret;

    ret = snap_table_len(img->snapshots, img->nb_snapshots, &len, err);
    if (ret < 0) {
        return ret;
    }
    if (len) {
        buf = mem_calloc(1, len);
        if (!buf) {
            return err_set(err, -ENOMEM, "snapshot table: %" PRIu64 " bytes",
                           len);
        }
        snap_table_encode(img->snapshots, img->nb_snapshots, buf);
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
    int ret;

    if (img->format != QCOW2_FORMAT_QCOW2) {
        return err_set(err, -ENOTSUP, "raw images have no snapshots");
    }
    if (img->data_file) {
        return err_set(err, -ENOTSUP,
                       "internal snapshots are not possible with an "
                       "external data file");
    }
    ret = qcow2_check_writable(img, err);
    if (ret == 0) {
        /* Snapshot operations recount every reference: no free may be
         * pending then. */
        ret = qcow2_frees_settle(img, err);
    }
    return ret;
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

/* Read snapshot @sn's (validated) L1 table into @l1, which holds at least
 * sn->l1_size entries. */
static int snap_l1_read(struct qcow2_image *img,
                        const struct qcow2_snapshot *sn, uint64_t *l1,
                        struct err *err)
{
    uint8_t *raw;
    uint32_t i;
    int ret;

    if (!sn->l1_size) {
        return 0;
    }
    raw = mem_alloc((size_t)sn->l1_size * 8);
    if (!raw) {
        return err_set(err, -ENOMEM, "L1 table");
    }
    ret = qcow2_io_pread(img, sn->l1_table_offset, raw, (size_t)sn->l1_size * 8,
                         err);
    if (ret < 0) {
        err_prefix(err, "snapshot %s L1", sn->id);
    }
    for (i = 0; ret == 0 && i < sn->l1_size; i++) {
        l1[i] = rd_be64(raw + (size_t)i * 8);
    }
    mem_free(raw);
    return ret;
}

static uint64_t snap_vm_state_offset(const struct qcow2_image *img)
{
    return qcow2_size_to_l1(img, img->size)
           << (img->cluster_bits + img->l2_bits);
}

/*
 * A snapshot operation's new state (shadow update). Everything it writes
 * goes to clusters that are free in the old state, and one write of the
 * header's first sector switches from the old state to the new one; see
 * docs/formats/qcow2-snapshots.md.
 */
struct snap_txn {
    struct qcow2_shadow sh;       /* clusters the update may not write */
    struct qcow2_refs refs;       /* refcounts of the new state */
    struct qcow2_reftable reft;   /* new refcount table */
    uint64_t *l1;                 /* new active L1, host-endian; owned */
    uint32_t l1_size;             /* entries */
    uint64_t l1_off;              /* where the new active L1 goes */
    struct qcow2_snapshot *snaps; /* new table (shallow copies); owned */
    uint32_t nb_snaps;
    uint64_t *sn_l1;   /* L1 of the snapshot being created (host-endian,
                          placed and written by the commit); owned */
    int sn_idx;        /* index of that snapshot in @snaps; -1 if none */
    bool new_table;    /* write @snaps as a new table, else keep the old */
    uint64_t snap_off; /* snapshot table of the new state; 0 if none */
    uint64_t snap_len; /* bytes */
    uint64_t size;     /* guest disk size of the new state, bytes */
    bool adopted;      /* the header switched and @img holds the new state */
};

static void snap_txn_fini(struct snap_txn *t)
{
    qcow2_shadow_fini(&t->sh);
    qcow2_refs_fini(&t->refs);
    mem_free(t->reft.table);
    mem_free(t->l1);
    mem_free(t->sn_l1);
    mem_free(t->snaps);
    memset(t, 0, sizeof(*t));
    t->sn_idx = -1;
}

/* Put everything cached on disk, and learn which clusters are in use. */
static int snap_txn_begin(struct qcow2_image *img, struct snap_txn *t,
                          struct err *err)
{
    int ret;

    memset(t, 0, sizeof(*t));
    t->sn_idx = -1;
    ret = qcow2_flush(img, err);
    if (ret < 0) {
        return ret;
    }
    return qcow2_shadow_init(img, &t->sh, err);
}

/* A shallow copy of the snapshot table without entry @skip (-1: none) and
 * with room for @extra more entries. */
static int snap_txn_copy_table(struct qcow2_image *img, struct snap_txn *t,
                               int skip, uint32_t extra, struct err *err)
{
    uint32_t i, n = 0;

    t->snaps =
        mem_calloc((size_t)img->nb_snapshots + extra + 1, sizeof(*t->snaps));
    if (!t->snaps) {
        return err_set(err, -ENOMEM, "snapshot table");
    }
    for (i = 0; i < img->nb_snapshots; i++) {
        if ((int)i != skip) {
            t->snaps[n++] = img->snapshots[i];
        }
    }
    t->nb_snaps = n;
    return 0;
}

/* Write @n entries of @l1 big-endian at @off; COPIED kept only if
 * @copied (it means nothing outside the active L1). */
static int snap_l1_write_at(struct qcow2_image *img, uint64_t off,
                            const uint64_t *l1, uint32_t n, bool copied,
                            struct err *err)
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
    for (i = 0; i < n; i++) {
        wr_be64(buf + (size_t)i * 8,
                copied ? l1[i] : l1[i] & ~QCOW2_OFLAG_COPIED);
    }
    ret = qcow2_io_pwrite(img, off, buf, (size_t)n * 8, err);
    mem_free(buf);
    return ret;
}

/* The new snapshot table, placed in free clusters and written (after
 * the count, which it joins); or the old one, kept. */
static int snap_txn_table(struct qcow2_image *img, struct snap_txn *t,
                          struct err *err)
{
    uint8_t *buf;
    int64_t off;
    int ret;

    ret = snap_table_len(t->snaps, t->nb_snaps, &t->snap_len, err);
    if (ret < 0 || t->snap_len == 0) {
        t->snap_off = 0;
        return ret;
    }
    buf = mem_calloc(1, t->snap_len);
    if (!buf) {
        return err_set(err, -ENOMEM, "snapshot table: %" PRIu64 " bytes",
                       t->snap_len);
    }
    snap_table_encode(t->snaps, t->nb_snaps, buf);
    off = qcow2_refs_take(img, &t->refs, &t->sh,
                          qcow2_size_to_clusters(img, t->snap_len), err);
    if (off < 0) {
        ret = (int)off;
    } else {
        t->snap_off = (uint64_t)off;
        ret = qcow2_io_pwrite(img, t->snap_off, buf, t->snap_len, err);
    }
    mem_free(buf);
    return ret;
}

/* Place @n L1 entries in free clusters (counted in t->refs); *@out is the
 * offset, or @keep when @n is 0. */
static int snap_txn_place_l1(struct qcow2_image *img, struct snap_txn *t,
                             uint32_t n, uint64_t keep, uint64_t *out,
                             struct err *err)
{
    int64_t off;

    *out = keep;
    if (!n) {
        return 0;
    }
    off = qcow2_refs_take(img, &t->refs, &t->sh,
                          qcow2_size_to_clusters(img, (uint64_t)n * 8), err);
    if (off < 0) {
        return (int)off;
    }
    *out = (uint64_t)off;
    return 0;
}

/*
 * COPIED in the new active tree. A data entry's flag must say whether the
 * new refcount of its cluster is 1; an L2 table whose flags must change is
 * copied (with the new flags) into a fresh cluster and the new L1 points at
 * the copy, since the old table stays in use until the switch (and after
 * it, by a snapshot). Copying moves the active L1's reference from the old
 * table to the copy: data refcounts do not change. Then each L1 entry's
 * flag follows its table's new refcount.
 */
static int snap_txn_copied(struct qcow2_image *img, struct snap_txn *t,
                           struct err *err)
{
    uint64_t cs = img->cluster_size;
    uint8_t *buf = mem_alloc(cs);
    uint32_t i;
    int ret = 0;

    if (!buf) {
        return err_set(err, -ENOMEM, "L2 table buffer");
    }
    for (i = 0; i < t->l1_size; i++) {
        uint64_t l2 = t->l1[i] & QCOW2_L1E_OFFSET_MASK;
        bool changed = false;
        int64_t copy;
        uint64_t k;

        if (!l2) {
            continue;
        }
        ret = qcow2_io_pread(img, l2, buf, cs, err);
        if (ret < 0) {
            err_prefix(err, "L2 table at %#" PRIx64, l2);
            goto out;
        }
        for (k = 0; k < img->l2_size; k++) {
            uint8_t *p = buf + k * img->l2_entry_size;
            uint64_t e = rd_be64(p);
            uint64_t host = e & QCOW2_L2E_OFFSET_MASK;
            uint64_t want;

            if ((e & QCOW2_OFLAG_COMPRESSED) || !host) {
                continue;
            }
            want = qcow2_refs_get(img, &t->refs, host >> img->cluster_bits) == 1
                       ? e | QCOW2_OFLAG_COPIED
                       : e & ~QCOW2_OFLAG_COPIED;
            if (want != e) {
                wr_be64(p, want);
                changed = true;
            }
        }
        if (!changed) {
            continue;
        }
        copy = qcow2_shadow_alloc(img, &t->sh, 1, err);
        if (copy < 0) {
            ret = (int)copy;
            goto out;
        }
        ret = qcow2_refs_add(img, &t->refs, l2 >> img->cluster_bits, -1);
        if (ret == 0) {
            ret = qcow2_refs_add(img, &t->refs,
                                 (uint64_t)copy >> img->cluster_bits, 1);
        }
        if (ret < 0) {
            ret = err_set(err, ret, "refcount of a copied L2 table");
            goto out;
        }
        ret = qcow2_io_pwrite(img, (uint64_t)copy, buf, cs, err);
        if (ret < 0) {
            goto out;
        }
        t->l1[i] = (t->l1[i] & ~QCOW2_L1E_OFFSET_MASK) | (uint64_t)copy;
    }
    for (i = 0; i < t->l1_size; i++) {
        uint64_t l2 = t->l1[i] & QCOW2_L1E_OFFSET_MASK;

        if (l2 && qcow2_refs_get(img, &t->refs, l2 >> img->cluster_bits) == 1) {
            t->l1[i] |= QCOW2_OFLAG_COPIED;
        }
    }
out:
    mem_free(buf);
    return ret;
}

/* Switch: the first sector of the header, patched and written in one
 * piece (the fields it changes all live there). */
static int snap_txn_switch(struct qcow2_image *img, struct snap_txn *t,
                           struct err *err)
{
    uint8_t sec[512];
    int ret;

    ret = qcow2_io_pread(img, 0, sec, sizeof(sec), err);
    if (ret < 0) {
        return ret;
    }
    if (rd_be32(sec) != QCOW2_MAGIC ||
        rd_be64(sec + 40) != img->hdr.l1_table_offset ||
        rd_be64(sec + 48) != img->hdr.refcount_table_offset) {
        return qcow2_signal_corruption(img, err,
                                       "header changed under a snapshot "
                                       "operation");
    }
    wr_be64(sec + 24, t->size);
    wr_be32(sec + 36, t->l1_size);
    wr_be64(sec + 40, t->l1_off);
    wr_be64(sec + 48, t->reft.offset);
    wr_be32(sec + 56, t->reft.clusters);
    wr_be32(sec + 60, t->nb_snaps);
    wr_be64(sec + 64, t->snap_off);
    ret = qcow2_io_pwrite(img, 0, sec, sizeof(sec), err);
    if (ret < 0) {
        img->sticky_err = ret;
    }
    return ret;
}

/* Make the in-memory image the new state (nothing here can fail). */
static void snap_txn_adopt(struct qcow2_image *img, struct snap_txn *t)
{
    uint64_t i, end;

    mem_free(img->l1_table);
    img->l1_table = t->l1;
    t->l1 = NULL;
    img->l1_size = t->l1_size;
    img->hdr.l1_size = t->l1_size;
    img->hdr.l1_table_offset = t->l1_off;

    mem_free(img->refcount_table);
    img->refcount_table = t->reft.table;
    t->reft.table = NULL;
    img->refcount_table_size = t->reft.entries;
    img->hdr.refcount_table_offset = t->reft.offset;
    img->hdr.refcount_table_clusters = t->reft.clusters;
    img->reftable_used = 0;
    for (i = 0; i < img->refcount_table_size; i++) {
        if (img->refcount_table[i]) {
            img->reftable_used = i + 1;
        }
    }
    img->reftable_used_of = img->refcount_table;

    mem_free(img->snapshots);
    img->snapshots = t->snaps;
    t->snaps = NULL;
    img->nb_snapshots = t->nb_snaps;
    img->hdr.nb_snapshots = t->nb_snaps;
    img->hdr.snapshots_offset = t->snap_off;

    img->size = t->size;
    img->hdr.size = t->size;
    img->vm_state_offset = snap_vm_state_offset(img);

    /* Nothing cached is dirty (everything was flushed first), and cached
     * tables may sit in clusters the new state freed. */
    (void)qcow2_cache_empty(img->l2_cache, NULL);
    (void)qcow2_cache_empty(img->refcount_cache, NULL);
    qcow2_cluster_invalidate(img);
    img->free_cluster_index = 0;
    img->freed_min = UINT64_MAX;
    img->free_byte_offset = 0;
    end = t->sh.end << img->cluster_bits;
    if (end > img->file_size) {
        img->file_size = end;
    }
    t->adopted = true;
}

/*
 * Write the new state described by @t (new active L1 in t->l1 pointing at
 * the tables it shares, new snapshot list, new size) beside the old one,
 * then switch: count the new state's references, copy the active L2 tables
 * whose COPIED flags change, write the active L1, the refcount blocks and
 * table, sync, write the header's first sector, sync. A failure before the
 * header write leaves the image and @img as they were (the clusters written
 * are unreferenced and have refcount 0); t->adopted says whether @img holds
 * the new state.
 */
static int snap_txn_commit(struct qcow2_image *img, struct snap_txn *t,
                           struct err *err)
{
    const uint64_t **snap_l1 = NULL;
    struct qcow2_state st;
    uint64_t file_len;
    uint32_t i;
    int ret;

    /* COPIED is decided below, from the new refcounts. */
    for (i = 0; i < t->l1_size; i++) {
        t->l1[i] &= ~QCOW2_OFLAG_COPIED;
    }
    /* Count first, with the new L1s and table not placed yet: then every
     * cluster the new state references is known busy before any is
     * taken, even where an old refcount was too low. */
    memset(&st, 0, sizeof(st));
    if (t->sn_idx >= 0) {
        snap_l1 = mem_calloc(t->nb_snaps, sizeof(*snap_l1));
        if (!snap_l1) {
            return err_set(err, -ENOMEM, "snapshot L1 list");
        }
        snap_l1[t->sn_idx] = t->sn_l1;
        st.snap_l1 = snap_l1;
    }
    if (!t->new_table) {
        t->snap_off = img->hdr.nb_snapshots ? img->hdr.snapshots_offset : 0;
        ret = snap_table_disk_len(img, &t->snap_len, err);
        if (ret < 0) {
            err_prefix(err, "snapshot table");
            goto out;
        }
    }
    st.l1 = t->l1;
    st.l1_size = t->l1_size;
    st.snapshots = t->snaps;
    st.nb_snapshots = t->nb_snaps;
    st.snap_offset = t->snap_off;
    st.snap_len = t->snap_len;
    file_len = img->disk_end > img->file_size ? img->disk_end : img->file_size;
    ret = qcow2_refs_count(img, &st, file_len, &t->refs, err);
    if (ret == 0) {
        ret = qcow2_refs_mark_busy(img, &t->refs, &t->sh, err);
    }
    if (ret < 0) {
        goto out;
    }
    ret = snap_txn_place_l1(img, t, t->l1_size, img->hdr.l1_table_offset,
                            &t->l1_off, err);
    if (ret < 0) {
        goto out;
    }
    if (t->sn_idx >= 0) {
        struct qcow2_snapshot *sn = &t->snaps[t->sn_idx];

        ret = snap_txn_place_l1(img, t, sn->l1_size, 0, &sn->l1_table_offset,
                                err);
        if (ret == 0) {
            ret = snap_l1_write_at(img, sn->l1_table_offset, t->sn_l1,
                                   sn->l1_size, false, err);
        }
        if (ret < 0) {
            goto out;
        }
    }
    if (t->new_table) {
        ret = snap_txn_table(img, t, err);
        if (ret < 0) {
            goto out;
        }
    }
    ret = snap_txn_copied(img, t, err);
    if (ret < 0) {
        goto out;
    }
    ret = snap_l1_write_at(img, t->l1_off, t->l1, t->l1_size, true, err);
    if (ret < 0) {
        goto out;
    }
    ret = qcow2_refs_write(img, &t->refs, &t->sh, &t->reft, err);
    if (ret < 0) {
        goto out;
    }
    ret = qcow2_sync(img, err);
    if (ret < 0) {
        goto out;
    }
    ret = snap_txn_switch(img, t, err);
    if (ret < 0) {
        goto out;
    }
    snap_txn_adopt(img, t);
    ret = qcow2_sync(img, err);
out:
    mem_free(snap_l1);
    return ret;
}

int qcow2_snapshot_create(struct qcow2_image *img,
                          const struct qcow2_snapshot_params *p,
                          struct err *err)
{
    struct qcow2_snapshot sn;
    struct snap_txn t;
    char idbuf[24];
    const char *id;
    int ret;

    CHECK_ARG(img && p && p->name);
    memset(&sn, 0, sizeof(sn));
    memset(&t, 0, sizeof(t));
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
        goto out;
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

    ret = snap_txn_begin(img, &t, err);
    if (ret < 0) {
        goto out;
    }
    /* The snapshot's L1: the active one's entries (placed by the commit). */
    sn.l1_size = img->l1_size;
    sn.l1_table_offset = 0;
    t.l1_size = img->l1_size;
    t.l1 = mem_alloc(t.l1_size ? (size_t)t.l1_size * 8 : 8);
    t.sn_l1 = mem_alloc(t.l1_size ? (size_t)t.l1_size * 8 : 8);
    if (!t.l1 || !t.sn_l1) {
        ret = err_set(err, -ENOMEM, "L1 table");
        goto out;
    }
    memcpy(t.l1, img->l1_table, (size_t)t.l1_size * 8);
    memcpy(t.sn_l1, img->l1_table, (size_t)t.l1_size * 8);
    t.size = img->size;
    t.new_table = true;
    ret = snap_txn_copy_table(img, &t, -1, 1, err);
    if (ret < 0) {
        goto out;
    }
    t.sn_idx = (int)t.nb_snaps;
    t.snaps[t.nb_snaps++] = sn;
    ret = snap_txn_commit(img, &t, err);
    if (t.adopted) {
        memset(&sn, 0, sizeof(sn)); /* now in img->snapshots */
    }
    if (ret < 0) {
        goto out;
    }

    /* The VM state now lives in the snapshot; keeping it mapped in the
     * active L1 would make the next snapshot share (and COW) it. */
    if (!p->keep_vmstate && p->vm_state_size) {
        uint64_t len = (p->vm_state_size + img->cluster_size - 1) &
                       ~(img->cluster_size - 1);

        ret = qcow2_guest_discard(img, snap_vm_state_offset(img), len, err);
        if (ret < 0) {
            err_prefix(err, "dropping the VM state from the active L1");
        }
    }
out:
    snap_txn_fini(&t);
    snap_entry_fini(&sn);
    return ret;
}

/* The L1 size QEMU's growth policy gives when @cur entries must become at
 * least @min (qcow2_l1_grow()). Returns 0 or -EFBIG. */
static int snap_l1_grown(uint32_t cur, uint64_t min, uint32_t *out,
                         struct err *err)
{
    uint64_t n = cur ? cur : 1;

    if (min <= cur) {
        *out = cur;
        return 0;
    }
    while (n < min) {
        n = (n * 3 + 1) / 2;
    }
    if (n > QCOW2_MAX_L1_BYTES / 8) {
        n = QCOW2_MAX_L1_BYTES / 8;
    }
    if (n < min) {
        return err_set(err, -EFBIG, "L1 table would exceed %u bytes",
                       QCOW2_MAX_L1_BYTES);
    }
    *out = (uint32_t)n;
    return 0;
}

int qcow2_snapshot_apply(struct qcow2_image *img, const char *id_or_name,
                         struct err *err)
{
    const struct qcow2_snapshot *sn;
    struct snap_txn t;
    uint64_t need;
    int idx, ret;

    CHECK_ARG(img && id_or_name);
    memset(&t, 0, sizeof(t));
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
    /* The disk size reverts to the snapshot's (QEMU truncates first). */
    need = qcow2_size_to_l1(img, sn->disk_size);
    if (need > QCOW2_MAX_L1_BYTES / 8) {
        return err_set(err, -ERANGE,
                       "snapshot %s: disk size %" PRIu64 " too large", sn->id,
                       sn->disk_size);
    }
    if (sn->l1_size > need) {
        need = sn->l1_size;
    }
    ret = snap_txn_begin(img, &t, err);
    if (ret < 0) {
        goto out;
    }
    ret = snap_l1_grown(img->l1_size, need, &t.l1_size, err);
    if (ret < 0) {
        goto out;
    }
    t.l1 = mem_calloc(t.l1_size ? t.l1_size : 1, sizeof(uint64_t));
    if (!t.l1) {
        ret = err_set(err, -ENOMEM, "L1 tables");
        goto out;
    }
    ret = snap_l1_read(img, sn, t.l1, err);
    if (ret < 0) {
        goto out;
    }
    t.size = sn->disk_size;
    t.new_table = false;
    ret = snap_txn_copy_table(img, &t, -1, 0, err);
    if (ret < 0) {
        goto out;
    }
    ret = snap_txn_commit(img, &t, err);
out:
    snap_txn_fini(&t);
    return ret;
}

int qcow2_snapshot_load_tmp(struct qcow2_image *img, const char *snapshot_id,
                            struct err *err)
{
    const struct qcow2_snapshot *sn;
    uint64_t *l1;
    int idx, ret;

    CHECK_ARG(img && snapshot_id);
    if (img->format != QCOW2_FORMAT_QCOW2) {
        return err_set(err, -ENOTSUP, "raw images have no snapshots");
    }
    if (!img->read_only) {
        return err_set(err, -EINVAL, "Device is not readonly");
    }
    idx = snap_find_id(img, snapshot_id);
    if (idx < 0) {
        return err_set(err, -ENOENT, "Can't find snapshot");
    }
    sn = &img->snapshots[idx];
    ret = snap_l1_validate(img, sn, err);
    if (ret < 0) {
        return ret;
    }
    l1 = mem_calloc(sn->l1_size ? sn->l1_size : 1, sizeof(uint64_t));
    if (!l1) {
        return err_set(err, -ENOMEM, "L1 table");
    }
    ret = snap_l1_read(img, sn, l1, err);
    if (ret < 0) {
        mem_free(l1);
        return ret;
    }
    mem_free(img->l1_table);
    img->l1_table = l1;
    l1 = NULL;
    img->l1_size = sn->l1_size;
    img->hdr.l1_size = sn->l1_size;
    img->hdr.l1_table_offset = sn->l1_table_offset;
    qcow2_cluster_invalidate(img);
    return 0;
}

int qcow2_snapshot_delete(struct qcow2_image *img, const char *id_or_name,
                          struct err *err)
{
    struct qcow2_snapshot sn;
    struct snap_txn t;
    int idx, ret;

    CHECK_ARG(img && id_or_name);
    memset(&t, 0, sizeof(t));
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
    ret = snap_txn_begin(img, &t, err);
    if (ret < 0) {
        goto out;
    }
    t.l1_size = img->l1_size;
    t.l1 = mem_alloc(t.l1_size ? (size_t)t.l1_size * 8 : 8);
    if (!t.l1) {
        ret = err_set(err, -ENOMEM, "L1 table");
        goto out;
    }
    memcpy(t.l1, img->l1_table, (size_t)t.l1_size * 8);
    t.size = img->size;
    t.new_table = true;
    ret = snap_txn_copy_table(img, &t, idx, 0, err);
    if (ret < 0) {
        goto out;
    }
    sn = img->snapshots[idx];
    ret = snap_txn_commit(img, &t, err);
    if (t.adopted) {
        snap_entry_fini(&sn); /* no longer in img->snapshots */
    }
out:
    snap_txn_fini(&t);
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
    uint64_t goff = 0;
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
    uint64_t goff = 0;
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
    /* The copy-on-write of shared VM-state clusters frees the old ones in
     * a batch at the next flush (deferred_free). */
    img->defer_frees++;
    ret = qcow2_guest_write(img, goff, src, len, err);
    img->defer_frees--;
    return ret;
}

int qcow2_vmstate_map(struct qcow2_image *img, uint64_t off, uint64_t max_len,
                      uint64_t *host, uint64_t *len, struct err *err)
{
    uint64_t goff = 0;
    int ret;

    CHECK_ARG(img && host && len);
    *host = 0;
    *len = 0;
    ret = snap_vmstate_range(img, off, (size_t)max_len, &goff, err);
    if (ret < 0) {
        return ret;
    }
    return qcow2_guest_map(img, goff, max_len, host, len, err);
}

char *qcow2_snapshot_row(const struct qcow2_snapshot_info *sn, const char *id)
{
    char clock_buf[64], date_buf[32] = "", size_buf[32], icount_buf[32] = "";
    uint64_t secs;
    time_t t;
    struct tm tm;
    char *row;
    int n;

    if (!sn) {
        row = mem_alloc(80);
        if (row) {
            snprintf(row, 80, "%-10s%-17s%8s%20s%13s%11s", "ID", "TAG",
                     "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
        }
        return row;
    }
    t = (time_t)sn->date_sec;
    if (localtime_r(&t, &tm)) {
        strftime(date_buf, sizeof(date_buf), "%Y-%m-%d %H:%M:%S", &tm);
    }
    secs = sn->vm_clock_nsec / 1000000000ull;
    snprintf(clock_buf, sizeof(clock_buf), "%02d:%02d:%02d.%03d",
             (int)(secs / 3600), (int)((secs / 60) % 60), (int)(secs % 60),
             (int)((sn->vm_clock_nsec / 1000000) % 1000));
    fmt_size(size_buf, sizeof(size_buf), sn->vm_state_size);
    if (sn->icount != UINT64_MAX) {
        snprintf(icount_buf, sizeof(icount_buf), "%" PRId64,
                 (int64_t)sn->icount);
    }
    if (!id) {
        id = sn->id;
    }
    n = snprintf(NULL, 0, "%-9s %-16s %8s%20s%13s%11s", id, sn->name, size_buf,
                 date_buf, clock_buf, icount_buf);
    row = mem_alloc((size_t)n + 1);
    if (row) {
        snprintf(row, (size_t)n + 1, "%-9s %-16s %8s%20s%13s%11s", id, sn->name,
                 size_buf, date_buf, clock_buf, icount_buf);
    }
    return row;
}
