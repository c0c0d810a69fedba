/* SPDX-License-Identifier: MIT */
/*
 * tests/isa/vm.S - Sv39 and Sv48: 4 KiB pages, megapages, gigapages and a
 * Sv48 terapage; hardware A/D updates; R/W/X/U permission faults with
 * stval; SUM and MXR; misaligned superpages; non-canonical addresses;
 * sfence.vma after a remap; MPRV loads from M-mode.
 */
#include "rt.h"

#define V 1
#define R 2
#define W 4
#define X 8
#define U 16
#define A 64
#define D 128

/* table[idx] = PTE(pa_of(sym) + off, flags) */
.macro SETPTE table, idx, sym, flags
    la t0, \sym
    srli t0, t0, 12
    slli t0, t0, 10
    ori t0, t0, \flags
    la t1, \table
    sd t0, (\idx * 8)(t1)
.endm

/* table[idx] = PTE(constant physical address, flags) */
.macro SETPTEPA table, idx, pa, flags
    li t0, \pa
    srli t0, t0, 12
    slli t0, t0, 10
    ori t0, t0, \flags
    la t1, \table
    sd t0, (\idx * 8)(t1)
.endm

.macro PRPTE name, table, idx
    la t1, \table
    ld t0, (\idx * 8)(t1)
    andi t0, t0, 0xff
    PR \name, t0
.endm

    .text
    .globl main
main:
    addi sp, sp, -16
    sd ra, 0(sp)

    /* Sv39 tables: l2[2] = 1 GiB identity at 0x80000000 (RWX, A, D);
     * l2[0] -> l1; l1[0] -> l0; l1[1] = 2 MiB at 0x80400000;
     * l1[2] = a misaligned megapage; l1[128] = the UART, so S can print. */
    SETPTEPA l2, 2, 0x80000000, V|R|W|X|A|D
    SETPTE l2, 0, l1, V
    SETPTE l1, 0, l0, V
    SETPTEPA l1, 1, 0x80400000, V|R|W|A|D
    SETPTEPA l1, 2, 0x80401000, V|R|W|A|D
    SETPTEPA l1, 128, 0x10000000, V|R|W|A|D
    SETPTE l0, 1, page_a, V|R|W
    SETPTE l0, 2, page_b, V|R
    SETPTE l0, 3, page_c, V|X
    SETPTE l0, 4, page_a, V|R|W|U|A|D
    SETPTE l0, 5, page_a, R|W|A|D
    SETPTE l0, 6, page_a, V|W|A|D
    SETPTE l0, 7, page_c, V|R|X|U|A|D
    /* U root: the same, but the code gigapage is a U page */
    SETPTEPA l2u, 2, 0x80000000, V|R|W|X|U|A|D
    SETPTE l2u, 0, l1, V
    /* Sv48 root: l3[0] -> l2 (same lower levels); l3[1] = 512 GiB at 0 */
    SETPTE l3, 0, l2, V
    SETPTEPA l3, 1, 0, V|R|W|A|D

    /* known data */
    la t0, page_a
    li t1, 0x1111111111111111
    sd t1, 8(t0)
    la t0, page_b
    li t1, 0x2222222222222222
    sd t1, 8(t0)
    la t0, page_c
    li t1, 0x00008067
    sw t1, 0(t0)  /* ret */
    li t1, 0x3333333333333333
    sd t1, 8(t0)
    li t0, 0x80401238
    li t1, 0x4444444444444444
    sd t1, 0(t0)

    MSG "-- sv39"
    la t0, l2
    srli t0, t0, 12
    li t1, 8 << 60
    or t0, t0, t1
    csrw satp, t0
    sfence.vma
    GOTO_MODE 1
    li s0, 0x1000
    ld t0, 8(s0)
    PR lda, t0
    BACK_TO_M
    PRPTE pte_a_after_load, l0, 1
    GOTO_MODE 1
    li t0, 0x5555
    sd t0, 16(s0)
    BACK_TO_M
    PRPTE pte_a_after_store, l0, 1
    GOTO_MODE 1
    li s0, 0x2000
    ld t0, 8(s0)
    PR ldb, t0
    sd t0, 0(s0)
    li s0, 0x3000
    ld t0, 8(s0)
    BACK_TO_M
    li t0, 1 << 19
    csrs mstatus, t0
    GOTO_MODE 1
    ld t0, 8(s0)
    PR ld_mxr, t0
    BACK_TO_M
    li t0, 1 << 19
    csrc mstatus, t0
    GOTO_MODE 1
    li s0, 0x4000
    ld t0, 8(s0)
    li t0, 1 << 18
    csrs sstatus, t0
    ld t0, 8(s0)
    PR ld_sum, t0
    li t0, 1 << 18
    csrc sstatus, t0
    li s0, 0x5000
    ld t0, 0(s0)
    li s0, 0x6000
    ld t0, 0(s0)
    sd t0, 0(s0)
    li s0, 0x201238
    ld t0, 0(s0)
    PR ld_mega, t0
    li s0, 0x400000
    ld t0, 0(s0)
    li s0, 0x40000000
    ld t0, 0(s0)
    li s0, 0x4000000000
    ld t0, 0(s0)
    li s0, -1
    ld t0, 0(s0)
    /* fetch from a U page in S-mode: instruction page fault */
    la t0, 1f
    la t1, rt_resume
    sd t0, 0(t1)
    li t0, 0x7000
    jalr ra, 0(t0)
1:  BACK_TO_M
    /* U-mode, under a root whose code gigapage is a U page: U pages work,
     * supervisor pages fault */
    la t0, l2u
    srli t0, t0, 12
    li t1, 8 << 60
    or t0, t0, t1
    csrw satp, t0
    sfence.vma
    GOTO_MODE 0
    li s0, 0x4000
    ld s1, 8(s0)
    li t0, 0x7000
    jalr ra, 0(t0)
    li s0, 0x1000
    ld s2, 8(s0)
    BACK_TO_M
    PR u_ld, s1
    la t0, l2
    srli t0, t0, 12
    li t1, 8 << 60
    or t0, t0, t1
    csrw satp, t0
    sfence.vma

    MSG "-- remap and sfence.vma"
    SETPTE l0, 1, page_b, V|R|W|A|D
    sfence.vma
    GOTO_MODE 1
    li s0, 0x1000
    ld t0, 8(s0)
    PR remapped, t0
    BACK_TO_M
    SETPTE l0, 1, page_a, V|R|W|A|D
    GOTO_MODE 1
    li t0, 0x1000
    sfence.vma t0, zero
    ld t0, 8(s0)
    PR remapped2, t0
    BACK_TO_M

    MSG "-- mprv"
    li t0, 3 << 11
    csrc mstatus, t0
    li t0, (1 << 11) | (1 << 17)
    csrs mstatus, t0
    li s0, 0x1000
    ld t2, 8(s0)
    li t0, 1 << 17
    csrc mstatus, t0
    PR mprv_ld, t2
    li t0, 3 << 11
    csrs mstatus, t0

    MSG "-- sv48"
    la t0, l3
    srli t0, t0, 12
    li t1, 9 << 60
    or t0, t0, t1
    csrw satp, t0
    sfence.vma
    csrr t0, satp
    srli t0, t0, 60
    PR satp_mode, t0
    GOTO_MODE 1
    li s0, 0x1000
    ld t0, 8(s0)
    PR sv48_lda, t0
    li s0, 0x8080401238
    ld t0, 0(s0)
    PR sv48_tera, t0
    li s0, 0x10000000000
    ld t0, 0(s0)
    li s0, 0x1000000000000
    ld t0, 0(s0)
    li s0, 0xffff800000000000
    ld t0, 0(s0)
    li s0, 0x2000
    sd t0, 0(s0)
    BACK_TO_M
    csrw satp, zero
    sfence.vma

    ld ra, 0(sp)
    addi sp, sp, 16
    li a0, 0
    ret

    .data
    .align 12
l3: .space 4096
l2u: .space 4096
l2: .space 4096
l1: .space 4096
l0: .space 4096
page_a: .space 4096
page_b: .space 4096
page_c: .space 4096
