#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""tests/isa/gen_fp.py - write an ISA test program (assembly, for rt.S) that
runs random F/D instructions on random and special operands in every
rounding mode and prints each result with its fflags, for differential
runs against QEMU.

usage: gen_fp.py SEED COUNT > prog.S
"""
import random
import sys

SPECIAL_D = [0x0, 1 << 63, 0x3ff0000000000000, 0xbff0000000000000,
             0x1, 0x000fffffffffffff, 0x0010000000000000, 0x7fefffffffffffff,
             0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000,
             0x7ff4000000000000, 0x43e0000000000000, 0xc3e0000000000000,
             0x43f0000000000000, 0x3ca0000000000000, 0x3fe0000000000000]
SPECIAL_S = [0x0, 0x80000000, 0x3f800000, 0xbf800000, 0x1, 0x007fffff,
             0x00800000, 0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc00000,
             0x7fa00000, 0x5f000000, 0xdf000000, 0x4f000000, 0x33800000,
             0x3f000000]
SPECIAL_I = [0, 1, (1 << 64) - 1, 0x7fffffff, 0x80000000, 0xffffffff,
             (1 << 63) - 1, 1 << 63, 0x20000000000001, 0x1000001]

BIN = ["fadd", "fsub", "fmul", "fdiv", "fmin", "fmax", "fsgnj", "fsgnjn",
       "fsgnjx"]
CMP = ["feq", "flt", "fle"]
FMA = ["fmadd", "fmsub", "fnmsub", "fnmadd"]
RMS = ["rne", "rtz", "rdn", "rup", "rmm"]
NO_RM = {"fmin", "fmax", "fsgnj", "fsgnjn", "fsgnjx"}


def rand_d(r):
    k = r.random()
    if k < 0.3:
        return r.choice(SPECIAL_D)
    if k < 0.5:
        # near-tie values: few mantissa bits set
        e = r.randrange(0, 0x7ff)
        m = r.choice([0, 1, 1 << 51, (1 << 52) - 1, r.getrandbits(8) << 44])
        return (r.getrandbits(1) << 63) | (e << 52) | m
    if k < 0.6:
        return r.getrandbits(64)
    e = r.randrange(0x3c0, 0x440)
    return (r.getrandbits(1) << 63) | (e << 52) | r.getrandbits(52)


def rand_s(r):
    k = r.random()
    if k < 0.3:
        return r.choice(SPECIAL_S)
    if k < 0.5:
        e = r.randrange(0, 0xff)
        m = r.choice([0, 1, 1 << 22, (1 << 23) - 1, r.getrandbits(6) << 17])
        return (r.getrandbits(1) << 31) | (e << 23) | m
    if k < 0.6:
        return r.getrandbits(32)
    e = r.randrange(0x60, 0xa0)
    return (r.getrandbits(1) << 31) | (e << 23) | r.getrandbits(23)


def rand_i(r):
    k = r.random()
    if k < 0.3:
        return r.choice(SPECIAL_I)
    if k < 0.6:
        return r.getrandbits(r.choice([8, 24, 31, 32, 53, 54, 63]))
    return r.getrandbits(64)


def load_f(reg, val, single, r):
    """Load raw bits into FP register @reg (singles are NaN-boxed, rarely
    not, to exercise unboxing)."""
    if single:
        box = 0xffffffff00000000 if r.random() > 0.03 else 0
        val |= box
    return [f"    li t0, {val:#x}", f"    fmv.d.x {reg}, t0"]


def case(n, tag, lines):
    """Case @n: clear fflags, run @lines (result in a1), print it, tagged
    @tag, with the fflags in its top byte."""
    return (["    csrwi fflags, 0"] + lines +
            ["    frflags a2", "    slli a2, a2, 56", "    xor a1, a1, a2",
             f"    PR {n}:{tag}, a1"])


def program(cases):
    """The whole program: main runs @cases (lists of lines) and returns 0."""
    out = ['#include "rt.h"', "    .text", "    .globl main", "main:",
           "    addi sp, sp, -16", "    sd ra, 0(sp)"]
    for c in cases:
        out += c
    out += ["    ld ra, 0(sp)", "    addi sp, sp, 16", "    li a0, 0",
            "    ret"]
    return "\n".join(out) + "\n"


def gen(seed, count):
    r = random.Random(seed)
    cases = []
    for n in range(count):
        single = r.random() < 0.5
        sfx = ".s" if single else ".d"
        rnd = rand_s if single else rand_d
        kind = r.choice(["bin"] * 4 + ["cmp", "fma", "fma", "sqrt", "cvti",
                                       "cvtf", "cvtff", "class"])
        rm = r.choice(RMS)
        lines = []
        if kind == "bin":
            op = r.choice(BIN)
            lines += load_f("fa0", rnd(r), single, r)
            lines += load_f("fa1", rnd(r), single, r)
            rms = "" if op in NO_RM else ", " + rm
            lines.append(f"    {op}{sfx} fa2, fa0, fa1{rms}")
            lines.append("    fmv.x.d a1, fa2")
            tag = f"{op}{sfx}{'' if op in NO_RM else '.' + rm}"
        elif kind == "cmp":
            op = r.choice(CMP)
            lines += load_f("fa0", rnd(r), single, r)
            lines += load_f("fa1", rnd(r), single, r)
            lines.append(f"    {op}{sfx} a1, fa0, fa1")
            tag = f"{op}{sfx}"
        elif kind == "fma":
            op = r.choice(FMA)
            for reg in ("fa0", "fa1", "fa3"):
                lines += load_f(reg, rnd(r), single, r)
            lines.append(f"    {op}{sfx} fa2, fa0, fa1, fa3, {rm}")
            lines.append("    fmv.x.d a1, fa2")
            tag = f"{op}{sfx}.{rm}"
        elif kind == "sqrt":
            lines += load_f("fa0", rnd(r), single, r)
            lines.append(f"    fsqrt{sfx} fa2, fa0, {rm}")
            lines.append("    fmv.x.d a1, fa2")
            tag = f"fsqrt{sfx}.{rm}"
        elif kind == "cvti":
            it = r.choice(["w", "wu", "l", "lu"])
            lines += load_f("fa0", rnd(r), single, r)
            lines.append(f"    fcvt.{it}{sfx} a1, fa0, {rm}")
            tag = f"fcvt.{it}{sfx}.{rm}"
        elif kind == "cvtf":
            it = r.choice(["w", "wu", "l", "lu"])
            lines.append(f"    li t0, {rand_i(r):#x}")
            if not single and it in ("w", "wu"):
                lines.append(f"    fcvt{sfx}.{it} fa2, t0")
                tag = f"fcvt{sfx}.{it}"
            else:
                lines.append(f"    fcvt{sfx}.{it} fa2, t0, {rm}")
                tag = f"fcvt{sfx}.{it}.{rm}"
            lines.append("    fmv.x.d a1, fa2")
        elif kind == "cvtff":
            if single:
                lines += load_f("fa0", rand_d(r), False, r)
                lines.append(f"    fcvt.s.d fa2, fa0, {rm}")
                tag = f"fcvt.s.d.{rm}"
            else:
                lines += load_f("fa0", rand_s(r), True, r)
                lines.append("    fcvt.d.s fa2, fa0")
                tag = "fcvt.d.s"
            lines.append("    fmv.x.d a1, fa2")
        else:
            lines += load_f("fa0", rnd(r), single, r)
            lines.append(f"    fclass{sfx} a1, fa0")
            tag = f"fclass{sfx}"
        cases.append(case(n, tag, lines))
    return program(cases)


if __name__ == "__main__":
    sys.stdout.write(gen(int(sys.argv[1]), int(sys.argv[2])))
