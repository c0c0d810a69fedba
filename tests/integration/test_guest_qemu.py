"""Boot the cached guest artefacts (scripts/artefacts.sh: kernel Image and
busybox root filesystem) on Debian's qemu-system-riscv64, as a check of the
artefacts themselves, independent of rrvm: reach the shell, use the devices,
write a file, power off, and read the file back from the host."""
import hashlib
import os
import secrets
import shutil
import time
from pathlib import Path

import pytest

from conftest import TOP, binary, run

ENV_FILE = Path(os.environ.get("RRVM_ARTEFACTS_ENV",
                               TOP / "build" / "artefacts.env"))
PROMPT = "~ # "
# The reference CPU profile (priv 1.11, no H, no Sstc, no Zb*, no PMU).
CPU = ("rv64,h=false,sstc=false,zba=false,zbb=false,zbc=false,zbs=false,"
       "priv_spec=v1.11.0,pmu-num=0,Zihintpause=false")
BOOT_TIMEOUT = 60
CMD_TIMEOUT = 30
RNG_TIMEOUT = 90


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


@pytest.fixture
def artefacts():
    return load_env()


@pytest.fixture(params=["qemu-img", "rrvm-img"])
def disk(request, artefacts, tmp_path):
    """A fresh qcow2 made from the cached raw image with guest/make-disk.sh,
    once with qemu-img (RRVM_IMG unset: the artefacts alone) and once with
    our rrvm-img (RRVM_IMG set), which the boot then cross-checks."""
    out = tmp_path / "root.qcow2"
    env = dict(os.environ)
    env.pop("RRVM_IMG", None)
    if request.param == "rrvm-img":
        env["RRVM_IMG"] = binary("imgtool/rrvm-img")
    run([str(TOP / "guest" / "make-disk.sh"), artefacts["RRVM_ROOTFS_RAW"],
         str(out)], env=env)
    info = run(["qemu-img", "info", "--output=json", str(out)]).stdout
    assert '"format": "qcow2"' in info
    return out


def qemu_argv(artefacts, disk):
    return [
        "qemu-system-riscv64", "-M", "virt", "-cpu", CPU, "-m", "256M",
        "-smp", "1", "-nographic", "-nic", "none", "-no-reboot",
        "-bios", artefacts["RRVM_BIOS"],
        "-kernel", artefacts["RRVM_KERNEL"],
        "-append", "console=ttyS0 root=/dev/vda rw panic=-1",
        "-drive", f"file={disk},format=qcow2,if=none,id=hd0",
        "-device", "virtio-blk-device,drive=hd0",
        "-device", "virtio-rng-device",
    ]


class Guest:
    """A pexpect session on the guest's serial console."""

    def __init__(self, argv, log_path):
        import pexpect
        self.pexpect = pexpect
        self.log = open(log_path, "w", encoding="utf-8", errors="replace")
        self.child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8",
                                   codec_errors="replace", timeout=CMD_TIMEOUT,
                                   dimensions=(50, 200))
        self.child.logfile_read = self.log
        self.seq = 0

    def expect(self, pattern, timeout=CMD_TIMEOUT):
        try:
            return self.child.expect(pattern, timeout=timeout)
        except (self.pexpect.TIMEOUT, self.pexpect.EOF) as e:
            self.log.flush()
            raise AssertionError(
                f"waiting for {pattern!r}: {type(e).__name__}; console tail:\n"
                + self.tail()) from None

    def tail(self):
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace")
        return text[-3000:]

    def sh(self, command, timeout=CMD_TIMEOUT):
        """Run @command in the guest shell; return (output, exit status).
        The marker's number is split so the echoed command line never
        matches it."""
        self.seq += 1
        tag = f"RC{self.seq}"
        self.child.sendline(f"{command}; echo {tag[:2]}''{tag[2:]}=$?")
        self.expect(rf"{tag}=(\d+)[\r\n]", timeout)
        status = int(self.child.match.group(1))
        out = self.child.before
        # Drop the echoed command line.
        out = out.split("\n", 1)[1] if "\n" in out else ""
        self.expect(PROMPT)
        return out.replace("\r", ""), status

    def close(self):
        if self.child.isalive():
            self.child.terminate(force=True)
        self.log.close()


@pytest.fixture
def guest(artefacts, disk, tmp_path):
    if shutil.which("qemu-system-riscv64") is None:
        pytest.fail("qemu-system-riscv64 is not installed (qemu-system-misc)")
    g = Guest(qemu_argv(artefacts, disk), tmp_path / "console.log")
    yield g
    g.close()


def test_guest_boots_to_shell_and_powers_off(guest, disk, tmp_path):
    start = time.monotonic()
    guest.expect(r"rrvm guest: Linux 6\.1\.\S+ riscv64, root /dev/\S+ rw",
                 BOOT_TIMEOUT)
    guest.expect(PROMPT, BOOT_TIMEOUT)
    boot_secs = time.monotonic() - start
    # A wide terminal, so the shell never wraps the echoed command lines.
    guest.child.sendline("stty cols 1000")
    guest.expect(PROMPT)

    out, rc = guest.sh("uname -a")
    assert rc == 0
    assert out.startswith("Linux rrvm 6.1."), out
    assert "riscv64" in out

    out, rc = guest.sh("cat /proc/cpuinfo")
    assert rc == 0
    fields = dict(
        (k.strip(), v.strip())
        for k, _, v in (line.partition(":") for line in out.splitlines())
        if v)
    assert fields.get("processor") == "0", out
    assert fields.get("isa", "").startswith("rv64imafdc"), out
    assert fields.get("mmu", "").startswith("sv"), out

    out, rc = guest.sh("grep -c ^processor /proc/cpuinfo")
    assert (out.strip(), rc) == ("1", 0)

    out, rc = guest.sh("mount")
    assert rc == 0
    assert " on / type ext4 (rw," in out, out
    assert "devtmpfs on /dev type devtmpfs" in out, out

    # 64 MiB virtio disk, in 512-byte sectors.
    out, rc = guest.sh("cat /sys/block/vda/size")
    assert (out.strip(), rc) == (str(64 << 11), 0)

    # Each hwrng read is one small virtio request: ~7 s under TCG.
    out, rc = guest.sh("head -c 1048576 /dev/hwrng | wc -c", RNG_TIMEOUT)
    assert (out.strip(), rc) == ("1048576", 0)
    # Entropy from virtio-rng does not compress.
    out, rc = guest.sh("head -c 65536 /dev/hwrng | gzip -c | wc -c")
    assert rc == 0
    assert int(out.strip()) > 65536 * 99 // 100, out

    out, rc = guest.sh("date +%Y")
    assert rc == 0 and int(out.strip()) >= 2023, out

    token = secrets.token_hex(16)
    out, rc = guest.sh(f"echo {token} > /root/probe.txt && sync && "
                       "sha256sum /root/probe.txt")
    assert rc == 0
    guest_sum = out.split()[0]

    guest.child.sendline("poweroff")
    guest.expect(guest.pexpect.EOF, BOOT_TIMEOUT)
    guest.child.close()
    assert guest.child.exitstatus == 0, guest.tail()
    assert "reboot: Power down" in guest.tail()

    # QEMU's writes left a consistent qcow2.
    run(["qemu-img", "check", str(disk)])
    raw = tmp_path / "after.raw"
    run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(disk),
         str(raw)])
    fsck = run(["e2fsck", "-fn", str(raw)], check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    got = run(["debugfs", "-R", "cat /root/probe.txt", str(raw)]).stdout
    assert got == token + "\n"
    assert hashlib.sha256(got.encode()).hexdigest() == guest_sum
    print(f"guest boot to prompt: {boot_secs:.2f}s")


def test_cached_raw_image_untouched_by_boot(artefacts):
    """The cached image is never booted, so it stays clean and unmounted."""
    raw = artefacts["RRVM_ROOTFS_RAW"]
    fsck = run(["e2fsck", "-fn", raw], check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    ls = run(["debugfs", "-R", "ls -l /root", raw]).stdout
    assert "probe.txt" not in ls
    init = run(["debugfs", "-R", "stat /sbin/init", raw]).stdout
    assert "Type: symlink" in init
    assert "/bin/busybox" in init


def build_rootfs(guest_dir, cache, busybox):
    """Run a copy of guest/build-rootfs.sh against @cache with the @busybox
    artefact directory; return (artefact directory, stderr)."""
    env = dict(os.environ, RRVM_CACHE=str(cache))
    p = run([str(guest_dir / "build-rootfs.sh"), str(busybox)], env=env)
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, p.stdout
    return Path(lines[0]), p.stderr


def debugfs_cat(image, path):
    return run(["debugfs", "-R", f"cat {path}", str(image)]).stdout


def test_rootfs_cache_keyed_by_inputs_and_atomic(artefacts, tmp_path):
    """The cache protocol, on the cheap root filesystem step (with the real
    busybox build): a changed input rebuilds, unchanged inputs reuse,
    leftovers of a killed build are never taken for an artefact, and equal
    inputs give a byte-identical image."""
    guest_dir = tmp_path / "guest"
    shutil.copytree(TOP / "guest", guest_dir, symlinks=True)
    cache = tmp_path / "cache"
    cache.mkdir()
    bb = Path(artefacts["RRVM_BUSYBOX"]).parent

    token = secrets.token_hex(8)
    (guest_dir / "rootfs" / "etc" / "probe").write_text(token + "\n")
    d1, err = build_rootfs(guest_dir, cache, bb)
    assert d1.parent == cache and d1.name.startswith("rootfs-")
    assert d1 != Path(artefacts["RRVM_ROOTFS_RAW"]).parent
    assert "clean build" in err
    assert (d1 / "COMPLETE").is_file()
    img1 = d1 / "rootfs.ext4"
    assert debugfs_cat(img1, "/etc/probe") == token + "\n"
    assert not list(cache.glob(".tmp-*"))
    sum1 = run(["sha256sum", str(img1)]).stdout.split()[0]

    st = img1.stat()
    again, err = build_rootfs(guest_dir, cache, bb)
    assert again == d1
    assert "building" not in err
    assert (img1.stat().st_ino, img1.stat().st_mtime_ns) == \
        (st.st_ino, st.st_mtime_ns)

    # A different input: a new artefact beside the old one.
    (guest_dir / "rootfs" / "etc" / "probe").write_text(token + "-2\n")
    d2, _ = build_rootfs(guest_dir, cache, bb)
    assert d2 != d1 and (d1 / "COMPLETE").is_file()
    assert debugfs_cat(d2 / "rootfs.ext4", "/etc/probe") == token + "-2\n"

    # What a killed build leaves: an unfinished final-looking directory
    # (no COMPLETE) and a temp directory. Neither may be used.
    (guest_dir / "rootfs" / "etc" / "probe").write_text(token + "\n")
    shutil.rmtree(d1)
    d1.mkdir()
    (d1 / "rootfs.ext4").write_bytes(b"half")
    stale = cache / f".tmp-{d1.name}-killed"
    stale.mkdir()
    (stale / "junk").write_text("x")
    rebuilt, err = build_rootfs(guest_dir, cache, bb)
    assert rebuilt == d1
    assert "clean build" in err
    assert (d1 / "COMPLETE").is_file()
    assert not stale.exists()
    fsck = run(["e2fsck", "-fn", str(img1)], check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert run(["sha256sum", str(img1)]).stdout.split()[0] == sum1


def setup_src_print(etc):
    return run([str(TOP / "guest" / "setup-src.sh"), "--print"],
               env=dict(os.environ, RRVM_APT_ETC=str(etc)), check=False)


def test_setup_src_mirrors_debian_archives_as_deb_src(tmp_path):
    """guest/setup-src.sh turns the configured Debian archives (both apt
    formats) into deb-src stanzas, and nothing else."""
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n"
        "# a comment\n"
        "URIs: http://deb.debian.org/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        "\n"
        "Types: deb\n"
        "URIs: https://deb.nodesource.com/node_20.x\n"
        "Suites: nodistro\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://mirror.example/debian\n"
        "Suites: trixie\n"
        "Components: main\n"
        "Enabled: no\n")
    (etc / "sources.list").write_text(
        "# deb http://old.example/debian buster main\n"
        "deb [arch=amd64 signed-by=/k/sec.gpg] "
        "http://security.debian.org/debian-security bookworm-security "
        "main contrib\n"
        "deb-src http://deb.debian.org/debian bookworm main\n"
        "deb https://packages.cloud.google.com/apt cloud-sdk main\n")
    # What the script itself would write is never read back.
    (etc / "sources.list.d" / "rrvm-src.sources").write_text(
        "Types: deb-src\nURIs: http://stale.example/debian\nSuites: x\n"
        "Components: main\n")
    p = setup_src_print(etc)
    assert p.returncode == 0, p.stderr
    assert p.stdout == (
        "Types: deb-src\n"
        "URIs: http://deb.debian.org/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        "\n"
        "Types: deb-src\n"
        "URIs: http://security.debian.org/debian-security\n"
        "Suites: bookworm-security\n"
        "Components: main contrib\n"
        "Signed-By: /k/sec.gpg\n"
        "\n")

    (etc / "sources.list.d" / "debian.sources").unlink()
    (etc / "sources.list").write_text(
        "deb https://packages.cloud.google.com/apt cloud-sdk main\n")
    p = setup_src_print(etc)
    assert p.returncode == 1
    assert "no Debian archive" in p.stderr
