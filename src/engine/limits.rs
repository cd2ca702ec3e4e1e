//! Every text an event stores has a size limit, so no model, provider or peer can make a
//! session (or the memory holding it) grow without bound. Text over its limit is cut at a
//! character boundary with a marker saying how much was cut; the README's Security section
//! lists these numbers.

/// A task's title.
pub const TITLE_CHARS: usize = 300;
/// A task's detail, a human note.
pub const DETAIL_CHARS: usize = 4_000;
/// A point's headline (also limited to 25 words by the point rules).
pub const HEADLINE_CHARS: usize = 400;
/// A point's summary (also limited to 150 words).
pub const SUMMARY_CHARS: usize = 2_000;
/// One evidence quote: never below what the point rules accept (a quote the rules took
/// must reach verification whole, or it could not match its source).
pub const QUOTE_CHARS: usize = super::point_args::MAX_QUOTE_BYTES;
/// One evidence source, likewise.
pub const SOURCE_CHARS: usize = super::point_args::MAX_SOURCE_BYTES;
/// Evidence items per point.
pub const EVIDENCE_ITEMS: usize = 12;
/// An assistant message as the log keeps it.
pub const MESSAGE_CHARS: usize = 8_000;
/// A task result.
pub const RESULT_CHARS: usize = 8_000;
/// The final answer.
pub const ANSWER_CHARS: usize = 40_000;
/// An error or retry reason.
pub const ERROR_CHARS: usize = 2_000;
/// The start of a tool's output that the `tool_call` event keeps.
pub const TOOL_OUTPUT_CHARS: usize = 600;
/// A tool call's arguments as the `tool_call` event keeps them (serialized JSON).
pub const TOOL_ARGS_CHARS: usize = 2_000;
/// A `central` broadcast.
pub const BROADCAST_CHARS: usize = 8_000;
/// Ids and names participants choose (agent names, point ids they cite).
pub const NAME_CHARS: usize = 80;

/// `text` cut to at most `max` characters, ending in a marker that says how much was cut.
pub fn cap(text: &str, max: usize) -> String {
    // Cheap exit for the common case: a byte count under the limit is a char count under it.
    if text.len() <= max {
        return text.to_string();
    }
    let total = text.chars().count();
    if total <= max {
        return text.to_string();
    }
    let marker = format!(" … [cut: {total} characters, {max} kept]");
    let keep = max.saturating_sub(marker.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(&marker);
    out
}

/// [`cap`] in place, without copying text that fits.
pub fn cap_in_place(text: &mut String, max: usize) {
    if text.len() > max && text.chars().count() > max {
        *text = cap(text, max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_a_marker_and_stays_within_the_limit() {
        let long = "x".repeat(10_000);
        let cut = cap(&long, 100);
        assert!(cut.chars().count() <= 100, "{}", cut.chars().count());
        assert!(cut.ends_with("[cut: 10000 characters, 100 kept]"), "{cut}");
        assert_eq!(cap("short", 100), "short");
        let mut s = "é".repeat(500);
        cap_in_place(&mut s, 300);
        assert!(s.chars().count() <= 300);
    }
}
