//! The assembled result in words: one line for the terminal and the story, the summary at
//! the top of `<session>.patch` (lines starting with `# `, which `git apply` skips), and
//! the conflicts report for the human.

use crate::event::{AssembledResult, PatchLeftOut, PatchRef, RunState};
use crate::text::{clip, escape_controls, one_line};
use std::fmt::Write;

fn named(p: &PatchRef) -> String {
    format!("{} by {}", p.point, p.agent)
}

fn list(items: impl Iterator<Item = String>) -> String {
    clip(&items.collect::<Vec<_>>().join(", "), 200)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How the checks on the assembled files went, in a few words.
pub fn checks_line(result: &AssembledResult) -> String {
    if let Some(failed) = result.checks.iter().find(|c| !c.passed()) {
        return format!(
            "checks FAILED on the assembled files: {} `{}` {}",
            failed.run,
            clip(&one_line(&failed.cmd), 80),
            failed.ending
        );
    }
    match &result.note {
        Some(note) => format!("not verified together: {note}"),
        None if result.checks.is_empty() => "no check to run".to_string(),
        None => format!(
            "{} passed on the assembled files",
            plural(result.checks.len(), "check", "checks")
        ),
    }
}

/// One line: what was merged, how its checks went, what was kept out.
pub fn headline(result: &AssembledResult) -> String {
    let mut line = if result.merged.is_empty() {
        match &result.note {
            Some(note) => format!("nothing merged ({note})"),
            None => "nothing merged".to_string(),
        }
    } else {
        format!(
            "{} merged ({}) · {}",
            plural(result.merged.len(), "patch", "patches"),
            list(result.merged.iter().map(named)),
            checks_line(result)
        )
    };
    if !result.conflicts.is_empty() {
        let _ = write!(
            line,
            " · {} kept out ({})",
            plural(result.conflicts.len(), "conflict", "conflicts"),
            list(result.conflicts.iter().map(|c| named(&c.patch)))
        );
    }
    if !result.left_out.is_empty() {
        let _ = write!(line, " · {} left out", result.left_out.len());
    }
    line
}

/// A point's headline on one line, escaped (it is model text).
fn headline_of(state: &RunState, point: &str) -> String {
    state.point(point).map_or_else(String::new, |p| {
        format!(
            ": {}",
            clip(&escape_controls(&one_line(&p.point.headline)), 160)
        )
    })
}

/// The summary block of `<session>.patch`: whose work it holds (points, agents, the checks
/// that verified each), the checks on the assembled files, and what is not in it. Every
/// line starts with `# `, so `git apply` reads past it.
pub fn summary(result: &AssembledResult, state: &RunState, conflicts_file: Option<&str>) -> String {
    let mut out = Vec::new();
    out.push(format!(
        "delm: the assembled result of run {}",
        state.run_id
    ));
    out.push(format!(
        "{}; {}.",
        plural(
            result.merged.len(),
            "verified patch merged",
            "verified patches merged"
        ),
        checks_line(result)
    ));
    out.push(String::new());
    if !result.merged.is_empty() {
        out.push("Merged, in this order:".into());
    }
    for m in &result.merged {
        out.push(format!(
            "  {} ({}){}",
            named(m),
            m.reference,
            headline_of(state, &m.point)
        ));
        let pinned = state.patches.iter().find(|p| p.reference == m.reference);
        for c in pinned.iter().flat_map(|p| &p.checks) {
            out.push(format!(
                "    verified by {} `{}` ({}{})",
                c.run,
                clip(&one_line(&c.cmd), 100),
                c.ending,
                if c.remote { ", on its worker" } else { "" }
            ));
        }
    }
    if !result.checks.is_empty() {
        let short: String = result.tree.chars().take(10).collect();
        out.push(format!("Checks on the assembled files (tree {short}):"));
        for c in &result.checks {
            out.push(format!(
                "  {} `{}` {}",
                c.run,
                clip(&one_line(&c.cmd), 100),
                if c.reused {
                    format!("reused: it {} on identical files", c.ending)
                } else {
                    c.ending.clone()
                }
            ));
        }
    }
    let mut left = |title: String, items: &[PatchLeftOut]| {
        if items.is_empty() {
            return;
        }
        out.push(title);
        for l in items {
            out.push(format!("  {}: {}", named(&l.patch), one_line(&l.reason)));
        }
    };
    left(
        match conflicts_file {
            Some(file) => format!("Kept out as conflicts (not in this patch; see {file}):"),
            None => "Kept out as conflicts (not in this patch):".to_string(),
        },
        &result.conflicts,
    );
    left("Left out:".to_string(), &result.left_out);
    let mut text = String::new();
    for line in out {
        let line = escape_controls(&line);
        text.push_str(if line.is_empty() { "#" } else { "# " });
        text.push_str(&line);
        text.push('\n');
    }
    text.push('\n');
    text
}

/// The conflicts report (`<session>.conflicts`): each patch kept out, why, where it
/// overlaps the result (as git marks it), and its whole diff, to resolve by hand.
pub fn conflicts_report(result: &AssembledResult, state: &RunState) -> String {
    let mut out = format!(
        "delm: verified patches kept out of the assembled result of run {}.\nThey overlap \
         what was delivered; --apply never applies them. Each is shown where it conflicts \
         (<<<<<<< the delivered side, ||||||| the repository, >>>>>>> the patch kept out), \
         then whole.\n",
        state.run_id
    );
    for c in &result.conflicts {
        let _ = write!(
            out,
            "\n== {} ({}){} ==\nwhy: {}\n",
            named(&c.patch),
            c.patch.reference,
            headline_of(state, &c.patch.point),
            c.reason
        );
        for f in &c.files {
            let _ = write!(out, "\n--- {}\n{}", f.path, f.text);
        }
        if let Some(p) = state
            .patches
            .iter()
            .find(|p| p.reference == c.patch.reference)
        {
            let _ = write!(out, "\nits patch:\n{}", p.diff);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{CheckRun, ConflictFile};

    fn patch(point: &str, agent: &str) -> PatchRef {
        PatchRef {
            point: point.into(),
            agent: agent.into(),
            reference: format!("patch:{agent}@0123456789"),
        }
    }

    fn result() -> AssembledResult {
        AssembledResult {
            patch: "diff --git a/x b/x\n".into(),
            tree: "4b825dc642cb6eb9a060e54bf8d69288fbee4904".into(),
            merged: vec![patch("P2", "a1"), patch("P5", "a2")],
            conflicts: vec![PatchLeftOut {
                patch: patch("P7", "a3"),
                reason: "it changes the same lines as P2 by a1 in `x`".into(),
                files: vec![ConflictFile {
                    path: "x".into(),
                    text: "@@ lines 1-5 @@\n<<<<<<< P2 by a1 (delivered)\n".into(),
                }],
            }],
            left_out: Vec::new(),
            checks: vec![CheckRun {
                run: "c9".into(),
                cmd: "make test".into(),
                tree: "4b825dc642".into(),
                exit: Some(0),
                ending: "exited with 0 after 1.0 s".into(),
                timeout_s: 60,
                reused: false,
                output: String::new(),
                remote: false,
            }],
            note: None,
        }
    }

    #[test]
    fn the_headline_and_the_summary_say_whose_work_it_holds() {
        let r = result();
        assert_eq!(
            headline(&r),
            "2 patches merged (P2 by a1, P5 by a2) · 1 check passed on the assembled files · \
             1 conflict kept out (P7 by a3)"
        );
        let s = summary(&r, &RunState::default(), Some("run.conflicts"));
        assert!(
            s.trim_end()
                .lines()
                .all(|l| l == "#" || l.starts_with("# ")),
            "{s}"
        );
        assert!(s.contains("#   P5 by a2 (patch:a2@0123456789)"), "{s}");
        assert!(
            s.contains("#   c9 `make test` exited with 0 after 1.0 s"),
            "{s}"
        );
        assert!(s.contains("see run.conflicts"), "{s}");
        let mut failed = r.clone();
        failed.checks[0].exit = Some(1);
        failed.checks[0].ending = "exited with 1 after 1.0 s".into();
        assert!(headline(&failed).contains("checks FAILED on the assembled files: c9"));
        let report = conflicts_report(&r, &RunState::default());
        assert!(
            report.contains("== P7 by a3 (patch:a3@0123456789) =="),
            "{report}"
        );
        assert!(report.contains("--- x\n@@ lines 1-5 @@"), "{report}");
    }
}
