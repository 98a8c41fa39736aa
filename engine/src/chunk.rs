//! Cutting a decompressed stream into line-aligned chunks.
//!
//! Each chunk ends at a line end (or at the end of the stream), so chunks parse independently on
//! any thread. A chunk knows its decompressed byte range, whose end is what a resumed load skips
//! to.
//!
//! A line with more than `max_line` bytes before its line feed is never held whole: once the
//! chunker has `max_line + 1` bytes of it without a line feed, it keeps those, reads on to the
//! line's end without keeping anything, and hands them over as a chunk of their own, whose range
//! still covers the whole line. The format rejects that line as too long (see
//! [`crate::format::ChunkContext::max_line`]), as it does a long line it sees whole inside a
//! larger chunk. Memory stays within `max(chunk_size, max_line + 1)` bytes plus a read buffer.

use std::io::{self, Read};

use crate::error::{Error, Result};

/// A run of whole lines from one entry, or the start of one line that is too long.
#[derive(Debug)]
pub struct Chunk {
    /// Decompressed byte offset of `data[0]` within its entry.
    pub offset: u64,
    /// Decompressed byte offset just past the chunk: the next chunk starts here.
    pub end: u64,
    /// The bytes `offset..end`, except for a line longer than the limit: then only its first
    /// `max_line + 1` bytes, without a line feed.
    pub data: Vec<u8>,
    /// True for the chunk that starts the entry (its first line may be a header).
    pub first: bool,
}

impl Chunk {
    /// Decompressed bytes the chunk covers.
    pub fn len(&self) -> u64 {
        self.end - self.offset
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.offset
    }
}

pub struct Chunker<'a> {
    reader: &'a mut dyn Read,
    entry: String,
    chunk_size: usize,
    max_line: usize,
    /// Bytes read past the last chunk; they start a line.
    carry: Vec<u8>,
    offset: u64,
    first: bool,
    eof: bool,
}

/// Read buffer used while skipping the rest of a line that is too long.
const SKIP_BUFFER: usize = 64 << 10;

impl<'a> Chunker<'a> {
    /// `chunk_size` is the target size; a chunk grows past it only to finish a line of at most
    /// `max_line` bytes (at least 1) before its line feed.
    pub fn new(reader: &'a mut dyn Read, entry: &str, chunk_size: usize, max_line: usize) -> Self {
        Chunker {
            reader,
            entry: entry.to_string(),
            chunk_size: chunk_size.max(1),
            max_line: max_line.max(1),
            carry: Vec::new(),
            offset: 0,
            first: true,
            eof: false,
        }
    }

    /// The line length limit in force: give it to the format (`ChunkContext::max_line`).
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Skips the first `bytes` decompressed bytes (a resumed load's committed offset).
    pub fn skip(&mut self, bytes: u64) -> Result<()> {
        let copied = io::copy(&mut (&mut self.reader).take(bytes), &mut io::sink()).map_err(|e| self.read_error(e))?;
        self.offset = copied;
        self.first = copied == 0;
        Ok(())
    }

    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        if self.eof && self.carry.is_empty() {
            return Ok(None);
        }
        let mut data = std::mem::take(&mut self.carry);
        data.reserve(self.chunk_size.saturating_sub(data.len()) + 1024);
        let mut want = self.chunk_size;
        let mut end = None;
        loop {
            // Zero the room once and fill it with as many reads as it takes: decompressors
            // return a little at a time, and zeroing the rest again after every read cost more
            // than a tenth of the reader thread.
            let mut filled = data.len();
            data.resize(want.max(filled), 0);
            while !self.eof && filled < want {
                match self.reader.read(&mut data[filled..want]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        data.truncate(filled);
                        return Err(self.read_error(e));
                    }
                }
            }
            data.truncate(filled);
            if self.eof {
                break;
            }
            if let Some(last_newline) = memchr::memrchr(b'\n', &data) {
                self.carry = data[last_newline + 1..].to_vec();
                data.truncate(last_newline + 1);
                break;
            }
            // No line end: `data` is the start of one line. Past the limit, keep its first
            // `max_line + 1` bytes and skip the rest; else read on.
            if data.len() > self.max_line {
                let kept = self.max_line + 1;
                let skipped = (data.len() - kept) as u64 + self.skip_line()?;
                data.truncate(kept);
                end = Some(self.offset + kept as u64 + skipped);
                break;
            }
            want = data.len().saturating_mul(2).min(self.max_line.saturating_add(1));
        }
        if data.is_empty() {
            return Ok(None);
        }
        let end = end.unwrap_or(self.offset + data.len() as u64);
        let chunk = Chunk { offset: self.offset, end, first: self.first, data };
        self.offset = end;
        self.first = false;
        Ok(Some(chunk))
    }

    /// Reads past the next line feed (or to the end of the stream) without keeping what it
    /// reads; what follows the line feed becomes the carry. Returns the bytes skipped, the line
    /// feed included.
    fn skip_line(&mut self) -> Result<u64> {
        let mut buf = vec![0u8; SKIP_BUFFER];
        let mut skipped = 0u64;
        loop {
            let n = match self.reader.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(skipped);
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(e)),
            };
            if let Some(newline) = memchr::memchr(b'\n', &buf[..n]) {
                self.carry = buf[newline + 1..n].to_vec();
                return Ok(skipped + newline as u64 + 1);
            }
            skipped += n as u64;
        }
    }

    fn read_error(&self, e: io::Error) -> Error {
        // The source's guard records the real cause; this only has to stop the load.
        Error::Io { path: self.entry.clone().into(), source: e }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(input: &[u8], size: usize) -> Vec<Chunk> {
        let mut reader = input;
        let mut chunker = Chunker::new(&mut reader, "t", size, 1 << 20);
        std::iter::from_fn(|| chunker.next_chunk().unwrap()).collect()
    }

    #[test]
    fn chunks_end_on_line_ends_and_cover_the_stream() {
        let input = b"aaa\nbbbbbb\ncc\ndddddddd\ne";
        for size in 1..30 {
            let out = chunks(input, size);
            let joined: Vec<u8> = out.iter().flat_map(|c| c.data.clone()).collect();
            assert_eq!(joined, input, "size {size}");
            let mut offset = 0;
            for (i, c) in out.iter().enumerate() {
                assert_eq!(c.offset, offset);
                assert_eq!(c.first, i == 0);
                assert_eq!(c.len(), c.data.len() as u64);
                offset += c.data.len() as u64;
                if i + 1 < out.len() {
                    assert_eq!(*c.data.last().unwrap(), b'\n', "size {size}");
                }
            }
        }
    }

    fn chunks_limited(input: &[u8], size: usize, max_line: usize) -> Vec<Chunk> {
        let mut reader = input;
        let mut chunker = Chunker::new(&mut reader, "t", size, max_line);
        std::iter::from_fn(|| chunker.next_chunk().unwrap()).collect()
    }

    #[test]
    fn a_line_longer_than_the_limit_is_cut_to_its_start_and_skipped() {
        let long = [b'x'; 100];
        let input = [&b"ab\n"[..], &long, b"\ncd\nef"].concat();
        for size in [1, 2, 3, 8, 40, 200] {
            let out = chunks_limited(&input, size, 32);
            // Unless a chunk holds it whole (the format rejects it then), only its first 33 bytes
            // are kept, in a chunk whose range is the whole line.
            let cut: Vec<_> = out.iter().filter(|c| c.data.len() as u64 != c.len()).collect();
            assert_eq!(cut.len(), usize::from(size <= 100), "size {size}");
            for c in cut {
                assert_eq!((c.offset, c.end, &c.data[..]), (3, 104, &long[..33]), "size {size}");
            }
            // The ranges cover the stream exactly; all else is kept whole.
            let mut offset = 0;
            let mut kept = Vec::new();
            for (i, c) in out.iter().enumerate() {
                assert_eq!((c.offset, c.first), (offset, i == 0), "size {size}");
                offset = c.end;
                if c.data.len() as u64 == c.len() {
                    kept.extend_from_slice(&c.data);
                } else {
                    assert_eq!(c.offset, 3, "size {size}");
                    kept.extend_from_slice(&input[3..104]);
                }
            }
            assert_eq!(offset, input.len() as u64, "size {size}");
            assert_eq!(kept, input, "size {size}");
        }
    }

    #[test]
    fn a_long_last_line_without_a_line_feed_ends_the_stream() {
        let input = [&b"ab\n"[..], &[b'y'; 50]].concat();
        let out = chunks_limited(&input, 4, 10);
        let last = out.last().unwrap();
        assert_eq!((last.offset, last.end, last.data.len()), (3, 53, 11));
    }

    #[test]
    fn lines_at_the_limit_are_kept_whole() {
        // 10 bytes before the line feed is not too long at max_line 10; 11 is.
        let input = b"0123456789\n0123456789\r\nab\n";
        let out = chunks_limited(input, 4, 10);
        let ranges: Vec<_> = out.iter().map(|c| (c.offset, c.end, c.data.len())).collect();
        assert_eq!(ranges, vec![(0, 11, 11), (11, 23, 11), (23, 26, 3)]);
    }

    #[test]
    fn a_huge_line_is_streamed_past_not_buffered() {
        // 256 MiB without a line feed, from a reader that holds none of it.
        let huge = 256u64 << 20;
        let mut reader = io::repeat(b'x').take(huge).chain(&b"\nok\n"[..]);
        let mut chunker = Chunker::new(&mut reader, "t", 4096, 1024);
        let c = chunker.next_chunk().unwrap().unwrap();
        assert_eq!((c.offset, c.end, c.data.len(), c.data.capacity() < 64 << 10), (0, huge + 1, 1025, true));
        let c = chunker.next_chunk().unwrap().unwrap();
        assert_eq!((c.offset, c.end, &c.data[..]), (huge + 1, huge + 4, &b"ok\n"[..]));
        assert!(chunker.next_chunk().unwrap().is_none());
    }

    #[test]
    fn skip_then_a_long_line_keeps_offsets() {
        let input = [&b"l1\n"[..], &[b'z'; 40], b"\nl3\n"].concat();
        let mut reader = &input[..];
        let mut chunker = Chunker::new(&mut reader, "t", 4, 8);
        chunker.skip(3).unwrap();
        let c = chunker.next_chunk().unwrap().unwrap();
        assert_eq!((c.offset, c.end, c.first, c.data.len()), (3, 44, false, 9));
        let c = chunker.next_chunk().unwrap().unwrap();
        assert_eq!((c.offset, c.end, &c.data[..]), (44, 47, &b"l3\n"[..]));
        assert!(chunker.next_chunk().unwrap().is_none());
    }

    #[test]
    fn skip_resumes_at_an_offset() {
        let input = b"l1\nl2\nl3\n";
        let mut reader = &input[..];
        let mut chunker = Chunker::new(&mut reader, "t", 4, 1 << 20);
        chunker.skip(3).unwrap();
        let c = chunker.next_chunk().unwrap().unwrap();
        assert_eq!((c.offset, c.first, &c.data[..]), (3, false, &b"l2\n"[..]));
    }

    #[test]
    fn empty_stream_has_no_chunks() {
        assert!(chunks(b"", 8).is_empty());
    }
}
