//! The supervisor keeps the native agents running: it spawns them into a `JoinSet`, so an
//! agent that returns, fails or panics is always noticed (its claim then goes back to the
//! queue), and it brings the running agents to the desired count.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use tokio::task::{Id, JoinSet};

/// A native agent that crashed this many times is not started again: a bug that panics
/// on every task must not loop for ever.
const MAX_CRASHES: u32 = 3;

/// An agent task that ended.
#[derive(Debug, PartialEq)]
pub struct Exit {
    pub agent: String,
    /// `Some(why)` when it panicked.
    pub crashed: Option<String>,
}

#[derive(Default)]
pub struct Supervisor {
    tasks: JoinSet<()>,
    ids: HashMap<Id, String>,
    /// Native agents (a1..aN) running now, by index.
    running: BTreeSet<usize>,
    crashes: HashMap<String, u32>,
    extra_spawned: BTreeSet<String>,
}

impl Supervisor {
    pub fn new() -> Self {
        Supervisor::default()
    }

    /// Start every native agent `a1..=desired` that is not running (or crashed too often).
    /// Agents above `desired` stop themselves at their next claim.
    pub fn reconcile<F, Fut>(&mut self, desired: usize, mut spawn: F)
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        for index in 1..=desired {
            let id = format!("a{index}");
            if self.running.contains(&index) || self.gave_up(&id) {
                continue;
            }
            self.running.insert(index);
            self.start(id, spawn(format!("a{index}")));
        }
    }

    /// Start a participant that is not one of the counted native agents (the `central`
    /// orchestrator), once.
    pub fn ensure_extra<Fut>(&mut self, id: &str, fut: impl FnOnce() -> Fut)
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        if self.extra_spawned.contains(id) || self.gave_up(id) {
            return;
        }
        self.extra_spawned.insert(id.to_string());
        self.start(id.to_string(), fut());
    }

    fn gave_up(&self, id: &str) -> bool {
        self.crashes.get(id).is_some_and(|&n| n >= MAX_CRASHES)
    }

    fn start(&mut self, id: String, fut: impl Future<Output = ()> + Send + 'static) {
        let handle = self.tasks.spawn(fut);
        self.ids.insert(handle.id(), id);
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The next agent task that ends; never resolves while none runs.
    pub async fn next_exit(&mut self) -> Exit {
        loop {
            let Some(done) = self.tasks.join_next_with_id().await else {
                return std::future::pending().await;
            };
            let (id, crashed) = match done {
                Ok((id, ())) => (id, None),
                Err(e) => {
                    let id = e.id();
                    let why = if e.is_panic() {
                        format!("panicked: {}", panic_message(e.into_panic()))
                    } else {
                        "cancelled".to_string()
                    };
                    (id, Some(why))
                }
            };
            let Some(agent) = self.ids.remove(&id) else {
                continue;
            };
            if let Some(index) = super::scheduler::native_index(&agent) {
                self.running.remove(&index);
            } else {
                self.extra_spawned.remove(&agent);
            }
            if crashed.is_some() {
                *self.crashes.entry(agent.clone()).or_default() += 1;
            }
            return Exit { agent, crashed };
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn panics_are_exits_with_the_message_and_count_toward_giving_up() {
        let mut sup = Supervisor::new();
        sup.reconcile(2, |id| async move {
            if id == "a2" {
                panic!("boom in {id}");
            }
        });
        let mut exits = [sup.next_exit().await, sup.next_exit().await];
        exits.sort_by(|a, b| a.agent.cmp(&b.agent));
        assert_eq!(
            exits[0],
            Exit {
                agent: "a1".into(),
                crashed: None
            }
        );
        assert_eq!(exits[1].agent, "a2");
        assert!(exits[1].crashed.as_deref().unwrap().contains("boom in a2"));
        assert!(sup.is_empty());
        for _ in 0..2 {
            sup.reconcile(2, |_| async { panic!("again") });
            while !sup.is_empty() {
                sup.next_exit().await;
            }
        }
        let mut started = Vec::new();
        sup.reconcile(2, |id| {
            started.push(id);
            async {}
        });
        assert_eq!(
            started,
            vec!["a1".to_string()],
            "a2 crashed three times: given up"
        );
    }
}
