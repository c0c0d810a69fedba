/* SPDX-License-Identifier: MIT */
/*
 * tests/isa/int.S - RV64IM: every register-register and immediate ALU
 * instruction over a table of edge operands (one hash per instruction),
 * loads and stores of every width (aligned and misaligned), branches,
 * jumps, lui/auipc.
 */
#include "rt.h"

#define NV 14

/* Hash every rd = op(vals[i], vals[j]) into s4 and print it. */
.macro RTEST op
    la s0, vals
    li s4, 0
    li s2, 0
1:  li s3, 0
2:  slli t0, s2, 3
    add t0, s0, t0
    ld t1, 0(t0)
    slli t0, s3, 3
    add t0, s0, t0
    ld t2, 0(t0)
    \op t3, t1, t2
    slli t4, s4, 7
    srli s4, s4, 57
    or s4, s4, t4
    xor s4, s4, t3
    addi s3, s3, 1
    li t0, NV
    blt s3, t0, 2b
    addi s2, s2, 1
    blt s2, t0, 1b
    PR \op, s4
.endm

/* Hash rd = op(vals[i], imm) for each table value. */
.macro ITEST op, imm
    la s0, vals
    li s4, 0
    li s2, 0
1:  slli t0, s2, 3
    add t0, s0, t0
    ld t1, 0(t0)
    \op t3, t1, \imm
    slli t4, s4, 7
    srli s4, s4, 57
    or s4, s4, t4
    xor s4, s4, t3
    addi s2, s2, 1
    li t0, NV
    blt s2, t0, 1b
    PR \op\imm, s4
.endm

/* Hash the taken/not-taken outcome of a branch over all pairs. */
.macro BTEST op
    la s0, vals
    li s4, 0
    li s2, 0
1:  li s3, 0
2:  slli t0, s2, 3
    add t0, s0, t0
    ld t1, 0(t0)
    slli t0, s3, 3
    add t0, s0, t0
    ld t2, 0(t0)
    slli s4, s4, 1
    \op t1, t2, 3f
    j 4f
3:  ori s4, s4, 1
4:  addi s3, s3, 1
    li t0, NV
    blt s3, t0, 2b
    addi s2, s2, 1
    blt s2, t0, 1b
    PR \op, s4
.endm

    .text
    .globl main
main:
    addi sp, sp, -16
    sd ra, 0(sp)

    RTEST add
    RTEST sub
    RTEST sll
    RTEST slt
    RTEST sltu
    RTEST xor
    RTEST srl
    RTEST sra
    RTEST or
    RTEST and
    RTEST addw
    RTEST subw
    RTEST sllw
    RTEST srlw
    RTEST sraw
    RTEST mul
    RTEST mulh
    RTEST mulhsu
    RTEST mulhu
    RTEST div
    RTEST divu
    RTEST rem
    RTEST remu
    RTEST mulw
    RTEST divw
    RTEST divuw
    RTEST remw
    RTEST remuw

    ITEST addi, 0
    ITEST addi, -1
    ITEST addi, 2047
    ITEST addi, -2048
    ITEST slti, -1
    ITEST slti, 5
    ITEST sltiu, -1
    ITEST sltiu, 5
    ITEST xori, -1
    ITEST xori, 0x555
    ITEST ori, -2048
    ITEST ori, 0x3f0
    ITEST andi, -16
    ITEST andi, 0x7ff
    ITEST slli, 0
    ITEST slli, 1
    ITEST slli, 31
    ITEST slli, 32
    ITEST slli, 63
    ITEST srli, 1
    ITEST srli, 32
    ITEST srli, 63
    ITEST srai, 1
    ITEST srai, 32
    ITEST srai, 63
    ITEST addiw, 0
    ITEST addiw, -1
    ITEST addiw, 2047
    ITEST slliw, 0
    ITEST slliw, 1
    ITEST slliw, 31
    ITEST srliw, 0
    ITEST srliw, 1
    ITEST srliw, 31
    ITEST sraiw, 0
    ITEST sraiw, 1
    ITEST sraiw, 31

    BTEST beq
    BTEST bne
    BTEST blt
    BTEST bge
    BTEST bltu
    BTEST bgeu

    /* lui / auipc / jal / jalr */
    lui t0, 0x80000
    PR lui1, t0
    lui t0, 0x7ffff
    PR lui2, t0
    lui t0, 0xfffff
    PR lui3, t0
1:  auipc t0, 0
    la t1, 1b
    sub t0, t0, t1
    PR auipc0, t0
1:  auipc t0, 0x12345
    la t1, 1b
    sub t0, t0, t1
    PR auipc1, t0
1:  auipc t0, 0x80000
    la t1, 1b
    sub t0, t0, t1
    PR auipc2, t0
    jal t0, 1f
2:  nop
1:  la t1, 2b
    sub t0, t0, t1
    PR jal, t0
    la t1, 3f + 1
    jalr t2, 0(t1)
    li t3, 99
3:  PR jalr, t3
    la t1, 3f - 4
    jalr t2, 4(t1)
    li t3, 99
3:  PR jalroff, t3

    /* loads and stores of every width */
    la s0, buf
    li t0, 0x8899aabbccddeeff
    sd t0, 0(s0)
    li t0, 0x0011223344556677
    sd t0, 8(s0)
    lb t1, 0(s0)
    PR lb0, t1
    lb t1, 7(s0)
    PR lb7, t1
    lbu t1, 0(s0)
    PR lbu0, t1
    lh t1, 0(s0)
    PR lh0, t1
    lh t1, 6(s0)
    PR lh6, t1
    lhu t1, 6(s0)
    PR lhu6, t1
    lw t1, 4(s0)
    PR lw4, t1
    lwu t1, 4(s0)
    PR lwu4, t1
    lw t1, 8(s0)
    PR lw8, t1
    ld t1, 8(s0)
    PR ld8, t1
    /* misaligned (performed in hardware, as QEMU 7.2) */
    lh t1, 1(s0)
    PR lh1, t1
    lw t1, 3(s0)
    PR lw3, t1
    lwu t1, 5(s0)
    PR lwu5, t1
    ld t1, 5(s0)
    PR ld5, t1
    li t0, -1
    sb t0, 16(s0)
    sh t0, 18(s0)
    sw t0, 20(s0)
    sd zero, 24(s0)
    li t0, 0x1122334455667788
    sh t0, 25(s0)
    sw t0, 27(s0)
    ld t1, 16(s0)
    PR st16, t1
    ld t1, 24(s0)
    PR st24, t1
    sd t0, 33(s0)
    ld t1, 32(s0)
    PR st32, t1
    ld t1, 40(s0)
    PR st40, t1
    /* negative offsets, x0 as destination */
    addi s1, s0, 64
    ld t1, -56(s1)
    PR ldneg, t1
    ld zero, 0(s0)
    addi zero, zero, 5
    PR x0, zero
    /* fence is a no-op for a single hart */
    fence
    fence rw, rw

    ld ra, 0(sp)
    addi sp, sp, 16
    li a0, 0
    ret

    .section .rodata
    .align 3
vals:
    .dword 0
    .dword 1
    .dword 2
    .dword -1
    .dword -2
    .dword 0x7fffffffffffffff
    .dword 0x8000000000000000
    .dword 0x7fffffff
    .dword 0x80000000
    .dword 0xffffffff
    .dword 0xffffffff80000000
    .dword 0x123456789abcdef0
    .dword 31
    .dword 0xfedcba9876543210

    .data
    .align 3
buf:
    .space 64
