/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv-csr.c - control and status registers of the hart: the priv
 * 1.11 profile of QEMU 7.2 (-cpu rv64,h=false,sstc=false,pmu-num=0). Any CSR
 * not listed here raises illegal instruction, which is how OpenSBI probes.
 */
#include "emulator/rv-hart.h"

/* misa: RV64 I M A F D C S U */
#define RV_MISA                                                                \
    ((2ULL << 62) | (1u << 0) | (1u << 2) | (1u << 3) | (1u << 5) |            \
     (1u << 8) | (1u << 12) | (1u << 18) | (1u << 20))

#define MSTATUS_WMASK                                                          \
    (RV_MS_SIE | RV_MS_MIE | RV_MS_SPIE | RV_MS_MPIE | RV_MS_SPP | RV_MS_MPP | \
     RV_MS_FS | RV_MS_MPRV | RV_MS_SUM | RV_MS_MXR | RV_MS_TVM | RV_MS_TW |    \
     RV_MS_TSR)
#define SSTATUS_MASK                                                           \
    (RV_MS_SIE | RV_MS_SPIE | RV_MS_SPP | RV_MS_FS | RV_MS_SUM | RV_MS_MXR |   \
     RV_MS_UXL | RV_MS_SD)
#define SSTATUS_WMASK                                                          \
    (RV_MS_SIE | RV_MS_SPIE | RV_MS_SPP | RV_MS_FS | RV_MS_SUM | RV_MS_MXR)

#define MIP_S_MASK                                                             \
    ((1ULL << RV_IRQ_SSIP) | (1ULL << RV_IRQ_STIP) | (1ULL << RV_IRQ_SEIP))
#define MIE_MASK     0xaaaULL
#define MEDELEG_MASK 0xb3ffULL

#define SATP_MODE_SHIFT 60
#define SATP_ASID_MASK  (0xffffULL << 44)
#define SATP_PPN_MASK   ((1ULL << 44) - 1)

enum {
    CSR_FFLAGS = 0x001,
    CSR_FRM = 0x002,
    CSR_FCSR = 0x003,
    CSR_SSTATUS = 0x100,
    CSR_SIE = 0x104,
    CSR_STVEC = 0x105,
    CSR_SCOUNTEREN = 0x106,
    CSR_SSCRATCH = 0x140,
    CSR_SEPC = 0x141,
    CSR_SCAUSE = 0x142,
    CSR_STVAL = 0x143,
    CSR_SIP = 0x144,
    CSR_SATP = 0x180,
    CSR_MSTATUS = 0x300,
    CSR_MISA = 0x301,
    CSR_MEDELEG = 0x302,
    CSR_MIDELEG = 0x303,
    CSR_MIE = 0x304,
    CSR_MTVEC = 0x305,
    CSR_MCOUNTEREN = 0x306,
    CSR_MCOUNTINHIBIT = 0x320,
    CSR_MSCRATCH = 0x340,
    CSR_MEPC = 0x341,
    CSR_MCAUSE = 0x342,
    CSR_MTVAL = 0x343,
    CSR_MIP = 0x344,
    CSR_PMPCFG0 = 0x3a0,
    CSR_PMPCFG2 = 0x3a2,
    CSR_PMPADDR0 = 0x3b0,
    CSR_MCYCLE = 0xb00,
    CSR_MINSTRET = 0xb02,
    CSR_CYCLE = 0xc00,
    CSR_TIME = 0xc01,
    CSR_INSTRET = 0xc02,
    CSR_MVENDORID = 0xf11,
    CSR_MARCHID = 0xf12,
    CSR_MIMPID = 0xf13,
    CSR_MHARTID = 0xf14,
};

void rv_pmp_update(struct rv_cpu *cpu)
{
    cpu->pmp_nb_on = 0;
    for (unsigned i = 0; i < RV_PMP_COUNT; i++) {
        unsigned a = (cpu->pmpcfg[i] >> 3) & 3;
        uint64_t addr = cpu->pmpaddr[i];

        cpu->pmp_on[i] = false;
        if (a == 0) {
            continue;
        }
        if (a == 1) {
            uint64_t lo = i ? cpu->pmpaddr[i - 1] << 2 : 0;
            uint64_t hi = addr << 2;

            if (lo >= hi) {
                /* An empty TOR range still counts as an active rule. */
                cpu->pmp_lo[i] = 1;
                cpu->pmp_hi[i] = 0;
            } else {
                cpu->pmp_lo[i] = lo;
                cpu->pmp_hi[i] = hi - 1;
            }
        } else if (a == 2) {
            cpu->pmp_lo[i] = addr << 2;
            cpu->pmp_hi[i] = (addr << 2) + 3;
        } else {
            unsigned t = (unsigned)__builtin_ctzll(~addr);
            uint64_t size;

            if (t >= 54) {
                cpu->pmp_lo[i] = 0;
                cpu->pmp_hi[i] = UINT64_MAX;
            } else {
                size = 1ULL << (t + 3);
                cpu->pmp_lo[i] = (addr << 2) & ~(size - 1);
                cpu->pmp_hi[i] = cpu->pmp_lo[i] + size - 1;
            }
        }
        cpu->pmp_on[i] = true;
        cpu->pmp_active[cpu->pmp_nb_on++] = (uint8_t)i;
    }
}

static bool pmp_locked(const struct rv_cpu *cpu, unsigned i)
{
    return (cpu->pmpcfg[i] & 0x80) != 0;
}

static void pmpcfg_write(struct rv_cpu *cpu, unsigned first, uint64_t val)
{
    for (unsigned k = 0; k < 8; k++) {
        uint8_t b = (uint8_t)(val >> (8 * k)) & 0x9f;

        if (pmp_locked(cpu, first + k)) {
            continue;
        }
        /* R=0 W=1 is reserved: treat as no access (WARL). */
        if ((b & 3) == 2) {
            b &= (uint8_t)~3;
        }
        cpu->pmpcfg[first + k] = b;
    }
}

static uint64_t pmpcfg_read(const struct rv_cpu *cpu, unsigned first)
{
    uint64_t v = 0;

    for (unsigned k = 0; k < 8; k++) {
        v |= (uint64_t)cpu->pmpcfg[first + k] << (8 * k);
    }
    return v;
}

static void pmpaddr_write(struct rv_cpu *cpu, unsigned i, uint64_t val)
{
    if (pmp_locked(cpu, i)) {
        return;
    }
    if (i + 1 < RV_PMP_COUNT && pmp_locked(cpu, i + 1) &&
        ((cpu->pmpcfg[i + 1] >> 3) & 3) == 1) {
        return;
    }
    cpu->pmpaddr[i] = val & RV_PMP_ADDR_MASK;
}

static uint64_t mstatus_read(const struct rv_cpu *cpu)
{
    uint64_t ms = cpu->mstatus & ~RV_MS_SD;

    if ((ms & RV_MS_FS) == RV_MS_FS) {
        ms |= RV_MS_SD;
    }
    return ms;
}

static void mstatus_write(struct rv_cpu *cpu, uint64_t val, uint64_t mask)
{
    uint64_t old = cpu->mstatus;
    uint64_t ms = (old & ~mask) | (val & mask);

    if (((ms & RV_MS_MPP) >> 11) == 2) {
        ms = (ms & ~RV_MS_MPP) | (old & RV_MS_MPP);
    }
    ms = (ms & ~(RV_MS_UXL | RV_MS_SXL | RV_MS_SD)) | (2ULL << 32) |
         (2ULL << 34);
    cpu->mstatus = ms;
    if ((old ^ ms) & RV_MS_MXR) {
        rv_tlb_flush(cpu);
    }
    rv_cpu_update_ctx(cpu);
}

/* Counter CSRs from S/U are gated by mcounteren and scounteren. */
static bool counter_ok(const struct rv_cpu *cpu, unsigned bit)
{
    if (cpu->priv < RV_PRV_M && !((cpu->mcounteren >> bit) & 1)) {
        return false;
    }
    if (cpu->priv < RV_PRV_S && !((cpu->scounteren >> bit) & 1)) {
        return false;
    }
    return true;
}

static int csr_read(struct rv_cpu *cpu, unsigned csr, uint64_t *val)
{
    switch (csr) {
    case CSR_FFLAGS:
    case CSR_FRM:
    case CSR_FCSR:
        if (!rv_fpu_enabled(cpu)) {
            return -1;
        }
        *val = csr == CSR_FFLAGS ? cpu->fflags
               : csr == CSR_FRM  ? cpu->frm
                                 : (cpu->frm << 5) | cpu->fflags;
        return 0;
    case CSR_CYCLE:
        if (!counter_ok(cpu, 0)) {
            return -1;
        }
        *val = cpu->icount + cpu->cycle_off;
        return 0;
    case CSR_TIME:
        if (!counter_ok(cpu, 1) || !cpu->bus.get_time) {
            return -1;
        }
        *val = cpu->bus.get_time(cpu->bus.opaque);
        return 0;
    case CSR_INSTRET:
        if (!counter_ok(cpu, 2)) {
            return -1;
        }
        *val = cpu->icount + cpu->instret_off;
        return 0;
    case CSR_SSTATUS:
        *val = mstatus_read(cpu) & SSTATUS_MASK;
        return 0;
    case CSR_SIE:
        *val = cpu->mie & cpu->mideleg;
        return 0;
    case CSR_STVEC:
        *val = cpu->stvec;
        return 0;
    case CSR_SCOUNTEREN:
        *val = cpu->scounteren;
        return 0;
    case CSR_SSCRATCH:
        *val = cpu->sscratch;
        return 0;
    case CSR_SEPC:
        *val = cpu->sepc;
        return 0;
    case CSR_SCAUSE:
        *val = cpu->scause;
        return 0;
    case CSR_STVAL:
        *val = cpu->stval;
        return 0;
    case CSR_SIP:
        *val = rv_cpu_mip(cpu) & cpu->mideleg;
        return 0;
    case CSR_SATP:
        if (cpu->priv == RV_PRV_S && (cpu->mstatus & RV_MS_TVM)) {
            return -1;
        }
        *val = cpu->satp;
        return 0;
    case CSR_MSTATUS:
        *val = mstatus_read(cpu);
        return 0;
    case CSR_MISA:
        *val = RV_MISA;
        return 0;
    case CSR_MEDELEG:
        *val = cpu->medeleg;
        return 0;
    case CSR_MIDELEG:
        *val = cpu->mideleg;
        return 0;
    case CSR_MIE:
        *val = cpu->mie;
        return 0;
    case CSR_MTVEC:
        *val = cpu->mtvec;
        return 0;
    case CSR_MCOUNTEREN:
        *val = cpu->mcounteren;
        return 0;
    case CSR_MCOUNTINHIBIT:
        *val = 0;
        return 0;
    case CSR_MSCRATCH:
        *val = cpu->mscratch;
        return 0;
    case CSR_MEPC:
        *val = cpu->mepc;
        return 0;
    case CSR_MCAUSE:
        *val = cpu->mcause;
        return 0;
    case CSR_MTVAL:
        *val = cpu->mtval;
        return 0;
    case CSR_MIP:
        *val = rv_cpu_mip(cpu);
        return 0;
    case CSR_PMPCFG0:
        *val = pmpcfg_read(cpu, 0);
        return 0;
    case CSR_PMPCFG2:
        *val = pmpcfg_read(cpu, 8);
        return 0;
    case CSR_MCYCLE:
        *val = cpu->icount + cpu->cycle_off;
        return 0;
    case CSR_MINSTRET:
        *val = cpu->icount + cpu->instret_off;
        return 0;
    case CSR_MVENDORID:
    case CSR_MARCHID:
    case CSR_MIMPID:
    case CSR_MHARTID:
        *val = 0;
        return 0;
    default:
        if (csr >= CSR_PMPADDR0 && csr < CSR_PMPADDR0 + RV_PMP_COUNT) {
            *val = cpu->pmpaddr[csr - CSR_PMPADDR0];
            return 0;
        }
        return -1;
    }
}

static int csr_write(struct rv_cpu *cpu, unsigned csr, uint64_t val)
{
    switch (csr) {
    case CSR_FFLAGS:
        cpu->fflags = val & 0x1f;
        rv_fpu_dirty(cpu);
        return 0;
    case CSR_FRM:
        cpu->frm = val & 7;
        rv_fpu_dirty(cpu);
        return 0;
    case CSR_FCSR:
        cpu->fflags = val & 0x1f;
        cpu->frm = (val >> 5) & 7;
        rv_fpu_dirty(cpu);
        return 0;
    case CSR_SSTATUS:
        mstatus_write(cpu, val, SSTATUS_WMASK);
        return 0;
    case CSR_SIE:
        cpu->mie = (cpu->mie & ~cpu->mideleg) | (val & cpu->mideleg);
        return 0;
    case CSR_STVEC:
        if ((val & 3) < 2) {
            cpu->stvec = val;
        }
        return 0;
    case CSR_SCOUNTEREN:
        cpu->scounteren = (uint32_t)val;
        return 0;
    case CSR_SSCRATCH:
        cpu->sscratch = val;
        return 0;
    case CSR_SEPC:
        cpu->sepc = val & ~1ULL;
        return 0;
    case CSR_SCAUSE:
        cpu->scause = val;
        return 0;
    case CSR_STVAL:
        cpu->stval = val;
        return 0;
    case CSR_SIP: {
        uint64_t m = cpu->mideleg & (1ULL << RV_IRQ_SSIP);

        cpu->mip_sw = (cpu->mip_sw & ~m) | (val & m);
        return 0;
    }
    case CSR_SATP: {
        uint64_t mode = val >> SATP_MODE_SHIFT;

        if (cpu->priv == RV_PRV_S && (cpu->mstatus & RV_MS_TVM)) {
            return -1;
        }
        if (mode != 0 && mode != 8 && mode != 9) {
            return 0;
        }
        cpu->satp = val & ((0xfULL << SATP_MODE_SHIFT) | SATP_ASID_MASK |
                           SATP_PPN_MASK);
        rv_tlb_flush(cpu);
        return 0;
    }
    case CSR_MSTATUS:
        mstatus_write(cpu, val, MSTATUS_WMASK);
        return 0;
    case CSR_MISA:
        return 0;
    case CSR_MEDELEG:
        cpu->medeleg = val & MEDELEG_MASK;
        return 0;
    case CSR_MIDELEG:
        cpu->mideleg = val & MIP_S_MASK;
        return 0;
    case CSR_MIE:
        cpu->mie = val & MIE_MASK;
        return 0;
    case CSR_MTVEC:
        if ((val & 3) < 2) {
            cpu->mtvec = val;
        }
        return 0;
    case CSR_MCOUNTEREN:
        cpu->mcounteren = (uint32_t)val;
        return 0;
    case CSR_MCOUNTINHIBIT:
        return 0;
    case CSR_MSCRATCH:
        cpu->mscratch = val;
        return 0;
    case CSR_MEPC:
        cpu->mepc = val & ~1ULL;
        return 0;
    case CSR_MCAUSE:
        cpu->mcause = val;
        return 0;
    case CSR_MTVAL:
        cpu->mtval = val;
        return 0;
    case CSR_MIP:
        cpu->mip_sw = (cpu->mip_sw & ~MIP_S_MASK) | (val & MIP_S_MASK);
        return 0;
    case CSR_PMPCFG0:
    case CSR_PMPCFG2:
        pmpcfg_write(cpu, csr == CSR_PMPCFG0 ? 0 : 8, val);
        rv_pmp_update(cpu);
        rv_tlb_flush(cpu);
        return 0;
    case CSR_MCYCLE:
        /* The write takes effect after this instruction retires. */
        cpu->cycle_off = val - (cpu->icount + 1);
        return 0;
    case CSR_MINSTRET:
        cpu->instret_off = val - (cpu->icount + 1);
        return 0;
    default:
        if (csr >= CSR_PMPADDR0 && csr < CSR_PMPADDR0 + RV_PMP_COUNT) {
            pmpaddr_write(cpu, csr - CSR_PMPADDR0, val);
            rv_pmp_update(cpu);
            rv_tlb_flush(cpu);
            return 0;
        }
        return -1;
    }
}

int rv_csr_read_debug(struct rv_cpu *cpu, unsigned csr, uint64_t *val)
{
    return csr_read(cpu, csr, val);
}

int rv_csr_access(struct rv_cpu *cpu, unsigned csr, bool do_read, bool do_write,
                  uint64_t val, uint64_t *old)
{
    uint64_t cur = 0;

    if (((csr >> 8) & 3) > cpu->priv) {
        return -1;
    }
    if (do_write && (csr >> 10) == 3) {
        return -1;
    }
    /* Existence check: every implemented CSR is readable. */
    if (csr_read(cpu, csr, &cur) < 0) {
        return -1;
    }
    if (do_read) {
        *old = cur;
    }
    if (do_write) {
        return csr_write(cpu, csr, val);
    }
    return 0;
}
