"""scripts/summarize.py, which prints CI's last line, counts every way a
step can fail to run as a failure, by name; and the fuzz corpus replay
driver fails on an empty or unreadable corpus."""
import json
import os
import subprocess
import sys

import pytest

from conftest import TOP, binary

SUITES = ["headers", "common", "qcow2", "catalog", "emulator", "rv", "disas",
          "fuzz-regress"]


def summarize(res):
    p = subprocess.run([sys.executable, str(TOP / "scripts" / "summarize.py"),
                        str(res)], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout


def good_results(res, build="gcc"):
    """A results folder as a complete, passing run leaves it."""
    res.mkdir(exist_ok=True)
    with open(res / "builds", "a") as f:
        f.write(build + "\n")
    (res / f"{build}-build.ok").touch()
    tests = [{"name": f"t-{s}", "suite": [f"rrvm:unit", f"rrvm:{s}"]}
             for s in SUITES]
    (res / f"{build}-meson-tests.json").write_text(json.dumps(tests))
    (res / f"{build}-meson.json").write_text("".join(
        json.dumps({"name": f"rrvm:unit+{s} / t-{s}", "result": "OK"}) + "\n"
        for s in SUITES))
    (res / f"{build}-meson.rc").write_text("0\n")
    (res / f"{build}-pytest.xml").write_text(
        '<testsuites><testsuite>'
        '<testcase classname="a" name="one"/>'
        '<testcase classname="a" name="ref"><properties>'
        '<property name="reference" value="1"/></properties></testcase>'
        '</testsuite></testsuites>')
    (res / f"{build}-pytest.rc").write_text("0\n")


def test_complete_run_passes(tmp_path):
    good_results(tmp_path / "r")
    rc, out = summarize(tmp_path / "r")
    assert rc == 0, out
    lines = out.splitlines()
    # headers (1) and the reference pytest case (1) are on their own line.
    assert lines[-2].endswith(": 2 passed, 0 failed")
    assert lines[-1] == "8 passed, 0 failed"


@pytest.mark.parametrize("breakage,expect", [
    ("no-build-ok", "FAILED build-gcc (setup or compile failed)"),
    ("meson-killed", "FAILED gcc: meson test exited 143"),
    ("meson-partial", "FAILED gcc: t-rv has no result"),
    ("meson-log-missing", "FAILED gcc: gcc-meson.json missing"),
    ("meson-not-run", "FAILED gcc: meson test did not run"),
    ("suite-empty", "FAILED gcc: suite 'qcow2' defined no tests"),
    ("pytest-no-tests", "FAILED gcc: pytest collected no tests"),
    ("pytest-no-junit", "FAILED gcc: pytest JUnit file missing"),
    ("pytest-interrupted", "FAILED gcc: pytest exited 2"),
    ("pytest-1-no-failure", "FAILED gcc: pytest exited 1 with no failing"),
    ("no-builds", "FAILED no build was run"),
    ("extra-fail", "FAILED clang-format"),
])
def test_each_breakage_fails_by_name(tmp_path, breakage, expect):
    res = tmp_path / "r"
    good_results(res)
    if breakage == "no-build-ok":
        (res / "gcc-build.ok").unlink()
    elif breakage == "meson-killed":
        (res / "gcc-meson.rc").write_text("143\n")
    elif breakage == "meson-partial":
        log = (res / "gcc-meson.json").read_text().splitlines()
        (res / "gcc-meson.json").write_text(
            "\n".join(x for x in log if "t-rv" not in x) + "\n")
    elif breakage == "meson-log-missing":
        (res / "gcc-meson.json").unlink()
    elif breakage == "meson-not-run":
        (res / "gcc-meson.rc").unlink()
    elif breakage == "suite-empty":
        tests = json.loads((res / "gcc-meson-tests.json").read_text())
        (res / "gcc-meson-tests.json").write_text(json.dumps(
            [t for t in tests if "rrvm:qcow2" not in t["suite"]]))
    elif breakage == "pytest-no-tests":
        (res / "gcc-pytest.rc").write_text("5\n")
    elif breakage == "pytest-no-junit":
        (res / "gcc-pytest.xml").unlink()
    elif breakage == "pytest-interrupted":
        (res / "gcc-pytest.rc").write_text("2\n")
    elif breakage == "pytest-1-no-failure":
        (res / "gcc-pytest.rc").write_text("1\n")
    elif breakage == "no-builds":
        (res / "builds").unlink()
    elif breakage == "extra-fail":
        (res / "extra").write_text("mandoc-lint PASS\nclang-format FAIL\n")
    rc, out = summarize(res)
    assert rc == 1, out
    assert any(line.startswith(expect) for line in out.splitlines()), out
    last = out.splitlines()[-1]
    assert last.endswith("failed") and not last.endswith(" 0 failed"), out


def test_failed_reference_run_still_fails(tmp_path):
    res = tmp_path / "r"
    good_results(res)
    (res / "gcc-pytest.xml").write_text(
        '<testsuites><testsuite><testcase classname="a" name="ref">'
        '<properties><property name="reference" value="1"/></properties>'
        '<failure message="x"/></testcase></testsuite></testsuites>')
    (res / "gcc-pytest.rc").write_text("1\n")
    rc, out = summarize(res)
    assert rc == 1
    assert "FAILED gcc: a::ref (reference)" in out
    assert out.splitlines()[-1].startswith("7 passed, 1 failed")


def test_second_build_missing_is_reported(tmp_path):
    res = tmp_path / "r"
    good_results(res, "gcc")
    with open(res / "builds", "a") as f:
        f.write("asan\n")
    rc, out = summarize(res)
    assert rc == 1
    assert "FAILED build-asan (setup or compile failed)" in out


@pytest.mark.parametrize("corpus", ["empty", "missing", "unreadable"])
def test_fuzz_replay_fails_without_inputs(tmp_path, corpus):
    exe = binary("tests/fuzz/fuzz-qcow2-open")
    d = tmp_path / "corpus"
    if corpus != "missing":
        d.mkdir()
    if corpus == "unreadable":
        f = d / "input"
        f.write_bytes(b"QFI\xfb")
        f.chmod(0)
        if os.access(f, os.R_OK):  # root reads anything: dangle instead
            f.unlink()
            f.symlink_to(tmp_path / "nowhere")
    p = subprocess.run([exe, str(d)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode != 0, p.stdout + p.stderr
    assert "fuzz:" in p.stderr
