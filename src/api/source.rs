//! Sources for the scheduler: `vs_ingest_add_source`, `vs_ingest_alter_source`,
//! `vs_ingest_enable_source`, `vs_ingest_disable_source`, `vs_ingest_drop_source` and
//! `vs_ingest_run_source`. The same privilege rules as `vs_ingest_dir` apply, and only a source's
//! owner (or a member of that role, or a superuser) may change, drop or run it.

// pgrx derives the SQL signature from the Rust one: every SQL argument is a Rust argument.
#![allow(clippy::too_many_arguments)]

use pgrx::datum::Interval;
use pgrx::prelude::*;

use crate::error::{required, IngestError, OrRaise, Result};
use crate::load;
use crate::postgres::access::{self, FixedSearchPath};
use crate::postgres::links;
use crate::postgres::source::{self, Settings};

/// Checks settings as they will be stored (`current` fills what `s` leaves alone).
fn check(s: &Settings, current: Option<&source::Source>) -> Result<()> {
    access::check_role()?;
    let allowed = access::allowed_dirs()?;
    let pick = |new: Option<&str>, old: Option<&str>| new.or(old).map(str::to_string);
    let dir = pick(s.dir, current.map(|c| c.dir.as_str())).unwrap_or_default();
    access::open_dir(&dir, &allowed)?;
    access::file_pattern(&pick(s.pattern, current.map(|c| c.pattern.as_str())).unwrap_or_default())?;
    let tz = match s.source_timezone {
        Some("") => None,
        Some(tz) => Some(tz.to_string()),
        None => current.and_then(|c| c.source_timezone.clone()),
    };
    load::check_options(
        &pick(s.format, current.map(|c| c.format.as_str())).unwrap_or_default(),
        tz.as_deref(),
        s.max_reject_ratio,
    )?;
    source::check_interval("every", s.every, "1 second", false)?;
    source::check_interval("retain", s.retain, "1 microsecond", true)?;
    if let Some(coverage) = s.min_coverage.filter(|&c| c > 1.0 || c.is_nan()) {
        return Err(IngestError::BadMinCoverage(coverage));
    }
    if let Some(word) = s.unknown_links.filter(|w| !w.is_empty()) {
        links::unknown_links(word)?;
    }
    if let Some(action) = s.retain_action {
        if action != "detach" && action != "drop" {
            return Err(IngestError::BadRetainAction(action.into()));
        }
    }
    Ok(())
}

/// Adds a directory for the scheduler to load new and changed files from, every `every`. The
/// options are those of `vs_ingest_dir`; `retain` (NULL: forever) detaches or drops the target's
/// days older than it. Scheduled runs run as the calling role. Returns the source's id.
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_add_source(
    name: Option<&str>,
    dir: Option<&str>,
    pattern: default!(Option<&str>, "'*'"),
    every: default!(Option<Interval>, "'1 minute'"),
    target: default!(Option<&str>, "'public.vs_its_hourly'"),
    format: default!(Option<&str>, "'its_5min'"),
    source_timezone: default!(Option<&str>, "NULL"),
    max_reject_ratio: default!(Option<f64>, "NULL"),
    reload_changed: default!(Option<bool>, false),
    retain: default!(Option<Interval>, "NULL"),
    retain_action: default!(Option<&str>, "'detach'"),
    enabled: default!(Option<bool>, true),
    replace: default!(Option<bool>, false),
    due_after: default!(Option<Interval>, "NULL"),
    min_coverage: default!(Option<f64>, "NULL"),
    links: default!(Option<&str>, "NULL"),
    unknown_links: default!(Option<&str>, "NULL"),
) -> i32 {
    let add = || {
        let name = required("name", name)?;
        let target = required("target", target)?;
        let settings = Settings {
            dir: Some(required("dir", dir)?),
            pattern: Some(required("pattern", pattern)?),
            every: Some(required("every", every)?),
            target: Some(target),
            format: Some(required("format", format)?),
            source_timezone,
            max_reject_ratio,
            reload_changed: Some(required("reload_changed", reload_changed)?),
            replace: Some(required("replace", replace)?),
            due_after,
            min_coverage,
            retain,
            retain_action: Some(required("retain_action", retain_action)?),
            enabled: Some(required("enabled", enabled)?),
            links: None,
            unknown_links,
        };
        // Stored schema-qualified (and the links by oid): scheduled runs resolve names with
        // another search path.
        let target = access::qualify_target(target)?;
        let links = links::resolve(links)?;
        let _path = FixedSearchPath::enter();
        check(&settings, None)?;
        let links = links.map(check_links).transpose()?;
        source::insert(name, &Settings { target: Some(&target), links: links.map(Some), ..settings })
    };
    add().or_raise()
}

/// Changes the given settings of a source; NULL leaves one as it is. `source_timezone => ''`
/// goes back to the setting, `retain => '0'` keeps every day. Its next check is due at once.
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_alter_source(
    name: Option<&str>,
    dir: default!(Option<&str>, "NULL"),
    pattern: default!(Option<&str>, "NULL"),
    every: default!(Option<Interval>, "NULL"),
    target: default!(Option<&str>, "NULL"),
    format: default!(Option<&str>, "NULL"),
    source_timezone: default!(Option<&str>, "NULL"),
    max_reject_ratio: default!(Option<f64>, "NULL"),
    reload_changed: default!(Option<bool>, "NULL"),
    retain: default!(Option<Interval>, "NULL"),
    retain_action: default!(Option<&str>, "NULL"),
    enabled: default!(Option<bool>, "NULL"),
    replace: default!(Option<bool>, "NULL"),
    due_after: default!(Option<Interval>, "NULL"),
    min_coverage: default!(Option<f64>, "NULL"),
    links: default!(Option<&str>, "NULL"),
    unknown_links: default!(Option<&str>, "NULL"),
) {
    let settings = Settings {
        dir,
        pattern,
        every,
        target,
        format,
        source_timezone,
        max_reject_ratio,
        reload_changed,
        replace,
        due_after,
        min_coverage,
        retain,
        retain_action,
        enabled,
        links: None,
        unknown_links,
    };
    required("name", name).and_then(|name| alter(name, settings, links)).or_raise()
}

/// `links`: `None` leaves the source's alone, `Some("")` keeps every link again.
fn alter(name: &str, settings: Settings, links: Option<&str>) -> Result<()> {
    let target = settings.target.map(access::qualify_target).transpose()?;
    let relation = links::resolve(links.filter(|l| !l.is_empty()))?;
    let _path = FixedSearchPath::enter();
    let current = source::managed(name)?;
    check(&settings, Some(&current))?;
    let links = match links {
        None => None,
        Some("") => Some(None),
        Some(_) => Some(relation.map(check_links).transpose()?),
    };
    source::update(name, &Settings { target: target.as_deref(), links, ..settings })
}

/// Reads the relation as the caller (its privileges, an integer `link_id`, at least one link), as
/// each scheduled run will read it as the source's owner; its oid and name.
fn check_links(relation: pg_sys::Oid) -> Result<(pg_sys::Oid, String)> {
    let (name, _) = links::read(Some(relation))?.expect("a relation was given");
    Ok((relation, name))
}

/// Lets the scheduler load the source again (at once).
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_enable_source(name: Option<&str>) {
    required("name", name)
        .and_then(|name| alter(name, Settings { enabled: Some(true), ..Settings::default() }, None))
        .or_raise()
}

/// Stops scheduled loads of the source; a run in progress goes on.
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_disable_source(name: Option<&str>) {
    required("name", name)
        .and_then(|name| alter(name, Settings { enabled: Some(false), ..Settings::default() }, None))
        .or_raise()
}

/// Removes the source. Its runs stay in the history; loaded data stays in its table.
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_drop_source(name: Option<&str>) {
    let drop = || {
        let name = required("name", name)?;
        let _path = FixedSearchPath::enter();
        access::check_role()?;
        source::managed(name)?;
        source::delete(name)
    };
    drop().or_raise()
}

/// Loads the source now, as the calling role: every matching file, like `vs_ingest_dir` with
/// the source's options (loaded files are skipped, failed ones tried again).
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_run_source(
    name: Option<&str>,
    wait: default!(Option<bool>, true),
) -> pgrx::composite_type!('static, "vs_ingest.load_summary") {
    let run = || {
        let (name, wait) = (required("name", name)?, required("wait", wait)?);
        let _path = FixedSearchPath::enter();
        let source = source::managed(name)?;
        load::load_source(&source, false, wait).map(|s| s.expect("an unscheduled load always runs"))
    };
    super::ingest::summary_row(run().or_raise())
}
