"""rrvm boots Debian's OpenSBI and U-Boot on the virt machine: prompts,
typed commands, virtio-blk and virtio-rng, reset and poweroff, and the same
OpenSBI banner as qemu-system-riscv64."""
import os
import re
import subprocess

import pexpect
import pytest

from conftest import BUILD, have, run


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
FW_DYNAMIC = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
UBOOT_S = "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"
UBOOT_M = "/usr/lib/u-boot/qemu-riscv64/u-boot.bin"
# QEMU options that give QEMU 7.2 the CPU profile rrvm implements.
QEMU_CPU = ("rv64,h=false,sstc=false,zba=false,zbb=false,zbc=false,"
            "zbs=false,priv_spec=v1.11.0,pmu-num=0,Zihintpause=false")
# Generous: the ASan build is several times slower.
TIMEOUT = 180

needs_fw = pytest.mark.skipif(
    not all(os.path.exists(p) for p in (FW_JUMP, UBOOT_S, UBOOT_M)),
    reason="Debian opensbi/u-boot-qemu firmware not installed")


def smode_cmd(rrvm, *extra):
    return [rrvm, "-M", "virt", "-m", "256M", "-bios", FW_JUMP, "-kernel",
            UBOOT_S, "-nographic", *extra]


def spawn(cmd):
    return pexpect.spawn(cmd[0], cmd[1:], timeout=TIMEOUT, encoding="latin1")


def to_prompt(p):
    """Interrupt autoboot and wait for the U-Boot prompt."""
    p.expect("Hit any key to stop autoboot")
    p.send("\r")
    p.expect("=> ")


def command(p, line):
    """Type @line at the prompt; return what it printed."""
    p.sendline(line)
    p.expect("=> ")
    return p.before.replace("\r", "")


def poweroff(p):
    p.sendline("poweroff")
    p.expect(pexpect.EOF)
    p.close()
    return p.exitstatus


@needs_fw
def test_opensbi_smode_uboot_prompt_version_poweroff(rrvm):
    p = spawn(smode_cmd(rrvm))
    p.expect("OpenSBI v1.1")
    p.expect("Domain0 Next Mode         : S-mode")
    to_prompt(p)
    out = command(p, "version")
    assert "U-Boot 2023.01" in out
    assert "riscv64-linux-gnu-gcc" in out
    assert poweroff(p) == 0


@needs_fw
def test_fw_dynamic_passes_kernel_address(rrvm):
    p = spawn([rrvm, "-M", "virt", "-m", "256M", "-bios", FW_DYNAMIC,
               "-kernel", UBOOT_S, "-nographic"])
    p.expect(r"Domain0 Next Address      : 0x0000000080200000")
    p.expect(r"Domain0 Next Arg1         : 0x000000008fe00000")
    to_prompt(p)
    assert poweroff(p) == 0


@needs_fw
def test_mmode_uboot_prompt_and_poweroff(rrvm):
    p = spawn([rrvm, "-M", "virt", "-m", "256M", "-bios", UBOOT_M,
               "-nographic"])
    p.expect("U-Boot 2023.01")
    p.expect("DRAM:  256 MiB")
    to_prompt(p)
    out = command(p, "echo hello-$ver")
    assert "hello-" in out
    assert poweroff(p) == 0


@needs_fw
def test_reset_reboots_to_banner(rrvm):
    p = spawn(smode_cmd(rrvm))
    to_prompt(p)
    p.sendline("reset")
    p.expect("resetting")
    p.expect("OpenSBI v1.1")
    to_prompt(p)
    assert poweroff(p) == 0


@needs_fw
def test_no_reboot_exits_on_reset(rrvm):
    p = spawn(smode_cmd(rrvm, "-no-reboot"))
    to_prompt(p)
    p.sendline("reset")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 0
    assert p.before.count("OpenSBI v1.1") == 0


@needs_fw
def test_ctrl_a_x_quits(rrvm):
    p = spawn(smode_cmd(rrvm))
    to_prompt(p)
    p.send("\x01h")
    p.expect("C-a x    exit emulator")
    p.send("\x01x")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 0


def make_disk(tmp_path, fmt="qcow2", size="8M"):
    disk = tmp_path / f"disk.{fmt}"
    run(["qemu-img", "create", "-q", "-f", fmt, str(disk), size])
    run(["qemu-io", "-f", fmt, "-c", "write -P 0x5a 0 512", "-c",
         "write -P 0xa5 512 512", str(disk)])
    return disk


def read_pattern_ok(disk, pattern, off, length):
    fmt = "raw" if str(disk).endswith(".raw") else "qcow2"
    p = run(["qemu-io", "-f", fmt, "-r", "-c",
             f"read -P {pattern} {off} {length}", str(disk)], check=False)
    return "Pattern verification failed" not in p.stdout and p.returncode == 0


needs_qemu_img = pytest.mark.skipif(not have("qemu-img") or not have("qemu-io"),
                                    reason="qemu-img/qemu-io not installed")


@needs_fw
@needs_qemu_img
@pytest.mark.parametrize("spelling", ["if=virtio", "if=none+device", "raw"])
def test_virtio_blk_in_uboot(rrvm, tmp_path, spelling):
    disk = make_disk(tmp_path, "raw" if spelling == "raw" else "qcow2")
    if spelling == "if=virtio":
        extra = ["-drive", f"file={disk},format=qcow2,if=virtio"]
    elif spelling == "raw":
        extra = ["-drive", f"file={disk},format=raw,if=virtio"]
    else:
        extra = ["-drive", f"if=none,id=hd0,file={disk},format=qcow2",
                 "-device", "virtio-blk-device,drive=hd0",
                 "-global", "virtio-mmio.force-legacy=false"]
    p = spawn(smode_cmd(rrvm, *extra))
    to_prompt(p)
    command(p, "virtio scan")
    out = command(p, "virtio info")
    assert "Device 0: QEMU VirtIO Block Device" in out
    assert "Capacity: 8.0 MB = 0.0 GB (16384 x 512)" in out
    out = command(p, "virtio read 0x84000000 0 2")
    assert "2 blocks read: OK" in out
    out = command(p, "md.b 0x84000000 0x10")
    assert "84000000: " + "5a " * 16 in out
    out = command(p, "md.b 0x840001f0 0x20")
    assert "840001f0: " + "5a " * 16 in out
    assert "84000200: " + "a5 " * 16 in out
    # The guest writes sector 3; it reaches the image.
    command(p, "mw.b 0x85000000 0x3c 0x200")
    out = command(p, "virtio write 0x85000000 3 1")
    assert "1 blocks written: OK" in out
    assert poweroff(p) == 0
    assert read_pattern_ok(disk, "0x3c", 3 * 512, 512)
    assert read_pattern_ok(disk, "0x5a", 0, 512)


@needs_fw
@needs_qemu_img
@pytest.mark.parametrize("how", ["snapshot=on", "-snapshot"])
def test_snapshot_on_leaves_image_alone(rrvm, tmp_path, how):
    disk = make_disk(tmp_path)
    if how == "snapshot=on":
        extra = ["-drive", f"file={disk},format=qcow2,if=virtio,snapshot=on"]
    else:
        extra = ["-hda", str(disk), "-snapshot"]
    before = disk.read_bytes()
    p = spawn(smode_cmd(rrvm, *extra))
    to_prompt(p)
    command(p, "virtio scan")
    command(p, "mw.b 0x85000000 0x3c 0x200")
    assert "1 blocks written: OK" in command(p, "virtio write 0x85000000 0 1")
    command(p, "mw.b 0x85000000 0 0x200")
    assert "1 blocks read: OK" in command(p, "virtio read 0x85000000 0 1")
    # The guest sees its own write...
    assert "85000000: " + "3c " * 16 in command(p, "md.b 0x85000000 0x10")
    assert poweroff(p) == 0
    # ...the image does not.
    assert disk.read_bytes() == before
    assert read_pattern_ok(disk, "0x5a", 0, 512)


@needs_fw
@needs_qemu_img
def test_readonly_drive_refuses_writes(rrvm, tmp_path):
    disk = make_disk(tmp_path)
    before = disk.read_bytes()
    p = spawn(smode_cmd(rrvm, "-drive",
                        f"file={disk},format=qcow2,if=virtio,readonly=on"))
    to_prompt(p)
    command(p, "virtio scan")
    out = command(p, "virtio write 0x85000000 0 1")
    assert "0 blocks written" in out or "ERROR" in out or "error" in out
    assert poweroff(p) == 0
    assert disk.read_bytes() == before


@needs_fw
def test_virtio_slots_as_the_guest_sees_them(rrvm, tmp_path):
    """-device #1 is in the top slot; an empty slot reads device id 0.
    (Debian's U-Boot has no virtio-rng driver, so read the registers.)"""
    p = spawn(smode_cmd(rrvm, "-device", "virtio-rng-device"))
    to_prompt(p)
    out = command(p, "md.l 0x10008000 4")
    assert "10008000: 74726976 00000002 00000004 554d4551" in out
    out = command(p, "md.l 0x10007000 4")
    assert "10007000: 74726976 00000002 00000000 554d4551" in out
    assert poweroff(p) == 0


def banner(text):
    """OpenSBI banner lines: from the version line to MEDELEG."""
    lines = text.replace("\r", "").split("\n")
    start = next(i for i, l in enumerate(lines) if l.startswith("OpenSBI v"))
    end = next(i for i, l in enumerate(lines) if "MEDELEG" in l)
    return lines[start:end + 1]


def run_until(cmd, marker, timeout=TIMEOUT):
    p = pexpect.spawn(cmd[0], cmd[1:], timeout=timeout, encoding="latin1")
    p.expect(marker)
    out = p.before + p.after
    p.terminate(force=True)
    return out


@needs_fw
@pytest.mark.skipif(not have("qemu-system-riscv64"),
                    reason="qemu-system-riscv64 not installed")
def test_opensbi_banner_equals_qemu(rrvm):
    common = ["-M", "virt", "-m", "256M", "-bios", FW_JUMP, "-kernel",
              UBOOT_S, "-nographic"]
    ours = banner(run_until([rrvm, *common], "MEDELEG[^\n]*\n"))
    qemu = banner(run_until(["qemu-system-riscv64", "-cpu", QEMU_CPU,
                             "-global", "virtio-mmio.force-legacy=false",
                             *common], "MEDELEG[^\n]*\n"))
    assert len(ours) > 30
    assert ours == qemu


@needs_fw
def test_dumpdtb(rrvm, tmp_path):
    dtb = tmp_path / "virt.dtb"
    p = run([rrvm, "-M", f"virt,dumpdtb={dtb}", "-m", "256M", "-bios",
             FW_JUMP, "-append", "console=ttyS0"])
    assert "dtb dumped" in p.stderr
    data = dtb.read_bytes()
    assert data[:4] == bytes.fromhex("d00dfeed")
    assert int.from_bytes(data[4:8], "big") == len(data)
    assert b"riscv-virtio,qemu" in data
    assert b"console=ttyS0" in data
    assert b"rng-seed" not in data
    # Deterministic: the same configuration gives the same bytes.
    dtb2 = tmp_path / "virt2.dtb"
    run([rrvm, "-M", f"virt,dumpdtb={dtb2}", "-m", "256M", "-bios", FW_JUMP,
         "-append", "console=ttyS0"])
    assert dtb2.read_bytes() == data


@needs_fw
def test_mmode_uboot_reset_via_syscon(rrvm):
    p = spawn([rrvm, "-M", "virt", "-bios", UBOOT_M, "-nographic"])
    to_prompt(p)
    p.sendline("reset")
    p.expect("U-Boot 2023.01")
    to_prompt(p)
    assert poweroff(p) == 0


@needs_fw
@pytest.mark.skipif(
    not os.path.exists("/usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin"),
    reason="QEMU's default OpenSBI is not installed")
def test_default_bios_is_qemus_opensbi(rrvm):
    p = spawn([rrvm, "-M", "virt", "-kernel", UBOOT_S, "-nographic"])
    p.expect("OpenSBI v")
    p.expect(r"Domain0 Next Address      : 0x0000000080200000")
    to_prompt(p)
    assert poweroff(p) == 0


def fdt_tree(blob):
    """Parse a flattened device tree into nested (name, props, children),
    keeping the order of nodes and properties."""
    import struct
    magic, total, off_s, off_str = struct.unpack(">4I", blob[:16])
    assert magic == 0xD00DFEED
    pos = off_s

    def cstr(at):
        end = blob.index(b"\0", at)
        return blob[at:end].decode(), end

    def node():
        nonlocal pos
        tok, = struct.unpack(">I", blob[pos:pos + 4])
        assert tok == 1
        name, end = cstr(pos + 4)
        pos = (end + 4) & ~3
        props, children = [], []
        while True:
            tok, = struct.unpack(">I", blob[pos:pos + 4])
            if tok == 3:
                ln, nameoff = struct.unpack(">II", blob[pos + 4:pos + 12])
                val = blob[pos + 12:pos + 12 + ln]
                props.append((cstr(off_str + nameoff)[0], val))
                pos = (pos + 12 + ln + 3) & ~3
            elif tok == 1:
                children.append(node())
            elif tok == 2:
                pos += 4
                return (name, props, children)
            elif tok == 4:
                pos += 4
            else:
                raise AssertionError(f"bad token {tok}")

    return node()


def drop(tree, path):
    """Remove node or property @path ("/a/b" or "/a/b:prop")."""
    name, props, children = tree
    parts = path.strip("/").split("/")
    for part in parts[:-1]:
        _, props, children = next(c for c in children if c[0] == part)
    last = parts[-1]
    if ":" in last:
        node_name, prop = last.split(":")
        _, props, _ = next(c for c in children if c[0] == node_name)
        props[:] = [p for p in props if p[0] != prop]
    else:
        children[:] = [c for c in children if c[0] != last]


@needs_fw
@pytest.mark.skipif(not have("qemu-system-riscv64"),
                    reason="qemu-system-riscv64 not installed")
@pytest.mark.parametrize("ram,initrd", [("256M", False), ("1G", True)])
def test_device_tree_equals_qemus(rrvm, tmp_path, ram, initrd):
    """QEMU 7.2's virt DT for the same configuration, minus the nodes of
    devices rrvm does not model and the random rng-seed, is ours exactly
    (memory, bootargs, initrd placement included)."""
    ours, qemu = tmp_path / "ours.dtb", tmp_path / "qemu.dtb"
    common = ["-m", ram, "-bios", FW_JUMP, "-kernel", UBOOT_S,
              "-append", "console=ttyS0 root=/dev/vda"]
    if initrd:
        rd = tmp_path / "initrd.img"
        rd.write_bytes(bytes(range(256)) * 40)
        common += ["-initrd", str(rd)]
    run([rrvm, "-M", f"virt,dumpdtb={ours}", *common])
    run(["qemu-system-riscv64", "-M", f"virt,dumpdtb={qemu}", "-cpu",
         QEMU_CPU, "-nographic", *common])
    q = fdt_tree(qemu.read_bytes())
    for path in ("/pmu", "/fw-cfg@10100000", "/flash@20000000",
                 "/platform-bus@4000000", "/soc/pci@30000000",
                 "/chosen:rng-seed"):
        drop(q, path)
    assert fdt_tree(ours.read_bytes()) == q
