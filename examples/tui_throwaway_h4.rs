#[path = "../tests/support_tui/mod.rs"]
mod support_tui;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    support_tui::write_repo(dir.path());
    let events = support_tui::sample_run(dir.path());
    delm::tui::run_replay(events, delm::tui::TuiOptions::default()).await
}
