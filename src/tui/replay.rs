//! The replay timeline: a position in a recorded event log, the fold at that position, and
//! how playing advances it (N events per second, or the recorded pace scaled).
//!
//! Stepping forward applies one event; stepping back refolds from the nearest checkpoint,
//! so the view at position k is always exactly `fold(events[..k])`.

use super::fold::UiFold;
use super::log::EventLog;
use crate::event::{Envelope, Event};
use std::time::Duration;

/// A checkpoint every this many events keeps backward steps cheap on long sessions.
const CHECKPOINT_EVERY: usize = 256;
/// Playback speeds in events per second.
pub const SPEEDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
const DEFAULT_SPEED: usize = 2;
/// Real-time playback factors (1× is the recorded pace).
pub const SCALES: &[f64] = &[1.0, 2.0, 5.0, 10.0, 30.0, 100.0];
const DEFAULT_SCALE: usize = 2;
/// In real time, a quiet stretch longer than this (after scaling) is shortened to it.
pub const MAX_REAL_TIME_GAP: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// A fixed number of events per second (index into [`SPEEDS`]).
    Rate(usize),
    /// The recorded time between events, divided by a factor (index into [`SCALES`]).
    RealTime(usize),
}

#[derive(Debug, Clone)]
pub struct Timeline {
    len: usize,
    /// How many events are applied (0 ..= len).
    position: usize,
    pub playing: bool,
    pub pace: Pace,
    /// `checkpoints[i]` is the fold after `i * CHECKPOINT_EVERY` events.
    checkpoints: Vec<UiFold>,
}

impl Timeline {
    pub fn new(len: usize) -> Self {
        Timeline {
            len,
            position: 0,
            playing: false,
            pace: Pace::Rate(DEFAULT_SPEED),
            checkpoints: vec![UiFold::default()],
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn position(&self) -> usize {
        self.position
    }

    pub fn at_end(&self) -> bool {
        self.position == self.len
    }

    pub fn real_time(&self) -> bool {
        matches!(self.pace, Pace::RealTime(_))
    }

    /// `8 ev/s` or `5× real time`.
    pub fn pace_label(&self) -> String {
        match self.pace {
            Pace::Rate(i) => format!("{} ev/s", SPEEDS[i]),
            Pace::RealTime(i) => format!("{}× real time", SCALES[i]),
        }
    }

    pub fn faster(&mut self) {
        self.pace = match self.pace {
            Pace::Rate(i) => Pace::Rate((i + 1).min(SPEEDS.len() - 1)),
            Pace::RealTime(i) => Pace::RealTime((i + 1).min(SCALES.len() - 1)),
        };
    }

    pub fn slower(&mut self) {
        self.pace = match self.pace {
            Pace::Rate(i) => Pace::Rate(i.saturating_sub(1)),
            Pace::RealTime(i) => Pace::RealTime(i.saturating_sub(1)),
        };
    }

    pub fn toggle_pace(&mut self) {
        self.pace = match self.pace {
            Pace::Rate(_) => Pace::RealTime(DEFAULT_SCALE),
            Pace::RealTime(_) => Pace::Rate(DEFAULT_SPEED),
        };
    }

    /// Pick the pace nearest to `value` (events per second, or a real-time factor).
    pub fn set_speed(&mut self, value: f64) {
        let nearest = |table: &[f64]| {
            (0..table.len())
                .min_by(|&a, &b| {
                    (table[a] - value)
                        .abs()
                        .partial_cmp(&(table[b] - value).abs())
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
                .unwrap_or(0)
        };
        self.pace = match self.pace {
            Pace::Rate(_) => Pace::Rate(nearest(SPEEDS)),
            Pace::RealTime(_) => Pace::RealTime(nearest(SCALES)),
        };
    }

    /// How long to wait before the next event while playing.
    pub fn next_delay(&self, log: &EventLog) -> Duration {
        match self.pace {
            Pace::Rate(i) => Duration::from_secs_f64(1.0 / SPEEDS[i]),
            Pace::RealTime(i) => {
                if self.position == 0 || self.position >= self.len {
                    return Duration::ZERO;
                }
                let gap = log.offset_ms(self.position) - log.offset_ms(self.position - 1);
                Duration::from_secs_f64(gap.max(0) as f64 / 1000.0 / SCALES[i])
                    .min(MAX_REAL_TIME_GAP)
            }
        }
    }

    /// Move to `target` events applied, updating `fold` to match.
    pub fn seek(&mut self, fold: &mut UiFold, events: &[Envelope], target: usize) {
        let target = target.min(self.len);
        if target < self.position {
            let cp = (target / CHECKPOINT_EVERY).min(self.checkpoints.len() - 1);
            *fold = self.checkpoints[cp].clone();
            self.position = cp * CHECKPOINT_EVERY;
        }
        while self.position < target {
            fold.apply(&events[self.position]);
            self.position += 1;
            if self.position.is_multiple_of(CHECKPOINT_EVERY)
                && self.checkpoints.len() == self.position / CHECKPOINT_EVERY
            {
                self.checkpoints.push(fold.clone());
            }
        }
    }

    /// The position just after the previous (`forward == false`) or next task/point event.
    pub fn mark(&self, events: &[Envelope], forward: bool) -> usize {
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
            (self.position..self.len)
                .find(|&i| is_mark(&events[i]))
                .map_or(self.len, |i| i + 1)
        } else {
            // The current mark ends at `position`; look for the one before it.
            (0..self.position.saturating_sub(1))
                .rev()
                .find(|&i| is_mark(&events[i]))
                .map_or(0, |i| i + 1)
        }
    }
}
