//! `vs_ingest_set_links`: a target's reference network, the links it knows (`crate::postgres::links`).

use pgrx::prelude::*;

use crate::error::{required, spi_error, IngestError, OrRaise, Result};
use crate::postgres::access::{self, FixedSearchPath};
use crate::postgres::links;

/// Replaces the network of the target `target` (its hourly view) with the links of the table or
/// view `relation`: a column `link_id` (integer), and optionally `region`, `road_name`,
/// `valid_from` and `valid_until` (dates: the local days the link exists, until excluded). NULL
/// removes the network. Returns how many links the target now knows.
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_set_links(target: Option<&str>, relation: Option<&str>) -> i64 {
    set(target, relation).or_raise()
}

fn set(target: Option<&str>, relation: Option<&str>) -> Result<i64> {
    let target = required("target", target)?;
    // Both names are resolved under the caller's search_path, by catalog look-ups, before the
    // path is fixed for everything else.
    let oid = access::relation_oid(target)?.ok_or_else(|| IngestError::NotATarget(target.into()))?;
    let relation = links::resolve(relation)?;
    let _path = FixedSearchPath::enter();
    let is_target = Spi::get_one_with_args::<bool>(
        "SELECT vs_ingest.storage_of($1::regclass) IS NOT NULL AND vs_ingest.time_zone_of($1::regclass) IS NOT NULL",
        &[oid.into()],
    )
    .map_err(spi_error)?
    .unwrap_or(false);
    if !is_target {
        return Err(IngestError::NotATarget(target.into()));
    }
    if !access::owns_relation(oid) {
        return Err(IngestError::NotNetworkOwner(target.into()));
    }
    links::set_network(oid, relation)
}
