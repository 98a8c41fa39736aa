//! Fault injection for tests only (feature `fault-injection`): formats that fail on purpose, to
//! show how the pipeline and the database shell handle a parse thread that panics.

use super::{ChunkContext, Format, ParsedChunk};
use crate::calendar::Date;

pub const PANIC_IN_PARSER: &str = "fault_injection_panic_in_parser";

/// Panics on every chunk.
pub struct PanicInParser;

impl Format for PanicInParser {
    fn name(&self) -> &'static str {
        PANIC_IN_PARSER
    }

    fn parse_chunk(&self, _data: &[u8], _ctx: &ChunkContext) -> ParsedChunk {
        panic!("injected panic in a parse thread")
    }

    fn file_date(&self, _name: &str) -> Option<Date> {
        None
    }
}
