/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv-disas.c - RV64 disassembler producing QEMU 7.2's in_asm text
 * byte for byte: its mnemonics, operand order, pseudo-instructions, CSR
 * names, column padding and "# 0x..." branch target comments.
 *
 * An instruction goes through four steps, as in QEMU:
 *   decode  the encoding picks an op and its operand layout (codec);
 *           a compressed form picks the base op it expands to;
 *   extract the codec fills rd/rs1/rs2/rs3/imm/rm/...;
 *   lift    a few base ops become pseudo-instructions (mv, ret, bgt, ...);
 *   format  the op's format string prints the fields.
 * QEMU decodes every extension it knows whatever the CPU has (Zb*, Zk*,
 * V, the RV128 forms), so this does too: the text must match for any word.
 */
#include "emulator/rv-disas.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Operand layouts: which fields an encoding carries. */
enum rvd_codec {
    RVD_C_NONE, /* no operands (also "illegal") */
    RVD_C_U,
    RVD_C_UJ,
    RVD_C_I,
    RVD_C_I_SH5,
    RVD_C_I_SH6,
    RVD_C_I_SH7,
    RVD_C_I_CSR,
    RVD_C_S,
    RVD_C_SB,
    RVD_C_R,
    RVD_C_R_M,
    RVD_C_R4_M,
    RVD_C_R_A,
    RVD_C_R_L,
    RVD_C_R_F,
    RVD_C_K_BS,
    RVD_C_K_RNUM,
    RVD_C_V_R,
    RVD_C_V_LDST,
    RVD_C_V_I,
    RVD_C_VSETVLI,
    RVD_C_VSETIVLI,
};

/*
 * Format strings: 'O' mnemonic, '\t' pad to column 24, '0' '1' '2' x
 * registers rd/rs1/rs2, '3' '4' '5' '6' f registers rd/rs1/rs2/rs3, '7' rs1
 * as a number, 'i' immediate, 'o' immediate then "# 0x<pc+imm>" at column
 * 48, 'c' CSR, 'r' rounding mode, 'p'/'s' fence sets, 'A'/'R' .aq/.rl,
 * 'b' byte select, 'n' round number, 'u' 5-bit unsigned immediate,
 * 'D' 'E' 'F' v registers rd/rs1/rs2, 'm' mask, 'l' ",v0", 'v' vtype.
 */
#define F_NONE          "O\t"
#define F_RS1           "O\t1"
#define F_OFFSET        "O\to"
#define F_PRED_SUCC     "O\tp,s"
#define F_RS1_RS2       "O\t1,2"
#define F_RD_IMM        "O\t0,i"
#define F_RD_OFFSET     "O\t0,o"
#define F_RD_RS1_RS2    "O\t0,1,2"
#define F_FRD_RS1       "O\t3,1"
#define F_FRD_FRS1      "O\t3,4"
#define F_RD_FRS1       "O\t0,4"
#define F_RD_FRS1_FRS2  "O\t0,4,5"
#define F_FRD_FRS1_FRS2 "O\t3,4,5"
#define F_RM_FRD_FRS1   "O\tr,3,4"
#define F_RM_FRD_RS1    "O\tr,3,1"
#define F_RM_RD_FRS1    "O\tr,0,4"
#define F_RM_FRD_2      "O\tr,3,4,5"
#define F_RM_FRD_3      "O\tr,3,4,5,6"
#define F_RD_RS1_IMM    "O\t0,1,i"
#define F_RD_OFF_RS1    "O\t0,i(1)"
#define F_FRD_OFF_RS1   "O\t3,i(1)"
#define F_RD_CSR_RS1    "O\t0,c,1"
#define F_RD_CSR_ZIMM   "O\t0,c,7"
#define F_RS2_OFF_RS1   "O\t2,i(1)"
#define F_FRS2_OFF_RS1  "O\t5,i(1)"
#define F_RS1_RS2_OFF   "O\t1,2,o"
#define F_RS2_RS1_OFF   "O\t2,1,o"
#define F_AQRL_RD_2_1   "OAR\t0,2,(1)"
#define F_AQRL_RD_1     "OAR\t0,(1)"
#define F_RD            "O\t0"
#define F_RD_ZIMM       "O\t0,7"
#define F_RD_RS1        "O\t0,1"
#define F_RD_RS2        "O\t0,2"
#define F_RS1_OFF       "O\t1,o"
#define F_RS2_OFF       "O\t2,o"
#define F_RS1_RS2_BS    "O\t1,2,b"
#define F_RD_RS1_RNUM   "O\t0,1,n"
#define F_V_LD          "O\tD,(1)m"
#define F_V_LDS         "O\tD,(1),2m"
#define F_V_LDX         "O\tD,(1),Fm"
#define F_VD_VS2_VS1    "O\tD,F,E"
#define F_VD_VS2_VS1_VL "O\tD,F,El"
#define F_VD_VS2_VS1_VM "O\tD,F,Em"
#define F_VD_VS2_RS1_VL "O\tD,F,1l"
#define F_VD_VS2_FS1_VL "O\tD,F,4l"
#define F_VD_VS2_RS1_VM "O\tD,F,1m"
#define F_VD_VS2_FS1_VM "O\tD,F,4m"
#define F_VD_VS2_IMM_VL "O\tD,F,il"
#define F_VD_VS2_IMM_VM "O\tD,F,im"
#define F_VD_VS2_UIM_VM "O\tD,F,um"
#define F_VD_VS1_VS2_VM "O\tD,E,Fm"
#define F_VD_RS1_VS2_VM "O\tD,1,Fm"
#define F_VD_FS1_VS2_VM "O\tD,4,Fm"
#define F_VD_VS1        "O\tD,E"
#define F_VD_RS1        "O\tD,1"
#define F_VD_FS1        "O\tD,4"
#define F_VD_IMM        "O\tD,i"
#define F_VD_VS2        "O\tD,F"
#define F_VD_VS2_VM     "O\tD,Fm"
#define F_RD_VS2_VM     "O\t0,Fm"
#define F_RD_VS2        "O\t0,F"
#define F_FD_VS2        "O\t3,F"
#define F_VD_VM         "O\tDm"
#define F_VSETVLI       "O\t0,1,v"
#define F_VSETIVLI      "O\t0,u,v"

/* clang-format off */
/* Every op: enum suffix, mnemonic, codec, format. */
#define RVD_OPS(X) \
    X(ILLEGAL, "illegal", NONE, F_NONE) \
    X(LUI, "lui", U, F_RD_IMM) \
    X(AUIPC, "auipc", U, F_RD_OFFSET) \
    X(JAL, "jal", UJ, F_RD_OFFSET) \
    X(JALR, "jalr", I, F_RD_RS1_IMM) \
    X(BEQ, "beq", SB, F_RS1_RS2_OFF) \
    X(BNE, "bne", SB, F_RS1_RS2_OFF) \
    X(BLT, "blt", SB, F_RS1_RS2_OFF) \
    X(BGE, "bge", SB, F_RS1_RS2_OFF) \
    X(BLTU, "bltu", SB, F_RS1_RS2_OFF) \
    X(BGEU, "bgeu", SB, F_RS1_RS2_OFF) \
    X(LB, "lb", I, F_RD_OFF_RS1) \
    X(LH, "lh", I, F_RD_OFF_RS1) \
    X(LW, "lw", I, F_RD_OFF_RS1) \
    X(LBU, "lbu", I, F_RD_OFF_RS1) \
    X(LHU, "lhu", I, F_RD_OFF_RS1) \
    X(SB, "sb", S, F_RS2_OFF_RS1) \
    X(SH, "sh", S, F_RS2_OFF_RS1) \
    X(SW, "sw", S, F_RS2_OFF_RS1) \
    X(ADDI, "addi", I, F_RD_RS1_IMM) \
    X(SLTI, "slti", I, F_RD_RS1_IMM) \
    X(SLTIU, "sltiu", I, F_RD_RS1_IMM) \
    X(XORI, "xori", I, F_RD_RS1_IMM) \
    X(ORI, "ori", I, F_RD_RS1_IMM) \
    X(ANDI, "andi", I, F_RD_RS1_IMM) \
    X(SLLI, "slli", I_SH7, F_RD_RS1_IMM) \
    X(SRLI, "srli", I_SH7, F_RD_RS1_IMM) \
    X(SRAI, "srai", I_SH7, F_RD_RS1_IMM) \
    X(ADD, "add", R, F_RD_RS1_RS2) \
    X(SUB, "sub", R, F_RD_RS1_RS2) \
    X(SLL, "sll", R, F_RD_RS1_RS2) \
    X(SLT, "slt", R, F_RD_RS1_RS2) \
    X(SLTU, "sltu", R, F_RD_RS1_RS2) \
    X(XOR, "xor", R, F_RD_RS1_RS2) \
    X(SRL, "srl", R, F_RD_RS1_RS2) \
    X(SRA, "sra", R, F_RD_RS1_RS2) \
    X(OR, "or", R, F_RD_RS1_RS2) \
    X(AND, "and", R, F_RD_RS1_RS2) \
    X(FENCE, "fence", R_F, F_PRED_SUCC) \
    X(FENCE_I, "fence.i", NONE, F_NONE) \
    X(LWU, "lwu", I, F_RD_OFF_RS1) \
    X(LD, "ld", I, F_RD_OFF_RS1) \
    X(SD, "sd", S, F_RS2_OFF_RS1) \
    X(ADDIW, "addiw", I, F_RD_RS1_IMM) \
    X(SLLIW, "slliw", I_SH5, F_RD_RS1_IMM) \
    X(SRLIW, "srliw", I_SH5, F_RD_RS1_IMM) \
    X(SRAIW, "sraiw", I_SH5, F_RD_RS1_IMM) \
    X(ADDW, "addw", R, F_RD_RS1_RS2) \
    X(SUBW, "subw", R, F_RD_RS1_RS2) \
    X(SLLW, "sllw", R, F_RD_RS1_RS2) \
    X(SRLW, "srlw", R, F_RD_RS1_RS2) \
    X(SRAW, "sraw", R, F_RD_RS1_RS2) \
    X(LDU, "ldu", I, F_RD_OFF_RS1) \
    X(LQ, "lq", I, F_RD_OFF_RS1) \
    X(SQ, "sq", S, F_RS2_OFF_RS1) \
    X(ADDID, "addid", I, F_RD_RS1_IMM) \
    X(SLLID, "sllid", I_SH6, F_RD_RS1_IMM) \
    X(SRLID, "srlid", I_SH6, F_RD_RS1_IMM) \
    X(SRAID, "sraid", I_SH6, F_RD_RS1_IMM) \
    X(ADDD, "addd", R, F_RD_RS1_RS2) \
    X(SUBD, "subd", R, F_RD_RS1_RS2) \
    X(SLLD, "slld", R, F_RD_RS1_RS2) \
    X(SRLD, "srld", R, F_RD_RS1_RS2) \
    X(SRAD, "srad", R, F_RD_RS1_RS2) \
    X(MUL, "mul", R, F_RD_RS1_RS2) \
    X(MULH, "mulh", R, F_RD_RS1_RS2) \
    X(MULHSU, "mulhsu", R, F_RD_RS1_RS2) \
    X(MULHU, "mulhu", R, F_RD_RS1_RS2) \
    X(DIV, "div", R, F_RD_RS1_RS2) \
    X(DIVU, "divu", R, F_RD_RS1_RS2) \
    X(REM, "rem", R, F_RD_RS1_RS2) \
    X(REMU, "remu", R, F_RD_RS1_RS2) \
    X(MULW, "mulw", R, F_RD_RS1_RS2) \
    X(DIVW, "divw", R, F_RD_RS1_RS2) \
    X(DIVUW, "divuw", R, F_RD_RS1_RS2) \
    X(REMW, "remw", R, F_RD_RS1_RS2) \
    X(REMUW, "remuw", R, F_RD_RS1_RS2) \
    X(MULD, "muld", R, F_RD_RS1_RS2) \
    X(DIVD, "divd", R, F_RD_RS1_RS2) \
    X(DIVUD, "divud", R, F_RD_RS1_RS2) \
    X(REMD, "remd", R, F_RD_RS1_RS2) \
    X(REMUD, "remud", R, F_RD_RS1_RS2) \
    X(LR_W, "lr.w", R_L, F_AQRL_RD_1) \
    X(SC_W, "sc.w", R_A, F_AQRL_RD_2_1) \
    X(AMOSWAP_W, "amoswap.w", R_A, F_AQRL_RD_2_1) \
    X(AMOADD_W, "amoadd.w", R_A, F_AQRL_RD_2_1) \
    X(AMOXOR_W, "amoxor.w", R_A, F_AQRL_RD_2_1) \
    X(AMOOR_W, "amoor.w", R_A, F_AQRL_RD_2_1) \
    X(AMOAND_W, "amoand.w", R_A, F_AQRL_RD_2_1) \
    X(AMOMIN_W, "amomin.w", R_A, F_AQRL_RD_2_1) \
    X(AMOMAX_W, "amomax.w", R_A, F_AQRL_RD_2_1) \
    X(AMOMINU_W, "amominu.w", R_A, F_AQRL_RD_2_1) \
    X(AMOMAXU_W, "amomaxu.w", R_A, F_AQRL_RD_2_1) \
    X(LR_D, "lr.d", R_L, F_AQRL_RD_1) \
    X(SC_D, "sc.d", R_A, F_AQRL_RD_2_1) \
    X(AMOSWAP_D, "amoswap.d", R_A, F_AQRL_RD_2_1) \
    X(AMOADD_D, "amoadd.d", R_A, F_AQRL_RD_2_1) \
    X(AMOXOR_D, "amoxor.d", R_A, F_AQRL_RD_2_1) \
    X(AMOOR_D, "amoor.d", R_A, F_AQRL_RD_2_1) \
    X(AMOAND_D, "amoand.d", R_A, F_AQRL_RD_2_1) \
    X(AMOMIN_D, "amomin.d", R_A, F_AQRL_RD_2_1) \
    X(AMOMAX_D, "amomax.d", R_A, F_AQRL_RD_2_1) \
    X(AMOMINU_D, "amominu.d", R_A, F_AQRL_RD_2_1) \
    X(AMOMAXU_D, "amomaxu.d", R_A, F_AQRL_RD_2_1) \
    X(LR_Q, "lr.q", R_L, F_AQRL_RD_1) \
    X(SC_Q, "sc.q", R_A, F_AQRL_RD_2_1) \
    X(AMOSWAP_Q, "amoswap.q", R_A, F_AQRL_RD_2_1) \
    X(AMOADD_Q, "amoadd.q", R_A, F_AQRL_RD_2_1) \
    X(AMOXOR_Q, "amoxor.q", R_A, F_AQRL_RD_2_1) \
    X(AMOOR_Q, "amoor.q", R_A, F_AQRL_RD_2_1) \
    X(AMOAND_Q, "amoand.q", R_A, F_AQRL_RD_2_1) \
    X(AMOMIN_Q, "amomin.q", R_A, F_AQRL_RD_2_1) \
    X(AMOMAX_Q, "amomax.q", R_A, F_AQRL_RD_2_1) \
    X(AMOMINU_Q, "amominu.q", R_A, F_AQRL_RD_2_1) \
    X(AMOMAXU_Q, "amomaxu.q", R_A, F_AQRL_RD_2_1) \
    X(ECALL, "ecall", NONE, F_NONE) \
    X(EBREAK, "ebreak", NONE, F_NONE) \
    X(URET, "uret", NONE, F_NONE) \
    X(SRET, "sret", NONE, F_NONE) \
    X(HRET, "hret", NONE, F_NONE) \
    X(MRET, "mret", NONE, F_NONE) \
    X(DRET, "dret", NONE, F_NONE) \
    X(SFENCE_VM, "sfence.vm", R, F_RS1) \
    X(SFENCE_VMA, "sfence.vma", R, F_RS1_RS2) \
    X(WFI, "wfi", NONE, F_NONE) \
    X(CSRRW, "csrrw", I_CSR, F_RD_CSR_RS1) \
    X(CSRRS, "csrrs", I_CSR, F_RD_CSR_RS1) \
    X(CSRRC, "csrrc", I_CSR, F_RD_CSR_RS1) \
    X(CSRRWI, "csrrwi", I_CSR, F_RD_CSR_ZIMM) \
    X(CSRRSI, "csrrsi", I_CSR, F_RD_CSR_ZIMM) \
    X(CSRRCI, "csrrci", I_CSR, F_RD_CSR_ZIMM) \
    RVD_FP_OPS(X, S, "s", W, "w") \
    RVD_FP_OPS(X, D, "d", D, "d") \
    RVD_FP_OPS(X, Q, "q", Q, "q") \
    X(FCVT_S_D, "fcvt.s.d", R_M, F_RM_FRD_FRS1) \
    X(FCVT_D_S, "fcvt.d.s", R_M, F_RM_FRD_FRS1) \
    X(FCVT_S_Q, "fcvt.s.q", R_M, F_RM_FRD_FRS1) \
    X(FCVT_Q_S, "fcvt.q.s", R_M, F_RM_FRD_FRS1) \
    X(FCVT_D_Q, "fcvt.d.q", R_M, F_RM_FRD_FRS1) \
    X(FCVT_Q_D, "fcvt.q.d", R_M, F_RM_FRD_FRS1) \
    X(NOP, "nop", I, F_NONE) \
    X(MV, "mv", I, F_RD_RS1) \
    X(NOT, "not", I, F_RD_RS1) \
    X(NEG, "neg", R, F_RD_RS2) \
    X(NEGW, "negw", R, F_RD_RS2) \
    X(SEXT_W, "sext.w", I, F_RD_RS1) \
    X(SEQZ, "seqz", I, F_RD_RS1) \
    X(SNEZ, "snez", R, F_RD_RS2) \
    X(SLTZ, "sltz", R, F_RD_RS1) \
    X(SGTZ, "sgtz", R, F_RD_RS2) \
    X(FMV_S, "fmv.s", R, F_RD_RS1) \
    X(FABS_S, "fabs.s", R, F_RD_RS1) \
    X(FNEG_S, "fneg.s", R, F_RD_RS1) \
    X(FMV_D, "fmv.d", R, F_RD_RS1) \
    X(FABS_D, "fabs.d", R, F_RD_RS1) \
    X(FNEG_D, "fneg.d", R, F_RD_RS1) \
    X(FMV_Q, "fmv.q", R, F_RD_RS1) \
    X(FABS_Q, "fabs.q", R, F_RD_RS1) \
    X(FNEG_Q, "fneg.q", R, F_RD_RS1) \
    X(BEQZ, "beqz", SB, F_RS1_OFF) \
    X(BNEZ, "bnez", SB, F_RS1_OFF) \
    X(BLEZ, "blez", SB, F_RS2_OFF) \
    X(BGEZ, "bgez", SB, F_RS1_OFF) \
    X(BLTZ, "bltz", SB, F_RS1_OFF) \
    X(BGTZ, "bgtz", SB, F_RS2_OFF) \
    X(BLE, "ble", SB, F_RS2_RS1_OFF) \
    X(BLEU, "bleu", SB, F_RS2_RS1_OFF) \
    X(BGT, "bgt", SB, F_RS2_RS1_OFF) \
    X(BGTU, "bgtu", SB, F_RS2_RS1_OFF) \
    X(J, "j", UJ, F_OFFSET) \
    X(RET, "ret", I, F_NONE) \
    X(JR, "jr", I, F_RS1) \
    X(RDCYCLE, "rdcycle", I_CSR, F_RD) \
    X(RDTIME, "rdtime", I_CSR, F_RD) \
    X(RDINSTRET, "rdinstret", I_CSR, F_RD) \
    X(RDCYCLEH, "rdcycleh", I_CSR, F_RD) \
    X(RDTIMEH, "rdtimeh", I_CSR, F_RD) \
    X(RDINSTRETH, "rdinstreth", I_CSR, F_RD) \
    X(FRCSR, "frcsr", I_CSR, F_RD) \
    X(FRRM, "frrm", I_CSR, F_RD) \
    X(FRFLAGS, "frflags", I_CSR, F_RD) \
    X(FSCSR, "fscsr", I_CSR, F_RD_RS1) \
    X(FSRM, "fsrm", I_CSR, F_RD_RS1) \
    X(FSFLAGS, "fsflags", I_CSR, F_RD_RS1) \
    X(FSRMI, "fsrmi", I_CSR, F_RD_ZIMM) \
    X(FSFLAGSI, "fsflagsi", I_CSR, F_RD_ZIMM) \
    X(BSETI, "bseti", I_SH7, F_RD_RS1_IMM) \
    X(BCLRI, "bclri", I_SH7, F_RD_RS1_IMM) \
    X(BINVI, "binvi", I_SH7, F_RD_RS1_IMM) \
    X(BEXTI, "bexti", I_SH7, F_RD_RS1_IMM) \
    X(RORI, "rori", I_SH7, F_RD_RS1_IMM) \
    X(CLZ, "clz", R, F_RD_RS1) \
    X(CTZ, "ctz", R, F_RD_RS1) \
    X(CPOP, "cpop", R, F_RD_RS1) \
    X(SEXT_H, "sext.h", R, F_RD_RS1) \
    X(SEXT_B, "sext.b", R, F_RD_RS1) \
    X(XNOR, "xnor", R, F_RD_RS1) \
    X(ORN, "orn", R, F_RD_RS1) \
    X(ANDN, "andn", R, F_RD_RS1) \
    X(ROL, "rol", R, F_RD_RS1_RS2) \
    X(ROR, "ror", R, F_RD_RS1_RS2) \
    X(SH1ADD, "sh1add", R, F_RD_RS1_RS2) \
    X(SH2ADD, "sh2add", R, F_RD_RS1_RS2) \
    X(SH3ADD, "sh3add", R, F_RD_RS1_RS2) \
    X(SH1ADD_UW, "sh1add.uw", R, F_RD_RS1_RS2) \
    X(SH2ADD_UW, "sh2add.uw", R, F_RD_RS1_RS2) \
    X(SH3ADD_UW, "sh3add.uw", R, F_RD_RS1_RS2) \
    X(CLMUL, "clmul", R, F_RD_RS1_RS2) \
    X(CLMULR, "clmulr", R, F_RD_RS1_RS2) \
    X(CLMULH, "clmulh", R, F_RD_RS1_RS2) \
    X(MIN, "min", R, F_RD_RS1_RS2) \
    X(MINU, "minu", R, F_RD_RS1_RS2) \
    X(MAX, "max", R, F_RD_RS1_RS2) \
    X(MAXU, "maxu", R, F_RD_RS1_RS2) \
    X(CLZW, "clzw", R, F_RD_RS1) \
    X(CPOPW, "cpopw", R, F_RD_RS1) \
    X(SLLI_UW, "slli.uw", R, F_RD_RS1_RS2) \
    X(ADD_UW, "add.uw", R, F_RD_RS1_RS2) \
    X(ROLW, "rolw", R, F_RD_RS1_RS2) \
    X(RORW, "rorw", R, F_RD_RS1_RS2) \
    X(REV8, "rev8", R, F_RD_RS1) \
    X(ZEXT_H, "zext.h", R, F_RD_RS1) \
    X(RORIW, "roriw", I_SH5, F_RD_RS1_IMM) \
    X(ORC_B, "orc.b", R, F_RD_RS1) \
    X(BSET, "bset", R, F_RD_RS1_RS2) \
    X(BCLR, "bclr", R, F_RD_RS1_RS2) \
    X(BINV, "binv", R, F_RD_RS1_RS2) \
    X(BEXT, "bext", R, F_RD_RS1_RS2) \
    X(AES32ESMI, "aes32esmi", K_BS, F_RS1_RS2_BS) \
    X(AES32ESI, "aes32esi", K_BS, F_RS1_RS2_BS) \
    X(AES32DSMI, "aes32dsmi", K_BS, F_RS1_RS2_BS) \
    X(AES32DSI, "aes32dsi", K_BS, F_RS1_RS2_BS) \
    X(AES64KS1I, "aes64ks1i", K_RNUM, F_RD_RS1_RNUM) \
    X(AES64KS2, "aes64ks2", R, F_RD_RS1_RS2) \
    X(AES64IM, "aes64im", R, F_RD_RS1) \
    X(AES64ESM, "aes64esm", R, F_RD_RS1_RS2) \
    X(AES64ES, "aes64es", R, F_RD_RS1_RS2) \
    X(AES64DSM, "aes64dsm", R, F_RD_RS1_RS2) \
    X(AES64DS, "aes64ds", R, F_RD_RS1_RS2) \
    X(SHA256SIG0, "sha256sig0", R, F_RD_RS1) \
    X(SHA256SIG1, "sha256sig1", R, F_RD_RS1) \
    X(SHA256SUM0, "sha256sum0", R, F_RD_RS1) \
    X(SHA256SUM1, "sha256sum1", R, F_RD_RS1) \
    X(SHA512SIG0, "sha512sig0", R, F_RD_RS1_RS2) \
    X(SHA512SIG1, "sha512sig1", R, F_RD_RS1_RS2) \
    X(SHA512SUM0, "sha512sum0", R, F_RD_RS1_RS2) \
    X(SHA512SUM1, "sha512sum1", R, F_RD_RS1_RS2) \
    X(SHA512SUM0R, "sha512sum0r", R, F_RD_RS1_RS2) \
    X(SHA512SUM1R, "sha512sum1r", R, F_RD_RS1_RS2) \
    X(SHA512SIG0L, "sha512sig0l", R, F_RD_RS1_RS2) \
    X(SHA512SIG0H, "sha512sig0h", R, F_RD_RS1_RS2) \
    X(SHA512SIG1L, "sha512sig1l", R, F_RD_RS1_RS2) \
    X(SHA512SIG1H, "sha512sig1h", R, F_RD_RS1_RS2) \
    X(SM3P0, "sm3p0", R, F_RD_RS1) \
    X(SM3P1, "sm3p1", R, F_RD_RS1) \
    X(SM4ED, "sm4ed", K_BS, F_RS1_RS2_BS) \
    X(SM4KS, "sm4ks", K_BS, F_RS1_RS2_BS) \
    X(BREV8, "brev8", R, F_RD_RS1) \
    X(PACK, "pack", R, F_RD_RS1_RS2) \
    X(PACKH, "packh", R, F_RD_RS1_RS2) \
    X(PACKW, "packw", R, F_RD_RS1_RS2) \
    X(UNZIP, "unzip", R, F_RD_RS1) \
    X(ZIP, "zip", R, F_RD_RS1) \
    X(XPERM4, "xperm4", R, F_RD_RS1_RS2) \
    X(XPERM8, "xperm8", R, F_RD_RS1) \
    RVD_VOPS(X)

/* The F, D and Q ops share their shapes (M: the load/store size). */
#define RVD_FP_OPS(X, T, t, M, m) \
    X(FL##M, "fl" m, I, F_FRD_OFF_RS1) \
    X(FS##M, "fs" m, S, F_FRS2_OFF_RS1) \
    X(FMADD_##T, "fmadd." t, R4_M, F_RM_FRD_3) \
    X(FMSUB_##T, "fmsub." t, R4_M, F_RM_FRD_3) \
    X(FNMSUB_##T, "fnmsub." t, R4_M, F_RM_FRD_3) \
    X(FNMADD_##T, "fnmadd." t, R4_M, F_RM_FRD_3) \
    X(FADD_##T, "fadd." t, R_M, F_RM_FRD_2) \
    X(FSUB_##T, "fsub." t, R_M, F_RM_FRD_2) \
    X(FMUL_##T, "fmul." t, R_M, F_RM_FRD_2) \
    X(FDIV_##T, "fdiv." t, R_M, F_RM_FRD_2) \
    X(FSGNJ_##T, "fsgnj." t, R, F_FRD_FRS1_FRS2) \
    X(FSGNJN_##T, "fsgnjn." t, R, F_FRD_FRS1_FRS2) \
    X(FSGNJX_##T, "fsgnjx." t, R, F_FRD_FRS1_FRS2) \
    X(FMIN_##T, "fmin." t, R, F_FRD_FRS1_FRS2) \
    X(FMAX_##T, "fmax." t, R, F_FRD_FRS1_FRS2) \
    X(FSQRT_##T, "fsqrt." t, R_M, F_RM_FRD_FRS1) \
    X(FLE_##T, "fle." t, R, F_RD_FRS1_FRS2) \
    X(FLT_##T, "flt." t, R, F_RD_FRS1_FRS2) \
    X(FEQ_##T, "feq." t, R, F_RD_FRS1_FRS2) \
    X(FCVT_W_##T, "fcvt.w." t, R_M, F_RM_RD_FRS1) \
    X(FCVT_WU_##T, "fcvt.wu." t, R_M, F_RM_RD_FRS1) \
    X(FCVT_L_##T, "fcvt.l." t, R_M, F_RM_RD_FRS1) \
    X(FCVT_LU_##T, "fcvt.lu." t, R_M, F_RM_RD_FRS1) \
    X(FCVT_##T##_W, "fcvt." t ".w", R_M, F_RM_FRD_RS1) \
    X(FCVT_##T##_WU, "fcvt." t ".wu", R_M, F_RM_FRD_RS1) \
    X(FCVT_##T##_L, "fcvt." t ".l", R_M, F_RM_FRD_RS1) \
    X(FCVT_##T##_LU, "fcvt." t ".lu", R_M, F_RM_FRD_RS1) \
    X(FMV_X_##T, "fmv.x." t, R, F_RD_FRS1) \
    X(FCLASS_##T, "fclass." t, R, F_RD_FRS1) \
    X(FMV_##T##_X, "fmv." t ".x", R, F_FRD_RS1)
/* clang-format on */

/* The vector (V 1.0) ops. */
/* clang-format off */
#define RVD_VOPS(X) \
    X(V_VLE8_V, "vle8.v", V_LDST, F_V_LD) \
    X(V_VSE8_V, "vse8.v", V_LDST, F_V_LD) \
    X(V_VLE16_V, "vle16.v", V_LDST, F_V_LD) \
    X(V_VSE16_V, "vse16.v", V_LDST, F_V_LD) \
    X(V_VLE32_V, "vle32.v", V_LDST, F_V_LD) \
    X(V_VSE32_V, "vse32.v", V_LDST, F_V_LD) \
    X(V_VLE64_V, "vle64.v", V_LDST, F_V_LD) \
    X(V_VSE64_V, "vse64.v", V_LDST, F_V_LD) \
    X(V_VLM_V, "vlm.v", V_LDST, F_V_LD) \
    X(V_VSM_V, "vsm.v", V_LDST, F_V_LD) \
    X(V_VLSE8_V, "vlse8.v", V_R, F_V_LDS) \
    X(V_VSSE8_V, "vsse8.v", V_R, F_V_LDS) \
    X(V_VLSE16_V, "vlse16.v", V_R, F_V_LDS) \
    X(V_VSSE16_V, "vsse16.v", V_R, F_V_LDS) \
    X(V_VLSE32_V, "vlse32.v", V_R, F_V_LDS) \
    X(V_VSSE32_V, "vsse32.v", V_R, F_V_LDS) \
    X(V_VLSE64_V, "vlse64.v", V_R, F_V_LDS) \
    X(V_VSSE64_V, "vsse64.v", V_R, F_V_LDS) \
    X(V_VLUXEI8_V, "vluxei8.v", V_R, F_V_LDX) \
    X(V_VLUXEI16_V, "vluxei16.v", V_R, F_V_LDX) \
    X(V_VLUXEI32_V, "vluxei32.v", V_R, F_V_LDX) \
    X(V_VLUXEI64_V, "vluxei64.v", V_R, F_V_LDX) \
    X(V_VLOXEI8_V, "vloxei8.v", V_R, F_V_LDX) \
    X(V_VLOXEI16_V, "vloxei16.v", V_R, F_V_LDX) \
    X(V_VLOXEI32_V, "vloxei32.v", V_R, F_V_LDX) \
    X(V_VLOXEI64_V, "vloxei64.v", V_R, F_V_LDX) \
    X(V_VSUXEI8_V, "vsuxei8.v", V_R, F_V_LDX) \
    X(V_VSUXEI16_V, "vsuxei16.v", V_R, F_V_LDX) \
    X(V_VSUXEI32_V, "vsuxei32.v", V_R, F_V_LDX) \
    X(V_VSUXEI64_V, "vsuxei64.v", V_R, F_V_LDX) \
    X(V_VSOXEI8_V, "vsoxei8.v", V_R, F_V_LDX) \
    X(V_VSOXEI16_V, "vsoxei16.v", V_R, F_V_LDX) \
    X(V_VSOXEI32_V, "vsoxei32.v", V_R, F_V_LDX) \
    X(V_VSOXEI64_V, "vsoxei64.v", V_R, F_V_LDX) \
    X(V_VLE8FF_V, "vle8ff.v", V_LDST, F_V_LD) \
    X(V_VLE16FF_V, "vle16ff.v", V_LDST, F_V_LD) \
    X(V_VLE32FF_V, "vle32ff.v", V_LDST, F_V_LD) \
    X(V_VLE64FF_V, "vle64ff.v", V_LDST, F_V_LD) \
    X(V_VL1RE8_V, "vl1re8.v", V_LDST, F_V_LD) \
    X(V_VL1RE16_V, "vl1re16.v", V_LDST, F_V_LD) \
    X(V_VL1RE32_V, "vl1re32.v", V_LDST, F_V_LD) \
    X(V_VL1RE64_V, "vl1re64.v", V_LDST, F_V_LD) \
    X(V_VL2RE8_V, "vl2re8.v", V_LDST, F_V_LD) \
    X(V_VL2RE16_V, "vl2re16.v", V_LDST, F_V_LD) \
    X(V_VL2RE32_V, "vl2re32.v", V_LDST, F_V_LD) \
    X(V_VL2RE64_V, "vl2re64.v", V_LDST, F_V_LD) \
    X(V_VL4RE8_V, "vl4re8.v", V_LDST, F_V_LD) \
    X(V_VL4RE16_V, "vl4re16.v", V_LDST, F_V_LD) \
    X(V_VL4RE32_V, "vl4re32.v", V_LDST, F_V_LD) \
    X(V_VL4RE64_V, "vl4re64.v", V_LDST, F_V_LD) \
    X(V_VL8RE8_V, "vl8re8.v", V_LDST, F_V_LD) \
    X(V_VL8RE16_V, "vl8re16.v", V_LDST, F_V_LD) \
    X(V_VL8RE32_V, "vl8re32.v", V_LDST, F_V_LD) \
    X(V_VL8RE64_V, "vl8re64.v", V_LDST, F_V_LD) \
    X(V_VS1R_V, "vs1r.v", V_LDST, F_V_LD) \
    X(V_VS2R_V, "vs2r.v", V_LDST, F_V_LD) \
    X(V_VS4R_V, "vs4r.v", V_LDST, F_V_LD) \
    X(V_VS8R_V, "vs8r.v", V_LDST, F_V_LD) \
    X(V_VADD_VV, "vadd.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VADD_VX, "vadd.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VSUB_VV, "vsub.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VSUB_VX, "vsub.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMINU_VV, "vminu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMINU_VX, "vminu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMIN_VV, "vmin.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMIN_VX, "vmin.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMAXU_VV, "vmaxu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMAXU_VX, "vmaxu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMAX_VV, "vmax.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMAX_VX, "vmax.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VAND_VV, "vand.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VAND_VX, "vand.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VOR_VV, "vor.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VOR_VX, "vor.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VXOR_VV, "vxor.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VXOR_VX, "vxor.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VRGATHER_VV, "vrgather.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VRGATHER_VX, "vrgather.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VRSUB_VX, "vrsub.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VADD_VI, "vadd.vi", V_I, F_VD_VS2_IMM_VM) \
    X(V_VRSUB_VI, "vrsub.vi", V_I, F_VD_VS2_IMM_VM) \
    X(V_VAND_VI, "vand.vi", V_I, F_VD_VS2_IMM_VM) \
    X(V_VOR_VI, "vor.vi", V_I, F_VD_VS2_IMM_VM) \
    X(V_VXOR_VI, "vxor.vi", V_I, F_VD_VS2_IMM_VM) \
    X(V_VRGATHER_VI, "vrgather.vi", V_I, F_VD_VS2_UIM_VM) \
    X(V_VRGATHEREI16_VV, "vrgatherei16.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VSLIDEUP_VX, "vslideup.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VSLIDEUP_VI, "vslideup.vi", V_I, F_VD_VS2_UIM_VM) \
    X(V_VSLIDEDOWN_VX, "vslidedown.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VSLIDEDOWN_VI, "vslidedown.vi", V_I, F_VD_VS2_UIM_VM) \
    X(V_VADC_VVM, "vadc.vvm", V_R, F_VD_VS2_VS1_VL) \
    X(V_VADC_VXM, "vadc.vxm", V_R, F_VD_VS2_RS1_VL) \
    X(V_VADC_VIM, "vadc.vim", V_I, F_VD_VS2_IMM_VL) \
    X(V_VMADC_VVM, "vmadc.vvm", V_R, F_VD_VS2_VS1_VL) \
    X(V_VMADC_VXM, "vmadc.vxm", V_R, F_VD_VS2_RS1_VL) \
    X(V_VMADC_VIM, "vmadc.vim", V_I, F_VD_VS2_IMM_VL) \
    X(V_VSBC_VVM, "vsbc.vvm", V_R, F_VD_VS2_VS1_VL) \
    X(V_VSBC_VXM, "vsbc.vxm", V_R, F_VD_VS2_RS1_VL) \
    X(V_VMSBC_VVM, "vmsbc.vvm", V_R, F_VD_VS2_VS1_VL) \
    X(V_VMSBC_VXM, "vmsbc.vxm", V_R, F_VD_VS2_RS1_VL) \
    X(V_VMV_V_V, "vmv.v.v", V_R, F_VD_VS1) \
    X(V_VMERGE_VVM, "vmerge.vvm", V_R, F_VD_VS2_VS1_VL) \
    X(V_VMV_V_X, "vmv.v.x", V_R, F_VD_RS1) \
    X(V_VMERGE_VXM, "vmerge.vxm", V_R, F_VD_VS2_RS1_VL) \
    X(V_VMV_V_I, "vmv.v.i", V_I, F_VD_IMM) \
    X(V_VMERGE_VIM, "vmerge.vim", V_I, F_VD_VS2_IMM_VL) \
    X(V_VMSEQ_VV, "vmseq.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMSEQ_VX, "vmseq.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMSEQ_VI, "vmseq.vi", V_I, F_VD_VS2_IMM_VM) \
    X(V_VMSNE_VV, "vmsne.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMSNE_VX, "vmsne.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMSNE_VI, "vmsne.vi", V_I, F_VD_VS2_IMM_VM) \
    X(V_VMSLTU_VV, "vmsltu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMSLTU_VX, "vmsltu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMSLT_VV, "vmslt.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMSLT_VX, "vmslt.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMSLEU_VV, "vmsleu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMSLEU_VX, "vmsleu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMSLEU_VI, "vmsleu.vi", V_I, F_VD_VS2_IMM_VM) \
    X(V_VMSLE_VV, "vmsle.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMSLE_VX, "vmsle.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMSLE_VI, "vmsle.vi", V_I, F_VD_VS2_IMM_VM) \
    X(V_VMSGTU_VX, "vmsgtu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMSGTU_VI, "vmsgtu.vi", V_I, F_VD_VS2_IMM_VM) \
    X(V_VMSGT_VX, "vmsgt.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMSGT_VI, "vmsgt.vi", V_I, F_VD_VS2_IMM_VM) \
    X(V_VSADDU_VV, "vsaddu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VSADDU_VX, "vsaddu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VSADDU_VI, "vsaddu.vi", V_I, F_VD_VS2_IMM_VM) \
    X(V_VSADD_VV, "vsadd.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VSADD_VX, "vsadd.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VSADD_VI, "vsadd.vi", V_I, F_VD_VS2_IMM_VM) \
    X(V_VSSUBU_VV, "vssubu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VSSUBU_VX, "vssubu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VSSUB_VV, "vssub.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VSSUB_VX, "vssub.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VSLL_VV, "vsll.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VSLL_VX, "vsll.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VSLL_VI, "vsll.vi", V_I, F_VD_VS2_UIM_VM) \
    X(V_VSMUL_VV, "vsmul.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VSMUL_VX, "vsmul.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VSRL_VV, "vsrl.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VSRL_VX, "vsrl.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VSRL_VI, "vsrl.vi", V_I, F_VD_VS2_UIM_VM) \
    X(V_VSRA_VV, "vsra.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VSRA_VX, "vsra.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VSRA_VI, "vsra.vi", V_I, F_VD_VS2_UIM_VM) \
    X(V_VSSRL_VV, "vssrl.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VSSRL_VX, "vssrl.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VSSRL_VI, "vssrl.vi", V_I, F_VD_VS2_UIM_VM) \
    X(V_VSSRA_VV, "vssra.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VSSRA_VX, "vssra.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VSSRA_VI, "vssra.vi", V_I, F_VD_VS2_UIM_VM) \
    X(V_VNSRL_WV, "vnsrl.wv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VNSRL_WX, "vnsrl.wx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VNSRL_WI, "vnsrl.wi", V_I, F_VD_VS2_UIM_VM) \
    X(V_VNSRA_WV, "vnsra.wv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VNSRA_WX, "vnsra.wx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VNSRA_WI, "vnsra.wi", V_I, F_VD_VS2_UIM_VM) \
    X(V_VNCLIPU_WV, "vnclipu.wv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VNCLIPU_WX, "vnclipu.wx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VNCLIPU_WI, "vnclipu.wi", V_I, F_VD_VS2_UIM_VM) \
    X(V_VNCLIP_WV, "vnclip.wv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VNCLIP_WX, "vnclip.wx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VNCLIP_WI, "vnclip.wi", V_I, F_VD_VS2_UIM_VM) \
    X(V_VMV1R_V, "vmv1r.v", V_R, F_VD_VS2) \
    X(V_VMV2R_V, "vmv2r.v", V_R, F_VD_VS2) \
    X(V_VMV4R_V, "vmv4r.v", V_R, F_VD_VS2) \
    X(V_VMV8R_V, "vmv8r.v", V_R, F_VD_VS2) \
    X(V_VWREDSUMU_VS, "vwredsumu.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VWREDSUM_VS, "vwredsum.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFADD_VV, "vfadd.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFADD_VF, "vfadd.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFSUB_VV, "vfsub.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFSUB_VF, "vfsub.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFMIN_VV, "vfmin.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFMIN_VF, "vfmin.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFMAX_VV, "vfmax.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFMAX_VF, "vfmax.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFSGNJ_VV, "vfsgnj.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFSGNJ_VF, "vfsgnj.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFSGNJN_VV, "vfsgnjn.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFSGNJN_VF, "vfsgnjn.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFSGNJX_VV, "vfsgnjx.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFSGNJX_VF, "vfsgnjx.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VMFEQ_VV, "vmfeq.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMFEQ_VF, "vmfeq.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VMFLE_VV, "vmfle.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMFLE_VF, "vmfle.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VMFLT_VV, "vmflt.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMFLT_VF, "vmflt.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VMFNE_VV, "vmfne.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMFNE_VF, "vmfne.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFDIV_VV, "vfdiv.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFDIV_VF, "vfdiv.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFMUL_VV, "vfmul.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFMUL_VF, "vfmul.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFWMUL_VV, "vfwmul.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFWMUL_VF, "vfwmul.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFREDUSUM_VS, "vfredusum.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFREDOSUM_VS, "vfredosum.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFREDMIN_VS, "vfredmin.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFREDMAX_VS, "vfredmax.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFWREDUSUM_VS, "vfwredusum.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFWREDOSUM_VS, "vfwredosum.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFSLIDE1UP_VF, "vfslide1up.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFSLIDE1DOWN_VF, "vfslide1down.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFMV_F_S, "vfmv.f.s", V_R, F_FD_VS2) \
    X(V_VFCVT_XU_F_V, "vfcvt.xu.f.v", V_R, F_VD_VS2_VM) \
    X(V_VFCVT_X_F_V, "vfcvt.x.f.v", V_R, F_VD_VS2_VM) \
    X(V_VFCVT_F_XU_V, "vfcvt.f.xu.v", V_R, F_VD_VS2_VM) \
    X(V_VFCVT_F_X_V, "vfcvt.f.x.v", V_R, F_VD_VS2_VM) \
    X(V_VFCVT_RTZ_XU_F_V, "vfcvt.rtz.xu.f.v", V_R, F_VD_VS2_VM) \
    X(V_VFCVT_RTZ_X_F_V, "vfcvt.rtz.x.f.v", V_R, F_VD_VS2_VM) \
    X(V_VFWCVT_XU_F_V, "vfwcvt.xu.f.v", V_R, F_VD_VS2_VM) \
    X(V_VFWCVT_X_F_V, "vfwcvt.x.f.v", V_R, F_VD_VS2_VM) \
    X(V_VFWCVT_F_XU_V, "vfwcvt.f.xu.v", V_R, F_VD_VS2_VM) \
    X(V_VFWCVT_F_X_V, "vfwcvt.f.x.v", V_R, F_VD_VS2_VM) \
    X(V_VFWCVT_F_F_V, "vfwcvt.f.f.v", V_R, F_VD_VS2_VM) \
    X(V_VFWCVT_RTZ_XU_F_V, "vfwcvt.rtz.xu.f.v", V_R, F_VD_VS2_VM) \
    X(V_VFWCVT_RTZ_X_F_V, "vfwcvt.rtz.x.f.v", V_R, F_VD_VS2_VM) \
    X(V_VFNCVT_XU_F_W, "vfncvt.xu.f.w", V_R, F_VD_VS2_VM) \
    X(V_VFNCVT_X_F_W, "vfncvt.x.f.w", V_R, F_VD_VS2_VM) \
    X(V_VFNCVT_F_XU_W, "vfncvt.f.xu.w", V_R, F_VD_VS2_VM) \
    X(V_VFNCVT_F_X_W, "vfncvt.f.x.w", V_R, F_VD_VS2_VM) \
    X(V_VFNCVT_F_F_W, "vfncvt.f.f.w", V_R, F_VD_VS2_VM) \
    X(V_VFNCVT_ROD_F_F_W, "vfncvt.rod.f.f.w", V_R, F_VD_VS2_VM) \
    X(V_VFNCVT_RTZ_XU_F_W, "vfncvt.rtz.xu.f.w", V_R, F_VD_VS2_VM) \
    X(V_VFNCVT_RTZ_X_F_W, "vfncvt.rtz.x.f.w", V_R, F_VD_VS2_VM) \
    X(V_VFSQRT_V, "vfsqrt.v", V_R, F_VD_VS2) \
    X(V_VFRSQRT7_V, "vfrsqrt7.v", V_R, F_VD_VS2) \
    X(V_VFREC7_V, "vfrec7.v", V_R, F_VD_VS2) \
    X(V_VFCLASS_V, "vfclass.v", V_R, F_VD_VS2_VM) \
    X(V_VFMADD_VV, "vfmadd.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VFMADD_VF, "vfmadd.vf", V_R, F_VD_FS1_VS2_VM) \
    X(V_VFNMADD_VV, "vfnmadd.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VFNMADD_VF, "vfnmadd.vf", V_R, F_VD_FS1_VS2_VM) \
    X(V_VFMSUB_VV, "vfmsub.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VFMSUB_VF, "vfmsub.vf", V_R, F_VD_FS1_VS2_VM) \
    X(V_VFNMSUB_VV, "vfnmsub.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VFNMSUB_VF, "vfnmsub.vf", V_R, F_VD_FS1_VS2_VM) \
    X(V_VFMACC_VV, "vfmacc.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VFMACC_VF, "vfmacc.vf", V_R, F_VD_FS1_VS2_VM) \
    X(V_VFNMACC_VV, "vfnmacc.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VFNMACC_VF, "vfnmacc.vf", V_R, F_VD_FS1_VS2_VM) \
    X(V_VFMSAC_VV, "vfmsac.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VFMSAC_VF, "vfmsac.vf", V_R, F_VD_FS1_VS2_VM) \
    X(V_VFNMSAC_VV, "vfnmsac.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VFNMSAC_VF, "vfnmsac.vf", V_R, F_VD_FS1_VS2_VM) \
    X(V_VFWMACC_VV, "vfwmacc.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VFWMACC_VF, "vfwmacc.vf", V_R, F_VD_FS1_VS2_VM) \
    X(V_VFWNMACC_VV, "vfwnmacc.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VFWNMACC_VF, "vfwnmacc.vf", V_R, F_VD_FS1_VS2_VM) \
    X(V_VFWMSAC_VV, "vfwmsac.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VFWMSAC_VF, "vfwmsac.vf", V_R, F_VD_FS1_VS2_VM) \
    X(V_VFWNMSAC_VV, "vfwnmsac.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VFWNMSAC_VF, "vfwnmsac.vf", V_R, F_VD_FS1_VS2_VM) \
    X(V_VFWADD_VV, "vfwadd.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFWADD_VF, "vfwadd.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFWSUB_VV, "vfwsub.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFWSUB_VF, "vfwsub.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFWADD_WV, "vfwadd.wv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFWADD_WF, "vfwadd.wf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFWSUB_WV, "vfwsub.wv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VFWSUB_WF, "vfwsub.wf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFMV_S_F, "vfmv.s.f", V_R, F_VD_FS1) \
    X(V_VFMERGE_VFM, "vfmerge.vfm", V_R, F_VD_VS2_FS1_VL) \
    X(V_VFMV_V_F, "vfmv.v.f", V_R, F_VD_FS1) \
    X(V_VMFGT_VF, "vmfgt.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VMFGE_VF, "vmfge.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFRDIV_VF, "vfrdiv.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VFRSUB_VF, "vfrsub.vf", V_R, F_VD_VS2_FS1_VM) \
    X(V_VREDSUM_VS, "vredsum.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VREDAND_VS, "vredand.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VREDOR_VS, "vredor.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VREDXOR_VS, "vredxor.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VREDMINU_VS, "vredminu.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VREDMIN_VS, "vredmin.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VREDMAXU_VS, "vredmaxu.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VREDMAX_VS, "vredmax.vs", V_R, F_VD_VS2_VS1_VM) \
    X(V_VAADDU_VV, "vaaddu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VAADDU_VX, "vaaddu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VAADD_VV, "vaadd.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VAADD_VX, "vaadd.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VASUBU_VV, "vasubu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VASUBU_VX, "vasubu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VASUB_VV, "vasub.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VASUB_VX, "vasub.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VDIVU_VV, "vdivu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VDIVU_VX, "vdivu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VDIV_VV, "vdiv.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VDIV_VX, "vdiv.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VREMU_VV, "vremu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VREMU_VX, "vremu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VREM_VV, "vrem.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VREM_VX, "vrem.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMULHU_VV, "vmulhu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMULHU_VX, "vmulhu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMUL_VV, "vmul.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMUL_VX, "vmul.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMULHSU_VV, "vmulhsu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMULHSU_VX, "vmulhsu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMULH_VV, "vmulh.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMULH_VX, "vmulh.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VWMULU_VV, "vwmulu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VWMULU_VX, "vwmulu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VWMULSU_VV, "vwmulsu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VWMULSU_VX, "vwmulsu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VWMUL_VV, "vwmul.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VWMUL_VX, "vwmul.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VWADDU_VV, "vwaddu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VWADDU_VX, "vwaddu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VWADD_VV, "vwadd.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VWADD_VX, "vwadd.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VWSUBU_VV, "vwsubu.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VWSUBU_VX, "vwsubu.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VWSUB_VV, "vwsub.vv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VWSUB_VX, "vwsub.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VWADDU_WV, "vwaddu.wv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VWADDU_WX, "vwaddu.wx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VWADD_WV, "vwadd.wv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VWADD_WX, "vwadd.wx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VWSUBU_WV, "vwsubu.wv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VWSUBU_WX, "vwsubu.wx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VWSUB_WV, "vwsub.wv", V_R, F_VD_VS2_VS1_VM) \
    X(V_VWSUB_WX, "vwsub.wx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMADD_VV, "vmadd.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VMADD_VX, "vmadd.vx", V_R, F_VD_RS1_VS2_VM) \
    X(V_VNMSUB_VV, "vnmsub.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VNMSUB_VX, "vnmsub.vx", V_R, F_VD_RS1_VS2_VM) \
    X(V_VMACC_VV, "vmacc.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VMACC_VX, "vmacc.vx", V_R, F_VD_RS1_VS2_VM) \
    X(V_VNMSAC_VV, "vnmsac.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VNMSAC_VX, "vnmsac.vx", V_R, F_VD_RS1_VS2_VM) \
    X(V_VWMACCU_VV, "vwmaccu.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VWMACCU_VX, "vwmaccu.vx", V_R, F_VD_RS1_VS2_VM) \
    X(V_VWMACC_VV, "vwmacc.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VWMACC_VX, "vwmacc.vx", V_R, F_VD_RS1_VS2_VM) \
    X(V_VWMACCSU_VV, "vwmaccsu.vv", V_R, F_VD_VS1_VS2_VM) \
    X(V_VWMACCSU_VX, "vwmaccsu.vx", V_R, F_VD_RS1_VS2_VM) \
    X(V_VWMACCUS_VX, "vwmaccus.vx", V_R, F_VD_RS1_VS2_VM) \
    X(V_VMV_X_S, "vmv.x.s", V_R, F_RD_VS2) \
    X(V_VCPOP_M, "vcpop.m", V_R, F_RD_VS2_VM) \
    X(V_VFIRST_M, "vfirst.m", V_R, F_RD_VS2_VM) \
    X(V_VZEXT_VF8, "vzext.vf8", V_R, F_VD_VS2_VM) \
    X(V_VSEXT_VF8, "vsext.vf8", V_R, F_VD_VS2_VM) \
    X(V_VZEXT_VF4, "vzext.vf4", V_R, F_VD_VS2_VM) \
    X(V_VSEXT_VF4, "vsext.vf4", V_R, F_VD_VS2_VM) \
    X(V_VZEXT_VF2, "vzext.vf2", V_R, F_VD_VS2_VM) \
    X(V_VSEXT_VF2, "vsext.vf2", V_R, F_VD_VS2_VM) \
    X(V_VMSBF_M, "vmsbf.m", V_R, F_VD_VS2_VM) \
    X(V_VMSOF_M, "vmsof.m", V_R, F_VD_VS2_VM) \
    X(V_VMSIF_M, "vmsif.m", V_R, F_VD_VS2_VM) \
    X(V_VIOTA_M, "viota.m", V_R, F_VD_VS2_VM) \
    X(V_VID_V, "vid.v", V_R, F_VD_VM) \
    X(V_VCOMPRESS_VM, "vcompress.vm", V_R, F_VD_VS2_VS1) \
    X(V_VMANDN_MM, "vmandn.mm", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMAND_MM, "vmand.mm", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMOR_MM, "vmor.mm", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMXOR_MM, "vmxor.mm", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMORN_MM, "vmorn.mm", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMNAND_MM, "vmnand.mm", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMNOR_MM, "vmnor.mm", V_R, F_VD_VS2_VS1_VM) \
    X(V_VMXNOR_MM, "vmxnor.mm", V_R, F_VD_VS2_VS1_VM) \
    X(V_VSLIDE1UP_VX, "vslide1up.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VSLIDE1DOWN_VX, "vslide1down.vx", V_R, F_VD_VS2_RS1_VM) \
    X(V_VMV_S_X, "vmv.s.x", V_R, F_VD_RS1) \
    X(V_VSETVLI, "vsetvli", VSETVLI, F_VSETVLI) \
    X(V_VSETIVLI, "vsetivli", VSETIVLI, F_VSETIVLI) \
    X(V_VSETVL, "vsetvl", R, F_RD_RS1_RS2)
/* clang-format on */

#define RVD_ENUM(id, name, codec, fmt) RVD_##id,
enum rvd_op { RVD_OPS(RVD_ENUM) RVD_NB_OPS };
#undef RVD_ENUM

struct rvd_opinfo {
    const char *name;
    uint8_t codec; /* enum rvd_codec */
    const char *fmt;
};

#define RVD_INFO(id, name, codec, fmt) {name, RVD_C_##codec, fmt},
static const struct rvd_opinfo rvd_ops[RVD_NB_OPS] = {RVD_OPS(RVD_INFO)};
#undef RVD_INFO

/* Unconditional OP-V ops by funct3 and funct6 (0: see rvd_vconds). */
static const uint16_t rvd_vtab[7][64] = {
    [0] = {[0] = RVD_V_VADD_VV,          [2] = RVD_V_VSUB_VV,
           [4] = RVD_V_VMINU_VV,         [5] = RVD_V_VMIN_VV,
           [6] = RVD_V_VMAXU_VV,         [7] = RVD_V_VMAX_VV,
           [9] = RVD_V_VAND_VV,          [10] = RVD_V_VOR_VV,
           [11] = RVD_V_VXOR_VV,         [12] = RVD_V_VRGATHER_VV,
           [14] = RVD_V_VRGATHEREI16_VV, [17] = RVD_V_VMADC_VVM,
           [19] = RVD_V_VMSBC_VVM,       [24] = RVD_V_VMSEQ_VV,
           [25] = RVD_V_VMSNE_VV,        [26] = RVD_V_VMSLTU_VV,
           [27] = RVD_V_VMSLT_VV,        [28] = RVD_V_VMSLEU_VV,
           [29] = RVD_V_VMSLE_VV,        [32] = RVD_V_VSADDU_VV,
           [33] = RVD_V_VSADD_VV,        [34] = RVD_V_VSSUBU_VV,
           [35] = RVD_V_VSSUB_VV,        [37] = RVD_V_VSLL_VV,
           [39] = RVD_V_VSMUL_VV,        [40] = RVD_V_VSRL_VV,
           [41] = RVD_V_VSRA_VV,         [42] = RVD_V_VSSRL_VV,
           [43] = RVD_V_VSSRA_VV,        [44] = RVD_V_VNSRL_WV,
           [45] = RVD_V_VNSRA_WV,        [46] = RVD_V_VNCLIPU_WV,
           [47] = RVD_V_VNCLIP_WV,       [48] = RVD_V_VWREDSUMU_VS,
           [49] = RVD_V_VWREDSUM_VS},
    [1] = {[0] = RVD_V_VFADD_VV,       [1] = RVD_V_VFREDUSUM_VS,
           [2] = RVD_V_VFSUB_VV,       [3] = RVD_V_VFREDOSUM_VS,
           [4] = RVD_V_VFMIN_VV,       [5] = RVD_V_VFREDMIN_VS,
           [6] = RVD_V_VFMAX_VV,       [7] = RVD_V_VFREDMAX_VS,
           [8] = RVD_V_VFSGNJ_VV,      [9] = RVD_V_VFSGNJN_VV,
           [10] = RVD_V_VFSGNJX_VV,    [24] = RVD_V_VMFEQ_VV,
           [25] = RVD_V_VMFLE_VV,      [27] = RVD_V_VMFLT_VV,
           [28] = RVD_V_VMFNE_VV,      [32] = RVD_V_VFDIV_VV,
           [36] = RVD_V_VFMUL_VV,      [40] = RVD_V_VFMADD_VV,
           [41] = RVD_V_VFNMADD_VV,    [42] = RVD_V_VFMSUB_VV,
           [43] = RVD_V_VFNMSUB_VV,    [44] = RVD_V_VFMACC_VV,
           [45] = RVD_V_VFNMACC_VV,    [46] = RVD_V_VFMSAC_VV,
           [47] = RVD_V_VFNMSAC_VV,    [48] = RVD_V_VFWADD_VV,
           [49] = RVD_V_VFWREDUSUM_VS, [50] = RVD_V_VFWSUB_VV,
           [51] = RVD_V_VFWREDOSUM_VS, [52] = RVD_V_VFWADD_WV,
           [54] = RVD_V_VFWSUB_WV,     [56] = RVD_V_VFWMUL_VV,
           [60] = RVD_V_VFWMACC_VV,    [61] = RVD_V_VFWNMACC_VV,
           [62] = RVD_V_VFWMSAC_VV,    [63] = RVD_V_VFWNMSAC_VV},
    [2] = {[0] = RVD_V_VREDSUM_VS,  [1] = RVD_V_VREDAND_VS,
           [2] = RVD_V_VREDOR_VS,   [3] = RVD_V_VREDXOR_VS,
           [4] = RVD_V_VREDMINU_VS, [5] = RVD_V_VREDMIN_VS,
           [6] = RVD_V_VREDMAXU_VS, [7] = RVD_V_VREDMAX_VS,
           [8] = RVD_V_VAADDU_VV,   [9] = RVD_V_VAADD_VV,
           [10] = RVD_V_VASUBU_VV,  [11] = RVD_V_VASUB_VV,
           [32] = RVD_V_VDIVU_VV,   [33] = RVD_V_VDIV_VV,
           [34] = RVD_V_VREMU_VV,   [35] = RVD_V_VREM_VV,
           [36] = RVD_V_VMULHU_VV,  [37] = RVD_V_VMUL_VV,
           [38] = RVD_V_VMULHSU_VV, [39] = RVD_V_VMULH_VV,
           [41] = RVD_V_VMADD_VV,   [43] = RVD_V_VNMSUB_VV,
           [45] = RVD_V_VMACC_VV,   [47] = RVD_V_VNMSAC_VV,
           [48] = RVD_V_VWADDU_VV,  [49] = RVD_V_VWADD_VV,
           [50] = RVD_V_VWSUBU_VV,  [51] = RVD_V_VWSUB_VV,
           [52] = RVD_V_VWADDU_WV,  [53] = RVD_V_VWADD_WV,
           [54] = RVD_V_VWSUBU_WV,  [55] = RVD_V_VWSUB_WV,
           [56] = RVD_V_VWMULU_VV,  [58] = RVD_V_VWMULSU_VV,
           [59] = RVD_V_VWMUL_VV,   [60] = RVD_V_VWMACCU_VV,
           [61] = RVD_V_VWMACC_VV,  [63] = RVD_V_VWMACCSU_VV},
    [3] = {[0] = RVD_V_VADD_VI,      [3] = RVD_V_VRSUB_VI,
           [9] = RVD_V_VAND_VI,      [10] = RVD_V_VOR_VI,
           [11] = RVD_V_VXOR_VI,     [12] = RVD_V_VRGATHER_VI,
           [14] = RVD_V_VSLIDEUP_VI, [15] = RVD_V_VSLIDEDOWN_VI,
           [17] = RVD_V_VMADC_VIM,   [24] = RVD_V_VMSEQ_VI,
           [25] = RVD_V_VMSNE_VI,    [28] = RVD_V_VMSLEU_VI,
           [29] = RVD_V_VMSLE_VI,    [30] = RVD_V_VMSGTU_VI,
           [31] = RVD_V_VMSGT_VI,    [32] = RVD_V_VSADDU_VI,
           [33] = RVD_V_VSADD_VI,    [37] = RVD_V_VSLL_VI,
           [40] = RVD_V_VSRL_VI,     [41] = RVD_V_VSRA_VI,
           [42] = RVD_V_VSSRL_VI,    [43] = RVD_V_VSSRA_VI,
           [44] = RVD_V_VNSRL_WI,    [45] = RVD_V_VNSRA_WI,
           [46] = RVD_V_VNCLIPU_WI,  [47] = RVD_V_VNCLIP_WI},
    [4] = {[0] = RVD_V_VADD_VX,        [2] = RVD_V_VSUB_VX,
           [3] = RVD_V_VRSUB_VX,       [4] = RVD_V_VMINU_VX,
           [5] = RVD_V_VMIN_VX,        [6] = RVD_V_VMAXU_VX,
           [7] = RVD_V_VMAX_VX,        [9] = RVD_V_VAND_VX,
           [10] = RVD_V_VOR_VX,        [11] = RVD_V_VXOR_VX,
           [12] = RVD_V_VRGATHER_VX,   [14] = RVD_V_VSLIDEUP_VX,
           [15] = RVD_V_VSLIDEDOWN_VX, [17] = RVD_V_VMADC_VXM,
           [19] = RVD_V_VMSBC_VXM,     [24] = RVD_V_VMSEQ_VX,
           [25] = RVD_V_VMSNE_VX,      [26] = RVD_V_VMSLTU_VX,
           [27] = RVD_V_VMSLT_VX,      [28] = RVD_V_VMSLEU_VX,
           [29] = RVD_V_VMSLE_VX,      [30] = RVD_V_VMSGTU_VX,
           [31] = RVD_V_VMSGT_VX,      [32] = RVD_V_VSADDU_VX,
           [33] = RVD_V_VSADD_VX,      [34] = RVD_V_VSSUBU_VX,
           [35] = RVD_V_VSSUB_VX,      [37] = RVD_V_VSLL_VX,
           [39] = RVD_V_VSMUL_VX,      [40] = RVD_V_VSRL_VX,
           [41] = RVD_V_VSRA_VX,       [42] = RVD_V_VSSRL_VX,
           [43] = RVD_V_VSSRA_VX,      [44] = RVD_V_VNSRL_WX,
           [45] = RVD_V_VNSRA_WX,      [46] = RVD_V_VNCLIPU_WX,
           [47] = RVD_V_VNCLIP_WX},
    [5] = {[0] = RVD_V_VFADD_VF,         [2] = RVD_V_VFSUB_VF,
           [4] = RVD_V_VFMIN_VF,         [6] = RVD_V_VFMAX_VF,
           [8] = RVD_V_VFSGNJ_VF,        [9] = RVD_V_VFSGNJN_VF,
           [10] = RVD_V_VFSGNJX_VF,      [14] = RVD_V_VFSLIDE1UP_VF,
           [15] = RVD_V_VFSLIDE1DOWN_VF, [24] = RVD_V_VMFEQ_VF,
           [25] = RVD_V_VMFLE_VF,        [27] = RVD_V_VMFLT_VF,
           [28] = RVD_V_VMFNE_VF,        [29] = RVD_V_VMFGT_VF,
           [31] = RVD_V_VMFGE_VF,        [32] = RVD_V_VFDIV_VF,
           [33] = RVD_V_VFRDIV_VF,       [36] = RVD_V_VFMUL_VF,
           [39] = RVD_V_VFRSUB_VF,       [40] = RVD_V_VFMADD_VF,
           [41] = RVD_V_VFNMADD_VF,      [42] = RVD_V_VFMSUB_VF,
           [43] = RVD_V_VFNMSUB_VF,      [44] = RVD_V_VFMACC_VF,
           [45] = RVD_V_VFNMACC_VF,      [46] = RVD_V_VFMSAC_VF,
           [47] = RVD_V_VFNMSAC_VF,      [48] = RVD_V_VFWADD_VF,
           [50] = RVD_V_VFWSUB_VF,       [52] = RVD_V_VFWADD_WF,
           [54] = RVD_V_VFWSUB_WF,       [56] = RVD_V_VFWMUL_VF,
           [60] = RVD_V_VFWMACC_VF,      [61] = RVD_V_VFWNMACC_VF,
           [62] = RVD_V_VFWMSAC_VF,      [63] = RVD_V_VFWNMSAC_VF},
    [6] = {[8] = RVD_V_VAADDU_VX,     [9] = RVD_V_VAADD_VX,
           [10] = RVD_V_VASUBU_VX,    [11] = RVD_V_VASUB_VX,
           [14] = RVD_V_VSLIDE1UP_VX, [15] = RVD_V_VSLIDE1DOWN_VX,
           [32] = RVD_V_VDIVU_VX,     [33] = RVD_V_VDIV_VX,
           [34] = RVD_V_VREMU_VX,     [35] = RVD_V_VREM_VX,
           [36] = RVD_V_VMULHU_VX,    [37] = RVD_V_VMUL_VX,
           [38] = RVD_V_VMULHSU_VX,   [39] = RVD_V_VMULH_VX,
           [41] = RVD_V_VMADD_VX,     [43] = RVD_V_VNMSUB_VX,
           [45] = RVD_V_VMACC_VX,     [47] = RVD_V_VNMSAC_VX,
           [48] = RVD_V_VWADDU_VX,    [49] = RVD_V_VWADD_VX,
           [50] = RVD_V_VWSUBU_VX,    [51] = RVD_V_VWSUB_VX,
           [52] = RVD_V_VWADDU_WX,    [53] = RVD_V_VWADD_WX,
           [54] = RVD_V_VWSUBU_WX,    [55] = RVD_V_VWSUB_WX,
           [56] = RVD_V_VWMULU_VX,    [58] = RVD_V_VWMULSU_VX,
           [59] = RVD_V_VWMUL_VX,     [60] = RVD_V_VWMACCU_VX,
           [61] = RVD_V_VWMACC_VX,    [62] = RVD_V_VWMACCUS_VX,
           [63] = RVD_V_VWMACCSU_VX},
};

/* OP-V ops that also need rs1, rs2 or vm; first match wins. */
struct rvd_vcond {
    uint8_t f3, f6;
    uint8_t rs1, rs2; /* required value, or 0xff for any */
    uint8_t vm;       /* required value, or 0xff for any */
    uint8_t mv;       /* vm = 1 and rs2 = 0 (the vmv.v.* forms) */
    uint16_t op;
};

static const struct rvd_vcond rvd_vconds[] = {
    {0, 16, 0xff, 0xff, 0, 0, RVD_V_VADC_VVM},
    {0, 18, 0xff, 0xff, 0, 0, RVD_V_VSBC_VVM},
    {0, 23, 0xff, 0xff, 0xff, 1, RVD_V_VMV_V_V},
    {0, 23, 0xff, 0xff, 0, 0, RVD_V_VMERGE_VVM},
    {1, 16, 0, 0xff, 1, 0, RVD_V_VFMV_F_S},
    {1, 18, 0, 0xff, 0xff, 0, RVD_V_VFCVT_XU_F_V},
    {1, 18, 1, 0xff, 0xff, 0, RVD_V_VFCVT_X_F_V},
    {1, 18, 2, 0xff, 0xff, 0, RVD_V_VFCVT_F_XU_V},
    {1, 18, 3, 0xff, 0xff, 0, RVD_V_VFCVT_F_X_V},
    {1, 18, 6, 0xff, 0xff, 0, RVD_V_VFCVT_RTZ_XU_F_V},
    {1, 18, 7, 0xff, 0xff, 0, RVD_V_VFCVT_RTZ_X_F_V},
    {1, 18, 8, 0xff, 0xff, 0, RVD_V_VFWCVT_XU_F_V},
    {1, 18, 9, 0xff, 0xff, 0, RVD_V_VFWCVT_X_F_V},
    {1, 18, 10, 0xff, 0xff, 0, RVD_V_VFWCVT_F_XU_V},
    {1, 18, 11, 0xff, 0xff, 0, RVD_V_VFWCVT_F_X_V},
    {1, 18, 12, 0xff, 0xff, 0, RVD_V_VFWCVT_F_F_V},
    {1, 18, 14, 0xff, 0xff, 0, RVD_V_VFWCVT_RTZ_XU_F_V},
    {1, 18, 15, 0xff, 0xff, 0, RVD_V_VFWCVT_RTZ_X_F_V},
    {1, 18, 16, 0xff, 0xff, 0, RVD_V_VFNCVT_XU_F_W},
    {1, 18, 17, 0xff, 0xff, 0, RVD_V_VFNCVT_X_F_W},
    {1, 18, 18, 0xff, 0xff, 0, RVD_V_VFNCVT_F_XU_W},
    {1, 18, 19, 0xff, 0xff, 0, RVD_V_VFNCVT_F_X_W},
    {1, 18, 20, 0xff, 0xff, 0, RVD_V_VFNCVT_F_F_W},
    {1, 18, 21, 0xff, 0xff, 0, RVD_V_VFNCVT_ROD_F_F_W},
    {1, 18, 22, 0xff, 0xff, 0, RVD_V_VFNCVT_RTZ_XU_F_W},
    {1, 18, 23, 0xff, 0xff, 0, RVD_V_VFNCVT_RTZ_X_F_W},
    {1, 19, 0, 0xff, 0xff, 0, RVD_V_VFSQRT_V},
    {1, 19, 4, 0xff, 0xff, 0, RVD_V_VFRSQRT7_V},
    {1, 19, 5, 0xff, 0xff, 0, RVD_V_VFREC7_V},
    {1, 19, 16, 0xff, 0xff, 0, RVD_V_VFCLASS_V},
    {2, 16, 0, 0xff, 1, 0, RVD_V_VMV_X_S},
    {2, 16, 16, 0xff, 0xff, 0, RVD_V_VCPOP_M},
    {2, 16, 17, 0xff, 0xff, 0, RVD_V_VFIRST_M},
    {2, 18, 2, 0xff, 0xff, 0, RVD_V_VZEXT_VF8},
    {2, 18, 3, 0xff, 0xff, 0, RVD_V_VSEXT_VF8},
    {2, 18, 4, 0xff, 0xff, 0, RVD_V_VZEXT_VF4},
    {2, 18, 5, 0xff, 0xff, 0, RVD_V_VSEXT_VF4},
    {2, 18, 6, 0xff, 0xff, 0, RVD_V_VZEXT_VF2},
    {2, 18, 7, 0xff, 0xff, 0, RVD_V_VSEXT_VF2},
    {2, 20, 1, 0xff, 0xff, 0, RVD_V_VMSBF_M},
    {2, 20, 2, 0xff, 0xff, 0, RVD_V_VMSOF_M},
    {2, 20, 3, 0xff, 0xff, 0, RVD_V_VMSIF_M},
    {2, 20, 16, 0xff, 0xff, 0, RVD_V_VIOTA_M},
    {2, 20, 17, 0, 0xff, 0, RVD_V_VID_V},
    {2, 23, 0xff, 0xff, 1, 0, RVD_V_VCOMPRESS_VM},
    {2, 24, 0xff, 0xff, 1, 0, RVD_V_VMANDN_MM},
    {2, 25, 0xff, 0xff, 1, 0, RVD_V_VMAND_MM},
    {2, 26, 0xff, 0xff, 1, 0, RVD_V_VMOR_MM},
    {2, 27, 0xff, 0xff, 1, 0, RVD_V_VMXOR_MM},
    {2, 28, 0xff, 0xff, 1, 0, RVD_V_VMORN_MM},
    {2, 29, 0xff, 0xff, 1, 0, RVD_V_VMNAND_MM},
    {2, 30, 0xff, 0xff, 1, 0, RVD_V_VMNOR_MM},
    {2, 31, 0xff, 0xff, 1, 0, RVD_V_VMXNOR_MM},
    {3, 16, 0xff, 0xff, 0, 0, RVD_V_VADC_VIM},
    {3, 23, 0xff, 0xff, 0xff, 1, RVD_V_VMV_V_I},
    {3, 23, 0xff, 0xff, 0, 0, RVD_V_VMERGE_VIM},
    {3, 39, 0, 0xff, 0xff, 0, RVD_V_VMV1R_V},
    {3, 39, 1, 0xff, 0xff, 0, RVD_V_VMV2R_V},
    {3, 39, 3, 0xff, 0xff, 0, RVD_V_VMV4R_V},
    {3, 39, 7, 0xff, 0xff, 0, RVD_V_VMV8R_V},
    {4, 16, 0xff, 0xff, 0, 0, RVD_V_VADC_VXM},
    {4, 18, 0xff, 0xff, 0, 0, RVD_V_VSBC_VXM},
    {4, 23, 0xff, 0xff, 0xff, 1, RVD_V_VMV_V_X},
    {4, 23, 0xff, 0xff, 0, 0, RVD_V_VMERGE_VXM},
    {5, 16, 0xff, 0, 1, 0, RVD_V_VFMV_S_F},
    {5, 23, 0xff, 0xff, 0, 0, RVD_V_VFMERGE_VFM},
    {5, 23, 0xff, 0xff, 0xff, 1, RVD_V_VFMV_V_F},
    {6, 16, 0xff, 0, 1, 0, RVD_V_VMV_S_X},
};

/* One decoded instruction. */
struct rvd_insn {
    uint64_t pc;
    uint32_t inst;
    int32_t imm;
    unsigned op; /* enum rvd_op */
    uint8_t rd, rs1, rs2, rs3;
    uint8_t rm, pred, succ, aq, rl, bs, rnum, vm;
    uint32_t vzimm;
};

static const char rvd_xreg[32][5] = {
    "zero", "ra", "sp", "gp", "tp",  "t0",  "t1", "t2", "s0", "s1", "a0",
    "a1",   "a2", "a3", "a4", "a5",  "a6",  "a7", "s2", "s3", "s4", "s5",
    "s6",   "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
};

static const char rvd_freg[32][5] = {
    "ft0", "ft1", "ft2",  "ft3",  "ft4", "ft5", "ft6",  "ft7",
    "fs0", "fs1", "fa0",  "fa1",  "fa2", "fa3", "fa4",  "fa5",
    "fa6", "fa7", "fs2",  "fs3",  "fs4", "fs5", "fs6",  "fs7",
    "fs8", "fs9", "fs10", "fs11", "ft8", "ft9", "ft10", "ft11",
};

/* ---- CSR names (QEMU 7.2's list, quirks included) ---- */

struct rvd_csr {
    uint16_t num;
    const char *name;
};

/* Sorted by number; the numbered families are in rvd_csr_name(). */
static const struct rvd_csr rvd_csrs[] = {
    {0x000, "ustatus"},     {0x001, "fflags"},      {0x002, "frm"},
    {0x003, "fcsr"},        {0x004, "uie"},         {0x005, "utvec"},
    {0x008, "vstart"},      {0x009, "vxsat"},       {0x00a, "vxrm"},
    {0x00f, "vcsr"},        {0x015, "seed"},        {0x040, "uscratch"},
    {0x041, "uepc"},        {0x042, "ucause"},      {0x043, "utval"},
    {0x044, "uip"},         {0x100, "sstatus"},     {0x104, "sie"},
    {0x105, "stvec"},       {0x106, "scounteren"},  {0x140, "sscratch"},
    {0x141, "sepc"},        {0x142, "scause"},      {0x143, "stval"},
    {0x144, "sip"},         {0x180, "satp"},        {0x200, "hstatus"},
    {0x202, "hedeleg"},     {0x203, "hideleg"},     {0x204, "hie"},
    {0x205, "htvec"},       {0x240, "hscratch"},    {0x241, "hepc"},
    {0x242, "hcause"},      {0x243, "hbadaddr"},    {0x244, "hip"},
    {0x300, "mstatus"},     {0x301, "misa"},        {0x302, "medeleg"},
    {0x303, "mideleg"},     {0x304, "mie"},         {0x305, "mtvec"},
    {0x306, "mcounteren"},  {0x320, "mucounteren"}, {0x321, "mscounteren"},
    {0x322, "mhcounteren"}, {0x340, "mscratch"},    {0x341, "mepc"},
    {0x342, "mcause"},      {0x343, "mtval"},       {0x344, "mip"},
    {0x380, "mbase"},       {0x381, "mbound"},      {0x382, "mibase"},
    {0x383, "mibound"},     {0x384, "mdbase"},      {0x385, "mdbound"},
    {0x780, "mtohost"},     {0x781, "mfromhost"},   {0x782, "mreset"},
    {0x783, "mipi"},        {0x784, "miobase"},     {0x7a0, "tselect"},
    {0x7a1, "tdata1"},      {0x7a2, "tdata2"},      {0x7a3, "tdata3"},
    {0x7b0, "dcsr"},        {0x7b1, "dpc"},         {0x7b2, "dscratch"},
    {0xb00, "mcycle"},      {0xb01, "mtime"},       {0xb02, "minstret"},
    {0xb80, "mcycleh"},     {0xb81, "mtimeh"},      {0xb82, "minstreth"},
    {0xc00, "cycle"},       {0xc01, "time"},        {0xc02, "instret"},
    {0xc20, "vl"},          {0xc21, "vtype"},       {0xc22, "vlenb"},
    {0xc80, "cycleh"},      {0xc81, "timeh"},       {0xc82, "instreth"},
    {0xd00, "scycle"},      {0xd01, "stime"},       {0xd02, "sinstret"},
    {0xd80, "scycleh"},     {0xd81, "stimeh"},      {0xd82, "sinstreth"},
    {0xe00, "hcycle"},      {0xe01, "htime"},       {0xe02, "hinstret"},
    {0xe80, "hcycleh"},     {0xe81, "htimeh"},      {0xe82, "hinstreth"},
    {0xf11, "mvendorid"},   {0xf12, "marchid"},     {0xf13, "mimpid"},
    {0xf14, "mhartid"},
};

/*
 * Write the name of CSR @num into @tmp (at least 16 bytes): the numbered
 * families (mhpmevent3-31, pmpcfg0-15, pmpaddr0-63, mhpmcounter3-31[h]) are
 * computed, the rest looked up. Unknown numbers print as "0x%03x".
 */
static void rvd_csr_name(unsigned num, char *tmp, size_t tmp_cap)
{
    size_t lo = 0;
    size_t hi = sizeof(rvd_csrs) / sizeof(rvd_csrs[0]);

    if (num >= 0x323 && num <= 0x33f) {
        snprintf(tmp, tmp_cap, "mhpmevent%u", num - 0x320);
        return;
    }
    if (num >= 0x3a0 && num <= 0x3af) {
        snprintf(tmp, tmp_cap, "pmpcfg%u", num - 0x3a0);
        return;
    }
    if (num >= 0x3b0 && num <= 0x3ef) {
        snprintf(tmp, tmp_cap, "pmpaddr%u", num - 0x3b0);
        return;
    }
    if (num >= 0xb03 && num <= 0xb1f) {
        snprintf(tmp, tmp_cap, "mhpmcounter%u", num - 0xb00);
        return;
    }
    if (num >= 0xb83 && num <= 0xb9f) {
        snprintf(tmp, tmp_cap, "mhpmcounter%uh", num - 0xb80);
        return;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (rvd_csrs[mid].num == num) {
            snprintf(tmp, tmp_cap, "%s", rvd_csrs[mid].name);
            return;
        }
        if (rvd_csrs[mid].num < num) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    snprintf(tmp, tmp_cap, "0x%03x", num);
}

/* ---- field extraction ---- */

static uint32_t bits(uint32_t v, unsigned lo, unsigned n)
{
    return (v >> lo) & ((1u << n) - 1);
}

/* Sign-extend the low @n bits of @v. */
static int32_t sext(uint32_t v, unsigned n)
{
    uint32_t m = 1u << (n - 1);

    v &= (n == 32) ? 0xffffffffu : ((1u << n) - 1);
    return (int32_t)((v ^ m) - m);
}

static void rvd_extract(struct rvd_insn *d)
{
    uint32_t w = d->inst;

    switch (rvd_ops[d->op].codec) {
    case RVD_C_NONE:
        break;
    case RVD_C_U:
        d->rd = bits(w, 7, 5);
        d->imm = (int32_t)(w & 0xfffff000u);
        break;
    case RVD_C_UJ:
        d->rd = bits(w, 7, 5);
        d->imm = sext((bits(w, 31, 1) << 20) | (bits(w, 21, 10) << 1) |
                          (bits(w, 20, 1) << 11) | (bits(w, 12, 8) << 12),
                      21);
        break;
    case RVD_C_I:
        d->rd = bits(w, 7, 5);
        d->rs1 = bits(w, 15, 5);
        d->imm = sext(w >> 20, 12);
        break;
    case RVD_C_I_SH5:
    case RVD_C_I_SH6:
    case RVD_C_I_SH7:
        d->rd = bits(w, 7, 5);
        d->rs1 = bits(w, 15, 5);
        d->imm = (int32_t)bits(w, 20,
                               rvd_ops[d->op].codec == RVD_C_I_SH5   ? 5
                               : rvd_ops[d->op].codec == RVD_C_I_SH6 ? 6
                                                                     : 7);
        break;
    case RVD_C_I_CSR:
        d->rd = bits(w, 7, 5);
        d->rs1 = bits(w, 15, 5);
        d->imm = (int32_t)bits(w, 20, 12);
        break;
    case RVD_C_S:
        d->rs1 = bits(w, 15, 5);
        d->rs2 = bits(w, 20, 5);
        d->imm = sext((bits(w, 25, 7) << 5) | bits(w, 7, 5), 12);
        break;
    case RVD_C_SB:
        d->rs1 = bits(w, 15, 5);
        d->rs2 = bits(w, 20, 5);
        d->imm = sext((bits(w, 31, 1) << 12) | (bits(w, 25, 6) << 5) |
                          (bits(w, 8, 4) << 1) | (bits(w, 7, 1) << 11),
                      13);
        break;
    case RVD_C_R:
    case RVD_C_R_M:
    case RVD_C_R4_M:
    case RVD_C_R_A:
    case RVD_C_V_R:
        d->rd = bits(w, 7, 5);
        d->rs1 = bits(w, 15, 5);
        d->rs2 = bits(w, 20, 5);
        d->rs3 = bits(w, 27, 5);
        d->rm = bits(w, 12, 3);
        d->aq = bits(w, 26, 1);
        d->rl = bits(w, 25, 1);
        d->vm = bits(w, 25, 1);
        break;
    case RVD_C_R_L:
        d->rd = bits(w, 7, 5);
        d->rs1 = bits(w, 15, 5);
        d->aq = bits(w, 26, 1);
        d->rl = bits(w, 25, 1);
        break;
    case RVD_C_R_F:
        d->pred = bits(w, 24, 4);
        d->succ = bits(w, 20, 4);
        break;
    case RVD_C_K_BS:
        d->rs1 = bits(w, 15, 5);
        d->rs2 = bits(w, 20, 5);
        d->bs = bits(w, 30, 2);
        break;
    case RVD_C_K_RNUM:
        d->rd = bits(w, 7, 5);
        d->rs1 = bits(w, 15, 5);
        d->rnum = bits(w, 20, 4);
        break;
    case RVD_C_V_LDST:
        d->rd = bits(w, 7, 5);
        d->rs1 = bits(w, 15, 5);
        d->vm = bits(w, 25, 1);
        break;
    case RVD_C_V_I:
        d->rd = bits(w, 7, 5);
        d->rs2 = bits(w, 20, 5);
        d->imm = sext(bits(w, 15, 5), 5);
        d->vm = bits(w, 25, 1);
        break;
    case RVD_C_VSETVLI:
        d->rd = bits(w, 7, 5);
        d->rs1 = bits(w, 15, 5);
        d->vzimm = bits(w, 20, 11);
        break;
    case RVD_C_VSETIVLI:
        d->rd = bits(w, 7, 5);
        d->imm = sext(bits(w, 15, 5), 5);
        d->vzimm = bits(w, 20, 10);
        break;
    }
}

/* ---- compressed instructions: decoded straight to their expansion ---- */

/* x8..x15 from a 3-bit field. */
static uint8_t creg(uint32_t w, unsigned lo)
{
    return (uint8_t)(8 + bits(w, lo, 3));
}

static int32_t c_imm6(uint32_t w)
{
    return sext((bits(w, 12, 1) << 5) | bits(w, 2, 5), 6);
}

static void rvd_decode_c(struct rvd_insn *d)
{
    uint32_t w = d->inst & 0xffff;
    unsigned f3 = bits(w, 13, 3);
    unsigned rdf = bits(w, 7, 5);
    unsigned rs2f = bits(w, 2, 5);
    bool nz = false; /* a zero immediate makes the form illegal */

    d->op = RVD_ILLEGAL;
    switch (w & 3) {
    case 0:
        d->rd = creg(w, 2);
        d->rs1 = creg(w, 7);
        d->rs2 = creg(w, 2);
        switch (f3) {
        case 0:
            d->op = RVD_ADDI;
            d->rs1 = 2;
            d->imm = (int32_t)((bits(w, 11, 2) << 4) | (bits(w, 7, 4) << 6) |
                               (bits(w, 6, 1) << 2) | (bits(w, 5, 1) << 3));
            nz = true;
            break;
        case 1:
        case 3:
        case 5:
        case 7:
            d->op = f3 == 1   ? RVD_FLD
                    : f3 == 3 ? RVD_LD
                    : f3 == 5 ? RVD_FSD
                              : RVD_SD;
            d->imm = (int32_t)((bits(w, 10, 3) << 3) | (bits(w, 5, 2) << 6));
            break;
        case 2:
        case 6:
            d->op = f3 == 2 ? RVD_LW : RVD_SW;
            d->imm = (int32_t)((bits(w, 10, 3) << 3) | (bits(w, 6, 1) << 2) |
                               (bits(w, 5, 1) << 6));
            break;
        default:
            break;
        }
        if (f3 >= 5) {
            d->rd = 0;
        }
        break;
    case 1:
        switch (f3) {
        case 0:
        case 1:
            d->op = f3 == 0 ? RVD_ADDI : RVD_ADDIW;
            d->rd = d->rs1 = (uint8_t)rdf;
            d->imm = c_imm6(w);
            nz = f3 == 0 && bits(w, 2, 11) != 0;
            break;
        case 2:
            d->op = RVD_ADDI;
            d->rd = (uint8_t)rdf;
            d->imm = c_imm6(w);
            break;
        case 3:
            if (rdf == 2) {
                d->op = RVD_ADDI;
                d->rd = d->rs1 = 2;
                d->imm = sext((bits(w, 12, 1) << 9) | (bits(w, 6, 1) << 4) |
                                  (bits(w, 5, 1) << 6) | (bits(w, 3, 2) << 7) |
                                  (bits(w, 2, 1) << 5),
                              10);
            } else {
                d->op = RVD_LUI;
                d->rd = (uint8_t)rdf;
                d->imm = (int32_t)((uint32_t)c_imm6(w) << 12);
            }
            nz = true;
            break;
        case 4:
            d->rd = d->rs1 = creg(w, 7);
            switch (bits(w, 10, 2)) {
            case 0:
            case 1:
                d->op = bits(w, 10, 2) == 0 ? RVD_SRLI : RVD_SRAI;
                d->imm = (int32_t)((bits(w, 12, 1) << 5) | bits(w, 2, 5));
                nz = true;
                break;
            case 2:
                d->op = RVD_ANDI;
                d->imm = c_imm6(w);
                break;
            default: {
                static const uint16_t ops[8] = {
                    RVD_SUB,  RVD_XOR,  RVD_OR,      RVD_AND,
                    RVD_SUBW, RVD_ADDW, RVD_ILLEGAL, RVD_ILLEGAL,
                };
                d->op = ops[(bits(w, 12, 1) << 2) | bits(w, 5, 2)];
                d->rs2 = creg(w, 2);
                break;
            }
            }
            break;
        case 5:
            d->op = RVD_JAL;
            d->imm = sext((bits(w, 12, 1) << 11) | (bits(w, 11, 1) << 4) |
                              (bits(w, 9, 2) << 8) | (bits(w, 8, 1) << 10) |
                              (bits(w, 7, 1) << 6) | (bits(w, 6, 1) << 7) |
                              (bits(w, 3, 3) << 1) | (bits(w, 2, 1) << 5),
                          12);
            break;
        default:
            d->op = f3 == 6 ? RVD_BEQ : RVD_BNE;
            d->rs1 = creg(w, 7);
            d->imm = sext((bits(w, 12, 1) << 8) | (bits(w, 10, 2) << 3) |
                              (bits(w, 5, 2) << 6) | (bits(w, 3, 2) << 1) |
                              (bits(w, 2, 1) << 5),
                          9);
            break;
        }
        break;
    case 2:
        switch (f3) {
        case 0:
            d->op = RVD_SLLI;
            d->rd = d->rs1 = (uint8_t)rdf;
            d->imm = (int32_t)((bits(w, 12, 1) << 5) | bits(w, 2, 5));
            nz = true;
            break;
        case 1:
        case 3:
            d->op = f3 == 1 ? RVD_FLD : RVD_LD;
            d->rd = (uint8_t)rdf;
            d->rs1 = 2;
            d->imm = (int32_t)((bits(w, 12, 1) << 5) | (bits(w, 5, 2) << 3) |
                               (bits(w, 2, 3) << 6));
            break;
        case 2:
            d->op = RVD_LW;
            d->rd = (uint8_t)rdf;
            d->rs1 = 2;
            d->imm = (int32_t)((bits(w, 12, 1) << 5) | (bits(w, 4, 3) << 2) |
                               (bits(w, 2, 2) << 6));
            break;
        case 4:
            if (bits(w, 12, 1) == 0) {
                d->op = RVD_JALR;
                d->rs1 = (uint8_t)rdf;
                if (rs2f != 0) {
                    d->op = RVD_ADDI;
                    d->rd = (uint8_t)rdf;
                    d->rs1 = (uint8_t)rs2f;
                }
            } else if (rs2f == 0 && rdf == 0) {
                d->op = RVD_EBREAK;
            } else if (rs2f == 0) {
                d->op = RVD_JALR;
                d->rd = 1;
                d->rs1 = (uint8_t)rdf;
            } else {
                d->op = RVD_ADD;
                d->rd = d->rs1 = (uint8_t)rdf;
                d->rs2 = (uint8_t)rs2f;
            }
            break;
        case 5:
        case 7:
            d->op = f3 == 5 ? RVD_FSD : RVD_SD;
            d->rs1 = 2;
            d->rs2 = (uint8_t)rs2f;
            d->imm = (int32_t)((bits(w, 10, 3) << 3) | (bits(w, 7, 3) << 6));
            break;
        default:
            d->op = RVD_SW;
            d->rs1 = 2;
            d->rs2 = (uint8_t)rs2f;
            d->imm = (int32_t)((bits(w, 9, 4) << 2) | (bits(w, 7, 2) << 6));
            break;
        }
        break;
    default:
        break;
    }
    if (nz && d->imm == 0) {
        d->op = RVD_ILLEGAL;
    }
}

/* ---- 32-bit instructions ---- */

static unsigned rvd_decode_op(uint32_t w)
{
    unsigned op = RVD_ILLEGAL;

    switch ((bits(w, 25, 7) << 3) | bits(w, 12, 3)) {
    case 0:
        op = RVD_ADD;
        break;
    case 1:
        op = RVD_SLL;
        break;
    case 2:
        op = RVD_SLT;
        break;
    case 3:
        op = RVD_SLTU;
        break;
    case 4:
        op = RVD_XOR;
        break;
    case 5:
        op = RVD_SRL;
        break;
    case 6:
        op = RVD_OR;
        break;
    case 7:
        op = RVD_AND;
        break;
    case 8:
        op = RVD_MUL;
        break;
    case 9:
        op = RVD_MULH;
        break;
    case 10:
        op = RVD_MULHSU;
        break;
    case 11:
        op = RVD_MULHU;
        break;
    case 12:
        op = RVD_DIV;
        break;
    case 13:
        op = RVD_DIVU;
        break;
    case 14:
        op = RVD_REM;
        break;
    case 15:
        op = RVD_REMU;
        break;
    case 36:
        op = bits(w, 20, 5) == 0 ? RVD_ZEXT_H : RVD_PACK;
        break;
    case 39:
        op = RVD_PACKH;
        break;
    case 41:
        op = RVD_CLMUL;
        break;
    case 42:
        op = RVD_CLMULR;
        break;
    case 43:
        op = RVD_CLMULH;
        break;
    case 44:
        op = RVD_MIN;
        break;
    case 45:
        op = RVD_MINU;
        break;
    case 46:
        op = RVD_MAX;
        break;
    case 47:
        op = RVD_MAXU;
        break;
    case 130:
        op = RVD_SH1ADD;
        break;
    case 132:
        op = RVD_SH2ADD;
        break;
    case 134:
        op = RVD_SH3ADD;
        break;
    case 161:
        op = RVD_BSET;
        break;
    case 162:
        op = RVD_XPERM4;
        break;
    case 164:
        op = RVD_XPERM8;
        break;
    case 200:
        op = RVD_AES64ES;
        break;
    case 216:
        op = RVD_AES64ESM;
        break;
    case 232:
        op = RVD_AES64DS;
        break;
    case 248:
        op = RVD_AES64DSM;
        break;
    case 256:
        op = RVD_SUB;
        break;
    case 260:
        op = RVD_XNOR;
        break;
    case 261:
        op = RVD_SRA;
        break;
    case 262:
        op = RVD_ORN;
        break;
    case 263:
        op = RVD_ANDN;
        break;
    case 289:
        op = RVD_BCLR;
        break;
    case 293:
        op = RVD_BEXT;
        break;
    case 320:
        op = RVD_SHA512SUM0R;
        break;
    case 328:
        op = RVD_SHA512SUM1R;
        break;
    case 336:
        op = RVD_SHA512SIG0L;
        break;
    case 344:
        op = RVD_SHA512SIG1L;
        break;
    case 368:
        op = RVD_SHA512SIG0H;
        break;
    case 376:
        op = RVD_SHA512SIG1H;
        break;
    case 385:
        op = RVD_ROL;
        break;
    case 389:
        op = RVD_ROR;
        break;
    case 417:
        op = RVD_BINV;
        break;
    case 504:
        op = RVD_AES64KS2;
        break;
    default:
        break;
    }
    /* The byte-select crypto ops match on bits 29:25 alone. */
    switch (bits(w, 25, 5)) {
    case 17:
        op = RVD_AES32ESI;
        break;
    case 19:
        op = RVD_AES32ESMI;
        break;
    case 21:
        op = RVD_AES32DSI;
        break;
    case 23:
        op = RVD_AES32DSMI;
        break;
    case 24:
        op = RVD_SM4ED;
        break;
    case 26:
        op = RVD_SM4KS;
        break;
    default:
        break;
    }
    return op;
}

static unsigned rvd_decode_op32(uint32_t w)
{
    switch ((bits(w, 25, 7) << 3) | bits(w, 12, 3)) {
    case 0:
        return RVD_ADDW;
    case 1:
        return RVD_SLLW;
    case 5:
        return RVD_SRLW;
    case 8:
        return RVD_MULW;
    case 12:
        return RVD_DIVW;
    case 13:
        return RVD_DIVUW;
    case 14:
        return RVD_REMW;
    case 15:
        return RVD_REMUW;
    case 32:
        return RVD_ADD_UW;
    case 36:
        return bits(w, 20, 5) == 0 ? RVD_ZEXT_H : RVD_PACKW;
    case 130:
        return RVD_SH1ADD_UW;
    case 132:
        return RVD_SH2ADD_UW;
    case 134:
        return RVD_SH3ADD_UW;
    case 256:
        return RVD_SUBW;
    case 261:
        return RVD_SRAW;
    case 385:
        return RVD_ROLW;
    case 389:
        return RVD_RORW;
    default:
        return RVD_ILLEGAL;
    }
}

static unsigned rvd_decode_opimm(uint32_t w)
{
    unsigned lo7 = bits(w, 20, 7);

    switch (bits(w, 12, 3)) {
    case 0:
        return RVD_ADDI;
    case 2:
        return RVD_SLTI;
    case 3:
        return RVD_SLTIU;
    case 4:
        return RVD_XORI;
    case 6:
        return RVD_ORI;
    case 7:
        return RVD_ANDI;
    case 1:
        switch (bits(w, 27, 5)) {
        case 0:
            return RVD_SLLI;
        case 1:
            return lo7 == 0x0f ? RVD_ZIP : RVD_ILLEGAL;
        case 2:
            switch (lo7) {
            case 0:
                return RVD_SHA256SUM0;
            case 1:
                return RVD_SHA256SUM1;
            case 2:
                return RVD_SHA256SIG0;
            case 3:
                return RVD_SHA256SIG1;
            case 4:
                return RVD_SHA512SUM0;
            case 5:
                return RVD_SHA512SUM1;
            case 6:
                return RVD_SHA512SIG0;
            case 7:
                return RVD_SHA512SIG1;
            case 8:
                return RVD_SM3P0;
            case 9:
                return RVD_SM3P1;
            default:
                return RVD_ILLEGAL;
            }
        case 5:
            return RVD_BSETI;
        case 6:
            if (lo7 == 0) {
                return RVD_AES64IM;
            }
            return bits(w, 24, 3) == 1 ? RVD_AES64KS1I : RVD_ILLEGAL;
        case 9:
            return RVD_BCLRI;
        case 13:
            return RVD_BINVI;
        case 12:
            switch (lo7) {
            case 0:
                return RVD_CLZ;
            case 1:
                return RVD_CTZ;
            case 2:
                return RVD_CPOP;
            case 4:
                return RVD_SEXT_B;
            case 5:
                return RVD_SEXT_H;
            default:
                return RVD_ILLEGAL;
            }
        default:
            return RVD_ILLEGAL;
        }
    default:
        switch (bits(w, 27, 5)) {
        case 0:
            return RVD_SRLI;
        case 1:
            return lo7 == 0x0f ? RVD_UNZIP : RVD_ILLEGAL;
        case 5:
            return RVD_ORC_B;
        case 8:
            return RVD_SRAI;
        case 9:
            return RVD_BEXTI;
        case 12:
            return RVD_RORI;
        case 13:
            switch (lo7) {
            case 0x18:
            case 0x38:
                return RVD_REV8;
            case 0x07:
                return RVD_BREV8;
            default:
                return RVD_ILLEGAL;
            }
        default:
            return RVD_ILLEGAL;
        }
    }
}

static unsigned rvd_decode_opimm32(uint32_t w)
{
    switch (bits(w, 12, 3)) {
    case 0:
        return RVD_ADDIW;
    case 1:
        switch (bits(w, 25, 7)) {
        case 0:
            return RVD_SLLIW;
        case 4:
            return RVD_SLLI_UW;
        case 48:
            /* QEMU 7.2 names both rs2 = 0 and rs2 = 1 "clzw". */
            switch (bits(w, 20, 5)) {
            case 0:
            case 1:
                return RVD_CLZW;
            case 2:
                return RVD_CPOPW;
            default:
                return RVD_ILLEGAL;
            }
        default:
            return RVD_ILLEGAL;
        }
    case 5:
        switch (bits(w, 25, 7)) {
        case 0:
            return RVD_SRLIW;
        case 32:
            return RVD_SRAIW;
        case 48:
            return RVD_RORIW;
        default:
            return RVD_ILLEGAL;
        }
    default:
        return RVD_ILLEGAL;
    }
}

static unsigned rvd_decode_amo(uint32_t w)
{
    static const uint16_t ops[32][3] = {
        [0] = {RVD_AMOADD_W, RVD_AMOADD_D, RVD_AMOADD_Q},
        [1] = {RVD_AMOSWAP_W, RVD_AMOSWAP_D, RVD_AMOSWAP_Q},
        [2] = {RVD_LR_W, RVD_LR_D, RVD_LR_Q},
        [3] = {RVD_SC_W, RVD_SC_D, RVD_SC_Q},
        [4] = {RVD_AMOXOR_W, RVD_AMOXOR_D, RVD_AMOXOR_Q},
        [8] = {RVD_AMOOR_W, RVD_AMOOR_D, RVD_AMOOR_Q},
        [12] = {RVD_AMOAND_W, RVD_AMOAND_D, RVD_AMOAND_Q},
        [16] = {RVD_AMOMIN_W, RVD_AMOMIN_D, RVD_AMOMIN_Q},
        [20] = {RVD_AMOMAX_W, RVD_AMOMAX_D, RVD_AMOMAX_Q},
        [24] = {RVD_AMOMINU_W, RVD_AMOMINU_D, RVD_AMOMINU_Q},
        [28] = {RVD_AMOMAXU_W, RVD_AMOMAXU_D, RVD_AMOMAXU_Q},
    };
    unsigned f5 = bits(w, 27, 5);
    unsigned f3 = bits(w, 12, 3);

    if (f3 < 2 || f3 > 4) {
        return RVD_ILLEGAL;
    }
    if (f5 == 2 && bits(w, 20, 5) != 0) {
        return RVD_ILLEGAL;
    }
    return ops[f5][f3 - 2];
}

/* The S, D or Q op for the format field @fmt (0 S, 1 D, 3 Q; 2 is H). */
static unsigned rvd_fp(unsigned s, unsigned d, unsigned q, unsigned fmt)
{
    return fmt == 0 ? s : fmt == 1 ? d : fmt == 3 ? q : RVD_ILLEGAL;
}

#define RVD_FP3(name, fmt)                                                     \
    rvd_fp(RVD_##name##_S, RVD_##name##_D, RVD_##name##_Q, fmt)

static unsigned rvd_decode_opfp(uint32_t w)
{
    unsigned f7 = bits(w, 25, 7);
    unsigned fmt = f7 & 3;
    unsigned f3 = bits(w, 12, 3);
    unsigned r2 = bits(w, 20, 5);
    unsigned r2f3 = (r2 << 3) | f3;

    if (fmt == 2) {
        return RVD_ILLEGAL;
    }
    switch (f7 >> 2) {
    case 0:
        return RVD_FP3(FADD, fmt);
    case 1:
        return RVD_FP3(FSUB, fmt);
    case 2:
        return RVD_FP3(FMUL, fmt);
    case 3:
        return RVD_FP3(FDIV, fmt);
    case 4:
        switch (f3) {
        case 0:
            return RVD_FP3(FSGNJ, fmt);
        case 1:
            return RVD_FP3(FSGNJN, fmt);
        case 2:
            return RVD_FP3(FSGNJX, fmt);
        default:
            return RVD_ILLEGAL;
        }
    case 5:
        switch (f3) {
        case 0:
            return RVD_FP3(FMIN, fmt);
        case 1:
            return RVD_FP3(FMAX, fmt);
        default:
            return RVD_ILLEGAL;
        }
    case 8:
        switch (f7) {
        case 32:
            return r2 == 1   ? RVD_FCVT_S_D
                   : r2 == 3 ? RVD_FCVT_S_Q
                             : RVD_ILLEGAL;
        case 33:
            return r2 == 0   ? RVD_FCVT_D_S
                   : r2 == 3 ? RVD_FCVT_D_Q
                             : RVD_ILLEGAL;
        default:
            return r2 == 0   ? RVD_FCVT_Q_S
                   : r2 == 1 ? RVD_FCVT_Q_D
                             : RVD_ILLEGAL;
        }
    case 11:
        return r2 == 0 ? RVD_FP3(FSQRT, fmt) : RVD_ILLEGAL;
    case 20:
        switch (f3) {
        case 0:
            return RVD_FP3(FLE, fmt);
        case 1:
            return RVD_FP3(FLT, fmt);
        case 2:
            return RVD_FP3(FEQ, fmt);
        default:
            return RVD_ILLEGAL;
        }
    case 24:
        switch (r2) {
        case 0:
            return RVD_FP3(FCVT_W, fmt);
        case 1:
            return RVD_FP3(FCVT_WU, fmt);
        case 2:
            return RVD_FP3(FCVT_L, fmt);
        case 3:
            return RVD_FP3(FCVT_LU, fmt);
        default:
            return RVD_ILLEGAL;
        }
    case 26:
        switch (r2) {
        case 0:
            return rvd_fp(RVD_FCVT_S_W, RVD_FCVT_D_W, RVD_FCVT_Q_W, fmt);
        case 1:
            return rvd_fp(RVD_FCVT_S_WU, RVD_FCVT_D_WU, RVD_FCVT_Q_WU, fmt);
        case 2:
            return rvd_fp(RVD_FCVT_S_L, RVD_FCVT_D_L, RVD_FCVT_Q_L, fmt);
        case 3:
            return rvd_fp(RVD_FCVT_S_LU, RVD_FCVT_D_LU, RVD_FCVT_Q_LU, fmt);
        default:
            return RVD_ILLEGAL;
        }
    case 28:
        switch (r2f3) {
        case 0:
            return RVD_FP3(FMV_X, fmt);
        case 1:
            return RVD_FP3(FCLASS, fmt);
        default:
            return RVD_ILLEGAL;
        }
    case 30:
        return r2f3 == 0 ? rvd_fp(RVD_FMV_S_X, RVD_FMV_D_X, RVD_FMV_Q_X, fmt)
                         : RVD_ILLEGAL;
    default:
        return RVD_ILLEGAL;
    }
}

static unsigned rvd_decode_system(uint32_t w)
{
    unsigned rs1rs2 = bits(w, 15, 10);

    switch (bits(w, 12, 3)) {
    case 0:
        switch ((bits(w, 25, 7) << 5) | bits(w, 7, 5)) {
        case 0:
            return rs1rs2 == 0    ? RVD_ECALL
                   : rs1rs2 == 32 ? RVD_EBREAK
                   : rs1rs2 == 64 ? RVD_URET
                                  : RVD_ILLEGAL;
        case 256:
            switch (bits(w, 20, 5)) {
            case 2:
                return bits(w, 15, 5) == 0 ? RVD_SRET : RVD_ILLEGAL;
            case 4:
                return RVD_SFENCE_VM;
            case 5:
                return bits(w, 15, 5) == 0 ? RVD_WFI : RVD_ILLEGAL;
            default:
                return RVD_ILLEGAL;
            }
        case 288:
            return RVD_SFENCE_VMA;
        case 512:
            return rs1rs2 == 64 ? RVD_HRET : RVD_ILLEGAL;
        case 768:
            return rs1rs2 == 64 ? RVD_MRET : RVD_ILLEGAL;
        case 1952:
            return rs1rs2 == 576 ? RVD_DRET : RVD_ILLEGAL;
        default:
            return RVD_ILLEGAL;
        }
    case 1:
        return RVD_CSRRW;
    case 2:
        return RVD_CSRRS;
    case 3:
        return RVD_CSRRC;
    case 5:
        return RVD_CSRRWI;
    case 6:
        return RVD_CSRRSI;
    case 7:
        return RVD_CSRRCI;
    default:
        return RVD_ILLEGAL;
    }
}

static unsigned rvd_decode_vector(uint32_t w);
static unsigned rvd_decode_vmem(uint32_t w, bool store);

static unsigned rvd_decode_32(uint32_t w)
{
    unsigned f3 = bits(w, 12, 3);

    switch (bits(w, 2, 5)) {
    case 0: {
        static const uint16_t ops[8] = {RVD_LB,  RVD_LH,  RVD_LW,  RVD_LD,
                                        RVD_LBU, RVD_LHU, RVD_LWU, RVD_LDU};
        return ops[f3];
    }
    case 1:
        switch (f3) {
        case 2:
            return RVD_FLW;
        case 3:
            return RVD_FLD;
        case 4:
            return RVD_FLQ;
        case 1:
            return RVD_ILLEGAL;
        default:
            return rvd_decode_vmem(w, false);
        }
    case 3:
        switch (f3) {
        case 0:
            return RVD_FENCE;
        case 1:
            return RVD_FENCE_I;
        case 2:
            return RVD_LQ;
        default:
            return RVD_ILLEGAL;
        }
    case 4:
        return rvd_decode_opimm(w);
    case 5:
        return RVD_AUIPC;
    case 6:
        return rvd_decode_opimm32(w);
    case 8: {
        static const uint16_t ops[8] = {RVD_SB,      RVD_SH,     RVD_SW,
                                        RVD_SD,      RVD_SQ,     RVD_ILLEGAL,
                                        RVD_ILLEGAL, RVD_ILLEGAL};
        return ops[f3];
    }
    case 9:
        switch (f3) {
        case 2:
            return RVD_FSW;
        case 3:
            return RVD_FSD;
        case 4:
            return RVD_FSQ;
        case 1:
            return RVD_ILLEGAL;
        default:
            return rvd_decode_vmem(w, true);
        }
    case 11:
        return rvd_decode_amo(w);
    case 12:
        return rvd_decode_op(w);
    case 13:
        return RVD_LUI;
    case 14:
        return rvd_decode_op32(w);
    case 16:
        return RVD_FP3(FMADD, bits(w, 25, 2));
    case 17:
        return RVD_FP3(FMSUB, bits(w, 25, 2));
    case 18:
        return RVD_FP3(FNMSUB, bits(w, 25, 2));
    case 19:
        return RVD_FP3(FNMADD, bits(w, 25, 2));
    case 20:
        return rvd_decode_opfp(w);
    case 21:
        return rvd_decode_vector(w);
    case 22:
        switch (f3) {
        case 0:
            return RVD_ADDID;
        case 1:
            return bits(w, 26, 6) == 0 ? RVD_SLLID : RVD_ILLEGAL;
        case 5:
            return bits(w, 26, 6) == 0    ? RVD_SRLID
                   : bits(w, 26, 6) == 16 ? RVD_SRAID
                                          : RVD_ILLEGAL;
        default:
            return RVD_ILLEGAL;
        }
    case 24: {
        static const uint16_t ops[8] = {RVD_BEQ,     RVD_BNE, RVD_ILLEGAL,
                                        RVD_ILLEGAL, RVD_BLT, RVD_BGE,
                                        RVD_BLTU,    RVD_BGEU};
        return ops[f3];
    }
    case 25:
        return f3 == 0 ? RVD_JALR : RVD_ILLEGAL;
    case 27:
        return RVD_JAL;
    case 28:
        return rvd_decode_system(w);
    case 30:
        switch ((bits(w, 25, 7) << 3) | f3) {
        case 0:
            return RVD_ADDD;
        case 1:
            return RVD_SLLD;
        case 5:
            return RVD_SRLD;
        case 8:
            return RVD_MULD;
        case 12:
            return RVD_DIVD;
        case 13:
            return RVD_DIVUD;
        case 14:
            return RVD_REMD;
        case 15:
            return RVD_REMUD;
        case 256:
            return RVD_SUBD;
        case 261:
            return RVD_SRAD;
        default:
            return RVD_ILLEGAL;
        }
    default:
        return RVD_ILLEGAL;
    }
}

static unsigned rvd_decode_vector(uint32_t w)
{
    unsigned f3 = bits(w, 12, 3);
    unsigned f6 = bits(w, 26, 6);
    unsigned rs1 = bits(w, 15, 5);
    unsigned rs2 = bits(w, 20, 5);
    unsigned vm = bits(w, 25, 1);

    if (f3 == 7) {
        if (bits(w, 31, 1) == 0) {
            return RVD_V_VSETVLI;
        }
        if (bits(w, 30, 1)) {
            return RVD_V_VSETIVLI;
        }
        return bits(w, 25, 5) == 0 ? RVD_V_VSETVL : RVD_ILLEGAL;
    }
    if (rvd_vtab[f3][f6]) {
        return rvd_vtab[f3][f6];
    }
    for (size_t i = 0; i < sizeof(rvd_vconds) / sizeof(rvd_vconds[0]); i++) {
        const struct rvd_vcond *c = &rvd_vconds[i];

        if (c->f3 != f3 || c->f6 != f6) {
            continue;
        }
        if ((c->rs1 != 0xff && c->rs1 != rs1) ||
            (c->rs2 != 0xff && c->rs2 != rs2) ||
            (c->vm != 0xff && c->vm != vm) || (c->mv && !(vm && rs2 == 0))) {
            continue;
        }
        return c->op;
    }
    return RVD_ILLEGAL;
}

/* Vector loads and stores: LOAD-FP/STORE-FP with width 0, 5, 6 or 7. */
static unsigned rvd_decode_vmem(uint32_t w, bool store)
{
    static const uint16_t unit[2][4] = {
        {RVD_V_VLE8_V, RVD_V_VLE16_V, RVD_V_VLE32_V, RVD_V_VLE64_V},
        {RVD_V_VSE8_V, RVD_V_VSE16_V, RVD_V_VSE32_V, RVD_V_VSE64_V},
    };
    static const uint16_t strided[2][4] = {
        {RVD_V_VLSE8_V, RVD_V_VLSE16_V, RVD_V_VLSE32_V, RVD_V_VLSE64_V},
        {RVD_V_VSSE8_V, RVD_V_VSSE16_V, RVD_V_VSSE32_V, RVD_V_VSSE64_V},
    };
    static const uint16_t uidx[2][4] = {
        {RVD_V_VLUXEI8_V, RVD_V_VLUXEI16_V, RVD_V_VLUXEI32_V, RVD_V_VLUXEI64_V},
        {RVD_V_VSUXEI8_V, RVD_V_VSUXEI16_V, RVD_V_VSUXEI32_V, RVD_V_VSUXEI64_V},
    };
    static const uint16_t oidx[2][4] = {
        {RVD_V_VLOXEI8_V, RVD_V_VLOXEI16_V, RVD_V_VLOXEI32_V, RVD_V_VLOXEI64_V},
        {RVD_V_VSOXEI8_V, RVD_V_VSOXEI16_V, RVD_V_VSOXEI32_V, RVD_V_VSOXEI64_V},
    };
    static const uint16_t whole[4][4] = {
        {RVD_V_VL1RE8_V, RVD_V_VL1RE16_V, RVD_V_VL1RE32_V, RVD_V_VL1RE64_V},
        {RVD_V_VL2RE8_V, RVD_V_VL2RE16_V, RVD_V_VL2RE32_V, RVD_V_VL2RE64_V},
        {RVD_V_VL4RE8_V, RVD_V_VL4RE16_V, RVD_V_VL4RE32_V, RVD_V_VL4RE64_V},
        {RVD_V_VL8RE8_V, RVD_V_VL8RE16_V, RVD_V_VL8RE32_V, RVD_V_VL8RE64_V},
    };
    static const uint16_t whole_st[4] = {RVD_V_VS1R_V, RVD_V_VS2R_V,
                                         RVD_V_VS4R_V, RVD_V_VS8R_V};
    static const uint16_t ff[4] = {RVD_V_VLE8FF_V, RVD_V_VLE16FF_V,
                                   RVD_V_VLE32FF_V, RVD_V_VLE64FF_V};
    unsigned f3 = bits(w, 12, 3);
    unsigned sz = f3 == 0 ? 0 : f3 - 4; /* 8, 16, 32, 64 bits */
    unsigned lumop = bits(w, 20, 5);
    unsigned op = RVD_ILLEGAL;
    int nreg = -1;

    /* Whole-register forms: nf 0/1/3/7, mew 0, mop 0, vm 1, lumop 8. */
    switch (bits(w, 20, 12)) {
    case 40:
        nreg = 0;
        break;
    case 552:
        nreg = 1;
        break;
    case 1576:
        nreg = 2;
        break;
    case 3624:
        nreg = 3;
        break;
    default:
        break;
    }
    if (nreg >= 0 && !store) {
        op = whole[nreg][sz];
    } else if (nreg >= 0 && sz == 0) {
        op = whole_st[nreg];
    }
    switch (bits(w, 26, 3)) {
    case 0:
        if (lumop == 0) {
            op = unit[store][sz];
        } else if (lumop == 11 && sz == 0) {
            op = store ? RVD_V_VSM_V : RVD_V_VLM_V;
        } else if (lumop == 16 && !store) {
            op = ff[sz];
        }
        break;
    case 1:
        op = uidx[store][sz];
        break;
    case 2:
        op = strided[store][sz];
        break;
    case 3:
        op = oidx[store][sz];
        break;
    default:
        break;
    }
    return op;
}

/* ---- pseudo-instructions ---- */

static void rvd_lift(struct rvd_insn *d)
{
    unsigned op = d->op;
    int32_t imm = d->imm;
    bool rd0 = d->rd == 0, rs10 = d->rs1 == 0, rs20 = d->rs2 == 0;

    switch (d->op) {
    case RVD_JAL:
        op = rd0 ? RVD_J : op;
        break;
    case RVD_JALR:
        op = rd0 && d->rs1 == 1 ? RVD_RET : rd0 && imm == 0 ? RVD_JR : op;
        break;
    case RVD_BEQ:
        op = rs20 ? RVD_BEQZ : op;
        break;
    case RVD_BNE:
        op = rs20 ? RVD_BNEZ : op;
        break;
    case RVD_BLT:
        op = rs20 ? RVD_BLTZ : rs10 ? RVD_BGTZ : RVD_BGT;
        break;
    case RVD_BGE:
        op = rs10 ? RVD_BLEZ : rs20 ? RVD_BGEZ : RVD_BLE;
        break;
    case RVD_BLTU:
        op = RVD_BGTU;
        break;
    case RVD_BGEU:
        op = RVD_BLEU;
        break;
    case RVD_ADDI:
        op = rd0 && rs10 && imm == 0 ? RVD_NOP : imm == 0 ? RVD_MV : op;
        break;
    case RVD_SLTIU:
        op = imm == 1 ? RVD_SEQZ : op;
        break;
    case RVD_XORI:
        op = imm == -1 ? RVD_NOT : op;
        break;
    case RVD_SUB:
        op = rs10 ? RVD_NEG : op;
        break;
    case RVD_SLT:
        op = rs20 ? RVD_SLTZ : rs10 ? RVD_SGTZ : op;
        break;
    case RVD_SLTU:
        op = rs10 ? RVD_SNEZ : op;
        break;
    case RVD_ADDIW:
        op = imm == 0 ? RVD_SEXT_W : op;
        break;
    case RVD_SUBW:
        op = rs10 ? RVD_NEGW : op;
        break;
    case RVD_CSRRW:
        op = imm == 3   ? RVD_FSCSR
             : imm == 2 ? RVD_FSRM
             : imm == 1 ? RVD_FSFLAGS
                        : op;
        break;
    case RVD_CSRRS:
        if (rs10) {
            switch (imm) {
            case 0xc00:
                op = RVD_RDCYCLE;
                break;
            case 0xc01:
                op = RVD_RDTIME;
                break;
            case 0xc02:
                op = RVD_RDINSTRET;
                break;
            case 0xc80:
                op = RVD_RDCYCLEH;
                break;
            case 0xc81:
                op = RVD_RDTIMEH;
                break;
            case 0xc82:
                op = RVD_RDINSTRETH;
                break;
            case 0x003:
                op = RVD_FRCSR;
                break;
            case 0x002:
                op = RVD_FRRM;
                break;
            case 0x001:
                op = RVD_FRFLAGS;
                break;
            default:
                break;
            }
        }
        break;
    case RVD_CSRRWI:
        op = imm == 2 ? RVD_FSRMI : imm == 1 ? RVD_FSFLAGSI : op;
        break;
    case RVD_FSGNJ_S:
    case RVD_FSGNJN_S:
    case RVD_FSGNJX_S:
    case RVD_FSGNJ_D:
    case RVD_FSGNJN_D:
    case RVD_FSGNJX_D:
    case RVD_FSGNJ_Q:
    case RVD_FSGNJN_Q:
    case RVD_FSGNJX_Q:
        if (d->rs1 == d->rs2) {
            static const uint16_t ops[9] = {
                RVD_FMV_S,  RVD_FNEG_S, RVD_FABS_S, RVD_FMV_D,  RVD_FNEG_D,
                RVD_FABS_D, RVD_FMV_Q,  RVD_FNEG_Q, RVD_FABS_Q,
            };
            unsigned i = d->op <= RVD_FSGNJX_S   ? d->op - RVD_FSGNJ_S
                         : d->op <= RVD_FSGNJX_D ? 3 + d->op - RVD_FSGNJ_D
                                                 : 6 + d->op - RVD_FSGNJ_Q;
            op = ops[i];
        }
        break;
    default:
        break;
    }
    d->op = op;
}

/* ---- formatting ---- */

/* Bounded string builder: never writes past cap - 1, always terminated. */
struct rvd_buf {
    char *p;
    size_t cap; /* bytes at p, 0 for none */
    size_t len; /* characters written so far */
};

static void buf_put(struct rvd_buf *b, const char *s)
{
    while (*s && b->len + 1 < b->cap) {
        b->p[b->len++] = *s++;
    }
    if (b->cap) {
        b->p[b->len] = '\0';
    }
}

static void buf_pad(struct rvd_buf *b, size_t col)
{
    while (b->len < col && b->len + 1 < b->cap) {
        b->p[b->len++] = ' ';
    }
    if (b->cap) {
        b->p[b->len] = '\0';
    }
}

/* Decimal @v into @tmp (at least 24 bytes); what "%lld" prints. */
static void fmt_dec(char *tmp, int64_t v)
{
    char rev[24];
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0;

    do {
        rev[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        *tmp++ = '-';
    }
    while (n) {
        *tmp++ = rev[--n];
    }
    *tmp = '\0';
}

/* Lower-case hex of @v into @tmp, at least @width digits (at most 16);
 * what "%0*" PRIx64 prints. */
static void fmt_hex(char *tmp, uint64_t v, unsigned width)
{
    unsigned n = 1;

    while (n < 16 && (v >> (4 * n))) {
        n++;
    }
    if (n < width) {
        n = width;
    }
    tmp[n] = '\0';
    while (n) {
        tmp[--n] = "0123456789abcdef"[v & 15];
        v >>= 4;
    }
}

/* Column of the operands, and of the "# 0x..." comment. */
#define RVD_TAB 24

static void rvd_format(const struct rvd_insn *d, struct rvd_buf *b)
{
    static const char *const rm_names[8] = {"rne", "rtz", "rdn", "rup",
                                            "rmm", "inv", "inv", "dyn"};
    static const char fence_bits[4] = {'i', 'o', 'r', 'w'};
    char tmp[64];

    for (const char *f = rvd_ops[d->op].fmt; *f; f++) {
        tmp[0] = '\0';
        switch (*f) {
        case 'O':
            buf_put(b, rvd_ops[d->op].name);
            break;
        case '\t':
            buf_pad(b, RVD_TAB);
            break;
        case '(':
            buf_put(b, "(");
            break;
        case ')':
            buf_put(b, ")");
            break;
        case ',':
            buf_put(b, ",");
            break;
        case '0':
            buf_put(b, rvd_xreg[d->rd]);
            break;
        case '1':
            buf_put(b, rvd_xreg[d->rs1]);
            break;
        case '2':
            buf_put(b, rvd_xreg[d->rs2]);
            break;
        case '3':
            buf_put(b, rvd_freg[d->rd]);
            break;
        case '4':
            buf_put(b, rvd_freg[d->rs1]);
            break;
        case '5':
            buf_put(b, rvd_freg[d->rs2]);
            break;
        case '6':
            buf_put(b, rvd_freg[d->rs3]);
            break;
        case '7':
            fmt_dec(tmp, d->rs1);
            break;
        case 'i':
            fmt_dec(tmp, d->imm);
            break;
        case 'u':
            fmt_dec(tmp, d->imm & 31);
            break;
        case 'b':
            fmt_dec(tmp, d->bs);
            break;
        case 'n':
            fmt_dec(tmp, d->rnum);
            break;
        case 'o':
            fmt_dec(tmp, d->imm);
            buf_put(b, tmp);
            buf_pad(b, 2 * RVD_TAB);
            memcpy(tmp, "# 0x", 4);
            fmt_hex(tmp + 4, d->pc + (uint64_t)(int64_t)d->imm, 1);
            break;
        case 'c':
            rvd_csr_name((unsigned)d->imm & 0xfff, tmp, sizeof(tmp));
            break;
        case 'r':
            buf_put(b, rm_names[d->rm & 7]);
            break;
        case 'p':
        case 's':
            for (unsigned i = 0; i < 4; i++) {
                unsigned set = *f == 'p' ? d->pred : d->succ;

                if (set & (8u >> i)) {
                    char c[2] = {fence_bits[i], '\0'};

                    buf_put(b, c);
                }
            }
            break;
        case 'A':
            buf_put(b, d->aq ? ".aq" : "");
            break;
        case 'R':
            buf_put(b, d->rl ? ".rl" : "");
            break;
        case 'l':
            buf_put(b, ",v0");
            break;
        case 'm':
            buf_put(b, d->vm ? "" : ",v0.t");
            break;
        case 'D':
            tmp[0] = 'v';
            fmt_dec(tmp + 1, d->rd);
            break;
        case 'E':
            tmp[0] = 'v';
            fmt_dec(tmp + 1, d->rs1);
            break;
        case 'F':
            tmp[0] = 'v';
            fmt_dec(tmp + 1, d->rs2);
            break;
        case 'v': {
            /* A reserved fractional LMUL (mf1) reuses QEMU's SEW digits. */
            static const char *const flmul[4] = {NULL, "f8", "f4", "f2"};
            unsigned sew = 1u << (((d->vzimm >> 3) & 7) + 3);
            unsigned lmul = d->vzimm & 3;
            const char *ta = (d->vzimm >> 6) & 1 ? "ta" : "tu";
            const char *ma = (d->vzimm >> 7) & 1 ? "ma" : "mu";

            if (((d->vzimm >> 2) & 1) && flmul[lmul]) {
                snprintf(tmp, sizeof(tmp), "e%u,m%s,%s,%s", sew, flmul[lmul],
                         ta, ma);
            } else if ((d->vzimm >> 2) & 1) {
                snprintf(tmp, sizeof(tmp), "e%u,m%u,%s,%s", sew, sew, ta, ma);
            } else {
                snprintf(tmp, sizeof(tmp), "e%u,m%u,%s,%s", sew, 1u << lmul, ta,
                         ma);
            }
            break;
        }
        default:
            break;
        }
        buf_put(b, tmp);
    }
}

/* ---- public entry points ---- */

unsigned rv_disas_len(uint16_t lo)
{
    if ((lo & 0x03) != 0x03) {
        return 2;
    }
    if ((lo & 0x1c) != 0x1c) {
        return 4;
    }
    if ((lo & 0x3f) == 0x1f) {
        return 6;
    }
    if ((lo & 0x7f) == 0x3f) {
        return 8;
    }
    return 0;
}

size_t rv_disas(uint64_t pc, uint32_t raw, char *out, size_t outsz)
{
    struct rvd_insn d = {0};
    struct rvd_buf b = {out, outsz, 0};
    unsigned len = rv_disas_len((uint16_t)raw);

    d.pc = pc;
    d.inst = raw;
    if (len == 2) {
        d.inst = raw & 0xffff;
        rvd_decode_c(&d);
    } else if (len == 4) {
        d.op = rvd_decode_32(raw);
        rvd_extract(&d);
    } else {
        d.op = RVD_ILLEGAL;
    }
    rvd_lift(&d);
    if (outsz) {
        out[0] = '\0';
    }
    rvd_format(&d, &b);
    return len;
}

size_t rv_disas_line(uint64_t pc, uint64_t raw, size_t avail, char *dst,
                     size_t dst_cap)
{
    static const char *const pad[5] = {"              ", "          ", "      ",
                                       "  ", "  "};
    char head[64];
    struct rvd_buf b = {dst, dst_cap, 0};
    unsigned len = rv_disas_len((uint16_t)raw);
    unsigned shown = len;
    uint64_t v;

    if (shown == 0) {
        shown = 2; /* QEMU read one parcel and prints it 16 digits wide */
    }
    if (avail < 2) {
        avail = 2;
    }
    if (shown > (avail & ~(size_t)1)) {
        shown = (unsigned)(avail & ~(size_t)1);
    }
    v = shown >= 8 ? raw : raw & ((UINT64_C(1) << (8 * shown)) - 1);
    if (dst_cap) {
        dst[0] = '\0';
    }
    buf_put(&b, "0x");
    fmt_hex(head, pc, 16);
    buf_put(&b, head);
    buf_put(&b, ":  ");
    fmt_hex(head, v, len == 0 ? 16 : len * 2);
    buf_put(&b, head);
    buf_put(&b, pad[len == 0 ? 4 : len / 2 - 1]);
    if (b.len + 1 < dst_cap) {
        rv_disas(pc, (uint32_t)v, dst + b.len, dst_cap - b.len);
    }
    return len ? len : 2;
}
