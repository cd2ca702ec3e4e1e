//! Board leadership: a run's key in a KV bucket whose entries live [`TTL`]. A board creates
//! the key (which fails while another board's entry lives), renews it with
//! compare-and-set on its revision, and deletes it when it ends; a board that dies stops
//! renewing, and the key expires so `delm resume` can take over. The stream's
//! expected-sequence appends fence a board that lost the key but still tries to write.

use super::names::{LEADER_BUCKET, RunNames};
use async_nats::jetstream::{self, kv};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a board's key lives without renewal.
pub const TTL: Duration = Duration::from_secs(10);
/// How often a live board renews it.
const RENEW_EVERY: Duration = Duration::from_millis(2_500);

/// The live board of a run, as its key says.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Leader {
    /// Unique per board process.
    pub board: String,
    pub host: String,
    pub pid: u32,
}

pub async fn bucket(js: &jetstream::Context) -> Result<kv::Store, String> {
    if let Ok(store) = js.get_key_value(LEADER_BUCKET).await {
        return Ok(store);
    }
    js.create_key_value(kv::Config {
        bucket: LEADER_BUCKET.to_string(),
        description: "delm: the live board of each run".into(),
        history: 1,
        max_age: TTL,
        max_value_size: 1024,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| format!("cannot create the {LEADER_BUCKET} bucket (is JetStream enabled?): {e}"))
}

/// Who leads `names.run` now, if anyone.
pub async fn current(store: &kv::Store, names: &RunNames) -> Option<Leader> {
    let entry = store.entry(names.leader_key()).await.ok()??;
    if entry.operation != kv::Operation::Put {
        return None;
    }
    serde_json::from_slice(&entry.value).ok()
}

/// This board's leadership of a run, renewed in the background.
pub struct Leadership {
    /// Flips to `true` when the key was taken by another board.
    pub lost: watch::Receiver<bool>,
    renew: JoinHandle<u64>,
    stop: watch::Sender<bool>,
    store: kv::Store,
    key: String,
}

/// Take the lead of `names.run`, waiting up to `wait` for a previous board's key to expire
/// (a board that crashed). The error names the board that holds it.
pub async fn acquire(
    js: &jetstream::Context,
    names: &RunNames,
    me: &Leader,
    wait: Duration,
) -> Result<Leadership, String> {
    let store = bucket(js).await?;
    let key = names.leader_key();
    let value: bytes::Bytes = serde_json::to_vec(me).expect("serializable").into();
    let deadline = tokio::time::Instant::now() + wait;
    let mut told = false;
    let revision = loop {
        match store.create(&key, value.clone()).await {
            Ok(revision) => break revision,
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                let holder = current(&store, names).await;
                if tokio::time::Instant::now() >= deadline {
                    let who = holder
                        .map(|l| format!(" (pid {} on {})", l.pid, l.host))
                        .unwrap_or_default();
                    return Err(format!(
                        "run {} has a live board{who}; watch it with `delm attach`, or stop that \
                         board first",
                        names.run
                    ));
                }
                if !told {
                    told = true;
                    eprintln!(
                        "delm: run {} still has a board's key; waiting up to {} s for it to \
                         expire (a board that stopped renews it no more)",
                        names.run,
                        wait.as_secs()
                    );
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(format!("cannot take the lead of run {}: {e}", names.run)),
        }
    };
    let (lost_tx, lost) = watch::channel(false);
    let (stop, stop_rx) = watch::channel(false);
    let renew = tokio::spawn(renew(
        store.clone(),
        key.clone(),
        value,
        revision,
        lost_tx,
        stop_rx,
    ));
    Ok(Leadership {
        lost,
        renew,
        stop,
        store,
        key,
    })
}

async fn renew(
    store: kv::Store,
    key: String,
    value: bytes::Bytes,
    mut revision: u64,
    lost: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) -> u64 {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RENEW_EVERY) => {}
            _ = stop.changed() => return revision,
        }
        match store.update(&key, value.clone(), revision).await {
            Ok(r) => revision = r,
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                // Expired while the server was away, or taken by another board.
                match store.entry(&key).await {
                    Ok(Some(entry))
                        if entry.operation == kv::Operation::Put && entry.value == value =>
                    {
                        revision = entry.revision
                    }
                    Ok(Some(entry)) if entry.operation == kv::Operation::Put => {
                        tracing::error!(%key, "another board took the lead of this run");
                        lost.send_replace(true);
                        return revision;
                    }
                    Ok(_) => {
                        if let Ok(r) = store.create(&key, value.clone()).await {
                            revision = r;
                        }
                    }
                    Err(e) => tracing::warn!(%key, "cannot read the leadership key: {e}"),
                }
            }
            // The server is unreachable: keep trying; the stream fences a stale writer.
            Err(e) => tracing::warn!(%key, "cannot renew the leadership key: {e}"),
        }
    }
}

impl Leadership {
    /// Stop renewing and delete the key, so a resume need not wait for it to expire.
    pub async fn release(self) {
        let _ = self.stop.send(true);
        if let Ok(revision) = self.renew.await
            && !*self.lost.borrow()
        {
            let _ = self
                .store
                .delete_expect_revision(&self.key, Some(revision))
                .await;
        }
    }
}

/// This process as a board.
pub fn me() -> Leader {
    Leader {
        board: format!("b{:x}", nuid_u64()),
        host: hostname(),
        pid: std::process::id(),
    }
}

/// The machine's name, for the log and listings.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// A random 64-bit number (ids that must not repeat across processes).
fn nuid_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}
