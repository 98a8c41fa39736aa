//! Cutting a decompressed stream into line-aligned chunks.
//!
//! Each chunk ends at a line end (or at the end of the stream), so chunks parse independently on
//! any thread. A chunk knows its decompressed byte offset, which is what a resumed load skips to.

use std::io::{self, Read};

use crate::error::{Error, Result};

/// A run of whole lines from one entry.
#[derive(Debug)]
pub struct Chunk {
    /// Decompressed byte offset of `data[0]` within its entry.
    pub offset: u64,
    pub data: Vec<u8>,
    /// True for the chunk that starts the entry (its first line may be a header).
    pub first: bool,
}

pub struct Chunker<'a> {
    reader: &'a mut dyn Read,
    entry: String,
    chunk_size: usize,
    max_line: usize,
    carry: Vec<u8>,
    offset: u64,
    first: bool,
    eof: bool,
}

impl<'a> Chunker<'a> {
    /// `chunk_size` is the target size; a chunk grows past it only to finish a line, up to
    /// `max_line` bytes.
    pub fn new(reader: &'a mut dyn Read, entry: &str, chunk_size: usize, max_line: usize) -> Self {
        Chunker {
            reader,
            entry: entry.to_string(),
            chunk_size: chunk_size.max(1),
            max_line: max_line.max(chunk_size),
            carry: Vec::new(),
            offset: 0,
            first: true,
            eof: false,
        }
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
            // No line end in a whole chunk: read on, within the line length limit.
            if data.len() >= self.max_line {
                return Err(Error::LineTooLong { entry: self.entry.clone(), limit: self.max_line });
            }
            want = (want * 2).min(self.max_line);
        }
        if data.is_empty() {
            return Ok(None);
        }
        let chunk = Chunk { offset: self.offset, first: self.first, data };
        self.offset += chunk.data.len() as u64;
        self.first = false;
        Ok(Some(chunk))
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
                offset += c.data.len() as u64;
                if i + 1 < out.len() {
                    assert_eq!(*c.data.last().unwrap(), b'\n', "size {size}");
                }
            }
        }
    }

    #[test]
    fn a_line_longer_than_the_limit_is_an_error() {
        let input = [b'x'; 100];
        let mut reader = &input[..];
        let mut chunker = Chunker::new(&mut reader, "t", 8, 32);
        assert!(matches!(chunker.next_chunk(), Err(Error::LineTooLong { limit: 32, .. })));
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
