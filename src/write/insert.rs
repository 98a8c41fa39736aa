//! Inserting rows as finished values: a block's rows, which the engine's threads encoded as
//! Postgres holds them in memory (`vs_ingest_engine::stored`), and a day's rollup rows
//! (`StoredDayRows`). The main thread only points tuple slots at those bytes and hands them to the
//! table's multi-insert, then to its indexes.
//!
//! Binary COPY receives the same rows element by element: two 72-element arrays a row, each
//! element through `int2recv`/`int4recv` (`pq_getmsgint`, `array_recv`, `CopyArrayEls`) was
//! about half of the main thread's time in the profile of a national day. What COPY does besides
//! is done here the same way, or the block goes through COPY after all:
//! - privileges and row-level security are checked on the storage exactly as for COPY
//!   (`copy::check_may_insert`);
//! - NOT NULL and CHECK constraints (`ExecConstraints`) and the partition's bounds
//!   (`ExecPartitionCheck`) are checked on every row, and unique indexes raise 23505 as COPY's do;
//! - a table or partition with triggers, a partition that is not a plain heap table, or columns
//!   other than the rows' own go through COPY (`None`), which fires and converts as it must.

use pgrx::pg_sys;
use vs_ingest_engine::rollup::StoredDayRows;
use vs_ingest_engine::stored::EncodedBlock;

use super::copy::check_may_insert;

/// Rows handed to the table's multi-insert at a time (COPY's own batch, `MAX_BUFFERED_TUPLES`).
const BATCH: usize = 1000;

/// Rows whose every value is finished.
pub trait FinishedRows {
    /// The table's columns, in order: name and type.
    const COLUMNS: &'static [(&'static str, pg_sys::Oid)];
    /// Calls `row` with each row's values, in `COLUMNS` order (`None`: NULL). A value passed by
    /// reference points into `self`.
    fn for_each(&self, row: &mut dyn FnMut(&[Option<pg_sys::Datum>]));
}

impl FinishedRows for EncodedBlock {
    const COLUMNS: &'static [(&'static str, pg_sys::Oid)] = &[
        ("link_id", pg_sys::INT8OID),
        ("day", pg_sys::DATEOID),
        ("block", pg_sys::INT2OID),
        ("hours", pg_sys::INT2OID),
        ("speed", pg_sys::INT2ARRAYOID),
        ("travel_time", pg_sys::INT4ARRAYOID),
    ];

    fn for_each(&self, row: &mut dyn FnMut(&[Option<pg_sys::Datum>])) {
        for (piece, r) in self.stored_rows() {
            row(&[
                Some(r.link_id.into()),
                Some(r.day.into()),
                Some(r.block.into()),
                Some(r.hours.into()),
                Some(piece.speed(r).as_ptr().into()),
                piece.travel_time(r).map(|t| t.as_ptr().into()),
            ]);
        }
    }
}

impl FinishedRows for StoredDayRows {
    const COLUMNS: &'static [(&'static str, pg_sys::Oid)] = &[
        ("link_id", pg_sys::INT8OID),
        ("day", pg_sys::DATEOID),
        ("samples", pg_sys::INT2OID),
        ("speed_sum", pg_sys::INT4OID),
        ("speed_min", pg_sys::INT2OID),
        ("speed_max", pg_sys::INT2OID),
        ("hour_samples", pg_sys::INT2ARRAYOID),
        ("hour_speed_sum", pg_sys::INT4ARRAYOID),
        ("longest_run", pg_sys::INT2OID),
        ("max_jump", pg_sys::INT2OID),
    ];

    fn for_each(&self, row: &mut dyn FnMut(&[Option<pg_sys::Datum>])) {
        for r in self.rows() {
            row(&[
                Some(r.link_id.into()),
                Some(r.day.into()),
                Some(r.samples.into()),
                Some(r.speed_sum.into()),
                Some(r.speed_min.into()),
                Some(r.speed_max.into()),
                Some(self.hour_samples(r).as_ptr().into()),
                Some(self.hour_speed_sum(r).as_ptr().into()),
                Some(r.longest_run.into()),
                Some(r.max_jump.into()),
            ]);
        }
    }
}

/// Inserts `rows` into `partition`, the partition of `table` for their day (or `table` itself
/// when it is not partitioned), as `COPY table FROM ... (FORMAT binary)` would store them.
/// Returns the rows inserted, or `None` (nothing done) when the rows must go through COPY.
pub fn insert_rows<R: FinishedRows>(table: pg_sys::Oid, partition: pg_sys::Oid, rows: &R) -> Option<u64> {
    let lockmode = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
    // SAFETY: main thread, inside a transaction with an active snapshot (a SQL function call);
    // both relations are locked by the writer already; every pointer below is valid until freed
    // here, or, should an ERROR escape, released with the (sub)transaction's memory and resources.
    unsafe {
        let parent = pg_sys::table_open(table, lockmode);
        if !(*parent).trigdesc.is_null() {
            pg_sys::table_close(parent, pg_sys::NoLock as pg_sys::LOCKMODE);
            return None;
        }
        pg_sys::free_parsestate(check_may_insert(parent, table));
        pg_sys::table_close(parent, pg_sys::NoLock as pg_sys::LOCKMODE);

        let rel = pg_sys::table_open(partition, lockmode);
        let Some(attributes) = plain_table(rel, R::COLUMNS) else {
            pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
            return None;
        };
        let estate = pg_sys::CreateExecutorState();
        let info: *mut pg_sys::ResultRelInfo =
            pgrx::PgBox::<pg_sys::ResultRelInfo>::alloc_node(pg_sys::NodeTag::T_ResultRelInfo).into_pg();
        pg_sys::InitResultRelInfo(info, rel, 0, std::ptr::null_mut(), 0);
        pg_sys::CheckValidResultRel(info, pg_sys::CmdType::CMD_INSERT);
        pg_sys::ExecOpenIndices(info, false);
        let constraints = !(*(*rel).rd_att).constr.is_null();
        let bounded = (*(*rel).rd_rel).relispartition;
        let bistate = pg_sys::GetBulkInsertState();
        let cid = pg_sys::GetCurrentCommandId(true);
        let mut slots: Vec<*mut pg_sys::TupleTableSlot> =
            (0..BATCH).map(|_| pg_sys::table_slot_create(rel, std::ptr::null_mut())).collect();

        let mut n = 0usize;
        let mut inserted = 0u64;
        rows.for_each(&mut |row| {
            let slot = slots[n];
            pg_sys::ExecClearTuple(slot);
            let natts = (*(*slot).tts_tupleDescriptor).natts as usize;
            let values = std::slice::from_raw_parts_mut((*slot).tts_values, natts);
            let nulls = std::slice::from_raw_parts_mut((*slot).tts_isnull, natts);
            // Dropped columns stay NULL, as COPY leaves them.
            nulls.fill(true);
            for (&a, value) in attributes.iter().zip(row) {
                if let Some(value) = value {
                    values[a] = *value;
                    nulls[a] = false;
                }
            }
            pg_sys::ExecStoreVirtualTuple(slot);
            if constraints {
                pg_sys::ExecConstraints(info, slot, estate);
            }
            if bounded {
                pg_sys::ExecPartitionCheck(info, slot, estate, true);
            }
            n += 1;
            if n == BATCH {
                inserted += flush(rel, info, estate, &mut slots[..n], cid, bistate);
                n = 0;
            }
        });
        if n > 0 {
            inserted += flush(rel, info, estate, &mut slots[..n], cid, bistate);
        }

        for slot in slots {
            pg_sys::ExecDropSingleTupleTableSlot(slot);
        }
        pg_sys::FreeBulkInsertState(bistate);
        pg_sys::table_finish_bulk_insert(rel, 0);
        pg_sys::ExecCloseIndices(info);
        pg_sys::FreeExecutorState(estate);
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        // What follows in this transaction (a merge, the rollups, the coverage) sees these rows.
        pg_sys::CommandCounterIncrement();
        Some(inserted)
    }
}

/// Writes the filled slots as COPY's multi-insert buffer does: the heap first, then each row's
/// index entries (a duplicate key raises 23505 here).
unsafe fn flush(
    rel: pg_sys::Relation,
    info: *mut pg_sys::ResultRelInfo,
    estate: *mut pg_sys::EState,
    slots: &mut [*mut pg_sys::TupleTableSlot],
    cid: pg_sys::CommandId,
    bistate: pg_sys::BulkInsertState,
) -> u64 {
    // SAFETY: the caller's relation, executor state and filled slots.
    unsafe {
        pg_sys::table_multi_insert(rel, slots.as_mut_ptr(), slots.len() as i32, cid, 0, bistate);
        if (*info).ri_NumIndices > 0 {
            for &slot in slots.iter() {
                pg_sys::ExecInsertIndexTuples(
                    info,
                    slot,
                    estate,
                    false,
                    false,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                );
            }
        }
        let econtext = (*estate).es_per_tuple_exprcontext;
        if !econtext.is_null() {
            pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
        }
    }
    slots.len() as u64
}

/// The attribute indexes of `columns` in `rel`, when `rel` is a plain heap table without
/// triggers or stored generated columns whose columns are exactly those, in that order.
unsafe fn plain_table(rel: pg_sys::Relation, columns: &[(&str, pg_sys::Oid)]) -> Option<Vec<usize>> {
    // SAFETY: an open relation's descriptor and catalog row.
    unsafe {
        if (*(*rel).rd_rel).relkind != pg_sys::RELKIND_RELATION as std::ffi::c_char || !(*rel).trigdesc.is_null() {
            return None;
        }
        let desc = (*rel).rd_att;
        let constr = (*desc).constr;
        if !constr.is_null() && (*constr).has_generated_stored {
            return None;
        }
        let mut found = Vec::with_capacity(columns.len());
        for (i, attr) in (*desc).attrs.as_slice((*desc).natts as usize).iter().enumerate() {
            if attr.attisdropped {
                continue;
            }
            let (name, type_oid) = columns.get(found.len())?;
            let attname = std::ffi::CStr::from_ptr(attr.attname.data.as_ptr());
            if attname.to_bytes() != name.as_bytes() || attr.atttypid != *type_oid {
                return None;
            }
            found.push(i);
        }
        (found.len() == columns.len()).then_some(found)
    }
}
