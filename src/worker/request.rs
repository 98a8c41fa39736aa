//! What a load asks its workers to do. The caller writes it into a dynamic shared memory segment
//! for the first worker, which stores it in `vs_ingest.run.options` for the others (and for a
//! later `vs_ingest_resume`).
//!
//! Nothing security-relevant travels here: a worker takes `vs_ingest.allowed_dirs`,
//! `vs_ingest.max_entry_size` and the test-only settings from the server's own settings, and
//! checks every file it opens. (Requests stored by 0.1.0 also hold `allowed_dirs`,
//! `max_entry_bytes` and `test_exit_after_chunks`; they are ignored when read.)

use pgrx::PgSqlErrorCode;
use serde::{Deserialize, Serialize};

use crate::error::{IngestError, Result};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    /// The layout of this request as stored: 1 for requests stored by 0.1.0 (which have no such
    /// field), [`Request::VERSION`] for this release's. Every release reads every older layout.
    #[serde(default = "first_version")]
    pub version: u32,
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
    /// Spread the files over the Citus worker nodes (`nodes => 'workers'`) instead of loading
    /// them here; the run's worker then dispatches and follows their loads (`crate::cluster`).
    #[serde(default)]
    pub on_workers: bool,
    /// Rebuild every local day the files cover from these files alone, and swap it in
    /// (`replace => true`; `crate::write::replace`). A release that cannot replace must not resume
    /// such a run as a plain load: hence layout 3.
    #[serde(default)]
    pub replace: bool,
    /// What the load may take of the server (`crate::budget`); absent (layouts 1 and 2): full
    /// speed, as those releases loaded.
    #[serde(default)]
    pub budget: crate::budget::Budget,
    /// Keep only these links (`links => ...`; `crate::postgres::links`), read from the relation
    /// `links_from` when the load started; absent: every link.
    #[serde(default)]
    pub links: Option<Vec<i64>>,
    #[serde(default)]
    pub links_from: Option<String>,
    /// `unknown_links => 'load' | 'skip'` as given (`None`: not given, which loads them): what the
    /// workers do with the samples of links the target's network lacks (`crate::postgres::links`).
    #[serde(default)]
    pub unknown_links: Option<String>,
}

fn first_version() -> u32 {
    1
}

impl Request {
    /// The layout this release stores. 2 (0.2.0): adds `version` and `on_workers`; layout 1's
    /// `allowed_dirs`, `max_entry_bytes` and `test_exit_after_chunks` are ignored (read from the
    /// server instead). 3 (0.3.0): adds `replace`, `budget`, `links`, `links_from`
    /// and `unknown_links`.
    pub const VERSION: u32 = 3;

    /// Reads a request stored in `vs_ingest.run.options` by this or an earlier release.
    pub fn from_stored(json: &str) -> Result<Request> {
        let request: Request = serde_json::from_str(json).map_err(|e| IngestError::Postgres {
            code: PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            message: format!("the stored request of a run cannot be read: {e}"),
            detail: Some(json.chars().take(500).collect()),
            hint: Some("Start the load again with vs_ingest_dir; the files it loaded stay loaded.".into()),
        })?;
        if request.version > Request::VERSION {
            return Err(IngestError::Postgres {
                code: PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                message: format!(
                    "the run was stored by a later vs_ingest (request layout {}, this release reads up to {})",
                    request.version,
                    Request::VERSION
                ),
                detail: None,
                hint: Some("Resume it with the release that started it, or start the load again.".into()),
            });
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_stored_by_0_1_0_reads_as_layout_1() {
        // As 0.1.0 stored it (src/worker/request.rs at 7cdaf19), settings that are now read from
        // the server included.
        let stored = r#"{"dir":"/srv/its","pattern":"*.zip","files":["/srv/its/a.zip"],"target":"vs_its_hourly",
            "format":"its_5min","source_timezone":"Asia/Seoul","max_reject_ratio":0.01,"reload_changed":false,
            "threads":2,"chunk_size":4194304,"max_rejects_stored":1000,"allowed_dirs":["/srv/its"],
            "max_entry_bytes":68719476736,"test_exit_after_chunks":0}"#;
        let request = Request::from_stored(stored).unwrap();
        assert_eq!((request.version, request.source_id, request.files.len()), (1, None, 1));
        let again: Request = serde_json::from_str(&serde_json::to_string(&request).unwrap()).unwrap();
        assert_eq!(again.version, 1);
    }
}
