//! The LLM judge: one call checks every point an agent proposed in one turn, on the axes of
//! the DeLM reference verifier (relevance to the goal, entity / period / qualifier drift,
//! arithmetic, redundancy), and its answer is read however the model wrote it.
//!
//! Models answer in many shapes: a JSON object or array, inside prose or a code fence,
//! after `<think>…</think>` reasoning, or as markdown ("**Verdict:** approve", "P3 —
//! REJECT: wrong year"). The parser strips reasoning, takes the last JSON value that parses
//! and holds verdicts, and falls back to the markdown forms; one verdict per point id, and
//! `None` for a point the answer does not judge (the caller must not publish it).

use super::CheckedEvidence;
use super::numbers::NumberCheck;
use crate::event::{Point, PointKind, PointView};
use serde_json::Value;
use std::fmt::Write;
use std::sync::LazyLock;

/// The judge's answer text is read from its last this many bytes (reasoning comes first).
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// JSON parse attempts at most, from the end of the answer backwards.
const MAX_JSON_TRIES: usize = 200;
/// Characters of source context shown per evidence item.
const CONTEXT_SHOWN: usize = 2_000;

pub const JUDGE_SYSTEM: &str = "You are the verifier of a multi-agent research swarm. Other \
agents may rely only on points you approve, so check each proposed point against the evidence \
it cites before it is shared. For every point check: (1) relevance: it bears on the goal; (2) \
entity drift: the claim is about the same company, person, file or function as the evidence; \
(3) period drift: the same year, quarter or version; (4) qualifier drift: qualifiers are kept \
(approximately, projected, excluding, up to, per share, in millions), nothing is \
over-generalised; (5) arithmetic: a number computed from the evidence (a difference, a sum, a \
ratio, a percentage) is computed correctly; (6) redundancy: it does not repeat an existing \
point. Approve only if the cited evidence supports the claim as stated. Answer with JSON and \
nothing else: {\"verdicts\": [{\"point\": \"P<n>\", \"verdict\": \"approve\" | \"reject\" | \
\"redundant\", \"reason\": \"one sentence\", \"duplicate_of\": \"P<n>\" (only for \
redundant)}]}, one entry per proposed point.";

/// One proposed point for the judge, with what the mechanical checks found.
#[derive(Debug, Clone, Copy)]
pub struct JudgeItem<'a> {
    pub point: &'a Point,
    pub checked: &'a CheckedEvidence,
    /// The number check's outcome (derivations are shown to the judge).
    pub numbers: Option<&'a NumberCheck>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JudgeVerdict {
    Approve(String),
    Reject(String),
    Redundant { of: String, reason: String },
}

/// The judge's user message for the points of one turn: the goal, each point with its
/// resolved evidence and what the checks noted, and the closest existing points.
pub fn judge_batch_prompt(goal: &str, items: &[JudgeItem], related: &[PointView]) -> String {
    let mut msg = String::new();
    if !goal.trim().is_empty() {
        let _ = write!(msg, "GOAL: {}\n\n", goal.trim());
    }
    let _ = writeln!(
        msg,
        "{} PROPOSED POINT{}:",
        items.len(),
        if items.len() == 1 { "" } else { "S" }
    );
    for item in items {
        let point = item.point;
        let _ = write!(
            msg,
            "\n=== {} ({} by {})\nheadline: {}\nsummary: {}\nevidence:\n",
            point.id,
            point.kind.as_str(),
            point.author,
            point.headline.trim(),
            point.summary.trim()
        );
        if item.checked.evidence.is_empty() {
            msg.push_str("(none cited)\n");
        }
        for (i, (ev, ctx)) in item
            .checked
            .evidence
            .iter()
            .zip(&item.checked.contexts)
            .enumerate()
        {
            let loc = ev.resolved.as_deref().unwrap_or(&ev.source);
            let _ = write!(
                msg,
                "[{}] {} — quote: \"{}\"\n{}\n\n",
                i + 1,
                loc,
                ev.quote.trim(),
                crate::text::clip(ctx, CONTEXT_SHOWN)
            );
        }
        for note in &item.checked.notes {
            let _ = writeln!(msg, "(location corrected: {note})");
        }
        if let Some(note) = item.numbers.and_then(NumberCheck::note) {
            let _ = writeln!(
                msg,
                "(numbers {note}; check that this arithmetic is what the claim means)"
            );
        }
        if point.kind != PointKind::Finding {
            msg.push_str(
                "(not a finding: approve it if it is coherent, useful to other agents, and not \
contradicted by its evidence)\n",
            );
        }
    }
    msg.push_str("\nCLOSEST EXISTING POINTS:\n");
    if related.is_empty() {
        msg.push_str("(none)\n");
    }
    for p in related {
        let _ = writeln!(
            msg,
            "{} [{}] {}",
            p.point.id,
            p.point.kind.as_str(),
            p.point.headline
        );
    }
    msg
}

/// The judge's user message for one point (a batch of one, without the goal).
pub fn judge_prompt(point: &Point, checked: &CheckedEvidence, related: &[PointView]) -> String {
    let item = JudgeItem {
        point,
        checked,
        numbers: None,
    };
    judge_batch_prompt("", &[item], related)
}

/// One verdict per id of `ids`, in order; `None` where the answer judges no such point.
pub fn parse_judge_batch(text: &str, ids: &[&str]) -> Vec<Option<JudgeVerdict>> {
    let text = strip_reasoning(tail(text));
    if let Some(verdicts) = json_verdicts(&text, ids) {
        return verdicts;
    }
    markdown_verdicts(&text, ids)
}

/// The judge's verdict on a single point.
pub fn parse_judge(text: &str) -> Option<JudgeVerdict> {
    parse_judge_batch(text, &[""]).pop().flatten()
}

/// The last [`MAX_ANSWER_BYTES`] of the answer, on a character boundary.
fn tail(text: &str) -> &str {
    let mut from = text.len().saturating_sub(MAX_ANSWER_BYTES);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    &text[from..]
}

static REASONING: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?is)<(think|thinking|reasoning)>.*?(?:</(?:think|thinking|reasoning)>|\z)")
        .expect("a valid pattern")
});

/// The answer without `<think>…</think>` blocks (an unclosed one runs to the end, unless a
/// closing tag alone ends the reasoning, as some servers send it).
fn strip_reasoning(text: &str) -> String {
    // A server that strips the opening tag leaves "...reasoning</think>answer".
    let text = match text.rfind("</think>") {
        Some(at) if !text[..at].contains("<think>") => &text[at + "</think>".len()..],
        _ => text,
    };
    REASONING.replace_all(text, " ").into_owned()
}

/// Verdicts from the last JSON value in the answer that holds any. Values are tried from
/// each `{` or `[` in order; a value that holds verdicts is taken whole (its inner objects
/// are not tried again), so the outermost list wins over its last entry.
fn json_verdicts(text: &str, ids: &[&str]) -> Option<Vec<Option<JudgeVerdict>>> {
    let mut best = None;
    let mut skip_until = 0;
    let mut tries = 0;
    for (at, c) in text.char_indices() {
        if at < skip_until || (c != '{' && c != '[') {
            continue;
        }
        tries += 1;
        if tries > MAX_JSON_TRIES {
            break;
        }
        let mut stream = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>();
        let Some(Ok(value)) = stream.next() else {
            continue;
        };
        let entries = verdict_entries(&value);
        if !entries.is_empty() {
            skip_until = at + stream.byte_offset();
            best = Some(entries);
        }
    }
    best.map(|entries| assign(&entries, ids))
}

/// The verdict objects of a JSON answer: `{"verdicts": [...]}`, `[...]`, one object, or an
/// object keyed by point id (`{"P3": {"verdict": ...}}` / `{"P3": "approve"}`).
fn verdict_entries(value: &Value) -> Vec<(Option<String>, JudgeVerdict)> {
    match value {
        Value::Array(items) => items.iter().flat_map(verdict_entries).collect(),
        Value::Object(map) => {
            if let Some(inner) = map
                .iter()
                .find(|(k, _)| {
                    matches!(k.to_lowercase().as_str(), "verdicts" | "results" | "points")
                })
                .map(|(_, v)| v)
            {
                return verdict_entries(inner);
            }
            if let Some(v) = one_verdict(value) {
                let id = ["point", "id", "point_id"]
                    .iter()
                    .find_map(|k| map.get(*k).and_then(Value::as_str))
                    .map(|s| s.trim().to_uppercase());
                return vec![(id, v)];
            }
            map.iter()
                .filter(|(k, _)| super::is_point_ref(&k.to_uppercase()))
                .filter_map(|(k, v)| {
                    let verdict = match v {
                        Value::String(s) => word_verdict(s, s),
                        other => one_verdict(other),
                    }?;
                    Some((Some(k.to_uppercase()), verdict))
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// One `{"verdict", "reason", "duplicate_of"}` object.
fn one_verdict(value: &Value) -> Option<JudgeVerdict> {
    let field = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| value.get(*k).and_then(Value::as_str))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let verdict = field(&["verdict", "decision", "status", "result"]);
    let reason = field(&["reason", "rationale", "explanation"]);
    let mut parsed = word_verdict(&verdict, &reason)?;
    if let JudgeVerdict::Redundant { of, .. } = &mut parsed {
        *of = field(&["duplicate_of", "duplicate", "of"]);
    }
    Some(parsed)
}

/// A verdict word (any case, with the usual variants) as a verdict with `reason`.
fn word_verdict(word: &str, reason: &str) -> Option<JudgeVerdict> {
    let word = word
        .trim()
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    let reason = reason.trim().to_string();
    match word.as_str() {
        "approve" | "approved" | "accept" | "accepted" | "verified" | "pass" | "passed" => {
            Some(JudgeVerdict::Approve(reason))
        }
        "reject" | "rejected" | "deny" | "denied" | "fail" | "failed" => {
            Some(JudgeVerdict::Reject(reason))
        }
        "redundant" | "duplicate" => Some(JudgeVerdict::Redundant {
            of: String::new(),
            reason,
        }),
        _ => None,
    }
}

/// Match verdict entries to ids: by id where given, else by position (all unnamed and as
/// many as the ids), else a single unnamed verdict for a single point.
fn assign(entries: &[(Option<String>, JudgeVerdict)], ids: &[&str]) -> Vec<Option<JudgeVerdict>> {
    let named = |id: &str| {
        entries
            .iter()
            .find(|(e, _)| e.as_deref() == Some(id.trim()))
            .map(|(_, v)| v.clone())
    };
    let unnamed: Vec<&JudgeVerdict> = entries
        .iter()
        .filter(|(e, _)| e.is_none())
        .map(|(_, v)| v)
        .collect();
    let positional = unnamed.len() == ids.len() && unnamed.len() == entries.len();
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            named(id)
                .or_else(|| positional.then(|| unnamed[i].clone()))
                .or_else(|| (ids.len() == 1 && entries.len() == 1).then(|| entries[0].1.clone()))
        })
        .collect()
}

static ID_LINE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?i)\b(P\d+)\b[^\n]*?\b(approved?|accept(?:ed)?|reject(?:ed)?|redundant|duplicate)\b[\s*:.,—–-]*([^\n]*)",
    )
    .expect("a valid pattern")
});
static VERDICT_LABEL: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?i)verdict\W{0,6}(approved?|accept(?:ed)?|reject(?:ed)?|redundant|duplicate)\b[\s*:.,—–-]*([^\n]*)",
    )
    .expect("a valid pattern")
});

/// Verdicts written as markdown or prose: "P3: approve — ...", "**Verdict:** reject", or an
/// answer that starts with the verdict word.
fn markdown_verdicts(text: &str, ids: &[&str]) -> Vec<Option<JudgeVerdict>> {
    let by_id: Vec<(String, JudgeVerdict)> = ID_LINE
        .captures_iter(text)
        .filter_map(|c| Some((c[1].to_uppercase(), word_verdict(&c[2], &c[3])?)))
        .collect();
    let single = || {
        if let Some(c) = VERDICT_LABEL.captures_iter(text).last() {
            return word_verdict(&c[1], &c[2]);
        }
        let trimmed = text
            .trim()
            .trim_start_matches(|c: char| !c.is_alphanumeric());
        let first = trimmed.split(|c: char| !c.is_alphanumeric()).next()?;
        word_verdict(first, trimmed)
    };
    ids.iter()
        .map(|id| {
            by_id
                .iter()
                .rev()
                .find(|(p, _)| p == id.trim())
                .map(|(_, v)| v.clone())
                .or_else(|| if ids.len() == 1 { single() } else { None })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judge_answers_parse() {
        assert_eq!(
            parse_judge("```json\n{\"verdict\":\"reject\",\"reason\":\"wrong year\"}\n```"),
            Some(JudgeVerdict::Reject("wrong year".into()))
        );
        assert!(matches!(
            parse_judge("{\"verdict\":\"redundant\",\"reason\":\"same\",\"duplicate_of\":\"P2\"}"),
            Some(JudgeVerdict::Redundant { of, .. }) if of == "P2"
        ));
        assert!(matches!(
            parse_judge("Approve. Looks right."),
            Some(JudgeVerdict::Approve(_))
        ));
        assert_eq!(parse_judge("maybe"), None);
    }

    #[test]
    fn reasoning_prose_and_markdown_forms_parse() {
        let think = "<think>The quote says {\"verdict\": \"reject\"}? No, it matches.</think>\n\
                     {\"verdict\": \"APPROVE\", \"reason\": \"quote matches\"}";
        assert_eq!(
            parse_judge(think),
            Some(JudgeVerdict::Approve("quote matches".into()))
        );
        // A server that strips the opening tag.
        assert!(matches!(
            parse_judge(
                "reasoning... {\"verdict\": \"reject\"} hmm</think>{\"verdict\":\"approve\",\"reason\":\"ok\"}"
            ),
            Some(JudgeVerdict::Approve(_))
        ));
        // Prose around JSON: the last JSON value that parses wins.
        let prose = "First draft: {\"verdict\": \"reject\"}. On reflection:\n{\"verdict\": \"approve\", \"reason\": \"fine\"} done.";
        assert_eq!(
            parse_judge(prose),
            Some(JudgeVerdict::Approve("fine".into()))
        );
        assert_eq!(
            parse_judge("**Verdict:** Reject — the period is 2023, not 2024"),
            Some(JudgeVerdict::Reject("the period is 2023, not 2024".into()))
        );
        assert!(matches!(
            parse_judge("## Verdict\nAPPROVED"),
            Some(JudgeVerdict::Approve(_))
        ));
        assert!(parse_judge("<think>long thought without end").is_none());
    }

    #[test]
    fn batch_answers_give_one_verdict_per_point() {
        let ids = ["P3", "P4", "P5"];
        let json = r#"{"verdicts": [
            {"point": "P4", "verdict": "reject", "reason": "entity drift"},
            {"point": "p3", "verdict": "approve", "reason": "ok"}]}"#;
        let v = parse_judge_batch(json, &ids);
        assert_eq!(v[0], Some(JudgeVerdict::Approve("ok".into())));
        assert_eq!(v[1], Some(JudgeVerdict::Reject("entity drift".into())));
        assert_eq!(
            v[2], None,
            "a point the judge did not judge is not approved"
        );
        // An array in order, without ids.
        let v = parse_judge_batch(
            r#"[{"verdict":"approve"},{"verdict":"reject","reason":"r"},{"verdict":"approve"}]"#,
            &ids,
        );
        assert!(matches!(v[1], Some(JudgeVerdict::Reject(_))));
        // Keyed by id.
        let v = parse_judge_batch(
            r#"{"P3": "approve", "P5": {"verdict": "redundant", "duplicate_of": "P1"}}"#,
            &ids,
        );
        assert!(matches!(v[0], Some(JudgeVerdict::Approve(_))));
        assert!(matches!(&v[2], Some(JudgeVerdict::Redundant { of, .. }) if of == "P1"));
        // Markdown lines.
        let md =
            "- **P3**: Approve — matches the quote\n- **P4** — REJECT: wrong year\n- P5: redundant";
        let v = parse_judge_batch(md, &ids);
        assert_eq!(
            v[0],
            Some(JudgeVerdict::Approve("matches the quote".into()))
        );
        assert_eq!(v[1], Some(JudgeVerdict::Reject("wrong year".into())));
        assert!(matches!(v[2], Some(JudgeVerdict::Redundant { .. })));
    }

    #[test]
    fn the_batch_prompt_carries_the_goal_every_point_and_the_checks() {
        let point = |id: &str| Point {
            id: id.into(),
            kind: PointKind::Finding,
            headline: format!("headline of {id}"),
            summary: String::new(),
            evidence: vec![],
            author: "a1".into(),
            task: None,
            supersedes: None,
        };
        let (p1, p2) = (point("P1"), point("P2"));
        let checked = CheckedEvidence {
            notes: vec!["evidence 1: quote found at line 40, not 12".into()],
            ..CheckedEvidence::default()
        };
        let numbers = NumberCheck {
            unsupported: vec![],
            derivations: vec!["$24.4 million = $412.5 million − $388.1 million".into()],
        };
        let items = [
            JudgeItem {
                point: &p1,
                checked: &checked,
                numbers: Some(&numbers),
            },
            JudgeItem {
                point: &p2,
                checked: &checked,
                numbers: None,
            },
        ];
        let prompt = judge_batch_prompt("Which vendor earned more?", &items, &[]);
        assert!(
            prompt.starts_with("GOAL: Which vendor earned more?"),
            "{prompt}"
        );
        assert!(prompt.contains("2 PROPOSED POINTS"));
        assert!(prompt.contains("=== P1 (finding by a1)") && prompt.contains("=== P2"));
        assert!(prompt.contains("quote found at line 40"));
        assert!(prompt.contains("derived: $24.4 million"));
        assert!(JUDGE_SYSTEM.contains("period drift") && JUDGE_SYSTEM.contains("arithmetic"));
    }
}
