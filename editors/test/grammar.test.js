'use strict';
// Tokenizes every policy in the repository with editors/probity.tmLanguage.json, the way VS Code
// does (vscode-textmate + the Oniguruma wasm), and checks the scopes editors colour by.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vsctm = require('vscode-textmate');
const onig = require('vscode-oniguruma');
const YAML = require('yaml');

const EDITORS = path.resolve(__dirname, '..');
const ROOT = path.resolve(EDITORS, '..');
const GRAMMAR_PATH = path.join(EDITORS, 'probity.tmLanguage.json');
const VSCODE = path.join(EDITORS, 'vscode');

// ------------------------------------------------------------------ grammar

let grammarPromise;
function grammar() {
  if (!grammarPromise) {
    const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
    const onigLib = onig.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength)).then(() => ({
      createOnigScanner: (patterns) => new onig.OnigScanner(patterns),
      createOnigString: (s) => new onig.OnigString(s),
    }));
    const registry = new vsctm.Registry({
      onigLib,
      loadGrammar: async (scopeName) =>
        scopeName === 'source.probity'
          ? vsctm.parseRawGrammar(fs.readFileSync(GRAMMAR_PATH, 'utf8'), GRAMMAR_PATH)
          : null,
    });
    grammarPromise = registry.loadGrammar('source.probity');
  }
  return grammarPromise;
}

/** Tokenizes a source: one entry per line, each with its tokens `{start, end, text, scopes}`. */
async function tokenize(source) {
  const g = await grammar();
  let stack = vsctm.INITIAL;
  return source.split(/\r?\n/).map((line) => {
    const r = g.tokenizeLine(line, stack);
    stack = r.ruleStack;
    const tokens = r.tokens.map((t) => ({
      start: t.startIndex,
      end: Math.min(t.endIndex, line.length),
      text: line.slice(t.startIndex, t.endIndex),
      scopes: t.scopes,
    }));
    return { line, tokens };
  });
}

/** The scopes of the character at `col` of a tokenized line. */
function scopesAt(tl, col) {
  const t = tl.tokens.find((tok) => tok.start <= col && col < tok.end);
  assert.ok(t, `no token at column ${col} of ${JSON.stringify(tl.line)}`);
  return t.scopes;
}

const has = (scopes, prefix) => scopes.some((s) => s === prefix || s.startsWith(prefix + '.'));
const inTextOrComment = (scopes) => has(scopes, 'string') || has(scopes, 'comment');

// ------------------------------------------------------------------ the corpus

/** Every policy source: `{label, text, valid}` (`valid` = the source is meant to load). */
function corpus() {
  const sources = [];
  const seen = new Set();
  const addFile = (file, valid) => {
    const abs = path.resolve(file);
    if (seen.has(abs)) return;
    seen.add(abs);
    sources.push({ label: path.relative(ROOT, abs), text: fs.readFileSync(abs, 'utf8'), valid });
  };
  const addEntries = (yamlFile, entries, where, valid) => {
    (entries || []).forEach((entry, i) => {
      if (typeof entry !== 'string') return;
      if (entry.includes('\n')) {
        sources.push({ label: `${path.relative(ROOT, yamlFile)} ${where}[${i}]`, text: entry, valid });
      } else {
        const file = path.resolve(path.dirname(yamlFile), entry);
        if (fs.existsSync(file)) addFile(file, valid);
      }
    });
  };
  const walk = (dir, ext, out = []) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p, ext, out);
      else if (p.endsWith(ext)) out.push(p);
    }
    return out;
  };
  const yamlFiles = [...walk(path.join(ROOT, 'tests/spec'), '.yaml'), ...walk(path.join(ROOT, 'policies'), '.yaml')];
  for (const file of yamlFiles) {
    const doc = YAML.parse(fs.readFileSync(file, 'utf8'), { maxAliasCount: -1 });
    addEntries(file, doc.policies, 'policies', true);
    for (const c of doc.cases || []) {
      // A case that expects a load error holds deliberately broken text.
      addEntries(file, c.policies, `case "${c.name}" policies`, !('expect_error' in c));
    }
  }
  for (const file of walk(path.join(ROOT, 'policies'), '.probity')) addFile(file, true);
  return sources;
}

let tokenizedPromise;
function tokenizedCorpus() {
  if (!tokenizedPromise) {
    tokenizedPromise = Promise.all(corpus().map(async (s) => ({ ...s, lines: await tokenize(s.text) })));
  }
  return tokenizedPromise;
}

/** Calls `f(source, lineIndex, tokenizedLine, match)` for every regex match in the valid sources. */
async function eachMatch(regex, f) {
  for (const s of await tokenizedCorpus()) {
    if (!s.valid) continue;
    s.lines.forEach((tl, i) => {
      for (const m of tl.line.matchAll(regex)) f(s, i, tl, m);
    });
  }
}

const where = (s, i, col) => `${s.label}:${i + 1}:${col + 1}`;

// ------------------------------------------------------------------ corpus tests

test('the corpus holds every spec file and every policy file', async () => {
  const sources = await tokenizedCorpus();
  const specFiles = fs.readdirSync(path.join(ROOT, 'tests/spec')).filter((f) => f.endsWith('.yaml'));
  for (const f of specFiles) {
    const fromFile = sources.filter((s) => s.label.startsWith(`tests/spec/${f}`));
    assert.ok(fromFile.length > 0, `no policy source found in tests/spec/${f}`);
  }
  assert.ok(sources.filter((s) => s.label.endsWith('.probity')).length >= 6, 'policies/**/*.probity not found');
  assert.ok(sources.some((s) => !s.valid), 'the expect_error cases were not found');
});

test('every policy source tokenizes without an invalid scope', async () => {
  const problems = [];
  for (const s of await tokenizedCorpus()) {
    s.lines.forEach((tl, i) => {
      // The tokens cover the whole line, in order.
      let at = 0;
      for (const t of tl.tokens) {
        assert.equal(t.start, at, `${where(s, i, at)}: gap in the tokens`);
        at = t.end;
      }
      assert.ok(at >= tl.line.length, `${where(s, i, at)}: the tokens stop before the end of the line`);
      if (!s.valid) return;
      for (const t of tl.tokens) {
        if (t.scopes.some((sc) => sc.startsWith('invalid'))) {
          problems.push(`${where(s, i, t.start)}: ${JSON.stringify(t.text)} has ${t.scopes.join(' ')}`);
        }
      }
    });
  }
  assert.deepEqual(problems, []);
});

// Reserved words that stop an expression: outside a text, a comment, a field declaration
// (`name:`) and a path (`x.name`), they are always keywords.
const ALWAYS_KEYWORDS =
  /\b(cite|on|let|when|unless|then|require|otherwise|due|within|fulfilled|where|message|and|or|not|in|contains|is|present|missing|deny|review|warn|escalate)\b/g;

test('keywords get keyword scopes wherever they stand', async () => {
  const problems = [];
  const seen = new Map();
  await eachMatch(ALWAYS_KEYWORDS, (s, i, tl, m) => {
    const col = m.index;
    const scopes = scopesAt(tl, col);
    if (inTextOrComment(scopes) || has(scopes, 'meta.block.fields')) return;
    if (tl.line[col - 1] === '.') return;
    if (/^\s*:/.test(tl.line.slice(col + m[0].length))) return;
    seen.set(m[1], (seen.get(m[1]) || 0) + 1);
    if (!has(scopes, 'keyword')) problems.push(`${where(s, i, col)}: \`${m[1]}\` has ${scopes.join(' ')}`);
  });
  assert.deepEqual(problems, []);
  for (const word of ['when', 'then', 'cite', 'on', 'let', 'unless', 'message', 'and', 'or', 'in', 'deny', 'review']) {
    assert.ok(seen.get(word) > 0, `\`${word}\` was never checked`);
  }
});

test('declaration keywords get keyword scopes and their names entity.name scopes', async () => {
  const problems = [];
  const seen = new Map();
  const decl = /^\s*(policy|record|action|rule|conflict|duty|ladder)\s+([a-z_][a-z0-9_]*)\b/g;
  await eachMatch(decl, (s, i, tl, m) => {
    const col = m.index + m[0].indexOf(m[1]);
    const kw = scopesAt(tl, col);
    if (inTextOrComment(kw) || has(kw, 'meta.block.fields')) return;
    seen.set(m[1], (seen.get(m[1]) || 0) + 1);
    if (!has(kw, `keyword.declaration.${m[1]}`)) problems.push(`${where(s, i, col)}: \`${m[1]}\` has ${kw.join(' ')}`);
    const nameCol = m.index + m[0].length - m[2].length;
    const name = scopesAt(tl, nameCol);
    if (!has(name, 'entity.name')) problems.push(`${where(s, i, nameCol)}: \`${m[2]}\` has ${name.join(' ')}`);
  });
  assert.deepEqual(problems, []);
  for (const word of ['policy', 'record', 'action', 'rule', 'conflict', 'duty', 'ladder']) {
    assert.ok(seen.get(word) > 0, `no \`${word}\` declaration was checked`);
  }
});

test('comments and texts get their scopes', async () => {
  const problems = [];
  let comments = 0;
  let texts = 0;
  // Every `#` and `"` is inside a comment or a text, or delimits one.
  await eachMatch(/[#"]/g, (s, i, tl, m) => {
    const scopes = scopesAt(tl, m.index);
    if (!inTextOrComment(scopes)) problems.push(`${where(s, i, m.index)}: \`${m[0]}\` has ${scopes.join(' ')}`);
  });
  // A line comment runs to the end of the line.
  await eachMatch(/^\s*#.*$/g, (s, i, tl, m) => {
    comments += 1;
    for (let col = tl.line.indexOf('#'); col < tl.line.length; col += 1) {
      if (!has(scopesAt(tl, col), 'comment.line.number-sign')) {
        problems.push(`${where(s, i, col)}: not in the comment`);
        break;
      }
    }
  });
  // The text after `cite`, a title and a message.
  await eachMatch(/\b(?:cite|version|timezone|escalate|step \d+|message(?: [a-z_]+)?) "([^"\\]*)"/g, (s, i, tl, m) => {
    texts += 1;
    const open = m.index + m[0].indexOf('"');
    for (let col = open; col <= open + m[1].length + 1; col += 1) {
      const scopes = scopesAt(tl, col);
      if (!has(scopes, 'string.quoted.double')) {
        problems.push(`${where(s, i, col)}: ${JSON.stringify(tl.line[col])} has ${scopes.join(' ')}`);
        break;
      }
    }
  });
  assert.deepEqual(problems, []);
  assert.ok(comments > 0 && texts > 0, 'no comment or text was checked');
});

test('literals get constant scopes: money, durations, dates, datetimes, percents', async () => {
  const problems = [];
  const seen = new Map();
  const kinds = [
    ['money', /\b\d+(?:\.\d+)? +[A-Z]{3}\b/g],
    ['duration', /\b\d+[ \t]+(?:minutes?|hours?|days?|weeks?|months?|years?)\b/g],
    ['datetime', /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?/g],
    ['date', /\b\d{4}-\d{2}-\d{2}(?![\dT])/g],
    ['percent', /\b\d+(?:\.\d+)?%/g],
  ];
  for (const [kind, regex] of kinds) {
    await eachMatch(regex, (s, i, tl, m) => {
      if (inTextOrComment(scopesAt(tl, m.index))) return;
      seen.set(kind, (seen.get(kind) || 0) + 1);
      if (m[0] === '500 CNY' || m[0] === '30 days') seen.set(m[0], (seen.get(m[0]) || 0) + 1);
      for (let col = m.index; col < m.index + m[0].length; col += 1) {
        const scopes = scopesAt(tl, col);
        if (!has(scopes, `constant.other.${kind}`) && !(kind === 'percent' && has(scopes, 'constant.numeric.percent'))) {
          problems.push(`${where(s, i, col)}: ${kind} ${JSON.stringify(m[0])} has ${scopes.join(' ')}`);
          break;
        }
      }
    });
  }
  assert.deepEqual(problems, []);
  for (const kind of ['money', 'duration', 'date', '500 CNY', '30 days']) {
    assert.ok(seen.get(kind) > 0, `no ${kind} literal was checked`);
  }
});

test('placeholders in messages get a placeholder scope', async () => {
  const problems = [];
  let amount = 0;
  await eachMatch(/\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\}/g, (s, i, tl, m) => {
    const scopes = scopesAt(tl, m.index);
    if (!has(scopes, 'string.quoted.double.message')) return;
    if (m[0] === '{action.amount}') amount += 1;
    for (let col = m.index; col < m.index + m[0].length; col += 1) {
      const inner = scopesAt(tl, col);
      if (!has(inner, 'meta.placeholder')) {
        problems.push(`${where(s, i, col)}: ${m[0]} has ${inner.join(' ')}`);
        break;
      }
    }
    if (!has(scopesAt(tl, m.index + 1), 'variable.other.placeholder')) {
      problems.push(`${where(s, i, m.index + 1)}: the path of ${m[0]} is not a variable`);
    }
  });
  assert.deepEqual(problems, []);
  assert.ok(amount > 0, 'no `{action.amount}` in a message was checked');
});

// ------------------------------------------------------------------ targeted tests

/**
 * The scopes shared by every character of `part` (default: all of `needle`) within the `nth`
 * occurrence of `needle` in `source`.
 */
async function scopesOf(source, needle, nth = 0, part = needle) {
  const lines = await tokenize(source);
  let count = 0;
  for (const tl of lines) {
    let col = tl.line.indexOf(needle);
    while (col !== -1) {
      if (count === nth) {
        const from = col + needle.indexOf(part);
        let shared = scopesAt(tl, from);
        for (let c = from; c < from + part.length; c += 1) {
          const here = scopesAt(tl, c);
          shared = shared.filter((s) => here.includes(s));
        }
        return shared;
      }
      count += 1;
      col = tl.line.indexOf(needle, col + 1);
    }
  }
  throw new Error(`\`${needle}\` #${nth} not found`);
}

const SAMPLE = `# A sample covering the language
policy sample "Sample" version "1" effective 2026-01-01 until 2027-01-01 timezone "Asia/Shanghai" on error deny

record customer { id: text, rule: text?, segment: one of retail, private
  risk: int tags: set of text  history: list of date  born: datetime  amount_due: decimal }
action product_sale {
  customer: customer
  amount: money   # the amount
  window_: duration
  flag: bool
}

rule large_sale "Large sales"
  cite "Sales manual \\"4.2\\" \\\\ \\n"
  on product_sale
  let total = sum(product_sale.amount where customer.id = action.customer.id within 30 days) + action.amount
  when action.amount >= 500 CNY and not (action.customer.segment in ["retail"]) or action.customer.rule is missing
  unless action.at < 2026-02-01T09:00:00+08:00 or today - 1 month > 2026-01-01 or 1.5% * 3 != 0.2 or true
  then deny, breach major in conduct, escalate "compliance"
  message "large sale of {action.amount} ({{total}}: { total })"
  message zh "大额销售 {action.amount}"

duty register "Register"
  on product_sale
  due within 30 days
  fulfilled by product_sale where customer.id = action.customer.id and now >= action.at
  otherwise breach minor

conflict c1
  on product_sale
  when count(breach where points > 2 within 12 months) >= 1 and max(breach.points within 1 year) > 2
  then review, warn

ladder conduct "Conduct"
  window 12 months
  points minor 1, major 3
  step 3 "formal warning"
`;

test('a sample covering the language gets the expected scopes', async () => {
  const expect = [
    ['# A sample', 0, 'comment.line.number-sign.probity'],
    ['policy', 0, 'keyword.declaration.policy.probity'],
    ['sample', 1, 'entity.name.namespace.policy.probity'],
    ['version', 0, 'keyword.other.header.version.probity'],
    ['effective', 0, 'keyword.other.header.effective.probity'],
    ['2026-01-01', 0, 'constant.other.date.probity'],
    ['until', 0, 'keyword.other.header.until.probity'],
    ['timezone', 0, 'keyword.other.header.timezone.probity'],
    ['error', 0, 'keyword.other.header.error.probity'],
    ['deny', 0, 'keyword.other.outcome.deny.probity'],
    ['record', 0, 'keyword.declaration.record.probity'],
    ['customer', 0, 'entity.name.type.record.probity'],
    ['id', 0, 'variable.other.property.declaration.probity'],
    ['text', 0, 'support.type.primitive.text.probity'],
    ['rule', 0, 'variable.other.property.declaration.probity'],
    ['?', 0, 'keyword.operator.optional.probity'],
    ['one of', 0, 'storage.type.one.probity', 'one'],
    ['retail', 0, 'constant.other.enum-member.probity'],
    ['private', 0, 'constant.other.enum-member.probity'],
    ['risk', 0, 'variable.other.property.declaration.probity'],
    ['int', 0, 'support.type.primitive.int.probity'],
    ['set', 0, 'storage.type.set.probity'],
    ['list', 0, 'storage.type.list.probity'],
    ['datetime', 0, 'support.type.primitive.datetime.probity'],
    ['decimal', 0, 'support.type.primitive.decimal.probity'],
    ['product_sale', 0, 'entity.name.type.action.probity'],
    ['customer: customer', 0, 'meta.block.fields.probity'],
    [': customer', 0, 'entity.name.type.record.probity', 'customer'],
    ['money', 0, 'support.type.primitive.money.probity'],
    ['# the amount', 0, 'comment.line.number-sign.probity'],
    ['duration', 0, 'support.type.primitive.duration.probity'],
    ['bool', 0, 'support.type.primitive.bool.probity'],
    ['large_sale', 0, 'entity.name.function.rule.probity'],
    ['cite', 0, 'keyword.other.clause.cite.probity'],
    ['\\"', 0, 'constant.character.escape.probity'],
    ['\\\\', 0, 'constant.character.escape.probity'],
    ['\\n', 0, 'constant.character.escape.probity'],
    ['let', 0, 'keyword.other.clause.let.probity'],
    ['total', 0, 'entity.name.variable.let.probity'],
    ['sum', 0, 'support.function.aggregate.sum.probity'],
    ['where', 0, 'keyword.other.clause.where.probity'],
    ['within', 0, 'keyword.other.clause.within.probity'],
    ['30 days', 0, 'constant.other.duration.probity'],
    ['+', 0, 'keyword.operator.arithmetic.probity'],
    ['when', 0, 'keyword.other.clause.when.probity'],
    ['when action.amount', 0, 'variable.language.action.probity', 'action'],
    ['when action.amount', 0, 'variable.other.property.probity', 'amount'],
    ['when action.amount', 0, 'punctuation.accessor.probity', '.'],
    ['>=', 0, 'keyword.operator.comparison.probity'],
    ['500 CNY', 0, 'constant.other.money.probity'],
    ['and', 0, 'keyword.operator.logical.and.probity'],
    ['not', 0, 'keyword.operator.logical.not.probity'],
    ['segment in', 0, 'keyword.operator.word.in.probity', 'in'],
    ['["retail"]', 0, 'punctuation.section.brackets.begin.probity', '['],
    ['["retail"]', 0, 'string.quoted.double.probity', '"retail"'],
    ['rule is', 0, 'variable.other.property.probity', 'rule'],
    ['is missing', 0, 'keyword.operator.word.is-missing.probity'],
    ['unless', 0, 'keyword.other.clause.unless.probity'],
    ['2026-02-01T09:00:00+08:00', 0, 'constant.other.datetime.probity'],
    ['today', 0, 'constant.language.today.probity'],
    ['1 month', 0, 'constant.other.duration.probity'],
    ['1.5%', 0, 'constant.numeric.percent.probity'],
    ['0.2', 0, 'constant.numeric.decimal.probity'],
    ['true', 0, 'constant.language.boolean.true.probity'],
    ['then', 0, 'keyword.other.clause.then.probity'],
    ['breach', 0, 'keyword.other.outcome.breach.probity'],
    ['escalate', 0, 'keyword.other.outcome.escalate.probity'],
    ['"compliance"', 0, 'string.quoted.double.probity'],
    ['message', 0, 'keyword.other.clause.message.probity'],
    ['{action.amount}', 0, 'meta.placeholder.probity'],
    ['{{', 0, 'constant.character.escape.brace.probity'],
    ['}}', 0, 'constant.character.escape.brace.probity'],
    ['{ total }', 0, 'meta.placeholder.probity'],
    ['zh', 0, 'constant.other.language-tag.probity'],
    ['大额销售', 0, 'string.quoted.double.message.probity'],
    ['{action.amount}', 1, 'meta.placeholder.probity'],
    ['register', 0, 'entity.name.function.duty.probity'],
    ['due within', 0, 'keyword.other.clause.due.probity', 'due'],
    ['fulfilled', 0, 'keyword.other.clause.fulfilled.probity'],
    ['fulfilled by', 0, 'keyword.other.clause.by.probity', 'by'],
    ['now', 0, 'constant.language.now.probity'],
    ['otherwise', 0, 'keyword.other.clause.otherwise.probity'],
    ['c1', 0, 'entity.name.function.conflict.probity'],
    ['count', 0, 'support.function.aggregate.count.probity'],
    ['breach where', 0, 'variable.language.breach.probity', 'breach'],
    ['points >', 0, 'variable.other.probity', 'points'],
    ['max', 0, 'support.function.max.probity'],
    ['breach.points', 0, 'variable.language.breach.probity', 'breach'],
    ['breach.points', 0, 'variable.other.property.probity', 'points'],
    ['review', 0, 'keyword.other.outcome.review.probity'],
    ['warn', 0, 'keyword.other.outcome.warn.probity'],
    ['ladder', 0, 'keyword.declaration.ladder.probity'],
    ['conduct', 1, 'entity.name.section.ladder.probity'],
    ['window 12', 0, 'keyword.other.clause.window.probity', 'window'],
    ['window_', 0, 'variable.other.property.declaration.probity'],
    ['points minor', 0, 'keyword.other.clause.points.probity', 'points'],
    ['points minor 1', 0, 'constant.numeric.integer.probity', '1'],
    ['step', 0, 'keyword.other.clause.step.probity'],
  ];
  const failures = [];
  for (const [needle, nth, scope, part] of expect) {
    const scopes = await scopesOf(SAMPLE, needle, nth, part);
    if (!scopes.includes(scope)) failures.push(`${part || needle} in ${needle} #${nth}: expected ${scope}, got ${scopes.join(' ')}`);
  }
  assert.deepEqual(failures, []);
  const lines = await tokenize(SAMPLE);
  const invalid = lines.flatMap((tl) => tl.tokens.filter((t) => t.scopes.some((s) => s.startsWith('invalid'))));
  assert.deepEqual(invalid.map((t) => t.text), []);
});

test('a keyword used as a field name is not a keyword', async () => {
  const src = `rule r on a when action.rule = "x" and count(breach where rule = "x" and policy = "p" within 1 day) > 0 then deny\n`;
  assert.ok((await scopesOf(src, 'rule', 1)).includes('variable.other.property.probity'));
  assert.ok((await scopesOf(src, 'rule', 2)).includes('variable.other.probity'));
  assert.ok((await scopesOf(src, 'policy')).includes('variable.other.probity'));
  // Duration units are not reserved: a policy may be named `hours`.
  assert.ok((await scopesOf('policy hours version "1"\n', 'hours')).includes('entity.name.namespace.policy.probity'));
});

test('the words of docs/language.md section 8 get their scopes', async () => {
  const cases = [
    ['const gift_cap = 300 USD', 'const', 'keyword.declaration.const.probity'],
    ['const gift_cap = 300 USD', 'gift_cap', 'entity.name.constant.probity'],
    ['list restricted from "lists/r.txt"', 'list', 'keyword.declaration.list.probity'],
    ['list restricted from "lists/r.txt"', 'restricted', 'entity.name.constant.list.probity'],
    ['list restricted from "lists/r.txt"', 'from', 'keyword.other.from.probity'],
    ['policy p version "1" calendar "c.txt"', 'calendar', 'keyword.other.header.calendar.probity'],
    ['  due within 15 business days', 'business', 'constant.other.unit.business.probity'],
    ['  due within 15 business days', '15', 'constant.numeric.integer.probity'],
    ['  every year', 'every', 'keyword.other.clause.every.probity'],
    ['  every quarter', 'quarter', 'constant.other.period.probity'],
    ['  step 6 "suspension" restricts product_sale for 90 days', 'restricts', 'keyword.other.clause.restricts.probity'],
    ['  step 6 "suspension" restricts product_sale for 90 days', 'for', 'keyword.other.clause.for.probity'],
    ['  step 12 "dismissal review" restricts all', 'all', 'constant.language.all.probity'],
    ['  require sum(training.hours within period) >= 30', 'period', 'constant.language.period.probity'],
  ];
  for (const [src, needle, scope] of cases) {
    const scopes = await scopesOf(src, needle);
    assert.ok(scopes.includes(scope), `${src}: ${needle} has ${scopes.join(' ')}`);
  }
  // `list of` stays a type; a field named `from` after `.` stays a field.
  assert.ok((await scopesOf('record r { xs: list of text }', 'list')).some((s) => s.startsWith('storage.type')));
  assert.ok((await scopesOf('when action.from = "x"', 'from')).includes('variable.other.property.probity'));
});

test('mistakes are marked invalid', async () => {
  const cases = [
    ['cite "bad \\q escape"', '\\q', 'invalid.illegal.escape.probity'],
    ['message "unmatched } brace"', '}', 'invalid.illegal.placeholder.probity'],
    ['message "not a path {Amount}"', '{Amount}', 'invalid.illegal.placeholder.probity'],
    ['message "unclosed { brace"', '{ brace', 'invalid.illegal.placeholder.probity'],
    ['when a = 1;', ';', 'invalid.illegal.character.probity'],
  ];
  for (const [src, needle, scope] of cases) {
    const scopes = await scopesOf(src, needle);
    assert.ok(scopes.includes(scope), `${src}: ${needle} has ${scopes.join(' ')}`);
  }
  // Outside a message, braces in a text are plain text.
  assert.ok(!(await scopesOf('cite "art. {4}"', '{4}')).some((s) => s.startsWith('invalid')));
  // An unterminated text ends with its line; the next line is code again.
  const lines = await tokenize('cite "unterminated\n  when true');
  assert.ok(has(scopesAt(lines[1], 2), 'keyword.other.clause.when'));
  const lines2 = await tokenize('message "unterminated {x}\nrule r "t"');
  assert.ok(has(scopesAt(lines2[1], 0), 'keyword.declaration.rule'));
});

// ------------------------------------------------------------------ the VS Code extension

test('the VS Code extension contributes this grammar', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(VSCODE, 'package.json'), 'utf8'));
  const [language] = pkg.contributes.languages;
  const [contributed] = pkg.contributes.grammars;
  assert.equal(language.id, 'probity');
  assert.deepEqual(language.extensions, ['.probity']);
  assert.ok(fs.existsSync(path.join(VSCODE, language.configuration)), 'language-configuration.json is missing');
  JSON.parse(fs.readFileSync(path.join(VSCODE, language.configuration), 'utf8'));
  assert.equal(contributed.language, 'probity');
  assert.equal(contributed.scopeName, 'source.probity');
  // The extension ships a copy of editors/probity.tmLanguage.json (a packaged extension holds only its
  // own folder); the two must not drift apart.
  const copy = fs.readFileSync(path.join(VSCODE, contributed.path), 'utf8');
  assert.equal(copy, fs.readFileSync(GRAMMAR_PATH, 'utf8'), 'editors/vscode/syntaxes/ is out of date: copy editors/probity.tmLanguage.json there');
  const raw = JSON.parse(copy);
  assert.equal(raw.scopeName, 'source.probity');
  assert.deepEqual(raw.fileTypes, ['probity']);
});
