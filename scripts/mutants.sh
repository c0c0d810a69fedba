#!/bin/sh
# Apply deliberate faults to a scratch copy and report which test catches
# each (scripts/mutants.py; docs/testing.md). Slow; not part of CI.
exec /usr/bin/python3 "$(dirname "$0")/mutants.py" "$@"
