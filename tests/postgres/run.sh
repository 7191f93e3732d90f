#!/usr/bin/env bash
# make test-postgres: starts a throwaway PostgreSQL (pg_throwaway.sh), runs
# the store conformance suite (the store unit tests, unchanged, with
# USHER_TEST_STORE set) and the integration suites listed in
# tests/postgres/integration.list against it, and removes it, pass or fail.
# `run.sh conformance` runs the conformance suite only (CI runs it on the
# sanitizer build too: BUILD=build-asan).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
here=tests/postgres
dir=$(mktemp -u /tmp/usher-pg.XXXXXX)
trap '"$here/pg_throwaway.sh" stop "$dir"' EXIT
url=$("$here/pg_throwaway.sh" start "$dir")
echo "test-postgres: PostgreSQL at $url"
export USHER_TEST_STORE="$url" USHER_TEST_PG_DIR="$dir"
fail=0
run() {
  local t=$1
  if "$BUILD/tests/$t" >"$dir.out" 2>&1; then echo "PASS (postgres) $t"
  else echo "FAIL (postgres) $t"; tail -40 "$dir.out"; fail=1; fi
}
while read -r t; do [ -n "$t" ] && [ "${t#\#}" = "$t" ] && run "$t"; done < "$here/conformance.list"
if [ "${1:-all}" != conformance ]; then
  while read -r t; do [ -n "$t" ] && [ "${t#\#}" = "$t" ] && run "$t"; done < "$here/integration.list"
fi
rm -f "$dir.out"
exit $fail
