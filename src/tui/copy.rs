//! What `y` copies: the selected task, point (or one evidence item with its place), agent
//! transcript or event, as plain text.

use super::app::{AppState, Subject};
use super::context_tree::NodeId;
use super::layout::Pane;

/// The plain text of the selected item and a name for it.
pub fn copy_text(state: &AppState) -> Option<(String, String)> {
    let run = state.run();
    if state.focus == Pane::Events
        && let Some(row) = state.selected_event()
    {
        let ts = &state.log.events()[row.pos].ts;
        return Some((
            "the event".into(),
            format!("{ts} {}: {}", row.kind.label(), row.text),
        ));
    }
    match state.detail_subject() {
        Subject::Nothing => None,
        Subject::Task(id) => {
            let t = run.task(id)?;
            let mut text = format!("{} {}", t.id, t.title);
            if !t.detail.is_empty() {
                text.push_str(&format!("\n\n{}", t.detail));
            }
            if let Some(result) = &t.result {
                text.push_str(&format!("\n\nResult:\n{result}"));
            }
            Some((t.id.clone(), text))
        }
        Subject::Point(id) => {
            let p = run.point(id)?;
            if let Some(NodeId::Evidence(pid, n)) = state.context.selected()
                && pid == id
                && state.focus == Pane::Context
                && let Some(ev) = p.point.evidence.get(*n)
            {
                // One evidence item, with where it is.
                let place = super::ui::evidence_place(ev);
                return Some((
                    format!("evidence {} of {id}", n + 1),
                    format!("{place}\n{}", ev.quote),
                ));
            }
            let mut text = format!(
                "{} ({}) {}",
                p.point.id,
                p.point.kind.as_str(),
                p.point.headline
            );
            if !p.point.summary.is_empty() {
                text.push_str(&format!("\n\n{}", p.point.summary));
            }
            for ev in &p.point.evidence {
                text.push_str(&format!(
                    "\n\n{}\n{}",
                    super::ui::evidence_place(ev),
                    ev.quote
                ));
            }
            Some((p.point.id.clone(), text))
        }
        Subject::Agent(id) => {
            let entries = super::transcript::transcript(&state.log, run, id, state.log_upto());
            if entries.is_empty() {
                return None;
            }
            Some((
                format!("{id}'s transcript"),
                super::transcript::plain_text(&entries),
            ))
        }
    }
}
