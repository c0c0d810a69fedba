"""rv-disas against QEMU 7.2's own disassembler: QEMU runs real code with
`-d in_asm`, every distinct (pc, bytes) it logged is fed to rv-disas-tool
(built from emulator/rv-disas.c), and each line we print must equal QEMU's
byte for byte, padding included.

Real code: OpenSBI fw_jump + S-mode U-Boot to its prompt, M-mode U-Boot to
its prompt, Linux with a busybox userland (when scripts/artefacts.sh has
made them), and the ISA programs of tests/isa. Sweeps: generated programs
of "slots" (a load that faults, the instruction under test, two illegal
parcels that end the translation block; the trap handler resumes at the
next slot), so QEMU translates, and logs, every instruction without running
any of them: all 16-bit encodings, all 4096 CSR numbers, the funct fields
of every major opcode, the vector space, and seeded random 32-bit words.

Seeds: RV_DISAS_SEEDS="1,2" overrides the random sweep's seeds."""
import os
import random
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BUILD, TOP, have
from test_isa_qemu import PROGRAMS, QEMU_CPU, build

QEMU = "qemu-system-riscv64"
CROSS = "riscv64-unknown-elf-gcc"
OPENSBI = Path("/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin")
UBOOT_S = Path("/usr/lib/u-boot/qemu-riscv64_smode/uboot.elf")
UBOOT_M = Path("/usr/lib/u-boot/qemu-riscv64/u-boot.bin")
SEEDS = [int(s) for s in os.environ.get("RV_DISAS_SEEDS", "1").split(",")]
LINE = re.compile(r"^0x([0-9a-f]{16}):  ([0-9a-f]{4,16}) ")

pytestmark = pytest.mark.skipif(
    not (have(CROSS) and have(QEMU)),
    reason="needs riscv64-unknown-elf-gcc and qemu-system-riscv64")


def tool():
    exe = BUILD / "tests" / "unit" / "rv-disas-tool"
    if not exe.exists():
        pytest.fail(f"{exe} was not built")
    return str(exe)


def parse_log(path):
    """QEMU's in_asm lines by (pc, hex); other lines (IN:, Priv:, ---,
    "Disassembler disagrees...") are skipped."""
    lines = {}
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = LINE.match(line)
            if m:
                lines.setdefault((m.group(1), m.group(2)), line)
    return lines


def compare(lines, at_least):
    """Every QEMU line must come out of rv-disas-tool identical. Returns the
    number of distinct instructions compared."""
    keys = sorted(lines)
    assert len(keys) >= at_least, f"QEMU logged only {len(keys)} lines"
    p = subprocess.run([tool()], input="".join(f"{pc} {hx}\n"
                                               for pc, hx in keys),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    ours = p.stdout.splitlines()
    assert len(ours) == len(keys), \
        f"rv-disas-tool printed {len(ours)} lines for {len(keys)} inputs"
    bad = [(lines[k], o) for k, o in zip(keys, ours) if o != lines[k]]
    report = "\n".join(f"QEMU {q!r}\nours {o!r}" for q, o in bad[:20])
    assert not bad, f"{len(bad)} of {len(keys)} differ:\n{report}"
    print(f"rv-disas: {len(keys)} distinct instructions identical to QEMU")
    return len(keys)


# ---- real code ----

def boot_to_prompt(args, log, tmp_path, prompt, deadline=120):
    """Run QEMU until the console shows @prompt after pressing a key at
    U-Boot's autoboot countdown, then stop it (SIGTERM flushes the log)."""
    out = tmp_path / "console.txt"
    with open(out, "wb") as con:
        q = subprocess.Popen([QEMU, "-M", "virt", "-m", "256M", "-nographic",
                              "-icount", "shift=0", "-d", "in_asm", "-D",
                              str(log)] + args,
                             stdin=subprocess.PIPE, stdout=con,
                             stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + deadline
        keyed = False
        while time.monotonic() < end and q.poll() is None:
            text = out.read_bytes()
            if not keyed and b"Hit any key" in text:
                q.stdin.write(b"\n")
                q.stdin.flush()
                keyed = True
            if keyed and prompt in text.split(b"Hit any key")[-1]:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"no {prompt!r} prompt:\n{out.read_text()[-2000:]}")
    finally:
        q.terminate()
        try:
            q.wait(timeout=30)
        except subprocess.TimeoutExpired:
            q.kill()
            q.wait()
    return log


@pytest.mark.skipif(not (OPENSBI.exists() and UBOOT_S.exists()),
                    reason="needs Debian's opensbi and u-boot-qemu")
def test_opensbi_and_smode_uboot(tmp_path):
    log = boot_to_prompt(["-bios", str(OPENSBI), "-kernel", str(UBOOT_S)],
                         tmp_path / "in_asm.log", tmp_path, b"=>")
    compare(parse_log(log), 20000)


@pytest.mark.skipif(not UBOOT_M.exists(), reason="needs Debian's u-boot-qemu")
def test_mmode_uboot(tmp_path):
    log = boot_to_prompt(["-bios", str(UBOOT_M)], tmp_path / "in_asm.log",
                         tmp_path, b"=>")
    compare(parse_log(log), 10000)


ARTEFACTS = Path(os.environ.get("RRVM_ARTEFACTS_ENV",
                                TOP / "build" / "artefacts.env"))


def linux_artefacts():
    """Kernel, root file system and firmware from scripts/artefacts.sh, or
    None."""
    if not ARTEFACTS.exists():
        return None
    env = dict(line.split("=", 1) for line in ARTEFACTS.read_text()
               .splitlines() if "=" in line and not line.startswith("#"))
    for k in ("RRVM_KERNEL", "RRVM_ROOTFS_RAW", "RRVM_BIOS"):
        if not Path(env.get(k, "")).is_file():
            return None
    return env


def test_linux_boot(tmp_path):
    """Linux boots from the busybox disk (read-only, snapshot=on), runs
    /bin/ls as init and panics when it exits; -no-reboot ends QEMU."""
    env = linux_artefacts()
    if env is None:
        pytest.skip(f"no Linux artefacts ({ARTEFACTS}): run "
                    "scripts/artefacts.sh")
    log = tmp_path / "in_asm.log"
    p = subprocess.run([QEMU, "-M", "virt", "-m", "256M", "-nographic",
                        "-bios", env["RRVM_BIOS"], "-kernel",
                        env["RRVM_KERNEL"], "-drive",
                        f"file={env['RRVM_ROOTFS_RAW']},format=raw,if=none,"
                        "id=hd0,snapshot=on", "-device",
                        "virtio-blk-device,drive=hd0", "-append",
                        "root=/dev/vda ro console=ttyS0 panic=-1 init=/bin/ls",
                        "-no-reboot", "-d", "in_asm", "-D", str(log)],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=300)
    assert b"Attempted to kill init" in p.stdout, p.stdout[-2000:]
    compare(parse_log(log), 50000)


def test_isa_programs(tmp_path):
    lines = {}
    for name in PROGRAMS:
        elf = build(TOP / "tests" / "isa" / f"{name}.S",
                    tmp_path / f"{name}.elf")
        log = tmp_path / f"{name}.log"
        subprocess.run([QEMU, "-M", "virt", "-m", "128M", "-nographic",
                        "-bios", "none", "-kernel", str(elf), "-cpu",
                        QEMU_CPU, "-d", "in_asm", "-D", str(log)],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=120, check=True)
        for k, v in parse_log(log).items():
            lines.setdefault(k, v)
    compare(lines, 2000)


# ---- sweeps ----

SLOT_BYTES = 16


def slot_program(items):
    """Assembly for the sweep: each slot is `lw zero,0(zero)` (a load
    access fault), the word or parcel under test, and zero parcels that
    end the block; 16-byte slots never straddle a page. QEMU translates
    the whole block before the load faults, and the handler skips to the
    next slot. ("w", u32) items are 32-bit words, ("h", u16) parcels."""
    out = [".section .text.init", ".globl _start", "_start:",
           "  la t0, trap", "  csrw mtvec, t0",
           "  li t0, 0x6600", "  csrs mstatus, t0", "  .align 4"]
    for kind, v in items:
        out.append("  lw zero, 0(zero)")
        if kind == "w":
            out.append(f"  .word 0x{v:08x}")
        else:
            out.append(f"  .half 0x{v:04x}, 0")
        out.append("  .word 0, 0")
    out += ["  lui t0, 0x100", "  li t1, 0x5555", "  sw t1, 0(t0)",
            "1: j 1b", ".align 2", "trap:", "  csrr t0, mepc",
            f"  addi t0, t0, {SLOT_BYTES}", "  csrw mepc, t0", "  mret"]
    return "\n".join(out) + "\n"


def lengthless(w):
    """QEMU 7.2's in_asm loops forever on these (its disassembler gives
    them length 0); never hand them to it."""
    return (w & 0x7f) == 0x7f


def sweep(items, tmp_path, at_least):
    items = [(k, v) for k, v in items if not (k == "w" and lengthless(v))]
    src = tmp_path / "sweep.S"
    src.write_text(slot_program(items))
    elf = tmp_path / "sweep.elf"
    subprocess.run([CROSS, "-march=rv64gcv", "-mabi=lp64d", "-nostdlib",
                    "-static", "-T", str(TOP / "tests" / "isa" / "link.ld"),
                    "-o", str(elf), str(src)],
                   check=True, capture_output=True, timeout=300)
    log = tmp_path / "sweep.log"
    subprocess.run([QEMU, "-M", "virt", "-m", "128M", "-nographic", "-bios",
                    "none", "-kernel", str(elf), "-d", "in_asm", "-D",
                    str(log)], stdin=subprocess.DEVNULL, capture_output=True,
                   timeout=300, check=True)
    lines = parse_log(log)
    logged = {int(hx, 16) for _, hx in lines}
    missing = [v for k, v in items if v not in logged]
    assert not missing, f"QEMU never logged {len(missing)} items, e.g. " \
        f"{[hex(v) for v in missing[:5]]}"
    return compare(lines, at_least)


def enc(opc, f3=0, hi=0, rd=5, rs1=6):
    return (hi << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | (opc << 2) | 3


def test_sweep_all_compressed(tmp_path):
    sweep([("h", h) for h in range(0x10000) if h & 3 != 3], tmp_path, 49152)


def test_sweep_all_csrs(tmp_path):
    items = []
    for csr in range(4096):
        items.append(("w", enc(28, 2, csr, 5, 11)))  # csrrs t0,csr,a1
        items.append(("w", enc(28, 2, csr, 5, 0)))   # csrrs t0,csr,zero
        items.append(("w", enc(28, 5, csr, 0, 3)))   # csrrwi zero,csr,3
    sweep(items, tmp_path, 3 * 4096)


def test_sweep_funct_fields(tmp_path):
    """Every funct3/funct7 (and the rs2 selectors) of the scalar opcodes,
    every rounding mode and fence set, AMO aq/rl, SYSTEM, branches."""
    ws = set()
    for hi in range(4096):
        for f3 in (1, 5):
            ws.add(enc(4, f3, hi))
        for f3 in (0, 1, 5):
            ws.add(enc(6, f3, hi))
    for f7 in range(128):
        for f3 in range(8):
            for rs2 in (0, 7):
                for opc in (12, 14, 22, 30):
                    ws.add(enc(opc, f3, (f7 << 5) | rs2))
            for rs2 in range(32):
                ws.add(enc(20, f3, (f7 << 5) | rs2))
                ws.add(enc(20, f3, (f7 << 5) | rs2, 6, 6))
        for rs2 in range(32):
            for rs1 in (0, 1, 6):
                for rd in (0, 1):
                    ws.add(enc(28, 0, (f7 << 5) | rs2, rd, rs1))
    for f5 in range(32):
        for f3 in range(8):
            for aqrl in range(4):
                for rs2 in (0, 7):
                    ws.add(enc(11, f3, (f5 << 7) | (aqrl << 5) | rs2))
    for opc in (16, 17, 18, 19):
        for fmt in range(4):
            for rm in range(8):
                ws.add(enc(opc, rm, (fmt << 5) | 0x703))
    for fm in (0, 3, 8):
        for pred in range(16):
            for succ in range(16):
                ws.add(enc(3, 0, (fm << 8) | (pred << 4) | succ, 0, 0))
    for opc in range(32):
        if opc & 7 == 7:
            continue
        for f3 in range(8):
            for hi in (0, 1, 0x20, 0x40, 0x123, 0x7ff, 0x800, 0xfff):
                for rd, rs1 in ((5, 6), (0, 0), (1, 1), (0, 1)):
                    ws.add(enc(opc, f3, hi, rd, rs1))
    sweep([("w", w) for w in sorted(ws)], tmp_path, len(ws))


def test_sweep_vector(tmp_path):
    r = random.Random(5)
    ws = set()
    for f3 in range(8):
        for f6 in range(64):
            for _ in range(8):
                ws.add((f6 << 26) | (r.getrandbits(11) << 15) | (f3 << 12) |
                       (r.getrandbits(5) << 7) | 0x57)
            for rs1 in range(32):
                ws.add((f6 << 26) | (r.getrandbits(1) << 25) |
                       (r.choice((0, 0, 5)) << 20) | (rs1 << 15) |
                       (f3 << 12) | (r.getrandbits(5) << 7) | 0x57)
    for k in range(6000):
        hi = r.getrandbits(12) if k % 2 else \
            (r.choice((0, 1, 3, 7)) << 9) | (r.getrandbits(4) << 5) | \
            r.choice((0, 3, 8, 11, 16))
        ws.add((hi << 20) | (r.getrandbits(5) << 15) |
               (r.choice((0, 5, 6, 7)) << 12) | (r.getrandbits(5) << 7) |
               r.choice((0x07, 0x27)))
    sweep([("w", w) for w in sorted(ws)], tmp_path, len(ws))


@pytest.mark.parametrize("seed", SEEDS)
def test_sweep_random_words(seed, tmp_path):
    r = random.Random(seed)
    ws = set()
    while len(ws) < 20000:
        w = r.getrandbits(32) | 3
        if not lengthless(w):
            ws.add(w)
    sweep([("w", w) for w in sorted(ws)], tmp_path, len(ws))


# ---- the unit test's goldens (tests/data/disas), made by QEMU ----

GOLDEN = TOP / "tests" / "data" / "disas"


def golden_items():
    """The edge cases tests/unit/test-emu-disas.c checks without QEMU:
    name -> items. Deterministic, so the files can be regenerated."""
    r = random.Random(72)
    c16 = [0x0000, 0x0001, 0x0005, 0x0004, 0x001c, 0x0020, 0x4001, 0x4081,
           0x407d, 0x5081, 0x6101, 0x6105, 0x6001, 0x7001, 0x8001, 0x8401,
           0x8801, 0x0002, 0x0082, 0x8002, 0x8082, 0x8302, 0x9002, 0x9082,
           0x8502, 0x852e, 0x802e, 0x9d2d, 0x9d0d, 0x9c2d, 0x2001, 0x2081,
           0xa001, 0xa8a1, 0xc001, 0xe001, 0x557d, 0x02b1, 0x1ffd, 0x6000,
           0xe000, 0x8000, 0x9c01, 0x9c41, 0x9c61, 0xbc41, 0xbc61]
    for q in range(3):
        for f3 in range(8):
            for b12 in range(2):
                for b1011 in range(4):
                    for _ in range(2):
                        c16.append((f3 << 13) | (b12 << 12) | (b1011 << 10) |
                                   (r.getrandbits(8) << 2) | q)
    for b12 in range(2):
        for f2 in range(4):
            c16.append(0x8c01 | (b12 << 12) | (f2 << 5) |
                       (r.getrandbits(3) << 7) | (r.getrandbits(3) << 2))
    rv64 = []
    for opc, hi in ((20, 0x00c), (20, 0x02c), (20, 0x06c), (20, 0x5a0),
                    (20, 0xc20), (20, 0xd20), (20, 0x420), (16, 0x702),
                    (16, 0x722), (19, 0x722)):
        for rm in range(8):
            rv64.append(enc(opc, rm, hi, 10, 11))
    for fm in (0, 8):
        for pred in range(16):
            for succ in range(16):
                if fm == 0 or (pred, succ) in ((3, 3), (0, 0), (15, 15)):
                    rv64.append(enc(3, 0, (fm << 8) | (pred << 4) | succ, 0, 0))
    rv64 += [enc(3, 1), enc(3, 1, 0, 0, 0), enc(3, 2, 0x123)]
    for f5 in (0, 1, 2, 3, 4, 8, 12, 16, 20, 24, 28):
        for f3 in (2, 3):
            for aqrl in range(4):
                rv64.append(enc(11, f3, (f5 << 7) | (aqrl << 5) |
                                (0 if f5 == 2 else 7), 10, 11))
    for csr in (0xc00, 0xc01, 0xc02, 0xc80, 0xc81, 0xc82, 1, 2, 3, 0x300):
        rv64.append(enc(28, 2, csr, 10, 0))
        rv64.append(enc(28, 1, csr, 10, 11))
        rv64.append(enc(28, 5, csr, 10, 7))
        rv64.append(enc(28, 2, csr, 0, 11))
    for f3 in (0, 1, 4, 5, 6, 7):
        for rs1, rs2 in ((0, 0), (0, 5), (5, 0), (5, 6)):
            rv64.append(enc(24, f3, (rs2 | 0x7e0), 0x15, rs1))
            rv64.append(enc(24, f3, rs2, 0x14, rs1))
    for rd, rs1, hi in ((0, 1, 0), (0, 1, 4), (0, 5, 0), (1, 5, 0),
                        (1, 5, 8), (5, 5, 0xffc), (0, 0, 0)):
        rv64.append(enc(25, 0, hi, rd, rs1))
    for rd in (0, 1, 5):
        rv64.append(0x8000006f | (rd << 7))
        rv64.append(0x7ffff06f | (rd << 7))
    rv64 += [enc(4, 0, 0, 0, 0), enc(4, 0, 0, 5, 6), enc(4, 0, 0xfff, 5, 6),
             enc(4, 3, 1), enc(4, 4, 0xfff), enc(12, 0, 0x400, 5, 0),
             enc(12, 2, 0, 5, 6), enc(12, 2, 7, 5, 0), enc(12, 3, 7, 5, 0),
             enc(6, 0, 0), enc(14, 0, 0x400, 5, 0), 0xfffff297,
             0x800002b7, 0x00001297, enc(4, 1, 0x7f), enc(4, 5, 0x43f),
             enc(6, 1, 0x1f), 0x10500073, 0x10200073, 0x30200073,
             0x12000073, 0x12b50073, 0x00000073, 0x00100073, 0x00200073,
             0x7b200073, 0x20200073, 0x10400073, 0xffffffff & ~0x7f | 0x3f,
             0x0000001f, 0x1234561f, 0x0000003f, 0x00000003, 0x0000000b,
             0x2202d2d3, 0x2062d2d3, 0x2262a2d3, 0xe00502d3, 0xf00502d3]
    for vz in (0, 4, 5, 6, 7, 0x0c, 0x18, 0x1d, 0x40, 0x80, 0xc3, 0x7ff):
        rv64.append((vz << 20) | (11 << 15) | (7 << 12) | (10 << 7) | 0x57)
        rv64.append(0xc0000000 | ((vz & 0x3ff) << 20) | (7 << 15) |
                    (7 << 12) | (10 << 7) | 0x57)
    csrs = [enc(28, 2, csr, 5, 11) for csr in range(4096)]
    return {"c16": [("h", h) for h in c16], "rv64": [("w", w) for w in rv64],
            "csr": [("w", w) for w in csrs]}


def lines_under_test(log):
    """The lines of the instructions under test: those right after a
    slot's faulting load, in slot order."""
    out, prev = [], None
    with open(log, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            if prev == "00002003" and m.group(2) != "00002003":
                out.append(line.rstrip("\n"))
            prev = m.group(2)
    return out


def test_unit_goldens_are_qemus(tmp_path):
    """tests/data/disas/*.txt are what QEMU prints today; with
    RV_DISAS_UPDATE=1 this rewrites them instead. The csr golden keeps only
    the CSRs QEMU names."""
    for name, items in golden_items().items():
        d = tmp_path / name
        d.mkdir()
        sweep(items, d, 1)
        lines = lines_under_test(d / "sweep.log")
        if name == "csr":
            lines = [ln for ln in lines if not re.search(r",0x[0-9a-f]{3},", ln)]
        text = "\n".join(dict.fromkeys(lines)) + "\n"
        assert len(text) < 64 << 10, f"{name}: {len(text)} bytes"
        path = GOLDEN / f"{name}.txt"
        if os.environ.get("RV_DISAS_UPDATE") == "1":
            path.write_text(text)
        assert path.read_text() == text, f"{path} differs from QEMU"
