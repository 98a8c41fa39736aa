-- Alerts on late, missing and thin data and on files that keep failing (README "Alerts"). The
-- scheduler evaluates them at every tick (vs_ingest.evaluate_alerts): a new alert is recorded in
-- vs_ingest.alert and announced once with NOTIFY on channel `vs_ingest`, and once more when it
-- clears. The table's DDL lives here and only here.

CREATE TABLE vs_ingest.alert (
    alert_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id       int         NOT NULL,
    -- The source's name when the alert was raised, for display, and its owner (by oid): who
    -- sees the alert.
    source          text        NOT NULL,
    owner_oid       oid,
    -- overdue: local days (source time zone) from `day` to `last_day` have no data, and their
    -- file was due `due_after` after each ended; thin: the loaded day `day` has a mean coverage
    -- below the source's `min_coverage`; failing: the file `subject` failed in two runs or more,
    -- the last time in its newest.
    kind            text        NOT NULL CHECK (kind IN ('overdue', 'thin', 'failing')),
    day             date,
    last_day        date,
    subject         text        NOT NULL DEFAULT '',
    detail          text        NOT NULL,
    since           timestamptz NOT NULL DEFAULT clock_timestamp(),
    cleared_at      timestamptz
);
COMMENT ON TABLE vs_ingest.alert IS 'Alerts raised by the scheduler, open until cleared_at.';
CREATE UNIQUE INDEX alert_open_idx ON vs_ingest.alert (source_id, kind, coalesce(day, '-infinity'), subject)
    WHERE cleared_at IS NULL;
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.alert', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('vs_ingest.alert', 'alert_id'), '');

-- An alert is seen by the roles its source's runs are seen by: its owner (and roles with its
-- privileges), pg_monitor and superusers (by oid, as everywhere).
ALTER TABLE vs_ingest.alert ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_alerts ON vs_ingest.alert FOR SELECT USING (vs_ingest.sees_run(owner_oid, NULL));

-- The open alerts.
CREATE VIEW vs_ingest.alerts WITH (security_invoker = true) AS
SELECT a.source, a.day, a.kind, a.since, a.detail, a.last_day, nullif(a.subject, '') AS file
  FROM vs_ingest.alert a WHERE a.cleared_at IS NULL;
COMMENT ON VIEW vs_ingest.alerts IS 'Open alerts: late or missing days, thin days, files that keep failing.';
REVOKE ALL ON vs_ingest.alert, vs_ingest.alerts FROM PUBLIC;
GRANT SELECT ON vs_ingest.alert, vs_ingest.alerts TO pg_read_server_files, pg_monitor;

-- The alerts that hold now, for every source with due_after or min_coverage, and every source's
-- failing files. Days are local days of the source's time zone; coverage is what the load keeps
-- (vs_ingest.coverage), so nothing here reads a target's rows.
CREATE FUNCTION vs_ingest.current_alerts(
    OUT source_id int, OUT source text, OUT owner_oid oid, OUT kind text, OUT day date, OUT last_day date,
    OUT subject text, OUT detail text)
RETURNS SETOF record LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH s AS (
        SELECT s.source_id, s.name, s.owner_oid, s.due_after, s.min_coverage, to_regclass(s.target) AS rel,
               coalesce(s.source_timezone, current_setting('vs_ingest.source_timezone', true), 'Asia/Seoul') AS tz
          FROM vs_ingest.source s
         WHERE s.enabled
    ), span AS (
        -- From the first loaded day to the last day whose file is due by now.
        SELECT s.*, (min(c.hour) AT TIME ZONE s.tz)::date AS first_day,
               ((clock_timestamp() - coalesce(s.due_after, interval '0')) AT TIME ZONE s.tz)::date - 1 AS last_due
          FROM s JOIN vs_ingest.coverage c ON c.target_oid = s.rel
         GROUP BY s.source_id, s.name, s.owner_oid, s.due_after, s.min_coverage, s.rel, s.tz
    ), days AS (
        SELECT span.*, d::date AS day,
               EXISTS (SELECT 1 FROM vs_ingest.coverage c
                        WHERE c.target_oid = span.rel
                          AND c.hour >= (d::date)::timestamp AT TIME ZONE span.tz
                          AND c.hour < (d::date + 1)::timestamp AT TIME ZONE span.tz) AS loaded
          FROM span, generate_series(span.first_day, span.last_due, interval '1 day') AS d
    ), missing AS (
        -- Runs of consecutive days without data: one alert each, keyed by its first day.
        SELECT source_id, name, owner_oid, due_after, tz, min(day) AS first, max(day) AS last, count(*) AS n
          FROM (SELECT d.*, d.day - (row_number() OVER (PARTITION BY d.source_id ORDER BY d.day))::int AS grp
                  FROM days d WHERE NOT d.loaded AND d.due_after IS NOT NULL) x
         GROUP BY source_id, name, owner_oid, due_after, tz, grp
    ), thin AS (
        -- The last 35 loaded days, each with its mean coverage over its hours with a reference.
        SELECT d.source_id, d.name, d.owner_oid, d.day, d.min_coverage,
               (SELECT avg(r.coverage) FROM vs_ingest.coverage_report(d.rel, NULL,
                        (d.day)::timestamp AT TIME ZONE d.tz, (d.day + 1)::timestamp AT TIME ZONE d.tz, 7) r)
                   AS coverage
          FROM (SELECT days.*, row_number() OVER (PARTITION BY days.source_id ORDER BY days.day DESC) AS back
                  FROM days WHERE days.loaded AND days.min_coverage IS NOT NULL) d
         WHERE d.back <= 35
    )
    SELECT m.source_id, m.name, m.owner_oid, 'overdue', m.first, m.last, '',
           format('%s day(s) without data, %s to %s (%s); each day''s file was due %s after the day ended',
                  m.n, m.first, m.last, m.tz, m.due_after)
      FROM missing m
    UNION ALL
    SELECT t.source_id, t.name, t.owner_oid, 'thin', t.day, t.day, '',
           format('%s: %s%% of the expected links reported on average, below %s%%', t.day,
                  round((100 * t.coverage)::numeric, 1), round((100 * t.min_coverage)::numeric, 1))
      FROM thin t WHERE t.coverage < t.min_coverage
    UNION ALL
    SELECT s.source_id, s.name, s.owner_oid, 'failing', NULL, NULL, f.path,
           format('%s failed in %s runs, the last time: %s', f.path, f.failures, f.error)
      FROM vs_ingest.source s
      JOIN LATERAL (
            SELECT l.path, count(*) FILTER (WHERE l.status = 'failed') AS failures,
                   (array_agg(l.status ORDER BY l.file_id DESC))[1] AS newest,
                   (array_agg(l.error ORDER BY l.file_id DESC))[1] AS error
              FROM vs_ingest.file l JOIN vs_ingest.run r USING (run_id)
             WHERE r.source_id = s.source_id
             GROUP BY l.path) f ON f.newest = 'failed' AND f.failures >= 2
     WHERE s.enabled
$$;

-- Announces an alert's event ('raised' or 'cleared') on channel `vs_ingest`.
CREATE FUNCTION vs_ingest.notify_alert(event text, a vs_ingest.alert) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_notify('vs_ingest', json_build_object('event', event, 'source', a.source, 'kind', a.kind,
                                                   'day', a.day, 'last_day', a.last_day,
                                                   'file', nullif(a.subject, ''), 'detail', a.detail)::text)
$$;

-- Records the alerts that hold now and announces the changes: a NOTIFY on channel `vs_ingest`
-- with a JSON payload ({"event": "raised" | "cleared", "source", "kind", "day", "last_day",
-- "file", "detail"}) once when an alert is raised and once when it clears. An overdue run whose
-- last day moves on (one more day without data) is updated in place, not announced again.
-- Returns how many were raised and cleared. Run by the scheduler (a superuser) at every tick.
CREATE FUNCTION vs_ingest.evaluate_alerts(OUT raised int, OUT cleared int)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a vs_ingest.alert;
BEGIN
    raised := 0;
    cleared := 0;
    CREATE TEMP TABLE IF NOT EXISTS vs_ingest_current_alerts (LIKE vs_ingest.alert) ON COMMIT DROP;
    TRUNCATE pg_temp.vs_ingest_current_alerts;
    INSERT INTO pg_temp.vs_ingest_current_alerts (alert_id, source_id, source, owner_oid, kind, day, last_day, subject,
                                                  detail, since)
    SELECT 0, c.source_id, c.source, c.owner_oid, c.kind, c.day, c.last_day, c.subject, c.detail, clock_timestamp()
      FROM vs_ingest.current_alerts() c;
    FOR a IN
        UPDATE vs_ingest.alert o SET cleared_at = clock_timestamp()
         WHERE o.cleared_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM pg_temp.vs_ingest_current_alerts n
                            WHERE n.source_id = o.source_id AND n.kind = o.kind
                              AND n.day IS NOT DISTINCT FROM o.day AND n.subject = o.subject)
        RETURNING o.*
    LOOP
        cleared := cleared + 1;
        PERFORM vs_ingest.notify_alert('cleared', a);
    END LOOP;
    UPDATE vs_ingest.alert o SET last_day = n.last_day, detail = n.detail
      FROM pg_temp.vs_ingest_current_alerts n
     WHERE o.cleared_at IS NULL AND n.source_id = o.source_id AND n.kind = o.kind
       AND n.day IS NOT DISTINCT FROM o.day AND n.subject = o.subject
       AND (o.last_day IS DISTINCT FROM n.last_day OR o.detail <> n.detail);
    FOR a IN
        INSERT INTO vs_ingest.alert (source_id, source, owner_oid, kind, day, last_day, subject, detail)
        SELECT n.source_id, n.source, n.owner_oid, n.kind, n.day, n.last_day, n.subject, n.detail
          FROM pg_temp.vs_ingest_current_alerts n
         WHERE NOT EXISTS (SELECT 1 FROM vs_ingest.alert o
                            WHERE o.cleared_at IS NULL AND o.source_id = n.source_id AND o.kind = n.kind
                              AND o.day IS NOT DISTINCT FROM n.day AND o.subject = n.subject)
        RETURNING *
    LOOP
        raised := raised + 1;
        PERFORM vs_ingest.notify_alert('raised', a);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION vs_ingest.current_alerts, vs_ingest.notify_alert, vs_ingest.evaluate_alerts FROM PUBLIC;
