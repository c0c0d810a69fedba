/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv-decode.c - expansion of RV64C compressed instructions into
 * their 32-bit equivalents, so the interpreter executes a single encoding.
 */
#include <string.h>

#include "emulator/rv-hart.h"

#define OP_LOAD    0x03
#define OP_LOADFP  0x07
#define OP_IMM     0x13
#define OP_IMM32   0x1b
#define OP_STORE   0x23
#define OP_STOREFP 0x27
#define OP_REG     0x33
#define OP_LUI     0x37
#define OP_REG32   0x3b
#define OP_BRANCH  0x63
#define OP_JALR    0x67
#define OP_JAL     0x6f
#define OP_SYSTEM  0x73

static uint32_t bit(uint32_t c, unsigned n)
{
    return (c >> n) & 1;
}

static uint32_t bits(uint32_t c, unsigned hi, unsigned lo)
{
    return (c >> lo) & ((1u << (hi - lo + 1)) - 1);
}

static uint32_t enc_i(int32_t imm, unsigned rs1, unsigned f3, unsigned rd,
                      unsigned op)
{
    return ((uint32_t)imm << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
}

static uint32_t enc_s(int32_t imm, unsigned rs2, unsigned rs1, unsigned f3,
                      unsigned op)
{
    uint32_t u = (uint32_t)imm;

    return (bits(u, 11, 5) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) |
           (bits(u, 4, 0) << 7) | op;
}

static uint32_t enc_b(int32_t imm, unsigned rs2, unsigned rs1, unsigned f3)
{
    uint32_t u = (uint32_t)imm;

    return (bit(u, 12) << 31) | (bits(u, 10, 5) << 25) | (rs2 << 20) |
           (rs1 << 15) | (f3 << 12) | (bits(u, 4, 1) << 8) | (bit(u, 11) << 7) |
           OP_BRANCH;
}

static uint32_t enc_j(int32_t imm, unsigned rd)
{
    uint32_t u = (uint32_t)imm;

    return (bit(u, 20) << 31) | (bits(u, 10, 1) << 21) | (bit(u, 11) << 20) |
           (bits(u, 19, 12) << 12) | (rd << 7) | OP_JAL;
}

static uint32_t enc_r(unsigned f7, unsigned rs2, unsigned rs1, unsigned f3,
                      unsigned rd, unsigned op)
{
    return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
}

static int32_t sext(uint32_t v, unsigned nbits)
{
    return (int32_t)(v << (32 - nbits)) >> (32 - nbits);
}

static uint32_t decode_q0(uint32_t c)
{
    unsigned rd = 8 + bits(c, 4, 2), rs1 = 8 + bits(c, 9, 7);
    uint32_t uw = (bits(c, 12, 10) << 3) | (bit(c, 6) << 2) | (bit(c, 5) << 6);
    uint32_t ud = (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6);
    uint32_t imm;

    switch (bits(c, 15, 13)) {
    case 0:
        imm = (bits(c, 12, 11) << 4) | (bits(c, 10, 7) << 6) |
              (bit(c, 6) << 2) | (bit(c, 5) << 3);
        if (!imm) {
            return 0;
        }
        return enc_i((int32_t)imm, 2, 0, rd, OP_IMM);
    case 1:
        return enc_i((int32_t)ud, rs1, 3, rd, OP_LOADFP);
    case 2:
        return enc_i((int32_t)uw, rs1, 2, rd, OP_LOAD);
    case 3:
        return enc_i((int32_t)ud, rs1, 3, rd, OP_LOAD);
    case 5:
        return enc_s((int32_t)ud, rd, rs1, 3, OP_STOREFP);
    case 6:
        return enc_s((int32_t)uw, rd, rs1, 2, OP_STORE);
    case 7:
        return enc_s((int32_t)ud, rd, rs1, 3, OP_STORE);
    default:
        return 0;
    }
}

static uint32_t decode_q1(uint32_t c)
{
    unsigned rd = bits(c, 11, 7);
    unsigned rdp = 8 + bits(c, 9, 7), rs2p = 8 + bits(c, 4, 2);
    int32_t imm6 = sext((bit(c, 12) << 5) | bits(c, 6, 2), 6);
    uint32_t sh = (bit(c, 12) << 5) | bits(c, 6, 2);
    int32_t imm;

    switch (bits(c, 15, 13)) {
    case 0:
        return enc_i(imm6, rd, 0, rd, OP_IMM);
    case 1:
        if (rd == 0) {
            return 0;
        }
        return enc_i(imm6, rd, 0, rd, OP_IMM32);
    case 2:
        return enc_i(imm6, 0, 0, rd, OP_IMM);
    case 3:
        if (rd == 2) {
            imm = sext((bit(c, 12) << 9) | (bit(c, 6) << 4) | (bit(c, 5) << 6) |
                           (bits(c, 4, 3) << 7) | (bit(c, 2) << 5),
                       10);
            if (!imm) {
                return 0;
            }
            return enc_i(imm, 2, 0, 2, OP_IMM);
        }
        imm = sext((bit(c, 12) << 17) | (bits(c, 6, 2) << 12), 18);
        if (!imm) {
            return 0;
        }
        return ((uint32_t)imm & 0xfffff000u) | (rd << 7) | OP_LUI;
    case 4:
        switch (bits(c, 11, 10)) {
        case 0:
            return enc_i((int32_t)sh, rdp, 5, rdp, OP_IMM);
        case 1:
            return enc_i((int32_t)(sh | 0x400), rdp, 5, rdp, OP_IMM);
        case 2:
            return enc_i(imm6, rdp, 7, rdp, OP_IMM);
        default:
            if (!bit(c, 12)) {
                static const unsigned f3[4] = {0, 4, 6, 7};
                unsigned k = bits(c, 6, 5);

                return enc_r(k == 0 ? 0x20 : 0, rs2p, rdp, f3[k], rdp, OP_REG);
            }
            if (bits(c, 6, 5) == 0) {
                return enc_r(0x20, rs2p, rdp, 0, rdp, OP_REG32);
            }
            if (bits(c, 6, 5) == 1) {
                return enc_r(0, rs2p, rdp, 0, rdp, OP_REG32);
            }
            return 0;
        }
    case 5:
        imm = sext((bit(c, 12) << 11) | (bit(c, 11) << 4) |
                       (bits(c, 10, 9) << 8) | (bit(c, 8) << 10) |
                       (bit(c, 7) << 6) | (bit(c, 6) << 7) |
                       (bits(c, 5, 3) << 1) | (bit(c, 2) << 5),
                   12);
        return enc_j(imm, 0);
    default:
        imm = sext((bit(c, 12) << 8) | (bits(c, 11, 10) << 3) |
                       (bits(c, 6, 5) << 6) | (bits(c, 4, 3) << 1) |
                       (bit(c, 2) << 5),
                   9);
        return enc_b(imm, 0, rdp, bits(c, 15, 13) == 6 ? 0 : 1);
    }
}

static uint32_t decode_q2(uint32_t c)
{
    unsigned rd = bits(c, 11, 7), rs2 = bits(c, 6, 2);
    uint32_t sh = (bit(c, 12) << 5) | bits(c, 6, 2);
    uint32_t ldsp =
        (bit(c, 12) << 5) | (bits(c, 6, 5) << 3) | (bits(c, 4, 2) << 6);
    uint32_t lwsp =
        (bit(c, 12) << 5) | (bits(c, 6, 4) << 2) | (bits(c, 3, 2) << 6);
    uint32_t sdsp = (bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6);
    uint32_t swsp = (bits(c, 12, 9) << 2) | (bits(c, 8, 7) << 6);

    switch (bits(c, 15, 13)) {
    case 0:
        return enc_i((int32_t)sh, rd, 1, rd, OP_IMM);
    case 1:
        return enc_i((int32_t)ldsp, 2, 3, rd, OP_LOADFP);
    case 2:
        if (rd == 0) {
            return 0;
        }
        return enc_i((int32_t)lwsp, 2, 2, rd, OP_LOAD);
    case 3:
        if (rd == 0) {
            return 0;
        }
        return enc_i((int32_t)ldsp, 2, 3, rd, OP_LOAD);
    case 4:
        if (!bit(c, 12)) {
            if (rs2 == 0) {
                if (rd == 0) {
                    return 0;
                }
                return enc_i(0, rd, 0, 0, OP_JALR);
            }
            return enc_r(0, rs2, 0, 0, rd, OP_REG);
        }
        if (rs2 == 0) {
            if (rd == 0) {
                return 0x00100073; /* ebreak */
            }
            return enc_i(0, rd, 0, 1, OP_JALR);
        }
        return enc_r(0, rs2, rd, 0, rd, OP_REG);
    case 5:
        return enc_s((int32_t)sdsp, rs2, 2, 3, OP_STOREFP);
    case 6:
        return enc_s((int32_t)swsp, rs2, 2, 2, OP_STORE);
    default:
        return enc_s((int32_t)sdsp, rs2, 2, 3, OP_STORE);
    }
}

uint32_t rv_decode_c(uint16_t c)
{
    switch (c & 3) {
    case 0:
        return decode_q0(c);
    case 1:
        return decode_q1(c);
    case 2:
        return decode_q2(c);
    default:
        return 0;
    }
}

/* Map OP-IMM, OP, OP-32 ... encodings to predecoded kinds. */
static enum rv_op op_of(uint32_t insn, int32_t *imm)
{
    unsigned f3 = (insn >> 12) & 7, f7 = insn >> 25, f6 = insn >> 26;
    int32_t i_imm = (int32_t)insn >> 20;
    static const enum rv_op branch[8] = {
        RV_OP_BEQ, RV_OP_BNE, RV_OP_ILLEGAL, RV_OP_ILLEGAL,
        RV_OP_BLT, RV_OP_BGE, RV_OP_BLTU,    RV_OP_BGEU};
    static const enum rv_op load[8] = {RV_OP_LB,  RV_OP_LH,     RV_OP_LW,
                                       RV_OP_LD,  RV_OP_LBU,    RV_OP_LHU,
                                       RV_OP_LWU, RV_OP_ILLEGAL};
    static const enum rv_op store[8] = {
        RV_OP_SB,      RV_OP_SH,      RV_OP_SW,      RV_OP_SD,
        RV_OP_ILLEGAL, RV_OP_ILLEGAL, RV_OP_ILLEGAL, RV_OP_ILLEGAL};
    static const enum rv_op opimm[8] = {RV_OP_ADDI,  RV_OP_SLLI, RV_OP_SLTI,
                                        RV_OP_SLTIU, RV_OP_XORI, RV_OP_SRLI,
                                        RV_OP_ORI,   RV_OP_ANDI};
    static const enum rv_op op0[8] = {RV_OP_ADD,  RV_OP_SLL, RV_OP_SLT,
                                      RV_OP_SLTU, RV_OP_XOR, RV_OP_SRL,
                                      RV_OP_OR,   RV_OP_AND};
    static const enum rv_op opm[8] = {RV_OP_MUL,   RV_OP_MULH, RV_OP_MULHSU,
                                      RV_OP_MULHU, RV_OP_DIV,  RV_OP_DIVU,
                                      RV_OP_REM,   RV_OP_REMU};
    static const enum rv_op opm32[8] = {
        RV_OP_MULW, RV_OP_ILLEGAL, RV_OP_ILLEGAL, RV_OP_ILLEGAL,
        RV_OP_DIVW, RV_OP_DIVUW,   RV_OP_REMW,    RV_OP_REMUW};

    *imm = i_imm;
    switch (insn & 0x7f) {
    case 0x37:
        *imm = (int32_t)(insn & 0xfffff000u);
        return RV_OP_LUI;
    case 0x17:
        *imm = (int32_t)(insn & 0xfffff000u);
        return RV_OP_AUIPC;
    case 0x6f:
        *imm =
            (int32_t)(((int32_t)(insn & 0x80000000u) >> 11) | (insn & 0xff000) |
                      ((insn >> 9) & 0x800) | ((insn >> 20) & 0x7fe));
        return RV_OP_JAL;
    case 0x67:
        return f3 == 0 ? RV_OP_JALR : RV_OP_ILLEGAL;
    case 0x63:
        *imm = (int32_t)(((int32_t)(insn & 0x80000000u) >> 19) |
                         ((insn & 0x80) << 4) | ((insn >> 20) & 0x7e0) |
                         ((insn >> 7) & 0x1e));
        return branch[f3];
    case 0x03:
        return load[f3];
    case 0x23:
        *imm = (int32_t)(((int32_t)(insn & 0xfe000000u) >> 20) |
                         ((insn >> 7) & 0x1f));
        return store[f3];
    case 0x13:
        if (f3 == 1) {
            *imm = (int32_t)((insn >> 20) & 63);
            return f6 == 0 ? RV_OP_SLLI : RV_OP_ILLEGAL;
        }
        if (f3 == 5) {
            *imm = (int32_t)((insn >> 20) & 63);
            return f6 == 0      ? RV_OP_SRLI
                   : f6 == 0x10 ? RV_OP_SRAI
                                : RV_OP_ILLEGAL;
        }
        return opimm[f3];
    case 0x1b:
        *imm = (int32_t)((insn >> 20) & 31);
        if (f3 == 0) {
            *imm = i_imm;
            return RV_OP_ADDIW;
        }
        if (f3 == 1) {
            return f7 == 0 ? RV_OP_SLLIW : RV_OP_ILLEGAL;
        }
        if (f3 == 5) {
            return f7 == 0      ? RV_OP_SRLIW
                   : f7 == 0x20 ? RV_OP_SRAIW
                                : RV_OP_ILLEGAL;
        }
        return RV_OP_ILLEGAL;
    case 0x33:
        if (f7 == 0) {
            return op0[f3];
        }
        if (f7 == 1) {
            return opm[f3];
        }
        if (f7 == 0x20 && f3 == 0) {
            return RV_OP_SUB;
        }
        if (f7 == 0x20 && f3 == 5) {
            return RV_OP_SRA;
        }
        return RV_OP_ILLEGAL;
    case 0x3b:
        if (f7 == 1) {
            return opm32[f3];
        }
        if (f7 == 0 && f3 == 0) {
            return RV_OP_ADDW;
        }
        if (f7 == 0 && f3 == 1) {
            return RV_OP_SLLW;
        }
        if (f7 == 0 && f3 == 5) {
            return RV_OP_SRLW;
        }
        if (f7 == 0x20 && f3 == 0) {
            return RV_OP_SUBW;
        }
        if (f7 == 0x20 && f3 == 5) {
            return RV_OP_SRAW;
        }
        return RV_OP_ILLEGAL;
    case 0x0f:
        return f3 == 0 ? RV_OP_FENCE : f3 == 1 ? RV_OP_FENCEI : RV_OP_ILLEGAL;
    case 0x2f:
        *imm = (int32_t)insn;
        return RV_OP_AMO;
    case 0x73:
        *imm = (int32_t)insn;
        return RV_OP_SYSTEM;
    case 0x07:
        return f3 == 2 ? RV_OP_FLW : f3 == 3 ? RV_OP_FLD : RV_OP_ILLEGAL;
    case 0x27:
        *imm = (int32_t)(((int32_t)(insn & 0xfe000000u) >> 20) |
                         ((insn >> 7) & 0x1f));
        return f3 == 2 ? RV_OP_FSW : f3 == 3 ? RV_OP_FSD : RV_OP_ILLEGAL;
    case 0x43:
    case 0x47:
    case 0x4b:
    case 0x4f:
    case 0x53:
        *imm = (int32_t)insn;
        return RV_OP_FPU;
    default:
        return RV_OP_ILLEGAL;
    }
}

void rv_predecode(uint32_t raw, struct rv_dslot *s)
{
    uint32_t insn = raw;
    int32_t imm = 0;

    s->raw = raw;
    s->len = 4;
    if ((raw & 3) != 3) {
        s->len = 2;
        insn = rv_decode_c((uint16_t)raw);
        if (!insn) {
            s->op = RV_OP_ILLEGAL;
            s->rd = s->rs1 = s->rs2 = 0;
            s->imm = 0;
            return;
        }
    }
    s->rd = (insn >> 7) & 31;
    s->rs1 = (insn >> 15) & 31;
    s->rs2 = (insn >> 20) & 31;
    s->op = (uint16_t)op_of(insn, &imm);
    s->imm = imm;
}

void rv_dcache_init(struct rv_cpu *cpu)
{
    struct rv_dslot s;

    rv_predecode(0xffffffffu, &s);
    for (unsigned i = 0; i < RV_DCACHE_SIZE; i++) {
        cpu->dcache[i] = s;
    }
    if (cpu->btab) {
        memset(cpu->btab, 0, RV_BLOCK_TABLE * sizeof(*cpu->btab));
        cpu->bpool_used = 0;
    }
}
