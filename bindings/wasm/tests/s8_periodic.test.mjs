// Periodic duties (docs/language.md, "Periodic duties") through the wasm binding: checks run when
// the ledger advances past a period's end plus its grace, once per RM and period, and the report
// names the period instead of an action, byte for byte as the Rust engine writes it.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';

const require = createRequire(import.meta.url);
const { Engine, PolicySet } = require('../pkg-node/probity_wasm.js');

const TRAINING = `policy training version "1" effective 2025-01-01 timezone "Asia/Shanghai"

action training_completed { hours: int }

duty quarterly_training "10 hours of training each quarter"
  cite "Training policy 2"
  every quarter
  require sum(training_completed.hours within period) >= 10
  due within 15 days
  otherwise breach minor

ladder conduct window 12 months points minor 1 step 1 "verbal warning"
`;

const engine = new Engine(PolicySet.fromSources({ 'training.probity': TRAINING }));

const training = (id, at, hours, rm = 'R1') => ({ type: 'training_completed', id, at, rm: { id: rm }, hours });

describe('periodic duties', () => {
  test('a failed quarter is reported after its grace, with its period, once', () => {
    const ledger = engine.ledger();
    ledger.submit(training('T-1', '2025-12-15T10:00:00+08:00', 2)); // the partial quarter is exempt
    ledger.submit(training('T-2', '2026-02-15T10:00:00+08:00', 6));
    // Training in the grace does not count for the quarter.
    assert.deepEqual(ledger.submit(training('T-3', '2026-04-03T10:00:00+08:00', 5)).overdue, []);
    assert.deepEqual(ledger.advanceTo('2026-04-16T00:00:00+08:00'), [], 'due is end + grace: not yet past');
    const reports = ledger.advanceTo('2026-04-16T00:00:01+08:00');
    assert.equal(reports.length, 1);
    const [report] = reports;
    assert.equal(report.rm, 'R1');
    assert.equal(report.at, '2026-04-16T00:00:00+08:00');
    assert.deepEqual(report.obligation, {
      policy: 'training',
      duty: 'quarterly_training',
      period: { from: '2026-01-01', until: '2026-04-01' },
      due: '2026-04-16T00:00:00+08:00',
    });
    assert.equal('action' in report.obligation, false);
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.severity, f.evidence]),
      [['overdue', 'minor', { 'sum(training_completed.hours within period)': 6 }]],
    );
    assert.deepEqual(report.sanctions.map((s) => s.step), ['verbal warning']);
    assert.deepEqual(ledger.advanceTo('2026-05-01T00:00:00+08:00'), []);
  });

  test('a submit reports only its RM; an advance every RM', () => {
    const ledger = engine.ledger();
    ledger.submit(training('A', '2025-12-01T10:00:00+08:00', 1, 'R1'));
    ledger.submit(training('B', '2025-12-02T10:00:00+08:00', 1, 'R2'));
    const next = ledger.submit(training('C', '2026-04-20T10:00:00+08:00', 1, 'R1'));
    assert.deepEqual(next.overdue.map((r) => [r.rm, r.obligation.duty]), [['R1', 'quarterly_training']]);
    assert.equal(next.decision.verdict, 'allow');
    assert.deepEqual(ledger.advanceTo('2026-04-21T00:00:00+08:00').map((r) => r.rm), ['R2']);
  });

  test('the pure overdue helper checks a seeded history', () => {
    const history = { actions: [training('T-1', '2026-01-01T00:00:00+08:00', 3)] };
    const reports = engine.overdue(history, '2026-04-17T00:00:00+08:00');
    assert.deepEqual(reports.map((r) => r.obligation.period), [{ from: '2026-01-01', until: '2026-04-01' }]);
  });

  test('within period outside a periodic duty is a PolicyError (P0435)', () => {
    const bad = TRAINING.replace('every quarter', 'on training_completed').replace('  due within 15 days\n', '');
    assert.throws(
      () => PolicySet.fromSources({ 'bad.probity': bad }),
      (e) => e.name === 'PolicyError' && e.diagnostics.length === 1 && e.diagnostics[0].code === 'P0435' && e.diagnostics[0].line === 8,
    );
  });
});
