//! HTML to plain text for document ingest.
//!
//! Not a full HTML parser: a tag scanner that is good enough for reports and saved web
//! pages. Scripts, styles and other non-content elements are dropped, block elements become
//! line breaks, headings become markdown-style `#` lines (so the structural index finds
//! them), list items become `- ` lines, and character references are decoded.

/// Elements whose content is never text a reader sees.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "nav",
];

/// Elements that start and end a paragraph.
const PARAGRAPHS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "main",
    "nav",
    "aside",
    "blockquote",
    "ul",
    "ol",
    "dl",
    "table",
    "pre",
    "form",
    "figure",
    "figcaption",
    "address",
    "details",
    "summary",
    "hr",
    "body",
];

/// Elements that start a new line.
const LINES: &[&str] = &["br", "tr", "dt", "dd", "caption", "li"];

struct Out {
    text: String,
    /// Whitespace seen since the last visible character (collapsed to one space).
    pending_space: bool,
    /// Newlines requested before the next visible character (max 2).
    pending_breaks: usize,
}

impl Out {
    fn push_text(&mut self, s: &str, preformatted: bool) {
        for c in s.chars() {
            if preformatted {
                if c == '\n' {
                    self.pending_breaks = self.pending_breaks.max(1);
                    self.flush_breaks();
                    continue;
                }
            } else if c.is_whitespace() && c != '\u{A0}' {
                self.pending_space = true;
                continue;
            }
            self.flush_breaks();
            if self.pending_space && !self.text.is_empty() && !self.text.ends_with('\n') {
                self.text.push(' ');
            }
            self.pending_space = false;
            self.text.push(if c == '\u{A0}' { ' ' } else { c });
        }
    }

    fn flush_breaks(&mut self) {
        if self.pending_breaks > 0 && !self.text.is_empty() {
            let have = self.text.len() - self.text.trim_end_matches('\n').len();
            for _ in have..self.pending_breaks {
                self.text.push('\n');
            }
            self.pending_space = false;
        }
        self.pending_breaks = 0;
    }

    fn want_breaks(&mut self, n: usize) {
        self.pending_breaks = self.pending_breaks.max(n);
    }
}

/// Convert an HTML document to readable plain text.
pub(crate) fn to_text(html: &str) -> String {
    let mut out = Out {
        text: String::with_capacity(html.len() / 2),
        pending_space: false,
        pending_breaks: 0,
    };
    let mut title: Option<String> = None;
    let mut pre_depth = 0usize;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            out.push_text(&decode_entities(rest), pre_depth > 0);
            break;
        };
        out.push_text(&decode_entities(&rest[..lt]), pre_depth > 0);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let Some(tag) = parse_tag(rest) else {
            // A lone '<' in text.
            out.push_text("<", pre_depth > 0);
            rest = &rest[1..];
            continue;
        };
        rest = &rest[tag.len..];
        let name = tag.name.as_str();
        if !tag.closing && name == "title" {
            let (inner, after) = until_closing(rest, "title");
            let decoded = decode_entities(inner);
            title = Some(decoded.split_whitespace().collect::<Vec<_>>().join(" "));
            rest = after;
            continue;
        }
        if !tag.closing && !tag.self_closing && SKIPPED.contains(&name) {
            rest = until_closing(rest, name).1;
            continue;
        }
        if let Some(level) = heading_level(name) {
            out.want_breaks(2);
            if !tag.closing {
                out.flush_breaks();
                out.text.push_str(&"#".repeat(level));
                out.text.push(' ');
                out.pending_space = false;
            }
            continue;
        }
        if name == "pre" {
            if tag.closing {
                pre_depth = pre_depth.saturating_sub(1);
            } else {
                pre_depth += 1;
            }
        }
        if PARAGRAPHS.contains(&name) {
            out.want_breaks(2);
        } else if LINES.contains(&name) {
            out.want_breaks(1);
            if name == "li" && !tag.closing {
                out.flush_breaks();
                out.text.push_str("- ");
                out.pending_space = false;
            }
        } else if matches!(name, "td" | "th") && !tag.closing {
            out.pending_space = true;
        }
    }
    let body = tidy(&out.text);
    match title {
        Some(t) if !t.is_empty() && !body.contains(&t) => format!("# {t}\n\n{body}"),
        _ => body,
    }
}

fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    /// Bytes from `<` to `>` inclusive.
    len: usize,
}

/// Parse the tag at the start of `s` (which begins with `<`). `None` if it is not a tag.
fn parse_tag(s: &str) -> Option<Tag> {
    let bytes = s.as_bytes();
    let mut i = 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let first = *bytes.get(i)?;
    if !(first.is_ascii_alphabetic() || first == b'!' || first == b'?') {
        return None;
    }
    let name_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'!' | b'?')) {
        i += 1;
    }
    let name = s[name_start..i].to_ascii_lowercase();
    // Find the closing '>' outside quoted attribute values.
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        match (quote, bytes[i]) {
            (None, b'"' | b'\'') => quote = Some(bytes[i]),
            (Some(q), b) if b == q => quote = None,
            (None, b'>') => {
                let self_closing = i > 0 && bytes[i - 1] == b'/';
                return Some(Tag {
                    name,
                    closing,
                    self_closing,
                    len: i + 1,
                });
            }
            _ => {}
        }
        i += 1;
    }
    // Unterminated tag: treat the rest as the tag so it is not shown as text.
    Some(Tag {
        name,
        closing,
        self_closing: false,
        len: s.len(),
    })
}

/// Split `s` at the closing tag `</name ...>`: (content before it, text after it).
fn until_closing<'a>(s: &'a str, name: &str) -> (&'a str, &'a str) {
    let bytes = s.as_bytes();
    let name = name.as_bytes();
    let mut from = 0;
    while let Some(at) = s[from..].find("</").map(|i| from + i) {
        let name_end = at + 2 + name.len();
        let same_name = bytes
            .get(at + 2..name_end)
            .is_some_and(|n| n.eq_ignore_ascii_case(name));
        let after = bytes.get(name_end).copied();
        if same_name
            && matches!(
                after,
                None | Some(b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/')
            )
        {
            let end = s[at..].find('>').map_or(s.len(), |e| at + e + 1);
            return (&s[..at], &s[end..]);
        }
        from = at + 2;
    }
    (s, "")
}

/// Decode character references (`&amp;`, `&#8364;`, `&#x20AC;`); unknown ones stay as
/// written.
pub(crate) fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..]
            .char_indices()
            .take(32)
            .find(|&(_, c)| c == ';' || !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|(i, c)| (i + 1, c));
        match end {
            Some((semi, ';')) => {
                if let Some(c) = decode_one(&rest[1..semi]) {
                    out.push(c);
                    rest = &rest[semi + 1..];
                    continue;
                }
            }
            // Legacy entities written without the semicolon: `&amp` `&nbsp`.
            _ => {
                let name_end = end.map_or(rest.len(), |(i, _)| i);
                let name = &rest[1..name_end];
                if matches!(name, "amp" | "lt" | "gt" | "quot" | "nbsp")
                    && let Some(c) = decode_one(name)
                {
                    out.push(c);
                    rest = &rest[name_end..];
                    continue;
                }
            }
        }
        out.push('&');
        rest = &rest[1..];
    }
    out.push_str(rest);
    out
}

fn decode_one(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0');
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{A0}',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "middot" => '·',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "sect" => '§',
        "para" => '¶',
        "deg" => '°',
        "plusmn" => '±',
        "times" => '×',
        "divide" => '÷',
        "minus" => '−',
        "le" => '≤',
        "ge" => '≥',
        "ne" => '≠',
        "asymp" => '≈',
        "frac12" => '½',
        "frac14" => '¼',
        "frac34" => '¾',
        "micro" => 'µ',
        "shy" => '\u{AD}',
        "thinsp" => '\u{2009}',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "larr" => '←',
        "rarr" => '→',
        "uarr" => '↑',
        "darr" => '↓',
        "check" => '✓',
        _ => return None,
    })
}

/// Trim trailing spaces on lines, drop leading/trailing blank lines, keep at most one blank
/// line in a row.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0;
    for line in s.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_scripts_styles_and_comments() {
        let html = "<html><head><title>Q3</title><STYLE>p{color:red}</Style ></head>\
                    <body><script>var x = '<p>no</p>';</script><!-- hidden -->\
                    <p>Visible text.</p></body></html>";
        assert_eq!(to_text(html), "# Q3\n\nVisible text.");
    }

    #[test]
    fn headings_lists_and_breaks() {
        let html = "<h2>Results</h2><p>Revenue   grew.<br>Costs fell.</p>\
                    <ul><li>one</li><li>two</li></ul>";
        assert_eq!(
            to_text(html),
            "## Results\n\nRevenue grew.\nCosts fell.\n\n- one\n- two"
        );
    }

    #[test]
    fn decodes_entities() {
        assert_eq!(
            decode_entities("R&amp;D &mdash; &#8364;5 &#x41; &copy &nope; a & b"),
            "R&D — €5 A &copy &nope; a & b"
        );
        assert_eq!(decode_entities("fish &amp chips"), "fish & chips");
    }

    #[test]
    fn attributes_with_angle_brackets_do_not_leak() {
        let html = "<p title=\"a > b\">kept</p><a href='x>y'>link</a>";
        assert_eq!(to_text(html), "kept\n\nlink");
    }

    #[test]
    fn preformatted_text_keeps_its_lines() {
        let html = "<pre>line 1\n  line 2</pre>";
        assert_eq!(to_text(html), "line 1\n  line 2");
    }

    #[test]
    fn table_cells_are_separated() {
        let html = "<table><tr><td>Acme</td><td>412.5</td></tr><tr><td>Globex</td>\
                    <td>388.1</td></tr></table>";
        assert_eq!(to_text(html), "Acme 412.5\nGlobex 388.1");
    }
}
