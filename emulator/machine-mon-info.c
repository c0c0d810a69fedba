/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-mon-info.c - the monitor's inspection commands (info cpus,
 * info mem, p, cpu, gva2gpa, memsave, pmemsave, sum, `$reg` in expressions),
 * the info commands for hardware the board lacks, and sendkey, singlestep,
 * system_wakeup, boot_set, chardev-remove. None of them changes the guest
 * except sendkey (serial input) and chardev-remove.
 */
#include "emulator/machine-mon-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/opts.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* memsave/pmemsave copy through a buffer of QEMU's size. */
#define INFO_SAVE_CHUNK 1024
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

struct vm_mon_info {
    struct rv_machine *const *m; /* borrowed: NULL until the machine exists */
    struct chr_ctx *chrs;        /* borrowed; NULL: no chardevs */
    bool singlestep;             /* HMP `singlestep`; no effect on execution */
    struct mon_cmd *cmds;        /* info_cmds with opaque = this */
};

static struct vm_mon_info *req_info(struct mon_req *req)
{
    return mon_req_opaque(req);
}

static struct rv_machine *req_machine(struct mon_req *req, struct err *err)
{
    struct rv_machine *m = *req_info(req)->m;

    if (!m) {
        err_set(err, -EAGAIN, "The machine is not ready");
    }
    return m;
}

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
    struct rv_machine *m = req_machine(req, err);
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

/*
 * Translate @va for a supervisor load, without side effects. Returns 0
 * and *@pa, or -EFAULT. Identity when satp is Bare. The hart's privilege
 * mode is not visible here: in M-mode with satp set, this walks anyway.
 */
static int gva_translate(struct rv_machine *m, uint64_t va, uint64_t *pa)
{
    uint64_t satp = 0, mstatus = 0, base, pte = 0;
    unsigned mode;
    int levels, va_bits, level;

    reg_lookup(m, "satp", &satp);
    reg_lookup(m, "mstatus", &mstatus);
    mode = (unsigned)(satp >> 60);
    levels = satp_levels(mode);
    if (!levels) {
        *pa = va;
        return 0;
    }
    va_bits = PGSHIFT + 9 * levels;
    if (addr_canonical(va_bits, va & ((1ull << va_bits) - 1)) != va) {
        return -EFAULT;
    }
    base = (satp & SATP_PPN_MASK) << PGSHIFT;
    for (level = levels - 1; level >= 0; level--) {
        unsigned idx = (unsigned)(va >> (PGSHIFT + 9 * level)) & 0x1ff;
        uint8_t b[8];

        if (rv_machine_mem_read(m, base + 8ull * idx, false, b, 8) < 0) {
            return -EFAULT;
        }
        pte = 0;
        for (int i = 7; i >= 0; i--) {
            pte = pte << 8 | b[i];
        }
        if (!(pte & PTE_V) || (pte & (PTE_R | PTE_W)) == PTE_W) {
            return -EFAULT;
        }
        if (pte & (PTE_R | PTE_X)) {
            break;
        }
        base = ((pte >> PTE_PPN_SHIFT) & SATP_PPN_MASK) << PGSHIFT;
    }
    if (level < 0) {
        return -EFAULT;
    }
    if (!(pte & PTE_R) && !((pte & PTE_X) && (mstatus & MSTATUS_MXR))) {
        return -EFAULT;
    }
    if ((pte & PTE_U) && !(mstatus & MSTATUS_SUM)) {
        return -EFAULT;
    }
    if (level > 0 &&
        ((pte >> PTE_PPN_SHIFT) & ((1ull << (9 * level)) - 1)) != 0) {
        return -EFAULT;
    }
    {
        uint64_t off = (1ull << (PGSHIFT + 9 * level)) - 1;

        *pa = ((((pte >> PTE_PPN_SHIFT) & SATP_PPN_MASK) << PGSHIFT) & ~off) |
              (va & off);
    }
    return 0;
}

/* Whether the 4 KiB page at @pa reads as @want (RAM and ROM only). */
static bool page_equals(struct rv_machine *m, uint64_t pa, const uint8_t *want)
{
    uint8_t buf[4096];

    return rv_machine_mem_read(m, pa, false, buf, sizeof(buf)) == 0 &&
           memcmp(buf, want, sizeof(buf)) == 0;
}

/*
 * The guest-physical page of virtual page @va as the hart would translate
 * it now. gva_translate() cannot see the privilege mode (in M-mode there is
 * no translation whatever satp says), so the hart's own side-effect-free
 * virtual read decides between the walk and the identity: the candidate
 * whose bytes it returned. A page it cannot read (a device, or a fault)
 * keeps the walk's answer. Returns 0 and *@pa, or -EFAULT (unmapped).
 */
static int gva_page(struct rv_machine *m, uint64_t va, uint64_t *pa)
{
    uint8_t seen[4096];
    uint64_t walked = 0;
    bool walk_ok = gva_translate(m, va, &walked) == 0;

    if (rv_machine_mem_read(m, va, true, seen, sizeof(seen)) < 0) {
        *pa = walked;
        return walk_ok ? 0 : -EFAULT;
    }
    if (walk_ok && walked != va && page_equals(m, walked, seen)) {
        *pa = walked;
        return 0;
    }
    *pa = page_equals(m, va, seen) || !walk_ok ? va : walked;
    return 0;
}

/* HMP `gva2gpa addr` (QEMU's hmp_gva2gpa). */
static int cmd_gva2gpa(struct mon_req *req, struct err *err)
{
    struct rv_machine *m = req_machine(req, err);
    int64_t addr = 0;
    uint64_t gpa;

    if (!m) {
        return -EAGAIN;
    }
    mon_req_arg_int(req, "addr", &addr);
    if (gva_page(m, (uint64_t)addr & ~4095ull, &gpa) < 0) {
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
    struct rv_machine *m = req_machine(req, err);
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
    struct rv_machine *m = req_machine(req, err);
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
    struct vm_mon_info *info = req_info(req);
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

/* ---- sendkey: keys as the bytes a terminal sends, into the serial port */

struct key {
    const char *name;    /* QEMU's QKeyCode name */
    const char *plain;   /* bytes sent; NULL: none */
    const char *shifted; /* with shift; NULL: as plain */
};

static const struct key keys[] = {
    {"1", "1", "!"},
    {"2", "2", "@"},
    {"3", "3", "#"},
    {"4", "4", "$"},
    {"5", "5", "%"},
    {"6", "6", "^"},
    {"7", "7", "&"},
    {"8", "8", "*"},
    {"9", "9", "("},
    {"0", "0", ")"},
    {"minus", "-", "_"},
    {"equal", "=", "+"},
    {"backspace", "\x7f", NULL},
    {"tab", "\t", NULL},
    {"bracket_left", "[", "{"},
    {"bracket_right", "]", "}"},
    {"ret", "\r", NULL},
    {"kp_enter", "\r", NULL},
    {"semicolon", ";", ":"},
    {"apostrophe", "'", "\""},
    {"grave_accent", "`", "~"},
    {"backslash", "\\", "|"},
    {"less", "<", ">"},
    {"comma", ",", "<"},
    {"dot", ".", ">"},
    {"slash", "/", "?"},
    {"asterisk", "*", NULL},
    {"kp_multiply", "*", NULL},
    {"kp_add", "+", NULL},
    {"kp_subtract", "-", NULL},
    {"kp_divide", "/", NULL},
    {"kp_decimal", ".", NULL},
    {"kp_0", "0", NULL},
    {"kp_1", "1", NULL},
    {"kp_2", "2", NULL},
    {"kp_3", "3", NULL},
    {"kp_4", "4", NULL},
    {"kp_5", "5", NULL},
    {"kp_6", "6", NULL},
    {"kp_7", "7", NULL},
    {"kp_8", "8", NULL},
    {"kp_9", "9", NULL},
    {"spc", " ", NULL},
    {"esc", "\x1b", NULL},
    {"f1", "\x1bOP", NULL},
    {"f2", "\x1bOQ", NULL},
    {"f3", "\x1bOR", NULL},
    {"f4", "\x1bOS", NULL},
    {"f5", "\x1b[15~", NULL},
    {"f6", "\x1b[17~", NULL},
    {"f7", "\x1b[18~", NULL},
    {"f8", "\x1b[19~", NULL},
    {"f9", "\x1b[20~", NULL},
    {"f10", "\x1b[21~", NULL},
    {"f11", "\x1b[23~", NULL},
    {"f12", "\x1b[24~", NULL},
    {"up", "\x1b[A", NULL},
    {"down", "\x1b[B", NULL},
    {"right", "\x1b[C", NULL},
    {"left", "\x1b[D", NULL},
    {"home", "\x1b[H", NULL},
    {"end", "\x1b[F", NULL},
    {"insert", "\x1b[2~", NULL},
    {"delete", "\x1b[3~", NULL},
    {"pgup", "\x1b[5~", NULL},
    {"pgdn", "\x1b[6~", NULL},
    /* keys a terminal sends nothing for */
    {"caps_lock", NULL, NULL},
    {"num_lock", NULL, NULL},
    {"scroll_lock", NULL, NULL},
    {"print", NULL, NULL},
    {"sysrq", NULL, NULL},
    {"pause", NULL, NULL},
    {"menu", NULL, NULL},
    {"meta_l", NULL, NULL},
    {"meta_r", NULL, NULL},
};

#define MOD_SHIFT (1u << 0)
#define MOD_CTRL  (1u << 1)
#define MOD_ALT   (1u << 2)
/* The longest terminal sequence of one key, with an ESC for alt. */
#define KEY_BYTES_MAX 8

static unsigned key_modifier(const char *name)
{
    if (!strcmp(name, "shift") || !strcmp(name, "shift_r")) {
        return MOD_SHIFT;
    }
    if (!strcmp(name, "ctrl") || !strcmp(name, "ctrl_r")) {
        return MOD_CTRL;
    }
    if (!strcmp(name, "alt") || !strcmp(name, "alt_r") ||
        !strcmp(name, "altgr") || !strcmp(name, "altgr_r")) {
        return MOD_ALT;
    }
    return 0;
}

/* The bytes of key @name under @mods into @dst; returns their count, or -1
 * if @name is no key. */
static int key_bytes(const char *name, unsigned mods, char *dst)
{
    const char *s = NULL;
    char one[2] = {0, 0};
    int n = 0;

    if (name[0] >= 'a' && name[0] <= 'z' && name[1] == '\0') {
        one[0] = (char)((mods & MOD_SHIFT) ? name[0] - 'a' + 'A' : name[0]);
        s = one;
    } else {
        size_t i;

        for (i = 0; i < ARRAY_LEN(keys); i++) {
            if (!strcmp(keys[i].name, name)) {
                break;
            }
        }
        if (i == ARRAY_LEN(keys)) {
            return -1;
        }
        s = (mods & MOD_SHIFT) && keys[i].shifted ? keys[i].shifted
                                                  : keys[i].plain;
        if (!s) {
            return 0;
        }
    }
    if (mods & MOD_ALT) {
        dst[n++] = '\x1b';
    }
    if ((mods & MOD_CTRL) && s[0] && !s[1]) {
        char c = s[0];

        if (c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
        }
        if (c == ' ' || c == '2' || c == '@') {
            c = '@';
        }
        if (c >= '@' && c <= '_') {
            dst[n++] = (char)(c - '@');
            return n;
        }
    }
    memcpy(dst + n, s, strlen(s));
    return n + (int)strlen(s);
}

/*
 * HMP `sendkey keys [hold_ms]`. QEMU presses the keys of "ctrl-alt-f1"
 * together; with no keyboard, rrvm sends what a terminal would for that
 * chord to the serial port, through the input hook typed input takes.
 */
static int cmd_sendkey(struct mon_req *req, struct err *err)
{
    const char *spec = mon_req_arg_str(req, "keys");
    struct rv_machine *m = req_machine(req, err);
    char out[64 * KEY_BYTES_MAX];
    char name[32];
    unsigned mods = 0;
    size_t len = 0;
    const char *p;

    if (!m) {
        return -EAGAIN;
    }
    if (!spec) {
        spec = "";
    }
    for (p = spec; *p;) {
        size_t n = strcspn(p, "-");

        if (n == 0 || n >= sizeof(name)) {
            snprintf(name, sizeof(name), "%.*s", (int)n, p);
            mon_req_printf(req, "invalid parameter: %s\n", name);
            return 0;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        p += n + (p[n] == '-');
        if (key_modifier(name)) {
            mods |= key_modifier(name);
            continue;
        }
        if (len + KEY_BYTES_MAX > sizeof(out)) {
            mon_req_printf(req, "too many keys\n");
            return 0;
        }
        {
            int k = key_bytes(name, mods, out + len);

            if (k < 0) {
                mon_req_printf(req, "invalid parameter: %s\n", name);
                return 0;
            }
            len += (size_t)k;
        }
    }
    if (len > rv_machine_serial_room(m)) {
        len = rv_machine_serial_room(m);
    }
    rv_machine_serial_input(m, (const uint8_t *)out, len);
    return 0;
}

/* ---- chardevs ---- */

static int cmd_chardev_remove(struct mon_req *req, struct err *err)
{
    struct vm_mon_info *info = req_info(req);
    const char *id = mon_req_arg_str(req, "id");

    if (!info->chrs || !id || !chr_find(info->chrs, id)) {
        return err_set(err, -ENOENT, "Chardev '%s' not found", id ? id : "");
    }
    return chr_remove(info->chrs, id, err);
}

/* Room for a -chardev option string built from chardev-add's backend. */
#define INFO_CHR_OPTS_MAX 1024

/* Append ",@key=@val" to @dst, doubling commas as QemuOpts needs. */
static int opt_add(char *dst, size_t cap, size_t *len, const char *key,
                   const char *val)
{
    int n = snprintf(dst + *len, cap - *len, ",%s=", key);

    if (n < 0 || (size_t)n >= cap - *len) {
        return -ERANGE;
    }
    *len += (size_t)n;
    for (; *val; val++) {
        size_t need = *val == ',' ? 2 : 1;

        if (*len + need >= cap) {
            return -ERANGE;
        }
        dst[(*len)++] = *val;
        if (*val == ',') {
            dst[(*len)++] = ',';
        }
    }
    dst[*len] = '\0';
    return 0;
}

/* A string, boolean or integer member of @data as an option value. */
static int opt_member(char *dst, size_t cap, size_t *len,
                      const struct mon_json *data, const char *member,
                      const char *key)
{
    const struct mon_json *v = mon_json_object_get(data, member);
    char num[24];
    int64_t i;
    bool b;

    if (!v) {
        return 0;
    }
    if (mon_json_str_get(v)) {
        return opt_add(dst, cap, len, key, mon_json_str_get(v));
    }
    if (mon_json_bool_get(v, &b)) {
        return opt_add(dst, cap, len, key, b ? "on" : "off");
    }
    if (mon_json_int_get(v, &i)) {
        snprintf(num, sizeof(num), "%" PRId64, i);
        return opt_add(dst, cap, len, key, num);
    }
    return -EINVAL;
}

/*
 * The -chardev option string of QMP's ChardevBackend @backend for @id:
 * {"type": "file", "data": {"out": P, "append": B}} is "file,id=ID,path=P,
 * append=B", and so on for null, stdio, pty, vc, pipe, serial and socket
 * ({"addr": {"type": "unix"|"inet", "data": {...}}, "server", "wait",
 * "telnet", "nodelay", "reconnect"}).
 */
static int backend_opts(const struct mon_json *backend, const char *id,
                        char *dst, size_t cap, struct err *err)
{
    const char *type = mon_json_str_get(mon_json_object_get(backend, "type"));
    const struct mon_json *data = mon_json_object_get(backend, "data");
    size_t len = 0;
    int ret;

    static const char *const kinds[] = {
        "file",     "serial",    "parallel",     "pipe",  "socket",
        "udp",      "pty",       "null",         "mux",   "msmouse",
        "wctablet", "braille",   "testdev",      "stdio", "console",
        "spicevmc", "spiceport", "qemu-vdagent", "dbus",  "vc",
        "ringbuf",  "memory",
    };
    size_t k;

    if (!type || mon_json_type(data) != MON_JSON_OBJECT) {
        return err_set(err, -EINVAL, "Parameter 'backend' is missing");
    }
    for (k = 0; k < ARRAY_LEN(kinds) && strcmp(kinds[k], type); k++) {
    }
    if (k == ARRAY_LEN(kinds)) {
        return err_set(err, -EINVAL,
                       "Parameter 'type' does not accept value '%s'", type);
    }
    ret = snprintf(dst, cap, "%s", type) >= (int)cap ? -ERANGE : 0;
    len = strlen(dst);
    ret = ret ? ret : opt_add(dst, cap, &len, "id", id);
    if (!strcmp(type, "file")) {
        ret = ret ? ret : opt_member(dst, cap, &len, data, "out", "path");
        ret = ret ? ret : opt_member(dst, cap, &len, data, "append", "append");
    } else if (!strcmp(type, "pipe") || !strcmp(type, "serial")) {
        ret = ret ? ret : opt_member(dst, cap, &len, data, "device", "path");
    } else if (!strcmp(type, "socket")) {
        const struct mon_json *addr = mon_json_object_get(data, "addr");
        const struct mon_json *ad = mon_json_object_get(addr, "data");
        const char *at = mon_json_str_get(mon_json_object_get(addr, "type"));
        bool server = true;

        if (!at || (strcmp(at, "unix") && strcmp(at, "inet"))) {
            return err_set(err, -EINVAL, "Parameter 'addr' is missing");
        }
        ret = ret ? ret : opt_member(dst, cap, &len, ad, "path", "path");
        ret = ret ? ret : opt_member(dst, cap, &len, ad, "host", "host");
        ret = ret ? ret : opt_member(dst, cap, &len, ad, "port", "port");
        mon_json_bool_get(mon_json_object_get(data, "server"), &server);
        ret = ret ? ret
                  : opt_add(dst, cap, &len, "server", server ? "on" : "off");
        if (server && !mon_json_object_get(data, "wait")) {
            ret = ret ? ret : opt_add(dst, cap, &len, "wait", "off");
        }
        ret = ret ? ret : opt_member(dst, cap, &len, data, "wait", "wait");
        ret = ret ? ret : opt_member(dst, cap, &len, data, "telnet", "telnet");
        ret =
            ret ? ret : opt_member(dst, cap, &len, data, "nodelay", "nodelay");
        ret = ret ? ret
                  : opt_member(dst, cap, &len, data, "reconnect", "reconnect");
    } else if (strcmp(type, "null") && strcmp(type, "stdio") &&
               strcmp(type, "pty") && strcmp(type, "vc")) {
        return err_set(err, -ENOTSUP, "'%s' is not a valid char driver name",
                       type);
    }
    if (ret < 0) {
        return err_set(err, ret, "Invalid parameter for chardev '%s'", id);
    }
    return 0;
}

/* chardev-add's informational lines ("char device redirected to ...") go
 * to the HMP monitor that asked, and nowhere for QMP, as in QEMU. */
static void chr_add_info(void *opaque, bool located, const char *line)
{
    mon_req_printf(opaque, "%s\n", line);
}

static int chr_add(struct mon_req *req, const char *params, struct err *err)
{
    struct vm_mon_info *info = req_info(req);
    struct opts *o = NULL;
    const char *id;
    struct chr *c;
    int ret;

    if (!info->chrs) {
        return err_set(err, -ENOTSUP, "no chardev layer");
    }
    ret = opts_parse(chr_opts_list(), params, 0, &o, err);
    if (ret < 0) {
        return ret;
    }
    id = opts_get(o, "id");
    if (id && chr_find(info->chrs, id)) {
        ret = err_set(err, -EEXIST,
                      "attempt to add duplicate property '%s' to object "
                      "(type 'container')",
                      id);
    } else {
        ret = chr_new_opts(info->chrs, o, chr_add_info, req, &c, err);
    }
    opts_free(o);
    return ret;
}

/* QMP chardev-add {id, backend}: returns {} or {"pty": path}. */
static int cmd_chardev_add(struct mon_req *req, struct err *err)
{
    struct vm_mon_info *info = req_info(req);
    const char *id = mon_req_arg_str(req, "id");
    char params[INFO_CHR_OPTS_MAX];
    struct mon_json *r;
    const char *fn;
    int ret;

    if (id && info->chrs && chr_find(info->chrs, id)) {
        return err_set(err, -EEXIST, "Chardev with id '%s' already exists", id);
    }
    ret = backend_opts(mon_json_object_get(mon_req_args(req), "backend"),
                       id ? id : "", params, sizeof(params), err);
    if (ret == 0) {
        ret = chr_add(req, params, err);
        if (ret < 0) {
            err_prefix(err, "Failed to add chardev '%s'", id ? id : "");
        }
    }
    if (ret < 0) {
        return ret;
    }
    r = mon_json_object_new();
    fn = chr_filename(chr_find(info->chrs, id));
    if (r && fn && !strncmp(fn, "pty:", 4) &&
        mon_json_object_set_take(r, "pty", mon_json_str_new(fn + 4)) < 0) {
        r = NULL;
    }
    if (!r) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    mon_req_return_take(req, r);
    return 0;
}

/* HMP `chardev-add args`: the -chardev syntax; errors as "Error: ...". */
static int cmd_hmp_chardev_add(struct mon_req *req, struct err *err)
{
    const char *args = mon_req_arg_str(req, "args");
    struct err e = {0};

    struct opts *o = NULL;

    /* QEMU's qemu_opts_parse_noisily() reports, then HMP generalises. */
    if (opts_parse(chr_opts_list(), args ? args : "", 0, &o, &e) < 0) {
        mon_req_printf(req, "%s\nError: Parsing chardev args failed\n", e.msg);
        return 0;
    }
    opts_free(o);
    if (chr_add(req, args ? args : "", &e) < 0) {
        mon_req_printf(req, "Error: %s\n", e.msg);
    }
    return 0;
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
     "show the interrupts statistics (if available)", cmd_print_nothing, NULL,
     MON_CMD_HMP_ONLY, NULL},
    {NULL, "info pic", NULL, NULL, NULL, NULL, "show PIC state",
     cmd_print_nothing, NULL, MON_CMD_HMP_ONLY, NULL},
    {"system_wakeup", "system_wakeup", NULL, NULL, NULL, NULL,
     "wakeup guest from suspend", cmd_system_wakeup, NULL, 0, NULL},
    {NULL, "boot_set", NULL, NULL, "bootdevice:s", "bootdevice",
     "define new values for the boot device list", cmd_boot_set, NULL,
     MON_CMD_HMP_ONLY, NULL},
    {NULL, "singlestep", NULL, NULL, "option:s?", "[on|off]",
     "run emulation in singlestep mode or switch to normal mode",
     cmd_singlestep, NULL, MON_CMD_HMP_ONLY, NULL},
    {NULL, "sendkey", NULL, NULL, "keys:s,hold-time:i?", "keys [hold_ms]",
     "send keys to the VM (e.g. 'sendkey ctrl-alt-f1', default hold time=100 "
     "ms)",
     cmd_sendkey, NULL, MON_CMD_HMP_ONLY, NULL},
    {"chardev-remove", "chardev-remove", "{id:str}", NULL, "id:s", "id",
     "remove chardev", cmd_chardev_remove, NULL, 0, NULL},
    {"chardev-add", NULL, "{id:str,backend:{type:str,data:any}}", "{*pty:str}",
     NULL, NULL, NULL, cmd_chardev_add, NULL, 0, NULL},
    {NULL, "chardev-add", NULL, NULL, "args:s", "args", "add chardev",
     cmd_hmp_chardev_add, NULL, MON_CMD_HMP_ONLY, NULL},
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
    if (ret < 0) {
        mon_free(mon);
        vm_mon_info_free(info);
        return ret;
    }
    *mon_out = mon;
    *out = info;
    return 0;
}

void vm_mon_info_free(struct vm_mon_info *info)
{
    if (!info) {
        return;
    }
    mem_free(info->cmds);
    mem_free(info);
}
