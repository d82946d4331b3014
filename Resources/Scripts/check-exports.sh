#!/bin/sh
# Check that a plugin library exports exactly Orthanc's four entry points.
# Usage: check-exports.sh NM LIBRARY        (run by ctest: plugin_exports)
set -eu
nm=$1
lib=$2
expected="OrthancPluginFinalize
OrthancPluginGetName
OrthancPluginGetVersion
OrthancPluginInitialize"

# Defined dynamic symbols, names only, without version suffixes.
actual=$("$nm" -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' |
         sed 's/@.*//' | LC_ALL=C sort -u)

if [ "$actual" = "$expected" ]; then
    echo "plugin_exports: $lib exports exactly the 4 entry points"
    exit 0
fi
echo "plugin_exports: FAILED: $lib exports:" >&2
echo "$actual" | sed 's/^/  /' >&2
echo "expected exactly:" >&2
echo "$expected" | sed 's/^/  /' >&2
exit 1
