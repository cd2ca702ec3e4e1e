//! A PDF's text layer, as the documents workspace ingests it. pdf-extract panics on some
//! malformed files and delm catches those panics (the document is skipped with a reason);
//! anything else must not unwind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Once;

static HOOK: Once = Once::new();

/// libfuzzer-sys installs a panic hook that aborts on every panic, caught or not. delm
/// catches pdf-extract's panics on purpose, so those pass silently here; any other panic
/// gets the hook libfuzzer-sys installed (report, abort), and one that escapes delm also
/// reaches libfuzzer-sys's catch around this closure, which aborts.
fn tolerate_caught_pdf_panics() {
    HOOK.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_pdf_reader = info
                .location()
                .is_some_and(|l| l.file().contains("pdf-extract") || l.file().contains("lopdf"));
            if !in_pdf_reader {
                fuzzer_hook(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    tolerate_caught_pdf_panics();
    delm::fuzzing::pdf_to_text(data);
});
