//! Finding every process a command started, wherever it went.
//!
//! A process-group kill misses what left the group: `setsid sleep 1000 &` starts a new
//! session, and once the shell exits its orphan is re-parented away from the command's
//! tree. Cgroups would hold it, but creating one needs a delegated cgroup tree, which most
//! machines do not give an ordinary user. So every command runs with a unique marker in its
//! environment (`DELM_COMMAND_ID=<id>`); children inherit the environment whatever their
//! session, group or parent, and the sweep kills every process whose environment holds the
//! marker. A process that deliberately clears its environment escapes the sweep; under
//! `--sandbox bwrap` the pid namespace holds it instead (see `jail`).

use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that marks a command's processes.
pub(crate) const MARKER: &str = "DELM_COMMAND_ID";
/// Sweeps repeat while they find processes (a process may fork while its siblings die).
const MAX_ROUNDS: usize = 50;
/// A sweep ends after two empty rounds this far apart: a process caught in the middle of
/// `exec` shows an empty environment for a moment.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(5);

/// A marker value unique to this process and command.
pub(crate) fn new_marker() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Kill (SIGKILL) every process whose environment holds `MARKER=value`, until none is
/// left or the rounds run out. Returns how many kills were sent.
pub(crate) fn kill_marked(value: &str) -> usize {
    let needle = format!("{MARKER}={value}\0").into_bytes();
    let mut sent = 0;
    let mut empty_rounds = 0;
    for _ in 0..MAX_ROUNDS {
        let pids = marked(&needle);
        if pids.is_empty() {
            empty_rounds += 1;
            if empty_rounds == 2 {
                break;
            }
            std::thread::sleep(SETTLE);
            continue;
        }
        empty_rounds = 0;
        for pid in pids {
            // SAFETY: kill only sends a signal; the pid was just read from /proc and carries
            // this command's marker, so it is one of the command's processes.
            if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                sent += 1;
            }
        }
    }
    sent
}

/// Live processes (not zombies: their environment is gone) with the marker, except delm.
fn marked(needle: &[u8]) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| contains(&[b"\0", env.as_slice()].concat(), needle))
        })
        .collect()
}

/// Whether `haystack` holds `needle` preceded by a NUL (a whole variable, not the tail of
/// another one). The caller puts a NUL in front of the block.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len() + 1)
        .any(|w| w[0] == 0 && &w[1..] == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn markers_are_unique_and_matched_whole() {
        assert_ne!(new_marker(), new_marker());
        let block = b"\0PATH=/bin\0DELM_COMMAND_ID=7-12\0HOME=/h\0";
        assert!(contains(block, b"DELM_COMMAND_ID=7-12\0"));
        assert!(!contains(block, b"DELM_COMMAND_ID=7-1\0"));
        assert!(!contains(
            b"\0XDELM_COMMAND_ID=7-12\0",
            b"DELM_COMMAND_ID=7-12\0"
        ));
    }

    #[test]
    fn a_marked_process_outside_the_group_is_killed() {
        let value = new_marker();
        let mut child = std::process::Command::new("sleep")
            .arg("1000")
            .env(MARKER, &value)
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let needle = format!("{MARKER}={value}\0").into_bytes();
        // Right after exec the kernel may not show the new environment yet: wait for it.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !marked(&needle).contains(&pid) && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(kill_marked(&value) >= 1);
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert!(!marked(&needle).contains(&pid));
    }
}
