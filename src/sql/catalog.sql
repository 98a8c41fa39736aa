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
    status          text        NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
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
    size            bigint      NOT NULL,
    mtime           timestamptz NOT NULL,
    fingerprint     text        NOT NULL,
    container       text,
    status          text        NOT NULL DEFAULT 'loading'
                    CHECK (status IN ('loading', 'loaded', 'skipped', 'changed', 'failed')),
    rows_read       bigint      NOT NULL DEFAULT 0,
    rows_loaded     bigint      NOT NULL DEFAULT 0,
    rows_duplicate  bigint      NOT NULL DEFAULT 0,
    rows_missing    bigint      NOT NULL DEFAULT 0,
    rows_rejected   bigint      NOT NULL DEFAULT 0,
    bytes           bigint      NOT NULL DEFAULT 0,
    -- Where a resumed load continues: entry of the file, decompressed byte offset and line
    -- number within it, of the last committed chunk.
    resume_entry    int         NOT NULL DEFAULT 0,
    resume_offset   bigint      NOT NULL DEFAULT 0,
    resume_line     bigint      NOT NULL DEFAULT 0,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz,
    error           text
);
COMMENT ON TABLE vs_ingest.file IS 'The ledger: one row per file per run, with its fingerprint, outcome and counters.';
CREATE INDEX file_run_idx ON vs_ingest.file (run_id);
CREATE INDEX file_loaded_idx ON vs_ingest.file (path) WHERE status = 'loaded';

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

-- Loading users (superusers, pg_read_server_files) keep the history; anyone may not read paths.
REVOKE ALL ON vs_ingest.run, vs_ingest.file, vs_ingest.reject FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON vs_ingest.run, vs_ingest.file, vs_ingest.reject TO pg_read_server_files;
GRANT USAGE ON SCHEMA vs_ingest TO pg_read_server_files;
