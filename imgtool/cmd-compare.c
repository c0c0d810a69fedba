/* SPDX-License-Identifier: MIT */
/*
 * imgtool/cmd-compare.c - `rrvm-img compare` (exit 0 identical, 1 differ,
 * 2 open error, 3 allocation-status error, 4 read error) and
 * `rrvm-img resize`.
 */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "common/alloc.h"
#include "imgtool/img.h"

/* Bytes compared per step (qemu-img's IO_BUF_SIZE). */
#define IMG_COMPARE_BUF (2u << 20)
#define IMG_SECTOR      512u

/* Flags whose difference fails strict mode. */
#define IMG_STRICT_MASK (QCOW2_BS_DATA | QCOW2_BS_ZERO | QCOW2_BS_ALLOCATED)

static const struct option img_compare_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"object", required_argument, NULL, IMG_OPT_OBJECT},
    {"image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS},
    {"force-share", no_argument, NULL, 'U'},
    {NULL, 0, NULL, 0},
};

/* Offset of the first differing 512-byte sector, or -1 if equal. */
static int64_t img_first_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
    size_t i;

    if (!memcmp(a, b, len)) {
        return -1;
    }
    for (i = 0; i < len; i += IMG_SECTOR) {
        size_t n = len - i < IMG_SECTOR ? len - i : IMG_SECTOR;

        if (memcmp(a + i, b + i, n)) {
            return (int64_t)i;
        }
    }
    return -1;
}

static int64_t img_first_nonzero(const uint8_t *a, size_t len)
{
    size_t i;

    for (i = 0; i < len; i += IMG_SECTOR) {
        size_t n = len - i < IMG_SECTOR ? len - i : IMG_SECTOR;
        size_t k;

        for (k = 0; k < n; k++) {
            if (a[i + k]) {
                return (int64_t)i;
            }
        }
    }
    return -1;
}

struct img_cmp_side {
    struct qcow2_image *img;
    const char *name;
    uint64_t size;
    uint8_t *buf;
};

static int img_cmp_read(struct img_cmp_side *s, uint64_t off, size_t len)
{
    struct err err = {0};
    int r = qcow2_read(s->img, off, s->buf, len, &err);

    if (r < 0) {
        img_error("Error while reading offset %" PRIu64 " of %s: %s", off,
                  s->name, strerror(-r));
        return -1;
    }
    return 0;
}

/*
 * Block status of @s at @off (at most @len bytes) into *@e. Returns 0 with
 * e->length > 0, or -1 after printing qemu-img's allocation-test error.
 */
static int img_cmp_status(struct img_cmp_side *s, uint64_t off, uint64_t len,
                          struct qcow2_extent *e)
{
    struct err err = {0};

    if (qcow2_block_status(s->img, off, len, true, e, &err) < 0 ||
        e->length == 0) {
        img_error("Sector allocation test failed for %s", s->name);
        return -1;
    }
    return 0;
}

/* Report a content difference at @off (unless @quiet). Returns 1, the exit
 * status for differing images. */
static int img_cmp_mismatch(bool quiet, uint64_t off)
{
    if (!quiet) {
        printf("Content mismatch at offset %" PRIu64 "!\n", off);
    }
    return 1;
}

int img_cmd_compare(int argc, char **argv)
{
    struct img_cmp_side a = {0};
    struct img_cmp_side b = {0};
    const char *fmt1 = NULL;
    const char *fmt2 = NULL;
    unsigned flags = QCOW2_OPEN_RDONLY;
    unsigned cflags;
    bool progress = false;
    bool quiet = false;
    bool strict = false;
    uint64_t total;
    uint64_t off;
    int ret = 2;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":hf:F:T:pqsU", img_compare_longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt1 = optarg;
            break;
        case 'F':
            fmt2 = optarg;
            break;
        case 'T':
            if (img_opt_cache(optarg, true, &cflags) < 0) {
                return 2;
            }
            flags |= cflags;
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 's':
            strict = true;
            break;
        case 'U':
            flags |= QCOW2_OPEN_FORCE_SHARE;
            break;
        case IMG_OPT_OBJECT:
            img_refuse_opt("--object");
            return 2;
        case IMG_OPT_IMAGE_OPTS:
            img_refuse_opt("--image-opts");
            return 2;
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
    if (optind != argc - 2) {
        img_error_try("Expecting two image file names");
        return 1;
    }
    a.name = argv[optind];
    b.name = argv[optind + 1];
    img_progress_init(progress, 2.0f);
    if (img_open(a.name, fmt1, flags, &a.img) < 0 ||
        img_open(b.name, fmt2, flags, &b.img) < 0) {
        ret = 2;
        goto out;
    }
    a.buf = mem_alloc(IMG_COMPARE_BUF);
    b.buf = mem_alloc(IMG_COMPARE_BUF);
    if (!a.buf || !b.buf) {
        img_oom();
    }
    img_progress_print(0, 100);
    a.size = qcow2_size(a.img);
    b.size = qcow2_size(b.img);
    total = a.size < b.size ? a.size : b.size;
    if (a.size != b.size) {
        if (strict) {
            if (!quiet) {
                printf("Strict mode: Image size mismatch!\n");
            }
            ret = 1;
            goto out;
        }
    }
    for (off = 0; off < total;) {
        struct qcow2_extent e1;
        struct qcow2_extent e2;
        uint64_t chunk;
        int64_t d;

        if (img_cmp_status(&a, off, total - off, &e1) < 0) {
            ret = 3;
            goto out;
        }
        if (img_cmp_status(&b, off, total - off, &e2) < 0) {
            ret = 3;
            goto out;
        }
        chunk = e1.length < e2.length ? e1.length : e2.length;
        if (chunk > total - off) {
            chunk = total - off;
        }
        if (strict &&
            (e1.flags & IMG_STRICT_MASK) != (e2.flags & IMG_STRICT_MASK)) {
            if (!quiet) {
                printf("Strict mode: Offset %" PRIu64
                       " block status mismatch!\n",
                       off);
            }
            ret = 1;
            goto out;
        }
        if (!((e1.flags & QCOW2_BS_ZERO) && (e2.flags & QCOW2_BS_ZERO))) {
            if (chunk > IMG_COMPARE_BUF) {
                chunk = IMG_COMPARE_BUF;
            }
            if (img_cmp_read(&a, off, (size_t)chunk) < 0 ||
                img_cmp_read(&b, off, (size_t)chunk) < 0) {
                ret = 4;
                goto out;
            }
            d = img_first_diff(a.buf, b.buf, (size_t)chunk);
            if (d >= 0) {
                ret = img_cmp_mismatch(quiet, off + (uint64_t)d);
                goto out;
            }
        }
        off += chunk;
        img_progress_print((float)chunk / (float)total * 100.0f, 100);
    }
    if (a.size != b.size) {
        /* As qemu-img: said only once the common part matched. */
        struct img_cmp_side *over = a.size > b.size ? &a : &b;

        if (!quiet) {
            printf("Warning: Image size mismatch!\n");
        }

        for (off = total; off < over->size;) {
            struct qcow2_extent e;
            uint64_t chunk;
            int64_t d;

            if (img_cmp_status(over, off, over->size - off, &e) < 0) {
                ret = 3;
                goto out;
            }
            chunk = e.length;
            if (chunk > over->size - off) {
                chunk = over->size - off;
            }
            if (!(e.flags & QCOW2_BS_ZERO)) {
                if (chunk > IMG_COMPARE_BUF) {
                    chunk = IMG_COMPARE_BUF;
                }
                if (img_cmp_read(over, off, (size_t)chunk) < 0) {
                    ret = 4;
                    goto out;
                }
                d = img_first_nonzero(over->buf, (size_t)chunk);
                if (d >= 0) {
                    ret = img_cmp_mismatch(quiet, off + (uint64_t)d);
                    goto out;
                }
            }
            off += chunk;
        }
    }
    if (!quiet) {
        printf("Images are identical.\n");
    }
    ret = 0;
out:
    img_progress_end();
    mem_free(a.buf);
    mem_free(b.buf);
    qcow2_close(a.img);
    qcow2_close(b.img);
    return ret;
}

/* ---- resize ---- */

static const struct option img_resize_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"object", required_argument, NULL, IMG_OPT_OBJECT},
    {"image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS},
    {"preallocation", required_argument, NULL, IMG_OPT_PREALLOC},
    {"shrink", no_argument, NULL, IMG_OPT_SHRINK},
    {NULL, 0, NULL, 0},
};

int img_cmd_resize(int argc, char **argv)
{
    enum qcow2_prealloc prealloc = QCOW2_PREALLOC_OFF;
    struct qcow2_image *img = NULL;
    struct err err = {0};
    const char *fmt = NULL;
    const char *size;
    const char *filename;
    bool quiet = false;
    bool shrink = false;
    int relative = 0;
    uint64_t n = 0;
    uint64_t cur;
    int64_t total;
    int ret = 1;
    int c;

    if (argc < 3) {
        img_error_try("Not enough arguments");
        return 1;
    }
    size = argv[--argc];
    optind = 1;
    while ((c = getopt_long(argc, argv, ":f:hq", img_resize_longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case IMG_OPT_PREALLOC:
            if (!strcmp(optarg, "off")) {
                prealloc = QCOW2_PREALLOC_OFF;
            } else if (!strcmp(optarg, "metadata")) {
                prealloc = QCOW2_PREALLOC_METADATA;
            } else if (!strcmp(optarg, "falloc")) {
                prealloc = QCOW2_PREALLOC_FALLOC;
            } else if (!strcmp(optarg, "full")) {
                prealloc = QCOW2_PREALLOC_FULL;
            } else {
                img_error("Invalid preallocation mode '%s'", optarg);
                return 1;
            }
            break;
        case IMG_OPT_SHRINK:
            shrink = true;
            break;
        default:
            if (img_opt_common(c, argv, &ret)) {
                return ret;
            }
            break;
        }
    }
    if (optind != argc - 1) {
        img_error_try("Expecting image file name and size");
        return 1;
    }
    filename = argv[optind];
    if (size[0] == '+') {
        relative = 1;
        size++;
    } else if (size[0] == '-') {
        relative = -1;
        size++;
    }
    if (img_strtosz(size, &n) < 0) {
        img_error("Parameter 'size' expects a non-negative number below 2^64");
        fprintf(stderr, "Optional suffix k, M, G, T, P or E means kilo-, "
                        "mega-, giga-, tera-, peta-\nand exabytes, "
                        "respectively.\n");
        return 1;
    }
    if (img_open(filename, fmt, 0, &img) < 0) {
        return 1;
    }
    cur = qcow2_size(img);
    if (relative) {
        total = (int64_t)cur + (int64_t)n * relative;
    } else {
        total = (int64_t)n;
    }
    if (total <= 0) {
        img_error("New image size must be positive");
        goto out;
    }
    if ((uint64_t)total <= cur && prealloc != QCOW2_PREALLOC_OFF) {
        img_error("Preallocation can only be used for growing images");
        goto out;
    }
    if ((uint64_t)total < cur && !shrink) {
        img_error("Use the --shrink option to perform a shrink operation.");
        img_error("warning: Shrinking an image will delete all data beyond "
                  "the shrunken image's end. Before performing such an "
                  "operation, make sure there is no important data there.");
        goto out;
    }
    if (qcow2_resize(img, (uint64_t)total, shrink, prealloc, &err) < 0) {
        img_error("%s", err.msg);
        goto out;
    }
    if (!quiet) {
        printf("Image resized.\n");
    }
    ret = 0;
out:
    if (qcow2_close(img) < 0 && ret == 0) {
        img_error("Error while closing the image");
        ret = 1;
    }
    return ret;
}
