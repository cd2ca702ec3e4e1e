//! The claim workloads' worlds: each is a small system with a hidden truth, generated from a
//! seed. The truth lives here and in the texts the workspace's tools return; the scripted
//! model never sees this module, only what those tools print into its prompt.
//!
//! - `independent`: 16 components listed up front, one page each: parts that share nothing.
//! - `dead_ends`: 12 candidate causes of a failing build, one the root cause; testing a cause
//!   takes two to four steps and ends with "ruled out" or "confirmed".
//! - `follow_ups`: 4 components listed; reading one can name further components of the
//!   system (20 in all, three levels deep), so work arrives over time.
//! - `stragglers`: 24 components listed, pages per source heavy-tailed (Pareto, α = 1.5,
//!   1 to 12 pages): a few sources take many turns.
//! - `fabrications`: 16 components, one page each; the model misreports the figure of
//!   exactly a quarter of the sources (see [`World::misread_percent`]): which ones it
//!   misreads is a function of the text it reads, and the world is drawn so that exactly
//!   that share of its sources are such texts.
//!
//! The parameters are fixed here, in one place, and were fixed before any engine change
//! was measured against them.

use super::super::synthetic::Rng;
use super::agent::misreads;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Independent,
    DeadEnds,
    FollowUps,
    Stragglers,
    Fabrications,
}

impl Workload {
    pub const ALL: [Workload; 5] = [
        Workload::Independent,
        Workload::DeadEnds,
        Workload::FollowUps,
        Workload::Stragglers,
        Workload::Fabrications,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Independent => "independent",
            Workload::DeadEnds => "dead_ends",
            Workload::FollowUps => "follow_ups",
            Workload::Stragglers => "stragglers",
            Workload::Fabrications => "fabrications",
        }
    }

    /// The seed of the published figures (any seed gives a world of the same shape).
    pub fn default_seed(self) -> u64 {
        match self {
            Workload::Independent => 0x1d_0001,
            Workload::DeadEnds => 0x1d_0002,
            Workload::FollowUps => 0x1d_0003,
            Workload::Stragglers => 0x1d_0004,
            Workload::Fabrications => 0x1d_0005,
        }
    }
}

/// How big the worlds are: the published sizes, or tiny ones for `cargo test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    pub agents: usize,
    /// Components of `independent` and `fabrications`.
    pub parts: usize,
    /// Components of `stragglers`.
    pub straggler_parts: usize,
    /// Candidate causes of `dead_ends`.
    pub causes: usize,
    /// `follow_ups`: components per level of the tree (the first level is listed).
    pub levels: [usize; 3],
}

impl Scale {
    pub const FULL: Scale = Scale {
        agents: 8,
        parts: 16,
        straggler_parts: 24,
        causes: 12,
        levels: [4, 8, 8],
    };
    pub const TINY: Scale = Scale {
        agents: 2,
        parts: 3,
        straggler_parts: 4,
        causes: 3,
        levels: [1, 2, 1],
    };
}

/// What the run must find.
#[derive(Debug, Clone, PartialEq)]
pub enum Truth {
    /// Every component's measured latency, in milliseconds.
    Latencies(Vec<(String, u64)>),
    /// The one candidate cause that is the root cause.
    RootCause(String),
}

/// A source the tools can read: a component's documentation (page by page), or a candidate
/// cause's test log (step by step).
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    /// Named in the workspace description (otherwise only another source names it).
    pub listed: bool,
    pub pages: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct World {
    pub workload: Workload,
    pub seed: u64,
    pub goal: String,
    /// A search for one cause (`dead_ends`), not a survey of components.
    pub search: bool,
    pub sources: Vec<Source>,
    pub truth: Truth,
    /// Share of the sources whose figure the scripted model misreports (a model property
    /// that this workload sets; every other workload's model reads correctly).
    pub misread_percent: u8,
}

/// `fabrications`: the share of sources whose figure the model misreports.
pub const MISREAD_PERCENT: u8 = 25;

/// The metric every component reports, as its sources word it.
pub const METRIC: &str = "latency";
pub const UNIT: &str = "milliseconds";
/// The sentence of a component source that holds its figure.
pub fn fact_sentence(component: &str, value: u64) -> String {
    format!(
        "The measured {METRIC} of the {} component is {value} {UNIT}",
        component.replace('-', " ")
    )
}

/// How a source names a further component (the follow-up).
pub fn follow_up_sentence(component: &str) -> String {
    format!(
        "Its {METRIC} depends on the {} component, documented in source {component}, which \
must be examined as well.",
        component.replace('-', " ")
    )
}

/// The last line of a cause's test log.
pub fn verdict_sentence(cause: &str, root: bool) -> String {
    if root {
        format!(
            "RESULT: {cause} is confirmed as the root cause: with {cause} reverted the nightly \
build passes, and restoring it brings the failure back."
        )
    } else {
        format!(
            "RESULT: {cause} is ruled out: with {cause} reverted the nightly build still fails \
with the same error."
        )
    }
}

const FIRST: [&str; 16] = [
    "lexer",
    "parser",
    "cache",
    "index",
    "scheduler",
    "network",
    "storage",
    "planner",
    "renderer",
    "allocator",
    "resolver",
    "encoder",
    "decoder",
    "router",
    "journal",
    "monitor",
];
const SECOND: [&str; 8] = [
    "queue", "pool", "table", "buffer", "gate", "store", "map", "log",
];
const CAUSES: [&str; 16] = [
    "stale-cache",
    "clock-skew",
    "loader-race",
    "expired-certificate",
    "full-disk",
    "dependency-bump",
    "flaky-network",
    "locale-change",
    "memory-limit",
    "config-drift",
    "missing-migration",
    "timezone-offset",
    "leaked-env-variable",
    "parallel-tests",
    "cache-key-collision",
    "toolchain-update",
];

/// Words of a page: about `words` words of filler prose, no digits.
fn prose(rng: &mut Rng, words: usize) -> String {
    let mut out = String::new();
    let mut left = words;
    while left > 0 {
        let n = left.min(9 + rng.below(6));
        let sentence = rng.words(n);
        let mut chars = sentence.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.push_str(chars.as_str());
        }
        out.push_str(". ");
        left -= n;
    }
    out.trim_end().to_string()
}

/// `n` distinct component names.
fn component_names(rng: &mut Rng, n: usize) -> Vec<String> {
    let mut all: Vec<String> = FIRST
        .iter()
        .flat_map(|a| SECOND.iter().map(move |b| format!("{a}-{b}")))
        .collect();
    shuffle(rng, &mut all);
    all.truncate(n);
    all
}

fn shuffle<T>(rng: &mut Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}

/// Words per page of a source.
const PAGE_WORDS: usize = 150;

/// A component's pages: prose, and on the last page its figure and the components it names.
fn component_pages(
    rng: &mut Rng,
    id: &str,
    value: u64,
    pages: usize,
    names: &[String],
) -> Vec<String> {
    let mut out: Vec<String> = (1..pages).map(|_| prose(rng, PAGE_WORDS)).collect();
    let mut last = format!(
        "{} {}.",
        prose(rng, PAGE_WORDS / 2),
        fact_sentence(id, value)
    );
    for name in names {
        last.push(' ');
        last.push_str(&follow_up_sentence(name));
    }
    last.push(' ');
    last.push_str(&prose(rng, PAGE_WORDS / 3));
    out.push(last);
    out
}

fn latency(rng: &mut Rng) -> u64 {
    120 + rng.below(9_000) as u64
}

/// A world of `components` listed components, with `pages` per source; `misread` of them
/// (chosen at random) are sources the model misreads at `percent`, the others are not.
fn survey(
    workload: Workload,
    seed: u64,
    components: usize,
    mut pages: impl FnMut(&mut Rng) -> usize,
    (misread, percent): (usize, u8),
) -> World {
    let mut rng = Rng::new(seed);
    let names = component_names(&mut rng, components);
    let mut misread_ones: Vec<bool> = (0..components).map(|i| i < misread).collect();
    shuffle(&mut rng, &mut misread_ones);
    let mut sources = Vec::new();
    let mut truth = Vec::new();
    for (id, &misread) in names.iter().zip(&misread_ones) {
        let value = latency(&mut rng);
        let n = pages(&mut rng);
        // Draw the prose again until the text is of the kind wanted (a few draws).
        let pages = loop {
            let pages = component_pages(&mut rng, id, value, n, &[]);
            if misreads(&pages.concat(), percent) == misread {
                break pages;
            }
        };
        sources.push(Source {
            id: id.clone(),
            listed: true,
            pages,
        });
        truth.push((id.clone(), value));
    }
    World {
        workload,
        seed,
        goal: survey_goal(),
        search: false,
        sources,
        truth: Truth::Latencies(truth),
        misread_percent: percent,
    }
}

fn survey_goal() -> String {
    format!(
        "Report the measured {METRIC} of every component of the system, in {UNIT}: name each \
component with its figure. The listed sources are a start; a source may name further \
components of the system, and those belong in the answer too."
    )
}

/// Pareto(α = 1.5) pages, 1 to 12: most sources are short, a few take many turns.
fn heavy_tailed_pages(rng: &mut Rng) -> usize {
    let u = (rng.below(1_000_000) as f64 + 1.0) / 1_000_001.0;
    (u.powf(-1.0 / 1.5).floor() as usize).clamp(1, 12)
}

fn follow_ups(seed: u64, levels: [usize; 3]) -> World {
    let mut rng = Rng::new(seed);
    let total: usize = levels.iter().sum();
    let names = component_names(&mut rng, total);
    // Parent of each component below the first level: a random one of the level above.
    let mut children: Vec<Vec<String>> = vec![Vec::new(); total];
    let mut start = 0;
    for pair in 0..levels.len() - 1 {
        let (above, below) = (levels[pair], levels[pair + 1]);
        for j in 0..below {
            let parent = start + rng.below(above);
            children[parent].push(names[start + above + j].clone());
        }
        start += above;
    }
    let mut sources = Vec::new();
    let mut truth = Vec::new();
    for (i, id) in names.iter().enumerate() {
        let value = latency(&mut rng);
        let pages = 1 + rng.below(2);
        sources.push(Source {
            id: id.clone(),
            listed: i < levels[0],
            pages: component_pages(&mut rng, id, value, pages, &children[i]),
        });
        truth.push((id.clone(), value));
    }
    World {
        workload: Workload::FollowUps,
        seed,
        goal: survey_goal(),
        search: false,
        sources,
        truth: Truth::Latencies(truth),
        misread_percent: 0,
    }
}

fn dead_ends(seed: u64, causes: usize) -> World {
    let mut rng = Rng::new(seed);
    let mut names: Vec<&str> = CAUSES.to_vec();
    shuffle(&mut rng, &mut names);
    names.truncate(causes.min(CAUSES.len()));
    let root = rng.below(names.len());
    let sources = names
        .iter()
        .enumerate()
        .map(|(i, cause)| {
            let steps = 2 + rng.below(3);
            let mut pages: Vec<String> = (1..steps)
                .map(|_| {
                    format!(
                        "Rebuilt the nightly job with {cause} reverted; {} No verdict yet.",
                        prose(&mut rng, 60)
                    )
                })
                .collect();
            pages.push(format!(
                "{} {}",
                prose(&mut rng, 40),
                verdict_sentence(cause, i == root)
            ));
            Source {
                id: cause.to_string(),
                listed: true,
                pages,
            }
        })
        .collect();
    World {
        workload: Workload::DeadEnds,
        seed,
        goal: "Find the root cause of the failing nightly build: exactly one of the candidate \
causes listed in the workspace is the root cause. Name it."
            .to_string(),
        search: true,
        sources,
        truth: Truth::RootCause(names[root].to_string()),
        misread_percent: 0,
    }
}

impl World {
    pub fn generate(workload: Workload, seed: u64, scale: Scale) -> World {
        match workload {
            Workload::Independent => survey(workload, seed, scale.parts, |_| 1, (0, 0)),
            Workload::Stragglers => survey(
                workload,
                seed,
                scale.straggler_parts,
                heavy_tailed_pages,
                (0, 0),
            ),
            Workload::Fabrications => {
                let share = (scale.parts * MISREAD_PERCENT as usize).div_ceil(100);
                survey(workload, seed, scale.parts, |_| 1, (share, MISREAD_PERCENT))
            }
            Workload::FollowUps => follow_ups(seed, scale.levels),
            Workload::DeadEnds => dead_ends(seed, scale.causes),
        }
    }

    pub fn source(&self, id: &str) -> Option<&Source> {
        let id = id.trim();
        let id = id.strip_prefix("test:").unwrap_or(id);
        self.sources.iter().find(|s| s.id == id)
    }

    pub fn listed(&self) -> impl Iterator<Item = &Source> {
        self.sources.iter().filter(|s| s.listed)
    }

    /// Pages (or test steps) in the whole world: the reading work it holds.
    pub fn pages(&self) -> usize {
        self.sources.iter().map(|s| s.pages.len()).sum()
    }

    /// The units of work the answer needs: components, or candidate causes.
    pub fn parts(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worlds_have_their_shape_and_hold_their_truth() {
        for workload in Workload::ALL {
            let world = World::generate(workload, workload.default_seed(), Scale::FULL);
            let again = World::generate(workload, workload.default_seed(), Scale::FULL);
            assert_eq!(world.truth, again.truth, "{}", workload.name());
            match &world.truth {
                Truth::Latencies(values) => {
                    for (id, value) in values {
                        let text = world.source(id).unwrap().pages.join(" ");
                        assert!(text.contains(&fact_sentence(id, *value)));
                    }
                }
                Truth::RootCause(cause) => {
                    let last = world.source(cause).unwrap().pages.last().unwrap().clone();
                    assert!(last.contains("confirmed as the root cause"));
                }
            }
            for s in &world.sources {
                let text = s.pages.join(" ");
                assert!(!text.contains("  "), "{text}");
            }
        }
        let follow = World::generate(Workload::FollowUps, 3, Scale::FULL);
        assert_eq!(follow.sources.len(), 20);
        assert_eq!(follow.listed().count(), 4);
        let fab = World::generate(Workload::Fabrications, 5, Scale::FULL);
        let misread = fab
            .sources
            .iter()
            .filter(|s| misreads(&s.pages.concat(), fab.misread_percent))
            .count();
        assert_eq!(misread, 4, "exactly a quarter of 16");
        let tail = World::generate(Workload::Stragglers, 4, Scale::FULL);
        let longest = tail.sources.iter().map(|s| s.pages.len()).max().unwrap();
        assert!(longest >= 4, "a heavy tail: {longest}");
    }
}
