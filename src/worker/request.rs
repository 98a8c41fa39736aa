//! What a load asks its workers to do. The caller writes it into a dynamic shared memory segment
//! for the first worker, which stores it in `vs_ingest.run.options` for the others (and for a
//! later `vs_ingest_resume`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    pub dir: String,
    pub pattern: String,
    /// Files to load, as listed (each is checked against `allowed_dirs` again when claimed).
    pub files: Vec<String>,
    /// Canonical allowed directories at the time of the call.
    pub allowed_dirs: Vec<String>,
    pub target: String,
    pub format: String,
    pub source_timezone: String,
    pub max_reject_ratio: f64,
    pub reload_changed: bool,
    pub threads: usize,
    pub chunk_size: usize,
    pub max_entry_bytes: u64,
    pub max_rejects_stored: u64,
    /// Test-only fault injection (`vs_ingest.test_exit_after_chunks`): a worker exits abruptly,
    /// with a chunk half written, after committing this many chunks. 0 turns it off.
    #[serde(default)]
    pub test_exit_after_chunks: u32,
    /// The source (`vs_ingest.source`) a scheduled or `vs_ingest_run_source` load comes from.
    #[serde(default)]
    pub source_id: Option<i32>,
}
