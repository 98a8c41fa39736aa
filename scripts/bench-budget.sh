#!/usr/bin/env bash
# The load budget's benchmark (issue 20): what a load takes from foreground work on the same
# server, for each documented budget. Foreground work is read-only pgbench (-S, 4 clients, 2
# threads, scale 20: it fits in shared_buffers), run alone and while a load of N real-like days at
# 1/10 national scale (45,000 links) runs with one budget; the load's rate and the foreground's
# TPS are reported side by side, TPS as a share of the same run's TPS alone.
#
#   ./scripts/bench-budget.sh [--days N] [--seconds S] [--rounds R] [--prepare]
#
#   --days N      days generated (default 7: 2023-07-01 .. 2023-07-07); the full-speed budgets load
#                 them all, the scheduled one the first 3 (enough to outlast pgbench at its rate)
#   --seconds S   seconds of each pgbench run (default 15); it starts 3 s after the load
#   --rounds R    rounds over all the budgets, for medians (default 3)
#   --prepare     only build and generate (or find) the cached input, then stop
#
# The budgets (each a fresh target; settings as a session would SET them):
#   interactive    the defaults of a load called from SQL: one worker and one parse thread per core
#   1x1            vs_ingest.max_workers = 1, vs_ingest.threads = 1
#   nice19-idle    1x1, vs_ingest.worker_nice = 19, vs_ingest.worker_io_priority = idle
#   scheduled      the defaults of a scheduled load: 1x1, worker_nice = 19, worker_io_priority =
#                  low, max_read_rate = 10 (the scheduler applies exactly these, from
#                  vs_ingest.scheduled_*, through the same code path)
# A load that ends before its pgbench run does is marked: its TPS is then partly without a load.
# Foreground TPS on a small VM varies by 10-20% between runs alone: hence rounds and medians.
#
# Writes target/bench-budget/results.tsv and docs/bench-budget.md (the table the README quotes).
# The server runs in target/bench-budget/pgdata on port 54324 and is stopped at the end; it holds
# /tmp/vs_ingest_pg.lock from installing the extension to the end, like the other benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DAYS=7
SECONDS_EACH=15
ROUNDS=3
PREPARE=0
while (($#)); do
    case $1 in
        --days) DAYS=${2:?}; shift 2 ;;
        --seconds) SECONDS_EACH=${2:?}; shift 2 ;;
        --rounds) ROUNDS=${2:?}; shift 2 ;;
        --prepare) PREPARE=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done

. scripts/cluster.sh
. scripts/bench-lib.sh

PG_CONFIG=$PG_BIN/pg_config
PORT=${VS_INGEST_BUDGET_PORT:-54324}
OUT=$ROOT/target/bench-budget
PGDATA_DIR=$OUT/pgdata
DB=vs_ingest_budget
LOCK=/tmp/vs_ingest_pg.lock
SEED=42
GEN_ARGS=(--links 45000 --start 2023-07-01 --days "$DAYS" --variant 2023 --container zip --level 1 --seed "$SEED" --real-like)
GEN_HASH=$(cat tools/gen/src/lib.rs tools/gen/src/bin/vs_ingest_gen.rs | sha256sum | cut -c1-12)
CACHE_ROOT=${VS_INGEST_BENCH_CACHE:-/var/tmp/vs_ingest_bench}
DATA=$CACHE_ROOT/budget/links45000-20230701-days$DAYS-reallike-seed$SEED-gen$GEN_HASH
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

pg() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" "$@"; }
cleanup() {
    local rc=$?
    [ -s "$PGDATA_DIR/postmaster.pid" ] && cluster_stop "$PGDATA_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_log "setup: packages, cargo-pgrx, builds (release)"
./scripts/setup.sh
cargo pgrx package --pg-config "$PG_CONFIG" >/dev/null
cargo build --release --quiet -p vs_ingest_gen --bin vs-ingest-gen
mkdir -p "$OUT" "$ROOT/docs"
bench_input "$DATA" "$TARGET_DIR/release/vs-ingest-gen" "${GEN_ARGS[@]}" >/dev/null
bench_readable "$DATA"
ZIP_BYTES=$(find "$DATA" -maxdepth 1 -name '*_5Min.zip' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
echo "$DAYS days, $ZIP_BYTES bytes of zip in $DATA"
((PREPARE)) && exit 0

bench_log "waiting for $LOCK"
exec 9>"$LOCK"
flock 9
cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null
postgres_dir "$OUT"
bench_cluster "$PGDATA_DIR" "$PORT" "vs_ingest.allowed_dirs = '$DATA'"
psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE $DB"
pg -c "CREATE EXTENSION vs_ingest"
as_postgres "$PG_BIN/pgbench" -i -q -s 20 -h 127.0.0.1 -p "$PORT" -U postgres "$DB" >/dev/null 2>&1

# tps: read-only pgbench for SECONDS_EACH seconds; prints its TPS.
tps() {
    as_postgres "$PG_BIN/pgbench" -S -n -c 4 -j 2 -T "$SECONDS_EACH" -h 127.0.0.1 -p "$PORT" -U postgres "$DB" 2>/dev/null \
        | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

RESULTS=$OUT/results.tsv
printf 'round\tbudget\tfiles\tzip_bytes\tload_s\tload_mb_per_s\ttps\ttps_alone\tshare\tload_outlasted_pgbench\n' >"$RESULTS"
declare -A BUDGETS=(
    [interactive]=""
    [1x1]="SET vs_ingest.max_workers = 1; SET vs_ingest.threads = 1;"
    [nice19-idle]="SET vs_ingest.max_workers = 1; SET vs_ingest.threads = 1; SET vs_ingest.worker_nice = 19; SET vs_ingest.worker_io_priority = idle;"
    [scheduled]="SET vs_ingest.max_workers = 1; SET vs_ingest.threads = 1; SET vs_ingest.worker_nice = 19; SET vs_ingest.worker_io_priority = low; SET vs_ingest.max_read_rate = 10;"
)
ORDER=(interactive 1x1 nice19-idle scheduled)
# The days each budget loads: enough to outlast pgbench (3 s + SECONDS_EACH) at its rate, no more.
declare -A FILES_OF=([interactive]="*_5Min.zip" [1x1]="*_5Min.zip" [nice19-idle]="*_5Min.zip" [scheduled]="2023070[1-3]_5Min.zip")
n=0
for round in $(seq 1 "$ROUNDS"); do
    for budget in "${ORDER[@]}"; do
        n=$((n + 1))
        settings=${BUDGETS[$budget]}
        pattern=${FILES_OF[$budget]}
        # shellcheck disable=SC2086
        bytes=$(cd "$DATA" && ls $pattern | xargs stat -c %s | awk '{ s += $1 } END { print s }')
        files=$(cd "$DATA" && ls $pattern | wc -l)
        pg -c CHECKPOINT
        alone=$(tps | awk '{ printf "%.0f", $1 }')
        pg -c CHECKPOINT
        start=$(now)
        pg -At -c "$settings SELECT files_loaded FROM vs_ingest_dir('$DATA', '$pattern', target => 'public.budget_$n')" \
            >"$OUT/load-$budget-$round.out" &
        load_pid=$!
        sleep 3
        with=$(tps | awk '{ printf "%.0f", $1 }')
        pgbench_end=$(now)
        wait "$load_pid"
        load_s=$(elapsed "$start")
        outlasted=$(awk -v a="$pgbench_end" -v b="$EPOCHREALTIME" 'BEGIN { print (b > a) ? "yes" : "no" }')
        rate=$(awk -v b="$bytes" -v s="$load_s" 'BEGIN { printf "%.1f", b / 1e6 / s }')
        share=$(awk -v w="$with" -v a="$alone" 'BEGIN { printf "%.0f", 100 * w / a }')
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$budget" "$files" "$bytes" "$load_s" "$rate" "$with" \
            "$alone" "$share" "$outlasted" >>"$RESULTS"
        bench_log "round $round, $budget: $files files in ${load_s} s (${rate} MB/s of zip); pgbench $with TPS, alone $alone: $share%; load outlasted pgbench: $outlasted"
        pg -c "DROP TABLE IF EXISTS public.budget_${n}_blocks, public.budget_${n}_days CASCADE" >/dev/null
    done
done

# median COLUMN BUDGET: the median of a results column over the rounds.
median() {
    awk -F'\t' -v c="$1" -v b="$2" 'NR > 1 && $2 == b { print $c }' "$RESULTS" | sort -g \
        | awk '{ v[NR] = $1 } END { printf "%s", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
{
    echo "# Load budgets against foreground work (scripts/bench-budget.sh)"
    echo
    echo "Real-like days at 1/10 national scale (45,000 links, about 128 MB of zip a day), loaded with"
    echo "\`vs_ingest_dir\` while read-only pgbench (-S, 4 clients, 2 threads, scale 20) runs for $SECONDS_EACH s on"
    echo "the same server ($(nproc) cores, $(date -u +%Y-%m-%d)); TPS alone is measured just before each load."
    echo "Medians of $ROUNDS rounds (the budgets interleaved); every load outlasted its pgbench run unless noted."
    echo
    echo "| budget | settings | MB/s of zip | foreground TPS, share of alone | (each round) |"
    echo "|---|---|---|---|---|"
    for budget in "${ORDER[@]}"; do
        rounds=$(awk -F'\t' -v b="$budget" 'NR > 1 && $2 == b { printf "%s%s%%%s", sep, $9, ($10 == "yes" ? "" : " (load ended first)"); sep = ", " }' "$RESULTS")
        printf '| %s | `%s` | %s | **%s%%** | %s |\n' "$budget" "${BUDGETS[$budget]:-(defaults)}" \
            "$(median 6 "$budget")" "$(median 9 "$budget")" "$rounds"
    done
} >"$ROOT/docs/bench-budget.md"
cat "$ROOT/docs/bench-budget.md"
