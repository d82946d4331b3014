#!/bin/bash
# Which Debian package gives each shared library a plugin build needs, on
# the host or inside a Debian root, and whether a server with only the
# `orthanc` package installed has it (i.e. the package is in orthanc's
# Depends closure, without Recommends):
#
#   UnitTests/versions/needed-packages.sh WHERE PLUGIN
#       WHERE   host | trixie | sid
#   e.g. UnitTests/versions/needed-packages.sh sid build/libOrthancAnonymizer.so
#
# One line per NEEDED soname: "soname  package  with-orthanc|EXTRA|MISSING".
# EXTRA: a server must install that package besides orthanc; MISSING: no
# file of that name in WHERE (the build cannot load there).  Ends with the
# apt-get line that makes the plugin load on a server that has orthanc.
set -euo pipefail
if [ $# -ne 2 ]; then
    sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 2
fi
WHERE=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
TOP=$(cd "$HERE/../.." && pwd -P)
case "$WHERE" in
    host) RUN=() ;;
    trixie|sid) RUN=("$TOP/Resources/Scripts/run-in-root.sh" "$WHERE") ;;
    *) echo "needed-packages.sh: WHERE is host, trixie or sid" >&2; exit 2 ;;
esac
DIR=$(mktemp -d /tmp/oa-needed.XXXXXX)
trap 'rm -rf -- "$DIR"' EXIT
cp -- "$2" "$DIR/plugin.so"

# The script run where Orthanc runs (host or root): only dpkg, apt-cache
# and ldconfig, no network.
cat >"$DIR/inside.sh" <<'EOF'
set -eu
so=$1
closure=$(apt-cache depends --recurse --no-recommends --no-suggests \
    --no-conflicts --no-breaks --no-replaces --no-enhances orthanc 2>/dev/null |
    sed -nE 's/^ *(Pre)?Depends: <?([^ >:]+).*/\2/p; s/^([a-z0-9][^ :]*)$/\1/p' |
    sort -u)
extra=""
for lib in $(objdump -p "$so" 2>/dev/null | awk '$1 == "NEEDED" {print $2}' ||
             readelf -d "$so" | sed -nE 's/.*NEEDED.*\[(.*)\]/\1/p'); do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')
    if [ -z "$path" ]; then
        printf '%-18s %-22s MISSING\n' "$lib" "-"; continue
    fi
    pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | sed -n '1s/:.*//p')
    [ -n "$pkg" ] || pkg=$(dpkg -S "$path" 2>/dev/null | sed -n '1s/:.*//p')
    if printf '%s\n' "$closure" | grep -qxF "$pkg"; then
        printf '%-18s %-22s with-orthanc\n' "$lib" "$pkg"
    else
        printf '%-18s %-22s EXTRA\n' "$lib" "$pkg"; extra="$extra $pkg"
    fi
done
echo "to load on a server with orthanc: apt-get install${extra:- (nothing)}"
EOF
"${RUN[@]}" /bin/sh "$DIR/inside.sh" "$DIR/plugin.so"
