"""Durability where the operating system sees it.

Each test runs one real rrvm-img command (or rrvm with a guest writing
through virtio-blk) with tests/durability/iotrace.c preloaded. The shim logs
every successful write, truncation, fallocate (hole punches and zeroing
included) and sync of the image files at the C library boundary. The log is
then replayed onto copies of the files as they were before the run, cut at
random points (half of them right before or after a real sync call):

- a change is durable when an fsync/fdatasync of its file that began after
  the change completed has returned before the cut;
- each later change before the cut is kept, dropped or torn at random (a
  write keeps a prefix or a random subset of its 512-byte sectors, a punch or
  zeroing a prefix of its 4 KiB blocks), in any combination, which also
  models the reordering of unsynced writes;
- changes after the cut are lost.

Every crash image must pass `qemu-img check` (exit 0, or 3 for leaked
clusters only) and read back what the command guaranteed (stated per test
below); once the last change is durable it must read back as the finished
command's result. Two checks run on the whole trace: replaying every change
rebuilds the real files byte for byte (so the shim saw every write), and
the command made everything durable before it exited successfully.

A new file (convert's target) promises nothing until its creation has been
synced. The directory entry itself is taken as durable with the file.
"""
import json
import os
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, TOP, have, run

SHIM = BUILD / "tests" / "durability" / "librrvm-iotrace.so"
GUEST_SRC = TOP / "tests" / "durability" / "blkguest.c"
SECTOR = 512
BLOCK = 4096
MiB = 1 << 20
O_CREAT = 0o100
O_TRUNC = 0o1000
FALLOC_KEEP_SIZE = 0x01
FALLOC_PUNCH_HOLE = 0x02
FALLOC_ZERO_RANGE = 0x10
# Crash points per command: enough to hit each window between syncs of these
# small images several times, few enough for 2 cores under ASan.
CUTS = 36


@pytest.fixture(scope="module")
def shim():
    if not SHIM.exists():
        pytest.fail(f"{SHIM} was not built (tests/durability/meson.build)")
    return str(SHIM)


@pytest.fixture
def img_bin():
    p = BUILD / "imgtool" / "rrvm-img"
    if not p.exists():
        pytest.fail(f"{p} was not built")
    return str(p)


# ---- the log and its replay ----

class Rec:
    __slots__ = ("kind", "file", "a", "b", "c", "data")

    def __init__(self, kind, file, a, b, c, data):
        self.kind, self.file, self.a, self.b, self.c, self.data = \
            kind, file, a, b, c, data

    def __repr__(self):
        return (f"{self.kind} file {self.file} a {self.a:#x} b {self.b:#x} "
                f"c {self.c:#x} len {len(self.data)}")


def parse_log(path):
    d = Path(path).read_bytes() if Path(path).exists() else b""
    recs, p = [], 0
    while p < len(d):
        kind, f, a, b, c, n = struct.unpack_from("<B3xIQQQI4x", d, p)
        p += 40
        recs.append(Rec(chr(kind), f, a, b, c, d[p:p + n]))
        p += n
    return recs


class Trace:
    """One traced run: the files' contents before it (None: absent), the
    log, and the files' real contents after it."""

    def __init__(self, names, pre, recs, post):
        self.names, self.pre, self.recs, self.post = names, pre, recs, post
        bad = [r for r in recs if r.kind == "E"]
        assert not bad, f"unsupported writes to traced files: {bad}"
        # durable[k][f]: changes of f with index < this are durable once the
        # first k records have completed.
        self.durable = []
        cur = [0] * len(names)
        for r in recs:
            self.durable.append(list(cur))
            if r.kind == "S":
                cur[r.file] = max(cur[r.file], r.b)
        self.durable.append(list(cur))
        self.changes = [i for i, r in enumerate(recs) if r.kind in "WTA" or
                        (r.kind == "O" and r.a & (O_CREAT | O_TRUNC))]

    def sync_points(self):
        return [i for i, r in enumerate(self.recs) if r.kind == "S"]

    def unsynced_at_end(self):
        d = self.durable[len(self.recs)]
        return [self.recs[i] for i in self.changes
                if i >= d[self.recs[i].file]]

    def complete(self, k):
        d = self.durable[k]
        return all(i < d[self.recs[i].file] for i in self.changes)

    def created(self, k, f):
        """Whether file @f exists durably at cut @k."""
        if self.pre[f] is not None:
            return True
        d = self.durable[k][f]
        return any(self.recs[i].kind == "O" and self.recs[i].file == f and
                   self.recs[i].a & O_CREAT for i in range(min(d, k)))

    def replay(self, k, rng, mode="random"):
        """File contents after a crash at cut @k. @mode: 'random', 'keep'
        (every change lands) or 'drop' (only durable changes land)."""
        d = self.durable[k]
        st = [None if p is None else bytearray(p) for p in self.pre]
        for i in range(k):
            r = self.recs[i]
            if r.kind not in "OWTA":
                if r.kind in "UR":
                    raise AssertionError(f"rename/unlink of traced file: {r}")
                continue
            f = r.file
            if i < d[f] or mode == "keep":
                how = "keep"
            elif mode == "drop":
                how = "drop"
            else:
                how = rng.choice(("keep", "drop", "tear"))
            if r.kind == "O":
                if st[f] is None and r.a & O_CREAT:
                    st[f] = bytearray()
                if r.a & O_TRUNC and how != "drop":
                    del st[f][:]
                continue
            if how == "drop":
                continue
            buf = st[f]
            if buf is None:
                raise AssertionError(f"change to absent file: {r}")
            if r.kind == "W":
                apply_write(buf, r.a, r.data, how == "tear", rng)
            elif r.kind == "T":
                resize(buf, r.a)
            elif r.kind == "A":
                apply_fallocate(buf, r, how == "tear", rng)
        return st


def resize(buf, n):
    if n < len(buf):
        del buf[n:]
    else:
        buf.extend(bytes(n - len(buf)))


def apply_write(buf, off, data, tear, rng):
    end = off + len(data)
    if not tear:
        if end > len(buf):
            resize(buf, end)
        buf[off:end] = data
        return
    # Sectors of the write, on absolute 512-byte boundaries.
    cuts = sorted({off, end} | set(range((off // SECTOR + 1) * SECTOR, end,
                                         SECTOR)))
    pieces = list(zip(cuts, cuts[1:]))
    if rng.random() < 0.5:
        keep = pieces[:rng.randrange(len(pieces) + 1)]
    else:
        keep = [p for p in pieces if rng.random() < 0.5]
    for a, b in keep:
        if b > len(buf):
            resize(buf, b)
        buf[a:b] = data[a - off:b - off]


def apply_fallocate(buf, r, tear, rng):
    mode, off, length = r.a, r.b, r.c
    end = off + length
    if mode & ~(FALLOC_KEEP_SIZE | FALLOC_PUNCH_HOLE | FALLOC_ZERO_RANGE):
        raise AssertionError(f"fallocate mode {mode:#x} not modelled")
    if not mode & FALLOC_KEEP_SIZE and end > len(buf):
        resize(buf, end)
    if mode & (FALLOC_PUNCH_HOLE | FALLOC_ZERO_RANGE):
        if tear:
            end = min(end, off + BLOCK * rng.randrange(length // BLOCK + 1))
        end = min(end, len(buf))
        if end > off:
            buf[off:end] = bytes(end - off)


def traced_run(shim, cmd, work, traced, **kw):
    """Run @cmd in @work with the shim logging changes to @traced (names in
    @work) and return its Trace."""
    paths = [os.path.realpath(work / n) for n in traced]
    pre = [Path(p).read_bytes() if os.path.exists(p) else None for p in paths]
    log = work / "iotrace.log"
    if log.exists():
        log.unlink()
    env = dict(os.environ, RRVM_IOTRACE_FILES=":".join(paths),
               RRVM_IOTRACE_LOG=str(log))
    env["LD_PRELOAD"] = " ".join(
        x for x in (env.get("LD_PRELOAD"), shim) if x)
    p = run(cmd, cwd=work, env=env, check=False, **kw)
    assert p.returncode == 0, \
        f"{cmd} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    post = [Path(p).read_bytes() if os.path.exists(p) else None
            for p in paths]
    tr = Trace(list(traced), pre, parse_log(log), post)
    log.unlink()
    return tr, p


def write_state(dst, work, names, st):
    """Lay out a crash directory: traced files from @st, the other files of
    @work (backing files) as symlinks to the originals."""
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir()
    for e in work.iterdir():
        if e.name not in names and e.is_file():
            (dst / e.name).symlink_to(e)
    for n, data in zip(names, st):
        if data is not None:
            (dst / n).write_bytes(bytes(data))


def crash_cuts(tr, rng, n=CUTS):
    """Cut points: the end, right before and after sync calls, and uniform
    ones, @n in all."""
    end = len(tr.recs)
    syncs = tr.sync_points()
    cuts = [end]
    for _ in range(n // 2):
        if syncs:
            s = rng.choice(syncs)
            cuts.append(s + rng.randrange(2))
    while len(cuts) < n:
        cuts.append(rng.randrange(end + 1))
    return cuts


def check_trace(tr, what):
    """The two whole-trace checks: the replay is faithful, and the command
    left nothing unsynced behind."""
    full = tr.replay(len(tr.recs), None, mode="keep")
    for n, got, want in zip(tr.names, full, tr.post):
        assert (None if got is None else bytes(got)) == want, \
            f"{what}: replaying the whole trace does not rebuild {n}; " \
            "the shim missed a way of writing it"
    left = tr.unsynced_at_end()
    assert not left, \
        f"{what}: exited 0 but {len(left)} changes were never synced " \
        f"(first: {left[0]}); a crash after exit loses them"


def crash_test(tr, work, judge, what, seed, n=CUTS):
    """Replay @n crash points of @tr and pass each to @judge(dir, k, cut)."""
    check_trace(tr, what)
    rng = random.Random(seed)
    crash = work.parent / (work.name + "-crash")
    for c, k in enumerate(crash_cuts(tr, rng, n)):
        mode = "drop" if c == 0 else "random"
        st = tr.replay(k, rng, mode)
        write_state(crash, work, tr.names, st)
        ctx = f"{what}: cut {c} at record {k}/{len(tr.recs)} " \
              f"(seed {seed}, complete={tr.complete(k)})"
        judge(crash, k, ctx)
    shutil.rmtree(crash)


# ---- qemu-img as the judge ----

def qcheck(path, ctx):
    p = run(["qemu-img", "check", "-U", str(path)], check=False)
    assert p.returncode in (0, 3), \
        f"{ctx}: qemu-img check {path.name} exit {p.returncode} " \
        f"(corruption)\n{p.stdout}{p.stderr}"


def view(path, snap=None, fmt="qcow2", ctx="setup"):
    """The guest-visible bytes of @path (through its backing chain)."""
    out = path.parent / (path.name + ".view")
    cmd = ["qemu-img", "convert", "-U", "-f", fmt, "-O", "raw"]
    if snap:
        cmd += ["-l", f"snapshot.name={snap}"]
    p = run(cmd + [str(path), str(out)], check=False)
    what = path.name + (f" snapshot {snap}" if snap else "")
    assert p.returncode == 0, f"{ctx}: cannot read {what} back\n{p.stderr}"
    data = out.read_bytes()
    out.unlink()
    return data


def info(path, ctx="setup"):
    p = run(["qemu-img", "info", "-U", "--output=json", str(path)],
            check=False)
    assert p.returncode == 0, f"{ctx}: qemu-img info {path.name}\n{p.stderr}"
    return json.loads(p.stdout)


def snap_names(path, ctx):
    return sorted(s["name"] for s in info(path, ctx).get("snapshots", []))


def qemu_io(path, *cmds, fmt="qcow2"):
    args = ["qemu-io", "-f", fmt]
    for c in cmds:
        args += ["-c", c]
    run(args + [str(path)])


def qcreate(path, size, *opts, backing=None):
    cmd = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing:
        cmd += ["-b", backing, "-F", "qcow2"]
    for o in opts:
        cmd += ["-o", o]
    run(cmd + [str(path), str(size)])


def assert_clusters(got, choices, cs, ctx, what):
    """Each @cs-byte unit of @got equals the same unit of one of @choices
    (never a mix within it)."""
    assert len(got) == len(choices[0]), \
        f"{ctx}: {what} is {len(got)} bytes, want {len(choices[0])}"
    for o in range(0, len(got), cs):
        g = got[o:o + cs]
        if not any(g == c[o:o + cs] for c in choices):
            raise AssertionError(
                f"{ctx}: {what} bytes [{o:#x}, +{cs:#x}) are neither all old "
                "nor all new data")


def random_data(rng, size, runs):
    data = bytearray(size)
    for _ in range(runs):
        n = rng.randrange(1, 160) * 1024
        o = rng.randrange(0, size - n) & ~511
        data[o:o + n] = rng.randbytes(n)
    return bytes(data)


@pytest.fixture
def work(tmp_path):
    d = tmp_path / "w"
    d.mkdir()
    return d


def fill_qcow2(path, rng, size, runs, *opts, backing=None):
    qcreate(path, size, *opts, backing=backing)
    cmds = []
    for _ in range(runs):
        n = rng.randrange(1, 96) * 1024
        o = rng.randrange(0, size - n) & ~511
        cmds.append(f"write -P {rng.randrange(1, 255)} {o} {n}")
    qemu_io(path, *cmds)


# ---- rrvm-img ----

@pytest.mark.parametrize("variant", ["raw", "qcow2", "qcow2-c", "4k"])
def test_convert(shim, img_bin, work, variant):
    """convert -t writeback: once the target's creation is synced, every
    crash image is a valid qcow2 whose clusters each hold zeros or the
    source's data; once the last change is synced it reads back as the
    source. (The default -t unsafe, as qemu-img's, promises nothing.)"""
    rng = random.Random(f"convert-{variant}")
    size = 4 * MiB
    opts = ["-o", "cluster_size=4096"] if variant == "4k" else []
    if variant == "raw":
        (work / "src").write_bytes(random_data(rng, size, 8))
        fmt = "raw"
    else:
        fill_qcow2(work / "src", rng, size, 10)
        fmt = "qcow2"
    src = view(work / "src", fmt=fmt)
    cmd = [img_bin, "convert", "-t", "writeback", "-f", fmt, "-O", "qcow2",
           *opts, *(["-c"] if variant == "qcow2-c" else []), "src", "dst"]
    tr, _ = traced_run(shim, cmd, work, ["dst"])
    cs = 4096 if variant == "4k" else 65536

    def judge(crash, k, ctx):
        if not tr.created(k, 0):
            return
        qcheck(crash / "dst", ctx)
        got = view(crash / "dst", ctx=ctx)
        if tr.complete(k):
            assert got == src, f"{ctx}: finished convert lost data"
        else:
            assert_clusters(got, [bytes(size), src], cs, ctx, "target")

    crash_test(tr, work, judge, f"convert {variant}", variant)


def test_commit(shim, img_bin, work):
    """commit top into base: at every crash point the top reads as before
    (its clusters are dropped only after the base holds them durably) and
    each base sector holds old base data or the top's (a cluster already
    allocated in the base is overwritten in place); once finished the base
    reads as the top did."""
    rng = random.Random("commit")
    size = 4 * MiB
    fill_qcow2(work / "base.qcow2", rng, size, 8)
    zeroed = [(0, 256 << 10), (1 * MiB, 512 << 10), (3 * MiB, 128 << 10)]
    qemu_io(work / "base.qcow2",
            *(f"write -P {0x40 + i} {o} {n}"
              for i, (o, n) in enumerate(zeroed)))
    fill_qcow2(work / "top.qcow2", rng, size, 8, backing="base.qcow2")
    # Zero clusters over base data: commit unmaps them in the base, with
    # holes punched in its file.
    qemu_io(work / "top.qcow2", *(f"write -z {o} {n}" for o, n in zeroed))
    old_base = view(work / "base.qcow2")
    top = view(work / "top.qcow2")
    tr, _ = traced_run(shim, [img_bin, "commit", "top.qcow2"], work,
                       ["base.qcow2", "top.qcow2"])
    assert any(r.kind == "A" and r.a & FALLOC_PUNCH_HOLE and r.file == 0
               for r in tr.recs), "commit punched no hole in the base"

    def judge(crash, k, ctx):
        qcheck(crash / "base.qcow2", ctx)
        qcheck(crash / "top.qcow2", ctx)
        assert view(crash / "top.qcow2", ctx=ctx) == top, \
            f"{ctx}: the top no longer reads as before the commit"
        got = view(crash / "base.qcow2", ctx=ctx)
        if tr.complete(k):
            assert got == top, f"{ctx}: finished commit: base != top"
        else:
            assert_clusters(got, [old_base, top], SECTOR, ctx, "base")

    crash_test(tr, work, judge, "commit", "commit")


def test_rebase(shim, img_bin, work):
    """rebase (safe) onto another backing file: at every crash point the
    image reads as before through whichever backing file its header names;
    once finished it names the new one."""
    rng = random.Random("rebase")
    size = 4 * MiB
    fill_qcow2(work / "old.qcow2", rng, size, 8)
    fill_qcow2(work / "new.qcow2", rng, size, 8)
    fill_qcow2(work / "top.qcow2", rng, size, 4, backing="old.qcow2")
    before = view(work / "top.qcow2")
    tr, _ = traced_run(shim, [img_bin, "rebase", "-f", "qcow2", "-b",
                              "new.qcow2", "-F", "qcow2", "top.qcow2"],
                       work, ["top.qcow2"])

    def judge(crash, k, ctx):
        qcheck(crash / "top.qcow2", ctx)
        backing = info(crash / "top.qcow2", ctx).get("backing-filename")
        assert backing in ("old.qcow2", "new.qcow2"), f"{ctx}: {backing}"
        assert view(crash / "top.qcow2", ctx=ctx) == before, \
            f"{ctx}: reads differently through {backing}"
        if tr.complete(k):
            assert backing == "new.qcow2", f"{ctx}: finished, old backing"

    crash_test(tr, work, judge, "rebase", "rebase")


@pytest.mark.parametrize("how", ["grow", "grow-falloc", "shrink"])
def test_resize(shim, img_bin, work, how):
    """resize: the virtual size is the old or the new one; what stays in
    range reads as before, a grown tail reads as zeros, a tail being cut
    holds its old data or zeros per cluster; once finished the size is the
    new one."""
    rng = random.Random(f"resize-{how}")
    size = 4 * MiB
    fill_qcow2(work / "a.qcow2", rng, size, 12)
    before = view(work / "a.qcow2")
    new = 2 * MiB if how == "shrink" else 8 * MiB
    cmd = [img_bin, "resize", *(["--shrink"] if how == "shrink" else []),
           *(["--preallocation=falloc"] if how == "grow-falloc" else []),
           "a.qcow2", str(new)]
    tr, _ = traced_run(shim, cmd, work, ["a.qcow2"])
    if how == "grow-falloc":
        assert any(r.kind == "A" for r in tr.recs), "no fallocate"
    keep = min(size, new)

    def judge(crash, k, ctx):
        qcheck(crash / "a.qcow2", ctx)
        got = view(crash / "a.qcow2", ctx=ctx)
        assert len(got) in (size, new), f"{ctx}: size {len(got)}"
        if tr.complete(k):
            assert len(got) == new, f"{ctx}: finished, size {len(got)}"
        assert got[:keep] == before[:keep], f"{ctx}: data in range changed"
        if len(got) > size:
            assert got[size:] == bytes(len(got) - size), \
                f"{ctx}: grown area not zero"
        elif len(got) > keep:
            assert_clusters(got[keep:], [before[keep:], bytes(size - keep)],
                            65536, ctx, "tail being cut")

    crash_test(tr, work, judge, f"resize {how}", how)


@pytest.mark.parametrize("opt,key,old,new", [
    ("compat=1.1", "compat", "0.10", "1.1"),
    ("refcount_bits=64", "refcount-bits", 16, 64),
])
def test_amend(shim, img_bin, work, opt, key, old, new):
    """amend: the image reads as before at every crash point and carries
    the old or the new setting; once finished, the new one."""
    rng = random.Random(f"amend-{key}")
    size = 4 * MiB
    fill_qcow2(work / "a.qcow2", rng, size, 10,
               *(["compat=0.10"] if key == "compat" else []))
    before = view(work / "a.qcow2")
    tr, _ = traced_run(shim, [img_bin, "amend", "-o", opt, "a.qcow2"], work,
                       ["a.qcow2"])

    def judge(crash, k, ctx):
        qcheck(crash / "a.qcow2", ctx)
        spec = info(crash / "a.qcow2", ctx)["format-specific"]["data"]
        assert spec[key] in (old, new), f"{ctx}: {key} {spec[key]}"
        if tr.complete(k):
            assert spec[key] == new, f"{ctx}: finished, {key} {spec[key]}"
        assert view(crash / "a.qcow2", ctx=ctx) == before, \
            f"{ctx}: data changed"

    crash_test(tr, work, judge, f"amend {opt}", key)


def test_snapshot_create(shim, img_bin, work):
    """snapshot -c: the image reads as before, the existing snapshot stays
    whole, the new one is absent or complete (reads as the image); once
    finished it is there."""
    rng = random.Random("snap-c")
    fill_qcow2(work / "a.qcow2", rng, 4 * MiB, 8)
    run(["qemu-img", "snapshot", "-c", "s0", str(work / "a.qcow2")])
    s0 = view(work / "a.qcow2")
    qemu_io(work / "a.qcow2", "write -P 0x77 1M 300k", "write -P 0x78 3M 8k")
    before = view(work / "a.qcow2")
    tr, _ = traced_run(shim, [img_bin, "snapshot", "-c", "s1", "a.qcow2"],
                       work, ["a.qcow2"])

    def judge(crash, k, ctx):
        a = crash / "a.qcow2"
        qcheck(a, ctx)
        names = snap_names(a, ctx)
        assert names in (["s0"], ["s0", "s1"]), f"{ctx}: snapshots {names}"
        if tr.complete(k):
            assert names == ["s0", "s1"], f"{ctx}: finished, no s1"
        assert view(a, ctx=ctx) == before, f"{ctx}: image data changed"
        assert view(a, "s0", ctx=ctx) == s0, f"{ctx}: snapshot s0 changed"
        if "s1" in names:
            assert view(a, "s1", ctx=ctx) == before, \
                f"{ctx}: s1 is not the image"

    crash_test(tr, work, judge, "snapshot -c", "snap-c")


def test_snapshot_apply(shim, img_bin, work):
    """snapshot -a: the image reads wholly as before or wholly as the
    snapshot (never a mix); the snapshot stays whole; once finished it
    reads as the snapshot."""
    rng = random.Random("snap-a")
    fill_qcow2(work / "a.qcow2", rng, 4 * MiB, 8)
    run(["qemu-img", "snapshot", "-c", "s0", str(work / "a.qcow2")])
    s0 = view(work / "a.qcow2")
    qemu_io(work / "a.qcow2", "write -P 0x55 0 200k", "write -P 0x56 2M 1M",
            "discard 3M 64k")
    before = view(work / "a.qcow2")
    tr, _ = traced_run(shim, [img_bin, "snapshot", "-a", "s0", "a.qcow2"],
                       work, ["a.qcow2"])

    def judge(crash, k, ctx):
        a = crash / "a.qcow2"
        qcheck(a, ctx)
        got = view(a, ctx=ctx)
        assert got in (before, s0), f"{ctx}: image is neither state"
        if tr.complete(k):
            assert got == s0, f"{ctx}: finished, not the snapshot"
        names = snap_names(a, ctx)
        assert names == ["s0"], f"{ctx}: snapshots {names}"
        assert view(a, "s0", ctx=ctx) == s0, f"{ctx}: snapshot s0 changed"

    crash_test(tr, work, judge, "snapshot -a", "snap-a")


def test_snapshot_delete(shim, img_bin, work):
    """snapshot -d: the image and the other snapshot read as before; the
    deleted one is whole or gone; once finished it is gone."""
    rng = random.Random("snap-d")
    fill_qcow2(work / "a.qcow2", rng, 4 * MiB, 8)
    run(["qemu-img", "snapshot", "-c", "s0", str(work / "a.qcow2")])
    s0 = view(work / "a.qcow2")
    qemu_io(work / "a.qcow2", "write -P 0x33 512k 700k")
    run(["qemu-img", "snapshot", "-c", "s1", str(work / "a.qcow2")])
    s1 = view(work / "a.qcow2")
    qemu_io(work / "a.qcow2", "write -P 0x34 1M 1M", "discard 0 64k")
    before = view(work / "a.qcow2")
    tr, _ = traced_run(shim, [img_bin, "snapshot", "-d", "s0", "a.qcow2"],
                       work, ["a.qcow2"])

    def judge(crash, k, ctx):
        a = crash / "a.qcow2"
        qcheck(a, ctx)
        names = snap_names(a, ctx)
        assert names in (["s0", "s1"], ["s1"]), f"{ctx}: snapshots {names}"
        if tr.complete(k):
            assert names == ["s1"], f"{ctx}: finished, s0 still there"
        assert view(a, ctx=ctx) == before, f"{ctx}: image data changed"
        assert view(a, "s1", ctx=ctx) == s1, f"{ctx}: snapshot s1 changed"
        if "s0" in names:
            assert view(a, "s0", ctx=ctx) == s0, f"{ctx}: half-deleted s0"

    crash_test(tr, work, judge, "snapshot -d", "snap-d")


# ---- rrvm: a guest writing through virtio-blk ----

BG_ROUNDS, BG_REQS, BG_MAX_SECTORS, BG_DISK_SECT = 10, 6, 24, 8192
BG_CLUSTER = 32


def guest_rounds():
    """What tests/durability/blkguest.c writes: per round, each sector's
    contents in the order written (mirrors bg_rand() and fill())."""
    x = 0x12345678
    M = 0xffffffff

    def rnd():
        nonlocal x
        x ^= (x << 13) & M
        x ^= x >> 17
        x ^= (x << 5) & M
        return x

    rounds = []
    for r in range(1, BG_ROUNDS + 1):
        w = {}
        for _ in range(BG_REQS):
            n = 1 + rnd() % BG_MAX_SECTORS
            sector = rnd() % (BG_DISK_SECT - n)
            for s in range(n):
                b = bytearray((r * 31 + sector + s + i // 64) & 0xff
                              for i in range(SECTOR))
                b[0] = r
                w.setdefault(sector + s, []).append(bytes(b))
        nsec = BG_CLUSTER * (1 + rnd() % 3)
        sector = BG_CLUSTER * (rnd() % (BG_DISK_SECT // BG_CLUSTER - 3))
        for s in range(sector, sector + nsec):
            w.setdefault(s, []).append(bytes(SECTOR))
        rounds.append(w)
    return rounds


@pytest.fixture
def rrvm():
    p = BUILD / "emulator" / "rrvm"
    if not p.exists():
        pytest.fail(f"{p} was not built")
    return str(p)


def test_rrvm_virtio_blk(shim, rrvm, work):
    """A bare-metal guest writes runs of sectors to a qcow2 disk through
    virtio-blk, zeroes whole clusters with unmap (freed clusters become
    holes), sends FLUSH, and once it has completed writes the round number
    to a raw marker disk. At a cut after marker r, every sector holds what
    round r or an earlier round last wrote to it, or anything a later round
    wrote; sectors are never torn; the image passes check. Once finished,
    the disk holds what the last round left."""
    if not have("riscv64-unknown-elf-gcc"):
        pytest.fail("riscv64-unknown-elf-gcc missing (scripts/packages.txt)")
    elf = work.parent / "blkguest.elf"
    run(["riscv64-unknown-elf-gcc", "-nostdlib", "-ffreestanding",
         "-fno-toplevel-reorder", "-O2", "-march=rv64gc", "-mabi=lp64d",
         "-mcmodel=medany", "-Wall", "-Wextra", "-Werror",
         "-Wl,-Ttext=0x80000000", "-o", str(elf), str(GUEST_SRC)])
    qcreate(work / "d.qcow2", 4 * MiB, "cluster_size=16384")
    run(["qemu-img", "create", "-q", "-f", "raw", str(work / "m.raw"),
         "64K"])
    cmd = [rrvm, "-M", "virt", "-bios", "none", "-kernel", str(elf),
           "-nographic", "-global", "virtio-mmio.force-legacy=false",
           "-drive", "file=d.qcow2,format=qcow2,if=virtio",
           "-drive", "file=m.raw,format=raw,if=virtio"]
    tr, p = traced_run(shim, cmd, work, ["d.qcow2", "m.raw"],
                       stdin=subprocess.DEVNULL, timeout=120)
    assert p.stdout.endswith("blkguest: done\n"), p.stdout
    rounds = guest_rounds()
    acked = []
    for i, r in enumerate(tr.recs):
        if r.kind == "W" and r.file == 1 and r.a == 0 and r.data:
            acked.append((i, r.data[0]))
    assert [a for _, a in acked] == list(range(1, BG_ROUNDS + 1))
    assert any(r.kind == "A" and r.a & FALLOC_PUNCH_HOLE for r in tr.recs), \
        "the guest's unmapping zero writes punched no hole"

    def judge(crash, k, ctx):
        qcheck(crash / "d.qcow2", ctx)
        got = view(crash / "d.qcow2", ctx=ctx)
        a = max([r for i, r in acked if i < k], default=0)
        if tr.complete(k):
            a = BG_ROUNDS
        for s in range(BG_DISK_SECT):
            last = bytes(SECTOR)
            for w in rounds[:a]:
                last = w.get(s, [last])[-1]
            ok = [last] + [v for w in rounds[a:] for v in w.get(s, [])]
            g = got[s * SECTOR:(s + 1) * SECTOR]
            assert g in ok, \
                f"{ctx}: sector {s} after flush {a} acknowledged holds " \
                f"round {g[0]}'s data or a torn sector"

    crash_test(tr, work, judge, "rrvm virtio-blk", "virtio-blk")
