-- Catalog tables of vs_ingest: the job history and the ledger of files. Each table's DDL lives
-- here and only here. They are extension members registered with pg_extension_config_dump, so
-- pg_dump keeps their rows. The targets' tables and views are NOT members (see target.sql).

-- The row every load function returns (vs_ingest_dir, vs_ingest_file, vs_ingest_resume,
-- vs_ingest_run_source), one definition for all of them.
CREATE TYPE vs_ingest.load_summary AS (
    run_id          bigint,
    files_seen      int,
    files_loaded    int,
    files_skipped   int,
    files_failed    int,
    rows_read       bigint,
    rows_loaded     bigint,
    rows_duplicate  bigint,
    rows_rejected   bigint,
    -- Wall time and decompressed MB/s, to 2 decimals.
    seconds         numeric,
    mb_per_s        numeric
);

-- Directories the scheduler watches (see src/scheduler.rs). Written only through the
-- vs_ingest_*_source functions, which check the caller; scheduled runs run as `owner`.
CREATE TABLE vs_ingest.source (
    source_id       int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text        NOT NULL UNIQUE,
    -- The role scheduled runs run as, by oid (who it is; `owner` is its name when the source was
    -- added, for display): a role dropped and created again under the same name is another role,
    -- and a renamed one keeps its sources. NULL: the role was gone when 0.3.0 was installed (such a
    -- source runs for nobody).
    owner           name        NOT NULL,
    owner_oid       oid,
    dir             text        NOT NULL,
    pattern         text        NOT NULL,
    -- How often the directory is checked for new, changed or unfinished files.
    every           interval    NOT NULL CHECK (every >= interval '1 second'),
    target          text        NOT NULL,
    format          text        NOT NULL,
    -- NULL: the setting's value when the run starts.
    source_timezone text,
    max_reject_ratio double precision CHECK (max_reject_ratio BETWEEN 0 AND 1),
    reload_changed  boolean     NOT NULL DEFAULT false,
    -- Load new and changed files with replace => true: each local day they cover is rebuilt from
    -- them alone (for feeds that re-issue corrected files).
    replace         boolean     NOT NULL DEFAULT false,
    -- Alerts (src/sql/alerts.sql): each local day's file is due this long after the day ends
    -- (NULL: no arrival alerts); a loaded day whose mean coverage is below min_coverage is thin
    -- (NULL: no coverage alerts).
    due_after       interval    CHECK (due_after >= interval '0'),
    min_coverage    real        CHECK (min_coverage BETWEEN 0 AND 1),
    -- Partitions of `target` whose day ended more than `retain` ago are detached or dropped.
    -- NULL (the default): keep everything.
    retain          interval    CHECK (retain > interval '0'),
    retain_action   text        NOT NULL DEFAULT 'detach' CHECK (retain_action IN ('detach', 'drop')),
    -- Keep only the links of this relation (links => ...), by oid (`links` is its name when it
    -- was set, for display); NULL: every link. Read as the owner at each run.
    links_oid       oid,
    links           text,
    -- What runs do with links the target's network lacks; NULL: load them.
    unknown_links   text        CHECK (unknown_links IN ('load', 'skip')),
    enabled         boolean     NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    next_check_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_checked_at timestamptz,
    -- The last check's failure (not permitted, directory gone, ...), NULL once one succeeds.
    last_error      text
);
COMMENT ON TABLE vs_ingest.source IS 'Directories the scheduler loads new and changed files from.';

CREATE TABLE vs_ingest.run (
    run_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The source a scheduled or vs_ingest_run_source load came from. Not a foreign key: the
    -- workers insert the run, and a source added in the caller's open transaction is invisible
    -- to them; a dropped source's runs keep its id.
    source_id       int,
    started_by      name        NOT NULL DEFAULT current_user,
    -- The role that started the run, by oid: who may see, resume and cancel it (`started_by` is
    -- its name then, for display). NULL: the role was gone when 0.3.0 was installed.
    started_by_oid  oid,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz,
    dir             text        NOT NULL,
    pattern         text        NOT NULL,
    target          text        NOT NULL,
    -- The table loaded into: the ledger follows the table, not its name (a table dropped and
    -- created again under the same name is new; a renamed one keeps its history). NULL for
    -- runs recorded by 0.1.0, which are matched by name.
    target_oid      oid,
    options         jsonb       NOT NULL DEFAULT '{}',
    -- cancelling: vs_ingest_cancel asked the workers to stop after their chunk in flight.
    status          text        NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'cancelling', 'succeeded', 'failed', 'cancelled')),
    files_seen      int         NOT NULL DEFAULT 0,
    files_loaded    int         NOT NULL DEFAULT 0,
    files_skipped   int         NOT NULL DEFAULT 0,
    files_failed    int         NOT NULL DEFAULT 0,
    rows_read       bigint      NOT NULL DEFAULT 0,
    rows_loaded     bigint      NOT NULL DEFAULT 0,
    rows_duplicate  bigint      NOT NULL DEFAULT 0,
    rows_missing    bigint      NOT NULL DEFAULT 0,
    rows_rejected   bigint      NOT NULL DEFAULT 0,
    -- Samples a load left out (links outside `links => ...`, unknown links with
    -- unknown_links => 'skip'): read, neither loaded nor rejected.
    rows_filtered   bigint      NOT NULL DEFAULT 0,
    -- Samples of links the target's network (vs_ingest.link) lacks on their day, loaded or not.
    rows_unknown    bigint      NOT NULL DEFAULT 0,
    bytes           bigint      NOT NULL DEFAULT 0,
    error           text
);
COMMENT ON TABLE vs_ingest.run IS 'One row per load: who, when, what, outcome and totals.';
COMMENT ON COLUMN vs_ingest.run.rows_missing IS 'Valid rows with an empty speed: counted, not loaded.';
COMMENT ON COLUMN vs_ingest.run.bytes IS 'Decompressed (CSV) bytes read.';

CREATE TABLE vs_ingest.file (
    file_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          bigint      NOT NULL REFERENCES vs_ingest.run ON DELETE CASCADE,
    path            text        NOT NULL,
    -- Size, modification time and content fingerprint, taken when a worker claims the file.
    size            bigint,
    mtime           timestamptz,
    -- The file's size when the run listed it (before a worker claims it and takes `size`): the
    -- run's total bytes from its start, for its progress.
    listed_size     bigint,
    fingerprint     text,
    container       text,
    -- pending: not claimed yet; loading: a worker has it (or had it, if the run was interrupted);
    -- resumed: a later run took over its offset and counters; skipped: loaded before;
    -- changed: loaded before with other content, not reloaded; cancelled: stopped by a cancel;
    -- superseded: loaded, then a load with replace => true (run `superseded_by`) rebuilt one or
    -- more of its days without it (a plain load of it again is skipped, as for a loaded file).
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'loading', 'loaded', 'skipped', 'changed', 'failed',
                                      'cancelled', 'resumed', 'superseded')),
    rows_read       bigint      NOT NULL DEFAULT 0,
    rows_loaded     bigint      NOT NULL DEFAULT 0,
    rows_duplicate  bigint      NOT NULL DEFAULT 0,
    rows_missing    bigint      NOT NULL DEFAULT 0,
    rows_rejected   bigint      NOT NULL DEFAULT 0,
    -- Samples a load left out (links outside `links => ...`, unknown links with
    -- unknown_links => 'skip'): read, neither loaded nor rejected.
    rows_filtered   bigint      NOT NULL DEFAULT 0,
    -- Samples of links the target's network (vs_ingest.link) lacks on their day, loaded or not.
    rows_unknown    bigint      NOT NULL DEFAULT 0,
    bytes           bigint      NOT NULL DEFAULT 0,
    -- Bytes of the (compressed) file read up to the last committed chunk: progress against size.
    input_done      bigint      NOT NULL DEFAULT 0,
    -- Where a resumed load continues: entry of the file, decompressed byte offset and line
    -- number within it, of the last committed chunk. Committed with that chunk's rows.
    resume_entry    int         NOT NULL DEFAULT 0,
    resume_offset   bigint      NOT NULL DEFAULT 0,
    resume_line     bigint      NOT NULL DEFAULT 0,
    chunks          int         NOT NULL DEFAULT 0,
    -- Where the worker's time went: waiting for the engine (decompress, parse, aggregate),
    -- writing rows, and committing chunks. Seconds, summed over committed chunks.
    wait_seconds    double precision NOT NULL DEFAULT 0,
    write_seconds   double precision NOT NULL DEFAULT 0,
    commit_seconds  double precision NOT NULL DEFAULT 0,
    worker_pid      int,
    started_at      timestamptz,
    finished_at     timestamptz,
    error           text,
    -- The SQLSTATE and hint of a failure, for the waiting caller's WARNING.
    error_code      text,
    error_hint      text,
    -- For a load spread over Citus worker nodes (vs_ingest_dir(..., nodes => 'workers')): the
    -- node that loads the file (host:port) and the run there, whose ledger this row mirrors.
    -- NULL: loaded here.
    node            text,
    node_run        bigint,
    -- The local days of the target this file wrote samples into, as of its last committed chunk
    -- (NULL for files loaded before 0.3.0): what a replacement of a day supersedes.
    days            date[],
    superseded_by   bigint
);
COMMENT ON TABLE vs_ingest.file IS 'The ledger: one row per file per run, with its fingerprint, outcome and counters.';
CREATE INDEX file_run_idx ON vs_ingest.file (run_id);
CREATE INDEX file_path_idx ON vs_ingest.file (path);
CREATE INDEX run_source_idx ON vs_ingest.run (source_id);

CREATE TABLE vs_ingest.reject (
    file_id         bigint      NOT NULL REFERENCES vs_ingest.file ON DELETE CASCADE,
    entry           text        NOT NULL,
    line            bigint      NOT NULL,
    reason          text        NOT NULL,
    raw             text        NOT NULL
);
COMMENT ON TABLE vs_ingest.reject IS 'Rejected lines: file, entry, 1-based line number, reason and the line (truncated).';
CREATE INDEX reject_file_idx ON vs_ingest.reject (file_id, line);

-- What each loaded hour of each target holds, kept exact by the writer in the same transaction
-- as the hour's rows, so that vs_ingest_gaps never scans the data.
CREATE TABLE vs_ingest.coverage (
    -- The table, by oid: coverage follows a renamed table, and a table created again under an old
    -- name starts with none. `target` is its name when the hour was last written.
    target_oid      oid         NOT NULL,
    target          text        NOT NULL,
    hour            timestamptz NOT NULL,
    -- Links with at least one sample in the hour.
    links           int         NOT NULL,
    -- Per 5-minute slot (1-12), the links with a sample in it.
    slot_links      int[]       NOT NULL CHECK (cardinality(slot_links) = 12),
    PRIMARY KEY (target_oid, hour)
);
COMMENT ON TABLE vs_ingest.coverage IS 'Per target and hour: how many links reported, per 5-minute slot.';

-- A target's reference network (vs_ingest_set_links, src/postgres/links.rs): the links it knows,
-- one row each, replaced whole when the network is re-released. Loads count (and may skip) the
-- samples of links it lacks on their day. Written only by vs_ingest_set_links, as the catalog's
-- owner, from a relation its caller could read.
CREATE TABLE vs_ingest.link (
    -- The target (its hourly view), by oid: the network follows a renamed target, and a target
    -- created again under an old name has none.
    target_oid      oid         NOT NULL,
    link_id         bigint      NOT NULL,
    region          text,
    road_name       text,
    -- The local days (in the files' time zone) the link exists: [valid_from, valid_until); NULL
    -- is open on that side.
    valid_from      date,
    valid_until     date,
    CHECK (valid_until > valid_from),
    PRIMARY KEY (target_oid, link_id)
);
COMMENT ON TABLE vs_ingest.link IS 'Per target, the links of its reference network, with region, road name and validity.';

-- Per file, the samples of each link its target's network lacked (the 1,000 most frequent of
-- each committed chunk: a national day commits in one or two), committed with that chunk.
CREATE TABLE vs_ingest.unknown_link (
    file_id         bigint      NOT NULL REFERENCES vs_ingest.file ON DELETE CASCADE,
    link_id         bigint      NOT NULL,
    samples         bigint      NOT NULL CHECK (samples > 0),
    PRIMARY KEY (file_id, link_id)
);
COMMENT ON TABLE vs_ingest.unknown_link IS 'Per loaded file, the samples of links its target''s network lacks.';

-- The local time of the loaded hours and 5-minute slots, per time zone, filled as loads reach
-- each day. A target's hourly and 5-minute views join the stored rows of six hours through these
-- tables, so a filter on the view's `hour` or `ts` (or on local_day / local_hour) selects
-- calendar rows first and reaches the stored rows through their (day, block) key.
CREATE TABLE vs_ingest.calendar_hour (
    time_zone       text        NOT NULL,
    hour            timestamptz NOT NULL,
    local_day       date        NOT NULL,
    local_hour      smallint    NOT NULL CHECK (local_hour BETWEEN 0 AND 23),
    -- The stored row holding the hour: block 0-3 of the day (hours 6 * block .. 6 * block + 5).
    block           smallint    NOT NULL CHECK (block BETWEEN 0 AND 3),
    hour_in_block   smallint    NOT NULL CHECK (hour_in_block BETWEEN 0 AND 5),
    -- 1 << hour_in_block, tested against the stored row's `hours` bits.
    hour_bit        smallint    NOT NULL,
    -- Subscripts of the hour's twelve slots in the stored row's arrays.
    first_slot      smallint    NOT NULL,
    last_slot       smallint    NOT NULL,
    PRIMARY KEY (time_zone, hour)
);
COMMENT ON TABLE vs_ingest.calendar_hour IS 'Each loaded local hour of each time zone and where its stored row is.';

CREATE TABLE vs_ingest.calendar_5min (
    time_zone       text        NOT NULL,
    ts              timestamptz NOT NULL,
    local_day       date        NOT NULL,
    local_time      timestamp   NOT NULL,
    block           smallint    NOT NULL CHECK (block BETWEEN 0 AND 3),
    -- Subscript (1-72) of the slot in the stored row's arrays.
    slot            smallint    NOT NULL CHECK (slot BETWEEN 1 AND 72),
    PRIMARY KEY (time_zone, ts)
);
COMMENT ON TABLE vs_ingest.calendar_5min IS 'Each loaded local 5-minute slot of each time zone and where it is stored.';

SELECT pg_catalog.pg_extension_config_dump('vs_ingest.source', '');
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.calendar_hour', '');
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.calendar_5min', '');
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.coverage', '');
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.link', '');
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.unknown_link', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('vs_ingest.source', 'source_id'), '');
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.run', '');
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.file', '');
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.reject', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('vs_ingest.run', 'run_id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('vs_ingest.file', 'file_id'), '');

-- A run's input bytes, one definition for vs_ingest.progress and the waiting caller's NOTICEs
-- (src/postgres/catalog.rs, run_view): done (every finished file whole, loaded or skipped or
-- failed, and the committed part of each file in flight), total (every file, as listed until a
-- worker claims it), read (what its workers read: skipped files excluded, the run's throughput).
-- It reads the ledger with its caller's rights.
CREATE FUNCTION vs_ingest.run_input(run_id bigint, OUT done bigint, OUT total bigint, OUT read bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(sum(CASE WHEN f.status IN ('pending', 'loading') THEN f.input_done
                             ELSE coalesce(f.size, f.listed_size, f.input_done) END), 0)::bigint,
           coalesce(sum(coalesce(f.size, f.listed_size, f.input_done)), 0)::bigint,
           coalesce(sum(f.input_done) FILTER (WHERE f.status NOT IN ('skipped', 'changed')), 0)::bigint
      FROM vs_ingest.file f WHERE f.run_id = $1
$$;

-- Live progress of loads, from any session: it reflects committed chunks. security_invoker: the
-- reader's own row-level security applies, so each role sees its own loads' progress. Per file,
-- its bytes and throughput; per run (the run_* columns, the same on each of its rows), the bytes
-- of all its files, started or not (a finished file counts whole, a skipped one too), and an ETA
-- from the run's own throughput: the bytes its workers read so far over its elapsed time.
CREATE VIEW vs_ingest.progress WITH (security_invoker = true) AS
SELECT f.run_id, f.file_id, f.path, f.status,
       f.input_done AS bytes_done, f.size AS bytes_total,
       f.rows_read AS rows,
       round(f.rows_read / t.seconds) AS rows_per_s,
       round((f.bytes / 1e6 / t.seconds)::numeric, 1) AS mb_per_s,
       CASE WHEN f.status = 'loading' AND f.input_done > 0
            THEN make_interval(secs => (f.size - f.input_done) * t.seconds / f.input_done) END AS eta,
       f.chunks, f.worker_pid, f.node,
       w.done AS run_bytes_done, w.total AS run_bytes_total,
       round(100.0 * w.done / nullif(w.total, 0), 1) AS run_percent,
       CASE WHEN w.read > 0 AND w.total > w.done
            THEN make_interval(secs => (w.total - w.done)
                                       * greatest(extract(epoch FROM clock_timestamp() - r.started_at), 0.001)
                                       / w.read) END AS run_eta
  FROM vs_ingest.file f
  JOIN vs_ingest.run r USING (run_id)
 CROSS JOIN LATERAL (SELECT greatest(extract(epoch FROM coalesce(f.finished_at, clock_timestamp())
                                                      - coalesce(f.started_at, clock_timestamp())), 0.001)
                            AS seconds) t
 CROSS JOIN LATERAL vs_ingest.run_input(f.run_id) w
 WHERE r.status IN ('running', 'cancelling');
COMMENT ON VIEW vs_ingest.progress IS 'Files of running loads and their runs, as of their last committed chunks.';

-- Who sees what (row-level security). The catalog is written only by the extension, as its
-- owner (see src/postgres/access.rs, as_catalog_owner), so no role has INSERT, UPDATE or DELETE
-- on it. A role sees the runs and files of loads it started (or that a role it has the
-- privileges of started) and of loads into tables it owns; members of pg_monitor see every run
-- and file; superusers see everything. Raw rejected lines are seen only by the role that
-- started the load (and its members) and superusers.
--
-- Roles and tables are matched by oid, never by name: a table renamed keeps its runs, and a
-- table or role created under an old name gets none of them. Nothing here resolves a name (a
-- schema the reader may not use would raise an error for every reader), and pg_has_role is
-- called only with the oid of a role that exists. A run of 0.1.0 (no target_oid) is seen by its
-- starter only.
CREATE FUNCTION vs_ingest.sees_run(started_by_oid oid, target_oid oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_has_role('pg_monitor', 'USAGE')
        OR CASE WHEN EXISTS (SELECT 1 FROM pg_roles a WHERE a.oid = sees_run.started_by_oid)
                THEN pg_has_role(sees_run.started_by_oid, 'USAGE') ELSE false END
        OR coalesce((SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles a WHERE a.oid = c.relowner)
                                 THEN pg_has_role(c.relowner, 'USAGE') ELSE false END
                       FROM pg_class c WHERE c.oid = sees_run.target_oid), false)
$$;

CREATE FUNCTION vs_ingest.sees_rejects(file_id bigint) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles a WHERE a.oid = r.started_by_oid)
                                 THEN pg_has_role(r.started_by_oid, 'USAGE') ELSE false END
                       FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
                      WHERE f.file_id = $1), false)
$$;

ALTER TABLE vs_ingest.run ENABLE ROW LEVEL SECURITY;
ALTER TABLE vs_ingest.file ENABLE ROW LEVEL SECURITY;
ALTER TABLE vs_ingest.reject ENABLE ROW LEVEL SECURITY;
ALTER TABLE vs_ingest.coverage ENABLE ROW LEVEL SECURITY;
ALTER TABLE vs_ingest.link ENABLE ROW LEVEL SECURITY;
ALTER TABLE vs_ingest.unknown_link ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_runs ON vs_ingest.run FOR SELECT USING (vs_ingest.sees_run(started_by_oid, target_oid));
CREATE POLICY own_files ON vs_ingest.file FOR SELECT
    USING (EXISTS (SELECT 1 FROM vs_ingest.run r WHERE r.run_id = file.run_id));
CREATE POLICY own_rejects ON vs_ingest.reject FOR SELECT USING (vs_ingest.sees_rejects(file_id));
-- Coverage describes a table's data: it is seen by whoever may read that table.
CREATE POLICY readable_targets ON vs_ingest.coverage FOR SELECT
    USING (coalesce(has_table_privilege(target_oid, 'SELECT'), false));
-- So does a network, and the unknown links go with the files they came in.
CREATE POLICY readable_targets ON vs_ingest.link FOR SELECT
    USING (coalesce(has_table_privilege(target_oid, 'SELECT'), false));
CREATE POLICY own_files ON vs_ingest.unknown_link FOR SELECT
    USING (EXISTS (SELECT 1 FROM vs_ingest.file f WHERE f.file_id = unknown_link.file_id));

-- The links loads found that their target's network lacks, most samples first: a network update
-- is noticed here, per target (by oid; `target` is its latest name). security_invoker: each reader
-- sees the files it sees.
CREATE VIEW vs_ingest.unknown_links WITH (security_invoker = true) AS
SELECT r.target_oid, (array_agg(r.target ORDER BY r.run_id DESC))[1] AS target, u.link_id,
       sum(u.samples)::bigint AS samples, count(DISTINCT f.path) AS files,
       min(f.started_at) AS first_seen, max(f.started_at) AS last_seen
  FROM vs_ingest.unknown_link u
  JOIN vs_ingest.file f USING (file_id)
  JOIN vs_ingest.run r USING (run_id)
 GROUP BY r.target_oid, u.link_id;
COMMENT ON VIEW vs_ingest.unknown_links IS 'Per target, the links its loads found that its network lacks, with their samples.';

REVOKE ALL ON vs_ingest.run, vs_ingest.file, vs_ingest.reject, vs_ingest.progress, vs_ingest.source,
              vs_ingest.coverage, vs_ingest.link, vs_ingest.unknown_link, vs_ingest.unknown_links FROM PUBLIC;
GRANT SELECT ON vs_ingest.run, vs_ingest.file, vs_ingest.reject, vs_ingest.progress, vs_ingest.source,
                vs_ingest.coverage, vs_ingest.link, vs_ingest.unknown_link, vs_ingest.unknown_links
   TO pg_read_server_files;
GRANT SELECT ON vs_ingest.run, vs_ingest.file, vs_ingest.progress, vs_ingest.unknown_link, vs_ingest.unknown_links
   TO pg_monitor;
GRANT USAGE ON SCHEMA vs_ingest TO pg_read_server_files, pg_monitor;
-- The calendar is public knowledge, and the targets' views (owned by the loading roles) read it.
REVOKE ALL ON vs_ingest.calendar_hour, vs_ingest.calendar_5min FROM PUBLIC;
GRANT SELECT ON vs_ingest.calendar_hour, vs_ingest.calendar_5min TO PUBLIC;
