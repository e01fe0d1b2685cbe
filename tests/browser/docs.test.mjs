// Headless Chromium uses the Swagger UI at /api/docs the way a person
// would: every route is listed; register, log in, authorize with the access
// token and read users/me, all through the page; then, on a second page,
// authorize through the OAuth2 password flow with a ticked scope (docs/api.md
// §9) and read users/me again. Screenshots of the last steps are saved to
// artifacts/docs.png and artifacts/oauth2.png.
//
// Needs the zentra binary (ZENTRA_BIN, default ../../target/debug/zentra)
// and Chromium (CHROMIUM, default /usr/bin/chromium).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { here, launchChromium, startZentra } from './zentra.mjs';

const ROUTES = [
  'GET /', 'GET /api/health', 'POST /api/auth/register', 'POST /api/auth/token',
  'POST /api/auth/token/verify/{token}', 'POST /api/auth/token/refresh',
  'GET /api/auth/users/me', 'PATCH /api/auth/users/me', 'POST /api/auth/users/me/password',
  'POST /api/auth/logout', 'POST /api/auth/logout/all',
  'GET /api/auth/users/me/events', 'GET /api/admin/users', 'POST /api/admin/users',
  'GET /api/admin/users/{username}', 'PATCH /api/admin/users/{username}',
  'DELETE /api/admin/users/{username}', 'POST /api/admin/users/{username}/logout',
  'POST /api/admin/users/{username}/unlock', 'GET /api/admin/events',
  'POST /api/auth/api-keys', 'GET /api/auth/api-keys', 'DELETE /api/auth/api-keys/{id}',
  'POST /api/auth/token/introspect', 'GET /api/auth/sessions', 'DELETE /api/auth/sessions/{id}',
  'GET /api/admin/users/{username}/api-keys', 'DELETE /api/admin/users/{username}/api-keys/{id}',
];

/** The scopes every deployment knows, and the operator's own one the
 * OAuth2 test starts the service with (AUTH__SCOPES). */
const SCOPES = ['admin', 'introspect', 'me', 'items:read'];

/** Starts zentra on a fresh SQLite file and a free port, with `extra`
 * settings. */

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

/** A new page on the docs of `base`, once its operations are shown; `outside`
 * collects every request it sends elsewhere. */
async function openDocs(browser, base) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 2000 } });
  const outside = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(base) && !request.url().startsWith('data:')) {
      outside.push(request.url());
    }
  });
  await page.goto(`${base}/api/docs`);
  await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
  return { page, outside };
}

test('the docs page lists every route and drives the whole flow', async () => {
  const zentra = await startZentra();
  const browser = await launchChromium();
  try {
    const { page, outside } = await openDocs(browser, zentra.base);

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

test('the docs page authorizes through the OAuth2 password flow with a scope', async () => {
  const zentra = await startZentra({ AUTH__SCOPES: 'items:read' });
  const browser = await launchChromium();
  try {
    const { page, outside } = await openDocs(browser, zentra.base);
    const registered = await execute(page, 'register', { username: 'oauth-user', password: 'correct horse' });
    assert.equal(registered.status, 201);

    await page.locator('.auth-wrapper button.authorize').click();
    const flow = page.locator('.auth-container').filter({ hasText: 'OAuth2' }).first();
    await flow.waitFor({ timeout: 15_000 });
    assert.match(await flow.innerText(), /Flow:\s*password/);
    assert.match(await flow.innerText(), /\/api\/auth\/token/);

    // Every scope the service knows is offered, none ticked yet.
    const offered = await flow.locator('.scopes .checkbox input[type=checkbox]').evaluateAll((boxes) =>
      boxes.map((box) => ({ name: box.dataset.value, checked: box.checked })));
    assert.deepEqual(offered.map((s) => s.name).sort(), [...SCOPES].sort(),
      `offered: ${JSON.stringify(offered)}`);
    assert.ok(offered.every((s) => !s.checked), JSON.stringify(offered));

    await flow.locator('input[data-name=username]').fill('oauth-user');
    await flow.locator('input[data-name=password]').fill('correct horse');
    // The checkbox itself is hidden behind its label, as a person sees it.
    await flow.locator('.scopes .checkbox')
      .filter({ has: page.locator('input[data-value="me"]') }).locator('label').click();
    assert.equal(await flow.locator('.scopes input[data-value="me"]').isChecked(), true);
    assert.equal(await flow.locator('.scopes input[data-value="admin"]').isChecked(), false);

    const [tokenResponse] = await Promise.all([
      page.waitForResponse((response) => response.url().startsWith(`${zentra.base}/api/auth/token`)
        && response.request().method() === 'POST', { timeout: 15_000 }),
      flow.locator('button.authorize').click(),
    ]);
    const sent = new URLSearchParams(tokenResponse.request().postData() ?? '');
    assert.equal(sent.get('grant_type'), 'password');
    assert.equal(sent.get('username'), 'oauth-user');
    assert.equal(sent.get('scope'), 'me');
    assert.equal(tokenResponse.status(), 202);
    const token = await tokenResponse.json();
    assert.equal(token.token_type, 'bearer');
    assert.equal(token.scope, 'me');
    await flow.getByText('Authorized', { exact: true }).waitFor({ timeout: 15_000 });
    await page.locator('.modal-ux button.btn-done').first().click();

    const me = await execute(page, 'current_user');
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.equal(me.body.data.username, 'oauth-user');
    assert.deepEqual(me.body.data.scopes, ['me']);
    assert.equal(me.body.data.is_superuser, false);

    mkdirSync(join(here, 'artifacts'), { recursive: true });
    await page.locator('#operations-auth-current_user').screenshot({ path: join(here, 'artifacts', 'oauth2.png') });
    assert.deepEqual(outside, [], 'the docs page fetched something from outside the service');
  } finally {
    await browser.close();
    zentra.stop();
  }
});
