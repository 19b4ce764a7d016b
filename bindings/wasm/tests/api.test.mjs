// The JS API of the wasm binding: shapes, errors, conversions, types and packaging.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pkgDir } from './support/spec.mjs';

const require = createRequire(import.meta.url);
const probity = require('../pkg-node/probity_wasm.js');
const { Engine, Ledger, PolicySet } = probity;

const GIFTS = `policy gifts "Gifts and hospitality" version "2026.1" effective 2026-01-01 timezone "Asia/Shanghai"

action gift_received { giver: text  kind: one of cash, goods  value: money  rate: decimal? }
action gift_registered { gift: text }

rule cash_gift "Cash is never accepted"
  cite "Staff conduct rules 4.1"
  on gift_received
  when action.kind = "cash"
  then deny, breach major
  message "cash gift of {action.value} from {action.giver}"
  message zh "收受现金礼品 {action.value}"

rule odd_rate "A rate above 0.3 is reviewed"
  cite "Test"
  on gift_received
  when action.rate is present and action.rate > 0.3
  then review

duty gift_register "Gifts of CNY 200 or more are registered within 30 days"
  cite "Staff conduct rules 4.2"
  on gift_received
  when action.value >= 200 CNY
  due within 30 days
  fulfilled by gift_registered where gift = action.id
  otherwise breach minor

ladder conduct window 12 months points minor 1, major 3 step 3 "formal warning"
`;

const gift = (extra = {}) => ({
  type: 'gift_received', id: 'G-1', at: '2026-03-01T10:00:00+08:00', rm: { id: 'R1' },
  giver: 'ACME', kind: 'goods', value: '300 CNY', ...extra,
});

const engine = new Engine(PolicySet.fromSources({ 'gifts.probity': GIFTS }));

function throwsNamed(fn, name, pattern) {
  let error;
  assert.throws(fn, (e) => (error = e) instanceof Error);
  assert.equal(error.name, name);
  if (pattern) assert.match(error.message, pattern);
  return error;
}

describe('PolicySet', () => {
  test('loads from an object, a Map or [name, text] pairs', () => {
    for (const sources of [{ 'gifts.probity': GIFTS }, new Map([['gifts.probity', GIFTS]]), [['gifts.probity', GIFTS]]]) {
      const set = PolicySet.fromSources(sources);
      assert.deepEqual(set.versions(), [{ id: 'gifts', version: '2026.1' }]);
      assert.equal(set.ruleCount, 3);
      assert.deepEqual(set.warnings, []);
    }
  });

  test('a policy error is an Error named PolicyError carrying every diagnostic', () => {
    const broken = GIFTS.replace('action.kind = "cash"', 'action.knd = "cash"').replace('breach major', 'breach huge');
    const e = throwsNamed(() => PolicySet.fromSources({ 'gifts.probity': broken }), 'PolicyError', /2 error\(s\) in policy text/);
    assert.equal(e.diagnostics.length, 2);
    const [field, severity] = e.diagnostics;
    assert.deepEqual(
      { code: field.code, line: field.line, column: field.column, file: field.file, help: field.help },
      { code: 'P0102', line: 9, column: 15, file: 'gifts.probity', help: 'did you mean `kind`?' },
    );
    assert.equal(severity.line, 10);
    assert.match(String(e), /^PolicyError: 2 error/);
    assert.equal(e.code, 'policy-errors');
  });

  test('check reports errors and warnings without throwing', () => {
    assert.deepEqual(PolicySet.check({ 'gifts.probity': GIFTS }), []);
    const uncited = GIFTS.replace('  cite "Staff conduct rules 4.1"\n', '');
    const [warning] = PolicySet.check({ 'g.probity': uncited });
    assert.equal(warning.severity, 'warning');
    assert.equal(warning.line, 6);
    assert.deepEqual(PolicySet.fromSources({ 'g.probity': uncited }).warnings, [warning]);
  });

  test('sources of the wrong shape are input errors', () => {
    throwsNamed(() => PolicySet.fromSources({ a: 42 }), 'InputError', /the text of `a` is not a string/);
    throwsNamed(() => PolicySet.fromSources('nope'), 'InputError', /invalid policy sources/);
    throwsNamed(() => PolicySet.fromSources(undefined), 'InputError', /invalid policy sources/);
  });
});

describe('Engine', () => {
  test('evaluate returns a plain object that serialises to the engine JSON', () => {
    const d = engine.evaluate(gift({ kind: 'cash' }));
    assert.equal(Object.getPrototypeOf(d), Object.prototype);
    assert.equal(d.verdict, 'deny');
    assert.deepEqual(d.findings[0].messages, { zh: '收受现金礼品 300.00 CNY' });
    assert.deepEqual(d.findings[0].evidence, { 'action.kind': 'cash' });
    assert.equal(d.findings[0].message, 'cash gift of 300.00 CNY from ACME');
    assert.deepEqual(d.obligations.map((o) => [o.duty, o.due]), [['gift_register', '2026-03-31T10:00:00+08:00']]);
    assert.equal(JSON.stringify(d), engine.evaluateJson(gift({ kind: 'cash' })));
  });

  test('an action and a history may be given as JSON text', () => {
    const history = { actions: [gift({ id: 'G-0', at: '2026-01-01T10:00:00+08:00' })] };
    const registered = { type: 'gift_registered', id: 'X', at: '2026-01-05T10:00:00+08:00', rm: { id: 'R1' }, gift: 'G-0' };
    const obligation = { rm: 'R1', policy: 'gifts', duty: 'gift_register', action: 'G-0', due: '2026-01-31T10:00:00+08:00' };
    const full = { ...history, obligations: [obligation] };
    const a = engine.evaluate(registered, full);
    assert.deepEqual(a.fulfilled, [{ policy: 'gifts', duty: 'gift_register', action: 'G-0' }]);
    assert.deepEqual(engine.evaluate(JSON.stringify(registered), JSON.stringify(full)), a);
    assert.deepEqual(engine.evaluate(registered, null).fulfilled, []);
    assert.deepEqual(engine.evaluate(registered, undefined).fulfilled, []);
  });

  test('a JS number becomes a decimal through its shortest round-trip text', () => {
    const d = engine.evaluate(gift({ rate: 0.1 + 0.2 }));
    assert.equal(d.verdict, 'review');
    assert.deepEqual(d.findings[0].evidence, { 'action.rate': '0.30000000000000004' });
    assert.equal(engine.evaluate(gift({ rate: 0.3 })).verdict, 'allow');
  });

  test('unusable input is an Error named InputError with a clear message', () => {
    throwsNamed(() => engine.evaluate({ ...gift(), rm: undefined }), 'InputError', /^invalid action: `rm`: missing/);
    throwsNamed(() => engine.evaluate(gift({ at: 'yesterday' })), 'InputError', /^invalid action: `at`/);
    throwsNamed(() => engine.evaluate('{"type": '), 'InputError', /^invalid action: invalid JSON/);
    throwsNamed(() => engine.evaluate(undefined), 'InputError', /^invalid action: expected an object or JSON text/);
    throwsNamed(() => engine.evaluate(gift({ n: 1n })), 'InputError', /BigInt/);
    throwsNamed(() => engine.evaluate(gift(), { actions: 3 }), 'InputError', /^invalid history: /);
    // A field of the wrong form is not an input error: the rules that read it fail closed.
    const d = engine.evaluate(gift({ value: 'oops' }));
    assert.equal(d.verdict, 'review');
    assert.ok(d.findings.every((f) => f.kind === 'error'));
  });

  test('overdue is pure and accepts a Date', () => {
    const history = { obligations: [{ rm: 'R1', policy: 'gifts', duty: 'gift_register', action: 'G-0', due: '2026-01-31T10:00:00+08:00' }] };
    const reports = engine.overdue(history, new Date('2026-02-01T00:00:00Z'));
    assert.equal(reports.length, 1);
    assert.equal(reports[0].findings[0].kind, 'overdue');
    assert.deepEqual(engine.overdue(history, '2026-01-31T10:00:00+08:00'), []);
  });

  test('the policy set stays usable after an engine is made from it', () => {
    const set = PolicySet.fromSources({ 'gifts.probity': GIFTS });
    const a = new Engine(set);
    const b = new Engine(set);
    assert.equal(set.ruleCount, 3);
    assert.deepEqual(a.evaluate(gift()), b.evaluate(gift()));
    assert.throws(() => new Engine({}), /expected instance of PolicySet/);
  });
});

describe('Ledger', () => {
  test('submit gives {overdue, decision}; advanceTo reports each obligation once', () => {
    const ledger = new Ledger(engine);
    const first = ledger.submit(gift());
    assert.deepEqual(Object.keys(first), ['overdue', 'decision']);
    assert.deepEqual(first.overdue, []);
    assert.equal(first.decision.obligations.length, 1);
    const reports = ledger.advanceTo('2026-04-05T00:00:00+08:00');
    assert.deepEqual(reports.map((r) => [r.rm, r.at, r.obligation.duty]), [['R1', '2026-03-31T10:00:00+08:00', 'gift_register']]);
    assert.deepEqual(reports[0].sanctions, []);
    assert.deepEqual(ledger.advanceTo(new Date('2026-05-01T00:00:00Z')), []);
    const late = ledger.submit({ type: 'gift_registered', id: 'X', at: '2026-05-02T00:00:00Z', rm: { id: 'R1' }, gift: 'G-1' });
    assert.deepEqual(late.decision.fulfilled.map((f) => f.action), ['G-1']);
  });

  test('submit reports what fell overdue before the action, then decides', () => {
    const ledger = engine.ledger();
    ledger.submit(gift());
    const next = ledger.submit(gift({ id: 'G-2', kind: 'cash', at: '2026-04-02T10:00:00+08:00' }));
    assert.deepEqual(next.overdue.map((r) => r.obligation.action), ['G-1']);
    // 1 point for the overdue breach plus 3 for the cash gift reach the step.
    assert.deepEqual(next.decision.sanctions.map((s) => [s.points, s.step, s.previous]), [[4, 'formal warning', null]]);
  });

  test('load seeds history; bad input is an InputError', () => {
    const ledger = new Ledger(engine);
    ledger.load({ breaches: [{ rm: 'R1', policy: 'gifts', rule: 'cash_gift', severity: 'major', ladder: 'conduct', at: '2026-02-01T00:00:00Z', action: 'G-0' }] });
    assert.equal(ledger.submit(gift({ kind: 'cash' })).decision.sanctions[0].points, 6);
    throwsNamed(() => ledger.submit(gift({ id: 'G-9', at: '2026-01-01T00:00:00Z' })), 'InputError', /time order/);
    throwsNamed(() => ledger.advanceTo('soon'), 'InputError', /^invalid time: `soon` is not an RFC 3339 timestamp/);
    const leap = throwsNamed(() => ledger.advanceTo('2026-06-30T23:59:60Z'), 'InputError', /second 60/);
    assert.deepEqual([leap.code, leap.field], ['I0006', 'to']);
    throwsNamed(() => ledger.advanceTo(new Date(NaN)), 'InputError', /valid Date/);
    throwsNamed(() => ledger.load({ breaches: [{ policy: 'gifts', rule: 'x', severity: 'major', at: '2026-01-01T00:00:00Z', action: 'A' }] }), 'InputError', /breaches\[0\]\.rm/);
    throwsNamed(() => ledger.load({ nonsense: [] }), 'InputError', /unknown field/);
  });
});

describe('package', () => {
  test('the TypeScript types describe the API (tsc --strict)', () => {
    const tsc = join(pkgDir, 'node_modules/.bin/tsc');
    execFileSync(tsc, ['-p', join(pkgDir, 'tests/types/tsconfig.json')], { cwd: pkgDir, stdio: 'pipe' });
  });

  test('npm pack installs and works from CommonJS, ES modules and the web build', () => {
    const dir = mkdtempSync(join(tmpdir(), 'probity-pack-'));
    try {
      const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: pkgDir, encoding: 'utf8' });
      const [{ filename, files }] = JSON.parse(out);
      const paths = files.map((f) => f.path).sort();
      assert.ok(paths.includes('pkg-web/probity_wasm_bg.wasm') && paths.includes('pkg-node/probity_wasm.d.ts'), paths.join());
      assert.ok(!paths.some((p) => p.startsWith('tests/') || p.startsWith('src/')), paths.join());
      writeFileSync(join(dir, 'package.json'), '{"name": "consumer", "private": true}');
      execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', join(dir, filename)], { cwd: dir, stdio: 'pipe' });
      const policy = JSON.stringify(GIFTS);
      const action = JSON.stringify(gift({ kind: 'cash' }));
      const check = `if (new Engine(PolicySet.fromSources({ g: ${policy} })).evaluate(${action}).verdict !== 'deny') process.exit(3);`;
      writeFileSync(join(dir, 'cjs.cjs'), `const { Engine, PolicySet } = require('probity-wasm');\n${check}`);
      writeFileSync(join(dir, 'esm.mjs'), `import { Engine, PolicySet } from 'probity-wasm';\n${check}`);
      writeFileSync(
        join(dir, 'web.mjs'),
        `import { readFileSync } from 'node:fs';
import { initSync, Engine, PolicySet } from 'probity-wasm/web';
initSync({ module: readFileSync(new URL(import.meta.resolve('probity-wasm/probity_wasm_bg.wasm'))) });
${check}`,
      );
      for (const script of ['cjs.cjs', 'esm.mjs', 'web.mjs']) {
        execFileSync(process.execPath, [script], { cwd: dir, stdio: 'pipe' });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the optimised .wasm is what the package ships', () => {
    const web = readFileSync(join(pkgDir, 'pkg-web/probity_wasm_bg.wasm'));
    const node = readFileSync(join(pkgDir, 'pkg-node/probity_wasm_bg.wasm'));
    assert.ok(web.equals(node), 'both targets ship the same module');
    assert.ok(WebAssembly.validate(web));
    assert.ok(!web.includes(Buffer.from('\u0004name')), 'no name section after wasm-opt');
  });
});

describe('constants, lists and business days', () => {
  const PA = `policy pa version "1" effective 2026-01-01 timezone "Asia/Shanghai"
  calendar "cn.txt"
const cap = 300 USD
list restricted from "lists/restricted.txt"
action pa_deal { security: text  value: money }
action pa_reported { deal: text }
rule restricted_deal cite "PA 4" on pa_deal when action.security in restricted or action.value > cap then deny
duty report_deal cite "PA 5" on pa_deal due within 2 business days
  fulfilled by pa_reported where deal = action.id otherwise review
`;
  const files = { 'cn.txt': 'holiday 2026-05-01\nholiday 2026-05-04\n', 'lists/restricted.txt': 'A1\n  B2  \n' };
  const deal = (security) => ({
    type: 'pa_deal', id: 'D-1', at: '2026-04-30T10:00:00+08:00', rm: { id: 'R1' }, security, value: '10 USD',
  });

  test('list and calendar files given in memory reach decisions and the digest', () => {
    const e = new Engine(PolicySet.fromSources({ 'pa.probity': PA }, { files }));
    const denied = e.evaluate(deal('B2'));
    assert.equal(denied.verdict, 'deny');
    assert.deepEqual(denied.obligations, [
      { policy: 'pa', duty: 'report_deal', action: 'D-1', due: '2026-05-06T10:00:00+08:00' },
    ]);
    assert.equal(e.evaluate(deal('X9')).verdict, 'allow');
    const changed = new Engine(
      PolicySet.fromSources({ 'pa.probity': PA }, { files: { ...files, 'lists/restricted.txt': 'A1\nB2\nC3\n' } }),
    );
    assert.notEqual(changed.evaluate(deal('C3')).policies[0].digest, denied.policies[0].digest);
    assert.equal(changed.evaluate(deal('C3')).verdict, 'deny');
  });

  test('a list file not given is a PolicyError at the list line', () => {
    const error = throwsNamed(() => PolicySet.fromSources({ 'pa.probity': PA }, { files: { 'cn.txt': '' } }), 'PolicyError');
    assert.deepEqual(error.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.code, d.line]), [['P0402', 4]]);
  });
});
