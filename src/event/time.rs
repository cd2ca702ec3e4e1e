//! Timestamps of the log: RFC 3339, UTC, millisecond precision.

/// Current time as RFC 3339 (UTC, millisecond precision).
pub fn now_rfc3339() -> String {
    format_rfc3339_millis(time::OffsetDateTime::now_utc())
}

/// `t` as RFC 3339, truncated to the millisecond (the log's timestamp format).
pub fn format_rfc3339_millis(t: time::OffsetDateTime) -> String {
    let t = t
        .replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Parse an RFC 3339 timestamp from the log.
pub fn parse_ts(ts: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()
}

/// Event timestamps (RFC 3339, millisecond precision). Formatting a date costs more than
/// the rest of an event's bookkeeping, and a busy board writes hundreds of events within one
/// millisecond: the text is made once per millisecond and copied after that.
#[derive(Debug, Default)]
pub struct EventClock {
    millis: i128,
    text: String,
}

impl EventClock {
    pub fn now(&mut self) -> String {
        let now = time::OffsetDateTime::now_utc();
        let millis = now.unix_timestamp_nanos() / 1_000_000;
        if millis != self.millis || self.text.is_empty() {
            self.millis = millis;
            self.text = format_rfc3339_millis(now);
        }
        self.text.clone()
    }
}
