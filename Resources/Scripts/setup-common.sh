# Shared by setup-run.sh and setup-test.sh (sourced, not run): the Debian 12
# packages the project needs, and their installation.

# To build and run the plugin.
OA_RUN_PACKAGES=(
    orthanc orthanc-dev
    libcjson-dev libcurl4-openssl-dev libssh2-1-dev libminizip-dev libdeflate-dev
    zlib1g-dev libssl-dev libpq-dev libcmocka-dev
    libtesseract-dev tesseract-ocr-eng
    cmake pkg-config gcc make curl
)

# The clang of the sanitizer and fuzzing builds: 14 on Debian 12 (the
# project's fuzzing compiler); elsewhere the version Debian's `clang`
# package depends on (19 on Debian 13), or OA_CLANG.
oa_clang_version() {
    local v
    if [ "$(. /etc/os-release 2>/dev/null; echo "${VERSION_ID:-}")" = 12 ]; then
        echo 14
        return
    fi
    v=$(apt-cache depends clang 2>/dev/null |
        sed -n 's/^ *Depends: clang-\([0-9][0-9]*\)$/\1/p' | head -n 1)
    echo "${v:-14}"
}
OA_CLANG=${OA_CLANG:-$(oa_clang_version)}

# To run every test as CI does (on top of OA_RUN_PACKAGES).
OA_TEST_PACKAGES=(
    dcmtk python3 python3-pydicom python3-numpy python3-pil fonts-dejavu-core
    tesseract-ocr
    "clang-$OA_CLANG" "libclang-rt-$OA_CLANG-dev"
    valgrind binutils
    vsftpd openssh-server openssh-client apache2 apache2-utils curl openssl
    iproute2
    postgresql orthanc-postgresql
    dicom3tools debootstrap
)

oa_say() {
    printf '==> %s\n' "$*"
}

oa_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Print the packages of "$@" that are not installed.
oa_missing_packages() {
    local p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
                grep -q 'install ok installed'; then
            printf '%s\n' "$p"
        fi
    done
}

# Install the packages of "$@" that are missing.  Nothing is fetched (not
# even `apt-get update`) when all are there, so a prepared machine goes
# straight to the build.
oa_install_packages() {
    local missing sudo="" guard=""
    command -v dpkg-query >/dev/null ||
        oa_die "dpkg-query not found: these scripts are for Debian 12"
    mapfile -t missing < <(oa_missing_packages "$@")
    if [ "${#missing[@]}" -eq 0 ]; then
        oa_say "All $# required packages are installed"
        return 0
    fi
    oa_say "Installing ${#missing[@]} missing packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null ||
            oa_die "run as root (or install sudo) to install: ${missing[*]}"
        sudo="sudo"
    fi
    # Installing the orthanc package must not start Debian's Orthanc
    # service: it would take port 8042.  policy-rc.d exit status 101 means
    # "do not start services" to invoke-rc.d.  Only ours is removed after.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        guard=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$guard" >/dev/null
        $sudo chmod 755 "$guard"
    fi
    local rc=0
    export DEBIAN_FRONTEND=noninteractive
    { $sudo apt-get update -q &&
        $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; } ||
        rc=$?
    if [ -n "$guard" ]; then
        $sudo rm -f "$guard"
    fi
    [ "$rc" -eq 0 ] || oa_die "apt-get failed (status $rc)"
    mapfile -t missing < <(oa_missing_packages "$@")
    [ "${#missing[@]}" -eq 0 ] || oa_die "still missing: ${missing[*]}"
}

# Number of parallel build jobs: the cores, at most OA_JOBS if set.
oa_jobs() {
    local n
    n=$(nproc 2>/dev/null || echo 2)
    if [ -n "${OA_JOBS:-}" ]; then
        n=$OA_JOBS
    fi
    printf '%s\n' "$n"
}
