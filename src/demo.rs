//! `delm demo`: the whole product in one command, with no key and no setup. A scripted demo
//! model (in process; no provider is called) drives a docs run over built-in sample
//! documents, so a newcomer sees the swarm claim tasks, the shared context fill with
//! verified points (and one rejected misquote), a follow-up task appear, steering take
//! effect, and a final answer with a table.
//!
//! The model is a **script**, clearly labelled as such in the status bar, in the answer and
//! in the session (its model is `delm-demo (scripted)`). It decides each turn only from what
//! the engine sent it (the task message, the tool results, the shared context), like the
//! test doubles do, but it knows the sample documents' facts by heart: that is what makes it
//! a demo and not a model.
//!
//! Most of its length is the demo's script: the facts of the sample documents and what the
//! model says about them.
//!
//! It is long because the demo's script is one story read top to bottom: each beat (a
//! claim, a misquote, a follow-up) is a small function beside the next.

use crate::engine::PriceFn;
use crate::event::CallPurpose;
use crate::llm::retry::{RetryPolicy, RetryingProvider};
use crate::llm::{
    ChatRequest, ChatResponse, Delta, DeltaSink, LlmError, Provider, Role, StopReason, ToolCall,
    Usage,
};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The question the demo asks of its documents.
pub const QUESTION: &str =
    "Which vendor is better placed for 2025, Northwind Sensors or Borealis Instruments, and why?";
/// The model spec the demo run is configured with (it needs no key; the in-process demo
/// model answers instead of any provider).
pub const MODEL_SPEC: &str = "ollama:delm-demo";
/// The model as the session records it and the TUI shows it.
pub const MODEL_LABEL: &str = "delm-demo (scripted)";
/// What the TUI's badge says over a demo run (and on narrow terminals).
pub const BADGE: &str = "SCRIPTED DEMO MODEL";
pub const BADGE_SHORT: &str = "DEMO";

/// Whether a run's recorded model is the demo's.
pub fn is_demo_model(model: &str) -> bool {
    model == MODEL_LABEL
}

/// How fast the scripted model answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Pace {
    /// About three seconds a call: time to read along and steer.
    Slow,
    /// About a second and a half a call: the run takes half a minute.
    #[default]
    Normal,
    /// A quarter of that.
    Fast,
    /// No waiting (tests).
    Instant,
}

impl Pace {
    fn call_time(self) -> Duration {
        match self {
            Pace::Slow => Duration::from_millis(3_000),
            Pace::Normal => Duration::from_millis(1_500),
            Pace::Fast => Duration::from_millis(300),
            Pace::Instant => Duration::ZERO,
        }
    }
}

/// One sample document: its id under the docs root and its text.
struct Doc {
    id: &'static str,
    text: &'static str,
    /// What the agent says when it opens the document.
    opening: &'static str,
    /// What it records, in order; a misquote is rejected by the verifier and then fixed.
    points: &'static [Fact],
}

/// A point the demo model records, with the exact quote it cites.
struct Fact {
    /// A short name the final answer refers to.
    key: &'static str,
    kind: &'static str,
    headline: &'static str,
    summary: &'static str,
    quote: &'static str,
    /// A wrong point tried first, `(headline, quote)`: its quote is not in the document, so
    /// the verifier rejects it, and the agent then records this fact instead.
    misquote: Option<(&'static str, &'static str)>,
}

const fn fact(
    key: &'static str,
    kind: &'static str,
    headline: &'static str,
    summary: &'static str,
    quote: &'static str,
) -> Fact {
    Fact {
        key,
        kind,
        headline,
        summary,
        quote,
        misquote: None,
    }
}

const DOCS: &[Doc] = &[
    Doc {
        id: "northwind/annual_report_2024.md",
        text: include_str!("demo/docs/northwind/annual_report_2024.md"),
        opening: "Opening Northwind's annual report: the Highlights and Outlook sections should \
                  hold revenue, margin and guidance.",
        points: &[
            fact(
                "nw_revenue",
                "finding",
                "Northwind's 2024 revenue was $312.4 million, up 8.1%",
                "Northwind Sensors grew revenue 8.1% in 2024, from $289.0 million to $312.4 \
                 million.",
                "Northwind Sensors reported revenue of $312.4 million for 2024, up 8.1% from \
                 $289.0 million in 2023.",
            ),
            fact(
                "nw_guidance",
                "finding",
                "Northwind guides 2025 revenue to $325 million to $335 million",
                "Guidance implies 4% to 7% growth, held back by a chip shortage in the first \
                 half.",
                "For 2025, management expects revenue between $325 million and $335 million",
            ),
            Fact {
                key: "nw_operating",
                kind: "finding",
                headline: "Northwind's operating income rose to $46.8 million",
                summary: "Operating income grew with revenue; the report gives no operating \
                          margin.",
                quote: "Operating income rose to $46.8 million.",
                misquote: Some((
                    "Northwind's operating margin reached 18%",
                    "Operating margin reached 18% in 2024.",
                )),
            },
            fact(
                "nw_margin",
                "finding",
                "Northwind's gross margin was 41.2%, up from 40.5%",
                "Northwind is the more profitable of the two on gross margin, and it improved \
                 slightly.",
                "Gross margin was 41.2%, compared with 40.5% a year earlier.",
            ),
        ],
    },
    Doc {
        id: "borealis/annual_report_2024.md",
        text: include_str!("demo/docs/borealis/annual_report_2024.md"),
        opening: "Reading Borealis's annual report for the same figures, so the two can be \
                  compared line by line.",
        points: &[
            fact(
                "bo_revenue",
                "finding",
                "Borealis's revenue grew 12.6% to $298.7 million",
                "Borealis grew faster than Northwind in 2024, from $265.3 million to $298.7 \
                 million.",
                "Borealis Instruments reported revenue of $298.7 million for 2024, an increase \
                 of 12.6% from $265.3 million in 2023.",
            ),
            fact(
                "bo_guidance",
                "finding",
                "Borealis guides 2025 revenue to $340 million to $355 million",
                "Guidance implies 14% to 19% growth, with the Tampere plant at full output from \
                 the second quarter.",
                "For 2025, Borealis guides revenue to between $340 million and $355 million",
            ),
            fact(
                "bo_margin",
                "finding",
                "Borealis's gross margin fell to 37.5% from 38.1%",
                "The dip is attributed to the cost of a new plant.",
                "Gross margin was 37.5%, down from 38.1% in 2023, as the company absorbed the \
                 cost of a new plant.",
            ),
            fact(
                "bo_risk",
                "partial",
                "Borealis gets about 40% of its revenue from three wind-energy customers",
                "A concentration risk: losing one of them would hurt. How long the contracts run \
                 is not stated.",
                "About 40% of revenue comes from three customers in the wind-energy sector.",
            ),
        ],
    },
    Doc {
        id: "market/sensor_market_note_2025.md",
        text: include_str!("demo/docs/market/sensor_market_note_2025.md"),
        opening: "Checking the market note for what the market rewards in 2025.",
        points: &[
            fact(
                "market_size",
                "finding",
                "The sensor market reached $14.2 billion and grows 6.5% a year",
                "Both vendors are small players in a growing market.",
                "The global market for industrial condition-monitoring sensors reached $14.2 \
                 billion in 2024 and is expected to grow 6.5% a year through 2028.",
            ),
            fact(
                "market_systems",
                "finding",
                "Buyers prefer vendors that ship complete monitoring systems",
                "A shift from single sensors to systems favours vendors with broader \
                 offerings.",
                "Buyers increasingly prefer vendors that can ship complete monitoring systems \
                 rather than single sensors.",
            ),
            fact(
                "market_wind",
                "finding",
                "Borealis won the most new wind-energy contracts among mid-sized vendors",
                "Its customer concentration is also where it is winning.",
                "Among mid-sized vendors, Borealis Instruments won the most new wind-energy \
                 contracts in 2024.",
            ),
        ],
    },
    Doc {
        id: "notes/analyst_call_q4_2024.txt",
        text: include_str!("demo/docs/notes/analyst_call_q4_2024.txt"),
        opening: "Going through the analyst call notes for what management said about 2025.",
        points: &[
            fact(
                "bo_margin_2025",
                "finding",
                "Borealis expects its gross margin to recover to about 39% in 2025",
                "The recovery depends on the Tampere plant reaching full output.",
                "we expect gross margin to recover to about 39% in 2025 once the Tampere plant \
                 runs at full output.",
            ),
            fact(
                "nw_chips",
                "finding",
                "Northwind expects the chip shortage to cost about $12 million of revenue in 2025",
                "The hit falls in the first half of 2025.",
                "the chip shortage will cost us roughly $12 million of revenue in the first \
                 half of 2025.",
            ),
            fact(
                "nw_no_margin_guidance",
                "failure",
                "Tried to find Northwind's 2025 margin guidance: it gives none",
                "Neither the report nor the call has a 2025 margin figure for Northwind; do not \
                 look further.",
                "we are not giving margin guidance for 2025.",
            ),
        ],
    },
];

/// The follow-up task the market note suggests, and what its agent records.
const FOLLOW_UP_TITLE: &str = "Compare the 2025 revenue outlooks of Northwind and Borealis";
const FOLLOW_UP_DETAIL: &str = "Both vendors give 2025 revenue guidance. Put the two ranges \
side by side from the verified guidance points and record which vendor guides higher.";

/// Write the sample documents under the data dir (or the temp dir) and return their root.
/// They are rewritten each time, so a demo always reads the documents it was built with.
pub fn sample_docs() -> Result<PathBuf, String> {
    let base = crate::session::data_dir().unwrap_or_else(std::env::temp_dir);
    let root = base.join("demo").join("docs");
    for doc in DOCS {
        let path = root.join(doc.id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {} for the demo: {e}", dir.display()))?;
        }
        std::fs::write(&path, doc.text)
            .map_err(|e| format!("cannot write {} for the demo: {e}", path.display()))?;
    }
    Ok(root)
}

/// The demo's model behind the engine's retrying wrapper, and its price (nothing: it is a
/// script on this machine). The one place the demo's model is built.
pub fn provider(agents: usize, pace: Pace) -> (crate::engine::Model, PriceFn) {
    let policy = RetryPolicy {
        max_concurrency: agents.clamp(1, 16),
        ..RetryPolicy::default()
    };
    let model: Arc<dyn Provider> = Arc::new(DemoModel { pace });
    let price: PriceFn = Arc::new(|_| Some(0.0));
    (Arc::new(RetryingProvider::new(model, policy)), price)
}

/// The scripted demo model.
pub struct DemoModel {
    pace: Pace,
}

impl Provider for DemoModel {
    fn model(&self) -> &str {
        "delm-demo"
    }

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        Box::pin(async move {
            let (text, calls) = respond(req);
            // Stream the text word by word over the call's time, as a model would; a
            // verdict is short and comes quicker.
            let total = if req.tools.is_empty() {
                self.pace.call_time() * 2 / 5
            } else {
                self.pace.call_time()
            };
            let words: Vec<&str> = text.split_inclusive(' ').collect();
            let step = total / (words.len() as u32 + 1).max(1);
            for word in &words {
                if !step.is_zero() {
                    tokio::time::sleep(step).await;
                }
                on_delta(Delta::Text(word));
            }
            if !step.is_zero() {
                tokio::time::sleep(step).await;
            }
            let output_chars = text.chars().count()
                + calls
                    .iter()
                    .map(|(n, a)| n.len() + a.to_string().len())
                    .sum::<usize>();
            let tool_calls = numbered(calls);
            let stop = if tool_calls.is_empty() {
                StopReason::Stop
            } else {
                StopReason::ToolCalls
            };
            Ok(ChatResponse {
                tool_calls,
                text,
                stop,
                usage: Usage {
                    input_tokens: crate::text::estimate_tokens_of_chars(input_chars(req)) as u64,
                    output_tokens: crate::text::estimate_tokens_of_chars(output_chars) as u64,
                    ..Usage::default()
                },
                finish_reason: Some("stop".into()),
                provider_state: None,
            })
        })
    }
}

fn input_chars(req: &ChatRequest) -> usize {
    req.system.chars().count()
        + req
            .messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum::<usize>()
        + req
            .tools
            .iter()
            .map(|t| t.description.len() + t.parameters.to_string().len())
            .sum::<usize>()
}

type Calls = Vec<(&'static str, Value)>;

/// The calls as the engine receives them, with ids in order.
fn numbered(calls: Calls) -> Vec<ToolCall> {
    let mut out = Vec::with_capacity(calls.len());
    for (name, args) in calls {
        let id = format!("demo_call_{}", out.len());
        out.push(ToolCall {
            id,
            name: name.to_string(),
            arguments: args.to_string(),
        });
    }
    out
}

/// The next turn: what the model says and the tools it calls.
fn respond(req: &ChatRequest) -> (String, Calls) {
    let offers = |name: &str| req.tools.iter().any(|t| t.name == name);
    if req.purpose == CallPurpose::Judge {
        return judge(req);
    }
    let seen = Seen::of(req);
    let mut lead = seen.acknowledgements();
    let (text, calls) = if offers("final_answer") {
        final_answer(&seen)
    } else if seen.task.contains(FOLLOW_UP_TITLE) {
        follow_up(&seen)
    } else {
        document_turn(&seen, offers("add_task"))
    };
    if !lead.is_empty() && !text.is_empty() {
        lead.push(' ');
    }
    lead.push_str(&text);
    (lead, calls)
}

/// The verifier: the demo's quotes are exact, so it approves, and says what it checked.
fn judge(req: &ChatRequest) -> (String, Calls) {
    let prompt: String = req.messages.iter().map(|m| m.content.as_str()).collect();
    let reason = if prompt.contains("[partial]") || prompt.contains("\"partial\"") {
        "the quote supports it and the open end is named"
    } else {
        "the quote states exactly these figures, with the same period and qualifiers"
    };
    (
        json!({"verdict": "approve", "reason": reason}).to_string(),
        Vec::new(),
    )
}

/// What the model reads off a request.
struct Seen<'a> {
    req: &'a ChatRequest,
    /// The first user message (the task or the finalise message).
    task: &'a str,
    /// Tool calls this conversation already made, by name, in order.
    made: Vec<&'a str>,
}

impl<'a> Seen<'a> {
    fn of(req: &'a ChatRequest) -> Self {
        let task = req
            .messages
            .iter()
            .find_map(|m| (m.role == Role::User).then_some(m.content.as_str()))
            .unwrap_or_default();
        let made = req
            .messages
            .iter()
            .flat_map(|m| &m.tool_calls)
            .map(|c| c.name.as_str())
            .collect();
        Seen { req, task, made }
    }

    fn count(&self, name: &str) -> usize {
        self.made.iter().filter(|n| **n == name).count()
    }

    /// Every line the engine sent (task, updates, tool results).
    fn engine_lines(&self) -> impl Iterator<Item = &'a str> {
        self.req
            .messages
            .iter()
            .filter(|m| m.role != Role::Assistant)
            .flat_map(|m| m.content.lines())
    }

    /// Points in the shared context as the engine showed them: `P3 [finding] headline (a1,
    /// T2)` lines, by id.
    fn points(&self) -> Vec<(String, String, String)> {
        let mut out: Vec<(String, String, String)> = Vec::new();
        for line in self.engine_lines() {
            let Some((id, rest)) = line.trim().split_once(' ') else {
                continue;
            };
            let is_id = id.len() > 1
                && matches!(id.chars().next(), Some('P' | 'C'))
                && id[1..].chars().all(|c| c.is_ascii_digit());
            let Some(rest) = rest.strip_prefix('[') else {
                continue;
            };
            let Some((kind, text)) = rest.split_once("] ") else {
                continue;
            };
            if is_id && !out.iter().any(|(i, _, _)| i == id) {
                let text = text.rsplit_once(" (").map_or(text, |(h, _)| h);
                out.push((id.to_string(), kind.to_string(), text.trim().to_string()));
            }
        }
        out
    }

    /// The verified point recording `fact`, if the engine has shown it.
    fn point_of(&self, fact: &Fact) -> Option<String> {
        self.points()
            .into_iter()
            .find(|(_, _, headline)| headline == fact.headline)
            .map(|(id, _, _)| id)
    }

    /// Human constraints in sight (`C1 [constraint] ...`), as (id, text).
    fn constraints(&self) -> Vec<(String, String)> {
        self.points()
            .into_iter()
            .filter(|(id, kind, _)| id.starts_with('C') && kind.contains("constraint"))
            .map(|(id, _, text)| (id, text))
            .collect()
    }

    /// A word for each human note or constraint not acknowledged yet in this conversation.
    fn acknowledgements(&self) -> String {
        let said: String = self
            .req
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .map(|m| m.content.as_str())
            .collect();
        let mut out = Vec::new();
        if said.is_empty()
            && let Some(note) = self
                .task
                .lines()
                .find_map(|l| l.strip_prefix("Note from the human: "))
        {
            out.push(format!(
                "The human asked: “{}”; I take that into account.",
                note.trim()
            ));
        }
        for (id, text) in self.constraints() {
            if !said.contains(&format!("{id} ")) {
                out.push(format!(
                    "Noted {id} from the human (“{text}”): I keep to it."
                ));
            }
        }
        out.join(" ")
    }

    /// Results of this conversation's `record_point` calls: (point id, verified).
    fn verdicts(&self) -> Vec<(String, bool)> {
        self.req
            .messages
            .iter()
            .filter(|m| m.role == Role::Tool)
            .filter_map(|m| {
                let text = m.content.trim();
                let id = text.split_whitespace().next()?;
                let is_point = id.starts_with('P') && id[1..].chars().all(|c| c.is_ascii_digit());
                is_point.then(|| (id.to_string(), text.contains("verified and shared")))
            })
            .collect()
    }
}

/// The documents a task names (its title and detail list them).
fn task_docs(task: &str) -> Vec<&'static Doc> {
    DOCS.iter().filter(|d| task.contains(d.id)).collect()
}

/// One `record_point` of a task's script: the document, the fact, and whether this is the
/// wrong first try of it.
type Step = (&'static Doc, &'static Fact, bool);

/// What a task records, in order, for its documents.
fn script_of(docs: &[&'static Doc]) -> Vec<Step> {
    let mut steps = Vec::new();
    for doc in docs {
        for fact in doc.points {
            if fact.misquote.is_some() {
                steps.push((*doc, fact, true));
            }
            steps.push((*doc, fact, false));
        }
    }
    steps
}

fn record(doc: &Doc, fact: &Fact, wrong: bool) -> Value {
    let (headline, quote) = match fact.misquote {
        Some(miss) if wrong => miss,
        _ => (fact.headline, fact.quote),
    };
    json!({
        "kind": fact.kind,
        "headline": headline,
        "summary": fact.summary,
        "evidence": [{"source": doc.id, "quote": quote}],
    })
}

fn document_turn(seen: &Seen, may_add_tasks: bool) -> (String, Calls) {
    let docs = task_docs(seen.task);
    if docs.is_empty() {
        return (
            "This task names none of the sample documents; nothing to add.".into(),
            vec![(
                "finish_task",
                json!({"result": "Nothing in this task bears on the question."}),
            )],
        );
    }
    let opened = seen.count("read_doc");
    if opened < docs.len() {
        let doc = docs[opened];
        return (
            doc.opening.to_string(),
            vec![("read_doc", json!({"doc": doc.id}))],
        );
    }
    let steps = script_of(&docs);
    let recorded = seen.count("record_point");
    if let Some(&(doc, fact, wrong)) = steps.get(recorded) {
        let text = if wrong {
            format!("Recording the operating result from {}.", doc.id)
        } else if recorded > 0 && steps[recorded - 1].1.key == fact.key {
            "The verifier is right: that sentence is not in the report. Recording what it \
             actually says."
                .to_string()
        } else {
            format!("{}. The evidence is the sentence itself.", fact.headline)
        };
        return (text, vec![("record_point", record(doc, fact, wrong))]);
    }
    let suggests_follow_up = docs.iter().any(|d| d.id.starts_with("market/"));
    if suggests_follow_up && may_add_tasks && seen.count("add_task") == 0 {
        return (
            "Both vendors give 2025 guidance; someone should put the two ranges side by side."
                .into(),
            vec![(
                "add_task",
                json!({"title": FOLLOW_UP_TITLE, "detail": FOLLOW_UP_DETAIL}),
            )],
        );
    }
    let verified: Vec<String> = seen
        .verdicts()
        .into_iter()
        .filter(|(_, ok)| *ok)
        .map(|(id, _)| id)
        .collect();
    let result = if verified.is_empty() {
        "Read the documents; no point was verified.".to_string()
    } else {
        format!("Recorded {} (verified).", verified.join(", "))
    };
    (
        "Done with this task.".into(),
        vec![("finish_task", json!({"result": result}))],
    )
}

fn find_fact(key: &str) -> &'static Fact {
    DOCS.iter()
        .flat_map(|d| d.points)
        .find(|f| f.key == key)
        .unwrap_or(&DOCS[0].points[0])
}

/// The follow-up compares the two guidance points once both are verified.
fn follow_up(seen: &Seen) -> (String, Calls) {
    let nw = seen.point_of(find_fact("nw_guidance"));
    let bo = seen.point_of(find_fact("bo_guidance"));
    let outlooks = [
        "borealis/annual_report_2024.md",
        "northwind/annual_report_2024.md",
    ];
    match (
        seen.count("search_docs"),
        seen.count("read_doc"),
        seen.count("record_point"),
    ) {
        (0, _, _) => (
            "Looking for both outlooks before comparing them.".into(),
            vec![("search_docs", json!({"query": "2025 revenue guidance"}))],
        ),
        (_, n, _) if n < outlooks.len() => (
            format!("Reading the outlook in {}.", outlooks[n]),
            vec![("read_doc", json!({"doc": outlooks[n]}))],
        ),
        (_, _, 0) => match (nw, bo) {
            (Some(nw), Some(bo)) => (
                format!("{bo} against {nw}: Borealis's range is higher at both ends."),
                vec![(
                    "record_point",
                    json!({
                        "kind": "finding",
                        "headline": "Borealis guides to more 2025 revenue than Northwind, at both ends of the range",
                        "summary": "Borealis's low end is above Northwind's high end, although Northwind is the larger company today.",
                        "evidence": [
                            {"source": bo, "quote": "guides 2025 revenue to $340 million to $355 million"},
                            {"source": nw, "quote": "guides 2025 revenue to $325 million to $335 million"},
                        ],
                    }),
                )],
            ),
            _ => (
                "The two guidance points are not both verified yet; recording what is open.".into(),
                vec![(
                    "record_point",
                    json!({
                        "kind": "partial",
                        "headline": "The 2025 outlooks still need comparing once both guidance points are verified",
                        "summary": "Open: which vendor guides higher.",
                    }),
                )],
            ),
        },
        _ => (
            "Comparison recorded.".into(),
            vec![(
                "finish_task",
                json!({"result": "Compared the two 2025 revenue outlooks."}),
            )],
        ),
    }
}

/// The finalise turn: a markdown answer that cites only what it can see verified.
fn final_answer(seen: &Seen) -> (String, Calls) {
    let mut cited: Vec<String> = Vec::new();
    let comparison = seen
        .points()
        .into_iter()
        .find(|(_, _, h)| h.starts_with("Borealis guides to more 2025 revenue"))
        .map(|(id, _, _)| id);
    let compared = match &comparison {
        Some(id) => {
            cited.push(id.clone());
            format!(" [{id}]")
        }
        None => String::new(),
    };
    let mut cite = |key: &str| -> String {
        match seen.point_of(find_fact(key)) {
            Some(id) => {
                if !cited.contains(&id) {
                    cited.push(id.clone());
                }
                format!(" [{id}]")
            }
            None => String::new(),
        }
    };
    let cell = |value: &str, c: String| {
        if c.is_empty() {
            "not verified".to_string()
        } else {
            format!("{value}{c}")
        }
    };
    let rows = [
        (
            "2024 revenue",
            ("$312.4M", cite("nw_revenue")),
            ("$298.7M", cite("bo_revenue")),
        ),
        (
            "2024 growth",
            ("8.1%", cite("nw_revenue")),
            ("12.6%", cite("bo_revenue")),
        ),
        (
            "Gross margin",
            ("41.2%", cite("nw_margin")),
            ("37.5%", cite("bo_margin")),
        ),
        (
            "2025 guidance",
            ("$325–335M", cite("nw_guidance")),
            ("$340–355M", cite("bo_guidance")),
        ),
    ];
    let mut table =
        String::from("| | Northwind Sensors | Borealis Instruments |\n|---|---:|---:|\n");
    for (label, (a, ca), (b, cb)) in rows {
        table.push_str(&format!(
            "| {label} | {} | {} |\n",
            cell(a, ca),
            cell(b, cb)
        ));
    }
    let margin_2025 = cite("bo_margin_2025");
    let systems = cite("market_systems");
    let wind = cite("market_wind");
    let chips = cite("nw_chips");
    let risk = cite("bo_risk");
    let no_guidance = cite("nw_no_margin_guidance");
    let constraints = seen.constraints();
    let mut answer = format!(
        "## Borealis is better placed for 2025, with one caveat\n\n\
         Borealis guides to more 2025 revenue than Northwind{compared}, after growing faster in \
         2024. Northwind is larger and more profitable today.\n\n{table}\n\
         **Why Borealis**\n\n\
         - Its 2025 range starts above Northwind's high end{compared}.\n\
         - Its margin dip is the cost of a new plant, expected to recover to about 39% in \
         2025{margin_2025}.\n\
         - The market rewards vendors that ship complete systems{systems}, and Borealis is \
         winning the new wind-energy contracts{wind}.\n\
         - Northwind expects a chip shortage to cost it about $12 million of revenue in the first \
         half{chips}, and gives no 2025 margin guidance{no_guidance}.\n\n\
         **The caveat**\n\n\
         Borealis depends on three wind-energy customers for about 40% of its revenue{risk}: \
         losing one would change the picture.\n"
    );
    if !constraints.is_empty() {
        answer.push_str("\n**Constraints from the human, followed**\n\n");
        for (id, text) in &constraints {
            answer.push_str(&format!("- {id}: {text}\n"));
        }
    }
    answer.push_str(
        "\n---\n*Written by delm's scripted demo model from the verified points above; no model \
         provider was called and the companies are fictional. Run `delm run` with a real model \
         for real answers.*",
    );
    (
        "Writing the answer from the verified points.".into(),
        vec![("final_answer", json!({"answer": answer, "cited": cited}))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_quote_is_in_its_document_and_every_misquote_is_not() {
        let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        for doc in DOCS {
            let text = squeeze(doc.text);
            for fact in doc.points {
                assert!(
                    text.contains(&squeeze(fact.quote)),
                    "{}: {}",
                    doc.id,
                    fact.quote
                );
                if let Some((_, wrong)) = fact.misquote {
                    assert!(!text.contains(&squeeze(wrong)), "{wrong}");
                }
                // The verifier rejects a finding whose headline has numbers the quote lacks.
                for number in fact
                    .headline
                    .split(|c: char| !c.is_ascii_digit() && c != '.')
                    .map(|n| n.trim_matches('.'))
                    .filter(|n| !n.is_empty())
                {
                    assert!(
                        fact.quote.contains(number),
                        "{number} of `{}`",
                        fact.headline
                    );
                }
            }
        }
    }

    #[test]
    fn the_sample_documents_say_they_are_fictional() {
        for doc in DOCS {
            assert!(doc.text.to_lowercase().contains("fictional"), "{}", doc.id);
        }
        assert!(is_demo_model(MODEL_LABEL));
    }
}
