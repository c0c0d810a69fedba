/* SPDX-License-Identifier: MIT */
/*
 * imgtool/img.h - internals shared by the rrvm-img source files: option and
 * size parsing with qemu-img's error texts, image opening, the progress
 * line, human-readable sizes and a JSON writer that orders object keys the
 * way QEMU's QDict does, so --output=json matches qemu-img byte for byte.
 */
#ifndef IMGTOOL_IMG_H
#define IMGTOOL_IMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "qcow2/qcow2.h"

#define IMG_PROG    "rrvm-img"
#define IMG_VERSION "0.1.0"

/* Long-only option codes shared by the commands (above any char). */
enum img_longopt {
    IMG_OPT_OUTPUT = 256,
    IMG_OPT_BACKING_CHAIN,
    IMG_OPT_IMAGE_OPTS,
    IMG_OPT_OBJECT,
    IMG_OPT_FORCE_SHARE,
    IMG_OPT_SHRINK,
    IMG_OPT_PREALLOC,
    IMG_OPT_START_OFFSET,
    IMG_OPT_MAX_LENGTH,
    IMG_OPT_SIZE,
    IMG_OPT_PATTERN,
    IMG_OPT_FLUSH_INTERVAL,
    IMG_OPT_NO_DRAIN,
    IMG_OPT_TARGET_IS_ZERO,
    IMG_OPT_TARGET_IMAGE_OPTS,
    IMG_OPT_SALVAGE,
    IMG_OPT_BITMAPS,
    IMG_OPT_FORCE,
    IMG_OPT_HELP,
};

enum img_output {
    IMG_OUTPUT_HUMAN = 0,
    IMG_OUTPUT_JSON = 1,
};

/* ---- main.c ---- */

/* "rrvm-img: <msg>" on stderr. */
void img_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* img_error() plus "Try 'rrvm-img --help' for more information". */
void img_error_try(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the full help and exit 0 (qemu-img's -h in any command). */
void img_help(void) __attribute__((noreturn));
/* Out of memory in the tool: one line, exit 1. */
void img_oom(void) __attribute__((noreturn));
/* getopt's '?' and ':' cases, with qemu-img's texts. Return 1. */
int img_bad_option(char **argv, int optind_now);
int img_missing_arg(char **argv, int optind_now);
/* --image-opts / --object: refused with one line. Returns 1. */
int img_refuse_opt(const char *opt);

/* ---- img-util.c ---- */

/*
 * The getopt results every command handles alike: ':' and '?' (qemu-img's
 * messages), -h (help, exit 0), --object and --image-opts (refused).
 * Returns true when @c was one of them, with *@status the exit status to
 * return; false for the command's own options (*@status untouched).
 */
bool img_opt_common(int c, char **argv, int *status);
/* The one image file name left after the options, or NULL after printing
 * qemu-img's "Expecting one image file name". */
const char *img_one_filename(int argc, char **argv);
/* Parse --output: "human" or "json", else print qemu-img's error. Returns
 * 0 or -1. */
int img_parse_output(const char *s, enum img_output *out);
/* Parse -t (@src false) or -T (@src true) into *@flags, printing qemu-img's
 * "Invalid [source ]cache option" on failure. Returns 0 or -1. */
int img_opt_cache(const char *arg, bool src, unsigned *flags);

/*
 * qemu_strtosz(): decimal (or 0x hex) with an optional fraction and one of
 * the suffixes b B k K m M g G t T p P e E. Returns 0, -EINVAL or -ERANGE.
 */
int img_strtosz(const char *s, uint64_t *out);
/*
 * qemu-img's cvtnum_full(): parse @s, printing "Invalid @name specified..."
 * on failure. Returns 0 or -1.
 */
int img_cvtnum(const char *name, const char *s, int64_t min, int64_t max,
               int64_t *out);
/* qemu_strtoul(s, NULL, 0, ...) with the whole string consumed. */
int img_strtoul(const char *s, unsigned long *out);
/* @len bytes aligned for O_DIRECT (4 KiB); *@base is what to mem_free().
 * NULL on allocation failure. */
void *img_alloc_aligned(size_t len, void **base);
/* Map a cache mode to QCOW2_OPEN_* flags. Returns 0 or -EINVAL. */
int img_cache_flags(const char *mode, unsigned *flags);
/* Parse "qcow2"/"raw". Returns 0 or -EINVAL. */
int img_format_parse(const char *name, enum qcow2_format *out);
const char *img_format_name(enum qcow2_format f);

/*
 * Open @path as @fmt (NULL: probe). Prints qemu-img's error on failure.
 * @writable_probe_warn prints the raw-probing WARNING for read-write opens.
 * Returns 0 or -1.
 */
int img_open(const char *path, const char *fmt, unsigned flags,
             struct qcow2_image **out);
/* The error line for a failed qcow2_open() with @flags, as qemu-img
 * words it. */
void img_open_error(const char *path, int ret, const struct err *err,
                    unsigned flags);

/*
 * Before a create truncates @path: refuse (printing "@prefixFailed to get
 * "write" lock" as qemu-img) when another process holds the file open.
 * Returns 0 or -1.
 */
int img_target_check(const char *path, const char *prefix);

/* Resolve a backing name the way QEMU does: relative to the directory of
 * @image_path unless absolute. Returns a new string (mem_free) or NULL. */
char *img_backing_path(const char *image_path, const char *backing);

/* "-o a=b,c=d" split into pairs; ",," escapes a comma. */
struct img_kv {
    char *key;
    char *val; /* NULL when given without '=' */
};
struct img_kvlist {
    struct img_kv *v;
    size_t n;
};
/* Append the pairs of @s to @l. Returns 0 or -ENOMEM. */
int img_kv_parse(struct img_kvlist *l, const char *s);
/* Last value of @key (NULL if absent); *@found tells whether present. */
const char *img_kv_get(const struct img_kvlist *l, const char *key,
                       bool *found);
/* Is "help" or "?" among the keys of @l given without a value (-o help)? */
bool img_kv_has_help(const struct img_kvlist *l);
void img_kv_fini(struct img_kvlist *l);
/* Parse "on"/"off" for -o @key. Returns 0 or -1 (message printed with
 * @prefix, e.g. "file: "). */
int img_parse_bool(const char *prefix, const char *key, const char *val,
                   bool *out);

/* Progress line: "    (NN.NN/100%)\r" on stdout, as qemu-progress.c. */
void img_progress_init(bool enabled, float min_skip);
void img_progress_print(float delta, int max);
void img_progress_end(void);

/* -l of convert and measure: make the read-only @img read as it was at the
 * snapshot @param names (ID_OR_NAME, or snapshot.id=,snapshot.name=), as
 * qemu-img's bdrv_snapshot_load_tmp(). Returns 0 or -1 (printed). */
int img_load_snapshot(struct qcow2_image *img, const char *param);

/* ---- img-json.c ---- */

struct img_json;
struct img_json *img_json_object(void);
struct img_json *img_json_array(void);
/* A string value, for arrays. */
struct img_json *img_json_str(const char *v);
/* An unsigned number, for arrays. */
struct img_json *img_json_uint(uint64_t v);
void img_json_set_int(struct img_json *o, const char *key, int64_t v);
void img_json_set_uint(struct img_json *o, const char *key, uint64_t v);
void img_json_set_str(struct img_json *o, const char *key, const char *v);
void img_json_set_bool(struct img_json *o, const char *key, bool v);
/* Takes ownership of @child. */
void img_json_set(struct img_json *o, const char *key, struct img_json *child);
void img_json_append(struct img_json *a, struct img_json *child);
/* Pretty-print like qobject_to_json_pretty() and a newline. */
void img_json_print(const struct img_json *j, FILE *f);
void img_json_free(struct img_json *j);

/* cmd-info.c: the "Snapshot list:" table (nothing when there are none). */
void img_snapshot_list_print(struct qcow2_image *img);
/* cmd-info.c: one snapshot line of bdrv_snapshot_dump() without its
 * newline; NULL prints the header. */
void img_snapshot_line_print(const struct qcow2_snapshot_info *sn);

/* cmd-catalog.c: reconcile the snapshot catalog with @filename after
 * `snapshot -c/-a/-d` changed it; a catalog problem is one warning on
 * stderr per process, never a failure. */
void img_catalog_after_snapshot(const char *filename);

/* ---- commands ---- */
int img_cmd_create(int argc, char **argv);
int img_cmd_info(int argc, char **argv);
int img_cmd_check(int argc, char **argv);
int img_cmd_snapshot(int argc, char **argv);
int img_cmd_convert(int argc, char **argv);
int img_cmd_compare(int argc, char **argv);
int img_cmd_map(int argc, char **argv);
int img_cmd_measure(int argc, char **argv);
int img_cmd_resize(int argc, char **argv);
int img_cmd_commit(int argc, char **argv);
int img_cmd_rebase(int argc, char **argv);
int img_cmd_amend(int argc, char **argv);
int img_cmd_bench(int argc, char **argv);
int img_cmd_catalog(int argc, char **argv);
int img_cmd_snapshot_diff(int argc, char **argv);

/* cmd-create.c: -o handling, also used by convert, measure and amend. */
/*
 * Check the names and value syntax of the -o pairs in @kv for @fmt (the
 * errors qemu-img reports before "Formatting ..."). @prefix goes before
 * each error ("file: " for create, "" for convert). Returns 0 or -1.
 */
int img_create_parse(const char *prefix, enum qcow2_format fmt,
                     const struct img_kvlist *kv);
/*
 * Fill @o from @kv (defaults first) and check what qcow2 create refuses,
 * with qemu-img's texts. Size and backing are left to the caller.
 * Returns 0 or -1 (printed).
 */
int img_create_build(const char *prefix, enum qcow2_format fmt,
                     const struct img_kvlist *kv, struct qcow2_create_opts *o);
/* Is @name a -o option of @fmt (at creation)? */
bool img_create_opt_known(enum qcow2_format fmt, const char *name);
/* Print the "-o help" list for @fmt; without a file name qemu-img leaves
 * out the protocol-level options and says so. */
void img_create_help(enum qcow2_format fmt, bool have_filename);

#endif /* IMGTOOL_IMG_H */
