"""Real SIGKILLs of rrvm-img in the middle of convert and snapshot work: the
image it was changing must never be corrupt (qemu-img check exit 0 or 3,
leaks allowed) and data written before the command must read back.

rrvm-img must end by the SIGKILL or by finishing normally (exit 0, nothing
on stderr, and the command's effect complete); any other end (an error
exit, a crash, a sanitizer report) fails the test."""
import hashlib
import os
import random
import signal
import subprocess
import time

from conftest import run

SIZE = 48 << 20


def make_raw(path, seed, size=SIZE):
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        for i in range(size // (1 << 20)):
            if i % 3 == 2:
                f.write(b"\0" * (1 << 20))
            else:
                f.write(rnd.randbytes(1 << 20))


def guest_digest(img, tmp):
    raw = tmp / "digest.raw"
    run(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", str(img),
         str(raw)])
    h = hashlib.sha256(raw.read_bytes()).hexdigest()
    raw.unlink()
    return h


def check_not_corrupt(img):
    """qemu-img check finds no corruption; leaks are allowed (exit 0 or 3).
    No OFLAG_COPIED mismatch is tolerated: snapshot operations switch from
    the old metadata to the new in one header-sector write."""
    p = run(["qemu-img", "check", "-f", "qcow2", str(img)], check=False)
    assert p.returncode in (0, 3), p.stdout + p.stderr


def kill_after(cmd, delay):
    """Run @cmd, SIGKILL it after @delay seconds. Returns True if the kill
    ended it, False if it finished by itself with exit 0 and an empty
    stderr (the caller then checks the command's effect is complete).
    Any other end fails."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    rc = proc.returncode
    if rc == -signal.SIGKILL:
        return True
    err = err.decode("utf-8", "replace")
    assert rc == 0 and not err, (f"{cmd} ended with status {rc} before "
                                 f"the kill\nstderr:\n{err}")
    return False


def timed(cmd):
    t = time.monotonic()
    run(cmd)
    return time.monotonic() - t


def test_kill_during_convert(rrvm_img, tmp_path):
    src = tmp_path / "src.raw"
    dst = tmp_path / "dst.qcow2"
    make_raw(src, 1)
    cmd = [rrvm_img, "convert", "-f", "raw", "-O", "qcow2", str(src),
           str(dst)]
    full = timed(cmd)
    rnd = random.Random(7)
    killed = 0
    for _ in range(12):
        dst.unlink(missing_ok=True)
        if not kill_after(cmd, rnd.uniform(0, full)):
            # Finished before the kill: it must be complete.
            run(["qemu-img", "check", "-f", "qcow2", str(dst)])
            run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2",
                 str(src), str(dst)])
            continue
        killed += 1
        if not dst.exists():
            continue
        with open(dst, "rb") as f:
            head = f.read(4)
        if len(head) < 4 or head != b"QFI\xfb":
            continue  # killed before the header existed: nothing to check
        check_not_corrupt(dst)
    # A finished convert equals its source.
    dst.unlink(missing_ok=True)
    run(cmd)
    run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2", str(src),
         str(dst)])
    assert killed >= 3, "the kills landed too late to test anything"


def snapshot_names(img):
    out = run(["qemu-img", "snapshot", "-l", "-U", str(img)]).stdout
    return [l.split()[1] for l in out.splitlines()[2:] if l.split()]


def test_kill_during_snapshot_ops(rrvm_img, tmp_path):
    """SIGKILL rrvm-img during snapshot -c, -a and -d on a 64 MiB image at
    random instants: never corrupt, and the guest sees the state before or
    after the command, never a mix."""
    src = tmp_path / "src.raw"
    img = tmp_path / "img.qcow2"
    make_raw(src, 2, size=64 << 20)
    run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2",
         "-o", "cluster_size=4096", str(src), str(img)])
    src.unlink()
    cur = guest_digest(img, tmp_path)
    # How long a command takes once the file's data is on disk (the kills
    # below also come after a sync, so they spread over the whole command).
    full = 0
    for _ in range(2):
        os.sync()
        full = max(full, timed([rrvm_img, "snapshot", "-c", "probe",
                                str(img)]))
        os.sync()
        full = max(full, timed([rrvm_img, "snapshot", "-d", "probe",
                                str(img)]))
    run([rrvm_img, "snapshot", "-c", "base", str(img)])
    digest = {"base": cur}
    rnd = random.Random(11)
    killed = 0
    for i in range(30):
        # New guest data, so that snapshots differ from each other.
        run(["qemu-io", "-f", "qcow2", "-c",
             f"write -P {i + 1} {(i % 60) << 20} 256k", str(img)],
            stdout=subprocess.DEVNULL)
        cur = guest_digest(img, tmp_path)
        names = snapshot_names(img)
        op = rnd.choice(["-c", "-a", "-d"] if names else ["-c"])
        name = f"s{i}" if op == "-c" else rnd.choice(names)
        os.sync()
        done = not kill_after([rrvm_img, "snapshot", op, name, str(img)],
                              rnd.uniform(0, full))
        killed += not done
        # Leaks left by earlier kills may remain even after a complete run.
        check_not_corrupt(img)
        after = snapshot_names(img)
        now = guest_digest(img, tmp_path)
        if op == "-c":
            assert now == cur
            assert after in ([names + [name]] if done else
                             (names, names + [name]))
            if name in after:
                digest[name] = cur
        elif op == "-d":
            assert now == cur
            gone = [n for n in names if n != name]
            assert after in ([gone] if done else (names, gone))
        else:
            assert after == names
            assert now in ((digest[name],) if done else (cur, digest[name]))
    assert killed >= 3, "the kills landed too late to test anything"
    # Nothing worse than leaks, and those go with -r leaks.
    run(["qemu-img", "check", "-r", "leaks", str(img)], check=False)
    run(["qemu-img", "check", str(img)])
