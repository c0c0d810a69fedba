#!/bin/sh
# Install the Debian packages listed in scripts/packages.txt that are missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# A line "PACKAGE?COMMAND" names a package needed only when COMMAND is
# missing (a command another package may already provide).
pkgs=""
for line in $(grep -v '^#' "$here/packages.txt" | grep -v '^$'); do
    case $line in
    *\?*)
        command -v "${line#*\?}" >/dev/null 2>&1 || pkgs="$pkgs ${line%%\?*}"
        ;;
    *) pkgs="$pkgs $line" ;;
    esac
done
# One dpkg-query for the whole list; a package it does not print as
# "install ok installed" is missing.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' $pkgs 2>/dev/null |
    awk '$2 == "install" && $4 == "installed" { print $1 }')
missing=""
for p in $pkgs; do
    case " $(echo $installed) " in
    *" $p "*) ;;
    *) missing="$missing $p" ;;
    esac
done
if [ -n "$missing" ]; then
    echo "setup: installing:$missing"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
fi
