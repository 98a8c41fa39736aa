//! Replacing a local day (`replace => true`): the first write of a day in a replacing run empties
//! the day (its rows, rollups and coverage) in the transaction that then writes the day anew, and
//! marks the files that had filled it `superseded`. A day is one transaction of a replacing run's
//! worker (no checkpoint inside it), so readers see the old day until that commit and the new one
//! after it, never an empty or a partial day; a crash before the commit leaves the old day.
//!
//! Each write of a day takes a transaction-level lock on (storage, day): shared for a plain load,
//! exclusive for a replacement, so a replacement waits for plain writes of the day in flight and
//! they wait for it (their samples then merge into the new day). Later files of the same run that
//! cover the day merge into it (first sample wins), as in any load: the run's ledger rows record
//! the days each file wrote (`vs_ingest.file.days`).

use pgrx::prelude::*;
use vs_ingest_engine::calendar::Date;

use super::target::Target;
use crate::error::{spi_error, IngestError, Result};
use crate::postgres::access;

/// Takes the write lock of `day` of `storage` until the transaction ends: exclusive to replace
/// it, shared to write into it. Two-key advisory locks: the rollups' lock is keyed by another
/// relation (`write::rollup`).
pub fn lock_day(storage: pg_sys::Oid, day: i64, exclusive: bool) -> Result<()> {
    let query = if exclusive {
        "SELECT pg_advisory_xact_lock($1::int4, $2::int4)"
    } else {
        "SELECT pg_advisory_xact_lock_shared($1::int4, $2::int4)"
    };
    Spi::run_with_args(query, &[(u32::from(storage) as i32).into(), (day as i32).into()]).map_err(spi_error)
}

/// Refuses a replacement by a loading role that may not delete the target's rows. (A target
/// distributed by Citus is replaced like a local one: the delete and the new rows go through
/// Citus in the worker's distributed transaction; README, Corrections, says what readers see.)
pub fn check_may_replace(target: &Target) -> Result<()> {
    let may = Spi::get_one_with_args::<bool>("SELECT has_table_privilege($1, 'DELETE')", &[target.storage.into()])
        .map_err(spi_error)?
        .unwrap_or(false);
    if !may {
        return Err(IngestError::ReplaceNotPermitted {
            target: target.name.clone(),
            storage: target.storage_name.clone(),
        });
    }
    Ok(())
}

/// Under the exclusive lock of `day`: whether a file of run `run_id` has already written the day
/// in a committed transaction (then this write merges into the new day instead of emptying it).
fn replaced_by_run(run_id: i64, day: &str) -> Result<bool> {
    access::as_catalog_owner(|| {
        Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT 1 FROM vs_ingest.file WHERE run_id = $1 AND $2::date = ANY (days))",
            &[run_id.into(), day.into()],
        )
    })
    .map_err(spi_error)
    .map(|found| found.unwrap_or(false))
}

/// Before the first write of `day` in this transaction of run `run_id`: unless the run replaced
/// the day already, deletes the day's rows and rollups (as the loading role, checked by
/// `check_write` just before), forgets its coverage (hours `stamps[0]` up to `stamps[24]`), and
/// marks the ledger rows of the other runs' files that wrote the day superseded by this run.
pub fn empty_day(target: &Target, run_id: i64, day: i64, stamps: &[i64]) -> Result<()> {
    lock_day(target.storage, day, true)?;
    let date = Date::from_days_since_epoch(day).to_string();
    if replaced_by_run(run_id, &date)? {
        return Ok(());
    }
    Spi::run_with_args(&format!("DELETE FROM {} WHERE day = $1::date", target.storage_name), &[date.clone().into()])
        .map_err(spi_error)?;
    if let Some(days) = target.days {
        let days_name = super::target::qualified_name(days)?;
        super::rollup::add_to_months(days, day, None, -1)?;
        Spi::run_with_args(&format!("DELETE FROM {days_name} WHERE day = $1::date"), &[date.clone().into()])
            .map_err(spi_error)?;
    }
    super::coverage::forget_hours(target.oid, stamps[0], stamps[24])?;
    access::as_catalog_owner(|| {
        Spi::run_with_args(
            "UPDATE vs_ingest.file f SET status = 'superseded', superseded_by = $1
               FROM vs_ingest.run r
              WHERE r.run_id = f.run_id AND coalesce(r.target_oid, to_regclass(r.target)::oid) = $2
                AND f.run_id <> $1 AND f.status = 'loaded' AND $3::date = ANY (f.days)",
            &[run_id.into(), target.oid.into(), date.into()],
        )
    })
    .map_err(spi_error)
}
