//! Lints: warnings worth a compliance officer's attention, each with its place and a hint.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used,
    clippy::arithmetic_side_effects
)]

use probity::{PolicySet, Severity};

fn warnings(sources: &[(&str, &str)]) -> Vec<(String, String, usize)> {
    let diagnostics = PolicySet::diagnose(sources.iter().map(|(n, t)| (n.to_string(), t.to_string())));
    assert!(!diagnostics.has_errors(), "{}", diagnostics.render());
    diagnostics
        .iter()
        .filter(|d| d.severity() == Severity::Warning)
        .map(|d| (d.code().to_string(), d.message().to_string(), d.line_column().0))
        .collect()
}

const HEADER: &str = "policy p version \"1\" effective 2026-01-01\n";

#[test]
fn unused_actions_fields_and_records_are_reported() {
    let src = format!(
        "{HEADER}record customer {{ id: text  risk: int }}\nrecord spare {{ x: int }}\n\
         action sale {{ customer: customer  amount: money  note: text }}\naction orphan {{ }}\n\
         rule r cite \"c\" on sale when action.customer.risk > 3 then review message \"{{action.amount}}\"\n"
    );
    let found = warnings(&[("p.probity", &src)]);
    let messages: Vec<&str> = found.iter().map(|(_, m, _)| m.as_str()).collect();
    assert!(messages.contains(&"record `spare` is never used"), "{found:?}");
    assert!(messages.contains(&"action `orphan` is never used"), "{found:?}");
    assert!(messages.contains(&"field `note` of action `sale` is never read"), "{found:?}");
    assert!(messages.contains(&"field `id` of record `customer` is never read"), "{found:?}");
    // Read in a message placeholder counts as read.
    assert!(!messages.iter().any(|m| m.contains("`amount`")), "{found:?}");
    assert!(found.iter().any(|(code, m, line)| code == "W0005" && m.contains("orphan") && *line == 5));
    assert!(found.iter().any(|(code, m, _)| code == "W0006" && m.contains("note")));
}

#[test]
fn an_unless_that_always_holds_is_reported() {
    let src =
        format!("{HEADER}action a {{ n: int }}\nrule r cite \"c\" on a when action.n > 1 unless 1 < 2 then deny\n");
    let found = warnings(&[("p.probity", &src)]);
    assert!(
        found.iter().any(|(code, m, line)| code == "W0008" && m.contains("does not depend") && *line == 3),
        "{found:?}"
    );
    let src =
        format!("{HEADER}action a {{ n: int }}\nrule r cite \"c\" on a when action.n > 1 unless true then deny\n");
    let found = warnings(&[("p.probity", &src)]);
    assert!(found.iter().any(|(code, m, _)| code == "W0008" && m.contains("the rule can never fire")), "{found:?}");
}

#[test]
fn unreachable_ladder_steps_are_reported() {
    let src = format!(
        "{HEADER}action a {{ n: int }}\nrule r cite \"c\" on a when action.n > 1 then breach minor\n\
         ladder l window 12 months points minor 0 step 1 \"warning\"\n"
    );
    let found = warnings(&[("p.probity", &src)]);
    assert!(found.iter().any(|(code, m, _)| code == "W0009" && m.contains("can never be reached")), "{found:?}");
    let src = format!(
        "{HEADER}action a {{ n: int }}\nrule r cite \"c\" on a when action.n > 1 then breach minor\n\
         ladder l window 12 months points minor 1 step 0 \"noted\" step 2 \"warning\"\n"
    );
    let found = warnings(&[("p.probity", &src)]);
    assert!(found.iter().any(|(code, m, _)| code == "W0009" && m.contains("without any breach")), "{found:?}");
}

#[test]
fn a_gap_between_versions_is_reported() {
    let v1 = "policy p version \"1\" effective 2026-01-01 until 2026-03-01\naction a { }\n";
    let v2 = "policy p version \"2\" effective 2026-04-01\naction a { }\n";
    let found = warnings(&[("v1.probity", v1), ("v2.probity", v2)]);
    assert!(
        found.iter().any(|(code, m, _)| code == "W0010" && m.contains("from 2026-03-01 until 2026-04-01")),
        "{found:?}"
    );
    let adjacent = "policy p version \"2\" effective 2026-03-01\naction a { }\n";
    assert!(!warnings(&[("v1.probity", v1), ("v2.probity", adjacent)]).iter().any(|(c, ..)| c == "W0010"));
}
