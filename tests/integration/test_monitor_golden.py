"""Golden monitor sessions: every HMP and QMP command of the monitor issue,
run as a scripted session of several lines (error forms included) on rrvm
and on a live qemu-system-riscv64 7.2 started the same way (-S, the same
firmware, rrvm's CPU profile on QEMU), and compared byte for byte after
filtering only what must differ. Where rrvm differs on purpose
(docs/monitor.md, "Differences from QEMU 7.2") the golden is rrvm's own, in
tests/data/monitor-golden/NAME.txt; regenerate them with
RRVM_UPDATE_GOLDEN=1 (a missing golden is a failure, never a skip).

Where each command is compared (the audit of the monitor issue's list):

  test_monitor_hmp.py     info cpus/mem/usb/usbhost/vnc/numa/balloon/network,
                          p/print, cpu, gva2gpa, sum, memsave/pmemsave (files),
                          system_wakeup, boot_set, singlestep, sendkey errors;
                          rrvm's own: registers in expressions, info pci,
                          sendkey
  test_monitor_machine.py info status/name/uuid/kvm, x/xp (each format and
                          size once), info registers (but mip)
  test_monitor_dev.py     gpa2hva, gpa2hpa, log, logfile; rrvm's own: info
                          mtree [-f], qtree, roms, pic, irq
  test_monitor_block.py   info block, query-block, eject, change
  test_monitor_clients.py chardev-add/-remove (QMP), qmp_capabilities, error
                          replies through third-party clients
  this file               an S-mode guest under Sv39 (info mem, gva2gpa,
                          x/xp, memsave, sum through its page tables), and
                          what the others lack: help/? [cmd], info (the
                          list), info version/history/chardev/registers -a,
                          x/xp error forms and addresses outside RAM, p/cpu/
                          sum/memsave/gva2gpa/log error forms, stop, c/cont,
                          system_reset/_powerdown/_wakeup with info status,
                          singlestep in info status, q/quit, and QMP
                          query-version/-commands/-qmp-schema/-status/-name/
                          -uuid/-kvm/-target/-cpus-fast/-block/-chardev,
                          stop, cont, system_*, quit, human-monitor-command,
                          memsave/pmemsave, chardev-add/-remove and the error
                          cases (unknown command, missing, extra and
                          wrong-typed arguments).

Each machine pair runs one session (a group of commands), never one line.
"""
import difflib
import json
import os
import re
import socket
import subprocess
import time

import pytest

from conftest import BUILD, TOP, needs_fw, needs_qemu
from qmpclient import Qmp

FW = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"
QEMU = "qemu-system-riscv64"
# rrvm's CPU profile on QEMU, so both machines are in the same state.
QEMU_CPU = ("rv64,h=false,sstc=false,zba=false,zbb=false,zbc=false,"
            "zbs=false,priv_spec=v1.11.0,pmu-num=0,Zihintpause=false")
GOLDEN = TOP / "tests" / "data" / "monitor-golden"
UPDATE = os.environ.get("RRVM_UPDATE_GOLDEN") == "1"
TIMEOUT = 20 * float(os.environ.get("TIMEOUT_MULT", "1"))


def argv(kind, cwd, hmp, extra):
    prog = QEMU if kind == "qemu" else str(BUILD / "emulator" / "rrvm")
    bios = [] if "-bios" in extra else ["-bios", FW]
    args = [prog, "-M", "virt", "-nodefaults", "-nic", "none", "-display",
            "none", "-S", "-cpu", QEMU_CPU, *bios, *extra,
            "-qmp", f"unix:{cwd}/qmp.sock,server=on,wait=off"]
    if hmp:
        args += ["-monitor", f"unix:{cwd}/hmp.sock,server=on,wait=off"]
    return args


class Machine:
    """One emulator with a QMP and an HMP socket, run in its own directory
    (the files memsave and logfile write land there)."""

    def __init__(self, kind, tmp_path, hmp, extra=()):
        self.kind = kind
        self.cwd = tmp_path / kind
        self.cwd.mkdir()
        self.p = subprocess.Popen(argv(kind, self.cwd, hmp, extra),
                                  cwd=self.cwd,
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        self.q = Qmp(str(self.cwd / "qmp.sock"), timeout=TIMEOUT)
        self.q.cmd("qmp_capabilities")
        self.hmp = None

    def qmp(self, msg):
        """Send @msg (a JSON text); return the events it raised, in order,
        then its reply. QEMU and rrvm both emit a command's events before
        its reply, from the thread that runs it."""
        self.q.f.write(msg.encode() + b"\n")
        self.q.f.flush()
        out = []
        while True:
            r = self.q._recv()
            if "event" in r:
                out.append("<- event " + r["event"] +
                           ("" if "data" not in r else
                            " " + json.dumps(r["data"])))
                continue
            out.append("<- " + json.dumps(r))
            return out

    def hmp_line(self, line):
        """One line on the HMP socket: the bytes until the next prompt,
        with the readline echo (a terminal's view)."""
        if self.hmp is None:
            self.hmp = socket.socket(socket.AF_UNIX)
            self.hmp.settimeout(TIMEOUT)
            self.hmp.connect(str(self.cwd / "hmp.sock"))
            self.hmp_read()  # the banner and first prompt
        self.hmp.sendall(line.encode() + b"\r")
        return self.hmp_read()

    def hmp_read(self):
        data = b""
        while not data.endswith(b"(qemu) "):
            chunk = self.hmp.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace")

    def close(self):
        try:
            if self.p.poll() is None:
                self.q.cmd("quit")
            self.q.close()
        except (EOFError, OSError):
            pass  # a session that ended with quit
        if self.hmp:
            self.hmp.close()
        self.p.wait(TIMEOUT)
        err = self.p.stderr.read().decode(errors="replace")
        self.p.stderr.close()
        # A sanitizer report makes the exit status non-zero.
        assert self.p.returncode == 0, err
        return err


def run_session(m, steps):
    """@steps: an HMP line (through human-monitor-command), "hmp> LINE" (on
    the HMP socket, echo included), or a QMP message as a dict or JSON
    text. Returns the transcript."""
    out = []
    for step in steps:
        if isinstance(step, tuple):
            # ("until", LINE, TEXT): repeat the HMP LINE until its answer
            # holds TEXT (the guest reached a state); not in the transcript
            deadline = time.monotonic() + TIMEOUT
            while step[2] not in m.q.hmp(step[1]):
                assert time.monotonic() < deadline, step
                time.sleep(0.01)
            continue
        if isinstance(step, dict):
            step = json.dumps(step)
        if step.startswith("{"):
            out.append("-> " + step)
            replies = m.qmp(step)
            if '"query-chardev"' in step:
                # QEMU lists the chardevs in its hash table's order.
                r = json.loads(replies[-1][3:])
                r["return"].sort(key=lambda c: c["label"])
                replies[-1] = "<- " + json.dumps(r)
            out += replies
        elif step.startswith("hmp> "):
            out.append(f"[hmp socket] {step[5:]!r}")
            out.append(repr(m.hmp_line(step[5:])))
        else:
            r = m.q.cmd("human-monitor-command", **{"command-line": step})
            out.append(f"(qemu) {step}")
            text = r["return"].replace("\r\n", "\n").rstrip("\n")
            if step == "info chardev":
                # QEMU lists the chardevs in its hash table's order.
                text = "\n".join(sorted(text.split("\n")))
            out.append(text)
    return "\n".join(out) + "\n"


def normalise(text, m):
    """Filter only what must differ between the two machines."""
    # Versions: QEMU's package string and micro version are the distro's.
    text = re.sub(r'"qemu": \{"micro": \d+, "minor": \d+, "major": \d+\}, '
                  r'"package": "[^"]*"', '"qemu": VERSION', text)
    text = re.sub(r"(\(qemu\) info version\n)[^\n]*", r"\1VERSION", text)
    # Thread ids: the host's.
    text = re.sub(r"thread_id=\d+", "thread_id=N", text)
    text = re.sub(r'"thread-id": \d+', '"thread-id": N', text)
    # Host paths: each machine runs in its own directory.
    text = text.replace(str(m.cwd), "DIR")
    # mip's MTIP before the guest sets mtimecmp: QEMU 7.2 resets mtimecmp
    # to 0, rrvm's CLINT to all ones (docs/monitor.md).
    text = re.sub(r"^ mip      [0-9a-f]{16}$", " mip      MIP", text,
                  flags=re.M)
    # Host addresses (gpa2hva, gpa2hpa).
    text = re.sub(r"^(Host (?:virtual|physical) address for .*) is "
                  r"0x[0-9a-f]+$", r"\1 is HOST", text, flags=re.M)
    return text


# ---- sessions compared with QEMU ----

# HMP inspection and its error forms (the state never changes).
HMP_INSPECT = [
    "info version", "info name", "info uuid", "info kvm", "info status",
    "info registers", "info registers 1", "info registers x",
    "help info registers",
    "info history", "info chardev",
    # x/xp: every format and size, addresses outside RAM, errors.
    "x /4xb 0x1000", "x /2xh 0x1000", "x /2xw 0x1000", "x /2xg 0x1000",
    "x /3db 0x1000", "x /3uh 0x1000", "x /3ow 0x1000", "x /4cb 0x1000",
    "x /3cw 0x1000", "x /5cg 0x1000", "x /4dg 0x1000", "x /4ug 0x1000",
    "x /4og 0x1000", "x /2i 0x1000", "x /2ig 0x1000", "x 0x1000",
    "x /0x 0x1000", "x /2s 0x1000", "x /2q 0x1000", "x /-1x 0x1000",
    "x /4x 0x0", "x /4x 0x90000000", "x /2x 0x87fffffc",
    "xp /4x 0x90000000", "xp /4x 0x0", "xp /4x 0xfffc",
    "xp /2xg 0x87fffff8", "xp /8i 0x80000000", "xp /40x 0x1000",
    "xp", "x", "x /2x", "xp /2x 0x1000 junk", "xp /2x nosuch",
    "x /4i 0x87fffffc", "xp /5i 0x87fffffa", "x /3i 0x0", "x /2i 0xfff",
    "xp /3i 0xffe", "x /2xg 0x87fffffc", "xp /3xw 0x87fffff8",
    "x /4c 0x1028", "xp /2x 0xffffffffffffffff",
    "x /2x 0xfffffffffffffffc",
    # print
    "p", "p 1 2", "p/s 1", "p 1/0", "p 1%0", "p (1", "p 'a'",
    "p 0x10000000000000000", "p/i 1", "p/xb -1", "p/xh -1", "p/dw -1",
    "p/ug -1", "print 7*6", "p/x 1 << 3", "p 10 / 3", "p 10 % 3",
    "p -5 / 2", "p ~0", "p 1 | 6", "p 1 ^ 3", "p 5 & 3", "p 077", "p 0b101",
    'p "x"', "p $",
    # cpu, sum, memsave, gva2gpa, gpa2hva/hpa
    "cpu", "cpu -1", "cpu 99999999999", "cpu x", "cpu 0", "cpu 1",
    "sum", "sum 0x1000", "sum 0x1000 -1", "sum 0x90000000 16",
    "sum 0x1000 0x20",
    "memsave", "memsave 0x1000 16", "memsave 0x90000000 16 m1.bin",
    "pmemsave 0x90000000 16 m2.bin", "memsave 0x1000 0 m3.bin",
    "pmemsave 0x1000 0 m4.bin", "memsave 0x1000 64 m5.bin",
    "pmemsave 0x80000000 64 m6.bin",
    "gva2gpa", "gva2gpa 0x90000000", "gva2gpa x", "gva2gpa 0x1000",
    "gpa2hva", "gpa2hva 0x80000000", "gpa2hpa 0x90000000", "gpa2hpa",
    "gpa2hpa x", "gpa2hva 1 2", "memsave 0x1000 99999999999 big.bin",
    "pmemsave 0x1000 -1 big2.bin", "pmemsave 0x87fffff0 32 edge.bin",
    "memsave 0x87fffff0 32 edge2.bin", "sum 0x87fffff0 32", "sum 0x1000 0",
    # eject/change without a drive (test_monitor_block has drives)
    "eject", "eject nosuch", "eject -f nosuch", "change", "change nosuch",
    "change nosuch x.img",
    # extra arguments
    "cpu 0 1", "info registers 0 1", "info kvm extra", "info status extra",
    "stop extra", "system_reset 1", "q 1", "boot_set a b",
    "singlestep on off", "sendkey a 10 20", "logfile a b",
    "log in_asm none", "info version x", "help x y",
    # log, logfile
    "log", "logfile", "logfile l.txt", "log in_asm", "log none",
    # the boards's other commands
    "boot_set", "boot_set d", "boot_set once=c", "sendkey", "sendkey a x",
    "system_wakeup", "info usb", "info numa",
    # help of one command (the whole list differs: rrvm's own golden)
    "help x", "help xp", "help p", "help print", "help cpu", "help memsave",
    "help pmemsave", "help sum", "help logfile", "help stop", "help c",
    "help cont", "help system_reset", "help system_powerdown",
    "help system_wakeup", "help singlestep", "help sendkey", "help boot_set",
    "help q", "help quit", "help gva2gpa", "help gpa2hva", "help gpa2hpa",
    "help nosuch", "help info nosuch", "help info version", "help help",
    "? x", "? info status", "info nosuch", "nosuch",
]
SAVED = ["m5.bin", "m6.bin"]

# Run states through HMP, then the same through QMP with their events.
RUNSTATE = [
    "info status", "stop", "info status", "c", "info status", "stop",
    "info status", "cont", "cont", "info status", "system_reset",
    "info status", "system_powerdown", "info status", "stop",
    "system_reset", "info status", "system_wakeup",
    "singlestep on", "info status", "singlestep off", "info status",
    "singlestep bar", "singlestep", "info status",
    {"execute": "query-status"}, "singlestep off",
    {"execute": "query-status"},
    {"execute": "stop"}, {"execute": "query-status"},
    {"execute": "cont"}, {"execute": "query-status"}, {"execute": "cont"},
    {"execute": "stop"}, {"execute": "stop"}, {"execute": "query-status"},
    {"execute": "system_reset"}, {"execute": "query-status"},
    {"execute": "system_powerdown"}, {"execute": "system_wakeup"},
    {"execute": "cont"}, {"execute": "system_reset"},
    {"execute": "query-status"}, {"execute": "system_powerdown"},
    {"execute": "stop", "arguments": {"a": 1}},
    {"execute": "cont", "arguments": {"a": 1}},
    {"execute": "system_reset", "arguments": {"a": 1}},
    {"execute": "stop"},
]

# QMP queries and their error cases.
QMP_QUERIES = [
    {"execute": "query-version"}, {"execute": "query-status"},
    {"execute": "query-name"}, {"execute": "query-uuid"},
    {"execute": "query-kvm"}, {"execute": "query-target"},
    {"execute": "query-cpus-fast"}, {"execute": "query-chardev"},
    {"execute": "query-block"},
    {"execute": "nosuch"},
    {"execute": "query-status", "arguments": {"x": 1}},
    {"execute": "query-name", "id": "abc"},
    {"execute": "query-name", "id": [1, {"a": None}]},
    '{"execute": 3}', '{"arguments": {}}', '{"execute": "query-kvm", "x": 1}',
    '[]', '{"execute": "query-kvm", "arguments": []}',
    {"execute": "qmp_capabilities"},
    {"execute": "qmp_capabilities", "arguments": {"enable": []}},
    {"execute": "qmp_capabilities", "arguments": {"enable": ["foo"]}},
    {"execute": "qmp_capabilities", "arguments": {"x": 1}},
    {"execute": "memsave", "arguments": {"val": 4096}},
    {"execute": "memsave",
     "arguments": {"val": "a", "size": 1, "filename": "x"}},
    {"execute": "memsave",
     "arguments": {"val": 4096, "size": 16, "filename": 3}},
    {"execute": "memsave", "arguments": {"val": 4096, "size": 16,
                                         "filename": "a", "cpu-index": 5}},
    {"execute": "memsave", "arguments": {"val": 4096, "size": 16,
                                         "filename": "a", "cpu-index": -1}},
    {"execute": "memsave", "arguments": {"val": 4096, "size": 16,
                                         "filename": "a", "cpu-index": "x"}},
    {"execute": "memsave", "arguments": {"val": 0x90000000, "size": 16,
                                         "filename": "a"}},
    {"execute": "memsave", "arguments": {"val": 4096, "size": 48,
                                         "filename": "q1.bin"}},
    {"execute": "pmemsave", "arguments": {"val": 4096, "size": 16}},
    {"execute": "pmemsave", "arguments": {"val": -1, "size": 16,
                                          "filename": "p"}},
    {"execute": "pmemsave", "arguments": {"val": 4096, "size": 16,
                                          "filename": "", "x": 1}},
    {"execute": "pmemsave", "arguments": {"val": 0x80000000, "size": 64,
                                          "filename": "q2.bin"}},
    {"execute": "human-monitor-command"},
    {"execute": "human-monitor-command", "arguments": {"command-line": 1}},
    {"execute": "human-monitor-command",
     "arguments": {"command-line": "info status", "cpu-index": 0}},
    {"execute": "human-monitor-command",
     "arguments": {"command-line": ""}},
    {"execute": "human-monitor-command",
     "arguments": {"command-line": "info cpus", "cpu-index": 3}},
    {"execute": "human-monitor-command",
     "arguments": {"command-line": "info registers", "cpu-index": 1}},
    {"execute": "human-monitor-command",
     "arguments": {"command-line": "info cpus", "cpu-index": -1}},
    {"execute": "human-monitor-command",
     "arguments": {"command-line": "x /1x 0x1000", "cpu-index": 0}},
    {"execute": "memsave", "arguments": {"val": 4096, "size": 0,
                                         "filename": "z"}},
    {"execute": "pmemsave", "arguments": {"val": 4096, "size": 0,
                                          "filename": "z2"}},
    {"execute": "memsave", "arguments": {"val": 18446744073709551615,
                                         "size": 1, "filename": "z3"}},
    {"execute": "query-name", "arguments": None},
    {"execute": "system_wakeup", "id": {"x": [1]}},
    {"execute": "query-uuid", "id": None},
    {"execute": "human-monitor-command",
     "arguments": {"command-line": "bogus"}},
    {"execute": "human-monitor-command",
     "arguments": {"command-line": "info cpus", "x": 1}},
]
QMP_SAVED = ["q1.bin", "q2.bin"]

# chardev-add/-remove: the schema's checks of the backend.
CHARDEV = [
    {"execute": "chardev-add", "arguments": {"id": "x"}},
    {"execute": "chardev-add",
     "arguments": {"id": "x", "backend": {"type": "null"}}},
    {"execute": "chardev-add",
     "arguments": {"id": 1, "backend": {"type": "null", "data": {}}}},
    {"execute": "chardev-add",
     "arguments": {"id": "x", "backend": {"type": "nosuch", "data": {}}}},
    {"execute": "chardev-add",
     "arguments": {"id": "x", "backend": {"type": "file", "data": {}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "file", "data": {"out": 1}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "file",
                               "data": {"out": "f.txt", "y": 1}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "null", "data": {"y": 1}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "socket", "data": {}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "socket", "data": {
            "addr": {"type": "bogus", "data": {}}}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "socket", "data": {
            "addr": {"type": "unix", "data": {}}}}}},
    # backends rrvm lacks: QEMU's schema checks come first
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "udp", "data": {}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "ringbuf", "data": {"size": "x"}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "mux", "data": {}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "memory", "data": {"q": 1}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "msmouse",
                               "data": {"logappend": 1}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "vc", "data": {"width": "a"}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "stdio", "data": {"signal": 1}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "socket", "data": {
            "addr": {"type": "inet", "data": {"host": "127.0.0.1"}}}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "socket", "data": {
            "addr": {"type": "unix", "data": {"path": 5}}}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "x", "backend": {"type": "pipe", "data": {}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "p2", "backend": {"type": "file",
                                "data": {"out": "nodir/o.txt"}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "p3", "backend": {"type": "pipe",
                                "data": {"device": "nopipe"}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "p4", "backend": {"type": "serial",
                                "data": {"device": "/nonexistent"}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "f0", "backend": {"type": "file",
                                "data": {"out": "f0.txt"}}}},
    {"execute": "chardev-add", "arguments": {
        "id": "n0", "backend": {"type": "null", "data": {}}}},
    "info chardev",
    {"execute": "chardev-remove", "arguments": {}},
    {"execute": "chardev-remove", "arguments": {"id": "nosuch"}},
    {"execute": "chardev-remove", "arguments": {"id": 5}},
    {"execute": "chardev-remove", "arguments": {"id": "f0"}},
    {"execute": "chardev-remove", "arguments": {"id": "f0"}},
    "chardev-add null,id=h0", "chardev-remove h0", "chardev-remove h0",
    "chardev-add", "chardev-remove",
]

# The HMP socket: echo, history, and quit ending the session.
HMP_SOCKET = [
    "hmp> info status", "hmp> p 1", "hmp> info history", "hmp> bogus",
    "hmp> info history", "hmp> q",
]

# A machine with a name, a UUID, a serial port and a chardev.
CONFIGURED_ARGS = ["-name", "guest0,debug-threads=on", "-uuid",
                   "12345678-1234-5678-1234-567812345678", "-serial", "null",
                   "-chardev", "null,id=c1", "-m", "256M"]
CONFIGURED = [
    "info name", "info uuid", "info chardev", {"execute": "query-name"},
    {"execute": "query-uuid"}, {"execute": "query-chardev"},
    {"execute": "chardev-remove", "arguments": {"id": "serial0"}},
    "chardev-remove serial0", "chardev-remove c1", "info chardev",
    "info cpus", "info kvm", "info mem", "xp /2x 0x8ffffffc",
    "xp /2x 0x90000000", "gpa2hva 0x8ffff000", "gpa2hva 0x90000000",
]

# An S-mode guest under Sv39, parked in a loop, as the -bios (both load it
# at 0x80000000). Assembled (riscv64-unknown-elf-as, ld -Ttext=0x80000000,
# objcopy -O binary -j .text) from:
#   li t1,-1; csrw pmpaddr0,t1; li t1,0x1f; csrw pmpcfg0,t1
#   root 0x80010000: [2] 1G 0x80000000 rwx-ad; [0] -> L1 0x80011000
#   L1: [0] -> L0 0x80012000; [1] 2M 0x200000->0x80200000 rw-ad
#   L0: [1] 0x1000->0x80000000 r-x-a; [2] 0x2000->0x80001000 rw-ad;
#       [3] 0x3000->0x80003000 rw-u-ad; [4] 0x4000->0x80004000 r-a;
#       [5] 0x5000->0x80005000 rw-gad   (A and D preset: QEMU's debug walk
#       would set them, rrvm's never does)
#   sd 0x1122334455667788 at 0x80003000
#   satp = Sv39 | 0x80010; sfence.vma; mstatus.MPP = S; mepc = s_mode; mret
#   s_mode: j s_mode                                  (at 0x80000114)
SV39_GUEST = bytes.fromhex(
    "1303f0ff7310033b1303f0017310033ab78200009b8212009392020137030020"
    "1b03f30c23b86200374300201b03134023b06200b70308009b8313019393c300"
    "375300201b03138023b06300370308201b03730c23b46300370e04001b0e9e00"
    "131ede00370300201b03b30423346e00370300201b03734c23386e0037130020"
    "1b0373cd233c6e00371300201b03330423306e02371300201b03734e23346e02"
    "b70e08009b8e3e00939ece00379344001b03d38c1313e300130353451313c300"
    "130373661313c3001303837823b06e001b03f0ff1313c3021303130013133301"
    "130303017310031873000012372300001b03038073300330371300001b030380"
    "73200330170300001303030173101334730020306f000000")
SV39 = [
    "c", ("until", "info registers", " pc       0000000080000114"), "stop",
    "info status", "info mem", "info registers", "info registers -a",
    "info registers 0", "gva2gpa 0x1000", "gva2gpa 0x2abc",
    "gva2gpa 0x3000", "gva2gpa 0x4000", "gva2gpa 0x5000", "gva2gpa 0x6000",
    "gva2gpa 0x200000",
    "gva2gpa 0x3fffff", "gva2gpa 0x400000", "gva2gpa 0x80000114",
    "gva2gpa 0x7fffffffff", "gva2gpa 0xffffffffffffffff",
    "x /4i 0x1000", "x /2xg 0x2000", "x /2xg 0x3000", "xp /2xg 0x80003000",
    "x /2xg 0x4000", "x /2x 0x5ff8", "x /2x 0x200000", "x /2x 0x6000",
    "x /1i 0x80000114", "memsave 0x1000 64 v1.bin", "memsave 0x3000 16 v2.bin",
    "memsave 0x5ff0 32 v3.bin", "memsave 0x1ff0 32 v4.bin",
    {"execute": "memsave", "arguments": {"val": 0x3000, "size": 8,
                                         "filename": "v5.bin"}},
    {"execute": "memsave", "arguments": {"val": 0x6000, "size": 8,
                                         "filename": "v6.bin"}},
    "sum 0x80003000 8",
]
SV39_SAVED = ["v1.bin", "v2.bin", "v3.bin", "v4.bin", "v5.bin"]

SAME_AS_QEMU = {
    "sv39": (SV39, SV39_SAVED, ["-bios", "GUEST"]),
    "configured": (CONFIGURED, [], CONFIGURED_ARGS),
    "hmp-inspect": (HMP_INSPECT, SAVED),
    "runstate": (RUNSTATE, []),
    "qmp-queries": (QMP_QUERIES, QMP_SAVED),
    "chardev": (CHARDEV, []),
    "hmp-socket": (HMP_SOCKET, []),
    "qmp-quit": ([{"execute": "quit"}], []),
    "hmp-quit": (["quit"], []),
}


def assert_same(got, want):
    """A unified diff (want: QEMU or the golden) when they differ."""
    if got != want:
        diff = difflib.unified_diff(want.splitlines(True),
                                    got.splitlines(True), "want", "got")
        pytest.fail("".join(diff), pytrace=False)


def session(kind, tmp_path, steps, extra=()):
    hmp = any(isinstance(s, str) and s.startswith("hmp> ") for s in steps)
    m = Machine(kind, tmp_path, hmp, extra)
    try:
        text = run_session(m, steps)
    finally:
        err = m.close()
    return normalise(text, m), m, err


@needs_fw
@needs_qemu
@pytest.mark.parametrize("name", SAME_AS_QEMU)
def test_same_as_qemu(name, tmp_path):
    steps, saved, *extra = SAME_AS_QEMU[name]
    extra = extra[0] if extra else []
    if "GUEST" in extra:
        guest = tmp_path / "guest.bin"
        guest.write_bytes(SV39_GUEST)
        extra = [str(guest) if a == "GUEST" else a for a in extra]
    want, qm, _ = session("qemu", tmp_path, steps, extra)
    got, rm, _ = session("rrvm", tmp_path, steps, extra)
    assert_same(got, want)
    for f in saved:
        assert (rm.cwd / f).read_bytes() == (qm.cwd / f).read_bytes(), f


# ---- rrvm's own goldens, where rrvm differs on purpose ----

RRVM_OWN = {
    # The command lists: rrvm has fewer commands (and info statehash);
    # info mtree takes -f only; the log items are rrvm's (docs/monitor.md,
    # Differences).
    "help-lists": ["help", "?", "info", "help info", "help info mtree",
                   "help log", "log nosuch", "log in_asm,out_asm",
                   "info mtree -d"],
    # chardev-add: backends and members rrvm lacks are refused (after
    # QEMU's schema checks, compared above); QMP ids must be identifiers.
    "chardev-own": [
        {"execute": "chardev-add", "arguments": {
            "id": "p", "backend": {"type": "file", "data": {
                "out": "o.txt", "in": "i.txt"}}}},
        {"execute": "chardev-add", "arguments": {
            "id": "p", "backend": {"type": "socket", "data": {
                "addr": {"type": "unix", "data": {"path": "s.sock"}},
                "tls-creds": "x"}}}},
        {"execute": "chardev-add", "arguments": {
            "id": "p", "backend": {"type": "socket", "data": {
                "addr": {"type": "unix", "data": {"path": "s.sock"}},
                "websocket": True}}}},
        {"execute": "chardev-add", "arguments": {
            "id": "p", "backend": {"type": "ringbuf", "data": {}}}},
        {"execute": "chardev-add", "arguments": {
            "id": "", "backend": {"type": "null", "data": {}}}},
        {"execute": "chardev-add", "arguments": {
            "id": "1bad", "backend": {"type": "null", "data": {}}}},
        {"execute": "chardev-remove", "arguments": {"id": ""}},
    ],
    # A negative size (QEMU 7.2 crashes) and a pmemsave larger than the
    # 56-bit physical address space (QEMU writes it for ever): refused.
    "save-limits": [
        {"execute": "memsave", "arguments": {"val": 4096, "size": -1,
                                             "filename": "a"}},
        {"execute": "pmemsave", "arguments": {"val": 4096, "size": -1,
                                              "filename": "b"}},
        {"execute": "pmemsave", "arguments": {
            "val": 0, "size": 9223372036854775807, "filename": "c"}},
        {"execute": "pmemsave", "arguments": {
            "val": 0, "size": (1 << 56) + 1, "filename": "d"}},
        {"execute": "pmemsave", "arguments": {
            "val": -4096, "size": 16, "filename": "e"}},
    ],
    # Device registers are not read by x/xp; no PCIe host bridge.
    "devices": ["x /4xb 0x10000000", "xp /2i 0x10000000",
                "xp /2x 0x10000000", "xp /2x 0x2000000", "sum 0x10000000 8",
                "info pci"],
}


@needs_fw
@pytest.mark.parametrize("name", RRVM_OWN)
def test_rrvm_golden(name, tmp_path):
    got, m, _ = session("rrvm", tmp_path, RRVM_OWN[name])
    if name == "save-limits":
        # refused before the file is opened: nothing written
        assert not any((m.cwd / f).exists() for f in "abcd")
        assert (m.cwd / "e").read_bytes() == bytes(16)
    golden = GOLDEN / f"{name}.txt"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(got)
    assert golden.exists(), f"{golden} missing: run with RRVM_UPDATE_GOLDEN=1"
    assert_same(got, golden.read_text())


# ---- query-commands and query-qmp-schema: a subset of QEMU's ----

def schema_of(kind, tmp_path):
    m = Machine(kind, tmp_path, False)
    try:
        cmds = m.q.cmd("query-commands")["return"]
        schema = m.q.cmd("query-qmp-schema")["return"]
    finally:
        m.close()
    return sorted(c["name"] for c in cmds), {e["name"]: e for e in schema}


def resolve(types, name, depth=0):
    """A type of query-qmp-schema with its masked names replaced by their
    definitions (QEMU numbers them differently from rrvm)."""
    t = types[name]
    if depth > 8:
        return "..."
    mt = t["meta-type"]
    if mt == "builtin":
        return t["json-type"]
    if mt == "enum":
        return ("enum", tuple(sorted(t["values"])))
    if mt == "array":
        return ("array", resolve(types, t["element-type"], depth + 1))
    if mt == "object":
        members = {mb["name"]: (resolve(types, mb["type"], depth + 1),
                                "default" in mb)
                   for mb in t["members"]}
        for v in t.get("variants", []):
            members.setdefault("#variants", []).append(
                (v["case"], resolve(types, v["type"], depth + 1)))
        return ("object", members)
    return (mt, name)


def fits(ours, theirs, where):
    """Where rrvm's resolved type @ours is not one QEMU's @theirs accepts
    or returns: a list of places. rrvm's "any" stands for a union it checks
    in the handler (chardev-add's backend data)."""
    if ours == "value" or ours == theirs:
        return []
    if isinstance(ours, tuple) and isinstance(theirs, tuple):
        if ours[0] == "enum" == theirs[0]:
            extra = set(ours[1]) - set(theirs[1])
            return [f"{where}: enum values {sorted(extra)}"] if extra else []
        if ours[0] == "array" == theirs[0]:
            return fits(ours[1], theirs[1], where + "[]")
        if ours[0] == "object" == theirs[0]:
            bad = []
            for k, (t, opt) in ours[1].items():
                if k == "#variants":
                    continue
                if k not in theirs[1]:
                    # a member of every variant of QEMU's union
                    variants = [v for _, (_, v) in
                                theirs[1].get("#variants", [])]
                    if not (variants and t == "value" and
                            all(k in v for v in variants)):
                        bad.append(f"{where}.{k}: not in QEMU")
                    continue
                bad += fits(t, theirs[1][k][0], f"{where}.{k}")
                if opt != theirs[1][k][1]:
                    bad.append(f"{where}.{k}: optional {opt}")
            return bad
    if ours == "string" and isinstance(theirs, tuple) and \
            theirs[0] == "enum":
        return []
    return [f"{where}: {ours} vs {theirs}"]


@needs_fw
@needs_qemu
def test_query_commands_and_schema_fit_qemu(tmp_path):
    """rrvm lists only what it implements (docs/monitor.md): every command
    but its __org.rrvm_ extensions is one of QEMU's, the issue's commands
    are all there, and each command's arguments and return value are a
    subset of QEMU's, type for type."""
    qnames, qschema = schema_of("qemu", tmp_path)
    rnames, rschema = schema_of("rrvm", tmp_path)
    ours = [n for n in rnames if not n.startswith("__org.rrvm_")]
    assert set(ours) <= set(qnames), set(ours) - set(qnames)
    required = {
        "qmp_capabilities", "query-version", "query-commands",
        "query-qmp-schema", "query-status", "query-name", "query-uuid",
        "query-kvm", "query-target", "query-cpus-fast", "query-block",
        "query-chardev", "stop", "cont", "system_reset", "system_powerdown",
        "system_wakeup", "quit", "human-monitor-command", "memsave",
        "pmemsave", "chardev-add", "chardev-remove"}
    assert required <= set(rnames), required - set(rnames)
    # Every schema entry rrvm publishes resolves (no dangling name), and
    # each command is in query-commands.
    rcmds = {n for n, e in rschema.items() if e["meta-type"] == "command"}
    assert rcmds == set(rnames)
    bad = []
    for name in ours:
        r, q = rschema[name], qschema[name]
        bad += fits(resolve(rschema, r["arg-type"]),
                    resolve(qschema, q["arg-type"]), name + " args")
        bad += fits(resolve(rschema, r["ret-type"]),
                    resolve(qschema, q["ret-type"]), name + " return")
    assert bad == [], bad
