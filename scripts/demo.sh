#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/demo.sh - the main job: install what is missing, build, show
# rrvm-img on a scratch qcow2 (create, write, snapshot, check, convert), get
# the guest kernel and root filesystem (scripts/artefacts.sh, cached), make
# the root disk with rrvm-img, and boot Linux in rrvm on this terminal.
#
# Usage: scripts/demo.sh [--check | --img]
#   (none)   boot interactively: a root shell; `poweroff`, or Ctrl-a x, quits.
#   --check  type a short session instead (uname -a; poweroff) and exit with
#            rrvm's status; also the default when stdin is not a terminal.
#   --img    only the rrvm-img part, no guest.
# The root disk, build/demo/root.qcow2, is made once and kept between runs:
# what you write in the guest stays. Delete it to start again.
# Environment: RRVM_BUILD (build directory, default build/release),
# RRVM_DEMO_DIR (where root.qcow2 lives, default build/demo),
# RRVM_ARTEFACTS_ENV (use these artefacts instead of running
# scripts/artefacts.sh), RRVM_DEMO_TIMEOUT (seconds, --check only; 600).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
mode=boot
case ${1:-} in
--check) mode=check ;;
--img) mode=img ;;
"") [ -t 0 ] || mode=check ;;
*)
    echo "usage: $0 [--check | --img]" >&2
    exit 2
    ;;
esac

say() {
    printf '\n== %s\n' "$*" >&2
}

say "packages (scripts/packages.txt)"
"$top/scripts/setup.sh"

bdir=${RRVM_BUILD:-$top/build/release}
case $bdir in
/*) ;;
*) bdir=$top/$bdir ;;
esac
say "build ($bdir)"
if [ ! -f "$bdir/build.ninja" ]; then
    meson setup -Dbuildtype=release -Dtests=false "$bdir" >/dev/null
fi
ninja -C "$bdir" >/dev/null
img=$bdir/imgtool/rrvm-img
rrvm=$bdir/emulator/rrvm

# Part 1: rrvm-img on a scratch image (a second or two).
say "rrvm-img: create, write, snapshot, check, convert"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
    set -x
    "$img" create -f qcow2 "$work/disk.qcow2" 1G
    head -c 4M /dev/urandom >"$work/data.raw"
    "$img" convert -f raw -O qcow2 "$work/data.raw" "$work/data.qcow2"
    "$img" snapshot -c before "$work/data.qcow2"
    "$img" snapshot -l "$work/data.qcow2"
    "$img" info "$work/data.qcow2"
    "$img" check "$work/data.qcow2"
    "$img" convert -f qcow2 -O raw "$work/data.qcow2" "$work/back.raw"
    cmp "$work/data.raw" "$work/back.raw"
    "$img" compare -f raw -F qcow2 "$work/data.raw" "$work/data.qcow2"
) >&2
rm -rf "$work"
trap - EXIT
[ $mode != img ] || exit 0

# Part 2: the Linux guest.
if [ -n "${RRVM_ARTEFACTS_ENV:-}" ]; then
    env_file=$RRVM_ARTEFACTS_ENV
else
    say "guest kernel and root filesystem (cached; a first build takes" \
        "10 minutes or more)"
    "$top/scripts/artefacts.sh" >&2
    env_file=$top/build/artefacts.env
fi
RRVM_KERNEL=""
RRVM_ROOTFS_RAW=""
RRVM_BIOS=""
# shellcheck source=/dev/null
. "$env_file"
for f in "$RRVM_KERNEL" "$RRVM_ROOTFS_RAW" "$RRVM_BIOS"; do
    [ -f "$f" ] || {
        echo "demo: $f (from $env_file) is missing" >&2
        exit 1
    }
done

ddir=${RRVM_DEMO_DIR:-$top/build/demo}
disk=$ddir/root.qcow2
mkdir -p "$ddir"
if [ ! -f "$disk" ]; then
    say "root disk $disk, made by rrvm-img from the cached ext4 image"
    (
        set -x
        "$img" convert -f raw -O qcow2 "$RRVM_ROOTFS_RAW" "$disk.tmp"
    ) >&2
    mv "$disk.tmp" "$disk"
    echo "$RRVM_ROOTFS_RAW" >"$ddir/root.origin"
else
    say "root disk $disk (kept from an earlier run; delete it to start again)"
    rc=0
    "$img" check -q "$disk" >&2 || rc=$?
    case $rc in
    0) ;;
    3) echo "demo: $disk has leaked clusters (harmless)" >&2 ;;
    *)
        echo "demo: $disk fails rrvm-img check ($rc); delete it to start" \
            "again" >&2
        exit 1
        ;;
    esac
fi

set -- "$rrvm" -M virt -m 256M -nographic -bios "$RRVM_BIOS" \
    -kernel "$RRVM_KERNEL" -append "console=ttyS0 root=/dev/vda rw" \
    -drive "file=$disk,format=qcow2,if=virtio" -device virtio-rng-device

if [ $mode = boot ]; then
    say "booting Linux in rrvm: a root shell; 'poweroff' or Ctrl-a x quits"
    printf '%s\n' "$*" >&2
    exec "$@"
fi

# --check: the whole session is typed ahead, before the guest runs. What
# the serial port receives before Linux opens the console is dropped, so
# the script begins with empty lines that may be lost.
say "booting Linux in rrvm with a typed-ahead session: uname -a; poweroff"
log=$ddir/check.log
status=0
{
    i=0
    while [ $i -lt 24 ]; do
        echo
        i=$((i + 1))
    done
    echo "uname -a"
    echo "poweroff"
} | timeout "${RRVM_DEMO_TIMEOUT:-600}" "$@" >"$log" || status=$?
tail -n 25 "$log"
echo
if [ $status -ne 0 ]; then
    echo "demo: rrvm exited with status $status (console in $log)" >&2
    exit $status
fi
if ! grep -q "^Linux rrvm .* riscv64" "$log" ||
    ! grep -q "reboot: Power down" "$log"; then
    echo "demo: the guest did not answer 'uname -a' and power off" \
        "(console in $log)" >&2
    exit 1
fi
echo "demo: OK: Linux booted in rrvm, answered 'uname -a' and powered off" >&2
exit 0
