"""Linux 6.1 and busybox (the cached guest artefacts, scripts/artefacts.sh)
on rrvm: boot to the shell over OpenSBI fw_jump, use the UART (interrupt
driven), virtio-blk on a qcow2 image, virtio-rng, the RTC, then power off
and find the guest's file in the image."""
import os
import re
import shutil
import time
from pathlib import Path

import pexpect
import pytest

from conftest import BUILD, TOP, have, run

ENV_FILE = Path(os.environ.get("RRVM_ARTEFACTS_ENV",
                               TOP / "build" / "artefacts.env"))
PROMPT = "~ # "
TIMEOUT = 300  # boot, generous for the sanitizer build


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


@pytest.fixture
def artefacts():
    if not ENV_FILE.exists():
        pytest.skip(f"{ENV_FILE} is absent: run scripts/artefacts.sh")
    env = {}
    for line in ENV_FILE.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            env[k] = v
    for k in ("RRVM_KERNEL", "RRVM_ROOTFS_RAW", "RRVM_BIOS"):
        if not Path(env.get(k, "")).is_file():
            pytest.skip(f"artefact {k} is missing")
    return env


@pytest.fixture
def disk(artefacts, tmp_path):
    out = tmp_path / "root.qcow2"
    run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2",
         artefacts["RRVM_ROOTFS_RAW"], str(out)])
    return out


def sh(p, cmd):
    p.sendline(cmd)
    p.expect(PROMPT)
    out = p.before.replace("\r", "")
    return out.split("\n", 1)[1] if "\n" in out else ""


@pytest.mark.skipif(not have("qemu-img"), reason="qemu-img missing")
def test_linux_shell_devices_poweroff(rrvm, artefacts, disk, tmp_path):
    argv = [rrvm, "-M", "virt", "-m", "256M", "-nographic",
            "-bios", artefacts["RRVM_BIOS"],
            "-kernel", artefacts["RRVM_KERNEL"],
            "-append", "console=ttyS0 root=/dev/vda rw",
            "-drive", f"file={disk},format=qcow2,if=none,id=hd0",
            "-device", "virtio-blk-device,drive=hd0",
            "-device", "virtio-rng-device"]
    log = open(tmp_path / "console.log", "w")
    p = pexpect.spawn(argv[0], argv[1:], timeout=TIMEOUT, encoding="latin1",
                      dimensions=(50, 1000))
    p.logfile_read = log
    try:
        p.expect(r"virtio_blk virtio0: \[vda\]")
        p.expect(r"goldfish_rtc 101000.rtc: setting system clock to "
                 r"2026-01-01T00:00:0\d UTC")
        p.expect(PROMPT)
        assert "riscv64" in sh(p, "uname -a")
        irqs = sh(p, "cat /proc/interrupts")
        assert re.search(r"\d+ +SiFive PLIC +10 .*ttyS0", irqs), irqs
        assert re.search(r"\d+ +SiFive PLIC +8 .*virtio0", irqs), irqs
        out = sh(p, "head -c 4096 /dev/hwrng | wc -c")
        assert out.strip().split("\n")[-1].strip() == "4096"
        sh(p, "echo written-by-rrvm-guest > /rrvm-test.txt; sync")
        p.sendline("poweroff")
        p.expect("reboot: Power down")
        p.expect(pexpect.EOF)
        p.close()
        assert p.exitstatus == 0
    finally:
        if p.isalive():
            p.terminate(force=True)
        log.close()
    if have("debugfs"):
        raw = tmp_path / "root.raw"
        run(["qemu-img", "convert", "-q", "-O", "raw", str(disk), str(raw)])
        got = run(["debugfs", "-R", "cat /rrvm-test.txt", str(raw)]).stdout
        assert "written-by-rrvm-guest" in got


@pytest.mark.skipif(not have("qemu-img"), reason="qemu-img missing")
def test_linux_run_is_deterministic(rrvm, artefacts, disk, tmp_path):
    """The same Linux boot with the same input (given in full on stdin)
    retires the same instructions and ends in the same state, interrupts,
    virtio and idle periods included."""
    inp = tmp_path / "input.txt"
    inp.write_bytes(b"uname -a\nhead -c 8 /dev/hwrng | hexdump -C\n"
                    b"cat /proc/interrupts\npoweroff\n")
    argv = [rrvm, "-M", "virt", "-m", "256M", "-nographic", "-statehash",
            "-bios", artefacts["RRVM_BIOS"],
            "-kernel", artefacts["RRVM_KERNEL"],
            "-append", "console=ttyS0 root=/dev/vda rw",
            "-drive", f"file={disk},format=qcow2,if=virtio,snapshot=on",
            "-device", "virtio-rng-device"]
    before = disk.read_bytes()
    runs = []
    for sleep in ("off", "on"):
        with open(inp, "rb") as f:
            p = run([*argv, "-icount", f"sleep={sleep}"], stdin=f,
                    check=False, timeout=TIMEOUT)
        assert p.returncode == 0, p.stderr
        m = re.search(r"rrvm: icount (\d+) statehash ([0-9a-f]{64})",
                      p.stderr)
        assert m, p.stderr
        runs.append((m.group(1), m.group(2), p.stdout))
    assert "reboot: Power down" in runs[0][2]
    assert "ttyS0" in runs[0][2]
    # sleep=on only paces the host; the guest sees exactly the same run.
    assert runs[0] == runs[1]
    assert disk.read_bytes() == before
