// Single sign-on in a real browser: "Sign in with SSO" on the console's
// login page, the real OpenID provider's login form (tests/oidc:
// oidc-provider), and back in the console's inbox as a member who joined
// just in time; a refused sign-in comes back to the login page with the
// reason, translated; the admin page shows the provider (never its secret)
// and saves changes.
//
// Run: cd tests/browser && node --test sso.test.mjs (needs `npm ci` in
// tests/oidc as well; a missing provider fails the test, it never skips).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startKefu, api, login, launch, screenshot, REPO, PASSWORD } from './lib/harness.mjs';

const WAIT = 20000;
const SECRET = 'browser-test-client-secret';

let kefu;
let browser;
let provider;
let issuer;

/** Starts tests/oidc/provider.mjs with one client; resolves to its issuer. */
function startProvider(redirectUri) {
  const dir = join(REPO, 'tests/oidc');
  if (!existsSync(join(dir, 'node_modules/oidc-provider'))) {
    throw new Error(`the OIDC test provider is not installed: run \`npm ci\` in ${dir}`);
  }
  const config = { clients: [{ client_id: 'kefu', client_secret: SECRET, redirect_uris: [redirectUri] }] };
  // KEFU_TEST_OIDC_DEBUG=1 shows the provider's notices and debug log.
  const debug = !!process.env.KEFU_TEST_OIDC_DEBUG;
  provider = spawn(process.execPath, ['provider.mjs', JSON.stringify(config)], {
    cwd: dir,
    stdio: ['pipe', 'pipe', debug ? 'inherit' : 'ignore'],
    env: debug ? { ...process.env, DEBUG: 'oidc-provider:*' } : process.env,
  });
  return new Promise((ok, fail) => {
    provider.on('exit', (code) => fail(new Error(`the OIDC provider exited (${code})`)));
    createInterface({ input: provider.stdout }).once('line', (line) => ok(JSON.parse(line).issuer));
  });
}

before(async () => {
  kefu = await startKefu({ owner: 'owner@corp.example' });
  browser = await launch();
  issuer = await startProvider(`${kefu.base}/api/v1/auth/oidc/callback`);
  const token = await login(kefu.base, kefu.owner.email);
  const r = await api(kefu.base, 'PUT', `/api/v1/workspaces/${kefu.owner.workspaceId}/sso/oidc`, {
    token,
    body: { issuer, client_id: 'kefu', client_secret: SECRET, enabled: true, jit_domains: ['corp.example'], jit_role: 'agent' },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.client_secret_set, true);
});

after(async () => {
  await browser?.close();
  provider?.kill();
  await kefu?.stop();
});

/** The console's login page → SSO → the provider's form as `who`. */
async function ssoAs(page, who) {
  await page.goto(`${kefu.base}/`);
  await page.click('#login-sso');
  await page.fill('#login-sso-workspace', kefu.owner.workspaceId);
  await page.click('#login-sso-continue');
  await page.waitForURL((u) => u.toString().startsWith(issuer));
  await page.fill('input[name=login]', who);
  await page.fill('input[name=password]', 'anything');
  await page.click('button[type=submit]');
}

test('Sign in with SSO lands in the inbox as a new member', async () => {
  const context = await browser.newContext({ locale: 'en-US' });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await ssoAs(page, 'ann@corp.example');
    await page.waitForSelector('.shell');
    assert.match(page.url(), /#\/inbox/);
    const me = await page.evaluate(() => fetch('/api/v1/me').then((r) => r.json()));
    assert.equal(me.user.email, 'ann@corp.example');
    assert.deepEqual(me.workspaces.map((w) => [w.id, w.role]), [[kefu.owner.workspaceId, 'agent']]);
    await screenshot(page, 'sso-inbox');
    // The workspace is remembered for the next time.
    assert.equal(await page.evaluate(() => localStorage.getItem('kefu.ssoWorkspace')), kefu.owner.workspaceId);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a refused sign-in returns to the login page with the reason', async () => {
  const context = await browser.newContext({ locale: 'zh-CN' });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  try {
    await ssoAs(page, 'eve@elsewhere.example');
    await page.waitForSelector('#login-error:not([hidden])');
    assert.equal(await page.textContent('#login-error'), '你的邮箱域名不能自动加入这个工作区。');
    // The code is not left in the address bar.
    assert.doesNotMatch(page.url(), /sso_error/);
    await screenshot(page, 'sso-refused-zh');
  } finally {
    await context.close();
  }
});

test('the admin page shows the provider, never its secret, and saves changes', async () => {
  const context = await browser.newContext({ locale: 'en-US' });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`${kefu.base}/#/admin/sso`);
    await page.fill('#login-email', kefu.owner.email);
    await page.fill('#login-password', PASSWORD);
    await page.click('form button[type=submit]');
    await page.waitForSelector('[data-sso-redirect]');
    assert.equal((await page.textContent('[data-sso-redirect]')).trim(), `${kefu.base}/api/v1/auth/oidc/callback`);
    assert.equal(await page.inputValue('input[name=issuer]'), issuer);
    assert.equal(await page.inputValue('input[name=client_secret]'), '');
    assert.ok(!(await page.content()).includes(SECRET), 'the secret is not in the page');
    await page.fill('input[name=jit_domains]', 'corp.example, Branch.Corp.Example');
    await page.click('.sso-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('input[name=jit_domains]')?.value === 'corp.example, branch.corp.example');
    const token = await login(kefu.base, kefu.owner.email);
    const r = await api(kefu.base, 'GET', `/api/v1/workspaces/${kefu.owner.workspaceId}/sso/oidc`, { token });
    assert.deepEqual(r.body.jit_domains, ['corp.example', 'branch.corp.example']);
    assert.equal(r.body.client_secret_set, true, 'an empty secret field keeps the stored one');
    await screenshot(page, 'sso-admin');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
