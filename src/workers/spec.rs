//! What `--worker KIND:N` names: the CLIs delm can launch, read leniently, and where
//! each one's binary is.

use std::path::PathBuf;

/// Workers one run launches in all.
pub const MAX_WORKERS: usize = 16;

/// A coding-agent CLI delm can launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    ClaudeCode,
    Codex,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::ClaudeCode, Kind::Codex];

    /// Its name in `--worker` and in the config (`[workers.claude-code]`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::ClaudeCode => "claude-code",
            Kind::Codex => "codex",
        }
    }

    /// Its workers' agent ids: `claude-1`, `codex-2`.
    pub(super) fn handle_prefix(self) -> &'static str {
        match self {
            Kind::ClaudeCode => "claude",
            Kind::Codex => "codex",
        }
    }

    /// The binary looked up on PATH when the config names none.
    pub fn default_command(self) -> &'static str {
        match self {
            Kind::ClaudeCode => "claude",
            Kind::Codex => "codex",
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            Kind::ClaudeCode => "npm install -g @anthropic-ai/claude-code",
            Kind::Codex => "npm install -g @openai/codex",
        }
    }

    /// A kind from its name, leniently (`Claude-Code`, `claude_code`, `claude`, `cc`).
    pub fn parse(text: &str) -> Option<Kind> {
        let t: String = text
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        match t.as_str() {
            "claudecode" | "claude" | "cc" => Some(Kind::ClaudeCode),
            "codex" | "codexcli" => Some(Kind::Codex),
            _ => None,
        }
    }
}

/// `--worker KIND:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSpec {
    pub kind: Kind,
    pub count: usize,
}

/// Read `--worker KIND:N` leniently: `claude-code:2`, `codex=1`, ` Codex : 3 `, or a kind
/// alone for one worker.
pub fn parse_spec(text: &str) -> Result<WorkerSpec, String> {
    let (kind_text, count_text) = match text.split_once([':', '=']) {
        Some((k, n)) => (k, Some(n.trim())),
        None => (text, None),
    };
    let kind = Kind::parse(kind_text).ok_or_else(|| {
        format!(
            "--worker `{}`: unknown worker `{}`; use claude-code or codex, e.g. --worker \
             claude-code:2",
            text.trim(),
            kind_text.trim()
        )
    })?;
    let count = match count_text {
        None | Some("") => 1,
        Some(n) => n.parse::<usize>().map_err(|_| {
            format!(
                "--worker `{}`: `{n}` is not a number of workers; write {}:N with N of 1 to \
                 {MAX_WORKERS}",
                text.trim(),
                kind.name()
            )
        })?,
    };
    if !(1..=MAX_WORKERS).contains(&count) {
        return Err(format!(
            "--worker `{}`: the number of workers must be 1 to {MAX_WORKERS}",
            text.trim()
        ));
    }
    Ok(WorkerSpec { kind, count })
}

/// The binary of `kind`: the configured command (a path, or a name on PATH), else its
/// default name on PATH. `Err` says how to install it or point at it.
pub fn resolve_command(kind: Kind, configured: Option<&str>) -> Result<PathBuf, String> {
    let wanted = configured
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .unwrap_or(kind.default_command());
    let found = if wanted.contains('/') {
        Some(PathBuf::from(wanted)).filter(|p| p.is_file())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(wanted))
                .find(|p| p.is_file())
        })
    };
    found.ok_or_else(|| {
        let how = match configured {
            Some(_) => format!("the config's [workers.{}] command", kind.name()),
            None => "PATH".to_string(),
        };
        format!(
            "--worker {}: `{wanted}` was not found (looked in {how}); install it ({}) or set \
             [workers.{}] command = \"/path/to/{}\" in the config file",
            kind.name(),
            kind.install_hint(),
            kind.name(),
            kind.default_command()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_flags_are_read_leniently_with_clear_errors() {
        let spec = |t| parse_spec(t).unwrap();
        assert_eq!(
            spec("claude-code:2"),
            WorkerSpec {
                kind: Kind::ClaudeCode,
                count: 2
            }
        );
        assert_eq!(
            spec(" Codex : 3 "),
            WorkerSpec {
                kind: Kind::Codex,
                count: 3
            }
        );
        assert_eq!(spec("claude_code=1").kind, Kind::ClaudeCode);
        assert_eq!(spec("codex").count, 1);
        let err = parse_spec("cursor:2").unwrap_err();
        assert!(
            err.contains("unknown worker `cursor`") && err.contains("claude-code or codex"),
            "{err}"
        );
        assert!(parse_spec("codex:0").unwrap_err().contains("1 to 16"));
        assert!(parse_spec("codex:99").unwrap_err().contains("1 to 16"));
        assert!(
            parse_spec("codex:two")
                .unwrap_err()
                .contains("not a number")
        );
    }

    #[test]
    fn a_missing_binary_says_how_to_install_it() {
        let err = resolve_command(Kind::Codex, Some("/nonexistent/codex")).unwrap_err();
        assert!(err.contains("[workers.codex] command"), "{err}");
        assert!(err.contains("npm install -g @openai/codex"), "{err}");
        assert!(resolve_command(Kind::ClaudeCode, Some("/bin/sh")).is_ok());
    }
}
