//! The final answer's numbers against the points it cites: the finaliser may only state
//! figures those points hold (or simple arithmetic over them). What it states beyond them
//! is returned, so the answer popup and the story can show the mismatch instead of
//! publishing it silently.

use super::numbers::{self, Num};
use crate::event::PointView;
use std::sync::LazyLock;

/// `1. `, `2) `, `- 3. `: list numbering, not figures.
static LIST_MARKER: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?m)^\s*(?:[-*+]\s+)?\d{1,3}[.)]\s").expect("a valid pattern")
});

/// The numbers of `answer` (as written, once each) that no point of `cited` supports: not
/// in a cited point's headline, summary or evidence quotes, not a cited location, and not
/// derivable from the cited numbers by a sum, difference, ratio or percentage.
pub fn unsupported_answer_numbers(answer: &str, cited: &[PointView]) -> Vec<String> {
    let mut support: Vec<Num> = Vec::new();
    let mut locations: Vec<Num> = Vec::new();
    for p in cited {
        support.extend(numbers::numbers(&p.point.headline));
        support.extend(numbers::numbers(&p.point.summary));
        for e in &p.point.evidence {
            support.extend(numbers::numbers(&e.quote));
            for place in [e.lines.as_deref(), e.resolved.as_deref()]
                .into_iter()
                .flatten()
            {
                locations.extend(numbers::location_numbers(place));
            }
        }
    }
    let text = LIST_MARKER.replace_all(answer, "");
    numbers::check(&text, &support, &locations).unsupported_texts()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Evidence, Point, PointKind, PointStatus};

    fn view(id: &str, headline: &str, quote: &str) -> PointView {
        PointView {
            point: Point {
                id: id.into(),
                kind: PointKind::Finding,
                headline: headline.into(),
                summary: String::new(),
                evidence: vec![Evidence {
                    source: "r.md".into(),
                    quote: quote.into(),
                    lines: Some("40-41".into()),
                    resolved: None,
                }],
                author: "a1".into(),
                task: None,
                supersedes: None,
            },
            status: PointStatus::Verified,
            note: None,
            seq: 1,
            superseded_by: None,
        }
    }

    #[test]
    fn figures_beyond_the_cited_points_are_reported() {
        let cited = [
            view(
                "P1",
                "Acme revenue was $412.5 million in 2024",
                "Acme: $412.5 million",
            ),
            view(
                "P2",
                "Globex revenue was $388.1 million",
                "Globex: $388.1 million",
            ),
        ];
        let answer = "1. Acme had the higher 2024 revenue ($412.5 million, P1).\n\
                      2. It beat Globex ($388.1 million, P2) by $24.4 million.";
        assert!(unsupported_answer_numbers(answer, &cited).is_empty());
        let wrong = "Acme had $412.5 million in 2024, $30 million more than Globex, and 12 plants.";
        assert_eq!(
            unsupported_answer_numbers(wrong, &cited),
            vec!["$30 million".to_string(), "12".to_string()]
        );
        // A figure of a point the answer does not cite is not support.
        assert_eq!(
            unsupported_answer_numbers("Globex had $388.1 million.", &cited[..1]),
            vec!["$388.1 million".to_string()]
        );
    }
}
