//! The detail pane: the selected point, task or agent in full. Lines are wrapped here (not
//! by the widget) so scrolling knows the exact length.

use super::context::point_symbol;
use super::{empty_state, fmt_cost, fmt_tokens, pane_block, truncate};
use crate::event::{AgentStatus, Evidence, Mode, Origin, PointStatus, TaskState};
use crate::text::one_line;
use crate::tui::app::{AppState, Subject};
use crate::tui::context_tree::wrap;
use crate::tui::fold::TranscriptEntry;
use crate::tui::layout::Pane;
use crate::tui::source::Snippet;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Transcript entries shown in the agent detail (the copy command gets them all).
const TRANSCRIPT_SHOWN: usize = 60;
/// Tool output lines shown per call.
const TOOL_OUTPUT_LINES: usize = 3;

pub fn draw(frame: &mut Frame, state: &AppState, area: Rect) {
    let theme = &state.theme;
    // One column of padding on each side inside the border.
    let width = usize::from(area.width.saturating_sub(4));
    let lines = detail_lines(state, width);
    let height = usize::from(area.height.saturating_sub(2));
    let max_scroll = lines.len().saturating_sub(height);
    let scroll = state.detail_scroll.min(max_scroll);
    let mut title = Vec::new();
    match state.detail_subject() {
        Subject::Nothing => {}
        Subject::Task(id) | Subject::Agent(id) | Subject::Point(id) => {
            title.push(Span::styled(format!("{id} "), theme.accent()));
        }
    }
    if max_scroll > 0 {
        let marker = match (scroll > 0, scroll < max_scroll) {
            (true, true) => "↑↓",
            (false, true) => "↓",
            _ => "↑",
        };
        title.push(Span::styled(format!("{marker} "), theme.dim()));
    }
    let block = pane_block(state, Pane::Detail, title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if lines.is_empty() {
        let text = if state.detail_from == Pane::Context {
            "Select a point to see it in full here (→ expands it in the tree)."
        } else {
            "Select a task, an agent or a point to see it in full here."
        };
        empty_state(frame, inner, theme, text);
        return;
    }
    let visible: Vec<Line> = lines.into_iter().skip(scroll).take(height).collect();
    let padded = Rect::new(
        inner.x + 1,
        inner.y,
        inner.width.saturating_sub(2),
        inner.height,
    );
    frame.render_widget(Paragraph::new(visible), padded);
}

/// The detail of the current subject, wrapped to `width` columns.
fn detail_lines(state: &AppState, width: usize) -> Vec<Line<'static>> {
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

struct Lines {
    lines: Vec<Line<'static>>,
    width: usize,
}

impl Lines {
    fn push(&mut self, line: Line<'static>) {
        self.lines.push(line);
    }
    fn blank(&mut self) {
        if self.lines.last().is_some_and(|l| l.width() > 0) {
            self.lines.push(Line::raw(""));
        }
    }
    /// Word-wrapped prose with a hanging indent.
    fn prose(&mut self, text: &str, style: Style, indent: usize) {
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
    fn heading(&mut self, text: &str, state: &AppState) {
        self.blank();
        self.push(Line::styled(text.to_string(), state.theme.title()));
    }
}

fn point_detail(state: &AppState, id: &str, out: &mut Lines) {
    let theme = &state.theme;
    let Some(p) = state.run().point(id) else {
        return;
    };
    let (symbol, symbol_style) = point_symbol(state, p);
    let status = match p.status {
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
        for ev in &p.point.evidence {
            evidence_detail(state, ev, out);
        }
    }
}

fn evidence_detail(state: &AppState, ev: &Evidence, out: &mut Lines) {
    let theme = &state.theme;
    let place = match &ev.lines {
        Some(lines) => format!("{}:{lines}", ev.source),
        None => ev.source.clone(),
    };
    let mut head = vec![
        Span::styled("◆ ", theme.accent()),
        Span::styled(
            place.clone(),
            theme.text().add_modifier(Modifier::UNDERLINED),
        ),
    ];
    match &ev.resolved {
        Some(resolved) if *resolved != place => {
            head.push(Span::styled(
                format!("  quote found at {resolved}"),
                theme.dim(),
            ));
        }
        Some(_) => head.push(Span::styled("  quote found", theme.dim())),
        None => {}
    }
    out.push(Line::from(head));
    let snippet = match (&state.run().mode, &ev.lines) {
        (Mode::Repo { .. }, Some(lines)) => state.sources.get(&ev.source, lines),
        _ => None,
    };
    match snippet {
        Some(Snippet::Lines(lines)) => {
            let number_width = lines.last().map_or(1, |l| l.0.to_string().len());
            let quote = one_line(&ev.quote);
            for (number, text, in_span) in lines {
                let body = one_line(text);
                let quoted = *in_span
                    && !body.is_empty()
                    && (quote.contains(&body) || body.contains(&quote) && !quote.is_empty());
                let text_style = if quoted {
                    theme.quote()
                } else if *in_span {
                    theme.text()
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
            quote_block(state, &ev.quote, out);
            out.prose(&format!("(source not shown: {why})"), theme.dim(), 2);
        }
        None => quote_block(state, &ev.quote, out),
    }
}

fn quote_block(state: &AppState, quote: &str, out: &mut Lines) {
    let theme = &state.theme;
    let room = out.width.saturating_sub(4).max(8);
    for line in quote.lines().flat_map(|l| wrap(l, room)) {
        out.push(Line::from(vec![
            Span::styled("  │ ", theme.dim()),
            Span::styled(line, theme.quote()),
        ]));
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
    let mut head = vec![
        Span::styled(format!("{id} "), theme.accent()),
        Span::styled(agent.status.as_str().to_string(), theme.text()),
    ];
    if let Some(task) = &agent.task {
        let title = state
            .run()
            .task(task)
            .map(|t| t.title.as_str())
            .unwrap_or("");
        head.push(Span::styled(format!(" · {task} {title}"), theme.text()));
    }
    out.push(Line::from(head));
    out.prose(
        &format!(
            "{} in / {} out · {} · {} call(s)",
            fmt_tokens(agent.tokens_in),
            fmt_tokens(agent.tokens_out),
            fmt_cost(agent.cost_usd),
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
                "waiting to retry (attempt {}, {:.1}s): {}",
                retry.attempt,
                retry.delay_ms as f64 / 1000.0,
                retry.reason
            ),
            theme.warn(),
            0,
        );
    }
    let Some(transcript) = state.fold.transcripts.get(id) else {
        out.blank();
        out.prose("No transcript yet.", theme.dim(), 0);
        return;
    };
    let title = match &transcript.task {
        Some(task) => format!("Transcript of {task}"),
        None => "Transcript".to_string(),
    };
    out.heading(&title, state);
    let skipped = transcript.entries.len().saturating_sub(TRANSCRIPT_SHOWN);
    if skipped > 0 {
        out.prose(
            &format!("… {skipped} earlier entries (y copies the whole transcript)"),
            theme.dim(),
            0,
        );
    }
    for entry in transcript.entries.iter().skip(skipped) {
        match entry {
            TranscriptEntry::Note(note) => out.prose(&format!("· {note}"), theme.dim(), 0),
            TranscriptEntry::Message(text) => {
                out.blank();
                out.prose(text, theme.text(), 0);
                out.blank();
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
                out.push(Line::from(vec![
                    Span::styled(format!("{mark} "), style),
                    Span::styled(format!("{tool} "), theme.accent()),
                    Span::styled(
                        truncate(args, out.width.saturating_sub(tool.len() + 3)),
                        theme.dim(),
                    ),
                ]));
                for line in output
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .take(TOOL_OUTPUT_LINES)
                {
                    out.push(Line::from(vec![
                        Span::styled("  │ ", theme.dim()),
                        Span::styled(truncate(line, out.width.saturating_sub(4)), theme.dim()),
                    ]));
                }
            }
        }
    }
}
