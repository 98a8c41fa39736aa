//! The streaming pipeline: one reader thread decompresses and cuts chunks, rayon threads parse
//! them, one merger thread folds samples into hours in file order and hands finished hours to the
//! caller. Memory is bounded by a fixed number of chunks in flight and a bounded event channel,
//! whatever the file size.
//!
//! Every thread here blocks all signals, so the caller (a Postgres backend) keeps receiving its
//! own on its main thread; a panic on any thread becomes an [`Error::Panic`] event.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};
use rayon::prelude::*;

use crate::aggregate::{Accumulator, HourBatch};
use crate::block;
use crate::calendar::LocalGaps;
use crate::chunk::Chunker;
use crate::error::{Error, Result};
use crate::format::{ChunkContext, Format, LineCounts, ParsedChunk, Reject};
use crate::links::{add_unknown, LinkSet, Network, UnknownCounts, UnknownLinks};
use crate::source::Source;
use crate::stored::EncodedBlock;

/// Where a load starts: an entry and a decompressed byte offset and line count within it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub entry: u32,
    pub offset: u64,
    pub line: u64,
}

#[derive(Clone)]
pub struct Options {
    pub format: &'static dyn Format,
    /// Target chunk size in decompressed bytes.
    pub chunk_size: usize,
    /// Longest line accepted, in bytes before its line feed (at least 1). A longer line is
    /// rejected as `line_too_long` and the load goes on; it is never held whole in memory.
    pub max_line: usize,
    /// Cap on the decompressed size of one entry.
    pub max_entry_bytes: u64,
    /// When non-zero, flush every open hour and report a checkpoint at the first line of each
    /// later block of this many hours (blocks are aligned to local midnight; 24 must be a
    /// multiple). Files come in time order, so each block is then written once, whole.
    pub checkpoint_every_hours: u32,
    /// When non-zero, a multiple of `checkpoint_every_hours`: the blocks in between are still
    /// handed over as they finish (memory holds one block), but only the first line of a later
    /// period of this many hours is reported as a checkpoint. The writer commits a local day's
    /// blocks together, so the day's rollups are written once.
    pub commit_every_hours: u32,
    /// After this many decompressed bytes without a checkpoint, flush every open hour and report
    /// one at the end of the chunk.
    pub checkpoint_bytes: Option<u64>,
    /// Resume from a checkpoint of an earlier load of the same file.
    pub start: Position,
    /// The local times that do not exist in the source's time zone (see
    /// [`ChunkContext::gaps`]); `None`: every local time exists.
    pub gaps: Option<Arc<LocalGaps>>,
    /// At most this many file (compressed) bytes read a second; `None`: no cap.
    pub max_read_rate: Option<u64>,
    /// Keep only the samples of these links (a region); the others are counted as filtered
    /// ([`Counts::filtered`]) before aggregation. `None`: every link.
    pub links: Option<Arc<LinkSet>>,
    /// The target's reference network and what to do with the samples of links it lacks on
    /// their day: counted per link either way ([`Counts::unknown`], [`Batch::unknown_links`]);
    /// with [`UnknownLinks::Skip`] also left out, as filtered. `None`: no network.
    pub network: Option<(Arc<Network>, UnknownLinks)>,
    /// What a batch carries of its finished hours: the hours themselves, or their blocks encoded
    /// for the writer on the engine's threads.
    pub hand_over: HandOver,
}

/// See [`Options::hand_over`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandOver {
    /// [`Batch::hours`].
    Hours,
    /// [`Batch::blocks`], without the sums of rollups.
    Blocks,
    /// [`Batch::blocks`] with each row's sums for the day's rollups.
    BlocksWithSums,
}

impl Options {
    pub fn new(format: &'static dyn Format) -> Options {
        Options {
            format,
            chunk_size: 4 << 20,
            max_line: 1 << 20,
            max_entry_bytes: 64 << 30,
            checkpoint_every_hours: 0,
            commit_every_hours: 0,
            checkpoint_bytes: None,
            start: Position::default(),
            gaps: None,
            max_read_rate: None,
            links: None,
            network: None,
            hand_over: HandOver::Hours,
        }
    }
}

/// A reject with the entry it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryReject {
    pub entry: String,
    pub reject: Reject,
}

/// Counters of a load; in a [`Batch`] they are the increase since the previous batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub lines: LineCounts,
    /// Samples applied to an hourly row of this load.
    pub loaded: u64,
    /// Samples for a slot that already had one among the hours still open. A sample for an hour
    /// already handed over counts as loaded here; the writer's merge then finds it a duplicate.
    pub duplicate: u64,
    /// Samples left out, neither loaded nor rejected: of links outside [`Options::links`], and
    /// of unknown links when they are skipped.
    pub filtered: u64,
    /// Samples of links the network ([`Options::network`]) lacks on their day, loaded or not.
    pub unknown: u64,
    /// Decompressed bytes consumed.
    pub bytes: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.lines += o.lines;
        self.loaded += o.loaded;
        self.duplicate += o.duplicate;
        self.filtered += o.filtered;
        self.unknown += o.unknown;
        self.bytes += o.bytes;
    }
}

/// What the pipeline hands over after a chunk.
#[derive(Debug, Default)]
pub struct Batch {
    /// Finished hours (all open hours at a checkpoint), when [`Options::hand_over`] asks for hours.
    pub hours: Vec<HourBatch>,
    /// The same hours' blocks, encoded for the writer, when it asks for blocks.
    pub blocks: Vec<EncodedBlock>,
    pub rejects: Vec<EntryReject>,
    pub counts: Counts,
    /// Per unknown link, its samples ([`Counts::unknown`] in all).
    pub unknown_links: UnknownCounts,
    /// Set when everything read so far is in this or an earlier batch: a load started at this
    /// position after writing these batches neither loses nor repeats a line.
    pub checkpoint: Option<Position>,
}

#[derive(Debug)]
pub enum Event {
    Batch(Box<Batch>),
    /// The whole file was read; every batch has been handed over.
    Done,
}

/// Owns the rayon pool shared by the loads it starts.
pub struct Engine {
    pool: Arc<rayon::ThreadPool>,
}

impl Engine {
    /// `threads` = 0 means one per core.
    pub fn new(threads: usize) -> Result<Engine> {
        let pool = with_signals_blocked(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("vs_ingest-parse-{i}"))
                .start_handler(|_| engine_thread())
                .build()
        })
        .map_err(|e| Error::Panic(format!("could not start the parse threads: {e}")))?;
        Ok(Engine { pool: Arc::new(pool) })
    }

    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Starts loading `path`; events arrive through [`Load::recv_timeout`].
    pub fn load(&self, path: PathBuf, options: Options) -> Load {
        let source = Source::open(&path, options.max_entry_bytes);
        self.load_source(source, options)
    }

    /// Starts loading an opened file (or reports why it could not be opened); events arrive
    /// through [`Load::recv_timeout`]. The file is read through the source's descriptor only.
    pub fn load_source(&self, source: Result<Source>, options: Options) -> Load {
        let in_flight = self.pool.current_num_threads() * 2 + 2;
        let (tokens_tx, tokens_rx) = bounded::<()>(in_flight);
        for _ in 0..in_flight {
            tokens_tx.send(()).expect("token channel has room");
        }
        let (parsed_tx, parsed_rx) = unbounded::<Message>();
        // Batches carry whole hours: two in the channel let the engine run an hour ahead of the
        // writer, within bounded memory.
        let (events_tx, events_rx) = bounded::<Result<Event>>(2);
        let cancel = Arc::new(AtomicBool::new(false));
        let input_read = Arc::new(AtomicU64::new(0));

        let reader = {
            let (pool, options, cancel, input_read) =
                (self.pool.clone(), options.clone(), cancel.clone(), input_read.clone());
            spawn("vs_ingest-read", move || {
                let mut seq = 0u64;
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    let source = source?.with_input_counter(input_read).with_read_rate(options.max_read_rate);
                    read_file(&source, &options, &pool, &tokens_rx, &parsed_tx, &cancel, &mut seq)?;
                    // Every byte was read: make sure they were the bytes of one version of the file.
                    source.check_unchanged()
                }))
                .unwrap_or_else(|p| Err(Error::from_panic(p)));
                // Numbered after every message the reader sent, so it is handled last.
                let _ = parsed_tx.send(Message { seq, body: Body::End(outcome) });
            })
        };
        let merger = {
            let cancel = cancel.clone();
            let pool = self.pool.clone();
            spawn("vs_ingest-merge", move || {
                let mut merger = Merger::new(options, pool, tokens_tx, events_tx.clone());
                let outcome = catch_unwind(AssertUnwindSafe(|| merger.run(&parsed_rx, &cancel)))
                    .unwrap_or_else(|p| Err(Error::from_panic(p)));
                match outcome {
                    Ok(()) => {
                        let _ = events_tx.send(Ok(Event::Done));
                    }
                    Err(e) => {
                        let _ = events_tx.send(Err(e));
                    }
                }
            })
        };
        Load { events: Some(events_rx), cancel, input_read, threads: vec![reader, merger] }
    }
}

/// A running load. Dropping it cancels the load and waits for its threads.
pub struct Load {
    events: Option<Receiver<Result<Event>>>,
    cancel: Arc<AtomicBool>,
    input_read: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    /// Bytes of the input file read so far (compressed bytes for a compressed file).
    pub fn input_bytes_read(&self) -> u64 {
        self.input_read.load(Ordering::Relaxed)
    }

    /// The next event, or `None` if none came within `timeout` (the caller checks for interrupts
    /// and waits again).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Result<Event>> {
        let events = self.events.as_ref().expect("events are taken only on drop");
        match events.recv_timeout(timeout) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                Some(Err(Error::Panic("the load's threads stopped without a result".into())))
            }
        }
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.cancel();
        // Dropping the receiver unblocks a merger waiting to send; the merger's exit releases
        // the reader waiting for a token.
        drop(self.events.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Blocks every signal on the calling thread, so signals go to the thread that handles them.
pub fn block_signals() {
    // SAFETY: sigfillset initialises the set; pthread_sigmask only changes this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// What every engine thread does first: block signals (they are the backend's), and step back
/// behind the thread that writes our output into the database. The writer is the critical path;
/// the engine runs ahead of it within bounded queues, so when both want a core the writer should
/// get it. The step is relative to the nice value the thread was born with (its creator's: a
/// load's budget may have lowered the whole process's priority first).
fn engine_thread() {
    block_signals();
    // SAFETY: gettid has no preconditions; getpriority reads, then setpriority changes, the nice
    // value of the calling thread only (Linux keeps it per thread; getpriority returns the nice
    // value itself, -20 to 19).
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        let born = libc::getpriority(libc::PRIO_PROCESS, tid).clamp(-20, 19);
        libc::setpriority(libc::PRIO_PROCESS, tid, (born + ENGINE_NICE_STEP).min(19));
    }
}

/// How much nicer engine threads are than the writer: at +10 the scheduler gives the writer about
/// 9 times their share of a contended core.
const ENGINE_NICE_STEP: libc::c_int = 10;

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    with_signals_blocked(|| {
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                engine_thread();
                body()
            })
            .expect("could not start an engine thread")
    })
}

/// Runs `start` (which starts threads) with every signal blocked on the calling thread, so the
/// new threads are born with them blocked: no signal meant for the backend (SIGINT, SIGTERM,
/// SIGUSR1) can land on an engine thread, not even before it blocks them itself.
fn with_signals_blocked<T>(start: impl FnOnce() -> T) -> T {
    // SAFETY: sigfillset initialises the set; pthread_sigmask changes this thread's mask only, and
    // the old mask is put back before returning.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let out = start();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        out
    }
}

struct Message {
    seq: u64,
    body: Body,
}

enum Body {
    EntryStart { index: u32, name: String, line: u64 },
    Chunk { end_offset: u64, len: u64, parsed: Result<ParsedChunk> },
    EntryEnd { index: u32 },
    End(Result<()>),
}

fn read_file(
    source: &Source,
    options: &Options,
    pool: &rayon::ThreadPool,
    tokens: &Receiver<()>,
    parsed: &Sender<Message>,
    cancel: &AtomicBool,
    seq: &mut u64,
) -> Result<()> {
    let format = options.format;
    let file_name = source.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let next_seq = |seq: &mut u64| {
        *seq += 1;
        *seq - 1
    };
    source.for_each_entry(|entry| {
        let start = options.start;
        if entry.index < start.entry {
            return Ok(());
        }
        let resuming = entry.index == start.entry && start.offset > 0;
        let file_date = format.file_date(&entry.name).or_else(|| format.file_date(&file_name));
        let mut chunker = Chunker::new(entry.reader, &entry.name, options.chunk_size, options.max_line);
        if resuming {
            chunker.skip(start.offset)?;
        }
        let line = if resuming { start.line } else { 0 };
        let body = Body::EntryStart { index: entry.index, name: entry.name.clone(), line };
        let _ = parsed.send(Message { seq: next_seq(seq), body });
        while let Some(chunk) = chunker.next_chunk()? {
            if cancel.load(Ordering::Relaxed) || tokens.recv().is_err() {
                return Err(Error::Cancelled);
            }
            let ctx = ChunkContext {
                first_in_entry: chunk.first,
                file_date,
                max_line: chunker.max_line(),
                gaps: options.gaps.clone(),
            };
            // A line too long to keep is only a prefix in `data`: the chunk's range still covers it.
            let (end_offset, len) = (chunk.end, chunk.len());
            let tx = parsed.clone();
            let my_seq = next_seq(seq);
            pool.spawn(move || {
                let parsed =
                    catch_unwind(AssertUnwindSafe(|| format.parse_chunk(&chunk.data, &ctx))).map_err(Error::from_panic);
                let _ = tx.send(Message { seq: my_seq, body: Body::Chunk { end_offset, len, parsed } });
            });
        }
        let _ = parsed.send(Message { seq: next_seq(seq), body: Body::EntryEnd { index: entry.index } });
        Ok(())
    })
}

/// A position inside a parsed chunk: samples, rejects, line counts and bytes before it.
#[derive(Clone, Copy, Debug, Default)]
struct Cut {
    sample: usize,
    reject: usize,
    counts: LineCounts,
    byte: u64,
}

struct Merger {
    options: Options,
    /// Where finished blocks are encoded ([`Options::hand_over`]).
    pool: Arc<rayon::ThreadPool>,
    tokens: Sender<()>,
    events: Sender<Result<Event>>,
    /// What the next batch handed over will carry (see `emit`).
    pending: Batch,
    acc: Accumulator,
    entry: String,
    entry_index: u32,
    line: u64,
    max_hour: Option<i64>,
    since_checkpoint: u64,
    /// Where the last look-ups in the region and the network found their link (see
    /// `LinkSet::contains_near`).
    link_cursors: (usize, usize),
}

impl Merger {
    fn new(
        options: Options,
        pool: Arc<rayon::ThreadPool>,
        tokens: Sender<()>,
        events: Sender<Result<Event>>,
    ) -> Merger {
        Merger {
            options,
            pool,
            tokens,
            events,
            pending: Batch::default(),
            acc: Accumulator::default(),
            entry: String::new(),
            entry_index: 0,
            line: 0,
            max_hour: None,
            since_checkpoint: 0,
            link_cursors: (0, 0),
        }
    }

    fn run(&mut self, parsed: &Receiver<Message>, cancel: &AtomicBool) -> Result<()> {
        // Parse threads finish out of order; handle messages in the reader's order.
        let mut pending = BTreeMap::new();
        let mut next = 0u64;
        loop {
            let message = parsed.recv().map_err(|_| Error::Panic("the reader thread vanished".into()))?;
            pending.insert(message.seq, message.body);
            while let Some(body) = pending.remove(&next) {
                next += 1;
                if cancel.load(Ordering::Relaxed) {
                    return Err(Error::Cancelled);
                }
                if let Body::End(outcome) = body {
                    return outcome;
                }
                self.handle(body)?;
            }
        }
    }

    fn handle(&mut self, body: Body) -> Result<()> {
        match body {
            Body::EntryStart { index, name, line } => {
                self.entry = name;
                self.entry_index = index;
                self.line = line;
                self.max_hour = None;
                Ok(())
            }
            Body::Chunk { end_offset, len, parsed } => {
                let _ = self.tokens.send(());
                let parsed = parsed?;
                let start_offset = end_offset - len;
                let chunk_line = self.line;
                let mut done = Cut::default();
                let every = i64::from(self.options.checkpoint_every_hours);
                let commit_every = i64::from(self.options.commit_every_hours).max(every);
                if every > 0 {
                    for start in &parsed.hour_starts {
                        let Some(max_hour) = self.max_hour else {
                            self.max_hour = Some(start.local_hour);
                            continue;
                        };
                        if start.local_hour <= max_hour {
                            continue;
                        }
                        if start.local_hour.div_euclid(every) != max_hour.div_euclid(every) {
                            // A later block begins: commit everything before its first line.
                            let cut = Cut {
                                sample: start.sample,
                                reject: start.rejects,
                                counts: start.counts,
                                byte: start.byte as u64,
                            };
                            let mut batch = self.apply(&parsed, chunk_line, &done, &cut);
                            batch.hours = self.acc.take_all();
                            if start.local_hour.div_euclid(commit_every) != max_hour.div_euclid(commit_every) {
                                batch.checkpoint = Some(Position {
                                    entry: self.entry_index,
                                    offset: start_offset + cut.byte,
                                    line: chunk_line + cut.counts.lines,
                                });
                                self.since_checkpoint = 0;
                            }
                            self.emit(batch)?;
                            done = cut;
                        }
                        self.max_hour = Some(start.local_hour);
                    }
                }
                let end = Cut {
                    sample: parsed.samples.len(),
                    reject: parsed.rejects.len(),
                    counts: parsed.counts,
                    byte: len,
                };
                let mut batch = self.apply(&parsed, chunk_line, &done, &end);
                self.line = chunk_line + parsed.counts.lines;
                if self.options.checkpoint_bytes.is_some_and(|every| self.since_checkpoint >= every) {
                    self.since_checkpoint = 0;
                    batch.hours = self.acc.take_all();
                    batch.checkpoint = Some(Position { entry: self.entry_index, offset: end_offset, line: self.line });
                } else if self.options.checkpoint_every_hours == 0 {
                    if let Some(max_hour) = self.max_hour {
                        // Rows come in time order; keep one finished hour open for rows that
                        // come a little late.
                        batch.hours = self.acc.take_before(max_hour - 1);
                    }
                }
                self.emit(batch)
            }
            Body::EntryEnd { index } => {
                self.since_checkpoint = 0;
                let batch = Batch {
                    hours: self.acc.take_all(),
                    checkpoint: Some(Position { entry: index + 1, offset: 0, line: 0 }),
                    ..Default::default()
                };
                self.emit(batch)
            }
            Body::End(_) => unreachable!("End is handled by run"),
        }
    }

    /// Applies the part of a chunk between two cuts and returns its batch (without hours).
    fn apply(&mut self, parsed: &ParsedChunk, chunk_line: u64, from: &Cut, to: &Cut) -> Batch {
        let mut batch = Batch::default();
        batch.counts.lines = to.counts - from.counts;
        batch.counts.bytes = to.byte - from.byte;
        self.since_checkpoint += batch.counts.bytes;
        for reject in &parsed.rejects[from.reject..to.reject] {
            let mut reject = reject.clone();
            reject.line += chunk_line;
            batch.rejects.push(EntryReject { entry: self.entry.clone(), reject });
        }
        for sample in &parsed.samples[from.sample..to.sample] {
            let cursors = &mut self.link_cursors;
            if self.options.links.as_ref().is_some_and(|links| !links.contains_near(sample.link_id, &mut cursors.0)) {
                batch.counts.filtered += 1;
                continue;
            }
            if let Some((network, unknown)) = &self.options.network {
                if !network.knows_near(sample.link_id, sample.local_hour, &mut cursors.1) {
                    batch.counts.unknown += 1;
                    *batch.unknown_links.entry(sample.link_id).or_default() += 1;
                    if *unknown == UnknownLinks::Skip {
                        batch.counts.filtered += 1;
                        continue;
                    }
                }
            }
            if self.acc.apply(sample) {
                batch.counts.loaded += 1;
            } else {
                batch.counts.duplicate += 1;
            }
            if self.options.checkpoint_every_hours == 0 {
                self.max_hour = self.max_hour.max(Some(sample.local_hour));
            }
        }
        batch
    }

    /// Hands a batch over once it carries hours or a checkpoint; counters and rejects of chunks
    /// without either wait for the next one. So the merger goes on with the next hour while the
    /// caller writes the last, instead of filling the channel with empty batches and stalling.
    fn emit(&mut self, batch: Batch) -> Result<()> {
        let pending = &mut self.pending;
        pending.hours.extend(batch.hours);
        pending.rejects.extend(batch.rejects);
        pending.counts += batch.counts;
        add_unknown(&mut pending.unknown_links, batch.unknown_links);
        pending.checkpoint = batch.checkpoint;
        if pending.hours.is_empty() && pending.checkpoint.is_none() {
            return Ok(());
        }
        let mut ready = std::mem::take(pending);
        if self.options.hand_over != HandOver::Hours {
            let sums = self.options.hand_over == HandOver::BlocksWithSums;
            let hours = std::mem::take(&mut ready.hours);
            // Two pieces a thread: a piece that finishes early leaves its thread another.
            let pieces = self.pool.current_num_threads() * 2;
            ready.blocks = self
                .pool
                .install(|| block::blocks(&hours).par_iter().map(|b| EncodedBlock::encode(b, pieces, sums)).collect());
        }
        self.events.send(Ok(Event::Batch(Box::new(ready)))).map_err(|_| Error::Cancelled)
    }
}

#[cfg(test)]
mod tests;
