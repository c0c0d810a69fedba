"""The monitor's inspection commands (emulator/machine-mon-info.c) against a
live qemu-system-riscv64 7.2 on the same firmware: the same HMP lines through
human-monitor-command on both, compared byte for byte after filtering only
what must differ (thread ids). Where rrvm differs on purpose (registers in
expressions, info pci, sendkey) the golden is rrvm's own, in
tests/data/monitor/. Inspection must leave the state hash unchanged."""
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from qmpclient import Qmp
from conftest import needs_fw, needs_qemu, TOP, have

FW = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"
QEMU = "qemu-system-riscv64"
QEMU_CPU = ("rv64,h=false,sstc=false,zba=false,zbb=false,zbc=false,"
            "zbs=false,priv_spec=v1.11.0,pmu-num=0,Zihintpause=false")
DATA = TOP / "tests" / "data" / "monitor"
TIMEOUT = 20 * float(os.environ.get("TIMEOUT_MULT", "1"))
UPDATE = os.environ.get("RRVM_UPDATE_GOLDEN") == "1"



class Vm:
    def __init__(self, kind, rrvm, tmp_path, n, *extra, bios=FW):
        self.sock = str(tmp_path / f"{kind}{n}.qmp")
        self.cwd = tmp_path / f"{kind}{n}"
        self.cwd.mkdir(exist_ok=True)
        if kind == "qemu":
            argv = [QEMU, "-M", "virt", "-nodefaults", "-nic", "none",
                    "-display", "none", "-cpu", QEMU_CPU]
        else:
            argv = [rrvm, "-M", "virt", "-nodefaults", "-cpu", QEMU_CPU]
        argv += ["-bios", bios, *extra, "-qmp",
                 f"unix:{self.sock},server=on,wait=off"]
        self.p = subprocess.Popen(argv, cwd=self.cwd,
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        self.q = Qmp(self.sock, timeout=TIMEOUT)
        self.q.cmd("qmp_capabilities")

    def close(self):
        try:
            self.q.cmd("quit")
        except (EOFError, OSError):
            pass
        self.q.sock.close()
        self.p.wait(TIMEOUT)
        err = self.p.stderr.read().decode(errors="replace")
        self.p.stderr.close()
        # A sanitizer report makes the exit status non-zero.
        assert self.p.returncode == 0, err


@pytest.fixture
def vms(rrvm, tmp_path):
    made = []

    def start(kind, *extra, **kw):
        vm = Vm(kind, rrvm, tmp_path, len(made), *extra, **kw)
        made.append(vm)
        return vm

    yield start
    for vm in made:
        vm.close()


def transcript(vm, lines):
    return "".join(f"(qemu) {line}\n" + vm.q.hmp(line).replace("\r\n", "\n")
                   for line in lines)


def normalise(text):
    return re.sub(r"thread_id=\d+", "thread_id=N", text)


# HMP lines whose output must equal QEMU 7.2's on the same machine, state
# and firmware (at -S: the hart at the reset vector, satp Bare).
SAME_AS_QEMU = [
    "info cpus",
    "info mem",
    "p 10", "p/x 0", "p/d -1", "p/u -1", "p/o 8", "p/c 65", "p/c 10",
    "print 1+2*3", "p /x 255", "p/x -1", "p/d 0x8000000000000000",
    "p $nosuch",
    "cpu 0", "cpu 1",
    "gva2gpa 0x80000000", "gva2gpa 0x1004",
    "sum 0x1000 0x100", "sum 0x0 16", "sum 0x80000000 0x10000",
    "sum 0xff00 0x200", "sum 0x80 0x2000",
    "memsave 0x1000 16 nodir/x", "pmemsave 0x1000 16 nodir/x",
    "memsave 0x0 16 v0.bin", "memsave 0x1000 40 v1.bin",
    "pmemsave 0x0 16 p0.bin", "pmemsave 0x1000 40 p1.bin",
    "pmemsave 0x80000000 4096 p2.bin", "pmemsave 0xff00 0x200 p3.bin",
    "info usb", "info usbhost", "info vnc", "info numa", "info balloon",
    "info network",  # info irq/pic: rrvm's own goldens (test_monitor_dev)
    "system_wakeup", "boot_set c",
    "singlestep foo", "singlestep off",
    "sendkey foo",
]

SAVED = ["v1.bin", "p0.bin", "p1.bin", "p2.bin", "p3.bin"]


@needs_fw
@needs_qemu
def test_hmp_inspection_same_as_qemu(vms):
    qemu, ours = vms("qemu", "-S"), vms("rrvm", "-S")
    want = normalise(transcript(qemu, SAME_AS_QEMU))
    got = normalise(transcript(ours, SAME_AS_QEMU))
    assert got == want
    for name in SAVED:
        assert (ours.cwd / name).read_bytes() == \
            (qemu.cwd / name).read_bytes(), name


QMP_CASES = [
    ("memsave", {"val": 4096, "size": 16, "filename": "q1.bin"}),
    ("memsave", {"val": 0, "size": 16, "filename": "q2.bin"}),
    ("memsave", {"val": 4096, "size": 16, "filename": "nodir/q"}),
    ("memsave", {"val": 4096, "size": 16, "filename": "q3.bin",
                 "cpu-index": 0}),
    ("memsave", {"val": 4096, "size": 16, "filename": "q7.bin",
                 "cpu-index": 1}),
    ("pmemsave", {"val": 4096, "size": 16, "filename": "q4.bin"}),
    ("pmemsave", {"val": 0, "size": 16, "filename": "q5.bin"}),
    ("pmemsave", {"val": 4096, "size": 16, "filename": "nodir/q"}),
    ("pmemsave", {"val": 4096, "filename": "q6.bin"}),
    ("system_wakeup", {}),
    ("query-balloon", {}),
]


@needs_fw
@needs_qemu
def test_qmp_commands_same_as_qemu(vms):
    qemu, ours = vms("qemu", "-S"), vms("rrvm", "-S")
    for cmd, args in QMP_CASES:
        assert ours.q.cmd(cmd, **args) == qemu.q.cmd(cmd, **args), cmd
    for name in ["q1.bin", "q3.bin", "q4.bin", "q5.bin"]:
        assert (ours.cwd / name).read_bytes() == \
            (qemu.cwd / name).read_bytes(), name


# rrvm's own answers where it differs from QEMU on purpose (docs/monitor.md,
# "Differences"): registers in expressions, info pci, sendkey.
RRVM_ONLY = [
    "p/x $pc", "p $a0", "p/x $x10", "p/x $mhartid", "p/x $mstatus",
    "p/x $satp", "p $zero", "p/x $fp", "p/x $ft0", "p $pc + 4",
    "x/2i $pc", "xp/2x $pc", "gva2gpa $pc",
    "info pci",
    "singlestep", "sendkey ctrl-alt-f1", "sendkey shift-a", "sendkey a-b",
    "sendkey ctrl-c", "sendkey foo-bar",
]


@needs_fw
def test_hmp_rrvm_golden(vms):
    ours = vms("rrvm", "-S")
    got = normalise(transcript(ours, RRVM_ONLY))
    golden = DATA / "hmp-rrvm-only.txt"
    if UPDATE:
        golden.write_text(got)
    assert got == golden.read_text()


def run_to(vm, icount, inspect):
    vm.q.cmd("__org.rrvm_stop-at", icount=icount)
    vm.q.cmd("cont")
    vm.q.wait_event("STOP")
    if inspect:
        for line in ["x/4i $pc", "x/8x $sp", "xp/4g 0x80000000", "info mem",
                     "info registers", "gva2gpa $pc", "gva2gpa 0x1000",
                     "p $a0", "sum 0x80000000 0x1000", "info cpus"]:
            vm.q.hmp(line)


def statehash(vm):
    return vm.q.cmd("__org.rrvm_query-statehash")["return"]


@needs_fw
def test_inspection_leaves_state_hash(vms, tmp_path):
    """Stop at fixed icounts with and without inspection in between."""
    kernel = None
    env = TOP / "build" / "artefacts.env"
    if env.exists():
        for line in env.read_text().splitlines():
            if line.startswith("RRVM_KERNEL="):
                kernel = line.split("=", 1)[1]
    extra = []
    stops = [200_000, 400_000]
    if kernel and os.path.exists(kernel):
        # Far enough into Linux for paging to be on (info mem walks).
        extra = ["-kernel", kernel, "-append", "console=ttyS0"]
        stops = [150_000_000, 160_000_000]
    hashes = []
    for inspect in (False, True):
        vm = vms("rrvm", "-S", *extra)
        for n in stops:
            run_to(vm, n, inspect)
            hashes.append((inspect, n, statehash(vm)["statehash"]))
        if inspect and extra:
            assert vm.q.hmp("info mem").startswith("vaddr")
    plain = [h for i, _, h in hashes if not i]
    seen = [h for i, _, h in hashes if i]
    assert plain == seen


CHARDEV_QMP = [
    ("chardev-add", {"id": "n0", "backend": {"type": "null", "data": {}}}),
    ("chardev-add", {"id": "n0", "backend": {"type": "null", "data": {}}}),
    ("chardev-add", {"id": "f0", "backend": {"type": "file",
                                             "data": {"out": "f0.txt"}}}),
    ("chardev-add", {"id": "f1", "backend": {"type": "file",
                                             "data": {"out": "nodir/f"}}}),
    ("chardev-add", {"id": "s0", "backend": {"type": "socket", "data": {
        "addr": {"type": "unix", "data": {"path": "s0.sock"}},
        "server": True, "wait": False}}}),
    ("chardev-add", {"id": "b0", "backend": {"type": "bogus", "data": {}}}),
    ("chardev-remove", {"id": "n0"}),
    ("chardev-remove", {"id": "n0"}),
    ("chardev-remove", {"id": "compat_monitor0"}),
]
CHARDEV_HMP = [
    "chardev-add null,id=h0", "chardev-add null,id=h0",
    "chardev-add bogus,id=h1", "chardev-add null",
    "chardev-add null,id=h2,foo=bar", "chardev-remove h0",
    "chardev-remove h0",
]


@needs_fw
@needs_qemu
def test_chardev_add_remove_same_as_qemu(vms):
    qemu, ours = vms("qemu", "-S"), vms("rrvm", "-S")
    for cmd, args in CHARDEV_QMP:
        assert ours.q.cmd(cmd, **args) == qemu.q.cmd(cmd, **args), cmd
    assert transcript(ours, CHARDEV_HMP) == transcript(qemu, CHARDEV_HMP)

    def chardevs(vm):
        # QEMU lists them in its hash table's order: compare as sets.
        return sorted((c["label"], c["filename"].replace(vm.sock, "SOCK"),
                       c["frontend-open"])
                      for c in vm.q.cmd("query-chardev")["return"])
    assert chardevs(ours) == chardevs(qemu)
    pty = {"id": "p0", "backend": {"type": "pty", "data": {}}}
    for vm in (ours, qemu):
        r = vm.q.cmd("chardev-add", **pty)["return"]
        assert re.fullmatch(r"/dev/pts/\d+", r["pty"]), r


# lui t0,0x10000; 1: lbu t1,5(t0); andi t1,t1,1; beqz t1,1b;
# lbu t2,0(t0); sb t2,0(t0); j 1b -- echoes the serial port.
ECHO = bytes.fromhex("b702001003c3520013731300e30c03fe83c30200238072006ff0dffe")
SENDKEYS = [
    ("a", b"a"), ("shift-a", b"A"), ("ctrl-c", b"\x03"), ("ret", b"\r"),
    ("spc", b" "), ("shift-1", b"!"), ("alt-x", b"\x1bx"),
    ("f1", b"\x1bOP"), ("up", b"\x1b[A"), ("ctrl-alt-delete", b"\x1b\x1b[3~"),
    ("backspace", b"\x7f"), ("kp_5", b"5"), ("shift", b""),
]


def test_sendkey_reaches_the_serial_port(vms, tmp_path):
    """No keyboard: sendkey types a terminal's bytes into the serial port."""
    prog = tmp_path / "echo.bin"
    prog.write_bytes(ECHO)
    vm = vms("rrvm", "-serial", "file:serial.out", bios=str(prog))
    out = vm.cwd / "serial.out"
    want = b""
    for keys, sent in SENDKEYS:
        assert vm.q.hmp(f"sendkey {keys}") == ""
        want += sent
        deadline = time.time() + TIMEOUT
        while out.read_bytes() != want and time.time() < deadline:
            time.sleep(0.01)
        assert out.read_bytes() == want, keys
