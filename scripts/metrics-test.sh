#!/usr/bin/env bash
# Metrics test: starts Debian's prometheus-postgres-exporter with monitoring/queries.yaml against
# a database where vs_ingest has loaded (the crash test's), as a role that is only in pg_monitor,
# scrapes /metrics once, and checks every vs_ingest metric family against the catalog read as a
# superuser, and that monitoring/grafana-dashboard.json queries only metrics it reports.
#   metrics-test.sh PORT DATABASE
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=$1
DB=$2
EXPORTER=${VS_INGEST_EXPORTER:-/usr/bin/prometheus-postgres-exporter}
LISTEN=127.0.0.1:${VS_INGEST_EXPORTER_PORT:-9487}
OUT=target/metrics
mkdir -p "$OUT"

[ -x "$EXPORTER" ] || { echo "metrics test: $EXPORTER is missing (apt install prometheus-postgres-exporter)"; exit 1; }
psql_q() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" "$@"; }
failures=0
check() {  # check WHAT GOT WANT
    if [ "$2" = "$3" ]; then
        echo "metrics test: PASS $1 = $2"
    else
        echo "metrics test: FAIL $1: the exporter says '$2', the catalog '$3'"
        failures=$((failures + 1))
    fi
}

psql_q -c "DO \$\$ BEGIN CREATE ROLE vs_ingest_metrics LOGIN IN ROLE pg_monitor;
                   EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" \
       -c "DO \$\$ BEGIN CREATE ROLE vs_ingest_nobody LOGIN;
                   EXCEPTION WHEN duplicate_object THEN NULL; END \$\$"
# A source, so that its freshness and coverage are reported (disabled: the scheduler does not
# run here), and one with an arrival deadline, whose alerts are evaluated as a tick would: its
# target's days stop in 2023, so the days since are one overdue alert.
psql_q -c "SELECT vs_ingest_drop_source(name) FROM vs_ingest.source WHERE name IN ('metrics', 'metrics_due')" >/dev/null
psql_q -c "SELECT vs_ingest_add_source('metrics', '/tmp/vs_ingest_regress/crash', '*.zip',
                                       target => 'public.reference', enabled => false)" >/dev/null
psql_q -c "SELECT vs_ingest_add_source('metrics_due', '/tmp/vs_ingest_regress/crash', '*.zip',
                                       target => 'public.reference', due_after => '1 hour')" \
       -c "SELECT raised FROM vs_ingest.evaluate_alerts()" >/dev/null

# Days whose rollups are to build, as after the update from 0.2.0: public.clean's rollups made anew.
psql_q -c "SET client_min_messages = warning" \
       -c "SELECT vs_ingest.drop_rollups('public.clean', 'public.clean_blocks'),
                  vs_ingest.ensure_rollups('public.clean', 'public.clean_blocks')" >/dev/null

DATA_SOURCE_NAME="postgresql://vs_ingest_metrics@127.0.0.1:$PORT/$DB?sslmode=disable" \
    "$EXPORTER" --web.listen-address="$LISTEN" --extend.query-path=monitoring/queries.yaml \
    --disable-settings-metrics >"$OUT/exporter.log" 2>&1 &
exporter=$!
trap 'kill $exporter 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://$LISTEN/metrics" >"$OUT/metrics.txt" 2>/dev/null && break
    sleep 0.1
done
[ -s "$OUT/metrics.txt" ] || { echo "metrics test: the exporter did not answer"; cat "$OUT/exporter.log"; exit 1; }

# metric NAME LABEL_FILTER: the value of the one sample of NAME whose labels contain the filter.
metric() {
    grep -E "^$1[{ ]" "$OUT/metrics.txt" | grep -F -- "$2" | awk '{print $NF}' | head -1
}
# Integers as the exporter prints them (1234 or 1.234e+06) -> 1234.
int() { awk -v v="$1" 'BEGIN { if (v == "") print "missing"; else printf "%.0f\n", v }'; }

check "the queries file loads without errors" \
    "$(grep -E '^pg_exporter_user_queries_load_error' "$OUT/metrics.txt" | awk '{print $NF}' | sort -u)" "0"
check "the scrape has no error" "$(metric pg_exporter_last_scrape_error '')" "0"
for status in loaded skipped failed superseded; do
    check "vs_ingest_file_count{status=\"$status\"}" \
        "$(int "$(metric vs_ingest_file_count "status=\"$status\"")")" \
        "$(psql_q -c "SELECT count(*) FROM vs_ingest.file WHERE status = '$status'")"
done
check "vs_ingest_run_count{status=\"failed\"}" "$(int "$(metric vs_ingest_run_count 'status="failed"')")" \
    "$(psql_q -c "SELECT count(*) FROM vs_ingest.run WHERE status = 'failed'")"
check "vs_ingest_target_rows_loaded{target=\"public.crashed\"}" \
    "$(int "$(metric vs_ingest_target_rows_loaded 'target="public.crashed"')")" \
    "$(psql_q -c "SELECT sum(f.rows_loaded) FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
                   WHERE r.target = 'public.crashed'")"
check "vs_ingest_target_input_bytes{target=\"public.clean\"}" \
    "$(int "$(metric vs_ingest_target_input_bytes 'target="public.clean"')")" \
    "$(psql_q -c "SELECT sum(f.input_done) FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
                   WHERE r.target = 'public.clean'")"
check "vs_ingest_rollups_days_to_build" "$(int "$(metric vs_ingest_rollups_days_to_build '')")" \
    "$(psql_q -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.clean_blocks'::regclass")"
for counter in rows_filtered rows_unknown; do
    check "vs_ingest_target_$counter{target=\"public.clean\"}" \
        "$(int "$(metric vs_ingest_target_$counter 'target="public.clean"')")" \
        "$(psql_q -c "SELECT sum(f.$counter) FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
                       WHERE r.target = 'public.clean'")"
done
# Rejects by reason: every reason the catalog has, with its count (the role cannot read the lines).
want=$(psql_q -c "SELECT string_agg(reason || '=' || n, ' ' ORDER BY reason)
                    FROM (SELECT reason, count(*) AS n FROM vs_ingest.reject GROUP BY reason) r")
got=$(grep -E '^vs_ingest_reject_count\{' "$OUT/metrics.txt" \
      | sed -E 's/.*reason="([^"]*)".* ([^ ]+)$/\1 \2/' | sort | while read -r reason value; do
          printf '%s=%s ' "$reason" "$(int "$value")"; done | sed 's/ $//')
check "vs_ingest_reject_count by reason" "$got" "$want"
[ -n "$want" ] || { echo "metrics test: FAIL the crash test's files have no rejected line to count"; failures=$((failures + 1)); }
# The source: the newest hour of its target, and the newest day's coverage.
check "vs_ingest_source_enabled{source=\"metrics\"}" "$(metric vs_ingest_source_enabled 'source="metrics"')" "0"
age=$(metric vs_ingest_source_age_seconds 'source="metrics"')
want_age=$(psql_q -c "SELECT extract(epoch FROM clock_timestamp() - (max(hour) + interval '1 hour'))::bigint
                        FROM vs_ingest.coverage WHERE target_oid = 'public.reference'::regclass")
check "vs_ingest_source_age_seconds{source=\"metrics\"} within 60 s of the catalog's" \
    "$(awk -v a="$age" -v b="$want_age" 'BEGIN { d = a - b; if (a != "" && d < 60 && d > -60) print "close"; else print a }')" "close"
coverage=$(metric vs_ingest_source_day_coverage 'source="metrics"')
want_coverage=$(psql_q -c "SELECT round(avg(c.coverage)::numeric, 6)
                             FROM (SELECT max(hour) AS newest FROM vs_ingest.coverage
                                    WHERE target_oid = 'public.reference'::regclass) n,
                                  vs_ingest_coverage(date_trunc('day', n.newest AT TIME ZONE 'Asia/Seoul')
                                                         AT TIME ZONE 'Asia/Seoul',
                                                     n.newest + interval '1 hour', 'public.reference') c")
check "vs_ingest_source_day_coverage{source=\"metrics\"}" \
    "$(awk -v v="$coverage" 'BEGIN { if (v == "") print "missing"; else printf "%.6f\n", v }')" "$want_coverage"
check "vs_ingest_alert_open{kind=\"overdue\"}" "$(int "$(metric vs_ingest_alert_open 'kind="overdue"')")" \
    "$(psql_q -c "SELECT count(*) FROM vs_ingest.alerts WHERE kind = 'overdue' AND source = 'metrics_due'")"
for family in vs_ingest_loading_files vs_ingest_last_run_seconds vs_ingest_last_run_mb_per_second; do
    check "$family is reported" "$([ -n "$(metric "$family" '')" ] && echo yes || echo no)" "yes"
done
# Every metric the Grafana dashboard's panels query is one the exporter reports.
unknown=$(grep -o '"expr": "[^"]*"' monitoring/grafana-dashboard.json | grep -oE 'vs_ingest_[a-z_]+' | sort -u \
          | while read -r name; do grep -qE "^$name[{ ]" "$OUT/metrics.txt" || printf '%s ' "$name"; done)
check "metrics the dashboard queries that the exporter does not report" "${unknown:-none}" "none"
# A role in neither pg_monitor nor pg_read_server_files gets nothing.
refused=$(psql -X -q -At -h 127.0.0.1 -p "$PORT" -U vs_ingest_nobody -d "$DB" \
               -c "SELECT * FROM vs_ingest.reject_counts()" 2>&1 || true)
check "reject_counts for a role without pg_monitor" "$(echo "$refused" | grep -o 'permission denied' | head -1)" \
    "permission denied"

psql_q -c "SELECT vs_ingest_drop_source(name) FROM vs_ingest.source WHERE name IN ('metrics', 'metrics_due')" \
       -c "SELECT cleared FROM vs_ingest.evaluate_alerts()" >/dev/null
if [ "$failures" != 0 ]; then
    echo "metrics test: FAILED ($failures checks; $OUT/metrics.txt, $OUT/exporter.log)"
    exit 1
fi
echo "metrics test: passed"
