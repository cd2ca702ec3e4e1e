//! Figure 5: the TUI on a big live run: 10,000 points, 1,000 tasks, 64 agents streaming.
//! Two costs per frame on a 200×60 `TestBackend`: a steady redraw (the state did not
//! change), and a frame after an event (a new verified point: fold, cache refresh, draw).

use super::figure::{Figure, Target, mean, quantile};
use super::synthetic::{Rng, RunShape, point, run_events};
use delm::engine::StreamDelta;
use delm::event::{Envelope, Event};
use delm::tui::{AppState, Keymap, Theme, UiFold, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use std::time::Instant;

const WIDTH: u16 = 200;
const HEIGHT: u16 = 60;

pub struct TuiShape {
    pub points: usize,
    pub tasks: usize,
    pub agents: usize,
    pub frames: usize,
}

pub fn measure(shape: TuiShape) -> anyhow::Result<Vec<Figure>> {
    let events = run_events(RunShape {
        tasks: shape.tasks,
        points: shape.points,
        agents: shape.agents,
    });
    let mut state = AppState::live(Keymap::default(), Theme::default());
    // Fold the history in one go (as a resync does), then go live.
    state.fold = UiFold::from_events(&events);
    state.resize(WIDTH, HEIGHT);
    state.now = events
        .last()
        .and_then(|e| delm::event::parse_ts(&e.ts))
        .map(|t| t + time::Duration::seconds(5));
    let mut rng = Rng::new(7);
    let stream = |state: &mut AppState, rng: &mut Rng| {
        for a in 1..=shape.agents {
            state.push_delta(&StreamDelta {
                agent: format!("a{a}"),
                text: format!("{}\n{} ", rng.words(12), rng.words(5)),
            });
        }
    };
    for _ in 0..8 {
        stream(&mut state, &mut rng);
    }
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT))?;
    terminal.draw(|f| draw(f, &state))?;

    let mut steady = Vec::with_capacity(shape.frames);
    for _ in 0..shape.frames {
        let t = Instant::now();
        terminal.draw(|f| draw(f, &state))?;
        steady.push(t.elapsed().as_secs_f64() * 1e3);
    }

    let mut seq = events.last().map(|e| e.seq).unwrap_or(0);
    let mut after_event = Vec::with_capacity(shape.frames);
    for (i, next_point) in (0..shape.frames).zip(shape.points + 1..) {
        let agent = format!("a{}", i % shape.agents.max(1) + 1);
        let task = format!("T{}", shape.tasks.saturating_sub(i % shape.agents.max(1)));
        let p = point(&mut rng, next_point, &agent, &task);
        let id = p.id.clone();
        let t = Instant::now();
        for event in [
            Event::PointProposed { point: p },
            Event::PointVerified {
                point: id,
                note: None,
                evidence: None,
            },
        ] {
            seq += 1;
            state.apply(&Envelope {
                seq,
                ts: events.last().map(|e| e.ts.clone()).unwrap_or_default(),
                event,
            });
        }
        stream(&mut state, &mut rng);
        terminal.draw(|f| draw(f, &state))?;
        after_event.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let screen = terminal.backend().to_string();
    anyhow::ensure!(
        screen.contains("Shared context") || screen.contains("Context"),
        "the frame does not show the panes:\n{screen}"
    );
    let params = json!({
        "points": state.run().points.len(),
        "tasks": state.run().tasks.len(),
        "agents_streaming": shape.agents,
        "size": format!("{WIDTH}x{HEIGHT}"),
        "frames": shape.frames,
    });
    let with = |k: &str, v: f64| {
        let mut p = params.clone();
        p[k] = json!((v * 1000.0).round() / 1000.0);
        p
    };
    let steady_mean = mean(&steady);
    let event_mean = mean(&after_event);
    Ok(vec![
        Figure::new(
            "tui.frame_steady",
            steady_mean,
            "ms",
            with("p99_ms", quantile(&mut steady, 0.99)),
        )
        .target(Target::AtMost(4.0)),
        Figure::new(
            "tui.frame_after_event",
            event_mean,
            "ms",
            with("p99_ms", quantile(&mut after_event, 0.99)),
        )
        .target(Target::AtMost(4.0)),
    ])
}
