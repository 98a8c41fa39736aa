#!/usr/bin/env bash
# The distributed tests (issue 12) on a local Citus cluster (scripts/citus.sh: a coordinator and two
# workers, Citus built from ../shared/vendor when missing). Every load is compared with a local
# load of the same files on the coordinator, which the suite's other tests check against an
# independent computation:
#   1. a load on the coordinator into a distributed target equals the local load (rows, counters,
#      coverage), and the coordinator's shell tables stay empty;
#   2. a late file merges exactly (first sample wins, same loaded and duplicate counts);
#   3. nodes => 'workers' spreads the files over both workers and equals the local load, with the
#      node of each file in the coordinator's ledger; the rollups' turn holds across nodes;
#   4. kill -9 of a loading process on a worker node mid-load (the node restarts), then the same
#      call: equal to the clean load, no in-doubt transaction left;
#   5. kill -9 of the coordinator's loading process mid-load, then the same call: equal too;
#   6. the refusals: a spread load into a local target, a distributed target without its stage;
#   7. replace => true from the coordinator: the day equals a load of the corrected file alone, the
#      other day is unchanged byte for byte, the earlier files are superseded; spread, it is refused;
#   8. a local target loaded, then distributed: its rows and rollups move to the shards, and a load
#      spread over the workers goes on keeping them; rollups made anew over stored days (as the
#      update from 0.2.0 makes them) are built by a spread load of the day, then by
#      vs_ingest_build_rollups;
#   9. retention drops a day's daily and monthly rollups with its rows;
#  10. a loading role that is not the target's owner, without the rollups' grants: refused (42501)
#      with the tables to grant.
# After every load, the daily and monthly rollups (distributed, colocated with the storage) equal
# the local target's, which the other suites check against the 5-minute data.
# Needs the extension installed (scripts/test.sh installs it first).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
GEN=${1:-$ROOT/target/debug/vs-ingest-gen}
FILES=/tmp/vs_ingest_citus
PORT=${VS_INGEST_CITUS_PORT:-54341}
DB=vs_ingest_citus
. scripts/cluster.sh

failures=0
check() {
    local what=$1 got=$2 want=$3
    if [ "$got" = "$want" ]; then
        echo "  ok: $what"
    else
        echo "  FAILED: $what: got '$got', want '$want'"
        failures=$((failures + 1))
    fi
}
q() { as_postgres "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d "$DB" -c "SET client_min_messages = error" -c "$2"; }
qc() { q "$PORT" "$1"; }
wait_ready() {
    for _ in $(seq 1 300); do
        as_postgres "$PG_BIN/psql" -X -At -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "server on port $1 did not come back" >&2
    return 1
}
# The summary columns compared between two loads (the run id and timings differ).
summary="files_seen || '/' || files_loaded || '/' || files_skipped || '/' || files_failed || '/' || rows_read
         || '/' || rows_loaded || '/' || rows_duplicate || '/' || rows_rejected"
load() { qc "SELECT $summary FROM vs_ingest_dir($1)"; }
# Rows of query $1 and not of query $2, and of $2 and not of $1 (EXCEPT ALL, both ways).
rows_differ() {
    qc "SELECT count(*) FROM ((($1) EXCEPT ALL ($2)) UNION ALL (($2) EXCEPT ALL ($1))) d"
}
# Rows in one storage table and not in the other, both ways.
differ() { rows_differ "SELECT * FROM $1_blocks" "SELECT * FROM $2_blocks"; }
# Daily and monthly rollup rows in one target and not in the other, both ways (of the days from $3
# to $4 and their months; all of them when absent).
rollups_differ() {
    local days="WHERE day BETWEEN '${3:-1970-01-01}' AND '${4:-9999-12-31}'"
    local months="WHERE month BETWEEN date_trunc('month', '${3:-1970-01-01}'::date) AND '${4:-9999-12-31}'"
    echo $(( $(rows_differ "SELECT * FROM $1_days $days" "SELECT * FROM $2_days $days")
             + $(rows_differ "SELECT * FROM $1_months $months" "SELECT * FROM $2_months $months") ))
}
# Monthly rollup rows of a target that are not its daily rollup rows summed, both ways.
months_differ_from_days() {
    qc "WITH d AS (SELECT link_id, date_trunc('month', day)::date AS month, extract(isodow FROM day) > 5 AS weekend,
                          count(*)::smallint AS days, sum(samples)::int AS samples, sum(speed_sum)::bigint AS speed_sum
                     FROM $1_days GROUP BY 1, 2, 3),
             h AS (SELECT link_id, date_trunc('month', day)::date AS month, extract(isodow FROM day) > 5 AS weekend, i,
                          sum(s)::int AS s, sum(v)::int AS v
                     FROM $1_days, unnest(hour_samples, hour_speed_sum) WITH ORDINALITY u(s, v, i) GROUP BY 1, 2, 3, 4),
             a AS (SELECT link_id, month, weekend, array_agg(s ORDER BY i) AS s, array_agg(v ORDER BY i) AS v
                     FROM h GROUP BY 1, 2, 3),
             want AS (SELECT d.link_id, d.month, d.weekend, d.days, d.samples, d.speed_sum, a.s, a.v
                        FROM d JOIN a USING (link_id, month, weekend))
        SELECT count(*) FROM ((SELECT * FROM want EXCEPT ALL SELECT * FROM $1_months)
                              UNION ALL (SELECT * FROM $1_months EXCEPT ALL SELECT * FROM want)) x"
}
coverage_differ() {
    qc "SELECT count(*) FROM ((SELECT hour, links, slot_links FROM vs_ingest.coverage WHERE target_oid = '$1'::regclass
                               EXCEPT SELECT hour, links, slot_links FROM vs_ingest.coverage WHERE target_oid = '$2'::regclass)
                              UNION ALL
                              (SELECT hour, links, slot_links FROM vs_ingest.coverage WHERE target_oid = '$2'::regclass
                               EXCEPT SELECT hour, links, slot_links FROM vs_ingest.coverage WHERE target_oid = '$1'::regclass)) d"
}
# kill_loader PORT WHAT QUERY: waits (20 s at most) until QUERY, on the node at PORT, names the
# process loading a file that has a committed chunk, and kill -9s it (the node then restarts).
kill_loader() {
    local port=$1 what=$2 query=$3 victim=""
    for _ in $(seq 1 400); do
        victim=$(q "$port" "$query")
        [ -n "$victim" ] && break
        sleep 0.05
    done
    if [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null; then
        echo "  killed loading process $victim on $what after a committed chunk"
    else
        echo "  FAILED: no loading process with a committed chunk on $what to kill"
        failures=$((failures + 1))
    fi
}
# Settles two-phase commits left by a kill on every node (Citus also does it every minute).
recover_2pc() {
    local p
    for p in "$PORT" $((PORT + 1)) $((PORT + 2)); do q "$p" "SELECT recover_prepared_transactions()" >/dev/null; done
}
in_doubt() {
    local p total=0 n
    for p in "$PORT" $((PORT + 1)) $((PORT + 2)); do
        n=$(q "$p" "SELECT count(*) FROM pg_prepared_xacts")
        total=$((total + n))
    done
    echo "$total"
}

echo "== files"
rm -rf "$FILES" && mkdir -p "$FILES/days" "$FILES/late" "$FILES/crash"
"$GEN" --out "$FILES/days" --links 3000 --days 2 --start 2023-07-01 --level 1 --seed 1 >/dev/null
"$GEN" --out "$FILES/late" --links 4000 --days 1 --start 2023-07-01 --level 1 --seed 2 --container gz >/dev/null
"$GEN" --out "$FILES/crash" --links 6000 --days 6 --start 2023-05-01 --level 1 --seed 11 >/dev/null
rm -f "$FILES"/*/manifest.json
chmod -R a+rX "$FILES"

./scripts/citus.sh start "$FILES"

echo "== 1. a load on the coordinator into a distributed target"
qc "SELECT vs_ingest_create_target('public.local_hourly')" >/dev/null
qc "SELECT vs_ingest_create_target('public.dist_hourly', distributed => true, shard_count => 6)" >/dev/null
check "the storage is distributed by link_id" \
    "$(qc "SELECT partmethod::text || ':' || column_to_column_name(logicalrelid, partkey) FROM pg_dist_partition
            WHERE logicalrelid = 'public.dist_hourly_blocks'::regclass")" "h:link_id"
local_days=$(load "'$FILES/days', '*.zip', target => 'public.local_hourly'")
dist_days=$(load "'$FILES/days', '*.zip', target => 'public.dist_hourly'")
check "same summary as the local load ($local_days)" "$dist_days" "$local_days"
check "same rows as the local load" "$(differ public.dist_hourly public.local_hourly)" 0
check "same coverage" "$(coverage_differ public.dist_hourly public.local_hourly)" 0
check "the rollups are distributed, colocated with the storage" \
    "$(qc "SELECT count(DISTINCT colocationid) || '/' || count(*) FROM pg_dist_partition
            WHERE logicalrelid IN ('public.dist_hourly_blocks'::regclass, 'public.dist_hourly_days'::regclass,
                                   'public.dist_hourly_months'::regclass)")" "1/3"
check "same daily and monthly rollups" "$(rollups_differ public.dist_hourly public.local_hourly)" 0
check "some rollups were written, the monthly ones the daily ones summed" \
    "$(qc "SELECT count(*) > 0 FROM public.dist_monthly")/$(months_differ_from_days public.dist_hourly)" "t/0"
check "the coordinator's shell tables hold nothing" \
    "$(qc "SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree('public.dist_hourly_blocks')
            UNION ALL SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree('public.dist_hourly_days')
            UNION ALL SELECT pg_relation_size('public.dist_hourly_months')" | sort -u | tr '\n' ' ')" "0 "
check "shards on both workers" \
    "$(qc "SELECT count(DISTINCT nodeport) FROM pg_dist_shard_placement p JOIN pg_dist_shard s USING (shardid)
            WHERE s.logicalrelid = 'public.dist_hourly_blocks'::regclass")" 2
check "the hourly view reads the same rows" \
    "$(rows_differ "SELECT * FROM public.dist_hourly" "SELECT * FROM public.local_hourly")" 0
check "a link's day through the hourly view" \
    "$(qc "SELECT string_agg(hour || ':' || samples, ',' ORDER BY hour) FROM public.dist_hourly WHERE link_id =
             (SELECT min(link_id) FROM public.local_hourly) AND local_day = '2023-07-01'")" \
    "$(qc "SELECT string_agg(hour || ':' || samples, ',' ORDER BY hour) FROM public.local_hourly WHERE link_id =
             (SELECT min(link_id) FROM public.local_hourly) AND local_day = '2023-07-01'")"

echo "== 2. a late file merges exactly"
local_late=$(load "'$FILES/late', '*.gz', target => 'public.local_hourly'")
dist_late=$(load "'$FILES/late', '*.gz', target => 'public.dist_hourly'")
check "same summary as the local late load ($local_late)" "$dist_late" "$local_late"
check "some samples were duplicates" "$(echo "$dist_late" | cut -d/ -f7 | awk '{print ($1 > 0)}')" 1
check "same rows after the late file" "$(differ public.dist_hourly public.local_hourly)" 0
check "same coverage after the late file" "$(coverage_differ public.dist_hourly public.local_hourly)" 0
check "same rollups after the late file" "$(rollups_differ public.dist_hourly public.local_hourly)" 0
check "the stage is left empty" "$(qc "SELECT count(*) FROM public.dist_hourly_blocks_stage")" 0

echo "== 3. nodes => 'workers'"
qc "SELECT vs_ingest_create_target('public.spread_hourly', distributed => true, shard_count => 6)" >/dev/null
spread_days=$(load "'$FILES/days', '*.zip', target => 'public.spread_hourly', nodes => 'workers'")
check "same summary as the local load" "$spread_days" "$local_days"
spread_late=$(load "'$FILES/late', '*.gz', target => 'public.spread_hourly', nodes => 'workers'")
check "same late-file summary as the local load" "$spread_late" "$local_late"
check "same rows as the local load" "$(differ public.spread_hourly public.local_hourly)" 0
check "same coverage" "$(coverage_differ public.spread_hourly public.local_hourly)" 0
check "same rollups, written on the worker nodes" "$(rollups_differ public.spread_hourly public.local_hourly)" 0
check "the two days went to both workers" \
    "$(qc "SELECT count(DISTINCT f.node) FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
            WHERE r.target = 'public.spread_hourly' AND f.path LIKE '%/days/%'")" 2
check "the late file went to the node of its day" \
    "$(qc "SELECT count(DISTINCT f.node) FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
            WHERE r.target = 'public.spread_hourly' AND (f.path LIKE '%/late/%' OR f.path LIKE '%/days/20230701%')")" 1
check "every file row names its node and its run there" \
    "$(qc "SELECT count(*) FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
            WHERE r.target = 'public.spread_hourly' AND (f.node IS NULL OR f.node_run IS NULL)")" 0
again=$(load "'$FILES/days', '*.zip', target => 'public.spread_hourly', nodes => 'workers'")
check "loading the same files again skips them" "$(echo "$again" | cut -d/ -f1-3)" "2/0/2"
# The monthly rollups' turn holds across nodes: a session on the second worker takes it
# (vs_ingest.lock_month) and holds it 10 s; a spread load of a new day, which goes to the first
# worker, waits for it (Citus takes the lock on every node in one order: the wait shows on the
# first node the holder locked, the coordinator), then writes exact rollups.
mkdir -p "$FILES/more"
"$GEN" --out "$FILES/more" --links 3000 --days 1 --start 2023-07-03 --level 1 --seed 9 >/dev/null
rm -f "$FILES/more/manifest.json" && chmod -R a+rX "$FILES/more"
local_more=$(load "'$FILES/more', '*.zip', target => 'public.local_hourly'")
q $((PORT + 2)) "BEGIN; SELECT vs_ingest.lock_month('public.spread_hourly_days', '2023-07-03');
                 SELECT pg_sleep(10); COMMIT;" >/dev/null &
holder=$!
sleep 1
load "'$FILES/more', '*.zip', target => 'public.spread_hourly', nodes => 'workers'" > "$FILES/more.out" &
loader=$!
waited=0
for _ in $(seq 1 80); do
    for p in "$PORT" $((PORT + 1)) $((PORT + 2)); do
        n=$(q "$p" "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'public.spread_hourly_months'::regclass")
        waited=$((waited + n))
    done
    [ "$waited" -gt 0 ] && break
    sleep 0.1
done
check "the load waits for the turn held on the second worker" "$waited" 1
check "the new day went to the first worker" \
    "$(qc "SELECT f.node FROM vs_ingest.file f WHERE f.path = '$FILES/more/20230703_5Min.zip' ORDER BY f.file_id DESC LIMIT 1")" \
    "127.0.0.1:$((PORT + 1))"
wait "$holder"
wait "$loader"
check "then it loads as the local load does" "$(cat "$FILES/more.out")" "$local_more"
check "and the rollups equal the local load's" "$(rollups_differ public.spread_hourly public.local_hourly 2023-07-01 2023-07-03)" 0

# Sections 4 and 5 kill a loader between two commits of a file: a loader commits a local day at a
# time and each file here is one day, so the nodes' workers commit every block of six hours for
# them (a test-only setting, read by each worker when it starts).
for p in "$PORT" $((PORT + 1)) $((PORT + 2)); do
    q "$p" "ALTER SYSTEM SET vs_ingest.test_commit_every_hours = 6" >/dev/null
    q "$p" "SELECT pg_reload_conf()" >/dev/null
done
echo "== 4. kill -9 of a loading process on a worker node, then the same call"
qc "SELECT vs_ingest_create_target('public.crash_hourly', distributed => true, shard_count => 6)" >/dev/null
clean=$(load "'$FILES/crash', '*.zip', target => 'public.local_hourly'")
qc "SELECT * FROM vs_ingest_dir('$FILES/crash', '*.zip', target => 'public.crash_hourly', nodes => 'workers')" \
    >/dev/null 2>&1 &
caller=$!
kill_loader $((PORT + 1)) "worker node :$((PORT + 1))" \
    "SELECT worker_pid FROM vs_ingest.file WHERE status = 'loading' AND chunks > 0 AND worker_pid IS NOT NULL
                                            AND path LIKE '$FILES/crash/%' LIMIT 1"
wait "$caller" || true
wait_ready $((PORT + 1))
check "the interrupted files failed in the coordinator's ledger" \
    "$(qc "SELECT count(*) > 0 FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
            WHERE r.target = 'public.crash_hourly' AND f.status = 'failed' AND f.error LIKE 'interrupted on node%'")" t
qc "SELECT * FROM vs_ingest_dir('$FILES/crash', '*.zip', target => 'public.crash_hourly', nodes => 'workers')" >/dev/null
recover_2pc
crash_rows=$(qc "SELECT count(*) FROM public.crash_hourly_blocks")
check "after the same call: same rows as the clean load ($crash_rows block rows)" \
    "$(rows_differ "SELECT * FROM public.crash_hourly_blocks" \
                   "SELECT * FROM public.local_hourly_blocks WHERE day BETWEEN '2023-05-01' AND '2023-05-06'")" 0
check "rows read by the files loaded, counted once: same as the clean load" \
    "$(qc "SELECT sum(f.rows_read) FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
            WHERE r.target = 'public.crash_hourly' AND f.status = 'loaded'")" "$(echo "$clean" | cut -d/ -f5)"
check "every file loaded once" \
    "$(qc "SELECT count(*) FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
            WHERE r.target = 'public.crash_hourly' AND f.status = 'loaded'")" 6
check "same rollups as the clean load" \
    "$(rollups_differ public.crash_hourly public.local_hourly 2023-05-01 2023-05-06)" 0
check "no in-doubt transaction left on any node" "$(in_doubt)" 0

echo "== 5. kill -9 of the coordinator's loading process, then the same call"
qc "SELECT vs_ingest_create_target('public.crash2_hourly', distributed => true, shard_count => 6)" >/dev/null
qc "SELECT * FROM vs_ingest_dir('$FILES/crash', '*.zip', target => 'public.crash2_hourly')" >/dev/null 2>&1 &
caller=$!
kill_loader "$PORT" "the coordinator" \
    "SELECT f.worker_pid FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
      WHERE r.target = 'public.crash2_hourly' AND f.status = 'loading' AND f.chunks > 0 LIMIT 1"
wait "$caller" || true
wait_ready "$PORT"
qc "SELECT * FROM vs_ingest_dir('$FILES/crash', '*.zip', target => 'public.crash2_hourly')" >/dev/null
recover_2pc
check "after the same call: same rows as the worker-node load" "$(differ public.crash2_hourly public.crash_hourly)" 0
check "same rollups" "$(rollups_differ public.crash2_hourly public.crash_hourly)" 0
check "same coverage" "$(coverage_differ public.crash2_hourly public.crash_hourly)" 0
check "no in-doubt transaction left on any node" "$(in_doubt)" 0

for p in "$PORT" $((PORT + 1)) $((PORT + 2)); do
    q "$p" "ALTER SYSTEM RESET vs_ingest.test_commit_every_hours" >/dev/null
    q "$p" "SELECT pg_reload_conf()" >/dev/null
done
echo "== 6. refusals"
check "a spread load into a local target" \
    "$(qc "SELECT * FROM vs_ingest_dir('$FILES/days', '*.zip', target => 'public.local_hourly', nodes => 'workers')" 2>&1 \
        | grep -o "is not distributed" | head -1)" "is not distributed"
qc "SELECT vs_ingest_create_target('public.bare_hourly')" >/dev/null
qc "SELECT create_distributed_table('public.bare_hourly_blocks', 'link_id')" >/dev/null
check "a target distributed by hand, without its stage" \
    "$(qc "SELECT * FROM vs_ingest_dir('$FILES/days', '*.zip', target => 'public.bare_hourly')" 2>&1 \
        | grep -o "its stage table is missing" | head -1)" "its stage table is missing"

# A role with CREATE on a shared schema plants a table under the stage's name, with a trigger:
# distributing the target refuses it, and the trigger never runs.
# (Roles outlive the test database: a second run on the same cluster finds mallory.)
qc "DO \$\$ BEGIN CREATE ROLE mallory LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
    CREATE SCHEMA shared; GRANT CREATE, USAGE ON SCHEMA shared TO PUBLIC;
    CREATE TABLE public.mallory_log (who name); GRANT INSERT ON public.mallory_log TO PUBLIC;" >/dev/null
as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U mallory -d "$DB" -c "
    CREATE TABLE shared.t_hourly_blocks_stage (link_id bigint, day date, block smallint, hours smallint,
                                               speed smallint[], travel_time int[]);
    CREATE FUNCTION shared.log() RETURNS trigger LANGUAGE plpgsql AS \$\$
        BEGIN INSERT INTO public.mallory_log VALUES (current_user); RETURN NEW; END \$\$;
    CREATE TRIGGER t BEFORE INSERT ON shared.t_hourly_blocks_stage FOR EACH ROW EXECUTE FUNCTION shared.log();" >/dev/null
check "a planted stage is refused (42P07) and nothing is created" \
    "$(qc "SELECT vs_ingest_create_target('shared.t_hourly', distributed => true)" 2>&1 | grep -o "exists and is not its stage" | head -1)/$(
       qc "SELECT to_regclass('shared.t_hourly') IS NULL")" "exists and is not its stage/t"
check "the planted trigger never ran" "$(qc "SELECT count(*) FROM public.mallory_log")" 0

mkdir -p "$FILES/undated" && cp "$FILES/days/20230701_5Min.zip" "$FILES/undated/speeds.zip" && chmod -R a+rX "$FILES/undated"
check "a file whose name has no date, spread over the workers, fails alone with the reason" \
    "$(qc "SELECT files_failed FROM vs_ingest_dir('$FILES/undated', '*.zip', target => 'public.spread_hourly', nodes => 'workers')")/$(
       qc "SELECT count(*) FROM vs_ingest.file WHERE path = '$FILES/undated/speeds.zip' AND error LIKE 'its name carries no date%'")" "1/1"

echo "== 7. replace => true on a distributed target, from the coordinator"
# A corrected 2023-07-01: other speeds, links dropped and added (another seed and link count).
mkdir -p "$FILES/fix"
"$GEN" --out "$FILES/fix" --links 3500 --days 1 --start 2023-07-01 --level 1 --seed 7 >/dev/null
rm -f "$FILES/fix/manifest.json" && chmod -R a+rX "$FILES/fix"
other_day() { qc "SELECT md5(string_agg(b::text, '|' ORDER BY link_id, day, block)) FROM public.dist_hourly_blocks b
                   WHERE day <> '2023-07-01'"; }
other_before=$(other_day)
qc "SELECT vs_ingest_create_target('public.fix_hourly')" >/dev/null
fix_alone=$(load "'$FILES/fix', '*.zip', target => 'public.fix_hourly'")
replaced=$(load "'$FILES/fix', '*.zip', target => 'public.dist_hourly', replace => true")
check "the replacement reads and loads what a load of the corrected file alone does ($fix_alone)" "$replaced" "$fix_alone"
check "the day is the corrected file's, exactly" \
    "$(rows_differ "SELECT * FROM public.dist_hourly_blocks WHERE day = '2023-07-01'" \
                   "SELECT * FROM public.fix_hourly_blocks")" 0
check "the other day is unchanged, byte for byte" "$(other_day)" "$other_before"
check "the day's daily rollups are the corrected file's" \
    "$(rows_differ "SELECT * FROM public.dist_hourly_days WHERE day = '2023-07-01'" \
                   "SELECT * FROM public.fix_hourly_days")" 0
check "the monthly rollups are the daily ones summed" "$(months_differ_from_days public.dist_hourly)" 0
check "the day's coverage is the corrected file's" \
    "$(qc "SELECT count(*) FROM ((SELECT hour, links, slot_links FROM vs_ingest.coverage
                                   WHERE target_oid = 'public.dist_hourly'::regclass AND hour < '2023-07-02 00:00+09'
                                  EXCEPT SELECT hour, links, slot_links FROM vs_ingest.coverage
                                   WHERE target_oid = 'public.fix_hourly'::regclass)
                                 UNION ALL
                                 (SELECT hour, links, slot_links FROM vs_ingest.coverage
                                   WHERE target_oid = 'public.fix_hourly'::regclass
                                  EXCEPT SELECT hour, links, slot_links FROM vs_ingest.coverage
                                   WHERE target_oid = 'public.dist_hourly'::regclass AND hour < '2023-07-02 00:00+09')) d")" 0
check "the day's earlier files (its zip and the late file) are superseded by the replacing run" \
    "$(qc "SELECT string_agg(regexp_replace(f.path, '^.*/', ''), ' ' ORDER BY f.path) FROM vs_ingest.file f
            JOIN vs_ingest.run r USING (run_id)
            WHERE r.target = 'public.dist_hourly' AND f.status = 'superseded'
              AND f.superseded_by = (SELECT max(run_id) FROM vs_ingest.run WHERE target = 'public.dist_hourly')")" \
    "20230701_5Min.zip 20230701_5Min.csv.gz"
check "a plain load of the superseded late file skips it" \
    "$(load "'$FILES/late', '*.gz', target => 'public.dist_hourly'" | cut -d/ -f1-3)" "1/0/1"
check "a replacement spread over the workers is refused (0A000)" \
    "$(qc "SELECT * FROM vs_ingest_dir('$FILES/fix', '*.zip', target => 'public.dist_hourly', nodes => 'workers',
                                       replace => true)" 2>&1 | grep -o "cannot be spread over the worker nodes" | head -1)" \
    "cannot be spread over the worker nodes"
check "no in-doubt transaction left on any node" "$(in_doubt)" 0

echo "== 8. a local target loaded, then distributed"
qc "SELECT vs_ingest_create_target('public.moved_hourly')" >/dev/null
load "'$FILES/days', '*.zip', target => 'public.moved_hourly'" >/dev/null
load "'$FILES/more', '*.zip', target => 'public.moved_hourly'" >/dev/null
qc "SELECT vs_ingest_create_target('public.moved_hourly', distributed => true, shard_count => 6)" >/dev/null
check "its storage and rollups are distributed, colocated" \
    "$(qc "SELECT count(DISTINCT colocationid) || '/' || count(*) FROM pg_dist_partition
            WHERE logicalrelid IN ('public.moved_hourly_blocks'::regclass, 'public.moved_hourly_days'::regclass,
                                   'public.moved_hourly_months'::regclass)")" "1/3"
moved_late=$(load "'$FILES/late', '*.gz', target => 'public.moved_hourly', nodes => 'workers'")
check "a late file spread over the workers: same summary as the local load" "$moved_late" "$local_late"
check "same rows as the local load" \
    "$(rows_differ "SELECT * FROM public.moved_hourly_blocks" \
                   "SELECT * FROM public.local_hourly_blocks WHERE day BETWEEN '2023-07-01' AND '2023-07-03'")" 0
check "same rollups as the local load" "$(rollups_differ public.moved_hourly public.local_hourly 2023-07-01 2023-07-03)" 0
# Its rollups dropped and made again, as the update from 0.2.0 makes them for rows stored before:
# a spread load of a day builds the day first, the others are built a day per transaction.
qc "SELECT vs_ingest.drop_rollups('public.moved_hourly', 'public.moved_hourly_blocks')" >/dev/null
qc "SELECT vs_ingest_create_target('public.moved_hourly', distributed => true)" >/dev/null
check "its three days are to build" "$(qc "SELECT days FROM vs_ingest.rollups_to_build WHERE storage = 'public.moved_hourly_blocks'::regclass")" 3
mkdir -p "$FILES/late2"
"$GEN" --out "$FILES/late2" --links 3500 --days 1 --start 2023-07-01 --level 1 --seed 5 --container gz >/dev/null
rm -f "$FILES/late2/manifest.json" && chmod -R a+rX "$FILES/late2"
local_late2=$(load "'$FILES/late2', '*.gz', target => 'public.local_hourly'")
check "another late file, spread: same summary as the local load" \
    "$(load "'$FILES/late2', '*.gz', target => 'public.moved_hourly', nodes => 'workers'")" "$local_late2"
check "its day was built first: the day's rollups equal the local load's, the other days' are still to build" \
    "$(rows_differ "SELECT * FROM public.moved_hourly_days" \
                   "SELECT * FROM public.local_hourly_days WHERE day = '2023-07-01'")/$(
       qc "SELECT days FROM vs_ingest.rollups_to_build WHERE storage = 'public.moved_hourly_blocks'::regclass")" "0/2"
as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" -c "SET client_min_messages = warning" \
    -c "CALL vs_ingest_build_rollups('public.moved_hourly')"
check "after a load and a build, none is left to build and the rollups equal the local load's" \
    "$(qc "SELECT count(*) FROM vs_ingest.rollups_to_build WHERE storage = 'public.moved_hourly_blocks'::regclass")/$(
       rollups_differ public.moved_hourly public.local_hourly 2023-07-01 2023-07-03)" "0/0"
check "no in-doubt transaction left on any node" "$(in_doubt)" 0

echo "== 9. retention drops a day's rollups, daily and monthly, with its rows"
check "the six days dropped, and with them every row and rollup of the target" \
    "$(qc "SELECT count(*) FROM vs_ingest.apply_retention('public.crash2_hourly', '1 day', 'drop')")/$(
       qc "SELECT (SELECT count(*) FROM public.crash2_hourly_blocks) + (SELECT count(*) FROM public.crash2_hourly_days)
                  + (SELECT count(*) FROM public.crash2_hourly_months)")" "6/0"
check "another target's rollups are untouched" \
    "$(rollups_differ public.crash_hourly public.local_hourly 2023-05-01 2023-05-06)" 0

echo "== 10. a loading role that is not the owner, without the rollups' grants"
# The owner loads the days; a role with the storage's and the stage's grants but not the
# rollups' is refused before anything is read. (With them it would still fail: Citus lets only a
# superuser COPY from a server file into a distributed table, docs/citus.md, "Limits".)
qc "DO \$\$ BEGIN CREATE ROLE citus_loader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" >/dev/null
# (Citus propagates the role, not its membership of a predefined role: granted on every node.)
for p in "$PORT" $((PORT + 1)) $((PORT + 2)); do q "$p" "GRANT pg_read_server_files TO citus_loader" >/dev/null; done
qc "SELECT vs_ingest_create_target('public.granted_hourly', distributed => true, shard_count => 6)" >/dev/null
check "the owner's load of the days" "$(load "'$FILES/days', '*.zip', target => 'public.granted_hourly'")" "$local_days"
as_loader() { as_postgres "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U citus_loader -d "$DB" \
                  -c "SET client_min_messages = error" -c "$1" 2>&1; }
check "without the rollups' grants, the loading role is refused (42501) with the tables to grant" \
    "$(qc "GRANT SELECT, INSERT, UPDATE ON public.granted_hourly_blocks TO citus_loader;
           GRANT SELECT, INSERT, DELETE ON public.granted_hourly_blocks_stage TO citus_loader" >/dev/null
       as_loader "SELECT $summary FROM vs_ingest_dir('$FILES/late', '*.gz', target => 'public.granted_hourly',
                                                     nodes => 'workers')" | grep -o "GRANT SELECT, INSERT, UPDATE, DELETE ON [^ ]*, [^ ]* to" | head -1)" \
    "GRANT SELECT, INSERT, UPDATE, DELETE ON public.granted_hourly_days, public.granted_hourly_months to"

./scripts/citus.sh stop
if [ "$failures" -gt 0 ]; then
    echo "citus tests: $failures FAILED"
    exit 1
fi
echo "citus tests: passed"
