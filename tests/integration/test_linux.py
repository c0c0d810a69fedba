"""The Linux guest (scripts/artefacts.sh: Linux 6.1, busybox, ext4 root) on
rrvm, driven like a user would: boot to the shell on a qcow2 made by
rrvm-img, run commands (ISA and MMU, the RTC's fixed default time, virtual
time, userland floating point, virtio-rng), write a file, reboot, power off,
find the file from the host with rrvm-img and qemu-img, boot again and read
it back. Then determinism (a scripted session given in full on stdin gives
the same console bytes and state hash twice) and kernel panics with and
without -no-reboot."""
import hashlib
import os
import re
import secrets
import subprocess
from pathlib import Path

import pexpect
import pytest

from conftest import BUILD, TOP, binary, have, run

ENV_FILE = Path(os.environ.get("RRVM_ARTEFACTS_ENV",
                               TOP / "build" / "artefacts.env"))
PROMPT = "~ # "
BANNER = r"rrvm guest: Linux 6\.1\.\S+ riscv64, root /dev/\S+ rw"
# Generous: the sanitizer build is several times slower, and the machine
# is shared.
BOOT_TIMEOUT = int(os.environ.get("RRVM_LINUX_BOOT_TIMEOUT", "240"))
CMD_TIMEOUT = 60
# rrvm's default -rtc base (docs/man/rrvm.1): 2026-01-01T00:00:00Z.
DEFAULT_RTC_EPOCH = 1767225600
OTHER_RTC = ("2024-02-29T12:34:56", 1709210096)
PROBE = "/root/linux-test.txt"


def load_env():
    if not ENV_FILE.exists():
        pytest.skip(f"{ENV_FILE} is absent: run scripts/artefacts.sh to "
                    "build the guest kernel and root filesystem")
    env = {}
    for line in ENV_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key] = value
    for key in ("RRVM_KERNEL", "RRVM_ROOTFS_RAW", "RRVM_BIOS"):
        assert key in env, f"{ENV_FILE} lacks {key}"
        assert Path(env[key]).is_file(), f"{key}={env[key]} is missing"
    return env


@pytest.fixture(scope="module")
def artefacts():
    return load_env()


@pytest.fixture(scope="module")
def rrvm_bin():
    return binary("emulator/rrvm")


@pytest.fixture(scope="module")
def img_bin():
    return binary("imgtool/rrvm-img")


@pytest.fixture(scope="module")
def shared(artefacts, img_bin, tmp_path_factory):
    """State the persistence tests hand on: one root disk made by rrvm-img
    and what the first boot wrote to it."""
    d = tmp_path_factory.mktemp("linux")
    disk = d / "root.qcow2"
    run([img_bin, "convert", "-f", "raw", "-O", "qcow2",
         artefacts["RRVM_ROOTFS_RAW"], str(disk)])
    return {"dir": d, "disk": disk}


def rrvm_argv(rrvm, artefacts, disk=None, append="", extra=(),
              snapshot=False):
    argv = [rrvm, "-M", "virt", "-m", "256M", "-nographic",
            "-bios", artefacts["RRVM_BIOS"],
            "-kernel", artefacts["RRVM_KERNEL"],
            "-append", ("console=ttyS0 root=/dev/vda rw " + append).strip()]
    if disk is not None:
        drive = f"file={disk},format=qcow2,if=virtio"
        if snapshot:
            drive += ",snapshot=on"
        argv += ["-drive", drive]
    argv += ["-device", "virtio-rng-device"]
    return argv + list(extra)


class Guest:
    """A pexpect session on rrvm's terminal (-nographic: the serial port)."""

    def __init__(self, argv, log_path, env=None):
        self.log = open(log_path, "w", encoding="utf-8", errors="replace")
        self.child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8",
                                   codec_errors="replace", timeout=CMD_TIMEOUT,
                                   dimensions=(50, 1000), env=env)
        self.child.logfile_read = self.log
        self.seq = 0

    def expect(self, pattern, timeout=CMD_TIMEOUT):
        try:
            return self.child.expect(pattern, timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF) as e:
            raise AssertionError(
                f"waiting for {pattern!r}: {type(e).__name__}; console "
                "tail:\n" + self.tail()) from None

    def tail(self, n=3000):
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-n:]

    def boot(self):
        self.expect(BANNER, BOOT_TIMEOUT)
        self.expect(PROMPT, BOOT_TIMEOUT)
        # A wide terminal, so the shell never wraps echoed command lines.
        self.child.sendline("stty cols 1000")
        self.expect(PROMPT)

    def sh(self, command, timeout=CMD_TIMEOUT):
        """Run @command in the guest shell; return (output, exit status).
        The marker is split in the command line so its echo never
        matches."""
        self.seq += 1
        tag = f"RC{self.seq}"
        self.child.sendline(f"{command}; echo {tag[:2]}''{tag[2:]}=$?")
        self.expect(rf"{tag}=(\d+)[\r\n]", timeout)
        status = int(self.child.match.group(1))
        out = self.child.before
        out = out.split("\n", 1)[1] if "\n" in out else ""
        self.expect(PROMPT)
        return out.replace("\r", ""), status

    def ok(self, command, timeout=CMD_TIMEOUT):
        out, rc = self.sh(command, timeout)
        assert rc == 0, f"{command!r} exited {rc}:\n{out}"
        return out

    def poweroff(self):
        self.child.sendline("poweroff")
        self.expect("reboot: Power down", BOOT_TIMEOUT)
        self.expect(pexpect.EOF, CMD_TIMEOUT)
        self.child.close()
        return self.child.exitstatus

    def close(self):
        if self.child.isalive():
            self.child.terminate(force=True)
        self.log.close()


def start(argv, log_path):
    return Guest(argv, log_path)


def rtc_offset(g):
    """The guest's wall clock minus its uptime: the RTC's time at power-on
    (the kernel sets the clock from it during boot)."""
    out = g.ok("date -u +%s; cat /proc/uptime")
    epoch, uptime = out.split()[0], out.split()[1]
    return int(epoch) - float(uptime)


def harmonic(n):
    x = 0.0
    for i in range(1, n + 1):
        x += 1.0 / i
    return x


def test_shell_devices_reboot_poweroff(rrvm_bin, artefacts, shared):
    g = start(rrvm_argv(rrvm_bin, artefacts, shared["disk"]),
              shared["dir"] / "console-1.log")
    try:
        g.boot()
        out = g.ok("uname -a")
        assert re.match(r"Linux rrvm 6\.1\.\d+ .* riscv64$",
                        out.strip()), out

        out = g.ok("cat /proc/cpuinfo")
        fields = {k.strip(): v.strip() for k, _, v in
                  (line.partition(":") for line in out.splitlines()) if v}
        assert fields.get("processor") == "0", out
        assert re.fullmatch(r"rv64imafdc\w*", fields.get("isa", "")), out
        assert fields.get("mmu") in ("sv39", "sv48"), out

        # The RTC starts at the fixed default instant, not the host clock.
        out = g.ok("date -u '+%Y-%m-%d %H:%M'")
        assert out.strip() == "2026-01-01 00:00", out
        assert abs(rtc_offset(g) - DEFAULT_RTC_EPOCH) <= 1.5

        # Two seconds of sleep are two seconds of the guest's own clock.
        out = g.ok("cat /proc/uptime; sleep 2; cat /proc/uptime")
        t0, t1 = float(out.split()[0]), float(out.split()[2])
        assert 1.95 <= t1 - t0 <= 2.3, out
        out = g.ok("time sleep 2")
        m = re.search(r"real\s+(?:(\d+)m\s*)?([\d.]+)s", out)
        assert m, out
        assert 1.95 <= int(m.group(1) or 0) * 60 + float(m.group(2)) <= 2.3

        # Userland floating point (the F and D extensions through glibc).
        out = g.ok("awk 'BEGIN { print 1/3*3, 2.5*4, 1/7, sqrt(2), "
                   "exp(1), atan2(0, -1) }'")
        assert out.split() == ["1", "10", "0.142857", "1.41421", "2.71828",
                               "3.14159"], out
        out = g.ok("awk 'BEGIN { x = 0; for (i = 1; i <= 1000; i++) "
                   "x += 1/i; printf \"%.12f\\n\", x }'")
        assert out.strip() == f"{harmonic(1000):.12f}", out

        out = g.ok("head -c 1048576 /dev/hwrng | wc -c", 180)
        assert out.strip() == "1048576", out

        token = secrets.token_hex(16)
        out = g.ok(f"echo {token} > {PROBE} && sync && sha256sum {PROBE}")
        shared["token"] = token
        shared["guest_sum"] = out.split()[0]

        # reboot: firmware, kernel and init again, the file still there.
        g.child.sendline("reboot")
        g.expect("reboot: Restarting system", BOOT_TIMEOUT)
        g.expect("OpenSBI v", BOOT_TIMEOUT)
        g.boot()
        assert g.ok(f"cat {PROBE}").strip() == token
        assert g.poweroff() == 0, g.tail()
        shared["written"] = True
    finally:
        g.close()
    log = (shared["dir"] / "console-1.log").read_text(errors="replace")
    assert len(re.findall(BANNER, log)) == 2
    assert log.count("OpenSBI v") == 2


def need_written(shared):
    assert shared.get("written"), \
        "test_shell_devices_reboot_poweroff did not complete"


def test_file_visible_from_host(img_bin, shared):
    need_written(shared)
    d, disk = shared["dir"], shared["disk"]
    run([img_bin, "check", str(disk)])
    ours, theirs = d / "ours.raw", d / "qemu.raw"
    run([img_bin, "convert", "-O", "raw", str(disk), str(ours)])
    got = run(["debugfs", "-R", f"cat {PROBE}", str(ours)]).stdout
    assert got.strip() == shared["token"]
    assert hashlib.sha256(got.encode()).hexdigest() == shared["guest_sum"]
    fsck = run(["e2fsck", "-fn", str(ours)], check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    if have("qemu-img"):
        run(["qemu-img", "check", str(disk)])
        run(["qemu-img", "convert", "-O", "raw", str(disk), str(theirs)])
        run(["cmp", str(ours), str(theirs)])
        theirs.unlink()
    ours.unlink()


def test_second_boot_reads_file_other_rtc_base(rrvm_bin, artefacts, shared):
    need_written(shared)
    base, epoch = OTHER_RTC
    g = start(rrvm_argv(rrvm_bin, artefacts, shared["disk"],
                        extra=["-rtc", f"base={base}"]),
              shared["dir"] / "console-2.log")
    try:
        g.boot()
        assert g.ok(f"cat {PROBE}").strip() == shared["token"]
        assert abs(rtc_offset(g) - epoch) <= 1.5
        assert g.poweroff() == 0, g.tail()
    finally:
        g.close()


# Typed ahead, before the shell runs: the kernel drops what the serial
# port received before the console was opened, so the script starts with
# empty lines that may be lost.
SCRIPT = (
    "\n" * 24 +
    "uname -a\n"
    "head -c 65536 /dev/hwrng | sha256sum\n"
    "date -u '+%F %T'; cat /proc/uptime\n"
    "echo scribble > /root/scratch.txt; sync; ls -l /root\n"
    "awk 'BEGIN { print 22/7 }'\n"
    "poweroff\n")


def scripted_run(rrvm, artefacts, disk, tmp, n):
    inp = tmp / "script.txt"
    inp.write_text(SCRIPT)
    argv = rrvm_argv(rrvm, artefacts, disk, snapshot=True,
                     extra=["-statehash"])
    with open(inp, "rb") as stdin:
        p = subprocess.run(argv, stdin=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=BOOT_TIMEOUT * 2)
    (tmp / f"console-{n}.log").write_bytes(p.stdout)
    assert p.returncode == 0, p.stderr.decode(errors="replace") + \
        p.stdout[-2000:].decode(errors="replace")
    m = re.search(rb"rrvm: icount (\d+) statehash ([0-9a-f]{64})", p.stderr)
    assert m, p.stderr
    return p.stdout, int(m.group(1)), m.group(2).decode()


def test_scripted_boot_is_deterministic(rrvm_bin, artefacts, img_bin,
                                        tmp_path):
    disk = tmp_path / "root.qcow2"
    run([img_bin, "convert", "-f", "raw", "-O", "qcow2",
         artefacts["RRVM_ROOTFS_RAW"], str(disk)])
    before = hashlib.sha256(disk.read_bytes()).hexdigest()
    out1, icount1, hash1 = scripted_run(rrvm_bin, artefacts, disk, tmp_path,
                                        1)
    out2, icount2, hash2 = scripted_run(rrvm_bin, artefacts, disk, tmp_path,
                                        2)
    text = out1.decode(errors="replace")
    # The script really ran: every command answered, the write landed in
    # the temporary overlay, and the guest powered off.
    assert re.search(r"Linux rrvm 6\.1\.\d+ .* riscv64\r?$", text, re.M)
    assert re.search(r"^[0-9a-f]{64}  -\r?$", text, re.M), text[-2000:]
    assert re.search(r"^2026-01-01 00:00:\d\d\r?$", text, re.M)
    assert "scratch.txt" in text and "3.14286" in text
    assert "reboot: Power down" in text
    assert icount1 > 10_000_000
    assert out1 == out2, "console bytes differ (see console-1/2.log)"
    assert (icount1, hash1) == (icount2, hash2)
    # snapshot=on: the image itself was never written.
    assert hashlib.sha256(disk.read_bytes()).hexdigest() == before


PANIC = "Kernel panic - not syncing: VFS: Unable to mount root fs"


def panic_argv(rrvm, artefacts, disk, extra=()):
    argv = rrvm_argv(rrvm, artefacts, disk, snapshot=True, extra=extra)
    i = argv.index("-append")
    argv[i + 1] = "console=ttyS0 root=/dev/vdz rw panic=-1"
    return argv


@pytest.fixture(scope="module")
def plain_disk(artefacts, img_bin, tmp_path_factory):
    disk = tmp_path_factory.mktemp("panic") / "root.qcow2"
    run([img_bin, "convert", "-f", "raw", "-O", "qcow2",
         artefacts["RRVM_ROOTFS_RAW"], str(disk)])
    return disk


def test_panic_with_no_reboot_exits(rrvm_bin, artefacts, plain_disk,
                                    tmp_path):
    g = start(panic_argv(rrvm_bin, artefacts, plain_disk, ["-no-reboot"]),
              tmp_path / "console.log")
    try:
        g.expect(PANIC, BOOT_TIMEOUT)
        g.expect(pexpect.EOF, CMD_TIMEOUT)
        g.child.close()
        assert g.child.exitstatus == 0, g.tail()
    finally:
        g.close()
    log = (tmp_path / "console.log").read_text(errors="replace")
    assert log.count("OpenSBI v") == 1


def test_panic_without_no_reboot_reboots(rrvm_bin, artefacts, plain_disk,
                                         tmp_path):
    g = start(panic_argv(rrvm_bin, artefacts, plain_disk),
              tmp_path / "console.log")
    try:
        g.expect(PANIC, BOOT_TIMEOUT)
        g.expect("OpenSBI v", BOOT_TIMEOUT)
        g.expect(r"Linux version 6\.1", BOOT_TIMEOUT)
        assert g.child.isalive()
    finally:
        g.close()
    log = (tmp_path / "console.log").read_text(errors="replace")
    assert log.count("OpenSBI v") == 2
    assert log.count("Linux version 6.1") == 2


@pytest.fixture(scope="module")
def demo_dir(artefacts, tmp_path_factory):
    return tmp_path_factory.mktemp("demo")


def demo_env(demo_dir):
    env = dict(os.environ)
    env.update(RRVM_BUILD=str(BUILD), RRVM_DEMO_DIR=str(demo_dir),
               RRVM_ARTEFACTS_ENV=str(ENV_FILE))
    return env


def test_demo_check_types_a_session(demo_dir):
    """scripts/demo.sh with stdin not a terminal: the rrvm-img part, a root
    disk made by rrvm-img, a typed session: the shell, the monitor through
    Ctrl-a c (stop, the state hash twice), QMP through rrvm-qmp-shell,
    poweroff."""
    p = run([str(TOP / "scripts" / "demo.sh")], env=demo_env(demo_dir),
            stdin=subprocess.DEVNULL, timeout=BOOT_TIMEOUT * 2, check=False)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert "Images are identical." in p.stdout + p.stderr
    assert "made by rrvm-img" in p.stderr
    assert re.search(r"^Linux rrvm 6\.1\.\d+ .* riscv64$", p.stdout, re.M)
    assert "reboot: Power down" in p.stdout
    assert "demo: OK" in p.stderr
    # The monitor on the same terminal (Ctrl-a c), then QMP on its socket.
    assert "VM status: running" in p.stdout
    assert "VM status: paused" in p.stdout
    hashes = re.findall(r"^icount \d+ statehash ([0-9a-f]{64})$", p.stdout,
                        re.M)
    assert len(hashes) == 2 and hashes[0] == hashes[1], p.stdout[-3000:]
    assert f'"statehash": "{hashes[0]}"' in p.stdout
    assert "written before the monitor looked" in p.stdout
    run([binary("imgtool/rrvm-img"), "check", str(demo_dir / "root.qcow2")])


def test_demo_interactive_keeps_disk(demo_dir):
    """scripts/demo.sh on a terminal, after the --check run: the same disk
    (not made again), a shell, Ctrl-a x quits with status 0."""
    disk = demo_dir / "root.qcow2"
    assert disk.exists(), "test_demo_check_types_a_session made no disk"
    inode = disk.stat().st_ino
    g = Guest([str(TOP / "scripts" / "demo.sh")], demo_dir / "demo.log",
              env=demo_env(demo_dir))
    try:
        g.boot()
        assert "kept from an earlier run" in g.tail(100000)
        token = secrets.token_hex(8)
        assert g.ok(f"echo {token} > /root/demo.txt && sync && "
                    "cat /root/demo.txt").strip() == token
        g.child.send("\x01x")
        g.expect(pexpect.EOF)
        g.child.close()
        assert g.child.exitstatus == 0, g.tail()
    finally:
        g.close()
    assert disk.stat().st_ino == inode
    raw = demo_dir / "root.raw"
    run([binary("imgtool/rrvm-img"), "convert", "-O", "raw", str(disk),
         str(raw)])
    got = run(["debugfs", "-R", "cat /root/demo.txt", str(raw)]).stdout
    assert got.strip() == token
    raw.unlink()
