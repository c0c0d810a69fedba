/* SPDX-License-Identifier: MIT */
/*
 * tests/isa/amo.S - RV64A: every AMO in .w and .d forms over edge values,
 * LR/SC success and failure, and misaligned AMO (store/AMO misaligned).
 */
#include "rt.h"

/* mem = a, rd = amo(mem, b): print rd and the new mem. */
.macro AMO op, w, a, b
    li t0, \a
    s\w t0, 0(s0)
    li t1, \b
    \op t2, t1, (s0)
    PR \op\()_rd, t2
    l\w t3, 0(s0)
    PR \op\()_m, t3
.endm

.macro AMOALL w, a, b
    AMO amoswap.\w, \w, \a, \b
    AMO amoadd.\w, \w, \a, \b
    AMO amoxor.\w, \w, \a, \b
    AMO amoand.\w, \w, \a, \b
    AMO amoor.\w, \w, \a, \b
    AMO amomin.\w, \w, \a, \b
    AMO amomax.\w, \w, \a, \b
    AMO amominu.\w, \w, \a, \b
    AMO amomaxu.\w, \w, \a, \b
.endm

    .text
    .globl main
main:
    addi sp, sp, -16
    sd ra, 0(sp)
    la s0, buf

    AMOALL w, 0x7fffffff, 0x80000001
    AMOALL w, 0xfffffffe, 0x00000003
    AMOALL d, 0x8000000000000000, 0x7fffffffffffffff
    AMOALL d, 0x0000000100000000, 0xffffffff00000001

    /* lr/sc pairs */
    li t0, 42
    sd t0, 0(s0)
    lr.d t1, (s0)
    addi t1, t1, 1
    sc.d t2, t1, (s0)
    PR sc_ok, t2
    ld t3, 0(s0)
    PR sc_ok_m, t3
    sc.d t2, t1, (s0)
    PR sc_again, t2
    lr.w t1, (s0)
    PR lr_w, t1
    addi a0, s0, 8
    sc.w t2, zero, (a0)
    PR sc_other, t2
    lr.w t1, (s0)
    li t0, 0x12345678
    sc.w.aqrl t2, t0, (s0)
    PR sc_w_ok, t2
    ld t3, 0(s0)
    PR sc_w_m, t3
    li t0, -5
    sw t0, 0(s0)
    lr.w t1, (s0)
    PR lr_w_neg, t1

    /* misaligned AMO and LR: exceptions (cause 6 / 4) */
    addi a0, s0, 2
    amoadd.w t2, t1, (a0)
    addi a0, s0, 4
    amoadd.d t2, t1, (a0)
    addi a0, s0, 1
    lr.w t1, (a0)

    ld ra, 0(sp)
    addi sp, sp, 16
    li a0, 0
    ret

    .data
    .align 4
buf:
    .space 64
