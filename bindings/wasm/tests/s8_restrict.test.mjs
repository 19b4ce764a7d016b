// Restrictions (docs/language.md, "Restrictions") through the wasm binding: a reached ladder step
// holds later actions back, from a ledger's own records and from a history's breaches, and its
// mistakes are PolicyErrors with their code and line.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';

const { Engine, Ledger, PolicySet } = createRequire(import.meta.url)('../pkg-node/probity_wasm.js');

const POLICY = `policy sales version "1" effective 2026-01-01 timezone "Asia/Shanghai"

action product_sale { amount: money }
action mis_sale { }

rule mis_sale_breach "A mis-sale" cite "Conduct 1" on mis_sale then breach major

ladder conduct
  window 12 months
  points major 3
  step 6 "suspension from sales" restricts product_sale for 90 days
  step 9 "dismissal review" restricts all
`;

const engine = new Engine(PolicySet.fromSources({ 'sales.probity': POLICY }));

const act = (type, id, at) => ({
  type, id, at, rm: { id: 'R1' }, ...(type === 'product_sale' ? { amount: '500 CNY' } : {}),
});
const breach = (at) => ({
  rm: 'R1', policy: 'sales', rule: 'mis_sale_breach', severity: 'major', ladder: 'conduct', at, action: `M-${at}`,
});

describe('restrictions', () => {
  test('a ledger restricts the actions after the reaching one, until reached + for', () => {
    const ledger = new Ledger(engine);
    ledger.submit(act('mis_sale', 'M-1', '2026-03-01T10:00:00+08:00'));
    const reaching = ledger.submit(act('mis_sale', 'M-2', '2026-03-01T10:00:00+08:00')).decision;
    assert.equal(reaching.verdict, 'allow');
    assert.deepEqual(reaching.sanctions.map((s) => s.step), ['suspension from sales']);
    const denied = ledger.submit(act('product_sale', 'S-1', '2026-03-01T10:00:00+08:00')).decision;
    assert.equal(denied.verdict, 'deny');
    assert.equal(denied.findings.length, 1);
    const [f] = denied.findings;
    assert.deepEqual(Object.keys(f), ['policy', 'rule', 'kind', 'outcomes', 'message', 'cite', 'evidence']);
    assert.deepEqual([f.policy, f.rule, f.kind, f.outcomes, f.cite], ['sales', 'conduct', 'restriction', ['deny'], []]);
    assert.deepEqual(f.evidence, {
      step: 'suspension from sales', reached: '2026-03-01T10:00:00+08:00', until: '2026-05-30T10:00:00+08:00', points: 6,
    });
    assert.match(f.message, /product_sale/);
    assert.match(f.message, /suspension from sales/);
    const after = ledger.submit(act('product_sale', 'S-2', '2026-05-30T10:00:00+08:00')).decision;
    assert.equal(after.verdict, 'allow');
  });

  test('evaluate and a seeded ledger derive restrictions from the history breaches', () => {
    const history = {
      breaches: [breach('2026-03-01T10:00:00+08:00'), breach('2026-03-02T10:00:00+08:00'), breach('2026-03-03T10:00:00+08:00')],
    };
    const action = act('mis_sale', 'M-9', '2026-03-04T10:00:00+08:00');
    const d = engine.evaluate(action, history);
    assert.deepEqual(d.findings.map((x) => x.kind), ['rule', 'restriction']);
    assert.deepEqual(d.findings[1].evidence, {
      step: 'dismissal review', reached: '2026-03-03T10:00:00+08:00', until: null, points: 9,
    });
    const ledger = new Ledger(engine);
    ledger.load(history);
    assert.equal(JSON.stringify(ledger.submit(action).decision), JSON.stringify(d));
    const early = engine.evaluate(act('mis_sale', 'M-0', '2026-03-02T12:00:00+08:00'), history);
    assert.deepEqual(early.findings.map((x) => x.kind), ['rule']);
  });

  for (const [step, code] of [
    ['step 6 "s" restricts product_sales', 'P0420'],
    ['step 6 "s" restricts product_sale, product_sale', 'P0421'],
    ['step 6 "s" restricts all, product_sale', 'P0422'],
    ['step 6 "s" restricts product_sale for 0 days', 'P0423'],
  ]) {
    test(`${code} is a PolicyError at the step`, () => {
      const source = POLICY.replace('step 6 "suspension from sales" restricts product_sale for 90 days', step);
      let error;
      assert.throws(() => PolicySet.fromSources({ 'sales.probity': source }), (e) => (error = e) instanceof Error);
      assert.equal(error.name, 'PolicyError');
      const errors = error.diagnostics.filter((x) => x.severity === 'error');
      assert.deepEqual(errors.map((x) => [x.code, x.line]), [[code, 11]]);
      assert.ok(errors[0].help);
    });
  }
});
