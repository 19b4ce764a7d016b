#!/usr/bin/env node
// Measures the wasm binding in Node: the optimised .wasm size and the mean time of one
// evaluation of spec actions (10,000 evaluations each, after a warm-up).
//
//   node tests/support/bench.mjs [N]
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { caseSources, pkgDir, specFiles } from './spec.mjs';

const { Engine, PolicySet } = createRequire(import.meta.url)('../../pkg-node/probity_wasm.js');
const n = Number(process.argv[2] ?? 10000);

function spec(file, caseName) {
  const s = specFiles().find((f) => f.file === file);
  const kase = s.doc.cases.find((c) => c.name === caseName);
  return { sources: Object.fromEntries(caseSources(s, kase)), action: kase.steps[0].action, history: kase.history };
}

function measure(label, fn) {
  for (let i = 0; i < Math.min(1000, n); i += 1) fn();
  const start = performance.now();
  for (let i = 0; i < n; i += 1) fn();
  const us = ((performance.now() - start) * 1000) / n;
  console.log(`${label.padEnd(72)} ${us.toFixed(1).padStart(7)} µs/eval`);
  return us;
}

const wasm = join(pkgDir, 'pkg-node/probity_wasm_bg.wasm');
console.log(`optimised .wasm: ${statSync(wasm).size} bytes (${(statSync(wasm).size / 1024).toFixed(0)} KiB)`);
console.log(`node ${process.version}, ${n} evaluations each, mean:`);

const cases = [
  ['01_basics.yaml', 'a large unsuitable sale has both findings'],
  ['08_policy_sets.yaml', 'the most severe outcome wins, every applied policy is listed'],
  ['04_aggregates.yaml', 'one yuan more needs approval'],
];
for (const [file, name] of cases) {
  const { sources, action, history } = spec(file, name);
  const engine = new Engine(PolicySet.fromSources(sources));
  const actionText = JSON.stringify(action);
  const historyText = history ? JSON.stringify(history) : null;
  measure(`${file} "${name}": evaluate(object) → object`, () => engine.evaluate(action, history));
  measure(`${file} "${name}": evaluateJson(text) → text`, () => engine.evaluateJson(actionText, historyText));
}
