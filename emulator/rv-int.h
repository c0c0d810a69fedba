/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv-int.h - internals shared by the emulator's files, grouped by
 * the file that defines them. The CPU (rv-*.c) sees physical memory only
 * through struct rv_bus; the machine (machine-virt.c, dev-*.c) drives the
 * CPU only through the rv_cpu_* functions below.
 */
#ifndef EMULATOR_RV_INT_H
#define EMULATOR_RV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "emulator/rv.h"

/* ---- CPU <-> machine contract ---- */

/* Interrupt-pending bits the machine drives (mip bit numbers). */
#define RV_IRQ_SSIP 1
#define RV_IRQ_MSIP 3
#define RV_IRQ_STIP 5
#define RV_IRQ_MTIP 7
#define RV_IRQ_SEIP 9
#define RV_IRQ_MEIP 11

/* A range of host memory the CPU may access directly (RAM, ROM). */
struct rv_mem_region {
    uint64_t base;  /* guest physical address */
    uint64_t size;  /* bytes */
    uint8_t *host;  /* host pointer to the first byte */
    bool read_only; /* stores raise an access fault */
};

#define RV_BUS_MAX_REGIONS 4

/*
 * Physical memory as the CPU sees it. Accesses inside a region go straight
 * to host memory; everything else goes through read/write (MMIO), which
 * return 0, or -1 for an access fault. @size_log2 is 0..3. Device callbacks
 * may call rv_cpu_set_irq() and rv_cpu_request_exit().
 */
struct rv_bus {
    void *opaque;
    struct rv_mem_region regions[RV_BUS_MAX_REGIONS];
    unsigned nb_regions;
    int (*read)(void *opaque, uint64_t paddr, unsigned size_log2,
                uint64_t *val);
    int (*write)(void *opaque, uint64_t paddr, unsigned size_log2,
                 uint64_t val);
    /* The `time` CSR / CLINT mtime (ticks), derived from the icount. */
    uint64_t (*get_time)(void *opaque);
};

/* ---- rv-cpu.c (the hart) ---- */

struct rv_cpu; /* opaque hart state */

/* Why rv_cpu_run() returned. */
enum rv_stop {
    RV_STOP_BUDGET = 0, /* executed the whole budget */
    RV_STOP_WFI,        /* waiting for an interrupt; no instruction pending */
    RV_STOP_EXIT,      /* rv_cpu_request_exit() was called (e.g. by a device) */
    RV_STOP_TRAP_LOOP, /* trap handler faulted at the same PC, nothing retired
                        */
};

/* @bus is copied. Returns 0 or -ENOMEM. */
int rv_cpu_new(const struct rv_bus *bus, struct rv_cpu **out);
void rv_cpu_free(struct rv_cpu *cpu); /* accepts NULL */
/* Reset to M-mode at @pc with all registers zero except as the spec says. */
void rv_cpu_reset(struct rv_cpu *cpu, uint64_t pc);
void rv_cpu_set_xreg(struct rv_cpu *cpu, unsigned reg, uint64_t val);
uint64_t rv_cpu_get_xreg(const struct rv_cpu *cpu, unsigned reg);
uint64_t rv_cpu_get_pc(const struct rv_cpu *cpu);
/*
 * Execute at most @budget instructions (exactly @budget unless it stops
 * early). Interrupts are taken at instruction boundaries.
 */
enum rv_stop rv_cpu_run(struct rv_cpu *cpu, uint64_t budget);
/* Instructions retired since reset (exact at every instruction). */
uint64_t rv_cpu_icount(const struct rv_cpu *cpu);
/* Set or clear mip bit @irq (RV_IRQ_*) as driven by a device line. */
void rv_cpu_set_irq(struct rv_cpu *cpu, unsigned irq, bool level);
/* Make the current rv_cpu_run() return RV_STOP_EXIT after the current
 * instruction. */
void rv_cpu_request_exit(struct rv_cpu *cpu);
/* Drop cached translations/decodes of guest memory after a host-side write
 * to RAM (loader, DMA, snapshot load). */
void rv_cpu_flush_caches(struct rv_cpu *cpu);
/* Guest RAM [@gpa, @gpa+@len) was written behind the CPU's back (DMA):
 * decoded blocks of those pages are dropped at once. */
void rv_cpu_code_written(struct rv_cpu *cpu, uint64_t gpa, uint64_t len);
/* Drop cached translations only (after DMA, as the guest may have
 * changed page tables). */
void rv_cpu_flush_tlb(struct rv_cpu *cpu);
/* Receives trace text: one or more lines without the final newline. */
typedef void rv_trace_fn(void *opaque, const char *text);
/* A -d item (rv-trace.c): QEMU 7.2's name and help text, its RV_LOG_* bits
 * (0 for an item accepted and ignored: nochain). */
struct rv_log_item {
    const char *name;
    unsigned mask;
    const char *help; /* may span lines */
};
/* The -d items rrvm implements, in QEMU's order (of -d help and HMP `log`);
 * "all" and "none" are not in it. Sets *@n. */
const struct rv_log_item *rv_log_items(size_t *n);
/*
 * Parse "a,b,c" as QEMU's qemu_str_to_log_mask() ("all" is every item).
 * Returns 0 and *@mask, or -EINVAL for an unknown or empty item, whose
 * start and length are then in *@bad and *@bad_len (either may be NULL).
 */
int rv_log_parse(const char *items, unsigned *mask, const char **bad,
                 size_t *bad_len);
/*
 * CPU tracing in QEMU 7.2's -d formats: @mask holds RV_LOG_IN_ASM, _INT,
 * _EXEC, _CPU, _FPU (other bits are ignored); 0 turns tracing off. With
 * in_asm, exec or cpu on, the hart runs one block at a time (a slower
 * path; the plain interpreter is untouched). Tracing never changes what
 * the guest computes. Returns 0, or -ENOMEM (the block table).
 */
int rv_cpu_set_trace(struct rv_cpu *cpu, unsigned mask, rv_trace_fn *fn,
                     void *opaque);
/* Room for rv_cpu_dump_state() with the FP registers. */
#define RV_CPU_DUMP_MAX 4096
/*
 * The registers in QEMU's riscv_cpu_dump_state format (-d cpu, HMP `info
 * registers`), with the FP registers when @fpu, into @dst (NUL-terminated,
 * truncated to @dst_cap). Returns the length written. Reads only.
 */
size_t rv_cpu_dump_state(struct rv_cpu *cpu, bool fpu, char *dst,
                         size_t dst_cap);
/*
 * Translate @va as the hart would for a load in its current mode, without
 * side effects: no accessed/dirty bit set, no TLB entry, no trap (QEMU's
 * get_phys_page_debug). Returns 0 and *@pa, or -EFAULT.
 */
int rv_cpu_debug_translate(struct rv_cpu *cpu, uint64_t va, uint64_t *pa);
/*
 * Serialised hart state for snapshots and hashing: returns bytes written,
 * the size needed when @dst is NULL, or 0 if @dst_cap is too small. The
 * soft TLB is not part of it: a guest may legally observe stale TLB
 * entries (Linux clears PTE accessed bits without sfence.vma), so save it
 * too with rv_cpu_tlb_save() rather than flushing it (vmstate.c does).
 */
size_t rv_cpu_save(const struct rv_cpu *cpu, uint8_t *dst, size_t dst_cap);
/* Returns 0, -EBADMSG on a malformed blob, or -ENOTSUP for unknown
 * incompatible feature bits (layout: rv-cpu.c "snapshots"). Empties the
 * soft TLB: restore it next with rv_cpu_tlb_load(). */
int rv_cpu_load(struct rv_cpu *cpu, const uint8_t *src, size_t src_len);
/* What rv_cpu_load() would return, without changing anything. */
int rv_cpu_load_check(const uint8_t *src, size_t src_len);
/*
 * The soft TLB as guest addresses (virtual and physical pages; layout:
 * rv-cpu.c), so a snapshot restores it exactly: flushing it would be
 * guest-visible. Returns bytes written, the size needed when @dst is NULL
 * (at most RV_CPU_TLB_MAX_BYTES), or 0 if @dst_cap is too small.
 */
#define RV_CPU_TLB_MAX_BYTES (4 + 18 * 3 * 4 * 256)
size_t rv_cpu_tlb_save(const struct rv_cpu *cpu, uint8_t *dst, size_t dst_cap);
/* Returns 0 or -EBADMSG (malformed, or a page outside RAM/ROM). */
int rv_cpu_tlb_check(const struct rv_cpu *cpu, const uint8_t *src,
                     size_t src_len);
/* Replace the soft TLB; returns as rv_cpu_tlb_check(), unchanged on error. */
int rv_cpu_tlb_load(struct rv_cpu *cpu, const uint8_t *src, size_t src_len);
/*
 * Dirty pages: every write to guest memory marks its page (stores, AMO/SC,
 * page-table A/D updates, DMA through rv_cpu_code_written/_ram_written).
 * rv_cpu_dirty_take() ORs the marks of the @npages pages of the region
 * that starts at @gpa into bitmap @dst (bit i: page i) and clears them;
 * pages the guest can still write without a slow path stay marked.
 * Returns 0, or -EINVAL if no region starts at @gpa with that many pages.
 */
int rv_cpu_dirty_take(struct rv_cpu *cpu, uint64_t gpa, uint64_t npages,
                      uint64_t *dst);
/* The host wrote guest RAM [@gpa, @gpa+@len) (loader, reset, DMA that
 * cannot hold code): mark it dirty. */
void rv_cpu_ram_written(struct rv_cpu *cpu, uint64_t gpa, uint64_t len);

/* ---- machine <-> devices (machine-virt.c, dev-*.c) ---- */

struct rv_machine;

/*
 * What a device may ask of the machine. Devices never touch the CPU or the
 * host directly: every outside input (serial bytes, entropy) comes through
 * input_byte/entropy, the hooks record/replay will log and feed.
 */
struct rv_dev_host {
    void *opaque;
    /* Raise or lower PLIC source @line (1..RV_PLIC_SOURCES-1). */
    void (*set_irq)(void *opaque, unsigned line, bool level);
    /* Drive mip bit @irq (RV_IRQ_*) of the hart. */
    void (*set_mip)(void *opaque, unsigned irq, bool level);
    /* Virtual time in ns since power-on (a function of the icount). */
    uint64_t (*now_ns)(void *opaque);
    /* A deadline changed: end the current CPU slice early. */
    void (*kick)(void *opaque);
    /* THE serial input hook: RV_INPUT_BYTE with the next host byte in
     * *@byte, RV_INPUT_BREAK for a BREAK condition (*@byte 0), else 0. */
    int (*input_byte)(void *opaque, uint8_t *byte);
    /* Serial output. */
    void (*output)(void *opaque, const uint8_t *src, size_t len);
    /* THE entropy hook: fill @dst with @len bytes. */
    void (*entropy)(void *opaque, uint8_t *dst, size_t len);
    /* Host pointer to guest RAM [@gpa, @gpa+@len), or NULL if not RAM. */
    uint8_t *(*dma)(void *opaque, uint64_t gpa, uint64_t len);
    /* Guest RAM changed behind the CPU's back (DMA writes). */
    void (*dma_written)(void *opaque, uint64_t gpa, uint64_t len);
    /* sifive_test: RV_EXIT_POWEROFF with @code, or reset (@reset). */
    void (*shutdown)(void *opaque, bool reset, int code);
    /* -d guest_errors/unimp (printf-like); may be NULL. */
    void (*log)(void *opaque, unsigned mask, const char *msg);
};

/* MMIO handlers; @size_log2 0..3. Return 0, or -1 for an access fault. */
typedef int rv_mmio_read_fn(void *dev, uint64_t off, unsigned size_log2,
                            uint64_t *val);
typedef int rv_mmio_write_fn(void *dev, uint64_t off, unsigned size_log2,
                             uint64_t val);

/* Memory map (QEMU 7.2 virt). */
#define RV_MROM_BASE   0x1000ull
#define RV_MROM_SIZE   0xf000ull
#define RV_TEST_BASE   0x100000ull
#define RV_TEST_SIZE   0x1000ull
#define RV_RTC_BASE    0x101000ull
#define RV_RTC_SIZE    0x1000ull
#define RV_CLINT_BASE  0x2000000ull
#define RV_CLINT_SIZE  0x10000ull
#define RV_PLIC_BASE   0xc000000ull
#define RV_PLIC_SIZE   0x600000ull
#define RV_UART_BASE   0x10000000ull
#define RV_UART_SIZE   0x100ull
#define RV_VIRTIO_BASE 0x10001000ull
#define RV_VIRTIO_SIZE 0x1000ull
#define RV_UART_IRQ    10
#define RV_RTC_IRQ     11
#define RV_VIRTIO_IRQ  1 /* slot n uses RV_VIRTIO_IRQ + n */
#define RV_TIMEBASE_HZ 10000000u
#define RV_UART_CLOCK  3686400u

/* State blobs: every device serialises to a fixed little-endian layout. */

/* dev-clint.c: MSWI + MTIMER for one hart. */
struct rv_clint {
    const struct rv_dev_host *host;
    uint32_t msip;
    uint64_t mtimecmp;
    int64_t mtime_delta; /* ticks added by guest writes to mtime */
};
#define RV_CLINT_STATE_LEN 24
void rv_dev_clint_init(struct rv_clint *c, const struct rv_dev_host *host);
void rv_dev_clint_reset(struct rv_clint *c);
uint64_t rv_dev_clint_mtime(const struct rv_clint *c);
/* Virtual ns at which MTIP rises, or UINT64_MAX if never. */
uint64_t rv_dev_clint_deadline_ns(const struct rv_clint *c);
/* Re-evaluate MTIP against the current time. */
void rv_dev_clint_update(struct rv_clint *c);
rv_mmio_read_fn rv_dev_clint_read;
rv_mmio_write_fn rv_dev_clint_write;
void rv_dev_clint_save(const struct rv_clint *c, uint8_t *dst);
void rv_dev_clint_load(struct rv_clint *c, const uint8_t *src);

/* dev-plic.c: SiFive PLIC, 2 contexts (0 = M, 1 = S) for one hart. */
#define RV_PLIC_SOURCES   97 /* source 0 reserved, 1..96 (riscv,ndev = 96) */
#define RV_PLIC_WORDS     4  /* 32-bit words of per-source bits */
#define RV_PLIC_CONTEXTS  2
#define RV_PLIC_PRIO_MASK 7u
struct rv_plic {
    const struct rv_dev_host *host;
    uint32_t prio[RV_PLIC_SOURCES];
    uint32_t pending[RV_PLIC_WORDS];
    uint32_t claimed[RV_PLIC_WORDS];
    uint32_t level[RV_PLIC_WORDS];
    uint32_t enable[RV_PLIC_CONTEXTS][RV_PLIC_WORDS];
    uint32_t threshold[RV_PLIC_CONTEXTS];
    /* Host statistics for `info irq`: rising edges of each source's line
     * since rv_dev_plic_init(). Not guest-visible: neither saved, loaded,
     * hashed nor reset. */
    uint64_t raised[RV_PLIC_SOURCES];
};
#define RV_PLIC_STATE_LEN                                                      \
    (4 * (RV_PLIC_SOURCES + 3 * RV_PLIC_WORDS +                                \
          RV_PLIC_CONTEXTS * (RV_PLIC_WORDS + 1)))
void rv_dev_plic_init(struct rv_plic *p, const struct rv_dev_host *host);
void rv_dev_plic_reset(struct rv_plic *p);
void rv_dev_plic_set_irq(struct rv_plic *p, unsigned src, bool level);
rv_mmio_read_fn rv_dev_plic_read;
rv_mmio_write_fn rv_dev_plic_write;
void rv_dev_plic_save(const struct rv_plic *p, uint8_t *dst);
void rv_dev_plic_load(struct rv_plic *p, const uint8_t *src);

/* dev-uart.c: ns16550a with a 16-byte receive FIFO. */
#define RV_UART_FIFO 16
struct rv_uart {
    const struct rv_dev_host *host;
    unsigned irq;
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
    bool thr_ipending;
    bool lsr_bi; /* a BREAK arrived and LSR has not been read since */
    uint8_t rx[RV_UART_FIFO];
    unsigned rx_head, rx_count;
};
#define RV_UART_STATE_LEN (16 + RV_UART_FIFO)
void rv_dev_uart_init(struct rv_uart *u, const struct rv_dev_host *host,
                      unsigned irq);
void rv_dev_uart_reset(struct rv_uart *u);
/* An input point: take one host byte (or a BREAK: a NUL with LSR BI, as
 * a 16550 receives it) if the receive FIFO is empty. */
void rv_dev_uart_poll_input(struct rv_uart *u);
rv_mmio_read_fn rv_dev_uart_read;
rv_mmio_write_fn rv_dev_uart_write;
void rv_dev_uart_save(const struct rv_uart *u, uint8_t *dst);
void rv_dev_uart_load(struct rv_uart *u, const uint8_t *src);

/* dev-test.c: sifive_test finisher. */
#define RV_TEST_FAIL  0x3333
#define RV_TEST_PASS  0x5555
#define RV_TEST_RESET 0x7777
struct rv_test {
    const struct rv_dev_host *host;
};
rv_mmio_read_fn rv_dev_test_read;
rv_mmio_write_fn rv_dev_test_write;

/* dev-rtc.c: goldfish RTC. */
struct rv_rtc {
    const struct rv_dev_host *host;
    uint64_t base_ns;   /* time of day at virtual time 0 */
    int64_t delta_ns;   /* guest writes to TIME */
    uint64_t alarm_ns;  /* time of day; 0 = none */
    uint32_t time_high; /* latched by a TIME_LOW read */
    uint32_t irq_enabled;
    uint32_t alarm_running;
    uint32_t irq_pending;
    unsigned irq;
};
#define RV_RTC_STATE_LEN 40
void rv_dev_rtc_init(struct rv_rtc *r, const struct rv_dev_host *host,
                     unsigned irq, uint64_t base_ns);
void rv_dev_rtc_reset(struct rv_rtc *r);
/* Virtual ns at which the alarm fires, or UINT64_MAX. */
uint64_t rv_dev_rtc_deadline_ns(const struct rv_rtc *r);
void rv_dev_rtc_update(struct rv_rtc *r);
rv_mmio_read_fn rv_dev_rtc_read;
rv_mmio_write_fn rv_dev_rtc_write;
void rv_dev_rtc_save(const struct rv_rtc *r, uint8_t *dst);
void rv_dev_rtc_load(struct rv_rtc *r, const uint8_t *src);

/* dev-virtio.c: virtio-mmio version 2 transport, virtio-blk, virtio-rng. */
#define RV_VIRTQ_MAX         256 /* QueueNumMax: QEMU's virtio-blk default */
#define RV_VIRTIO_QUEUES     1
#define RV_VIRTIO_ID_BLK     2
#define RV_VIRTIO_ID_RNG     4
#define RV_VIRTIO_CONFIG_LEN 64

/* A virtio-blk backing store (qcow2, raw or a test buffer). */
struct rv_blk_backend {
    void *opaque;
    uint64_t size; /* bytes */
    bool readonly;
    int (*read)(void *opaque, uint64_t off, void *dst, size_t len);
    int (*write)(void *opaque, uint64_t off, const void *src, size_t len);
    int (*flush)(void *opaque);
    int (*discard)(void *opaque, uint64_t off, uint64_t len);
    int (*write_zeroes)(void *opaque, uint64_t off, uint64_t len, bool unmap);
};

struct rv_virtq {
    uint32_t num;
    uint32_t ready;
    uint64_t desc, avail, used;
    uint16_t last_avail;
};

struct rv_virtio {
    const struct rv_dev_host *host;
    unsigned irq;
    uint32_t device_id; /* 0 = empty slot */
    uint64_t host_features;
    uint64_t guest_features;
    uint32_t host_features_sel, guest_features_sel;
    uint32_t queue_sel;
    uint32_t status;
    uint32_t isr;
    uint32_t config_generation;
    struct rv_virtq vq[RV_VIRTIO_QUEUES];
    const struct rv_blk_backend *blk; /* borrowed; blk devices only */
    uint8_t config[RV_VIRTIO_CONFIG_LEN];
    uint64_t io_errors; /* requests that failed on the host */
};
#define RV_VIRTIO_STATE_LEN (48 + RV_VIRTIO_QUEUES * 32)
/* @blk is borrowed (NULL for rng/empty). */
void rv_dev_virtio_init(struct rv_virtio *v, const struct rv_dev_host *host,
                        unsigned irq, uint32_t device_id,
                        const struct rv_blk_backend *blk);
void rv_dev_virtio_reset(struct rv_virtio *v);
/* The backend's size changed: new capacity in config space and, once the
 * driver is up, ISR bits 0-1, a new config generation and the interrupt
 * (QEMU's virtio_notify_config). */
void rv_dev_virtio_config_changed(struct rv_virtio *v);
rv_mmio_read_fn rv_dev_virtio_read;
rv_mmio_write_fn rv_dev_virtio_write;
void rv_dev_virtio_save(const struct rv_virtio *v, uint8_t *dst);
void rv_dev_virtio_load(struct rv_virtio *v, const uint8_t *src);

/* fdt.c: the device tree QEMU 7.2 builds for virt, minus host-dependent
 * and unused nodes. */
#define RV_FDT_MAX_SIZE (64u << 10)
/* The phandles of QEMU 7.2's virt tree for one hart. */
#define RV_FDT_PH_CPU0  1
#define RV_FDT_PH_INTC0 2
#define RV_FDT_PH_PLIC  3
#define RV_FDT_PH_TEST  4
/* Interrupts a device node sends to the hart's interrupt controller. */
#define RV_FDT_HART_IRQS_MAX 2
/*
 * What a device's /soc node needs beyond its address and PLIC source: a
 * row of the board's device table (machine-virt.c) holds one. Properties
 * are written in QEMU's order: phandle, riscv,ndev, interrupts and
 * interrupt-parent (when the device has a PLIC source), clock-frequency,
 * interrupts-extended, reg, compatible; with @ndev (the PLIC's layout):
 * phandle, riscv,ndev, reg, interrupts-extended, interrupt-controller,
 * compatible, #address-cells, #interrupt-cells.
 */
struct rv_fdt_dev {
    const char *node;      /* node name before "@<base>"; NULL: no node */
    unsigned step;         /* when QEMU's create_fdt() adds it (below) */
    const char *compat;    /* the compatible string list, NULs inside */
    size_t compat_len;     /* its bytes, the last NUL included */
    uint64_t size;         /* reg's size */
    uint32_t phandle;      /* RV_FDT_PH_*; 0: none */
    uint32_t ndev;         /* riscv,ndev of an interrupt controller; 0 */
    uint32_t clock;        /* clock-frequency; 0: none */
    unsigned nb_hart_irqs; /* interrupts-extended: <intc mip-bit> each */
    uint32_t hart_irqs[RV_FDT_HART_IRQS_MAX];
};
/* One device node: its description, address and PLIC source (0: none).
 * QEMU adds each node before those added earlier, so /soc lists them by
 * decreasing step, and the instances of a row backwards. */
struct rv_fdt_node {
    const struct rv_fdt_dev *dev;
    uint64_t base;
    unsigned irq;
};
struct rv_fdt_params {
    uint64_t ram_size;
    const char *isa;
    const char *mmu_type;
    const char *bootargs;              /* NULL if none */
    uint64_t initrd_start, initrd_end; /* both 0 if none */
    const struct rv_fdt_node *devs;    /* the /soc nodes, in order */
    size_t nb_devs;
};
/* Write the DTB into @dst. Returns its size, or -ENOSPC/-EINVAL. */
int rv_fdt_build(const struct rv_fdt_params *p, uint8_t *dst, size_t dst_cap,
                 struct err *err);
/* Set /chosen bootargs and initrd in an existing DTB (-dtb), resizing in
 * @dst_cap. Returns the new size or a negative errno. */
int rv_fdt_fixup_chosen(uint8_t *dtb, size_t dst_cap,
                        const struct rv_fdt_params *p, struct err *err);
/* (machine-virt.c) Room for the board's /soc nodes. */
#define RV_FDT_NODES_MAX 32
/* (machine-virt.c) The board's /soc nodes, from its device table, in
 * QEMU's order, into @dst. Returns how many, at most @cap. */
size_t rv_machine_fdt_nodes(struct rv_fdt_node *dst, size_t cap);

/* loader.c: files into guest RAM. */
struct rv_ram {
    uint8_t *host;
    uint64_t base;
    uint64_t size;
};
/*
 * Load @path into RAM: an ELF64 RISC-V executable at its physical addresses
 * (*@entry = e_entry), else raw bytes at @raw_addr (*@entry = @raw_addr).
 * [*@lo, *@end) covers every byte loaded. @allow_elf false loads raw.
 * Returns 0, or -ENOENT/-EIO, -EBADMSG (malformed ELF), -ERANGE (outside RAM).
 */
int rv_load_file(const struct rv_ram *ram, const char *path, bool allow_elf,
                 uint64_t raw_addr, uint64_t *entry, uint64_t *lo,
                 uint64_t *end, struct err *err);
/* Read a whole file of at most @max bytes. *@out is mem_alloc'd. */
int rv_load_read_file(const char *path, size_t max, uint8_t **out, size_t *len,
                      struct err *err);
/* Write the QEMU 7.2 reset vector and fw_dynamic_info into @rom. */
void rv_load_reset_vector(uint8_t *rom, size_t rom_len, uint64_t start,
                          uint64_t fdt_addr, uint64_t kernel_entry);
/* QEMU 7.2's FDT placement rule for @fdt_size bytes. */
uint64_t rv_load_fdt_addr(uint64_t ram_size, uint64_t fdt_size);

/* vmstate.c: the machine-state blob and the state hash (format:
 * docs/formats/vmstate.md). RAM is not in the blob, but is in the hash. */
struct rv_devices {
    struct rv_clint *clint;
    struct rv_plic *plic;
    struct rv_uart *uart;
    struct rv_rtc *rtc;
    struct rv_virtio *virtio; /* RV_VIRTIO_SLOTS entries */
};
/* Machine-level state: the MACHINE section (all or none set). */
struct rv_vmstate_machine {
    uint64_t *icount_base; /* instructions before the last CPU reset */
    uint64_t *idle_ns;     /* virtual ns skipped while idle */
    uint64_t *rng;         /* 4 words: virtio-rng generator (xoshiro256**) */
};
#define RV_VMSTATE_MAX_IMAGES 16
/* A boot image (firmware, kernel, initrd, device tree, -device loader):
 * part of the configuration fingerprint. */
struct rv_boot_image {
    uint64_t gpa;
    const uint8_t *data; /* borrowed */
    size_t len;
};
struct rv_vmstate_cache; /* RAM hash tree and fingerprint; owned by the
                            machine, created on first use */
/* What the serialiser reads and writes; everything borrowed. */
struct rv_vmstate_ctx {
    struct rv_cpu *cpu;             /* NULL: no CPU and TLB sections */
    struct rv_vmstate_machine mach; /* NULL members: no MACHINE section */
    struct rv_devices dev;
    const struct rv_ram *ram;        /* NULL: no RAM */
    struct rv_vmstate_cache **cache; /* not NULL; *cache may be */
    /* rv_vmstate_load() leaves RAM's marks to the caller, who changed only
     * some pages and marks them with rv_vmstate_ram_changed(); false: it
     * marks all of RAM changed. */
    bool ram_marked_by_caller;
    /* The configuration fingerprint (CONFIG section). */
    unsigned icount_shift;
    const char *isa, *mmu_type;
    struct rv_boot_image images[RV_VMSTATE_MAX_IMAGES];
    unsigned nb_images;
};
#define RV_VMSTATE_MAGIC   0x53565252u /* "RRVS" */
#define RV_VMSTATE_VERSION 1u
#define RV_VMSTATE_HDR_LEN 44u
/* Incompatible feature bits this build understands (none yet). */
#define RV_VMSTATE_INCOMPAT_KNOWN 0u
/* Section flag: a reader that does not know the section may skip it. */
#define RV_VMSTATE_SECT_SKIPPABLE 1u
/* Limits for blobs read from files: 17 sections today. */
#define RV_VMSTATE_MAX_SECTIONS 256u
/* The largest section today is the TLB (55 KiB). */
#define RV_VMSTATE_MAX_SECTION_BYTES (1u << 20)
/* Pages per group of the RAM hash tree: a group digest covers 2 MiB. */
#define RV_VMSTATE_HASH_FANOUT 512u
/*
 * Serialise the state into a new buffer: *@out (mem_alloc'd, the caller
 * frees it with mem_free) of *@out_len bytes. Changes nothing the guest
 * can observe. Returns 0, or -ENOMEM, -ERANGE.
 */
int rv_vmstate_save(const struct rv_vmstate_ctx *c, uint8_t **out,
                    size_t *out_len, struct err *err);
/*
 * Validate @src against @c without changing anything. Returns 0, or
 * -EBADMSG (corrupt: checksum, length, missing section), -ENOTSUP (format
 * or section version, unknown incompatible feature or section), -ERANGE
 * (over a limit), -EINVAL (saved on another machine configuration).
 */
int rv_vmstate_check(const struct rv_vmstate_ctx *c, const uint8_t *src,
                     size_t src_len, struct err *err);
/* Check, then restore everything but RAM (which the caller restores; all
 * of it is then considered changed). Returns as rv_vmstate_check(); the
 * machine is unchanged on failure. */
int rv_vmstate_load(const struct rv_vmstate_ctx *c, const uint8_t *src,
                    size_t src_len, struct err *err);
/* The state hash: SHA-256 of the blob rv_vmstate_save() would write and
 * of the RAM tree root (RV_STATE_HASH_LEN bytes into @dst). Re-reads only
 * the pages written since the previous hash. Returns 0 or -ENOMEM. */
int rv_vmstate_hash(const struct rv_vmstate_ctx *c, uint8_t *dst,
                    struct err *err);
/*
 * Pages written since the previous take (all of them before the first):
 * ORs them into bitmap @dst (bit i: RAM page i; may be NULL to discard)
 * and clears them. It shares the CPU's dirty marks with the hash tree, so
 * taking never makes a hash miss a page. Returns 0 or -ENOMEM.
 */
int rv_vmstate_written_take(const struct rv_vmstate_ctx *c, uint64_t *dst,
                            struct err *err);
/* RAM pages [@page, @page + @n) were changed behind the CPU (a loadvm's
 * copy): the hash tree re-reads them and code decoded from them is
 * dropped. */
void rv_vmstate_ram_changed(const struct rv_vmstate_ctx *c, uint64_t page,
                            uint64_t n);
/* The root of the RAM hash tree alone (32 bytes). */
int rv_vmstate_ram_root(const struct rv_vmstate_ctx *c, uint8_t *dst,
                        struct err *err);
/* Accepts NULL. */
void rv_vmstate_cache_free(struct rv_vmstate_cache *vc);
/* Whether the 4 KiB page at @p is all zero (savevm, migration and the
 * state hash skip such pages). */
bool rv_page_is_zero(const uint8_t *p);

/* machine-virt.c: the serialiser's view of a machine (pointers into it). */
void rv_machine_vmstate_ctx(struct rv_machine *m, struct rv_vmstate_ctx *c);
/* Save and load a machine's state (RAM excluded), as rv_vmstate_*. */
int rv_machine_vmstate_save(struct rv_machine *m, uint8_t **out,
                            size_t *out_len, struct err *err);
int rv_machine_vmstate_load(struct rv_machine *m, const uint8_t *src,
                            size_t src_len, struct err *err);
/* rv_vmstate_check() against the machine. */
int rv_machine_vmstate_check(struct rv_machine *m, const uint8_t *src,
                             size_t src_len, struct err *err);
/* Guest RAM of the machine (borrowed). */
const struct rv_ram *rv_machine_ram(const struct rv_machine *m);

/* machine-virt.c: what savevm/loadvm need of the machine. */
struct rv_snap;
/* Disk @idx in device order (NULL past the last) and its -drive options
 * in *@cfg (borrowed). */
struct qcow2_image *rv_machine_disk(struct rv_machine *m, unsigned idx,
                                    const struct rv_drive_config **cfg);
/* The loop the machine runs in (borrowed; NULL: a private one). */
struct loop *rv_machine_loop(struct rv_machine *m);
/* QEMU_CLOCK_VIRTUAL: virtual ns since power-on. */
uint64_t rv_machine_vclock_ns(struct rv_machine *m);
/* The machine's snapshot context slot (freed with the machine). */
struct rv_snap **rv_machine_snap_slot(struct rv_machine *m);
/* QEMU's vm_stop(@state): running -> @state with STOP; returns whether it
 * was running (nothing happens otherwise). */
bool rv_machine_vm_stop(struct rv_machine *m, enum rv_runstate state);
/* Set the run state without an event (a failed loadvm stays restore-vm). */
void rv_machine_set_runstate(struct rv_machine *m, enum rv_runstate state);
/* Where the main loop stands in the current guest slice: saved with a
 * snapshot so that a loaded run takes input and updates timers at the same
 * instruction counts as the saved run would have. */
struct rv_machine_loop {
    uint64_t vslice_end; /* icount where the guest slice ends */
    bool vslice_new;     /* the next run starts a guest slice */
};
void rv_machine_loop_get(const struct rv_machine *m,
                         struct rv_machine_loop *out);
/* After a snapshot load: restore @lp, forget idle waits, stop-at targets,
 * pending flushes and guest requests, drop unsent serial output. No event:
 * QEMU 7.2 sends no RESET for a snapshot load. */
void rv_machine_loaded(struct rv_machine *m, const struct rv_machine_loop *lp);

/* machine-snap.c: savevm, loadvm, delvm and info snapshots over the
 * machine's qcow2 disks (QEMU 7.2's rules and messages; docs/snapshots.md,
 * vmstate area layout in docs/formats/vmstate.md). */

/* How the monitor names a disk: matched to a machine disk by its file
 * pointer (the -drive's rv_drive_config.file). */
struct rv_snap_drive {
    const char *device;    /* BlockBackend name: "virtio0" or id= */
    const char *node_name; /* node-name=, or NULL */
    const char *file;      /* borrowed: the same pointer as the drive's */
};
/* Largest vmstate blob: the sections today take about 60 KiB. */
#define RV_SNAP_BLOB_MAX (1u << 20)
/* savevm cuts longer tags to this many bytes (QEMU's sn->name[256]). */
#define RV_SNAP_TAG_MAX 255

/* One finished snapshot operation, as the catalog will record it. */
enum rv_snap_op {
    RV_SNAP_SAVED,
    RV_SNAP_LOADED,
    RV_SNAP_DELETED,
};
struct rv_snap_record {
    enum rv_snap_op op;
    const char *image; /* path of the disk holding the vmstate */
    const char *id;    /* qcow2 snapshot id */
    const char *tag;
    uint64_t vm_state_size; /* bytes */
    uint32_t date_sec, date_nsec;
    uint64_t vm_clock_ns;
    uint64_t icount;
    /* zero when unknown: a delete, a disk without the vmstate */
    uint8_t state_hash[RV_STATE_HASH_LEN];
};

/*
 * The machine's snapshot context, created at first use with @drives (the
 * monitor's names; NULL: "virtio<N>" in device order). Returns 0 and
 * *@out (owned by the machine), or -ENOMEM.
 */
int rv_snap_get(struct rv_machine *m, const struct rv_snap_drive *drives,
                size_t nb_drives, struct rv_snap **out, struct err *err);
/* Accepts NULL. Called by rv_machine_free(). */
void rv_snap_free(struct rv_snap *s);
/* Called with every finished save, load or delete (the catalog); the
 * record and its strings are valid during the call only. */
typedef void rv_snap_done_fn(void *opaque, const struct rv_snap_record *r);
/* Set (or clear with NULL) the one completion hook. */
void rv_snap_set_done_hook(struct rv_snap *s, rv_snap_done_fn *fn,
                           void *opaque);
/*
 * savevm: every writable qcow2 disk (or those of @devices, node or device
 * names, NULL-terminated; NULL: all) gets snapshot @tag (NULL: QEMU's
 * vm-YYYYMMDDhhmmss), replacing one of the same name when @overwrite; the
 * machine state goes to @vmstate (node or device name; NULL: the first
 * such disk). Stops and resumes the machine (save-vm, STOP/RESUME) and
 * returns once the images are flushed. Returns 0, or a negative errno
 * with QEMU's message in @err.
 */
int rv_snap_save(struct rv_snap *s, const char *tag, bool overwrite,
                 const char *vmstate, const char *const *devices,
                 struct err *err);
/*
 * loadvm: revert the disks to @tag and restore the machine. The snapshot
 * is read and checked before anything changes; a refusal leaves the
 * machine as it was. A failure after the disks switched leaves it in
 * restore-vm. A running machine runs again afterwards (RESUME).
 */
int rv_snap_load(struct rv_snap *s, const char *tag, const char *vmstate,
                 const char *const *devices, struct err *err);
/* delvm: delete @tag on every disk that has it (nothing if none). */
int rv_snap_delete(struct rv_snap *s, const char *tag,
                   const char *const *devices, struct err *err);
/* Internal snapshot on the disk of node/device @device alone, without
 * machine state (blockdev-snapshot-internal-sync); and its delete by
 * @id and/or @name (NULL: any), which describes the deleted snapshot in
 * *@out (strings NULL). Return 0 or QEMU's error. */
int rv_snap_disk_create(struct rv_snap *s, const char *device, const char *name,
                        struct err *err);
int rv_snap_disk_delete(struct rv_snap *s, const char *device, const char *id,
                        const char *name, struct rv_snap_record *out,
                        struct err *err);
/*
 * `info snapshots` as QEMU 7.2 prints it, into a new string *@out
 * (mem_alloc'd; the caller frees it). Returns 0 or -ENOMEM.
 */
int rv_snap_info(struct rv_snap *s, char **out, struct err *err);

#endif /* EMULATOR_RV_INT_H */
