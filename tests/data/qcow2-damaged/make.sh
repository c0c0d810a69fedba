#!/bin/sh
# tests/data/qcow2-damaged/make.sh - regenerate the damaged-image corpus used
# by tests/unit/test-qcow2-check.c: small qemu-img/qemu-io images (512-byte
# clusters unless noted) patched the way qemu-iotests 060, 080, 108, 138 and
# 261 damage them. Needs qemu-img, qemu-io (Debian qemu-utils 7.2) and
# python3. Usage: make.sh [outdir]   (default: the directory of this script)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# Fixed timestamps would need faketime; snapshot dates are zeroed below so
# regenerated files are byte-identical.
base() { # base NAME [cluster size]
    name=$1
    qemu-img create -q -f qcow2 -o cluster_size="${2:-512}" "$name" 64k
    qemu-io -c 'write -P 0x11 0 2k' -c 'write -P 0x22 8k 1k' \
        -c 'write -P 0x33 40k 512' "$name" >/dev/null
}

patch() { # patch FILE PYTHON-STATEMENTS
    /usr/bin/python3 - "$1" "$2" <<'PYEOF'
import struct, sys, os
path, code = sys.argv[1], sys.argv[2]
f = open(path, 'r+b')
def rd64(off):
    f.seek(off); return struct.unpack('>Q', f.read(8))[0]
def wr64(off, v):
    f.seek(off); f.write(struct.pack('>Q', v & 0xffffffffffffffff))
def rd32(off):
    f.seek(off); return struct.unpack('>I', f.read(4))[0]
def wr32(off, v):
    f.seek(off); f.write(struct.pack('>I', v))
def wr16(off, v):
    f.seek(off); f.write(struct.pack('>H', v))
cb = rd32(20); cs = 1 << cb
l1 = rd64(40); rt = rd64(48); snap = rd64(64)
rb = rd64(rt) & ~0x1ff
order = rd32(96)
def l2(i=0):
    return rd64(l1 + 8 * i) & 0x00fffffffffffe00
def l2e(i, j=0):            # address of L2 entry i of L1 entry j
    return l2(j) + 8 * i
def refcount_addr(cluster):   # 16-bit refcounts only
    assert order == 4
    return rb + 2 * cluster
def set_refcount(cluster, v):
    f.seek(refcount_addr(cluster)); f.write(struct.pack('>H', v))
def clear_dates():            # snapshot dates, for reproducible files
    off = snap
    for _ in range(rd32(60)):
        off = (off + 7) & ~7
        f.seek(off + 16); f.write(b'\0' * 16)
        ext = rd32(off + 36)
        f.seek(off + 12); il, nl = struct.unpack('>HH', f.read(4))
        off += 40 + ext + il + nl
exec(code)
f.close()
PYEOF
}

emit() { # emit NAME: copy into the corpus
    cp "$1" "$out/$1"
}

# 1. A cluster with a refcount but no reference (leak).
base leak.qcow2
patch leak.qcow2 'wr64(l2e(16), 0)'
emit leak.qcow2

# 2. A used data cluster whose refcount is 0 (corruption; needs rebuild).
base refcount-zero.qcow2
patch refcount-zero.qcow2 'set_refcount((rd64(l2e(0)) & 0xfffffffffe00) >> cb, 0)'
emit refcount-zero.qcow2

# 3. A used data cluster whose refcount is 2 (refcount too high + COPIED).
base refcount-two.qcow2
patch refcount-two.qcow2 'set_refcount((rd64(l2e(1)) & 0xfffffffffe00) >> cb, 2)'
emit refcount-two.qcow2

# 4. OFLAG_COPIED missing on a data cluster.
base copied-data.qcow2
patch copied-data.qcow2 'wr64(l2e(2), rd64(l2e(2)) & ~(1 << 63))'
emit copied-data.qcow2

# 5. OFLAG_COPIED missing on an L1 entry.
base copied-l1.qcow2
patch copied-l1.qcow2 'wr64(l1, rd64(l1) & ~(1 << 63))'
emit copied-l1.qcow2

# 6. An L2 entry pointing into the header (iotest 060).
# Offset 0 with COPIED reads as unallocated: the data cluster leaks.
base l2-into-header.qcow2
patch l2-into-header.qcow2 'wr64(l2e(3), 1 << 63)'
emit l2-into-header.qcow2

# 7. The L1 entry pointing at the header cluster (iotest 060).
base l1-into-header.qcow2
patch l1-into-header.qcow2 'wr64(l1 + 8, 1 << 63)'
emit l1-into-header.qcow2

# 8. An unaligned data offset in an L2 entry (iotest 060). With 512-byte
#    clusters every offset bit below 9 is reserved, so these use 4 KiB.
base unaligned-l2e.qcow2 4096
patch unaligned-l2e.qcow2 'wr64(l2e(0), rd64(l2e(0)) + 0x200)'
emit unaligned-l2e.qcow2

# 9. An unaligned L2 table offset in the L1 table.
base unaligned-l1e.qcow2 4096
patch unaligned-l1e.qcow2 'wr64(l1, rd64(l1) + 0x200)'
emit unaligned-l1e.qcow2

# 9b. An unaligned preallocated zero cluster (repairable by zeroing).
base unaligned-zero.qcow2 4096
patch unaligned-zero.qcow2 'wr64(l2e(0), rd64(l2e(0)) + 0x201)'
emit unaligned-zero.qcow2

# 10. A refcount block that overlaps the refcount table (iotest 060).
base refblock-overlap.qcow2
patch refblock-overlap.qcow2 'wr64(rt, rt)'
emit refblock-overlap.qcow2

# 11. An unaligned refcount block offset (iotest 108 style).
base refblock-unaligned.qcow2 4096
patch refblock-unaligned.qcow2 'wr64(rt, rb + 0x200)'
emit refblock-unaligned.qcow2

# 11b. Reserved bits in a refcount table entry.
base reftable-reserved.qcow2
patch reftable-reserved.qcow2 'wr64(rt, rb + 0x40)'
emit reftable-reserved.qcow2

# 12. A refcount block past the end of the file.
base refblock-outside.qcow2
patch refblock-outside.qcow2 'wr64(rt + 8, 64 * cs)'
emit refblock-outside.qcow2

# 13. Reserved bits set in an L1 and an L2 entry.
base reserved-bits.qcow2
patch reserved-bits.qcow2 'wr64(l1, rd64(l1) | (1 << 56)); wr64(l2e(5), rd64(l2e(5)) | (1 << 57))'
emit reserved-bits.qcow2

# 14. The file truncated in the middle of the last data cluster's
#     successor: the last data cluster lies past EOF.
base truncated.qcow2
/usr/bin/python3 -c "import os; os.truncate('truncated.qcow2', os.path.getsize('truncated.qcow2') - 1024)"
emit truncated.qcow2

# Images with a snapshot.
snapbase() {
    base "$1"
    qemu-img snapshot -c s1 "$1"
    qemu-io -c 'write -P 0x44 0 512' "$1" >/dev/null
    patch "$1" 'clear_dates()'
}

# 15. A clean image with a snapshot (reference for the rest).
snapbase snap-clean.qcow2
emit snap-clean.qcow2

# 16. The snapshot table past the end of the file (iotest 080).
snapbase snap-table-eof.qcow2
patch snap-table-eof.qcow2 'wr64(64, 1 << 20)'
emit snap-table-eof.qcow2

# 16b. More snapshots than QEMU allows (iotest 080): -r all discards the
#      overhanging ones.
snapbase snap-count-huge.qcow2
patch snap-count-huge.qcow2 'wr32(60, 70000)'
emit snap-count-huge.qcow2

# 16c. An unaligned snapshot table offset (iotest 080).
snapbase snap-table-unaligned.qcow2
patch snap-table-unaligned.qcow2 'wr64(64, snap + 0x10)'
emit snap-table-unaligned.qcow2

# 17. Too much extra data in a snapshot entry (iotest 261).
snapbase snap-extra-huge.qcow2
patch snap-extra-huge.qcow2 'wr32(snap + 36, 0xffff0000)'
emit snap-extra-huge.qcow2

# 18. A v3 snapshot entry with no extra data (iotest 261: incomplete).
snapbase snap-extra-none.qcow2
patch snap-extra-none.qcow2 '
f.seek(snap); e = bytearray(f.read(40 + 24 + 64))
il, nl = struct.unpack(">HH", e[12:16])
body = e[:36] + b"\0\0\0\0" + e[64:64 + il + nl]
f.seek(snap); f.write(body + b"\0" * (len(e) - len(body)))'
emit snap-extra-none.qcow2

# 19. A snapshot L1 offset that is not cluster aligned.
snapbase snap-l1-unaligned.qcow2
patch snap-l1-unaligned.qcow2 'wr64(snap, rd64(snap) + 0x10)'
emit snap-l1-unaligned.qcow2

# 20. A snapshot L1 too large (iotest 080).
snapbase snap-l1-huge.qcow2
patch snap-l1-huge.qcow2 'wr32(snap + 8, 0x10000000)'
emit snap-l1-huge.qcow2

# 21. A snapshot whose shared cluster lost a reference (refcount 1 < 2).
snapbase snap-refcount-low.qcow2
patch snap-refcount-low.qcow2 'set_refcount((rd64(l2e(16)) & 0xfffffffffe00) >> cb, 1)'
emit snap-refcount-low.qcow2

# 22. Compressed clusters (clean), 4 KiB clusters.
qemu-img create -q -f qcow2 -o cluster_size=4096 compressed.qcow2 64k
qemu-io -c 'write -c -P 0x55 0 4k' -c 'write -c -P 0x66 4k 4k' \
    -c 'write -P 0x77 16k 4k' compressed.qcow2 >/dev/null
emit compressed.qcow2

# 23. Dirty lazy-refcount image left by a crash (iotest 039).
qemu-img create -q -f qcow2 -o cluster_size=512,lazy_refcounts=on lazy-dirty.qcow2 64k
qemu-io -c 'write -P 0x5a 0 4k' -c abort lazy-dirty.qcow2 >/dev/null 2>&1 || true
emit lazy-dirty.qcow2

# 24. A persistent bitmap (clean): bitmap clusters are counted.
base bitmap.qcow2
qemu-img bitmap --add -g 512 bitmap.qcow2 b0
qemu-io -c 'write -P 0x66 16k 1k' bitmap.qcow2 >/dev/null 2>&1 || true
emit bitmap.qcow2

# 25. Leaked clusters at the end of the file, two of them.
base leak-tail.qcow2
patch leak-tail.qcow2 'wr64(l2e(16), 0); wr64(l2e(17), 0)'
emit leak-tail.qcow2

ls -l "$out"/*.qcow2 >/dev/null
