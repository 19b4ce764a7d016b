//! The service's metrics, written in Prometheus' text format: decisions by verdict, findings by
//! policy and rule, request latency by route (a histogram), responses by status, and the
//! state's size.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use probity::Decision;

/// The upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// Counters, shared by the handlers.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    decisions: BTreeMap<&'static str, u64>,
    findings: BTreeMap<(String, String), u64>,
    latency: BTreeMap<String, Histogram>,
    responses: BTreeMap<(String, u16), u64>,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Counts per bucket (not cumulative), and one past the last bucket.
    counts: [u64; 13],
    sum_micros: u128,
    count: u64,
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        match self.inner.lock() {
            Ok(mut inner) => f(&mut inner),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Counts a decision given (evaluated or submitted).
    pub fn decision(&self, decision: &Decision) {
        self.with(|m| {
            let n = m.decisions.entry(decision.verdict.as_str()).or_default();
            *n = n.saturating_add(1);
            for f in &decision.findings {
                let n = m.findings.entry((f.policy.to_string(), f.rule.to_string())).or_default();
                *n = n.saturating_add(1);
            }
        });
    }

    /// Counts a request's response and its latency.
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        self.with(|m| {
            let seconds = took.as_secs_f64();
            let h = m.latency.entry(route.to_string()).or_default();
            let bucket = BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(BUCKETS.len());
            if let Some(c) = h.counts.get_mut(bucket) {
                *c = c.saturating_add(1);
            }
            h.sum_micros = h.sum_micros.saturating_add(took.as_micros());
            h.count = h.count.saturating_add(1);
            let n = m.responses.entry((route.to_string(), status)).or_default();
            *n = n.saturating_add(1);
        });
    }

    /// The metrics as Prometheus text; `rms` is the state's RM count, if known.
    pub fn render(&self, rms: Option<u64>) -> String {
        let mut out = String::new();
        self.with(|m| {
            out.push_str("# HELP probity_decisions_total Decisions given, by verdict.\n");
            out.push_str("# TYPE probity_decisions_total counter\n");
            for (verdict, n) in &m.decisions {
                let _ = writeln!(out, "probity_decisions_total{{verdict=\"{verdict}\"}} {n}");
            }
            out.push_str("# HELP probity_findings_total Findings in the decisions given, by policy and rule.\n");
            out.push_str("# TYPE probity_findings_total counter\n");
            for ((policy, rule), n) in &m.findings {
                let _ = writeln!(
                    out,
                    "probity_findings_total{{policy=\"{}\",rule=\"{}\"}} {n}",
                    label(policy),
                    label(rule)
                );
            }
            out.push_str("# HELP probity_request_duration_seconds Time to answer a request, by route.\n");
            out.push_str("# TYPE probity_request_duration_seconds histogram\n");
            for (route, h) in &m.latency {
                let route = label(route);
                let mut cumulative = 0u64;
                for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
                    cumulative = cumulative.saturating_add(*count);
                    let _ = writeln!(
                        out,
                        "probity_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(
                    out,
                    "probity_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                // Microseconds to seconds for the exposition format, which is a float.
                #[allow(clippy::cast_precision_loss)]
                let sum = h.sum_micros as f64 / 1e6;
                let _ = writeln!(out, "probity_request_duration_seconds_sum{{route=\"{route}\"}} {sum}");
                let _ = writeln!(out, "probity_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
            }
            out.push_str("# HELP probity_responses_total Responses, by route and status.\n");
            out.push_str("# TYPE probity_responses_total counter\n");
            for ((route, status), n) in &m.responses {
                let _ = writeln!(out, "probity_responses_total{{route=\"{}\",status=\"{status}\"}} {n}", label(route));
            }
        });
        if let Some(rms) = rms {
            out.push_str("# HELP probity_state_rms RMs the state tracks.\n# TYPE probity_state_rms gauge\n");
            let _ = writeln!(out, "probity_state_rms {rms}");
        }
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
