#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is needed, then runs
#   1. the engine's and the tools' tests (cargo test, no Postgres),
#   2. the in-database tests (cargo pgrx test pg15 --runas postgres),
#   3. pg_regress over sql/ and expected/ against the installed extension in a local cluster,
#   4. the isolation tests: pg_isolation_regress over isolation/specs/ and isolation/expected/,
#      concurrent loads, DROP, retention and cancel (scripts/isolation-test.sh),
#   5. the crash test: kill -9 of workers during a load, then resume (scripts/crash-test.sh), and
#      the metrics test over what it loaded (Debian's prometheus-postgres-exporter, scraped;
#      scripts/metrics-test.sh),
#   6. the upgrade test: 0.1.0 (commit 7cdaf19) loads and is interrupted by kill -9, then the
#      current build, ALTER EXTENSION vs_ingest UPDATE, resume, compare (scripts/upgrade-test.sh),
#   7. the distributed tests on a local Citus cluster, built from ../shared/vendor when missing
#      (scripts/citus-test.sh),
#   8. the Debian package: built by scripts/package.sh, installed with apt-get into the system's
#      PostgreSQL 15, a day loaded and checked; 0.1.0's package upgraded to it (scripts/package-test.sh).
# With --fast, only 1, 3 and 4 (a few minutes on a warm machine): for working on the SQL surface.
set -euo pipefail
FAST=false
[[ "${1:-}" == "--fast" ]] && FAST=true
cd "$(dirname "$0")/.."
ROOT=$PWD
REGRESS_PORT=${VS_INGEST_REGRESS_PORT:-54329}
REGRESS_FILES=/tmp/vs_ingest_regress
REGRESS_DATA=$ROOT/target/regress/pgdata
REGRESS_TESTS=(setup load rollups dst errors security visibility adoption targets convert drop)

# Each stage's header says how long the suite has run (CI keeps it under 45 minutes).
stage() { printf '== %s [%dm%02ds]\n' "$1" $((SECONDS / 60)) $((SECONDS % 60)); }

./scripts/setup.sh
. scripts/cluster.sh

stage "1/8 engine and tool tests: cargo test -p vs_ingest_engine -p vs_ingest_gen -p vs_ingest_bench"
cargo test -p vs_ingest_engine -p vs_ingest_gen -p vs_ingest_bench
# The engine again with its fallback inflate (zlib-rs instead of ISA-L): both backends must pass the
# same source tests (about 40 s more, mostly the build).
stage "1/8 engine tests with zlib-rs: cargo test -p vs_ingest_engine --no-default-features --features zlib-rs"
cargo test -p vs_ingest_engine --no-default-features --features zlib-rs

if $FAST; then
    stage "2/8 in-database tests: skipped (--fast)"
else
    stage "2/8 in-database tests: cargo pgrx test pg15"
    postgres_dir "$ROOT/target/pgrx-test-data"
    cargo pgrx test pg15 --runas postgres --pgdata "$ROOT/target/pgrx-test-data"
fi

stage "3/8 pg_regress: ${REGRESS_TESTS[*]}"
# pgrx test left its test build installed; install the plain build.
cargo pgrx install --pg-config "$PG_BIN/pg_config" >/dev/null
cargo build -p vs_ingest_gen --bin vs-ingest-gen --quiet
./scripts/regress-fixtures.sh target/debug/vs-ingest-gen "$REGRESS_FILES"
cluster_start "$REGRESS_DATA" "$REGRESS_PORT" \
    "vs_ingest.allowed_dirs = '$REGRESS_FILES/data, $REGRESS_FILES/broken, $REGRESS_FILES/crash, $REGRESS_FILES/special, $REGRESS_FILES/flip, $REGRESS_FILES/adopt, $REGRESS_FILES/dst'" "lc_messages = 'C'"
trap 'cluster_stop "$REGRESS_DATA"' EXIT
rm -rf target/regress/out && mkdir -p target/regress/out
if ! "$(dirname "$("$PG_BIN/pg_config" --pgxs)")/../test/regress/pg_regress" \
        --inputdir=. --outputdir=target/regress/out --bindir="$PG_BIN" \
        --host=127.0.0.1 --port="$REGRESS_PORT" --user=postgres --dbname=vs_ingest_regress \
        "${REGRESS_TESTS[@]}"; then
    cat target/regress/out/regression.diffs 2>/dev/null || true
    echo "test suites: $($FAST && echo 1 || echo 2) passed, 1 failed"
    exit 1
fi

stage "4/8 isolation tests: pg_isolation_regress, concurrent loads against each other, DROP, retention, cancel"
# Its own cluster (port 54333), against the build installed above; it holds /tmp/vs_ingest_pg.lock.
if ! ./scripts/isolation-test.sh --installed target/debug/vs-ingest-gen; then
    echo "test suites: $($FAST && echo 2 || echo 3) passed, 1 failed"
    exit 1
fi

if $FAST; then
    stage "5/8 crash test: skipped (--fast)"
    stage "6/8 upgrade test: skipped (--fast)"
    stage "7/8 distributed tests: skipped (--fast)"
    stage "8/8 Debian package: skipped (--fast)"
    echo "test suites: 3 passed, 0 failed, 5 skipped"
    exit 0
fi
stage "5/8 crash test: kill -9 during loads, then resume"
if ! ./scripts/crash-test.sh target/debug/vs-ingest-gen "$REGRESS_PORT" "$REGRESS_DATA"; then
    echo "test suites: 4 passed, 1 failed"
    exit 1
fi
# The metrics DBAs scrape, over what the crash test loaded: Debian's exporter with our queries file.
stage "5/8 metrics: prometheus-postgres-exporter with monitoring/queries.yaml, scraped once"
install_packages prometheus-postgres-exporter curl
if ! ./scripts/metrics-test.sh "$REGRESS_PORT" vs_ingest_crash; then
    echo "test suites: 4 passed, 1 failed"
    exit 1
fi
# The upgrade test installs other builds system-wide, under /tmp/vs_ingest_pg.lock: the regress
# cluster is done with the installed extension.
cluster_stop "$REGRESS_DATA"
stage "6/8 upgrade test: 0.1.0, kill -9 mid-load, ALTER EXTENSION vs_ingest UPDATE, resume"
if ! ./scripts/upgrade-test.sh; then
    echo "test suites: 5 passed, 1 failed"
    exit 1
fi
stage "7/8 distributed tests: Citus 13.2.2, a coordinator and two workers"
cargo pgrx install --pg-config "$PG_BIN/pg_config" >/dev/null
if ! ./scripts/citus-test.sh target/debug/vs-ingest-gen; then
    echo "test suites: 6 passed, 1 failed"
    exit 1
fi
stage "8/8 Debian package: apt-get install, load, upgrade over 0.1.0's package"
if ! ./scripts/package-test.sh; then
    echo "test suites: 7 passed, 1 failed"
    exit 1
fi
stage "test suites: 8 passed, 0 failed"
