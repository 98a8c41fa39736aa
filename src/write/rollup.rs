//! Daily rollups, written in the transaction that writes the rows they sum (`src/sql/rollup.sql`
//! creates the table and its view).
//!
//! - Block rows written straight in are new: every sample in them is an addition, so the day's
//!   rollups of the transaction's straight blocks are summed in memory ([`DayRow`], by the
//!   engine's threads) and inserted into the rollup table when the transaction commits its chunk
//!   ([`Rollups::flush`]); a link whose day has rollups already (an earlier transaction wrote
//!   other blocks of it) is rebuilt.
//! - A block merged into rows that existed may have filled only some slots: the days it touched
//!   are rebuilt from the stored block rows for the links it holds ([`rebuild`]).
//!
//! - A day whose rows were stored before its rollups were kept (a target's rollup table made by
//!   the update from 0.2.0 starts with none: `vs_ingest.rollup_days_to_build`) is built whole from
//!   the stored rows, with the transaction's own, when a load writes into it.
//!
//! - The monthly rollups (one row per link, month and day type) follow every change of daily rows:
//!   daily rows added are added to them, daily rows deleted or rebuilt are taken away first and
//!   added again after ([`add_to_months`], `vs_ingest.add_to_months`).
//!
//! Two loads writing the same day take turns at the flush (a transaction lock on the day of the
//! rollup table, held to commit): a rebuild then reads after the other's commit, or the other
//! adds only rows the rebuild could not see. Rows of one block cannot be written by two loads at
//! once (the second waits on the primary key).

use std::collections::{BTreeMap, HashMap, HashSet};

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use vs_ingest_engine::block::BLOCK_SLOTS;
use vs_ingest_engine::calendar::Date;
use vs_ingest_engine::copy_binary::CopyBuffer;
use vs_ingest_engine::rollup::{push_day_rows, DayRow, StoredDayRows};

use crate::error::{spi_error, IngestError, Result};
use crate::postgres::subxact::in_subtransaction;
use crate::write::copy::{copy_into, copy_statement};
use crate::write::insert::insert_rows;
use crate::write::target::qualified_name;

/// What a transaction owes a day's rollups.
#[derive(Default)]
struct Day {
    /// Sums of the rows COPYed straight in, by link.
    added: BTreeMap<i64, DayRow>,
    /// Links whose rows of the day were merged: rebuilt from the storage.
    rebuild: Vec<i64>,
    /// The day had rows before it had rollups: all of it is built from the storage.
    whole: bool,
}

/// The rollups a transaction owes, by local day.
#[derive(Default)]
pub struct Rollups {
    days: HashMap<i64, Day>,
}

impl Rollups {
    /// Counts the sums of a block's rows COPYed straight in.
    pub fn add(&mut self, day: i64, sums: Vec<DayRow>) {
        if sums.is_empty() {
            return;
        }
        let day = self.days.entry(day).or_default();
        for sum in sums {
            match day.added.entry(sum.link_id) {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(sum);
                }
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    if !e.get_mut().add(&sum) {
                        day.rebuild.push(sum.link_id);
                    }
                }
            }
        }
    }

    /// Marks links' days for a rebuild (a block of theirs was merged).
    pub fn rebuild(&mut self, day: i64, links: impl Iterator<Item = i64>) {
        let mut links = links.peekable();
        if links.peek().is_some() {
            self.days.entry(day).or_default().rebuild.extend(links);
        }
    }

    /// Marks a day to be built whole (it had rows stored before its rollups were kept).
    pub fn build_whole(&mut self, day: i64) {
        self.days.entry(day).or_default().whole = true;
    }

    pub fn clear(&mut self) {
        self.days.clear();
    }

    /// Writes what the transaction owes into the rollup table `days` of `storage`, whose day
    /// partitions the writer found and checked (`partitions`; none for rollups `distributed` by
    /// Citus, which are written through Citus only).
    pub fn flush(
        &mut self,
        storage: pg_sys::Oid,
        days: pg_sys::Oid,
        partitions: &HashMap<i64, pg_sys::Oid>,
        distributed: bool,
    ) -> Result<()> {
        let mut owed: Vec<(i64, Day)> = self.days.drain().collect();
        owed.sort_by_key(|(day, _)| *day);
        // Every month's turn before any day's (vs_ingest.lock_month says why).
        let mut months: Vec<i64> = owed.iter().map(|(day, _)| month_of(*day)).collect();
        months.dedup();
        for month in months {
            lock_month(days, month)?;
        }
        for (day, mut owed) in owed {
            lock_day(days, day)?;
            if owed.whole {
                rebuild(storage, days, day, None, distributed)?;
                continue;
            }
            if !owed.rebuild.is_empty() {
                owed.rebuild.sort_unstable();
                owed.rebuild.dedup();
                // A rebuild reads every stored row of those links: their straight sums are in it.
                for link in &owed.rebuild {
                    owed.added.remove(link);
                }
                rebuild(storage, days, day, Some(&owed.rebuild), distributed)?;
            }
            if !owed.added.is_empty() {
                add(storage, days, partitions.get(&day).copied(), day, owed.added.values(), distributed)?;
            }
        }
        Ok(())
    }
}

/// The first day of `day`'s month (days since 1970).
fn month_of(day: i64) -> i64 {
    let date = Date::from_days_since_epoch(day);
    Date::new(date.year, date.month, 1).map(|d| d.days_since_epoch()).unwrap_or(day)
}

/// Takes the month's turn at the monthly rollups of `days` until the transaction ends.
fn lock_month(days: pg_sys::Oid, day: i64) -> Result<()> {
    Spi::run_with_args(
        "SELECT vs_ingest.lock_month($1, $2::date)",
        &[days.into(), Date::from_days_since_epoch(day).to_string().into()],
    )
    .map_err(spi_error)
}

/// Adds (`sign` 1) the daily rollups of `day` (of `links`, or all) to the monthly rollups, or
/// takes them away (-1) before they are deleted or rebuilt.
pub fn add_to_months(days: pg_sys::Oid, day: i64, links: Option<&[i64]>, sign: i32) -> Result<()> {
    Spi::run_with_args(
        "SELECT vs_ingest.add_to_months($1, $2::date, $3, $4)",
        &[
            days.into(),
            Date::from_days_since_epoch(day).to_string().into(),
            links.map(<[i64]>::to_vec).into(),
            sign.into(),
        ],
    )
    .map_err(spi_error)
}

/// Takes the day's turn at the rollup table until the transaction ends.
fn lock_day(days: pg_sys::Oid, day: i64) -> Result<()> {
    Spi::run_with_args(
        "SELECT vs_ingest.lock_rollup_day($1, $2::date)",
        &[days.into(), Date::from_days_since_epoch(day).to_string().into()],
    )
    .map_err(spi_error)
}

/// Copies rollup rows into `days`: for a table `distributed` by Citus, by a COPY statement Citus
/// routes to the shards (COPY's machinery underneath it would fill the coordinator's empty shell).
fn copy_rows(days: pg_sys::Oid, distributed: bool, payload: &[u8]) -> Result<u64> {
    if distributed {
        copy_statement(&qualified_name(days)?, payload)
    } else {
        Ok(copy_into(days, payload))
    }
}

fn payload<'a>(day: i64, rows: impl IntoIterator<Item = &'a DayRow>) -> Vec<u8> {
    let mut copy = CopyBuffer::new();
    push_day_rows(&mut copy, day, rows);
    copy.finish()
}

/// Adds the rollups of links' new samples of `day` (rows written straight in): inserted straight
/// into the day's partition `partition` of `days` where the day has no rollups of those links yet
/// (usually; COPYed where the table needs COPY's machinery, see `insert`), else those links'
/// rollups are rebuilt from the stored rows (which hold the new ones): a day's runs of equal
/// speeds and jumps need its slots, not sums.
fn add<'a>(
    storage: pg_sys::Oid,
    days: pg_sys::Oid,
    partition: Option<pg_sys::Oid>,
    day: i64,
    rows: impl Iterator<Item = &'a DayRow> + Clone,
    distributed: bool,
) -> Result<()> {
    if distributed {
        return add_distributed(storage, days, day, rows);
    }
    let stored = StoredDayRows::new(day, rows.clone());
    let written = in_subtransaction(|| {
        if let Some(rows) = partition.and_then(|p| insert_rows(days, p, &stored)) {
            return Ok(rows);
        }
        Ok(copy_into(days, &payload(day, rows.clone())))
    });
    let links: Vec<i64> = rows.map(|r| r.link_id).collect();
    match written {
        Ok(_) => add_to_months(days, day, Some(&links), 1),
        Err(IngestError::Postgres { code: PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION, .. }) => {
            rebuild(storage, days, day, Some(&links), false)
        }
        Err(e) => Err(e),
    }
}

/// [`add`] for rollups distributed by Citus, whose COPY reports a shard's unique violation
/// without its SQLSTATE: rather than tried and caught, the links whose day has rollups already
/// are asked first (under the day's turn, which every writer of the day's rollups takes on every
/// node, so the answer holds until commit) and rebuilt; the others are copied.
fn add_distributed<'a>(
    storage: pg_sys::Oid,
    days: pg_sys::Oid,
    day: i64,
    rows: impl Iterator<Item = &'a DayRow> + Clone,
) -> Result<()> {
    let days_name = qualified_name(days)?;
    let date = Date::from_days_since_epoch(day);
    // Usually the day has no rollups yet (its file's first chunk): then every row is new, and the
    // monthly rollups add the whole day, without shipping the link list to every shard.
    let day_is_new =
        Spi::get_one::<bool>(&format!("SELECT NOT EXISTS (SELECT 1 FROM {days_name} WHERE day = '{date}'::date)"))
            .map_err(spi_error)?
            .unwrap_or(false);
    if day_is_new {
        copy_rows(days, true, &payload(day, rows))?;
        return add_to_months(days, day, None, 1);
    }
    let links: Vec<i64> = rows.clone().map(|r| r.link_id).collect();
    let with_rollups: HashSet<i64> = Spi::get_one_with_args::<Vec<i64>>(
        &format!("SELECT coalesce(array_agg(link_id), '{{}}') FROM {days_name} WHERE day = '{date}'::date AND link_id = ANY($1)"),
        &[links.into()],
    )
    .map_err(spi_error)?
    .unwrap_or_default()
    .into_iter()
    .collect();
    let new: Vec<&DayRow> = rows.filter(|r| !with_rollups.contains(&r.link_id)).collect();
    if !new.is_empty() {
        copy_rows(days, true, &payload(day, new.iter().copied()))?;
        let new_links: Vec<i64> = new.iter().map(|r| r.link_id).collect();
        add_to_months(days, day, Some(&new_links), 1)?;
    }
    if !with_rollups.is_empty() {
        let mut links: Vec<i64> = with_rollups.into_iter().collect();
        links.sort_unstable();
        rebuild(storage, days, day, Some(&links), true)?;
    }
    Ok(())
}

/// Rows fetched at a time by [`rebuild`]: a national day is 1.8 million block rows, read in
/// batches so that only a batch and the day's sums are held.
const REBUILD_BATCH: i64 = 50_000;

/// Replaces the rollups of `day` (of the links `links`, or all) by sums of the stored block rows.
pub fn rebuild(
    storage: pg_sys::Oid,
    days: pg_sys::Oid,
    day: i64,
    links: Option<&[i64]>,
    distributed: bool,
) -> Result<()> {
    let date = Date::from_days_since_epoch(day).to_string();
    let storage_name = qualified_name(storage)?;
    let days_name = qualified_name(days)?;
    let filter = if links.is_some() { "AND link_id = ANY($1)" } else { "" };
    let link_ids: Vec<i64> = links.map(<[i64]>::to_vec).unwrap_or_default();
    // The day is a constant of the statement, not a parameter: the planner then opens and locks
    // the day's partition only (a `$1::date` from text is cast at run time, and every partition
    // of the table would be opened, locked and planned for).
    let day_is = format!("day = '{date}'::date");
    let mut rows: BTreeMap<i64, DayRow> = BTreeMap::new();
    Spi::connect(|client| {
        let mut cursor = client.try_open_cursor(
            &format!("SELECT link_id, block, speed FROM {storage_name} WHERE {day_is} {filter}"),
            &[link_ids.clone().into()],
        )?;
        loop {
            let batch = cursor.fetch(REBUILD_BATCH)?;
            if batch.is_empty() {
                break;
            }
            for row in batch {
                let (Some(link_id), Some(block), Some(speed)) =
                    (row.get::<i64>(1)?, row.get::<i16>(2)?, row.get::<Vec<Option<i16>>>(3)?)
                else {
                    continue;
                };
                if speed.len() != BLOCK_SLOTS || !(0..4).contains(&block) {
                    continue;
                }
                rows.entry(link_id).or_insert_with(|| DayRow::new(link_id)).add_block_slots(block as u8, |i| speed[i]);
            }
            // SAFETY: the batch's rows were read and dropped above; the table is SPI's latest
            // (`SPI_tuptable`), freed here rather than at the end of the SPI session.
            unsafe { pg_sys::SPI_freetuptable(pg_sys::SPI_tuptable) };
        }
        Ok::<_, pgrx::spi::Error>(())
    })
    .map_err(spi_error)?;
    add_to_months(days, day, links, -1)?;
    Spi::run_with_args(&format!("DELETE FROM {days_name} WHERE {day_is} {filter}"), &[link_ids.into()])
        .map_err(spi_error)?;
    copy_rows(days, distributed, &payload(day, rows.values()))?;
    add_to_months(days, day, links, 1)
}

/// `vs_ingest.rebuild_days(storage, days, day, links)`: the rollups of a day (of some links, or
/// all) rebuilt from the stored rows, in the day's turn at the rollup table (as a load takes it);
/// `vs_ingest.build_rollup_day` builds a day with it.
#[pg_extern]
fn rebuild_days(storage: pg_sys::Oid, days: pg_sys::Oid, day: pgrx::datum::Date, links: Option<Vec<i64>>) {
    let epoch_day = i64::from(day.to_unix_epoch_days());
    let built = Spi::get_one_with_args::<bool>("SELECT vs_ingest.is_distributed($1)", &[days.into()])
        .map_err(spi_error)
        .and_then(|distributed| {
            lock_month(days, epoch_day)?;
            lock_day(days, epoch_day)?;
            rebuild(storage, days, epoch_day, links.as_deref(), distributed.unwrap_or(false))
        });
    if let Err(e) = built {
        e.raise();
    }
}

/// `vs_ingest.hours_plus(acc, add, sign)`: `acc + sign * add` element by element, for the
/// monthly rollups' per-hour sums (`vs_ingest.add_to_months`).
#[pg_extern(immutable, strict, parallel_safe)]
fn hours_plus(acc: Vec<i32>, add: Vec<i32>, sign: i32) -> Vec<i32> {
    if acc.len() != add.len() {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_ARRAY_ELEMENT_ERROR,
            format!("cannot add arrays of {} and {} elements", acc.len(), add.len())
        );
    }
    let mut sums = Vec::with_capacity(acc.len());
    for (a, b) in acc.iter().zip(&add) {
        match i32::try_from(i64::from(*a) + i64::from(sign) * i64::from(*b)) {
            Ok(sum) => sums.push(sum),
            Err(_) => {
                ereport!(ERROR, PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range");
            }
        }
    }
    sums
}

/// `vs_ingest.link_rollups(days, storage)`: records that the rollup table depends on the storage
/// (automatically), so that dropping a target's storage drops its rollups, as it drops an index.
/// Both must be the caller's own (or the caller a superuser).
#[pg_extern(volatile, strict)]
fn link_rollups(days: pg_sys::Oid, storage: pg_sys::Oid) {
    // SAFETY: catalog calls on the main thread inside the caller's transaction; the object
    // addresses are plain values.
    unsafe {
        let user = pg_sys::GetUserId();
        if !pg_sys::pg_class_ownercheck(days, user) || !pg_sys::pg_class_ownercheck(storage, user) {
            ereport!(
                ERROR,
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                "must own the rollup table and the storage to link them",
                "vs_ingest.ensure_rollups links them when it creates the rollup table."
            );
        }
        let depender = pg_sys::ObjectAddress { classId: pg_sys::RelationRelationId, objectId: days, objectSubId: 0 };
        let referenced =
            pg_sys::ObjectAddress { classId: pg_sys::RelationRelationId, objectId: storage, objectSubId: 0 };
        pg_sys::recordDependencyOn(&depender, &referenced, pg_sys::DependencyType::DEPENDENCY_AUTO);
    }
}
