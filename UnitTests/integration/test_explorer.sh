#!/bin/bash
# Runner of the Orthanc Explorer browser test (ctest: integration_explorer).
#
#   test_explorer.sh CACHE_DIR [test_explorer.py options: --plugin ... ]
#
# Needs node with npm and Debian's chromium (Resources/Scripts/setup-test.sh
# installs both).  Installs playwright-core, pinned, from the npm registry
# into CACHE_DIR (a folder of the build tree) when it is not there yet; it
# downloads no browser: the test drives /usr/bin/chromium.  Then runs
# test_explorer.py with it.  A missing tool is a failure, not a skip.
set -euo pipefail

PLAYWRIGHT_VERSION=1.65.1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[ $# -ge 1 ] || { echo "usage: $0 CACHE_DIR [test_explorer.py options]" >&2; exit 2; }
CACHE=$1
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
    # playwright-core has no install script and no dependency; the variable
    # only makes sure that nothing tries to fetch a browser.
    # npm's own cache stays in the build tree too.
    npm_config_cache=$CACHE/npm-cache PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$CACHE" \
        --no-audit --no-fund --no-save --no-package-lock --loglevel=error \
        "playwright-core@$PLAYWRIGHT_VERSION" >&2 ||
        fail "npm install playwright-core@$PLAYWRIGHT_VERSION failed"
fi

exec /usr/bin/python3 "$HERE/test_explorer.py" --playwright "$MODULE" \
    --chromium /usr/bin/chromium "$@"
