/* SPDX-License-Identifier: MIT */
/*
 * tests/isa/priv.S - privileged architecture: CSR existence and WARL
 * fields, M/S/U transitions with mret/sret, ecall from every mode,
 * exception and interrupt delegation, TSR/TW/TVM, counter gating, FS=Off,
 * access faults, vectored mtvec, software and timer interrupts and their
 * priority, WFI wake-up, STIP forwarded to S.
 */
#include "rt.h"

    .text
    .globl main
main:
    addi sp, sp, -16
    sd ra, 0(sp)

    MSG "-- csr"
    csrr t0, misa
    PR misa, t0
    csrr t0, mhartid
    PR mhartid, t0
    csrr t0, mvendorid
    PR mvendorid, t0
    csrr t0, satp
    PR satp0, t0
    /* unimplemented in this profile: illegal instruction */
    csrr t0, menvcfg
    csrr t0, stimecmp
    csrr t0, pmpaddr16
    csrr t0, 0x3a1
    csrr t0, hstatus
    csrr t0, 0x7c0
    /* read-only CSR written: illegal; read with csrrs x0: fine */
    csrw mhartid, zero
    csrrs t0, mhartid, zero
    PR ro_read, t0
    /* WARL masks */
    li t1, 0xb3ff
    csrw medeleg, t1
    csrr t0, medeleg
    PR medeleg, t0
    li t1, 0x222
    csrw mideleg, t1
    csrr t0, mideleg
    PR mideleg, t0
    li t1, 0xaaa
    csrw mie, t1
    csrr t0, mie
    PR mie, t0
    csrr t0, sie
    PR sie, t0
    csrw mie, zero
    csrw mideleg, zero
    csrw medeleg, zero
    li t1, 0x222
    csrs mip, t1
    csrr t0, mip
    PR mip, t0
    csrc mip, t1
    csrr t0, mip
    PR mip0, t0
    csrr s1, mstatus
    li t1, 0x00000000007e19aa
    csrw mstatus, t1
    csrr t0, mstatus
    PR mstatus, t0
    csrr t0, sstatus
    PR sstatus, t0
    csrw mstatus, s1
    csrr t0, mstatus
    PR mstatus1, t0
    /* mtvec/stvec: mode 2 and 3 are reserved, writes ignored */
    csrr s2, mtvec
    li t1, 0x80001002
    csrw mtvec, t1
    csrr t0, mtvec
    sub t0, t0, s2
    PR mtvec_warl, t0
    csrw mtvec, s2
    csrr s3, stvec
    li t1, 0x80001003
    csrw stvec, t1
    csrr t0, stvec
    sub t0, t0, s3
    PR stvec_warl, t0
    csrw stvec, s3
    li t1, -1
    csrw mscratch, t1
    csrr t0, mscratch
    PR mscratch, t0
    csrw sscratch, t1
    csrr t0, sscratch
    PR sscratch, t0
    li t1, 0xbeef
    csrw mcause, t1
    csrr t0, mcause
    PR mcause_rw, t0
    csrw mtval, t1
    csrr t0, mtval
    PR mtval_rw, t0
    csrw scause, t1
    csrr t0, scause
    PR scause_rw, t0
    csrw stval, t1
    csrr t0, stval
    PR stval_rw, t0
    /* satp: reserved modes leave it unchanged */
    li t1, (5 << 60) | 0x1234
    csrw satp, t1
    csrr t0, satp
    PR satp_bad, t0
    li t1, (8 << 60) | 0x80123
    csrw satp, t1
    csrr t0, satp
    PR satp_sv39, t0
    li t1, (9 << 60) | 0x80123
    csrw satp, t1
    csrr t0, satp
    PR satp_sv48, t0
    csrw satp, zero
    /* CSR instruction forms */
    li t1, 0x0f0
    csrw mscratch, t1
    csrrsi t0, mscratch, 0x0f
    PR csrrsi, t0
    csrrci t0, mscratch, 0x3
    PR csrrci, t0
    csrrwi t0, mscratch, 0x11
    PR csrrwi, t0
    csrr t0, mscratch
    PR csrrwi2, t0
    li t1, 0x100
    csrrc t0, mscratch, t1
    csrr t0, mscratch
    PR csrrc, t0
    /* illegal encodings: mtval holds the instruction bits */
    .word 0xfe000033
    .word 0x0000707b
    .word 0x00001073 | (0xfff << 20)

    MSG "-- ecall"
    ecall
    GOTO_MODE 1
    ecall
    csrr t0, sstatus
    PR s_sstatus, t0
    BACK_TO_M
    csrr t0, mstatus
    srli t0, t0, 11
    andi t0, t0, 3
    PR back_mpp, t0
    GOTO_MODE 0
    ecall
    BACK_TO_M
    /* delegate U ecall and illegal instruction to S */
    li t1, (1 << 8) | (1 << 2)
    csrw medeleg, t1
    GOTO_MODE 0
    ecall
    .word 0xfe000033
    BACK_TO_M
    GOTO_MODE 1
    ecall
    .word 0xfe000033
    csrr t0, mstatus
    BACK_TO_M
    csrw medeleg, zero

    MSG "-- xret"
    GOTO_MODE 1
    mret
    BACK_TO_M
    GOTO_MODE 0
    sret
    wfi
    sfence.vma
    csrr t0, sstatus
    BACK_TO_M
    li t1, (1 << 22) | (1 << 21) | (1 << 20)
    csrs mstatus, t1
    GOTO_MODE 1
    la t0, 1f
    csrw sepc, t0
    sret
    wfi
    sfence.vma
    csrr t0, satp
    csrw satp, zero
1:  BACK_TO_M
    li t1, (1 << 22) | (1 << 21) | (1 << 20)
    csrc mstatus, t1
    /* sret to U from S */
    GOTO_MODE 1
    li t1, 1 << 8
    csrc sstatus, t1
    la t0, 1f
    csrw sepc, t0
    sret
1:  csrr t0, sstatus
    BACK_TO_M
    /* mret with MPIE: MIE takes MPIE, MPIE becomes 1, MPP becomes U */
    li t1, 1 << 7
    csrs mstatus, t1
    li t1, 3 << 11
    csrs mstatus, t1
    la t0, 1f
    csrw mepc, t0
    mret
1:  csrr t0, mstatus
    li t1, (3 << 11) | (1 << 7) | (1 << 3)
    and t0, t0, t1
    PR mret_bits, t0
    li t1, 1 << 3
    csrc mstatus, t1

    MSG "-- counters"
    /* Reads into x0: the gating is tested, the values (which QEMU does not
     * count exactly) stay out of the registers test_emu_trace compares. */
    csrr zero, cycle
    csrr zero, instret
    csrw mcounteren, zero
    csrw scounteren, zero
    GOTO_MODE 1
    csrr zero, cycle
    csrr zero, instret
    BACK_TO_M
    li t1, 5
    csrw mcounteren, t1
    GOTO_MODE 1
    csrr zero, cycle
    csrr zero, instret
    BACK_TO_M
    GOTO_MODE 0
    csrr zero, cycle
    BACK_TO_M
    csrw scounteren, t1
    GOTO_MODE 0
    csrr zero, cycle
    csrr zero, instret
    BACK_TO_M
    csrw mcounteren, zero
    csrw scounteren, zero

    MSG "-- fs"
    li t1, 3 << 13
    csrc mstatus, t1
    fadd.d f0, f0, f0
    csrr t0, fcsr
    fmv.x.d t0, f0
    fld f1, 0(sp)
    li t1, 1 << 13
    csrs mstatus, t1
    csrr t0, mstatus
    srli t0, t0, 13
    andi t0, t0, 3
    PR fs_initial, t0
    fmv.d.x f0, zero
    csrr t0, mstatus
    srli t0, t0, 13
    andi t0, t0, 3
    PR fs_dirty, t0
    csrr t0, mstatus
    srli t0, t0, 63
    PR sd, t0

    MSG "-- access faults"
    ld t0, 0(zero)
    sd t0, 0(zero)
    li t1, 0x40
    lw t0, 0(t1)
    la t0, 1f
    la t1, rt_resume
    sd t0, 0(t1)
    jalr zero, 0(zero)
1:  la t0, 1f
    la t1, rt_resume
    sd t0, 0(t1)
    li t2, 0x09000000
    jalr zero, 0(t2)
1:
    MSG "-- interrupts"
    li t1, 0x222
    csrw mideleg, t1
    li t1, 1 << 1
    csrw mie, t1
    csrs mstatus, t1
    csrs mip, t1
    GOTO_MODE 1
    nop
    nop
    BACK_TO_M
    csrw mideleg, zero
    li t1, 1 << 3
    csrw mie, t1
    IRQ_MARK
    csrs mstatus, t1
    li t0, CLINT_BASE
    li t1, 1
    sw t1, 0(t0)
    IRQ_WAIT
    li t0, CLINT_BASE
    sw zero, 0(t0)
    li t1, 1 << 3
    csrc mstatus, t1
    /* an M interrupt preempts S-mode even with MIE clear */
    li t1, 1 << 3
    csrw mie, t1
    li t0, CLINT_BASE
    li t1, 1
    sw t1, 0(t0)
    GOTO_MODE 1
    nop
    nop
    BACK_TO_M
    li t0, CLINT_BASE
    sw zero, 0(t0)
    /* vectored mtvec: software interrupt lands at base + 4*3 */
    csrr s2, mtvec
    la t1, vec_table + 1
    csrw mtvec, t1
    li t1, 1 << 3
    csrw mie, t1
    csrs mstatus, t1
    li t0, CLINT_BASE
    li t1, 1
    sw t1, 0(t0)
    /* wait (bounded) for the handler: QEMU delivers at a block end */
    li t2, 10000
1:  la t3, vec_flag
    ld t3, 0(t3)
    bnez t3, 2f
    addi t2, t2, -1
    bnez t2, 1b
2:  csrw mtvec, s2
    li t1, 1 << 3
    csrc mstatus, t1
    csrw mie, zero

    MSG "-- timer and priorities"
    /* mtimecmp = 0: MTIP pending at once */
    IRQ_MARK
    li t0, CLINT_BASE + 0x4000
    sd zero, 0(t0)
    li t1, 1 << 7
    csrw mie, t1
    li t1, 1 << 3
    csrs mstatus, t1
    IRQ_WAIT
    li t1, 1 << 3
    csrc mstatus, t1
    /* MSI and MTI both pending: MSI first */
    li t1, (1 << 7) | (1 << 3)
    csrw mie, t1
    li t0, CLINT_BASE
    li t1, 1
    sw t1, 0(t0)
    IRQ_MARK
    li t1, 1 << 3
    csrs mstatus, t1
    IRQ_WAIT
    IRQ_MARK
    IRQ_WAIT
    li t1, 1 << 3
    csrc mstatus, t1
    li t0, CLINT_BASE
    sw zero, 0(t0)
    li t0, CLINT_BASE + 0x4000
    li t1, -1
    sd t1, 0(t0)
    /* WFI with an interrupt pending in mip & mie but MIE clear: no wait */
    li t0, CLINT_BASE
    li t1, 1
    sw t1, 0(t0)
    li t1, 1 << 3
    csrw mie, t1
    wfi
    MSG "wfi passed"
    li t0, CLINT_BASE
    sw zero, 0(t0)
    csrw mie, zero
    /* the M-mode timer forwarded to S as STIP (as OpenSBI does) */
    li t1, 0x222
    csrw mideleg, t1
    li t1, 1 << 5
    csrw mie, t1
    csrs mip, t1
    li t1, 1 << 1
    csrs mstatus, t1
    GOTO_MODE 1
    nop
    nop
    BACK_TO_M
    li t1, 1 << 5
    csrc mip, t1
    csrw mie, zero
    csrw mideleg, zero

    ld ra, 0(sp)
    addi sp, sp, 16
    li a0, 0
    ret

    .align 6
vec_table:
    .option push
    .option norvc
    j rt_mtrap
    j vec_bad
    j vec_bad
    j vec_msi
    .option pop
vec_bad:
    li a0, 7
    j rt_exit
vec_msi:
    MSG "vec3"
    li t0, CLINT_BASE
    sw zero, 0(t0)
    la t0, vec_flag
    li t1, 1
    sd t1, 0(t0)
    mret

    .data
    .align 3
vec_flag:
    .dword 0
