#![allow(dead_code, unused_imports)]
//! Test support shared by the integration test binaries (each uses a part of it).

pub mod mock_llm;
pub mod nats_server;
pub mod worker_player;

pub use mock_llm::{Gate, Habits, MockLlm, MockOptions, RecordedRequest, Reply, Wire};

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
