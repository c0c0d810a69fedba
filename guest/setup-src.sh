#!/bin/sh
# SPDX-License-Identifier: MIT
# guest/setup-src.sh - make `apt-get source busybox` possible: a fresh Debian
# machine has no deb-src entry, so add one mirroring each configured Debian
# archive (deb822 .sources or one-line sources.list), then apt-get update.
# Idempotent; a no-op when source packages are already known to apt.
#
# Usage: guest/setup-src.sh [--print]
#   --print  only print the deb-src stanzas it would add (no root needed).
# RRVM_APT_ETC names another /etc/apt to read (for tests).
set -eu

etc=${RRVM_APT_ETC:-/etc/apt}
list=$etc/sources.list.d/rrvm-src.sources
print=0
case ${1:-} in
--print) print=1 ;;
"") ;;
*)
    echo "usage: $0 [--print]" >&2
    exit 2
    ;;
esac

have_src() {
    apt-cache showsrc busybox 2>/dev/null | grep -q '^Package: busybox'
}

if [ $print -eq 0 ] && have_src; then
    exit 0
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# deb822 stanzas of type deb whose URIs are a Debian archive: the same
# stanza with Types: deb-src (disabled stanzas are skipped).
for f in "$etc"/sources.list.d/*.sources; do
    [ -f "$f" ] && [ "$f" != "$list" ] || continue
    awk '
        function flush() {
            if (deb && debian && !disabled) { printf "%s\n", stanza }
            stanza = ""; deb = 0; debian = 0; disabled = 0
        }
        /^[ \t]*$/ { flush(); next }
        /^#/ { next }
        /^Types:/ {
            if ($0 ~ /[ \t]deb([ \t]|$)/) { deb = 1 }
            $0 = "Types: deb-src"
        }
        /^URIs:/ { if ($0 ~ /debian/) { debian = 1 } }
        /^Enabled:[ \t]*[Nn][Oo]/ { disabled = 1 }
        { stanza = stanza $0 "\n" }
        END { flush() }
    ' "$f" >>"$tmp"
done
# One-line format: "deb [options] <debian uri> <suite> <components>..."
# becomes a deb-src stanza, keeping signed-by.
for f in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '
        $1 != "deb" { next }
        {
            i = 2
            opts = ""
            if ($2 ~ /^\[/) {
                while (i < NF && $i !~ /\]$/) { opts = opts " " $i; i++ }
                opts = opts " " $i
                i++
            }
            if ($i !~ /debian/ || i + 1 > NF) { next }
            printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents:", $i, $(i + 1)
            for (j = i + 2; j <= NF; j++) { printf " %s", $j }
            printf "\n"
            if (match(opts, /signed-by=[^] ]*/)) {
                printf "Signed-By: %s\n", substr(opts, RSTART + 10, RLENGTH - 10)
            }
            printf "\n"
        }
    ' "$f" >>"$tmp"
done
[ -s "$tmp" ] || {
    echo "setup-src.sh: no Debian archive found in $etc to mirror as deb-src" >&2
    exit 1
}
if [ $print -eq 1 ]; then
    cat "$tmp"
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
        echo "setup-src.sh: need root (or sudo) to add $list" >&2
        exit 1
    }
    sudo=sudo
fi
echo "setup-src.sh: adding $list" >&2
$sudo install -m 0644 "$tmp" "$list"
$sudo apt-get update -q >&2
have_src || {
    echo "setup-src.sh: apt still knows no busybox source package" >&2
    exit 1
}
