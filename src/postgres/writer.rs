//! Writing finished hours into the partitioned hourly table.
//!
//! An hour usually arrives once and its table rows do not exist yet: it is COPYed straight into
//! the table (binary COPY, the fastest path Postgres has). If any of its rows exist already (a late
//! or re-delivered file, a resumed load), that COPY hits the primary key; it is rolled back and the
//! hour is staged and merged so that the first sample of every slot wins.

use std::collections::HashMap;

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use vs_ingest_engine::aggregate::HourBatch;
use vs_ingest_engine::calendar::Date;
use vs_ingest_engine::copy_binary::{CopyBuffer, PG_EPOCH_OFFSET_MICROS};

use crate::error::{IngestError, Result};
use crate::postgres::catalog;
use crate::postgres::copy::copy_into;
use crate::postgres::subxact::in_subtransaction;

/// What writing some hours did to the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Samples that filled an empty slot.
    pub loaded: u64,
    /// Samples for slots the table already had.
    pub duplicate: u64,
}

pub struct Writer {
    target: pg_sys::Oid,
    /// Schema-qualified, quoted name of the target.
    target_name: String,
    time_zone: String,
    /// Local day (days since 1970-01-01) → Postgres timestamps of its local hours 0..=24.
    days: HashMap<i64, Vec<i64>>,
    stage: Option<pg_sys::Oid>,
    /// The COPY payload of the hour being written, reused from hour to hour.
    copy: CopyBuffer,
}

impl Writer {
    /// Opens (creating if needed) the hourly table `target`; rows carry local times of `time_zone`.
    pub fn open(target: &str, time_zone: &str) -> Result<Writer> {
        let oid =
            Spi::get_one_with_args::<pg_sys::Oid>("SELECT vs_ingest.ensure_hourly_table($1)::oid", &[target.into()])
                .map_err(spi_error)?
                .expect("ensure_hourly_table returns a table");
        // What COPY FROM checks: INSERT on every column written (a table-level grant covers all).
        let may_insert = Spi::get_one_with_args::<bool>(
            "SELECT bool_and(has_column_privilege($1, a.attnum, 'INSERT'))
               FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
            &[oid.into()],
        )
        .map_err(spi_error)?
        .unwrap_or(false);
        if !may_insert {
            return Err(IngestError::Postgres {
                code: PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                message: format!("permission denied to insert into table {target}"),
                detail: None,
                hint: Some(
                    "GRANT INSERT on the target table (or on each of its columns) to the loading role, or pick \
                     another target."
                        .into(),
                ),
            });
        }
        // COPY FROM refuses a table with row-level security (it would bypass the INSERT policies);
        // so does vs_ingest, unless the role bypasses them anyway (superuser, BYPASSRLS, owner).
        let rls = Spi::get_one_with_args::<bool>("SELECT row_security_active($1)", &[oid.into()])
            .map_err(spi_error)?
            .unwrap_or(false);
        if rls {
            return Err(IngestError::Postgres {
                code: PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                message: format!("table {target} has row-level security, which vs_ingest's COPY would bypass"),
                detail: None,
                hint: Some(
                    "Load as a role that bypasses row-level security (the table's owner, or BYPASSRLS), or into \
                     another table."
                        .into(),
                ),
            });
        }
        let target_name = qualified_name(oid)?;
        Ok(Writer {
            target: oid,
            target_name,
            time_zone: time_zone.to_string(),
            days: HashMap::new(),
            stage: None,
            copy: CopyBuffer::new(),
        })
    }

    pub fn target_name(&self) -> &str {
        &self.target_name
    }

    pub fn target_oid(&self) -> pg_sys::Oid {
        self.target
    }

    /// Forgets the stage table, dropped at the commit that ended the last transaction.
    pub fn new_transaction(&mut self) {
        self.stage = None;
    }

    /// Forgets what a rolled-back transaction may have created.
    pub fn after_abort(&mut self) {
        self.stage = None;
        self.days.clear();
    }

    pub fn write(&mut self, hours: &[HourBatch]) -> Result<Written> {
        let mut written = Written::default();
        for hour in hours.iter().filter(|h| !h.rows.is_empty()) {
            let w = self.write_hour(hour)?;
            written.loaded += w.loaded;
            written.duplicate += w.duplicate;
        }
        Ok(written)
    }

    fn write_hour(&mut self, batch: &HourBatch) -> Result<Written> {
        let stamp = self.hour_stamp(batch.local_hour)?;
        let mut copy = std::mem::take(&mut self.copy);
        copy.clear();
        for row in &batch.rows {
            copy.push(stamp, row);
        }
        let written = self.copy_hour(batch, stamp, copy.finished());
        self.copy = copy;
        written
    }

    fn copy_hour(&mut self, batch: &HourBatch, stamp: i64, payload: &[u8]) -> Result<Written> {
        let samples = batch.samples();
        match in_subtransaction(|| Ok(copy_into(self.target, payload))) {
            Ok(_) => {
                // No row of this hour existed for these links: their coverage adds up.
                catalog::add_coverage(self.target, &self.target_name, stamp, &batch.coverage())?;
                Ok(Written { loaded: samples, duplicate: 0 })
            }
            Err(IngestError::Postgres { code: PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION, .. }) => {
                let stage = self.stage()?;
                Spi::run(&format!("TRUNCATE {}", qualified_name(stage)?)).map_err(spi_error)?;
                copy_into(stage, payload);
                let (duplicate, _) = Spi::get_two_with_args::<i64, i64>(
                    "SELECT duplicate, rows_written FROM vs_ingest.merge_staged($1, $2)",
                    &[regclass(self.target), regclass(stage)],
                )
                .map_err(spi_error)?;
                let duplicate = duplicate.unwrap_or(0) as u64;
                catalog::recount_coverage(self.target, &self.target_name, stamp)?;
                Ok(Written { loaded: samples - duplicate, duplicate })
            }
            Err(e) => Err(e),
        }
    }

    /// The Postgres timestamp of a local hour, creating its day's partition on first sight.
    fn hour_stamp(&mut self, local_hour: i64) -> Result<i64> {
        let day = local_hour.div_euclid(24);
        if !self.days.contains_key(&day) {
            let date = Date::from_days_since_epoch(day);
            let hours = Spi::get_one_with_args::<Vec<i64>>(
                "SELECT vs_ingest.ensure_day_partition($1, $2::date, $3)",
                &[regclass(self.target), date.to_string().into(), self.time_zone.clone().into()],
            )
            .map_err(spi_error)?
            .expect("ensure_day_partition returns the day's hours");
            let stamps = hours.into_iter().map(|unix| unix - PG_EPOCH_OFFSET_MICROS).collect();
            self.days.insert(day, stamps);
        }
        Ok(self.days[&day][local_hour.rem_euclid(24) as usize])
    }

    /// A temporary table shaped like the target, for merging (dropped at commit).
    fn stage(&mut self) -> Result<pg_sys::Oid> {
        if let Some(stage) = self.stage {
            return Ok(stage);
        }
        let name = format!("vs_ingest_stage_{}", u32::from(self.target));
        Spi::run(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS {name} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP",
            self.target_name
        ))
        .map_err(spi_error)?;
        let oid = Spi::get_one_with_args::<pg_sys::Oid>("SELECT ('pg_temp.' || $1)::regclass::oid", &[name.into()])
            .map_err(spi_error)?
            .expect("the stage table was just created");
        self.stage = Some(oid);
        Ok(oid)
    }
}

fn regclass(oid: pg_sys::Oid) -> pgrx::datum::DatumWithOid<'static> {
    // SAFETY: an oid datum typed as regclass.
    unsafe { pgrx::datum::DatumWithOid::new(oid, pg_sys::REGCLASSOID) }
}

fn qualified_name(oid: pg_sys::Oid) -> Result<String> {
    Spi::get_one_with_args::<String>(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.oid = $1",
        &[oid.into()],
    )
    .map_err(spi_error)
    .map(|n| n.expect("a relation has a name"))
}

/// SPI errors other than Postgres ERRORs (which unwind) are invariant failures of our SQL.
pub fn spi_error(e: pgrx::spi::Error) -> IngestError {
    panic!("vs_ingest's own SQL failed: {e}")
}
