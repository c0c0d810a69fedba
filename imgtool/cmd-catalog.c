/* SPDX-License-Identifier: MIT */
/*
 * imgtool/cmd-catalog.c - `rrvm-img catalog`: list and search the snapshot
 * catalog, label, mark, annotate, sync a directory, forget an image; and
 * the reconciliation `rrvm-img snapshot -c/-a/-d` runs after its change,
 * where a catalog problem is one warning, never a failure.
 */
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog/catalog.h"
#include "common/alloc.h"
#include "imgtool/img.h"

#define IMG_CAT_USAGE                                                          \
    "usage: " IMG_PROG " catalog [-catalog FILE] command [options]\n"          \
    "  list|search [--output=human|json] [--image=IMAGE] [--tag=GLOB]\n"       \
    "      [--label=LABEL] [--mark=good|bad] [--icount-min=N]"                 \
    " [--icount-max=N]\n"                                                      \
    "      [--since=DATE] [--until=DATE] [--no-sync]\n"                        \
    "  label [-d] IMAGE SNAPSHOT LABEL...\n"                                   \
    "  mark IMAGE SNAPSHOT good|bad|none\n"                                    \
    "  annotate IMAGE SNAPSHOT [TEXT]\n"                                       \
    "  sync [-q] DIR|IMAGE...\n"                                               \
    "  forget IMAGE...\n"                                                      \
    "  check\n"                                                                \
    "The catalog is -catalog FILE, else $RRVM_CATALOG, else\n"                 \
    "$XDG_DATA_HOME/rrvm/catalog.sqlite (~/.local/share/rrvm/...).\n"          \
    "SNAPSHOT is an ID or a tag; DATE is YYYY-MM-DD[ HH:MM[:SS]] (local\n"     \
    "time) or @SECONDS.\n"

enum img_cat_opt {
    IMG_CAT_OPT_IMAGE = 512,
    IMG_CAT_OPT_TAG,
    IMG_CAT_OPT_LABEL,
    IMG_CAT_OPT_MARK,
    IMG_CAT_OPT_ICOUNT_MIN,
    IMG_CAT_OPT_ICOUNT_MAX,
    IMG_CAT_OPT_SINCE,
    IMG_CAT_OPT_UNTIL,
    IMG_CAT_OPT_NO_SYNC,
    IMG_CAT_OPT_CATALOG,
};

/* Open the image at @path read-only, without a lock, for reconciling.
 * Returns 0, 1 (not a qcow2 image) or -errno. */
static int img_cat_image_open(const char *path, struct qcow2_image **out,
                              struct err *err)
{
    enum qcow2_format fmt;
    int ret = qcow2_probe(path, &fmt, err);

    if (ret < 0) {
        return ret;
    }
    if (fmt != QCOW2_FORMAT_QCOW2) {
        return 1;
    }
    return qcow2_open(path, QCOW2_FORMAT_QCOW2,
                      QCOW2_OPEN_RDONLY | QCOW2_OPEN_FORCE_SHARE |
                          QCOW2_OPEN_NO_BACKING,
                      out, err);
}

/* Reconcile the catalog with the image at @path. Returns 0, 1 (not a
 * qcow2 image, nothing done), or -errno with @err set. */
static int img_cat_reconcile_path(struct cat *cat, const char *path,
                                  struct err *err)
{
    struct qcow2_image *img = NULL;
    int ret = img_cat_image_open(path, &img, err);

    if (ret != 0) {
        return ret;
    }
    ret = cat_reconcile_image(cat, path, img, err);
    qcow2_close(img);
    return ret;
}

/* ---- the hook of `rrvm-img snapshot` ---- */

static bool img_cat_warned; /* one catalog warning per process */

static void img_cat_warn(const char *what, const struct err *err)
{
    if (img_cat_warned) {
        return;
    }
    img_cat_warned = true;
    fflush(stdout);
    fprintf(stderr, IMG_PROG ": warning: snapshot catalog %s: %s\n", what,
            err->msg[0] ? err->msg : "unknown error");
}

void img_catalog_after_snapshot(const char *filename)
{
    struct cat *cat = NULL;
    struct err err = {0};
    int ret;

    ret = cat_open(NULL, &cat, &err);
    if (ret < 0) {
        img_cat_warn("not updated", &err);
        return;
    }
    ret = img_cat_reconcile_path(cat, filename, &err);
    if (ret < 0) {
        err_prefix(&err, "%s", cat_path(cat));
        img_cat_warn("not updated", &err);
    }
    cat_close(cat);
}

/* ---- argument helpers ---- */

static int img_cat_parse_mark(const char *s, enum cat_mark *out, bool none_ok)
{
    if (!strcmp(s, "good")) {
        *out = CAT_MARK_GOOD;
    } else if (!strcmp(s, "bad")) {
        *out = CAT_MARK_BAD;
    } else if (none_ok && !strcmp(s, "none")) {
        *out = CAT_MARK_NONE;
    } else {
        img_error("Invalid mark '%s': expected good, bad%s", s,
                  none_ok ? " or none" : "");
        return -1;
    }
    return 0;
}

static const char *img_cat_mark_name(enum cat_mark m)
{
    switch (m) {
    case CAT_MARK_GOOD:
        return "good";
    case CAT_MARK_BAD:
        return "bad";
    default:
        return "";
    }
}

/* DATE as seconds since the epoch; @end_of_day for a bare --until day. */
static int img_cat_parse_date(const char *opt, const char *s, bool end_of_day,
                              int64_t *out)
{
    static const char *const formats[] = {
        "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",    "%Y-%m-%d",
    };
    unsigned long secs;
    size_t i;

    if (s[0] == '@' && img_strtoul(s + 1, &secs) == 0) {
        *out = (int64_t)secs;
        return 0;
    }
    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        struct tm tm = {0};
        const char *end = strptime(s, formats[i], &tm);
        time_t t;

        if (!end || *end) {
            continue;
        }
        tm.tm_isdst = -1;
        if (end_of_day && i == 4) {
            tm.tm_hour = 23;
            tm.tm_min = 59;
            tm.tm_sec = 59;
        }
        t = mktime(&tm);
        if (t == (time_t)-1) {
            break;
        }
        *out = (int64_t)t;
        return 0;
    }
    img_error("Invalid %s '%s': expected YYYY-MM-DD[ HH:MM[:SS]] or "
              "@SECONDS",
              opt, s);
    return -1;
}

static int img_cat_parse_count(const char *opt, const char *s, uint64_t *out)
{
    unsigned long v;

    if (img_strtoul(s, &v) < 0 || v > INT64_MAX) {
        img_error("Invalid %s '%s': expected a count", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- list / search ---- */

/* The MARK and LABELS columns, without trailing blanks. */
static void img_cat_human_tail(const char *mark, const char *labels)
{
    if (labels[0]) {
        printf(" %-4s %s\n", mark, labels);
    } else if (mark[0]) {
        printf(" %s\n", mark);
    } else {
        putchar('\n');
    }
}

static void img_cat_human(const struct cat_snapshot_list *l)
{
    const char *image = NULL;
    size_t i;

    for (i = 0; i < l->n; i++) {
        const struct cat_snapshot *s = &l->v[i];
        struct qcow2_snapshot_info sn = {0};

        if (!image || strcmp(image, s->image) != 0) {
            if (image) {
                putchar('\n');
            }
            image = s->image;
            printf("Image: %s%s\n", s->image,
                   s->image_missing ? " (missing)" : "");
            img_snapshot_line_print(NULL);
            img_cat_human_tail("MARK", "LABELS");
        }
        sn.id = s->id;
        sn.name = s->tag;
        sn.vm_state_size = s->vm_size;
        sn.date_sec = s->date_sec;
        sn.date_nsec = s->date_nsec;
        sn.vm_clock_nsec = s->vm_clock_nsec;
        sn.icount = s->icount;
        img_snapshot_line_print(&sn);
        img_cat_human_tail(img_cat_mark_name(s->mark), s->labels);
        if (s->note) {
            printf("          note: %s\n", s->note);
        }
    }
}

static void img_cat_json_opt_str(struct img_json *o, const char *key,
                                 const char *v)
{
    if (v) {
        img_json_set_str(o, key, v);
    }
}

static void img_cat_json(const struct cat_snapshot_list *l)
{
    struct img_json *a = img_json_array();
    size_t i;

    for (i = 0; i < l->n; i++) {
        const struct cat_snapshot *s = &l->v[i];
        struct img_json *o = img_json_object();
        struct img_json *labels = img_json_array();
        const char *p = s->labels;

        img_json_set_str(o, "image", s->image);
        img_json_set_bool(o, "image-missing", s->image_missing);
        img_json_set_str(o, "id", s->id);
        img_json_set_str(o, "name", s->tag);
        img_json_set_uint(o, "vm-state-size", s->vm_size);
        img_json_set_int(o, "date-sec", s->date_sec);
        img_json_set_int(o, "date-nsec", s->date_nsec);
        img_json_set_int(o, "vm-clock-sec",
                         (int64_t)(s->vm_clock_nsec / 1000000000ull));
        img_json_set_int(o, "vm-clock-nsec",
                         (int64_t)(s->vm_clock_nsec % 1000000000ull));
        if (s->icount != UINT64_MAX) {
            img_json_set_uint(o, "icount", s->icount);
        }
        img_json_set_uint(o, "disk-size", s->disk_size);
        img_json_set_int(o, "row", s->row);
        if (s->parent_row) {
            img_json_set_int(o, "parent-row", s->parent_row);
        }
        img_cat_json_opt_str(o, "state-hash", s->state_hash);
        img_cat_json_opt_str(o, "config-fingerprint", s->config_fp);
        img_cat_json_opt_str(o, "recording", s->recording);
        if (s->mark != CAT_MARK_NONE) {
            img_json_set_str(o, "mark", img_cat_mark_name(s->mark));
        }
        img_cat_json_opt_str(o, "note", s->note);
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            char *one = mem_alloc(len + 1);

            if (!one) {
                img_oom();
            }
            memcpy(one, p, len);
            one[len] = '\0';
            img_json_append(labels, img_json_str(one));
            mem_free(one);
            p += len + (comma ? 1 : 0);
        }
        img_json_set(o, "labels", labels);
        img_json_append(a, o);
    }
    img_json_print(a, stdout);
    img_json_free(a);
}

/* Reconcile every image the catalog knows; missing ones are marked. A
 * failure is a warning: the listing goes on with what the catalog has. */
static void img_cat_sync_known(struct cat *cat)
{
    char **paths = NULL;
    struct err err = {0};
    size_t i, n = 0;

    if (cat_image_paths(cat, &paths, &n, &err) < 0) {
        img_error("warning: %s", err.msg);
        return;
    }
    for (i = 0; i < n; i++) {
        struct stat sb;
        int ret;

        err_clear(&err);
        if (stat(paths[i], &sb) < 0) {
            cat_image_missing(cat, paths[i], NULL);
            continue;
        }
        ret = img_cat_reconcile_path(cat, paths[i], &err);
        if (ret < 0) {
            img_error("warning: %s: %s", paths[i], err.msg);
        }
    }
    cat_strings_free(paths, n);
}

static const struct option img_cat_list_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"output", required_argument, NULL, IMG_OPT_OUTPUT},
    {"image", required_argument, NULL, IMG_CAT_OPT_IMAGE},
    {"tag", required_argument, NULL, IMG_CAT_OPT_TAG},
    {"label", required_argument, NULL, IMG_CAT_OPT_LABEL},
    {"mark", required_argument, NULL, IMG_CAT_OPT_MARK},
    {"icount-min", required_argument, NULL, IMG_CAT_OPT_ICOUNT_MIN},
    {"icount-max", required_argument, NULL, IMG_CAT_OPT_ICOUNT_MAX},
    {"since", required_argument, NULL, IMG_CAT_OPT_SINCE},
    {"until", required_argument, NULL, IMG_CAT_OPT_UNTIL},
    {"no-sync", no_argument, NULL, IMG_CAT_OPT_NO_SYNC},
    {NULL, 0, NULL, 0},
};

static int img_cat_list(struct cat *cat, int argc, char **argv)
{
    enum img_output output = IMG_OUTPUT_HUMAN;
    struct cat_snapshot_list l = {0};
    struct cat_filter f = {0};
    struct err err = {0};
    bool sync = true;
    int ret = 1;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", img_cat_list_longopts, NULL)) !=
           -1) {
        switch (c) {
        case IMG_OPT_OUTPUT:
            if (img_parse_output(optarg, &output) < 0) {
                return 1;
            }
            break;
        case IMG_CAT_OPT_IMAGE:
            f.image = optarg;
            break;
        case IMG_CAT_OPT_TAG:
            f.tag = optarg;
            break;
        case IMG_CAT_OPT_LABEL:
            f.label = optarg;
            break;
        case IMG_CAT_OPT_MARK:
            if (img_cat_parse_mark(optarg, &f.mark, false) < 0) {
                return 1;
            }
            break;
        case IMG_CAT_OPT_ICOUNT_MIN:
            if (img_cat_parse_count("--icount-min", optarg, &f.icount_min)) {
                return 1;
            }
            f.have_icount_min = true;
            break;
        case IMG_CAT_OPT_ICOUNT_MAX:
            if (img_cat_parse_count("--icount-max", optarg, &f.icount_max)) {
                return 1;
            }
            f.have_icount_max = true;
            break;
        case IMG_CAT_OPT_SINCE:
            if (img_cat_parse_date("--since", optarg, false, &f.date_min)) {
                return 1;
            }
            f.have_date_min = true;
            break;
        case IMG_CAT_OPT_UNTIL:
            if (img_cat_parse_date("--until", optarg, true, &f.date_max)) {
                return 1;
            }
            f.have_date_max = true;
            break;
        case IMG_CAT_OPT_NO_SYNC:
            sync = false;
            break;
        case 'h':
            fputs(IMG_CAT_USAGE, stdout);
            return 0;
        default:
            if (img_opt_common(c, argv, &ret)) {
                return ret;
            }
            break;
        }
    }
    if (optind != argc) {
        img_error_try("catalog %s: unexpected argument '%s'", argv[0],
                      argv[optind]);
        return 1;
    }
    if (sync) {
        img_cat_sync_known(cat);
    }
    if (cat_query(cat, &f, &l, &err) < 0) {
        img_error("%s: %s", cat_path(cat), err.msg);
        return 1;
    }
    if (output == IMG_OUTPUT_JSON) {
        img_cat_json(&l);
    } else {
        img_cat_human(&l);
    }
    cat_snapshot_list_fini(&l);
    return 0;
}

/* ---- edits ---- */

/* Bring the catalog up to date with @image when it can be read, so a
 * snapshot made by another tool can be labelled at once. */
static void img_cat_refresh(struct cat *cat, const char *image)
{
    struct err err = {0};
    struct stat sb;

    if (stat(image, &sb) == 0 && img_cat_reconcile_path(cat, image, &err) < 0) {
        img_error("warning: %s: %s", image, err.msg);
    }
}

static int img_cat_label(struct cat *cat, int argc, char **argv)
{
    bool remove = false;
    struct err err = {0};
    int ret = 1;
    int i, c;

    optind = 1;
    while ((c = getopt(argc, argv, "+:dh")) != -1) {
        if (c == 'd') {
            remove = true;
        } else if (c == 'h') {
            fputs(IMG_CAT_USAGE, stdout);
            return 0;
        } else if (img_opt_common(c, argv, &ret)) {
            return ret;
        }
    }
    if (argc - optind < 3) {
        img_error_try("catalog label: expecting IMAGE SNAPSHOT LABEL...");
        return 1;
    }
    img_cat_refresh(cat, argv[optind]);
    for (i = optind + 2; i < argc; i++) {
        err_clear(&err);
        ret = remove ? cat_label_remove(cat, argv[optind], argv[optind + 1],
                                        argv[i], &err)
                     : cat_label_add(cat, argv[optind], argv[optind + 1],
                                     argv[i], &err);
        if (ret < 0) {
            img_error("%s", err.msg);
            return 1;
        }
    }
    return 0;
}

static int img_cat_mark(struct cat *cat, int argc, char **argv)
{
    enum cat_mark mark;
    struct err err = {0};

    if (argc != 4) {
        img_error_try("catalog mark: expecting IMAGE SNAPSHOT good|bad|none");
        return 1;
    }
    if (img_cat_parse_mark(argv[3], &mark, true) < 0) {
        return 1;
    }
    img_cat_refresh(cat, argv[1]);
    if (cat_mark_set(cat, argv[1], argv[2], mark, &err) < 0) {
        img_error("%s", err.msg);
        return 1;
    }
    return 0;
}

static int img_cat_annotate(struct cat *cat, int argc, char **argv)
{
    struct err err = {0};

    if (argc != 3 && argc != 4) {
        img_error_try("catalog annotate: expecting IMAGE SNAPSHOT [TEXT]");
        return 1;
    }
    img_cat_refresh(cat, argv[1]);
    if (cat_annotate(cat, argv[1], argv[2], argc == 4 ? argv[3] : NULL, &err) <
        0) {
        img_error("%s", err.msg);
        return 1;
    }
    return 0;
}

/* ---- sync / forget / check ---- */

/* Reconcile one file found by sync; prints one line unless @quiet. */
static int img_cat_sync_file(struct cat *cat, const char *path, bool quiet,
                             bool named)
{
    struct cat_snapshot_list l = {0};
    struct cat_filter f = {0};
    struct err err = {0};
    int ret = img_cat_reconcile_path(cat, path, &err);

    if (ret == 1) {
        if (named) {
            img_error("%s: not a qcow2 image", path);
            return -1;
        }
        return 0;
    }
    if (ret < 0) {
        img_error("%s: %s", path, err.msg);
        return -1;
    }
    f.image = path;
    if (!quiet && cat_query(cat, &f, &l, &err) >= 0) {
        printf("%s: %zu snapshot%s\n", path, l.n, l.n == 1 ? "" : "s");
    }
    cat_snapshot_list_fini(&l);
    return 0;
}

static int img_cat_sync_dir(struct cat *cat, const char *dir, bool quiet)
{
    struct dirent **ents = NULL;
    char **known = NULL;
    size_t nknown = 0, dlen;
    int failed = 0;
    char *absdir;
    int i, n;

    n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) {
        img_error("Could not read directory '%s': %s", dir, strerror(errno));
        return -1;
    }
    for (i = 0; i < n; i++) {
        char path[4096];
        struct stat sb;

        if (ents[i]->d_name[0] != '.' &&
            snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name) <
                (int)sizeof(path) &&
            stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
            img_cat_sync_file(cat, path, quiet, false) < 0) {
            failed = 1;
        }
        free(ents[i]);
    }
    free(ents);
    /* Images the catalog placed in @dir that are gone: missing, kept (a
     * later sync may find them moved). */
    absdir = realpath(dir, NULL);
    if (absdir && cat_image_paths(cat, &known, &nknown, NULL) == 0) {
        size_t k;

        dlen = strlen(absdir);
        for (k = 0; k < nknown; k++) {
            struct stat sb;

            if (!strncmp(known[k], absdir, dlen) && known[k][dlen] == '/' &&
                !strchr(known[k] + dlen + 1, '/') && stat(known[k], &sb) < 0) {
                cat_image_missing(cat, known[k], NULL);
            }
        }
        cat_strings_free(known, nknown);
    }
    free(absdir);
    return failed ? -1 : 0;
}

static int img_cat_sync(struct cat *cat, int argc, char **argv)
{
    bool quiet = false;
    int ret = 1;
    int failed = 0;
    int i, c;

    optind = 1;
    while ((c = getopt(argc, argv, "+:qh")) != -1) {
        if (c == 'q') {
            quiet = true;
        } else if (c == 'h') {
            fputs(IMG_CAT_USAGE, stdout);
            return 0;
        } else if (img_opt_common(c, argv, &ret)) {
            return ret;
        }
    }
    if (optind == argc) {
        img_error_try("catalog sync: expecting a directory or image");
        return 1;
    }
    for (i = optind; i < argc; i++) {
        struct stat sb;

        if (stat(argv[i], &sb) < 0) {
            img_error("Could not open '%s': %s", argv[i], strerror(errno));
            failed = 1;
        } else if (S_ISDIR(sb.st_mode)) {
            failed |= img_cat_sync_dir(cat, argv[i], quiet) < 0;
        } else {
            failed |= img_cat_sync_file(cat, argv[i], quiet, true) < 0;
        }
    }
    return failed;
}

static int img_cat_forget(struct cat *cat, int argc, char **argv)
{
    struct err err = {0};
    int i;

    if (argc < 2) {
        img_error_try("catalog forget: expecting IMAGE...");
        return 1;
    }
    for (i = 1; i < argc; i++) {
        err_clear(&err);
        if (cat_forget_image(cat, argv[i], &err) < 0) {
            img_error("%s", err.msg);
            return 1;
        }
    }
    return 0;
}

static int img_cat_check(struct cat *cat, int argc, char **argv)
{
    struct err err = {0};

    if (argc != 1) {
        img_error_try("catalog check: unexpected argument '%s'", argv[1]);
        return 1;
    }
    if (cat_check(cat, &err) < 0) {
        img_error("%s: %s", cat_path(cat), err.msg);
        return 1;
    }
    printf("No errors were found in the catalog.\n");
    return 0;
}

struct img_cat_command {
    const char *name;
    int (*fn)(struct cat *cat, int argc, char **argv);
};

static const struct img_cat_command img_cat_commands[] = {
    {"list", img_cat_list},         {"search", img_cat_list},
    {"label", img_cat_label},       {"mark", img_cat_mark},
    {"annotate", img_cat_annotate}, {"sync", img_cat_sync},
    {"forget", img_cat_forget},     {"check", img_cat_check},
};

int img_cmd_catalog(int argc, char **argv)
{
    const struct img_cat_command *cmd = NULL;
    const char *file = NULL;
    struct cat *cat = NULL;
    struct err err = {0};
    size_t k;
    int i = 1;
    int ret;

    /* Options before the subcommand: -catalog FILE (QEMU's one-dash
     * style), --catalog FILE, --catalog=FILE, -h. */
    while (i < argc && argv[i][0] == '-') {
        if (!strcmp(argv[i], "-catalog") || !strcmp(argv[i], "--catalog")) {
            if (i + 1 >= argc) {
                img_error_try("missing argument for option '%s'", argv[i]);
                return 1;
            }
            file = argv[i + 1];
            i += 2;
        } else if (!strncmp(argv[i], "--catalog=", 10)) {
            file = argv[i] + 10;
            i++;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(IMG_CAT_USAGE, stdout);
            return 0;
        } else {
            img_error_try("unrecognized option '%s'", argv[i]);
            return 1;
        }
    }
    if (i >= argc) {
        img_error_try("catalog: expecting a command (list, search, label, "
                      "mark, annotate, sync, forget, check)");
        return 1;
    }
    for (k = 0; k < sizeof(img_cat_commands) / sizeof(img_cat_commands[0]);
         k++) {
        if (!strcmp(argv[i], img_cat_commands[k].name)) {
            cmd = &img_cat_commands[k];
        }
    }
    if (!cmd) {
        img_error_try("catalog: unknown command '%s'", argv[i]);
        return 1;
    }
    if (file && !file[0]) {
        img_error("-catalog needs a file name");
        return 1;
    }
    ret = cat_open(file, &cat, &err);
    if (ret < 0) {
        img_error("Could not open the snapshot catalog: %s", err.msg);
        return 1;
    }
    ret = cmd->fn(cat, argc - i, argv + i);
    cat_close(cat);
    return ret;
}
