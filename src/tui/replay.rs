//! The replay timeline: a position in a recorded event list and the fold at that position.
//!
//! Stepping forward applies one event; stepping back refolds from the nearest checkpoint,
//! so the view at position k is always exactly `fold(events[..k])`.

use super::fold::UiFold;
use crate::event::{Envelope, Event};

/// A checkpoint every this many events keeps backward steps cheap on long sessions.
const CHECKPOINT_EVERY: usize = 256;
/// Playback speeds in events per second.
pub const SPEEDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
const DEFAULT_SPEED: usize = 2;

#[derive(Debug, Clone)]
pub struct Timeline {
    events: Vec<Envelope>,
    /// How many events are applied (0 ..= len).
    position: usize,
    pub playing: bool,
    speed: usize,
    /// `checkpoints[i]` is the fold after `i * CHECKPOINT_EVERY` events.
    checkpoints: Vec<UiFold>,
}

impl Timeline {
    pub fn new(events: Vec<Envelope>) -> Self {
        Timeline {
            events,
            position: 0,
            playing: false,
            speed: DEFAULT_SPEED,
            checkpoints: vec![UiFold::default()],
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn position(&self) -> usize {
        self.position
    }

    /// The last applied event, if any.
    pub fn current(&self) -> Option<&Envelope> {
        self.position.checked_sub(1).map(|i| &self.events[i])
    }

    pub fn at_end(&self) -> bool {
        self.position == self.events.len()
    }

    pub fn events_per_second(&self) -> f64 {
        SPEEDS[self.speed]
    }

    pub fn faster(&mut self) {
        self.speed = (self.speed + 1).min(SPEEDS.len() - 1);
    }

    pub fn slower(&mut self) {
        self.speed = self.speed.saturating_sub(1);
    }

    /// Move to `target` events applied, updating `fold` to match.
    pub fn seek(&mut self, fold: &mut UiFold, target: usize) {
        let target = target.min(self.events.len());
        if target < self.position {
            let cp = (target / CHECKPOINT_EVERY).min(self.checkpoints.len() - 1);
            *fold = self.checkpoints[cp].clone();
            self.position = cp * CHECKPOINT_EVERY;
        }
        while self.position < target {
            fold.apply(&self.events[self.position]);
            self.position += 1;
            if self.position.is_multiple_of(CHECKPOINT_EVERY)
                && self.checkpoints.len() == self.position / CHECKPOINT_EVERY
            {
                self.checkpoints.push(fold.clone());
            }
        }
    }

    /// The position just after the previous (`forward == false`) or next task/point event.
    pub fn mark(&self, forward: bool) -> usize {
        let is_mark = |e: &Envelope| {
            matches!(
                e.event,
                Event::TaskAdded { .. }
                    | Event::TaskClaimed { .. }
                    | Event::TaskFinished { .. }
                    | Event::TaskRequeued { .. }
                    | Event::TaskCancelled { .. }
                    | Event::PointProposed { .. }
                    | Event::PointVerified { .. }
                    | Event::PointRejected { .. }
                    | Event::ConstraintAdded { .. }
            )
        };
        if forward {
            (self.position..self.events.len())
                .find(|&i| is_mark(&self.events[i]))
                .map_or(self.events.len(), |i| i + 1)
        } else {
            // The current mark ends at `position`; look for the one before it.
            (0..self.position.saturating_sub(1))
                .rev()
                .find(|&i| is_mark(&self.events[i]))
                .map_or(0, |i| i + 1)
        }
    }
}
