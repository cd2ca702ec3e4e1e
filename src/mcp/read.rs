//! `read_board`: the queue, the agent's claim and the shared context, as the agent last
//! saw it and as it is now. The first read shows the whole budgeted context block; later
//! reads show what changed since (new points, tasks queued or ended, pause, a revoked
//! claim) and name the unchanged points compactly. With `wait_s` it waits for such a
//! change, woken by the board's event stream, and says what woke it.

use super::swarm::{Call, Participant, Swarm, ToolReply, claim_of};
use super::tools::MAX_WAIT_S;
use crate::engine::context::BoardView;
use crate::engine::prompt;
use crate::event::{Event, PointId, PointStatus, TaskId, TaskState};
use crate::text::clip;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Queued and in-progress tasks listed by name; the rest are counted.
const LISTED_TASKS: usize = 8;
/// Changed tasks and unchanged point ids listed per read.
const LISTED_CHANGES: usize = 12;
const LISTED_UNCHANGED: usize = 20;

/// What an agent was shown at its last read.
#[derive(Debug, Default)]
pub(crate) struct Cursor {
    /// The log seq the last read reflected (0: never read).
    seen: u64,
    tasks: HashMap<TaskId, TaskState>,
    paused: bool,
    /// The task the agent held then.
    claim: Option<TaskId>,
    /// Why its last claim was taken away, kept until it claims again (so a call about the
    /// lost claim after the read that reported it still says why).
    revoked: Option<String>,
    /// Its own points and their status then (to tell it of verdicts it has not seen).
    own: HashMap<PointId, PointStatus>,
}

/// Indices of the points `me` wrote.
fn own_points<'a>(view: &'a BoardView, me: &'a str) -> impl Iterator<Item = usize> + 'a {
    view.state
        .points
        .iter()
        .enumerate()
        .filter(move |(_, p)| p.point.author == me)
        .map(|(i, _)| i)
}

/// The agent has been shown the board as `view` has it.
pub(crate) fn mark_read(view: &BoardView, me: &Participant) {
    let mut cursor = me.cursor.lock().unwrap_or_else(|e| e.into_inner());
    let lost = cursor
        .claim
        .as_deref()
        .and_then(|task| lost_reason(view, task, &me.handle));
    cursor.seen = view.state.last_seq;
    cursor.tasks = view
        .state
        .tasks
        .iter()
        .map(|t| (t.id.clone(), t.state.clone()))
        .collect();
    cursor.paused = view.state.paused;
    cursor.own = own_points(view, &me.handle)
        .map(|i| &view.state.points[i])
        .map(|p| (p.point.id.clone(), p.status))
        .collect();
    cursor.claim = claim_of(view, &me.handle).and_then(|c| c.task().map(str::to_string));
    if cursor.claim.is_some() {
        cursor.revoked = None;
    } else if lost.is_some() {
        cursor.revoked = lost;
    }
}

/// What changed for one reader since its cursor.
#[derive(Debug, Default)]
struct Changes {
    /// Points published for this reader (indices into the state's points).
    points: Vec<usize>,
    /// Its own points that got their verdict.
    verdicts: Vec<usize>,
    queued: Vec<TaskId>,
    /// Tasks that ended, with how.
    ended: Vec<(TaskId, &'static str)>,
    /// The pause state, when it changed.
    pause: Option<bool>,
    /// Why the agent's claim was taken away, if it was.
    lost: Option<String>,
    over: bool,
}

impl Changes {
    /// Whether a waiting agent should be woken (finished tasks alone do not).
    fn wakes(&self) -> bool {
        !self.points.is_empty()
            || !self.verdicts.is_empty()
            || !self.queued.is_empty()
            || self.pause.is_some()
            || self.lost.is_some()
            || self.over
    }

    fn why(&self, view: &BoardView) -> String {
        let mut why = Vec::new();
        if self.over {
            why.push("the run is over".to_string());
        }
        if let Some(lost) = &self.lost {
            why.push(lost.clone());
        }
        match self.pause {
            Some(true) => why.push("the human paused the swarm".to_string()),
            Some(false) => why.push("the human resumed the swarm".to_string()),
            None => {}
        }
        if !self.points.is_empty() {
            let ids: Vec<&str> = self
                .points
                .iter()
                .filter_map(|&i| view.state.points.get(i))
                .map(|p| p.point.id.as_str())
                .collect();
            why.push(format!("{} published", list(&ids, LISTED_CHANGES)));
        }
        if !self.verdicts.is_empty() {
            let ids: Vec<&str> = self
                .verdicts
                .iter()
                .map(|&i| view.state.points[i].point.id.as_str())
                .collect();
            why.push(format!("verdicts on {}", list(&ids, LISTED_CHANGES)));
        }
        if !self.queued.is_empty() {
            why.push(format!("{} queued", list(&self.queued, LISTED_CHANGES)));
        }
        why.join("; ")
    }
}

fn list<S: AsRef<str>>(items: &[S], max: usize) -> String {
    list_with(items, max, ", ")
}

/// At most `max` of `items` joined by `sep`, and how many more there are.
fn list_with<S: AsRef<str>>(items: &[S], max: usize, sep: &str) -> String {
    let mut out: Vec<&str> = items.iter().take(max).map(AsRef::as_ref).collect();
    let more;
    if items.len() > max {
        more = format!("(+{} more)", items.len() - max);
        out.push(&more);
    }
    out.join(sep)
}

fn ended_label(state: &TaskState) -> Option<&'static str> {
    match state {
        TaskState::Done => Some("done"),
        TaskState::Failed => Some("failed"),
        TaskState::Cancelled => Some("cancelled"),
        TaskState::Queued | TaskState::Claimed { .. } => None,
    }
}

fn changes(view: &BoardView, cursor: &Cursor, me: &str, over: bool) -> Changes {
    let state = &view.state;
    let shares = state.coordination.shares_context();
    let mut ch = Changes {
        points: view.context.published_since(cursor.seen, me, shares),
        verdicts: own_points(view, me)
            .filter(|&i| {
                let p = &state.points[i];
                p.status != PointStatus::Proposed && cursor.own.get(&p.point.id) != Some(&p.status)
            })
            .collect(),
        over: over || state.answer.is_some(),
        ..Changes::default()
    };
    for t in &state.tasks {
        let before = cursor.tasks.get(&t.id);
        if before == Some(&t.state) {
            continue;
        }
        if t.state == TaskState::Queued {
            ch.queued.push(t.id.clone());
        } else if let Some(label) = ended_label(&t.state) {
            ch.ended.push((t.id.clone(), label));
        }
    }
    if cursor.seen > 0 && cursor.paused != state.paused {
        ch.pause = Some(state.paused);
    }
    ch.lost = cursor
        .claim
        .as_deref()
        .and_then(|task| lost_reason(view, task, me));
    ch
}

/// Why `me` no longer holds `task`, if it was taken away (not finished).
fn lost_reason(view: &BoardView, task: &str, me: &str) -> Option<String> {
    let t = view.state.task(task)?;
    let note = t
        .note
        .as_deref()
        .map(|n| format!(" ({})", clip(n, 200)))
        .unwrap_or_default();
    match &t.state {
        TaskState::Claimed { agent } if agent == me => None,
        TaskState::Done | TaskState::Failed => None,
        TaskState::Cancelled => Some(format!(
            "your claim on {task} was revoked: the human cancelled the task{note}"
        )),
        TaskState::Queued => Some(format!(
            "your claim on {task} was revoked: the task went back to the queue{note}"
        )),
        TaskState::Claimed { agent } => Some(format!(
            "your claim on {task} was revoked: the task went back to the queue{note} and \
{agent} claimed it"
        )),
    }
}

/// Why the agent lost the claim it held at its last read or claim, if it did.
pub(crate) fn lost_claim(swarm: &Swarm, me: &Participant) -> Option<String> {
    let (task, revoked) = {
        let cursor = me.cursor.lock().unwrap_or_else(|e| e.into_inner());
        (cursor.claim.clone(), cursor.revoked.clone())
    };
    task.and_then(|t| lost_reason(&swarm.view(), &t, &me.handle))
        .or(revoked)
}

/// Events after which a waiting reader looks again (others cannot change what it sees).
fn may_matter(event: &Event) -> bool {
    matches!(
        event,
        Event::PointVerified { .. }
            | Event::PointRejected { .. }
            | Event::ConstraintAdded { .. }
            | Event::TaskAdded { .. }
            | Event::TaskRequeued { .. }
            | Event::TaskCancelled { .. }
            | Event::ClaimExpired { .. }
            | Event::Paused {}
            | Event::Resumed {}
            | Event::RunFinished { .. }
    )
}

/// Wait up to `secs` for a change that matters to `me`; says what happened.
async fn wait_for_change(
    swarm: &Swarm,
    me: &Participant,
    secs: u64,
    cancel: &CancellationToken,
) -> String {
    // Subscribe before looking, so a change between the look and the wait is not missed.
    let mut events = swarm.engine.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        {
            let view = swarm.view();
            let cursor = me.cursor.lock().unwrap_or_else(|e| e.into_inner());
            let ch = changes(&view, &cursor, &me.handle, swarm.engine.is_finished());
            if ch.wakes() {
                return format!("woke: {}", ch.why(&view));
            }
        }
        loop {
            tokio::select! {
                r = events.recv() => match r {
                    Ok(env) if !may_matter(&env.event) => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return "woke: the board closed".to_string(),
                },
                _ = tokio::time::sleep_until(deadline) => {
                    return format!("no change in {secs} s");
                }
                _ = cancel.cancelled() => return "the call was cancelled".to_string(),
            }
        }
    }
}

/// `wait_s` as a client may send it (a number or a numeric string), within bounds.
fn wait_secs(args: &serde_json::Map<String, Value>) -> Result<(u64, Option<String>), String> {
    let raw = match args.get("wait_s") {
        None | Some(Value::Null) => return Ok((0, None)),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok((0, None)),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    let secs = raw
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or("`wait_s` is a number of seconds from 0 to 25")?;
    if secs > MAX_WAIT_S as f64 {
        let note = format!(
            "(wait_s {secs} is over the {MAX_WAIT_S} s maximum; waited {MAX_WAIT_S} s at most)"
        );
        return Ok((MAX_WAIT_S, Some(note)));
    }
    Ok((secs.ceil() as u64, None))
}

pub(crate) async fn read_board(swarm: &Swarm, me: &Participant, call: &Call) -> ToolReply {
    let (secs, note) = match wait_secs(&call.args) {
        Ok(w) => w,
        Err(e) => return ToolReply::error(e),
    };
    let full = matches!(call.args.get("full"), Some(Value::Bool(true)));
    me.heartbeat();
    let woke = if secs > 0 {
        Some(wait_for_change(swarm, me, secs, &call.cancel).await)
    } else {
        None
    };
    let view = swarm.view();
    let over = swarm.engine.is_finished();
    let ch = {
        let cursor = me.cursor.lock().unwrap_or_else(|e| e.into_inner());
        changes(&view, &cursor, &me.handle, over)
    };
    let first = me.cursor.lock().unwrap_or_else(|e| e.into_inner()).seen == 0;
    let mut out = status_line(&view, ch.over, woke.as_deref());
    if let Some(note) = note {
        let _ = write!(out, " {note}");
    }
    out.push('\n');
    render_you(&mut out, &view, &me.handle, ch.lost.as_deref());
    render_own(&mut out, &view, &me.handle, &ch.verdicts);
    render_queue(&mut out, &view);
    if first || full {
        render_context(&mut out, swarm, &view, &me.handle);
    } else {
        render_changes(&mut out, &view, &ch, &me.handle);
    }
    mark_read(&view, me);
    ToolReply::ok(out)
}

/// The first line: running, paused or over, the queue in numbers, and what woke the read.
fn status_line(view: &BoardView, over: bool, woke: Option<&str>) -> String {
    let state = &view.state;
    let mut counts = [0usize; 5];
    for t in &state.tasks {
        let i = match t.state {
            TaskState::Queued => 0,
            TaskState::Claimed { .. } => 1,
            TaskState::Done => 2,
            TaskState::Failed => 3,
            TaskState::Cancelled => 4,
        };
        counts[i] += 1;
    }
    let mut line = if over {
        "the run is over: there is no more work; you may disconnect.".to_string()
    } else if state.paused {
        "paused, wait: the human paused the swarm. Start nothing new; call read_board with \
wait_s until it says the swarm resumed."
            .to_string()
    } else {
        format!(
            "running: {} queued, {} in progress, {} done, {} failed, {} cancelled.",
            counts[0], counts[1], counts[2], counts[3], counts[4]
        )
    };
    if let Some(woke) = woke {
        let _ = write!(line, " {}.", woke.trim_end_matches('.'));
    }
    line
}

fn render_you(out: &mut String, view: &BoardView, me: &str, lost: Option<&str>) {
    if let Some(lost) = lost {
        let _ = writeln!(out, "NOTE: {lost}.");
    }
    match claim_of(view, me).and_then(|c| c.task().and_then(|t| view.state.task(t))) {
        Some(t) => {
            let _ = writeln!(
                out,
                "YOU ({me}): holding {} \"{}\" (attempt {}): record points, then finish_task.",
                t.id,
                clip(t.title.trim(), 100),
                t.attempts
            );
        }
        None => {
            let _ = writeln!(
                out,
                "YOU ({me}): no task; claim_task takes the next queued one."
            );
        }
    }
}

/// The verdicts on the agent's own points it has not been told of, and those still pending.
fn render_own(out: &mut String, view: &BoardView, me: &str, verdicts: &[usize]) {
    let mut lines: Vec<String> = verdicts
        .iter()
        .map(|&i| &view.state.points[i])
        .map(|p| match p.status {
            PointStatus::Verified => format!("{} verified", p.point.id),
            _ => format!(
                "{} REJECTED ({})",
                p.point.id,
                clip(p.note.as_deref().unwrap_or("no reason given"), 200)
            ),
        })
        .collect();
    lines.extend(
        own_points(view, me)
            .map(|i| &view.state.points[i])
            .filter(|p| p.status == PointStatus::Proposed)
            .map(|p| format!("{} still being verified", p.point.id)),
    );
    if !lines.is_empty() {
        let _ = writeln!(
            out,
            "YOUR POINTS: {}",
            list_with(&lines, LISTED_CHANGES, "; ")
        );
    }
}

fn render_queue(out: &mut String, view: &BoardView) {
    let queued: Vec<String> = view
        .state
        .tasks
        .iter()
        .filter(|t| t.state == TaskState::Queued)
        .map(|t| format!("{} {}", t.id, clip(t.title.trim(), 60)))
        .collect();
    let working: Vec<String> = view
        .state
        .tasks
        .iter()
        .filter_map(|t| match &t.state {
            TaskState::Claimed { agent } => Some(format!("{} ({agent})", t.id)),
            _ => None,
        })
        .collect();
    if !queued.is_empty() {
        let _ = writeln!(out, "QUEUED: {}", list_with(&queued, LISTED_TASKS, "; "));
    }
    if !working.is_empty() {
        let _ = writeln!(out, "IN PROGRESS: {}", list(&working, LISTED_TASKS));
    }
}

fn render_context(out: &mut String, swarm: &Swarm, view: &BoardView, me: &str) {
    let state = &view.state;
    let task = claim_of(view, me).and_then(|c| c.task().and_then(|t| state.task(t)));
    let focus = match task {
        Some(t) => format!("{} {} {}", state.goal, t.title, t.detail),
        None => state.goal.clone(),
    };
    let _ = writeln!(out, "GOAL: {}", state.goal.trim());
    let _ = write!(
        out,
        "\nSHARED CONTEXT (verified points; constraints first):\n{}",
        prompt::context_block(view, &focus, swarm.settings.context_budget_tokens)
    );
}

fn render_changes(out: &mut String, view: &BoardView, ch: &Changes, me: &str) {
    out.push_str("\nSINCE YOUR LAST READ:\n");
    match prompt::context_update(view, &ch.points) {
        // Its first line speaks of "turns"; the points are what matter here.
        Some(update) => {
            for line in update.lines().skip(1) {
                let _ = writeln!(out, "{line}");
            }
        }
        None => out.push_str("no new points\n"),
    }
    let mut tasks: Vec<String> = ch.queued.iter().map(|t| format!("{t} queued")).collect();
    tasks.extend(ch.ended.iter().map(|(t, how)| format!("{t} {how}")));
    if !tasks.is_empty() {
        let _ = writeln!(out, "tasks: {}", list(&tasks, LISTED_CHANGES));
    }
    let shares = view.state.coordination.shares_context();
    let unchanged: Vec<&str> = view
        .context
        .published_since(0, me, shares)
        .into_iter()
        .filter(|i| !ch.points.contains(i))
        .filter_map(|i| view.state.points.get(i))
        .filter(|p| p.status == PointStatus::Verified && p.superseded_by.is_none())
        .map(|p| p.point.id.as_str())
        .collect();
    if !unchanged.is_empty() {
        let _ = writeln!(
            out,
            "UNCHANGED: {} point(s) you have seen: {} (expand_point reads any of them; \
full: true shows the whole context again)",
            unchanged.len(),
            list(&unchanged, LISTED_UNCHANGED)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wait_s_is_read_leniently_and_bounded() {
        let args = |v: Value| json!({ "wait_s": v }).as_object().unwrap().clone();
        assert_eq!(wait_secs(&serde_json::Map::new()).unwrap(), (0, None));
        assert_eq!(wait_secs(&args(json!(5))).unwrap(), (5, None));
        assert_eq!(wait_secs(&args(json!("7"))).unwrap(), (7, None));
        assert_eq!(wait_secs(&args(json!(0.5))).unwrap(), (1, None));
        let (secs, note) = wait_secs(&args(json!(60))).unwrap();
        assert_eq!(secs, MAX_WAIT_S);
        assert!(note.unwrap().contains("maximum"));
        assert!(wait_secs(&args(json!(-1))).is_err());
        assert!(wait_secs(&args(json!("soon"))).is_err());
    }

    #[test]
    fn lists_are_cut_with_a_count() {
        assert_eq!(list(&["a", "b"], 5), "a, b");
        assert_eq!(list(&["a", "b", "c"], 2), "a, b, (+1 more)");
    }
}
