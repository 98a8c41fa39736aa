# Shared by scripts/bench.sh and scripts/bench-pk-order.sh. Source it from the repository root,
# after scripts/cluster.sh.
# shellcheck shell=bash

# PostgreSQL settings of the benchmark cluster: the same for every contender (vs_ingest_dir, the
# native COPY + GROUP BY, binary COPY), and printed with the results.
BENCH_SETTINGS=(
    # A common size for a small dedicated server (a quarter of 8 GB). Pages a process touches in
    # shared_buffers count in its VmRSS, which is why memory is judged on RssAnon.
    "shared_buffers = '2GB'"
    # A national day writes about 4 GB of WAL: no checkpoint is forced by WAL volume or by time
    # within one load. Each timed step starts after an explicit CHECKPOINT instead.
    "max_wal_size = '10GB'"
    "min_wal_size = '1GB'"
    "checkpoint_timeout = '30min'"
    "checkpoint_completion_target = 0.9"
    "wal_buffers = '64MB'"
    # Durability as in production: the loads really commit.
    "fsync = on"
    "synchronous_commit = on"
    "full_page_writes = on"
    # The native way sorts 129 M staging rows; a DBA would give that sort memory.
    "work_mem = '1GB'"
    "maintenance_work_mem = '1GB'"
    # Workers for vs_ingest (one per core) with room to spare.
    "max_worker_processes = 8"
    # No background vacuum or analyze of the table just loaded may run into the next timed step.
    "autovacuum = off"
    # PostgreSQL's default, listed because it matters to the native INSERT ... SELECT.
    "jit = on"
    "log_checkpoints = on"
)

# now: wall clock in seconds with microseconds; elapsed START: seconds since START.
now() { printf '%s' "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }

bench_log() { printf '\033[1m== [%s] %s\033[0m\n' "$(date +%T)" "$*"; }

# bench_input DIR GENERATOR ARG...: the generator's files in DIR (`GENERATOR --out DIR ARG...`),
# generated once, into DIR.partial renamed when complete, so that an interrupted run leaves no half
# cache; later runs find them. The generator's own output goes to stdout, the log to stderr.
bench_input() {
    local data=$1 gen=$2
    shift 2
    if [ -s "$data/manifest.json" ]; then
        bench_log "input: cached $data" >&2
        return 0
    fi
    bench_log "input: generating $* (cached for later runs)" >&2
    rm -rf "$data.partial"
    "$gen" --out "$data.partial" "$@"
    mv "$data.partial" "$data"
}

# bench_readable DIR: DIR and everything in it readable by the server (`postgres`), through its
# parent directories.
bench_readable() {
    chmod -R o+rX "$1"
    local d=$1
    while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
}
bench_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# bench_cluster PGDATA PORT [EXTRA_SETTING ...]: a fresh cluster with BENCH_SETTINGS, started.
# File descriptor 9 (the install lock of scripts/bench.sh) is closed for the server, so that a
# server left running never keeps the lock.
bench_cluster() {
    local data=$1 port=$2
    shift 2
    cluster_stop "$data"
    rm -rf "$data"
    cluster_start "$data" "$port" "${BENCH_SETTINGS[@]}" "$@" 9>&-
}
