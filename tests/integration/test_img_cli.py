"""rrvm-img's own command-line surface where it cannot be byte-identical to
qemu-img (its name and version) and the options it refuses on purpose."""
import ctypes
import mmap
import os
import subprocess

import pytest

from test_img_common import QEMU_IMG, sh

COMMANDS = ["amend", "bench", "check", "commit", "compare", "convert",
            "create", "info", "map", "measure", "snapshot", "rebase",
            "resize"]


def run(argv, cwd):
    return subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def test_version(rrvm_img, tmp_path):
    for opt in ("-V", "--version"):
        p = run([rrvm_img, opt], tmp_path)
        assert p.returncode == 0
        assert p.stdout.startswith("rrvm-img version 0.1.0")
        assert p.stderr == ""


# resize takes its size argument before parsing options, so (as with
# qemu-img) "resize --help" alone is "Not enough arguments".
@pytest.mark.parametrize("argv", [["-h"], ["--help"]] +
                         [[c, "--help"] for c in COMMANDS if c != "resize"] +
                         [[c, "-h"] for c in COMMANDS if c != "resize"] +
                         [["resize", "--help", "x"]])
def test_help(rrvm_img, tmp_path, argv):
    p = run([rrvm_img] + argv, tmp_path)
    assert p.returncode == 0, p.stderr
    assert "usage: rrvm-img [standard options] command" in p.stdout
    # every command the tool has is described
    for c in COMMANDS:
        assert f"\n  {c} " in p.stdout
    assert "Supported formats: qcow2 raw" in p.stdout
    assert p.stderr == ""


@pytest.mark.parametrize("cmd,opt", [
    ("info", "--image-opts"), ("info", "--object=secret,id=s0,data=x"),
    ("check", "--image-opts"), ("map", "--image-opts"),
    ("convert", "--image-opts"), ("convert", "--target-image-opts"),
    ("compare", "--object=secret,id=s0,data=x"),
    ("create", "--object=secret,id=s0,data=x"), ("snapshot", "--image-opts"),
    ("resize", "--image-opts"), ("commit", "--image-opts"),
    ("rebase", "--image-opts"), ("amend", "--image-opts"),
    ("measure", "--image-opts"), ("bench", "--image-opts")])
def test_refused_options(rrvm_img, tmp_path, cmd, opt):
    rrvm_img = os.path.abspath(rrvm_img)
    sh(["qemu-img", "create", "-q", "-f", "qcow2", "a.qcow2", "1M"], tmp_path)
    before = (tmp_path / "a.qcow2").read_bytes()
    extra = {"resize": ["a.qcow2", "2M"], "compare": ["a.qcow2", "a.qcow2"],
             "convert": ["a.qcow2", "b.qcow2"], "amend": ["-o",
                                                         "compat=0.10",
                                                         "a.qcow2"],
             "create": ["-f", "qcow2", "c.qcow2", "1M"],
             "snapshot": ["-l", "a.qcow2"]}.get(cmd, ["a.qcow2"])
    p = run([rrvm_img, cmd, opt] + extra, tmp_path)
    assert p.returncode in (1, 2)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rrvm-img: ")
    assert opt.split("=")[0] in lines[0]
    assert p.stdout == ""
    assert (tmp_path / "a.qcow2").read_bytes() == before
    assert not (tmp_path / "b.qcow2").exists()
    assert not (tmp_path / "c.qcow2").exists()


@pytest.mark.skipif(QEMU_IMG is None, reason="needs qemu-img")
@pytest.mark.parametrize("mode", ["none", "writeback", "writethrough",
                                  "directsync", "unsafe"])
def test_cache_modes(rrvm_img, tmp_path, mode):
    """Every cache mode copies correctly both ways and leaves a clean
    image."""
    rrvm_img = os.path.abspath(rrvm_img)
    data = os.urandom(256 << 10) + bytes(256 << 10) + os.urandom(512 << 10)
    (tmp_path / "s.raw").write_bytes(data)
    sh([rrvm_img, "convert", "-t", mode, "-T", mode, "-f", "raw", "-O",
        "qcow2", "s.raw", "o.qcow2"], tmp_path)
    sh([QEMU_IMG, "check", "o.qcow2"], tmp_path)
    sh([rrvm_img, "convert", "-T", mode, "-O", "raw", "o.qcow2", "b.raw"],
       tmp_path)
    assert (tmp_path / "b.raw").read_bytes() == data
    sh([rrvm_img, "bench", "-w", "-t", mode, "-c", "64", "-d", "8",
        "o.qcow2"], tmp_path)
    # commit through the cache mode: an overlay on o.qcow2 with new data
    # over part of it, committed down; the base then reads as the overlay
    # did, and both images are clean.
    sh([QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", "o.qcow2", "-F",
        "qcow2", "top.qcow2"], tmp_path)
    sh(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5c 192k 128k", "-c",
        "write -z 640k 64k", "top.qcow2"], tmp_path)
    sh([QEMU_IMG, "convert", "-O", "raw", "top.qcow2", "want.raw"], tmp_path)
    sh([rrvm_img, "commit", "-t", mode, "-q", "top.qcow2"], tmp_path)
    sh([QEMU_IMG, "check", "o.qcow2"], tmp_path)
    sh([QEMU_IMG, "check", "top.qcow2"], tmp_path)
    sh([QEMU_IMG, "compare", "-f", "raw", "-F", "qcow2", "want.raw",
        "o.qcow2"], tmp_path)
    sh([QEMU_IMG, "compare", "-f", "raw", "-F", "qcow2", "want.raw",
        "top.qcow2"], tmp_path)
    bad = run([rrvm_img, "convert", "-t", "bogus", "-f", "raw", "-O",
               "qcow2", "s.raw", "x.qcow2"], tmp_path)
    assert bad.returncode == 1
    assert bad.stderr == "rrvm-img: Invalid cache option: bogus\n"


def resident_bytes(path):
    """Bytes of @path in the page cache, by mincore() over a mapping."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                          ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                             ctypes.c_char_p]
    size = os.path.getsize(path)
    page = os.sysconf("SC_PAGE_SIZE")
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert addr != ctypes.c_void_p(-1).value, os.strerror(ctypes.get_errno())
        vec = ctypes.create_string_buffer((size + page - 1) // page)
        try:
            assert libc.mincore(addr, size, vec) == 0
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)
    return sum(b & 1 for b in vec.raw) * page


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@pytest.mark.parametrize("out_fmt", ["qcow2", "raw"])
def test_cache_none_bypasses_page_cache(rrvm_img, tmp_path, out_fmt):
    """-t none writes the target and -T none reads the source with
    O_DIRECT: neither lands in the page cache, while the default modes do
    (which shows the measurement can tell)."""
    rrvm_img = os.path.abspath(rrvm_img)
    size = 16 << 20
    src = tmp_path / "s.raw"
    src.write_bytes(os.urandom(size))
    for mode, src_mode in (("none", "none"), ("writeback", "writeback")):
        out = tmp_path / f"o-{mode}.{out_fmt}"
        evict(src)
        assert resident_bytes(src) < size // 4
        sh([rrvm_img, "convert", "-t", mode, "-T", src_mode, "-f", "raw",
            "-O", out_fmt, str(src), str(out)], tmp_path)
        cached_out = resident_bytes(out)
        cached_src = resident_bytes(src)
        if mode == "none":
            # creating the image writes a few metadata clusters buffered
            assert cached_out < 1 << 20, cached_out
            assert cached_src < 1 << 20, cached_src
        else:
            assert cached_out > size // 2, cached_out
            assert cached_src > size // 2, cached_src
        assert raw_read(rrvm_img, out, out_fmt, tmp_path) == src.read_bytes()


def raw_read(rrvm_img, img, fmt, d):
    back = d / "back.raw"
    sh([rrvm_img, "convert", "-f", fmt, "-O", "raw", str(img), str(back)], d)
    data = back.read_bytes()
    back.unlink()
    return data


def test_errors_are_one_line(rrvm_img, tmp_path):
    """A sample of bad inputs: one rrvm-img: line each, exit 1, no core."""
    (tmp_path / "junk").write_bytes(b"QFI\xfb" + os.urandom(4000))
    for argv in (["info", "nonexist"], ["info", "-f", "qcow2", "junk"],
                 ["check", "-f", "qcow2", "junk"],
                 ["convert", "-f", "qcow2", "-O", "raw", "junk", "o.raw"],
                 ["snapshot", "-l", "junk"], ["map", "-f", "qcow2", "junk"],
                 ["resize", "-f", "qcow2", "junk", "1M"],
                 ["create", "-f", "qcow2", "x", "1Q"],
                 ["bench", "-f", "qcow2", "-c", "1", "junk"]):
        p = run([rrvm_img] + argv, tmp_path)
        assert p.returncode == 1, (argv, p.returncode, p.stderr)
        assert p.stderr.startswith("rrvm-img: "), (argv, p.stderr)
        assert p.stdout == "" or argv[0] == "bench", (argv, p.stdout)


@pytest.mark.skipif(QEMU_IMG is None, reason="needs qemu-img and qemu-io")
def test_locked_image_same_as_qemu_img(rrvm_img, tmp_path):
    """While qemu-io holds an image open, both tools refuse the same way."""
    from test_img_common import filt
    sh([QEMU_IMG, "create", "-q", "-f", "qcow2", "l.qcow2", "1M"], tmp_path)
    sh([QEMU_IMG, "create", "-q", "-f", "qcow2", "s.qcow2", "1M"], tmp_path)
    before = (tmp_path / "l.qcow2").read_bytes()
    holder = subprocess.Popen(["qemu-io", "-c", "sleep 20000", "l.qcow2"],
                              cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        import time
        for _ in range(100):
            p = run([QEMU_IMG, "info", "l.qcow2"], tmp_path)
            if p.returncode != 0:
                break
            time.sleep(0.05)
        for argv in (["info", "l.qcow2"], ["snapshot", "-l", "l.qcow2"],
                     ["snapshot", "-c", "x", "l.qcow2"], ["check", "l.qcow2"],
                     ["resize", "l.qcow2", "2M"], ["info", "-U", "l.qcow2"],
                     ["create", "-f", "qcow2", "l.qcow2", "1M"],
                     ["convert", "-O", "qcow2", "s.qcow2", "l.qcow2"],
                     ["map", "-U", "--output=json", "l.qcow2"]):
            q = run([QEMU_IMG] + argv, tmp_path)
            r = run([os.path.abspath(rrvm_img)] + argv, tmp_path)
            assert r.returncode == q.returncode, (argv, r.stderr, q.stderr)
            assert filt(r.stderr) == filt(q.stderr), argv
            assert filt(r.stdout) == filt(q.stdout), argv
        assert (tmp_path / "l.qcow2").read_bytes() == before
    finally:
        holder.kill()
        holder.wait()
