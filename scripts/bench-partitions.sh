#!/usr/bin/env bash
# What a year of day partitions costs a question that filters on `hour` only (QUERIES.md a, one
# link's month, as written) against the same question with a `local_day` filter, which the planner
# prunes partitions by (the storage is partitioned by local day): EXPLAIN ANALYZE planning and
# execution in one warm session, median of the last 5 of 6 runs, first with the 28 loaded days'
# partitions, then with the other 337 days of 2023 made (empty) as a year's would be.
#
#   ./scripts/bench-partitions.sh      # ~2 min: 28 days of 2,000 links, a server on port 54371
#
# Prints the four figures; docs/storage.md ("A year of partitions") has the last run's.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh
DATA=$PWD/target/bench-partitions/pgdata
FILES=/var/tmp/vs_ingest_bench/partitions
PORT=54371
./scripts/setup.sh
cargo pgrx install --release --pg-config "$PG_BIN/pg_config" >/dev/null
cargo build --release --quiet -p vs_ingest_gen --bin vs-ingest-gen
rm -rf "$FILES" && mkdir -p "$FILES"
target/release/vs-ingest-gen --out "$FILES" --links 2000 --days 28 --start 2023-07-01 --level 1 --seed 1 >/dev/null
rm -f "$FILES/manifest.json" && chmod -R a+rX "$(dirname "$FILES")"
cluster_stop "$DATA" 2>/dev/null || true
rm -rf "$DATA" && mkdir -p "$(dirname "$DATA")"
cluster_start "$DATA" "$PORT" "vs_ingest.allowed_dirs = '$FILES'"
trap 'cluster_stop "$DATA"' EXIT
q() { as_postgres "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
          -c "SET client_min_messages = warning" "$@"; }
q -c "CREATE EXTENSION vs_ingest" -c "SELECT files_loaded FROM vs_ingest_dir('$FILES', '*.zip')" -c "ANALYZE" >/dev/null
X=$(q -c "SELECT min(link_id) FROM public.vs_its_hourly_blocks")
by_hour="SELECT hour, speed, speed_avg FROM vs_its_hourly WHERE link_id = $X
           AND hour >= '2023-07-01 00:00+09' AND hour < '2023-07-29 00:00+09' ORDER BY hour"
by_day="SELECT hour, speed, speed_avg FROM vs_its_hourly WHERE link_id = $X
          AND local_day BETWEEN '2023-07-01' AND '2023-07-28' ORDER BY hour"
# measure LABEL SQL: "planning ms execution ms", median of runs 2-6 of one session.
measure() {
    local args=() i
    for i in 1 2 3 4 5 6; do args+=(-c "EXPLAIN (ANALYZE, SUMMARY) $2"); done
    q "${args[@]}" | sed -n 's/^Planning Time: \([0-9.]*\) ms$/\1/p; s/^Execution Time: \([0-9.]*\) ms$/\1/p' | paste - - \
        | tail -5 | sort -n | sed -n 3p | awk -v l="$1" '{printf "  %-44s planning %7.2f ms, execution %6.2f ms\n", l, $1, $2}'
}
partitions() { q -c "SELECT count(*) FROM vs_ingest.day_partitions('public.vs_its_hourly_blocks')"; }
echo "$(partitions) day partitions:"
measure "a as QUERIES.md writes it (hour range)" "$by_hour"
measure "a with local_day BETWEEN" "$by_day"
q -c "SELECT count(vs_ingest.ensure_day_partition(t, d::date))
        FROM generate_series('2023-01-01'::date, '2023-12-31', '1 day') d,
             unnest(ARRAY['public.vs_its_hourly_blocks', 'public.vs_its_hourly_days']::regclass[]) t
       WHERE d < '2023-07-01' OR d > '2023-07-28'" -c "ANALYZE" >/dev/null
echo "$(partitions) day partitions (a year):"
measure "a as QUERIES.md writes it (hour range)" "$by_hour"
measure "a with local_day BETWEEN" "$by_day"
