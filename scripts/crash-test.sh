#!/usr/bin/env bash
# Crash test: loads a multi-file directory while killing vs_ingest workers, or the backend waiting
# for them, with kill -9 at random moments (each kill makes the server restart). Then it runs the
# same vs_ingest_dir until it completes, and checks that the table and the counters equal an
# uninterrupted load of the same files. Then it replaces two of the days with corrected files
# (replace => true) under the same kind of kills, runs the same call until it completes, and
# checks the table against plain loads of the files it should now hold.
#   crash-test.sh GENERATOR PORT DATA_DIR        (a running cluster with vs_ingest installed)
set -euo pipefail
GEN=$1
PORT=$2
DATA=$3
FILES=/tmp/vs_ingest_regress/crash
KILLS=${VS_INGEST_CRASH_KILLS:-4}

psql_q() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d vs_ingest_crash "$@"; }
wait_ready() {
    for _ in $(seq 1 300); do
        psql -X -At -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "server did not come back" >&2
    return 1
}

rm -rf "$FILES" && mkdir -p "$FILES"
"$GEN" --out "$FILES" --links 5000 --days 4 --start 2023-05-01 --level 1 --seed 11 >/dev/null
rm -f "$FILES/manifest.json"
# Corrections of days 2 and 3 (other speeds, other lines missing, more links).
mkdir -p "$FILES/fixed"
"$GEN" --out "$FILES/fixed" --links 5500 --days 2 --start 2023-05-02 --level 1 --seed 12 >/dev/null
rm -f "$FILES/fixed/manifest.json"
chmod -R o+rX "$FILES"

psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
    -c "DROP DATABASE IF EXISTS vs_ingest_crash" -c "CREATE DATABASE vs_ingest_crash"
psql_q -c "CREATE EXTENSION vs_ingest"
psql_q -c "SET client_min_messages = warning" \
    -c "SELECT files_loaded FROM vs_ingest_dir('$FILES', '*.zip', target => 'public.clean')" >/dev/null

# kill_during CALL TARGET MS: runs CALL in the background and kill -9s, at a random moment within
# its first MS milliseconds, a worker (odd attempts) or the backend waiting in it (even ones),
# $KILLS times; counts kills.
kills=0
kill_during() {
    local call=$1 target=$2 ms=$3 attempt caller victim pid run chunks
    for attempt in $(seq 1 "$KILLS"); do
        psql_q -c "SET client_min_messages = warning" -c "$call" >/dev/null 2>&1 &
        caller=$!
        sleep "$(awk -v ms=$((RANDOM % ms + 50)) 'BEGIN { print ms / 1000 }')"
        if [ $((attempt % 2)) = 1 ]; then
            victim="worker"
            pid=$(psql_q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'vs_ingest worker' ORDER BY random() LIMIT 1")
        else
            victim="waiting backend"
            pid=$(psql_q -c "SELECT pid FROM pg_stat_activity
                              WHERE backend_type = 'client backend' AND query LIKE '%vs_ingest_dir(%' AND pid <> pg_backend_pid()")
        fi
        run=$(psql_q -c "SELECT coalesce(max(run_id), 0) FROM vs_ingest.run WHERE target = '$target'")
        chunks=$(psql_q -c "SELECT coalesce(sum(chunks), 0) FROM vs_ingest.file WHERE run_id = $run")
        if [ -z "$pid" ] || ! kill -9 "$pid" 2>/dev/null; then
            echo "attempt $attempt: run $run ended before its $victim could be killed"
            wait "$caller" || true
            continue
        fi
        echo "attempt $attempt: kill -9 $victim $pid of run $run ($chunks chunks committed so far)"
        kills=$((kills + 1))
        wait "$caller" || true
        sleep 1
        wait_ready
    done
}
# differing A B: rows of A not in B and of B not in A.
differing() {
    psql_q -c "SELECT count(*) FROM ((SELECT * FROM $1 EXCEPT ALL SELECT * FROM $2)
                                     UNION ALL (SELECT * FROM $2 EXCEPT ALL SELECT * FROM $1)) d"
}

CALL="SELECT run_id FROM vs_ingest_dir('$FILES', '*.zip', target => 'public.crashed')"
kill_during "$CALL" public.crashed 900
psql_q -c "SET client_min_messages = warning" \
    -c "SELECT files_seen, files_loaded, files_skipped FROM vs_ingest_dir('$FILES', '*.zip', target => 'public.crashed')"
diff=$(differing public.clean public.crashed)
clean_rows=$(psql_q -c "SELECT count(*) FROM public.clean")
# The daily and monthly rollups of the killed and resumed loads equal those of the clean load.
rollups_diff=$(( $(differing public.clean_daily public.crashed_daily) + $(differing public.clean_monthly public.crashed_monthly) ))
counts=$(psql_q -c "SELECT (SELECT sum(f.rows_read) FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
                             WHERE r.target = 'public.crashed' AND f.status = 'loaded')
                         = (SELECT sum(f.rows_read) FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
                             WHERE r.target = 'public.clean' AND f.status = 'loaded')")
failed=$(psql_q -c "SELECT count(*) FROM vs_ingest.run WHERE target = 'public.crashed' AND status = 'failed'")
echo "crash test: $kills kills, $failed runs marked failed, $clean_rows hourly rows, $diff rows differ, $rollups_diff daily and monthly rollup rows differ, counters equal: $counts"
if [ "$diff" != 0 ] || [ "$rollups_diff" != 0 ] || [ "$counts" != t ] || [ "$kills" = 0 ]; then
    echo "crash test: FAILED"
    exit 1
fi

# Replacing days 2 and 3 under kills. The reference holds what the table must hold afterwards,
# loaded plainly: days 1 and 4 as first delivered, days 2 and 3 corrected.
# (The load of the corrected files, timed: the kills below land within as long.)
started=$(date +%s%N)
psql_q -c "SET client_min_messages = warning" \
    -c "SELECT files_loaded FROM vs_ingest_dir('$FILES/fixed', '*.zip', target => 'public.reference')" >/dev/null
took_ms=$(( ($(date +%s%N) - started) / 1000000 ))
psql_q -c "SET client_min_messages = warning" \
    -c "SELECT files_loaded FROM vs_ingest_dir('$FILES', '2023050[14]_5Min.zip', target => 'public.reference')" >/dev/null
kills=0
REPLACE="SELECT run_id FROM vs_ingest_dir('$FILES/fixed', '*.zip', target => 'public.crashed', replace => true)"
# (Some kills land after a replaced day committed, some before.)
kill_during "$REPLACE" public.crashed "$took_ms"
# Whatever the kills interrupted, each day is the old one or the new one, whole.
mixed=""
for day in 2023-05-01 2023-05-02 2023-05-03 2023-05-04; do
    in_day="(hour AT TIME ZONE 'Asia/Seoul')::date = '$day'"
    old=$(differing "(SELECT * FROM public.clean WHERE $in_day) c" "(SELECT * FROM public.crashed WHERE $in_day) x")
    new=$(differing "(SELECT * FROM public.reference WHERE $in_day) r" "(SELECT * FROM public.crashed WHERE $in_day) x")
    [ "$old" = 0 ] || [ "$new" = 0 ] || mixed="$mixed $day"
done
psql_q -c "SET client_min_messages = warning" -c "${REPLACE/run_id/files_seen, files_loaded}"
diff=$(differing public.reference public.crashed)
rollups_diff=$(( $(differing public.reference_daily public.crashed_daily) + $(differing public.reference_monthly public.crashed_monthly) ))
superseded=$(psql_q -c "SELECT string_agg(DISTINCT f.path, ' ' ORDER BY f.path) FROM vs_ingest.file f
                         JOIN vs_ingest.run r USING (run_id)
                        WHERE r.target = 'public.crashed' AND f.status = 'superseded' AND f.path NOT LIKE '%/fixed/%'")
echo "crash test (replace): $kills kills, days neither old nor new after them:${mixed:- none}; then $diff rows differ, $rollups_diff daily and monthly rollup rows differ; superseded: $superseded"
if [ "$diff" != 0 ] || [ "$rollups_diff" != 0 ] || [ "$kills" = 0 ] || [ -n "$mixed" ] \
        || [ "$superseded" != "$FILES/20230502_5Min.zip $FILES/20230503_5Min.zip" ]; then
    echo "crash test: FAILED"
    exit 1
fi
echo "crash test: passed"
