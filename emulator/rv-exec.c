/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv-exec.c - the interpreter: find the block of predecoded
 * instructions at the pc (built from the page the fetch TLB maps, or one
 * instruction through the predecode cache of rv-decode.c), and run its
 * slots with threaded dispatch (computed goto), without fetching. The
 * icount advances per block and is exact at every instruction: the slot
 * index gives it wherever it is observed. RV64IMAC + Zicsr + Zifencei and
 * the F/D loads and stores are here; other F/D instructions go to
 * rv-fpu.c. Loads and stores hit the soft TLB inline and fall back to
 * rv-mmu.c.
 */
#include "emulator/rv-hart.h"

typedef unsigned __int128 rv_u128;
typedef __int128 rv_i128;

#define IMM_I(i) ((uint64_t)((int64_t)(int32_t)(i) >> 20))
#define IMM_S(i)                                                               \
    ((uint64_t)(((int64_t)(int32_t)((i)&0xfe000000u) >> 20) |                  \
                (((i) >> 7) & 0x1f)))
#define IMM_B(i)                                                               \
    ((uint64_t)(((int64_t)(int32_t)((i)&0x80000000u) >> 19) |                  \
                (((i)&0x80) << 4) | (((i) >> 20) & 0x7e0) |                    \
                (((i) >> 7) & 0x1e)))
#define IMM_U(i) ((uint64_t)(int64_t)(int32_t)((i)&0xfffff000u))
#define IMM_J(i)                                                               \
    ((uint64_t)(((int64_t)(int32_t)((i)&0x80000000u) >> 11) | ((i)&0xff000) |  \
                (((i) >> 9) & 0x800) | (((i) >> 20) & 0x7fe)))

#define SEXT32(v) ((uint64_t)(int64_t)(int32_t)(uint32_t)(v))

static uint64_t div64(uint64_t a, uint64_t b)
{
    if (b == 0) {
        return UINT64_MAX;
    }
    if (a == (1ULL << 63) && b == UINT64_MAX) {
        return a;
    }
    return (uint64_t)((int64_t)a / (int64_t)b);
}

static uint64_t rem64(uint64_t a, uint64_t b)
{
    if (b == 0) {
        return a;
    }
    if (a == (1ULL << 63) && b == UINT64_MAX) {
        return 0;
    }
    return (uint64_t)((int64_t)a % (int64_t)b);
}

static uint64_t div32(uint64_t a, uint64_t b)
{
    int32_t x = (int32_t)a, y = (int32_t)b;

    if (y == 0) {
        return UINT64_MAX;
    }
    if (x == INT32_MIN && y == -1) {
        return SEXT32(x);
    }
    return SEXT32(x / y);
}

static uint64_t rem32(uint64_t a, uint64_t b)
{
    int32_t x = (int32_t)a, y = (int32_t)b;

    if (y == 0) {
        return SEXT32(x);
    }
    if (x == INT32_MIN && y == -1) {
        return 0;
    }
    return SEXT32(x % y);
}

static uint64_t mulh(uint64_t a, uint64_t b)
{
    return (uint64_t)((rv_i128)(int64_t)a * (rv_i128)(int64_t)b >> 64);
}

static uint64_t mulhsu(uint64_t a, uint64_t b)
{
    return (uint64_t)((rv_i128)(int64_t)a * (rv_i128)(rv_u128)b >> 64);
}

static uint64_t mulhu(uint64_t a, uint64_t b)
{
    return (uint64_t)((rv_u128)a * (rv_u128)b >> 64);
}

static uint64_t amo_op(unsigned f5, uint64_t old, uint64_t src, bool word)
{
    if (word) {
        old = SEXT32(old);
        src = SEXT32(src);
    }
    switch (f5) {
    case 0x01:
        return src;
    case 0x00:
        return old + src;
    case 0x04:
        return old ^ src;
    case 0x0c:
        return old & src;
    case 0x08:
        return old | src;
    case 0x10:
        return (int64_t)old < (int64_t)src ? old : src;
    case 0x14:
        return (int64_t)old > (int64_t)src ? old : src;
    case 0x18:
        return old < src ? old : src;
    default:
        return old > src ? old : src;
    }
}

static uint64_t ram_load_amo(uint8_t *host, unsigned size_log2)
{
    if (size_log2 == 2) {
        uint32_t v;

        memcpy(&v, host, 4);
        return v;
    }
    {
        uint64_t v;

        memcpy(&v, host, 8);
        return v;
    }
}

/*
 * Execute an A-extension instruction. Returns 0, 1 for illegal, or -1 for
 * an exception described in cpu->exc_cause/exc_tval.
 */
static int exec_amo(struct rv_cpu *cpu, uint32_t insn)
{
    unsigned f3 = (insn >> 12) & 7, f5 = insn >> 27;
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31;
    unsigned rs2 = (insn >> 20) & 31;
    unsigned sl = f3 == 2 ? 2 : 3;
    uint64_t va = cpu->x[rs1], src = cpu->x[rs2], old, pa;
    uint8_t *host;

    if (f3 != 2 && f3 != 3) {
        return 1;
    }
    if (f5 == 0x02) { /* LR */
        if (rs2 != 0) {
            return 1;
        }
        if (va & ((1u << sl) - 1)) {
            cpu->exc_cause = RV_EXC_LOAD_MISALIGNED;
            cpu->exc_tval = va;
            return -1;
        }
        if (rv_mem_load_slow(cpu, va, sl, &old) < 0) {
            return -1;
        }
        if (sl == 2) {
            old = SEXT32(old);
        }
        cpu->res_valid = true;
        cpu->res_addr = va;
        cpu->res_value = old;
        cpu->x[rd] = old;
        return 0;
    }
    if (f5 == 0x03) { /* SC */
        bool ok = cpu->res_valid && cpu->res_addr == va;

        if (ok) {
            if (rv_mem_amo_addr(cpu, va, sl, &host, &pa) < 0) {
                return -1;
            }
            if (host) {
                old = ram_load_amo(host, sl);
                if (sl == 2) {
                    old = SEXT32(old);
                }
                ok = old == cpu->res_value;
                if (ok) {
                    memcpy(host, &src, 1u << sl);
                }
            } else {
                ok = false;
            }
        }
        cpu->res_valid = false;
        cpu->x[rd] = ok ? 0 : 1;
        return 0;
    }
    switch (f5) {
    case 0x00:
    case 0x01:
    case 0x04:
    case 0x08:
    case 0x0c:
    case 0x10:
    case 0x14:
    case 0x18:
    case 0x1c:
        break;
    default:
        return 1;
    }
    if (rv_mem_amo_addr(cpu, va, sl, &host, &pa) < 0) {
        return -1;
    }
    if (host) {
        uint64_t nv;

        old = ram_load_amo(host, sl);
        nv = amo_op(f5, old, src, sl == 2);
        memcpy(host, &nv, 1u << sl);
    } else {
        uint64_t nv;

        cpu->exec_break = true;
        if (!cpu->bus.read || !cpu->bus.write ||
            cpu->bus.read(cpu->bus.opaque, pa, sl, &old)) {
            cpu->exc_cause = RV_EXC_STORE_ACCESS;
            cpu->exc_tval = va;
            return -1;
        }
        nv = amo_op(f5, old, src, sl == 2);
        if (cpu->bus.write(cpu->bus.opaque, pa, sl, nv)) {
            cpu->exc_cause = RV_EXC_STORE_ACCESS;
            cpu->exc_tval = va;
            return -1;
        }
    }
    cpu->x[rd] = sl == 2 ? SEXT32(old) : old;
    return 0;
}

/*
 * SYSTEM opcode: CSRs, ecall/ebreak, xRET, WFI, sfence.vma. @pc is the
 * instruction's address; *@npc is updated for xRET. Returns 0, 1 for
 * illegal, or -1 for an exception in cpu->exc_cause/exc_tval.
 */
static int exec_system(struct rv_cpu *cpu, uint32_t insn, uint64_t pc,
                       uint64_t *npc)
{
    unsigned f3 = (insn >> 12) & 7;
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31;
    uint64_t ms = cpu->mstatus;

    cpu->exec_break = true;
    if (f3 == 0) {
        if (insn == 0x00000073) {
            cpu->exc_cause = RV_EXC_ECALL_U + cpu->priv;
            cpu->exc_tval = 0;
            return -1;
        }
        if (insn == 0x00100073) {
            cpu->exc_cause = RV_EXC_BREAKPOINT;
            cpu->exc_tval = 0; /* as QEMU 7.2 */
            return -1;
        }
        if (insn == 0x30200073) { /* mret */
            unsigned mpp = (unsigned)((ms & RV_MS_MPP) >> 11);

            if (cpu->priv != RV_PRV_M) {
                return 1;
            }
            ms = (ms & ~RV_MS_MIE) | ((ms & RV_MS_MPIE) ? RV_MS_MIE : 0);
            ms |= RV_MS_MPIE;
            ms &= ~RV_MS_MPP;
            cpu->mstatus = ms;
            cpu->priv = mpp;
            *npc = cpu->mepc;
            rv_cpu_update_ctx(cpu);
            return 0;
        }
        if (insn == 0x10200073) { /* sret */
            if (cpu->priv < RV_PRV_S ||
                (cpu->priv == RV_PRV_S && (ms & RV_MS_TSR))) {
                return 1;
            }
            cpu->priv = (ms & RV_MS_SPP) ? RV_PRV_S : RV_PRV_U;
            ms = (ms & ~RV_MS_SIE) | ((ms & RV_MS_SPIE) ? RV_MS_SIE : 0);
            ms |= RV_MS_SPIE;
            ms &= ~RV_MS_SPP;
            cpu->mstatus = ms;
            *npc = cpu->sepc;
            rv_cpu_update_ctx(cpu);
            return 0;
        }
        if (insn == 0x10500073) { /* wfi */
            if (cpu->priv == RV_PRV_U ||
                (cpu->priv == RV_PRV_S && (ms & RV_MS_TW))) {
                return 1;
            }
            if (!(rv_cpu_mip(cpu) & cpu->mie)) {
                cpu->wfi = true;
            }
            return 0;
        }
        if ((insn >> 25) == 0x09 && rd == 0) { /* sfence.vma */
            if (cpu->priv == RV_PRV_U ||
                (cpu->priv == RV_PRV_S && (ms & RV_MS_TVM))) {
                return 1;
            }
            rv_tlb_flush(cpu);
            return 0;
        }
        return 1;
    }
    if (f3 == 4) {
        return 1;
    }
    {
        unsigned csr = insn >> 20;
        uint64_t src = (f3 & 4) ? rs1 : cpu->x[rs1];
        uint64_t old = 0, nv;
        bool wr = (f3 & 3) == 1 || rs1 != 0;
        bool rdo = (f3 & 3) != 1 || rd != 0;

        uint64_t base;

        if (rv_csr_access(cpu, csr, true, false, 0, &old) < 0) {
            return 1;
        }
        /* Only the software-writable SEIP bit takes part in a CSRRS/CSRRC
         * of mip, not the PLIC line ORed into reads (priv spec 3.1.9). */
        base = old;
        if (csr == 0x344) {
            base = (old & ~(1ULL << RV_IRQ_SEIP)) |
                   (cpu->mip_sw & (1ULL << RV_IRQ_SEIP));
        }
        switch (f3 & 3) {
        case 1:
            nv = src;
            break;
        case 2:
            nv = base | src;
            break;
        default:
            nv = base & ~src;
            break;
        }
        if (wr && rv_csr_access(cpu, csr, false, true, nv, NULL) < 0) {
            return 1;
        }
        if (rdo) {
            cpu->x[rd] = old;
        }
        return 0;
    }
}

#define SYNC()                                                                 \
    do {                                                                       \
        cpu->pc = pc;                                                          \
        cpu->icount = bic + (uint64_t)(d - bstart);                            \
    } while (0)

#define XRD  x[d->rd]
#define XRS1 x[d->rs1]
#define XRS2 x[d->rs2]
#define IMM  ((uint64_t)(int64_t)d->imm)

#define LOAD(type, sl)                                                         \
    do {                                                                       \
        uint64_t va_ = XRS1 + IMM;                                             \
        struct rv_tlb_entry *e_ = &tlb_r[(va_ >> 12) & (RV_TLB_SIZE - 1)];     \
        if (RV_LIKELY(e_->vpage == (va_ & rv_tlb_mask(sl)))) {                 \
            type v_;                                                           \
            memcpy(&v_, (const void *)(uintptr_t)(va_ + e_->addend),           \
                   sizeof(v_));                                                \
            XRD = (uint64_t)(int64_t)v_;                                       \
        } else {                                                               \
            uint64_t v_;                                                       \
            SYNC();                                                            \
            if (rv_mem_load_slow(cpu, va_, sl, &v_) < 0) {                     \
                goto exc_pending;                                              \
            }                                                                  \
            XRD = (uint64_t)(int64_t)(type)v_;                                 \
        }                                                                      \
    } while (0)

#define STORE(type, sl, val)                                                   \
    do {                                                                       \
        uint64_t va_ = XRS1 + IMM;                                             \
        struct rv_tlb_entry *e_ = &tlb_w[(va_ >> 12) & (RV_TLB_SIZE - 1)];     \
        if (RV_LIKELY(e_->vpage == (va_ & rv_tlb_mask(sl)))) {                 \
            type v_ = (type)(val);                                             \
            memcpy((void *)(uintptr_t)(va_ + e_->addend), &v_, sizeof(v_));    \
        } else {                                                               \
            SYNC();                                                            \
            if (rv_mem_store_slow(cpu, va_, sl, (val)) < 0) {                  \
                goto exc_pending;                                              \
            }                                                                  \
        }                                                                      \
    } while (0)

/*
 * Enter the block at pc (DESIGN NOTES of rv-cpu.c, 3): look it up in the
 * block cache, build it on a miss, or run a single instruction through the
 * predecode cache when the pc's page is not in the fetch TLB, the block
 * would overrun the budget, or its first instruction crosses the page.
 */
#define DISPATCH() goto block_enter

/* Next slot of the block; at its end, the icount advances by the block. */
#define NEXT()                                                                 \
    do {                                                                       \
        x[0] = 0;                                                              \
        pc = npc;                                                              \
        d++;                                                                   \
        if (RV_UNLIKELY(d == dend)) {                                          \
            goto block_end;                                                    \
        }                                                                      \
        if (RV_UNLIKELY(cpu->exec_break)) {                                    \
            goto block_break;                                                  \
        }                                                                      \
        npc = pc + d->len;                                                     \
        goto *labels[d->op];                                                   \
    } while (0)

/*
 * Decode the block at @pc, whose first byte is at @host in a RAM or ROM
 * page the fetch TLB maps, into the pool, and enter it in the table.
 * Returns the block, or NULL if its first instruction crosses the page
 * (run it alone through the slow fetch).
 */
static struct rv_block *block_build(struct rv_cpu *cpu, uint64_t pc,
                                    const uint8_t *host)
{
    const uint8_t *page_host = host - (pc & 0xfff);
    unsigned off = (unsigned)(pc & 0xfff), n = 0;
    uint32_t page = rv_code_page(cpu, host);
    size_t need =
        sizeof(struct rv_block) + RV_BLOCK_SLOTS * sizeof(struct rv_dslot);
    struct rv_block *b;

    if (page == UINT32_MAX) {
        return NULL;
    }
    if (RV_BLOCK_POOL - cpu->bpool_used < need) {
        memset(cpu->btab, 0, RV_BLOCK_TABLE * sizeof(*cpu->btab));
        cpu->bpool_used = 0;
    }
    b = (struct rv_block *)(void *)(cpu->bpool + cpu->bpool_used);
    while (n < RV_BLOCK_SLOTS && off < 0x1000) {
        uint32_t raw;

        if (off == 0xffe) {
            uint16_t lo;

            memcpy(&lo, page_host + off, 2);
            if ((lo & 3) == 3) {
                break;
            }
            raw = lo;
        } else {
            memcpy(&raw, page_host + off, 4);
        }
        rv_predecode(raw, &b->s[n]);
        off += b->s[n].len;
        if (rv_slot_ends_block(&b->s[n++])) {
            break;
        }
    }
    if (n == 0) {
        return NULL;
    }
    if (!cpu->code_mark[page]) {
        rv_code_mark(cpu, page, page_host);
    }
    b->vpc = pc;
    b->host = host;
    b->page = page;
    b->gen = cpu->code_gen[page];
    b->n = n;
    cpu->bpool_used +=
        (sizeof(struct rv_block) + n * sizeof(struct rv_dslot) + 15) &
        ~(size_t)15;
    cpu->btab[(pc >> 1) & (RV_BLOCK_TABLE - 1)] = b;
    return b;
}

#define CASE(n)        L_##n:
#define RV_OP_LABEL(n) &&L_##n,

/*
 * GCC merges the identical dispatch tails of the handlers (cross-jumping),
 * which funnels every dispatch through one indirect jump and defeats the
 * branch predictor; keep one copy per handler.
 */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-crossjumping")))
#endif
void rv_exec(struct rv_cpu *cpu, uint64_t max)
{
    static const void *const labels[RV_OP_COUNT] = {RV_OPS(RV_OP_LABEL)};
    uint64_t *const x = cpu->x;
    struct rv_dslot *const dcache = cpu->dcache;
    struct rv_tlb_entry *const tlb_r = cpu->tlb[cpu->dctx][RV_ACC_READ];
    struct rv_tlb_entry *const tlb_w = cpu->tlb[cpu->dctx][RV_ACC_WRITE];
    struct rv_tlb_entry *const tlb_x = cpu->tlb[cpu->priv][RV_ACC_FETCH];
    struct rv_block **const btab = cpu->btab;
    uint64_t pc = cpu->pc, bic = cpu->icount, end = bic + max;
    uint64_t cause = 0, tval = 0, npc = pc;
    struct rv_dslot *d = NULL, *bstart = NULL, *dend = NULL;
    int r;

    if (end < bic) {
        end = UINT64_MAX;
    }
block_enter:
    if (RV_UNLIKELY(bic >= end)) {
        d = bstart = NULL;
        goto out;
    }
    {
        const struct rv_tlb_entry *e = &tlb_x[(pc >> 12) & (RV_TLB_SIZE - 1)];
        struct rv_block *b = btab[(pc >> 1) & (RV_BLOCK_TABLE - 1)];
        const uint8_t *host;

        if (RV_UNLIKELY(e->vpage != (pc & ~0xfffULL))) {
            goto single;
        }
        host = (const uint8_t *)(uintptr_t)(pc + e->addend);
        if (RV_UNLIKELY(!b || b->vpc != pc || b->host != host ||
                        b->gen != cpu->code_gen[b->page])) {
            b = block_build(cpu, pc, host);
            if (!b) {
                goto single;
            }
        }
        if (RV_UNLIKELY(end - bic < b->n)) {
            goto single;
        }
        bstart = d = b->s;
        dend = d + b->n;
        npc = pc + d->len;
        goto *labels[d->op];
    }
single : {
    uint32_t raw_;
    uint64_t page_;
    const uint8_t *host_;

    d = bstart = NULL;
    SYNC();
    if (rv_mem_fetch_slow(cpu, pc, &raw_, &page_, &host_) < 0) {
        goto exc_pending;
    }
    d = &dcache[(pc >> 1) & (RV_DCACHE_SIZE - 1)];
    if (d->raw != raw_) {
        rv_predecode(raw_, d);
    }
    bstart = d;
    dend = d + 1;
    npc = pc + d->len;
    goto *labels[d->op];
}
block_end:
    bic += (uint64_t)(dend - bstart);
    if (RV_UNLIKELY(cpu->exec_break)) {
        d = bstart = NULL;
        goto out;
    }
    goto block_enter;
block_break:
    bic += (uint64_t)(d - bstart);
    d = bstart = NULL;
    goto out;

    CASE(ILLEGAL)
    goto illegal;
    CASE(LUI)
    XRD = IMM;
    NEXT();
    CASE(AUIPC)
    XRD = pc + IMM;
    NEXT();
    CASE(JAL)
    XRD = npc;
    npc = pc + IMM;
    NEXT();
    CASE(JALR)
    {
        uint64_t t = (XRS1 + IMM) & ~1ULL;

        XRD = npc;
        npc = t;
    }
    NEXT();
    CASE(BEQ)
    if (XRS1 == XRS2) {
        npc = pc + IMM;
    }
    NEXT();
    CASE(BNE)
    if (XRS1 != XRS2) {
        npc = pc + IMM;
    }
    NEXT();
    CASE(BLT)
    if ((int64_t)XRS1 < (int64_t)XRS2) {
        npc = pc + IMM;
    }
    NEXT();
    CASE(BGE)
    if ((int64_t)XRS1 >= (int64_t)XRS2) {
        npc = pc + IMM;
    }
    NEXT();
    CASE(BLTU)
    if (XRS1 < XRS2) {
        npc = pc + IMM;
    }
    NEXT();
    CASE(BGEU)
    if (XRS1 >= XRS2) {
        npc = pc + IMM;
    }
    NEXT();
    CASE(LB)
    LOAD(int8_t, 0);
    NEXT();
    CASE(LH)
    LOAD(int16_t, 1);
    NEXT();
    CASE(LW)
    LOAD(int32_t, 2);
    NEXT();
    CASE(LD)
    LOAD(uint64_t, 3);
    NEXT();
    CASE(LBU)
    LOAD(uint8_t, 0);
    NEXT();
    CASE(LHU)
    LOAD(uint16_t, 1);
    NEXT();
    CASE(LWU)
    LOAD(uint32_t, 2);
    NEXT();
    CASE(SB)
    STORE(uint8_t, 0, XRS2);
    NEXT();
    CASE(SH)
    STORE(uint16_t, 1, XRS2);
    NEXT();
    CASE(SW)
    STORE(uint32_t, 2, XRS2);
    NEXT();
    CASE(SD)
    STORE(uint64_t, 3, XRS2);
    NEXT();
    CASE(ADDI)
    XRD = XRS1 + IMM;
    NEXT();
    CASE(SLTI)
    XRD = (int64_t)XRS1 < (int64_t)IMM;
    NEXT();
    CASE(SLTIU)
    XRD = XRS1 < IMM;
    NEXT();
    CASE(XORI)
    XRD = XRS1 ^ IMM;
    NEXT();
    CASE(ORI)
    XRD = XRS1 | IMM;
    NEXT();
    CASE(ANDI)
    XRD = XRS1 & IMM;
    NEXT();
    CASE(SLLI)
    XRD = XRS1 << d->imm;
    NEXT();
    CASE(SRLI)
    XRD = XRS1 >> d->imm;
    NEXT();
    CASE(SRAI)
    XRD = (uint64_t)((int64_t)XRS1 >> d->imm);
    NEXT();
    CASE(ADDIW)
    XRD = SEXT32(XRS1 + IMM);
    NEXT();
    CASE(SLLIW)
    XRD = SEXT32((uint32_t)XRS1 << d->imm);
    NEXT();
    CASE(SRLIW)
    XRD = SEXT32((uint32_t)XRS1 >> d->imm);
    NEXT();
    CASE(SRAIW)
    XRD = SEXT32((int32_t)XRS1 >> d->imm);
    NEXT();
    CASE(ADD)
    XRD = XRS1 + XRS2;
    NEXT();
    CASE(SUB)
    XRD = XRS1 - XRS2;
    NEXT();
    CASE(SLL)
    XRD = XRS1 << (XRS2 & 63);
    NEXT();
    CASE(SLT)
    XRD = (int64_t)XRS1 < (int64_t)XRS2;
    NEXT();
    CASE(SLTU)
    XRD = XRS1 < XRS2;
    NEXT();
    CASE(XOR)
    XRD = XRS1 ^ XRS2;
    NEXT();
    CASE(SRL)
    XRD = XRS1 >> (XRS2 & 63);
    NEXT();
    CASE(SRA)
    XRD = (uint64_t)((int64_t)XRS1 >> (XRS2 & 63));
    NEXT();
    CASE(OR)
    XRD = XRS1 | XRS2;
    NEXT();
    CASE(AND)
    XRD = XRS1 & XRS2;
    NEXT();
    CASE(ADDW)
    XRD = SEXT32(XRS1 + XRS2);
    NEXT();
    CASE(SUBW)
    XRD = SEXT32(XRS1 - XRS2);
    NEXT();
    CASE(SLLW)
    XRD = SEXT32((uint32_t)XRS1 << (XRS2 & 31));
    NEXT();
    CASE(SRLW)
    XRD = SEXT32((uint32_t)XRS1 >> (XRS2 & 31));
    NEXT();
    CASE(SRAW)
    XRD = SEXT32((int32_t)XRS1 >> (XRS2 & 31));
    NEXT();
    CASE(MUL)
    XRD = XRS1 * XRS2;
    NEXT();
    CASE(MULH)
    XRD = mulh(XRS1, XRS2);
    NEXT();
    CASE(MULHSU)
    XRD = mulhsu(XRS1, XRS2);
    NEXT();
    CASE(MULHU)
    XRD = mulhu(XRS1, XRS2);
    NEXT();
    CASE(DIV)
    XRD = div64(XRS1, XRS2);
    NEXT();
    CASE(DIVU)
    XRD = XRS2 ? XRS1 / XRS2 : UINT64_MAX;
    NEXT();
    CASE(REM)
    XRD = rem64(XRS1, XRS2);
    NEXT();
    CASE(REMU)
    XRD = XRS2 ? XRS1 % XRS2 : XRS1;
    NEXT();
    CASE(MULW)
    XRD = SEXT32((uint32_t)XRS1 * (uint32_t)XRS2);
    NEXT();
    CASE(DIVW)
    XRD = div32(XRS1, XRS2);
    NEXT();
    CASE(DIVUW)
    XRD = (uint32_t)XRS2 ? SEXT32((uint32_t)XRS1 / (uint32_t)XRS2) : UINT64_MAX;
    NEXT();
    CASE(REMW)
    XRD = rem32(XRS1, XRS2);
    NEXT();
    CASE(REMUW)
    XRD =
        (uint32_t)XRS2 ? SEXT32((uint32_t)XRS1 % (uint32_t)XRS2) : SEXT32(XRS1);
    NEXT();
    CASE(FENCE)
    NEXT();
    CASE(FENCEI)
    /* Stores to pages holding blocks invalidate them: nothing stale. */
    cpu->exec_break = true;
    NEXT();
    CASE(AMO)
    SYNC();
    r = exec_amo(cpu, (uint32_t)d->imm);
    if (r > 0) {
        goto illegal;
    }
    if (r < 0) {
        goto exc_pending;
    }
    NEXT();
    CASE(SYSTEM)
    SYNC();
    r = exec_system(cpu, (uint32_t)d->imm, pc, &npc);
    if (r > 0) {
        goto illegal;
    }
    if (r < 0) {
        goto exc_pending;
    }
    NEXT();
    CASE(FLW)
    CASE(FLD)
    if (!rv_fpu_enabled(cpu)) {
        goto illegal;
    }
    {
        unsigned sl = d->op == RV_OP_FLW ? 2 : 3;
        uint64_t va = XRS1 + IMM, v = 0;
        struct rv_tlb_entry *e = &tlb_r[(va >> 12) & (RV_TLB_SIZE - 1)];

        if (RV_LIKELY(e->vpage == (va & rv_tlb_mask(sl)))) {
            memcpy(&v, (const void *)(uintptr_t)(va + e->addend), 1u << sl);
        } else {
            SYNC();
            if (rv_mem_load_slow(cpu, va, sl, &v) < 0) {
                goto exc_pending;
            }
        }
        cpu->f[d->rd] = sl == 2 ? (v | 0xffffffff00000000ULL) : v;
        rv_fpu_dirty(cpu);
    }
    NEXT();
    CASE(FSW)
    if (!rv_fpu_enabled(cpu)) {
        goto illegal;
    }
    STORE(uint32_t, 2, cpu->f[d->rs2]);
    NEXT();
    CASE(FSD)
    if (!rv_fpu_enabled(cpu)) {
        goto illegal;
    }
    STORE(uint64_t, 3, cpu->f[d->rs2]);
    NEXT();
    CASE(FPU)
    if (rv_fpu_exec(cpu, (uint32_t)d->imm) < 0) {
        goto illegal;
    }
    NEXT();

out:
    x[0] = 0;
    SYNC();
    return;

illegal:
    cause = RV_EXC_ILLEGAL;
    tval = d->len == 2 ? (d->raw & 0xffff) : d->raw;
    goto exc;
exc_pending:
    cause = cpu->exc_cause;
    tval = cpu->exc_tval;
exc:
    x[0] = 0;
    SYNC();
    rv_cpu_exception(cpu, cause, tval);
}
