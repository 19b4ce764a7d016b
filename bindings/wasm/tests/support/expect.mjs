// The spec's expectation matching (docs/language.md#test-files), for decisions and overdue
// reports as the wasm binding returns them. Returns a list of differences (empty when everything matches).

const sorted = (list) => [...list].map(String).sort();
const sameMultiset = (a, b) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));

function findingMatches(m, f) {
  if (typeof m === 'string') return m === f.rule;
  return ['rule', 'kind', 'severity', 'policy'].every((k) => m[k] === undefined || m[k] === f[k]);
}

/** Whether expected and actual findings pair up one to one (bipartite matching). */
function findingsMatch(expected, actual) {
  if (expected.length !== actual.length) return false;
  const owner = new Array(actual.length).fill(-1);
  const augment = (e, seen) => {
    for (let a = 0; a < actual.length; a += 1) {
      if (!seen[a] && findingMatches(expected[e], actual[a])) {
        seen[a] = true;
        if (owner[a] < 0 || augment(owner[a], seen)) {
          owner[a] = e;
          return true;
        }
      }
    }
    return false;
  };
  return expected.every((_, e) => augment(e, new Array(actual.length).fill(false)));
}

function sanctionsMatch(expected, actual) {
  if (Object.keys(expected).length !== actual.length) return false;
  return Object.entries(expected).every(([ladder, m]) => {
    const s = actual.find((x) => x.ladder === ladder);
    if (!s) return false;
    if (typeof m === 'string') return m === s.step;
    return (
      (m.step === undefined || m.step === s.step) &&
      (!('previous' in m) || m.previous === s.previous) &&
      (m.points === undefined || m.points === s.points)
    );
  });
}

function compare(expect, actual, out) {
  const diff = (key, want, got) => out.push(`${key}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  if (expect.verdict !== undefined && expect.verdict !== actual.verdict) diff('verdict', expect.verdict, actual.verdict);
  for (const key of ['policies', 'obligations', 'fulfilled', 'overdue', 'escalations']) {
    if (expect[key] !== undefined && !sameMultiset(expect[key], actual[key])) diff(key, expect[key], actual[key]);
  }
  if (expect.findings !== undefined && !findingsMatch(expect.findings, actual.findings)) {
    diff('findings', expect.findings, actual.findings.map((f) => ({ rule: f.rule, kind: f.kind, severity: f.severity })));
  }
  if (expect.sanctions !== undefined && !sanctionsMatch(expect.sanctions, actual.sanctions)) {
    diff('sanctions', expect.sanctions, actual.sanctions);
  }
  return out;
}

/** Differences between an action step's `expect` and a submission `{overdue, decision}`. */
export function checkSubmission(expect = {}, { overdue, decision }) {
  return compare(
    expect,
    {
      verdict: decision.verdict,
      policies: decision.policies.map((p) => `${p.id}@${p.version}`),
      findings: decision.findings,
      obligations: decision.obligations.map((o) => o.duty),
      fulfilled: decision.fulfilled.map((o) => o.duty),
      overdue: overdue.map((r) => r.obligation.duty),
      escalations: decision.escalations,
      sanctions: decision.sanctions,
    },
    [],
  );
}

/** Differences between an advance step's `expect` and its overdue reports. */
export function checkAdvance(expect = {}, reports) {
  const out = [];
  for (const key of ['verdict', 'policies', 'obligations', 'fulfilled']) {
    if (expect[key] !== undefined) out.push(`${key}: an advance step has no \`${key}\` to check`);
  }
  const last = [];
  for (const s of reports.flatMap((r) => r.sanctions)) {
    const i = last.findIndex((x) => x.ladder === s.ladder && x.policy === s.policy);
    if (i >= 0) last.splice(i, 1);
    last.push(s);
  }
  return compare(
    { ...expect, verdict: undefined, policies: undefined, obligations: undefined, fulfilled: undefined },
    {
      overdue: reports.map((r) => r.obligation.duty),
      findings: reports.flatMap((r) => r.findings),
      escalations: reports.flatMap((r) => r.escalations),
      sanctions: last,
    },
    out,
  );
}
