/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-emu-devices.c - the virt machine's devices driven through
 * their MMIO registers, with a test host that records interrupt lines, mip
 * bits, output bytes, and owns a small guest RAM for virtio DMA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "emulator/rv-int.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (256u << 10)

struct th {
    struct rv_dev_host host;
    bool irq[RV_PLIC_SOURCES];
    bool mip[16];
    uint64_t now;
    unsigned kicks;
    uint8_t out[256];
    size_t out_len;
    const char *input;
    size_t input_pos;
    uint8_t ram[RAM_SIZE];
    uint8_t disk[64 * 512];
    int shutdown_code;
    bool shutdown_reset;
    unsigned shutdowns;
    unsigned dma_writes;
    struct rv_plic *plic; /* when set, device lines go to the PLIC */
    unsigned logs[4];     /* messages per RV_LOG_* bit */
};

static void th_log(void *o, unsigned mask, const char *msg)
{
    struct th *t = o;

    for (unsigned i = 0; i < 4; i++) {
        if (mask & (1u << i)) {
            t->logs[i]++;
        }
    }
}

static void th_set_irq(void *o, unsigned line, bool level)
{
    struct th *t = o;

    t->irq[line] = level;
    if (t->plic) {
        rv_dev_plic_set_irq(t->plic, line, level);
    }
}

static void th_set_mip(void *o, unsigned irq, bool level)
{
    ((struct th *)o)->mip[irq] = level;
}

static uint64_t th_now(void *o)
{
    return ((struct th *)o)->now;
}

static void th_kick(void *o)
{
    ((struct th *)o)->kicks++;
}

static int th_input(void *o, uint8_t *b)
{
    struct th *t = o;

    if (!t->input || !t->input[t->input_pos]) {
        return 0;
    }
    *b = (uint8_t)t->input[t->input_pos++];
    return 1;
}

static void th_output(void *o, const uint8_t *src, size_t len)
{
    struct th *t = o;

    memcpy(t->out + t->out_len, src, len);
    t->out_len += len;
}

static void th_entropy(void *o, uint8_t *dst, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        dst[i] = (uint8_t)(0xa0 + i);
    }
}

static uint8_t *th_dma(void *o, uint64_t gpa, uint64_t len)
{
    struct th *t = o;

    if (gpa < RAM_BASE || gpa - RAM_BASE > RAM_SIZE ||
        len > RAM_SIZE - (gpa - RAM_BASE)) {
        return NULL;
    }
    return t->ram + (gpa - RAM_BASE);
}

static void th_dma_written(void *o, uint64_t gpa, uint64_t len)
{
    ((struct th *)o)->dma_writes++;
}

static void th_shutdown(void *o, bool reset, int code)
{
    struct th *t = o;

    t->shutdowns++;
    t->shutdown_reset = reset;
    t->shutdown_code = code;
}

static struct th *th_new(void)
{
    struct th *t = test_calloc(1, sizeof(*t));

    t->host = (struct rv_dev_host){
        .opaque = t,
        .set_irq = th_set_irq,
        .set_mip = th_set_mip,
        .now_ns = th_now,
        .kick = th_kick,
        .input_byte = th_input,
        .output = th_output,
        .entropy = th_entropy,
        .dma = th_dma,
        .dma_written = th_dma_written,
        .shutdown = th_shutdown,
        .log = th_log,
    };
    return t;
}

static uint64_t rd(rv_mmio_read_fn *fn, void *dev, uint64_t off, unsigned sl)
{
    uint64_t v = 0xdeadbeef;

    assert_int_equal(fn(dev, off, sl, &v), 0);
    return v;
}

static void wr(rv_mmio_write_fn *fn, void *dev, uint64_t off, unsigned sl,
               uint64_t v)
{
    assert_int_equal(fn(dev, off, sl, v), 0);
}

/* ---- PLIC ---- */

#define PRIO(i)   (4u * (i))
#define ENABLE(c) (0x2000u + 0x80u * (c))
#define THRESH(c) (0x200000u + 0x1000u * (c))
#define CLAIM(c)  (0x200004u + 0x1000u * (c))

static void test_plic_claim_complete(void **state)
{
    struct th *t = th_new();
    struct rv_plic p;

    rv_dev_plic_init(&p, &t->host);
    wr(rv_dev_plic_write, &p, PRIO(10), 2, 1);
    wr(rv_dev_plic_write, &p, PRIO(3), 2, 5);
    wr(rv_dev_plic_write, &p, ENABLE(1), 2, (1u << 10) | (1u << 3));
    wr(rv_dev_plic_write, &p, THRESH(1), 2, 0);
    rv_dev_plic_set_irq(&p, 10, true);
    assert_true(t->mip[RV_IRQ_SEIP]);
    assert_false(t->mip[RV_IRQ_MEIP]); /* context 0 has nothing enabled */
    assert_int_equal(rd(rv_dev_plic_read, &p, 0x1000, 2), 1u << 10);
    rv_dev_plic_set_irq(&p, 3, true);
    /* Highest priority first. */
    assert_int_equal(rd(rv_dev_plic_read, &p, CLAIM(1), 2), 3);
    assert_int_equal(rd(rv_dev_plic_read, &p, CLAIM(1), 2), 10);
    assert_false(t->mip[RV_IRQ_SEIP]);
    assert_int_equal(rd(rv_dev_plic_read, &p, CLAIM(1), 2), 0);
    /* Line still high: re-pends on complete (level-triggered). */
    wr(rv_dev_plic_write, &p, CLAIM(1), 2, 10);
    assert_true(t->mip[RV_IRQ_SEIP]);
    assert_int_equal(rd(rv_dev_plic_read, &p, CLAIM(1), 2), 10);
    rv_dev_plic_set_irq(&p, 10, false);
    wr(rv_dev_plic_write, &p, CLAIM(1), 2, 10);
    /* Source 3 is still claimed and high: nothing more until complete. */
    assert_false(t->mip[RV_IRQ_SEIP]);
    rv_dev_plic_set_irq(&p, 3, false);
    wr(rv_dev_plic_write, &p, CLAIM(1), 2, 3);
    assert_false(t->mip[RV_IRQ_SEIP]);
    test_free(t);
}

static void test_plic_threshold_and_warl(void **state)
{
    struct th *t = th_new();
    struct rv_plic p;

    rv_dev_plic_init(&p, &t->host);
    wr(rv_dev_plic_write, &p, PRIO(1), 2, 0xffffffff);
    assert_int_equal(rd(rv_dev_plic_read, &p, PRIO(1), 2), 7);
    wr(rv_dev_plic_write, &p, PRIO(0), 2, 5);
    assert_int_equal(rd(rv_dev_plic_read, &p, PRIO(0), 2), 0);
    wr(rv_dev_plic_write, &p, ENABLE(0), 2, 0xffffffff);
    assert_int_equal(rd(rv_dev_plic_read, &p, ENABLE(0), 2), 0xfffffffe);
    wr(rv_dev_plic_write, &p, THRESH(0), 2, 7);
    rv_dev_plic_set_irq(&p, 1, true);
    assert_false(t->mip[RV_IRQ_MEIP]); /* priority 7 is not > 7 */
    wr(rv_dev_plic_write, &p, THRESH(0), 2, 6);
    assert_true(t->mip[RV_IRQ_MEIP]);
    /* Only 32-bit accesses. */
    uint64_t v;
    assert_int_equal(rv_dev_plic_read(&p, PRIO(1), 0, &v), -1);
    test_free(t);
}

/* ---- UART ---- */

static void test_uart_tx_and_thre_irq(void **state)
{
    struct th *t = th_new();
    struct rv_uart u;

    rv_dev_uart_init(&u, &t->host, 10);
    assert_int_equal(rd(rv_dev_uart_read, &u, 5, 0), 0x60); /* THRE|TEMT */
    assert_int_equal(rd(rv_dev_uart_read, &u, 2, 0), 0x01); /* no irq */
    wr(rv_dev_uart_write, &u, 0, 0, 'h');
    wr(rv_dev_uart_write, &u, 0, 0, 'i');
    assert_int_equal(t->out_len, 2);
    assert_memory_equal(t->out, "hi", 2);
    /* Enabling ETBEI with an empty THR raises IRQ with IIR=THRI. */
    wr(rv_dev_uart_write, &u, 1, 0, 0x02);
    assert_true(t->irq[10]);
    assert_int_equal(rd(rv_dev_uart_read, &u, 2, 0), 0x02);
    /* Reading IIR that reported THRI clears it. */
    assert_false(t->irq[10]);
    assert_int_equal(rd(rv_dev_uart_read, &u, 2, 0), 0x01);
    /* A THR write re-arms it after the (instant) transmission. */
    wr(rv_dev_uart_write, &u, 0, 0, '!');
    assert_true(t->irq[10]);
    wr(rv_dev_uart_write, &u, 1, 0, 0);
    assert_false(t->irq[10]);
    test_free(t);
}

static void test_uart_rx_input_points(void **state)
{
    struct th *t = th_new();
    struct rv_uart u;

    t->input = "ab";
    rv_dev_uart_init(&u, &t->host, 10);
    /* Nothing is taken until an input point. */
    assert_int_equal(t->input_pos, 0);
    assert_int_equal(rd(rv_dev_uart_read, &u, 5, 0) & 1, 0);
    rv_dev_uart_poll_input(&u);
    assert_int_equal(t->input_pos, 1);
    rv_dev_uart_poll_input(&u); /* FIFO not empty: takes nothing */
    assert_int_equal(t->input_pos, 1);
    assert_int_equal(rd(rv_dev_uart_read, &u, 5, 0), 0x61);
    wr(rv_dev_uart_write, &u, 1, 0, 0x01); /* ERBFI */
    assert_true(t->irq[10]);
    assert_int_equal(rd(rv_dev_uart_read, &u, 2, 0), 0x04);
    /* Reading RBR takes the next byte at once. */
    assert_int_equal(rd(rv_dev_uart_read, &u, 0, 0), 'a');
    assert_int_equal(t->input_pos, 2);
    assert_int_equal(rd(rv_dev_uart_read, &u, 0, 0), 'b');
    assert_int_equal(rd(rv_dev_uart_read, &u, 5, 0), 0x60);
    assert_false(t->irq[10]);
    /* FIFO enabled: IIR has bits 7:6 set. */
    wr(rv_dev_uart_write, &u, 2, 0, 0x07);
    assert_int_equal(rd(rv_dev_uart_read, &u, 2, 0), 0xc1);
    test_free(t);
}

static void test_uart_dlab_scr_loopback(void **state)
{
    struct th *t = th_new();
    struct rv_uart u;

    rv_dev_uart_init(&u, &t->host, 10);
    wr(rv_dev_uart_write, &u, 3, 0, 0x83); /* DLAB, 8N1 */
    wr(rv_dev_uart_write, &u, 0, 0, 0x23);
    wr(rv_dev_uart_write, &u, 1, 0, 0x01);
    assert_int_equal(rd(rv_dev_uart_read, &u, 0, 0), 0x23);
    assert_int_equal(rd(rv_dev_uart_read, &u, 1, 0), 0x01);
    assert_int_equal(t->out_len, 0); /* DLL write is not output */
    wr(rv_dev_uart_write, &u, 3, 0, 0x03);
    assert_int_equal(rd(rv_dev_uart_read, &u, 3, 0), 0x03);
    wr(rv_dev_uart_write, &u, 7, 0, 0x5a);
    assert_int_equal(rd(rv_dev_uart_read, &u, 7, 0), 0x5a);
    assert_int_equal(rd(rv_dev_uart_read, &u, 6, 0), 0xb0);
    wr(rv_dev_uart_write, &u, 4, 0, 0x10 | 0x0a); /* loop, RTS, OUT2 */
    assert_int_equal(rd(rv_dev_uart_read, &u, 6, 0), 0x90);
    wr(rv_dev_uart_write, &u, 0, 0, 'L');
    assert_int_equal(t->out_len, 0);
    assert_int_equal(rd(rv_dev_uart_read, &u, 0, 0), 'L');
    test_free(t);
}

/* ---- CLINT ---- */

static void test_clint_timer(void **state)
{
    struct th *t = th_new();
    struct rv_clint c;

    rv_dev_clint_init(&c, &t->host);
    /* Power-on as QEMU 7.2: mtimecmp 0, so MTIP is pending at once. */
    assert_int_equal(rd(rv_dev_clint_read, &c, 0x4000, 3), 0);
    assert_true(t->mip[RV_IRQ_MTIP]);
    t->now = 12345 * 100;
    assert_int_equal(rd(rv_dev_clint_read, &c, 0xbff8, 3), 12345);
    assert_int_equal(rd(rv_dev_clint_read, &c, 0xbffc, 2), 0);
    wr(rv_dev_clint_write, &c, 0x4000, 2, 20000);
    wr(rv_dev_clint_write, &c, 0x4004, 2, 0);
    assert_int_equal(rd(rv_dev_clint_read, &c, 0x4000, 3), 20000);
    assert_false(t->mip[RV_IRQ_MTIP]);
    assert_true(t->kicks >= 1);
    assert_int_equal(rv_dev_clint_deadline_ns(&c), 20000ull * 100);
    t->now = 20000 * 100 - 1;
    rv_dev_clint_update(&c);
    assert_false(t->mip[RV_IRQ_MTIP]);
    t->now = 20000 * 100;
    rv_dev_clint_update(&c);
    assert_true(t->mip[RV_IRQ_MTIP]);
    wr(rv_dev_clint_write, &c, 0x4000, 3, UINT64_MAX);
    assert_false(t->mip[RV_IRQ_MTIP]);
    wr(rv_dev_clint_write, &c, 0, 2, 1);
    assert_true(t->mip[RV_IRQ_MSIP]);
    assert_int_equal(rd(rv_dev_clint_read, &c, 0, 2), 1);
    wr(rv_dev_clint_write, &c, 0, 2, 0);
    assert_false(t->mip[RV_IRQ_MSIP]);
    /* Writing mtime shifts it relative to virtual time. */
    wr(rv_dev_clint_write, &c, 0xbff8, 3, 1000000);
    assert_int_equal(rd(rv_dev_clint_read, &c, 0xbff8, 3), 1000000);
    t->now += 500;
    assert_int_equal(rd(rv_dev_clint_read, &c, 0xbff8, 3), 1000005);
    /* Reset (ACLINT spec, QEMU 7.2): mtime and MSIP cleared, mtimecmp
     * kept, MTIP re-evaluated. */
    wr(rv_dev_clint_write, &c, 0x4000, 3, 3);
    wr(rv_dev_clint_write, &c, 0, 2, 1);
    rv_dev_clint_reset(&c);
    assert_int_equal(rd(rv_dev_clint_read, &c, 0xbff8, 3), 0);
    assert_int_equal(rd(rv_dev_clint_read, &c, 0x4000, 3), 3);
    assert_false(t->mip[RV_IRQ_MSIP]);
    assert_false(t->mip[RV_IRQ_MTIP]);
    t->now += 300;
    rv_dev_clint_update(&c);
    assert_true(t->mip[RV_IRQ_MTIP]);
    test_free(t);
}

/* ---- sifive_test and RTC ---- */

static void test_finisher(void **state)
{
    struct th *t = th_new();
    struct rv_test d = {&t->host};

    wr(rv_dev_test_write, &d, 0, 2, 0x1234);
    assert_int_equal(t->shutdowns, 0);
    wr(rv_dev_test_write, &d, 0, 2, RV_TEST_PASS);
    assert_int_equal(t->shutdowns, 1);
    assert_int_equal(t->shutdown_code, 0);
    wr(rv_dev_test_write, &d, 0, 2, (42u << 16) | RV_TEST_FAIL);
    assert_int_equal(t->shutdown_code, 42);
    assert_false(t->shutdown_reset);
    wr(rv_dev_test_write, &d, 0, 2, RV_TEST_RESET);
    assert_true(t->shutdown_reset);
    /* OpenSBI writes 16 bits; bytes are ignored, as in QEMU. */
    wr(rv_dev_test_write, &d, 0, 1, RV_TEST_PASS);
    assert_int_equal(t->shutdowns, 4);
    assert_false(t->shutdown_reset);
    wr(rv_dev_test_write, &d, 0, 0, 0x55);
    assert_int_equal(t->shutdowns, 4);
    test_free(t);
}

static void test_rtc(void **state)
{
    struct th *t = th_new();
    struct rv_rtc r;
    uint64_t lo, hi, base = 1767225600ull * 1000000000ull;

    rv_dev_rtc_init(&r, &t->host, 11, base);
    t->now = 5000;
    lo = rd(rv_dev_rtc_read, &r, 0, 2);
    t->now = 0xffffffffffull; /* TIME_HIGH stays latched */
    hi = rd(rv_dev_rtc_read, &r, 4, 2);
    assert_int_equal((hi << 32) | lo, base + 5000);
    /* Alarm 1 us ahead fires at that virtual time. */
    t->now = 0;
    uint64_t now = base;
    wr(rv_dev_rtc_write, &r, 0x10, 2, 1);
    wr(rv_dev_rtc_write, &r, 0x0c, 2, (now + 1000) >> 32);
    wr(rv_dev_rtc_write, &r, 0x08, 2, (uint32_t)(now + 1000));
    assert_int_equal(rv_dev_rtc_deadline_ns(&r), 1000);
    assert_false(t->irq[11]);
    t->now = 1000;
    rv_dev_rtc_update(&r);
    assert_true(t->irq[11]);
    wr(rv_dev_rtc_write, &r, 0x1c, 2, 1);
    assert_false(t->irq[11]);
    test_free(t);
}

/* ---- virtio ---- */

#define Q_DESC  (RAM_BASE + 0x1000)
#define Q_AVAIL (RAM_BASE + 0x2000)
#define Q_USED  (RAM_BASE + 0x3000)
#define BUF     (RAM_BASE + 0x8000)
#define QNUM    8

static int mem_read(void *o, uint64_t off, void *dst, size_t len)
{
    struct th *t = o;

    memcpy(dst, t->disk + off, len);
    return 0;
}

static int mem_write(void *o, uint64_t off, const void *src, size_t len)
{
    struct th *t = o;

    memcpy(t->disk + off, src, len);
    return 0;
}

static int mem_flush(void *o)
{
    return 0;
}

static int mem_discard(void *o, uint64_t off, uint64_t len)
{
    struct th *t = o;

    memset(t->disk + off, 0, len);
    return 0;
}

static int mem_zero(void *o, uint64_t off, uint64_t len, bool unmap)
{
    return mem_discard(o, off, len);
}

static uint8_t *g(struct th *t, uint64_t gpa)
{
    return t->ram + (gpa - RAM_BASE);
}

static void set_desc(struct th *t, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint8_t *d = g(t, Q_DESC + 16 * i);

    wr_le64(d, addr);
    wr_le32(d + 8, len);
    wr_le16(d + 12, flags);
    wr_le16(d + 14, next);
}

static void avail_push(struct th *t, uint16_t head)
{
    uint16_t idx = rd_le16(g(t, Q_AVAIL + 2));

    wr_le16(g(t, Q_AVAIL + 4 + 2 * (idx % QNUM)), head);
    wr_le16(g(t, Q_AVAIL + 2), (uint16_t)(idx + 1));
}

/* The driver side of device initialisation, as Linux and U-Boot do it. */
static void driver_init(struct rv_virtio *v)
{
    wr(rv_dev_virtio_write, v, 0x70, 2, 0);
    wr(rv_dev_virtio_write, v, 0x70, 2, 1 | 2);
    wr(rv_dev_virtio_write, v, 0x24, 2, 1);
    wr(rv_dev_virtio_write, v, 0x20, 2, 1); /* VERSION_1 */
    wr(rv_dev_virtio_write, v, 0x24, 2, 0);
    wr(rv_dev_virtio_write, v, 0x20, 2, 0);
    wr(rv_dev_virtio_write, v, 0x70, 2, 1 | 2 | 8);
    assert_int_equal(rd(rv_dev_virtio_read, v, 0x70, 2) & 8, 8);
    wr(rv_dev_virtio_write, v, 0x30, 2, 0);
    assert_int_equal(rd(rv_dev_virtio_read, v, 0x34, 2), RV_VIRTQ_MAX);
    wr(rv_dev_virtio_write, v, 0x38, 2, QNUM);
    wr(rv_dev_virtio_write, v, 0x80, 2, (uint32_t)Q_DESC);
    wr(rv_dev_virtio_write, v, 0x84, 2, 0);
    wr(rv_dev_virtio_write, v, 0x90, 2, (uint32_t)Q_AVAIL);
    wr(rv_dev_virtio_write, v, 0x94, 2, 0);
    wr(rv_dev_virtio_write, v, 0xa0, 2, (uint32_t)Q_USED);
    wr(rv_dev_virtio_write, v, 0xa4, 2, 0);
    wr(rv_dev_virtio_write, v, 0x44, 2, 1);
    wr(rv_dev_virtio_write, v, 0x70, 2, 1 | 2 | 8 | 4);
}

static void blk_req(struct th *t, uint32_t type, uint64_t sector,
                    uint32_t data_len, bool data_in)
{
    uint8_t *h = g(t, BUF);

    wr_le32(h, type);
    wr_le32(h + 4, 0);
    wr_le64(h + 8, sector);
    set_desc(t, 0, BUF, 16, 1, 1);
    if (data_len) {
        set_desc(t, 1, BUF + 0x100, data_len, 1 | (data_in ? 2 : 0), 2);
    } else {
        set_desc(t, 1, BUF + 0x100, 0, 1, 2);
    }
    set_desc(t, 2, BUF + 0x80, 1, 2, 0);
    g(t, BUF + 0x80)[0] = 0xff;
    avail_push(t, 0);
}

static void test_virtio_blk(void **state)
{
    struct th *t = th_new();
    struct rv_virtio v;
    struct rv_blk_backend be = {t,           sizeof(t->disk), false,
                                mem_read,    mem_write,       mem_flush,
                                mem_discard, mem_zero};

    for (unsigned i = 0; i < sizeof(t->disk); i++) {
        t->disk[i] = (uint8_t)(i / 512);
    }
    rv_dev_virtio_init(&v, &t->host, 8, RV_VIRTIO_ID_BLK, &be);
    assert_int_equal(rd(rv_dev_virtio_read, &v, 0, 2), 0x74726976);
    assert_int_equal(rd(rv_dev_virtio_read, &v, 4, 2), 2);
    assert_int_equal(rd(rv_dev_virtio_read, &v, 8, 2), 2);
    assert_int_equal(rd(rv_dev_virtio_read, &v, 0xc, 2), 0x554d4551);
    /* capacity in sectors, 64-bit and as two halves */
    assert_int_equal(rd(rv_dev_virtio_read, &v, 0x100, 3), 64);
    assert_int_equal(rd(rv_dev_virtio_read, &v, 0x100, 2), 64);
    assert_int_equal(rd(rv_dev_virtio_read, &v, 0x114, 2), 512);
    wr(rv_dev_virtio_write, &v, 0x14, 2, 1);
    assert_int_equal(rd(rv_dev_virtio_read, &v, 0x10, 2), 1); /* VERSION_1 */
    driver_init(&v);

    /* Read sector 5. */
    blk_req(t, 0, 5, 512, true);
    wr(rv_dev_virtio_write, &v, 0x50, 2, 0);
    assert_int_equal(rd_le16(g(t, Q_USED + 2)), 1);
    assert_int_equal(rd_le32(g(t, Q_USED + 4)), 0);
    assert_int_equal(rd_le32(g(t, Q_USED + 8)), 513);
    assert_int_equal(g(t, BUF + 0x80)[0], 0);
    assert_int_equal(g(t, BUF + 0x100)[0], 5);
    assert_int_equal(g(t, BUF + 0x100)[511], 5);
    assert_true(t->irq[8]);
    assert_int_equal(rd(rv_dev_virtio_read, &v, 0x60, 2), 1);
    wr(rv_dev_virtio_write, &v, 0x64, 2, 1);
    assert_false(t->irq[8]);
    assert_true(t->dma_writes > 0);

    /* Write sector 7 with 0x5a. */
    memset(g(t, BUF + 0x100), 0x5a, 512);
    blk_req(t, 1, 7, 512, false);
    wr(rv_dev_virtio_write, &v, 0x50, 2, 0);
    assert_int_equal(g(t, BUF + 0x80)[0], 0);
    assert_int_equal(t->disk[7 * 512], 0x5a);
    assert_int_equal(t->disk[8 * 512 - 1], 0x5a);
    assert_int_equal(t->disk[8 * 512], 8);

    /* Past the end: IOERR, and nothing is touched. */
    blk_req(t, 0, 64, 512, true);
    wr(rv_dev_virtio_write, &v, 0x50, 2, 0);
    assert_int_equal(g(t, BUF + 0x80)[0], 1);
    assert_int_equal(rd_le16(g(t, Q_USED + 2)), 3);

    /* Unknown type: UNSUPP. Flush: OK. */
    blk_req(t, 99, 0, 0, false);
    wr(rv_dev_virtio_write, &v, 0x50, 2, 0);
    assert_int_equal(g(t, BUF + 0x80)[0], 2);
    blk_req(t, 4, 0, 0, false);
    wr(rv_dev_virtio_write, &v, 0x50, 2, 0);
    assert_int_equal(g(t, BUF + 0x80)[0], 0);

    /* Write zeroes over sector 7. */
    blk_req(t, 13, 0, 16, false);
    wr_le64(g(t, BUF + 0x100), 7);
    wr_le32(g(t, BUF + 0x108), 1);
    wr_le32(g(t, BUF + 0x10c), 0);
    wr(rv_dev_virtio_write, &v, 0x50, 2, 0);
    assert_int_equal(g(t, BUF + 0x80)[0], 0);
    assert_int_equal(t->disk[7 * 512], 0);

    /* A descriptor pointing outside RAM is refused, not followed. */
    set_desc(t, 0, BUF, 16, 1, 1);
    set_desc(t, 1, 0x1000, 512, 1 | 2, 2);
    set_desc(t, 2, BUF + 0x80, 1, 2, 0);
    wr_le32(g(t, BUF), 0);
    g(t, BUF + 0x80)[0] = 0xff;
    avail_push(t, 0);
    wr(rv_dev_virtio_write, &v, 0x50, 2, 0);
    assert_int_equal(rd_le16(g(t, Q_USED + 2)), 7);
    assert_int_equal(g(t, BUF + 0x80)[0], 0xff); /* chain not followed */

    /* A descriptor loop ends as a malformed request. */
    set_desc(t, 0, BUF, 16, 1, 1);
    set_desc(t, 1, BUF + 0x100, 16, 1, 0);
    avail_push(t, 0);
    wr(rv_dev_virtio_write, &v, 0x50, 2, 0);
    assert_int_equal(rd_le16(g(t, Q_USED + 2)), 8);

    /* Status 0 resets the device. */
    wr(rv_dev_virtio_write, &v, 0x70, 2, 0);
    assert_int_equal(rd(rv_dev_virtio_read, &v, 0x44, 2), 0);
    assert_int_equal(rd(rv_dev_virtio_read, &v, 0x70, 2), 0);
    test_free(t);
}

static void test_virtio_blk_readonly(void **state)
{
    struct th *t = th_new();
    struct rv_virtio v;
    struct rv_blk_backend be = {t,           sizeof(t->disk), true,
                                mem_read,    mem_write,       mem_flush,
                                mem_discard, mem_zero};

    rv_dev_virtio_init(&v, &t->host, 8, RV_VIRTIO_ID_BLK, &be);
    wr(rv_dev_virtio_write, &v, 0x14, 2, 0);
    assert_true(rd(rv_dev_virtio_read, &v, 0x10, 2) & (1u << 5)); /* RO */
    driver_init(&v);
    memset(g(t, BUF + 0x100), 0x77, 512);
    blk_req(t, 1, 0, 512, false);
    wr(rv_dev_virtio_write, &v, 0x50, 2, 0);
    assert_int_equal(g(t, BUF + 0x80)[0], 1);
    assert_int_equal(t->disk[0], 0);
    test_free(t);
}

static void test_virtio_rng_and_empty(void **state)
{
    struct th *t = th_new();
    struct rv_virtio v, e;

    rv_dev_virtio_init(&v, &t->host, 3, RV_VIRTIO_ID_RNG, NULL);
    assert_int_equal(rd(rv_dev_virtio_read, &v, 8, 2), 4);
    driver_init(&v);
    set_desc(t, 0, BUF, 16, 2, 0);
    avail_push(t, 0);
    wr(rv_dev_virtio_write, &v, 0x50, 2, 0);
    assert_int_equal(rd_le32(g(t, Q_USED + 8)), 16);
    assert_int_equal(g(t, BUF)[0], 0xa0);
    assert_int_equal(g(t, BUF)[15], 0xaf);

    /* Legacy (version 1) registers are reported as unimplemented. */
    assert_int_equal(t->logs[1], 0);
    assert_int_equal(rd(rv_dev_virtio_read, &v, 0x40, 2), 0);
    wr(rv_dev_virtio_write, &v, 0x28, 2, 4096);
    assert_int_equal(t->logs[1], 2);
    /* A wrong access size is a guest error. */
    rd(rv_dev_virtio_read, &v, 0x70, 0);
    assert_true(t->logs[0] >= 1);

    rv_dev_virtio_init(&e, &t->host, 1, 0, NULL);
    assert_int_equal(rd(rv_dev_virtio_read, &e, 0, 2), 0x74726976);
    assert_int_equal(rd(rv_dev_virtio_read, &e, 8, 2), 0);
    assert_int_equal(rd(rv_dev_virtio_read, &e, 0x34, 2), 0);
    test_free(t);
}

/* ---- vmstate ---- */

/* The serialiser over devices only (no CPU, machine or RAM sections). */
struct devstate {
    struct rv_vmstate_ctx c;
    struct rv_vmstate_cache *cache;
};

static void devstate_init(struct devstate *ds, const struct rv_devices *d)
{
    memset(ds, 0, sizeof(*ds));
    ds->c.dev = *d;
    ds->c.cache = &ds->cache;
}

static uint8_t *devstate_save(struct devstate *ds, size_t *len)
{
    uint8_t *blob = NULL;
    struct err err;

    assert_int_equal(rv_vmstate_save(&ds->c, &blob, len, &err), 0);
    return blob;
}

static void devstate_fini(struct devstate *ds)
{
    rv_vmstate_cache_free(ds->cache);
}

static void test_vmstate_roundtrip(void **state)
{
    struct th *t = th_new();
    struct rv_clint c;
    struct rv_plic p;
    struct rv_uart u;
    struct rv_rtc r;
    struct rv_virtio v[RV_VIRTIO_SLOTS];
    struct rv_devices d = {&c, &p, &u, &r, v};
    struct devstate ds;
    uint8_t *a, *b;
    size_t alen, blen;
    struct err err;

    rv_dev_clint_init(&c, &t->host);
    rv_dev_plic_init(&p, &t->host);
    rv_dev_uart_init(&u, &t->host, 10);
    rv_dev_rtc_init(&r, &t->host, 11, 77);
    for (unsigned i = 0; i < RV_VIRTIO_SLOTS; i++) {
        rv_dev_virtio_init(&v[i], &t->host, 1 + i,
                           i == 7 ? RV_VIRTIO_ID_RNG : 0, NULL);
    }
    wr(rv_dev_clint_write, &c, 0x4000, 3, 999);
    wr(rv_dev_plic_write, &p, PRIO(10), 2, 3);
    wr(rv_dev_uart_write, &u, 7, 0, 0x42);
    driver_init(&v[7]);
    devstate_init(&ds, &d);
    a = devstate_save(&ds, &alen);

    rv_dev_clint_reset(&c);
    rv_dev_plic_reset(&p);
    rv_dev_uart_reset(&u);
    rv_dev_virtio_reset(&v[7]);
    b = devstate_save(&ds, &blen);
    assert_int_equal(alen, blen);
    assert_memory_not_equal(a, b, alen);
    mem_free(b);
    assert_int_equal(rv_vmstate_load(&ds.c, a, alen, &err), 0);
    b = devstate_save(&ds, &blen);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    mem_free(b);
    assert_int_equal(rd(rv_dev_uart_read, &u, 7, 0), 0x42);
    assert_int_equal(rd(rv_dev_virtio_read, &v[7], 0x44, 2), 1);

    /* Corruption is detected; the devices are left alone. */
    a[100] ^= 1;
    assert_int_equal(rv_vmstate_load(&ds.c, a, alen, &err), -EBADMSG);
    assert_int_equal(rv_vmstate_load(&ds.c, a, alen - 1, &err), -EBADMSG);
    mem_free(a);
    devstate_fini(&ds);
    test_free(t);
}

/* Regression: a claimed source whose line is still high is not pending;
 * loading the state must not re-pend it (the UART re-drives its line while
 * loading), so save -> load -> save is the identity. */
static void test_vmstate_plic_claimed_high(void **state)
{
    struct th *t = th_new();
    struct rv_clint c;
    struct rv_plic p;
    struct rv_uart u;
    struct rv_rtc r;
    struct rv_virtio v[RV_VIRTIO_SLOTS];
    struct rv_devices d = {&c, &p, &u, &r, v};
    struct devstate ds;
    uint8_t *a, *b;
    size_t alen, blen;
    struct err err;

    t->plic = &p;
    rv_dev_plic_init(&p, &t->host);
    rv_dev_clint_init(&c, &t->host);
    rv_dev_uart_init(&u, &t->host, RV_UART_IRQ);
    rv_dev_rtc_init(&r, &t->host, RV_RTC_IRQ, 0);
    for (unsigned i = 0; i < RV_VIRTIO_SLOTS; i++) {
        rv_dev_virtio_init(&v[i], &t->host, 1 + i, 0, NULL);
    }
    wr(rv_dev_plic_write, &p, PRIO(RV_UART_IRQ), 2, 1);
    wr(rv_dev_plic_write, &p, ENABLE(1), 2, 1u << RV_UART_IRQ);
    wr(rv_dev_uart_write, &u, 1, 0, 0x02); /* IER: THRE interrupt */
    assert_true(t->irq[RV_UART_IRQ]);
    assert_int_equal(rd(rv_dev_plic_read, &p, CLAIM(1), 2), RV_UART_IRQ);
    assert_int_equal(rd(rv_dev_plic_read, &p, 0x1000, 2), 0);
    assert_true(t->irq[RV_UART_IRQ]);
    devstate_init(&ds, &d);
    a = devstate_save(&ds, &alen);
    assert_int_equal(rv_vmstate_load(&ds.c, a, alen, &err), 0);
    b = devstate_save(&ds, &blen);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    assert_int_equal(rd(rv_dev_plic_read, &p, 0x1000, 2), 0);
    assert_false(t->mip[RV_IRQ_SEIP]);
    mem_free(a);
    mem_free(b);
    devstate_fini(&ds);
    test_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plic_claim_complete),
        cmocka_unit_test(test_plic_threshold_and_warl),
        cmocka_unit_test(test_uart_tx_and_thre_irq),
        cmocka_unit_test(test_uart_rx_input_points),
        cmocka_unit_test(test_uart_dlab_scr_loopback),
        cmocka_unit_test(test_clint_timer),
        cmocka_unit_test(test_finisher),
        cmocka_unit_test(test_rtc),
        cmocka_unit_test(test_virtio_blk),
        cmocka_unit_test(test_virtio_blk_readonly),
        cmocka_unit_test(test_virtio_rng_and_empty),
        cmocka_unit_test(test_vmstate_roundtrip),
        cmocka_unit_test(test_vmstate_plic_claimed_high),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
