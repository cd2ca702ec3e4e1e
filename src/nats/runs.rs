//! The runs a board server holds: `delm runs`, and which run a worker or an attached
//! terminal means when none is named (the only live one, or a list to pick from).

use super::leader::{self, Leader};
use super::log;
use super::names::{self, RunNames};
use crate::event::{Event, StoppedBy};
use async_nats::jetstream;
use futures_util::StreamExt;

/// At most this many runs are listed (the newest by id, which sorts by start time).
const MAX_LISTED: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub enum RunStatus {
    /// A board leads it now.
    Live,
    /// No board leads it and it did not finish: `delm resume nats://…/RUN` continues it.
    Interrupted,
    Finished(StoppedBy),
}

impl RunStatus {
    fn label(&self) -> &'static str {
        match self {
            RunStatus::Live => "live",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Finished(StoppedBy::Completed) => "done",
            RunStatus::Finished(StoppedBy::Budget) => "budget",
            RunStatus::Finished(StoppedBy::Cancelled) => "cancelled",
            RunStatus::Finished(StoppedBy::Error) => "failed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run: String,
    pub goal: String,
    pub started: String,
    pub status: RunStatus,
    /// Events in its log.
    pub events: u64,
    pub board: Option<Leader>,
}

/// Every run on the server, newest first.
pub async fn list(js: &jetstream::Context) -> Result<Vec<RunSummary>, String> {
    let mut streams = js.stream_names();
    let mut runs = Vec::new();
    while let Some(name) = streams.next().await {
        let name = name.map_err(|e| format!("cannot list the server's streams: {e}"))?;
        if let Some(run) = names::run_of_stream(&name) {
            runs.push(run.to_string());
        }
    }
    runs.sort_unstable_by(|a, b| b.cmp(a));
    runs.truncate(MAX_LISTED);
    let leaders = leader::bucket(js).await?;
    let mut out = Vec::with_capacity(runs.len());
    for run in runs {
        if let Some(summary) = summarize(js, &leaders, &run).await {
            out.push(summary);
        }
    }
    Ok(out)
}

/// A run's first and last messages say what it is and whether it ended.
async fn summarize(
    js: &jetstream::Context,
    leaders: &jetstream::kv::Store,
    run: &str,
) -> Option<RunSummary> {
    let names = RunNames::new(run).ok()?;
    let stream = js.get_stream(names.stream()).await.ok()?;
    let first = stream
        .direct_get_first_for_subject(names.events())
        .await
        .ok()?;
    let last = stream
        .direct_get_last_for_subject(names.events())
        .await
        .ok()?;
    let first = log::decode(&first.payload).ok()?;
    let last = log::decode(&last.payload).ok()?;
    let (goal, started) = first.iter().find_map(|e| match &e.event {
        Event::RunStarted { goal, .. } => Some((goal.clone(), e.ts.clone())),
        _ => None,
    })?;
    let finished = last.iter().rev().find_map(|e| match &e.event {
        Event::RunFinished { stopped_by, .. } => Some(*stopped_by),
        _ => None,
    });
    let board = leader::current(leaders, &names).await;
    let status = match (finished, &board) {
        (Some(by), _) => RunStatus::Finished(by),
        (None, Some(_)) => RunStatus::Live,
        (None, None) => RunStatus::Interrupted,
    };
    Some(RunSummary {
        run: run.to_string(),
        goal,
        started,
        status,
        events: last.last().map_or(0, |e| e.seq),
        board,
    })
}

/// The listing as `delm runs` prints it.
pub fn table(board: &str, runs: &[RunSummary], width: usize) -> String {
    if runs.is_empty() {
        return format!("no runs on {board}; start one with `delm run \"...\" --board {board}`\n");
    }
    let mut out = format!(
        "{:<24} {:<20} {:<12} {:>7}  GOAL\n",
        "RUN", "STARTED", "STATUS", "EVENTS"
    );
    let goal_width = width.saturating_sub(68).max(20);
    for r in runs {
        let started = r.started.get(..19).unwrap_or(&r.started).replace('T', " ");
        // A goal is user text from another machine: no control characters reach the
        // terminal.
        let goal: String = crate::text::clip(&crate::text::one_line(&r.goal), goal_width)
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        let status = match (&r.status, &r.board) {
            (RunStatus::Live, Some(b)) => format!("live@{}", crate::text::clip(&b.host, 7)),
            (s, _) => s.label().to_string(),
        };
        out.push_str(&format!(
            "{:<24} {:<20} {:<12} {:>7}  {goal}\n",
            r.run, started, status, r.events
        ));
    }
    out
}

/// Which run a worker or terminal means: the one named, or the only live one.
pub async fn pick(
    js: &jetstream::Context,
    board: &str,
    wanted: Option<&str>,
    command: &str,
) -> Result<String, String> {
    if let Some(run) = wanted {
        let names = RunNames::new(run)?;
        log::last_sequence(js, &names).await?;
        return Ok(run.to_string());
    }
    let runs = list(js).await?;
    let live: Vec<&RunSummary> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Live)
        .collect();
    match live.as_slice() {
        [one] => Ok(one.run.clone()),
        [] => Err(format!(
            "no live run on {board}; start one with `delm run \"...\" --board {board}`, or name \
             one: `delm {command} --board {board} --run RUN-ID`\n{}",
            table(board, &runs, 100)
        )),
        _ => Err(format!(
            "{} runs are live on {board}; pick one with --run RUN-ID:\n{}",
            live.len(),
            table(board, &live.into_iter().cloned().collect::<Vec<_>>(), 100)
        )),
    }
}
