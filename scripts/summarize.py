#!/usr/bin/env python3
"""Adds up meson test logs and pytest JUnit files in a results folder and
prints "N passed, N failed" as the last line; exits 1 if anything failed."""
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def main():
    res = Path(sys.argv[1])
    passed = failed = skipped = 0
    failures = []
    for log in sorted(res.glob("*-meson.json")):
        build = log.name[: -len("-meson.json")]
        for line in log.read_text().splitlines():
            if not line.strip():
                continue
            t = json.loads(line)
            r = t.get("result")
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1
                failures.append(f"{build}: {t.get('name')} {r}")
    for xml in sorted(res.glob("*-pytest.xml")):
        build = xml.name[: -len("-pytest.xml")]
        for case in ET.parse(xml).getroot().iter("testcase"):
            kinds = {c.tag for c in case}
            name = f"{case.get('classname')}::{case.get('name')}"
            if "failure" in kinds or "error" in kinds:
                failed += 1
                failures.append(f"{build}: {name}")
            elif "skipped" in kinds:
                skipped += 1
            else:
                passed += 1
    extra = res / "extra"
    if extra.exists():
        for line in extra.read_text().splitlines():
            if line.endswith(" PASS"):
                passed += 1
            else:
                failed += 1
                failures.append(line)
    for f in failures:
        print("FAILED", f)
    tail = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{tail}")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
