// What happens by itself, and what visitors tell before they chat, in a
// real browser against a real server whose sweeper runs every second: the
// pre-chat form and the site's Kefu.setUser/setAttributes reaching the
// contact, the away message with the time the team is back, the visit in
// the console's side panel, auto-resolve firing in front of the visitor,
// and snoozing from the console.
//
// Run: cd tests/browser && KEFU_ASSETS_DIR=../../crates/kefu-http/assets node --test automation.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startKefu, api, launch, screenshot, PASSWORD, withConsole as sharedWithConsole } from './lib/harness.mjs';

const WAIT = 20000; // generous: CI runs on 2 cores

let kefu;
let browser;
let token;
let ws;

before(async () => {
  kefu = await startKefu({ env: { KEFU_CHAT__SWEEP_INTERVAL_SECS: '1', KEFU_CHAT__AUTO_RESOLVE_MIN_SECS: '1' } });
  browser = await launch();
  const r = await api(kefu.base, 'POST', '/api/v1/auth/login', { body: { email: kefu.owner.email, password: PASSWORD } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  token = r.body.access_token;
  ws = kefu.owner.workspaceId;
});

after(async () => {
  await browser?.close();
  await kefu?.stop();
});

async function call(method, path, body, status, as = token) {
  const r = await api(kefu.base, method, path, { token: as, body });
  assert.equal(r.status, status, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const wsPath = (rest) => `/api/v1/workspaces/${ws}${rest}`;

async function until(probe, what, ms = WAIT) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function status(s) {
  await call('PUT', wsPath('/agents/me/status'), { status: s, capacity: 20 }, 200);
}

/** A visitor on the demo page with the chat open. */
async function visitor(key, { locale = 'en-US', timezoneId } = {}) {
  const context = await browser.newContext({ locale, timezoneId, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${kefu.base}/demo?key=${key}`);
  await page.getByTestId('launcher').click();
  await page.getByTestId('panel').waitFor({ state: 'visible' });
  return { context, page, errors };
}

async function send(page, text) {
  const input = page.getByTestId('composer');
  await input.fill(text);
  await input.press('Enter');
}

async function conversationsOf(inboxId) {
  const r = await call('GET', wsPath('/conversations?limit=200'), undefined, 200);
  return r.items.filter((c) => c.inbox_id === inboxId);
}

test('pre-chat form and setAttributes reach the contact; the away message says when the team is back; the console shows the visit', async () => {
  // Open one hour a day, three hours from now (UTC): closed now.
  const h = (new Date().getUTCHours() + 3) % 24;
  const pad = (n) => String(n).padStart(2, '0');
  const inbox = await call('POST', wsPath('/inboxes'), {
    name: '官网客服', channel: 'web', bot_enabled: false,
    business_hours: { time_zone: 'UTC', intervals: [{ days: [1, 2, 3, 4, 5, 6, 7], open: `${pad(h)}:00`, close: h === 23 ? '24:00' : `${pad(h + 1)}:00` }] },
    away_message: '您好，现在是非工作时间，我们上班后会第一时间回复您。',
    prechat_form: { when: 'offline', fields: [
      { key: 'name', required: true },
      { key: 'email' },
      { key: 'order_no', label: '订单号', required: true },
    ] },
  }, 201);
  await status('online');
  const v = await visitor(inbox.widget_key, { locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
  try {
    const { page } = v;
    await page.evaluate(() => window.Kefu.setAttributes({ plan: 'gold', cart_items: 2 }));
    const form = page.getByTestId('prechat-form');
    await form.waitFor({ timeout: WAIT });
    assert.equal(await page.getByTestId('composer').isVisible(), false, 'the composer waits for the form');
    // The required order number is missing: refused in place.
    await page.getByTestId('prechat-name').fill('韩梅梅');
    await page.getByTestId('prechat-submit').click();
    await page.getByTestId('prechat-error').filter({ hasText: '请填写必填项' }).waitFor({ timeout: WAIT });
    await page.getByTestId('prechat-email').fill('meimei@example.com');
    await page.getByTestId('prechat-order_no').fill('SO-2026-1207');
    await screenshot(page, 'widget-prechat-zh-CN');
    await page.getByTestId('prechat-submit').click();
    await page.getByTestId('composer').waitFor({ state: 'visible', timeout: WAIT });
    await send(page, '我的订单什么时候发货？');
    const away = page.locator('[data-testid=message]').filter({ hasText: '现在是非工作时间' });
    await away.waitFor({ timeout: WAIT });
    const backAt = await away.getByTestId('back-at').textContent();
    assert.match(backAt, /^预计回复时间：/);
    assert.deepEqual(v.errors, []);
  } finally {
    await v.context.close();
  }

  const [conv] = await conversationsOf(inbox.id);
  const contact = await call('GET', wsPath(`/contacts/${conv.contact_id}`), undefined, 200);
  assert.equal(contact.name, '韩梅梅');
  assert.equal(contact.email, 'meimei@example.com');
  assert.deepEqual(contact.attributes, { order_no: 'SO-2026-1207', plan: 'gold', cart_items: 2 });
  assert.match(contact.last_visit.url, /\/demo\?key=/);
  assert.equal(contact.last_visit.time_zone, 'Asia/Shanghai');
  assert.ok(contact.last_visit.browser, 'the browser, from the User-Agent');

  // The agent's side: the visit in the side panel, the away message marked.
  await sharedWithConsole(browser, kefu, `#/inbox/${conv.id}`, { wait: WAIT }, async (page) => {
    const visit = page.locator('.visit');
    await visit.waitFor({ timeout: WAIT });
    assert.match(await visit.textContent(), /Asia\/Shanghai/);
    assert.match(await visit.locator('a.visit-link').first().getAttribute('href'), /\/demo\?key=/);
    await page.locator('.auto-reply').filter({ hasText: 'Away auto-reply' }).waitFor({ timeout: WAIT });
    await screenshot(page, 'console-visit-en');
  });
  await status('offline');
});

test('auto-resolve fires in front of the visitor, who is then asked for a rating', async () => {
  const inbox = await call('POST', wsPath('/inboxes'), {
    name: 'Resolve', channel: 'web', bot_enabled: false,
    auto_resolve: { after_secs: 2, message: 'We are closing this chat for now. Write any time!' },
  }, 201);
  await status('online');
  const v = await visitor(inbox.widget_key);
  try {
    const { page } = v;
    await send(page, 'Where is my parcel?');
    const conv = await until(async () => (await conversationsOf(inbox.id)).find((c) => c.status === 'assigned'), 'the assignment');
    await call('POST', wsPath(`/conversations/${conv.id}/messages`), { body: 'It left the warehouse today.', client_msg_id: randomUUID() }, 201);
    await page.locator('[data-testid=message]').filter({ hasText: 'left the warehouse' }).waitFor({ timeout: WAIT });
    // Nobody writes: the sweeper resolves it and tells the visitor.
    await page.locator('[data-testid=message][data-auto=auto_resolve]').filter({ hasText: 'closing this chat' }).waitFor({ timeout: WAIT });
    await page.getByTestId('rating').waitFor({ state: 'visible', timeout: WAIT });
    assert.equal((await call('GET', wsPath(`/conversations/${conv.id}`), undefined, 200)).status, 'resolved');
    assert.deepEqual(v.errors, []);
  } finally {
    await v.context.close();
    await status('offline');
  }
});

test('snoozing from the console: the conversation moves to Snoozed and wakes when the visitor writes', async () => {
  const inbox = await call('POST', wsPath('/inboxes'), { name: 'Snooze', channel: 'web', bot_enabled: false }, 201);
  await status('online');
  const s = await call('POST', '/api/v1/widget/sessions', { widget_key: inbox.widget_key }, 201, null);
  const m = await call('POST', '/api/v1/widget/messages', { client_msg_id: randomUUID(), body: 'I will check and come back' }, 201, s.visitor_token);
  const id = m.conversation_id;
  await sharedWithConsole(browser, kefu, `#/inbox/${id}`, { wait: WAIT }, async (page) => {
    await page.getByRole('button', { name: 'Snooze' }).click();
    await page.locator('dialog.modal').getByRole('button', { name: /^In 1 hour/ }).click();
    await page.locator('.snoozed-badge').waitFor({ timeout: WAIT });
    const c = await call('GET', wsPath(`/conversations/${id}`), undefined, 200);
    assert.ok(c.snoozed_until, 'snoozed on the server');
    const ahead = Date.parse(c.snoozed_until) - Date.now();
    assert.ok(ahead > 50 * 60e3 && ahead <= 60 * 60e3, `about an hour ahead: ${ahead}`);
    await page.locator('[data-view=snoozed]').click();
    await page.locator(`[data-conversation-id="${id}"], [data-id="${id}"]`).first().waitFor({ timeout: WAIT });
    // The visitor writes: it wakes (the header's badge goes).
    await call('POST', '/api/v1/widget/messages', { client_msg_id: randomUUID(), body: 'Found it!', conversation_id: id }, 201, s.visitor_token);
    await page.locator('.snoozed-badge').waitFor({ state: 'detached', timeout: WAIT });
  });
  assert.equal((await call('GET', wsPath(`/conversations/${id}`), undefined, 200)).snoozed_until, null);
  await status('offline');
});

test('blocking a visitor from their contact page: the widget says chat is not available; the list exports as CSV', async () => {
  const inbox = await call('POST', wsPath('/inboxes'), { name: 'Block', channel: 'web', bot_enabled: false }, 201);
  const v = await visitor(inbox.widget_key);
  try {
    const { page } = v;
    await send(page, 'Buy cheap followers!!!');
    const conv = await until(async () => (await conversationsOf(inbox.id))[0], 'the conversation');
    await sharedWithConsole(browser, kefu, `#/contacts/${conv.contact_id}`, { wait: WAIT }, async (console_) => {
      await console_.getByTestId('contact-block').click();
      await console_.locator('dialog.modal').getByRole('button', { name: 'Block visitor' }).click();
      await console_.locator('.contact-blocked').waitFor({ timeout: WAIT });
      // The export link carries the session cookie: it downloads the CSV.
      await console_.goto(`${kefu.base}/#/contacts`);
      const link = console_.getByTestId('contacts-export');
      await link.waitFor({ timeout: WAIT });
      const [download] = await Promise.all([console_.waitForEvent('download'), link.click()]);
      assert.match(download.suggestedFilename(), /^kefu-contacts-\d{8}\.csv$/);
      const path = await download.path();
      const { readFileSync } = await import('node:fs');
      const csv = readFileSync(path, 'utf8');
      assert.match(csv, /^\uFEFFid,name,email,phone/);
      assert.ok(csv.includes(conv.contact_id), 'the blocked contact is in the export');
    });
    // The open widget hears it at once (its socket closes with 4003) and says why.
    await page.getByTestId('blocked').filter({ hasText: 'not available to you' }).waitFor({ timeout: WAIT });
    assert.equal(await page.getByTestId('composer').isVisible(), false);
  } finally {
    await v.context.close();
  }
});
