/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv-decode.c - expansion of RV64C compressed instructions into
 * their 32-bit equivalents, so the interpreter executes a single encoding.
 */
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
