//! `vs_ingest.forget_coverage`: the coverage of a target's hours that no partition holds any more
//! (a day dropped or detached) is deleted. `vs_ingest.apply_retention` (`src/sql/history.sql`)
//! calls it for every day it drops; the scheduler runs that as the source's owner.

use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;

use crate::error::{required, spi_error, IngestError, OrRaise, Result};
use crate::postgres::access::{self, FixedSearchPath};
use crate::postgres::catalog;

/// Deletes the coverage of the hours [lo, hi) of the target `table_name` that no partition of its
/// storage holds any more; returns how many hours it forgot (0 for a table that does not exist or
/// is not a target). Only a role with the privileges of the target's owner (or a superuser) may:
/// coverage is part of the catalog, which users cannot write, so the deletion runs as the
/// catalog's owner, after that check. It decides from the system catalogs alone and never reads
/// the target (a view of the caller's could run the caller's functions with the owner's rights).
#[pg_extern(volatile, parallel_unsafe)]
fn forget_coverage(
    table_name: Option<&str>,
    lo: Option<TimestampWithTimeZone>,
    hi: Option<TimestampWithTimeZone>,
) -> i64 {
    forget(table_name, lo, hi).or_raise()
}

fn forget(
    table_name: Option<&str>,
    lo: Option<TimestampWithTimeZone>,
    hi: Option<TimestampWithTimeZone>,
) -> Result<i64> {
    let name = required("table_name", table_name)?;
    let (lo, hi) = (required("lo", lo)?, required("hi", hi)?);
    access::check_role()?;
    // Resolved as the caller, under the caller's search_path, before the path is fixed.
    let Some(rel) = access::relation_oid(name)? else { return Ok(0) };
    let _path = FixedSearchPath::enter();
    if !access::owns_relation(rel) {
        return Err(IngestError::NotTargetOwner(name.into()));
    }
    access::as_catalog_owner(|| {
        let (storage, tz) = Spi::get_two_with_args::<pg_sys::Oid, String>(
            "SELECT vs_ingest.storage_of($1::regclass)::oid, vs_ingest.time_zone_of($1::regclass)",
            &[rel.into()],
        )
        .map_err(spi_error)?;
        let (Some(storage), Some(tz)) = (storage, tz) else { return Ok(0) };
        if !catalog::is_time_zone(&tz)? {
            return Ok(0); // not a target
        }
        // A partition still holds a local day of [lo, hi): nothing is stale.
        Spi::get_one_with_args::<i64>(
            "WITH forgotten AS (
                 DELETE FROM vs_ingest.coverage c
                  WHERE c.target_oid = $1 AND c.hour >= $3 AND c.hour < $4
                    AND NOT EXISTS (SELECT 1 FROM vs_ingest.day_partitions($2::regclass) p
                                     WHERE p.lo::timestamp AT TIME ZONE $5 < $4
                                       AND p.hi::timestamp AT TIME ZONE $5 > $3)
                 RETURNING 1)
             SELECT count(*) FROM forgotten",
            &[rel.into(), storage.into(), lo.into(), hi.into(), tz.into()],
        )
        .map(Option::unwrap_or_default)
        .map_err(spi_error)
    })
}
