// The whole spec corpus (tests/spec/*.yaml) through the wasm binding: every decision and
// overdue report must be byte-identical to the Rust engine's (tests/expected, made by the CLI)
// and meet the spec's expectations.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { checkAdvance, checkSubmission } from './support/expect.mjs';
import { caseSources, fixturePath, inputsKey, referenceFiles, specFiles } from './support/spec.mjs';

const { Engine, Ledger, PolicySet } = createRequire(import.meta.url)('../pkg-node/probity_wasm.js');
const fixture = JSON.parse(readFileSync(fixturePath, 'utf8'));

test('the expected decisions are current (else: npm run expected)', () => {
  assert.equal(fixture.inputs, inputsKey(), 'the spec or the engine changed since tests/expected was generated');
});

const sourcesObject = (pairs) => Object.fromEntries(pairs);
// List and calendar files, given in memory as a browser would (there is no file system here).
const options = { files: Object.fromEntries(referenceFiles()) };

for (const spec of specFiles()) {
  describe(spec.file, () => {
    const expectedCases = fixture.files[spec.file] ?? [];
    for (const [index, kase] of spec.doc.cases.entries()) {
      test(kase.name, () => {
        const sources = sourcesObject(caseSources(spec, kase));
        if (kase.expect_error) {
          let error;
          assert.throws(() => PolicySet.fromSources(sources, options), (e) => (error = e) instanceof Error);
          assert.equal(error.name, 'PolicyError');
          assert.ok(Array.isArray(error.diagnostics) && error.diagnostics.length > 0);
          const errors = error.diagnostics.filter((d) => d.severity === 'error');
          assert.ok(errors.length > 0, 'a failed load reports at least one error');
          for (const d of error.diagnostics) {
            assert.deepEqual(Object.keys(d), [
              'code', 'severity', 'message', 'help', 'file', 'line', 'column', 'end_line', 'end_column', 'related',
            ]);
          }
          if (kase.expect_error.line !== undefined) {
            assert.ok(
              errors.some((d) => d.line === kase.expect_error.line),
              `expected an error on line ${kase.expect_error.line}: ${JSON.stringify(errors)}`,
            );
          }
          return;
        }

        const expected = expectedCases.find((c) => c.index === index);
        assert.ok(expected, 'no expected output for this case: npm run expected');
        assert.equal(expected.steps.length, kase.steps.length);
        const set = PolicySet.fromSources(sources, options);
        const engine = new Engine(set);
        const ledger = new Ledger(engine);
        if (kase.history) ledger.load(kase.history);

        kase.steps.forEach((step, i) => {
          const want = expected.steps[i];
          const label = `step ${i + 1}`;
          if (step.action) {
            if (i === 0) {
              // Pure evaluation of the first action equals the ledger's decision (nothing is
              // overdue yet), as an object and as exact text.
              assert.equal(JSON.stringify(engine.evaluate(step.action, kase.history)), want.decision, label);
              assert.equal(engine.evaluateJson(JSON.stringify(step.action), kase.history ?? null), want.decision);
            }
            const submission = ledger.submit(step.action);
            assert.equal(JSON.stringify(submission.decision), want.decision, `${label}: decision bytes`);
            assert.deepEqual(submission.overdue.map((r) => JSON.stringify(r)), want.overdue, `${label}: overdue bytes`);
            assert.equal(
              JSON.stringify(submission),
              `{"overdue":[${want.overdue.join(',')}],"decision":${want.decision}}`,
            );
            assert.deepEqual(checkSubmission(step.expect, submission), [], label);
          } else {
            const reports = ledger.advanceTo(step.advance);
            assert.deepEqual(reports.map((r) => JSON.stringify(r)), want.reports, `${label}: report bytes`);
            assert.deepEqual(checkAdvance(step.expect, reports), [], label);
          }
        });
        ledger.free();
        engine.free();
        set.free();
      });
    }
  });
}
