/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv-fpu.c - the F and D extensions on host IEEE arithmetic. Each
 * operation is written once, in rv-fpu-ops.c.inc, included for singles and
 * for doubles. Arithmetic (and fcvt.s.d) first takes the fast path: run in
 * the guest's rounding mode (no MXCSR access at all in RNE); if the result
 * is finite and strictly between the smallest normal and the largest finite
 * magnitude, only NX can have been raised, and exact arithmetic in RNE says
 * whether it was (TwoSum, fma residuals). Otherwise, and for RMM, the
 * host-flags path runs the operation again after one ldmxcsr (rounding
 * mode, flags cleared; fenv off x86-64) and reads the flags with one
 * stmxcsr, the costly half. The host's state stays round to nearest, all
 * exceptions masked, no FTZ/DAZ. Volatile operands keep the compiler from
 * moving the arithmetic across the mode switches. RMM (ties to max
 * magnitude), which hosts lack, is RNE plus an exact tie check in
 * binary128. NaN results are canonical; singles are NaN-boxed.
 */
#include <fenv.h>
#include <math.h>

#include "emulator/rv-hart.h"

#ifdef __clang__
#pragma STDC FENV_ACCESS ON
#endif

#define FFLAG_NX 1u
#define FFLAG_UF 2u
#define FFLAG_OF 4u
#define FFLAG_DZ 8u
#define FFLAG_NV 16u

#define RM_RNE 0
#define RM_RTZ 1
#define RM_RDN 2
#define RM_RUP 3
#define RM_RMM 4

#define BOX_S 0xffffffff00000000ULL

enum fop { FOP_ADD, FOP_SUB, FOP_MUL, FOP_DIV, FOP_SQRT, FOP_FMA };

typedef __float128 rv_f128;

/*
 * fp_begin(rm) sets host rounding mode @rm (FE_*) and clears the host
 * exception flags; fp_end(rm) returns the FE_* flags raised since and
 * leaves the host rounding to nearest. On x86-64 this is MXCSR directly:
 * glibc's fenv calls also save and reload the x87 state, and stmxcsr is
 * the costly half (about 10 ns), so each pair does one ldmxcsr of a
 * constant (MXCSR_HOST: all exceptions masked, no FTZ/DAZ, plus the
 * rounding control; FE_* rounding values are MXCSR's RC bits shifted right
 * by 3, and FE_* flags equal MXCSR's), one stmxcsr, and a second ldmxcsr
 * only to restore a rounding mode other than nearest.
 */
#if defined(__x86_64__)
#define MXCSR_HOST 0x1f80u

static void fp_begin(int rm)
{
    unsigned m = MXCSR_HOST | ((unsigned)rm << 3);

    __asm__ volatile("ldmxcsr %0" : : "m"(m) : "memory");
}

static int fp_end(int rm)
{
    unsigned m;

    __asm__ volatile("stmxcsr %0" : "=m"(m) : : "memory");
    if (rm != FE_TONEAREST) {
        unsigned h = MXCSR_HOST;

        __asm__ volatile("ldmxcsr %0" : : "m"(h) : "memory");
    }
    return (int)m & FE_ALL_EXCEPT;
}

/* Rounding mode only, for the fast path, which never reads the flags. */
static void fp_round(int rm)
{
    if (rm != FE_TONEAREST) {
        fp_begin(rm);
    }
}

static void fp_round_end(int rm)
{
    unsigned h = MXCSR_HOST;

    if (rm != FE_TONEAREST) {
        __asm__ volatile("ldmxcsr %0" : : "m"(h) : "memory");
    }
}
#else
static void fp_begin(int rm)
{
    if (rm != FE_TONEAREST) {
        fesetround(rm);
    }
    feclearexcept(FE_ALL_EXCEPT);
}

static int fp_end(int rm)
{
    int fe = fetestexcept(FE_ALL_EXCEPT);

    if (rm != FE_TONEAREST) {
        fesetround(FE_TONEAREST);
    }
    return fe;
}

static void fp_round(int rm)
{
    if (rm != FE_TONEAREST) {
        fesetround(rm);
    }
}

static void fp_round_end(int rm)
{
    if (rm != FE_TONEAREST) {
        fesetround(FE_TONEAREST);
    }
}
#endif

static uint32_t flags_from_host(int fe)
{
    uint32_t f = 0;

    if (fe & FE_INEXACT) {
        f |= FFLAG_NX;
    }
    if (fe & FE_UNDERFLOW) {
        f |= FFLAG_UF;
    }
    if (fe & FE_OVERFLOW) {
        f |= FFLAG_OF;
    }
    if (fe & FE_DIVBYZERO) {
        f |= FFLAG_DZ;
    }
    if (fe & FE_INVALID) {
        f |= FFLAG_NV;
    }
    return f;
}

static int host_rm(unsigned rm)
{
    switch (rm) {
    case RM_RTZ:
        return FE_TOWARDZERO;
    case RM_RDN:
        return FE_DOWNWARD;
    case RM_RUP:
        return FE_UPWARD;
    default:
        return FE_TONEAREST;
    }
}

/*
 * The rounding error of @s = @p + @c rounded to nearest (TwoSum): exact,
 * so s + error == p + c, when nothing overflows.
 */
#define TWO_SUM_ERR(s, p, c) (((p) - ((s) - ((s) - (p)))) + ((c) - ((s) - (p))))

/* Is @p + @c exactly @mid? */
static bool sum_is(rv_f128 p, rv_f128 c, rv_f128 mid)
{
    rv_f128 s = p + c;

    return s == mid && TWO_SUM_ERR(s, p, c) == 0;
}

/*
 * The fast path's exactness tests, run in RNE on finite operands whose
 * result @r is normal and not the largest finite value, so none overflows.
 * Is @p + @c exactly @r? (A single's sum is a double or not a single.)
 */
static bool sum_exact(double p, double c, double r)
{
    double s = p + c;

    return s == r && TWO_SUM_ERR(s, p, c) == 0;
}

/*
 * Is @x * @y exactly @z, for doubles? fma() rounds the exact difference,
 * which is a multiple of at least 2^-1003 when |z| >= 2^-899 and so never
 * rounds to zero unless it is zero. -1: too small to tell.
 */
static int prod_is_d(double x, double y, double z)
{
    if (!(fabs(z) >= 0x1p-899)) {
        return -1;
    }
    return fma(x, y, -z) == 0;
}

/*
 * Is @a * @b + @c exactly @r, for doubles? With ph + pl == a * b exactly
 * and s + e == ph + c, the difference from @r is (s - r) + e + pl, where
 * s - r is exact when s and r are within a factor 2 (Sterbenz), and
 * u + f == (s - r) + e is a double only if f == 0. -1: cannot tell.
 */
static int fma_is_d(double a, double b, double c, double r)
{
    double ph = a * b, pl, s, e, t, u;

    if (!isfinite(ph) || (a != 0 && b != 0 && !(fabs(ph) >= 0x1p-899))) {
        return -1;
    }
    pl = fma(a, b, -ph);
    s = ph + c;
    e = TWO_SUM_ERR(s, ph, c);
    if (!isfinite(s) || signbit(s) != signbit(r) || !(fabs(s) <= 2 * fabs(r)) ||
        !(fabs(r) <= 2 * fabs(s))) {
        return -1;
    }
    t = s - r;
    u = t + e;
    return TWO_SUM_ERR(u, t, e) == 0 && u == -pl;
}

/* Is integer @src of @kind (0 w, 1 wu, 2 l, 3 lu) below 2^@bits in size? */
static bool int_fits(uint64_t src, unsigned kind, unsigned bits)
{
    uint64_t m;

    switch (kind) {
    case 0:
        m = (uint64_t)(int64_t)(int32_t)src;
        break;
    case 1:
        m = (uint32_t)src;
        break;
    default:
        m = src;
        break;
    }
    if (!(kind & 1) && (int64_t)m < 0) {
        m = -m;
    }
    return m < (1ULL << bits);
}

/*
 * Is the exact result of @op exactly @mid? Products of two doubles and of
 * a 54-bit midpoint with a double are exact in binary128.
 */
static bool is_tie(enum fop op, rv_f128 a, rv_f128 b, rv_f128 c, rv_f128 mid)
{
    switch (op) {
    case FOP_ADD:
        return sum_is(a, b, mid);
    case FOP_SUB:
        return sum_is(a, -(rv_f128)b, mid);
    case FOP_MUL:
        return (rv_f128)a * (rv_f128)b == mid;
    case FOP_DIV:
        return mid * (rv_f128)b == (rv_f128)a;
    case FOP_FMA:
        return sum_is((rv_f128)a * (rv_f128)b, c, mid);
    default:
        return false; /* a square root is never halfway */
    }
}

/* Round @v to an integral value per @rm (no flags). */
static double round_int(double v, unsigned rm)
{
    switch (rm) {
    case RM_RTZ:
        return trunc(v);
    case RM_RDN:
        return floor(v);
    case RM_RUP:
        return ceil(v);
    case RM_RMM:
        return round(v);
    default:
        return nearbyint(v);
    }
}

/*
 * Convert @v to a 32- or 64-bit (un)signed integer with saturation and NV,
 * as fcvt.{w,wu,l,lu}.{s,d}. 32-bit results are sign-extended.
 */
static uint64_t cvt_to_int(double v, unsigned rm, unsigned kind, uint32_t *fl)
{
    bool is_signed = !(kind & 1), is64 = kind >= 2;
    double r;

    if (isnan(v)) {
        *fl |= FFLAG_NV;
        if (is64) {
            return is_signed ? (uint64_t)INT64_MAX : UINT64_MAX;
        }
        return is_signed ? (uint64_t)INT32_MAX : UINT64_MAX;
    }
    r = round_int(v, rm);
    if (is64 && is_signed) {
        if (r < -9223372036854775808.0) {
            *fl |= FFLAG_NV;
            return (uint64_t)INT64_MIN;
        }
        if (r >= 9223372036854775808.0) {
            *fl |= FFLAG_NV;
            return (uint64_t)INT64_MAX;
        }
        if (r != v) {
            *fl |= FFLAG_NX;
        }
        return (uint64_t)(int64_t)r;
    }
    if (is64) {
        if (r < 0) {
            *fl |= FFLAG_NV;
            return 0;
        }
        if (r >= 18446744073709551616.0) {
            *fl |= FFLAG_NV;
            return UINT64_MAX;
        }
        if (r != v) {
            *fl |= FFLAG_NX;
        }
        return (uint64_t)r;
    }
    if (is_signed) {
        if (r < -2147483648.0) {
            *fl |= FFLAG_NV;
            return (uint64_t)(int64_t)INT32_MIN;
        }
        if (r > 2147483647.0) {
            *fl |= FFLAG_NV;
            return (uint64_t)INT32_MAX;
        }
        if (r != v) {
            *fl |= FFLAG_NX;
        }
        return (uint64_t)(int64_t)(int32_t)r;
    }
    if (r < 0) {
        *fl |= FFLAG_NV;
        return 0;
    }
    if (r > 4294967295.0) {
        *fl |= FFLAG_NV;
        return UINT64_MAX;
    }
    if (r != v) {
        *fl |= FFLAG_NX;
    }
    return (uint64_t)(int64_t)(int32_t)(uint32_t)r;
}

/* Integer @src of @kind (0 w, 1 wu, 2 l, 3 lu), exactly. */
static rv_f128 int_value(uint64_t src, unsigned kind)
{
    switch (kind) {
    case 0:
        return (rv_f128)(int32_t)src;
    case 1:
        return (rv_f128)(uint32_t)src;
    case 2:
        return (rv_f128)(int64_t)src;
    default:
        return (rv_f128)src;
    }
}

static bool fma_inf_zero(double a, double b)
{
    return (isinf(a) && b == 0) || (a == 0 && isinf(b));
}

static unsigned fclass_bits(bool neg, unsigned exp_all, bool exp_zero,
                            bool frac_zero, bool quiet)
{
    if (exp_all) {
        if (frac_zero) {
            return neg ? 1u << 0 : 1u << 7;
        }
        return quiet ? 1u << 9 : 1u << 8;
    }
    if (exp_zero) {
        if (frac_zero) {
            return neg ? 1u << 3 : 1u << 4;
        }
        return neg ? 1u << 2 : 1u << 5;
    }
    return neg ? 1u << 1 : 1u << 6;
}

/* feq (2), flt (1), fle (0) on doubles; @sa/@sb say sNaN. */
static uint64_t fcmp(double a, double b, bool sa, bool sb, unsigned op,
                     uint32_t *fl)
{
    if (isnan(a) || isnan(b)) {
        if (op != 2 || sa || sb) {
            *fl |= FFLAG_NV;
        }
        return 0;
    }
    switch (op) {
    case 2:
        return a == b;
    case 1:
        return a < b;
    default:
        return a <= b;
    }
}

static float from_other_s(uint64_t reg, unsigned rm, uint32_t *fl);
static double from_other_d(uint64_t reg, unsigned rm, uint32_t *fl);

#define FN(name)             name##_s
#define FT                   float
#define UT                   uint32_t
#define FT_SINT              int32_t
#define F_EXP                0x7f800000u
#define F_FRAC               0x007fffffu
#define F_QUIET              0x00400000u
#define F_SIGN               0x80000000u
#define F_CNAN               0x7fc00000u
#define F_MIN_NORMAL         0x1p-126f
#define F_MAX                0x1.fffffep127f
#define F_PREC               24
#define F_FABS               fabsf
#define F_PROD_IS(x, y, z)   ((double)(x) * (double)(y) == (double)(z))
#define F_FMA_IS(a, b, c, r) sum_exact((double)(a) * (double)(b), c, r)
#define F_RD(reg)            ((reg) >> 32 == 0xffffffffu ? (uint32_t)(reg) : F_CNAN)
#define F_WR(u)              (BOX_S | (u))
#define F_OTHER              1
#define F_SQRT               sqrtf
#define F_FMA                fmaf
#define F_NEXTAFTER          nextafterf
#define F_COPYSIGN           copysignf
#include "emulator/rv-fpu-ops.c.inc"
#undef FN
#undef FT
#undef UT
#undef FT_SINT
#undef F_EXP
#undef F_FRAC
#undef F_QUIET
#undef F_SIGN
#undef F_CNAN
#undef F_MIN_NORMAL
#undef F_MAX
#undef F_PREC
#undef F_FABS
#undef F_PROD_IS
#undef F_FMA_IS
#undef F_RD
#undef F_WR
#undef F_OTHER
#undef F_SQRT
#undef F_FMA
#undef F_NEXTAFTER
#undef F_COPYSIGN

#define FN(name)     name##_d
#define FT           double
#define UT           uint64_t
#define FT_SINT      int64_t
#define F_EXP        0x7ff0000000000000ULL
#define F_FRAC       0x000fffffffffffffULL
#define F_QUIET      0x0008000000000000ULL
#define F_SIGN       0x8000000000000000ULL
#define F_CNAN       0x7ff8000000000000ULL
#define F_MIN_NORMAL 0x1p-1022
#define F_MAX        0x1.fffffffffffffp1023
#define F_PREC       53
#define F_FABS       fabs
#define F_PROD_IS    prod_is_d
#define F_FMA_IS     fma_is_d
#define F_RD(reg)    (reg)
#define F_WR(u)      (u)
#define F_OTHER      0
#define F_SQRT       sqrt
#define F_FMA        fma
#define F_NEXTAFTER  nextafter
#define F_COPYSIGN   copysign
#include "emulator/rv-fpu-ops.c.inc"

static float d_to_s_host(double d, int rm, int *fe)
{
    volatile double vd = d;
    volatile float r;

    fp_begin(rm);
    r = (float)vd;
    *fe = fp_end(rm);
    return r;
}

/* fcvt.s.d, with the fast path of arith_s(): a normal result only is NX. */
static float from_other_s(uint64_t reg, unsigned rm, uint32_t *fl)
{
    double d = from_d(reg);
    volatile double vd = d;
    volatile float vr;
    int fe, fe2;
    float r, z, za;
    rv_f128 mid;

    if (rm != RM_RMM) {
        fp_round(host_rm(rm));
        vr = (float)vd;
        fp_round_end(host_rm(rm));
        r = vr;
        if (fabsf(r) > 0x1p-126f && fabsf(r) < 0x1.fffffep127f) {
            *fl |= (double)r == d ? 0 : FFLAG_NX;
            return r;
        }
    }
    r = d_to_s_host(d, host_rm(rm), &fe);
    if (rm == RM_RMM && (fe & FE_INEXACT)) {
        z = d_to_s_host(d, FE_TOWARDZERO, &fe2);
        if (rmm_mid_s(r, z, &za, &mid) && (rv_f128)d == mid) {
            r = za;
        }
    }
    *fl |= flags_from_host(fe);
    return r;
}

/* fcvt.d.s: exact; a signalling NaN raises NV. */
static double from_other_d(uint64_t reg, unsigned rm, uint32_t *fl)
{
    uint32_t u = reg >> 32 == 0xffffffffu ? (uint32_t)reg : 0x7fc00000u;

    (void)rm;
    if (snan_s(u)) {
        *fl |= FFLAG_NV;
    }
    return (double)from_s(u);
}

/* Does the OP-FP instruction with funct7 @f7 round (has an rm field)? */
static bool op_rounds(unsigned f7)
{
    switch (f7 >> 2) {
    case 0x04: /* fsgnj */
    case 0x05: /* fmin, fmax */
    case 0x14: /* feq, flt, fle */
    case 0x1c: /* fmv.x, fclass */
    case 0x1e: /* fmv.f.x */
        return false;
    default:
        return true;
    }
}

int rv_fpu_exec(struct rv_cpu *cpu, uint32_t insn)
{
    unsigned rm = (insn >> 12) & 7, op = insn & 0x7f;

    if (!rv_fpu_enabled(cpu)) {
        return -1;
    }
    if (op != 0x53 || op_rounds(insn >> 25)) {
        if (rm == 7) {
            rm = cpu->frm;
        }
        if (rm > RM_RMM) {
            return -1;
        }
    }
    switch ((insn >> 25) & 3) {
    case 0:
        return exec_s(cpu, insn, op, rm);
    case 1:
        return exec_d(cpu, insn, op, rm);
    default:
        return -1; /* fmt H or Q */
    }
}
