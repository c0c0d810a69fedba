/* SPDX-License-Identifier: MIT */
/*
 * tests/isa/exact.S - self-checking (exit code), for our hart only: exact
 * instruction counting through minstret/mcycle (QEMU's counters follow the
 * host clock, so there is no golden), and locked PMP entries, which bind
 * M-mode and freeze their pmpcfg/pmpaddr.
 */
#include "rt.h"

.macro CHECK cond, a, b, code
    \cond \a, \b, 1f
    li a0, \code
    j rt_exit
1:
.endm

    .text
    .globl main
main:
    addi sp, sp, -16
    sd ra, 0(sp)

    /* a write takes effect after the writing instruction retires */
    li t1, 100
    csrw minstret, t1
    csrr t0, minstret
    CHECK beq, t0, t1, 1
    csrw mcycle, t1
    csrr t0, mcycle
    CHECK beq, t0, t1, 2
    /* exactly one per retired instruction */
    csrr t0, minstret
    nop
    nop
    nop
    nop
    nop
    csrr t2, minstret
    sub t2, t2, t0
    li t1, 6
    CHECK beq, t2, t1, 3
    /* a trapping instruction does not retire; the handler's do */
    csrr t0, minstret
    csrr t3, cycle
    csrr t4, instret
    sub t3, t3, t4
    csrr t4, mcycle
    csrr t5, minstret
    sub t4, t4, t5
    CHECK beq, t3, t4, 4
    MSG "counters ok"

    /* entry 1: everything RWX; entry 0 (higher priority): locked NAPOT
     * over `locked`, no permissions */
    li t0, -1
    csrw pmpaddr1, t0
    la t0, locked
    srli t0, t0, 2
    ori t0, t0, 0x1ff
    xori t0, t0, 0x100
    csrw pmpaddr0, t0
    mv s1, t0
    li t0, (0x1f << 8) | 0x98
    csrw pmpcfg0, t0
    /* M-mode load now faults (load access fault, mtval = address) */
    la s0, locked
    csrw mcause, zero
    ld t0, 0(s0)
    csrr t1, mcause
    li t2, 5
    CHECK beq, t1, t2, 5
    csrr t1, mtval
    CHECK beq, t1, s0, 6
    /* the entry is frozen */
    csrw pmpaddr0, zero
    csrr t0, pmpaddr0
    CHECK beq, t0, s1, 7
    li t0, 0xff
    csrc pmpcfg0, t0
    csrr t0, pmpcfg0
    andi t0, t0, 0xff
    li t1, 0x98
    CHECK beq, t0, t1, 8
    /* other memory is unaffected */
    la s0, open
    ld t0, 0(s0)
    li t1, 0x1234
    CHECK beq, t0, t1, 9
    MSG "pmp lock ok"

    ld ra, 0(sp)
    addi sp, sp, 16
    li a0, 0
    ret

    .data
    .align 12
locked:
    .dword 0x99
    .align 12
open:
    .dword 0x1234
    .align 12
