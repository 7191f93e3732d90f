#!/bin/sh
# Runs the test binaries of a build folder: unit tests, integration tests, then
# the fuzz targets' replay drivers (with the unit tests).
# usage: tests/run.sh BUILD [unit|integration]
# Each binary gets a time limit; cmocka prints its own summary per binary and
# this script prints one closing line: "N passed, N failed".
build=${1:-build}
export USHER_BUILD="$build"   # the integration harness finds programs here
only=${2:-}
passed=0; failed=0; failed_names=""
run_one() {
    name=$(basename "$1")
    echo "== $name"
    if timeout --kill-after=10 "${USHER_TEST_TIMEOUT:-240}" "$1"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); failed_names="$failed_names $name"
    fi
}
for kind in unit integration; do
    [ -n "$only" ] && [ "$only" != "$kind" ] && continue
    for src in tests/$kind/test_*.c; do
        [ -e "$src" ] || continue
        run_one "$build/tests/$(basename "$src" .c)"
    done
done
# Every fuzz target's replay driver over its seed corpus and its regression
# inputs (crashes the fuzzers once found): each input must run clean.
if [ -z "$only" ] || [ "$only" = unit ]; then
    for src in tests/fuzz/fuzz_*.c; do
        [ -e "$src" ] || continue
        t=$(basename "$src" .c); t=${t#fuzz_}
        name="fuzz_replay_$t"
        echo "== $name"
        if timeout --kill-after=10 "${USHER_TEST_TIMEOUT:-240}" "$build/tests/$name" \
                "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t"; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1)); failed_names="$failed_names $name"
        fi
    done
fi
# The client SDK once more under valgrind: a full purchase flow (sync) and
# pipelining with teardown in flight (async) must not leak or touch bad memory.
# (Skipped for sanitizer builds: valgrind and ASan do not mix, and ASan already watches.)
if [ -z "${USHER_SANITIZED:-}" ] && { [ -z "$only" ] || [ "$only" = integration ]; }; then
    for t in test_client_sync test_client_async; do
        [ -x "$build/tests/$t" ] || continue
        echo "== $t (valgrind)"
        if timeout --kill-after=10 300 valgrind -q --error-exitcode=3 --leak-check=full \
                --errors-for-leak-kinds=definite,indirect "$build/tests/$t"; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1)); failed_names="$failed_names $t(valgrind)"
        fi
    done
fi
echo
[ -n "$failed_names" ] && echo "failed test programs:$failed_names"
echo "programs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
