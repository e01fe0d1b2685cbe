#!/usr/bin/env bash
# Zentra's benchmark (issue 4): builds the release binaries, measures the two
# ceilings (a bare actix-web JSON route; one bcrypt hash), then drives zentra
# on SQLite and on Postgres with wrk on loopback, every scenario for a fixed
# time, and prints one table (also written to bench/results/latest.md), with
# the cost of the metrics on GET / (METRICS__ENABLED=false beside the default)
# and the scale scenario (a million users bulk-loaded beside an empty
# database, measure_scale; about 4.5 minutes of the run).
#
#   bench/run.sh                      # from the repository root
#
# Environment (all optional):
#   BENCH_ROUNDS=12            bcrypt cost given to zentra (AUTH__ROUNDS) and hash_time
#   BENCH_DURATION=10          seconds per fast scenario
#   BENCH_HASH_DURATION=15     seconds per hashing scenario (register, login)
#   BENCH_CONNECTIONS=64       connections for the fast scenarios
#   BENCH_HASH_CONNECTIONS=8   connections for register and login
#   BENCH_STORM_CONNECTIONS=32 connections of the login storm
#   BENCH_THREADS=2            wrk threads per load generator
#   BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres
#                              an admin URL where a database may be created;
#                              Postgres is skipped with a notice if unreachable
#   BENCH_POSTGRES_PARAMS=?sslmode=disable
#                              appended to the service's Postgres URLs (empty: libpq's
#                              default, TLS when the server offers it)
#   BENCH_SKIP_BUILD=1         use the binaries already built
#   CARGO_TARGET_DIR           where cargo builds (default ./target)
#   BENCH_SCALE_USERS=1000000  users bulk-loaded for the scale scenario (issue 16), beside
#                              as many sessions and a tenth as many failed logins
#                              (BENCH_SCALE_SESSIONS, BENCH_SCALE_FAILURES); 0 skips it
#   BENCH_SCALE_SAMPLE=10000   how many of the loaded users and sessions its requests spread over
#   BENCH_SCALE_MMAP_MB=1024   DB__SQLITE_MMAP_MB of an extra users/me run on the large SQLite
#                              file (0 skips it)
#   BENCH_ONLY=scale           only the scale scenario (its table: bench/results/scale.md)
#   BENCH_ONLY=keys            only verify and users/me under HS256, EdDSA and ES256 on
#                              SQLite (its table: bench/results/keys.md)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RELEASE=$TARGET_DIR/release

ROUNDS=${BENCH_ROUNDS:-12}
DURATION=${BENCH_DURATION:-10}
HASH_DURATION=${BENCH_HASH_DURATION:-15}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
HASH_CONNECTIONS=${BENCH_HASH_CONNECTIONS:-8}
STORM_CONNECTIONS=${BENCH_STORM_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
PG_ADMIN_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
# What the service's own Postgres URLs end with. libpq's default sslmode
# (prefer) negotiates TLS whenever the server offers it, loopback or not
# (Debian's does): on this 2-core machine that took users/me from 35-37k to
# 25-28k requests/s, the encryption on both ends. A Postgres beside the
# service is reached without it (or over the unix socket); set
# BENCH_POSTGRES_PARAMS= (empty) to measure with TLS.
PG_PARAMS=${BENCH_POSTGRES_PARAMS-?sslmode=disable}
SCALE_USERS=${BENCH_SCALE_USERS:-1000000}
SCALE_SESSIONS=${BENCH_SCALE_SESSIONS:-$SCALE_USERS}
SCALE_FAILURES=${BENCH_SCALE_FAILURES:-$((SCALE_USERS / 10))}
SCALE_SAMPLE=${BENCH_SCALE_SAMPLE:-10000}
ONLY=${BENCH_ONLY:-}
case $ONLY in
    "" | all | scale | keys) ;;
    *) printf 'bench: BENCH_ONLY=%s: only "scale" or "keys" (or nothing, for all)\n' "$ONLY" >&2; exit 2 ;;
esac

PASSWORD=bench-password-1
USER_NAME=bench_user
# Fixed 64-byte keys: tokens made before a restart stay valid.
ACCESS_KEY=bench-access-key-0123456789abcdef0123456789abcdef0123456789abcd
REFRESH_KEY=bench-refresh-key-0123456789abcdef0123456789abcdef0123456789abc

WORK=$(mktemp -d -t zentra-bench.XXXXXX)
export BENCH_LUA=$BENCH/lua
PG_DB=""
SCALE_PG_DBS=()          # the scale scenario's databases, dropped after use (and at exit)
SERVER_PID=""
SERVER_ADDR=""
STARTED_PIDS=()

# Results.
HTTP_CEILING_RUNS=()     # requests/s of the bare actix route, each run
PAIRED=""                # the last of them, the base of the next rows
ME_RPS=""                # users/me with the JWT, the base of its API-key row
HS_VERIFY_RPS=""         # verify and users/me under HS256 on SQLite: the bases of
HS_ME_RPS=""             # the EdDSA and ES256 rows
CEILING_PID=""
CEILING_ADDR=""
HASH_MS=""               # one bcrypt hash at cost ROUNDS, milliseconds
HASH_CEILING=""          # nproc / hash time, hashes per second
HASH_PARALLEL=""         # hashes per second measured on every core at once
ROWS=()                  # "scenario|backend|rps|p50|p99|errors|ratio|target"
RESOURCES=()             # "backend|idle MB|256-conn MB|start-up ms"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- plumbing

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    local db
    for db in ${PG_DB:+"$PG_DB"} "${SCALE_PG_DBS[@]}"; do
        psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop database $db"
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

psql_admin() { PGCONNECT_TIMEOUT=3 psql "$PG_ADMIN_URL" -v ON_ERROR_STOP=1 -qtA "$@"; }

apt_install() {
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    log "installing $* with apt-get"
    "${sudo[@]}" apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null
}

install_tools() {
    command -v wrk >/dev/null || apt_install wrk
    command -v curl >/dev/null || apt_install curl
    command -v psql >/dev/null || apt_install postgresql-client || true
}

build() {
    if [[ ${BENCH_SKIP_BUILD:-0} == 1 ]]; then
        log "using the binaries in $RELEASE"
    else
        log "building zentra, ceiling and hash_time (release)"
        (cd "$ROOT" && cargo build --release -p app -p zentra-bench --bins)
    fi
    local bin
    for bin in zentra ceiling hash_time; do
        [[ -x $RELEASE/$bin ]] || die "$RELEASE/$bin is missing"
    done
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start_server NAME COMMAND... — starts it in the background (environment
# given with `env` in COMMAND), waits for its `listening on http://ADDR`
# line and sets SERVER_PID and SERVER_ADDR.
start_server() {
    local name=$1
    shift
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    SERVER_PID=$!
    STARTED_PIDS+=("$SERVER_PID")
    local deadline=$(($(now_ms) + 20000))
    until grep -q 'listening on http://' "$WORK/$name.out" 2>/dev/null; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null || (($(now_ms) > deadline)); then
            cat "$WORK/$name.err" >&2
            die "$name did not start"
        fi
        sleep 0.002
    done
    SERVER_ADDR=$(sed -n 's|.*listening on http://\([^ ]*\).*|\1|p' "$WORK/$name.out" | head -n1)
}

# stop_server PID — SIGTERM, then SIGKILL after 15 s.
stop_server() {
    local pid=$1 waited=0 kept=() other
    for other in "${STARTED_PIDS[@]}"; do
        [[ $other == "$pid" ]] || kept+=("$other")
    done
    STARTED_PIDS=("${kept[@]}")
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && ((waited < 150)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# start_zentra NAME DB_URL [VARIABLE=VALUE...] — the extra settings last.
start_zentra() {
    local name=$1 db_url=$2
    shift 2
    start_server "$name" env \
        DB__URL="$db_url" \
        AUTH__ROUNDS="$ROUNDS" \
        AUTH__SECRET_ACCESS_KEY="$ACCESS_KEY" \
        AUTH__SECRET_REFRESH_KEY="$REFRESH_KEY" \
        SERVER__HOST=127.0.0.1 \
        SERVER__PORT=0 \
        "$@" \
        "$RELEASE/zentra"
}

rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# wrk_run OUTFILE SCRIPT CONNECTIONS SECONDS TIMEOUT URL — runs wrk (the
# request is described by BENCH_* variables in the environment, see
# lua/request.lua) and leaves its output in OUTFILE.
wrk_run() {
    local out=$1 script=$2 connections=$3 seconds=$4 timeout=$5 url=$6
    local threads=$THREADS
    ((threads <= connections)) || threads=$connections
    BENCH_WRK_THREADS=$threads timeout $((seconds + 60)) wrk -t"$threads" -c"$connections" -d"${seconds}s" \
        --timeout "${timeout}s" -s "$BENCH/lua/$script" "$url" >"$out" 2>&1 ||
        { cat "$out" >&2; die "wrk failed on $url"; }
}

# parse OUTFILE — sets REQ RPS P50 P99 ERRS (status + socket) ERR_TEXT.
parse() {
    local line
    line=$(grep '^BENCH ' "$1") || { cat "$1" >&2; die "no result in $1"; }
    local field key value status=0 socket=0
    for field in ${line#BENCH }; do
        key=${field%%=*}
        value=${field#*=}
        case $key in
            requests) REQ=$value ;;
            rps) RPS=$value ;;
            p50_us) P50=$value ;;
            p99_us) P99=$value ;;
            status_errors) status=$value ;;
            socket_errors) socket=$value ;;
        esac
    done
    ERRS=$((status + socket))
    ERR_TEXT=$ERRS
    ((ERRS == 0)) || ERR_TEXT="$ERRS ($status status, $socket socket)"
}

ms() { awk -v us="$1" 'BEGIN { printf (us < 10000 ? "%.2f ms" : "%.0f ms"), us / 1000 }'; }
percent() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", (b > 0 ? 100 * a / b : 0) }'; }
at_least() { awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { exit !(b > 0 && 100 * a / b >= p) }'; }

# row SCENARIO BACKEND CEILING CHECK — records the last `parse`. CEILING is
# `http:RPS` (the bare route measured just before), `hash` or `-`; CHECK is the target, judged when the table is made
# (the ceilings are final only then): `ratio:P` (at least P% of the
# ceiling), `hash` (at least 90% of the hashing ceiling and no errors),
# `p99:MS` (p99 under MS), `rss:MB:LIMIT` (resident memory under LIMIT) or `-`.
row() {
    ROWS+=("$1|$2|$RPS|$P50|$P99|$ERRS|$ERR_TEXT|$3|$4")
    log "$1 on $2: $(printf '%.1f' "$RPS") req/s, p50 $(ms "$P50"), p99 $(ms "$P99"), errors $ERR_TEXT"
}

# format_row RECORD — one markdown line of the table from a `row` record.
format_row() {
    local scenario backend rps p50 p99 errs err_text ceiling check
    IFS='|' read -r scenario backend rps p50 p99 errs err_text ceiling check <<<"$1"
    local base="" ratio="—" target="" ok
    case $ceiling in
        http:*) base=${ceiling#http:} ;;
        hash) base=$HASH_CEILING ;;
    esac
    [[ -z $base ]] || ratio=$(percent "$rps" "$base")
    case $check in
        ratio:*)
            target="≥${check#ratio:}%"
            ok=$(verdict at_least "$rps" "$base" "${check#ratio:}")
            ;;
        hash)
            target="≥90%, no errors"
            ok=$(verdict eval 'at_least "$rps" "$base" 90 && ((errs == 0))')
            ;;
        p99:*)
            target="p99 < ${check#p99:} ms"
            ok=$(verdict awk -v p="$p99" -v l="${check#p99:}" 'BEGIN { exit !(p < l * 1000) }')
            ;;
        rss:*)
            local mb=${check#rss:}
            mb=${mb%%:*}
            target="RSS $mb MB < ${check##*:} MB"
            ok=$(verdict awk -v m="$mb" -v l="${check##*:}" 'BEGIN { exit !(m < l) }')
            ;;
    esac
    [[ -z $target ]] || target="$target: $ok"
    printf '| %s | %s | %.1f | %s | %s | %s | %s | %s |\n' \
        "$scenario" "$backend" "$rps" "$(ms "$p50")" "$(ms "$p99")" "$err_text" "$ratio" "$target"
}

verdict() { if "$@"; then echo ok; else echo MISS; fi; }

# ---------------------------------------------------------------- ceilings

# The bare route runs beside zentra for the whole run and is measured just
# before each fast scenario; that scenario's ratio is to this measurement.
# Pairing them keeps drift out of the ratios: on a shared host the ceiling
# was seen to move from 220k to 290k req/s within one run.
start_ceiling() {
    start_server ceiling "$RELEASE/ceiling" 0
    CEILING_PID=$SERVER_PID
    CEILING_ADDR=$SERVER_ADDR
}

# pair_ceiling LABEL — measures the bare route now and sets PAIRED.
pair_ceiling() {
    local label=$1
    wrk_run "$WORK/ceiling-$label.wrk" request.lua "$CONNECTIONS" "$DURATION" 2 "http://$CEILING_ADDR/"
    parse "$WORK/ceiling-$label.wrk"
    PAIRED=$RPS
    HTTP_CEILING_RUNS+=("$RPS")
    log "HTTP ceiling before $label: $(printf '%.1f' "$RPS") req/s"
}

measure_hash_ceiling() {
    log "hashing ceiling: bcrypt at cost $ROUNDS"
    local line
    line=$("$RELEASE/hash_time" "$ROUNDS" 5)
    log "$line"
    HASH_MS=$(sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' <<<"$line")
    HASH_PARALLEL=$(sed -n 's/.*parallel_per_s=\([0-9.]*\).*/\1/p' <<<"$line")
    HASH_CEILING=$(awk -v n="$(nproc)" -v t="$HASH_MS" 'BEGIN { printf "%.2f", n * 1000 / t }')
    HASH_ROW="hashing ceiling: $(nproc) cores / one bcrypt hash (cost $ROUNDS)|—|$HASH_CEILING|$(printf '%.0f ms' "$HASH_MS")|—|0|100%|measured on $(nproc) threads at once: $HASH_PARALLEL/s"
}

# ---------------------------------------------------------------- scenarios

# Registers the login user and sets ACCESS to a fresh access token.
prepare_user() {
    local base=$1 answer
    curl -fsS -o /dev/null -X POST "$base/api/auth/register" -H 'Content-Type: application/json' \
        -d "{\"username\": \"$USER_NAME\", \"password\": \"$PASSWORD\"}" ||
        die "could not register $USER_NAME"
    answer=$(curl -fsS -X POST "$base/api/auth/token" \
        --data-urlencode "username=$USER_NAME" --data-urlencode "password=$PASSWORD") ||
        die "could not log in $USER_NAME"
    ACCESS=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' <<<"$answer")
    [[ -n $ACCESS ]] || die "no access token in $answer"
}

scenario_root() {
    local backend=$1 base=$2
    pair_ceiling "root-$backend"
    BENCH_METHOD=GET wrk_run "$WORK/root-$backend.wrk" request.lua "$CONNECTIONS" "$DURATION" 2 "$base/"
    parse "$WORK/root-$backend.wrk"
    row "GET /" "$backend" "http:$PAIRED" ratio:70
}

scenario_verify() {
    local backend=$1 base=$2
    pair_ceiling "verify-$backend"
    BENCH_METHOD=POST wrk_run "$WORK/verify-$backend.wrk" request.lua "$CONNECTIONS" "$DURATION" 2 \
        "$base/api/auth/token/verify/$ACCESS"
    parse "$WORK/verify-$backend.wrk"
    row "POST /token/verify/{token}" "$backend" "http:$PAIRED" ratio:70
    [[ $backend != sqlite ]] || HS_VERIFY_RPS=$RPS
}

scenario_me() {
    local backend=$1 base=$2 goal=50
    [[ $backend == sqlite ]] || goal=25
    pair_ceiling "me-$backend"
    BENCH_METHOD=GET BENCH_BEARER=$ACCESS wrk_run "$WORK/me-$backend.wrk" request.lua \
        "$CONNECTIONS" "$DURATION" 2 "$base/api/auth/users/me"
    parse "$WORK/me-$backend.wrk"
    row "GET /users/me (bearer)" "$backend" "http:$PAIRED" "ratio:$goal"
    ME_RPS=$RPS
    [[ $backend != sqlite ]] || HS_ME_RPS=$RPS
}

# users/me with an API key (issue 13): its ratio is to users/me with the
# JWT just measured (target: within 10 %).
scenario_me_key() {
    local backend=$1 base=$2 answer key
    answer=$(curl -fsS -X POST "$base/api/auth/api-keys" -H "Authorization: Bearer $ACCESS" \
        -H 'Content-Type: application/json' -d '{"name": "bench"}') ||
        die "could not create an API key"
    key=$(sed -n 's/.*"key":"\(zk_[^"]*\)".*/\1/p' <<<"$answer")
    [[ -n $key ]] || die "no key in $answer"
    BENCH_METHOD=GET BENCH_BEARER=$key wrk_run "$WORK/me-key-$backend.wrk" request.lua \
        "$CONNECTIONS" "$DURATION" 2 "$base/api/auth/users/me"
    parse "$WORK/me-key-$backend.wrk"
    row "GET /users/me (API key; ratio to the JWT row)" "$backend" "http:$ME_RPS" ratio:90
}

scenario_register() {
    local backend=$1 base=$2
    BENCH_PREFIX="b$$$backend" BENCH_PASSWORD=$PASSWORD wrk_run "$WORK/register-$backend.wrk" \
        register.lua "$HASH_CONNECTIONS" "$HASH_DURATION" 30 "$base/"
    parse "$WORK/register-$backend.wrk"
    row "POST /register (unique names)" "$backend" hash hash
}

login_env() {
    BENCH_METHOD=POST BENCH_CONTENT_TYPE=application/x-www-form-urlencoded \
        BENCH_BODY="username=$USER_NAME&password=$PASSWORD" "$@"
}

scenario_login() {
    local backend=$1 base=$2
    login_env wrk_run "$WORK/login-$backend.wrk" request.lua "$HASH_CONNECTIONS" "$HASH_DURATION" 30 \
        "$base/api/auth/token"
    parse "$WORK/login-$backend.wrk"
    row "POST /token (login, one user)" "$backend" hash hash
}

# A login storm for DURATION + 3 s and, from its second second, verify at
# full speed beside it: verify's p99 shows whether hashing starves the rest.
scenario_storm() {
    local backend=$1 base=$2 storm_pid
    login_env wrk_run "$WORK/storm-login-$backend.wrk" request.lua "$STORM_CONNECTIONS" \
        $((DURATION + 3)) 30 "$base/api/auth/token" &
    storm_pid=$!
    sleep 1
    BENCH_METHOD=POST wrk_run "$WORK/storm-verify-$backend.wrk" request.lua "$CONNECTIONS" "$DURATION" 2 \
        "$base/api/auth/token/verify/$ACCESS"
    wait "$storm_pid"
    parse "$WORK/storm-verify-$backend.wrk"
    row "verify during login storm" "$backend" "http:$PAIRED" p99:10
    parse "$WORK/storm-login-$backend.wrk"
    row "login storm ($STORM_CONNECTIONS conns) beside it" "$backend" hash -
}

# verify at 256 connections for 5 s while sampling zentra's resident memory.
scenario_memory() {
    local backend=$1 base=$2 pid=$3 idle=$4 wrk_pid peak=0 sample
    BENCH_METHOD=POST wrk_run "$WORK/c256-$backend.wrk" request.lua 256 5 2 \
        "$base/api/auth/token/verify/$ACCESS" &
    wrk_pid=$!
    while kill -0 "$wrk_pid" 2>/dev/null; do
        sample=$(rss_mb "$pid")
        peak=$(awk -v a="$peak" -v b="$sample" 'BEGIN { print (b > a ? b : a) }')
        sleep 0.25
    done
    wait "$wrk_pid"
    parse "$WORK/c256-$backend.wrk"
    row "verify @256 conns" "$backend" "http:$PAIRED" "rss:$peak:150"
    PEAK_MB=$peak
    log "$backend: RSS idle $idle MB, at 256 connections $peak MB"
}

# verify with every token decoded, AUTH__VERIFIED_TOKEN_CACHE=0: what
# jsonwebtoken's decode costs, which remembering accepted access tokens
# saves on a token presented again (README, Performance). ACCESS, from the
# SQLite run, is still valid: the keys are fixed.
scenario_verify_decoded() {
    local db_url=$1 pid
    start_zentra verify-decoded "$db_url" AUTH__VERIFIED_TOKEN_CACHE=0
    pid=$SERVER_PID
    sleep 1
    pair_ceiling verify-decoded
    BENCH_METHOD=POST wrk_run "$WORK/verify-decoded.wrk" request.lua "$CONNECTIONS" "$DURATION" 2 \
        "http://$SERVER_ADDR/api/auth/token/verify/$ACCESS"
    parse "$WORK/verify-decoded.wrk"
    row "POST /token/verify/{token}, every token decoded (cache off)" sqlite "http:$PAIRED" -
    stop_server "$pid"
}

# Access tokens signed with an asymmetric key (docs/api.md §12): verify and
# users/me under EdDSA and ES256, each on a fresh SQLite database, their
# ratio to the same route under HS256 in this run (target: verify at least
# half). A token's first check is a signature verification (tens of
# microseconds, against about one for HMAC); every later one is a hit of
# the verified-token cache, so the steady state is near HS256's. The
# "cache off" rows show the signature check's own cost.
scenario_keys() {
    local algorithm pid base
    for algorithm in EdDSA ES256; do
        start_zentra "keys-$algorithm" "sqlite:///$WORK/keys-$algorithm.db" \
            AUTH__ALGORITHM="$algorithm" AUTH__SIGNING_KEYS="$("$RELEASE/zentra" new-key --algorithm "$algorithm")"
        pid=$SERVER_PID
        base="http://$SERVER_ADDR"
        sleep 1
        prepare_user "$base"
        BENCH_METHOD=POST wrk_run "$WORK/verify-$algorithm.wrk" request.lua "$CONNECTIONS" "$DURATION" 2 \
            "$base/api/auth/token/verify/$ACCESS"
        parse "$WORK/verify-$algorithm.wrk"
        row "POST /token/verify/{token}, $algorithm (ratio to HS256)" sqlite "http:$HS_VERIFY_RPS" ratio:50
        BENCH_METHOD=GET BENCH_BEARER=$ACCESS wrk_run "$WORK/me-$algorithm.wrk" request.lua \
            "$CONNECTIONS" "$DURATION" 2 "$base/api/auth/users/me"
        parse "$WORK/me-$algorithm.wrk"
        row "GET /users/me (bearer), $algorithm (ratio to HS256)" sqlite "http:$HS_ME_RPS" -
        stop_server "$pid"
        start_zentra "keys-$algorithm-decoded" "sqlite:///$WORK/keys-$algorithm.db" AUTH__VERIFIED_TOKEN_CACHE=0 \
            AUTH__ALGORITHM="$algorithm" AUTH__SIGNING_KEYS="$("$RELEASE/zentra" new-key --algorithm "$algorithm")"
        pid=$SERVER_PID
        base="http://$SERVER_ADDR"
        sleep 1
        # A new key: log in again for a token it signed.
        ACCESS=$(curl -fsS -X POST "$base/api/auth/token" --data-urlencode "username=$USER_NAME" \
            --data-urlencode "password=$PASSWORD" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
        [[ -n $ACCESS ]] || die "no access token under $algorithm"
        BENCH_METHOD=POST wrk_run "$WORK/verify-$algorithm-decoded.wrk" request.lua "$CONNECTIONS" "$DURATION" 2 \
            "$base/api/auth/token/verify/$ACCESS"
        parse "$WORK/verify-$algorithm-decoded.wrk"
        row "POST /token/verify/{token}, $algorithm, every token decoded (cache off; ratio to HS256)" sqlite \
            "http:$HS_VERIFY_RPS" -
        stop_server "$pid"
    done
}

# BENCH_ONLY=keys: verify and users/me under HS256, then scenario_keys.
bench_keys() {
    local pid base
    start_zentra zentra-keys-hs256 "sqlite:///$WORK/zentra.db"
    pid=$SERVER_PID
    base="http://$SERVER_ADDR"
    sleep 1
    prepare_user "$base"
    scenario_verify sqlite "$base"
    scenario_me sqlite "$base"
    stop_server "$pid"
    scenario_keys
}

# Runs every scenario against a zentra started on DB_URL.
bench_backend() {
    local backend=$1 db_url=$2 pid base idle
    log "zentra on $backend"
    start_zentra "zentra-$backend" "$db_url"
    pid=$SERVER_PID
    base="http://$SERVER_ADDR"
    sleep 1
    idle=$(rss_mb "$pid")
    prepare_user "$base"
    scenario_root "$backend" "$base"
    scenario_verify "$backend" "$base"
    scenario_me "$backend" "$base"
    scenario_me_key "$backend" "$base"
    scenario_register "$backend" "$base"
    scenario_login "$backend" "$base"
    scenario_storm "$backend" "$base"
    scenario_memory "$backend" "$base" "$pid" "$idle"
    stop_server "$pid"
    RESOURCES+=("$backend|$idle|$PEAK_MB")
}

# The cost of the metrics on GET /: a zentra with METRICS__ENABLED=false
# beside one with metrics on (the default), each loaded in turn, three
# times, so that drift of the host hits both alike. The cost is
# 1 - on/off over the sums; target: under 5 %.
measure_metrics_cost() {
    local db_url=$1 on_pid off_pid on_base off_base run on_sum=0 off_sum=0
    start_zentra metrics-on "$db_url"
    on_pid=$SERVER_PID
    on_base="http://$SERVER_ADDR"
    start_zentra metrics-off "$db_url" METRICS__ENABLED=false
    off_pid=$SERVER_PID
    off_base="http://$SERVER_ADDR"
    sleep 1
    for run in 1 2 3; do
        BENCH_METHOD=GET wrk_run "$WORK/metrics-off-$run.wrk" request.lua "$CONNECTIONS" "$DURATION" 2 "$off_base/"
        parse "$WORK/metrics-off-$run.wrk"
        off_sum=$(awk -v a="$off_sum" -v b="$RPS" 'BEGIN { print a + b }')
        BENCH_METHOD=GET wrk_run "$WORK/metrics-on-$run.wrk" request.lua "$CONNECTIONS" "$DURATION" 2 "$on_base/"
        parse "$WORK/metrics-on-$run.wrk"
        on_sum=$(awk -v a="$on_sum" -v b="$RPS" 'BEGIN { print a + b }')
    done
    stop_server "$on_pid"
    stop_server "$off_pid"
    METRICS_ON=$(awk -v s="$on_sum" 'BEGIN { printf "%.1f", s / 3 }')
    METRICS_OFF=$(awk -v s="$off_sum" 'BEGIN { printf "%.1f", s / 3 }')
    METRICS_COST=$(awk -v on="$on_sum" -v off="$off_sum" 'BEGIN { printf "%.1f", (off > 0 ? 100 * (1 - on / off) : 0) }')
    log "GET / with metrics: $METRICS_ON req/s, without: $METRICS_OFF req/s: cost $METRICS_COST %"
}

# Start-up to first answer on an existing, migrated SQLite database: the
# median of 5 starts, from launching the process to the first 200 on GET /.
measure_startup() {
    local db_url=$1 run started answered pid times=()
    for run in 1 2 3 4 5; do
        started=$(now_ms)
        start_zentra "startup-$run" "$db_url"
        pid=$SERVER_PID
        until curl -fsS -o /dev/null --max-time 1 "http://$SERVER_ADDR/"; do
            (($(now_ms) - started < 10000)) || die "zentra did not answer within 10 s"
            sleep 0.001
        done
        answered=$(now_ms)
        stop_server "$pid"
        times+=($((answered - started)))
    done
    STARTUP_MS=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
    log "start-up to first answer (ms): ${times[*]}, median $STARTUP_MS"
}

# ---------------------------------------------------------------- scale

# The scale scenario (issue 16): zentra on a database holding
# SCALE_USERS users (with details), SCALE_SESSIONS live refresh sessions
# and SCALE_FAILURES recent failed logins, beside the same scenarios on an
# empty one in the same run, on SQLite and on Postgres; the table gives
# large/empty (target: within 10 %). The rows are bulk-loaded in SQL
# (bench/scale/), every user with the one bcrypt hash of the bench user,
# registered through `zentra create-user` at the bench's cost. On the large
# database each request takes one of SCALE_SAMPLE loaded users or sessions
# at random (tokens minted with the bench's keys, bench/scale/mint_tokens.py;
# lua/scale.lua), not one hot row whose pages stay cached; on the empty one
# there is only the bench user.
SCALE_ROWS=()            # "scenario|backend|empty rps|p99|errors|large rps|p99|errors|error count"
SCALE_RES=()             # "backend|idle empty|idle large|after empty|after large|start-up empty|large"
SCALE_LOADS=()           # "backend|what was loaded and how long it took"
SCALE_PG_NOTES=()        # what the Postgres lookup showed, one line each
SCALE_SQLITE_NOTES=()    # the large SQLite file read through a memory map, one line each
SCALE_MMAP_MB=${BENCH_SCALE_MMAP_MB:-1024}  # DB__SQLITE_MMAP_MB of that extra run (0: none)
SCALE_BACKEND=""
declare -A SCALE_URL SCALE_BASE SCALE_PID

# The user lookup every authenticated request runs (find_by_username in
# crates/adapters-db/src/users.rs), as diesel sends it to Postgres.
# shellcheck disable=SC2016 # $1 and $2 are the statement's parameters
PG_LOOKUP_SQL='SELECT "users"."id", "users"."username", "users"."password", "users"."is_active", "users"."credential_version", "user_details"."email", "user_details"."phone", "user_details"."full_name" FROM ("users" LEFT OUTER JOIN "user_details" ON ("user_details"."user_id" = "users"."id")) WHERE ("users"."username" = $1) LIMIT $2'

# zentra_cli DB_URL COMMAND... — a zentra command with the bench's settings.
zentra_cli() {
    local db_url=$1
    shift
    env DB__URL="$db_url" AUTH__ROUNDS="$ROUNDS" AUTH__SECRET_ACCESS_KEY="$ACCESS_KEY" \
        AUTH__SECRET_REFRESH_KEY="$REFRESH_KEY" "$RELEASE/zentra" "$@"
}

# sqlite_query FILE SQL — the rows, tab-separated (python3's own sqlite3:
# no sqlite3 command needed).
sqlite_query() {
    python3 -c '
import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
    print("\t".join(str(value) for value in row))' "$1" "$2"
}

psql_db() {
    local url=$1
    shift
    PGCONNECT_TIMEOUT=3 psql "$url" -X -v ON_ERROR_STOP=1 -qtA -F $'\t' "$@"
}

# scale_query URL SQL — on either backend.
scale_query() {
    case $1 in
        sqlite:///*) sqlite_query "${1#sqlite:///}" "$2" ;;
        *) psql_db "$1" -c "$2" ;;
    esac
}

seconds_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

# scale_prepare BACKEND SIZE — a new database (SIZE empty or large), migrated
# by `zentra migrate`, the bench user registered by `zentra create-user`
# (the one bcrypt hash), then the bulk load: on the empty database only
# enough sessions of the bench user for the refresh scenario (one per
# connection and more), on the large one everything. Sets SCALE_URL[SIZE].
scale_prepare() {
    local backend=$1 size=$2 url users=0 sessions=$((CONNECTIONS * 4)) failures=0 started line
    ((sessions >= 256)) || sessions=256
    if [[ $size == large ]]; then
        users=$SCALE_USERS sessions=$SCALE_SESSIONS failures=$SCALE_FAILURES
    fi
    if [[ $backend == sqlite ]]; then
        url="sqlite:///$WORK/scale-$size.db"
    else
        local db="zentra_bench_$$_scale_$size"
        SCALE_PG_DBS+=("$db")
        psql_admin -c "CREATE DATABASE $db" >/dev/null
        url="${PG_ADMIN_URL%/*}/$db$PG_PARAMS"
    fi
    SCALE_URL[$size]=$url
    zentra_cli "$url" migrate >/dev/null
    printf '%s\n' "$PASSWORD" | zentra_cli "$url" create-user --username "$USER_NAME" >/dev/null
    log "scale: loading $users users, $sessions sessions, $failures failed logins into $backend ($size)"
    started=$(now_ms)
    if [[ $backend == sqlite ]]; then
        line=$(python3 "$BENCH/scale/load_sqlite.py" "${url#sqlite:///}" "$users" "$sessions" "$failures" "$USER_NAME")
        log "$line"
    else
        psql_db "$url" -v users="$users" -v sessions="$sessions" -v failures="$failures" \
            -v hash_of="$USER_NAME" -f "$BENCH/scale/load_postgres.sql" >/dev/null
    fi
    SCALE_LOAD_S=$(seconds_since "$started")
    log "scale: $backend ($size) loaded in $SCALE_LOAD_S s"
}

# scale_samples BACKEND SIZE — what the requests on SIZE spread over: the
# access tokens of up to SCALE_SAMPLE users spread over the ids (users/me),
# as many other usernames (login), refresh tokens of as many live sessions
# (refresh), each in $WORK/scale-BACKEND-SIZE.{me,login,refresh}. On the
# empty database that is the bench user (SCALE_SAMPLE tokens of its own)
# and its sessions.
scale_samples() {
    local backend=$1 size=$2 url=${SCALE_URL[$2]} files=$WORK/scale-$1-$2 count step now
    count=$(scale_query "$url" "SELECT count(*) FROM users")
    step=$((count / SCALE_SAMPLE))
    ((step >= 1)) || step=1
    # As many access tokens on either database (on the empty one, all the
    # bench user's, each with its own jti), so that the two differ only in
    # the rows: the service remembers the tokens it has accepted, and one
    # token against ten thousand would compare that memory too.
    scale_query "$url" "SELECT username FROM users WHERE id % $step = 0 ORDER BY id LIMIT $SCALE_SAMPLE" |
        awk -v n="$SCALE_SAMPLE" '{ name[NR] = $0 } END { for (i = 0; i < n && NR > 0; i++) print name[i % NR + 1] }' \
        >"$files.names"
    scale_query "$url" "SELECT username FROM users WHERE id % $step = $((step / 2)) ORDER BY id LIMIT $SCALE_SAMPLE" \
        >"$files.login"
    count=$(scale_query "$url" "SELECT count(*) FROM sessions")
    step=$((count / SCALE_SAMPLE))
    ((step >= 1)) || step=1
    now=$(date +%s)
    scale_query "$url" "SELECT u.username, s.family, s.current_token_id FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id % $step = 0 AND NOT s.revoked AND s.expires_at > $now ORDER BY s.id LIMIT $SCALE_SAMPLE" \
        >"$files.sessions"
    BENCH_ACCESS_KEY=$ACCESS_KEY python3 "$BENCH/scale/mint_tokens.py" access <"$files.names" >"$files.me"
    BENCH_REFRESH_KEY=$REFRESH_KEY python3 "$BENCH/scale/mint_tokens.py" refresh <"$files.sessions" >"$files.refresh"
    log "scale: $backend ($size): $(wc -l <"$files.me") users for users/me, $(wc -l <"$files.login") for login," \
        "$(wc -l <"$files.refresh") sessions for refresh"
}

# pg_lookup_probe URL NAMES COUNT — EXPLAIN (ANALYZE, BUFFERS) of the user
# lookup, prepared as diesel prepares it, for COUNT names at random from
# the file NAMES in one session (after 5 runs Postgres may switch to the
# generic plan, as it would for the service's cached statement). Prints
# the plan of the last run, the mean execution time and the mean shared
# buffers hit and read per lookup.
pg_lookup_probe() {
    local url=$1 names=$2 count=$3 name
    {
        printf 'PREPARE lookup(text, bigint) AS %s;\n' "$PG_LOOKUP_SQL"
        while read -r name; do
            printf "EXPLAIN (ANALYZE, BUFFERS) EXECUTE lookup('%s', 1);\n" "$name"
        done < <(shuf -n "$count" "$names")
    } | psql_db "$url" | awk '
        /^ *Limit / { plans++; top = 1; chain = "" }
        /(Limit|Loop|Join|Scan) / && !/Cond|Filter/ {
            node = $0; sub(/^ *(->)? */, "", node); sub(/ +\(cost.*/, "", node)
            chain = chain (chain == "" ? "" : " → ") node
        }
        /Buffers: shared/ && top {
            if (match($0, /hit=[0-9]+/)) hit += substr($0, RSTART + 4, RLENGTH - 4)
            if (match($0, /read=[0-9]+/)) read += substr($0, RSTART + 5, RLENGTH - 5)
            top = 0
        }
        /^ *Execution Time:/ { exec_ms += $3 }
        END {
            if (plans == 0) { print "no plan"; exit }
            printf "%s; %d lookups: %.3f ms each, %.1f shared buffers hit + %.1f read per lookup\n",
                chain, plans, exec_ms / plans, hit / plans, read / plans
        }'
}

# pg_btree_levels URL — the levels of the lookup's indexes (pageinspect;
# nothing if the extension is missing). A lookup reads level + 1 index pages.
pg_btree_levels() {
    psql_db "$1" -c 'CREATE EXTENSION IF NOT EXISTS pageinspect' >/dev/null 2>&1 || return 0
    psql_db "$1" -c "SELECT string_agg(format('%s %s', i, (bt_metap(i)).level), ', ')
        FROM unnest(array['users_username_key', 'user_details_user_id_key', 'sessions_family_key']) AS i" \
        2>/dev/null || true
}

# What costs the lookup on the large Postgres database before it is
# analyzed, after ANALYZE (timed: run.sh runs it, as an operator would after
# a bulk load; autovacuum may be off, as on this project's machine, and then
# nothing else would), with the index depth and the cache beside it.
scale_pg_inspect() {
    local url=${SCALE_URL[large]} names=$WORK/scale-postgres-large.names started
    SCALE_PG_NOTES+=("lookup before ANALYZE: $(pg_lookup_probe "$url" "$names" 50)")
    started=$(now_ms)
    psql_db "$url" -c ANALYZE
    SCALE_ANALYZE_S=$(seconds_since "$started")
    SCALE_PG_NOTES+=("lookup after ANALYZE ($SCALE_ANALYZE_S s): $(pg_lookup_probe "$url" "$names" 50)")
    SCALE_PG_NOTES+=("B-tree levels (leaf = 0), large: $(pg_btree_levels "$url"); empty: $(pg_btree_levels "${SCALE_URL[empty]}")")
    SCALE_PG_NOTES+=("$(psql_db "$url" -c "SELECT format('database %s, shared_buffers %s, autovacuum %s, users %s rows in %s pages',
        pg_size_pretty(pg_database_size(current_database())), current_setting('shared_buffers'),
        current_setting('autovacuum'), reltuples::bigint, relpages) FROM pg_class WHERE relname = 'users'")")
}

# scale_measure SIZE ROUND MODE CONNECTIONS SECONDS TIMEOUT — one run on
# the zentra of SIZE; leaves the `parse` results.
scale_measure() {
    local size=$1 round=$2 mode=$3 connections=$4 seconds=$5 timeout=$6
    local out=$WORK/scale-$SCALE_BACKEND-$mode-$size-$round.wrk base=${SCALE_BASE[$size]}
    if [[ $mode == register ]]; then
        BENCH_PREFIX="s$$$SCALE_BACKEND${size}r$round" BENCH_PASSWORD=$PASSWORD \
            wrk_run "$out" register.lua "$connections" "$seconds" "$timeout" "$base/"
    else
        BENCH_SCALE_MODE=$mode BENCH_SCALE_FILE=$WORK/scale-$SCALE_BACKEND-$size.$mode BENCH_PASSWORD=$PASSWORD \
            BENCH_SCALE_ROUND=$round BENCH_SCALE_ROUNDS=2 \
            wrk_run "$out" scale.lua "$connections" "$seconds" "$timeout" "$base/"
    fi
    parse "$out"
}

# scale_pair SCENARIO MODE CONNECTIONS SECONDS TIMEOUT — SECONDS on each
# database, in two halves in the order empty, large, large, empty, so that
# a drift of this shared host over the four runs weighs on both alike.
# Requests/s is the mean of the two halves, p99 the worse, errors the sum.
# After a hashing run (login, register) zentra still hashes the requests
# wrk left in flight: the next run waits for that (one hash time per
# connection, over the cores) instead of sharing the cores with it.
scale_pair() {
    local scenario=$1 mode=$2 connections=$3 half=$(($4 / 2)) timeout=$5 size round order drain=0
    ((half >= 1)) || half=1
    [[ $mode != login && $mode != register ]] ||
        drain=$(awk -v t="$HASH_MS" -v c="$connections" -v n="$(nproc)" 'BEGIN { printf "%.2f", t * c / n / 1000 + 0.2 }')
    local -A rps p99 errs
    for size in empty large; do
        rps[$size]=0 p99[$size]=0 errs[$size]=0
    done
    for round in 0 1; do
        order="empty large"
        ((round == 0)) || order="large empty"
        for size in $order; do
            scale_measure "$size" "$round" "$mode" "$connections" "$half" "$timeout"
            log "scale: $mode on $SCALE_BACKEND ($size, half $((round + 1))): $(printf '%.1f' "$RPS") req/s, p99 $(ms "$P99"), errors $ERR_TEXT"
            sleep "$drain"
            rps[$size]=$(awk -v a="${rps[$size]}" -v b="$RPS" 'BEGIN { print a + b / 2 }')
            ((P99 <= p99[$size])) || p99[$size]=$P99
            errs[$size]=$((errs[$size] + ERRS))
        done
    done
    SCALE_ROWS+=("$scenario|$SCALE_BACKEND|${rps[empty]}|${p99[empty]}|${errs[empty]}|${rps[large]}|${p99[large]}|${errs[large]}|$((errs[empty] + errs[large]))")
    log "scale: $scenario on $SCALE_BACKEND: empty $(printf '%.1f' "${rps[empty]}") req/s (errors ${errs[empty]})," \
        "large $(printf '%.1f' "${rps[large]}") req/s (errors ${errs[large]}): $(percent "${rps[large]}" "${rps[empty]}")"
}

scale_backend() {
    local backend=$1 size idle_empty idle_large startup_empty="—" startup_large="—" saved_startup=${STARTUP_MS:-}
    SCALE_BACKEND=$backend
    log "scale: $backend"
    scale_prepare "$backend" empty
    scale_prepare "$backend" large
    local load_s=$SCALE_LOAD_S
    scale_samples "$backend" empty
    scale_samples "$backend" large
    if [[ $backend == sqlite ]]; then
        local file=${SCALE_URL[large]#sqlite:///}
        SCALE_LOADS+=("SQLite|$SCALE_USERS users, $SCALE_SESSIONS sessions, $SCALE_FAILURES failed logins in $load_s s (python3 sqlite3, recursive CTEs, one transaction); file $(du -m "$file" | cut -f1) MB")
        measure_startup "${SCALE_URL[empty]}"
        startup_empty=$STARTUP_MS
        measure_startup "${SCALE_URL[large]}"
        startup_large=$STARTUP_MS
        STARTUP_MS=$saved_startup
    else
        scale_pg_inspect
        SCALE_LOADS+=("Postgres|$SCALE_USERS users, $SCALE_SESSIONS sessions, $SCALE_FAILURES failed logins in $load_s s (psql, generate_series, one transaction, secondary indexes built after the rows), then ANALYZE $SCALE_ANALYZE_S s")
    fi
    for size in empty large; do
        start_zentra "scale-$backend-$size" "${SCALE_URL[$size]}"
        SCALE_PID[$size]=$SERVER_PID
        SCALE_BASE[$size]="http://$SERVER_ADDR"
    done
    sleep 1
    idle_empty=$(rss_mb "${SCALE_PID[empty]}")
    idle_large=$(rss_mb "${SCALE_PID[large]}")
    scale_pair "GET /users/me (large: $SCALE_SAMPLE users at random)" me "$CONNECTIONS" "$DURATION" 2
    if [[ $backend == sqlite ]] && ((SCALE_MMAP_MB > 0)); then
        scale_mapped
    fi
    scale_pair "POST /token/refresh (rotating; large: $SCALE_SAMPLE sessions)" refresh "$CONNECTIONS" "$DURATION" 2
    scale_pair "POST /token (login; large: $SCALE_SAMPLE users)" login "$HASH_CONNECTIONS" "$HASH_DURATION" 30
    scale_pair "POST /register (unique names)" register "$HASH_CONNECTIONS" "$HASH_DURATION" 30
    sleep 1
    SCALE_RES+=("$backend|$idle_empty|$idle_large|$(rss_mb "${SCALE_PID[empty]}")|$(rss_mb "${SCALE_PID[large]}")|$startup_empty|$startup_large")
    for size in empty large; do
        stop_server "${SCALE_PID[$size]}"
    done
    if [[ $backend == postgres ]]; then
        SCALE_PG_NOTES+=("lookup after the scenarios: $(pg_lookup_probe "${SCALE_URL[large]}" "$WORK/scale-postgres-large.names" 200)")
        local db
        for db in "${SCALE_PG_DBS[@]}"; do
            psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
        done
        SCALE_PG_DBS=()
    else
        rm -f "$WORK"/scale-*.db "$WORK"/scale-*.db-wal "$WORK"/scale-*.db-shm
    fi
}

# scale_mapped — users/me again, the large SQLite file served by a third
# zentra with DB__SQLITE_MMAP_MB set, beside the empty one (a row of its
# own), and what its memory looked like after (README, Performance).
scale_mapped() {
    local plain=${SCALE_BASE[large]} pid status
    start_zentra scale-sqlite-mapped "${SCALE_URL[large]}" DB__SQLITE_MMAP_MB="$SCALE_MMAP_MB"
    pid=$SERVER_PID
    SCALE_BASE[large]="http://$SERVER_ADDR"
    scale_pair "GET /users/me, the large file memory-mapped (DB__SQLITE_MMAP_MB=$SCALE_MMAP_MB)" me "$CONNECTIONS" "$DURATION" 2
    SCALE_BASE[large]=$plain
    status=/proc/$pid/status
    SCALE_SQLITE_NOTES+=("memory-mapped (DB__SQLITE_MMAP_MB=$SCALE_MMAP_MB), after its run: VmRSS $(rss_mb "$pid") MB, of which anonymous $(awk '/^RssAnon:/ { printf "%.1f", $2 / 1024 }' "$status") MB and file pages $(awk '/^RssFile:/ { printf "%.1f", $2 / 1024 }' "$status") MB (counted once per connection that mapped them); PSS $(awk '/^Pss:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/smaps_rollup") MB")
    stop_server "$pid"
}

measure_scale() {
    if ((SCALE_USERS <= 0)); then
        log "BENCH_SCALE_USERS=0: no scale scenario"
        return 0
    fi
    command -v python3 >/dev/null || die "the scale scenario needs python3 (BENCH_SCALE_USERS=0 skips it)"
    local started
    started=$(now_ms)
    scale_backend sqlite
    if postgres_reachable; then
        scale_backend postgres
    else
        log "NOTICE: Postgres unreachable at $PG_ADMIN_URL: the scale scenario on SQLite only"
    fi
    SCALE_TOTAL_S=$(seconds_since "$started")
    log "scale scenario: $SCALE_TOTAL_S s"
}

postgres_reachable() { command -v psql >/dev/null && psql_admin -c 'SELECT 1' >/dev/null 2>&1; }

# The scale section of the table.
scale_table() {
    local line scenario backend e_rps e_p99 e_err l_rps l_p99 l_err errs ratio ok
    echo "Scale (issue 16): a large database ($SCALE_USERS users with details, $SCALE_SESSIONS live sessions," \
        "$SCALE_FAILURES recent failed logins, and the bench user) beside an empty one (the bench user and" \
        "$((CONNECTIONS * 4 > 256 ? CONNECTIONS * 4 : 256)) of its sessions, for the refresh scenario), one zentra on each;" \
        "each scenario ran for its duration on each database, in two halves in the order empty, large," \
        "large, empty. On the large database each request takes one of $SCALE_SAMPLE loaded users or sessions" \
        "at random (tokens minted with the bench's keys); on the empty one there is only the bench user." \
        "Refresh rotates: each request sends the refresh token the previous answer for that session gave" \
        "(lua/scale.lua). Login and register are bcrypt bound (hashing ceiling ${HASH_CEILING:-?}/s): compare their" \
        "requests/s. The scale scenario took ${SCALE_TOTAL_S:-?} s, loading included."
    echo
    for line in "${SCALE_LOADS[@]}"; do
        echo "- Loaded into ${line%%|*}: ${line#*|}."
    done
    echo
    echo "| scenario | backend | empty req/s | empty p99 | large req/s | large p99 | errors (empty / large) | large/empty | target |"
    echo "|---|---|---:|---:|---:|---:|---|---:|---|"
    for line in "${SCALE_ROWS[@]}"; do
        IFS='|' read -r scenario backend e_rps e_p99 e_err l_rps l_p99 l_err errs <<<"$line"
        ratio=$(percent "$l_rps" "$e_rps")
        ok=MISS
        if at_least "$l_rps" "$e_rps" 90 && ((errs == 0)); then ok=ok; fi
        printf '| %s | %s | %.1f | %s | %.1f | %s | %s / %s | %s | ≥90%%, no errors: %s |\n' \
            "$scenario" "$backend" "$e_rps" "$(ms "$e_p99")" "$l_rps" "$(ms "$l_p99")" "$e_err" "$l_err" "$ratio" "$ok"
    done
    echo
    echo "| backend | RSS idle, empty | RSS idle, large | RSS after the scenarios, empty | large | start-up to first answer, empty | large |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for line in "${SCALE_RES[@]}"; do
        local b ie il ae al se sl large_startup
        IFS='|' read -r b ie il ae al se sl <<<"$line"
        large_startup="—"
        [[ $sl == "—" ]] || large_startup="$sl ms (target < 200: $(verdict test "$sl" -lt 200))"
        [[ $se == "—" ]] || se="$se ms"
        echo "| $b | $ie MB | $il MB | $ae MB | $al MB | $se | $large_startup |"
    done
    if ((${#SCALE_SQLITE_NOTES[@]} > 0)); then
        echo
        echo "SQLite, the large file:"
        for line in "${SCALE_SQLITE_NOTES[@]}"; do
            echo "- $line"
        done
    fi
    if ((${#SCALE_PG_NOTES[@]} > 0)); then
        echo
        echo "Postgres, the user lookup on the large database (find_by_username, EXPLAIN (ANALYZE, BUFFERS) of the prepared statement):"
        for line in "${SCALE_PG_NOTES[@]}"; do
            echo "- $line"
        done
    fi
}

# ---------------------------------------------------------------- report

machine() {
    printf '%s, %s cores (nproc), %s MB RAM, %s, 1-min load average %s before the run; zentra release build, bcrypt cost %s, wrk %s threads' \
        "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)" "$(nproc)" \
        "$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo)" "$(date -u '+%Y-%m-%d %H:%M UTC')" \
        "$LOAD_BEFORE" "$ROUNDS" "$THREADS"
}

table() {
    local line
    echo "Machine: $(machine)."
    echo
    if [[ $ONLY == scale ]]; then
        scale_table
        return
    fi
    if [[ $ONLY == keys ]]; then
        echo "${DURATION}s at $CONNECTIONS connections, SQLite; the HS256 rows' ratio is to the HTTP ceiling" \
            "measured just before them, the EdDSA and ES256 rows' to the same route under HS256."
        echo
        echo "| scenario | backend | requests/s | p50 | p99 | errors | ratio | target |"
        echo "|---|---|---:|---:|---:|---|---:|---|"
        for line in "${ROWS[@]}"; do
            format_row "$line"
        done
        return
    fi
    echo "Fast scenarios: ${DURATION}s at $CONNECTIONS connections; register and login:" \
        "${HASH_DURATION}s at $HASH_CONNECTIONS connections; errors are answers ≥ 400 plus socket" \
        "errors and timeouts; ratio is to the HTTP ceiling measured just before the scenario" \
        "(fast routes) or to the hashing ceiling (register, login)."
    echo
    echo "| scenario | backend | requests/s | p50 | p99 | errors | ratio to ceiling | target |"
    echo "|---|---|---:|---:|---:|---|---:|---|"
    echo "| ${HASH_ROW//|/ | } |"
    local sorted median low high
    sorted=$(printf '%s\n' "${HTTP_CEILING_RUNS[@]}" | sort -g)
    median=$(sed -n "$(((${#HTTP_CEILING_RUNS[@]} + 1) / 2))p" <<<"$sorted")
    low=$(head -n1 <<<"$sorted")
    high=$(tail -n1 <<<"$sorted")
    printf '| HTTP ceiling: bare actix GET / | — | %.1f | — | — | 0 | 100%% | the median of %d runs, one just before each fast scenario (%.0f–%.0f req/s); each ratio is to its own |\n' \
        "$median" "${#HTTP_CEILING_RUNS[@]}" "$low" "$high"
    for line in "${ROWS[@]}"; do
        format_row "$line"
    done
    echo
    echo "| backend | RSS idle | RSS at 256 connections | start-up to first answer |"
    echo "|---|---:|---:|---:|"
    for line in "${RESOURCES[@]}"; do
        local backend=${line%%|*} rest=${line#*|}
        local idle=${rest%%|*} peak=${rest#*|} startup="—"
        [[ $backend != sqlite ]] || startup="$STARTUP_MS ms (target < 200: $(verdict test "$STARTUP_MS" -lt 200))"
        echo "| $backend | $idle MB (target < 50: $(verdict awk -v m="$idle" 'BEGIN { exit !(m < 50) }')) |" \
            "$peak MB (target < 150: $(verdict awk -v m="$peak" 'BEGIN { exit !(m < 150) }')) | $startup |"
    done
    echo
    echo "| GET / (SQLite), 3 runs each in turn | metrics on | METRICS__ENABLED=false | cost of the metrics |"
    echo "|---|---:|---:|---:|"
    echo "| mean requests/s | $METRICS_ON | $METRICS_OFF | $METRICS_COST % (target < 5 %: $(verdict awk -v c="$METRICS_COST" 'BEGIN { exit !(c < 5) }')) |"
    if ((${#SCALE_ROWS[@]} > 0)); then
        echo
        scale_table
    fi
}

main() {
    cd "$ROOT"
    install_tools
    build
    LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
    measure_hash_ceiling

    # BENCH_ONLY=scale: the scale scenario alone, its table apart, so that
    # trying it leaves the full run's latest.md as it was.
    local results=latest.md
    if [[ $ONLY == scale ]]; then
        ((SCALE_USERS > 0)) || die "BENCH_ONLY=scale with BENCH_SCALE_USERS=0 runs nothing"
        results=scale.md
    elif [[ $ONLY == keys ]]; then
        results=keys.md
        start_ceiling
        bench_keys
        stop_server "$CEILING_PID"
    else
        start_ceiling

        local sqlite_file=$WORK/zentra.db
        bench_backend sqlite "sqlite:///$sqlite_file"
        measure_startup "sqlite:///$sqlite_file"
        measure_metrics_cost "sqlite:///$sqlite_file"
        scenario_verify_decoded "sqlite:///$sqlite_file"
        scenario_keys

        if postgres_reachable; then
            PG_DB=zentra_bench_$$
            psql_admin -c "CREATE DATABASE $PG_DB" >/dev/null
            bench_backend postgres "${PG_ADMIN_URL%/*}/$PG_DB$PG_PARAMS"
        else
            log "NOTICE: Postgres unreachable at $PG_ADMIN_URL: skipping the Postgres scenarios"
        fi

        stop_server "$CEILING_PID"
    fi
    [[ $ONLY == keys ]] || measure_scale

    mkdir -p "$BENCH/results"
    table | tee "$BENCH/results/$results"
    log "table written to bench/results/$results"
}

main "$@"
