/* SPDX-License-Identifier: MIT */
/*
 * imgtool/cmd-info.c - `rrvm-img info`, `map` and `measure`: read-only
 * reports in qemu-img 7.2's human and JSON layouts.
 */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/fmt.h"
#include "imgtool/img.h"

void img_snapshot_line_print(const struct qcow2_snapshot_info *sn)
{
    char *row = qcow2_snapshot_row(sn, NULL);

    if (!row) {
        img_oom();
    }
    fputs(row, stdout);
    mem_free(row);
}

/* Returns a new array of every snapshot (mem_free), *n set; NULL if none. */
static struct qcow2_snapshot_info *img_snapshots(struct qcow2_image *img,
                                                 size_t *n)
{
    struct qcow2_snapshot_info *sn;
    size_t cnt = qcow2_snapshot_list(img, NULL, 0);

    *n = 0;
    if (cnt == 0) {
        return NULL;
    }
    sn = mem_calloc(cnt, sizeof(*sn));
    if (!sn) {
        img_oom();
    }
    *n = qcow2_snapshot_list(img, sn, cnt);
    if (*n > cnt) {
        *n = cnt;
    }
    return sn;
}

void img_snapshot_list_print(struct qcow2_image *img)
{
    size_t n, i;
    struct qcow2_snapshot_info *sn = img_snapshots(img, &n);

    if (n == 0) {
        mem_free(sn);
        return;
    }
    printf("Snapshot list:\n");
    img_snapshot_line_print(NULL);
    printf("\n");
    for (i = 0; i < n; i++) {
        img_snapshot_line_print(&sn[i]);
        printf("\n");
    }
    mem_free(sn);
}

/* The image's persistent bitmaps, which QEMU lists when there are any
 * (*@nb is 0 then, or when the directory cannot be read). Free with
 * mem_free(). */
static struct qcow2_bitmap_info *img_bitmaps(struct qcow2_image *img,
                                             size_t *nb)
{
    struct qcow2_bitmap_info *b;
    struct err err = {0};
    size_t n = 0;

    *nb = 0;
    if (qcow2_bitmap_list(img, NULL, 0, &n, &err) < 0 || n == 0) {
        return NULL;
    }
    b = mem_calloc(n, sizeof(*b));
    if (!b || qcow2_bitmap_list(img, b, n, nb, &err) < 0) {
        mem_free(b);
        *nb = 0;
        return NULL;
    }
    return b;
}

/* QEMU's names for the bitmap flags, in its order. */
static const struct {
    uint32_t bit;
    const char *name;
} img_bitmap_flags[] = {
    {QCOW2_BITMAP_IN_USE, "in-use"},
    {QCOW2_BITMAP_AUTO, "auto"},
};

static void img_bitmaps_human(struct qcow2_image *img)
{
    size_t nb, i, f;
    struct qcow2_bitmap_info *b = img_bitmaps(img, &nb);

    if (nb == 0) {
        return;
    }
    printf("    bitmaps:\n");
    for (i = 0; i < nb; i++) {
        unsigned k = 0;

        printf("        [%zu]:\n            flags:\n", i);
        for (f = 0; f < sizeof(img_bitmap_flags) / sizeof(img_bitmap_flags[0]);
             f++) {
            if (b[i].flags & img_bitmap_flags[f].bit) {
                printf("                [%u]: %s\n", k++,
                       img_bitmap_flags[f].name);
            }
        }
        printf("            name: %s\n            granularity: %" PRIu64 "\n",
               b[i].name, b[i].granularity);
    }
    mem_free(b);
}

static void img_bitmaps_json(struct qcow2_image *img, struct img_json *d)
{
    size_t nb, i, f;
    struct qcow2_bitmap_info *b = img_bitmaps(img, &nb);
    struct img_json *arr;

    if (nb == 0) {
        return;
    }
    arr = img_json_array();
    for (i = 0; i < nb; i++) {
        struct img_json *e = img_json_object();
        struct img_json *flags = img_json_array();

        for (f = 0; f < sizeof(img_bitmap_flags) / sizeof(img_bitmap_flags[0]);
             f++) {
            if (b[i].flags & img_bitmap_flags[f].bit) {
                img_json_append(flags, img_json_str(img_bitmap_flags[f].name));
            }
        }
        img_json_set(e, "flags", flags);
        img_json_set_str(e, "name", b[i].name);
        img_json_set_uint(e, "granularity", b[i].granularity);
        img_json_append(arr, e);
    }
    img_json_set(d, "bitmaps", arr);
    mem_free(b);
}

static void img_info_human(struct qcow2_image *img, const char *filename)
{
    struct qcow2_info info;
    char vs[32];
    char ds[32];

    qcow2_get_info(img, &info);
    fmt_size(vs, sizeof(vs), info.virtual_size);
    fmt_size(ds, sizeof(ds), info.actual_size);
    printf("image: %s\n"
           "file format: %s\n"
           "virtual size: %s (%" PRIu64 " bytes)\n"
           "disk size: %s\n",
           filename, img_format_name(info.format), vs, info.virtual_size, ds);
    if (info.format == QCOW2_FORMAT_RAW) {
        return;
    }
    if (info.encrypted) {
        printf("encrypted: yes\n");
    }
    printf("cluster_size: %" PRIu32 "\n", info.cluster_size);
    if (info.dirty) {
        printf("cleanly shut down: no\n");
    }
    if (info.backing_file) {
        printf("backing file: %s", info.backing_file);
        if (!info.full_backing_filename) {
            printf(" (cannot determine actual path)");
        } else if (strcmp(info.backing_file, info.full_backing_filename)) {
            printf(" (actual path: %s)", info.full_backing_filename);
        }
        printf("\n");
    }
    if (info.backing_fmt) {
        printf("backing file format: %s\n", info.backing_fmt);
    }
    img_snapshot_list_print(img);
    printf("Format specific information:\n");
    printf("    compat: %s\n", info.version >= 3 ? "1.1" : "0.10");
    printf("    compression type: %s\n",
           info.compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib");
    if (info.version >= 3) {
        printf("    lazy refcounts: %s\n",
               info.lazy_refcounts ? "true" : "false");
        img_bitmaps_human(img);
    }
    printf("    refcount bits: %u\n", info.refcount_bits);
    if (info.version >= 3) {
        printf("    corrupt: %s\n", info.corrupt ? "true" : "false");
        printf("    extended l2: %s\n", info.extended_l2 ? "true" : "false");
    }
    if (info.data_file) {
        printf("    data file: %s\n", info.data_file);
    }
}

static struct img_json *img_info_json(struct qcow2_image *img,
                                      const char *filename)
{
    struct img_json *o = img_json_object();
    struct qcow2_info info;
    struct qcow2_snapshot_info *sn;
    size_t n, i;

    qcow2_get_info(img, &info);
    img_json_set_uint(o, "virtual-size", info.virtual_size);
    img_json_set_str(o, "filename", filename);
    img_json_set_str(o, "format", img_format_name(info.format));
    img_json_set_uint(o, "actual-size", info.actual_size);
    img_json_set_bool(o, "dirty-flag", info.dirty);
    if (info.format == QCOW2_FORMAT_RAW) {
        return o;
    }
    img_json_set_uint(o, "cluster-size", info.cluster_size);
    if (info.encrypted) {
        img_json_set_bool(o, "encrypted", true);
    }
    if (info.backing_file) {
        img_json_set_str(o, "backing-filename", info.backing_file);
        if (info.full_backing_filename) {
            img_json_set_str(o, "full-backing-filename",
                             info.full_backing_filename);
        }
    }
    if (info.backing_fmt) {
        img_json_set_str(o, "backing-filename-format", info.backing_fmt);
    }
    sn = img_snapshots(img, &n);
    if (n > 0) {
        struct img_json *arr = img_json_array();

        for (i = 0; i < n; i++) {
            struct img_json *s = img_json_object();

            img_json_set_str(s, "id", sn[i].id);
            img_json_set_str(s, "name", sn[i].name);
            img_json_set_uint(s, "vm-state-size", sn[i].vm_state_size);
            img_json_set_uint(s, "date-sec", sn[i].date_sec);
            img_json_set_uint(s, "date-nsec", sn[i].date_nsec);
            img_json_set_uint(s, "vm-clock-sec",
                              sn[i].vm_clock_nsec / 1000000000ull);
            img_json_set_uint(s, "vm-clock-nsec",
                              sn[i].vm_clock_nsec % 1000000000ull);
            if (sn[i].icount != UINT64_MAX) {
                img_json_set_uint(s, "icount", sn[i].icount);
            }
            img_json_append(arr, s);
        }
        img_json_set(o, "snapshots", arr);
    }
    mem_free(sn);
    {
        struct img_json *fs = img_json_object();
        struct img_json *d = img_json_object();

        img_json_set_str(fs, "type", "qcow2");
        img_json_set_str(d, "compat", info.version >= 3 ? "1.1" : "0.10");
        img_json_set_str(
            d, "compression-type",
            info.compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib");
        if (info.version >= 3) {
            img_json_set_bool(d, "lazy-refcounts", info.lazy_refcounts);
            img_bitmaps_json(img, d);
        }
        img_json_set_int(d, "refcount-bits", info.refcount_bits);
        if (info.version >= 3) {
            img_json_set_bool(d, "corrupt", info.corrupt);
            img_json_set_bool(d, "extended-l2", info.extended_l2);
        }
        if (info.data_file) {
            img_json_set_str(d, "data-file", info.data_file);
        }
        img_json_set(fs, "data", d);
        img_json_set(o, "format-specific", fs);
    }
    return o;
}

static const struct option img_info_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"format", required_argument, NULL, 'f'},
    {"output", required_argument, NULL, IMG_OPT_OUTPUT},
    {"backing-chain", no_argument, NULL, IMG_OPT_BACKING_CHAIN},
    {"object", required_argument, NULL, IMG_OPT_OBJECT},
    {"image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS},
    {"force-share", no_argument, NULL, 'U'},
    {NULL, 0, NULL, 0},
};

int img_cmd_info(int argc, char **argv)
{
    enum img_output output = IMG_OUTPUT_HUMAN;
    const char *fmt = NULL;
    const char *filename;
    bool chain = false;
    unsigned flags = QCOW2_OPEN_RDONLY;
    struct qcow2_image *img = NULL;
    struct img_json *arr = NULL;
    char *path = NULL;
    char *next_fmt = NULL;
    int depth;
    int pass;
    int ret = 1;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":f:hU", img_info_longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'U':
            flags |= QCOW2_OPEN_FORCE_SHARE;
            break;
        case IMG_OPT_OUTPUT:
            if (img_parse_output(optarg, &output) < 0) {
                return 1;
            }
            break;
        case IMG_OPT_BACKING_CHAIN:
            chain = true;
            break;
        default:
            if (img_opt_common(c, argv, &ret)) {
                return ret;
            }
            break;
        }
    }
    filename = img_one_filename(argc, argv);
    if (!filename) {
        return 1;
    }
    if (chain && output == IMG_OUTPUT_JSON) {
        arr = img_json_array();
    }
    /*
     * Each layer is opened on its own, as qemu-img walks the chain; a first
     * pass checks the whole chain opens, so a broken chain prints nothing
     * but the error (qemu-img collects everything before printing).
     */
    for (pass = chain ? 0 : 1; pass < 2; pass++) {
        const char *cur_fmt = fmt;

        mem_free(path);
        path = mem_strdup(filename);
        if (!path) {
            img_oom();
        }
        for (depth = 0; path; depth++) {
            struct qcow2_info info;
            char *next = NULL;

            if (depth > QCOW2_MAX_BACKING_DEPTH) {
                img_error("Backing chain of '%s' is too deep", filename);
                goto fail;
            }
            if (img_open(path, cur_fmt, flags | QCOW2_OPEN_NO_BACKING, &img) <
                0) {
                goto fail;
            }
            if (pass == 1 && output == IMG_OUTPUT_JSON) {
                struct img_json *o = img_info_json(img, path);

                if (arr) {
                    img_json_append(arr, o);
                } else {
                    img_json_print(o, stdout);
                    img_json_free(o);
                }
            } else if (pass == 1) {
                if (depth > 0) {
                    printf("\n");
                }
                img_info_human(img, path);
            }
            qcow2_get_info(img, &info);
            if (chain && info.backing_file) {
                next = mem_strdup(info.full_backing_filename
                                      ? info.full_backing_filename
                                      : info.backing_file);
                if (!next) {
                    img_oom();
                }
                mem_free(next_fmt);
                next_fmt =
                    info.backing_fmt ? mem_strdup(info.backing_fmt) : NULL;
                cur_fmt = next_fmt;
            }
            qcow2_close(img);
            img = NULL;
            mem_free(path);
            path = next;
        }
    }
    if (arr) {
        img_json_print(arr, stdout);
    }
    ret = 0;
fail:
    img_json_free(arr);
    mem_free(path);
    mem_free(next_fmt);
    return ret;
}

/* ---- map ---- */

struct img_map_entry {
    uint64_t start;
    uint64_t length;
    bool data;
    bool zero;
    bool present;
    bool has_offset;
    uint64_t offset;
    int depth;
    const char *filename; /* borrowed; NULL unless has_offset */
};

static bool img_map_mergeable(const struct img_map_entry *a,
                              const struct img_map_entry *b)
{
    if (a->length == 0) {
        return false;
    }
    if (a->zero != b->zero || a->data != b->data || a->depth != b->depth ||
        a->present != b->present || !a->filename != !b->filename ||
        a->has_offset != b->has_offset) {
        return false;
    }
    if (a->filename && strcmp(a->filename, b->filename)) {
        return false;
    }
    if (a->has_offset && a->offset + a->length != b->offset) {
        return false;
    }
    return true;
}

static int img_map_dump(enum img_output output, const struct img_map_entry *e,
                        struct img_map_entry *next)
{
    if (output == IMG_OUTPUT_HUMAN) {
        if (e->data && !e->has_offset) {
            img_error("File contains external, encrypted or compressed "
                      "clusters.");
            return -1;
        }
        if (e->data && !e->zero) {
            printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n",
                   e->start, e->length, e->offset, e->filename);
        }
        if (next && (!next->data || next->zero)) {
            next->data = false;
            next->zero = true;
        }
        return 0;
    }
    printf("{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 ", \"depth\": %d,"
           " \"present\": %s, \"zero\": %s, \"data\": %s",
           e->start, e->length, e->depth, e->present ? "true" : "false",
           e->zero ? "true" : "false", e->data ? "true" : "false");
    if (e->has_offset) {
        printf(", \"offset\": %" PRIu64, e->offset);
    }
    putchar('}');
    if (next) {
        puts(",");
    }
    return 0;
}

static const struct option img_map_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"format", required_argument, NULL, 'f'},
    {"output", required_argument, NULL, IMG_OPT_OUTPUT},
    {"object", required_argument, NULL, IMG_OPT_OBJECT},
    {"image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS},
    {"force-share", no_argument, NULL, 'U'},
    {"start-offset", required_argument, NULL, IMG_OPT_START_OFFSET},
    {"max-length", required_argument, NULL, IMG_OPT_MAX_LENGTH},
    {NULL, 0, NULL, 0},
};

int img_cmd_map(int argc, char **argv)
{
    enum img_output output = IMG_OUTPUT_HUMAN;
    const char *fmt = NULL;
    unsigned flags = QCOW2_OPEN_RDONLY;
    struct qcow2_image *img = NULL;
    struct img_map_entry curr = {0};
    struct img_map_entry next;
    int64_t start = 0;
    int64_t max_length = -1;
    uint64_t length;
    int ret = 1;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":f:hU", img_map_longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'U':
            flags |= QCOW2_OPEN_FORCE_SHARE;
            break;
        case IMG_OPT_OUTPUT:
            if (img_parse_output(optarg, &output) < 0) {
                return 1;
            }
            break;
        case IMG_OPT_START_OFFSET:
            if (img_cvtnum("start offset", optarg, 0, INT64_MAX, &start) < 0) {
                return 1;
            }
            break;
        case IMG_OPT_MAX_LENGTH:
            if (img_cvtnum("max length", optarg, 0, INT64_MAX, &max_length) <
                0) {
                return 1;
            }
            break;
        default:
            if (img_opt_common(c, argv, &ret)) {
                return ret;
            }
            break;
        }
    }
    if (!img_one_filename(argc, argv) ||
        img_open(argv[optind], fmt, flags, &img) < 0) {
        return 1;
    }
    length = qcow2_size(img);
    if (max_length != -1 && (uint64_t)start + (uint64_t)max_length < length) {
        length = (uint64_t)start + (uint64_t)max_length;
    }
    if (output == IMG_OUTPUT_HUMAN) {
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
    } else {
        putchar('[');
    }
    curr.start = (uint64_t)start;
    while (curr.start + curr.length < length) {
        uint64_t off = curr.start + curr.length;
        struct qcow2_extent ext;
        struct err err = {0};

        if (qcow2_block_status(img, off, length - off, true, &ext, &err) < 0 ||
            ext.length == 0) {
            img_error("Could not read file metadata: %s",
                      err.msg[0] ? err.msg : "Input/output error");
            goto out;
        }
        memset(&next, 0, sizeof(next));
        next.start = off;
        next.length = ext.length;
        if (next.length > length - off) {
            next.length = length - off;
        }
        next.data = ext.flags & QCOW2_BS_DATA;
        next.zero = ext.flags & QCOW2_BS_ZERO;
        next.present = ext.flags & QCOW2_BS_PRESENT;
        next.has_offset = ext.flags & QCOW2_BS_OFFSET;
        next.offset = next.has_offset ? ext.host_offset : 0;
        next.depth = ext.depth;
        next.filename =
            next.has_offset && ext.file ? qcow2_filename(ext.file) : NULL;
        if (next.has_offset && !next.filename) {
            next.filename = qcow2_filename(img);
        }
        if (img_map_mergeable(&curr, &next)) {
            curr.length += next.length;
            continue;
        }
        if (curr.length > 0 && img_map_dump(output, &curr, &next) < 0) {
            goto out;
        }
        curr = next;
    }
    if (img_map_dump(output, &curr, NULL) < 0) {
        goto out;
    }
    if (output == IMG_OUTPUT_JSON) {
        puts("]");
    }
    ret = 0;
out:
    qcow2_close(img);
    return ret;
}

/* ---- measure ---- */

static const struct option img_measure_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS},
    {"object", required_argument, NULL, IMG_OPT_OBJECT},
    {"output", required_argument, NULL, IMG_OPT_OUTPUT},
    {"size", required_argument, NULL, IMG_OPT_SIZE},
    {"force-share", no_argument, NULL, 'U'},
    {NULL, 0, NULL, 0},
};

/* Bytes of the image that hold data, counted per @cluster of the target
 * the way qcow2_measure() in QEMU counts them. */
static int img_measure_allocated(struct qcow2_image *img, uint32_t cluster,
                                 uint64_t *out)
{
    uint64_t size = qcow2_size(img);
    uint64_t off = 0;
    uint64_t total = 0;

    while (off < size) {
        struct qcow2_extent ext;
        struct err err = {0};
        uint64_t n;

        if (qcow2_block_status(img, off, size - off, true, &ext, &err) < 0 ||
            ext.length == 0) {
            img_error("Unable to get block status: %s", err.msg);
            return -1;
        }
        n = ext.length < size - off ? ext.length : size - off;
        if (!(ext.flags & QCOW2_BS_ZERO) && (ext.flags & QCOW2_BS_DATA)) {
            /* Extend to the end of the target cluster. */
            n = (off + n + cluster - 1) / cluster * cluster - off;
            total += off % cluster + n;
        }
        off += n;
    }
    *out = total;
    return 0;
}

/*
 * Room the source's persistent bitmaps take in a target with @cluster
 * bytes per cluster, as QEMU's qcow2_measure() counts it: each bitmap
 * whole, its table, and the directory.
 */
static uint64_t img_measure_bitmaps(struct qcow2_image *img, uint64_t cluster)
{
    size_t nb, i;
    struct qcow2_bitmap_info *b = img_bitmaps(img, &nb);
    uint64_t total = 0, dir = 0;

    for (i = 0; i < nb; i++) {
        uint64_t bits =
            (qcow2_size(img) + b[i].granularity - 1) / b[i].granularity;
        uint64_t clusters = ((bits + 7) / 8 + cluster - 1) / cluster;

        total += clusters * cluster;
        total += (clusters * 8 + cluster - 1) / cluster * cluster;
        dir += (24 + strlen(b[i].name) + 7) & ~7ull;
    }
    mem_free(b);
    return total + (dir + cluster - 1) / cluster * cluster;
}

int img_cmd_measure(int argc, char **argv)
{
    enum img_output output = IMG_OUTPUT_HUMAN;
    struct img_kvlist kv = {0};
    struct qcow2_create_opts o;
    struct qcow2_image *img = NULL;
    const char *fmt = NULL;
    const char *out_fmt = "raw";
    const char *filename = NULL;
    enum qcow2_format of;
    int64_t size = -1;
    uint64_t vsize;
    uint64_t allocated;
    uint64_t required = 0;
    uint64_t full = 0;
    uint64_t bitmaps = 0;
    bool show_bitmaps = false;
    const char *snapshot = NULL;
    unsigned flags = QCOW2_OPEN_RDONLY;
    int ret = 1;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":hf:O:o:l:U", img_measure_longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'O':
            out_fmt = optarg;
            break;
        case 'o':
            if (img_kv_parse(&kv, optarg) < 0) {
                img_oom();
            }
            break;
        case 'l':
            snapshot = optarg;
            break;
        case 'U':
            flags |= QCOW2_OPEN_FORCE_SHARE;
            break;
        case IMG_OPT_OUTPUT:
            if (img_parse_output(optarg, &output) < 0) {
                goto out;
            }
            break;
        case IMG_OPT_SIZE:
            if (img_cvtnum("image size", optarg, 0, INT64_MAX, &size) < 0) {
                goto out;
            }
            break;
        default:
            if (img_opt_common(c, argv, &ret)) {
                goto out;
            }
            break;
        }
    }
    if (optind < argc) {
        filename = argv[optind++];
    }
    if (optind < argc) {
        img_error_try("Unexpected argument: %s", argv[optind]);
        goto out;
    }
    if (filename && size != -1) {
        img_error("--size N cannot be used together with a filename.");
        goto out;
    }
    if (!filename && size == -1) {
        img_error("Either --size N or one filename must be specified.");
        goto out;
    }
    if (!filename && (fmt || snapshot)) {
        img_error("--image-opts, -f, and -l require a filename argument.");
        goto out;
    }
    if (img_format_parse(out_fmt, &of) < 0) {
        img_error("Unknown file format '%s'", out_fmt);
        goto out;
    }
    if (img_create_parse("", of, &kv) < 0 ||
        img_create_build("", of, &kv, &o) < 0) {
        goto out;
    }
    if (filename) {
        if (img_open(filename, fmt, flags, &img) < 0) {
            goto out;
        }
        if (snapshot && img_load_snapshot(img, snapshot) < 0) {
            goto out;
        }
        vsize = qcow2_size(img);
        if (img_measure_allocated(img,
                                  of == QCOW2_FORMAT_RAW ? 512 : o.cluster_size,
                                  &allocated) < 0) {
            goto out;
        }
    } else {
        vsize = (uint64_t)size;
        allocated = 0;
    }
    if (of == QCOW2_FORMAT_RAW) {
        required = (vsize + 511) & ~511ull;
        full = required;
    } else {
        o.size = vsize;
        qcow2_measure(&o, vsize, allocated, &required, &full);
        if (o.preallocation == QCOW2_PREALLOC_FALLOC ||
            o.preallocation == QCOW2_PREALLOC_FULL) {
            required = full; /* the data is allocated up front */
        }
        /* QEMU reports bitmaps for a v3 target of a qcow2 source. */
        show_bitmaps =
            img && qcow2_format_of(img) == QCOW2_FORMAT_QCOW2 && o.version >= 3;
        if (show_bitmaps) {
            bitmaps = img_measure_bitmaps(img, o.cluster_size);
        }
    }
    if (output == IMG_OUTPUT_JSON) {
        struct img_json *j = img_json_object();

        img_json_set_uint(j, "required", required);
        img_json_set_uint(j, "fully-allocated", full);
        if (show_bitmaps) {
            img_json_set_uint(j, "bitmaps", bitmaps);
        }
        img_json_print(j, stdout);
        img_json_free(j);
    } else {
        printf("required size: %" PRIu64 "\n", required);
        printf("fully allocated size: %" PRIu64 "\n", full);
        if (show_bitmaps) {
            printf("bitmaps size: %" PRIu64 "\n", bitmaps);
        }
    }
    ret = 0;
out:
    qcow2_close(img);
    img_kv_fini(&kv);
    return ret;
}
