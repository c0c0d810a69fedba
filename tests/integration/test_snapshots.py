"""savevm, loadvm, delvm, info snapshots and -loadvm (docs/snapshots.md):
messages and tables byte for byte against qemu-system-riscv64 7.2, state
hashes equal after a load, a run that saves as one that does not, U-Boot's
console after a load, incremental image growth, corrupt and foreign
vmstates refused, qemu-img listing and checking rrvm's snapshots, 50
snapshots deleted in random order, the QMP jobs against QEMU, the Linux
guest and a snapshot=on overlay. SIGKILL during savevm and delvm:
test_snapshot_kill.py."""
import os
import random
import re
import time

import pexpect
import pytest

from qmpclient import Qmp
from vmproc import finish, run_to, start, statehash, status
from conftest import needs_fw, needs_qemu, run

FW = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"
UBOOT_S = "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"
QEMU = "qemu-system-riscv64"
QEMU_CPU = ("rv64,h=false,sstc=false,zba=false,zbb=false,zbc=false,"
            "zbs=false,priv_spec=v1.11.0,pmu-num=0,Zihintpause=false")
TIMEOUT = 180

def qcow2(tmp_path, name, size="32M"):
    path = tmp_path / name
    run(["qemu-img", "create", "-f", "qcow2", str(path), size])
    return str(path)


def uboot_args(*extra, mem="64M"):
    """U-Boot under OpenSBI, no serial, a fixed virtual clock: the guest
    runs the same instructions in every run."""
    return ["-m", mem, "-bios", FW, "-kernel", UBOOT_S, "-nodefaults",
            "-serial", "null", "-S", "-icount", "shift=3,sleep=off", *extra]


# ---- messages and tables against QEMU 7.2 ----

ROW = re.compile(r"^(\S+) +(\S+) +([0-9.]+ \w*B) +"
                 r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) +(\d\d:\d\d:\d\d\.\d{3})"
                 r" *(\d*)\r?$")


def normalise(text):
    """Snapshot rows as (ID, TAG, VM CLOCK): VM SIZE and ICOUNT differ by
    design (docs/monitor.md), dates and generated tags by time."""
    out = []
    for line in text.split("\n"):
        m = ROW.match(line)
        if m:
            tag = re.sub(r"^vm-\d{14}$", "vm-GENERATED", m.group(2))
            line = f"ROW {m.group(1)} {tag} {m.group(5)}"
        out.append(line)
    return "\n".join(out)


def session(binary, extra, cmds, sock):
    args = ["-bios", FW, "-nodefaults", "-display", "none", "-S", "-m",
            "64M", *extra]
    p, q = start(binary, args, sock)
    out = [normalise(q.hmp(c)) for c in cmds]
    finish(p, q)
    return out


SCENARIOS = [
    ([], ["info snapshots", "savevm x", "loadvm x", "delvm x"]),
    ([("raw", "")], ["info snapshots", "savevm x", "loadvm x", "delvm x"]),
    ([("raw", ",readonly=on")], ["info snapshots", "savevm x"]),
    ([("raw", ",readonly=on"), ("qcow2", "")],
     ["info snapshots", "savevm x", "savevm", "info snapshots", "savevm x",
      "info snapshots", "loadvm 1", "loadvm nope", "delvm nope", "delvm 2",
      "delvm x", "info snapshots"]),
    ([("qcow2-disk-only", "")], ["info snapshots", "loadvm disk1"]),
    ([("qcow2", ""), ("qcow2-disk-only", "")],
     ["savevm a", "info snapshots", "savevm b", "loadvm a", "delvm disk1",
      "info snapshots"]),
    ([("qcow2-disk-only", ""), ("raw", "")],
     ["info snapshots", "savevm x", "loadvm disk1", "delvm disk1",
      "info snapshots"]),
]


def make_drives(tmp_path, spec, tag):
    args = []
    for i, (kind, opts) in enumerate(spec):
        path = tmp_path / f"{tag}{i}.img"
        if kind == "raw":
            run(["qemu-img", "create", "-f", "raw", str(path), "1M"])
            args += ["-drive", f"file={path},format=raw,if=virtio{opts}"]
        else:
            run(["qemu-img", "create", "-f", "qcow2", str(path), "16M"])
            if kind == "qcow2-disk-only":
                run(["qemu-img", "snapshot", "-c", "disk1", str(path)])
            args += ["-drive", f"file={path},format=qcow2,if=virtio{opts}"]
    return args


@needs_fw
@needs_qemu
@pytest.mark.parametrize("n", range(len(SCENARIOS)))
def test_messages_and_tables_match_qemu(rrvm, tmp_path, n):
    spec, cmds = SCENARIOS[n]
    a = session(rrvm, make_drives(tmp_path, spec, "r"), cmds,
                str(tmp_path / "r.sock"))
    b = session(QEMU, ["-cpu", QEMU_CPU, "-nic", "none",
                       *make_drives(tmp_path, spec, "q")], cmds,
                str(tmp_path / "q.sock"))
    assert a == b


@needs_fw
@needs_qemu
def test_events_and_run_states_match_qemu(rrvm, tmp_path):
    """savevm and loadvm of a running machine: STOP, (RESET), RESUME in
    7.2's order; a paused machine stays paused without events."""
    def events(binary, extra):
        disk = qcow2(tmp_path, f"{binary[-4:]}.qcow2")
        p, q = start(binary, ["-bios", FW, "-nodefaults", "-display", "none",
                              "-m", "64M", *extra, "-drive",
                              f"file={disk},if=virtio"],
                     str(tmp_path / "e.sock"))
        seen = []
        for c in ("savevm a", "loadvm a", "stop", "savevm b", "loadvm b"):
            q.events.clear()
            assert q.hmp(c) == ""
            time.sleep(0.2)
            q.cmd("query-status")
            seen.append((c, [(e["event"], e.get("data"))
                             for e in q.events], status(q)))
        finish(p, q)
        return seen
    a = events(rrvm, [])
    b = events(QEMU, ["-cpu", QEMU_CPU, "-nic", "none"])
    assert a == b


# ---- exact state ----

@needs_fw
def test_loadvm_restores_the_saved_hash_and_the_run_continues(rrvm, tmp_path):
    disk = qcow2(tmp_path, "d.qcow2")
    p, q = start(rrvm, uboot_args("-drive", f"file={disk},if=virtio"),
                 str(tmp_path / "s"))
    run_to(q, 5_000_000)
    saved = statehash(q)
    assert q.hmp("savevm first") == ""
    assert statehash(q) == saved, "savevm changed the state"
    run_to(q, 9_000_000)
    later = statehash(q)
    assert q.hmp("loadvm first") == ""
    assert statehash(q) == saved
    assert status(q) == "paused"
    run_to(q, 9_000_000)
    assert statehash(q) == later
    finish(p, q)
    # -loadvm at start-up gives the same state.
    p, q = start(rrvm, uboot_args("-drive", f"file={disk},if=virtio",
                                  "-loadvm", "first"), str(tmp_path / "s"))
    assert statehash(q) == saved
    assert status(q) == "prelaunch"
    run_to(q, 9_000_000)
    assert statehash(q) == later
    finish(p, q)
    r = run([rrvm, "-M", "virt", *uboot_args("-drive",
                                             f"file={disk},if=virtio"),
             "-loadvm", "nope"], check=False)
    assert r.returncode == 1
    assert "Snapshot 'nope' does not exist in one or more devices" in r.stderr


@needs_fw
def test_loads_in_any_order_restore_exact_hashes(rrvm, tmp_path):
    """loadvm copies only the pages it cannot prove equal (unwritten since
    the last save or load, same table entry, same cluster): in any order of
    saves, loads and runs, each load gives the saved hash and the run then
    continues as it did."""
    disk = qcow2(tmp_path, "d.qcow2")
    p, q = start(rrvm, uboot_args("-drive", f"file={disk},if=virtio"),
                 str(tmp_path / "s"))
    marks = {}
    for n, tag in ((3_000_000, "a"), (6_000_000, "b"), (9_000_000, "c")):
        run_to(q, n)
        marks[tag] = (n, statehash(q))
        assert q.hmp(f"savevm {tag}") == ""
    run_to(q, 12_000_000)
    marks["end"] = (12_000_000, statehash(q))
    after = {"a": "b", "b": "c", "c": "end"}
    for tag, go in (("a", True), ("a", False), ("a", False), ("c", False),
                     ("b", True), ("b", True), ("a", False), ("c", True),
                     ("b", False)):
        assert q.hmp(f"loadvm {tag}") == ""
        assert statehash(q) == marks[tag][1], tag
        if go:
            run_to(q, marks[after[tag]][0])
            assert statehash(q) == marks[after[tag]][1], tag
    finish(p, q)
    assert "No errors were found" in run(["qemu-img", "check", disk]).stdout


@needs_fw
def test_saving_does_not_change_the_run(rrvm, tmp_path):
    """A run that saves every million instructions (and loads the last
    save once) ends in the same state as one that never saves."""
    end = 14_000_000
    other = qcow2(tmp_path, "o.qcow2")
    p, q = start(rrvm, uboot_args("-drive", f"file={other},if=virtio"),
                 str(tmp_path / "a"))
    run_to(q, end)
    plain = statehash(q)
    finish(p, q)
    disk = qcow2(tmp_path, "d.qcow2")
    p, q = start(rrvm, uboot_args("-drive", f"file={disk},if=virtio"),
                 str(tmp_path / "b"))
    for n in range(1_000_000, end, 1_000_000):
        run_to(q, n)
        assert q.hmp(f"savevm s{n}") == ""
    assert q.hmp(f"loadvm s{n}") == ""
    run_to(q, end)
    assert statehash(q) == plain
    finish(p, q)
    assert "No errors were found" in run(["qemu-img", "check", disk]).stdout


# ---- U-Boot's console ----

def uboot_console(rrvm, disk, sock):
    g = pexpect.spawn(rrvm, ["-M", "virt", "-m", "64M", "-bios", FW,
                             "-kernel", UBOOT_S, "-nographic", "-icount",
                             "shift=3,sleep=off", "-drive",
                             f"file={disk},if=virtio", "-qmp",
                             f"unix:{sock},server=on,wait=off"],
                      timeout=TIMEOUT, encoding="latin1")
    g.expect("Hit any key to stop autoboot")
    g.send("\r")
    g.expect("=> ")
    q = Qmp(sock, timeout=60)
    q.cmd("qmp_capabilities")
    return g, q


def typed(g, line):
    g.sendline(line)
    g.expect_exact("\n=> ")
    return g.before.replace("\r", "")


@needs_fw
def test_uboot_session_continues_identically_after_loadvm(rrvm, tmp_path):
    disk = qcow2(tmp_path, "d.qcow2")
    g, q = uboot_console(rrvm, disk, str(tmp_path / "s"))
    typed(g, "mw.l 0x82000000 0x11223344 0x40")
    q.cmd("stop")
    saved = statehash(q)
    assert q.hmp("savevm prompt") == ""
    q.cmd("cont")
    script = ["md.l 0x82000000 8", "mw.l 0x82000000 0xdeadbeef 4",
              "md.l 0x82000000 8", "crc32 0x82000000 0x100"]
    first = [typed(g, c) for c in script]
    assert "deadbeef" in first[2]
    q.cmd("stop")
    assert q.hmp("loadvm prompt") == ""
    assert statehash(q) == saved
    q.cmd("cont")
    again = [typed(g, c) for c in script]
    assert again == first
    q.close()
    g.sendline("poweroff")
    g.expect(pexpect.EOF)


# ---- incremental saves ----

def image_bytes(path):
    return os.stat(path).st_size


@needs_fw
def test_incremental_growth(rrvm, tmp_path):
    disk = qcow2(tmp_path, "d.qcow2")
    g, q = uboot_console(rrvm, disk, str(tmp_path / "s"))
    assert q.hmp("savevm one") == ""
    s1 = image_bytes(disk)
    time.sleep(1)
    assert q.hmp("savevm two") == ""
    s2 = image_bytes(disk)
    # Idle at the prompt: the blob, table, header, and the few pages the
    # guest wrote (stack, timers) -- a handful of 64 KiB clusters.
    assert s2 - s1 <= 24 * 65536, (s1, s2)
    typed(g, "mw.l 0x82000000 0x5a5a5a5a 0x400000")  # 16 MiB
    assert q.hmp("savevm three") == ""
    s3 = image_bytes(disk)
    assert 16 << 20 <= s3 - s2 <= (16 << 20) + 24 * 65536, (s2, s3)
    # Re-writing the same pages is shared no more: about 16 MiB again.
    typed(g, "mw.l 0x82000000 0xa5a5a5a5 0x400000")
    assert q.hmp("savevm four") == ""
    s4 = image_bytes(disk)
    assert 16 << 20 <= s4 - s3 <= (16 << 20) + 24 * 65536, (s3, s4)
    # Deleting the middle snapshots keeps the others loadable.
    assert q.hmp("delvm two") == ""
    assert q.hmp("delvm three") == ""
    assert q.hmp("loadvm one") == ""
    assert q.hmp("loadvm four") == ""
    q.cmd("stop")
    q.close()
    g.sendline("")
    g.terminate(force=True)
    r = run(["qemu-img", "check", disk], check=False)
    assert r.returncode == 0 and "No errors were found" in r.stdout, r.stdout


# ---- what qemu-img sees ----

@needs_fw
def test_qemu_img_lists_and_checks(rrvm, tmp_path):
    disk = qcow2(tmp_path, "d.qcow2")
    p, q = start(rrvm, uboot_args("-drive", f"file={disk},if=virtio"),
                 str(tmp_path / "s"))
    run_to(q, 3_000_000)
    assert q.hmp("savevm alpha") == ""
    # savevm returns once the snapshot is durable: qemu-img sees it now.
    out = run(["qemu-img", "snapshot", "-U", "-l", disk]).stdout
    row = [ln for ln in out.splitlines() if " alpha " in ln]
    assert row, out
    m = ROW.match(row[0])
    assert m and m.group(3) != "0 B" and m.group(6) == "3000000", row
    assert m.group(5) != "00:00:00.000"
    finish(p, q)
    assert "No errors were found" in run(["qemu-img", "check", disk]).stdout


# ---- refused loads leave the machine alone ----

def flip(path, needle, offset):
    data = bytearray(open(path, "rb").read())
    at = data.find(needle)
    assert at >= 0
    data[at + offset] ^= 0x40
    open(path, "wb").write(bytes(data))


def refused(rrvm, tmp_path, disk, args, expect):
    p, q = start(rrvm, args + ["-drive", f"file={disk},if=virtio"],
                 str(tmp_path / "x"))
    run_to(q, 2_000_000)
    h = statehash(q)
    # Paused: refused, and nothing changed (the same hash).
    out = q.hmp("loadvm s")
    assert expect in out, out
    assert out.startswith("Error: ")
    assert statehash(q) == h
    assert status(q) == "paused"
    # Running: refused without STOP, and still running.
    q.cmd("cont")
    q.events.clear()
    out = q.hmp("loadvm s")
    assert expect in out, out
    assert status(q) == "running"
    assert [e["event"] for e in q.events] == []
    finish(p, q)


@needs_fw
def test_flipped_bytes_are_refused(rrvm, tmp_path):
    disk = qcow2(tmp_path, "d.qcow2")
    p, q = start(rrvm, uboot_args("-drive", f"file={disk},if=virtio"),
                 str(tmp_path / "s"))
    run_to(q, 3_000_000)
    assert q.hmp("savevm s") == ""
    finish(p, q)
    good = open(disk, "rb").read()
    # A byte of the machine blob (after its "RRVS" magic).
    flip(disk, b"RRVS", 200)
    refused(rrvm, tmp_path, disk, uboot_args(), "checksum mismatch")
    # A byte of guest RAM: U-Boot's code as loaded at 0x80200000.
    open(disk, "wb").write(good)
    code = open(UBOOT_S, "rb").read()[0x2000:0x2040]
    flip(disk, code, 7)
    refused(rrvm, tmp_path, disk, uboot_args(), "RAM page at 0x")
    # The header.
    open(disk, "wb").write(good)
    flip(disk, b"RRSN", 20)
    refused(rrvm, tmp_path, disk, uboot_args(), "corrupt")
    # Intact again: it loads.
    open(disk, "wb").write(good)
    p, q = start(rrvm, uboot_args("-drive", f"file={disk},if=virtio"),
                 str(tmp_path / "s"))
    assert q.hmp("loadvm s") == ""
    finish(p, q)


@needs_fw
def test_other_configuration_is_refused(rrvm, tmp_path):
    disk = qcow2(tmp_path, "d.qcow2")
    p, q = start(rrvm, uboot_args("-drive", f"file={disk},if=virtio"),
                 str(tmp_path / "s"))
    run_to(q, 2_000_000)
    assert q.hmp("savevm s") == ""
    finish(p, q)
    refused(rrvm, tmp_path, disk, uboot_args(mem="128M"),
            "vmstate is from another machine: 64 MiB of RAM, this one has "
            "128 MiB")
    refused(rrvm, tmp_path, disk, ["-m", "64M", "-bios", FW, "-nodefaults",
                                   "-serial", "null", "-S", "-icount",
                                   "shift=3,sleep=off"],
            "the firmware, kernel, initrd or device tree differ")


@needs_fw
@needs_qemu
def test_qemu_vmstate_is_refused(rrvm, tmp_path):
    disk = qcow2(tmp_path, "d.qcow2")
    p, q = start(QEMU, ["-cpu", QEMU_CPU, "-nic", "none", "-display", "none",
                        *uboot_args("-drive", f"file={disk},if=virtio")],
                 str(tmp_path / "q"))
    assert q.hmp("savevm s") == ""
    finish(p, q)
    refused(rrvm, tmp_path, disk, uboot_args(), "not in rrvm's format")


# ---- many snapshots ----

@needs_fw
def test_fifty_snapshots_deleted_in_random_order(rrvm, tmp_path):
    disk = qcow2(tmp_path, "d.qcow2")
    p, q = start(rrvm, uboot_args("-drive", f"file={disk},if=virtio"),
                 str(tmp_path / "s"))
    hashes = {}
    for i in range(50):
        run_to(q, 1_000_000 + 200_000 * i)
        assert q.hmp(f"savevm t{i}") == ""
        hashes[f"t{i}"] = statehash(q)
    rng = random.Random(11)
    order = list(hashes)
    rng.shuffle(order)
    for k, tag in enumerate(order[:44]):
        assert q.hmp(f"delvm {tag}") == ""
        del hashes[tag]
        r = run(["qemu-img", "check", "-U", disk], check=False)
        assert r.returncode == 0 and "No errors were found" in r.stdout, \
            r.stdout
        # Every survivor after the first, middle and last deletes; one
        # random survivor after the others.
        check = list(hashes) if k in (0, 21, 43) else [rng.choice(
            list(hashes))]
        for t in check:
            assert q.hmp(f"loadvm {t}") == "", t
            assert statehash(q) == hashes[t], t
    out = run(["qemu-img", "snapshot", "-U", "-l", disk]).stdout
    assert sorted(re.findall(r" (t\d+) ", out)) == sorted(hashes)
    finish(p, q)
    assert "No errors were found" in run(["qemu-img", "check", disk]).stdout


# ---- QMP jobs ----

def qmp_transcript(binary, tmp_path, name):
    """Commands and everything the monitor sent after each (events and
    the reply), in order, timestamps dropped."""
    import json
    import select
    disk = qcow2(tmp_path, f"{name}.qcow2")
    extra = ["-cpu", QEMU_CPU, "-nic", "none"] if binary == QEMU else []
    p, q = start(binary, ["-m", "64M", "-bios", FW, "-nodefaults",
                          "-display", "none", *extra, "-drive",
                          f"file={disk},if=virtio,node-name=disk0"],
                 str(tmp_path / f"{name}.sock"))
    steps = [
        ("snapshot-save", {"job-id": "j1", "tag": "t1", "vmstate": "disk0",
                           "devices": ["disk0"]}),
        ("query-jobs", {}),
        ("job-dismiss", {"id": "j1"}),
        ("job-dismiss", {"id": "j1"}),
        ("snapshot-load", {"job-id": "j2", "tag": "t1", "vmstate": "disk0",
                           "devices": ["disk0"]}),
        ("snapshot-save", {"job-id": "j2", "tag": "t2", "vmstate": "disk0",
                           "devices": ["disk0"]}),
        ("job-dismiss", {"id": "j2"}),
        ("snapshot-delete", {"job-id": "j4", "tag": "t1",
                             "devices": ["disk0"]}),
        ("query-jobs", {}),
        ("job-dismiss", {"id": "j4"}),
        ("blockdev-snapshot-internal-sync", {"device": "disk0",
                                             "name": "d1"}),
        ("blockdev-snapshot-internal-sync", {"device": "disk0",
                                             "name": "d1"}),
        ("blockdev-snapshot-delete-internal-sync", {"device": "disk0",
                                                    "name": "d1"}),
        ("blockdev-snapshot-delete-internal-sync", {"device": "disk0",
                                                    "name": "d1"}),
        ("blockdev-snapshot-internal-sync", {"device": "nodev",
                                             "name": "d1"}),
    ]
    buf = b""
    out = []
    for cmd, args in steps:
        q.send(cmd, **args)
        seen = []
        end = time.time() + 30
        while time.time() < end:
            if any("return" in m or "error" in m for m in seen):
                end = min(end, time.time() + 0.25)
            r, _, _ = select.select([q.sock], [], [], 0.1)
            if r:
                buf += q.sock.recv(65536)
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                m = json.loads(line)
                m.pop("timestamp", None)
                if isinstance(m.get("return"), dict):
                    # SnapshotInfo: dates, clocks and rrvm's icount vary.
                    m["return"] = sorted(k for k in m["return"]
                                         if k != "icount")
                seen.append(m)
        out.append((cmd, args.get("job-id", args.get("id")), seen))
    finish(p, q)
    return out


@needs_fw
@needs_qemu
def test_snapshot_jobs_match_qemu(rrvm, tmp_path):
    """JOB_STATUS_CHANGE in 7.2's order around STOP, RESUME and the
    return; query-jobs, job-dismiss, the internal-sync commands."""
    a = qmp_transcript(rrvm, tmp_path, "r")
    b = qmp_transcript(QEMU, tmp_path, "q")
    assert a == b


# ---- the Linux guest ----

def test_linux_file_written_after_savevm_is_gone_after_loadvm(rrvm, rrvm_img,
                                                              tmp_path):
    from test_linux import Guest, load_env, rrvm_argv
    art = load_env()
    disk = tmp_path / "root.qcow2"
    run([rrvm_img, "convert", "-f", "raw", "-O", "qcow2",
         art["RRVM_ROOTFS_RAW"], str(disk)])
    sock = str(tmp_path / "l.sock")
    g = Guest(rrvm_argv(rrvm, art, disk, extra=[
        "-qmp", f"unix:{sock},server=on,wait=off"]), tmp_path / "console")
    try:
        g.boot()
        q = Qmp(sock, timeout=60)
        q.cmd("qmp_capabilities")
        g.ok("echo before > /root/snap.txt; sync")
        q.cmd("stop")
        saved = statehash(q)
        assert q.hmp("savevm clean") == ""
        q.cmd("cont")
        g.ok("echo after > /root/snap.txt; echo new > /root/new.txt; sync")
        assert "after" in g.ok("cat /root/snap.txt")
        q.cmd("stop")
        assert q.hmp("loadvm clean") == ""
        assert statehash(q) == saved
        q.cmd("cont")
        # In the guest, and on the disk (the page cache dropped).
        assert g.ok("cat /root/snap.txt").strip() == "before"
        g.ok("sync; echo 3 > /proc/sys/vm/drop_caches")
        assert g.ok("cat /root/snap.txt").strip() == "before"
        out, rc = g.sh("ls /root/new.txt")
        assert rc != 0, out
        q.close()
        assert g.poweroff() == 0
    finally:
        g.close()
    r = run(["qemu-img", "check", str(disk)], check=False)
    assert r.returncode == 0 and "No errors were found" in r.stdout, r.stdout


@needs_fw
def test_snapshot_on_overlay_saves_and_loads(rrvm, tmp_path):
    """-drive snapshot=on: the snapshots go to the temporary overlay (as in
    QEMU), which cannot be opened a second time: the load checks the
    vmstate after the disks revert instead. The image stays untouched."""
    disk = qcow2(tmp_path, "d.qcow2")
    before = open(disk, "rb").read()
    p, q = start(rrvm, uboot_args("-drive",
                                  f"file={disk},if=virtio,snapshot=on"),
                 str(tmp_path / "s"))
    run_to(q, 3_000_000)
    saved = statehash(q)
    assert q.hmp("savevm x") == ""
    run_to(q, 4_000_000)
    assert q.hmp("loadvm x") == ""
    assert statehash(q) == saved
    assert "--        x " in q.hmp("info snapshots")
    finish(p, q)
    assert open(disk, "rb").read() == before
