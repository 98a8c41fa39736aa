//! The pure engine of vs_ingest: no Postgres types, tested with plain `cargo test`.
//!
//! The pipeline, in folder order: [`source`] opens a file as decompressed byte streams (zip, gzip,
//! zstd or plain, told apart by magic bytes) → [`chunk`] cuts a stream into line-aligned chunks →
//! [`format`] parses a chunk's lines into samples and rejects → [`links`] keeps a region's
//! links and counts those a network lacks → [`aggregate`] folds samples into
//! hourly rows (first sample wins) → [`pipeline`] runs those stages on threads and hands the
//! caller batches of finished hours → [`block`] merges them into the stored rows of six hours,
//! which [`stored`] encodes as Postgres holds them (on the engine's threads) and [`copy_binary`]
//! for COPY; [`rollup`] sums them per link and local day.
//!
//! The engine links only what loading needs. The test-file generator (`tools/gen`, package
//! `vs_ingest_gen`) and the benchmark tools (`tools/bench`, package `vs_ingest_bench`) are
//! separate workspace crates that depend on this one, never the other way round.

pub mod aggregate;
pub mod block;
pub mod calendar;
pub mod chunk;
pub mod copy_binary;
pub mod error;
pub mod format;
pub mod links;
pub mod pipeline;
pub mod rollup;
pub mod source;
pub mod stored;
