//! Arbitrary action and history JSON against the acceptance corpus's policies: an input error
//! or a decision, never a panic; decisions are deterministic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use probity::{Engine, PolicySet};

fn engines() -> &'static Vec<Engine> {
    static ENGINES: OnceLock<Vec<Engine>> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/policies");
        let mut out = Vec::new();
        let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap();
            let set = PolicySet::from_sources([(path.display().to_string(), text)]).unwrap();
            out.push(Engine::new(set));
        }
        out
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (action, history) = match text.split_once('\u{1e}') {
        Some((a, h)) => (a, Some(h)),
        None => (text, None),
    };
    for engine in engines() {
        let first = engine.evaluate_json(action, history);
        if let Ok(decision) = &first {
            let again = engine.evaluate_json(action, history).unwrap();
            assert_eq!(decision.to_json(), again.to_json());
        }
    }
});
