"""SIGKILL of rrvm at random instants during savevm and delvm.

Each trial starts rrvm on one image, loads a snapshot chosen at random
among those known to exist (so every trial checks that the previous kill
left the earlier snapshots loadable with the state hash they were saved
with), lets the guest run a little, reads the state hash, then sends a
savevm and a delvm back to back and kills rrvm at a random instant while
they run. After each kill `qemu-img check` must call the image clean
(leaks allowed: exit 0 or 3), and the snapshot table decides what exists:
a listed snapshot must be whole. At the end every surviving snapshot is
loaded and its hash compared.

RRVM_KILL_TRIALS sets the number of trials (default 200, the issue's
minimum per CI run; a long run can ask for more)."""
import json
import os
import random
import subprocess
import time

import vmproc
from vmproc import statehash
from conftest import needs_fw, run

FW = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"
UBOOT_S = "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"
TRIALS = int(os.environ.get("RRVM_KILL_TRIALS", "200"))


def start(rrvm, disk, sock):
    return vmproc.start(
        rrvm, ["-m", "64M", "-bios", FW, "-kernel", UBOOT_S, "-nodefaults",
               "-serial", "null", "-S", "-icount", "shift=3,sleep=off",
               "-drive", f"file={disk},if=virtio"],
        sock, stdout=subprocess.DEVNULL)


def listed(disk):
    r = run(["qemu-img", "snapshot", "-l", "-U", disk], check=False)
    assert r.returncode == 0, r.stderr
    tags = set()
    for line in r.stdout.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 2:
            tags.add(parts[1])
    return tags


def send_with_id(q, ident, line):
    msg = {"execute": "human-monitor-command",
           "arguments": {"command-line": line}, "id": ident}
    q.f.write(json.dumps(msg).encode() + b"\n")
    q.f.flush()


def replies_after_kill(q):
    """The ids of the replies rrvm sent before it died."""
    got = {}
    try:
        q.sock.settimeout(5)
        while True:
            r = q._recv()
            if "id" in r:
                got[r["id"]] = r
    except (EOFError, OSError, ValueError, AssertionError):
        pass
    return got


@needs_fw
def test_sigkill_during_savevm_and_delvm(rrvm, tmp_path):
    rng = random.Random(20261207)
    disk = str(tmp_path / "d.qcow2")
    run(["qemu-img", "create", "-f", "qcow2", disk, "32M"])
    sock = str(tmp_path / "qmp")

    # Snapshots known to exist, with the hash they were saved with, and
    # the icount they were saved at (stop-at takes absolute counts).
    known = {}
    p, q = start(rrvm, disk, sock)
    at = 0
    for i in range(3):
        at += 1_000_000
        assert "error" not in q.cmd("__org.rrvm_stop-at", icount=at)
        q.cmd("cont")
        q.wait_event("STOP", timeout=60)
        h = statehash(q)
        t0 = time.monotonic()
        assert q.hmp(f"savevm keep{i}") == ""
        took = time.monotonic() - t0
        known[f"keep{i}"] = (h, at)
    q.cmd("quit")
    p.wait(30)
    q.close()
    # Kill anywhere in about twice the time a save and a delete take.
    window = max(0.02, 4 * took)

    outcomes = {"savevm done": 0, "savevm cut": 0, "delvm done": 0,
                "delvm cut": 0}
    for trial in range(TRIALS):
        p, q = start(rrvm, disk, sock)
        try:
            tag = rng.choice(sorted(known))
            h, at = known[tag]
            assert q.hmp(f"loadvm {tag}") == "", (trial, tag)
            assert statehash(q) == h, (trial, tag)
            at += rng.randrange(1000, 200_000)
            assert "error" not in q.cmd("__org.rrvm_stop-at", icount=at)
            q.cmd("cont")
            q.wait_event("STOP", timeout=60)
            h_new = statehash(q)
            new = f"t{trial}"
            victims = [t for t in known if not t.startswith("keep")]
            victim = rng.choice(victims) if victims else None
            send_with_id(q, "save", f"savevm {new}")
            if victim:
                send_with_id(q, "del", f"delvm {victim}")
            time.sleep(rng.uniform(0, window))
        finally:
            p.kill()
            p.wait(30)
        got = replies_after_kill(q)
        q.close()
        r = run(["qemu-img", "check", disk], check=False)
        assert r.returncode in (0, 3), (trial, r.stdout + r.stderr)
        tags = listed(disk)
        if new in tags:
            known[new] = (h_new, at)
        assert "save" not in got or new in tags, (trial, got)
        outcomes["savevm done" if "save" in got else "savevm cut"] += 1
        if victim:
            if victim not in tags:
                del known[victim]
            assert "del" not in got or victim not in tags, (trial, got)
            outcomes["delvm done" if "del" in got else "delvm cut"] += 1
        for t in ("keep0", "keep1", "keep2"):
            assert t in tags, (trial, tags)

    p, q = start(rrvm, disk, sock)
    for tag, (h, _) in sorted(known.items()):
        assert q.hmp(f"loadvm {tag}") == "", tag
        assert statehash(q) == h, tag
    q.cmd("quit")
    p.wait(30)
    q.close()
    # The kills must have landed inside the operations, not only after.
    print(f"{TRIALS} trials: {outcomes}; {len(known)} snapshots survive")
    assert outcomes["savevm cut"] >= TRIALS // 10, outcomes
    assert outcomes["savevm done"] >= TRIALS // 10, outcomes
