#!/usr/bin/env python3
"""rrvm against qemu-system-riscv64 (plain TCG, and TCG with -icount
shift=0), same guests, same run.

1. Bare-metal CPU kernels (bench/guest/kernels.S, built here with
   riscv64-unknown-elf-gcc): integer, memory and floating point, each a
   fixed loop of ITERS iterations with a known number of instructions per
   iteration. Each is also run with one iteration, and that fixed cost
   (emulator start-up, firmware-free boot, printing) is subtracted, so
   MIPS is loop instructions over loop time. The loop's instruction count
   is checked against rrvm's icount, and every engine must print the same
   checksum.
2. Debian's S-mode U-Boot under OpenSBI fw_jump: time to the `=> ` prompt
   with autoboot interrupted.
3. The Linux guest (scripts/artefacts.sh): time to the shell prompt, then
   in the guest `head -c 64M /dev/zero | sha256sum` and a shell loop.

Times are host CPU seconds (user + system of the emulator process, all its
threads) and wall seconds; on a shared machine the CPU seconds are the
steadier figure, so MIPS and ratios use them. A ratio is the engine's time
over rrvm's: above 1.00 means rrvm is faster. Guest instruction counts in
Linux come from the guest's uptime, which advances 2^shift ns per
instruction under rrvm and QEMU -icount (no idling while a workload runs).

Usage: bench/bench_emu.py [--rrvm PATH] [--rrvm-img PATH] [--runs 3]
                          [--scale 1.0] [--only bare|uboot|linux]
"""
import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
QEMU = "qemu-system-riscv64"
# The reference CPU profile rrvm implements (/docs/guest.md): priv 1.11,
# no H, no Sstc, no Zb*, no PMU counters.
QEMU_CPU = ("rv64,h=false,sstc=false,zba=false,zbb=false,zbc=false,"
            "zbs=false,priv_spec=v1.11.0,pmu-num=0,Zihintpause=false")
OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"
UBOOT_S = "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"
RRVM_SHIFT = 3  # rrvm's default -icount shift (docs/man/rrvm.1)
# name: (preprocessor symbol, instructions per loop iteration, iterations)
KERNELS = {
    "int": ("KERNEL_INT", 12, 20_000_000),
    "mem": ("KERNEL_MEM", 9, 20_000_000),
    "fp": ("KERNEL_FP", 11, 8_000_000),
}
PROMPT = "~ # "
ENGINES = ("rrvm", "qemu", "qemu-icount")


def engine_argv(engine, rrvm):
    if engine == "rrvm":
        return [rrvm, "-M", "virt", "-m", "256M", "-nographic"]
    argv = [QEMU, "-M", "virt", "-cpu", QEMU_CPU, "-m", "256M", "-smp", "1",
            "-nographic", "-nic", "none"]
    if engine == "qemu-icount":
        argv += ["-icount", "shift=0"]
    return argv


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def proc_cpu(pid):
    """CPU seconds so far of a live process, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_kernel(d, name, iters):
    sym = KERNELS[name][0]
    out = d / f"{name}-{iters}.elf"
    subprocess.run(["riscv64-unknown-elf-gcc", "-nostdlib", "-nostartfiles",
                    "-march=rv64g", "-mabi=lp64d", "-mcmodel=medany",
                    "-Wl,-Ttext=0x80000000", f"-D{sym}", f"-DITERS={iters}",
                    "-o", str(out), str(TOP / "bench/guest/kernels.S")],
                   check=True)
    return out


def run_bare(argv, timeout):
    """Run to completion; (wall s, cpu s, stdout, stderr)."""
    c0 = children_cpu()
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    wall = time.perf_counter() - t0
    cpu = children_cpu() - c0
    if p.returncode != 0:
        sys.exit(f"bench: {argv} exited {p.returncode}:\n"
                 f"{p.stdout.decode(errors='replace')[-1000:]}\n"
                 f"{p.stderr.decode(errors='replace')[-1000:]}")
    return wall, cpu, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


def bench_bare(rrvm, d, runs, scale):
    rows = []
    for name, (_, per_iter, iters) in KERNELS.items():
        iters = max(2, int(iters * scale))
        big, one = build_kernel(d, name, iters), build_kernel(d, name, 1)
        res = {}
        sums = {}
        counts = {}
        for engine in ENGINES:
            base = engine_argv(engine, rrvm)
            cpus, walls, cpu1s, wall1s = [], [], [], []
            for _ in range(runs):
                w1, c1, out1, err1 = run_bare(base + ["-bios", str(one)], 120)
                w, c, out, err = run_bare(base + ["-bios", str(big)], 900)
                cpus.append(c)
                walls.append(w)
                cpu1s.append(c1)
                wall1s.append(w1)
                m = re.search(r"bench \w+ sum=([0-9a-f]+)", out)
                if not m:
                    sys.exit(f"bench: {engine} {name}: no result in {out!r}")
                sums.setdefault(engine, set()).add(m.group(1))
                if engine == "rrvm":
                    n = int(re.search(r"instret=([0-9a-f]+)", out).group(1),
                            16)
                    n1 = int(re.search(r"instret=([0-9a-f]+)", out1).group(
                        1), 16)
                    counts.setdefault("rrvm", set()).add(n - n1)
            res[engine] = (statistics.median(cpus) - statistics.median(cpu1s),
                           statistics.median(walls) -
                           statistics.median(wall1s))
        loop = (iters - 1) * per_iter
        (measured,) = counts["rrvm"]
        if measured != loop:
            sys.exit(f"bench: {name}: rrvm counted {measured} loop "
                     f"instructions, expected {loop}")
        if len(set().union(*sums.values())) != 1:
            sys.exit(f"bench: {name}: checksums differ: {sums}")
        rows.append((f"bare {name} ({per_iter}x{iters / 1e6:g}M)", loop, res))
    return rows


class Session:
    """A guest on the emulator's terminal, with per-phase timings."""

    def __init__(self, argv, log):
        import pexpect
        self.pexpect = pexpect
        self.log = open(log, "w", encoding="utf-8", errors="replace")
        self.t0 = time.perf_counter()
        self.p = pexpect.spawn(argv[0], argv[1:], encoding="utf-8",
                               codec_errors="replace", timeout=600,
                               dimensions=(50, 1000))
        self.p.logfile_read = self.log
        self.mark_t, self.mark_c = self.t0, 0.0
        self.seq = 0

    def lap(self):
        """(wall, cpu) since the last lap."""
        t, c = time.perf_counter(), proc_cpu(self.p.pid)
        r = (t - self.mark_t, c - self.mark_c)
        self.mark_t, self.mark_c = t, c
        return r

    def expect(self, pat, timeout=600):
        try:
            self.p.expect(pat, timeout=timeout)
        except (self.pexpect.EOF, self.pexpect.TIMEOUT) as e:
            self.log.flush()
            sys.exit(f"bench: waiting for {pat!r}: {type(e).__name__}; "
                     f"see {self.log.name}")

    def sh(self, cmd, timeout=900):
        self.seq += 1
        tag = f"DONE{self.seq}"
        self.p.sendline(f"{cmd}; echo {tag[:4]}''{tag[4:]}")
        self.expect(tag + r"[\r\n]", timeout)
        out = self.p.before.replace("\r", "")
        self.expect(PROMPT)
        return out.split("\n", 1)[1] if "\n" in out else ""

    def close(self):
        if self.p.isalive():
            self.p.terminate(force=True)
        self.log.close()


def bench_uboot(rrvm, d, runs):
    res = {}
    for engine in ENGINES:
        argv = engine_argv(engine, rrvm) + ["-bios", OPENSBI,
                                            "-kernel", UBOOT_S]
        cpus, walls = [], []
        for i in range(runs):
            s = Session(argv, d / f"uboot-{engine}-{i}.log")
            try:
                s.expect("Hit any key to stop autoboot", 120)
                s.p.send("\r")
                s.expect("=> ", 60)
                w, c = s.lap()
                walls.append(w)
                cpus.append(c)
            finally:
                s.close()
        res[engine] = (statistics.median(cpus), statistics.median(walls))
    return [("u-boot S-mode to '=> '", None, res)]


def load_artefacts():
    env_file = Path(os.environ.get("RRVM_ARTEFACTS_ENV",
                                   TOP / "build/artefacts.env"))
    if not env_file.exists():
        return None
    env = {}
    for line in env_file.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, _, v = line.partition("=")
            env[k.strip()] = v.strip()
    return env


LINUX_WORK = [
    ("sha256sum 64 MiB", "head -c 67108864 /dev/zero | sha256sum"),
    ("shell loop 20000", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"),
]


def bench_linux(rrvm, img, d, art):
    rows = {"boot": {}}
    for name, _ in LINUX_WORK:
        rows[name] = {}
    insns = {}
    for engine in ENGINES:
        disk = d / f"root-{engine}.qcow2"
        subprocess.run([img, "convert", "-f", "raw", "-O", "qcow2",
                        art["RRVM_ROOTFS_RAW"], str(disk)], check=True)
        argv = engine_argv(engine, rrvm) + [
            "-bios", art["RRVM_BIOS"], "-kernel", art["RRVM_KERNEL"],
            "-append", "console=ttyS0 root=/dev/vda rw",
            "-drive", f"file={disk},format=qcow2,if=none,id=hd0",
            "-device", "virtio-blk-device,drive=hd0",
            "-device", "virtio-rng-device"]
        s = Session(argv, d / f"linux-{engine}.log")
        try:
            s.expect(PROMPT)
            w, c = s.lap()
            rows["boot"][engine] = (c, w)
            s.p.sendline("stty cols 1000")
            s.expect(PROMPT)
            for name, cmd in LINUX_WORK:
                s.lap()
                out = s.sh(f"cat /proc/uptime; {cmd}; cat /proc/uptime")
                w, c = s.lap()
                rows[name][engine] = (c, w)
                up = re.findall(r"^(\d+\.\d+) \d+\.\d+$", out, re.M)
                dt = float(up[-1]) - float(up[0])
                if engine == "rrvm":
                    insns.setdefault(name, {})[engine] = dt * 1e9 / (
                        1 << RRVM_SHIFT)
                elif engine == "qemu-icount":
                    insns.setdefault(name, {})[engine] = dt * 1e9
            s.p.sendline("poweroff")
            s.expect(s.pexpect.EOF, 120)
        finally:
            s.close()
    for name, _ in LINUX_WORK:
        n = insns.get(name, {})
        if "qemu-icount" in n:
            print(f"bench: linux {name}: {n['rrvm'] / 1e6:.1f} M guest "
                  f"instructions on rrvm, {n['qemu-icount'] / 1e6:.1f} M on "
                  "qemu -icount (guest uptime)", file=sys.stderr)
    out = [("linux boot to shell", None, rows["boot"])]
    for name, _ in LINUX_WORK:
        out.append((f"linux {name}", insns.get(name, {}).get("rrvm"),
                    rows[name]))
    return out


def fmt_row(name, insns, res):
    cells = [f"{name:34s}", f"{insns / 1e6:9.1f}" if insns else f"{'-':>9s}"]
    base = res["rrvm"][0]
    for engine in ENGINES:
        cpu, wall = res[engine]
        mips = f"{insns / 1e6 / cpu:7.0f}" if insns and cpu > 0 else \
            f"{'-':>7s}"
        ratio = f"{cpu / base:6.2f}" if engine != "rrvm" and base > 0 \
            else f"{'':6s}"
        cells.append(f"{cpu:7.2f} {wall:7.2f} {mips} {ratio}")
    return " | ".join(cells)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rrvm", default=str(TOP / "build/release/emulator/rrvm"))
    ap.add_argument("--rrvm-img",
                    default=str(TOP / "build/release/imgtool/rrvm-img"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply the bare-metal iteration counts")
    ap.add_argument("--only", choices=("bare", "uboot", "linux"))
    a = ap.parse_args()
    for tool in (a.rrvm, a.rrvm_img):
        if not os.access(tool, os.X_OK):
            sys.exit(f"bench: {tool} is not built (meson setup "
                     "-Dbuildtype=release build/release && ninja -C "
                     "build/release)")
    for tool in (QEMU, "riscv64-unknown-elf-gcc"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is not installed")
    d = Path(tempfile.mkdtemp(prefix="rrvm-bench-emu-"))
    rows = []
    try:
        if a.only in (None, "bare"):
            rows += bench_bare(a.rrvm, d, a.runs, a.scale)
        if a.only in (None, "uboot"):
            rows += bench_uboot(a.rrvm, d, a.runs)
        if a.only in (None, "linux"):
            art = load_artefacts()
            if art is None:
                print("bench: no build/artefacts.env (scripts/artefacts.sh):"
                      " skipping the Linux guest", file=sys.stderr)
            else:
                rows += bench_linux(a.rrvm, a.rrvm_img, d, art)
    finally:
        keep = os.environ.get("RRVM_BENCH_KEEP")
        if keep:
            print(f"bench: logs in {d}", file=sys.stderr)
        else:
            shutil.rmtree(d, ignore_errors=True)
    cols = f"{'cpu s':>7s} {'wall s':>7s} {'MIPS':>7s} {'ratio':>6s}"
    head = " | ".join([f"{'':34s}", f"{'':9s}"] +
                      [f"{e:^30s}" for e in ENGINES])
    sub = " | ".join([f"{'workload':34s}", f"{'M insns':>9s}"] + [cols] * 3)
    print(head)
    print(sub)
    print("-" * len(sub))
    for name, insns, res in rows:
        print(fmt_row(name, insns, res))
    print("\ncpu/wall: host seconds (bare-metal rows net of a one-iteration "
          "run); MIPS from cpu seconds; ratio: engine cpu / rrvm cpu (above "
          "1.00: rrvm faster). Linux M insns: rrvm's virtual time.")


if __name__ == "__main__":
    main()
