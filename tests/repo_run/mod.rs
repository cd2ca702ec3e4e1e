#![allow(dead_code)]
//! Repository runs of the real binary (`--repo`, `--allow-exec`, `--allow-edit`): copies
//! of the fixture repositories, their files byte for byte, and a private home for the
//! `delm` process (data, config, logs, and a temp dir that holds the agents' copies).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A copy of `tests/fixtures/<name>` in a fresh temp dir (as `<temp>/<name>`).
pub fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join(name);
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
        &repo,
    );
    (dir, repo)
}

/// (Every test that uses these helpers has the shared `support` module too.)
pub use crate::support::copy_tree;

/// Every file under `dir` with its bytes.
pub fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `python3 -m unittest discover -s tests` in `repo`, without bytecode files.
pub fn unittest(repo: &Path) -> Output {
    Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests"])
        .current_dir(repo)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap()
}

/// `git apply PATCH` in `repo`.
pub fn git_apply(repo: &Path, patch: &Path) -> Output {
    Command::new("git")
        .args(["apply", patch.to_str().unwrap()])
        .current_dir(repo)
        .output()
        .unwrap()
}

/// The fixture `fixture`'s tests fail on a fresh copy and pass once `patch` is applied.
pub fn assert_patch_fixes(fixture: &str, patch: &Path) {
    let (_dir, fresh) = self::fixture(fixture);
    assert!(
        !unittest(&fresh).status.success(),
        "{fixture}'s tests should fail before the patch"
    );
    let applied = git_apply(&fresh, patch);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    let after = unittest(&fresh);
    assert!(after.status.success(), "{}", text(&after.stderr));
}

/// A private home for one `delm` process.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        let home = Home {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(home.tmp()).unwrap();
        home
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The process's temp dir: the agents' copies live here while it runs.
    pub fn tmp(&self) -> PathBuf {
        self.path("tmp")
    }

    /// `delm` with nothing of the caller's environment but `PATH`, its files in this home,
    /// and short retry pauses.
    pub fn delm(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_delm"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("TMPDIR", self.tmp())
            .env("DELM_DATA_DIR", self.path("data"))
            .env("DELM_CONFIG_DIR", self.path("config"))
            .env("DELM_LOG_DIR", self.path("logs"))
            .env("DELM_RETRY_BASE_MS", "20")
            .stdin(Stdio::null());
        cmd
    }
}

/// Wait (up to a generous deadline) until `pid` is gone; `false` if it never went.
pub fn gone_within(pid: i32, deadline: Duration) -> bool {
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

/// Live processes whose command line is exactly `cmdline` (arguments joined by spaces).
pub fn processes_running(cmdline: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let args: Vec<String> = c
                    .split(|&b| b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                args.join(" ") == cmdline
            })
        })
        .filter(|&pid| alive(pid))
        .collect()
}

/// Whether a process exists and is not a zombie waiting to be reaped.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}
