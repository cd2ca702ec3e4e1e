//! Event sinks besides the session log: the `--json` event stream on stdout and the
//! human-readable progress story on stderr. A [`Tee`] feeds several sinks in order.

use crate::engine::EventSink;
use crate::event::{Envelope, RunState};
use std::io::Write;

/// Feeds every event to each sink in turn; the first error is reported after all have run,
/// so one broken sink (a closed pipe) does not starve the others (the session log).
pub struct Tee(pub Vec<Box<dyn EventSink>>);

impl Tee {
    /// Run `op` on every sink; the first error comes back after all have run.
    fn each(
        &mut self,
        mut op: impl FnMut(&mut dyn EventSink) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut first_err = None;
        for sink in &mut self.0 {
            if let Err(e) = op(sink.as_mut()) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl EventSink for Tee {
    fn write(&mut self, env: &Envelope) -> std::io::Result<()> {
        self.each(|sink| sink.write(env))
    }
    fn write_batch(&mut self, envs: &[Envelope]) -> std::io::Result<()> {
        self.each(|sink| sink.write_batch(envs))
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.each(|sink| sink.sync())
    }
}

/// One JSON object per line: the same objects as the session log.
pub struct JsonLines<W: Write + Send>(pub W);

impl<W: Write + Send> EventSink for JsonLines<W> {
    fn write(&mut self, env: &Envelope) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(env)?;
        line.push(b'\n');
        self.0.write_all(&line)?;
        self.0.flush()
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Human-readable progress lines (`story::describe`) as events happen.
pub struct Story<W: Write + Send> {
    out: W,
    state: RunState,
}

impl<W: Write + Send> Story<W> {
    pub fn new(out: W) -> Self {
        Story {
            out,
            state: RunState::default(),
        }
    }
    /// Start from the state of earlier events (resume), so lines name known tasks.
    pub fn with_state(out: W, state: RunState) -> Self {
        Story { out, state }
    }
}

impl<W: Write + Send> EventSink for Story<W> {
    fn write(&mut self, env: &Envelope) -> std::io::Result<()> {
        let line = crate::story::describe(env, &self.state);
        self.state.apply(env);
        if let Some(line) = line {
            writeln!(self.out, "{line}")?;
        }
        Ok(())
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Point, PointKind};

    /// `--headless` prints model-written text: it must not be able to drive the terminal.
    #[test]
    fn the_headless_story_escapes_what_models_write() {
        let hostile = "Revenue\u{1b}[2J\u{1b}]52;c;ZWNobyBwd25lZA==\u{7} up";
        let events = crate::event::numbered([
            Event::TaskAdded {
                task: "T1".into(),
                title: format!("Read {hostile}.txt"),
                detail: String::new(),
                origin: crate::event::Origin::Initial,
            },
            Event::PointProposed {
                point: Point {
                    id: "P1".into(),
                    kind: PointKind::Finding,
                    headline: hostile.into(),
                    summary: String::new(),
                    evidence: vec![],
                    author: "a1".into(),
                    task: Some("T1".into()),
                    supersedes: None,
                },
            },
        ]);
        let mut out = Vec::new();
        {
            let mut story = Story::new(&mut out);
            for env in &events {
                story.write(env).unwrap();
            }
        }
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
        assert!(
            text.contains("Revenue^[[2J^[]52;c;ZWNobyBwd25lZA==^G up"),
            "{text}"
        );
        // The JSON stream escapes control characters by construction.
        let mut json = Vec::new();
        JsonLines(&mut json).write(&events[1]).unwrap();
        assert!(!json.contains(&0x1b) && String::from_utf8(json).unwrap().contains("\\u001b"));
    }
}
