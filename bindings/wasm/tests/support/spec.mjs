// The spec corpus (tests/spec/*.yaml, docs/language.md#test-files) as the JS tests and the
// fixture generator read it, and the key that tells whether the expected-decisions fixture is still current.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const here = dirname(fileURLToPath(import.meta.url));
export const pkgDir = resolve(here, '../..');
export const root = resolve(pkgDir, '../..');
export const specDir = join(root, 'tests/spec');
export const fixturePath = join(pkgDir, 'tests/expected/spec-decisions.json');

/** Every spec file, parsed: `[{file, path, doc}]` in name order. */
export function specFiles() {
  return readdirSync(specDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const path = join(specDir, file);
      return { file, path, doc: YAML.parse(readFileSync(path, 'utf8')) };
    });
}

/**
 * A case's policy sources as `[[name, text]]`: inline entries (any with a line break) are named
 * by position, others are paths relative to the spec file.
 */
export function caseSources(spec, kase) {
  const list = kase.policies ?? spec.doc.policies ?? [];
  return list.map((entry, i) => {
    const n = String(i + 1).padStart(2, '0');
    if (entry.includes('\n')) return [`${n}.probity`, entry];
    const path = resolve(dirname(spec.path), entry);
    return [`${n}-${entry.replaceAll('/', '_')}`, readFileSync(path, 'utf8')];
  });
}

/**
 * The list and calendar files the spec policies read (docs/language.md), as `[[path, text]]`
 * with paths relative to the spec directory (`lists/restricted.txt`): what a policy named
 * without a directory reads, given in memory to `PolicySet.fromSources(…, {files})`.
 */
export function referenceFiles() {
  const out = [];
  for (const sub of ['lists', 'calendars']) {
    const dir = join(specDir, sub);
    try {
      if (!statSync(dir).isDirectory()) continue;
    } catch {
      continue;
    }
    for (const path of walk(dir, [])) out.push([relative(specDir, path).split('\\').join('/'), readFileSync(path, 'utf8')]);
  }
  return out;
}

function walk(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else out.push(path);
  }
  return out;
}

/**
 * What the expected decisions depend on: the spec corpus, the engine and CLI sources and the
 * lockfile. The fixture records this key; when it differs, the fixture must be regenerated.
 */
export function inputsKey() {
  const files = [
    ...walk(specDir, []),
    ...walk(join(root, 'crates/probity/src'), []),
    ...walk(join(root, 'crates/probity-cli/src'), []),
    join(root, 'crates/probity/Cargo.toml'),
    join(root, 'Cargo.lock'),
  ];
  const hash = createHash('sha256');
  for (const path of files) {
    hash.update(relative(root, path)).update('\0').update(readFileSync(path)).update('\0');
  }
  return `sha256:${hash.digest('hex')}`;
}
