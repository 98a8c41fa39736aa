//! The write stage: finished hours into a target's storage, one row per link and block of six
//! hours, with their coverage, and the commit of each chunk with its ledger offset.
//!
//! - [`target`]: the target (views and storage) and who may load it;
//! - [`insert`]: the rows the engine encoded, handed to the table's multi-insert as finished values;
//! - [`copy`]: binary COPY through Postgres' COPY FROM machinery (triggers, Citus, merges);
//! - [`merge`]: the slot-wise merge functions (first sample wins) the SQL merge calls;
//! - [`coverage`]: coverage per hour and the calendar of local days;
//! - [`rollup`]: the daily rollups, kept with the rows;
//! - [`replace`]: emptying a day a `replace => true` load rebuilds.
//!
//! A block usually arrives once, whole, and its rows do not exist yet: its rows, encoded by the
//! engine's threads as Postgres holds them, go straight into the day's partition (`insert`; binary
//! COPY where a trigger or Citus needs COPY's machinery). If any of its rows exist already (a late
//! or re-delivered file, a resumed load, a block split by a forced checkpoint), that insert hits
//! the primary key; it is rolled back and the block is staged and merged so that the first sample
//! of every slot wins. Coverage is kept per hour, in the same transaction.

use std::collections::HashMap;

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use vs_ingest_engine::calendar::Date;
use vs_ingest_engine::copy_binary::{CopyBuffer, PG_EPOCH_OFFSET_MICROS};
use vs_ingest_engine::pipeline::HandOver;
use vs_ingest_engine::stored::EncodedBlock;

pub mod copy;
pub mod coverage;
pub mod insert;
pub mod merge;
pub mod replace;
pub mod rollup;
pub mod target;

use vs_ingest_engine::pipeline::Position;

use crate::error::{spi_error, IngestError, Result};
use crate::postgres::catalog::{self, StageTimes, Totals};
use crate::postgres::subxact::in_subtransaction;
use crate::postgres::transaction::Transaction;
use copy::copy_into;
use target::{qualified_name, regclass, Target};

/// Whether relation `oid` exists (after a lock on it: the catalog caches are then current).
fn relation_exists(oid: pg_sys::Oid) -> bool {
    // SAFETY: a syscache probe on the main thread, inside a transaction.
    unsafe {
        pg_sys::SearchSysCacheExists(
            pg_sys::SysCacheIdentifier::RELOID as _,
            pg_sys::Datum::from(oid),
            pg_sys::Datum::from(0),
            pg_sys::Datum::from(0),
            pg_sys::Datum::from(0),
        )
    }
}

/// What writing some hours did to the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Samples that filled an empty slot.
    pub loaded: u64,
    /// Samples for slots the table already had.
    pub duplicate: u64,
}

pub struct Writer {
    target: Target,
    time_zone: String,
    /// Local day (days since 1970-01-01) → Postgres timestamps of its local hours 0..=24, for the
    /// days whose partition and calendar exist.
    days: HashMap<i64, Vec<i64>>,
    /// The local days whose write this transaction has checked (`check_write`), with the day's
    /// partitions found under the lock.
    checked: HashMap<i64, DayPartitions>,
    stage: Option<pg_sys::Oid>,
    /// The COPY payload of the block being written, reused from block to block.
    copy: CopyBuffer,
    /// Whether a committed transaction added days to the calendar since the last look.
    calendar_grew: bool,
    /// The daily rollups this transaction owes.
    rollups: rollup::Rollups,
    /// The replacing run (`replace => true`) this writer works for, if any.
    replace_run: Option<i64>,
}

impl Writer {
    /// Opens (creating if needed) the target `target`, whose rows are local days of `time_zone`.
    pub fn open(target: &str, time_zone: &str) -> Result<Writer> {
        let mut target = target::ensure(target, time_zone)?;
        target.check_may_load()?;
        target.open_rollups()?;
        Ok(Writer {
            target,
            time_zone: time_zone.to_string(),
            days: HashMap::new(),
            checked: HashMap::new(),
            stage: None,
            copy: CopyBuffer::new(),
            calendar_grew: false,
            rollups: rollup::Rollups::default(),
            replace_run: None,
        })
    }

    /// Makes this writer's loads replace the days they write (for run `run_id`; `None` only
    /// checks that they may: see `replace::check_may_replace`).
    pub fn replace_for(&mut self, run_id: Option<i64>) -> Result<()> {
        replace::check_may_replace(&self.target)?;
        self.replace_run = run_id;
        Ok(())
    }

    pub fn target_name(&self) -> &str {
        &self.target.name
    }

    pub fn target_oid(&self) -> pg_sys::Oid {
        self.target.oid
    }

    /// Commits the chunk written in `transaction` with the file's counters and the position the
    /// next chunk starts at: a crash after this resumes there, one before it redoes the chunk.
    pub fn commit_chunk(
        &mut self,
        transaction: Transaction,
        file_id: i64,
        add: &Totals,
        next: Position,
        input_done: u64,
        times: &StageTimes,
    ) -> Result<()> {
        if let Some(days) = self.target.days {
            // Rollups distributed by Citus are written through Citus, never into a partition here.
            let distributed = self.target.distributed.is_some();
            let partitions: HashMap<i64, pg_sys::Oid> = if distributed {
                HashMap::new()
            } else {
                self.checked.iter().filter_map(|(&day, parts)| parts.days.map(|p| (day, p))).collect()
            };
            self.rollups.flush(self.target.storage, days, &partitions, distributed)?;
        }
        let mut days: Vec<String> = self.checked.keys().map(|&d| Date::from_days_since_epoch(d).to_string()).collect();
        days.sort();
        catalog::checkpoint(file_id, add, next, input_done, times, &days)?;
        transaction.commit();
        // The stage table was dropped by the commit, and the locks of the checks released.
        self.stage = None;
        self.checked.clear();
        Ok(())
    }

    /// Whether days were added to the calendar since the last call (then its statistics are due).
    pub fn take_calendar_grew(&mut self) -> bool {
        std::mem::take(&mut self.calendar_grew)
    }

    /// Forgets what a rolled-back transaction may have created.
    pub fn after_abort(&mut self) {
        self.stage = None;
        self.rollups.clear();
        self.days.clear();
        self.checked.clear();
    }

    /// What the engine should hand this writer: encoded blocks, with their rows' sums when the
    /// target keeps rollups.
    pub fn hand_over(&self) -> HandOver {
        if self.target.days.is_some() {
            HandOver::BlocksWithSums
        } else {
            HandOver::Blocks
        }
    }

    pub fn write(&mut self, blocks: Vec<EncodedBlock>) -> Result<Written> {
        let mut written = Written::default();
        for block in blocks {
            let w = self.write_block(block)?;
            written.loaded += w.loaded;
            written.duplicate += w.duplicate;
        }
        Ok(written)
    }

    fn write_block(&mut self, mut block: EncodedBlock) -> Result<Written> {
        let stamps = self.day(block.day)?;
        let partition = match self.checked.get(&block.day) {
            Some(parts) => parts.storage,
            None => {
                let parts = self.check_write(block.day)?;
                let partition = parts.storage;
                self.checked.insert(block.day, parts);
                // The day's write lock; a replacing run empties the day first.
                match self.replace_run {
                    Some(run_id) => replace::empty_day(&self.target, run_id, block.day, &stamps)?,
                    None => replace::lock_day(self.target.storage, block.day, false)?,
                }
                partition
            }
        };
        let (written, straight) = self.store_block(&block, partition, &stamps)?;
        if self.target.days.is_some() {
            if straight && block.sums.len() == block.row_count() {
                self.rollups.add(block.day, std::mem::take(&mut block.sums));
            } else {
                self.rollups.rebuild(block.day, block.stored_rows().map(|(_, row)| row.link_id));
            }
        }
        Ok(written)
    }

    /// Writes the block; also says whether it went straight in (its rows are all new).
    fn store_block(&mut self, block: &EncodedBlock, partition: pg_sys::Oid, stamps: &[i64]) -> Result<(Written, bool)> {
        let stamp = |local_hour: i64| stamps[local_hour.rem_euclid(24) as usize];
        if self.insert_straight(block, partition)? {
            // No row of this block existed for these links: their coverage adds up.
            for (local_hour, coverage) in &block.hours {
                coverage::add_coverage(self.target.oid, &self.target.name, stamp(*local_hour), coverage)?;
            }
            return Ok((Written { loaded: block.samples, duplicate: 0 }, true));
        }
        let duplicate = self.merge(block)?;
        let day = Date::from_days_since_epoch(block.day).to_string();
        for (local_hour, _) in &block.hours {
            let hour_in_block = local_hour.rem_euclid(24) % 6;
            coverage::recount_coverage(&self.target, stamp(*local_hour), &day, block.block, hour_in_block as u8)?;
        }
        Ok((Written { loaded: block.samples - duplicate, duplicate }, false))
    }

    /// Inserts the block straight into the day's partition of the storage; false when rows of it
    /// exist already (the insert hit the primary key and was rolled back, or a distributed block
    /// was written before).
    ///
    /// Storage distributed by Citus is written by a COPY statement Citus plans
    /// (`copy::copy_statement`), never by COPY's machinery underneath it (that would fill the
    /// coordinator's empty shell). Its writers of one block on one node take turns (a transaction
    /// lock on the block; Citus commits the block and the chunk's ledger row together with
    /// two-phase commit), so a block with rows goes to the merge without trying; a writer on
    /// another node, whose lock this is not, can still fill it meanwhile: that COPY hits the key.
    fn insert_straight(&mut self, block: &EncodedBlock, partition: pg_sys::Oid) -> Result<bool> {
        let copied = if self.target.distributed.is_some() {
            let key = (i64::from(u32::from(self.target.storage)) << 32) | (block.day * 4 + i64::from(block.block));
            Spi::run_with_args("SELECT pg_advisory_xact_lock($1)", &[key.into()]).map_err(spi_error)?;
            let written_before = Spi::get_one_with_args::<i32>(
                &format!("SELECT 1 FROM {} WHERE day = $1::date AND block = $2 LIMIT 1", self.target.storage_name),
                &[Date::from_days_since_epoch(block.day).to_string().into(), i16::from(block.block).into()],
            );
            match written_before {
                Ok(Some(_)) => return Ok(false),
                Ok(None) | Err(pgrx::spi::Error::InvalidPosition) => {}
                Err(e) => return Err(spi_error(e)),
            }
            let storage_name = self.target.storage_name.clone();
            let payload = fill_payload(&mut self.copy, block);
            in_subtransaction(|| copy::copy_statement(&storage_name, payload))
        } else {
            let storage = self.target.storage;
            in_subtransaction(|| match insert::insert_rows(storage, partition, block) {
                Some(rows) => Ok(rows),
                // A trigger (of the storage owner's: `check_write` refused any other) or an
                // attached table of another shape: COPY's machinery, which honours them.
                None => Ok(copy_into(storage, fill_payload(&mut self.copy, block))),
            })
        };
        match copied {
            Ok(_) => Ok(true),
            Err(IngestError::Postgres { code: PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Merges the block into the rows already stored (first sample wins) through a stage: a
    /// temporary table here, the colocated stage for distributed storage (merged shard by shard);
    /// returns the samples that were duplicates.
    fn merge(&mut self, block: &EncodedBlock) -> Result<u64> {
        let mut copy = std::mem::take(&mut self.copy);
        let payload = fill_payload(&mut copy, block);
        let duplicate = if let Some(stage) = &self.target.distributed {
            copy::copy_statement(&stage.name, payload)?;
            Spi::get_one_with_args::<i64>(
                "SELECT duplicate FROM vs_ingest.merge_staged_block($1, $2, $3::date, $4)",
                &[
                    regclass(self.target.storage),
                    regclass(stage.oid),
                    Date::from_days_since_epoch(block.day).to_string().into(),
                    i16::from(block.block).into(),
                ],
            )
        } else {
            let stage = self.stage()?;
            Spi::run(&format!("TRUNCATE {}", qualified_name(stage)?)).map_err(spi_error)?;
            copy_into(stage, payload);
            Spi::get_one_with_args::<i64>(
                "SELECT duplicate FROM vs_ingest.merge_staged($1, $2)",
                &[regclass(self.target.storage), regclass(stage)],
            )
        };
        self.copy = copy;
        Ok(duplicate.map_err(spi_error)?.unwrap_or(0) as u64)
    }

    /// Makes the partitions (storage and rollups) of the blocks' local days that the storage has
    /// none for yet, in the current transaction, which the caller commits before writing: `CREATE
    /// TABLE ... PARTITION OF` locks the whole storage (and rollup table) ACCESS EXCLUSIVE until
    /// its transaction ends, so made in the transaction that writes the day, every reader of the
    /// target's views would wait for the day's whole write (a national day: 15 s). Returns whether
    /// it made any. A day whose storage partition exists is left to `day` (its rollups may still
    /// be to build: `vs_ingest.rollup_days_to_build`), and so is a load that fails afterwards: an
    /// empty day partition is what a failed load of a new day leaves.
    pub fn make_new_days(&mut self, blocks: &[EncodedBlock]) -> Result<bool> {
        let mut made = false;
        let mut seen = Vec::new();
        for block in blocks {
            if self.days.contains_key(&block.day) || seen.contains(&block.day) {
                continue;
            }
            seen.push(block.day);
            if !relation_exists(self.target.storage) {
                return Err(IngestError::TargetDropped(self.target.name.clone()));
            }
            let date = Date::from_days_since_epoch(block.day).to_string();
            let new = Spi::get_one_with_args::<bool>(
                "SELECT vs_ingest.day_partition($1, $2::date) IS NULL",
                &[regclass(self.target.storage), date.clone().into()],
            )
            .map_err(spi_error)?
            .unwrap_or(false);
            if !new {
                continue;
            }
            self.target.ensure_day_partitions(&date)?;
            made = true;
        }
        Ok(made)
    }

    /// The Postgres timestamps of a local day's hours 0..=24; on first sight of the day in this
    /// transaction, creates its partition and its calendar rows.
    fn day(&mut self, day: i64) -> Result<Vec<i64>> {
        if let Some(stamps) = self.days.get(&day) {
            return Ok(stamps.clone());
        }
        let date = Date::from_days_since_epoch(day).to_string();
        // (Should another session build a day to build meanwhile, building it again here is
        // still exact.)
        if self.target.rollups_to_build(&date)? {
            self.rollups.build_whole(day);
        }
        self.target.ensure_day_partitions(&date)?;
        self.calendar_grew |= coverage::fill_calendar(&self.time_zone, &date)?;
        let hours = Spi::get_one_with_args::<Vec<i64>>(
            "SELECT vs_ingest.day_hours($1::date, $2)",
            &[date.into(), self.time_zone.clone().into()],
        )
        .map_err(spi_error)?
        .expect("day_hours returns the day's hours");
        let stamps: Vec<i64> = hours.into_iter().map(|unix| unix - PG_EPOCH_OFFSET_MICROS).collect();
        self.days.insert(day, stamps.clone());
        Ok(stamps)
    }

    /// Once per local day and transaction, before the first write of the day: locks the storage
    /// and the day's partition as the COPY will (so no trigger, rule or policy can be added to them
    /// until the transaction ends), then checks that writing runs no code of a role without the
    /// loading role's privileges and that the partition is the storage owner's
    /// (`vs_ingest.check_write`). A failure fails the file, with nothing of the block written.
    fn check_write(&mut self, day: i64) -> Result<DayPartitions> {
        let lock = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
        let date = Date::from_days_since_epoch(day).to_string();
        // SAFETY: locking an oid is valid whether or not the relation still exists; the lock is
        // released when the transaction ends. Whether it exists is asked after the lock.
        unsafe { pg_sys::LockRelationOid(self.target.storage, lock) };
        if !relation_exists(self.target.storage) {
            return Err(IngestError::TargetDropped(self.target.name.clone()));
        }
        // The SQL of this transaction names the storage (and the stage): names are taken from the
        // oids under the lock, so a relation renamed since and another put under the old name is
        // never what the SQL reaches.
        self.target.storage_name = qualified_name(self.target.storage)?;
        if let Some(stage) = &mut self.target.distributed {
            // SAFETY: as above, for the stage; it is checked again like the storage.
            unsafe { pg_sys::LockRelationOid(stage.oid, lock) };
            if !relation_exists(stage.oid) {
                return Err(IngestError::TargetDropped(self.target.name.clone()));
            }
            stage.name = qualified_name(stage.oid)?;
            target::check_stage(stage, self.target.storage, &self.target.storage_name, &self.target.name)?;
        }
        let storage = self.lock_and_check_day(self.target.storage, &date)?;
        let Some(days) = self.target.days else { return Ok(DayPartitions { storage, days: None }) };
        // The same for the day's rollups, which the transaction writes too.
        // SAFETY: as above, for the rollup table.
        unsafe { pg_sys::LockRelationOid(days, lock) };
        if !relation_exists(days) {
            return Err(IngestError::TargetDropped(self.target.name.clone()));
        }
        let days = self.lock_and_check_day(days, &date)?;
        Ok(DayPartitions { storage, days: Some(days) })
    }

    /// Under the lock on `table` (the storage or the rollup table): finds its partition of `date`,
    /// locks it as the COPY will, and checks the write (`vs_ingest.check_write`); returns it.
    fn lock_and_check_day(&self, table: pg_sys::Oid, date: &str) -> Result<pg_sys::Oid> {
        let part = Spi::get_one_with_args::<pg_sys::Oid>(
            "SELECT vs_ingest.day_partition($1, $2::date)::oid",
            &[regclass(table), date.into()],
        )
        .map_err(spi_error)?;
        // The writer made or found the day's partition (`day`, just before): if it is gone, a
        // DROP or DETACH (retention, say) took the day's committed rows with it, and the file
        // fails rather than be recorded as loaded with part of its day gone.
        let Some(part) = part else {
            return Err(IngestError::DayPartitionGone { target: self.target.name.clone(), day: date.to_string() });
        };
        // SAFETY: locking an oid is valid whether or not the relation still exists; found under
        // the lock on `table`, released when the transaction ends.
        unsafe { pg_sys::LockRelationOid(part, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE) };
        Spi::run_with_args("SELECT vs_ingest.check_write($1, $2)", &[regclass(table), regclass(part)])
            .map_err(spi_error)?;
        Ok(part)
    }

    /// A temporary table shaped like the storage, for merging (dropped at commit).
    fn stage(&mut self) -> Result<pg_sys::Oid> {
        if let Some(stage) = self.stage {
            return Ok(stage);
        }
        let name = format!("vs_ingest_stage_{}", u32::from(self.target.storage));
        Spi::run(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS {name} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP",
            self.target.storage_name
        ))
        .map_err(spi_error)?;
        let oid = Spi::get_one_with_args::<pg_sys::Oid>("SELECT ('pg_temp.' || $1)::regclass::oid", &[name.into()])
            .map_err(spi_error)?
            .expect("the stage table was just created");
        self.stage = Some(oid);
        Ok(oid)
    }
}

/// A local day's partitions of the storage and of the rollup table (if the target keeps rollups),
/// found and checked under the transaction's locks.
#[derive(Clone, Copy, Debug)]
struct DayPartitions {
    storage: pg_sys::Oid,
    days: Option<pg_sys::Oid>,
}

/// Fills `copy` with the block's rows as a binary COPY payload and returns it.
fn fill_payload<'a>(copy: &'a mut CopyBuffer, block: &EncodedBlock) -> &'a [u8] {
    copy.clear();
    block.push_copy(copy);
    copy.finished()
}
