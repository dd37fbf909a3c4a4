// The agent console (served at /) in a real browser against a real server:
// the login errors, the inbox updating live from the socket, replying,
// private notes, resolving, editing the contact; screenshots in both
// languages.
//
// Run: cd tests/browser && KEFU_ASSETS_DIR=../../crates/kefu-http/assets node --test console.test.mjs
//
// Visitors are driven through the widget API (sessions + messages), the
// agent through the console UI with the owner's account.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID, createHmac } from 'node:crypto';
import { startKefu, api, login, createInbox, launch, screenshot, PASSWORD } from './lib/harness.mjs';

const WAIT = 20000; // generous: CI runs on 2 cores

let kefu;
let browser;
let token;
let ws;
let inbox;

before(async () => {
  kefu = await startKefu();
  browser = await launch();
  token = await login(kefu.base, kefu.owner.email);
  ws = kefu.owner.workspaceId;
  // No bot: visitors' conversations go straight to the queue.
  inbox = await createInbox(kefu.base, token, ws, { bot_enabled: false });
});

after(async () => {
  await browser?.close();
  await kefu?.stop();
});

// ------------------------------------------------------------- helpers

/** Polls `fn` until it returns something truthy (the value), or fails. */
async function until(fn, what, timeout = WAIT) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A new visitor who writes `body`: {token, conversationId}. */
async function visitorWrites(body) {
  const s = await api(kefu.base, 'POST', '/api/v1/widget/sessions', { body: { widget_key: inbox.widget_key, locale: 'en' } });
  assert.equal(s.status, 201, JSON.stringify(s.body));
  const vt = s.body.visitor_token;
  const m = await api(kefu.base, 'POST', '/api/v1/widget/messages', { token: vt, body: { client_msg_id: randomUUID(), body } });
  assert.equal(m.status, 201, JSON.stringify(m.body));
  return { token: vt, conversationId: m.body.conversation_id };
}

/** What the visitor can read of their conversation. */
async function visitorSees(v) {
  const r = await api(kefu.base, 'GET', `/api/v1/widget/conversations/${v.conversationId}/messages?after_seq=0&limit=200`, { token: v.token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.items.map((m) => m.body);
}

/** A page in a fresh context (fresh cookies and storage) in `locale`. */
async function newPage(locale) {
  const context = await browser.newContext({ locale, viewport: { width: 1360, height: 820 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  return { context, page, errors };
}

/** Signs in through the login form. */
async function signIn(page, password = PASSWORD) {
  await page.goto(kefu.base + '/');
  await page.locator('#login-email').fill(kefu.owner.email);
  await page.locator('#login-password').fill(password);
  await page.locator('#login-password').press('Enter');
}

// --------------------------------------------------------------- tests

test('a wrong password shows a clear, translated error', async () => {
  const { context, page, errors } = await newPage('en-US');
  try {
    await page.goto(kefu.base + '/');
    await page.locator('#login-email').waitFor();
    await screenshot(page, 'console-login');
    await signIn(page, 'not-the-password');
    const alert = page.getByRole('alert');
    await alert.filter({ hasText: 'Wrong email or password.' }).waitFor();
    // Still on the login form, password selected for retyping.
    assert.equal(await page.locator('#login-password').evaluate((el) => el === document.activeElement), true);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }

  const zh = await newPage('zh-CN');
  try {
    await signIn(zh.page, 'not-the-password');
    await zh.page.getByRole('alert').filter({ hasText: '邮箱或密码错误。' }).waitFor();
  } finally {
    await zh.context.close();
  }
});

test('the inbox updates live; the agent replies, writes a private note and resolves', async () => {
  const first = await visitorWrites('Hello, where is my order #1001?');
  const { context, page, errors } = await newPage('en-US');
  try {
    await signIn(page);
    await page.getByRole('tab', { name: 'All' }).click();
    const list = page.getByRole('list', { name: 'Conversations' });
    await list.getByRole('link').filter({ hasText: 'where is my order #1001' }).waitFor();

    // A second visitor writes while the console is open: it appears without
    // a reload (the marker on window survives).
    await page.evaluate(() => (window.__noReload = true));
    const second = await visitorWrites('Second visitor: do you ship to Hangzhou?');
    await list.getByRole('link').filter({ hasText: 'do you ship to Hangzhou' }).waitFor();
    assert.equal(await page.evaluate(() => window.__noReload), true);
    assert.equal(await list.getByRole('link').count(), 2);

    // Open the first conversation and reply with Enter.
    await list.getByRole('link').filter({ hasText: 'where is my order #1001' }).click();
    await page.waitForURL(new RegExp(`#/inbox/${first.conversationId}$`));
    const thread = page.getByRole('log');
    await thread.locator('.msg-visitor').filter({ hasText: 'where is my order #1001' }).waitFor();
    const composer = page.getByRole('combobox', { name: 'Reply' });
    await composer.fill('It shipped this morning.');
    await composer.press('Enter');
    await thread.locator('.msg-mine[data-seq]').filter({ hasText: 'It shipped this morning.' }).waitFor();
    await until(async () => (await visitorSees(first)).includes('It shipped this morning.'), 'the visitor has the reply');
    // The visitor reads it: the agent sees "Read" under the reply.
    const replySeq = Number(await thread.locator('.msg-mine[data-seq]').filter({ hasText: 'It shipped this morning.' }).getAttribute('data-seq'));
    const read = await api(kefu.base, 'POST', `/api/v1/widget/conversations/${first.conversationId}/read`, { token: first.token, body: { seq: replySeq } });
    assert.equal(read.status, 200, JSON.stringify(read.body));
    await thread.locator(`[data-seq="${replySeq}"] .msg-read`).filter({ hasText: 'Read' }).waitFor();

    // A private note: agents see it, the visitor never does.
    await page.getByRole('button', { name: 'Private note' }).click();
    await composer.fill('Customer sounds upset; check the courier.');
    await composer.press('Enter');
    await thread.locator('.msg-private[data-seq]').filter({ hasText: 'check the courier' }).waitFor();
    const asAgent = await api(kefu.base, 'GET', `/api/v1/workspaces/${ws}/conversations/${first.conversationId}/messages`, { token });
    assert.ok(asAgent.body.items.some((m) => m.private && m.body.includes('check the courier')), 'the note is stored');
    const seen = await visitorSees(first);
    assert.ok(seen.includes('It shipped this morning.'));
    assert.ok(!seen.some((b) => b.includes('check the courier')), `the visitor must not see the note: ${JSON.stringify(seen)}`);

    // The visitor writes again: it shows up in the open conversation live.
    await api(kefu.base, 'POST', '/api/v1/widget/messages', {
      token: first.token,
      body: { conversation_id: first.conversationId, client_msg_id: randomUUID(), body: 'Thanks a lot!' },
    });
    await thread.locator('.msg-visitor').filter({ hasText: 'Thanks a lot!' }).waitFor();
    await screenshot(page, 'console-inbox-en');

    // Resolve.
    await page.getByRole('button', { name: 'Resolve' }).click();
    await page.locator('.conv-head-meta .status-resolved').waitFor();
    await until(async () => {
      const r = await api(kefu.base, 'GET', `/api/v1/workspaces/${ws}/conversations/${first.conversationId}`, { token });
      return r.body.status === 'resolved';
    }, 'the conversation is resolved');
    await page.getByRole('button', { name: 'Reopen' }).waitFor();

    // The second conversation is untouched.
    const other = await api(kefu.base, 'GET', `/api/v1/workspaces/${ws}/conversations/${second.conversationId}`, { token });
    assert.notEqual(other.body.status, 'resolved');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('the side panel edits the contact: only what changed is sent, the header and the list follow; a bad e-mail saves nothing', async () => {
  const v = await visitorWrites('Please update my details');
  const wsPath = (p) => `/api/v1/workspaces/${ws}${p}`;
  const conv = (await api(kefu.base, 'GET', wsPath(`/conversations/${v.conversationId}`), { token })).body;
  const contactPath = wsPath(`/contacts/${conv.contact_id}`);
  // Stored already: a text attribute and a number (left as it is unless edited).
  const seeded = await api(kefu.base, 'PATCH', contactPath, { token, body: { attributes: { plan: 'basic', visits: 3 } } });
  assert.equal(seeded.status, 200, JSON.stringify(seeded.body));

  const { context, page, errors } = await newPage('en-US');
  const patches = [];
  page.on('request', (r) => r.method() === 'PATCH' && r.url().includes('/contacts/') && patches.push(r.postDataJSON()));
  try {
    await signIn(page);
    await page.getByRole('tab', { name: 'All' }).click();
    const row = page.getByRole('list', { name: 'Conversations' }).getByRole('link').filter({ hasText: 'Please update my details' });
    await row.click();
    const side = page.getByRole('complementary', { name: 'Details' });
    const title = page.locator('.conv-title');
    await title.filter({ hasText: /^Visitor #/ }).waitFor();
    assert.match(await row.locator('.conv-name').textContent(), /^Visitor #/);
    await side.locator('.attrs dd').filter({ hasText: 'basic' }).waitFor();

    // Edit: a name, one attribute removed, one added.
    await side.getByRole('button', { name: 'Edit contact' }).click();
    const form = side.getByRole('form', { name: 'Edit contact' });
    const name = form.getByRole('textbox', { name: 'Name', exact: true });
    assert.equal(await name.evaluate((el) => el === document.activeElement), true, 'the focus is in the form');
    await name.fill('Wang Fang');
    assert.equal(await form.getByRole('textbox', { name: 'visits' }).inputValue(), '3');
    await form.getByRole('button', { name: 'Remove attribute plan' }).click();
    await form.getByRole('button', { name: 'Add attribute' }).click();
    const key = form.getByRole('textbox', { name: 'Attribute name' });
    assert.equal(await key.evaluate((el) => el === document.activeElement), true, 'the focus is in the new row');
    await key.fill('vip_level');
    await form.getByRole('textbox', { name: 'Value', exact: true }).fill('gold');
    await form.getByRole('button', { name: 'Save' }).click();

    // The panel shows the new values, the header and the list row the name.
    await side.locator('.contact-name').filter({ hasText: 'Wang Fang' }).waitFor();
    await form.waitFor({ state: 'detached' });
    const attrs = () => side.locator('.attrs').evaluate((dl) => [...dl.querySelectorAll('dt')].map((dt) => `${dt.textContent}=${dt.nextElementSibling.textContent}`));
    assert.deepEqual((await attrs()).sort(), ['vip_level=gold', 'visits=3']);
    await title.filter({ hasText: 'Wang Fang' }).waitFor();
    await row.locator('.conv-name').filter({ hasText: 'Wang Fang' }).waitFor();
    assert.deepEqual(patches, [{ name: 'Wang Fang', attributes: { plan: null, vip_level: 'gold' } }], 'only what changed');
    const saved = (await api(kefu.base, 'GET', contactPath, { token })).body;
    assert.equal(saved.name, 'Wang Fang');
    assert.deepEqual(saved.attributes, { visits: 3, vip_level: 'gold' });

    // A bad e-mail: the field says why, translated; nothing is saved; Esc cancels.
    await side.getByRole('button', { name: 'Edit contact' }).click();
    await name.fill('Someone Else');
    const email = form.getByRole('textbox', { name: 'Email', exact: true });
    await email.fill('not-an-email');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByText('Enter a valid email address, such as name@example.com.').waitFor();
    assert.equal(await email.getAttribute('aria-invalid'), 'true');
    assert.equal(await email.evaluate((el) => el === document.activeElement), true, 'the focus is on the field in error');
    assert.equal(patches.length, 2);
    const unchanged = (await api(kefu.base, 'GET', contactPath, { token })).body;
    assert.equal(unchanged.name, 'Wang Fang');
    assert.equal(unchanged.email, null);
    await email.press('Escape');
    await form.waitFor({ state: 'detached' });
    await side.locator('.contact-name').filter({ hasText: 'Wang Fang' }).waitFor();
    assert.equal(await side.getByRole('button', { name: 'Edit contact' }).evaluate((el) => el === document.activeElement), true);

    // A reload reads it back from the server.
    await page.reload();
    await side.locator('.contact-name').filter({ hasText: 'Wang Fang' }).waitFor();
    assert.deepEqual((await attrs()).sort(), ['vip_level=gold', 'visits=3']);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }

  // In Chinese, on a phone: the side panel opens over the thread; a bad phone
  // number and a bad attribute name say why in Chinese.
  const zh = await browser.newContext({ locale: 'zh-CN', viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  try {
    const page = await zh.newPage();
    page.setDefaultTimeout(WAIT);
    const zhErrors = [];
    page.on('pageerror', (e) => zhErrors.push(e));
    await signIn(page);
    await page.getByRole('tab', { name: '全部' }).waitFor();
    await page.goto(`${kefu.base}/#/inbox/${v.conversationId}`);
    await page.getByRole('button', { name: '详情' }).click();
    const side = page.getByRole('complementary', { name: '详情' });
    await side.getByRole('button', { name: '编辑联系人' }).click();
    const form = side.getByRole('form', { name: '编辑联系人' });
    await form.getByRole('textbox', { name: '电话', exact: true }).fill('call me');
    await form.getByRole('button', { name: '添加属性' }).click();
    await form.getByRole('textbox', { name: '属性名' }).fill('bad key!');
    await form.getByRole('button', { name: '保存' }).click();
    await form.getByText('属性名只能包含字母、数字', { exact: false }).waitFor();
    await form.getByRole('textbox', { name: '属性名' }).fill('');
    await form.getByRole('button', { name: '保存' }).click();
    await form.getByText('请输入有效的电话号码', { exact: false }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true, 'nothing wider than the screen');
    assert.equal((await api(kefu.base, 'GET', contactPath, { token })).body.phone, null);
    assert.deepEqual(zhErrors, []);
  } finally {
    await zh.close();
  }
});

test('the console in Chinese', async () => {
  await visitorWrites('你好，我想退货');
  const { context, page, errors } = await newPage('zh-CN');
  try {
    await signIn(page);
    await page.getByRole('tab', { name: '全部' }).click();
    const item = page.getByRole('list', { name: '会话列表' }).getByRole('link').filter({ hasText: '我想退货' });
    await item.click();
    await page.getByRole('log').locator('.msg-visitor').filter({ hasText: '我想退货' }).waitFor();
    await page.getByRole('button', { name: '解决' }).waitFor();
    await screenshot(page, 'console-inbox-zh-CN');

    // The language switch re-renders in English and remembers it.
    await page.locator('.user-menu summary').click();
    await page.getByRole('combobox', { name: '语言' }).selectOption('en');
    await page.getByRole('tab', { name: 'All' }).waitFor();
    await page.reload();
    await page.getByRole('tab', { name: 'All' }).waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('on a phone: canned responses on "/", a knowledge-base suggestion, list and conversation as separate views', async () => {
  const wsPath = (p) => `/api/v1/workspaces/${ws}${p}`;
  const article = await api(kefu.base, 'POST', wsPath('/kb/articles'), {
    token,
    body: { title: 'Shipping times', body: 'Orders ship within 48 hours of payment.', questions: ['How long does shipping take?'], locale: 'en' },
  });
  assert.equal(article.status, 201, JSON.stringify(article.body));
  const canned = await api(kefu.base, 'POST', wsPath('/canned-responses'), {
    token,
    body: { shortcut: 'greet', title: 'Greeting', body: 'Hello! How can I help you today?' },
  });
  assert.equal(canned.status, 201, JSON.stringify(canned.body));
  await until(async () => (await api(kefu.base, 'GET', wsPath('/kb/status'), { token })).body.pending === 0, 'the article is indexed');
  await visitorWrites('How long does shipping take?');

  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  try {
    await signIn(page);
    await page.getByRole('tab', { name: 'All' }).click();
    const item = page.getByRole('list', { name: 'Conversations' }).getByRole('link').filter({ hasText: 'How long does shipping take?' });
    await item.click();
    // The list gives way to the conversation; nothing is wider than the screen.
    await page.getByRole('log').locator('.msg-visitor').filter({ hasText: 'How long does shipping take?' }).waitFor();
    assert.equal(await page.locator('.inbox-list').isVisible(), false);
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);

    // "/gre" offers the canned response; Enter inserts it instead of sending.
    const composer = page.getByRole('combobox', { name: 'Reply' });
    await composer.pressSequentially('/gre');
    await page.getByRole('option', { name: /greet/ }).waitFor();
    await composer.press('Enter');
    assert.equal(await composer.inputValue(), 'Hello! How can I help you today?');

    // The side panel suggests the article; one click puts its answer in the reply.
    await page.getByRole('button', { name: 'Details' }).click();
    await page.getByRole('button', { name: 'Insert “Shipping times” into the reply' }).click();
    await until(async () => (await composer.inputValue()).includes('Orders ship within 48 hours of payment.'), 'the article is inserted');

    // Back to the list.
    await page.getByRole('link', { name: 'Back to the list' }).click();
    await item.waitFor();
    assert.equal(await page.locator('.inbox-conv').isVisible(), false);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('two tabs of one session load at the same moment without ending it (refreshes take turns)', async () => {
  const { context, page, errors } = await newPage('en-US');
  try {
    await signIn(page);
    await page.getByRole('tab', { name: 'All' }).waitFor();
    const second = await context.newPage();
    second.setDefaultTimeout(WAIT);
    second.on('pageerror', (e) => errors.push(e));
    // Both tabs start at once (their sockets ride on the session cookie, no
    // refresh needed), then refresh at once: unserialised, the second would
    // present a spent refresh token and the server would revoke the whole
    // session (refresh_token_reused).
    for (let round = 0; round < 2; round++) {
      await Promise.all([page.reload(), second.goto(kefu.base + '/#/inbox')]);
      await Promise.all([page.getByRole('tab', { name: 'All' }).waitFor(), second.getByRole('tab', { name: 'All' }).waitFor()]);
      await Promise.all(
        [page, second].map((p) => p.waitForFunction(() => !document.querySelector('.conn') || document.querySelector('.conn').dataset.state === 'open')),
      );
    }
    // And head-on: both tabs refresh at once, a few times.
    const refresh = (p) => p.evaluate(() => import('/console/lib/api.js').then((m) => m.refreshSession({ force: true })));
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await Promise.all([refresh(page), refresh(second)]), [true, true]);
    }
    for (const p of [page, second]) {
      assert.equal(await p.evaluate(async () => (await fetch('/api/v1/me')).status), 200);
      assert.equal(await p.locator('#login-email').count(), 0);
    }
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a dropped socket: the console reconnects and catches up on what it missed', async () => {
  const v = await visitorWrites('Before the tunnel');
  const { context, page, errors } = await newPage('en-US');
  // The socket goes through a relay the test can silence and cut.
  let silent = false;
  const sockets = [];
  await page.routeWebSocket(/\/ws(\?|$)/, (ws) => {
    const server = ws.connectToServer();
    server.onMessage((m) => !silent && ws.send(m));
    ws.onMessage((m) => server.send(m));
    sockets.push(ws);
  });
  try {
    await signIn(page);
    await page.getByRole('tab', { name: 'All' }).click();
    await page.getByRole('list', { name: 'Conversations' }).getByRole('link').filter({ hasText: 'Before the tunnel' }).click();
    const thread = page.getByRole('log');
    await thread.locator('.msg-visitor').filter({ hasText: 'Before the tunnel' }).waitFor();
    await page.waitForFunction(() => document.querySelector('.conn').dataset.state === 'open');

    // Events are lost while the relay is silent…
    silent = true;
    await api(kefu.base, 'POST', '/api/v1/widget/messages', {
      token: v.token,
      body: { conversation_id: v.conversationId, client_msg_id: randomUUID(), body: 'Written in the tunnel' },
    });
    // …then the connection drops (the server restarting, say); the console
    // reconnects and fetches what it missed.
    silent = false;
    const before = sockets.length;
    await sockets.at(-1).close({ code: 1012, reason: 'restart' });
    await until(() => sockets.length > before, 'a new socket');
    await thread.locator('.msg-visitor').filter({ hasText: 'Written in the tunnel' }).waitFor();
    // And it is live again.
    await api(kefu.base, 'POST', '/api/v1/widget/messages', {
      token: v.token,
      body: { conversation_id: v.conversationId, client_msg_id: randomUUID(), body: 'Out of the tunnel' },
    });
    await thread.locator('.msg-visitor').filter({ hasText: 'Out of the tunnel' }).waitFor();
    assert.equal(await thread.locator('.msg').count(), 3);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('the full history: older messages load as the agent scrolls up', async () => {
  const v = await visitorWrites('History line 1');
  for (let i = 2; i <= 120; i++) {
    const r = await api(kefu.base, 'POST', '/api/v1/widget/messages', {
      token: v.token,
      body: { conversation_id: v.conversationId, client_msg_id: randomUUID(), body: `History line ${i}` },
    });
    assert.equal(r.status, 201);
  }
  const { context, page, errors } = await newPage('en-US');
  const pages = [];
  page.on('request', (r) => /\/messages\?/.test(r.url()) && pages.push(new URL(r.url()).searchParams));
  try {
    await signIn(page);
    await page.getByRole('tab', { name: 'All' }).waitFor();
    await page.goto(`${kefu.base}/#/inbox/${v.conversationId}`);
    const thread = page.getByRole('log');
    await thread.locator('.msg-visitor').filter({ hasText: 'History line 120' }).waitFor();
    // The newest page first.
    assert.ok((await thread.locator('.msg').count()) < 120);
    for (let i = 0; i < 10 && (await thread.locator('.msg').count()) < 120; i++) {
      await thread.evaluate((el) => (el.scrollTop = 0));
      await page.waitForFunction(() => !document.querySelector('.thread[aria-busy]'));
    }
    await thread.getByText('Start of the conversation').waitFor();
    assert.equal(await thread.locator('.msg').count(), 120);
    // In order.
    const seqs = await thread.locator('.msg[data-seq]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
    assert.deepEqual(seqs, Array.from({ length: 120 }, (_, i) => i + 1));
    // Older pages were asked for by `before_seq` (the oldest held).
    const older = pages.filter((q) => q.has('before_seq')).map((q) => Number(q.get('before_seq')));
    assert.ok(older.length >= 1, 'older pages use before_seq');
    assert.ok(older.every((n, i) => i === 0 || n < older[i - 1]), `each page goes further back: ${older}`);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

/** The current RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 secret. */
function totpCode(secret) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const at = mac[19] & 15;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1e6).padStart(6, '0');
}

test('two-factor sign-in: the code field appears when the server asks for it', async () => {
  // A second member with two-factor on (the owner's account stays as it is).
  const inv = await api(kefu.base, 'POST', `/api/v1/workspaces/${ws}/invitations`, { token, body: { email: 'totp@example.com', role: 'agent' } });
  assert.equal(inv.status, 201, JSON.stringify(inv.body));
  const acc = await api(kefu.base, 'POST', '/api/v1/invitations/accept', { body: { token: inv.body.token, name: 'Agent Two', password: PASSWORD } });
  assert.equal(acc.status, 201, JSON.stringify(acc.body));
  const agentToken = await login(kefu.base, 'totp@example.com');
  const enrol = await api(kefu.base, 'POST', '/api/v1/me/totp', { token: agentToken });
  assert.equal(enrol.status, 201, JSON.stringify(enrol.body));
  const confirm = await api(kefu.base, 'POST', '/api/v1/me/totp/confirm', { token: agentToken, body: { code: totpCode(enrol.body.secret) } });
  assert.equal(confirm.status, 200, JSON.stringify(confirm.body));
  const [recovery] = confirm.body.recovery_codes;

  const { context, page, errors } = await newPage('en-US');
  try {
    await page.goto(kefu.base + '/');
    await page.locator('#login-email').fill('totp@example.com');
    await page.locator('#login-password').fill(PASSWORD);
    await page.locator('#login-password').press('Enter');
    const code = page.getByRole('textbox', { name: 'Two-factor code' });
    await code.waitFor();
    assert.equal(await code.evaluate((el) => el === document.activeElement), true);
    await code.fill('000000');
    await code.press('Enter');
    await page.getByRole('alert').filter({ hasText: 'That code is not right. Try again.' }).waitFor();
    // A recovery code is accepted in the same field.
    await code.fill(recovery);
    await code.press('Enter');
    await page.getByRole('tab', { name: 'Mine' }).waitFor();
    // An agent sees the inbox but no admin pages.
    await page.locator('#sidebar[data-pages="all"]').waitFor({ state: 'attached' });
    assert.equal(await page.getByRole('link', { name: 'Members' }).count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a member an admin asked for a new password sets it at sign-in; a common one is refused in words', async () => {
  const agent = await newMember('reset@example.com', 'Reset Me', 'agent');
  const forced = await api(kefu.base, 'POST', `/api/v1/workspaces/${ws}/members/${agent.userId}/require-password-change`, { token, body: {} });
  assert.equal(forced.status, 200, JSON.stringify(forced.body));
  const { context, page, errors } = await newPage('zh-CN');
  try {
    await page.goto(kefu.base + '/');
    await page.locator('#login-email').fill('reset@example.com');
    await page.locator('#login-password').fill(PASSWORD);
    await page.locator('#login-password').press('Enter');
    const fresh = page.locator('#login-new-password');
    await fresh.waitFor();
    await page.getByText('管理员要求你设置新密码后再登录。').waitFor();
    await fresh.fill('password123');
    await fresh.press('Enter');
    await page.getByRole('alert').filter({ hasText: '这是最常见的密码之一' }).waitFor();
    await fresh.fill('一杯龙井，两块桂花糕');
    await fresh.press('Enter');
    await page.locator('#sidebar').waitFor({ timeout: WAIT });
    // The old password no longer signs in; the new one does.
    assert.equal((await api(kefu.base, 'POST', '/api/v1/auth/login', { body: { email: 'reset@example.com', password: PASSWORD } })).status, 401);
    assert.equal((await api(kefu.base, 'POST', '/api/v1/auth/login', { body: { email: 'reset@example.com', password: '一杯龙井，两块桂花糕' } })).status, 200);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('the account menu: change my password (a common one refused), then sign out everywhere', async () => {
  const agent = await newMember('menu@example.com', 'Menu User', 'agent');
  const { context, page, errors } = await newPage('en-US');
  try {
    await page.goto(kefu.base + '/');
    await page.locator('#login-email').fill('menu@example.com');
    await page.locator('#login-password').fill(PASSWORD);
    await page.locator('#login-password').press('Enter');
    await page.getByRole('tab', { name: 'Mine' }).waitFor();
    await page.locator('.user-menu summary').click();
    await page.getByRole('button', { name: 'Change password' }).click();
    const dialog = page.getByRole('dialog', { name: 'Change password' });
    await dialog.getByLabel('Current password').fill(PASSWORD);
    await dialog.getByLabel('New password').fill('qwertyuiop123');
    await dialog.getByRole('button', { name: 'Change password' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'one of the most common passwords' }).waitFor();
    await dialog.getByLabel('New password').fill('a kettle of oolong at noon');
    await dialog.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Password changed; 1 other session(s) signed out.').waitFor();
    // The session the test made over the API was the "other" one.
    assert.equal((await api(kefu.base, 'GET', '/api/v1/me', { token: agent.token })).status, 401);
    await page.locator('.user-menu summary').click();
    await page.getByRole('button', { name: 'Sign out everywhere' }).click();
    await page.locator('#login-email').waitFor();
    assert.equal((await api(kefu.base, 'POST', '/api/v1/auth/login', { body: { email: 'menu@example.com', password: 'a kettle of oolong at noon' } })).status, 200);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

/** A new member with `role` who accepted an invitation: {token, userId}. */
async function newMember(email, name, role = 'admin') {
  const inv = await api(kefu.base, 'POST', `/api/v1/workspaces/${ws}/invitations`, { token, body: { email, role } });
  assert.equal(inv.status, 201, JSON.stringify(inv.body));
  const acc = await api(kefu.base, 'POST', '/api/v1/invitations/accept', { body: { token: inv.body.token, name, password: PASSWORD } });
  assert.equal(acc.status, 201, JSON.stringify(acc.body));
  return { token: await login(kefu.base, email), userId: acc.body.id };
}

test('list rows come with their contact and newest message (no request per row); a colleague’s name on their reply; the socket on the cookie', async () => {
  const v = await visitorWrites('My parcel never came');
  const named = await api(kefu.base, 'PUT', '/api/v1/widget/contact', { token: v.token, body: { name: 'Lin Wei' } });
  assert.equal(named.status, 200, JSON.stringify(named.body));
  const colleague = await newMember('zhou@example.com', 'Agent Zhou');
  const conv = `/api/v1/workspaces/${ws}/conversations/${v.conversationId}`;
  const reply = await api(kefu.base, 'POST', `${conv}/messages`, { token: colleague.token, body: { body: 'Let me check with the courier.', client_msg_id: randomUUID() } });
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  assert.equal(reply.body.sender.name, 'Agent Zhou');
  const note = await api(kefu.base, 'POST', `${conv}/messages`, { token: colleague.token, body: { body: 'Courier says Tuesday', private: true, client_msg_id: randomUUID() } });
  assert.equal(note.status, 201, JSON.stringify(note.body));

  const { context, page, errors } = await newPage('en-US');
  const requests = [];
  const sockets = [];
  page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}${new URL(r.url()).search}`));
  page.on('websocket', (w) => sockets.push(w.url()));
  try {
    await signIn(page);
    await page.getByRole('tab', { name: 'All' }).click();
    const row = page.getByRole('list', { name: 'Conversations' }).getByRole('link').filter({ hasText: 'Lin Wei' });
    // The newest message, a private note here, is the row's preview.
    await row.locator('.conv-preview').filter({ hasText: 'Courier says Tuesday' }).waitFor();
    await page.waitForFunction(() => document.querySelector('.conn').dataset.state === 'open');
    const perRow = requests.filter((r) => /\/contacts\/|\/messages/.test(r));
    assert.deepEqual(perRow, [], 'the list needs no contact or message requests');
    // The socket rides on the session cookie: no token in its URL, and no
    // refresh was needed to get one.
    assert.ok(sockets.length >= 1);
    for (const url of sockets) assert.equal(new URL(url).pathname + new URL(url).search, '/ws');
    assert.deepEqual(requests.filter((r) => r.includes('/auth/refresh')), []);

    // In the conversation, the colleague's reply carries their name.
    await row.click();
    const thread = page.getByRole('log');
    const theirs = thread.locator('.msg-agent').filter({ hasText: 'Let me check with the courier.' });
    await theirs.waitFor();
    assert.equal((await theirs.locator('.msg-who').textContent()).trim(), 'Agent Zhou');

    // A new message updates the row's preview from the socket.
    await api(kefu.base, 'POST', '/api/v1/widget/messages', {
      token: v.token,
      body: { conversation_id: v.conversationId, client_msg_id: randomUUID(), body: 'Any news?' },
    });
    await row.locator('.conv-preview').filter({ hasText: 'Any news?' }).waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('an expired session cookie: the socket refreshes it and connects (no token in JavaScript)', async () => {
  // Access cookies that live 2 seconds.
  const short = await startKefu({ env: { KEFU_AUTH__ACCESS_TOKEN_TTL_SECS: '2' }, owner: 'short@example.com' });
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    const refreshes = [];
    page.on('response', (r) => r.url().endsWith('/api/v1/auth/refresh') && refreshes.push(r.status()));
    const sockets = [];
    page.on('websocket', (w) => sockets.push(w));
    await page.goto(short.base + '/');
    await page.locator('#login-email').fill('short@example.com');
    await page.locator('#login-password').fill(PASSWORD);
    await page.locator('#login-password').press('Enter');
    await page.getByRole('tab', { name: 'All' }).waitFor();
    // Wait until the browser has dropped the expired access cookie…
    await until(async () => !(await context.cookies()).some((c) => c.name === 'kefu_access'), 'the access cookie to expire', 10000);
    const before = refreshes.length;
    const socketsBefore = sockets.length;
    // …then open a socket the console's way: the upgrade fails without the
    // cookie, the socket checks the session (which refreshes the cookie)
    // and the next attempt says hello.
    const opened = await page.evaluate(async () => {
      const { createSocket } = await import('/console/lib/ws.js');
      const s = createSocket();
      const hello = new Promise((ok) => s.on('open', ok));
      s.start();
      const frame = await hello;
      s.stop();
      return frame.type;
    });
    assert.equal(opened, 'hello');
    assert.ok(refreshes.slice(before).includes(200), `the cookie was refreshed: ${refreshes}`);
    // The first upgrade failed (no cookie), the second worked.
    assert.ok(sockets.length - socketsBefore >= 2, `${sockets.length - socketsBefore} sockets`);
    for (const w of sockets) assert.equal(new URL(w.url()).search, '');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await short.stop();
  }
});

test('the unread total of my conversations is in the title', async () => {
  const v = await visitorWrites('Title check: are you there?');
  const me = (await api(kefu.base, 'GET', '/api/v1/me', { token })).body.user.id;
  const conv = `/api/v1/workspaces/${ws}/conversations/${v.conversationId}`;
  const assigned = await api(kefu.base, 'POST', `${conv}/assign`, { token, body: { assignee_id: me } });
  assert.equal(assigned.status, 200, JSON.stringify(assigned.body));
  // What the server counts for me (earlier tests may have left some).
  const mine = await api(kefu.base, 'GET', `/api/v1/workspaces/${ws}/conversations?assignee_id=${me}&status=assigned&limit=200`, { token });
  const base = mine.body.items.reduce((n, c) => n + c.unread_count, 0);
  assert.ok(base >= 1);
  const title = (n) => (n > 0 ? `(${n}) Kefu` : 'Kefu');

  const { context, page, errors } = await newPage('en-US');
  try {
    await signIn(page);
    await page.getByRole('tab', { name: 'Mine' }).waitFor();
    await page.waitForFunction((want) => document.title === want, title(base));
    // The visitor writes again: one more.
    await api(kefu.base, 'POST', '/api/v1/widget/messages', {
      token: v.token,
      body: { conversation_id: v.conversationId, client_msg_id: randomUUID(), body: 'Hello?' },
    });
    await page.waitForFunction((want) => document.title === want, title(base + 1));
    // Reading the conversation clears its two.
    await page.getByRole('list', { name: 'Conversations' }).getByRole('link').filter({ hasText: 'Hello?' }).click();
    await page.getByRole('log').locator('.msg-visitor').filter({ hasText: 'Hello?' }).waitFor();
    await page.waitForFunction((want) => document.title === want, title(base - 1));
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('day separators in the thread, in the page language', async () => {
  const v = await visitorWrites('Day one: my order is late');
  for (const body of ['Day two: still nothing', 'Day three: it came, thanks']) {
    const r = await api(kefu.base, 'POST', '/api/v1/widget/messages', {
      token: v.token,
      body: { conversation_id: v.conversationId, client_msg_id: randomUUID(), body },
    });
    assert.equal(r.status, 201);
  }
  // The messages were all written just now: the page's clock is fixed at
  // noon today (UTC) and their times are moved to 09:00 two days ago,
  // yesterday and 11:00 today as the browser receives them.
  const noon = new Date();
  noon.setUTCHours(12, 0, 0, 0);
  const at = (days, hour) => new Date(noon.getTime() - days * 86_400_000 - (12 - hour) * 3_600_000).toISOString();
  const times = { 1: at(2, 9), 2: at(1, 9), 3: at(0, 11) };
  const twoDaysAgo = new Date(times[1]).getUTCDate();

  const context = await browser.newContext({ locale: 'en-US', timezoneId: 'UTC', viewport: { width: 1360, height: 820 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.clock.setFixedTime(noon);
  await page.route(new RegExp(`/conversations/${v.conversationId}/messages\\?`), async (route) => {
    const res = await route.fetch();
    const json = await res.json();
    for (const m of json.items) if (times[m.seq]) m.created_at = times[m.seq];
    await route.fulfill({ response: res, json });
  });
  /** The thread's children in order: 'day:<label>' or 'msg:<seq>'. */
  const shape = () => page.locator('.msg-list').evaluate((list) => [...list.children].map((el) => (el.classList.contains('day-sep') ? `day:${el.textContent}` : `msg:${el.dataset.seq}`)));
  try {
    await signIn(page);
    await page.getByRole('tab', { name: 'All' }).waitFor();
    await page.goto(`${kefu.base}/#/inbox/${v.conversationId}`);
    const thread = page.getByRole('log');
    await thread.locator('.msg-visitor').filter({ hasText: 'Day three' }).waitFor();
    const [first, ...rest] = await shape();
    assert.match(first, new RegExp(`^day:\\w+, \\w+ ${twoDaysAgo}(, \\d{4})?$`), first);
    assert.deepEqual(rest, ['msg:1', 'day:Yesterday', 'msg:2', 'day:Today', 'msg:3']);
    assert.equal(await thread.getByRole('separator').count(), 3);

    // In Chinese.
    await page.locator('.user-menu summary').click();
    await page.getByRole('combobox', { name: 'Language' }).selectOption('zh-CN');
    await thread.locator('.day-sep').filter({ hasText: '今天' }).waitFor();
    const zh = await shape();
    assert.match(zh[0], new RegExp(`^day:(\\d{4}年)?${new Date(times[1]).getUTCMonth() + 1}月${twoDaysAgo}日星期.$`), zh[0]);
    assert.deepEqual(zh.slice(1), ['msg:1', 'day:昨天', 'msg:2', 'day:今天', 'msg:3']);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a bot answer in the thread is rendered from its Markdown, safely; its citation opens the article in the editor', async () => {
  const wsPath = (p) => `/api/v1/workspaces/${ws}${p}`;
  const created = await api(kefu.base, 'POST', wsPath('/kb/articles'), {
    token,
    body: {
      title: 'Gift wrapping',
      body: 'We wrap any purchase for **free** on request: ask [our team](https://example.com/gifts).\n\n- Add a note at *checkout*\n- Never click [this trick](javascript:alert(document.domain)) <img src=x onerror=alert(1)>',
      questions: ['Do you offer gift wrapping?', 'Is gift wrapping available?'],
      locale: 'en',
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const article = created.body;
  await until(async () => (await api(kefu.base, 'GET', wsPath('/kb/status'), { token })).body.pending === 0, 'the article is indexed');
  // A visitor of an inbox with the bot asks; the bot answers with the article.
  const botInbox = await createInbox(kefu.base, token, ws, { name: 'With the bot', bot_enabled: true });
  const s = await api(kefu.base, 'POST', '/api/v1/widget/sessions', { body: { widget_key: botInbox.widget_key, locale: 'en' } });
  assert.equal(s.status, 201, JSON.stringify(s.body));
  const asked = await api(kefu.base, 'POST', '/api/v1/widget/messages', {
    token: s.body.visitor_token,
    body: { client_msg_id: randomUUID(), body: 'Do you offer gift wrapping?' },
  });
  assert.equal(asked.status, 201, JSON.stringify(asked.body));
  const conversationId = asked.body.conversation_id;
  const answer = await until(async () => {
    const r = await api(kefu.base, 'GET', wsPath(`/conversations/${conversationId}/messages`), { token });
    return r.body.items.find((m) => m.sender.type === 'bot' && (m.citations || []).length);
  }, "the bot's answer");
  assert.equal(answer.citations[0].article_id, article.id);
  assert.match(answer.body, /\*\*free\*\*/, 'stored as Markdown');

  const { context, page, errors } = await newPage('en-US');
  try {
    await signIn(page);
    await page.getByRole('tab', { name: 'All' }).waitFor();
    await page.goto(`${kefu.base}/#/inbox/${conversationId}`);
    const bot = page.getByRole('log').locator(`.msg-bot[data-seq="${answer.seq}"]`);
    const body = bot.locator('.msg-body');
    await body.locator('strong').waitFor();
    assert.equal(await body.locator('strong').textContent(), 'free');
    assert.equal(await body.locator('li em').textContent(), 'checkout');
    assert.equal(await body.locator('ul > li').count(), 2);
    const links = await body.locator('a').evaluateAll((as) => as.map((a) => [a.textContent, a.getAttribute('href'), a.target, a.rel]));
    assert.deepEqual(links, [['our team', 'https://example.com/gifts', '_blank', 'noopener noreferrer']]);
    assert.doesNotMatch(await body.textContent(), /\*\*/);
    assert.match(await body.textContent(), /<img src=x onerror=alert\(1\)>/, 'HTML is text');
    assert.equal(await body.locator('img, [onerror], [href^="javascript" i]').count(), 0);
    // People's messages stay as they were typed.
    assert.equal(await page.getByRole('log').locator('.msg-visitor .md').count(), 0);

    // The citation is a link to the article's editor (with its title), which opens it.
    const cite = bot.locator('.msg-cites').getByRole('link', { name: 'Gift wrapping' });
    assert.equal(await cite.getAttribute('href'), `#/admin/kb/${article.id}`);
    assert.equal(await cite.getAttribute('title'), 'Open the article in the knowledge base');
    await cite.focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`#/admin/kb/${article.id}$`));
    const title = page.locator('.kb-form input[name=title]');
    await title.waitFor();
    assert.equal(await title.inputValue(), 'Gift wrapping');
    await page.locator('.md-preview strong').filter({ hasText: 'free' }).waitFor();
    assert.equal(await page.locator('.md-preview [href^="javascript" i], .md-preview img').count(), 0);
    // And back to the conversation.
    await page.goBack();
    await body.locator('strong').waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
