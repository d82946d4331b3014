# shellcheck shell=bash
# Sourced by the runners of the browser tests (test_explorer.sh,
# test_webapp.sh; ctest: integration_explorer, integration_webapp):
#
#   . "$HERE/browser_env.sh"
#   browser_test "$HERE/test_x.py" CACHE_DIR [test_x.py options]
#
# browser_test runs browser_env CACHE_DIR, then test_x.py with
# --playwright and --chromium and the other options (in place of the
# shell).  browser_env needs node with npm and Debian's chromium
# (Resources/Scripts/setup-test.sh installs both).  It installs
# playwright-core, pinned, from the npm registry into CACHE_DIR (a folder
# of the build tree, shared by both tests, so that it is installed once
# per build tree) when it is not there yet; it downloads no browser: the
# tests drive $CHROMIUM.  It sets PLAYWRIGHT_MODULE to the module's folder.
# A missing tool is a failure, not a skip: fail() prints the summary line
# the tests print and exits 1.

PLAYWRIGHT_VERSION=1.65.1
CHROMIUM=/usr/bin/chromium

fail() {
    printf 'FAIL setup: %s\n0 passed, 1 failed\n' "$*"
    exit 1
}

browser_env() {
    mkdir -p "$1"
    local cache installed
    cache=$(cd "$1" && pwd)

    command -v node >/dev/null ||
        fail "node not found: run Resources/Scripts/setup-test.sh (apt-get install nodejs npm)"
    [ -x "$CHROMIUM" ] ||
        fail "$CHROMIUM not found: run Resources/Scripts/setup-test.sh (apt-get install chromium)"

    PLAYWRIGHT_MODULE=$cache/node_modules/playwright-core
    installed=$(node -p "require('$PLAYWRIGHT_MODULE/package.json').version" 2>/dev/null || true)
    if [ "$installed" != "$PLAYWRIGHT_VERSION" ]; then
        command -v npm >/dev/null ||
            fail "npm not found: run Resources/Scripts/setup-test.sh (apt-get install npm)"
        echo "installing playwright-core@$PLAYWRIGHT_VERSION into $cache"
        # A lock: the other browser test may install into the same folder
        # at the same time (ctest -j).
        exec 9>"$cache/.install-lock"
        flock 9
        installed=$(node -p "require('$PLAYWRIGHT_MODULE/package.json').version" 2>/dev/null || true)
        if [ "$installed" != "$PLAYWRIGHT_VERSION" ]; then
            # playwright-core has no install script and no dependency; the
            # variable only makes sure that nothing tries to fetch a
            # browser.  npm's own cache stays in the build tree too.
            npm_config_cache=$cache/npm-cache PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$cache" \
                --no-audit --no-fund --no-save --no-package-lock --loglevel=error \
                "playwright-core@$PLAYWRIGHT_VERSION" >&2 ||
                fail "npm install playwright-core@$PLAYWRIGHT_VERSION failed"
        fi
        exec 9>&-
    fi
}

browser_test() {
    local script=$1
    shift
    [ $# -ge 1 ] || {
        echo "usage: $0 CACHE_DIR [$(basename "$script") options]" >&2
        exit 2
    }
    browser_env "$1"
    shift
    exec /usr/bin/python3 "$script" --playwright "$PLAYWRIGHT_MODULE" \
        --chromium "$CHROMIUM" "$@"
}
