/* SPDX-License-Identifier: MIT */
/* bench/guest/kernels.S - bare-metal CPU benchmarks for the virt machine,
 * built by bench/bench_emu.py with one of -DKERNEL_INT, -DKERNEL_MEM,
 * -DKERNEL_FP and -DITERS=n. The hart runs the loop, prints
 * "bench <name> sum=<hex> instret=<hex>" (instret: minstret's increase over
 * the call, so ITERS times the loop length plus a constant) on the ns16550a
 * UART and powers off through sifive_test (0x5555 at 0x100000). */

#define UART_THR 0x10000000
#define UART_LSR 0x10000005
#define TEST_DEV 0x100000

    .section .text.start, "ax"
    .globl _start
_start:
    la sp, stack_top
    li t0, 1 << 13          /* mstatus.FS = Initial */
    csrs mstatus, t0
    csrwi fcsr, 0
    li s0, ITERS
    li a0, 0
    csrr s4, minstret
    call kernel
    csrr s2, minstret
    mv s1, a0
    sub s2, s2, s4
    la a0, msg_name
    call puts
    la a0, msg_sum
    call puts
    mv a0, s1
    call puthex
    la a0, msg_instret
    call puts
    mv a0, s2
    call puthex
    li a0, '\n'
    call putc
    li t0, TEST_DEV
    li t1, 0x5555
    sw t1, 0(t0)
1:  wfi
    j 1b

#if defined(KERNEL_INT)
/* Integer ALU, multiply and divide: 12 instructions per iteration. */
kernel:
    li a1, 0x2545F4914F6CDD1D
    li a2, 1
    li a3, 0x9E3779B97F4A7C15
1:  mul t0, a3, a1
    add a2, a2, t0
    srli t1, a3, 29
    xor a3, a3, t1
    slli t1, a3, 17
    xor a3, a3, t1
    divu t2, a2, a1
    addw t3, t2, a3
    sltu t4, a2, a3
    add a1, a1, t4
    addi s0, s0, -1
    bnez s0, 1b
    xor a0, a2, a3
    xor a0, a0, t3
    ret
#define NAME "int"
#elif defined(KERNEL_MEM)
/* Loads and stores over a 64 KiB buffer (the loop of the reference
 * measurements): 9 instructions per iteration. */
kernel:
    li a0, 0x12345
    la t0, buffer
    li t1, 0
    li t2, 0xfff8
1:  add t3, t0, t1
    ld t4, 0(t3)
    add a0, a0, t4
    xor t4, t4, a0
    sd t4, 0(t3)
    addi t1, t1, 8
    and t1, t1, t2
    addi s0, s0, -1
    bnez s0, 1b
    ret
#define NAME "mem"
#elif defined(KERNEL_FP)
/* Double and single precision: fused multiply-add, square root, divide,
 * conversions; 11 instructions per iteration. */
kernel:
    la t0, fp_consts
    fld f10, 0(t0)          /* 0.999 */
    fld f11, 8(t0)          /* 1.0 */
    flw f13, 16(t0)         /* 0.5f */
    fmv.d.x f0, zero
    fmv.d.x f12, zero
    fmv.w.x f4, zero
1:  fmadd.d f0, f0, f10, f11
    fsqrt.d f1, f0
    fdiv.d f2, f1, f0
    fadd.d f12, f12, f2
    fcvt.s.d f3, f2
    fmadd.s f4, f4, f13, f3
    fcvt.w.d t1, f1
    add a0, a0, t1
    fmul.d f5, f2, f2
    addi s0, s0, -1
    bnez s0, 1b
    fmv.x.d t0, f12
    xor a0, a0, t0
    fmv.x.w t0, f4
    xor a0, a0, t0
    fmv.x.d t0, f5
    xor a0, a0, t0
    ret
#define NAME "fp"
#else
#error "define KERNEL_INT, KERNEL_MEM or KERNEL_FP"
#endif

/* a0: byte. Waits for the transmitter holding register to be empty. */
putc:
    li t0, UART_LSR
1:  lbu t1, 0(t0)
    andi t1, t1, 0x20
    beqz t1, 1b
    li t0, UART_THR
    sb a0, 0(t0)
    ret

/* a0: NUL-terminated string. */
puts:
    addi sp, sp, -16
    sd ra, 0(sp)
    sd s3, 8(sp)
    mv s3, a0
1:  lbu a0, 0(s3)
    beqz a0, 2f
    call putc
    addi s3, s3, 1
    j 1b
2:  ld ra, 0(sp)
    ld s3, 8(sp)
    addi sp, sp, 16
    ret

/* a0: value, printed as 16 hex digits. */
puthex:
    addi sp, sp, -32
    sd ra, 0(sp)
    sd s3, 8(sp)
    sd s4, 16(sp)
    mv s3, a0
    li s4, 60
1:  srl a0, s3, s4
    andi a0, a0, 15
    li t0, 10
    blt a0, t0, 2f
    addi a0, a0, 'a' - 10
    j 3f
2:  addi a0, a0, '0'
3:  call putc
    addi s4, s4, -4
    bgez s4, 1b
    ld ra, 0(sp)
    ld s3, 8(sp)
    ld s4, 16(sp)
    addi sp, sp, 32
    ret

    .section .rodata
    .balign 8
fp_consts:
    .double 0.999
    .double 1.0
    .float 0.5
msg_name:
    .asciz "bench " NAME
msg_sum:
    .asciz " sum="
msg_instret:
    .asciz " instret="

    .section .bss
    .balign 4096
buffer:
    .space 65536
    .space 4096
stack_top:
