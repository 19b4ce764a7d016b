// The playground in a real browser (Debian's chromium driven by playwright-core): live
// diagnostics with line:column, evaluation with verdict and findings, ledger replay.
// Screenshots go to test-artifacts/ (gitignored).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { pkgDir } from './support/spec.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const artifacts = join(pkgDir, 'test-artifacts');
const skip = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`;

let server;
let browser;
let page;
let base;
const problems = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function waitForServer(url, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

before(async () => {
  if (skip) return;
  mkdirSync(artifacts, { recursive: true });
  const port = await freePort();
  server = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', pkgDir], {
    stdio: 'ignore',
  });
  base = `http://127.0.0.1:${port}`;
  await waitForServer(`${base}/playground/index.html`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('response', (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.url()}`));
  await page.goto(`${base}/playground/`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
});

after(async () => {
  await browser?.close();
  if (server) server.kill('SIGTERM');
});

/** 1-based line and character column of `offset` in `text`. */
function lineColumn(text, offset) {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = Array.from(before.slice(before.lastIndexOf('\n') + 1)).length + 1;
  return { line, column };
}

test('the playground loads the engine and the example policy cleanly', { skip }, async () => {
  assert.match(await page.textContent('#status'), /Engine ready/);
  // The example loads (the engine's lints may grow: warnings do not fail this test).
  assert.match(await page.textContent('#diagnostics-summary'), /^The policy loads/);
  assert.equal(await page.locator('#diagnostics .diagnostic.error').count(), 0);
  // Every form control has a label.
  const unlabelled = await page.$$eval('textarea, select, input', (els) =>
    els.filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label')).map((el) => el.id || el.name),
  );
  assert.deepEqual(unlabelled, []);
});

test('an error in the policy shows up live with its line:column, and goes away when fixed', { skip }, async () => {
  const original = await page.inputValue('#policy');
  const broken = original.replace('when action.kind = "cash"', 'when action.knd = "cash"');
  assert.notEqual(broken, original);
  // The diagnostic points at the unknown field name itself.
  const at = lineColumn(broken, broken.indexOf('action.knd') + 'action.'.length);

  await page.fill('#policy', broken);
  const diagnostic = page.locator('#diagnostics .diagnostic.error', { hasText: 'knd' });
  await diagnostic.waitFor();
  assert.equal(await diagnostic.locator('.where').textContent(), `${at.line}:${at.column}`);
  assert.match(await diagnostic.textContent(), /error P0102: action `gift_received` has no field `knd`/);
  assert.match(await diagnostic.textContent(), /did you mean `kind`\?/);
  assert.match(await page.textContent('#diagnostics-summary'), /1 error: the policy does not load/);
  assert.equal(await page.getAttribute('#policy', 'aria-invalid'), 'true');
  assert.match(await page.locator('#policy-gutter .err').first().textContent(), new RegExp(`● ${at.line}\\b`));
  assert.ok(await page.isDisabled('#evaluate'), 'evaluation waits for a policy that loads');

  // Clicking the diagnostic selects the offending text in the editor.
  await diagnostic.click();
  const selected = await page.$eval('#policy', (t) => t.value.slice(t.selectionStart, t.selectionEnd));
  assert.equal(selected, 'knd');
  await page.screenshot({ path: join(artifacts, 'playground-diagnostic.png'), fullPage: true });

  // Fix it by typing over the selection, as a person would.
  await page.keyboard.type('kind');
  assert.equal(await page.inputValue('#policy'), original);
  await page.waitForFunction(() => document.querySelectorAll('#diagnostics .diagnostic.error').length === 0);
  assert.match(await page.textContent('#diagnostics-summary'), /^The policy loads/);
  assert.ok(await page.isEnabled('#evaluate'));
});

test('evaluating an action shows the verdict, findings, citations and evidence', { skip }, async () => {
  await page.selectOption('#example', { label: 'Cash gift (deny)' });
  await page.click('#evaluate');
  const banner = page.locator('#result .verdict');
  await banner.waitFor();
  assert.equal(await banner.getAttribute('data-verdict'), 'deny');
  assert.match(await banner.textContent(), /^deny\s*G-7 at 2026-03-05T18:30:00\+08:00 · 1 finding$/);

  const findings = page.locator('#result .finding');
  assert.deepEqual(await findings.evaluateAll((els) => els.map((e) => e.dataset.rule)), ['cash_gift']);
  const finding = findings.first();
  assert.match(await finding.textContent(), /cash gift of 500\.00 CNY from ACME Trading/);
  assert.match(await finding.textContent(), /zh: 收受现金礼品 500\.00 CNY/);
  assert.match(await finding.locator('.cites').textContent(), /Staff conduct rules 4\.1/);
  assert.deepEqual(await finding.locator('.chip').allTextContents(), ['deny', 'breach', 'major on conduct']);
  assert.deepEqual(await finding.locator('table.evidence tbody tr').allTextContents(), ['action.kind"cash"']);
  const facts = await page.textContent('#result dl.facts');
  assert.match(facts, /gift_register for G-7, due 2026-04-04T18:30:00\+08:00/);
  assert.match(facts, /conduct\/conduct: formal warning \(3 points; before: no step\)/);
  assert.match(facts, /conduct@2026\.1 \(sha256:/);
  await page.screenshot({ path: join(artifacts, 'playground-evaluate.png'), fullPage: true });

  // An input error is shown, not thrown away.
  await page.fill('#action', '{"type": "gift_received"}');
  await page.click('#evaluate');
  assert.match(await page.locator('#result .error-box').textContent(), /InputError: invalid action: `id`: missing/);
});

test('ledger mode replays events with overdue reports and sanctions', { skip }, async () => {
  await page.check('input[name="mode"][value="ledger"]');
  await page.click('#replay');
  const records = page.locator('#result .timeline > li');
  await records.first().waitFor();
  const heads = await page.locator('#result .timeline .step-head').allTextContents();
  assert.deepEqual(heads, [
    'line 1 · G-1',
    'line 2 · G-2',
    'line 3 · X-1',
    'line 4 · overdue before S-1',
    'line 4 · S-1',
    'line 5 · advance to 2026-05-01T00:00:00+08:00: 0 overdue reports',
  ]);
  const verdicts = await page.locator('#result .timeline .verdict').evaluateAll((els) => els.map((e) => e.dataset.verdict));
  assert.deepEqual(verdicts, ['allow', 'review', 'allow', 'deny']);
  assert.match(await page.locator('#result .timeline li.overdue').textContent(), /gift_register for G-1 \(RM RM-0042\) was due 2026-03-31T10:00:00\+08:00/);
  assert.match(await records.nth(4).textContent(), /formal warning \(4 points; before: no step\)/);
  await page.screenshot({ path: join(artifacts, 'playground-ledger.png'), fullPage: true });
  assert.deepEqual(problems, []);
});
