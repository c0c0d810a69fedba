"""rrvm's command line: QEMU spellings, clear errors for what is not
supported, bare-metal programs with exit codes, trap loops, serial
backends, and determinism (same input => same icount and state hash)."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, have, needs_cross, run


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

FW_JUMP = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"
UBOOT_S = "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"
TIMEOUT = 300

HELLO_S = r"""
.globl _start
_start:
    li t0, 0x10000000
    la t1, msg
1:  lbu t2, 0(t1)
    beqz t2, 2f
    sb t2, 0(t0)
    addi t1, t1, 1
    j 1b
2:  li t0, 0x100000
    li t1, (EXITCODE << 16) | 0x3333
    li t2, 0x5555
    li t3, EXITCODE
    bnez t3, 3f
    mv t1, t2
3:  sw t1, 0(t0)
4:  j 4b
msg: .asciz "hello from rrvm\n"
"""


def build_hello(tmp_path, code, raw=False):
    src = tmp_path / "hello.S"
    src.write_text(HELLO_S)
    elf = tmp_path / f"hello{code}.elf"
    run(["riscv64-unknown-elf-gcc", "-nostdlib", "-march=rv64gc",
         "-mabi=lp64d", f"-DEXITCODE={code}", "-Wl,-Ttext=0x80000000",
         "-o", str(elf), str(src)])
    if not raw:
        return elf
    binf = tmp_path / f"hello{code}.bin"
    run(["riscv64-unknown-elf-objcopy", "-O", "binary", str(elf), str(binf)])
    return binf


def rr(rrvm, *args, **kw):
    kw.setdefault("timeout", TIMEOUT)
    kw.setdefault("stdin", subprocess.DEVNULL)
    return run([rrvm, *args], check=False, **kw)


@needs_cross
@pytest.mark.parametrize("code", [0, 3, 42])
def test_bare_metal_exit_code(rrvm, tmp_path, code):
    elf = build_hello(tmp_path, code)
    p = rr(rrvm, "-M", "virt", "-bios", "none", "-kernel", str(elf),
           "-nographic")
    assert p.stdout == "hello from rrvm\n"
    assert p.returncode == code


@needs_cross
def test_raw_bios_loader_and_serial_file(rrvm, tmp_path):
    binf = build_hello(tmp_path, 5, raw=True)
    out = tmp_path / "serial.txt"
    p = rr(rrvm, "-bios", str(binf), "-serial", f"file:{out}",
           "-display", "none", "-nic", "none", "-nodefaults", "-name", "t",
           "-uuid", "8d5c2b3e-4c1f-4a4e-9a52-6a1f0e3d2c11")
    assert p.returncode == 5, p.stderr
    assert out.read_text() == "hello from rrvm\n"
    elf = build_hello(tmp_path, 7)
    p = rr(rrvm, "-bios", "none", "-device", f"loader,file={elf}",
           "-serial", "null", "-monitor", "none", "-accel", "tcg",
           "-vga", "none", "-parallel", "none", "-object",
           "rng-random,id=r0,filename=/dev/urandom", "-device",
           "virtio-rng-device,rng=r0")
    assert p.returncode == 7
    assert p.stdout == ""
    p = rr(rrvm, "-bios", "none", "-device",
           f"loader,file={binf},addr=0x80000000", "-nographic")
    assert p.returncode == 5
    assert p.stdout == "hello from rrvm\n"


def test_trap_loop_reported_once(rrvm, tmp_path):
    zero = tmp_path / "zero.bin"
    zero.write_bytes(bytes(4096))
    p = rr(rrvm, "-bios", str(zero), "-nographic")
    assert p.returncode == 1
    assert p.stderr.count("trap loop") == 1
    assert p.stderr.startswith("rrvm: ")


@pytest.mark.parametrize("args,msg", [
    (["-bios", "/nonexistent/fw.bin"], "/nonexistent/fw.bin"),
    (["-frobnicate"], "-frobnicate: unknown option"),
    (["-smp", "2"], "-smp 2: only one hart"),
    (["-mon", "chardev=x,mode=readline,pretty=on"],
     "-mon chardev=x,mode=readline,pretty=on: 'pretty' is not compatible "
     "with HMP monitors"),
    (["-mon", "chardev=x,mode=bogus"],
     "Parameter 'mode' does not accept value 'bogus'"),
    (["-mon", "x", "-bios", FW_JUMP], "-mon x: chardev \"x\" not found"),
    (["-chardev", "bogus,id=x", "-bios", FW_JUMP],
     "-chardev bogus,id=x: 'bogus' is not a valid char driver name"),
    (["-chardev", "null", "-bios", FW_JUMP],
     "-chardev null: chardev: no id specified"),
    (["-chardev", "null,id=a", "-chardev", "null,id=a", "-bios", FW_JUMP],
     "Duplicate ID 'a' for chardev"),
    (["-chardev", "socket,id=s,path=/x,server=maybe"],
     "Parameter 'server' expects 'on' or 'off'"),
    (["-icount", "foo=1"], "-icount foo=1: Invalid parameter 'foo'"),
    (["-rtc", "base=utc,foo=1"], "-rtc base=utc,foo=1: Invalid parameter"),
    (["-M", "sifive_u"], "unsupported machine"),
    (["-M", "virt,aclint=on"], "property 'aclint' is not supported"),
    (["-cpu", "sifive-u54"], "unsupported CPU model"),
    (["-cpu", "rv64,h=true"], "h=on is not supported"),
    (["-m", "lots"], "-m lots: bad size"),
    (["-m", "1G", "-bios", FW_JUMP, "-m", "8M"], "RAM size"),
    (["-drive", "file=x.img,if=scsi"], "if=scsi is not supported"),
    (["-device", "virtio-net-device"], "unsupported device"),
    (["-device", "virtio-blk-device,drive=nope"], "drive 'nope' not found"),
    (["-global", "virtio-mmio.force-legacy=true"], "version 2"),
    (["-icount", "shift=99"], "shift=99"),
    (["-icount", "rr=record"], "'rr' is not supported"),
    (["-rtc", "clock=host"], "clock=host is not supported"),
    (["-d", "in_asm,frobnicate"], "-d frobnicate: unknown log item"),
    (["-nic", "user"], "networking is not supported"),
    (["-display", "gtk"], "only -display none"),
    (["-object", "memory-backend-ram,id=m0"], "memory-backend-ram: not supp"),
    (["-device", "virtio-rng-device,rng=r9"], "rng 'r9' not found"),
    (["-accel", "kvm"], "only tcg"),
    (["stray.img"], "unexpected argument"),
    (["-kernel"], "requires an argument"),
])
def test_bad_command_lines(rrvm, args, msg):
    p = rr(rrvm, *args)
    assert p.returncode != 0
    assert msg in p.stderr
    lines = p.stderr.strip().split("\n")
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("rrvm: ")


def test_malformed_firmware(rrvm, tmp_path):
    bad = tmp_path / "bad.elf"
    bad.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(57))
    p = rr(rrvm, "-bios", str(bad))
    assert p.returncode != 0
    assert "bad.elf" in p.stderr and "RISC-V" in p.stderr
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(64 << 20)
    p = rr(rrvm, "-m", "32M", "-bios", str(big))
    assert p.returncode != 0
    assert "big.bin" in p.stderr
    p = rr(rrvm, "-bios", str(tmp_path))
    assert p.returncode != 0
    assert "not a regular file" in p.stderr


def test_version_and_help(rrvm):
    p = rr(rrvm, "-version")
    assert p.returncode == 0 and p.stdout.startswith("rrvm version ")
    p = rr(rrvm, "-h")
    assert p.returncode == 0 and "-icount" in p.stdout


@needs_cross
def test_pidfile(rrvm, tmp_path):
    elf = build_hello(tmp_path, 0)
    pid = tmp_path / "rrvm.pid"
    p = rr(rrvm, "-bios", "none", "-kernel", str(elf), "-nographic",
           "-pidfile", str(pid))
    assert p.returncode == 0
    assert not pid.exists()  # removed at exit


STATE_RE = re.compile(r"rrvm: icount (\d+) statehash ([0-9a-f]{64})")


@pytest.mark.skipif(not os.path.exists(UBOOT_S) or not have("qemu-img"),
                    reason="u-boot-qemu or qemu-img missing")
def test_determinism_same_input_same_state(rrvm, tmp_path):
    disk = tmp_path / "disk.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "8M"])
    run(["qemu-io", "-c", "write -P 0x5a 0 512", str(disk)])
    before = disk.read_bytes()
    inp = tmp_path / "input.txt"
    # U-Boot reads and drops pending bytes while it polls for Ctrl-C during
    # a command (part of the guest's deterministic behaviour), and an empty
    # line repeats the last command: pad each command with blank spaces.
    pad = b" " * 40 + b"\r"
    cmds = [b"version", b"virtio scan", b"virtio read 0x84000000 0 1",
            b"mw.b 0x85000000 0x3c 0x200", b"virtio write 0x85000000 2 1",
            b"md.b 0x84000000 8", b"poweroff"]
    inp.write_bytes(b"\r" + pad + b"".join(c + b"\r" + pad for c in cmds))
    results = []
    for _ in range(2):
        with open(inp, "rb") as f:
            p = run([rrvm, "-M", "virt", "-m", "256M", "-bios", FW_JUMP,
                     "-kernel", UBOOT_S, "-nographic", "-drive",
                     f"file={disk},format=qcow2,if=virtio,snapshot=on",
                     "-statehash"], stdin=f, check=False, timeout=TIMEOUT)
        assert p.returncode == 0, p.stderr
        m = STATE_RE.search(p.stderr)
        assert m, p.stderr
        results.append((m.group(1), m.group(2), p.stdout))
    assert "poweroff" in results[0][2]
    assert "ZZZZZZZZ" in results[0][2]
    assert "1 blocks written: OK" in results[0][2]
    assert results[0] == results[1]
    assert int(results[0][0]) > 1000000
    assert disk.read_bytes() == before
    # A different input gives a different state.
    inp.write_bytes(b"\r" + pad + b"poweroff\r")
    with open(inp, "rb") as f:
        p = run([rrvm, "-M", "virt", "-m", "256M", "-bios", FW_JUMP,
                 "-kernel", UBOOT_S, "-nographic", "-statehash"], stdin=f,
                check=False, timeout=TIMEOUT)
    m = STATE_RE.search(p.stderr)
    assert m and (m.group(1), m.group(2)) != results[0][:2]


def test_short_form_boolean_warning(rrvm, tmp_path):
    """QEMU 7.2's deprecation warning, with the option and its argument."""
    dtb = tmp_path / "x.dtb"
    p = rr(rrvm, "-M", f"virt,dumpdtb={dtb}", "-icount", "shift=3,nosleep")
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith(
        "rrvm: -icount shift=3,nosleep: warning: short-form boolean option "
        "'nosleep' deprecated\nPlease use sleep=off instead\n")
    assert dtb.exists()


@pytest.mark.parametrize("args,first", [
    (["-machine", "help"], "Supported machines are:\nvirt                 "
                           "RISC-V VirtIO board\n"),
    (["-M", "virt,help"], "virt-machine options:\n"),
    (["-cpu", "help"], "any\n"),
    (["-chardev", "help"], "Available chardev backend types: \n"),
])
def test_option_help(rrvm, args, first):
    p = rr(rrvm, *args)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(first)
