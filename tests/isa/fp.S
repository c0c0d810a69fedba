/* SPDX-License-Identifier: MIT */
/*
 * tests/isa/fp.S - F and D over tables of special operands (zeros,
 * subnormals, extremes, infinities, quiet and signalling NaNs, values that
 * round differently per mode), in every rounding mode through frm: one
 * hash of results and fflags per instruction and mode. Also static
 * rounding modes, invalid rounding modes, NaN boxing and FS tracking.
 */
#include "rt.h"

#define ND 24
#define NS 22
#define NI 16

.macro HASH reg
    slli t5, s4, 7
    srli s4, s4, 57
    or s4, s4, t5
    xor s4, s4, \reg
.endm

/* for frm in 0..4: hash op(tbl[i], tbl[j]) and fflags over all pairs */
.macro FBIN op, ld, mv, tbl, n
    li s5, 0
0:  csrw frm, s5
    li s4, 0
    la s0, \tbl
    li s2, 0
1:  li s3, 0
2:  slli t0, s2, 3
    add t0, s0, t0
    \ld fa0, 0(t0)
    slli t0, s3, 3
    add t0, s0, t0
    \ld fa1, 0(t0)
    csrwi fflags, 0
    \op fa2, fa0, fa1
    \mv t3, fa2
    frflags t4
    HASH t3
    HASH t4
    addi s3, s3, 1
    li t0, \n
    blt s3, t0, 2b
    addi s2, s2, 1
    blt s2, t0, 1b
    PR \op, s4
    addi s5, s5, 1
    li t0, 5
    blt s5, t0, 0b
.endm

/* op(tbl[i], tbl[j]) -> integer register (compares) */
.macro FCMP op, ld, tbl, n
    li s4, 0
    la s0, \tbl
    li s2, 0
1:  li s3, 0
2:  slli t0, s2, 3
    add t0, s0, t0
    \ld fa0, 0(t0)
    slli t0, s3, 3
    add t0, s0, t0
    \ld fa1, 0(t0)
    csrwi fflags, 0
    \op t3, fa0, fa1
    frflags t4
    HASH t3
    HASH t4
    addi s3, s3, 1
    li t0, \n
    blt s3, t0, 2b
    addi s2, s2, 1
    blt s2, t0, 1b
    PR \op, s4
.endm

/* fused: op(tbl[i], tbl[j], tbl[k]) for a subset k in 0..7 */
.macro FMA3 op, ld, mv, tbl, n
    li s5, 0
0:  csrw frm, s5
    li s4, 0
    la s0, \tbl
    li s2, 0
1:  li s3, 0
2:  li s6, 0
3:  slli t0, s2, 3
    add t0, s0, t0
    \ld fa0, 0(t0)
    slli t0, s3, 3
    add t0, s0, t0
    \ld fa1, 0(t0)
    slli t0, s6, 3
    add t0, s0, t0
    \ld fa3, 0(t0)
    csrwi fflags, 0
    \op fa2, fa0, fa1, fa3
    \mv t3, fa2
    frflags t4
    HASH t3
    HASH t4
    addi s6, s6, 3
    li t0, \n
    blt s6, t0, 3b
    addi s3, s3, 1
    blt s3, t0, 2b
    addi s2, s2, 1
    blt s2, t0, 1b
    PR \op, s4
    addi s5, s5, 1
    li t0, 5
    blt s5, t0, 0b
.endm

/* unary FP -> FP or FP -> int, every frm */
.macro FUN name, op, ld, mv, tbl, n
    li s5, 0
0:  csrw frm, s5
    li s4, 0
    la s0, \tbl
    li s2, 0
1:  slli t0, s2, 3
    add t0, s0, t0
    \ld fa0, 0(t0)
    csrwi fflags, 0
    \op
    \mv
    frflags t4
    HASH t3
    HASH t4
    addi s2, s2, 1
    li t0, \n
    blt s2, t0, 1b
    PR \name, s4
    addi s5, s5, 1
    li t0, 5
    blt s5, t0, 0b
.endm

/* int -> FP, every frm, over the integer table */
.macro FFROMI op, mv
    li s5, 0
0:  csrw frm, s5
    li s4, 0
    la s0, ints
    li s2, 0
1:  slli t0, s2, 3
    add t0, s0, t0
    ld t1, 0(t0)
    csrwi fflags, 0
    \op fa2, t1
    \mv t3, fa2
    frflags t4
    HASH t3
    HASH t4
    addi s2, s2, 1
    li t0, NI
    blt s2, t0, 1b
    PR \op, s4
    addi s5, s5, 1
    li t0, 5
    blt s5, t0, 0b
.endm

    .text
    .globl main
main:
    addi sp, sp, -16
    sd ra, 0(sp)

    MSG "-- double"
    FBIN fadd.d, fld, fmv.x.d, dv, ND
    FBIN fsub.d, fld, fmv.x.d, dv, ND
    FBIN fmul.d, fld, fmv.x.d, dv, ND
    FBIN fdiv.d, fld, fmv.x.d, dv, ND
    FBIN fmin.d, fld, fmv.x.d, dv, ND
    FBIN fmax.d, fld, fmv.x.d, dv, ND
    FBIN fsgnj.d, fld, fmv.x.d, dv, ND
    FBIN fsgnjn.d, fld, fmv.x.d, dv, ND
    FBIN fsgnjx.d, fld, fmv.x.d, dv, ND
    FCMP feq.d, fld, dv, ND
    FCMP flt.d, fld, dv, ND
    FCMP fle.d, fld, dv, ND
    FMA3 fmadd.d, fld, fmv.x.d, dv, ND
    FMA3 fmsub.d, fld, fmv.x.d, dv, ND
    FMA3 fnmsub.d, fld, fmv.x.d, dv, ND
    FMA3 fnmadd.d, fld, fmv.x.d, dv, ND
    FUN fsqrt.d, "fsqrt.d fa2, fa0", fld, "fmv.x.d t3, fa2", dv, ND
    FUN fclass.d, "fclass.d t3, fa0", fld, "nop", dv, ND
    FUN fcvt.w.d, "fcvt.w.d t3, fa0", fld, "nop", dv, ND
    FUN fcvt.wu.d, "fcvt.wu.d t3, fa0", fld, "nop", dv, ND
    FUN fcvt.l.d, "fcvt.l.d t3, fa0", fld, "nop", dv, ND
    FUN fcvt.lu.d, "fcvt.lu.d t3, fa0", fld, "nop", dv, ND
    FUN fcvt.s.d, "fcvt.s.d fa2, fa0", fld, "fmv.x.d t3, fa2", dv, ND
    FFROMI fcvt.d.w, fmv.x.d
    FFROMI fcvt.d.wu, fmv.x.d
    FFROMI fcvt.d.l, fmv.x.d
    FFROMI fcvt.d.lu, fmv.x.d

    MSG "-- single"
    FBIN fadd.s, flw, fmv.x.d, sv, NS
    FBIN fsub.s, flw, fmv.x.d, sv, NS
    FBIN fmul.s, flw, fmv.x.d, sv, NS
    FBIN fdiv.s, flw, fmv.x.d, sv, NS
    FBIN fmin.s, flw, fmv.x.d, sv, NS
    FBIN fmax.s, flw, fmv.x.d, sv, NS
    FBIN fsgnj.s, flw, fmv.x.d, sv, NS
    FBIN fsgnjn.s, flw, fmv.x.d, sv, NS
    FBIN fsgnjx.s, flw, fmv.x.d, sv, NS
    FCMP feq.s, flw, sv, NS
    FCMP flt.s, flw, sv, NS
    FCMP fle.s, flw, sv, NS
    FMA3 fmadd.s, flw, fmv.x.d, sv, NS
    FMA3 fmsub.s, flw, fmv.x.d, sv, NS
    FMA3 fnmsub.s, flw, fmv.x.d, sv, NS
    FMA3 fnmadd.s, flw, fmv.x.d, sv, NS
    FUN fsqrt.s, "fsqrt.s fa2, fa0", flw, "fmv.x.d t3, fa2", sv, NS
    FUN fclass.s, "fclass.s t3, fa0", flw, "nop", sv, NS
    FUN fcvt.w.s, "fcvt.w.s t3, fa0", flw, "nop", sv, NS
    FUN fcvt.wu.s, "fcvt.wu.s t3, fa0", flw, "nop", sv, NS
    FUN fcvt.l.s, "fcvt.l.s t3, fa0", flw, "nop", sv, NS
    FUN fcvt.lu.s, "fcvt.lu.s t3, fa0", flw, "nop", sv, NS
    FUN fcvt.d.s, "fcvt.d.s fa2, fa0", flw, "fmv.x.d t3, fa2", sv, NS
    FUN fmv.x.w, "fmv.x.w t3, fa0", flw, "nop", sv, NS
    FFROMI fcvt.s.w, fmv.x.d
    FFROMI fcvt.s.wu, fmv.x.d
    FFROMI fcvt.s.l, fmv.x.d
    FFROMI fcvt.s.lu, fmv.x.d

    MSG "-- static rounding"
    la s0, dv
    fld fa0, 8*19(s0)
    fld fa1, 8*20(s0)
    csrwi fflags, 0
    fdiv.d fa2, fa0, fa1, rne
    fmv.x.d t0, fa2
    PR rne, t0
    fdiv.d fa2, fa0, fa1, rtz
    fmv.x.d t0, fa2
    PR rtz, t0
    fdiv.d fa2, fa0, fa1, rdn
    fmv.x.d t0, fa2
    PR rdn, t0
    fdiv.d fa2, fa0, fa1, rup
    fmv.x.d t0, fa2
    PR rup, t0
    fdiv.d fa2, fa0, fa1, rmm
    fmv.x.d t0, fa2
    PR rmm, t0
    frflags t0
    PR flags, t0
    /* ties: 2^53+1 to double and 0x1000001 to single */
    li t1, 0x20000000000001
    fcvt.d.l fa2, t1, rmm
    fmv.x.d t0, fa2
    PR tie_d_rmm, t0
    fcvt.d.l fa2, t1, rne
    fmv.x.d t0, fa2
    PR tie_d_rne, t0
    li t1, 0x1000001
    fcvt.s.w fa2, t1, rmm
    fmv.x.w t0, fa2
    PR tie_s_rmm, t0
    li t1, -0x1000003
    fcvt.s.w fa2, t1, rne
    fmv.x.w t0, fa2
    PR tie_s_rne, t0
    li t1, 0x3ff8000000000000
    fmv.d.x fa0, t1
    fcvt.l.d t0, fa0, rmm
    PR cvt_rmm, t0
    fcvt.l.d t0, fa0, rne
    PR cvt_rne, t0
    li t1, 0xc004000000000000
    fmv.d.x fa0, t1
    fcvt.l.d t0, fa0, rmm
    PR cvt_rmm2, t0
    fcvt.l.d t0, fa0, rne
    PR cvt_rne2, t0
    /* add ties: 1 + 2^-53 in RMM and RNE */
    li t1, 0x3ff0000000000000
    fmv.d.x fa0, t1
    li t1, 0x3ca0000000000000
    fmv.d.x fa1, t1
    fadd.d fa2, fa0, fa1, rmm
    fmv.x.d t0, fa2
    PR add_tie_rmm, t0
    fadd.d fa2, fa0, fa1, rne
    fmv.x.d t0, fa2
    PR add_tie_rne, t0

    MSG "-- invalid rm"
    li t0, 5
    csrw frm, t0
    fadd.d fa2, fa0, fa1
    li t0, 7
    csrw frm, t0
    fadd.d fa2, fa0, fa1
    csrwi frm, 0
    .word 0x02b57553 | (5 << 12)
    .word 0x02b57553 | (6 << 12)
    fsgnj.d fa2, fa0, fa1

    MSG "-- nan boxing"
    li t1, 0x000000003f800000
    fmv.d.x fa0, t1
    li t1, 0xffffffff3f800000
    fmv.d.x fa1, t1
    fadd.s fa2, fa0, fa1
    fmv.x.d t0, fa2
    PR unboxed_add, t0
    fsgnj.s fa2, fa1, fa0
    fmv.x.d t0, fa2
    PR unboxed_sgnj, t0
    fclass.s t0, fa0
    PR unboxed_class, t0
    fmv.x.w t0, fa0
    PR fmv_x_w, t0
    fcvt.d.s fa2, fa0
    fmv.x.d t0, fa2
    PR unboxed_cvt, t0
    li t1, 0x80000000
    fmv.w.x fa2, t1
    fmv.x.d t0, fa2
    PR fmv_w_x, t0
    la s0, dv
    flw fa2, 0(s0)
    fmv.x.d t0, fa2
    PR flw_box, t0
    fsw fa1, 8(sp)
    lwu t0, 8(sp)
    PR fsw, t0
    csrr t0, fcsr
    PR fcsr, t0
    li t0, 0xff
    csrw fcsr, t0
    csrr t0, fcsr
    PR fcsr_w, t0
    csrr t0, frm
    PR frm, t0
    csrr t0, fflags
    PR fflags, t0
    csrwi fcsr, 0

    ld ra, 0(sp)
    addi sp, sp, 16
    li a0, 0
    ret

    .section .rodata
    .align 3
dv:
    .dword 0x0000000000000000 /* +0 */
    .dword 0x8000000000000000 /* -0 */
    .dword 0x3ff0000000000000 /* 1 */
    .dword 0xbff0000000000000 /* -1 */
    .dword 0x3ff8000000000000 /* 1.5 */
    .dword 0x0000000000000001 /* min subnormal */
    .dword 0x000fffffffffffff /* max subnormal */
    .dword 0x0010000000000000 /* min normal */
    .dword 0x7fefffffffffffff /* max */
    .dword 0x7ff0000000000000 /* inf */
    .dword 0xfff0000000000000 /* -inf */
    .dword 0x7ff8000000000000 /* qNaN */
    .dword 0x7ff4000000000000 /* sNaN */
    .dword 0x3fd5555555555555 /* 1/3 */
    .dword 0x400921fb54442d18 /* pi */
    .dword 0x43e0000000000000 /* 2^63 */
    .dword 0xc3e0000000000000 /* -2^63 */
    .dword 0x43f0000000000000 /* 2^64 */
    .dword 0x41dfffffffc00000 /* 2^31-1 */
    .dword 0x4024000000000000 /* 10 */
    .dword 0x4008000000000000 /* 3 */
    .dword 0xc00c000000000000 /* -3.5 */
    .dword 0x3fe0000000000000 /* 0.5 */
    .dword 0x8010000000000001 /* -(min normal + ulp) */
sv:
    .dword 0x00000000
    .dword 0x80000000
    .dword 0x3f800000 /* 1 */
    .dword 0xbf800000
    .dword 0x3fc00000 /* 1.5 */
    .dword 0x00000001
    .dword 0x007fffff
    .dword 0x00800000
    .dword 0x7f7fffff
    .dword 0x7f800000
    .dword 0xff800000
    .dword 0x7fc00000
    .dword 0x7fa00000 /* sNaN */
    .dword 0x3eaaaaab /* 1/3 */
    .dword 0x40490fdb /* pi */
    .dword 0x5f000000 /* 2^63 */
    .dword 0xdf000000
    .dword 0x4f000000 /* 2^31 */
    .dword 0x41200000 /* 10 */
    .dword 0x40400000 /* 3 */
    .dword 0xc0600000 /* -3.5 */
    .dword 0x80800001
ints:
    .dword 0
    .dword 1
    .dword -1
    .dword 0x7fffffff
    .dword 0x80000000
    .dword 0xffffffff
    .dword 0x7fffffffffffffff
    .dword 0x8000000000000000
    .dword 0xffffffffffffffff
    .dword 0x20000000000001
    .dword 0x1000001
    .dword -0x1000003
    .dword 0x123456789abcdef
    .dword 0xfedcba987654321
    .dword 0x7ffffffffffffc00
    .dword 0x00000000ffffff80
