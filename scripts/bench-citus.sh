#!/usr/bin/env bash
# The distributed benchmark (issue 12): one generated day (the generator's real-like mode, as
# scripts/bench.sh) loaded on the local Citus cluster of scripts/citus.sh (a coordinator and two
# workers on this machine, sharing its cores), three ways, medians of --runs runs each:
#   1 node      a local target on the coordinator: vs_ingest as on one server;
#   coordinator a distributed target, the files loaded by the coordinator through Citus;
#   workers     a distributed target, the files spread over the two workers (nodes => 'workers').
# For each: wall time, the CPU seconds the whole machine spent (from /proc/stat), and the bytes
# the nodes sent each other over loopback (from /proc/net/dev): the inputs of the model of a year
# on N real nodes in docs/citus.md. Then citus_columnar: the size of a loaded day converted to the
# columnar access method, and whether a late file still merges into it.
#
#   ./scripts/bench-citus.sh [--scale small|national] [--days N] [--runs N]
#
#   --scale small      20,000 links a day (~5.8 M rows, the default)
#   --scale national   449,000 links a day (~129 M rows)
#   --days N           days loaded per run (default 2: one file per worker node)
#   --runs N           runs of each way (default 3)
#
# Writes target/bench/citus-SCALE.json and docs/bench-citus-SCALE.json. Builds Citus when missing
# (scripts/citus.sh); the cluster is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCALE=small
DAYS=2
RUNS=3
while (($#)); do
    case $1 in
        --scale) SCALE=${2:?}; shift 2 ;;
        --days) DAYS=${2:?}; shift 2 ;;
        --runs) RUNS=${2:?}; shift 2 ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
    esac
done
case $SCALE in
    small) LINKS=20000 ;;
    national) LINKS=449000 ;;
    *) echo "--scale small or national" >&2; exit 2 ;;
esac
PORT=${VS_INGEST_CITUS_PORT:-54341}
DB=vs_ingest_citus
FILES=/var/tmp/vs_ingest_bench/citus/$SCALE-$DAYS
OUT=target/bench/citus-$SCALE.json
. scripts/cluster.sh
log() { printf '\033[1m== %s\033[0m\n' "$*"; }
q() { as_postgres "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" \
          -c "SET client_min_messages = error" -c "$1"; }

./scripts/setup.sh
log "building (release) and installing the extension"
cargo pgrx install --release --pg-config "$PG_BIN/pg_config" >/dev/null
cargo build --release -p vs_ingest_gen --bin vs-ingest-gen --quiet
if [ ! -f "$FILES/.done" ]; then
    log "generating $DAYS day(s) of $LINKS links into $FILES"
    rm -rf "$FILES" && mkdir -p "$FILES"
    target/release/vs-ingest-gen --out "$FILES" --links "$LINKS" --days "$DAYS" --real-like --level 1 >/dev/null
    rm -f "$FILES/manifest.json"
    touch "$FILES/.done"
fi
chmod -R a+rX "$(dirname "$FILES")"
./scripts/citus.sh start "$FILES"
trap './scripts/citus.sh stop' EXIT

cpu_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }  # user nice system irq softirq
lo_bytes() { awk -F'[: ]+' '$2 == "lo" {print $3}' /proc/net/dev; }
ticks=$(getconf CLK_TCK)

# measure WAY TARGET NODES: one run; prints "seconds cpu_seconds lo_bytes summary"
measure() {
    local target=$2 nodes=$3 c0 n0 t0 summary t1
    q "SELECT vs_ingest_create_target('$target', distributed => $([ "$1" = local ] && echo false || echo true),
                                      shard_count => 32)" >/dev/null
    sync
    c0=$(cpu_busy); n0=$(lo_bytes); t0=$(date +%s.%N)
    summary=$(q "SELECT files_loaded || '/' || rows_read || '/' || rows_loaded
                   FROM vs_ingest_dir('$FILES', '*.zip', target => '$target', nodes => '$nodes')")
    t1=$(date +%s.%N)
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') $(( $(cpu_busy) - c0 )) $(( $(lo_bytes) - n0 )) $summary"
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

declare -A SECONDS_OF CPU_OF NET_OF SUMMARY_OF
for way in local coordinator workers; do
    nodes=local
    [ "$way" = workers ] && nodes=workers
    secs=(); cpus=(); nets=()
    for run in $(seq 1 "$RUNS"); do
        target="public.bench_${way}_$run"
        read -r s c n summary < <(measure "$way" "$target" "$nodes")
        secs+=("$s"); cpus+=("$(awk -v c="$c" -v t="$ticks" 'BEGIN {printf "%.1f", c / t}')"); nets+=("$n")
        SUMMARY_OF[$way]=$summary
        echo "  $way run $run: ${s}s, ${cpus[-1]} CPU s, $((n / 1000000)) MB over loopback ($summary)"
        q "DROP TABLE IF EXISTS ${target}_blocks_stage, ${target}_blocks CASCADE" >/dev/null
    done
    SECONDS_OF[$way]=$(printf '%s\n' "${secs[@]}" | median)
    CPU_OF[$way]=$(printf '%s\n' "${cpus[@]}" | median)
    NET_OF[$way]=$(printf '%s\n' "${nets[@]}" | median)
done

log "citus_columnar on a loaded day"
q "SELECT vs_ingest_create_target('public.bench_columnar', distributed => true, shard_count => 32)" >/dev/null
q "SELECT files_loaded FROM vs_ingest_dir('$FILES', '*.zip', target => 'public.bench_columnar')" >/dev/null
first_day=$(q "SELECT min(day) FROM public.bench_columnar_blocks")
part=$(q "SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'public.bench_columnar_blocks'::regclass ORDER BY c.relname LIMIT 1")
heap_bytes=$(q "SELECT citus_total_relation_size('$part')")
q "CREATE EXTENSION IF NOT EXISTS citus_columnar" >/dev/null
columnar_error=""
if ! columnar_error=$(q "SELECT alter_table_set_access_method('$part', 'columnar')" 2>&1 >/dev/null); then
    columnar_bytes=""
else
    columnar_error=""
    columnar_bytes=$(q "SELECT citus_total_relation_size('$part')")
fi
# A late delivery of the same day: it must merge (first sample wins) into the columnar day.
late_dir=$FILES/late
rm -rf "$late_dir" && mkdir -p "$late_dir"
target/release/vs-ingest-gen --out "$late_dir" --links $((LINKS / 10)) --days 1 --start "$first_day" \
    --real-like --level 1 --seed 7 --container gz >/dev/null
rm -f "$late_dir/manifest.json"
chmod -R a+rX "$late_dir"
late=$(q "SELECT files_loaded || '/' || files_failed || '/' || rows_loaded || '/' || rows_duplicate
            FROM vs_ingest_dir('$late_dir', '*.gz', target => 'public.bench_columnar')" 2>&1 || true)
late_error=$(q "SELECT coalesce(string_agg(f.error, '; '), '') FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
                 WHERE r.target = 'public.bench_columnar' AND f.status = 'failed'" 2>&1 || true)
echo "  heap day: $heap_bytes bytes; columnar: ${columnar_bytes:-n/a} ${columnar_error:+($columnar_error)}"
echo "  late file into the columnar day: $late ${late_error:+($late_error)}"

mkdir -p target/bench
export SUMMARY_LOCAL="${SECONDS_OF[local]} ${CPU_OF[local]} ${NET_OF[local]} ${SUMMARY_OF[local]}"
export SUMMARY_COORDINATOR="${SECONDS_OF[coordinator]} ${CPU_OF[coordinator]} ${NET_OF[coordinator]} ${SUMMARY_OF[coordinator]}"
export SUMMARY_WORKERS="${SECONDS_OF[workers]} ${CPU_OF[workers]} ${NET_OF[workers]} ${SUMMARY_OF[workers]}"
export HEAP_BYTES=$heap_bytes COLUMNAR_BYTES=${columnar_bytes:-} COLUMNAR_ERROR=$columnar_error LATE=$late \
    LATE_ERROR=$late_error COMMAND="scripts/bench-citus.sh --scale $SCALE --days $DAYS --runs $RUNS" \
    LINKS DAYS RUNS
python3 - "$OUT" <<'PY'
import json, os, sys
e = os.environ
ways = {}
for way, key in [("1 node", "SUMMARY_LOCAL"), ("coordinator", "SUMMARY_COORDINATOR"), ("workers", "SUMMARY_WORKERS")]:
    s, c, n, summary = e[key].split(" ")
    files, rows_read, rows_loaded = summary.split("/")
    ways[way] = {"seconds_median": float(s), "cpu_seconds_median": float(c), "loopback_bytes_median": int(n),
                 "files": int(files), "rows_read": int(rows_read), "rows_loaded": int(rows_loaded)}
result = {
    "command": e["COMMAND"], "links": int(e["LINKS"]), "days": int(e["DAYS"]), "runs": int(e["RUNS"]),
    "machine": {"cpus": os.cpu_count(),
                "memory_gib": round(int(open("/proc/meminfo").read().split()[1]) / 1048576, 1)},
    "cluster": "Citus 13.2.2, coordinator + 2 workers on this machine, shard_count 32",
    "ways": ways,
    "columnar": {"day_heap_bytes": int(e["HEAP_BYTES"] or 0),
                 "day_columnar_bytes": int(e["COLUMNAR_BYTES"]) if e["COLUMNAR_BYTES"] else None,
                 "conversion_error": e["COLUMNAR_ERROR"] or None,
                 "late_file": e["LATE"], "late_file_errors": e["LATE_ERROR"] or None},
}
json.dump(result, open(sys.argv[1], "w"), indent=2)
print(json.dumps(result, indent=2))
PY
cp "$OUT" "docs/bench-citus-$SCALE.json"
log "wrote $OUT and docs/bench-citus-$SCALE.json"
