//! Print → parse round trip: whatever parses formats to text that parses to the same policy, and
//! formatting the output again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use probity::{format_source, syntax_fingerprint};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(formatted) = format_source("fuzz.probity", text) else { return };
    let before = syntax_fingerprint("fuzz.probity", text).expect("it parsed once");
    let after = syntax_fingerprint("fuzz.probity", &formatted).expect("formatted text parses");
    assert_eq!(before, after, "formatting changed the policy:\n{formatted}");
    let again = format_source("fuzz.probity", &formatted).expect("formatted text formats");
    assert_eq!(formatted, again, "formatting is not idempotent");
});
