#!/usr/bin/env bash
# The test command of the README: configures a Release build, builds
# everything (library, tests, benchmarks, override) and runs the whole ctest
# suite. .ci/run calls exactly this, then the sanitizer/checked variants.
#
# Usage: bash test/run.sh [extra cmake options, e.g. -DHAKMEM_CHECKED=ON]
#   HAKMEM_BUILD_DIR   build directory (default: build, under the repo root)
#   HAKMEM_JOBS        parallel build/test jobs (default: nproc)
#   HAKMEM_CTEST_ARGS  extra ctest arguments (default: none), e.g. "-L mt"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=${HAKMEM_BUILD_DIR:-build}
jobs=${HAKMEM_JOBS:-$(nproc)}

# Later -D options win, so the caller may override the build type.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j"$jobs"
cd "$build"
# shellcheck disable=SC2086 # HAKMEM_CTEST_ARGS is a list of words
ctest --output-on-failure -j"$jobs" ${HAKMEM_CTEST_ARGS:-}
