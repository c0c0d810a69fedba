/* SPDX-License-Identifier: MIT */
/*
 * emulator/dev-virtio.c - virtio-mmio version 2 (modern only) with the
 * virtio-blk and virtio-rng device types, split virtqueues without
 * indirect descriptors or event index. Requests run synchronously when the
 * driver writes QueueNotify, so completion order and timing depend only on
 * the guest. Every address the guest hands us is bounds-checked against
 * RAM through host->dma before it is touched.
 */
#include "emulator/rv-int.h"

#include <string.h>

#include "common/bytes.h"

enum {
    VIRTIO_MAGIC = 0x000,
    VIRTIO_VERSION = 0x004,
    VIRTIO_DEVICE_ID = 0x008,
    VIRTIO_VENDOR_ID = 0x00c,
    VIRTIO_DEVICE_FEATURES = 0x010,
    VIRTIO_DEVICE_FEATURES_SEL = 0x014,
    VIRTIO_DRIVER_FEATURES = 0x020,
    VIRTIO_DRIVER_FEATURES_SEL = 0x024,
    VIRTIO_QUEUE_SEL = 0x030,
    VIRTIO_QUEUE_NUM_MAX = 0x034,
    VIRTIO_QUEUE_NUM = 0x038,
    VIRTIO_QUEUE_READY = 0x044,
    VIRTIO_QUEUE_NOTIFY = 0x050,
    VIRTIO_INTERRUPT_STATUS = 0x060,
    VIRTIO_INTERRUPT_ACK = 0x064,
    VIRTIO_STATUS = 0x070,
    VIRTIO_QUEUE_DESC_LOW = 0x080,
    VIRTIO_QUEUE_DESC_HIGH = 0x084,
    VIRTIO_QUEUE_AVAIL_LOW = 0x090,
    VIRTIO_QUEUE_AVAIL_HIGH = 0x094,
    VIRTIO_QUEUE_USED_LOW = 0x0a0,
    VIRTIO_QUEUE_USED_HIGH = 0x0a4,
    VIRTIO_CONFIG_GENERATION = 0x0fc,
    VIRTIO_CONFIG = 0x100,
};

#define VIRTIO_MAGIC_VALUE 0x74726976u /* "virt" */
#define VIRTIO_VENDOR_QEMU 0x554d4551u /* "QEMU" */
#define VIRTIO_F_VERSION_1 (1ull << 32)
#define STATUS_FEATURES_OK 8u
#define STATUS_DRIVER_OK   4u
#define STATUS_NEEDS_RESET 64u

#define VIRTQ_DESC_F_NEXT          1
#define VIRTQ_DESC_F_WRITE         2
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

#define BLK_F_SEG_MAX      (1ull << 2)
#define BLK_F_RO           (1ull << 5)
#define BLK_F_BLK_SIZE     (1ull << 6)
#define BLK_F_FLUSH        (1ull << 9)
#define BLK_F_DISCARD      (1ull << 13)
#define BLK_F_WRITE_ZEROES (1ull << 14)

#define BLK_T_IN           0
#define BLK_T_OUT          1
#define BLK_T_FLUSH        4
#define BLK_T_GET_ID       8
#define BLK_T_DISCARD      11
#define BLK_T_WRITE_ZEROES 13
#define BLK_S_OK           0
#define BLK_S_IOERR        1
#define BLK_S_UNSUPP       2
#define BLK_SECTOR         512u
/* Largest discard/write-zeroes range per segment: 2 GiB, in sectors. */
#define BLK_MAX_DISCARD_SECTORS (1u << 22)
#define BLK_DISCARD_SEG_LEN     16
#define BLK_HDR_LEN             16

/* One descriptor of a popped chain, resolved to host memory. */
struct vseg {
    uint8_t *host;
    uint32_t len;
    bool write;
};

struct vchain {
    uint16_t head;
    unsigned n;
    struct vseg seg[RV_VIRTQ_MAX];
    size_t out_len; /* bytes in device-readable segments */
    size_t in_len;  /* bytes in device-writable segments */
    bool bad;       /* a descriptor pointed outside RAM or looped */
};

static void vlog(struct rv_virtio *v, const char *msg)
{
    if (v->host->log) {
        v->host->log(v->host->opaque, RV_LOG_GUEST_ERRORS, msg);
    }
}

/* Version 1 (legacy) registers: we implement version 2 only. */
static bool legacy_reg(uint64_t off)
{
    return off == 0x028 || off == 0x03c || off == 0x040;
}

static void vlog_unimp(struct rv_virtio *v, uint64_t off)
{
    if (v->host->log && legacy_reg(off)) {
        v->host->log(v->host->opaque, RV_LOG_UNIMP,
                     "virtio-mmio: legacy (version 1) register accessed; "
                     "only version 2 is implemented");
    }
}

static void virtio_update_irq(struct rv_virtio *v)
{
    v->host->set_irq(v->host->opaque, v->irq, v->isr != 0);
}

static void blk_config_init(struct rv_virtio *v)
{
    uint8_t *c = v->config;

    memset(c, 0, sizeof(v->config));
    wr_le64(c + 0, v->blk->size / BLK_SECTOR);
    wr_le32(c + 12, RV_VIRTQ_MAX - 2);
    wr_le32(c + 20, BLK_SECTOR);
    wr_le16(c + 34, 1);
    wr_le32(c + 36, BLK_MAX_DISCARD_SECTORS);
    wr_le32(c + 40, 1);
    wr_le32(c + 44, 1);
    wr_le32(c + 48, BLK_MAX_DISCARD_SECTORS);
    wr_le32(c + 52, 1);
    c[56] = 1;
}

void rv_dev_virtio_init(struct rv_virtio *v, const struct rv_dev_host *host,
                        unsigned irq, uint32_t device_id,
                        const struct rv_blk_backend *blk)
{
    memset(v, 0, sizeof(*v));
    v->host = host;
    v->irq = irq;
    v->device_id = device_id;
    v->blk = blk;
    v->host_features = VIRTIO_F_VERSION_1;
    if (device_id == RV_VIRTIO_ID_BLK && blk) {
        v->host_features |= BLK_F_SEG_MAX | BLK_F_BLK_SIZE | BLK_F_FLUSH;
        if (blk->readonly) {
            v->host_features |= BLK_F_RO;
        } else {
            v->host_features |= BLK_F_DISCARD | BLK_F_WRITE_ZEROES;
        }
        blk_config_init(v);
    }
    rv_dev_virtio_reset(v);
}

void rv_dev_virtio_config_changed(struct rv_virtio *v)
{
    if (v->device_id != RV_VIRTIO_ID_BLK || !v->blk) {
        return;
    }
    wr_le64(v->config, v->blk->size / BLK_SECTOR);
    if (!(v->status & STATUS_DRIVER_OK)) {
        return;
    }
    v->isr |= 3;
    v->config_generation++;
    virtio_update_irq(v);
}

void rv_dev_virtio_reset(struct rv_virtio *v)
{
    v->guest_features = 0;
    v->host_features_sel = 0;
    v->guest_features_sel = 0;
    v->queue_sel = 0;
    v->status = 0;
    v->isr = 0;
    for (unsigned i = 0; i < RV_VIRTIO_QUEUES; i++) {
        memset(&v->vq[i], 0, sizeof(v->vq[i]));
    }
    virtio_update_irq(v);
}

static bool guest_rd16(struct rv_virtio *v, uint64_t gpa, uint16_t *val)
{
    uint8_t *p = v->host->dma(v->host->opaque, gpa, 2);

    if (!p) {
        return false;
    }
    *val = rd_le16(p);
    return true;
}

/*
 * Pop the next available chain of queue @q into @ch. Returns 1 if one was
 * popped (ch->bad set if it is malformed), 0 if the ring is empty, -1 if
 * the ring itself is outside RAM.
 */
static int vq_pop(struct rv_virtio *v, struct rv_virtq *q, struct vchain *ch)
{
    uint16_t avail_idx, idx;
    uint8_t *d;
    uint64_t addr;
    uint32_t len;
    uint16_t flags;

    if (!guest_rd16(v, q->avail + 2, &avail_idx)) {
        return -1;
    }
    if (avail_idx == q->last_avail) {
        return 0;
    }
    if (!guest_rd16(v, q->avail + 4 + 2 * (uint64_t)(q->last_avail % q->num),
                    &ch->head)) {
        return -1;
    }
    q->last_avail++;
    ch->n = 0;
    ch->out_len = 0;
    ch->in_len = 0;
    ch->bad = false;
    idx = ch->head;
    for (;;) {
        if (idx >= q->num || ch->n >= q->num) {
            ch->bad = true;
            return 1;
        }
        d = v->host->dma(v->host->opaque, q->desc + 16 * (uint64_t)idx, 16);
        if (!d) {
            ch->bad = true;
            return 1;
        }
        addr = rd_le64(d);
        len = rd_le32(d + 8);
        flags = rd_le16(d + 12);
        ch->seg[ch->n].host = v->host->dma(v->host->opaque, addr, len);
        ch->seg[ch->n].len = len;
        ch->seg[ch->n].write = (flags & VIRTQ_DESC_F_WRITE) != 0;
        if (!ch->seg[ch->n].host && len) {
            ch->bad = true;
            return 1;
        }
        if (ch->seg[ch->n].write) {
            ch->in_len += len;
            if (len) {
                v->host->dma_written(v->host->opaque, addr, len);
            }
        } else {
            if (ch->in_len) {
                ch->bad = true; /* readable after writable */
                return 1;
            }
            ch->out_len += len;
        }
        ch->n++;
        if (!(flags & VIRTQ_DESC_F_NEXT)) {
            break;
        }
        idx = rd_le16(d + 14);
    }
    return 1;
}

static void vq_push(struct rv_virtio *v, struct rv_virtq *q, uint16_t head,
                    uint32_t written)
{
    uint16_t used_idx, avail_flags = 0;
    uint8_t *p;

    if (!guest_rd16(v, q->used + 2, &used_idx)) {
        vlog(v, "virtio: used ring outside RAM");
        v->status |= STATUS_NEEDS_RESET;
        return;
    }
    p = v->host->dma(v->host->opaque,
                     q->used + 4 + 8 * (uint64_t)(used_idx % q->num), 8);
    if (!p) {
        v->status |= STATUS_NEEDS_RESET;
        return;
    }
    wr_le32(p, head);
    wr_le32(p + 4, written);
    p = v->host->dma(v->host->opaque, q->used + 2, 2);
    wr_le16(p, (uint16_t)(used_idx + 1));
    guest_rd16(v, q->avail, &avail_flags);
    if (!(avail_flags & VIRTQ_AVAIL_F_NO_INTERRUPT)) {
        v->isr |= 1;
        virtio_update_irq(v);
    }
}

/* Copy @len bytes at byte @off of the chain's readable part into @dst. */
static void chain_read(const struct vchain *ch, size_t off, uint8_t *dst,
                       size_t len)
{
    for (unsigned i = 0; i < ch->n && len; i++) {
        const struct vseg *s = &ch->seg[i];
        size_t n;

        if (s->write) {
            break;
        }
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        n = s->len - off;
        if (n > len) {
            n = len;
        }
        memcpy(dst, s->host + off, n);
        dst += n;
        len -= n;
        off = 0;
    }
}

/* Pointer to the last writable byte of the chain (the status), or NULL. */
static uint8_t *chain_status(const struct vchain *ch)
{
    for (unsigned i = ch->n; i-- > 0;) {
        if (ch->seg[i].write && ch->seg[i].len) {
            return ch->seg[i].host + ch->seg[i].len - 1;
        }
    }
    return NULL;
}

/* Transfer between the disk at @pos and the chain's data segments. */
static int blk_rw(struct rv_virtio *v, struct vchain *ch, bool is_write,
                  uint64_t pos, size_t data_len)
{
    const struct rv_blk_backend *b = v->blk;
    size_t skip = is_write ? BLK_HDR_LEN : 0;
    int ret;

    if (pos > b->size || data_len > b->size - pos) {
        return -ERANGE;
    }
    for (unsigned i = 0; i < ch->n && data_len; i++) {
        struct vseg *s = &ch->seg[i];
        size_t n, off = 0;

        if (s->write != !is_write) {
            continue;
        }
        if (skip) {
            if (skip >= s->len) {
                skip -= s->len;
                continue;
            }
            off = skip;
            skip = 0;
        }
        n = s->len - off;
        if (n > data_len) {
            n = data_len;
        }
        if (is_write) {
            ret = b->write(b->opaque, pos, s->host + off, n);
        } else {
            ret = b->read(b->opaque, pos, s->host + off, n);
        }
        if (ret < 0) {
            return ret;
        }
        pos += n;
        data_len -= n;
    }
    return 0;
}

static int blk_discard(struct rv_virtio *v, struct vchain *ch, uint32_t type)
{
    const struct rv_blk_backend *b = v->blk;
    uint8_t seg[BLK_DISCARD_SEG_LEN];
    uint64_t sector, off, len;
    uint32_t nsec, flags;

    if (ch->out_len != BLK_HDR_LEN + BLK_DISCARD_SEG_LEN) {
        return -EINVAL; /* max_discard_seg = 1 */
    }
    chain_read(ch, BLK_HDR_LEN, seg, sizeof(seg));
    sector = rd_le64(seg);
    nsec = rd_le32(seg + 8);
    flags = rd_le32(seg + 12);
    if (nsec > BLK_MAX_DISCARD_SECTORS || sector > b->size / BLK_SECTOR ||
        nsec > b->size / BLK_SECTOR - sector) {
        return -ERANGE;
    }
    off = sector * BLK_SECTOR;
    len = (uint64_t)nsec * BLK_SECTOR;
    if (type == BLK_T_DISCARD) {
        if (flags) {
            return -ENOTSUP;
        }
        return b->discard(b->opaque, off, len);
    }
    if (flags & ~1u) {
        return -ENOTSUP;
    }
    return b->write_zeroes(b->opaque, off, len, flags & 1);
}

static void blk_request(struct rv_virtio *v, struct rv_virtq *q,
                        struct vchain *ch)
{
    uint8_t hdr[BLK_HDR_LEN];
    uint8_t *status = chain_status(ch);
    uint32_t written = 0;
    uint32_t type;
    uint64_t sector;
    size_t data_len;
    int ret = 0;
    uint8_t st = BLK_S_OK;

    if (ch->bad || !status || ch->out_len < BLK_HDR_LEN) {
        vlog(v, "virtio-blk: malformed request");
        if (status) {
            *status = BLK_S_IOERR;
            written = 1;
        }
        vq_push(v, q, ch->head, written);
        return;
    }
    chain_read(ch, 0, hdr, sizeof(hdr));
    type = rd_le32(hdr);
    sector = rd_le64(hdr + 8);
    switch (type) {
    case BLK_T_IN:
        data_len = ch->in_len - 1;
        if (sector > UINT64_MAX / BLK_SECTOR) {
            ret = -ERANGE;
            break;
        }
        ret = blk_rw(v, ch, false, sector * BLK_SECTOR, data_len);
        if (ret == 0) {
            written = (uint32_t)data_len;
        }
        break;
    case BLK_T_OUT:
        data_len = ch->out_len - BLK_HDR_LEN;
        if (v->blk->readonly) {
            ret = -EROFS;
        } else if (sector > UINT64_MAX / BLK_SECTOR) {
            ret = -ERANGE;
        } else {
            ret = blk_rw(v, ch, true, sector * BLK_SECTOR, data_len);
        }
        break;
    case BLK_T_FLUSH:
        ret = v->blk->flush(v->blk->opaque);
        break;
    case BLK_T_GET_ID:
        for (unsigned i = 0; i < ch->n && ch->in_len > 1; i++) {
            if (ch->seg[i].write && ch->seg[i].len) {
                ch->seg[i].host[0] = 0; /* empty serial, as QEMU */
                written = 1;
                break;
            }
        }
        break;
    case BLK_T_DISCARD:
    case BLK_T_WRITE_ZEROES:
        if (v->blk->readonly) {
            ret = -EROFS;
        } else {
            ret = blk_discard(v, ch, type);
        }
        break;
    default:
        st = BLK_S_UNSUPP;
        break;
    }
    if (ret == -ENOTSUP) {
        st = BLK_S_UNSUPP;
    } else if (ret < 0) {
        st = BLK_S_IOERR;
        v->io_errors++;
        vlog(v, "virtio-blk: request failed");
    }
    *status = st;
    vq_push(v, q, ch->head, written + 1);
}

static void rng_request(struct rv_virtio *v, struct rv_virtq *q,
                        struct vchain *ch)
{
    uint32_t written = 0;

    if (!ch->bad) {
        for (unsigned i = 0; i < ch->n; i++) {
            if (ch->seg[i].write && ch->seg[i].len) {
                v->host->entropy(v->host->opaque, ch->seg[i].host,
                                 ch->seg[i].len);
                written += ch->seg[i].len;
            }
        }
    } else {
        vlog(v, "virtio-rng: malformed request");
    }
    vq_push(v, q, ch->head, written);
}

static void virtio_notify(struct rv_virtio *v, uint32_t qi)
{
    struct rv_virtq *q;
    struct vchain ch;
    unsigned budget;
    int ret;

    if (qi >= RV_VIRTIO_QUEUES || !(v->status & STATUS_DRIVER_OK)) {
        return;
    }
    q = &v->vq[qi];
    if (!q->ready || !q->num) {
        return;
    }
    /* At most one lap of the ring per notify: a guest cannot wedge us. */
    for (budget = q->num; budget > 0; budget--) {
        ret = vq_pop(v, q, &ch);
        if (ret <= 0) {
            if (ret < 0) {
                vlog(v, "virtio: avail ring outside RAM");
                v->status |= STATUS_NEEDS_RESET;
            }
            break;
        }
        if (v->device_id == RV_VIRTIO_ID_BLK) {
            blk_request(v, q, &ch);
        } else {
            rng_request(v, q, &ch);
        }
    }
}

int rv_dev_virtio_read(void *dev, uint64_t off, unsigned size_log2,
                       uint64_t *val)
{
    struct rv_virtio *v = dev;
    struct rv_virtq *q =
        &v->vq[v->queue_sel < RV_VIRTIO_QUEUES ? v->queue_sel : 0];
    bool qvalid = v->queue_sel < RV_VIRTIO_QUEUES;

    *val = 0;
    if (off >= VIRTIO_CONFIG) {
        off -= VIRTIO_CONFIG;
        if (v->device_id != RV_VIRTIO_ID_BLK ||
            off + (1u << size_log2) > RV_VIRTIO_CONFIG_LEN) {
            return 0;
        }
        switch (size_log2) {
        case 0:
            *val = v->config[off];
            break;
        case 1:
            *val = rd_le16(v->config + off);
            break;
        case 2:
            *val = rd_le32(v->config + off);
            break;
        default:
            *val = rd_le64(v->config + off);
            break;
        }
        return 0;
    }
    if (size_log2 != 2 || (off & 3)) {
        vlog(v, "virtio: wrong access size");
        return 0;
    }
    switch (off) {
    case VIRTIO_MAGIC:
        *val = VIRTIO_MAGIC_VALUE;
        return 0;
    case VIRTIO_VERSION:
        *val = 2;
        return 0;
    case VIRTIO_DEVICE_ID:
        *val = v->device_id;
        return 0;
    case VIRTIO_VENDOR_ID:
        *val = VIRTIO_VENDOR_QEMU;
        return 0;
    default:
        break;
    }
    if (!v->device_id) {
        return 0;
    }
    switch (off) {
    case VIRTIO_DEVICE_FEATURES:
        if (v->host_features_sel < 2) {
            *val = (uint32_t)(v->host_features >> (32 * v->host_features_sel));
        }
        break;
    case VIRTIO_QUEUE_NUM_MAX:
        *val = qvalid ? RV_VIRTQ_MAX : 0;
        break;
    case VIRTIO_QUEUE_READY:
        *val = qvalid ? q->ready : 0;
        break;
    case VIRTIO_INTERRUPT_STATUS:
        *val = v->isr;
        break;
    case VIRTIO_STATUS:
        *val = v->status;
        break;
    case VIRTIO_CONFIG_GENERATION:
        *val = v->config_generation;
        break;
    case VIRTIO_QUEUE_NUM:
        *val = qvalid ? q->num : 0;
        break;
    case VIRTIO_QUEUE_DESC_LOW:
        *val = (uint32_t)q->desc;
        break;
    case VIRTIO_QUEUE_DESC_HIGH:
        *val = (uint32_t)(q->desc >> 32);
        break;
    case VIRTIO_QUEUE_AVAIL_LOW:
        *val = (uint32_t)q->avail;
        break;
    case VIRTIO_QUEUE_AVAIL_HIGH:
        *val = (uint32_t)(q->avail >> 32);
        break;
    case VIRTIO_QUEUE_USED_LOW:
        *val = (uint32_t)q->used;
        break;
    case VIRTIO_QUEUE_USED_HIGH:
        *val = (uint32_t)(q->used >> 32);
        break;
    default:
        vlog_unimp(v, off);
        break;
    }
    return 0;
}

static uint64_t set_lo(uint64_t reg, uint32_t v)
{
    return (reg & 0xffffffff00000000ull) | v;
}

static uint64_t set_hi(uint64_t reg, uint32_t v)
{
    return ((uint64_t)v << 32) | (reg & 0xffffffffull);
}

int rv_dev_virtio_write(void *dev, uint64_t off, unsigned size_log2,
                        uint64_t val)
{
    struct rv_virtio *v = dev;
    uint32_t w = (uint32_t)val;
    bool qvalid = v->queue_sel < RV_VIRTIO_QUEUES;
    struct rv_virtq *q = &v->vq[qvalid ? v->queue_sel : 0];

    if (!v->device_id || off >= VIRTIO_CONFIG) {
        return 0; /* config space is read-only for blk and rng */
    }
    if (size_log2 != 2 || (off & 3)) {
        vlog(v, "virtio: wrong access size");
        return 0;
    }
    switch (off) {
    case VIRTIO_DEVICE_FEATURES_SEL:
        v->host_features_sel = w;
        return 0;
    case VIRTIO_DRIVER_FEATURES:
        if (v->guest_features_sel < 2) {
            uint64_t mask = (uint64_t)UINT32_MAX
                            << (32 * v->guest_features_sel);
            v->guest_features = (v->guest_features & ~mask) |
                                (((uint64_t)w << (32 * v->guest_features_sel)) &
                                 mask & v->host_features);
        }
        return 0;
    case VIRTIO_DRIVER_FEATURES_SEL:
        v->guest_features_sel = w;
        return 0;
    case VIRTIO_QUEUE_SEL:
        v->queue_sel = w;
        return 0;
    case VIRTIO_QUEUE_NOTIFY:
        virtio_notify(v, w);
        return 0;
    case VIRTIO_INTERRUPT_ACK:
        v->isr &= ~w;
        virtio_update_irq(v);
        return 0;
    case VIRTIO_STATUS:
        if (w == 0) {
            rv_dev_virtio_reset(v);
            return 0;
        }
        if ((w & STATUS_FEATURES_OK) &&
            !(v->guest_features & VIRTIO_F_VERSION_1)) {
            w &= ~STATUS_FEATURES_OK;
        }
        v->status = w;
        return 0;
    default:
        break;
    }
    if (!qvalid) {
        return 0;
    }
    switch (off) {
    case VIRTIO_QUEUE_NUM:
        if (w && w <= RV_VIRTQ_MAX && (w & (w - 1)) == 0) {
            q->num = w;
        } else {
            vlog(v, "virtio: bad queue size");
        }
        break;
    case VIRTIO_QUEUE_READY:
        q->ready = w & 1;
        if (!q->ready) {
            q->last_avail = 0;
        }
        break;
    case VIRTIO_QUEUE_DESC_LOW:
        q->desc = set_lo(q->desc, w);
        break;
    case VIRTIO_QUEUE_DESC_HIGH:
        q->desc = set_hi(q->desc, w);
        break;
    case VIRTIO_QUEUE_AVAIL_LOW:
        q->avail = set_lo(q->avail, w);
        break;
    case VIRTIO_QUEUE_AVAIL_HIGH:
        q->avail = set_hi(q->avail, w);
        break;
    case VIRTIO_QUEUE_USED_LOW:
        q->used = set_lo(q->used, w);
        break;
    case VIRTIO_QUEUE_USED_HIGH:
        q->used = set_hi(q->used, w);
        break;
    default:
        vlog_unimp(v, off);
        break;
    }
    return 0;
}

void rv_dev_virtio_save(const struct rv_virtio *v, uint8_t *dst)
{
    memset(dst, 0, RV_VIRTIO_STATE_LEN);
    wr_le32(dst, v->device_id);
    wr_le32(dst + 4, v->status);
    wr_le32(dst + 8, v->isr);
    wr_le32(dst + 12, v->host_features_sel);
    wr_le32(dst + 16, v->guest_features_sel);
    wr_le32(dst + 20, v->queue_sel);
    wr_le64(dst + 24, v->guest_features);
    wr_le32(dst + 32, v->config_generation);
    dst += 48;
    for (unsigned i = 0; i < RV_VIRTIO_QUEUES; i++) {
        const struct rv_virtq *q = &v->vq[i];

        wr_le16(dst, (uint16_t)q->num);
        wr_le16(dst + 2, q->last_avail);
        wr_le32(dst + 4, q->ready);
        wr_le64(dst + 8, q->desc);
        wr_le64(dst + 16, q->avail);
        wr_le64(dst + 24, q->used);
        dst += 32;
    }
}

void rv_dev_virtio_load(struct rv_virtio *v, const uint8_t *src)
{
    v->status = rd_le32(src + 4);
    v->isr = rd_le32(src + 8);
    v->host_features_sel = rd_le32(src + 12);
    v->guest_features_sel = rd_le32(src + 16);
    v->queue_sel = rd_le32(src + 20);
    v->guest_features = rd_le64(src + 24) & v->host_features;
    v->config_generation = rd_le32(src + 32);
    src += 48;
    for (unsigned i = 0; i < RV_VIRTIO_QUEUES; i++) {
        struct rv_virtq *q = &v->vq[i];
        uint32_t num = rd_le16(src);

        q->num = (num <= RV_VIRTQ_MAX && (num & (num - 1)) == 0) ? num : 0;
        q->last_avail = rd_le16(src + 2);
        q->ready = rd_le32(src + 4) & 1;
        q->desc = rd_le64(src + 8);
        q->avail = rd_le64(src + 16);
        q->used = rd_le64(src + 24);
        src += 32;
    }
    virtio_update_irq(v);
}
