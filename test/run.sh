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

# A fresh Debian machine lacks the test dependencies: install what is missing
# (root only; elsewhere configure reports what to install).
pkgs=(cmake make gcc g++ pkg-config libcmocka-dev libbenchmark-dev python3 git)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "test/run.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi

# Later -D options win, so the caller may override the build type.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j"$jobs"
cd "$build"
# shellcheck disable=SC2086 # HAKMEM_CTEST_ARGS is a list of words
ctest --output-on-failure -j"$jobs" ${HAKMEM_CTEST_ARGS:-}
