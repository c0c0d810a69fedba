"""Migration (docs/snapshots.md, docs/formats/migration.md): migrate to
exec: and file: and -incoming from it gives the source's state hash and the
same run afterwards; to a second rrvm over tcp and unix sockets; U-Boot's
console continues identically; -incoming defer with migrate-incoming;
another configuration, a truncated and a corrupted stream refused with one
line; migrate_cancel; events, replies and messages against
qemu-system-riscv64 7.2."""
import os
import socket
import subprocess
import time

import pexpect
import pytest

import vmproc
from conftest import needs_fw, needs_qemu
from vmproc import finish, free_port, run_to, statehash, status, typed

FW = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"
UBOOT_S = "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"
QEMU = "qemu-system-riscv64"
QEMU_CPU = ("rv64,h=false,sstc=false,zba=false,zbb=false,zbc=false,"
            "zbs=false,priv_spec=v1.11.0,pmu-num=0,Zihintpause=false")
TIMEOUT = 120
ICOUNT = 40_000_000


def uboot_args(*extra, mem="64M"):
    """U-Boot under OpenSBI with a fixed virtual clock and no serial: the
    same instructions in every run."""
    return ["-m", mem, "-bios", FW, "-kernel", UBOOT_S, "-nodefaults",
            "-serial", "null", "-icount", "shift=3,sleep=off", *extra]


def start(binary, args, sock):
    if binary == QEMU:
        args = ["-cpu", QEMU_CPU, "-display", "none", *args]
    return vmproc.start(binary, args, sock)


def events_on(q):
    assert q.cmd("migrate-set-capabilities",
                 capabilities=[{"capability": "events",
                                "state": True}]) == {"return": {}}


def wait_migration(q, timeout=TIMEOUT):
    """Poll query-migrate until the migration ends; return its reply."""
    end = time.time() + timeout
    while time.time() < end:
        r = q.cmd("query-migrate")["return"]
        if r.get("status") in ("completed", "failed", "cancelled"):
            return r
        time.sleep(0.05)
    raise AssertionError("migration did not end")


def source_at(rrvm, tmp_path):
    """A U-Boot source stopped at ICOUNT, and its state hash."""
    p, q = start(rrvm, uboot_args("-S"), str(tmp_path / "src"))
    run_to(q, ICOUNT)
    return p, q, statehash(q)


def continue_both(q1, q2):
    """Run both machines the same distance; the hashes must agree."""
    q1.cmd("__org.rrvm_stop-at", icount=ICOUNT + 20_000_000)
    q2.cmd("__org.rrvm_stop-at", icount=ICOUNT + 20_000_000)
    q1.cmd("cont")
    q2.cmd("cont")
    q1.wait_event("STOP")
    q2.wait_event("STOP")
    h1, h2 = statehash(q1), statehash(q2)
    assert h1 == h2
    return h1


# ---- to a file and back ----

@needs_fw
@pytest.mark.parametrize("scheme", ["exec", "file"])
def test_file_roundtrip_keeps_the_state_hash(rrvm, tmp_path, scheme):
    f = tmp_path / "stream"
    out = f"exec:cat > {f}" if scheme == "exec" else f"file:{f}"
    inc = f"exec:cat {f}" if scheme == "exec" else f"file:{f}"
    p, q, saved = source_at(rrvm, tmp_path)
    assert q.cmd("migrate", uri=out) == {"return": {}}
    r = wait_migration(q)
    assert r["status"] == "completed", r
    assert status(q) == "postmigrate"
    assert statehash(q) == saved
    assert r["ram"]["total"] == 64 << 20
    assert r["ram"]["transferred"] == os.path.getsize(f)
    assert r["ram"]["normal"] + r["ram"]["duplicate"] == (64 << 20) // 4096
    # Zero pages are elided: a 64 MiB guest that touched little is small.
    assert os.path.getsize(f) < 8 << 20
    p2, q2 = start(rrvm, uboot_args("-S", "-incoming", inc),
                   str(tmp_path / "dst"))
    r2 = wait_migration(q2)
    assert r2 == {"status": "completed"}
    # The source was paused: the destination stays paused, as QEMU's.
    assert status(q2) == "paused"
    assert statehash(q2) == saved
    continue_both(q, q2)
    finish(p2, q2)
    finish(p, q)


@needs_fw
def test_incoming_command_that_lingers_does_not_hang(rrvm, tmp_path):
    """An exec: command still running after the stream is ended (as
    QEMU's qio_channel_command_abort()), not waited for."""
    f = tmp_path / "stream"
    p, q, saved = source_at(rrvm, tmp_path)
    q.cmd("migrate", uri=f"file:{f}")
    assert wait_migration(q)["status"] == "completed"
    finish(p, q)
    t0 = time.time()
    p2, q2 = start(rrvm, uboot_args("-S", "-incoming",
                                    f"exec:cat {f}; sleep 60"),
                   str(tmp_path / "dst"))
    assert wait_migration(q2, timeout=20) == {"status": "completed"}
    assert time.time() - t0 < 20
    assert statehash(q2) == saved
    finish(p2, q2)


# ---- to a second rrvm over sockets ----

@needs_fw
@pytest.mark.parametrize("scheme", ["tcp", "unix"])
def test_socket_to_second_rrvm(rrvm, tmp_path, scheme):
    addr = (f"tcp:127.0.0.1:{free_port()}" if scheme == "tcp"
            else f"unix:{tmp_path / 'mig.sock'}")
    p2, q2 = start(rrvm, uboot_args("-S", "-incoming", addr),
                   str(tmp_path / "dst"))
    assert status(q2) == "inmigrate"
    # QEMU 7.2: status none (no member) while listening.
    if scheme == "tcp":
        port = addr.rsplit(":", 1)[1]
        assert q2.cmd("query-migrate") == {"return": {"socket-address": [
            {"port": port, "ipv4": True, "host": "127.0.0.1",
             "type": "inet"}]}}
    else:
        assert q2.cmd("query-migrate") == {"return": {"socket-address": [
            {"path": addr[5:], "type": "unix"}]}}
    p, q, saved = source_at(rrvm, tmp_path)
    assert q.cmd("migrate", uri=addr) == {"return": {}}
    assert wait_migration(q)["status"] == "completed"
    assert wait_migration(q2) == {"status": "completed"}
    assert statehash(q2) == saved
    continue_both(q, q2)
    finish(p2, q2)
    finish(p, q)


@needs_fw
def test_running_source_starts_the_destination_unless_S(rrvm, tmp_path):
    """QEMU 7.2: a running source's destination runs (RESUME, then
    completed) without -S and stays paused with it."""
    f = tmp_path / "stream"
    p, q = start(rrvm, uboot_args(), str(tmp_path / "src"))
    events_on(q)
    q.cmd("migrate", uri=f"file:{f}")
    assert wait_migration(q)["status"] == "completed"
    seq = [(e["event"], e.get("data")) for e in q.events]
    assert seq == [("MIGRATION", {"status": "setup"}),
                   ("MIGRATION_PASS", {"pass": 1}),
                   ("MIGRATION", {"status": "active"}),
                   ("STOP", None),
                   ("MIGRATION_PASS", {"pass": 2}),
                   ("MIGRATION", {"status": "completed"})]
    finish(p, q)
    for extra, state in (([], "running"), (["-S"], "paused")):
        p2, q2 = start(rrvm, uboot_args(*extra, "-incoming", "defer"),
                       str(tmp_path / "dst"))
        events_on(q2)
        assert status(q2) == "inmigrate"
        assert q2.cmd("migrate-incoming", uri=f"exec:cat {f}") == \
            {"return": {}}
        assert wait_migration(q2) == {"status": "completed"}
        assert status(q2) == state
        seq = [(e["event"], e.get("data")) for e in q2.events]
        expect = [("MIGRATION", {"status": "setup"}),
                  ("MIGRATION", {"status": "active"})]
        if state == "running":
            expect.append(("RESUME", None))
        expect.append(("MIGRATION", {"status": "completed"}))
        assert seq == expect
        assert q2.cmd("migrate-incoming", uri="exec:true")["error"][
            "desc"] == "The incoming migration has already been started"
        finish(p2, q2)


@needs_fw
def test_disks_are_shared_as_qemu_does(rrvm, tmp_path):
    """The destination opens a disk the running source holds (without the
    lock, QEMU's inactive image), takes it when the stream completes; the
    source released it and cannot run again while the destination holds
    it."""
    disk = tmp_path / "d.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(disk), "16M"],
                   check=True, capture_output=True)
    drive = ["-drive", f"file={disk},if=virtio"]
    p, q = start(rrvm, uboot_args(*drive), str(tmp_path / "src"))
    addr = f"unix:{tmp_path / 'mig.sock'}"
    p2, q2 = start(rrvm, uboot_args(*drive, "-incoming", addr),
                   str(tmp_path / "dst"))
    # The image is locked by the source alone.
    r = subprocess.run(["qemu-img", "info", str(disk)], capture_output=True,
                       text=True)
    assert r.returncode != 0 and "lock" in r.stderr
    assert q.cmd("migrate", uri=addr) == {"return": {}}
    assert wait_migration(q)["status"] == "completed"
    assert wait_migration(q2) == {"status": "completed"}
    assert status(q2) == "running"
    r = q.cmd("cont")
    assert "error" in r and "lock" in r["error"]["desc"], r
    assert status(q) == "postmigrate"
    finish(p2, q2)
    # Once the destination is gone, the source takes the disk back.
    assert q.cmd("cont") == {"return": {}}
    assert status(q) == "running"
    finish(p, q)


# ---- U-Boot's console ----

def uboot_console(rrvm, sock, *extra):
    return vmproc.console(rrvm, ["-m", "64M", "-bios", FW, "-kernel", UBOOT_S,
                                 "-nographic", "-icount", "shift=3,sleep=off",
                                 *extra], sock, TIMEOUT)


@needs_fw
def test_uboot_console_continues_identically(rrvm, tmp_path):
    f = tmp_path / "stream"
    g, q = uboot_console(rrvm, str(tmp_path / "s1"))
    g.expect("Hit any key to stop autoboot")
    g.send("\r")
    g.expect("=> ")
    typed(g, "mw.l 0x82000000 0x11223344 0x40")
    q.cmd("stop")
    saved = statehash(q)
    q.cmd("migrate", uri=f"file:{f}")
    assert wait_migration(q)["status"] == "completed"
    q.cmd("cont")
    script = ["md.l 0x82000000 8", "mw.l 0x82000000 0xdeadbeef 4",
              "md.l 0x82000000 8", "crc32 0x82000000 0x100"]
    first = [typed(g, c) for c in script]
    assert "deadbeef" in first[2]
    q.close()
    g.sendline("poweroff")
    g.expect(pexpect.EOF)
    g2, q2 = uboot_console(rrvm, str(tmp_path / "s2"), "-S", "-incoming",
                           f"file:{f}")
    assert wait_migration(q2) == {"status": "completed"}
    assert statehash(q2) == saved
    q2.cmd("cont")
    again = [typed(g2, c) for c in script]
    assert again == first
    q2.close()
    g2.sendline("poweroff")
    g2.expect(pexpect.EOF)


# ---- refused streams ----

def incoming_fails(rrvm, tmp_path, stream, *extra):
    """Start a destination on @stream; it must exit 1 with one line."""
    r = subprocess.run([rrvm, "-M", "virt", *uboot_args("-S", *extra),
                        "-incoming", f"file:{stream}"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 1, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("rrvm: load of migration failed: ")
    return lines[0]


@needs_fw
def test_bad_streams_are_refused(rrvm, tmp_path):
    f = tmp_path / "stream"
    p, q, _ = source_at(rrvm, tmp_path)
    q.cmd("migrate", uri=f"file:{f}")
    assert wait_migration(q)["status"] == "completed"
    finish(p, q)
    good = f.read_bytes()
    msg = incoming_fails(rrvm, tmp_path, f, "-m", "128M")
    assert msg.endswith("vmstate is from another machine: 64 MiB of RAM, "
                        "this one has 128 MiB")
    msg = incoming_fails(rrvm, tmp_path, f, "-icount", "shift=4,sleep=off")
    assert "vmstate is from another machine: -icount shift=3" in msg
    cases = {
        "truncated": good[:len(good) // 2],
        "header only": good[:64],
        "empty": b"",
        "not a stream": b"QEVM" + bytes(200),
        "a RAM byte": good[:len(good) - 4096] +
        bytes([good[len(good) - 4096] ^ 1]) + good[len(good) - 4095:],
        "the header": good[:40] + bytes([good[40] ^ 1]) + good[41:],
        "the blob": good[:200] + bytes([good[200] ^ 0x10]) + good[201:],
        "the end": good[:-3] + bytes([good[-3] ^ 1]) + good[-2:],
    }
    expect = {
        "truncated": "the migration stream is truncated",
        "header only": "the migration stream is truncated",
        "empty": "the migration stream is truncated",
        "not a stream": "not an rrvm migration stream",
        "a RAM byte": "corrupt (checksum)",
        "the header": "header is corrupt",
        "the blob": "",
        "the end": "corrupt (checksum)",
    }
    for name, data in cases.items():
        bad = tmp_path / "bad"
        bad.write_bytes(data)
        assert expect[name] in incoming_fails(rrvm, tmp_path, bad), name


# ---- cancel ----

@needs_fw
def test_migrate_cancel_resumes_the_source(rrvm, tmp_path):
    """A command that does not read keeps the stream active; cancel ends
    it, kills the command and the guest runs again."""
    p, q = start(rrvm, uboot_args(), str(tmp_path / "src"))
    events_on(q)
    q.cmd("migrate", uri="exec:sleep 60")
    end = time.time() + 30
    while q.cmd("query-migrate")["return"]["status"] != "active":
        assert time.time() < end
        time.sleep(0.05)
    assert status(q) == "finish-migrate"
    assert q.cmd("cont")["error"]["desc"] == \
        "There's a migration process in progress"
    # The monitor answers while the stream is stalled.
    assert q.cmd("query-migrate")["return"]["ram"]["remaining"] > 0
    assert q.cmd("migrate", uri="exec:true")["error"]["desc"] == \
        "There's a migration process in progress"
    assert q.hmp("migrate_cancel") == ""
    assert q.cmd("query-migrate")["return"]["status"] == "cancelled"
    assert status(q) == "running"
    seq = [(e["event"], e.get("data")) for e in q.events]
    assert seq[-3:] == [("MIGRATION", {"status": "cancelling"}),
                        ("RESUME", None),
                        ("MIGRATION", {"status": "cancelled"})]
    # A second migration works after a cancelled one.
    q.cmd("migrate", uri=f"file:{tmp_path / 'f'}")
    assert wait_migration(q)["status"] == "completed"
    finish(p, q)


@needs_fw
def test_failed_channel_reports_failed(rrvm, tmp_path):
    p, q = start(rrvm, uboot_args("-S"), str(tmp_path / "src"))
    # As QEMU's asynchronous connect: the command succeeds, the
    # migration fails.
    r = q.cmd("migrate", uri=f"unix:{tmp_path / 'nobody'}")
    assert r == {"return": {}}
    r = wait_migration(q)
    assert r["status"] == "failed"
    assert r["error-desc"] == (f"Failed to connect to '{tmp_path / 'nobody'}'"
                               ": No such file or directory")
    assert status(q) == "prelaunch"
    q.cmd("migrate", uri="exec:exit 3")
    r = wait_migration(q)
    assert r["status"] == "failed"
    assert status(q) == "prelaunch"
    finish(p, q)


# ---- HMP migrate without -d holds the prompt ----

def start_hmp(binary, tmp_path, name):
    """U-Boot (its relocated copy outgrows a socket buffer) with an HMP
    socket session and a QMP one."""
    hs = str(tmp_path / f"{name}.hmp")
    p, q = start(binary, ["-m", "64M", "-bios", FW, "-kernel", UBOOT_S,
                          "-nodefaults", "-serial", "null",
                          "-monitor", f"unix:{hs},server=on,wait=off"],
                 str(tmp_path / name))
    h = socket.socket(socket.AF_UNIX)
    h.connect(hs)
    h.settimeout(0.2)
    assert hmp_read(h, "(qemu) ").endswith("(qemu) ")
    return p, q, h


def hmp_read(h, until, timeout=30):
    """Bytes of @h, escapes dropped, until they end with @until."""
    out, end = b"", time.time() + timeout
    while time.time() < end:
        text = out.decode().replace("\x1b[K", "").replace("\x1b[D", "")
        if until and text.endswith(until):
            return text
        try:
            b = h.recv(65536)
        except socket.timeout:
            continue
        if not b:
            break
        out += b
    return out.decode().replace("\x1b[K", "").replace("\x1b[D", "")


def hmp_quiet(h, secs):
    """What @h sends within @secs (nothing, for a held prompt)."""
    return hmp_read(h, None, secs)


def held_prompt(binary, tmp_path, name):
    """The session's transcript of `migrate` to a completing command, and
    of one to a destination that never reads, released by QMP's
    migrate_cancel while the session's typed line waits."""
    p, q, h = start_hmp(binary, tmp_path, name)
    out = []
    f = tmp_path / f"{name}.stream"
    h.sendall(f"migrate exec:cat>{f}\r".encode())
    text = hmp_read(h, "(qemu) ")
    out.append(text.rsplit("\r\n", 1)[-1])
    assert q.cmd("query-migrate")["return"]["status"] == "completed"
    assert status(q) == "postmigrate"
    q.cmd("cont")

    us = str(tmp_path / f"{name}.dst")
    ls = socket.socket(socket.AF_UNIX)
    ls.bind(us)
    ls.listen(1)
    h.sendall(f"migrate unix:{us}\r".encode())
    c, _ = ls.accept()
    end = time.time() + 30
    while q.cmd("query-migrate")["return"]["status"] != "active":
        assert time.time() < end
        time.sleep(0.05)
    # Held: no prompt, and a typed line waits unread (no echo) while
    # the other monitor answers.
    out.append(hmp_quiet(h, 1.0).rsplit("\r\n", 1)[-1])
    h.sendall(b"info status\r")
    out.append(hmp_quiet(h, 1.0))
    # (rrvm is in finish-migrate here, QEMU still running: docs/monitor.md)
    out.append(sorted(q.cmd("query-status")["return"]))
    out.append(q.cmd("migrate_cancel"))
    out.append(hmp_read(h, "VM status: running\r\n(qemu) "))
    out.append(q.cmd("query-migrate")["return"]["status"])
    c.close()
    ls.close()
    # A failed connect: the prompt comes back once the migration failed.
    h.sendall(f"migrate unix:{tmp_path / 'nobody'}\r".encode())
    out.append(hmp_read(h, "(qemu) ").rsplit("\r\n", 1)[-1])
    r = q.cmd("query-migrate")["return"]
    out.append((r["status"], r["error-desc"]))
    h.close()
    finish(p, q)
    return out


@needs_fw
@needs_qemu
def test_hmp_migrate_holds_the_prompt_as_qemu(rrvm, tmp_path):
    mine = held_prompt(rrvm, tmp_path, "rrvm")
    theirs = held_prompt(QEMU, tmp_path, "qemu")
    assert mine == theirs
    assert mine[0] == "(qemu) "
    assert mine[1] == "" and mine[2] == ""
    assert mine[4] == {"return": {}}
    # The prompt, then the line that waited (echoed as typed) runs.
    assert mine[5].startswith("(qemu) i")
    assert mine[5].endswith("info status\r\nVM status: running\r\n(qemu) ")


@needs_fw
def test_hmp_migrate_failure_releases_the_prompt_with_the_error(
        rrvm, tmp_path):
    """As QEMU's hmp_migrate_status_cb(): the error on stderr, then the
    prompt; human-monitor-command cannot wait and says so."""
    p, q, h = start_hmp(rrvm, tmp_path, "fail")
    h.sendall(b'migrate "exec:exit 3"\r')
    assert hmp_read(h, "(qemu) ").endswith("\r\n(qemu) ")
    assert q.cmd("query-migrate")["return"]["status"] == "failed"
    h.sendall(f"migrate unix:{tmp_path / 'nobody'}\r".encode())
    assert hmp_read(h, "(qemu) ").endswith("\r\n(qemu) ")
    assert q.cmd("query-migrate")["return"]["status"] == "failed"
    assert q.hmp(f"migrate exec:cat>{tmp_path / 'f'}") == \
        "terminal does not allow synchronous migration, continuing detached\r\n"
    assert wait_migration(q)["status"] == "completed"
    h.close()
    finish(p, q)
    err = p.stderr.read().decode()
    assert err.count("rrvm: Unable to write to socket: Broken pipe\n") == 1 \
        or err.count("rrvm: the migration command failed\n") == 1, err
    assert err.count(f"rrvm: Failed to connect to '{tmp_path / 'nobody'}': "
                     "No such file or directory\n") == 1, err


# ---- against QEMU 7.2 ----

def qemu_like(binary, tmp_path, name):
    """One scripted session: messages, replies and event order."""
    f = tmp_path / f"{name}.stream"
    p, q = start(binary, ["-m", "64M", "-bios", FW, "-nodefaults"],
                 str(tmp_path / name))
    out = []
    out.append(q.cmd("query-migrate"))
    out.append(q.hmp("info migrate"))
    caps = q.cmd("query-migrate-capabilities")["return"]
    out.append(caps)
    out.append(q.cmd("migrate-set-capabilities",
                     capabilities=[{"capability": "foo", "state": True}]))
    events_on(q)
    out.append(q.hmp("info migrate_capabilities"))
    out.append(q.hmp("migrate_set_capability foo on"))
    out.append(q.cmd("migrate-incoming", uri="exec:true"))
    out.append(q.cmd("migrate", uri="foo:bar"))
    out.append(q.hmp("migrate -d nope:x"))
    out.append(q.cmd("migrate", uri=f"exec:cat > {f}"))
    r = wait_migration(q)
    out.append((r["status"], sorted(r), sorted(r["ram"])))
    out.append(q.cmd("query-status"))
    out.append(q.cmd("migrate", uri=f"exec:cat > {f}"))
    out.append(q.hmp("migrate_cancel"))
    info = q.hmp("info migrate").split("\r\n")
    # rrvm sends everything while stopped (one stop-and-copy pass): no
    # "precopy ram" line (docs/monitor.md).
    out.append([x.split(":")[0] for x in info
                if not x.startswith("precopy ram")])
    out.append([(e["event"], e.get("data")) for e in q.events])
    finish(p, q)
    return out


@needs_fw
@needs_qemu
def test_replies_events_and_messages_match_qemu(rrvm, tmp_path):
    mine = qemu_like(rrvm, tmp_path, "rrvm")
    theirs = qemu_like(QEMU, tmp_path, "qemu")
    assert mine == theirs


@needs_fw
@needs_qemu
def test_incoming_states_match_qemu(rrvm, tmp_path):
    """-incoming defer: inmigrate, {} before migrate-incoming, the
    message without -incoming; each binary reads its own stream."""
    def run(binary, name):
        f = tmp_path / f"{name}.stream"
        p, q = start(binary, ["-m", "64M", "-bios", FW, "-nodefaults"],
                     str(tmp_path / name))
        q.cmd("migrate", uri=f"exec:cat > {f}")
        wait_migration(q)
        finish(p, q)
        out = []
        for extra, cont in (([], False), (["-S"], False), (["-S"], True)):
            p, q = start(binary, ["-m", "64M", "-bios", FW, "-nodefaults",
                                  "-incoming", "defer", *extra],
                         str(tmp_path / name))
            out.append(q.cmd("query-status"))
            out.append(q.cmd("query-migrate"))
            events_on(q)
            if cont:
                # 7.2's qmp_cont() in inmigrate: start after the stream.
                out.append(q.cmd("cont"))
                out.append(q.cmd("query-status"))
            out.append(q.cmd("migrate-incoming", uri=f"exec:cat {f}"))
            out.append(wait_migration(q))
            out.append(q.cmd("query-status"))
            out.append([(e["event"], e.get("data")) for e in q.events])
            finish(p, q)
        return out
    assert run(rrvm, "rrvm") == run(QEMU, "qemu")
