/* SPDX-License-Identifier: MIT */
/*
 * tests/isa/rvc.S - every RV64C instruction, written explicitly as c.*,
 * with its result printed: integer, stack-relative and FP loads/stores,
 * jumps and branches.
 */
#include "rt.h"

    .text
    .globl main
main:
    addi sp, sp, -16
    sd ra, 0(sp)
    la s0, buf
    li s1, 0x0123456789abcdef

    c.li a0, -32
    PR c.li, a0
    c.li a0, 31
    PR c.li2, a0
    c.lui a1, 0x1f
    PR c.lui, a1
    c.lui a1, 0xfffe0
    PR c.lui2, a1
    c.addi a0, -7
    PR c.addi, a0
    li a2, 0x7fffffff
    c.addiw a2, 1
    PR c.addiw, a2
    mv a3, sp
    c.addi16sp sp, -64
    sub a4, a3, sp
    PR c.addi16sp, a4
    c.addi16sp sp, 64
    c.addi4spn a5, sp, 1020
    sub a5, a5, sp
    PR c.addi4spn, a5
    mv a0, s1
    c.slli a0, 36
    PR c.slli, a0
    mv a0, s1
    c.srli a0, 40
    PR c.srli, a0
    li a0, -1234567
    c.srai a0, 3
    PR c.srai, a0
    mv a0, s1
    c.andi a0, -3
    PR c.andi, a0
    c.mv a1, s1
    PR c.mv, a1
    li a0, 5
    c.add a0, a1
    PR c.add, a0
    li a0, 0x55
    li a1, 0x0f
    c.sub a0, a1
    PR c.sub, a0
    li a0, 0x55
    c.xor a0, a1
    PR c.xor, a0
    li a0, 0x55
    c.or a0, a1
    PR c.or, a0
    li a0, 0x55
    c.and a0, a1
    PR c.and, a0
    li a0, 0x7fffffff
    li a1, 1
    c.addw a0, a1
    PR c.addw, a0
    li a0, 0
    c.subw a0, a1
    PR c.subw, a0
    c.nop

    /* loads and stores */
    mv a0, s0
    c.sd s1, 8(a0)
    c.ld a1, 8(a0)
    PR c.ld, a1
    c.sw s1, 16(a0)
    c.lw a2, 16(a0)
    PR c.lw, a2
    li a3, 0x80000000
    c.sw a3, 20(a0)
    c.lw a2, 20(a0)
    PR c.lw2, a2
    addi sp, sp, -32
    c.sdsp s1, 8(sp)
    c.ldsp a4, 8(sp)
    PR c.ldsp, a4
    c.swsp s1, 20(sp)
    c.lwsp a4, 20(sp)
    PR c.lwsp, a4
    fmv.d.x fa0, s1
    c.fsdsp fa0, 0(sp)
    c.fldsp fa1, 0(sp)
    fmv.x.d a4, fa1
    PR c.fldsp, a4
    c.fsd fa0, 24(a0)
    c.fld fa2, 24(a0)
    fmv.x.d a4, fa2
    PR c.fld, a4
    addi sp, sp, 32

    /* control flow */
    li a0, 0
    c.beqz a0, 1f
    li a0, 99
1:  PR c.beqz, a0
    li a0, 1
    c.bnez a0, 1f
    li a0, 99
1:  PR c.bnez, a0
    li a0, 0
    c.bnez a0, 1f
    li a0, 7
1:  PR c.bnez2, a0
    c.j 1f
    li a0, 99
1:  PR c.j, a0
    la a1, 1f
    c.jr a1
    li a0, 98
1:  PR c.jr, a0
    la a1, 2f
    c.jalr a1
1:  j 3f
2:  la a2, 1b
    sub a2, ra, a2
    PR c.jalr, a2
    ret
3:
    /* illegal: the all-zero halfword and c.addi4spn with imm 0 */
    .half 0
    .half 0x0000
    c.ebreak

    ld ra, 0(sp)
    addi sp, sp, 16
    li a0, 0
    ret

    .data
    .align 3
buf:
    .space 64
