//! Tool arguments as models send them (double-encoded, fenced, objects, junk) and
//! `record_point` normalisation: errors are fine, panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        delm::fuzzing::tool_arguments(text);
    }
});
