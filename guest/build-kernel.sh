#!/bin/sh
# SPDX-License-Identifier: MIT
# guest/build-kernel.sh - build (or reuse from the cache) the riscv64 Linux
# guest kernel: Debian's linux-source-6.1, `make tinyconfig` + guest/linux.config,
# Debian's riscv64-linux-gnu cross compiler.
#
# Usage: guest/build-kernel.sh
# Prints the artefact directory (holding Image, config, System.map) on stdout;
# progress goes to stderr. Exits non-zero on failure.
set -eu
. "$(dirname "$0")/common.sh"

src_tar=/usr/src/linux-source-6.1.tar.xz
frag=$guest_dir/linux.config
[ -f "$src_tar" ] || die "$src_tar missing: apt-get install linux-source-6.1"
command -v "${cross}gcc" >/dev/null || die "${cross}gcc missing: apt-get install gcc-riscv64-linux-gnu"

hash=$({
    echo "linux-source-6.1 $(pkg_version linux-source-6.1)"
    cross_versions
} | inputs_hash "$frag" "$0" "$guest_dir/common.sh")
cache_begin linux "$hash"
start=$(now)
echo "guest: building kernel in $tmp (log: $log)" >&2

kmake() {
    nice -n 10 make -C "$tmp/src" ARCH=riscv CROSS_COMPILE="$cross" \
        KBUILD_BUILD_USER=rrvm KBUILD_BUILD_HOST=rrvm \
        KBUILD_BUILD_TIMESTAMP="1970-01-01" "$@" >>"$log" 2>&1
}

check_fragment() {
    bad=0
    while IFS= read -r line; do
        case $line in
        CONFIG_*=*)
            grep -qxF "$line" "$tmp/src/.config" || {
                echo "guest: kernel config lost: $line" >&2
                bad=1
            }
            ;;
        "# CONFIG_"*" is not set")
            sym=${line#\# }
            sym=${sym%% *}
            if grep -q "^$sym=" "$tmp/src/.config"; then
                echo "guest: kernel config wants $sym unset" >&2
                bad=1
            fi
            ;;
        esac
    done <"$frag"
    return $bad
}

fail() {
    tail -40 "$log" >&2
    rm -rf "$tmp"
    die "kernel build failed: $*; full log in $log"
}

mkdir "$tmp/src"
tar -xJf "$src_tar" -C "$tmp/src" --strip-components=1 || fail "extract"
kmake tinyconfig || fail "tinyconfig"
(cd "$tmp/src" && ./scripts/kconfig/merge_config.sh -m -O . .config "$frag") \
    >>"$log" 2>&1 || fail "merge_config"
kmake olddefconfig || fail "olddefconfig"
check_fragment || fail "fragment options did not take effect"
kmake -j2 Image || fail "make Image"

mkdir "$tmp/out"
cp "$tmp/src/arch/riscv/boot/Image" "$tmp/src/System.map" "$tmp/out/"
cp "$tmp/src/.config" "$tmp/out/config"
cp "$log" "$tmp/out/build.log"
rm -rf "$tmp/src"
secs=$(($(now) - start))
{
    echo "linux-source-6.1 $(pkg_version linux-source-6.1)"
    cross_versions
    echo "build_seconds $secs"
} >"$tmp/out/BUILD-INFO"
cache_commit
echo "guest: kernel built in ${secs}s (clean build): $final/Image" >&2
echo "$final"
