/* SPDX-License-Identifier: MIT */
/*
 * imgtool/cmd-commit.c - `rrvm-img commit`, `rebase` and `amend`: the
 * commands that rewrite backing chains and image options in place.
 *
 * commit opens each layer above the base on its own (no backing) and the
 * base read-write, copying the layers' allocated extents from the lowest
 * to the top, so a handle never shares a file with another open handle.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "imgtool/img.h"

/* Bytes moved per read/write step. */
#define IMG_COPY_BUF (2u << 20)
/* Layers above the base that commit will walk. */
#define IMG_MAX_LAYERS QCOW2_MAX_BACKING_DEPTH

struct img_layer {
    char *path;
    enum qcow2_format fmt;
    uint64_t size;
};

static void img_layers_free(struct img_layer *l, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        mem_free(l[i].path);
    }
}

/* Does @want name image @path (as given, or the same file)? */
static bool img_same_file(const char *want, const char *path)
{
    char a[PATH_MAX];
    char b[PATH_MAX];

    if (!strcmp(want, path)) {
        return true;
    }
    if (realpath(want, a) && realpath(path, b) && !strcmp(a, b)) {
        return true;
    }
    return false;
}

/* Copy the extents allocated in @src (no backing) into @dst. */
static int img_copy_allocated(struct qcow2_image *src, struct qcow2_image *dst,
                              uint8_t *buf, uint64_t done_base, uint64_t total,
                              struct err *err)
{
    uint64_t size = qcow2_size(src);
    uint64_t off = 0;
    int ret;

    if (size > qcow2_size(dst)) {
        size = qcow2_size(dst);
    }
    while (off < size) {
        struct qcow2_extent e;
        uint64_t len;

        ret = qcow2_block_status(src, off, size - off, false, &e, err);
        if (ret < 0) {
            return ret;
        }
        if (e.length == 0) {
            return -EIO;
        }
        len = e.length < size - off ? e.length : size - off;
        if (e.depth == 0 && (e.flags & QCOW2_BS_ZERO) &&
            (e.flags & QCOW2_BS_ALLOCATED)) {
            ret = qcow2_write_zeroes(dst, off, len, QCOW2_ZERO_MAY_UNMAP, err);
            if (ret < 0) {
                return ret;
            }
        } else if (e.depth == 0 && (e.flags & QCOW2_BS_DATA)) {
            uint64_t p = 0;

            while (p < len) {
                size_t n =
                    len - p < IMG_COPY_BUF ? (size_t)(len - p) : IMG_COPY_BUF;

                ret = qcow2_read(src, off + p, buf, n, err);
                if (ret < 0) {
                    return ret;
                }
                ret = qcow2_write(dst, off + p, buf, n, err);
                if (ret < 0) {
                    return ret;
                }
                p += n;
            }
        }
        off += len;
        if (total) {
            img_progress_print((float)(done_base + off) * 100.0f / (float)total,
                               0);
        }
    }
    return 0;
}

static const struct option img_commit_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"object", required_argument, NULL, IMG_OPT_OBJECT},
    {"image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS},
    {NULL, 0, NULL, 0},
};

int img_cmd_commit(int argc, char **argv)
{
    struct img_layer layers[IMG_MAX_LAYERS + 1];
    struct qcow2_image *img = NULL;
    struct qcow2_image *cur;
    struct qcow2_image *base = NULL;
    struct err err = {0};
    const char *fmt = NULL;
    const char *base_name = NULL;
    const char *filename;
    unsigned cache = 0;
    bool drop = true;
    bool progress = false;
    bool quiet = false;
    uint8_t *buf = NULL;
    int nl = 0;
    int base_idx = -1;
    int ret = 1;
    int i;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":f:ht:b:dpqr:", img_commit_longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 't':
            if (img_opt_cache(optarg, false, &cache) < 0) {
                return 1;
            }
            break;
        case 'b':
            base_name = optarg;
            drop = false;
            break;
        case 'd':
            drop = false;
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'r':
            break;
        default:
            if (img_opt_common(c, argv, &ret)) {
                return ret;
            }
            break;
        }
    }
    if (quiet) {
        progress = false;
    }
    filename = img_one_filename(argc, argv);
    if (!filename) {
        return 1;
    }
    /* Learn the chain, then let go of it before opening the base rw. */
    if (img_open(filename, fmt,
                 QCOW2_OPEN_RDONLY | QCOW2_OPEN_FORCE_SHARE |
                     (cache & QCOW2_OPEN_NOCACHE),
                 &img) < 0) {
        return 1;
    }
    img_progress_init(progress, 1.0f);
    img_progress_print(0, 100);
    for (cur = img; cur && nl <= IMG_MAX_LAYERS; cur = qcow2_backing(cur)) {
        layers[nl].path =
            mem_strdup(cur == img ? filename : qcow2_filename(cur));
        if (!layers[nl].path) {
            img_oom();
        }
        layers[nl].fmt = qcow2_format_of(cur);
        layers[nl].size = qcow2_size(cur);
        if (cur != img && base_idx < 0 && base_name &&
            img_same_file(base_name, layers[nl].path)) {
            base_idx = nl;
        }
        nl++;
    }
    qcow2_close(img);
    img = NULL;
    if (base_name && base_idx < 0) {
        img_progress_end();
        img_error("Did not find '%s' in the backing chain of '%s'", base_name,
                  filename);
        goto out;
    }
    if (!base_name) {
        if (nl < 2) {
            img_progress_end();
            img_error("Image does not have a backing file");
            goto out;
        }
        base_idx = 1;
    }
    buf = mem_alloc(IMG_COPY_BUF);
    if (!buf) {
        img_oom();
    }
    if (qcow2_open(layers[base_idx].path, layers[base_idx].fmt,
                   QCOW2_OPEN_NO_BACKING | cache, &base, &err) < 0) {
        img_progress_end();
        img_open_error(layers[base_idx].path, err.code, &err, 0);
        goto out;
    }
    if (layers[0].size > qcow2_size(base) &&
        qcow2_resize(base, layers[0].size, false, QCOW2_PREALLOC_OFF, &err) <
            0) {
        img_progress_end();
        img_error("%s", err.msg);
        goto out;
    }
    for (i = base_idx - 1; i >= 0; i--) {
        struct qcow2_image *layer = NULL;
        uint64_t total = layers[0].size * (uint64_t)base_idx;
        uint64_t done = layers[0].size * (uint64_t)(base_idx - 1 - i);

        if (qcow2_open(layers[i].path, layers[i].fmt,
                       QCOW2_OPEN_RDONLY | QCOW2_OPEN_NO_BACKING |
                           QCOW2_OPEN_FORCE_SHARE |
                           (cache & QCOW2_OPEN_NOCACHE),
                       &layer, &err) < 0) {
            img_progress_end();
            img_open_error(layers[i].path, err.code, &err, QCOW2_OPEN_RDONLY);
            goto out;
        }
        if (img_copy_allocated(layer, base, buf, done, total, &err) < 0) {
            qcow2_close(layer);
            img_progress_end();
            img_error("%s", err.msg);
            goto out;
        }
        qcow2_close(layer);
    }
    if (qcow2_close(base) < 0) {
        base = NULL;
        img_progress_end();
        img_error("Could not flush '%s'", layers[base_idx].path);
        goto out;
    }
    base = NULL;
    if (drop) {
        if (qcow2_open(filename, layers[0].fmt, QCOW2_OPEN_NO_BACKING | cache,
                       &img, &err) < 0) {
            img_progress_end();
            img_open_error(filename, err.code, &err, 0);
            goto out;
        }
        if (qcow2_make_empty(img, &err) < 0) {
            img_progress_end();
            img_error("%s", err.msg);
            goto out;
        }
    }
    img_progress_print(100, 0);
    img_progress_end();
    if (!quiet) {
        printf("Image committed.\n");
    }
    ret = 0;
out:
    qcow2_close(base);
    if (qcow2_close(img) < 0 && ret == 0) {
        img_error("Could not flush '%s'", filename);
        ret = 1;
    }
    mem_free(buf);
    img_layers_free(layers, nl);
    return ret;
}

/* ---- rebase ---- */

static const struct option img_rebase_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"object", required_argument, NULL, IMG_OPT_OBJECT},
    {"image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS},
    {"force-share", no_argument, NULL, 'U'},
    {NULL, 0, NULL, 0},
};

/* Read @len bytes at @off of @img, zero-filling past its end. */
static int img_read_padded(struct qcow2_image *img, uint64_t off, uint8_t *dst,
                           size_t len, struct err *err)
{
    uint64_t size = img ? qcow2_size(img) : 0;
    size_t n = 0;

    if (off < size) {
        n = size - off < len ? (size_t)(size - off) : len;
        if (qcow2_read(img, off, dst, n, err) < 0) {
            return -EIO;
        }
    }
    memset(dst + n, 0, len - n);
    return 0;
}

int img_cmd_rebase(int argc, char **argv)
{
    struct qcow2_image *img = NULL;
    struct qcow2_image *newb = NULL;
    struct err err = {0};
    const char *fmt = NULL;
    const char *out_base = NULL;
    const char *out_basefmt = NULL;
    const char *filename;
    unsigned cache = 0;
    unsigned src_cache = 0;
    bool unsafe = false;
    bool progress = false;
    bool quiet = false;
    uint8_t *bo = NULL;
    uint8_t *bn = NULL;
    int ret = 1;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":hf:F:b:upt:T:qU", img_rebase_longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'F':
            out_basefmt = optarg;
            break;
        case 'b':
            out_base = optarg;
            break;
        case 'u':
            unsafe = true;
            break;
        case 'p':
            progress = true;
            break;
        case 't':
            if (img_opt_cache(optarg, false, &cache) < 0) {
                return 1;
            }
            break;
        case 'T':
            if (img_opt_cache(optarg, true, &src_cache) < 0) {
                return 1;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 'U':
            break;
        default:
            if (img_opt_common(c, argv, &ret)) {
                return ret;
            }
            break;
        }
    }
    if (quiet) {
        progress = false;
    }
    if (!unsafe && !out_base) {
        img_error_try("Must specify backing file (-b) or use unsafe mode "
                      "(-u)");
        return 1;
    }
    filename = img_one_filename(argc, argv);
    if (!filename) {
        return 1;
    }
    if (out_base && !out_base[0]) {
        out_base = NULL;
    }
    img_progress_init(progress, 2.0f);
    img_progress_print(0, 100);
    if (img_open(filename, fmt, (unsafe ? QCOW2_OPEN_NO_BACKING : 0) | cache,
                 &img) < 0) {
        goto out;
    }
    if (out_base && !out_basefmt) {
        /* qemu-img opens the new backing file first (probing its format),
         * so a missing one is reported as such. */
        char *path = img_backing_path(filename, out_base);

        if (!path) {
            img_oom();
        }
        if (!unsafe && access(path, F_OK) != 0) {
            img_error("Could not open new backing file '%s': Could not open "
                      "'%s': %s",
                      path, path, strerror(errno));
        } else {
            img_error("Could not change the backing file to '%s': backing "
                      "format must be specified",
                      out_base);
        }
        mem_free(path);
        goto out;
    }
    if (!unsafe) {
        uint64_t size = qcow2_size(img);
        uint64_t off;
        struct qcow2_image *oldb = qcow2_backing(img);

        if (out_base) {
            enum qcow2_format bf;
            char *path = img_backing_path(filename, out_base);

            if (!path) {
                img_oom();
            }
            if (img_format_parse(out_basefmt, &bf) < 0 ||
                qcow2_open(path, bf,
                           QCOW2_OPEN_RDONLY | QCOW2_OPEN_FORCE_SHARE |
                               src_cache,
                           &newb, &err) < 0) {
                if (access(path, F_OK) != 0) {
                    img_error("Could not open new backing file '%s': Could "
                              "not open '%s': %s",
                              path, path, strerror(errno));
                } else {
                    img_error("Could not open new backing file '%s': %s", path,
                              err.msg);
                }
                mem_free(path);
                goto out;
            }
            mem_free(path);
        }
        bo = mem_alloc(IMG_COPY_BUF);
        bn = mem_alloc(IMG_COPY_BUF);
        if (!bo || !bn) {
            img_oom();
        }
        for (off = 0; off < size;) {
            struct qcow2_extent e;
            uint64_t len;

            if (qcow2_block_status(img, off, size - off, false, &e, &err) < 0 ||
                e.length == 0) {
                img_error("error while reading image metadata: %s", err.msg);
                goto out;
            }
            len = e.length < size - off ? e.length : size - off;
            if (len > IMG_COPY_BUF) {
                len = IMG_COPY_BUF;
            }
            if (!(e.flags & QCOW2_BS_ALLOCATED)) {
                size_t p = 0;

                if (img_read_padded(oldb, off, bo, (size_t)len, &err) < 0) {
                    img_error("error while reading from old backing file");
                    goto out;
                }
                if (img_read_padded(newb, off, bn, (size_t)len, &err) < 0) {
                    img_error("error while reading from new backing file");
                    goto out;
                }
                /* Write back each differing run of 512-byte sectors. */
                while (p < len) {
                    size_t q = p;
                    bool diff;

                    diff = memcmp(bo + p, bn + p,
                                  len - p < 512 ? len - p : 512) != 0;
                    while (q < len) {
                        size_t n = len - q < 512 ? len - q : 512;

                        if ((memcmp(bo + q, bn + q, n) != 0) != diff) {
                            break;
                        }
                        q += n;
                    }
                    if (diff &&
                        qcow2_write(img, off + p, bo + p, q - p, &err) < 0) {
                        img_error("error while rebasing image: %s", err.msg);
                        goto out;
                    }
                    p = q;
                }
            }
            off += len;
            img_progress_print((float)len * 100.0f / (float)size, 100);
        }
    }
    if (qcow2_set_backing(img, out_base, out_base ? out_basefmt : NULL, &err) <
        0) {
        img_error("Could not change the backing file to '%s': %s",
                  out_base ? out_base : "", err.msg);
        goto out;
    }
    img_progress_print(100, 0);
    ret = 0;
out:
    img_progress_end();
    qcow2_close(newb);
    if (qcow2_close(img) < 0 && ret == 0) {
        img_error("Could not flush '%s'", filename);
        ret = 1;
    }
    mem_free(bo);
    mem_free(bn);
    return ret;
}

/* ---- amend ---- */

/* Equal strings, NULL only equal to NULL (g_strcmp0() == 0). */
static bool img_str_eq(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static const struct option img_amend_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"object", required_argument, NULL, IMG_OPT_OBJECT},
    {"image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS},
    {"force", no_argument, NULL, IMG_OPT_FORCE},
    {NULL, 0, NULL, 0},
};

static const char *const img_amend_keys[] = {
    "compat", "refcount_bits", "lazy_refcounts",
    "size",   "backing_file",  "backing_fmt",
};

static void img_amend_help(void)
{
    printf("Creation options for 'qcow2':\n");
    img_create_help(QCOW2_FORMAT_QCOW2, true);
    printf("\nNote that not all of these options may be amendable.\n");
}

int img_cmd_amend(int argc, char **argv)
{
    struct img_kvlist kv = {0};
    struct qcow2_amend_opts ao = {-1, -1, -1};
    struct qcow2_image *img = NULL;
    struct err err = {0};
    const char *fmt = NULL;
    const char *filename;
    const char *v;
    unsigned cache = 0;
    bool progress = false;
    bool quiet = false;
    bool have_opts = false;
    bool found;
    size_t i, k;
    int ret = 1;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":ho:f:t:pq", img_amend_longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'o':
            if (img_kv_parse(&kv, optarg) < 0) {
                img_oom();
            }
            have_opts = true;
            break;
        case 'f':
            fmt = optarg;
            break;
        case 't':
            if (img_opt_cache(optarg, false, &cache) < 0) {
                goto out;
            }
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            quiet = true;
            break;
        case IMG_OPT_FORCE:
            break;
        default:
            if (img_opt_common(c, argv, &ret)) {
                goto out;
            }
            break;
        }
    }
    if (!have_opts) {
        img_error_try("Must specify options (-o)");
        goto out;
    }
    if (quiet) {
        progress = false;
    }
    img_progress_init(progress, 1.0f);
    if (img_kv_has_help(&kv)) {
        if (fmt || optind == argc - 1) {
            img_amend_help();
            ret = 0;
        } else {
            img_error("Expecting one image file name");
        }
        goto out_progress;
    }
    if (optind != argc - 1) {
        img_error("Expecting one image file name");
        goto out_progress;
    }
    filename = argv[optind];
    if (img_open(filename, fmt, cache, &img) < 0) {
        goto out_progress;
    }
    if (qcow2_format_of(img) != QCOW2_FORMAT_QCOW2) {
        img_error("Format driver '%s' does not support option amendment",
                  img_format_name(qcow2_format_of(img)));
        goto out_progress;
    }
    for (i = 0; i < kv.n; i++) {
        bool ok = false;

        for (k = 0; k < sizeof(img_amend_keys) / sizeof(img_amend_keys[0]);
             k++) {
            if (!strcmp(kv.v[i].key, img_amend_keys[k])) {
                ok = true;
            }
        }
        if (!ok) {
            img_error("Invalid parameter '%s'", kv.v[i].key);
            if (img_create_opt_known(QCOW2_FORMAT_QCOW2, kv.v[i].key)) {
                fprintf(stderr,
                        "This option is only supported for image creation\n");
            }
            goto out_progress;
        }
    }
    v = img_kv_get(&kv, "compat", &found);
    if (found) {
        if (v && (!strcmp(v, "0.10") || !strcmp(v, "v2"))) {
            ao.version = 2;
        } else if (v && (!strcmp(v, "1.1") || !strcmp(v, "v3"))) {
            ao.version = 3;
        } else {
            img_error("Invalid compatibility level: '%s'", v ? v : "");
            goto out_progress;
        }
    }
    v = img_kv_get(&kv, "refcount_bits", &found);
    if (found) {
        unsigned long rb;

        if (!v || img_strtoul(v, &rb) < 0) {
            img_error("Parameter 'refcount_bits' expects a number");
            goto out_progress;
        }
        if (rb == 0 || rb > 64 || (rb & (rb - 1))) {
            img_error("Refcount width must be a power of two and may not "
                      "exceed 64 bits");
            goto out_progress;
        }
        ao.refcount_bits = (int)rb;
    }
    v = img_kv_get(&kv, "lazy_refcounts", &found);
    if (found) {
        bool b = true;

        if (v && img_parse_bool("", "lazy_refcounts", v, &b) < 0) {
            goto out_progress;
        }
        ao.lazy_refcounts = b;
    }
    {
        /* QEMU's amend keeps the backing file: naming another one (or
         * leaving out its format) is refused. */
        const char *bf = img_kv_get(&kv, "backing_file", &found);
        bool has_bf = found;
        const char *bfmt = img_kv_get(&kv, "backing_fmt", &found);
        struct qcow2_info info;

        qcow2_get_info(img, &info);
        if ((has_bf || found) && (!img_str_eq(bf, info.backing_file) ||
                                  !img_str_eq(bfmt, info.backing_fmt))) {
            img_error("Cannot amend the backing file");
            fprintf(stderr, "You can use '" IMG_PROG " rebase' instead.\n");
            goto out_progress;
        }
    }
    img_progress_print(0, 0);
    if ((ao.version >= 0 || ao.refcount_bits >= 0 || ao.lazy_refcounts >= 0) &&
        qcow2_amend(img, &ao, &err) < 0) {
        img_error("%s", err.msg);
        goto out_progress;
    }
    v = img_kv_get(&kv, "size", &found);
    if (found) {
        uint64_t sz;

        if (!v || img_strtosz(v, &sz) < 0) {
            img_error("Parameter 'size' expects a non-negative number below "
                      "2^64");
            goto out_progress;
        }
        if (sz != qcow2_size(img) &&
            qcow2_resize(img, sz, true, QCOW2_PREALLOC_OFF, &err) < 0) {
            img_error("%s", err.msg);
            goto out_progress;
        }
    }
    v = img_kv_get(&kv, "backing_file", &found);
    if (found) {
        const char *bf = img_kv_get(&kv, "backing_fmt", NULL);

        if (qcow2_set_backing(img, v, bf, &err) < 0) {
            img_error("%s", err.msg);
            goto out_progress;
        }
    }
    img_progress_print(100, 0);
    ret = 0;
out_progress:
    img_progress_end();
out:
    if (img && qcow2_close(img) < 0 && ret == 0) {
        img_error("Error while closing the image");
        ret = 1;
    }
    img_kv_fini(&kv);
    return ret;
}
