/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv-hart.h - private state of the RV64GC hart, shared only by the
 * CPU files (rv-cpu.c, rv-csr.c, rv-mmu.c, rv-exec.c, rv-fpu.c, rv-decode.c).
 * The machine sees struct rv_cpu as opaque through emulator/rv-int.h.
 */
#ifndef EMULATOR_RV_HART_H
#define EMULATOR_RV_HART_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "emulator/rv-int.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rv-hart.h: host RAM accesses assume a little-endian host"
#endif

#define RV_LIKELY(x)   __builtin_expect(!!(x), 1)
#define RV_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Privilege levels. */
#define RV_PRV_U 0
#define RV_PRV_S 1
#define RV_PRV_M 3

/* Exception causes. */
#define RV_EXC_INSN_MISALIGNED  0
#define RV_EXC_INSN_ACCESS      1
#define RV_EXC_ILLEGAL          2
#define RV_EXC_BREAKPOINT       3
#define RV_EXC_LOAD_MISALIGNED  4
#define RV_EXC_LOAD_ACCESS      5
#define RV_EXC_STORE_MISALIGNED 6
#define RV_EXC_STORE_ACCESS     7
#define RV_EXC_ECALL_U          8
#define RV_EXC_ECALL_S          9
#define RV_EXC_ECALL_M          11
#define RV_EXC_INSN_PAGE        12
#define RV_EXC_LOAD_PAGE        13
#define RV_EXC_STORE_PAGE       15

/* mstatus fields. */
#define RV_MS_SIE  (1ULL << 1)
#define RV_MS_MIE  (1ULL << 3)
#define RV_MS_SPIE (1ULL << 5)
#define RV_MS_MPIE (1ULL << 7)
#define RV_MS_SPP  (1ULL << 8)
#define RV_MS_MPP  (3ULL << 11)
#define RV_MS_FS   (3ULL << 13)
#define RV_MS_MPRV (1ULL << 17)
#define RV_MS_SUM  (1ULL << 18)
#define RV_MS_MXR  (1ULL << 19)
#define RV_MS_TVM  (1ULL << 20)
#define RV_MS_TW   (1ULL << 21)
#define RV_MS_TSR  (1ULL << 22)
#define RV_MS_UXL  (3ULL << 32)
#define RV_MS_SXL  (3ULL << 34)
#define RV_MS_SD   (1ULL << 63)

#define RV_FS_OFF   0
#define RV_FS_DIRTY 3

/* Number of PMP entries presented (as QEMU 7.2). */
#define RV_PMP_COUNT 16
/* PMP address registers hold physical address bits 55:2. */
#define RV_PMP_ADDR_MASK ((1ULL << 54) - 1)

/* Soft TLB geometry: direct mapped, one array per access type. */
#define RV_TLB_BITS 8
#define RV_TLB_SIZE (1u << RV_TLB_BITS)
/*
 * TLB contexts: data accesses index by effective privilege, with S-mode
 * with SUM=1 in the unused slot 2; fetches index by privilege.
 */
#define RV_TLB_CTX 4

enum rv_access {
    RV_ACC_READ = 0,
    RV_ACC_WRITE = 1,
    RV_ACC_FETCH = 2,
};

/* Host address = guest virtual address + addend, for one 4 KiB page. */
struct rv_tlb_entry {
    uint64_t vpage;   /* page-aligned virtual address, or RV_TLB_INVALID */
    uintptr_t addend; /* host pointer minus vpage */
};

#define RV_TLB_INVALID (~0ULL)

/* Instruction kinds of the predecoded form (X-macro: enum and jump table). */
/* clang-format off */
#define RV_OPS(X)                                                              \
    X(ILLEGAL) X(LUI) X(AUIPC) X(JAL) X(JALR) X(BEQ) X(BNE) X(BLT)             \
    X(BGE) X(BLTU) X(BGEU) X(LB) X(LH) X(LW) X(LD) X(LBU) X(LHU)               \
    X(LWU) X(SB) X(SH) X(SW) X(SD) X(ADDI) X(SLTI) X(SLTIU) X(XORI)            \
    X(ORI) X(ANDI) X(SLLI) X(SRLI) X(SRAI) X(ADDIW) X(SLLIW) X(SRLIW)          \
    X(SRAIW) X(ADD) X(SUB) X(SLL) X(SLT) X(SLTU) X(XOR) X(SRL) X(SRA)          \
    X(OR) X(AND) X(ADDW) X(SUBW) X(SLLW) X(SRLW) X(SRAW) X(MUL)                \
    X(MULH) X(MULHSU) X(MULHU) X(DIV) X(DIVU) X(REM) X(REMU) X(MULW)           \
    X(DIVW) X(DIVUW) X(REMW) X(REMUW) X(FENCE) X(FENCEI) X(AMO)                \
    X(SYSTEM) X(FLW) X(FLD) X(FSW) X(FSD) X(FPU)
/* clang-format on */

#define RV_OP_ENUM(n) RV_OP_##n,
enum rv_op { RV_OPS(RV_OP_ENUM) RV_OP_COUNT };
#undef RV_OP_ENUM

/*
 * One predecoded instruction. Decoding is a pure function of the fetched
 * bits, so a slot is valid for any pc whose 32 fetched bits equal @raw.
 */
struct rv_dslot {
    uint32_t raw; /* the 32 bits fetched (16-bit forms include the next) */
    uint16_t op;  /* enum rv_op */
    uint8_t rd, rs1;
    uint8_t rs2;
    uint8_t len; /* 2 or 4 */
    int32_t imm; /* immediate; the expanded instruction for AMO/SYSTEM/FPU */
};

/* Predecode cache: direct mapped by pc, 32 K slots (512 KiB). */
#define RV_DCACHE_BITS 15
#define RV_DCACHE_SIZE (1u << RV_DCACHE_BITS)

/*
 * Block cache (rv-exec.c): straight runs of predecoded instructions on one
 * page. Blocks are allocated in order from a pool (so the hot ones sit
 * close together) and found through a direct-mapped table by virtual pc.
 * A block is valid while the fetch TLB maps its pc to the same host address
 * and its page's code generation is unchanged; a store to a page holding
 * blocks bumps the generation (rv-mmu.c). A full pool empties the cache.
 */
#define RV_BLOCK_BITS  14
#define RV_BLOCK_TABLE (1u << RV_BLOCK_BITS)
#define RV_BLOCK_SLOTS 32
#define RV_BLOCK_POOL  (4u << 20) /* bytes: ~50 K blocks of Linux code */

struct rv_block {
    uint64_t vpc;        /* virtual pc of the first slot */
    const uint8_t *host; /* host address of the first instruction */
    uint32_t page;       /* index in code_gen/code_mark */
    uint32_t gen;        /* code_gen[page] when the block was built */
    uint32_t n;          /* slots, 1..RV_BLOCK_SLOTS */
    uint32_t pad;
    struct rv_dslot s[]; /* n slots */
};

struct rv_trace; /* rv-trace.c */

struct rv_cpu {
    /* Hot state first. */
    uint64_t x[32];
    uint64_t pc;
    uint64_t icount; /* instructions retired since reset */
    unsigned priv;   /* RV_PRV_* */
    unsigned dctx;   /* TLB context for data accesses */
    bool exec_break; /* leave the inner loop after this instruction */
    bool exit_req;   /* rv_cpu_request_exit() was called */
    bool wfi;        /* stopped in WFI */
    bool trap_loop;  /* trap loop detected */
    struct rv_tlb_entry tlb[RV_TLB_CTX][3][RV_TLB_SIZE];

    uint64_t f[32]; /* FP registers (NaN-boxed singles) */
    uint32_t fflags;
    uint32_t frm;

    /* CSRs */
    uint64_t mstatus;
    uint64_t medeleg, mideleg;
    uint64_t mie;
    uint64_t mip_sw; /* software-written SSIP/STIP/SEIP */
    uint64_t mip_hw; /* lines driven by the machine */
    uint64_t mtvec, mscratch, mepc, mcause, mtval;
    uint64_t stvec, sscratch, sepc, scause, stval;
    uint64_t satp;
    uint32_t mcounteren, scounteren;
    uint64_t cycle_off;   /* mcycle = icount + cycle_off */
    uint64_t instret_off; /* minstret = icount + instret_off */
    uint8_t pmpcfg[RV_PMP_COUNT];
    uint64_t pmpaddr[RV_PMP_COUNT];

    /* PMP ranges decoded from pmpcfg/pmpaddr: [lo, hi], hi inclusive. */
    uint64_t pmp_lo[RV_PMP_COUNT];
    uint64_t pmp_hi[RV_PMP_COUNT];
    bool pmp_on[RV_PMP_COUNT];
    unsigned pmp_nb_on;
    uint8_t pmp_active[RV_PMP_COUNT]; /* indices of active entries, in order */

    /* LR/SC reservation. */
    uint64_t res_addr;  /* virtual address of the LR */
    uint64_t res_value; /* value LR loaded; SC succeeds if unchanged */
    bool res_valid;

    /* Trap loop detection: last exception's pc and icount. */
    uint64_t last_exc_pc;
    uint64_t last_exc_icount;
    bool last_exc_valid;

    /* Pending exception reported by a slow path. */
    uint64_t exc_cause;
    uint64_t exc_tval;

    struct rv_bus bus;

    /* Block cache and per-page code tracking (rv-exec.c, rv-mmu.c),
     * allocated by rv_cpu_new(); they survive reset (which empties them). */
    struct rv_block **btab; /* RV_BLOCK_TABLE entries, NULL if empty */
    uint8_t *bpool;         /* RV_BLOCK_POOL bytes */
    size_t bpool_used;      /* bytes */
    uint32_t *code_gen;     /* per guest page of the bus regions */
    uint8_t *code_mark;     /* 1 if blocks were built from the page */
    uint32_t code_pages;    /* entries in code_gen/code_mark */
    /* Pages written since the last rv_cpu_dirty_take(), one bit per entry
     * of code_gen: set by every slow-path write (stores, AMO/SC, A/D
     * updates) and DMA. A page with a live write TLB entry keeps its bit,
     * so fast-path stores need no marking. */
    uint64_t *dirty;
    uint32_t region_page[RV_BUS_MAX_REGIONS]; /* first page index */

    /* -d tracing (rv-trace.c); both survive reset and load. */
    unsigned trace_mask;    /* RV_LOG_IN_ASM | _INT | _EXEC | _CPU | _FPU */
    struct rv_trace *trace; /* NULL when trace_mask is 0 */

    struct rv_dslot dcache[RV_DCACHE_SIZE];
};

/* ---- rv-cpu.c ---- */

/* Enter the trap handler for exception @cause with @tval at cpu->pc. */
void rv_cpu_exception(struct rv_cpu *cpu, uint64_t cause, uint64_t tval);
/* Recompute cpu->dctx after a change of priv or mstatus. */
void rv_cpu_update_ctx(struct rv_cpu *cpu);
/* mip as software sees it. */
static inline uint64_t rv_cpu_mip(const struct rv_cpu *cpu)
{
    return cpu->mip_sw | cpu->mip_hw;
}

/* ---- rv-csr.c ---- */

/*
 * Execute a CSR instruction's access: read the old value into *@old (if
 * @do_read), then write @val (if @do_write). Returns 0, or -1 if the access
 * raises illegal instruction.
 */
int rv_csr_access(struct rv_cpu *cpu, unsigned csr, bool do_read, bool do_write,
                  uint64_t val, uint64_t *old);
/* Decode pmpcfg/pmpaddr into ranges (after reset, a write or a load). */
void rv_pmp_update(struct rv_cpu *cpu);
/* Read @csr as a debugger would: no privilege check, but -1 where the CSR
 * is absent or its read is refused in the current state (satp under TVM),
 * as QEMU's register dump filters. Reads have no side effects. */
int rv_csr_read_debug(struct rv_cpu *cpu, unsigned csr, uint64_t *val);

/* ---- rv-mmu.c ---- */

/* Index of the page holding host RAM/ROM byte @host in code_gen, or
 * UINT32_MAX if @host is in no region. */
uint32_t rv_code_page(const struct rv_cpu *cpu, const uint8_t *host);
/* Host RAM/ROM byte @host is about to be written by the guest: mark its
 * page dirty and drop the blocks decoded from it. */
void rv_ram_write(struct rv_cpu *cpu, const uint8_t *host);
/* A block was built from page @page, whose first byte is at @page_host:
 * mark it so stores to it go through the slow path (write TLB entries for
 * it are dropped). */
void rv_code_mark(struct rv_cpu *cpu, uint32_t page, const uint8_t *page_host);

/*
 * The 16 bits at @va for the instruction fetch of a trace, and their
 * physical address: the soft TLB is used when it holds the page, as a
 * fetch would, so probing has no more effect on the guest than the fetch
 * of the same instruction. Returns 0, or -1 (the fetch would fault).
 */
int rv_mem_fetch_probe(struct rv_cpu *cpu, uint64_t va, uint16_t *half,
                       uint64_t *pa);

void rv_tlb_flush(struct rv_cpu *cpu);
/*
 * Slow paths: translate, check PMP, access RAM or MMIO, fill the TLB.
 * Return 0, or -1 with cpu->exc_cause/exc_tval set.
 */
int rv_mem_load_slow(struct rv_cpu *cpu, uint64_t va, unsigned size_log2,
                     uint64_t *val);
int rv_mem_store_slow(struct rv_cpu *cpu, uint64_t va, unsigned size_log2,
                      uint64_t val);
/*
 * Fetch the instruction at @va (16 or 32 bits, zero-extended). When the
 * page is in RAM, *@page/@host point at it so later fetches from the same
 * page can skip translation; otherwise *@page = RV_TLB_INVALID.
 */
int rv_mem_fetch_slow(struct rv_cpu *cpu, uint64_t va, uint32_t *insn,
                      uint64_t *page, const uint8_t **host);
/*
 * Translate for an atomic access (read+write permission, aligned): on
 * success *@host points at RAM, or is NULL for MMIO with *@pa set. The
 * caller may write *@host: blocks decoded from its page are dropped, as
 * for any store.
 */
int rv_mem_amo_addr(struct rv_cpu *cpu, uint64_t va, unsigned size_log2,
                    uint8_t **host, uint64_t *pa);

static inline uint64_t rv_tlb_mask(unsigned size_log2)
{
    return ~(0xfffULL & ~((1ULL << size_log2) - 1));
}

/* ---- rv-exec.c ---- */

/*
 * Interpret at most @max instructions from cpu->pc; returns early after a
 * trap, a CSR or system instruction, or an access that set exec_break.
 */
void rv_exec(struct rv_cpu *cpu, uint64_t max);

/* ---- rv-decode.c ---- */

/* Expand a 16-bit compressed instruction; returns 0 if it is illegal. */
uint32_t rv_decode_c(uint16_t c);
/* Decode the 32 bits fetched at some pc into @s. */
void rv_predecode(uint32_t raw, struct rv_dslot *s);
/* Reset every slot of the predecode cache and empty the block cache. */
void rv_dcache_init(struct rv_cpu *cpu);

/* Whether a block ends after this slot: control flow and system
 * instructions (which end an execution run anyway), and illegal encodings.
 * Shared by the predecoded blocks and the traced ones, so both split the
 * same way. */
static inline bool rv_slot_ends_block(const struct rv_dslot *s)
{
    switch (s->op) {
    case RV_OP_JAL:
    case RV_OP_JALR:
    case RV_OP_BEQ:
    case RV_OP_BNE:
    case RV_OP_BLT:
    case RV_OP_BGE:
    case RV_OP_BLTU:
    case RV_OP_BGEU:
    case RV_OP_ILLEGAL:
    case RV_OP_FENCEI:
    case RV_OP_SYSTEM:
        return true;
    default:
        return false;
    }
}

/* ---- rv-trace.c ---- */

/* Longest traced block: QEMU's TCG_MAX_INSNS. */
#define RV_TRACE_BLOCK_MAX 512

/*
 * Traced path: find the block at cpu->pc, log it (in_asm when new or its
 * code changed, the exec line, the register dump), and return how many
 * instructions rv_exec() may run: the block's length capped at @max, or 1
 * when the first fetch faults (the trap is logged, no block is).
 */
uint64_t rv_trace_block(struct rv_cpu *cpu, uint64_t max);
/* Log a trap about to be taken at cpu->pc (-d int). */
void rv_trace_int(struct rv_cpu *cpu, uint64_t cause, uint64_t tval, bool irq);
/* Free the trace state; accepts NULL. */
void rv_trace_free(struct rv_trace *t);

/* ---- rv-fpu.c ---- */

/* Execute OP-FP or a fused multiply-add. Returns 0, or -1 if illegal. */
int rv_fpu_exec(struct rv_cpu *cpu, uint32_t insn);
static inline bool rv_fpu_enabled(const struct rv_cpu *cpu)
{
    return (cpu->mstatus & RV_MS_FS) != 0;
}
static inline void rv_fpu_dirty(struct rv_cpu *cpu)
{
    cpu->mstatus |= RV_MS_FS | RV_MS_SD;
}

#endif /* EMULATOR_RV_HART_H */
