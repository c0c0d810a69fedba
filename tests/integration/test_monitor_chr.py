"""The serial side of the monitor against live qemu-system-riscv64 7.2: a
BREAK (QMP/HMP chardev-send-break, the mux's Ctrl-a b) as a bare-metal
guest's 16550 sees it, chardev-send-break's replies, and large guest
output through a slow stdout reader arriving whole and in order."""
import os
import re
import subprocess
import time

import pexpect
import pytest

from conftest import BUILD, baremetal_elf, have, needs_cross
from qmpclient import Qmp

QEMU = "qemu-system-riscv64"
TIMEOUT = 30 * float(os.environ.get("TIMEOUT_MULT", "1"))

pytestmark = needs_cross

CRT = r"""
.section .text.start
.globl _start
_start:
    la sp, _stack_top
    call main
    li t0, 0x100000
    li t1, 0x5555
    sw t1, 0(t0)
1:  j 1b
.bss
.balign 16
.space 4096
_stack_top:
"""

# Reports each UART interrupt it finds pending in IIR (receiver line status
# for a BREAK, received data for a byte) with LSR and RBR; 'q' powers off,
# 'o' prints OUT_LINES numbered lines.
PROG = r"""
#include <stdint.h>
#define UART ((volatile uint8_t *)0x10000000)
#define OUT_LINES 40000

static void putc_(char c)
{
    while (!(UART[5] & 0x20)) { }
    UART[0] = (uint8_t)c;
}
static void puts_(const char *s) { while (*s) { putc_(*s++); } }
static void puthex(const char *tag, unsigned v)
{
    puts_(tag);
    putc_("0123456789abcdef"[(v >> 4) & 15]);
    putc_("0123456789abcdef"[v & 15]);
}
static void putdec(unsigned v)
{
    char b[12];
    int n = 0;
    do { b[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) { putc_(b[--n]); }
}

int main(void)
{
    UART[1] = 0x05; /* IER: received data, receiver line status */
    puts_("ready\n");
    for (;;) {
        uint8_t iir = UART[2], lsr, rbr = 0xff;

        if (iir & 1) {
            continue;
        }
        lsr = UART[5];
        if (lsr & 1) {
            rbr = UART[0];
        }
        puthex("iir=", iir);
        puthex(" lsr=", lsr);
        puthex(" rbr=", rbr);
        puthex(" after=", UART[5]);
        puts_("\n");
        if (rbr == 'q') {
            return 0;
        }
        if (rbr == 'o') {
            for (unsigned i = 0; i < OUT_LINES; i++) {
                putdec(i);
                puts_(" the quick brown fox jumps over the lazy dog\n");
            }
            puts_("end\n");
        }
    }
}
"""

@pytest.fixture(scope="module")
def uartprog(tmp_path_factory):
    return baremetal_elf(tmp_path_factory.mktemp("uartprog"), CRT, PROG)


def prog(target):
    if target == "qemu":
        if not have(QEMU):
            pytest.fail(f"{QEMU} missing")
        return QEMU
    p = BUILD / "emulator" / "rrvm"
    if not p.exists():
        pytest.fail(f"{p} was not built")
    return str(p)


def spawn(target, elf, *extra):
    return pexpect.spawn(prog(target), ["-M", "virt", "-bios", "none",
                                        "-kernel", str(elf), "-nographic",
                                        *extra],
                         timeout=TIMEOUT, encoding="latin-1")


REPORT = re.compile(r"iir=\w\w lsr=\w\w rbr=\w\w after=\w\w")


def break_transcript(target, elf, tmp_path):
    """What the guest reports for a BREAK from QMP, from HMP and from
    Ctrl-a b, then for a plain byte, and chardev-send-break's errors."""
    sock = str(tmp_path / f"{target}.sock")
    p = spawn(target, elf, "-serial", "mon:stdio", "-qmp",
              f"unix:{sock},server=on,wait=off")
    got = []
    try:
        p.expect_exact("ready")
        q = Qmp(sock, timeout=TIMEOUT)
        q.cmd("qmp_capabilities")
        assert q.cmd("chardev-send-break", id="serial0") == {"return": {}}
        p.expect(REPORT)
        got.append(p.after)
        assert q.hmp("chardev-send-break serial0") == ""
        p.expect(REPORT)
        got.append(p.after)
        p.send("\x01b")
        p.expect(REPORT)
        got.append(p.after)
        # The backend under the mux: to every front-end, the serial port's
        # too.
        got.append(q.cmd("chardev-send-break", id="serial0-base"))
        p.expect(REPORT)
        got.append(p.after)
        p.send("x")
        p.expect(REPORT)
        got.append(p.after)
        # Errors, as QEMU words them.
        got.append(q.cmd("chardev-send-break", id="nosuch"))
        got.append(q.hmp("chardev-send-break nosuch"))
        got.append(q.cmd("chardev-send-break"))
        p.send("q")
        p.expect(REPORT)
        p.expect(pexpect.EOF)
    finally:
        p.terminate(force=True)
    return got


def test_break_as_the_guest_sees_it(uartprog, tmp_path):
    """A BREAK from QMP, from HMP and from Ctrl-a b: the guest finds a
    receiver line status interrupt, LSR with BI and DR, a NUL in RBR, and BI
    cleared by the LSR read; then a plain byte. rrvm's transcript of the
    guest must equal QEMU's, byte for byte."""
    q = break_transcript("qemu", uartprog, tmp_path)
    got = break_transcript("rrvm", uartprog, tmp_path)
    assert got == q
    assert got == [
        "iir=06 lsr=71 rbr=00 after=60",
        "iir=06 lsr=71 rbr=00 after=60",
        "iir=06 lsr=71 rbr=00 after=60",
        {"return": {}},
        "iir=06 lsr=71 rbr=00 after=60",
        "iir=04 lsr=61 rbr=78 after=60",
        {"error": {"class": "GenericError",
                   "desc": "Chardev 'nosuch' not found"}},
        "Error: Chardev 'nosuch' not found\r\n",
        {"error": {"class": "GenericError",
                   "desc": "Parameter 'id' is missing"}},
    ]


def test_large_output_reaches_a_slow_reader(uartprog):
    """The guest prints about 2 MiB to stdout (a pipe) whose reader first
    sleeps, then reads slowly: far past the 256 KiB a chardev holds, yet
    every byte arrives, in order, because a local backend waits for its
    reader as QEMU does."""
    p = subprocess.Popen([prog("rrvm"), "-M", "virt", "-bios", "none",
                          "-kernel", str(uartprog), "-nographic"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        p.stdin.write(b"o")
        p.stdin.flush()
        time.sleep(1.0)
        out = b""
        deadline = time.monotonic() + TIMEOUT * 4
        while b"end\n" not in out:
            assert time.monotonic() < deadline, out[-200:]
            chunk = os.read(p.stdout.fileno(), 16384)
            assert chunk, out[-200:]
            out += chunk
            time.sleep(0.002)
        p.stdin.write(b"q")
        p.stdin.flush()
        rest, err = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out += rest
    assert p.returncode == 0, err
    lines = out.decode().split("\n")
    assert lines[0] == "ready"
    assert lines[1] == "iir=04 lsr=61 rbr=6f after=60"
    body = lines[2:2 + 40000]
    assert body == [f"{i} the quick brown fox jumps over the lazy dog"
                    for i in range(40000)]
    assert lines[40002] == "end"
    assert len(out) > 1_900_000


def test_stalled_network_client_never_stops_the_guest(uartprog):
    """The same 2 MiB to a tcp serial client that reads nothing: the
    chardev drops past its bound and the guest runs on (it takes the next
    byte and powers off)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen([prog("rrvm"), "-M", "virt", "-bios", "none",
                          "-kernel", str(uartprog), "-display", "none",
                          "-monitor", "none", "-serial",
                          f"tcp:127.0.0.1:{port},server=on,wait=on"],
                         stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                c = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.sendall(b"o")
        time.sleep(2.0)
        c.sendall(b"q")
        assert p.wait(timeout=TIMEOUT) == 0
        c.close()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def focus_transcript(target, elf):
    """What the terminal shows for each step of Ctrl-a c switching between
    the serial console and the monitor of -nographic."""
    p = spawn(target, elf)
    steps = ["\x01c", "inf", "\x01c", "\x01c", "xyz\r", "\x01c", "\x01c",
             "help commit\r"]
    got = []
    try:
        p.expect_exact("ready")
        for s in steps:
            for ch in s:  # one byte per read, so the echo does not depend
                p.send(ch)  # on how the pty splits the input
                time.sleep(0.02)
            # The step's output, until a quiet 0.3 s.
            text = p.read_nonblocking(100000, timeout=TIMEOUT)
            while True:
                try:
                    text += p.read_nonblocking(100000, timeout=0.3)
                except pexpect.TIMEOUT:
                    break
            got.append(re.sub(r"QEMU \d+\.\d+\.\d+ monitor", "QEMU monitor",
                              text))
    finally:
        p.terminate(force=True)
    return got


def test_ctrl_a_c_focus_same_as_qemu(uartprog):
    """Back in the monitor, QEMU drops the half-typed line and shows a fresh
    prompt; leaving it prints a newline. Byte for byte (the banner's version
    aside)."""
    q = focus_transcript("qemu", uartprog)
    r = focus_transcript("rrvm", uartprog)
    assert r == q
    assert r[3] == "(qemu) "
    assert "unknown command: 'xyz'" in r[4]


def test_signal_ends_a_wait_for_a_stalled_reader(uartprog):
    """Nobody reads stdout: rrvm waits, as QEMU blocks, but SIGTERM still
    ends it with QEMU's message (the rest of the output is dropped)."""
    import signal
    p = subprocess.Popen([prog("rrvm"), "-M", "virt", "-bios", "none",
                          "-kernel", str(uartprog), "-nographic"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        p.stdin.write(b"o")
        p.stdin.flush()
        time.sleep(1.0)
        assert p.poll() is None
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=TIMEOUT)
        err = p.stderr.read().decode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "terminating on signal 15" in err, err
