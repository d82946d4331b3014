#!/bin/bash
# Runner of the Orthanc Explorer browser test (ctest: integration_explorer).
#
#   test_explorer.sh CACHE_DIR [test_explorer.py options: --plugin ... ]
#
# Installs playwright-core into CACHE_DIR when it is not there yet and
# checks node and chromium (browser_env.sh, shared with test_webapp.sh),
# then runs test_explorer.py with them.  A missing tool is a failure, not
# a skip.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=browser_env.sh
. "$HERE/browser_env.sh"
browser_test "$HERE/test_explorer.py" "$@"
