#!/bin/bash
# A Debian root file system with Debian's Orthanc, its SDK and the project's
# build dependencies, to build and test the plugin on the Orthanc of another
# Debian release (issue 13: 1.12.7 in Debian 13 "trixie", 1.13.0 in
# unstable "sid").
#
#   debian-root.sh SUITE
#       Make the root of SUITE (trixie | sid), or reuse it from the cache,
#       then print its folder and the Orthanc version inside it.
#   debian-root.sh SUITE [--bind DIR]... -- CMD [ARG]...
#       The same, then run CMD inside the root, as root, with a clean
#       environment, in the current folder if it is bind-mounted, else in /.
#       CMD's exit status is returned; CMD keeps this script's PID (every
#       step is an exec), so stopping this PID stops CMD.
#
# The cache: $OA_ROOTS_DIR/SUITE (default /var/cache/orthanc-anonymizer/
# roots/SUITE), with a stamp file inside (etc/orthanc-anonymizer-root)
# recording the suite, the mirror and the package list.  The root is built
# when it is missing or its stamp differs; it is built in SUITE.partial and
# renamed to SUITE only when complete, so a half-built root never sits
# under the final name.  A lock (SUITE.lock) keeps builders apart, and
# keeps a root from being replaced while a command runs in it.
#
# Mounts: /proc, /dev, /dev/pts (and /dev/shm) and the --bind folders are
# bind-mounted only for the command, in a private mount namespace of its
# own (unshare --mount): they are never visible on the host, and they go
# away with the command, whatever ends it (even SIGKILL), so nothing can be
# left mounted under the cache.
#
# Network: only the Debian mirror this machine's apt uses (the first
# ".../debian" URI of /etc/apt/sources.list{,.d/*}; OA_DEBIAN_MIRROR
# overrides it), and its "-security" sibling on the same host for trixie.
#
# Needs: root, debootstrap (installed from the host's apt if missing),
# util-linux (unshare, flock).
set -euo pipefail

# The packages of every root.  Build dependencies of the project (see
# setup-common.sh), Orthanc with its SDK and two official plugins, and
# Python with pydicom for the tests.  Names that do not exist in SUITE are
# looked up inside the root (t64 renames), see resolve_packages.
OA_ROOT_PACKAGES=(
    orthanc orthanc-dev orthanc-postgresql orthanc-dicomweb
    cmake gcc make pkg-config libcjson-dev libcurl4-openssl-dev
    libssh2-1-dev libminizip-dev libdeflate-dev zlib1g-dev libssl-dev libpq-dev
    libcmocka-dev libtesseract-dev tesseract-ocr-eng
    python3 python3-pydicom curl
)
# Bump when the way a root is made changes (forces a rebuild).
OA_ROOT_FORMAT=2

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'debian-root.sh: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2
    exit 2
}

[ $# -ge 1 ] || usage
SUITE=$1; shift
case "$SUITE" in
    trixie|sid) ;;
    -h|--help) usage ;;
    *) die "unknown suite '$SUITE' (trixie | sid)" ;;
esac
BINDS=()
CMD=()
while [ $# -gt 0 ]; do
    case "$1" in
        --bind) [ $# -ge 2 ] || usage; BINDS+=("$(realpath -e -- "$2")"); shift 2 ;;
        --) shift; CMD=("$@"); [ ${#CMD[@]} -gt 0 ] || usage; break ;;
        *) usage ;;
    esac
done
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot and mounts need it)"

ROOTS_DIR=${OA_ROOTS_DIR:-/var/cache/orthanc-anonymizer/roots}
mkdir -p "$ROOTS_DIR"
ROOTS_DIR=$(realpath -e "$ROOTS_DIR")
ROOT=$ROOTS_DIR/$SUITE
PARTIAL=$ROOTS_DIR/$SUITE.partial
STAMP_PATH=etc/orthanc-anonymizer-root

# -- The mirror ----------------------------------------------------------

# Print the first URI of the host's apt sources whose path ends in /$1
# (one-line and deb822 formats).
host_uri() {
    local files=() f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
             /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && files+=("$f")
    done
    [ ${#files[@]} -gt 0 ] || return 0
    grep -hoE "https?://[^][ \t\"']+/$1/?([ \t]|\$)" "${files[@]}" 2>/dev/null |
        grep -v '^#' | head -n 1 | tr -d ' \t' | sed 's,/$,,'
}

MIRROR=${OA_DEBIAN_MIRROR:-$(host_uri debian)}
[ -n "$MIRROR" ] || die "no Debian mirror in /etc/apt/sources.list{,.d}; set OA_DEBIAN_MIRROR"
MIRROR_HOST=$(printf '%s\n' "$MIRROR" | sed -E 's,^https?://([^/]+).*,\1,')
SECURITY=""
if [ "$SUITE" = trixie ]; then
    SECURITY=$(host_uri debian-security)
    case "$SECURITY" in
        http://"$MIRROR_HOST"/*|https://"$MIRROR_HOST"/*) ;;
        *) SECURITY="" ;;  # only the mirror's own host
    esac
fi

# The stamp a root of this script must carry.
expected_stamp() {
    printf 'format=%s\nsuite=%s\nmirror=%s\nsecurity=%s\npackages=%s\n' \
        "$OA_ROOT_FORMAT" "$SUITE" "$MIRROR" "$SECURITY" \
        "$(printf '%s\n' "${OA_ROOT_PACKAGES[@]}" | sort -u | tr '\n' ' ' | sed 's/ $//')"
}

# -- Mounting and running ------------------------------------------------

# True if anything is mounted at or under $1 in this mount namespace.
has_mounts() {
    awk -v p="$1" '$5 == p || index($5, p "/") == 1 { found = 1 }
                   END { exit !found }' /proc/self/mountinfo
}

# Remove a root folder: never while something is mounted inside it.
remove_root() {
    [ -e "$1" ] || return 0
    has_mounts "$1" && die "refusing to remove $1: something is mounted inside"
    rm -rf --one-file-system -- "$1"
}

# in_root DIR ENV_ASSIGNMENTS_AND_CMD...: exec the command in root DIR
# (see the header: private mount namespace, clean environment).  The
# current folder is kept if it is one of the BINDS or below one.
in_root() {
    local dir=$1; shift
    local cwd=/ b here
    here=$(pwd -P)
    for b in "${BINDS[@]}"; do
        if [ "$here" = "$b" ] || [ "${here#"$b"/}" != "$here" ]; then
            cwd=$here
        fi
    done
    # The mounts are made by a small script run by unshare: a new mount
    # namespace (private: nothing propagates back to the host), then
    # exec chroot, so the command keeps our PID and the namespace (with
    # its mounts) ends when the command does.
    # shellcheck disable=SC2016
    exec unshare --mount --propagation private -- /bin/bash -euc '
        dir=$1; cwd=$2; n=$3; shift 3
        mount --bind /proc "$dir/proc"
        mount --bind /dev "$dir/dev"
        mount --bind /dev/pts "$dir/dev/pts"
        if mountpoint -q /dev/shm; then mount --bind /dev/shm "$dir/dev/shm"; fi
        while [ "$n" -gt 0 ]; do
            mkdir -p "$dir$1"
            mount --bind "$1" "$dir$1"
            shift; n=$((n - 1))
        done
        exec chroot "$dir" /usr/bin/env -i --chdir="$cwd" \
            HOME=/root LANG=C.UTF-8 \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            "$@"
    ' oa-root "$dir" "$cwd" "${#BINDS[@]}" "${BINDS[@]}" "$@"
}

# run_in DIR CMD...: in_root in a subshell (for the build steps), with
# DEBIAN_FRONTEND set.
run_in() {
    local dir=$1; shift
    ( BINDS=(); in_root "$dir" DEBIAN_FRONTEND=noninteractive "$@" )
}

# -- Building ------------------------------------------------------------

# Print the packages to install in root $1: each name of OA_ROOT_PACKAGES,
# or, if the suite has no such package, its t64 rename (Debian 13 renamed
# libraries for the 64-bit time_t transition, e.g. libssh2-1 -> libssh2-1t64).
resolve_packages() {
    local p
    for p in "${OA_ROOT_PACKAGES[@]}"; do
        if run_in "$1" apt-cache show --no-all-versions "$p" >/dev/null 2>&1; then
            printf '%s\n' "$p"
        elif run_in "$1" apt-cache show --no-all-versions "${p}t64" >/dev/null 2>&1; then
            say "  $p is ${p}t64 in $SUITE" ; printf '%s\n' "${p}t64"
        else
            die "no package $p (nor ${p}t64) in $SUITE"
        fi
    done
}

build_root() {
    local t0=$SECONDS
    command -v debootstrap >/dev/null || {
        say "Installing debootstrap (host apt)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2 ||
            { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q debootstrap >&2; } ||
            die "cannot install debootstrap"
    }
    remove_root "$PARTIAL"
    say "Building the $SUITE root in $PARTIAL from $MIRROR"
    # debootstrap mounts /proc and /sys inside the target: in a private
    # namespace, so that a failure leaves nothing mounted on the host.
    unshare --mount --propagation private -- \
        debootstrap --variant=minbase --components=main \
        --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
        "$SUITE" "$PARTIAL" "$MIRROR" >&2 ||
        die "debootstrap failed (see $PARTIAL/debootstrap/debootstrap.log)"
    {
        printf 'deb %s %s main\n' "$MIRROR" "$SUITE"
        if [ "$SUITE" = trixie ]; then
            printf 'deb %s %s-updates main\n' "$MIRROR" "$SUITE"
            [ -z "$SECURITY" ] || printf 'deb %s %s-security main\n' "$SECURITY" "$SUITE"
        fi
    } >"$PARTIAL/etc/apt/sources.list"
    # No service may start inside the root (Debian's orthanc would take
    # port 8042): policy-rc.d status 101 means "do not start" to invoke-rc.d.
    printf '#!/bin/sh\nexit 101\n' >"$PARTIAL/usr/sbin/policy-rc.d"
    chmod 755 "$PARTIAL/usr/sbin/policy-rc.d"
    # Valid-Until is not checked: sid's Release file expires within days,
    # and a mirror that is a snapshot (or a test machine's clock) makes it
    # "expired" ("Release file ... is expired"); the signatures still are.
    printf '%s\n' 'APT::Install-Recommends "false";' \
        'APT::Install-Suggests "false";' 'Acquire::Check-Valid-Until "false";' \
        >"$PARTIAL/etc/apt/apt.conf.d/90orthanc-anonymizer"
    cp -L /etc/resolv.conf "$PARTIAL/etc/resolv.conf" 2>/dev/null || true
    run_in "$PARTIAL" apt-get update -q >&2 || die "apt-get update failed in $SUITE"
    local pkgs
    mapfile -t pkgs < <(resolve_packages "$PARTIAL")
    [ ${#pkgs[@]} -eq ${#OA_ROOT_PACKAGES[@]} ] || die "package lookup failed"
    say "Installing ${#pkgs[@]} packages in $SUITE"
    run_in "$PARTIAL" apt-get install -y -q "${pkgs[@]}" >&2 ||
        die "apt-get install failed in $SUITE"
    run_in "$PARTIAL" apt-get clean
    # The package lists are kept: apt-cache answers inside the root.
    expected_stamp >"$PARTIAL/$STAMP_PATH"
    printf 'resolved=%s\n' "$(printf '%s ' "${pkgs[@]}" | sed 's/ $//')" \
        >>"$PARTIAL/$STAMP_PATH"
    # Replace the old root (if any) by the new one.
    if [ -e "$ROOT" ]; then
        remove_root "$ROOT.old"
        mv -T -- "$ROOT" "$ROOT.old"
    fi
    mv -T -- "$PARTIAL" "$ROOT"
    remove_root "$ROOT.old"
    say "Built the $SUITE root in $((SECONDS - t0)) s ($(du -sh --one-file-system "$ROOT" | cut -f1))"
}

# True if the root exists with the stamp this script would write.
root_is_current() {
    [ -f "$ROOT/$STAMP_PATH" ] &&
        [ "$(grep -v '^resolved=' "$ROOT/$STAMP_PATH")" = "$(expected_stamp)" ]
}

# -- Main ----------------------------------------------------------------

exec 9>"$ROOTS_DIR/$SUITE.lock"
flock -s 9
if ! root_is_current; then
    # Exclusive to build; waits (bounded) for commands running in the root.
    flock -u 9
    flock -x -w 900 9 || die "timed out waiting for $ROOTS_DIR/$SUITE.lock"
    if ! root_is_current; then
        if [ -e "$ROOT" ]; then
            say "The $SUITE root's stamp differs from this script's: rebuilding"
        fi
        build_root
    fi
    flock -s 9   # converts the lock: shared while the command runs
fi

if [ ${#CMD[@]} -eq 0 ]; then
    printf '%s\n' "$ROOT"
    run_in "$ROOT" Orthanc --version | sed -n 1p
    exit 0
fi
# fd 9 (the shared lock) stays open in the command: the root is not
# rebuilt under it.
in_root "$ROOT" "${CMD[@]}"
