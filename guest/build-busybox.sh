#!/bin/sh
# SPDX-License-Identifier: MIT
# guest/build-busybox.sh - build (or reuse from the cache) a static riscv64
# busybox from Debian's busybox source package, configured as
# `make allnoconfig` + guest/busybox.config.
#
# Usage: guest/build-busybox.sh
# Prints the artefact directory (holding busybox, busybox.links, config) on
# stdout; progress goes to stderr. Exits non-zero on failure.
set -eu
. "$(dirname "$0")/common.sh"

frag=$guest_dir/busybox.config
command -v "${cross}gcc" >/dev/null || die "${cross}gcc missing: apt-get install gcc-riscv64-linux-gnu"
command -v dpkg-source >/dev/null || die "dpkg-source missing: apt-get install dpkg-dev"
"$guest_dir/setup-src.sh" >&2 || die "no deb-src entry for busybox"

# The .dsc line names the source version and its SHA-256.
dsc_line=$(apt-get source -qq --print-uris busybox | grep '\.dsc ' | head -n 1)
[ -n "$dsc_line" ] || die "apt-get source knows no busybox .dsc"
dsc=$(echo "$dsc_line" | cut -d' ' -f2)

hash=$({
    echo "busybox-source $dsc_line"
    cross_versions
} | inputs_hash "$frag" "$0" "$guest_dir/common.sh")
cache_begin busybox "$hash"
start=$(now)
echo "guest: building busybox in $tmp (log: $log)" >&2

fail() {
    tail -40 "$log" >&2
    rm -rf "$tmp"
    die "busybox build failed: $*; full log in $log"
}

# A fixed build date (2023-11-14) for the banner, so equal inputs give an
# equal binary.
bbmake() {
    SOURCE_DATE_EPOCH=1700000000 nice -n 10 make -C "$tmp/src" \
        CROSS_COMPILE="$cross" "$@" >>"$log" 2>&1
}

check_fragment() {
    bad=0
    while IFS= read -r line; do
        case $line in
        CONFIG_*=*)
            grep -qxF "$line" "$tmp/src/.config" || {
                echo "guest: busybox config lost: $line" >&2
                bad=1
            }
            ;;
        "# CONFIG_"*" is not set")
            sym=${line#\# }
            sym=${sym%% *}
            if grep -q "^$sym=y" "$tmp/src/.config"; then
                echo "guest: busybox config wants $sym unset" >&2
                bad=1
            fi
            ;;
        esac
    done <"$frag"
    return $bad
}

# Source files are kept (checked by apt against the .dsc) to rebuild offline.
srccache=$cache_root/busybox-src
mkdir -p "$srccache"
(cd "$srccache" && apt-get source -q --download-only busybox) >>"$log" 2>&1 ||
    fail "apt-get source"
dpkg-source -x "$srccache/$dsc" "$tmp/src" >>"$log" 2>&1 || fail "dpkg-source"
# Busybox's kconfig has no KCONFIG_ALLCONFIG: start from allnoconfig, put
# the fragment's lines in place of the symbols it names, then let oldconfig
# settle the dependent symbols at their defaults.
bbmake allnoconfig || fail "allnoconfig"
awk '
    FNR == NR {
        if ($0 ~ /^CONFIG_[A-Za-z0-9_]*=/) { sub(/=.*/, "", $0); named[$0] = 1 }
        else if ($0 ~ /^# CONFIG_[A-Za-z0-9_]* is not set$/) { named[$2] = 1 }
        next
    }
    {
        sym = $0
        if (sym ~ /^CONFIG_/) { sub(/=.*/, "", sym) }
        else if (sym ~ /^# CONFIG_.* is not set$/) { split(sym, w, " "); sym = w[2] }
        if (!(sym in named)) { print }
    }
' "$frag" "$tmp/src/.config" >"$tmp/config.new" || fail "merge config"
grep -E '^(CONFIG_|# CONFIG_)' "$frag" >>"$tmp/config.new"
mv "$tmp/config.new" "$tmp/src/.config"
yes "" | bbmake oldconfig || fail "oldconfig"
check_fragment || fail "fragment options did not take effect"
bbmake -j2 busybox || fail "make busybox"
bbmake busybox.links || fail "make busybox.links"
if "${cross}readelf" -l "$tmp/src/busybox" | grep -q INTERP; then
    fail "busybox is not static (it has an ELF interpreter)"
fi
"${cross}readelf" -h "$tmp/src/busybox" | grep -q 'RISC-V' ||
    fail "busybox is not a RISC-V executable"

mkdir "$tmp/out"
cp "$tmp/src/busybox" "$tmp/src/busybox.links" "$tmp/out/"
cp "$tmp/src/.config" "$tmp/out/config"
cp "$log" "$tmp/out/build.log"
rm -rf "$tmp/src"
secs=$(($(now) - start))
{
    echo "busybox-source $dsc_line"
    cross_versions
    echo "build_seconds $secs"
} >"$tmp/out/BUILD-INFO"
cache_commit
echo "guest: busybox built in ${secs}s (clean build): $final/busybox" >&2
echo "$final"
