//! Streamed responses of every wire (OpenAI and Anthropic SSE, Ollama JSON lines), cut
//! into chunks of any size, then the same bytes as one JSON body: never a panic.
#![no_main]

use delm::fuzzing::{Wire, decode_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let wire = match first % 3 {
        0 => Wire::OpenAi,
        1 => Wire::Anthropic,
        _ => Wire::Ollama,
    };
    // Chunk sizes from 1 byte (every boundary) up: where a chunk ends must not matter.
    decode_response(wire, rest, usize::from(first / 3).max(1));
});
