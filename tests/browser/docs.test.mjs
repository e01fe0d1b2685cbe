// Headless Chromium uses the Swagger UI at /api/docs the way a person
// would: every route is listed; register, log in, authorize with the access
// token and read users/me, all through the page. A screenshot of the last
// step is saved to artifacts/docs.png.
//
// Needs the zentra binary (ZENTRA_BIN, default ../../target/debug/zentra)
// and Chromium (CHROMIUM, default /usr/bin/chromium).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const zentraBin = process.env.ZENTRA_BIN ?? join(here, '../../target/debug/zentra');
const chromiumBin = process.env.CHROMIUM ?? '/usr/bin/chromium';

const ROUTES = [
  'GET /', 'GET /api/health', 'POST /api/auth/register', 'POST /api/auth/token',
  'POST /api/auth/token/verify/{token}', 'POST /api/auth/token/refresh',
  'GET /api/auth/users/me', 'PATCH /api/auth/users/me', 'POST /api/auth/users/me/password',
  'POST /api/auth/logout', 'POST /api/auth/logout/all',
];

/** Starts zentra on a fresh SQLite file and a free port. */
async function startZentra() {
  const dir = mkdtempSync(join(tmpdir(), 'zentra-browser-'));
  const child = spawn(zentraBin, ['serve'], {
    cwd: dir,
    env: {
      DB__URL: `sqlite:///${join(dir, 'zentra.db')}`,
      SERVER__PORT: '0',
      AUTH__ROUNDS: '4',
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('zentra did not start')), 30_000);
    child.on('exit', (code) => reject(new Error(`zentra exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = line.match(/^zentra listening on (http:\/\/\S+)$/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return { base, stop: () => { child.kill(); rmSync(dir, { recursive: true, force: true }); } };
}

/** Opens an operation, fills its JSON body if given, executes it, and
 * returns the status and body the page shows. */
async function execute(page, operationId, body) {
  const block = page.locator(`#operations-auth-${operationId}`);
  await block.locator('.opblock-summary').first().click();
  await block.locator('button.try-out__btn').click();
  if (body !== undefined) {
    await block.locator('textarea.body-param__text').fill(JSON.stringify(body));
  }
  await block.locator('button.execute').click();
  const response = block.locator('.live-responses-table tbody tr.response').first();
  await response.waitFor({ timeout: 15_000 });
  const status = await response.locator('.response-col_status').innerText();
  const text = await response.locator('.response-col_description pre.microlight').first().innerText();
  return { status: Number(status.trim()), body: JSON.parse(text) };
}

test('the docs page lists every route and drives the whole flow', async () => {
  const zentra = await startZentra();
  const browser = await chromium.launch({
    executablePath: chromiumBin,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 2000 } });
    const outside = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(zentra.base) && !request.url().startsWith('data:')) {
        outside.push(request.url());
      }
    });
    await page.goto(`${zentra.base}/api/docs`);
    await page.locator('.opblock').first().waitFor({ timeout: 30_000 });

    const listed = await page.locator('.opblock-summary').evaluateAll((summaries) =>
      summaries.map((s) => `${s.querySelector('.opblock-summary-method').textContent.trim()} ${s.querySelector('.opblock-summary-path').getAttribute('data-path')}`));
    for (const route of ROUTES) {
      assert.ok(listed.includes(route), `${route} is not listed: ${listed.join(', ')}`);
    }

    const registered = await execute(page, 'register', { username: 'browser-user', password: 'correct horse' });
    assert.equal(registered.status, 201);
    assert.equal(registered.body.data.username, 'browser-user');

    const login = await execute(page, 'login', { username: 'browser-user', password: 'correct horse' });
    assert.equal(login.status, 202);
    assert.equal(login.body.token_type, 'bearer');

    await page.locator('.auth-wrapper button.authorize').click();
    const bearer = page.locator('.auth-container').filter({ hasText: 'bearer' }).first();
    await bearer.locator('input').first().fill(login.body.access_token);
    await bearer.locator('button.authorize').click();
    await page.locator('.modal-ux button.btn-done').first().click();

    const me = await execute(page, 'current_user');
    assert.equal(me.status, 200);
    assert.equal(me.body.data.username, 'browser-user');
    assert.equal(me.body.headers['WWW-Authenticate'], 'Bearer');

    mkdirSync(join(here, 'artifacts'), { recursive: true });
    await page.locator('#operations-auth-current_user').screenshot({ path: join(here, 'artifacts', 'docs.png') });
    assert.deepEqual(outside, [], 'the docs page fetched something from outside the service');
  } finally {
    await browser.close();
    zentra.stop();
  }
});
