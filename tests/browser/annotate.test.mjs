// Browser test of the annotator page. It runs the real `akin` binary against its own
// Postgres database and data directory, and drives the page with headless Chromium through
// playwright-core.
//
// Needs target/debug/akin (scripts/test.sh builds it), Postgres reachable through DATABASE_URL
// (default postgres://postgres@127.0.0.1:5432/akin; only its server part is used), `psql`,
// /usr/bin/chromium and Debian's dataset-fashion-mnist. Run with `node --test tests/browser/`.
// Every wait is bounded, so a broken server fails the test instead of hanging it.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const AKIN_BIN = process.env.AKIN_BIN ?? join(REPO_ROOT, 'target', 'debug', 'akin');
const CHROMIUM = process.env.AKIN_CHROMIUM ?? '/usr/bin/chromium';
const BASE_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/akin';
const SCREENSHOT = join(REPO_ROOT, 'target', 'browser', 'annotate.png');

const PROJECT = 'browser';
const IMPORTED_IMAGES = 60;
const MIN_RENDERED_WIDTH_PX = 200;
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

const IMPORT_TIMEOUT_MS = 120_000;
const SERVER_START_TIMEOUT_MS = 60_000;
const SERVER_STOP_TIMEOUT_MS = 10_000;
const PAGE_TIMEOUT_MS = 15_000;
const HTTP_TIMEOUT_MS = 5_000;
const PSQL_TIMEOUT_MS = 30_000;
const ROUND_TIMEOUT_MS = 240_000;

const databaseName = `akin_browser_${randomBytes(6).toString('hex')}`;
const adminToken = randomBytes(24).toString('hex');
const run = {
  dataDir: null,
  server: null,
  browser: null,
  page: null,
  pageErrors: [],
  screenshotSaved: false,
};

/** The base DATABASE_URL with its database replaced by `name`. */
function databaseUrl(name) {
  const url = new URL(BASE_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.href;
}

/** The environment for every `akin` command of this test: own database, own data directory. */
function akinEnv() {
  return {
    ...process.env,
    DATABASE_URL: databaseUrl(databaseName),
    AKIN_DATA_DIR: run.dataDir,
    AKIN_BIND: '127.0.0.1:0',
    AKIN_ADMIN_TOKEN: adminToken,
    AKIN_DEVICE: 'cpu',
    AKIN_TRAINER_THREADS: '1',
    AKIN_WARMUP_STEPS: '20',
    AKIN_TRAIN_STEPS: '15',
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
  };
}

/** Runs `akin ARGS` to completion and fails with its stderr when it does not succeed. */
function runAkin(args) {
  const result = spawnSync(AKIN_BIN, args, {
    env: akinEnv(),
    encoding: 'utf8',
    timeout: IMPORT_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  if (result.error) throw new Error(`cannot run ${AKIN_BIN}: ${result.error.message}`);
  assert.equal(result.status, 0, `akin ${args.join(' ')} failed:\n${result.stderr}`);
}

/** Keeps the last `limit` characters of a stream, for error messages. */
function tailOf(stream, limit = 8_000) {
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    text = (text + chunk).slice(-limit);
  });
  return () => text;
}

/** Starts `akin serve` on port 0 and resolves once it has printed the address it listens on. */
function startServer() {
  const child = spawn(AKIN_BIN, ['serve'], { env: akinEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  process.once('exit', () => child.kill('SIGKILL'));
  const stderr = tailOf(child.stderr);

  return new Promise((resolve, reject) => {
    const fail = (why) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`akin serve ${why}; its stderr ends with:\n${stderr()}`));
    };
    const timer = setTimeout(() => fail('printed no address in time'), SERVER_START_TIMEOUT_MS);
    child.once('error', (error) => fail(`could not start (${error.message})`));
    child.once('exit', (code, signal) => fail(`exited early (code ${code}, signal ${signal})`));

    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /^akin listening on (http:\/\/127\.0\.0\.1:(\d+))\s*$/.exec(line);
      if (!match || Number(match[2]) === 0) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve({ child, baseUrl: match[1], stderr });
    });
  });
}

/** Sends SIGTERM, waits a bounded time for a clean exit, then kills. */
async function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), SERVER_STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** Drops this test's database through psql, connected to the server's `postgres` database. */
function dropDatabase() {
  const sql = `DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`;
  const args = [databaseUrl('postgres'), '-w', '-v', 'ON_ERROR_STOP=1', '-c', sql];
  const result = spawnSync('psql', args, {
    encoding: 'utf8',
    timeout: PSQL_TIMEOUT_MS,
    env: { ...process.env, PGCONNECT_TIMEOUT: '10' },
  });
  if (result.status !== 0) {
    throw new Error(`could not drop ${databaseName}: ${result.error?.message ?? result.stderr}`);
  }
}

/** Sends a request to the test's server and returns the JSON body after checking the status. */
async function requestJson(path, { method = 'GET', status = 200, headers = {} } = {}) {
  const response = await fetch(`${run.server.baseUrl}${path}`, {
    method,
    headers,
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  assert.equal(response.status, status, `${method} ${path}`);
  return response.json();
}

const getJson = (path) => requestJson(path);

/**
 * Makes sure the annotator has pairs to show. A project whose import already queued pairs needs
 * nothing; otherwise the first round is started and awaited until it opens its queries.
 */
async function ensurePairsWaiting() {
  const project = await getJson(`/api/v1/projects/${PROJECT}`);
  if (project.pending_queries > 0) return;

  const round = await requestJson(`/api/v1/projects/${PROJECT}/rounds`, {
    method: 'POST',
    status: 201,
    headers: { Authorization: `Bearer ${adminToken}` },
  });
  const deadline = Date.now() + ROUND_TIMEOUT_MS;
  let state = round.state;
  while (state !== 'open' && Date.now() < deadline) {
    assert.notEqual(state, 'failed', `round ${round.id} failed`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    state = (await getJson(`/api/v1/projects/${PROJECT}/rounds/${round.id}`)).state;
  }
  assert.equal(state, 'open', `round ${round.id} did not open its queries in time`);
}

/** Opens a page that may talk to the test's server only; every other request is aborted. */
async function openPage(browser, baseUrl) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.route('**/*', (route) =>
    route.request().url().startsWith(`${baseUrl}/`) ? route.continue() : route.abort(),
  );
  const page = await context.newPage();
  page.setDefaultTimeout(PAGE_TIMEOUT_MS);
  page.on('pageerror', (error) => run.pageErrors.push(error.message));
  return page;
}

/**
 * Waits until both images have finished loading a pair other than `previous` (a string of the
 * two srcs), then reports what each image shows.
 */
async function waitForPair(page, previous = '') {
  await page.waitForFunction(
    (previousPair) => {
      const images = ['left', 'right'].map((id) => document.getElementById(id));
      if (images.some((image) => !image || !image.src || !image.complete)) return false;
      return images.map((image) => image.src).join(' ') !== previousPair;
    },
    previous,
    { timeout: PAGE_TIMEOUT_MS },
  );
  const images = await page.evaluate(() =>
    ['left', 'right'].map((id) => {
      const image = document.getElementById(id);
      const renderedWidth = image.getBoundingClientRect().width;
      return { id, src: image.src, naturalWidth: image.naturalWidth, renderedWidth };
    }),
  );
  return { images, pair: images.map((image) => image.src).join(' ') };
}

/** Waits for `#answered-count` to read `expected`, then asserts it, so failures show the text. */
async function assertAnsweredCount(page, expected, action) {
  const wanted = String(expected);
  await page
    .waitForFunction(
      (text) => document.querySelector('#answered-count')?.textContent.trim() === text,
      wanted,
      { timeout: PAGE_TIMEOUT_MS },
    )
    .catch(() => {});
  const shown = (await page.textContent('#answered-count'))?.trim();
  assert.equal(shown, wanted, `#answered-count after ${action}`);
}

/** Reads the project until it reports `expected` answers or a bounded number of tries passes. */
async function answersRecorded(expected) {
  let project = await getJson(`/api/v1/projects/${PROJECT}`);
  for (let attempt = 0; attempt < 20 && project.answers < expected; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    project = await getJson(`/api/v1/projects/${PROJECT}`);
  }
  return project.answers;
}

async function saveScreenshot() {
  await mkdir(dirname(SCREENSHOT), { recursive: true });
  await run.page.screenshot({ path: SCREENSHOT, fullPage: true, timeout: PAGE_TIMEOUT_MS });
}

before(async () => {
  run.dataDir = await mkdtemp(join(tmpdir(), 'akin-browser-'));
  runAkin(['import', 'fashion-mnist', '--project', PROJECT, '--limit', String(IMPORTED_IMAGES)]);
  run.server = await startServer();
  await ensurePairsWaiting();
  run.browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: PAGE_TIMEOUT_MS * 2,
  });
  run.page = await openPage(run.browser, run.server.baseUrl);
}, { timeout: IMPORT_TIMEOUT_MS + SERVER_START_TIMEOUT_MS + ROUND_TIMEOUT_MS + 60_000 });

after(async () => {
  try {
    if (run.page && !run.screenshotSaved) await saveScreenshot().catch(() => {});
    await run.browser?.close().catch(() => {});
    if (run.server) await stopServer(run.server.child);
    dropDatabase();
  } finally {
    if (run.dataDir) await rm(run.dataDir, { recursive: true, force: true });
  }
}, { timeout: SERVER_STOP_TIMEOUT_MS + PSQL_TIMEOUT_MS + PAGE_TIMEOUT_MS * 2 });

test('the project holds every imported image', { timeout: PAGE_TIMEOUT_MS }, async () => {
  const project = await getJson(`/api/v1/projects/${PROJECT}`);

  assert.equal(project.name, PROJECT);
  assert.equal(project.items, IMPORTED_IMAGES);
  assert.equal(project.answers, 0);
});

test('the annotator page shows two loaded images drawn large', { timeout: 60_000 }, async () => {
  const page = run.page;

  const response = await page.goto(`${run.server.baseUrl}/annotate/${PROJECT}`, {
    waitUntil: 'load',
  });
  const { images } = await waitForPair(page);

  assert.equal(response?.status(), 200);
  for (const image of images) {
    assert.ok(image.naturalWidth > 0, `#${image.id} did not load ${image.src}`);
    assert.ok(
      image.renderedWidth >= MIN_RENDERED_WIDTH_PX,
      `#${image.id} is drawn ${image.renderedWidth} px wide, below ${MIN_RENDERED_WIDTH_PX} px`,
    );
  }
  assert.notEqual(images[0].src, images[1].src, 'both sides show the same image');
});

test('answers from the S key, the Different button and the N key are counted by page and server',
  { timeout: 90_000 }, async () => {
    const page = run.page;
    let shown = await waitForPair(page, '');

    await page.keyboard.press('s');
    await assertAnsweredCount(page, 1, 'pressing S');
    shown = await waitForPair(page, shown.pair);
    await page.click('#btn-different');
    await assertAnsweredCount(page, 2, 'clicking Different');
    shown = await waitForPair(page, shown.pair);
    await page.keyboard.press('n');
    await assertAnsweredCount(page, 3, 'pressing N');
    const answers = await answersRecorded(3);

    assert.equal(answers, 3, 'answers reported by GET /api/v1/projects/{project}');
    assert.ok(shown.images.every((image) => image.naturalWidth > 0), 'a later pair did not load');
    assert.deepEqual(run.pageErrors, [], 'the page raised uncaught errors');
    await saveScreenshot();
    run.screenshotSaved = true;
  });
