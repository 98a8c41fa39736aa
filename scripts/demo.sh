#!/usr/bin/env bash
# The main job, end to end on a fresh machine: install what is needed, build and install the
# extension (release), start a project-local PostgreSQL 15, generate a sample day of ITS data,
# load it with vs_ingest_dir and show the summary and a few hourly rows.
#
#   ./scripts/demo.sh [LINKS]        LINKS per day, default 20000 (the national file has ~449000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LINKS=${1:-20000}
PORT=${VS_INGEST_DEMO_PORT:-54321}
DATA=$ROOT/target/demo/pgdata
FILES=/tmp/vs_ingest_demo/its

./scripts/setup.sh
. scripts/cluster.sh

echo "== building and installing vs_ingest (release)"
cargo pgrx install --release --pg-config "$PG_BIN/pg_config" >/dev/null
cargo build --release -p vs_ingest_gen --bin vs-ingest-gen --quiet

echo "== generating one day of ITS 5-minute data: $LINKS links"
rm -rf "$FILES" && mkdir -p "$FILES"
target/release/vs-ingest-gen --out "$FILES" --links "$LINKS" --start 2023-07-01
chmod -R o+rX /tmp/vs_ingest_demo

echo "== starting PostgreSQL 15 in $DATA (port $PORT)"
cluster_start "$DATA" "$PORT" "vs_ingest.allowed_dirs = '/tmp/vs_ingest_demo'"

psql_demo() { psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
psql_demo -d postgres -q -c "DROP DATABASE IF EXISTS vs_ingest_demo" -c "CREATE DATABASE vs_ingest_demo"
psql_demo -d vs_ingest_demo <<SQL
CREATE EXTENSION vs_ingest;
SET TimeZone = 'Asia/Seoul';
\echo == SELECT * FROM vs_ingest_dir('$FILES', '*_5Min.zip')
\x on
SELECT * FROM vs_ingest_dir('$FILES', '*_5Min.zip');
\x off
\echo == a few hourly rows
SELECT hour, link_id, speed, samples, speed_avg, speed_min, speed_max
  FROM public.vs_its_hourly ORDER BY link_id, hour LIMIT 5;
\echo == rejected lines
SELECT line, reason, raw FROM vs_ingest.reject ORDER BY line LIMIT 10;
\echo == loading the same directory again changes nothing
SELECT files_seen, files_loaded, files_skipped, rows_loaded FROM vs_ingest_dir('$FILES', '*_5Min.zip');
SQL
echo "== done. The server keeps running: psql -h 127.0.0.1 -p $PORT -U postgres vs_ingest_demo"
echo "   stop it with: sudo -u postgres $PG_BIN/pg_ctl -D $DATA stop"
