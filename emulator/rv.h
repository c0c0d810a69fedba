/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv.h - the RISC-V `virt` machine: configuration, create, run,
 * free, and a hash of the whole machine state (CPU, devices, RAM).
 */
#ifndef EMULATOR_RV_H
#define EMULATOR_RV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct rv_machine; /* opaque; one per running guest */
struct loop;       /* common/loop.h */

/* Limits of the machine model (QEMU 7.2 virt, one hart). */
#define RV_RAM_BASE         0x80000000ull
#define RV_RAM_MIN          (16ull << 20) /* smaller cannot hold firmware */
#define RV_RAM_MAX          (16ull << 30) /* host memory we agree to map */
#define RV_VIRTIO_SLOTS     8             /* virtio_mmio@10001000..10008000 */
#define RV_MAX_LOADERS      8             /* -device loader,file=,addr= */
#define RV_ICOUNT_MAX_SHIFT 10            /* QEMU's limit for shift=N */
/* Default -icount shift: 2^3 ns per instruction, i.e. 125 M virtual
 * instructions per second, close to what the interpreter achieves, so a
 * busy-waited second of guest time costs about a second of host time. */
#define RV_ICOUNT_DEFAULT_SHIFT 3
/* Default -rtc base: 2026-01-01T00:00:00Z, a fixed instant so that the
 * guest never sees host time unless asked to (-rtc base=utc). */
#define RV_RTC_DEFAULT_BASE_NS (1767225600ull * 1000000000ull)
/* Default seed of the virtio-rng generator (documented in rrvm.1). */
#define RV_RNG_DEFAULT_SEED 0x5252564d2d524e47ull /* "RRVM-RNG" */

/* One virtio-blk backing image. */
struct rv_drive_config {
    const char *file;   /* image path; borrowed */
    const char *format; /* "qcow2" or "raw"; NULL = probe */
    bool readonly;
    bool snapshot;     /* writes go to a temporary overlay deleted on exit */
    bool cache_unsafe; /* cache=unsafe: flush is a no-op */
    bool cache_direct; /* cache=none/directsync: O_DIRECT */
};

enum rv_virtio_kind {
    RV_VIRTIO_NONE = 0,
    RV_VIRTIO_BLK,
    RV_VIRTIO_RNG,
};

/* One virtio device, in command-line order (the first gets the top slot). */
struct rv_virtio_config {
    enum rv_virtio_kind kind;
    struct rv_drive_config drive; /* RV_VIRTIO_BLK only */
};

/* -device loader,file=,addr= : a raw or ELF file placed in memory. */
struct rv_loader_config {
    const char *file;
    uint64_t addr; /* load address for raw files */
    bool has_addr; /* false: ELF, placed at its own addresses */
};

/* Why rv_machine_run() returned. */
enum rv_exit_kind {
    RV_EXIT_POWEROFF = 0, /* sifive_test pass/fail; see exit_code */
    RV_EXIT_QUIT,         /* the user asked to quit (Ctrl-a x, quit, signal) */
    RV_EXIT_RESET,        /* guest reset with -no-reboot */
    RV_EXIT_TRAP_LOOP,    /* the hart was stuck in a trap loop */
};

/* Run states, as QEMU's RunState (qapi/run-state.json); names by
 * rv_runstate_name(). */
enum rv_runstate {
    RV_RUN_PRELAUNCH = 0, /* -S: not started yet */
    RV_RUN_RUNNING,
    RV_RUN_PAUSED,         /* stop, or stop-at reached */
    RV_RUN_SHUTDOWN,       /* the guest powered off under -no-shutdown */
    RV_RUN_GUEST_PANICKED, /* reserved: this board has no panic device */
    RV_RUN_INTERNAL_ERROR, /* reserved */
    RV_RUN_SAVE_VM,        /* reserved for savevm */
    RV_RUN_RESTORE_VM,     /* reserved for loadvm */
    RV_RUN_DEBUG,          /* reserved for the gdb stub */
    RV_RUN_INMIGRATE,      /* -incoming: waiting for the migration stream */
    RV_RUN_FINISH_MIGRATE, /* stopped while the stream is sent */
    RV_RUN_POSTMIGRATE,    /* the stream was sent; cont runs again */
};

/* Why the machine shut down or reset: QEMU's ShutdownCause. */
enum rv_shutdown_cause {
    RV_CAUSE_NONE = 0, /* no event (QEMU 7.2's Ctrl-a x exits silently) */
    RV_CAUSE_HOST_ERROR,
    RV_CAUSE_HOST_QMP_QUIT,
    RV_CAUSE_HOST_QMP_SYSTEM_RESET,
    RV_CAUSE_HOST_SIGNAL,
    RV_CAUSE_HOST_UI,
    RV_CAUSE_GUEST_SHUTDOWN,
    RV_CAUSE_GUEST_RESET,
    RV_CAUSE_GUEST_PANIC,
    RV_CAUSE_SUBSYSTEM_RESET,
    RV_CAUSE_SNAPSHOT_LOAD,
};

/* Machine events, as QEMU's QMP events of the same names. */
enum rv_event {
    RV_EVENT_STOP,
    RV_EVENT_RESUME,
    RV_EVENT_RESET,    /* with a cause: data {guest, reason} */
    RV_EVENT_SHUTDOWN, /* with a cause: data {guest, reason} */
    RV_EVENT_POWERDOWN,
};

/* Receives each event as it happens; @cause is RV_CAUSE_NONE for STOP,
 * RESUME and POWERDOWN. */
typedef void rv_event_fn(void *opaque, enum rv_event ev,
                         enum rv_shutdown_cause cause);
/* Serial output of the guest, gathered per CPU slice. */
typedef void rv_serial_out_fn(void *opaque, const uint8_t *src, size_t len);

struct rv_exit_info {
    enum rv_exit_kind kind;
    int exit_code; /* process exit status the run asks for */
    uint64_t pc;   /* RV_EXIT_TRAP_LOOP: where */
};

/*
 * Record/replay seam: every outside input the guest can observe passes
 * through these two hooks, with the instruction count at which it takes
 * effect. A recorder logs what they see; a replayer substitutes the logged
 * values. NULL members keep the default behaviour.
 */
/* What the serial input hook hands the UART. */
#define RV_INPUT_BYTE  1 /* a byte */
#define RV_INPUT_BREAK 2 /* a BREAK condition (the byte is 0) */

struct rv_input_hooks {
    void *opaque;
    /* The UART takes a serial byte. @avail is RV_INPUT_BYTE if host input
     * had one in *@byte, RV_INPUT_BREAK if it had a BREAK (*@byte 0), 0 if
     * none. Return RV_INPUT_BYTE to hand *@byte to the guest,
     * RV_INPUT_BREAK for a BREAK, 0 for nothing. */
    int (*serial)(void *opaque, uint64_t icount, int avail, uint8_t *byte);
    /* virtio-rng filled @dst (from the seeded generator); may replace it. */
    void (*entropy)(void *opaque, uint64_t icount, uint8_t *dst, size_t len);
};

/* Log categories for -d (QEMU names). */
#define RV_LOG_GUEST_ERRORS (1u << 0)
#define RV_LOG_UNIMP        (1u << 1)
#define RV_LOG_IN_ASM       (1u << 2) /* each block's code, when first seen */
#define RV_LOG_INT          (1u << 3) /* each trap and interrupt taken */
#define RV_LOG_EXEC         (1u << 4) /* a "Trace" line per block executed */
#define RV_LOG_CPU          (1u << 5) /* registers before each block */
#define RV_LOG_FPU          (1u << 6) /* with RV_LOG_CPU: the FP registers */

struct rv_machine_config {
    uint64_t ram_size;    /* bytes */
    const char *bios;     /* NULL = none: no firmware */
    const char *kernel;   /* NULL if none */
    const char *initrd;   /* NULL if none */
    const char *append;   /* NULL if none */
    const char *dtb;      /* NULL: generate the device tree */
    const char *dumpdtb;  /* write the device tree here, do not run */
    const char *isa;      /* riscv,isa string for the device tree */
    const char *mmu_type; /* "riscv,sv39" / "riscv,sv48" */
    struct rv_loader_config loaders[RV_MAX_LOADERS];
    unsigned nb_loaders;
    struct rv_virtio_config virtio[RV_VIRTIO_SLOTS];
    unsigned nb_virtio;
    unsigned icount_shift; /* 2^shift ns of virtual time per instruction */
    bool icount_sleep;     /* sleep in real time while the guest idles */
    uint64_t rtc_base_ns;  /* goldfish RTC at virtual time 0 */
    uint64_t rng_seed;     /* virtio-rng generator seed */
    /* virtio-rng reads this file instead (e.g. /dev/urandom): guest-visible
     * and not reproducible. NULL: the seeded generator. */
    const char *rng_file;
    bool no_reboot;    /* a guest reset ends the run */
    bool no_shutdown;  /* poweroff stops the CPU but keeps running */
    unsigned log_mask; /* RV_LOG_* */
    /* Receives -d messages (one or more lines, without the final
     * newline); NULL drops them. */
    void (*log_fn)(void *opaque, const char *msg);
    void *log_opaque;
    rv_serial_out_fn *serial_out; /* NULL: output discarded */
    void *serial_opaque;
    rv_event_fn *event_fn; /* NULL: events dropped */
    void *event_opaque;
    /* Serves every host descriptor between CPU slices (borrowed); NULL:
     * rv_machine_run() uses a private loop. */
    struct loop *loop;
    /* Checked between slices; nonzero quits with RV_CAUSE_HOST_SIGNAL
     * (set it from a signal handler, then loop_wake()). NULL if unused. */
    volatile int *quit_flag;
    bool start_paused; /* -S: begin in prelaunch */
    /* -incoming: writable disks open read-only without a lock until
     * rv_machine_blk_set_inactive(m, false) (QEMU's inactive images). */
    bool incoming;
    struct rv_input_hooks hooks; /* all NULL: plain run */
};

/* Fill @cfg with the defaults of `rrvm -M virt` (128 MiB, no firmware). */
void rv_machine_config_init(struct rv_machine_config *cfg);

/*
 * Build the machine: RAM, devices, the device tree, firmware and kernel
 * loaded, reset vector set. @cfg and the strings it points to are borrowed
 * for the life of the machine. Returns 0 and sets *@out, or -EINVAL (bad
 * configuration), -ENOENT/-EIO (file), -EBADMSG (malformed ELF/DTB), -ERANGE
 * (file does not fit), -ENOMEM, -ENOTSUP. With cfg->dumpdtb, writes the
 * device tree and returns 0 with *@out NULL.
 */
int rv_machine_new(const struct rv_machine_config *cfg, struct rv_machine **out,
                   struct err *err);

/* Flush and close disks, delete temporary overlays, free. Accepts NULL. */
void rv_machine_free(struct rv_machine *m);

/*
 * The main loop: run the guest in slices and serve the loop's descriptors
 * between them, until it powers off, the user quits, or a fatal condition.
 * Slices end at the next timer deadline, a stop-at target, a stop request
 * or a bounded budget; while the guest waits in WFI, the loop sleeps
 * until the next deadline (icount_sleep) or fast-forwards. Returns 0 and
 * fills @exit, or a negative errno.
 */
int rv_machine_run(struct rv_machine *m, struct rv_exit_info *exit,
                   struct err *err);

/* Instructions retired since power-on (across guest resets). */
uint64_t rv_machine_icount(const struct rv_machine *m);

#define RV_STATE_HASH_LEN 32
/*
 * The state hash into @dst (RV_STATE_HASH_LEN bytes): SHA-256 of the
 * machine-state blob (CPU, soft TLB, every device, virtual time, the
 * virtio-rng generator, the configuration fingerprint) and of the RAM hash
 * tree (docs/formats/vmstate.md). Equal hashes mean equal restorable
 * states; two runs of the same guest with the same input give the same
 * hash. Only pages written since the previous call are read again, so it is
 * cheap to take often; the first call digests all of RAM. Call it between
 * CPU slices (the main loop, a monitor handler); it changes nothing the
 * guest can observe. Returns 0 or -ENOMEM.
 */
int rv_machine_state_hash(struct rv_machine *m, uint8_t *dst);

/* ---- inspection (for the monitor; never changes the guest) ---- */

/* Room for rv_machine_dump_registers(). */
#define RV_MACHINE_DUMP_MAX 4096
/* The hart's registers in QEMU's `info registers` format (with the FP
 * registers) into @dst, NUL-terminated. Returns the length. */
size_t rv_machine_dump_registers(struct rv_machine *m, char *dst,
                                 size_t dst_cap);
/*
 * Read guest memory at @addr: physical (RAM and ROM only; device
 * registers are never read, so inspection has no side effects) or, with
 * @virt, virtual through the hart's current translation without setting
 * accessed/dirty bits or filling the TLB. Returns 0, or -EFAULT if some
 * byte is not readable that way.
 */
int rv_machine_mem_read(struct rv_machine *m, uint64_t addr, bool virt,
                        void *dst, size_t len);

/* One MMIO window of the board's device table (machine-virt.c), in the
 * order QEMU 7.2 creates the devices. */
struct rv_machine_dev {
    const char *mr_name; /* QEMU's memory-region name (info mtree) */
    const char *type;    /* QEMU's device type (info qtree) */
    const char *props;   /* info qtree property lines, each ending in \n */
    uint64_t base;
    uint64_t size;      /* as QEMU maps it */
    unsigned irq;       /* PLIC source; 0: none */
    unsigned instance;  /* index among the rows of the same device type */
    bool mmio_unmapped; /* QEMU's info qtree shows the address as -1 */
};
/* Window @idx of the board, or false past the last. */
bool rv_machine_dev(size_t idx, struct rv_machine_dev *d);

/* Guest RAM size in bytes (at RV_RAM_BASE). */
uint64_t rv_machine_ram_size(const struct rv_machine *m);
/*
 * Translate @va as the hart would for a load now, without side effects
 * (QEMU's get_phys_page_debug). Returns 0 and *@pa, or -EFAULT.
 */
int rv_machine_gva2gpa(struct rv_machine *m, uint64_t va, uint64_t *pa);
/* The host address of guest-physical @gpa in RAM or the reset ROM, with
 * QEMU's region name in *@region; NULL elsewhere. */
void *rv_machine_gpa2hva(struct rv_machine *m, uint64_t gpa,
                         const char **region);

/* A blob the machine loaded at start and restores at each reset. */
struct rv_machine_rom {
    const char *name; /* the file as given, "fdt", "mrom.reset", ... */
    uint64_t gpa;
    uint64_t len;
    bool in_ram; /* false: the reset ROM */
};
/* Blob @idx in load order (the reset ROM's two first), or false past the
 * last. */
bool rv_machine_rom(const struct rv_machine *m, size_t idx,
                    struct rv_machine_rom *r);

/* The PLIC as `info pic`/`info irq` show it. Source 0 is reserved. */
#define RV_MACHINE_PIC_SOURCES  97
#define RV_MACHINE_PIC_CONTEXTS 2
struct rv_machine_pic {
    uint32_t prio[RV_MACHINE_PIC_SOURCES];
    uint32_t threshold[RV_MACHINE_PIC_CONTEXTS];
    bool level[RV_MACHINE_PIC_SOURCES];
    bool pending[RV_MACHINE_PIC_SOURCES];
    bool claimed[RV_MACHINE_PIC_SOURCES];
    bool enabled[RV_MACHINE_PIC_CONTEXTS][RV_MACHINE_PIC_SOURCES];
    /* Rising edges of each line since the machine was made: host
     * statistics, not guest state (not saved, hashed or reset). */
    uint64_t raised[RV_MACHINE_PIC_SOURCES];
};
void rv_machine_pic(const struct rv_machine *m, struct rv_machine_pic *p);

/* A receiver of -d text (one or more lines without the final newline). */
typedef void rv_log_fn(void *opaque, const char *msg);
/*
 * Change the -d items (RV_LOG_*) and their receiver at run time (HMP
 * `log`, `logfile`); @fn NULL drops the text. Tracing never changes what
 * the guest computes. Returns 0, or -ENOMEM.
 */
int rv_machine_set_log(struct rv_machine *m, unsigned mask, rv_log_fn *fn,
                       void *opaque, struct err *err);
/* The current items and receiver. */
void rv_machine_get_log(const struct rv_machine *m, unsigned *mask,
                        rv_log_fn **fn, void **opaque);

/* ---- the host side of the serial port ---- */

/* Bytes of serial input the machine can buffer now (0: full). */
size_t rv_machine_serial_room(const struct rv_machine *m);
/* Buffer up to rv_machine_serial_room() bytes of host input; the UART
 * takes them one by one as the guest reads (through hooks.serial). */
void rv_machine_serial_input(struct rv_machine *m, const uint8_t *src,
                             size_t src_len);
/*
 * Queue a BREAK condition behind the buffered input (QMP
 * chardev-send-break, telnet BREAK, the mux's Ctrl-a b). It reaches the
 * UART through the same hook as the bytes, when its FIFO is empty, at an
 * instruction boundary. Returns false if the buffer is full (dropped).
 */
bool rv_machine_serial_break(struct rv_machine *m);

/* ---- block drives (for the monitor; call between CPU slices) ---- */

struct qcow2_image;
/*
 * A block drive is named by the file pointer of its rv_drive_config (the
 * one given in cfg->virtio[].drive.file, shared by the caller's copies).
 * Its open image (the top of its chain, a -snapshot overlay if any), or
 * NULL if the machine did not open it. Borrowed.
 */
struct qcow2_image *rv_machine_blk_image(struct rv_machine *m,
                                         const char *file);
/*
 * A path that opens the drive's top image again into @dst: its file, or
 * for a -snapshot overlay (already unlinked) a /proc/self/fd path. Returns
 * 0, -ENOENT (not open), -ERANGE (@dst_cap too small).
 */
int rv_machine_blk_top_path(struct rv_machine *m, const char *file, char *dst,
                            size_t dst_cap);
/* The image changed size (qcow2_resize on it): the virtio-blk device
 * shows the new capacity and raises a configuration-change interrupt,
 * as QEMU's virtio_blk_resize(). */
void rv_machine_blk_resized(struct rv_machine *m, const char *file);
/*
 * Flush and close the drive's image chain, so its files can be opened
 * read-write elsewhere (commit); the device must not run until
 * rv_machine_blk_reopen(), which opens it again as configured (and
 * reports a size change as rv_machine_blk_resized()). Return 0 or a
 * negative errno with @err set.
 */
int rv_machine_blk_close(struct rv_machine *m, const char *file,
                         struct err *err);
int rv_machine_blk_reopen(struct rv_machine *m, const char *file,
                          struct err *err);
/*
 * Called after a disk's image was opened again in use (by
 * rv_machine_blk_reopen(), or rv_machine_blk_set_inactive(m, false)),
 * not for the opens of rv_machine_new() nor for an inactive image. @img
 * and @dc are borrowed for the call.
 */
typedef void rv_disk_opened_fn(void *opaque, struct qcow2_image *img,
                               const struct rv_drive_config *dc);
/* Set (or clear, @fn NULL) the hook of disk reopens; one per machine. */
void rv_machine_set_disk_hook(struct rv_machine *m, rv_disk_opened_fn *fn,
                              void *opaque);
/*
 * Migration: reopen every writable disk (not snapshot=on) read-only
 * without a lock (@inactive, after a flush), so that another process may
 * take it, or again as configured. Disks already so are left alone.
 * Returns 0 or a negative errno with @err set (-EBUSY: locked elsewhere);
 * a disk that failed to reopen is closed.
 */
int rv_machine_blk_set_inactive(struct rv_machine *m, bool inactive,
                                struct err *err);

/* ---- run control (for the monitor; call between CPU slices) ---- */

/* QEMU's name of @s ("prelaunch", "running", "paused", "shutdown", ...). */
const char *rv_runstate_name(enum rv_runstate s);
/* QEMU's name of @c ("host-qmp-quit", "guest-shutdown", ...). */
const char *rv_shutdown_cause_name(enum rv_shutdown_cause c);
/* True if @c comes from the guest (the SHUTDOWN/RESET "guest" member). */
bool rv_shutdown_cause_guest(enum rv_shutdown_cause c);

enum rv_runstate rv_machine_runstate(const struct rv_machine *m);
/* True while the CPU runs (QEMU's runstate_is_running()). */
bool rv_machine_is_running(const struct rv_machine *m);
/* QEMU's vm_stop(paused): running -> paused with STOP; otherwise nothing.
 * The icount stays where it is. */
void rv_machine_stop(struct rv_machine *m);
/*
 * QEMU's cont: -> running with RESUME (STOP then RESUME if already
 * running). Returns 0, or -EBUSY "Resetting the Virtual Machine is
 * required" in the shutdown state.
 */
int rv_machine_cont(struct rv_machine *m, struct err *err);
/* Reset the machine now (RESET event with @cause); a stopped machine goes
 * to prelaunch. With -no-reboot, shuts down instead (SHUTDOWN, exit). */
void rv_machine_system_reset(struct rv_machine *m,
                             enum rv_shutdown_cause cause);
/* POWERDOWN event; this board has no power button for the guest. */
void rv_machine_system_powerdown(struct rv_machine *m);
/* Make rv_machine_run() return RV_EXIT_QUIT after the current handler,
 * with a SHUTDOWN event unless @cause is RV_CAUSE_NONE. */
void rv_machine_quit(struct rv_machine *m, enum rv_shutdown_cause cause);
/*
 * Pause (STOP event) when the icount reaches @icount exactly, whatever the
 * state in between. Returns 0, or -ERANGE (@icount is behind the current
 * icount; @err says both). rv_machine_stop_at_target() gives the pending
 * target or UINT64_MAX.
 */
int rv_machine_stop_at(struct rv_machine *m, uint64_t icount, struct err *err);
uint64_t rv_machine_stop_at_target(const struct rv_machine *m);

#endif /* EMULATOR_RV_H */
