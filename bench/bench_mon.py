#!/usr/bin/env python3
"""QMP round-trip latency, rrvm against qemu-system-riscv64 -icount shift=0,
same Linux guest (scripts/artefacts.sh), same run.

Each engine boots the guest to its shell with a QMP monitor on a unix
socket, then times REQUESTS round trips (send, read the reply) of
`query-status` and of `human-monitor-command` "info registers":
1. with the guest idle at its shell (the hart waits in WFI), and
2. with the guest running a CPU-bound shell loop in the background.
It prints p50 and p99 in milliseconds per engine and the ratio of QEMU's
p99 to rrvm's (above 1.00: rrvm answers faster). The row "guest loop (s)"
gives the wall seconds of a fixed guest shell loop, quiet and while QMP
requests arrive back to back, so a monitor that answered quickly by
starving the guest would show.

Usage: bench/bench_mon.py [--rrvm PATH] [--requests 1000]
                          [--engines rrvm,qemu-icount]
"""
import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_emu  # noqa: E402  (Session, engine_argv, load_artefacts)

TOP = Path(__file__).resolve().parents[1]


class Qmp:
    """A minimal QMP client: one socket, replies read up to CRLF."""

    def __init__(self, path, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(str(path))
                break
            except OSError:
                self.s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b""
        self.read()  # greeting
        self.cmd("qmp_capabilities")

    def read(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.s.sendall(json.dumps(msg).encode())
        while True:
            r = self.read()
            if "event" not in r:
                return r

    def close(self):
        self.s.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def time_requests(q, n, name, **args):
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        r = q.cmd(name, **args)
        lat.append((time.perf_counter() - t) * 1000)
        if "return" not in r:
            sys.exit(f"bench: {name}: {r}")
    return pct(lat, 50), pct(lat, 99)


LOOP = "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"


def guest_loop_wall(s, q=None):
    """Wall seconds of a fixed guest shell loop; with @q, while another
    thread sends query-status as fast as replies come back."""
    import threading
    stop = threading.Event()
    count = [0]

    def hammer():
        while not stop.is_set():
            q.cmd("query-status")
            count[0] += 1
    t = threading.Thread(target=hammer) if q else None
    if t:
        t.start()
    s.lap()
    s.sh(LOOP)
    wall = s.lap()[0]
    if t:
        stop.set()
        t.join()
    return wall, count[0]


def bench_engine(engine, rrvm, img, art, d, n):
    import subprocess
    disk = d / f"root-{engine}.qcow2"
    subprocess.run([img, "convert", "-f", "raw", "-O", "qcow2",
                    art["RRVM_ROOTFS_RAW"], str(disk)], check=True)
    sock = d / f"qmp-{engine}.sock"
    argv = bench_emu.engine_argv(engine, rrvm) + [
        "-bios", art["RRVM_BIOS"], "-kernel", art["RRVM_KERNEL"],
        "-append", "console=ttyS0 root=/dev/vda rw",
        "-drive", f"file={disk},format=qcow2,if=none,id=hd0",
        "-device", "virtio-blk-device,drive=hd0",
        "-qmp", f"unix:{sock},server=on,wait=off"]
    s = bench_emu.Session(argv, d / f"mon-{engine}.log")
    res = {}
    try:
        s.expect(bench_emu.PROMPT)
        s.p.sendline("stty cols 1000")
        s.expect(bench_emu.PROMPT)
        q = Qmp(sock)
        time.sleep(1)  # let the guest settle into its idle loop
        res["idle query-status"] = time_requests(q, n, "query-status")
        res["idle info registers"] = time_requests(
            q, n, "human-monitor-command", **{"command-line": "info registers"})
        quiet, _ = guest_loop_wall(s)
        loaded, sent = guest_loop_wall(s, q)
        res["guest loop s (q/l)"] = (quiet, loaded)
        print(f"bench: {engine}: guest loop {quiet:.2f} s quiet, "
              f"{loaded:.2f} s during {sent} query-status",
              file=sys.stderr)
        s.p.sendline("while :; do :; done &")
        s.expect(bench_emu.PROMPT)
        time.sleep(1)
        res["busy query-status"] = time_requests(q, n, "query-status")
        res["busy info registers"] = time_requests(
            q, n, "human-monitor-command", **{"command-line": "info registers"})
        q.close()
        s.p.sendline("kill %1; poweroff")
        s.expect(s.pexpect.EOF, 120)
    finally:
        s.close()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rrvm", default=str(TOP / "build/release/emulator/rrvm"))
    ap.add_argument("--rrvm-img",
                    default=str(TOP / "build/release/imgtool/rrvm-img"))
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--engines", default="rrvm,qemu-icount")
    opt = ap.parse_args()
    art = bench_emu.load_artefacts()
    if not art:
        sys.exit("bench: no build/artefacts.env: run scripts/artefacts.sh")
    engines = opt.engines.split(",")
    with tempfile.TemporaryDirectory(prefix="rrvm-bench-mon-") as td:
        d = Path(td)
        results = {e: bench_engine(e, opt.rrvm, opt.rrvm_img, art, d,
                                   opt.requests) for e in engines}
    print(f"QMP round trips, {opt.requests} requests each, "
          "p50 / p99 in ms (ratio: QEMU p99 over rrvm p99)")
    rows = list(next(iter(results.values())))
    print(f"{'':24s}" + "".join(f"{e:>22s}" for e in engines) + "   ratio")
    print("(guest loop: wall seconds of a shell loop, quiet / under QMP load)")
    for row in rows:
        cells = "".join(f"{results[e][row][0]:10.3f} {results[e][row][1]:10.3f} "
                        for e in engines)
        ratio = ""
        if "rrvm" in results and "qemu-icount" in results and \
                not row.startswith("guest"):
            ratio = (f"{results['qemu-icount'][row][1] / results['rrvm'][row][1]:7.2f}")
        print(f"{row:24s}{cells}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
