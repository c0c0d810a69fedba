/* SPDX-License-Identifier: MIT */
/*
 * catalog/cat-int.h - internals shared by the catalog's source files,
 * grouped by the file that defines them. sqlite3.h stays out of here: the
 * handle keeps the connection as an opaque pointer.
 */
#ifndef CATALOG_CAT_INT_H
#define CATALOG_CAT_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "catalog/catalog.h"

struct sqlite3;
struct sqlite3_stmt;

struct cat {
    struct sqlite3 *db;
    char *path;       /* the catalog file */
    int64_t head_row; /* last snapshot saved or loaded here; 0 if none */
};

/* ---- cat-db.c ---- */

/* Map the connection's last sqlite error @rc to -errno and fill @err with
 * "@what: sqlite's message". Returns the -errno. */
int cat_db_error(struct cat *cat, int rc, const char *what, struct err *err);
/* Run @sql (no parameters, no rows). Returns 0 or -errno. */
int cat_db_exec(struct cat *cat, const char *sql, struct err *err);
/* Compile @sql into *@st (sqlite3_finalize() it; NULL for empty @sql).
 * Returns 0 or -errno. */
int cat_db_prepare(struct cat *cat, const char *sql, struct sqlite3_stmt **st,
                   struct err *err);
/* Step @st, which must finish without a row. Returns 0 or -errno. */
int cat_db_step_done(struct cat *cat, struct sqlite3_stmt *st, struct err *err);
/* BEGIN IMMEDIATE (waits up to the busy timeout), COMMIT, ROLLBACK. */
int cat_db_begin(struct cat *cat, struct err *err);
int cat_db_commit(struct cat *cat, struct err *err);
void cat_db_rollback(struct cat *cat);
/* @path made absolute: realpath() when it exists, else joined to the
 * working directory. Returns a new string (mem_free) or NULL (no memory). */
char *cat_abs_path(const char *path);

/* ---- cat-schema.c ---- */

/* Read the schema version into *@version, refusing (before anything is
 * written) a newer one (-ENOTSUP) or a foreign database (-EBADMSG). */
int cat_schema_version_check(struct cat *cat, int64_t *version,
                             struct err *err);

/* Bring the schema up to CAT_SCHEMA_VERSION. Returns 0, -EBADMSG (foreign
 * database), -ENOTSUP (newer schema) or -errno. */
int cat_schema_migrate(struct cat *cat, struct err *err);

/* ---- cat-reconcile.c ---- */

/* The identity fingerprint of @img (lower-case hex, 65 bytes with NUL). */
#define CAT_FP_HEX_LEN 65
int cat_image_fingerprint(struct qcow2_image *img, char *dst, size_t dst_cap,
                          struct err *err);
/* cat_reconcile_image(), also returning the image's row in *@image_row. */
int cat_reconcile_row(struct cat *cat, const char *path,
                      struct qcow2_image *img, int64_t *image_row,
                      struct err *err);

/* ---- cat-query.c ---- */

/* The row of snapshot @snapshot (id first, then tag) of image row
 * @image_row, or 0 when there is none. Negative -errno on failure. */
int64_t cat_snapshot_row(struct cat *cat, int64_t image_row,
                         const char *snapshot, struct err *err);

#endif /* CATALOG_CAT_INT_H */
