#!/usr/bin/env bash
# Fuzzes the running API from its own OpenAPI document with schemathesis
# (PyPI): every route with generated and malformed input; fails on any 5xx,
# any answer off its documented schema, or any other schemathesis check.
#
#   scripts/fuzz-api.sh                  # bounded passes (what .ci/run runs)
#   FUZZ_EXAMPLES=500 scripts/fuzz-api.sh  # a longer SQLite pass
#
# One pass on a fresh SQLite file (FUZZ_EXAMPLES per operation, default
# 25), then one on a fresh Postgres database (FUZZ_POSTGRES_EXAMPLES,
# default 150, one schemathesis run per path) created on the server ZENTRA_TEST_POSTGRES_URL names and
# dropped afterwards: the backends refuse different input (Postgres text
# cannot hold a NUL), so each needs its own pass. Without that variable the
# Postgres pass is skipped, unless ZENTRA_REQUIRE_POSTGRES=1 (.ci/run sets
# both), which makes it mandatory.
#
# Needs the debug binary (cargo build --bin zentra). Loopback only; stops
# by itself. `positive_data_acceptance` is left out: it expects every
# schema-valid request to succeed, but this API answers 400 to valid
# requests by design (a taken username, an inactive user) and its password
# limit is in bytes, which JSON Schema cannot say. NUL characters in
# generated strings are asked for explicitly: left to its default, the
# fuzzer rarely puts one where Postgres chokes on it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ZENTRA=${ZENTRA_BIN:-$ROOT/target/debug/zentra}
EXAMPLES=${FUZZ_EXAMPLES:-25}
POSTGRES_EXAMPLES=${FUZZ_POSTGRES_EXAMPLES:-150}
ADMIN_URL=${ZENTRA_TEST_POSTGRES_URL:-}

command -v schemathesis >/dev/null || pip install --quiet 'schemathesis>=4,<5'

WORK=$(mktemp -d)
PID=
PG_DATABASE=
cleanup() {
  local status=$?
  if [ -n "$PID" ]; then
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  if [ -n "$PG_DATABASE" ]; then
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PG_DATABASE WITH (FORCE)" >/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

# fuzz BASE EXAMPLES TOKEN [OPTION...]: one schemathesis run.
fuzz() {
  schemathesis --config-file "$ROOT/scripts/schemathesis.toml" run "$1/api/openapi.json" \
    --checks all --exclude-checks positive_data_acceptance \
    --max-examples "$2" --generation-allow-x00 true --request-timeout 10 --no-color \
    -H "Authorization: Bearer $3" "${@:4}"
}

# fuzz_pass NAME DB_URL EXAMPLES [PER_OPERATION]: starts the service on DB_URL, fuzzes it,
# stops it. The failed-login limits are lifted: with them, every login past
# the first hundred answers 429 before its input reaches the database, and
# the fuzzer would test the limit instead of the login.
fuzz_pass() {
  local name=$1 db_url=$2 examples=$3 per_operation=${4:-no} dir="$WORK/$1" base= token started
  mkdir -p "$dir"
  : > "$dir/stdout"
  echo "== schemathesis on $name, $examples examples per operation"
  started=$SECONDS
  # `exec`: $PID is then the service itself, not a shell around it.
  (cd "$dir" && exec env -i PATH="$PATH" DB__URL="$db_url" SERVER__PORT=0 \
    DB__FIRST_SUPERUSER=fuzzer DB__FIRST_SUPERUSER_PASSWORD=fuzzer-password \
    AUTH__ROUNDS=4 AUTH__LOGIN_MAX_FAILURES=1000000 AUTH__LOGIN_MAX_FAILURES_PER_ADDRESS=1000000 \
    RUST_LOG=warn "$ZENTRA" > "$dir/stdout" 2> "$dir/stderr") &
  PID=$!
  for _ in $(seq 1 100); do
    base=$(sed -n 's/^zentra listening on //p' "$dir/stdout")
    [ -n "$base" ] && break
    sleep 0.1
  done
  [ -n "$base" ] || { cat "$dir/stderr"; echo "zentra did not start on $name" >&2; exit 1; }

  # A real superuser holding every built-in scope, so the bearer routes,
  # the admin routes among them, are fuzzed past authentication too. (Its
  # own account is out of the fuzzer's reach: the admin API refuses a
  # superuser acting on their own account.)
  token=$(curl -sf -X POST "$base/api/auth/token" -d 'username=fuzzer&password=fuzzer-password&scope=me+admin+introspect' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

  if [ "$per_operation" = yes ]; then
    # One run per path: over the whole document the fuzzer spreads its
    # strange strings thin and rarely puts a NUL in a login's username;
    # path by path it does within seconds.
    local path
    for path in $(curl -sf "$base/api/openapi.json" |
      python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)["paths"]))'); do
      fuzz "$base" "$examples" "$token" --include-path-regex "^$path\$"
    done
  else
    fuzz "$base" "$examples" "$token"
  fi

  # A 500 logs "internal error" with its cause: there must be none. (actix's
  # own complaints about malformed requests are the fuzzer's doing.)
  if grep 'internal error' "$dir/stderr"; then
    echo "zentra hit internal errors while fuzzed on $name" >&2
    exit 1
  fi
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=
  echo "== $name: passed in $((SECONDS - started)) s"
}

fuzz_pass sqlite "sqlite:///$WORK/sqlite/fuzz.db" "$EXAMPLES"

if [ -z "$ADMIN_URL" ]; then
  if [ "${ZENTRA_REQUIRE_POSTGRES:-}" = 1 ]; then
    echo "ZENTRA_REQUIRE_POSTGRES=1 but ZENTRA_TEST_POSTGRES_URL is not set" >&2
    exit 1
  fi
  echo "== postgres: skipped (set ZENTRA_TEST_POSTGRES_URL to fuzz it too)"
  exit 0
fi
PG_DATABASE="zentra_fuzz_$(date +%s)_$$"
psql "$ADMIN_URL" -qc "CREATE DATABASE $PG_DATABASE" >/dev/null
# The admin URL with its database name replaced (query parameters kept).
admin_base=${ADMIN_URL%%\?*}
fuzz_pass postgres "${admin_base%/*}/$PG_DATABASE${ADMIN_URL#"$admin_base"}" "$POSTGRES_EXAMPLES" yes
