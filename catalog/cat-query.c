/* SPDX-License-Identifier: MIT */
/*
 * catalog/cat-query.c - what savevm/loadvm/delvm record, the queries, and
 * the user's edits (labels, marks, notes, forget), plus the consistency
 * check.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "catalog/cat-int.h"
#include "common/alloc.h"

/* Step @st, then finalize it: the first column of its row, 0 if it
 * returns none, or -errno. */
static int64_t cat_row_id(struct cat *cat, sqlite3_stmt *st, struct err *err)
{
    int rc = sqlite3_step(st);
    int64_t row = 0;

    if (rc == SQLITE_ROW) {
        row = sqlite3_column_int64(st, 0);
    } else if (rc != SQLITE_DONE) {
        row = cat_db_error(cat, rc, NULL, err);
    }
    sqlite3_finalize(st);
    return row;
}

int64_t cat_snapshot_row(struct cat *cat, int64_t image_row,
                         const char *snapshot, struct err *err)
{
    sqlite3_stmt *st = NULL;
    int ret;

    ret =
        cat_db_prepare(cat,
                       "SELECT id FROM snapshot WHERE image_id = ?1 AND "
                       "(qcow2_id = ?2 OR tag = ?2) "
                       "ORDER BY qcow2_id <> ?2, CAST(qcow2_id AS INTEGER), id "
                       "LIMIT 1",
                       &st, err);
    if (ret < 0) {
        return ret;
    }
    sqlite3_bind_int64(st, 1, image_row);
    sqlite3_bind_text(st, 2, snapshot, -1, SQLITE_STATIC);
    return cat_row_id(cat, st, err);
}

/* The row of the image at @path (made absolute), 0 if unknown. */
static int64_t cat_image_row(struct cat *cat, const char *path, struct err *err)
{
    sqlite3_stmt *st = NULL;
    char *abs = cat_abs_path(path);
    int64_t row;

    if (!abs) {
        return err_set(err, -ENOMEM, "catalog: out of memory");
    }
    row = cat_db_prepare(cat, "SELECT id FROM image WHERE path = ?1", &st, err);
    if (row == 0) {
        sqlite3_bind_text(st, 1, abs, -1, SQLITE_STATIC);
        row = cat_row_id(cat, st, err);
    }
    mem_free(abs);
    return row;
}

/* The snapshot row named by @image and @snapshot, or -ENOENT. */
static int64_t cat_find(struct cat *cat, const char *image,
                        const char *snapshot, struct err *err)
{
    int64_t img = cat_image_row(cat, image, err);
    int64_t row;

    if (img < 0) {
        return img;
    }
    if (img == 0) {
        return err_set(err, -ENOENT, "image '%s' is not in the catalog", image);
    }
    row = cat_snapshot_row(cat, img, snapshot, err);
    if (row == 0) {
        return err_set(err, -ENOENT,
                       "snapshot '%s' of '%s' is not in the catalog", snapshot,
                       image);
    }
    return row;
}

/* Reconcile, then find snapshot @id of the image: its row or -ENOENT. */
static int64_t cat_seen(struct cat *cat, const char *path,
                        struct qcow2_image *img, const char *id,
                        struct err *err)
{
    int64_t image_row, row;
    int ret;

    ret = cat_reconcile_row(cat, path, img, &image_row, err);
    if (ret < 0) {
        return ret;
    }
    row = cat_snapshot_row(cat, image_row, id, err);
    if (row == 0) {
        return err_set(err, -ENOENT, "%s: no snapshot '%s'", path, id);
    }
    return row;
}

int cat_record_snapshot(struct cat *cat, const char *path,
                        struct qcow2_image *img, const char *id,
                        const struct cat_snapshot_extra *extra, struct err *err)
{
    static const struct cat_snapshot_extra none;
    sqlite3_stmt *st = NULL;
    int64_t row;
    int ret;

    CHECK_ARG(cat && path && img && id);
    if (!extra) {
        extra = &none;
    }
    row = cat_seen(cat, path, img, id, err);
    if (row < 0) {
        return (int)row;
    }
    ret = cat_db_prepare(cat,
                         "UPDATE snapshot SET state_hash = ?2, config_fp = ?3, "
                         "recording = ?4, parent_id = (SELECT id FROM snapshot "
                         "WHERE id = ?5 AND id <> ?1) WHERE id = ?1",
                         &st, err);
    if (ret == 0) {
        sqlite3_bind_int64(st, 1, row);
        sqlite3_bind_text(st, 2, extra->state_hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, extra->config_fp, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, extra->recording, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, cat->head_row);
        ret = cat_db_step_done(cat, st, err);
    }
    sqlite3_finalize(st);
    if (ret == 0) {
        cat->head_row = row;
    }
    return ret;
}

int cat_record_delete(struct cat *cat, const char *path,
                      struct qcow2_image *img, struct err *err)
{
    CHECK_ARG(cat && path && img);
    return cat_reconcile_row(cat, path, img, NULL, err);
}

int cat_note_load(struct cat *cat, const char *path, struct qcow2_image *img,
                  const char *id, struct err *err)
{
    int64_t row;

    CHECK_ARG(cat && path && img && id);
    row = cat_seen(cat, path, img, id, err);
    if (row < 0) {
        return (int)row;
    }
    cat->head_row = row;
    return 0;
}

/* ---- queries ---- */

static const char cat_select[] =
    "SELECT s.id, i.id, i.path, i.missing, s.qcow2_id, s.tag, s.vm_size, "
    "s.date_sec, s.date_nsec, s.vm_clock_nsec, s.icount, s.disk_size, "
    "s.state_hash, s.config_fp, s.recording, s.parent_id, s.mark, s.note, "
    "coalesce((SELECT group_concat(label, ',') FROM (SELECT label FROM "
    "label WHERE snapshot_id = s.id ORDER BY label)), '') "
    "FROM snapshot AS s JOIN image AS i ON i.id = s.image_id "
    "WHERE (?1 IS NULL OR i.path = ?1) AND (?2 IS NULL OR s.tag GLOB ?2) "
    "AND (?3 IS NULL OR EXISTS (SELECT 1 FROM label AS l "
    "  WHERE l.snapshot_id = s.id AND l.label = ?3)) "
    "AND (?4 IS NULL OR s.mark = ?4) "
    "AND (?5 IS NULL OR s.icount >= ?5) AND (?6 IS NULL OR s.icount <= ?6) "
    "AND (?7 IS NULL OR s.date_sec >= ?7) AND (?8 IS NULL OR s.date_sec <= ?8) "
    "ORDER BY i.path, s.date_sec, s.date_nsec, CAST(s.qcow2_id AS INTEGER), "
    "s.id";

/* A copy of column @col (NULL stays NULL); false when out of memory. */
static bool cat_col_dup(sqlite3_stmt *st, int col, const char **dst)
{
    const char *s = (const char *)sqlite3_column_text(st, col);

    *dst = NULL;
    if (!s) {
        return true;
    }
    *dst = mem_strdup(s);
    return *dst != NULL;
}

static void cat_snapshot_fini(struct cat_snapshot *s)
{
    mem_free((char *)s->image);
    mem_free((char *)s->id);
    mem_free((char *)s->tag);
    mem_free((char *)s->state_hash);
    mem_free((char *)s->config_fp);
    mem_free((char *)s->recording);
    mem_free((char *)s->note);
    mem_free((char *)s->labels);
}

static bool cat_snapshot_fill(sqlite3_stmt *st, struct cat_snapshot *s)
{
    bool ok;

    memset(s, 0, sizeof(*s));
    s->row = sqlite3_column_int64(st, 0);
    s->image_row = sqlite3_column_int64(st, 1);
    s->image_missing = sqlite3_column_int(st, 3) != 0;
    s->vm_size = (uint64_t)sqlite3_column_int64(st, 6);
    s->date_sec = (uint32_t)sqlite3_column_int64(st, 7);
    s->date_nsec = (uint32_t)sqlite3_column_int64(st, 8);
    s->vm_clock_nsec = (uint64_t)sqlite3_column_int64(st, 9);
    s->icount = sqlite3_column_type(st, 10) == SQLITE_NULL
                    ? UINT64_MAX
                    : (uint64_t)sqlite3_column_int64(st, 10);
    s->disk_size = (uint64_t)sqlite3_column_int64(st, 11);
    s->parent_row = sqlite3_column_int64(st, 15);
    s->mark = (enum cat_mark)sqlite3_column_int(st, 16);
    ok = cat_col_dup(st, 2, &s->image) && cat_col_dup(st, 4, &s->id) &&
         cat_col_dup(st, 5, &s->tag) && cat_col_dup(st, 12, &s->state_hash) &&
         cat_col_dup(st, 13, &s->config_fp) &&
         cat_col_dup(st, 14, &s->recording) && cat_col_dup(st, 17, &s->note) &&
         cat_col_dup(st, 18, &s->labels);
    if (!ok) {
        cat_snapshot_fini(s);
    }
    return ok;
}

int cat_query(struct cat *cat, const struct cat_filter *f,
              struct cat_snapshot_list *out, struct err *err)
{
    static const struct cat_filter all;
    struct cat_snapshot_list l = {0};
    sqlite3_stmt *st = NULL;
    char *abs = NULL;
    size_t cap = 0;
    int ret;
    int rc;

    CHECK_ARG(cat && out);
    if (!f) {
        f = &all;
    }
    if (f->image) {
        abs = cat_abs_path(f->image);
        if (!abs) {
            return err_set(err, -ENOMEM, "catalog: out of memory");
        }
    }
    ret = cat_db_prepare(cat, cat_select, &st, err);
    if (ret < 0) {
        mem_free(abs);
        return ret;
    }
    sqlite3_bind_text(st, 1, abs, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, f->tag, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, f->label, -1, SQLITE_STATIC);
    if (f->mark != CAT_MARK_NONE) {
        sqlite3_bind_int(st, 4, (int)f->mark);
    }
    if (f->have_icount_min) {
        sqlite3_bind_int64(st, 5, (int64_t)f->icount_min);
    }
    if (f->have_icount_max) {
        sqlite3_bind_int64(st, 6, (int64_t)f->icount_max);
    }
    if (f->have_date_min) {
        sqlite3_bind_int64(st, 7, f->date_min);
    }
    if (f->have_date_max) {
        sqlite3_bind_int64(st, 8, f->date_max);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (l.n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct cat_snapshot *v = mem_realloc(l.v, ncap * sizeof(*v));

            if (!v) {
                ret = err_set(err, -ENOMEM, "catalog: out of memory");
                break;
            }
            l.v = v;
            cap = ncap;
        }
        if (!cat_snapshot_fill(st, &l.v[l.n])) {
            ret = err_set(err, -ENOMEM, "catalog: out of memory");
            break;
        }
        l.n++;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        ret = cat_db_error(cat, rc, NULL, err);
    }
    sqlite3_finalize(st);
    mem_free(abs);
    if (ret < 0) {
        cat_snapshot_list_fini(&l);
        return ret;
    }
    *out = l;
    return (int)(l.n > INT32_MAX ? INT32_MAX : l.n);
}

void cat_snapshot_list_fini(struct cat_snapshot_list *l)
{
    size_t i;

    if (!l) {
        return;
    }
    for (i = 0; i < l->n; i++) {
        cat_snapshot_fini(&l->v[i]);
    }
    mem_free(l->v);
    l->v = NULL;
    l->n = 0;
}

void cat_strings_free(char **v, size_t n)
{
    size_t i;

    if (!v) {
        return;
    }
    for (i = 0; i < n; i++) {
        mem_free(v[i]);
    }
    mem_free(v);
}

int cat_image_paths(struct cat *cat, char ***out, size_t *n, struct err *err)
{
    sqlite3_stmt *st = NULL;
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    int ret;
    int rc;

    CHECK_ARG(cat && out && n);
    ret = cat_db_prepare(cat, "SELECT path FROM image ORDER BY path", &st, err);
    if (ret < 0) {
        return ret;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(st, 0);

        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nv = mem_realloc(v, ncap * sizeof(*nv));

            if (!nv) {
                ret = -ENOMEM;
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[cnt] = mem_strdup(p ? p : "");
        if (!v[cnt]) {
            ret = -ENOMEM;
            break;
        }
        cnt++;
    }
    if (ret == -ENOMEM) {
        ret = err_set(err, -ENOMEM, "catalog: out of memory");
    } else if (rc != SQLITE_DONE) {
        ret = cat_db_error(cat, rc, NULL, err);
    }
    sqlite3_finalize(st);
    if (ret < 0) {
        cat_strings_free(v, cnt);
        return ret;
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* Run @sql with ?1 = @row and ?2 = @text (may be NULL). */
static int cat_row_exec(struct cat *cat, const char *sql, int64_t row,
                        const char *text, struct err *err)
{
    sqlite3_stmt *st = NULL;
    int ret = cat_db_prepare(cat, sql, &st, err);

    if (ret == 0) {
        sqlite3_bind_int64(st, 1, row);
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
        ret = cat_db_step_done(cat, st, err);
    }
    sqlite3_finalize(st);
    return ret;
}

/* cat_row_exec() on the row of snapshot @snapshot of @image, which must be
 * in the catalog (else -ENOENT, as cat_find()). */
static int cat_snapshot_exec(struct cat *cat, const char *image,
                             const char *snapshot, const char *sql,
                             const char *text, struct err *err)
{
    int64_t row = cat_find(cat, image, snapshot, err);

    if (row < 0) {
        return (int)row;
    }
    return cat_row_exec(cat, sql, row, text, err);
}

int cat_image_missing(struct cat *cat, const char *path, struct err *err)
{
    int64_t row;

    CHECK_ARG(cat && path);
    row = cat_image_row(cat, path, err);
    if (row <= 0) {
        return (int)row;
    }
    return cat_row_exec(cat, "UPDATE image SET missing = 1 WHERE id = ?1", row,
                        NULL, err);
}

static int cat_text_check(const char *what, const char *s, struct err *err)
{
    if (s && strlen(s) > CAT_MAX_TEXT) {
        return err_set(err, -ERANGE, "%s longer than %d bytes", what,
                       CAT_MAX_TEXT);
    }
    return 0;
}

int cat_label_add(struct cat *cat, const char *image, const char *snapshot,
                  const char *label, struct err *err)
{
    CHECK_ARG(cat && image && snapshot && label);
    if (!label[0] || strchr(label, ',')) {
        return err_set(err, -EINVAL, "a label is not empty and has no ','");
    }
    if (cat_text_check("label", label, err) < 0) {
        return -ERANGE;
    }
    return cat_snapshot_exec(cat, image, snapshot,
                             "INSERT OR IGNORE INTO label (snapshot_id, label) "
                             "VALUES (?1, ?2)",
                             label, err);
}

int cat_label_remove(struct cat *cat, const char *image, const char *snapshot,
                     const char *label, struct err *err)
{
    CHECK_ARG(cat && image && snapshot && label);
    return cat_snapshot_exec(cat, image, snapshot,
                             "DELETE FROM label WHERE snapshot_id = ?1 AND "
                             "label = ?2",
                             label, err);
}

int cat_mark_set(struct cat *cat, const char *image, const char *snapshot,
                 enum cat_mark mark, struct err *err)
{
    char num[16];

    CHECK_ARG(cat && image && snapshot);
    CHECK_ARG(mark == CAT_MARK_NONE || mark == CAT_MARK_GOOD ||
              mark == CAT_MARK_BAD);
    snprintf(num, sizeof(num), "%d", (int)mark);
    return cat_snapshot_exec(cat, image, snapshot,
                             "UPDATE snapshot SET mark = CAST(?2 AS INTEGER) "
                             "WHERE id = ?1",
                             num, err);
}

int cat_annotate(struct cat *cat, const char *image, const char *snapshot,
                 const char *note, struct err *err)
{
    CHECK_ARG(cat && image && snapshot);
    if (cat_text_check("note", note, err) < 0) {
        return -ERANGE;
    }
    return cat_snapshot_exec(cat, image, snapshot,
                             "UPDATE snapshot SET note = ?2 WHERE id = ?1",
                             note && note[0] ? note : NULL, err);
}

int cat_forget_image(struct cat *cat, const char *path, struct err *err)
{
    int64_t row;

    CHECK_ARG(cat && path);
    row = cat_image_row(cat, path, err);
    if (row < 0) {
        return (int)row;
    }
    if (row == 0) {
        return err_set(err, -ENOENT, "image '%s' is not in the catalog", path);
    }
    return cat_row_exec(cat, "DELETE FROM image WHERE id = ?1", row, NULL, err);
}

/* The integer result of @sql, with @what naming a nonzero result. */
static int cat_check_zero(struct cat *cat, const char *sql, const char *what,
                          struct err *err)
{
    sqlite3_stmt *st = NULL;
    int ret = cat_db_prepare(cat, sql, &st, err);
    int rc;

    if (ret < 0) {
        return ret;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        ret = cat_db_error(cat, rc, NULL, err);
    } else if (sqlite3_column_int64(st, 0) != 0) {
        ret = err_set(err, -EBADMSG, "%lld %s",
                      (long long)sqlite3_column_int64(st, 0), what);
    }
    sqlite3_finalize(st);
    return ret;
}

int cat_check(struct cat *cat, struct err *err)
{
    sqlite3_stmt *st = NULL;
    const char *res;
    int ret;
    int rc;

    CHECK_ARG(cat);
    ret = cat_db_prepare(cat, "PRAGMA integrity_check(1)", &st, err);
    if (ret < 0) {
        return ret;
    }
    rc = sqlite3_step(st);
    res = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (rc != SQLITE_ROW) {
        ret = cat_db_error(cat, rc, NULL, err);
    } else if (!res || strcmp(res, "ok") != 0) {
        ret =
            err_set(err, -EBADMSG, "integrity check: %s", res ? res : "(null)");
    }
    sqlite3_finalize(st);
    if (ret == 0) {
        ret =
            cat_check_zero(cat, "SELECT count(*) FROM pragma_foreign_key_check",
                           "rows break a foreign key", err);
    }
    if (ret == 0) {
        ret = cat_check_zero(
            cat,
            "SELECT count(*) FROM (SELECT image_id, qcow2_id FROM snapshot "
            "GROUP BY image_id, qcow2_id HAVING count(*) > 1)",
            "images list one qcow2 id twice", err);
    }
    return ret;
}
