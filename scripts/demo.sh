#!/bin/sh
# The main job: set up, build, then show rrvm-img on a qcow2 disk: create an
# image, write data, take and list snapshots, check it and convert it.
# (Later issues turn this into booting the default guest.)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"
bdir="$top/build/release"
[ -f "$bdir/build.ninja" ] || meson setup -Dbuildtype=release "$bdir" >/dev/null
ninja -C "$bdir" >/dev/null
img="$bdir/rrvm-img"
[ -x "$img" ] || img="$bdir/imgtool/rrvm-img"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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
