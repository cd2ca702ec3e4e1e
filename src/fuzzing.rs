//! What the fuzz targets in `fuzz/` drive (cargo feature `fuzzing`): every parser of
//! outside input, reachable from one place. Each must take any bytes without panicking.

pub use crate::llm::fuzzing::{Wire, decode as decode_response};

/// HTML to the text the documents workspace indexes.
pub fn html_to_text(html: &str) -> String {
    crate::engine::tools::html::to_text(html)
}

/// A PDF's text layer, as ingest reads it.
pub fn pdf_to_text(bytes: &[u8]) {
    let _ = crate::engine::tools::ingest::pdf_text(bytes);
}

/// Tool arguments as a model sent them, then as `record_point` arguments.
pub fn tool_arguments(raw: &str) {
    if let Ok(args) = crate::engine::point_args::parse_tool_args(raw) {
        let _ = crate::engine::point_args::parse_record_point(&args);
    }
}
