// The contacts page in a real browser against a real server: the list and
// its search, one contact with their conversations, merging a duplicate
// into them and erasing their personal data; two colleagues' consoles on
// one conversation showing each other viewing and writing a note; and
// closing a conversation from its header. Screenshots in both languages.
//
// Run: cd tests/browser && KEFU_ASSETS_DIR=../../crates/kefu-http/assets node --test contacts.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startKefu, api, launch, screenshot, PASSWORD, consoleAt, withConsole as sharedWithConsole } from './lib/harness.mjs';

const WAIT = 20000; // generous: CI runs on 2 cores

let kefu;
let browser;
let token;
let ws;

before(async () => {
  kefu = await startKefu();
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

function withConsole(hash, opts, fn) {
  return sharedWithConsole(browser, kefu, hash, { wait: WAIT, ...opts }, fn);
}

/** A visitor who says something and gets a profile: {contact, conversation}. */
async function visitor(widgetKey, profile, says) {
  const s = await call('POST', '/api/v1/widget/sessions', { widget_key: widgetKey }, 201, null);
  const msg = await call('POST', '/api/v1/widget/messages', { client_msg_id: randomUUID(), body: says }, 201, s.visitor_token);
  await call('PATCH', `/api/v1/workspaces/${ws}/contacts/${s.contact_id}`, profile, 200);
  return { contact: s.contact_id, conversation: msg.conversation_id };
}

let fang;
let fangPhone;

test('contacts: search the list, open one, merge a duplicate into them', async () => {
  const inbox = await call('POST', `/api/v1/workspaces/${ws}/inboxes`, { name: 'Shop', channel: 'web', bot_enabled: false }, 201);
  fang = await visitor(inbox.widget_key, { name: '王芳', email: 'fang@example.com', attributes: { plan: 'vip' } }, '电脑上问的');
  fangPhone = await visitor(inbox.widget_key, { name: 'Fang W', phone: '+86 138 0013 8000' }, '手机上问的');
  await visitor(inbox.widget_key, { name: 'Li Lei', email: 'lei@example.com' }, 'Hello');

  await withConsole('#/contacts', {}, async (page) => {
    const rows = page.locator('.contacts-table tbody tr');
    await page.waitForFunction(() => document.querySelectorAll('.contacts-table tbody tr').length === 3);
    assert.equal(await rows.first().locator('td').first().textContent(), 'Li Lei', 'newest first');
    await page.fill('input[name=q]', '王芳');
    await page.click('.contacts-filters button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('.contacts-table tbody tr').length === 1);
    assert.equal(await rows.first().getAttribute('data-contact-id'), fang.contact);
    await page.fill('input[name=q]', '');
    await page.fill('input[name=attribute]', 'plan:vip');
    await page.click('.contacts-filters button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('.contacts-table tbody tr').length === 1);
    assert.equal(await rows.first().getAttribute('data-contact-id'), fang.contact);

    await rows.first().getByRole('link').click();
    await page.locator('.contact-profile').waitFor();
    assert.match(await page.locator('.contact-profile').textContent(), /fang@example\.com/);
    assert.equal(await page.locator('.contact-conversations li').count(), 1);

    // Merge the phone's record into this one.
    await page.fill('input[name=merge-q]', 'Fang W');
    await page.locator('form[role=search]').last().locator('button[type=submit]').click();
    const candidate = page.locator(`.merge-results li[data-contact-id="${fangPhone.contact}"]`);
    await candidate.waitFor({ timeout: WAIT });
    await candidate.getByRole('button').click();
    await page.locator('dialog.modal').getByRole('button', { name: 'Merge into this contact' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.contact-conversations li').length === 2, null, { timeout: WAIT });
    assert.match(await page.locator('.contact-profile').textContent(), /\+86 138 0013 8000/, 'the missing phone came over');
    await screenshot(page, 'console-contact-en');
  });

  const list = await call('GET', `/api/v1/workspaces/${ws}/contacts`, undefined, 200);
  assert.deepEqual(list.items.map((c) => c.id).includes(fangPhone.contact), false, 'the merged contact left the list');
  const conv = await call('GET', `/api/v1/workspaces/${ws}/conversations/${fangPhone.conversation}`, undefined, 200);
  assert.equal(conv.contact_id, fang.contact);
});

test('contacts: erasing removes the personal data, in Chinese', async () => {
  await withConsole(`#/contacts/${fang.contact}`, { locale: 'zh-CN', timezoneId: 'Asia/Shanghai' }, async (page) => {
    await page.locator('.contact-profile').waitFor();
    await screenshot(page, 'console-contact-zh-CN');
    await page.getByRole('button', { name: '删除个人数据' }).click();
    await page.locator('dialog.modal').getByRole('button', { name: '删除个人数据' }).click();
    await page.getByText(/个人数据已于 .* 删除/).waitFor({ timeout: WAIT });
    assert.doesNotMatch(await page.locator('.contact-profile').textContent(), /fang@example\.com|王芳/);
  });
  const msgs = await call('GET', `/api/v1/workspaces/${ws}/conversations/${fang.conversation}/messages`, undefined, 200);
  assert.equal(msgs.items[0].body, '');
});

test('two colleagues on one conversation see each other viewing, then writing a note', async () => {
  const inv = await call('POST', `/api/v1/workspaces/${ws}/invitations`, { email: 'mei@example.com', role: 'supervisor' }, 201);
  await call('POST', '/api/v1/invitations/accept', { token: inv.token, name: 'Han Mei', password: PASSWORD }, 201, null);
  const hash = `#/inbox/${fangPhone.conversation}`;
  const mine = await consoleAt(browser, kefu, hash, { wait: WAIT });
  const theirs = await consoleAt(browser, kefu, hash, { email: 'mei@example.com', wait: WAIT });
  try {
    const cue = mine.page.locator('.conv-presence');
    await cue.getByText('Han Mei is also viewing').waitFor({ timeout: WAIT });
    // Han Mei starts a private note: "typing" replaces "viewing", marked as a note.
    await theirs.page.locator('.note-toggle').click();
    await theirs.page.locator('.composer-input').pressSequentially('查一下订单', { delay: 20 });
    await cue.getByText('Han Mei is typing… (a private note)').waitFor({ timeout: WAIT });
    assert.equal(await cue.getByText('Han Mei is also viewing').count(), 0, 'typing replaces viewing');
    // The owner's own viewing is not shown to themself; Han Mei sees the owner.
    await theirs.page.locator('.conv-presence').getByText('Owner is also viewing').waitFor({ timeout: WAIT });
    // Leaving the conversation says so at once.
    await theirs.page.goto(`${kefu.base}/#/contacts`);
    await mine.page.waitForFunction(() => document.querySelector('.conv-presence').hidden, null, { timeout: WAIT });
    assert.deepEqual(mine.errors, []);
    assert.deepEqual(theirs.errors, []);
  } finally {
    await mine.context.close();
    await theirs.context.close();
  }
});

test('a conversation is closed from its header, after a confirmation', async () => {
  await withConsole(`#/inbox/${fangPhone.conversation}`, {}, async (page) => {
    const close = page.getByRole('button', { name: 'Close', exact: true });
    await close.waitFor({ timeout: WAIT });
    await close.click();
    const dialog = page.locator('dialog.modal');
    assert.match(await dialog.textContent(), /cannot be reopened/);
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();
    await page.locator('.status-closed').first().waitFor({ timeout: WAIT });
    assert.equal(await page.getByRole('button', { name: 'Close', exact: true }).count(), 0);
  });
  const conv = await call('GET', `/api/v1/workspaces/${ws}/conversations/${fangPhone.conversation}`, undefined, 200);
  assert.equal(conv.status, 'closed');
});
