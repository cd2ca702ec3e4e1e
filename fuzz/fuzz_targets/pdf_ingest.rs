//! A PDF's text layer, as the documents workspace ingests it (pdf-extract panics are
//! caught by delm; anything else must not unwind).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    delm::fuzzing::pdf_to_text(data);
});
