#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""scripts/demo-session.py - the typed session of `scripts/demo.sh --check`:
boot Linux in rrvm on a pseudo-terminal, use the shell, switch to the
monitor with Ctrl-a c as a QEMU user would (info status, info registers,
stop, the state hash twice while stopped, cont), ask the QMP socket the
same through rrvm-qmp-shell, then write a file, savevm, change it, info
snapshots, loadvm and find the file back, and power off. The console goes to stdout
(without carriage returns); the exit status says whether every step gave
what it should.

Usage: demo-session.py QMP-SOCKET QMP-SHELL TIMEOUT -- RRVM-COMMAND...
"""
import re
import subprocess
import sys

import pexpect

PROMPT = "~ # "
MON = "(qemu) "


class Console:
    def __init__(self, argv, timeout):
        self.out = []
        self.p = pexpect.spawn(argv[0], argv[1:], encoding="utf-8",
                               codec_errors="replace", timeout=timeout,
                               dimensions=(50, 200))
        self.p.logfile_read = self

    # pexpect's logfile interface: echo the console, minus CRs.
    def write(self, s):
        s = s.replace("\r", "")
        self.out.append(s)
        sys.stdout.write(s)

    def flush(self):
        sys.stdout.flush()

    def expect(self, pat):
        try:
            self.p.expect_exact(pat)
        except (pexpect.EOF, pexpect.TIMEOUT) as e:
            sys.exit(f"\ndemo: waiting for {pat!r}: {type(e).__name__}")
        return self.p.before.replace("\r", "")

    def shell(self, line):
        self.p.send(line + "\r")
        return self.expect(PROMPT)

    def monitor(self, line):
        self.p.send(line + "\r")
        return self.expect(MON)


def main():
    sock, shell, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    argv = sys.argv[sys.argv.index("--") + 1:]
    c = Console(argv, timeout)
    c.expect(PROMPT)
    c.shell("uname -a")
    c.shell("echo 'written before the monitor looked' > /root/note.txt "
            "&& sync && cat /root/note.txt")

    print("\n== Ctrl-a c: the monitor, on the same terminal", flush=True)
    c.p.send("\x01c")
    c.expect(MON)
    if "running" not in c.monitor("info status"):
        sys.exit("demo: the guest is not running")
    c.monitor("info registers")
    c.monitor("stop")
    if "paused" not in c.monitor("info status"):
        sys.exit("demo: stop did not pause the guest")
    h1 = c.monitor("info statehash")
    h2 = c.monitor("info statehash")
    hashes = [re.findall(r"[0-9a-f]{64}", h) for h in (h1, h2)]
    if not hashes[0] or hashes[0] != hashes[1]:
        sys.exit("demo: the state hash of a paused guest moved")

    print("\n== the QMP socket, through rrvm-qmp-shell", flush=True)
    q = subprocess.run([sys.executable, shell, sock], text=True,
                       input="query-status\n__org.rrvm_query-statehash\n",
                       capture_output=True, timeout=60)
    print(q.stdout, end="", flush=True)
    if '"status": "paused"' not in q.stdout or hashes[0][0] not in q.stdout:
        sys.exit(f"demo: QMP disagrees with HMP\n{q.stderr}")

    c.monitor("cont")
    c.p.send("\x01c")
    print("\n== Ctrl-a c: back to the guest", flush=True)
    c.shell("")
    c.shell("cat /root/note.txt")

    print("\n== snapshots: savevm, change the file, loadvm, the file is back",
          flush=True)
    c.shell("echo 'as saved' > /root/snap.txt && sync && cat /root/snap.txt")
    c.p.send("\x01c")
    c.expect(MON)
    c.monitor("savevm demo")
    c.p.send("\x01c")
    c.shell("")
    if "changed" not in c.shell("echo 'changed after savevm' > /root/snap.txt "
                                "&& cat /root/snap.txt"):
        sys.exit("demo: the file was not changed")
    c.p.send("\x01c")
    c.expect(MON)
    if " demo " not in c.monitor("info snapshots"):
        sys.exit("demo: info snapshots does not list 'demo'")
    out = c.monitor("loadvm demo")
    if "Error" in out:
        sys.exit(f"demo: loadvm failed: {out}")
    c.p.send("\x01c")
    c.shell("")
    if "as saved" not in c.shell("cat /root/snap.txt"):
        sys.exit("demo: the file is not back after loadvm")
    c.p.send("poweroff\r")
    c.expect(pexpect.EOF)
    c.p.close()
    if c.p.exitstatus != 0:
        sys.exit(f"demo: rrvm exited with status {c.p.exitstatus}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
