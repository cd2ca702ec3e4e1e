//! A worker's JSON-lines output, read with bounds: a line longer than [`MAX_LINE_BYTES`] is
//! skipped (and counted), at most [`MAX_LINES`] lines are parsed; the rest is drained
//! unread so the child never blocks on a full pipe.

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Longest line parsed (a tool result with a whole file in it fits; a runaway does not).
pub const MAX_LINE_BYTES: usize = 4 << 20;
/// Lines parsed per process.
pub const MAX_LINES: usize = 200_000;

/// What was left unparsed, for the worker's report.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Lines over [`MAX_LINE_BYTES`].
    pub long: usize,
    /// Lines that were not JSON objects.
    pub not_json: usize,
    /// Lines after the first [`MAX_LINES`].
    pub over_count: usize,
}

/// Read `reader` to its end, calling `each` with every JSON object line.
pub async fn read_lines<R: AsyncRead + Unpin>(reader: R, mut each: impl FnMut(Value)) -> Skipped {
    let mut reader = BufReader::with_capacity(64 << 10, reader);
    let mut skipped = Skipped::default();
    let mut line = Vec::new();
    let mut parsed = 0usize;
    loop {
        line.clear();
        match read_bounded_line(&mut reader, &mut line).await {
            Ok(Line::End) | Err(_) => return skipped,
            Ok(Line::TooLong) => skipped.long += 1,
            Ok(Line::Whole) if parsed >= MAX_LINES => skipped.over_count += 1,
            Ok(Line::Whole) => {
                let text = line.trim_ascii();
                if text.is_empty() {
                    continue;
                }
                parsed += 1;
                match serde_json::from_slice::<Value>(text) {
                    Ok(value) if value.is_object() => each(value),
                    _ => skipped.not_json += 1,
                }
            }
        }
    }
}

enum Line {
    Whole,
    TooLong,
    End,
}

/// One line into `buf` (without its newline), never holding more than the cap: the rest
/// of a longer line is read and dropped.
async fn read_bounded_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<Line> {
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => Line::End,
                (true, true) => Line::TooLong,
                (true, false) => Line::Whole,
            });
        }
        any = true;
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > MAX_LINE_BYTES {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        reader.consume(if done { take + 1 } else { take });
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Whole });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_are_parsed_and_the_rest_is_counted() {
        let long = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_LINE_BYTES + 10));
        let input = format!("{{\"a\":1}}\nnot json\n\n[1]\n{long}\n{{\"b\":2}}");
        let mut seen = Vec::new();
        let skipped = read_lines(input.as_bytes(), |v| seen.push(v)).await;
        assert_eq!(
            seen,
            vec![serde_json::json!({"a":1}), serde_json::json!({"b":2})]
        );
        assert_eq!(
            skipped,
            Skipped {
                long: 1,
                not_json: 2,
                over_count: 0
            }
        );
    }
}
