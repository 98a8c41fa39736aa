#!/usr/bin/env bash
# Upgrade test (issue 13, item 1): the first release, 0.1.0 (commit 7cdaf19), built from
# `git archive` and installed; it loads two days, and a load of a third day is interrupted with
# kill -9 of its worker; then the current build is installed, `ALTER EXTENSION vs_ingest UPDATE`,
# `vs_ingest_convert_target`, the interrupted day is loaded again (it resumes) and a fourth day
# after it. The table must equal a clean load of the same four files by the current build, the
# coverage report must agree, and the history from before the upgrade must still be there. The
# daily rollups of the days stored before the update are built by `CALL vs_ingest_build_rollups()`
# (killed with kill -9 at its second day in a 0.2.0 database, then called again) and must equal
# the clean load's.
#
#   scripts/upgrade-test.sh          (as root, like scripts/test.sh, which runs it as suite 6)
#
# Builds: 0.1.0 in target/upgrade/v010-src with its own target dir target/upgrade/v010-target
# (kept between runs: about 5-7 minutes cold on 2 cores, seconds afterwards), a release build as
# users have it (a cold debug build of 0.1.0 took longer on 2 cores: 11.6 minutes against 7.4);
# the current build is the debug build in the default target dir that scripts/test.sh's earlier
# suites made (a second, release build of it would add 7-8 minutes to CI for no more coverage).
# Both are built before /tmp/vs_ingest_pg.lock is taken; installing and every use of the cluster
# hold it, as scripts/bench.sh does, since installing replaces the system-wide files.
#
# The kill is made deterministic: a trigger on the 0.1.0 table makes the worker wait on an
# advisory lock at the first row of 12:00 on day 3, so it is killed with the morning of that day
# committed and a chunk in flight. The trigger is dropped before the upgrade.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/cluster.sh

V010_COMMIT=7cdaf19
PORT=${VS_INGEST_UPGRADE_PORT:-54331}
UP=$ROOT/target/upgrade
V010_SRC=$UP/v010-src
V010_TARGET=$UP/v010-target
DATA=$UP/pgdata
FILES=/tmp/vs_ingest_upgrade/its
DB=vs_ingest_upgrade
LOCK=/tmp/vs_ingest_pg.lock
PG_CONFIG=$PG_BIN/pg_config
EXT_DIR=$("$PG_CONFIG" --sharedir)/extension
DAY3_START='2023-07-03 00:00+09'
GATE_AT='2023-07-03 12:00+09'
GATE_KEY=7731

# Verdicts go to fd 3, the script's stdout, also from inside $(...).
exec 3>&1
T0=$SECONDS
log() { printf '== upgrade test [%3ds] %s\n' $((SECONDS - T0)) "$*" >&3; }
FAILED=0
pass() { echo "upgrade test: PASS $*" >&3; }
fail() { echo "upgrade test: FAIL $*" >&3; FAILED=$((FAILED + 1)); }
# A step the rest depends on failed: say what and why, and stop (also from inside $(...): the
# assignment that ran it fails, and set -e ends the script).
abort() { echo "upgrade test: FAIL $*" >&3; echo "upgrade test: FAILED" >&3; exit 1; }

pg() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" "$@"; }
# sql NAME SQL: runs SQL; on an error prints it with its SQLSTATE (verbose) and stops the test.
sql() {
    local name=$1 out
    shift
    if ! out=$(pg -c '\set VERBOSITY verbose' -c "$1" 2>&1); then
        printf '%s\n' "$out" | sed 's/^/    /' >&3
        abort "$name (the error above; its SQLSTATE follows ERROR:)"
    fi
    printf '%s' "$out"
}
wait_ready() {
    for _ in $(seq 1 300); do
        psql -X -At -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    abort "the server did not come back (see $DATA/server.log)"
}

# quietly NAME COMMAND...: runs COMMAND with its output in target/upgrade/NAME.log; on failure
# shows the end of that log and stops the test.
quietly() {
    local name=$1
    shift
    if ! "$@" >"$UP/$name.log" 2>&1; then
        tail -n 30 "$UP/$name.log" | sed 's/^/    /' >&3
        abort "$name: $* (log: $UP/$name.log)"
    fi
}

# same_lines A B: the same lines, in any order (cargo pgrx orders the generated SQL's blocks
# differently from one run to the next).
same_lines() { [ -s "$2" ] && cmp -s <(sort "$1") <(sort "$2"); }

BACKGROUND=()
cleanup() {
    local rc=$? p
    for p in "${BACKGROUND[@]}"; do kill "$p" 2>/dev/null || true; done
    cluster_stop "$DATA"
    flock -u 9 2>/dev/null || true
    log "done"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$UP"

NEW_VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
log "0.1.0 ($V010_COMMIT, release build) -> $NEW_VERSION ($(git rev-parse --short HEAD) and the working tree, debug build)"
[ "$NEW_VERSION" != 0.1.0 ] || abort "Cargo.toml still says version 0.1.0: no version to upgrade to"
ls sql/vs_ingest--*--*.sql >/dev/null 2>&1 || abort "no upgrade script sql/vs_ingest--X--Y.sql"

# --- builds, outside the lock ------------------------------------------------------------------
want=$(git rev-parse "$V010_COMMIT^{commit}")
if [ "$(cat "$V010_SRC/.commit" 2>/dev/null)" != "$want" ]; then
    log "extracting $V010_COMMIT into $V010_SRC"
    rm -rf "$V010_SRC" && mkdir -p "$V010_SRC"
    git archive "$want" | tar -x -C "$V010_SRC"
    echo "$want" >"$V010_SRC/.commit"
fi
log "building 0.1.0 (release, target dir $V010_TARGET; about 7 minutes the first time)"
quietly build-0.1.0 env -C "$V010_SRC" CARGO_TARGET_DIR="$V010_TARGET" \
    cargo pgrx package --pg-config "$PG_CONFIG"
V010_SQL=$V010_TARGET/release/vs_ingest-pg15$EXT_DIR/vs_ingest--0.1.0.sql
[ -s "$V010_SQL" ] || abort "0.1.0 was built but $V010_SQL is missing"
# The current build: `cargo pgrx install` below, debug, as test.sh's pg_regress suite built it.
log "building the generator"
quietly build-generator cargo build -p vs_ingest_gen --bin vs-ingest-gen

log "generating 4 days of 2,000 links (zip) in $FILES"
rm -rf "$FILES" && mkdir -p "$FILES"
target/debug/vs-ingest-gen --out "$FILES" --links 2000 --days 4 --start 2023-07-01 --level 1 --seed 13 >/dev/null
rm -f "$FILES/manifest.json"
chmod -R o+rX "$(dirname "$FILES")"

# --- 0.1.0 -------------------------------------------------------------------------------------
log "waiting for $LOCK (held from the first install to the end)"
exec 9>"$LOCK"
flock 9
log "installing 0.1.0"
quietly install-0.1.0 env -C "$V010_SRC" CARGO_TARGET_DIR="$V010_TARGET" \
    cargo pgrx install --release --pg-config "$PG_CONFIG"
same_lines "$V010_SQL" "$EXT_DIR/vs_ingest--0.1.0.sql" || abort "$EXT_DIR/vs_ingest--0.1.0.sql is not 0.1.0's after installing it"

log "a fresh cluster in $DATA, port $PORT"
cluster_stop "$DATA"
rm -rf "$DATA"
cluster_start "$DATA" "$PORT" "vs_ingest.allowed_dirs = '$FILES'" "lc_messages = 'C'"
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE $DB"
sql "CREATE EXTENSION VERSION '0.1.0'" "CREATE EXTENSION vs_ingest VERSION '0.1.0'"
v=$(sql "extversion" "SELECT extversion FROM pg_extension WHERE extname = 'vs_ingest'")
[ "$v" = 0.1.0 ] || abort "CREATE EXTENSION VERSION '0.1.0' gave version $v"

log "0.1.0 loads days 1-2"
out=$(sql "0.1.0: load days 1-2" "SET client_min_messages = warning;
    SELECT files_seen, files_loaded, files_failed, rows_loaded FROM vs_ingest_dir('$FILES', '2023070[12]*')")
echo "    files_seen|files_loaded|files_failed|rows_loaded: $out"
[ "$(cut -d'|' -f2 <<<"$out")" = 2 ] || abort "0.1.0 did not load days 1-2"

log "0.1.0 loads day 3; its worker is killed with kill -9 in the middle"
sql "gate trigger" "
CREATE FUNCTION public.upgrade_test_gate() RETURNS trigger LANGUAGE plpgsql AS
\$\$ BEGIN PERFORM pg_advisory_xact_lock_shared($GATE_KEY); RETURN NEW; END \$\$;
CREATE TRIGGER upgrade_test_gate BEFORE INSERT ON public.vs_its_hourly
    FOR EACH ROW WHEN (NEW.hour >= '$GATE_AT') EXECUTE FUNCTION public.upgrade_test_gate();" >/dev/null
pg -c "SELECT pg_advisory_lock($GATE_KEY)" -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
BACKGROUND+=($!)
for _ in $(seq 1 100); do
    held=$(pg -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $GATE_KEY AND granted")
    [ "$held" = 1 ] && break
    sleep 0.1
done
[ "$held" = 1 ] || abort "the session holding the gate's advisory lock did not get it"
pg -c "SET client_min_messages = warning" -c "SELECT * FROM vs_ingest_dir('$FILES', '20230703*')" \
    >"$UP/day3-interrupted.out" 2>&1 &
caller=$!
BACKGROUND+=("$caller")
worker=
for _ in $(seq 1 600); do
    worker=$(pg -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'vs_ingest worker'
                      AND wait_event_type = 'Lock' AND wait_event = 'advisory'")
    [ -n "$worker" ] && break
    kill -0 "$caller" 2>/dev/null || { cat "$UP/day3-interrupted.out"; abort "the load of day 3 ended before its worker reached $GATE_AT"; }
    sleep 0.1
done
[ -n "$worker" ] || abort "no vs_ingest worker waited at $GATE_AT within 60 s"
state=$(sql "day 3 state" "SELECT run_id, status, chunks, rows_loaded FROM vs_ingest.file WHERE path LIKE '%20230703%'")
kill -9 "$worker"
echo "    kill -9 worker $worker; day 3 before the kill (run_id|status|chunks|rows_loaded): $state"
wait "$caller" || true
sleep 1
wait_ready
sql "drop the gate" "DROP TRIGGER upgrade_test_gate ON public.vs_its_hourly; DROP FUNCTION public.upgrade_test_gate()" >/dev/null

r=$(sql "day 3 after the kill" "SELECT file_id, run_id, status, chunks FROM vs_ingest.file WHERE path LIKE '%20230703%'")
read -r DAY3_FILE INTERRUPTED_RUN day3_status day3_chunks <<<"${r//|/ }"
day3_rows=$(sql "day 3 rows" "SELECT count(*) FROM public.vs_its_hourly WHERE hour >= '$DAY3_START'")
echo "    day 3 after the restart: run $INTERRUPTED_RUN, file status $day3_status, $day3_chunks chunks, $day3_rows hourly rows"
if [ "$day3_status" != loaded ] && [ "${day3_chunks:-0}" -gt 0 ] && [ "$day3_rows" -gt 0 ]; then
    pass "0.1.0 left day 3 partly loaded (status $day3_status, $day3_rows hourly rows)"
else
    abort "day 3 is not partly loaded after the kill (status $day3_status, $day3_chunks chunks, $day3_rows rows)"
fi
RUNS_BEFORE=$(sql "runs" "SELECT string_agg(run_id::text, ',' ORDER BY run_id) FROM vs_ingest.run")
FILES_BEFORE=$(sql "files" "SELECT string_agg(file_id::text, ',' ORDER BY file_id) FROM vs_ingest.file")
echo "    history before the upgrade:"
sql "history" "SELECT format('      run %s %s %s files_loaded=%s', run_id, pattern, status, files_loaded)
                 FROM vs_ingest.run ORDER BY run_id"
echo
sql "history" "SELECT format('      file %s run %s %s %s rows_loaded=%s', file_id, run_id,
                             regexp_replace(path, '.*/', ''), status, rows_loaded)
                 FROM vs_ingest.file ORDER BY file_id"
echo

# --- the upgrade -------------------------------------------------------------------------------
log "stopping the cluster; installing $NEW_VERSION"
cluster_stop "$DATA"
quietly install-current cargo pgrx install --pg-config "$PG_CONFIG"
if same_lines "$V010_SQL" "$EXT_DIR/vs_ingest--0.1.0.sql"; then
    pass "installing $NEW_VERSION kept 0.1.0's vs_ingest--0.1.0.sql"
else
    fail "installing $NEW_VERSION removed or replaced $EXT_DIR/vs_ingest--0.1.0.sql"
fi
cluster_start "$DATA" "$PORT" "vs_ingest.allowed_dirs = '$FILES'" "lc_messages = 'C'"
path=$(sql "update path" "SELECT coalesce(path, '(none)') FROM pg_extension_update_paths('vs_ingest')
                           WHERE source = '0.1.0' AND target = '$NEW_VERSION'")
echo "    update path 0.1.0 -> $NEW_VERSION: $path"
log "ALTER EXTENSION vs_ingest UPDATE"
sql "ALTER EXTENSION vs_ingest UPDATE" "ALTER EXTENSION vs_ingest UPDATE" >/dev/null
v=$(sql "extversion" "SELECT extversion FROM pg_extension WHERE extname = 'vs_ingest'")
if [ "$v" = "$NEW_VERSION" ]; then pass "ALTER EXTENSION vs_ingest UPDATE: 0.1.0 -> $v"; else abort "after the update extversion is $v, not $NEW_VERSION"; fi

r=$(sql "starters by oid" "SELECT count(*), count(*) FILTER (WHERE started_by_oid = to_regrole(quote_ident(started_by))::oid)
                              FROM vs_ingest.run")
read -r runs_upgraded runs_with_oid <<<"${r//|/ }"
if [ "$runs_upgraded" -gt 0 ] && [ "$runs_with_oid" = "$runs_upgraded" ]; then
    pass "the update recorded the starting role's oid of all $runs_upgraded runs of 0.1.0 (run.started_by_oid)"
else
    fail "the update recorded the starting role's oid of $runs_with_oid of $runs_upgraded runs of 0.1.0"
fi

log "the upgraded extension against a fresh $NEW_VERSION (scripts/schema-description.sql)"
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
    -c "DROP DATABASE IF EXISTS upgrade_test_fresh" -c "CREATE DATABASE upgrade_test_fresh" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d upgrade_test_fresh -c "CREATE EXTENSION vs_ingest" >/dev/null
describe() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$1" -f scripts/schema-description.sql; }
if diff <(describe upgrade_test_fresh) <(describe "$DB") >"$UP/schema.diff"; then
    pass "the upgraded extension has the objects, privileges and settings of a fresh $NEW_VERSION ($(describe "$DB" | wc -l) lines compared)"
else
    fail "the upgraded extension differs from a fresh $NEW_VERSION (< fresh, > upgraded):"
    sed 's/^/      /' "$UP/schema.diff" | head -40
fi

# --- targets of 0.2.0 through the 0.2.0 -> 0.3.0 script -----------------------------------------
# In a database of its own: the extension at 0.2.0 (0.1.0's script, then 0.1.0 -> 0.2.0) makes two
# targets as 0.2.0 did (a double precision speed in the 5-minute view, no CHECKs of the stored
# layout); a role gets SELECT on one 5-minute view and a user's view depends on the other. Then
# ALTER EXTENSION UPDATE: the first 5-minute view must be made again with a real speed, same owner
# and privilege and not an extension member; the second kept with a WARNING; both storages get
# the CHECKs; then rows load and the two views agree slot for slot.
log "0.2.0 targets through the 0.2.0 -> $NEW_VERSION script"
V020_DB=upgrade_test_v020
v020() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$V020_DB" "$@"; }
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
    -c "DROP DATABASE IF EXISTS $V020_DB" -c "CREATE DATABASE $V020_DB" \
    -c "DROP ROLE IF EXISTS upgrade_reader" -c "CREATE ROLE upgrade_reader" >/dev/null
v020 -c "CREATE EXTENSION vs_ingest VERSION '0.1.0'" -c "ALTER EXTENSION vs_ingest UPDATE TO '0.2.0'" \
     -c "SET client_min_messages = warning" \
     -c "SELECT vs_ingest_create_target('public.old_hourly'), vs_ingest_create_target('public.kept_hourly')" \
     -c "GRANT SELECT ON public.old_5min TO upgrade_reader" \
     -c "CREATE VIEW public.uses_kept AS SELECT ts, speed FROM public.kept_5min" \
     -c "SELECT vs_ingest.ensure_day_partition('public.old_hourly_blocks', d)
           FROM unnest('{2023-07-01,2023-07-02}'::date[]) d" \
     -c "INSERT INTO public.old_hourly_blocks
         SELECT g, d, 1, 3, array_cat(ARRAY(SELECT (g * 7 + i)::smallint FROM generate_series(1, 24) i),
                                      array_fill(NULL::smallint, ARRAY[48])), NULL
           FROM generate_series(1, 3) g, unnest('{2023-07-01,2023-07-02}'::date[]) d" >/dev/null \
    || abort "could not make 0.2.0 targets"
before=$(v020 -c "SELECT string_agg(a.attrelid::regclass || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY 1)
                    FROM pg_attribute a WHERE a.attrelid IN ('public.old_5min'::regclass, 'public.kept_5min'::regclass)
                     AND a.attname = 'speed'")
warnings=$(v020 -c "ALTER EXTENSION vs_ingest UPDATE" 2>&1) || abort "ALTER EXTENSION vs_ingest UPDATE from 0.2.0 failed: $warnings"
r=$(v020 -c "SELECT format_type(a.atttypid, a.atttypmod), pg_get_userbyid(c.relowner),
                    has_table_privilege('upgrade_reader', c.oid, 'SELECT'),
                    EXISTS (SELECT 1 FROM pg_depend e WHERE e.objid = c.oid AND e.deptype = 'e'),
                    (SELECT format_type(k.atttypid, k.atttypmod) FROM pg_attribute k
                      WHERE k.attrelid = 'public.kept_5min'::regclass AND k.attname = 'speed'),
                    (SELECT string_agg(conname || ' ' || convalidated, ',' ORDER BY conname) FROM pg_constraint
                      WHERE conrelid IN ('public.old_hourly_blocks'::regclass, 'public.kept_hourly_blocks'::regclass)
                        AND conname LIKE 'vs_ingest_%')
               FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'speed'
              WHERE c.oid = 'public.old_5min'::regclass")
expected="real|postgres|t|f|double precision|vs_ingest_speed_slots false,vs_ingest_speed_slots false,vs_ingest_travel_time_slots false,vs_ingest_travel_time_slots false"
if [ "$r" = "$expected" ] && grep -q "kept_5min was left as it was" <<<"$warnings"; then
    pass "0.2.0 targets updated: 5-minute speed $before -> real (owner, privilege kept, not a member), the one a view uses kept with a WARNING, CHECKs added NOT VALID"
else
    fail "0.2.0 targets after the update: '$r', expected '$expected'; the update said: $warnings"
fi
# The update made the rollups of the 0.2.0 targets (their owner's, not extension members) and
# left the days stored before (2023-07-01 and -02: three links, hours 6-7) to build.
r=$(v020 -c "SELECT (SELECT string_agg(format('%s %s %s..%s', rollups, days, first_day, last_day), '; ')
                       FROM vs_ingest.rollups_to_build WHERE storage = 'public.old_hourly_blocks'::regclass),
                    (SELECT count(*) FROM public.old_hourly_days) + (SELECT count(*) FROM public.old_hourly_months),
                    pg_get_userbyid((SELECT relowner FROM pg_class WHERE oid = 'public.old_hourly_days'::regclass)),
                    pg_get_userbyid((SELECT relowner FROM pg_class WHERE oid = 'public.old_hourly_months'::regclass)),
                    EXISTS (SELECT 1 FROM pg_depend e WHERE e.deptype = 'e' AND e.objid IN
                              ('public.old_hourly_days'::regclass, 'public.old_daily'::regclass,
                               'public.old_hourly_months'::regclass, 'public.old_monthly'::regclass))")
expected="old_hourly_days 2 2023-07-01..2023-07-02|0|postgres|postgres|f"
if [ "$r" = "$expected" ] && grep -q "CALL vs_ingest_build_rollups()" <<<"$warnings"; then
    pass "the update made the rollups of a 0.2.0 target (owner's, not extension members) with its 2 stored days to build, and said how"
else
    fail "rollups of the 0.2.0 target after the update: '$r', expected '$expected'; the update said: $warnings"
fi
# CALL vs_ingest_build_rollups() builds a day per transaction: held up at the second day by a
# SHARE lock on its storage partition (which the build's ROW EXCLUSIVE lock waits for; an ACCESS
# EXCLUSIVE one would stop it at the first day, whose look-ups of partition bounds read every
# partition), after committing the first, its backend is killed with kill -9 (the server
# restarts); the same call then builds only what is left.
BUILT="SELECT coalesce(string_agg(day || ' ' || link_id || ':' || samples || ':' || speed_sum || ':' || hour_samples[7] || ':'
                                || hour_samples[8], ' ' ORDER BY day, link_id), 'none') FROM public.old_hourly_days"
v020 -c "BEGIN" -c "LOCK TABLE public.old_hourly_blocks_p20230702 IN SHARE MODE" \
     -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 1 300); do
    [ "$(v020 -c "SELECT count(*) FROM pg_locks WHERE relation = 'public.old_hourly_blocks_p20230702'::regclass
                    AND mode = 'ShareLock' AND granted")" = 1 ] && break
    sleep 0.1
done
v020 -c "CALL vs_ingest_build_rollups()" >/dev/null 2>&1 &
builder_pid=""
for _ in $(seq 1 300); do
    builder_pid=$(v020 -c "SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL vs_ingest_build_rollups%'
                             AND wait_event_type = 'Lock'" 2>/dev/null || true)
    [ -n "$builder_pid" ] && break
    sleep 0.1
done
[ -n "$builder_pid" ] || abort "vs_ingest_build_rollups did not reach the locked day"
before_kill=$(v020 -c "$BUILT")
kill -9 "$builder_pid"
wait "$holder" 2>/dev/null || true
wait 2>/dev/null || true
wait_ready
after_kill=$(v020 -c "SELECT (SELECT string_agg(format('%s %s..%s', days, first_day, last_day), '; ')
                                FROM vs_ingest.rollups_to_build WHERE storage = 'public.old_hourly_blocks'::regclass)")
resumed=$(v020 -c "CALL vs_ingest_build_rollups(target => 'public.old_hourly')" 2>&1)
built=$(v020 -c "$BUILT")
left=$(v020 -c "SELECT count(*) FROM vs_ingest.rollups_to_build WHERE storage = 'public.old_hourly_blocks'::regclass")
day1="2023-07-01 1:24:468:12:12 2023-07-01 2:24:636:12:12 2023-07-01 3:24:804:12:12"
day2="2023-07-02 1:24:468:12:12 2023-07-02 2:24:636:12:12 2023-07-02 3:24:804:12:12"
if [ "$before_kill" = "$day1" ] && [ "$after_kill" = "1 2023-07-02..2023-07-02" ] && [ "$built" = "$day1 $day2" ] \
    && [ "$left" = 0 ] && grep -q "building the daily rollups of 1 days" <<<"$resumed"; then
    pass "vs_ingest_build_rollups committed the first day, was killed (kill -9) at the second, and the same call built only the second: both equal their rows"
else
    fail "building rollups: before the kill '$before_kill', to build after it '$after_kill', after the second call '$built' ($left left); it said: $resumed"
fi
# After a load, the rollups still equal an aggregate of the 5-minute view, computed here.
ROLLUPS_EQUAL="SELECT count(*) FROM (
    (SELECT link_id, day, samples::int, speed_sum, speed_min::int, speed_max::int,
            (SELECT sum(n)::int FROM unnest(hour_samples) n) FROM public.old_hourly_days
     EXCEPT ALL
     SELECT link_id, local_day, count(*)::int, sum(round(speed * 10))::int, min(round(speed * 10))::int,
            max(round(speed * 10))::int, count(*)::int FROM public.old_5min GROUP BY 1, 2)
    UNION ALL
    (SELECT link_id, local_day, count(*)::int, sum(round(speed * 10))::int, min(round(speed * 10))::int,
            max(round(speed * 10))::int, count(*)::int FROM public.old_5min GROUP BY 1, 2
     EXCEPT ALL
     SELECT link_id, day, samples::int, speed_sum, speed_min::int, speed_max::int,
            (SELECT sum(n)::int FROM unnest(hour_samples) n) FROM public.old_hourly_days)) x"
# The monthly rollups equal the daily ones summed per link, month and day type (each hour's too).
MONTHS_EQUAL="WITH k AS (SELECT d.*, date_trunc('month', d.day)::date AS month, extract(isodow FROM d.day) > 5 AS weekend
                      FROM public.old_hourly_days d),
     h AS (SELECT k.link_id, k.month, k.weekend, u.i, sum(u.n)::int AS n, sum(u.s)::int AS s
             FROM k, unnest(k.hour_samples, k.hour_speed_sum) WITH ORDINALITY AS u(n, s, i) GROUP BY 1, 2, 3, 4),
     a AS (SELECT link_id, month, weekend, array_agg(n ORDER BY i) AS hn, array_agg(s ORDER BY i) AS hs FROM h GROUP BY 1, 2, 3),
     want AS (SELECT link_id, month, weekend, count(*)::int AS days, sum(samples)::int AS samples,
                     sum(speed_sum)::bigint AS speed_sum, a.hn, a.hs
                FROM k JOIN a USING (link_id, month, weekend) GROUP BY link_id, month, weekend, a.hn, a.hs),
     got AS (SELECT link_id, month, weekend, days::int, samples, speed_sum, hour_samples, hour_speed_sum
               FROM public.old_hourly_months)
SELECT count(*) FROM ((SELECT * FROM got EXCEPT ALL SELECT * FROM want) UNION ALL (SELECT * FROM want EXCEPT ALL SELECT * FROM got)) x"
out=$(v020 -c "SET client_min_messages = warning" \
    -c "SELECT files_loaded FROM vs_ingest_dir('$FILES', '2023070[12]_5Min.zip', target => 'public.old_hourly')" \
    -c "SELECT count(*) FILTER (WHERE f.speed = h.speed[s.i]) || '/' || count(*)
          FROM public.old_hourly h CROSS JOIN LATERAL generate_series(1, 12) AS s(i)
          JOIN public.old_5min f ON f.link_id = h.link_id AND f.ts = h.hour + (s.i - 1) * interval '5 minutes'
         WHERE h.speed[s.i] IS NOT NULL AND h.hour < '2023-07-01 03:00+09' AND f.ts < '2023-07-01 03:00+09'" 2>&1)
read -r loaded equal <<<"$(tr '\n' ' ' <<<"$out")"
differing=$(v020 -c "$ROLLUPS_EQUAL" 2>&1)
months_differing=$(v020 -c "$MONTHS_EQUAL" 2>&1 || true)
link_months=$(v020 -c "SELECT count(*) FROM public.old_monthly" 2>&1 || true)
if [ "$loaded" = 2 ] && [ "${equal%/*}" = "${equal#*/}" ] && [ "${equal#*/}" -gt 0 ] && [ "$differing" = 0 ] \
    && [ "$months_differing" = 0 ] && [ "$link_months" -gt 0 ]; then
    pass "an updated 0.2.0 target loads (into both days built by CALL), its two views agree on all $equal slots of its first three hours, its rollups equal the 5-minute view's aggregates and its $link_months monthly rollups the daily ones summed"
else
    fail "loading into the updated 0.2.0 target: $out; rollup rows differing from the 5-minute view: $differing; monthly rows differing from the daily ones: $months_differing ($link_months rows)"
fi
echo

log "vs_ingest_convert_target('public.vs_its_hourly')"
out=$(sql "vs_ingest_convert_target" "SET client_min_messages = warning; SELECT vs_ingest_convert_target('public.vs_its_hourly')")
pass "vs_ingest_convert_target converted $out hourly rows"

log "$NEW_VERSION loads day 3 again (resumes the interrupted file), then day 4"
for day in 20230703 20230704; do
    out=$(sql "$NEW_VERSION: load $day" "SET client_min_messages = warning;
        SELECT files_seen, files_loaded, files_skipped, files_failed, rows_read, rows_loaded
          FROM vs_ingest_dir('$FILES', '$day*')")
    echo "    $day files_seen|files_loaded|files_skipped|files_failed|rows_read|rows_loaded: $out"
    if [ "$(cut -d'|' -f2,4 <<<"$out")" = "1|0" ]; then pass "$NEW_VERSION loaded $day"; else fail "$NEW_VERSION did not load $day"; fi
done
out=$(sql "$NEW_VERSION: load all again" "SET client_min_messages = warning;
    SELECT files_seen, files_loaded, files_skipped FROM vs_ingest_dir('$FILES', '*')")
if [ "$out" = "4|0|4" ]; then pass "a repeat load of the 4 files skips them all"; else fail "a repeat load of the 4 files gave files_seen|files_loaded|files_skipped $out, not 4|0|4"; fi
sql "day 3 ledger" "SELECT format('      file %s run %s %s %s chunks=%s rows_read=%s rows_loaded=%s', file_id, run_id,
                            regexp_replace(path, '.*/', ''), status, chunks, rows_read, rows_loaded)
                      FROM vs_ingest.file WHERE path LIKE '%20230703%' ORDER BY file_id"
echo

# --- the comparison with a clean load ----------------------------------------------------------
log "$NEW_VERSION loads the same 4 files into public.clean_hourly"
out=$(sql "clean load" "SET client_min_messages = warning;
    SELECT files_loaded FROM vs_ingest_dir('$FILES', '*', target => 'public.clean_hourly')")
[ "$out" = 4 ] || abort "the clean load loaded $out files, not 4"
COLS="hour, link_id, speed, travel_time, samples, speed_avg, speed_min, speed_max"
r=$(sql "compare" "SELECT (SELECT count(*) FROM public.vs_its_hourly),
    (SELECT count(*) FROM public.clean_hourly),
    (SELECT count(*) FROM ((SELECT $COLS FROM public.vs_its_hourly EXCEPT ALL SELECT $COLS FROM public.clean_hourly)
                           UNION ALL
                           (SELECT $COLS FROM public.clean_hourly EXCEPT ALL SELECT $COLS FROM public.vs_its_hourly)) d)")
read -r upgraded clean differ <<<"${r//|/ }"
if [ "$differ" = 0 ] && [ "$upgraded" = "$clean" ] && [ "$clean" -gt 0 ]; then
    pass "the upgraded table equals the clean load ($upgraded hourly rows, 0 differ)"
else
    fail "the upgraded table has $upgraded hourly rows, the clean load $clean; $differ rows differ"
fi
# The converted target's days 1-2 were stored before it kept rollups (its loads built days 3-4):
# CALL builds them, and then every day's rollups equal the clean load's.
to_build=$(sql "rollups to build" "SELECT string_agg(format('%s..%s', first_day, last_day), '; ')
                                     FROM vs_ingest.rollups_to_build WHERE rollups = 'public.vs_its_hourly_days'::regclass")
pg -c "CALL vs_ingest_build_rollups()" >/dev/null 2>&1 || abort "CALL vs_ingest_build_rollups() failed"
r=$(sql "compare rollups" "SELECT (SELECT count(*) FROM public.vs_its_daily),
    (SELECT count(*) FROM ((SELECT * FROM public.vs_its_hourly_days EXCEPT ALL SELECT * FROM public.clean_hourly_days)
                           UNION ALL
                           (SELECT * FROM public.clean_hourly_days EXCEPT ALL SELECT * FROM public.vs_its_hourly_days)) d),
    (SELECT count(*) FROM vs_ingest.rollups_to_build)")
read -r link_days differ left <<<"${r//|/ }"
if [ "$to_build" = "2023-07-01..2023-07-02" ] && [ "$differ" = 0 ] && [ "$left" = 0 ] && [ "$link_days" -gt 0 ]; then
    pass "the converted target's days stored before ($to_build) were built by CALL vs_ingest_build_rollups(): its $link_days link-days of rollups equal the clean load's"
else
    fail "rollups of the converted target: to build '$to_build' (expected 2023-07-01..2023-07-02), $differ of $link_days link-days differ from the clean load's, $left tables left to build"
fi
r=$(sql "coverage" "
    WITH u AS (SELECT * FROM vs_ingest_coverage('2023-07-01 00:00+09', '2023-07-05 00:00+09', 'public.vs_its_hourly')),
         c AS (SELECT * FROM vs_ingest_coverage('2023-07-01 00:00+09', '2023-07-05 00:00+09', 'public.clean_hourly'))
    SELECT (SELECT count(*) FROM c),
           (SELECT count(*) FROM ((SELECT hour, links_reported FROM u EXCEPT ALL SELECT hour, links_reported FROM c)
                                  UNION ALL (SELECT hour, links_reported FROM c EXCEPT ALL SELECT hour, links_reported FROM u)) d),
           (SELECT count(*) FROM ((SELECT * FROM u EXCEPT ALL SELECT * FROM c) UNION ALL (SELECT * FROM c EXCEPT ALL SELECT * FROM u)) d)")
read -r hours differ_reported differ_all <<<"${r//|/ }"
if [ "$differ_reported" = 0 ] && [ "$hours" -gt 0 ]; then
    pass "vs_ingest_coverage: the same links_reported in each of $hours hours"
else
    fail "vs_ingest_coverage: links_reported differs in $differ_reported of $hours hours"
fi
if [ "$differ_all" = 0 ]; then
    pass "vs_ingest_coverage: the same rows (links_expected, coverage, slots_missing too)"
else
    fail "vs_ingest_coverage: $differ_all rows differ in some column"
    sql "coverage diff" "
        SELECT format('      %s upgraded %s clean %s', u.hour, row(u.links_expected, u.links_reported, u.slots_missing),
                      row(c.links_expected, c.links_reported, c.slots_missing))
          FROM vs_ingest_coverage('2023-07-01 00:00+09', '2023-07-05 00:00+09', 'public.vs_its_hourly') u
          FULL JOIN vs_ingest_coverage('2023-07-01 00:00+09', '2023-07-05 00:00+09', 'public.clean_hourly') c USING (hour)
         WHERE row(u.*) IS DISTINCT FROM row(c.*) LIMIT 10"
    echo
fi
COUNTERS="rows_read, rows_loaded, rows_duplicate, rows_missing, rows_rejected, bytes"
out=$(sql "file counters" "
    WITH f AS (SELECT r.target, regexp_replace(f.path, '.*/', '') AS file, f.*
                 FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id) WHERE f.status = 'loaded')
    SELECT count(*) FROM ((SELECT file, $COUNTERS FROM f WHERE target = 'public.vs_its_hourly'
                           EXCEPT ALL SELECT file, $COUNTERS FROM f WHERE target = 'public.clean_hourly')
                          UNION ALL (SELECT file, $COUNTERS FROM f WHERE target = 'public.clean_hourly'
                           EXCEPT ALL SELECT file, $COUNTERS FROM f WHERE target = 'public.vs_its_hourly')) d")
if [ "$out" = 0 ]; then
    pass "the ledger's counters of each file ($COUNTERS) equal the clean load's"
else
    fail "$out ledger rows (file, $COUNTERS) differ from the clean load's"
fi
out=$(sql "day 3 resumed" "SELECT status FROM vs_ingest.file WHERE file_id = $DAY3_FILE")
if [ "$out" = resumed ]; then
    pass "0.1.0's interrupted file row $DAY3_FILE is 'resumed': $NEW_VERSION took over its offset and counters"
else
    fail "0.1.0's interrupted file row $DAY3_FILE is '$out', not 'resumed'"
fi

n_runs=$(tr ',' '\n' <<<"$RUNS_BEFORE" | wc -l)
n_files=$(tr ',' '\n' <<<"$FILES_BEFORE" | wc -l)
r=$(sql "history after" "SELECT
    (SELECT count(*) FROM vs_ingest.run WHERE run_id = ANY('{$RUNS_BEFORE}'::bigint[])),
    (SELECT count(*) FROM vs_ingest.file WHERE file_id = ANY('{$FILES_BEFORE}'::bigint[])),
    (SELECT status FROM vs_ingest.run WHERE run_id = $INTERRUPTED_RUN)")
read -r runs_kept files_kept interrupted <<<"${r//|/ }"
if [ "$runs_kept" = "$n_runs" ] && [ "$files_kept" = "$n_files" ] && [ -n "$interrupted" ]; then
    pass "the history from 0.1.0 is kept: $runs_kept of $n_runs runs, $files_kept of $n_files file rows, the interrupted run $INTERRUPTED_RUN ($interrupted)"
else
    fail "the history from 0.1.0: $runs_kept of $n_runs runs and $files_kept of $n_files file rows kept, interrupted run $INTERRUPTED_RUN: '${interrupted:-gone}'"
fi

if [ "$FAILED" != 0 ]; then
    echo "upgrade test: FAILED ($FAILED checks)"
    exit 1
fi
echo "upgrade test: passed ($((SECONDS - T0)) s)"
