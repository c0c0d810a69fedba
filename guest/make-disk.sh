#!/bin/sh
# SPDX-License-Identifier: MIT
# guest/make-disk.sh - make a fresh bootable qcow2 from the cached raw root
# filesystem, so a boot never writes to the cached artefact.
#
# Usage: guest/make-disk.sh RAW OUT.qcow2
# Uses $RRVM_IMG (our rrvm-img) when set, else qemu-img. Exits non-zero on
# failure.
set -eu

[ $# -eq 2 ] || {
    echo "usage: $0 RAW OUT.qcow2" >&2
    exit 2
}
raw=$1
out=$2
[ -f "$raw" ] || {
    echo "$0: $raw: no such file" >&2
    exit 1
}
img=${RRVM_IMG:-qemu-img}
rm -f "$out"
exec "$img" convert -f raw -O qcow2 "$raw" "$out"
