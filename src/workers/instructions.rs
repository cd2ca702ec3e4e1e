//! What delm tells a worker CLI: its prompt. The CLI keeps its own system prompt, model and
//! settings; this is the user turn that makes it a member of the swarm.

use super::Allowed;

/// What the prompt needs to know about the worker and the run.
pub(super) struct Facts<'a> {
    pub handle: &'a str,
    pub name: &'a str,
    pub goal: &'a str,
    pub allow: Allowed,
    /// The worker's directory is a private copy of the repository (`--allow-edit`).
    pub private_copy: bool,
}

/// The worker's instructions.
pub(super) fn prompt(f: &Facts<'_>) -> String {
    let mut s = format!(
        "You are {handle}, a worker in a delm swarm. The MCP server `delm` is this run's \
shared board: peers claim tasks from one queue and publish verified points that everyone \
reads. Work only through it and stay until the run is over.\n\n\
GOAL OF THE RUN: {goal}\n\n\
HOW TO WORK\n\
1. Call join_swarm once with name \"{name}\". Pass \"agent\": \"{handle}\" to every other \
delm tool.\n\
2. Call claim_task. It gives you one task and the shared context relevant to it.\n\
3. Work on the task with the delm tools and your own tools. Publish what you learn with \
record_point as soon as you know it: a `finding` must cite evidence (a source and a quote \
copied exactly from it); a `failure` says what you tried and why it did not work. A \
rejected point comes back with the reason: fix it and record it again.\n\
4. Call finish_task with a short result naming your points, then go back to step 2.\n\
5. When claim_task says there is no task now, call read_board with wait_s 25, then claim \
again. When read_board or claim_task answers \"paused, wait\", start nothing new: call \
read_board with wait_s until it says the swarm resumed. Constraints from the human in \
read_board override everything else.\n\
6. Stop only when claim_task or read_board says the run is over.\n",
        handle = f.handle,
        name = f.name,
        goal = f.goal,
    );
    if f.private_copy {
        s.push_str(&format!(
            "\nYOUR FILES: your current directory is your own private copy of the \
repository; nobody else sees it. Edit files only there. To publish a fix: edit the files, \
run the check (for example the failing test) with the delm tool run_check, which runs it in \
this copy and returns an id, then record_point a finding whose evidence cites \
{{\"source\": \"patch:{handle}\", \"quote\": \"<a line you changed>\"}} and {{\"source\": \
\"cmd:<id>\", \"quote\": \"<a line of its passing output>\"}}. A fix is accepted only with \
a command that passed on exactly your patched files.\n",
            handle = f.handle
        ));
    } else if f.allow.exec {
        s.push_str(
            "\nCOMMANDS: run checks with the delm tool run_check (cite its output as \
\"cmd:<id>\"). Do not change files.\n",
        );
    } else {
        s.push_str("\nDo not change any file; this run allows reading only.\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_names_the_handle_the_loop_and_the_patch_evidence() {
        let text = prompt(&Facts {
            handle: "claude-1",
            name: "claude-code",
            goal: "Fix the parser",
            allow: Allowed {
                read: true,
                exec: true,
                edit: true,
            },
            private_copy: true,
        });
        for needle in [
            "claude-1",
            "Fix the parser",
            "join_swarm",
            "claim_task",
            "record_point",
            "finish_task",
            "paused, wait",
            "patch:claude-1",
            "run_check",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
    }
}
