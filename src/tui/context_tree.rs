//! The shared-context tree: groups of points, each point opening to its summary and then
//! to its evidence (the same three levels of disclosure the agents have).
//!
//! The tree is flattened into rows that hold only ids; the rows are rebuilt when points,
//! grouping, filter, open state or width change, and the pane styles only the rows on
//! screen. Selection is kept by node id so it survives rebuilds.

use crate::event::{PointKind, PointStatus, PointView, RunState};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Grouping {
    #[default]
    Kind,
    Task,
}

/// A section of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Group {
    Constraints,
    Findings,
    Partials,
    Failures,
    Verifying,
    Rejected,
    Task(String),
    NoTask,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NodeId {
    Group(Group),
    Point(String),
    /// Line `n` of a point's wrapped summary (only line 0 is selectable).
    Summary(String, usize),
    Evidence(String, usize),
}

impl NodeId {
    /// The point this node belongs to, if any.
    pub fn point(&self) -> Option<&str> {
        match self {
            NodeId::Group(_) => None,
            NodeId::Point(p) | NodeId::Summary(p, _) | NodeId::Evidence(p, _) => Some(p),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub node: NodeId,
    pub depth: u16,
    /// Pre-wrapped text for summary lines; other rows are styled from the run state.
    pub text: Option<String>,
    /// Number of points under a group row.
    pub count: usize,
}

impl Row {
    pub fn selectable(&self) -> bool {
        !matches!(self.node, NodeId::Summary(_, n) if n > 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct BuildKey {
    points_version: u64,
    width: u16,
    filter: String,
    grouping: Grouping,
    open_version: u64,
}

#[derive(Debug, Clone, Default)]
pub struct ContextTree {
    pub grouping: Grouping,
    open_summary: HashSet<String>,
    open_evidence: HashSet<String>,
    closed_groups: HashSet<Group>,
    open_version: u64,
    rows: Vec<Row>,
    built: Option<BuildKey>,
    selected: Option<NodeId>,
    selected_index: usize,
    pub offset: usize,
}

impl ContextTree {
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    pub fn selected_index(&self) -> Option<usize> {
        (!self.rows.is_empty()).then_some(self.selected_index)
    }

    pub fn selected(&self) -> Option<&NodeId> {
        self.rows.get(self.selected_index).map(|r| &r.node)
    }

    pub fn selected_point(&self) -> Option<&str> {
        self.selected().and_then(NodeId::point)
    }

    pub fn is_open(&self, node: &NodeId) -> bool {
        match node {
            NodeId::Group(g) => !self.closed_groups.contains(g),
            NodeId::Point(p) => self.open_summary.contains(p),
            _ => false,
        }
    }

    /// Rebuild the rows if anything they depend on changed.
    pub fn refresh(&mut self, run: &RunState, points_version: u64, filter: &str, width: u16) {
        let key = BuildKey {
            points_version,
            width,
            filter: filter.to_string(),
            grouping: self.grouping,
            open_version: self.open_version,
        };
        if self.built.as_ref() == Some(&key) {
            return;
        }
        self.rows = self.build(run, filter, width);
        self.built = Some(key);
        self.reselect();
    }

    fn invalidate(&mut self) {
        self.open_version += 1;
    }

    fn reselect(&mut self) {
        if self.rows.is_empty() {
            self.selected_index = 0;
            return;
        }
        let found = self
            .selected
            .as_ref()
            .and_then(|sel| self.rows.iter().position(|r| &r.node == sel));
        self.selected_index = match found {
            Some(i) => i,
            None => self.selected_index.min(self.rows.len() - 1),
        };
        // Never rest on a continuation line.
        while self.selected_index > 0 && !self.rows[self.selected_index].selectable() {
            self.selected_index -= 1;
        }
        self.selected = Some(self.rows[self.selected_index].node.clone());
    }

    pub fn select_index(&mut self, index: usize) {
        if self.rows.is_empty() {
            return;
        }
        self.selected_index = index.min(self.rows.len() - 1);
        while self.selected_index > 0 && !self.rows[self.selected_index].selectable() {
            self.selected_index -= 1;
        }
        self.selected = Some(self.rows[self.selected_index].node.clone());
    }

    /// Move by `delta` selectable rows (negative is up).
    pub fn move_by(&mut self, delta: isize) {
        if self.rows.is_empty() {
            return;
        }
        let mut i = self.selected_index as isize;
        let mut left = delta.unsigned_abs();
        let step = delta.signum();
        while left > 0 {
            let mut j = i + step;
            while j >= 0 && (j as usize) < self.rows.len() && !self.rows[j as usize].selectable() {
                j += step;
            }
            if j < 0 || j as usize >= self.rows.len() {
                break;
            }
            i = j;
            left -= 1;
        }
        self.select_index(i as usize);
    }

    pub fn select_point(&mut self, id: &str) {
        let node = NodeId::Point(id.to_string());
        // Make sure its group is open so the row exists after the next refresh.
        self.closed_groups.clear();
        self.invalidate();
        self.selected = Some(node);
    }

    /// Disclose one more level of the selected node.
    pub fn expand(&mut self) {
        let Some(node) = self.selected().cloned() else {
            return;
        };
        match node {
            NodeId::Group(g) => {
                self.closed_groups.remove(&g);
            }
            NodeId::Point(p) | NodeId::Summary(p, _) => {
                if !self.open_summary.insert(p.clone()) {
                    self.open_evidence.insert(p);
                }
            }
            NodeId::Evidence(..) => return,
        }
        self.invalidate();
    }

    /// Hide one level: evidence, then summary; on a child row, go to its parent.
    pub fn collapse(&mut self) {
        let Some(node) = self.selected().cloned() else {
            return;
        };
        match node {
            NodeId::Group(g) => {
                self.closed_groups.insert(g);
            }
            NodeId::Point(p) => {
                if !self.open_evidence.remove(&p) && !self.open_summary.remove(&p) {
                    self.select_parent_group();
                    return;
                }
            }
            NodeId::Summary(p, _) | NodeId::Evidence(p, _) => {
                self.selected = Some(NodeId::Point(p));
                self.reselect();
                return;
            }
        }
        self.invalidate();
    }

    fn select_parent_group(&mut self) {
        let parent = self.rows[..self.selected_index]
            .iter()
            .rposition(|r| matches!(r.node, NodeId::Group(_)));
        if let Some(i) = parent {
            self.select_index(i);
        }
    }

    pub fn toggle_grouping(&mut self) {
        self.grouping = match self.grouping {
            Grouping::Kind => Grouping::Task,
            Grouping::Task => Grouping::Kind,
        };
        self.closed_groups.clear();
    }

    fn build(&self, run: &RunState, filter: &str, width: u16) -> Vec<Row> {
        let filter = filter.to_lowercase();
        let visible = |p: &&PointView| filter.is_empty() || point_matches(p, &filter);
        let mut groups: Vec<(Group, Vec<&PointView>)> = Vec::new();
        let constraints: Vec<&PointView> = run
            .points
            .iter()
            .filter(|p| p.point.kind == PointKind::Constraint && p.status != PointStatus::Rejected)
            .filter(visible)
            .collect();
        groups.push((Group::Constraints, constraints));
        let others = || {
            run.points
                .iter()
                .filter(|p| {
                    !(p.point.kind == PointKind::Constraint && p.status != PointStatus::Rejected)
                })
                .filter(visible)
        };
        match self.grouping {
            Grouping::Kind => {
                let verified = |kind: PointKind| {
                    others()
                        .filter(move |p| p.status == PointStatus::Verified && p.point.kind == kind)
                        .collect::<Vec<_>>()
                };
                groups.push((Group::Findings, verified(PointKind::Finding)));
                groups.push((Group::Partials, verified(PointKind::Partial)));
                groups.push((Group::Failures, verified(PointKind::Failure)));
                groups.push((
                    Group::Verifying,
                    others()
                        .filter(|p| p.status == PointStatus::Proposed)
                        .collect(),
                ));
                groups.push((
                    Group::Rejected,
                    others()
                        .filter(|p| p.status == PointStatus::Rejected)
                        .collect(),
                ));
            }
            Grouping::Task => {
                // One pass over the points, then tasks in queue order.
                let mut by_task: HashMap<&str, Vec<&PointView>> = HashMap::new();
                let mut no_task = Vec::new();
                for p in others() {
                    match p.point.task.as_deref().filter(|t| run.task(t).is_some()) {
                        Some(task) => by_task.entry(task).or_default().push(p),
                        None => no_task.push(p),
                    }
                }
                for task in &run.tasks {
                    let points = by_task.remove(task.id.as_str()).unwrap_or_default();
                    groups.push((Group::Task(task.id.clone()), points));
                }
                groups.push((Group::NoTask, no_task));
            }
        }

        // Summary rows are indented by 9 columns inside the border (see the context pane).
        let text_width = usize::from(width).saturating_sub(10).max(16);
        let mut rows = Vec::new();
        for (group, points) in groups {
            if points.is_empty() {
                continue;
            }
            let open = !self.closed_groups.contains(&group);
            rows.push(Row {
                node: NodeId::Group(group),
                depth: 0,
                text: None,
                count: points.len(),
            });
            if !open {
                continue;
            }
            for p in points {
                let id = &p.point.id;
                rows.push(Row {
                    node: NodeId::Point(id.clone()),
                    depth: 1,
                    text: None,
                    count: 0,
                });
                if !self.open_summary.contains(id) {
                    continue;
                }
                let summary = if p.point.summary.trim().is_empty() {
                    "(no summary)".to_string()
                } else {
                    p.point.summary.clone()
                };
                for (n, line) in wrap(&summary, text_width).into_iter().enumerate() {
                    rows.push(Row {
                        node: NodeId::Summary(id.clone(), n),
                        depth: 2,
                        text: Some(line),
                        count: 0,
                    });
                }
                if self.open_evidence.contains(id) {
                    for n in 0..p.point.evidence.len() {
                        rows.push(Row {
                            node: NodeId::Evidence(id.clone(), n),
                            depth: 2,
                            text: None,
                            count: 0,
                        });
                    }
                }
            }
        }
        rows
    }
}

fn point_matches(p: &PointView, filter: &str) -> bool {
    let pt = &p.point;
    [
        pt.id.as_str(),
        pt.headline.as_str(),
        pt.summary.as_str(),
        pt.author.as_str(),
        pt.task.as_deref().unwrap_or(""),
    ]
    .iter()
    .any(|s| s.to_lowercase().contains(filter))
}

/// Greedy word wrap by characters (good enough for prose summaries).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let needed =
                line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
            if needed > width && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Evidence, Point};

    fn run() -> RunState {
        let point = |id: &str, kind| Point {
            id: id.into(),
            kind,
            headline: format!("headline {id}"),
            summary: "a summary that is long enough to wrap over more than one line here".into(),
            evidence: vec![Evidence {
                source: "src/a.rs".into(),
                lines: Some("1-2".into()),
                quote: "fn a".into(),
                resolved: None,
            }],
            author: "a1".into(),
            task: None,
            supersedes: None,
        };
        let events = [
            Event::PointProposed {
                point: point("P1", PointKind::Finding),
            },
            Event::PointVerified {
                point: "P1".into(),
                note: None,
                evidence: None,
            },
            Event::PointProposed {
                point: point("P2", PointKind::Failure),
            },
            Event::PointRejected {
                point: "P2".into(),
                reason: "no".into(),
            },
            Event::ConstraintAdded {
                point: point("C1", PointKind::Constraint),
            },
        ];
        let envs = crate::event::numbered(events);
        RunState::from_events(&envs)
    }

    #[test]
    fn constraints_are_pinned_first_and_rejected_last() {
        let mut tree = ContextTree::default();
        tree.refresh(&run(), 1, "", 60);
        let groups: Vec<_> = tree
            .rows()
            .iter()
            .filter_map(|r| match &r.node {
                NodeId::Group(g) => Some(g.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            groups,
            vec![Group::Constraints, Group::Findings, Group::Rejected]
        );
    }

    #[test]
    fn expand_discloses_summary_then_evidence_and_collapse_reverses() {
        let run = run();
        let mut tree = ContextTree::default();
        tree.refresh(&run, 1, "", 40);
        tree.move_by(3); // C-group, C1, F-group, P1
        assert_eq!(tree.selected(), Some(&NodeId::Point("P1".into())));
        tree.expand();
        tree.refresh(&run, 1, "", 40);
        let summary_rows = tree
            .rows()
            .iter()
            .filter(|r| matches!(r.node, NodeId::Summary(..)))
            .count();
        assert!(summary_rows >= 2, "summary wraps at width 40");
        tree.expand();
        tree.refresh(&run, 1, "", 40);
        assert!(
            tree.rows()
                .iter()
                .any(|r| r.node == NodeId::Evidence("P1".into(), 0))
        );
        // Moving down skips summary continuation lines.
        tree.move_by(1);
        assert_eq!(tree.selected(), Some(&NodeId::Summary("P1".into(), 0)));
        tree.move_by(1);
        assert_eq!(tree.selected(), Some(&NodeId::Evidence("P1".into(), 0)));
        tree.collapse();
        tree.refresh(&run, 1, "", 40);
        assert_eq!(tree.selected(), Some(&NodeId::Point("P1".into())));
        tree.collapse();
        tree.collapse();
        tree.refresh(&run, 1, "", 40);
        assert!(
            !tree
                .rows()
                .iter()
                .any(|r| r.node.point() == Some("P1") && !matches!(r.node, NodeId::Point(_)))
        );
    }

    #[test]
    fn filter_keeps_matching_points_only() {
        let mut tree = ContextTree::default();
        tree.refresh(&run(), 1, "c1", 60);
        assert_eq!(tree.rows().len(), 2);
    }
}
