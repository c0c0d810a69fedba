"""Shared helpers (no tests) for the test_img_*.py files: a differential
runner for rrvm-img against qemu-img 7.2. The same setup commands run in two
fresh directories, then the same command line with each tool, and the
outputs are compared after filters (tool name, timings, dates, disk usage,
progress steps). Paths stay relative (cwd = the work directory), so no path
filter is needed."""
import re
import shutil
import subprocess
from pathlib import Path

QEMU_IMG = shutil.which("qemu-img")
QEMU_IO = shutil.which("qemu-io")

_FILTERS = [
    # the tool's own name
    (re.compile(r"qemu-img"), "rrvm-img"),
    # timings
    (re.compile(r"Run completed in [0-9.]+ seconds"),
     "Run completed in X seconds"),
    # host disk usage depends on the writer's allocation pattern
    (re.compile(r"disk size: .*"), "disk size: X"),
    (re.compile(r'"actual-size": \d+'), '"actual-size": X'),
    # snapshot dates
    (re.compile(r'"date-(sec|nsec)": \d+'), r'"date-\1": X'),
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"), "YYYY-MM-DD hh:mm:ss"),
]

_PROGRESS = re.compile(r"    \(\d+\.\d\d/100%\)\r")


def filt(text, keep_progress_steps=False):
    for rx, rep in _FILTERS:
        text = rx.sub(rep, text)
    if not keep_progress_steps:
        # Keep the first and the last progress update of each run only:
        # intermediate steps depend on the chunking.
        def squash(m):
            steps = _PROGRESS.findall(m.group(0))
            return steps[0] + steps[-1] if len(steps) > 1 else steps[0]
        text = re.sub(r"(?:    \(\d+\.\d\d/100%\)\r)+", squash, text)
    return text


def sh(argv, cwd, check=True):
    p = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    # Decode by hand: text mode would turn the progress line's CR into LF.
    p.stdout = p.stdout.decode("utf-8", "replace")
    p.stderr = p.stderr.decode("utf-8", "replace")
    if check and p.returncode != 0:
        raise AssertionError(f"{argv} in {cwd} exited {p.returncode}\n"
                             f"{p.stdout}\n{p.stderr}")
    return p


def _copy_sparse(src, dst):
    subprocess.run(["cp", "--sparse=always", "-p", src, dst], check=True)


def setup_dir(d, setup):
    """Run @setup (argv lists, or callables taking the dir) in @d."""
    d.mkdir(parents=True, exist_ok=True)
    for step in setup:
        if callable(step):
            step(d)
        else:
            sh(step, d)


def run_both(tmp_path, rrvm_img, setup, cmd, name="case"):
    """Returns ((q_rc, q_out, q_err), (r_rc, r_out, r_err), qdir, rdir)."""
    out = []
    dirs = []
    base = tmp_path / f"{name}-setup"
    setup_dir(base, setup)
    for tool, exe in (("q", QEMU_IMG), ("r", str(Path(rrvm_img).resolve()))):
        d = tmp_path / f"{name}-{tool}"
        # identical inputs: one setup, copied (sparseness kept)
        shutil.copytree(base, d, copy_function=_copy_sparse)
        p = sh([exe] + cmd, d, check=False)
        out.append((p.returncode, filt(p.stdout), filt(p.stderr)))
        dirs.append(d)
    return out[0], out[1], dirs[0], dirs[1]


def assert_same(q, r, cmd):
    assert r[0] == q[0], (f"{cmd}: exit {r[0]} != qemu-img's {q[0]}\n"
                          f"rrvm stdout:{r[1]}\nrrvm stderr:{r[2]}\n"
                          f"qemu stderr:{q[2]}")
    assert r[1] == q[1], f"{cmd}: stdout differs\nqemu:\n{q[1]}\nrrvm:\n{r[1]}"
    assert r[2] == q[2], f"{cmd}: stderr differs\nqemu:\n{q[2]}\nrrvm:\n{r[2]}"


def write_file(name, data):
    def step(d):
        Path(d, name).write_bytes(data)
    return step


def qemu_check_clean(path):
    p = sh([QEMU_IMG, "check", str(path)], Path(path).parent, check=False)
    assert p.returncode == 0, f"qemu-img check {path}: {p.returncode}\n" \
        f"{p.stdout}{p.stderr}"


def qemu_compare(a, b, fa=None, fb=None):
    argv = [QEMU_IMG, "compare"]
    if fa:
        argv += ["-f", fa]
    if fb:
        argv += ["-F", fb]
    p = sh(argv + [str(a), str(b)], Path(a).parent, check=False)
    assert p.returncode == 0, f"qemu-img compare {a} {b}: {p.stdout}{p.stderr}"


def raw_bytes(img, fmt=None, tmp=None):
    """Guest content of @img read by qemu-img convert -O raw."""
    out = Path(tmp or Path(img).parent) / (Path(img).name + ".qraw")
    argv = [QEMU_IMG, "convert", "-U"]
    if fmt:
        argv += ["-f", fmt]
    sh(argv + ["-O", "raw", str(img), str(out)], Path(img).parent)
    data = out.read_bytes()
    out.unlink()
    return data
