// Headless Chromium as a browser front end (docs/api.md §11): a page served
// from another loopback port, listed in BACKEND_CORS_ORIGINS, logs in with
// `credentials: "include"` against a zentra with AUTH__REFRESH_COOKIE=cookie,
// never sees the refresh token, refreshes through the HttpOnly cookie after
// a reload, lists its sessions and logs out; a page from an origin that is
// not listed cannot use the cookie.
//
// Needs the zentra binary (ZENTRA_BIN, default ../../target/debug/zentra)
// and Chromium (CHROMIUM, default /usr/bin/chromium).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { launchChromium, startZentra } from './zentra.mjs';

/** A static page on 127.0.0.1 and a free port: the front end. */
async function servePage() {
  const server = createServer((_, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html' });
    response.end('<!doctype html><title>front end</title><p>front end</p>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

/** `fetch` from inside the page, with the cookie; the status and JSON body,
 * or `{ error }` when the browser refuses the answer (CORS). */
function call(page, url, init = {}) {
  return page.evaluate(async ([url, init]) => {
    try {
      const response = await fetch(url, { credentials: 'include', ...init });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : null };
    } catch (error) {
      return { error: String(error) };
    }
  }, [url, init]);
}

test('a front end on another origin keeps its session in the HttpOnly cookie', async () => {
  const front = await servePage();
  const stranger = await servePage();
  const zentra = await startZentra({
    BACKEND_CORS_ORIGINS: front.origin,
    AUTH__REFRESH_COOKIE: 'cookie',
  });
  const browser = await launchChromium();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(front.origin);
    const base = zentra.base;

    const registered = await call(page, `${base}/api/auth/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'cookie-user', password: 'correct horse' }),
    });
    assert.equal(registered.status, 201, JSON.stringify(registered));

    const login = await call(page, `${base}/api/auth/token`, {
      method: 'POST',
      body: new URLSearchParams({ username: 'cookie-user', password: 'correct horse' }).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(login.status, 202, JSON.stringify(login));
    assert.ok(login.body.access_token);
    assert.equal(login.body.refresh_token, undefined, 'the page never sees the refresh token');
    const cookies = await context.cookies(base);
    const refreshCookie = cookies.find((c) => c.name === '__Host-zentra_refresh');
    assert.ok(refreshCookie, `no refresh cookie: ${JSON.stringify(cookies)}`);
    assert.equal(refreshCookie.httpOnly, true);
    assert.equal(refreshCookie.secure, true);
    assert.equal(refreshCookie.sameSite, 'Strict');
    assert.equal(await page.evaluate(() => document.cookie), '');

    // A reload forgets everything the page held; the cookie stays.
    await page.reload();
    const refreshed = await call(page, `${base}/api/auth/token/refresh`, { method: 'POST' });
    assert.equal(refreshed.status, 201, JSON.stringify(refreshed));
    assert.equal(refreshed.body.refresh_token, undefined);
    const access = refreshed.body.access_token;

    const sessions = await call(page, `${base}/api/auth/sessions`, {
      headers: { Authorization: `Bearer ${access}` },
    });
    assert.equal(sessions.status, 200, JSON.stringify(sessions));
    assert.equal(sessions.body.data.sessions.length, 1);
    assert.equal(sessions.body.data.sessions[0].current, true);
    assert.match(sessions.body.data.sessions[0].user_agent, /Chrome/);

    // A page of another origin: the browser refuses it the answer, and the
    // service refuses the cookie (no allowed Origin).
    const other = await context.newPage();
    await other.goto(stranger.origin);
    const foreign = await call(other, `${base}/api/auth/token/refresh`, { method: 'POST' });
    assert.ok(foreign.error, `a foreign page read the answer: ${JSON.stringify(foreign)}`);

    const logout = await call(page, `${base}/api/auth/logout`, { method: 'POST' });
    assert.equal(logout.status, 200, JSON.stringify(logout));
    const after = await call(page, `${base}/api/auth/token/refresh`, { method: 'POST' });
    assert.equal(after.status, 401, JSON.stringify(after));
    assert.equal((await context.cookies(base)).find((c) => c.name === '__Host-zentra_refresh'), undefined,
      'logout clears the cookie');
  } finally {
    await browser.close();
    zentra.stop();
    front.close();
    stranger.close();
  }
});
