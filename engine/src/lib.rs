//! The pure engine of vs_ingest: no Postgres types, tested with plain `cargo test`.
//!
//! The pipeline, in folder order: [`source`] opens a file as decompressed byte streams (zip, gzip,
//! zstd or plain, told apart by magic bytes) → [`chunk`] cuts a stream into line-aligned chunks →
//! [`format`] parses a chunk's lines into samples and rejects → [`aggregate`] folds samples into
//! hourly rows (first sample wins) → [`pipeline`] runs those stages on threads and hands the
//! caller batches of finished hours. [`gen`] writes realistic test files.

pub mod aggregate;
pub mod calendar;
pub mod chunk;
pub mod copy_binary;
pub mod error;
pub mod format;
pub mod gen;
pub mod pipeline;
pub mod source;
