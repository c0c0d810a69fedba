/* SPDX-License-Identifier: MIT */
/*
 * tests/durability/blkguest.c - a bare-metal RV64 guest for the durability
 * test: in each of BG_ROUNDS rounds it writes BG_REQS runs of sectors of the
 * data disk through virtio-blk (modern virtio-mmio, polled), zeroes a run of
 * whole clusters with WRITE_ZEROES and unmap, sends FLUSH, and once the
 * flush has completed writes the round number to sector 0 of the marker
 * disk, so the host trace shows when the guest saw each flush.
 * The sectors and bytes follow from bg_rand(), mirrored by
 * tests/integration/test_durability.py. Exits 0 through the test finisher.
 */
#include <stdint.h>

#define BG_ROUNDS      10
#define BG_REQS        6
#define BG_MAX_SECTORS 24
#define BG_DISK_SECT   8192 /* the data disk is 4 MiB */
#define BG_CLUSTER     32   /* sectors per cluster of the data disk */

#define UART_BASE   0x10000000ul
#define TEST_BASE   0x100000ul
#define VIRTIO_BASE 0x10001000ul
#define VIRTIO_SIZE 0x1000ul
#define VIRTIO_N    8

#define VQ_SIZE 8

/* FLUSH (9) and WRITE_ZEROES (14) */
#define BG_FEATURES ((1u << 9) | (1u << 14))

struct vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct vq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[VQ_SIZE];
};

struct vq_used {
    uint16_t flags;
    uint16_t idx;
    struct {
        uint32_t id;
        uint32_t len;
    } ring[VQ_SIZE];
};

struct blk_req {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

struct disk {
    uintptr_t base;
    uint64_t sectors;
    struct vq_desc desc[VQ_SIZE] __attribute__((aligned(16)));
    struct vq_avail avail __attribute__((aligned(4)));
    struct vq_used used __attribute__((aligned(4)));
    uint16_t last_used;
    struct blk_req req;
    volatile uint8_t status;
};

static struct disk disks[2];
static uint8_t buf[BG_MAX_SECTORS * 512] __attribute__((aligned(8)));
extern uint8_t bg_stack[4096];
uint8_t bg_stack[4096] __attribute__((aligned(16)));

/* First in .text (built with -fno-toplevel-reorder): the guest starts at
 * the first byte of RAM. */
__asm__(".text\n"
        ".globl _start\n"
        "_start:\n"
        "    la sp, bg_stack + 4096\n"
        "    j bg_main\n");

static volatile uint32_t *reg(struct disk *d, unsigned off)
{
    return (volatile uint32_t *)(d->base + off);
}

static void putc_uart(char c)
{
    *(volatile uint8_t *)UART_BASE = (uint8_t)c;
}

static void puts_uart(const char *s)
{
    while (*s) {
        putc_uart(*s++);
    }
}

static void finish(unsigned code)
{
    *(volatile uint32_t *)TEST_BASE = code ? (code << 16) | 0x3333 : 0x5555;
    for (;;) {
    }
}

static void fail(const char *msg)
{
    puts_uart("blkguest: ");
    puts_uart(msg);
    putc_uart('\n');
    finish(1);
}

static uint32_t rng = 0x12345678;

static uint32_t bg_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void disk_init(struct disk *d, uintptr_t base)
{
    uint64_t a;

    d->base = base;
    *reg(d, 0x070) = 0;
    *reg(d, 0x070) = 1 | 2;
    *reg(d, 0x014) = 0;
    if ((*reg(d, 0x010) & BG_FEATURES) != BG_FEATURES) {
        fail("no FLUSH or WRITE_ZEROES feature");
    }
    *reg(d, 0x024) = 0;
    *reg(d, 0x020) = BG_FEATURES;
    *reg(d, 0x024) = 1;
    *reg(d, 0x020) = 1; /* VIRTIO_F_VERSION_1 */
    *reg(d, 0x070) = 1 | 2 | 8;
    if (!(*reg(d, 0x070) & 8)) {
        fail("features refused");
    }
    *reg(d, 0x030) = 0;
    if (*reg(d, 0x034) < VQ_SIZE) {
        fail("queue too small");
    }
    *reg(d, 0x038) = VQ_SIZE;
    a = (uintptr_t)d->desc;
    *reg(d, 0x080) = (uint32_t)a;
    *reg(d, 0x084) = (uint32_t)(a >> 32);
    a = (uintptr_t)&d->avail;
    *reg(d, 0x090) = (uint32_t)a;
    *reg(d, 0x094) = (uint32_t)(a >> 32);
    a = (uintptr_t)&d->used;
    *reg(d, 0x0a0) = (uint32_t)a;
    *reg(d, 0x0a4) = (uint32_t)(a >> 32);
    *reg(d, 0x044) = 1;
    *reg(d, 0x070) = 1 | 2 | 8 | 4;
    d->sectors = *reg(d, 0x100) | (uint64_t)*reg(d, 0x104) << 32;
}

/* One request: type 1 (out) with @len bytes of @data at @sector, 4 (flush)
 * or 13 (write zeroes, @data the segment). Polls until the device returns
 * it. */
static void disk_req(struct disk *d, uint32_t type, uint64_t sector,
                     const void *data, uint32_t len)
{
    unsigned i = 0;

    d->req.type = type;
    d->req.reserved = 0;
    d->req.sector = sector;
    d->status = 0xff;
    d->desc[0] = (struct vq_desc){(uintptr_t)&d->req, sizeof(d->req), 1, 1};
    i = 1;
    if (len) {
        d->desc[1] = (struct vq_desc){(uintptr_t)data, len, 1, 2};
        i = 2;
    }
    d->desc[i] = (struct vq_desc){(uintptr_t)&d->status, 1, 2, 0};
    d->avail.ring[d->avail.idx % VQ_SIZE] = 0;
    __sync_synchronize();
    d->avail.idx++;
    __sync_synchronize();
    *reg(d, 0x050) = 0;
    while (*(volatile uint16_t *)&d->used.idx == d->last_used) {
    }
    d->last_used++;
    *reg(d, 0x064) = *reg(d, 0x060);
    __sync_synchronize();
    if (d->status != 0) {
        fail("request failed");
    }
}

static void fill(uint64_t sector, unsigned n, unsigned round)
{
    for (unsigned s = 0; s < n; s++) {
        uint8_t *p = buf + s * 512;

        for (unsigned i = 0; i < 512; i++) {
            p[i] = (uint8_t)(round * 31 + sector + s + i / 64);
        }
        p[0] = (uint8_t)round;
    }
}

void bg_main(void);

void bg_main(void)
{
    struct disk *data = 0, *mark = 0;
    struct {
        uint64_t sector;
        uint32_t nsec;
        uint32_t flags;
    } seg;

    for (int i = VIRTIO_N - 1; i >= 0; i--) {
        struct disk tmp = {.base = VIRTIO_BASE + (unsigned)i * VIRTIO_SIZE};

        if (*reg(&tmp, 0x000) != 0x74726976 || *reg(&tmp, 0x008) != 2) {
            continue;
        }
        if (!data) {
            data = &disks[0];
            disk_init(data, tmp.base);
        } else if (!mark) {
            mark = &disks[1];
            disk_init(mark, tmp.base);
        }
    }
    if (!data || !mark || data->sectors < BG_DISK_SECT) {
        fail("need a 4 MiB data disk and a marker disk");
    }
    for (unsigned r = 1; r <= BG_ROUNDS; r++) {
        for (unsigned q = 0; q < BG_REQS; q++) {
            unsigned n = 1 + bg_rand() % BG_MAX_SECTORS;
            uint64_t sector = bg_rand() % (BG_DISK_SECT - n);

            fill(sector, n, r);
            disk_req(data, 1, sector, buf, n * 512);
        }
        seg.nsec = BG_CLUSTER * (1 + bg_rand() % 3);
        seg.sector = BG_CLUSTER * (bg_rand() % (BG_DISK_SECT / BG_CLUSTER - 3));
        seg.flags = 1; /* unmap */
        disk_req(data, 13, 0, &seg, sizeof(seg));
        disk_req(data, 4, 0, 0, 0);
        for (unsigned i = 0; i < 512; i++) {
            buf[i] = (uint8_t)r;
        }
        disk_req(mark, 1, 0, buf, 512);
    }
    puts_uart("blkguest: done\n");
    finish(0);
}
