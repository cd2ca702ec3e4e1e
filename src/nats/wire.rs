//! What travels over NATS besides the protocol itself: the reply wrapper (the reply and the
//! log position it reflects), a worker's introduction, and the limits on what a peer may
//! send. The protocol requests and replies are `engine::protocol`'s serde types, unchanged.

use crate::engine::protocol::{Reply, RequestEnvelope};
use crate::engine::tools::records::Records;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A request larger than this is refused unread (a proposal with every evidence item at
/// its cap is far smaller).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// A proposal that carries its worker's command runs and patch may be this large (under
/// the NATS server's default 1 MiB message; a worker also keeps to the server's own limit).
pub const MAX_PROPOSAL_BYTES: usize = 960 * 1024;
/// A control from an attached terminal (a constraint's text is capped by the board too).
pub const MAX_CONTROL_BYTES: usize = 64 * 1024;
/// Requests one agent may have in flight at once (an agent sends one at a time, plus its
/// reports and heartbeats).
pub const MAX_IN_FLIGHT_PER_AGENT: usize = 16;
/// Workers one board accepts, and agents one worker may bring.
pub const MAX_WORKERS: usize = 256;
pub const MAX_AGENTS_PER_WORKER: usize = crate::engine::board::MAX_AGENTS;
/// Agents of all workers together.
pub const MAX_REMOTE_AGENTS: usize = 1024;
/// A participant re-sends an unanswered request this often (the board answers a repeated
/// request id once, so a retry is never applied twice).
pub const RETRY_EVERY: Duration = Duration::from_secs(3);
/// A request nobody answers for this long means the board is gone for good.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(15 * 60);

/// A request as a worker sends it: the protocol's envelope, and, with a proposal, the
/// records its points cite from the worker's machine (see `engine::tools::records`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireRequest {
    #[serde(flatten)]
    pub envelope: RequestEnvelope,
    #[serde(default, skip_serializing_if = "Records::is_empty")]
    pub records: Records,
}

/// The board's answer to one request, sent once the events of the step that produced it
/// are durable in the stream. `seq` is the log position the reply reflects: the
/// participant waits until its own fold has reached it, so what it reads next (a task's
/// context, its claim) is never older than the reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireReply {
    pub seq: u64,
    pub reply: Reply,
}

/// A `delm worker` introduces itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Where it runs (host name), for the log and the TUI.
    pub name: String,
    /// How many agents it will run.
    pub agents: usize,
}

/// The board's answer to a [`Hello`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "hello", rename_all = "snake_case")]
pub enum Welcome {
    /// Its id (`w3`: its agents are `w3.a1` ...), and how long an agent may be silent
    /// while holding a claim.
    Accepted {
        worker: String,
        lease_ms: u64,
    },
    Refused {
        reason: String,
    },
}

/// The board's answer to a control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlAck {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Decode a peer's JSON message of at most `max` bytes; the error is worded for the peer.
pub fn decode<T: serde::de::DeserializeOwned>(payload: &[u8], max: usize) -> Result<T, String> {
    if payload.len() > max {
        return Err(format!(
            "the message is {} bytes; the board takes at most {max}",
            payload.len()
        ));
    }
    serde_json::from_slice(payload).map_err(|e| {
        format!(
            "the message is not valid: {}",
            crate::text::clip(&e.to_string(), 200)
        )
    })
}

pub fn encode<T: Serialize>(value: &T) -> bytes::Bytes {
    serde_json::to_vec(value)
        .expect("wire types always serialize")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_and_malformed_messages_are_refused_with_the_reason() {
        let err = decode::<Hello>(&[b' '; 100], 10).unwrap_err();
        assert!(err.contains("at most 10"), "{err}");
        let err = decode::<Hello>(b"{\"name\": 3}", 100).unwrap_err();
        assert!(err.contains("not valid"), "{err}");
        let hello = Hello {
            name: "h".into(),
            agents: 2,
        };
        assert_eq!(
            decode::<Hello>(&encode(&hello), 100).unwrap(),
            hello,
            "round trip"
        );
        let w: Welcome =
            serde_json::from_str(r#"{"hello":"accepted","worker":"w1","lease_ms":5}"#).unwrap();
        assert!(matches!(w, Welcome::Accepted { .. }));
    }
}
