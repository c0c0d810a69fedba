/* SPDX-License-Identifier: MIT */
/*
 * catalog/catalog.h - the snapshot catalog: a sqlite index of the internal
 * snapshots of many qcow2 images, with what only rrvm knows about them
 * (state hash, parent, configuration fingerprint) and what users add
 * (labels, good/bad marks, notes). docs/formats/catalog.md has the schema.
 *
 * The image is the source of truth: cat_reconcile_image() makes the rows of
 * an image match its snapshot table (snapshots made or deleted elsewhere, a
 * crash between the image write and the catalog write, an image moved or
 * copied). Callers treat every catalog error as a warning: print it once
 * per process and carry on; the image is right whatever the catalog says.
 *
 * A handle is used by one thread at a time. Several processes may share one
 * file (WAL mode, busy timeout).
 */
#ifndef CATALOG_CATALOG_H
#define CATALOG_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct cat;         /* opaque; one open catalog */
struct qcow2_image; /* qcow2/qcow2.h */

/* The schema version this build writes (PRAGMA user_version). */
#define CAT_SCHEMA_VERSION 2
/* Milliseconds a writer waits for another process's transaction. */
#define CAT_BUSY_TIMEOUT_MS 5000
/* Environment variable naming the catalog file (after -catalog). */
#define CAT_ENV_PATH "RRVM_CATALOG"
/* Longest label, tag filter or note accepted from a caller. */
#define CAT_MAX_TEXT 4096

enum cat_mark {
    CAT_MARK_NONE = 0,
    CAT_MARK_GOOD = 1,
    CAT_MARK_BAD = 2,
};

/*
 * The default catalog path: $RRVM_CATALOG, else
 * $XDG_DATA_HOME/rrvm/catalog.sqlite, else
 * $HOME/.local/share/rrvm/catalog.sqlite. Writes at most @dst_cap bytes.
 * Returns 0, or -ENOENT (no HOME) or -ERANGE (too long).
 */
int cat_default_path(char *dst, size_t dst_cap);

/*
 * Open (creating if needed, with its parent directory when it is the
 * default) the catalog at @path, or the default when @path is NULL, and
 * bring its schema up to CAT_SCHEMA_VERSION. On success *@out owns the
 * handle; release it with cat_close(). Returns 0, or -EBADMSG (not a
 * catalog: corrupt or foreign file), -ENOTSUP (schema newer than this
 * build), -EBUSY (locked longer than the busy timeout), -EACCES, -EIO.
 */
int cat_open(const char *path, struct cat **out, struct err *err);
/* Accepts NULL. */
void cat_close(struct cat *cat);
/* The file the handle uses (borrowed, valid until cat_close()). */
const char *cat_path(const struct cat *cat);

/*
 * Make the catalog's rows for the image at @path match @img's snapshot
 * table (@img opened on @path, read-only is enough). Works out the image's
 * identity first: the same file (path and inode), a moved one (inode or
 * fingerprint of a row whose file is gone), or a copy (fingerprint of a
 * row whose file is still there: a new image that inherits what rrvm
 * recorded about the shared snapshots, not labels, marks or notes).
 * Returns 0 or -errno.
 */
int cat_reconcile_image(struct cat *cat, const char *path,
                        struct qcow2_image *img, struct err *err);

/* What only rrvm knows about a snapshot it saved; any field may be 0/NULL. */
struct cat_snapshot_extra {
    const char *state_hash; /* hex, NULL if unknown */
    const char *config_fp;  /* hex configuration fingerprint, NULL if unknown */
    const char *recording;  /* rr log path, NULL if none */
};

/*
 * After savevm made snapshot @id on @img (durably): reconcile the image,
 * then store @extra on the snapshot's row and set its parent to the last
 * snapshot this handle saved or loaded (none at first). The saved snapshot
 * becomes that "last" one. Returns 0, -ENOENT (@img has no snapshot @id) or
 * -errno.
 */
int cat_record_snapshot(struct cat *cat, const char *path,
                        struct qcow2_image *img, const char *id,
                        const struct cat_snapshot_extra *extra,
                        struct err *err);
/* After delvm removed snapshots from @img: reconcile it. Returns 0 or
 * -errno. */
int cat_record_delete(struct cat *cat, const char *path,
                      struct qcow2_image *img, struct err *err);
/* After loadvm of snapshot @id: reconcile, and make it the parent of the
 * next save through this handle. Returns 0, -ENOENT or -errno. */
int cat_note_load(struct cat *cat, const char *path, struct qcow2_image *img,
                  const char *id, struct err *err);

/* One catalog row, as queries return it. Strings owned by the list. */
struct cat_snapshot {
    int64_t row;        /* catalog id of the snapshot, stable */
    int64_t image_row;  /* catalog id of the image */
    const char *image;  /* absolute path last seen */
    bool image_missing; /* the file was not there at the last look */
    const char *id;     /* qcow2 snapshot id */
    const char *tag;    /* qcow2 snapshot name */
    uint64_t vm_size;   /* bytes of vmstate */
    uint32_t date_sec;  /* seconds since the epoch */
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t icount;        /* UINT64_MAX: not recorded */
    uint64_t disk_size;     /* bytes, virtual size at snapshot time */
    const char *state_hash; /* NULL if unknown */
    const char *config_fp;  /* NULL if unknown */
    const char *recording;  /* NULL if none */
    int64_t parent_row;     /* 0 if none */
    enum cat_mark mark;
    const char *note;   /* NULL if none */
    const char *labels; /* comma-separated, sorted; "" if none */
};

struct cat_snapshot_list {
    struct cat_snapshot *v;
    size_t n;
};

/* Query filters; zero/NULL fields do not filter. */
struct cat_filter {
    const char *image; /* image path (made absolute) */
    const char *tag;   /* glob, as sqlite GLOB */
    const char *label; /* exact label */
    enum cat_mark mark;
    bool have_icount_min, have_icount_max;
    uint64_t icount_min, icount_max;
    bool have_date_min, have_date_max;
    int64_t date_min, date_max; /* seconds since the epoch, inclusive */
};

/*
 * The rows matching @f (may be NULL), ordered by image path then date then
 * id. On success *@out owns them; free with cat_snapshot_list_fini().
 * Returns the count, or -errno.
 */
int cat_query(struct cat *cat, const struct cat_filter *f,
              struct cat_snapshot_list *out, struct err *err);
/* Accepts a zeroed list. */
void cat_snapshot_list_fini(struct cat_snapshot_list *l);

/* The known images' paths (last seen), for re-reconciliation. On success
 * *@out is an array of *@n strings freed with cat_strings_free(). */
int cat_image_paths(struct cat *cat, char ***out, size_t *n, struct err *err);
void cat_strings_free(char **v, size_t n);
/* Note that the image at @path was not found (shown as missing). */
int cat_image_missing(struct cat *cat, const char *path, struct err *err);

/*
 * Edits of one snapshot, named by @image (path) and @snapshot (an id, then
 * a tag, as qcow2_snapshot_apply() matches). Return 0, -ENOENT (no such
 * image or snapshot in the catalog) or -errno.
 */
int cat_label_add(struct cat *cat, const char *image, const char *snapshot,
                  const char *label, struct err *err);
int cat_label_remove(struct cat *cat, const char *image, const char *snapshot,
                     const char *label, struct err *err);
int cat_mark_set(struct cat *cat, const char *image, const char *snapshot,
                 enum cat_mark mark, struct err *err);
/* @note NULL or "" clears it. */
int cat_annotate(struct cat *cat, const char *image, const char *snapshot,
                 const char *note, struct err *err);

/* Drop the image at @path and its snapshots. Returns 0 or -ENOENT. */
int cat_forget_image(struct cat *cat, const char *path, struct err *err);

/*
 * Check the catalog's own consistency (sqlite integrity, every snapshot's
 * image exists, parents point at rows or nothing). Returns 0, -EBADMSG with
 * a message, or -errno.
 */
int cat_check(struct cat *cat, struct err *err);

/* ---- snapshot-diff (cat-diff.c) ----
 *
 * What differs between two snapshots rrvm saved, read from the documented
 * formats only (docs/formats/vmstate.md): the vmstate area header, the
 * page table, the RRVS blob's sections and the cpu section's hart words.
 * No emulator code is involved.
 */

/* One CPU register (hart word) that differs. */
struct cat_diff_reg {
    char name[16]; /* "x10", "pc", "mstatus", "pmpaddr3", ... */
    uint64_t a, b;
};

/* One side of the comparison. */
struct cat_diff_snap {
    char id[32];
    char name[256];
    uint64_t icount; /* UINT64_MAX: not recorded */
};

struct cat_diff {
    struct cat_diff_snap a, b;
    struct cat_diff_reg *regs; /* in hart word order */
    size_t nb_regs;
    char (*devices)[16]; /* vmstate section names ("cpu", "virtio7") */
    size_t nb_devices;
    uint64_t page_size; /* bytes */
    uint64_t *pages;    /* guest physical addresses, increasing */
    size_t nb_pages;
    uint64_t cluster_size; /* bytes */
    uint64_t *clusters;    /* guest disk offsets, increasing */
    size_t nb_clusters;
};

/*
 * Compare snapshots @a and @b (each an id, then a tag) of one image, open
 * twice read-only as @img_a and @img_b (the function makes each read
 * through its snapshot, qcow2_snapshot_load_tmp(), so use fresh handles
 * and close them afterwards). On success *@out owns the lists; free them
 * with cat_diff_fini(). Returns 0, or -ENOENT (no such snapshot), -EINVAL
 * (a disk-only snapshot, or different RAM sizes), -ENOTSUP (a vmstate rrvm
 * did not write, or a newer one), -EBADMSG (corrupt), -ENOMEM, -EIO, each
 * with a one-line message.
 */
int cat_snapshot_diff(struct qcow2_image *img_a, struct qcow2_image *img_b,
                      const char *a, const char *b, struct cat_diff *out,
                      struct err *err);
/* Accepts a zeroed struct. */
void cat_diff_fini(struct cat_diff *d);

#endif /* CATALOG_CATALOG_H */
