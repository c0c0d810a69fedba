"""The emulator side of the monitor: run states and events over real
sockets, the machine commands against qemu-system-riscv64 7.2 on the same
firmware, chardev transports (unix, tcp, telnet, pty, stdio mux), a stalled
client while the guest prints, and determinism under inspection."""
import json
import os
import re
import socket
import stat
import subprocess
import time

import pytest

from qmpclient import Qmp
from conftest import needs_fw, needs_qemu, have
from vmproc import finish, free_port, popen, start

FW = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"
QEMU = "qemu-system-riscv64"
# rrvm's CPU profile on QEMU, so both machines are in the same state.
QEMU_CPU = ("rv64,h=false,sstc=false,zba=false,zbb=false,zbc=false,"
            "zbs=false,priv_spec=v1.11.0,pmu-num=0,Zihintpause=false")
# lui t0,0x10000; li t1,'A'; 1: sb t1,0(t0); j 1b -- prints forever.
SPAM = bytes.fromhex("b7020010" "13031004" "23806200" "6ff0dfff")


def events_of(q):
    return [(e["event"], e.get("data")) for e in q.events]


@needs_fw
def test_run_states_and_events(rrvm, tmp_path):
    sock = str(tmp_path / "qmp")
    old = os.umask(0)
    try:
        p, q = start(rrvm, ["-bios", FW, "-nodefaults", "-S", "-serial",
                            "null"], sock)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert q.greeting["QMP"]["version"]["qemu"]["major"] == 7
    st = q.cmd("query-status")["return"]
    assert st == {"status": "prelaunch", "singlestep": False,
                  "running": False}
    h0 = q.cmd("__org.rrvm_query-statehash")["return"]
    assert h0["icount"] == 0
    # stop in prelaunch changes nothing and sends no event.
    assert q.cmd("stop") == {"return": {}}
    assert q.events == []
    assert q.cmd("cont") == {"return": {}}
    assert events_of(q) == [("RESUME", None)]
    q.events.clear()
    time.sleep(0.2)
    assert q.cmd("stop") == {"return": {}}
    assert events_of(q) == [("STOP", None)]
    q.events.clear()
    st = q.cmd("query-status")["return"]
    assert st["status"] == "paused" and not st["running"]
    # Stopped means the icount does not move.
    h1 = q.cmd("__org.rrvm_query-statehash")["return"]
    time.sleep(0.3)
    h2 = q.cmd("__org.rrvm_query-statehash")["return"]
    assert h1 == h2 and h1["icount"] > 0
    assert q.hmp("info status") == "VM status: paused\r\n"
    assert q.cmd("system_reset") == {"return": {}}
    assert events_of(q) == [("RESET", {"guest": False,
                                       "reason": "host-qmp-system-reset"})]
    q.events.clear()
    assert q.cmd("query-status")["return"]["status"] == "prelaunch"
    assert q.hmp("info status") == "VM status: paused (prelaunch)\r\n"
    assert q.cmd("system_powerdown") == {"return": {}}
    assert events_of(q) == [("POWERDOWN", None)]
    q.events.clear()
    # Stop at an exact instruction count (the icount runs on across
    # resets).
    target = h1["icount"] + 123457
    assert q.cmd("__org.rrvm_stop-at", icount=target) == {"return": {}}
    q.cmd("cont")
    q.wait_event("STOP")
    assert q.cmd("__org.rrvm_query-statehash")["return"]["icount"] == target
    r = q.cmd("__org.rrvm_stop-at", icount=5)
    assert r["error"]["class"] == "GenericError"
    assert "behind" in r["error"]["desc"]
    q.send("quit")
    r = q._recv()
    assert r["event"] == "SHUTDOWN"
    assert r["data"] == {"guest": False, "reason": "host-qmp-quit"}
    assert q._recv() == {"return": {}}
    q.close()
    assert p.wait(20) == 0
    assert not os.path.exists(sock)


@needs_fw
def test_cont_needs_reset_after_guest_shutdown(rrvm, tmp_path):
    """-no-shutdown: a guest poweroff leaves the machine in 'shutdown'."""
    prog = tmp_path / "off.bin"
    # li t0,0x100000; li t1,0x5555; sw t1,0(t0); 1: j 1b  (sifive_test pass)
    prog.write_bytes(bytes.fromhex("b7021000" "37530000" "1b035355"
                                   "23a06200" "6f000000"))
    p, q = start(rrvm, ["-bios", str(prog), "-nodefaults", "-no-shutdown",
                        "-S"], str(tmp_path / "qmp"))
    q.cmd("cont")
    q.wait_event("SHUTDOWN")
    q.wait_event("STOP")
    assert q.cmd("query-status")["return"]["status"] == "shutdown"
    r = q.cmd("cont")
    assert r["error"]["desc"] == "Resetting the Virtual Machine is required"
    q.cmd("system_reset")
    assert q.cmd("query-status")["return"]["status"] == "prelaunch"
    finish(p, q)


def hmp_session(binary, extra, cmds, tmp_path, name):
    p, q = start(binary, ["-bios", FW, "-nodefaults", "-display", "none",
                          "-S", "-name", "rrtest", "-uuid",
                          "12345678-1234-5678-1234-567812345678", *extra],
                 str(tmp_path / name))
    out = [q.hmp(c) for c in cmds]
    qmp = [q.cmd(c)["return"] for c in ("query-status", "query-name",
                                        "query-uuid", "query-kvm",
                                        "query-target")]
    finish(p, q)
    return out, qmp


@needs_fw
@needs_qemu
def test_commands_match_qemu(rrvm, tmp_path):
    cmds = ["info status", "info name", "info uuid", "info kvm",
            "xp /8x 0x1000", "x /6i 0x1000", "xp /8c 0x1000",
            "xp /2g 0x80000000", "xp /3d 0x1000", "xp /3o 0x1000",
            "xp /3u 0x1000", "xp /4bx 0x1000", "xp /3hd 0x1000",
            "x /2x 0x1000", "xp /20xb 0x80000000"]
    a = hmp_session(rrvm, [], cmds, tmp_path, "r")
    b = hmp_session(QEMU, ["-cpu", QEMU_CPU, "-nic", "none"], cmds, tmp_path,
                    "q")
    assert a == b


@needs_fw
@needs_qemu
def test_info_registers_matches_qemu_but_mip(rrvm, tmp_path):
    """QEMU 7.2 resets mtimecmp to 0 (MTIP pending before the first
    instruction); rrvm's CLINT resets it to all-ones. Everything else of
    `info registers` is byte-identical."""
    a = hmp_session(rrvm, [], ["info registers"], tmp_path, "r")[0][0]
    b = hmp_session(QEMU, ["-cpu", QEMU_CPU, "-nic", "none"],
                    ["info registers"], tmp_path, "q")[0][0]
    assert a.startswith("\r\nCPU#0\r\n pc       0000000000001000\r\n")
    mip = re.compile(r" mip      [0-9a-f]{16}")
    assert mip.sub("", a) == mip.sub("", b)


def statehash_at(rrvm, tmp_path, stops, inspect):
    """Stop at each icount of @stops in turn (inspecting at all but the
    last when @inspect); return the state hash at the last."""
    p, q = start(rrvm, ["-bios", FW, "-nodefaults", "-S", "-serial", "null",
                        "-icount", "shift=3,sleep=off"], str(tmp_path / "d"))
    for n in stops:
        q.cmd("__org.rrvm_stop-at", icount=n)
        q.cmd("cont")
        q.wait_event("STOP")
        if inspect and n != stops[-1]:
            q.hmp("info registers")
            q.hmp("x /16i 0x80000000")
            q.hmp("xp /64xg 0x80000000")
            q.hmp("info chardev")
            q.cmd("query-status")
            q.cmd("__org.rrvm_query-statehash")
    h = q.cmd("__org.rrvm_query-statehash")["return"]
    finish(p, q)
    return h


@needs_fw
def test_inspection_keeps_the_state_hash(rrvm, tmp_path):
    end = 3_000_000
    plain = statehash_at(rrvm, tmp_path, [end], False)
    looked = statehash_at(rrvm, tmp_path, [7, 250_001, 1_999_999, end], True)
    assert plain["icount"] == end
    assert plain == looked


@needs_fw
def test_legacy_monitor_tcp_and_warnings(rrvm, tmp_path):
    port = free_port()
    prog = tmp_path / "spam.bin"
    prog.write_bytes(SPAM)
    sock = str(tmp_path / "c")
    p = popen(
        [rrvm, "-M", "virt", "-bios", str(prog), "-nodefaults", "-S",
         "-monitor", f"tcp:127.0.0.1:{port},server,nowait",
         "-chardev", f"socket,id=q0,path={sock},server,nowait",
         "-mon", "chardev=q0,mode=control,pretty=on"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    q = Qmp(sock)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    banner = b""
    while not banner.endswith(b"(qemu) "):
        banner += s.recv(4096)
    assert banner == (b"QEMU 7.2.0 monitor - type 'help' for more "
                      b"information\r\n(qemu) ")
    s.close()
    # Pretty QMP: the greeting spans lines.
    assert q.greeting["QMP"]["capabilities"] == []
    q.close()
    p.terminate()
    _, err = p.communicate(timeout=20)
    err = err.decode()
    assert err.count("short-form boolean option") == 2, err
    assert (f"rrvm: -chardev socket,id=q0,path={sock},server,nowait: "
            "warning: short-form boolean option 'server' deprecated\n"
            "Please use server=on instead\n") in err
    assert "Please use wait=off instead\n" in err


@needs_fw
def test_stalled_serial_client_never_stops_the_guest(rrvm, tmp_path):
    prog = tmp_path / "spam.bin"
    prog.write_bytes(SPAM)
    ser = str(tmp_path / "ser")
    p, q = start(rrvm, ["-bios", str(prog), "-nodefaults", "-serial",
                        f"unix:{ser},server=on,wait=off",
                        "-icount", "shift=3,sleep=off"],
                 str(tmp_path / "qmp"))
    stalled = socket.socket(socket.AF_UNIX)
    stalled.connect(ser)
    time.sleep(1.0)
    ic = []
    for _ in range(3):
        t0 = time.time()
        ic.append(q.cmd("__org.rrvm_query-statehash")["return"]["icount"])
        assert time.time() - t0 < 1.0
        time.sleep(0.3)
    assert ic[0] < ic[1] < ic[2]
    st = q.cmd("query-status")["return"]
    assert st["running"]
    # The stalled client still gets what was buffered once it reads.
    stalled.settimeout(5)
    assert stalled.recv(100).startswith(b"AAAA")
    stalled.close()
    finish(p, q)


@needs_fw
def test_pty_serial_and_query_chardev(rrvm, tmp_path):
    prog = tmp_path / "spam.bin"
    prog.write_bytes(SPAM)
    p, q = start(rrvm, ["-bios", str(prog), "-nodefaults", "-serial", "pty",
                        "-S"], str(tmp_path / "qmp"))
    chardevs = q.cmd("query-chardev")["return"]
    pty = [c for c in chardevs if c["label"] == "serial0"][0]
    assert pty["filename"].startswith("pty:/dev/pts/")
    path = pty["filename"][4:]
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    q.cmd("cont")
    data = b""
    end = time.time() + 10
    while len(data) < 64 and time.time() < end:
        data += os.read(fd, 64)
    os.close(fd)
    assert data.startswith(b"AAAA")
    finish(p, q)
    err = p.stderr.read().decode()
    assert f"char device redirected to {path} (label serial0)\n" in err


@needs_fw
@needs_qemu
def test_telnet_negotiation_matches_qemu(rrvm, tmp_path):
    got = []
    for binary, extra in ((rrvm, []), (QEMU, ["-display", "none"])):
        port = free_port()
        p = popen(
            [binary, "-M", "virt", "-bios", FW, "-nodefaults", "-S", *extra,
             "-serial", f"telnet:127.0.0.1:{port},server,nowait"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        end = time.time() + 10
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.time() < end
                time.sleep(0.05)
        data = b""
        while len(data) < 12:
            data += s.recv(64)
        got.append(data)
        s.close()
        p.terminate()
        p.wait(20)
    assert got[0] == got[1] == bytes.fromhex("fffb01fffb03fffb00fffd00")


@needs_fw
def test_unix_socket_never_replaces_a_file(rrvm, tmp_path):
    path = tmp_path / "precious"
    path.write_text("keep me")
    p = subprocess.run([rrvm, "-M", "virt", "-bios", FW, "-nodefaults",
                        "-qmp", f"unix:{path},server=on,wait=off"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1
    assert "not a socket" in p.stderr
    assert path.read_text() == "keep me"


@needs_fw
def test_argv_is_left_as_typed(rrvm, tmp_path):
    disk = tmp_path / "d.raw"
    disk.write_bytes(bytes(1 << 20))
    args = [rrvm, "-M", "virt", "-bios", FW, "-nodefaults", "-S",
            "-drive", f"file={disk},format=raw,if=none,id=d0",
            "-device", "virtio-blk-device,drive=d0",
            "-qmp", f"unix:{tmp_path / 'q'},server=on,wait=off"]
    p = popen(args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    q = Qmp(str(tmp_path / "q"))
    with open(f"/proc/{p.pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:-1] == [a.encode() for a in args]
    q.cmd("qmp_capabilities")
    finish(p, q)


import pexpect  # noqa: E402 (python3-pexpect, scripts/packages.txt)


@needs_fw
def test_nographic_mux_switches_to_the_monitor(rrvm, tmp_path):
    prog = tmp_path / "spam.bin"
    prog.write_bytes(SPAM)
    c = pexpect.spawn(rrvm, ["-M", "virt", "-bios", FW, "-nographic", "-S"],
                      timeout=20)
    c.send("\x01h")
    c.expect_exact("C-a c    switch between console and monitor\r\n")
    c.send("\x01c")
    c.expect_exact("QEMU 7.2.0 monitor - type 'help' for more information")
    c.expect_exact("(qemu) ")
    c.sendline("info status")
    c.expect_exact("VM status: paused (prelaunch)")
    c.sendline("cont")
    c.expect_exact("(qemu) ")
    c.sendline("info status")
    c.expect_exact("VM status: running")
    c.send("\x01c")
    c.send("\x01c")
    c.expect_exact("(qemu) ")
    c.send("\x01x")
    c.expect_exact("QEMU: Terminated")
    c.expect(pexpect.EOF)
    c.close()
    assert c.exitstatus == 0


@needs_fw
def test_serial_mon_stdio(rrvm, tmp_path):
    c = pexpect.spawn(rrvm, ["-M", "virt", "-bios", FW, "-nodefaults",
                             "-serial", "mon:stdio", "-S"], timeout=20)
    c.send("\x01c")
    c.expect_exact("(qemu) ")
    c.sendline("info chardev")
    c.expect_exact("serial0: filename=mux\r")
    c.expect_exact("serial0-base: filename=stdio\r")
    c.sendline("quit")
    c.expect(pexpect.EOF)
    c.close()
    assert c.exitstatus == 0


@needs_fw
def test_daemonize(rrvm, tmp_path):
    sock = str(tmp_path / "qmp")
    pidfile = tmp_path / "pid"
    p = subprocess.run([rrvm, "-M", "virt", "-bios", FW, "-nodefaults",
                        "-daemonize", "-pidfile", str(pidfile), "-qmp",
                        f"unix:{sock},server=on,wait=off"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    pid = int(pidfile.read_text())
    q = Qmp(sock)
    q.cmd("qmp_capabilities")
    assert q.cmd("query-status")["return"]["running"]
    q.send("quit")
    try:
        while "return" not in q._recv():
            pass
    except EOFError:
        pass
    q.close()
    end = time.time() + 20
    while os.path.exists(f"/proc/{pid}") and time.time() < end:
        time.sleep(0.05)
    assert not pidfile.exists()


@needs_fw
def test_socket_client_reconnects(rrvm, tmp_path):
    """reconnect=1: the client keeps trying until a server listens."""
    prog = tmp_path / "spam.bin"
    prog.write_bytes(SPAM)
    port = free_port()
    p, q = start(rrvm, ["-bios", str(prog), "-nodefaults", "-chardev",
                        f"socket,id=c0,host=127.0.0.1,port={port},"
                        "reconnect=1", "-serial", "chardev:c0"],
                 str(tmp_path / "qmp"))
    chardevs = {c["label"]: c for c in q.cmd("query-chardev")["return"]}
    assert chardevs["c0"]["filename"] == f"disconnected:tcp:127.0.0.1:{port}"
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    srv.settimeout(10)
    conn, _ = srv.accept()
    conn.settimeout(10)
    assert conn.recv(16).startswith(b"AAAA")
    chardevs = {c["label"]: c for c in q.cmd("query-chardev")["return"]}
    assert chardevs["c0"]["filename"].startswith(f"tcp:127.0.0.1:")
    conn.close()
    srv.close()
    finish(p, q)
