//! `vs-ingest-report`: the measuring and reporting half of `scripts/bench.sh`.
//!
//!   vs-ingest-report watch --postmaster PID --while-pid PID [--backend-pid-file F] [--prefix P]
//!       Samples /proc every 100 ms while process `--while-pid` lives: the postmaster's vs_ingest
//!       background workers and the calling backend. Prints their peak memory as `key<TAB>value`.
//!   vs-ingest-report workers --postmaster PID [--timeout-seconds S]
//!       Waits for the vs_ingest workers of a load to start and prints their pids.
//!   vs-ingest-report summary RAW.tsv --json OUT.json
//!       Turns the raw measurements the script collected into medians, ratios and verdicts on the
//!       targets of issues 4 and 11: prints a table and writes the results as JSON.
//!   vs-ingest-report chart RESULTS.json --svg OUT.svg
//!       Draws the wall times of the JSON as a bar chart.
//!
//! Linux only (it reads /proc). Dependencies: clap, serde_json, and plotters (its SVG backend
//! only) for the chart.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(name = "vs-ingest-report", about = "Measure and report vs_ingest benchmarks (see scripts/bench.sh)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Peak memory of the loading processes while a load runs.
    Watch {
        /// The postmaster's pid: its children running vs_ingest workers are watched.
        #[arg(long)]
        postmaster: u32,
        /// Watch until this process (the client running the load) exits.
        #[arg(long)]
        while_pid: u32,
        /// A file where the calling backend's pid appears (written by the client).
        #[arg(long)]
        backend_pid_file: Option<PathBuf>,
        /// Prefix of the printed keys.
        #[arg(long, default_value = "ours")]
        prefix: String,
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
    },
    /// Print the pids of the postmaster's vs_ingest workers, once there is one.
    Workers {
        #[arg(long)]
        postmaster: u32,
        #[arg(long, default_value_t = 60)]
        timeout_seconds: u64,
    },
    /// Medians, ratios and targets from the raw measurements: a table and a JSON file.
    Summary {
        raw: PathBuf,
        #[arg(long)]
        json: PathBuf,
    },
    /// An SVG bar chart of the results JSON.
    Chart {
        results: PathBuf,
        #[arg(long)]
        svg: PathBuf,
    },
}

fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Watch { postmaster, while_pid, backend_pid_file, prefix, interval_ms } => {
            watch(postmaster, while_pid, backend_pid_file.as_deref(), &prefix, interval_ms);
            Ok(())
        }
        Command::Workers { postmaster, timeout_seconds } => workers(postmaster, timeout_seconds),
        Command::Summary { raw, json } => summary(&raw, &json),
        Command::Chart { results, svg } => chart(&results, &svg),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vs-ingest-report: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

// ---------------------------------------------------------------------------------------------
// /proc sampling

/// A process's parent and state from /proc/PID/stat (the command name may hold spaces and
/// parentheses, so the fields are read after its last ')').
fn parent_and_state(pid: u32) -> Option<(u32, char)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// Running, not a zombie: a client that exited but is not reaped yet counts as gone.
fn alive(pid: u32) -> bool {
    parent_and_state(pid).is_some_and(|(_, state)| state != 'Z' && state != 'X')
}

/// The postmaster's children whose process title says they are vs_ingest workers
/// ("postgres: vs_ingest leader", "postgres: vs_ingest helper").
fn vs_ingest_workers(postmaster: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| parent_and_state(pid).is_some_and(|(ppid, state)| ppid == postmaster && state != 'Z'))
        .filter(|&pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|title| title.starts_with(b"postgres: vs_ingest ") || title.starts_with(b"vs_ingest "))
        })
        .collect();
    pids.sort_unstable();
    pids
}

#[derive(Clone, Debug, Default)]
struct Memory {
    rss_anon_kib: u64,
    rss_shmem_kib: u64,
    vm_rss_kib: u64,
    vm_hwm_kib: u64,
    threads: u64,
    cpus: String,
}

fn memory(pid: u32) -> Option<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut m = Memory::default();
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        let kib = || value.trim_end_matches("kB").trim().parse::<u64>().unwrap_or(0);
        match key {
            "RssAnon" => m.rss_anon_kib = kib(),
            "RssShmem" => m.rss_shmem_kib = kib(),
            "VmRSS" => m.vm_rss_kib = kib(),
            "VmHWM" => m.vm_hwm_kib = kib(),
            "Threads" => m.threads = value.parse().unwrap_or(0),
            "Cpus_allowed_list" => m.cpus = value.to_string(),
            _ => {}
        }
    }
    Some(m)
}

#[derive(Default)]
struct Peak {
    rss_anon_kib: u64,
    rss_shmem_kib: u64,
    vm_rss_kib: u64,
    vm_hwm_kib: u64,
    threads: u64,
    cpus: String,
}

impl Peak {
    fn add(&mut self, m: &Memory) {
        self.rss_anon_kib = self.rss_anon_kib.max(m.rss_anon_kib);
        self.rss_shmem_kib = self.rss_shmem_kib.max(m.rss_shmem_kib);
        self.vm_rss_kib = self.vm_rss_kib.max(m.vm_rss_kib);
        self.vm_hwm_kib = self.vm_hwm_kib.max(m.vm_hwm_kib);
        self.threads = self.threads.max(m.threads);
        if !m.cpus.is_empty() {
            self.cpus.clone_from(&m.cpus);
        }
    }
}

fn watch(postmaster: u32, while_pid: u32, backend_pid_file: Option<&Path>, prefix: &str, interval_ms: u64) {
    let mut backend: Option<u32> = None;
    let mut workers_seen = std::collections::BTreeSet::new();
    let (mut worker_peak, mut backend_peak) = (Peak::default(), Peak::default());
    let mut samples = 0u64;
    loop {
        // Checked before sampling, so the last sample is taken after the load finished.
        let last = !alive(while_pid);
        if backend.is_none() {
            backend = backend_pid_file.and_then(|f| fs::read_to_string(f).ok()).and_then(|s| s.trim().parse().ok());
        }
        for pid in vs_ingest_workers(postmaster) {
            if let Some(m) = memory(pid) {
                workers_seen.insert(pid);
                worker_peak.add(&m);
            }
        }
        if let Some(m) = backend.and_then(memory) {
            backend_peak.add(&m);
        }
        samples += 1;
        if last {
            break;
        }
        std::thread::sleep(Duration::from_millis(interval_ms));
    }
    let both = |f: fn(&Peak) -> u64| f(&worker_peak).max(f(&backend_peak));
    println!("{prefix}.rss_anon_kib\t{}", both(|p| p.rss_anon_kib));
    println!("{prefix}.rss_shmem_kib\t{}", both(|p| p.rss_shmem_kib));
    println!("{prefix}.vm_rss_kib\t{}", both(|p| p.vm_rss_kib));
    println!("{prefix}.vm_hwm_kib\t{}", both(|p| p.vm_hwm_kib));
    println!("{prefix}.worker_rss_anon_kib\t{}", worker_peak.rss_anon_kib);
    println!("{prefix}.worker_vm_hwm_kib\t{}", worker_peak.vm_hwm_kib);
    println!("{prefix}.backend_rss_anon_kib\t{}", backend_peak.rss_anon_kib);
    println!("{prefix}.backend_vm_hwm_kib\t{}", backend_peak.vm_hwm_kib);
    println!("{prefix}.workers\t{}", workers_seen.len());
    println!("{prefix}.worker_threads\t{}", worker_peak.threads);
    println!("{prefix}.worker_cpus\t{}", if worker_peak.cpus.is_empty() { "?" } else { &worker_peak.cpus });
    println!("{prefix}.rss_samples\t{samples}");
}

fn workers(postmaster: u32, timeout_seconds: u64) -> Result<()> {
    let started = Instant::now();
    loop {
        let pids = vs_ingest_workers(postmaster);
        if !pids.is_empty() {
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            println!("{}", pids.join(" "));
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(timeout_seconds) {
            return Err(format!("no vs_ingest worker of postmaster {postmaster} in {timeout_seconds} s").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// Raw measurements

/// The script's raw measurements: `key<TAB>value` lines, in order; a key measured once per run
/// appears once per run.
struct Raw {
    lines: Vec<(String, String)>,
}

impl Raw {
    fn read(path: &Path) -> Result<Raw> {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let lines = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (k, v) = l.split_once('\t').unwrap_or((l, ""));
                (k.trim().to_string(), v.trim().to_string())
            })
            .collect();
        Ok(Raw { lines })
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.lines.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.all(key).last().copied()
    }

    fn numbers(&self, key: &str) -> Vec<f64> {
        self.all(key).iter().filter_map(|v| v.parse().ok()).collect()
    }

    fn number(&self, key: &str) -> Option<f64> {
        self.numbers(key).last().copied()
    }

    /// `prefix.*` keys, in first-seen order, each with its last value.
    fn section(&self, prefix: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in &self.lines {
            if let Some(name) = k.strip_prefix(prefix) {
                match out.iter_mut().find(|(n, _)| n == name) {
                    Some(entry) => entry.1.clone_from(v),
                    None => out.push((name.to_string(), v.clone())),
                }
            }
        }
        out
    }
}

/// The index of the median run: the middle one, or the slower of the two middle ones (so an
/// even number of runs never reports a time that no run took).
fn median_index(values: &[f64]) -> Option<usize> {
    if values.is_empty() {
        return None;
    }
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    Some(order[values.len() / 2])
}

fn median(values: &[f64]) -> Option<f64> {
    median_index(values).map(|i| values[i])
}

/// `{"median": m, "runs": [...]}`, or null when not measured.
fn runs_json(values: &[f64]) -> Value {
    match median(values) {
        Some(m) => json!({"median": m, "runs": values}),
        None => Value::Null,
    }
}

fn at(values: &[f64], i: Option<usize>) -> Option<f64> {
    i.and_then(|i| values.get(i).copied())
}

// ---------------------------------------------------------------------------------------------
// Summary

const GIB_KIB: f64 = 1024.0 * 1024.0;

struct Target {
    id: &'static str,
    what: String,
    goal: &'static str,
    measured: Option<f64>,
    shown: String,
    met: Option<bool>,
    note: String,
}

fn summary(raw_path: &Path, json_path: &Path) -> Result<()> {
    let raw = Raw::read(raw_path)?;
    let scale = raw.text("meta.scale").unwrap_or("?").to_string();
    let engine: Value = raw.text("engine.json").map(serde_json::from_str).transpose()?.unwrap_or(Value::Null);
    let decompress = engine["decompress_seconds"].as_f64();
    let engine_seconds = engine["engine_seconds"].as_f64();

    let compressed = raw.number("input.compressed_bytes");
    let csv_bytes = raw.number("input.csv_bytes");

    // vs_ingest_dir, 2 cores: the stages are those of the median run, so they add up.
    let wall = raw.numbers("ours.wall");
    let mid = median_index(&wall);
    let ours_wall = at(&wall, mid);
    let stage = |k: &str| at(&raw.numbers(&format!("ours.{k}")), mid);
    let (wait, write, commit) = (stage("wait"), stage("write"), stage("commit"));
    let other = match (ours_wall, wait, write, commit) {
        (Some(w), Some(a), Some(b), Some(c)) => Some((w - a - b - c).max(0.0)),
        _ => None,
    };
    let rows_read = raw.number("ours.rows_read");
    let ours_csv = raw.number("ours.csv_bytes").or(csv_bytes);
    let per_s = |n: Option<f64>| match (n, ours_wall) {
        (Some(n), Some(w)) if w > 0.0 => Some(n / w),
        _ => None,
    };
    // Peak memory: the highest over every run and every loading process.
    let max_of = |k: &str| raw.numbers(k).into_iter().reduce(f64::max);
    let (rss_anon, vm_hwm, vm_rss) =
        (max_of("ours.rss_anon_kib"), max_of("ours.vm_hwm_kib"), max_of("ours.vm_rss_kib"));

    let one_wall = raw.numbers("one_core.wall");
    let one_mid = median_index(&one_wall);
    let one = at(&one_wall, one_mid);
    let one_stage = |k: &str| at(&raw.numbers(&format!("one_core.{k}")), one_mid);

    let native_copy = raw.numbers("native.copy");
    let native_insert = raw.numbers("native.insert");
    let native_total: Vec<f64> = native_copy.iter().zip(&native_insert).map(|(a, b)| a + b).collect();
    let native_mid = median_index(&native_total);
    let native = at(&native_total, native_mid);

    let binary = raw.numbers("binary.seconds");
    let binary_median = median(&binary);
    let unzip = raw.numbers("unzip.seconds");
    let libdeflate_runs = raw.numbers("libdeflate.seconds");
    let libdeflate = median(&libdeflate_runs);
    let igzip_runs = raw.numbers("igzip.seconds");
    let igzip = median(&igzip_runs);
    // The engine names its inflate library (older runs did not: they were zlib-rs).
    let backend = engine["inflate_backend"].as_str().unwrap_or("zlib-rs").to_string();
    let duckdb_runs = raw.numbers("duckdb.seconds");
    let duckdb = median(&duckdb_runs);

    // Targets of issue 4.
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let national = scale == "national";
    let mut targets = vec![
        Target {
            id: "national_day_seconds",
            what: "national day loaded and committed (wall)".into(),
            goal: "<= 30 s",
            measured: ours_wall,
            shown: fmt_opt(ours_wall, |v| format!("{} s", fmt_s(v))),
            met: if national { ours_wall.map(|w| w <= 30.0) } else { None },
            note: if national { String::new() } else { "judged on the national file only".into() },
        },
        Target {
            id: "decompress_ratio",
            what: "wall time / decompress-only time".into(),
            goal: "<= 1.5x",
            measured: ratio(ours_wall, decompress),
            shown: fmt_opt(ratio(ours_wall, decompress), |v| format!("{:.2}x", round_up(v, 100.0))),
            met: ratio(ours_wall, decompress).map(|r| r <= 1.5),
            note: String::new(),
        },
        Target {
            id: "native_speedup",
            what: "speed-up over native COPY + INSERT ... GROUP BY".into(),
            goal: ">= 10x",
            measured: ratio(native, ours_wall),
            shown: fmt_opt(ratio(native, ours_wall), |v| format!("{:.1}x", round_down(v, 10.0))),
            met: ratio(native, ours_wall).map(|r| r >= 10.0),
            note: raw.text("skipped.native").unwrap_or_default().to_string(),
        },
        Target {
            id: "write_vs_binary_copy",
            what: "write stage speed / binary COPY speed".into(),
            goal: ">= 0.9x",
            measured: ratio(binary_median, write),
            shown: fmt_opt(ratio(binary_median, write), |v| format!("{:.2}x", round_down(v, 100.0))),
            met: ratio(binary_median, write).map(|r| r >= 0.9),
            note: raw.text("skipped.binary").unwrap_or_default().to_string(),
        },
        Target {
            id: "peak_memory",
            what: "peak memory per loading process (RssAnon)".into(),
            goal: "<= 1 GiB",
            measured: rss_anon.map(|k| k * 1024.0),
            shown: fmt_opt(rss_anon, |k| fmt_bytes(k * 1024.0)),
            met: rss_anon.map(|k| k <= GIB_KIB),
            note: fmt_opt(vm_hwm, |k| {
                format!("VmHWM {} (counts shared_buffers pages it touched)", fmt_bytes(k * 1024.0))
            }),
        },
        Target {
            id: "two_core_speedup",
            what: "2 cores vs 1 core (wall time ratio)".into(),
            goal: ">= 1.8x",
            measured: ratio(one, ours_wall),
            shown: fmt_opt(ratio(one, ours_wall), |v| format!("{:.2}x", round_down(v, 100.0))),
            met: ratio(one, ours_wall).map(|r| r >= 1.8),
            note: raw.text("skipped.one_core").unwrap_or_default().to_string(),
        },
    ];

    // Targets of issue 11, on the same run: the inflate floor is libdeflate's, and the load is
    // compared with DuckDB and, harder than issue 4, with the native way.
    let load_vs_libdeflate = ratio(ours_wall, libdeflate);
    let duckdb_vs_load = ratio(duckdb, ours_wall);
    let native_vs_load = ratio(native, ours_wall);
    let mut targets_11 = vec![
        Target {
            id: "national_day_seconds",
            what: "national day loaded and committed, 2 cores".into(),
            goal: "<= 10 s",
            measured: ours_wall,
            shown: fmt_opt(ours_wall, |v| format!("{} s", fmt_s(v))),
            met: if national { ours_wall.map(|w| w <= 10.0) } else { None },
            note: if national { String::new() } else { "judged on the national file only".into() },
        },
        Target {
            id: "libdeflate_ratio",
            what: "wall time / libdeflate-gunzip time (inflate floor)".into(),
            goal: "<= 2.5x",
            measured: load_vs_libdeflate,
            shown: fmt_opt(load_vs_libdeflate, |v| format!("{:.2}x", round_up(v, 100.0))),
            met: load_vs_libdeflate.map(|r| r <= 2.5),
            note: String::new(),
        },
        Target {
            id: "duckdb_speedup",
            what: format!(
                "speed-up over DuckDB ({} threads, .csv.gz -> Parquet)",
                raw.text("duckdb.threads").unwrap_or("2")
            ),
            goal: ">= 2.5x",
            measured: duckdb_vs_load,
            shown: fmt_opt(duckdb_vs_load, |v| format!("{:.2}x", round_down(v, 100.0))),
            met: duckdb_vs_load.map(|r| r >= 2.5),
            note: raw.text("skipped.duckdb").unwrap_or_default().to_string(),
        },
        Target {
            id: "native_speedup",
            what: "speed-up over native COPY + INSERT ... GROUP BY".into(),
            goal: ">= 15x",
            measured: native_vs_load,
            shown: fmt_opt(native_vs_load, |v| format!("{:.1}x", round_down(v, 10.0))),
            met: native_vs_load.map(|r| r >= 15.0),
            note: raw.text("skipped.native").unwrap_or_default().to_string(),
        },
        Target {
            id: "peak_memory",
            what: "peak memory per loading process (RssAnon)".into(),
            goal: "<= 1 GiB",
            measured: rss_anon.map(|k| k * 1024.0),
            shown: fmt_opt(rss_anon, |k| fmt_bytes(k * 1024.0)),
            met: rss_anon.map(|k| k <= GIB_KIB),
            note: String::new(),
        },
    ];
    for t in targets.iter_mut().chain(targets_11.iter_mut()) {
        if t.measured.is_none() && t.note.is_empty() {
            t.note = "not measured".into();
        }
    }

    // Which stage holds the load back: the biggest share of the median run's wall time.
    let stages = [
        ("wait", "waiting for the engine (decompress, parse, aggregate)", wait),
        ("write", "writing hours (binary COPY into the partitioned table)", write),
        ("commit", "committing chunks", commit),
        ("other", "outside chunks (start-up, fingerprint, catalog)", other),
    ];
    let bottleneck =
        stages.iter().filter_map(|&(id, label, s)| s.map(|s| (id, label, s))).max_by(|a, b| a.2.total_cmp(&b.2));

    let settings: serde_json::Map<String, Value> =
        raw.section("setting.").into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let machine = json!({
        "nproc": raw.number("machine.nproc"),
        "ram_bytes": raw.number("machine.ram_kib").map(|k| k * 1024.0),
        "cpu": raw.text("machine.cpu"),
        "kernel": raw.text("machine.kernel"),
        "os": raw.text("machine.os"),
        "postgres": raw.text("machine.postgres"),
        "rustc": raw.text("machine.rustc"),
    });
    let results = json!({
        "benchmark": "vs_ingest, issues 4 and 11",
        "scale": scale,
        "runs": raw.number("meta.runs"),
        "date": raw.text("meta.date"),
        "git_commit": raw.text("meta.git_commit"),
        "git_dirty": raw.text("meta.git_dirty") == Some("true"),
        "machine": machine,
        "settings": settings,
        "input": {
            "file": raw.text("input.file"),
            "generator": raw.text("input.generator"),
            "links": raw.number("input.links"),
            "csv_rows": raw.number("input.rows"),
            "csv_bytes": csv_bytes,
            "compressed_bytes": compressed,
            "gz_file": raw.text("input.gz_file"),
            "gz_bytes": raw.number("input.gz_bytes"),
        },
        "decompress_only": {
            "seconds": decompress,
            "runs": engine["decompress_runs"],
            "csv_mb_per_s": ratio(csv_bytes.map(|b| b / 1e6), decompress),
            "tool": format!("vs-ingest-bench ({backend}, one thread)"),
            "inflate_backend": backend,
        },
        "unzip_p": {"seconds": runs_json(&unzip), "tool": "unzip -p FILE > /dev/null (Info-ZIP)"},
        "libdeflate_gunzip": if libdeflate.is_some() { json!({
            "seconds": runs_json(&libdeflate_runs),
            "csv_mb_per_s": ratio(csv_bytes.map(|b| b / 1e6), libdeflate),
            "tool": "libdeflate-gunzip -c FILE.csv.gz > /dev/null (one thread; the inflate floor of issue 11)",
            "version": raw.text("libdeflate.version"),
        }) } else { Value::Null },
        "igzip": if igzip.is_some() { json!({
            "seconds": runs_json(&igzip_runs),
            "csv_mb_per_s": ratio(csv_bytes.map(|b| b / 1e6), igzip),
            "tool": "igzip -d -c FILE.csv.gz > /dev/null (ISA-L, one thread)",
            "version": raw.text("igzip.version"),
        }) } else { Value::Null },
        "duckdb": if duckdb.is_some() { json!({
            "seconds": runs_json(&duckdb_runs),
            "process_seconds": runs_json(&raw.numbers("duckdb.process_seconds")),
            "threads": raw.number("duckdb.threads"),
            "hourly_rows": raw.number("duckdb.hourly_rows"),
            "parquet_bytes": raw.number("duckdb.parquet_bytes"),
            "version": raw.text("duckdb.version"),
            "method": raw.text("duckdb.method"),
            "what": "read the .csv.gz, keep well-formed rows of the day, first sample of each (link, time) wins, one row per link and local hour (12 slot speeds and travel times, samples, avg/min/max speed), COPY TO Parquet; seconds from connecting to the file closed",
        }) } else { Value::Null },
        "ratios": {
            "load_vs_libdeflate": load_vs_libdeflate,
            "duckdb_vs_load": duckdb_vs_load,
            "native_vs_load": native_vs_load,
        },
        "engine_only": {
            "seconds": engine_seconds,
            "runs": engine["engine_runs"],
            "threads": engine["engine_threads"],
            "hourly_rows": engine["hourly_rows"],
            "rows_per_s": ratio(engine["rows"].as_f64(), engine_seconds),
        },
        "vs_ingest_dir": {
            "wall_seconds": runs_json(&wall),
            "median_run": mid.map(|i| i + 1),
            "rows_read": rows_read,
            "rows_loaded": raw.number("ours.rows_loaded"),
            "hourly_rows": raw.number("ours.hourly_rows"),
            "chunks": raw.number("ours.chunks"),
            "rows_per_s": per_s(rows_read),
            "csv_mb_per_s": per_s(ours_csv.map(|b| b / 1e6)),
            "file_mb_per_s": per_s(compressed.map(|b| b / 1e6)),
            "stages_of_median_run": {
                "wait_seconds": wait,
                "write_seconds": write,
                "commit_seconds": commit,
                "other_seconds": other,
            },
            "stages_all_runs": {
                "wait_seconds": raw.numbers("ours.wait"),
                "write_seconds": raw.numbers("ours.write"),
                "commit_seconds": raw.numbers("ours.commit"),
            },
            "peak_rss_anon_bytes": rss_anon.map(|k| k * 1024.0),
            "peak_vm_rss_bytes": vm_rss.map(|k| k * 1024.0),
            "peak_vm_hwm_bytes": vm_hwm.map(|k| k * 1024.0),
            "peak_worker_rss_anon_bytes": max_of("ours.worker_rss_anon_kib").map(|k| k * 1024.0),
            "peak_backend_rss_anon_bytes": max_of("ours.backend_rss_anon_kib").map(|k| k * 1024.0),
            "workers": max_of("ours.workers"),
            "worker_threads": max_of("ours.worker_threads"),
            "worker_cpus": raw.text("ours.worker_cpus"),
        },
        "vs_ingest_dir_one_core": if one.is_some() { json!({
            "wall_seconds": runs_json(&one_wall),
            "stages_of_median_run": {
                "wait_seconds": one_stage("wait"),
                "write_seconds": one_stage("write"),
                "commit_seconds": one_stage("commit"),
            },
            "worker_cpus": raw.text("one_core.worker_cpus"),
            "settings": "server started under taskset -c 0; vs_ingest.threads = 1, vs_ingest.max_workers = 1",
        }) } else { Value::Null },
        "native": if native.is_some() { json!({
            "total_seconds": runs_json(&native_total),
            "copy_seconds": runs_json(&native_copy),
            "insert_select_seconds": runs_json(&native_insert),
            "copy_seconds_of_median_run": at(&native_copy, native_mid),
            "insert_select_seconds_of_median_run": at(&native_insert, native_mid),
            "staging_rows": raw.number("native.staging_rows"),
            "hourly_rows": raw.number("native.hourly_rows"),
            "method": raw.text("native.method"),
        }) } else { Value::Null },
        "binary_copy": if binary_median.is_some() { json!({
            "seconds": runs_json(&binary),
            "rows": raw.number("binary.rows"),
            "bytes": raw.number("binary.bytes"),
            "method": "psql \\copy ... FROM 'file' WITH (FORMAT binary), i.e. COPY FROM STDIN, into an empty table made by vs_ingest.ensure_hourly_table",
        }) } else { Value::Null },
        "bottleneck": bottleneck.map(|(id, label, s)| json!({
            "stage": id, "label": label, "seconds": s, "share_of_wall": ours_wall.map(|w| s / w),
        })),
        "targets": targets.iter().map(|t| json!({
            "id": t.id, "what": t.what, "goal": t.goal, "measured": t.measured, "met": t.met, "note": t.note,
        })).collect::<Vec<_>>(),
        "targets_issue_11": targets_11.iter().map(|t| json!({
            "id": t.id, "what": t.what, "goal": t.goal, "measured": t.measured, "met": t.met, "note": t.note,
        })).collect::<Vec<_>>(),
        "profile": raw.text("profile.file"),
    });
    if let Some(dir) = json_path.parent() {
        fs::create_dir_all(dir)?;
    }
    let results = integral(results);
    fs::write(json_path, serde_json::to_string_pretty(&results)? + "\n")?;

    // The table.
    let runs = raw.text("meta.runs").unwrap_or("?");
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "vs_ingest benchmark, scale {scale}: {} links, {} CSV rows, {} of CSV in a {} zip",
        fmt_opt(raw.number("input.links"), fmt_count),
        fmt_opt(raw.number("input.rows"), fmt_millions),
        fmt_opt(csv_bytes, fmt_size),
        fmt_opt(compressed, fmt_size),
    );
    let _ = writeln!(out, "machine: {}", machine_note(&results));
    let settings_line: Vec<String> = raw
        .section("setting.")
        .iter()
        .filter(|(k, _)| !k.starts_with("vs_ingest."))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for (i, line) in wrap(&settings_line.join(" "), 100).iter().enumerate() {
        let _ = writeln!(
            out,
            "{}{line}",
            if i == 0 { "settings (every contender): " } else { "                            " }
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<58} {:>9} {:>10} {:>9} {:>9}",
        format!("measurement (median of {runs})"),
        "seconds",
        "rows/s",
        "CSV MB/s",
        "zip MB/s"
    );
    let row = |out: &mut String, label: &str, s: Option<f64>, rows: Option<f64>| {
        let rate = |n: Option<f64>| match (n, s) {
            (Some(n), Some(s)) if s > 0.0 => Some(n / s),
            _ => None,
        };
        let _ = writeln!(
            out,
            "{label:<58} {:>9} {:>10} {:>9} {:>9}",
            fmt_opt(s, fmt_s),
            fmt_opt(rate(rows), fmt_millions),
            fmt_opt(rate(csv_bytes.map(|b| b / 1e6)), |v| format!("{v:.0}")),
            fmt_opt(rate(compressed.map(|b| b / 1e6)), |v| format!("{v:.1}")),
        );
    };
    let csv_rows = raw.number("input.rows");
    row(&mut out, &format!("decompress only ({backend}, one thread): the floor"), decompress, None);
    if libdeflate.is_some() {
        row(&mut out, "libdeflate-gunzip of the .csv.gz, one thread: the floor", libdeflate, None);
    }
    if igzip.is_some() {
        row(&mut out, "igzip -d (ISA-L) of the .csv.gz, one thread", igzip, None);
    }
    if !unzip.is_empty() {
        row(&mut out, "unzip -p (Info-ZIP), as the native way reads it", median(&unzip), None);
    }
    row(
        &mut out,
        &format!("engine only: decompress, parse, aggregate ({} threads)", engine["engine_threads"]),
        engine_seconds,
        engine["rows"].as_f64(),
    );
    if duckdb.is_some() {
        row(
            &mut out,
            &format!(
                "DuckDB ({} threads): .csv.gz -> hourly rows -> Parquet",
                raw.text("duckdb.threads").unwrap_or("2")
            ),
            duckdb,
            csv_rows,
        );
    }
    row(&mut out, "vs_ingest_dir, 2 cores (wall, one SQL statement)", ours_wall, rows_read.or(csv_rows));
    for (id, label, s) in stages {
        let label = match id {
            "commit" => format!("  {label} ({})", fmt_opt(raw.number("ours.chunks"), fmt_count)),
            _ => format!("  {label}"),
        };
        let _ = writeln!(out, "{label:<58} {:>9}", fmt_opt(s, fmt_s));
    }
    if one.is_some() {
        row(&mut out, "vs_ingest_dir, 1 core (taskset -c 0, threads = 1)", one, rows_read.or(csv_rows));
        let _ = writeln!(out, "{:<58} {:>9}", "  of which writing hours", fmt_opt(one_stage("write"), fmt_s));
    }
    if native.is_some() {
        row(&mut out, "native: COPY FROM PROGRAM 'unzip -p' + INSERT ... GROUP BY", native, csv_rows);
        let _ = writeln!(
            out,
            "{:<58} {:>9}",
            "  COPY into the UNLOGGED staging table",
            fmt_opt(at(&native_copy, native_mid), fmt_s)
        );
        let _ = writeln!(
            out,
            "{:<58} {:>9}",
            "  INSERT INTO hourly SELECT ... GROUP BY link, hour",
            fmt_opt(at(&native_insert, native_mid), fmt_s)
        );
    }
    if binary_median.is_some() {
        let _ = writeln!(
            out,
            "{:<58} {:>9}",
            "binary COPY FROM STDIN of our hourly rows (write floor)",
            fmt_opt(binary_median, fmt_s)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "hourly rows: vs_ingest {}, native {} (from {} staged CSV rows), binary COPY {}",
        fmt_opt(raw.number("ours.hourly_rows"), fmt_count),
        fmt_opt(raw.number("native.hourly_rows"), fmt_count),
        fmt_opt(raw.number("native.staging_rows"), fmt_count),
        fmt_opt(raw.number("binary.rows"), fmt_count),
    );
    let _ = writeln!(
        out,
        "peak memory of a loading process: RssAnon {} (worker {}, calling backend {}); VmRSS {}; VmHWM {}",
        fmt_opt(rss_anon, |k| fmt_bytes(k * 1024.0)),
        fmt_opt(max_of("ours.worker_rss_anon_kib"), |k| fmt_bytes(k * 1024.0)),
        fmt_opt(max_of("ours.backend_rss_anon_kib"), |k| fmt_bytes(k * 1024.0)),
        fmt_opt(vm_rss, |k| fmt_bytes(k * 1024.0)),
        fmt_opt(vm_hwm, |k| fmt_bytes(k * 1024.0)),
    );
    let _ = writeln!(
        out,
        "  (the 1 GiB target is judged on RssAnon, the process's own memory; VmRSS and VmHWM also count\n   the shared_buffers pages it touched, which are shared by every backend and bounded by shared_buffers)"
    );
    let _ = writeln!(out);
    for (title, list) in [("target (issue 4)", &targets), ("target (issue 11)", &targets_11)] {
        let _ = writeln!(out, "{:<55} {:>9} {:>12}  met", title, "goal", "measured");
        for t in list {
            let met = match t.met {
                Some(true) => "yes".to_string(),
                Some(false) => "NO".to_string(),
                None => "n/a".to_string(),
            };
            let note = if t.note.is_empty() { String::new() } else { format!("  ({})", t.note) };
            let _ = writeln!(out, "{:<55} {:>9} {:>12}  {met}{note}", t.what, t.goal, t.shown);
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "hourly rows: DuckDB {} (Parquet {})",
        fmt_opt(raw.number("duckdb.hourly_rows"), fmt_count),
        fmt_opt(raw.number("duckdb.parquet_bytes"), fmt_size),
    );
    if let (Some((_, label, s)), Some(w)) = (bottleneck, ours_wall) {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "holding the load back: {label}: {} s of {} s wall ({:.0}%)",
            fmt_s(s),
            fmt_s(w),
            100.0 * s / w
        );
        if let (Some(d), Some(e)) = (decompress, engine_seconds) {
            let _ = writeln!(
                out,
                "  engine alone: decompressing {} s, the whole engine {} s ({:.2}x the floor)",
                fmt_s(d),
                fmt_s(e),
                e / d
            );
        }
    }
    if let Some(p) = raw.text("profile.file") {
        let _ = writeln!(out, "profile of a loading worker: {p}");
    }
    print!("{out}");
    Ok(())
}

fn machine_note(results: &Value) -> String {
    let m = &results["machine"];
    let mut parts = Vec::new();
    if let Some(n) = m["nproc"].as_f64() {
        parts.push(format!("{n} cores"));
    }
    if let Some(cpu) = m["cpu"].as_str() {
        parts.push(cpu.to_string());
    }
    if let Some(ram) = m["ram_bytes"].as_f64() {
        parts.push(format!("{} RAM", fmt_bytes(ram)));
    }
    if let Some(k) = m["kernel"].as_str() {
        parts.push(format!("Linux {k}"));
    }
    if let Some(pg) = m["postgres"].as_str() {
        parts.push(pg.split([' ', '(']).take(2).collect::<Vec<_>>().join(" "));
    }
    if let Some(c) = results["git_commit"].as_str() {
        let dirty = if results["git_dirty"].as_bool() == Some(true) { " + local changes" } else { "" };
        parts.push(format!("commit {}{dirty}", &c[..c.len().min(7)]));
    }
    if let Some(d) = results["date"].as_str() {
        parts.push(d.chars().take(10).collect());
    }
    parts.join(", ")
}

/// Shown figures are rounded towards failing their target, so that "0.90x" never reads as met
/// when the ratio is 0.896 and the verdict says no.
fn round_down(v: f64, scale: f64) -> f64 {
    (v * scale).floor() / scale
}

fn round_up(v: f64, scale: f64) -> f64 {
    (v * scale).ceil() / scale
}

fn fmt_opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".into())
}

fn fmt_s(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_millions(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else {
        format!("{:.0} k", v / 1e3)
    }
}

fn fmt_count(v: f64) -> String {
    let digits = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = v;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

// ---------------------------------------------------------------------------------------------
// Chart

struct Bar {
    label: String,
    note: String,
    segments: Vec<(usize, f64)>,
    highlight: bool,
}

impl Bar {
    fn total(&self) -> f64 {
        self.segments.iter().map(|s| s.1).sum()
    }
}

/// Segment kinds: legend label and colour.
const KINDS: [(&str, RGBColor); 10] = [
    ("decompress only", RGBColor(0x9e, 0x9e, 0x9e)),
    ("engine: decompress, parse, aggregate", RGBColor(0x80, 0xb1, 0xd3)),
    ("waiting for the engine", RGBColor(0x8d, 0xd3, 0xc7)),
    ("writing hours (binary COPY)", RGBColor(0x1f, 0x5f, 0xa8)),
    ("committing and other", RGBColor(0xb3, 0xcd, 0xe3)),
    ("binary COPY FROM STDIN", RGBColor(0x6a, 0x3d, 0x9a)),
    ("COPY into staging", RGBColor(0xfd, 0xb4, 0x62)),
    ("INSERT ... SELECT ... GROUP BY", RGBColor(0xe6, 0x55, 0x0d)),
    ("libdeflate-gunzip", RGBColor(0x63, 0x63, 0x63)),
    ("DuckDB to Parquet", RGBColor(0xd9, 0xa4, 0x0e)),
];

fn chart(results_path: &Path, svg_path: &Path) -> Result<()> {
    let text = fs::read_to_string(results_path).map_err(|e| format!("{}: {e}", results_path.display()))?;
    let r: Value = serde_json::from_str(&text)?;
    let num = |v: &Value| v.as_f64();
    let mut bars = Vec::new();
    if let Some(s) = num(&r["decompress_only"]["seconds"]) {
        bars.push(Bar {
            label: "decompress only (the floor)".into(),
            note: String::new(),
            segments: vec![(0, s)],
            highlight: false,
        });
    }
    if let Some(s) = num(&r["libdeflate_gunzip"]["seconds"]["median"]) {
        bars.push(Bar {
            label: "libdeflate-gunzip (inflate floor)".into(),
            note: "one thread, the same CSV as .csv.gz".into(),
            segments: vec![(8, s)],
            highlight: false,
        });
    }
    if let Some(s) = num(&r["engine_only"]["seconds"]) {
        let threads = r["engine_only"]["threads"].as_u64().map(|t| format!("{t} threads, ")).unwrap_or_default();
        bars.push(Bar {
            label: "engine only, no database".into(),
            note: format!("{threads}decompress + parse + aggregate"),
            segments: vec![(1, s)],
            highlight: false,
        });
    }
    let ours = &r["vs_ingest_dir"];
    if let Some(wall) = num(&ours["wall_seconds"]["median"]) {
        let st = &ours["stages_of_median_run"];
        let (wait, write) = (num(&st["wait_seconds"]).unwrap_or(0.0), num(&st["write_seconds"]).unwrap_or(0.0));
        let rest = (wall - wait - write).max(0.0);
        bars.push(Bar {
            label: "vs_ingest_dir, 2 cores".into(),
            note: "one SQL statement, committed".into(),
            segments: vec![(3, write), (2, wait), (4, rest)],
            highlight: true,
        });
    }
    let one = &r["vs_ingest_dir_one_core"];
    if let Some(wall) = num(&one["wall_seconds"]["median"]) {
        let st = &one["stages_of_median_run"];
        let (wait, write) = (num(&st["wait_seconds"]).unwrap_or(0.0), num(&st["write_seconds"]).unwrap_or(0.0));
        bars.push(Bar {
            label: "vs_ingest_dir, 1 core".into(),
            note: "taskset -c 0, threads = 1".into(),
            segments: vec![(3, write), (2, wait), (4, (wall - wait - write).max(0.0))],
            highlight: false,
        });
    }
    if let Some(s) = num(&r["duckdb"]["seconds"]["median"]) {
        let threads = r["duckdb"]["threads"].as_u64().unwrap_or(2);
        bars.push(Bar {
            label: "DuckDB, same hourly rows".into(),
            note: format!("{threads} threads, .csv.gz to Parquet"),
            segments: vec![(9, s)],
            highlight: false,
        });
    }
    if let Some(s) = num(&r["binary_copy"]["seconds"]["median"]) {
        bars.push(Bar {
            label: "binary COPY of our hourly rows".into(),
            note: "write stage alone, for comparison".into(),
            segments: vec![(5, s)],
            highlight: false,
        });
    }
    let native = &r["native"];
    if num(&native["total_seconds"]["median"]).is_some() {
        let copy = num(&native["copy_seconds_of_median_run"]).unwrap_or(0.0);
        let insert = num(&native["insert_select_seconds_of_median_run"]).unwrap_or(0.0);
        bars.push(Bar {
            label: "native PostgreSQL".into(),
            note: "COPY FROM PROGRAM, then INSERT ... GROUP BY".into(),
            segments: vec![(6, copy), (7, insert)],
            highlight: false,
        });
    }
    if bars.is_empty() {
        return Err("the results hold no timings".into());
    }

    draw_chart(&r, &bars, svg_path)
}

/// Pixels of the layout: the plotting area's left and right edges and its top; each bar's height
/// and the gap between bars.
const WIDTH: u32 = 980;
const LEFT: i32 = 320;
const RIGHT: i32 = 150;
const TOP: i32 = 92;
const BAR_H: i32 = 30;
const GAP: i32 = 22;
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const GREY: RGBColor = RGBColor(0x44, 0x44, 0x44);
const NOTE: RGBColor = RGBColor(0x66, 0x66, 0x66);
const GRID: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
const TARGET: RGBColor = RGBColor(0xc0, 0x39, 0x2b);

/// A text style of `px` pixels. Plotters' SVG backend writes a font size of the given size
/// divided by 1.24, so the size asked for is scaled up by as much.
fn font(px: f64, colour: RGBColor) -> TextStyle<'static> {
    font_styled(px, colour, FontStyle::Normal)
}

fn font_styled(px: f64, colour: RGBColor, style: FontStyle) -> TextStyle<'static> {
    FontDesc::new(FontFamily::SansSerif, px * 1.24, style).color(&colour)
}

/// Draws the bars with plotters' SVG backend: a horizontal stacked bar per measurement, labelled
/// on the left and with its total seconds on the right, the targets as dashed lines, a legend of
/// the segment kinds, and notes on the machine and the settings.
fn draw_chart(r: &Value, bars: &[Bar], svg_path: &Path) -> Result<()> {
    let num = |v: &Value| v.as_f64();
    // Axis: a bar much longer than the others (the native way) is drawn broken, so that the
    // short bars stay readable.
    let mut totals: Vec<f64> = bars.iter().map(Bar::total).collect();
    totals.sort_by(f64::total_cmp);
    let longest = *totals.last().unwrap_or(&1.0);
    let second = if totals.len() > 1 { totals[totals.len() - 2] } else { longest };
    let broken = longest > 3.0 * second && second > 0.0;
    let axis_max = nice_ceiling(if broken { second * 1.25 } else { longest * 1.05 });
    let tick = nice_tick(axis_max);

    let n = bars.len();
    let plot_h = n as i32 * (BAR_H + GAP);
    let x_label_h = 46;
    let legend_y = TOP + plot_h + 66;
    let height = (legend_y + 110) as u32;

    if let Some(dir) = svg_path.parent() {
        fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(svg_path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;

    let input = &r["input"];
    let title =
        format!("Loading one day of ITS 5-minute data into PostgreSQL ({} scale)", r["scale"].as_str().unwrap_or("?"));
    let subtitle = format!(
        "{} links, {} CSV rows, {} of CSV ({} zip); wall seconds, median of {}; shorter is better",
        fmt_opt(num(&input["links"]), fmt_count),
        fmt_opt(num(&input["csv_rows"]), fmt_millions),
        fmt_opt(num(&input["csv_bytes"]), fmt_size),
        fmt_opt(num(&input["compressed_bytes"]), fmt_size),
        match r["runs"].as_f64() {
            Some(1.0) => "1 run".to_string(),
            Some(n) => format!("{n} runs"),
            None => "? runs".to_string(),
        },
    );
    let top_left = Pos::new(HPos::Left, VPos::Top);
    root.draw(&Text::new(title, (20, 14), font_styled(18.0, INK, FontStyle::Bold).pos(top_left)))?;
    root.draw(&Text::new(subtitle, (20, 40), font(13.0, GREY).pos(top_left)))?;

    // The plotting area: seconds across, one unit of height per bar, the first bar on top.
    let area = root.clone().shrink((0, TOP), (WIDTH - RIGHT as u32, (plot_h + x_label_h) as u32));
    let mut chart = ChartBuilder::on(&area)
        .y_label_area_size(LEFT as u32)
        .x_label_area_size(x_label_h as u32)
        .build_cartesian_2d(0.0..axis_max, 0.0..n as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels((axis_max / tick).round() as usize + 1)
        .x_label_formatter(&|t| trim_float(*t))
        .x_label_style(font(13.0, GREY))
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(INK)
        .x_desc("wall time, seconds")
        .axis_desc_style(font(13.0, INK))
        .draw()?;
    // Pixel coordinates of a point of the chart, for the texts drawn around the plotting area.
    let plot = chart.plotting_area();
    let px = |s: f64, y: f64| plot.map_coordinate(&(s.min(axis_max), y));
    let row = |i: usize| (n - 1 - i) as f64;
    let half_bar = 0.5 * BAR_H as f64 / (BAR_H + GAP) as f64;

    // Reference lines: 1.5x the floor and 2.5x libdeflate's, and the 30 s and 10 s targets on the
    // national file.
    let mut refs = Vec::new();
    if let Some(d) = num(&r["decompress_only"]["seconds"]) {
        refs.push((1.5 * d, "target: 1.5x floor".to_string()));
    }
    if let Some(d) = num(&r["libdeflate_gunzip"]["seconds"]["median"]) {
        refs.push((2.5 * d, "target: 2.5x libdeflate".to_string()));
    }
    if r["scale"].as_str() == Some("national") {
        refs.push((30.0, "target: 30 s".to_string()));
        refs.push((10.0, "target: 10 s".to_string()));
    }
    for (s, label) in refs.into_iter().filter(|(s, _)| *s <= axis_max) {
        for dashes in DashedLineSeries::new([(s, 0.0), (s, n as f64)], 5, 4, TARGET.stroke_width(1)) {
            plot.draw(&dashes)?;
        }
        let (x, y) = px(s, n as f64);
        root.draw(&Text::new(label, (x, y - 12), font(11.0, TARGET).pos(Pos::new(HPos::Center, VPos::Bottom))))?;
    }

    // Bars.
    let mut kinds_used = Vec::new();
    for (i, bar) in bars.iter().enumerate() {
        let centre = row(i) + 0.5;
        let (y0, y1) = (centre - half_bar, centre + half_bar);
        let total = bar.total();
        // A broken bar keeps the proportions of its segments within the length drawn.
        let squeeze = if total > axis_max { axis_max / total } else { 1.0 };
        let mut start = 0.0;
        for &(kind, s) in &bar.segments {
            if s <= 0.0 {
                continue;
            }
            if !kinds_used.contains(&kind) {
                kinds_used.push(kind);
            }
            let (x0, x1) = (start * squeeze, (start + s) * squeeze);
            plot.draw(&Rectangle::new([(x0, y0), (x1, y1)], KINDS[kind].1.filled()))?;
            start += s;
        }

        let (_, mid) = px(0.0, centre);
        let weight = if bar.highlight { FontStyle::Bold } else { FontStyle::Normal };
        let right = Pos::new(HPos::Right, VPos::Center);
        if bar.note.is_empty() {
            root.draw(&Text::new(bar.label.clone(), (LEFT - 10, mid), font_styled(13.0, INK, weight).pos(right)))?;
        } else {
            root.draw(&Text::new(bar.label.clone(), (LEFT - 10, mid - 7), font_styled(13.0, INK, weight).pos(right)))?;
            root.draw(&Text::new(bar.note.clone(), (LEFT - 10, mid + 8), font(11.0, NOTE).pos(right)))?;
        }
        let (end, _) = px(total, centre);
        if total > axis_max {
            // The break mark: two white slashes near the end of the bar.
            let (_, top) = px(0.0, y1);
            let (_, bottom) = px(0.0, y0);
            for dx in [-26, -18] {
                let bx = end + dx;
                root.draw(&PathElement::new(vec![(bx - 4, bottom + 3), (bx + 4, top - 3)], WHITE.stroke_width(4)))?;
            }
        }
        let value =
            if total > axis_max { format!("{} s (axis broken)", fmt_s(total)) } else { format!("{} s", fmt_s(total)) };
        root.draw(&Text::new(
            value,
            (end + 6, mid),
            font_styled(13.0, INK, weight).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }

    // Legend (wrapped), then the machine and settings notes.
    let (mut lx, mut ly) = (20, legend_y);
    for kind in kinds_used {
        let (label, colour) = KINDS[kind];
        let item = 16 + (6.6 * label.len() as f64) as i32 + 22;
        if lx + item > WIDTH as i32 - 10 {
            lx = 20;
            ly += 20;
        }
        root.draw(&Rectangle::new([(lx, ly - 10), (lx + 12, ly + 2)], colour.filled()))?;
        root.draw(&Text::new(label, (lx + 16, ly - 4), font(12.0, INK).pos(Pos::new(HPos::Left, VPos::Center))))?;
        lx += item;
    }
    let mut notes = vec![format!("machine: {}", machine_note(r))];
    if let Some(m) = r["settings"].as_object() {
        let settings: Vec<String> = [
            "shared_buffers",
            "max_wal_size",
            "checkpoint_timeout",
            "wal_buffers",
            "work_mem",
            "synchronous_commit",
            "autovacuum",
        ]
        .iter()
        .filter_map(|k| m.get(*k).and_then(Value::as_str).map(|v| format!("{k}={v}")))
        .collect();
        notes.push(format!("same PostgreSQL settings for every contender: {}", settings.join(", ")));
    }
    notes.push(
        "made by scripts/bench.sh from target/bench/results-SCALE.json"
            .replace("SCALE", r["scale"].as_str().unwrap_or("SCALE")),
    );
    let mut ny = ly + 26;
    for note in notes {
        for line in wrap(&note, 150) {
            root.draw(&Text::new(line, (20, ny), font(11.0, NOTE).pos(Pos::new(HPos::Left, VPos::Bottom))))?;
            ny += 15;
        }
    }
    root.present()?;
    Ok(())
}

/// The smallest 1, 2 or 5 times a power of ten at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    let step = nice_tick(v);
    (v / step).ceil() * step
}

/// A tick spacing giving about 5-10 ticks up to `v`.
fn nice_tick(v: f64) -> f64 {
    let v = v.max(1e-3);
    let magnitude = 10f64.powf((v / 5.0).log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if v / (m * magnitude) <= 10.0 {
            return m * magnitude;
        }
    }
    10.0 * magnitude
}

/// Splits `text` at spaces into lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

/// Decimal bytes, as file sizes are usually given (the README says "4.23 GB of CSV").
fn fmt_size(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} GB", v / 1e9)
    } else {
        format!("{:.0} MB", v / 1e6)
    }
}

/// Counts and byte sizes come out of the raw file as floats: write whole numbers as integers.
fn integral(v: Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(integral).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, integral(v))).collect()),
        other => other,
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart_of(results: &Value, name: &str) -> Result<String> {
        let dir = std::env::temp_dir().join(format!("vs_ingest_report_test_{}_{name}", std::process::id()));
        fs::create_dir_all(&dir)?;
        let (json, svg) = (dir.join(format!("{name}.json")), dir.join(format!("{name}.svg")));
        fs::write(&json, results.to_string())?;
        let outcome = chart(&json, &svg).and_then(|()| Ok(fs::read_to_string(&svg)?));
        let _ = fs::remove_dir_all(&dir);
        outcome
    }

    #[test]
    fn chart_labels_every_measurement_with_its_seconds() {
        let results = json!({
            "scale": "small",
            "runs": 3,
            "input": {"links": 20000, "csv_rows": 5_760_000, "csv_bytes": 190_000_000, "compressed_bytes": 52_000_000},
            "decompress_only": {"seconds": 0.31},
            "engine_only": {"seconds": 0.52, "threads": 2},
            "vs_ingest_dir": {"wall_seconds": {"median": 1.4},
                              "stages_of_median_run": {"wait_seconds": 0.1, "write_seconds": 1.1}},
            "binary_copy": {"seconds": {"median": 0.9}},
            "native": {"total_seconds": {"median": 30.0},
                       "copy_seconds_of_median_run": 10.0, "insert_select_seconds_of_median_run": 20.0},
        });
        let svg = chart_of(&results, "small").unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        for text in [
            "decompress only (the floor)",
            "0.31 s",
            "engine only, no database",
            "0.52 s",
            "vs_ingest_dir, 2 cores",
            "1.40 s",
            "binary COPY of our hourly rows",
            "0.90 s",
            "native PostgreSQL",
            "30.0 s (axis broken)",
            "target: 1.5x floor",
            "INSERT ... SELECT ... GROUP BY",
            "wall time, seconds",
        ] {
            assert!(svg.contains(text), "{text:?} missing from the chart");
        }
        // Only the national file has the 30 s target; the 1-core run was not measured.
        assert!(!svg.contains("target: 30 s"));
        assert!(!svg.contains("1 core"));
    }

    #[test]
    fn summary_reports_the_targets_of_issue_11() {
        let dir = std::env::temp_dir().join(format!("vs_ingest_report_test_{}_summary", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (raw, json_path, svg) = (dir.join("raw.tsv"), dir.join("results.json"), dir.join("chart.svg"));
        let lines = [
            "meta.scale\tsmall",
            "meta.runs\t3",
            "input.rows\t5760000",
            "input.csv_bytes\t190000000",
            "libdeflate.seconds\t0.5",
            "libdeflate.seconds\t0.4",
            "libdeflate.seconds\t0.6",
            "igzip.seconds\t0.35",
            "igzip.seconds\t0.3",
            "igzip.seconds\t0.4",
            "duckdb.seconds\t3.0",
            "duckdb.seconds\t3.3",
            "duckdb.seconds\t2.9",
            "duckdb.threads\t2",
            "duckdb.hourly_rows\t480000",
            "ours.wall\t1.0",
            "ours.wall\t1.2",
            "ours.wall\t1.1",
            "ours.rss_anon_kib\t300000",
            "native.copy\t10.0",
            "native.insert\t12.0",
            "skipped.one_core\tskipped (--skip-one-core)",
        ];
        fs::write(&raw, lines.join("\n") + "\n").unwrap();
        summary(&raw, &json_path).unwrap();
        let r: Value = serde_json::from_str(&fs::read_to_string(&json_path).unwrap()).unwrap();
        assert_eq!(r["libdeflate_gunzip"]["seconds"]["median"], 0.5);
        assert_eq!(r["igzip"]["seconds"]["median"], 0.35);
        assert_eq!(r["duckdb"]["seconds"]["median"], 3.0);
        let close = |v: &Value, x: f64| (v.as_f64().unwrap() - x).abs() < 1e-9;
        assert!(close(&r["ratios"]["load_vs_libdeflate"], 1.1 / 0.5));
        assert!(close(&r["ratios"]["duckdb_vs_load"], 3.0 / 1.1));
        assert!(close(&r["ratios"]["native_vs_load"], 22.0 / 1.1));
        let verdict =
            |id: &str| r["targets_issue_11"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap()["met"].clone();
        assert_eq!(verdict("libdeflate_ratio"), true);
        assert_eq!(verdict("duckdb_speedup"), true);
        assert_eq!(verdict("native_speedup"), true);
        assert_eq!(verdict("peak_memory"), true);
        assert_eq!(verdict("national_day_seconds"), Value::Null);
        chart(&json_path, &svg).unwrap();
        let text = fs::read_to_string(&svg).unwrap();
        assert!(text.contains("libdeflate-gunzip (inflate floor)") && text.contains("DuckDB, same hourly rows"));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn chart_needs_a_timing() {
        let err = chart_of(&json!({"scale": "small"}), "empty").unwrap_err();
        assert!(err.to_string().contains("no timings"), "{err}");
    }
}
