#!/usr/bin/env python3
"""rrvm-img against qemu-img, same command lines, same files, same run.

Prints one row per operation: median wall seconds of each tool over
--runs runs and the ratio qemu-img/rrvm-img (above 1.00 means rrvm-img is
faster). Compressed converts also print the output-size ratio (rrvm-img's
size over qemu-img's; the target is at most 1.02).

Usage: bench/bench_img.py [--rrvm-img PATH] [--size-mib 1024] [--runs 3]
                          [--dir DIR] [--only SUBSTRING]
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]


def sh(cmd, **kw):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)


def timed(cmd, setup=None):
    if setup:
        setup()
    t = time.perf_counter()
    sh(cmd)
    return time.perf_counter() - t


def copy_synced(src, dst):
    """Copy and flush, so that neither tool's first fsync pays for
    writing back the copy."""
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_inputs(d, size):
    rnd = random.Random(1)
    chunk = 1 << 20
    rand = d / "rand.raw"
    zero = d / "zero.raw"
    comp = d / "comp.raw"
    with open(rand, "wb") as f:
        for _ in range(size // chunk):
            f.write(os.urandom(chunk))
    # Fully allocated zeros with 16 random 4 MiB chunks (reference 3.1).
    with open(zero, "wb") as f:
        f.write(b"\0" * size)
        for _ in range(16):
            f.seek(rnd.randrange(0, size - (4 << 20), 4096))
            f.write(os.urandom(4 << 20))
    # Compressible: concatenated /usr/lib and /usr/bin files.
    with open(comp, "wb") as out:
        left = size
        for root in ("/usr/lib/x86_64-linux-gnu", "/usr/bin", "/usr/lib"):
            for dirpath, _, files in os.walk(root):
                for name in sorted(files):
                    p = os.path.join(dirpath, name)
                    if left <= 0 or not os.path.isfile(p) or os.path.islink(p):
                        continue
                    try:
                        data = open(p, "rb").read(left)
                    except OSError:
                        continue
                    out.write(data)
                    left -= len(data)
        if left > 0:
            out.write(b"\0" * left)
    return rand, zero, comp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rrvm-img", default=str(TOP / "build/release/imgtool/rrvm-img"))
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--comp-mib", type=int, default=256,
                    help="size of the compressed-convert inputs")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--only", default=None)
    a = ap.parse_args()
    tools = {"qemu-img": shutil.which("qemu-img"), "rrvm-img": a.rrvm_img}
    if not tools["qemu-img"] or not os.access(tools["rrvm-img"], os.X_OK):
        sys.exit("bench: need qemu-img and a built rrvm-img "
                 "(meson setup -Dbuildtype=release build/release)")
    d = Path(tempfile.mkdtemp(prefix="rrvm-bench-", dir=a.dir))
    # rrvm-img snapshot records into the snapshot catalog: keep the
    # scratch images out of the user's.
    os.environ["RRVM_CATALOG"] = str(d / "catalog.sqlite")
    try:
        size = a.size_mib << 20
        rand, zero, comp = make_inputs(d, size)
        csize = a.comp_mib << 20
        comp_small = d / "comp-small.raw"
        with open(comp, "rb") as i, open(comp_small, "wb") as o:
            o.write(i.read(csize))
        q = tools["qemu-img"]
        sh([q, "convert", "-f", "raw", "-O", "qcow2", str(rand), str(d / "rand.qcow2")])
        sh([q, "convert", "-f", "raw", "-O", "qcow2", str(zero), str(d / "zero.qcow2")])
        out = d / "out"
        rows = []

        def row(name, argv, setup=None, size_of=None):
            if a.only and a.only not in name:
                return
            res = {}
            sizes = {}
            for tool, exe in tools.items():
                times = []
                for _ in range(a.runs):
                    times.append(timed([exe] + argv(tool), setup))
                res[tool] = statistics.median(times)
                if size_of:
                    sizes[tool] = size_of.stat().st_size
            ratio = res["qemu-img"] / res["rrvm-img"]
            extra = ""
            if sizes:
                extra = f"size ratio {sizes['rrvm-img'] / sizes['qemu-img']:.4f}"
            rows.append((name, res["qemu-img"], res["rrvm-img"], ratio, extra))
            print(f"{name:48s} {res['qemu-img']:8.3f} {res['rrvm-img']:8.3f} "
                  f"{ratio:6.2f} {extra}", flush=True)

        print(f"{'operation':48s} {'qemu-img':>8s} {'rrvm-img':>8s} {'ratio':>6s}")

        def rm_out():
            if out.exists():
                out.unlink()

        row("convert raw->qcow2 random", lambda t: ["convert", "-f", "raw", "-O", "qcow2", str(rand), str(out)], rm_out)
        row("convert qcow2->raw random", lambda t: ["convert", "-f", "qcow2", "-O", "raw", str(d / "rand.qcow2"), str(out)], rm_out)
        row("convert raw->qcow2 mostly-zero", lambda t: ["convert", "-f", "raw", "-O", "qcow2", str(zero), str(out)], rm_out)
        row("convert qcow2->raw mostly-zero", lambda t: ["convert", "-f", "qcow2", "-O", "raw", str(d / "zero.qcow2"), str(out)], rm_out)
        row(f"convert -c zlib ({a.comp_mib} MiB binaries)", lambda t: ["convert", "-c", "-f", "raw", "-O", "qcow2", str(comp_small), str(out)], rm_out, out)
        row(f"convert -c zstd ({a.comp_mib} MiB binaries)", lambda t: ["convert", "-c", "-o", "compression_type=zstd", "-f", "raw", "-O", "qcow2", str(comp_small), str(out)], rm_out, out)
        bench_img = d / "bench.qcow2"

        def fresh_bench():
            copy_synced(d / "rand.qcow2", bench_img)

        row("bench -c 200000 -d 64 -s 4k -t none (read)", lambda t: ["bench", "-f", "qcow2", "-c", "200000", "-d", "64", "-s", "4k", "-t", "none", str(bench_img)], fresh_bench)
        row("bench -w -c 200000 -d 64 -s 4k -t none", lambda t: ["bench", "-w", "-f", "qcow2", "-c", "200000", "-d", "64", "-s", "4k", "-t", "none", str(bench_img)], fresh_bench)
        snap_img = d / "snap.qcow2"

        def fresh_snap():
            copy_synced(d / "rand.qcow2", snap_img)

        def snap_then_delete_setup():
            fresh_snap()
            sh([q, "snapshot", "-c", "s1", str(snap_img)])

        row("snapshot -c (1 GiB allocated)", lambda t: ["snapshot", "-c", "s1", str(snap_img)], fresh_snap)
        row("snapshot -d (1 GiB allocated)", lambda t: ["snapshot", "-d", "s1", str(snap_img)], snap_then_delete_setup)
        slow = [r for r in rows if r[3] < 1.0]
        print(f"\n{len(rows)} rows; rrvm-img slower on {len(slow)}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
