/* SPDX-License-Identifier: MIT */
/*
 * imgtool/cmd-check.c - `rrvm-img check` and `rrvm-img snapshot`, with
 * qemu-img's summaries, JSON and exit codes (check: 0 clean, 1 could not
 * check, 2 corruptions, 3 leaks only, 63 format has no check).
 */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <sys/time.h>

#include "common/alloc.h"
#include "imgtool/img.h"

static void img_check_report(void *opaque, const char *line)
{
    fflush(stdout);
    fprintf(stderr, "%s\n", line);
}

static void img_check_human(const struct qcow2_check_result *r)
{
    if (!(r->corruptions || r->leaks || r->check_errors)) {
        printf("No errors were found on the image.\n");
    } else {
        if (r->corruptions) {
            printf("\n%d errors were found on the image.\n"
                   "Data may be corrupted, or further writes to the image "
                   "may corrupt it.\n",
                   r->corruptions);
        }
        if (r->leaks) {
            printf("\n%d leaked clusters were found on the image.\n"
                   "This means waste of disk space, but no harm to data.\n",
                   r->leaks);
        }
        if (r->check_errors) {
            printf("\n%d internal errors have occurred during the check.\n",
                   r->check_errors);
        }
    }
    if (r->total_clusters != 0 && r->allocated_clusters != 0) {
        printf("%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, %0.2f%% "
               "fragmented, %0.2f%% compressed clusters\n",
               r->allocated_clusters, r->total_clusters,
               (double)r->allocated_clusters * 100.0 /
                   (double)r->total_clusters,
               (double)r->fragmented_clusters * 100.0 /
                   (double)r->allocated_clusters,
               (double)r->compressed_clusters * 100.0 /
                   (double)r->allocated_clusters);
    }
    if (r->image_end_offset) {
        printf("Image end offset: %" PRIu64 "\n", r->image_end_offset);
    }
}

static void img_check_json(const struct qcow2_check_result *r,
                           const char *filename, const char *format)
{
    struct img_json *o = img_json_object();

    img_json_set_str(o, "filename", filename);
    img_json_set_str(o, "format", format);
    img_json_set_int(o, "check-errors", r->check_errors);
    if (r->corruptions) {
        img_json_set_int(o, "corruptions", r->corruptions);
    }
    if (r->leaks) {
        img_json_set_int(o, "leaks", r->leaks);
    }
    if (r->corruptions_fixed) {
        img_json_set_int(o, "corruptions-fixed", r->corruptions_fixed);
    }
    if (r->leaks_fixed) {
        img_json_set_int(o, "leaks-fixed", r->leaks_fixed);
    }
    if (r->image_end_offset) {
        img_json_set_uint(o, "image-end-offset", r->image_end_offset);
    }
    if (r->total_clusters) {
        img_json_set_uint(o, "total-clusters", r->total_clusters);
    }
    if (r->allocated_clusters) {
        img_json_set_uint(o, "allocated-clusters", r->allocated_clusters);
    }
    if (r->fragmented_clusters) {
        img_json_set_uint(o, "fragmented-clusters", r->fragmented_clusters);
    }
    if (r->compressed_clusters) {
        img_json_set_uint(o, "compressed-clusters", r->compressed_clusters);
    }
    img_json_print(o, stdout);
    img_json_free(o);
}

static const struct option img_check_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"format", required_argument, NULL, 'f'},
    {"repair", required_argument, NULL, 'r'},
    {"output", required_argument, NULL, IMG_OPT_OUTPUT},
    {"object", required_argument, NULL, IMG_OPT_OBJECT},
    {"image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS},
    {"force-share", no_argument, NULL, 'U'},
    {NULL, 0, NULL, 0},
};

int img_cmd_check(int argc, char **argv)
{
    enum img_output output = IMG_OUTPUT_HUMAN;
    struct qcow2_check_result res;
    struct qcow2_image *img = NULL;
    struct err err = {0};
    const char *fmt = NULL;
    const char *filename;
    unsigned repair = 0;
    unsigned flags = QCOW2_OPEN_CHECK | QCOW2_OPEN_NO_REPAIR;
    unsigned cflags;
    bool force_share = false;
    bool quiet = false;
    int ret = 1;
    int rc;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":hf:r:T:qU", img_check_longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'f':
            fmt = optarg;
            break;
        case 'r':
            if (!strcmp(optarg, "leaks")) {
                repair = QCOW2_REPAIR_LEAKS;
            } else if (!strcmp(optarg, "all")) {
                repair = QCOW2_REPAIR_LEAKS | QCOW2_REPAIR_ERRORS;
            } else {
                img_error_try("Unknown option value for -r (expecting "
                              "'leaks' or 'all'): %s",
                              optarg);
                return 1;
            }
            break;
        case 'T':
            if (img_opt_cache(optarg, true, &cflags) < 0) {
                return 1;
            }
            flags |= cflags;
            break;
        case 'q':
            quiet = true;
            break;
        case 'U':
            force_share = true;
            break;
        case IMG_OPT_OUTPUT:
            if (img_parse_output(optarg, &output) < 0) {
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
    filename = img_one_filename(argc, argv);
    if (!filename) {
        return 1;
    }
    if (!repair) {
        flags |= QCOW2_OPEN_RDONLY;
    }
    if (force_share) {
        flags |= QCOW2_OPEN_FORCE_SHARE;
    }
    if (img_open(filename, fmt, flags, &img) < 0) {
        return 1;
    }
    memset(&res, 0, sizeof(res));
    rc = qcow2_check(img, repair, img_check_report, NULL, &res, &err);
    if (rc == -ENOTSUP) {
        img_error("This image format does not support checks");
        ret = 63;
        goto out;
    }
    if (rc == 0 && (res.corruptions_fixed || res.leaks_fixed) &&
        output == IMG_OUTPUT_HUMAN && !quiet) {
        printf("The following inconsistencies were found and repaired:\n\n"
               "    %d leaked clusters\n"
               "    %d corruptions\n\n"
               "Double checking the fixed image now...\n",
               res.leaks_fixed, res.corruptions_fixed);
    }
    if (rc == 0 && !quiet) {
        if (output == IMG_OUTPUT_HUMAN) {
            img_check_human(&res);
        } else {
            img_check_json(&res, filename,
                           img_format_name(qcow2_format_of(img)));
        }
    }
    if (rc < 0 || res.check_errors) {
        if (rc < 0) {
            img_error("Check failed: %s", strerror(-rc));
        } else {
            img_error("Check failed");
        }
        ret = 1;
        goto out;
    }
    if (res.corruptions) {
        ret = 2;
    } else if (res.leaks) {
        ret = 3;
    } else {
        ret = 0;
    }
out:
    qcow2_close(img);
    return ret;
}

/* ---- snapshot ---- */

enum img_snap_action {
    IMG_SNAP_NONE,
    IMG_SNAP_LIST,
    IMG_SNAP_APPLY,
    IMG_SNAP_CREATE,
    IMG_SNAP_DELETE,
};

static const struct option img_snapshot_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"object", required_argument, NULL, IMG_OPT_OBJECT},
    {"image-opts", no_argument, NULL, IMG_OPT_IMAGE_OPTS},
    {"force-share", no_argument, NULL, 'U'},
    {NULL, 0, NULL, 0},
};

/* qemu-img deletes by name only: find the id of the first @name. */
static char *img_snapshot_id_by_name(struct qcow2_image *img, const char *name)
{
    size_t cnt = qcow2_snapshot_list(img, NULL, 0);
    struct qcow2_snapshot_info *sn;
    char *id = NULL;
    size_t i, n;

    if (cnt == 0) {
        return NULL;
    }
    sn = mem_calloc(cnt, sizeof(*sn));
    if (!sn) {
        img_oom();
    }
    n = qcow2_snapshot_list(img, sn, cnt);
    for (i = 0; i < n && i < cnt; i++) {
        if (!strcmp(sn[i].name, name)) {
            id = mem_strdup(sn[i].id);
            if (!id) {
                img_oom();
            }
            break;
        }
    }
    mem_free(sn);
    return id;
}

int img_cmd_snapshot(int argc, char **argv)
{
    enum img_snap_action action = IMG_SNAP_NONE;
    struct qcow2_image *img = NULL;
    struct err err = {0};
    const char *name = NULL;
    const char *filename;
    unsigned flags = 0;
    bool force_share = false;
    int ret = 1;
    int rc;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":la:c:d:hqU", img_snapshot_longopts,
                            NULL)) != -1) {
        enum img_snap_action a = IMG_SNAP_NONE;

        switch (c) {
        case 'l':
            a = IMG_SNAP_LIST;
            break;
        case 'a':
            a = IMG_SNAP_APPLY;
            break;
        case 'c':
            a = IMG_SNAP_CREATE;
            break;
        case 'd':
            a = IMG_SNAP_DELETE;
            break;
        case 'q':
            break;
        case 'U':
            force_share = true;
            break;
        default:
            if (img_opt_common(c, argv, &ret)) {
                return ret;
            }
            break;
        }
        if (a != IMG_SNAP_NONE) {
            if (action != IMG_SNAP_NONE) {
                img_error_try("Cannot mix '-l', '-a', '-c', '-d'");
                return 1;
            }
            action = a;
            if (a != IMG_SNAP_LIST) {
                name = optarg;
            }
        }
    }
    filename = img_one_filename(argc, argv);
    if (!filename) {
        return 1;
    }
    if (action == IMG_SNAP_LIST || action == IMG_SNAP_NONE) {
        flags |= QCOW2_OPEN_RDONLY;
        if (force_share) {
            flags |= QCOW2_OPEN_FORCE_SHARE;
        }
    } else if (force_share) {
        flags |= QCOW2_OPEN_FORCE_SHARE;
    }
    if (img_open(filename, NULL, flags, &img) < 0) {
        return 1;
    }
    switch (action) {
    case IMG_SNAP_LIST:
        img_snapshot_list_print(img);
        break;
    case IMG_SNAP_CREATE: {
        struct qcow2_snapshot_params p = {0};
        struct timeval tv;

        gettimeofday(&tv, NULL);
        p.name = name;
        p.date_sec = (uint32_t)tv.tv_sec;
        p.date_nsec = (uint32_t)tv.tv_usec * 1000u;
        p.icount = 0;
        rc = qcow2_snapshot_create(img, &p, &err);
        if (rc < 0) {
            img_error("Could not create snapshot '%s': %d (%s)", name, rc,
                      strerror(-rc));
            goto out;
        }
        break;
    }
    case IMG_SNAP_APPLY:
        rc = qcow2_snapshot_apply(img, name, &err);
        if (rc < 0) {
            img_error("Could not apply snapshot '%s': Failed to load "
                      "snapshot: %s",
                      name, strerror(-rc));
            goto out;
        }
        break;
    case IMG_SNAP_DELETE: {
        char *id = img_snapshot_id_by_name(img, name);

        if (!id) {
            img_error("Could not delete snapshot '%s': snapshot not found",
                      name);
            goto out;
        }
        rc = qcow2_snapshot_delete(img, id, &err);
        mem_free(id);
        if (rc < 0) {
            img_error("Could not delete snapshot '%s': %s", name,
                      err.msg[0] ? err.msg : strerror(-rc));
            goto out;
        }
        break;
    }
    case IMG_SNAP_NONE:
        break;
    }
    ret = 0;
out:
    rc = qcow2_close(img);
    if (rc < 0 && ret == 0) {
        img_error("Error while closing the image: %s", strerror(-rc));
        ret = 1;
    }
    /* The image is durable and closed: the catalog follows it. */
    if (ret == 0 && action != IMG_SNAP_LIST && action != IMG_SNAP_NONE) {
        img_catalog_after_snapshot(filename);
    }
    return ret;
}
