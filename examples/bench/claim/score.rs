//! The answer's quality against the world's hidden truth, in [0, 1]: 1.0 is every true fact
//! and nothing false.
//!
//! - A survey (every component's latency): `(correct − wrong) / components`, at least 0. A
//!   line `- <component>: <value> milliseconds` is correct when the value is the truth, and
//!   wrong when it is not (or names no component of the system); a component without a line
//!   is missing (it counts for nothing).
//! - A search (the root cause): 1 when `Root cause: <cause>` names the true cause, else 0.

use super::agent::ROOT_CAUSE;
use super::world::{Truth, UNIT};

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Score {
    pub value: f64,
    pub correct: usize,
    pub wrong: usize,
    pub missing: usize,
}

/// `- component: 412 milliseconds` → ("component", 412).
fn figure_line(line: &str) -> Option<(&str, u64)> {
    let rest = line.trim().strip_prefix("- ")?;
    let (component, value) = rest.split_once(": ")?;
    let value = value.trim().strip_suffix(UNIT).or_else(|| {
        // A line may go on after the unit (the point it rests on).
        value.split_once(&format!(" {UNIT}")).map(|(v, _)| v)
    })?;
    Some((component.trim(), value.trim().parse().ok()?))
}

pub fn score(truth: &Truth, answer: &str) -> Score {
    match truth {
        Truth::Latencies(values) => {
            let mut s = Score::default();
            let mut named: Vec<&str> = Vec::new();
            for (component, value) in answer.lines().filter_map(figure_line) {
                if named.contains(&component) {
                    continue;
                }
                named.push(component);
                match values.iter().find(|(c, _)| c == component) {
                    Some((_, truth)) if *truth == value => s.correct += 1,
                    _ => s.wrong += 1,
                }
            }
            s.missing = values
                .iter()
                .filter(|(c, _)| !named.contains(&c.as_str()))
                .count();
            let total = values.len().max(1) as f64;
            s.value = (s.correct as f64 - s.wrong as f64).max(0.0) / total;
            s
        }
        Truth::RootCause(cause) => {
            let named = answer
                .split(ROOT_CAUSE)
                .nth(1)
                .and_then(|rest| rest.split(|c: char| c.is_whitespace() || c == '.').next())
                .unwrap_or("");
            let right = named == cause;
            Score {
                value: if right { 1.0 } else { 0.0 },
                correct: right as usize,
                wrong: (!right && !named.is_empty() && named != "not") as usize,
                missing: (named.is_empty() || named == "not") as usize,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn true_facts_count_false_ones_cost() {
        let truth = Truth::Latencies(vec![("a-b".into(), 100), ("c-d".into(), 200)]);
        let all = score(
            &truth,
            "x\n- a-b: 100 milliseconds (P1)\n- c-d: 200 milliseconds",
        );
        assert_eq!((all.value, all.correct), (1.0, 2));
        let one_false = score(&truth, "- a-b: 100 milliseconds\n- c-d: 211 milliseconds");
        assert_eq!((one_false.value, one_false.wrong), (0.0, 1));
        let one_missing = score(&truth, "- a-b: 100 milliseconds");
        assert_eq!((one_missing.value, one_missing.missing), (0.5, 1));
        assert_eq!(score(&truth, "nothing").value, 0.0);
        let root = Truth::RootCause("clock-skew".into());
        assert_eq!(score(&root, "Root cause: clock-skew (P4: ...)").value, 1.0);
        assert_eq!(score(&root, "Root cause: full-disk.").wrong, 1);
        assert_eq!(score(&root, "Root cause: not found").missing, 1);
    }
}
