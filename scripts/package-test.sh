#!/usr/bin/env bash
# The Debian package test (issue 22), through the system's package manager and PostgreSQL 15:
#   1. scripts/package.sh packages the current build; the files `cargo pgrx install` put in the
#      system are removed, and `apt-get install ./postgresql-15-vs-ingest_*.deb` installs the
#      package (dpkg -V checks its files); a fresh cluster creates the extension, loads a generated
#      day with vs_ingest_file, and the rows are checked against the CSV itself (awk: links,
#      samples and the sum of the speeds);
#   2. the upgrade through packages: 0.1.0's package (packaged by the same script from the 0.1.0
#      build scripts/upgrade-test.sh makes) is installed on a clean system, a day is loaded, the
#      current package is installed over it, ALTER EXTENSION vs_ingest UPDATE runs the upgrade
#      scripts the package carries (0.1.0 -> 0.2.0 -> 0.3.0), the table is converted, the next day
#      is loaded, and both days are checked.
# At the end the package is purged and the suite's own build reinstalled (`cargo pgrx install`).
#
#   scripts/package-test.sh     (as root, after scripts/upgrade-test.sh; scripts/test.sh runs it last)
#
# The suite packages the debug build it has made (`package.sh --debug`): a release build would add
# 7-8 minutes to CI and package the same files. The previous release proper is 0.2.0; the suite
# starts from 0.1.0, the release scripts/upgrade-test.sh already builds (a 0.2.0 build would add
# another 6-7 minutes), so the upgrade it checks runs both upgrade scripts the package carries.
# VS_INGEST_EARLIER_BUILD=<a cargo pgrx package output of 0.2.0> runs the same test from 0.2.0
# (docs/packaging.md says how that was checked).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/cluster.sh

PORT=${VS_INGEST_PACKAGE_PORT:-54351}
OUT=$ROOT/target/package-test
DATA=$OUT/pgdata
FILES=/tmp/vs_ingest_package
DB=vs_ingest_package
LOCK=/tmp/vs_ingest_pg.lock
PG_CONFIG=$PG_BIN/pg_config
PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
EXT_DIR=$("$PG_CONFIG" --sharedir)/extension
# The earlier release to upgrade from: 0.1.0 as scripts/upgrade-test.sh builds it, or any other
# `cargo pgrx package` output (VS_INGEST_EARLIER_BUILD=.../vs_ingest-pg15, e.g. a build of 0.2.0).
EARLIER_BUILD=${VS_INGEST_EARLIER_BUILD:-$ROOT/target/upgrade/v010-target/release/vs_ingest-pg15}
GEN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/vs-ingest-gen
PACKAGE=postgresql-15-vs-ingest

log() { printf '\033[1m== package-test: %s\033[0m\n' "$*"; }
failures=0
check() {
    if [ "$2" = "$3" ]; then echo "  ok: $1"; else echo "  FAILED: $1: got '$2', want '$3'"; failures=$((failures + 1)); fi
}
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" -c "SET client_min_messages = warning" -c "$1"; }

[ -f "$EARLIER_BUILD$PKGLIBDIR/vs_ingest.so" ] || { echo "no earlier build in $EARLIER_BUILD: run scripts/upgrade-test.sh first" >&2; exit 1; }
EARLIER=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$EARLIER_BUILD$EXT_DIR/vs_ingest.control")
[ -x "$GEN" ] || cargo build -p vs_ingest_gen --bin vs-ingest-gen --quiet

log "packaging the current build and $EARLIER"
mkdir -p "$OUT"
NEW_DEB=$(./scripts/package.sh --debug --out "$OUT")
OLD_DEB=$(./scripts/package.sh --from "$EARLIER_BUILD" --out "$OUT")
NEW_VERSION=$(dpkg-deb --field "$NEW_DEB" Version)
echo "  $NEW_DEB: $(dpkg-deb --field "$NEW_DEB" Depends)"
echo "  $OLD_DEB"
check "the package depends on PostgreSQL 15 and ISA-L" \
    "$(dpkg-deb --field "$NEW_DEB" Depends | grep -o 'postgresql-15\|libisal2' | sort -u | tr '\n' ' ')" "libisal2 postgresql-15 "
check "it carries the upgrade scripts of every earlier version" \
    "$(dpkg-deb --contents "$NEW_DEB" | grep -o 'vs_ingest--[0-9.]*--[0-9.]*\.sql' | sort | tr '\n' ' ')" \
    "vs_ingest--0.1.0--0.2.0.sql vs_ingest--0.2.0--0.3.0.sql "
check "it has no maintainer scripts" "$(dpkg-deb --ctrl-tarfile "$NEW_DEB" | tar -t | grep -vc '^\./\(control\|md5sums\)\?$' || true)" 0

log "generating 2 clean days of 1,000 links (zip, with their CSV) in $FILES"
rm -rf "$FILES" && mkdir -p "$FILES"
"$GEN" --out "$FILES" --links 1000 --days 2 --start 2023-07-01 --level 1 --seed 23 --clean --plain-copy >/dev/null
rm -f "$FILES/manifest.json"
chmod -R o+rX "$FILES"

# The CSV's own figures for one day (YYYYMMDD): links, rows with a speed, the sum of the speeds.
from_csv() {
    awk -F, '$1 ~ /^[0-9]+$/ { links[$3] = 1; if ($5 != "") { n++; s += $5 } }
             END { printf "%d/%d/%.1f", length(links), n, s }' "$FILES/$1_5Min.plain.csv"
}
# The same figures from the table, for one local day.
from_table() {
    sql "SELECT count(DISTINCT link_id) || '/' || sum(samples) || '/' ||
                (SELECT round(sum(s::numeric), 1) FROM public.vs_its_hourly h2, unnest(h2.speed) s WHERE h2.local_day = '$1')
           FROM public.vs_its_hourly WHERE local_day = '$1'"
}

exec 9>"$LOCK"
flock 9
restore() {
    local rc=$?
    cluster_stop "$DATA"
    dpkg --purge "$PACKAGE" >/dev/null 2>&1 || true
    cargo pgrx install --pg-config "$PG_CONFIG" >/dev/null 2>&1 || echo "could not reinstall the suite's build" >&2
    exit "$rc"
}
trap restore EXIT

fresh_cluster() {
    cluster_stop "$DATA"
    rm -rf "$DATA"
    postgres_dir "$OUT"
    cluster_start "$DATA" "$PORT" "vs_ingest.allowed_dirs = '$FILES'" "lc_messages = 'C'"
    psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE $DB"
}
# Only the package's files: none left from `cargo pgrx install`.
clean_system() {
    dpkg --purge "$PACKAGE" >/dev/null 2>&1 || true
    rm -f "$PKGLIBDIR/vs_ingest.so" "$EXT_DIR"/vs_ingest.control "$EXT_DIR"/vs_ingest--*.sql
}
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$1" >/dev/null; }

log "1. the package on a clean system"
clean_system
apt_install "$NEW_DEB"
check "installed, at $NEW_VERSION" "$(dpkg-query -W -f '${Status} ${Version}' "$PACKAGE")" "install ok installed $NEW_VERSION"
check "its files are the package's (dpkg -V)" "$(dpkg -V "$PACKAGE" | wc -l)" 0
fresh_cluster
sql "CREATE EXTENSION vs_ingest"
check "the extension is ${NEW_VERSION%-*}" "$(sql "SELECT extversion FROM pg_extension WHERE extname = 'vs_ingest'")" "${NEW_VERSION%-*}"
check "a day loads" "$(sql "SELECT files_loaded || '/' || rows_rejected FROM vs_ingest_file('$FILES/20230701_5Min.zip')")" "1/0"
check "its links, samples and speeds are the CSV's" "$(from_table 2023-07-01)" "$(from_csv 20230701)"

log "2. $EARLIER's package, then the current one over it"
cluster_stop "$DATA"
clean_system
apt_install "$OLD_DEB"
check "$EARLIER installed" "$(dpkg-query -W -f '${Version}' "$PACKAGE")" "$EARLIER-1"
fresh_cluster
sql "CREATE EXTENSION vs_ingest"
check "the extension is $EARLIER" "$(sql "SELECT extversion FROM pg_extension WHERE extname = 'vs_ingest'")" "$EARLIER"
check "$EARLIER loads the first day" \
    "$(sql "SELECT files_loaded FROM vs_ingest_dir('$FILES', '20230701_5Min.zip')")" 1
apt_install "$NEW_DEB"
check "the current package replaced it" "$(dpkg-query -W -f '${Version}' "$PACKAGE")" "$NEW_VERSION"
check "its files are the package's (dpkg -V)" "$(dpkg -V "$PACKAGE" | wc -l)" 0
sql "ALTER EXTENSION vs_ingest UPDATE"
check "ALTER EXTENSION vs_ingest UPDATE reaches ${NEW_VERSION%-*}" \
    "$(sql "SELECT extversion FROM pg_extension WHERE extname = 'vs_ingest'")" "${NEW_VERSION%-*}"
# A target of 0.1.0 is rewritten into the current layout once (README, Upgrading).
[ "$EARLIER" != 0.1.0 ] || sql "SELECT vs_ingest_convert_target('public.vs_its_hourly')" >/dev/null
check "the first day is still the CSV's" "$(from_table 2023-07-01)" "$(from_csv 20230701)"
check "the next day loads after the upgrade" \
    "$(sql "SELECT files_loaded || '/' || files_skipped FROM vs_ingest_dir('$FILES', '2023070*_5Min.zip')")" "1/1"
check "and is the CSV's" "$(from_table 2023-07-02)" "$(from_csv 20230702)"

if [ "$failures" -gt 0 ]; then
    echo "package tests: $failures FAILED"
    exit 1
fi
echo "package tests: passed"
