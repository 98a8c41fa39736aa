//! Streaming inflate with ISA-L (Intel's igzip), through the raw bindings of `isal-sys` linked to
//! the system's libisal.
//!
//! `isal-rs`'s own reader is not used: it copies the input through a 16 KiB buffer, gives no access
//! to the CRC ISA-L computes (a zip entry's check), and its no-progress guard counts across the
//! whole stream, so two legitimate empty steps anywhere fail a good file. Here ISA-L reads straight
//! from the caller's `BufRead` and writes straight into the caller's buffer.

use std::io::{self, BufRead, Read};

use isal_sys::igzip_lib as sys;

/// What the compressed stream is, and what it is checked against.
#[derive(Clone, Copy)]
enum Mode {
    /// gzip members one after another, each with its header and trailer (CRC and size) checked.
    Gzip,
    /// One raw deflate stream (a zip entry), checked at its end against the CRC-32 and size that
    /// the archive records.
    Raw { crc32: u32, size: u64 },
}

pub struct IsalDecoder<R> {
    inner: R,
    /// Boxed: about 40 KiB of tables and history.
    state: Box<sys::inflate_state>,
    mode: Mode,
    /// Decompressed bytes of the current stream (ISA-L's `total_out` is 32 bits).
    out: u64,
    done: bool,
}

impl<R: BufRead> IsalDecoder<R> {
    /// All gzip members of `inner`.
    pub fn gzip(inner: R) -> Self {
        Self::new(inner, Mode::Gzip)
    }

    /// The raw deflate stream of a zip entry, whose recorded CRC-32 and size are checked at its end.
    pub fn zip_entry(inner: R, crc32: u32, size: u64) -> Self {
        Self::new(inner, Mode::Raw { crc32, size })
    }

    fn new(inner: R, mode: Mode) -> Self {
        // SAFETY: inflate_state is plain integers, pointers and arrays, for which zero is valid;
        // isal_inflate_init then sets what it needs.
        let mut state: Box<sys::inflate_state> = unsafe { Box::new_zeroed().assume_init() };
        unsafe { sys::isal_inflate_init(&mut *state) };
        // GZIP parses and checks the wrapper; GZIP_NO_HDR is raw deflate with a CRC-32 kept of it.
        state.crc_flag = match mode {
            Mode::Gzip => sys::ISAL_GZIP,
            Mode::Raw { .. } => sys::ISAL_GZIP_NO_HDR,
        };
        IsalDecoder { inner, state, mode, out: 0, done: false }
    }

    /// The stream ended: another gzip member follows, or the entry's checks.
    fn finished(&mut self) -> io::Result<bool> {
        match self.mode {
            Mode::Gzip => {
                if self.inner.fill_buf()?.is_empty() {
                    return Ok(true);
                }
                // isal_inflate_reset keeps crc_flag.
                unsafe { sys::isal_inflate_reset(&mut *self.state) };
                self.out = 0;
                Ok(false)
            }
            Mode::Raw { crc32, size } => {
                if self.out != size {
                    return Err(invalid(format!("entry inflates to {} bytes, the archive says {size}", self.out)));
                }
                if self.state.crc != crc32 {
                    return Err(invalid(format!(
                        "invalid checksum: crc32 {:08x}, the archive says {crc32:08x}",
                        self.state.crc
                    )));
                }
                Ok(true)
            }
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn error_name(code: i32) -> &'static str {
    match code {
        sys::ISAL_INVALID_BLOCK => "invalid deflate block",
        sys::ISAL_INVALID_SYMBOL => "invalid deflate symbol",
        sys::ISAL_INVALID_LOOKBACK => "invalid lookback distance",
        sys::ISAL_INVALID_WRAPPER => "invalid gzip header",
        sys::ISAL_UNSUPPORTED_METHOD => "unsupported gzip method",
        sys::ISAL_INCORRECT_CHECKSUM => "invalid checksum",
        _ => "inflate error",
    }
}

impl<R: BufRead> Read for IsalDecoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.done {
            return Ok(0);
        }
        loop {
            if self.state.block_state == sys::isal_block_state_ISAL_BLOCK_FINISH && self.finished()? {
                self.done = true;
                return Ok(0);
            }
            let input = self.inner.fill_buf()?;
            let avail_in = input.len().min(u32::MAX as usize) as u32;
            let avail_out = buf.len().min(u32::MAX as usize) as u32;
            let st = &mut *self.state;
            // ISA-L only reads next_in (the pointer is mut in the C API) and keeps no pointer into
            // either buffer between calls: a partial header or lookback goes to its own buffers.
            st.next_in = input.as_ptr().cast_mut();
            st.avail_in = avail_in;
            st.next_out = buf.as_mut_ptr();
            st.avail_out = avail_out;
            let ret = unsafe { sys::isal_inflate(st) };
            let consumed = (avail_in - st.avail_in) as usize;
            let produced = (avail_out - st.avail_out) as usize;
            st.next_in = std::ptr::null_mut();
            st.next_out = std::ptr::null_mut();
            self.inner.consume(consumed);
            if ret < 0 {
                return Err(invalid(format!("{} (ISA-L error {ret})", error_name(ret))));
            }
            self.out += produced as u64;
            if produced > 0 {
                return Ok(produced);
            }
            if consumed == 0 && self.state.block_state != sys::isal_block_state_ISAL_BLOCK_FINISH {
                // Nothing in and nothing out: the input ended inside the stream (or ISA-L is
                // stuck on bad data, which must not loop for ever).
                return Err(if avail_in == 0 {
                    io::Error::new(io::ErrorKind::UnexpectedEof, "compressed stream truncated")
                } else {
                    invalid("inflate makes no progress: corrupt data".into())
                });
            }
        }
    }
}
