#!/usr/bin/env bash
# Installs the Debian 12 packages gridgov needs to build, run, test and benchmark.
# As root it installs what is missing; as a normal user it prints the exact command and stops.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config git ca-certificates
  libzmq3-dev libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev libssl-dev libpq-dev
  postgresql-15 postgresql-15-postgis-3 postgresql-client-15
  libcmocka-dev curl jq wrk python3 python3-jsonschema
  docker-compose
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js and npm run the cross-check of the WeChat crypto against the npm libraries
# (tests/xcheck/). Checked by command, not by package: NodeSource's nodejs bundles npm and
# conflicts with Debian's npm package, so installing `npm` beside it would fail.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "gridgov needs these Debian packages. Install them, then run the command again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package may start its own cluster on 5432; gridgov keeps a private one under var/.
