// Files and images in a real browser, both ways: a visitor attaches a
// picture in the widget (with its upload progress) and the agent sees it
// inline in the console and opens it large; the agent attaches a PDF and
// the visitor gets a file to download; a file of a refused type says so in
// the widget. Screenshots of the widget with the picture in both languages.
//
// Run: cd tests/browser && KEFU_ASSETS_DIR=../../crates/kefu-http/assets node --test attachments.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startKefu, login, createInbox, launch, screenshot, withConsole } from './lib/harness.mjs';

const WAIT = 20000; // generous: CI runs on 2 cores

/** A real picture: one of the README's screenshots. */
const PNG = readFileSync(new URL('../../docs/screenshots/console-analytics-zh-CN.png', import.meta.url));
const WIDTH = PNG.readUInt32BE(16);
const PDF = Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n');

let kefu;
let browser;
let inbox;

before(async () => {
  kefu = await startKefu();
  browser = await launch();
  const token = await login(kefu.base, kefu.owner.email);
  inbox = await createInbox(kefu.base, token, kefu.owner.workspaceId, { bot_enabled: false });
});

after(async () => {
  await browser?.close();
  await kefu?.stop();
});

async function until(fn, what) {
  const end = Date.now() + WAIT;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function visitor(locale) {
  const context = await browser.newContext({ locale, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${kefu.base}/demo?key=${inbox.widget_key}`);
  await page.getByTestId('launcher').click();
  await page.getByTestId('panel').waitFor({ state: 'visible' });
  return { context, page, errors };
}

test('a picture from the visitor shows in the console; a PDF from the agent reaches the widget', async () => {
  const v = await visitor('zh-CN');
  try {
    await v.page.getByTestId('file-input').setInputFiles({ name: '订单截图.png', mimeType: 'image/png', buffer: PNG });
    const shown = v.page.locator('[data-testid=message][data-sender=visitor] img.att-img');
    await shown.waitFor({ timeout: WAIT });
    await until(async () => (await shown.evaluate((img) => img.complete && img.naturalWidth)) === WIDTH, 'the picture');
    assert.equal(await shown.evaluate((img) => img.naturalWidth), WIDTH, 'the picture loaded through its signed link');
    await screenshot(v.page, 'widget-attachment-zh-CN');

    // The agent opens the conversation: the picture is inline; a click shows it large.
    const list = await (await fetch(`${kefu.base}/api/v1/workspaces/${kefu.owner.workspaceId}/conversations`, {
      headers: { authorization: `Bearer ${await login(kefu.base, kefu.owner.email)}` },
    })).json();
    const conv = list.items[0].id;
    await withConsole(browser, kefu, `#/inbox/${conv}`, { wait: WAIT }, async (page) => {
      const img = page.locator('.msg-files .att-img img');
      await img.waitFor({ timeout: WAIT });
      await page.waitForFunction((w) => document.querySelector('.msg-files .att-img img')?.naturalWidth === w, WIDTH);
      await page.locator('.msg-files .att-img').click();
      await page.locator('dialog.modal .lightbox img').waitFor();
      await page.locator('dialog.modal').getByRole('button', { name: 'Close' }).click();
      // The agent sends a PDF from the composer.
      await page.locator('.composer input[type=file]').setInputFiles({ name: '报价单.pdf', mimeType: 'application/pdf', buffer: PDF });
      await page.locator('.msg-files .att-file', { hasText: '报价单.pdf' }).waitFor({ timeout: WAIT });
    });
    const file = v.page.locator('[data-testid=message][data-sender=agent] [data-testid=attachment]');
    await file.waitFor({ timeout: WAIT });
    assert.match(await file.textContent(), /报价单\.pdf/);
    const href = await file.getAttribute('href');
    const res = await fetch(href);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition'), /^attachment;/);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), PDF);
    assert.deepEqual(v.errors, []);
  } finally {
    await v.context.close();
  }
});

test('a file of a type not accepted is refused in the widget, in words', async () => {
  const v = await visitor('en-US');
  try {
    // Over the limit the session announced (20 MiB): refused before it is sent.
    const sent = [];
    v.page.on('request', (r) => r.url().includes('/widget/attachments') && sent.push(r.url()));
    await v.page.getByTestId('file-input').setInputFiles({ name: 'huge.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(20 * 1024 * 1024 + 1, 37) });
    await v.page.getByText('huge.pdf: This file is too large to send.').waitFor({ timeout: WAIT });
    assert.deepEqual(sent, [], 'nothing was uploaded');
    await v.page.getByTestId('file-input').setInputFiles({ name: 'setup.exe', mimeType: 'application/octet-stream', buffer: Buffer.from('MZ\x90\x00\x03\x00\x00\x00') });
    await v.page.getByText('setup.exe: This type of file cannot be sent.').waitFor({ timeout: WAIT });
    // A picture still goes through; the screenshot in English.
    await v.page.getByTestId('file-input').setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: PNG });
    await v.page.locator('[data-testid=message][data-sender=visitor] img.att-img').waitFor({ timeout: WAIT });
    await screenshot(v.page, 'widget-attachment-en');
    assert.deepEqual(v.errors, []);
  } finally {
    await v.context.close();
  }
});
