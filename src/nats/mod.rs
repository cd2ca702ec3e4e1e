//! Many machines: the board on NATS JetStream.
//!
//! One board process stays the single writer and decision-maker (the engine's scheduler,
//! unchanged); the run's event log is a JetStream stream, the total order every process
//! folds; workers on other machines run native agents against the board by NATS
//! request/reply; any terminal can attach to the run and steer it. The pieces:
//!
//! - [`url`]: the board's address and credentials (never logged);
//! - [`names`]: the stream, subjects, keys and objects of a run;
//! - [`log`]: the stream as the run's log (fenced, idempotent appends; ordered reads);
//! - [`leader`]: which board leads a run (a KV key with a TTL);
//! - [`transfer`]: the workspace in the object store;
//! - [`serve`], [`host`]: the board's side ([`BoardHost`]);
//! - [`mirror`], [`remote`], [`worker`]: a worker's side (`delm worker`);
//! - [`attach`]: a front end's side ([`RemoteEngine`], `delm attach`);
//! - [`runs`]: `delm runs`, and picking the run a command means.

pub mod attach;
pub mod host;
pub mod leader;
pub mod log;
pub mod mirror;
pub mod names;
pub mod remote;
pub mod runs;
pub mod serve;
pub mod transfer;
pub mod url;
pub mod wire;
pub mod worker;

pub use attach::RemoteEngine;
pub use host::BoardHost;
pub use url::{BoardUrl, NatsAuth, is_board_url};
pub use worker::{WorkerEnd, WorkerReport, WorkerSetup};

/// The runs on a board, as `delm runs` prints them.
pub async fn list_runs(url: &BoardUrl, auth: &NatsAuth, width: usize) -> Result<String, String> {
    let client = url::connect(url, auth, "delm runs").await?;
    let js = async_nats::jetstream::new(client);
    let runs = runs::list(&js).await?;
    Ok(runs::table(&url.display(), &runs, width))
}
