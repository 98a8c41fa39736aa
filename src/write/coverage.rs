//! Coverage (which links and 5-minute slots each hour of a target holds) and the calendar of
//! local days the views join; both are written in the transaction that writes the rows.

use pgrx::prelude::*;
use vs_ingest_engine::aggregate::{Coverage, SLOTS};

use crate::error::{spi_error, Result};
use crate::postgres::access;
use crate::write::target::Target;

/// Catalog SQL, run as the catalog's owner (users cannot write the catalog tables).
fn owner_sql(query: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<()> {
    access::as_catalog_owner(|| Spi::run_with_args(query, args).map_err(spi_error))
}

/// A Postgres timestamp (microseconds since 2000-01-01 UTC), the query's parameter `$n`, as SQL.
fn pg_stamp(n: u8) -> String {
    format!("(timestamptz '2000-01-01 00:00:00+00' + ${n} * interval '1 microsecond')")
}

/// Adds an hour's newly written links to its coverage (the COPY path: none of them had a row).
pub fn add_coverage(target_oid: pg_sys::Oid, target: &str, stamp: i64, coverage: &Coverage) -> Result<()> {
    let slots: Vec<i32> = coverage.slot_links.iter().map(|&n| n as i32).collect();
    owner_sql(
        &format!(
            "INSERT INTO vs_ingest.coverage AS c (target, hour, links, slot_links, target_oid)
             VALUES ($1, {}, $3, $4, $5)
             ON CONFLICT (target_oid, hour) DO UPDATE SET
                target = excluded.target,
                links = c.links + excluded.links,
                slot_links = ARRAY(SELECT a + b FROM unnest(c.slot_links, excluded.slot_links)
                                                     WITH ORDINALITY AS u(a, b, i) ORDER BY i)",
            pg_stamp(2)
        ),
        &[target.into(), stamp.into(), (coverage.links as i32).into(), slots.into(), target_oid.into()],
    )
}

/// Forgets the coverage of a target's hours from `first` up to `end` (Postgres timestamps): a day
/// a replacement empties before writing it anew (`write::replace`).
pub fn forget_hours(target_oid: pg_sys::Oid, first: i64, end: i64) -> Result<()> {
    owner_sql(
        &format!(
            "DELETE FROM vs_ingest.coverage WHERE target_oid = $1 AND hour >= {} AND hour < {}",
            pg_stamp(2),
            pg_stamp(3)
        ),
        &[target_oid.into(), first.into(), end.into()],
    )
}

/// Adds a local day of `time_zone` to the calendar the targets' views join (once per day and
/// zone); true when the day was new.
pub fn fill_calendar(time_zone: &str, day: &str) -> Result<bool> {
    access::as_catalog_owner(|| {
        Spi::get_one_with_args::<bool>("SELECT vs_ingest.fill_calendar($1, $2::date)", &[time_zone.into(), day.into()])
            .map_err(spi_error)
            .map(|added| added.unwrap_or(false))
    })
}

/// Refreshes the calendar's statistics (after a load added days), so that the planner's estimates
/// of time filters on the views count the new hours. Run in a transaction of its own: ANALYZE
/// locks out other ANALYZEs of the table until commit.
pub fn analyze_calendar() -> Result<()> {
    owner_sql("ANALYZE vs_ingest.calendar_hour, vs_ingest.calendar_5min", &[])
}

/// Recounts an hour's coverage (hour `hour_in_block` of block `block` of local day `day`) from the
/// storage (the merge path: rows may have gained slots).
pub fn recount_coverage(target: &Target, stamp: i64, day: &str, block: u8, hour_in_block: u8) -> Result<()> {
    // Lock the hour's coverage row first, in a statement of its own: another writer that added
    // to it has then committed, and the count below (a fresh snapshot) sees its rows. One that
    // adds later adds only rows this count cannot see.
    owner_sql(
        &format!(
            "INSERT INTO vs_ingest.coverage AS c (target, hour, links, slot_links, target_oid)
             VALUES ($1, {}, 0, array_fill(0, ARRAY[12]), $3)
             ON CONFLICT (target_oid, hour) DO UPDATE SET links = c.links",
            pg_stamp(2)
        ),
        &[target.name.as_str().into(), stamp.into(), target.oid.into()],
    )?;
    // The storage is read with the loading role's rights, never through the target's views
    // (a view can call functions, which would run as the loading role); only the catalog row is
    // written as owner. Bit h of `hours` marks exactly the hours with a sample (a CHECK).
    let first = 12 * i32::from(hour_in_block) + 1;
    let slots = slot_counts(&format!("{first} + "));
    let (links, slot_links) = Spi::get_two_with_args::<i32, Vec<i32>>(
        &format!(
            "SELECT count(*)::int, ARRAY[{slots}]
               FROM {} t WHERE t.day = $1::date AND t.block = $2 AND t.hours & $3 <> 0",
            target.storage_name
        ),
        &[day.into(), i16::from(block).into(), (1i16 << hour_in_block).into()],
    )
    .map_err(spi_error)?;
    owner_sql(
        &format!(
            "UPDATE vs_ingest.coverage SET target = $1, links = $3, slot_links = $4
              WHERE target_oid = $5 AND hour = {}",
            pg_stamp(2)
        ),
        &[
            target.name.as_str().into(),
            stamp.into(),
            links.unwrap_or(0).into(),
            slot_links.unwrap_or_default().into(),
            target.oid.into(),
        ],
    )
}

/// Recounts the coverage of every hour of the local day `day` from the storage, in one query (a
/// load spread over Citus worker nodes: their writers kept their own nodes' coverage). Hours
/// without rows get no coverage row, as a load on one node leaves them.
pub fn recount_day(target: &Target, time_zone: &str, day: &str) -> Result<()> {
    // The storage is read with the loading role's rights, through the calendar the views use (never
    // through the views themselves); only the catalog rows are written as owner.
    let slots = slot_counts("c.first_slot + ");
    let counts = Spi::get_one_with_args::<pgrx::JsonB>(
        &format!(
            "SELECT coalesce(jsonb_agg(jsonb_build_array(h.hour, h.links, h.slots)), '[]')
               FROM (SELECT c.hour, count(*)::int AS links, ARRAY[{slots}] AS slots
                       FROM {} t
                       JOIN vs_ingest.calendar_hour c ON c.local_day = t.day AND c.block = t.block
                      WHERE c.time_zone = $2 AND t.day = $1::date AND t.hours & c.hour_bit <> 0
                      GROUP BY c.hour) h",
            target.storage_name
        ),
        &[day.into(), time_zone.into()],
    )
    .map_err(spi_error)?
    .map(|j| j.0)
    .unwrap_or_default();
    owner_sql(
        "INSERT INTO vs_ingest.coverage AS c (target, hour, links, slot_links, target_oid)
         SELECT $1, (e->>0)::timestamptz, (e->>1)::int,
                ARRAY(SELECT v::int FROM jsonb_array_elements_text(e->2) WITH ORDINALITY AS s(v, i) ORDER BY i), $2
           FROM jsonb_array_elements($3) AS e
         ON CONFLICT (target_oid, hour) DO UPDATE SET
            target = excluded.target, links = excluded.links, slot_links = excluded.slot_links",
        &[target.name.as_str().into(), target.oid.into(), pgrx::JsonB(counts).into()],
    )
}

/// The SQL of the number of links with a sample in each of an hour's twelve 5-minute slots, in
/// storage rows `t` whose hour starts at subscript `first` (an SQL expression followed by ` + `).
fn slot_counts(first: &str) -> String {
    (0..SLOTS).map(|i| format!("count(t.speed[{first}{i}])::int")).collect::<Vec<_>>().join(", ")
}
