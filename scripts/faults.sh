#!/usr/bin/env bash
# The fault and multi-instance checks (tests/e2e/faults.rs), repeated:
#
#   scripts/faults.sh                # once (as .ci/run does, within cargo test)
#   FAULT_ROUNDS=20 scripts/faults.sh
#
# Loopback only; each test stops by itself. Postgres tests need
# ZENTRA_TEST_POSTGRES_URL (default below) and create their own databases.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export ZENTRA_TEST_POSTGRES_URL=${ZENTRA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export ZENTRA_REQUIRE_POSTGRES=1
cargo build --bin zentra
for round in $(seq 1 "${FAULT_ROUNDS:-1}"); do
  echo "== round $round"
  cargo test --test e2e faults
done
