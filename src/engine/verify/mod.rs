//! Verification before publication: a proposed point is checked against its evidence
//! (mechanically, through the workspace), its numbers against its quotes, and optionally by
//! an LLM judge. Only verified points reach other agents' prompts.
//!
//! Lenient in form (the workspace forgives how a quote was copied and where it was said to
//! be, and says what it corrected), strict in substance: every evidence item must resolve,
//! a quote must be long enough to mean something, a quote of a point must be that point's
//! text, and every number the claim states must be in the quotes or follow from them.
//! Failures get a light check: what they cite must resolve, but they state no fact about
//! the sources, so short quotes and their numbers are not held against them.
//!
//! Pure functions: the agent calls them and makes the judge's model call.

mod answer;
mod judge;
mod numbers;

pub use answer::unsupported_answer_numbers;
pub use judge::{
    JUDGE_SYSTEM, JudgeItem, JudgeVerdict, judge_batch_prompt, judge_prompt, parse_judge,
    parse_judge_batch,
};
pub use numbers::{Num, NumberCheck, numbers};

use super::tools::{Workspace, quote_is_meaningful};
use crate::event::{Evidence, Point, PointKind, PointView};

/// The mechanical check passed: evidence with resolved locations, the source text around
/// each quote (for the judge), and what resolution corrected.
#[derive(Debug, Clone, Default)]
pub struct CheckedEvidence {
    pub evidence: Vec<Evidence>,
    pub contexts: Vec<String>,
    /// One line per corrected item ("evidence 2: quote found at lines 40-41, not 12-15"),
    /// for the verdict note and the author.
    pub notes: Vec<String>,
}

/// What a quote must be to count as evidence, for messages.
pub const MIN_QUOTE_RULE: &str = "a quote must be at least 3 words or 12 characters of the \
source: copy the sentence or line that supports the claim, not just a number or a word";

/// Whether the source names a point (`P3`).
pub fn is_point_ref(source: &str) -> bool {
    let s = source.trim();
    s.len() > 1 && s.starts_with('P') && s[1..].chars().all(|c| c.is_ascii_digit())
}

/// Whether a point of this kind states facts about its sources (its quotes must be
/// meaningful and its numbers supported). Failures report what did not work; constraints
/// are rules.
fn states_facts(kind: PointKind) -> bool {
    matches!(kind, PointKind::Finding | PointKind::Partial)
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
    let strict = states_facts(point.kind);
    let mut checked = CheckedEvidence::default();
    for (i, ev) in point.evidence.iter().enumerate() {
        let n = i + 1;
        let quote = ev.quote.trim();
        if strict && !quote.is_empty() && !quote_is_meaningful(quote) {
            return Err(format!(
                "evidence {n}: the quote \"{}\" is too short to be evidence; {MIN_QUOTE_RULE}",
                crate::engine::point_args::clip_echo(quote)
            ));
        }
        if is_point_ref(&ev.source) {
            let (resolved, context) = check_point_citation(n, ev, cited, strict)?;
            checked.evidence.push(resolved);
            checked.contexts.push(context);
            continue;
        }
        if quote.is_empty() {
            return Err(format!(
                "evidence {n} ({}) has no quote: copy the exact text that supports the point",
                crate::engine::point_args::clip_echo(&ev.source)
            ));
        }
        match workspace.resolve(ev) {
            Ok(r) => {
                if let Some(note) = r.note {
                    checked.notes.push(format!("evidence {n}: {note}"));
                }
                checked.evidence.push(r.evidence);
                checked
                    .contexts
                    .push(crate::redact::redact_owned(r.context));
            }
            Err(why) => {
                return Err(format!(
                    "evidence {n}: {}",
                    crate::redact::redact_owned(why)
                ));
            }
        }
    }
    // Rules across the evidence items (a cited patch needs a green command run on it).
    workspace.check_point(&checked.evidence)?;
    Ok(checked)
}

/// Evidence citing a verified point: it must exist among `cited`, and (for claims about the
/// sources) the quote must be that point's own words.
fn check_point_citation(
    n: usize,
    ev: &Evidence,
    cited: &[PointView],
    strict: bool,
) -> Result<(Evidence, String), String> {
    let id = ev.source.trim();
    let Some(p) = cited.iter().find(|p| p.point.id == id) else {
        return Err(format!(
            "evidence {n} cites {id}, which is not a verified point; cite a point from the \
             shared context, or the source it quotes"
        ));
    };
    let text = format!("{}\n{}", p.point.headline, p.point.summary);
    let quote = ev.quote.trim();
    if quote.is_empty() && strict {
        return Err(format!(
            "evidence {n} cites {id} without a quote: copy the words of {id}'s headline or \
             summary that support the claim into `quote`"
        ));
    }
    if !quote.is_empty() && crate::engine::tools::quote_in(&text, quote).is_none() {
        return Err(format!(
            "evidence {n}: the quote is not in {id}'s headline or summary; copy its words \
             exactly (expand {id} to read its summary)"
        ));
    }
    let mut resolved = ev.clone();
    resolved.resolved = Some(id.to_string());
    Ok((resolved, text))
}

/// The number check on a point: every number of its headline and summary must be in a
/// quote of its evidence (or be derived from quoted numbers by simple arithmetic), or name
/// a cited location. Runs in every verify mode. Failures, constraints and uncited partials
/// pass (they state no figures taken from a source).
pub fn check_numbers(point: &Point, checked: &CheckedEvidence) -> NumberCheck {
    if !states_facts(point.kind)
        || (point.kind == PointKind::Partial && checked.evidence.is_empty())
    {
        return NumberCheck::default();
    }
    let quoted: Vec<Num> = checked
        .evidence
        .iter()
        .flat_map(|e| numbers(&e.quote))
        .collect();
    let locations: Vec<Num> = checked
        .evidence
        .iter()
        .flat_map(|e| {
            [
                e.lines.as_deref(),
                e.resolved.as_deref(),
                Some(e.source.as_str()),
            ]
            .into_iter()
            .flatten()
            .flat_map(numbers::location_numbers)
            .collect::<Vec<_>>()
        })
        .collect();
    let claim = format!("{}\n{}", point.headline, point.summary);
    numbers::check(&claim, &quoted, &locations)
}

/// Numbers in the claim that the evidence does not support, as written (empty when all
/// are). See [`check_numbers`], which also says how derived numbers were obtained.
pub fn unsupported_numbers(point: &Point, checked: &CheckedEvidence) -> Vec<String> {
    check_numbers(point, checked).unsupported_texts()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tools::NoWorkspace;
    use crate::event::PointStatus;

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

    fn cite(source: &str, quote: &str) -> Evidence {
        Evidence {
            source: source.into(),
            quote: quote.into(),
            ..Evidence::default()
        }
    }

    fn verified(id: &str, headline: &str, summary: &str) -> PointView {
        PointView {
            point: Point {
                id: id.into(),
                headline: headline.into(),
                summary: summary.into(),
                ..finding(vec![])
            },
            status: PointStatus::Verified,
            note: None,
            seq: 1,
            superseded_by: None,
        }
    }

    #[test]
    fn finding_without_evidence_is_rejected() {
        let err = check_evidence(&NoWorkspace, &finding(vec![]), &[]).unwrap_err();
        assert!(err.contains("must cite evidence"));
    }

    #[test]
    fn unresolvable_source_is_rejected_with_reason() {
        let p = finding(vec![cite("report.txt", "Alpha revenue: 12.5 million")]);
        let err = check_evidence(&NoWorkspace, &p, &[]).unwrap_err();
        assert!(err.starts_with("evidence 1:"), "{err}");
    }

    #[test]
    fn a_few_characters_are_not_evidence() {
        let p = finding(vec![cite("report.txt", "2024")]);
        let err = check_evidence(&NoWorkspace, &p, &[]).unwrap_err();
        assert!(
            err.contains("too short") && err.contains("3 words"),
            "{err}"
        );
        // A failure's quote may be short: it reports what did not work.
        let mut failure = finding(vec![cite("P2", "none")]);
        failure.kind = PointKind::Failure;
        let cited = [verified("P2", "The search found none of it", "")];
        assert!(check_evidence(&NoWorkspace, &failure, &cited).is_ok());
    }

    #[test]
    fn point_citations_must_quote_the_point() {
        let cited = [verified(
            "P2",
            "Alpha revenue was 12.5 million in 2024",
            "Per the annual report.",
        )];
        let ok = finding(vec![cite("P2", "alpha revenue was 12.5 MILLION in 2024")]);
        let checked = check_evidence(&NoWorkspace, &ok, &cited).unwrap();
        assert_eq!(checked.evidence[0].resolved.as_deref(), Some("P2"));
        let wrong = finding(vec![cite("P2", "Alpha revenue was 13 million")]);
        let err = check_evidence(&NoWorkspace, &wrong, &cited).unwrap_err();
        assert!(err.contains("not in P2's headline or summary"), "{err}");
        let bare = finding(vec![cite("P2", "")]);
        let err = check_evidence(&NoWorkspace, &bare, &cited).unwrap_err();
        assert!(err.contains("without a quote"), "{err}");
        let unknown = finding(vec![cite("P9", "Alpha revenue was 12.5 million")]);
        let err = check_evidence(&NoWorkspace, &unknown, &cited).unwrap_err();
        assert!(err.contains("not a verified point"), "{err}");
    }

    #[test]
    fn numbers_must_be_in_the_quotes_themselves() {
        let p = finding(vec![]);
        let checked = |quote: &str, context: &str| CheckedEvidence {
            evidence: vec![cite("r.txt", quote)],
            contexts: vec![context.into()],
            notes: vec![],
        };
        assert!(
            unsupported_numbers(&p, &checked("Alpha revenue: 12.5 million (2024)", "")).is_empty()
        );
        assert_eq!(
            unsupported_numbers(&p, &checked("Alpha revenue: 13 million (2024)", "")),
            vec!["12.5 million".to_string()]
        );
        // The text around the quote does not count: only what was quoted.
        assert_eq!(
            unsupported_numbers(
                &p,
                &checked(
                    "Alpha revenue for the year",
                    "Alpha revenue for the year: 12.5 million (2024)"
                )
            ),
            vec!["12.5 million".to_string(), "2024".to_string()]
        );
    }

    #[test]
    fn numbers_are_checked_in_the_summary_too_and_failures_are_exempt() {
        let mut p = finding(vec![]);
        p.headline = "Alpha revenue grew".into();
        p.summary = "It grew by 40% in 2024.".into();
        let checked = CheckedEvidence {
            evidence: vec![cite("r.txt", "Alpha revenue grew 4% in 2024")],
            ..CheckedEvidence::default()
        };
        assert_eq!(check_numbers(&p, &checked).unsupported[0].0, "40%");
        p.kind = PointKind::Failure;
        assert!(check_numbers(&p, &checked).passed());
    }

    #[test]
    fn a_derived_difference_over_cited_points_verifies() {
        let cited = [
            verified("P1", "Acme revenue was $412.5 million in 2024", ""),
            verified("P2", "Globex revenue was $388.1 million in 2024", ""),
        ];
        let mut p = finding(vec![
            cite("P1", "Acme revenue was $412.5 million"),
            cite("P2", "Globex revenue was $388.1 million"),
        ]);
        p.headline = "Acme exceeded Globex by $24.4 million".into();
        let checked = check_evidence(&NoWorkspace, &p, &cited).unwrap();
        let numbers = check_numbers(&p, &checked);
        assert!(numbers.passed(), "{numbers:?}");
        assert!(
            numbers
                .note()
                .unwrap()
                .contains("412.5 million − $388.1 million")
        );
        p.headline = "Acme exceeded Globex by $34.4 million".into();
        let reason = check_numbers(&p, &checked).reason().unwrap();
        assert!(reason.contains("24.4"), "{reason}");
    }

    #[test]
    fn line_numbers_of_the_citation_may_be_named() {
        let mut p = finding(vec![]);
        p.headline = "tokenize breaks at line 33 when no newline follows".into();
        let checked = CheckedEvidence {
            evidence: vec![Evidence {
                source: "calc/lexer.py".into(),
                lines: Some("33".into()),
                quote: "if end == -1:".into(),
                resolved: Some("calc/lexer.py:33".into()),
            }],
            ..CheckedEvidence::default()
        };
        assert!(check_numbers(&p, &checked).passed());
    }
}
