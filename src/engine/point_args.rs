//! Reading tool arguments as models really send them: lenient in form, bounded in size.
//!
//! Real models double-encode arguments, wrap them in code fences, capitalise enum values,
//! send one evidence object instead of a list (or the list as a JSON string), name `source`
//! `doc` or `path`, write `lines` as a number or `[a, b]`, and put the location in the
//! source (`src/a.rs:141`). All of that is accepted here and turned into one canonical
//! form; what cannot be read is refused with a message that says what was wrong and how to
//! fix it. Every field has a size limit (see the constants); what is cut is said in
//! [`PointDraft::notes`], which the author is told. Pure: no I/O, no async. (Its length is
//! mostly tests: one per form a model was seen to send.)
//! A third of it is tests: one per habit of real models that the reader accepts.

use crate::engine::tools::span;
use crate::event::{Evidence, PointKind};
use serde_json::{Map, Value};

/// Tool arguments longer than this are refused (a `write_file` of the largest allowed file
/// fits).
pub const MAX_ARGS_BYTES: usize = 2 * 1024 * 1024;
/// A headline is at most this many words...
pub const HEADLINE_MAX_WORDS: usize = 25;
/// ...and a summary at most this many; longer ones are cut, with a note.
pub const SUMMARY_MAX_WORDS: usize = 150;
/// Headline and summary are first cut to this many bytes (a 10 MB headline with no spaces
/// is one "word").
pub const MAX_TEXT_BYTES: usize = 8 * 1024;
/// A quote is cut to this many bytes (about 60 lines of code).
pub const MAX_QUOTE_BYTES: usize = 4 * 1024;
/// A source longer than this is not a path or an id.
pub const MAX_SOURCE_BYTES: usize = 512;
/// A `lines` value longer than this is not a span.
pub const MAX_SPAN_BYTES: usize = 64;
/// Evidence items kept per point.
pub const MAX_EVIDENCE: usize = 12;
/// Longest piece of model input echoed back in a message.
pub const MAX_ECHO_CHARS: usize = 120;

/// Parse a tool call's argument text: a JSON object, also double-encoded (a JSON string
/// holding the object), inside a code fence, or with whitespace around it. Empty text is
/// an empty object.
pub fn parse_tool_args(raw: &str) -> Result<Value, String> {
    if raw.len() > MAX_ARGS_BYTES {
        return Err(format!(
            "the arguments are {} bytes, over the {} MB limit; send less (read or write in \
             parts)",
            raw.len(),
            MAX_ARGS_BYTES / (1024 * 1024)
        ));
    }
    let text = strip_fence(raw.trim());
    if text.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let value = parse_one(text)?;
    match value {
        Value::Object(_) => Ok(value),
        Value::String(inner) => match parse_one(strip_fence(inner.trim())) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(
                "the arguments must be a JSON object (got a string that does not hold one); \
                 send one JSON object matching the tool's schema"
                    .into(),
            ),
        },
        other => Err(format!(
            "the arguments must be a JSON object, got {}; send one JSON object matching the \
             tool's schema",
            json_kind(&other)
        )),
    }
}

fn parse_one(text: &str) -> Result<Value, String> {
    serde_json::from_str::<Value>(text).map_err(|e| {
        format!(
            "the arguments are not valid JSON ({e}); send one JSON object matching the tool's \
             schema"
        )
    })
}

/// The body of a ```` ```json ... ``` ```` fence, or the text as it is.
fn strip_fence(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    let body = rest.split_once('\n').map_or("", |(_, b)| b);
    body.trim_end().strip_suffix("```").unwrap_or(body).trim()
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `record_point` arguments in canonical form: the protocol's draft, which the board gives
/// an id, an author and a task.
pub use crate::engine::protocol::PointDraft;

/// Read `record_point` arguments (already parsed by [`parse_tool_args`]).
pub fn parse_record_point(args: &Value) -> Result<PointDraft, String> {
    let mut notes = Vec::new();
    let kind = parse_kind(args.get("kind"))?;
    let headline = text_field(args, "headline")?;
    let headline = bounded_words(&headline, "headline", HEADLINE_MAX_WORDS, &mut notes);
    if headline.is_empty() {
        return Err(format!(
            "`headline` is required: the point in at most {HEADLINE_MAX_WORDS} words, \
             self-contained"
        ));
    }
    let summary = text_field(args, "summary")?;
    let summary = bounded_words(&summary, "summary", SUMMARY_MAX_WORDS, &mut notes);
    let evidence = parse_evidence(args.get("evidence"), &mut notes)?;
    let supersedes = match args.get("supersedes") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(point_id(s).ok_or_else(|| {
            format!(
                "`supersedes` must be the id of a point (\"P3\"), got `{}`",
                clip_echo(s)
            )
        })?),
        Some(other) => {
            return Err(format!(
                "`supersedes` must be a point id string (\"P3\"), got {}",
                json_kind(other)
            ));
        }
    };
    Ok(PointDraft {
        kind,
        headline,
        summary,
        evidence,
        supersedes,
        notes,
    })
}

/// `kind`, case- and space-insensitive, with plurals and the unambiguous synonyms.
fn parse_kind(value: Option<&Value>) -> Result<PointKind, String> {
    let allowed = "`kind` must be finding (an established fact, with evidence), partial \
                   (progress or a lead), failure (an approach that did not work) or \
                   constraint (a rule every agent must follow)";
    let text = match value {
        Some(Value::String(s)) => s.trim().to_lowercase(),
        None | Some(Value::Null) => return Err(format!("{allowed}; it is missing")),
        Some(other) => return Err(format!("{allowed}; got {}", json_kind(other))),
    };
    let word: String = text
        .chars()
        .map(|c| if c == '-' || c == '_' { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(match word.as_str() {
        "finding" | "findings" => PointKind::Finding,
        "partial" | "partials" | "partial finding" | "partial result" => PointKind::Partial,
        "failure" | "failures" | "failed" | "dead end" | "failed approach" => PointKind::Failure,
        "constraint" | "constraints" => PointKind::Constraint,
        _ => return Err(format!("{allowed}; got `{}`", clip_echo(&text))),
    })
}

/// A text field: a string (numbers and booleans are taken as text); absent is empty.
fn text_field(args: &Value, key: &str) -> Result<String, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(cut_bytes(s, MAX_TEXT_BYTES).to_string()),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(v.to_string()),
        Some(other) => Err(format!(
            "`{key}` must be a string, got {}; write it as plain text",
            json_kind(other)
        )),
    }
}

/// `text` on one line, cut to `max` words (noted).
fn bounded_words(text: &str, field: &str, max: usize, notes: &mut Vec<String>) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= max {
        return words.join(" ");
    }
    notes.push(format!(
        "the {field} had {} words and was cut to the first {max} (a {field} is at most {max} \
         words)",
        words.len()
    ));
    format!("{}…", words[..max].join(" "))
}

/// The longest prefix of `s` of at most `max` bytes, on a character boundary.
fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut at = max;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    &s[..at]
}

/// `evidence` as a list, one object, or a JSON string holding either.
fn parse_evidence(value: Option<&Value>, notes: &mut Vec<String>) -> Result<Vec<Evidence>, String> {
    const FORM: &str = "`evidence` must be a list of {source, lines, quote} objects";
    let items: Vec<Value> = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(item @ Value::Object(_)) => vec![item.clone()],
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => {
            match serde_json::from_str::<Value>(strip_fence(cut_bytes(s.trim(), MAX_ARGS_BYTES))) {
                Ok(Value::Array(items)) => items,
                Ok(item @ Value::Object(_)) => vec![item],
                _ => {
                    return Err(format!(
                        "{FORM}; got a string that is not such a list (`{}`)",
                        clip_echo(s)
                    ));
                }
            }
        }
        Some(other) => return Err(format!("{FORM}; got {}", json_kind(other))),
    };
    if items.len() > MAX_EVIDENCE {
        notes.push(format!(
            "{} evidence items were sent; only the first {MAX_EVIDENCE} were kept",
            items.len()
        ));
    }
    items
        .iter()
        .take(MAX_EVIDENCE)
        .enumerate()
        .map(|(i, item)| parse_evidence_item(i + 1, item, notes))
        .collect()
}

const SOURCE_KEYS: &[&str] = &["source", "doc", "document", "path", "file", "point"];
const QUOTE_KEYS: &[&str] = &["quote", "text", "excerpt", "quotation"];
const LINES_KEYS: &[&str] = &["lines", "line", "span", "range", "location"];

fn parse_evidence_item(
    n: usize,
    item: &Value,
    notes: &mut Vec<String>,
) -> Result<Evidence, String> {
    let parsed;
    let item = match item {
        Value::Object(_) => item,
        Value::String(s) => match serde_json::from_str::<Value>(cut_bytes(s, MAX_ARGS_BYTES)) {
            Ok(v @ Value::Object(_)) => {
                parsed = v;
                &parsed
            }
            _ => {
                return Err(format!(
                    "evidence {n} must be an object {{source, lines, quote}}, got the text \
                     `{}`",
                    clip_echo(s)
                ));
            }
        },
        other => {
            return Err(format!(
                "evidence {n} must be an object {{source, lines, quote}}, got {}",
                json_kind(other)
            ));
        }
    };
    let first_str = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| item.get(*k).and_then(scalar_text).filter(|s| !s.is_empty()))
    };
    let source = first_str(SOURCE_KEYS).ok_or_else(|| {
        format!(
            "evidence {n} needs a `source`: a file path or document id, cmd:<run id>, \
             patch:<agent id>, or a point id (\"P3\")"
        )
    })?;
    if source.len() > MAX_SOURCE_BYTES {
        return Err(format!(
            "evidence {n}: the source is {} characters long (`{}`); a source is a path, a \
             document id, cmd:<id>, patch:<agent> or a point id",
            source.chars().count(),
            clip_echo(&source)
        ));
    }
    let mut source = source.trim().trim_start_matches("./").to_string();
    if let Some(id) = point_id(&source) {
        source = id;
    }
    let mut lines = lines_value(item, n, notes);
    if lines.is_none()
        && let Some((path, location)) = span::split_source(&source)
    {
        lines = Some(location.to_string());
        source = path.to_string();
    }
    let quote = first_str(QUOTE_KEYS).unwrap_or_default();
    let quote = if quote.len() > MAX_QUOTE_BYTES {
        notes.push(format!(
            "the quote of evidence {n} was cut to its first {MAX_QUOTE_BYTES} bytes; quote \
             the few lines that support the claim"
        ));
        cut_bytes(&quote, MAX_QUOTE_BYTES).to_string()
    } else {
        quote
    };
    Ok(Evidence {
        source,
        lines,
        quote,
        resolved: None,
    })
}

/// A string, or a number or boolean as text.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The span of an evidence item, in the canonical vocabulary: `"12-15"` or `"12"` from a
/// string, a number, `[a, b]`, `{start, end}`, `start`/`end` keys; `"1200+80"` from
/// `offset`/`len` keys. An unusable value is dropped (noted): the span is only a hint.
fn lines_value(item: &Value, n: usize, notes: &mut Vec<String>) -> Option<String> {
    let num = |v: &Value| match v {
        Value::Number(x) => x.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let range = |a: u64, b: Option<u64>| match b {
        Some(b) if b != a => format!("{a}-{b}"),
        _ => a.to_string(),
    };
    if let Some(v) = LINES_KEYS.iter().find_map(|k| item.get(*k)) {
        let text = match v {
            Value::Null => return None,
            Value::String(s) if s.trim().is_empty() => return None,
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(_) => num(v).map(|a| a.to_string()),
            Value::Array(parts) => match parts.as_slice() {
                [a] => num(a).map(|a| a.to_string()),
                [a, b] => num(a).zip(num(b)).map(|(a, b)| range(a, Some(b))),
                _ => None,
            },
            Value::Object(o) => o
                .get("start")
                .and_then(num)
                .map(|a| range(a, o.get("end").and_then(num))),
            Value::Bool(_) => None,
        };
        let usable = text.filter(|t| t.len() <= MAX_SPAN_BYTES);
        if usable.is_none() {
            notes.push(format!(
                "the lines of evidence {n} could not be read and were ignored (write \
                 \"12-15\", \"12\" or \"1200+80\")"
            ));
        }
        return usable;
    }
    let get = |keys: &[&str]| keys.iter().find_map(|k| item.get(*k).and_then(num));
    if let (Some(offset), Some(len)) = (get(&["offset"]), get(&["len", "length"])) {
        return Some(format!("{offset}+{len}"));
    }
    get(&["start", "start_line", "line_start"])
        .map(|a| range(a, get(&["end", "end_line", "line_end"])))
}

/// `P3` (also `p3`, ` P3 `) as a point id.
fn point_id(text: &str) -> Option<String> {
    let t = text.trim();
    let digits = t.strip_prefix(['P', 'p'])?;
    (!digits.is_empty() && digits.len() <= 9 && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| format!("P{digits}"))
}

/// Model input quoted in an error message, cut to [`MAX_ECHO_CHARS`] characters and to one
/// line: a 10 MB id must not come back as a 10 MB error.
pub fn clip_echo(text: &str) -> String {
    let total = text.chars().count();
    let shown: String = text
        .chars()
        .take(MAX_ECHO_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if total <= MAX_ECHO_CHARS {
        shown
    } else {
        format!("{shown}… ({total} characters)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_args_in_every_form_models_send() {
        let want = json!({"a": 1});
        assert_eq!(parse_tool_args("{\"a\": 1}").unwrap(), want);
        assert_eq!(parse_tool_args("  {\"a\": 1}\n").unwrap(), want);
        assert_eq!(parse_tool_args("\"{\\\"a\\\": 1}\"").unwrap(), want);
        assert_eq!(parse_tool_args("```json\n{\"a\": 1}\n```").unwrap(), want);
        assert_eq!(parse_tool_args("").unwrap(), json!({}));
        assert!(
            parse_tool_args("{\"a\": 1")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(parse_tool_args("[1]").unwrap_err().contains("JSON object"));
        assert!(
            parse_tool_args("\"just text\"")
                .unwrap_err()
                .contains("JSON object")
        );
        let huge = format!("{{\"a\": \"{}\"}}", "x".repeat(MAX_ARGS_BYTES));
        assert!(parse_tool_args(&huge).unwrap_err().contains("limit"));
    }

    #[test]
    fn kinds_are_case_insensitive_with_plurals_and_clear_synonyms() {
        for (text, kind) in [
            ("Finding", PointKind::Finding),
            (" FINDING ", PointKind::Finding),
            ("findings", PointKind::Finding),
            ("Partial-Finding", PointKind::Partial),
            ("dead_end", PointKind::Failure),
            ("Failed", PointKind::Failure),
            ("CONSTRAINT", PointKind::Constraint),
        ] {
            let args = json!({"kind": text, "headline": "h"});
            assert_eq!(parse_record_point(&args).unwrap().kind, kind, "{text}");
        }
        let err = parse_record_point(&json!({"kind": "fact", "headline": "h"})).unwrap_err();
        assert!(
            err.contains("got `fact`") && err.contains("finding ("),
            "{err}"
        );
        let err = parse_record_point(&json!({"headline": "h"})).unwrap_err();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn evidence_as_list_object_or_json_string_with_aliases() {
        let one = json!({"doc": "./reports/q3.txt", "lines": 12, "quote": "Revenue rose"});
        let forms = [
            json!([one.clone()]),
            one.clone(),
            Value::String(json!([one.clone()]).to_string()),
            Value::String(one.to_string()),
        ];
        for evidence in forms {
            let args = json!({"kind": "finding", "headline": "h", "evidence": evidence});
            let draft = parse_record_point(&args).unwrap();
            assert_eq!(
                draft.evidence,
                vec![Evidence {
                    source: "reports/q3.txt".into(),
                    lines: Some("12".into()),
                    quote: "Revenue rose".into(),
                    resolved: None,
                }]
            );
        }
        for (key, value) in [("path", "a.rs"), ("file", "a.rs"), ("document", "a.rs")] {
            let args = json!({"kind": "finding", "headline": "h",
                              "evidence": [{key: value, "quote": "q"}]});
            assert_eq!(
                parse_record_point(&args).unwrap().evidence[0].source,
                "a.rs"
            );
        }
        let err = parse_record_point(&json!({"kind": "finding", "headline": "h",
                                             "evidence": "see the report"}))
        .unwrap_err();
        assert!(err.contains("list of {source, lines, quote}"), "{err}");
        let err = parse_record_point(&json!({"kind": "finding", "headline": "h",
                                             "evidence": [{"quote": "q"}]}))
        .unwrap_err();
        assert!(err.contains("evidence 1 needs a `source`"), "{err}");
    }

    #[test]
    fn spans_are_read_in_every_form() {
        let lines = |item: Value| {
            let args = json!({"kind": "finding", "headline": "h", "evidence": [item]});
            let e = parse_record_point(&args).unwrap().evidence.remove(0);
            (e.source, e.lines)
        };
        let s = |x: &str| Some(x.to_string());
        assert_eq!(lines(json!({"source": "a.rs", "lines": "3-4"})).1, s("3-4"));
        assert_eq!(
            lines(json!({"source": "a.rs", "lines": [3, 4]})).1,
            s("3-4")
        );
        assert_eq!(lines(json!({"source": "a.rs", "lines": [7]})).1, s("7"));
        assert_eq!(
            lines(json!({"source": "a.rs", "lines": {"start": 3, "end": 9}})).1,
            s("3-9")
        );
        assert_eq!(
            lines(json!({"source": "a.rs", "start": 5, "end": 6})).1,
            s("5-6")
        );
        assert_eq!(
            lines(json!({"source": "q.txt", "offset": 1200, "len": 80})).1,
            s("1200+80")
        );
        assert_eq!(
            lines(json!({"source": "src/a.rs:141-150"})),
            ("src/a.rs".into(), s("141-150"))
        );
        assert_eq!(lines(json!({"source": "src/a.rs:141"})).1, s("141"));
        assert_eq!(lines(json!({"source": "cmd:c3"})), ("cmd:c3".into(), None));
        assert_eq!(lines(json!({"source": "p3"})).0, "P3");
    }

    #[test]
    fn limits_cut_with_a_note() {
        let headline = (0..40)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let summary = "word ".repeat(400);
        let args = json!({"kind": "finding", "headline": headline, "summary": summary,
                          "evidence": vec![json!({"source": "a", "quote": "q"}); 20]});
        let draft = parse_record_point(&args).unwrap();
        assert_eq!(
            draft.headline.split_whitespace().count(),
            HEADLINE_MAX_WORDS
        );
        assert!(draft.headline.ends_with('…'));
        assert_eq!(draft.summary.split_whitespace().count(), SUMMARY_MAX_WORDS);
        assert_eq!(draft.evidence.len(), MAX_EVIDENCE);
        assert_eq!(draft.notes.len(), 3, "{:?}", draft.notes);
        assert!(draft.notes[0].contains("headline had 40 words"));

        // A 10 MB headline with no spaces is cut to the byte cap first.
        let args = json!({"kind": "finding", "headline": "x".repeat(10 * 1024 * 1024)});
        let draft = parse_record_point(&args).unwrap();
        assert!(draft.headline.len() <= MAX_TEXT_BYTES);

        let args = json!({"kind": "finding", "headline": "h",
                          "evidence": [{"source": "s".repeat(5000), "quote": "q"}]});
        let err = parse_record_point(&args).unwrap_err();
        assert!(err.contains("5000 characters") && err.len() < 400, "{err}");

        let args = json!({"kind": "finding", "headline": "h",
                          "evidence": [{"source": "a", "quote": "q".repeat(10_000)}]});
        let draft = parse_record_point(&args).unwrap();
        assert_eq!(draft.evidence[0].quote.len(), MAX_QUOTE_BYTES);
        assert!(draft.notes[0].contains("quote of evidence 1 was cut"));
    }

    #[test]
    fn supersedes_and_empty_headlines() {
        let args = json!({"kind": "finding", "headline": "h", "supersedes": " p12 "});
        assert_eq!(
            parse_record_point(&args).unwrap().supersedes.as_deref(),
            Some("P12")
        );
        let args = json!({"kind": "finding", "headline": "h", "supersedes": "the old one"});
        assert!(
            parse_record_point(&args)
                .unwrap_err()
                .contains("id of a point")
        );
        let args = json!({"kind": "finding", "headline": "   "});
        assert!(
            parse_record_point(&args)
                .unwrap_err()
                .contains("`headline` is required")
        );
        let draft = parse_record_point(&json!({"kind": "partial", "headline": "h"})).unwrap();
        assert_eq!(
            (draft.kind, draft.headline.as_str()),
            (PointKind::Partial, "h")
        );
    }

    #[test]
    fn echoed_input_is_clipped_to_one_line() {
        assert_eq!(clip_echo("P3"), "P3");
        let clipped = clip_echo(&"x".repeat(10_000));
        assert!(clipped.len() < 200 && clipped.ends_with("(10000 characters)"));
        assert_eq!(clip_echo("a\nb"), "a b");
    }
}
