//! Reading and writing `vs_ingest.source` (DDL in `src/sql/catalog.sql`): the directories the
//! scheduler watches. Rows are written only here, as the bootstrap superuser, after the calling
//! role was checked: a source's owner is who its scheduled runs run as, so nobody may set it.

use pgrx::datum::{DatumWithOid, Interval};
use pgrx::prelude::*;

use crate::error::{spi_error, IngestError, Result};
use crate::postgres::access;

/// A source, with what a run of it needs.
#[derive(Clone, Debug)]
pub struct Source {
    pub id: i32,
    pub name: String,
    /// The owner's name when the source was added, for messages.
    pub owner: String,
    /// Who the owner is: scheduled runs run as this role, and only it (or a member of it, or a
    /// superuser) manages the source. `None`: the role was gone when 0.3.0 recorded oids.
    pub owner_oid: Option<pg_sys::Oid>,
    pub dir: String,
    pub pattern: String,
    pub target: String,
    pub format: String,
    pub source_timezone: Option<String>,
    pub max_reject_ratio: Option<f64>,
    pub reload_changed: bool,
    /// Load with `replace => true` (a feed that re-issues corrected files).
    pub replace: bool,
    pub retain_action: Option<String>,
    /// The relation of the only links to keep (`links => ...`), by oid, and its name when it was
    /// set (for messages).
    pub links: Option<(pg_sys::Oid, String)>,
    /// `'load'` or `'skip'`; `None`: not given (load).
    pub unknown_links: Option<String>,
}

const COLUMNS: &str = "source_id, name, owner::text, dir, pattern, target, format, source_timezone, max_reject_ratio,
                       reload_changed, CASE WHEN retain IS NOT NULL THEN retain_action END, owner_oid, replace,
                       links_oid, links, unknown_links";

fn select(query: &str, args: &[DatumWithOid]) -> Result<Vec<Source>> {
    Spi::connect(|client| {
        client
            .select(query, None, args)?
            .map(|row| {
                Ok(Source {
                    id: row.get::<i32>(1)?.unwrap_or_default(),
                    name: row.get::<String>(2)?.unwrap_or_default(),
                    owner: row.get::<String>(3)?.unwrap_or_default(),
                    dir: row.get::<String>(4)?.unwrap_or_default(),
                    pattern: row.get::<String>(5)?.unwrap_or_default(),
                    target: row.get::<String>(6)?.unwrap_or_default(),
                    format: row.get::<String>(7)?.unwrap_or_default(),
                    source_timezone: row.get::<String>(8)?,
                    max_reject_ratio: row.get::<f64>(9)?,
                    reload_changed: row.get::<bool>(10)?.unwrap_or_default(),
                    retain_action: row.get::<String>(11)?,
                    owner_oid: row.get::<pg_sys::Oid>(12)?,
                    replace: row.get::<bool>(13)?.unwrap_or_default(),
                    links: row.get::<pg_sys::Oid>(14)?.zip(row.get::<String>(15)?),
                    unknown_links: row.get::<String>(16)?,
                })
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .map_err(spi_error)
}

fn run_sql(query: &str, args: &[DatumWithOid]) -> Result<()> {
    Spi::run_with_args(query, args).map_err(spi_error)
}

/// The source called `name`, if the caller may manage it (its owner's member, or a superuser).
pub fn managed(name: &str) -> Result<Source> {
    let source = select(&format!("SELECT {COLUMNS} FROM vs_ingest.source WHERE name = $1"), &[name.into()])?
        .pop()
        .ok_or_else(|| IngestError::NoSuchSource(name.into()))?;
    if !access::may_act_for(source.owner_oid) {
        return Err(IngestError::NotSourceOwner(name.into()));
    }
    Ok(source)
}

/// Enabled sources whose next check is due and that have no run going.
pub fn due() -> Result<Vec<Source>> {
    select(
        &format!(
            "SELECT {COLUMNS} FROM vs_ingest.source s
              WHERE enabled AND next_check_at <= clock_timestamp()
                AND NOT EXISTS (SELECT 1 FROM vs_ingest.run r
                                 WHERE r.source_id = s.source_id AND r.status IN ('running', 'cancelling'))
              ORDER BY next_check_at, source_id"
        ),
        &[],
    )
}

/// Enabled sources with a retention period.
pub fn with_retention() -> Result<Vec<Source>> {
    select(
        &format!("SELECT {COLUMNS} FROM vs_ingest.source WHERE enabled AND retain IS NOT NULL ORDER BY source_id"),
        &[],
    )
}

/// Records a check of `source`: when, its failure if any, and when the next one is due.
pub fn checked(source: i32, error: Option<&str>) -> Result<()> {
    access::as_catalog_owner(|| {
        run_sql(
            "UPDATE vs_ingest.source SET last_checked_at = clock_timestamp(), last_error = $2,
                    next_check_at = clock_timestamp() + every
              WHERE source_id = $1",
            &[source.into(), error.into()],
        )
    })
}

/// Records a retention failure of `source`.
pub fn retention_failed(source: i32, error: &str) -> Result<()> {
    access::as_catalog_owner(|| {
        run_sql(
            "UPDATE vs_ingest.source SET last_error = 'retention: ' || $2 WHERE source_id = $1",
            &[source.into(), error.into()],
        )
    })
}

/// Of the `files` (path, size, mtime in seconds) of a source, those its target's ledger has not
/// settled: new ones, ones whose size or mtime changed, and ones an interrupted run left
/// unfinished. Loaded, superseded, skipped and failed files stay settled until they change; a
/// changed file reported as such stays settled unless the source reloads (or replaces with)
/// changed files.
pub fn unsettled(target: &str, files: &[(String, i64, f64)], reload_changed: bool) -> Result<Vec<String>> {
    let paths: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
    let sizes: Vec<i64> = files.iter().map(|f| f.1).collect();
    let mtimes: Vec<f64> = files.iter().map(|f| f.2).collect();
    // The whole ledger of the target, whoever loaded into it: as the catalog's owner.
    access::as_catalog_owner(|| Spi::connect(|client| {
        client
            .select(
                "SELECT f.path FROM unnest($1::text[], $2::bigint[], $3::float8[]) WITH ORDINALITY AS f(path, size, mtime, n)
                  WHERE NOT EXISTS (
                        SELECT 1 FROM (SELECT l.status, l.size, l.mtime
                                         FROM vs_ingest.file l JOIN vs_ingest.run r USING (run_id)
                                        WHERE l.path = f.path
                                          AND coalesce(r.target_oid, to_regclass(r.target)::oid) = to_regclass($4)::oid
                                        ORDER BY l.file_id DESC LIMIT 1) last
                         WHERE (last.size = f.size AND last.mtime = to_timestamp(f.mtime)
                                AND (last.status IN ('loaded', 'superseded', 'skipped', 'failed')
                                     OR (last.status = 'changed' AND NOT $5)))
                            -- Failed before its facts were taken (unreadable, outside the
                            -- allowed directories): vs_ingest_run_source tries it again.
                            OR (last.status = 'failed' AND last.size IS NULL))
                  ORDER BY f.n",
                None,
                &[paths.into(), sizes.into(), mtimes.into(), target.into(), reload_changed.into()],
            )?
            .map(|row| row.get::<String>(1).map(Option::unwrap_or_default))
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    }))
    .map_err(spi_error)
}

/// What `vs_ingest_add_source` and `vs_ingest_alter_source` set; `None` leaves a column alone
/// (`alter`) or takes its default (`add`).
#[derive(Default)]
pub struct Settings<'a> {
    pub dir: Option<&'a str>,
    pub pattern: Option<&'a str>,
    pub every: Option<Interval>,
    pub target: Option<&'a str>,
    pub format: Option<&'a str>,
    /// `Some("")`: back to the setting `vs_ingest.source_timezone`.
    pub source_timezone: Option<&'a str>,
    pub max_reject_ratio: Option<f64>,
    pub reload_changed: Option<bool>,
    pub replace: Option<bool>,
    /// Negative: no arrival alerts.
    pub due_after: Option<Interval>,
    /// Negative: no coverage alerts.
    pub min_coverage: Option<f64>,
    /// `Some(0)`: no retention.
    pub retain: Option<Interval>,
    pub retain_action: Option<&'a str>,
    pub enabled: Option<bool>,
    /// `Some(None)`: keep every link again; `Some(Some((relation, name)))`: keep only its links.
    pub links: Option<Option<(pg_sys::Oid, String)>>,
    /// `Some("")`: back to the default (load).
    pub unknown_links: Option<&'a str>,
}

/// Checks that an interval is at least `min` (an SQL interval literal).
pub fn check_interval(name: &'static str, value: Option<Interval>, min: &str, zero_ok: bool) -> Result<()> {
    let Some(value) = value else { return Ok(()) };
    let ok = Spi::get_one_with_args::<bool>(
        &format!("SELECT $1 >= interval '{min}' OR ($2 AND $1 = interval '0')"),
        &[value.into(), zero_ok.into()],
    )
    .map_err(spi_error)?
    .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        let text = Spi::get_one_with_args::<String>("SELECT $1::text", &[value.into()]).map_err(spi_error)?;
        Err(IngestError::BadInterval { name, value: text.unwrap_or_default() })
    }
}

/// Adds a source owned by the current user; its id.
pub fn insert(name: &str, s: &Settings) -> Result<i32> {
    let mut args = settings_args(name, s);
    // Taken before switching to the catalog's owner.
    args.push(access::current_user_name().into());
    args.push(access::current_user_oid().into());
    let id = access::as_catalog_owner(|| {
        Spi::get_one_with_args::<i32>(
            // A name that exists inserts nothing: the outer SELECT still gives one row (NULL).
            "WITH added AS (
                 INSERT INTO vs_ingest.source (name, owner, owner_oid, dir, pattern, every, target, format,
                                               source_timezone, max_reject_ratio, reload_changed, retain,
                                               retain_action, enabled, replace, due_after, min_coverage,
                                               links_oid, links, unknown_links)
                 VALUES ($1, $20, $21, $2, $3, $4, $5, $6, nullif($7, ''), $8, $9, nullif($10, interval '0'),
                         $11, $12, $13, CASE WHEN $14 >= interval '0' THEN $14 END,
                         CASE WHEN $15 >= 0 THEN $15 END, $17, $18, nullif($19, ''))
                 ON CONFLICT (name) DO NOTHING RETURNING source_id)
             SELECT (SELECT source_id FROM added)",
            &args,
        )
        .map_err(spi_error)
    });
    id.and_then(|id| id.ok_or_else(|| IngestError::SourceExists(name.into())))
}

/// Changes the given settings of a source; its next check is due at once.
pub fn update(name: &str, s: &Settings) -> Result<()> {
    access::as_catalog_owner(|| {
        run_sql(
            "UPDATE vs_ingest.source SET
                    dir = coalesce($2, dir), pattern = coalesce($3, pattern), every = coalesce($4, every),
                    target = coalesce($5, target), format = coalesce($6, format),
                    source_timezone = CASE WHEN $7 IS NULL THEN source_timezone ELSE nullif($7, '') END,
                    max_reject_ratio = coalesce($8, max_reject_ratio),
                    reload_changed = coalesce($9, reload_changed),
                    retain = CASE WHEN $10 IS NULL THEN retain ELSE nullif($10, interval '0') END,
                    retain_action = coalesce($11, retain_action), enabled = coalesce($12, enabled),
                    replace = coalesce($13, replace),
                    due_after = CASE WHEN $14 IS NULL THEN due_after WHEN $14 >= interval '0' THEN $14 END,
                    min_coverage = CASE WHEN $15 IS NULL THEN min_coverage WHEN $15 >= 0 THEN $15 END,
                    links_oid = CASE WHEN $16 THEN $17 ELSE links_oid END,
                    links = CASE WHEN $16 THEN $18 ELSE links END,
                    unknown_links = CASE WHEN $19 IS NULL THEN unknown_links ELSE nullif($19, '') END,
                    next_check_at = clock_timestamp()
              WHERE name = $1",
            &settings_args(name, s),
        )
    })
}

pub fn delete(name: &str) -> Result<()> {
    access::as_catalog_owner(|| run_sql("DELETE FROM vs_ingest.source WHERE name = $1", &[name.into()]))
}

fn settings_args<'a>(name: &'a str, s: &Settings<'a>) -> Vec<DatumWithOid<'a>> {
    let links = s.links.as_ref().map(|l| l.as_ref().map(|(oid, name)| (*oid, name.clone())));
    let (links_oid, links_name) = links.clone().flatten().unzip();
    vec![
        name.into(),
        s.dir.into(),
        s.pattern.into(),
        s.every.into(),
        s.target.into(),
        s.format.into(),
        s.source_timezone.into(),
        s.max_reject_ratio.into(),
        s.reload_changed.into(),
        s.retain.into(),
        s.retain_action.into(),
        s.enabled.into(),
        s.replace.into(),
        s.due_after.into(),
        s.min_coverage.into(),
        links.is_some().into(),
        links_oid.into(),
        links_name.into(),
        s.unknown_links.into(),
    ]
}
