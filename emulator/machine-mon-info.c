/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-mon-info.c - the monitor's inspection commands (info cpus,
 * info mem, p, cpu, gva2gpa, memsave, pmemsave, sum, `$reg` in expressions),
 * the info commands for hardware the board lacks, singlestep, system_wakeup
 * and boot_set. None of them changes the guest.
 */
#include "emulator/machine-mon-int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/alloc.h"
#include "emulator/rv-int.h"

/* memsave/pmemsave copy through a buffer of QEMU's size. */
#define INFO_SAVE_CHUNK 1024
/* pmemsave's largest size: RV64's 56-bit physical address space. */
#define INFO_PMEMSAVE_MAX (1ull << 56)
/* Longest register name in the dump ("mscratch", "x10/a0", "f27/fs11"). */
#define INFO_REG_NAME_MAX 16

/* Sv39/Sv48 page table entries (the privileged spec, 4.3.1). */
#define PTE_V         (1u << 0)
#define PTE_R         (1u << 1)
#define PTE_W         (1u << 2)
#define PTE_X         (1u << 3)
#define PTE_U         (1u << 4)
#define PTE_G         (1u << 5)
#define PTE_A         (1u << 6)
#define PTE_D         (1u << 7)
#define PTE_PPN_SHIFT 10
#define PGSHIFT       12
#define MSTATUS_SUM   (1ull << 18)
#define MSTATUS_MXR   (1ull << 19)
#define SATP_PPN_MASK ((1ull << 44) - 1)
#define SATP_SV39     8u
#define SATP_SV48     9u
#define SATP_SV57     10u

/* ---- registers, from the `info registers` dump ---- */

static bool name_eq(const char *a, size_t a_len, const char *b)
{
    return strlen(b) == a_len && strncasecmp(a, b, a_len) == 0;
}

/*
 * Find @name in the dump's "name value" pairs, where a name may carry an
 * ABI alias ("x10/a0", "f8/fs0"). "fp" is s0's second ABI name.
 */
static int reg_lookup(struct rv_machine *m, const char *name, uint64_t *val)
{
    char buf[RV_MACHINE_DUMP_MAX];
    const char *p = buf;

    if (strcasecmp(name, "fp") == 0) {
        name = "s0";
    }
    rv_machine_dump_registers(m, buf, sizeof(buf));
    for (;;) {
        const char *tok, *v;
        size_t tok_len;
        char *end;

        p += strspn(p, " \n");
        if (!*p) {
            return -ENOENT;
        }
        tok = p;
        tok_len = strcspn(p, " \n");
        v = tok + tok_len + strspn(tok + tok_len, " ");
        *val = strtoull(v, &end, 16);
        p = end > v ? end : tok + tok_len;
        if (end == v || tok_len > INFO_REG_NAME_MAX) {
            continue;
        }
        for (const char *s = tok; s < tok + tok_len;) {
            size_t n = strcspn(s, "/ \n");

            if (name_eq(s, n, name)) {
                return 0;
            }
            s += n + (s[n] == '/');
            if (n == 0) {
                break;
            }
        }
    }
}

static int info_reg(void *opaque, const char *name, uint64_t *val)
{
    struct vm_mon_info *info = opaque;
    struct rv_machine *m = *info->m;

    return m ? reg_lookup(m, name, val) : -ENOENT;
}

/* ---- info cpus, cpu N ---- */

/* HMP `info cpus` (QEMU's hmp_info_cpus over query-cpus-fast). */
static int cmd_info_cpus(struct mon_req *req, struct err *err)
{
    mon_req_printf(req, "* CPU #0: thread_id=%ld\n", (long)getpid());
    return 0;
}

/* HMP `cpu N`: one hart, so only 0 is valid. */
static int cmd_cpu(struct mon_req *req, struct err *err)
{
    int64_t idx = -1;

    mon_req_arg_int(req, "index", &idx);
    if (idx != 0) {
        mon_req_printf(req, "invalid CPU index\n");
    }
    return 0;
}

/* ---- p / print ---- */

/* QEMU's monitor_printc. */
static void printc(struct mon_req *req, unsigned c)
{
    switch (c) {
    case '\'':
        mon_req_printf(req, "'\\''");
        break;
    case '\\':
        mon_req_printf(req, "'\\\\'");
        break;
    case '\n':
        mon_req_printf(req, "'\\n'");
        break;
    case '\r':
        mon_req_printf(req, "'\\r'");
        break;
    default:
        if (c >= 32 && c <= 126) {
            mon_req_printf(req, "'%c'", c);
        } else {
            mon_req_printf(req, "'\\x%02x'", c);
        }
        break;
    }
}

/* HMP `p`/`print` (QEMU's hmp_print: the value as a 64-bit hwaddr). */
static int cmd_print(struct mon_req *req, struct err *err)
{
    int64_t format = 'x', v = 0;
    uint64_t val;

    mon_req_arg_int(req, "format", &format);
    mon_req_arg_int(req, "val", &v);
    val = (uint64_t)v;
    switch (format) {
    case 'o':
        mon_req_printf(req, "%#" PRIo64, val);
        break;
    case 'x':
        mon_req_printf(req, "%#" PRIx64, val);
        break;
    case 'u':
        mon_req_printf(req, "%" PRIu64, val);
        break;
    case 'c':
        printc(req, (unsigned)(val & 0xff));
        break;
    default:
        mon_req_printf(req, "%" PRId64, (int64_t)val);
        break;
    }
    mon_req_printf(req, "\n");
    return 0;
}

/* ---- page tables: info mem, gva2gpa ---- */

/* A physical 64-bit load for a walk: 0 outside RAM and ROM, as QEMU reads
 * unassigned memory. Never touches devices, never sets A/D. */
static uint64_t phys_ld64(struct rv_machine *m, uint64_t pa)
{
    uint8_t b[8];
    uint64_t v = 0;

    if (rv_machine_mem_read(m, pa, false, b, sizeof(b)) < 0) {
        return 0;
    }
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | b[i];
    }
    return v;
}

/* Page table levels of satp.MODE @mode; 0 for Bare (and reserved modes). */
static int satp_levels(unsigned mode)
{
    switch (mode) {
    case SATP_SV39:
        return 3;
    case SATP_SV48:
        return 4;
    case SATP_SV57:
        return 5;
    default:
        return 0;
    }
}

struct walk {
    struct mon_req *req;
    struct rv_machine *m;
    int va_bits;
    uint64_t vbase, pbase, last_paddr, last_size;
    unsigned last_attr;
};

static uint64_t addr_canonical(int va_bits, uint64_t addr)
{
    if (addr & (1ull << (va_bits - 1))) {
        addr |= ~0ull << va_bits;
    }
    return addr;
}

/* QEMU 7.2's print_pte (target/riscv/monitor.c). */
static void print_pte(struct walk *w, uint64_t vaddr, uint64_t paddr,
                      uint64_t size, unsigned attr)
{
    if (vaddr >= (1ull << w->va_bits) || !size) {
        return;
    }
    mon_req_printf(
        w->req, "%016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %c%c%c%c%c%c%c\n",
        addr_canonical(w->va_bits, vaddr), paddr, size,
        attr & PTE_R ? 'r' : '-', attr & PTE_W ? 'w' : '-',
        attr & PTE_X ? 'x' : '-', attr & PTE_U ? 'u' : '-',
        attr & PTE_G ? 'g' : '-', attr & PTE_A ? 'a' : '-',
        attr & PTE_D ? 'd' : '-');
}

/* QEMU 7.2's walk_pte, merging runs contiguous in both spaces with equal
 * attributes (last_start is per level, as in QEMU). */
static void walk_pte(struct walk *w, uint64_t base, uint64_t start, int level)
{
    uint64_t last_start = UINT64_MAX;
    uint64_t pgsize = 1ull << (PGSHIFT + 9 * level);

    for (unsigned idx = 0; idx < 512; idx++) {
        uint64_t pte = phys_ld64(w->m, base + 8ull * idx);
        uint64_t paddr = (pte >> PTE_PPN_SHIFT) << PGSHIFT;
        unsigned attr = (unsigned)(pte & 0xff);

        if (attr & PTE_V) {
            if (attr & (PTE_R | PTE_W | PTE_X)) {
                if (w->last_attr != attr ||
                    w->last_paddr + w->last_size != paddr ||
                    last_start + w->last_size != start) {
                    if (w->last_attr) {
                        print_pte(w, w->vbase, w->pbase,
                                  w->last_paddr + w->last_size - w->pbase,
                                  w->last_attr);
                    }
                    w->vbase = start;
                    w->pbase = paddr;
                    w->last_attr = attr;
                }
                last_start = start;
                w->last_paddr = paddr;
                w->last_size = pgsize;
            } else if (level > 0) {
                walk_pte(w, paddr, start, level - 1);
            }
        }
        start += pgsize;
    }
}

/* HMP `info mem` (QEMU 7.2's hmp_info_mem for riscv64). */
static int cmd_info_mem(struct mon_req *req, struct err *err)
{
    struct rv_machine *m = vm_mon_info_machine(req, err);
    struct walk w = {.req = req, .m = m};
    uint64_t satp;
    unsigned mode;
    int levels;

    if (!m) {
        return -EAGAIN;
    }
    if (reg_lookup(m, "satp", &satp) < 0 || !(satp >> 60)) {
        mon_req_printf(req, "No translation or protection\n");
        return 0;
    }
    mode = (unsigned)(satp >> 60);
    levels = satp_levels(mode);
    if (!levels) {
        mon_req_printf(req, "No translation or protection\n");
        return 0;
    }
    w.va_bits = PGSHIFT + 9 * levels;
    mon_req_printf(req, "vaddr            paddr            size             "
                        "attr\n");
    mon_req_printf(req, "---------------- ---------------- ---------------- "
                        "-------\n");
    w.vbase = UINT64_MAX;
    w.pbase = UINT64_MAX;
    w.last_paddr = UINT64_MAX;
    walk_pte(&w, (satp & SATP_PPN_MASK) << PGSHIFT, 0, levels - 1);
    print_pte(&w, w.vbase, w.pbase, w.last_paddr + w.last_size - w.pbase,
              w.last_attr);
    return 0;
}

/* HMP `gva2gpa addr` (QEMU's hmp_gva2gpa), through the hart's own
 * side-effect-free translation in its current mode. */
static int cmd_gva2gpa(struct mon_req *req, struct err *err)
{
    struct rv_machine *m = vm_mon_info_machine(req, err);
    int64_t addr = 0;
    uint64_t gpa;

    if (!m) {
        return -EAGAIN;
    }
    mon_req_arg_int(req, "addr", &addr);
    if (rv_machine_gva2gpa(m, (uint64_t)addr & ~4095ull, &gpa) < 0) {
        mon_req_printf(req, "Unmapped\n");
    } else {
        mon_req_printf(req, "gpa: %#" PRIx64 "\n",
                       gpa + ((uint64_t)addr & 4095));
    }
    return 0;
}

/* ---- memsave, pmemsave, sum ---- */

static int save_open(const char *filename, FILE **f, struct err *err)
{
    *f = fopen(filename, "wb");
    if (!*f) {
        return err_set(err, -errno, "Could not open '%s': %s", filename,
                       strerror(errno));
    }
    return 0;
}

static int save_args(struct mon_req *req, uint64_t *addr, int64_t *size,
                     const char **filename)
{
    int64_t a = 0;

    mon_req_arg_int(req, "val", &a);
    *addr = (uint64_t)a;
    *size = 0;
    mon_req_arg_int(req, "size", size);
    *filename = mon_req_arg_str(req, "filename");
    return *filename ? 0 : -EINVAL;
}

/* memsave (virtual) and pmemsave (physical), as QEMU 7.2's qmp_memsave and
 * qmp_pmemsave: the file is opened first; a virtual range that does not
 * translate fails with QEMU's message (the file keeps what was written); a
 * physical range reads 0 outside RAM and ROM, as QEMU does for unassigned
 * memory (device registers are never read). */
static int mem_save(struct mon_req *req, bool virt, struct err *err)
{
    struct rv_machine *m = vm_mon_info_machine(req, err);
    uint8_t buf[INFO_SAVE_CHUNK];
    const char *filename;
    uint64_t addr, orig_addr;
    int64_t size, orig_size, cpu = 0;
    FILE *f = NULL;
    int ret;

    if (!m) {
        return -EAGAIN;
    }
    if (save_args(req, &addr, &size, &filename) < 0) {
        return err_set(err, -EINVAL, "Parameter 'filename' is missing");
    }
    if (virt && mon_req_arg_int(req, "cpu-index", &cpu) && cpu != 0) {
        return err_set(err, -EINVAL,
                       "Parameter 'cpu-index' expects a CPU number");
    }
    /* QEMU 7.2 crashes on a negative size, and writes a pmemsave of any
     * size (unassigned memory reads 0): refuse both before opening */
    if (size < 0 || (!virt && (uint64_t)size > INFO_PMEMSAVE_MAX)) {
        return err_set(err, -EINVAL,
                       "Invalid addr 0x%016" PRIx64 "/size %" PRId64
                       " specified",
                       addr, size);
    }
    orig_addr = addr;
    orig_size = size;
    ret = save_open(filename, &f, err);
    if (ret < 0) {
        return ret;
    }
    while (size > 0) {
        size_t l = size > (int64_t)sizeof(buf) ? sizeof(buf) : (size_t)size;

        if (rv_machine_mem_read(m, addr, virt, buf, l) < 0) {
            if (virt) {
                ret = err_set(err, -EFAULT,
                              "Invalid addr 0x%016" PRIx64 "/size %" PRId64
                              " specified",
                              orig_addr, orig_size);
                goto out;
            }
            for (size_t i = 0; i < l; i++) {
                if (rv_machine_mem_read(m, addr + i, false, buf + i, 1) < 0) {
                    buf[i] = 0;
                }
            }
        }
        if (fwrite(buf, 1, l, f) != l) {
            ret = err_set(err, -EIO, "An IO error has occurred");
            goto out;
        }
        addr += l;
        size -= (int64_t)l;
    }
out:
    if (fclose(f) != 0 && ret == 0) {
        ret = err_set(err, -EIO, "An IO error has occurred");
    }
    return ret;
}

static int cmd_memsave(struct mon_req *req, struct err *err)
{
    return mem_save(req, true, err);
}

static int cmd_pmemsave(struct mon_req *req, struct err *err)
{
    return mem_save(req, false, err);
}

/* HMP `sum addr size`: QEMU's BSD checksum over 32-bit physical addresses;
 * bytes outside RAM and ROM count as 0. */
static int cmd_sum(struct mon_req *req, struct err *err)
{
    struct rv_machine *m = vm_mon_info_machine(req, err);
    int64_t s = 0, len = 0;
    uint32_t start, size, addr;
    uint16_t sum = 0;

    if (!m) {
        return -EAGAIN;
    }
    mon_req_arg_int(req, "start", &s);
    mon_req_arg_int(req, "size", &len);
    start = (uint32_t)s;
    size = (uint32_t)len;
    for (addr = start; addr < (uint32_t)(start + size);) {
        uint8_t buf[4096];
        uint32_t n = (uint32_t)(start + size) - addr;

        /* Page-aligned chunks: RAM and ROM start and end on pages, so a
         * page that does not read is wholly outside them. */
        if (n > sizeof(buf) - (addr & 4095)) {
            n = (uint32_t)sizeof(buf) - (addr & 4095);
        }
        if (rv_machine_mem_read(m, addr, false, buf, n) < 0) {
            memset(buf, 0, n);
        }
        for (uint32_t i = 0; i < n; i++) {
            sum = (uint16_t)((sum >> 1) | (sum << 15));
            sum = (uint16_t)(sum + buf[i]);
        }
        addr += n;
        if (addr == 0) {
            break;
        }
    }
    mon_req_printf(req, "%05d\n", sum);
    return 0;
}

/* ---- hardware the board lacks, and fixed answers ---- */

static int cmd_print_nothing(struct mon_req *req, struct err *err)
{
    return 0;
}

static int cmd_info_usb(struct mon_req *req, struct err *err)
{
    mon_req_printf(req, "Error: USB support not enabled\n");
    return 0;
}

static int cmd_info_usbhost(struct mon_req *req, struct err *err)
{
    /* QEMU built without libusb keeps the entry with no handler. */
    mon_req_printf(req, "Command \"info usbhost\" is not available.\n");
    return 0;
}

static int cmd_info_vnc(struct mon_req *req, struct err *err)
{
    mon_req_printf(req, "None\n");
    return 0;
}

static int cmd_info_numa(struct mon_req *req, struct err *err)
{
    mon_req_printf(req, "0 nodes\n");
    return 0;
}

static int cmd_query_balloon(struct mon_req *req, struct err *err)
{
    mon_req_set_class(req, MON_ERR_DEVICE_NOT_ACTIVE);
    return err_set(err, -ENODEV, "No balloon device has been activated");
}

static int cmd_system_wakeup(struct mon_req *req, struct err *err)
{
    return err_set(err, -ENOTSUP,
                   "wake-up from suspend is not supported by this guest");
}

static int cmd_boot_set(struct mon_req *req, struct err *err)
{
    return err_set(err, -ENOTSUP,
                   "no function defined to set boot device "
                   "list for this architecture");
}

/* HMP `singlestep [on|off]`: recorded only; the interpreter already
 * executes one instruction at a time as far as the guest can tell. */
static int cmd_singlestep(struct mon_req *req, struct err *err)
{
    struct vm_mon_info *info = vm_mon_info_of(req);
    const char *opt = mon_req_arg_str(req, "option");

    if (!opt || strcmp(opt, "on") == 0) {
        info->singlestep = true;
    } else if (strcmp(opt, "off") == 0) {
        info->singlestep = false;
    } else {
        mon_req_printf(req, "unexpected option %s\n", opt);
    }
    return 0;
}

/* ---- the board: info mtree, info qtree, info roms (from the device
 * table in machine-virt.c) ---- */

#define MTREE_ROWS_MAX 32

struct mtree_row {
    uint64_t base, size; /* size 0: the whole 64-bit space */
    const char *kind;    /* "rom", "ram", "i/o" */
    const char *name;
};

static int mtree_row_cmp(const void *a, const void *b)
{
    const struct mtree_row *x = a, *y = b;

    return x->base < y->base ? -1 : x->base > y->base;
}

/* The system memory regions in address order; returns their count. */
static size_t mtree_rows(struct rv_machine *m, struct mtree_row *rows)
{
    struct rv_machine_dev d;
    size_t n = 0;

    rows[n++] =
        (struct mtree_row){0x1000, 0xf000, "rom", "riscv_virt_board.mrom"};
    for (size_t i = 0; n < MTREE_ROWS_MAX - 1 && rv_machine_dev(i, &d); i++) {
        rows[n++] = (struct mtree_row){d.base, d.size, "i/o", d.mr_name};
    }
    rows[n++] = (struct mtree_row){0x80000000ull, rv_machine_ram_size(m), "ram",
                                   "riscv_virt_board.ram"};
    qsort(rows, n, sizeof(rows[0]), mtree_row_cmp);
    return n;
}

static void mtree_print(struct mon_req *req, int indent,
                        const struct mtree_row *r)
{
    mon_req_printf(req, "%*s%016" PRIx64 "-%016" PRIx64 " (prio 0, %s): %s\n",
                   indent, "", r->base,
                   r->size ? r->base + r->size - 1 : UINT64_MAX, r->kind,
                   r->name);
}

/* HMP `info mtree [-f]` (QEMU's mtree_info): the system and I/O address
 * spaces. rrvm has no PCIe, platform bus, fw_cfg or flash regions. */
static int cmd_info_mtree(struct mon_req *req, struct err *err)
{
    struct rv_machine *m = vm_mon_info_machine(req, err);
    struct mtree_row rows[MTREE_ROWS_MAX];
    const struct mtree_row sys = {0, 0, "i/o", "system"}; /* all 2^64 */
    const struct mtree_row io = {0, 0x10000, "i/o", "io"};
    bool flat = false;
    size_t n;

    if (!m) {
        return -EAGAIN;
    }
    mon_req_arg_bool(req, "flatview", &flat);
    n = mtree_rows(m, rows);
    if (flat) {
        mon_req_printf(req, "FlatView #0\n"
                            " AS \"memory\", root: system\n"
                            " AS \"cpu-memory-0\", root: system\n"
                            " Root memory region: system\n");
        for (size_t i = 0; i < n; i++) {
            mtree_print(req, 2, &rows[i]);
        }
        mon_req_printf(req, "\nFlatView #1\n"
                            " AS \"I/O\", root: io\n"
                            " Root memory region: io\n");
        mtree_print(req, 2, &io);
        mon_req_printf(req, "\n");
        return 0;
    }
    mon_req_printf(req, "address-space: cpu-memory-0\n"
                        "address-space: memory\n");
    mtree_print(req, 2, &sys);
    for (size_t i = 0; i < n; i++) {
        mtree_print(req, 4, &rows[i]);
    }
    mon_req_printf(req, "\naddress-space: I/O\n");
    mtree_print(req, 2, &io);
    mon_req_printf(req, "\n");
    return 0;
}

/* Print a multi-line property block, each line indented by @indent. */
static void qtree_props(struct mon_req *req, int indent, const char *props)
{
    while (*props) {
        const char *nl = strchr(props, '\n');
        int len = nl ? (int)(nl - props) : (int)strlen(props);

        mon_req_printf(req, "%*s%.*s\n", indent, "", len, props);
        props += len + (nl != NULL);
    }
}

/* HMP `info qtree` (QEMU's qdev tree): the devices newest first, as QEMU
 * lists a bus's children, then the hart array. */
static int cmd_info_qtree(struct mon_req *req, struct err *err)
{
    struct rv_machine *m = vm_mon_info_machine(req, err);
    struct rv_machine_dev d;
    size_t n = 0;

    if (!m) {
        return -EAGAIN;
    }
    while (rv_machine_dev(n, &d)) {
        n++;
    }
    mon_req_printf(req, "bus: main-system-bus\n  type System\n");
    for (size_t i = n; i-- > 0;) {
        rv_machine_dev(i, &d);
        mon_req_printf(req, "  dev: %s, id \"\"\n", d.type);
        qtree_props(req, 4, d.props);
        if (d.mmio_unmapped) {
            mon_req_printf(req, "    mmio ffffffffffffffff/%016" PRIx64 "\n",
                           d.size);
        } else {
            mon_req_printf(req, "    mmio %016" PRIx64 "/%016" PRIx64 "\n",
                           d.base, d.size);
        }
        if (!strcmp(d.type, "virtio-mmio")) {
            mon_req_printf(req,
                           "    bus: virtio-mmio-bus.%u\n"
                           "      type virtio-mmio-bus\n",
                           d.instance);
        }
    }
    mon_req_printf(req, "  dev: riscv.hart_array, id \"\"\n"
                        "    num-harts = 1 (0x1)\n"
                        "    hartid-base = 0 (0x0)\n"
                        "    cpu-type = \"rv64-riscv-cpu\"\n"
                        "    resetvec = 4096 (0x1000)\n");
    return 0;
}

static int rom_cmp(const void *a, const void *b)
{
    const struct rv_machine_rom *x = a, *y = b;

    return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

#define ROMS_MAX 32

/* HMP `info roms` (QEMU's hmp_info_roms): the blobs restored at reset. */
static int cmd_info_roms(struct mon_req *req, struct err *err)
{
    struct rv_machine *m = vm_mon_info_machine(req, err);
    struct rv_machine_rom roms[ROMS_MAX];
    size_t n = 0;

    if (!m) {
        return -EAGAIN;
    }
    while (n < ROMS_MAX && rv_machine_rom(m, n, &roms[n])) {
        n++;
    }
    qsort(roms, n, sizeof(roms[0]), rom_cmp);
    for (size_t i = 0; i < n; i++) {
        mon_req_printf(req,
                       "addr=%016" PRIx64 " size=0x%06" PRIx64
                       " mem=%s name=\"%s\"\n",
                       roms[i].gpa, roms[i].len, roms[i].in_ram ? "ram" : "rom",
                       roms[i].name);
    }
    return 0;
}

/* ---- the PLIC: info pic, info irq (rrvm extensions) ---- */

/* Print the set members of @set (1..RV_MACHINE_PIC_SOURCES-1) as ranges. */
static void pic_ranges(struct mon_req *req, const bool *set)
{
    bool any = false;

    for (unsigned i = 1; i < RV_MACHINE_PIC_SOURCES; i++) {
        unsigned j = i;

        if (!set[i]) {
            continue;
        }
        while (j + 1 < RV_MACHINE_PIC_SOURCES && set[j + 1]) {
            j++;
        }
        mon_req_printf(req, j > i ? " %u-%u" : " %u", i, j);
        any = true;
        i = j;
    }
    if (!any) {
        mon_req_printf(req, " none");
    }
}

/* HMP `info pic`: QEMU 7.2's riscv prints nothing; rrvm shows the PLIC's
 * contexts (threshold, enabled sources), the sources at each nonzero
 * priority, and a row for every source enabled somewhere or active. */
static int cmd_info_pic(struct mon_req *req, struct err *err)
{
    static const char *const ctx_mode[RV_MACHINE_PIC_CONTEXTS] = {"M", "S"};
    struct rv_machine *m = vm_mon_info_machine(req, err);
    struct rv_machine_pic p;
    bool header = false;

    if (!m) {
        return -EAGAIN;
    }
    rv_machine_pic(m, &p);
    mon_req_printf(req,
                   "riscv.sifive.plic at 0x000000000c000000: %u sources, "
                   "%u contexts\n",
                   RV_MACHINE_PIC_SOURCES - 1, RV_MACHINE_PIC_CONTEXTS);
    for (unsigned c = 0; c < RV_MACHINE_PIC_CONTEXTS; c++) {
        mon_req_printf(
            req,
            "context %u (hart 0 %s-mode): threshold %" PRIu32 ", enabled:", c,
            ctx_mode[c], p.threshold[c]);
        pic_ranges(req, p.enabled[c]);
        mon_req_printf(req, "\n");
    }
    for (uint32_t prio = 1; prio <= 7; prio++) {
        bool set[RV_MACHINE_PIC_SOURCES], any = false;

        for (unsigned i = 0; i < RV_MACHINE_PIC_SOURCES; i++) {
            set[i] = i > 0 && p.prio[i] == prio;
            any = any || set[i];
        }
        if (any) {
            mon_req_printf(req, "priority %" PRIu32 ":", prio);
            pic_ranges(req, set);
            mon_req_printf(req, "\n");
        }
    }
    for (unsigned i = 1; i < RV_MACHINE_PIC_SOURCES; i++) {
        bool en = false;

        for (unsigned c = 0; c < RV_MACHINE_PIC_CONTEXTS; c++) {
            en = en || p.enabled[c][i];
        }
        if (!en && !p.level[i] && !p.pending[i] && !p.claimed[i]) {
            continue;
        }
        if (!header) {
            mon_req_printf(req, "source priority line pending claimed\n");
            header = true;
        }
        mon_req_printf(req, "%6u %8" PRIu32 " %4d %7d %7d\n", i, p.prio[i],
                       p.level[i], p.pending[i], p.claimed[i]);
    }
    return 0;
}

/* HMP `info irq`: QEMU's InterruptStatsProvider format, from the PLIC's
 * counts of rising edges per source (host statistics, not guest state). */
static int cmd_info_irq(struct mon_req *req, struct err *err)
{
    struct rv_machine *m = vm_mon_info_machine(req, err);
    struct rv_machine_pic p;

    if (!m) {
        return -EAGAIN;
    }
    rv_machine_pic(m, &p);
    mon_req_printf(req, "IRQ statistics for riscv.sifive.plic:\n");
    for (unsigned i = 1; i < RV_MACHINE_PIC_SOURCES; i++) {
        if (p.raised[i]) {
            mon_req_printf(req, "%2u: %" PRIu64 "\n", i, p.raised[i]);
        }
    }
    return 0;
}

/* ---- gpa2hva, gpa2hpa ---- */

/* QEMU's gpa2hva(): the host address, or NULL with its message printed. */
static void *gpa_host(struct mon_req *req, struct rv_machine *m, uint64_t gpa,
                      const char **region)
{
    struct rv_machine_dev d;
    void *hva = rv_machine_gpa2hva(m, gpa, region);

    if (hva) {
        return hva;
    }
    for (size_t i = 0; rv_machine_dev(i, &d); i++) {
        if (gpa >= d.base && gpa - d.base < d.size) {
            mon_req_printf(req, "Memory at address 0x%" PRIx64 " is not RAM\n",
                           gpa);
            return NULL;
        }
    }
    mon_req_printf(req, "No memory is mapped at address 0x%" PRIx64 "\n", gpa);
    return NULL;
}

/* HMP `gpa2hva addr` (QEMU's hmp_gpa2hva). */
static int cmd_gpa2hva(struct mon_req *req, struct err *err)
{
    struct rv_machine *m = vm_mon_info_machine(req, err);
    int64_t addr = 0;
    const char *region;
    void *hva;

    if (!m) {
        return -EAGAIN;
    }
    mon_req_arg_int(req, "addr", &addr);
    hva = gpa_host(req, m, (uint64_t)addr, &region);
    if (hva) {
        mon_req_printf(req,
                       "Host virtual address for 0x%" PRIx64 " (%s) is %p\n",
                       (uint64_t)addr, region, hva);
    }
    return 0;
}

/*
 * The host-physical address of @ptr through /proc/self/pagemap (QEMU's
 * vtop()). Like QEMU, adds 0 atomically to the byte first so that a
 * copy-on-write page gets its own frame; the byte keeps its value. Returns
 * 0 and *@pa, or -errno with QEMU's message printed.
 */
static int host_vtop(struct mon_req *req, void *ptr, uint64_t *pa)
{
    uintptr_t addr = (uintptr_t)ptr;
    uintptr_t pagesize = (uintptr_t)sysconf(_SC_PAGESIZE);
    off_t offset = (off_t)(addr / pagesize * sizeof(uint64_t));
    uint64_t pinfo;
    int fd, ret = 0;

    fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ret = -errno;
        mon_req_printf(req, "Cannot open /proc/self/pagemap: %s\n",
                       strerror(errno));
        return ret;
    }
    __atomic_fetch_add((uint8_t *)ptr, 0, __ATOMIC_SEQ_CST);
    if (pread(fd, &pinfo, sizeof(pinfo), offset) != sizeof(pinfo)) {
        ret = errno ? -errno : -EIO;
        mon_req_printf(req, "Cannot read pagemap: %s\n", strerror(-ret));
    } else if (!(pinfo & (1ull << 63))) {
        ret = -EFAULT;
        mon_req_printf(req, "Page not present\n");
    } else {
        *pa = (pinfo & 0x007fffffffffffffull) * pagesize |
              (addr & (pagesize - 1));
    }
    close(fd);
    return ret;
}

/* HMP `gpa2hpa addr` (QEMU's hmp_gpa2hpa). */
static int cmd_gpa2hpa(struct mon_req *req, struct err *err)
{
    struct rv_machine *m = vm_mon_info_machine(req, err);
    int64_t addr = 0;
    const char *region;
    uint64_t hpa = 0;
    void *hva;

    if (!m) {
        return -EAGAIN;
    }
    mon_req_arg_int(req, "addr", &addr);
    hva = gpa_host(req, m, (uint64_t)addr, &region);
    if (hva && host_vtop(req, hva, &hpa) == 0) {
        mon_req_printf(req,
                       "Host physical address for 0x%" PRIx64
                       " (%s) is 0x%" PRIx64 "\n",
                       (uint64_t)addr, region, hpa);
    }
    return 0;
}

/* ---- log, logfile ---- */

/* The monitor's log file receiver. */
static void log_to_file(void *opaque, const char *msg)
{
    struct vm_mon_info *info = opaque;

    if (info->log_file) {
        fputs(msg, info->log_file);
        fputc('\n', info->log_file);
    }
}

static void log_close(struct vm_mon_info *info)
{
    if (info->log_file) {
        fclose(info->log_file);
        info->log_file = NULL;
    }
}

/* Apply @mask with the current receiver: the monitor's file once
 * `logfile` named one (QEMU 7.2 opens it at once, whatever the items, and
 * retries a name that failed at each `log`) or the program's. A file that
 * cannot open gets QEMU's message and changes nothing (0). Returns 0, or
 * -ENOMEM with @err set. */
static int log_apply(struct mon_req *req, struct vm_mon_info *info,
                     struct rv_machine *m, unsigned mask, struct err *err)
{
    rv_log_fn *fn;
    void *opaque;

    if (!info->log_saved) {
        unsigned old;

        rv_machine_get_log(m, &old, &info->log_orig_fn, &info->log_orig_opaque);
        info->log_saved = true;
    }
    fn = info->log_orig_fn;
    opaque = info->log_orig_opaque;
    if (info->log_name) {
        if (!info->log_file) {
            info->log_file =
                fopen(info->log_name, info->log_append ? "a" : "w");
            if (!info->log_file) {
                int e = errno;

                mon_req_printf(req, "Error opening logfile %s: %s\n",
                               info->log_name, strerror(e));
                return 0;
            }
            info->log_append = true;
        }
        fn = log_to_file;
        opaque = info;
    }
    if (fn != log_to_file) {
        log_close(info);
    }
    return rv_machine_set_log(m, mask, fn, opaque, err);
}

/* HMP `log item1[,...]` (QEMU's hmp_log). */
static int cmd_log(struct mon_req *req, struct err *err)
{
    struct rv_machine *m = vm_mon_info_machine(req, err);
    const char *items = mon_req_arg_str(req, "items");
    unsigned mask = 0;

    if (!m) {
        return -EAGAIN;
    }
    /* no items: `help log` (MON_CMD_HELP_RUNS) */
    if (!items ||
        (strcmp(items, "none") && rv_log_parse(items, &mask, NULL, NULL) < 0)) {
        size_t n;
        const struct rv_log_item *it = rv_log_items(&n);

        mon_req_printf(req, "Log items (comma separated):\n");
        mon_req_printf(req, "%-15s %s\n", "none", "remove all logs");
        for (size_t i = 0; i < n; i++) {
            mon_req_printf(req, "%-15s %s\n", it[i].name, it[i].help);
        }
        return 0;
    }
    return log_apply(req, vm_mon_info_of(req), m, mask, err);
}

/* HMP `logfile filename` (QEMU's hmp_logfile). */
static int cmd_logfile(struct mon_req *req, struct err *err)
{
    struct vm_mon_info *info = vm_mon_info_of(req);
    struct rv_machine *m = vm_mon_info_machine(req, err);
    char *name;
    unsigned mask = 0;
    rv_log_fn *fn;
    void *opaque;

    if (!m) {
        return -EAGAIN;
    }
    name = mem_strdup(mon_req_arg_str(req, "filename"));
    if (!name) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    rv_machine_get_log(m, &mask, &fn, &opaque);
    log_close(info);
    mem_free(info->log_name);
    info->log_name = name;
    info->log_append = false;
    return log_apply(req, info, m, mask, err);
}

/* ---- the table ---- */

static const struct mon_cmd info_cmds[] = {
    {NULL, "info cpus", NULL, NULL, NULL, NULL, "show infos for each CPU",
     cmd_info_cpus, NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "cpu", NULL, NULL, "index:i", "index", "set the default CPU",
     cmd_cpu, NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "print|p", NULL, NULL, "fmt:/,val:l", "/fmt expr",
     "print expression value (use $reg for CPU register access)", cmd_print,
     NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "info mem", NULL, NULL, NULL, NULL,
     "show the active virtual memory mappings", cmd_info_mem, NULL,
     MON_CMD_HMP_ONLY, NULL},
    {NULL, "gva2gpa", NULL, NULL, "addr:l", "addr",
     "print the guest physical address corresponding to a guest virtual "
     "address",
     cmd_gva2gpa, NULL, MON_CMD_HMP_ONLY, NULL},
    {"memsave", "memsave", "{val:int,size:int,filename:str,*cpu-index:int}",
     NULL, "val:l,size:i,filename:s", "addr size file",
     "save to disk virtual memory dump starting at 'addr' of size 'size'",
     cmd_memsave, NULL, 0, NULL},
    {"pmemsave", "pmemsave", "{val:int,size:int,filename:str}", NULL,
     "val:l,size:i,filename:s", "addr size file",
     "save to disk physical memory dump starting at 'addr' of size 'size'",
     cmd_pmemsave, NULL, 0, NULL},
    {NULL, "sum", NULL, NULL, "start:i,size:i", "addr size",
     "compute the checksum of a memory region", cmd_sum, NULL, MON_CMD_HMP_ONLY,
     NULL},
    {NULL, "info pci", NULL, NULL, NULL, NULL, "show PCI info",
     cmd_print_nothing, NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "info usb", NULL, NULL, NULL, NULL, "show guest USB devices",
     cmd_info_usb, NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "info usbhost", NULL, NULL, NULL, NULL, "show host USB devices",
     cmd_info_usbhost, NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "info vnc", NULL, NULL, NULL, NULL, "show the vnc server status",
     cmd_info_vnc, NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "info numa", NULL, NULL, NULL, NULL, "show NUMA information",
     cmd_info_numa, NULL, MON_CMD_HMP_ONLY, NULL},
    {"query-balloon", "info balloon", NULL, "{actual:int}", NULL, NULL,
     "show balloon information", cmd_query_balloon, NULL, 0, NULL},
    {NULL, "info network", NULL, NULL, NULL, NULL, "show the network state",
     cmd_print_nothing, NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "info irq", NULL, NULL, NULL, NULL,
     "show the interrupts statistics (if available)", cmd_info_irq, NULL,
     MON_CMD_HMP_ONLY, NULL},
    {NULL, "info pic", NULL, NULL, NULL, NULL, "show PIC state", cmd_info_pic,
     NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "info mtree", NULL, NULL, "flatview:-f", "[-f]",
     "show memory tree (-f: dump flat view for address spaces)", cmd_info_mtree,
     NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "info qtree", NULL, NULL, NULL, NULL, "show device tree",
     cmd_info_qtree, NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "info roms", NULL, NULL, NULL, NULL, "show roms", cmd_info_roms,
     NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "gpa2hva", NULL, NULL, "addr:l", "addr",
     "print the host virtual address corresponding to a guest physical "
     "address",
     cmd_gpa2hva, NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "gpa2hpa", NULL, NULL, "addr:l", "addr",
     "print the host physical address corresponding to a guest physical "
     "address",
     cmd_gpa2hpa, NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "log", NULL, NULL, "items:s", "item1[,...]",
     "activate logging of the specified items", cmd_log, NULL,
     MON_CMD_HMP_ONLY | MON_CMD_HELP_RUNS, NULL},
    {NULL, "logfile", NULL, NULL, "filename:F", "filename",
     "output logs to 'filename'", cmd_logfile, NULL, MON_CMD_HMP_ONLY, NULL},
    {"system_wakeup", "system_wakeup", NULL, NULL, NULL, NULL,
     "wakeup guest from suspend", cmd_system_wakeup, NULL, 0, NULL},
    {NULL, "boot_set", NULL, NULL, "bootdevice:s", "bootdevice",
     "define new values for the boot device list", cmd_boot_set, NULL,
     MON_CMD_HMP_ONLY, NULL},
    {NULL, "singlestep", NULL, NULL, "option:s?", "[on|off]",
     "run emulation in singlestep mode or switch to normal mode",
     cmd_singlestep, NULL, MON_CMD_HMP_ONLY, NULL},
};

/* ---- lifecycle ---- */

int vm_mon_info_new(struct mon_config *mc, struct rv_machine *const *m,
                    struct chr_ctx *chrs, struct mon **mon_out,
                    struct vm_mon_info **out, struct err *err)
{
    struct vm_mon_info *info;
    struct mon *mon = NULL;
    int ret;

    info = mem_calloc(1, sizeof(*info));
    if (info) {
        info->cmds = mem_alloc(sizeof(info_cmds));
    }
    if (!info || !info->cmds) {
        vm_mon_info_free(info);
        return err_set(err, -ENOMEM, "out of memory");
    }
    info->m = m;
    info->chrs = chrs;
    memcpy(info->cmds, info_cmds, sizeof(info_cmds));
    for (size_t i = 0; i < ARRAY_LEN(info_cmds); i++) {
        info->cmds[i].opaque = info;
    }
    mc->reg_fn = info_reg;
    mc->reg_opaque = info;
    ret = mon_new(mc, &mon, err);
    if (ret == 0) {
        ret = mon_cmd_register(mon, info->cmds, ARRAY_LEN(info_cmds), err);
    }
    if (ret == 0) {
        ret = vm_mon_chr_register(mon, info, err);
    }
    if (ret < 0) {
        mon_free(mon);
        vm_mon_info_free(info);
        return ret;
    }
    *mon_out = mon;
    *out = info;
    return 0;
}

bool vm_mon_info_singlestep(const struct vm_mon_info *info)
{
    return info && info->singlestep;
}

void vm_mon_info_free(struct vm_mon_info *info)
{
    if (!info) {
        return;
    }
    if (info->log_file && *info->m) {
        /* The machine outlives the monitor: give it back its receiver. */
        unsigned mask;
        rv_log_fn *fn;
        void *opaque;

        rv_machine_get_log(*info->m, &mask, &fn, &opaque);
        rv_machine_set_log(*info->m, mask, info->log_orig_fn,
                           info->log_orig_opaque, NULL);
    }
    log_close(info);
    mem_free(info->log_name);
    mem_free(info->cmds);
    mem_free(info->chr_cmds);
    mem_free(info);
}
