#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time each.
#
#   scripts/fuzz-code.sh            # 30 s a target (what .ci/run runs)
#   FUZZ_SECONDS=600 scripts/fuzz-code.sh
#
# cargo-fuzz needs nightly-only flags (-Zsanitizer); the machine has one
# stable toolchain, so RUSTC_BOOTSTRAP=1 lets stable accept them. A crash
# leaves its input in fuzz/artifacts/<target>/: turn it into a regression
# test beside the code it broke.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd "$ROOT/fuzz"
for target in token_decode request_bodies newtypes; do
  echo "== cargo fuzz run $target (${SECONDS_PER_TARGET}s)"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048
done
