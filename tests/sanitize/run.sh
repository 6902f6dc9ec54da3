#!/usr/bin/env bash
# The end-to-end suite against ASan + UBSan builds of every server (issue 17): `make
# test-sanitize`, and CI's e2e pass (.ci/run). Builds $SAN_BUILD_DIR (default build-asan:
# -DHL_SANITIZE=ON, i.e. -fsanitize=address,undefined -fno-sanitize-recover=undefined
# -fno-omit-frame-pointer), runs `ctest -L e2e` there (its stack fixture starts the stack of
# HL_TEST_PROFILE from that build: command-server, query-server, stream-listener, projector and
# the tools the tests run, hl-loadgen and hl-topics), then fails when any sanitizer wrote a report.
#
# Reports: every instrumented process writes its ASan / UBSan / LeakSanitizer report to
# $HL_LOG_DIR/sanitizer.<exe>.<pid> (log_path, exitcode 23); LeakSanitizer runs at every graceful
# exit (SIGTERM: stack.sh down, and the tests' own restarts). The check also scans the servers'
# logs for a report that went to stderr. Usage: run.sh [--check-only] [ctest args...]
#   HL_TEST_PROFILE  the stack profile (default test), SAN_BUILD_DIR the build dir.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SAN_BUILD_DIR:-$ROOT/build-asan}
export HL_TEST_PROFILE=${HL_TEST_PROFILE:-test}
LOGS=$(HL_PROFILE=$HL_TEST_PROFILE bash -c "source '$ROOT/deploy/local/env.sh' && echo \$HL_LOG_DIR")
SUPP=$ROOT/tests/sanitize/lsan.supp

# check: every sanitizer report of this run (files under log_path, or lines in a server log)
check() {
  local found=0 f
  for f in "$LOGS"/sanitizer.*; do
    [[ -s $f ]] || continue
    found=1
    echo "== sanitizer report: $f" >&2
    head -n 60 "$f" >&2
  done
  if grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: |SUMMARY: UndefinedBehaviorSanitizer' \
      "$LOGS"/*.log 2>/dev/null; then
    found=1
    echo "== sanitizer report in the server logs above" >&2
  fi
  if ((found)); then
    echo "[sanitize] FAILED: sanitizer reports (see above; files in $LOGS)" >&2
    return 1
  fi
  echo "[sanitize] no ASan, UBSan or LeakSanitizer report (logs: $LOGS)"
}

if [[ ${1:-} == --check-only ]]; then check; exit; fi

start=$SECONDS
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHL_SANITIZE=ON >/dev/null
cmake --build "$BUILD"
echo "[sanitize] build-asan built in $((SECONDS - start)) s"

# Every instrumented process of the run (servers started by stack.sh, tools run by the tests)
# inherits these. log_path's directory is the stack's log dir, created by stack.sh before the
# first server starts (the fixture wipes the stack dir, so no report of an earlier run remains).
export ASAN_OPTIONS="log_path=$LOGS/sanitizer:log_exe_name=1:exitcode=23:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="log_path=$LOGS/sanitizer:log_exe_name=1:print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$SUPP:print_suppressions=0"
t0=$SECONDS
rc=0
(cd "$BUILD" && ctest -L e2e --output-on-failure "$@") || rc=$?
echo "[sanitize] e2e against the sanitized servers: rc=$rc in $((SECONDS - t0)) s"
check || rc=1
exit $rc
