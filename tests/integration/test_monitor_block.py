"""The block commands against live qemu-system-riscv64 7.2 on the same
images: info block [-n] [-v] [device], query-block,
query-named-block-nodes [flat], eject and change (refused for the
non-removable virtio-blk disks, with QEMU's messages), and -drive
node-name= with QEMU's checks. Only the automatic node names differ
(QEMU's "#block<counter><2 random digits>"): they are filtered."""
import json
import os
import re
import socket
import subprocess
import time

import pytest

from conftest import BUILD, run

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
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(TIMEOUT)
        s.connect(str(sock))
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
