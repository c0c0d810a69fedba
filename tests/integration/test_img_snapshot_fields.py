"""Snapshot fields with non-zero values: VM SIZE, DATE, VM CLOCK and ICOUNT.
Images are made at test time by qemu-system-riscv64 7.2's savevm (under
record/replay, the only mode in which QEMU records ICOUNT) and by rrvm-img
snapshot -c. rrvm-img must list and describe them exactly as qemu-img does,
and its operations that rewrite the snapshot table must keep every field of
every snapshot (dates and clocks included) as they were."""
import json
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import binary
from test_img_common import QEMU_IMG, QEMU_IO, sh

QEMU_SYS = shutil.which("qemu-system-riscv64")


@pytest.fixture(autouse=True)
def _require_qemu_tools():
    """Installed by scripts/packages.txt: missing means failed, not skipped."""
    if QEMU_IMG is None or QEMU_IO is None or QEMU_SYS is None:
        pytest.fail("needs qemu-img, qemu-io and qemu-system-riscv64")

# Guest code at 0x80000000: count t0 down from 1 << 24, then wfi forever.
# 2^25 instructions; a halted hart lets "stop" take effect at once (a
# busy loop under record/replay holds it for a whole icount budget).
LOOP = struct.pack("<5I",
                   0x010002b7,  # lui  t0, 0x1000
                   0xfff28293,  # addi t0, t0, -1
                   0xfe029ee3,  # bnez t0, .-4
                   0x10500073,  # wfi
                   0xffdff06f)  # j    .-4


def savevm(d, img, names, record=True):
    """Run the guest on @img's machine and save one snapshot per name in
    @names (cont, a pause, stop, savevm). Under QEMU's record mode with
    shift=7 each instruction is 128 ns of virtual time, so VM CLOCK is
    seconds, and ICOUNT is recorded; otherwise VM CLOCK follows the host
    clock and ICOUNT is not recorded (-1)."""
    (d / "loop.bin").write_bytes(LOOP)
    script = ""
    for n in names:
        script += f"cont\n__sleep__\nstop\nsavevm {n}\n"
    script += "quit\n"
    p = subprocess.Popen(
        [QEMU_SYS, "-M", "virt", "-m", "16M", "-nodefaults", "-display",
         "none", "-S", "-monitor", "stdio", "-bios", "none",
         "-device", "loader,file=loop.bin,addr=0x80000000",
         *(["-icount", "shift=7,rr=record,rrfile=rr.bin"] if record else []),
         "-drive", f"file={img},if=none,id=d0,format=qcow2"],
        cwd=d, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    for ln in script.splitlines():
        if ln == "__sleep__":
            time.sleep(0.3)
            continue
        p.stdin.write(ln.encode() + b"\n")
        p.stdin.flush()
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0, out.decode(errors="replace")
    assert b"Error" not in out, out.decode(errors="replace")


def info(d, img):
    return json.loads(sh([QEMU_IMG, "info", "-U", "--output=json", img],
                         d).stdout)


def snaps(d, img):
    return {s["name"]: s for s in info(d, img).get("snapshots", [])}


@pytest.fixture(scope="module")
def rrvm_img_path():
    return str(Path(binary("imgtool/rrvm-img")).resolve())


@pytest.fixture(scope="module")
def made(tmp_path_factory, rrvm_img_path):
    """A directory with vm.qcow2: data, QEMU snapshots vm1 and vm2 (savevm
    under record/replay) and vm3 (savevm, no icount), and rrvm-img
    snapshots r1 and r2 between them."""
    d = tmp_path_factory.mktemp("snapfields")
    sh([QEMU_IMG, "create", "-q", "-f", "qcow2", "vm.qcow2", "16M"], d)
    sh([QEMU_IO, "-f", "qcow2", "-c", "write -P 0x31 0 1M", "vm.qcow2"], d)
    savevm(d, "vm.qcow2", ["vm1"])
    sh([rrvm_img_path, "snapshot", "-c", "r1", "vm.qcow2"], d)
    sh([QEMU_IO, "-f", "qcow2", "-c", "write -P 0x32 512k 2M", "vm.qcow2"], d)
    savevm(d, "vm.qcow2", ["vm2"])
    time.sleep(1)  # r2's date differs from r1's by a second at least
    sh([rrvm_img_path, "snapshot", "-c", "r2", "vm.qcow2"], d)
    sh([QEMU_IO, "-f", "qcow2", "-c", "write -P 0x33 3M 1M", "vm.qcow2"], d)
    savevm(d, "vm.qcow2", ["vm3"], record=False)
    sh([QEMU_IO, "-f", "qcow2", "-c", "write -P 0x34 5M 1M", "vm.qcow2"], d)
    return d


def test_fields_are_set(made):
    """The setup gives every field a non-zero value somewhere."""
    s = snaps(made, "vm.qcow2")
    assert list(s) == ["vm1", "r1", "vm2", "r2", "vm3"]
    now = time.time()
    for n in ("vm1", "vm2", "vm3"):
        assert s[n]["vm-state-size"] > 0
        assert s[n]["vm-clock-nsec"] > 0
        assert s[n]["date-nsec"] > 0
    for n in ("vm1", "vm2"):
        assert s[n]["icount"] > 0
        assert s[n]["vm-clock-sec"] > 0
    assert "icount" not in s["vm3"]
    for n in ("r1", "r2"):
        # as qemu-img snapshot -c: no VM state, ICOUNT 0
        assert s[n]["vm-state-size"] == 0
        assert s[n]["icount"] == 0
        assert s[n]["vm-clock-sec"] == 0 and s[n]["vm-clock-nsec"] == 0
    for n in s.values():
        assert now - 600 < n["date-sec"] <= now
    assert s["r2"]["date-sec"] > s["r1"]["date-sec"]


LISTINGS = [["snapshot", "-l"], ["info"], ["info", "--output=json"],
            ["info", "--output=human"], ["snapshot", "-l", "-U"]]


@pytest.mark.parametrize("argv", LISTINGS, ids=" ".join)
def test_listing_same_as_qemu_img(made, rrvm_img_path, argv):
    """Exact output: dates in local time, VM CLOCK as HH:MM:SS.mmm, VM SIZE
    in binary units, ICOUNT where recorded, nanoseconds in JSON."""
    q = sh([QEMU_IMG] + argv + ["vm.qcow2"], made)
    r = sh([rrvm_img_path] + argv + ["vm.qcow2"], made)
    assert r.stdout == q.stdout.replace("qemu-img", "rrvm-img")
    assert r.stderr == q.stderr == ""


def test_rrvm_snapshot_date(tmp_path, rrvm_img_path):
    """rrvm-img snapshot -c stamps the current time, to the nanosecond
    field as QEMU does (g_get_real_time: microseconds)."""
    sh([QEMU_IMG, "create", "-q", "-f", "qcow2", "a.qcow2", "1M"], tmp_path)
    t0 = time.time()
    sh([rrvm_img_path, "snapshot", "-c", "s", "a.qcow2"], tmp_path)
    t1 = time.time()
    s = snaps(tmp_path, "a.qcow2")["s"]
    t = s["date-sec"] + s["date-nsec"] / 1e9
    assert int(t0) <= t <= t1
    assert s["date-nsec"] % 1000 == 0


# (name, argv for either tool), each run on a copy of vm.qcow2 (commit on
# an overlay made over it).
OPS = [
    ("snapshot-c", ["snapshot", "-c", "new", "vm.qcow2"]),
    ("snapshot-d", ["snapshot", "-d", "r1", "vm.qcow2"]),
    ("snapshot-d-qemu", ["snapshot", "-d", "vm1", "vm.qcow2"]),
    ("snapshot-a", ["snapshot", "-a", "vm1", "vm.qcow2"]),
    ("amend-lazy", ["amend", "-o", "lazy_refcounts=on", "vm.qcow2"]),
    ("amend-v2", ["amend", "-o", "compat=0.10", "vm.qcow2"]),
    ("amend-rb", ["amend", "-o", "refcount_bits=32", "vm.qcow2"]),
    ("resize", ["resize", "vm.qcow2", "64M"]),
    ("commit", ["commit", "top.qcow2"]),
    ("check-r", ["check", "-r", "all", "vm.qcow2"]),
]


def _run_op(tool, src, d, argv):
    shutil.copytree(src, d, copy_function=shutil.copy2)
    if argv[0] == "commit":
        sh([QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", "vm.qcow2", "-F",
            "qcow2", "top.qcow2"], d)
        sh([QEMU_IO, "-f", "qcow2", "-c", "write -P 0x44 1M 3M",
            "top.qcow2"], d)
    return sh([tool] + argv, d)


@pytest.mark.parametrize("name,argv", OPS, ids=[o[0] for o in OPS])
def test_table_rewrites_keep_fields(made, tmp_path, rrvm_img_path, name,
                                    argv):
    """The same operation by qemu-img and by rrvm-img on copies: every
    snapshot that remains keeps all its fields (as before, and as after
    qemu-img); a snapshot made by the command has qemu-img's fields but
    its date; qemu-img check is clean; the guest data equals qemu-img's."""
    before = snaps(made, "vm.qcow2")
    qd, rd = tmp_path / "q", tmp_path / "r"
    _run_op(QEMU_IMG, made, qd, argv)
    _run_op(rrvm_img_path, made, rd, argv)
    sh([QEMU_IMG, "check", "vm.qcow2"], rd)
    q, r = snaps(qd, "vm.qcow2"), snaps(rd, "vm.qcow2")
    assert list(r) == list(q)
    for n in r:
        if n in before:
            assert r[n] == before[n], n
            assert r[n] == q[n], n
        else:
            for k in ("date-sec", "date-nsec"):
                q[n].pop(k)
                r[n].pop(k)
            assert r[n] == q[n], n
    qi, ri = info(qd, "vm.qcow2"), info(rd, "vm.qcow2")
    for j in (qi, ri):
        j.pop("actual-size")
        for s in j.get("snapshots", []):
            if s["name"] not in before:
                s.pop("date-sec")
                s.pop("date-nsec")
    assert ri == qi
    sh([QEMU_IMG, "compare", "vm.qcow2", str(qd / "vm.qcow2")], rd)
    # Each remaining snapshot still reads as qemu-img's.
    for n in r:
        for d in (qd, rd):
            sh([QEMU_IMG, "convert", "-U", "-l", f"snapshot.name={n}", "-O",
                "raw", "vm.qcow2", f"{n}.raw"], d)
        assert (rd / f"{n}.raw").read_bytes() == \
            (qd / f"{n}.raw").read_bytes(), n
    p = sh([rrvm_img_path, "snapshot", "-l", "vm.qcow2"], rd)
    assert p.stdout == sh([QEMU_IMG, "snapshot", "-l", "vm.qcow2"],
                          rd).stdout.replace("qemu-img", "rrvm-img")


@pytest.mark.parametrize("snap", ["vm1", "r1", "vm3"])
def test_convert_l_reads_snapshot(made, tmp_path, rrvm_img_path, snap):
    """convert -l of a snapshot with VM state reads the snapshot's disk as
    qemu-img does (the VM state is not guest data)."""
    for tool, out in ((QEMU_IMG, "q.qcow2"), (rrvm_img_path, "r.qcow2")):
        sh([tool, "convert", "-l", f"snapshot.name={snap}", "-O", "qcow2",
            str(made / "vm.qcow2"), out], tmp_path)
    sh([QEMU_IMG, "check", "r.qcow2"], tmp_path)
    sh([QEMU_IMG, "compare", "q.qcow2", "r.qcow2"], tmp_path)
