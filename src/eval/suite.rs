//! An eval suite: JSONL, one case a line. Each case is a question, what it runs over (a
//! document set or a repository, or nothing), and how its answer is judged: an `expected`
//! answer (contains or exact match), or a `check` command that exits 0 when the repository
//! is fixed. Paths are relative to the suite file's directory.
//!
//! Everything is bounded and checked before any run starts: the file's size, the number of
//! cases, each line's length and fields; a bad line is reported with its number and why.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The largest suite file read.
pub const MAX_SUITE_BYTES: u64 = 1024 * 1024;
/// The most cases a suite may hold.
pub const MAX_CASES: usize = 200;
/// The longest line (one case).
pub const MAX_LINE_CHARS: usize = 64 * 1024;
/// The longest question, expected answer, or check command.
pub const MAX_TEXT_CHARS: usize = 8 * 1024;
/// The longest case id.
const MAX_ID_CHARS: usize = 64;
/// A check command runs at most this long unless its case says otherwise, and never longer
/// than [`MAX_CHECK_SECS`].
pub const DEFAULT_CHECK_SECS: u64 = 300;
pub const MAX_CHECK_SECS: u64 = 3600;

/// How an expected answer is compared with the run's answer (both lower-cased, runs of
/// whitespace as one space, trimmed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// The answer contains the expected text.
    #[default]
    Contains,
    /// The answer is the expected text.
    Exact,
}

/// What a case runs over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Over {
    Nothing,
    Docs(Vec<PathBuf>),
    Repo(PathBuf),
}

/// How a case's run is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judge {
    /// Not judged: the case counts for cost and time, not for accuracy.
    None,
    Expected {
        answer: String,
        how: Match,
    },
    /// A command run in the run's copy of the repository after the run: exit 0 is fixed.
    Check {
        command: String,
        timeout_secs: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub id: String,
    /// The suite line it came from (1-based).
    pub line: usize,
    pub question: String,
    pub over: Over,
    pub judge: Judge,
}

/// One line as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: Option<String>,
    question: String,
    docs: Option<OneOrMany>,
    repo: Option<String>,
    expected: Option<String>,
    #[serde(rename = "match")]
    how: Option<Match>,
    check: Option<String>,
    check_timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Read and check a suite file.
pub fn load(path: &Path) -> Result<Vec<Case>, String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the suite {}: {e}", path.display()))?;
    if meta.len() > MAX_SUITE_BYTES {
        return Err(format!(
            "the suite {} is {} KiB; a suite may be at most {} KiB",
            path.display(),
            meta.len() / 1024,
            MAX_SUITE_BYTES / 1024
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the suite {}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parse a suite's text; relative paths are taken from `base`.
pub fn parse(text: &str, base: &Path) -> Result<Vec<Case>, String> {
    let mut cases: Vec<Case> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        if cases.len() == MAX_CASES {
            return Err(format!(
                "line {number}: a suite may hold at most {MAX_CASES} cases"
            ));
        }
        let case = case(raw, number, base).map_err(|e| format!("line {number}: {e}"))?;
        if let Some(other) = cases.iter().find(|c| c.id == case.id) {
            return Err(format!(
                "line {number}: the id `{}` is already used on line {}",
                case.id, other.line
            ));
        }
        cases.push(case);
    }
    if cases.is_empty() {
        return Err("the suite has no cases (one JSON object a line)".into());
    }
    Ok(cases)
}

fn case(raw: &str, number: usize, base: &Path) -> Result<Case, String> {
    if raw.chars().count() > MAX_LINE_CHARS {
        return Err(format!(
            "the line is longer than {MAX_LINE_CHARS} characters"
        ));
    }
    let line: Line = serde_json::from_str(raw).map_err(|e| {
        format!(
            "not a case ({e}); a case is a JSON object with `question`, optionally `docs` or \
`repo`, and `expected` or `check`"
        )
    })?;
    let id = match line.id {
        Some(id) => checked_id(&id)?,
        None => format!("case{number}"),
    };
    let question = text_field("question", &line.question)?;
    let over = match (line.docs, line.repo) {
        (Some(_), Some(_)) => return Err("give `docs` or `repo`, not both".into()),
        (Some(docs), None) => {
            let docs = match docs {
                OneOrMany::One(d) => vec![d],
                OneOrMany::Many(d) => d,
            };
            if docs.is_empty() || docs.len() > 64 {
                return Err("`docs` takes 1 to 64 paths".into());
            }
            Over::Docs(
                docs.iter()
                    .map(|d| existing(base, d, "docs"))
                    .collect::<Result<_, _>>()?,
            )
        }
        (None, Some(repo)) => {
            let path = existing(base, &repo, "repo")?;
            if !path.is_dir() {
                return Err(format!("`repo` {} is not a directory", path.display()));
            }
            Over::Repo(path)
        }
        (None, None) => Over::Nothing,
    };
    let judge = match (line.expected, line.check) {
        (Some(_), Some(_)) => return Err("give `expected` or `check`, not both".into()),
        (Some(answer), None) => Judge::Expected {
            answer: text_field("expected", &answer)?,
            how: line.how.unwrap_or_default(),
        },
        (None, Some(command)) => {
            if !matches!(over, Over::Repo(_)) {
                return Err("`check` needs a `repo` to run in".into());
            }
            let timeout_secs = line.check_timeout_secs.unwrap_or(DEFAULT_CHECK_SECS);
            if !(1..=MAX_CHECK_SECS).contains(&timeout_secs) {
                return Err(format!(
                    "`check_timeout_secs` must be between 1 and {MAX_CHECK_SECS}"
                ));
            }
            Judge::Check {
                command: text_field("check", &command)?,
                timeout_secs,
            }
        }
        (None, None) => Judge::None,
    };
    if line.how.is_some() && !matches!(judge, Judge::Expected { .. }) {
        return Err("`match` applies to an `expected` answer only".into());
    }
    if line.check_timeout_secs.is_some() && !matches!(judge, Judge::Check { .. }) {
        return Err("`check_timeout_secs` applies to a `check` command only".into());
    }
    Ok(Case {
        id,
        line: number,
        question,
        over,
        judge,
    })
}

fn checked_id(id: &str) -> Result<String, String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(id.to_string())
    } else {
        Err(format!(
            "`id` must be 1 to {MAX_ID_CHARS} letters, digits, `-` or `_` (it names the \
case's session files)"
        ))
    }
}

fn text_field(name: &str, value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("`{name}` is empty"));
    }
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(format!(
            "`{name}` is longer than {MAX_TEXT_CHARS} characters"
        ));
    }
    Ok(value.to_string())
}

fn existing(base: &Path, path: &str, field: &str) -> Result<PathBuf, String> {
    let joined = base.join(path);
    joined.canonicalize().map_err(|_| {
        format!(
            "`{field}` {} does not exist (paths are relative to the suite file)",
            joined.display()
        )
    })
}

/// Whether `answer` matches `expected` under `how` (both normalised).
pub fn matches(answer: &str, expected: &str, how: Match) -> bool {
    let (answer, expected) = (normalise(answer), normalise(expected));
    match how {
        Match::Contains => answer.contains(&expected),
        Match::Exact => answer == expected,
    }
}

fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("docs")).unwrap();
        std::fs::create_dir(d.path().join("repo")).unwrap();
        d
    }

    #[test]
    fn reads_every_kind_of_case() {
        let d = dir();
        let text = r#"{"question": "Q1?", "docs": "docs", "expected": "Acme"}

{"id": "fix", "question": "Fix it", "repo": "repo", "check": "true", "check_timeout_secs": 5}
{"question": "Q3?", "expected": "42", "match": "exact"}"#;
        let cases = parse(text, d.path()).unwrap();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].id, "case1");
        assert!(matches!(&cases[0].over, Over::Docs(p) if p.len() == 1));
        assert_eq!(cases[1].id, "fix");
        assert_eq!(
            cases[1].judge,
            Judge::Check {
                command: "true".into(),
                timeout_secs: 5
            }
        );
        assert_eq!((cases[2].line, &cases[2].over), (4, &Over::Nothing));
    }

    #[test]
    fn a_bad_line_names_its_number_and_reason() {
        let d = dir();
        let err = |text: &str| parse(text, d.path()).unwrap_err();
        let ok = r#"{"question": "Q?"}"#;
        assert!(err(&format!("{ok}\nnot json")).starts_with("line 2: not a case"));
        assert!(err(r#"{"question": "Q?", "colour": 1}"#).contains("unknown field `colour`"));
        assert!(err(r#"{"question": "  "}"#).contains("line 1: `question` is empty"));
        assert!(err(r#"{"question": "Q", "docs": "nope"}"#).contains("does not exist"));
        assert!(err(r#"{"question": "Q", "check": "true"}"#).contains("needs a `repo`"));
        assert!(err(r#"{"question": "Q", "docs": "docs", "repo": "repo"}"#).contains("not both"));
        assert!(err(r#"{"question": "Q", "match": "exact"}"#).contains("`expected` answer only"));
        assert!(
            err(&format!("{ok}\n{}", r#"{"id": "case1", "question": "Q"}"#))
                .contains("already used on line 1")
        );
        assert!(err(r#"{"id": "../x", "question": "Q"}"#).contains("`id` must be"));
        assert!(err("\n\n").contains("no cases"));
        let many = format!("{ok}\n").repeat(MAX_CASES + 1);
        assert!(err(&many).contains(&format!("at most {MAX_CASES} cases")));
    }

    #[test]
    fn a_suite_too_large_is_refused_before_reading() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("big.jsonl");
        std::fs::write(&path, vec![b' '; MAX_SUITE_BYTES as usize + 1]).unwrap();
        assert!(load(&path).unwrap_err().contains("at most 1024 KiB"));
    }

    #[test]
    fn answers_match_loosely_or_exactly() {
        assert!(matches(
            "The answer:\n  ACME   Corp.",
            "acme corp",
            Match::Contains
        ));
        assert!(!matches("Globex", "acme", Match::Contains));
        assert!(matches(" 42 ", "42", Match::Exact));
        assert!(!matches("42 units", "42", Match::Exact));
    }
}
