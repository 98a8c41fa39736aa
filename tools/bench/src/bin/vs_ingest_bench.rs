//! Engine-only timings of one input file, without a database: how long decompressing alone takes
//! (the floor), and how long the whole engine (decompress, parse, aggregate into hours) takes.
//!
//!   vs-ingest-bench FILE [RUNS] [--json] [--decompress-only]
//!
//! `--json` prints one JSON object (every run's seconds and the medians) instead of the two
//! lines of text, for `scripts/bench.sh`. `--decompress-only` skips the engine runs. The inflate
//! library is the engine's (ISA-L by default; built with `--no-default-features`, zlib-rs).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vs_ingest_engine::error::Error;
use vs_ingest_engine::format;
use vs_ingest_engine::pipeline::{Engine, Event, Options};
use vs_ingest_engine::source::Source;

fn decompress(path: &Path) -> Result<u64, Error> {
    let source = Source::open(path, u64::MAX)?;
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    source.for_each_entry(|entry| loop {
        let n = entry.reader.read(&mut buf).map_err(|e| Error::Io { path: path.to_owned(), source: e })?;
        if n == 0 {
            return Ok(());
        }
        total += n as u64;
    })?;
    Ok(total)
}

fn engine(path: &Path, engine: &Engine) -> Result<(u64, u64), Error> {
    let mut options = Options::new(format::lookup("its_5min").expect("its_5min exists"));
    options.checkpoint_every_hours = vs_ingest_engine::block::BLOCK_HOURS as u32;
    // What a load of a target with rollups asks for: finished blocks, encoded, with their sums.
    options.hand_over = vs_ingest_engine::pipeline::HandOver::BlocksWithSums;
    let load = engine.load(path.to_owned(), options);
    let (mut rows, mut hourly) = (0u64, 0u64);
    loop {
        match load.recv_timeout(Duration::from_secs(60)) {
            Some(Ok(Event::Batch(batch))) => {
                rows += batch.counts.lines.rows;
                hourly += batch.blocks.iter().flat_map(|b| &b.hours).map(|(_, c)| u64::from(c.links)).sum::<u64>();
            }
            Some(Ok(Event::Done)) => return Ok((rows, hourly)),
            Some(Err(e)) => return Err(e),
            None => panic!("the engine stalled for a minute"),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const USAGE: &str = "usage: vs-ingest-bench FILE [RUNS] [--json] [--decompress-only]";
    let (flags, positional): (Vec<String>, Vec<String>) = std::env::args().skip(1).partition(|a| a.starts_with("--"));
    if flags.iter().any(|f| f != "--json" && f != "--decompress-only") {
        return Err(USAGE.into());
    }
    let json = flags.iter().any(|f| f == "--json");
    let decompress_only = flags.iter().any(|f| f == "--decompress-only");
    let backend = vs_ingest_engine::source::INFLATE_BACKEND;
    let mut args = positional.into_iter();
    let path = PathBuf::from(args.next().ok_or(USAGE)?);
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(3).max(1);
    let pool = Engine::new(0)?;

    let mut decompress_times = Vec::new();
    let mut bytes = 0;
    for _ in 0..runs {
        let start = Instant::now();
        bytes = decompress(&path)?;
        decompress_times.push(start.elapsed().as_secs_f64());
    }
    let floor = median(decompress_times.clone());
    if !json {
        println!(
            "decompress only ({backend}): {floor:.2} s median of {runs} ({:.0} MB/s of CSV)",
            bytes as f64 / 1e6 / floor
        );
    }
    let runs_engine = if decompress_only { 0 } else { runs };

    let mut engine_times = Vec::new();
    let mut counts = (0, 0);
    for _ in 0..runs_engine {
        let start = Instant::now();
        counts = engine(&path, &pool)?;
        engine_times.push(start.elapsed().as_secs_f64());
    }
    let whole = if decompress_only { f64::NAN } else { median(engine_times.clone()) };
    if json {
        let report = serde_json::json!({
            "file": path,
            "runs": runs,
            "csv_bytes": bytes,
            "inflate_backend": backend,
            "decompress_seconds": floor,
            "decompress_runs": decompress_times,
            "engine_threads": pool.threads(),
            "engine_seconds": if decompress_only { None } else { Some(whole) },
            "engine_runs": engine_times,
            "rows": counts.0,
            "hourly_rows": counts.1,
        });
        println!("{report}");
        return Ok(());
    }
    if decompress_only {
        return Ok(());
    }
    println!(
        "engine ({} threads): {whole:.2} s median of {runs} ({:.1} M rows/s, {} hourly rows), {:.2}x decompress only",
        pool.threads(),
        counts.0 as f64 / 1e6 / whole,
        counts.1,
        whole / floor
    );
    Ok(())
}
