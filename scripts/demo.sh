#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/demo.sh - the main job: install what is missing, build, show
# rrvm-img on a scratch qcow2 (create, write, snapshot, check, convert), get
# the guest kernel and root filesystem (scripts/artefacts.sh, cached), make
# the root disk with rrvm-img, and boot Linux in rrvm on this terminal.
#
# Usage: scripts/demo.sh [--check | --img]
#   (none)   boot interactively: a root shell; `poweroff`, or Ctrl-a x, quits.
#   --check  type a short session instead (the shell, the monitor through
#            Ctrl-a c, QMP, savevm/loadvm of a changed file, poweroff;
#            scripts/demo-session.py) and exit with its status; also the
#            default when stdin is not a terminal.
#   --img    only the rrvm-img part, no guest.
# The root disk, build/demo/root.qcow2, is made once and kept between runs:
# what you write in the guest stays. Delete it to start again.
# Environment: RRVM_BUILD (build directory, default build/release),
# RRVM_DEMO_DIR (where root.qcow2 lives, default build/demo),
# RRVM_ARTEFACTS_ENV (use these artefacts instead of running
# scripts/artefacts.sh), RRVM_DEMO_TIMEOUT (seconds, --check only; 600).
# The snapshot catalog of the demo is build/demo/catalog.sqlite (RRVM_CATALOG
# is set to it), so the demo never writes your own catalog.
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
RRVM_CATALOG=$ddir/catalog.sqlite
export RRVM_CATALOG
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

# The serial port and the HMP monitor share this terminal (Ctrl-a c
# switches), as -nographic gives; QMP listens on a unix socket beside them.
qmp=$ddir/qmp.sock
set -- "$rrvm" -M virt -m 256M -nographic -serial mon:stdio \
    -qmp "unix:$qmp,server=on,wait=off" -bios "$RRVM_BIOS" \
    -kernel "$RRVM_KERNEL" -append "console=ttyS0 root=/dev/vda rw" \
    -drive "file=$disk,format=qcow2,if=virtio" -device virtio-rng-device

if [ $mode = boot ]; then
    say "booting Linux in rrvm: a root shell; 'poweroff' or Ctrl-a x quits"
    cat >&2 <<EOT
   Ctrl-a c switches to the monitor and back: try 'info status',
   'info registers', 'stop', 'info statehash', 'cont', 'x /4i \$pc', 'help',
   'savevm NAME', 'info snapshots', 'loadvm NAME', 'delvm NAME'.
   'info catalog' lists the snapshot catalog ($RRVM_CATALOG).
   QMP listens on $qmp:
   $top/monitor/rrvm-qmp-shell $qmp
EOT
    printf '%s\n' "$*" >&2
    status=0
    "$@" || status=$?
    say "the snapshot catalog: rrvm-img catalog list ($RRVM_CATALOG)"
    "$img" catalog list >&2 || true
    exit $status
fi

# --check: a typed session on a pseudo-terminal (scripts/demo-session.py):
# the shell, then the monitor through Ctrl-a c, then QMP, then poweroff.
say "booting Linux in rrvm with a typed session: the shell, the monitor" \
    "(Ctrl-a c), QMP (rrvm-qmp-shell), poweroff"
printf '%s\n' "$*" >&2
status=0
/usr/bin/python3 "$top/scripts/demo-session.py" "$qmp" \
    "$top/monitor/rrvm-qmp-shell" "${RRVM_DEMO_TIMEOUT:-600}" -- "$@" ||
    status=$?
echo
if [ $status -ne 0 ]; then
    echo "demo: the session failed (status $status)" >&2
    exit $status
fi
say "the snapshot catalog: rrvm-img catalog list ($RRVM_CATALOG)"
listing=$("$img" catalog list)
printf '%s\n' "$listing"
case $listing in
*" demo "*) ;;
*)
    echo "demo: the catalog does not list the snapshot 'demo'" >&2
    exit 1
    ;;
esac
echo "demo: OK: Linux booted in rrvm; the monitor paused it, its state hash" \
    "held still, QMP agreed, loadvm brought a changed file back, the" \
    "catalog lists the snapshot, and it powered off" >&2
exit 0
