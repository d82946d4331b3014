#!/bin/bash
# Run a command inside the Debian root of SUITE (see debian-root.sh), with
# this worktree and /tmp bind-mounted at the same paths, so that the
# plugin's path and the test harness's temporary folders are the same
# inside and outside the root:
#
#   run-in-root.sh SUITE CMD [ARG]...
#   e.g. run-in-root.sh sid Orthanc --version
#        run-in-root.sh trixie cmake -S "$PWD" -B "$PWD/build-trixie"
#
# As root, with a clean environment (HOME, LANG, PATH only; pass more with
# `env NAME=VALUE CMD`), in the current folder if it is inside the
# worktree or /tmp, else in /.  The root is built first if it is missing
# or stale.  The command keeps this script's PID (exec all the way down),
# so a caller can stop it by PID (SIGTERM, SIGKILL) and gets its exit
# status; the mounts end with it.  Extra folders: OA_ROOT_BINDS="DIR ...".
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }
suite=$1; shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
worktree=$(cd "$here/../.." && pwd -P)
binds=(--bind "$worktree" --bind /tmp)
for d in ${OA_ROOT_BINDS:-}; do
    binds+=(--bind "$d")
done
exec "$here/debian-root.sh" "$suite" "${binds[@]}" -- "$@"
