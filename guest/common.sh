# SPDX-License-Identifier: MIT
# guest/common.sh - helpers shared by the guest build scripts (sourced, not run).
# Cache layout: ${RRVM_CACHE:-$HOME/.cache/rrvm}/<name>-<hash>/, where <hash>
# covers every input; a directory there is complete, as it is renamed into
# place only after a successful build.

guest_dir=$(cd "$(dirname "$0")" && pwd)
cache_root=${RRVM_CACHE:-${HOME:?}/.cache/rrvm}
cross=riscv64-linux-gnu-

die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

# Installed version of a Debian package, or "none".
pkg_version() {
    dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none
}

# The cross toolchain, as the packages that make it up.
cross_versions() {
    for p in gcc-riscv64-linux-gnu gcc-12-riscv64-linux-gnu \
        binutils-riscv64-linux-gnu libc6-dev-riscv64-cross; do
        echo "$p $(pkg_version "$p")"
    done
}

# Short hash of stdin.
short_hash() {
    sha256sum | cut -c1-16
}

# Hash of the named files' contents plus stdin (version lines).
inputs_hash() {
    {
        cat
        for f in "$@"; do
            echo "file $(basename "$f") $(sha256sum <"$f" | cut -d' ' -f1)"
        done
    } | short_hash
}

# Seconds since the epoch, for build times.
now() {
    date +%s
}

# cache_begin NAME HASH: sets $final to the artefact directory. If it is
# complete, prints it and exits 0. Otherwise takes the build lock (held until
# the script exits), clears what a killed build left, and sets $tmp (a fresh
# build directory beside $final, so the final rename stays inside one
# filesystem) and $log (emptied).
cache_begin() {
    final=$cache_root/$1-$2
    if [ -f "$final/COMPLETE" ]; then
        echo "$final"
        exit 0
    fi
    mkdir -p "$cache_root"
    exec 9>"$cache_root/$1-$2.lock"
    flock 9
    if [ -f "$final/COMPLETE" ]; then
        echo "$final"
        exit 0
    fi
    rm -rf "$final" "$cache_root/.tmp-$1-$2-"*
    tmp=$(mktemp -d "$cache_root/.tmp-$1-$2-XXXXXX")
    log=$cache_root/$1-$2.log
    : >"$log"
}

# cache_commit: marks $tmp/out complete and renames it to $final in one
# step, so $final is either absent or whole; then drops $tmp.
cache_commit() {
    touch "$tmp/out/COMPLETE"
    mv -T "$tmp/out" "$final"
    rm -rf "$tmp"
}
