use std::io::Write;

use super::*;

const CSV: &[u8] = b"20230101,0000,1000000100,,35,0\n20230101,0005,1000000100,,36,0\n";

fn read_all(path: &Path, limit: u64) -> Result<Vec<(String, Vec<u8>)>> {
    let source = Source::open(path, limit)?;
    let mut out = Vec::new();
    source.for_each_entry(|entry| {
        let mut data = Vec::new();
        entry.reader.read_to_end(&mut data).map_err(|e| Error::Io { path: path.into(), source: e })?;
        out.push((entry.name, data));
        Ok(())
    })?;
    Ok(out)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        if name.ends_with('/') {
            w.add_directory(*name, opts).unwrap();
        } else {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn containers_are_recognised_by_magic_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let zstd_bytes = zstd::encode_all(CSV, 3).unwrap();
    let cases = [
        ("a.csv", CSV.to_vec(), Container::Plain),
        ("b.csv", gzip(CSV), Container::Gzip),
        ("c.dat", zstd_bytes, Container::Zstd),
        ("d.csv.gz", zip(&[("d.csv", CSV)]), Container::Zip),
    ];
    for (name, bytes, container) in cases {
        let path = write(&dir, name, &bytes);
        assert_eq!(Source::open(&path, u64::MAX).unwrap().container(), container, "{name}");
        let entries = read_all(&path, u64::MAX).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].1, CSV, "{name}");
    }
}

#[test]
fn multi_member_gzip_and_multi_frame_zstd_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let gz = [gzip(&CSV[..31]), gzip(&CSV[31..])].concat();
    let zs = [zstd::encode_all(&CSV[..10], 1).unwrap(), zstd::encode_all(&CSV[10..], 1).unwrap()].concat();
    for (name, bytes) in [("m.csv.gz", gz), ("m.csv.zst", zs)] {
        let path = write(&dir, name, &bytes);
        let entries = read_all(&path, u64::MAX).unwrap();
        assert_eq!(entries, vec![("m.csv".to_string(), CSV.to_vec())]);
    }
}

#[test]
fn zip_yields_every_csv_entry_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = zip(&[("sub/", b""), ("b.csv", b"2\n"), ("readme.txt", b"x"), ("A.CSV", b"1\n")]);
    let path = write(&dir, "x.zip", &bytes);
    let entries = read_all(&path, u64::MAX).unwrap();
    assert_eq!(entries, vec![("b.csv".into(), b"2\n".to_vec()), ("A.CSV".into(), b"1\n".to_vec())]);
}

#[test]
fn zip_without_csv_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "x.zip", &zip(&[("readme.txt", b"x")]));
    assert!(matches!(read_all(&path, u64::MAX), Err(Error::NoCsvEntry { .. })));
}

#[test]
fn truncated_archives_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = CSV.iter().copied().cycle().take(200_000).collect();
    let zstd_bytes = zstd::encode_all(&big[..], 3).unwrap();
    let zip_bytes = zip(&[("a.csv", &big)]);
    for (name, bytes) in [("t.zip", zip_bytes), ("t.gz", gzip(&big)), ("t.zst", zstd_bytes)] {
        let cut = &bytes[..bytes.len() / 2];
        let path = write(&dir, name, cut);
        let err = read_all(&path, u64::MAX).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{name}: {err}");
    }
}

#[test]
fn corrupted_zip_data_fails_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = CSV.iter().copied().cycle().take(100_000).collect();
    let mut bytes = zip(&[("a.csv", &big)]);
    let mid = 30 + 5 + 200; // inside the deflate stream of the only entry
    bytes[mid] ^= 0x55;
    let path = write(&dir, "bad.zip", &bytes);
    assert!(matches!(read_all(&path, u64::MAX), Err(Error::Corrupt { .. })));
}

#[test]
fn decompressed_size_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![b'0'; 1 << 20];
    let path = write(&dir, "bomb.gz", &gzip(&big));
    assert!(matches!(read_all(&path, 1000), Err(Error::EntryTooLarge { limit: 1000, .. })));
    assert_eq!(read_all(&path, 1 << 20).unwrap()[0].1.len(), 1 << 20);
}

#[test]
fn fingerprint_changes_with_content() {
    let dir = tempfile::tempdir().unwrap();
    let a = fingerprint(&write(&dir, "a", b"hello")).unwrap();
    let b = fingerprint(&write(&dir, "b", b"hellp")).unwrap();
    assert_eq!(a.size, 5);
    assert_ne!(a.hash, b.hash);
    assert_eq!(a, fingerprint(&dir.path().join("a")).unwrap());
}

/// A zstd skippable frame: magic 0x184D2A5? (little-endian), u32 LE length, that many bytes.
fn skippable(nibble: u8, payload: &[u8]) -> Vec<u8> {
    let magic = 0x184D_2A50u32 | u32::from(nibble);
    [&magic.to_le_bytes()[..], &(payload.len() as u32).to_le_bytes(), payload].concat()
}

#[test]
fn zstd_magic_includes_every_skippable_frame_magic() {
    for nibble in 0..16u8 {
        let frame = skippable(nibble, b"");
        assert_eq!(&frame[..4], &[0x50 | nibble, 0x2a, 0x4d, 0x18]);
        assert_eq!(Container::from_magic(&frame), Container::Zstd, "{nibble}");
    }
    for head in
        [&[0x4fu8, 0x2a, 0x4d, 0x18][..], &[0x60, 0x2a, 0x4d, 0x18], &[0x50, 0x2a, 0x4d, 0x19], &[0x50, 0x2a, 0x4d]]
    {
        assert_eq!(Container::from_magic(head), Container::Plain, "{head:?}");
    }
}

#[test]
fn zstd_skippable_frames_are_skipped_first_between_and_last() {
    let dir = tempfile::tempdir().unwrap();
    let a = zstd::encode_all(&CSV[..10], 3).unwrap();
    let b = zstd::encode_all(&CSV[10..], 3).unwrap();
    let meta = skippable(0, b"seekable index or metadata, not CSV\n");
    let cases: Vec<(&str, Vec<u8>, &[u8])> = vec![
        ("first", [skippable(0xA, b"x,y\n"), a.clone(), b.clone()].concat(), CSV),
        ("first, empty", [skippable(0, b""), a.clone(), b.clone()].concat(), CSV),
        ("between", [a.clone(), meta.clone(), b.clone()].concat(), CSV),
        ("last", [a.clone(), b.clone(), skippable(0xF, &[0u8; 300])].concat(), CSV),
        ("everywhere", [meta.clone(), a.clone(), meta.clone(), meta.clone(), b.clone(), meta.clone()].concat(), CSV),
        ("only skippable", [meta.clone(), skippable(5, b"\n\n")].concat(), b""),
    ];
    for (what, bytes, want) in cases {
        let path = write(&dir, "s.csv.zst", &bytes);
        assert_eq!(Source::open(&path, u64::MAX).unwrap().container(), Container::Zstd, "{what}");
        let entries = read_all(&path, u64::MAX).unwrap();
        assert_eq!(entries, vec![("s.csv".to_string(), want.to_vec())], "{what}");
    }
    // A skippable frame cut short is a corrupt file, not text.
    let cut = [skippable(0, &[1u8; 100]), a].concat();
    let path = write(&dir, "t.zst", &cut[..50]);
    assert!(matches!(read_all(&path, u64::MAX), Err(Error::Corrupt { .. })));
}

#[test]
fn a_file_that_changes_after_it_was_opened_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "day.csv", b"20230701,0000,1,A,50,0\n20230701,0005,1,A,51,0\n");
    let source = Source::open(&path, u64::MAX).unwrap();
    source.check_unchanged().unwrap();
    // Shortened in place, as an upload restarted or a copy still running would leave it.
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(10).unwrap();
    assert!(matches!(source.check_unchanged(), Err(Error::ChangedWhileReading { .. })));
}

#[test]
fn a_prefix_fingerprint_recognises_an_append() {
    let dir = tempfile::tempdir().unwrap();
    let first = b"20230701,0000,1,A,50,0\n";
    let before = fingerprint(&write(&dir, "day.csv", first)).unwrap();
    let path = write(&dir, "day.csv", b"20230701,0000,1,A,50,0\n20230701,0005,1,A,51,0\n");
    let source = Source::open(&path, u64::MAX).unwrap();
    assert_eq!(source.fingerprint_prefix(first.len() as u64).unwrap(), before);
    assert_ne!(source.fingerprint().unwrap(), before);
    // Past the end, the prefix is the whole file.
    assert_eq!(source.fingerprint_prefix(1 << 40).unwrap(), source.fingerprint().unwrap());
}

/// Reads every entry in reads of `step` bytes (odd sizes reach the decoder's partial-output paths).
fn read_all_in_steps(path: &Path, step: usize) -> Result<Vec<Vec<u8>>> {
    let source = Source::open(path, u64::MAX)?;
    let mut out = Vec::new();
    source.for_each_entry(|entry| {
        let mut data = Vec::new();
        let mut buf = vec![0u8; step];
        loop {
            let n = entry.reader.read(&mut buf).map_err(|e| Error::Io { path: path.into(), source: e })?;
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buf[..n]);
        }
        out.push(data);
        Ok(())
    })?;
    Ok(out)
}

/// Megabytes of varied CSV: several deflate blocks, members and input buffers (1 MiB) long.
fn varied_csv(rows: u32) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..rows {
        let (time, link) = ((i % 288) * 5, 1_000_000_000 + i * 7919 % 450_000);
        s.push_str(&format!("20230101,{time:04},{link},,{},{}\n", i % 97, i % 13));
    }
    s.into_bytes()
}

#[test]
fn the_backend_is_the_one_the_features_chose() {
    assert_eq!(INFLATE_BACKEND, if cfg!(feature = "isal") { "isa-l" } else { "zlib-rs" });
}

#[test]
fn large_multi_member_gzip_and_zip_entries_read_whole_in_any_read_size() {
    let dir = tempfile::tempdir().unwrap();
    let csv = varied_csv(120_000);
    let cut = [0, 1, 777_777, csv.len() - 3, csv.len()];
    let gz: Vec<u8> = cut.windows(2).flat_map(|w| gzip(&csv[w[0]..w[1]])).collect();
    let gz_path = write(&dir, "big.csv.gz", &gz);
    let half = csv.len() / 2;
    let zip_bytes = zip(&[("a.csv", &csv[..half]), ("empty.csv", b""), ("b.csv", &csv[half..])]);
    let zip_path = write(&dir, "big.zip", &zip_bytes);
    for step in [1 << 20, 65_537, 4096, 13] {
        assert_eq!(read_all_in_steps(&gz_path, step).unwrap(), vec![csv.clone()], "gzip, reads of {step}");
        let parts = read_all_in_steps(&zip_path, step).unwrap();
        assert_eq!(parts, vec![csv[..half].to_vec(), Vec::new(), csv[half..].to_vec()], "zip, reads of {step}");
    }
}

#[test]
fn stored_zip_entries_still_read_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    w.start_file("s.csv", stored).unwrap();
    w.write_all(CSV).unwrap();
    w.start_file("d.csv", deflated).unwrap();
    w.write_all(CSV).unwrap();
    let mut bytes = w.finish().unwrap().into_inner();
    let path = write(&dir, "mixed.zip", &bytes);
    let entries = read_all(&path, u64::MAX).unwrap();
    assert_eq!(entries, vec![("s.csv".into(), CSV.to_vec()), ("d.csv".into(), CSV.to_vec())]);
    // A changed byte of the stored entry fails its checksum.
    let at = bytes.windows(CSV.len()).position(|w| w == CSV).unwrap();
    bytes[at] ^= 1;
    let path = write(&dir, "mixed.zip", &bytes);
    assert!(matches!(read_all(&path, u64::MAX), Err(Error::Corrupt { .. })));
}

#[test]
fn corrupt_gzip_data_and_trailers_fail() {
    let dir = tempfile::tempdir().unwrap();
    let csv = varied_csv(20_000);
    let good = gzip(&csv);
    let mut cases = Vec::new();
    // A flipped byte in the deflate data, in the CRC and in the size of the trailer.
    for at in [good.len() / 3, good.len() - 6, good.len() - 2] {
        let mut bad = good.clone();
        bad[at] ^= 0x55;
        cases.push((format!("byte {at} of {}", good.len()), bad));
    }
    // Cut inside the trailer, after a whole member, and a member followed by garbage.
    cases.push(("cut trailer".into(), good[..good.len() - 3].to_vec()));
    cases.push(("garbage after a member".into(), [good.clone(), b"not gzip".to_vec()].concat()));
    for (what, bytes) in cases {
        let path = write(&dir, "bad.csv.gz", &bytes);
        let err = read_all(&path, u64::MAX).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{what}: {err}");
    }
}

#[test]
fn a_zip_entry_whose_recorded_crc_or_size_is_wrong_fails() {
    let dir = tempfile::tempdir().unwrap();
    let csv = varied_csv(5_000);
    let good = zip(&[("a.csv", &csv)]);
    // The central directory's CRC-32 (offset 16 of its record) and uncompressed size (offset 24).
    let cd = good.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
    for field in [16, 24] {
        let mut bad = good.clone();
        bad[cd + field] ^= 1;
        let path = write(&dir, "bad.zip", &bad);
        match read_all(&path, u64::MAX) {
            Err(Error::Corrupt { .. }) => {}
            Err(e) => panic!("field {field}: {e}"),
            Ok(entries) => panic!("field {field}: read {} bytes", entries[0].1.len()),
        }
    }
}

#[test]
fn the_input_counter_ends_at_the_file_size_and_never_passes_it() {
    // A zip's central directory is read first and its data after: counted naively, the bytes read
    // pass the file's size, and progress passed 100% (seen in CI).
    let dir = tempfile::tempdir().unwrap();
    let csv = varied_csv(40_000);
    let files = [
        write(&dir, "a.zip", &zip(&[("a.csv", &csv[..]), ("b.csv", &csv[..1000])])),
        write(&dir, "a.csv.gz", &gzip(&csv)),
        write(&dir, "a.csv", &csv),
    ];
    for path in files {
        let size = std::fs::metadata(&path).unwrap().len();
        let counter = Arc::new(AtomicU64::new(0));
        let source = Source::open(&path, u64::MAX).unwrap().with_input_counter(counter.clone());
        let mut last = 0;
        source
            .for_each_entry(|entry| {
                let mut buf = [0u8; 4096];
                while entry.reader.read(&mut buf).unwrap() > 0 {
                    let now = counter.load(Ordering::Relaxed);
                    assert!(now >= last && now <= size, "{}: {now} after {last}, of {size}", path.display());
                    last = now;
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(counter.load(Ordering::Relaxed), size, "{}", path.display());
    }
}

#[test]
fn a_read_rate_holds_the_reader_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = varied_csv(20_000);
    let path = write(&dir, "a.csv.gz", &gzip(&csv));
    let size = std::fs::metadata(&path).unwrap().len();
    // Four seconds' worth would be too slow for a test: a quarter of a second of it.
    let rate = size * 4;
    let started = std::time::Instant::now();
    let source = Source::open(&path, u64::MAX).unwrap().with_read_rate(Some(rate));
    let mut data = Vec::new();
    source
        .for_each_entry(|entry| {
            entry.reader.read_to_end(&mut data).map(|_| ()).map_err(|e| Error::Io { path: path.clone(), source: e })
        })
        .unwrap();
    assert_eq!(data, csv, "the data read at a capped rate is the same");
    // A lower bound only (sleeps never end early): the whole file at the rate takes 1/4 s.
    assert!(started.elapsed().as_secs_f64() >= size as f64 / rate as f64, "{:?}", started.elapsed());
    // No cap (0 is none).
    let source = Source::open(&path, u64::MAX).unwrap().with_read_rate(Some(0));
    assert!(source.read_rate.is_none());
}
