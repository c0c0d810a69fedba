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

# make_tmp NAME: a fresh build directory beside the final one, so the final
# rename stays inside one filesystem.
make_tmp() {
    mkdir -p "$cache_root"
    mktemp -d "$cache_root/.tmp-$1-XXXXXX"
}

# publish TMPDIR FINAL: atomically move a finished build into place. If
# another build won the race, keep theirs.
publish() {
    if ! mv -T "$1" "$2" 2>/dev/null; then
        [ -f "$2/COMPLETE" ] || die "cannot move $1 to $2"
        rm -rf "$1"
    fi
}
