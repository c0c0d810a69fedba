"""Emulator processes for the integration tests: rrvm or QEMU started with a
QMP socket, quit through it, and killed after the test if still running.
Every process started here is in PROCS until reap() has seen it end."""
import os
import socket
import subprocess

import pexpect

from qmpclient import Qmp

PROCS = []


def popen(*args, **kw):
    """subprocess.Popen, remembered for reap()."""
    p = subprocess.Popen(*args, **kw)
    PROCS.append(p)
    return p


def reap(procs=PROCS):
    """Kill and wait for what a test left running in @procs (emptied)."""
    while procs:
        p = procs.pop()
        if p.poll() is None:
            p.kill()
            p.wait(10)


def start(binary, args, sock, qmp_timeout=60, **kw):
    """Start `binary -M virt args` with a QMP server on unix socket @sock;
    return the process (stdio piped unless @kw says otherwise) and a Qmp
    client past capabilities negotiation."""
    if os.path.exists(sock):
        os.unlink(sock)
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    p = popen([binary, "-M", "virt", *args, "-qmp",
               f"unix:{sock},server=on,wait=off"], **kw)
    q = Qmp(sock, timeout=qmp_timeout)
    q.cmd("qmp_capabilities")
    return p, q


def console(binary, args, sock, timeout):
    """Spawn `binary -M virt args` under pexpect (latin1, @timeout) with a
    QMP server on unix socket @sock; return it and a Qmp client past
    capabilities negotiation. pexpect closes it with the test."""
    g = pexpect.spawn(binary, ["-M", "virt", *args, "-qmp",
                               f"unix:{sock},server=on,wait=off"],
                      timeout=timeout, encoding="latin1")
    q = Qmp(sock, timeout=60)
    q.cmd("qmp_capabilities")
    return g, q


def typed(g, line):
    """Type @line at U-Boot's prompt; return its output up to the next."""
    g.sendline(line)
    g.expect_exact("\n=> ")
    return g.before.replace("\r", "")


def finish(p, q, timeout=30):
    """quit through @q, then wait for @p to exit."""
    q.send("quit")
    try:
        while "return" not in q._recv():
            pass
    except (EOFError, OSError):
        pass
    q.close()
    p.wait(timeout)


def run_to(q, icount):
    """Run the stopped machine until it has retired @icount instructions."""
    assert "error" not in q.cmd("__org.rrvm_stop-at", icount=icount)
    q.cmd("cont")
    q.wait_event("STOP")


def statehash(q):
    return q.cmd("__org.rrvm_query-statehash")["return"]


def status(q):
    return q.cmd("query-status")["return"]["status"]


def free_port():
    """A tcp port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
