//! Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`): the stream
//! decoders and response assemblers of every wire, fed arbitrary bytes exactly as a server
//! could send them, in chunks of any size. They must never panic; errors are fine.

use super::sse::{Framing, JsonLines, SseDecoder};
use super::transport::StreamDecoder;
use super::{anthropic, ollama, openai};

/// The wire formats delm reads.
#[derive(Debug, Clone, Copy)]
pub enum Wire {
    OpenAi,
    Anthropic,
    Ollama,
}

/// Decode `bytes` as a streamed response of `wire`, fed `chunk` bytes at a time, then as
/// one JSON body.
pub fn decode(wire: Wire, bytes: &[u8], chunk: usize) {
    match wire {
        Wire::OpenAi => stream::<openai::StreamState, SseDecoder>(bytes, chunk),
        Wire::Anthropic => stream::<anthropic::StreamState, SseDecoder>(bytes, chunk),
        Wire::Ollama => stream::<ollama::StreamState, JsonLines>(bytes, chunk),
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        let _ = match wire {
            Wire::OpenAi => openai::parse_completion(&value),
            Wire::Anthropic => anthropic::parse_message(&value),
            Wire::Ollama => ollama::parse_chat(&value),
        };
    }
}

fn stream<D: StreamDecoder, F: Framing + Default>(bytes: &[u8], chunk: usize) {
    let mut framing = F::default();
    let mut decoder = D::default();
    let feed = |framing: &mut F, decoder: &mut D| -> bool {
        while let Some(event) = framing.pop() {
            match decoder.apply(&event, &|_| {}) {
                Ok(false) => {}
                Ok(true) | Err(_) => return false,
            }
        }
        true
    };
    for piece in bytes.chunks(chunk.max(1)) {
        if framing.feed(piece).is_err() || !feed(&mut framing, &mut decoder) {
            let _ = decoder.finish();
            return;
        }
    }
    if framing.finish().is_ok() {
        feed(&mut framing, &mut decoder);
    }
    let _ = decoder.finish();
}
