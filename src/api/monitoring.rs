//! What the monitoring stack reads (`monitoring/queries.yaml`, for Debian's
//! `prometheus-postgres-exporter`): figures over every load and source, for members of
//! `pg_monitor`, without the rows, rejected lines or coverage those roles may not read. They run
//! as the catalog's owner and return only counts and ages.

use pgrx::prelude::*;

use crate::error::{spi_error, IngestError, OrRaise, Result};
use crate::postgres::access::{self, FixedSearchPath};

/// Superusers, members of `pg_monitor` and loaders (`pg_read_server_files`) may read the figures.
fn check_monitor() -> Result<()> {
    // SAFETY: catalog look-ups on the backend's main thread.
    let allowed = unsafe {
        let user = pg_sys::GetUserId();
        pg_sys::superuser()
            || pg_sys::has_privs_of_role(user, pg_sys::Oid::from(pg_sys::ROLE_PG_MONITOR))
            || pg_sys::has_privs_of_role(user, pg_sys::Oid::from(pg_sys::ROLE_PG_READ_SERVER_FILES))
    };
    if allowed {
        Ok(())
    } else {
        Err(IngestError::NotMonitor)
    }
}

/// Rejected lines by reason, over every file in the history (the lines themselves stay visible
/// only to the roles that loaded them).
#[pg_extern(stable, parallel_unsafe)]
fn reject_counts() -> TableIterator<'static, (name!(reason, String), name!(rejects, i64))> {
    let counts = || -> Result<Vec<(String, i64)>> {
        check_monitor()?;
        let _path = FixedSearchPath::enter();
        access::as_catalog_owner(|| {
            Spi::connect(|client| {
                client
                    .select("SELECT reason, count(*) FROM vs_ingest.reject GROUP BY reason ORDER BY reason", None, &[])?
                    .map(|row| Ok((row.get::<String>(1)?.unwrap_or_default(), row.get::<i64>(2)?.unwrap_or_default())))
                    .collect::<std::result::Result<Vec<_>, pgrx::spi::Error>>()
            })
        })
        .map_err(spi_error)
    };
    TableIterator::new(counts().or_raise())
}

/// Per source: the newest hour its target holds (from the coverage the load keeps), how long ago
/// that hour ended, and the coverage of the newest local day so far (the mean over its loaded
/// hours of links reported / links expected, as `vs_ingest_coverage` computes them; NULL without
/// a week of history). `failing`: the source's last check failed.
#[pg_extern(stable, parallel_unsafe)]
#[allow(clippy::type_complexity)]
fn source_freshness() -> TableIterator<
    'static,
    (
        name!(source, String),
        name!(target, String),
        name!(enabled, bool),
        name!(failing, bool),
        name!(newest_hour, Option<pgrx::datum::TimestampWithTimeZone>),
        name!(age_seconds, Option<f64>),
        name!(day_coverage, Option<f64>),
    ),
> {
    let rows = || -> Result<Vec<_>> {
        check_monitor()?;
        let _path = FixedSearchPath::enter();
        access::as_catalog_owner(|| {
            Spi::connect(|client| {
                client
                    .select(
                        "SELECT s.name, s.target, s.enabled, s.last_error IS NOT NULL, n.newest,
                                extract(epoch FROM clock_timestamp() - (n.newest + interval '1 hour'))::float8,
                                (SELECT avg(r.coverage)
                                   FROM vs_ingest.coverage_report(t.rel, NULL,
                                            ((n.newest AT TIME ZONE z.tz)::date)::timestamp AT TIME ZONE z.tz,
                                            n.newest + interval '1 hour', 7) r)
                           FROM vs_ingest.source s
                           LEFT JOIN LATERAL (SELECT to_regclass(s.target) AS rel) t ON true
                           LEFT JOIN LATERAL (SELECT max(c.hour) AS newest FROM vs_ingest.coverage c
                                               WHERE c.target_oid = t.rel) n ON true
                           LEFT JOIN LATERAL (SELECT vs_ingest.time_zone_of(t.rel) AS tz
                                               WHERE t.rel IS NOT NULL AND n.newest IS NOT NULL) z ON true
                          ORDER BY s.name",
                        None,
                        &[],
                    )?
                    .map(|row| {
                        Ok((
                            row.get::<String>(1)?.unwrap_or_default(),
                            row.get::<String>(2)?.unwrap_or_default(),
                            row.get::<bool>(3)?.unwrap_or_default(),
                            row.get::<bool>(4)?.unwrap_or_default(),
                            row.get::<pgrx::datum::TimestampWithTimeZone>(5)?,
                            row.get::<f64>(6)?,
                            row.get::<f64>(7)?,
                        ))
                    })
                    .collect::<std::result::Result<Vec<_>, pgrx::spi::Error>>()
            })
        })
        .map_err(spi_error)
    };
    TableIterator::new(rows().or_raise())
}
