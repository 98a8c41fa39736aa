//! Loading one claimed file in chunk transactions: each commits a block of six hours of the file's
//! data together with the file's counters and the offset where the next chunk starts, so a crash
//! loses at most the block in flight and the next load continues exactly there.

use std::path::Path;
use std::time::{Duration, Instant};

use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use vs_ingest_engine::links::{add_unknown, UnknownCounts};
use vs_ingest_engine::pipeline::{self, Event, Position};
use vs_ingest_engine::source::{self, Container, Source};

use super::{stop_run, Worker};
use crate::error::{IngestError, Result};
use crate::gucs;
use crate::postgres::access;
use crate::postgres::catalog::{self, FileFacts, Prior, StageTimes, Totals};
use crate::postgres::links;
use crate::postgres::transaction::{in_transaction, Transaction};
use crate::write::coverage;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Go on with the next file.
    Continue,
    /// The run is being stopped.
    Stop,
}

/// How a file's error starts when a worker thread panicked (a bug, not a bad file).
pub const INTERNAL_ERROR: &str = "internal error: ";

/// A checkpoint is also taken after this many decompressed bytes without a day boundary: more
/// than a national day (~4.2 GB of CSV), so that only files out of time order split a day (whose
/// later part then merges, and rebuilds the rollups of the links it touched). At 2 GB, a national
/// day split in two and its load took 41 s instead of ~19 s (scripts/bench.sh).
const CHECKPOINT_BYTES: u64 = 8 << 30;
/// Early reject-ratio checks wait for this many rows, so a bad first line does not fail a file.
const EARLY_RATIO_ROWS: u64 = 100_000;

pub fn load(worker: &mut Worker, file_id: i64, path: &str) -> Outcome {
    let outcome = PgTryBuilder::new(std::panic::AssertUnwindSafe(|| Ok(load_claimed(worker, file_id, path))))
        .catch_others(|caught| Err(Box::new(caught)))
        .execute();
    let (failure, main_thread_panic) = match outcome {
        Ok(Ok(outcome)) => return outcome,
        Ok(Err(e)) => (e, false),
        // A panic on this thread (a broken invariant of our own, not the file's fault): recorded
        // like an engine thread's panic, never left as a file stuck in `loading`.
        Err(caught) => match *caught {
            CaughtError::RustPanic { ereport, .. } => (IngestError::WorkerPanic(ereport.message().to_string()), true),
            other => (crate::postgres::subxact::caught_to_error(other), false),
        },
    };
    // The chunk in flight was rolled back (its transaction's guard); committed chunks stay, with
    // their offset. A bad file fails alone; a bug in our own code (a panic) stops the run, and
    // the caller raises it.
    worker.writer.after_abort();
    let internal =
        main_thread_panic || matches!(failure, IngestError::Engine(vs_ingest_engine::error::Error::Panic(_)));
    let run_id = worker.run_id;
    let _ = in_transaction(|| {
        if internal {
            catalog::finish_file(file_id, "failed", Some(&format!("{INTERNAL_ERROR}{failure}")))?;
            stop_run(run_id)?;
        } else {
            catalog::fail_file(file_id, &failure)?;
        }
        Ok(())
    });
    if internal {
        Outcome::Stop
    } else {
        Outcome::Continue
    }
}

fn load_claimed(worker: &mut Worker, file_id: i64, path: &str) -> Result<Outcome> {
    let request = &worker.request;
    let transaction = Transaction::begin();
    // Opened once, by descriptor, and checked on it against the server's allowed directories as
    // they are now; the fingerprint and the load read through the same descriptor.
    let opened = open(path).and_then(|source| {
        let fingerprint = source.fingerprint()?;
        let facts = FileFacts {
            path: source.path().display().to_string(),
            size: source.meta().size,
            mtime: source.meta().mtime_seconds(),
            fingerprint: fingerprint.hash,
        };
        Ok((source, facts))
    });
    let (source, facts) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            catalog::fail_file(file_id, &e)?;
            transaction.commit();
            return Ok(Outcome::Continue);
        }
    };
    let mut state = catalog::file_state(file_id)?;
    if state.fingerprint.as_ref().is_some_and(|f| *f != facts.fingerprint) && state.start != Position::default() {
        return Err(IngestError::FileChanged(facts.path));
    }
    let real = source.path().to_owned();
    catalog::set_facts(file_id, &facts, Some(source.container().name()))?;
    let target = worker.writer.target_oid();
    // A replacing run loads every file it was given, from its start: each day is rebuilt from the
    // run's files alone, whatever the ledger says of them (crate::write::replace).
    let prior = if request.replace { Prior::New } else { catalog::prior(&facts, target)? };
    match prior {
        Prior::Loaded => {
            catalog::finish_file(file_id, "skipped", None)?;
            transaction.commit();
            return Ok(Outcome::Continue);
        }
        // A file that only grew since it was loaded (an append) merges again: the table then holds
        // all of it, and the first sample of every slot still wins.
        Prior::Changed if !request.reload_changed && !appended(&source, &facts, target)? => {
            catalog::finish_file(
                file_id,
                "changed",
                Some("the content changed since it was loaded; reload_changed => true loads it again"),
            )?;
            transaction.commit();
            return Ok(Outcome::Continue);
        }
        _ => {}
    }
    if !request.replace && state.start == Position::default() && catalog::adopt_interrupted(file_id, &facts, target)? {
        state = catalog::file_state(file_id)?;
    }
    transaction.commit();

    let mut options = pipeline::Options::new(worker.format);
    options.chunk_size = request.chunk_size;
    options.checkpoint_every_hours = vs_ingest_engine::block::BLOCK_HOURS as u32;
    // A day's blocks commit together, so its rollups are written once (src/write/rollup.rs), and
    // a replaced day is swapped in by one commit, however large (src/write/replace.rs).
    options.commit_every_hours = match gucs::TEST_COMMIT_EVERY_HOURS.get() {
        hours @ (6 | 12) if !request.replace => hours as u32,
        _ => 24,
    };
    options.checkpoint_bytes = if request.replace { None } else { Some(CHECKPOINT_BYTES) };
    options.start = state.start;
    options.gaps = worker.gaps.clone();
    options.max_read_rate = request.budget.worker_read_rate();
    options.links = worker.links.clone();
    options.network = worker.network.clone();
    options.hand_over = worker.writer.hand_over();
    let load = worker.engine.load_source(Ok(source), options);
    let mut totals = state.totals;
    let mut rejects_stored = state.rejects_stored;
    let mut chunk = Totals::default();
    let mut chunk_unknown = UnknownCounts::new();
    let mut times = StageTimes::default();
    let mut transaction = Transaction::begin();
    // Nothing written since the transaction began: the next batch's new days can get their
    // partitions in a transaction of their own (see `Writer::make_new_days`).
    let mut fresh = true;
    loop {
        check_for_interrupts!();
        let waiting = Instant::now();
        let event = load.recv_timeout(Duration::from_millis(100));
        times.wait += waiting.elapsed().as_secs_f64();
        let event = match event {
            None => continue,
            Some(event) => event.map_err(IngestError::from)?,
        };
        let batch = match event {
            Event::Batch(batch) => *batch,
            Event::Done => break,
        };
        let writing = Instant::now();
        let wrote_rows = !batch.blocks.is_empty();
        if std::mem::take(&mut fresh) && worker.writer.make_new_days(&batch.blocks)? {
            transaction.commit();
            transaction = Transaction::begin();
        }
        let written = worker.writer.write(batch.blocks)?;
        times.write += writing.elapsed().as_secs_f64();
        chunk.rows_read += batch.counts.lines.rows;
        chunk.rows_missing += batch.counts.lines.missing;
        chunk.rows_filtered += batch.counts.filtered;
        chunk.rows_unknown += batch.counts.unknown;
        add_unknown(&mut chunk_unknown, batch.unknown_links);
        chunk.rows_rejected += batch.counts.lines.rejected;
        chunk.bytes += batch.counts.bytes;
        chunk.rows_loaded += written.loaded;
        chunk.rows_duplicate += batch.counts.duplicate + written.duplicate;
        let room = request.max_rejects_stored.saturating_sub(rejects_stored) as usize;
        let keep = &batch.rejects[..batch.rejects.len().min(room)];
        catalog::store_rejects(file_id, keep)?;
        rejects_stored += keep.len() as u64;

        let fault_after = gucs::TEST_EXIT_AFTER_CHUNKS.get().max(0) as u32;
        if fault_after > 0 && worker.chunks_committed >= fault_after && wrote_rows {
            // Test-only: die with a chunk written but not committed, as a crash would.
            // SAFETY: ends the process; Postgres rolls the open transaction back.
            unsafe { pg_sys::proc_exit(1) }
        }

        let panic_after = gucs::TEST_PANIC_AFTER_CHUNKS.get().max(0) as u32;
        if panic_after > 0 && worker.chunks_committed >= panic_after && wrote_rows {
            // Test-only: a broken invariant on the worker's main thread.
            panic!("test-only fault: the worker's main thread panicked after {panic_after} chunks");
        }

        let Some(at) = batch.checkpoint else { continue };
        let mut after = totals;
        after += chunk;
        check_reject_ratio(&real, &after, request.max_reject_ratio, after.rows_read >= EARLY_RATIO_ROWS)?;
        links::store_unknown(file_id, &std::mem::take(&mut chunk_unknown))?;
        let committing = Instant::now();
        worker.writer.commit_chunk(transaction, file_id, &chunk, at, load.input_bytes_read(), &times)?;
        times = StageTimes { commit: committing.elapsed().as_secs_f64(), ..StageTimes::default() };
        totals = after;
        chunk = Totals::default();
        worker.chunks_committed += 1;
        if super::stop_requested()
            || in_transaction(|| catalog::run_status(worker.run_id))?.as_deref() != Some("running")
        {
            let run_id = worker.run_id;
            in_transaction(|| {
                catalog::finish_file(file_id, "cancelled", Some("stopped by a cancel; the next load resumes it"))?;
                stop_run(run_id)
            })?;
            return Ok(Outcome::Stop);
        }
        transaction = Transaction::begin();
        fresh = true;
    }
    check_reject_ratio(&real, &totals, request.max_reject_ratio, true)?;
    catalog::add_final_times(file_id, &times)?;
    catalog::finish_file(file_id, "loaded", None)?;
    transaction.commit();
    if worker.writer.take_calendar_grew() {
        // Statistics only: the file is loaded whatever happens here.
        let _ = in_transaction(coverage::analyze_calendar);
    }
    Ok(Outcome::Continue)
}

/// Whether the file's first bytes are exactly its newest loaded version, and it is longer: an
/// append. A zip is never one (its directory is at the end), and a plain file only when the
/// loaded version ended with a whole line (a line cut by a copy in progress could have parsed
/// as a wrong value, which would then win its slot). A gzip or zstd version that was loaded was
/// whole: a cut one fails as truncated.
fn appended(source: &Source, facts: &FileFacts, target: pg_sys::Oid) -> Result<bool> {
    let Some((size, fingerprint)) = catalog::last_loaded(&facts.path, target)? else { return Ok(false) };
    let whole = match source.container() {
        Container::Zip => false,
        Container::Plain => size > 0 && source.byte_at(size - 1)? == Some(b'\n'),
        Container::Gzip | Container::Zstd => true,
    };
    Ok(whole && facts.size > size && source.fingerprint_prefix(size)?.hash == fingerprint)
}

fn check_reject_ratio(path: &Path, totals: &Totals, max_ratio: f64, now: bool) -> Result<()> {
    if now && totals.rows_rejected as f64 > max_ratio * totals.rows_read as f64 {
        return Err(IngestError::TooManyRejects {
            path: path.display().to_string(),
            rejected: totals.rows_rejected,
            rows: totals.rows_read,
            max_ratio,
        });
    }
    Ok(())
}

/// Opens a file to load with the server's current `vs_ingest.allowed_dirs` and
/// `vs_ingest.max_entry_size` (never values stored with the run).
fn open(path: &str) -> Result<Source> {
    let allowed = access::allowed_dirs()?;
    let checked = source::open_checked(Path::new(path), &allowed)?;
    let max_entry_bytes = gucs::MAX_ENTRY_MB.get() as u64 * 1024 * 1024;
    Ok(Source::from_checked(checked, max_entry_bytes)?)
}
