#!/usr/bin/env bash
# Isolation tests (issue 17, item 6): the README's concurrency promises checked with PostgreSQL's
# own isolation tester, pg_isolation_regress, over isolation/specs/*.spec and
# isolation/expected/*.out (schedule: isolation/isolation_schedule):
#   first-load      two first loads of a new target at once: no 23505, one clean load
#   same-files      two loads of the same files: the second waits, then skips
#   load-drop       a load against DROP TABLE of its target
#   load-retention  a load against vs_ingest.apply_retention (drop or detach, another day or its own)
#   cancel-commit   vs_ingest_cancel against a chunk in flight; then resume
#   rollups         two deliveries of one day loaded at once: the rollups stay exact
#   replace         a replacement against readers and another load of the day
#   readers         readers of a target's views while a load writes a new day: none waits
#   months          loads of two days of one month at once, and against a replacement: the
#                   monthly rollups stay exact
# Loads run in background workers, which the isolation tester does not watch; the specs steer
# them with locks held by a session and poll for the state they need (isolation/helpers.sql).
#
#   scripts/isolation-test.sh [--installed] [GENERATOR]
#
# It builds and installs the extension (`cargo pgrx install`, debug), unless --installed (then the
# installed build is tested: scripts/test.sh installs it for its pg_regress suite just before),
# and the generator (target/debug/vs-ingest-gen), unless its path is given.
# It generates two small days (300 links) in /tmp/vs_ingest_isolation/its, starts its own cluster
# in target/isolation/pgdata on port 54333 (VS_INGEST_ISOLATION_PORT), prepares the database
# vs_ingest_isolation (the helpers; each permutation creates the extension afresh), runs the
# schedule, prints the differences on a failure and exits non-zero.
# Installing and every use of the cluster hold /tmp/vs_ingest_pg.lock, as scripts/upgrade-test.sh
# does (set VS_INGEST_PG_LOCK_HELD=1 if the caller holds it already).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/cluster.sh

INSTALL=true
if [[ "${1:-}" == "--installed" ]]; then
    INSTALL=false
    shift
fi
GEN=${1:-}
PORT=${VS_INGEST_ISOLATION_PORT:-54333}
DATA=$ROOT/target/isolation/pgdata
OUT=$ROOT/target/isolation/out
FILES=/tmp/vs_ingest_isolation
DB=vs_ingest_isolation
LOCK=/tmp/vs_ingest_pg.lock
ISOLATION_REGRESS=$(dirname "$("$PG_BIN/pg_config" --pgxs)")/../test/isolation/pg_isolation_regress
# isolationtester cancels a step after this many seconds and gives up after twice as many (its
# default is 300): a hung step fails the suite in minutes, not ten.
export PGISOLATIONTIMEOUT=${PGISOLATIONTIMEOUT:-90}

T0=$SECONDS
log() { printf '== isolation test [%3ds] %s\n' $((SECONDS - T0)) "$*"; }
cleanup() {
    local rc=$?
    cluster_stop "$DATA"
    flock -u 9 2>/dev/null || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$ISOLATION_REGRESS" ] || { echo "isolation test: $ISOLATION_REGRESS is missing (postgresql-server-dev-15)"; exit 1; }

log "generating 2 days of 300 links in $FILES/its"
if [ -z "$GEN" ]; then
    cargo build -p vs_ingest_gen --bin vs-ingest-gen --quiet
    GEN=target/debug/vs-ingest-gen
fi
rm -rf "$FILES" && mkdir -p "$FILES/its"
"$GEN" --out "$FILES/its" --links 300 --days 2 --start 2023-07-01 --level 1 --seed 17 >/dev/null
rm -f "$FILES/its/manifest.json"
# A second delivery of 2023-07-01 (other speeds, more links), for the rollups spec.
mkdir -p "$FILES/late"
"$GEN" --out "$FILES/late" --links 400 --days 1 --start 2023-07-01 --level 1 --seed 18 >/dev/null
rm -f "$FILES/late/manifest.json"
# A third delivery of it, for the replace spec's plain load during a replacement.
mkdir -p "$FILES/third"
"$GEN" --out "$FILES/third" --links 350 --days 1 --start 2023-07-01 --level 1 --seed 19 >/dev/null
rm -f "$FILES/third/manifest.json"
chmod -R o+rX "$FILES"

if [ "${VS_INGEST_PG_LOCK_HELD:-}" != 1 ]; then
    log "waiting for $LOCK"
    exec 9>"$LOCK"
    flock 9
fi
if $INSTALL; then
    log "installing the extension (cargo pgrx install)"
    cargo pgrx install --pg-config "$PG_BIN/pg_config" >/dev/null
fi

log "a fresh cluster in $DATA, port $PORT"
cluster_stop "$DATA"
rm -rf "$DATA"
# Two workers per load whatever the machine (a load of two files spreads them over two workers);
# no progress NOTICEs (their figures depend on timing). Workers commit every block of six hours
# (a loader commits a day at a time; the test-only setting keeps the same code and its day's
# rollups added to block by block), so the specs can hold a load between two commits of a day.
cluster_start "$DATA" "$PORT" "vs_ingest.allowed_dirs = '$FILES/its, $FILES/late, $FILES/third'" "vs_ingest.max_workers = 2" \
    "vs_ingest.progress_interval = 0" "vs_ingest.test_commit_every_hours = 6" "lc_messages = 'C'"
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE $DB"
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" \
    -c "SET client_min_messages = warning" -f isolation/helpers.sql

log "pg_isolation_regress: $(sed -n 's/^test: //p' isolation/isolation_schedule | tr '\n' ' ')"
rm -rf "$OUT" && mkdir -p "$OUT"
if ! "$ISOLATION_REGRESS" --inputdir=isolation --outputdir="$OUT" --bindir="$PG_BIN" \
        --host=127.0.0.1 --port="$PORT" --user=postgres --use-existing --dbname="$DB" \
        --schedule=isolation/isolation_schedule; then
    cat "$OUT/regression.diffs" 2>/dev/null || true
    log "FAILED (server log: $DATA/server.log)"
    exit 1
fi
log "passed"
