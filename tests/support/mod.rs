#![allow(dead_code, unused_imports)]
//! Test support shared by the integration test binaries (each uses a part of it).

pub mod mock_llm;
pub mod nats_server;
pub mod worker_player;

pub use mock_llm::{Gate, Habits, MockLlm, MockOptions, RecordedRequest, Reply, Wire};

/// Six vendor documents, one revenue figure each (alpha the highest): the documents of the
/// end-to-end runs.
pub const VENDOR_DOCS: [(&str, &str); 6] = [
    (
        "alpha.txt",
        "Alpha Corp 2024 revenue was 12.5 million dollars.",
    ),
    ("beta.txt", "Beta Ltd 2024 revenue was 9.8 million dollars."),
    (
        "gamma.txt",
        "Gamma Inc 2024 revenue was 7.1 million dollars.",
    ),
    (
        "delta.txt",
        "Delta plc 2024 revenue was 3.3 million dollars.",
    ),
    (
        "epsilon.txt",
        "Epsilon AG 2024 revenue was 2.2 million dollars.",
    ),
    ("zeta.txt", "Zeta SA 2024 revenue was 1.4 million dollars."),
];

/// `program` (the real `delm` binary) with an environment of its own under `home`: nothing
/// inherited but PATH; its data, config and log directories are `home/data`, `home/config`
/// and `home/logs`; retries back off from 20 ms; no stdin.
pub fn isolated_command(
    program: impl AsRef<std::ffi::OsStr>,
    home: &std::path::Path,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("DELM_DATA_DIR", home.join("data"))
        .env("DELM_CONFIG_DIR", home.join("config"))
        .env("DELM_LOG_DIR", home.join("logs"))
        .env("DELM_RETRY_BASE_MS", "20")
        .stdin(std::process::Stdio::null());
    cmd
}

/// [`isolated_command`] with `key` as the OpenAI key.
pub fn delm_command(bin: &str, home: &std::path::Path, key: &str) -> std::process::Command {
    let mut cmd = isolated_command(bin, home);
    cmd.env("OPENAI_API_KEY", key);
    cmd
}

/// Copy the directory `from` to `to` (created), leaving Python caches behind.
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "__pycache__" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Whether bubblewrap can run here, for the sandbox tests. Where it cannot, the test is
/// skipped with the reason printed, except under CI (`CI` set: `.ci/run` installs it), where
/// a sandbox that cannot be tested is a failure, not a silent pass.
pub fn bwrap_can_run() -> bool {
    use delm::engine::tools::{SandboxKind, check_sandbox};
    match check_sandbox(SandboxKind::Bwrap) {
        Ok(()) => true,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("bubblewrap cannot run on this CI machine, so the sandbox is untested: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: bubblewrap cannot run here, so the sandbox is not tested: {why}");
            false
        }
    }
}
