#!/bin/bash
# Runner of the web page's browser test (ctest: integration_webapp).
#
#   test_webapp.sh CACHE_DIR [test_webapp.py options: --plugin ... ]
#
# The same set-up as test_explorer.sh (browser_env.sh, and the same cache
# folder, so playwright-core is installed once per build tree): installs
# playwright-core into CACHE_DIR when it is not there yet and checks node
# and chromium, then runs test_webapp.py with them.  A missing tool is a
# failure, not a skip.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=browser_env.sh
. "$HERE/browser_env.sh"
browser_test "$HERE/test_webapp.py" "$@"
