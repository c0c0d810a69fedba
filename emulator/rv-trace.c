/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv-trace.c - CPU tracing in the formats of QEMU 7.2's -d in_asm,
 * int, exec, cpu and fpu, and the traced execution path that runs the hart
 * one block at a time so that those lines can be written between blocks.
 *
 * DESIGN NOTES
 *  1. A block is what QEMU 7.2 would put in one translation block: a
 *     straight run of instructions on one page (only the first may cross
 *     into the next), ending after a branch, jump, SYSTEM instruction (CSR,
 *     ecall, ebreak, xRET, WFI, sfence.vma), fence.i, an illegal
 *     instruction (an FP instruction with mstatus.FS off is one), or after
 *     RV_TRACE_BLOCK_MAX instructions.
 *  2. The block is found by probing the code with rv_mem_fetch_probe(),
 *     which touches the guest no more than fetching its first instruction
 *     does, and then run with rv_exec() capped at its length. An MMIO
 *     access, a trap or the slice budget may end it early; the rest then
 *     starts a block of its own, as QEMU's icount mode re-translates.
 *     Interrupts are sampled between blocks, which is where the plain
 *     interpreter samples them too (after whatever made them pending), so
 *     a traced run computes exactly what an untraced one does.
 *  3. in_asm prints a block the first time its key (virtual pc, physical
 *     pc, flags) is seen, and again when the checksum of its code changes.
 *     The table holds at most RV_TRACE_SEEN_MAX blocks; past that, new
 *     blocks are printed every time.
 *  4. Nothing host-dependent is printed: where QEMU prints the host address
 *     of the translated code, the exec line has the block's guest physical
 *     address. The flags word is what QEMU 7.2 computes for this CPU
 *     (privilege, VILL, mstatus.FS, XL=2); cflags is QEMU's value for a
 *     block under -icount (0xff020000).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "emulator/rv-disas.h"
#include "emulator/rv-hart.h"

/* Blocks remembered for in_asm: 1 Mi entries of 32 bytes (32 MiB). */
#define RV_TRACE_SEEN_MAX (1u << 20)
#define RV_TRACE_SEEN_MIN 4096u
/* Text gathered before it is handed to the log in one call. */
#define RV_TRACE_BUF 16384
/* Longest line we format (an in_asm line is the longest). */
#define RV_TRACE_LINE_MAX (RV_DISAS_LINE_MAX + 2)

/* QEMU 7.2's cflags for a block translated under -icount. */
#define RV_TRACE_CFLAGS 0xff020000u

struct rv_trace_seen {
    uint64_t pc;  /* virtual pc of the block */
    uint64_t ppc; /* physical pc */
    uint64_t sum; /* checksum of the block's code; 0 = free slot */
    uint32_t flags;
    uint32_t pad;
};

struct rv_trace {
    rv_trace_fn *fn;
    void *opaque;
    struct rv_trace_seen *seen; /* open addressing; NULL without in_asm */
    size_t seen_cap;            /* power of two */
    size_t seen_len;
    size_t len; /* bytes in buf */
    char buf[RV_TRACE_BUF];
    /* The block being traced. */
    uint32_t raw[RV_TRACE_BLOCK_MAX];
    uint8_t ilen[RV_TRACE_BLOCK_MAX];
};

static const char *const excp_names[] = {
    "misaligned_fetch",
    "fault_fetch",
    "illegal_instruction",
    "breakpoint",
    "misaligned_load",
    "fault_load",
    "misaligned_store",
    "fault_store",
    "user_ecall",
    "supervisor_ecall",
    "hypervisor_ecall",
    "machine_ecall",
    "exec_page_fault",
    "load_page_fault",
    "reserved",
    "store_page_fault",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "guest_exec_page_fault",
    "guest_load_page_fault",
    "reserved",
    "guest_store_page_fault",
};

static const char *const intr_names[] = {
    "u_software", "s_software", "vs_software", "m_software",
    "u_timer",    "s_timer",    "vs_timer",    "m_timer",
    "u_external", "s_external", "vs_external", "m_external",
    "reserved",   "reserved",   "reserved",    "reserved",
};

static const char *const xreg_names[32] = {
    "x0/zero", "x1/ra",  "x2/sp",  "x3/gp",  "x4/tp",  "x5/t0",   "x6/t1",
    "x7/t2",   "x8/s0",  "x9/s1",  "x10/a0", "x11/a1", "x12/a2",  "x13/a3",
    "x14/a4",  "x15/a5", "x16/a6", "x17/a7", "x18/s2", "x19/s3",  "x20/s4",
    "x21/s5",  "x22/s6", "x23/s7", "x24/s8", "x25/s9", "x26/s10", "x27/s11",
    "x28/t3",  "x29/t4", "x30/t5", "x31/t6",
};

static const char *const freg_names[32] = {
    "f0/ft0",   "f1/ft1",   "f2/ft2",   "f3/ft3",   "f4/ft4",  "f5/ft5",
    "f6/ft6",   "f7/ft7",   "f8/fs0",   "f9/fs1",   "f10/fa0", "f11/fa1",
    "f12/fa2",  "f13/fa3",  "f14/fa4",  "f15/fa5",  "f16/fa6", "f17/fa7",
    "f18/fs2",  "f19/fs3",  "f20/fs4",  "f21/fs5",  "f22/fs6", "f23/fs7",
    "f24/fs8",  "f25/fs9",  "f26/fs10", "f27/fs11", "f28/ft8", "f29/ft9",
    "f30/ft10", "f31/ft11",
};

/* The CSRs QEMU 7.2's dump lists, in its order, that exist on this CPU
 * (no H extension, RV64, no pointer masking). */
static const struct {
    unsigned csr;
    const char *name;
} dump_csrs[] = {
    {0xf14, "mhartid"},  {0x300, "mstatus"}, {0x344, "mip"},
    {0x304, "mie"},      {0x303, "mideleg"}, {0x302, "medeleg"},
    {0x305, "mtvec"},    {0x105, "stvec"},   {0x341, "mepc"},
    {0x141, "sepc"},     {0x342, "mcause"},  {0x142, "scause"},
    {0x343, "mtval"},    {0x143, "stval"},   {0x340, "mscratch"},
    {0x140, "sscratch"}, {0x180, "satp"},
};

/* Hand the gathered text to the log (without its final newline). */
static void trace_flush(struct rv_trace *t)
{
    if (t->len == 0) {
        return;
    }
    if (t->buf[t->len - 1] == '\n') {
        t->len--;
    }
    t->buf[t->len] = '\0';
    t->fn(t->opaque, t->buf);
    t->len = 0;
}

static void trace_printf(struct rv_trace *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void trace_printf(struct rv_trace *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (RV_TRACE_BUF - t->len < RV_TRACE_LINE_MAX) {
        trace_flush(t);
    }
    va_start(ap, fmt);
    n = vsnprintf(t->buf + t->len, RV_TRACE_BUF - t->len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        size_t room = RV_TRACE_BUF - t->len - 1;

        t->len += (size_t)n < room ? (size_t)n : room;
    }
}

/* ---- the -d items ---- */

/* In QEMU 7.2's order and words (util/log.c: qemu_log_items). */
static const struct rv_log_item log_items[] = {
    {"in_asm", RV_LOG_IN_ASM, "show target assembly code for each compiled TB"},
    {"int", RV_LOG_INT, "show interrupts/exceptions in short format"},
    {"exec", RV_LOG_EXEC, "show trace before each executed TB (lots of logs)"},
    {"cpu", RV_LOG_CPU,
     "show CPU registers before entering a TB (lots of logs)"},
    {"fpu", RV_LOG_FPU, "include FPU registers in the 'cpu' logging"},
    {"unimp", RV_LOG_UNIMP, "log unimplemented functionality"},
    {"guest_errors", RV_LOG_GUEST_ERRORS,
     "log when the guest OS does something invalid (eg accessing a\n"
     "non-existent register)"},
    /* rrvm never chains blocks: accepted, nothing to change */
    {"nochain", 0,
     "do not chain compiled TBs so that \"exec\" and \"cpu\" show\n"
     "complete traces"},
};

const struct rv_log_item *rv_log_items(size_t *n)
{
    *n = sizeof(log_items) / sizeof(log_items[0]);
    return log_items;
}

int rv_log_parse(const char *items, unsigned *mask, const char **bad,
                 size_t *bad_len)
{
    const size_t n = sizeof(log_items) / sizeof(log_items[0]);
    const char *p = items;

    *mask = 0;
    while (true) {
        size_t len = strcspn(p, ",");
        bool all = len == 3 && !strncmp(p, "all", 3), found = all;

        for (size_t i = 0; i < n; i++) {
            if (all || (strlen(log_items[i].name) == len &&
                        !strncmp(p, log_items[i].name, len))) {
                *mask |= log_items[i].mask;
                found = true;
            }
        }
        if (!found) {
            if (bad) {
                *bad = p;
            }
            if (bad_len) {
                *bad_len = len;
            }
            return -EINVAL;
        }
        if (!p[len]) {
            return 0;
        }
        p += len + 1;
    }
}

void rv_trace_free(struct rv_trace *t)
{
    if (!t) {
        return;
    }
    mem_free(t->seen);
    mem_free(t);
}

int rv_cpu_set_trace(struct rv_cpu *cpu, unsigned mask, rv_trace_fn *fn,
                     void *opaque)
{
    struct rv_trace *t;

    CHECK_ARG(cpu);
    mask &= RV_LOG_IN_ASM | RV_LOG_INT | RV_LOG_EXEC | RV_LOG_CPU | RV_LOG_FPU;
    if (!fn) {
        mask = 0;
    }
    rv_trace_free(cpu->trace);
    cpu->trace = NULL;
    cpu->trace_mask = 0;
    if (!mask) {
        return 0;
    }
    t = mem_calloc(1, sizeof(*t));
    if (!t) {
        return -ENOMEM;
    }
    t->fn = fn;
    t->opaque = opaque;
    if (mask & RV_LOG_IN_ASM) {
        t->seen = mem_calloc(RV_TRACE_SEEN_MIN, sizeof(*t->seen));
        if (!t->seen) {
            mem_free(t);
            return -ENOMEM;
        }
        t->seen_cap = RV_TRACE_SEEN_MIN;
    }
    cpu->trace = t;
    cpu->trace_mask = mask;
    cpu->exec_break = true;
    return 0;
}

void rv_trace_int(struct rv_cpu *cpu, uint64_t cause, uint64_t tval, bool irq)
{
    struct rv_trace *t = cpu->trace;
    uint64_t code = cause & ~(1ULL << 63);
    const char *desc;

    if (irq) {
        desc = code < sizeof(intr_names) / sizeof(intr_names[0])
                   ? intr_names[code]
                   : "(unknown)";
        tval = 0;
    } else {
        desc = code < sizeof(excp_names) / sizeof(excp_names[0])
                   ? excp_names[code]
                   : "(unknown)";
    }
    trace_printf(t,
                 "riscv_cpu_do_interrupt: hart:0, async:%d, cause:%016" PRIx64
                 ", epc:0x%016" PRIx64 ", tval:0x%016" PRIx64 ", desc=%s\n",
                 irq ? 1 : 0, code, cpu->pc, tval, desc);
    trace_flush(t);
}

/* QEMU 7.2's TB flags for this CPU: MEM_IDX, VILL, FS, XL. */
static uint32_t block_flags(const struct rv_cpu *cpu)
{
    return cpu->priv | (1u << 12) | (uint32_t)(cpu->mstatus & RV_MS_FS) |
           (2u << 20);
}

/* Whether the instruction ends a block (DESIGN NOTES 1). */
static bool ends_block(const struct rv_cpu *cpu, uint32_t raw)
{
    struct rv_dslot s;

    rv_predecode(raw, &s);
    if (rv_slot_ends_block(&s)) {
        return true;
    }
    switch (s.op) {
    case RV_OP_FLW:
    case RV_OP_FLD:
    case RV_OP_FSW:
    case RV_OP_FSD:
    case RV_OP_FPU:
        return !rv_fpu_enabled(cpu);
    default:
        return false;
    }
}

/*
 * Probe the block at cpu->pc into t->raw/t->ilen. Returns its length in
 * instructions, 0 if the first fetch faults; *@ppc is its physical pc and
 * *@sum a checksum of its code.
 */
static unsigned block_scan(struct rv_cpu *cpu, uint64_t *ppc, uint64_t *sum)
{
    struct rv_trace *t = cpu->trace;
    uint64_t pc = cpu->pc, page = pc & ~0xfffULL, p = pc, pa;
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    unsigned n = 0;

    while (n < RV_TRACE_BLOCK_MAX) {
        uint16_t lo, hi = 0;
        uint32_t raw;
        unsigned len;

        if (n > 0 && (p & ~0xfffULL) != page) {
            break;
        }
        if (rv_mem_fetch_probe(cpu, p, &lo, &pa) < 0) {
            break;
        }
        if (n == 0) {
            *ppc = pa;
        }
        len = (lo & 3) == 3 ? 4 : 2;
        if (len == 4) {
            if (n > 0 && ((p + 2) & ~0xfffULL) != page) {
                break;
            }
            if (rv_mem_fetch_probe(cpu, p + 2, &hi, &pa) < 0) {
                break;
            }
        }
        raw = lo | ((uint32_t)hi << 16);
        t->raw[n] = raw;
        t->ilen[n] = (uint8_t)len;
        h = (h ^ raw) * 0x100000001b3ULL;
        n++;
        p += len;
        if (ends_block(cpu, raw)) {
            break;
        }
    }
    *sum = (h ^ n) | 1; /* never 0, the free-slot mark */
    return n;
}

static size_t seen_slot(const struct rv_trace_seen *tab, size_t cap,
                        uint64_t pc, uint64_t ppc, uint32_t flags)
{
    uint64_t k =
        (pc * 0x9e3779b97f4a7c15ULL) ^ (ppc >> 1) ^ ((uint64_t)flags << 40);
    size_t i = (size_t)(k ^ (k >> 29)) & (cap - 1);

    while (tab[i].sum &&
           (tab[i].pc != pc || tab[i].ppc != ppc || tab[i].flags != flags)) {
        i = (i + 1) & (cap - 1);
    }
    return i;
}

static void seen_grow(struct rv_trace *t)
{
    size_t cap = t->seen_cap * 2;
    struct rv_trace_seen *tab;

    if (cap > RV_TRACE_SEEN_MAX) {
        return;
    }
    tab = mem_calloc(cap, sizeof(*tab));
    if (!tab) {
        return;
    }
    for (size_t i = 0; i < t->seen_cap; i++) {
        const struct rv_trace_seen *e = &t->seen[i];

        if (e->sum) {
            tab[seen_slot(tab, cap, e->pc, e->ppc, e->flags)] = *e;
        }
    }
    mem_free(t->seen);
    t->seen = tab;
    t->seen_cap = cap;
}

/* True if the block must be printed (new, or its code changed). */
static bool seen_update(struct rv_trace *t, uint64_t pc, uint64_t ppc,
                        uint32_t flags, uint64_t sum)
{
    struct rv_trace_seen *e;

    if (t->seen_len * 2 >= t->seen_cap) {
        seen_grow(t);
        if (t->seen_len * 2 >= t->seen_cap) {
            return true; /* full: print every time (DESIGN NOTES 3) */
        }
    }
    e = &t->seen[seen_slot(t->seen, t->seen_cap, pc, ppc, flags)];
    if (e->sum == sum) {
        return false;
    }
    if (!e->sum) {
        t->seen_len++;
        e->pc = pc;
        e->ppc = ppc;
        e->flags = flags;
    }
    e->sum = sum;
    return true;
}

static void print_in_asm(struct rv_cpu *cpu, unsigned n)
{
    struct rv_trace *t = cpu->trace;
    char line[RV_DISAS_LINE_MAX + 1];
    uint64_t p = cpu->pc;

    trace_printf(t, "----------------\nIN: \nPriv: %u; Virt: 0\n", cpu->priv);
    for (unsigned i = 0; i < n; i++) {
        rv_disas_line(p, t->raw[i], t->ilen[i], line, sizeof(line));
        trace_printf(t, "%s\n", line);
        p += t->ilen[i];
    }
    trace_printf(t, "\n");
}

/* Append to @dst at *@len, keeping it NUL-terminated and bounded. */
static void dump_printf(char *dst, size_t cap, size_t *len, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

static void dump_printf(char *dst, size_t cap, size_t *len, const char *fmt,
                        ...)
{
    va_list ap;
    int n;

    if (*len + 1 >= cap) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(dst + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        *len += (size_t)n < cap - *len - 1 ? (size_t)n : cap - *len - 1;
    }
}

size_t rv_cpu_dump_state(struct rv_cpu *cpu, bool fpu, char *dst, size_t cap)
{
    size_t len = 0;
    uint64_t v;

    if (cap) {
        dst[0] = '\0';
    }
    dump_printf(dst, cap, &len, " %-8s %016" PRIx64 "\n", "pc", cpu->pc);
    for (size_t i = 0; i < sizeof(dump_csrs) / sizeof(dump_csrs[0]); i++) {
        if (rv_csr_read_debug(cpu, dump_csrs[i].csr, &v) == 0) {
            dump_printf(dst, cap, &len, " %-8s %016" PRIx64 "\n",
                        dump_csrs[i].name, v);
        }
    }
    for (unsigned i = 0; i < 32; i += 4) {
        dump_printf(dst, cap, &len,
                    " %-8s %016" PRIx64 " %-8s %016" PRIx64 " %-8s %016" PRIx64
                    " %-8s %016" PRIx64 "\n",
                    xreg_names[i], cpu->x[i], xreg_names[i + 1], cpu->x[i + 1],
                    xreg_names[i + 2], cpu->x[i + 2], xreg_names[i + 3],
                    cpu->x[i + 3]);
    }
    for (unsigned i = 0; fpu && i < 32; i += 4) {
        dump_printf(dst, cap, &len,
                    " %-8s %016" PRIx64 " %-8s %016" PRIx64 " %-8s %016" PRIx64
                    " %-8s %016" PRIx64 "\n",
                    freg_names[i], cpu->f[i], freg_names[i + 1], cpu->f[i + 1],
                    freg_names[i + 2], cpu->f[i + 2], freg_names[i + 3],
                    cpu->f[i + 3]);
    }
    return len;
}

static void print_cpu(struct rv_cpu *cpu)
{
    struct rv_trace *t = cpu->trace;
    char buf[RV_CPU_DUMP_MAX];

    size_t n = rv_cpu_dump_state(cpu, (cpu->trace_mask & RV_LOG_FPU) != 0, buf,
                                 sizeof(buf));

    if (RV_TRACE_BUF - t->len <= n) {
        trace_flush(t);
    }
    trace_printf(t, "%s", buf);
}

uint64_t rv_trace_block(struct rv_cpu *cpu, uint64_t max)
{
    struct rv_trace *t = cpu->trace;
    uint64_t ppc = 0, sum = 0;
    uint32_t flags = block_flags(cpu);
    unsigned n;

    n = block_scan(cpu, &ppc, &sum);
    if (n == 0) {
        return 1;
    }
    if ((cpu->trace_mask & RV_LOG_IN_ASM) &&
        seen_update(t, cpu->pc, ppc, flags, sum)) {
        print_in_asm(cpu, n);
    }
    if (cpu->trace_mask & RV_LOG_EXEC) {
        trace_printf(t,
                     "Trace 0: 0x%" PRIx64 " [%016" PRIx64 "/%016" PRIx64
                     "/%08" PRIx32 "/%08" PRIx32 "] \n",
                     ppc, (uint64_t)0, cpu->pc, flags, RV_TRACE_CFLAGS);
    }
    if (cpu->trace_mask & RV_LOG_CPU) {
        print_cpu(cpu);
    }
    trace_flush(t);
    return n < max ? n : max;
}
