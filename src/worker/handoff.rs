//! Handing a request from the calling backend to its first worker, and the new run's id back.
//!
//! The caller's transaction is still open while its workers run, so nothing it writes to a table
//! is visible to them. The request therefore travels in a dynamic shared memory segment: a small
//! header the two processes poll, then the request's JSON.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use pgrx::pg_sys;

const WAITING: u32 = 0;
const REGISTERED: u32 = 1;
const FAILED: u32 = 2;
const MESSAGE_MAX: usize = 2048;

#[repr(C)]
struct Header {
    state: AtomicU32,
    run_id: AtomicI64,
    request_len: u32,
    message_len: u32,
    message: [u8; MESSAGE_MAX],
}

/// The caller's side.
pub struct Handoff {
    segment: *mut pg_sys::dsm_segment,
}

/// What the first worker answered.
pub enum Answer {
    Waiting,
    Registered(i64),
    Failed(String),
}

impl Handoff {
    pub fn new(request: &[u8]) -> Handoff {
        let size = std::mem::size_of::<Header>() + request.len();
        // SAFETY: a fresh segment of `size` bytes, written before any worker knows its handle.
        unsafe {
            let segment = pg_sys::dsm_create(size, 0);
            let base = pg_sys::dsm_segment_address(segment).cast::<u8>();
            let header = base.cast::<Header>();
            header.write(Header {
                state: AtomicU32::new(WAITING),
                run_id: AtomicI64::new(0),
                request_len: request.len() as u32,
                message_len: 0,
                message: [0; MESSAGE_MAX],
            });
            std::ptr::copy_nonoverlapping(request.as_ptr(), base.add(std::mem::size_of::<Header>()), request.len());
            Handoff { segment }
        }
    }

    pub fn handle(&self) -> u32 {
        // SAFETY: the segment is ours and attached.
        unsafe { pg_sys::dsm_segment_handle(self.segment) }
    }

    pub fn answer(&self) -> Answer {
        // SAFETY: the header was initialised in `new`; the worker writes it only through atomics
        // and publishes the message before setting the state.
        unsafe {
            let header = &*pg_sys::dsm_segment_address(self.segment).cast::<Header>();
            match header.state.load(Ordering::Acquire) {
                REGISTERED => Answer::Registered(header.run_id.load(Ordering::Acquire)),
                FAILED => {
                    let len = (header.message_len as usize).min(MESSAGE_MAX);
                    Answer::Failed(String::from_utf8_lossy(&header.message[..len]).into_owned())
                }
                _ => Answer::Waiting,
            }
        }
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        // SAFETY: detaching our own mapping; the worker keeps its own until it is done.
        unsafe { pg_sys::dsm_detach(self.segment) }
    }
}

/// The first worker's side: the request, and a way to answer.
pub struct Received {
    segment: *mut pg_sys::dsm_segment,
    pub request: Vec<u8>,
}

impl Received {
    /// Attaches to the caller's segment; `None` if the caller is already gone.
    pub fn attach(handle: u32) -> Option<Received> {
        // SAFETY: a segment created by `Handoff::new`, whose layout we share.
        unsafe {
            let segment = pg_sys::dsm_attach(handle);
            if segment.is_null() {
                return None;
            }
            let base = pg_sys::dsm_segment_address(segment).cast::<u8>();
            let header = &*base.cast::<Header>();
            let request =
                std::slice::from_raw_parts(base.add(std::mem::size_of::<Header>()), header.request_len as usize)
                    .to_vec();
            Some(Received { segment, request })
        }
    }

    fn header(&self) -> *mut Header {
        // SAFETY: attached in `attach`.
        unsafe { pg_sys::dsm_segment_address(self.segment).cast::<Header>() }
    }

    pub fn registered(self, run_id: i64) {
        // SAFETY: see `header`; the caller reads run_id only after seeing the state.
        unsafe {
            let header = &*self.header();
            header.run_id.store(run_id, Ordering::Release);
            header.state.store(REGISTERED, Ordering::Release);
        }
    }

    pub fn failed(self, message: &str) {
        // SAFETY: see `header`; the message is written before the state that publishes it.
        unsafe {
            let header = &mut *self.header();
            let len = message.len().min(MESSAGE_MAX);
            header.message[..len].copy_from_slice(&message.as_bytes()[..len]);
            header.message_len = len as u32;
            header.state.store(FAILED, Ordering::Release);
        }
    }
}

impl Drop for Received {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { pg_sys::dsm_detach(self.segment) }
    }
}
