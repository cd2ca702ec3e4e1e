//! Running one shell command for an agent: `sh -c` (inside bubblewrap with `--sandbox
//! bwrap`), no stdin, a scrubbed environment, a timeout, and output captured as head + tail.
//!
//! When the command ends, times out or its agent's task is cancelled, everything it started
//! ends with it: its process group is killed, then every process carrying its marker (see
//! `sweep`: this catches `setsid` escapes), and under bubblewrap its pid namespace goes
//! with the sandbox's first process.

use super::jail::{self, Jail};
use super::sweep;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bytes kept from the start and from the end of a command's output.
const KEEP_HEAD: usize = 64 * 1024;
const KEEP_TAIL: usize = 64 * 1024;
/// How long to wait for the output pipe to close after the command ended.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How a command ended (a worker ships it with the run's record, see `records`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    Exited(i32),
    /// Ended by a signal it did not ask for (not our timeout).
    Signaled(i32),
    /// Still running at the deadline; its process group was killed.
    TimedOut,
}

/// The outcome of one command.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub ending: Ending,
    pub duration: Duration,
    /// Combined stdout and stderr, in the order written, as head + tail when long.
    pub output: String,
    /// Total bytes the command wrote.
    pub output_bytes: usize,
}

/// Run `cmd` with `sh -c` in `cwd`, with exactly the environment `env` (plus the sweep's
/// marker), inside `jail` when one is given.
pub(crate) async fn run(
    cmd: &str,
    cwd: &Path,
    timeout: Duration,
    env: &[(OsString, OsString)],
    jail: Option<&Jail>,
) -> Result<Outcome, String> {
    let (reader, writer) =
        std::io::pipe().map_err(|e| format!("cannot create a pipe for the output: {e}"))?;
    let started = Instant::now();
    let marker = sweep::new_marker();
    // The command (and its copies of the pipe's write end) is dropped at the end of this
    // block, so the pipe closes as soon as the command and its children are gone.
    let mut child = {
        let stderr = writer
            .try_clone()
            .map_err(|e| format!("cannot create a pipe for the output: {e}"))?;
        let (program, args) = match jail {
            Some(jail) => jail::bwrap_command(jail, cwd, cmd),
            None => ("sh".into(), vec!["-c".into(), cmd.into()]),
        };
        let mut command = tokio::process::Command::new(&program);
        command
            .args(&args)
            .current_dir(cwd)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(sweep::MARKER, &marker)
            .stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(stderr)
            .process_group(0);
        command
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", program.to_string_lossy()))?
    };
    let group = GroupGuard {
        pgid: child.id().map(|pid| pid as i32),
        marker,
        done: false,
    };
    let capture = Arc::new(Mutex::new(Capture::default()));
    let drained = spawn_reader(reader, Arc::clone(&capture));

    let ending = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => ending_of(status),
        Ok(Err(e)) => return Err(format!("waiting for the command failed: {e}")),
        Err(_) => {
            group.kill_group();
            let _ = child.wait().await;
            Ending::TimedOut
        }
    };
    let duration = started.elapsed();
    // Background children the command left behind would keep the pipe open (and keep
    // running in the agent's workspace); they end with it. The sweep reads /proc: off the
    // async workers.
    let mut group = group;
    let _ = tokio::task::spawn_blocking(move || group.kill_all()).await;
    let _ = tokio::time::timeout(DRAIN_GRACE, drained).await;
    let capture = capture.lock().unwrap_or_else(|e| e.into_inner());
    Ok(Outcome {
        ending,
        duration,
        output: capture.text(),
        output_bytes: capture.total,
    })
}

fn ending_of(status: std::process::ExitStatus) -> Ending {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Ending::Exited(code),
        (None, Some(signal)) => Ending::Signaled(signal),
        (None, None) => Ending::Exited(-1),
    }
}

/// Kills what the command started when the run ends (also early: a timeout, or the agent's
/// future dropped because its task was cancelled): its process group, then every process
/// that carries its marker.
struct GroupGuard {
    pgid: Option<i32>,
    marker: String,
    /// Everything was killed already; dropping has nothing left to do.
    done: bool,
}

impl GroupGuard {
    fn kill_group(&self) {
        if let Some(pgid) = self.pgid {
            // SAFETY: killpg only sends a signal; the group was created for this command
            // (process_group(0) makes the child's pid its group id).
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }

    /// The group, then every process with the command's marker (blocking: reads /proc).
    fn kill_all(&mut self) {
        self.kill_group();
        let swept = sweep::kill_marked(&self.marker);
        if swept > 0 {
            tracing::info!(swept, "killed processes a command left outside its group");
        }
        self.done = true;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if !self.done {
            self.kill_all();
        }
    }
}

/// Read the pipe on a plain thread (the read blocks) until every writer closed it.
fn spawn_reader(
    mut reader: std::io::PipeReader,
    capture: Arc<Mutex<Capture>>,
) -> tokio::sync::oneshot::Receiver<()> {
    let (done, drained) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => capture
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = done.send(());
    });
    drained
}

/// The first and last bytes of a stream, and how much was written in all.
#[derive(Default)]
struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: usize,
}

impl Capture {
    fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len();
        if self.head.len() < KEEP_HEAD {
            let take = bytes.len().min(KEEP_HEAD - self.head.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        self.tail.extend(bytes);
        let excess = self.tail.len().saturating_sub(KEEP_TAIL);
        self.tail.drain(..excess);
    }

    fn text(&self) -> String {
        let head = String::from_utf8_lossy(&self.head);
        if self.tail.is_empty() {
            return head.into_owned();
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        let cut = self.total - self.head.len() - tail.len();
        let tail = String::from_utf8_lossy(&tail);
        if cut == 0 {
            format!("{head}{tail}")
        } else {
            format!("{head}\n[... {cut} bytes of output cut ...]\n{tail}")
        }
    }
}

/// `text` shortened to about `max` bytes: its start and its end (where errors and test
/// summaries usually are), with a note saying how much was cut.
pub(crate) fn head_and_tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut head_end = max / 3;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len() - (max - head_end);
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    format!(
        "{}\n[... {} bytes cut; narrow the command (grep, tail, -k TEST) to see less ...]\n{}",
        &text[..head_end],
        tail_start - head_end,
        &text[tail_start..]
    )
}

/// Variables that would point git (or another tool) at a different repository, or make a
/// command talk to the terminal delm runs in.
const REDIRECTING: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
];

/// The environment commands run with: `vars` (the parent's) without anything that looks
/// like a secret (by name or value, see [`crate::secrets::looks_secret`]), without any
/// value holding a registered secret (the provider key under another name), without the
/// names in `also_drop` (the provider key variables) and without variables that would
/// redirect git; plus settings for a shell with no terminal.
pub(crate) fn scrubbed_env(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    also_drop: &[String],
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vars
        .into_iter()
        .filter(|(name, value)| {
            let text = name.to_string_lossy();
            !(crate::secrets::looks_secret(name, value)
                || holds_registered_secret(value)
                || also_drop.iter().any(|d| d.eq_ignore_ascii_case(&text))
                || REDIRECTING.contains(&text.as_ref()))
        })
        .collect();
    // No terminal is attached: pagers and credential prompts would wait forever.
    for (name, value) in [
        ("PAGER", "cat"),
        ("GIT_PAGER", "cat"),
        ("GIT_TERMINAL_PROMPT", "0"),
    ] {
        env.retain(|(n, _)| n != name);
        env.push((name.into(), value.into()));
    }
    env.sort();
    env
}

/// Whether `value` contains a secret known to the redaction registry.
fn holds_registered_secret(value: &std::ffi::OsStr) -> bool {
    let text = value.to_string_lossy();
    crate::redact::has_secrets() && crate::redact::redact(&text) != text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn secrets_are_dropped_and_ordinary_variables_kept() {
        // A value equal to a registered secret (the provider key) is dropped whatever its
        // variable is called.
        crate::redact::register("plain-registered-value-0123");
        let env = scrubbed_env(
            vars(&[
                ("PATH", "/usr/bin"),
                ("HOME", "/home/u"),
                ("LANG", "C.UTF-8"),
                ("TERM", "xterm"),
                ("KEYBOARD_LAYOUT", "us"),
                ("OPENAI_API_KEY", "sk-1"),
                ("ANTHROPIC_API_KEY", "sk-2"),
                ("MY_SERVICE_TOKEN", "t"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
                ("AWS_SESSION_TOKEN", "s"),
                ("GITHUB_PAT", "p"),
                ("DB_PASSWORD", "p"),
                ("SSH_AUTH_SOCK", "/tmp/agent"),
                ("DATABASE_URL", "postgres://app:hunter2@db/app"),
                ("DATABASE_URL2", "postgres://db/app?password=hunter2"),
                (
                    "SENTRY_DSN",
                    "https://0123456789abcdef@o1.ingest.sentry.io/1",
                ),
                ("DB_PWD", "hunter2"),
                ("CI_JOB_JWT", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"),
                ("STRIPE_SK", "sk_live_0123456789abcdef"),
                (
                    "SLACK_WEBHOOK_URL",
                    "https://hooks.slack.com/services/T0/B0/x",
                ),
                ("LLM_ALIAS", "plain-registered-value-0123"),
                ("PWD", "/work"),
                ("SERVICE_URL", "https://example.com/x"),
                ("LLM_CONF", "kept"),
                ("GIT_DIR", "/elsewhere/.git"),
                ("PAGER", "less"),
            ]),
            &["LLM_CONF".to_string()],
        );
        let names: Vec<String> = env
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        for kept in [
            "PATH",
            "HOME",
            "LANG",
            "TERM",
            "KEYBOARD_LAYOUT",
            "SERVICE_URL",
            "PWD",
        ] {
            assert!(names.contains(&kept.to_string()), "{kept} was dropped");
        }
        for dropped in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "MY_SERVICE_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "GITHUB_PAT",
            "DB_PASSWORD",
            "SSH_AUTH_SOCK",
            "DATABASE_URL",
            "DATABASE_URL2",
            "SENTRY_DSN",
            "DB_PWD",
            "CI_JOB_JWT",
            "STRIPE_SK",
            "SLACK_WEBHOOK_URL",
            "LLM_ALIAS",
            "LLM_CONF",
            "GIT_DIR",
        ] {
            assert!(!names.contains(&dropped.to_string()), "{dropped} was kept");
        }
        assert!(env.contains(&("PAGER".into(), "cat".into())));
    }

    #[test]
    fn capture_keeps_head_and_tail() {
        let mut c = Capture::default();
        c.push(&vec![b'a'; KEEP_HEAD]);
        c.push(&[b'b'; 10]);
        c.push(&vec![b'c'; KEEP_TAIL]);
        let text = c.text();
        assert!(text.starts_with('a'));
        assert!(text.ends_with('c'));
        assert!(
            text.contains("[... 10 bytes of output cut ...]"),
            "{}",
            &text[..20]
        );
        assert_eq!(c.total, KEEP_HEAD + 10 + KEEP_TAIL);
    }

    #[test]
    fn head_and_tail_marks_the_cut() {
        let text = format!("{}{}", "h".repeat(100), "t".repeat(100));
        let short = head_and_tail(&text, 60);
        assert!(short.starts_with("hhhh"));
        assert!(short.ends_with("tttt"));
        assert!(short.contains("bytes cut"));
        assert_eq!(head_and_tail("small", 60), "small");
    }

    #[tokio::test]
    async fn exit_codes_and_merged_output() {
        let dir = std::env::temp_dir();
        let env = scrubbed_env(std::env::vars_os(), &[]);
        let out = run(
            "echo out; echo err >&2; exit 3",
            &dir,
            Duration::from_secs(10),
            &env,
            None,
        )
        .await
        .unwrap();
        assert_eq!(out.ending, Ending::Exited(3));
        assert!(out.output.contains("out") && out.output.contains("err"));
    }

    #[tokio::test]
    async fn timeout_kills_the_group_and_returns_promptly() {
        let dir = std::env::temp_dir();
        let env = scrubbed_env(std::env::vars_os(), &[]);
        let started = Instant::now();
        let out = run(
            "echo started; sleep 30 & sleep 30",
            &dir,
            Duration::from_millis(300),
            &env,
            None,
        )
        .await
        .unwrap();
        assert_eq!(out.ending, Ending::TimedOut);
        assert!(out.output.contains("started"));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
