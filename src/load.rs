//! One load from start to finish: check access, register the run, then for each file consult the
//! ledger, stream it through the engine and write its hours, each file in its own subtransaction
//! so that a bad file fails alone. Runs on the backend's main thread; engine threads only parse.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use pgrx::prelude::*;
use vs_ingest_engine::format::{self, Format};
use vs_ingest_engine::pipeline::{self, Engine, EntryReject, Event};
use vs_ingest_engine::source::{self, Source};

use crate::error::{IngestError, Result};
use crate::gucs;
use crate::postgres::access;
use crate::postgres::catalog::{self, FileCounts, FileFacts, Prior, Totals};
use crate::postgres::subxact::in_subtransaction;
use crate::postgres::writer::Writer;

/// Options of a load as given in SQL; `None` takes the setting's value.
pub struct LoadOptions<'a> {
    pub target: &'a str,
    pub format: &'a str,
    pub source_timezone: Option<&'a str>,
    pub max_reject_ratio: Option<f64>,
    pub reload_changed: bool,
}

struct Settings {
    target: String,
    format: &'static dyn Format,
    time_zone: String,
    max_reject_ratio: f64,
    reload_changed: bool,
}

impl LoadOptions<'_> {
    fn resolve(&self) -> Result<Settings> {
        let format = format::lookup(self.format).ok_or_else(|| IngestError::UnknownFormat(self.format.into()))?;
        let time_zone = match self.source_timezone {
            Some(tz) => tz.to_string(),
            None => gucs::string(&gucs::SOURCE_TIMEZONE).unwrap_or_else(|| "Asia/Seoul".into()),
        };
        if !catalog::is_time_zone(&time_zone)? {
            return Err(IngestError::BadTimeZone(time_zone));
        }
        let max_reject_ratio = self.max_reject_ratio.unwrap_or_else(|| gucs::MAX_REJECT_RATIO.get());
        if !(0.0..=1.0).contains(&max_reject_ratio) {
            return Err(IngestError::BadRejectRatio(max_reject_ratio));
        }
        if self.target.trim().is_empty() {
            return Err(IngestError::BadTarget(self.target.into()));
        }
        Ok(Settings {
            target: self.target.to_string(),
            format,
            time_zone,
            max_reject_ratio,
            reload_changed: self.reload_changed,
        })
    }

    fn as_json(&self, s: &Settings) -> serde_json::Value {
        serde_json::json!({
            "format": s.format.name(),
            "source_timezone": s.time_zone,
            "max_reject_ratio": s.max_reject_ratio,
            "reload_changed": s.reload_changed,
        })
    }
}

/// What a load returns to SQL.
pub struct Summary {
    pub run_id: i64,
    pub files: FileCounts,
    pub totals: Totals,
    pub seconds: f64,
}

impl Summary {
    pub fn mb_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.totals.bytes as f64 / 1e6 / self.seconds
        } else {
            0.0
        }
    }
}

/// Loads the files of `dir` whose names match `pattern`.
pub fn load_dir(dir: &str, pattern: &str, options: &LoadOptions) -> Result<Summary> {
    access::check_role()?;
    let settings = options.resolve()?;
    let allowed = access::allowed_dirs()?;
    let real_dir = access::resolve_dir(dir, &allowed)?;
    let files = access::list_matching(&real_dir, pattern)?;
    run(dir, pattern, files, &allowed, &settings, options.as_json(&settings))
}

/// Loads one file.
pub fn load_file(path: &str, options: &LoadOptions) -> Result<Summary> {
    access::check_role()?;
    let settings = options.resolve()?;
    let allowed = access::allowed_dirs()?;
    let real = access::resolve(path, &allowed, IngestError::FileMissing)?;
    if !real.is_file() {
        return Err(IngestError::FileMissing(path.into()));
    }
    let dir = real.parent().map(|d| d.display().to_string()).unwrap_or_default();
    let name = real.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    run(&dir, &name, vec![real], &allowed, &settings, options.as_json(&settings))
}

fn run(
    dir: &str,
    pattern: &str,
    files: Vec<PathBuf>,
    allowed: &[PathBuf],
    settings: &Settings,
    options_json: serde_json::Value,
) -> Result<Summary> {
    let started = Instant::now();
    let mut writer = Writer::open(&settings.target, &settings.time_zone)?;
    let run_id = catalog::start_run(dir, pattern, writer.target_name(), &options_json)?;
    let engine = Engine::new(gucs::THREADS.get() as usize).map_err(IngestError::from)?;
    let mut counts = FileCounts::default();
    let mut totals = Totals::default();
    let mut progress = Progress::new(files.len());

    for path in &files {
        check_for_interrupts!();
        counts.seen += 1;
        progress.next_file(path);
        let outcome = load_listed_file(run_id, path, allowed, settings, &engine, &mut writer, &mut progress)?;
        match outcome {
            FileOutcome::Loaded(t) => {
                counts.loaded += 1;
                totals += t;
            }
            FileOutcome::Skipped => counts.skipped += 1,
            FileOutcome::Failed(t) => {
                counts.failed += 1;
                totals += t;
            }
        }
    }

    let (status, error) = if counts.failed == 0 {
        ("succeeded", None)
    } else {
        ("failed", Some(format!("{} of {} files failed; see vs_ingest.file", counts.failed, counts.seen)))
    };
    catalog::finish_run(run_id, status, &counts, &totals, error.as_deref())?;
    Ok(Summary { run_id, files: counts, totals, seconds: started.elapsed().as_secs_f64() })
}

enum FileOutcome {
    Loaded(Totals),
    Skipped,
    Failed(Totals),
}

fn load_listed_file(
    run_id: i64,
    path: &Path,
    allowed: &[PathBuf],
    settings: &Settings,
    engine: &Engine,
    writer: &mut Writer,
    progress: &mut Progress,
) -> Result<FileOutcome> {
    let shown = path.display().to_string();
    let facts = access::resolve(&shown, allowed, IngestError::FileMissing).and_then(|real| file_facts(&real));
    let facts = match facts {
        Ok(facts) => facts,
        Err(e) => {
            // Refused or unreadable before it could be fingerprinted: record it, go on.
            e.warn();
            let facts = FileFacts { path: shown, size: 0, mtime: 0.0, fingerprint: String::new() };
            let file_id = catalog::add_file(run_id, &facts, "failed")?;
            catalog::finish_file(file_id, "failed", None, &Totals::default(), Some(&e.to_string()))?;
            return Ok(FileOutcome::Failed(Totals::default()));
        }
    };

    match catalog::prior(&facts, writer.target_name())? {
        Prior::Loaded => {
            catalog::add_file(run_id, &facts, "skipped")?;
            return Ok(FileOutcome::Skipped);
        }
        Prior::Changed if !settings.reload_changed => {
            notice!(
                "vs_ingest: \"{}\" changed since it was loaded; not loading it again (reload_changed => true would)",
                facts.path
            );
            let file_id = catalog::add_file(run_id, &facts, "changed")?;
            catalog::finish_file(file_id, "changed", None, &Totals::default(), None)?;
            return Ok(FileOutcome::Skipped);
        }
        _ => {}
    }

    let real = PathBuf::from(&facts.path);
    let container = Source::open(&real, u64::MAX).map(|s| s.container().name()).ok();
    let file_id = catalog::add_file(run_id, &facts, "loading")?;
    let mut state = FileState::default();
    let outcome = in_subtransaction(|| load_one(&real, settings, engine, writer, progress, &mut state));
    catalog::store_rejects(file_id, &state.rejects)?;
    match outcome {
        Ok(()) => {
            catalog::finish_file(file_id, "loaded", container, &state.totals, None)?;
            progress.file_done(&facts.path, &state.totals);
            Ok(FileOutcome::Loaded(state.totals))
        }
        // A bug, not a bad file: end the statement with an ERROR.
        Err(e @ IngestError::Engine(vs_ingest_engine::error::Error::Panic(_))) => Err(e),
        Err(e) => {
            e.warn();
            // Whatever was written is rolled back; what was read and rejected stays on record.
            let totals = Totals { rows_loaded: 0, rows_duplicate: 0, ..state.totals };
            catalog::finish_file(file_id, "failed", container, &totals, Some(&e.to_string()))?;
            Ok(FileOutcome::Failed(totals))
        }
    }
}

#[derive(Default)]
struct FileState {
    totals: Totals,
    rejects: Vec<EntryReject>,
}

fn load_one(
    path: &Path,
    settings: &Settings,
    engine: &Engine,
    writer: &mut Writer,
    progress: &mut Progress,
    state: &mut FileState,
) -> Result<()> {
    let mut options = pipeline::Options::new(settings.format);
    options.chunk_size = gucs::CHUNK_KB.get() as usize * 1024;
    options.max_entry_bytes = gucs::MAX_ENTRY_MB.get() as u64 * 1024 * 1024;
    let keep_rejects = gucs::MAX_REJECTS_STORED.get().max(0) as usize;
    let load = engine.load(path.to_owned(), options);
    loop {
        check_for_interrupts!();
        progress.maybe_report(load.input_bytes_read(), &state.totals);
        let event = match load.recv_timeout(Duration::from_millis(100)) {
            None => continue,
            Some(event) => event.map_err(IngestError::from)?,
        };
        match event {
            Event::Batch(batch) => {
                let written = writer.write(&batch.hours)?;
                let t = &mut state.totals;
                t.rows_read += batch.counts.lines.rows;
                t.rows_missing += batch.counts.lines.missing;
                t.rows_rejected += batch.counts.lines.rejected;
                t.bytes += batch.counts.bytes;
                t.rows_loaded += written.loaded;
                t.rows_duplicate += batch.counts.duplicate + written.duplicate;
                let room = keep_rejects.saturating_sub(state.rejects.len());
                state.rejects.extend(batch.rejects.into_iter().take(room));
            }
            Event::Done => break,
        }
    }
    let t = &state.totals;
    if t.rows_rejected as f64 > settings.max_reject_ratio * t.rows_read as f64 {
        return Err(IngestError::TooManyRejects {
            path: path.display().to_string(),
            rejected: t.rows_rejected,
            rows: t.rows_read,
            max_ratio: settings.max_reject_ratio,
        });
    }
    Ok(())
}

fn file_facts(path: &Path) -> Result<FileFacts> {
    let io = |e| IngestError::Engine(vs_ingest_engine::error::Error::Io { path: path.to_owned(), source: e });
    let meta = std::fs::metadata(path).map_err(io)?;
    let mtime = meta.modified().map_err(io)?.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let fp = source::fingerprint(path)?;
    Ok(FileFacts { path: path.display().to_string(), size: fp.size, mtime, fingerprint: fp.hash })
}

/// Progress NOTICEs: one every `vs_ingest.progress_interval` seconds during a file, one per file.
struct Progress {
    files: usize,
    index: usize,
    file_size: u64,
    file_started: Instant,
    last_report: Instant,
}

impl Progress {
    fn new(files: usize) -> Progress {
        let now = Instant::now();
        Progress { files, index: 0, file_size: 0, file_started: now, last_report: now }
    }

    fn next_file(&mut self, path: &Path) {
        self.index += 1;
        self.file_size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        self.file_started = Instant::now();
        self.last_report = self.file_started;
    }

    fn maybe_report(&mut self, input_read: u64, totals: &Totals) {
        let interval = gucs::PROGRESS_INTERVAL.get();
        if interval <= 0 || self.last_report.elapsed() < Duration::from_secs(interval as u64) {
            return;
        }
        self.last_report = Instant::now();
        let elapsed = self.file_started.elapsed().as_secs_f64();
        let fraction = if self.file_size > 0 { (input_read as f64 / self.file_size as f64).min(1.0) } else { 0.0 };
        let eta = if fraction > 0.0 { elapsed * (1.0 - fraction) / fraction } else { f64::NAN };
        notice!(
            "vs_ingest: file {}/{}: {:.1}% read, {} rows, {:.1} MB/s, ETA {}",
            self.index,
            self.files,
            fraction * 100.0,
            totals.rows_read,
            totals.bytes as f64 / 1e6 / elapsed.max(1e-9),
            if eta.is_finite() { format!("{eta:.0} s") } else { "unknown".into() }
        );
    }

    fn file_done(&self, path: &str, totals: &Totals) {
        notice!(
            "vs_ingest: file {}/{} loaded: {} ({} rows, {} loaded, {} duplicate, {} missing, {} rejected) in {:.1} s",
            self.index,
            self.files,
            path,
            totals.rows_read,
            totals.rows_loaded,
            totals.rows_duplicate,
            totals.rows_missing,
            totals.rows_rejected,
            self.file_started.elapsed().as_secs_f64()
        );
    }
}
