#!/usr/bin/env bash
# Crash test: loads a multi-file directory while killing vs_ingest workers, or the backend waiting
# for them, with kill -9 at random moments (each kill makes the server restart). Then it runs the
# same vs_ingest_dir until it completes, and checks that the table and the counters equal an
# uninterrupted load of the same files.
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
chmod -R o+rX "$FILES"

psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
    -c "DROP DATABASE IF EXISTS vs_ingest_crash" -c "CREATE DATABASE vs_ingest_crash"
psql_q -c "CREATE EXTENSION vs_ingest"
psql_q -c "SET client_min_messages = warning" \
    -c "SELECT files_loaded FROM vs_ingest_dir('$FILES', '*.zip', target => 'public.clean')" >/dev/null

kills=0
for attempt in $(seq 1 "$KILLS"); do
    # Odd attempts kill a worker; even ones kill the backend waiting in vs_ingest_dir.
    psql_q -c "SET client_min_messages = warning" \
        -c "SELECT run_id FROM vs_ingest_dir('$FILES', '*.zip', target => 'public.crashed')" >/dev/null 2>&1 &
    caller=$!
    sleep "0.$((RANDOM % 4 + 1))"
    if [ $((attempt % 2)) = 1 ]; then
        victim="worker"
        pid=$(psql_q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'vs_ingest worker' ORDER BY random() LIMIT 1")
    else
        victim="waiting backend"
        pid=$(psql_q -c "SELECT pid FROM pg_stat_activity
                          WHERE backend_type = 'client backend' AND query LIKE '%vs_ingest_dir(%' AND pid <> pg_backend_pid()")
    fi
    run=$(psql_q -c "SELECT coalesce(max(run_id), 0) FROM vs_ingest.run WHERE target = 'public.crashed'")
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

psql_q -c "SET client_min_messages = warning" \
    -c "SELECT files_seen, files_loaded, files_skipped FROM vs_ingest_dir('$FILES', '*.zip', target => 'public.crashed')"
diff=$(psql_q -c "SELECT count(*) FROM ((SELECT * FROM public.clean EXCEPT ALL SELECT * FROM public.crashed)
                                        UNION ALL (SELECT * FROM public.crashed EXCEPT ALL SELECT * FROM public.clean)) d")
clean_rows=$(psql_q -c "SELECT count(*) FROM public.clean")
# The daily rollups of the killed and resumed loads equal those of the clean load.
rollups_diff=$(psql_q -c "SELECT count(*) FROM ((SELECT * FROM public.clean_daily EXCEPT ALL SELECT * FROM public.crashed_daily)
                                        UNION ALL (SELECT * FROM public.crashed_daily EXCEPT ALL SELECT * FROM public.clean_daily)) d")
counts=$(psql_q -c "SELECT (SELECT sum(f.rows_read) FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
                             WHERE r.target = 'public.crashed' AND f.status = 'loaded')
                         = (SELECT sum(f.rows_read) FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
                             WHERE r.target = 'public.clean' AND f.status = 'loaded')")
failed=$(psql_q -c "SELECT count(*) FROM vs_ingest.run WHERE target = 'public.crashed' AND status = 'failed'")
echo "crash test: $kills kills, $failed runs marked failed, $clean_rows hourly rows, $diff rows differ, $rollups_diff daily rollup rows differ, counters equal: $counts"
if [ "$diff" != 0 ] || [ "$rollups_diff" != 0 ] || [ "$counts" != t ] || [ "$kills" = 0 ]; then
    echo "crash test: FAILED"
    exit 1
fi
echo "crash test: passed"
