/* SPDX-License-Identifier: MIT */
/*
 * tests/isa/smc.S - self-modifying code: rewrite an instruction that has
 * already run (and one in the same page as the writer), execute it again
 * after fence.i; also code copied to another page and run there, and
 * instructions rewritten by amoswap.w, amoor.w and sc.w.
 */
#include "rt.h"

    .text
    .globl main
main:
    addi sp, sp, -16
    sd ra, 0(sp)

    li s1, 0
    li s2, 0
1:  call patchme
    add s1, s1, a0
    /* patch "li a0, 1" (addi a0, zero, 1) into "li a0, 100" */
    la t0, patchme
    lw t1, 0(t0)
    li t2, 0x00100513
    bne t1, t2, 2f
    li t2, 0x06400513
    sw t2, 0(t0)
    fence.i
2:  addi s2, s2, 1
    li t0, 3
    blt s2, t0, 1b
    PR smc_sum, s1

    /* patch the next instruction in a straight line */
    la t0, 3f
    li t1, 0x02a00593 /* li a1, 42 */
    sw t1, 0(t0)
    fence.i
    .option push
    .option norvc
3:  li a1, 7
    .option pop
    PR smc_next, a1

    /* copy a function to a fresh page and call it, then change it */
    la t0, fn_src
    la t1, page
    ld t2, 0(t0)
    sd t2, 0(t1)
    fence.i
    jalr ra, 0(t1)
    PR copied, a0
    la t1, page
    li t2, 0x00d00513 /* li a0, 13 */
    sw t2, 0(t1)
    fence.i
    jalr ra, 0(t1)
    PR copied2, a0
    /* compressed rewrite: c.li a0, 5 -> c.li a0, 9 */
    la t1, page
    li t2, 0x4515     /* c.li a0, 5 */
    sh t2, 0(t1)
    li t2, 0x8082     /* c.jr ra */
    sh t2, 2(t1)
    fence.i
    jalr ra, 0(t1)
    PR rvc1, a0
    li t2, 0x4525     /* c.li a0, 9 */
    sh t2, 0(t1)
    fence.i
    jalr ra, 0(t1)
    PR rvc2, a0

    /* AMOs and SC rewrite code that has run: li a0, 1 -> 2 -> 6 -> 7 */
    la t1, page
    li t2, 0x00100513 /* li a0, 1 */
    sw t2, 0(t1)
    li t2, 0x00008067 /* ret */
    sw t2, 4(t1)
    fence.i
    jalr ra, 0(t1)
    PR amo0, a0
    la t1, page
    li t2, 0x00200513 /* li a0, 2 */
    amoswap.w t3, t2, (t1)
    fence.i
    jalr ra, 0(t1)
    PR amoswap, a0
    la t1, page
    li t2, 0x00400000 /* li a0, 2 | 4 << 20 = li a0, 6 */
    amoor.w t3, t2, (t1)
    fence.i
    jalr ra, 0(t1)
    PR amoor, a0
    la t1, page
    lr.w t3, (t1)
    li t2, 0x00700513 /* li a0, 7 */
    sc.w t4, t2, (t1)
    fence.i
    jalr ra, 0(t1)
    PR sc, a0
    PR sc_rc, t4
    /* amoswap onto the next instruction in a straight line */
    la t0, 4f
    li t1, 0x02b00593 /* li a1, 43 */
    amoswap.w zero, t1, (t0)
    fence.i
    .option push
    .option norvc
4:  li a1, 7
    .option pop
    PR amo_next, a1

    ld ra, 0(sp)
    addi sp, sp, 16
    li a0, 0
    ret

    .align 2
patchme:
    .option push
    .option norvc
    li a0, 1
    ret
    .option pop

    .align 3
fn_src:
    .option push
    .option norvc
    li a0, 77
    ret
    .option pop

    .data
    .align 12
page:
    .space 4096
