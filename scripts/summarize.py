#!/usr/bin/env python3
"""Adds up one scripts/test.sh run and prints "N passed, N failed" as the
last line; exits 1 if anything failed or nothing passed.

The results folder is written fresh by each run. For every build listed in
its "builds" file it expects, and counts as FAILED by name when absent or
wrong: the build itself, meson's exit status ("<build>-meson.rc"), a meson
test log holding a result for every test the build defines
("<build>-meson.json" against "<build>-meson-tests.json", from
`meson introspect --tests`), at least one test in each expected suite,
pytest's exit status ("<build>-pytest.rc": 0 or 1 only, so "no tests
collected" fails) and its JUnit file. "extra" holds one "NAME PASS" or
"NAME FAIL" line per static check or whole-run step.

Header-compile checks and reference runs (tests that exercise only QEMU, as
a check of the oracle or the artefacts) are counted on their own line; a
failure among them still fails the run and is counted in the last line."""
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

# Every build defines tests in each of these meson suites.
EXPECTED_SUITES = ["headers", "common", "qcow2", "catalog", "emulator", "rv",
                   "disas", "fuzz-regress"]
# Meson suites that only check that a header compiles alone.
REFERENCE_SUITES = {"headers"}


class Tally:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.ref_passed = self.ref_failed = 0
        self.failures = []

    def add(self, name, ok, reference=False, skipped=False):
        if skipped:
            self.skipped += 1
        elif reference:
            if ok:
                self.ref_passed += 1
            else:
                self.ref_failed += 1
                self.failures.append(f"{name} (reference)")
        elif ok:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append(name)


def read_rc(path):
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def meson_results(res, build, tally):
    rc = read_rc(res / f"{build}-meson.rc")
    if rc is None:
        tally.add(f"{build}: meson test did not run", False)
        return
    if rc != 0:
        tally.add(f"{build}: meson test exited {rc}", False)
    defined = {}
    try:
        for t in json.loads((res / f"{build}-meson-tests.json").read_text()):
            defined[t["name"]] = t.get("suite", [])
    except (OSError, ValueError, KeyError, TypeError) as e:
        tally.add(f"{build}: meson test list unreadable ({e})", False)
    seen = set()
    log = res / f"{build}-meson.json"
    try:
        lines = log.read_text().splitlines()
    except OSError:
        tally.add(f"{build}: {log.name} missing", False)
        lines = []
    for line in lines:
        if not line.strip():
            continue
        try:
            t = json.loads(line)
        except ValueError:
            tally.add(f"{build}: {log.name} has a corrupt line", False)
            continue
        # meson logs "project:suite+suite / name"; introspection gives name.
        name = str(t.get("name")).split(" / ", 1)[-1]
        seen.add(name)
        r = t.get("result")
        suites = {s.split(":")[-1]
                  for s in defined.get(name, []) + t.get("suite", [])}
        ref = bool(suites & REFERENCE_SUITES)
        tally.add(f"{build}: {name} {r}", r in ("OK", "EXPECTEDFAIL"),
                  reference=ref, skipped=(r == "SKIP"))
    for name in sorted(set(defined) - seen):
        tally.add(f"{build}: {name} has no result", False)
    suites = {s.split(":")[-1] for v in defined.values() for s in v}
    for s in EXPECTED_SUITES:
        if s not in suites:
            tally.add(f"{build}: suite '{s}' defined no tests", False)


def pytest_results(res, build, tally):
    rc = read_rc(res / f"{build}-pytest.rc")
    if rc is None:
        tally.add(f"{build}: pytest did not run", False)
        return
    if rc == 5:
        tally.add(f"{build}: pytest collected no tests", False)
    elif rc not in (0, 1):
        tally.add(f"{build}: pytest exited {rc}", False)
    xml = res / f"{build}-pytest.xml"
    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError) as e:
        tally.add(f"{build}: pytest JUnit file missing or unreadable ({e})",
                  False)
        return
    n = nbad = 0
    for case in root.iter("testcase"):
        n += 1
        kinds = {c.tag for c in case}
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        name = f"{build}: {case.get('classname')}::{case.get('name')}"
        bad = "failure" in kinds or "error" in kinds
        nbad += bad
        tally.add(name, not bad, reference=props.get("reference") == "1",
                  skipped=("skipped" in kinds and not bad))
    if n == 0:
        tally.add(f"{build}: pytest JUnit file lists no tests", False)
    elif rc == 1 and nbad == 0:
        tally.add(f"{build}: pytest exited 1 with no failing test", False)


def main():
    res = Path(sys.argv[1])
    tally = Tally()
    builds = []
    try:
        builds = (res / "builds").read_text().split()
    except OSError:
        pass
    if not builds:
        tally.add("no build was run", False)
    for build in builds:
        status = res / f"{build}-build.ok"
        if not status.exists():
            tally.add(f"build-{build} (setup or compile failed)", False)
            continue
        meson_results(res, build, tally)
        pytest_results(res, build, tally)
    extra = res / "extra"
    if extra.exists():
        for line in extra.read_text().splitlines():
            if line.strip():
                tally.add(line.rsplit(" ", 1)[0], line.endswith(" PASS"))
    for f in tally.failures:
        print("FAILED", f)
    print(f"reference runs (QEMU only) and header-compile checks: "
          f"{tally.ref_passed} passed, {tally.ref_failed} failed")
    tail = f", {tally.skipped} skipped" if tally.skipped else ""
    failed = tally.failed + tally.ref_failed
    print(f"{tally.passed} passed, {failed} failed{tail}")
    return 1 if failed or tally.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
