"""rrvm-img against qemu-img 7.2, command by command: the same inputs, the
same command line, and stdout, stderr and exit status must match after the
filters in test_img_common.py. Then every file the command created or
changed (found by comparing each directory with the setup) is checked with
qemu-img, whatever the case: the same files changed as by qemu-img, check
clean (or the same report as for qemu-img's file), compare and info equal
to qemu-img's result, and the same bytes for the cases in BYTE_EQUAL."""
import filecmp
import json
import random
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

from test_img_common import (QEMU_IMG, assert_same, filt, qemu_compare,
                             run_both, setup_dir, sh, write_file)

pytestmark = pytest.mark.skipif(QEMU_IMG is None, reason="needs qemu-img")

Q = "qemu-img"
IO = "qemu-io"


def mk(name, size, *opts, fmt="qcow2"):
    return [Q, "create", "-q", "-f", fmt, *opts, name, size]


def io(name, *cmds, fmt="qcow2"):
    argv = [IO, "-f", fmt]
    for c in cmds:
        argv += ["-c", c]
    return argv + [name]


def rnd(name, size, seed=1, zero_every=0):
    """A raw file of @size bytes: random 64 KiB blocks, every
    @zero_every-th block zero."""
    r = random.Random(seed)
    out = bytearray()
    blk = 0
    while len(out) < size:
        n = min(65536, size - len(out))
        if zero_every and blk % zero_every == zero_every - 1:
            out += bytes(n)
        else:
            out += r.randbytes(n)
        blk += 1
    return write_file(name, bytes(out))


DATA = [mk("d.qcow2", "4M"),
        io("d.qcow2", "write -P 0x11 0 64k", "write -P 0x22 192k 8k",
           "write -z 512k 128k", "write -c -P 0x33 1M 64k",
           "write -P 0x44 3M 1M")]
# Cluster-aligned writes (DATA has partly written clusters).
MAPDATA = [mk("d.qcow2", "4M"),
           io("d.qcow2", "write -P 0x11 0 64k", "write -P 0x22 192k 64k",
              "write -z 512k 128k", "write -c -P 0x33 1M 64k",
              "write -P 0x44 3M 1M")]
EXTL2 = [mk("x.qcow2", "8M", "-o", "extended_l2=on"),
         io("x.qcow2", "write -P 1 0 4k", "write -P 2 8k 4k",
            "write -z 64k 4k", "write -P 3 1M 100k", "write -z 3M 1M",
            "discard 1M 64k", "write -P 5 7M 1M")]
EXTL2_BACKED = [mk("b.qcow2", "8M"), io("b.qcow2", "write -P 9 0 8M"),
                mk("x.qcow2", "8M", "-o", "cluster_size=16k,extended_l2=on",
                   "-b", "b.qcow2", "-F", "qcow2"),
                io("x.qcow2", "write -P 1 0 4k", "write -P 2 8k 4k",
                   "write -z 64k 4k", "write -P 3 1M 100k",
                   "write -z 3M 1M", "discard 1M 64k")]
# Metadata preallocation (also made by punching holes into the host file):
# QEMU then asks the host file where data is, and map reports the holes
# inside data clusters as "zero": true.
META = [mk("p.qcow2", "1M", "-o", "preallocation=metadata"),
        io("p.qcow2", "write -P 1 4k 4k", "write -P 2 200k 100k")]
CHAIN3 = [mk("r.raw", "2M", fmt="raw"),
          io("r.raw", "write -P 1 0 512k", "write -P 2 1M 4k", fmt="raw"),
          mk("m.qcow2", "3M", "-b", "r.raw", "-F", "raw"),
          io("m.qcow2", "write -P 3 256k 64k", "write -z 1M 8k",
             "write -P 4 2M 4k"),
          mk("t.qcow2", "5M", "-b", "m.qcow2", "-F", "qcow2"),
          io("t.qcow2", "write -P 5 0 4k", "write -P 6 4M 8k")]
RAWHOLES = [["truncate", "-s", "10M", "r.raw"],
            io("r.raw", "write -P 1 4k 4k", "write -P 2 1M 1M",
               "write -P 3 9M 100", fmt="raw")]
SNAPPED = DATA + [[Q, "snapshot", "-c", "one", "d.qcow2"],
                  io("d.qcow2", "write -P 0x66 0 256k"),
                  [Q, "snapshot", "-c", "two", "d.qcow2"],
                  io("d.qcow2", "write -P 0x77 128k 256k")]
CHAIN = [mk("base.qcow2", "2M"),
         io("base.qcow2", "write -P 1 0 1M"),
         mk("top.qcow2", "2M", "-b", "base.qcow2", "-F", "qcow2"),
         io("top.qcow2", "write -P 2 64k 64k", "write -z 256k 64k")]
NOBACK = CHAIN + [["rm", "base.qcow2"]]
RAW4M = [rnd("r.raw", 4 << 20, zero_every=3)]


def text(name, size, seed=2):
    """A raw file of @size compressible bytes (random words), with a zero
    1 MiB hole in the middle."""
    r = random.Random(seed)
    words = [bytes(r.choices(b"abcdefghijklmnopqrstuvwxyz", k=r.randint(2, 9)))
             for _ in range(400)]
    out = bytearray()
    while len(out) < size:
        out += r.choice(words) + b" "
    out = out[:size]
    mid = size // 2
    out[mid:mid + (1 << 20)] = bytes(min(1 << 20, size - mid))
    return write_file(name, bytes(out))


TEXT6M = [text("t.raw", 6 << 20)]
SNAPGROWN = [mk("g.qcow2", "4M"), io("g.qcow2", "write -P 7 0 2M"),
             [Q, "snapshot", "-c", "one", "g.qcow2"],
             io("g.qcow2", "write -P 8 1M 3M"),
             [Q, "resize", "-q", "g.qcow2", "8M"],
             [Q, "snapshot", "-c", "two", "g.qcow2"],
             io("g.qcow2", "write -P 9 5M 1M")]
BITMAPS = DATA + [[Q, "bitmap", "--add", "d.qcow2", "b0"],
                  [Q, "bitmap", "--add", "--granularity", "128k", "--disable",
                   "d.qcow2", "second-bitmap"]]
# An image whose size ends inside a written cluster.
PARTIAL = [mk("x.qcow2", "1000k"), io("x.qcow2", "write -P 0x5a 0 1023488")]


def leak_image(d):
    """A default 1 MiB image plus one leaked cluster at its end."""
    sh([Q, "create", "-q", "-f", "qcow2", "leak.qcow2", "1M"], d)
    p = d / "leak.qcow2"
    size = p.stat().st_size
    cl = (size + 65535) // 65536
    with open(p, "r+b") as f:
        f.truncate((cl + 1) * 65536)
        f.seek(0x20000 + 2 * cl)
        f.write(struct.pack(">H", 1))


def corrupt_image(d):
    """One data cluster whose refcount is 0 (a corruption, exit 2)."""
    sh([Q, "create", "-q", "-f", "qcow2", "bad.qcow2", "1M"], d)
    sh([IO, "-f", "qcow2", "-c", "write -P 7 0 64k", "bad.qcow2"], d)
    m = json.loads(sh([Q, "map", "--output=json", "bad.qcow2"], d).stdout)
    host = m[0]["offset"]
    with open(d / "bad.qcow2", "r+b") as f:
        f.seek(0x20000 + 2 * (host // 65536))
        f.write(struct.pack(">H", 0))


def dirty_image(d):
    """Lazy refcounts and an aborted qemu-io: the dirty bit stays set."""
    sh([Q, "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on",
        "dirty.qcow2", "1M"], d)
    sh([IO, "-f", "qcow2", "-c", "write -P 3 0 64k", "-c", "abort",
        "dirty.qcow2"], d, check=False)


def corrupt_bit_image(d):
    """A clean image with the corrupt bit (incompatible bit 1) set."""
    sh([Q, "create", "-q", "-f", "qcow2", "cb.qcow2", "1M"], d)
    sh([IO, "-f", "qcow2", "-c", "write -P 4 0 64k", "cb.qcow2"], d)
    with open(d / "cb.qcow2", "r+b") as f:
        f.seek(72)
        v = struct.unpack(">Q", f.read(8))[0] | 2
        f.seek(72)
        f.write(struct.pack(">Q", v))


CASES = [
    # ---- top level ----
    ("noargs", [], []),
    ("unknown-cmd", [], ["frobnicate"]),
    ("bad-top-option", [], ["-Z"]),
    # ---- create ----
    ("create-qcow2", [], ["create", "-f", "qcow2", "a.qcow2", "1G"]),
    ("create-raw", [], ["create", "-f", "raw", "a.raw", "1M"]),
    ("create-nofmt", [], ["create", "a.img", "3M"]),
    ("create-v2", [], ["create", "-f", "qcow2", "-o", "compat=0.10", "a", "1M"]),
    ("create-v3-word", [], ["create", "-f", "qcow2", "-o", "compat=v3", "a", "1M"]),
    ("create-cl4k-lazy", [], ["create", "-f", "qcow2", "-o",
                              "cluster_size=4k,lazy_refcounts=on", "a", "1M"]),
    ("create-extl2-zstd-rb4", [], ["create", "-f", "qcow2", "-o",
                                   "extended_l2=on,compression_type=zstd,"
                                   "refcount_bits=4", "a", "1M"]),
    ("create-rb1-cl1k", [], ["create", "-f", "qcow2", "-o", "refcount_bits=1",
                             "-o", "cluster_size=1k", "a", "1M"]),
    ("create-rb64", [], ["create", "-f", "qcow2", "-o", "refcount_bits=64",
                         "a", "5M"]),
    ("create-prealloc-meta", [], ["create", "-f", "qcow2", "-o",
                                  "preallocation=metadata", "a", "1M"]),
    ("create-prealloc-falloc", [], ["create", "-f", "qcow2", "-o",
                                    "preallocation=falloc", "a", "1M"]),
    ("create-prealloc-full", [], ["create", "-f", "qcow2", "-o",
                                  "preallocation=full,cluster_size=1k", "a",
                                  "1M"]),
    # Several new refcount blocks before the data; the L2 tables in the
    # freed first refcount table and after the data.
    ("create-prealloc-falloc-big", [],
     ["create", "-f", "qcow2", "-o",
      "preallocation=falloc,cluster_size=4k,refcount_bits=64", "a", "100M"]),
    ("create-prealloc-meta-extl2", [],
     ["create", "-f", "qcow2", "-o", "preallocation=metadata,extended_l2=on",
      "a", "3000k"]),
    ("create-prealloc-full-extl2", [],
     ["create", "-f", "qcow2", "-o", "preallocation=full,extended_l2=on",
      "a", "1025k"]),
    ("create-lazy-bare", [], ["create", "-f", "qcow2", "-o", "lazy_refcounts",
                              "a", "1M"]),
    ("create-size-opt", [], ["create", "-f", "qcow2", "-o", "size=2M", "a"]),
    ("create-size-twice", [], ["create", "-f", "qcow2", "-o", "size=2M", "a",
                               "3M"]),
    ("create-frac", [], ["create", "-f", "qcow2", "a", "1.5G"]),
    ("create-bytes-b", [], ["create", "-f", "qcow2", "a", "100b"]),
    ("create-odd", [], ["create", "-f", "qcow2", "a", "1000"]),
    ("create-zero", [], ["create", "-f", "qcow2", "a", "0"]),
    ("create-1T", [], ["create", "-f", "qcow2", "a", "1T"]),
    ("create-lower-k", [], ["create", "-f", "raw", "a", "64k"]),
    ("create-backing", [mk("b.qcow2", "3M")],
     ["create", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "a"]),
    ("create-backing-size", [mk("b.qcow2", "3M")],
     ["create", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "a", "5M"]),
    ("create-backing-raw", [mk("b.raw", "1M", fmt="raw")],
     ["create", "-f", "qcow2", "-o", "backing_file=b.raw,backing_fmt=raw",
      "a"]),
    ("create-backing-nofmt", [mk("b.raw", "1M", fmt="raw")],
     ["create", "-f", "qcow2", "-b", "b.raw", "a", "1M"]),
    ("create-backing-missing", [],
     ["create", "-f", "qcow2", "-b", "nonexist", "-F", "qcow2", "a", "5M"]),
    ("create-backing-unsafe", [],
     ["create", "-f", "qcow2", "-u", "-b", "nonexist", "-F", "qcow2", "a",
      "5M"]),
    ("create-F-only", [], ["create", "-f", "qcow2", "-F", "qcow2", "a",
                           "1M"]),
    ("create-fmt-opt-only", [], ["create", "-f", "qcow2", "-o",
                                 "backing_fmt=qcow2", "a", "1M"]),
    ("create-backing-badfmt", [mk("b.qcow2", "1M")],
     ["create", "-f", "qcow2", "-b", "b.qcow2", "-F", "foo", "a", "1M"]),
    ("create-backing-rawfmt", [mk("b.qcow2", "1M")],
     ["create", "-f", "qcow2", "-b", "b.qcow2", "-F", "raw", "a", "1M"]),
    ("create-quiet", [], ["create", "-q", "-f", "qcow2", "a", "1M"]),
    ("create-nosize", [], ["create", "-f", "qcow2", "a"]),
    ("create-nofile", [], ["create"]),
    ("create-badsize", [], ["create", "-f", "qcow2", "a", "1X"]),
    ("create-hugesize", [], ["create", "-f", "qcow2", "a", "99E"]),
    ("create-exp", [], ["create", "-f", "qcow2", "a", "1e3"]),
    ("create-negsize", [], ["create", "-f", "qcow2", "a", "-5"]),
    ("create-extra-arg", [], ["create", "-f", "qcow2", "a", "1M", "2M"]),
    ("create-badfmt", [], ["create", "-f", "foo", "a", "1M"]),
    ("create-badopt", [], ["create", "-f", "qcow2", "-o", "foo=bar", "a", "1M"]),
    ("create-missing-arg", [], ["create", "-f"]),
    ("create-cluster-3000", [], ["create", "-f", "qcow2", "-o",
                                 "cluster_size=3000", "a", "1M"]),
    ("create-cluster-4M", [], ["create", "-f", "qcow2", "-o",
                               "cluster_size=4M", "a", "1M"]),
    ("create-cluster-abc", [], ["create", "-f", "qcow2", "-o",
                                "cluster_size=abc", "a", "1M"]),
    ("create-rb3", [], ["create", "-f", "qcow2", "-o", "refcount_bits=3", "a",
                        "1M"]),
    ("create-rb-abc", [], ["create", "-f", "qcow2", "-o", "refcount_bits=abc",
                           "a", "1M"]),
    ("create-v2-lazy", [], ["create", "-f", "qcow2", "-o",
                            "compat=0.10,lazy_refcounts=on", "a", "1M"]),
    ("create-v2-rb8", [], ["create", "-f", "qcow2", "-o",
                           "compat=0.10,refcount_bits=8", "a", "1M"]),
    ("create-v2-zstd", [], ["create", "-f", "qcow2", "-o",
                            "compat=0.10,compression_type=zstd", "a", "1M"]),
    ("create-v2-extl2", [], ["create", "-f", "qcow2", "-o",
                             "compat=0.10,extended_l2=on", "a", "1M"]),
    ("create-extl2-4k", [], ["create", "-f", "qcow2", "-o",
                             "cluster_size=4k,extended_l2=on", "a", "1M"]),
    ("create-lz4", [], ["create", "-f", "qcow2", "-o", "compression_type=lz4",
                        "a", "1M"]),
    ("create-compat-foo", [], ["create", "-f", "qcow2", "-o", "compat=foo",
                               "a", "1M"]),
    ("create-lazy-maybe", [], ["create", "-f", "qcow2", "-o",
                               "lazy_refcounts=maybe", "a", "1M"]),
    ("create-prealloc-bogus", [], ["create", "-f", "qcow2", "-o",
                                   "preallocation=bogus", "a", "1M"]),
    ("create-raw-prealloc-meta", [], ["create", "-f", "raw", "-o",
                                      "preallocation=metadata", "a", "1M"]),
    ("create-raw-prealloc-full", [], ["create", "-f", "raw", "-o",
                                      "preallocation=full", "a", "1M"]),
    ("create-help-qcow2", [], ["create", "-f", "qcow2", "-o", "help", "x"]),
    ("create-help-raw", [], ["create", "-f", "raw", "-o", "help", "x"]),
    ("create-help-q", [], ["create", "-f", "qcow2", "-o", "?"]),
    ("create-nodir", [], ["create", "-f", "qcow2", "nodir/a", "1M"]),
    # ---- info ----
    ("info", DATA, ["info", "d.qcow2"]),
    ("info-json", DATA, ["info", "--output=json", "d.qcow2"]),
    ("info-f", DATA, ["info", "-f", "qcow2", "d.qcow2"]),
    ("info-U", DATA, ["info", "-U", "d.qcow2"]),
    ("info-raw", RAW4M, ["info", "r.raw"]),
    ("info-raw-json", RAW4M, ["info", "--output=json", "-f", "raw", "r.raw"]),
    ("info-chain", CHAIN, ["info", "top.qcow2"]),
    ("info-chain-json", CHAIN, ["info", "--output=json", "top.qcow2"]),
    ("info-backing-chain", CHAIN, ["info", "--backing-chain", "top.qcow2"]),
    ("info-backing-chain-json", CHAIN,
     ["info", "--backing-chain", "--output=json", "top.qcow2"]),
    ("info-v2", [mk("v2.qcow2", "1M", "-o", "compat=0.10")],
     ["info", "v2.qcow2"]),
    ("info-v2-json", [mk("v2.qcow2", "1M", "-o", "compat=0.10")],
     ["info", "--output=json", "v2.qcow2"]),
    ("info-features", [mk("f.qcow2", "1G", "-o", "lazy_refcounts=on,"
                          "extended_l2=on,compression_type=zstd,"
                          "refcount_bits=64")],
     ["info", "f.qcow2"]),
    ("info-features-json", [mk("f.qcow2", "1G", "-o", "lazy_refcounts=on,"
                               "extended_l2=on,compression_type=zstd,"
                               "refcount_bits=64")],
     ["info", "--output=json", "f.qcow2"]),
    # Persistent bitmaps are listed (one enabled, one disabled: no flags).
    ("info-bitmaps", BITMAPS, ["info", "d.qcow2"]),
    ("info-bitmaps-json", BITMAPS, ["info", "--output=json", "d.qcow2"]),
    ("info-bitmaps-chain", BITMAPS + [mk("t.qcow2", "4M", "-b", "d.qcow2",
                                         "-F", "qcow2")],
     ["info", "--backing-chain", "t.qcow2"]),
    # Option errors of the target's driver carry convert's prefix.
    ("conv-c-prealloc", RAW4M, ["convert", "-c", "-o",
                                "preallocation=metadata", "-f", "raw", "-O",
                                "qcow2", "r.raw", "o.qcow2"]),
    ("conv-o-bad-prealloc", RAW4M, ["convert", "-o", "preallocation=bogus",
                                    "-f", "raw", "-O", "qcow2", "r.raw",
                                    "o.qcow2"]),
    ("conv-o-cluster-3k", RAW4M, ["convert", "-o", "cluster_size=3k", "-f",
                                  "raw", "-O", "qcow2", "r.raw", "o.qcow2"]),
    ("conv-o-lazy-v2", RAW4M, ["convert", "-o",
                               "compat=0.10,lazy_refcounts=on", "-f", "raw",
                               "-O", "qcow2", "r.raw", "o.qcow2"]),
    ("conv-bitmaps-none", DATA, ["convert", "--bitmaps", "-O", "qcow2",
                                 "d.qcow2", "o.qcow2"]),
    ("conv-bitmaps-2src", DATA, ["convert", "--bitmaps", "-O", "qcow2",
                                 "d.qcow2", "d.qcow2", "o.qcow2"]),
    ("conv-bitmaps-raw-src", RAW4M, ["convert", "--bitmaps", "-f", "raw",
                                     "-O", "qcow2", "r.raw", "o.qcow2"]),
    ("amend-backing-other", CHAIN, ["amend", "-o", "backing_file=nope",
                                    "top.qcow2"]),
    ("amend-backing-nofmt", CHAIN, ["amend", "-o", "backing_file=base.qcow2",
                                    "top.qcow2"]),
    ("amend-backing-same", CHAIN, ["amend", "-o",
                                   "backing_file=base.qcow2,backing_fmt=qcow2",
                                   "top.qcow2"]),
    ("cmp-size-and-content", DATA + RAW4M, ["compare", "d.qcow2", "r.raw"]),
    ("rebase-missing-nofmt", CHAIN, ["rebase", "-b", "nonexist",
                                     "top.qcow2"]),
    ("measure-prealloc-full", [], ["measure", "--size", "1G", "-O", "qcow2",
                                   "-o", "preallocation=full"]),
    ("measure-prealloc-falloc-file", DATA,
     ["measure", "-O", "qcow2", "-o", "preallocation=falloc", "d.qcow2"]),
    ("measure-bitmaps", BITMAPS, ["measure", "-O", "qcow2", "d.qcow2"]),
    ("measure-bitmaps-4k-json", BITMAPS, ["measure", "--output=json", "-O",
                                          "qcow2", "-o", "cluster_size=4k",
                                          "d.qcow2"]),
    ("measure-bitmaps-v2", BITMAPS, ["measure", "-O", "qcow2", "-o",
                                     "compat=0.10", "d.qcow2"]),
    ("measure-raw-src", RAW4M, ["measure", "-f", "raw", "-O", "qcow2",
                                "r.raw"]),
    ("conv-p-q", RAW4M, ["convert", "-p", "-q", "-f", "raw", "-O", "qcow2",
                         "r.raw", "o.qcow2"]),
    # -l reads through the snapshot's L1 at the image's current size (here
    # larger than the snapshot's), without copying or writing anything.
    ("conv-l-grown", SNAPGROWN, ["convert", "-O", "raw", "-l", "one",
                                 "g.qcow2", "o.raw"]),
    ("conv-l-grown-qcow2", SNAPGROWN, ["convert", "-O", "qcow2", "-l",
                                       "snapshot.name=two", "g.qcow2",
                                       "o.qcow2"]),
    ("measure-l", SNAPGROWN, ["measure", "-O", "qcow2", "-l", "one",
                              "g.qcow2"]),
    ("measure-l-id-json", SNAPGROWN, ["measure", "--output=json", "-O",
                                      "qcow2", "-l", "snapshot.id=2",
                                      "g.qcow2"]),
    ("measure-l-nope", SNAPGROWN, ["measure", "-O", "qcow2", "-l", "nope",
                                   "g.qcow2"]),
    ("measure-l-nofile", [], ["measure", "-O", "qcow2", "-l", "one",
                              "--size", "1G"]),
    # QEMU takes an empty snapshot name.
    ("snap-create-empty-name", DATA + [[Q, "snapshot", "-c", "", "d.qcow2"]],
     ["snapshot", "-c", "", "d.qcow2"]),
    ("info-snapshots", DATA + [[Q, "snapshot", "-c", "one", "d.qcow2"],
                               [Q, "snapshot", "-c", "two", "d.qcow2"]],
     ["info", "d.qcow2"]),
    ("info-snapshots-json", DATA + [[Q, "snapshot", "-c", "one", "d.qcow2"]],
     ["info", "--output=json", "d.qcow2"]),
    ("info-subdir-backing", [["mkdir", "sub"], mk("sub/a.qcow2", "1M"),
                             mk("sub/b.qcow2", "1M", "-b", "a.qcow2", "-F",
                                "qcow2")],
     ["info", "sub/b.qcow2"]),
    ("info-subdir-backing-json", [["mkdir", "sub"], mk("sub/a.qcow2", "1M"),
                                  mk("sub/b.qcow2", "1M", "-b", "a.qcow2",
                                     "-F", "qcow2")],
     ["info", "--output=json", "--backing-chain", "sub/b.qcow2"]),
    ("info-missing", [], ["info", "nonexist"]),
    ("info-not-qcow2", RAW4M, ["info", "-f", "qcow2", "r.raw"]),
    ("info-bad-output", DATA, ["info", "--output=xml", "d.qcow2"]),
    ("info-nofile", [], ["info"]),
    ("info-bad-option", [], ["info", "--bogus", "a"]),
    ("info-missing-arg", [], ["info", "--output"]),
    ("info-dirty", [dirty_image], ["info", "dirty.qcow2"]),
    ("info-dirty-json", [dirty_image], ["info", "--output=json",
                                        "dirty.qcow2"]),
    ("info-corrupt-bit", [corrupt_bit_image], ["info", "cb.qcow2"]),
    ("info-corrupt-bit-json", [corrupt_bit_image],
     ["info", "--output=json", "cb.qcow2"]),
    ("info-vmstate", DATA + [io("d.qcow2", "write -b -P 5 0 100k"),
                             [Q, "snapshot", "-c", "vm", "d.qcow2"]],
     ["info", "d.qcow2"]),
    ("info-extl2-zstd-data", [mk("x.qcow2", "2M", "-o",
                                 "extended_l2=on,compression_type=zstd"),
                              io("x.qcow2", "write -P 1 0 4k",
                                 "write -c -P 2 64k 64k")],
     ["info", "--output=json", "x.qcow2"]),
    # a backing file that has gone missing
    ("nobacking-info", NOBACK, ["info", "top.qcow2"]),
    ("nobacking-info-chain", NOBACK, ["info", "--backing-chain",
                                      "top.qcow2"]),
    ("nobacking-info-chain-json", NOBACK, ["info", "--backing-chain",
                                           "--output=json", "top.qcow2"]),
    ("nobacking-check", NOBACK, ["check", "top.qcow2"]),
    ("nobacking-map", NOBACK, ["map", "top.qcow2"]),
    ("nobacking-snapshot", NOBACK, ["snapshot", "-l", "top.qcow2"]),
    ("nobacking-convert", NOBACK, ["convert", "-O", "raw", "top.qcow2",
                                   "o.raw"]),
    ("nobacking-compare", NOBACK, ["compare", "top.qcow2", "top.qcow2"]),
    ("nobacking-resize", NOBACK, ["resize", "top.qcow2", "4M"]),
    ("nobacking-amend", NOBACK, ["amend", "-o", "lazy_refcounts=on",
                                 "top.qcow2"]),
    ("nobacking-commit", NOBACK, ["commit", "top.qcow2"]),
    ("nobacking-rebase-u", NOBACK, ["rebase", "-u", "-b", "x.qcow2", "-F",
                                    "qcow2", "top.qcow2"]),
    ("nobacking-measure", NOBACK, ["measure", "-O", "qcow2", "top.qcow2"]),
    # ---- check ----
    ("check-dirty", [dirty_image], ["check", "dirty.qcow2"]),
    ("check-dirty-json", [dirty_image], ["check", "--output=json",
                                         "dirty.qcow2"]),
    ("check-corrupt-bit", [corrupt_bit_image], ["check", "cb.qcow2"]),
    ("check-clean", DATA, ["check", "d.qcow2"]),
    ("check-json", DATA, ["check", "--output=json", "d.qcow2"]),
    ("check-quiet", DATA, ["check", "-q", "d.qcow2"]),
    ("check-empty", [mk("e.qcow2", "1G")], ["check", "e.qcow2"]),
    ("check-empty-json", [mk("e.qcow2", "1G")],
     ["check", "--output=json", "e.qcow2"]),
    ("check-raw", RAW4M, ["check", "r.raw"]),
    ("check-raw-json", RAW4M, ["check", "--output=json", "-f", "raw",
                               "r.raw"]),
    ("check-leak", [leak_image], ["check", "leak.qcow2"]),
    ("check-leak-json", [leak_image], ["check", "--output=json",
                                       "leak.qcow2"]),
    ("check-leak-repair", [leak_image], ["check", "-r", "leaks",
                                         "leak.qcow2"]),
    ("check-leak-repair-json", [leak_image],
     ["check", "-r", "all", "--output=json", "leak.qcow2"]),
    ("check-corrupt", [corrupt_image], ["check", "bad.qcow2"]),
    ("check-corrupt-json", [corrupt_image],
     ["check", "--output=json", "bad.qcow2"]),
    ("check-corrupt-repair-leaks", [corrupt_image],
     ["check", "-r", "leaks", "bad.qcow2"]),
    ("check-corrupt-repair-all", [corrupt_image],
     ["check", "-r", "all", "bad.qcow2"]),
    ("check-bad-r", DATA, ["check", "-r", "foo", "d.qcow2"]),
    ("check-missing", [], ["check", "nonexist"]),
    ("check-T-none", DATA, ["check", "-T", "none", "d.qcow2"]),
    ("check-T-none-repair", [leak_image], ["check", "-T", "none", "-r",
                                           "all", "leak.qcow2"]),
    ("check-snapshots", DATA + [[Q, "snapshot", "-c", "s", "d.qcow2"]],
     ["check", "d.qcow2"]),
    # ---- snapshot ----
    ("snap-list-empty", DATA, ["snapshot", "-l", "d.qcow2"]),
    ("snap-create", DATA, ["snapshot", "-c", "s1", "d.qcow2"]),
    ("snap-list", DATA + [[Q, "snapshot", "-c", "s1", "d.qcow2"],
                          [Q, "snapshot", "-c", "s2", "d.qcow2"]],
     ["snapshot", "-l", "d.qcow2"]),
    ("snap-default-list", DATA + [[Q, "snapshot", "-c", "s1", "d.qcow2"]],
     ["snapshot", "d.qcow2"]),
    ("snap-list-U", DATA + [[Q, "snapshot", "-c", "s1", "d.qcow2"]],
     ["snapshot", "-l", "-U", "d.qcow2"]),
    ("snap-create-dup", DATA + [[Q, "snapshot", "-c", "s1", "d.qcow2"]],
     ["snapshot", "-c", "s1", "d.qcow2"]),
    ("snap-apply", DATA + [[Q, "snapshot", "-c", "s1", "d.qcow2"],
                           io("d.qcow2", "write -P 0x55 0 128k")],
     ["snapshot", "-a", "s1", "d.qcow2"]),
    ("snap-apply-id", DATA + [[Q, "snapshot", "-c", "s1", "d.qcow2"],
                              io("d.qcow2", "write -P 0x55 0 128k")],
     ["snapshot", "-a", "1", "d.qcow2"]),
    ("snap-apply-missing", DATA, ["snapshot", "-a", "nope", "d.qcow2"]),
    ("snap-delete", DATA + [[Q, "snapshot", "-c", "s1", "d.qcow2"],
                            [Q, "snapshot", "-c", "s2", "d.qcow2"]],
     ["snapshot", "-d", "s1", "d.qcow2"]),
    ("snap-delete-by-id", DATA + [[Q, "snapshot", "-c", "s1", "d.qcow2"]],
     ["snapshot", "-d", "1", "d.qcow2"]),
    ("snap-delete-missing", DATA, ["snapshot", "-d", "nope", "d.qcow2"]),
    ("snap-mix", DATA, ["snapshot", "-c", "a", "-d", "b", "d.qcow2"]),
    ("snap-nofile", [], ["snapshot", "-c", "x"]),
    ("snap-missing", [], ["snapshot", "-l", "nonexist"]),
    ("snap-raw", RAW4M, ["snapshot", "-c", "x", "r.raw"]),
    ("snap-quiet", DATA, ["snapshot", "-q", "-c", "q", "d.qcow2"]),
    # ---- convert ----
    ("conv-raw-qcow2", RAW4M, ["convert", "-f", "raw", "-O", "qcow2",
                               "r.raw", "o.qcow2"]),
    ("conv-probe", RAW4M, ["convert", "-O", "qcow2", "r.raw", "o.qcow2"]),
    ("conv-qcow2-raw", DATA, ["convert", "-f", "qcow2", "-O", "raw",
                              "d.qcow2", "o.raw"]),
    ("conv-qcow2-qcow2", DATA, ["convert", "-O", "qcow2", "d.qcow2",
                                "o.qcow2"]),
    ("conv-progress", RAW4M, ["convert", "-p", "-f", "raw", "-O", "qcow2",
                              "r.raw", "o.qcow2"]),
    ("conv-compress", RAW4M, ["convert", "-c", "-f", "raw", "-O", "qcow2",
                              "r.raw", "o.qcow2"]),
    ("conv-compress-zstd", RAW4M, ["convert", "-c", "-o",
                                   "compression_type=zstd", "-f", "raw",
                                   "-O", "qcow2", "r.raw", "o.qcow2"]),
    # Compressible data: chunks are compressed in parallel but land in
    # order, so the file is qemu-img's, byte for byte.
    ("conv-compress-text", TEXT6M, ["convert", "-c", "-f", "raw", "-O",
                                    "qcow2", "t.raw", "o.qcow2"]),
    ("conv-compress-text-zstd", TEXT6M,
     ["convert", "-c", "-o", "compression_type=zstd", "-f", "raw", "-O",
      "qcow2", "t.raw", "o.qcow2"]),
    ("conv-compress-text-2M", TEXT6M,
     ["convert", "-c", "-o", "cluster_size=2M", "-m", "4", "-f", "raw",
      "-O", "qcow2", "t.raw", "o.qcow2"]),
    ("conv-compress-text-extl2", TEXT6M,
     ["convert", "-c", "-o", "extended_l2=on", "-f", "raw", "-O", "qcow2",
      "t.raw", "o.qcow2"]),
    # Small clusters: compressed data meets many refcount-block boundaries.
    ("conv-compress-text-512", TEXT6M,
     ["convert", "-c", "-o", "cluster_size=512", "-f", "raw", "-O", "qcow2",
      "t.raw", "o.qcow2"]),
    ("conv-compress-text-1k-zstd", TEXT6M,
     ["convert", "-c", "-o", "cluster_size=1k,compression_type=zstd", "-f",
      "raw", "-O", "qcow2", "t.raw", "o.qcow2"]),
    ("conv-compress-m1-W", RAW4M, ["convert", "-c", "-m", "1", "-W", "-f",
                                   "raw", "-O", "qcow2", "r.raw", "o.qcow2"]),
    ("conv-S0", RAW4M, ["convert", "-S", "0", "-f", "raw", "-O", "qcow2",
                        "r.raw", "o.qcow2"]),
    ("conv-S64k", RAW4M, ["convert", "-S", "64k", "-f", "raw", "-O", "qcow2",
                          "r.raw", "o.qcow2"]),
    ("conv-opts", RAW4M, ["convert", "-o", "cluster_size=4k,compat=0.10",
                          "-f", "raw", "-O", "qcow2", "r.raw", "o.qcow2"]),
    ("conv-extl2", DATA, ["convert", "-o", "extended_l2=on", "-O", "qcow2",
                          "d.qcow2", "o.qcow2"]),
    ("conv-chain", CHAIN, ["convert", "-O", "qcow2", "top.qcow2",
                           "o.qcow2"]),
    ("conv-chain-B", CHAIN, ["convert", "-B", "base.qcow2", "-F", "qcow2",
                             "-O", "qcow2", "top.qcow2", "o.qcow2"]),
    ("conv-concat", RAW4M + [mk("d.qcow2", "1M"),
                             io("d.qcow2", "write -P 9 4k 4k")],
     ["convert", "-O", "qcow2", "d.qcow2", "r.raw", "o.qcow2"]),
    ("conv-n", RAW4M + [mk("o.qcow2", "4M")],
     ["convert", "-n", "-f", "raw", "-O", "qcow2", "r.raw", "o.qcow2"]),
    ("conv-n-dirty-target", RAW4M + [mk("o.qcow2", "4M"),
                                     io("o.qcow2", "write -P 0xee 0 4M")],
     ["convert", "-n", "-f", "raw", "-O", "qcow2", "r.raw", "o.qcow2"]),
    ("conv-t-none", RAW4M, ["convert", "-t", "none", "-T", "none", "-f",
                            "raw", "-O", "qcow2", "r.raw", "o.qcow2"]),
    ("conv-T-none-chain", CHAIN, ["convert", "-T", "none", "-O", "qcow2",
                                  "top.qcow2", "o.qcow2"]),
    ("conv-t-directsync-raw", DATA, ["convert", "-t", "directsync", "-O",
                                     "raw", "d.qcow2", "o.raw"]),
    ("conv-t-none-odd-raw", [write_file("odd.raw", bytes(range(256)) * 4
                                        + b"tail")],
     ["convert", "-t", "none", "-f", "raw", "-O", "raw", "odd.raw",
      "o.raw"]),
    ("conv-t-none-compress", RAW4M, ["convert", "-c", "-t", "none", "-T",
                                     "none", "-f", "raw", "-O", "qcow2",
                                     "r.raw", "o.qcow2"]),
    ("conv-t-none-cl512", DATA, ["convert", "-t", "none", "-o",
                                 "cluster_size=512", "-O", "qcow2",
                                 "d.qcow2", "o.qcow2"]),
    ("conv-t-none-n", RAW4M + [mk("o.qcow2", "4M"),
                               io("o.qcow2", "write -P 0xee 1000 5000")],
     ["convert", "-n", "-t", "none", "-f", "raw", "-O", "qcow2", "r.raw",
      "o.qcow2"]),
    ("conv-U", DATA, ["convert", "-U", "-O", "raw", "d.qcow2", "o.raw"]),
    ("conv-noout", RAW4M, ["convert", "-O", "qcow2", "r.raw"]),
    ("conv-missing", [], ["convert", "-O", "qcow2", "nonexist", "o.qcow2"]),
    ("conv-badfmt", RAW4M, ["convert", "-f", "raw", "-O", "foo", "r.raw",
                            "o"]),
    ("conv-c-raw", RAW4M, ["convert", "-c", "-f", "raw", "-O", "raw",
                           "r.raw", "o.raw"]),
    ("conv-m0", RAW4M, ["convert", "-m", "0", "-f", "raw", "-O", "qcow2",
                        "r.raw", "o.qcow2"]),
    ("conv-m33", RAW4M, ["convert", "-m", "33", "-f", "raw", "-O", "qcow2",
                         "r.raw", "o.qcow2"]),
    ("conv-S-bad", RAW4M, ["convert", "-S", "1Q", "-f", "raw", "-O", "qcow2",
                           "r.raw", "o.qcow2"]),
    ("conv-S-unaligned", RAW4M, ["convert", "-S", "100", "-f", "raw", "-O",
                                 "qcow2", "r.raw", "o.qcow2"]),
    ("conv-n-missing", RAW4M, ["convert", "-n", "-f", "raw", "-O", "qcow2",
                               "r.raw", "nonexist.qcow2"]),
    ("conv-n-o", RAW4M, ["convert", "-n", "-f", "raw", "-O", "qcow2", "-o",
                         "cluster_size=4k", "r.raw", "o.qcow2"]),
    ("conv-tiz-no-n", RAW4M, ["convert", "--target-is-zero", "-f", "raw",
                              "-O", "qcow2", "r.raw", "o.qcow2"]),
    ("conv-B-raw", RAW4M, ["convert", "-B", "r.raw", "-f", "raw", "-O",
                           "raw", "r.raw", "o.raw"]),
    ("conv-B-nofmt", RAW4M, ["convert", "-f", "raw", "-O", "qcow2", "-B",
                             "r.raw", "r.raw", "o.qcow2"]),
    ("conv-badopt", RAW4M, ["convert", "-f", "raw", "-O", "qcow2", "-o",
                            "foo=1", "r.raw", "o.qcow2"]),
    ("conv-bad-cache", RAW4M, ["convert", "-t", "bogus", "-f", "raw", "-O",
                               "qcow2", "r.raw", "o.qcow2"]),
    ("conv-wrong-fmt", RAW4M, ["convert", "-f", "qcow2", "-O", "raw",
                               "r.raw", "o.raw"]),
    ("conv-help", [], ["convert", "-O", "qcow2", "-o", "help", "a", "b"]),
    ("conv-l-name", SNAPPED, ["convert", "-l", "one", "-O", "raw",
                              "d.qcow2", "o.raw"]),
    ("conv-l-id", SNAPPED, ["convert", "-l", "snapshot.id=1", "-O", "qcow2",
                            "d.qcow2", "o.qcow2"]),
    ("conv-l-kv-name", SNAPPED, ["convert", "-l", "snapshot.name=two", "-O",
                                 "raw", "d.qcow2", "o.raw"]),
    ("conv-l-missing", SNAPPED, ["convert", "-l", "nope", "-O", "raw",
                                 "d.qcow2", "o.raw"]),
    ("conv-l-mismatch", SNAPPED, ["convert", "-l",
                                  "snapshot.id=1,snapshot.name=two", "-O",
                                  "raw", "d.qcow2", "o.raw"]),
    ("conv-l-badkey", SNAPPED, ["convert", "-l", "snapshot.foo=1", "-O",
                                "raw", "d.qcow2", "o.raw"]),
    ("conv-l-multi", SNAPPED, ["convert", "-l", "one", "-O", "raw",
                               "d.qcow2", "d.qcow2", "o.raw"]),
    ("conv-l-raw", RAW4M, ["convert", "-l", "one", "-f", "raw", "-O", "raw",
                           "r.raw", "o.raw"]),
    ("conv-empty-1T", [mk("e.qcow2", "1T")], ["convert", "-O", "qcow2",
                                              "e.qcow2", "o.qcow2"]),
    ("conv-empty-1T-c", [mk("e.qcow2", "1T")], ["convert", "-c", "-O",
                                                "qcow2", "e.qcow2",
                                                "o.qcow2"]),
    ("conv-self-raw", RAW4M, ["convert", "-f", "raw", "-O", "raw", "r.raw",
                              "r.raw"]),
    ("conv-self-qcow2", RAW4M, ["convert", "-f", "raw", "-O", "qcow2",
                                "r.raw", "r.raw"]),
    ("conv-n-small", RAW4M + [mk("o.qcow2", "1M")],
     ["convert", "-n", "-f", "raw", "-O", "qcow2", "r.raw", "o.qcow2"]),
    ("conv-dirty", [dirty_image], ["convert", "-O", "raw", "dirty.qcow2",
                                   "o.raw"]),
    ("conv-corrupt-bit", [corrupt_bit_image], ["convert", "-O", "raw",
                                               "cb.qcow2", "o.raw"]),
    ("conv-v2-compress", RAW4M, ["convert", "-c", "-o", "compat=0.10", "-f",
                                 "raw", "-O", "qcow2", "r.raw", "o.qcow2"]),
    ("conv-backing-opt", CHAIN, ["convert", "-o",
                                 "backing_file=base.qcow2,backing_fmt=qcow2",
                                 "-O", "qcow2", "top.qcow2", "o.qcow2"]),
    # ---- compare ----
    ("cmp-strict-mixed", DATA + [[Q, "convert", "-O", "raw", "d.qcow2",
                                  "d.raw"]],
     ["compare", "-s", "d.raw", "d.qcow2"]),
    ("cmp-strict-qcow2", DATA + [[Q, "convert", "-O", "qcow2", "d.qcow2",
                                  "e.qcow2"]],
     ["compare", "-s", "d.qcow2", "e.qcow2"]),
    ("cmp-same", DATA + [[Q, "convert", "-O", "raw", "d.qcow2", "d.raw"]],
     ["compare", "d.raw", "d.qcow2"]),
    ("cmp-same-f", DATA + [[Q, "convert", "-O", "raw", "d.qcow2", "d.raw"]],
     ["compare", "-f", "raw", "-F", "qcow2", "d.raw", "d.qcow2"]),
    ("cmp-progress", DATA + [[Q, "convert", "-O", "raw", "d.qcow2",
                              "d.raw"]],
     ["compare", "-p", "d.raw", "d.qcow2"]),
    ("cmp-differ", DATA + [[Q, "convert", "-O", "raw", "d.qcow2", "d.raw"],
                           io("d.qcow2", "write -P 3 1028k 512")],
     ["compare", "d.raw", "d.qcow2"]),
    ("cmp-differ-unalloc", DATA + [mk("e.qcow2", "4M")],
     ["compare", "e.qcow2", "d.qcow2"]),
    ("cmp-differ-quiet", DATA + [mk("e.qcow2", "4M")],
     ["compare", "-q", "e.qcow2", "d.qcow2"]),
    ("cmp-size", [mk("a.qcow2", "1M"), mk("b.raw", "2M", fmt="raw")],
     ["compare", "a.qcow2", "b.raw"]),
    ("cmp-size-strict", [mk("a.qcow2", "1M"), mk("b.raw", "2M", fmt="raw")],
     ["compare", "-s", "a.qcow2", "b.raw"]),
    ("cmp-size-tail", [mk("a.qcow2", "1M"), mk("b.qcow2", "2M"),
                       io("b.qcow2", "write -P 1 1536k 4k")],
     ["compare", "a.qcow2", "b.qcow2"]),
    ("cmp-strict-same", [mk("a.raw", "1M", fmt="raw")],
     ["compare", "-s", "-f", "raw", "-F", "raw", "a.raw", "a.raw"]),
    ("cmp-chain", CHAIN + [[Q, "convert", "-O", "raw", "top.qcow2",
                            "t.raw"]],
     ["compare", "top.qcow2", "t.raw"]),
    ("cmp-missing", DATA, ["compare", "d.qcow2", "nonexist"]),
    ("cmp-T-none", DATA + [[Q, "convert", "-O", "raw", "d.qcow2", "d.raw"]],
     ["compare", "-T", "none", "d.raw", "d.qcow2"]),
    ("cmp-one-arg", DATA, ["compare", "d.qcow2"]),
    # ---- map ----
    ("map", CHAIN, ["map", "top.qcow2"]),
    ("map-json", CHAIN, ["map", "--output=json", "top.qcow2"]),
    ("map-data", [mk("m.qcow2", "4M"),
                  io("m.qcow2", "write -P 1 0 64k", "write -P 2 1M 128k",
                     "write -z 2M 64k")],
     ["map", "m.qcow2"]),
    ("map-data-json", [mk("m.qcow2", "4M"),
                       io("m.qcow2", "write -P 1 0 64k", "write -P 2 1M 128k",
                          "write -z 2M 64k")],
     ["map", "--output=json", "m.qcow2"]),
    ("map-compressed", MAPDATA, ["map", "d.qcow2"]),
    ("map-compressed-json", MAPDATA, ["map", "--output=json", "d.qcow2"]),
    ("map-partial-json", DATA, ["map", "--output=json", "d.qcow2"]),
    ("map-range", CHAIN, ["map", "--start-offset=64k", "--max-length=128k",
                          "top.qcow2"]),
    ("map-range-json", CHAIN, ["map", "--output=json", "--start-offset=64k",
                               "--max-length=512k", "top.qcow2"]),
    ("map-empty-json", [mk("e.qcow2", "1G")],
     ["map", "--output=json", "e.qcow2"]),
    ("map-raw-chain-json", [mk("b.raw", "1M", fmt="raw"),
                            mk("t.qcow2", "1M", "-b", "b.raw", "-F", "raw"),
                            io("t.qcow2", "write -P 1 0 64k")],
     ["map", "--output=json", "t.qcow2"]),
    ("map-extl2", [mk("x.qcow2", "1M", "-o", "extended_l2=on"),
                   io("x.qcow2", "write -P 1 0 4k", "write -P 2 8k 4k",
                      "write -z 64k 4k")],
     ["map", "--output=json", "x.qcow2"]),
    ("map-extl2-human", EXTL2, ["map", "x.qcow2"]),
    ("map-extl2-json", EXTL2, ["map", "--output=json", "x.qcow2"]),
    ("map-extl2-2M-json", [mk("x.qcow2", "8M", "-o",
                              "extended_l2=on,cluster_size=2M"),
                           io("x.qcow2", "write -P 1 0 4k",
                              "write -P 3 1M 100k", "write -z 3M 1M",
                              "write -P 5 7M 1M")],
     ["map", "--output=json", "x.qcow2"]),
    ("map-extl2-backing-json", EXTL2_BACKED,
     ["map", "--output=json", "x.qcow2"]),
    ("map-extl2-compressed-json", [mk("c.qcow2", "2M", "-o",
                                      "extended_l2=on"),
                                   io("c.qcow2", "write -c -P 1 0 64k",
                                      "write -P 2 64k 4k",
                                      "write -c -P 3 128k 64k")],
     ["map", "--output=json", "c.qcow2"]),
    # metadata preallocation: data clusters are split at host-file holes
    ("map-meta-json", META, ["map", "--output=json", "p.qcow2"]),
    ("map-meta-human", META, ["map", "p.qcow2"]),
    ("map-meta-cl512-json", [mk("p.qcow2", "1M", "-o",
                                "preallocation=metadata,cluster_size=512"),
                             io("p.qcow2", "write -P 1 0 1k",
                                "write -P 2 40k 20k")],
     ["map", "--output=json", "p.qcow2"]),
    ("map-meta-range-json", META, ["map", "--output=json",
                                   "--start-offset=5000",
                                   "--max-length=300000", "p.qcow2"]),
    ("map-meta-range-human", META, ["map", "--start-offset=4095",
                                    "--max-length=2", "p.qcow2"]),
    ("map-meta-zero-alloc-json", [mk("p.qcow2", "4M", "-o",
                                     "preallocation=metadata"),
                                  io("p.qcow2", "write -P 1 0 1M",
                                     "write -z 0 512k",
                                     "write -z -u 512k 64k")],
     ["map", "--output=json", "p.qcow2"]),
    ("map-meta-truncated-json", [mk("p.qcow2", "4M", "-o",
                                    "preallocation=metadata"),
                                 io("p.qcow2", "write -P 1 0 4k"),
                                 ["truncate", "-s", "600k", "p.qcow2"]],
     ["map", "--output=json", "p.qcow2"]),
    ("map-meta-backing-json", [mk("b.qcow2", "4M", "-o",
                                  "preallocation=metadata"),
                               io("b.qcow2", "write -P 1 0 4k",
                                  "write -P 2 1M 8k"),
                               mk("t.qcow2", "4M", "-b", "b.qcow2", "-F",
                                  "qcow2"),
                               io("t.qcow2", "write -P 5 512k 4k")],
     ["map", "--output=json", "t.qcow2"]),
    ("map-punched-json", [mk("a.qcow2", "4M"),
                          io("a.qcow2", "write -P 1 0 4M"),
                          ["fallocate", "-p", "-o", "393216", "-l", "196608",
                           "a.qcow2"],
                          ["fallocate", "-p", "-o", "2097152", "-l",
                           "1048576", "a.qcow2"]],
     ["map", "--output=json", "a.qcow2"]),
    ("map-punched-human", [mk("a.qcow2", "4M"),
                           io("a.qcow2", "write -P 1 0 4M"),
                           ["fallocate", "-p", "-o", "393216", "-l",
                            "196608", "a.qcow2"]],
     ["map", "a.qcow2"]),
    # backing shorter than the overlay: depth 0 past its end
    ("map-short-backing-json", [mk("b.qcow2", "1M"),
                                io("b.qcow2", "write -P 1 512k 4k"),
                                mk("t.qcow2", "3M", "-b", "b.qcow2", "-F",
                                   "qcow2"),
                                io("t.qcow2", "write -P 2 2M 4k")],
     ["map", "--output=json", "t.qcow2"]),
    ("map-chain3-json", CHAIN3, ["map", "--output=json", "t.qcow2"]),
    ("map-chain3-human", CHAIN3, ["map", "t.qcow2"]),
    ("map-chain3-range-json", CHAIN3, ["map", "--output=json",
                                       "--start-offset=1000",
                                       "--max-length=3000000", "t.qcow2"]),
    # raw: SEEK_DATA/SEEK_HOLE; a size in whole sectors
    ("map-raw-holes-json", RAWHOLES, ["map", "--output=json", "-f", "raw",
                                      "r.raw"]),
    ("map-raw-holes-human", RAWHOLES, ["map", "-f", "raw", "r.raw"]),
    ("map-raw-odd-json", [["truncate", "-s", "1000000", "r.raw"],
                          io("r.raw", "write -P 1 4k 4k", fmt="raw")],
     ["map", "--output=json", "-f", "raw", "r.raw"]),
    ("map-rawbacking-holes-json", [["truncate", "-s", "4M", "b.raw"],
                                   io("b.raw", "write -P 1 4k 4k",
                                      fmt="raw"),
                                   mk("t.qcow2", "6M", "-b", "b.raw", "-F",
                                      "raw"),
                                   io("t.qcow2", "write -P 5 512k 4k")],
     ["map", "--output=json", "t.qcow2"]),
    ("map-v2-json", [mk("v.qcow2", "4M", "-o", "compat=0.10"),
                     io("v.qcow2", "write -P 1 0 4k", "write -z 1M 64k",
                        "write -P 3 2M 8k")],
     ["map", "--output=json", "v.qcow2"]),
    ("map-bad-output", DATA, ["map", "--output=xml", "d.qcow2"]),
    ("map-bad-start", DATA, ["map", "--start-offset=1Q", "d.qcow2"]),
    # ---- resize ----
    ("resize-grow", [mk("x.qcow2", "1M")], ["resize", "x.qcow2", "2M"]),
    ("resize-plus", [mk("x.qcow2", "1M")], ["resize", "x.qcow2", "+1M"]),
    ("resize-shrink-refused", [mk("x.qcow2", "2M")],
     ["resize", "x.qcow2", "-1M"]),
    ("resize-shrink", [mk("x.qcow2", "2M")],
     ["resize", "--shrink", "x.qcow2", "-1M"]),
    ("resize-same", [mk("x.qcow2", "2M")], ["resize", "x.qcow2", "2M"]),
    ("resize-negative", [mk("x.qcow2", "2M")],
     ["resize", "x.qcow2", "--", "-5M"]),
    ("resize-badsize", [mk("x.qcow2", "1M")], ["resize", "x.qcow2", "1Q"]),
    ("resize-quiet", [mk("x.qcow2", "1M")], ["resize", "-q", "x.qcow2",
                                             "4M"]),
    ("resize-raw", [mk("r.raw", "1M", fmt="raw")],
     ["resize", "-f", "raw", "r.raw", "2M"]),
    ("resize-raw-probe", [mk("r.raw", "1M", fmt="raw")],
     ["resize", "r.raw", "3M"]),
    ("resize-raw-shrink", [mk("r.raw", "2M", fmt="raw")],
     ["resize", "--shrink", "-f", "raw", "r.raw", "1M"]),
    ("resize-prealloc-full", [mk("x.qcow2", "1M")],
     ["resize", "--preallocation=full", "x.qcow2", "3M"]),
    # Unaligned old sizes and a snapshot: the partial first cluster is
    # copied (shared) or allocated (unmapped) as QEMU does.
    ("resize-prealloc-falloc-snap", PARTIAL + [[Q, "snapshot", "-c", "s1", "x.qcow2"]],
     ["resize", "--preallocation=falloc", "x.qcow2", "700M"]),
    ("resize-prealloc-meta-snap", PARTIAL + [[Q, "snapshot", "-c", "s1", "x.qcow2"]],
     ["resize", "--preallocation=metadata", "x.qcow2", "2049k"]),
    ("resize-prealloc-meta-unmapped",
     [mk("x.qcow2", "1049088", "-o", "cluster_size=4k"),
      io("x.qcow2", "write -P 0x5a 0 1023488")],
     ["resize", "--preallocation=metadata", "x.qcow2", "700M"]),
    ("resize-prealloc-full-extl2",
     [mk("x.qcow2", "1049088", "-o", "extended_l2=on"),
      io("x.qcow2", "write -P 0x5a 0 1023488")],
     ["resize", "--preallocation=full", "x.qcow2", "3M"]),
    ("resize-prealloc-shrink", [mk("x.qcow2", "2M")],
     ["resize", "--preallocation=falloc", "x.qcow2", "1M"]),
    ("resize-missing", [], ["resize", "nonexist", "1M"]),
    ("resize-args", [mk("x.qcow2", "1M")], ["resize", "x.qcow2"]),
    ("resize-prealloc-bogus", [mk("x.qcow2", "1M")],
     ["resize", "--preallocation=bogus", "x.qcow2", "9M"]),
    ("resize-snapshot", DATA + [[Q, "snapshot", "-c", "s", "d.qcow2"]],
     ["resize", "d.qcow2", "8M"]),
    ("resize-data-shrink", DATA, ["resize", "--shrink", "d.qcow2", "2M"]),
    # ---- commit ----
    ("commit", CHAIN, ["commit", "top.qcow2"]),
    ("commit-d", CHAIN, ["commit", "-d", "top.qcow2"]),
    ("commit-b", CHAIN, ["commit", "-b", "base.qcow2", "top.qcow2"]),
    ("commit-p", CHAIN, ["commit", "-p", "top.qcow2"]),
    ("commit-q", CHAIN, ["commit", "-q", "top.qcow2"]),
    ("commit-t-none", CHAIN, ["commit", "-t", "none", "top.qcow2"]),
    ("commit-nobacking", CHAIN, ["commit", "base.qcow2"]),
    ("commit-b-nope", CHAIN, ["commit", "-b", "nope", "top.qcow2"]),
    ("commit-3", CHAIN + [mk("t3.qcow2", "2M", "-b", "top.qcow2", "-F",
                             "qcow2"),
                          io("t3.qcow2", "write -P 3 128k 64k")],
     ["commit", "-b", "base.qcow2", "t3.qcow2"]),
    # ---- rebase ----
    ("rebase-unsafe", CHAIN + [mk("b2.qcow2", "2M")],
     ["rebase", "-u", "-b", "b2.qcow2", "-F", "qcow2", "top.qcow2"]),
    ("rebase-safe", CHAIN + [mk("b2.qcow2", "2M"),
                             io("b2.qcow2", "write -P 5 0 512k")],
     ["rebase", "-b", "b2.qcow2", "-F", "qcow2", "top.qcow2"]),
    ("rebase-flatten", CHAIN, ["rebase", "-b", "", "top.qcow2"]),
    ("rebase-t-none", CHAIN + [mk("b2.qcow2", "2M"),
                               io("b2.qcow2", "write -P 5 0 512k")],
     ["rebase", "-t", "none", "-T", "none", "-b", "b2.qcow2", "-F", "qcow2",
      "top.qcow2"]),
    ("rebase-nofmt", CHAIN + [mk("b2.qcow2", "2M")],
     ["rebase", "-b", "b2.qcow2", "top.qcow2"]),
    ("rebase-missing-new", CHAIN, ["rebase", "-b", "nonexist", "-F", "qcow2",
                                   "top.qcow2"]),
    ("rebase-unsafe-remove", CHAIN, ["rebase", "-u", "-b", "", "top.qcow2"]),
    ("rebase-noargs", CHAIN, ["rebase", "top.qcow2"]),
    ("rebase-progress", CHAIN + [mk("b2.qcow2", "2M")],
     ["rebase", "-p", "-b", "b2.qcow2", "-F", "qcow2", "top.qcow2"]),
    # ---- amend ----
    ("amend-v2", DATA[:1], ["amend", "-o", "compat=0.10", "d.qcow2"]),
    ("amend-rb8", DATA, ["amend", "-o", "refcount_bits=8", "d.qcow2"]),
    ("amend-lazy", DATA, ["amend", "-o", "lazy_refcounts=on", "d.qcow2"]),
    ("amend-size", DATA, ["amend", "-o", "size=8M", "d.qcow2"]),
    ("amend-progress", DATA, ["amend", "-p", "-o", "lazy_refcounts=off",
                              "d.qcow2"]),
    ("amend-noopts", DATA, ["amend", "d.qcow2"]),
    ("amend-t-none", DATA, ["amend", "-t", "none", "-o", "refcount_bits=8",
                            "d.qcow2"]),
    ("amend-badopt", DATA, ["amend", "-o", "foo=1", "d.qcow2"]),
    ("amend-create-only", DATA, ["amend", "-o", "cluster_size=4k",
                                 "d.qcow2"]),
    ("amend-raw", RAW4M, ["amend", "-f", "raw", "-o", "compat=0.10",
                          "r.raw"]),
    ("amend-nofile", [], ["amend", "-o", "compat=0.10"]),
    # ---- measure ----
    ("measure-size", [], ["measure", "--size", "1G"]),
    ("measure-size-qcow2", [], ["measure", "-O", "qcow2", "--size", "1G"]),
    ("measure-size-json", [], ["measure", "--output=json", "-O", "qcow2",
                               "--size", "1G"]),
    ("measure-cl4k", [], ["measure", "-O", "qcow2", "-o", "cluster_size=4k",
                          "--size", "100M", "--output=json"]),
    ("measure-image", DATA, ["measure", "-O", "qcow2", "d.qcow2"]),
    ("measure-image-json", DATA, ["measure", "--output=json", "-O", "qcow2",
                                  "d.qcow2"]),
    ("measure-image-raw", DATA, ["measure", "-O", "raw", "d.qcow2"]),
    ("measure-both", DATA, ["measure", "--size", "1M", "d.qcow2"]),
    ("measure-snapshot-img", MAPDATA + [[Q, "snapshot", "-c", "s",
                                         "d.qcow2"]],
     ["measure", "-O", "qcow2", "-o", "cluster_size=4k", "d.qcow2"]),
    ("measure-none", [], ["measure"]),
    # ---- bench ----
    ("bench-read", DATA, ["bench", "-c", "1000", "d.qcow2"]),
    ("bench-write", DATA, ["bench", "-w", "-c", "1000", "-d", "4", "-s",
                           "512", "-S", "1k", "-o", "4096",
                           "--pattern=0xab", "--flush-interval=100",
                           "d.qcow2"]),
    ("bench-none", DATA, ["bench", "-c", "500", "-t", "none", "d.qcow2"]),
    ("bench-zero", DATA, ["bench", "-c", "0", "d.qcow2"]),
    ("bench-none-write", DATA, ["bench", "-w", "-t", "none", "-c", "300",
                                "-s", "1000", "-S", "3000", "d.qcow2"]),
    ("bench-past-end", DATA, ["bench", "-c", "10", "-o", "8M", "d.qcow2"]),
    ("bench-big", DATA, ["bench", "-c", "2", "-d", "1", "-s", "5M", "d.qcow2"]),
    ("bench-bad-count", DATA, ["bench", "-c", "abc", "d.qcow2"]),
    ("bench-bad-offset", DATA, ["bench", "-c", "10", "-o", "1Q", "d.qcow2"]),
    ("bench-bad-pattern", DATA, ["bench", "-w", "--pattern=300", "-c", "10",
                                 "d.qcow2"]),
    ("bench-flush-read", DATA, ["bench", "--flush-interval=10", "-c", "10",
                                "d.qcow2"]),
    ("bench-flush-depth", DATA, ["bench", "-w", "--no-drain",
                                 "--flush-interval=5", "-c", "10",
                                 "d.qcow2"]),
    ("bench-bad-aio", DATA, ["bench", "-i", "foo", "-c", "10", "d.qcow2"]),
    ("bench-native", DATA, ["bench", "-n", "-c", "10", "d.qcow2"]),
    ("bench-U-write", DATA, ["bench", "-U", "-w", "-c", "10", "d.qcow2"]),
    ("bench-raw", RAW4M, ["bench", "-f", "raw", "-c", "100", "r.raw"]),
]

# Cases whose output files are byte-identical to qemu-img's (same layout).
BYTE_EQUAL = {
    "amend-lazy", "amend-size", "amend-v2", "check-T-none-repair", "conv-S0",
    "conv-S64k", "conv-T-none-chain", "conv-chain", "conv-compress-m1-W",
    "conv-concat", "conv-corrupt-bit", "conv-dirty", "conv-empty-1T",
    "conv-empty-1T-c", "conv-extl2", "conv-l-id", "conv-l-kv-name",
    "conv-l-name", "conv-n", "conv-opts", "conv-probe", "conv-qcow2-qcow2",
    "conv-qcow2-raw", "conv-raw-qcow2", "conv-self-qcow2", "conv-self-raw",
    "conv-t-directsync-raw", "conv-t-none", "conv-t-none-cl512",
    "conv-t-none-n", "conv-t-none-odd-raw", "create-backing",
    "create-backing-raw", "create-cl4k-lazy", "create-extl2-zstd-rb4",
    "create-prealloc-meta", "create-qcow2", "create-rb1-cl1k", "create-v2",
    "rebase-flatten", "rebase-safe", "rebase-t-none", "rebase-unsafe",
    "rebase-unsafe-remove", "resize-data-shrink", "resize-grow", "resize-raw",
    "resize-snapshot",
    # Preallocation: QEMU's new refcount area (qcow2_refcount_area) before
    # the data, the L2 tables in the freed first refcount table.
    "create-prealloc-falloc", "create-prealloc-full",
    "create-prealloc-falloc-big", "create-prealloc-meta-extl2",
    "create-prealloc-full-extl2", "resize-prealloc-full",
    "resize-prealloc-falloc-snap", "resize-prealloc-meta-snap",
    "resize-prealloc-meta-unmapped", "resize-prealloc-full-extl2",
    # commit: zeros unmapped in the base (holes punched), the top emptied
    # as QEMU's make_completely_empty() leaves it.
    "commit", "commit-d", "commit-b", "commit-p", "commit-q", "commit-3",
    "commit-t-none",
    "conv-compress", "conv-compress-zstd", "conv-compress-text",
    "conv-compress-text-zstd", "conv-compress-text-2M",
    "conv-compress-text-extl2", "conv-compress-text-512",
    "conv-compress-text-1k-zstd", "conv-t-none-compress", "conv-v2-compress",
    "conv-l-grown", "conv-l-grown-qcow2",
}


def _info(d, path):
    p = sh([QEMU_IMG, "info", "-U", "--output=json", path], d)
    j = json.loads(p.stdout)
    j.pop("actual-size", None)
    for s in j.get("snapshots", []):
        s.pop("date-sec", None)
        s.pop("date-nsec", None)
    return j


def _id(c):
    return c.values[0] if hasattr(c, "values") else c[0]


def _state(d):
    """{name: (size, mtime_ns)} of the regular files in @d."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns)
            for p in d.iterdir() if p.is_file()}


def _changed(base, d):
    """Names of the files of @d that the command created or changed (the
    inputs were copied from @base with their mtimes), and of those it
    removed. A file rewritten with the same bytes counts as unchanged."""
    before, after = _state(base), _state(d)
    changed = set()
    for n, st in after.items():
        if n not in before:
            changed.add(n)
        elif st != before[n] and not filecmp.cmp(base / n, d / n,
                                                 shallow=False):
            changed.add(n)
    return changed, set(before) - set(after)


def _fmt(path):
    with open(path, "rb") as f:
        return "qcow2" if f.read(4) == b"QFI\xfb" else "raw"


_END_OFFSET = re.compile(r"Image end offset: \d+\n")


def _check(d, name):
    p = sh([QEMU_IMG, "check", "-U", name], d, check=False)
    return p.returncode, _END_OFFSET.sub("", p.stdout) + p.stderr


# Failing commands after which qemu-img leaves a file behind that rrvm-img,
# which checks its arguments first, does not create or change. The guest
# content of whatever rrvm-img left must still equal qemu-img's.
QEMU_WRITES_BEFORE_ERROR = {
    # created empty, then the raw driver refuses the mode
    "create-raw-prealloc-meta",
    # the target is created before the cache mode is parsed
    "conv-bad-cache",
    # safe rebase copies the clusters that differ into the top, then
    # refuses to record a backing file without its format
    "rebase-nofmt",
}


def _missing_backing(d, info):
    full = info.get("full-backing-filename")
    return full is not None and not (d / full).exists()


def _compare_top(qd, rd, path):
    """qemu-img compare of two qcow2 images whose backing file is missing:
    their own layers only (a missing backing file cannot be opened)."""
    def spec(d):
        return "json:" + json.dumps({
            "driver": "qcow2", "backing": None,
            "file": {"driver": "file", "filename": str(d / path)}})
    p = sh([QEMU_IMG, "compare", spec(qd), spec(rd)], rd, check=False)
    assert p.returncode == 0, f"qemu-img compare {path}: {p.stdout}{p.stderr}"


def check_outputs(name, q_rc, qd, rd, base):
    """Every file the command created or changed, in both directories:
    the same set of files; qemu-img check of rrvm-img's qcow2 images is
    clean, or says exactly what it says of qemu-img's; each equals
    qemu-img's result for the same command (qemu-img compare, qemu-img
    info, and the bytes where promised)."""
    qch, qrm = _changed(base, qd)
    rch, rrm = _changed(base, rd)
    if name in QEMU_WRITES_BEFORE_ERROR and q_rc != 0:
        assert rch <= qch and rrm == qrm, f"rrvm changed {rch}/{rrm}"
        rch = {n for n in qch if (rd / n).exists()}
    else:
        assert (rch, rrm) == (qch, qrm), \
            f"files changed/removed: rrvm {rch}/{rrm}, qemu-img {qch}/{qrm}"
    for path in sorted(rch):
        fmt = _fmt(rd / path)
        assert _fmt(qd / path) == fmt, path
        if fmt == "qcow2":
            rc, out = _check(rd, path)
            if rc != 0:
                assert (rc, out) == _check(qd, path), \
                    f"qemu-img check {path}: {rc}\n{out}"
            ri = _info(rd, path)
            assert ri == _info(qd, path), path
            if _missing_backing(rd, ri):
                _compare_top(qd, rd, path)
                continue
        qemu_compare(qd / path, rd / path, fmt, fmt)
        if name in BYTE_EQUAL:
            assert filecmp.cmp(qd / path, rd / path, shallow=False), path


def test_case_lists_name_cases():
    names = {_id(c) for c in CASES}
    assert len(names) == len(CASES)
    assert BYTE_EQUAL <= names, BYTE_EQUAL - names
    assert QEMU_WRITES_BEFORE_ERROR <= names


@pytest.mark.parametrize("name,setup,cmd", CASES, ids=[_id(c) for c in CASES])
def test_same_as_qemu_img(rrvm_img, tmp_path, name, setup, cmd):
    q, r, qd, rd = run_both(tmp_path, rrvm_img, setup, cmd, name)
    assert_same(q, r, cmd)
    check_outputs(name, q[0], qd, rd, tmp_path / f"{name}-setup")


# cache=none on tmpfs (which takes O_DIRECT on current kernels) and on a
# ramfs, which refuses it: qemu-img then fails to open with "filesystem does
# not support O_DIRECT" after creating the target.
CACHE_NONE = [
    ("conv-t-none", RAW4M, ["convert", "-t", "none", "-f", "raw", "-O",
                            "qcow2", "r.raw", "o.qcow2"]),
    ("conv-T-none", RAW4M, ["convert", "-T", "none", "-f", "raw", "-O",
                            "qcow2", "r.raw", "o.qcow2"]),
    ("conv-t-directsync-raw", DATA, ["convert", "-t", "directsync", "-O",
                                     "raw", "d.qcow2", "o.raw"]),
    ("conv-t-none-n", RAW4M + [mk("o.qcow2", "4M")],
     ["convert", "-n", "-t", "none", "-f", "raw", "-O", "qcow2", "r.raw",
      "o.qcow2"]),
    ("check-T-none", DATA, ["check", "-T", "none", "d.qcow2"]),
    ("cmp-T-none", DATA, ["compare", "-T", "none", "d.qcow2", "d.qcow2"]),
    ("commit-t-none", CHAIN, ["commit", "-t", "none", "top.qcow2"]),
    ("bench-t-none", DATA, ["bench", "-c", "100", "-t", "none", "d.qcow2"]),
    ("map-default", DATA, ["map", "--output=json", "d.qcow2"]),
]
CACHE_NONE_FILES = {"conv-t-none": "o.qcow2", "conv-T-none": "o.qcow2",
                    "conv-t-directsync-raw": "o.raw",
                    "conv-t-none-n": "o.qcow2", "commit-t-none": "base.qcow2"}


def _files(d):
    return sorted((p.name, p.stat().st_size) for p in d.iterdir())


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs /dev/shm")
@pytest.mark.parametrize("name,setup,cmd", CACHE_NONE,
                         ids=[c[0] for c in CACHE_NONE])
def test_cache_none_tmpfs(rrvm_img, name, setup, cmd):
    d = Path(tempfile.mkdtemp(prefix="rrvm-img-", dir="/dev/shm"))
    try:
        q, r, qd, rd = run_both(d, rrvm_img, setup, cmd, name)
        assert_same(q, r, cmd)
        assert _files(rd) == _files(qd)
        out = CACHE_NONE_FILES.get(name)
        if out and q[0] == 0:
            qemu_compare(qd / out, rd / out)
            if name.startswith("conv"):
                assert (rd / out).stat().st_size == (qd / out).stat().st_size
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _unshare_works():
    if not shutil.which("unshare"):
        return False
    d = tempfile.mkdtemp(prefix="rrvm-img-")
    p = subprocess.run(["unshare", "-rm", "mount", "-t", "ramfs", "none", d],
                       capture_output=True)
    shutil.rmtree(d, ignore_errors=True)
    return p.returncode == 0


_RAMFS_SCRIPT = """set -e
D="$1"; M="$2"; shift 2
mount -t ramfs none "$M"
cp -a "$D"/. "$M"/
cd "$M"
set +e
"$@"
rc=$?
set -e
find "$D" -mindepth 1 -delete
cp -a "$M"/. "$D"/
exit $rc
"""


def _in_ramfs(tool, d, mnt, cmd):
    """Run @tool @cmd with the files of @d copied into a private ramfs at
    @mnt (in a user and mount namespace), then copy every file back."""
    mnt.mkdir()
    p = subprocess.run(["unshare", "-rm", "sh", "-c", _RAMFS_SCRIPT, "sh",
                        str(d), str(mnt), tool] + cmd, capture_output=True,
                       timeout=300)
    return (p.returncode, filt(p.stdout.decode()), filt(p.stderr.decode()))


@pytest.mark.skipif(not _unshare_works(),
                    reason="needs unshare -rm and ramfs mounts")
@pytest.mark.parametrize("name,setup,cmd", CACHE_NONE,
                         ids=[c[0] for c in CACHE_NONE])
def test_cache_none_refused(rrvm_img, tmp_path, name, setup, cmd):
    base = tmp_path / "setup"
    setup_dir(base, setup)
    res = {}
    for tool, exe in (("q", QEMU_IMG), ("r", str(Path(rrvm_img).resolve()))):
        d = tmp_path / tool
        shutil.copytree(base, d)
        res[tool] = _in_ramfs(exe, d, tmp_path / (tool + "-mnt"), cmd)
    assert_same(res["q"], res["r"], cmd)
    assert _files(tmp_path / "r") == _files(tmp_path / "q")
