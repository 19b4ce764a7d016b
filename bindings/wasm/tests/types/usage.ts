// Compiled with `tsc --noEmit --strict` by tests/api.test.mjs: the published types (generated
// from the core's serde types) describe the API as documented, and reject misuse: see the lines
// marked to expect an error.
import { Engine, Ledger, PolicySet } from 'probity-wasm';
import type { Decision, DiagnosticRecord, OverdueReport, ProbityError, Submission, Verdict } from 'probity-wasm';
import init, { initSync, PolicySet as WebPolicySet } from 'probity-wasm/web';

const diagnostics: DiagnosticRecord[] = PolicySet.check({ 'a.probity': 'policy a' });
const line: number = diagnostics[0].line;
const set = PolicySet.fromSources(new Map([['a.probity', 'policy a']]));
const engine = new Engine(set);
const decision: Decision = engine.evaluate({ type: 't', id: '1', at: '2026-01-01T00:00:00Z', rm: { id: 'R1' } });
const verdict: Verdict = decision.verdict;
const evidence: unknown = decision.findings[0]?.evidence['action.amount'];
const text: string = engine.evaluateJson('{}', { actions: [] });
const ledger: Ledger = engine.ledger();
const submission: Submission = ledger.submit('{}');
const reports: OverdueReport[] = ledger.advanceTo(new Date());
// An obligation names its action; a periodic duty's report names its period instead.
const by: string | undefined = reports[0]?.obligation.action;
const from: string | undefined = reports[0]?.obligation.period?.from;
ledger.load({ breaches: [{ policy: 'p', rule: 'r', severity: 'minor', at: 'x', action: 'a' }] });
const points: number = submission.decision.sanctions[0].points;
const previous: string | null = submission.decision.sanctions[0].previous;
try {
  PolicySet.fromSources({});
} catch (e) {
  const first: DiagnosticRecord | undefined = (e as ProbityError).diagnostics?.[0];
  const kind: 'PolicyError' | 'InputError' | 'InternalError' = (e as ProbityError).kind;
}
// @ts-expect-error: a verdict is one of three words
const wrong: Verdict = 'maybe';
// @ts-expect-error: an action needs rm
engine.evaluate({ type: 't', id: '1', at: 'x' });
void init; void initSync; void WebPolicySet; void line; void verdict; void evidence; void text; void reports;
void points; void previous; void wrong;
