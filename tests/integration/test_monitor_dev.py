"""The monitor's board commands (emulator/machine-mon-info.c, from the device
table in emulator/machine-virt.c): info mtree/qtree/roms and the PLIC's info
pic/irq against rrvm's own goldens (rrvm models no PCIe, flash, fw_cfg or
platform bus, and QEMU 7.2's riscv prints nothing for info pic/irq);
gpa2hva, gpa2hpa, gva2gpa and the log/logfile messages byte for byte against
a live qemu-system-riscv64 7.2 (host addresses filtered); a run-time trace
file; a virtio or UART interrupt seen pending or claimed under Linux; and
the state hash unchanged by all of it."""
import os
import re
from pathlib import Path

import pytest

from conftest import TOP
from test_monitor_hmp import (DATA, UPDATE, needs_fw, needs_qemu, statehash,
                              transcript, vms)

__all__ = ["vms"]  # the fixture, shared with test_monitor_hmp

BOARD = ["info mtree", "info mtree -f", "info qtree", "info roms",
         "info pic", "info irq"]


@needs_fw
def test_board_golden(vms):
    ours = vms("rrvm", "-S")
    got = transcript(ours, BOARD)
    golden = DATA / "dev-board.txt"
    if UPDATE:
        golden.write_text(got)
    assert got == golden.read_text()


# Same answers as QEMU 7.2 on the same machine at -S (satp Bare, M-mode).
SAME_AS_QEMU = [
    "gpa2hva 0x80000000", "gpa2hva 0x87ffffff", "gpa2hva 0x88000000",
    "gpa2hva 0x1000", "gpa2hva 0xffff", "gpa2hva 0x0", "gpa2hva 0xfff",
    "gpa2hva 0x10000000", "gpa2hva 0x10000007", "gpa2hva 0x10000008",
    "gpa2hva 0x10001000", "gpa2hva 0x100011ff", "gpa2hva 0x10001200",
    "gpa2hva 0x2000000", "gpa2hva 0x200bfff", "gpa2hva 0x200c000",
    "gpa2hva 0xc000000", "gpa2hva 0x101000", "gpa2hva 0x101024",
    "gpa2hva 0x100000",
    "gpa2hpa 0x80000000", "gpa2hpa 0x80001234", "gpa2hpa 0x1000",
    "gpa2hpa 0x10000000", "gpa2hpa 0x0",
    "gva2gpa 0x80000000", "gva2gpa 0x1234", "gva2gpa 0x0",
    "gva2gpa 0xffffffffffffffff",
    "logfile nodir/x", "log in_asm", "log none", "logfile log.txt",
    "log int", "log none", "log",
]


def hosts(text):
    return re.sub(r" is 0x[0-9a-f]+\n", " is HOST\n", text)


@needs_fw
@needs_qemu
def test_gpa_and_log_same_as_qemu(vms):
    qemu, ours = vms("qemu", "-S"), vms("rrvm", "-S")
    want = hosts(transcript(qemu, SAME_AS_QEMU))
    got = hosts(transcript(ours, SAME_AS_QEMU))
    assert got == want
    assert (ours.cwd / "log.txt").exists()


def run_to(vm, icount):
    vm.q.cmd("__org.rrvm_stop-at", icount=icount)
    vm.q.cmd("cont")
    vm.q.wait_event("STOP")


@needs_fw
def test_log_trace_file_and_state_hash(vms):
    """`log in_asm,int` to a `logfile` traces the run; with the board
    commands in between, the state hash equals a plain run's."""
    hashes = []
    for inspect in (False, True):
        vm = vms("rrvm", "-S")
        if inspect:
            vm.q.hmp("logfile trace.txt")
            assert vm.q.hmp("log in_asm,int") == ""
            for line in BOARD + SAME_AS_QEMU[:25]:
                vm.q.hmp(line)
        run_to(vm, 300_000)
        if inspect:
            assert vm.q.hmp("log none") == ""
            for line in BOARD + SAME_AS_QEMU[:25]:
                vm.q.hmp(line)
        hashes.append(statehash(vm)["statehash"])
        if inspect:
            text = (vm.cwd / "trace.txt").read_text()
            assert text.startswith("----------------\nIN: \n")
            assert "0x0000000000001000:  00000297          auipc" in text
            assert "0x0000000080000000:" in text
    assert hashes[0] == hashes[1]


@needs_fw
def test_log_bad_item(vms):
    ours = vms("rrvm", "-S")
    out = ours.q.hmp("log foo")
    assert out.startswith("Log items (comma separated):\r\n"
                          "none            remove all logs\r\n"
                          "in_asm          show target assembly code")
    assert ours.q.hmp("log in_asm,foo").startswith("Log items")
    assert ours.q.hmp("log all") == ""
    assert ours.q.hmp("log none") == ""


def artefacts():
    """build/artefacts.env's paths, or None (scripts/artefacts.sh)."""
    env_file = Path(os.environ.get("RRVM_ARTEFACTS_ENV",
                                   TOP / "build" / "artefacts.env"))
    if not env_file.exists():
        return None
    env = dict(line.split("=", 1)
               for line in env_file.read_text().splitlines()
               if "=" in line and not line.startswith("#"))
    if not all(Path(env.get(k, "")).is_file()
               for k in ("RRVM_KERNEL", "RRVM_ROOTFS_RAW")):
        return None
    return env


PIC_ACTIVE = re.compile(r"^ +(8|10) +\d+ +\d +(1 +\d|\d +1)$", re.M)


@needs_fw
def test_info_pic_shows_linux_interrupt(vms):
    """Linux boots from virtio-blk (the first -drive sits in the highest
    slot: source 8) with the console on the UART (source 10). Stepping by
    fixed instruction counts (deterministic), info pic shows one of them
    pending or claimed; info irq counts both; the context table shows
    Linux's S-mode enables."""
    env = artefacts()
    if not env:
        pytest.fail("no Linux artefacts: run scripts/artefacts.sh")
    vm = vms("rrvm", "-S", "-m", "256M", "-kernel", env["RRVM_KERNEL"],
             "-append", "console=ttyS0 root=/dev/vda ro",
             "-serial", "null", "-icount", "shift=0,sleep=off",
             "-drive", f"file={env['RRVM_ROOTFS_RAW']},format=raw,"
             "if=virtio,snapshot=on")
    n, pic = 40_000_000, ""
    while not PIC_ACTIVE.search(pic):
        assert n < 150_000_000, pic
        run_to(vm, n)
        pic = vm.q.hmp("info pic").replace("\r\n", "\n")
        n += 20_000
    assert "context 1 (hart 0 S-mode): threshold 0, enabled: 8 10-11\n" \
        in pic, pic
    assert "source priority line pending claimed\n" in pic
    irq = vm.q.hmp("info irq").replace("\r\n", "\n")
    assert irq.startswith("IRQ statistics for riscv.sifive.plic:\n"), irq
    assert re.search(r"^ 8: [1-9]\d*$", irq, re.M), irq
    # Inspection changes nothing: the same stop again gives the same view.
    h = statehash(vm)["statehash"]
    for line in BOARD + SAME_AS_QEMU[:25]:
        vm.q.hmp(line)
    assert statehash(vm)["statehash"] == h
