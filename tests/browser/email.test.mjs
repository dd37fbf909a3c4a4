// E-mail in a real browser, through a real SMTP server (aiosmtpd from
// PyPI, tests/smtp/server.py, installed by scripts/backup-tools) that
// requires STARTTLS and AUTH: "forgot my password" from the sign-in page,
// the e-mailed link's page setting a new one, signing in with it; the
// visitor e-mailing themselves the transcript from the widget; the admins'
// outbox view.
//
// Run: cd tests/browser && KEFU_ASSETS_DIR=../../crates/kefu-http/assets node --test email.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { startKefu, api, launch, screenshot, PASSWORD, REPO, withConsole } from './lib/harness.mjs';

const WAIT = 20000;
const NEW_PASSWORD = 'a fresh passphrase 2026';

let smtp;
let kefu;
let browser;
let token;
let ws;

function freePort() {
  return new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

async function startSmtp() {
  const python = join(REPO, 'target/backup-tools/bin/python');
  assert.ok(existsSync(python), 'aiosmtpd is not installed: run scripts/backup-tools (scripts/test does)');
  const dir = mkdtempSync(join(tmpdir(), 'kefu-smtp-'));
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=Kefu test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'key.pem', '-out', 'leaf.csr');
  writeFileSync(join(dir, 'leaf.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  ssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'leaf.ext', '-out', 'cert.pem');
  const port = await freePort();
  const out = join(dir, 'mail');
  const child = spawn(python, [join(REPO, 'tests/smtp/server.py'), String(port), out, join(dir, 'cert.pem'), join(dir, 'key.pem'), 'kefu', 'smtp-pw'],
    { stdio: 'ignore' });
  const end = Date.now() + WAIT;
  for (;;) {
    const up = await new Promise((ok) => {
      const s = connect(port, '127.0.0.1', () => { s.end(); ok(true); }).on('error', () => ok(false));
    });
    if (up) break;
    if (Date.now() > end) throw new Error('the SMTP server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    ca: join(dir, 'ca.pem'),
    /** The n-th message accepted (1-based), waited for. */
    async mail(n) {
      const path = join(out, `${n}.json`);
      const until = Date.now() + WAIT;
      while (!existsSync(path)) {
        if (Date.now() > until) throw new Error(`no e-mail #${n}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return JSON.parse(readFileSync(path, 'utf8'));
    },
    stop() {
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

before(async () => {
  smtp = await startSmtp();
  kefu = await startKefu({
    env: {
      KEFU_EMAIL__SMTP_URL: `smtp://kefu:smtp-pw@127.0.0.1:${smtp.port}?tls=required`,
      KEFU_EMAIL__TLS_CA_FILE: smtp.ca,
      KEFU_EMAIL__REPLY_DELAY_SECS: '0',
      KEFU_EMAIL__NOTIFY_ASSIGNMENTS: 'false',
    },
  });
  browser = await launch();
  const r = await api(kefu.base, 'POST', '/api/v1/auth/login', { body: { email: kefu.owner.email, password: PASSWORD } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  token = r.body.access_token;
  ws = kefu.owner.workspaceId;
});

after(async () => {
  await browser?.close();
  await kefu?.stop();
  smtp?.stop();
});

test('forgot my password: the e-mailed link sets a new one, and it signs in', async () => {
  const context = await browser.newContext({ locale: 'zh-CN' });
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${kefu.base}/`);
    await page.fill('#login-email', kefu.owner.email);
    await page.click('#login-forgot');
    await page.click('#login-forgot-send');
    await page.getByText(/重设链接已发出/).waitFor({ timeout: WAIT });
    const m = await smtp.mail(1);
    assert.deepEqual(m.rcpt_tos, [kefu.owner.email]);
    assert.equal(m.subject, '重设您的 Kefu 密码');
    assert.equal(m.tls, true);
    const resetToken = m.text.split('#/reset?token=')[1].split(/\s/)[0];
    // The link opens as a new page, as from a mail program.
    await page.goto('about:blank');
    await page.goto(`${kefu.base}/#/reset?token=${resetToken}`);
    await page.fill('#reset-password', NEW_PASSWORD);
    await page.fill('#reset-again', 'something else');
    await page.locator('main form button[type=submit]').click();
    await page.getByText('两次输入的密码不一致。').waitFor({ timeout: WAIT });
    await page.fill('#reset-again', NEW_PASSWORD);
    await screenshot(page, 'console-reset-zh-CN');
    await page.locator('main form button[type=submit]').click();
    await page.getByText('新密码已设置，请用它登录。').waitFor({ timeout: WAIT });
    await page.fill('#login-email', kefu.owner.email);
    await page.fill('#login-password', NEW_PASSWORD);
    await page.click('form button[type=submit]');
    await page.waitForSelector('.shell', { timeout: WAIT });
    // The link worked once.
    const again = await api(kefu.base, 'POST', '/api/v1/auth/password-reset/confirm', { body: { token: resetToken, new_password: 'yet another one 2026' } });
    assert.equal(again.status, 401);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
  // Back to the harness's password for the other tests.
  const signedIn = await api(kefu.base, 'POST', '/api/v1/auth/login', { body: { email: kefu.owner.email, password: NEW_PASSWORD } });
  token = signedIn.body.access_token;
  const back = await api(kefu.base, 'POST', '/api/v1/me/password', { token, body: { current_password: NEW_PASSWORD, new_password: PASSWORD } });
  assert.equal(back.status, 200, JSON.stringify(back.body));
  token = (await api(kefu.base, 'POST', '/api/v1/auth/login', { body: { email: kefu.owner.email, password: PASSWORD } })).body.access_token;
});

test('the visitor e-mails themselves the transcript; admins see it in the outbox', async () => {
  const inbox = (await api(kefu.base, 'POST', `/api/v1/workspaces/${ws}/inboxes`, { token, body: { name: 'Web shop', channel: 'web', bot_enabled: false } })).body;
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    const page = await context.newPage();
    await page.goto(`${kefu.base}/demo?key=${inbox.widget_key}`);
    await page.getByTestId('launcher').click();
    await page.getByTestId('composer').fill('Where is order 42?');
    await page.getByTestId('composer').press('Enter');
    let conv;
    const until = Date.now() + WAIT;
    while (!conv) {
      const list = await api(kefu.base, 'GET', `/api/v1/workspaces/${ws}/conversations`, { token });
      conv = list.body.items.find((c) => c.inbox_id === inbox.id);
      if (!conv && Date.now() > until) throw new Error('no conversation');
      if (!conv) await new Promise((r) => setTimeout(r, 200));
    }
    const reply = await api(kefu.base, 'POST', `/api/v1/workspaces/${ws}/conversations/${conv.id}/messages`, { token, body: { body: 'It ships today.', client_msg_id: randomUUID() } });
    assert.equal(reply.status, 201);
    await api(kefu.base, 'POST', `/api/v1/workspaces/${ws}/conversations/${conv.id}/resolve`, { token });
    await page.getByTestId('transcript').waitFor({ timeout: WAIT });
    await page.getByTestId('transcript-email').fill('buyer@example.com');
    await page.getByTestId('transcript-send').click();
    await page.getByTestId('transcript-status').filter({ hasText: 'Sent' }).waitFor({ timeout: WAIT });
    const m = await smtp.mail(2);
    assert.deepEqual(m.rcpt_tos, ['buyer@example.com']);
    assert.equal(m.subject, 'Your conversation with Web shop');
    assert.match(m.text, /You: Where is order 42\?/);
    assert.match(m.text, /It ships today\./);
  } finally {
    await context.close();
  }
  await withConsole(browser, kefu, '#/admin/members', { wait: WAIT }, async (page) => {
    const row = page.locator('.outbox-table tbody tr').filter({ hasText: 'buyer@example.com' });
    await row.waitFor({ timeout: WAIT });
    assert.match(await row.textContent(), /Sent/);
  });
});
