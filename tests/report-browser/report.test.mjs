// The HTML report of `probity replay --report` in a real browser (Debian's chromium driven by
// playwright-core): the sample replay (policies/cn + examples/events.jsonl) renders its headings,
// its counts match the replay's records, the charts have bars, the RM links lead to the decisions
// behind them, and the page loads nothing from the network. Screenshots go to artifacts/
// (gitignored).
//
// Needs the release CLI (`cargo build --release -p probity-cli`, or set PROBITY) — run.sh does it all.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const artifacts = join(here, 'artifacts');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const PROBITY = process.env.PROBITY ?? join(root, 'target/release/probity');
const events = join(root, 'examples/events.jsonl');
const policies = join(root, 'policies/cn');
const reportPath = join(artifacts, 'report.html');
const recordsPath = join(artifacts, 'records.jsonl');

const skip = !existsSync(CHROMIUM)
  ? `no browser at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`
  : !existsSync(PROBITY)
    ? `no probity binary at ${PROBITY} (cargo build --release -p probity-cli, or set PROBITY)`
    : false;

let browser;
let page;
let stderr = '';
const requests = [];
const problems = [];

before(async () => {
  if (skip) return;
  mkdirSync(artifacts, { recursive: true });
  // The sample replay, with its report. `probity replay` prints the report's path on stderr.
  try {
    execFileSync(PROBITY, ['replay', '--policies', policies, events, '--out', recordsPath, '--report', reportPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (e) {
    stderr = String(e.stderr ?? '');
    // Exit code 1 means some input lines failed; the report is still written.
    if (e.status !== 1) throw e;
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  await page.goto(pathToFileURL(reportPath).href, { waitUntil: 'load' });
});

after(async () => {
  await browser?.close();
});

function records() {
  return readFileSync(recordsPath, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

test('probity replay prints where the report went', { skip }, () => {
  const out = execFileSync(PROBITY, ['replay', '--policies', policies, events, '--out', '/dev/null', '--report', join(artifacts, 'again.html')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  void out;
  assert.equal(readFileSync(join(artifacts, 'again.html'), 'utf8'), readFileSync(reportPath, 'utf8'), 'the report is deterministic');
  assert.equal(stderr, '', 'the sample replay has no input errors');
});

test('the report has its headings', { skip }, async () => {
  assert.equal(await page.title(), 'Probity replay report');
  assert.equal(await page.locator('h1').innerText(), 'Replay report');
  const h2 = await page.locator('h2').allInnerTexts();
  for (const heading of [
    'Summary',
    'Breaches per rule',
    'Breaches per policy',
    'Breaches over time',
    'Breaches by branch',
    'RMs by sanction step',
    'Overdue duties',
    'RMs closest to the next sanction step',
    'How this report is computed',
  ]) {
    assert.ok(h2.includes(heading), `missing heading ${heading} in ${h2}`);
  }
  // Every section is labelled by its heading.
  for (const section of await page.locator('section').all()) {
    const label = await section.getAttribute('aria-labelledby');
    assert.ok(label && (await page.locator(`#${label}`).count()) === 1, `section without a heading label: ${label}`);
  }
});

test('the counts match the replay', { skip }, async () => {
  const lines = readFileSync(events, 'utf8').split('\n').filter((l) => l.trim()).length;
  const all = records();
  const decisions = all.filter((r) => r.decision).map((r) => r.decision);
  const denied = decisions.filter((d) => d.verdict === 'deny').length;
  const breaches = all
    .flatMap((r) => (r.decision ?? r.overdue)?.findings ?? [])
    .filter((f) => f.severity).length;
  assert.equal(decisions.length, lines);
  assert.equal(Number(await page.locator('#card-events .value').getAttribute('data-value')), lines);
  assert.equal(await page.locator('#card-events .value').innerText(), lines.toLocaleString('en-US'));
  assert.equal(Number(await page.locator('#card-deny .value').getAttribute('data-value')), denied);
  assert.equal(await page.locator('#verdict-deny').innerText(), denied.toLocaleString('en-US'));
  assert.equal(Number(await page.locator('#card-breaches .value').getAttribute('data-value')), breaches);
  // The rule table's breaches add up to the total.
  const rows = await page.locator('table.rules tbody tr').all();
  let sum = 0;
  for (const row of rows) sum += Number((await row.locator("td").nth(4).innerText()).replaceAll(",", ""));
  assert.equal(sum, breaches);
});

test('the charts are accessible SVGs with bars', { skip }, async () => {
  for (const id of ['chart-time', 'chart-branch']) {
    const svg = page.locator(`svg#${id}`);
    assert.equal(await svg.getAttribute('role'), 'img');
    const [title, desc] = (await svg.getAttribute('aria-labelledby')).split(' ');
    assert.ok((await page.locator(`#${title}`).textContent()).length > 5);
    assert.ok((await page.locator(`#${desc}`).textContent()).includes('breaches'));
    const bars = svg.locator('g.bar');
    assert.ok((await bars.count()) > 3, `${id} has bars`);
    const box = await bars.first().locator('rect').first().boundingBox();
    assert.ok(box && box.height > 0 && box.width > 0, `${id}: a bar is drawn`);
  }
  // The bars over time add up to the breaches.
  const totals = await page.locator('svg#chart-time g.bar').evaluateAll((gs) => gs.map((g) => Number(g.dataset.total)));
  const breaches = Number(await page.locator('#card-breaches .value').getAttribute('data-value'));
  assert.equal(totals.reduce((a, b) => a + b, 0), breaches);
});

test('the closest RMs link to the decisions behind them', { skip }, async () => {
  const links = page.locator('#closest-table tbody th a');
  assert.ok((await links.count()) > 0);
  const href = await links.first().getAttribute('href');
  await links.first().click();
  const target = page.locator(href);
  await target.waitFor({ state: 'visible' });
  assert.ok(await target.evaluate((el) => el.matches(':target')));
  const examples = target.locator('details');
  assert.ok((await examples.count()) > 0, 'the RM has breach records');
  await examples.first().locator('summary').click();
  const json = JSON.parse(await examples.first().locator('pre').innerText());
  assert.ok(json.decision || json.overdue);
  await page.screenshot({ path: join(artifacts, 'report-closest.png') });
});

test('the page is self-contained and clean', { skip }, async () => {
  await page.goto(pathToFileURL(reportPath).href, { waitUntil: 'load' });
  const external = requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'));
  assert.deepEqual(external, [], 'no network requests');
  assert.deepEqual(problems, [], 'no console errors');
  assert.equal(await page.locator('script[src], link[rel="stylesheet"], img').count(), 0);
  await page.screenshot({ path: join(artifacts, 'report.png'), fullPage: true });
  // Section shots without the sticky navigation bar over them.
  await page.addStyleTag({ content: 'nav.toc { position: static; }' });
  for (const id of ['summary', 'rules', 'over-time', 'branches', 'sanctions', 'overdue', 'closest-table']) {
    await page.locator(`#${id}`).screenshot({ path: join(artifacts, `report-${id}.png`) });
  }
  await page.screenshot({ path: join(artifacts, 'report-top.png') });
});
