#!/usr/bin/env bash
# Is the primary key's column order what slows down the write stage? Times binary COPY FROM STDIN
# of the same hourly rows, in the order vs_ingest's worker writes them (hour by hour, links
# ascending), into a partitioned table identical to vs_ingest's but for its primary key:
#   (link_id, hour)   vs_ingest's first key: each hour's rows land all over the index
#   (hour, link_id)   vs_ingest's key now: each hour's rows append at the index's right end
#   none              no index at all: the floor
# plus (link_id, hour) with the rows sorted by link first (the key's order), for contrast.
#
#   ./scripts/bench-pk-order.sh [--runs N] [--copies K]
#
# Needs target/bench/small/hourly.bin, which `./scripts/bench.sh --scale small` leaves behind
# (the rows of its last load). Besides those rows (20,000 links x 24 hours) it builds a set K
# times larger (default 5, i.e. 100,000 links) by giving every row K distinct link ids, so the
# index is bigger. Uses its own cluster (target/bench/pk-pgdata, port 54323, the settings of
# bench.sh) and the extension that bench.sh installed (for its table definition). Medians of N
# runs (default 3), variants interleaved.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=3
COPIES=5
while (($#)); do
    case $1 in
        --runs) RUNS=${2:?}; shift 2 ;;
        --copies) COPIES=${2:?}; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--runs N] [--copies K]" >&2; exit 2 ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ && $COPIES =~ ^[1-9][0-9]*$ ]] || { echo "--runs and --copies are positive integers" >&2; exit 2; }

. scripts/cluster.sh
. scripts/bench-lib.sh

PORT=${VS_INGEST_PK_PORT:-54323}
PGDATA_DIR=$ROOT/target/bench/pk-pgdata
WORK=$ROOT/target/bench/pk-order
SOURCE=$ROOT/target/bench/small/hourly.bin
OUT=$ROOT/target/bench/pk-order.tsv
DB=pk_order
[ -s "$SOURCE" ] || bench_die "$SOURCE is missing: run ./scripts/bench.sh --scale small first"

pg() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
trap 'cluster_stop "$PGDATA_DIR"' EXIT

# The extension installed by bench.sh; `cargo pgrx test` installs another build into the same
# PostgreSQL, so hold the lock it takes too.
exec 9>/tmp/vs_ingest_pg.lock
flock 9
postgres_dir "$WORK"
bench_log "a fresh cluster in $PGDATA_DIR, port $PORT"
bench_cluster "$PGDATA_DIR" "$PORT"
pg -d postgres -c "CREATE DATABASE $DB"
pg -d "$DB" -c "CREATE EXTENSION vs_ingest"

# create_table NAME KEY: vs_ingest's hourly table, made by the extension's own function (its DDL
# lives in src/sql/hourly_table.sql only), with its primary key swapped for KEY ("" for none),
# and the partition of 2023-07-01 in Asia/Seoul.
create_table() {
    local name=$1 key=$2
    pg -d "$DB" -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS $name" \
        -c "SELECT vs_ingest.ensure_hourly_table('$name')" \
        -c "ALTER TABLE $name DROP CONSTRAINT ${name}_pkey" \
        ${key:+-c "ALTER TABLE $name ADD PRIMARY KEY ($key)"} -c "
        CREATE TABLE ${name}_p20230701 PARTITION OF $name
            FOR VALUES FROM ('2023-07-01 00:00:00+09') TO ('2023-07-02 00:00:00+09')"
}

# The sets: the rows as bench.sh's load wrote them, and COPIES times as many links (each row
# once per copy, link id * 8 + copy: distinct, interleaved like real ids), both in the worker's
# order; and the small set in (link_id, hour) order.
bench_log "building the row sets"
create_table src ""
pg -d "$DB" -c "\\copy src FROM '$SOURCE' WITH (FORMAT binary)"
pg -d "$DB" -c "COPY (SELECT * FROM src ORDER BY hour, link_id) TO '$WORK/hour_link.bin' (FORMAT binary)"
pg -d "$DB" -c "COPY (SELECT * FROM src ORDER BY link_id, hour) TO '$WORK/link_hour.bin' (FORMAT binary)"
pg -d "$DB" -c "COPY (SELECT s.hour, s.link_id * 8 + c, s.speed, s.travel_time, s.samples, s.speed_avg, s.speed_min, s.speed_max
                        FROM src s, generate_series(0, $COPIES - 1) c ORDER BY 1, 2) TO '$WORK/big.bin' (FORMAT binary)"
small_rows=$(pg -d "$DB" -At -c "SELECT count(*) FROM src")
pg -d "$DB" -c "DROP TABLE src"

# variant LABEL KEY FILE
VARIANTS=(
    "pk (link_id, hour), rows by hour then link (vs_ingest's first key)|link_id, hour|hour_link"
    "pk (hour, link_id), rows by hour then link (vs_ingest now)|hour, link_id|hour_link"
    "no primary key, rows by hour then link|-|hour_link"
    "pk (link_id, hour), rows by link then hour (key order)|link_id, hour|link_hour"
)
: >"$OUT"
for set in small big; do
    if [ $set = small ]; then rows=$small_rows; else rows=$((small_rows * COPIES)); fi
    bench_log "set $set: $rows rows, $RUNS runs per variant"
    for ((r = 1; r <= RUNS; r++)); do
        for v in "${!VARIANTS[@]}"; do
            IFS='|' read -r label key order <<<"${VARIANTS[$v]}"
            [ "$key" = - ] && key=
            file=$WORK/$order.bin
            if [ $set = big ]; then
                [ "$order" = hour_link ] || continue    # the big set only in the worker's order
                file=$WORK/big.bin
            fi
            create_table t "$key"
            pg -d "$DB" -c CHECKPOINT
            start=$(now)
            pg -d "$DB" -c "\\copy t FROM '$file' WITH (FORMAT binary)"
            s=$(elapsed "$start")
            index=$(pg -d "$DB" -At -c "SELECT pg_indexes_size('t_p20230701')")
            printf '%s\t%s\t%s\t%s\t%s\n' "$set" "$v" "$s" "$index" "$rows" >>"$OUT"
            printf '  run %d  %-62s %8.3f s  index %s MB\n' "$r" "$label" "$s" $((index / 1000000))
        done
    done
done

bench_log "medians"
for set in small big; do
    for v in "${!VARIANTS[@]}"; do
        IFS='|' read -r label _ _ <<<"${VARIANTS[$v]}"
        awk -F'\t' -v set="$set" -v v="$v" -v label="$label" '
            $1 == set && $2 == v { t[n++] = $3; index_bytes = $4; rows = $5 }
            END {
                if (n == 0) exit
                for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (t[j] < t[i]) { x = t[i]; t[i] = t[j]; t[j] = x }
                m = t[int(n / 2)]
                printf "%-6s %-62s %8.3f s  %6.0f k rows/s  index %4.0f MB  (runs:", set, label, m, rows / m / 1000, index_bytes / 1e6
                for (i = 0; i < n; i++) printf " %.3f", t[i]
                print ")"
            }' "$OUT"
    done
done
echo "raw timings: $OUT"
