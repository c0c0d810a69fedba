#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""tests/isa/gen_int.py - write an ISA test program (assembly, for rt.S):
a random straight-line stream of RV64IMAC instructions (ALU, M, loads and
stores of every width at any alignment, short forward branches, AMOs) on
random registers, then a dump of every register and a hash of the data
buffer, for differential runs against QEMU.

usage: gen_int.py SEED COUNT > prog.S
"""
import random
import sys

REGS = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "s1", "s2", "s3", "s4",
        "s5", "s6", "s7", "s8", "s9", "s10", "s11", "a0", "a1", "a2", "a3",
        "a4", "a5", "a6", "a7"]
RR = ["add", "sub", "sll", "slt", "sltu", "xor", "srl", "sra", "or", "and",
      "addw", "subw", "sllw", "srlw", "sraw", "mul", "mulh", "mulhsu",
      "mulhu", "div", "divu", "rem", "remu", "mulw", "divw", "divuw", "remw",
      "remuw"]
RI = ["addi", "slti", "sltiu", "xori", "ori", "andi", "addiw"]
SH = [("slli", 63), ("srli", 63), ("srai", 63), ("slliw", 31),
      ("srliw", 31), ("sraiw", 31)]
LD = ["lb", "lbu", "lh", "lhu", "lw", "lwu", "ld"]
ST = ["sb", "sh", "sw", "sd"]
BR = ["beq", "bne", "blt", "bge", "bltu", "bgeu"]
AMO = ["amoswap", "amoadd", "amoxor", "amoand", "amoor", "amomin", "amomax",
       "amominu", "amomaxu"]
SPECIAL = [0, 1, -1, 2, 0x7fffffffffffffff, -0x8000000000000000,
           0x7fffffff, -0x80000000, 0xffffffff, 31, 32, 63, 64]


def value(r):
    if r.random() < 0.4:
        return r.choice(SPECIAL)
    return r.getrandbits(64) >> r.choice([0, 0, 16, 32, 48, 60])


def one(r, lines):
    k = r.random()
    rd, a, b = r.choice(REGS), r.choice(REGS), r.choice(REGS)
    if k < 0.35:
        lines.append(f"    {r.choice(RR)} {rd}, {a}, {b}")
    elif k < 0.5:
        lines.append(f"    {r.choice(RI)} {rd}, {a}, {r.randint(-2048, 2047)}")
    elif k < 0.58:
        op, mx = r.choice(SH)
        lines.append(f"    {op} {rd}, {a}, {r.randint(0, mx)}")
    elif k < 0.62:
        lines.append(f"    lui {rd}, {r.getrandbits(20):#x}")
    elif k < 0.75:
        lines.append(f"    {r.choice(LD)} {rd}, {r.randint(0, 2040)}(s0)")
    elif k < 0.87:
        lines.append(f"    {r.choice(ST)} {a}, {r.randint(0, 2040)}(s0)")
    elif k < 0.95:
        lines.append(f"    {r.choice(BR)} {a}, {b}, 1f")
        inner = []
        one(r, inner)
        lines += inner
        lines.append("1:")
    else:
        w = r.choice(["w", "d"])
        off = r.randrange(0, 2040, 8 if w == "d" else 4)
        lines.append(f"    addi {b}, s0, {off}")
        lines.append(f"    {r.choice(AMO)}.{w} {rd}, {a}, ({b})")


def gen(seed, count):
    r = random.Random(seed)
    out = ['#include "rt.h"', "    .text", "    .globl main", "main:",
           "    addi sp, sp, -16", "    sd ra, 0(sp)", "    la s0, buf"]
    for reg in REGS:
        out.append(f"    li {reg}, {value(r) & (2**64 - 1):#x}")
    for _ in range(count):
        one(r, out)
    for reg in REGS:
        out.append(f"    PR {reg}, {reg}")
    out += ["    li t0, 0", "    li t1, 0",
            "2:  add t2, s0, t1", "    ld t2, 0(t2)",
            "    slli t3, t0, 7", "    srli t0, t0, 57", "    or t0, t0, t3",
            "    xor t0, t0, t2", "    addi t1, t1, 8", "    li t2, 2048",
            "    blt t1, t2, 2b", "    PR buf, t0",
            "    ld ra, 0(sp)", "    addi sp, sp, 16", "    li a0, 0",
            "    ret", "    .data", "    .align 4", "buf:"]
    out += [f"    .dword {r.getrandbits(64):#x}" for _ in range(256)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(gen(int(sys.argv[1]), int(sys.argv[2])))
