/* SPDX-License-Identifier: MIT */
/*
 * imgtool/cmd-snapshot-diff.c - `rrvm-img snapshot-diff IMAGE A B`: which
 * registers, devices (vmstate sections), RAM pages and disk clusters differ
 * between two internal snapshots made by rrvm's savevm. The comparison is
 * cat_snapshot_diff() (catalog/cat-diff.c), which reads the documented
 * formats only; this file opens the image and prints.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "catalog/catalog.h"
#include "common/alloc.h"
#include "common/fmt.h"
#include "imgtool/img.h"
#include "qcow2/qcow2.h"

static struct img_json *side_json(const struct cat_diff_snap *s)
{
    struct img_json *o = img_json_object();

    img_json_set_str(o, "id", s->id);
    img_json_set_str(o, "name", s->name);
    if (s->icount != UINT64_MAX) {
        img_json_set_uint(o, "icount", s->icount);
    }
    return o;
}

static void print_json(const char *path, const struct cat_diff *d)
{
    struct img_json *o = img_json_object();
    struct img_json *regs = img_json_array(), *devices = img_json_array();
    struct img_json *pages = img_json_array(), *clusters = img_json_array();

    for (size_t i = 0; i < d->nb_regs; i++) {
        struct img_json *r = img_json_object();

        img_json_set_str(r, "name", d->regs[i].name);
        img_json_set_uint(r, "a", d->regs[i].a);
        img_json_set_uint(r, "b", d->regs[i].b);
        img_json_append(regs, r);
    }
    for (size_t i = 0; i < d->nb_devices; i++) {
        img_json_append(devices, img_json_str(d->devices[i]));
    }
    for (size_t i = 0; i < d->nb_pages; i++) {
        img_json_append(pages, img_json_uint(d->pages[i]));
    }
    for (size_t i = 0; i < d->nb_clusters; i++) {
        img_json_append(clusters, img_json_uint(d->clusters[i]));
    }
    img_json_set_str(o, "image", path);
    img_json_set(o, "a", side_json(&d->a));
    img_json_set(o, "b", side_json(&d->b));
    img_json_set(o, "registers", regs);
    img_json_set(o, "devices", devices);
    img_json_set_uint(o, "page-size", d->page_size);
    img_json_set(o, "ram-pages", pages);
    img_json_set_uint(o, "cluster-size", d->cluster_size);
    img_json_set(o, "disk-clusters", clusters);
    img_json_print(o, stdout);
    img_json_free(o);
}

static void print_human(const char *path, const struct cat_diff *d)
{
    char size[32];

    printf("Snapshots '%s' (ID %s) and '%s' (ID %s) of %s\n", d->a.name,
           d->a.id, d->b.name, d->b.id, path);
    printf("Registers:\n");
    for (size_t i = 0; i < d->nb_regs; i++) {
        printf("  %-12s 0x%016" PRIx64 " -> 0x%016" PRIx64 "\n",
               d->regs[i].name, d->regs[i].a, d->regs[i].b);
    }
    if (!d->nb_regs) {
        printf("  none\n");
    }
    printf("Devices:");
    for (size_t i = 0; i < d->nb_devices; i++) {
        printf("%s%s", i ? ", " : " ", d->devices[i]);
    }
    printf("%s\n", d->nb_devices ? "" : " none");
    fmt_size(size, sizeof(size), d->page_size);
    printf("RAM pages (%s):", size);
    for (size_t i = 0; i < d->nb_pages; i++) {
        printf(" 0x%" PRIx64, d->pages[i]);
    }
    printf("%s\n", d->nb_pages ? "" : " none");
    fmt_size(size, sizeof(size), d->cluster_size);
    printf("Disk clusters (%s):", size);
    for (size_t i = 0; i < d->nb_clusters; i++) {
        printf(" 0x%" PRIx64, d->clusters[i]);
    }
    printf("%s\n", d->nb_clusters ? "" : " none");
}

static void snapshot_diff_usage(void)
{
    printf("usage: " IMG_PROG " snapshot-diff [-U] [--output=human|json] "
           "filename snapshot_a snapshot_b\n"
           "Show which registers, devices (vmstate sections), RAM pages and "
           "disk clusters\n"
           "differ between two internal snapshots saved by rrvm (an id or a "
           "tag each).\n");
}

int img_cmd_snapshot_diff(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, IMG_OPT_OUTPUT},
        {"force-share", no_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    enum img_output output = IMG_OUTPUT_HUMAN;
    unsigned flags = QCOW2_OPEN_RDONLY;
    struct qcow2_image *img_a = NULL, *img_b = NULL;
    struct cat_diff d;
    struct err err = {0, ""};
    const char *path;
    int c, ret = 1;

    memset(&d, 0, sizeof(d));
    optind = 1;
    while ((c = getopt_long(argc, argv, "+:hU", longopts, NULL)) != -1) {
        if (c == 'h') {
            snapshot_diff_usage();
            return 0;
        } else if (c == 'U') {
            flags |= QCOW2_OPEN_FORCE_SHARE;
        } else if (c == IMG_OPT_OUTPUT) {
            if (img_parse_output(optarg, &output) < 0) {
                return 1;
            }
        } else if (img_opt_common(c, argv, &ret)) {
            return ret;
        }
    }
    if (argc - optind != 3) {
        img_error_try("snapshot-diff: expecting an image file name and two "
                      "snapshots");
        return 1;
    }
    path = argv[optind];
    if (img_open(path, "qcow2", flags, &img_a) < 0 ||
        img_open(path, "qcow2", flags, &img_b) < 0) {
        goto out;
    }
    if (cat_snapshot_diff(img_a, img_b, argv[optind + 1], argv[optind + 2], &d,
                          &err) < 0) {
        img_error("%s", err.msg);
        goto out;
    }
    if (output == IMG_OUTPUT_JSON) {
        print_json(path, &d);
    } else {
        print_human(path, &d);
    }
    ret = 0;
out:
    cat_diff_fini(&d);
    qcow2_close(img_a);
    qcow2_close(img_b);
    return ret;
}
