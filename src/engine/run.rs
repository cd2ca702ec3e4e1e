//! One way to start a run, used by the CLI, the demo and the tests: a [`RunBuilder`]
//! takes the config, the model, the workspace and the session sink, and starts the board.

use super::agent::AgentDeps;
use super::board::{self, BoardParts};
use super::tools::Workspace;
use super::{EngineHandle, EventSink, Model, PriceFn, RunConfig};
use crate::event::Envelope;
use std::sync::Arc;

pub struct RunBuilder {
    cfg: RunConfig,
    llm: Model,
    price: PriceFn,
    judge: Option<(Model, PriceFn)>,
    workspace: Arc<dyn Workspace>,
    sink: Option<Box<dyn EventSink>>,
    prior: Option<Vec<Envelope>>,
}

/// When the run's time limit ends, counting the time earlier processes of a resumed run
/// spent (from its log's timestamps, without the gaps between processes).
fn time_limit_at(cfg: &RunConfig, prior: Option<&[Envelope]>) -> Option<std::time::Instant> {
    let spent = prior
        .map(|p| crate::event::RunState::from_events(p.iter()).active_elapsed())
        .unwrap_or_default();
    time_limit_after(&cfg.budgets, spent)
}

/// When a time limit of `budgets` ends, the run having run `spent` so far.
pub fn time_limit_after(
    budgets: &crate::event::Budgets,
    spent: std::time::Duration,
) -> Option<std::time::Instant> {
    let limit = std::time::Duration::from_secs(budgets.time_limit_secs?);
    Some(std::time::Instant::now() + limit.saturating_sub(spent))
}

/// A sink that drops everything (runs whose log only lives in memory: tests, benchmarks).
pub struct NullSink;

impl EventSink for NullSink {
    fn write(&mut self, _env: &Envelope) -> std::io::Result<()> {
        Ok(())
    }
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl RunBuilder {
    pub fn new(cfg: RunConfig, llm: Model, price: PriceFn, workspace: Arc<dyn Workspace>) -> Self {
        RunBuilder {
            cfg,
            llm,
            price,
            judge: None,
            workspace,
            sink: None,
            prior: None,
        }
    }

    /// Where the events go besides subscribers (default: nowhere).
    pub fn sink(mut self, sink: Box<dyn EventSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Verify points with another (cheaper) model; default: the agents' model.
    pub fn judge(mut self, judge: Model, price: PriceFn) -> Self {
        self.judge = Some((judge, price));
        self
    }

    /// Continue the run these events recorded (what the log fixed wins over the config).
    pub fn resume(mut self, prior: Vec<Envelope>) -> Self {
        let state = crate::event::RunState::from_events(prior.iter());
        self.cfg = self.cfg.resuming(&state);
        self.prior = Some(prior);
        self
    }

    pub fn config(&self) -> &RunConfig {
        &self.cfg
    }

    pub fn start(self) -> Result<EngineHandle, String> {
        let (judge, judge_price) = self
            .judge
            .unwrap_or_else(|| (self.llm.clone(), self.price.clone()));
        let cfg = Arc::new(self.cfg);
        board::start(
            cfg.clone(),
            BoardParts {
                deps: AgentDeps {
                    time_limit_at: time_limit_at(&cfg, self.prior.as_deref()),
                    cfg,
                    llm: self.llm,
                    price: self.price,
                    workspace: self.workspace,
                },
                judge,
                judge_price,
                sink: self.sink.unwrap_or_else(|| Box::new(NullSink)),
                prior: self.prior,
            },
        )
    }
}
