/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv-cpu.c - the RV64GC hart: lifecycle, the run loop, trap and
 * interrupt entry, and snapshot serialisation.
 *
 * DESIGN NOTES
 *  1. cpu->icount counts retired instructions, exactly, at every
 *     instruction: the interpreter keeps the count at the start of the
 *     running block in a local, adds the slot index and writes it back
 *     before any call that can observe it (MMIO, CSRs, traps), and adds
 *     the block's length at its end. A block that would overrun the budget
 *     runs one instruction at a time. A trapping instruction does not
 *     retire; WFI retires once when executed.
 *  2. The interpreter (rv_exec, rv-exec.c) runs until a trap, a CSR or
 *     system instruction, an MMIO access or the budget (cpu->exec_break),
 *     so interrupts are sampled only where they can have changed, and
 *     always at an instruction boundary.
 *  3. Blocks (rv-exec.c) are predecoded runs on one page, found by
 *     virtual pc and valid while the fetch TLB maps the pc to the same host
 *     address and the page's code generation is unchanged. A page holding
 *     blocks is marked and has no write TLB entries, so every store to it
 *     takes the slow path, which bumps the generation, unmarks the page and
 *     ends the run (rv-mmu.c); DMA bumps the generations of the pages it
 *     wrote (rv_cpu_code_written); host writes (loader, reset, load) empty
 *     the cache. So self-modifying code needs no fence.i to be seen, as
 *     before; fence.i only ends the run. Pages outside the fetch TLB run
 *     through the predecode cache, validated against the bits fetched.
 *  4. The soft TLB caches only RAM pages whose PMP permission is uniform
 *     over the page, per access type and context (privilege, S+SUM); a
 *     store through a page whose PTE has D=0 takes the slow path, which
 *     sets D. It is flushed on satp, sfence.vma, PMP and mstatus.MXR
 *     writes.
 *  5. A second exception at the same pc with nothing retired since the
 *     previous one is a trap loop: RV_STOP_TRAP_LOOP, state unchanged.
 *
 *   run --(irq pending & enabled)--> trap entry --> run
 *   run --(WFI, nothing in mip & mie)--> WFI --(mip & mie != 0)--> run
 *   run --(exception at the last exception's pc, icount)--> TRAP_LOOP
 *
 *   transition            function
 *   trap entry            trap_enter() via rv_cpu_exception()/irq_pick()
 *   xRET, WFI             exec_system() (rv-exec.c)
 *   WFI wake-up           rv_cpu_run()
 *
 *  6. With -d in_asm, exec or cpu, rv_cpu_run() runs one block per
 *     rv_exec() call (rv-trace.c), logging before each; the interpreter
 *     itself is the same, so traced and untraced runs agree exactly.
 */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/hash.h"
#include "emulator/rv-hart.h"

int rv_cpu_new(const struct rv_bus *bus, struct rv_cpu **out)
{
    struct rv_cpu *cpu;

    CHECK_ARG(bus && out && bus->nb_regions <= RV_BUS_MAX_REGIONS);
    cpu = mem_calloc(1, sizeof(*cpu));
    if (!cpu) {
        return -ENOMEM;
    }
    cpu->bus = *bus;
    for (unsigned i = 0; i < bus->nb_regions; i++) {
        uint64_t pages = (bus->regions[i].size + 0xfff) >> 12;

        if (pages > (RV_RAM_MAX >> 12) + (1u << 20) - cpu->code_pages) {
            mem_free(cpu);
            return -ERANGE;
        }
        cpu->region_page[i] = cpu->code_pages;
        cpu->code_pages += (uint32_t)pages;
    }
    cpu->btab = mem_calloc(RV_BLOCK_TABLE, sizeof(*cpu->btab));
    cpu->bpool = mem_alloc(RV_BLOCK_POOL);
    cpu->code_gen = mem_calloc(cpu->code_pages + 1, sizeof(*cpu->code_gen));
    cpu->code_mark = mem_calloc(cpu->code_pages + 1, 1);
    cpu->dirty = mem_alloc(((cpu->code_pages + 64) / 64) * sizeof(uint64_t));
    if (!cpu->btab || !cpu->bpool || !cpu->code_gen || !cpu->code_mark ||
        !cpu->dirty) {
        rv_cpu_free(cpu);
        return -ENOMEM;
    }
    /* Everything is new to a reader of the dirty bitmap. */
    memset(cpu->dirty, 0xff, ((cpu->code_pages + 64) / 64) * sizeof(uint64_t));
    rv_cpu_reset(cpu, 0x1000);
    *out = cpu;
    return 0;
}

void rv_cpu_free(struct rv_cpu *cpu)
{
    if (!cpu) {
        return;
    }
    rv_trace_free(cpu->trace);
    mem_free(cpu->btab);
    mem_free(cpu->bpool);
    mem_free(cpu->code_gen);
    mem_free(cpu->code_mark);
    mem_free(cpu->dirty);
    mem_free(cpu);
}

void rv_cpu_reset(struct rv_cpu *cpu, uint64_t pc)
{
    struct rv_bus bus = cpu->bus;
    struct rv_trace *trace = cpu->trace;
    unsigned trace_mask = cpu->trace_mask;
    struct rv_block **btab = cpu->btab;
    uint8_t *bpool = cpu->bpool;
    uint32_t *code_gen = cpu->code_gen;
    uint8_t *code_mark = cpu->code_mark;
    uint64_t *dirty = cpu->dirty;
    uint32_t code_pages = cpu->code_pages;
    uint32_t region_page[RV_BUS_MAX_REGIONS];

    memcpy(region_page, cpu->region_page, sizeof(region_page));
    memset(cpu, 0, sizeof(*cpu));
    cpu->bus = bus;
    cpu->trace = trace;
    cpu->trace_mask = trace_mask;
    cpu->btab = btab;
    cpu->bpool = bpool;
    cpu->code_gen = code_gen;
    cpu->code_mark = code_mark;
    cpu->dirty = dirty;
    cpu->code_pages = code_pages;
    memcpy(cpu->region_page, region_page, sizeof(region_page));
    cpu->pc = pc;
    cpu->priv = RV_PRV_M;
    cpu->mstatus = (2ULL << 32) | (2ULL << 34);
    rv_pmp_update(cpu);
    rv_tlb_flush(cpu);
    rv_cpu_update_ctx(cpu);
    rv_dcache_init(cpu);
}

void rv_cpu_set_xreg(struct rv_cpu *cpu, unsigned reg, uint64_t val)
{
    if (reg > 0 && reg < 32) {
        cpu->x[reg] = val;
    }
}

uint64_t rv_cpu_get_xreg(const struct rv_cpu *cpu, unsigned reg)
{
    return reg < 32 ? cpu->x[reg] : 0;
}

uint64_t rv_cpu_get_pc(const struct rv_cpu *cpu)
{
    return cpu->pc;
}

uint64_t rv_cpu_icount(const struct rv_cpu *cpu)
{
    return cpu->icount;
}

void rv_cpu_set_irq(struct rv_cpu *cpu, unsigned irq, bool level)
{
    if (irq >= 64) {
        return;
    }
    if (level) {
        cpu->mip_hw |= 1ULL << irq;
    } else {
        cpu->mip_hw &= ~(1ULL << irq);
    }
    cpu->exec_break = true;
}

void rv_cpu_request_exit(struct rv_cpu *cpu)
{
    cpu->exit_req = true;
    cpu->exec_break = true;
}

void rv_cpu_flush_caches(struct rv_cpu *cpu)
{
    rv_tlb_flush(cpu);
    memset(cpu->btab, 0, RV_BLOCK_TABLE * sizeof(*cpu->btab));
    cpu->bpool_used = 0;
    cpu->exec_break = true;
}

void rv_cpu_flush_tlb(struct rv_cpu *cpu)
{
    rv_tlb_flush(cpu);
}

/* Mark the RAM pages of [gpa, gpa + len) dirty; with @code, also drop the
 * decoded blocks on them (their code generation moves on). */
static void pages_written(struct rv_cpu *cpu, uint64_t gpa, uint64_t len,
                          bool code)
{
    for (unsigned i = 0; i < cpu->bus.nb_regions && len; i++) {
        const struct rv_mem_region *r = &cpu->bus.regions[i];
        uint64_t lo, hi;

        if (gpa >= r->base + r->size || gpa + len <= r->base) {
            continue;
        }
        lo = (gpa > r->base ? gpa - r->base : 0) >> 12;
        hi = ((gpa + len < r->base + r->size ? gpa + len - r->base : r->size) +
              0xfff) >>
             12;
        for (uint64_t p = lo; p < hi; p++) {
            uint32_t page = cpu->region_page[i] + (uint32_t)p;

            cpu->dirty[page / 64] |= 1ULL << (page % 64);
            if (code && cpu->code_mark[page]) {
                cpu->code_mark[page] = 0;
                cpu->code_gen[page]++;
            }
        }
    }
}

void rv_cpu_code_written(struct rv_cpu *cpu, uint64_t gpa, uint64_t len)
{
    pages_written(cpu, gpa, len, true);
    cpu->exec_break = true;
}

void rv_cpu_ram_written(struct rv_cpu *cpu, uint64_t gpa, uint64_t len)
{
    pages_written(cpu, gpa, len, false);
}

/* Pages reachable through a write TLB entry can change without a slow
 * path: keep them dirty. */
static void dirty_mark_writable(struct rv_cpu *cpu)
{
    for (unsigned c = 0; c < RV_TLB_CTX; c++) {
        const struct rv_tlb_entry *t = cpu->tlb[c][RV_ACC_WRITE];

        for (unsigned i = 0; i < RV_TLB_SIZE; i++) {
            uint32_t page;

            if (t[i].vpage == RV_TLB_INVALID) {
                continue;
            }
            page = rv_code_page(
                cpu, (const uint8_t *)(uintptr_t)(t[i].vpage + t[i].addend));
            if (page != UINT32_MAX) {
                cpu->dirty[page / 64] |= 1ULL << (page % 64);
            }
        }
    }
}

int rv_cpu_dirty_take(struct rv_cpu *cpu, uint64_t gpa, uint64_t npages,
                      uint64_t *dst)
{
    const struct rv_mem_region *r = NULL;
    uint32_t first = 0;

    for (unsigned i = 0; i < cpu->bus.nb_regions; i++) {
        if (cpu->bus.regions[i].base == gpa &&
            npages <= (cpu->bus.regions[i].size + 0xfff) >> 12) {
            r = &cpu->bus.regions[i];
            first = cpu->region_page[i];
        }
    }
    if (!r) {
        return -EINVAL;
    }
    for (uint64_t p = 0; p < npages; p++) {
        uint32_t page = first + (uint32_t)p;
        uint64_t *w = &cpu->dirty[page / 64];

        if (*w == 0) {
            p += 63 - page % 64;
            continue;
        }
        if (*w & (1ULL << (page % 64))) {
            *w &= ~(1ULL << (page % 64));
            dst[p / 64] |= 1ULL << (p % 64);
        }
    }
    dirty_mark_writable(cpu);
    return 0;
}

void rv_cpu_update_ctx(struct rv_cpu *cpu)
{
    unsigned p = cpu->priv;

    if (p == RV_PRV_M && (cpu->mstatus & RV_MS_MPRV)) {
        p = (unsigned)((cpu->mstatus & RV_MS_MPP) >> 11);
    }
    if (p == RV_PRV_S && (cpu->mstatus & RV_MS_SUM)) {
        p = 2;
    }
    cpu->dctx = p;
}

static void trap_enter(struct rv_cpu *cpu, uint64_t cause, uint64_t tval,
                       bool irq)
{
    unsigned code = (unsigned)(cause & 63);
    uint64_t deleg = irq ? cpu->mideleg : cpu->medeleg;
    uint64_t ms = cpu->mstatus;
    uint64_t vec;

    if (RV_UNLIKELY(cpu->trace_mask & RV_LOG_INT)) {
        rv_trace_int(cpu, cause, tval, irq);
    }
    if (cpu->priv <= RV_PRV_S && ((deleg >> code) & 1)) {
        cpu->scause = cause;
        cpu->sepc = cpu->pc;
        cpu->stval = tval;
        ms = (ms & ~RV_MS_SPIE) | ((ms & RV_MS_SIE) ? RV_MS_SPIE : 0);
        ms &= ~(RV_MS_SIE | RV_MS_SPP);
        ms |= cpu->priv == RV_PRV_S ? RV_MS_SPP : 0;
        cpu->priv = RV_PRV_S;
        vec = cpu->stvec;
    } else {
        cpu->mcause = cause;
        cpu->mepc = cpu->pc;
        cpu->mtval = tval;
        ms = (ms & ~RV_MS_MPIE) | ((ms & RV_MS_MIE) ? RV_MS_MPIE : 0);
        ms &= ~(RV_MS_MIE | RV_MS_MPP);
        ms |= (uint64_t)cpu->priv << 11;
        cpu->priv = RV_PRV_M;
        vec = cpu->mtvec;
    }
    cpu->mstatus = ms;
    if (irq && (vec & 3) == 1) {
        cpu->pc = (vec & ~3ULL) + 4ULL * code;
    } else {
        cpu->pc = vec & ~3ULL;
    }
    rv_cpu_update_ctx(cpu);
    cpu->exec_break = true;
}

void rv_cpu_exception(struct rv_cpu *cpu, uint64_t cause, uint64_t tval)
{
    if (cpu->last_exc_valid && cpu->last_exc_icount == cpu->icount &&
        cpu->last_exc_pc == cpu->pc) {
        cpu->trap_loop = true;
        cpu->exec_break = true;
        return;
    }
    cpu->last_exc_valid = true;
    cpu->last_exc_icount = cpu->icount;
    cpu->last_exc_pc = cpu->pc;
    trap_enter(cpu, cause, tval, false);
}

/* Highest-priority interrupt to take now, or -1. */
static int irq_pick(const struct rv_cpu *cpu)
{
    static const unsigned order[] = {11, 3, 7, 9, 1, 5};
    uint64_t pend = rv_cpu_mip(cpu) & cpu->mie;
    uint64_t m, s, take = 0;

    if (!pend) {
        return -1;
    }
    m = pend & ~cpu->mideleg;
    s = pend & cpu->mideleg;
    if (m && (cpu->priv < RV_PRV_M || (cpu->mstatus & RV_MS_MIE))) {
        take = m;
    } else if (s && (cpu->priv < RV_PRV_S ||
                     (cpu->priv == RV_PRV_S && (cpu->mstatus & RV_MS_SIE)))) {
        take = s;
    }
    if (!take) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if ((take >> order[i]) & 1) {
            return (int)order[i];
        }
    }
    return -1;
}

enum rv_stop rv_cpu_run(struct rv_cpu *cpu, uint64_t budget)
{
    uint64_t end = cpu->icount + budget;
    int irq;

    if (end < cpu->icount) {
        end = UINT64_MAX;
    }
    for (;;) {
        if (cpu->exit_req) {
            cpu->exit_req = false;
            return RV_STOP_EXIT;
        }
        if (cpu->trap_loop) {
            cpu->trap_loop = false;
            cpu->last_exc_valid = false;
            return RV_STOP_TRAP_LOOP;
        }
        if (cpu->wfi) {
            if (!(rv_cpu_mip(cpu) & cpu->mie)) {
                return RV_STOP_WFI;
            }
            cpu->wfi = false;
        }
        irq = irq_pick(cpu);
        if (irq >= 0) {
            trap_enter(cpu, (1ULL << 63) | (unsigned)irq, 0, true);
        }
        if (cpu->icount >= end) {
            return RV_STOP_BUDGET;
        }
        cpu->exec_break = false;
        if (RV_UNLIKELY(cpu->trace_mask &
                        (RV_LOG_IN_ASM | RV_LOG_EXEC | RV_LOG_CPU))) {
            rv_exec(cpu, rv_trace_block(cpu, end - cpu->icount));
        } else {
            rv_exec(cpu, end - cpu->icount);
        }
    }
}

/* ---- snapshots ----
 *
 * Blob layout (little-endian), version 1:
 *   0  u32 magic "RVCP"        4  u32 version (1)
 *   8  u32 header length (28)  12 u32 incompatible features (0)
 *   16 u32 compatible features (0)
 *   20 u32 payload length      24 u32 CRC32C of the payload
 *   28 payload: RV_CPU_SAVE_WORDS u64 words in save_words() order.
 * Readers reject unknown incompatible bits with -ENOTSUP and any other
 * mismatch with -EBADMSG.
 */

#define RV_CPU_SAVE_MAGIC   0x50435652u /* "RVCP" as bytes */
#define RV_CPU_SAVE_VERSION 1u
#define RV_CPU_SAVE_HDR     28u
/* 32 x + 32 f + 36 scalars + PMP config and addresses */
#define RV_CPU_SAVE_WORDS (64 + 36 + 2 * RV_PMP_COUNT)
#define RV_CPU_SAVE_SIZE  (RV_CPU_SAVE_HDR + 8 * RV_CPU_SAVE_WORDS)

static void save_words(const struct rv_cpu *cpu, uint64_t *w)
{
    size_t n = 0;

    for (unsigned i = 0; i < 32; i++) {
        w[n++] = cpu->x[i];
    }
    for (unsigned i = 0; i < 32; i++) {
        w[n++] = cpu->f[i];
    }
    w[n++] = cpu->pc;
    w[n++] = cpu->icount;
    w[n++] = cpu->priv;
    w[n++] = cpu->fflags;
    w[n++] = cpu->frm;
    w[n++] = cpu->mstatus;
    w[n++] = cpu->medeleg;
    w[n++] = cpu->mideleg;
    w[n++] = cpu->mie;
    w[n++] = cpu->mip_sw;
    w[n++] = cpu->mip_hw;
    w[n++] = cpu->mtvec;
    w[n++] = cpu->mscratch;
    w[n++] = cpu->mepc;
    w[n++] = cpu->mcause;
    w[n++] = cpu->mtval;
    w[n++] = cpu->stvec;
    w[n++] = cpu->sscratch;
    w[n++] = cpu->sepc;
    w[n++] = cpu->scause;
    w[n++] = cpu->stval;
    w[n++] = cpu->satp;
    w[n++] = cpu->mcounteren;
    w[n++] = cpu->scounteren;
    w[n++] = cpu->cycle_off;
    w[n++] = cpu->instret_off;
    w[n++] = cpu->res_addr;
    w[n++] = cpu->res_valid;
    w[n++] = cpu->wfi;
    w[n++] = cpu->last_exc_pc;
    w[n++] = cpu->last_exc_icount;
    w[n++] = cpu->last_exc_valid;
    w[n++] = cpu->res_value;
    w[n++] = 0; /* reserved */
    w[n++] = 0;
    w[n++] = 0;
    for (unsigned i = 0; i < RV_PMP_COUNT; i++) {
        w[n++] = cpu->pmpcfg[i];
    }
    for (unsigned i = 0; i < RV_PMP_COUNT; i++) {
        w[n++] = cpu->pmpaddr[i];
    }
    assert(n == RV_CPU_SAVE_WORDS);
}

size_t rv_cpu_save(const struct rv_cpu *cpu, uint8_t *dst, size_t dst_cap)
{
    uint64_t w[RV_CPU_SAVE_WORDS];
    uint8_t *p;

    if (!dst) {
        return RV_CPU_SAVE_SIZE;
    }
    if (dst_cap < RV_CPU_SAVE_SIZE) {
        return 0;
    }
    p = dst + RV_CPU_SAVE_HDR;
    save_words(cpu, w);
    for (size_t i = 0; i < RV_CPU_SAVE_WORDS; i++) {
        wr_le64(p + 8 * i, w[i]);
    }
    wr_le32(dst, RV_CPU_SAVE_MAGIC);
    wr_le32(dst + 4, RV_CPU_SAVE_VERSION);
    wr_le32(dst + 8, RV_CPU_SAVE_HDR);
    wr_le32(dst + 12, 0);
    wr_le32(dst + 16, 0);
    wr_le32(dst + 20, 8 * RV_CPU_SAVE_WORDS);
    wr_le32(dst + 24, hash_crc32c(0, p, 8 * RV_CPU_SAVE_WORDS));
    return RV_CPU_SAVE_SIZE;
}

int rv_cpu_load_check(const uint8_t *src, size_t src_len)
{
    uint64_t w[RV_CPU_SAVE_WORDS];
    const uint8_t *p;

    if (!src || src_len < RV_CPU_SAVE_SIZE ||
        rd_le32(src) != RV_CPU_SAVE_MAGIC ||
        rd_le32(src + 4) != RV_CPU_SAVE_VERSION ||
        rd_le32(src + 8) != RV_CPU_SAVE_HDR) {
        return -EBADMSG;
    }
    p = src + RV_CPU_SAVE_HDR;
    if (rd_le32(src + 12) != 0) {
        return -ENOTSUP;
    }
    if (rd_le32(src + 20) != 8 * RV_CPU_SAVE_WORDS ||
        rd_le32(src + 24) != hash_crc32c(0, p, 8 * RV_CPU_SAVE_WORDS)) {
        return -EBADMSG;
    }
    for (size_t i = 0; i < RV_CPU_SAVE_WORDS; i++) {
        w[i] = rd_le64(p + 8 * i);
    }
    /* priv 2 is reserved; frm/fflags are 3 and 5 bits. */
    if ((w[66] != RV_PRV_U && w[66] != RV_PRV_S && w[66] != RV_PRV_M) ||
        w[67] > 0x1f || w[68] > 7 || w[0] != 0) {
        return -EBADMSG;
    }
    return 0;
}

int rv_cpu_load(struct rv_cpu *cpu, const uint8_t *src, size_t src_len)
{
    uint64_t w[RV_CPU_SAVE_WORDS];
    const uint8_t *p = src + RV_CPU_SAVE_HDR;
    size_t n = 0;
    int ret = rv_cpu_load_check(src, src_len);

    if (ret < 0) {
        return ret;
    }
    for (size_t i = 0; i < RV_CPU_SAVE_WORDS; i++) {
        w[i] = rd_le64(p + 8 * i);
    }
    for (unsigned i = 0; i < 32; i++) {
        cpu->x[i] = w[n++];
    }
    for (unsigned i = 0; i < 32; i++) {
        cpu->f[i] = w[n++];
    }
    cpu->pc = w[n++];
    cpu->icount = w[n++];
    cpu->priv = (unsigned)w[n++];
    cpu->fflags = (uint32_t)w[n++];
    cpu->frm = (uint32_t)w[n++];
    cpu->mstatus = w[n++];
    cpu->medeleg = w[n++];
    cpu->mideleg = w[n++];
    cpu->mie = w[n++];
    cpu->mip_sw = w[n++];
    cpu->mip_hw = w[n++];
    cpu->mtvec = w[n++];
    cpu->mscratch = w[n++];
    cpu->mepc = w[n++];
    cpu->mcause = w[n++];
    cpu->mtval = w[n++];
    cpu->stvec = w[n++];
    cpu->sscratch = w[n++];
    cpu->sepc = w[n++];
    cpu->scause = w[n++];
    cpu->stval = w[n++];
    cpu->satp = w[n++];
    cpu->mcounteren = (uint32_t)w[n++];
    cpu->scounteren = (uint32_t)w[n++];
    cpu->cycle_off = w[n++];
    cpu->instret_off = w[n++];
    cpu->res_addr = w[n++];
    cpu->res_valid = w[n++] != 0;
    cpu->wfi = w[n++] != 0;
    cpu->last_exc_pc = w[n++];
    cpu->last_exc_icount = w[n++];
    cpu->last_exc_valid = w[n++] != 0;
    cpu->res_value = w[n++];
    n += 3;
    for (unsigned i = 0; i < RV_PMP_COUNT; i++) {
        cpu->pmpcfg[i] = (uint8_t)w[n++];
    }
    for (unsigned i = 0; i < RV_PMP_COUNT; i++) {
        cpu->pmpaddr[i] = w[n++] & RV_PMP_ADDR_MASK;
    }
    cpu->exit_req = false;
    cpu->trap_loop = false;
    rv_pmp_update(cpu);
    rv_cpu_flush_caches(cpu);
    rv_cpu_update_ctx(cpu);
    cpu->exec_break = true;
    return 0;
}

/* ---- the soft TLB as guest addresses ----
 *
 * Layout (little-endian): u32 count, then count entries in increasing
 * slot order: u16 slot ((ctx * 3 + access type) * RV_TLB_SIZE + index),
 * u64 virtual page, u64 physical page. Host addresses never appear.
 */

#define TLB_SLOTS       (RV_TLB_CTX * 3 * RV_TLB_SIZE)
#define TLB_ENTRY_BYTES 18
_Static_assert(RV_CPU_TLB_MAX_BYTES == 4 + TLB_ENTRY_BYTES * TLB_SLOTS,
               "RV_CPU_TLB_MAX_BYTES matches the TLB geometry");

static const struct rv_mem_region *tlb_region(const struct rv_cpu *cpu,
                                              uint64_t pa)
{
    for (unsigned i = 0; i < cpu->bus.nb_regions; i++) {
        const struct rv_mem_region *r = &cpu->bus.regions[i];

        if (pa >= r->base && pa - r->base < r->size &&
            r->size - (pa - r->base) >= 0x1000) {
            return r;
        }
    }
    return NULL;
}

size_t rv_cpu_tlb_save(const struct rv_cpu *cpu, uint8_t *dst, size_t dst_cap)
{
    size_t n = 0, len = 4;

    for (unsigned slot = 0; slot < TLB_SLOTS; slot++) {
        const struct rv_tlb_entry *e =
            &cpu->tlb[slot / (3 * RV_TLB_SIZE)][(slot / RV_TLB_SIZE) % 3]
                     [slot % RV_TLB_SIZE];
        const uint8_t *host;
        uint64_t pa = 0;

        if (e->vpage == RV_TLB_INVALID) {
            continue;
        }
        host = (const uint8_t *)(uintptr_t)(e->vpage + e->addend);
        for (unsigned i = 0; i < cpu->bus.nb_regions; i++) {
            const struct rv_mem_region *r = &cpu->bus.regions[i];

            if (host >= r->host && (uint64_t)(host - r->host) < r->size) {
                pa = r->base + (uint64_t)(host - r->host);
            }
        }
        if (dst) {
            if (len + TLB_ENTRY_BYTES > dst_cap) {
                return 0;
            }
            wr_le16(dst + len, (uint16_t)slot);
            wr_le64(dst + len + 2, e->vpage);
            wr_le64(dst + len + 10, pa);
        }
        len += TLB_ENTRY_BYTES;
        n++;
    }
    if (dst) {
        if (dst_cap < 4) {
            return 0;
        }
        wr_le32(dst, (uint32_t)n);
    }
    return len;
}

int rv_cpu_tlb_check(const struct rv_cpu *cpu, const uint8_t *src,
                     size_t src_len)
{
    uint32_t n;
    long prev = -1;

    if (src_len < 4) {
        return -EBADMSG;
    }
    n = rd_le32(src);
    if (n > TLB_SLOTS || src_len != 4 + (size_t)n * TLB_ENTRY_BYTES) {
        return -EBADMSG;
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = src + 4 + (size_t)i * TLB_ENTRY_BYTES;
        unsigned slot = rd_le16(e);
        uint64_t vpage = rd_le64(e + 2), pa = rd_le64(e + 10);
        const struct rv_mem_region *r;

        if ((long)slot <= prev || slot >= TLB_SLOTS || (vpage & 0xfff) ||
            (pa & 0xfff) ||
            ((vpage >> 12) % RV_TLB_SIZE) != slot % RV_TLB_SIZE) {
            return -EBADMSG;
        }
        r = tlb_region(cpu, pa);
        if (!r || (r->read_only && (slot / RV_TLB_SIZE) % 3 == RV_ACC_WRITE)) {
            return -EBADMSG;
        }
        prev = (long)slot;
    }
    return 0;
}

int rv_cpu_tlb_load(struct rv_cpu *cpu, const uint8_t *src, size_t src_len)
{
    int ret = rv_cpu_tlb_check(cpu, src, src_len);
    uint32_t n;

    if (ret < 0) {
        return ret;
    }
    rv_tlb_flush(cpu);
    n = rd_le32(src);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = src + 4 + (size_t)i * TLB_ENTRY_BYTES;
        unsigned slot = rd_le16(e);
        uint64_t vpage = rd_le64(e + 2), pa = rd_le64(e + 10);
        const struct rv_mem_region *r = tlb_region(cpu, pa);
        unsigned acc = (slot / RV_TLB_SIZE) % 3;
        struct rv_tlb_entry *t =
            &cpu->tlb[slot / (3 * RV_TLB_SIZE)][acc][slot % RV_TLB_SIZE];
        uint8_t *host = r->host + (pa - r->base);

        t->vpage = vpage;
        t->addend = (uintptr_t)host - vpage;
        if (acc == RV_ACC_WRITE) {
            /* A page with blocks has no write entries (design note 3). */
            rv_ram_write(cpu, host);
        }
    }
    return 0;
}
