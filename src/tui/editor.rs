//! Opening a cited file at the cited line in the user's editor (`e`, as in lazygit):
//! `$VISUAL`, else `$EDITOR`, else `vi`, with the line argument each editor family expects.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A file and a line to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    /// 1-based; `None` opens the file at its top.
    pub line: Option<usize>,
}

/// The editor command line as the environment names it (`code -w` splits into two words).
pub fn editor_from_env() -> Vec<String> {
    let named = std::env::var("VISUAL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|v| !v.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".to_string());
    named.split_whitespace().map(str::to_string).collect()
}

/// The command that opens `at` in `editor` (program and its own arguments).
pub fn command_for(editor: &[String], at: &Location) -> Option<Command> {
    let (program, fixed) = editor.split_first()?;
    let name = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let path = at.path.display().to_string();
    let mut cmd = Command::new(program);
    cmd.args(fixed);
    match (at.line, name.as_str()) {
        (None, _) => {
            cmd.arg(&path);
        }
        // VS Code and its forks take `-g file:line`; Sublime, Zed, Helix and Kakoune-style
        // `file:line`; everything vi-, emacs-, nano- or micro-like takes `+line file`.
        (Some(line), "code" | "code-insiders" | "codium" | "cursor" | "windsurf") => {
            cmd.arg("-g").arg(format!("{path}:{line}"));
        }
        (Some(line), "subl" | "zed" | "hx" | "helix") => {
            cmd.arg(format!("{path}:{line}"));
        }
        (Some(line), _) => {
            cmd.arg(format!("+{line}")).arg(&path);
        }
    }
    Some(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(editor: &str, line: Option<usize>) -> Vec<String> {
        let editor: Vec<String> = editor.split_whitespace().map(str::to_string).collect();
        let cmd = command_for(
            &editor,
            &Location {
                path: "/r/src/lex.rs".into(),
                line,
            },
        )
        .unwrap();
        std::iter::once(cmd.get_program().to_string_lossy().into_owned())
            .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
            .collect()
    }

    #[test]
    fn each_editor_family_gets_its_line_syntax() {
        assert_eq!(args("vim", Some(141)), ["vim", "+141", "/r/src/lex.rs"]);
        assert_eq!(args("nano", Some(3)), ["nano", "+3", "/r/src/lex.rs"]);
        assert_eq!(
            args("code -w", Some(9)),
            ["code", "-w", "-g", "/r/src/lex.rs:9"]
        );
        assert_eq!(args("hx", Some(9)), ["hx", "/r/src/lex.rs:9"]);
        assert_eq!(args("vi", None), ["vi", "/r/src/lex.rs"]);
    }
}
