//! Opening a file as decompressed byte streams ("entries").
//!
//! The container is recognised by its magic bytes, never by the file name: zip (every `.csv` entry,
//! in archive order), gzip (all members), zstd (all frames) or plain text. Entries are streamed;
//! nothing holds a whole file or entry in memory. Each entry's decompressed size is capped, which
//! is what stops a zip bomb.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
pub use open::{open_checked, CheckedDir, CheckedFile, FileMeta};

// flate2 needs a backend even with ISA-L (zip entries stored or of other methods, the tests).
#[cfg(not(any(feature = "zlib-rs", feature = "zlib-ng")))]
compile_error!("vs_ingest_engine needs the feature zlib-rs or zlib-ng (beside isal or alone)");

#[cfg(feature = "isal")]
mod isal;
pub mod open;

/// The library that inflates gzip files and deflated zip entries, chosen at build time by the
/// engine's cargo features (`isal`, the default, or `zlib-rs` / `zlib-ng` alone).
pub const INFLATE_BACKEND: &str = if cfg!(feature = "isal") {
    "isa-l"
} else if cfg!(feature = "zlib-ng") {
    "zlib-ng"
} else {
    "zlib-rs"
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    Zip,
    Gzip,
    Zstd,
    Plain,
}

impl Container {
    pub fn name(self) -> &'static str {
        match self {
            Container::Zip => "zip",
            Container::Gzip => "gzip",
            Container::Zstd => "zstd",
            Container::Plain => "plain",
        }
    }

    /// Recognises a container from the first bytes of a file. A zstd file may start with a
    /// skippable frame (magic 0x184D2A50..=0x184D2A5F, little-endian) instead of a data frame.
    pub fn from_magic(head: &[u8]) -> Container {
        match head {
            [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => Container::Zip,
            [0x1f, 0x8b, ..] => Container::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Container::Zstd,
            [0x50..=0x5f, 0x2a, 0x4d, 0x18, ..] => Container::Zstd,
            _ => Container::Plain,
        }
    }
}

/// Size and content fingerprint of a file, to recognise one already loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub size: u64,
    /// xxh3-128 of the whole (compressed) file, hex.
    pub hash: String,
}

pub fn fingerprint(path: &Path) -> Result<Fingerprint> {
    let file = File::open(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    fingerprint_file(&file, path)
}

/// The fingerprint of an open file, read with positioned reads (the file's offset is not moved).
pub fn fingerprint_file(file: &File, path: &Path) -> Result<Fingerprint> {
    fingerprint_prefix(file, path, u64::MAX)
}

/// The fingerprint of the first `limit` bytes of an open file (all of it if it is shorter): equal
/// to an earlier version's fingerprint when the file only grew since.
pub fn fingerprint_prefix(file: &File, path: &Path, limit: u64) -> Result<Fingerprint> {
    use std::os::unix::fs::FileExt;
    let io_err = |source| Error::Io { path: path.to_owned(), source };
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let want = (buf.len() as u64).min(limit - size) as usize;
        if want == 0 {
            break;
        }
        let n = match file.read_at(&mut buf[..want], size) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok(Fingerprint { size, hash: format!("{:032x}", hasher.digest128()) })
}

/// One decompressed stream of a file: the file itself, or one entry of a zip archive.
pub struct Entry<'a> {
    /// Position among the file's entries, from 0.
    pub index: u32,
    /// The zip entry name, or the file name without its compression suffix.
    pub name: String,
    pub reader: &'a mut dyn Read,
}

/// An opened input file. Everything is read through the one descriptor it was opened with.
pub struct Source {
    path: PathBuf,
    file: File,
    /// Size and modification time when it was opened: a file that changes while it is read fails.
    meta: FileMeta,
    container: Container,
    max_entry_bytes: u64,
    /// Bytes of the (compressed) file read so far: progress against the file size.
    input_read: Arc<AtomicU64>,
    /// At most this many file bytes a second (`None`: as fast as it comes).
    read_rate: Option<u64>,
}

impl Source {
    /// Opens `path` as it is (tools and tests; a privileged load uses [`Source::from_checked`]).
    pub fn open(path: &Path, max_entry_bytes: u64) -> Result<Source> {
        let file = File::open(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        let meta = FileMeta::of(&file).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        Source::new(path.to_owned(), file, meta, max_entry_bytes)
    }

    /// A file opened and checked by [`open::open_checked`].
    pub fn from_checked(checked: CheckedFile, max_entry_bytes: u64) -> Result<Source> {
        Source::new(checked.real, checked.file, checked.meta, max_entry_bytes)
    }

    fn new(path: PathBuf, file: File, meta: FileMeta, max_entry_bytes: u64) -> Result<Source> {
        use std::os::unix::fs::FileExt;
        let mut head = [0u8; 4];
        let mut n = 0;
        while n < head.len() {
            match file.read_at(&mut head[n..], n as u64) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(Error::Io { path, source }),
            }
        }
        Ok(Source {
            container: Container::from_magic(&head[..n]),
            path,
            file,
            meta,
            max_entry_bytes,
            input_read: Arc::default(),
            read_rate: None,
        })
    }

    /// The file's content fingerprint, read through the same descriptor.
    pub fn fingerprint(&self) -> Result<Fingerprint> {
        fingerprint_file(&self.file, &self.path)
    }

    /// The byte at `pos`, if the file is that long.
    pub fn byte_at(&self, pos: u64) -> Result<Option<u8>> {
        use std::os::unix::fs::FileExt;
        let mut b = [0u8; 1];
        match self.file.read_at(&mut b, pos) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(b[0])),
            Err(e) => Err(self.io(e)),
        }
    }

    /// The fingerprint of the file's first `len` bytes.
    pub fn fingerprint_prefix(&self, len: u64) -> Result<Fingerprint> {
        fingerprint_prefix(&self.file, &self.path, len)
    }

    /// Size and modification time when the file was opened.
    pub fn meta(&self) -> FileMeta {
        self.meta
    }

    /// Fails if the file's size or modification time is not what it was when it was opened: it
    /// was replaced in place, truncated or appended to while it was read.
    pub fn check_unchanged(&self) -> Result<()> {
        let now = FileMeta::of(&self.file).map_err(|e| self.io(e))?;
        if now == self.meta {
            return Ok(());
        }
        Err(Error::ChangedWhileReading {
            path: self.path.clone(),
            detail: format!(
                "size {} -> {} bytes, modified {:.3} -> {:.3}",
                self.meta.size,
                now.size,
                self.meta.mtime_seconds(),
                now.mtime_seconds()
            ),
        })
    }

    /// Shares the counter of file bytes read with an observer.
    pub fn with_input_counter(mut self, counter: Arc<AtomicU64>) -> Source {
        self.input_read = counter;
        self
    }

    /// Reads the file at most `bytes_per_second` (a load's budget): the reading thread sleeps
    /// whenever it is ahead of that pace, which also holds back the parse threads it feeds.
    pub fn with_read_rate(mut self, bytes_per_second: Option<u64>) -> Source {
        self.read_rate = bytes_per_second.filter(|&rate| rate > 0);
        self
    }

    pub fn container(&self) -> Container {
        self.container
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Calls `visit` with each entry in order. Read errors inside a compressed stream are reported
    /// as [`Error::Corrupt`]; errors returned by `visit` pass through unchanged.
    pub fn for_each_entry(&self, mut visit: impl FnMut(Entry<'_>) -> Result<()>) -> Result<()> {
        let mut file = self.file.try_clone().map_err(|source| self.io(source))?;
        file.seek(SeekFrom::Start(0)).map_err(|source| self.io(source))?;
        let file = CountingFile {
            file,
            read: self.input_read.clone(),
            size: self.meta.size,
            pace: self.read_rate.map(|rate| Pace { rate, started: Instant::now(), bytes: 0 }),
        };
        let stem = file_stem(&self.path);
        match self.container {
            Container::Plain => self.visit_stream(0, stem, BufReader::with_capacity(1 << 20, file), &mut visit),
            Container::Gzip => {
                let input = BufReader::with_capacity(1 << 20, file);
                #[cfg(feature = "isal")]
                let decoder = isal::IsalDecoder::gzip(input);
                #[cfg(not(feature = "isal"))]
                let decoder = flate2::read::MultiGzDecoder::new(input);
                self.visit_stream(0, stem, decoder, &mut visit)
            }
            Container::Zstd => {
                let decoder = zstd::stream::read::Decoder::new(file).map_err(|e| self.corrupt(e.to_string()))?;
                self.visit_stream(0, stem, decoder, &mut visit)
            }
            Container::Zip => self.visit_zip(file, &mut visit),
        }
    }

    fn visit_zip(&self, file: CountingFile, visit: &mut dyn FnMut(Entry<'_>) -> Result<()>) -> Result<()> {
        let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| self.corrupt(e.to_string()))?;
        let mut visited = 0u32;
        for i in 0..archive.len() {
            let entry = archive.by_index_data(i).map_err(|e| self.corrupt(e.to_string()))?;
            let name = entry.name().map_err(|e| self.corrupt(e.to_string()))?.into_owned();
            if entry.is_dir() || !name.to_ascii_lowercase().ends_with(".csv") {
                continue;
            }
            // A deflated entry's raw stream goes to ISA-L, which keeps its CRC-32 for the check the
            // zip crate's own reader would make; any other method (stored, encrypted, unsupported)
            // stays with the zip crate, which checks or refuses it as before.
            #[cfg(feature = "isal")]
            if entry.compression() == zip::CompressionMethod::Deflated && !entry.encrypted() {
                let (crc32, size) = (entry.crc32(), entry.size());
                let raw = archive.by_index_raw(i).map_err(|e| self.corrupt(e.to_string()))?;
                let decoder = isal::IsalDecoder::zip_entry(BufReader::with_capacity(1 << 20, raw), crc32, size);
                self.visit_stream(visited, name, decoder, visit)?;
                visited += 1;
                continue;
            }
            let entry = archive.by_index(i).map_err(|e| self.corrupt(e.to_string()))?;
            let size = entry.size();
            self.visit_stream(visited, name, SizeChecked { inner: entry, read: 0, size }, visit)?;
            visited += 1;
        }
        if visited == 0 {
            return Err(Error::NoCsvEntry { path: self.path.clone() });
        }
        Ok(())
    }

    fn visit_stream(
        &self,
        index: u32,
        name: String,
        reader: impl Read,
        visit: &mut dyn FnMut(Entry<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut guarded = GuardedReader { inner: reader, read: 0, limit: self.max_entry_bytes, failure: None };
        let result = visit(Entry { index, name: name.clone(), reader: &mut guarded });
        // A read failure inside the stream is the file's fault (corrupt, truncated, too large),
        // whatever error the visitor turned it into.
        match guarded.failure.take() {
            Some(Failure::TooLarge) => {
                Err(Error::EntryTooLarge { path: self.path.clone(), entry: name, limit: self.max_entry_bytes })
            }
            Some(Failure::Read(e)) => Err(self.corrupt(format!("entry \"{name}\": {e}"))),
            None => result,
        }
    }

    fn io(&self, source: io::Error) -> Error {
        Error::Io { path: self.path.clone(), source }
    }

    fn corrupt(&self, detail: String) -> Error {
        Error::Corrupt { path: self.path.clone(), container: self.container.name(), detail }
    }
}

/// A file that counts the bytes read from it, for progress: at most its size, since a zip's
/// central directory is read once more than the bytes of the file (first, at its end).
struct CountingFile {
    file: File,
    read: Arc<AtomicU64>,
    size: u64,
    pace: Option<Pace>,
}

/// A read rate kept from the first read on: after `bytes`, no earlier than `bytes / rate` seconds
/// after `started`.
struct Pace {
    rate: u64,
    started: Instant,
    bytes: u64,
}

impl Pace {
    /// How long to wait after `n` more bytes to keep to the rate.
    fn wait_after(&mut self, n: u64) -> Duration {
        self.bytes += n;
        let due = Duration::from_secs_f64(self.bytes as f64 / self.rate as f64);
        due.saturating_sub(self.started.elapsed())
    }
}

impl Read for CountingFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)? as u64;
        let size = self.size;
        // Never fails: the closure always returns a value.
        let _ = self.read.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |read| Some((read + n).min(size)));
        if let Some(pace) = &mut self.pace {
            std::thread::sleep(pace.wait_after(n));
        }
        Ok(n as usize)
    }
}

impl Seek for CountingFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

/// A zip entry read by the zip crate, which checks the CRC-32 but not the recorded size: the size
/// is checked at its end here, as the ISA-L path does.
struct SizeChecked<R> {
    inner: R,
    read: u64,
    size: u64,
}

impl<R: Read> Read for SizeChecked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if n == 0 && !buf.is_empty() && self.read != self.size {
            let msg = format!("entry inflates to {} bytes, the archive says {}", self.read, self.size);
            return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
        }
        Ok(n)
    }
}

enum Failure {
    TooLarge,
    Read(io::Error),
}

/// Counts decompressed bytes against the cap and remembers why a read failed.
struct GuardedReader<R> {
    inner: R,
    read: u64,
    limit: u64,
    failure: Option<Failure>,
}

impl<R: Read> Read for GuardedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.read += n as u64;
                if self.read > self.limit {
                    self.failure = Some(Failure::TooLarge);
                    return Err(io::Error::other("entry exceeds the decompressed size limit"));
                }
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.failure = Some(Failure::Read(e));
                Err(copy)
            }
        }
    }
}

/// The file name without compression suffixes: `20230101_5Min.csv.gz` → `20230101_5Min.csv`.
fn file_stem(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for suffix in [".gz", ".gzip", ".zst", ".zstd"] {
        if let Some(stem) = name.strip_suffix(suffix) {
            return stem.to_string();
        }
    }
    name
}

#[cfg(test)]
mod tests;
