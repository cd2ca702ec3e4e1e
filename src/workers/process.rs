//! A worker's process: its environment, its private directory, its stderr tail, how it
//! ended, and killing its process group.

use super::Prepared;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Bytes of a worker's stderr kept for its report (the tail).
const STDERR_TAIL: usize = 2_000;
/// How long a worker gets to exit on SIGTERM before its group is killed.
pub(super) const KILL_GRACE: Duration = Duration::from_secs(3);

/// Write `text` to a new file only the user can read (mode 0600).
pub(super) fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The user's environment without anything that looks secret (`delm` sealed those at start;
/// the filter holds for a library caller too), proxies kept, plus this CLI's own login
/// variables (`login` reads them from the sealed store) and what delm sets for it.
pub(super) fn child_env(
    user: impl IntoIterator<Item = (OsString, OsString)>,
    login: impl Fn(&str) -> Option<String>,
    prepared: &Prepared,
    extra: &[(String, String)],
) -> Vec<(OsString, OsString)> {
    use crate::secrets::{is_proxy_var, looks_secret};
    let mut env: Vec<_> = user
        .into_iter()
        .filter(|(name, value)| is_proxy_var(name) || !looks_secret(name, value))
        .collect();
    for name in prepared.login_vars {
        if let Some(value) = login(name) {
            env.push((name.into(), value.into()));
        }
    }
    for (name, value) in extra.iter().chain(&prepared.env) {
        env.push((name.into(), value.into()));
    }
    env
}

/// The last [`STDERR_TAIL`] bytes of a worker's stderr.
pub(super) async fn read_tail(stderr: Option<tokio::process::ChildStderr>) -> String {
    let Some(mut stderr) = stderr else {
        return String::new();
    };
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 8192];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 2 * STDERR_TAIL {
            tail.drain(..tail.len() - STDERR_TAIL);
        }
    }
    let start = tail.len().saturating_sub(STDERR_TAIL);
    String::from_utf8_lossy(&tail[start..]).into_owned()
}

/// "exit code 1: <its last stderr line>", redacted later with the event.
pub(super) fn describe_exit(status: std::io::Result<ExitStatus>, stderr: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            _ => "ended".to_string(),
        },
        Err(e) => format!("lost: {e}"),
    };
    match stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => format!(
            "{how}: {}",
            crate::text::escape_controls(&crate::text::clip(line, 300))
        ),
        None => how,
    }
}

/// SIGTERM to the worker's process group, SIGKILL after [`KILL_GRACE`].
pub(super) async fn kill_group(pid: Option<u32>, child: &mut tokio::process::Child) {
    let Some(pid) = pid else { return };
    signal_group(pid, libc::SIGTERM);
    if tokio::time::timeout(KILL_GRACE, child.wait())
        .await
        .is_err()
    {
        signal_group(pid, libc::SIGKILL);
        let _ = child.wait().await;
    }
}

pub(super) fn signal_group(pid: u32, signal: libc::c_int) {
    if let Ok(pgid) = libc::pid_t::try_from(pid) {
        // SAFETY: killpg only sends a signal; the group was made for this worker
        // (process_group(0) makes the child's pid its group id).
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

/// On Linux, the worker is killed when delm dies, even by SIGKILL (when delm exits
/// normally it stops its workers itself). The signal follows the thread that spawned the
/// child: a runtime worker thread, which lives as long as the runtime.
pub(super) fn die_with_parent(command: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    // SAFETY: the closure runs between fork and exec and only calls prctl, which is
    // async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// A directory only the user can enter (mode 0700), removed when the worker is done.
pub(super) struct PrivateDir(pub(super) PathBuf);

impl PrivateDir {
    pub(super) fn create(handle: &str) -> Result<PrivateDir, String> {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| format!("no randomness for a directory: {e}"))?;
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!(
            "delm-worker-{}-{handle}-{suffix}",
            std::process::id()
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&dir)
            .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        Ok(PrivateDir(dir))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_gets_no_secret_but_its_own_login() {
        let prepared = Prepared {
            args: Vec::new(),
            env: vec![("DELM_MCP_TOKEN".into(), "delm_t".into())],
            login_vars: &["ANTHROPIC_API_KEY"],
        };
        let user = [
            ("PATH", "/usr/bin"),
            ("GITHUB_TOKEN", "ghp_0123456789abcdefghij"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("HTTPS_PROXY", "http://user:pw@proxy:3128"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let login = |name: &str| (name == "ANTHROPIC_API_KEY").then(|| "sk-ant-user".to_string());
        let env = child_env(user, login, &prepared, &[]);
        let names: Vec<String> = env
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["PATH", "HTTPS_PROXY", "ANTHROPIC_API_KEY", "DELM_MCP_TOKEN"]
        );
    }
}
