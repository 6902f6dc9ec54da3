#!/usr/bin/env bash
# Build and run the libFuzzer targets of tests/fuzz (issue 17) and print, per target, the
# executions, the seconds, executions per second, the coverage libFuzzer reports at the end
# (cov: edges of the instrumented code reached, ft: features) and the crashes (sanitizer
# reports, leaks, timeouts, out-of-memory).
#
#   run.sh [--seconds N] [--build-only | --no-build] [target ...]   (default: every target, 60 s)
#
# The targets are built in their own CMake build dir (FUZZ_BUILD_DIR, default <repo>/build-fuzz)
# with clang, -DHL_FUZZ=ON (ASan + UBSan, fuzzer coverage); the normal build is not touched. Each
# target starts from its seed corpus tests/fuzz/corpus/<target> (read only, committed) plus the
# inputs earlier runs found ($FUZZ_BUILD_DIR/corpus/<target>); a crashing input is written to
# $FUZZ_BUILD_DIR/artifacts/<target>-crash-... (reproduce: the target binary with that file).
# Exit 1 when any target crashed. `make fuzz FUZZ_SECONDS=600` and ctest -L fuzz run this.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
TARGETS_ALL=(command_body query_params tokens cdc_plan event_plan counselling_body stream_proto
  stream_change image)
seconds=60 build=1 run=1 targets=()
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    --build-only) run=0; shift ;;
    --no-build) build=0; shift ;;
    -*) echo "usage: $0 [--seconds N] [--build-only|--no-build] [target ...]" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=("${TARGETS_ALL[@]}")

if ((build)); then
  command -v clang >/dev/null || { echo "clang is missing: bash deploy/local/deps.sh fuzz" >&2; exit 1; }
  if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    CC=clang cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DHL_FUZZ=ON -DBUILD_TESTING=OFF >"$BUILD.configure.log" 2>&1 \
      || { cat "$BUILD.configure.log" >&2; exit 1; }
  fi
  build_targets=("${targets[@]/#/fuzz_}")
  ((run)) || build_targets+=(asan_pj_dead_letter) # --build-only: what ctest -L fuzz runs
  cmake --build "$BUILD" --target "${build_targets[@]}" >/dev/null \
    || { cmake --build "$BUILD" --target "${build_targets[@]}" 2>&1 | tail -30 >&2; exit 1; }
fi
((run)) || exit 0

failed=0
printf '%-16s %12s %8s %8s %8s %8s %8s %8s\n' target executions seconds execs/s cov ft \
  crashes corpus
for t in "${targets[@]}"; do
  bin=$BUILD/tests/fuzz/fuzz_$t
  [[ -x $bin ]] || { echo "$bin is missing (run without --no-build)" >&2; exit 1; }
  corpus=$BUILD/corpus/$t artifacts=$BUILD/artifacts log=$BUILD/logs/$t.log
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  before=$(find "$artifacts" -name "$t-*" | wc -l)
  t0=$SECONDS
  set +e
  # every sanitizer report, leaks included, is a crash (no per-target exceptions)
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t-" "$corpus" "$HERE/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  took=$((SECONDS - t0))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  # the last status line libFuzzer printed ("#N DONE cov: C ft: F corp: ...")
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  ft=${cov##* } cov=${cov#cov: } cov=${cov%% *}
  crashes=$(( $(find "$artifacts" -name "$t-*" | wc -l) - before ))
  ((rc == 0)) || ((crashes > 0)) || crashes=1 # died without an artifact: count it
  printf '%-16s %12s %8s %8s %8s %8s %8s %8s\n' "$t" "${execs:-0}" "$took" "${rate:-0}" \
    "${cov:--}" "${ft:--}" "$crashes" "$(ls "$corpus" | wc -l)"
  if ((crashes)); then
    failed=1
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -8 >&2
  fi
done
exit "$failed"
