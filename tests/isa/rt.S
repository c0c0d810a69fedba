/* SPDX-License-Identifier: MIT */
/*
 * tests/isa/rt.S - runtime for the ISA tests: start-up, UART printing, a
 * default M-mode trap handler that prints the trap and skips the faulting
 * instruction, an S-mode one that does the same, and the exit path.
 * main returns 0 for pass or a failure code.
 */
#include "rt.h"

    .section .text.init
    .globl _start
_start:
    la sp, rt_stack_top
    la t0, rt_mtrap
    csrw mtvec, t0
    la t0, rt_strap
    csrw stvec, t0
    li t0, (1 << 13)
    csrs mstatus, t0
    csrwi fcsr, 0
    /* no timer interrupt pending: mtimecmp = -1 */
    li t0, CLINT_BASE + 0x4000
    li t1, -1
    sd t1, 0(t0)
    /* PMP entry 0: all of memory RWX for S/U (QEMU 7.2 refuses mret to a
     * lower mode while no PMP rule is set) */
    li t0, -1
    csrw pmpaddr0, t0
    li t0, 0x1f
    csrw pmpcfg0, t0
    call main
    .globl rt_exit
rt_exit:
    li t0, TEST_BASE
    bnez a0, 1f
    li t1, 0x5555
    sw t1, 0(t0)
    j 2f
1:  slli t1, a0, 16
    li t2, 0x3333
    or t1, t1, t2
    sw t1, 0(t0)
2:  j 2b

    .text
/* a0 = byte */
    .globl rt_putc
rt_putc:
    li t0, UART_BASE
1:  lbu t1, 5(t0)
    andi t1, t1, 0x20
    beqz t1, 1b
    sb a0, 0(t0)
    ret

/* a0 = NUL-terminated string; clobbers t0-t2, a0 */
    .globl rt_puts
rt_puts:
    mv t2, a0
1:  lbu a0, 0(t2)
    beqz a0, 2f
    li t0, UART_BASE
3:  lbu t1, 5(t0)
    andi t1, t1, 0x20
    beqz t1, 3b
    sb a0, 0(t0)
    addi t2, t2, 1
    j 1b
2:  ret

/* a0 = label, a1 = value: prints "label=%016lx\n". Saves t0-t3. */
    .globl rt_print
rt_print:
    addi sp, sp, -48
    sd ra, 0(sp)
    sd t0, 8(sp)
    sd t1, 16(sp)
    sd t2, 24(sp)
    sd t3, 32(sp)
    sd a1, 40(sp)
    call rt_puts
    li a0, '='
    call rt_putc
    ld a1, 40(sp)
    li t3, 60
1:  srl a0, a1, t3
    andi a0, a0, 15
    addi a0, a0, '0'
    li t1, '9'
    ble a0, t1, 2f
    addi a0, a0, 'a' - '0' - 10
2:  call rt_putc
    addi t3, t3, -4
    bgez t3, 1b
    li a0, '\n'
    call rt_putc
    ld ra, 0(sp)
    ld t0, 8(sp)
    ld t1, 16(sp)
    ld t2, 24(sp)
    ld t3, 32(sp)
    ld a1, 40(sp)
    addi sp, sp, 48
    ret

/*
 * M-mode trap handler. ecall or ebreak with a7 == RT_TO_M: return to M-mode
 * after it. Other exceptions: print cause, epc and tval, then skip the
 * instruction. Interrupts: print the cause and clear its mie bit.
 */
    .align 4
    .globl rt_mtrap
rt_mtrap:
    csrw mscratch, sp
    la sp, rt_trap_stack_top
    addi sp, sp, -64
    sd ra, 0(sp)
    sd t0, 8(sp)
    sd t1, 16(sp)
    sd a0, 24(sp)
    sd a1, 32(sp)
    sd t2, 40(sp)
    sd t3, 48(sp)
    csrr t0, mcause
    bltz t0, 5f
    li t1, 3
    beq t0, t1, 7f
    li t1, 8
    bltu t0, t1, 1f
    li t1, 11
    bgtu t0, t1, 1f
7:  li t1, RT_TO_M
    bne a7, t1, 1f
    li a7, 0
    li t0, MSTATUS_MPP_MASK
    csrs mstatus, t0
    j 3f
1:  la a0, rt_s_mcause
    csrr a1, mcause
    call rt_print
    la a0, rt_s_mepc
    csrr a1, mepc
    call rt_print
    la a0, rt_s_mtval
    csrr a1, mtval
    call rt_print
    la t0, rt_resume
    ld t1, 0(t0)
    beqz t1, 3f
    sd zero, 0(t0)
    csrw mepc, t1
    j 6f
3:  /* skip the instruction at mepc (physical or identity-mapped) */
    csrr t0, mepc
    lhu t1, 0(t0)
    andi t1, t1, 3
    li t2, 3
    addi t0, t0, 2
    bne t1, t2, 4f
    addi t0, t0, 2
4:  csrw mepc, t0
    j 6f
5:  la t0, rt_irq_count
    ld t1, 0(t0)
    addi t1, t1, 1
    sd t1, 0(t0)
    la a0, rt_s_mirq
    csrr a1, mcause
    call rt_print
    csrr t0, mcause
    slli t0, t0, 1
    srli t0, t0, 1
    li t1, 1
    sll t1, t1, t0
    csrc mie, t1
6:  ld ra, 0(sp)
    ld t0, 8(sp)
    ld t1, 16(sp)
    ld a0, 24(sp)
    ld a1, 32(sp)
    ld t2, 40(sp)
    ld t3, 48(sp)
    csrr sp, mscratch
    mret

/* S-mode trap handler: the same for delegated traps. */
    .align 4
rt_strap:
    csrw sscratch, sp
    la sp, rt_strap_stack_top
    addi sp, sp, -64
    sd ra, 0(sp)
    sd t0, 8(sp)
    sd t1, 16(sp)
    sd a0, 24(sp)
    sd a1, 32(sp)
    sd t2, 40(sp)
    sd t3, 48(sp)
    csrr t0, scause
    bltz t0, 5f
    la a0, rt_s_scause
    csrr a1, scause
    call rt_print
    la a0, rt_s_sepc
    csrr a1, sepc
    call rt_print
    la a0, rt_s_stval
    csrr a1, stval
    call rt_print
    la t0, rt_strap_skip
    ld t0, 0(t0)
    beqz t0, 6f
    csrr t0, sepc
    lhu t1, 0(t0)
    andi t1, t1, 3
    li t2, 3
    addi t0, t0, 2
    bne t1, t2, 4f
    addi t0, t0, 2
4:  csrw sepc, t0
    j 6f
5:  la t0, rt_irq_count
    ld t1, 0(t0)
    addi t1, t1, 1
    sd t1, 0(t0)
    la a0, rt_s_sirq
    csrr a1, scause
    call rt_print
    csrr t0, scause
    slli t0, t0, 1
    srli t0, t0, 1
    li t1, 1
    sll t1, t1, t0
    csrc sie, t1
    /* an SSIP raised by M-mode must also be cleared */
    li t1, 2
    csrc sip, t1
6:  ld ra, 0(sp)
    ld t0, 8(sp)
    ld t1, 16(sp)
    ld a0, 24(sp)
    ld a1, 32(sp)
    ld t2, 40(sp)
    ld t3, 48(sp)
    csrr sp, sscratch
    sret

    .section .rodata
rt_s_mcause: .asciz "mcause"
rt_s_mepc:   .asciz "mepc"
rt_s_mtval:  .asciz "mtval"
rt_s_mirq:   .asciz "mirq"
rt_s_scause: .asciz "scause"
rt_s_sepc:   .asciz "sepc"
rt_s_stval:  .asciz "stval"
rt_s_sirq:   .asciz "sirq"

    .data
    .align 3
/* Non-zero: the M handler resumes there instead of skipping (once). */
    .globl rt_resume
rt_resume: .dword 0
/* Interrupts taken by either handler. */
    .globl rt_irq_count
rt_irq_count: .dword 0
/* Non-zero: the S handler skips the faulting instruction (default). */
    .globl rt_strap_skip
rt_strap_skip: .dword 1

    .bss
    .align 12
    .space 8192
rt_stack_top:
    .space 4096
rt_trap_stack_top:
    .space 4096
rt_strap_stack_top:
