//! `vs_ingest_plan`: what a load of a directory would do, file by file, and how long it would take
//! on this server, before a big load. Nothing is written and no file is opened: the files are
//! listed and stat'ed as `vs_ingest_dir` lists them, and each is matched with the target's ledger
//! by size and modification time (what the scheduler compares; a load also compares content
//! fingerprints, which would mean reading every file).

use pgrx::prelude::*;

use crate::error::{required, spi_error, OrRaise, Result};
use crate::postgres::access::{self, FixedSearchPath};

/// Input bytes per second assumed before this server has finished a load: the national day
/// (about 0.75 GB zipped) in 20 s on 2 cores (README, Performance).
const DEFAULT_BYTES_PER_SECOND: f64 = 35e6;

/// One row per matching file, in name order, then a row `total` (file NULL): what a load with
/// these options would do (`load`, `skip`, `reload`, `resume`), the input bytes it would read, and
/// the seconds that would take at this server's measured throughput (its last 20 successful runs'
/// input bytes over their wall time; before any, a stated default). `reason` says why.
#[pg_extern(stable, parallel_unsafe)]
#[allow(clippy::type_complexity)]
fn vs_ingest_plan(
    dir: Option<&str>,
    pattern: default!(Option<&str>, "'*'"),
    target: default!(Option<&str>, "'public.vs_its_hourly'"),
    reload_changed: default!(Option<bool>, false),
    replace: default!(Option<bool>, false),
) -> TableIterator<
    'static,
    (
        name!(file, Option<String>),
        name!(action, String),
        name!(bytes, i64),
        name!(estimated_seconds, pgrx::AnyNumeric),
        name!(reason, String),
    ),
> {
    let plan = || -> Result<Vec<_>> {
        let dir = required("dir", dir)?;
        let pattern = required("pattern", pattern)?;
        let target = required("target", target)?;
        let reload_changed = required("reload_changed", reload_changed)?;
        let replace = required("replace", replace)?;
        access::check_role()?;
        let target = access::qualify_target(target)?;
        let _path = FixedSearchPath::enter();
        let allowed = access::allowed_dirs()?;
        let checked = access::open_dir(dir, &allowed)?;
        let files = access::list_matching(&checked, pattern)?;
        let facts: Vec<(String, i64, f64)> = files.iter().filter_map(|f| crate::load::stat(f)).collect();
        decide(&target, &facts, reload_changed, replace)
    };
    TableIterator::new(plan().or_raise())
}

type PlanRow = (Option<String>, String, i64, pgrx::AnyNumeric, String);

/// Matches each file with the newest ledger row of its path in the target (the whole ledger, as
/// the catalog's owner: a load skips a file another role loaded too) and prices the bytes.
fn decide(target: &str, files: &[(String, i64, f64)], reload_changed: bool, replace: bool) -> Result<Vec<PlanRow>> {
    let paths: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
    let sizes: Vec<i64> = files.iter().map(|f| f.1).collect();
    let mtimes: Vec<f64> = files.iter().map(|f| f.2).collect();
    access::as_catalog_owner(|| {
        Spi::connect(|client| {
            client
                .select(
                    "WITH rate AS (
                         SELECT coalesce(sum(b.bytes) / nullif(sum(b.seconds), 0), $7) AS per_second
                           FROM (SELECT (SELECT sum(f.input_done) FROM vs_ingest.file f
                                          WHERE f.run_id = r.run_id AND f.status = 'loaded') AS bytes,
                                        extract(epoch FROM r.finished_at - r.started_at) AS seconds
                                   FROM vs_ingest.run r
                                  WHERE r.status = 'succeeded' AND r.rows_loaded > 0
                                  ORDER BY r.run_id DESC LIMIT 20) b
                     ), files AS (
                         SELECT f.path, f.size, f.mtime, f.n, last.status, last.input_done, last.run_id,
                                last.run_status, last.size = f.size AND last.mtime = to_timestamp(f.mtime) AS same
                           FROM unnest($1::text[], $2::bigint[], $3::float8[]) WITH ORDINALITY AS f(path, size, mtime, n)
                           LEFT JOIN LATERAL (
                                SELECT l.status, l.size, l.mtime, l.input_done, l.run_id, r.status AS run_status
                                  FROM vs_ingest.file l JOIN vs_ingest.run r USING (run_id)
                                 WHERE l.path = f.path
                                   AND coalesce(r.target_oid, to_regclass(r.target)::oid) = to_regclass($4)::oid
                                 ORDER BY l.file_id DESC LIMIT 1) last ON true
                     ), classified AS (
                         -- What the ledger says of each file, decided once; the action and its
                         -- reason follow from it.
                         SELECT files.*, CASE
                                WHEN $6 THEN 'replace'
                                WHEN status IS NULL THEN 'new'
                                WHEN status IN ('pending', 'loading', 'cancelling')
                                     AND run_status IN ('running', 'cancelling') THEN 'in flight'
                                WHEN status IN ('loading', 'cancelled') AND same THEN 'interrupted'
                                WHEN status IN ('loaded', 'superseded', 'skipped') AND same THEN 'loaded'
                                WHEN status IN ('loaded', 'superseded', 'skipped', 'changed') AND $5 THEN 'changed, reload'
                                WHEN status IN ('loaded', 'superseded', 'skipped', 'changed') THEN 'changed'
                                WHEN status = 'failed' THEN 'failed'
                                ELSE 'unfinished' END AS kind
                           FROM files
                     ), decided AS (
                         SELECT path, n, d.action, d.reason,
                                CASE d.action WHEN 'skip' THEN 0
                                              WHEN 'resume' THEN greatest(size - input_done, 0) ELSE size END AS bytes
                           FROM classified CROSS JOIN LATERAL (SELECT
                                CASE WHEN kind IN ('in flight', 'loaded', 'changed') THEN 'skip'
                                     WHEN kind = 'interrupted' THEN 'resume'
                                     WHEN kind = 'changed, reload' THEN 'reload'
                                     ELSE 'load' END AS action,
                                CASE kind
                                     WHEN 'replace' THEN 'replace: rebuilds the days it covers'
                                     WHEN 'new' THEN 'new to this target'
                                     WHEN 'in flight' THEN format('being loaded by run %s', run_id)
                                     WHEN 'interrupted' THEN format('interrupted in run %s: resumes after its committed %s bytes',
                                                                    run_id, input_done)
                                     WHEN 'loaded' THEN 'loaded before'
                                     WHEN 'changed, reload' THEN 'changed since it was loaded: reloads and merges'
                                     WHEN 'changed' THEN 'changed since it was loaded: not loaded without reload_changed => true'
                                     WHEN 'failed' THEN format('failed in run %s: tried again', run_id)
                                     ELSE 'not loaded yet' END AS reason) d
                     )
                     SELECT path, action, bytes, round((bytes / rate.per_second)::numeric, 1), reason
                       FROM decided, rate
                     UNION ALL
                     SELECT NULL, 'total', coalesce(sum(bytes), 0)::bigint,
                            round((coalesce(sum(bytes), 0) / min(rate.per_second))::numeric, 1),
                            format('%s to load, %s to skip, %s to reload, %s to resume; at %s MB/s of input (%s)',
                                   count(*) FILTER (WHERE action = 'load'), count(*) FILTER (WHERE action = 'skip'),
                                   count(*) FILTER (WHERE action = 'reload'), count(*) FILTER (WHERE action = 'resume'),
                                   round((min(rate.per_second) / 1e6)::numeric, 1),
                                   CASE WHEN EXISTS (SELECT 1 FROM vs_ingest.run WHERE status = 'succeeded' AND rows_loaded > 0)
                                        THEN 'measured over this server''s last successful runs'
                                        ELSE 'a default: this server has not finished a load yet' END)
                       FROM decided RIGHT JOIN rate ON true
                     ORDER BY 1 NULLS LAST",
                    None,
                    &[
                        paths.into(),
                        sizes.into(),
                        mtimes.into(),
                        target.into(),
                        reload_changed.into(),
                        replace.into(),
                        DEFAULT_BYTES_PER_SECOND.into(),
                    ],
                )?
                .map(|row| {
                    Ok((
                        row.get::<String>(1)?,
                        row.get::<String>(2)?.unwrap_or_default(),
                        row.get::<i64>(3)?.unwrap_or_default(),
                        row.get::<pgrx::AnyNumeric>(4)?.unwrap_or_default(),
                        row.get::<String>(5)?.unwrap_or_default(),
                    ))
                })
                .collect::<std::result::Result<Vec<_>, pgrx::spi::Error>>()
        })
    })
    .map_err(spi_error)
}
