/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-virt.c - the `virt` machine: memory map, devices, boot,
 * and the main loop.
 *
 * DESIGN NOTES
 * 1. Virtual time is vtime_ns = (icount << shift) + idle_ns. idle_ns only
 *    grows when the hart waits in WFI: time jumps to the next deadline.
 *    Nothing guest-visible reads the host clock (except -rtc base=utc,
 *    taken once at start-up by the caller).
 * 2. The guest runs in slices of at most SLICE_MAX instructions that end
 *    at the next timer deadline (so MTIP rises at an exact instruction
 *    count), at a device's exit request and at WFI; serial input is taken
 *    and the timer lines updated only where a guest slice starts, so these
 *    points depend only on the guest. The host runs each guest slice in
 *    runs of slice_budget instructions, which adapts to the host speed of
 *    the code (halved when a run takes over SLICE_TARGET_NS, doubled under
 *    half of it; fixed under -d in_asm/exec/cpu, whose log shows the cuts)
 *    and stops at a stop-at target; the loop serves descriptors between
 *    runs, so the monitor answers within about a millisecond even in slow
 *    MMIO loops. Run boundaries, stops and monitor commands that only
 *    inspect are invisible to the guest.
 * 3. Outside input enters through two hooks only: machine_input_byte()
 *    (serial) and machine_entropy() (virtio-rng). Host input is buffered
 *    by rv_machine_serial_input(); the UART takes a byte only when its
 *    FIFO is empty. With all input available before start, runs are
 *    identical.
 * 4. Guest reset re-copies the boot images (as QEMU's ROM blobs) and
 *    resets every device; RAM is otherwise kept, the icount continues.
 * 5. Device callbacks never flush the CPU's caches themselves: a DMA write
 *    drops the decoded blocks of the pages it wrote (rv_cpu_code_written),
 *    sets flush_pending and ends the slice after the current instruction;
 *    the soft TLB is flushed after the slice.
 * 6. Serial output is gathered during a slice and handed to serial_out
 *    after it.
 * 7. The loop owns every host descriptor: between two slices it polls
 *    without waiting (one poll() per slice); it waits only while the
 *    machine is stopped or the guest idles in WFI. Monitor commands run
 *    from the loop, hence between slices, at an instruction boundary.
 *    Outside RUNNING the icount does not move.
 *
 *    run states (QEMU's), with the function that moves between them:
 *
 *      prelaunch --cont--> running --stop / stop-at--> paused
 *          ^                 |  ^------------cont---------'
 *          |                 |--guest poweroff, -no-shutdown--> shutdown
 *          '--system_reset (from any stopped state)-------------'
 *      running --(WFI)--> idle in the loop --(deadline/input)--> running
 *      any --quit / poweroff / Ctrl-a x / signal--> rv_machine_run returns
 */
#include "emulator/rv.h"
#include "emulator/rv-int.h"

#include <fcntl.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/hash.h"
#include "common/loop.h"
#include "qcow2/qcow2.h"

/* Longest CPU slice: 2^18 instructions, 0.5-2 ms of host time, so the
 * monitor and input stay responsive; between slices the loop costs one
 * poll() with timeout 0. */
#define SLICE_MAX (1u << 18)
/* Host time a slice aims at: the monitor's answer waits at most about
 * this long (p99 under 2 ms, issue 10), and the loop's poll() between
 * slices stays far below 1% of it. */
#define SLICE_TARGET_NS 500000ull
/* Smallest adaptive budget: even very slow code runs this much per poll. */
#define SLICE_MIN (1u << 10)
/* Host input buffered ahead of the guest. */
#define INPUT_BUF 4096
/* A BREAK condition in the input buffer (outside the byte range). */
#define INPUT_BREAK 0x100u
/* Serial output gathered per slice, so the host sees one write per slice
 * instead of one per byte. */
#define OUTPUT_BUF 4096
/* Boot images kept for guest reset: firmware, kernel, initrd, FDT,
 * -device loader files. */
#define MAX_BLOBS (4 + RV_MAX_LOADERS)
/* Kernel alignment above the firmware on RV64 (riscv_calc_kernel_start). */
#define KERNEL_ALIGN      (2ull << 20)
#define INITRD_MAX_OFFSET (128ull << 20)

struct blob {
    char *name; /* info roms: the file as given, or "fdt" */
    uint64_t gpa;
    uint8_t *data;
    size_t len;
};

struct disk {
    struct qcow2_image *img; /* NULL between rv_machine_blk_close/_reopen */
    struct rv_blk_backend be;
    const struct rv_drive_config *cfg; /* in m->cfg; NULL: unused */
    unsigned slot;                     /* its virtio-mmio slot */
    int overlay_fd; /* > 0: the unlinked -snapshot overlay; 0: none */
    bool inactive;  /* open read-only without a lock (QEMU's inactive
                       image during a migration) */
};

struct rv_machine {
    struct rv_machine_config cfg;
    rv_disk_opened_fn *disk_hook; /* NULL if none */
    void *disk_hook_opaque;
    struct rv_cpu *cpu;
    struct rv_ram ram;
    uint8_t *rom;
    struct rv_dev_host host;
    struct rv_clint clint;
    struct rv_plic plic;
    struct rv_uart uart;
    struct rv_test test;
    struct rv_rtc rtc;
    struct rv_virtio virtio[RV_VIRTIO_SLOTS];
    struct disk disk[RV_VIRTIO_SLOTS];
    struct blob blobs[MAX_BLOBS];
    unsigned nb_blobs;
    uint64_t start_addr;   /* where the reset ROM jumps */
    uint64_t kernel_entry; /* fw_dynamic next_addr; 0 without -kernel */
    uint64_t fdt_addr;
    uint64_t icount_base;      /* instructions before the last CPU reset */
    uint64_t idle_ns;          /* virtual ns skipped while idle */
    uint16_t input[INPUT_BUF]; /* bytes, or INPUT_BREAK */
    size_t input_head, input_len;
    uint8_t output[OUTPUT_BUF];
    size_t output_len;
    uint64_t rng[4]; /* xoshiro256** state */
    int rng_fd;      /* -1: use rng[] */
    bool req_shutdown, req_reset, req_quit;
    enum rv_runstate state;
    uint64_t stop_at;      /* pause at this icount; UINT64_MAX: none */
    uint64_t idle_end;     /* monotonic ns the WFI sleep ends; 0: not idle */
    uint64_t slice_budget; /* host run length, SLICE_MIN..SLICE_MAX */
    uint64_t vslice_end;   /* icount where the guest slice ends (notes 2) */
    bool vslice_new;       /* the next run starts a guest slice */
    bool idle_forever;     /* WFI with no deadline: wait for input */
    bool flush_pending;    /* DMA wrote RAM: flush CPU caches after the slice */
    struct rv_vmstate_cache *vmcache; /* state hash tree; NULL until used */
    struct rv_snap *snap;             /* savevm/loadvm state; NULL until used */
    int exit_code;
};

/* ---- time ---- */

static uint64_t machine_icount(const struct rv_machine *m)
{
    return m->icount_base + rv_cpu_icount(m->cpu);
}

static uint64_t machine_now_ns(void *opaque)
{
    struct rv_machine *m = opaque;

    return (machine_icount(m) << m->cfg.icount_shift) + m->idle_ns;
}

static uint64_t machine_get_time(void *opaque)
{
    struct rv_machine *m = opaque;

    return rv_dev_clint_mtime(&m->clint);
}

/* ---- the device host ---- */

static void machine_set_irq(void *opaque, unsigned line, bool level)
{
    struct rv_machine *m = opaque;

    rv_dev_plic_set_irq(&m->plic, line, level);
}

static void machine_set_mip(void *opaque, unsigned irq, bool level)
{
    struct rv_machine *m = opaque;

    rv_cpu_set_irq(m->cpu, irq, level);
}

static void machine_kick(void *opaque)
{
    struct rv_machine *m = opaque;

    rv_cpu_request_exit(m->cpu);
}

/* THE serial input hook (see DESIGN NOTES 3). */
static int machine_input_byte(void *opaque, uint8_t *byte)
{
    struct rv_machine *m = opaque;
    int avail = 0;

    *byte = 0;
    if (m->input_len) {
        uint16_t in = m->input[m->input_head];

        avail = in == INPUT_BREAK ? RV_INPUT_BREAK : RV_INPUT_BYTE;
        *byte = (uint8_t)in;
    }
    if (m->cfg.hooks.serial) {
        int got = m->cfg.hooks.serial(m->cfg.hooks.opaque, machine_icount(m),
                                      avail, byte);

        if (avail && got) {
            m->input_head = (m->input_head + 1) % INPUT_BUF;
            m->input_len--;
        }
        if (got == RV_INPUT_BREAK) {
            return RV_INPUT_BREAK;
        }
        return got ? RV_INPUT_BYTE : 0;
    }
    if (avail) {
        m->input_head = (m->input_head + 1) % INPUT_BUF;
        m->input_len--;
    }
    return avail;
}

static void output_flush(struct rv_machine *m)
{
    if (m->output_len) {
        if (m->cfg.serial_out) {
            m->cfg.serial_out(m->cfg.serial_opaque, m->output, m->output_len);
        }
        m->output_len = 0;
    }
}

static void machine_output(void *opaque, const uint8_t *src, size_t len)
{
    struct rv_machine *m = opaque;

    if (len > OUTPUT_BUF - m->output_len) {
        output_flush(m);
    }
    if (len > OUTPUT_BUF) {
        if (m->cfg.serial_out) {
            m->cfg.serial_out(m->cfg.serial_opaque, src, len);
        }
        return;
    }
    memcpy(m->output + m->output_len, src, len);
    m->output_len += len;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static void rng_seed(uint64_t *s, uint64_t seed)
{
    for (unsigned i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        s[i] = z ^ (z >> 31);
    }
}

/* THE entropy hook: xoshiro256** from a documented seed (-rng-seed). */
static void machine_entropy(void *opaque, uint8_t *dst, size_t len)
{
    struct rv_machine *m = opaque;
    size_t total = len;
    uint8_t b[8];

    while (m->rng_fd >= 0 && len) {
        ssize_t n = read(m->rng_fd, dst, len);

        if (n <= 0) {
            break; /* fall back to the generator */
        }
        dst += n;
        len -= (size_t)n;
    }
    while (len) {
        size_t n = len < 8 ? len : 8;

        wr_le64(b, rng_next(m->rng));
        memcpy(dst, b, n);
        dst += n;
        len -= n;
    }
    if (m->cfg.hooks.entropy) {
        m->cfg.hooks.entropy(m->cfg.hooks.opaque, machine_icount(m),
                             dst - total, total);
    }
}

static uint8_t *machine_dma(void *opaque, uint64_t gpa, uint64_t len)
{
    struct rv_machine *m = opaque;

    if (gpa < m->ram.base || gpa - m->ram.base > m->ram.size ||
        len > m->ram.size - (gpa - m->ram.base)) {
        return NULL;
    }
    rv_cpu_ram_written(m->cpu, gpa, len); /* may be written (used ring) */
    return m->ram.host + (gpa - m->ram.base);
}

/* Device writes to RAM: the CPU drops its decoded code after the current
 * instruction (flushing from inside an MMIO callback is not allowed). */
static void machine_dma_written(void *opaque, uint64_t gpa, uint64_t len)
{
    struct rv_machine *m = opaque;

    rv_cpu_code_written(m->cpu, gpa, len);
    m->flush_pending = true;
    rv_cpu_request_exit(m->cpu);
}

static void machine_shutdown(void *opaque, bool reset, int code)
{
    struct rv_machine *m = opaque;

    if (reset) {
        m->req_reset = true;
    } else {
        m->req_shutdown = true;
        m->exit_code = code;
    }
    rv_cpu_request_exit(m->cpu);
}

static void machine_log(void *opaque, unsigned mask, const char *msg)
{
    struct rv_machine *m = opaque;

    if ((m->cfg.log_mask & mask) && m->cfg.log_fn) {
        m->cfg.log_fn(m->cfg.log_opaque, msg);
    }
}

/* -d in_asm,int,exec,cpu,fpu: the CPU's trace text goes to the same log. */
static void machine_trace(void *opaque, const char *text)
{
    struct rv_machine *m = opaque;

    m->cfg.log_fn(m->cfg.log_opaque, text);
}

/* ---- the bus ---- */

/*
 * The board's devices, in the order QEMU 7.2's virt creates them (info
 * qtree lists them newest first). One row per MMIO window: the bus
 * dispatch, machine reset, `info mtree` and `info qtree` all read this
 * table. A row with @count > 1 repeats at @base + i * @size, its device
 * at @dev_off + i * @dev_stride in struct rv_machine. @bias is the
 * window's offset inside its device (the CLINT answers at two windows, as
 * QEMU's aclint.swi and aclint.mtimer). @mr_size is the region as QEMU
 * maps it (info mtree); the bus decodes all of @size. The RAM and ROM are
 * not rows: the CPU reaches them directly.
 */
struct virt_dev {
    const char *mr_name; /* QEMU's memory region */
    const char *type;    /* QEMU's qdev type (info qtree) */
    const char *props;   /* info qtree's property lines, before "mmio" */
    bool mmio_unmapped;  /* info qtree shows QEMU's ffffffffffffffff */
    uint64_t base, size, mr_size, bias;
    unsigned count;
    unsigned irq; /* first PLIC source, +i per instance; 0: none */
    size_t dev_off, dev_stride;
    rv_mmio_read_fn *read;
    rv_mmio_write_fn *write;
    void (*reset)(void *dev); /* NULL: no reset state */
    struct rv_fdt_dev fdt;    /* its /soc node (fdt.c); node NULL: none */
};

/* A compatible string list with its length. */
#define FDT_COMPAT(list) .compat = list, .compat_len = sizeof(list)

static void reset_clint(void *dev)
{
    rv_dev_clint_reset(dev);
}

static void reset_plic(void *dev)
{
    rv_dev_plic_reset(dev);
}

static void reset_uart(void *dev)
{
    rv_dev_uart_reset(dev);
}

static void reset_rtc(void *dev)
{
    rv_dev_rtc_reset(dev);
}

static void reset_virtio(void *dev)
{
    rv_dev_virtio_reset(dev);
}

#define VIRT_DEV(field) offsetof(struct rv_machine, field)

/* One device per entry, laid out by hand. */
/* clang-format off */
static const struct virt_dev virt_devs[] = {
    {"riscv.aclint.swi", "riscv.aclint.swi",
     "gpio-out \"\" 1\nhartid-base = 0 (0x0)\nnum-harts = 1 (0x1)\n"
     "sswi = 0 (0x0)\n",
     false, RV_CLINT_BASE, 0x4000, 0x4000, 0, 1, 0, VIRT_DEV(clint), 0,
     rv_dev_clint_read, rv_dev_clint_write, reset_clint,
     /* one node for both ACLINT windows, as QEMU's riscv,clint0 */
     {.node = "clint", .step = 0, FDT_COMPAT("sifive,clint0\0riscv,clint0"),
      .size = RV_CLINT_SIZE, .nb_hart_irqs = 2,
      .hart_irqs = {RV_IRQ_MSIP, RV_IRQ_MTIP}}},
    {"riscv.aclint.mtimer", "riscv.aclint.mtimer",
     "gpio-out \"\" 1\nhartid-base = 0 (0x0)\nnum-harts = 1 (0x1)\n"
     "timecmp-base = 0 (0x0)\ntime-base = 32760 (0x7ff8)\n"
     "aperture-size = 32768 (0x8000)\n"
     "timebase-freq = 10000000 (0x989680)\n",
     false, RV_CLINT_BASE + 0x4000, RV_CLINT_SIZE - 0x4000, 0x8000, 0x4000, 1,
     0, VIRT_DEV(clint), 0, rv_dev_clint_read, rv_dev_clint_write, NULL},
    {"riscv.sifive.plic", "riscv.sifive.plic",
     "gpio-in \"\" 96\ngpio-out \"\" 2\nhart-config = \"MS\"\n"
     "hartid-base = 0 (0x0)\nnum-sources = 96 (0x60)\n"
     "num-priorities = 7 (0x7)\npriority-base = 4 (0x4)\n"
     "pending-base = 4096 (0x1000)\nenable-base = 8192 (0x2000)\n"
     "enable-stride = 128 (0x80)\ncontext-base = 2097152 (0x200000)\n"
     "context-stride = 4096 (0x1000)\n"
     "aperture-size = 6291456 (0x600000)\n",
     false, RV_PLIC_BASE, RV_PLIC_SIZE, RV_PLIC_SIZE, 0, 1, 0, VIRT_DEV(plic),
     0, rv_dev_plic_read, rv_dev_plic_write, reset_plic,
     {.node = "plic", .step = 1, FDT_COMPAT("sifive,plic-1.0.0\0riscv,plic0"),
      .size = RV_PLIC_SIZE, .phandle = RV_FDT_PH_PLIC,
      .ndev = RV_PLIC_SOURCES - 1, .nb_hart_irqs = 2,
      .hart_irqs = {RV_IRQ_MEIP, RV_IRQ_SEIP}}},
    {"riscv.sifive.test", "riscv.sifive.test", "", false, RV_TEST_BASE,
     RV_TEST_SIZE, RV_TEST_SIZE, 0, 1, 0, VIRT_DEV(test), 0, rv_dev_test_read,
     rv_dev_test_write, NULL,
     {.node = "test", .step = 3, FDT_COMPAT("sifive,test1\0sifive,test0\0syscon"),
      .size = RV_TEST_SIZE, .phandle = RV_FDT_PH_TEST}},
    {"virtio-mmio", "virtio-mmio",
     "gpio-out \"sysbus-irq\" 1\nformat_transport_address = true\n"
     "force-legacy = true\nioeventfd = false\n",
     false, RV_VIRTIO_BASE, RV_VIRTIO_SIZE, 0x200, 0, RV_VIRTIO_SLOTS, 1,
     VIRT_DEV(virtio), sizeof(struct rv_virtio), rv_dev_virtio_read,
     rv_dev_virtio_write, reset_virtio,
     {.node = "virtio_mmio", .step = 2, FDT_COMPAT("virtio,mmio"),
      .size = RV_VIRTIO_SIZE}},
    {"serial", "serial-mm",
     "gpio-out \"sysbus-irq\" 1\nregshift = 0 (0x0)\n"
     "endianness = 2 (0x2)\n",
     true, RV_UART_BASE, RV_UART_SIZE, 8, 0, 1, 10, VIRT_DEV(uart), 0,
     rv_dev_uart_read, rv_dev_uart_write, reset_uart,
     {.node = "serial", .step = 4, FDT_COMPAT("ns16550a"), .size = RV_UART_SIZE,
      .clock = RV_UART_CLOCK}},
    {"goldfish_rtc", "goldfish_rtc",
     "gpio-out \"sysbus-irq\" 1\nbig-endian = false\n", false, RV_RTC_BASE,
     RV_RTC_SIZE, 0x24, 0, 1, 11, VIRT_DEV(rtc), 0, rv_dev_rtc_read,
     rv_dev_rtc_write, reset_rtc,
     {.node = "rtc", .step = 5, FDT_COMPAT("google,goldfish-rtc"), .size = RV_RTC_SIZE}},
};
/* clang-format on */

/* QEMU adds each node before those added earlier (struct rv_fdt_node). */
size_t rv_machine_fdt_nodes(struct rv_fdt_node *dst, size_t cap)
{
    const size_t nb_rows = sizeof(virt_devs) / sizeof(virt_devs[0]);
    unsigned step = 0;
    size_t n = 0;

    for (size_t k = 0; k < nb_rows; k++) {
        step = virt_devs[k].fdt.step > step ? virt_devs[k].fdt.step : step;
    }
    for (step++; step-- > 0;) {
        for (size_t k = nb_rows; k-- > 0;) {
            const struct virt_dev *v = &virt_devs[k];

            for (unsigned i = v->count;
                 v->fdt.node && v->fdt.step == step && i-- > 0 && n < cap;) {
                dst[n++] = (struct rv_fdt_node){&v->fdt, v->base + i * v->size,
                                                v->irq ? v->irq + i : 0};
            }
        }
    }
    return n;
}

static void *virt_dev_state(struct rv_machine *m, const struct virt_dev *d,
                            unsigned i)
{
    return (char *)m + d->dev_off + i * d->dev_stride;
}

struct mmio_dev {
    uint64_t base; /* guest address of the device's offset 0 */
    rv_mmio_read_fn *read;
    rv_mmio_write_fn *write;
    void *dev;
};

static bool mmio_find(struct rv_machine *m, uint64_t pa, struct mmio_dev *d)
{
    for (size_t k = 0; k < sizeof(virt_devs) / sizeof(virt_devs[0]); k++) {
        const struct virt_dev *v = &virt_devs[k];
        uint64_t i;

        if (pa < v->base || pa - v->base >= v->count * v->size) {
            continue;
        }
        i = (pa - v->base) / v->size;
        *d = (struct mmio_dev){v->base + i * v->size - v->bias, v->read,
                               v->write, virt_dev_state(m, v, (unsigned)i)};
        return true;
    }
    return false;
}

bool rv_machine_dev(size_t idx, struct rv_machine_dev *d)
{
    for (size_t k = 0; k < sizeof(virt_devs) / sizeof(virt_devs[0]); k++) {
        const struct virt_dev *v = &virt_devs[k];

        if (idx >= v->count) {
            idx -= v->count;
            continue;
        }
        *d = (struct rv_machine_dev){
            v->mr_name,    v->type,
            v->props,      v->base + idx * v->size,
            v->mr_size,    v->irq ? v->irq + (unsigned)idx : 0,
            (unsigned)idx, v->mmio_unmapped};
        return true;
    }
    return false;
}

static void bus_error(struct rv_machine *m, const char *what, uint64_t pa,
                      unsigned size_log2)
{
    char msg[128];

    if (!(m->cfg.log_mask & RV_LOG_GUEST_ERRORS) || !m->cfg.log_fn) {
        return;
    }
    snprintf(msg, sizeof(msg), "invalid %u-byte %s at 0x%llx", 1u << size_log2,
             what, (unsigned long long)pa);
    m->cfg.log_fn(m->cfg.log_opaque, msg);
}

static int bus_read(void *opaque, uint64_t pa, unsigned size_log2,
                    uint64_t *val)
{
    struct rv_machine *m = opaque;
    struct mmio_dev d;

    if (!mmio_find(m, pa, &d)) {
        bus_error(m, "read", pa, size_log2);
        return -1;
    }
    if (d.read(d.dev, pa - d.base, size_log2, val) < 0) {
        bus_error(m, "read", pa, size_log2);
        return -1;
    }
    return 0;
}

static int bus_write(void *opaque, uint64_t pa, unsigned size_log2,
                     uint64_t val)
{
    struct rv_machine *m = opaque;
    struct mmio_dev d;

    if (!mmio_find(m, pa, &d)) {
        bus_error(m, "write", pa, size_log2);
        return -1;
    }
    if (d.write(d.dev, pa - d.base, size_log2, val) < 0) {
        bus_error(m, "write", pa, size_log2);
        return -1;
    }
    return 0;
}

/* ---- disks ---- */

static int disk_read(void *opaque, uint64_t off, void *dst, size_t len)
{
    return qcow2_read(opaque, off, dst, len, NULL);
}

static int disk_write(void *opaque, uint64_t off, const void *src, size_t len)
{
    return qcow2_write(opaque, off, src, len, NULL);
}

static int disk_flush(void *opaque)
{
    return qcow2_flush(opaque, NULL);
}

static int disk_discard(void *opaque, uint64_t off, uint64_t len)
{
    return qcow2_discard(opaque, off, len, NULL);
}

static int disk_write_zeroes(void *opaque, uint64_t off, uint64_t len,
                             bool unmap)
{
    return qcow2_write_zeroes(opaque, off, len,
                              unmap ? QCOW2_ZERO_MAY_UNMAP : 0, NULL);
}

/*
 * snapshot=on: a temporary qcow2 overlay backed by the image, unlinked as
 * soon as it is open so that it disappears however we exit.
 */
static int disk_open_snapshot(const struct rv_drive_config *dc,
                              enum qcow2_format fmt, unsigned flags,
                              struct qcow2_image **out, int *keep_fd,
                              struct err *err)
{
    struct qcow2_create_opts o;
    const char *dir = getenv("TMPDIR");
    char path[4096];
    char *abs = NULL;
    int fd, ret;

    /* Where QEMU puts its -snapshot overlays: $TMPDIR, else /var/tmp. */
    if (!dir || !*dir || strlen(dir) > sizeof(path) - 32) {
        dir = "/var/tmp";
    }
    snprintf(path, sizeof(path), "%s/rrvm-snapshot-XXXXXX", dir);
    abs = realpath(dc->file, NULL);
    if (!abs) {
        return err_set(err, -errno, "%s: %s", dc->file, strerror(errno));
    }
    fd = mkstemp(path);
    if (fd < 0) {
        ret = err_set(err, -errno, "snapshot overlay: %s", strerror(errno));
        goto out;
    }
    close(fd);
    qcow2_create_opts_init(&o);
    o.backing_file = abs;
    o.backing_fmt = fmt == QCOW2_FORMAT_RAW ? "raw" : "qcow2";
    ret = qcow2_create(path, &o, err);
    if (ret == 0) {
        ret = qcow2_open(path, QCOW2_FORMAT_QCOW2,
                         (flags & ~QCOW2_OPEN_RDONLY) | QCOW2_OPEN_UNSAFE, out,
                         err);
    }
    /* Kept so the overlay can be opened again after unlink (commit). */
    if (ret == 0) {
        *keep_fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    unlink(path);
out:
    free(abs);
    return ret;
}

static int disk_open(struct disk *d, const struct rv_drive_config *dc,
                     struct err *err)
{
    enum qcow2_format fmt;
    unsigned flags = 0;
    int ret;

    if (!dc->format) {
        ret = qcow2_probe(dc->file, &fmt, err);
        if (ret < 0) {
            return ret;
        }
    } else if (strcmp(dc->format, "qcow2") == 0) {
        fmt = QCOW2_FORMAT_QCOW2;
    } else if (strcmp(dc->format, "raw") == 0) {
        fmt = QCOW2_FORMAT_RAW;
    } else {
        return err_set(err, -ENOTSUP, "%s: unsupported format '%s'", dc->file,
                       dc->format);
    }
    if (dc->readonly || dc->snapshot) {
        flags |= QCOW2_OPEN_RDONLY;
    }
    if (dc->cache_unsafe) {
        flags |= QCOW2_OPEN_UNSAFE;
    }
    if (dc->cache_direct) {
        flags |= QCOW2_OPEN_NOCACHE;
    }
    if (d->inactive) {
        flags |= QCOW2_OPEN_RDONLY | QCOW2_OPEN_FORCE_SHARE;
    }
    if (dc->snapshot && !dc->readonly && d->overlay_fd > 0) {
        char path[64];

        /* Reopen (rv_machine_blk_reopen): the same overlay. */
        snprintf(path, sizeof(path), "/proc/self/fd/%d", d->overlay_fd);
        ret = qcow2_open(path, QCOW2_FORMAT_QCOW2,
                         (flags & ~QCOW2_OPEN_RDONLY) | QCOW2_OPEN_UNSAFE,
                         &d->img, err);
    } else if (dc->snapshot && !dc->readonly) {
        ret = disk_open_snapshot(dc, fmt, flags, &d->img, &d->overlay_fd, err);
    } else {
        ret = qcow2_open(dc->file, fmt, flags, &d->img, err);
    }
    if (ret < 0) {
        return ret;
    }
    d->be = (struct rv_blk_backend){
        .opaque = d->img,
        .size = qcow2_size(d->img),
        .readonly = dc->readonly,
        .read = disk_read,
        .write = disk_write,
        .flush = disk_flush,
        .discard = disk_discard,
        .write_zeroes = disk_write_zeroes,
    };
    return 0;
}

/* ---- boot ---- */

static int blob_add(struct rv_machine *m, uint64_t gpa, uint64_t end,
                    const char *name, struct err *err)
{
    struct blob *b;

    if (m->nb_blobs == MAX_BLOBS) {
        return err_set(err, -ERANGE, "too many boot images");
    }
    b = &m->blobs[m->nb_blobs];
    b->len = (size_t)(end - gpa);
    b->data = mem_alloc(b->len ? b->len : 1);
    b->name = mem_strdup(name);
    if (!b->data || !b->name) {
        mem_free(b->data);
        mem_free(b->name);
        return err_set(err, -ENOMEM, "boot image copy: out of memory");
    }
    memcpy(b->data, m->ram.host + (gpa - m->ram.base), b->len);
    b->gpa = gpa;
    m->nb_blobs++;
    return 0;
}

/* Load one boot image and keep a copy for guest resets. */
static int load_image(struct rv_machine *m, const char *path, bool allow_elf,
                      uint64_t raw_addr, uint64_t *entry, uint64_t *end,
                      struct err *err)
{
    uint64_t lo;
    int ret;

    ret =
        rv_load_file(&m->ram, path, allow_elf, raw_addr, entry, &lo, end, err);
    if (ret < 0) {
        return ret;
    }
    return blob_add(m, lo, *end, path, err);
}

static int machine_boot_setup(struct rv_machine *m, struct err *err)
{
    const struct rv_machine_config *c = &m->cfg;
    struct rv_fdt_params fp = {0};
    struct rv_fdt_node nodes[RV_FDT_NODES_MAX];
    uint64_t entry, end, fw_end = RV_RAM_BASE, kstart, istart, iend;
    uint8_t *dtb = NULL;
    size_t dtb_len = 0;
    int ret, n;

    m->start_addr = RV_RAM_BASE;
    if (c->bios) {
        ret = load_image(m, c->bios, true, RV_RAM_BASE, &entry, &fw_end, err);
        if (ret < 0) {
            err_prefix(err, "-bios");
            return ret;
        }
        m->start_addr = entry;
    }
    if (c->kernel) {
        kstart = c->bios ? (fw_end + KERNEL_ALIGN - 1) & ~(KERNEL_ALIGN - 1)
                         : RV_RAM_BASE;
        ret = load_image(m, c->kernel, true, kstart, &entry, &end, err);
        if (ret < 0) {
            err_prefix(err, "-kernel");
            return ret;
        }
        m->kernel_entry = entry;
        if (!c->bios) {
            m->start_addr = entry;
        }
        if (c->initrd) {
            uint64_t off = c->ram_size / 2;

            if (off > INITRD_MAX_OFFSET) {
                off = INITRD_MAX_OFFSET;
            }
            istart = entry + off;
            ret = load_image(m, c->initrd, false, istart, &entry, &iend, err);
            if (ret < 0) {
                err_prefix(err, "-initrd");
                return ret;
            }
            fp.initrd_start = istart;
            fp.initrd_end = iend;
        }
    } else if (c->initrd) {
        return err_set(err, -EINVAL, "-initrd needs -kernel");
    }
    for (unsigned i = 0; i < c->nb_loaders; i++) {
        const struct rv_loader_config *l = &c->loaders[i];

        ret = load_image(m, l->file, true, l->has_addr ? l->addr : 0, &entry,
                         &end, err);
        if (ret < 0) {
            err_prefix(err, "-device loader");
            return ret;
        }
    }

    fp.ram_size = c->ram_size;
    fp.isa = c->isa;
    fp.mmu_type = c->mmu_type;
    fp.bootargs = c->append;
    fp.devs = nodes;
    fp.nb_devs = rv_machine_fdt_nodes(nodes, RV_FDT_NODES_MAX);
    dtb = mem_alloc(RV_FDT_MAX_SIZE);
    if (!dtb) {
        return err_set(err, -ENOMEM, "device tree: out of memory");
    }
    if (c->dtb) {
        uint8_t *file = NULL;

        ret = rv_load_read_file(c->dtb, RV_FDT_MAX_SIZE, &file, &dtb_len, err);
        if (ret < 0) {
            err_prefix(err, "-dtb");
            goto out;
        }
        memcpy(dtb, file, dtb_len);
        mem_free(file);
        n = rv_fdt_fixup_chosen(dtb, RV_FDT_MAX_SIZE, &fp, err);
    } else {
        n = rv_fdt_build(&fp, dtb, RV_FDT_MAX_SIZE, err);
    }
    if (n < 0) {
        ret = n;
        goto out;
    }
    dtb_len = (size_t)n;
    if (c->dumpdtb) {
        FILE *f = fopen(c->dumpdtb, "wb");

        if (!f || fwrite(dtb, 1, dtb_len, f) != dtb_len) {
            ret = err_set(err, -EIO, "%s: %s", c->dumpdtb, strerror(errno));
            if (f) {
                fclose(f);
            }
            goto out;
        }
        if (fclose(f) != 0) {
            ret = err_set(err, -EIO, "%s: %s", c->dumpdtb, strerror(errno));
            goto out;
        }
        ret = 0;
        goto out;
    }
    m->fdt_addr = rv_load_fdt_addr(c->ram_size, dtb_len);
    memcpy(m->ram.host + (m->fdt_addr - m->ram.base), dtb, dtb_len);
    ret = blob_add(m, m->fdt_addr, m->fdt_addr + dtb_len, "fdt", err);
    rv_load_reset_vector(m->rom, RV_MROM_SIZE, m->start_addr, m->fdt_addr,
                         c->kernel ? m->kernel_entry : 0);
out:
    mem_free(dtb);
    return ret;
}

static void machine_reset(struct rv_machine *m)
{
    m->icount_base += rv_cpu_icount(m->cpu);
    for (unsigned i = 0; i < m->nb_blobs; i++) {
        struct blob *b = &m->blobs[i];

        memcpy(m->ram.host + (b->gpa - m->ram.base), b->data, b->len);
        rv_cpu_ram_written(m->cpu, b->gpa, b->len);
    }
    rv_cpu_reset(m->cpu, RV_MROM_BASE);
    rv_cpu_flush_caches(m->cpu);
    m->vslice_new = true;
    for (size_t k = 0; k < sizeof(virt_devs) / sizeof(virt_devs[0]); k++) {
        for (unsigned i = 0; virt_devs[k].reset && i < virt_devs[k].count;
             i++) {
            virt_devs[k].reset(virt_dev_state(m, &virt_devs[k], i));
        }
    }
    m->req_reset = false;
}

void rv_machine_config_init(struct rv_machine_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ram_size = 128ull << 20;
    cfg->isa = "rv64imafdc_zicsr_zifencei";
    cfg->mmu_type = "riscv,sv48";
    cfg->icount_shift = RV_ICOUNT_DEFAULT_SHIFT;
    cfg->icount_sleep = true;
    cfg->rtc_base_ns = RV_RTC_DEFAULT_BASE_NS;
    cfg->rng_seed = RV_RNG_DEFAULT_SEED;
}

int rv_machine_new(const struct rv_machine_config *cfg, struct rv_machine **out,
                   struct err *err)
{
    struct rv_machine *m;
    struct rv_bus bus;
    unsigned nblk = 0;
    int ret;

    CHECK_ARG(cfg && out);
    if (cfg->ram_size < RV_RAM_MIN || cfg->ram_size > RV_RAM_MAX ||
        (cfg->ram_size & 0xfff)) {
        return err_set(err, -EINVAL,
                       "RAM size %llu MiB is outside %llu MiB..%llu GiB",
                       (unsigned long long)(cfg->ram_size >> 20),
                       (unsigned long long)(RV_RAM_MIN >> 20),
                       (unsigned long long)(RV_RAM_MAX >> 30));
    }
    if (cfg->icount_shift > RV_ICOUNT_MAX_SHIFT) {
        return err_set(err, -EINVAL, "icount shift %u exceeds %u",
                       cfg->icount_shift, RV_ICOUNT_MAX_SHIFT);
    }
    if (cfg->nb_virtio > RV_VIRTIO_SLOTS || cfg->nb_loaders > RV_MAX_LOADERS) {
        return err_set(err, -ERANGE, "too many devices");
    }
    m = mem_calloc(1, sizeof(*m));
    if (!m) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    m->cfg = *cfg;
    m->rng_fd = -1;
    m->stop_at = UINT64_MAX;
    m->slice_budget = SLICE_MAX;
    m->vslice_new = true;
    m->state = cfg->start_paused ? RV_RUN_PRELAUNCH : RV_RUN_RUNNING;
    m->ram.base = RV_RAM_BASE;
    m->ram.size = cfg->ram_size;
    m->ram.host = mmap(NULL, cfg->ram_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m->ram.host == MAP_FAILED) {
        m->ram.host = NULL;
        ret = err_set(err, -ENOMEM, "cannot map %llu MiB of RAM",
                      (unsigned long long)(cfg->ram_size >> 20));
        goto fail;
    }
    m->rom = mem_calloc(1, RV_MROM_SIZE);
    if (!m->rom) {
        ret = err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    memset(&bus, 0, sizeof(bus));
    bus.opaque = m;
    bus.regions[0] =
        (struct rv_mem_region){RV_MROM_BASE, RV_MROM_SIZE, m->rom, true};
    bus.regions[1] =
        (struct rv_mem_region){RV_RAM_BASE, cfg->ram_size, m->ram.host, false};
    bus.nb_regions = 2;
    bus.read = bus_read;
    bus.write = bus_write;
    bus.get_time = machine_get_time;
    ret = rv_cpu_new(&bus, &m->cpu);
    if (ret < 0) {
        err_set(err, ret, "cannot create the CPU");
        goto fail;
    }
    if (cfg->log_fn) {
        ret = rv_cpu_set_trace(m->cpu, cfg->log_mask, machine_trace, m);
        if (ret < 0) {
            err_set(err, ret, "cannot allocate the trace state");
            goto fail;
        }
    }
    m->host = (struct rv_dev_host){
        .opaque = m,
        .set_irq = machine_set_irq,
        .set_mip = machine_set_mip,
        .now_ns = machine_now_ns,
        .kick = machine_kick,
        .input_byte = machine_input_byte,
        .output = machine_output,
        .entropy = machine_entropy,
        .dma = machine_dma,
        .dma_written = machine_dma_written,
        .shutdown = machine_shutdown,
        .log = machine_log,
    };
    rng_seed(m->rng, cfg->rng_seed);
    if (cfg->rng_file) {
        m->rng_fd = open(cfg->rng_file, O_RDONLY | O_CLOEXEC);
        if (m->rng_fd < 0) {
            ret =
                err_set(err, -errno, "%s: %s", cfg->rng_file, strerror(errno));
            goto fail;
        }
    }
    rv_dev_plic_init(&m->plic, &m->host);
    rv_dev_clint_init(&m->clint, &m->host);
    rv_dev_uart_init(&m->uart, &m->host, RV_UART_IRQ);
    rv_dev_rtc_init(&m->rtc, &m->host, RV_RTC_IRQ, cfg->rtc_base_ns);
    m->test.host = &m->host;
    /* -device #1 takes the highest slot, as QEMU fills virtio-mmio. */
    for (unsigned i = 0; i < RV_VIRTIO_SLOTS; i++) {
        unsigned slot = RV_VIRTIO_SLOTS - 1 - i;
        const struct rv_virtio_config *vc =
            i < cfg->nb_virtio ? &cfg->virtio[i] : NULL;
        uint32_t id = 0;
        const struct rv_blk_backend *be = NULL;

        if (vc && vc->kind == RV_VIRTIO_BLK && !cfg->dumpdtb) {
            m->disk[nblk].inactive =
                cfg->incoming && !vc->drive.readonly && !vc->drive.snapshot;
            ret = disk_open(&m->disk[nblk], &vc->drive, err);
            if (ret < 0) {
                goto fail;
            }
            m->disk[nblk].cfg = &m->cfg.virtio[i].drive;
            m->disk[nblk].slot = slot;
            be = &m->disk[nblk].be;
            nblk++;
            id = RV_VIRTIO_ID_BLK;
        } else if (vc && vc->kind == RV_VIRTIO_RNG) {
            id = RV_VIRTIO_ID_RNG;
        }
        rv_dev_virtio_init(&m->virtio[slot], &m->host, RV_VIRTIO_IRQ + slot, id,
                           be);
    }
    ret = machine_boot_setup(m, err);
    if (ret < 0) {
        goto fail;
    }
    if (cfg->dumpdtb) {
        rv_machine_free(m);
        *out = NULL;
        return 0;
    }
    rv_cpu_reset(m->cpu, RV_MROM_BASE);
    rv_cpu_flush_caches(m->cpu);
    rv_dev_clint_update(&m->clint); /* the hart's reset cleared its lines */
    *out = m;
    return 0;
fail:
    rv_machine_free(m);
    return ret;
}

void rv_machine_free(struct rv_machine *m)
{
    if (!m) {
        return;
    }
    rv_snap_free(m->snap);
    for (unsigned i = 0; i < RV_VIRTIO_SLOTS; i++) {
        qcow2_close(m->disk[i].img);
        if (m->disk[i].overlay_fd > 0) {
            close(m->disk[i].overlay_fd);
        }
    }
    for (unsigned i = 0; i < m->nb_blobs; i++) {
        mem_free(m->blobs[i].data);
        mem_free(m->blobs[i].name);
    }
    if (m->rng_fd >= 0) {
        close(m->rng_fd);
    }
    rv_cpu_free(m->cpu);
    rv_vmstate_cache_free(m->vmcache);
    mem_free(m->rom);
    if (m->ram.host) {
        munmap(m->ram.host, m->ram.size);
    }
    mem_free(m);
}

uint64_t rv_machine_icount(const struct rv_machine *m)
{
    return machine_icount(m);
}

static void devices_of(struct rv_machine *m, struct rv_devices *d)
{
    d->clint = &m->clint;
    d->plic = &m->plic;
    d->uart = &m->uart;
    d->rtc = &m->rtc;
    d->virtio = m->virtio;
}

void rv_machine_vmstate_ctx(struct rv_machine *m, struct rv_vmstate_ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->cpu = m->cpu;
    c->mach.icount_base = &m->icount_base;
    c->mach.idle_ns = &m->idle_ns;
    c->mach.rng = m->rng;
    devices_of(m, &c->dev);
    c->ram = &m->ram;
    c->cache = &m->vmcache;
    c->icount_shift = m->cfg.icount_shift;
    c->isa = m->cfg.isa;
    c->mmu_type = m->cfg.mmu_type;
    for (unsigned i = 0; i < m->nb_blobs && i < RV_VMSTATE_MAX_IMAGES; i++) {
        c->images[i].gpa = m->blobs[i].gpa;
        c->images[i].data = m->blobs[i].data;
        c->images[i].len = m->blobs[i].len;
        c->nb_images++;
    }
}

const struct rv_ram *rv_machine_ram(const struct rv_machine *m)
{
    return &m->ram;
}

int rv_machine_state_hash(struct rv_machine *m, uint8_t *dst)
{
    struct rv_vmstate_ctx c;

    CHECK_ARG(m && dst);
    rv_machine_vmstate_ctx(m, &c);
    return rv_vmstate_hash(&c, dst, NULL);
}

/* ---- inspection ---- */

size_t rv_machine_dump_registers(struct rv_machine *m, char *dst,
                                 size_t dst_cap)
{
    return rv_cpu_dump_state(m->cpu, true, dst, dst_cap);
}

/* A pointer to [@pa, @pa + @len) in RAM or ROM, or NULL. */
static const uint8_t *phys_ptr(struct rv_machine *m, uint64_t pa, size_t len)
{
    if (pa >= m->ram.base && pa - m->ram.base < m->ram.size &&
        len <= m->ram.size - (pa - m->ram.base)) {
        return m->ram.host + (pa - m->ram.base);
    }
    if (pa >= RV_MROM_BASE && pa - RV_MROM_BASE < RV_MROM_SIZE &&
        len <= RV_MROM_SIZE - (pa - RV_MROM_BASE)) {
        return m->rom + (pa - RV_MROM_BASE);
    }
    return NULL;
}

int rv_machine_mem_read(struct rv_machine *m, uint64_t addr, bool virt,
                        void *dst, size_t len)
{
    uint8_t *d = dst;

    while (len) {
        uint64_t pa = addr;
        size_t n = 4096 - (addr & 4095);
        const uint8_t *src;

        if (n > len) {
            n = len;
        }
        if (virt && rv_cpu_debug_translate(m->cpu, addr, &pa) < 0) {
            return -EFAULT;
        }
        src = phys_ptr(m, pa, n);
        if (!src) {
            return -EFAULT;
        }
        memcpy(d, src, n);
        d += n;
        addr += n;
        len -= n;
    }
    return 0;
}

uint64_t rv_machine_ram_size(const struct rv_machine *m)
{
    return m->ram.size;
}

int rv_machine_gva2gpa(struct rv_machine *m, uint64_t va, uint64_t *pa)
{
    return rv_cpu_debug_translate(m->cpu, va, pa);
}

void *rv_machine_gpa2hva(struct rv_machine *m, uint64_t gpa,
                         const char **region)
{
    if (gpa >= m->ram.base && gpa - m->ram.base < m->ram.size) {
        *region = "riscv_virt_board.ram";
        return m->ram.host + (gpa - m->ram.base);
    }
    if (gpa >= RV_MROM_BASE && gpa - RV_MROM_BASE < RV_MROM_SIZE) {
        *region = "riscv_virt_board.mrom";
        return m->rom + (gpa - RV_MROM_BASE);
    }
    return NULL;
}

/* The reset vector's code and fw_dynamic_info (rv_load_reset_vector(),
 * QEMU's mrom.reset and mrom.finfo). */
#define MROM_RESET_LEN 0x28
#define MROM_FINFO_LEN 0x30

bool rv_machine_rom(const struct rv_machine *m, size_t idx,
                    struct rv_machine_rom *r)
{
    if (idx == 0) {
        *r = (struct rv_machine_rom){"mrom.reset", RV_MROM_BASE, MROM_RESET_LEN,
                                     false};
        return true;
    }
    if (idx == 1) {
        *r = (struct rv_machine_rom){
            "mrom.finfo", RV_MROM_BASE + MROM_RESET_LEN, MROM_FINFO_LEN, false};
        return true;
    }
    if (idx - 2 >= m->nb_blobs) {
        return false;
    }
    *r = (struct rv_machine_rom){m->blobs[idx - 2].name, m->blobs[idx - 2].gpa,
                                 m->blobs[idx - 2].len, true};
    return true;
}

_Static_assert(RV_MACHINE_PIC_SOURCES == RV_PLIC_SOURCES, "PLIC sources");
_Static_assert(RV_MACHINE_PIC_CONTEXTS == RV_PLIC_CONTEXTS, "PLIC contexts");

static bool plic_bit(const uint32_t *w, unsigned i)
{
    return (w[i / 32] >> (i % 32)) & 1;
}

void rv_machine_pic(const struct rv_machine *m, struct rv_machine_pic *p)
{
    const struct rv_plic *plic = &m->plic;

    memset(p, 0, sizeof(*p));
    for (unsigned i = 0; i < RV_PLIC_SOURCES; i++) {
        p->prio[i] = plic->prio[i];
        p->level[i] = plic_bit(plic->level, i);
        p->pending[i] = plic_bit(plic->pending, i);
        p->claimed[i] = plic_bit(plic->claimed, i);
        p->raised[i] = plic->raised[i];
        for (unsigned c = 0; c < RV_PLIC_CONTEXTS; c++) {
            p->enabled[c][i] = plic_bit(plic->enable[c], i);
        }
    }
    for (unsigned c = 0; c < RV_PLIC_CONTEXTS; c++) {
        p->threshold[c] = plic->threshold[c];
    }
}

int rv_machine_set_log(struct rv_machine *m, unsigned mask, rv_log_fn *fn,
                       void *opaque, struct err *err)
{
    int ret = rv_cpu_set_trace(m->cpu, fn ? mask : 0, machine_trace, m);

    if (ret < 0) {
        return err_set(err, ret, "cannot allocate the trace state");
    }
    m->cfg.log_mask = mask;
    m->cfg.log_fn = fn;
    m->cfg.log_opaque = opaque;
    return 0;
}

void rv_machine_get_log(const struct rv_machine *m, unsigned *mask,
                        rv_log_fn **fn, void **opaque)
{
    *mask = m->cfg.log_mask;
    *fn = m->cfg.log_fn;
    *opaque = m->cfg.log_opaque;
}

/* ---- the host side of the serial port ---- */

size_t rv_machine_serial_room(const struct rv_machine *m)
{
    return INPUT_BUF - m->input_len;
}

void rv_machine_serial_input(struct rv_machine *m, const uint8_t *src,
                             size_t src_len)
{
    for (size_t i = 0; i < src_len && m->input_len < INPUT_BUF; i++) {
        m->input[(m->input_head + m->input_len) % INPUT_BUF] = src[i];
        m->input_len++;
    }
}

bool rv_machine_serial_break(struct rv_machine *m)
{
    if (m->input_len == INPUT_BUF) {
        return false;
    }
    m->input[(m->input_head + m->input_len) % INPUT_BUF] = INPUT_BREAK;
    m->input_len++;
    return true;
}

/* ---- block drives (the monitor's block_resize and commit) ---- */

static struct disk *disk_find(struct rv_machine *m, const char *file)
{
    for (unsigned i = 0; i < RV_VIRTIO_SLOTS; i++) {
        if (m->disk[i].cfg && m->disk[i].cfg->file == file) {
            return &m->disk[i];
        }
    }
    return NULL;
}

struct qcow2_image *rv_machine_blk_image(struct rv_machine *m, const char *file)
{
    struct disk *d = disk_find(m, file);

    return d ? d->img : NULL;
}

int rv_machine_blk_top_path(struct rv_machine *m, const char *file, char *dst,
                            size_t dst_cap)
{
    struct disk *d = disk_find(m, file);
    int n;

    if (!d || !d->img) {
        return -ENOENT;
    }
    if (d->overlay_fd > 0) {
        n = snprintf(dst, dst_cap, "/proc/self/fd/%d", d->overlay_fd);
    } else {
        n = snprintf(dst, dst_cap, "%s", qcow2_filename(d->img));
    }
    return n < 0 || (size_t)n >= dst_cap ? -ERANGE : 0;
}

void rv_machine_blk_resized(struct rv_machine *m, const char *file)
{
    struct disk *d = disk_find(m, file);

    if (d && d->img) {
        d->be.size = qcow2_size(d->img);
        rv_dev_virtio_config_changed(&m->virtio[d->slot]);
    }
}

int rv_machine_blk_close(struct rv_machine *m, const char *file,
                         struct err *err)
{
    struct disk *d = disk_find(m, file);
    int ret;

    if (!d || !d->img) {
        return err_set(err, -ENOENT, "%s: not open", file);
    }
    if (d->cfg->snapshot && !d->cfg->readonly && d->overlay_fd <= 0) {
        return err_set(err, -ENOTSUP, "%s: overlay cannot be reopened", file);
    }
    ret = qcow2_close(d->img);
    d->img = NULL;
    d->be.opaque = NULL;
    if (ret < 0) {
        return err_set(err, ret, "Could not flush '%s'", file);
    }
    return 0;
}

void rv_machine_set_disk_hook(struct rv_machine *m, rv_disk_opened_fn *fn,
                              void *opaque)
{
    m->disk_hook = fn;
    m->disk_hook_opaque = opaque;
}

/* @d was opened again: tell the hook, if the image is in use (another
 * process may have changed it while it was closed or inactive). */
static void disk_opened(struct rv_machine *m, struct disk *d)
{
    if (m->disk_hook && d->img && !d->inactive) {
        m->disk_hook(m->disk_hook_opaque, d->img, d->cfg);
    }
}

int rv_machine_blk_reopen(struct rv_machine *m, const char *file,
                          struct err *err)
{
    struct disk *d = disk_find(m, file);
    uint64_t old_size;
    int ret;

    if (!d || d->img) {
        return err_set(err, -EINVAL, "%s: not closed", file);
    }
    old_size = d->be.size;
    ret = disk_open(d, d->cfg, err);
    if (ret < 0) {
        return ret;
    }
    if (d->be.size != old_size) {
        rv_dev_virtio_config_changed(&m->virtio[d->slot]);
    }
    disk_opened(m, d);
    return 0;
}

int rv_machine_blk_set_inactive(struct rv_machine *m, bool inactive,
                                struct err *err)
{
    for (unsigned i = 0; i < RV_VIRTIO_SLOTS; i++) {
        struct disk *d = &m->disk[i];
        int ret;

        if (!d->cfg || !d->img || d->cfg->readonly || d->cfg->snapshot ||
            d->inactive == inactive) {
            continue;
        }
        ret = qcow2_close(d->img);
        d->img = NULL;
        d->be.opaque = NULL;
        if (ret < 0) {
            return err_set(err, ret, "Could not flush '%s'", d->cfg->file);
        }
        d->inactive = inactive;
        ret = disk_open(d, d->cfg, err);
        if (ret < 0) {
            return ret;
        }
        disk_opened(m, d);
    }
    return 0;
}

/* ---- run states and events ---- */

const char *rv_runstate_name(enum rv_runstate s)
{
    static const char *const names[] = {
        [RV_RUN_PRELAUNCH] = "prelaunch",
        [RV_RUN_RUNNING] = "running",
        [RV_RUN_PAUSED] = "paused",
        [RV_RUN_SHUTDOWN] = "shutdown",
        [RV_RUN_GUEST_PANICKED] = "guest-panicked",
        [RV_RUN_INTERNAL_ERROR] = "internal-error",
        [RV_RUN_SAVE_VM] = "save-vm",
        [RV_RUN_RESTORE_VM] = "restore-vm",
        [RV_RUN_DEBUG] = "debug",
        [RV_RUN_INMIGRATE] = "inmigrate",
        [RV_RUN_FINISH_MIGRATE] = "finish-migrate",
        [RV_RUN_POSTMIGRATE] = "postmigrate",
    };

    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *rv_shutdown_cause_name(enum rv_shutdown_cause c)
{
    static const char *const names[] = {
        [RV_CAUSE_NONE] = "none",
        [RV_CAUSE_HOST_ERROR] = "host-error",
        [RV_CAUSE_HOST_QMP_QUIT] = "host-qmp-quit",
        [RV_CAUSE_HOST_QMP_SYSTEM_RESET] = "host-qmp-system-reset",
        [RV_CAUSE_HOST_SIGNAL] = "host-signal",
        [RV_CAUSE_HOST_UI] = "host-ui",
        [RV_CAUSE_GUEST_SHUTDOWN] = "guest-shutdown",
        [RV_CAUSE_GUEST_RESET] = "guest-reset",
        [RV_CAUSE_GUEST_PANIC] = "guest-panic",
        [RV_CAUSE_SUBSYSTEM_RESET] = "subsystem-reset",
        [RV_CAUSE_SNAPSHOT_LOAD] = "snapshot-load",
    };

    return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "?";
}

bool rv_shutdown_cause_guest(enum rv_shutdown_cause c)
{
    return c == RV_CAUSE_GUEST_SHUTDOWN || c == RV_CAUSE_GUEST_RESET ||
           c == RV_CAUSE_GUEST_PANIC;
}

static void machine_event(struct rv_machine *m, enum rv_event ev,
                          enum rv_shutdown_cause cause)
{
    if (m->cfg.event_fn) {
        m->cfg.event_fn(m->cfg.event_opaque, ev, cause);
    }
}

enum rv_runstate rv_machine_runstate(const struct rv_machine *m)
{
    return m->state;
}

bool rv_machine_is_running(const struct rv_machine *m)
{
    return m->state == RV_RUN_RUNNING;
}

void rv_machine_stop(struct rv_machine *m)
{
    if (m->state != RV_RUN_RUNNING) {
        return;
    }
    m->state = RV_RUN_PAUSED;
    m->idle_end = 0;
    machine_event(m, RV_EVENT_STOP, RV_CAUSE_NONE);
}

int rv_machine_cont(struct rv_machine *m, struct err *err)
{
    if (m->state == RV_RUN_SHUTDOWN || m->state == RV_RUN_INTERNAL_ERROR) {
        return err_set(err, -EBUSY,
                       "Resetting the Virtual Machine is required");
    }
    if (m->state == RV_RUN_RUNNING) {
        machine_event(m, RV_EVENT_STOP, RV_CAUSE_NONE);
        machine_event(m, RV_EVENT_RESUME, RV_CAUSE_NONE);
        return 0;
    }
    machine_event(m, RV_EVENT_RESUME, RV_CAUSE_NONE);
    m->state = RV_RUN_RUNNING;
    return 0;
}

void rv_machine_quit(struct rv_machine *m, enum rv_shutdown_cause cause)
{
    if (m->req_quit) {
        return;
    }
    if (cause != RV_CAUSE_NONE) {
        machine_event(m, RV_EVENT_SHUTDOWN, cause);
    }
    m->req_quit = true;
    rv_cpu_request_exit(m->cpu);
}

void rv_machine_system_reset(struct rv_machine *m, enum rv_shutdown_cause cause)
{
    if (m->cfg.no_reboot && cause != RV_CAUSE_SUBSYSTEM_RESET) {
        rv_machine_quit(m, cause);
        return;
    }
    machine_reset(m);
    m->idle_end = 0;
    if (cause != RV_CAUSE_SUBSYSTEM_RESET) {
        machine_event(m, RV_EVENT_RESET, cause);
    }
    if (m->state != RV_RUN_RUNNING) {
        m->state = RV_RUN_PRELAUNCH;
    }
}

void rv_machine_system_powerdown(struct rv_machine *m)
{
    machine_event(m, RV_EVENT_POWERDOWN, RV_CAUSE_NONE);
}

int rv_machine_stop_at(struct rv_machine *m, uint64_t icount, struct err *err)
{
    uint64_t now = machine_icount(m);

    if (icount < now) {
        return err_set(err, -ERANGE,
                       "icount %" PRIu64
                       " is behind the current icount %" PRIu64,
                       icount, now);
    }
    if (icount == now) {
        m->stop_at = UINT64_MAX;
        rv_machine_stop(m);
        return 0;
    }
    m->stop_at = icount;
    return 0;
}

uint64_t rv_machine_stop_at_target(const struct rv_machine *m)
{
    return m->stop_at;
}

/* ---- snapshot hooks (machine-snap.c) ---- */

struct qcow2_image *rv_machine_disk(struct rv_machine *m, unsigned idx,
                                    const struct rv_drive_config **cfg)
{
    unsigned n = 0;

    for (unsigned i = 0; i < m->cfg.nb_virtio; i++) {
        if (m->cfg.virtio[i].kind != RV_VIRTIO_BLK) {
            continue;
        }
        if (n == idx) {
            *cfg = &m->cfg.virtio[i].drive;
            return m->disk[n].img;
        }
        n++;
    }
    return NULL;
}

struct loop *rv_machine_loop(struct rv_machine *m)
{
    return m->cfg.loop;
}

uint64_t rv_machine_vclock_ns(struct rv_machine *m)
{
    return machine_now_ns(m);
}

struct rv_snap **rv_machine_snap_slot(struct rv_machine *m)
{
    return &m->snap;
}

bool rv_machine_vm_stop(struct rv_machine *m, enum rv_runstate state)
{
    if (m->state != RV_RUN_RUNNING) {
        return false;
    }
    m->state = state;
    m->idle_end = 0;
    machine_event(m, RV_EVENT_STOP, RV_CAUSE_NONE);
    return true;
}

void rv_machine_set_runstate(struct rv_machine *m, enum rv_runstate state)
{
    m->state = state;
}

void rv_machine_loop_get(const struct rv_machine *m,
                         struct rv_machine_loop *out)
{
    out->vslice_end = m->vslice_end;
    out->vslice_new = m->vslice_new;
}

void rv_machine_loaded(struct rv_machine *m, const struct rv_machine_loop *lp)
{
    m->vslice_end = lp->vslice_end;
    m->vslice_new = lp->vslice_new;
    m->idle_end = 0;
    m->idle_forever = false;
    m->flush_pending = false;
    m->stop_at = UINT64_MAX;
    m->req_reset = false;
    m->req_shutdown = false;
    m->output_len = 0;
}

/* ---- main loop ---- */

/* The earliest timer deadline after @now, or UINT64_MAX. */
static uint64_t next_deadline_ns(struct rv_machine *m, uint64_t now)
{
    uint64_t a = rv_dev_clint_deadline_ns(&m->clint);
    uint64_t b = rv_dev_rtc_deadline_ns(&m->rtc);

    if (a <= now) {
        a = UINT64_MAX;
    }
    if (b <= now) {
        b = UINT64_MAX;
    }
    return a < b ? a : b;
}

static void update_timers(struct rv_machine *m)
{
    rv_dev_clint_update(&m->clint);
    rv_dev_rtc_update(&m->rtc);
}

/* No deadline while idle: wait this long for input, then look again. */
#define IDLE_POLL_NS 1000000000ull

/*
 * The hart waits for an interrupt: jump virtual time to the next deadline
 * and, with icount_sleep, let the loop wait that long in real time (input
 * ends the wait early).
 */
static void machine_idle(struct rv_machine *m)
{
    uint64_t now = machine_now_ns(m);
    uint64_t dl = next_deadline_ns(m, now);
    uint64_t want;

    if (dl == UINT64_MAX) {
        m->idle_end = loop_now_ns() + IDLE_POLL_NS;
        return;
    }
    want = dl - now;
    m->idle_ns += want;
    if (m->cfg.icount_sleep) {
        m->idle_end = loop_now_ns() + want;
    }
}

/* One CPU slice. Returns 1 if rv_machine_run() must return (@exit set). */
static int machine_slice(struct rv_machine *m, struct rv_exit_info *exit)
{
    uint64_t ic = machine_icount(m), budget, now, dl, insns, t0, spent;
    enum rv_stop stop;
    bool adapt, full;

    if (m->vslice_new || ic >= m->vslice_end) {
        /* A guest slice starts (DESIGN NOTES 2): take serial input, update
         * the timer lines, and end it at SLICE_MAX or the next deadline. */
        rv_dev_uart_poll_input(&m->uart);
        update_timers(m);
        budget = SLICE_MAX;
        now = machine_now_ns(m);
        dl = next_deadline_ns(m, now);
        if (dl != UINT64_MAX) {
            insns = ((dl - now) + (1ull << m->cfg.icount_shift) - 1) >>
                    m->cfg.icount_shift;
            if (insns < budget) {
                budget = insns;
            }
        }
        m->vslice_end = ic + budget;
        m->vslice_new = false;
    }
    budget = m->vslice_end - ic;
    /* A traced run logs blocks as runs cut them: keep them at the guest
     * slices so the log does not depend on host timing. */
    adapt = !(m->cfg.log_mask & (RV_LOG_IN_ASM | RV_LOG_EXEC | RV_LOG_CPU));
    if (adapt && m->slice_budget < budget) {
        budget = m->slice_budget;
    }
    if (m->stop_at != UINT64_MAX && m->stop_at - ic < budget) {
        budget = m->stop_at - ic;
    }
    full = adapt && budget == m->slice_budget;
    t0 = loop_now_ns();
    stop = rv_cpu_run(m->cpu, budget);
    if (full && stop == RV_STOP_BUDGET) {
        spent = loop_now_ns() - t0;
        if (spent > SLICE_TARGET_NS && m->slice_budget > SLICE_MIN) {
            m->slice_budget /= 2;
        } else if (spent < SLICE_TARGET_NS / 2 && m->slice_budget < SLICE_MAX) {
            m->slice_budget *= 2;
        }
    }
    if (stop != RV_STOP_BUDGET) {
        m->vslice_new = true;
    }
    if (m->flush_pending) {
        rv_cpu_flush_tlb(m->cpu);
        m->flush_pending = false;
    }
    output_flush(m);
    if (m->vslice_new || machine_icount(m) >= m->vslice_end) {
        update_timers(m);
    }
    if (stop == RV_STOP_TRAP_LOOP) {
        exit->kind = RV_EXIT_TRAP_LOOP;
        exit->exit_code = 1;
        exit->pc = rv_cpu_get_pc(m->cpu);
        return 1;
    }
    if (m->stop_at != UINT64_MAX && machine_icount(m) >= m->stop_at) {
        m->stop_at = UINT64_MAX;
        rv_machine_stop(m);
        return 0;
    }
    if (stop == RV_STOP_WFI && !m->req_shutdown && !m->req_reset) {
        machine_idle(m);
    }
    return 0;
}

/* Requests the guest made during the last slice. Returns 1 to exit. */
static int machine_guest_requests(struct rv_machine *m,
                                  struct rv_exit_info *exit)
{
    if (m->req_reset) {
        m->req_reset = false;
        if (m->cfg.no_reboot) {
            machine_event(m, RV_EVENT_SHUTDOWN, RV_CAUSE_GUEST_RESET);
            exit->kind = RV_EXIT_RESET;
            return 1;
        }
        machine_reset(m);
        machine_event(m, RV_EVENT_RESET, RV_CAUSE_GUEST_RESET);
    }
    if (m->req_shutdown) {
        m->req_shutdown = false;
        machine_event(m, RV_EVENT_SHUTDOWN, RV_CAUSE_GUEST_SHUTDOWN);
        if (!m->cfg.no_shutdown) {
            exit->kind = RV_EXIT_POWEROFF;
            exit->exit_code = m->exit_code;
            return 1;
        }
        m->idle_end = 0;
        if (m->state == RV_RUN_RUNNING) {
            m->state = RV_RUN_SHUTDOWN;
            machine_event(m, RV_EVENT_STOP, RV_CAUSE_NONE);
        } else {
            m->state = RV_RUN_SHUTDOWN;
        }
    }
    return 0;
}

int rv_machine_run(struct rv_machine *m, struct rv_exit_info *exit,
                   struct err *err)
{
    struct loop *own = NULL, *l;
    int64_t timeout;
    uint64_t t;
    int ret = 0;

    CHECK_ARG(m && exit);
    memset(exit, 0, sizeof(*exit));
    l = m->cfg.loop;
    if (!l) {
        ret = loop_new(&own, err);
        if (ret < 0) {
            return ret;
        }
        l = own;
    }
    for (;;) {
        timeout = 0;
        if (m->state != RV_RUN_RUNNING) {
            timeout = (int64_t)IDLE_POLL_NS;
        } else if (m->idle_end) {
            t = loop_now_ns();
            timeout = m->idle_end > t ? (int64_t)(m->idle_end - t) : 0;
        }
        ret = loop_run_once(l, timeout);
        if (ret < 0) {
            err_set(err, ret, "poll: %s", strerror(-ret));
            break;
        }
        ret = 0;
        if (m->cfg.quit_flag && *m->cfg.quit_flag) {
            rv_machine_quit(m, RV_CAUSE_HOST_SIGNAL);
        }
        if (m->req_quit) {
            exit->kind = RV_EXIT_QUIT;
            break;
        }
        if (machine_guest_requests(m, exit)) {
            break;
        }
        if (m->state != RV_RUN_RUNNING) {
            continue;
        }
        if (m->idle_end) {
            if (!m->input_len && loop_now_ns() < m->idle_end) {
                continue;
            }
            m->idle_end = 0;
        }
        if (machine_slice(m, exit)) {
            break;
        }
    }
    output_flush(m);
    loop_free(own);
    return ret;
}
