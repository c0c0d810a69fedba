#!/usr/bin/env python3
"""Deliberate faults, and the tests that must catch them.

Copies the working tree (tracked and untracked files that git does not
ignore, as they are now) to a scratch folder, builds it once, checks that
the selected tests pass there, then applies each fault below in turn,
rebuilds, runs the tests named for it and reports which of them failed
("caught by") or that none did ("SURVIVED"). The scratch copy is the only thing changed. Exits 1 if a
fault survived or the baseline failed. Slow (minutes per fault), so not in
CI; see docs/testing.md.

Usage: scripts/mutants.sh [--keep] [--only ID[,ID...]] [--all] [--list]
  --all   run every meson test and every pytest file for each fault
  --keep  keep the scratch folder (printed at the end)

Each fault replaces exactly one occurrence of `old` by `new` in `file`; a
fault whose `old` text is not found exactly once is reported as STALE, so
the list cannot silently stop applying after a refactor.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]

# meson: test names (meson test NAME); pytest: paths under tests/integration
# (optionally with ::node or -k expressions as "file.py -k expr").
FAULTS = [
    dict(id="flush-no-fdatasync",
         what="the data sync removed from the qcow2 flush",
         file="qcow2/qcow2.c",
         old="if (fdatasync(img->fd) < 0) {",
         new="if (0) {",
         meson=["qcow2-crash"],
         pytest=["test_durability.py"]),
    dict(id="refcount-l2-barrier",
         what="the barrier between refcount write-back and the L2 update "
              "removed",
         file="qcow2/qcow2-refcount.c",
         old="qcow2_cache_depends_on(img->l2_cache, img->refcount_cache, err)",
         new="0",
         meson=["qcow2-crash"],
         pytest=["test_durability.py"]),
    dict(id="snapshot-switch-barrier",
         what="the barrier before the snapshot header switch removed",
         file="qcow2/qcow2-snapshot.c",
         old="    ret = qcow2_sync(img, err);\n    if (ret < 0) {\n"
             "        goto out;\n    }\n    ret = snap_txn_switch(img, t, err);",
         new="    ret = snap_txn_switch(img, t, err);",
         meson=["qcow2-crash"],
         pytest=["test_durability.py"]),
    dict(id="vm-clock-zero",
         what="a snapshot's vm_clock written as 0",
         file="qcow2/qcow2-snapshot.c",
         old="wr_be64(h + 24, sn->vm_clock_nsec);",
         new="wr_be64(h + 24, 0);",
         meson=["qcow2-snapshot"],
         pytest=["test_img_snapshot_fields.py"]),
    dict(id="vm-clock-usec",
         what="VM CLOCK printed in microseconds",
         file="imgtool/cmd-info.c",
         old="secs = sn->vm_clock_nsec / 1000000000ull;",
         new="secs = sn->vm_clock_nsec / 1000000ull;",
         meson=[],
         pytest=["test_img_snapshot_fields.py"]),
    dict(id="refcount-stuck-at-1",
         what="a freed cluster's refcount stuck at 1",
         file="qcow2/qcow2-refcount.c",
         old="nv = v - (uint64_t)-delta;",
         new="nv = v - (uint64_t)-delta;\n                nv = nv ? nv : 1;",
         meson=["qcow2-core", "qcow2-snapshot", "qcow2-check"],
         pytest=["test_img_golden.py", "test_img_interop.py"]),
    dict(id="scounteren-ungated",
         what="U-mode counter reads no longer gated by scounteren",
         file="emulator/rv-csr.c",
         old="if (cpu->priv < RV_PRV_S && !((cpu->scounteren >> bit) & 1)) {",
         new="if (0) {",
         meson=["rv-isa"],
         pytest=["test_isa_qemu.py"]),
    # Faults for what the monitor and machine-state work built.
    dict(id="amo-write-unseen",
         what="an AMO or SC store to RAM neither drops decoded blocks nor "
              "marks the page dirty",
         file="emulator/rv-mmu.c",
         old="    if (*host) {\n        rv_ram_write(cpu, *host);\n    }\n"
             "    return 0;\n}\n\n/* ---- side-effect-free",
         new="    return 0;\n}\n\n/* ---- side-effect-free",
         meson=["rv-isa", "emu-vmstate"],
         pytest=["test_isa_qemu.py"]),
    dict(id="qmp-id-dropped",
         what="a successful QMP reply no longer echoes the request's id",
         file="monitor/mon-qmp.c",
         old="val ? val : mon_json_object_new());\n    if (id) {",
         new="val ? val : mon_json_object_new());\n    if (0) {",
         meson=["mon-qmp"],
         pytest=["test_monitor_clients.py", "test_monitor_machine.py"]),
]


def sh(cmd, cwd, env=None, log=None):
    with open(log, "w") if log else open(os.devnull, "w") as out:
        return subprocess.run(cmd, cwd=cwd, env=env, stdout=out,
                              stderr=subprocess.STDOUT).returncode


def copy_tree(dst):
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=TOP, check=True,
                           capture_output=True).stdout.split(b"\0")
    for f in files:
        if not f:
            continue
        src = TOP / f.decode()
        if not src.is_file():
            continue  # deleted in the working tree
        out = dst / f.decode()
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, out)
    env_file = TOP / "build" / "artefacts.env"
    if env_file.exists():
        (dst / "build").mkdir(exist_ok=True)
        shutil.copy2(env_file, dst / "build" / "artefacts.env")


def run_tests(src, bdir, meson_names, pytest_args, tag):
    """Runs the tests; returns the names of those that failed."""
    failed = []
    logs = bdir / "mutant-logs"
    logs.mkdir(exist_ok=True)
    if meson_names is not None:
        tl = bdir / "meson-logs" / "testlog.json"
        tl.unlink(missing_ok=True)
        rc = sh(["meson", "test", "-C", str(bdir), "--no-rebuild",
                 "--num-processes", "2"] + meson_names, src,
                log=logs / f"{tag}-meson.log")
        seen = 0
        if tl.exists():
            for line in tl.read_text().splitlines():
                if line.strip():
                    t = json.loads(line)
                    seen += 1
                    if t.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP"):
                        failed.append("meson:" +
                                      t["name"].split(" / ", 1)[-1])
        if rc != 0 and not failed:
            failed.append(f"meson test (exit {rc}, {seen} results)")
    if pytest_args is not None:
        xml = logs / f"{tag}-pytest.xml"
        xml.unlink(missing_ok=True)
        args = []
        for a in pytest_args:
            first, *rest = a.split()
            args.append(str(src / "tests" / "integration" / first))
            args += rest
        env = dict(os.environ, RRVM_BUILD=str(bdir))
        rc = sh(["/usr/bin/python3", "-m", "pytest", "-q", "-x",
                 "-p", "no:cacheprovider", "--timeout=900",
                 f"--junitxml={xml}"] + args, src, env=env,
                log=logs / f"{tag}-pytest.log")
        if xml.exists():
            for case in ET.parse(xml).getroot().iter("testcase"):
                if {c.tag for c in case} & {"failure", "error"}:
                    failed.append(f"pytest:{case.get('classname')}::"
                                  f"{case.get('name')}")
        if rc not in (0, 1) or (rc == 1 and not failed):
            failed.append(f"pytest (exit {rc})")
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--only")
    ap.add_argument("--list", action="store_true")
    opt = ap.parse_args()
    faults = FAULTS
    if opt.only:
        want = set(opt.only.split(","))
        faults = [f for f in FAULTS if f["id"] in want]
        if len(faults) != len(want):
            print("mutants: unknown id in --only", file=sys.stderr)
            return 2
    if opt.list:
        for f in faults:
            print(f"{f['id']:26} {f['what']}")
        return 0

    scratch = Path(tempfile.mkdtemp(prefix="rrvm-mutants-"))
    src, bdir = scratch / "src", scratch / "build"
    copy_tree(src)
    print(f"mutants: scratch copy in {scratch}", flush=True)
    if sh(["meson", "setup", "-Dbuildtype=debugoptimized", str(bdir)], src,
          log=scratch / "setup.log") or \
            sh(["ninja", "-C", str(bdir)], src, log=scratch / "build.log"):
        print(f"mutants: the unmodified copy does not build "
              f"(see {scratch})")
        return 1

    def selection(f):
        """(meson names, pytest args); None skips, [] is every meson test."""
        if opt.all:
            return [], ["."]
        return f["meson"] or None, f["pytest"] or None

    # Baseline: everything a fault will run must pass without faults.
    meson_all = sorted({m for f in faults for m in selection(f)[0] or []})
    pytest_all = sorted({p for f in faults for p in selection(f)[1] or []})
    if opt.all:
        meson_all, pytest_all = [], ["."]
    else:
        meson_all, pytest_all = meson_all or None, pytest_all or None
    base = run_tests(src, bdir, meson_all, pytest_all, "baseline")
    if base:
        print("mutants: the baseline fails, so no fault can be judged:")
        for b in base:
            print(f"  {b}")
        print(f"logs in {bdir / 'mutant-logs'}")
        return 1
    print("mutants: baseline passes", flush=True)

    survived = 0
    rows = []
    for f in faults:
        path = src / f["file"]
        orig = path.read_text()
        n = orig.count(f["old"])
        if n != 1:
            rows.append((f["id"], f"STALE ({n} matches in {f['file']})"))
            survived += 1
            continue
        path.write_text(orig.replace(f["old"], f["new"]))
        try:
            if sh(["ninja", "-C", str(bdir)], src,
                  log=bdir / f"build-{f['id']}.log"):
                rows.append((f["id"], "does not compile (fix the fault)"))
                survived += 1
                continue
            m, p = selection(f)
            caught = run_tests(src, bdir, m, p, f["id"])
        finally:
            path.write_text(orig)
        if caught:
            rows.append((f["id"], "caught by " + ", ".join(caught)))
        else:
            rows.append((f["id"], "SURVIVED"))
            survived += 1
        print(f"mutants: {rows[-1][0]}: {rows[-1][1]}", flush=True)
    sh(["ninja", "-C", str(bdir)], src)

    print("\nfault                      result")
    for f, (fid, res) in zip(faults, rows):
        print(f"{fid:26} {res}")
        print(f"{'':26} ({f['what']})")
    print(f"\n{len(faults) - survived} of {len(faults)} faults caught")
    if opt.keep:
        print(f"scratch copy kept in {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
