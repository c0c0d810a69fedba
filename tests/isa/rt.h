/* SPDX-License-Identifier: MIT */
/*
 * tests/isa/rt.h - macros for the ISA test programs (see rt.S). Output goes
 * to the ns16550 UART; the result to the sifive_test finisher.
 */
#ifndef TESTS_ISA_RT_H
#define TESTS_ISA_RT_H

#define UART_BASE  0x10000000
#define TEST_BASE  0x100000
#define CLINT_BASE 0x2000000

/* ebreak/ecall with a7 = RT_TO_M from any mode: continue after it in M. */
#define RT_TO_M 0x4d

#define MSTATUS_MPP_MASK (3 << 11)

/* Print "name=<hex of reg>\n"; preserves every register but ra is saved. */
.macro PR name, reg
    addi sp, sp, -32
    sd ra, 0(sp)
    sd a0, 8(sp)
    sd a1, 16(sp)
    mv a1, \reg
    .pushsection .rodata
9:  .asciz "\name"
    .popsection
    la a0, 9b
    call rt_print
    ld ra, 0(sp)
    ld a0, 8(sp)
    ld a1, 16(sp)
    addi sp, sp, 32
.endm

/* Print a string literal and a newline. */
.macro MSG text
    addi sp, sp, -16
    sd ra, 0(sp)
    sd a0, 8(sp)
    .pushsection .rodata
9:  .asciz "\text\n"
    .popsection
    la a0, 9b
    call rt_puts
    ld ra, 0(sp)
    ld a0, 8(sp)
    addi sp, sp, 16
.endm

/* Drop from M-mode to @mode (0 U, 1 S) and continue at the next line. */
.macro GOTO_MODE mode
    li t0, MSTATUS_MPP_MASK
    csrc mstatus, t0
    li t0, (\mode << 11)
    csrs mstatus, t0
    la t0, 9f
    csrw mepc, t0
    mret
9:
.endm

/* Remember the interrupt count (in s11) before raising an interrupt... */
.macro IRQ_MARK
    la t3, rt_irq_count
    ld s11, 0(t3)
.endm

/* ...then wait, boundedly, until a handler has taken one: QEMU delivers
 * an interrupt raised by a device write only at the end of a block. */
.macro IRQ_WAIT
    li t2, 100000
8:  la t3, rt_irq_count
    ld t3, 0(t3)
    bne t3, s11, 9f
    addi t2, t2, -1
    bnez t2, 8b
9:
.endm

/* From any mode, back to M-mode (through the M trap handler). */
.macro BACK_TO_M
    li a7, RT_TO_M
    ebreak
.endm

#endif
