#!/usr/bin/env bash
# Installs the Debian packages jsnap needs to build and test, if missing.
# Sourced by tools/demo and tools/test; safe to run again.
set -euo pipefail

JSNAP_BUILD_PACKAGES=(
  build-essential cmake pkg-config
  libzstd-dev librocksdb-dev libsodium-dev libsqlite3-dev libcli11-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
)
# Tools the tests drive for real: sqlite3 CLI, xattr tools, strace (to prove
# unchanged files are not opened), util-linux (mount for the tmpfs tests,
# runuser), PostgreSQL (a real server for the pg_dump tests).
JSNAP_TEST_PACKAGES=(sqlite3 attr strace util-linux e2fsprogs postgresql)

jsnap_install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "tools: installing ${missing[*]}" >&2
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
