//! Search in the text views (detail, transcripts, patches, help, the answer): `/` types a
//! query, matches are highlighted case-insensitively, `n`/`N` move between matching lines.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// The scrollable text views a search can run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Detail,
    Patches,
    Help,
    Answer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub view: View,
    pub query: String,
    /// The line of the current match, once one was found.
    pub current: Option<usize>,
}

/// Case-folded characters of `text`, one per character (so indices line up with `text`).
fn folded(text: &str) -> Vec<char> {
    text.chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect()
}

fn find_all(hay: &[char], needle: &[char]) -> Vec<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return Vec::new();
    }
    (0..=hay.len() - needle.len())
        .filter(|&i| hay[i..i + needle.len()] == *needle)
        .collect()
}

fn plain(line: &Line) -> String {
    line.spans.iter().map(|s| s.content.as_ref()).collect()
}

/// Indices of the lines that contain `query`.
pub fn matching_lines(lines: &[Line], query: &str) -> Vec<usize> {
    let needle = folded(query);
    if needle.is_empty() {
        return Vec::new();
    }
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !find_all(&folded(&plain(l)), &needle).is_empty())
        .map(|(i, _)| i)
        .collect()
}

/// The next (or previous) matching line after (before) `from`, wrapping around.
pub fn step(matches: &[usize], from: Option<usize>, forward: bool) -> Option<usize> {
    if matches.is_empty() {
        return None;
    }
    Some(match (from, forward) {
        (None, true) => matches[0],
        (None, false) => *matches.last().unwrap_or(&matches[0]),
        (Some(f), true) => matches
            .iter()
            .copied()
            .find(|&m| m > f)
            .unwrap_or(matches[0]),
        (Some(f), false) => matches
            .iter()
            .rev()
            .copied()
            .find(|&m| m < f)
            .unwrap_or(*matches.last().unwrap_or(&matches[0])),
    })
}

/// `line` with every occurrence of `query` restyled with `style` (patched over the spans'
/// own styles, so colours of the rest stay).
pub fn highlight(line: Line<'static>, query: &str, style: Style) -> Line<'static> {
    let needle = folded(query);
    let text = plain(&line);
    let hay = folded(&text);
    let starts = find_all(&hay, &needle);
    if starts.is_empty() {
        return line;
    }
    let mut hit = vec![false; hay.len()];
    for s in starts {
        for h in &mut hit[s..s + needle.len()] {
            *h = true;
        }
    }
    let mut out: Vec<Span<'static>> = Vec::new();
    let mut at = 0;
    for span in line.spans {
        let chars: Vec<char> = span.content.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let on = hit[at + i];
            let mut j = i;
            while j < chars.len() && hit[at + j] == on {
                j += 1;
            }
            let piece: String = chars[i..j].iter().collect();
            let piece_style = if on {
                span.style.patch(style)
            } else {
                span.style
            };
            out.push(Span::styled(piece, piece_style));
            i = j;
        }
        at += chars.len();
    }
    let mut highlighted = Line::from(out).style(line.style);
    highlighted.alignment = line.alignment;
    highlighted
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::{Color, Modifier};

    #[test]
    fn matches_are_found_across_spans_and_highlighted() {
        let line = Line::from(vec![
            Span::styled("Acme re", Style::new().fg(Color::Red)),
            Span::raw("venue rose"),
        ]);
        assert_eq!(
            matching_lines(std::slice::from_ref(&line), "REVENUE"),
            vec![0]
        );
        let hl = highlight(
            line,
            "revenue",
            Style::new().add_modifier(Modifier::REVERSED),
        );
        let pieces: Vec<(&str, bool)> = hl
            .spans
            .iter()
            .map(|s| {
                (
                    s.content.as_ref(),
                    s.style.add_modifier.contains(Modifier::REVERSED),
                )
            })
            .collect();
        assert_eq!(
            pieces,
            [
                ("Acme ", false),
                ("re", true),
                ("venue", true),
                (" rose", false)
            ]
        );
        assert_eq!(hl.spans[1].style.fg, Some(Color::Red), "own colours stay");
    }

    #[test]
    fn stepping_wraps_around() {
        let m = [2, 5, 9];
        assert_eq!(step(&m, None, true), Some(2));
        assert_eq!(step(&m, Some(5), true), Some(9));
        assert_eq!(step(&m, Some(9), true), Some(2));
        assert_eq!(step(&m, Some(2), false), Some(9));
        assert_eq!(step(&[], Some(2), false), None);
    }
}
