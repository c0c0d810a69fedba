/* SPDX-License-Identifier: MIT */
/*
 * catalog/cat-schema.c - the catalog's schema and its migrations, keyed by
 * PRAGMA user_version (docs/formats/catalog.md). A new database runs every
 * step from version 0, so the migrations are exercised on every first use.
 */
#include <sqlite3.h>
#include <stdio.h>

#include "catalog/cat-int.h"

/* Step N takes a database from version N to N + 1. */
static const char *const cat_schema_steps[CAT_SCHEMA_VERSION] = {
    /* 0 -> 1: images and their snapshots as qcow2 lists them. */
    "CREATE TABLE image ("
    "  id INTEGER PRIMARY KEY,"
    "  path TEXT NOT NULL UNIQUE,"
    "  fingerprint TEXT NOT NULL,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL);"
    "CREATE TABLE snapshot ("
    "  id INTEGER PRIMARY KEY,"
    "  image_id INTEGER NOT NULL REFERENCES image(id) ON DELETE CASCADE,"
    "  qcow2_id TEXT NOT NULL,"
    "  tag TEXT NOT NULL,"
    "  vm_size INTEGER NOT NULL,"
    "  date_sec INTEGER NOT NULL,"
    "  date_nsec INTEGER NOT NULL,"
    "  vm_clock_nsec INTEGER NOT NULL,"
    "  icount INTEGER,"
    "  state_hash TEXT,"
    "  mark INTEGER NOT NULL DEFAULT 0,"
    "  note TEXT);"
    "CREATE INDEX snapshot_by_image ON snapshot(image_id);",
    /* 1 -> 2: file identity (moves, copies), parents, configuration,
     * recordings, disk size, and labels in their own table. */
    "ALTER TABLE image ADD COLUMN dev INTEGER;"
    "ALTER TABLE image ADD COLUMN ino INTEGER;"
    "ALTER TABLE image ADD COLUMN missing INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE image ADD COLUMN copied_from INTEGER"
    "  REFERENCES image(id) ON DELETE SET NULL;"
    "ALTER TABLE snapshot ADD COLUMN disk_size INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE snapshot ADD COLUMN config_fp TEXT;"
    "ALTER TABLE snapshot ADD COLUMN recording TEXT;"
    "ALTER TABLE snapshot ADD COLUMN parent_id INTEGER"
    "  REFERENCES snapshot(id) ON DELETE SET NULL;"
    "CREATE TABLE label ("
    "  snapshot_id INTEGER NOT NULL REFERENCES snapshot(id) ON DELETE CASCADE,"
    "  label TEXT NOT NULL,"
    "  PRIMARY KEY (snapshot_id, label)) WITHOUT ROWID;"
    "CREATE INDEX label_by_label ON label(label);"
    "CREATE INDEX image_by_inode ON image(dev, ino);"
    "CREATE INDEX image_by_fingerprint ON image(fingerprint);"
    "CREATE INDEX snapshot_by_parent ON snapshot(parent_id);",
};

/* The first integer of @sql's single row, into *@out. */
static int cat_schema_int(struct cat *cat, const char *sql, int64_t *out,
                          struct err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(cat->db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_ROW) {
        rc = cat_db_error(cat, rc, NULL, err);
        sqlite3_finalize(st);
        return rc;
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int cat_schema_version_check(struct cat *cat, int64_t *version, struct err *err)
{
    int64_t objects = 0;
    int ret;

    ret = cat_schema_int(cat, "PRAGMA user_version", version, err);
    if (ret < 0) {
        return ret;
    }
    if (*version > CAT_SCHEMA_VERSION) {
        return err_set(err, -ENOTSUP,
                       "catalog schema version %lld is newer than this "
                       "build's %d",
                       (long long)*version, CAT_SCHEMA_VERSION);
    }
    if (*version < 0) {
        return err_set(err, -EBADMSG, "not an rrvm catalog (version %lld)",
                       (long long)*version);
    }
    if (*version == 0) {
        ret = cat_schema_int(cat, "SELECT count(*) FROM sqlite_master",
                             &objects, err);
        if (ret < 0) {
            return ret;
        }
        if (objects > 0) {
            return err_set(err, -EBADMSG,
                           "not an rrvm catalog (a database with other "
                           "tables)");
        }
    }
    return 0;
}

int cat_schema_migrate(struct cat *cat, struct err *err)
{
    char sql[64];
    int64_t version;
    int ret;

    ret = cat_schema_version_check(cat, &version, err);
    if (ret < 0 || version == CAT_SCHEMA_VERSION) {
        return ret;
    }
    /* Another process may migrate at the same time: decide inside the
     * write transaction. */
    ret = cat_db_begin(cat, err);
    if (ret < 0) {
        return ret;
    }
    ret = cat_schema_version_check(cat, &version, err);
    for (; ret == 0 && version < CAT_SCHEMA_VERSION; version++) {
        ret = cat_db_exec(cat, cat_schema_steps[version], err);
        if (ret < 0) {
            err_prefix(err, "migrating the catalog from version %lld",
                       (long long)version);
        }
    }
    if (ret == 0) {
        snprintf(sql, sizeof(sql), "PRAGMA user_version=%d",
                 CAT_SCHEMA_VERSION);
        ret = cat_db_exec(cat, sql, err);
    }
    if (ret < 0) {
        cat_db_rollback(cat);
        return ret;
    }
    return cat_db_commit(cat, err);
}
