//! Figure 4: the session log. Appending goes through the real `SessionWriter` with its
//! durability policy (one `write(2)` per event, `fdatasync` at most once a second, `fsync`
//! at the end); loading parses the file and folds it through the `RunState` reducer, as
//! replay and resume do.

use super::figure::{Figure, peak_rss_mib, reset_peak_rss, rss_mib};
use super::synthetic::session_events;
use delm::engine::EventSink;
use delm::event::RunState;
use delm::session::{SessionWriter, read_session};
use serde_json::json;
use std::time::Instant;

pub fn measure(n: usize) -> anyhow::Result<Vec<Figure>> {
    let events = session_events(n);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench-session.jsonl");

    let mut writer = SessionWriter::create(&path)?;
    let started = Instant::now();
    for env in &events {
        writer.write(env)?;
    }
    writer.sync()?;
    let append = started.elapsed().as_secs_f64();
    drop(writer);
    let bytes = std::fs::metadata(&path)?.len();
    drop(events);

    let rss_reset = reset_peak_rss();
    let before = rss_mib().unwrap_or(f64::NAN);
    let started = Instant::now();
    let log = read_session(&path)?;
    let load = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let state = RunState::from_events(&log.events);
    let fold = started.elapsed().as_secs_f64();
    let peak = peak_rss_mib().unwrap_or(f64::NAN);
    anyhow::ensure!(
        log.events.len() == n && state.events_applied == n as u64,
        "read back {} events and folded {}, wrote {n}",
        log.events.len(),
        state.events_applied
    );
    let params = json!({
        "events": n,
        "file_mib": (bytes as f64 / 1048576.0 * 10.0).round() / 10.0,
        "points": state.points.len(),
        "tasks": state.tasks.len(),
    });
    let with = |k: &str, v: serde_json::Value| {
        let mut p = params.clone();
        p[k] = v;
        p
    };
    Ok(vec![
        Figure::new(
            "session_log.append",
            n as f64 / append,
            "events/s",
            with(
                "durability",
                json!("write per event, fdatasync <= 1 s, fsync at end"),
            ),
        ),
        Figure::new(
            "session_log.load",
            n as f64 / load,
            "events/s",
            params.clone(),
        ),
        Figure::new(
            "session_log.fold",
            n as f64 / fold,
            "events/s",
            params.clone(),
        ),
        Figure::new(
            "session_log.load_and_fold",
            n as f64 / (load + fold),
            "events/s",
            params.clone(),
        ),
        Figure::new(
            "session_log.memory",
            peak - before,
            "MiB",
            with("peak_reset_before_load", json!(rss_reset)),
        ),
    ])
}
