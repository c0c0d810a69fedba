/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-rv-fpu.c - rv-fpu.c's fast path (flags found by exact
 * arithmetic, host flags never read) against its host-flags path (one
 * ldmxcsr, the operation, one stmxcsr; proved against QEMU by
 * test_isa_qemu.py and test_fpu_edge_qemu.py): for every operation,
 * precision and rounding mode but RMM, on random, special and
 * boundary-hugging operands, whenever the fast path decides it must give
 * the same bits and flags. Includes rv-fpu.c to reach its static functions.
 */
#include "emulator/rv-fpu.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

/* Cases per precision and test: ~1 s under ASan. */
#define CASES 400000

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static const double special_d[] = {
    0.0,
    1.0,
    1.5,
    3.0,
    0.1,
    0x1p-1074,
    0x1p-1022,
    0x1.8p-1022,
    0x1p-1000,
    0x1p-899,
    0x1.000001p-899,
    0x1p-450,
    0x1p-100,
    0x1p1023,
    0x1.fffffffffffffp1023,
    0x0.fffffffffffffp-1022,
    INFINITY,
    NAN,
};

static double rand_d(struct rng *r)
{
    uint64_t u, k = rng_next(r) % 10;
    double d;

    if (k < 3) {
        d = special_d[rng_next(r) % (sizeof(special_d) / sizeof(double))];
        return rng_next(r) & 1 ? -d : d;
    }
    u = rng_next(r);
    if (k < 5) { /* few mantissa bits: exact results and ties */
        u = (u & 0x800fff0000000000ULL) | (rng_next(r) % 2047) << 52 |
            (rng_next(r) & 1);
    } else if (k >= 7) { /* moderate exponents */
        u = (u & 0x800fffffffffffffULL) | (0x3c0 + rng_next(r) % 0x80) << 52;
    }
    return from_d(u);
}

static float rand_s(struct rng *r)
{
    uint64_t k = rng_next(r) % 10;
    uint32_t u = (uint32_t)rng_next(r);

    if (k < 3) {
        return (float)rand_d(r);
    }
    if (k < 5) {
        u = (u & 0x807f0000u) | (uint32_t)(rng_next(r) % 255) << 23 |
            (uint32_t)(rng_next(r) & 1);
    } else if (k >= 7) {
        u = (u & 0x807fffffu) | (uint32_t)(0x60 + rng_next(r) % 0x40) << 23;
    }
    return from_s(u);
}

/* Result magnitudes where the fast path's rules change. */
static const double targets_d[] = {
    0x1p-1022, 0x1p-1021, 0x1.fffffffffffffp1023,
    0x1p1023,  0x1p-899,  0x1p-898,
    0x1p-900,  0x1p-450,  1.0,
    0x1p-1074,
};
static const double targets_s[] = {
    0x1p-126, 0x1p-125, 0x1.fffffep127, 0x1p127, 1.0, 0x1p-149,
};

static double nudge(struct rng *r, double v)
{
    switch (rng_next(r) % 4) {
    case 0:
        return nextafter(v, INFINITY);
    case 1:
        return nextafter(v, -INFINITY);
    default:
        return v;
    }
}

/*
 * Operands for @op whose result lands on or next to a target, built
 * backwards from it in double (singles round them afterwards).
 */
static void edge_operands(struct rng *r, enum fop op, bool single, double *a,
                          double *b, double *c)
{
    double t =
        single ? targets_s[rng_next(r) % 6] : targets_d[rng_next(r) % 10];
    double m = ldexp(1 + (double)(rng_next(r) >> 40) / 0x1p24,
                     (int)(rng_next(r) % 81) - 40);

    t *=
        1 + (double)((int)(rng_next(r) % 7) - 3) * (single ? 0x1p-24 : 0x1p-53);
    t = rng_next(r) & 1 ? -t : t;
    *b = m;
    *c = 0;
    switch (op) {
    case FOP_ADD:
    case FOP_SUB:
        *b = t * (rng_next(r) & 1 ? 0.75 : -0x1p-30);
        *a = op == FOP_ADD ? t - *b : t + *b;
        break;
    case FOP_MUL:
        *a = t / m;
        break;
    case FOP_DIV:
        *a = t * m;
        break;
    case FOP_SQRT:
        *a = t * t;
        break;
    default:
        if (!single && rng_next(r) % 4 == 0) { /* the product overflows */
            *a = 0x1p1023;
            *b = 2.5 + (double)(rng_next(r) % 3) / 2;
            *c = rng_next(r) & 1 ? -0x1.fffffffffffffp1023 : t - *a * 2;
            break;
        }
        *a = ldexp(1 + (double)(rng_next(r) >> 40) / 0x1p24,
                   (int)(rng_next(r) % 81) - 40);
        *c = t - *a * m;
        break;
    }
    *a = nudge(r, *a);
    *c = nudge(r, *c);
}

/*
 * One test per precision (@SFX names rv-fpu.c's functions, @FT the type):
 * a random or an edge case per iteration; whenever the fast path decides,
 * its bits and flags must equal the host-flags path's, and it must stay
 * the common path.
 */
#define FAST_TEST(SFX, FT, SEED)                                               \
    static void test_fast_##SFX(void **state)                                  \
    {                                                                          \
        struct rng r = {SEED};                                                 \
        long decided = 0;                                                      \
                                                                               \
        for (long i = 0; i < CASES; i++) {                                     \
            int rm = host_rm(rng_next(&r) % 4), fe;                            \
            enum fop op = (enum fop)(rng_next(&r) % 6);                        \
            double a = rand_##SFX(&r), b = rand_##SFX(&r), c = rand_##SFX(&r); \
            FT slow, fast;                                                     \
            uint32_t fl = 0;                                                   \
                                                                               \
            if (rng_next(&r) % 2) {                                            \
                edge_operands(&r, op, sizeof(FT) == 4, &a, &b, &c);            \
            }                                                                  \
            slow = op_host_##SFX(op, (FT)a, (FT)b, (FT)c, rm, &fe);            \
            if (!arith_fast_##SFX(op, (FT)a, (FT)b, (FT)c, rm, &fast, &fl)) {  \
                continue;                                                      \
            }                                                                  \
            decided++;                                                         \
            if (bits_##SFX(slow) != bits_##SFX(fast) ||                        \
                flags_from_host(fe) != fl) {                                   \
                fail_msg("op %d rm %d %a %a %a: host %a %x, fast %a %x", op,   \
                         rm, (double)(FT)a, (double)(FT)b, (double)(FT)c,      \
                         (double)slow, flags_from_host(fe), (double)fast, fl); \
            }                                                                  \
        }                                                                      \
        assert_true(decided > CASES / 3);                                      \
    }

FAST_TEST(d, double, 0x9e3779b97f4a7c15ULL)
FAST_TEST(s, float, 0x2545f4914f6cdd1dULL)

/* fcvt.s.d and integer conversions: from_other_s/from_int_* against host. */
static void test_fast_cvt(void **state)
{
    struct rng r = {0x123456789abcdefULL};

    for (long i = 0; i < CASES; i++) {
        unsigned rm = rng_next(&r) % 4, kind = rng_next(&r) % 4;
        double d =
            rng_next(&r) % 2
                ? rand_d(&r)
                : nudge(&r, targets_s[i % 6] * (1 + (double)(i % 5) / 0x1p25));
        uint64_t src = rng_next(&r) >> (rng_next(&r) % 64);
        uint32_t fl = 0, fl2 = 0;
        float s = from_other_s(bits_d(d), rm, &fl);
        int fe;
        float hs = d_to_s_host(d, host_rm(rm), &fe);
        double id, hd;

        if (bits_s(s) != bits_s(hs) || fl != flags_from_host(fe)) {
            fail_msg("fcvt.s.d rm %u %a: host %a %x, got %a %x", rm, d,
                     (double)hs, flags_from_host(fe), (double)s, fl);
        }
        id = from_int_d(src, kind, rm, &fl2);
        hd = int_host_d(src, kind, host_rm(rm), &fe);
        if (bits_d(id) != bits_d(hd) || fl2 != flags_from_host(fe)) {
            fail_msg("fcvt.d kind %u rm %u %#llx: host %a %x, got %a %x", kind,
                     rm, (unsigned long long)src, hd, flags_from_host(fe), id,
                     fl2);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_d),
        cmocka_unit_test(test_fast_s),
        cmocka_unit_test(test_fast_cvt),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
