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

static int snap_read_string(struct qcow2_image *img, uint64_t off, uint16_t len,
                            char **out, struct err *err)
{
    char *s = mem_alloc((size_t)len + 1);
    int ret;

    if (!s) {
        return err_set(err, -ENOMEM, "snapshot string of %u bytes", len);
    }
    if (len) {
        ret = qcow2_io_pread(img, off, s, len, err);
        if (ret < 0) {
            mem_free(s);
            return ret;
        }
    }
    s[len] = '\0';
    if (strlen(s) != len) {
        mem_free(s);
        return err_set(err, -EBADMSG, "snapshot id or name contains NUL");
    }
    *out = s;
    return 0;
}

/*
 * Parse one entry at @off (8-byte aligned) into @sn and set *@next to the
 * offset just past it. Extra data above QCOW2_MAX_SNAPSHOT_EXTRA is refused
 * with -ERANGE unless @truncate_extra, which keeps only the first
 * QCOW2_MAX_SNAPSHOT_EXTRA bytes (check -r all) and sets *@truncated.
 */
static int snap_entry_read(struct qcow2_image *img, uint64_t off,
                           bool truncate_extra, struct qcow2_snapshot *sn,
                           uint64_t *next, bool *truncated, struct err *err)
{
    uint8_t h[SNAP_HDR_LEN];
    uint16_t id_len, name_len;
    uint32_t extra_len, keep;
    int ret;

    *truncated = false;
    ret = qcow2_io_pread(img, off, h, sizeof(h), err);
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
                           "snapshot extra data of %" PRIu32
                           " bytes exceeds limit %u",
                           extra_len, QCOW2_MAX_SNAPSHOT_EXTRA);
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
        ret = qcow2_io_pread(img, off, sn->extra_data, keep, err);
        if (ret < 0) {
            return ret;
        }
    }
    off += extra_len;
    snap_entry_decode_extra(img, sn);

    ret = snap_read_string(img, off, id_len, &sn->id, err);
    if (ret < 0) {
        return ret;
    }
    off += id_len;
    ret = snap_read_string(img, off, name_len, &sn->name, err);
    if (ret < 0) {
        return ret;
    }
    off += name_len;
    *next = off;
    return 0;
}

/*
 * Read the table of @nb entries at @table_off into a fresh array. With
 * @repair, entries with too much extra data are truncated (counted in
 * *@extra_dropped) and a table over SNAP_MAX_TABLE_BYTES is cut short (the
 * number of dropped entries in *@dropped) instead of failing.
 */
static int snap_table_read(struct qcow2_image *img, uint64_t table_off,
                           uint32_t nb, bool repair,
                           struct qcow2_snapshot **out, uint32_t *out_nb,
                           int *dropped, int *extra_dropped, struct err *err)
{
    struct qcow2_snapshot *tab = NULL;
    uint64_t off = table_off;
    uint64_t len = 0;
    uint32_t i, n = 0;
    int ret = 0;

    if (nb > QCOW2_MAX_SNAPSHOTS) {
        return err_set(err, -ERANGE, "%" PRIu32 " snapshots exceeds limit %u",
                       nb, QCOW2_MAX_SNAPSHOTS);
    }
    if (nb && (qcow2_offset_into_cluster(img, table_off) ||
               table_off > QCOW2_MAX_HOST_OFFSET || table_off == 0)) {
        return err_set(err, -EBADMSG,
                       "snapshot table offset %#" PRIx64 " invalid", table_off);
    }
    if (nb) {
        tab = mem_calloc(nb, sizeof(*tab));
        if (!tab) {
            return err_set(err, -ENOMEM, "snapshot table: %" PRIu32 " entries",
                           nb);
        }
    }
    for (i = 0; i < nb; i++) {
        bool truncated = false;
        uint64_t next = 0;
        uint64_t start = (off + 7) & ~7ull;

        ret = snap_entry_read(img, start, repair, &tab[i], &next, &truncated,
                              err);
        if (ret < 0) {
            err_prefix(err, "snapshot table entry %" PRIu32, i);
            n = i + 1;
            goto out;
        }
        if (truncated) {
            (*extra_dropped)++;
        }
        len = ((len + 7) & ~7ull) + SNAP_HDR_LEN + tab[i].extra_data_size +
              strlen(tab[i].id) + strlen(tab[i].name);
        if (len > SNAP_MAX_TABLE_BYTES) {
            if (!repair) {
                ret = err_set(err, -ERANGE, "snapshot table is too big");
                n = i + 1;
                goto out;
            }
            *dropped += (int)(nb - i);
            snap_entry_fini(&tab[i]);
            break;
        }
        off = next;
    }
    n = i;
out:
    if (ret < 0) {
        for (i = 0; i < n; i++) {
            snap_entry_fini(&tab[i]);
        }
        mem_free(tab);
        return ret;
    }
    *out = tab;
    *out_nb = n;
    return 0;
}

int qcow2_snapshots_load(struct qcow2_image *img, struct err *err)
{
    struct qcow2_snapshot *tab = NULL;
    uint32_t n = 0;
    int dropped = 0, extra_dropped = 0;
    int ret;

    ret = snap_table_read(img, img->hdr.snapshots_offset, img->hdr.nb_snapshots,
                          false, &tab, &n, &dropped, &extra_dropped, err);
    if (ret < 0) {
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
    uint64_t len = 0, old_len = 0, old_off = img->hdr.snapshots_offset;
    uint32_t old_nb = img->hdr.nb_snapshots;
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
    ret = snap_table_disk_len(img, &old_len, err);
    if (ret < 0) {
        err_prefix(err, "old snapshot table");
        return ret;
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
    if (old_nb && old_len) {
        ret = qcow2_cluster_free(img, old_off, old_len, err);
    }
out:
    if (new_off > 0) {
        qcow2_cluster_free(img, (uint64_t)new_off, len, NULL);
    }
    mem_free(buf);
    return ret;
}

int qcow2_snapshot_create(struct qcow2_image *img,
                          const struct qcow2_snapshot_params *p,
                          struct err *err)
{
    return err_set(err, -ENOTSUP, "snapshot create not implemented yet");
}

int qcow2_snapshot_apply(struct qcow2_image *img, const char *id_or_name,
                         struct err *err)
{
    return err_set(err, -ENOTSUP, "snapshot apply not implemented yet");
}

int qcow2_snapshot_delete(struct qcow2_image *img, const char *id_or_name,
                          struct err *err)
{
    return err_set(err, -ENOTSUP, "snapshot delete not implemented yet");
}

int qcow2_vmstate_read(struct qcow2_image *img, uint64_t off, void *dst,
                       size_t len, struct err *err)
{
    return err_set(err, -ENOTSUP, "vmstate read not implemented yet");
}

int qcow2_vmstate_write(struct qcow2_image *img, uint64_t off, const void *src,
                        size_t len, struct err *err)
{
    return err_set(err, -ENOTSUP, "vmstate write not implemented yet");
}
