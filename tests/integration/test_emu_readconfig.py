"""-readconfig FILE as QEMU 7.2 reads it: the grammar (sscanf's rules,
comments, empty lines), its error messages with FILE:LINE, the sections
rrvm has ([chardev], [mon], [drive], [device], [machine], [object],
[icount], [rtc]) through their command-line options, and QEMU's refusal of
any other section. Each malformed file is given to qemu-system-riscv64
7.2 too and the messages compared, the program name filtered."""
import json
import socket
import subprocess
import time

import pytest

from conftest import BUILD, have, run

QEMU = "qemu-system-riscv64"
ARGS = ["-M", "virt", "-nodefaults", "-display", "none", "-S"]
TIMEOUT = 10


@pytest.fixture
def rrvm():
    p = BUILD / "emulator" / "rrvm"
    if not p.exists():
        pytest.fail(f"{p} was not built")
    return str(p)


def errors(prog, cfg, cwd):
    """Exit status and stderr of a start that fails, the name filtered."""
    p = run([prog] + ARGS + ["-readconfig", cfg], check=False, cwd=cwd,
            stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    name = "rrvm" if prog != QEMU else QEMU
    return p.returncode, p.stderr.replace(name, "PROG")


# (name, file contents): QEMU 7.2 and rrvm print the same message.
SAME = [
    ("unknown-section", '[foo]\n'),
    ("unknown-section-after-keys",
     '[chardev "a"]\n  backend = "null"\n[foo]\n'),
    ("unclosed-header", '[chardev\n'),
    ("unknown-key", '[chardev "a"]\n  backend = "null"\n  bogus = "x"\n'),
    ("unknown-key-first", '[chardev "a"]\n  bogus = "x"\n  backend = "null"\n'
     '\n[chardev "b"]\n  backend = "null"\n'),
    ("bare-word", '[chardev "a"]\n  backend = "null"\n  xx\n'),
    ("no-spaces", '[chardev "a"]\nbackend="null"\n'),
    ("unquoted", '[chardev "a"]\n backend = socket\n'),
    ("no-backend", '[chardev "a"]\n'),
    ("no-id", '[chardev]\n  backend = "null"\n'),
    ("bad-id", '[chardev "1a"]\n  backend = "null"\n'),
    ("duplicate-id", '[chardev "a"]\n  backend = "null"\n'
     '[chardev "a"]\n  backend = "null"\n'),
    ("key-before-group", '  backend = "null"\n'),
    ("indented-header", ' [chardev "a"]\n'),
    ("indented-comment", '\t# a comment\n'),
    ("blank-line", '[chardev "a"]\n  \n'),
    ("mon-no-chardev", '[mon "m"]\n  mode = "control"\n  chardev = "nope"\n'),
    ("mon-bad-key", '[mon]\n mode = "control"\n chardev="x"\n'),
    ("comments", '# c\n\n[chardev "a"] # c\n  backend = "null"\n'
     '[mon "m"]\n  chardev = "b"\n'),
]


@pytest.mark.parametrize("name,text", SAME, ids=[c[0] for c in SAME])
def test_malformed_as_qemu(rrvm, tmp_path, name, text):
    if not have(QEMU):
        pytest.fail(f"{QEMU} is not installed (scripts/packages.txt)")
    (tmp_path / "x.cfg").write_text(text)
    q = errors(QEMU, "x.cfg", tmp_path)
    r = errors(rrvm, "x.cfg", tmp_path)
    assert q[0] == 1, q
    assert r == q


def test_missing_file_as_qemu(rrvm, tmp_path):
    q = errors(QEMU, "nosuch.cfg", tmp_path)
    r = errors(rrvm, "nosuch.cfg", tmp_path)
    assert r == q == (1, "PROG: -readconfig nosuch.cfg: Could not open "
                      "'nosuch.cfg': No such file or directory\n")


# rrvm's own messages, at QEMU's location (QEMU's text differs or QEMU
# accepts a section rrvm has no option for).
OWN = [
    ("memory", '[memory]\n  size = "256"\n',
     "rrvm:x.cfg:2: There is no option group 'memory'\n"),
    ("netdev", '[netdev "n"]\n  type = "user"\n',
     "rrvm:x.cfg:2: There is no option group 'netdev'\n"),
    ("drive-key", '[drive "hd0"]\n  file = "d.qcow2"\n  if = "none"\n'
     '  bogus = "1"\n', "rrvm:x.cfg:4: property 'bogus' is not supported\n"),
    ("drive-format", '[drive "hd0"]\n  file = "d.qcow2"\n  format = "raw0"\n',
     "rrvm:x.cfg:3: format=raw0 is not supported\n"),
    ("device-drive", '[device]\n  driver = "virtio-blk-device"\n'
     '  drive = "nosuch"\n', "rrvm:x.cfg:3: drive 'nosuch' not found\n"),
]


@pytest.mark.parametrize("name,text,msg", OWN, ids=[c[0] for c in OWN])
def test_refused(rrvm, tmp_path, name, text, msg):
    (tmp_path / "x.cfg").write_text(text)
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / "d.qcow2"),
         "1M"])
    rc, err = errors(rrvm, "x.cfg", tmp_path)
    assert (rc, err.replace("PROG", "rrvm")) == (1, msg)


FULL = """\
# every section rrvm reads
[drive "hd0"]
  file = "{disk}"
  if = "none"
  format = "qcow2"

[device "vd0"]
  driver = "virtio-blk-device"
  drive = "hd0"

[machine]
  type = "virt"

[icount]
  shift = "0"

[rtc]
  base = "utc"

[chardev "qmp"]
  backend = "socket"
  path = "{sock}"
  server = "on"
  wait = "off"

[mon "qmp"]
  mode = "control"
  chardev = "qmp"
"""


def qmp(path, cmds):
    # The file appears at bind(), before listen(): retry a refusal.
    deadline = time.monotonic() + TIMEOUT
    while True:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(TIMEOUT)
        try:
            s.connect(path)
            break
        except ConnectionRefusedError:
            s.close()
            assert time.monotonic() < deadline
            time.sleep(0.02)
    f = s.makefile("rw")
    out = [json.loads(f.readline())]
    for c in cmds:
        f.write(json.dumps({"execute": c}) + "\n")
        f.flush()
        out.append(json.loads(f.readline()))
    s.close()
    return out


@pytest.mark.parametrize("target", ["qemu", "rrvm"])
def test_every_section(rrvm, tmp_path, target):
    """A file with every section rrvm reads starts both emulators the same
    way: silent, paused, with the QMP monitor of the [mon] section."""
    disk, sock = tmp_path / "d.qcow2", tmp_path / "qmp.sock"
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1M"])
    (tmp_path / "x.cfg").write_text(FULL.format(disk=disk, sock=sock))
    prog = QEMU if target == "qemu" else rrvm
    p = subprocess.Popen([prog] + ARGS + ["-readconfig", "x.cfg"],
                         cwd=tmp_path, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not sock.exists():
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        r = qmp(str(sock), ["qmp_capabilities", "query-status", "quit"])
        assert r[2] == {"return": {"status": "prelaunch",
                                   "singlestep": False, "running": False}}
        out, err = p.communicate(timeout=TIMEOUT)
        assert (p.returncode, out, err) == (0, "", "")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
