//! The engine's view of the shared context: a projection of the log, fed by the same
//! envelopes as [`RunState`], that keeps what prompt assembly needs and no other reader
//! does: each point's one-line form and its token cost, the live points by kind, the search
//! terms of every point, and the order in which points were published.
//!
//! Point indices here are the indices of [`RunState::points`]: both insert a point on its
//! `point_proposed` (or `constraint_added`) event and never remove one, so one index names
//! the same point in both.

use crate::event::{AgentId, Envelope, Event, HUMAN, Point, PointId, PointKind, RunState};
use std::collections::{BTreeSet, HashMap};

/// A view of the log kept up to date event by event.
pub trait Projection {
    fn apply(&mut self, env: &Envelope);
}

impl Projection for RunState {
    fn apply(&mut self, env: &Envelope) {
        RunState::apply(self, env)
    }
}

/// What the projection remembers of each point to keep its indexes right.
#[derive(Debug, Clone, PartialEq)]
struct PointMeta {
    kind: PointKind,
    author: AgentId,
    supersedes: Option<PointId>,
    verified: bool,
    superseded: bool,
}

impl PointMeta {
    fn is_live(&self) -> bool {
        self.verified && !self.superseded
    }
}

/// The shared-context indexes (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextIndex {
    meta: Vec<PointMeta>,
    by_id: HashMap<PointId, usize>,
    lines: Vec<ContextLine>,
    terms: PointTerms,
    live: LiveIndex,
    /// (seq, point index) of every publication (verified point or constraint), in order.
    published: Vec<(u64, usize)>,
}

impl Projection for ContextIndex {
    fn apply(&mut self, env: &Envelope) {
        match &env.event {
            Event::PointProposed { point } => self.insert(point, false, env.seq),
            Event::ConstraintAdded { point } => self.insert(point, true, env.seq),
            Event::PointVerified { point, .. } => {
                let Some(&i) = self.by_id.get(point) else {
                    return;
                };
                if self.meta[i].verified {
                    return;
                }
                self.meta[i].verified = true;
                self.published.push((env.seq, i));
                self.refresh(i);
                if let Some(old) = self.meta[i].supersedes.clone()
                    && let Some(&o) = self.by_id.get(&old)
                {
                    self.meta[o].superseded = true;
                    self.refresh(o);
                }
            }
            Event::PointRejected { point, .. } => {
                if let Some(&i) = self.by_id.get(point) {
                    self.meta[i].verified = false;
                    self.refresh(i);
                }
            }
            _ => {}
        }
    }
}

impl ContextIndex {
    fn insert(&mut self, point: &Point, verified: bool, seq: u64) {
        if self.by_id.contains_key(&point.id) {
            return;
        }
        let index = self.meta.len();
        self.by_id.insert(point.id.clone(), index);
        self.terms.insert(index, point);
        self.lines.push(ContextLine::of(point));
        self.meta.push(PointMeta {
            kind: point.kind,
            author: point.author.clone(),
            supersedes: point.supersedes.clone(),
            verified,
            superseded: false,
        });
        if verified {
            self.published.push((seq, index));
        }
        self.refresh(index);
    }

    /// Bring the live index up to date with the point at `index`. Only the human's
    /// constraints are pinned in every block; an agent's constraint is ranked with the
    /// partials (budgeted like any other point, so a model cannot crowd the block).
    fn refresh(&mut self, index: usize) {
        let meta = &self.meta[index];
        let tokens = self.lines[index].tokens;
        let slot = match meta.kind {
            PointKind::Constraint if meta.author != HUMAN => PointKind::Partial,
            kind => kind,
        };
        self.live.update(index, slot, meta.is_live(), tokens);
    }

    /// The search-term index of the points (relevance ranking in prompts).
    pub fn point_terms(&self) -> &PointTerms {
        &self.terms
    }

    /// The live points by kind (indices into `RunState::points`).
    pub fn live_index(&self) -> &LiveIndex {
        &self.live
    }

    /// The shared-context line of the point at `index` ([`context_line`], cached).
    pub fn line(&self, index: usize) -> &ContextLine {
        static NONE: ContextLine = ContextLine {
            text: String::new(),
            tokens: 0,
        };
        self.lines.get(index).unwrap_or(&NONE)
    }

    /// Indices of the points published after `since` (a seq) that `reader` should be told
    /// about: not its own, and (without a shared context) only the human's constraints.
    pub fn published_since(&self, since: u64, reader: &str, shares_context: bool) -> Vec<usize> {
        let start = self.published.partition_point(|(s, _)| *s <= since);
        self.published[start..]
            .iter()
            .map(|&(_, i)| i)
            .filter(|&i| {
                let author = &self.meta[i].author;
                author != reader && (shares_context || author == HUMAN)
            })
            .collect()
    }
}

/// The state every participant folds: the run (tasks, points, agents, totals) and the
/// engine's context indexes over it. Prompt assembly reads both.
#[derive(Debug, Clone, Default)]
pub struct BoardView {
    pub state: RunState,
    pub context: ContextIndex,
}

impl BoardView {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> Self {
        let mut view = BoardView::default();
        for env in events {
            view.apply(env);
        }
        view
    }
}

impl Projection for BoardView {
    fn apply(&mut self, env: &Envelope) {
        self.state.apply(env);
        self.context.apply(env);
    }
}

/// A point's line in the shared-context block, and what it costs there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextLine {
    /// [`context_line`] of the point.
    pub text: String,
    /// Tokens the line costs in a block: its estimate (characters / 4) plus the newline.
    pub tokens: usize,
}

impl ContextLine {
    fn of(point: &Point) -> Self {
        let text = context_line(point);
        let tokens = crate::text::estimate_tokens(&text) + 1;
        ContextLine { text, tokens }
    }
}

/// The compact, one-line form of a point every prompt shows:
/// `P12 [finding] headline (a1, T3)`. Its parts never change once a point is proposed, so
/// the projection formats it once per point and prompt assembly only copies it.
pub fn context_line(point: &Point) -> String {
    let headline = point.headline.trim();
    let task = point.task.as_deref().unwrap_or("");
    let mut line = String::with_capacity(
        point.id.len() + headline.len() + point.author.len() + task.len() + 20,
    );
    line.push_str(&point.id);
    line.push_str(" [");
    line.push_str(point.kind.as_str());
    line.push_str("] ");
    line.push_str(headline);
    line.push_str(" (");
    line.push_str(&point.author);
    if let Some(task) = &point.task {
        line.push_str(", ");
        line.push_str(task);
    }
    line.push(')');
    line
}

/// The live points (verified, not superseded) by kind, as indices into
/// [`RunState::points`](crate::event::RunState::points), ascending (which is log order). Every prompt's shared-context block
/// reads these; keeping them as events arrive means a block costs what it shows, not a pass
/// over every point of the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveIndex {
    constraints: BTreeSet<u32>,
    failures: BTreeSet<u32>,
    findings: BTreeSet<u32>,
    partials: BTreeSet<u32>,
    /// The shortest context line (in tokens) of any failure that was ever live.
    shortest_failure: Option<usize>,
    /// The same for findings and partials.
    shortest_ranked: Option<usize>,
}

impl LiveIndex {
    fn update(&mut self, index: usize, kind: PointKind, is_live: bool, line_tokens: usize) {
        let shortest = match kind {
            PointKind::Failure => Some(&mut self.shortest_failure),
            PointKind::Finding | PointKind::Partial => Some(&mut self.shortest_ranked),
            PointKind::Constraint => None,
        };
        if let Some(shortest) = shortest {
            *shortest = Some(shortest.map_or(line_tokens, |s| s.min(line_tokens)));
        }
        let index = index as u32;
        let set = match kind {
            PointKind::Constraint => &mut self.constraints,
            PointKind::Failure => &mut self.failures,
            PointKind::Finding => &mut self.findings,
            PointKind::Partial => &mut self.partials,
        };
        if is_live {
            set.insert(index);
        } else {
            set.remove(&index);
        }
    }

    fn iter(set: &BTreeSet<u32>) -> impl DoubleEndedIterator<Item = usize> + '_ {
        set.iter().map(|&i| i as usize)
    }

    /// Live constraints, oldest first.
    pub fn constraints(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        Self::iter(&self.constraints)
    }

    /// Live failures, oldest first.
    pub fn failures(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        Self::iter(&self.failures)
    }

    /// Live findings, oldest first.
    pub fn findings(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        Self::iter(&self.findings)
    }

    /// Live partials, oldest first.
    pub fn partials(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        Self::iter(&self.partials)
    }

    /// No live failure's line costs fewer tokens than this (a lower bound: it is never
    /// raised when a short failure leaves the live set). `None` before any failure.
    pub fn shortest_failure_line(&self) -> Option<usize> {
        self.shortest_failure
    }

    /// No live finding's or partial's line costs fewer tokens than this (a lower bound).
    pub fn shortest_ranked_line(&self) -> Option<usize> {
        self.shortest_ranked
    }

    /// Whether the point at `index` is a live finding or partial.
    pub fn is_finding_or_partial(&self, index: usize) -> bool {
        let index = index as u32;
        self.findings.contains(&index) || self.partials.contains(&index)
    }

    /// Live points of every kind.
    pub fn len(&self) -> usize {
        self.constraints.len() + self.failures.len() + self.findings.len() + self.partials.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The search terms of every point, by its index in [`RunState::points`](crate::event::RunState::points), and the points
/// that use each term. Prompt assembly ranks every live point by relevance on each claim;
/// with this index that costs a few postings lookups instead of re-reading thousands of
/// points' text per claim (the cost that made claims slow down as a run grew).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointTerms {
    /// By point index: the distinct terms of headline and summary, sorted.
    terms: Vec<Box<[u64]>>,
    /// Term → indices of the points using it, ascending.
    postings: HashMap<u64, Vec<u32>>,
}

impl PointTerms {
    fn insert(&mut self, index: usize, point: &Point) {
        let terms = search_terms_of(&[&point.headline, &point.summary]);
        for &term in &terms {
            self.postings.entry(term).or_default().push(index as u32);
        }
        if self.terms.len() <= index {
            self.terms.resize(index + 1, Box::default());
        }
        self.terms[index] = terms.into_boxed_slice();
    }

    /// The distinct terms of the point at `index` (empty for an unknown index).
    pub fn terms(&self, index: usize) -> &[u64] {
        self.terms.get(index).map_or(&[], |t| t)
    }

    /// Indices of the points that use `term`, ascending.
    pub fn postings(&self, term: u64) -> &[u32] {
        self.postings.get(&term).map_or(&[], |p| p)
    }
}

/// The search terms of `text`, sorted and distinct: its words (letters, digits, `_`) of
/// three bytes or more, lowercased and hashed (64-bit FNV-1a, so no word is allocated).
pub fn search_terms(text: &str) -> Vec<u64> {
    let mut terms = Vec::new();
    push_terms(text, &mut terms);
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// The search terms of several texts together, sorted and distinct.
pub fn search_terms_of(texts: &[&str]) -> Vec<u64> {
    let mut terms = Vec::new();
    for text in texts {
        push_terms(text, &mut terms);
    }
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// Append the term of every word of `text` (unsorted, repeats kept).
fn push_terms(text: &str, out: &mut Vec<u64>) {
    if text.is_ascii() {
        // The common case, byte by byte: for ASCII, `char::is_alphanumeric` is
        // `u8::is_ascii_alphanumeric`, so the words are the same as below.
        let words = text
            .as_bytes()
            .split(|&b| !b.is_ascii_alphanumeric() && b != b'_');
        out.extend(words.filter(|w| w.len() > 2).map(ascii_term_hash));
    } else {
        let words = text.split(|c: char| !c.is_alphanumeric() && c != '_');
        out.extend(words.filter(|w| w.len() > 2).map(term_hash));
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// [`term_hash`] of an ASCII word.
fn ascii_term_hash(word: &[u8]) -> u64 {
    word.iter().fold(FNV_OFFSET, |hash, &b| {
        (hash ^ b.to_ascii_lowercase() as u64).wrapping_mul(FNV_PRIME)
    })
}

fn term_hash(word: &str) -> u64 {
    if word.is_ascii() {
        return ascii_term_hash(word.as_bytes());
    }
    let mut hash = FNV_OFFSET;
    let mut buf = [0u8; 4];
    for c in word.chars().flat_map(char::to_lowercase) {
        for &byte in c.encode_utf8(&mut buf).as_bytes() {
            hash = (hash ^ byte as u64).wrapping_mul(FNV_PRIME);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::numbered;

    fn point(id: &str, kind: PointKind, task: Option<&str>) -> Point {
        Point {
            id: id.into(),
            kind,
            headline: format!("headline {id}"),
            summary: String::new(),
            evidence: vec![],
            author: "a1".into(),
            task: task.map(str::to_string),
            supersedes: None,
        }
    }

    /// The terms as the first version computed them: char by char, every word lowercased
    /// through `char::to_lowercase`.
    fn reference_terms(text: &str) -> Vec<u64> {
        let mut terms: Vec<u64> = text
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|w| w.len() > 2)
            .map(|w| {
                let mut hash = FNV_OFFSET;
                let mut buf = [0u8; 4];
                for c in w.chars().flat_map(char::to_lowercase) {
                    for &b in c.encode_utf8(&mut buf).as_bytes() {
                        hash = (hash ^ b as u64).wrapping_mul(FNV_PRIME);
                    }
                }
                hash
            })
            .collect();
        terms.sort_unstable();
        terms.dedup();
        terms
    }

    #[test]
    fn search_terms_fast_path_matches_the_char_path() {
        for text in [
            "Lexer_cache drops TRAILING comments in skip_ws (src/lex.rs:141-150) ab 2024",
            "naïve ÉTAT: Ünïcode headline — with dashes and Lexer",
            "",
            "a bb ccc dddd, x_y_z;;; 12345",
        ] {
            assert_eq!(search_terms(text), reference_terms(text), "{text}");
        }
        assert_eq!(
            search_terms_of(&["Lexer cache", "cache INDEX lexer"]),
            reference_terms("Lexer cache cache INDEX lexer")
        );
    }

    #[test]
    fn live_index_follows_verification_and_supersession() {
        let mut s = BoardView::default();
        let mut seq = 0;
        let mut apply = |s: &mut BoardView, event: Event| {
            seq += 1;
            s.apply(
                &numbered([event])
                    .pop()
                    .map(|e| Envelope { seq, ..e })
                    .unwrap(),
            );
        };
        let verified = |id: &str| Event::PointVerified {
            point: id.into(),
            note: None,
            evidence: None,
        };
        apply(
            &mut s,
            Event::PointProposed {
                point: point("P1", PointKind::Finding, None),
            },
        );
        assert!(
            s.context.live_index().is_empty(),
            "a proposed point is not live"
        );
        apply(&mut s, verified("P1"));
        apply(
            &mut s,
            Event::PointProposed {
                point: point("P2", PointKind::Failure, None),
            },
        );
        apply(
            &mut s,
            Event::PointRejected {
                point: "P2".into(),
                reason: "no".into(),
            },
        );
        let mut p3 = point("P3", PointKind::Partial, Some("T1"));
        p3.supersedes = Some("P1".into());
        apply(&mut s, Event::PointProposed { point: p3 });
        apply(&mut s, verified("P3"));
        apply(
            &mut s,
            Event::ConstraintAdded {
                point: Point {
                    author: HUMAN.into(),
                    ..point("C1", PointKind::Constraint, None)
                },
            },
        );
        let live = s.context.live_index();
        assert_eq!(live.findings().count(), 0, "P1 is superseded");
        assert_eq!(live.failures().count(), 0, "P2 was rejected");
        assert_eq!(live.partials().collect::<Vec<_>>(), vec![2]);
        assert_eq!(live.constraints().collect::<Vec<_>>(), vec![3]);
        assert_eq!(live.len(), s.state.live_points().count());
        assert_eq!(s.context.line(2).text, "P3 [partial] headline P3 (a1, T1)");
        assert_eq!(
            live.shortest_ranked_line(),
            Some(s.context.line(0).tokens.min(s.context.line(2).tokens))
        );
    }

    #[test]
    fn published_points_are_listed_for_other_readers_in_order() {
        let mut p2 = point("P2", PointKind::Finding, None);
        p2.author = "a2".into();
        let log = numbered([
            Event::PointProposed {
                point: point("P1", PointKind::Finding, None),
            },
            Event::PointProposed { point: p2 },
            Event::PointVerified {
                point: "P2".into(),
                note: None,
                evidence: None,
            },
            Event::PointVerified {
                point: "P1".into(),
                note: None,
                evidence: None,
            },
            Event::ConstraintAdded {
                point: Point {
                    author: HUMAN.into(),
                    ..point("C1", PointKind::Constraint, None)
                },
            },
        ]);
        let view = BoardView::from_events(&log);
        assert_eq!(view.context.published_since(0, "a1", true), vec![1, 2]);
        assert_eq!(view.context.published_since(3, "a3", true), vec![0, 2]);
        assert_eq!(view.context.published_since(0, "a3", false), vec![2]);
    }
}
