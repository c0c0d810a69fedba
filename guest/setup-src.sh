#!/bin/sh
# SPDX-License-Identifier: MIT
# guest/setup-src.sh - make `apt-get source busybox` possible: a fresh Debian
# machine has no deb-src entry, so add one mirroring each configured Debian
# archive (deb822 .sources or one-line sources.list), then apt-get update.
# Idempotent; a no-op when source packages are already known to apt.
set -eu

list=/etc/apt/sources.list.d/rrvm-src.sources

have_src() {
    apt-cache showsrc busybox 2>/dev/null | grep -q '^Package: busybox'
}

if have_src; then
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

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# deb822 stanzas whose URIs are a Debian archive: same stanza, Types: deb-src.
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && [ "$f" != "$list" ] || continue
    awk '
        function flush() {
            if (deb && debian) { printf "%s\n", stanza }
            stanza = ""; deb = 0; debian = 0
        }
        /^[ \t]*$/ { flush(); next }
        /^#/ { next }
        /^Types:/ { if ($0 ~ /(^|[ \t])deb([ \t]|$)/) deb = 1; $0 = "Types: deb-src" }
        /^URIs:/ { if ($0 ~ /debian/) debian = 1 }
        { stanza = stanza $0 "\n" }
        END { flush() }
    ' "$f" >>"$tmp"
done
# One-line format: every "deb <debian uri> ..." becomes a deb-src stanza.
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '
        $1 == "deb" && $0 ~ /debian/ {
            i = 2
            opts = ""
            if ($2 ~ /^\[/) {
                while ($i !~ /\]$/) { opts = opts " " $i; i++ }
                opts = opts " " $i; i++
            }
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
    echo "setup-src.sh: no Debian archive found in /etc/apt to mirror as deb-src" >&2
    exit 1
}
echo "setup-src.sh: adding $list" >&2
$sudo install -m 0644 "$tmp" "$list"
$sudo apt-get update -q >&2
have_src || {
    echo "setup-src.sh: apt still knows no busybox source package" >&2
    exit 1
}
