"""The block commands against live qemu-system-riscv64 7.2 on the same
images: info block [-n] [-v] [device], query-block,
query-named-block-nodes [flat], eject and change (refused for the
non-removable virtio-blk disks, with QEMU's messages), and -drive
node-name= with QEMU's checks. Only the automatic node names differ
(QEMU's "#block<counter><2 random digits>"): they are filtered."""
import json
import os
import re
import shutil
import socket
import subprocess
import time

from pathlib import Path

import pexpect
import pytest

from conftest import BUILD, TOP, needs_fw, run
from qmpclient import Qmp

QEMU = "qemu-system-riscv64"
FW_JUMP = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"
CPU = ("rv64,h=false,sstc=false,zba=false,zbb=false,zbc=false,zbs=false,"
       "priv_spec=v1.11.0,pmu-num=0,Zihintpause=false")
ARGS = ["-M", "virt", "-nodefaults", "-nic", "none", "-display", "none",
        "-S", "-cpu", CPU, "-bios", FW_JUMP]
TIMEOUT = 20 * float(os.environ.get("TIMEOUT_MULT", "1"))


def prog(target):
    if target == "qemu":
        return QEMU
    p = BUILD / "emulator" / "rrvm"
    if not p.exists():
        pytest.fail(f"{p} was not built")
    return str(p)


@pytest.fixture
def images(tmp_path):
    """x.qcow2 (64M), ov.qcow2 over x.qcow2, a v2 image, a raw file."""
    img = ["qemu-img", "create", "-q"]
    run(img + ["-f", "qcow2", str(tmp_path / "x.qcow2"), "64M"])
    run(img + ["-f", "qcow2", "-b", "x.qcow2", "-F", "qcow2",
               str(tmp_path / "ov.qcow2")], cwd=tmp_path)
    run(img + ["-f", "qcow2", "-o", "compat=0.10", str(tmp_path / "v2.qcow2"),
               "8M"])
    run(img + ["-f", "raw", str(tmp_path / "r.img"), "1M"])
    return tmp_path


def session(target, cwd, drive_args, requests):
    """Start @target with @drive_args and a QMP socket, run @requests (HMP
    lines, or dicts for QMP) and return the transcript, node names
    filtered, and stderr."""
    sock = cwd / f"{target}.sock"
    p = subprocess.Popen([prog(target)] + ARGS + drive_args +
                         ["-qmp", f"unix:{sock},server=on,wait=off"],
                         cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    out = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while not sock.exists():
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # The file appears at bind(), before listen(): retry a refusal.
        while True:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(TIMEOUT)
            try:
                s.connect(str(sock))
                break
            except ConnectionRefusedError:
                s.close()
                assert p.poll() is None, p.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.02)
        f = s.makefile("rw")
        f.readline()

        def execute(cmd, args=None):
            msg = {"execute": cmd}
            if args is not None:
                msg["arguments"] = args
            f.write(json.dumps(msg) + "\n")
            f.flush()
            while True:
                r = json.loads(f.readline())
                if "event" not in r:
                    return r

        execute("qmp_capabilities")
        for req in requests:
            if isinstance(req, str):
                r = execute("human-monitor-command", {"command-line": req})
                out.append(f"(qemu) {req}\n" + r.get("return", repr(r)))
            else:
                out.append(json.dumps(execute(req["execute"],
                                              req.get("arguments"))))
        execute("quit")
        s.close()
        _, err = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = "\n".join(out).replace("\r\n", "\n")
    return re.sub(r"#block\d+", "#blockN", text), filter_stderr(err)


# QEMU opens the file of `change` before refusing the device, and warns
# about probing a raw image; rrvm refuses first.
RAW_PROBE = re.compile(r"WARNING: Image format was not specified .*\n"
                       r"(?: {9}.*\n)*")


def filter_stderr(err):
    err = RAW_PROBE.sub("", err)
    return re.sub(r"^(?:qemu-system-riscv64|rrvm):", "PROG:", err,
                  flags=re.M)


def both(cwd, drive_args, requests):
    q = session("qemu", cwd, drive_args, requests)
    r = session("rrvm", cwd, drive_args, requests)
    return q, r


IF_NONE = ["-drive", "file=x.qcow2,if=none,id=hd0",
           "-device", "virtio-blk-device,drive=hd0"]

QUERIES = ["info block", "info block -v", "info block -n", "info block hd0",
           "info block nosuch", "help info block",
           {"execute": "query-block"},
           {"execute": "query-named-block-nodes"},
           {"execute": "query-named-block-nodes",
            "arguments": {"flat": True}}]


def test_if_none_device(images):
    """The issue's drive: -drive if=none + -device virtio-blk-device."""
    q, r = both(images, IF_NONE, QUERIES)
    assert r == q
    assert "hd0 (#blockN): x.qcow2 (qcow2)\n    Attached to:      " \
        "/machine/peripheral-anon/device[0]\n" in r[0]


def test_backing_raw_node_names(images):
    """A backing chain, a read-only raw drive on a named device, explicit
    node names, cache modes, a v2 image and if=virtio drives."""
    args = ["-drive", "file=ov.qcow2,if=none,id=hd0,node-name=top",
            "-device", "virtio-blk-device,drive=hd0",
            "-drive", "file=r.img,if=none,id=hd1,format=raw,readonly=on,"
                      "cache=unsafe",
            "-device", "virtio-blk-device,drive=hd1,id=vd1",
            "-drive", "file=v2.qcow2,if=virtio,cache=none",
            "-drive", "file=x.qcow2,if=virtio,readonly=on,node-name=n1"]
    q, r = both(images, args, QUERIES + [
        "info block top", "info block hd1", "info block virtio1",
        "info block n1", "info block -v virtio0"])
    assert r == q


def test_eject_change_refused(images):
    """virtio-blk disks have no removable medium: QEMU's refusals."""
    reqs = ["eject hd0", "eject -f hd0", "eject nosuch", "change hd0 r.img",
            "change hd0 r.img raw", "change nosuch r.img", "help eject",
            "help change",
            {"execute": "eject", "arguments": {"device": "hd0"}},
            {"execute": "eject", "arguments": {"device": "nosuch"}},
            {"execute": "blockdev-change-medium",
             "arguments": {"device": "hd0", "filename": "r.img"}},
            {"execute": "blockdev-change-medium",
             "arguments": {"device": "nosuch", "filename": "r.img"}}]
    q, r = both(images, IF_NONE, reqs)
    assert r == q
    assert "Error: Device 'hd0' is not removable" in r[0]


@pytest.mark.parametrize("args", [
    "file=x.qcow2,if=none,id=a,node-name=1bad",
    "file=x.qcow2,if=none,id=a,node-name=a",
    "file=x.qcow2,if=none,id=a,node-name=n "
    "file=r.img,if=none,id=b,node-name=n",
    "file=x.qcow2,if=none,id=a file=r.img,if=none,id=b,node-name=a",
    "file=x.qcow2,if=none,id=a,node-name=b file=r.img,if=none,id=b",
], ids=["bad", "own-id", "duplicate", "node-is-id", "id-is-node"])
def test_node_name_errors(images, args):
    cmd = []
    for a in args.split():
        cmd += ["-drive", a]
    res = []
    for target in ("qemu", "rrvm"):
        p = run([prog(target)] + ARGS + cmd, check=False, cwd=images,
                stdin=subprocess.DEVNULL, timeout=TIMEOUT)
        res.append((p.returncode, filter_stderr(p.stderr)))
    assert res[0][0] == 1
    assert res[1] == res[0]


def fresh_images(d):
    """x.qcow2 (64M), ro.qcow2, r.img (raw 1M), s.qcow2 with a snapshot,
    ov.qcow2 over b.qcow2 (data in both), c.qcow2 without backing."""
    d.mkdir()
    img = ["qemu-img", "create", "-q"]
    run(img + ["-f", "qcow2", str(d / "x.qcow2"), "64M"])
    run(img + ["-f", "qcow2", str(d / "ro.qcow2"), "8M"])
    run(img + ["-f", "raw", str(d / "r.img"), "1M"])
    run(img + ["-f", "qcow2", str(d / "s.qcow2"), "8M"])
    run(["qemu-img", "snapshot", "-c", "s1", str(d / "s.qcow2")])
    run(img + ["-f", "qcow2", str(d / "b.qcow2"), "4M"])
    run(["qemu-io", "-c", "write -P 0x11 0 1M", str(d / "b.qcow2")])
    run(img + ["-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2",
               str(d / "ov.qcow2")], cwd=d)
    run(["qemu-io", "-c", "write -P 0x22 512k 1M", str(d / "ov.qcow2")])
    run(img + ["-f", "qcow2", str(d / "c.qcow2"), "4M"])
    return d


def image_state(d, name):
    info = json.loads(run(["qemu-img", "info", "-U", "--output=json",
                           str(d / name)]).stdout)
    check = run(["qemu-img", "check", "-U", str(d / name)], check=False)
    return info["virtual-size"], info.get("actual-size", 0) > 0, \
        check.returncode


RESIZE_DRIVES = ["-drive", "file=x.qcow2,if=virtio,node-name=nn",
                 "-drive", "file=ro.qcow2,if=virtio,readonly=on",
                 "-drive", "file=r.img,if=virtio,format=raw",
                 "-drive", "file=s.qcow2,if=virtio",
                 "-drive", "file=c.qcow2,if=none,id=spare"]

RESIZE_REQUESTS = [
    "block_resize virtio0 128M", "block_resize virtio0 32M",
    "block_resize nosuch 1M", "block_resize virtio1 16M",
    "block_resize virtio2 2M", "block_resize virtio2 512K",
    "block_resize virtio3 16M", "block_resize virtio3 4M",
    "block_resize virtio0 -1", "block_resize virtio0", "block_resize spare 8M",
    {"execute": "block_resize", "arguments": {"device": "virtio0",
                                              "size": 1000}},
    {"execute": "block_resize", "arguments": {"device": "virtio2",
                                              "size": 1000}},
    {"execute": "block_resize", "arguments": {"device": "virtio0",
                                              "size": -5}},
    {"execute": "block_resize", "arguments": {"size": 1048576}},
    {"execute": "block_resize", "arguments": {"node-name": "nn",
                                              "size": 67108864}},
    {"execute": "block_resize", "arguments": {"node-name": "nosuch",
                                              "size": 1048576}},
    {"execute": "block_resize", "arguments": {"device": "nosuch",
                                              "node-name": "nn",
                                              "size": 100663296}},
    {"execute": "block_resize", "arguments": {"device": "virtio0"}},
    {"execute": "block_resize",
     "arguments": {"device": "virtio0", "size": 9223372036854775807}},
    "help block_resize",
]


def test_block_resize(tmp_path):
    """block_resize over HMP and QMP: replies equal QEMU's, and the images
    end with the same sizes, consistent (qemu-img check)."""
    dq, dr = fresh_images(tmp_path / "q"), fresh_images(tmp_path / "r")
    q = session("qemu", dq, RESIZE_DRIVES, RESIZE_REQUESTS)
    r = session("rrvm", dr, RESIZE_DRIVES, RESIZE_REQUESTS)
    assert r[0] == q[0]
    assert "Error: Image is read-only" in r[0]
    for name in ["x.qcow2", "ro.qcow2", "r.img", "s.qcow2", "c.qcow2"]:
        assert image_state(dr, name) == image_state(dq, name), name
    assert image_state(dr, "x.qcow2")[0] == 96 << 20
    assert image_state(dr, "c.qcow2")[0] == 8 << 20


def linux_env():
    """build/artefacts.env's kernel and root file system (or a failure)."""
    env_file = Path(os.environ.get("RRVM_ARTEFACTS_ENV",
                                   TOP / "build" / "artefacts.env"))
    env = {}
    if env_file.exists():
        env = dict(line.split("=", 1)
                   for line in env_file.read_text().splitlines()
                   if "=" in line and not line.startswith("#"))
    if not all(Path(env.get(k, "")).is_file()
               for k in ("RRVM_KERNEL", "RRVM_ROOTFS_RAW")):
        pytest.fail("no Linux artefacts: run scripts/artefacts.sh")
    return env


def linux(cwd, *drives, rootfs=None):
    """rrvm booting Linux to its shell from a snapshot=on root file system
    (the shared artefact unless @rootfs), with @drives after it (vdb, vdc,
    ...) and a QMP socket."""
    env = linux_env()
    rootfs = rootfs or env["RRVM_ROOTFS_RAW"]
    sock = cwd / "lx.sock"
    p = pexpect.spawn(prog("rrvm"), [
        "-M", "virt", "-m", "256M", "-kernel", env["RRVM_KERNEL"],
        "-append", "console=ttyS0 root=/dev/vda ro", "-nographic",
        "-drive", f"file={rootfs},format=raw,if=virtio,snapshot=on",
        *drives, "-qmp", f"unix:{sock},server=on,wait=off"],
        cwd=cwd, timeout=TIMEOUT * 3, encoding="latin-1")
    p.expect(r"\n~ # ")
    q = Qmp(str(sock), timeout=TIMEOUT)
    q.cmd("qmp_capabilities")
    return p, q


def shell(p, line):
    """Run @line in the guest's shell; the last line it printed (kernel
    messages may come before it)."""
    p.sendline(line)
    p.expect(r"\n~ # ")
    return p.before.replace("\r", "").split("\n")[-1]


@needs_fw
def test_linux_sees_block_resize(tmp_path):
    """A running Linux guest is told of the new capacity by the
    configuration-change interrupt and uses it (QEMU's virtio_blk_resize
    path)."""
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / "x.qcow2"),
         "64M"])
    p, q = linux(tmp_path, "-drive", "file=x.qcow2,if=virtio")
    try:
        assert shell(p, "cat /sys/block/vdb/size") == "131072"
        assert q.cmd("block_resize", device="virtio1", size=128 << 20) == \
            {"return": {}}
        p.expect(r"virtio_blk virtio\d: \[vdb\] new size: 262144 512-byte "
                 r"logical blocks \(134 MB/128 MiB\)")
        p.expect("vdb: detected capacity change from 131072 to 262144")
        assert shell(p, "cat /sys/block/vdb/size") == "262144"
        # The new end is usable.
        assert shell(p, "echo tail | dd of=/dev/vdb bs=512 seek=262143 "
                     "conv=fsync 2>/dev/null; echo $?") == "0"
        assert q.hmp("block_resize virtio1 32M") == ""
        p.expect(r"\[vdb\] new size: 65536 512-byte")
        p.expect("vdb: detected capacity change from 262144 to 65536")
        assert shell(p, "cat /sys/block/vdb/size") == "65536"
    finally:
        p.terminate(force=True)
    info = json.loads(run(["qemu-img", "info", "--output=json",
                           str(tmp_path / "x.qcow2")]).stdout)
    assert info["virtual-size"] == 32 << 20
    run(["qemu-img", "check", str(tmp_path / "x.qcow2")])


COMMIT_DRIVES = ["-drive", "file=c.qcow2,if=virtio",
                 "-drive", "file=ov.qcow2,if=virtio",
                 "-drive", "file=ro.qcow2,if=virtio,readonly=on",
                 "-drive", "file=s.qcow2,if=virtio,snapshot=on",
                 "-drive", "file=r.img,if=none,id=hd0,format=raw"]

COMMIT_REQUESTS = ["commit virtio0", "commit nosuch", "commit virtio1",
                   "commit virtio3", "commit", "commit virtio2",
                   "commit all", "commit hd0", "help commit"]


def read_ok(path, pattern, off, length):
    out = run(["qemu-io", "-r", "-U", "-c",
               f"read -P {pattern} {off} {length}", str(path)],
              check=False).stdout
    return "Pattern verification failed" not in out and "read " in out


def test_commit(tmp_path):
    """HMP commit: QEMU's messages (no backing file, unknown device,
    read-only, `all`), and the data of the top committed into its backing
    file, the top left empty, as QEMU leaves them."""
    dirs = {}
    for target in ("qemu", "rrvm"):
        d = fresh_images(tmp_path / target)
        run(["qemu-img", "create", "-q", "-f", "qcow2", str(d / "b2.qcow2"),
             "4M"])
        (d / "ro.qcow2").unlink()
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "b2.qcow2",
             "-F", "qcow2", str(d / "ro.qcow2")], cwd=d)
        dirs[target] = (d, session(target, d, COMMIT_DRIVES,
                                   COMMIT_REQUESTS))
    (dq, q), (dr, r) = dirs["qemu"], dirs["rrvm"]
    assert r[0] == q[0]
    assert "'commit' error for 'virtio0': Operation not supported" in r[0]
    for d in (dq, dr):
        assert read_ok(d / "b.qcow2", "0x11", 0, "512k")
        assert read_ok(d / "b.qcow2", "0x22", "512k", "1M")
        assert read_ok(d / "ov.qcow2", "0x22", "512k", "1M")
        m = json.loads(run(["qemu-img", "map", "--output=json",
                            str(d / "ov.qcow2")]).stdout)
        assert all(e["depth"] == 1 or not e["data"] for e in m), m
        run(["qemu-img", "check", str(d / "b.qcow2")])
        run(["qemu-img", "check", str(d / "ov.qcow2")])


@needs_fw
def test_linux_keeps_running_across_commit(tmp_path):
    """Linux writes to an overlay disk and to a snapshot=on disk; commit
    (and the mux's Ctrl-a s) moves the data into the backing file and the
    image; the guest keeps reading its data and writing to the emptied
    top."""
    img = ["qemu-img", "create", "-q", "-f", "qcow2"]
    run(img + [str(tmp_path / "b.qcow2"), "8M"])
    run(img + ["-b", "b.qcow2", "-F", "qcow2", str(tmp_path / "ov.qcow2")],
        cwd=tmp_path)
    run(img + [str(tmp_path / "s.qcow2"), "8M"])
    # Ctrl-a s commits the root file system's overlay too: a private copy.
    rootfs = tmp_path / "rootfs.ext4"
    shutil.copyfile(linux_env()["RRVM_ROOTFS_RAW"], rootfs)
    p, q = linux(tmp_path, "-drive", "file=ov.qcow2,if=virtio",
                 "-drive", "file=s.qcow2,if=virtio,snapshot=on",
                 "-serial", "mon:stdio", rootfs=str(rootfs))
    try:
        for dev, text in (("vdb", "first"), ("vdc", "snap")):
            assert shell(p, f"echo {text} | dd of=/dev/{dev} bs=512 "
                         "seek=100 conv=fsync 2>/dev/null; echo $?") == "0"
        assert not read_ok(tmp_path / "b.qcow2", "0x66", 51200, 5)
        assert q.hmp("commit virtio1") == ""
        assert q.hmp("commit virtio2") == ""
        out = run(["qemu-io", "-r", "-U", "-c", "read -v 51200 6",
                   str(tmp_path / "b.qcow2")]).stdout
        assert "first." in out, out
        out = run(["qemu-io", "-r", "-U", "-c", "read -v 51200 5",
                   str(tmp_path / "s.qcow2")]).stdout
        assert "snap." in out, out
        # The guest reads through the emptied top and writes on.
        assert shell(p, "echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vdb "
                     "bs=512 skip=100 count=1 2>/dev/null | head -c 5; echo") == \
            "first"
        assert shell(p, "echo second | dd of=/dev/vdb bs=512 seek=200 "
                     "conv=fsync 2>/dev/null; echo $?") == "0"
        # Ctrl-a s commits every drive, the snapshot=on one too, silently.
        assert shell(p, "echo third | dd of=/dev/vdc bs=512 seek=300 "
                     "conv=fsync 2>/dev/null; echo $?") == "0"
        p.send("\x01s")
        assert shell(p, "echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vdc "
                     "bs=512 skip=300 count=1 2>/dev/null | head -c 5; echo") \
            == "third"
        out = run(["qemu-io", "-r", "-U", "-c", "read -v 153600 6",
                   str(tmp_path / "s.qcow2")]).stdout
        assert "third." in out, out
    finally:
        p.terminate(force=True)
    out = run(["qemu-io", "-r", "-c", "read -v 102400 7",
               str(tmp_path / "ov.qcow2")]).stdout
    assert "second." in out, out
    m = json.loads(run(["qemu-img", "map", "--output=json",
                        str(tmp_path / "ov.qcow2")]).stdout)
    # Ctrl-a s committed "second" too: the top is empty again.
    assert [e for e in m if e["depth"] == 0 and e["data"]] == [], m
    out = run(["qemu-io", "-r", "-c", "read -v 102400 7",
               str(tmp_path / "b.qcow2")]).stdout
    assert "second." in out, out
    run(["qemu-img", "check", str(tmp_path / "b.qcow2")])
    run(["qemu-img", "check", str(tmp_path / "ov.qcow2")])


def test_info_registers_at_start_same_as_qemu(tmp_path):
    """Right after start with -S the hart's registers equal QEMU's, mip's
    MTIP from the CLINT's power-on mtimecmp 0 included."""
    reqs = ["info registers"]
    q = session("qemu", tmp_path, [], reqs)
    r = session("rrvm", tmp_path, [], reqs)
    assert r[0] == q[0]
    assert " mip      0000000000000080\n" in r[0]
