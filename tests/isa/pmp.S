/* SPDX-License-Identifier: MIT */
/*
 * tests/isa/pmp.S - physical memory protection: NAPOT, TOR and NA4 regions
 * checked from S- and U-mode loads, stores and fetches; priority of lower
 * entries; M-mode unaffected by unlocked entries; pmpcfg/pmpaddr readback.
 */
#include "rt.h"

    .text
    .globl main
main:
    addi sp, sp, -16
    sd ra, 0(sp)

    MSG "-- readback"
    li t0, 0x003fffffffffffff
    csrw pmpaddr1, t0
    csrr t0, pmpaddr1
    PR pmpaddr_ones, t0
    csrr t0, pmpcfg0
    PR pmpcfg0, t0

    /* Entries, lowest number first:
     * 0: NA4 over data+0 (read-only)
     * 1: NAPOT 4 KiB over page_ro (read-only)
     * 2: TOR [page_x, page_x+4 KiB) execute-only
     * 3: NAPOT over page_none: no access
     * 4: everything RWX (the catch-all that rt.S set in entry 0) */
    la t0, data
    srli t0, t0, 2
    csrw pmpaddr0, t0
    la t0, page_ro
    srli t0, t0, 2
    ori t0, t0, (4096 / 8 - 1) >> 0
    srli t1, t0, 0
    li t2, 0x1ff
    or t0, t0, t2
    xori t0, t0, 0x100
    csrw pmpaddr1, t0
    la t0, page_x
    srli t0, t0, 2
    csrw pmpaddr2, t0
    li t1, 4096 / 4
    add t0, t0, t1
    csrw pmpaddr3, t0
    la t0, page_none
    srli t0, t0, 2
    ori t0, t0, 0x1ff
    xori t0, t0, 0x100
    csrw pmpaddr4, t0
    li t0, -1
    csrw pmpaddr5, t0
    /* cfg: 0 NA4|R, 1 NAPOT|R, 2 off, 3 TOR|X, 4 NAPOT|none, 5 NAPOT|RWX */
    li t0, (0x11) | (0x19 << 8) | (0x00 << 16) | (0x0c << 24)
    li t1, (0x18) | (0x1f << 8)
    slli t1, t1, 32
    or t0, t0, t1
    csrw pmpcfg0, t0
    csrr t0, pmpcfg0
    PR pmpcfg0_set, t0

    MSG "-- s-mode"
    GOTO_MODE 1
    la s0, data
    ld t0, 0(s0)
    PR rd_na4, t0
    lw t0, 0(s0)
    PR rd_na4_w, t0
    sw t0, 0(s0)
    sd t0, 8(s0)
    ld t0, 8(s0)
    PR rd_after, t0
    la s0, page_ro
    ld t0, 16(s0)
    PR rd_ro, t0
    sd t0, 16(s0)
    la s0, page_none
    ld t0, 0(s0)
    sd t0, 0(s0)
    la s0, page_x
    ld t0, 0(s0)
    jalr ra, 0(s0)
    PR exec_x, a0
    /* a load straddling the NA4 entry boundary: partial match faults */
    la s0, data
    ld t0, 4(s0)
    BACK_TO_M

    MSG "-- m-mode"
    /* unlocked entries do not bind M-mode */
    la s0, page_none
    ld t0, 0(s0)
    PR m_rd_none, t0
    ld ra, 0(sp)
    addi sp, sp, 16
    li a0, 0
    ret

    .data
    .align 12
data:
    .dword 0x1111222233334444
    .dword 0x5555666677778888
    .align 12
page_ro:
    .dword 0
    .dword 0
    .dword 0xabcdef
    .align 12
page_x:
    li a0, 66
    ret
    .align 12
page_none:
    .dword 0x99
    .align 12
