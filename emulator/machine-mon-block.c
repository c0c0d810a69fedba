/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-mon-block.c - the block commands of the rrvm monitor:
 * query-block, query-named-block-nodes, `info block [-n] [-v] [device]`,
 * eject and change (blockdev-change-medium), block_resize and commit, in
 * QEMU 7.2's formats and messages.
 *
 * The drives are those of the command line (struct vm_mon_drive). Each is
 * a BlockBackend named by its id (or "virtio<N>") over a format node
 * (qcow2 or raw) over a protocol node ("file"), with the backing chain
 * below, as QEMU builds them. Nodes without node-name= are named as QEMU's
 * id_generate() does, "#block<counter><2 digits>", counting in creation
 * order (protocol node, format node, then the backing chain's); QEMU's two
 * last digits are random, ours are 00.
 *
 * Image details are read from the files through a lock-free read-only
 * open (QCOW2_OPEN_FORCE_SHARE), as `qemu-img info -U` does, at each
 * query: the header fields that the guest's writes do not change, and the
 * current allocation (actual-size).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/fmt.h"
#include "common/log.h"
#include "emulator/machine-mon.h"
#include "emulator/machine-mon-int.h"
#include "monitor/mon.h"
#include "qcow2/qcow2.h"

#define BLOCK_NAME_LEN 32

struct vm_mon_block {
    struct rv_machine *const *m;       /* borrowed: NULL before it exists */
    const struct vm_mon_drive *drives; /* borrowed */
    size_t nb_drives;
    struct mon_cmd *cmds; /* block_cmds with opaque = this */
};

/* ---- JSON building: errors accumulate in *@ret ---- */

static void put(struct mon_json *o, const char *key, struct mon_json *v,
                int *ret)
{
    int r = mon_json_object_set_take(o, key, v);

    if (r < 0) {
        *ret = r;
    }
}

static void put_str(struct mon_json *o, const char *key, const char *s,
                    int *ret)
{
    put(o, key, mon_json_str_new(s), ret);
}

static void put_int(struct mon_json *o, const char *key, int64_t v, int *ret)
{
    put(o, key, mon_json_int_new(v), ret);
}

static void put_bool(struct mon_json *o, const char *key, bool v, int *ret)
{
    put(o, key, mon_json_bool_new(v), ret);
}

/* ---- nodes ---- */

/* The walk over every node, in QEMU's creation order. */
struct walk {
    unsigned counter;       /* of automatic names */
    struct mon_json *nodes; /* BlockDeviceInfo of each node, in order */
};

static void auto_name(struct walk *w, char *dst)
{
    snprintf(dst, BLOCK_NAME_LEN, "#block%u00", w->counter++);
}

/* QEMU's cache member of BlockDeviceInfo. */
static struct mon_json *cache_info(const struct rv_drive_config *c, int *ret)
{
    struct mon_json *o = mon_json_object_new();

    if (!o) {
        *ret = -ENOMEM;
        return NULL;
    }
    put_bool(o, "no-flush", c->cache_unsafe, ret);
    put_bool(o, "direct", c->cache_direct, ret);
    put_bool(o, "writeback", true, ret);
    return o;
}

/* BlockDeviceInfo's members common to every node, around @image. */
static struct mon_json *node_info(const char *file, const char *name,
                                  const char *drv, bool ro,
                                  const char *backing_file, int depth,
                                  const struct rv_drive_config *c,
                                  struct mon_json *image, int *ret)
{
    struct mon_json *o = mon_json_object_new();

    if (!o) {
        mon_json_free(image);
        *ret = -ENOMEM;
        return NULL;
    }
    put_int(o, "iops_rd", 0, ret);
    put_str(o, "detect_zeroes", "off", ret);
    put(o, "image", image, ret);
    put_int(o, "iops_wr", 0, ret);
    put_bool(o, "ro", ro, ret);
    put_str(o, "node-name", name, ret);
    put_int(o, "backing_file_depth", depth, ret);
    put_str(o, "drv", drv, ret);
    put_int(o, "iops", 0, ret);
    put_int(o, "bps_wr", 0, ret);
    put_int(o, "write_threshold", 0, ret);
    if (backing_file) {
        put_str(o, "backing_file", backing_file, ret);
    }
    put_bool(o, "encrypted", false, ret);
    put_int(o, "bps", 0, ret);
    put_int(o, "bps_rd", 0, ret);
    put(o, "cache", cache_info(c, ret), ret);
    put_str(o, "file", file, ret);
    return o;
}

/* The ImageInfo of the format node @img (and of its backing chain unless
 * @flat). */
static struct mon_json *image_info(struct qcow2_image *img, bool flat, int *ret)
{
    struct mon_json *o = mon_json_object_new();
    struct qcow2_info in;
    struct stat st;
    const char *name = qcow2_filename(img);

    if (!o) {
        *ret = -ENOMEM;
        return NULL;
    }
    qcow2_get_info(img, &in);
    if (!flat && qcow2_backing(img)) {
        put(o, "backing-image", image_info(qcow2_backing(img), flat, ret), ret);
    }
    if (in.backing_fmt) {
        put_str(o, "backing-filename-format", in.backing_fmt, ret);
    }
    put_int(o, "virtual-size", (int64_t)in.virtual_size, ret);
    put_str(o, "filename", name, ret);
    if (in.format == QCOW2_FORMAT_QCOW2) {
        put_int(o, "cluster-size", in.cluster_size, ret);
    }
    put_str(o, "format", in.format == QCOW2_FORMAT_QCOW2 ? "qcow2" : "raw",
            ret);
    put_int(o, "actual-size",
            stat(name, &st) == 0 ? (int64_t)st.st_blocks * 512 : 0, ret);
    if (in.format == QCOW2_FORMAT_QCOW2) {
        struct mon_json *fs = mon_json_object_new();
        struct mon_json *d = mon_json_object_new();
        bool v3 = in.version >= 3;

        if (fs && d) {
            put_str(d, "compat", v3 ? "1.1" : "0.10", ret);
            put_str(d, "compression-type",
                    in.compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd"
                                                                  : "zlib",
                    ret);
            if (v3) {
                put_bool(d, "lazy-refcounts", in.lazy_refcounts, ret);
            }
            put_int(d, "refcount-bits", in.refcount_bits, ret);
            if (v3) {
                put_bool(d, "corrupt", in.corrupt, ret);
                put_bool(d, "extended-l2", in.extended_l2, ret);
            }
            if (in.data_file) {
                put_str(d, "data-file", in.data_file, ret);
            }
            put_str(fs, "type", "qcow2", ret);
            put(fs, "data", d, ret);
            put(o, "format-specific", fs, ret);
        } else {
            mon_json_free(fs);
            mon_json_free(d);
            *ret = -ENOMEM;
        }
    }
    if (in.full_backing_filename) {
        put_str(o, "full-backing-filename", in.full_backing_filename, ret);
    }
    if (in.backing_file) {
        put_str(o, "backing-filename", in.backing_file, ret);
    }
    put_bool(o, "dirty-flag", in.dirty, ret);
    return o;
}

/* The ImageInfo of a protocol node on @file. */
static struct mon_json *file_image_info(const char *file, int *ret)
{
    struct mon_json *o = mon_json_object_new();
    struct stat st;
    bool ok = stat(file, &st) == 0;

    if (!o) {
        *ret = -ENOMEM;
        return NULL;
    }
    /* QEMU's bdrv_getlength(): whole 512-byte sectors. */
    put_int(o, "virtual-size", ok ? ((int64_t)st.st_size + 511) & ~511ll : 0,
            ret);
    put_str(o, "filename", file, ret);
    put_str(o, "format", "file", ret);
    put_int(o, "actual-size", ok ? (int64_t)st.st_blocks * 512 : 0, ret);
    put_bool(o, "dirty-flag", false, ret);
    return o;
}

/* Chain depth below @img. */
static int chain_depth(struct qcow2_image *img)
{
    int n = 0;

    while ((img = qcow2_backing(img))) {
        n++;
    }
    return n;
}

/*
 * Add the nodes of the format image @img (its protocol node first, then
 * itself, then its backing chain's) to @w; the BlockDeviceInfo of the
 * format node goes to *@top when @top is not NULL. @name: node-name=, or
 * NULL for automatic names. @ro: the drive's readonly (backing nodes are
 * always read-only).
 */
static void walk_image(struct walk *w, struct qcow2_image *img,
                       const char *name, bool ro,
                       const struct rv_drive_config *c, struct mon_json **top,
                       int *ret)
{
    char file_name[BLOCK_NAME_LEN], fmt_name[BLOCK_NAME_LEN];
    const char *file = qcow2_filename(img);
    struct qcow2_info in;
    struct mon_json *n;

    qcow2_get_info(img, &in);
    auto_name(w, file_name);
    n = node_info(file, file_name, "file", ro, NULL, 0, c,
                  file_image_info(file, ret), ret);
    if (n && mon_json_array_append_take(w->nodes, n) < 0) {
        *ret = -ENOMEM;
    }
    if (name) {
        snprintf(fmt_name, sizeof(fmt_name), "%s", name);
    } else {
        auto_name(w, fmt_name);
    }
    n = node_info(
        file, fmt_name, in.format == QCOW2_FORMAT_QCOW2 ? "qcow2" : "raw", ro,
        in.backing_file, chain_depth(img), c, image_info(img, false, ret), ret);
    if (n && top) {
        *top = mon_json_copy(n);
        if (!*top) {
            *ret = -ENOMEM;
        }
    }
    if (n && mon_json_array_append_take(w->nodes, n) < 0) {
        *ret = -ENOMEM;
    }
    if (qcow2_backing(img)) {
        walk_image(w, qcow2_backing(img), NULL, true, c, NULL, ret);
    }
}

/* Open drive @d's image on its own with qcow2_open() @flags, probing the
 * format unless the drive names one. */
static int drive_open(const struct vm_mon_drive *d, unsigned flags,
                      struct qcow2_image **out, struct err *err)
{
    enum qcow2_format fmt;
    int ret;

    if (!d->cfg.format) {
        ret = qcow2_probe(d->cfg.file, &fmt, err);
        if (ret < 0) {
            return ret;
        }
    } else {
        fmt = strcmp(d->cfg.format, "raw") ? QCOW2_FORMAT_QCOW2
                                           : QCOW2_FORMAT_RAW;
    }
    return qcow2_open(d->cfg.file, fmt, flags, out, err);
}

/*
 * Every node in QEMU's creation order into *@nodes, and each drive's
 * format-node BlockDeviceInfo into @tops[i] (NULL-able array of
 * nb_drives). Returns 0 or -errno with @err set.
 */
static int walk_all(const struct vm_mon_block *b, struct mon_json **nodes,
                    struct mon_json **tops, struct err *err)
{
    struct walk w = {0, mon_json_array_new()};
    int ret = 0;

    if (!w.nodes) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < b->nb_drives && ret == 0; i++) {
        const struct vm_mon_drive *d = &b->drives[i];
        struct qcow2_image *img = NULL;

        ret = drive_open(d, QCOW2_OPEN_RDONLY | QCOW2_OPEN_FORCE_SHARE, &img,
                         err); /* as `qemu-img info -U` */
        if (ret < 0) {
            break;
        }
        walk_image(&w, img, d->node_name, d->cfg.readonly, &d->cfg,
                   tops ? &tops[i] : NULL, &ret);
        qcow2_close(img);
        if (ret < 0) {
            err_set(err, ret, "out of memory");
        }
    }
    if (ret < 0) {
        mon_json_free(w.nodes);
        return ret;
    }
    *nodes = w.nodes;
    return 0;
}

/* ---- query-named-block-nodes, query-block ---- */

/* QEMU lists the nodes newest first. */
static struct mon_json *reversed(const struct mon_json *arr)
{
    struct mon_json *r = mon_json_array_new();

    for (size_t i = mon_json_len(arr); r && i-- > 0;) {
        if (mon_json_array_append_take(
                r, mon_json_copy(mon_json_array_get(arr, i))) < 0) {
            mon_json_free(r);
            return NULL;
        }
    }
    return r;
}

static int named_nodes(struct mon_req *req, struct mon_json **out,
                       struct err *err)
{
    const struct vm_mon_block *b = mon_req_opaque(req);
    struct mon_json *nodes;
    int ret = walk_all(b, &nodes, NULL, err);

    if (ret < 0) {
        return ret;
    }
    *out = reversed(nodes);
    mon_json_free(nodes);
    return *out ? 0 : err_set(err, -ENOMEM, "out of memory");
}

static struct mon_json *flattened(const struct mon_json *nodes);

static int cmd_query_named_block_nodes(struct mon_req *req, struct err *err)
{
    struct mon_json *r;
    bool flat = false;
    int ret = named_nodes(req, &r, err);

    if (ret < 0) {
        return ret;
    }
    if (mon_req_arg_bool(req, "flat", &flat) && flat) {
        struct mon_json *f = flattened(r);

        mon_json_free(r);
        if (!f) {
            return err_set(err, -ENOMEM, "out of memory");
        }
        r = f;
    }
    mon_req_return_take(req, r);
    return 0;
}

static int block_list(struct mon_req *req, struct mon_json **out,
                      struct err *err)
{
    const struct vm_mon_block *b = mon_req_opaque(req);
    struct mon_json **tops, *nodes = NULL, *r;
    int ret = 0;

    tops = mem_calloc(b->nb_drives ? b->nb_drives : 1, sizeof(*tops));
    r = mon_json_array_new();
    if (!tops || !r) {
        mem_free(tops);
        mon_json_free(r);
        return err_set(err, -ENOMEM, "out of memory");
    }
    ret = walk_all(b, &nodes, tops, err);
    for (size_t i = 0; ret == 0 && i < b->nb_drives; i++) {
        const struct vm_mon_drive *d = &b->drives[i];
        struct mon_json *o = mon_json_object_new();
        int r2 = 0;

        if (!o) {
            ret = err_set(err, -ENOMEM, "out of memory");
            break;
        }
        if (d->qdev) {
            put_str(o, "io-status", "ok", &r2);
        }
        put_str(o, "device", d->device, &r2);
        put_bool(o, "locked", false, &r2);
        /* QEMU: a BlockBackend without a device has removable media. */
        put_bool(o, "removable", !d->qdev, &r2);
        put(o, "inserted", tops[i], &r2);
        tops[i] = NULL;
        if (d->qdev) {
            put_str(o, "qdev", d->qdev, &r2);
        }
        put_str(o, "type", "unknown", &r2);
        if (r2 < 0 || mon_json_array_append_take(r, o) < 0) {
            ret = err_set(err, -ENOMEM, "out of memory");
        }
    }
    for (size_t i = 0; i < b->nb_drives; i++) {
        mon_json_free(tops[i]);
    }
    mem_free(tops);
    mon_json_free(nodes);
    if (ret < 0) {
        mon_json_free(r);
        return ret;
    }
    *out = r;
    return 0;
}

static int cmd_query_block(struct mon_req *req, struct err *err)
{
    struct mon_json *r;
    int ret = block_list(req, &r, err);

    if (ret == 0) {
        mon_req_return_take(req, r);
    }
    return ret;
}

/* flat=true: no backing-image members. The JSON API has no member
 * removal, so the nodes are copied without them. */
static struct mon_json *copy_without(const struct mon_json *o, const char *skip)
{
    struct mon_json *r;

    if (mon_json_type(o) != MON_JSON_OBJECT) {
        return mon_json_copy(o);
    }
    r = mon_json_object_new();
    for (size_t i = 0; r && i < mon_json_len(o); i++) {
        const char *k;
        const struct mon_json *v = mon_json_object_at(o, i, &k);

        if (!strcmp(k, skip)) {
            continue;
        }
        /* Without its backing nodes, a node shows no chain (as QEMU). */
        if (mon_json_object_set_take(r, k,
                                     !strcmp(k, "backing_file_depth")
                                         ? mon_json_int_new(0)
                                         : copy_without(v, skip)) < 0) {
            mon_json_free(r);
            return NULL;
        }
    }
    return r;
}

static struct mon_json *flattened(const struct mon_json *nodes)
{
    struct mon_json *flat = mon_json_array_new();

    for (size_t i = 0; flat && i < mon_json_len(nodes); i++) {
        if (mon_json_array_append_take(
                flat, copy_without(mon_json_array_get(nodes, i),
                                   "backing-image")) < 0) {
            mon_json_free(flat);
            flat = NULL;
        }
    }
    return flat;
}

/* ---- info block ---- */

static const char *jstr(const struct mon_json *o, const char *key)
{
    return mon_json_str_get(mon_json_object_get(o, key));
}

static int64_t jint(const struct mon_json *o, const char *key)
{
    int64_t v = 0;

    mon_json_int_get(mon_json_object_get(o, key), &v);
    return v;
}

static bool jbool(const struct mon_json *o, const char *key)
{
    bool v = false;

    mon_json_bool_get(mon_json_object_get(o, key), &v);
    return v;
}

/* QEMU's bdrv_image_info_dump(). */
static void image_dump(struct mon_req *req, const struct mon_json *im)
{
    const struct mon_json *fs = mon_json_object_get(im, "format-specific");
    const char *bf = jstr(im, "backing-filename");
    const char *fbf = jstr(im, "full-backing-filename");
    char vs[32], ds[32];

    fmt_size(vs, sizeof(vs), (uint64_t)jint(im, "virtual-size"));
    fmt_size(ds, sizeof(ds), (uint64_t)jint(im, "actual-size"));
    mon_req_printf(req,
                   "image: %s\nfile format: %s\nvirtual size: %s (%" PRId64
                   " bytes)\ndisk size: %s\n",
                   jstr(im, "filename"), jstr(im, "format"), vs,
                   jint(im, "virtual-size"), ds);
    if (mon_json_object_get(im, "cluster-size")) {
        mon_req_printf(req, "cluster_size: %" PRId64 "\n",
                       jint(im, "cluster-size"));
    }
    if (jbool(im, "dirty-flag")) {
        mon_req_printf(req, "cleanly shut down: no\n");
    }
    if (bf) {
        mon_req_printf(req, "backing file: %s", bf);
        if (fbf && strcmp(bf, fbf)) {
            mon_req_printf(req, " (actual path: %s)", fbf);
        }
        mon_req_printf(req, "\n");
    }
    if (jstr(im, "backing-filename-format")) {
        mon_req_printf(req, "backing file format: %s\n",
                       jstr(im, "backing-filename-format"));
    }
    if (fs) {
        const struct mon_json *d = mon_json_object_get(fs, "data");

        mon_req_printf(req, "Format specific information:\n");
        for (size_t i = 0; i < mon_json_len(d); i++) {
            const char *k;
            const struct mon_json *v = mon_json_object_at(d, i, &k);
            char key[64];
            int64_t n;
            bool b;

            snprintf(key, sizeof(key), "%s", k);
            for (char *p = key; *p; p++) {
                *p = *p == '-' ? ' ' : *p;
            }
            if (mon_json_int_get(v, &n)) {
                mon_req_printf(req, "    %s: %" PRId64 "\n", key, n);
            } else if (mon_json_bool_get(v, &b)) {
                mon_req_printf(req, "    %s: %s\n", key, b ? "true" : "false");
            } else if (mon_json_str_get(v)) {
                mon_req_printf(req, "    %s: %s\n", key, mon_json_str_get(v));
            }
        }
    }
}

/* QEMU's print_block_info(); @info NULL for a node. */
static void print_block_info(struct mon_req *req, const struct mon_json *info,
                             const struct mon_json *ins, bool verbose)
{
    const struct mon_json *cache = mon_json_object_get(ins, "cache");

    if (info) {
        mon_req_printf(req, "%s (%s)", jstr(info, "device"),
                       jstr(ins, "node-name"));
    } else {
        mon_req_printf(req, "%s", jstr(ins, "node-name"));
    }
    mon_req_printf(req, ": %s (%s%s)\n", jstr(ins, "file"), jstr(ins, "drv"),
                   jbool(ins, "ro") ? ", read-only" : "");
    if (info && jstr(info, "qdev")) {
        mon_req_printf(req, "    Attached to:      %s\n", jstr(info, "qdev"));
    }
    if (info && jbool(info, "removable")) {
        mon_req_printf(req, "    Removable device: not locked, tray closed\n");
    }
    mon_req_printf(req, "    Cache mode:       %s%s%s\n",
                   jbool(cache, "writeback") ? "writeback" : "writethrough",
                   jbool(cache, "direct") ? ", direct" : "",
                   jbool(cache, "no-flush") ? ", ignore flushes" : "");
    if (jstr(ins, "backing_file")) {
        mon_req_printf(
            req, "    Backing file:     %s (chain depth: %" PRId64 ")\n",
            jstr(ins, "backing_file"), jint(ins, "backing_file_depth"));
    }
    if (verbose) {
        const struct mon_json *im = mon_json_object_get(ins, "image");

        mon_req_printf(req, "\nImages:\n");
        for (; im; im = mon_json_object_get(im, "backing-image")) {
            image_dump(req, im);
        }
    }
}

/* info block [-n] [-v] [device], as QEMU's hmp_info_block(). */
static int cmd_info_block(struct mon_req *req, struct err *err)
{
    const char *device = mon_req_arg_str(req, "device");
    bool verbose = false, nodes = false, printed = false;
    struct mon_json *list = NULL;
    int ret;

    mon_req_arg_bool(req, "verbose", &verbose);
    mon_req_arg_bool(req, "nodes", &nodes);
    if (!nodes) {
        ret = block_list(req, &list, err);
        if (ret < 0) {
            return ret;
        }
        for (size_t i = 0; i < mon_json_len(list); i++) {
            const struct mon_json *info = mon_json_array_get(list, i);

            if (device && strcmp(device, jstr(info, "device"))) {
                continue;
            }
            if (i) {
                mon_req_printf(req, "\n");
            }
            print_block_info(req, info, mon_json_object_get(info, "inserted"),
                             verbose);
            printed = true;
        }
        mon_json_free(list);
    }
    if ((!device && !nodes) || printed) {
        return 0;
    }
    ret = named_nodes(req, &list, err);
    if (ret < 0) {
        return ret;
    }
    for (size_t i = 0; i < mon_json_len(list); i++) {
        const struct mon_json *n = mon_json_array_get(list, i);

        if (device && strcmp(device, jstr(n, "node-name"))) {
            continue;
        }
        if (i) {
            mon_req_printf(req, "\n");
        }
        print_block_info(req, NULL, n, verbose);
    }
    mon_json_free(list);
    return 0;
}

/* ---- eject, change ---- */

/* The drive named @device (BlockBackend name), or NULL with QEMU's error. */
static const struct vm_mon_drive *
find_device(struct mon_req *req, const char *device, struct err *err)
{
    const struct vm_mon_block *b = mon_req_opaque(req);

    for (size_t i = 0; device && i < b->nb_drives; i++) {
        if (!strcmp(b->drives[i].device, device)) {
            return &b->drives[i];
        }
    }
    mon_req_set_class(req, MON_ERR_DEVICE_NOT_FOUND);
    err_set(err, -ENODEV, "Device '%s' not found", device ? device : "");
    return NULL;
}

/* Every drive here is a virtio-blk disk: no medium to eject or change. */
static int not_removable(struct mon_req *req, struct err *err)
{
    const char *device = mon_req_arg_str(req, "device");

    if (!device) {
        device = mon_req_arg_str(req, "id");
    }
    if (!find_device(req, device, err)) {
        return -ENODEV;
    }
    return err_set(err, -ENOTSUP, "Device '%s' is not removable", device);
}

static int cmd_eject(struct mon_req *req, struct err *err)
{
    return not_removable(req, err);
}

static int cmd_change_medium(struct mon_req *req, struct err *err)
{
    return not_removable(req, err);
}

/* ---- block_resize, commit ---- */

/* QEMU's BDRV_MAX_LENGTH: the largest image size the block layer takes. */
#define BLOCK_MAX_LENGTH 0x7fffffffc0000000ull

/* The drive whose BlockBackend is @device, else whose format node is
 * @node (QEMU's bdrv_lookup_bs()), or NULL with QEMU's error. */
static const struct vm_mon_drive *lookup_bs(const struct vm_mon_block *b,
                                            const char *device,
                                            const char *node, struct err *err)
{
    for (size_t i = 0; device && i < b->nb_drives; i++) {
        if (!strcmp(b->drives[i].device, device)) {
            return &b->drives[i];
        }
    }
    for (size_t i = 0; node && i < b->nb_drives; i++) {
        if (b->drives[i].node_name && !strcmp(b->drives[i].node_name, node)) {
            return &b->drives[i];
        }
    }
    err_set(err, -ENODEV, "Cannot find device='%s' nor node-name='%s'",
            device ? device : "", node ? node : "");
    return NULL;
}

/*
 * QMP block_resize {device | node-name, size}, HMP `block_resize device
 * size`: resize the image under the running guest (the top of the chain;
 * shrinking allowed, as QEMU's blk_co_truncate), then the virtio-blk
 * device shows the new capacity and raises its config interrupt.
 */
static int cmd_block_resize(struct mon_req *req, struct err *err)
{
    const struct vm_mon_block *b = mon_req_opaque(req);
    const char *device = mon_req_arg_str(req, "device");
    const char *node = mon_req_arg_str(req, "node-name");
    struct rv_machine *m = *b->m;
    const struct vm_mon_drive *d;
    struct qcow2_image *img = NULL, *own = NULL;
    int64_t size = 0;
    int ret;

    mon_req_arg_int(req, "size", &size);
    d = lookup_bs(b, device, node, err);
    if (!d) {
        return -ENODEV;
    }
    if (size < 0) {
        return err_set(err, -EINVAL, "Parameter 'size' expects a >0 size");
    }
    if (d->cfg.readonly) {
        return err_set(err, -EACCES, "Image is read-only");
    }
    if ((uint64_t)size > BLOCK_MAX_LENGTH) {
        return err_set(err, -EINVAL,
                       "offset(%" PRId64 ") exceeds maximum(%" PRId64 ")", size,
                       (int64_t)BLOCK_MAX_LENGTH);
    }
    if (m) {
        img = rv_machine_blk_image(m, d->cfg.file);
    }
    if (!img) {
        ret = drive_open(d, 0, &own, err); /* read-write */
        if (ret < 0) {
            return ret;
        }
        img = own;
    }
    if (qcow2_format_of(img) == QCOW2_FORMAT_QCOW2 && size % 512) {
        ret = err_set(err, -EINVAL, "The new size must be a multiple of 512");
    } else {
        ret = qcow2_resize(img, (uint64_t)size, true, QCOW2_PREALLOC_OFF, err);
    }
    if (ret == 0 && !own) {
        rv_machine_blk_resized(m, d->cfg.file);
    }
    if (qcow2_close(own) < 0 && ret == 0) {
        ret = err_set(err, -EIO, "Could not flush '%s'", d->cfg.file);
    }
    return ret;
}

/* Bytes moved per step of a commit. */
#define COMMIT_BUF (1u << 20)

/* Copy what @top (opened without its backing) allocates into @base, as
 * QEMU's bdrv_commit(): data, and zeroes where @top says zero. */
static int commit_copy(struct qcow2_image *top, struct qcow2_image *base,
                       uint8_t *buf, struct err *err)
{
    uint64_t size = qcow2_size(top), off = 0;
    int ret;

    while (off < size) {
        struct qcow2_extent e;
        uint64_t len;

        ret = qcow2_block_status(top, off, size - off, false, &e, err);
        if (ret < 0) {
            return ret;
        }
        if (e.length == 0) {
            return err_set(err, -EIO, "block status made no progress");
        }
        len = e.length < size - off ? e.length : size - off;
        if ((e.flags & QCOW2_BS_ALLOCATED) && (e.flags & QCOW2_BS_ZERO)) {
            ret = qcow2_write_zeroes(base, off, len, QCOW2_ZERO_MAY_UNMAP, err);
        } else if (e.flags & QCOW2_BS_ALLOCATED) {
            for (uint64_t p = 0; p < len && ret == 0;) {
                size_t n =
                    len - p < COMMIT_BUF ? (size_t)(len - p) : COMMIT_BUF;

                ret = qcow2_read(top, off + p, buf, n, err);
                if (ret == 0) {
                    ret = qcow2_write(base, off + p, buf, n, err);
                }
                p += n;
            }
        }
        if (ret < 0) {
            return ret;
        }
        off += len;
    }
    return 0;
}

/*
 * Commit the image at @top_path (format @top_fmt) into its backing file
 * @base_path (@base_fmt): each opened on its own, so no two handles share
 * a file; the base grows to the top's size if smaller; then the top is
 * emptied (bdrv_make_empty). Returns 0 or -errno with @err set.
 */
static int commit_files(const char *top_path, enum qcow2_format top_fmt,
                        const char *base_path, enum qcow2_format base_fmt,
                        struct err *err)
{
    struct qcow2_image *top = NULL, *base = NULL;
    uint8_t *buf = mem_alloc(COMMIT_BUF);
    int ret;

    if (!buf) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    ret = qcow2_open(top_path, top_fmt,
                     QCOW2_OPEN_RDONLY | QCOW2_OPEN_NO_BACKING |
                         QCOW2_OPEN_FORCE_SHARE,
                     &top, err);
    if (ret == 0) {
        ret =
            qcow2_open(base_path, base_fmt, QCOW2_OPEN_NO_BACKING, &base, err);
    }
    if (ret == 0 && qcow2_size(top) > qcow2_size(base)) {
        ret =
            qcow2_resize(base, qcow2_size(top), false, QCOW2_PREALLOC_OFF, err);
    }
    if (ret == 0) {
        ret = commit_copy(top, base, buf, err);
    }
    qcow2_close(top);
    top = NULL;
    if (qcow2_close(base) < 0 && ret == 0) {
        ret = err_set(err, -EIO, "Could not flush '%s'", base_path);
    }
    if (ret == 0) {
        ret = qcow2_open(top_path, top_fmt, QCOW2_OPEN_NO_BACKING, &top, err);
    }
    if (ret == 0) {
        ret = qcow2_make_empty(top, err);
        if (qcow2_close(top) < 0 && ret == 0) {
            ret = err_set(err, -EIO, "Could not flush '%s'", top_path);
        }
    }
    mem_free(buf);
    return ret;
}

/*
 * Commit drive @d's top image into its backing file, as QEMU's
 * bdrv_commit(): -ENOTSUP without a backing file, -EPERM (after QEMU's
 * "Block node is read-only" line, to @req if not NULL) for a read-only
 * drive. The machine's
 * chain is closed around the commit and reopened after it, so the guest
 * keeps running on the emptied top over the updated backing file.
 */
static int commit_drive(const struct vm_mon_block *b, struct mon_req *req,
                        const struct vm_mon_drive *d, struct err *err)
{
    struct rv_machine *m = *b->m;
    struct qcow2_image *img = m ? rv_machine_blk_image(m, d->cfg.file) : NULL;
    struct qcow2_image *own = NULL, *backing;
    char top_path[4096], *base_path = NULL;
    enum qcow2_format top_fmt, base_fmt;
    int ret;

    if (!img) {
        ret = drive_open(d, QCOW2_OPEN_RDONLY | QCOW2_OPEN_FORCE_SHARE, &own,
                         err);
        if (ret < 0) {
            return ret;
        }
        img = own;
    }
    backing = qcow2_backing(img);
    if (!backing) {
        qcow2_close(own);
        return -ENOTSUP;
    }
    if (d->cfg.readonly) {
        qcow2_close(own);
        if (req) {
            mon_req_printf(req, "Block node is read-only\n");
        }
        return -EPERM;
    }
    top_fmt = qcow2_format_of(img);
    base_fmt = qcow2_format_of(backing);
    base_path = mem_strdup(qcow2_filename(backing));
    if (own) {
        snprintf(top_path, sizeof(top_path), "%s", d->cfg.file);
        qcow2_close(own);
        ret = base_path ? 0 : err_set(err, -ENOMEM, "out of memory");
    } else {
        ret =
            rv_machine_blk_top_path(m, d->cfg.file, top_path, sizeof(top_path));
        if (ret < 0 || !base_path) {
            mem_free(base_path);
            return err_set(err, ret < 0 ? ret : -ENOMEM, "%s: commit",
                           d->cfg.file);
        }
        ret = rv_machine_blk_close(m, d->cfg.file, err);
    }
    if (ret == 0) {
        ret = commit_files(top_path, top_fmt, base_path, base_fmt, err);
    }
    if (!own && img) {
        struct err e2 = {0};

        if (rv_machine_blk_reopen(m, d->cfg.file, &e2) < 0 && ret == 0) {
            if (err) {
                *err = e2;
            }
            ret = e2.code;
        }
    }
    mem_free(base_path);
    return ret;
}

/* QEMU's blk_commit_all(): every drive with a backing file, in order,
 * until the first error. */
static int commit_all(const struct vm_mon_block *b, struct mon_req *req,
                      struct err *err)
{
    int ret = 0;

    for (size_t i = 0; i < b->nb_drives && ret >= 0; i++) {
        ret = commit_drive(b, req, &b->drives[i], err);
        if (ret == -ENOTSUP) {
            ret = 0; /* no backing file: skipped */
        }
    }
    return ret;
}

int vm_mon_block_commit_all(struct vm_mon_block *b, struct err *err)
{
    return b ? commit_all(b, NULL, err) : 0;
}

/* HMP `commit device|all` (QEMU's hmp_commit and blk_commit_all()). */
static int cmd_commit(struct mon_req *req, struct err *err)
{
    const struct vm_mon_block *b = mon_req_opaque(req);
    const char *device = mon_req_arg_str(req, "device");
    struct err e = {0};
    int ret = 0;

    if (!device) {
        device = "";
    }
    if (!strcmp(device, "all")) {
        ret = commit_all(b, req, &e);
    } else {
        const struct vm_mon_drive *d = NULL;

        for (size_t i = 0; i < b->nb_drives; i++) {
            if (!strcmp(b->drives[i].device, device)) {
                d = &b->drives[i];
            }
        }
        if (!d) {
            mon_req_printf(req, "Device '%s' not found\n", device);
            return 0;
        }
        ret = commit_drive(b, req, d, &e);
    }
    if (ret < 0) {
        mon_req_printf(req, "'commit' error for '%s': %s\n", device,
                       strerror(-ret));
        if (e.code && e.msg[0]) {
            log_debug("commit %s: %s", device, e.msg);
        }
    }
    (void)err;
    return 0;
}

/* ---- the table ---- */

#define BLOCK_DEVICE_INFO                                                      \
    "{file:str,*node-name:str,ro:bool,drv:str,*backing_file:str,"              \
    "backing_file_depth:int,encrypted:bool,detect_zeroes:str,bps:int,"         \
    "bps_rd:int,bps_wr:int,iops:int,iops_rd:int,iops_wr:int,image:any,"        \
    "write_threshold:int,cache:{writeback:bool,direct:bool,no-flush:bool}}"

static const struct mon_cmd block_cmds[] = {
    {"query-block", NULL, NULL,
     "[{device:str,*qdev:str,type:str,removable:bool,locked:bool,"
     "*inserted:" BLOCK_DEVICE_INFO ",*io-status:enum(ok|failed|nospace)}]",
     NULL, NULL, NULL, cmd_query_block, NULL, 0, NULL},
    {"query-named-block-nodes", NULL, "{*flat:bool}", "[" BLOCK_DEVICE_INFO "]",
     NULL, NULL, NULL, cmd_query_named_block_nodes, NULL, 0, NULL},
    {NULL, "info block", NULL, NULL, "nodes:-n,verbose:-v,device:B?",
     "[-n] [-v] [device]",
     "show info of one block device or all block devices (-n: show named "
     "nodes; -v: show details)",
     cmd_info_block, NULL, MON_CMD_HMP_ONLY, NULL},
    {"eject", "eject", "{*device:str,*id:str,*force:bool}", NULL,
     "force:-f,device:B", "[-f] device",
     "eject a removable medium (use -f to force it)", cmd_eject, NULL, 0, NULL},
    {"blockdev-change-medium", "change",
     "{*device:str,*id:str,filename:str,*format:str,*force:bool,"
     "*read-only-mode:enum(retain|read-only|read-write)}",
     NULL, "device:B,force:-f,filename:F,format:s?,read-only-mode:s?",
     "device [-f] filename [format [read-only-mode]]",
     "change a removable medium, optional format, use -f to force the "
     "operation",
     cmd_change_medium, NULL, 0, NULL},
    {"block_resize", "block_resize", "{*device:str,*node-name:str,size:int}",
     NULL, "device:B,size:o", "device size", "resize a block image",
     cmd_block_resize, NULL, 0, NULL},
    {NULL, "commit", NULL, NULL, "device:B", "device|all",
     "commit changes to the disk images (if -snapshot is used) or backing "
     "files",
     cmd_commit, NULL, MON_CMD_HMP_ONLY, NULL},
};

int vm_mon_block_register(struct mon *mon, struct rv_machine *const *m,
                          const struct vm_mon_drive *drives, size_t nb_drives,
                          struct vm_mon_block **out, struct err *err)
{
    const size_t n = sizeof(block_cmds) / sizeof(block_cmds[0]);
    struct vm_mon_block *b = mem_calloc(1, sizeof(*b));
    int ret;

    if (!b) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    b->m = m;
    b->drives = drives;
    b->nb_drives = nb_drives;
    ret = vm_mon_cmds_register(mon, block_cmds, n, b, &b->cmds, err);
    *out = b; /* freed by the caller after mon_free() even on failure */
    return ret;
}

void vm_mon_block_free(struct vm_mon_block *b)
{
    if (!b) {
        return;
    }
    mem_free(b->cmds);
    mem_free(b);
}
