//! Scoring the rules against labels: the injected violations of a generated stream
//! (`probity generate --labels`), one `{"id", "rule", "policy", …}` JSON object per line.
//!
//! A rule that is labelled is scored on the actions its findings name (for an overdue report, the
//! obligation's action): a finding on a labelled action of that rule is a true positive, on any
//! other action a false positive, and a labelled action it never names a false negative. Error
//! and restriction findings are not the rule's judgement and are not counted. Ratios are kept as
//! integers (tenths of a percent), never in floating point.

use std::collections::{BTreeMap, HashSet};

use probity::FindingKind;

use crate::collect::Finding;

/// The labelled actions per `(policy, rule)`.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    expected: BTreeMap<(String, String), HashSet<String>>,
}

impl Labels {
    /// Reads labels from JSON lines; a blank line is skipped, any other line that is not an
    /// object with text `id`, `rule` and `policy` is an error naming its line.
    pub fn parse(text: &str) -> Result<Labels, String> {
        let mut labels = Labels::default();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let line_no = n.saturating_add(1);
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("labels line {line_no}: {e}"))?;
            let field = |key: &str| {
                value
                    .get(key)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| format!("labels line {line_no}: no text `{key}`"))
            };
            let (id, rule, policy) = (field("id")?, field("rule")?, field("policy")?);
            labels.expected.entry((policy, rule)).or_default().insert(id);
        }
        Ok(labels)
    }

    /// Reads the labels file at `path`.
    pub fn read(path: &std::path::Path) -> Result<Labels, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read the labels `{}`: {e}", path.display()))?;
        Labels::parse(&text)
    }

    /// The number of labelled actions.
    pub fn len(&self) -> usize {
        self.expected.values().map(HashSet::len).sum()
    }

    /// Whether no action is labelled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How one labelled rule did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleScore {
    /// The policy id.
    pub policy: String,
    /// The rule, conflict or duty id.
    pub rule: String,
    /// Labelled actions.
    pub labelled: u64,
    /// Labelled actions the rule named.
    pub true_positives: u64,
    /// Other actions the rule named.
    pub false_positives: u64,
    /// Labelled actions the rule never named.
    pub false_negatives: u64,
}

impl RuleScore {
    /// Precision in tenths of a percent (`None` when the rule named no action).
    pub fn precision_permille(&self) -> Option<u64> {
        permille(self.true_positives, self.true_positives.saturating_add(self.false_positives))
    }

    /// Recall in tenths of a percent (`None` when nothing is labelled).
    pub fn recall_permille(&self) -> Option<u64> {
        permille(self.true_positives, self.labelled)
    }
}

/// `part / whole` in tenths of a percent, rounded half up.
fn permille(part: u64, whole: u64) -> Option<u64> {
    let scaled = part.checked_mul(1000)?.checked_add(whole / 2)?;
    scaled.checked_div(whole)
}

/// Tenths of a percent as text: `985` → `98.5 %`, `None` → `—`.
pub fn percent(permille: Option<u64>) -> String {
    match permille {
        Some(p) => format!("{}.{} %", p / 10, p % 10),
        None => "—".to_string(),
    }
}

/// The running score of every labelled rule.
#[derive(Debug, Default)]
pub(crate) struct Scoring {
    labels: Labels,
    /// Per labelled rule: the labelled actions found, and the findings on other actions.
    found: BTreeMap<(String, String), (HashSet<String>, u64)>,
}

impl Scoring {
    pub(crate) fn new(labels: Labels) -> Scoring {
        Scoring { labels, found: BTreeMap::new() }
    }

    /// Scores the findings a record names `action` with.
    pub(crate) fn add(&mut self, action: &str, findings: &[Finding]) {
        if action.is_empty() {
            return;
        }
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for f in findings {
            if matches!(f.kind, FindingKind::Error | FindingKind::Restriction) {
                continue;
            }
            let key = (f.policy.as_str(), f.rule.as_str());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let key = (f.policy.to_string(), f.rule.to_string());
            let Some(expected) = self.labels.expected.get(&key) else { continue };
            let entry = self.found.entry(key).or_default();
            if expected.contains(action) {
                entry.0.insert(action.to_string());
            } else {
                entry.1 = entry.1.saturating_add(1);
            }
        }
    }

    /// The scores, by policy and rule.
    pub(crate) fn scores(&self) -> Vec<RuleScore> {
        self.labels
            .expected
            .iter()
            .map(|((policy, rule), expected)| {
                let (hits, false_positives) = self
                    .found
                    .get(&(policy.clone(), rule.clone()))
                    .map_or((0, 0), |(found, fp)| (found.len() as u64, *fp));
                let labelled = expected.len() as u64;
                RuleScore {
                    policy: policy.clone(),
                    rule: rule.clone(),
                    labelled,
                    true_positives: hits,
                    false_positives,
                    false_negatives: labelled.saturating_sub(hits),
                }
            })
            .collect()
    }
}
