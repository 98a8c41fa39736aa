#!/usr/bin/env bash
# Installs what building and testing vs_ingest needs on a fresh Debian 12 machine (run as root):
# PostgreSQL 15 with its server headers, clang for bindgen, sudo (Postgres runs as `postgres`),
# ISA-L (libisal-dev: the engine inflates gzip and zip with it; isal: its igzip, the benchmark's
# inflate floor), cargo-pgrx 0.18.1, and `cargo pgrx init` against the system PostgreSQL. Safe to
# run again.
set -euo pipefail

PGRX_VERSION=0.18.1
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PACKAGES=(postgresql-15 postgresql-server-dev-15 libclang-dev clang sudo libisal-dev isal)

log() { printf '\033[1m== %s\033[0m\n' "$*"; }

. "$(dirname "$0")/cluster.sh"
install_packages "${PACKAGES[@]}"

if ! cargo pgrx --version 2>/dev/null | grep -q " ${PGRX_VERSION}\$"; then
    log "installing cargo-pgrx ${PGRX_VERSION} (takes several minutes)"
    cargo install cargo-pgrx --version "${PGRX_VERSION}" --locked --quiet
fi

if ! grep -qs "pg15 = \"${PG_CONFIG}\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
    log "cargo pgrx init --pg15 ${PG_CONFIG}"
    cargo pgrx init --pg15 "${PG_CONFIG}" >/dev/null
fi
