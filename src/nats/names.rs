//! Where a run lives on a NATS server: its stream, subjects, leadership key and workspace
//! object, all derived from the run id. One place, so the board, workers, attach and
//! `delm runs` can never disagree about a name.

/// Every run's event stream is named `DELM_<run>`.
pub const STREAM_PREFIX: &str = "DELM_";
/// The KV bucket of board leadership (one key per live run).
pub const LEADER_BUCKET: &str = "delm_boards";
/// The object store bucket of run workspaces (one object per run).
pub const WORKSPACE_BUCKET: &str = "delm_workspaces";

/// The names of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunNames {
    pub run: String,
}

impl RunNames {
    /// The names of `run`; `Err` says why the id cannot name a run (stream names and
    /// subject tokens allow letters, digits, `-` and `_` only).
    pub fn new(run: &str) -> Result<RunNames, String> {
        check_run_id(run)?;
        Ok(RunNames {
            run: run.to_string(),
        })
    }

    pub fn stream(&self) -> String {
        format!("{STREAM_PREFIX}{}", self.run)
    }
    /// The one subject of the run's stream: every board step is one message here.
    pub fn events(&self) -> String {
        format!("delm.{}.events", self.run)
    }
    /// Protocol requests of the run's participants (request/reply).
    pub fn requests(&self) -> String {
        format!("delm.{}.req", self.run)
    }
    /// Human steering from attached terminals (request/reply).
    pub fn controls(&self) -> String {
        format!("delm.{}.ctl", self.run)
    }
    /// A worker introduces itself and gets its id (request/reply).
    pub fn hello(&self) -> String {
        format!("delm.{}.hello", self.run)
    }
    /// The run's key in [`LEADER_BUCKET`].
    pub fn leader_key(&self) -> String {
        self.run.clone()
    }
    /// The run's object in [`WORKSPACE_BUCKET`].
    pub fn workspace_object(&self) -> String {
        format!("{}.tar.gz", self.run)
    }
}

/// The run id of a stream name, if it is a run's stream.
pub fn run_of_stream(stream: &str) -> Option<&str> {
    stream
        .strip_prefix(STREAM_PREFIX)
        .filter(|r| check_run_id(r).is_ok())
}

fn check_run_id(run: &str) -> Result<(), String> {
    let ok = !run.is_empty()
        && run.len() <= 64
        && run
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a run id (letters, digits, `-` and `_`, at most 64)",
            crate::text::clip(run, 80)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_the_run_id() {
        let n = RunNames::new("20260101-120000-ab12").unwrap();
        assert_eq!(n.stream(), "DELM_20260101-120000-ab12");
        assert_eq!(n.events(), "delm.20260101-120000-ab12.events");
        assert_eq!(run_of_stream(&n.stream()), Some("20260101-120000-ab12"));
        assert_eq!(run_of_stream("KV_delm_boards"), None);
        for bad in ["", "a.b", "a b", "a*", ">", &"x".repeat(65)] {
            assert!(RunNames::new(bad).is_err(), "{bad}");
        }
    }
}
