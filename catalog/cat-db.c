/* SPDX-License-Identifier: MIT */
/*
 * catalog/cat-db.c - opening the catalog file (WAL mode, busy timeout,
 * schema migration) and the small sqlite helpers the other files share.
 */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/cat-int.h"
#include "common/alloc.h"

int cat_db_error(struct cat *cat, int rc, const char *what, struct err *err)
{
    int code;

    switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_FORMAT:
        code = -EBADMSG;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = -EBUSY;
        break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        code = -EACCES;
        break;
    case SQLITE_CANTOPEN:
        code = -ENOENT;
        break;
    case SQLITE_FULL:
        code = -ENOSPC;
        break;
    case SQLITE_NOMEM:
        code = -ENOMEM;
        break;
    case SQLITE_CONSTRAINT:
        code = -EEXIST;
        break;
    default:
        code = -EIO;
        break;
    }
    return err_set(err, code, "%s%s%s", what ? what : "", what ? ": " : "",
                   cat && cat->db ? sqlite3_errmsg(cat->db)
                                  : sqlite3_errstr(rc));
}

int cat_db_exec(struct cat *cat, const char *sql, struct err *err)
{
    int rc = sqlite3_exec(cat->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK) {
        return cat_db_error(cat, rc, NULL, err);
    }
    return 0;
}

int cat_db_prepare(struct cat *cat, const char *sql, sqlite3_stmt **st,
                   struct err *err)
{
    int rc = sqlite3_prepare_v2(cat->db, sql, -1, st, NULL);

    if (rc != SQLITE_OK) {
        return cat_db_error(cat, rc, NULL, err);
    }
    return 0;
}

int cat_db_step_done(struct cat *cat, sqlite3_stmt *st, struct err *err)
{
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE) {
        return cat_db_error(cat, rc, NULL, err);
    }
    return 0;
}

int cat_db_begin(struct cat *cat, struct err *err)
{
    return cat_db_exec(cat, "BEGIN IMMEDIATE", err);
}

int cat_db_commit(struct cat *cat, struct err *err)
{
    int ret = cat_db_exec(cat, "COMMIT", err);

    if (ret < 0) {
        cat_db_rollback(cat);
    }
    return ret;
}

void cat_db_rollback(struct cat *cat)
{
    if (!sqlite3_get_autocommit(cat->db)) {
        sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

char *cat_abs_path(const char *path)
{
    char *real = realpath(path, NULL);
    char cwd[PATH_MAX];
    char *out;
    size_t len;

    if (real) {
        out = mem_strdup(real);
        free(real);
        return out;
    }
    if (path[0] == '/' || !getcwd(cwd, sizeof(cwd))) {
        return mem_strdup(path);
    }
    len = strlen(cwd) + strlen(path) + 2;
    out = mem_alloc(len);
    if (out) {
        snprintf(out, len, "%s/%s", cwd, path);
    }
    return out;
}

int cat_default_path(char *dst, size_t dst_cap)
{
    const char *env = getenv(CAT_ENV_PATH);
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    int n;

    if (env && env[0]) {
        n = snprintf(dst, dst_cap, "%s", env);
    } else if (xdg && xdg[0] == '/') {
        n = snprintf(dst, dst_cap, "%s/rrvm/catalog.sqlite", xdg);
    } else if (home && home[0]) {
        n = snprintf(dst, dst_cap, "%s/.local/share/rrvm/catalog.sqlite", home);
    } else {
        return -ENOENT;
    }
    if (n < 0 || (size_t)n >= dst_cap) {
        return -ERANGE;
    }
    return 0;
}

/* mkdir -p of the directory holding @file (the default location only). */
static int cat_make_parent_dirs(const char *file)
{
    char dir[PATH_MAX];
    char *p;

    if (snprintf(dir, sizeof(dir), "%s", file) >= (int)sizeof(dir)) {
        return -ERANGE;
    }
    p = strrchr(dir, '/');
    if (!p || p == dir) {
        return 0;
    }
    *p = '\0';
    for (p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                return -errno;
            }
            *p = '/';
        }
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

int cat_open(const char *path, struct cat **out, struct err *err)
{
    char def[PATH_MAX];
    struct cat *cat;
    int64_t version;
    bool is_default = !path;
    int ret;
    int rc;

    CHECK_ARG(out);
    if (!path) {
        ret = cat_default_path(def, sizeof(def));
        if (ret < 0) {
            return err_set(err, ret, "no catalog location: set %s or HOME",
                           CAT_ENV_PATH);
        }
        path = def;
        is_default = !getenv(CAT_ENV_PATH) || !getenv(CAT_ENV_PATH)[0];
    }
    if (is_default) {
        ret = cat_make_parent_dirs(path);
        if (ret < 0) {
            return err_set(err, ret, "%s: cannot create its directory: %s",
                           path, strerror(-ret));
        }
    }
    cat = mem_calloc(1, sizeof(*cat));
    if (!cat) {
        return err_set(err, -ENOMEM, "catalog: out of memory");
    }
    cat->path = mem_strdup(path);
    if (!cat->path) {
        ret = err_set(err, -ENOMEM, "catalog: out of memory");
        goto fail;
    }
    rc = sqlite3_open_v2(
        path, &cat->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        ret = cat_db_error(cat, rc, path, err);
        goto fail;
    }
    sqlite3_extended_result_codes(cat->db, 0);
    sqlite3_busy_timeout(cat->db, CAT_BUSY_TIMEOUT_MS);
    /* The first statement reads the header: a foreign file fails here,
     * and a newer or foreign catalog is refused before any write. */
    ret = cat_db_exec(cat, "PRAGMA foreign_keys=ON", err);
    if (ret == 0) {
        ret = cat_schema_version_check(cat, &version, err);
    }
    if (ret == 0) {
        ret = cat_db_exec(cat, "PRAGMA journal_mode=WAL", err);
    }
    /* WAL with synchronous=NORMAL stays consistent on power loss and may
     * lose the last commits, which reconciliation restores from the
     * images; it saves an fsync per commit. */
    if (ret == 0) {
        ret = cat_db_exec(cat, "PRAGMA synchronous=NORMAL", err);
    }
    if (ret == 0) {
        ret = cat_schema_migrate(cat, err);
    }
    if (ret < 0) {
        err_prefix(err, "%s", path);
        goto fail;
    }
    *out = cat;
    return 0;
fail:
    cat_close(cat);
    return ret;
}

void cat_close(struct cat *cat)
{
    if (!cat) {
        return;
    }
    if (cat->db) {
        sqlite3_close(cat->db);
    }
    mem_free(cat->path);
    mem_free(cat);
}

const char *cat_path(const struct cat *cat)
{
    return cat->path;
}
