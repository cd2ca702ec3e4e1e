//! Verification before publication: a proposed point is checked against its evidence
//! (mechanically, through the workspace) and optionally by an LLM judge. Only verified
//! points reach other agents' prompts.

use super::tools::Workspace;
use crate::event::{Evidence, Point, PointKind, PointView};
use std::fmt::Write;

/// The mechanical check passed: evidence with resolved locations, and the source text
/// around each quote (for the judge).
#[derive(Debug)]
pub struct CheckedEvidence {
    pub evidence: Vec<Evidence>,
    pub contexts: Vec<String>,
}

/// Whitespace- and case-insensitive form for quote matching.
fn normalise(text: &str) -> String {
    crate::text::one_line(text).to_lowercase()
}

fn is_point_ref(source: &str) -> bool {
    let s = source.trim();
    s.len() > 1 && s.starts_with('P') && s[1..].chars().all(|c| c.is_ascii_digit())
}

/// Resolve every evidence item. A finding must have at least one; other kinds may have none,
/// but whatever they cite must resolve. `cited` are the verified points the proposal cites.
pub fn check_evidence(
    workspace: &dyn Workspace,
    point: &Point,
    cited: &[PointView],
) -> Result<CheckedEvidence, String> {
    if point.headline.trim().is_empty() {
        return Err("the headline is empty: say the point in at most 25 words".into());
    }
    if point.kind == PointKind::Finding && point.evidence.is_empty() {
        return Err(
            "a finding must cite evidence (source, lines, exact quote); record it as a \
`partial` if you cannot cite a source yet"
                .into(),
        );
    }
    let mut evidence = Vec::with_capacity(point.evidence.len());
    let mut contexts = Vec::with_capacity(point.evidence.len());
    for (i, ev) in point.evidence.iter().enumerate() {
        let n = i + 1;
        if is_point_ref(&ev.source) {
            let id = ev.source.trim();
            let Some(p) = cited.iter().find(|p| p.point.id == id) else {
                return Err(format!(
                    "evidence {n} cites {id}, which is not a verified point"
                ));
            };
            let text = format!("{} {}", p.point.headline, p.point.summary);
            if !ev.quote.trim().is_empty() && !normalise(&text).contains(&normalise(&ev.quote)) {
                return Err(format!(
                    "evidence {n}: the quote is not in {id}'s headline or summary"
                ));
            }
            let mut resolved = ev.clone();
            resolved.resolved = Some(id.to_string());
            evidence.push(resolved);
            contexts.push(text);
            continue;
        }
        if ev.quote.trim().is_empty() {
            return Err(format!(
                "evidence {n} ({}) has no quote: copy the exact text that supports the point",
                ev.source
            ));
        }
        match workspace.resolve(ev) {
            Ok(r) => {
                evidence.push(r.evidence);
                contexts.push(r.context);
            }
            Err(why) => return Err(format!("evidence {n}: {why}")),
        }
    }
    // Rules across the evidence items (a cited patch needs a green command run on it).
    workspace.check_point(&evidence)?;
    Ok(CheckedEvidence { evidence, contexts })
}

/// Numbers in the claim that appear nowhere in the evidence: a claim may not invent figures.
pub fn unsupported_numbers(point: &Point, checked: &CheckedEvidence) -> Vec<String> {
    let haystack: String = checked
        .contexts
        .iter()
        .chain(checked.evidence.iter().map(|e| &e.quote))
        .map(|s| normalise(s))
        .collect::<Vec<_>>()
        .join(" ")
        .replace(',', "");
    let mut missing = Vec::new();
    for token in point
        .headline
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
    {
        let number = token
            .trim_matches(|c| c == '.' || c == ',')
            .replace(',', "");
        if number.is_empty() || !number.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        if !haystack.contains(&number) && !missing.contains(&number) {
            missing.push(number);
        }
    }
    missing
}

pub const JUDGE_SYSTEM: &str = "You are the verifier of a multi-agent research swarm. You \
check one proposed point against the evidence it cites before other agents may rely on it. \
Approve only if the cited evidence supports the claim as stated, with numbers and qualifiers \
preserved (no over-generalisation). Answer with one JSON object and nothing else: \
{\"verdict\": \"approve\" | \"reject\" | \"redundant\", \"reason\": \"one sentence\", \
\"duplicate_of\": \"P<n>\" (only for redundant)}.";

/// The judge's user message: the claim, the resolved evidence and the closest points.
pub fn judge_prompt(point: &Point, checked: &CheckedEvidence, related: &[PointView]) -> String {
    let mut msg = format!(
        "PROPOSED {} by {}\nheadline: {}\nsummary: {}\n\nEVIDENCE:\n",
        point.kind.as_str(),
        point.author,
        point.headline.trim(),
        point.summary.trim()
    );
    if checked.evidence.is_empty() {
        msg.push_str("(none cited)\n");
    }
    for (i, (ev, ctx)) in checked.evidence.iter().zip(&checked.contexts).enumerate() {
        let loc = ev.resolved.as_deref().unwrap_or(&ev.source);
        let _ = write!(
            msg,
            "[{}] {} — quote: \"{}\"\n{}\n\n",
            i + 1,
            loc,
            ev.quote.trim(),
            crate::text::clip(ctx, 2_000)
        );
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
    if point.kind != PointKind::Finding {
        msg.push_str(
            "\nThis is not a finding: approve it if it is coherent, useful to other agents, and \
not contradicted by its evidence.\n",
        );
    }
    msg
}

#[derive(Debug, Clone, PartialEq)]
pub enum JudgeVerdict {
    Approve(String),
    Reject(String),
    Redundant { of: String, reason: String },
}

/// Parse the judge's answer: a JSON object (possibly inside prose or a code fence), or, from
/// a model that ignores the format, a leading approve/reject word.
pub fn parse_judge(text: &str) -> Option<JudgeVerdict> {
    let start = text.find('{');
    let end = text.rfind('}');
    if let (Some(s), Some(e)) = (start, end)
        && s < e
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text[s..=e])
    {
        let verdict = v["verdict"].as_str().unwrap_or("").to_lowercase();
        let reason = v["reason"].as_str().unwrap_or("").to_string();
        return match verdict.as_str() {
            "approve" | "approved" => Some(JudgeVerdict::Approve(reason)),
            "reject" | "rejected" => Some(JudgeVerdict::Reject(reason)),
            "redundant" => Some(JudgeVerdict::Redundant {
                of: v["duplicate_of"].as_str().unwrap_or("").to_string(),
                reason,
            }),
            _ => None,
        };
    }
    let lower = text.trim().to_lowercase();
    if lower.starts_with("approve") {
        Some(JudgeVerdict::Approve(text.trim().to_string()))
    } else if lower.starts_with("reject") {
        Some(JudgeVerdict::Reject(text.trim().to_string()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tools::NoWorkspace;

    fn finding(evidence: Vec<Evidence>) -> Point {
        Point {
            id: "P1".into(),
            kind: PointKind::Finding,
            headline: "Alpha earned 12.5 million in 2024".into(),
            summary: String::new(),
            evidence,
            author: "a1".into(),
            task: None,
            supersedes: None,
        }
    }

    #[test]
    fn finding_without_evidence_is_rejected() {
        let err = check_evidence(&NoWorkspace, &finding(vec![]), &[]).unwrap_err();
        assert!(err.contains("must cite evidence"));
    }

    #[test]
    fn unresolvable_source_is_rejected_with_reason() {
        let p = finding(vec![Evidence {
            source: "report.txt".into(),
            quote: "12.5".into(),
            ..Evidence::default()
        }]);
        let err = check_evidence(&NoWorkspace, &p, &[]).unwrap_err();
        assert!(err.starts_with("evidence 1:"), "{err}");
    }

    #[test]
    fn numbers_must_appear_in_evidence() {
        let p = finding(vec![]);
        let checked = CheckedEvidence {
            evidence: vec![],
            contexts: vec!["Alpha revenue: 12.5 million (2024)".into()],
        };
        assert!(unsupported_numbers(&p, &checked).is_empty());
        let checked = CheckedEvidence {
            evidence: vec![],
            contexts: vec!["Alpha revenue: 13 million (2024)".into()],
        };
        assert_eq!(unsupported_numbers(&p, &checked), vec!["12.5".to_string()]);
    }

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
}
