//! What a load asks its workers to do. The caller writes it into a dynamic shared memory segment
//! for the first worker, which stores it in `vs_ingest.run.options` for the others (and for a
//! later `vs_ingest_resume`).
//!
//! Nothing security-relevant travels here: a worker takes `vs_ingest.allowed_dirs`,
//! `vs_ingest.max_entry_size` and the test-only settings from the server's own settings, and
//! checks every file it opens. (Requests stored by 0.1.0 also hold `allowed_dirs`,
//! `max_entry_bytes` and `test_exit_after_chunks`; they are ignored when read.)

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    pub dir: String,
    pub pattern: String,
    /// Files to load, as listed (each is checked against `allowed_dirs` again when opened).
    pub files: Vec<String>,
    pub target: String,
    pub format: String,
    pub source_timezone: String,
    pub max_reject_ratio: f64,
    pub reload_changed: bool,
    pub threads: usize,
    pub chunk_size: usize,
    pub max_rejects_stored: u64,
    /// The source (`vs_ingest.source`) a scheduled or `vs_ingest_run_source` load comes from.
    #[serde(default)]
    pub source_id: Option<i32>,
}
