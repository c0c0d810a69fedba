#!/bin/sh
# SPDX-License-Identifier: MIT
# guest/build-rootfs.sh - build (or reuse from the cache) the guest root
# filesystem: a 64 MiB raw ext4 image holding the static busybox (from
# guest/build-busybox.sh) and the files under guest/rootfs/. Needs no root
# privileges: mke2fs -d copies a staging tree, and devtmpfs provides /dev.
#
# Usage: guest/build-rootfs.sh [BUSYBOX_DIR]
# BUSYBOX_DIR is a busybox artefact directory (as printed by
# guest/build-busybox.sh); without it, build-busybox.sh is run first.
# Prints the artefact directory (holding rootfs.ext4) on stdout; progress
# goes to stderr. Exits non-zero on failure. Make a bootable qcow2 from it
# with guest/make-disk.sh.
set -eu
. "$(dirname "$0")/common.sh"

size=64M
# Fixed timestamps (2023-11-14) so equal inputs give an equal image.
epoch=1700000000
command -v mke2fs >/dev/null || die "mke2fs missing: apt-get install e2fsprogs"

if [ $# -ge 1 ]; then
    bbdir=$(cd "$1" && pwd) || die "$1: no such directory"
else
    bbdir=$("$guest_dir/build-busybox.sh") || die "busybox build failed"
fi
[ -f "$bbdir/COMPLETE" ] || die "busybox artefact $bbdir is incomplete"

overlay_list() {
    (cd "$guest_dir/rootfs" && find . -type f | LC_ALL=C sort)
}

hash=$({
    echo "busybox $(basename "$bbdir")"
    echo "e2fsprogs $(pkg_version e2fsprogs)"
    echo "size $size epoch $epoch"
    overlay_list | while IFS= read -r f; do
        mode=644
        [ -x "$guest_dir/rootfs/$f" ] && mode=755
        echo "overlay $f $mode $(sha256sum <"$guest_dir/rootfs/$f" | cut -d' ' -f1)"
    done
} | inputs_hash "$0" "$guest_dir/common.sh")
cache_begin rootfs "$hash"
start=$(now)

echo "guest: building root filesystem in $tmp (log: $log)" >&2

fail() {
    tail -20 "$log" >&2
    rm -rf "$tmp"
    die "root filesystem build failed: $*; full log in $log"
}

stage=$tmp/stage
umask 022
mkdir -p "$stage" || fail "mkdir"
for d in bin sbin usr/bin usr/sbin etc dev proc sys tmp mnt root run var; do
    mkdir -p "$stage/$d" || fail "mkdir $d"
done
chmod 1777 "$stage/tmp"
chmod 0700 "$stage/root"
install -m 0755 "$bbdir/busybox" "$stage/bin/busybox" || fail "install busybox"
while IFS= read -r link; do
    case $link in
    /bin/busybox | "") continue ;;
    /bin/* | /sbin/* | /usr/bin/* | /usr/sbin/*) ;;
    *) fail "odd busybox.links entry: $link" ;;
    esac
    ln -sf /bin/busybox "$stage$link" || fail "link $link"
done <"$bbdir/busybox.links"
[ -L "$stage/sbin/init" ] || fail "busybox has no init applet"
overlay_list | while IFS= read -r f; do
    mode=0644
    [ -x "$guest_dir/rootfs/$f" ] && mode=0755
    mkdir -p "$stage/$(dirname "$f")"
    install -m "$mode" "$guest_dir/rootfs/$f" "$stage/$f" || exit 1
done || fail "copy overlay"
find "$stage" -exec touch -h -d "@$epoch" {} + || fail "touch"

uuid=$(echo "rrvm-rootfs $hash" | sha256sum |
    sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/')
mkdir "$tmp/out"
E2FSPROGS_FAKE_TIME=$epoch mke2fs -q -t ext4 -L rrvm-root -U "$uuid" \
    -E "hash_seed=$uuid,root_owner=0:0" -d "$stage" \
    -F "$tmp/out/rootfs.ext4" "$size" >>"$log" 2>&1 || fail "mke2fs"
# mke2fs -d copies each file's ctime, which no one can set on the host: fix
# them in the image so equal inputs give a byte-identical image.
(cd "$stage" && find . | sed 's|^\.||') | while IFS= read -r p; do
    echo "sif \"${p:-/}\" ctime @$epoch"
    echo "sif \"${p:-/}\" ctime_extra 0"
done >"$tmp/ctime.debugfs"
E2FSPROGS_FAKE_TIME=$epoch debugfs -w -f "$tmp/ctime.debugfs" \
    "$tmp/out/rootfs.ext4" >"$tmp/debugfs.out" 2>&1 || fail "debugfs (set ctimes)"
cat "$tmp/debugfs.out" >>"$log"
# debugfs echoes each command as "debugfs: ..."; any other line is an error.
if grep -qv '^debugfs' "$tmp/debugfs.out"; then
    fail "debugfs could not set every ctime"
fi
e2fsck -fn "$tmp/out/rootfs.ext4" >>"$log" 2>&1 ||
    fail "e2fsck finds the new image inconsistent"
rm -rf "$stage"
secs=$(($(now) - start))
{
    echo "busybox $(basename "$bbdir")"
    echo "e2fsprogs $(pkg_version e2fsprogs)"
    echo "uuid $uuid"
    echo "build_seconds $secs"
} >"$tmp/out/BUILD-INFO"
cache_commit
echo "guest: root filesystem built in ${secs}s (clean build): $final/rootfs.ext4" >&2
echo "$final"
