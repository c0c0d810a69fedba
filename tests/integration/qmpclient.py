"""A small QMP client for the integration tests: one unix or tcp socket,
compact or pretty replies (CRLF-terminated), events kept aside."""
import json
import socket
import time


class Qmp:
    """A QMP client on a unix or tcp socket; events are kept aside."""

    def __init__(self, addr, timeout=10):
        fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        deadline = time.time() + timeout
        while True:
            try:
                self.sock = socket.socket(fam, socket.SOCK_STREAM)
                self.sock.connect(addr)
                break
            except OSError:
                self.sock.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.f = self.sock.makefile("rwb")
        self.events = []
        self.greeting = self._recv()

    def _recv(self):
        text = b""
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("monitor closed")
            assert line.endswith(b"\r\n"), line
            text += line
            # Pretty mode: a message ends with a "}" line.
            if not text.startswith(b"{\r\n") or line == b"}\r\n":
                return json.loads(text)

    def send(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg).encode() + b"\n")
        self.f.flush()

    def cmd(self, cmd, **args):
        self.send(cmd, **args)
        while True:
            r = self._recv()
            if "event" in r:
                self.events.append(r)
                continue
            return r

    def hmp(self, line):
        r = self.cmd("human-monitor-command", **{"command-line": line})
        assert "return" in r, r
        return r["return"]

    def wait_event(self, name, timeout=30):
        end = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name:
                    return self.events.pop(i)
            self.sock.settimeout(max(0.1, end - time.time()))
            r = self._recv()
            assert "event" in r, r
            self.events.append(r)

    def close(self):
        self.f.close()
        self.sock.close()
