#!/usr/bin/env bash
# The query suite of issues 11 and 18 (shared/QUERIES.md: the analysts' questions a-g) and the
# storage it reads: N real-like days at 1/10 national scale (45,000 links, 2023-07-01 onwards),
# loaded with vs_ingest_dir into a fresh PostgreSQL 15 cluster, then each query run warm several
# times, in three forms side by side: natural (the hourly view), rollups (the daily view), DuckDB.
#
#   ./scripts/bench-queries.sh [--runs N] [--days N] [--links N] [--skip-duckdb] [--keep] [--prepare]
#
#   --runs N       measured runs of each query, after one warm-up run (default 5); medians reported
#   --days N       days loaded from 2023-07-01 (default 28: 2023-07-01 .. 2023-07-28)
#   --links N      links per day (default 45000, 1/10 of the national 449,000)
#   --skip-duckdb  leave DuckDB out (it is installed with pip into a venv in the cache if missing)
#   --keep         leave the server running at the end (port 54323, database vs_ingest_queries)
#   --prepare      only build and generate (or find) the cached input and Parquet, then stop
#
# What it measures:
# - load: wall time of one `SELECT * FROM vs_ingest_dir(dir, '*_5Min.zip')` of all the days, into
#   an empty database, then VACUUM ANALYZE (timed apart).
# - queries a-g, verbatim from shared/QUERIES.md, with psql variables :X (one link with data in
#   every hour loaded) and :L50 (fifty links spread over the id range), both picked from the data
#   deterministically. Each query's time is the median over --runs of Planning Time + Execution
#   Time from EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) (per-node timing on, as the issue measured;
#   its buffers are reported too), and, separately, the median client-side time of running the
#   query itself with psql's \timing (rows sent to the client and discarded).
#   If a relation vs_its_5min with columns link_id, ts and speed exists, e' (the 5-minute view
#   form of e) is run as well.
# - rollups: if the daily view vs_its_daily exists (issue 18: one row per link and local day,
#   kept exact by every load), c, d, f and g are also run in the form an analyst writes against
#   it (c_daily, d_daily, f_daily and f_daily2: two ways to read the hour arrays, g_daily and
#   g_daily2), and d and f against the monthly view vs_its_monthly if it exists (d_monthly,
#   f_monthly). Each rollup form's answer is compared with its natural form's
#   (tools/bench/compare_answers.py: same rows, values within 1e-6 relative; for the top-100
#   questions d and g, rows tied at the cut may differ). A mismatch is printed loudly, recorded, and makes the script exit 1 after
#   writing the results.
# - DuckDB: PyPI's duckdb (2 threads, TimeZone UTC) on Parquet built once from the same generated
#   files (tools/bench/duckdb_queries.py): one file per day of the hourly rows an analyst would
#   mirror from vs_its_hourly (hour, link_id, speed real[12], travel_time int[12], samples,
#   speed_avg, speed_min, speed_max), in (link_id, hour) order, cached beside the input in
#   <input dir>-parquet-hourly-<hash of the builder>/. Each of a-g runs verbatim (QUERIES.md's
#   SQL is valid DuckDB; e in DuckDB's idiom, see DUCK_QUERY below) against a view vs_its_hourly
#   over read_parquet('<dir>/*.parquet'),
#   once to warm up and --runs times: wall time of the query run to a materialized result, after
#   the PostgreSQL server has stopped. Its rows are counted, not compared: the Parquet rows come
#   from DuckDB's reading of the CSV (a slot with two samples keeps the larger, see
#   tools/bench/duckdb_hourly.py), not from vs_ingest's.
# - time zones: the database's TimeZone is set to the source's, Asia/Seoul (ALTER DATABASE ... SET
#   timezone), but every timed run sets TimeZone = 'UTC' in its session, to show that the answers
#   do not depend on it; each query is also run once under each of the two zones, and the results
#   compared (row counts, and the rows rendered under one zone). Query a must return 24 rows per
#   loaded day in July 1-28 for :X; e 288 rows per link of :L50 if 2023-07-12 is loaded.
# - storage: total bytes (heap, TOAST, indexes: pg_total_relation_size of every table) of the
#   relations in schema public named vs_its_hourly* and of every partition below them, per day,
#   and extrapolated to a national year: x 450,000 / links (x10 at 45,000) x 365 / days.
#
# Settings: PostgreSQL's defaults (JIT on) but shared_buffers = 4GB and work_mem = 256MB (the
# settings QUERIES.md's 0.2.0 figures name, and what a server for these questions would get),
# plus vs_ingest.allowed_dirs for the input. Writes target/bench-queries/results.json and
# docs/bench-queries.json, and prints a table per question (natural, rollups, DuckDB) with the
# targets of issue 18.
# The generated days are cached in /var/tmp/vs_ingest_bench/queries/<generator parameters>/
# ($VS_INGEST_BENCH_CACHE instead of /var/tmp/vs_ingest_bench). The server runs in
# target/bench-queries/pgdata on port 54323 ($VS_INGEST_QUERIES_PORT). Installing the extension
# and everything up to the last query hold /tmp/vs_ingest_pg.lock, like scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

RUNS=5
DAYS=28
LINKS=45000
KEEP=0
PREPARE=0
DUCKDB=1
DUCKDB_THREADS=2
COMMAND_LINE="scripts/bench-queries.sh $*"
while (($#)); do
    case $1 in
        --runs) RUNS=${2:?--runs needs a value}; shift 2 ;;
        --runs=*) RUNS=${1#*=}; shift ;;
        --days) DAYS=${2:?--days needs a value}; shift 2 ;;
        --days=*) DAYS=${1#*=}; shift ;;
        --links) LINKS=${2:?--links needs a value}; shift 2 ;;
        --links=*) LINKS=${1#*=}; shift ;;
        --skip-duckdb) DUCKDB=0; shift ;;
        --keep) KEEP=1; shift ;;
        --prepare) PREPARE=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
for n in "$RUNS" "$DAYS" "$LINKS"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "--runs, --days and --links take positive integers" >&2; exit 2; }
done

. scripts/cluster.sh
. scripts/bench-lib.sh

PG_CONFIG=$PG_BIN/pg_config
PORT=${VS_INGEST_QUERIES_PORT:-54323}
OUT=$ROOT/target/bench-queries
PGDATA_DIR=$OUT/pgdata
RAW=$OUT/raw.tsv                        # raw measurements, one `key<TAB>value` a line
PLANS=$OUT/plans                        # EXPLAIN output of every run
JSON=$OUT/results.json
DOCS_JSON=$ROOT/docs/bench-queries.json
DB=vs_ingest_queries
TZ_NAME=Asia/Seoul
LOCK=/tmp/vs_ingest_pg.lock

START=2023-07-01
START_COMPACT=${START//-/}
SEED=42
GEN_ARGS=(--links "$LINKS" --start "$START" --days "$DAYS" --variant 2023 --container zip --level 1 --seed "$SEED" --real-like)
GEN_HASH=$(cat tools/gen/src/lib.rs tools/gen/src/bin/vs_ingest_gen.rs | sha256sum | cut -c1-12)
CACHE_ROOT=${VS_INGEST_BENCH_CACHE:-/var/tmp/vs_ingest_bench}
DATA=$CACHE_ROOT/queries/links$LINKS-$START_COMPACT-days$DAYS-reallike-seed$SEED-gen$GEN_HASH

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
GEN=$TARGET_DIR/release/vs-ingest-gen
VENV=$CACHE_ROOT/python
PG_SETTINGS=("shared_buffers = '4GB'" "work_mem = '256MB'")

pg() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
put() { printf '%s\t%s\n' "$1" "$2" >>"$RAW"; }

cleanup() {
    local rc=$?
    if ((KEEP)) && ((rc == 0)); then
        echo "server left running: psql -h 127.0.0.1 -p $PORT -U postgres $DB (stop: pg_ctl -D $PGDATA_DIR stop)"
    elif [ -s "$PGDATA_DIR/postmaster.pid" ]; then
        cluster_stop "$PGDATA_DIR"
    fi
    flock -u 9 2>/dev/null || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
bench_log "setup: packages, cargo-pgrx, builds (release)"
./scripts/setup.sh
cargo pgrx package --pg-config "$PG_CONFIG" >/dev/null
cargo build --release --quiet -p vs_ingest_gen --bin vs-ingest-gen
mkdir -p "$OUT" "$ROOT/docs"

bench_input "$DATA" "$GEN" "${GEN_ARGS[@]}" | awk -F'\t' '{ print "  " $1 "\t" $4 }'
bench_readable "$DATA"
FILES=$(find "$DATA" -maxdepth 1 -name '*_5Min.zip' | wc -l)
ZIP_BYTES=$(find "$DATA" -maxdepth 1 -name '*_5Min.zip' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
CSV_ROWS=$(sed -n 's/.*"data_rows": *\([0-9]*\).*/\1/p' "$DATA/manifest.json" | awk '{ s += $1 } END { print s + 0 }')
echo "$FILES files, $ZIP_BYTES bytes of zip, $CSV_ROWS CSV rows in $DATA"

# DuckDB (PyPI, in the venv of scripts/bench.sh) and the Parquet days, built once.
if ((DUCKDB)); then
    if ! "$VENV/bin/python" -c 'import duckdb' 2>/dev/null; then
        bench_log "installing duckdb (PyPI) into $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check duckdb
    fi
    PARQUET=$DATA-parquet-hourly-$("$VENV/bin/python" tools/bench/duckdb_queries.py tag)
    bench_log "Parquet: one file per day in $PARQUET (built from the zips where missing)"
    parquet_json=$("$VENV/bin/python" tools/bench/duckdb_queries.py build "$DATA" "$PARQUET" \
        --tz "$TZ_NAME" --threads "$DUCKDB_THREADS" | tee /dev/stderr | tail -1)
    PARQUET_FILES=$(sed -n 's/.*"files": *\([0-9]*\).*/\1/p' <<<"$parquet_json")
    PARQUET_BYTES=$(sed -n 's/.*"bytes": *\([0-9]*\).*/\1/p' <<<"$parquet_json")
    [ "$PARQUET_FILES" = "$FILES" ] || bench_die "$PARQUET_FILES Parquet files for $FILES days in $PARQUET"
fi
if ((PREPARE)); then exit 0; fi

rm -rf "$PLANS"
mkdir -p "$PLANS"
: >"$RAW"
put meta.command "$COMMAND_LINE"
put meta.date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
put meta.git_commit "$(git rev-parse HEAD 2>/dev/null || echo unknown)"
put meta.git_dirty "$(if [ -n "$(git status --porcelain 2>/dev/null)" ]; then echo true; else echo false; fi)"
put meta.runs "$RUNS"
put machine.nproc "$(nproc)"
put machine.ram_kib "$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
put machine.cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
put input.dir "$DATA"
put input.generator "vs-ingest-gen ${GEN_ARGS[*]}"
put input.links "$LINKS"
put input.days "$DAYS"
put input.start "$START"
put input.files "$FILES"
put input.zip_bytes "$ZIP_BYTES"
put input.csv_rows "$CSV_ROWS"
if ((DUCKDB)); then
    put parquet.dir "$PARQUET"
    put parquet.files "$PARQUET_FILES"
    put parquet.bytes "$PARQUET_BYTES"
    put parquet.layout "one file per day (YYYYMMDD.parquet) of hourly rows: hour timestamptz, link_id bigint, speed real[12], travel_time int[12], samples smallint, speed_avg, speed_min, speed_max real; ordered by (link_id, hour); DuckDB's default row groups (122,880 rows) and compression"
fi

# ---------------------------------------------------------------------------------------------
bench_log "waiting for $LOCK (held from installing the extension to the last query)"
exec 9>"$LOCK"
flock 9
cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null

bench_log "a fresh cluster in $PGDATA_DIR, port $PORT (PostgreSQL defaults, ${PG_SETTINGS[*]})"
cluster_stop "$PGDATA_DIR"
rm -rf "$PGDATA_DIR"
postgres_dir "$OUT"
cluster_start "$PGDATA_DIR" "$PORT" "${PG_SETTINGS[@]}" "vs_ingest.allowed_dirs = '$DATA'" 9>&-
put machine.postgres "$(pg -d postgres -At -c 'SELECT version()')"
for s in shared_buffers work_mem jit max_parallel_workers_per_gather effective_cache_size random_page_cost; do
    put "setting.$s" "$(pg -d postgres -At -c "SHOW $s")"
done
pg -d postgres -c "CREATE DATABASE $DB"
# The source's zone for the database, as the README's demo does; the timed runs use UTC below.
pg -d postgres -c "ALTER DATABASE $DB SET timezone = '$TZ_NAME'"
pg -d "$DB" -c "CREATE EXTENSION vs_ingest" -c CHECKPOINT
put tz.database "$TZ_NAME"
put tz.timed_runs UTC

bench_log "loading $FILES days: SELECT * FROM vs_ingest_dir('$DATA', '*_5Min.zip')"
start=$(now)
pg -d "$DB" -At -F ' | ' -c "SELECT * FROM vs_ingest_dir('$DATA', '*_5Min.zip')" | tee "$OUT/load.out"
load_s=$(elapsed "$start")
IFS=$'\t' read -r status failed rows_read rows_loaded < <(
    pg -d "$DB" -At -F $'\t' -c "SELECT status, files_failed, rows_read, rows_loaded FROM vs_ingest.run ORDER BY run_id DESC LIMIT 1") || true
if [ "${status:-}" != succeeded ] || [ "${failed:-}" != 0 ]; then
    bench_die "the load did not succeed (status ${status:-?}, ${failed:-?} files failed); see $PGDATA_DIR/server.log"
fi
echo "loaded in $load_s s: $rows_read rows read, $rows_loaded loaded"
put load.seconds "$load_s"
put load.rows_read "$rows_read"
put load.rows_loaded "$rows_loaded"
start=$(now)
pg -d "$DB" -c "VACUUM ANALYZE"
put load.vacuum_analyze_seconds "$(elapsed "$start")"

# ---------------------------------------------------------------------------------------------
# Storage: every table in public named vs_its_hourly*, and every partition below those, with its
# TOAST and indexes (pg_total_relation_size of the leaves; partitioned parents hold nothing).
STORAGE_SQL="
WITH named AS (
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relname LIKE 'vs\\_its\\_hourly%' AND c.relkind IN ('r', 'p', 'm')
), tree AS (
    -- (pg_partition_tree lists nothing for a table outside any partition tree: the monthly rollups)
    SELECT t.relid FROM named, pg_partition_tree(named.oid) t UNION SELECT named.oid FROM named
), leaves AS (
    SELECT c.oid, c.oid::regclass AS rel FROM tree JOIN pg_class c ON c.oid = tree.relid WHERE c.relkind IN ('r', 'm')
)
SELECT coalesce(sum(pg_total_relation_size(oid)), 0), coalesce(sum(pg_relation_size(oid)), 0),
       coalesce(sum(pg_table_size(oid) - pg_relation_size(oid)), 0), coalesce(sum(pg_indexes_size(oid)), 0),
       count(*), coalesce(string_agg(DISTINCT regexp_replace(rel::text, '_[pd]?[0-9]{8}\$', '_*'), ' '), '')
  FROM leaves"
IFS=$'\t' read -r total_b heap_b toast_b index_b tables names < <(pg -d "$DB" -At -F $'\t' -c "$STORAGE_SQL")
HOURLY_ROWS=$(pg -d "$DB" -At -c "SELECT count(*) FROM public.vs_its_hourly")
put storage.total_bytes "$total_b"
put storage.heap_bytes "$heap_b"
put storage.toast_fsm_vm_bytes "$toast_b"
put storage.index_bytes "$index_b"
put storage.tables "$tables"
put storage.relations "$names"
put storage.hourly_rows "$HOURLY_ROWS"
# The rollups (issue 18), part of the total above when they exist: the daily vs_its_hourly_days
# and the monthly vs_its_hourly_months.
ROLLUP_BYTES=$(pg -d "$DB" -At -c "
    SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0)
           + coalesce(pg_total_relation_size(to_regclass('public.vs_its_hourly_months')), 0)
      FROM pg_partition_tree(to_regclass('public.vs_its_hourly_days')) t")
put storage.rollup_bytes "${ROLLUP_BYTES:-0}"
echo "storage: $total_b bytes in $tables tables ($names), $HOURLY_ROWS hourly rows"

# ---------------------------------------------------------------------------------------------
# :X and :L50, from the links of the first loaded hour: X is the link in the middle of the id
# range that has a row in every loaded hour; L50 are fifty links evenly spaced over the ids.
FIRST_HOUR="$START 00:00+09"
mapfile -t CANDIDATES < <(pg -d "$DB" -At -c "
    SELECT link_id FROM (
        SELECT link_id, row_number() OVER (ORDER BY link_id) AS rn, count(*) OVER () AS n
          FROM public.vs_its_hourly WHERE hour = '$FIRST_HOUR') s
     ORDER BY abs(rn - n / 2), link_id LIMIT 50")
X=
for c in "${CANDIDATES[@]}"; do
    hours=$(pg -d "$DB" -At -c "SELECT count(*) FROM public.vs_its_hourly WHERE link_id = $c")
    if [ "$hours" = $((DAYS * 24)) ]; then X=$c; break; fi
done
[ -n "$X" ] || bench_die "no link with a row in each of the $((DAYS * 24)) hours among ${#CANDIDATES[@]} candidates"
L50=$(pg -d "$DB" -At -c "
    SELECT '{' || string_agg(link_id::text, ',' ORDER BY link_id) || '}' FROM (
        SELECT link_id, row_number() OVER (ORDER BY link_id) - 1 AS i, count(*) OVER () AS n
          FROM public.vs_its_hourly WHERE hour = '$FIRST_HOUR') s
     WHERE i % greatest(n / 50, 1) = 0 AND i / greatest(n / 50, 1) < 50")
echo "X = $X; L50 = $L50"
put params.X "$X"
put params.L50 "$L50"

# Loaded days within a date range [from, to): expected row counts of a and e.
days_within() {
    local from=$1 to=$2 first last
    first=$(date -u -d "$START" +%s)
    last=$(date -u -d "$START + $DAYS days" +%s)
    from=$(date -u -d "$from" +%s)
    to=$(date -u -d "$to" +%s)
    ((from > first)) && first=$from
    ((to < last)) && last=$to
    echo $(((last > first) ? (last - first) / 86400 : 0))
}

# The queries, verbatim from shared/QUERIES.md.
declare -A QUERY TITLE EXPECT
TITLE[a]="one link's month"
QUERY[a]="SELECT hour, speed, speed_avg FROM vs_its_hourly
 WHERE link_id = :X AND hour >= '2023-07-01 00:00+09' AND hour < '2023-07-29 00:00+09' ORDER BY hour;"
EXPECT[a]=$((24 * $(days_within 2023-07-01 2023-07-29)))
TITLE[b]="the whole network in one hour"
QUERY[b]="SELECT link_id, speed, speed_avg FROM vs_its_hourly WHERE hour = '2023-07-12 08:00+09';"
TITLE[c]="daily average speed per link, one region, one week"
QUERY[c]="SELECT link_id, (hour AT TIME ZONE 'Asia/Seoul')::date AS day,
       sum(speed_avg::float8 * samples) / nullif(sum(samples), 0) AS avg_speed
  FROM vs_its_hourly
 WHERE link_id BETWEEN 1000000000 AND 1099999999
   AND hour >= '2023-07-03 00:00+09' AND hour < '2023-07-10 00:00+09'
 GROUP BY 1, 2;"
TITLE[d]="the 100 slowest links in the weekday 07-09 peak, month"
QUERY[d]="SELECT link_id, sum(speed_avg::float8 * samples) / sum(samples) AS peak_speed
  FROM vs_its_hourly
 WHERE hour >= '2023-07-01 00:00+09' AND hour < '2023-07-29 00:00+09'
   AND extract(hour FROM hour AT TIME ZONE 'Asia/Seoul') IN (7, 8)
   AND extract(isodow FROM hour AT TIME ZONE 'Asia/Seoul') < 6
 GROUP BY link_id ORDER BY peak_speed LIMIT 100;"
TITLE[e]="5-minute profile of 50 links over one day"
QUERY[e]="SELECT t.link_id, t.hour + (s.i - 1) * interval '5 minutes' AS ts, s.v AS speed
  FROM vs_its_hourly t CROSS JOIN LATERAL unnest(t.speed) WITH ORDINALITY AS s(v, i)
 WHERE t.link_id = ANY (:L50)
   AND t.hour >= '2023-07-12 00:00+09' AND t.hour < '2023-07-13 00:00+09'
 ORDER BY 1, 2;"
EXPECT[e]=$((50 * 288 * $(days_within 2023-07-12 2023-07-13)))
TITLE[f]="weekday hour-of-day profile of one region's links, month"
QUERY[f]="SELECT link_id, extract(hour FROM hour AT TIME ZONE 'Asia/Seoul') AS hour_of_day,
       sum(speed_avg::float8 * samples) / sum(samples) AS speed
  FROM vs_its_hourly
 WHERE link_id BETWEEN 1000000000 AND 1099999999
   AND hour >= '2023-07-01 00:00+09' AND hour < '2023-07-29 00:00+09'
   AND extract(isodow FROM hour AT TIME ZONE 'Asia/Seoul') < 6
 GROUP BY 1, 2;"
TITLE[g]="the 100 link-days with the most missing 5-minute slots, month"
QUERY[g]="SELECT link_id, (hour AT TIME ZONE 'Asia/Seoul')::date AS day, 1 - sum(samples) / 288.0 AS missing
  FROM vs_its_hourly
 WHERE hour >= '2023-07-01 00:00+09' AND hour < '2023-07-29 00:00+09'
 GROUP BY 1, 2 ORDER BY missing DESC LIMIT 100;"
NAMES=(a b c d e f g)
# DuckDB runs the natural forms, verbatim but for the variables (substituted; :L50 as a list),
# except e: DuckDB does not push the link filter below QUERIES.md's LATERAL unnest ... WITH
# ORDINALITY and unnests every row of the 28 files first (10 s on 3 days, 50 links), so DuckDB
# gets its own idiom, unnest() and generate_subscripts() in the select list (17 ms on 3 days).
DUCK_NAMES=(a b c d e f g)
declare -A DUCK_QUERY
DUCK_QUERY[e]="SELECT link_id, hour + (generate_subscripts(speed, 1) - 1) * interval '5 minutes' AS ts, unnest(speed) AS speed
  FROM vs_its_hourly
 WHERE link_id = ANY (:L50) AND hour >= '2023-07-12 00:00+09' AND hour < '2023-07-13 00:00+09'
 ORDER BY 1, 2;"

# e': the same profile from the 5-minute view, if there is one with the columns it needs.
view_columns=$(pg -d "$DB" -At -c "
    SELECT count(*) FROM pg_attribute
     WHERE attrelid = to_regclass('vs_its_5min') AND attname IN ('link_id', 'ts', 'speed') AND NOT attisdropped")
if [ "$view_columns" = 3 ]; then
    TITLE[e5]="e' from the 5-minute view vs_its_5min"
    QUERY[e5]="SELECT link_id, ts, speed FROM vs_its_5min WHERE link_id = ANY(:L50) AND ts >= '2023-07-12 00:00+09' AND ts < '2023-07-13 00:00+09' ORDER BY 1, 2;"
    # A 5-minute view may leave out the slots without a speed, which e's unnest keeps as NULL:
    # either count is right, and the check says which one it got.
    EXPECT[e5]=${EXPECT[e]}
    NAMES+=(e5)
else
    put skipped.e5 "no relation vs_its_5min with columns link_id, ts, speed"
    echo "e': skipped (no relation vs_its_5min with columns link_id, ts, speed)"
fi

# The rollup forms (issue 18): what an analyst writes against the daily view, if it exists with
# the columns they need. NATURAL names the form each must agree with; KEYS its key columns; TOP
# the order of a top-N answer (rows tied at the cut may differ).
declare -A NATURAL KEYS TOP
daily_columns=$(pg -d "$DB" -At -c "
    SELECT count(*) FROM pg_attribute
     WHERE attrelid = to_regclass('vs_its_daily') AND NOT attisdropped
       AND attname IN ('link_id', 'local_day', 'samples', 'speed_avg', 'hour_samples', 'hour_speed_tenths')")
if [ "$daily_columns" = 6 ]; then
    TITLE[c_daily]="c from the daily view vs_its_daily"
    QUERY[c_daily]="SELECT link_id, local_day, speed_avg FROM vs_its_daily
 WHERE link_id BETWEEN 1000000000 AND 1099999999 AND local_day BETWEEN '2023-07-03' AND '2023-07-09';"
    NATURAL[c_daily]=c KEYS[c_daily]=2
    TITLE[d_daily]="d from the daily view (hours 7 and 8 are subscripts 8 and 9)"
    QUERY[d_daily]="SELECT link_id, sum(hour_speed_tenths[8] + hour_speed_tenths[9]) / 10.0 / nullif(sum(hour_samples[8] + hour_samples[9]), 0) AS peak_speed
  FROM vs_its_daily
 WHERE local_day BETWEEN '2023-07-01' AND '2023-07-28' AND extract(isodow FROM local_day) < 6
 GROUP BY link_id ORDER BY peak_speed LIMIT 100;"
    NATURAL[d_daily]=d KEYS[d_daily]=1 TOP[d_daily]=asc
    TITLE[f_daily]="f from the daily view, the hour arrays unnested WITH ORDINALITY"
    QUERY[f_daily]="SELECT d.link_id, h.i - 1 AS hour_of_day, sum(h.tenths) / 10.0 / sum(h.samples) AS speed
  FROM vs_its_daily d
 CROSS JOIN LATERAL unnest(d.hour_speed_tenths, d.hour_samples) WITH ORDINALITY AS h(tenths, samples, i)
 WHERE d.link_id BETWEEN 1000000000 AND 1099999999
   AND d.local_day BETWEEN '2023-07-01' AND '2023-07-28' AND extract(isodow FROM d.local_day) < 6
   AND h.samples > 0
 GROUP BY 1, 2;"
    NATURAL[f_daily]=f KEYS[f_daily]=2
    TITLE[f_daily2]="f from the daily view, one subscript per hour (generate_series)"
    QUERY[f_daily2]="SELECT d.link_id, h - 1 AS hour_of_day, sum(d.hour_speed_tenths[h]) / 10.0 / sum(d.hour_samples[h]) AS speed
  FROM vs_its_daily d CROSS JOIN generate_series(1, 24) AS h
 WHERE d.link_id BETWEEN 1000000000 AND 1099999999
   AND d.local_day BETWEEN '2023-07-01' AND '2023-07-28' AND extract(isodow FROM d.local_day) < 6
 GROUP BY 1, 2 HAVING sum(d.hour_samples[h]) > 0;"
    NATURAL[f_daily2]=f KEYS[f_daily2]=2
    TITLE[g_daily]="g from the daily view"
    QUERY[g_daily]="SELECT link_id, local_day, 1 - samples / 288.0 AS missing FROM vs_its_daily
 WHERE local_day BETWEEN '2023-07-01' AND '2023-07-28' ORDER BY missing DESC LIMIT 100;"
    NATURAL[g_daily]=g KEYS[g_daily]=2 TOP[g_daily]=desc
    TITLE[g_daily2]="g from the daily view, the fewest samples first (its index on samples)"
    QUERY[g_daily2]="SELECT link_id, local_day, 1 - samples / 288.0 AS missing FROM vs_its_daily
 WHERE local_day BETWEEN '2023-07-01' AND '2023-07-28' ORDER BY samples LIMIT 100;"
    NATURAL[g_daily2]=g KEYS[g_daily2]=2 TOP[g_daily2]=desc
    NAMES+=(c_daily d_daily f_daily f_daily2 g_daily g_daily2)
    # The monthly view (one row per link, local month and day type): d and f over a month. The
    # days loaded are 2023-07-01..28, all of July's that the natural forms ask for.
    monthly_columns=$(pg -d "$DB" -At -c "
        SELECT count(*) FROM pg_attribute
         WHERE attrelid = to_regclass('vs_its_monthly') AND NOT attisdropped
           AND attname IN ('link_id', 'month', 'weekend', 'hour_samples', 'hour_speed_tenths')")
    if [ "$monthly_columns" = 5 ]; then
        TITLE[d_monthly]="d from the monthly view (July's weekdays: one row per link)"
        QUERY[d_monthly]="SELECT link_id, (hour_speed_tenths[8] + hour_speed_tenths[9]) / 10.0 / nullif(hour_samples[8] + hour_samples[9], 0) AS peak_speed
  FROM vs_its_monthly
 WHERE month = '2023-07-01' AND NOT weekend
 ORDER BY peak_speed LIMIT 100;"
        NATURAL[d_monthly]=d KEYS[d_monthly]=1 TOP[d_monthly]=asc
        TITLE[f_monthly]="f from the monthly view, one subscript per hour (generate_series)"
        QUERY[f_monthly]="SELECT m.link_id, h - 1 AS hour_of_day, m.hour_speed_tenths[h] / 10.0 / m.hour_samples[h] AS speed
  FROM vs_its_monthly m CROSS JOIN generate_series(1, 24) AS h
 WHERE m.link_id BETWEEN 1000000000 AND 1099999999 AND m.month = '2023-07-01' AND NOT m.weekend
   AND m.hour_samples[h] > 0;"
        NATURAL[f_monthly]=f KEYS[f_monthly]=2
        NAMES+=(d_monthly f_monthly)
    else
        put skipped.monthly "no view vs_its_monthly with columns link_id, month, weekend, hour_samples, hour_speed_tenths"
        echo "monthly rollups: skipped (no view vs_its_monthly)"
    fi
else
    put skipped.rollups "no view vs_its_daily with columns link_id, local_day, samples, speed_avg, hour_samples, hour_speed_tenths"
    echo "rollups: skipped (no view vs_its_daily with the columns of issue 18)"
fi

# The top-100 answers (ORDER BY ... LIMIT 100) and the column they are ordered by: rows tied at
# the cut may come in any order from run to run (parallel scans), so the time zone check below
# compares that column's values for them, not the rows.
declare -A TOP_COLUMN=([d]=peak_speed [g]=missing [d_daily]=peak_speed [g_daily]=missing [g_daily2]=missing
                       [d_monthly]=peak_speed)

# session TZ: psql prologue setting the zone and the variables of the queries.
session() {
    printf "SET TimeZone = '%s';\n\\\\set X %s\n\\\\set L50 '''%s''::bigint[]'\n" "$1" "$X" "$L50"
}

# ---------------------------------------------------------------------------------------------
bench_log "checking each query under TimeZone $TZ_NAME and UTC"
for q in "${NAMES[@]}"; do
    body=${QUERY[$q]%;}
    row=x::text
    if [ -n "${TOP_COLUMN[$q]:-}" ]; then row="x.${TOP_COLUMN[$q]}::text"; fi
    read -r n_local n_utc same < <({
        session "$TZ_NAME"
        echo "CREATE TEMP TABLE r_local AS $body;"
        echo "SET TimeZone = 'UTC';"
        echo "CREATE TEMP TABLE r_utc AS $body;"
        # Rendered under one zone, with float8 cut to 12 digits: a parallel sum may differ in its
        # last bits from run to run.
        echo "SET extra_float_digits = -3;"
        echo "SELECT (SELECT count(*) FROM r_local), (SELECT count(*) FROM r_utc),
                     (SELECT md5(coalesce(string_agg($row, '|' ORDER BY $row), '')) FROM r_local x)
                   = (SELECT md5(coalesce(string_agg($row, '|' ORDER BY $row), '')) FROM r_utc x);"
    } | pg -d "$DB" -At -F ' ')
    problems=()
    if [ "$n_local" != "$n_utc" ] || [ "$same" != t ]; then problems+=("DIFFERS between $TZ_NAME and UTC"); fi
    if [ "$q" = e5 ] && [ "$n_utc" != "${EXPECT[e5]}" ]; then
        # e's rows with a speed, under UTC like the timed runs.
        e_speeds=$({ session UTC; echo "SELECT count(*) FROM (${QUERY[e]%;}) q WHERE speed IS NOT NULL;"; } | pg -d "$DB" -At)
        if [ "$n_utc" = "$e_speeds" ]; then
            put "query.e5.note" "e's $e_speeds rows with a speed (the view leaves out empty slots)"
            EXPECT[e5]=$e_speeds
        fi
    fi
    if [ -n "${EXPECT[$q]:-}" ] && [ "$n_utc" != "${EXPECT[$q]}" ]; then problems+=("expected ${EXPECT[$q]} rows"); fi
    verdict=ok
    if ((${#problems[@]})); then verdict=$(IFS=';'; echo "${problems[*]}"); fi
    printf '  %-8s %8s rows (%s), %8s rows (UTC): %s\n' "$q" "$n_local" "$TZ_NAME" "$n_utc" "$verdict"
    put "query.$q.rows" "$n_utc"
    put "query.$q.rows_local_tz" "$n_local"
    put "query.$q.expected_rows" "${EXPECT[$q]:-}"
    put "query.$q.check" "$verdict"
done

# Each rollup form against its natural form: both answers under UTC as CSV, compared.
MISMATCHES=0
if [ "$daily_columns" = 6 ]; then
    bench_log "checking each rollup form's answer against its natural form's"
    ANSWERS=$OUT/answers
    rm -rf "$ANSWERS"
    mkdir -p "$ANSWERS"
    for q in "${NAMES[@]}"; do
        n=${NATURAL[$q]:-}
        [ -n "$n" ] || continue
        for r in "$n" "$q"; do
            [ -s "$ANSWERS/$r.csv" ] && continue
            { session UTC; echo "COPY (${QUERY[$r]%;}) TO STDOUT (FORMAT csv);"; } | pg -d "$DB" -At >"$ANSWERS/$r.csv"
        done
        top=()
        if [ -n "${TOP[$q]:-}" ]; then top=(--top "${TOP[$q]}"); fi
        if verdict=$(python3 tools/bench/compare_answers.py "$ANSWERS/$n.csv" "$ANSWERS/$q.csv" --keys "${KEYS[$q]}" "${top[@]}"); then
            printf '  %-8s = %s: %s\n' "$q" "$n" "$verdict"
        else
            MISMATCHES=$((MISMATCHES + 1))
            printf '\033[1;31m  %-8s != %s: %s (answers in %s)\033[0m\n' "$q" "$n" "$verdict" "$ANSWERS" >&2
        fi
        put "query.$q.natural" "$n"
        put "query.$q.same_answer" "$verdict"
    done
fi

bench_log "timing: each query once to warm up, then $RUNS runs, session TimeZone UTC"
for q in "${NAMES[@]}"; do
    body=${QUERY[$q]}
    put "query.$q.title" "${TITLE[$q]}"
    put "query.$q.sql" "$(tr '\n' ' ' <<<"$body" | tr -s ' ')"
    # EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON): planning + execution time, buffers.
    {
        session UTC
        echo "\\o /dev/null"
        echo "$body"
        echo "\\o"
        for ((i = 1; i <= RUNS; i++)); do
            printf "%s\n" "\\echo @@run $i"
            echo "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) $body"
        done
    } | pg -d "$DB" -At >"$PLANS/$q.txt"
    # psql's \timing of the query itself: what a client waits for, rows included.
    {
        session UTC
        echo "\\o /dev/null"
        echo "$body"
        printf "%s\n" "\\timing on"
        for ((i = 1; i <= RUNS; i++)); do echo "$body"; done
    } | pg -d "$DB" -At | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' >"$PLANS/$q.timing"
    python3 - "$PLANS/$q.txt" "$PLANS/$q.timing" "$q" >>"$RAW" <<'PY'
import json, sys
text, timing, q = open(sys.argv[1]).read(), open(sys.argv[2]).read().split(), sys.argv[3]
for chunk in text.split("@@run ")[1:]:
    plan = json.loads(chunk[chunk.index("\n") + 1:])[0]
    top = plan["Plan"]
    hit = top.get("Shared Hit Blocks", 0)
    read = top.get("Shared Read Blocks", 0)
    print(f"query.{q}.ms\t{plan['Planning Time'] + plan['Execution Time']:.3f}")
    print(f"query.{q}.planning_ms\t{plan['Planning Time']:.3f}")
    print(f"query.{q}.execution_ms\t{plan['Execution Time']:.3f}")
    print(f"query.{q}.buffers\t{hit + read}")
    print(f"query.{q}.buffers_read\t{read}")
    print(f"query.{q}.plan_rows\t{top['Actual Rows'] * top.get('Actual Loops', 1):.0f}")
for t in timing:
    print(f"query.{q}.client_ms\t{t}")
PY
    printf '  %-8s %s\n' "$q" "$(awk -F'\t' -v k="query.$q.ms" '$1 == k { printf "%s ms  ", $2 }' "$RAW")"
done

if ((!KEEP)); then
    cp "$PGDATA_DIR/server.log" "$OUT/server.log"
    cluster_stop "$PGDATA_DIR"
fi
flock -u 9
exec 9>&-

# ---------------------------------------------------------------------------------------------
# DuckDB on the Parquet days, with the PostgreSQL server stopped (unless --keep).
if ((DUCKDB)); then
    bench_log "DuckDB ($DUCKDB_THREADS threads) on $PARQUET: each question once to warm up, then $RUNS runs"
    L50_LIST="[${L50:1:${#L50}-2}]::BIGINT[]"
    for q in "${DUCK_NAMES[@]}"; do
        sql=${DUCK_QUERY[$q]:-${QUERY[$q]}}
        sql=${sql//:L50/$L50_LIST}
        sql=${sql//:X/$X}
        put "duckdb.$q.sql" "$(tr '\n' ' ' <<<"$sql" | tr -s ' ')"
        printf '%s\0%s\0' "$q" "$sql"
    done | python3 -c '
import json, sys
parts = sys.stdin.buffer.read().decode().split("\0")[:-1]
json.dump(dict(zip(parts[0::2], parts[1::2])), sys.stdout, indent=1)' >"$OUT/duckdb-queries.json"
    "$VENV/bin/python" tools/bench/duckdb_queries.py run "$PARQUET" "$OUT/duckdb-queries.json" \
        --runs "$RUNS" --threads "$DUCKDB_THREADS" --results "$OUT/duckdb-answers" | tee -a "$RAW" |
        awk -F'\t' '$1 ~ /\.rows$/ { print "  " $1 " " $2 }'
    put duckdb.method "tools/bench/duckdb_queries.py run: view vs_its_hourly over read_parquet, QUERIES.md's SQL verbatim, wall time of execute() to a materialized result"
else
    put skipped.duckdb "skipped (--skip-duckdb)"
fi

# ---------------------------------------------------------------------------------------------
bench_log "results"
python3 tools/bench/bench_queries_report.py "$RAW" --json "$JSON"
cp "$JSON" "$DOCS_JSON"
echo
echo "results: $JSON (copied to $DOCS_JSON); plans: $PLANS"
if ((MISMATCHES)); then
    printf '\033[1;31mFAILED: %d rollup form(s) gave another answer than the natural form (see above)\033[0m\n' "$MISMATCHES" >&2
    exit 1
fi
