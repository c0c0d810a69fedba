#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""tests/isa/gen_fp_edge.py - write an ISA test program (assembly, for rt.S)
whose F/D results land on the edges where an emulator's shortcuts break:
just above, at and below the smallest normal and the largest finite value,
around 2^-899 (where exact products stop fitting a double's residual),
exactly representable versus one ulp off, and halfway cases. Operands are
built backwards from such targets for fadd/fsub/fmul/fdiv/fsqrt, the four
fused multiply-adds, fcvt.s.d and integer to FP conversions, in every
static rounding mode and in dynamic mode under every frm, with some singles
not NaN-boxed. Each result is printed with its fflags, for differential
runs against QEMU.

usage: gen_fp_edge.py SEED COUNT > prog.S
"""
import math
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fp import case, load_f, program  # noqa: E402

RMS = ["rne", "rtz", "rdn", "rup", "rmm"]
FMA = ["fmadd", "fmsub", "fnmsub", "fnmadd"]


def bits_d(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def bits_s(x):
    try:
        return struct.unpack("<I", struct.pack("<f", x))[0]
    except OverflowError:
        return 0x7f800000 if x > 0 else 0xff800000


def from_s(u):
    return struct.unpack("<f", struct.pack("<I", u))[0]


def targets(single):
    """Result magnitudes where the rules change, each with neighbours."""
    if single:
        base = [2.0 ** -126, 2.0 ** -125, from_s(0x7f7fffff), 2.0 ** 127,
                2.0 ** -149, 2.0 ** -127, 1.0, 3.0, 2.0 ** 64]
        step = 2.0 ** -23
    else:
        base = [2.0 ** -1022, 2.0 ** -1021, sys.float_info.max, 2.0 ** 1023,
                2.0 ** -1074, 2.0 ** -1023, 2.0 ** -899, 2.0 ** -898,
                2.0 ** -900, 2.0 ** -450, 1.0, 3.0, 2.0 ** 100]
        step = 2.0 ** -52
    out = []
    for b in base:
        for k in (-1.5, -1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 1, 1.5):
            out.append(b * (1 + k * step))
    return out


def near(r, t, single):
    """@t, or a double close to it, sometimes nudged by under an ulp."""
    k = r.random()
    if k < 0.4:
        return t
    ulp = math.ulp(t) * (2 ** 29 if single else 1)
    return t + r.choice([-1, -0.75, -0.5, -0.375, -0.25, 0.25, 0.375, 0.5,
                         0.75, 1]) * ulp


def rand_factor(r, single):
    e = r.randrange(-40, 40)
    m = 1 + r.getrandbits(20 if single else 50) / 2.0 ** (20 if single else 50)
    if r.random() < 0.3:
        m = r.choice([1.0, 1.5, 1.25, 1.75])
    return math.ldexp(m, e) * r.choice([1, -1])


def to_fmt(x, single):
    """Round Python double @x to the format; returns (value, bits)."""
    if single:
        u = bits_s(x)
        return from_s(u), u
    return x, bits_d(x)


def operands(r, kind, single):
    """Operand bits for @kind so that the result lands near a target."""
    t = r.choice(targets(single)) * r.choice([1, -1])
    if kind == "sqrt":
        t = abs(t)
        a = near(r, t * t, single) if t * t > 0 else t
        return [to_fmt(a if math.isfinite(a) else t, single)[1]]
    b = rand_factor(r, single)
    if kind in ("add", "sub"):
        b = t * r.choice([0.5, -0.5, 1e-8, -1e-8, 0.75, 1.0])
        bv, bb = to_fmt(b, single)
        a = near(r, t - bv if kind == "add" else t + bv, single)
        return [to_fmt(a, single)[1], bb]
    bv, bb = to_fmt(b, single)
    if kind == "mul":
        a = t / bv
    elif kind == "div":
        a = t * bv
    else:  # fma: a * b + c near t, the product alone far from it or not
        av, ab = to_fmt(rand_factor(r, single), single)
        p = av * bv
        c = near(r, t - p, single) if r.random() < 0.7 else t
        cv, cb = to_fmt(c, single)
        return [ab, bb, cb]
    a = near(r, a, single) if math.isfinite(a) else t
    return [to_fmt(a, single)[1], bb]


def edge_case(r, n):
    """Case @n: one operation whose result lands on an edge."""
    single = r.random() < 0.5
    sfx = ".s" if single else ".d"
    kind = r.choice(["add", "sub", "mul", "mul", "div", "sqrt", "fma",
                     "fma", "cvtff", "cvtf"])
    rm = r.choice(RMS + ["dyn"])
    lines = []
    if rm == "dyn":
        frm = r.randrange(5)
        lines.append(f"    csrwi frm, {frm}")
        rms, tag_rm = "", f"dyn{frm}"
    else:
        rms, tag_rm = ", " + rm, rm
    if kind in ("add", "sub", "mul", "div"):
        a, b = operands(r, kind, single)
        lines += load_f("fa0", a, single, r)
        lines += load_f("fa1", b, single, r)
        lines.append(f"    f{kind}{sfx} fa2, fa0, fa1{rms}")
        tag = f"f{kind}{sfx}.{tag_rm}"
    elif kind == "sqrt":
        (a,) = operands(r, kind, single)
        lines += load_f("fa0", a, single, r)
        lines.append(f"    fsqrt{sfx} fa2, fa0{rms}")
        tag = f"fsqrt{sfx}.{tag_rm}"
    elif kind == "fma":
        op = r.choice(FMA)
        for reg, v in zip(("fa0", "fa1", "fa3"),
                          operands(r, kind, single)):
            lines += load_f(reg, v, single, r)
        lines.append(f"    {op}{sfx} fa2, fa0, fa1, fa3{rms}")
        tag = f"{op}{sfx}.{tag_rm}"
    elif kind == "cvtff":
        t = r.choice(targets(True)) * r.choice([1, -1])
        d = near(r, t, True)
        lines += load_f("fa0", bits_d(d), False, r)
        lines.append(f"    fcvt.s.d fa2, fa0{rms}")
        tag = f"fcvt.s.d.{tag_rm}"
    else:
        it = r.choice(["w", "wu", "l", "lu"])
        width = 32 if it in ("w", "wu") else 64
        lim = 24 if single else 53
        v = (1 << r.randrange(min(lim, width) - 2, width)) + r.choice(
            [0, 1, -1, 1 << (width // 2), r.getrandbits(12)])
        if it in ("w", "l") and r.random() < 0.5:
            v = -v
        v &= (1 << 64) - 1
        lines.append(f"    li t0, {v:#x}")
        if not single and width == 32:
            rms = ""  # exact: the assembler takes no rounding mode
        lines.append(f"    fcvt{sfx}.{it} fa2, t0{rms}")
        tag = f"fcvt{sfx}.{it}.{tag_rm}"
    lines.append("    fmv.x.d a1, fa2")
    return case(n, tag, lines)


def gen(seed, count):
    r = random.Random(seed)
    return program([edge_case(r, n) for n in range(count)])


if __name__ == "__main__":
    sys.stdout.write(gen(int(sys.argv[1]), int(sys.argv[2])))
