//! The session reader must take any bytes: a torn tail, a damaged middle, duplicated or
//! reordered sequence numbers. It never panics, keeps sequence numbers strictly rising,
//! and folding what it kept never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let log = delm::session::read_session_str(text);
    assert!(log.events.windows(2).all(|w| w[1].seq > w[0].seq));
    let state = delm::event::RunState::from_events(log.events.iter());
    assert!(state.events_applied as usize == log.events.len());
});
