"""Images that qemu-img and qemu-io make read identically through rrvm-img
(convert -O raw, compare), and what rrvm-img reports about them (info JSON,
snapshot list, check) agrees with qemu-img on the very same file. Images
rrvm-img writes pass qemu-img check."""
import json
import os
import random

import pytest

from test_img_common import (QEMU_IMG, QEMU_IO, filt, qemu_check_clean,
                             raw_bytes, sh)

pytestmark = pytest.mark.skipif(QEMU_IMG is None or QEMU_IO is None,
                                reason="needs qemu-img and qemu-io")

SIZE = "6M"

# (id, create options, qemu-io commands). Offsets cover aligned, unaligned,
# cross-cluster, zero (with and without unmap), discard, compressed and
# partial overwrites of compressed clusters.
WRITES = [
    "write -P 0x11 0 64k",
    "write -P 0x22 70000 5000",
    "write -P 0x33 131000 200000",
    "write -z 1M 128k",
    "write -P 0x44 1536k 256k",
    "write -z -u 1600k 64k",
    "discard 1700k 64k",
    "write -c -P 0x55 2M 64k",
    "write -c -P 0x66 2176k 64k",
    "write -P 0x77 2180k 1000",
    "write -P 0x88 6143k 1k",
]
VARIANTS = [
    ("default", []),
    ("v2", ["-o", "compat=0.10"]),
    ("zstd", ["-o", "compression_type=zstd"]),
    ("extl2", ["-o", "extended_l2=on"]),
    ("extl2-32k", ["-o", "extended_l2=on,cluster_size=32k"]),
    ("cl512", ["-o", "cluster_size=512"]),
    ("cl4k-rb1", ["-o", "cluster_size=4k,refcount_bits=1"]),
    ("cl2M", ["-o", "cluster_size=2M"]),
    ("rb64-lazy", ["-o", "refcount_bits=64,lazy_refcounts=on"]),
    ("prealloc-meta", ["-o", "preallocation=metadata"]),
]


def qemu_image(d, name, opts, writes=WRITES, size=SIZE, backing=None):
    argv = [QEMU_IMG, "create", "-q", "-f", "qcow2"] + opts
    if backing:
        argv += ["-b", backing, "-F", "qcow2"]
    sh(argv + [name, size], d)
    if writes:
        io = [QEMU_IO, "-f", "qcow2"]
        for w in writes:
            io += ["-c", w]
        sh(io + [name], d)
    return d / name


def rrvm_raw(rrvm_img, img, d, fmt="qcow2"):
    out = d / (img.name + ".rraw")
    sh([rrvm_img, "convert", "-f", fmt, "-O", "raw", str(img), str(out)], d)
    data = out.read_bytes()
    out.unlink()
    return data


def drop_volatile(j):
    j.pop("actual-size", None)
    return j


@pytest.mark.parametrize("name,opts", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_read_qemu_images(rrvm_img, tmp_path, name, opts):
    rrvm_img = os.path.abspath(rrvm_img)
    writes = WRITES
    if name == "prealloc-meta":
        writes = [w for w in WRITES if not w.startswith("write -c")]
    elif name == "cl2M":
        # compressed writes must cover whole clusters
        writes = [w.replace("write -c -P 0x55 2M 64k",
                            "write -c -P 0x55 2M 2M") for w in WRITES
                  if "0x66" not in w]
    img = qemu_image(tmp_path, "q.qcow2", opts, writes)
    want = raw_bytes(img, "qcow2")
    assert rrvm_raw(rrvm_img, img, tmp_path) == want
    # rrvm compare agrees both ways
    (tmp_path / "want.raw").write_bytes(want)
    p = sh([rrvm_img, "compare", "-f", "qcow2", "-F", "raw", str(img),
            str(tmp_path / "want.raw")], tmp_path, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    # info JSON and check agree with qemu-img on the same file
    q = json.loads(sh([QEMU_IMG, "info", "--output=json", str(img)],
                      tmp_path).stdout)
    r = json.loads(sh([rrvm_img, "info", "--output=json", str(img)],
                      tmp_path).stdout)
    assert drop_volatile(r) == drop_volatile(q)
    qc = sh([QEMU_IMG, "check", "--output=json", str(img)], tmp_path,
            check=False)
    rc = sh([rrvm_img, "check", "--output=json", str(img)], tmp_path,
            check=False)
    assert rc.returncode == qc.returncode
    assert json.loads(rc.stdout) == json.loads(qc.stdout)
    assert_same_map(rrvm_img, img, tmp_path)
    # a compressed copy made by rrvm-img is clean and equal
    out = tmp_path / "c.qcow2"
    sh([rrvm_img, "convert", "-c", "-O", "qcow2"] + opts_for_convert(opts) +
       [str(img), str(out)], tmp_path)
    qemu_check_clean(out)
    assert raw_bytes(out, "qcow2") == want


def assert_same_map(rrvm_img, img, d):
    """map (JSON and human) of the very same file by both tools."""
    for out in ("json", "human"):
        argv = ["map", "--output=" + out, str(img)]
        q = sh([QEMU_IMG] + argv, d, check=False)
        r = sh([rrvm_img] + argv, d, check=False)
        assert r.returncode == q.returncode, (out, r.stderr, q.stderr)
        assert r.stdout == q.stdout, (out, img)
        assert filt(r.stderr) == filt(q.stderr)


# Images rrvm-img writes itself, each then mapped by both tools.
RRVM_WRITTEN = [
    ("create-meta", [["create", "-f", "qcow2", "-o", "preallocation=metadata",
                      "o.qcow2", "3M"]]),
    ("create-meta-4k", [["create", "-f", "qcow2", "-o",
                         "preallocation=metadata,cluster_size=4k", "o.qcow2",
                         "3M"]]),
    ("create-falloc", [["create", "-f", "qcow2", "-o",
                        "preallocation=falloc", "o.qcow2", "3M"]]),
    ("create-full", [["create", "-f", "qcow2", "-o", "preallocation=full",
                      "o.qcow2", "3M"]]),
    ("create-extl2", [["create", "-f", "qcow2", "-o", "extended_l2=on",
                       "o.qcow2", "3M"]]),
    ("convert", [["convert", "-O", "qcow2", "src.qcow2", "o.qcow2"]]),
    ("convert-meta", [["convert", "-o", "preallocation=metadata", "-O",
                       "qcow2", "src.qcow2", "o.qcow2"]]),
    ("convert-extl2", [["convert", "-o", "extended_l2=on", "-O", "qcow2",
                        "src.qcow2", "o.qcow2"]]),
    ("convert-compressed", [["convert", "-c", "-O", "qcow2", "src.qcow2",
                             "o.qcow2"]]),
    ("convert-raw", [["convert", "-O", "raw", "src.qcow2", "o.qcow2"]]),
    ("resize-meta", [["create", "-f", "qcow2", "o.qcow2", "1M"],
                     ["resize", "--preallocation=metadata", "o.qcow2",
                      "3M"]]),
]


@pytest.mark.parametrize("name,steps", RRVM_WRITTEN,
                         ids=[c[0] for c in RRVM_WRITTEN])
def test_map_of_rrvm_images(rrvm_img, tmp_path, name, steps):
    """rrvm-img map and qemu-img map agree on files rrvm-img wrote, before
    and after qemu-io writes partial clusters into them."""
    rrvm_img = os.path.abspath(rrvm_img)
    qemu_image(tmp_path, "src.qcow2", [],
               ["write -P 1 4k 4k", "write -P 2 1M 100k", "write -z 2M 64k"],
               size="3M")
    for st in steps:
        sh([rrvm_img] + st, tmp_path)
    img = tmp_path / "o.qcow2"
    fmt = "raw" if name == "convert-raw" else "qcow2"
    if fmt == "qcow2":
        assert_same_map(rrvm_img, img, tmp_path)
    sh([QEMU_IO, "-f", fmt, "-c", "write -P 7 70000 5000", "-c",
        "write -P 8 2500k 1k", str(img)], tmp_path)
    if fmt == "raw":
        for out in ("json", "human"):
            argv = ["map", "-f", "raw", "--output=" + out, str(img)]
            assert sh([rrvm_img] + argv, tmp_path).stdout == \
                sh([QEMU_IMG] + argv, tmp_path).stdout
    else:
        assert_same_map(rrvm_img, img, tmp_path)


def opts_for_convert(opts):
    # preallocation is meaningless for a compressed target
    if opts and "preallocation" in opts[-1]:
        return []
    return opts


def test_snapshots_and_vmstate(rrvm_img, tmp_path):
    rrvm_img = os.path.abspath(rrvm_img)
    img = qemu_image(tmp_path, "s.qcow2", [], WRITES[:3])
    before = raw_bytes(img, "qcow2")
    sh([QEMU_IMG, "snapshot", "-c", "first", str(img)], tmp_path)
    sh([QEMU_IO, "-c", "write -P 0x99 0 1M", "-c", "write -b -P 0x42 0 64k",
        str(img)], tmp_path)
    sh([QEMU_IMG, "snapshot", "-c", "second", str(img)], tmp_path)
    after = raw_bytes(img, "qcow2")
    # same list, same JSON, as qemu-img on the same file
    for argv in (["snapshot", "-l"], ["info"], ["info", "--output=json"]):
        q = sh([QEMU_IMG] + argv + [str(img)], tmp_path)
        r = sh([rrvm_img] + argv + [str(img)], tmp_path)
        assert filt(r.stdout).replace(rrvm_img, "X") == \
            filt(q.stdout).replace(QEMU_IMG, "X")
    # VM state is counted by check but not converted
    assert rrvm_raw(rrvm_img, img, tmp_path) == after
    # apply and delete with rrvm-img, verify with qemu
    sh([rrvm_img, "snapshot", "-a", "first", str(img)], tmp_path)
    qemu_check_clean(img)
    assert raw_bytes(img, "qcow2") == before
    sh([rrvm_img, "snapshot", "-d", "second", str(img)], tmp_path)
    qemu_check_clean(img)
    q = sh([QEMU_IMG, "snapshot", "-l", str(img)], tmp_path).stdout
    assert "first" in q and "second" not in q
    sh([rrvm_img, "snapshot", "-c", "third", str(img)], tmp_path)
    qemu_check_clean(img)
    sh([QEMU_IMG, "snapshot", "-a", "third", str(img)], tmp_path)
    assert raw_bytes(img, "qcow2") == before


def test_backing_chain(rrvm_img, tmp_path):
    rrvm_img = os.path.abspath(rrvm_img)
    qemu_image(tmp_path, "base.qcow2", [], WRITES[:5])
    qemu_image(tmp_path, "mid.qcow2", ["-o", "cluster_size=4k"],
               ["write -P 0xa1 100k 300k", "write -z 0 8k"],
               backing="base.qcow2")
    top = qemu_image(tmp_path, "top.qcow2", [],
                     ["write -P 0xb2 1M 4k", "discard 0 64k"],
                     backing="mid.qcow2")
    want = raw_bytes(top, "qcow2")
    assert rrvm_raw(rrvm_img, top, tmp_path) == want
    q = sh([QEMU_IMG, "info", "--backing-chain", "--output=json",
            "top.qcow2"], tmp_path).stdout
    r = sh([rrvm_img, "info", "--backing-chain", "--output=json",
            "top.qcow2"], tmp_path).stdout
    assert [drop_volatile(x) for x in json.loads(r)] == \
        [drop_volatile(x) for x in json.loads(q)]
    # commit the top into mid, then everything into base
    sh([rrvm_img, "commit", "top.qcow2"], tmp_path)
    for f in ("top.qcow2", "mid.qcow2", "base.qcow2"):
        qemu_check_clean(tmp_path / f)
    assert raw_bytes(top, "qcow2") == want
    sh([rrvm_img, "commit", "-b", "base.qcow2", "top.qcow2"], tmp_path)
    assert raw_bytes(tmp_path / "base.qcow2", "qcow2") == want
    qemu_check_clean(tmp_path / "base.qcow2")


def test_rebase_safe_keeps_content(rrvm_img, tmp_path):
    rrvm_img = os.path.abspath(rrvm_img)
    qemu_image(tmp_path, "old.qcow2", [], WRITES[:6])
    qemu_image(tmp_path, "new.qcow2", [], ["write -P 0x5a 0 3M"])
    top = qemu_image(tmp_path, "top.qcow2", [], ["write -P 1 2M 64k"],
                     backing="old.qcow2")
    want = raw_bytes(top, "qcow2")
    sh([rrvm_img, "rebase", "-b", "new.qcow2", "-F", "qcow2", "top.qcow2"],
       tmp_path)
    qemu_check_clean(top)
    assert raw_bytes(top, "qcow2") == want
    info = json.loads(sh([QEMU_IMG, "info", "--output=json", "top.qcow2"],
                         tmp_path).stdout)
    assert info["backing-filename"] == "new.qcow2"


def test_convert_large_sparse_and_random(rrvm_img, tmp_path):
    """A 32 MiB source with random, zero and hole regions: every target
    option set reads back equal, passes check, and zero detection leaves
    zero regions unallocated like qemu-img does."""
    rrvm_img = os.path.abspath(rrvm_img)
    r = random.Random(5)
    src = tmp_path / "src.raw"
    with open(src, "wb") as f:
        for i in range(32):
            kind = i % 4
            if kind == 0:
                f.write(r.randbytes(1 << 20))
            elif kind == 1:
                f.write(bytes(1 << 20))
            elif kind == 2:
                f.seek(1 << 20, 1)
            else:
                blk = bytearray(1 << 20)
                blk[r.randrange(1 << 20)] = 1
                f.write(blk)
        f.truncate(32 << 20)
    want = src.read_bytes()
    for opts in ([], ["-c", "-m", "2", "-W"],
                 ["-c", "-o", "compression_type=zstd"], ["-S", "0"],
                 ["-o", "cluster_size=512"], ["-o", "cluster_size=2M"]):
        out = tmp_path / "o.qcow2"
        sh([rrvm_img, "convert", "-f", "raw", "-O", "qcow2"] + opts +
           [str(src), str(out)], tmp_path)
        qemu_check_clean(out)
        assert raw_bytes(out, "qcow2") == want, opts
        if not opts:
            qo = tmp_path / "q.qcow2"
            sh([QEMU_IMG, "convert", "-f", "raw", "-O", "qcow2", str(src),
                str(qo)], tmp_path)
            m = [sh([QEMU_IMG, "map", "--output=json", str(p)],
                    tmp_path).stdout for p in (qo, out)]
            strip = [[{k: v for k, v in e.items() if k != "offset"}
                      for e in json.loads(x)] for x in m]
            assert strip[1] == strip[0]
        out.unlink()
    # and back to raw: byte-identical and sparse where the source was zero
    sh([rrvm_img, "convert", "-f", "raw", "-O", "qcow2", str(src),
        str(tmp_path / "o.qcow2")], tmp_path)
    sh([rrvm_img, "convert", "-O", "raw", str(tmp_path / "o.qcow2"),
        str(tmp_path / "back.raw")], tmp_path)
    assert (tmp_path / "back.raw").read_bytes() == want
    st = os.stat(tmp_path / "back.raw")
    assert st.st_blocks * 512 < 20 << 20


def test_bench_writes_land(rrvm_img, tmp_path):
    """bench -w with a pattern writes through the fast path and the locked
    path (fresh clusters allocate, rewrites go in place), and qemu-img reads
    exactly the pattern back."""
    rrvm_img = os.path.abspath(rrvm_img)
    img = qemu_image(tmp_path, "b.qcow2", [], ["write -P 1 0 1M"],
                     size="4M")
    sh([rrvm_img, "bench", "-w", "--pattern=0xab", "-c", "512", "-d", "16",
        "-s", "4k", "-f", "qcow2", str(img)], tmp_path)
    qemu_check_clean(img)
    data = raw_bytes(img, "qcow2")
    assert data[:2 << 20] == b"\xab" * (2 << 20)
    assert data[2 << 20:] == bytes(2 << 20)
    sh([rrvm_img, "bench", "-w", "-t", "none", "--pattern=0xcd", "-c",
        "1024", "-d", "64", "-s", "4k", "--flush-interval=64", "-f", "qcow2",
        str(img)], tmp_path)
    qemu_check_clean(img)
    assert raw_bytes(img, "qcow2") == b"\xcd" * (4 << 20)


@pytest.mark.parametrize("damage", ["magic", "cluster_bits", "l1_size",
                                    "l1_offset", "refcount_table",
                                    "snapshots", "truncated"])
def test_hostile_images(rrvm_img, tmp_path, damage):
    """Damaged headers: every command refuses or copes with one error line,
    never crashes, hangs or writes."""
    rrvm_img = os.path.abspath(rrvm_img)
    img = qemu_image(tmp_path, "h.qcow2", [], WRITES[:4])
    sh([QEMU_IMG, "snapshot", "-c", "s", str(img)], tmp_path)
    b = bytearray(img.read_bytes())

    def put(off, val, n):
        b[off:off + n] = val.to_bytes(n, "big")
    if damage == "magic":
        put(0, 0x12345678, 4)
    elif damage == "cluster_bits":
        put(20, 40, 4)
    elif damage == "l1_size":
        put(36, 0x7fffffff, 4)
    elif damage == "l1_offset":
        put(40, 0x123, 8)
    elif damage == "refcount_table":
        put(48, 1 << 60, 8)
    elif damage == "snapshots":
        put(60, 0x10000000, 4)
    elif damage == "truncated":
        del b[0x30000:]
    img.write_bytes(bytes(b))
    before = img.read_bytes()
    for argv in (["info"], ["info", "--output=json"], ["check"],
                 ["snapshot", "-l"], ["map"],
                 ["convert", "-O", "raw", str(img), "o.raw"],
                 ["compare", str(img), str(img)]):
        if argv[0] in ("convert", "compare"):
            cmd = [rrvm_img, argv[0], "-f", "qcow2"] + argv[1:]
        else:
            cmd = [rrvm_img] + argv + ["-f", "qcow2", str(img)]
        p = sh(cmd, tmp_path, check=False)
        assert p.returncode >= 0, f"{argv}: killed by signal {-p.returncode}"
        assert "AddressSanitizer" not in p.stderr
        assert "runtime error" not in p.stderr
        if p.returncode != 0:
            assert p.stderr.startswith("rrvm-img: ") or argv[0] == "check", \
                (argv, p.stderr)
    assert img.read_bytes() == before
