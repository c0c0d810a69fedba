"""Virtual time on rrvm: mtime follows the instruction count (-icount
shift=N), WFI jumps to the next deadline (and sleeps with sleep=on), the
goldfish RTC starts at -rtc base, and guest errors are logged with -d."""
import re
import socket
import subprocess
import time

import pexpect
import pytest

from conftest import BUILD, baremetal_elf, needs_cross, run


@pytest.fixture
def rrvm():
    """The rrvm binary; it is only built once the CPU sources exist."""
    p = BUILD / "emulator" / "rrvm"
    if not p.exists() and (BUILD / "build.ninja").exists() and \
            "build emulator/rrvm:" not in (BUILD / "build.ninja").read_text():
        pytest.skip("rrvm is not part of this build (no CPU sources yet)")
    if not p.exists():
        pytest.fail(f"{p} was not built")
    return str(p)


pytestmark = needs_cross

CRT = r"""
.section .text.start
.globl _start
_start:
    la sp, _stack_top
    call main
    li t0, 0x100000
    slli a0, a0, 16
    li t1, 0x3333
    or a0, a0, t1
    li t1, 0x5555
    srli t2, a0, 16
    bnez t2, 1f
    mv a0, t1
1:  sw a0, 0(t0)
2:  j 2b
.bss
.balign 16
.space 4096
_stack_top:
"""

PROG = r"""
#include <stdint.h>
#define UART ((volatile uint8_t *)0x10000000)
#define MTIME (*(volatile uint64_t *)0x200bff8)
#define MTIMECMP (*(volatile uint64_t *)0x2004000)
#define RTC_LOW (*(volatile uint32_t *)0x101000)
#define RTC_HIGH (*(volatile uint32_t *)0x101004)
#define BAD (*(volatile uint32_t *)0x10000100)

static void puts_(const char *s) { while (*s) { *UART = (uint8_t)*s++; } }
static void puthex(const char *tag, uint64_t v)
{
    puts_(tag);
    for (int i = 60; i >= 0; i -= 4) { *UART = "0123456789abcdef"[(v >> i) & 15]; }
    puts_("\n");
}

int main(void)
{
    uint64_t t0, t1, mip;
    volatile uint64_t n;

    /* 1. mtime advances with instructions: a fixed busy loop. */
    t0 = MTIME;
    for (n = 0; n < 100000; n++) { }
    t1 = MTIME;
    puthex("loop=", t1 - t0);

    /* 2. WFI with a deadline 1 s ahead wakes at the deadline. */
    t0 = MTIME;
    MTIMECMP = t0 + 10000000;
    __asm__ volatile("csrs mie, %0" :: "r"(1u << 7));
    do {
        __asm__ volatile("wfi");
        __asm__ volatile("csrr %0, mip" : "=r"(mip));
    } while (!(mip & (1u << 7)));
    t1 = MTIME;
    puthex("wfi=", t1 - t0);

    /* 3. The RTC: TIME_LOW latches TIME_HIGH. */
    {
        uint64_t lo = RTC_LOW;
        uint64_t hi = RTC_HIGH;
        puthex("rtc=", (hi << 32) | lo);
    }
    /* 4. A guest error: a UART register beyond the 8 it has is fine, an
     * unmapped address faults; write to a hole in the map instead. */
    return (t1 - t0 >= 10000000 && t1 - t0 < 10001000) ? 0 : 1;
}
"""

@pytest.fixture(scope="module")
def timeprog(tmp_path_factory):
    return baremetal_elf(tmp_path_factory.mktemp("timeprog"), CRT, PROG)


def values(out):
    return {k: int(v, 16) for k, v in re.findall(r"(\w+)=([0-9a-f]{16})", out)}


def boot(rrvm, elf, *extra):
    t = time.monotonic()
    p = run([rrvm, "-bios", "none", "-kernel", str(elf), "-nographic",
             *extra], check=False, stdin=subprocess.DEVNULL, timeout=120)
    return p, time.monotonic() - t


def test_mtime_follows_icount_shift(rrvm, timeprog):
    p0, _ = boot(rrvm, timeprog, "-icount", "shift=0,sleep=off")
    p3, _ = boot(rrvm, timeprog, "-icount", "shift=3,sleep=off")
    assert p0.returncode == 0 and p3.returncode == 0, p0.stdout + p3.stdout
    v0, v3 = values(p0.stdout), values(p3.stdout)
    # 100000 iterations of a few instructions, 1 ns (shift 0) each, at
    # 100 ns per tick; eight times as many ticks with shift=3.
    assert 2000 < v0["loop"] < 20000
    assert abs(v3["loop"] - 8 * v0["loop"]) <= 8
    # Same run twice: same numbers.
    p0b, _ = boot(rrvm, timeprog, "-icount", "shift=0,sleep=off")
    assert p0b.stdout == p0.stdout


def test_wfi_jumps_to_deadline(rrvm, timeprog):
    p, wall = boot(rrvm, timeprog, "-icount", "shift=0,sleep=off")
    assert p.returncode == 0
    assert 10000000 <= values(p.stdout)["wfi"] < 10001000
    assert wall < 30  # no real-time sleep (generous for sanitizers)


def test_wfi_sleeps_in_real_time(rrvm, timeprog):
    p, wall = boot(rrvm, timeprog, "-icount", "sleep=on")
    assert p.returncode == 0
    assert wall >= 0.95


def test_rtc_base(rrvm, timeprog):
    p, _ = boot(rrvm, timeprog, "-icount", "shift=0,sleep=off")
    rtc = values(p.stdout)["rtc"]
    base = 1767225600 * 10**9  # the documented default, 2026-01-01
    assert base + 10**9 <= rtc < base + 2 * 10**9  # after the 1 s WFI
    p, _ = boot(rrvm, timeprog, "-icount", "shift=0,sleep=off", "-rtc",
                "base=2020-01-01T00:00:00,clock=vm")
    rtc = values(p.stdout)["rtc"]
    base = 1577836800 * 10**9
    assert base + 10**9 <= rtc < base + 2 * 10**9
    p, _ = boot(rrvm, timeprog, "-icount", "shift=0,sleep=off", "-rtc",
                "base=utc")
    now = time.time() * 10**9
    assert abs(values(p.stdout)["rtc"] - now) < 120 * 10**9


BADACCESS_S = r"""
.globl _start
_start:
    la t0, 1f
    csrw mtvec, t0
    li t0, 0x3000000          # unmapped (QEMU's PCIe PIO, not modelled)
    lw t1, 0(t0)
1:  li t0, 0x100000
    li t1, 0x5555
    sw t1, 0(t0)
2:  j 2b
"""


def test_guest_errors_log(rrvm, tmp_path):
    src = tmp_path / "bad.S"
    src.write_text(BADACCESS_S)
    elf = tmp_path / "bad.elf"
    run(["riscv64-unknown-elf-gcc", "-nostdlib", "-march=rv64gc",
         "-mabi=lp64d", "-Wl,-Ttext=0x80000000", "-o", str(elf), str(src)])
    log = tmp_path / "log.txt"
    p = run([rrvm, "-bios", "none", "-kernel", str(elf), "-nographic", "-d",
             "guest_errors", "-D", str(log)], check=False,
            stdin=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 0
    assert "invalid 4-byte read at 0x3000000" in log.read_text()
    p = run([rrvm, "-bios", "none", "-kernel", str(elf), "-nographic"],
            check=False, stdin=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 0 and p.stderr == ""


def test_serial_tcp_server(rrvm, timeprog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [rrvm, "-bios", "none", "-kernel", str(timeprog), "-icount",
         "shift=0,sleep=off", "-serial",
         f"tcp:127.0.0.1:{port},server=on,wait=on"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        data = b""
        for _ in range(100):
            try:
                c = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        with c:
            c.settimeout(60)
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()
    assert b"wfi=" in data and b"rtc=" in data


def test_serial_unix_client(rrvm, timeprog, tmp_path):
    path = str(tmp_path / "serial.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    proc = subprocess.Popen(
        [rrvm, "-bios", "none", "-kernel", str(timeprog), "-icount",
         "shift=0,sleep=off", "-serial", f"unix:{path}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        srv.settimeout(60)
        c, _ = srv.accept()
        data = b""
        with c:
            c.settimeout(60)
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        srv.close()
        proc.kill()
        proc.wait()
    assert b"wfi=" in data and b"rtc=" in data


def test_serial_pty(rrvm, timeprog):
    p = pexpect.spawn(rrvm, ["-bios", "none", "-kernel", str(timeprog),
                             "-serial", "pty", "-icount", "sleep=on",
                             "-no-shutdown"],
                      timeout=60, encoding="latin1")
    p.expect(r"char device redirected to (/dev/pts/\d+) \(label serial0\)")
    pts = p.match.group(1)
    got = b""
    with open(pts, "rb", buffering=0) as f:
        # -no-shutdown keeps rrvm (and the pty) alive after the guest
        # powers off; a read fails with EIO only if rrvm went away.
        while b"rtc=" not in got:
            try:
                chunk = f.read(64)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
    assert p.isalive()
    p.kill(15)  # SIGTERM: a clean exit
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 0
    assert b"rtc=" in got
