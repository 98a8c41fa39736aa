//! Engine-only timings of one input file, without a database: how long decompressing alone takes
//! (the floor), and how long the whole engine (decompress, parse, aggregate into hours) takes.
//!
//!   vs-ingest-bench FILE [RUNS]

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
    options.checkpoint_at_hours = true;
    let load = engine.load(path.to_owned(), options);
    let (mut rows, mut hourly) = (0u64, 0u64);
    loop {
        match load.recv_timeout(Duration::from_secs(60)) {
            Some(Ok(Event::Batch(batch))) => {
                rows += batch.counts.lines.rows;
                hourly += batch.hours.iter().map(|h| h.rows.len() as u64).sum::<u64>();
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
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().ok_or("usage: vs-ingest-bench FILE [RUNS]")?);
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(3);
    let pool = Engine::new(0)?;

    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..runs {
        let start = Instant::now();
        bytes = decompress(&path)?;
        times.push(start.elapsed().as_secs_f64());
    }
    let floor = median(times);
    println!("decompress only: {floor:.2} s median of {runs} ({:.0} MB/s of CSV)", bytes as f64 / 1e6 / floor);

    let mut times = Vec::new();
    let mut counts = (0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        counts = engine(&path, &pool)?;
        times.push(start.elapsed().as_secs_f64());
    }
    let whole = median(times);
    println!(
        "engine ({} threads): {whole:.2} s median of {runs} ({:.1} M rows/s, {} hourly rows), {:.2}x decompress only",
        pool.threads(),
        counts.0 as f64 / 1e6 / whole,
        counts.1,
        whole / floor
    );
    Ok(())
}
