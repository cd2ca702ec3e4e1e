//! The scripted model of the claim workloads: one [`Policy`] that plays every role (peer
//! worker, planner, central orchestrator and worker, isolated attempt, judge, finaliser)
//! and decides each answer from the request alone. It has no handle on the world: what it
//! knows is what the engine put in its prompt (the goal and the workspace paragraph of the
//! system prompt, its task, the tool outputs, the shared context or the reports it was
//! shown). The same policy runs under delm, central and isolated.
//!
//! How it behaves, role by role:
//! - a **planner** task (`Plan: ...`, delm) adds one task per listed source or candidate
//!   cause and finishes in the same turn;
//! - a **source** task (`Read source X`) reads X page by page, one page a turn; with the
//!   figure in hand it records it as a finding (quoting the page), adds a task for every
//!   further component the source names (when it can add tasks), and finishes, all in one
//!   turn. Without `record_point` (a central worker) it reports everything in full instead,
//!   the named components included. It stops at once if its prompt shows the figure;
//! - a **cause** task (`Test candidate cause X`) runs the test step by step; the last step's
//!   verdict becomes a failure point (ruled out) or a finding (confirmed), or, for a central
//!   worker, a full report. It stops as soon as its prompt shows the root cause found;
//! - an **isolated attempt** does all of it alone, one action a turn (recording the last
//!   figure in the same turn as the next read), and reports in full;
//! - the **central orchestrator** assigns at most one task per worker per wave (so each wave
//!   can be steered by the last one's reports: stop when a report confirms the root cause,
//!   add the components reports name), and answers from the reports. [`Wave::All`] (an
//!   ablation) assigns everything it knows of at once instead;
//! - the **finaliser** answers from the verified points it is shown (adding tasks first for
//!   listed work nobody did, when it may);
//! - the **judge** approves every point (the mechanical checks, run by the engine before it,
//!   are what reject a misreported figure).
//!
//! A fixed share of the sources (`misread_percent`, chosen by a hash of the page text, so
//! the same sources in every mode) has its figure misreported; a worker corrects it when
//! the verifier rejects the point and tells it why.

use super::workspace::{READ_TOOL, TEST_SOURCE, TEST_TOOL};
use super::world::{METRIC, UNIT};
use delm::llm::scripted::{Decision, Policy, Prompt, filler, point_lines};
use delm::llm::{CallPurpose, ChatRequest};
use serde_json::{Value, json};

pub const READ_TITLE: &str = "Read source ";
pub const TEST_TITLE: &str = "Test candidate cause ";
const LISTED_SOURCES: &str = "Listed sources: ";
const CANDIDATES: &str = "Candidate causes: ";
const ORCHESTRATOR: &str = "You are the orchestrator of ";
/// How a worker's report states a figure, and a named component.
const REPORT_SOURCE: &str = "Source ";
const REPORT_FOLLOW_UP: &str = "Follow-up: source ";
/// The verdict line of a test log.
const RESULT: &str = "RESULT: ";
/// How the final answer states the root cause.
pub const ROOT_CAUSE: &str = "Root cause: ";
/// At most this many `add_task` calls in one turn (the engine's default cap is 32).
const TASKS_PER_TURN: usize = 30;

#[derive(Debug, Clone)]
pub struct ClaimAgent {
    /// Words of prose in a full report (a central worker's, an isolated attempt's).
    pub report_words: usize,
    /// Words in a point's summary.
    pub summary_words: usize,
    /// Share of sources whose figure is misreported (by a hash of the text read).
    pub misread_percent: u8,
    /// How many tasks a central orchestrator assigns per wave.
    pub wave: Wave,
}

/// How a central orchestrator sizes its waves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wave {
    /// One task per worker (the default): each wave is steered by the last one's reports.
    PerWorker,
    /// Everything it knows of at once (an ablation: no steering, fewer waves).
    All,
}

impl ClaimAgent {
    pub fn new(misread_percent: u8, wave: Wave) -> Self {
        ClaimAgent {
            report_words: 250,
            summary_words: 60,
            misread_percent,
            wave,
        }
    }
}

/// What the system prompt says about the world: what is listed, and whether it is a search.
struct WorldView {
    search: bool,
    items: Vec<String>,
}

impl WorldView {
    fn of(system: &str) -> WorldView {
        let (search, marker) = if system.contains(CANDIDATES) {
            (true, CANDIDATES)
        } else {
            (false, LISTED_SOURCES)
        };
        let items = system
            .split_once(marker)
            .map(|(_, rest)| rest.split_once(". ").map_or(rest, |(list, _)| list))
            .map(|list| {
                list.split(", ")
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        WorldView { search, items }
    }

    fn title(&self, id: &str) -> String {
        task_title(self.search, id)
    }

    fn task(&self, id: &str) -> (&'static str, Value) {
        task_call(self.search, id)
    }
}

/// The title of the task for one source or candidate cause.
fn task_title(search: bool, id: &str) -> String {
    let prefix = if search { TEST_TITLE } else { READ_TITLE };
    format!("{prefix}{id}")
}

/// The `add_task` call for one source or candidate cause.
fn task_call(search: bool, id: &str) -> (&'static str, Value) {
    let detail = if search {
        format!(
            "Test whether {id} is the root cause with {TEST_TOOL}, step by step, and record what \
the test shows."
        )
    } else {
        format!(
            "Read every page of source {id} and report the measured {METRIC} of the {} \
component, with an exact quote.",
            id.replace('-', " ")
        )
    };
    (
        "add_task",
        json!({"title": task_title(search, id), "detail": detail}),
    )
}

/// The id right after each `marker` in `text` (letters, digits and dashes).
fn ids_after<'a>(text: &'a str, marker: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.match_indices(marker)
        .map(move |(at, _)| {
            let rest = &text[at + marker.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|id| !id.is_empty())
}

/// The whole number at the start of `text` (after spaces).
fn leading_number(text: &str) -> Option<u64> {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().ok()
}

/// One page (or test step) the conversation read: its number, the count, the text.
struct Page<'a> {
    number: usize,
    of: usize,
    text: &'a str,
}

/// The pages of `id` this conversation read with `tool`, in order.
fn pages_read<'a>(p: &Prompt<'a>, tool: &'a str, id: &str) -> Vec<Page<'a>> {
    let (head, unit) = if tool == TEST_TOOL {
        ("test of ", ", step ")
    } else {
        ("source ", ", page ")
    };
    p.exchanges(tool)
        .into_iter()
        .filter(|x| !x.failed())
        .filter_map(|x| {
            let result = x.result?;
            let (header, text) = result.split_once(":\n")?;
            let (name, position) = header.strip_prefix(head)?.split_once(unit)?;
            let (number, of) = position.split_once(" of ")?;
            (name == id).then_some(Page {
                number: number.parse().ok()?,
                of: of.parse().ok()?,
                text,
            })
        })
        .collect()
}

/// The next page to read, or `None` when the last one is read.
fn next_page(pages: &[Page]) -> Option<usize> {
    let Some(last) = pages.iter().map(|p| p.number).max() else {
        return Some(1);
    };
    let of = pages.iter().map(|p| p.of).max().unwrap_or(1);
    (last < of).then_some(last + 1)
}

/// The figure a component's pages state: (value, the sentence to quote).
fn figure_in(pages: &[Page]) -> Option<(u64, String)> {
    pages.iter().find_map(|page| {
        let marker = format!("The measured {METRIC} of the ");
        let at = page.text.find(&marker)?;
        let sentence = page.text[at..].split('.').next()?;
        let (_, value) = sentence.rsplit_once(" component is ")?;
        Some((leading_number(value)?, sentence.trim().to_string()))
    })
}

/// Components the pages name as further work.
fn named_components(pages: &[Page]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for page in pages {
        for id in ids_after(page.text, "documented in source ") {
            if !out.iter().any(|o| o == id) {
                out.push(id.to_string());
            }
        }
    }
    out
}

/// A test's verdict from its last step: (confirmed, the verdict words to quote).
fn verdict_in(pages: &[Page]) -> Option<(bool, String)> {
    pages.iter().rev().find_map(|page| {
        let at = page.text.find(RESULT)?;
        let quote = page.text[at + RESULT.len()..].split('.').next()?.trim();
        Some((
            quote.contains("confirmed as the root cause"),
            quote.to_string(),
        ))
    })
}

/// How the verifier answered this conversation's points about `subject`: true for each
/// accepted, false for each rejected.
fn verdicts_on(p: &Prompt, subject: &str) -> Vec<bool> {
    p.exchanges("record_point")
        .into_iter()
        .filter(|x| {
            let args = x.args();
            let source = args["evidence"][0]["source"].as_str().unwrap_or("");
            source.strip_prefix(TEST_SOURCE).unwrap_or(source) == subject
        })
        .filter_map(|x| x.result.map(|r| r.contains("verified and shared")))
        .collect()
}

/// What the verified points shown in the prompt establish.
#[derive(Default)]
struct Shown {
    /// (component, latency, point id)
    figures: Vec<(String, u64, String)>,
    /// (cause, point id)
    root: Option<(String, String)>,
    ruled_out: Vec<(String, String)>,
}

fn shown(p: &Prompt) -> Shown {
    let mut out = Shown::default();
    for text in p.shown() {
        for (id, kind, headline) in point_lines(text) {
            if let Some(rest) = headline.strip_prefix("Component ")
                && let Some((component, value)) =
                    rest.split_once(&format!(": measured {METRIC} is "))
                && let Some(value) = leading_number(value)
                && kind == "finding"
                && !out.figures.iter().any(|(c, _, _)| c == component)
            {
                out.figures
                    .push((component.to_string(), value, id.to_string()));
            }
            if kind == "finding"
                && let Some(cause) = ids_after(headline, "Root cause found: ").next()
            {
                out.root.get_or_insert((cause.to_string(), id.to_string()));
            }
            if kind == "failure"
                && let Some(cause) = ids_after(headline, "Cause ").next()
            {
                out.ruled_out.push((cause.to_string(), id.to_string()));
            }
        }
    }
    out
}

/// Whether the model misreports the figure of a source with this text: a fixed function of
/// what it read, true for `percent` of texts (the world of `fabrications` holds exactly
/// that share of such sources).
pub fn misreads(text: &str, percent: u8) -> bool {
    percent > 0 && fnv(text) % 100 < percent as u64
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The answer's line for one figure (the scorer reads these).
pub fn answer_line(component: &str, value: u64) -> String {
    format!("- {component}: {value} {UNIT}")
}

fn finish(result: String) -> (&'static str, Value) {
    ("finish_task", json!({"result": result}))
}

fn final_answer(answer: String, cited: Vec<String>) -> Decision {
    Decision::calls(vec![(
        "final_answer",
        json!({"answer": answer, "cited": cited}),
    )])
}

impl Policy for ClaimAgent {
    fn decide(&self, req: &ChatRequest) -> Decision {
        let p = Prompt::of(req);
        let world = WorldView::of(p.system());
        match p.purpose() {
            CallPurpose::Judge => judge(&p),
            CallPurpose::Finalise => match p.system().strip_prefix(ORCHESTRATOR) {
                Some(rest) => self.orchestrate(&p, &world, leading_number(rest).unwrap_or(1)),
                None => self.finalise(&p, &world),
            },
            CallPurpose::Work | CallPurpose::Worker => match p.task_title() {
                Some(t) if t.starts_with("Plan") => plan(&p, &world),
                Some(t) if t.starts_with(READ_TITLE) => {
                    self.read_source(&p, t[READ_TITLE.len()..].trim())
                }
                Some(t) if t.starts_with(TEST_TITLE) => {
                    self.test_cause(&p, t[TEST_TITLE.len()..].trim())
                }
                Some(t) if t.starts_with("Attempt ") => self.attempt(&p, &world, t),
                _ => Decision::calls(vec![finish("Nothing in this task I can work on.".into())]),
            },
        }
    }
}

/// Approve every point of the batch, by id.
fn judge(p: &Prompt) -> Decision {
    let verdicts: Vec<Value> = p
        .first_user()
        .lines()
        .filter_map(|l| l.strip_prefix("=== ")?.split_whitespace().next())
        .map(|id| json!({"point": id, "verdict": "approve", "reason": "the quote supports it"}))
        .collect();
    Decision::text(json!({"verdicts": verdicts}).to_string())
}

/// The planning task: one task per listed item, then finish.
fn plan(p: &Prompt, world: &WorldView) -> Decision {
    if !p.offers("add_task") {
        return Decision::calls(vec![finish("There is no way to split this goal.".into())]);
    }
    let planned = p.calls_made("add_task");
    let mut calls: Vec<(&str, Value)> = world
        .items
        .iter()
        .skip(planned)
        .take(TASKS_PER_TURN)
        .map(|id| world.task(id))
        .collect();
    if planned + calls.len() >= world.items.len() {
        let what = if world.search {
            "candidate cause"
        } else {
            "source"
        };
        calls.push(finish(format!(
            "Split the goal into {} tasks, one per {what}.",
            world.items.len()
        )));
    }
    Decision::calls(calls)
}

impl ClaimAgent {
    fn summary(&self, subject: &str) -> String {
        filler(self.summary_words, fnv(subject) as usize % 16)
    }

    fn report_prose(&self, subject: &str) -> String {
        filler(self.report_words, fnv(subject) as usize % 16)
    }

    /// The figure as this conversation states it: misread for a share of the sources until
    /// the verifier has rejected it once.
    fn stated(&self, pages: &[Page], value: u64, corrected: bool) -> u64 {
        let text: String = pages.iter().map(|p| p.text).collect();
        if misreads(&text, self.misread_percent) && !corrected {
            value + value / 9 + 7
        } else {
            value
        }
    }

    fn figure_point(&self, component: &str, value: u64, quote: &str) -> (&'static str, Value) {
        (
            "record_point",
            json!({
                "kind": "finding",
                "headline": format!("Component {component}: measured {METRIC} is {value} {UNIT}"),
                "summary": self.summary(component),
                "evidence": [{"source": component, "quote": quote}],
            }),
        )
    }

    fn verdict_point(&self, cause: &str, confirmed: bool, quote: &str) -> (&'static str, Value) {
        let (kind, headline) = if confirmed {
            (
                "finding",
                format!("Root cause found: {cause}; with it reverted the nightly build passes"),
            )
        } else {
            (
                "failure",
                format!("Cause {cause} ruled out: the nightly build still fails with it reverted"),
            )
        };
        (
            "record_point",
            json!({
                "kind": kind,
                "headline": headline,
                "summary": self.summary(cause),
                "evidence": [{"source": format!("{TEST_SOURCE}{cause}"), "quote": quote}],
            }),
        )
    }

    /// A central worker's full report on a source.
    fn source_report(&self, component: &str, pages: &[Page], value: u64) -> String {
        let mut report = format!(
            "{REPORT_SOURCE}{component}: measured {METRIC} {value} {UNIT} (all {} page(s) read).",
            pages.len()
        );
        for named in named_components(pages) {
            report.push_str(&format!(
                " {REPORT_FOLLOW_UP}{named} must be examined as well (it documents the {} \
component).",
                named.replace('-', " ")
            ));
        }
        report.push_str(" Notes: ");
        report.push_str(&self.report_prose(component));
        report
    }

    fn read_source(&self, p: &Prompt, component: &str) -> Decision {
        let known = shown(p);
        if let Some((_, _, id)) = known.figures.iter().find(|(c, _, _)| c == component) {
            return Decision::calls(vec![finish(format!(
                "{component} is already covered by {id}; nothing left to do."
            ))]);
        }
        let pages = pages_read(p, READ_TOOL, component);
        if let Some(page) = next_page(&pages) {
            return Decision::calls(vec![(
                READ_TOOL,
                json!({"source": component, "page": page}),
            )]);
        }
        let Some((value, quote)) = figure_in(&pages) else {
            return Decision::calls(vec![finish(format!(
                "Source {component} states no measured {METRIC}."
            ))]);
        };
        let corrected = verdicts_on(p, component).contains(&false);
        let value = self.stated(&pages, value, corrected);
        if !p.offers("record_point") {
            return Decision::calls(vec![finish(self.source_report(component, &pages, value))]);
        }
        let mut calls = Vec::new();
        if p.offers("add_task") {
            let added: Vec<String> = p
                .exchanges("add_task")
                .iter()
                .filter_map(|x| x.args()["title"].as_str().map(str::to_string))
                .collect();
            for named in named_components(&pages) {
                if !added.contains(&task_title(false, &named)) {
                    calls.push(task_call(false, &named));
                }
            }
        }
        calls.push(self.figure_point(component, value, &quote));
        calls.push(finish(format!(
            "Recorded the measured {METRIC} of {component} as a point."
        )));
        Decision::calls(calls)
    }

    fn test_cause(&self, p: &Prompt, cause: &str) -> Decision {
        let known = shown(p);
        if let Some((root, id)) = &known.root {
            return Decision::calls(vec![finish(format!(
                "Stopped: {id} already names the root cause ({root})."
            ))]);
        }
        if let Some((_, id)) = known.ruled_out.iter().find(|(c, _)| c == cause) {
            return Decision::calls(vec![finish(format!(
                "{cause} was already ruled out ({id})."
            ))]);
        }
        let pages = pages_read(p, TEST_TOOL, cause);
        if let Some(step) = next_page(&pages) {
            return Decision::calls(vec![(TEST_TOOL, json!({"cause": cause, "step": step}))]);
        }
        let Some((confirmed, quote)) = verdict_in(&pages) else {
            return Decision::calls(vec![finish(format!(
                "The test of {cause} gave no verdict."
            ))]);
        };
        if !p.offers("record_point") {
            let report = format!(
                "Candidate cause {cause}: {RESULT}{quote}. Test log ({} steps): {}",
                pages.len(),
                self.report_prose(cause)
            );
            return Decision::calls(vec![finish(report)]);
        }
        let result = if confirmed {
            format!("{cause} is the root cause; recorded as a finding.")
        } else {
            format!("{cause} is ruled out; recorded as a failure.")
        };
        Decision::calls(vec![
            self.verdict_point(cause, confirmed, &quote),
            finish(result),
        ])
    }

    /// An isolated attempt at the whole goal.
    fn attempt(&self, p: &Prompt, world: &WorldView, title: &str) -> Decision {
        if world.search {
            // `Attempt k of n`: attempts start at different causes.
            let k = leading_number(&title["Attempt ".len()..]).unwrap_or(1) as usize;
            let n = title
                .split_once(" of ")
                .and_then(|(_, rest)| leading_number(rest))
                .unwrap_or(1) as usize;
            self.attempt_search(p, world, k, n)
        } else {
            self.attempt_survey(p, world)
        }
    }

    fn attempt_survey(&self, p: &Prompt, world: &WorldView) -> Decision {
        let mut components = world.items.clone();
        let mut i = 0;
        while i < components.len() {
            let pages = pages_read(p, READ_TOOL, &components[i]);
            for named in named_components(&pages) {
                if !components.contains(&named) {
                    components.push(named);
                }
            }
            i += 1;
        }
        let mut calls = Vec::new();
        let mut figures = Vec::new();
        let mut next_read = None;
        for component in &components {
            let pages = pages_read(p, READ_TOOL, component);
            if let Some(page) = next_page(&pages) {
                next_read.get_or_insert((component.clone(), page));
                continue;
            }
            let Some((value, quote)) = figure_in(&pages) else {
                continue;
            };
            let verdicts = verdicts_on(p, component);
            let value = self.stated(&pages, value, verdicts.contains(&false));
            if !verdicts.contains(&true) {
                calls.push(self.figure_point(component, value, &quote));
            }
            figures.push(answer_line(component, value));
        }
        match next_read {
            Some((component, page)) => {
                calls.push((READ_TOOL, json!({"source": component, "page": page})))
            }
            None => calls.push(finish(format!(
                "Full answer, every component read:\n{}\n{}",
                figures.join("\n"),
                self.report_prose("answer")
            ))),
        }
        Decision::calls(calls)
    }

    fn attempt_search(&self, p: &Prompt, world: &WorldView, k: usize, n: usize) -> Decision {
        let count = world.items.len().max(1);
        let start = (k.saturating_sub(1) * count) / n.max(1);
        let mut calls = Vec::new();
        let mut ruled_out = Vec::new();
        for cause in world.items.iter().cycle().skip(start).take(count) {
            let pages = pages_read(p, TEST_TOOL, cause);
            if let Some(step) = next_page(&pages) {
                calls.push((TEST_TOOL, json!({"cause": cause, "step": step})));
                return Decision::calls(calls);
            }
            let Some((confirmed, quote)) = verdict_in(&pages) else {
                continue;
            };
            if !verdicts_on(p, cause).contains(&true) {
                calls.push(self.verdict_point(cause, confirmed, &quote));
            }
            if confirmed {
                calls.push(finish(format!(
                    "{ROOT_CAUSE}{cause}. {RESULT}{quote}. Ruled out before it: {}. {}",
                    ruled_out.join(", "),
                    self.report_prose(cause)
                )));
                return Decision::calls(calls);
            }
            ruled_out.push(cause.clone());
        }
        calls.push(finish(format!(
            "No candidate cause was confirmed; ruled out: {}.",
            ruled_out.join(", ")
        )));
        Decision::calls(calls)
    }

    /// The central orchestrator: the next wave, or the answer from the reports.
    fn orchestrate(&self, p: &Prompt, world: &WorldView, workers: u64) -> Decision {
        let assigned: Vec<String> = p
            .exchanges("add_task")
            .iter()
            .filter_map(|x| {
                let title = x.args()["title"].as_str()?.to_string();
                let id = title
                    .strip_prefix(READ_TITLE)
                    .or_else(|| title.strip_prefix(TEST_TITLE))?;
                Some(id.trim().to_string())
            })
            .collect();
        let reports: String = p
            .user_messages()
            .filter(|m| m.starts_with("WAVE "))
            .collect::<Vec<_>>()
            .join("\n");
        let mut known = world.items.clone();
        let mut root = None;
        if world.search {
            root = ids_after(&reports, RESULT).find(|cause| {
                reports.contains(&format!("{RESULT}{cause} is confirmed as the root cause"))
            });
        } else {
            for named in ids_after(&reports, REPORT_FOLLOW_UP) {
                if !known.iter().any(|k| k == named) {
                    known.push(named.to_string());
                }
            }
        }
        let next: Vec<&String> = known
            .iter()
            .filter(|id| !assigned.contains(id))
            .take(match self.wave {
                Wave::PerWorker => workers.max(1) as usize,
                Wave::All => TASKS_PER_TURN,
            })
            .collect();
        if root.is_none() && !next.is_empty() && p.offers("add_task") {
            return Decision::calls(next.iter().map(|id| world.task(id)).collect());
        }
        let answer = if world.search {
            match root {
                Some(cause) => format!("{ROOT_CAUSE}{cause} (a worker's test confirmed it)."),
                None => format!("{ROOT_CAUSE}not found; no report confirmed a candidate."),
            }
        } else {
            let mut lines = Vec::new();
            let mut seen: Vec<&str> = Vec::new();
            for component in ids_after(&reports, REPORT_SOURCE) {
                let marker = format!("{REPORT_SOURCE}{component}: measured {METRIC} ");
                let Some(at) = reports.find(&marker) else {
                    continue;
                };
                if let Some(value) = leading_number(&reports[at + marker.len()..])
                    && !seen.contains(&component)
                {
                    seen.push(component);
                    lines.push(answer_line(component, value));
                }
            }
            format!(
                "Measured {METRIC} of each component (from the workers' reports):\n{}",
                lines.join("\n")
            )
        };
        final_answer(answer, Vec::new())
    }

    /// The finalise turn: answer from the verified points shown, or add what nobody did.
    fn finalise(&self, p: &Prompt, world: &WorldView) -> Decision {
        let known = shown(p);
        let results = p.first_user();
        if p.offers("add_task") {
            let missing: Vec<(&str, Value)> = world
                .items
                .iter()
                .filter(|id| {
                    let done = if world.search {
                        known.root.is_some() || known.ruled_out.iter().any(|(c, _)| c == *id)
                    } else {
                        known.figures.iter().any(|(c, _, _)| c == *id)
                    };
                    !done && !results.contains(&world.title(id))
                })
                .map(|id| world.task(id))
                .collect();
            if !missing.is_empty() {
                return Decision::calls(missing);
            }
        }
        let (answer, mut cited) = if world.search {
            match &known.root {
                Some((cause, id)) => (
                    format!(
                        "{ROOT_CAUSE}{cause} ({id}: with it reverted the nightly build passes)."
                    ),
                    vec![id.clone()],
                ),
                None => (
                    format!(
                        "{ROOT_CAUSE}not found; ruled out: {}.",
                        known
                            .ruled_out
                            .iter()
                            .map(|(c, _)| c.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    known.ruled_out.iter().map(|(_, id)| id.clone()).collect(),
                ),
            }
        } else {
            let lines: Vec<String> = known
                .figures
                .iter()
                .map(|(c, v, id)| format!("{} ({id})", answer_line(c, *v)))
                .collect();
            (
                format!("Measured {METRIC} of each component:\n{}", lines.join("\n")),
                known.figures.iter().map(|(_, _, id)| id.clone()).collect(),
            )
        };
        if p.citation_refused() {
            cited.clear();
        }
        final_answer(answer, cited)
    }
}
