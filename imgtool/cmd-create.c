/* SPDX-License-Identifier: MIT */
/*
 * imgtool/cmd-create.c - `rrvm-img create` and the -o option handling that
 * convert, measure and amend share, with qemu-img 7.2's "Formatting" line
 * and error texts.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "imgtool/img.h"

enum img_opt_type {
    IMG_T_STR,
    IMG_T_BOOL,
    IMG_T_SIZE,
    IMG_T_NUM,
};

struct img_opt_desc {
    const char *name;
    enum img_opt_type type;
    const char *def;  /* printed in "Formatting" when unset; NULL: omitted */
    const char *help; /* "-o help" text */
};

/* In the order qemu-img prints them in the "Formatting" line. */
static const struct img_opt_desc img_qcow2_opts[] = {
    {"encryption", IMG_T_BOOL, NULL,
     "Encrypt the image with format 'aes'. (Deprecated in favor of "
     "encrypt.format=aes)"},
    {"cluster_size", IMG_T_SIZE, "65536", "qcow2 cluster size"},
    {"extended_l2", IMG_T_BOOL, "off", "Extended L2 tables"},
    {"preallocation", IMG_T_STR, NULL,
     "Preallocation mode (allowed values: off, metadata, falloc, full)"},
    {"compression_type", IMG_T_STR, "zlib",
     "Compression method used for image cluster compression"},
    {"size", IMG_T_SIZE, NULL, "Virtual disk size"},
    {"compat", IMG_T_STR, NULL, "Compatibility level (v2 [0.10] or v3 [1.1])"},
    {"backing_file", IMG_T_STR, NULL, "File name of a base image"},
    {"backing_fmt", IMG_T_STR, NULL, "Image format of the base image"},
    {"data_file", IMG_T_STR, NULL, "File name of an external data file"},
    {"data_file_raw", IMG_T_BOOL, NULL,
     "The external data file must stay valid as a raw image"},
    {"encrypt.format", IMG_T_STR, NULL,
     "Encrypt the image, format choices: 'aes', 'luks'"},
    {"encrypt.key-secret", IMG_T_STR, NULL,
     "ID of secret providing qcow AES key or LUKS passphrase"},
    {"encrypt.cipher-alg", IMG_T_STR, NULL,
     "Name of encryption cipher algorithm"},
    {"encrypt.cipher-mode", IMG_T_STR, NULL, "Name of encryption cipher mode"},
    {"encrypt.ivgen-alg", IMG_T_STR, NULL, "Name of IV generator algorithm"},
    {"encrypt.ivgen-hash-alg", IMG_T_STR, NULL,
     "Name of IV generator hash algorithm"},
    {"encrypt.hash-alg", IMG_T_STR, NULL, "Name of encryption hash algorithm"},
    {"encrypt.iter-time", IMG_T_NUM, NULL,
     "Time to spend in PBKDF in milliseconds"},
    {"lazy_refcounts", IMG_T_BOOL, "off", "Postpone refcount updates"},
    {"refcount_bits", IMG_T_NUM, "16",
     "Width of a reference count entry in bits"},
    {"nocow", IMG_T_BOOL, NULL, "Turn off copy-on-write (valid only on btrfs)"},
    {"extent_size_hint", IMG_T_SIZE, NULL,
     "Extent size hint for the image file, 0 to disable"},
};

static const struct img_opt_desc img_raw_opts[] = {
    {"size", IMG_T_SIZE, NULL, "Virtual disk size"},
    {"nocow", IMG_T_BOOL, NULL, "Turn off copy-on-write (valid only on btrfs)"},
    {"preallocation", IMG_T_STR, NULL,
     "Preallocation mode (allowed values: off, falloc, full)"},
    {"extent_size_hint", IMG_T_SIZE, NULL,
     "Extent size hint for the image file, 0 to disable"},
};

#define IMG_NOPTS(a) (sizeof(a) / sizeof((a)[0]))

static const struct img_opt_desc *img_opts_for(enum qcow2_format fmt, size_t *n)
{
    if (fmt == QCOW2_FORMAT_RAW) {
        *n = IMG_NOPTS(img_raw_opts);
        return img_raw_opts;
    }
    *n = IMG_NOPTS(img_qcow2_opts);
    return img_qcow2_opts;
}

static const struct img_opt_desc *img_opt_find(enum qcow2_format fmt,
                                               const char *name)
{
    size_t n;
    const struct img_opt_desc *d = img_opts_for(fmt, &n);
    size_t i;

    for (i = 0; i < n; i++) {
        if (!strcmp(d[i].name, name)) {
            return &d[i];
        }
    }
    return NULL;
}

bool img_create_opt_known(enum qcow2_format fmt, const char *name)
{
    return img_opt_find(fmt, name) != NULL;
}

static int img_desc_cmp(const void *a, const void *b)
{
    const struct img_opt_desc *const *x = a;
    const struct img_opt_desc *const *y = b;

    return strcmp((*x)->name, (*y)->name);
}

void img_create_help(enum qcow2_format fmt, bool have_filename)
{
    size_t n;
    const struct img_opt_desc *d = img_opts_for(fmt, &n);
    const struct img_opt_desc *sorted[IMG_NOPTS(img_qcow2_opts)];
    size_t i;
    size_t k = 0;

    for (i = 0; i < n; i++) {
        /* Without a file name qemu-img leaves out the protocol options. */
        if (!have_filename && (!strcmp(d[i].name, "nocow") ||
                               !strcmp(d[i].name, "extent_size_hint") ||
                               (fmt == QCOW2_FORMAT_RAW &&
                                !strcmp(d[i].name, "preallocation")))) {
            continue;
        }
        sorted[k++] = &d[i];
    }
    qsort(sorted, k, sizeof(sorted[0]), img_desc_cmp);
    if (have_filename) {
        printf("Supported options:\n");
    } else {
        printf("Supported %s options:\n", img_format_name(fmt));
    }
    for (i = 0; i < k; i++) {
        static const char *const tname[] = {"str", "bool (on/off)", "size",
                                            "num"};
        char left[96];

        snprintf(left, sizeof(left), "%s=<%s>", sorted[i]->name,
                 tname[sorted[i]->type]);
        printf("  %-22s - %s\n", left, sorted[i]->help);
    }
    if (!have_filename) {
        printf("\nThe protocol level may support further options.\n"
               "Specify the target filename to include those options.\n");
    }
}

static void img_size_syntax_error(const char *prefix, const char *name)
{
    img_error("%sParameter '%s' expects a non-negative number below 2^64",
              prefix, name);
    fprintf(stderr, "Optional suffix k, M, G, T, P or E means kilo-, mega-, "
                    "giga-, tera-, peta-\nand exabytes, respectively.\n");
}

static int img_opt_value_ok(const char *prefix, const struct img_opt_desc *d,
                            const char *val)
{
    uint64_t u;
    unsigned long ul;
    bool b;

    switch (d->type) {
    case IMG_T_BOOL:
        if (!val) {
            return 0;
        }
        return img_parse_bool(prefix, d->name, val, &b);
    case IMG_T_SIZE:
        if (!val || img_strtosz(val, &u) < 0) {
            img_size_syntax_error(prefix, d->name);
            return -1;
        }
        return 0;
    case IMG_T_NUM:
        if (!val || img_strtoul(val, &ul) < 0) {
            img_error("%sParameter '%s' expects a number", prefix, d->name);
            return -1;
        }
        return 0;
    case IMG_T_STR:
        break;
    }
    return 0;
}

int img_create_parse(const char *prefix, enum qcow2_format fmt,
                     const struct img_kvlist *kv)
{
    size_t i;

    for (i = 0; i < kv->n; i++) {
        const struct img_opt_desc *d = img_opt_find(fmt, kv->v[i].key);

        if (!d) {
            img_error("%sInvalid parameter '%s'", prefix, kv->v[i].key);
            return -1;
        }
        if (img_opt_value_ok(prefix, d, kv->v[i].val) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Value as qemu-img prints it: sizes parsed, bools bare -> "on". */
static void img_opt_print_value(const struct img_opt_desc *d, const char *val)
{
    uint64_t u = 0;

    if (d->type == IMG_T_SIZE && val && img_strtosz(val, &u) == 0) {
        printf("%" PRIu64, u);
    } else if (d->type == IMG_T_BOOL && !val) {
        printf("on");
    } else {
        printf("%s", val ? val : "");
    }
}

static void img_formatting_line(const char *filename, enum qcow2_format fmt,
                                const struct img_kvlist *kv, uint64_t size)
{
    size_t n;
    const struct img_opt_desc *d = img_opts_for(fmt, &n);
    size_t i;
    bool first = true;

    printf("Formatting '%s', fmt=%s ", filename, img_format_name(fmt));
    for (i = 0; i < n; i++) {
        bool found;
        const char *val = img_kv_get(kv, d[i].name, &found);

        if (!strcmp(d[i].name, "size")) {
            printf("%ssize=%" PRIu64, first ? "" : " ", size);
            first = false;
            continue;
        }
        if (!found && !d[i].def) {
            continue;
        }
        printf("%s%s=", first ? "" : " ", d[i].name);
        first = false;
        img_opt_print_value(&d[i], found ? val : d[i].def);
    }
    printf("\n");
    fflush(stdout);
}

static int img_kv_bool(const struct img_kvlist *kv, const char *key, bool def)
{
    bool found;
    const char *v = img_kv_get(kv, key, &found);
    bool b = def;

    if (found) {
        if (!v) {
            return 1;
        }
        if (img_parse_bool("", key, v, &b) < 0) {
            return def;
        }
    }
    return b;
}

int img_create_build(const char *prefix, enum qcow2_format fmt,
                     const struct img_kvlist *kv, struct qcow2_create_opts *o)
{
    const char *v;
    bool found;
    uint64_t u;
    unsigned long ul;

    qcow2_create_opts_init(o);
    o->format = fmt;
    v = img_kv_get(kv, "preallocation", &found);
    if (found) {
        if (v && !strcmp(v, "off")) {
            o->preallocation = QCOW2_PREALLOC_OFF;
        } else if (v && !strcmp(v, "metadata")) {
            if (fmt == QCOW2_FORMAT_RAW) {
                img_error("%sUnsupported preallocation mode: metadata", prefix);
                return -1;
            }
            o->preallocation = QCOW2_PREALLOC_METADATA;
        } else if (v && !strcmp(v, "falloc")) {
            o->preallocation = QCOW2_PREALLOC_FALLOC;
        } else if (v && !strcmp(v, "full")) {
            o->preallocation = QCOW2_PREALLOC_FULL;
        } else {
            img_error("%sParameter 'preallocation' does not accept value '%s'",
                      prefix, v ? v : "");
            return -1;
        }
    }
    if (fmt == QCOW2_FORMAT_RAW) {
        return 0;
    }
    v = img_kv_get(kv, "compat", &found);
    if (found) {
        if (v && (!strcmp(v, "0.10") || !strcmp(v, "v2"))) {
            o->version = 2;
        } else if (v && (!strcmp(v, "1.1") || !strcmp(v, "v3"))) {
            o->version = 3;
        } else {
            img_error("%sParameter 'version' does not accept value '%s'",
                      prefix, v ? v : "");
            return -1;
        }
    }
    v = img_kv_get(kv, "compression_type", &found);
    if (found) {
        if (v && !strcmp(v, "zlib")) {
            o->compression_type = QCOW2_COMPRESSION_ZLIB;
        } else if (v && !strcmp(v, "zstd")) {
            o->compression_type = QCOW2_COMPRESSION_ZSTD;
        } else {
            img_error("%sParameter 'compression-type' does not accept value "
                      "'%s'",
                      prefix, v ? v : "");
            return -1;
        }
    }
    o->extended_l2 = img_kv_bool(kv, "extended_l2", false);
    o->lazy_refcounts = img_kv_bool(kv, "lazy_refcounts", false);
    v = img_kv_get(kv, "cluster_size", &found);
    if (found && v && img_strtosz(v, &u) == 0) {
        if (u < 512 || u > (2u << 20) || (u & (u - 1))) {
            img_error("%sCluster size must be a power of two between 512 and "
                      "2048k",
                      prefix);
            return -1;
        }
        o->cluster_size = (uint32_t)u;
    }
    if (o->extended_l2 && o->cluster_size < 16384) {
        img_error("%sExtended L2 entries are only supported with cluster "
                  "sizes of at least 16384 bytes",
                  prefix);
        return -1;
    }
    if (img_kv_get(kv, "backing_file", &found) && found &&
        o->preallocation != QCOW2_PREALLOC_OFF && !o->extended_l2) {
        img_error("%sBacking file and preallocation can only be used at the "
                  "same time if extended_l2 is on",
                  prefix);
        return -1;
    }
    if (o->version < 3 && o->lazy_refcounts) {
        img_error("%sLazy refcounts only supported with compatibility level "
                  "1.1 and above (use version=v3 or greater)",
                  prefix);
        return -1;
    }
    v = img_kv_get(kv, "refcount_bits", &found);
    if (found && v && img_strtoul(v, &ul) == 0) {
        if (ul == 0 || ul > 64 || (ul & (ul - 1))) {
            img_error("%sRefcount width must be a power of two and may not "
                      "exceed 64 bits",
                      prefix);
            return -1;
        }
        o->refcount_bits = (unsigned)ul;
    }
    if (o->version < 3 && o->refcount_bits != 16) {
        img_error("%sDifferent refcount widths than 16 bits require "
                  "compatibility level 1.1 or above (use version=v3 or "
                  "greater)",
                  prefix);
        return -1;
    }
    if (img_kv_get(kv, "data_file", &found) || found) {
        img_error("%sExternal data files are not supported by " IMG_PROG,
                  prefix);
        return -1;
    }
    if (img_kv_bool(kv, "data_file_raw", false)) {
        img_error("%sdata-file-raw requires data-file", prefix);
        return -1;
    }
    if (o->version < 3 && o->compression_type != QCOW2_COMPRESSION_ZLIB) {
        img_error("%sNon-zlib compression type is only supported with "
                  "compatibility level 1.1 and above (use version=v3 or "
                  "greater)",
                  prefix);
        return -1;
    }
    if (o->version < 3 && o->extended_l2) {
        img_error("%sExtended L2 entries are only supported with "
                  "compatibility level 1.1 and above (use version=v3 or "
                  "greater)",
                  prefix);
        return -1;
    }
    if (img_kv_bool(kv, "encryption", false) ||
        (img_kv_get(kv, "encrypt.format", &found) || found)) {
        img_error("%sEncrypted images are not supported by " IMG_PROG, prefix);
        return -1;
    }
    return 0;
}

static const struct option img_create_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"object", required_argument, NULL, IMG_OPT_OBJECT},
    {NULL, 0, NULL, 0},
};

/* Open the backing file to check it and learn its size. Returns 0 or -1. */
static int img_create_backing_size(const char *filename, const char *backing,
                                   const char *backing_fmt, uint64_t *size)
{
    struct qcow2_image *b = NULL;
    struct err err = {0};
    enum qcow2_format f;
    char *path = img_backing_path(filename, backing);
    int ret;

    if (!path) {
        img_oom();
    }
    if (img_format_parse(backing_fmt, &f) < 0) {
        img_error("%s: Unknown driver '%s'", filename, backing_fmt);
        fprintf(stderr, "Could not open backing image.\n");
        mem_free(path);
        return -1;
    }
    ret = qcow2_open(path, f, QCOW2_OPEN_RDONLY | QCOW2_OPEN_FORCE_SHARE, &b,
                     &err);
    if (ret < 0) {
        if (ret == -ENOENT || ret == -EACCES) {
            img_error("%s: Could not open '%s': %s", filename, path,
                      strerror(-ret));
        } else {
            img_error("%s: %s", filename,
                      err.msg[0] ? err.msg : strerror(-ret));
        }
        fprintf(stderr, "Could not open backing image.\n");
        mem_free(path);
        return -1;
    }
    *size = qcow2_size(b);
    qcow2_close(b);
    mem_free(path);
    return 0;
}

static int img_create_probe_backing(const char *filename, const char *backing)
{
    char *path = img_backing_path(filename, backing);
    enum qcow2_format f;
    struct err err = {0};

    if (!path) {
        img_oom();
    }
    img_error("%s: Backing file specified without backing format", filename);
    if (qcow2_probe(path, &f, &err) == 0) {
        fprintf(stderr, "Detected format of %s.", img_format_name(f));
    }
    mem_free(path);
    return 1;
}

/*
 * Append @key=@val to @kv as a -o pair would be, with @val taken verbatim
 * (no ",," unescaping). Ends through img_oom() when memory runs out.
 */
static void img_kv_append(struct img_kvlist *kv, const char *key,
                          const char *val)
{
    struct img_kv *nv;

    if (img_kv_parse(kv, "k=v") < 0) {
        img_oom();
    }
    nv = &kv->v[kv->n - 1];
    mem_free(nv->key);
    mem_free(nv->val);
    nv->key = mem_strdup(key);
    nv->val = mem_strdup(val);
    if (!nv->key || !nv->val) {
        img_oom();
    }
}

int img_cmd_create(int argc, char **argv)
{
    struct img_kvlist kv = {0};
    struct qcow2_create_opts o;
    struct err err = {0};
    const char *fmt = "raw";
    const char *backing = NULL;
    const char *backing_fmt = NULL;
    const char *filename;
    enum qcow2_format f;
    bool quiet = false;
    bool unsafe = false;
    bool size_given = false;
    uint64_t size = 0;
    bool found;
    const char *v;
    int c;
    int ret = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":F:b:f:ho:qu", img_create_longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'F':
            backing_fmt = optarg;
            break;
        case 'b':
            backing = optarg;
            break;
        case 'f':
            fmt = optarg;
            break;
        case 'o':
            if (img_kv_parse(&kv, optarg) < 0) {
                img_oom();
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 'u':
            unsafe = true;
            break;
        default:
            if (img_opt_common(c, argv, &ret)) {
                goto out;
            }
            break;
        }
    }
    filename = optind < argc ? argv[optind] : NULL;
    if (img_format_parse(fmt, &f) < 0) {
        img_error("%s%sUnknown file format '%s'", filename ? filename : "",
                  filename ? ": " : "", fmt);
        goto out;
    }
    if (img_kv_has_help(&kv)) {
        img_create_help(f, filename != NULL);
        ret = 0;
        goto out;
    }
    if (!filename) {
        img_error_try("Expecting image file name");
        goto out;
    }
    optind++;
    if (optind < argc) {
        int64_t sval;

        if (img_cvtnum("image size", argv[optind++], 0, INT64_MAX, &sval) < 0) {
            goto out;
        }
        size = (uint64_t)sval;
        size_given = true;
    }
    if (optind != argc) {
        img_error_try("Unexpected argument: %s", argv[optind]);
        goto out;
    }

    {
        char pfx[4096];

        snprintf(pfx, sizeof(pfx), "%s: ", filename);
        if (img_create_parse(pfx, f, &kv) < 0) {
            goto out;
        }
        v = img_kv_get(&kv, "size", &found);
        if (found) {
            if (size_given) {
                img_error("%sThe image size must be specified only once", pfx);
                goto out;
            }
            img_strtosz(v, &size);
            size_given = true;
        }
        if (backing && f == QCOW2_FORMAT_RAW) {
            img_error("%sBacking file not supported for file format 'raw'",
                      pfx);
            goto out;
        }
        if (backing) {
            img_kv_append(&kv, "backing_file", backing);
        } else {
            backing = img_kv_get(&kv, "backing_file", &found);
        }
        if (backing_fmt) {
            img_kv_append(&kv, "backing_fmt", backing_fmt);
        } else {
            backing_fmt = img_kv_get(&kv, "backing_fmt", &found);
        }
        if (backing && !backing[0]) {
            backing = NULL;
        }
        if (backing && !backing_fmt) {
            ret = img_create_probe_backing(filename, backing);
            goto out;
        }
        if (backing && (!unsafe || !size_given)) {
            uint64_t bsize = 0;

            if (img_create_backing_size(filename, backing, backing_fmt,
                                        &bsize) < 0) {
                goto out;
            }
            if (!size_given) {
                size = bsize;
                size_given = true;
            }
        }
        if (!size_given) {
            img_error("%sImage creation needs a size parameter", pfx);
            goto out;
        }
        if (!quiet) {
            img_formatting_line(filename, f, &kv, size);
        }
        if (backing_fmt && !backing) {
            img_error("%sBacking format cannot be used without backing file",
                      pfx);
            goto out;
        }
        if (img_create_build(pfx, f, &kv, &o) < 0) {
            goto out;
        }
        o.size = size;
        o.backing_file = backing;
        o.backing_fmt = backing_fmt;
        if (img_target_check(filename, pfx) < 0) {
            goto out;
        }
        if (qcow2_create(filename, &o, &err) < 0) {
            if (err.code == -ENOENT || err.code == -EACCES ||
                err.code == -ENOTDIR) {
                img_error("%sCould not create '%s': %s", pfx, filename,
                          strerror(-err.code));
            } else {
                img_error("%s%s", pfx, err.msg);
            }
            goto out;
        }
    }
    ret = 0;
out:
    img_kv_fini(&kv);
    return ret;
}
