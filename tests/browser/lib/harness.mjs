// Shared set-up for the browser tests: a real `kefu serve` on a fresh
// SQLite data dir (the binary of this checkout), an owner created with the
// CLI, and Debian's Chromium driven by playwright-core.
//
// Environment:
//   KEFU_BIN          the binary (default: <repo>/target/debug/kefu)
//   KEFU_ASSETS_DIR   serve the UI from this directory instead of the
//                     embedded copy (for working on the UI; CI tests the
//                     embedded copy)
//   CHROMIUM          the browser (default /usr/bin/chromium)
//   KEFU_SCREENSHOTS  a directory to save screenshots into (docs/screenshots
//                     to refresh the README's); unset: none are saved

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = process.env.KEFU_BIN || join(REPO, 'target/debug/kefu');
export const PASSWORD = 'a-long-password-1';

function kefuEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KEFU_')) env[k] = v;
  Object.assign(env, {
    KEFU_LOG_FORMAT: 'json',
    KEFU_LOG_FILTER: 'info',
    KEFU_HTTP__RATE_LIMIT__ENABLED: 'false',
    KEFU_HTTP__COOKIE_SECURE: 'false',
    KEFU_AUTH__ARGON2_MEMORY_KIB: '4096',
    KEFU_AUTH__ARGON2_ITERATIONS: '1',
    KEFU_HTTP__SHUTDOWN_GRACE_SECS: '1',
  });
  if (process.env.KEFU_ASSETS_DIR) env.KEFU_HTTP__ASSETS_DIR = process.env.KEFU_ASSETS_DIR;
  return Object.assign(env, extra);
}

/** A running server: { base, dataDir, owner: {email, workspaceId}, stop() }. */
export async function startKefu({ env = {}, owner = 'owner@example.com' } = {}) {
  if (!existsSync(BIN)) throw new Error(`${BIN} does not exist: build it first (cargo build -p kefu)`);
  const dataDir = mkdtempSync(join(tmpdir(), 'kefu-browser-'));
  const fullEnv = kefuEnv(env);
  const created = spawnSync(
    BIN,
    ['--data-dir', dataDir, 'admin', 'create-owner', '--email', owner, '--name', 'Owner', '--workspace', 'Demo'],
    { input: PASSWORD + '\n', env: fullEnv, encoding: 'utf8' },
  );
  if (created.status !== 0) throw new Error(`create-owner failed: ${created.stderr}`);
  const workspaceId = created.stdout.trim().split(/\s+/).pop();
  const child = spawn(BIN, ['--data-dir', dataDir, 'serve', '--listen', '127.0.0.1:0'], {
    env: fullEnv,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log = [];
  const base = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`kefu did not start:\n${log.join('\n')}`)), 30000);
    createInterface({ input: child.stderr }).on('line', (line) => {
      log.push(line);
      try {
        const v = JSON.parse(line);
        const addr = v.addr || (v.fields && v.fields.addr);
        if (addr) {
          clearTimeout(timer);
          ok(`http://${addr}`);
        }
      } catch {}
    });
    child.on('exit', (code) => fail(new Error(`kefu exited (${code}):\n${log.join('\n')}`)));
  });
  return {
    base,
    dataDir,
    log,
    owner: { email: owner, workspaceId },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** JSON over HTTP: { status, body }. */
export async function api(base, method, path, { token, body } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, body: json };
}

/** Logs in over the API: the access token. */
export async function login(base, email, password = PASSWORD) {
  const r = await api(base, 'POST', '/api/v1/auth/login', { body: { email, password } });
  if (r.status !== 200) throw new Error(`login ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.access_token;
}

/** Creates a web inbox: the inbox (with widget_key). */
export async function createInbox(base, token, workspaceId, fields = {}) {
  const r = await api(base, 'POST', `/api/v1/workspaces/${workspaceId}/inboxes`, {
    token,
    body: { name: 'Website', channel: 'web', ...fields },
  });
  if (r.status !== 201) throw new Error(`inbox ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Headless Debian Chromium. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

/** Saves a screenshot when KEFU_SCREENSHOTS is set. */
export async function screenshot(page, name) {
  const dir = process.env.KEFU_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`) });
}

/**
 * A signed-in console page at `hash` (the owner's session by default):
 * `{context, page, errors}`, where `errors` collects page errors and CSP
 * violations. Close `context` when done, or use `withConsole`.
 */
export async function consoleAt(browser, kefu, hash, {
  email = kefu.owner.email, locale = 'en-US', timezoneId = 'UTC', width = 1360, height = 900, wait = 20000,
  acceptDownloads = true,
} = {}) {
  const context = await browser.newContext({ locale, timezoneId, acceptDownloads, viewport: { width, height } });
  const page = await context.newPage();
  page.setDefaultTimeout(wait);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
  });
  await page.goto(`${kefu.base}/${hash}`);
  await page.fill('#login-email', email);
  await page.fill('#login-password', PASSWORD);
  await page.click('form button[type=submit]');
  await page.waitForSelector('.shell');
  return { context, page, errors };
}

/** Runs `fn(page)` in a signed-in console page, checks it logged no page
 * error or CSP violation, and always closes it. */
export async function withConsole(browser, kefu, hash, opts, fn) {
  const c = await consoleAt(browser, kefu, hash, opts);
  try {
    await fn(c.page);
    assert.deepEqual(c.errors, [], 'no page errors or CSP violations');
  } finally {
    await c.context.close();
  }
}
