-- Catalog tables of vs_ingest: the job history and the ledger of files. Each table's DDL lives
-- here and only here. They are extension members registered with pg_extension_config_dump, so
-- pg_dump keeps their rows. The hourly data table is NOT a member (see hourly_table.sql).

CREATE TABLE vs_ingest.run (
    run_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_by      name        NOT NULL DEFAULT current_user,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz,
    dir             text        NOT NULL,
    pattern         text        NOT NULL,
    target          text        NOT NULL,
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
    fingerprint     text,
    container       text,
    -- pending: not claimed yet; loading: a worker has it (or had it, if the run was interrupted);
    -- resumed: a later run took over its offset and counters; skipped: loaded before;
    -- changed: loaded before with other content, not reloaded; cancelled: stopped by a cancel.
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'loading', 'loaded', 'skipped', 'changed', 'failed',
                                      'cancelled', 'resumed')),
    rows_read       bigint      NOT NULL DEFAULT 0,
    rows_loaded     bigint      NOT NULL DEFAULT 0,
    rows_duplicate  bigint      NOT NULL DEFAULT 0,
    rows_missing    bigint      NOT NULL DEFAULT 0,
    rows_rejected   bigint      NOT NULL DEFAULT 0,
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
    error_hint      text
);
COMMENT ON TABLE vs_ingest.file IS 'The ledger: one row per file per run, with its fingerprint, outcome and counters.';
CREATE INDEX file_run_idx ON vs_ingest.file (run_id);
CREATE INDEX file_path_idx ON vs_ingest.file (path);

CREATE TABLE vs_ingest.reject (
    file_id         bigint      NOT NULL REFERENCES vs_ingest.file ON DELETE CASCADE,
    entry           text        NOT NULL,
    line            bigint      NOT NULL,
    reason          text        NOT NULL,
    raw             text        NOT NULL
);
COMMENT ON TABLE vs_ingest.reject IS 'Rejected lines: file, entry, 1-based line number, reason and the line (truncated).';
CREATE INDEX reject_file_idx ON vs_ingest.reject (file_id, line);

SELECT pg_catalog.pg_extension_config_dump('vs_ingest.run', '');
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.file', '');
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.reject', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('vs_ingest.run', 'run_id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('vs_ingest.file', 'file_id'), '');

-- Live progress of loads, from any session: it reflects committed chunks.
CREATE VIEW vs_ingest.progress AS
SELECT f.run_id, f.file_id, f.path, f.status,
       f.input_done AS bytes_done, f.size AS bytes_total,
       f.rows_read AS rows,
       round(f.rows_read / t.seconds) AS rows_per_s,
       round((f.bytes / 1e6 / t.seconds)::numeric, 1) AS mb_per_s,
       CASE WHEN f.status = 'loading' AND f.input_done > 0
            THEN make_interval(secs => (f.size - f.input_done) * t.seconds / f.input_done) END AS eta,
       f.chunks, f.worker_pid
  FROM vs_ingest.file f
  JOIN vs_ingest.run r USING (run_id)
 CROSS JOIN LATERAL (SELECT greatest(extract(epoch FROM coalesce(f.finished_at, clock_timestamp())
                                                      - coalesce(f.started_at, clock_timestamp())), 0.001)
                            AS seconds) t
 WHERE r.status IN ('running', 'cancelling');
COMMENT ON VIEW vs_ingest.progress IS 'Files of running loads, as of their last committed chunk.';

-- Loading users (superusers, pg_read_server_files) keep the history; anyone may not read paths.
REVOKE ALL ON vs_ingest.run, vs_ingest.file, vs_ingest.reject, vs_ingest.progress FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON vs_ingest.run, vs_ingest.file, vs_ingest.reject TO pg_read_server_files;
GRANT SELECT ON vs_ingest.progress TO pg_read_server_files;
GRANT USAGE ON SCHEMA vs_ingest TO pg_read_server_files;
