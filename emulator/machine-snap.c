/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-snap.c - savevm, loadvm, delvm and info snapshots: the
 * machine state into the vmstate area of a qcow2 disk, incrementally, with
 * QEMU 7.2's multi-disk rules and messages (docs/snapshots.md; the area's
 * layout: docs/formats/vmstate.md, "The snapshot vmstate area").
 *
 * DESIGN NOTES
 * 1. The vmstate area holds a header, the machine blob, a page table (a
 *    bitmap of non-zero pages and a CRC32C per page) and RAM, each at a
 *    unit-aligned offset (unit = max(cluster size, 4 KiB)); RAM page i
 *    lives at ram_off + 4096 i, so the same page always maps to the same
 *    cluster of the area.
 * 2. The area stays mapped in the active L1 after a save (keep_vmstate),
 *    and a loadvm reverts the active L1 to the snapshot's: so after a save
 *    or a load of image I, the active area of I holds exactly the RAM of
 *    the baseline (s->base_img == I, table s->table). The next save writes
 *    only the units holding pages written since (s->written, fed by the
 *    CPU's dirty marks through rv_vmstate_written_take()); the others stay
 *    shared with earlier snapshots by refcount. Any failure forgets the
 *    baseline (s->base_img = NULL), and the next save writes everything.
 * 3. Zero pages are never written: the bitmap says zero and a load fills
 *    them with zeros, whatever the area holds there.
 * 4. A load reads and checks everything (header, blob against this
 *    machine, table, every page's CRC) before it changes anything, through
 *    a second read-only handle on the snapshot (qcow2_snapshot_load_tmp).
 *    Only then do the disks revert and the machine switch; a failure after
 *    that leaves the machine in restore-vm with the message.
 * 5. Saving changes nothing the guest can see: the blob and the hash read
 *    the state, RAM is copied out, and the run state goes back.
 * 6. snap_done() is the one place where a save, load or delete completes
 *    (the catalog hooks in there).
 * 7. A load puts into RAM only the pages not proven equal already. Page p
 *    is equal when, with a baseline on this image: p was not written since
 *    (s->written, after taking the CPU's marks), its entry in the
 *    snapshot's table equals the baseline's, and it is zero in both or
 *    its unit sits in the same file cluster in the snapshot and in the
 *    active area (which holds the baseline's non-zero pages by 2, and a
 *    shared cluster is never rewritten in place). Only changed pages are
 *    marked for the hash tree and the code cache, so the next hash re-reads
 *    only them.
 */
#include "emulator/rv-int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/fmt.h"
#include "common/hash.h"
#include "qcow2/qcow2.h"

#define PAGE         4096u
#define AREA_MAGIC   0x4e535252u /* "RRSN" */
#define AREA_VERSION 1u
#define AREA_HDR_LEN 136u
/* Incompatible feature bits this build reads (none defined). */
#define AREA_INCOMPAT_KNOWN  0u
#define AREA_FLAG_VSLICE_NEW 1u
/* Longest run of units written at once (16 MiB at 64 KiB clusters). */
#define RUN_MAX_UNITS 256u

struct rv_snap {
    struct rv_machine *m;
    struct rv_snap_drive drives[RV_VIRTIO_SLOTS];
    char auto_names[RV_VIRTIO_SLOTS][16];
    size_t nb_drives;
    uint64_t npages;
    uint64_t *written;            /* pages written since the baseline */
    struct qcow2_image *base_img; /* NULL: no baseline (DESIGN NOTES 2) */
    uint8_t *table;               /* the baseline's page table */
    size_t table_len;
    char *deleted_id, *deleted_name; /* rv_snap_disk_delete()'s record */
    rv_snap_done_fn *done_fn;        /* NULL: nobody listens (the catalog) */
    void *done_opaque;
};

/* Where each part lives in the area (DESIGN NOTES 1). */
struct layout {
    uint64_t unit;
    uint64_t blob_off, table_off, ram_off, end;
    size_t bitmap_len, table_len;
};

static uint64_t round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static void layout_of(struct qcow2_image *img, uint64_t npages,
                      struct layout *l)
{
    uint64_t cs = qcow2_cluster_size(img);

    l->unit = cs > PAGE ? cs : PAGE;
    l->bitmap_len = (size_t)((npages + 63) / 64 * 8);
    l->table_len = l->bitmap_len + (size_t)npages * 4;
    l->blob_off = l->unit;
    l->table_off = l->blob_off + round_up(RV_SNAP_BLOB_MAX, l->unit);
    l->ram_off = l->table_off + round_up(l->table_len, l->unit);
    l->end = l->ram_off + npages * PAGE;
}

static bool tab_nonzero(const uint8_t *tab, uint64_t p)
{
    return tab[p / 8] & (1u << (p % 8));
}

static void tab_set(uint8_t *tab, const struct layout *l, uint64_t p,
                    bool nonzero, uint32_t crc)
{
    if (nonzero) {
        tab[p / 8] |= (uint8_t)(1u << (p % 8));
    } else {
        tab[p / 8] &= (uint8_t) ~(1u << (p % 8));
    }
    wr_le32(tab + l->bitmap_len + p * 4, nonzero ? crc : 0);
}

/* The one place where an operation completes (DESIGN NOTES 6). */
static void snap_done(struct rv_snap *s, const struct rv_snap_record *r)
{
    if (s->done_fn) {
        s->done_fn(s->done_opaque, r);
    }
}

void rv_snap_set_done_hook(struct rv_snap *s, rv_snap_done_fn *fn, void *opaque)
{
    s->done_fn = fn;
    s->done_opaque = opaque;
}

/* ---- the context ---- */

int rv_snap_get(struct rv_machine *m, const struct rv_snap_drive *drives,
                size_t nb_drives, struct rv_snap **out, struct err *err)
{
    struct rv_snap **slot = rv_machine_snap_slot(m);
    struct rv_snap *s = *slot;
    const struct rv_drive_config *dc;
    struct qcow2_image *img;

    if (s) {
        *out = s;
        return 0;
    }
    s = mem_calloc(1, sizeof(*s));
    if (!s) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    s->m = m;
    s->npages = rv_machine_ram_size(m) / PAGE;
    s->written = mem_calloc((size_t)((s->npages + 63) / 64 + 1), 8);
    if (!s->written) {
        mem_free(s);
        return err_set(err, -ENOMEM, "out of memory");
    }
    /* One entry per machine disk, named as the monitor names it. */
    for (unsigned i = 0; (img = rv_machine_disk(m, i, &dc)) != NULL &&
                         s->nb_drives < RV_VIRTIO_SLOTS;
         i++) {
        struct rv_snap_drive *d = &s->drives[s->nb_drives];

        snprintf(s->auto_names[i], sizeof(s->auto_names[i]), "virtio%u", i);
        d->device = s->auto_names[i];
        d->node_name = NULL;
        d->file = dc->file;
        for (size_t k = 0; k < nb_drives; k++) {
            if (drives[k].file == dc->file) {
                d->device = drives[k].device;
                d->node_name = drives[k].node_name;
            }
        }
        s->nb_drives++;
    }
    *slot = s;
    *out = s;
    return 0;
}

void rv_snap_free(struct rv_snap *s)
{
    if (!s) {
        return;
    }
    mem_free(s->written);
    mem_free(s->table);
    mem_free(s->deleted_id);
    mem_free(s->deleted_name);
    mem_free(s);
}

/* ---- disks ---- */

struct sdisk {
    struct qcow2_image *img;
    const char *name; /* device name for messages */
    const char *node; /* node-name or NULL */
    bool writable;
    bool qcow2;
};

static bool named(const struct sdisk *d, const char *name)
{
    return !strcmp(d->name, name) || (d->node && !strcmp(d->node, name));
}

static bool in_list(const struct sdisk *d, const char *const *devices)
{
    if (!devices) {
        return true;
    }
    for (size_t i = 0; devices[i]; i++) {
        if (named(d, devices[i])) {
            return true;
        }
    }
    return false;
}

/*
 * The disks a command acts on, and QEMU's bdrv_all_can_snapshot(): a
 * writable disk that is not qcow2 fails the command (with @skip_raw, as
 * `info snapshots` lists, it is left out). Read-only disks are left out.
 * Returns the count, or -ENOTSUP / -ENOENT with the message.
 */
static int disks_collect(struct rv_snap *s, const char *const *devices,
                         bool skip_raw, struct sdisk *out, struct err *err)
{
    const struct rv_drive_config *dc;
    struct qcow2_image *img;
    int n = 0;

    for (size_t i = 0; devices && devices[i]; i++) {
        bool found = false;

        for (unsigned k = 0; k < s->nb_drives; k++) {
            if (!strcmp(s->drives[k].device, devices[i]) ||
                (s->drives[k].node_name &&
                 !strcmp(s->drives[k].node_name, devices[i]))) {
                found = true;
            }
        }
        if (!found) {
            return err_set(err, -ENOENT, "No block device node '%s'",
                           devices[i]);
        }
    }
    for (unsigned i = 0;
         (img = rv_machine_disk(s->m, i, &dc)) != NULL && i < s->nb_drives;
         i++) {
        struct sdisk d = {img, s->drives[i].device, s->drives[i].node_name,
                          !dc->readonly,
                          qcow2_format_of(img) == QCOW2_FORMAT_QCOW2};

        if (!in_list(&d, devices) || !d.writable || (skip_raw && !d.qcow2)) {
            continue;
        }
        if (!d.qcow2) {
            return err_set(err, -ENOTSUP,
                           "Device '%s' is writable but does not support "
                           "snapshots",
                           d.name);
        }
        out[n++] = d;
    }
    return n;
}

static int disks_get(struct rv_snap *s, const char *const *devices,
                     struct sdisk *out, struct err *err)
{
    return disks_collect(s, devices, false, out, err);
}

/* QEMU's bdrv_all_find_vmstate_bs(). */
static int vmstate_disk(const struct sdisk *d, int n, const char *vmstate,
                        struct err *err)
{
    for (int i = 0; i < n; i++) {
        if (!vmstate || named(&d[i], vmstate)) {
            return i;
        }
    }
    if (vmstate) {
        return err_set(err, -ENOENT, "vmstate block device '%s' does not exist",
                       vmstate);
    }
    return err_set(err, -ENOENT,
                   "no block device can store vmstate for "
                   "snapshot");
}

/* Every snapshot of @img into *@out (mem_free); returns the count. */
static int snaps_of(struct qcow2_image *img, struct qcow2_snapshot_info **out,
                    struct err *err)
{
    size_t n = qcow2_snapshot_list(img, NULL, 0);

    *out = mem_calloc(n ? n : 1, sizeof(**out));
    if (!*out) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    qcow2_snapshot_list(img, *out, n);
    return (int)n;
}

/* The first snapshot of @img named @tag (QEMU's bdrv_snapshot_find by
 * name), copied into *@sn with its id in @id; false if none. */
static bool find_tag(struct qcow2_image *img, const char *tag,
                     struct qcow2_snapshot_info *sn, char *id, size_t id_cap)
{
    struct qcow2_snapshot_info *all;
    int n = snaps_of(img, &all, NULL);
    bool found = false;

    for (int i = 0; i < n && !found; i++) {
        if (!strcmp(all[i].name, tag)) {
            *sn = all[i];
            snprintf(id, id_cap, "%s", all[i].id);
            found = true;
        }
    }
    mem_free(all);
    return found;
}

/* ---- writing the area ---- */

static void hdr_build(uint8_t *h, const struct layout *l, size_t blob_len,
                      const struct rv_machine_loop *lp, const uint8_t *hash,
                      const uint8_t *tab, uint64_t npages)
{
    memset(h, 0, AREA_HDR_LEN);
    wr_le32(h, AREA_MAGIC);
    wr_le32(h + 4, AREA_VERSION);
    wr_le32(h + 8, AREA_HDR_LEN);
    wr_le32(h + 24, PAGE);
    wr_le32(h + 28, (uint32_t)l->unit);
    wr_le64(h + 32, l->blob_off);
    wr_le64(h + 40, blob_len);
    wr_le64(h + 48, l->table_off);
    wr_le64(h + 56, l->table_len);
    wr_le64(h + 64, l->ram_off);
    wr_le64(h + 72, npages * PAGE);
    wr_le64(h + 80, lp->vslice_end);
    wr_le32(h + 88, lp->vslice_new ? AREA_FLAG_VSLICE_NEW : 0);
    memcpy(h + 96, hash, RV_STATE_HASH_LEN);
    wr_le32(h + 128, hash_crc32c(0, tab, l->table_len));
    wr_le32(h + 132, hash_crc32c(0, h, 132));
}

/*
 * Write the machine state into the active area of @img: the units with
 * pages written since the baseline (all without one), the changed parts
 * of the table, the blob and the header. *@tab_out receives the new table
 * (mem_alloc'd). Returns 0 or a negative errno.
 */
static int area_write(struct rv_snap *s, struct qcow2_image *img,
                      const uint8_t *blob, size_t blob_len, const uint8_t *hash,
                      uint8_t **tab_out, uint64_t *size_out, struct err *err)
{
    const struct rv_ram *ram = rv_machine_ram(s->m);
    struct rv_machine_loop lp;
    struct layout l;
    uint8_t hdr[AREA_HDR_LEN];
    uint8_t *tab;
    bool base;
    uint64_t ppu, nunits, run0, run1;
    int ret = 0;

    layout_of(img, s->npages, &l);
    base = s->base_img == img && s->table && s->table_len == l.table_len;
    if (blob_len > RV_SNAP_BLOB_MAX) {
        return err_set(err, -ERANGE, "machine state of %zu bytes is over %u",
                       blob_len, RV_SNAP_BLOB_MAX);
    }
    tab = mem_calloc(1, l.table_len ? l.table_len : 1);
    if (!tab) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    if (base) {
        memcpy(tab, s->table, l.table_len);
    }
    ppu = l.unit / PAGE;
    nunits = (s->npages + ppu - 1) / ppu;
    /* Consecutive units to write go out as one run: the image allocates
     * their clusters together (fewer ordered metadata updates). */
    run0 = run1 = 0;
    for (uint64_t u = 0; u <= nunits && ret == 0; u++) {
        uint64_t p0 = u * ppu;
        uint64_t p1 = p0 + ppu < s->npages ? p0 + ppu : s->npages;
        bool touched = !base && u < nunits, nonzero = false;

        for (uint64_t p = p0; u < nunits && p < p1 && !touched; p++) {
            touched = s->written[p / 64] & (1ull << (p % 64));
        }
        for (uint64_t p = p0; touched && p < p1; p++) {
            const uint8_t *pg = ram->host + p * PAGE;

            if (base && !(s->written[p / 64] & (1ull << (p % 64)))) {
                nonzero |= tab_nonzero(tab, p);
                continue;
            }
            if (rv_page_is_zero(pg)) {
                tab_set(tab, &l, p, false, 0);
            } else {
                tab_set(tab, &l, p, true, hash_crc32c(0, pg, PAGE));
                nonzero = true;
            }
        }
        if (nonzero && (run1 == run0 || run1 == u) &&
            u - run0 < RUN_MAX_UNITS) {
            run0 = run1 == run0 ? u : run0;
            run1 = u + 1;
            continue;
        }
        if (run1 > run0) {
            uint64_t q0 = run0 * ppu;
            uint64_t q1 = run1 * ppu < s->npages ? run1 * ppu : s->npages;

            ret = qcow2_vmstate_write(img, l.ram_off + q0 * PAGE,
                                      ram->host + q0 * PAGE,
                                      (size_t)((q1 - q0) * PAGE), err);
        }
        run0 = run1 = nonzero ? u : 0;
        if (nonzero) {
            run1 = u + 1;
        }
    }
    for (uint64_t off = 0; off < l.table_len && ret == 0; off += l.unit) {
        size_t n =
            l.table_len - off < l.unit ? l.table_len - off : (size_t)l.unit;

        if (base && !memcmp(tab + off, s->table + off, n)) {
            continue;
        }
        ret = qcow2_vmstate_write(img, l.table_off + off, tab + off, n, err);
    }
    if (ret == 0) {
        ret = qcow2_vmstate_write(img, l.blob_off, blob, blob_len, err);
    }
    if (ret == 0) {
        rv_machine_loop_get(s->m, &lp);
        hdr_build(hdr, &l, blob_len, &lp, hash, tab, s->npages);
        ret = qcow2_vmstate_write(img, 0, hdr, sizeof(hdr), err);
    }
    if (ret < 0) {
        mem_free(tab);
        return ret;
    }
    *tab_out = tab;
    *size_out = l.end;
    return 0;
}

/* ---- savevm ---- */

int rv_snap_save(struct rv_snap *s, const char *tag, bool overwrite,
                 const char *vmstate, const char *const *devices,
                 struct err *err)
{
    struct sdisk d[RV_VIRTIO_SLOTS];
    struct qcow2_snapshot_params p;
    struct qcow2_snapshot_info sn;
    struct rv_vmstate_ctx ctx;
    struct rv_snap_record rec;
    struct timespec now;
    struct tm tm;
    char name[RV_SNAP_TAG_MAX + 1], id[32];
    uint8_t hash[RV_STATE_HASH_LEN];
    uint8_t *blob = NULL, *tab = NULL;
    size_t blob_len = 0;
    uint64_t vm_size = 0;
    int n, vm, created = 0, ret;
    bool was_running;

    n = disks_get(s, devices, d, err);
    if (n < 0) {
        return n;
    }
    /* QEMU keeps the first 255 bytes of a longer name (sn->name[256]). */
    if (tag) {
        snprintf(name, sizeof(name), "%s", tag);
        tag = name;
    }
    if (tag && !*tag) {
        return err_set(err, -EINVAL, "Snapshot name must not be empty");
    }
    /* QEMU deletes the old snapshot of that name before anything else. */
    for (int i = 0; tag && i < n; i++) {
        if (!find_tag(d[i].img, tag, &sn, id, sizeof(id))) {
            continue;
        }
        if (!overwrite) {
            return err_set(err, -EEXIST,
                           "Snapshot '%s' already exists in one or more "
                           "devices",
                           tag);
        }
        ret = qcow2_snapshot_delete(d[i].img, id, err);
        if (ret < 0) {
            err_prefix(err, "Error while deleting snapshot on device '%s'",
                       d[i].name);
            return ret;
        }
        memset(&rec, 0, sizeof(rec));
        rec.op = RV_SNAP_DELETED;
        rec.image = qcow2_filename(d[i].img);
        rec.id = id;
        rec.tag = tag;
        snap_done(s, &rec);
    }
    vm = vmstate_disk(d, n, vmstate, err);
    if (vm < 0) {
        return vm;
    }
    was_running = rv_machine_vm_stop(s->m, RV_RUN_SAVE_VM);
    clock_gettime(CLOCK_REALTIME, &now);
    if (!tag) {
        time_t t = now.tv_sec;

        localtime_r(&t, &tm);
        strftime(name, sizeof(name), "vm-%Y%m%d%H%M%S", &tm);
    }
    rv_machine_vmstate_ctx(s->m, &ctx);
    ret = rv_machine_state_hash(s->m, hash);
    if (ret < 0) {
        err_set(err, ret, "cannot hash the machine state");
        goto out;
    }
    ret = rv_vmstate_written_take(&ctx, s->written, err);
    if (ret == 0) {
        ret = rv_machine_vmstate_save(s->m, &blob, &blob_len, err);
    }
    if (ret == 0) {
        ret =
            area_write(s, d[vm].img, blob, blob_len, hash, &tab, &vm_size, err);
    }
    if (ret < 0) {
        err_prefix(err, "Error while writing VM state");
        s->base_img = NULL;
        goto out;
    }
    memset(&p, 0, sizeof(p));
    p.name = name;
    p.date_sec = (uint32_t)now.tv_sec;
    p.date_nsec = (uint32_t)(now.tv_nsec / 1000 * 1000);
    p.vm_clock_nsec = rv_machine_vclock_ns(s->m);
    p.icount = rv_machine_icount(s->m);
    for (int i = 0; i < n; i++) {
        p.vm_state_size = i == vm ? vm_size : 0;
        p.keep_vmstate = i == vm;
        ret = qcow2_snapshot_create(d[i].img, &p, err);
        if (ret == 0) {
            ret = qcow2_flush(d[i].img, err);
        }
        if (ret < 0) {
            err_prefix(err, "Error while creating snapshot on '%s'", d[i].name);
            break;
        }
        created++;
    }
    if (ret < 0) {
        /* QEMU's bdrv_all_delete_snapshot(sn->name) after a failure. */
        for (int i = 0; i < created; i++) {
            if (find_tag(d[i].img, name, &sn, id, sizeof(id))) {
                qcow2_snapshot_delete(d[i].img, id, NULL);
                qcow2_flush(d[i].img, NULL);
            }
        }
        s->base_img = NULL;
        goto out;
    }
    {
        struct layout l;

        layout_of(d[vm].img, s->npages, &l);
        mem_free(s->table);
        s->table = tab;
        s->table_len = l.table_len;
        tab = NULL;
    }
    s->base_img = d[vm].img;
    memset(s->written, 0, (size_t)((s->npages + 63) / 64) * 8);
    /* One record per disk; only the vmstate disk's has the state. */
    for (int i = 0; i < n; i++) {
        if (!find_tag(d[i].img, name, &sn, id, sizeof(id))) {
            continue;
        }
        memset(&rec, 0, sizeof(rec));
        rec.op = RV_SNAP_SAVED;
        rec.image = qcow2_filename(d[i].img);
        rec.id = id;
        rec.tag = name;
        rec.vm_state_size = i == vm ? vm_size : 0;
        rec.date_sec = p.date_sec;
        rec.date_nsec = p.date_nsec;
        rec.vm_clock_ns = p.vm_clock_nsec;
        rec.icount = p.icount;
        if (i == vm) {
            memcpy(rec.state_hash, hash, sizeof(hash));
        }
        snap_done(s, &rec);
    }
out:
    mem_free(blob);
    mem_free(tab);
    if (was_running) {
        rv_machine_cont(s->m, NULL);
    }
    return ret;
}

/* ---- loadvm ---- */

/* A snapshot's area, read and checked (DESIGN NOTES 4). */
struct loaded {
    struct layout l;
    struct rv_machine_loop lp;
    uint8_t hash[RV_STATE_HASH_LEN];
    uint8_t *blob;
    size_t blob_len;
    uint8_t *tab;
    uint8_t *ram; /* mmap'd, npages * PAGE; zero pages untouched */
    size_t ram_len;
    uint64_t *need; /* pages to put into RAM (DESIGN NOTES 7) */
};

static void loaded_fini(struct loaded *ld)
{
    mem_free(ld->blob);
    mem_free(ld->tab);
    mem_free(ld->need);
    if (ld->ram) {
        munmap(ld->ram, ld->ram_len);
    }
    memset(ld, 0, sizeof(*ld));
}

static bool bit_get(const uint64_t *bm, uint64_t p)
{
    return bm[p / 64] & (1ull << (p % 64));
}

/* File offset of area byte @off of @img, through the cached run *@c
 * ({area offset, file offset, length}); 0 if not a plain data cluster. */
static int area_host(struct qcow2_image *img, uint64_t off, uint64_t end,
                     uint64_t c[3], uint64_t *host, struct err *err)
{
    int ret;

    if (off < c[0] || off >= c[0] + c[2]) {
        c[0] = off;
        ret = qcow2_vmstate_map(img, off, end - off, &c[1], &c[2], err);
        if (ret < 0) {
            return ret;
        }
        if (!c[1]) {
            c[2] = 1; /* not mapped: ask again at the next offset */
        }
    }
    *host = c[1] ? c[1] + (off - c[0]) : 0;
    return 0;
}

/*
 * Mark in ld->need the pages a load must put into RAM: all but those
 * proven equal already (DESIGN NOTES 7). @active is the image holding the
 * baseline, @snap the snapshot's read-only handle on the same file.
 */
static int need_compute(struct rv_snap *s, struct qcow2_image *active,
                        struct qcow2_image *snap, struct loaded *ld,
                        struct err *err)
{
    const struct layout *l = &ld->l;
    uint64_t ppu = l->unit / PAGE, nunits = (s->npages + ppu - 1) / ppu;
    uint64_t ca[3] = {0, 0, 0}, cs[3] = {0, 0, 0};
    bool base = active && s->base_img == active && s->table &&
                s->table_len == l->table_len;
    int ret;

    for (uint64_t p = 0; p < s->npages; p++) {
        ld->need[p / 64] |= 1ull << (p % 64);
    }
    if (!base) {
        return 0;
    }
    for (uint64_t u = 0; u < nunits; u++) {
        uint64_t p0 = u * ppu, p1 = p0 + ppu < s->npages ? p0 + ppu : s->npages;
        uint64_t off = l->ram_off + p0 * PAGE, ha = 0, hs = 0;
        bool mapped = false;

        for (uint64_t p = p0; p < p1; p++) {
            bool nz = tab_nonzero(ld->tab, p);

            if (bit_get(s->written, p) || nz != tab_nonzero(s->table, p) ||
                memcmp(ld->tab + l->bitmap_len + p * 4,
                       s->table + l->bitmap_len + p * 4, 4)) {
                continue;
            }
            if (nz && !mapped) {
                ret = area_host(active, off, l->end, ca, &ha, err);
                if (ret == 0) {
                    ret = area_host(snap, off, l->end, cs, &hs, err);
                }
                if (ret < 0) {
                    return ret;
                }
                mapped = true;
            }
            if (nz && (!ha || ha != hs)) {
                continue;
            }
            ld->need[p / 64] &= ~(1ull << (p % 64));
        }
    }
    return 0;
}

/* Whether unit @u holds a page that is non-zero and needed. */
static bool unit_wanted(const struct loaded *ld, uint64_t u, uint64_t ppu,
                        uint64_t npages)
{
    for (uint64_t p = u * ppu; p < (u + 1) * ppu && p < npages; p++) {
        if (tab_nonzero(ld->tab, p) && bit_get(ld->need, p)) {
            return true;
        }
    }
    return false;
}

/* Read the area of the snapshot @img reads through, of @vm_size bytes,
 * and check it against the machine; with @active (the baseline's image,
 * the same file), only the pages not proven equal. Returns 0 or -errno
 * with @err. */
static int area_read(struct rv_snap *s, struct qcow2_image *img,
                     struct qcow2_image *active, uint64_t vm_size,
                     struct loaded *ld, struct err *err)
{
    struct rv_machine *m = s->m;
    uint8_t h[AREA_HDR_LEN];
    uint64_t ram_size = s->npages * PAGE, ppu, nunits;
    int ret;

    memset(ld, 0, sizeof(*ld));
    if (vm_size < AREA_HDR_LEN) {
        return err_set(err, -EBADMSG,
                       "VM state of %" PRIu64 " bytes is "
                       "not an rrvm snapshot",
                       vm_size);
    }
    ret = qcow2_vmstate_read(img, 0, h, sizeof(h), err);
    if (ret < 0) {
        return ret;
    }
    if (rd_le32(h) != AREA_MAGIC) {
        return err_set(err, -ENOTSUP,
                       "the VM state is not in rrvm's format (a snapshot "
                       "made by QEMU?)");
    }
    if (rd_le32(h + 132) != hash_crc32c(0, h, 132) ||
        rd_le32(h + 8) != AREA_HDR_LEN) {
        return err_set(err, -EBADMSG,
                       "the VM state header is corrupt "
                       "(checksum)");
    }
    if (rd_le32(h + 4) != AREA_VERSION ||
        (rd_le32(h + 12) & ~AREA_INCOMPAT_KNOWN)) {
        return err_set(err, -ENOTSUP,
                       "the VM state has format version %" PRIu32
                       ", features 0x%" PRIx32 " this rrvm does not read",
                       rd_le32(h + 4), rd_le32(h + 12));
    }
    if (rd_le64(h + 72) != ram_size) {
        return err_set(err, -EINVAL,
                       "vmstate is from another machine: %" PRIu64
                       " MiB of RAM, this one has %" PRIu64 " MiB",
                       rd_le64(h + 72) >> 20, ram_size >> 20);
    }
    layout_of(img, s->npages, &ld->l);
    if (rd_le32(h + 24) != PAGE || rd_le32(h + 28) != ld->l.unit ||
        rd_le64(h + 32) != ld->l.blob_off ||
        rd_le64(h + 40) > RV_SNAP_BLOB_MAX ||
        rd_le64(h + 48) != ld->l.table_off ||
        rd_le64(h + 56) != ld->l.table_len ||
        rd_le64(h + 64) != ld->l.ram_off || ld->l.end > vm_size) {
        return err_set(err, -EBADMSG, "the VM state layout is corrupt");
    }
    ld->lp.vslice_end = rd_le64(h + 80);
    ld->lp.vslice_new = rd_le32(h + 88) & AREA_FLAG_VSLICE_NEW;
    memcpy(ld->hash, h + 96, RV_STATE_HASH_LEN);
    ld->blob_len = (size_t)rd_le64(h + 40);
    ld->blob = mem_alloc(ld->blob_len ? ld->blob_len : 1);
    ld->tab = mem_alloc(ld->l.table_len ? ld->l.table_len : 1);
    ld->need = mem_calloc((size_t)((s->npages + 63) / 64 + 1), 8);
    ld->ram_len = (size_t)ram_size;
    ld->ram = mmap(NULL, ld->ram_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ld->ram == MAP_FAILED) {
        ld->ram = NULL;
    }
    if (!ld->blob || !ld->tab || !ld->need || !ld->ram) {
        ret = err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    ret = qcow2_vmstate_read(img, ld->l.blob_off, ld->blob, ld->blob_len, err);
    if (ret == 0) {
        ret = rv_machine_vmstate_check(m, ld->blob, ld->blob_len, err);
    }
    if (ret == 0) {
        ret = qcow2_vmstate_read(img, ld->l.table_off, ld->tab, ld->l.table_len,
                                 err);
    }
    if (ret == 0 &&
        rd_le32(h + 128) != hash_crc32c(0, ld->tab, ld->l.table_len)) {
        ret = err_set(err, -EBADMSG,
                      "the VM state page table is corrupt "
                      "(checksum)");
    }
    if (ret == 0) {
        ret = need_compute(s, active, img, ld, err);
    }
    if (ret < 0) {
        goto fail;
    }
    ppu = ld->l.unit / PAGE;
    nunits = (s->npages + ppu - 1) / ppu;
    /* Runs of units holding non-zero pages, each read at once. */
    for (uint64_t u = 0; u < nunits;) {
        uint64_t u1 = u, p0, p1;

        while (u1 < nunits && u1 - u < RUN_MAX_UNITS &&
               unit_wanted(ld, u1, ppu, s->npages)) {
            u1++;
        }
        if (u1 == u) {
            u++;
            continue;
        }
        p0 = u * ppu;
        p1 = u1 * ppu < s->npages ? u1 * ppu : s->npages;
        ret = qcow2_vmstate_read(img, ld->l.ram_off + p0 * PAGE,
                                 ld->ram + p0 * PAGE,
                                 (size_t)((p1 - p0) * PAGE), err);
        if (ret < 0) {
            goto fail;
        }
        for (uint64_t p = p0; p < p1; p++) {
            if (tab_nonzero(ld->tab, p) && bit_get(ld->need, p) &&
                hash_crc32c(0, ld->ram + p * PAGE, PAGE) !=
                    rd_le32(ld->tab + ld->l.bitmap_len + p * 4)) {
                ret = err_set(err, -EBADMSG,
                              "RAM page at 0x%" PRIx64
                              " of the VM state is corrupt (checksum)",
                              (uint64_t)(RV_RAM_BASE + p * PAGE));
                goto fail;
            }
        }
        u = u1;
    }
    return 0;
fail:
    loaded_fini(ld);
    return ret;
}

/*
 * Read @id's area through a second, read-only handle on @img's file, so
 * nothing changes before it is checked. -ENOSYS if the file cannot be
 * opened again (a -snapshot overlay): the caller reads after reverting.
 */
static int area_read_aside(struct rv_snap *s, struct qcow2_image *img,
                           const char *id, uint64_t vm_size, struct loaded *ld,
                           struct err *err)
{
    struct qcow2_image *ro = NULL;
    int ret;

    ret = qcow2_flush(img, err);
    if (ret < 0) {
        return ret;
    }
    if (qcow2_open(qcow2_filename(img), QCOW2_FORMAT_QCOW2,
                   QCOW2_OPEN_FORCE_SHARE | QCOW2_OPEN_RDONLY |
                       QCOW2_OPEN_NO_BACKING,
                   &ro, NULL) < 0) {
        return -ENOSYS;
    }
    ret = qcow2_snapshot_load_tmp(ro, id, err);
    if (ret == 0) {
        ret = area_read(s, ro, img, vm_size, ld, err);
    }
    qcow2_close(ro);
    return ret;
}

/* Put a checked area into the machine (the needed RAM pages, marking
 * those that change, then the blob). */
static int area_apply(struct rv_snap *s, struct loaded *ld, struct err *err)
{
    const struct rv_ram *ram = rv_machine_ram(s->m);
    struct rv_vmstate_ctx ctx;
    uint64_t run0 = 0, run1 = 0;
    int ret;

    rv_machine_vmstate_ctx(s->m, &ctx);
    ctx.ram_marked_by_caller = true;
    for (uint64_t p = 0; p < s->npages; p++) {
        uint8_t *dst = ram->host + p * PAGE;

        if (!bit_get(ld->need, p)) {
            continue;
        }
        if (tab_nonzero(ld->tab, p)) {
            memcpy(dst, ld->ram + p * PAGE, PAGE);
        } else if (!rv_page_is_zero(dst)) {
            memset(dst, 0, PAGE);
        } else {
            continue;
        }
        if (run1 != p) {
            rv_vmstate_ram_changed(&ctx, run0, run1 - run0);
            run0 = p;
        }
        run1 = p + 1;
    }
    rv_vmstate_ram_changed(&ctx, run0, run1 - run0);
    ret = rv_vmstate_load(&ctx, ld->blob, ld->blob_len, err);
    if (ret < 0) {
        return ret;
    }
    /* RAM now equals the area of the disk: the new baseline. */
    return rv_vmstate_written_take(&ctx, NULL, err);
}

int rv_snap_load(struct rv_snap *s, const char *tag, const char *vmstate,
                 const char *const *devices, struct err *err)
{
    struct sdisk d[RV_VIRTIO_SLOTS];
    struct qcow2_snapshot_info sn;
    struct rv_snap_record rec;
    struct loaded ld;
    char id[32];
    int n, vm, ret;
    bool was_running, checked;

    memset(&ld, 0, sizeof(ld));
    n = disks_get(s, devices, d, err);
    if (n < 0) {
        return n;
    }
    for (int i = 0; i < n; i++) {
        if (!find_tag(d[i].img, tag, &sn, id, sizeof(id))) {
            return err_set(err, -ENOENT,
                           "Snapshot '%s' does not exist in one or more "
                           "devices",
                           tag);
        }
    }
    vm = vmstate_disk(d, n, vmstate, err);
    if (vm < 0) {
        return vm;
    }
    find_tag(d[vm].img, tag, &sn, id, sizeof(id));
    if (sn.vm_state_size == 0) {
        return err_set(err, -EINVAL,
                       "This is a disk-only snapshot. Revert to it  offline "
                       "using qemu-img");
    }
    /* Pages written since the baseline, up to now (DESIGN NOTES 7). */
    {
        struct rv_vmstate_ctx ctx;

        rv_machine_vmstate_ctx(s->m, &ctx);
        ret = rv_vmstate_written_take(&ctx, s->written, err);
        if (ret < 0) {
            return ret;
        }
    }
    ret = area_read_aside(s, d[vm].img, id, sn.vm_state_size, &ld, err);
    checked = ret == 0;
    if (ret < 0 && ret != -ENOSYS) {
        err_prefix(err, "Snapshot '%s' cannot be loaded", tag);
        return ret;
    }
    was_running = rv_machine_vm_stop(s->m, RV_RUN_RESTORE_VM);
    s->base_img = NULL;
    for (int i = 0; i < n; i++) {
        char did[32];

        find_tag(d[i].img, tag, &sn, did, sizeof(did));
        ret = qcow2_snapshot_apply(d[i].img, did, err);
        if (ret == 0) {
            ret = qcow2_flush(d[i].img, err);
        }
        if (ret < 0) {
            err_prefix(err, "Could not load snapshot '%s' on '%s'", tag,
                       d[i].name);
            goto failed;
        }
    }
    if (!checked) {
        find_tag(d[vm].img, tag, &sn, id, sizeof(id));
        ret = area_read(s, d[vm].img, NULL, sn.vm_state_size, &ld, err);
        if (ret < 0) {
            err_prefix(err, "Snapshot '%s' cannot be loaded", tag);
            goto failed;
        }
    }
    ret = area_apply(s, &ld, err);
    if (ret < 0) {
        err_prefix(err, "Error while loading VM state");
        goto failed;
    }
    mem_free(s->table);
    s->table = ld.tab;
    s->table_len = ld.l.table_len;
    ld.tab = NULL;
    s->base_img = d[vm].img;
    memset(s->written, 0, (size_t)((s->npages + 63) / 64) * 8);
    rv_machine_loaded(s->m, &ld.lp);
    memset(&rec, 0, sizeof(rec));
    rec.op = RV_SNAP_LOADED;
    rec.image = qcow2_filename(d[vm].img);
    rec.id = id;
    rec.tag = tag;
    rec.vm_state_size = sn.vm_state_size;
    rec.date_sec = sn.date_sec;
    rec.date_nsec = sn.date_nsec;
    rec.vm_clock_ns = sn.vm_clock_nsec;
    rec.icount = sn.icount;
    memcpy(rec.state_hash, ld.hash, sizeof(ld.hash));
    snap_done(s, &rec);
    loaded_fini(&ld);
    if (was_running) {
        rv_machine_cont(s->m, NULL);
    }
    return 0;
failed:
    /* The disks may have switched: a running machine stays in restore-vm
     * (DESIGN NOTES 4), a stopped one where it was, as QEMU's. */
    loaded_fini(&ld);
    return ret;
}

/* ---- delvm, disk-only snapshots ---- */

int rv_snap_delete(struct rv_snap *s, const char *tag,
                   const char *const *devices, struct err *err)
{
    struct sdisk d[RV_VIRTIO_SLOTS];
    struct qcow2_snapshot_info sn;
    struct rv_snap_record rec;
    char id[32];
    int n, ret;

    n = disks_get(s, devices, d, err);
    if (n < 0) {
        return n;
    }
    for (int i = 0; i < n; i++) {
        if (!find_tag(d[i].img, tag, &sn, id, sizeof(id))) {
            continue;
        }
        ret = qcow2_snapshot_delete(d[i].img, id, err);
        if (ret == 0) {
            ret = qcow2_flush(d[i].img, err);
        }
        if (ret < 0) {
            err_prefix(err, "Error while deleting snapshot on device '%s'",
                       d[i].name);
            return ret;
        }
        memset(&rec, 0, sizeof(rec));
        rec.op = RV_SNAP_DELETED;
        rec.image = qcow2_filename(d[i].img);
        rec.id = id;
        rec.tag = tag;
        snap_done(s, &rec);
    }
    return 0;
}

/* The disk named @device for blockdev-snapshot-*-internal-sync. */
static int disk_named(struct rv_snap *s, const char *device, struct sdisk *out,
                      struct err *err)
{
    const struct rv_drive_config *dc;
    struct qcow2_image *img;

    for (unsigned i = 0;
         (img = rv_machine_disk(s->m, i, &dc)) != NULL && i < s->nb_drives;
         i++) {
        struct sdisk d = {img, s->drives[i].device, s->drives[i].node_name,
                          !dc->readonly,
                          qcow2_format_of(img) == QCOW2_FORMAT_QCOW2};

        if (named(&d, device)) {
            *out = d;
            if (!d.writable) {
                return err_set(err, -EACCES, "Device '%s' is read only",
                               device);
            }
            if (!d.qcow2) {
                return err_set(err, -ENOTSUP,
                               "Block format '%s' used by device '%s' does "
                               "not support feature 'internal snapshot'",
                               "raw", device);
            }
            return 0;
        }
    }
    return err_set(err, -ENOENT, "Cannot find device='%s' nor node-name='%s'",
                   device, device);
}

int rv_snap_disk_create(struct rv_snap *s, const char *device, const char *name,
                        struct err *err)
{
    struct qcow2_snapshot_params p;
    struct qcow2_snapshot_info sn;
    struct timespec now;
    struct sdisk d;
    char id[32];
    int ret = disk_named(s, device, &d, err);

    if (ret < 0) {
        return ret;
    }
    if (!*name) {
        return err_set(err, -EINVAL, "Name is empty");
    }
    if (find_tag(d.img, name, &sn, id, sizeof(id))) {
        return err_set(err, -EEXIST,
                       "Snapshot with name '%s' already exists on device "
                       "'%s'",
                       name, device);
    }
    clock_gettime(CLOCK_REALTIME, &now);
    memset(&p, 0, sizeof(p));
    p.name = name;
    p.date_sec = (uint32_t)now.tv_sec;
    p.date_nsec = (uint32_t)(now.tv_nsec / 1000 * 1000);
    p.vm_clock_nsec = rv_machine_vclock_ns(s->m);
    p.icount = rv_machine_icount(s->m);
    ret = qcow2_snapshot_create(d.img, &p, err);
    if (ret == 0) {
        ret = qcow2_flush(d.img, err);
    }
    if (ret == 0 && find_tag(d.img, name, &sn, id, sizeof(id))) {
        struct rv_snap_record rec;

        memset(&rec, 0, sizeof(rec));
        rec.op = RV_SNAP_SAVED;
        rec.image = qcow2_filename(d.img);
        rec.id = id;
        rec.tag = name;
        rec.date_sec = p.date_sec;
        rec.date_nsec = p.date_nsec;
        rec.vm_clock_ns = p.vm_clock_nsec;
        rec.icount = p.icount;
        snap_done(s, &rec);
    }
    return ret;
}

int rv_snap_disk_delete(struct rv_snap *s, const char *device, const char *id,
                        const char *name, struct rv_snap_record *out,
                        struct err *err)
{
    struct qcow2_snapshot_info *all;
    struct sdisk d;
    int n, ret = disk_named(s, device, &d, err);

    if (ret < 0) {
        return ret;
    }
    if (!id && !name) {
        return err_set(err, -EINVAL, "Name or id must be provided");
    }
    n = snaps_of(d.img, &all, err);
    if (n < 0) {
        return n;
    }
    ret = -ENOENT;
    for (int i = 0; i < n; i++) {
        if ((!id || !strcmp(all[i].id, id)) &&
            (!name || !strcmp(all[i].name, name))) {
            char sid[32];

            snprintf(sid, sizeof(sid), "%s", all[i].id);
            memset(out, 0, sizeof(*out));
            out->op = RV_SNAP_DELETED;
            out->vm_state_size = all[i].vm_state_size;
            out->date_sec = all[i].date_sec;
            out->date_nsec = all[i].date_nsec;
            out->vm_clock_ns = all[i].vm_clock_nsec;
            out->icount = all[i].icount;
            mem_free(s->deleted_id);
            mem_free(s->deleted_name);
            s->deleted_id = mem_strdup(all[i].id);
            s->deleted_name = mem_strdup(all[i].name);
            out->id = s->deleted_id;
            out->tag = s->deleted_name;
            out->image = qcow2_filename(d.img);
            mem_free(all);
            if (!out->id || !out->tag) {
                return err_set(err, -ENOMEM, "out of memory");
            }
            ret = qcow2_snapshot_delete(d.img, sid, err);
            if (ret == 0) {
                ret = qcow2_flush(d.img, err);
            }
            if (ret == 0) {
                snap_done(s, out);
            }
            return ret;
        }
    }
    mem_free(all);
    return err_set(err, -ENOENT,
                   "Snapshot with id '%s' and name '%s' does not exist on "
                   "device '%s'",
                   id ? id : "null", name ? name : "null", device);
}

/* ---- info snapshots ---- */

struct sbuf {
    char *p;
    size_t len, cap;
    int err;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->err) {
        return;
    }
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->err = -EINVAL;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        {
            size_t cap = (b->cap + (size_t)n + 1) * 2;
            char *np = mem_alloc(cap);

            if (!np) {
                b->err = -ENOMEM;
                return;
            }
            memcpy(np, b->p, b->len + 1);
            mem_free(b->p);
            b->p = np;
            b->cap = cap;
        }
    }
}

/* QEMU's bdrv_snapshot_dump(); NULL: the header. @id overrides the id. */
static void dump(struct sbuf *b, const struct qcow2_snapshot_info *sn,
                 const char *id)
{
    char *row = qcow2_snapshot_row(sn, id);

    if (!row) {
        b->err = -ENOMEM;
        return;
    }
    sb_printf(b, "%s\n", row);
    mem_free(row);
}

static bool has_tag(const struct qcow2_snapshot_info *all, int n,
                    const char *tag)
{
    for (int i = 0; i < n; i++) {
        if (!strcmp(all[i].name, tag)) {
            return true;
        }
    }
    return false;
}

int rv_snap_info(struct rv_snap *s, char **out, struct err *err)
{
    struct sdisk d[RV_VIRTIO_SLOTS];
    struct qcow2_snapshot_info *all[RV_VIRTIO_SLOTS] = {NULL};
    int nall[RV_VIRTIO_SLOTS] = {0};
    struct sbuf b = {NULL, 0, 0, 0};
    bool any = false, raw_writable;
    int n, vm, total = 0, ret = 0;

    *out = NULL;
    b.p = mem_alloc(256);
    if (!b.p) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    b.cap = 256;
    b.p[0] = 0;
    /* QEMU lists what it can; with a writable raw disk no snapshot is on
     * all disks (its bdrv_all_has_snapshot() fails), so all are partial. */
    raw_writable = disks_get(s, NULL, d, NULL) < 0;
    n = disks_collect(s, NULL, true, d, NULL);
    if (n < 0) {
        n = 0;
    }
    vm = vmstate_disk(d, n, NULL, NULL);
    if (vm < 0) {
        sb_printf(&b, "no block device can store vmstate for snapshot\n");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        nall[i] = snaps_of(d[i].img, &all[i], err);
        if (nall[i] < 0) {
            ret = nall[i];
            nall[i] = 0;
            goto done;
        }
        any |= nall[i] > 0;
    }
    if (!any) {
        sb_printf(&b, "There is no snapshot available.\n");
        goto done;
    }
    sb_printf(&b, "List of snapshots present on all disks:\n");
    for (int k = 0; k < nall[vm]; k++) {
        bool everywhere = !raw_writable;

        for (int i = 0; i < n; i++) {
            everywhere &= has_tag(all[i], nall[i], all[vm][k].name);
        }
        if (everywhere) {
            if (!total++) {
                dump(&b, NULL, NULL);
            }
            dump(&b, &all[vm][k], "--");
        }
    }
    if (!total) {
        sb_printf(&b, "None\n");
    }
    for (int i = 0; i < n; i++) {
        bool header = false;

        for (int k = 0; k < nall[i]; k++) {
            bool everywhere =
                !raw_writable && has_tag(all[vm], nall[vm], all[i][k].name);

            for (int j = 0; j < n && everywhere; j++) {
                everywhere &= has_tag(all[j], nall[j], all[i][k].name);
            }
            if (everywhere) {
                continue;
            }
            if (!header) {
                sb_printf(&b,
                          "\nList of partial (non-loadable) snapshots on "
                          "'%s':\n",
                          d[i].name);
                dump(&b, NULL, NULL);
                header = true;
            }
            dump(&b, &all[i][k], NULL);
        }
    }
done:
    for (int i = 0; i < RV_VIRTIO_SLOTS; i++) {
        mem_free(all[i]);
    }
    if (ret == 0 && b.err) {
        ret = err_set(err, b.err, "out of memory");
    }
    if (ret < 0) {
        mem_free(b.p);
        return ret;
    }
    *out = b.p;
    return 0;
}
