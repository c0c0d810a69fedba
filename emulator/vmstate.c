/* SPDX-License-Identifier: MIT */
/*
 * emulator/vmstate.c - the one serialiser of the machine state: the
 * vmstate blob (snapshots, migration) and the state hash, which is the
 * SHA-256 of that blob and of the RAM hash tree. Format and tree:
 * docs/formats/vmstate.md.
 *
 * DESIGN NOTES
 * 1. A blob is a header and sections (id, version, flags, length,
 *    payload, CRC32C). Each section carries its own version, so one
 *    device gaining a field changes one section; a reader refuses a
 *    version outside [min, current] of its table, an unknown section
 *    unless it is flagged skippable, and unknown incompatible features,
 *    each with -ENOTSUP and the section's name.
 * 2. Loading validates every section (checksums, lengths, the
 *    configuration fingerprint, CPU and TLB contents) before it changes
 *    anything: a refused blob leaves the machine as it was.
 * 3. Saving changes nothing the guest can see: the soft TLB is written as
 *    guest addresses and restored, never flushed.
 * 4. The RAM hash is a two-level tree of SHA-256 digests: one per 4 KiB
 *    page, one per group of RV_VMSTATE_HASH_FANOUT pages, a root over the
 *    groups. Only pages marked in the CPU's dirty bitmap since the last
 *    hash are read again, so a hash costs what changed.
 *
 *   save:  fingerprint -> sections in table order -> header with CRC
 *   load:  header -> sections (CRC, version) -> fingerprint -> payload
 *          checks -> apply (machine, devices, PLIC, then CPU and TLB)
 *   hash:  SHA-256(blob || RAM root), RAM root brought up to date first
 */
#include "emulator/rv-int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/hash.h"

#define HDR_MAGIC_OFF    0
#define HDR_VERSION_OFF  4
#define HDR_LEN_OFF      8
#define HDR_INCOMPAT_OFF 12
#define HDR_COMPAT_OFF   16
#define HDR_AUTOCLR_OFF  20
#define HDR_NSECT_OFF    24
#define HDR_TOTAL_OFF    32
/* Largest header accepted: room for future fields. */
#define HDR_MAX_LEN 4096u

#define SECT_HDR_LEN 16u

enum {
    SEC_CONFIG = 1,
    SEC_MACHINE = 2,
    SEC_CPU = 3,
    SEC_TLB = 4,
    SEC_CLINT = 5,
    SEC_PLIC = 6,
    SEC_UART = 7,
    SEC_RTC = 8,
    SEC_TEST = 9,
    SEC_VIRTIO = 16, /* + slot */
};

#define CONFIG_LEN  96u
#define MACHINE_LEN 48u

/* One known section kind: versions this build writes and reads. */
struct sect_kind {
    uint32_t id; /* first id; virtio covers RV_VIRTIO_SLOTS ids */
    const char *name;
    uint16_t version;     /* written */
    uint16_t min_version; /* oldest read */
};

static const struct sect_kind sect_kinds[] = {
    {SEC_CONFIG, "config", 1, 1}, {SEC_MACHINE, "machine", 1, 1},
    {SEC_CPU, "cpu", 1, 1},       {SEC_TLB, "tlb", 1, 1},
    {SEC_CLINT, "clint", 1, 1},   {SEC_PLIC, "plic", 1, 1},
    {SEC_UART, "uart", 1, 1},     {SEC_RTC, "rtc", 1, 1},
    {SEC_TEST, "test", 1, 1},     {SEC_VIRTIO, "virtio", 1, 1},
};
#define NB_KINDS (sizeof(sect_kinds) / sizeof(sect_kinds[0]))
/* Index of a section in the tables of a blob being read or written. */
#define SLOT_VIRTIO(i) (NB_KINDS - 1 + (i))
#define NB_SLOTS       (NB_KINDS - 1 + RV_VIRTIO_SLOTS)

static int kind_of(uint32_t id, unsigned *slot)
{
    if (id >= SEC_VIRTIO && id < SEC_VIRTIO + RV_VIRTIO_SLOTS) {
        *slot = (unsigned)SLOT_VIRTIO(id - SEC_VIRTIO);
        return (int)NB_KINDS - 1;
    }
    for (unsigned k = 0; k + 1 < NB_KINDS; k++) {
        if (sect_kinds[k].id == id) {
            *slot = k;
            return (int)k;
        }
    }
    return -1;
}

static const char *slot_name(unsigned slot, char *buf, size_t cap)
{
    if (slot >= SLOT_VIRTIO(0)) {
        snprintf(buf, cap, "virtio@%u", slot - (unsigned)SLOT_VIRTIO(0));
        return buf;
    }
    return sect_kinds[slot].name;
}

static uint32_t slot_id(unsigned slot)
{
    return slot >= SLOT_VIRTIO(0)
               ? SEC_VIRTIO + (slot - (unsigned)SLOT_VIRTIO(0))
               : sect_kinds[slot].id;
}

/* Whether the context has the state of section @slot. */
static bool slot_present(const struct rv_vmstate_ctx *c, unsigned slot)
{
    switch (slot_id(slot)) {
    case SEC_MACHINE:
        return c->mach.icount_base != NULL;
    case SEC_CPU:
    case SEC_TLB:
        return c->cpu != NULL;
    default:
        return true;
    }
}

/* ---- the RAM hash tree and the cached fingerprint ---- */

struct rv_vmstate_cache {
    uint64_t npages;
    uint64_t ngroups;
    uint8_t (*leaf)[32];  /* npages digests */
    uint8_t (*group)[32]; /* ngroups digests */
    uint64_t *stale;      /* pages to digest again, one bit each */
    uint64_t *gstale;     /* groups to digest again */
    uint64_t *written;    /* pages written since the last snapshot take */
    bool images_done;
    uint8_t images[32]; /* digest of the boot images */
    uint8_t zero[32];   /* digest of a zero page */
};

void rv_vmstate_cache_free(struct rv_vmstate_cache *vc)
{
    if (!vc) {
        return;
    }
    mem_free(vc->leaf);
    mem_free(vc->group);
    mem_free(vc->stale);
    mem_free(vc->gstale);
    mem_free(vc->written);
    mem_free(vc);
}

static int cache_get(const struct rv_vmstate_ctx *c,
                     struct rv_vmstate_cache **out, struct err *err)
{
    struct rv_vmstate_cache *vc = *c->cache;
    uint64_t np = c->ram ? c->ram->size >> 12 : 0;
    static const uint8_t zpage[4096];

    if (vc) {
        *out = vc;
        return 0;
    }
    vc = mem_calloc(1, sizeof(*vc));
    if (!vc) {
        return err_set(err, -ENOMEM, "vmstate: out of memory");
    }
    vc->npages = np;
    vc->ngroups = (np + RV_VMSTATE_HASH_FANOUT - 1) / RV_VMSTATE_HASH_FANOUT;
    vc->leaf = mem_alloc(np ? np * 32 : 1);
    vc->group = mem_alloc(vc->ngroups ? vc->ngroups * 32 : 1);
    vc->stale = mem_alloc(((np + 63) / 64 + 1) * 8);
    vc->gstale = mem_alloc(((vc->ngroups + 63) / 64 + 1) * 8);
    vc->written = mem_alloc(((np + 63) / 64 + 1) * 8);
    if (!vc->leaf || !vc->group || !vc->stale || !vc->gstale || !vc->written) {
        rv_vmstate_cache_free(vc);
        return err_set(err, -ENOMEM, "vmstate: hash tree of %" PRIu64 " pages",
                       np);
    }
    memset(vc->stale, 0xff, ((np + 63) / 64 + 1) * 8);
    memset(vc->gstale, 0xff, ((vc->ngroups + 63) / 64 + 1) * 8);
    memset(vc->written, 0xff, ((np + 63) / 64 + 1) * 8);
    hash_sha256(zpage, sizeof(zpage), vc->zero);
    *c->cache = vc;
    *out = vc;
    return 0;
}

bool rv_page_is_zero(const uint8_t *p)
{
    uint64_t acc = 0;

    for (unsigned i = 0; i < 4096; i += 64) {
        uint64_t w[8];

        memcpy(w, p + i, sizeof(w));
        acc |= w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7];
        if (acc) {
            return false;
        }
    }
    return true;
}

/*
 * Move the CPU's dirty marks into both consumers: the hash tree's stale
 * bitmap and the snapshot writer's written bitmap. The CPU bitmap is
 * cleared by each take, so every consumer must take through here.
 */
static int dirty_collect(const struct rv_vmstate_ctx *c,
                         struct rv_vmstate_cache *vc, struct err *err)
{
    uint64_t words = (vc->npages + 63) / 64;
    uint64_t *marks;
    int ret;

    if (!c->cpu || !vc->npages) {
        return 0;
    }
    marks = mem_calloc(words, 8);
    if (!marks) {
        return err_set(err, -ENOMEM, "vmstate: dirty bitmap");
    }
    ret = rv_cpu_dirty_take(c->cpu, c->ram->base, vc->npages, marks);
    if (ret < 0) {
        mem_free(marks);
        return err_set(err, ret, "vmstate: RAM is not a CPU region");
    }
    for (uint64_t w = 0; w < words; w++) {
        vc->stale[w] |= marks[w];
        vc->written[w] |= marks[w];
    }
    mem_free(marks);
    return 0;
}

int rv_vmstate_written_take(const struct rv_vmstate_ctx *c, uint64_t *dst,
                            struct err *err)
{
    struct rv_vmstate_cache *vc;
    uint64_t words;
    int ret = cache_get(c, &vc, err);

    if (ret < 0) {
        return ret;
    }
    ret = dirty_collect(c, vc, err);
    if (ret < 0) {
        return ret;
    }
    words = (vc->npages + 63) / 64;
    for (uint64_t w = 0; w < words; w++) {
        if (dst) {
            dst[w] |= vc->written[w];
        }
        vc->written[w] = 0;
    }
    return 0;
}

/* Bring the tree up to date and write its root into @dst. */
static int ram_root(const struct rv_vmstate_ctx *c, uint8_t *dst,
                    struct err *err)
{
    struct rv_vmstate_cache *vc;
    struct hash_sha256 *h;
    uint8_t sz[8];
    int ret = cache_get(c, &vc, err);

    if (ret < 0) {
        return ret;
    }
    ret = dirty_collect(c, vc, err);
    if (ret < 0) {
        return ret;
    }
    for (uint64_t p = 0; p < vc->npages; p++) {
        const uint8_t *page;

        if (vc->stale[p / 64] == 0) {
            p += 63 - p % 64;
            continue;
        }
        if (!(vc->stale[p / 64] & (1ULL << (p % 64)))) {
            continue;
        }
        vc->stale[p / 64] &= ~(1ULL << (p % 64));
        page = c->ram->host + (p << 12);
        if (rv_page_is_zero(page)) {
            memcpy(vc->leaf[p], vc->zero, 32);
        } else {
            hash_sha256(page, 4096, vc->leaf[p]);
        }
        vc->gstale[p / RV_VMSTATE_HASH_FANOUT / 64] |=
            1ULL << (p / RV_VMSTATE_HASH_FANOUT % 64);
    }
    for (uint64_t g = 0; g < vc->ngroups; g++) {
        uint64_t first = g * RV_VMSTATE_HASH_FANOUT;
        uint64_t n = vc->npages - first < RV_VMSTATE_HASH_FANOUT
                         ? vc->npages - first
                         : RV_VMSTATE_HASH_FANOUT;

        if (!(vc->gstale[g / 64] & (1ULL << (g % 64)))) {
            continue;
        }
        vc->gstale[g / 64] &= ~(1ULL << (g % 64));
        hash_sha256(vc->leaf[first], (size_t)n * 32, vc->group[g]);
    }
    ret = hash_sha256_new(&h);
    if (ret < 0) {
        return err_set(err, ret, "vmstate: SHA-256");
    }
    wr_le64(sz, c->ram ? c->ram->size : 0);
    hash_sha256_update(h, sz, sizeof(sz));
    hash_sha256_update(h, vc->group, (size_t)vc->ngroups * 32);
    hash_sha256_final(h, dst);
    return 0;
}

/* ---- the configuration fingerprint ---- */

static int images_digest(const struct rv_vmstate_ctx *c, uint8_t *dst,
                         struct err *err)
{
    struct rv_vmstate_cache *vc;
    struct hash_sha256 *h;
    int ret = cache_get(c, &vc, err);

    if (ret < 0) {
        return ret;
    }
    if (!vc->images_done) {
        ret = hash_sha256_new(&h);
        if (ret < 0) {
            return err_set(err, ret, "vmstate: SHA-256");
        }
        for (unsigned i = 0; i < c->nb_images; i++) {
            uint8_t hdr[16];

            wr_le64(hdr, c->images[i].gpa);
            wr_le64(hdr + 8, c->images[i].len);
            hash_sha256_update(h, hdr, sizeof(hdr));
            hash_sha256_update(h, c->images[i].data, c->images[i].len);
        }
        hash_sha256_final(h, vc->images);
        vc->images_done = true;
    }
    memcpy(dst, vc->images, 32);
    return 0;
}

/*
 * CONFIG payload: u64 RAM size, u32 icount shift, u32 reserved, u8[8]
 * virtio device id per slot, u64 virtio-blk sizes hash (see
 * config_build), SHA-256 of the CPU profile (isa and MMU strings, NUL
 * separated), SHA-256 of the boot images. 96 bytes.
 */
static int config_build(const struct rv_vmstate_ctx *c, uint8_t *p,
                        struct err *err)
{
    uint8_t prof[256];
    size_t il = c->isa ? strlen(c->isa) : 0;
    size_t ml = c->mmu_type ? strlen(c->mmu_type) : 0;
    uint64_t disks = 0;

    memset(p, 0, CONFIG_LEN);
    wr_le64(p, c->ram ? c->ram->size : 0);
    wr_le32(p + 8, c->icount_shift);
    for (unsigned i = 0; i < RV_VIRTIO_SLOTS; i++) {
        const struct rv_virtio *v = &c->dev.virtio[i];

        p[16 + i] = (uint8_t)v->device_id;
        if (v->blk) {
            disks = disks * 1099511628211ull + v->blk->size + i;
        }
    }
    wr_le64(p + 24, disks);
    if (il + ml + 2 > sizeof(prof)) {
        return err_set(err, -ERANGE, "vmstate: CPU profile strings too long");
    }
    memcpy(prof, c->isa ? c->isa : "", il + 1);
    memcpy(prof + il + 1, c->mmu_type ? c->mmu_type : "", ml + 1);
    hash_sha256(prof, il + ml + 2, p + 32);
    return images_digest(c, p + 64, err);
}

static const char *kind_name(uint8_t id)
{
    return id == RV_VIRTIO_ID_BLK   ? "virtio-blk"
           : id == RV_VIRTIO_ID_RNG ? "virtio-rng"
           : id == 0                ? "empty"
                                    : "unknown";
}

static int config_check(const struct rv_vmstate_ctx *c, const uint8_t *saved,
                        struct err *err)
{
    uint8_t mine[CONFIG_LEN];
    int ret = config_build(c, mine, err);

    if (ret < 0) {
        return ret;
    }
    if (rd_le64(saved) != rd_le64(mine)) {
        return err_set(err, -EINVAL,
                       "vmstate is from another machine: %" PRIu64
                       " MiB of RAM, this one has %" PRIu64 " MiB",
                       rd_le64(saved) >> 20, rd_le64(mine) >> 20);
    }
    if (rd_le32(saved + 8) != rd_le32(mine + 8)) {
        return err_set(err, -EINVAL,
                       "vmstate is from another machine: -icount shift=%u, "
                       "this one has shift=%u",
                       rd_le32(saved + 8), rd_le32(mine + 8));
    }
    for (unsigned i = 0; i < RV_VIRTIO_SLOTS; i++) {
        if (saved[16 + i] != mine[16 + i]) {
            return err_set(err, -EINVAL,
                           "vmstate is from another machine: virtio slot %u "
                           "holds %s, this one has %s",
                           i, kind_name(saved[16 + i]),
                           kind_name(mine[16 + i]));
        }
    }
    if (rd_le64(saved + 24) != rd_le64(mine + 24)) {
        return err_set(err, -EINVAL,
                       "vmstate is from another machine: the disk sizes "
                       "differ");
    }
    if (memcmp(saved + 32, mine + 32, 32)) {
        return err_set(err, -EINVAL,
                       "vmstate is from another machine: the CPU profile "
                       "(ISA, MMU) differs");
    }
    if (memcmp(saved + 64, mine + 64, 32)) {
        return err_set(err, -EINVAL,
                       "vmstate is from another machine: the firmware, "
                       "kernel, initrd or device tree differ");
    }
    return 0;
}

/* ---- writing ---- */

struct wbuf {
    uint8_t *p; /* NULL: only count */
    size_t len;
};

static uint8_t *sect_open(struct wbuf *w, unsigned slot, size_t len)
{
    size_t at = w->len;

    w->len += SECT_HDR_LEN + len;
    if (!w->p) {
        return NULL;
    }
    wr_le32(w->p + at, slot_id(slot));
    wr_le16(w->p + at + 4,
            sect_kinds[slot >= SLOT_VIRTIO(0) ? NB_KINDS - 1 : slot].version);
    wr_le16(w->p + at + 6, 0);
    wr_le32(w->p + at + 8, (uint32_t)len);
    return w->p + at + SECT_HDR_LEN;
}

static void sect_close(struct wbuf *w, uint8_t *payload)
{
    uint8_t *h;
    uint32_t len, crc;

    if (!w->p) {
        return;
    }
    h = payload - SECT_HDR_LEN;
    len = rd_le32(h + 8);
    crc = hash_crc32c(0, h, 12);
    wr_le32(h + 12, hash_crc32c(crc, payload, len));
}

static int write_all(const struct rv_vmstate_ctx *c, struct wbuf *w,
                     unsigned *nsect, struct err *err)
{
    size_t tlb_len = c->cpu ? rv_cpu_tlb_save(c->cpu, NULL, 0) : 0;
    size_t cpu_len = c->cpu ? rv_cpu_save(c->cpu, NULL, 0) : 0;
    uint8_t *p;
    int ret;

    *nsect = 0;
    w->len = RV_VMSTATE_HDR_LEN;
    for (unsigned s = 0; s < NB_SLOTS; s++) {
        if (!slot_present(c, s)) {
            continue;
        }
        (*nsect)++;
        switch (slot_id(s)) {
        case SEC_CONFIG:
            p = sect_open(w, s, CONFIG_LEN);
            if (p) {
                ret = config_build(c, p, err);
                if (ret < 0) {
                    return ret;
                }
            }
            break;
        case SEC_MACHINE:
            p = sect_open(w, s, MACHINE_LEN);
            if (p) {
                wr_le64(p, *c->mach.icount_base);
                wr_le64(p + 8, *c->mach.idle_ns);
                for (unsigned i = 0; i < 4; i++) {
                    wr_le64(p + 16 + 8 * i, c->mach.rng[i]);
                }
            }
            break;
        case SEC_CPU:
            p = sect_open(w, s, cpu_len);
            if (p && rv_cpu_save(c->cpu, p, cpu_len) != cpu_len) {
                return err_set(err, -EIO, "vmstate: CPU state size changed");
            }
            break;
        case SEC_TLB:
            p = sect_open(w, s, tlb_len);
            if (p && rv_cpu_tlb_save(c->cpu, p, tlb_len) != tlb_len) {
                return err_set(err, -EIO, "vmstate: TLB size changed");
            }
            break;
        case SEC_CLINT:
            p = sect_open(w, s, RV_CLINT_STATE_LEN);
            if (p) {
                rv_dev_clint_save(c->dev.clint, p);
            }
            break;
        case SEC_PLIC:
            p = sect_open(w, s, RV_PLIC_STATE_LEN);
            if (p) {
                rv_dev_plic_save(c->dev.plic, p);
            }
            break;
        case SEC_UART:
            p = sect_open(w, s, RV_UART_STATE_LEN);
            if (p) {
                rv_dev_uart_save(c->dev.uart, p);
            }
            break;
        case SEC_RTC:
            p = sect_open(w, s, RV_RTC_STATE_LEN);
            if (p) {
                rv_dev_rtc_save(c->dev.rtc, p);
            }
            break;
        case SEC_TEST:
            p = sect_open(w, s, 0); /* the finisher has no state */
            break;
        default:
            p = sect_open(w, s, RV_VIRTIO_STATE_LEN);
            if (p) {
                rv_dev_virtio_save(&c->dev.virtio[s - SLOT_VIRTIO(0)], p);
            }
            break;
        }
        if (p) {
            sect_close(w, p);
        }
    }
    return 0;
}

int rv_vmstate_save(const struct rv_vmstate_ctx *c, uint8_t **out,
                    size_t *out_len, struct err *err)
{
    struct wbuf w = {NULL, 0};
    unsigned nsect;
    int ret;

    CHECK_ARG(c && out && out_len);
    ret = write_all(c, &w, &nsect, err);
    if (ret < 0) {
        return ret;
    }
    w.p = mem_calloc(1, w.len);
    if (!w.p) {
        return err_set(err, -ENOMEM, "vmstate: %zu bytes", w.len);
    }
    ret = write_all(c, &w, &nsect, err);
    if (ret < 0) {
        mem_free(w.p);
        return ret;
    }
    wr_le32(w.p + HDR_MAGIC_OFF, RV_VMSTATE_MAGIC);
    wr_le32(w.p + HDR_VERSION_OFF, RV_VMSTATE_VERSION);
    wr_le32(w.p + HDR_LEN_OFF, RV_VMSTATE_HDR_LEN);
    wr_le32(w.p + HDR_INCOMPAT_OFF, 0);
    wr_le32(w.p + HDR_COMPAT_OFF, 0);
    wr_le32(w.p + HDR_AUTOCLR_OFF, 0);
    wr_le32(w.p + HDR_NSECT_OFF, nsect);
    wr_le64(w.p + HDR_TOTAL_OFF, w.len);
    wr_le32(w.p + RV_VMSTATE_HDR_LEN - 4,
            hash_crc32c(0, w.p, RV_VMSTATE_HDR_LEN - 4));
    *out = w.p;
    *out_len = w.len;
    return 0;
}

/* ---- reading ---- */

struct parsed {
    const uint8_t *pay[NB_SLOTS]; /* NULL if absent */
    uint32_t len[NB_SLOTS];
    uint16_t ver[NB_SLOTS];
};

static int parse(const uint8_t *src, size_t src_len, struct parsed *ps,
                 struct err *err)
{
    uint32_t hlen, nsect, incompat;
    size_t off;
    char nb[32];

    memset(ps, 0, sizeof(*ps));
    if (src_len < RV_VMSTATE_HDR_LEN ||
        rd_le32(src + HDR_MAGIC_OFF) != RV_VMSTATE_MAGIC) {
        return err_set(err, -EBADMSG, "vmstate: not an rrvm machine state");
    }
    hlen = rd_le32(src + HDR_LEN_OFF);
    if (hlen < RV_VMSTATE_HDR_LEN || hlen > HDR_MAX_LEN || hlen > src_len) {
        return err_set(err, -EBADMSG, "vmstate: bad header length %" PRIu32,
                       hlen);
    }
    if (hash_crc32c(0, src, hlen - 4) != rd_le32(src + hlen - 4)) {
        return err_set(err, -EBADMSG, "vmstate: header checksum mismatch");
    }
    if (rd_le32(src + HDR_VERSION_OFF) != RV_VMSTATE_VERSION) {
        return err_set(err, -ENOTSUP,
                       "vmstate: format version %" PRIu32
                       " unsupported (this rrvm reads %u)",
                       rd_le32(src + HDR_VERSION_OFF), RV_VMSTATE_VERSION);
    }
    incompat = rd_le32(src + HDR_INCOMPAT_OFF);
    if (incompat & ~RV_VMSTATE_INCOMPAT_KNOWN) {
        return err_set(err, -ENOTSUP,
                       "vmstate: unknown incompatible features 0x%" PRIx32,
                       incompat & ~RV_VMSTATE_INCOMPAT_KNOWN);
    }
    if (rd_le64(src + HDR_TOTAL_OFF) != src_len) {
        return err_set(err, -EBADMSG,
                       "vmstate: %zu bytes, the header says %" PRIu64
                       " (truncated?)",
                       src_len, rd_le64(src + HDR_TOTAL_OFF));
    }
    nsect = rd_le32(src + HDR_NSECT_OFF);
    if (nsect > RV_VMSTATE_MAX_SECTIONS) {
        return err_set(err, -ERANGE,
                       "vmstate: %" PRIu32 " sections exceeds limit %u", nsect,
                       RV_VMSTATE_MAX_SECTIONS);
    }
    off = hlen;
    for (uint32_t i = 0; i < nsect; i++) {
        const uint8_t *h = src + off;
        uint32_t id, len, flags;
        uint16_t ver;
        unsigned slot;
        int k;

        if (src_len - off < SECT_HDR_LEN) {
            return err_set(err, -EBADMSG,
                           "vmstate: section %" PRIu32 " truncated", i);
        }
        id = rd_le32(h);
        ver = rd_le16(h + 4);
        flags = rd_le16(h + 6);
        len = rd_le32(h + 8);
        if (len > RV_VMSTATE_MAX_SECTION_BYTES) {
            return err_set(err, -ERANGE,
                           "vmstate: section %" PRIu32 " of %" PRIu32
                           " bytes exceeds limit %u",
                           id, len, RV_VMSTATE_MAX_SECTION_BYTES);
        }
        if (src_len - off - SECT_HDR_LEN < len) {
            return err_set(err, -EBADMSG,
                           "vmstate: section %" PRIu32 " truncated", id);
        }
        if (hash_crc32c(hash_crc32c(0, h, 12), h + SECT_HDR_LEN, len) !=
            rd_le32(h + 12)) {
            return err_set(err, -EBADMSG,
                           "vmstate: section %" PRIu32 " checksum mismatch",
                           id);
        }
        off += SECT_HDR_LEN + len;
        k = kind_of(id, &slot);
        if (k < 0) {
            if (flags & RV_VMSTATE_SECT_SKIPPABLE) {
                continue;
            }
            return err_set(err, -ENOTSUP,
                           "vmstate: unknown section %" PRIu32
                           " (saved by a newer rrvm?)",
                           id);
        }
        if (ver > sect_kinds[k].version || ver < sect_kinds[k].min_version) {
            return err_set(err, -ENOTSUP,
                           "vmstate: section %s version %u unsupported (this "
                           "rrvm reads %u..%u)",
                           slot_name(slot, nb, sizeof(nb)), ver,
                           sect_kinds[k].min_version, sect_kinds[k].version);
        }
        if (ps->pay[slot]) {
            return err_set(err, -EBADMSG, "vmstate: section %s twice",
                           slot_name(slot, nb, sizeof(nb)));
        }
        ps->pay[slot] = h + SECT_HDR_LEN;
        ps->len[slot] = len;
        ps->ver[slot] = ver;
    }
    if (off != src_len) {
        return err_set(err, -EBADMSG,
                       "vmstate: %zu bytes after the last section",
                       src_len - off);
    }
    return 0;
}

static size_t want_len(const struct rv_vmstate_ctx *c, unsigned slot)
{
    switch (slot_id(slot)) {
    case SEC_CONFIG:
        return CONFIG_LEN;
    case SEC_MACHINE:
        return MACHINE_LEN;
    case SEC_CPU:
        return rv_cpu_save(c->cpu, NULL, 0);
    case SEC_TLB:
        return SIZE_MAX; /* variable; checked by rv_cpu_tlb_check() */
    case SEC_CLINT:
        return RV_CLINT_STATE_LEN;
    case SEC_PLIC:
        return RV_PLIC_STATE_LEN;
    case SEC_UART:
        return RV_UART_STATE_LEN;
    case SEC_RTC:
        return RV_RTC_STATE_LEN;
    case SEC_TEST:
        return 0;
    default:
        return RV_VIRTIO_STATE_LEN;
    }
}

int rv_vmstate_check(const struct rv_vmstate_ctx *c, const uint8_t *src,
                     size_t src_len, struct err *err)
{
    struct parsed ps;
    char nb[32];
    int ret;

    CHECK_ARG(c && (src || !src_len));
    ret = parse(src, src_len, &ps, err);
    if (ret < 0) {
        return ret;
    }
    for (unsigned s = 0; s < NB_SLOTS; s++) {
        size_t want;

        if (!slot_present(c, s)) {
            if (ps.pay[s]) {
                return err_set(err, -EINVAL,
                               "vmstate: section %s has no place here",
                               slot_name(s, nb, sizeof(nb)));
            }
            continue;
        }
        if (!ps.pay[s]) {
            return err_set(err, -EBADMSG, "vmstate: section %s missing",
                           slot_name(s, nb, sizeof(nb)));
        }
        want = want_len(c, s);
        if (want != SIZE_MAX && ps.len[s] != want) {
            return err_set(err, -EBADMSG,
                           "vmstate: section %s is %" PRIu32
                           " bytes, expected %zu",
                           slot_name(s, nb, sizeof(nb)), ps.len[s], want);
        }
    }
    ret = config_check(c, ps.pay[0], err);
    if (ret < 0) {
        return ret;
    }
    if (c->cpu) {
        ret = rv_cpu_load_check(ps.pay[2], ps.len[2]);
        if (ret < 0) {
            return err_set(err, ret, "vmstate: section cpu: %s",
                           ret == -ENOTSUP ? "unsupported features"
                                           : "malformed");
        }
        ret = rv_cpu_tlb_check(c->cpu, ps.pay[3], ps.len[3]);
        if (ret < 0) {
            return err_set(err, ret, "vmstate: section tlb: malformed");
        }
    }
    for (unsigned i = 0; i < RV_VIRTIO_SLOTS; i++) {
        if (rd_le32(ps.pay[SLOT_VIRTIO(i)]) != c->dev.virtio[i].device_id) {
            return err_set(err, -EBADMSG,
                           "vmstate: section virtio@%u holds another device "
                           "type",
                           i);
        }
    }
    return 0;
}

int rv_vmstate_load(const struct rv_vmstate_ctx *c, const uint8_t *src,
                    size_t src_len, struct err *err)
{
    struct parsed ps;
    int ret;

    CHECK_ARG(c && (src || !src_len));
    ret = rv_vmstate_check(c, src, src_len, err);
    if (ret < 0) {
        return ret;
    }
    ret = parse(src, src_len, &ps, err);
    if (ret < 0) {
        return ret;
    }
    if (c->mach.icount_base) {
        const uint8_t *p = ps.pay[1];

        *c->mach.icount_base = rd_le64(p);
        *c->mach.idle_ns = rd_le64(p + 8);
        for (unsigned i = 0; i < 4; i++) {
            c->mach.rng[i] = rd_le64(p + 16 + 8 * i);
        }
    }
    rv_dev_clint_load(c->dev.clint, ps.pay[4]);
    rv_dev_uart_load(c->dev.uart, ps.pay[6]);
    rv_dev_rtc_load(c->dev.rtc, ps.pay[7]);
    for (unsigned i = 0; i < RV_VIRTIO_SLOTS; i++) {
        rv_dev_virtio_load(&c->dev.virtio[i], ps.pay[SLOT_VIRTIO(i)]);
    }
    /* The devices above re-drive their lines, which would re-pend claimed
     * sources; the PLIC's saved bits are the truth. */
    rv_dev_plic_load(c->dev.plic, ps.pay[5]);
    /* Last: the loads above drive mip; the hart's saved mip is the truth
     * (it may lag the devices until the next slice, as it did when saved). */
    if (c->cpu) {
        if (rv_cpu_load(c->cpu, ps.pay[2], ps.len[2]) < 0 ||
            rv_cpu_tlb_load(c->cpu, ps.pay[3], ps.len[3]) < 0) {
            return err_set(err, -EIO, "vmstate: CPU state changed under us");
        }
        if (c->ram && !c->ram_marked_by_caller) {
            rv_cpu_ram_written(c->cpu, c->ram->base, c->ram->size);
        }
    }
    return 0;
}

void rv_vmstate_ram_changed(const struct rv_vmstate_ctx *c, uint64_t page,
                            uint64_t n)
{
    if (c->cpu && c->ram && n) {
        rv_cpu_ram_written(c->cpu, c->ram->base + page * 4096, n * 4096);
    }
}

/* ---- the state hash ---- */

int rv_vmstate_hash(const struct rv_vmstate_ctx *c, uint8_t *dst,
                    struct err *err)
{
    struct hash_sha256 *h;
    uint8_t root[32];
    uint8_t *blob;
    size_t len;
    int ret;

    CHECK_ARG(c && dst);
    ret = rv_vmstate_save(c, &blob, &len, err);
    if (ret < 0) {
        return ret;
    }
    ret = ram_root(c, root, err);
    if (ret < 0) {
        mem_free(blob);
        return ret;
    }
    ret = hash_sha256_new(&h);
    if (ret < 0) {
        mem_free(blob);
        return err_set(err, ret, "vmstate: SHA-256");
    }
    hash_sha256_update(h, blob, len);
    hash_sha256_update(h, root, sizeof(root));
    hash_sha256_final(h, dst);
    mem_free(blob);
    return 0;
}

int rv_vmstate_ram_root(const struct rv_vmstate_ctx *c, uint8_t *dst,
                        struct err *err)
{
    CHECK_ARG(c && dst);
    return ram_root(c, dst, err);
}

/* ---- a whole machine ---- */

int rv_machine_vmstate_save(struct rv_machine *m, uint8_t **out,
                            size_t *out_len, struct err *err)
{
    struct rv_vmstate_ctx c;

    CHECK_ARG(m);
    rv_machine_vmstate_ctx(m, &c);
    return rv_vmstate_save(&c, out, out_len, err);
}

int rv_machine_vmstate_load(struct rv_machine *m, const uint8_t *src,
                            size_t src_len, struct err *err)
{
    struct rv_vmstate_ctx c;

    CHECK_ARG(m);
    rv_machine_vmstate_ctx(m, &c);
    return rv_vmstate_load(&c, src, src_len, err);
}

int rv_machine_vmstate_check(struct rv_machine *m, const uint8_t *src,
                             size_t src_len, struct err *err)
{
    struct rv_vmstate_ctx c;

    CHECK_ARG(m);
    rv_machine_vmstate_ctx(m, &c);
    return rv_vmstate_check(&c, src, src_len, err);
}
