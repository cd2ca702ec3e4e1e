//! How a command is confined: not at all (it runs as you, in the repository or the agent's
//! copy), or inside bubblewrap (`--sandbox bwrap`).
//!
//! Under bubblewrap the whole file system is mounted read-only, `/tmp` is a private tmpfs,
//! the agent's copy is the one writable place (its `.git` stays read-only, so a command
//! cannot rewrite the baseline a patch is measured against), `/proc` and the pid namespace
//! are private (a command sees only its own processes, not delm's environment), there is no
//! network unless `--allow-net` (a private loopback only), and everything dies with delm
//! (`--die-with-parent`) or when the sandbox's first process is killed (the pid
//! namespace's init takes every process of the namespace with it).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Which confinement commands run in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SandboxKind {
    /// No sandbox: commands run as you, with a scrubbed environment.
    #[default]
    None,
    /// bubblewrap: read-only system, writable copy, private /proc and pids, no network.
    Bwrap,
}

impl SandboxKind {
    /// `none` or `bwrap` (the `--sandbox` values).
    pub fn parse(text: &str) -> Result<SandboxKind, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" | "off" => Ok(SandboxKind::None),
            "bwrap" | "bubblewrap" => Ok(SandboxKind::Bwrap),
            other => Err(format!(
                "unknown sandbox `{}`: use none or bwrap",
                crate::engine::point_args::clip_echo(other)
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SandboxKind::None => "none",
            SandboxKind::Bwrap => "bwrap",
        }
    }
}

/// What one sandboxed command may touch.
#[derive(Debug, Clone)]
pub(crate) struct Jail {
    /// The bubblewrap binary (found once, on delm's PATH: the command's own PATH does not
    /// decide which sandbox runs it).
    pub program: PathBuf,
    /// The one writable directory (the agent's copy), if any.
    pub writable: Option<PathBuf>,
    /// Directories to show read-only even where the sandbox mounts its own (`/tmp`): the
    /// repository when commands run there.
    pub readable: Vec<PathBuf>,
    pub allow_net: bool,
}

const BWRAP: &str = "bwrap";

/// The program and arguments that run `sh -c cmd` in `cwd` inside the jail.
pub(crate) fn bwrap_command(jail: &Jail, cwd: &Path, cmd: &str) -> (OsString, Vec<OsString>) {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&dyn AsRef<std::ffi::OsStr>]| {
        args.extend(items.iter().map(|i| i.as_ref().to_os_string()));
    };
    push(&[&"--ro-bind", &"/", &"/"]);
    push(&[&"--dev", &"/dev"]);
    push(&[&"--proc", &"/proc"]);
    push(&[&"--tmpfs", &"/tmp"]);
    for dir in &jail.readable {
        push(&[&"--ro-bind", dir, dir]);
    }
    if let Some(dir) = &jail.writable {
        push(&[&"--bind", dir, dir]);
        let git = dir.join(".git");
        push(&[&"--ro-bind-try", &git, &git]);
    }
    push(&[&"--chdir", &cwd]);
    push(&[
        &"--unshare-pid",
        &"--unshare-ipc",
        &"--unshare-uts",
        &"--unshare-cgroup-try",
    ]);
    if !jail.allow_net {
        push(&[&"--unshare-net"]);
    }
    push(&[&"--die-with-parent", &"--new-session"]);
    push(&[&"--", &"sh", &"-c", &cmd]);
    (jail.program.clone().into_os_string(), args)
}

/// `bwrap` on delm's PATH.
fn find_bwrap() -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(BWRAP))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The bubblewrap binary, if it can run here (checked once, when a run opens its
/// workspace). The error names the fix.
pub(crate) fn check_bwrap() -> Result<PathBuf, String> {
    let missing = || {
        "--sandbox bwrap needs bubblewrap (`bwrap`), which is not installed or not on PATH: \
         install it (Debian/Ubuntu: `apt-get install bubblewrap`, Fedora: `dnf install \
         bubblewrap`, Arch: `pacman -S bubblewrap`), or run without --sandbox"
            .to_string()
    };
    let program = find_bwrap().ok_or_else(missing)?;
    let probe = std::process::Command::new(&program)
        .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
        .args(["--unshare-pid", "--unshare-net", "--die-with-parent"])
        .args(["--", "true"])
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    match probe {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing()),
        Err(e) => Err(format!(
            "--sandbox bwrap: bubblewrap cannot be started ({e}); check that `bwrap` is \
             executable, or run without --sandbox"
        )),
        Ok(out) if out.status.success() => Ok(program),
        Ok(out) => Err(format!(
            "--sandbox bwrap: bubblewrap is installed but cannot create its namespaces here \
             ({}). Unprivileged user namespaces are probably disabled: allow them (`sysctl \
             kernel.unprivileged_userns_clone=1`; on Ubuntu 24.04 and later also `sysctl \
             kernel.apparmor_restrict_unprivileged_userns=0`), or, in a container, run delm \
             where namespaces are allowed; or run without --sandbox",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Variables a sandboxed command keeps (after the secret scrub): what shells, compilers and
/// test runners need to find their tools, nothing else.
const KEPT_IN_SANDBOX: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "GOPATH",
    "GOROOT",
    "JAVA_HOME",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "PYTHONPATH",
    "NODE_PATH",
    "PAGER",
    "GIT_PAGER",
    "GIT_TERMINAL_PROMPT",
    "PYTHONDONTWRITEBYTECODE",
];

/// The minimal environment of a sandboxed command: the kept variables of `scrubbed`
/// (`LC_*` included), with `TMPDIR` pointing at the sandbox's private `/tmp`.
pub(crate) fn minimal_env(scrubbed: &[(OsString, OsString)]) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = scrubbed
        .iter()
        .filter(|(name, _)| {
            let name = name.to_string_lossy();
            KEPT_IN_SANDBOX.contains(&name.as_ref()) || name.starts_with("LC_")
        })
        .cloned()
        .collect();
    env.push(("TMPDIR".into(), "/tmp".into()));
    env.sort();
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_kinds_parse() {
        assert_eq!(SandboxKind::parse("bwrap").unwrap(), SandboxKind::Bwrap);
        assert_eq!(SandboxKind::parse(" None ").unwrap(), SandboxKind::None);
        assert!(
            SandboxKind::parse("docker")
                .unwrap_err()
                .contains("none or bwrap")
        );
    }

    #[test]
    fn the_copy_is_the_only_writable_place_and_the_net_is_off() {
        let jail = Jail {
            program: PathBuf::from("/usr/bin/bwrap"),
            writable: Some(PathBuf::from("/tmp/w/a1")),
            readable: vec![PathBuf::from("/tmp/repo")],
            allow_net: false,
        };
        let (program, args) = bwrap_command(&jail, Path::new("/tmp/w/a1"), "make test");
        assert_eq!(program, "/usr/bin/bwrap");
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.starts_with("--ro-bind / / --dev /dev --proc /proc --tmpfs /tmp"));
        assert!(joined.contains("--ro-bind /tmp/repo /tmp/repo"));
        assert!(joined.contains("--bind /tmp/w/a1 /tmp/w/a1 --ro-bind-try /tmp/w/a1/.git"));
        assert!(joined.contains("--unshare-pid") && joined.contains("--unshare-net"));
        assert!(joined.contains("--die-with-parent"));
        assert!(joined.ends_with("-- sh -c make test"));
        let open = Jail {
            allow_net: true,
            ..jail
        };
        let (_, args) = bwrap_command(&open, Path::new("/"), "true");
        assert!(!args.iter().any(|a| a == "--unshare-net"));
    }

    #[test]
    fn the_sandbox_environment_is_minimal() {
        let vars: Vec<(OsString, OsString)> = [
            ("PATH", "/bin"),
            ("HOME", "/home/u"),
            ("LC_ALL", "C"),
            ("EDITOR", "vi"),
            ("DISPLAY", ":0"),
        ]
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect();
        let names: Vec<String> = minimal_env(&vars)
            .into_iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["HOME", "LC_ALL", "PATH", "TMPDIR"]);
    }
}
