#!/usr/bin/env bash
# The benchmark of issues 4 and 11: one generated day of ITS 5-minute data (the generator's
# real-like mode), loaded with vs_ingest_dir into a fresh PostgreSQL 15 cluster, against the floor
# (decompressing only: with the engine's inflate, ISA-L by default; with libdeflate-gunzip; with
# ISA-L's igzip), the engine alone, DuckDB (the same hourly rows from the day's .csv.gz, written to
# Parquet), the PostgreSQL-native way (COPY FROM PROGRAM + INSERT ... GROUP BY) and binary COPY of
# the same hourly rows; then on one core.
# Medians of several runs of each, for the same file in the same run. The query suite over 28 days
# is scripts/bench-queries.sh.
#
#   ./scripts/bench.sh [--scale national|small] [--runs N] [--native-runs N] [--one-core-runs N]
#                      [--skip-native] [--skip-one-core] [--skip-duckdb] [--profile] [--prepare]
#
#   --scale national   449,000 links, ~129 M rows, ~4.2 GB of CSV in a ~1.2 GB zip (the default)
#   --scale small      20,000 links, ~5.8 M rows: a quick run
#   --runs N           runs of each measurement, for medians (default 3)
#   --native-runs N    runs of the native way (default: --runs); it is by far the slowest
#   --one-core-runs N  runs pinned to one core (default: --runs)
#   --skip-duckdb      leave DuckDB out (it is installed with pip into a venv in the cache if missing)
#   --profile          one more load under `perf record -g`, attached to the loading worker:
#                      target/bench/profile-SCALE.txt
#   --prepare          only build and generate (or find) the cached input, check the disk, stop
#
# Prints a table of the measurements and of the targets of issues 4 and 11, and writes
#   target/bench/results-SCALE.json   every measurement, machine facts and settings
#   docs/bench-SCALE.json             a copy of it
#   docs/bench-SCALE.svg              a bar chart of the wall times
# The generated day is cached in /var/tmp/vs_ingest_bench/SCALE/<generator parameters>/
# ($VS_INGEST_BENCH_CACHE instead of /var/tmp/vs_ingest_bench), so only the first run generates it;
# its .csv.gz (gzip -1 of the zip's CSV, for libdeflate-gunzip and DuckDB) is cached beside it.
# Debian's libdeflate-tools is installed with apt-get if missing (isal, for igzip, by setup.sh),
# and PyPI's duckdb with pip into the venv /var/tmp/vs_ingest_bench/python. Binaries are built in $CARGO_TARGET_DIR (default target/).
# The server runs in target/bench/pgdata on port 54322 ($VS_INGEST_BENCH_PORT) and is stopped at
# the end. Installing the extension and every load hold /tmp/vs_ingest_pg.lock, which anything
# else installing into or loading with the same PostgreSQL (`cargo pgrx test`) should take too.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

SCALE=national
RUNS=3
NATIVE_RUNS=
ONE_CORE_RUNS=
NATIVE=1
ONE_CORE=1
DUCKDB=1
DUCKDB_THREADS=2
PROFILE=0
PREPARE=0
COMMAND_LINE="scripts/bench.sh $*"
while (($#)); do
    case $1 in
        --scale) SCALE=${2:?--scale needs a value}; shift 2 ;;
        --scale=*) SCALE=${1#*=}; shift ;;
        --runs) RUNS=${2:?--runs needs a value}; shift 2 ;;
        --runs=*) RUNS=${1#*=}; shift ;;
        --native-runs) NATIVE_RUNS=${2:?}; shift 2 ;;
        --native-runs=*) NATIVE_RUNS=${1#*=}; shift ;;
        --one-core-runs) ONE_CORE_RUNS=${2:?}; shift 2 ;;
        --one-core-runs=*) ONE_CORE_RUNS=${1#*=}; shift ;;
        --skip-native) NATIVE=0; shift ;;
        --skip-one-core) ONE_CORE=0; shift ;;
        --skip-duckdb) DUCKDB=0; shift ;;
        --profile) PROFILE=1; shift ;;
        --prepare) PREPARE=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
NATIVE_RUNS=${NATIVE_RUNS:-$RUNS}
ONE_CORE_RUNS=${ONE_CORE_RUNS:-$RUNS}
for n in "$RUNS" "$NATIVE_RUNS" "$ONE_CORE_RUNS"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "runs must be positive integers" >&2; exit 2; }
done
case $SCALE in
    national) LINKS=449000 ;;
    small) LINKS=20000 ;;
    *) echo "--scale is national or small" >&2; exit 2 ;;
esac

. scripts/cluster.sh
. scripts/bench-lib.sh

PG_CONFIG=$PG_BIN/pg_config
PORT=${VS_INGEST_BENCH_PORT:-54322}
BENCH=$ROOT/target/bench
PGDATA_DIR=$BENCH/pgdata
WORK=$BENCH/$SCALE                      # logs, pid files and the binary COPY file (postgres writes it)
RAW=$BENCH/raw-$SCALE.tsv               # raw measurements, one `key<TAB>value` a line
JSON=$BENCH/results-$SCALE.json
SVG=$ROOT/docs/bench-$SCALE.svg
DOCS_JSON=$ROOT/docs/bench-$SCALE.json
PROFILE_TXT=$BENCH/profile-$SCALE.txt
DB=vs_ingest_bench
TZ_NAME=Asia/Seoul
LOCK=/tmp/vs_ingest_pg.lock

# The generated day. Its cache directory is named after every generator parameter, and after the
# generator's source, so that a changed generator never reuses a stale file.
DAY=2023-07-01
DAY_COMPACT=${DAY//-/}
SEED=42
LEVEL=1                                 # zip level 1 is what the README's figures used
# Real-like speeds (slow drift per link) and travel times (~99% of rows without), as in the real
# files: the storage and the compression of the speeds depend on it.
GEN_ARGS=(--links "$LINKS" --start "$DAY" --days 1 --variant 2023 --container zip --level "$LEVEL" --seed "$SEED" --real-like)
GEN_HASH=$(cat tools/gen/src/lib.rs tools/gen/src/bin/vs_ingest_gen.rs | sha256sum | cut -c1-12)
CACHE_ROOT=${VS_INGEST_BENCH_CACHE:-/var/tmp/vs_ingest_bench}
DATA=$CACHE_ROOT/$SCALE/links$LINKS-$DAY_COMPACT-v2023-zip-level$LEVEL-seed$SEED-reallike-gen$GEN_HASH
FILE=$DATA/${DAY_COMPACT}_5Min.zip
# The same CSV as .csv.gz (gzip -1, like the zip's level 1), for libdeflate-gunzip and DuckDB. It
# does not match vs_ingest_dir's pattern '*_5Min.zip'.
GZ=$DATA/${DAY_COMPACT}_5Min.csv.gz
VENV=$CACHE_ROOT/python

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
GEN=$TARGET_DIR/release/vs-ingest-gen
ENGINE_BENCH=$TARGET_DIR/release/vs-ingest-bench
REPORT=$TARGET_DIR/release/vs-ingest-report

pg() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
put() { printf '%s\t%s\n' "$1" "$2" >>"$RAW"; }
postmaster_pid() { head -1 "$PGDATA_DIR/postmaster.pid"; }
json_number() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" "$2" | head -1; }

# Background helpers (memory watcher, progress ticker, perf) are stopped by pid on any exit, and
# so is the server; the lock goes with it.
BACKGROUND=()
cleanup() {
    local rc=$?
    local p
    for p in "${BACKGROUND[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -s "$PGDATA_DIR/postmaster.pid" ]; then cluster_stop "$PGDATA_DIR"; fi
    flock -u 9 2>/dev/null || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
bench_log "setup: packages, cargo-pgrx, builds (release)"
./scripts/setup.sh
# Build outside the lock; `cargo pgrx install` below then only copies files.
cargo pgrx package --pg-config "$PG_CONFIG" >/dev/null
cargo build --release --quiet -p vs_ingest_gen --bin vs-ingest-gen -p vs_ingest_bench --bin vs-ingest-bench --bin vs-ingest-report
mkdir -p "$BENCH" "$ROOT/docs"
postgres_dir "$WORK"
: >"$RAW"

# ---------------------------------------------------------------------------------------------
if [ -s "$FILE" ] && [ -s "$DATA/manifest.json" ]; then
    bench_log "input: cached $FILE"
else
    bench_log "input: generating $SCALE day, ${GEN_ARGS[*]} (cached for later runs)"
    rm -rf "$DATA.partial"
    "$GEN" --out "$DATA.partial" "${GEN_ARGS[@]}"
    mv "$DATA.partial" "$DATA"
    # Older caches of this scale (other generator versions) only take space.
    for old in "$CACHE_ROOT/$SCALE"/*; do
        if [ "$old" != "$DATA" ]; then echo "removing stale cache $old"; rm -rf "$old"; fi
    done
fi
if [ ! -s "$GZ" ]; then
    bench_log "input: $GZ (gzip -1 of the same CSV, cached)"
    unzip -p "$FILE" | gzip -1 >"$GZ.partial"
    mv "$GZ.partial" "$GZ"
fi
bench_readable "$DATA"
CSV_BYTES=$(json_number uncompressed_bytes "$DATA/manifest.json")
CSV_ROWS=$(json_number data_rows "$DATA/manifest.json")
ZIP_BYTES=$(stat -c %s "$FILE")
GZ_BYTES=$(stat -c %s "$GZ")
printf '%s: %s bytes, %s rows and %s bytes of CSV (.csv.gz: %s bytes)\n' "$FILE" "$ZIP_BYTES" "$CSV_ROWS" "$CSV_BYTES" "$GZ_BYTES"

# The contenders of issue 11: libdeflate-gunzip (Debian) and DuckDB (PyPI, in a venv of its own).
if ! command -v libdeflate-gunzip >/dev/null; then
    bench_log "installing Debian package libdeflate-tools"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends libdeflate-tools >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends libdeflate-tools >/dev/null; }
fi
if ((DUCKDB)) && ! "$VENV/bin/python" -c 'import duckdb' 2>/dev/null; then
    bench_log "installing duckdb (PyPI) into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check duckdb
fi

# Disk: the native way stages every CSV row (about 1.8x the CSV), sorts them (another ~1.5x) and
# writes the hourly table; binary COPY needs its file and a second table.
need_kib=$((CSV_BYTES * (NATIVE ? 5 : 2) / 1024))
free_kib=$(df -Pk "$BENCH" | awk 'NR == 2 { print $4 }')
if ((free_kib < need_kib)); then
    bench_die "about $((need_kib / 1048576)) GiB of free disk needed under $BENCH, $((free_kib / 1048576)) GiB free (--skip-native needs less)"
fi
if ((PREPARE)); then
    echo "ready: $((free_kib / 1048576)) GiB free under $BENCH, about $((need_kib / 1048576)) GiB needed"
    exit 0
fi

put meta.scale "$SCALE"
put meta.runs "$RUNS"
put meta.native_runs "$NATIVE_RUNS"
put meta.one_core_runs "$ONE_CORE_RUNS"
put meta.command "$COMMAND_LINE"
put meta.date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
put meta.git_commit "$(git rev-parse HEAD 2>/dev/null || echo unknown)"
put meta.git_dirty "$(if [ -n "$(git status --porcelain 2>/dev/null)" ]; then echo true; else echo false; fi)"
put machine.nproc "$(nproc)"
put machine.ram_kib "$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
put machine.cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
put machine.kernel "$(uname -r)"
put machine.os "$(. /etc/os-release && echo "$PRETTY_NAME")"
put machine.rustc "$(rustc --version)"
put input.file "$FILE"
put input.generator "vs-ingest-gen ${GEN_ARGS[*]}"
put input.links "$LINKS"
put input.rows "$CSV_ROWS"
put input.csv_bytes "$CSV_BYTES"
put input.compressed_bytes "$ZIP_BYTES"
put input.gz_file "$GZ"
put input.gz_bytes "$GZ_BYTES"

# ---------------------------------------------------------------------------------------------
# Without a database (no lock needed): the floor and the engine alone.
bench_log "decompress only and the engine alone: vs-ingest-bench, $RUNS runs"
engine_json=$("$ENGINE_BENCH" "$FILE" "$RUNS" --json)
put engine.json "$engine_json"
echo "$engine_json"
bench_log "unzip -p (what the native way reads through), $RUNS runs"
for ((i = 1; i <= RUNS; i++)); do
    start=$(now)
    unzip -p "$FILE" >/dev/null
    s=$(elapsed "$start")
    put unzip.seconds "$s"
    echo "run $i: $s s"
done

# The inflate floor of issue 11: libdeflate, one thread, the same CSV as .csv.gz.
put libdeflate.version "$(libdeflate-gunzip -V 2>&1 | head -1)"
bench_log "libdeflate-gunzip -c of the .csv.gz (the single-thread inflate floor), $RUNS runs"
for ((i = 1; i <= RUNS; i++)); do
    start=$(now)
    libdeflate-gunzip -c "$GZ" >/dev/null
    s=$(elapsed "$start")
    put libdeflate.seconds "$s"
    echo "run $i: $s s"
done
# ISA-L's own tool on the same .csv.gz: the floor of the engine's inflate library (Debian's isal,
# installed by setup.sh).
put igzip.version "$(igzip -V 2>&1 | head -1)"
bench_log "igzip -d -c of the .csv.gz (ISA-L, one thread), $RUNS runs"
for ((i = 1; i <= RUNS; i++)); do
    start=$(now)
    igzip -d -c "$GZ" >/dev/null
    s=$(elapsed "$start")
    put igzip.seconds "$s"
    echo "run $i: $s s"
done

# DuckDB, 2 threads: the .csv.gz to the same hourly rows, written to Parquet
# (tools/bench/duckdb_hourly.py; its seconds exclude starting Python and importing duckdb).
if ((DUCKDB)); then
    bench_log "DuckDB ($DUCKDB_THREADS threads): .csv.gz -> hourly rows -> Parquet, $RUNS runs"
    put duckdb.method "tools/bench/duckdb_hourly.py --threads $DUCKDB_THREADS"
    PARQUET=$WORK/duckdb-hourly.parquet
    for ((i = 1; i <= RUNS; i++)); do
        start=$(now)
        duck_json=$("$VENV/bin/python" tools/bench/duckdb_hourly.py "$GZ" "$PARQUET" --date "$DAY_COMPACT" \
            --tz "$TZ_NAME" --threads "$DUCKDB_THREADS")
        s=$(elapsed "$start")
        duck_s=$(json_number seconds <(echo "$duck_json"))
        put duckdb.seconds "$duck_s"
        put duckdb.process_seconds "$s"
        echo "run $i: $duck_s s (process: $s s) $duck_json"
    done
    put duckdb.hourly_rows "$(json_number hourly_rows <(echo "$duck_json"))"
    put duckdb.parquet_bytes "$(json_number parquet_bytes <(echo "$duck_json"))"
    put duckdb.version "$(sed -n 's/.*"duckdb_version": *"\([^"]*\)".*/\1/p' <<<"$duck_json")"
    put duckdb.threads "$DUCKDB_THREADS"
    rm -f "$PARQUET"
else
    put skipped.duckdb "skipped (--skip-duckdb)"
fi

# ---------------------------------------------------------------------------------------------
bench_log "waiting for $LOCK (held from installing the extension to the last load)"
exec 9>"$LOCK"
flock 9
cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null

bench_log "a fresh cluster in $PGDATA_DIR, port $PORT"
bench_cluster "$PGDATA_DIR" "$PORT" "vs_ingest.allowed_dirs = '$DATA'"
for setting in "${BENCH_SETTINGS[@]}"; do
    put "setting.${setting%% = *}" "$(printf '%s' "${setting#* = }" | tr -d "'")"
done
put setting.vs_ingest.allowed_dirs "$DATA"
put machine.postgres "$(pg -d postgres -At -c 'SELECT version()')"
printf '  %s\n' "${BENCH_SETTINGS[@]}"

# fresh_db: an empty database with the extension, so every load really loads (the ledger of a
# database skips files it already loaded), after a checkpoint so no earlier run's dirty pages are
# written during the next one.
fresh_db() {
    pg -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
        -c "CREATE DATABASE $DB"
    pg -d "$DB" -c "CREATE EXTENSION vs_ingest" -c "CHECKPOINT"
}

# load PREFIX [SQL]: one vs_ingest_dir of the day into a fresh database, SQL run first in the
# same session; records its wall time, stage seconds and peak memory under PREFIX.
PERF_PID=
load() {
    local prefix=$1 session_sql=${2:-} pidfile=$WORK/backend.pid
    fresh_db
    rm -f "$pidfile"
    local start client watcher wall
    start=$(now)
    pg -d "$DB" -At >"$WORK/load.out" 9>&- <<SQL &
$session_sql
SELECT pg_backend_pid() \g $pidfile
SELECT * FROM vs_ingest_dir('$DATA', '*_5Min.zip');
SQL
    client=$!
    "$REPORT" watch --postmaster "$(postmaster_pid)" --while-pid "$client" --backend-pid-file "$pidfile" \
        --prefix "$prefix" >"$WORK/watch.tsv" 9>&- &
    watcher=$!
    BACKGROUND+=("$watcher")
    if ((PROFILING)); then start_perf; fi
    wait "$client"
    wall=$(elapsed "$start")
    wait "$watcher"
    if ((PROFILING)); then stop_perf; return; fi
    local status failed rows_read rows_loaded bytes wait_s write_s commit_s chunks hourly
    IFS=$'\t' read -r status failed rows_read rows_loaded bytes wait_s write_s commit_s chunks hourly < <(
        pg -d "$DB" -At -F $'\t' -c "
            SELECT r.status, r.files_failed, r.rows_read, r.rows_loaded, r.bytes,
                   sum(f.wait_seconds), sum(f.write_seconds), sum(f.commit_seconds), sum(f.chunks),
                   (SELECT count(*) FROM public.vs_its_hourly)
              FROM vs_ingest.run r JOIN vs_ingest.file f USING (run_id)
             GROUP BY r.run_id ORDER BY r.run_id DESC LIMIT 1") || true
    if [ "$status" != succeeded ] || [ "$failed" != 0 ]; then
        cat "$WORK/load.out"
        bench_die "the load did not succeed (status $status, $failed files failed); see $PGDATA_DIR/server.log"
    fi
    put "$prefix.wall" "$wall"
    put "$prefix.wait" "$wait_s"
    put "$prefix.write" "$write_s"
    put "$prefix.commit" "$commit_s"
    put "$prefix.chunks" "$chunks"
    put "$prefix.rows_read" "$rows_read"
    put "$prefix.rows_loaded" "$rows_loaded"
    put "$prefix.csv_bytes" "$bytes"
    put "$prefix.hourly_rows" "$hourly"
    cat "$WORK/watch.tsv" >>"$RAW"
    local anon cpus
    anon=$(awk -F'\t' '$1 ~ /\.rss_anon_kib$/ { print int($2 / 1024) }' "$WORK/watch.tsv")
    cpus=$(awk -F'\t' '$1 ~ /\.worker_cpus$/ { print $2 }' "$WORK/watch.tsv")
    printf 'wall %s s: waiting for the engine %.2f s, writing %.2f s, committing %.2f s (%s chunks); %s hourly rows; peak RssAnon %s MiB; worker on CPUs %s\n' \
        "$wall" "$wait_s" "$write_s" "$commit_s" "$chunks" "$hourly" "$anon" "$cpus"
}

PROFILING=0
start_perf() {
    local workers
    workers=$("$REPORT" workers --postmaster "$(postmaster_pid)" --timeout-seconds 60)
    rm -f "$BENCH/perf-$SCALE.data" "$BENCH/perf-$SCALE.data.old"   # else perf keeps a .old copy
    perf record -F 2000 -g -o "$BENCH/perf-$SCALE.data" -p "${workers// /,}" 9>&- 2>"$WORK/perf.log" &
    PERF_PID=$!
    BACKGROUND+=("$PERF_PID")
}
stop_perf() {
    # perf ends by itself when the worker exits; make sure it does.
    sleep 1
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" || true
}

# ticker LABEL SQL: every 15 s, the time so far and SQL's answer (progress of a long step).
ticker() {
    local label=$1 sql=$2 begun=$SECONDS i
    while :; do
        for ((i = 0; i < 15; i++)); do sleep 1; done
        printf '   ... %s: %d s, %s\n' "$label" $((SECONDS - begun)) "$(pg -d "$DB" -At -c "$sql" 2>/dev/null || true)"
    done
}
TICKER=
start_ticker() {
    ticker "$@" 9>&- &
    TICKER=$!
    BACKGROUND+=("$TICKER")
}
stop_ticker() {
    kill "$TICKER" 2>/dev/null || true
    wait "$TICKER" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
bench_log "vs_ingest_dir, 2 cores: $RUNS runs"
for ((i = 1; i <= RUNS; i++)); do
    printf 'run %d: ' "$i"
    load ours
done

if ((PROFILE)); then
    bench_log "profile: one more load under perf record -g, attached to the worker"
    command -v perf >/dev/null || bench_die "perf is not installed (apt-get install linux-perf)"
    PROFILING=1
    load profile
    PROFILING=0
    perf_report() { perf report -i "$BENCH/perf-$SCALE.data" --no-children --stdio "$@" 2>/dev/null; }
    {
        echo "# perf record -F 2000 -g, attached to the vs_ingest worker during one vs_ingest_dir ($SCALE scale)"
        echo "# $(date -u +%FT%TZ). Threads: postgres is the worker's main thread, the only one that"
        echo "# calls PostgreSQL (it writes the hours); vs_ingest-read decompresses and cuts chunks;"
        echo "# vs_ingest-parse-N parse them; vs_ingest-merge folds samples into hours."
        echo
        echo "## CPU by thread: perf report --no-children --sort comm -g none"
        perf_report --sort comm -g none
        echo "## the main thread alone (writing), as shares of its own samples:"
        echo "## perf report --no-children --comm postgres --percentage relative --percent-limit 0.5 -g none"
        perf_report --comm postgres --percentage relative --percent-limit 0.5 -g none
        echo "## every thread: perf report --no-children --percent-limit 1 -g none"
        perf_report --percent-limit 1 -g none
        echo "## every thread, with call chains: perf report --no-children --percent-limit 1"
        perf_report --percent-limit 1
    } >"$PROFILE_TXT"
    put profile.file "$PROFILE_TXT"
    sed -n '/^## CPU by thread/,/^## every thread:/p' "$PROFILE_TXT" | grep -E '^ +[0-9.]+%' | head -30
fi

# ---------------------------------------------------------------------------------------------
# The write stage alone: binary COPY FROM STDIN of the rows the last load wrote (the six-hour
# rows of public.vs_its_hourly_blocks), in the order the worker writes them, into the empty
# storage of a new target.
bench_log "binary COPY FROM STDIN of the same stored rows: $RUNS runs"
BIN=$WORK/blocks.bin
rm -f "$BIN"
pg -d "$DB" -c "COPY (SELECT * FROM public.vs_its_hourly_blocks ORDER BY day, block, link_id) TO '$BIN' (FORMAT binary)"
put binary.bytes "$(stat -c %s "$BIN")"
mapfile -t DAYS < <(pg -d "$DB" -At -c "SELECT DISTINCT day FROM public.vs_its_hourly_blocks ORDER BY 1")
pg -d "$DB" -c "DROP TABLE public.vs_its_hourly_blocks CASCADE"
for ((i = 1; i <= RUNS; i++)); do
    pg -d "$DB" -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS public.binary_hourly_blocks CASCADE" \
        -c "SELECT vs_ingest_create_target('public.binary_hourly', '$TZ_NAME')" >/dev/null
    for day in "${DAYS[@]}"; do
        pg -d "$DB" -c "SELECT vs_ingest.ensure_day_partition('public.binary_hourly_blocks', '$day')" >/dev/null
    done
    pg -d "$DB" -c CHECKPOINT
    start=$(now)
    pg -d "$DB" -c "\\copy public.binary_hourly_blocks FROM '$BIN' WITH (FORMAT binary)"
    s=$(elapsed "$start")
    put binary.seconds "$s"
    echo "run $i: $s s"
done
put binary.rows "$(pg -d "$DB" -At -c 'SELECT count(*) FROM public.binary_hourly_blocks')"
pg -d "$DB" -c "DROP TABLE public.binary_hourly_blocks CASCADE"
# The small file's rows stay for scripts/bench-pk-order.sh; a national file's would take 2.7 GB.
if [ "$SCALE" != small ]; then rm -f "$BIN"; fi

# ---------------------------------------------------------------------------------------------
if ((NATIVE)); then
    bench_log "the native way: COPY FROM PROGRAM into an UNLOGGED table, then INSERT ... SELECT ... GROUP BY: $NATIVE_RUNS runs"
    put native.method "bench/native-setup.sql, bench/native-copy.sql, bench/native-insert.sql"
    # Only well-formed rows of the file's day reach COPY (see bench/native-copy.sql).
    program="unzip -p '$FILE' | LC_ALL=C grep -E '^$DAY_COMPACT,[0-9]{1,4},[0-9]{1,18},[^,]*,([0-9]+(\\.[0-9]+)?)?,[0-9]*\$'"
    echo "program: $program"
    fresh_db
    for ((i = 1; i <= NATIVE_RUNS; i++)); do
        pg -d "$DB" -v date="$DAY" -v tz="$TZ_NAME" -f bench/native-setup.sql >/dev/null
        pg -d "$DB" -c CHECKPOINT
        start_ticker "COPY" "SELECT coalesce(max(tuples_processed), 0) || ' rows copied' FROM pg_stat_progress_copy"
        start=$(now)
        pg -d "$DB" -v program="$program" -f bench/native-copy.sql
        copy_s=$(elapsed "$start")
        stop_ticker
        start_ticker "INSERT ... SELECT" "SELECT pg_size_pretty(coalesce(sum(size), 0)) || ' of sort files' FROM pg_ls_tmpdir()"
        start=$(now)
        pg -d "$DB" -v tz="$TZ_NAME" -f bench/native-insert.sql
        insert_s=$(elapsed "$start")
        stop_ticker
        put native.copy "$copy_s"
        put native.insert "$insert_s"
        echo "run $i: COPY $copy_s s, INSERT ... SELECT $insert_s s"
    done
    put native.staging_rows "$(pg -d "$DB" -At -c 'SELECT count(*) FROM native_staging')"
    put native.hourly_rows "$(pg -d "$DB" -At -c 'SELECT count(*) FROM public.native_hourly')"
    pg -d "$DB" -c "DROP TABLE native_staging, public.native_hourly"
else
    put skipped.native "skipped (--skip-native)"
fi

# ---------------------------------------------------------------------------------------------
if ((ONE_CORE)); then
    bench_log "vs_ingest_dir on 1 core (server under taskset -c 0, threads = 1, max_workers = 1): $ONE_CORE_RUNS runs"
    # Every backend and worker inherits the postmaster's CPU affinity.
    cluster_stop "$PGDATA_DIR"
    taskset -c 0 sudo -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w -t 60 start \
        >/dev/null 9>&-
    for ((i = 1; i <= ONE_CORE_RUNS; i++)); do
        printf 'run %d: ' "$i"
        load one_core "SET vs_ingest.threads = 1; SET vs_ingest.max_workers = 1;"
    done
else
    put skipped.one_core "skipped (--skip-one-core)"
fi

cluster_stop "$PGDATA_DIR"
flock -u 9
exec 9>&-
# The server log stays; the cluster goes, with the gigabytes of WAL a national run leaves behind.
cp "$PGDATA_DIR/server.log" "$BENCH/server-$SCALE.log"
rm -rf "$PGDATA_DIR"

# ---------------------------------------------------------------------------------------------
bench_log "results"
"$REPORT" summary "$RAW" --json "$JSON"
"$REPORT" chart "$JSON" --svg "$SVG"
cp "$JSON" "$DOCS_JSON"
echo
echo "results: $JSON (copied to $DOCS_JSON)"
echo "chart:   $SVG"
