#!/bin/sh
# The whole test suite, as CI runs it: installs missing Debian packages, then
# builds and tests twice (gcc with -Werror; clang with ASan+UBSan), running
# the cmocka unit tests, the fuzz corpus replays and the pytest integration
# tests against each build. The last line is "N passed, N failed".
#
# Usage: scripts/test.sh [--only gcc|asan]   (PYTEST_ARGS adds pytest options)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
only=""
if [ "${1:-}" = "--only" ]; then
    only=$2
    shift 2
fi
"$top/scripts/setup.sh" || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

results="$top/build/results"
rm -rf "$results"
mkdir -p "$results"

# Slow artefacts shared by both builds, cached outside the clone.
if [ -x "$top/scripts/artefacts.sh" ]; then
    "$top/scripts/artefacts.sh" || echo "artefacts FAIL" >>"$results/extra"
fi

# Each step leaves a fresh file in $results that scripts/summarize.py
# checks: "<name>-build.ok" once the build compiled, "<name>-meson.rc" and
# "<name>-pytest.rc" with the exit statuses, the meson test log and the list
# of tests the build defines, and pytest's JUnit file. A missing file is a
# failure there, so a step that did not run cannot look like a pass.
run_build() {
    name=$1
    shift
    bdir="$top/build/$name"
    echo "$name" >>"$results/builds"
    echo "=== build $name"
    if [ ! -f "$bdir/build.ninja" ]; then
        if ! "$@" "$bdir" >"$results/$name-setup.log" 2>&1; then
            cat "$results/$name-setup.log"
            return
        fi
    fi
    if ! ninja -C "$bdir" >"$results/$name-build.log" 2>&1; then
        tail -50 "$results/$name-build.log"
        return
    fi
    touch "$results/$name-build.ok"
    echo "=== unit tests ($name)"
    meson introspect --tests "$bdir" >"$results/$name-meson-tests.json"
    # The log is written fresh by this run, never left over from another.
    rm -f "$bdir/meson-logs/testlog.json"
    meson test -C "$bdir" --no-rebuild --print-errorlogs \
        --timeout-multiplier "${TIMEOUT_MULT:-1}" --num-processes 2
    echo $? >"$results/$name-meson.rc"
    [ -f "$bdir/meson-logs/testlog.json" ] &&
        cp "$bdir/meson-logs/testlog.json" "$results/$name-meson.json"
    echo "=== integration tests ($name)"
    RRVM_BUILD="$bdir" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
        --timeout=900 --junitxml="$results/$name-pytest.xml" \
        ${PYTEST_ARGS:-} "$top/tests/integration"
    echo $? >"$results/$name-pytest.rc"
}

if [ -z "$only" ] || [ "$only" = gcc ]; then
    run_build gcc env CC=gcc meson setup -Dwerror=true \
        -Dbuildtype=debugoptimized
fi
if [ -z "$only" ] || [ "$only" = asan ]; then
    export ASAN_OPTIONS=detect_leaks=1
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    TIMEOUT_MULT=3 run_build asan env CC=clang meson setup \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dbuildtype=debugoptimized
fi

# Static checks: formatting, man pages.
check() {
    name=$1
    shift
    if "$@" >"$results/$name.log" 2>&1; then
        echo "$name PASS" >>"$results/extra"
    else
        echo "=== $name failed:"
        tail -30 "$results/$name.log"
        echo "$name FAIL" >>"$results/extra"
    fi
}
if [ -z "$only" ]; then
    check clang-format sh -c "git ls-files '*.c' '*.h' ':!tests/isa/*' | xargs -r clang-format --dry-run -Werror"
    check mandoc-lint sh -c "ls docs/man/*.1 >/dev/null 2>&1 || exit 0; mandoc -Tlint -Wwarning docs/man/*.1"
    # A short libFuzzer run per target on top of the committed corpus.
    fdir="$top/build/fuzz"
    if [ ! -f "$fdir/build.ninja" ]; then
        CC=clang meson setup -Dfuzzing_engine=libfuzzer \
            -Db_sanitize=address,undefined -Db_lundef=false -Dtests=true \
            -Dbuildtype=debugoptimized "$fdir" >"$results/fuzz-setup.log" 2>&1
    fi
    for src in tests/fuzz/fuzz-*.c; do
        t=$(basename "$src" .c)
        new=$(mktemp -d)
        check "libfuzzer-$t" sh -c "ninja -C '$fdir' 'tests/fuzz/$t' && \
            '$fdir/tests/fuzz/$t' -max_total_time=${FUZZ_SECONDS:-25} \
            -timeout=10 -rss_limit_mb=2048 '$new' 'tests/fuzz/corpus/$t'"
        rm -rf "$new"
    done
fi
exec /usr/bin/python3 "$top/scripts/summarize.py" "$results"
