#!/bin/bash
# Runner of the web page's browser test (ctest: integration_webapp).
#
#   test_webapp.sh CACHE_DIR [test_webapp.py options: --plugin ... ]
#
# The same set-up as test_explorer.sh (and the same cache folder, so
# playwright-core is installed once per build tree): needs node with npm
# and Debian's chromium (Resources/Scripts/setup-test.sh installs both).
# Installs playwright-core, pinned, from the npm registry into CACHE_DIR
# when it is not there yet; it downloads no browser: the test drives
# /usr/bin/chromium.  Then runs test_webapp.py with it.  A missing tool
# is a failure, not a skip.
set -euo pipefail

PLAYWRIGHT_VERSION=1.65.1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[ $# -ge 1 ] || { echo "usage: $0 CACHE_DIR [test_webapp.py options]" >&2; exit 2; }
mkdir -p "$1"
CACHE=$(cd "$1" && pwd)
shift

fail() {
    printf 'FAIL setup: %s\n0 passed, 1 failed\n' "$*"
    exit 1
}

command -v node >/dev/null ||
    fail "node not found: run Resources/Scripts/setup-test.sh (apt-get install nodejs npm)"
[ -x /usr/bin/chromium ] ||
    fail "/usr/bin/chromium not found: run Resources/Scripts/setup-test.sh (apt-get install chromium)"

MODULE=$CACHE/node_modules/playwright-core
installed=$(node -p "require('$MODULE/package.json').version" 2>/dev/null || true)
if [ "$installed" != "$PLAYWRIGHT_VERSION" ]; then
    command -v npm >/dev/null ||
        fail "npm not found: run Resources/Scripts/setup-test.sh (apt-get install npm)"
    mkdir -p "$CACHE"
    echo "installing playwright-core@$PLAYWRIGHT_VERSION into $CACHE"
    # A lock: integration_explorer may install into the same folder at the
    # same time (ctest -j).
    exec 9>"$CACHE/.install-lock"
    flock 9
    installed=$(node -p "require('$MODULE/package.json').version" 2>/dev/null || true)
    if [ "$installed" != "$PLAYWRIGHT_VERSION" ]; then
        npm_config_cache=$CACHE/npm-cache PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$CACHE" \
            --no-audit --no-fund --no-save --no-package-lock --loglevel=error \
            "playwright-core@$PLAYWRIGHT_VERSION" >&2 ||
            fail "npm install playwright-core@$PLAYWRIGHT_VERSION failed"
    fi
    exec 9>&-
fi

exec /usr/bin/python3 "$HERE/test_webapp.py" --playwright "$MODULE" \
    --chromium /usr/bin/chromium "$@"
