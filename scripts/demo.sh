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
# The files' times are Seoul time. Sessions of this database show timestamps in Seoul time too,
# so that hour::date and extract(hour FROM hour) mean Seoul's day and hour; the views'
# local_day and local_hour are Seoul's whatever the session's TimeZone.
psql_demo -d postgres -q -c "DROP DATABASE IF EXISTS vs_ingest_demo" -c "CREATE DATABASE vs_ingest_demo" \
    -c "ALTER DATABASE vs_ingest_demo SET timezone = 'Asia/Seoul'"
psql_demo -d vs_ingest_demo <<SQL
CREATE EXTENSION vs_ingest;
\echo == SELECT * FROM vs_ingest_dir('$FILES', '*_5Min.zip')
\x on
SELECT * FROM vs_ingest_dir('$FILES', '*_5Min.zip');
\x off
\echo == a few hourly rows (the view public.vs_its_hourly; local_day and local_hour are Seoul time)
SELECT hour, local_day, local_hour, link_id, speed, samples, speed_avg
  FROM public.vs_its_hourly ORDER BY link_id, hour LIMIT 5;
\echo == the 5-minute profile of one link, the first half hour (the view public.vs_its_5min)
SELECT ts, local_time, speed FROM public.vs_its_5min
 WHERE link_id = (SELECT min(link_id) FROM public.vs_its_hourly_blocks) AND local_time < (SELECT min(local_day) FROM public.vs_its_5min) + time '00:30'
 ORDER BY ts;
\echo == storage: six-hour rows per local day, with their size
SELECT day, count(*) AS rows, pg_size_pretty(sum(pg_column_size(b.*))) AS bytes FROM public.vs_its_hourly_blocks b GROUP BY day ORDER BY day;
\echo == rejected lines
SELECT line, reason, raw FROM vs_ingest.reject ORDER BY line LIMIT 10;
\echo == loading the same directory again changes nothing
SELECT files_seen, files_loaded, files_skipped, rows_loaded FROM vs_ingest_dir('$FILES', '*_5Min.zip');
SQL
echo "== done. The server keeps running: psql -h 127.0.0.1 -p $PORT -U postgres vs_ingest_demo"
echo "   stop it with: sudo -u postgres $PG_BIN/pg_ctl -D $DATA stop"
