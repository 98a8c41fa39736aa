//! `vs-ingest-gen`: writes realistic ITS 5-minute daily files (see the `vs_ingest_gen` library).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use vs_ingest_engine::calendar::Date;
use vs_ingest_gen::{self as gen, Container, GenConfig, Quirks, SpeedModel, Variant, NATIONAL_LINKS};

#[derive(Parser, Debug)]
#[command(name = "vs-ingest-gen", version, about = "Generate realistic Korean ITS 5-minute speed files")]
struct Args {
    /// Directory to write the files and manifest.json into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Links reporting per interval [default: 20000].
    #[arg(long, conflicts_with = "national")]
    links: Option<u32>,
    /// National scale: 449000 links (~129 M rows, ~4 GB of CSV per day).
    #[arg(long)]
    national: bool,
    /// Number of consecutive days (one file each).
    #[arg(long, default_value_t = 1)]
    days: u32,
    /// First day, YYYY-MM-DD or YYYYMMDD [default: 2023-07-01].
    #[arg(long, value_parser = parse_start)]
    start: Option<Date>,
    /// 2023: no header, LF; 2025: BOM + English header, CRLF.
    #[arg(long, default_value = "2023")]
    variant: Variant,
    /// zip, gz, zst or csv.
    #[arg(long, default_value = "zip")]
    container: Container,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Compression level: deflate 1-9, zstd 1-19 (1 is fastest).
    #[arg(long, default_value_t = 6)]
    level: u32,
    /// Also write the uncompressed CSV as {YYYYMMDD}_5Min.plain.csv.
    #[arg(long)]
    plain_copy: bool,
    /// No quirks at all: every row valid, sorted, padded.
    #[arg(long)]
    clean: bool,
    /// Speeds and travel times like the real files: each link's speed drifts slowly (its base
    /// speed, a smooth time-of-day profile and a small random walk, in 0.5 km/h steps) instead of
    /// independent noise per sample, and travel time is reported by ~1% of the links only, so
    /// ~99% of rows carry 0.
    #[arg(long)]
    real_like: bool,
}

fn parse_start(text: &str) -> Result<Date, String> {
    gen::parse_date(text).ok_or_else(|| format!("invalid date {text:?}, expected YYYY-MM-DD"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vs-ingest-gen: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> std::io::Result<()> {
    let defaults = GenConfig::default();
    let cfg = GenConfig {
        links: if args.national { NATIONAL_LINKS } else { args.links.unwrap_or(defaults.links) },
        start: args.start.unwrap_or(defaults.start),
        days: args.days,
        variant: args.variant,
        container: args.container,
        seed: args.seed,
        plain_copy: args.plain_copy,
        compression_level: args.level,
        quirks: if args.clean { Quirks::none() } else { Quirks::default() },
    };
    std::fs::create_dir_all(&args.out)?;
    let mut manifests = Vec::new();
    let first = cfg.start.days_since_epoch();
    for offset in 0..i64::from(cfg.days) {
        let started = Instant::now();
        let model = if args.real_like { SpeedModel::RealLike } else { SpeedModel::Noise };
        let manifest = gen::generate_day_with(&cfg, model, Date::from_days_since_epoch(first + offset), &args.out)?;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{}\t{} rows\t{} bytes\t{:.2} s\t({} bytes of CSV, {:.0} MB/s)",
            manifest.path.display(),
            manifest.data_rows,
            manifest.compressed_bytes,
            seconds,
            manifest.uncompressed_bytes,
            manifest.uncompressed_bytes as f64 / 1e6 / seconds.max(1e-9),
        );
        manifests.push(manifest);
    }
    let mut file = BufWriter::new(File::create(args.out.join("manifest.json"))?);
    serde_json::to_writer_pretty(&mut file, &manifests)?;
    file.write_all(b"\n")?;
    file.flush()
}
