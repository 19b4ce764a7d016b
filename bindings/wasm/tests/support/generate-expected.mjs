#!/usr/bin/env node
// Runs the Rust CLI over every spec case with steps and saves, byte for byte, what the Rust
// engine answers, to tests/expected/spec-decisions.json. The Node tests compare the wasm
// binding's output with it.
//
//   node tests/support/generate-expected.mjs             regenerate
//   node tests/support/generate-expected.mjs --if-stale  only when the inputs changed
//
// How each step's expected output is produced with the CLI:
// - a case without history: `probity replay` of the case's actions up to the step, with
//   `--as-of T` for an advance step; the step's records are the last decision with the overdue
//   records before it (action step) or the records after the last decision (advance step), minus
//   obligations an earlier step already reported (a ledger reports each overdue obligation once;
//   a replay without the intermediate advances reports them later, in the same form).
// - a case with history (the CLI's replay cannot seed a ledger): `probity eval --history`, for
//   a case of one action step whose history holds no open obligations, where pure evaluation and
//   a seeded ledger's submit agree; anything else is refused loudly.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { caseSources, fixturePath, inputsKey, referenceFiles, root, specFiles } from './spec.mjs';

const ifStale = process.argv.includes('--if-stale');
const key = inputsKey();
if (ifStale && existsSync(fixturePath)) {
  const current = JSON.parse(readFileSync(fixturePath, 'utf8'));
  if (current.inputs === key) {
    console.error('generate-expected: fixture is current');
    process.exit(0);
  }
}

console.error('generate-expected: cargo build --release -p probity-cli');
execFileSync(process.env.CARGO ?? 'cargo', ['build', '--release', '-p', 'probity-cli'], {
  cwd: root,
  stdio: ['ignore', 'inherit', 'inherit'],
});
const cli = join(root, 'target/release/probity');

const work = mkdtempSync(join(tmpdir(), 'probity-expected-'));
let runs = 0;

function run(args) {
  runs += 1;
  try {
    return execFileSync(cli, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`probity ${args.join(' ')} failed (${e.status}):\n${e.stdout}\n${e.stderr}`);
  }
}

/** Splits replay output into its records: `{type, json}` with the inner JSON text exact. */
function records(output) {
  return output
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      for (const type of ['decision', 'overdue', 'error']) {
        const prefix = `{"${type}":`;
        if (line.startsWith(prefix) && line.endsWith('}')) {
          return { type, json: line.slice(prefix.length, -1) };
        }
      }
      throw new Error(`unexpected replay line: ${line}`);
    });
}

const identity = (json) => {
  const r = JSON.parse(json);
  // A periodic duty's report has a period where others have an action.
  const o = r.obligation;
  return JSON.stringify([r.rm, o.policy, o.duty, o.action ?? null, o.period ?? null]);
};

function expectCase(spec, kase, dir) {
  const policyDir = join(dir, 'policies');
  mkdirSync(policyDir);
  for (const [name, text] of caseSources(spec, kase)) writeFileSync(join(policyDir, name), text);
  // The list and calendar files, next to the policies that name them.
  for (const [path, text] of referenceFiles()) {
    mkdirSync(dirname(join(policyDir, path)), { recursive: true });
    writeFileSync(join(policyDir, path), text);
  }
  const steps = kase.steps;

  if (kase.history) {
    const [step] = steps;
    if (steps.length !== 1 || !step.action || (kase.history.obligations ?? []).length > 0) {
      throw new Error(
        `${spec.file} / ${kase.name}: a case with history needs more than one action step or ` +
          'holds obligations; the CLI cannot replay it through a seeded ledger',
      );
    }
    writeFileSync(join(dir, 'action.json'), JSON.stringify(step.action));
    writeFileSync(join(dir, 'history.json'), JSON.stringify(kase.history));
    const out = run(['eval', '--policies', policyDir, join(dir, 'action.json'), '--history', join(dir, 'history.json')]);
    return [{ kind: 'action', overdue: [], decision: out.trimEnd() }];
  }

  const reported = new Set();
  const fresh = (list) => {
    const out = list.filter((json) => !reported.has(identity(json)));
    for (const json of out) reported.add(identity(json));
    return out;
  };
  const result = [];
  const actions = [];
  for (const step of steps) {
    if (step.action) actions.push(step.action);
    const events = join(dir, 'events.jsonl');
    writeFileSync(events, actions.map((a) => JSON.stringify(a) + '\n').join(''));
    const args = ['replay', '--policies', policyDir, events];
    if (step.advance !== undefined) args.push('--as-of', step.advance);
    const recs = records(run(args));
    const errors = recs.filter((r) => r.type === 'error');
    if (errors.length) throw new Error(`${spec.file} / ${kase.name}: replay errors: ${errors.map((e) => e.json)}`);
    const last = recs.findLastIndex((r) => r.type === 'decision');
    if (step.action) {
      const before = recs.slice(0, last).findLastIndex((r) => r.type === 'decision');
      const overdue = recs.slice(before + 1, last).map((r) => r.json);
      result.push({ kind: 'action', overdue: fresh(overdue), decision: recs[last].json });
    } else {
      result.push({ kind: 'advance', reports: fresh(recs.slice(last + 1).map((r) => r.json)) });
    }
  }
  return result;
}

const fixture = { inputs: key, generator: 'tests/support/generate-expected.mjs', files: {} };
let cases = 0;
try {
  for (const spec of specFiles()) {
    const list = [];
    for (const [index, kase] of spec.doc.cases.entries()) {
      if (!kase.steps?.length) continue;
      const dir = join(work, `${spec.file}-${index}`);
      mkdirSync(dir);
      list.push({ index, name: kase.name, steps: expectCase(spec, kase, dir) });
      cases += 1;
    }
    fixture.files[spec.file] = list;
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
writeFileSync(fixturePath, JSON.stringify(fixture, null, 1) + '\n');
console.error(`generate-expected: ${cases} cases, ${runs} CLI runs → ${fixturePath}`);
