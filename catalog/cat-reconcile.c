/* SPDX-License-Identifier: MIT */
/*
 * catalog/cat-reconcile.c - identity of images and reconciliation of the
 * catalog with an image's snapshot table (the image is the source of
 * truth).
 *
 * Invariants after cat_reconcile_row() returns 0:
 *  1. one image row has path = the image's absolute path, with its current
 *     fingerprint, device and inode, and missing = 0;
 *  2. that row's snapshot rows are exactly the image's snapshot table,
 *     matched on (qcow2 id, tag, date, VM clock): an entry deleted and
 *     re-created under the same id is a new row;
 *  3. rows of snapshots still in the table keep their row ids, extras,
 *     labels, marks and notes.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog/cat-int.h"
#include "common/alloc.h"
#include "common/hash.h"
#include "qcow2/qcow2.h"

/* QCOW2 incompatible bits that say how the image was closed, not what it
 * is: dirty (0) and corrupt (1). */
#define CAT_FP_VOLATILE_INCOMPAT 0x3ull

static void cat_fp_u64(struct hash_sha256 *h, uint64_t v)
{
    uint8_t b[8];
    int i;

    for (i = 0; i < 8; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    hash_sha256_update(h, b, sizeof(b));
}

static void cat_fp_str(struct hash_sha256 *h, const char *s)
{
    size_t len = s ? strlen(s) : 0;

    cat_fp_u64(h, s ? len : UINT64_MAX);
    if (len) {
        hash_sha256_update(h, s, len);
    }
}

/* Every snapshot of @img in a new array (mem_free); *@n its length. */
static int cat_snapshots_of(struct qcow2_image *img,
                            struct qcow2_snapshot_info **out, size_t *n,
                            struct err *err)
{
    size_t cnt = qcow2_snapshot_list(img, NULL, 0);

    *out = mem_calloc(cnt ? cnt : 1, sizeof(**out));
    if (!*out) {
        return err_set(err, -ENOMEM, "catalog: out of memory");
    }
    *n = qcow2_snapshot_list(img, *out, cnt);
    if (*n > cnt) {
        *n = cnt;
    }
    return 0;
}

int cat_image_fingerprint(struct qcow2_image *img, char *dst, size_t dst_cap,
                          struct err *err)
{
    struct qcow2_snapshot_info *sn = NULL;
    struct hash_sha256 *h = NULL;
    uint8_t digest[HASH_SHA256_LEN];
    struct qcow2_info info;
    size_t i, n = 0;
    int ret;

    CHECK_ARG(dst_cap >= CAT_FP_HEX_LEN);
    qcow2_get_info(img, &info);
    if (info.format != QCOW2_FORMAT_QCOW2) {
        return err_set(err, -ENOTSUP, "not a qcow2 image");
    }
    ret = cat_snapshots_of(img, &sn, &n, err);
    if (ret < 0) {
        return ret;
    }
    if (hash_sha256_new(&h) < 0) {
        mem_free(sn);
        return err_set(err, -ENOMEM, "catalog: out of memory");
    }
    /* Layout version of the fingerprint input, then the header. */
    cat_fp_str(h, "rrvm-image-fp-1");
    cat_fp_u64(h, (uint64_t)info.version);
    cat_fp_u64(h, info.virtual_size);
    cat_fp_u64(h, info.cluster_size);
    cat_fp_u64(h, info.refcount_bits);
    cat_fp_u64(h, info.extended_l2);
    cat_fp_u64(h, info.compression_type);
    cat_fp_u64(h, info.incompatible_features & ~CAT_FP_VOLATILE_INCOMPAT);
    cat_fp_str(h, info.backing_file);
    cat_fp_str(h, info.data_file);
    cat_fp_u64(h, n);
    for (i = 0; i < n; i++) {
        cat_fp_str(h, sn[i].id);
        cat_fp_str(h, sn[i].name);
        cat_fp_u64(h, sn[i].vm_state_size);
        cat_fp_u64(h, sn[i].date_sec);
        cat_fp_u64(h, sn[i].date_nsec);
        cat_fp_u64(h, sn[i].vm_clock_nsec);
        cat_fp_u64(h, sn[i].icount);
        cat_fp_u64(h, sn[i].disk_size);
    }
    hash_sha256_final(h, digest);
    hash_hex(digest, sizeof(digest), dst);
    mem_free(sn);
    return 0;
}

/* Does the file at @path hold the image with fingerprint @fp (or the file
 * @dev/@ino)? */
static bool cat_path_holds(const char *path, const char *fp, int64_t dev,
                           int64_t ino)
{
    char other[CAT_FP_HEX_LEN];
    struct qcow2_image *img = NULL;
    struct stat sb;
    bool same;

    if (stat(path, &sb) < 0) {
        return false;
    }
    if ((int64_t)sb.st_dev == dev && (int64_t)sb.st_ino == ino) {
        return true;
    }
    if (!fp || qcow2_open(path, QCOW2_FORMAT_QCOW2,
                          QCOW2_OPEN_RDONLY | QCOW2_OPEN_FORCE_SHARE |
                              QCOW2_OPEN_NO_BACKING,
                          &img, NULL) < 0) {
        return false;
    }
    same = cat_image_fingerprint(img, other, sizeof(other), NULL) == 0 &&
           !strcmp(other, fp);
    qcow2_close(img);
    return same;
}

/* The identity decision for the image at @abs: its row, creating or
 * moving one as needed; *@copied_from the row it was copied from (0). */
static int cat_identify(struct cat *cat, const char *abs, const char *fp,
                        int64_t dev, int64_t ino, int64_t *image_row,
                        int64_t *copied_from, struct err *err)
{
    sqlite3_stmt *st = NULL;
    int64_t row = 0, moved = 0;
    int ret;
    int rc;

    *copied_from = 0;
    /* 1. A row for this path: the same image unless the file was replaced
     * by a different one (other inode and other fingerprint). */
    ret = cat_db_prepare(cat,
                         "SELECT id, dev, ino, fingerprint FROM image "
                         "WHERE path = ?1",
                         &st, err);
    if (ret < 0) {
        return ret;
    }
    sqlite3_bind_text(st, 1, abs, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *old_fp = (const char *)sqlite3_column_text(st, 3);
        /* No inode on record (a row from schema version 1): trust the
         * path. */
        bool same_file = sqlite3_column_type(st, 1) == SQLITE_NULL ||
                         (sqlite3_column_int64(st, 1) == dev &&
                          sqlite3_column_int64(st, 2) == ino);

        row = sqlite3_column_int64(st, 0);
        if (!same_file && !(old_fp && !strcmp(old_fp, fp))) {
            sqlite3_finalize(st);
            st = NULL;
            ret = cat_db_prepare(cat, "DELETE FROM image WHERE id = ?1", &st,
                                 err);
            if (ret == 0) {
                sqlite3_bind_int64(st, 1, row);
                ret = cat_db_step_done(cat, st, err);
            }
            row = 0;
        }
    } else if (rc != SQLITE_DONE) {
        ret = cat_db_error(cat, rc, NULL, err);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (ret < 0 || row) {
        *image_row = row;
        return ret;
    }
    /* 2. A row of the same inode, or of the same fingerprint, whose path
     * no longer holds it: the image moved. Of the same fingerprint whose
     * path still holds it: this is a copy. */
    ret = cat_db_prepare(cat,
                         "SELECT id, path, dev = ?1 AND ino = ?2 FROM image "
                         "WHERE (dev = ?1 AND ino = ?2) OR fingerprint = ?3 "
                         "ORDER BY 3 DESC, id",
                         &st, err);
    if (ret < 0) {
        return ret;
    }
    sqlite3_bind_int64(st, 1, dev);
    sqlite3_bind_int64(st, 2, ino);
    sqlite3_bind_text(st, 3, fp, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t cand = sqlite3_column_int64(st, 0);
        const char *cpath = (const char *)sqlite3_column_text(st, 1);
        bool same_inode = sqlite3_column_int(st, 2) != 0;

        if (!cat_path_holds(cpath, same_inode ? NULL : fp, dev, ino)) {
            moved = cand;
            break;
        }
        if (same_inode) {
            /* A hard link of a known file: the same image, known by its
             * first path. */
            *image_row = cand;
            sqlite3_finalize(st);
            return 0;
        }
        if (!*copied_from) {
            *copied_from = cand;
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        ret = cat_db_error(cat, rc, NULL, err);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (ret < 0) {
        return ret;
    }
    if (moved) {
        *copied_from = 0;
        ret = cat_db_prepare(cat, "UPDATE image SET path = ?2 WHERE id = ?1",
                             &st, err);
        if (ret == 0) {
            sqlite3_bind_int64(st, 1, moved);
            sqlite3_bind_text(st, 2, abs, -1, SQLITE_STATIC);
            ret = cat_db_step_done(cat, st, err);
        }
        sqlite3_finalize(st);
        *image_row = moved;
        return ret;
    }
    /* 3. A new image (perhaps a copy). */
    ret = cat_db_prepare(cat,
                         "INSERT INTO image (path, fingerprint, first_seen, "
                         "last_seen, dev, ino, copied_from) "
                         "VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
                         &st, err);
    if (ret < 0) {
        return ret;
    }
    sqlite3_bind_text(st, 1, abs, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, fp, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
    sqlite3_bind_int64(st, 4, dev);
    sqlite3_bind_int64(st, 5, ino);
    if (*copied_from) {
        sqlite3_bind_int64(st, 6, *copied_from);
    } else {
        sqlite3_bind_null(st, 6);
    }
    ret = cat_db_step_done(cat, st, err);
    sqlite3_finalize(st);
    if (ret == 0) {
        *image_row = sqlite3_last_insert_rowid(cat->db);
    }
    return ret;
}

/* Is catalog row @st (columns qcow2_id, tag, date_sec, date_nsec,
 * vm_clock_nsec from index 1) the table entry @sn? */
static bool cat_row_is(sqlite3_stmt *st, const struct qcow2_snapshot_info *sn)
{
    const char *id = (const char *)sqlite3_column_text(st, 1);
    const char *tag = (const char *)sqlite3_column_text(st, 2);

    return id && tag && !strcmp(id, sn->id) && !strcmp(tag, sn->name) &&
           sqlite3_column_int64(st, 3) == (int64_t)sn->date_sec &&
           sqlite3_column_int64(st, 4) == (int64_t)sn->date_nsec &&
           (uint64_t)sqlite3_column_int64(st, 5) == sn->vm_clock_nsec;
}

/* A table entry's position, for lookups by id (ids are unique in a
 * snapshot table). */
struct cat_by_id {
    const char *id;
    size_t idx;
};

static int cat_by_id_cmp(const void *a, const void *b)
{
    return strcmp(((const struct cat_by_id *)a)->id,
                  ((const struct cat_by_id *)b)->id);
}

/* Delete the rows of @image_row that are not in @sn; mark in @present the
 * entries that have a row. O((rows + n) log n). */
static int cat_drop_gone(struct cat *cat, int64_t image_row,
                         const struct qcow2_snapshot_info *sn, size_t n,
                         bool *present, struct err *err)
{
    sqlite3_stmt *sel = NULL, *del = NULL;
    struct cat_by_id *by_id = NULL;
    int64_t *gone = NULL;
    size_t ngone = 0, cap = 0, i;
    int ret;
    int rc;

    by_id = mem_calloc(n ? n : 1, sizeof(*by_id));
    if (!by_id) {
        return err_set(err, -ENOMEM, "catalog: out of memory");
    }
    for (i = 0; i < n; i++) {
        by_id[i].id = sn[i].id;
        by_id[i].idx = i;
    }
    qsort(by_id, n, sizeof(*by_id), cat_by_id_cmp);
    ret = cat_db_prepare(cat,
                         "SELECT id, qcow2_id, tag, date_sec, date_nsec, "
                         "vm_clock_nsec FROM snapshot WHERE image_id = ?1",
                         &sel, err);
    if (ret < 0) {
        goto out;
    }
    sqlite3_bind_int64(sel, 1, image_row);
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(sel, 1);
        struct cat_by_id key = {id ? id : "", 0};
        struct cat_by_id *hit =
            bsearch(&key, by_id, n, sizeof(*by_id), cat_by_id_cmp);

        if (hit && !present[hit->idx] && cat_row_is(sel, &sn[hit->idx])) {
            present[hit->idx] = true;
            continue;
        }
        if (ngone == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            int64_t *ng = mem_realloc(gone, ncap * sizeof(*ng));

            if (!ng) {
                ret = err_set(err, -ENOMEM, "catalog: out of memory");
                goto out;
            }
            gone = ng;
            cap = ncap;
        }
        gone[ngone++] = sqlite3_column_int64(sel, 0);
    }
    if (rc != SQLITE_DONE) {
        ret = cat_db_error(cat, rc, NULL, err);
        goto out;
    }
    ret = cat_db_prepare(cat, "DELETE FROM snapshot WHERE id = ?1", &del, err);
    for (i = 0; ret == 0 && i < ngone; i++) {
        sqlite3_reset(del);
        sqlite3_bind_int64(del, 1, gone[i]);
        ret = cat_db_step_done(cat, del, err);
    }
out:
    sqlite3_finalize(sel);
    sqlite3_finalize(del);
    mem_free(gone);
    mem_free(by_id);
    return ret;
}

/* Insert rows for the entries of @sn not @present. A copy inherits what
 * rrvm recorded about the same snapshot in the image it was copied from. */
static int cat_add_new(struct cat *cat, int64_t image_row, int64_t src_row,
                       const struct qcow2_snapshot_info *sn, size_t n,
                       const bool *present, struct err *err)
{
    sqlite3_stmt *ins = NULL, *inherit = NULL;
    size_t i;
    int ret;

    ret =
        cat_db_prepare(cat,
                       "INSERT INTO snapshot (image_id, qcow2_id, tag, "
                       "vm_size, date_sec, date_nsec, vm_clock_nsec, icount, "
                       "disk_size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                       &ins, err);
    if (ret == 0 && src_row) {
        ret = cat_db_prepare(
            cat,
            "UPDATE snapshot SET state_hash = s.state_hash, "
            "config_fp = s.config_fp, recording = s.recording, "
            "parent_id = s.parent_id FROM snapshot AS s "
            "WHERE snapshot.id = ?1 AND s.image_id = ?2 AND "
            "s.qcow2_id = snapshot.qcow2_id AND s.tag = snapshot.tag AND "
            "s.date_sec = snapshot.date_sec AND "
            "s.date_nsec = snapshot.date_nsec AND "
            "s.vm_clock_nsec = snapshot.vm_clock_nsec",
            &inherit, err);
    }
    for (i = 0; ret == 0 && i < n; i++) {
        if (present[i]) {
            continue;
        }
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, image_row);
        sqlite3_bind_text(ins, 2, sn[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, sn[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 4, (int64_t)sn[i].vm_state_size);
        sqlite3_bind_int64(ins, 5, sn[i].date_sec);
        sqlite3_bind_int64(ins, 6, sn[i].date_nsec);
        sqlite3_bind_int64(ins, 7, (int64_t)sn[i].vm_clock_nsec);
        if (sn[i].icount == UINT64_MAX) {
            sqlite3_bind_null(ins, 8);
        } else {
            sqlite3_bind_int64(ins, 8, (int64_t)sn[i].icount);
        }
        sqlite3_bind_int64(ins, 9, (int64_t)sn[i].disk_size);
        ret = cat_db_step_done(cat, ins, err);
        if (ret == 0 && inherit) {
            sqlite3_reset(inherit);
            sqlite3_bind_int64(inherit, 1, sqlite3_last_insert_rowid(cat->db));
            sqlite3_bind_int64(inherit, 2, src_row);
            ret = cat_db_step_done(cat, inherit, err);
        }
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(inherit);
    if (ret < 0 || !src_row) {
        return ret;
    }
    /* Parents inside the source image become the copy's own rows. */
    ret = cat_db_prepare(
        cat,
        "UPDATE snapshot SET parent_id = coalesce(("
        "  SELECT c.id FROM snapshot AS p JOIN snapshot AS c"
        "  ON c.image_id = ?1 AND c.qcow2_id = p.qcow2_id AND c.tag = p.tag"
        "  AND c.date_sec = p.date_sec AND c.date_nsec = p.date_nsec"
        "  WHERE p.id = snapshot.parent_id), parent_id) "
        "WHERE image_id = ?1 AND parent_id IN "
        "(SELECT id FROM snapshot WHERE image_id = ?2)",
        &ins, err);
    if (ret == 0) {
        sqlite3_bind_int64(ins, 1, image_row);
        sqlite3_bind_int64(ins, 2, src_row);
        ret = cat_db_step_done(cat, ins, err);
    }
    sqlite3_finalize(ins);
    return ret;
}

int cat_reconcile_row(struct cat *cat, const char *path,
                      struct qcow2_image *img, int64_t *image_row,
                      struct err *err)
{
    struct qcow2_snapshot_info *sn = NULL;
    char fp[CAT_FP_HEX_LEN];
    sqlite3_stmt *st = NULL;
    bool *present = NULL;
    int64_t row = 0, src_row = 0;
    char *abs = NULL;
    struct stat sb;
    size_t n = 0;
    int ret;

    CHECK_ARG(cat && path && img);
    if (stat(path, &sb) < 0) {
        return err_set(err, -errno, "%s: %s", path, strerror(errno));
    }
    abs = cat_abs_path(path);
    if (!abs) {
        return err_set(err, -ENOMEM, "catalog: out of memory");
    }
    ret = cat_image_fingerprint(img, fp, sizeof(fp), err);
    if (ret == 0) {
        ret = cat_snapshots_of(img, &sn, &n, err);
    }
    if (ret < 0) {
        err_prefix(err, "%s", path);
        goto out;
    }
    present = mem_calloc(n ? n : 1, sizeof(*present));
    if (!present) {
        ret = err_set(err, -ENOMEM, "catalog: out of memory");
        goto out;
    }
    ret = cat_db_begin(cat, err);
    if (ret < 0) {
        goto out;
    }
    ret = cat_identify(cat, abs, fp, (int64_t)sb.st_dev, (int64_t)sb.st_ino,
                       &row, &src_row, err);
    if (ret == 0) {
        ret = cat_drop_gone(cat, row, sn, n, present, err);
    }
    if (ret == 0) {
        ret = cat_add_new(cat, row, src_row, sn, n, present, err);
    }
    if (ret == 0) {
        ret =
            cat_db_prepare(cat,
                           "UPDATE image SET fingerprint = ?2, last_seen = ?3,"
                           " dev = ?4, ino = ?5, missing = 0 WHERE id = ?1",
                           &st, err);
    }
    if (ret == 0) {
        sqlite3_bind_int64(st, 1, row);
        sqlite3_bind_text(st, 2, fp, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
        sqlite3_bind_int64(st, 4, (int64_t)sb.st_dev);
        sqlite3_bind_int64(st, 5, (int64_t)sb.st_ino);
        ret = cat_db_step_done(cat, st, err);
    }
    sqlite3_finalize(st);
    if (ret < 0) {
        cat_db_rollback(cat);
        goto out;
    }
    ret = cat_db_commit(cat, err);
    if (ret == 0 && image_row) {
        *image_row = row;
    }
out:
    mem_free(present);
    mem_free(sn);
    mem_free(abs);
    return ret;
}

int cat_reconcile_image(struct cat *cat, const char *path,
                        struct qcow2_image *img, struct err *err)
{
    return cat_reconcile_row(cat, path, img, NULL, err);
}
