//! HTML to text, as the documents workspace ingests it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = delm::fuzzing::html_to_text(text);
    }
});
