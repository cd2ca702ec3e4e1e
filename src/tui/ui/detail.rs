//! The detail pane: the selected point (evidence in place, with numbered lines), task, or
//! agent (its whole transcript across tasks). Lines are wrapped here (not by the widget) so
//! scrolling and search know the exact length.

use super::context::point_symbol;
use super::{fmt_tokens, truncate};
use crate::event::{AgentStatus, Evidence, Origin, Phase, PointStatus, TaskState};
use crate::text::one_line;
use crate::tui::app::{AppState, Subject};
use crate::tui::context_tree::wrap;
use crate::tui::layout::Pane;
use crate::tui::search::View;
use crate::tui::source::Snippet;
use crate::tui::transcript::{TranscriptEntry, transcript};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

/// Transcript entries shown (the newest; `y` copies them all).
const TRANSCRIPT_SHOWN: usize = 400;
/// Tool output lines shown per call when outputs are unfolded.
const TOOL_OUTPUT_LINES: usize = 12;

pub fn draw(frame: &mut Frame, state: &AppState, area: Rect) {
    // One column of padding on each side inside the border.
    let lines = detail_lines(state, usize::from(area.width.saturating_sub(4)));
    let mut title = Vec::new();
    match state.detail_subject() {
        Subject::Nothing => {}
        Subject::Task(id) | Subject::Agent(id) | Subject::Point(id) => {
            title.push(Span::styled(format!("{id} "), state.theme.accent()));
        }
    }
    let empty = if state.detail_from == Pane::Context {
        "Select a point to see it in full here (→ expands it in the tree)."
    } else {
        "Select a task, an agent or a point to see it in full here."
    };
    super::text_pane(
        frame,
        state,
        area,
        Pane::Detail,
        View::Detail,
        title,
        lines,
        state.detail_scroll,
        empty,
    );
}

/// The detail of the current subject, wrapped to `width` columns.
pub(crate) fn detail_lines(state: &AppState, width: usize) -> Vec<Line<'static>> {
    let mut out = Lines {
        lines: Vec::new(),
        width: width.max(10),
    };
    match state.detail_subject().clone() {
        Subject::Nothing => {}
        Subject::Point(id) => point_detail(state, &id, &mut out),
        Subject::Task(id) => task_detail(state, &id, &mut out),
        Subject::Agent(id) => agent_detail(state, &id, &mut out),
    }
    out.lines
}

pub(crate) struct Lines {
    pub lines: Vec<Line<'static>>,
    pub width: usize,
}

impl Lines {
    pub fn push(&mut self, line: Line<'static>) {
        self.lines.push(line);
    }
    pub fn blank(&mut self) {
        if self.lines.last().is_some_and(|l| l.width() > 0) {
            self.lines.push(Line::raw(""));
        }
    }
    /// Word-wrapped prose with a hanging indent.
    pub fn prose(&mut self, text: &str, style: Style, indent: usize) {
        let room = self.width.saturating_sub(indent).max(8);
        for paragraph in text.split('\n') {
            if paragraph.trim().is_empty() {
                self.blank();
                continue;
            }
            for line in wrap(paragraph, room) {
                self.lines.push(Line::from(vec![
                    Span::raw(" ".repeat(indent)),
                    Span::styled(line, style),
                ]));
            }
        }
    }
    pub fn heading(&mut self, text: &str, state: &AppState) {
        self.blank();
        self.prose(text, state.theme.title(), 0);
    }
    /// Text quoted under a bar, wrapped.
    pub fn quoted(&mut self, text: &str, bar: Style, style: Style) {
        let room = self.width.saturating_sub(4).max(8);
        for line in text.lines().flat_map(|l| wrap(l, room)) {
            self.push(Line::from(vec![
                Span::styled("  │ ", bar),
                Span::styled(line, style),
            ]));
        }
    }
}

fn point_detail(state: &AppState, id: &str, out: &mut Lines) {
    let theme = &state.theme;
    let Some(p) = state.run().point(id) else {
        return;
    };
    let (symbol, symbol_style) = point_symbol(state, p);
    let status = match p.status {
        PointStatus::Proposed if state.run().phase == Phase::Done => {
            "abandoned: the run ended before it was verified"
        }
        PointStatus::Proposed => "being verified",
        PointStatus::Verified => "verified",
        PointStatus::Rejected => "rejected",
    };
    out.push(Line::from(vec![
        Span::styled(format!("{symbol} "), symbol_style),
        Span::styled(format!("{} ", p.point.id), theme.accent()),
        Span::styled(format!("{} · {status}", p.point.kind.as_str()), theme.dim()),
    ]));
    let mut origin = format!("by {}", p.point.author);
    if let Some(task) = &p.point.task {
        origin.push_str(&format!(" · task {task}"));
    }
    if let Some(old) = &p.point.supersedes {
        origin.push_str(&format!(" · supersedes {old}"));
    }
    out.prose(&origin, theme.dim(), 0);
    out.blank();
    out.prose(
        &p.point.headline,
        theme.text().add_modifier(Modifier::BOLD),
        0,
    );
    if !p.point.summary.trim().is_empty() {
        out.blank();
        out.prose(&p.point.summary, theme.text(), 0);
    }
    match (p.status, &p.note) {
        (PointStatus::Rejected, Some(reason)) => {
            out.heading("Rejected because", state);
            out.prose(reason, theme.error(), 0);
        }
        (_, Some(note)) if !note.trim().is_empty() => {
            out.heading("Verifier", state);
            out.prose(note, theme.dim(), 0);
        }
        _ => {}
    }
    if let Some(newer) = &p.superseded_by {
        out.blank();
        out.prose(&format!("Superseded by {newer}."), theme.warn(), 0);
    }
    if !p.point.evidence.is_empty() {
        out.heading(&format!("Evidence ({})", p.point.evidence.len()), state);
        let chosen = state.selected_evidence().map(|(n, _)| n);
        for (n, ev) in p.point.evidence.iter().enumerate() {
            evidence_detail(state, ev, Some(n) == chosen, out);
        }
    }
}

fn evidence_detail(state: &AppState, ev: &Evidence, chosen: bool, out: &mut Lines) {
    let theme = &state.theme;
    let cited = match &ev.lines {
        Some(lines) => format!("{}:{lines}", ev.source),
        None => ev.source.clone(),
    };
    let marker = if chosen { "▶ " } else { "◆ " };
    let mut head = vec![
        Span::styled(marker, theme.accent()),
        Span::styled(
            cited.clone(),
            theme.text().add_modifier(Modifier::UNDERLINED),
        ),
    ];
    match &ev.resolved {
        Some(resolved) if *resolved != cited => {
            head.push(Span::styled(
                format!("  quote found at {resolved}"),
                theme.dim(),
            ));
        }
        Some(_) => head.push(Span::styled("  quote found", theme.dim())),
        None => {}
    }
    out.push(Line::from(head));
    match state.sources.get(ev) {
        Some(Snippet::Lines(lines)) => {
            let number_width = lines.last().map_or(1, |l| l.0.to_string().len());
            let quote = one_line(&ev.quote).to_lowercase();
            for (number, text, in_span) in lines {
                let body = one_line(text).to_lowercase();
                let quoted = *in_span
                    && !body.is_empty()
                    && (quote.contains(&body) || !quote.is_empty() && body.contains(&quote));
                let text_style = if quoted || *in_span && !quote.is_empty() {
                    theme.quote()
                } else {
                    theme.dim()
                };
                let gutter = if *in_span { "▌" } else { " " };
                let room = out.width.saturating_sub(number_width + 4);
                out.push(Line::from(vec![
                    Span::styled(format!(" {number:>number_width$}"), theme.line_number()),
                    Span::styled(format!("{gutter} "), theme.accent()),
                    Span::styled(truncate(text, room), text_style),
                ]));
            }
        }
        Some(Snippet::Unavailable(why)) => {
            out.quoted(&ev.quote, theme.dim(), theme.quote());
            out.prose(&format!("(source not shown: {why})"), theme.dim(), 2);
        }
        None => out.quoted(&ev.quote, theme.dim(), theme.quote()),
    }
}

fn task_detail(state: &AppState, id: &str, out: &mut Lines) {
    let theme = &state.theme;
    let Some(t) = state.run().task(id) else {
        return;
    };
    let (state_text, style) = match &t.state {
        TaskState::Queued => ("queued".to_string(), theme.dim()),
        TaskState::Claimed { agent } => (format!("claimed by {agent}"), theme.accent()),
        TaskState::Done => ("done".to_string(), theme.ok()),
        TaskState::Failed => ("failed".to_string(), theme.error()),
        TaskState::Cancelled => ("cancelled".to_string(), theme.dim()),
    };
    let origin = match &t.origin {
        Origin::Initial => "initial task".to_string(),
        Origin::Agent { agent } => format!("added by {agent}"),
        Origin::Human => "added by you".to_string(),
    };
    out.push(Line::from(vec![
        Span::styled(format!("{} ", t.id), theme.accent()),
        Span::styled(state_text, style),
        Span::styled(
            format!(" · {origin} · {} attempt(s)", t.attempts),
            theme.dim(),
        ),
    ]));
    out.blank();
    out.prose(&t.title, theme.text().add_modifier(Modifier::BOLD), 0);
    if !t.detail.trim().is_empty() {
        out.blank();
        out.prose(&t.detail, theme.text(), 0);
    }
    if let Some(note) = &t.note {
        out.heading("Human note", state);
        out.prose(note, theme.warn(), 0);
    }
    if let Some(result) = &t.result {
        out.heading("Result", state);
        out.prose(result, theme.text(), 0);
    }
    if !t.points.is_empty() {
        out.heading(&format!("Points ({})", t.points.len()), state);
        for pid in &t.points {
            if let Some(p) = state.run().point(pid) {
                let (symbol, symbol_style) = point_symbol(state, p);
                let room = out.width.saturating_sub(pid.len() + 4);
                out.push(Line::from(vec![
                    Span::styled(format!("{symbol} "), symbol_style),
                    Span::styled(format!("{pid} "), theme.dim()),
                    Span::styled(truncate(&p.point.headline, room), theme.text()),
                ]));
            }
        }
    }
}

fn agent_detail(state: &AppState, id: &str, out: &mut Lines) {
    let theme = &state.theme;
    let Some(agent) = state.run().agents.get(id) else {
        return;
    };
    let doing = crate::tui::display::activity(
        &state.fold,
        agent,
        super::agents::retry_seconds_left(state, agent),
    );
    let mut head = format!("{id} {doing}");
    if let Some(task) = &agent.task {
        let title = state
            .run()
            .task(task)
            .map(|t| t.title.as_str())
            .unwrap_or("");
        head.push_str(&format!(" · {task} {title}"));
    }
    out.prose(&head, theme.text(), 0);
    out.prose(
        &format!(
            "{} in / {} out · {} · {} call(s)",
            fmt_tokens(agent.tokens_in),
            fmt_tokens(agent.tokens_out),
            crate::story::cost_text(agent.cost_usd, agent.calls, agent.unpriced_calls),
            agent.calls
        ),
        theme.dim(),
        0,
    );
    if agent.status == AgentStatus::Retrying
        && let Some(retry) = &agent.retry
    {
        out.prose(
            &format!(
                "waiting to retry (attempt {}, {:.1} s): {}",
                retry.attempt,
                retry.delay_ms as f64 / 1000.0,
                retry.reason
            ),
            theme.warn(),
            0,
        );
    }
    let entries = transcript(&state.log, state.run(), id, state.log_upto());
    if entries.is_empty() {
        out.blank();
        out.prose("No transcript yet.", theme.dim(), 0);
        return;
    }
    let tasks = entries
        .iter()
        .filter(|e| matches!(e, TranscriptEntry::Task { .. }))
        .count();
    out.heading(
        &format!(
            "Transcript: {} entries, {tasks} task(s), tool outputs {}",
            entries.len(),
            if state.transcript_unfolded {
                "shown"
            } else {
                "folded"
            }
        ),
        state,
    );
    let skipped = entries.len().saturating_sub(TRANSCRIPT_SHOWN);
    if skipped > 0 {
        out.prose(
            &format!("… {skipped} earlier entries (y copies the whole transcript)"),
            theme.dim(),
            0,
        );
    }
    for entry in entries.iter().skip(skipped) {
        transcript_entry(state, entry, out);
    }
}

fn transcript_entry(state: &AppState, entry: &TranscriptEntry, out: &mut Lines) {
    let theme = &state.theme;
    match entry {
        TranscriptEntry::Task { title } => {
            out.blank();
            let rule = "─".repeat(out.width.saturating_sub(title.chars().count() + 4).min(40));
            out.push(Line::from(vec![
                Span::styled("── ", theme.dim()),
                Span::styled(title.clone(), theme.title()),
                Span::styled(format!(" {rule}"), theme.dim()),
            ]));
        }
        TranscriptEntry::Note { text, bad } => {
            let style = if *bad { theme.error() } else { theme.dim() };
            out.prose(&format!("· {text}"), style, 0);
        }
        TranscriptEntry::Message(text) => {
            out.blank();
            out.prose(text, theme.text(), 0);
            out.blank();
        }
        TranscriptEntry::Verdict(text) => {
            out.prose(&format!("⚖ judge: {text}"), theme.dim(), 0);
        }
        TranscriptEntry::Tool {
            tool,
            args,
            ok,
            output,
        } => {
            let (mark, style) = if *ok {
                ("✓", theme.ok())
            } else {
                ("✗", theme.error())
            };
            let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
            let fold = if state.transcript_unfolded || lines.is_empty() {
                String::new()
            } else {
                format!(" ▸ {} line(s)", lines.len())
            };
            let room = out
                .width
                .saturating_sub(tool.chars().count() + 3 + fold.chars().count());
            out.push(Line::from(vec![
                Span::styled(format!("{mark} "), style),
                Span::styled(format!("{tool} "), theme.accent()),
                Span::styled(truncate(args, room), theme.dim()),
                Span::styled(fold, theme.dim()),
            ]));
            if state.transcript_unfolded {
                let width = out.width.saturating_sub(4);
                for line in lines.iter().take(TOOL_OUTPUT_LINES) {
                    out.push(Line::from(vec![
                        Span::styled("  │ ", theme.dim()),
                        Span::styled(truncate(line, width), theme.dim()),
                    ]));
                }
                if lines.len() > TOOL_OUTPUT_LINES {
                    out.push(Line::styled(
                        format!("  │ … {} more line(s)", lines.len() - TOOL_OUTPUT_LINES),
                        theme.dim(),
                    ));
                }
            }
        }
    }
}
