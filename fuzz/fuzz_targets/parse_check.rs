//! Arbitrary text through the parser and checker: every outcome is diagnostics or a policy
//! set, never a panic, a hang or a stack overflow; diagnostics render.
#![no_main]

use libfuzzer_sys::fuzz_target;
use probity::PolicySet;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match PolicySet::from_sources([("fuzz.probity", text.as_ref())]) {
        Ok(set) => {
            for w in set.warnings() {
                let _ = w.render();
            }
        }
        Err(diagnostics) => {
            assert!(diagnostics.has_errors());
            for d in &diagnostics {
                let (line, column) = d.line_column();
                assert!(line >= 1 && column >= 1);
                let _ = d.render();
            }
        }
    }
});
