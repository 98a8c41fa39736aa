//! Deterministic generator of realistic ITS "5분 소통정보" daily files, quirks included.
//!
//! Tests and benchmarks need national-scale files with the quirks real files have, reproducible
//! from a seed. Rows are streamed into the compressor chunk by chunk (a national day is ~4 GB of
//! CSV), and the [`Manifest`] returned per file counts every quirk exactly, so a loader's counters
//! can be checked against it.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use flate2::{Compression, GzBuilder};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use vs_ingest_engine::calendar::Date;

/// Five-minute intervals in a day.
pub const INTERVALS_PER_DAY: u32 = 288;
/// Links reporting per interval in the national file (2023-07-01).
pub const NATIONAL_LINKS: u32 = 449_000;
/// The header line of the 2025 variant (preceded by [`UTF8_BOM`]).
pub const HEADER_2025: &str = "CREATDE,CREATHM,LINKID,ROADINSTTCD,PASNGSPED,PASNGTIME";
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// Generated speeds never exceed this; malformed speeds (`301`, `1e3`, ...) are above 300.
pub const MAX_SPEED_KMH: u32 = 150;

/// Region codes (first three digits of a link id) with their share of links.
#[rustfmt::skip]
const REGIONS: &[(u32, u32)] = &[
    (100, 8), (101, 5), (102, 5), (103, 5), (104, 5), (105, 5), (106, 5), (107, 5), (108, 5),
    (109, 5), (110, 5), (111, 5), (112, 5), (113, 5), (114, 5), (115, 5), (116, 5), (117, 5),
    (118, 5), (119, 5), (120, 5), (121, 5), (122, 5), (123, 5), (124, 5), (161, 6), (162, 6),
    (163, 6), (164, 6), (165, 6), (211, 8), (212, 8), (213, 8), (231, 6), (232, 6), (241, 5),
    (251, 6), (252, 5), (261, 4), (301, 4), (401, 14), (402, 14), (403, 14), (404, 12), (405, 12),
    (406, 12), (410, 10), (415, 10), (418, 10), (420, 8), (430, 8), (440, 9), (450, 9), (460, 10),
    (470, 11), (480, 11), (490, 3),
];
/// Distinct serials per region; a serial is `(v / 10) * 100 + v % 10`, like `0159700`.
const SERIALS_PER_REGION: u32 = 1_000_000;
/// Most links `generate` accepts (every region full).
pub const MAX_LINKS: u32 = REGIONS.len() as u32 * SERIALS_PER_REGION;
const AGENCIES: &[&[u8]] =
    &[b"1010000", b"1020000", b"1110000", b"1150000", b"1230000", b"2000000", b"3010000", b"4000000", b"6110000"];
/// Bytes of CSV collected before they are handed to the compressor.
const CHUNK: usize = 1 << 20;
/// Repeats land at most this many rows after their original (and never beyond the next block).
const MAX_REPEAT_DISTANCE: u32 = 40;

/// Layout generation of the daily file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Variant {
    /// No header, LF line endings.
    #[serde(rename = "2023")]
    Y2023,
    /// UTF-8 BOM, English header line, CRLF line endings.
    #[serde(rename = "2025")]
    Y2025,
}

impl Variant {
    pub fn has_header(self) -> bool {
        self == Variant::Y2025
    }

    pub fn line_ending(self) -> &'static [u8] {
        match self {
            Variant::Y2023 => b"\n",
            Variant::Y2025 => b"\r\n",
        }
    }
}

impl FromStr for Variant {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "2023" => Ok(Variant::Y2023),
            "2025" => Ok(Variant::Y2025),
            _ => Err(format!("unknown variant {text:?} (expected 2023 or 2025)")),
        }
    }
}

/// How the CSV is packed on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Container {
    /// `{YYYYMMDD}_5Min.zip` holding `{YYYYMMDD}_5Min.csv` (deflate, zip64), as published.
    #[serde(rename = "zip")]
    Zip,
    /// `{YYYYMMDD}_5Min.csv.gz`
    #[serde(rename = "gz")]
    Gzip,
    /// `{YYYYMMDD}_5Min.csv.zst`
    #[serde(rename = "zst")]
    Zstd,
    /// `{YYYYMMDD}_5Min.csv`
    #[serde(rename = "csv")]
    Plain,
}

impl Container {
    /// Name of the file written for `date`.
    pub fn file_name(self, date: Date) -> String {
        let csv = csv_name(date);
        match self {
            Container::Zip => format!("{}_5Min.zip", date.yyyymmdd()),
            Container::Gzip => format!("{csv}.gz"),
            Container::Zstd => format!("{csv}.zst"),
            Container::Plain => csv,
        }
    }
}

impl FromStr for Container {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "zip" => Ok(Container::Zip),
            "gz" | "gzip" => Ok(Container::Gzip),
            "zst" | "zstd" => Ok(Container::Zstd),
            "csv" | "plain" => Ok(Container::Plain),
            _ => Err(format!("unknown container {text:?} (expected zip, gz, zst or csv)")),
        }
    }
}

/// How speeds and travel times are drawn. [`generate`] and [`generate_day`] use the default,
/// [`SpeedModel::Noise`]; [`generate_with`] and [`generate_day_with`] take a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpeedModel {
    /// Each sample is the link's time-of-day profile plus independent noise (a few km/h), and
    /// travel time appears on random rows (`travel_time_per_mille` of them, on any link).
    #[default]
    #[serde(rename = "noise")]
    Noise,
    /// Closer to the real files: a link's speed is its base speed shaped by the smooth
    /// time-of-day profile, plus a small mean-reverting random walk of one 0.5 km/h step at most
    /// per 5 minutes (so consecutive samples differ by little: see [`REAL_LIKE_MAX_STEP_HALVES`]).
    /// Travel time belongs to links, not rows: `travel_time_per_mille` of the links report it on
    /// every row with a speed, all others never (`0`), so ~99% of rows and of hours have none
    /// with the default quirks.
    #[serde(rename = "real-like")]
    RealLike,
}

impl SpeedModel {
    pub fn is_noise(&self) -> bool {
        *self == SpeedModel::Noise
    }
}

impl FromStr for SpeedModel {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "noise" => Ok(SpeedModel::Noise),
            "real-like" | "real_like" => Ok(SpeedModel::RealLike),
            _ => Err(format!("unknown speed model {text:?} (expected noise or real-like)")),
        }
    }
}

/// [`SpeedModel::RealLike`]: the most a normal link's speed changes between two consecutive
/// 5-minute samples, in half km/h (the time-of-day profile's steepest 5 minutes, under 4 km/h,
/// plus one 0.5 km/h step of the walk).
pub const REAL_LIKE_MAX_STEP_HALVES: u16 = 9;

/// `{YYYYMMDD}_5Min.csv`: the zip entry name, and the CSV's name in every container.
pub fn csv_name(date: Date) -> String {
    format!("{}_5Min.csv", date.yyyymmdd())
}

/// `{YYYYMMDD}_5Min.plain.csv`: the uncompressed copy written when `plain_copy` is set.
pub fn plain_copy_name(date: Date) -> String {
    format!("{}_5Min.plain.csv", date.yyyymmdd())
}

/// Parses `YYYY-MM-DD` or `YYYYMMDD`.
pub fn parse_date(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    if bytes.len() == 10 && bytes[4] == b'-' && bytes[7] == b'-' {
        let compact: Vec<u8> = bytes.iter().copied().filter(|&b| b != b'-').collect();
        Date::parse_yyyymmdd(&compact)
    } else {
        Date::parse_yyyymmdd(bytes)
    }
}

/// Serde for [`Date`] as `"YYYY-MM-DD"` (reads `"YYYYMMDD"` too).
mod date_text {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    use vs_ingest_engine::calendar::Date;

    pub fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(date)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_date(&text).ok_or_else(|| D::Error::custom(format!("invalid date {text:?}, expected YYYY-MM-DD")))
    }
}

/// What to generate. Deserialising fills missing fields from [`GenConfig::default`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenConfig {
    /// Links reporting in every interval (1..=[`MAX_LINKS`]).
    pub links: u32,
    /// First day, serialised as `"YYYY-MM-DD"` (`"YYYYMMDD"` is accepted too).
    #[serde(with = "date_text")]
    pub start: Date,
    /// Number of consecutive days, one file each.
    pub days: u32,
    pub variant: Variant,
    pub container: Container,
    pub seed: u64,
    /// Also write the CSV uncompressed as `{YYYYMMDD}_5Min.plain.csv` (same bytes).
    pub plain_copy: bool,
    /// Deflate level (clamped to 1..=9) or zstd level (clamped to 1..=19).
    pub compression_level: u32,
    pub quirks: Quirks,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            links: 20_000,
            start: Date { year: 2023, month: 7, day: 1 },
            days: 1,
            variant: Variant::Y2023,
            container: Container::Zip,
            seed: 42,
            plain_copy: false,
            compression_level: 6,
            quirks: Quirks::default(),
        }
    }
}

/// Irregularities of real files. Per-mille rates are probabilities (the manifest has the exact
/// counts); `stray_rows` and [`Malformed`] are exact counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Quirks {
    /// Rows whose speed field is empty (a missing measurement, still a valid row).
    pub empty_speed_per_mille: u32,
    /// Rows repeated a few lines later; every second repeat carries a different speed.
    pub duplicate_per_mille: u32,
    /// Rows dated the previous day, at the very start of the data.
    pub stray_rows: u32,
    /// Rows before 10:00 whose time is written unpadded (`5` for `0005`).
    pub unpadded_time_per_mille: u32,
    /// Rows carrying a positive travel time (seconds) instead of `0`.
    pub travel_time_per_mille: u32,
    /// Links whose rows carry a road agency code (the code belongs to the road, so per link).
    pub agency_per_mille: u32,
    /// "Default fill" links reporting speed `0` all day.
    pub zero_links_per_mille: u32,
    /// Links reporting one constant non-zero speed all day.
    pub constant_links_per_mille: u32,
    pub malformed: Malformed,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            empty_speed_per_mille: 5,
            duplicate_per_mille: 1,
            stray_rows: 3,
            unpadded_time_per_mille: 2,
            travel_time_per_mille: 10,
            agency_per_mille: 100,
            zero_links_per_mille: 5,
            constant_links_per_mille: 5,
            malformed: Malformed::default(),
        }
    }
}

impl Quirks {
    /// A perfectly clean file: every row `date,HHMM,link,,speed,0`, sorted, all valid.
    pub fn none() -> Self {
        Quirks {
            empty_speed_per_mille: 0,
            duplicate_per_mille: 0,
            stray_rows: 0,
            unpadded_time_per_mille: 0,
            travel_time_per_mille: 0,
            agency_per_mille: 0,
            zero_links_per_mille: 0,
            constant_links_per_mille: 0,
            malformed: Malformed::none(),
        }
    }
}

/// Exact numbers of broken lines, one category each (every other field of the line is valid and
/// the date is the file's own, except in `bad_date`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Malformed {
    /// 5 or 7 fields.
    pub field_count: u32,
    /// `10000A0100`, `LINK`, `1.000E+09`.
    pub bad_link_id: u32,
    /// Eight digits but no calendar date: `20230230`, `20231301`, `20230732`, `20230015`, `20230700`.
    pub bad_date: u32,
    /// `2400`-`2455`, minutes not a multiple of 5 (`0007`), minutes `60`, or five digits (`10005`).
    pub bad_time: u32,
    /// `abc`, `-5`, `301`, `1e3`, `NaN`.
    pub bad_speed: u32,
    /// `x`, `-3`, `1.5`.
    pub bad_travel_time: u32,
}

impl Default for Malformed {
    fn default() -> Self {
        Malformed { field_count: 2, bad_link_id: 2, bad_date: 1, bad_time: 1, bad_speed: 2, bad_travel_time: 1 }
    }
}

impl Malformed {
    pub fn none() -> Self {
        Malformed { field_count: 0, bad_link_id: 0, bad_date: 0, bad_time: 0, bad_speed: 0, bad_travel_time: 0 }
    }

    pub fn total(&self) -> u64 {
        [self.field_count, self.bad_link_id, self.bad_date, self.bad_time, self.bad_speed, self.bad_travel_time]
            .iter()
            .map(|&n| u64::from(n))
            .sum()
    }
}

/// What one generated file holds. "Valid rows" are all data rows except malformed and stray ones
/// (they include empty-speed, duplicate and unpadded-time rows); the `*_rows` quirk counts below
/// count valid rows only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub path: PathBuf,
    pub plain_copy: Option<PathBuf>,
    /// `YYYYMMDD`
    pub date: String,
    pub variant: Variant,
    pub container: Container,
    pub links: u32,
    /// Whether the first line is the (BOM-prefixed) header.
    pub header: bool,
    /// Physical lines, header included.
    pub lines: u64,
    /// Lines except the header: `links * 288 + duplicate_rows + stray_rows + malformed_rows`.
    pub data_rows: u64,
    /// Size of the CSV (BOM and header included).
    pub uncompressed_bytes: u64,
    /// Size of the file written.
    pub compressed_bytes: u64,
    pub empty_speed_rows: u64,
    /// Repeated rows (the extra occurrences; the first occurrence is not counted).
    pub duplicate_rows: u64,
    /// Those of `duplicate_rows` whose speed differs from the first occurrence's.
    pub duplicate_rows_different_speed: u64,
    pub stray_rows: u64,
    pub unpadded_time_rows: u64,
    pub travel_time_rows: u64,
    pub agency_rows: u64,
    pub zero_speed_links: u32,
    pub constant_speed_links: u32,
    pub malformed: Malformed,
    pub malformed_rows: u64,
    /// `data_rows - malformed_rows - stray_rows`.
    pub valid_rows: u64,
    /// Distinct (time, link) slots holding a speed once the first sample wins:
    /// `links * 288 - empty_speed_rows` (duplicates never repeat an empty-speed row).
    pub samples: u64,
    /// Written only when not the default ([`SpeedModel::Noise`]).
    #[serde(default, skip_serializing_if = "SpeedModel::is_noise")]
    pub speed_model: SpeedModel,
}

/// Writes `cfg.days` daily files into `out_dir` (created if missing), one [`Manifest`] each.
pub fn generate(cfg: &GenConfig, out_dir: &Path) -> io::Result<Vec<Manifest>> {
    generate_with(cfg, SpeedModel::Noise, out_dir)
}

/// [`generate`] with speeds and travel times drawn by `model`.
pub fn generate_with(cfg: &GenConfig, model: SpeedModel, out_dir: &Path) -> io::Result<Vec<Manifest>> {
    let first = cfg.start.days_since_epoch();
    (0..i64::from(cfg.days))
        .map(|offset| generate_day_with(cfg, model, Date::from_days_since_epoch(first + offset), out_dir))
        .collect()
}

/// Writes the file for one `date` (`cfg.start` and `cfg.days` are ignored). The file appears
/// under its final name only once complete.
pub fn generate_day(cfg: &GenConfig, date: Date, out_dir: &Path) -> io::Result<Manifest> {
    generate_day_with(cfg, SpeedModel::Noise, date, out_dir)
}

/// [`generate_day`] with speeds and travel times drawn by `model`.
pub fn generate_day_with(cfg: &GenConfig, model: SpeedModel, date: Date, out_dir: &Path) -> io::Result<Manifest> {
    validate(cfg)?;
    fs::create_dir_all(out_dir)?;
    let network = build_network(cfg, model);
    DayWriter::new(cfg, model, &network, date)?.run(out_dir)
}

/// The link ids `generate` uses for `links` and `seed`: distinct, 10 digits, ascending.
pub fn link_ids(links: u32, seed: u64) -> Vec<u64> {
    link_ids_from(&mut network_rng(seed), links)
}

fn validate(cfg: &GenConfig) -> io::Result<()> {
    let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    if cfg.links == 0 || cfg.links > MAX_LINKS {
        return invalid(format!("links must be in 1..={MAX_LINKS}, got {}", cfg.links));
    }
    let q = &cfg.quirks;
    let rates = [
        ("empty_speed_per_mille", q.empty_speed_per_mille),
        ("duplicate_per_mille", q.duplicate_per_mille),
        ("unpadded_time_per_mille", q.unpadded_time_per_mille),
        ("travel_time_per_mille", q.travel_time_per_mille),
        ("agency_per_mille", q.agency_per_mille),
        ("zero_links_per_mille + constant_links_per_mille", q.zero_links_per_mille + q.constant_links_per_mille),
    ];
    for (name, rate) in rates {
        if rate > 1000 {
            return invalid(format!("{name} must be at most 1000, got {rate}"));
        }
    }
    Ok(())
}

/// SplitMix64 finaliser: spreads seeds that differ in few bits.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The network is the same every day; only the rows vary with the date.
fn network_rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(mix(seed ^ 0x4E45_5457_4F52_4B00))
}

fn day_rng(seed: u64, date: Date) -> SmallRng {
    SmallRng::seed_from_u64(mix(seed) ^ mix(date.days_since_epoch() as u64 ^ 0x4441_5900))
}

fn link_ids_from(rng: &mut SmallRng, links: u32) -> Vec<u64> {
    let total_weight: u64 = REGIONS.iter().map(|&(_, w)| u64::from(w)).sum();
    let mut counts: Vec<u32> = REGIONS
        .iter()
        .map(|&(_, w)| (u64::from(links) * u64::from(w) / total_weight).min(u64::from(SERIALS_PER_REGION)) as u32)
        .collect();
    let mut rest = links - counts.iter().sum::<u32>();
    let mut region = 0;
    while rest > 0 {
        if counts[region] < SERIALS_PER_REGION {
            counts[region] += 1;
            rest -= 1;
        }
        region = (region + 1) % REGIONS.len();
    }
    let mut ids = Vec::with_capacity(links as usize);
    for (&(code, _), &count) in REGIONS.iter().zip(&counts) {
        let mut picks = rand::seq::index::sample(rng, SERIALS_PER_REGION as usize, count as usize).into_vec();
        picks.sort_unstable();
        // Regions ascend and serials are monotone in the pick, so ids come out sorted.
        ids.extend(picks.into_iter().map(|v| {
            let v = v as u64;
            u64::from(code) * 10_000_000 + (v / 10) * 100 + v % 10
        }));
    }
    ids
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Normal,
    /// Speed `0` all day ("default fill").
    Zero,
    /// This speed (half km/h) all day.
    Constant(u16),
}

struct Link {
    id: [u8; 10],
    kind: Kind,
    free_flow: f32,
    /// Slowdown over the whole daytime, and in the morning and evening peaks (fractions).
    day_load: f32,
    am_peak: f32,
    pm_peak: f32,
    /// Amplitude of the per-interval noise, km/h.
    noise: f32,
    length_m: f32,
    agency: &'static [u8],
    /// [`SpeedModel::RealLike`]: whether the link reports travel times (on every row with a speed).
    reports_travel_time: bool,
    /// [`SpeedModel::RealLike`]: bound of the random walk, in half km/h.
    walk_max: i16,
}

fn build_network(cfg: &GenConfig, model: SpeedModel) -> Vec<Link> {
    let mut rng = network_rng(cfg.seed);
    // The real-like model's per-link draws come from a stream of their own, so that the network
    // (ids, classes, quirks) is the same in every model.
    let mut real_rng = SmallRng::seed_from_u64(mix(cfg.seed ^ 0x5245_414C_4C49_4B45));
    let ids = link_ids_from(&mut rng, cfg.links);
    let q = &cfg.quirks;
    ids.into_iter()
        .map(|id| {
            // Draw every value whatever the branch, so quirk rates never reshuffle the others.
            let class = rng.random_range(0..100u32);
            let u: [f32; 6] = std::array::from_fn(|_| rng.random::<f32>());
            let kind_pick = rng.random_range(0..1000u32);
            let agency_pick = rng.random_range(0..1000u32);
            let agency_code = AGENCIES[rng.random_range(0..AGENCIES.len())];
            let lerp = |i: usize, lo: f32, hi: f32| lo + (hi - lo) * u[i];
            let (free_flow, day_load, am_peak, pm_peak, noise, length_m) = match class {
                // Expressways and urban motorways.
                0..15 => (
                    lerp(0, 80.0, 110.0),
                    lerp(1, 0.0, 0.05),
                    lerp(2, 0.05, 0.4),
                    lerp(3, 0.05, 0.45),
                    lerp(4, 2.0, 4.0),
                    lerp(5, 500.0, 3000.0),
                ),
                // Arterials.
                15..65 => (
                    lerp(0, 40.0, 75.0),
                    lerp(1, 0.1, 0.25),
                    lerp(2, 0.2, 0.55),
                    lerp(3, 0.25, 0.6),
                    lerp(4, 1.5, 3.0),
                    lerp(5, 200.0, 1500.0),
                ),
                // Local streets.
                _ => (
                    lerp(0, 15.0, 45.0),
                    lerp(1, 0.05, 0.2),
                    lerp(2, 0.1, 0.4),
                    lerp(3, 0.1, 0.45),
                    lerp(4, 1.0, 2.5),
                    lerp(5, 50.0, 800.0),
                ),
            };
            let kind = if kind_pick < q.zero_links_per_mille {
                Kind::Zero
            } else if kind_pick < q.zero_links_per_mille + q.constant_links_per_mille {
                // Fill values tend to be round: the free-flow speed to the nearest 5 km/h.
                Kind::Constant(((free_flow / 5.0).round() * 10.0) as u16)
            } else {
                Kind::Normal
            };
            let mut text = [0u8; 10];
            let mut rest = id;
            for byte in text.iter_mut().rev() {
                *byte = b'0' + (rest % 10) as u8;
                rest /= 10;
            }
            let (reports_travel_time, walk_max) = match model {
                SpeedModel::Noise => (false, 0),
                SpeedModel::RealLike => {
                    let tt_pick = real_rng.random_range(0..1000u32);
                    // A walk of up to twice the noise model's amplitude: 2-8 km/h.
                    (tt_pick < q.travel_time_per_mille, (noise * 4.0).round() as i16)
                }
            };
            Link {
                id: text,
                kind,
                free_flow,
                day_load,
                am_peak,
                pm_peak,
                noise,
                length_m,
                agency: if agency_pick < q.agency_per_mille { agency_code } else { b"" },
                reports_travel_time,
                walk_max,
            }
        })
        .collect()
}

/// Per-interval shape of the day's congestion (0..=1 each).
struct Profile {
    day: Vec<f32>,
    am: Vec<f32>,
    pm: Vec<f32>,
}

impl Profile {
    fn new(date: Date) -> Profile {
        // 1970-01-01 was a Thursday; 0 = Sunday.
        let weekday = (date.days_since_epoch() + 4).rem_euclid(7);
        let (peak, load) = match weekday {
            0 => (0.25, 0.7),
            6 => (0.4, 0.85),
            _ => (1.0, 1.0),
        };
        let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
        let bump = |h: f32, centre: f32, width: f32| (-0.5 * ((h - centre) / width).powi(2)).exp();
        let hours: Vec<f32> = (0..INTERVALS_PER_DAY).map(|t| (t as f32 * 5.0 + 2.5) / 60.0).collect();
        Profile {
            day: hours.iter().map(|&h| load * (sigmoid(2.0 * (h - 6.5)) - sigmoid(1.5 * (h - 22.5)))).collect(),
            am: hours.iter().map(|&h| peak * bump(h, 8.0, 0.75)).collect(),
            pm: hours.iter().map(|&h| peak * bump(h, 18.0, 1.0)).collect(),
        }
    }

    /// [`SpeedModel::RealLike`]: speed in half km/h, the smooth profile plus the walk's `walk`.
    fn drifting_speed(&self, link: &Link, slot: usize, walk: i16) -> u16 {
        match link.kind {
            Kind::Zero => 0,
            Kind::Constant(half) => half,
            Kind::Normal => {
                let slow = link.day_load * self.day[slot] + link.am_peak * self.am[slot] + link.pm_peak * self.pm[slot];
                let smooth = (link.free_flow * (1.0 - slow).max(0.1) * 2.0).round() as i32;
                (smooth + i32::from(walk)).clamp(0, (MAX_SPEED_KMH * 2) as i32) as u16
            }
        }
    }

    /// Speed in half km/h; `lane` is 16 random bits for the noise.
    fn speed(&self, link: &Link, slot: usize, lane: u16) -> u16 {
        match link.kind {
            Kind::Zero => 0,
            Kind::Constant(half) => half,
            Kind::Normal => {
                let slow = link.day_load * self.day[slot] + link.am_peak * self.am[slot] + link.pm_peak * self.pm[slot];
                let noise = (f32::from(lane) / 32_767.5 - 1.0) * link.noise;
                let kmh = link.free_flow * (1.0 - slow).max(0.1) + noise;
                (kmh * 2.0).round().clamp(0.0, (MAX_SPEED_KMH * 2) as f32) as u16
            }
        }
    }
}

/// One 5-minute step of a link's random walk (half km/h), from 16 random bits: -1, 0 or +1,
/// pulled back towards 0 the further it is, and never beyond `walk_max`.
fn walk_step(walk: i16, walk_max: i16, lane: u16) -> i16 {
    if walk_max <= 0 {
        return 0;
    }
    // P(down) = 1/4 + 1/4 * walk / walk_max, P(up) = 1/4 - 1/4 * walk / walk_max.
    let u = i32::from(lane);
    let pull = 16_384 * i32::from(walk) / i32::from(walk_max);
    let down = 16_384 + pull;
    let up = 16_384 - pull;
    let next = if u < down {
        walk - 1
    } else if u < down + up {
        walk + 1
    } else {
        walk
    };
    next.clamp(-walk_max, walk_max)
}

fn travel_time(link: &Link, half_kmh: u16) -> u32 {
    let metres_per_second = f32::from(half_kmh) / 2.0 / 3.6;
    (link.length_m / metres_per_second).round().clamp(1.0, 3600.0) as u32
}

/// Probability `per_mille / 1000` as a bound on 16 random bits.
fn threshold(per_mille: u32) -> u32 {
    per_mille * 65_536 / 1000
}

fn lane(bits: u64, index: u32) -> u16 {
    (bits >> (16 * index)) as u16
}

#[derive(Clone, Copy, Debug)]
enum Category {
    FieldCount,
    BadLinkId,
    BadDate,
    BadTime,
    BadSpeed,
    BadTravelTime,
}

/// A malformed line to write after main row `after`.
struct BrokenLine {
    after: u64,
    category: Category,
    variant: u32,
}

/// A duplicate to write after main row `due`; always padded, speed always present.
struct Repeat {
    due: u64,
    slot: u16,
    link: u32,
    speed: u16,
    travel_time: u32,
}

enum Sink {
    Zip(Box<ZipWriter<BufWriter<File>>>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
    Plain(BufWriter<File>),
}

impl Sink {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Zip(w) => w.write_all(bytes),
            Sink::Gzip(w) => w.write_all(bytes),
            Sink::Zstd(w) => w.write_all(bytes),
            Sink::Plain(w) => w.write_all(bytes),
        }
    }

    fn finish(self) -> io::Result<()> {
        let inner = match self {
            Sink::Zip(w) => w.finish().map_err(io::Error::from)?,
            Sink::Gzip(w) => w.finish()?,
            Sink::Zstd(w) => w.finish()?,
            Sink::Plain(w) => w,
        };
        inner.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    }
}

/// Buffered CSV output: rows are formatted into `buf` and handed over a chunk at a time.
struct Out {
    buf: Vec<u8>,
    sink: Sink,
    plain: Option<BufWriter<File>>,
    bytes: u64,
    lines: u64,
}

impl Out {
    #[inline]
    fn end_line(&mut self) -> io::Result<()> {
        self.lines += 1;
        if self.buf.len() >= CHUNK {
            self.flush_chunk()?;
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> io::Result<()> {
        self.sink.write_all(&self.buf)?;
        if let Some(plain) = &mut self.plain {
            plain.write_all(&self.buf)?;
        }
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Flushes and closes everything; returns the CSV's size.
    fn finish(mut self) -> io::Result<u64> {
        self.flush_chunk()?;
        self.sink.finish()?;
        if let Some(plain) = self.plain {
            plain.into_inner().map_err(|e| e.into_error())?;
        }
        Ok(self.bytes)
    }
}

/// Text of a speed in half km/h, precomputed: `35`, `25.5`.
struct SpeedTexts(Vec<([u8; 5], u8)>);

impl SpeedTexts {
    fn new() -> SpeedTexts {
        SpeedTexts(
            (0..=MAX_SPEED_KMH * 2)
                .map(|half| {
                    let text = if half % 2 == 0 { format!("{}", half / 2) } else { format!("{}.5", half / 2) };
                    let mut bytes = [0u8; 5];
                    bytes[..text.len()].copy_from_slice(text.as_bytes());
                    (bytes, text.len() as u8)
                })
                .collect(),
        )
    }

    #[inline]
    fn get(&self, half: u16) -> &[u8] {
        let (bytes, len) = &self.0[usize::from(half)];
        &bytes[..usize::from(*len)]
    }
}

fn push_u32(buf: &mut Vec<u8>, mut value: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

/// Writes one day's file.
struct DayWriter<'a> {
    cfg: &'a GenConfig,
    model: SpeedModel,
    links: &'a [Link],
    /// [`SpeedModel::RealLike`]: each link's random walk (half km/h), carried from slot to slot.
    walks: Vec<i16>,
    date: Date,
    rng: SmallRng,
    profile: Profile,
    speeds: SpeedTexts,
    /// `YYYYMMDD` of the file and of the day before.
    date_text: [u8; 8],
    prev_text: [u8; 8],
    /// `HHMM` per slot, and the unpadded form.
    padded: Vec<[u8; 4]>,
    unpadded: Vec<Vec<u8>>,
    eol: &'static [u8],
}

impl<'a> DayWriter<'a> {
    fn new(cfg: &'a GenConfig, model: SpeedModel, links: &'a [Link], date: Date) -> io::Result<DayWriter<'a>> {
        let eight = |d: Date| -> [u8; 8] { d.yyyymmdd().as_bytes().try_into().expect("4-digit year") };
        if !(0..=9999).contains(&date.year) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("year out of range: {date}")));
        }
        let minutes = |slot: u32| (slot / 12) * 100 + (slot % 12) * 5;
        // The walks start the day anywhere in the middle half of their range, so a link's speed
        // at a given time differs a little from day to day.
        let day_key = mix(cfg.seed ^ 0x5741_4C4B) ^ mix(date.days_since_epoch() as u64);
        let walks = match model {
            SpeedModel::Noise => Vec::new(),
            SpeedModel::RealLike => links
                .iter()
                .enumerate()
                .map(|(i, link)| {
                    let span = i64::from(link.walk_max);
                    let r = (mix(day_key ^ i as u64) % (span + 1).max(1) as u64) as i64;
                    (r - span / 2) as i16
                })
                .collect(),
        };
        Ok(DayWriter {
            cfg,
            model,
            links,
            walks,
            date,
            rng: day_rng(cfg.seed, date),
            profile: Profile::new(date),
            speeds: SpeedTexts::new(),
            date_text: eight(date),
            prev_text: eight(Date::from_days_since_epoch(date.days_since_epoch() - 1)),
            padded: (0..INTERVALS_PER_DAY)
                .map(|s| format!("{:04}", minutes(s)).as_bytes().try_into().expect("4 digits"))
                .collect(),
            unpadded: (0..INTERVALS_PER_DAY).map(|s| minutes(s).to_string().into_bytes()).collect(),
            eol: cfg.variant.line_ending(),
        })
    }

    fn row(&self, buf: &mut Vec<u8>, date: &[u8], time: &[u8], link: &Link, speed: Option<u16>, travel_time: u32) {
        buf.extend_from_slice(date);
        buf.push(b',');
        buf.extend_from_slice(time);
        buf.push(b',');
        buf.extend_from_slice(&link.id);
        buf.push(b',');
        buf.extend_from_slice(link.agency);
        buf.push(b',');
        if let Some(half) = speed {
            buf.extend_from_slice(self.speeds.get(half));
        }
        buf.push(b',');
        push_u32(buf, travel_time);
        buf.extend_from_slice(self.eol);
    }

    fn run(mut self, out_dir: &Path) -> io::Result<Manifest> {
        let cfg = self.cfg;
        let q = &cfg.quirks;
        let name = cfg.container.file_name(self.date);
        let path = out_dir.join(&name);
        let partial = out_dir.join(format!(".{name}.partial"));
        let plain_path = cfg.plain_copy.then(|| out_dir.join(plain_copy_name(self.date)));
        let plain_partial =
            plain_path.as_ref().map(|_| out_dir.join(format!(".{}.partial", plain_copy_name(self.date))));

        let mut out = Out {
            buf: Vec::with_capacity(CHUNK + 256),
            sink: open_sink(cfg, self.date, &partial)?,
            plain: plain_partial.as_ref().map(File::create).transpose()?.map(BufWriter::new),
            bytes: 0,
            lines: 0,
        };
        let mut m = Manifest {
            path: path.clone(),
            plain_copy: plain_path.clone(),
            date: self.date.yyyymmdd(),
            variant: cfg.variant,
            container: cfg.container,
            links: cfg.links,
            header: cfg.variant.has_header(),
            lines: 0,
            data_rows: 0,
            uncompressed_bytes: 0,
            compressed_bytes: 0,
            empty_speed_rows: 0,
            duplicate_rows: 0,
            duplicate_rows_different_speed: 0,
            stray_rows: 0,
            unpadded_time_rows: 0,
            travel_time_rows: 0,
            agency_rows: 0,
            zero_speed_links: self.links.iter().filter(|l| l.kind == Kind::Zero).count() as u32,
            constant_speed_links: self.links.iter().filter(|l| matches!(l.kind, Kind::Constant(_))).count() as u32,
            malformed: q.malformed,
            malformed_rows: q.malformed.total(),
            valid_rows: 0,
            samples: 0,
            speed_model: self.model,
        };

        if cfg.variant.has_header() {
            out.buf.extend_from_slice(UTF8_BOM);
            out.buf.extend_from_slice(HEADER_2025.as_bytes());
            out.buf.extend_from_slice(self.eol);
            out.end_line()?;
        }
        m.stray_rows = self.write_strays(&mut out)?;
        let broken = self.plan_malformed();
        let (main_rows, repeats) = self.write_main(&mut out, &broken, &mut m)?;

        m.lines = out.lines;
        m.data_rows = main_rows + repeats + m.stray_rows + m.malformed_rows;
        m.valid_rows = main_rows + repeats;
        m.samples = main_rows - m.empty_speed_rows;
        m.uncompressed_bytes = out.finish()?;
        m.compressed_bytes = fs::metadata(&partial)?.len();
        fs::rename(&partial, &path)?;
        if let (Some(from), Some(to)) = (&plain_partial, &plain_path) {
            fs::rename(from, to)?;
        }
        Ok(m)
    }

    /// Rows of the previous day's last intervals, sorted, before everything else.
    fn write_strays(&mut self, out: &mut Out) -> io::Result<u64> {
        let n_links = self.links.len();
        let mut left = self.cfg.quirks.stray_rows as usize;
        let mut blocks = Vec::new();
        let mut slot = INTERVALS_PER_DAY as usize - 1;
        while left > 0 {
            let take = left.min(n_links);
            let mut picks = rand::seq::index::sample(&mut self.rng, n_links, take).into_vec();
            picks.sort_unstable();
            blocks.push((slot, picks));
            left -= take;
            slot = slot.saturating_sub(1);
        }
        let mut written = 0;
        let prev = self.prev_text;
        for (slot, picks) in blocks.into_iter().rev() {
            for index in picks {
                let link = &self.links[index];
                let bits = self.rng.next_u64() as u16;
                let speed = match self.model {
                    SpeedModel::Noise => self.profile.speed(link, slot, bits),
                    SpeedModel::RealLike => self.profile.drifting_speed(link, slot, 0),
                };
                self.row(&mut out.buf, &prev, &self.padded[slot], link, Some(speed), 0);
                out.end_line()?;
                written += 1;
            }
        }
        Ok(written)
    }

    /// Which broken lines go where: after a uniformly chosen main row, so never first.
    fn plan_malformed(&mut self) -> Vec<BrokenLine> {
        let m = self.cfg.quirks.malformed;
        let main_rows = u64::from(INTERVALS_PER_DAY) * self.links.len() as u64;
        let plan = [
            (Category::FieldCount, m.field_count, 2),
            (Category::BadLinkId, m.bad_link_id, 3),
            (Category::BadDate, m.bad_date, 5),
            (Category::BadTime, m.bad_time, 4),
            (Category::BadSpeed, m.bad_speed, 5),
            (Category::BadTravelTime, m.bad_travel_time, 3),
        ];
        let mut lines = Vec::new();
        for (category, count, variants) in plan {
            // Cycle through the forms from a random one, so small counts still vary.
            let offset = self.rng.random_range(0..variants);
            for i in 0..count {
                let variant = (i + offset) % variants;
                lines.push(BrokenLine { after: self.rng.random_range(0..main_rows), category, variant });
            }
        }
        lines.sort_by_key(|line| line.after);
        lines
    }

    /// The sorted body with the per-row quirks; returns (main rows, repeats).
    fn write_main(&mut self, out: &mut Out, broken: &[BrokenLine], m: &mut Manifest) -> io::Result<(u64, u64)> {
        let q = &self.cfg.quirks;
        let links = self.links;
        let (t_empty, t_dup, t_unpad, t_tt) = (
            threshold(q.empty_speed_per_mille),
            threshold(q.duplicate_per_mille),
            threshold(q.unpadded_time_per_mille),
            threshold(q.travel_time_per_mille),
        );
        let max_distance = u64::from(MAX_REPEAT_DISTANCE.min(self.links.len() as u32));
        let date = self.date_text;
        let mut pending: Vec<Repeat> = Vec::new();
        let mut next_due = u64::MAX;
        let mut next_broken = 0;
        let mut row_index = 0u64;
        let mut repeats = 0u64;

        for slot in 0..INTERVALS_PER_DAY as usize {
            // Unpadded differs from padded only before 10:00.
            let can_unpad = slot < 120;
            for (link_index, link) in links.iter().enumerate() {
                let bits = self.rng.next_u64();
                let tt_bits = self.rng.next_u64();
                let (speed, reports_tt) = match self.model {
                    SpeedModel::Noise => {
                        (self.profile.speed(link, slot, lane(bits, 0)), u32::from(lane(tt_bits, 0)) < t_tt)
                    }
                    SpeedModel::RealLike => {
                        let walk = &mut self.walks[link_index];
                        if slot > 0 {
                            *walk = walk_step(*walk, link.walk_max, lane(bits, 0));
                        }
                        (self.profile.drifting_speed(link, slot, *walk), link.reports_travel_time)
                    }
                };
                let normal = link.kind == Kind::Normal;
                let empty = normal && u32::from(lane(bits, 1)) < t_empty;
                let dup = normal && !empty && u32::from(lane(bits, 2)) < t_dup;
                let unpad = can_unpad && !dup && u32::from(lane(bits, 3)) < t_unpad;
                let tt = if !empty && speed > 0 && reports_tt { travel_time(link, speed) } else { 0 };
                let time: &[u8] = if unpad { &self.unpadded[slot] } else { &self.padded[slot] };
                self.row(&mut out.buf, &date, time, link, (!empty).then_some(speed), tt);
                out.end_line()?;
                m.empty_speed_rows += u64::from(empty);
                m.unpadded_time_rows += u64::from(unpad);
                m.travel_time_rows += u64::from(tt > 0);
                m.agency_rows += u64::from(!link.agency.is_empty());

                if dup {
                    let due = row_index + self.rng.random_range(1..=max_distance);
                    // Every second repeat differs, so "first sample wins" is observable.
                    let repeat_speed = if repeats % 2 == 1 {
                        let delta = self.rng.random_range(1..=20u16);
                        if speed + delta <= (MAX_SPEED_KMH * 2) as u16 {
                            speed + delta
                        } else {
                            speed - delta
                        }
                    } else {
                        speed
                    };
                    m.duplicate_rows_different_speed += u64::from(repeat_speed != speed);
                    pending.push(Repeat {
                        due,
                        slot: slot as u16,
                        link: link_index as u32,
                        speed: repeat_speed,
                        travel_time: tt,
                    });
                    next_due = next_due.min(due);
                    repeats += 1;
                }
                if row_index == next_due {
                    next_due = self.write_repeats(out, &mut pending, Some(row_index), m)?;
                }
                while next_broken < broken.len() && broken[next_broken].after == row_index {
                    self.write_broken(out, &broken[next_broken], slot, link, speed)?;
                    next_broken += 1;
                }
                row_index += 1;
            }
        }
        self.write_repeats(out, &mut pending, None, m)?;
        m.duplicate_rows = repeats;
        Ok((row_index, repeats))
    }

    /// Writes the repeats due at `now` (all of them if `None`), in scheduling order; returns the
    /// next due index.
    fn write_repeats(
        &self,
        out: &mut Out,
        pending: &mut Vec<Repeat>,
        now: Option<u64>,
        m: &mut Manifest,
    ) -> io::Result<u64> {
        if now.is_none() {
            pending.sort_by_key(|r| r.due);
        }
        let mut kept = Vec::with_capacity(pending.len());
        for repeat in pending.drain(..) {
            if now.is_some_and(|now| repeat.due != now) {
                kept.push(repeat);
                continue;
            }
            let link = &self.links[repeat.link as usize];
            self.row(
                &mut out.buf,
                &self.date_text,
                &self.padded[usize::from(repeat.slot)],
                link,
                Some(repeat.speed),
                repeat.travel_time,
            );
            out.end_line()?;
            m.travel_time_rows += u64::from(repeat.travel_time > 0);
            m.agency_rows += u64::from(!link.agency.is_empty());
        }
        *pending = kept;
        Ok(pending.iter().map(|r| r.due).min().unwrap_or(u64::MAX))
    }

    /// One broken line modelled on the row just written; only the named field is wrong.
    fn write_broken(&self, out: &mut Out, line: &BrokenLine, slot: usize, link: &Link, speed: u16) -> io::Result<()> {
        let date = String::from_utf8_lossy(&self.date_text).into_owned();
        let time = String::from_utf8_lossy(&self.padded[slot]).into_owned();
        let id = String::from_utf8_lossy(&link.id).into_owned();
        let speed = String::from_utf8_lossy(self.speeds.get(speed.max(2))).into_owned();
        let (hour, minute) = (slot / 12, (slot % 12) * 5);
        let v = line.variant;
        let text = match line.category {
            Category::FieldCount if v == 0 => format!("{date},{time},{id},,{speed}"),
            Category::FieldCount => format!("{date},{time},{id},,{speed},0,0"),
            Category::BadLinkId => {
                let bad = match v {
                    0 => format!("{}A{}", &id[..5], &id[6..]),
                    1 => "LINK".to_string(),
                    _ => "1.000E+09".to_string(),
                };
                format!("{date},{time},{bad},,{speed},0")
            }
            Category::BadDate => {
                let (year, month) = (&date[..4], &date[4..6]);
                let bad = match v {
                    0 => format!("{year}0230"),
                    1 => format!("{year}1301"),
                    2 => format!("{year}{month}32"),
                    3 => format!("{year}0015"),
                    _ => format!("{year}{month}00"),
                };
                format!("{bad},{time},{id},,{speed},0")
            }
            Category::BadTime => {
                let bad = match v {
                    0 => format!("24{minute:02}"),
                    1 => format!("{hour:02}{:02}", minute + 1 + slot % 4),
                    2 => format!("{hour:02}60"),
                    _ => format!("1{time}"),
                };
                format!("{date},{bad},{id},,{speed},0")
            }
            Category::BadSpeed => {
                let bad = ["abc", "-5", "301", "1e3", "NaN"][v as usize % 5];
                format!("{date},{time},{id},,{bad},0")
            }
            Category::BadTravelTime => {
                let bad = ["x", "-3", "1.5"][v as usize % 3];
                format!("{date},{time},{id},,{speed},{bad}")
            }
        };
        out.buf.extend_from_slice(text.as_bytes());
        out.buf.extend_from_slice(self.eol);
        out.end_line()
    }
}

fn open_sink(cfg: &GenConfig, date: Date, path: &Path) -> io::Result<Sink> {
    let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let deflate_level = cfg.compression_level.clamp(1, 9);
    Ok(match cfg.container {
        Container::Zip => {
            // A fixed timestamp keeps the bytes reproducible.
            let stamp = u16::try_from(date.year)
                .ok()
                .and_then(|y| DateTime::from_date_and_time(y, date.month as u8, date.day as u8, 0, 0, 0).ok())
                .unwrap_or_default();
            let options = SimpleFileOptions::default()
                .compression_method(CompressionMethod::Deflated)
                .compression_level(Some(i64::from(deflate_level)))
                .large_file(true)
                .unix_permissions(0o644)
                .last_modified_time(stamp);
            let mut zip = ZipWriter::new(file);
            zip.start_file(csv_name(date), options).map_err(io::Error::from)?;
            Sink::Zip(Box::new(zip))
        }
        Container::Gzip => {
            Sink::Gzip(GzBuilder::new().filename(csv_name(date)).write(file, Compression::new(deflate_level)))
        }
        Container::Zstd => {
            let mut encoder = zstd::Encoder::new(file, cfg.compression_level.clamp(1, 19) as i32)?;
            encoder.include_checksum(true)?;
            Sink::Zstd(encoder)
        }
        Container::Plain => Sink::Plain(file),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Read;

    use super::*;

    /// A data line as judged by checks written independently of the generator.
    #[derive(Debug, PartialEq)]
    enum Line {
        Valid { slot: u32, link: u64, speed: Option<String>, travel_time: u32, agency: bool, unpadded: bool },
        Stray { date: String },
        Bad(&'static str),
    }

    fn is_digits(text: &str) -> bool {
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
    }

    fn date_ok(text: &str) -> bool {
        if text.len() != 8 || !is_digits(text) {
            return false;
        }
        let (y, m, d): (u32, u32, u32) =
            (text[..4].parse().unwrap(), text[4..6].parse().unwrap(), text[6..].parse().unwrap());
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        (1..=12).contains(&m) && d >= 1 && d <= days[m as usize - 1]
    }

    fn time_slot(text: &str) -> Option<u32> {
        if text.len() > 4 || !is_digits(text) {
            return None;
        }
        let value: u32 = text.parse().unwrap();
        let (h, m) = (value / 100, value % 100);
        (h < 24 && m < 60 && m % 5 == 0).then_some(h * 12 + m / 5)
    }

    fn speed_ok(text: &str) -> bool {
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        text.is_empty()
            || (is_digits(whole)
                && (frac.is_empty() || (frac.len() == 1 && is_digits(frac)))
                && whole.parse::<u32>().unwrap() <= 300)
    }

    fn classify(line: &str, file_date: &str) -> Line {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 6 {
            return Line::Bad("field_count");
        }
        let mut failures = Vec::new();
        if !date_ok(f[0]) {
            failures.push("bad_date");
        }
        if time_slot(f[1]).is_none() {
            failures.push("bad_time");
        }
        if f[2].len() != 10 || !is_digits(f[2]) {
            failures.push("bad_link_id");
        }
        if !speed_ok(f[4]) {
            failures.push("bad_speed");
        }
        if !is_digits(f[5]) {
            failures.push("bad_travel_time");
        }
        assert!(f[3].is_empty() || is_digits(f[3]), "agency code broken: {line}");
        assert!(failures.len() <= 1, "line breaks more than one rule: {line} {failures:?}");
        if let Some(&failure) = failures.first() {
            return Line::Bad(failure);
        }
        if f[0] != file_date {
            return Line::Stray { date: f[0].to_string() };
        }
        Line::Valid {
            slot: time_slot(f[1]).unwrap(),
            link: f[2].parse().unwrap(),
            speed: (!f[4].is_empty()).then(|| f[4].to_string()),
            travel_time: f[5].parse().unwrap(),
            agency: !f[3].is_empty(),
            unpadded: f[1].len() != 4,
        }
    }

    /// Data lines of a plain CSV, after checking BOM, header and line endings for the variant.
    fn data_lines(bytes: &[u8], variant: Variant) -> Vec<String> {
        let text = std::str::from_utf8(bytes).expect("ASCII");
        assert!(text.ends_with('\n'));
        let body = match variant {
            Variant::Y2023 => {
                assert!(!text.contains('\r'));
                assert!(text.as_bytes()[0].is_ascii_digit());
                text
            }
            Variant::Y2025 => {
                let prefix = format!("\u{feff}{HEADER_2025}\r\n");
                assert!(text.starts_with(&prefix));
                assert_eq!(text.matches('\n').count(), text.matches("\r\n").count(), "bare LF");
                assert_eq!(text.matches('\r').count(), text.matches("\r\n").count(), "bare CR");
                &text[prefix.len()..]
            }
        };
        body.lines().map(str::to_string).collect()
    }

    fn small(links: u32) -> GenConfig {
        GenConfig { links, container: Container::Plain, plain_copy: true, compression_level: 1, ..GenConfig::default() }
    }

    fn busy_quirks() -> Quirks {
        Quirks {
            empty_speed_per_mille: 20,
            duplicate_per_mille: 10,
            stray_rows: 7,
            unpadded_time_per_mille: 30,
            travel_time_per_mille: 30,
            agency_per_mille: 200,
            zero_links_per_mille: 20,
            constant_links_per_mille: 20,
            malformed: Malformed {
                field_count: 3,
                bad_link_id: 3,
                bad_date: 5,
                bad_time: 4,
                bad_speed: 5,
                bad_travel_time: 3,
            },
        }
    }

    fn read(path: &Path) -> Vec<u8> {
        fs::read(path).unwrap()
    }

    #[test]
    fn same_config_gives_identical_bytes() {
        let cfg = GenConfig { links: 200, days: 2, plain_copy: true, compression_level: 1, ..GenConfig::default() };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ma = generate(&cfg, a.path()).unwrap();
        let mb = generate(&cfg, b.path()).unwrap();
        assert_eq!(ma.len(), 2);
        for (x, y) in ma.iter().zip(&mb) {
            assert_eq!(read(&x.path), read(&y.path));
            assert_eq!(read(x.plain_copy.as_ref().unwrap()), read(y.plain_copy.as_ref().unwrap()));
            assert_eq!(Manifest { path: y.path.clone(), plain_copy: y.plain_copy.clone(), ..x.clone() }, *y);
        }
        // Days differ from each other, and another seed gives another file.
        assert_ne!(read(ma[0].plain_copy.as_ref().unwrap()), read(ma[1].plain_copy.as_ref().unwrap()));
        let c = tempfile::tempdir().unwrap();
        let other = generate_day(&GenConfig { seed: 43, ..cfg.clone() }, cfg.start, c.path()).unwrap();
        assert_ne!(read(other.plain_copy.as_ref().unwrap()), read(ma[0].plain_copy.as_ref().unwrap()));
        // The network is the seed's, whatever the day.
        assert_eq!(ma[0].zero_speed_links, ma[1].zero_speed_links);
    }

    /// Scans a plain copy and checks every count of the manifest; returns the lines.
    fn check_against_manifest(m: &Manifest) -> Vec<Line> {
        let bytes = read(m.plain_copy.as_ref().unwrap());
        assert_eq!(bytes.len() as u64, m.uncompressed_bytes);
        let lines = data_lines(&bytes, m.variant);
        assert_eq!(lines.len() as u64 + u64::from(m.header), m.lines);
        assert_eq!(lines.len() as u64, m.data_rows);
        let main_rows = u64::from(m.links) * 288;
        assert_eq!(m.data_rows, main_rows + m.duplicate_rows + m.stray_rows + m.malformed_rows);
        assert_eq!(m.valid_rows, m.data_rows - m.malformed_rows - m.stray_rows);

        let date = m.date.as_str();
        let prev = Date::from_days_since_epoch(Date::parse_yyyymmdd(date.as_bytes()).unwrap().days_since_epoch() - 1)
            .yyyymmdd();
        let classes: Vec<Line> = lines.iter().map(|l| classify(l, date)).collect();
        let mut bad: HashMap<&str, u32> = HashMap::new();
        let (mut strays, mut valid, mut empty, mut unpadded, mut tt, mut agency) = (0, 0, 0, 0, 0, 0);
        let mut first: HashMap<(u32, u64), (usize, Option<String>)> = HashMap::new();
        let (mut dups, mut dups_differ) = (0, 0);
        let mut last_key = None;
        for (i, class) in classes.iter().enumerate() {
            match class {
                Line::Bad(category) => {
                    assert!(i > 0, "malformed line first: {}", lines[i]);
                    *bad.entry(category).or_default() += 1;
                }
                Line::Stray { date } => {
                    assert_eq!(*date, prev);
                    assert_eq!(i as u64, strays, "stray rows come first");
                    strays += 1;
                }
                Line::Valid { slot, link, speed, travel_time, agency: a, unpadded: u } => {
                    valid += 1;
                    empty += u64::from(speed.is_none());
                    unpadded += u64::from(*u);
                    tt += u64::from(*travel_time > 0);
                    agency += u64::from(*a);
                    assert!(*travel_time <= 3600);
                    let key = (*slot, *link);
                    if let Some((at, first_speed)) = first.get(&key) {
                        dups += 1;
                        assert!(i > *at);
                        assert!(first_speed.is_some() && speed.is_some(), "duplicates always carry a speed");
                        dups_differ += u64::from(first_speed != speed);
                        // A repeat lands within its own interval block or the next.
                        let (current_slot, _) = last_key.unwrap();
                        assert!(current_slot - slot <= 1, "repeat of slot {slot} in block {current_slot}");
                    } else {
                        // First occurrences are strictly ordered by time, then link id.
                        assert!(last_key < Some(key), "order broken at line {i}: {}", lines[i]);
                        last_key = Some(key);
                        first.insert(key, (i, speed.clone()));
                    }
                }
            }
        }
        let malformed = &m.malformed;
        for (category, expected) in [
            ("field_count", malformed.field_count),
            ("bad_link_id", malformed.bad_link_id),
            ("bad_date", malformed.bad_date),
            ("bad_time", malformed.bad_time),
            ("bad_speed", malformed.bad_speed),
            ("bad_travel_time", malformed.bad_travel_time),
        ] {
            assert_eq!(bad.get(category).copied().unwrap_or(0), expected, "{category}");
        }
        assert_eq!(malformed.total(), m.malformed_rows);
        assert_eq!(strays, m.stray_rows);
        assert_eq!(valid, m.valid_rows);
        assert_eq!(empty, m.empty_speed_rows);
        assert_eq!(unpadded, m.unpadded_time_rows);
        assert_eq!(tt, m.travel_time_rows);
        assert_eq!(agency, m.agency_rows);
        assert_eq!(dups, m.duplicate_rows);
        assert_eq!(dups_differ, m.duplicate_rows_different_speed);
        // Every link reports in every interval.
        assert_eq!(first.len() as u64, main_rows);
        assert_eq!(first.values().filter(|(_, s)| s.is_some()).count() as u64, m.samples);
        classes
    }

    #[test]
    fn manifest_counts_match_an_independent_scan() {
        let dir = tempfile::tempdir().unwrap();
        for (variant, start) in [
            (Variant::Y2023, Date { year: 2023, month: 7, day: 1 }),
            (Variant::Y2025, Date { year: 2025, month: 1, day: 1 }),
        ] {
            let cfg = GenConfig { variant, start, quirks: busy_quirks(), ..small(300) };
            let m = generate(&cfg, dir.path()).unwrap().remove(0);
            check_against_manifest(&m);
            // Rates this high make every quirk appear.
            for count in [
                m.empty_speed_rows,
                m.duplicate_rows,
                m.duplicate_rows_different_speed,
                m.unpadded_time_rows,
                m.travel_time_rows,
                m.agency_rows,
            ] {
                assert!(count > 0, "{m:?}");
            }
            assert!(m.duplicate_rows - m.duplicate_rows_different_speed >= m.duplicate_rows_different_speed);
            assert_eq!(m.stray_rows, 7);
        }
    }

    #[test]
    fn default_quirks_are_exact_and_mild() {
        let dir = tempfile::tempdir().unwrap();
        let m = generate_day(&small(500), Date { year: 2024, month: 3, day: 1 }, dir.path()).unwrap();
        check_against_manifest(&m);
        assert_eq!(m.malformed, Malformed::default());
        assert_eq!(m.malformed_rows, 9);
        assert_eq!(m.stray_rows, 3);
        let rows = 500.0 * 288.0;
        assert!((m.empty_speed_rows as f64 / rows - 0.005).abs() < 0.002, "{m:?}");
        assert!((m.duplicate_rows as f64 / rows - 0.001).abs() < 0.0007, "{m:?}");
    }

    #[test]
    fn stray_rows_carry_the_previous_day_across_a_year_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let quirks = Quirks { stray_rows: 60, ..Quirks::none() };
        let cfg = GenConfig { start: Date { year: 2024, month: 1, day: 1 }, quirks, ..small(50) };
        let m = generate(&cfg, dir.path()).unwrap().remove(0);
        let lines = data_lines(&read(m.plain_copy.as_ref().unwrap()), Variant::Y2023);
        // 60 strays over 50 links spill into the second-to-last interval, still sorted.
        assert!(lines[..60].iter().all(|l| l.starts_with("20231231,")));
        assert!(lines[..10].iter().all(|l| l[9..].starts_with("2350,")));
        assert!(lines[10..60].iter().all(|l| l[9..].starts_with("2355,")));
        assert!(lines[60..].iter().all(|l| l.starts_with("20240101,")));
        assert_eq!(m.stray_rows, 60);
        check_against_manifest(&m);
    }

    #[test]
    fn variant_2025_has_bom_header_and_crlf_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let m = generate(&GenConfig { variant: Variant::Y2025, ..small(60) }, dir.path()).unwrap().remove(0);
        let bytes = read(&m.path);
        assert!(bytes.starts_with(b"\xEF\xBB\xBFCREATDE,CREATHM,LINKID,ROADINSTTCD,PASNGSPED,PASNGTIME\r\n"));
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count() as u64, m.lines);
        assert!(bytes.windows(2).filter(|w| w[1] == b'\n').all(|w| w[0] == b'\r'));
        assert!(bytes.ends_with(b"\r\n"));
        // The line after the header is a data row with a numeric first field.
        assert!(data_lines(&bytes, Variant::Y2025)[0].split(',').next().is_some_and(is_digits));

        let m = generate(&small(60), dir.path()).unwrap().remove(0);
        let bytes = read(&m.path);
        assert!(!bytes.contains(&b'\r') && bytes[0].is_ascii_digit());
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count() as u64, m.lines);
    }

    #[test]
    fn malformed_lines_are_never_first_and_of_one_kind_each() {
        let dir = tempfile::tempdir().unwrap();
        let malformed =
            Malformed { field_count: 6, bad_link_id: 6, bad_date: 10, bad_time: 8, bad_speed: 10, bad_travel_time: 6 };
        for variant in [Variant::Y2023, Variant::Y2025] {
            // No strays: the first data line would be the first candidate position.
            let quirks = Quirks { malformed, ..Quirks::none() };
            let m = generate(&GenConfig { variant, quirks, ..small(2) }, dir.path()).unwrap().remove(0);
            let classes = check_against_manifest(&m);
            assert!(matches!(classes[0], Line::Valid { .. }));
            let lines = data_lines(&read(&m.path), variant);
            // Each variant of each category shows up with these counts.
            for needle in
                [",LINK,", "A", "0230,", "1301,", ",abc,", ",-5,", ",301,", ",1e3,", ",NaN,", ",x", ",-3", ",1.5"]
            {
                assert!(lines.iter().any(|l| l.contains(needle)), "{needle}");
            }
            assert!(lines.iter().any(|l| l.split(',').count() == 5));
            assert!(lines.iter().any(|l| l.split(',').count() == 7));
        }
    }

    #[test]
    fn clean_file_is_perfectly_clean_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = GenConfig { quirks: Quirks::none(), ..small(120) };
        let m = generate(&cfg, dir.path()).unwrap().remove(0);
        let lines = data_lines(&read(&m.path), Variant::Y2023);
        assert_eq!(lines.len(), 120 * 288);
        assert_eq!(m.valid_rows, 120 * 288);
        assert_eq!(m.samples, 120 * 288);
        let ids = link_ids(120, cfg.seed);
        for (i, line) in lines.iter().enumerate() {
            let f: Vec<&str> = line.split(',').collect();
            let (slot, link) = (i / 120, i % 120);
            assert_eq!(f[0], "20230701");
            assert_eq!(f[1], format!("{:02}{:02}", slot / 12, slot % 12 * 5));
            assert_eq!(f[2], ids[link].to_string());
            assert!(f[3].is_empty() && !f[4].is_empty() && f[5] == "0", "{line}");
        }
        check_against_manifest(&m);
    }

    #[test]
    fn speeds_look_like_traffic() {
        let dir = tempfile::tempdir().unwrap();
        // 2023-07-03 is a Monday.
        let quirks = Quirks { zero_links_per_mille: 20, constant_links_per_mille: 20, ..Quirks::none() };
        let cfg = GenConfig { start: Date { year: 2023, month: 7, day: 3 }, quirks, ..small(500) };
        let m = generate(&cfg, dir.path()).unwrap().remove(0);
        let mut per_link: HashMap<u64, Vec<f64>> = HashMap::new();
        for line in data_lines(&read(&m.path), Variant::Y2023) {
            let f: Vec<&str> = line.split(',').collect();
            assert!(!f[4].ends_with(".0") && (!f[4].contains('.') || f[4].ends_with(".5")), "{line}");
            let speed: f64 = f[4].parse().unwrap();
            assert!((0.0..=150.0).contains(&speed));
            per_link.entry(f[2].parse().unwrap()).or_default().push(speed);
        }
        let zero = per_link.values().filter(|s| s.iter().all(|&v| v == 0.0)).count() as u32;
        let constant = per_link.values().filter(|s| s[0] > 0.0 && s.iter().all(|&v| v == s[0])).count() as u32;
        assert!(zero > 0 && constant > 0);
        assert_eq!((zero, constant), (m.zero_speed_links, m.constant_speed_links));
        let mean = |slot: usize| per_link.values().map(|s| s[slot]).sum::<f64>() / per_link.len() as f64;
        let (night, am, noon, pm) = (mean(3 * 12), mean(8 * 12), mean(13 * 12), mean(18 * 12));
        assert!(am < noon && pm < noon && noon < night, "{night} {am} {noon} {pm}");
        assert!(am < 0.85 * night && pm < 0.85 * night);
        let all: Vec<f64> = per_link.values().flatten().copied().collect();
        assert!(all.iter().any(|&v| v >= 90.0) && all.iter().any(|&v| v < 20.0));
    }

    #[test]
    fn containers_round_trip_to_the_plain_copy() {
        let dir = tempfile::tempdir().unwrap();
        for container in [Container::Zip, Container::Gzip, Container::Zstd, Container::Plain] {
            let cfg = GenConfig { container, variant: Variant::Y2025, ..small(80) };
            let m = generate(&cfg, dir.path()).unwrap().remove(0);
            assert_eq!(m.path, dir.path().join(container.file_name(cfg.start)));
            assert_eq!(m.compressed_bytes, fs::metadata(&m.path).unwrap().len());
            let plain = read(m.plain_copy.as_ref().unwrap());
            assert_eq!(plain.len() as u64, m.uncompressed_bytes);
            let file = File::open(&m.path).unwrap();
            let decoded = match container {
                Container::Zip => {
                    let mut archive = zip::ZipArchive::new(file).unwrap();
                    assert_eq!(archive.len(), 1);
                    let mut entry = archive.by_index(0).unwrap();
                    assert_eq!(entry.name().unwrap(), "20230701_5Min.csv");
                    assert_eq!(entry.compression(), CompressionMethod::Deflated);
                    let mut out = Vec::new();
                    entry.read_to_end(&mut out).unwrap();
                    out
                }
                Container::Gzip => {
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(file).read_to_end(&mut out).unwrap();
                    out
                }
                Container::Zstd => zstd::decode_all(file).unwrap(),
                Container::Plain => read(&m.path),
            };
            assert!(decoded == plain, "{container:?} differs from the plain copy");
            assert!(container == Container::Plain || m.compressed_bytes < m.uncompressed_bytes / 2);
        }
        let names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(names.iter().all(|n| !n.contains("partial")), "{names:?}");
    }

    #[test]
    fn link_ids_are_distinct_sorted_ten_digit_regional() {
        for links in [1, 7, 57, 5_000] {
            let ids = link_ids(links, 9);
            assert_eq!(ids.len(), links as usize);
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            assert!(ids.iter().all(|&id| (1_000_000_000..10_000_000_000).contains(&id)));
            assert!(ids.iter().all(|&id| REGIONS.iter().any(|&(code, _)| u64::from(code) == id / 10_000_000)));
        }
        let regions: std::collections::HashSet<u64> = link_ids(5_000, 9).iter().map(|id| id / 10_000_000).collect();
        assert_eq!(regions.len(), REGIONS.len());
        assert_ne!(link_ids(100, 1), link_ids(100, 2));
    }

    #[test]
    fn config_serialises_simply_and_validates() {
        let json = serde_json::to_value(GenConfig::default()).unwrap();
        assert_eq!(json["start"], "2023-07-01");
        assert_eq!(json["variant"], "2023");
        assert_eq!(json["container"], "zip");
        assert_eq!(serde_json::from_str::<GenConfig>("{}").unwrap(), GenConfig::default());
        let cfg: GenConfig = serde_json::from_str(
            r#"{"links": 10, "start": "20240229", "variant": "2025", "container": "zst", "quirks": {"stray_rows": 1}}"#,
        )
        .unwrap();
        assert_eq!(cfg.start, Date { year: 2024, month: 2, day: 29 });
        assert_eq!((cfg.links, cfg.variant, cfg.container), (10, Variant::Y2025, Container::Zstd));
        assert_eq!(cfg.quirks, Quirks { stray_rows: 1, ..Quirks::default() });
        assert!(serde_json::from_str::<GenConfig>(r#"{"start": "2023-02-29"}"#).is_err());
        assert_eq!("gz".parse::<Container>(), Ok(Container::Gzip));
        assert!("2024".parse::<Variant>().is_err());

        let dir = tempfile::tempdir().unwrap();
        let bad = [
            GenConfig { links: 0, ..small(1) },
            GenConfig { quirks: Quirks { duplicate_per_mille: 1001, ..Quirks::default() }, ..small(1) },
        ];
        for cfg in bad {
            assert_eq!(generate(&cfg, dir.path()).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        }
        assert!(generate(&GenConfig { days: 0, ..small(1) }, dir.path()).unwrap().is_empty());
    }

    /// Per link, per slot: the first sample's speed text and travel time.
    type FirstSamples = HashMap<u64, Vec<Option<(Option<String>, u32)>>>;

    /// The first sample of every (slot, link) of a file's valid rows.
    fn first_samples(m: &Manifest) -> FirstSamples {
        let mut per_link = FirstSamples::new();
        for class in check_against_manifest(m) {
            if let Line::Valid { slot, link, speed, travel_time, .. } = class {
                let slots = per_link.entry(link).or_insert_with(|| vec![None; 288]);
                if slots[slot as usize].is_none() {
                    slots[slot as usize] = Some((speed, travel_time));
                }
            }
        }
        per_link
    }

    /// Speed text to half km/h, checking it has at most one decimal digit and steps of 0.5.
    fn halves(text: &str) -> u16 {
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        assert!(is_digits(whole) && (frac.is_empty() || frac == "5"), "speed {text:?} is not in 0.5 steps");
        whole.parse::<u16>().unwrap() * 2 + u16::from(frac == "5")
    }

    #[test]
    fn real_like_travel_time_is_missing_in_99_percent_of_rows_and_hours() {
        let dir = tempfile::tempdir().unwrap();
        let m =
            generate_day_with(&small(2_000), SpeedModel::RealLike, Date { year: 2023, month: 7, day: 12 }, dir.path())
                .unwrap();
        assert_eq!(m.speed_model, SpeedModel::RealLike);
        let per_link = first_samples(&m);
        let rows = m.valid_rows as f64;
        let share = m.travel_time_rows as f64 / rows;
        assert!((0.004..0.02).contains(&share), "travel time on {share:.4} of rows");
        // Travel time belongs to links: a link reports it with every speed, or never.
        let (mut hours, mut hours_with_tt, mut reporting) = (0u32, 0u32, 0u32);
        for slots in per_link.values() {
            let with_speed: Vec<&(Option<String>, u32)> =
                slots.iter().flatten().filter(|(s, _)| s.as_deref().is_some_and(|s| s != "0")).collect();
            let with_tt = with_speed.iter().filter(|(_, tt)| *tt > 0).count();
            assert!(with_tt == 0 || with_tt == with_speed.len(), "{with_tt} of {}", with_speed.len());
            reporting += u32::from(with_tt > 0);
            for hour in slots.chunks(12) {
                hours += 1;
                hours_with_tt += u32::from(hour.iter().flatten().any(|(_, tt)| *tt > 0));
            }
        }
        assert!(reporting > 0);
        let hour_share = f64::from(hours_with_tt) / f64::from(hours);
        assert!(hour_share < 0.02, "travel time in {hour_share:.4} of the link-hours");
        // The noise model spreads the same rate over rows, so most links have some travel time.
        let noise = generate_day(&small(2_000), Date { year: 2023, month: 7, day: 12 }, dir.path()).unwrap();
        let noisy_hours = first_samples(&noise)
            .values()
            .flat_map(|slots| slots.chunks(12).map(|h| h.iter().flatten().any(|(_, tt)| *tt > 0)).collect::<Vec<_>>())
            .filter(|&any| any)
            .count() as f64;
        assert!(noisy_hours / f64::from(hours) > 0.05, "{noisy_hours}");
    }

    #[test]
    fn real_like_speeds_drift_slowly_in_half_steps() {
        let dir = tempfile::tempdir().unwrap();
        // 2023-07-03 is a Monday.
        let cfg = GenConfig { start: Date { year: 2023, month: 7, day: 3 }, ..small(1_500) };
        let m = generate_with(&cfg, SpeedModel::RealLike, dir.path()).unwrap().remove(0);
        let per_link = first_samples(&m);
        let (mut steps, mut total_step, mut max_step) = (0u64, 0u64, 0u16);
        let mut moving = 0u32;
        for slots in per_link.values() {
            let speeds: Vec<Option<u16>> =
                slots.iter().map(|s| s.as_ref().and_then(|(v, _)| v.as_deref().map(halves))).collect();
            assert!(speeds.iter().flatten().all(|&h| h <= 300));
            moving += u32::from(speeds.iter().flatten().any(|&h| Some(h) != speeds[0]));
            for pair in speeds.windows(2) {
                if let [Some(a), Some(b)] = pair {
                    let step = a.abs_diff(*b);
                    max_step = max_step.max(step);
                    total_step += u64::from(step);
                    steps += 1;
                }
            }
        }
        // Consecutive 5-minute samples differ by at most the bound, and by little on average.
        assert!(max_step <= REAL_LIKE_MAX_STEP_HALVES, "step of {max_step} half km/h");
        let mean_kmh = total_step as f64 / steps as f64 / 2.0;
        assert!(mean_kmh < 0.8, "mean step {mean_kmh} km/h");
        assert!(moving as usize > per_link.len() * 9 / 10, "most links move: {moving}");
        // The day still has its shape: peaks slower than noon, noon slower than the night.
        let mean = |slot: usize| {
            let v: Vec<f64> = per_link
                .values()
                .filter_map(|s| s[slot].as_ref().and_then(|(v, _)| v.as_deref().map(|t| f64::from(halves(t)) / 2.0)))
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        let (night, am, noon, pm) = (mean(3 * 12), mean(8 * 12), mean(13 * 12), mean(18 * 12));
        assert!(am < noon && pm < noon && noon < night, "{night} {am} {noon} {pm}");

        // The noise model's independent noise moves much more from one sample to the next.
        let noise = generate(&cfg, dir.path()).unwrap().remove(0);
        let (mut n_steps, mut n_total) = (0u64, 0u64);
        for slots in first_samples(&noise).values() {
            let speeds: Vec<Option<u16>> =
                slots.iter().map(|s| s.as_ref().and_then(|(v, _)| v.as_deref().map(halves))).collect();
            for pair in speeds.windows(2) {
                if let [Some(a), Some(b)] = pair {
                    n_total += u64::from(a.abs_diff(*b));
                    n_steps += 1;
                }
            }
        }
        assert!(n_total as f64 / n_steps as f64 / 2.0 > 2.0 * mean_kmh);
    }

    #[test]
    fn real_like_keeps_the_network_and_is_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let cfg = GenConfig { days: 2, ..small(300) };
        let ma = generate_with(&cfg, SpeedModel::RealLike, &a).unwrap();
        let mb = generate_with(&cfg, SpeedModel::RealLike, &b).unwrap();
        for (x, y) in ma.iter().zip(&mb) {
            assert_eq!(read(&x.path), read(&y.path));
        }
        assert_ne!(read(&ma[0].path), read(&ma[1].path));
        // Same link ids as the noise model (and as `link_ids`), same quirk links.
        let noise = generate(&cfg, &dir.path().join("n")).unwrap();
        let ids = |m: &Manifest| -> Vec<u64> {
            let mut ids: Vec<u64> = first_samples(m).into_keys().collect();
            ids.sort_unstable();
            ids
        };
        assert_eq!(ids(&ma[0]), link_ids(300, cfg.seed));
        assert_eq!(ids(&noise[0]), link_ids(300, cfg.seed));
        assert_eq!(
            (ma[0].zero_speed_links, ma[0].constant_speed_links),
            (noise[0].zero_speed_links, noise[0].constant_speed_links)
        );
        // The manifest names the model only when it is not the default.
        assert_eq!(serde_json::to_value(&ma[0]).unwrap()["speed_model"], "real-like");
        assert!(serde_json::to_value(&noise[0]).unwrap().get("speed_model").is_none());
        assert_eq!("real-like".parse::<SpeedModel>(), Ok(SpeedModel::RealLike));
    }
}
