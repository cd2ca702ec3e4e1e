//! Basic markdown for the final answer, as terminal markdown viewers (glow) show it:
//! headings, bullet and numbered lists, block quotes, fenced code, tables, rules, and inline
//! `code`, **strong**, *emphasis* and [links](url). Everything is wrapped here to the
//! view's width, so scrolling knows the exact number of lines.

use super::theme::Theme;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

/// Render `md` to lines at most `width` columns wide.
pub fn render(md: &str, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let width = width.max(16);
    let mut out = Vec::new();
    let lines: Vec<&str> = md.lines().collect();
    let mut i = 0;
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, out: &mut Vec<Line<'static>>| {
        if !paragraph.is_empty() {
            let text = paragraph.join(" ");
            out.extend(wrap_styled(&inline(&text, theme), width, "", ""));
            paragraph.clear();
        }
    };
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(fence) = ["```", "~~~"].iter().find(|f| trimmed.starts_with(**f)) {
            flush(&mut paragraph, &mut out);
            blank(&mut out);
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with(fence) {
                for piece in hard_wrap(&lines[i].replace('\t', "    "), width.saturating_sub(4)) {
                    out.push(Line::from(vec![
                        Span::styled("  │ ", theme.dim()),
                        Span::styled(piece, code_style(theme)),
                    ]));
                }
                i += 1;
            }
            i += 1;
            blank(&mut out);
            continue;
        }
        if trimmed.is_empty() {
            flush(&mut paragraph, &mut out);
            blank(&mut out);
            i += 1;
            continue;
        }
        if let Some((level, text)) = heading(trimmed) {
            flush(&mut paragraph, &mut out);
            blank(&mut out);
            let mut style = theme.title();
            if level <= 2 {
                style = style.add_modifier(Modifier::UNDERLINED);
            }
            let spans: Vec<(String, Style)> = inline(text, theme)
                .into_iter()
                .map(|(t, s)| (t, s.patch(style)))
                .collect();
            out.extend(wrap_styled(&spans, width, "", ""));
            i += 1;
            continue;
        }
        if is_rule(trimmed) {
            flush(&mut paragraph, &mut out);
            out.push(Line::styled("─".repeat(width), theme.dim()));
            i += 1;
            continue;
        }
        if trimmed.starts_with('|') && i + 1 < lines.len() && is_table_rule(lines[i + 1]) {
            flush(&mut paragraph, &mut out);
            let mut rows = vec![cells(trimmed)];
            let right: Vec<bool> = cells(lines[i + 1])
                .iter()
                .map(|c| c.ends_with(':') && !c.starts_with(':'))
                .collect();
            i += 2;
            while i < lines.len() && lines[i].trim_start().starts_with('|') {
                rows.push(cells(lines[i].trim_start()));
                i += 1;
            }
            blank(&mut out);
            out.extend(table(&rows, &right, width, theme));
            blank(&mut out);
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('>') {
            flush(&mut paragraph, &mut out);
            let spans: Vec<(String, Style)> = inline(rest.trim_start(), theme)
                .into_iter()
                .map(|(t, s)| (t, s.patch(theme.dim().add_modifier(Modifier::ITALIC))))
                .collect();
            for mut l in wrap_styled(&spans, width.saturating_sub(2), "", "") {
                l.spans.insert(0, Span::styled("│ ", theme.accent()));
                out.push(l);
            }
            i += 1;
            continue;
        }
        if let Some((indent, marker, text)) = list_item(line) {
            flush(&mut paragraph, &mut out);
            let mut item = text.to_string();
            i += 1;
            // Lazy continuation lines belong to the item.
            while i < lines.len()
                && !lines[i].trim().is_empty()
                && list_item(lines[i]).is_none()
                && lines[i].starts_with(' ')
            {
                item.push(' ');
                item.push_str(lines[i].trim());
                i += 1;
            }
            let pad = "  ".repeat(indent.min(4));
            let first = format!("{pad}{marker} ");
            let rest = " ".repeat(first.chars().count());
            let mut wrapped = wrap_styled(&inline(&item, theme), width, &first, &rest);
            if let Some(l) = wrapped.first_mut()
                && let Some(s) = l.spans.first_mut()
            {
                // The bullet in the accent colour, the text as it is.
                *s = Span::styled(s.content.to_string(), theme.accent());
            }
            out.extend(wrapped);
            continue;
        }
        paragraph.push(trimmed.trim_end());
        i += 1;
    }
    flush(&mut paragraph, &mut out);
    while out.last().is_some_and(|l| l.width() == 0) {
        out.pop();
    }
    out
}

fn blank(out: &mut Vec<Line<'static>>) {
    if out.last().is_some_and(|l| l.width() > 0) {
        out.push(Line::raw(""));
    }
}

fn code_style(theme: &Theme) -> Style {
    theme.quote()
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|c| *c == '#').count();
    let rest = &line[level..];
    ((1..=6).contains(&level) && (rest.starts_with(' ') || rest.is_empty()))
        .then(|| (level, rest.trim().trim_end_matches('#').trim_end()))
}

fn is_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3
        && ['-', '*', '_']
            .iter()
            .any(|c| t.chars().all(|x| x == *c || x == ' ') && t.starts_with(*c))
}

fn is_table_rule(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('|') && t.contains('-') && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

fn cells(line: &str) -> Vec<String> {
    let t = line.trim().trim_start_matches('|').trim_end_matches('|');
    t.split('|').map(|c| c.trim().to_string()).collect()
}

/// `(nesting, marker, text)` of a list item line: `- a`, `* a`, `+ a`, `1. a`, `2) a`.
fn list_item(line: &str) -> Option<(usize, String, &str)> {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    let t = &line[spaces..];
    let indent = spaces / 2;
    for bullet in ["- ", "* ", "+ "] {
        if let Some(rest) = t.strip_prefix(bullet) {
            return Some((indent, "•".to_string(), rest.trim_start()));
        }
    }
    let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
    if (1..=3).contains(&digits) {
        let rest = &t[digits..];
        for sep in [". ", ") "] {
            if let Some(text) = rest.strip_prefix(sep) {
                return Some((indent, format!("{}.", &t[..digits]), text.trim_start()));
            }
        }
    }
    None
}

/// Inline markup to styled pieces: `code`, **strong**, __strong__, *em*, _em_, [text](url).
pub fn inline(text: &str, theme: &Theme) -> Vec<(String, Style)> {
    let base = theme.text();
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<(String, Style)> = Vec::new();
    let mut plain = String::new();
    let push_plain = |plain: &mut String, out: &mut Vec<(String, Style)>| {
        if !plain.is_empty() {
            out.push((std::mem::take(plain), base));
        }
    };
    let find = |from: usize, pat: &[char]| -> Option<usize> {
        (from..chars.len().saturating_sub(pat.len() - 1)).find(|&j| chars[j..j + pat.len()] == *pat)
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '`'
            && let Some(end) = find(i + 1, &['`'])
        {
            push_plain(&mut plain, &mut out);
            out.push((chars[i + 1..end].iter().collect(), code_style(theme)));
            i = end + 1;
            continue;
        }
        if (c == '*' || c == '_') && chars.get(i + 1) == Some(&c) {
            let pat = [c, c];
            if let Some(end) = find(i + 2, &pat).filter(|&e| e > i + 2) {
                push_plain(&mut plain, &mut out);
                for (t, s) in inline(&chars[i + 2..end].iter().collect::<String>(), theme) {
                    out.push((t, s.add_modifier(Modifier::BOLD)));
                }
                i = end + 2;
                continue;
            }
        }
        let opens = chars.get(i + 1).is_some_and(|n| !n.is_whitespace())
            && (i == 0 || !chars[i - 1].is_alphanumeric());
        if (c == '*' || c == '_') && opens {
            let end = (i + 2..chars.len()).find(|&j| {
                chars[j] == c
                    && !chars[j - 1].is_whitespace()
                    && chars.get(j + 1).is_none_or(|n| !n.is_alphanumeric())
            });
            if let Some(end) = end {
                push_plain(&mut plain, &mut out);
                for (t, s) in inline(&chars[i + 1..end].iter().collect::<String>(), theme) {
                    out.push((t, s.add_modifier(Modifier::ITALIC)));
                }
                i = end + 1;
                continue;
            }
        }
        if c == '['
            && let Some(close) = find(i + 1, &[']'])
            && chars.get(close + 1) == Some(&'(')
            && let Some(paren) = find(close + 2, &[')'])
        {
            push_plain(&mut plain, &mut out);
            let label: String = chars[i + 1..close].iter().collect();
            let url: String = chars[close + 2..paren].iter().collect();
            out.push((label, base.add_modifier(Modifier::UNDERLINED)));
            out.push((format!(" ({url})"), theme.dim()));
            i = paren + 1;
            continue;
        }
        plain.push(c);
        i += 1;
    }
    push_plain(&mut plain, &mut out);
    out
}

/// Word-wrap styled pieces to `width` columns; `first` and `rest` prefix the first and the
/// following lines (list markers and their hanging indent).
pub fn wrap_styled(
    pieces: &[(String, Style)],
    width: usize,
    first: &str,
    rest: &str,
) -> Vec<Line<'static>> {
    // Words keep their pieces' styles; a word may span several pieces (`**a**,`).
    let mut words: Vec<Vec<(String, Style)>> = vec![Vec::new()];
    for (text, style) in pieces {
        for (k, part) in text.split(' ').enumerate() {
            if k > 0 && !words.last().is_some_and(Vec::is_empty) {
                words.push(Vec::new());
            }
            if !part.is_empty() {
                words
                    .last_mut()
                    .unwrap_or(&mut Vec::new())
                    .push((part.to_string(), *style));
            }
        }
    }
    let word_width = |w: &[(String, Style)]| -> usize {
        w.iter().map(|(t, _)| Span::raw(t.as_str()).width()).sum()
    };
    let mut lines = Vec::new();
    let mut current: Vec<Span<'static>> = vec![Span::raw(first.to_string())];
    let mut used = Span::raw(first).width();
    let mut empty = true;
    for word in words.into_iter().filter(|w| !w.is_empty()) {
        let w = word_width(&word);
        let lead = usize::from(!empty);
        if !empty && used + lead + w > width {
            lines.push(Line::from(std::mem::take(&mut current)));
            current.push(Span::raw(rest.to_string()));
            used = Span::raw(rest).width();
            empty = true;
        }
        if !empty {
            current.push(Span::raw(" "));
            used += 1;
        }
        let room = width.saturating_sub(used);
        if w > room && empty {
            // A word longer than the line: cut it into line-sized pieces.
            let text: String = word.iter().map(|(t, _)| t.as_str()).collect();
            let style = word[0].1;
            let mut pieces = hard_wrap(&text, room.max(1)).into_iter();
            if let Some(p) = pieces.next() {
                used += Span::raw(p.as_str()).width();
                current.push(Span::styled(p, style));
            }
            for p in pieces {
                lines.push(Line::from(std::mem::take(&mut current)));
                current.push(Span::raw(rest.to_string()));
                used = Span::raw(rest).width() + Span::raw(p.as_str()).width();
                current.push(Span::styled(p, style));
            }
        } else {
            used += w;
            current.extend(word.into_iter().map(|(t, s)| Span::styled(t, s)));
        }
        empty = false;
    }
    if !empty || lines.is_empty() {
        lines.push(Line::from(current));
    }
    lines
}

/// Cut `text` into pieces of at most `width` columns, ignoring word boundaries.
fn hard_wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut piece = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let w = Span::raw(ch.to_string()).width();
        if used + w > width && !piece.is_empty() {
            out.push(std::mem::take(&mut piece));
            used = 0;
        }
        piece.push(ch);
        used += w;
    }
    if !piece.is_empty() || out.is_empty() {
        out.push(piece);
    }
    out
}

/// A table fitted to `width`: columns as wide as their widest cell, the widest shrunk first
/// when the table does not fit; cells cut with `…`; `right` columns (`---:`) right-aligned.
fn table(rows: &[Vec<String>], right: &[bool], width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    if columns == 0 {
        return Vec::new();
    }
    let plain =
        |cell: &str| -> String { inline(cell, theme).into_iter().map(|(t, _)| t).collect() };
    let mut widths = vec![1usize; columns];
    for row in rows {
        for (c, cell) in row.iter().enumerate() {
            widths[c] = widths[c].max(Span::raw(plain(cell)).width());
        }
    }
    let separators = 3 * (columns - 1);
    while widths.iter().sum::<usize>() + separators > width {
        let Some((widest, w)) = widths
            .iter()
            .enumerate()
            .max_by_key(|(_, w)| **w)
            .map(|(i, w)| (i, *w))
        else {
            break;
        };
        if w <= 3 {
            break;
        }
        widths[widest] -= 1;
    }
    let mut out = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let mut spans = Vec::new();
        for (c, w) in widths.iter().enumerate() {
            if c > 0 {
                spans.push(Span::styled(" │ ", theme.dim()));
            }
            let text = row.get(c).map(|t| plain(t)).unwrap_or_default();
            let cut = super::ui::truncate(&text, *w);
            let pad = w.saturating_sub(Span::raw(cut.as_str()).width());
            let style = if r == 0 { theme.title() } else { theme.text() };
            if right.get(c).copied().unwrap_or(false) {
                spans.push(Span::raw(" ".repeat(pad)));
                spans.push(Span::styled(cut, style));
            } else {
                spans.push(Span::styled(cut, style));
                spans.push(Span::raw(" ".repeat(pad)));
            }
        }
        out.push(Line::from(spans));
        if r == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
            out.push(Line::styled(rule.join("─┼─"), theme.dim()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn blocks_render_as_a_viewer_shows_them() {
        let md = "# Revenue\n\nAcme had **$412.5M**, up *4.2%*.\n\n- first point\n- second point \
                  that is long enough to wrap onto another line\n1. one\n\n| Vendor | 2024 |\n|---|---:|\n| Acme | $412.5M |\n\n```\nlet x = 1;\n```\n> quoted";
        let lines = render(md, 40, &Theme::monochrome());
        let t = text(&lines);
        assert_eq!(t[0], "Revenue");
        assert!(
            t.contains(&"Acme had $412.5M, up 4.2%.".to_string()),
            "{t:#?}"
        );
        assert!(t.contains(&"• first point".to_string()), "{t:#?}");
        let wrapped = t.iter().position(|l| l.starts_with("• second")).unwrap();
        assert!(t[wrapped + 1].starts_with("  "), "hanging indent: {t:#?}");
        assert!(t.contains(&"1. one".to_string()));
        assert!(t.iter().any(|l| l.starts_with("Vendor │")), "{t:#?}");
        assert!(t.iter().any(|l| l.contains("─┼─")));
        assert!(t.iter().any(|l| l == "  │ let x = 1;"));
        assert!(t.iter().any(|l| l == "│ quoted"));
        assert!(lines.iter().all(|l| l.width() <= 40), "{t:#?}");
        let bold = lines
            .iter()
            .flat_map(|l| &l.spans)
            .find(|s| s.content == "$412.5M,")
            .or_else(|| {
                lines
                    .iter()
                    .flat_map(|l| &l.spans)
                    .find(|s| s.content == "$412.5M")
            })
            .unwrap();
        assert!(bold.style.add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn snake_case_is_not_emphasis() {
        let pieces = inline("read_doc and file_name", &Theme::monochrome());
        assert_eq!(pieces.len(), 1, "{pieces:?}");
    }
}
