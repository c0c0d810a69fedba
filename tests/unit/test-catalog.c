/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-catalog.c - the snapshot catalog on real qcow2 images and
 * real sqlite files: schema creation and migration, reconciliation after
 * snapshots made and deleted behind its back, moved and copied images,
 * parents, labels, marks and notes, queries, and broken catalog files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog/catalog.h"
#include "common/alloc.h"
#include "common/err.h"
#include "qcow2/qcow2.h"

struct fx {
    char dir[64];
    char db[128];
    char img[128];
    struct cat *cat;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct qcow2_create_opts o;

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/rrvm-cat-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/catalog.sqlite", f->dir);
    snprintf(f->img, sizeof(f->img), "%s/a.qcow2", f->dir);
    qcow2_create_opts_init(&o);
    o.size = 1 << 20;
    assert_int_equal(qcow2_create(f->img, &o, NULL), 0);
    assert_int_equal(cat_open(f->db, &f->cat, NULL), 0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    cat_close(f->cat);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    (void)!system(cmd);
    free(f);
    return 0;
}

static struct qcow2_image *img_open_rw(const char *path)
{
    struct qcow2_image *img = NULL;

    assert_int_equal(qcow2_open(path, QCOW2_FORMAT_QCOW2, 0, &img, NULL), 0);
    return img;
}

static void snap_create(const char *path, const char *tag, uint32_t date,
                        uint64_t icount)
{
    struct qcow2_image *img = img_open_rw(path);
    struct qcow2_snapshot_params p = {0};

    p.name = tag;
    p.date_sec = date;
    p.icount = icount;
    assert_int_equal(qcow2_snapshot_create(img, &p, NULL), 0);
    assert_int_equal(qcow2_close(img), 0);
}

static void snap_delete(const char *path, const char *tag)
{
    struct qcow2_image *img = img_open_rw(path);

    assert_int_equal(qcow2_snapshot_delete(img, tag, NULL), 0);
    assert_int_equal(qcow2_close(img), 0);
}

static void reconcile(struct cat *cat, const char *path)
{
    struct qcow2_image *img = NULL;
    struct err err = {0};

    assert_int_equal(
        qcow2_open(path, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &img, NULL), 0);
    if (cat_reconcile_image(cat, path, img, &err) < 0) {
        fail_msg("reconcile: %s", err.msg);
    }
    qcow2_close(img);
}

/* The tags the catalog lists for @image (NULL: all), joined with ' '. */
static void tags_of(struct cat *cat, const char *image, char *dst, size_t cap)
{
    struct cat_filter flt = {0};
    struct cat_snapshot_list l;
    size_t i, len = 0;

    flt.image = image;
    assert_true(cat_query(cat, &flt, &l, NULL) >= 0);
    dst[0] = '\0';
    for (i = 0; i < l.n; i++) {
        len += (size_t)snprintf(dst + len, cap - len, "%s%s", i ? " " : "",
                                l.v[i].tag);
    }
    cat_snapshot_list_fini(&l);
}

static const struct cat_snapshot *find_tag(const struct cat_snapshot_list *l,
                                           const char *tag)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (!strcmp(l->v[i].tag, tag)) {
            return &l->v[i];
        }
    }
    fail_msg("no row with tag %s", tag);
    return NULL;
}

static void test_new_catalog_is_current_and_clean(void **state)
{
    struct fx *f = *state;
    sqlite3 *db;
    sqlite3_stmt *st;

    assert_int_equal(cat_check(f->cat, NULL), 0);
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), CAT_SCHEMA_VERSION);
    sqlite3_finalize(st);
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_reconcile_follows_the_image(void **state)
{
    struct fx *f = *state;
    char tags[256];

    snap_create(f->img, "one", 1000, 10);
    snap_create(f->img, "two", 2000, 20);
    reconcile(f->cat, f->img);
    tags_of(f->cat, f->img, tags, sizeof(tags));
    assert_string_equal(tags, "one two");
    assert_int_equal(cat_label_add(f->cat, f->img, "two", "keep", NULL), 0);
    /* Made and deleted behind the catalog's back. */
    snap_delete(f->img, "one");
    snap_create(f->img, "three", 3000, 30);
    reconcile(f->cat, f->img);
    tags_of(f->cat, f->img, tags, sizeof(tags));
    assert_string_equal(tags, "two three");
    {
        struct cat_filter flt = {0};
        struct cat_snapshot_list l;

        flt.label = "keep";
        assert_int_equal(cat_query(f->cat, &flt, &l, NULL), 1);
        assert_string_equal(l.v[0].tag, "two");
        assert_string_equal(l.v[0].labels, "keep");
        cat_snapshot_list_fini(&l);
    }
    /* Reconciling twice changes nothing. */
    reconcile(f->cat, f->img);
    tags_of(f->cat, f->img, tags, sizeof(tags));
    assert_string_equal(tags, "two three");
    assert_int_equal(cat_check(f->cat, NULL), 0);
}

static void test_same_id_recreated_is_a_new_row(void **state)
{
    struct fx *f = *state;
    struct cat_snapshot_list l;

    snap_create(f->img, "s", 1000, 1);
    reconcile(f->cat, f->img);
    assert_int_equal(cat_mark_set(f->cat, f->img, "s", CAT_MARK_BAD, NULL), 0);
    snap_delete(f->img, "s");
    snap_create(f->img, "s", 2000, 2); /* id 1 again */
    reconcile(f->cat, f->img);
    assert_int_equal(cat_query(f->cat, NULL, &l, NULL), 1);
    assert_string_equal(l.v[0].id, "1");
    assert_int_equal(l.v[0].date_sec, 2000);
    assert_int_equal(l.v[0].mark, CAT_MARK_NONE);
    cat_snapshot_list_fini(&l);
}

static void test_record_tracks_parents_and_extras(void **state)
{
    struct fx *f = *state;
    struct cat_snapshot_extra ex = {"ab12", "cf34", NULL};
    struct cat_snapshot_list l;
    struct qcow2_image *img;
    const struct cat_snapshot *a, *b, *c;

    snap_create(f->img, "a", 1000, 100);
    img = img_open_rw(f->img);
    assert_int_equal(cat_record_snapshot(f->cat, f->img, img, "1", &ex, NULL),
                     0);
    qcow2_close(img);
    snap_create(f->img, "b", 2000, 200);
    img = img_open_rw(f->img);
    assert_int_equal(cat_record_snapshot(f->cat, f->img, img, "2", NULL, NULL),
                     0);
    assert_int_equal(cat_note_load(f->cat, f->img, img, "a", NULL), 0);
    assert_int_equal(cat_note_load(f->cat, f->img, img, "nope", NULL), -ENOENT);
    qcow2_close(img);
    snap_create(f->img, "c", 3000, 300);
    img = img_open_rw(f->img);
    assert_int_equal(cat_record_snapshot(f->cat, f->img, img, "3", NULL, NULL),
                     0);
    qcow2_close(img);

    assert_int_equal(cat_query(f->cat, NULL, &l, NULL), 3);
    a = find_tag(&l, "a");
    b = find_tag(&l, "b");
    c = find_tag(&l, "c");
    assert_string_equal(a->state_hash, "ab12");
    assert_string_equal(a->config_fp, "cf34");
    assert_int_equal(a->icount, 100);
    assert_int_equal(a->parent_row, 0);
    assert_int_equal(b->parent_row, a->row);
    assert_int_equal(c->parent_row, a->row);
    cat_snapshot_list_fini(&l);

    /* delvm of the parent: children lose the link, nothing dangles. */
    snap_delete(f->img, "a");
    img = img_open_rw(f->img);
    assert_int_equal(cat_record_delete(f->cat, f->img, img, NULL), 0);
    qcow2_close(img);
    assert_int_equal(cat_query(f->cat, NULL, &l, NULL), 2);
    assert_int_equal(find_tag(&l, "b")->parent_row, 0);
    cat_snapshot_list_fini(&l);
    assert_int_equal(cat_check(f->cat, NULL), 0);
}

static void test_moved_image_keeps_its_rows(void **state)
{
    struct fx *f = *state;
    char moved[160], tags[64];
    struct cat_snapshot_list l;

    snap_create(f->img, "m", 1000, 5);
    reconcile(f->cat, f->img);
    assert_int_equal(cat_annotate(f->cat, f->img, "m", "the one", NULL), 0);
    snprintf(moved, sizeof(moved), "%s/b.qcow2", f->dir);
    assert_int_equal(rename(f->img, moved), 0);
    /* Moved, then changed by another tool before we saw it again. */
    snap_create(moved, "n", 2000, 6);
    reconcile(f->cat, moved);
    assert_int_equal(cat_query(f->cat, NULL, &l, NULL), 2);
    assert_string_equal(find_tag(&l, "m")->note, "the one");
    assert_string_equal(find_tag(&l, "m")->image, moved);
    cat_snapshot_list_fini(&l);
    tags_of(f->cat, f->img, tags, sizeof(tags));
    assert_string_equal(tags, "");
}

static void copy_file(const char *from, const char *to)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

static void test_copy_is_a_new_image(void **state)
{
    struct fx *f = *state;
    struct cat_snapshot_extra ex = {"feed", NULL, NULL};
    struct cat_snapshot_list l;
    struct qcow2_image *img;
    struct cat_filter flt = {0};
    char copy[160];

    snap_create(f->img, "x", 1000, 5);
    img = img_open_rw(f->img);
    assert_int_equal(cat_record_snapshot(f->cat, f->img, img, "x", &ex, NULL),
                     0);
    qcow2_close(img);
    assert_int_equal(cat_label_add(f->cat, f->img, "x", "orig", NULL), 0);
    snprintf(copy, sizeof(copy), "%s/copy.qcow2", f->dir);
    copy_file(f->img, copy);
    reconcile(f->cat, copy);
    assert_int_equal(cat_query(f->cat, NULL, &l, NULL), 2);
    assert_int_not_equal(l.v[0].image_row, l.v[1].image_row);
    cat_snapshot_list_fini(&l);
    flt.image = copy;
    assert_int_equal(cat_query(f->cat, &flt, &l, NULL), 1);
    assert_string_equal(l.v[0].state_hash, "feed");
    assert_string_equal(l.v[0].labels, "");
    cat_snapshot_list_fini(&l);
    /* Seeing the original again keeps it apart from the copy. */
    reconcile(f->cat, f->img);
    flt.image = f->img;
    assert_int_equal(cat_query(f->cat, &flt, &l, NULL), 1);
    assert_string_equal(l.v[0].labels, "orig");
    cat_snapshot_list_fini(&l);
}

static void test_filters(void **state)
{
    struct fx *f = *state;
    struct cat_filter flt = {0};
    struct cat_snapshot_list l;

    snap_create(f->img, "boot", 1000, 10);
    snap_create(f->img, "bug-1", 2000, 20);
    snap_create(f->img, "bug-2", 3000, 30);
    reconcile(f->cat, f->img);
    flt.tag = "bug-*";
    assert_int_equal(cat_query(f->cat, &flt, &l, NULL), 2);
    cat_snapshot_list_fini(&l);
    flt.tag = NULL;
    flt.have_icount_min = flt.have_icount_max = true;
    flt.icount_min = 15;
    flt.icount_max = 30;
    assert_int_equal(cat_query(f->cat, &flt, &l, NULL), 2);
    cat_snapshot_list_fini(&l);
    flt.have_icount_min = flt.have_icount_max = false;
    flt.have_date_max = true;
    flt.date_max = 2000;
    assert_int_equal(cat_query(f->cat, &flt, &l, NULL), 2);
    cat_snapshot_list_fini(&l);
    flt.have_date_max = false;
    assert_int_equal(cat_mark_set(f->cat, f->img, "bug-2", CAT_MARK_GOOD, NULL),
                     0);
    assert_int_equal(cat_mark_set(f->cat, f->img, "3", CAT_MARK_BAD, NULL), 0);
    flt.mark = CAT_MARK_BAD;
    assert_int_equal(cat_query(f->cat, &flt, &l, NULL), 1);
    assert_string_equal(l.v[0].tag, "bug-2");
    cat_snapshot_list_fini(&l);
    assert_int_equal(cat_label_add(f->cat, f->img, "boot", "a,b", NULL),
                     -EINVAL);
    assert_int_equal(cat_label_add(f->cat, f->img, "nope", "x", NULL), -ENOENT);
    assert_int_equal(cat_forget_image(f->cat, f->img, NULL), 0);
    assert_int_equal(cat_query(f->cat, NULL, &l, NULL), 0);
    cat_snapshot_list_fini(&l);
    assert_int_equal(cat_forget_image(f->cat, f->img, NULL), -ENOENT);
}

/* Survivors keep their rows when many snapshots go at once. */
static void test_many_snapshots(void **state)
{
    struct fx *f = *state;
    struct cat_snapshot_list before, after;
    struct qcow2_image *img = img_open_rw(f->img);
    char tag[16];
    size_t i, j;

    for (i = 0; i < 40; i++) {
        struct qcow2_snapshot_params p = {0};

        snprintf(tag, sizeof(tag), "t%02zu", i);
        p.name = tag;
        p.date_sec = 1000 + (uint32_t)i;
        assert_int_equal(qcow2_snapshot_create(img, &p, NULL), 0);
    }
    assert_int_equal(cat_reconcile_image(f->cat, f->img, img, NULL), 0);
    assert_int_equal(cat_query(f->cat, NULL, &before, NULL), 40);
    for (i = 1; i < 40; i += 2) {
        snprintf(tag, sizeof(tag), "t%02zu", i);
        assert_int_equal(qcow2_snapshot_delete(img, tag, NULL), 0);
    }
    assert_int_equal(cat_reconcile_image(f->cat, f->img, img, NULL), 0);
    qcow2_close(img);
    assert_int_equal(cat_query(f->cat, NULL, &after, NULL), 20);
    for (j = 0; j < 20; j++) {
        assert_string_equal(after.v[j].tag, before.v[2 * j].tag);
        assert_int_equal(after.v[j].row, before.v[2 * j].row);
    }
    cat_snapshot_list_fini(&before);
    cat_snapshot_list_fini(&after);
    assert_int_equal(cat_check(f->cat, NULL), 0);
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

static void test_broken_catalog_files(void **state)
{
    struct fx *f = *state;
    struct cat *cat = NULL;
    struct err err = {0};
    char path[160];
    sqlite3 *db;
    char junk[8192];

    memset(junk, 0x5a, sizeof(junk));
    snprintf(path, sizeof(path), "%s/junk.sqlite", f->dir);
    write_file(path, junk, sizeof(junk));
    assert_int_equal(cat_open(path, &cat, &err), -EBADMSG);
    assert_null(cat);
    assert_non_null(strstr(err.msg, "not a database"));

    snprintf(path, sizeof(path), "%s/newer.sqlite", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(cat_open(path, &cat, &err), -ENOTSUP);

    snprintf(path, sizeof(path), "%s/foreign.sqlite", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(cat_open(path, &cat, &err), -EBADMSG);

    snprintf(path, sizeof(path), "%s/no/such/dir/c.sqlite", f->dir);
    assert_true(cat_open(path, &cat, &err) < 0);
    assert_null(cat);
}

static void test_migrates_version_1(void **state)
{
    struct fx *f = *state;
    struct cat_snapshot_list l;
    struct cat *cat = NULL;
    char path[160];
    sqlite3 *db;

    snprintf(path, sizeof(path), "%s/v1.sqlite", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(
            db,
            "CREATE TABLE image (id INTEGER PRIMARY KEY, path TEXT NOT NULL "
            "UNIQUE, fingerprint TEXT NOT NULL, first_seen INTEGER NOT NULL, "
            "last_seen INTEGER NOT NULL);"
            "CREATE TABLE snapshot (id INTEGER PRIMARY KEY, image_id INTEGER "
            "NOT NULL REFERENCES image(id) ON DELETE CASCADE, qcow2_id TEXT "
            "NOT NULL, tag TEXT NOT NULL, vm_size INTEGER NOT NULL, date_sec "
            "INTEGER NOT NULL, date_nsec INTEGER NOT NULL, vm_clock_nsec "
            "INTEGER NOT NULL, icount INTEGER, state_hash TEXT, mark INTEGER "
            "NOT NULL DEFAULT 0, note TEXT);"
            "CREATE INDEX snapshot_by_image ON snapshot(image_id);"
            "INSERT INTO image VALUES (1, '/old/disk.qcow2', 'x', 1, 1);"
            "INSERT INTO snapshot VALUES (1, 1, '1', 'old', 0, 5, 0, 0, 7, "
            "'beef', 1, 'kept');"
            "PRAGMA user_version=1;",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(cat_open(path, &cat, NULL), 0);
    assert_int_equal(cat_query(cat, NULL, &l, NULL), 1);
    assert_string_equal(l.v[0].tag, "old");
    assert_string_equal(l.v[0].state_hash, "beef");
    assert_string_equal(l.v[0].note, "kept");
    assert_int_equal(l.v[0].mark, CAT_MARK_GOOD);
    assert_string_equal(l.v[0].labels, "");
    cat_snapshot_list_fini(&l);
    assert_int_equal(cat_label_add(cat, "/old/disk.qcow2", "old", "new", NULL),
                     0);
    assert_int_equal(cat_check(cat, NULL), 0);
    cat_close(cat);
}

/* Every allocation failure in a reconcile and a query leaves a clean
 * catalog that a later reconcile completes. */
static void test_allocation_failures(void **state)
{
    struct fx *f = *state;
    struct cat_snapshot_list l;
    struct qcow2_image *img = NULL;
    long n;
    int ret;

    snap_create(f->img, "p", 1000, 1);
    snap_create(f->img, "q", 2000, 2);
    assert_int_equal(
        qcow2_open(f->img, QCOW2_FORMAT_QCOW2, QCOW2_OPEN_RDONLY, &img, NULL),
        0);
    for (n = 0;; n++) {
        mem_fail_after(n, 0);
        ret = cat_reconcile_image(f->cat, f->img, img, NULL);
        mem_fail_after(-1, 0);
        assert_int_equal(cat_check(f->cat, NULL), 0);
        if (ret == 0) {
            break;
        }
        assert_int_equal(ret, -ENOMEM);
    }
    for (n = 0;; n++) {
        mem_fail_after(n, 0);
        ret = cat_query(f->cat, NULL, &l, NULL);
        mem_fail_after(-1, 0);
        if (ret >= 0) {
            break;
        }
        assert_int_equal(ret, -ENOMEM);
    }
    assert_int_equal(ret, 2);
    cat_snapshot_list_fini(&l);
    qcow2_close(img);
}

static void test_default_path(void **state)
{
    char path[256];

    (void)state;
    setenv("RRVM_CATALOG", "/x/c.sqlite", 1);
    assert_int_equal(cat_default_path(path, sizeof(path)), 0);
    assert_string_equal(path, "/x/c.sqlite");
    unsetenv("RRVM_CATALOG");
    setenv("XDG_DATA_HOME", "/data", 1);
    assert_int_equal(cat_default_path(path, sizeof(path)), 0);
    assert_string_equal(path, "/data/rrvm/catalog.sqlite");
    unsetenv("XDG_DATA_HOME");
    setenv("HOME", "/home/u", 1);
    assert_int_equal(cat_default_path(path, sizeof(path)), 0);
    assert_string_equal(path, "/home/u/.local/share/rrvm/catalog.sqlite");
    assert_int_equal(cat_default_path(path, 8), -ERANGE);
}

#define FX(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX(test_new_catalog_is_current_and_clean),
        FX(test_reconcile_follows_the_image),
        FX(test_same_id_recreated_is_a_new_row),
        FX(test_record_tracks_parents_and_extras),
        FX(test_moved_image_keeps_its_rows),
        FX(test_copy_is_a_new_image),
        FX(test_filters),
        FX(test_many_snapshots),
        FX(test_broken_catalog_files),
        FX(test_migrates_version_1),
        FX(test_allocation_failures),
        cmocka_unit_test(test_default_path),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
