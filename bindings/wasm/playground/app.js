// The Probity playground: live policy diagnostics, one-action evaluation and ledger replay,
// on the wasm package built into ../pkg-web (see ../build.sh). Plain DOM, no framework.
import init, { Engine, PolicySet } from '../pkg-web/probity_wasm.js';
import { ACTIONS, EVENTS, POLICY } from './examples.js';

const FILE = 'conduct.probity';
const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  policy: $('policy'),
  gutter: $('policy-gutter'),
  summary: $('diagnostics-summary'),
  diagnostics: $('diagnostics'),
  example: $('example'),
  action: $('action'),
  history: $('history'),
  historyDetails: $('history-details'),
  evaluate: $('evaluate'),
  events: $('events'),
  replay: $('replay'),
  result: $('result'),
};

/** The engine of the last policy text that loaded, or null while the text has errors. */
let engine = null;

/** Builds an element: `h('p', {class: 'x'}, 'text', child)`. Text is never parsed as HTML. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

// ---------------------------------------------------------------------------------------------
// Policy editing and live diagnostics

/** The UTF-16 offset of a 1-based line and character column in `text`. */
function offsetOf(text, line, column) {
  const lines = text.split('\n');
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i += 1) offset += lines[i].length + 1;
  const current = Array.from(lines[line - 1] ?? '');
  return offset + current.slice(0, Math.max(0, column - 1)).join('').length;
}

function jumpTo(d) {
  const text = ui.policy.value;
  const start = offsetOf(text, d.line, d.column);
  const end = Math.max(start, offsetOf(text, d.end_line, d.end_column));
  ui.policy.focus();
  ui.policy.setSelectionRange(start, end);
  const lineHeight = parseFloat(getComputedStyle(ui.policy).lineHeight) || 20;
  ui.policy.scrollTop = Math.max(0, (d.line - 4) * lineHeight);
  syncGutter();
}

function renderGutter(diagnostics) {
  const count = ui.policy.value.split('\n').length;
  const marks = new Map();
  for (const d of diagnostics) {
    if (marks.get(d.line) !== 'err') marks.set(d.line, d.severity === 'error' ? 'err' : 'warn');
  }
  ui.gutter.replaceChildren(
    ...Array.from({ length: count }, (_, i) => {
      const mark = marks.get(i + 1);
      const label = mark ? `${mark === 'err' ? '●' : '▲'} ${i + 1}` : String(i + 1);
      return h('span', { class: mark }, label, '\n');
    }),
  );
  syncGutter();
}

function syncGutter() {
  ui.gutter.scrollTop = ui.policy.scrollTop;
}

function renderDiagnostics(diagnostics) {
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  ui.policy.setAttribute('aria-invalid', errors > 0 ? 'true' : 'false');
  ui.summary.className = `summary ${errors ? 'bad' : 'ok'}`;
  ui.summary.textContent = errors
    ? `${plural(errors, 'error')}${warnings ? `, ${plural(warnings, 'warning')}` : ''}: the policy does not load.`
    : `The policy loads${warnings ? ` with ${plural(warnings, 'warning')}` : ' cleanly: no problems found'}.`;
  ui.diagnostics.replaceChildren(
    ...diagnostics.map((d) =>
      h(
        'li',
        {},
        h(
          'button',
          {
            type: 'button',
            class: `diagnostic ${d.severity}`,
            'data-line': d.line,
            'data-column': d.column,
            title: 'Show this place in the policy',
            onclick: () => jumpTo(d),
          },
          h('span', { class: 'where', 'aria-label': `line ${d.line}, column ${d.column}` }, `${d.line}:${d.column}`),
          h('span', { class: 'what' }, `${d.severity} ${d.code}: ${d.message}`),
          d.help ? h('span', { class: 'help' }, `help: ${d.help}`) : null,
        ),
      ),
    ),
  );
  renderGutter(diagnostics);
}

function loadPolicy() {
  const sources = { [FILE]: ui.policy.value };
  let set;
  try {
    set = PolicySet.fromSources(sources);
  } catch (e) {
    engine?.free();
    engine = null;
    renderDiagnostics(e.diagnostics ?? [{ severity: 'error', code: '-', message: e.message, line: 1, column: 1, end_line: 1, end_column: 1 }]);
    updateButtons();
    return;
  }
  const warnings = set.warnings;
  engine?.free();
  engine = new Engine(set);
  set.free();
  renderDiagnostics(warnings);
  updateButtons();
}

function updateButtons() {
  for (const button of [ui.evaluate, ui.replay]) {
    button.disabled = engine === null;
    button.title = engine ? '' : 'Fix the policy errors first';
  }
}

let pending = 0;
function schedulePolicyCheck() {
  clearTimeout(pending);
  pending = setTimeout(loadPolicy, 150);
}

// ---------------------------------------------------------------------------------------------
// Decisions

function renderFinding(f) {
  const outcomes = f.outcomes.map((o) => h('span', { class: `chip ${o}` }, o));
  const breach = f.severity ? h('span', { class: 'chip' }, `${f.severity} on ${f.ladder}`) : null;
  const evidence = Object.entries(f.evidence);
  return h(
    'li',
    { class: `finding kind-${f.kind}`, 'data-rule': f.rule },
    h('h4', {}, f.rule),
    h('p', { class: 'meta' }, `${f.kind} · policy ${f.policy}`),
    h('div', {}, outcomes, breach),
    h('p', { class: 'message' }, f.message),
    Object.entries(f.messages ?? {}).map(([lang, text]) => h('p', { class: 'message', lang }, `${lang}: ${text}`)),
    f.cite.length ? h('ul', { class: 'cites', 'aria-label': 'Citations' }, f.cite.map((c) => h('li', {}, h('span', { class: 'muted' }, 'cites '), c))) : null,
    evidence.length
      ? h(
          'table',
          { class: 'evidence' },
          h('caption', {}, 'Evidence'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'value read'), h('th', { scope: 'col' }, 'was'))),
          h('tbody', {}, evidence.map(([path, value]) => h('tr', {}, h('th', { scope: 'row' }, path), h('td', {}, JSON.stringify(value))))),
        )
      : null,
  );
}

function renderSanctions(sanctions) {
  return sanctions.map(
    (s) => `${s.policy}/${s.ladder}: ${s.step} (${plural(s.points, 'point')}; before: ${s.previous ?? 'no step'})`,
  );
}

function facts(rows) {
  const present = rows.filter(([, items]) => items.length > 0);
  if (!present.length) return null;
  return h('dl', { class: 'facts' }, present.map(([term, items]) => [h('dt', {}, term), h('dd', {}, items.join('; '))]));
}

function renderDecision(d, { raw = true } = {}) {
  const findings = d.findings.length;
  return h(
    'div',
    { class: 'decision' },
    h(
      'div',
      { class: `verdict verdict-${d.verdict}`, 'data-verdict': d.verdict },
      h('strong', {}, d.verdict),
      h('span', { class: 'sub' }, `${d.action} at ${d.at} · ${findings ? plural(findings, 'finding') : 'no findings'}`),
    ),
    findings ? h('ul', { class: 'findings', 'aria-label': 'Findings' }, d.findings.map(renderFinding)) : null,
    facts([
      ['Obligations', d.obligations.map((o) => `${o.duty} for ${o.action}, due ${o.due}`)],
      ['Fulfilled', d.fulfilled.map((o) => `${o.duty} for ${o.action}`)],
      ['Escalations', d.escalations],
      ['Sanctions', renderSanctions(d.sanctions)],
      ['Policies applied', d.policies.map((p) => `${p.id}@${p.version} (${p.digest.slice(0, 19)}…)`)],
    ]),
    raw ? h('details', { class: 'raw' }, h('summary', {}, 'Decision JSON'), h('pre', {}, JSON.stringify(d, null, 2))) : null,
  );
}

function renderReport(r) {
  return h(
    'div',
    { class: 'report' },
    h('p', {}, `${r.obligation.duty} for ${r.obligation.action} (RM ${r.rm}) was due ${r.obligation.due}`),
    h('ul', { class: 'findings', 'aria-label': 'Findings' }, r.findings.map(renderFinding)),
    facts([
      ['Escalations', r.escalations],
      ['Sanctions', renderSanctions(r.sanctions)],
    ]),
  );
}

function showError(message) {
  ui.result.replaceChildren(h('p', { class: 'error-box', role: 'alert' }, message));
}

function evaluate() {
  if (!engine) return;
  const history = ui.history.value.trim();
  try {
    const decision = engine.evaluate(ui.action.value, history === '' ? null : history);
    ui.result.replaceChildren(renderDecision(decision));
  } catch (e) {
    showError(`${e.name ?? 'Error'}: ${e.message}`);
  }
}

function replay() {
  if (!engine) return;
  const ledger = engine.ledger();
  const entries = [];
  const lines = ui.events.value.split('\n');
  try {
    lines.forEach((text, i) => {
      if (text.trim() === '') return;
      const where = `line ${i + 1}`;
      let event;
      try {
        event = JSON.parse(text);
      } catch (e) {
        entries.push(h('li', {}, h('p', { class: 'error-box' }, `${where}: not JSON: ${e.message}`)));
        return;
      }
      try {
        if (event && typeof event === 'object' && 'advance' in event && !('type' in event)) {
          const reports = ledger.advanceTo(event.advance);
          entries.push(h('li', {}, h('p', { class: 'step-head' }, `${where} · advance to ${event.advance}: ${plural(reports.length, 'overdue report')}`)));
          for (const r of reports) entries.push(h('li', { class: 'overdue' }, h('p', { class: 'step-head' }, 'Overdue'), renderReport(r)));
          return;
        }
        const { overdue, decision } = ledger.submit(event);
        for (const r of overdue) {
          entries.push(h('li', { class: 'overdue' }, h('p', { class: 'step-head' }, `${where} · overdue before ${decision.action}`), renderReport(r)));
        }
        entries.push(h('li', {}, h('p', { class: 'step-head' }, `${where} · ${decision.action}`), renderDecision(decision, { raw: false })));
      } catch (e) {
        entries.push(h('li', {}, h('p', { class: 'error-box' }, `${where}: ${e.message}`)));
      }
    });
  } finally {
    ledger.free();
  }
  ui.result.replaceChildren(
    entries.length ? h('ol', { class: 'timeline', 'aria-label': 'Ledger records' }, entries) : h('p', { class: 'muted' }, 'No events.'),
  );
}

// ---------------------------------------------------------------------------------------------
// Wiring

function chooseExample(index) {
  const example = ACTIONS[index] ?? ACTIONS[0];
  ui.action.value = JSON.stringify(example.action, null, 2);
  ui.history.value = example.history ? JSON.stringify(example.history, null, 2) : '';
  ui.historyDetails.open = Boolean(example.history);
}

function setMode(mode) {
  $('evaluate-mode').hidden = mode !== 'evaluate';
  $('ledger-mode').hidden = mode !== 'ledger';
  ui.result.replaceChildren(h('p', { class: 'muted' }, mode === 'ledger' ? 'Nothing replayed yet.' : 'Nothing evaluated yet.'));
}

async function main() {
  ui.policy.value = POLICY;
  ui.events.value = EVENTS;
  ui.example.append(...ACTIONS.map((a, i) => h('option', { value: i }, a.label)));
  chooseExample(0);
  try {
    await init();
  } catch (e) {
    ui.status.textContent = `The engine did not load: ${e.message}`;
    ui.status.classList.add('bad');
    return;
  }
  ui.policy.addEventListener('input', schedulePolicyCheck);
  ui.policy.addEventListener('scroll', syncGutter);
  $('reset-policy').addEventListener('click', () => {
    ui.policy.value = POLICY;
    loadPolicy();
  });
  ui.example.addEventListener('change', () => chooseExample(Number(ui.example.value)));
  ui.evaluate.addEventListener('click', evaluate);
  ui.replay.addEventListener('click', replay);
  const ctrlEnter = (run) => (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run();
    }
  };
  ui.action.addEventListener('keydown', ctrlEnter(evaluate));
  ui.history.addEventListener('keydown', ctrlEnter(evaluate));
  ui.events.addEventListener('keydown', ctrlEnter(replay));
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.addEventListener('change', () => setMode(radio.value));
  }
  loadPolicy();
  ui.status.textContent = 'Engine ready (WebAssembly).';
  document.body.dataset.ready = 'true';
}

main();
