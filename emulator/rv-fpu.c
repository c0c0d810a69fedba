/* SPDX-License-Identifier: MIT */
/*
 * emulator/rv-fpu.c - the F and D extensions on host IEEE arithmetic: each
 * operation runs under the guest's rounding mode with the host exception
 * flags cleared before and read after, through volatile operands so the
 * compiler cannot move the arithmetic across the fenv calls. RMM (ties to
 * max magnitude), which hosts lack, is RNE plus an exact tie check in wider
 * precision. NaN results are canonical; singles are NaN-boxed.
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

#define CNAN_S 0x7fc00000u
#define CNAN_D 0x7ff8000000000000ULL
#define BOX_S  0xffffffff00000000ULL

enum fop { FOP_ADD, FOP_SUB, FOP_MUL, FOP_DIV, FOP_SQRT, FOP_FMA };

typedef __float128 rv_f128;

/*
 * Run host FP code under rounding mode @rm (FE_*) with clear exception
 * flags: fp_begin() returns the state to hand to fp_end(), which returns
 * the FE_* flags raised and restores round-to-nearest. On x86-64 this is
 * MXCSR directly (glibc's fenv calls also save and reload the x87 state,
 * which made every FP instruction ~100 ns); FE_* bits equal MXCSR's there.
 */
#if defined(__x86_64__)
#define MXCSR_FLAGS 0x3fu
#define MXCSR_RC    0x6000u

static unsigned fp_begin(int rm)
{
    unsigned old, m;

    __asm__ volatile("stmxcsr %0" : "=m"(old) : : "memory");
    m = (old & ~(MXCSR_FLAGS | MXCSR_RC)) | ((unsigned)rm << 3);
    __asm__ volatile("ldmxcsr %0" : : "m"(m) : "memory");
    return old;
}

static int fp_end(unsigned old)
{
    unsigned m;

    __asm__ volatile("stmxcsr %0" : "=m"(m) : : "memory");
    old &= ~(MXCSR_FLAGS | MXCSR_RC);
    __asm__ volatile("ldmxcsr %0" : : "m"(old) : "memory");
    return (int)m & FE_ALL_EXCEPT;
}
#else
static unsigned fp_begin(int rm)
{
    if (rm != FE_TONEAREST) {
        fesetround(rm);
    }
    feclearexcept(FE_ALL_EXCEPT);
    return (unsigned)rm;
}

static int fp_end(unsigned rm)
{
    int fe = fetestexcept(FE_ALL_EXCEPT);

    if ((int)rm != FE_TONEAREST) {
        fesetround(FE_TONEAREST);
    }
    return fe;
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

static uint32_t f32_bits(float f)
{
    uint32_t u;

    memcpy(&u, &f, 4);
    return u;
}

static float f32_from(uint32_t u)
{
    float f;

    memcpy(&f, &u, 4);
    return f;
}

static uint64_t f64_bits(double d)
{
    uint64_t u;

    memcpy(&u, &d, 8);
    return u;
}

static double f64_from(uint64_t u)
{
    double d;

    memcpy(&d, &u, 8);
    return d;
}

/* The single in @v, or the canonical NaN if @v is not properly boxed. */
static uint32_t unbox_s(uint64_t v)
{
    return (v >> 32) == 0xffffffffu ? (uint32_t)v : CNAN_S;
}

static bool snan_s(uint32_t u)
{
    return (u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu) &&
           !(u & 0x400000u);
}

static bool snan_d(uint64_t u)
{
    return (u & 0x7ff0000000000000ULL) == 0x7ff0000000000000ULL &&
           (u & 0xfffffffffffffULL) && !(u & 0x8000000000000ULL);
}

static double op_d_host(enum fop op, double a, double b, double c, int rm,
                        int *fe)
{
    volatile double va = a, vb = b, vc = c;
    volatile double r;
    unsigned fs;

    fs = fp_begin(rm);
    switch (op) {
    case FOP_ADD:
        r = va + vb;
        break;
    case FOP_SUB:
        r = va - vb;
        break;
    case FOP_MUL:
        r = va * vb;
        break;
    case FOP_DIV:
        r = va / vb;
        break;
    case FOP_SQRT:
        r = sqrt(va);
        break;
    default:
        r = fma(va, vb, vc);
        break;
    }
    *fe = fp_end(fs);
    return r;
}

static float op_s_host(enum fop op, float a, float b, float c, int rm, int *fe)
{
    volatile float va = a, vb = b, vc = c;
    volatile float r;
    unsigned fs;

    fs = fp_begin(rm);
    switch (op) {
    case FOP_ADD:
        r = va + vb;
        break;
    case FOP_SUB:
        r = va - vb;
        break;
    case FOP_MUL:
        r = va * vb;
        break;
    case FOP_DIV:
        r = va / vb;
        break;
    case FOP_SQRT:
        r = sqrtf(va);
        break;
    default:
        r = fmaf(va, vb, vc);
        break;
    }
    *fe = fp_end(fs);
    return r;
}

/* Is @p + @c exactly @mid? (TwoSum: s + e == p + c exactly.) */
static bool sum_is(rv_f128 p, rv_f128 c, rv_f128 mid)
{
    rv_f128 s = p + c;
    rv_f128 bb = s - p;
    rv_f128 e = (p - (s - bb)) + (c - bb);

    return s == mid && e == 0;
}

/*
 * Is the exact result of @op exactly @mid? Products of two doubles and of
 * a 54-bit midpoint with a double are exact in binary128.
 */
static bool is_tie_d(enum fop op, double a, double b, double c, rv_f128 mid)
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

static double arith_d(enum fop op, double a, double b, double c, unsigned rm,
                      uint32_t *fl)
{
    int fe, fe2;
    double r = op_d_host(op, a, b, c, host_rm(rm), &fe);

    if (rm == RM_RMM && (fe & FE_INEXACT) && isfinite(r)) {
        double z = op_d_host(op, a, b, c, FE_TOWARDZERO, &fe2);

        if (r == z && signbit(r) == signbit(z)) {
            double za = nextafter(z, copysign(INFINITY, z));
            rv_f128 mid = ((rv_f128)z + (rv_f128)za) / 2;

            if (isfinite(za) && is_tie_d(op, a, b, c, mid)) {
                r = za;
            }
        }
        feclearexcept(FE_ALL_EXCEPT);
    }
    *fl |= flags_from_host(fe);
    return r;
}

static bool is_tie_s(enum fop op, float a, float b, float c, double mid)
{
    return is_tie_d(op, a, b, c, (rv_f128)mid);
}

static float arith_s(enum fop op, float a, float b, float c, unsigned rm,
                     uint32_t *fl)
{
    int fe, fe2;
    float r = op_s_host(op, a, b, c, host_rm(rm), &fe);

    if (rm == RM_RMM && (fe & FE_INEXACT) && isfinite(r)) {
        float z = op_s_host(op, a, b, c, FE_TOWARDZERO, &fe2);

        if (r == z && signbit(r) == signbit(z)) {
            float za = nextafterf(z, copysignf(INFINITY, z));
            double mid = ((double)z + (double)za) / 2;

            if (isfinite(za) && is_tie_s(op, a, b, c, mid)) {
                r = za;
            }
        }
        feclearexcept(FE_ALL_EXCEPT);
    }
    *fl |= flags_from_host(fe);
    return r;
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

/* Integer @src of @kind (0 w, 1 wu, 2 l, 3 lu) as the long double value. */
static long double int_value(uint64_t src, unsigned kind)
{
    switch (kind) {
    case 0:
        return (long double)(int32_t)src;
    case 1:
        return (long double)(uint32_t)src;
    case 2:
        return (long double)(int64_t)src;
    default:
        return (long double)src;
    }
}

static double int_to_d_host(uint64_t src, unsigned kind, int rm, int *fe)
{
    volatile uint64_t s = src;
    volatile double r;
    unsigned fs;

    fs = fp_begin(rm);
    switch (kind) {
    case 0:
        r = (double)(int32_t)s;
        break;
    case 1:
        r = (double)(uint32_t)s;
        break;
    case 2:
        r = (double)(int64_t)s;
        break;
    default:
        r = (double)s;
        break;
    }
    *fe = fp_end(fs);
    return r;
}

static float int_to_s_host(uint64_t src, unsigned kind, int rm, int *fe)
{
    volatile uint64_t s = src;
    volatile float r;
    unsigned fs;

    fs = fp_begin(rm);
    switch (kind) {
    case 0:
        r = (float)(int32_t)s;
        break;
    case 1:
        r = (float)(uint32_t)s;
        break;
    case 2:
        r = (float)(int64_t)s;
        break;
    default:
        r = (float)s;
        break;
    }
    *fe = fp_end(fs);
    return r;
}

static double int_to_d(uint64_t src, unsigned kind, unsigned rm, uint32_t *fl)
{
    int fe, fe2;
    double r = int_to_d_host(src, kind, host_rm(rm), &fe);

    if (rm == RM_RMM && (fe & FE_INEXACT)) {
        double z = int_to_d_host(src, kind, FE_TOWARDZERO, &fe2);

        if (r == z) {
            double za = nextafter(z, copysign(INFINITY, z));
            long double mid = ((long double)z + (long double)za) / 2;

            if (int_value(src, kind) == mid) {
                r = za;
            }
        }
    }
    *fl |= flags_from_host(fe);
    return r;
}

static float int_to_s(uint64_t src, unsigned kind, unsigned rm, uint32_t *fl)
{
    int fe, fe2;
    float r = int_to_s_host(src, kind, host_rm(rm), &fe);

    if (rm == RM_RMM && (fe & FE_INEXACT)) {
        float z = int_to_s_host(src, kind, FE_TOWARDZERO, &fe2);

        if (r == z) {
            float za = nextafterf(z, copysignf(INFINITY, z));
            long double mid = ((long double)z + (long double)za) / 2;

            if (int_value(src, kind) == mid) {
                r = za;
            }
        }
    }
    *fl |= flags_from_host(fe);
    return r;
}

static float d_to_s_host(double d, int rm, int *fe)
{
    volatile double vd = d;
    volatile float r;
    unsigned fs;

    fs = fp_begin(rm);
    r = (float)vd;
    *fe = fp_end(fs);
    return r;
}

static float d_to_s(double d, unsigned rm, uint32_t *fl)
{
    int fe, fe2;
    float r = d_to_s_host(d, host_rm(rm), &fe);

    if (rm == RM_RMM && (fe & FE_INEXACT) && isfinite(r)) {
        float z = d_to_s_host(d, FE_TOWARDZERO, &fe2);

        if (r == z && signbit(r) == signbit(z)) {
            float za = nextafterf(z, copysignf(INFINITY, z));

            if (isfinite(za) && d == ((double)z + (double)za) / 2) {
                r = za;
            }
        }
    }
    *fl |= flags_from_host(fe);
    return r;
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

static uint64_t fclass_s(uint32_t u)
{
    unsigned e = (u >> 23) & 0xff;

    return fclass_bits(u >> 31, e == 0xff, e == 0, !(u & 0x7fffff),
                       (u & 0x400000) != 0);
}

static uint64_t fclass_d(uint64_t u)
{
    unsigned e = (u >> 52) & 0x7ff;

    return fclass_bits(u >> 63, e == 0x7ff, e == 0, !(u & 0xfffffffffffffULL),
                       (u & 0x8000000000000ULL) != 0);
}

static uint64_t box_s(float f)
{
    uint32_t u = f32_bits(f);

    if (isnan(f)) {
        u = CNAN_S;
    }
    return BOX_S | u;
}

static uint64_t canon_d(double d)
{
    return isnan(d) ? CNAN_D : f64_bits(d);
}

static uint32_t minmax_s(uint32_t a, uint32_t b, bool is_max, uint32_t *fl)
{
    float fa = f32_from(a), fb = f32_from(b);

    if (snan_s(a) || snan_s(b)) {
        *fl |= FFLAG_NV;
    }
    if (isnan(fa) && isnan(fb)) {
        return CNAN_S;
    }
    if (isnan(fa)) {
        return b;
    }
    if (isnan(fb)) {
        return a;
    }
    if (fa == fb) {
        /* -0 < +0 */
        return is_max ? (a & b) : (a | b);
    }
    return (fa < fb) != is_max ? a : b;
}

static uint64_t minmax_d(uint64_t a, uint64_t b, bool is_max, uint32_t *fl)
{
    double fa = f64_from(a), fb = f64_from(b);

    if (snan_d(a) || snan_d(b)) {
        *fl |= FFLAG_NV;
    }
    if (isnan(fa) && isnan(fb)) {
        return CNAN_D;
    }
    if (isnan(fa)) {
        return b;
    }
    if (isnan(fb)) {
        return a;
    }
    if (fa == fb) {
        return is_max ? (a & b) : (a | b);
    }
    return (fa < fb) != is_max ? a : b;
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

static bool fma_inf_zero(double a, double b)
{
    return (isinf(a) && b == 0) || (a == 0 && isinf(b));
}

int rv_fpu_exec(struct rv_cpu *cpu, uint32_t insn)
{
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31;
    unsigned rs2 = (insn >> 20) & 31, rs3 = insn >> 27;
    unsigned rm = (insn >> 12) & 7, f7 = insn >> 25;
    unsigned op = insn & 0x7f;
    bool dbl = (f7 & 1) != 0;
    uint32_t fl = 0;
    uint64_t *f = cpu->f;

    if (!rv_fpu_enabled(cpu)) {
        return -1;
    }
    if (((f7 >> 1) & 1) != 0 && op == 0x53) {
        return -1; /* fmt H or Q */
    }
    /* Resolve the rounding mode for instructions that have one. */
    {
        unsigned eff = rm == 7 ? cpu->frm : rm;
        bool uses_rm = op != 0x53 ||
                       !(f7 == 0x10 || f7 == 0x11 || f7 == 0x14 || f7 == 0x15 ||
                         f7 == 0x50 || f7 == 0x51 || f7 == 0x70 || f7 == 0x71 ||
                         f7 == 0x78 || f7 == 0x79);

        if (uses_rm) {
            if (eff > 4) {
                return -1;
            }
            rm = eff;
        }
    }
    if (op != 0x53) {
        unsigned fmt = (insn >> 25) & 3;
        bool neg_prod = op == 0x4b || op == 0x4f;
        bool neg_add = op == 0x47 || op == 0x4f;

        if (fmt == 0) {
            uint32_t ua = unbox_s(f[rs1]), ub = unbox_s(f[rs2]);
            uint32_t uc = unbox_s(f[rs3]);
            float a = f32_from(ua), b = f32_from(ub), c = f32_from(uc);
            float r;

            if (fma_inf_zero(a, b)) {
                fl |= FFLAG_NV;
            }
            r = arith_s(FOP_FMA, neg_prod ? -a : a, b, neg_add ? -c : c, rm,
                        &fl);
            f[rd] = box_s(r);
        } else if (fmt == 1) {
            double a = f64_from(f[rs1]), b = f64_from(f[rs2]);
            double c = f64_from(f[rs3]);
            double r;

            if (fma_inf_zero(a, b)) {
                fl |= FFLAG_NV;
            }
            r = arith_d(FOP_FMA, neg_prod ? -a : a, b, neg_add ? -c : c, rm,
                        &fl);
            f[rd] = canon_d(r);
        } else {
            return -1;
        }
        goto done;
    }
    switch (f7) {
    case 0x00:
    case 0x04:
    case 0x08:
    case 0x0c:
    case 0x2c: {
        enum fop o = f7 == 0x00   ? FOP_ADD
                     : f7 == 0x04 ? FOP_SUB
                     : f7 == 0x08 ? FOP_MUL
                     : f7 == 0x0c ? FOP_DIV
                                  : FOP_SQRT;

        if (o == FOP_SQRT && rs2 != 0) {
            return -1;
        }
        f[rd] = box_s(arith_s(o, f32_from(unbox_s(f[rs1])),
                              f32_from(unbox_s(f[rs2])), 0, rm, &fl));
        break;
    }
    case 0x01:
    case 0x05:
    case 0x09:
    case 0x0d:
    case 0x2d: {
        enum fop o = f7 == 0x01   ? FOP_ADD
                     : f7 == 0x05 ? FOP_SUB
                     : f7 == 0x09 ? FOP_MUL
                     : f7 == 0x0d ? FOP_DIV
                                  : FOP_SQRT;

        if (o == FOP_SQRT && rs2 != 0) {
            return -1;
        }
        f[rd] =
            canon_d(arith_d(o, f64_from(f[rs1]), f64_from(f[rs2]), 0, rm, &fl));
        break;
    }
    case 0x10: {
        uint32_t a = unbox_s(f[rs1]), b = unbox_s(f[rs2]), s;

        switch (rm) {
        case 0:
            s = b;
            break;
        case 1:
            s = ~b;
            break;
        case 2:
            s = a ^ b;
            break;
        default:
            return -1;
        }
        f[rd] = BOX_S | (a & 0x7fffffffu) | (s & 0x80000000u);
        break;
    }
    case 0x11: {
        uint64_t a = f[rs1], b = f[rs2], s;

        switch (rm) {
        case 0:
            s = b;
            break;
        case 1:
            s = ~b;
            break;
        case 2:
            s = a ^ b;
            break;
        default:
            return -1;
        }
        f[rd] = (a & ~(1ULL << 63)) | (s & (1ULL << 63));
        break;
    }
    case 0x14:
        if (rm > 1) {
            return -1;
        }
        f[rd] = BOX_S | minmax_s(unbox_s(f[rs1]), unbox_s(f[rs2]), rm, &fl);
        break;
    case 0x15:
        if (rm > 1) {
            return -1;
        }
        f[rd] = minmax_d(f[rs1], f[rs2], rm, &fl);
        break;
    case 0x20: /* fcvt.s.d */
        if (rs2 != 1) {
            return -1;
        }
        f[rd] = box_s(d_to_s(f64_from(f[rs1]), rm, &fl));
        break;
    case 0x21: { /* fcvt.d.s */
        uint32_t a = unbox_s(f[rs1]);

        if (rs2 != 0) {
            return -1;
        }
        if (snan_s(a)) {
            fl |= FFLAG_NV;
        }
        f[rd] = canon_d((double)f32_from(a));
        break;
    }
    case 0x50:
    case 0x51:
        if (rm > 2) {
            return -1;
        }
        if (dbl) {
            cpu->x[rd] = fcmp(f64_from(f[rs1]), f64_from(f[rs2]),
                              snan_d(f[rs1]), snan_d(f[rs2]), rm, &fl);
        } else {
            uint32_t a = unbox_s(f[rs1]), b = unbox_s(f[rs2]);

            cpu->x[rd] =
                fcmp(f32_from(a), f32_from(b), snan_s(a), snan_s(b), rm, &fl);
        }
        break;
    case 0x60:
    case 0x61:
        if (rs2 > 3) {
            return -1;
        }
        cpu->x[rd] = cvt_to_int(dbl ? f64_from(f[rs1])
                                    : (double)f32_from(unbox_s(f[rs1])),
                                rm, rs2, &fl);
        break;
    case 0x68:
        if (rs2 > 3) {
            return -1;
        }
        f[rd] = box_s(int_to_s(cpu->x[rs1], rs2, rm, &fl));
        break;
    case 0x69:
        if (rs2 > 3) {
            return -1;
        }
        f[rd] = f64_bits(int_to_d(cpu->x[rs1], rs2, rm, &fl));
        break;
    case 0x70:
    case 0x71:
        if (rs2 != 0) {
            return -1;
        }
        if (rm == 0) {
            cpu->x[rd] = dbl ? f[rs1] : (uint64_t)(int64_t)(int32_t)f[rs1];
        } else if (rm == 1) {
            cpu->x[rd] = dbl ? fclass_d(f[rs1]) : fclass_s(unbox_s(f[rs1]));
        } else {
            return -1;
        }
        cpu->x[0] = 0;
        return 0; /* no FP state written */
    case 0x78:
    case 0x79:
        if (rs2 != 0 || rm != 0) {
            return -1;
        }
        f[rd] = dbl ? cpu->x[rs1] : BOX_S | (uint32_t)cpu->x[rs1];
        break;
    default:
        return -1;
    }
    cpu->x[0] = 0;
done:
    cpu->fflags |= fl;
    rv_fpu_dirty(cpu);
    return 0;
}
