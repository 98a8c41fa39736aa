//! Errors of the engine. The Postgres shell maps each onto a SQLSTATE in one place.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not read \"{}\": {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("\"{}\" is a corrupt or truncated {container} file: {detail}", path.display())]
    Corrupt { path: PathBuf, container: &'static str, detail: String },

    #[error("zip archive \"{}\" holds no .csv entry", path.display())]
    NoCsvEntry { path: PathBuf },

    #[error("entry \"{entry}\" of \"{}\" decompresses to more than {limit} bytes", path.display())]
    EntryTooLarge { path: PathBuf, entry: String, limit: u64 },

    #[error("\"{}\" is a {kind}, not a regular file", path.display())]
    NotRegularFile { path: PathBuf, kind: &'static str },

    #[error("\"{}\" is outside the directories vs_ingest may read", path.display())]
    OutsideAllowedDirs { path: PathBuf },

    #[error("\"{}\" changed while it was being read: {detail}", path.display())]
    ChangedWhileReading { path: PathBuf, detail: String },

    #[error("unknown format \"{0}\"")]
    UnknownFormat(String),

    #[error("an engine thread panicked: {0}")]
    Panic(String),

    #[error("the load was cancelled")]
    Cancelled,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Turns a caught panic payload into an error with its message.
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Error {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic payload".to_string());
        Error::Panic(message)
    }
}
