#!/usr/bin/env bash
# A local Citus cluster for the distributed tests and benchmarks: a coordinator and two workers on
# localhost, each with citus and vs_ingest preloaded.
#
#   scripts/citus.sh build          builds and installs Citus 13.2.2 from ../shared/vendor (once)
#   scripts/citus.sh start FILES    builds if needed, (re)starts the three servers with
#                                   vs_ingest.allowed_dirs = FILES, creates the database
#                                   `vs_ingest_citus` with both extensions and adds the workers
#   scripts/citus.sh stop
#
# Citus is in none of the package registries these machines reach; its source (AGPL-3.0) comes
# from the archive next to this project and is never part of it. Ports: VS_INGEST_CITUS_PORT
# (coordinator, default 54341) and the next two (workers).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/cluster.sh

CITUS_VERSION=13.2.2
# The project's checkout sits next to shared/ (../shared/vendor; /work/shared/vendor on the
# development machines); VS_INGEST_CITUS_ARCHIVE overrides.
ARCHIVE=${VS_INGEST_CITUS_ARCHIVE:-}
if [ -z "$ARCHIVE" ]; then
    for candidate in "$ROOT/../shared/vendor" /work/shared/vendor; do
        ARCHIVE=$candidate/citus-$CITUS_VERSION.tar.gz
        [ -f "$ARCHIVE" ] && break
    done
fi
SRC=$ROOT/target/citus-src
DATA=$ROOT/target/citus
PORT=${VS_INGEST_CITUS_PORT:-54341}
PORTS=("$PORT" $((PORT + 1)) $((PORT + 2)))
NAMES=(coordinator worker1 worker2)
DB=vs_ingest_citus
BUILD_PACKAGES=(libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev libssl-dev libselinux1-dev
                libxslt1-dev libpam0g-dev libreadline-dev autoconf flex bison libicu-dev make gcc)

log() { printf '\033[1m== %s\033[0m\n' "$*"; }

installed_version() {
    [ -f "$("$PG_BIN/pg_config" --pkglibdir)/citus.so" ] || return 1
    grep -h "^default_version" "$("$PG_BIN/pg_config" --sharedir)/extension/citus.control" | grep -o "[0-9][0-9.-]*"
}

build() {
    if installed_version >/dev/null && [ -f "$SRC/.installed-$CITUS_VERSION" ]; then
        return
    fi
    [ -f "$ARCHIVE" ] || { echo "Citus source not found: $ARCHIVE (set VS_INGEST_CITUS_ARCHIVE)" >&2; exit 1; }
    install_packages "${BUILD_PACKAGES[@]}"
    log "building Citus $CITUS_VERSION from $ARCHIVE (about a minute on 2 cores)"
    rm -rf "$SRC"
    mkdir -p "$SRC"
    tar -xzf "$ARCHIVE" -C "$SRC"
    # PostgreSQL 15.20 declares have_createdb_privilege() extern; Citus defines a static copy for
    # PG < 16. Rename Citus's copy (the vendor README's patch).
    local compat=$SRC/src/include/pg_version_compat.h
    if ! grep -q citus_compat_have_createdb_privilege "$compat"; then
        local line
        line=$(grep -n "have_createdb_privilege(void)" "$compat" | head -1 | cut -d: -f1)
        [ -n "$line" ] || { echo "cannot find have_createdb_privilege in $compat" >&2; exit 1; }
        # The definition's return type is on the line before the name.
        sed -i "$((line - 1))i #define have_createdb_privilege citus_compat_have_createdb_privilege" "$compat"
    fi
    (
        cd "$SRC"
        ./configure PG_CONFIG="$PG_BIN/pg_config" --quiet >/dev/null
        make -s -j"$(nproc)" with_llvm=no >/dev/null 2>&1
        make -s install with_llvm=no >/dev/null 2>&1
    )
    touch "$SRC/.installed-$CITUS_VERSION"
    log "Citus $(installed_version) installed"
}

psql_on() {
    local port=$1
    shift
    as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"
}

start() {
    local files=${1:?usage: citus.sh start ALLOWED_DIRS}
    build
    local i
    for i in 0 1 2; do
        cluster_start "$DATA/${NAMES[$i]}" "${PORTS[$i]}" \
            "shared_preload_libraries = 'citus, vs_ingest'" \
            "vs_ingest.allowed_dirs = '$files'" \
            "vs_ingest.database = '$DB'" \
            "max_connections = 200" \
            "max_worker_processes = 32" \
            "max_prepared_transactions = 100" \
            "lc_messages = 'C'" \
            "citus.max_cached_conns_per_worker = 8"
    done
    for i in 0 1 2; do
        psql_on "${PORTS[$i]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
        psql_on "${PORTS[$i]}" -d "$DB" -c "CREATE EXTENSION citus"
    done
    psql_on "$PORT" -d "$DB" \
        -c "SELECT citus_set_coordinator_host('127.0.0.1', $PORT)" \
        -c "SELECT citus_add_node('127.0.0.1', ${PORTS[1]})" \
        -c "SELECT citus_add_node('127.0.0.1', ${PORTS[2]})" \
        -c "CREATE EXTENSION vs_ingest" >/dev/null
    log "Citus cluster up: coordinator 127.0.0.1:$PORT, workers :${PORTS[1]} :${PORTS[2]}, database $DB"
}

stop() {
    local i
    for i in 0 1 2; do cluster_stop "$DATA/${NAMES[$i]}"; done
}

case "${1:-}" in
    build) build ;;
    start) start "${2:-}" ;;
    stop) stop ;;
    *) echo "usage: $0 build | start ALLOWED_DIRS | stop" >&2; exit 2 ;;
esac
