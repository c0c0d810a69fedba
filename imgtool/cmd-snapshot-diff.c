/* SPDX-License-Identifier: MIT */
/*
 * imgtool/cmd-snapshot-diff.c - `rrvm-img snapshot-diff IMAGE A B`: which
 * registers, devices (vmstate sections), RAM pages and disk clusters differ
 * between two internal snapshots made by rrvm's savevm.
 *
 * It reads the documented formats only (docs/formats/vmstate.md: the
 * snapshot vmstate area, the RRVS blob's sections and the hart words of
 * the cpu section), through the qcow2 library, and never links the CPU or
 * the machine: the format is the contract between the two.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/hash.h"
#include "imgtool/img.h"
#include "qcow2/qcow2.h"

/* The vmstate area header (docs/formats/vmstate.md). */
#define AREA_MAGIC   0x4e535252u /* "RRSN" */
#define AREA_VERSION 1u
#define AREA_HDR_LEN 136u
#define PAGE         4096u
/* The blob is at most 1 MiB (RV_SNAP_BLOB_MAX); the page table holds a
 * bit and a CRC per page: 16 GiB of RAM give 4 M pages, 18 MiB. */
#define BLOB_MAX  (1u << 20)
#define PAGES_MAX (1ull << 22)
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

struct snap_side {
    struct qcow2_image *img;
    struct qcow2_snapshot_info sn;
    char id[32], name[256];
    uint8_t hdr[AREA_HDR_LEN];
    uint8_t *blob, *table;
    uint64_t blob_len, table_len, ram_off, ram_size;
};

struct diff {
    struct img_json *regs;     /* [{name, a, b}] */
    struct img_json *devices;  /* [name] */
    struct img_json *pages;    /* [address] */
    struct img_json *clusters; /* [offset] */
    size_t nb_regs, nb_devices, nb_pages, nb_clusters;
    uint64_t cluster_size;
    char *human; /* the human lines, built as we go */
    size_t human_len;
};

static const char *section_name(uint32_t id, char *buf, size_t cap)
{
    static const char *const names[] = {NULL,  "config", "machine", "cpu",
                                        "tlb", "clint",  "plic",    "uart",
                                        "rtc", "test"};

    if (id < sizeof(names) / sizeof(names[0]) && names[id]) {
        return names[id];
    }
    if (id >= 16 && id < 24) {
        snprintf(buf, cap, "virtio%u", id - 16);
    } else {
        snprintf(buf, cap, "section%u", id);
    }
    return buf;
}

/* Name of hart word @i (layout in docs/formats/vmstate.md, cpu). */
static const char *cpu_word_name(unsigned i, char *buf, size_t cap)
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
        snprintf(buf, cap, "x%u", i);
    } else if (i < 64) {
        snprintf(buf, cap, "f%u", i - 32);
    } else if (i < 100) {
        return names[i - 64];
    } else if (i < 116) {
        snprintf(buf, cap, "pmpcfg%u", i - 100);
    } else {
        snprintf(buf, cap, "pmpaddr%u", i - 116);
    }
    return buf;
}

static void human_add(struct diff *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void human_add(struct diff *d, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    p = mem_realloc(d->human, d->human_len + (size_t)n + 1);
    if (!p) {
        img_oom();
    }
    d->human = p;
    va_start(ap, fmt);
    vsnprintf(d->human + d->human_len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    d->human_len += (size_t)n;
}

/* The snapshot @which names (an id first, then a tag, as snapshot -a). */
static int find_snapshot(struct qcow2_image *img, const char *which,
                         struct snap_side *s)
{
    size_t n = qcow2_snapshot_list(img, NULL, 0);
    struct qcow2_snapshot_info *v = mem_calloc(n ? n : 1, sizeof(*v));
    int found = -1;

    if (!v) {
        img_oom();
    }
    qcow2_snapshot_list(img, v, n);
    for (size_t i = 0; i < n && found < 0; i++) {
        if (!strcmp(v[i].id, which)) {
            found = (int)i;
        }
    }
    for (size_t i = 0; i < n && found < 0; i++) {
        if (!strcmp(v[i].name, which)) {
            found = (int)i;
        }
    }
    if (found >= 0) {
        s->sn = v[found];
        snprintf(s->id, sizeof(s->id), "%s", v[found].id);
        snprintf(s->name, sizeof(s->name), "%s", v[found].name);
        s->sn.id = s->id;
        s->sn.name = s->name;
    }
    mem_free(v);
    return found >= 0 ? 0 : -ENOENT;
}

/* Open @path on snapshot @which and read its vmstate area's header, blob
 * and page table. Prints the error; returns 0 or -1. */
static int side_open(const char *path, unsigned flags, const char *which,
                     struct snap_side *s)
{
    struct err err = {0, ""};
    uint64_t blob_off, table_off, npages;

    if (img_open(path, "qcow2", flags, &s->img) < 0) {
        return -1;
    }
    if (find_snapshot(s->img, which, s) < 0) {
        img_error("Snapshot '%s' does not exist in '%s'", which, path);
        return -1;
    }
    if (qcow2_snapshot_load_tmp(s->img, s->id, &err) < 0) {
        img_error("Could not read snapshot '%s': %s", which, err.msg);
        return -1;
    }
    if (s->sn.vm_state_size == 0) {
        img_error("Snapshot '%s' is disk-only: it has no machine state to "
                  "compare",
                  which);
        return -1;
    }
    if (s->sn.vm_state_size < AREA_HDR_LEN ||
        qcow2_vmstate_read(s->img, 0, s->hdr, AREA_HDR_LEN, &err) < 0 ||
        rd_le32(s->hdr) != AREA_MAGIC) {
        img_error("Snapshot '%s' holds a vmstate rrvm did not write (made by "
                  "QEMU?): cannot compare its machine state",
                  which);
        return -1;
    }
    if (rd_le32(s->hdr + 132) != hash_crc32c(0, s->hdr, 132) ||
        rd_le32(s->hdr + 4) != AREA_VERSION || rd_le32(s->hdr + 12) != 0 ||
        rd_le32(s->hdr + 24) != PAGE) {
        img_error("Snapshot '%s': vmstate header corrupt or of a newer "
                  "version",
                  which);
        return -1;
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
        img_error("Snapshot '%s': vmstate header out of range", which);
        return -1;
    }
    s->blob = mem_alloc(s->blob_len);
    s->table = mem_alloc(s->table_len ? s->table_len : 1);
    if (!s->blob || !s->table) {
        img_oom();
    }
    if (qcow2_vmstate_read(s->img, blob_off, s->blob, s->blob_len, &err) < 0 ||
        qcow2_vmstate_read(s->img, table_off, s->table, s->table_len, &err) <
            0) {
        img_error("Snapshot '%s': cannot read the vmstate: %s", which, err.msg);
        return -1;
    }
    if (rd_le32(s->hdr + 128) != hash_crc32c(0, s->table, s->table_len) ||
        rd_le32(s->blob) != BLOB_MAGIC) {
        img_error("Snapshot '%s': vmstate corrupt", which);
        return -1;
    }
    return 0;
}

static void side_fini(struct snap_side *s)
{
    qcow2_close(s->img);
    mem_free(s->blob);
    mem_free(s->table);
}

/* One section of a blob: id, and payload within it. */
struct section {
    uint32_t id;
    const uint8_t *payload;
    uint32_t len;
};

/* Walk @blob's sections into @v (cap BLOB_SECTS_MAX). Returns the count or
 * -1 (malformed). */
static int sections_of(const uint8_t *blob, uint64_t blob_len,
                       struct section *v)
{
    uint32_t hdr_len = rd_le32(blob + 8);
    uint32_t n = rd_le32(blob + 24);
    uint64_t total = rd_le64(blob + 32), off = hdr_len;

    if (hdr_len < BLOB_HDR_MIN || hdr_len > blob_len || n > BLOB_SECTS_MAX ||
        total != blob_len) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (off + BLOB_SECT_HDR > total) {
            return -1;
        }
        v[i].id = rd_le32(blob + off);
        v[i].len = rd_le32(blob + off + 8);
        if (v[i].len > total - off - BLOB_SECT_HDR) {
            return -1;
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

static void diff_registers(struct diff *d, const struct section *a,
                           const struct section *b)
{
    const uint8_t *wa, *wb;

    if (!cpu_words(a, &wa) || !cpu_words(b, &wb)) {
        return;
    }
    for (unsigned i = 0; i < CPU_WORDS; i++) {
        uint64_t va = rd_le64(wa + 8 * i), vb = rd_le64(wb + 8 * i);
        struct img_json *o;
        char buf[16];
        const char *name;

        if (va == vb) {
            continue;
        }
        name = cpu_word_name(i, buf, sizeof(buf));
        o = img_json_object();
        img_json_set_str(o, "name", name);
        img_json_set_uint(o, "a", va);
        img_json_set_uint(o, "b", vb);
        img_json_append(d->regs, o);
        human_add(d, "  %-12s 0x%016" PRIx64 " -> 0x%016" PRIx64 "\n", name, va,
                  vb);
        d->nb_regs++;
    }
}

static int diff_machine(struct diff *d, const struct snap_side *a,
                        const struct snap_side *b)
{
    static struct section va[BLOB_SECTS_MAX], vb[BLOB_SECTS_MAX];
    int na = sections_of(a->blob, a->blob_len, va);
    int nb = sections_of(b->blob, b->blob_len, vb);
    char *names = NULL;
    size_t names_len = 0;

    if (na < 0 || nb < 0) {
        img_error("Snapshot '%s': malformed machine state",
                  na < 0 ? a->name : b->name);
        return -1;
    }
    human_add(d, "Registers:\n");
    diff_registers(d, section_find(va, na, SECT_CPU),
                   section_find(vb, nb, SECT_CPU));
    if (!d->nb_regs) {
        human_add(d, "  none\n");
    }
    /* Every id in either blob, in id order (both are sorted). */
    for (int i = 0, j = 0; i < na || j < nb;) {
        uint32_t id =
            i < na && (j >= nb || va[i].id <= vb[j].id) ? va[i].id : vb[j].id;
        const struct section *sa = i < na && va[i].id == id ? &va[i] : NULL;
        const struct section *sb = j < nb && vb[j].id == id ? &vb[j] : NULL;
        char buf[24];
        const char *name;

        i += sa != NULL;
        j += sb != NULL;
        if (sa && sb && sa->len == sb->len &&
            !memcmp(sa->payload, sb->payload, sa->len)) {
            continue;
        }
        name = section_name(id, buf, sizeof(buf));
        img_json_append(d->devices, img_json_str(name));
        d->nb_devices++;
        names = mem_realloc(names, names_len + strlen(name) + 3);
        if (!names) {
            img_oom();
        }
        names_len += (size_t)sprintf(names + names_len, "%s%s",
                                     names_len ? ", " : "", name);
    }
    human_add(d, "Devices: %s\n", names ? names : "none");
    mem_free(names);
    return 0;
}

static bool page_nonzero(const struct snap_side *s, uint64_t p)
{
    return s->table[p / 8] & (1u << (p % 8));
}

static uint32_t page_crc(const struct snap_side *s, uint64_t p)
{
    return rd_le32(s->table + (s->ram_size / PAGE + 63) / 64 * 8 + p * 4);
}

static int diff_ram(struct diff *d, const struct snap_side *a,
                    const struct snap_side *b)
{
    uint64_t npages = a->ram_size / PAGE;
    uint8_t pa[PAGE], pb[PAGE];
    struct err err = {0, ""};

    if (a->ram_size != b->ram_size) {
        img_error("The snapshots have different RAM sizes (%" PRIu64
                  " and %" PRIu64 " bytes)",
                  a->ram_size, b->ram_size);
        return -1;
    }
    human_add(d, "RAM pages (4 KiB):");
    for (uint64_t p = 0; p < npages; p++) {
        bool za = !page_nonzero(a, p), zb = !page_nonzero(b, p);
        bool differ = za != zb;

        if (!za && !zb) {
            differ = page_crc(a, p) != page_crc(b, p);
            if (!differ) {
                /* Equal CRCs: compare the bytes to be exact. */
                if (qcow2_vmstate_read(a->img, a->ram_off + p * PAGE, pa, PAGE,
                                       &err) < 0 ||
                    qcow2_vmstate_read(b->img, b->ram_off + p * PAGE, pb, PAGE,
                                       &err) < 0) {
                    img_error("Cannot read RAM page %" PRIu64 ": %s", p,
                              err.msg);
                    return -1;
                }
                differ = memcmp(pa, pb, PAGE) != 0;
            }
        }
        if (differ) {
            img_json_append(d->pages, img_json_uint(RAM_BASE + p * PAGE));
            d->nb_pages++;
            human_add(d, " 0x%" PRIx64, RAM_BASE + p * PAGE);
        }
    }
    human_add(d, "%s\n", d->nb_pages ? "" : " none");
    return 0;
}

/* Do the clusters at @off of the two disks read alike? Shared clusters
 * (same host offset) and clusters that read as zero in both are alike
 * without a read. */
static int cluster_differs(struct diff *d, const struct snap_side *a,
                           const struct snap_side *b, uint64_t off, uint8_t *ba,
                           uint8_t *bb)
{
    uint64_t cs = d->cluster_size;
    struct qcow2_extent ea, eb;
    struct err err = {0, ""};
    bool in_a = off < a->sn.disk_size, in_b = off < b->sn.disk_size;
    size_t len;

    if (in_a != in_b) {
        return 1;
    }
    if (qcow2_block_status(a->img, off, cs, true, &ea, &err) < 0 ||
        qcow2_block_status(b->img, off, cs, true, &eb, &err) < 0) {
        img_error("Cannot map the disk at %" PRIu64 ": %s", off, err.msg);
        return -1;
    }
    if (!(ea.flags & QCOW2_BS_DATA) && !(eb.flags & QCOW2_BS_DATA)) {
        return 0;
    }
    if ((ea.flags & QCOW2_BS_OFFSET) && (eb.flags & QCOW2_BS_OFFSET) &&
        ea.depth == 0 && eb.depth == 0 && ea.host_offset == eb.host_offset) {
        return 0;
    }
    len = (size_t)(a->sn.disk_size - off < cs ? a->sn.disk_size - off : cs);
    if (qcow2_read(a->img, off, ba, len, &err) < 0 ||
        qcow2_read(b->img, off, bb, len, &err) < 0) {
        img_error("Cannot read the disk at %" PRIu64 ": %s", off, err.msg);
        return -1;
    }
    return memcmp(ba, bb, len) != 0;
}

static int diff_disk(struct diff *d, const struct snap_side *a,
                     const struct snap_side *b)
{
    uint64_t cs = d->cluster_size;
    uint64_t end =
        a->sn.disk_size > b->sn.disk_size ? a->sn.disk_size : b->sn.disk_size;
    uint8_t *ba = mem_alloc(cs), *bb = mem_alloc(cs);
    char size[32];
    int ret = 0;

    if (!ba || !bb) {
        img_oom();
    }
    img_size_str(cs, size, sizeof(size));
    human_add(d, "Disk clusters (%s):", size);
    for (uint64_t off = 0; off < end; off += cs) {
        ret = cluster_differs(d, a, b, off, ba, bb);
        if (ret < 0) {
            break;
        }
        if (ret) {
            img_json_append(d->clusters, img_json_uint(off));
            d->nb_clusters++;
            human_add(d, " 0x%" PRIx64, off);
        }
        ret = 0;
    }
    human_add(d, "%s\n", d->nb_clusters ? "" : " none");
    mem_free(ba);
    mem_free(bb);
    return ret;
}

static struct img_json *side_json(const struct snap_side *s)
{
    struct img_json *o = img_json_object();

    img_json_set_str(o, "id", s->id);
    img_json_set_str(o, "name", s->name);
    if (s->sn.icount != UINT64_MAX) {
        img_json_set_uint(o, "icount", s->sn.icount);
    }
    return o;
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
    struct snap_side a, b;
    struct diff d;
    struct qcow2_info info;
    const char *path;
    int c, ret = 1;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
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
    if (side_open(path, flags, argv[optind + 1], &a) < 0 ||
        side_open(path, flags, argv[optind + 2], &b) < 0) {
        goto out;
    }
    qcow2_get_info(a.img, &info);
    d.cluster_size = info.cluster_size;
    d.regs = img_json_array();
    d.devices = img_json_array();
    d.pages = img_json_array();
    d.clusters = img_json_array();
    human_add(&d, "Snapshots '%s' (ID %s) and '%s' (ID %s) of %s\n", a.name,
              a.id, b.name, b.id, path);
    if (diff_machine(&d, &a, &b) < 0 || diff_ram(&d, &a, &b) < 0 ||
        diff_disk(&d, &a, &b) < 0) {
        goto out;
    }
    if (output == IMG_OUTPUT_JSON) {
        struct img_json *o = img_json_object();

        img_json_set_str(o, "image", path);
        img_json_set(o, "a", side_json(&a));
        img_json_set(o, "b", side_json(&b));
        img_json_set(o, "registers", d.regs);
        img_json_set(o, "devices", d.devices);
        img_json_set_uint(o, "page-size", PAGE);
        img_json_set(o, "ram-pages", d.pages);
        img_json_set_uint(o, "cluster-size", d.cluster_size);
        img_json_set(o, "disk-clusters", d.clusters);
        d.regs = d.devices = d.pages = d.clusters = NULL;
        img_json_print(o, stdout);
        img_json_free(o);
    } else {
        fputs(d.human, stdout);
    }
    ret = 0;
out:
    img_json_free(d.regs);
    img_json_free(d.devices);
    img_json_free(d.pages);
    img_json_free(d.clusters);
    mem_free(d.human);
    side_fini(&a);
    side_fini(&b);
    return ret;
}
