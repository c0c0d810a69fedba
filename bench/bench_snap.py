#!/usr/bin/env python3
"""savevm / loadvm / info snapshots, rrvm against qemu-system-riscv64, same
firmware, same image format, same run.

Each engine boots Debian's U-Boot (S-mode, under OpenSBI) with a qcow2 disk
on virtio-blk and a QMP socket, waits for the `=> ` prompt, then times HMP
commands sent through QMP `human-monitor-command` (the round trip: both
engines answer savevm only once the snapshot is flushed):
  idle      savevm at the prompt; a second savevm right after it; loadvm
  busy      after U-Boot's `mw.l` wrote most of RAM (768 MiB of 1 GiB,
            192 MiB of 256 MiB): savevm, a second savevm right after,
            loadvm; then loadvm of the idle snapshot and of the busy one
            again (RAM differs from each in the touched part)
and the image's growth (allocated bytes, as `du`) per snapshot; the
`mw.l` row is the guest's own time to touch that memory (the engines'
CPU speed, not a snapshot cost). Then
`info snapshots` on an image holding SNAPS snapshots (one real savevm,
the rest disk-only ones made by qemu-img). It prints milliseconds (median
of RUNS) per engine and QEMU/rrvm ratios (above 1.00: rrvm is faster or
smaller).

Usage: bench/bench_snap.py [--rrvm PATH] [--runs 3] [--mem 256,1024]
                           [--snaps 1000] [--engines rrvm,qemu]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_emu  # noqa: E402  (QEMU, QEMU_CPU, OPENSBI, UBOOT_S)
import bench_mon  # noqa: E402  (Qmp)

TOP = Path(__file__).resolve().parents[1]
RAM_BASE = 0x80000000
WRITE_AT = 0x81000000  # above OpenSBI and U-Boot's load address


class Qmp(bench_mon.Qmp):
    """bench_mon's QMP client, with HMP command timing."""

    def hmp(self, line):
        """(seconds, output) of one HMP command."""
        t = time.perf_counter()
        r = self.cmd("human-monitor-command", **{"command-line": line})
        dt = time.perf_counter() - t
        if "return" not in r:
            sys.exit(f"bench: {line!r}: {r}")
        return dt, r["return"]


def allocated(path):
    return os.stat(path).st_blocks * 512


def engine_argv(engine, rrvm, mem, disk, sock):
    if engine == "rrvm":
        argv = [rrvm, "-M", "virt"]
    else:
        argv = [bench_emu.QEMU, "-M", "virt", "-cpu", bench_emu.QEMU_CPU,
                "-smp", "1", "-nic", "none"]
    return argv + ["-m", f"{mem}M", "-nographic", "-bios", bench_emu.OPENSBI,
                   "-kernel", bench_emu.UBOOT_S, "-drive",
                   f"file={disk},format=qcow2,if=virtio",
                   "-qmp", f"unix:{sock},server=on,wait=off"]


def boot(engine, rrvm, mem, disk, d, tag):
    sock = d / f"{tag}.qmp"
    s = bench_emu.Session(engine_argv(engine, rrvm, mem, disk, sock),
                          d / f"{tag}.log")
    s.expect("Hit any key to stop autoboot", 120)
    s.p.send("\r")
    s.expect("=> ", 60)
    return s, Qmp(sock)


def uboot(s, cmd, timeout=600):
    s.p.send(cmd + "\r")
    s.expect("=> ", timeout)


def check_listed(disk, tags):
    out = subprocess.run(["qemu-img", "snapshot", "-l", "-U", str(disk)],
                         capture_output=True, text=True, check=True).stdout
    for t in tags:
        if f" {t} " not in out:
            sys.exit(f"bench: qemu-img snapshot -l does not list {t}:\n{out}")


def one_run(engine, rrvm, mem, d, tag):
    """Timings (s) and growths (bytes) of one boot."""
    disk = d / f"{tag}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk),
                    "64M"], check=True)
    s, q = boot(engine, rrvm, mem, disk, d, tag)
    r = {}
    try:
        a0 = allocated(disk)
        r["idle savevm"], _ = q.hmp("savevm idle1")
        a1 = allocated(disk)
        r["idle savevm again"], _ = q.hmp("savevm idle2")
        a2 = allocated(disk)
        r["idle loadvm"], _ = q.hmp("loadvm idle1")
        touch = (768 if mem >= 1024 else mem * 3 // 4) << 20
        t = time.perf_counter()
        uboot(s, f"mw.l {WRITE_AT:#x} 0x5a5aa5a5 {touch // 4:#x}")
        r["mw.l (guest touch)"] = time.perf_counter() - t
        r["busy savevm"], _ = q.hmp("savevm busy1")
        a3 = allocated(disk)
        r["busy savevm again"], _ = q.hmp("savevm busy2")
        a4 = allocated(disk)
        r["busy loadvm"], _ = q.hmp("loadvm busy1")
        # Back and forth: RAM differs from the snapshot in the touched part.
        r["idle loadvm after busy"], _ = q.hmp("loadvm idle1")
        r["busy loadvm after idle"], _ = q.hmp("loadvm busy1")
        r["growth idle savevm (MiB)"] = (a1 - a0) / 2**20
        r["growth idle savevm again (MiB)"] = (a2 - a1) / 2**20
        r["growth busy savevm (MiB)"] = (a3 - a2) / 2**20
        r["growth busy savevm again (MiB)"] = (a4 - a3) / 2**20
    finally:
        s.close()
    check_listed(disk, ("idle1", "idle2", "busy1", "busy2"))
    return r


def info_snapshots(engine, rrvm, d, nsnaps, runs):
    disk = d / f"many-{engine}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk),
                    "64M"], check=True)
    s, q = boot(engine, rrvm, 64, disk, d, f"many-{engine}-boot")
    try:
        q.hmp("savevm first")
    finally:
        s.close()
    for i in range(1, nsnaps):
        subprocess.run(["qemu-img", "snapshot", "-c", f"s{i}", str(disk)],
                       check=True)
    s, q = boot(engine, rrvm, 64, disk, d, f"many-{engine}")
    try:
        times = []
        for _ in range(runs):
            dt, out = q.hmp("info snapshots")
            times.append(dt)
        if "first" not in out:
            sys.exit(f"bench: {engine}: info snapshots lacks 'first'")
    finally:
        s.close()
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rrvm", default=str(TOP / "build" / "release" /
                                          "emulator" / "rrvm"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mem", default="256,1024")
    ap.add_argument("--snaps", type=int, default=1000)
    ap.add_argument("--engines", default="rrvm,qemu")
    args = ap.parse_args()
    engines = args.engines.split(",")
    for tool in (bench_emu.QEMU, "qemu-img"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} not found")
    d = Path(tempfile.mkdtemp(prefix="rrvm-bench-snap-", dir="/var/tmp"))
    # rrvm records each savevm in the snapshot catalog: keep the scratch
    # images out of the user's (the sqlite commit is part of the timing).
    os.environ["RRVM_CATALOG"] = str(d / "catalog.sqlite")
    rows = {}  # row -> engine -> value
    for mem in (int(m) for m in args.mem.split(",")):
        for engine in engines:
            runs = [one_run(engine, args.rrvm, mem, d, f"{engine}-{mem}-{i}")
                    for i in range(args.runs)]
            for k in runs[0]:
                name = f"{mem} MiB {k}"
                rows.setdefault(name, {})[engine] = statistics.median(
                    r[k] for r in runs)
    for engine in engines:
        name = f"info snapshots, {args.snaps} snapshots"
        rows.setdefault(name, {})[engine] = info_snapshots(
            engine, args.rrvm, d, args.snaps, args.runs)
    print(f"{'':44}" + "".join(f"{e:>12}" for e in engines) +
          ("   qemu/rrvm" if "qemu" in engines and "rrvm" in engines else ""))
    for name, vals in rows.items():
        growth = "growth" in name
        cells = "".join(
            f"{vals[e]:12.2f}" if growth else f"{vals[e] * 1000:10.1f}ms"
            for e in engines)
        ratio = ""
        if "qemu" in vals and "rrvm" in vals:
            ratio = (f"{vals['qemu'] / vals['rrvm']:11.2f}"
                     if vals["rrvm"] > 0 else "        inf")
        print(f"{name:44}{cells}{ratio}")
    shutil.rmtree(d)


if __name__ == "__main__":
    main()
