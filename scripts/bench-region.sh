#!/usr/bin/env bash
# What a region load (`links => ...`, issue 21) and a load checked against a link network
# (`vs_ingest_set_links`) cost against a full load of the same day: a 1/10-national real-like day
# (45,000 links, ~13 M rows), a region of a tenth of its links (about Seoul's share of the national
# network), a network lacking another tenth; the three loads interleaved over ROUNDS rounds into
# fresh targets, each after a CHECKPOINT; prints seconds, rows loaded, filtered and unknown, and the
# size stored.
# Release build, on a cluster of its own (the settings of bench-lib.sh). Usage:
#   scripts/bench-region.sh [ROUNDS]     (default 3; results in target/bench-region.txt)
#   LINKS=449000 scripts/bench-region.sh 1    (a national day; results in target/bench-region-449000.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh
. scripts/bench-lib.sh
ROUNDS=${1:-3}
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
LINKS=${LINKS:-45000}
DATA=$PWD/target/bench-data/region-$LINKS
PGDATA_DIR=$PWD/target/bench-region/pgdata
PORT=54341
exec 9>/tmp/vs_ingest_pg.lock
flock 9
bench_log "building (release)"
cargo build --release -q -p vs_ingest_gen --bin vs-ingest-gen
cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null
bench_input "$DATA" target/release/vs-ingest-gen --links "$LINKS" --real-like >/dev/null
bench_readable "$DATA"
bench_cluster "$PGDATA_DIR" "$PORT" "vs_ingest.allowed_dirs = '$DATA'" >/dev/null
trap 'cluster_stop "$PGDATA_DIR" >/dev/null' EXIT
P=(psql -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1)
"${P[@]}" -c "CREATE EXTENSION vs_ingest"
"${P[@]}" -c "SELECT * FROM vs_ingest_dir('$DATA', '*.zip', target => 'public.probe')" >/dev/null
"${P[@]}" -c "CREATE TABLE public.region AS SELECT DISTINCT link_id FROM public.probe_blocks WHERE link_id % 10 = 0;
                  CREATE TABLE public.network AS SELECT DISTINCT link_id FROM public.probe_blocks WHERE link_id % 10 <> 5"
out=target/bench-region.txt
[ "$LINKS" = 45000 ] || out=target/bench-region-$LINKS.txt
{
    echo "links: $("${P[@]}" -c "SELECT count(DISTINCT link_id) FROM public.probe_blocks") in the day, $("${P[@]}" -c "SELECT count(*) FROM public.region") in the region"
    for i in $(seq 1 "$ROUNDS"); do
        for kind in full region network; do
            arg=""
            [ "$kind" = region ] && arg=", links => 'public.region'"
            if [ "$kind" = network ]; then
                "${P[@]}" -c "SELECT vs_ingest_create_target('public.t_network_$i')" >/dev/null
                "${P[@]}" -c "SELECT vs_ingest_set_links('public.t_network_$i', 'public.network')" >/dev/null
            fi
            "${P[@]}" -c "CHECKPOINT"
            line=$("${P[@]}" -F ' ' -c "SELECT seconds, rows_loaded FROM vs_ingest_dir('$DATA', '*.zip', target => 'public.t_${kind}_$i' $arg)")
            filtered=$("${P[@]}" -F ' ' -c "SELECT rows_filtered, rows_unknown FROM vs_ingest.run ORDER BY run_id DESC LIMIT 1")
            size=$("${P[@]}" -c "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c
                                  WHERE c.relname LIKE 't\\_${kind}\\_${i}\\_%' AND c.relkind IN ('r', 'p')")
            echo "round $i $kind: seconds, rows loaded: $line; rows filtered, unknown: $filtered; stored $size"
        done
    done
} | tee "$out"
