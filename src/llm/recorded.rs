//! What a stream told its sink, for the adapters' unit tests: the text, and each tool call
//! announced as complete, in order.

use super::{Delta, ToolCall};
use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct Recorded {
    text: Mutex<String>,
    calls: Mutex<Vec<ToolCall>>,
}

impl Recorded {
    /// The sink that records into `self`.
    pub(crate) fn sink(&self) -> impl Fn(Delta<'_>) + Send + Sync + '_ {
        |delta| match delta {
            Delta::Text(text) => self.text.lock().unwrap().push_str(text),
            Delta::ToolCall(call) => self.calls.lock().unwrap().push(call.clone()),
        }
    }

    pub(crate) fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// The calls announced so far.
    pub(crate) fn calls(&self) -> Vec<ToolCall> {
        self.calls.lock().unwrap().clone()
    }
}
