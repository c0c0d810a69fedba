#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/artefacts.sh - build or reuse every slow artefact (the riscv64
# Linux guest kernel and its busybox root filesystem; see docs/guest.md),
# cached under ${RRVM_CACHE:-$HOME/.cache/rrvm} and keyed by a hash of their
# inputs, then write build/artefacts.env for the tests and the demo.
#
# Usage: scripts/artefacts.sh [--prune]    Exits non-zero if a build fails.
#   --prune  then delete cached artefacts other than the ones in use now
#            (skipping any that another build holds locked).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
env_file=$top/build/artefacts.env
# The cache lives outside the clone; CI without $HOME still gets one.
RRVM_CACHE=${RRVM_CACHE:-${HOME:-/tmp}/.cache/rrvm}
export RRVM_CACHE
start=$(date +%s)
prune=0
case ${1:-} in
--prune) prune=1 ;;
"") ;;
*)
    echo "usage: $0 [--prune]" >&2
    exit 2
    ;;
esac

mkdir -p "$top/build"

# The previous env file stays valid (its artefacts are immutable) while a
# rebuild runs, so tests running meanwhile keep working; a failed build
# removes it, so nothing tests stale artefacts as if they were current.
failed() {
    rm -f "$env_file"
    echo "artefacts: $1 build failed" >&2
    exit 1
}
kdir=$("$top/guest/build-kernel.sh") || failed kernel
bbdir=$("$top/guest/build-busybox.sh") || failed busybox
rdir=$("$top/guest/build-rootfs.sh" "$bbdir") || failed "root filesystem"

build_secs() {
    awk '$1 == "build_seconds" { print $2 }' "$1/BUILD-INFO"
}

tmp=$(mktemp "$env_file.XXXXXX")
cat >"$tmp" <<EOT
# Written by scripts/artefacts.sh; paths into the artefact cache.
RRVM_KERNEL=$kdir/Image
RRVM_KERNEL_CONFIG=$kdir/config
RRVM_ROOTFS_RAW=$rdir/rootfs.ext4
RRVM_BUSYBOX=$bbdir/busybox
RRVM_BIOS=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin
EOT
mv "$tmp" "$env_file"

echo "artefacts: kernel $kdir/Image"
echo "artefacts: rootfs $rdir/rootfs.ext4"
echo "artefacts: clean build times: kernel $(build_secs "$kdir")s," \
    "busybox $(build_secs "$bbdir")s, rootfs $(build_secs "$rdir")s;" \
    "this run $(($(date +%s) - start))s"
echo "artefacts: wrote $env_file"

if [ $prune -eq 1 ]; then
    for d in "$RRVM_CACHE"/linux-* "$RRVM_CACHE"/busybox-* "$RRVM_CACHE"/rootfs-*; do
        [ -d "$d" ] || continue
        case $d in
        "$kdir" | "$bbdir" | "$rdir" | "$RRVM_CACHE/busybox-src") continue ;;
        esac
        lock=$d.lock
        if [ -e "$lock" ] && ! flock -n "$lock" true; then
            continue
        fi
        echo "artefacts: pruning $d"
        rm -rf "$d" "$d.lock" "$d.log"
    done
fi
