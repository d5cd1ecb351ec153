#!/usr/bin/env bash
# The npm cross-check of common/wxcrypt (tests/xcheck/xcheck.js against $BUILD/tests/xcheck/
# wxcrypt_cli). Installs the pinned libraries (package-lock.json) itself with `npm ci` into
# var/xcheck-npm (cache var/npm-cache), once per lock file; a failed install is reported as such.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
cli=$top/$BUILD/tests/xcheck/wxcrypt_cli
[ -x "$cli" ] || { echo "xcheck: $cli is missing (make tests)"; exit 1; }
for tool in node npm; do
  command -v "$tool" >/dev/null ||
    { echo "xcheck: $tool is not installed (deploy/install-deps.sh installs nodejs and npm)"; exit 1; }
done

dir=$top/var/xcheck-npm
mkdir -p "$dir"
# Plain and sanitizer runs may start at once: one installs, the other waits for it.
(
  flock 9
  if cmp -s tests/xcheck/package-lock.json "$dir/package-lock.json" && [ -f "$dir/node_modules/.package-lock.json" ]; then
    exit 0
  fi
  rm -f "$dir/package-lock.json"
  cp tests/xcheck/package.json tests/xcheck/package-lock.json "$dir/"
  if ! timeout 300 npm ci --prefix "$dir" --cache "$top/var/npm-cache" --prefer-offline --no-audit --no-fund \
         --fetch-retries=1 --fetch-timeout=30000 --loglevel=error > "$dir/npm-ci.log" 2>&1; then
    tail -20 "$dir/npm-ci.log"
    echo "xcheck: cannot install @wecom/crypto and wechat-crypto with npm from $(npm config get registry)" \
         "(offline, or the registry is unreachable?); full log: $dir/npm-ci.log"
    rm -f "$dir/package-lock.json"
    exit 1
  fi
) 9> "$dir.lock" || exit 1

XCHECK_CLI=$cli XCHECK_MODULES=$dir/node_modules GRIDGOV_TOP=$top node tests/xcheck/xcheck.js
