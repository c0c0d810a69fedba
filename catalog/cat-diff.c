/* SPDX-License-Identifier: MIT */
/*
 * catalog/cat-diff.c - what differs between two snapshots rrvm saved:
 * registers, devices (vmstate sections), RAM pages and disk clusters, from
 * the documented formats alone (docs/formats/vmstate.md) through the qcow2
 * API, never through the emulator. Serves `rrvm-img snapshot-diff` and
 * rrvm's __org.rrvm_snapshot-diff.
 */
#include "catalog/catalog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/hash.h"
#include "qcow2/qcow2.h"

/* The vmstate area header (docs/formats/vmstate.md). */
#define AREA_MAGIC   0x4e535252u /* "RRSN" */
#define AREA_VERSION 1u
#define AREA_HDR_LEN 136u
#define PAGE         4096u
/* The blob is at most 1 MiB (RV_SNAP_BLOB_MAX); the page table holds a
 * bit and a CRC per page: 16 GiB of RAM give 4 M pages, 18 MiB. */
#define BLOB_MAX  (1u << 20)
#define PAGES_MAX (UINT64_C(1) << 22)
/* The RRVS blob. */
#define BLOB_MAGIC     0x53565252u /* "RRVS" */
#define BLOB_HDR_MIN   44u
#define BLOB_SECT_HDR  16u
#define BLOB_SECTS_MAX 256u
#define SECT_CPU       3u
/* The cpu section: its own header, then the hart's 132 u64 words. */
#define CPU_MAGIC 0x50435652u /* "RVCP" */
#define CPU_WORDS 132u
/* Guest physical address of RAM page 0 on the virt board. */
#define RAM_BASE UINT64_C(0x80000000)

struct side {
    struct qcow2_image *img;
    struct qcow2_snapshot_info sn;
    struct cat_diff_snap *out;
    uint8_t hdr[AREA_HDR_LEN];
    uint8_t *blob, *table;
    uint64_t blob_len, table_len, ram_off, ram_size;
};

/* One section of a blob. */
struct section {
    uint32_t id;
    const uint8_t *payload;
    uint32_t len;
};

/* Growable list of @elem-byte entries. */
static int list_push(void **v, size_t *n, size_t elem, const void *src)
{
    if ((*n & (*n - 1)) == 0) {
        void *nv = mem_realloc(*v, (*n ? *n * 2 : 1) * elem);

        if (!nv) {
            return -ENOMEM;
        }
        *v = nv;
    }
    memcpy((uint8_t *)*v + *n * elem, src, elem);
    (*n)++;
    return 0;
}

static void section_name(uint32_t id, char *dst, size_t cap)
{
    static const char *const names[] = {NULL,  "config", "machine", "cpu",
                                        "tlb", "clint",  "plic",    "uart",
                                        "rtc", "test"};

    if (id < sizeof(names) / sizeof(names[0]) && names[id]) {
        snprintf(dst, cap, "%s", names[id]);
    } else if (id >= 16 && id < 24) {
        snprintf(dst, cap, "virtio%u", (unsigned)(id - 16));
    } else {
        snprintf(dst, cap, "section%" PRIu32, id);
    }
}

/* Name of hart word @i (the cpu row of docs/formats/vmstate.md). */
static void cpu_word_name(unsigned i, char *dst, size_t cap)
{
    static const char *const names[] = {
        "pc",          "icount",     "priv",       "fflags",     "frm",
        "mstatus",     "medeleg",    "mideleg",    "mie",        "mip.sw",
        "mip.hw",      "mtvec",      "mscratch",   "mepc",       "mcause",
        "mtval",       "stvec",      "sscratch",   "sepc",       "scause",
        "stval",       "satp",       "mcounteren", "scounteren", "cycle.off",
        "instret.off", "lr.addr",    "lr.valid",   "wfi",        "trap.pc",
        "trap.icount", "trap.valid", "lr.value",   "reserved0",  "reserved1",
        "reserved2"};

    if (i < 32) {
        snprintf(dst, cap, "x%u", i);
    } else if (i < 64) {
        snprintf(dst, cap, "f%u", i - 32);
    } else if (i < 100) {
        snprintf(dst, cap, "%s", names[i - 64]);
    } else if (i < 116) {
        snprintf(dst, cap, "pmpcfg%u", i - 100);
    } else {
        snprintf(dst, cap, "pmpaddr%u", i - 116);
    }
}

/* The snapshot @which names: an id first, then a tag (snapshot -a). */
static int find_snapshot(struct qcow2_image *img, const char *which,
                         struct side *s)
{
    size_t n = qcow2_snapshot_list(img, NULL, 0);
    struct qcow2_snapshot_info *v = mem_calloc(n ? n : 1, sizeof(*v));
    long found = -1;

    if (!v) {
        return -ENOMEM;
    }
    qcow2_snapshot_list(img, v, n);
    for (size_t i = 0; i < n && found < 0; i++) {
        if (!strcmp(v[i].id, which)) {
            found = (long)i;
        }
    }
    for (size_t i = 0; i < n && found < 0; i++) {
        if (!strcmp(v[i].name, which)) {
            found = (long)i;
        }
    }
    if (found >= 0) {
        s->sn = v[found];
        snprintf(s->out->id, sizeof(s->out->id), "%s", v[found].id);
        snprintf(s->out->name, sizeof(s->out->name), "%s", v[found].name);
        s->out->icount = v[found].icount;
        s->sn.id = s->out->id;
        s->sn.name = s->out->name;
    }
    mem_free(v);
    return found >= 0 ? 0 : -ENOENT;
}

/* Make @s->img read through snapshot @which and read its area's header,
 * blob and page table. */
static int side_open(struct side *s, const char *which, struct err *err)
{
    uint64_t blob_off, table_off, npages;
    int ret = find_snapshot(s->img, which, s);

    if (ret == -ENOENT) {
        return err_set(err, ret, "Snapshot '%s' does not exist in '%s'", which,
                       qcow2_filename(s->img));
    }
    if (ret < 0) {
        return err_set(err, ret, "out of memory");
    }
    ret = qcow2_snapshot_load_tmp(s->img, s->sn.id, err);
    if (ret < 0) {
        err_prefix(err, "Could not read snapshot '%s'", which);
        return ret;
    }
    if (s->sn.vm_state_size == 0) {
        return err_set(err, -EINVAL,
                       "Snapshot '%s' is disk-only: it has no machine state "
                       "to compare",
                       which);
    }
    if (s->sn.vm_state_size < AREA_HDR_LEN ||
        qcow2_vmstate_read(s->img, 0, s->hdr, AREA_HDR_LEN, NULL) < 0 ||
        rd_le32(s->hdr) != AREA_MAGIC) {
        return err_set(err, -ENOTSUP,
                       "Snapshot '%s' holds a vmstate rrvm did not write "
                       "(made by QEMU?): cannot compare its machine state",
                       which);
    }
    if (rd_le32(s->hdr + 132) != hash_crc32c(0, s->hdr, 132)) {
        return err_set(err, -EBADMSG, "Snapshot '%s': vmstate header corrupt",
                       which);
    }
    if (rd_le32(s->hdr + 4) != AREA_VERSION || rd_le32(s->hdr + 12) != 0 ||
        rd_le32(s->hdr + 24) != PAGE) {
        return err_set(err, -ENOTSUP,
                       "Snapshot '%s': vmstate of a newer version", which);
    }
    blob_off = rd_le64(s->hdr + 32);
    s->blob_len = rd_le64(s->hdr + 40);
    table_off = rd_le64(s->hdr + 48);
    s->table_len = rd_le64(s->hdr + 56);
    s->ram_off = rd_le64(s->hdr + 64);
    s->ram_size = rd_le64(s->hdr + 72);
    npages = s->ram_size / PAGE;
    if (s->blob_len < BLOB_HDR_MIN || s->blob_len > BLOB_MAX ||
        npages > PAGES_MAX ||
        s->table_len != (npages + 63) / 64 * 8 + npages * 4) {
        return err_set(err, -EBADMSG,
                       "Snapshot '%s': vmstate header out of range", which);
    }
    s->blob = mem_alloc(s->blob_len);
    s->table = mem_alloc(s->table_len ? s->table_len : 1);
    if (!s->blob || !s->table) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    ret = qcow2_vmstate_read(s->img, blob_off, s->blob, s->blob_len, err);
    if (ret == 0) {
        ret =
            qcow2_vmstate_read(s->img, table_off, s->table, s->table_len, err);
    }
    if (ret < 0) {
        err_prefix(err, "Snapshot '%s': cannot read the vmstate", which);
        return ret;
    }
    if (rd_le32(s->hdr + 128) != hash_crc32c(0, s->table, s->table_len) ||
        rd_le32(s->blob) != BLOB_MAGIC) {
        return err_set(err, -EBADMSG, "Snapshot '%s': vmstate corrupt", which);
    }
    return 0;
}

/* Walk @blob's sections into @v (BLOB_SECTS_MAX entries). Returns the
 * count or -EBADMSG. */
static int sections_of(const uint8_t *blob, uint64_t blob_len,
                       struct section *v)
{
    uint32_t hdr_len = rd_le32(blob + 8);
    uint32_t n = rd_le32(blob + 24);
    uint64_t total = rd_le64(blob + 32), off = hdr_len;

    if (hdr_len < BLOB_HDR_MIN || hdr_len > blob_len || n > BLOB_SECTS_MAX ||
        total != blob_len) {
        return -EBADMSG;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (off + BLOB_SECT_HDR > total) {
            return -EBADMSG;
        }
        v[i].id = rd_le32(blob + off);
        v[i].len = rd_le32(blob + off + 8);
        if (v[i].len > total - off - BLOB_SECT_HDR) {
            return -EBADMSG;
        }
        v[i].payload = blob + off + BLOB_SECT_HDR;
        off += BLOB_SECT_HDR + v[i].len;
    }
    return (int)n;
}

static const struct section *section_find(const struct section *v, int n,
                                          uint32_t id)
{
    for (int i = 0; i < n; i++) {
        if (v[i].id == id) {
            return &v[i];
        }
    }
    return NULL;
}

/* The hart words of a cpu section, or false if it is not one we read. */
static bool cpu_words(const struct section *s, const uint8_t **words)
{
    uint32_t hdr;

    if (!s || s->len < 28 || rd_le32(s->payload) != CPU_MAGIC) {
        return false;
    }
    hdr = rd_le32(s->payload + 8);
    if (hdr > s->len || rd_le32(s->payload + 20) != 8 * CPU_WORDS ||
        s->len - hdr < 8 * CPU_WORDS) {
        return false;
    }
    *words = s->payload + hdr;
    return true;
}

static int diff_registers(struct cat_diff *d, const struct section *a,
                          const struct section *b)
{
    const uint8_t *wa, *wb;

    if (!cpu_words(a, &wa) || !cpu_words(b, &wb)) {
        return 0; /* the cpu section itself is listed as differing */
    }
    for (unsigned i = 0; i < CPU_WORDS; i++) {
        struct cat_diff_reg r;

        r.a = rd_le64(wa + 8 * i);
        r.b = rd_le64(wb + 8 * i);
        if (r.a == r.b) {
            continue;
        }
        cpu_word_name(i, r.name, sizeof(r.name));
        if (list_push((void **)&d->regs, &d->nb_regs, sizeof(r), &r) < 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

static int diff_machine(struct cat_diff *d, const struct side *a,
                        const struct side *b, struct err *err)
{
    struct section *va = mem_calloc(2 * BLOB_SECTS_MAX, sizeof(*va));
    struct section *vb = va + BLOB_SECTS_MAX;
    int na, nb, ret;

    if (!va) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    na = sections_of(a->blob, a->blob_len, va);
    nb = sections_of(b->blob, b->blob_len, vb);
    if (na < 0 || nb < 0) {
        ret = err_set(err, -EBADMSG, "Snapshot '%s': malformed machine state",
                      na < 0 ? a->out->name : b->out->name);
        goto out;
    }
    ret = diff_registers(d, section_find(va, na, SECT_CPU),
                         section_find(vb, nb, SECT_CPU));
    /* Every id in either blob, in id order (both are sorted). */
    for (int i = 0, j = 0; ret == 0 && (i < na || j < nb);) {
        uint32_t id =
            i < na && (j >= nb || va[i].id <= vb[j].id) ? va[i].id : vb[j].id;
        const struct section *sa = i < na && va[i].id == id ? &va[i] : NULL;
        const struct section *sb = j < nb && vb[j].id == id ? &vb[j] : NULL;
        char name[16];

        i += sa != NULL;
        j += sb != NULL;
        if (sa && sb && sa->len == sb->len &&
            !memcmp(sa->payload, sb->payload, sa->len)) {
            continue;
        }
        section_name(id, name, sizeof(name));
        ret =
            list_push((void **)&d->devices, &d->nb_devices, sizeof(name), name);
    }
    if (ret < 0) {
        err_set(err, ret, "out of memory");
    }
out:
    mem_free(va);
    return ret;
}

static bool page_nonzero(const struct side *s, uint64_t p)
{
    return s->table[p / 8] & (1u << (p % 8));
}

static uint32_t page_crc(const struct side *s, uint64_t p)
{
    return rd_le32(s->table + (s->ram_size / PAGE + 63) / 64 * 8 + p * 4);
}

static int diff_ram(struct cat_diff *d, const struct side *a,
                    const struct side *b, struct err *err)
{
    uint64_t npages = a->ram_size / PAGE;
    uint8_t *pa = mem_alloc(2 * PAGE), *pb = pa + PAGE;
    int ret = 0;

    if (!pa) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    if (a->ram_size != b->ram_size) {
        ret = err_set(err, -EINVAL,
                      "The snapshots have different RAM sizes (%" PRIu64
                      " and %" PRIu64 " bytes)",
                      a->ram_size, b->ram_size);
        goto out;
    }
    d->page_size = PAGE;
    for (uint64_t p = 0; p < npages; p++) {
        bool za = !page_nonzero(a, p), zb = !page_nonzero(b, p);
        bool differ = za != zb;
        uint64_t addr = RAM_BASE + p * PAGE;

        if (!za && !zb) {
            differ = page_crc(a, p) != page_crc(b, p);
        }
        if (!za && !zb && !differ) {
            /* Equal CRCs: compare the bytes to be exact. */
            ret = qcow2_vmstate_read(a->img, a->ram_off + p * PAGE, pa, PAGE,
                                     err);
            if (ret == 0) {
                ret = qcow2_vmstate_read(b->img, b->ram_off + p * PAGE, pb,
                                         PAGE, err);
            }
            if (ret < 0) {
                err_prefix(err, "RAM page 0x%" PRIx64, addr);
                goto out;
            }
            differ = memcmp(pa, pb, PAGE) != 0;
        }
        if (differ &&
            list_push((void **)&d->pages, &d->nb_pages, 8, &addr) < 0) {
            ret = err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
    }
out:
    mem_free(pa);
    return ret;
}

/* Do the clusters at @off read alike? Clusters reading as zero in both and
 * shared ones (same host offset) are alike without a read. Returns 1, 0 or
 * -errno. */
static int cluster_differs(uint64_t cs, const struct side *a,
                           const struct side *b, uint64_t off, uint8_t *ba,
                           uint8_t *bb, struct err *err)
{
    bool in_a = off < a->sn.disk_size, in_b = off < b->sn.disk_size;
    struct qcow2_extent ea, eb;
    size_t len;
    int ret;

    if (in_a != in_b) {
        return 1;
    }
    ret = qcow2_block_status(a->img, off, cs, true, &ea, err);
    if (ret == 0) {
        ret = qcow2_block_status(b->img, off, cs, true, &eb, err);
    }
    if (ret < 0) {
        return ret;
    }
    if (!(ea.flags & QCOW2_BS_DATA) && !(eb.flags & QCOW2_BS_DATA)) {
        return 0;
    }
    if ((ea.flags & QCOW2_BS_OFFSET) && (eb.flags & QCOW2_BS_OFFSET) &&
        ea.depth == 0 && eb.depth == 0 && ea.host_offset == eb.host_offset) {
        return 0;
    }
    len = (size_t)(a->sn.disk_size - off < cs ? a->sn.disk_size - off : cs);
    ret = qcow2_read(a->img, off, ba, len, err);
    if (ret == 0) {
        ret = qcow2_read(b->img, off, bb, len, err);
    }
    if (ret < 0) {
        return ret;
    }
    return memcmp(ba, bb, len) != 0;
}

static int diff_disk(struct cat_diff *d, const struct side *a,
                     const struct side *b, struct err *err)
{
    struct qcow2_info info;
    uint64_t cs, end;
    uint8_t *ba;
    int ret = 0;

    qcow2_get_info(a->img, &info);
    cs = info.cluster_size;
    d->cluster_size = cs;
    end = a->sn.disk_size > b->sn.disk_size ? a->sn.disk_size : b->sn.disk_size;
    ba = mem_alloc(2 * cs);
    if (!ba) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    for (uint64_t off = 0; off < end; off += cs) {
        ret = cluster_differs(cs, a, b, off, ba, ba + cs, err);
        if (ret < 0) {
            err_prefix(err, "disk at offset %" PRIu64, off);
            break;
        }
        if (ret &&
            list_push((void **)&d->clusters, &d->nb_clusters, 8, &off) < 0) {
            ret = err_set(err, -ENOMEM, "out of memory");
            break;
        }
        ret = 0;
    }
    mem_free(ba);
    return ret;
}

int cat_snapshot_diff(struct qcow2_image *img_a, struct qcow2_image *img_b,
                      const char *a, const char *b, struct cat_diff *out,
                      struct err *err)
{
    struct cat_diff d;
    struct side sa, sb;
    int ret;

    CHECK_ARG(img_a && img_b && img_a != img_b && a && b && out);
    memset(&d, 0, sizeof(d));
    memset(&sa, 0, sizeof(sa));
    memset(&sb, 0, sizeof(sb));
    sa.img = img_a;
    sa.out = &d.a;
    sb.img = img_b;
    sb.out = &d.b;
    ret = side_open(&sa, a, err);
    if (ret == 0) {
        ret = side_open(&sb, b, err);
    }
    if (ret == 0) {
        ret = diff_machine(&d, &sa, &sb, err);
    }
    if (ret == 0) {
        ret = diff_ram(&d, &sa, &sb, err);
    }
    if (ret == 0) {
        ret = diff_disk(&d, &sa, &sb, err);
    }
    mem_free(sa.blob);
    mem_free(sa.table);
    mem_free(sb.blob);
    mem_free(sb.table);
    if (ret < 0) {
        cat_diff_fini(&d);
        return ret;
    }
    *out = d;
    return 0;
}

void cat_diff_fini(struct cat_diff *d)
{
    mem_free(d->regs);
    mem_free(d->devices);
    mem_free(d->pages);
    mem_free(d->clusters);
    memset(d, 0, sizeof(*d));
}
