/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-catalog.c - rrvm keeps the snapshot catalog current:
 * every qcow2 drive is reconciled when rrvm opens it (at start-up, and
 * again when a commit or a migration reopens it), and every savevm,
 * loadvm and delvm (machine-snap.c's completion hook) is recorded; plus the
 * catalog's monitor commands (__org.rrvm_query-catalog, ...).
 *
 * Invariants:
 * 1. A catalog problem never fails a snapshot command and never reaches a
 *    monitor reply of one: it is one warning per process on stderr
 *    (c->warned), and the image stays right (it is the source of truth).
 * 2. c->cat is NULL while the catalog cannot be opened; each later use
 *    tries again, silently after the first warning.
 */
#include "emulator/machine-catalog.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog/catalog.h"
#include "common/alloc.h"
#include "common/bytes.h"
#include "common/hash.h"
#include "emulator/rv-int.h"
#include "emulator/machine-mon-int.h"
#include "monitor/mon.h"
#include "qcow2/qcow2.h"

/* vmstate blob (docs/formats/vmstate.md): header, then sections. */
#define VMS_HDR_NSECT_OFF  24u
#define VMS_HDR_TOTAL_OFF  32u
#define VMS_SECT_HDR_LEN   16u
#define VMS_SECT_CONFIG_ID 1u

struct vm_catalog {
    char *path;      /* -catalog FILE; NULL: the default */
    struct cat *cat; /* NULL: not open (invariant 2) */
    bool warned;     /* invariant 1 */
    struct rv_machine *m;
    struct mon_cmd *cmds; /* catalog_cmds with opaque = this */
};

static void catalog_warn(struct vm_catalog *c, const char *what,
                         const struct err *e)
{
    if (c->warned) {
        return;
    }
    c->warned = true;
    fprintf(stderr, "rrvm: warning: snapshot catalog %s: %s\n", what, e->msg);
}

/* The open handle, opening it if needed; NULL (with @e set) if it cannot
 * be opened. */
static struct cat *catalog_get(struct vm_catalog *c, struct err *e)
{
    if (!c->cat && cat_open(c->path, &c->cat, e) < 0) {
        c->cat = NULL;
        return NULL;
    }
    return c->cat;
}

/* After a failed write the handle may be stuck (locked, corrupt): drop it
 * so the next use tries afresh. */
static void catalog_failed(struct vm_catalog *c, const struct err *e)
{
    catalog_warn(c, "not updated", e);
    cat_close(c->cat);
    c->cat = NULL;
}

int vm_catalog_new(const char *path, struct vm_catalog **out, struct err *err)
{
    struct vm_catalog *c = mem_calloc(1, sizeof(*c));

    if (!c) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    if (path) {
        c->path = mem_strdup(path);
        if (!c->path) {
            mem_free(c);
            return err_set(err, -ENOMEM, "out of memory");
        }
    }
    *out = c;
    return 0;
}

void vm_catalog_free(struct vm_catalog *c)
{
    if (!c) {
        return;
    }
    cat_close(c->cat);
    mem_free(c->cmds);
    mem_free(c->path);
    mem_free(c);
}

/* The machine's disk whose file is @path (qcow2_filename()), or NULL. */
static struct qcow2_image *disk_of(struct rv_machine *m, const char *path)
{
    const struct rv_drive_config *dc;
    struct qcow2_image *img;

    for (unsigned i = 0; (img = rv_machine_disk(m, i, &dc)) != NULL; i++) {
        if (!dc->snapshot && !strcmp(qcow2_filename(img), path)) {
            return img;
        }
    }
    return NULL;
}

/* SHA-256 (hex) of the CONFIG section of the machine's current vmstate
 * blob: the configuration fingerprint. Returns 0 or -errno. */
static int config_fingerprint(struct rv_machine *m, char *hex)
{
    uint8_t *blob = NULL, digest[32];
    size_t len = 0, off;
    uint32_t nsect;
    int ret = rv_machine_vmstate_save(m, &blob, &len, NULL);

    if (ret < 0) {
        return ret;
    }
    ret = -ENOENT;
    if (len < RV_VMSTATE_HDR_LEN) {
        goto out;
    }
    off = rd_le32(blob + 8);
    nsect = rd_le32(blob + VMS_HDR_NSECT_OFF);
    for (uint32_t i = 0; i < nsect && off + VMS_SECT_HDR_LEN <= len; i++) {
        uint32_t id = rd_le32(blob + off);
        uint32_t plen = rd_le32(blob + off + 8);

        if (plen > len - off - VMS_SECT_HDR_LEN) {
            break;
        }
        if (id == VMS_SECT_CONFIG_ID) {
            hash_sha256(blob + off + VMS_SECT_HDR_LEN, plen, digest);
            hash_hex(digest, sizeof(digest), hex);
            ret = 0;
            break;
        }
        off += VMS_SECT_HDR_LEN + plen;
    }
out:
    mem_free(blob);
    return ret;
}

/* machine-snap.c's completion hook (an rv_snap_done_fn). */
static void catalog_snap_done(void *opaque, const struct rv_snap_record *r)
{
    struct vm_catalog *c = opaque;
    struct qcow2_image *img = disk_of(c->m, r->image);
    struct err e = {0, ""};
    struct cat *cat;
    int ret = 0;

    if (!img) {
        return; /* a -snapshot overlay: a temporary file, not catalogued */
    }
    cat = catalog_get(c, &e);
    if (!cat) {
        catalog_warn(c, "not updated", &e);
        return;
    }
    switch (r->op) {
    case RV_SNAP_SAVED: {
        static const uint8_t zero[RV_STATE_HASH_LEN];
        char hash[2 * RV_STATE_HASH_LEN + 1], fp[65];
        struct cat_snapshot_extra x = {NULL, NULL, NULL};

        if (memcmp(r->state_hash, zero, sizeof(zero)) != 0) {
            hash_hex(r->state_hash, RV_STATE_HASH_LEN, hash);
            x.state_hash = hash;
            if (config_fingerprint(c->m, fp) == 0) {
                x.config_fp = fp;
            }
        }
        ret = cat_record_snapshot(cat, r->image, img, r->id, &x, &e);
        break;
    }
    case RV_SNAP_LOADED:
        ret = cat_note_load(cat, r->image, img, r->id, &e);
        break;
    case RV_SNAP_DELETED:
        ret = cat_record_delete(cat, r->image, img, &e);
        break;
    }
    if (ret < 0) {
        catalog_failed(c, &e);
    }
}

/* Reconcile the image of a qcow2 drive (not a -snapshot overlay) with the
 * catalog; a failure costs the one warning. Returns false if the catalog
 * cannot be used. */
static bool catalog_reconcile(struct vm_catalog *c, struct qcow2_image *img,
                              const struct rv_drive_config *dc)
{
    struct err e = {0, ""};
    struct cat *cat;

    if (dc->snapshot || qcow2_format_of(img) != QCOW2_FORMAT_QCOW2) {
        return true;
    }
    cat = catalog_get(c, &e);
    if (!cat) {
        catalog_warn(c, "not updated", &e);
        return false;
    }
    if (cat_reconcile_image(cat, qcow2_filename(img), img, &e) < 0) {
        catalog_failed(c, &e);
        return false;
    }
    return true;
}

/* rv_machine's disk hook: a drive opened again (after a commit, or taken
 * back after a migration) may have changed meanwhile. */
static void catalog_disk_opened(void *opaque, struct qcow2_image *img,
                                const struct rv_drive_config *dc)
{
    catalog_reconcile(opaque, img, dc);
}

int vm_catalog_attach(struct vm_catalog *c, struct rv_machine *m,
                      const struct rv_snap_drive *drives, size_t nb_drives,
                      struct err *err)
{
    const struct rv_drive_config *dc;
    struct qcow2_image *img;
    struct rv_snap *s;
    int ret;

    c->m = m;
    ret = rv_snap_get(m, drives, nb_drives, &s, err);
    if (ret < 0) {
        return ret;
    }
    rv_snap_set_done_hook(s, catalog_snap_done, c);
    rv_machine_set_disk_hook(m, catalog_disk_opened, c);
    /* Reconcile every qcow2 drive rrvm opened (not -snapshot overlays). */
    for (unsigned i = 0; (img = rv_machine_disk(m, i, &dc)) != NULL; i++) {
        if (!catalog_reconcile(c, img, dc)) {
            break;
        }
    }
    return 0;
}

/* ---- monitor commands ---- */

static struct vm_catalog *req_catalog(struct mon_req *req)
{
    return mon_req_opaque(req);
}

/* The open catalog for a command, or NULL with an error in @err: here a
 * catalog problem is the command's answer. */
static struct cat *cmd_catalog(struct mon_req *req, struct err *err)
{
    struct vm_catalog *c = req_catalog(req);
    struct cat *cat = catalog_get(c, err);

    if (!cat) {
        err_prefix(err, "snapshot catalog");
    }
    return cat;
}

static int json_set(struct mon_json *o, const char *key, struct mon_json *v)
{
    if (!v) {
        return -ENOMEM;
    }
    return mon_json_object_set_take(o, key, v);
}

static const char *mark_name(enum cat_mark m)
{
    return m == CAT_MARK_GOOD ? "good" : m == CAT_MARK_BAD ? "bad" : NULL;
}

static int parse_mark(const char *s, enum cat_mark *out, struct err *err)
{
    if (!strcmp(s, "good")) {
        *out = CAT_MARK_GOOD;
    } else if (!strcmp(s, "bad")) {
        *out = CAT_MARK_BAD;
    } else if (!strcmp(s, "none")) {
        *out = CAT_MARK_NONE;
    } else {
        return err_set(err, -EINVAL,
                       "Parameter 'mark' expects good, bad or none");
    }
    return 0;
}

/* One row as rrvm-img catalog list --output=json shows it. */
static struct mon_json *snapshot_json(const struct cat_snapshot *s)
{
    struct mon_json *o = mon_json_object_new();
    struct mon_json *labels = mon_json_array_new();
    const char *p = s->labels;
    int ret = 0;

    if (!o || !labels) {
        goto fail;
    }
    ret |= json_set(o, "image", mon_json_str_new(s->image));
    ret |= json_set(o, "image-missing", mon_json_bool_new(s->image_missing));
    ret |= json_set(o, "id", mon_json_str_new(s->id));
    ret |= json_set(o, "name", mon_json_str_new(s->tag));
    ret |= json_set(o, "vm-state-size", mon_json_uint_new(s->vm_size));
    ret |= json_set(o, "date-sec", mon_json_int_new(s->date_sec));
    ret |= json_set(o, "date-nsec", mon_json_int_new(s->date_nsec));
    ret |= json_set(o, "vm-clock-sec",
                    mon_json_uint_new(s->vm_clock_nsec / 1000000000ull));
    ret |= json_set(o, "vm-clock-nsec",
                    mon_json_uint_new(s->vm_clock_nsec % 1000000000ull));
    if (s->icount != UINT64_MAX) {
        ret |= json_set(o, "icount", mon_json_uint_new(s->icount));
    }
    ret |= json_set(o, "row", mon_json_int_new(s->row));
    if (s->parent_row) {
        ret |= json_set(o, "parent-row", mon_json_int_new(s->parent_row));
    }
    if (s->state_hash) {
        ret |= json_set(o, "state-hash", mon_json_str_new(s->state_hash));
    }
    if (s->config_fp) {
        ret |=
            json_set(o, "config-fingerprint", mon_json_str_new(s->config_fp));
    }
    if (mark_name(s->mark)) {
        ret |= json_set(o, "mark", mon_json_str_new(mark_name(s->mark)));
    }
    if (s->note) {
        ret |= json_set(o, "note", mon_json_str_new(s->note));
    }
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char one[CAT_MAX_TEXT + 1];

        struct mon_json *v;

        snprintf(one, sizeof(one), "%.*s", (int)len, p);
        v = mon_json_str_new(one);
        if (!v) {
            goto fail;
        }
        ret |= mon_json_array_append_take(labels, v);
        p += len + (comma ? 1 : 0);
    }
    ret |= mon_json_object_set_take(o, "labels", labels);
    labels = NULL;
    if (ret == 0) {
        return o;
    }
fail:
    mon_json_free(labels);
    mon_json_free(o);
    return NULL;
}

static int cmd_query_catalog(struct mon_req *req, struct err *err)
{
    struct cat *cat = cmd_catalog(req, err);
    struct cat_snapshot_list l = {NULL, 0};
    struct cat_filter f;
    struct mon_json *a;
    const char *mark = mon_req_arg_str(req, "mark");
    int64_t v;
    int ret;

    if (!cat) {
        return err->code;
    }
    memset(&f, 0, sizeof(f));
    f.image = mon_req_arg_str(req, "image");
    f.tag = mon_req_arg_str(req, "tag");
    f.label = mon_req_arg_str(req, "label");
    if (mark && (ret = parse_mark(mark, &f.mark, err)) < 0) {
        return ret;
    }
    if (mon_req_arg_int(req, "icount-min", &v)) {
        f.have_icount_min = true;
        f.icount_min = (uint64_t)v;
    }
    if (mon_req_arg_int(req, "icount-max", &v)) {
        f.have_icount_max = true;
        f.icount_max = (uint64_t)v;
    }
    if (mon_req_arg_int(req, "date-min", &v)) {
        f.have_date_min = true;
        f.date_min = v;
    }
    if (mon_req_arg_int(req, "date-max", &v)) {
        f.have_date_max = true;
        f.date_max = v;
    }
    ret = cat_query(cat, &f, &l, err);
    if (ret < 0) {
        return ret;
    }
    a = mon_json_array_new();
    for (size_t i = 0; a && i < l.n; i++) {
        struct mon_json *o = snapshot_json(&l.v[i]);

        if (!o || mon_json_array_append_take(a, o) < 0) {
            mon_json_free(a);
            a = NULL;
        }
    }
    cat_snapshot_list_fini(&l);
    if (!a) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    mon_req_return_take(req, a);
    return 0;
}

/* HMP `info catalog`: one line per snapshot. */
static void fmt_catalog(struct mon_req *req, const struct mon_json *ret)
{
    const char *image = NULL;

    for (size_t i = 0; i < mon_json_len(ret); i++) {
        const struct mon_json *o = mon_json_array_get(ret, i);
        const char *img = mon_json_str_get(mon_json_object_get(o, "image"));
        const char *hash =
            mon_json_str_get(mon_json_object_get(o, "state-hash"));
        const char *mark = mon_json_str_get(mon_json_object_get(o, "mark"));
        const char *note = mon_json_str_get(mon_json_object_get(o, "note"));
        const struct mon_json *labels = mon_json_object_get(o, "labels");
        int64_t icount = -1;

        if (!image || strcmp(image, img) != 0) {
            image = img;
            mon_req_printf(req, "Image: %s\n", img);
            mon_req_printf(req, "%-6s %-20s %-14s %-16s %-4s %s\n", "ID", "TAG",
                           "ICOUNT", "STATE HASH", "MARK", "LABELS");
        }
        mon_json_int_get(mon_json_object_get(o, "icount"), &icount);
        mon_req_printf(req, "%-6s %-20s ",
                       mon_json_str_get(mon_json_object_get(o, "id")),
                       mon_json_str_get(mon_json_object_get(o, "name")));
        if (icount >= 0) {
            mon_req_printf(req, "%-14" PRId64 " ", icount);
        } else {
            mon_req_printf(req, "%-14s ", "-");
        }
        mon_req_printf(req, "%-16.16s", hash ? hash : "-");
        if (mark || mon_json_len(labels)) {
            mon_req_printf(req, " %-4s", mark ? mark : "");
        }
        for (size_t k = 0; k < mon_json_len(labels); k++) {
            mon_req_printf(req, "%s%s", k ? "," : " ",
                           mon_json_str_get(mon_json_array_get(labels, k)));
        }
        mon_req_printf(req, "\n");
        if (note) {
            mon_req_printf(req, "       note: %s\n", note);
        }
    }
}

/* The image a command names, or the machine's first writable qcow2 disk
 * (where savevm puts the vmstate). NULL with @err set if none. */
static const char *cmd_image(struct mon_req *req, struct err *err)
{
    struct vm_catalog *c = req_catalog(req);
    const char *image = mon_req_arg_str(req, "image");
    const struct rv_drive_config *dc;
    struct qcow2_image *img;

    if (image) {
        return image;
    }
    for (unsigned i = 0; c->m && (img = rv_machine_disk(c->m, i, &dc)); i++) {
        if (!dc->snapshot && !dc->readonly &&
            qcow2_format_of(img) == QCOW2_FORMAT_QCOW2) {
            return qcow2_filename(img);
        }
    }
    err_set(err, -ENOENT, "no qcow2 disk: give 'image'");
    return NULL;
}

static int cmd_catalog_mark(struct mon_req *req, struct err *err)
{
    const char *image = cmd_image(req, err);
    struct cat *cat;
    enum cat_mark mark;
    int ret;

    if (!image) {
        return err->code;
    }
    ret = parse_mark(mon_req_arg_str(req, "mark"), &mark, err);
    if (ret < 0) {
        return ret;
    }
    cat = cmd_catalog(req, err);
    if (!cat) {
        return err->code;
    }
    return cat_mark_set(cat, image, mon_req_arg_str(req, "snapshot"), mark,
                        err);
}

static int cmd_catalog_label(struct mon_req *req, struct err *err)
{
    const char *image = cmd_image(req, err);
    const char *snapshot = mon_req_arg_str(req, "snapshot");
    const char *label = mon_req_arg_str(req, "label");
    bool remove = false;
    struct cat *cat;

    if (!image) {
        return err->code;
    }
    mon_req_arg_bool(req, "remove", &remove);
    cat = cmd_catalog(req, err);
    if (!cat) {
        return err->code;
    }
    if (remove) {
        return cat_label_remove(cat, image, snapshot, label, err);
    }
    return cat_label_add(cat, image, snapshot, label, err);
}

static int cmd_catalog_annotate(struct mon_req *req, struct err *err)
{
    const char *image = cmd_image(req, err);
    struct cat *cat;

    if (!image) {
        return err->code;
    }
    cat = cmd_catalog(req, err);
    if (!cat) {
        return err->code;
    }
    return cat_annotate(cat, image, mon_req_arg_str(req, "snapshot"),
                        mon_req_arg_str(req, "note"), err);
}

/* The machine's qcow2 disk whose file is @path (the same file, however
 * named), or NULL. */
static struct qcow2_image *machine_disk_named(struct rv_machine *m,
                                              const char *path)
{
    const struct rv_drive_config *dc;
    struct qcow2_image *img;
    struct stat want, st;

    if (stat(path, &want) < 0) {
        return NULL;
    }
    for (unsigned i = 0; m && (img = rv_machine_disk(m, i, &dc)); i++) {
        if (qcow2_format_of(img) == QCOW2_FORMAT_QCOW2 &&
            stat(qcow2_filename(img), &st) == 0 && st.st_dev == want.st_dev &&
            st.st_ino == want.st_ino) {
            return img;
        }
    }
    return NULL;
}

static struct mon_json *diff_json(const char *image, const struct cat_diff *d)
{
    struct mon_json *o = mon_json_object_new();
    struct mon_json *regs = mon_json_array_new();
    struct mon_json *devices = mon_json_array_new();
    struct mon_json *pages = mon_json_array_new();
    struct mon_json *clusters = mon_json_array_new();
    const struct cat_diff_snap *sides[2] = {&d->a, &d->b};
    int ret = o && regs && devices && pages && clusters ? 0 : -ENOMEM;

    for (size_t i = 0; ret == 0 && i < d->nb_regs; i++) {
        struct mon_json *r = mon_json_object_new();

        ret = r ? 0 : -ENOMEM;
        ret |= json_set(r, "name", mon_json_str_new(d->regs[i].name));
        ret |= json_set(r, "a", mon_json_uint_new(d->regs[i].a));
        ret |= json_set(r, "b", mon_json_uint_new(d->regs[i].b));
        ret |= r ? mon_json_array_append_take(regs, r) : 0;
    }
    for (size_t i = 0; ret == 0 && i < d->nb_devices; i++) {
        struct mon_json *v = mon_json_str_new(d->devices[i]);

        ret = v ? mon_json_array_append_take(devices, v) : -ENOMEM;
    }
    for (size_t i = 0; ret == 0 && i < d->nb_pages; i++) {
        struct mon_json *v = mon_json_uint_new(d->pages[i]);

        ret = v ? mon_json_array_append_take(pages, v) : -ENOMEM;
    }
    for (size_t i = 0; ret == 0 && i < d->nb_clusters; i++) {
        struct mon_json *v = mon_json_uint_new(d->clusters[i]);

        ret = v ? mon_json_array_append_take(clusters, v) : -ENOMEM;
    }
    if (ret == 0) {
        ret |= json_set(o, "image", mon_json_str_new(image));
        for (int k = 0; k < 2; k++) {
            struct mon_json *s = mon_json_object_new();

            if (!s) {
                ret = -ENOMEM;
                break;
            }
            ret |= json_set(s, "id", mon_json_str_new(sides[k]->id));
            ret |= json_set(s, "name", mon_json_str_new(sides[k]->name));
            if (sides[k]->icount != UINT64_MAX) {
                ret |=
                    json_set(s, "icount", mon_json_uint_new(sides[k]->icount));
            }
            ret |= mon_json_object_set_take(o, k ? "b" : "a", s);
        }
        ret |= mon_json_object_set_take(o, "registers", regs);
        ret |= mon_json_object_set_take(o, "devices", devices);
        ret |= json_set(o, "page-size", mon_json_uint_new(d->page_size));
        ret |= mon_json_object_set_take(o, "ram-pages", pages);
        ret |= json_set(o, "cluster-size", mon_json_uint_new(d->cluster_size));
        ret |= mon_json_object_set_take(o, "disk-clusters", clusters);
        if (ret == 0) {
            return o;
        }
        mon_json_free(o);
        return NULL;
    }
    mon_json_free(regs);
    mon_json_free(devices);
    mon_json_free(pages);
    mon_json_free(clusters);
    mon_json_free(o);
    return NULL;
}

/* __org.rrvm_snapshot-diff: rrvm-img snapshot-diff's JSON, on a disk of
 * this machine, through two read-only handles of its file. */
static int cmd_snapshot_diff(struct mon_req *req, struct err *err)
{
    struct vm_catalog *c = req_catalog(req);
    const char *image = cmd_image(req, err);
    struct qcow2_image *mine, *ia = NULL, *ib = NULL;
    const unsigned flags = QCOW2_OPEN_RDONLY | QCOW2_OPEN_FORCE_SHARE;
    struct cat_diff d;
    struct mon_json *o;
    int ret;

    if (!image) {
        return err->code;
    }
    memset(&d, 0, sizeof(d));
    mine = machine_disk_named(c->m, image);
    if (!mine) {
        return err_set(err, -ENOENT, "'%s' is not a disk of this machine",
                       image);
    }
    ret = qcow2_flush(mine, err);
    if (ret == 0) {
        ret = qcow2_open(image, QCOW2_FORMAT_QCOW2, flags, &ia, err);
    }
    if (ret == 0) {
        ret = qcow2_open(image, QCOW2_FORMAT_QCOW2, flags, &ib, err);
    }
    if (ret == 0) {
        ret = cat_snapshot_diff(ia, ib, mon_req_arg_str(req, "a"),
                                mon_req_arg_str(req, "b"), &d, err);
    }
    qcow2_close(ia);
    qcow2_close(ib);
    if (ret < 0) {
        return ret;
    }
    o = diff_json(image, &d);
    cat_diff_fini(&d);
    if (!o) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    mon_req_return_take(req, o);
    return 0;
}

/* HMP snapshot_diff: rrvm-img snapshot-diff's human form. */
static void fmt_snapshot_diff(struct mon_req *req, const struct mon_json *ret)
{
    static const char *const lists[] = {"devices", "ram-pages",
                                        "disk-clusters"};
    static const char *const titles[] = {
        "Devices:", "RAM pages:", "Disk clusters:"};
    const struct mon_json *regs = mon_json_object_get(ret, "registers");

    mon_req_printf(req, "Registers:\n");
    for (size_t i = 0; i < mon_json_len(regs); i++) {
        const struct mon_json *r = mon_json_array_get(regs, i);
        int64_t a = 0, b = 0;

        mon_json_int_get(mon_json_object_get(r, "a"), &a);
        mon_json_int_get(mon_json_object_get(r, "b"), &b);
        mon_req_printf(req, "  %-12s 0x%016" PRIx64 " -> 0x%016" PRIx64 "\n",
                       mon_json_str_get(mon_json_object_get(r, "name")),
                       (uint64_t)a, (uint64_t)b);
    }
    if (!mon_json_len(regs)) {
        mon_req_printf(req, "  none\n");
    }
    for (int k = 0; k < 3; k++) {
        const struct mon_json *l = mon_json_object_get(ret, lists[k]);

        mon_req_printf(req, "%s", titles[k]);
        for (size_t i = 0; i < mon_json_len(l); i++) {
            const struct mon_json *v = mon_json_array_get(l, i);
            int64_t n = 0;

            if (k == 0) {
                mon_req_printf(req, "%s%s", i ? ", " : " ",
                               mon_json_str_get(v));
            } else {
                mon_json_int_get(v, &n);
                mon_req_printf(req, " 0x%" PRIx64, (uint64_t)n);
            }
        }
        mon_req_printf(req, "%s\n", mon_json_len(l) ? "" : " none");
    }
}

#define CAT_SNAPSHOT_JSON                                                      \
    "{image:str,image-missing:bool,id:str,name:str,vm-state-size:int,"         \
    "date-sec:int,date-nsec:int,vm-clock-sec:int,vm-clock-nsec:int,"           \
    "*icount:int,row:int,*parent-row:int,*state-hash:str,"                     \
    "*config-fingerprint:str,*mark:str,*note:str,labels:[str]}"

static const struct mon_cmd catalog_cmds[] = {
    {"__org.rrvm_snapshot-diff", "snapshot_diff", "{*image:str,a:str,b:str}",
     "{image:str,a:{id:str,name:str,*icount:int},"
     "b:{id:str,name:str,*icount:int},"
     "registers:[{name:str,a:int,b:int}],devices:[str],page-size:int,"
     "ram-pages:[int],cluster-size:int,disk-clusters:[int]}",
     "a:s,b:s", "a b",
     "show what differs between two snapshots (rrvm-img snapshot-diff)",
     cmd_snapshot_diff, fmt_snapshot_diff, 0, NULL},
    {"__org.rrvm_query-catalog", "info catalog",
     "{*image:str,*tag:str,*label:str,*mark:str,*icount-min:int,"
     "*icount-max:int,*date-min:int,*date-max:int}",
     "[" CAT_SNAPSHOT_JSON "]", NULL, NULL,
     "show the snapshot catalog (rrvm-img catalog list)", cmd_query_catalog,
     fmt_catalog, 0, NULL},
    {"__org.rrvm_catalog-mark", "catalog_mark",
     "{*image:str,snapshot:str,mark:str}", NULL, "snapshot:s,mark:s",
     "snapshot good|bad|none", "mark a snapshot good or bad in the catalog",
     cmd_catalog_mark, NULL, 0, NULL},
    {"__org.rrvm_catalog-label", "catalog_label",
     "{*image:str,snapshot:str,label:str,*remove:bool}", NULL,
     "remove:-d,snapshot:s,label:s", "[-d] snapshot label",
     "label a snapshot in the catalog (-d: remove the label)",
     cmd_catalog_label, NULL, 0, NULL},
    {"__org.rrvm_catalog-annotate", "catalog_annotate",
     "{*image:str,snapshot:str,note:str}", NULL, "snapshot:s,note:S",
     "snapshot note", "attach a note to a snapshot in the catalog",
     cmd_catalog_annotate, NULL, 0, NULL},
};

int vm_catalog_register(struct vm_catalog *c, struct mon *mon, struct err *err)
{
    return vm_mon_cmds_register(mon, catalog_cmds, ARRAY_LEN(catalog_cmds), c,
                                &c->cmds, err);
}
