// The visitor widget (/widget.js) in a real browser against a real server:
// round trip with an agent, bot answers with citations (and the cited
// article opened in the panel), "talk to a person", going offline and back,
// sends the server refuses (resent after a passing failure, not when
// invalid), embedding on another origin, and the rating.
//
// Run: cd tests/browser && KEFU_ASSETS_DIR=../../crates/kefu-http/assets node --test widget.test.mjs
//
// The agent side is driven through the API with the owner's token (the
// console has its own tests). Every test uses its own inbox, so it has its
// own widget key and visitor; a fresh browser context is a fresh visitor.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { startKefu, api, login, createInbox, launch, screenshot } from './lib/harness.mjs';

const WAIT = 20000; // generous: CI runs on 2 cores

let kefu;
let browser;
let token;
let ws;
let ownerId;
let giftArticleId;
let pickupArticleId;

// A known question for the bot, in both languages.
const ARTICLE_EN = {
  title: 'Shipping times',
  body: 'Orders ship within 48 hours of payment. Delivery takes 2 to 4 days inside mainland China.',
  questions: ['How long does shipping take?', 'When will my order ship?'],
  locale: 'en',
};
const ARTICLE_ZH = {
  title: '发货时间',
  body: '付款后 48 小时内发货，中国大陆地区一般 2 到 4 天送达。',
  questions: ['多久发货？', '我的订单什么时候发货？'],
  locale: 'zh-CN',
};
// An article in the Markdown the widget renders, with what it must not: a
// javascript: link and raw HTML (kept as text).
const ARTICLE_MD = {
  title: 'Gift wrapping',
  body: [
    'We wrap any purchase for **free** on request.',
    '',
    '## How to ask',
    '- Add a note at *checkout*',
    '- Or write to [our team](https://example.com/gift-wrap) or `gifts@example.com`',
    '',
    'Never click [this trick](javascript:alert(document.domain)) or <img src=x onerror=alert(1)>.',
    '',
    '```',
    '<b>not bold</b>',
    '```',
  ].join('\n'),
  questions: ['Do you offer gift wrapping?', 'Is gift wrapping available?'],
  locale: 'en',
};
// What the bot answers with when it has no language model: the article's
// body, Markdown and all — shown rendered in the answer's bubble.
const ARTICLE_PICKUP = {
  title: 'Store pickup',
  body: 'Collecting at any of our stores is **free**. Bring your *pickup code*, or ask [our team](https://example.com/stores).\n\nNever open [this trick](javascript:alert(document.domain)) or <img src=x onerror=alert(1)>.',
  questions: ['Can I collect it at a store?', 'Is store pickup possible?'],
  locale: 'en',
};

before(async () => {
  kefu = await startKefu();
  browser = await launch();
  token = await login(kefu.base, kefu.owner.email);
  ws = kefu.owner.workspaceId;
  const me = await api(kefu.base, 'GET', '/api/v1/me', { token });
  ownerId = me.body.user.id;
  for (const article of [ARTICLE_EN, ARTICLE_ZH, ARTICLE_MD, ARTICLE_PICKUP]) {
    const r = await api(kefu.base, 'POST', `/api/v1/workspaces/${ws}/kb/articles`, { token, body: article });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    if (article === ARTICLE_MD) giftArticleId = r.body.id;
    if (article === ARTICLE_PICKUP) pickupArticleId = r.body.id;
  }
  await until(async () => {
    const s = await api(kefu.base, 'GET', `/api/v1/workspaces/${ws}/kb/status`, { token });
    return s.status === 200 && s.body.pending === 0 && s.body.indexed >= 4;
  }, 'the knowledge base is indexed');
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

const wsPath = (p) => `/api/v1/workspaces/${ws}${p}`;

/** The (only) conversation of an inbox, once it exists. */
async function conversationOf(inbox) {
  return until(async () => {
    const r = await api(kefu.base, 'GET', wsPath('/conversations?limit=100'), { token });
    return r.body.items.find((c) => c.inbox_id === inbox.id);
  }, `a conversation in inbox ${inbox.name}`);
}

async function getConversation(id) {
  const r = await api(kefu.base, 'GET', wsPath(`/conversations/${id}`), { token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

async function agentSay(conversationId, body) {
  const r = await api(kefu.base, 'POST', wsPath(`/conversations/${conversationId}/messages`), {
    token,
    body: { body, client_msg_id: randomUUID() },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function messagesOf(conversationId) {
  const r = await api(kefu.base, 'GET', wsPath(`/conversations/${conversationId}/messages?limit=200`), { token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.items;
}

/** A web inbox of its own (inboxes have the bot unless told otherwise). */
async function newInbox(fields = {}) {
  return createInbox(kefu.base, token, ws, { name: `Web ${randomUUID().slice(0, 8)}`, ...fields });
}

/** A visitor: a fresh browser context on the demo page with the chat open. */
async function visitor(key, { locale = 'en-US', url, viewport, setup } = {}) {
  const context = await browser.newContext({ locale, viewport: viewport || { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  if (setup) await setup(page);
  await page.goto(url || `${kefu.base}/demo?key=${key}`);
  await page.getByTestId('launcher').click();
  await page.getByTestId('panel').waitFor({ state: 'visible' });
  return { context, page, errors };
}

async function send(page, text) {
  const input = page.getByTestId('composer');
  await input.fill(text);
  await input.press('Enter');
}

/** A message in the widget's list with this text (and sender type). */
function message(page, text, sender) {
  const sel = sender ? `[data-testid=message][data-sender=${sender}]` : '[data-testid=message]';
  return page.locator(sel).filter({ hasText: text });
}

/** The seq numbers of the messages shown, in DOM order. */
function shownSeqs(page) {
  return page.locator('[data-testid=message][data-seq]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
}

async function closeAll(...contexts) {
  for (const c of contexts) await c?.close().catch(() => {});
}

// --------------------------------------------------------------- tests

test('the demo page without a key says how to get one, and shows no widget', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${kefu.base}/demo`);
    await page.locator('.nokey').waitFor({ state: 'visible' });
    assert.equal(await page.getByTestId('launcher').count(), 0);
  } finally {
    await closeAll(context);
  }
});

/** An agent's socket, held in a page on Kefu's origin; its frames are recorded. */
async function agentSocket(context) {
  const page = await context.newPage();
  await page.goto(`${kefu.base}/healthz`);
  await page.evaluate(
    (wsUrl) =>
      new Promise((ok, fail) => {
        const s = new WebSocket(wsUrl);
        window.frames_ = [];
        s.onmessage = (e) => {
          const f = JSON.parse(e.data);
          window.frames_.push(f);
          if (f.type === 'hello') ok();
        };
        s.onerror = () => fail(new Error('agent socket failed'));
        window.socket_ = s;
      }),
    `${kefu.base.replace('http', 'ws')}/ws?token=${encodeURIComponent(token)}`,
  );
  return {
    send: (frame) => page.evaluate((f) => window.socket_.send(JSON.stringify(f)), frame),
    /** Waits for a frame matching `pred` (a function source over `f`). */
    saw: (pred, what) =>
      until(() => page.evaluate((src) => window.frames_.some(new Function('f', `return ${src}`)), pred), what),
  };
}

test('visitor and agent: a full round trip with ticks, typing, reads and the unread badge', async () => {
  const inbox = await newInbox({ bot_enabled: false });
  const v = await visitor(inbox.widget_key);
  const agentContext = await browser.newContext();
  try {
    const { page } = v;
    await page.getByTestId('greeting').waitFor();
    await send(page, 'Hello, is anyone there?');
    const mine = message(page, 'Hello, is anyone there?', 'visitor');
    await mine.locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });
    assert.equal(await mine.getAttribute('data-seq'), '1');

    const conv = await conversationOf(inbox);
    const stored = await messagesOf(conv.id);
    assert.equal(stored.length, 1);
    assert.equal(stored[0].body, 'Hello, is anyone there?');

    // The agent types (over their own socket) …
    const agent = await agentSocket(agentContext);
    await agent.send({ type: 'typing', conversation_id: conv.id, on: true });
    await page.getByTestId('typing').waitFor({ state: 'visible', timeout: WAIT });

    // … replies: the typing stops, the reply shows, the visitor (chat open) has read it …
    await agentSay(conv.id, 'Hi! How can I help?');
    const reply = message(page, 'Hi! How can I help?', 'agent');
    await reply.waitFor({ timeout: WAIT });
    assert.equal(await reply.getAttribute('data-seq'), '2');
    await page.getByTestId('typing').waitFor({ state: 'hidden', timeout: WAIT });
    await agent.saw(`f.type === 'read' && f.who.type === 'visitor' && f.seq === 2`, 'the visitor reading the reply');

    // … and reads the visitor's message: double ticks.
    const read = await api(kefu.base, 'POST', wsPath(`/conversations/${conv.id}/read`), { token, body: { seq: 1 } });
    assert.equal(read.status, 200);
    await mine.locator('[data-testid=tick][data-state=read]').waitFor({ timeout: WAIT });

    // The visitor's typing reaches the agent. Shift+Enter is a new line, Enter sends.
    const input = page.getByTestId('composer');
    await input.fill('line one');
    await input.press('Shift+Enter');
    await input.pressSequentially('line two');
    await agent.saw(`f.type === 'typing' && f.who.type === 'visitor' && f.on`, 'the visitor typing');
    assert.equal(await input.inputValue(), 'line one\nline two');
    await input.press('Enter');
    await message(page, 'line two', 'visitor').locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });
    assert.equal(await input.inputValue(), '');
    assert.deepEqual((await messagesOf(conv.id)).map((m) => m.body), ['Hello, is anyone there?', 'Hi! How can I help?', 'line one\nline two']);

    // Esc closes the panel and gives the focus back to the launcher.
    await input.press('Escape');
    await page.getByTestId('panel').waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => document.querySelector('[data-kefu-widget]').shadowRoot.activeElement?.dataset.testid), 'launcher');

    // Closed: a reply shows as a badge on the launcher until the chat is opened.
    await agentSay(conv.id, 'Are you still there?');
    const badge = page.getByTestId('unread');
    await badge.waitFor({ state: 'visible', timeout: WAIT });
    assert.equal(await badge.textContent(), '1');
    await page.getByTestId('launcher').press('Enter');
    await page.getByTestId('panel').waitFor({ state: 'visible' });
    await badge.waitFor({ state: 'hidden' });
    await agent.saw(`f.type === 'read' && f.who.type === 'visitor' && f.seq === 4`, 'the visitor reading after opening');

    // A returning visitor (same browser, new page) keeps the history.
    const again = await v.context.newPage();
    await again.goto(`${kefu.base}/demo?key=${inbox.widget_key}`);
    await again.getByTestId('launcher').click();
    await message(again, 'Are you still there?', 'agent').waitFor({ timeout: WAIT });
    assert.deepEqual(await shownSeqs(again), [1, 2, 3, 4]);
    assert.deepEqual(v.errors, []);
  } finally {
    await closeAll(v.context, agentContext);
  }
});

test('the bot answers a known question with its cited article, and takes "helpful"', async () => {
  const inbox = await newInbox({ bot_enabled: true });
  const v = await visitor(inbox.widget_key);
  try {
    const { page } = v;
    await send(page, 'How long does shipping take?');
    const answer = page.locator('[data-testid=message][data-sender=bot]').filter({ has: page.getByTestId('citation') });
    await answer.waitFor({ timeout: WAIT });
    assert.equal((await answer.getByTestId('citation').allTextContents()).includes('Shipping times'), true);
    assert.match(await answer.textContent(), /48 hours/);

    await answer.getByTestId('feedback-yes').click();
    await answer.locator('[data-testid=feedback][data-given=yes]').waitFor({ timeout: WAIT });

    const conv = await conversationOf(inbox);
    assert.equal(conv.status, 'bot');
    assert.deepEqual(v.errors, []);
  } finally {
    await closeAll(v.context);
  }
});

test('a bot answer is rendered from its Markdown in the bubble, safely; the visitor\'s own text stays as typed', async () => {
  const inbox = await newInbox({ bot_enabled: true });
  const v = await visitor(inbox.widget_key);
  try {
    const { page } = v;
    await send(page, 'Can I collect it at a store?');
    const answer = page.locator('[data-testid=message][data-sender=bot]')
      .filter({ has: page.locator(`[data-testid=citation][data-article-id="${pickupArticleId}"]`) });
    await answer.waitFor({ timeout: WAIT });
    const md = answer.locator('.bub > .md');
    assert.equal(await md.locator('strong').textContent(), 'free');
    assert.equal(await md.locator('em').textContent(), 'pickup code');
    assert.equal(await md.locator('p').count(), 2, 'a blank line starts a paragraph');
    const links = await md.locator('a').evaluateAll((as) => as.map((a) => [a.textContent, a.getAttribute('href'), a.target, a.rel]));
    assert.deepEqual(links, [['our team', 'https://example.com/stores', '_blank', 'noopener noreferrer']]);
    const text = await md.textContent();
    assert.doesNotMatch(text, /\*\*|\]\(/, 'no Markdown syntax left');
    assert.match(text, /Never open this trick or <img src=x onerror=alert\(1\)>\./, 'the javascript: link is its text; HTML is text');
    assert.doesNotMatch(text, /javascript:/);
    assert.equal(await answer.locator('img, [onerror], [href^="javascript" i]').count(), 0);

    // What the visitor types is never Markdown.
    await send(page, 'Thanks, **great** [site](https://example.com/x)');
    const mine = message(page, 'Thanks, **great**', 'visitor');
    await mine.locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });
    assert.equal(await mine.locator('strong, .md').count(), 0);
    assert.equal(await mine.locator('.bub').textContent(), 'Thanks, **great** [site](https://example.com/x)');
    assert.deepEqual(await mine.locator('.bub a').evaluateAll((as) => as.map((a) => a.href)), ['https://example.com/x']);
    assert.deepEqual(v.errors, []);
  } finally {
    await closeAll(v.context);
  }
});

/** The data-testid of the element focused inside the widget's shadow root. */
function focusedTestId(page) {
  return page.evaluate(() => document.querySelector('[data-kefu-widget]').shadowRoot.activeElement?.dataset.testid ?? null);
}

test('a citation opens its article in the panel, Markdown rendered safely; back and Esc return to the chat as it was', async () => {
  const inbox = await newInbox({ bot_enabled: true });
  const v = await visitor(inbox.widget_key, { viewport: { width: 360, height: 560 } });
  try {
    const { page } = v;
    await send(page, 'Do you offer gift wrapping?');
    const answer = page.locator('[data-testid=message][data-sender=bot]').filter({ has: page.getByTestId('citation') });
    await answer.waitFor({ timeout: WAIT });
    const cite = answer.locator(`[data-testid=citation][data-article-id="${giftArticleId}"]`);
    assert.equal(await cite.textContent(), 'Gift wrapping');
    assert.equal(await cite.evaluate((el) => el.tagName), 'BUTTON', 'a real control');

    // The chat scrolled away from the bottom: it must come back exactly there.
    const list = page.getByTestId('messages');
    const chat = () => list.evaluate((el) => ({ top: el.scrollTop, messages: el.querySelectorAll('[data-testid=message]').length }));
    const room = await list.evaluate((el) => el.scrollHeight - el.clientHeight);
    assert.ok(room > 20, `the chat scrolls (${room}px)`);
    await list.evaluate((el) => (el.scrollTop = 10));
    const before = await chat();
    assert.equal(before.top, 10);
    // (A DOM click: Playwright's would scroll the citation into view first.)
    await cite.evaluate((el) => el.click());

    const article = page.getByTestId('article');
    const body = article.getByTestId('article-body');
    await body.locator('strong').waitFor({ timeout: WAIT });
    await list.waitFor({ state: 'hidden' });
    await page.getByTestId('composer').waitFor({ state: 'hidden' });
    assert.equal(await article.getByTestId('article-title').textContent(), 'Gift wrapping');
    assert.equal(await focusedTestId(page), 'article-title', 'the focus is on the heading');
    assert.equal(await article.getByTestId('article-status').count(), 0, 'loaded: no status line left');

    // Markdown: bold, italic, a heading, a list, code, and one safe link.
    assert.equal(await body.locator('strong').textContent(), 'free');
    assert.equal(await body.locator('em').textContent(), 'checkout');
    await body.getByRole('heading', { name: 'How to ask' }).waitFor();
    assert.equal(await body.locator('ul > li').count(), 2);
    assert.equal(await body.locator('li code').textContent(), 'gifts@example.com');
    const links = await body.locator('a').evaluateAll((as) => as.map((a) => [a.textContent, a.getAttribute('href'), a.target, a.rel]));
    assert.deepEqual(links, [['our team', 'https://example.com/gift-wrap', '_blank', 'noopener noreferrer']]);
    // The javascript: link is only its text; HTML stays text, also in a code block.
    const text = await body.textContent();
    assert.match(text, /Never click this trick or <img src=x onerror=alert\(1\)>\./);
    assert.doesNotMatch(text, /javascript:/);
    assert.equal(await body.locator('img, b, script, [onerror], [href^="javascript"]').count(), 0);
    assert.equal(await body.locator('pre > code').textContent(), '<b>not bold</b>');

    // Back: the chat as it was, the focus on the citation.
    await article.getByTestId('article-back').click();
    await list.waitFor({ state: 'visible' });
    await article.waitFor({ state: 'hidden' });
    assert.deepEqual(await chat(), before);
    assert.equal(await focusedTestId(page), 'citation');
    await page.getByTestId('composer').waitFor({ state: 'visible' });

    // By keyboard: Enter opens, Esc comes back (and leaves the panel open).
    await page.keyboard.press('Enter');
    await body.locator('strong').waitFor({ timeout: WAIT });
    assert.equal(await focusedTestId(page), 'article-title');
    await page.keyboard.press('Escape');
    await list.waitFor({ state: 'visible' });
    assert.equal(await page.getByTestId('panel').isVisible(), true);
    assert.equal(await focusedTestId(page), 'citation');
    assert.equal((await chat()).messages, before.messages, 'the messages are still there');

    // Deleted since: the citation says so (in words), and back still works.
    const del = await api(kefu.base, 'DELETE', wsPath(`/kb/articles/${giftArticleId}`), { token });
    assert.equal(del.status, 204, JSON.stringify(del.body));
    await cite.click();
    await article.getByTestId('article-status').filter({ hasText: 'This article is no longer available.' }).waitFor({ timeout: WAIT });
    assert.equal(await body.textContent(), '');
    await page.keyboard.press('Escape');
    await list.waitFor({ state: 'visible' });
    assert.deepEqual(v.errors, []);
  } finally {
    await closeAll(v.context);
  }
});

test('"talk to a person" queues the conversation; an agent picks it up and replies', async () => {
  const inbox = await newInbox({ bot_enabled: true });
  const v = await visitor(inbox.widget_key);
  try {
    const { page } = v;
    await send(page, 'When will my order ship?');
    await page.locator('[data-testid=message][data-sender=bot]').first().waitFor({ timeout: WAIT });
    await page.getByTestId('handoff').click();

    const queued = await until(async () => {
      const c = await conversationOf(inbox);
      return c.status === 'queued' && c;
    }, 'the conversation to be queued');
    const info = page.getByTestId('queue-info');
    await info.waitFor({ state: 'visible', timeout: WAIT });
    // Other tests' conversations may be waiting too: the place is the server's.
    const place = await until(() => info.getAttribute('data-position'), 'a place in the queue');
    assert.match(place, /^[1-9]\d*$/);
    assert.match(await info.textContent(), new RegExp(`\\b${place}\\b`));
    await page.getByTestId('handoff').waitFor({ state: 'hidden' });

    const assigned = await api(kefu.base, 'POST', wsPath(`/conversations/${queued.id}/assign`), {
      token,
      body: { assignee_id: ownerId },
    });
    assert.equal(assigned.status, 200, JSON.stringify(assigned.body));
    await info.waitFor({ state: 'hidden', timeout: WAIT });
    await agentSay(queued.id, 'This is Owner, I can help with your order.');
    const reply = message(page, 'I can help with your order', 'agent');
    await reply.waitFor({ timeout: WAIT });
    // The agent's name (sender.name) on the reply and in the header.
    assert.match(await reply.locator('.meta').textContent(), /Owner/);
    assert.match(await page.getByTestId('status').textContent(), /Owner/);
    assert.equal((await getConversation(queued.id)).status, 'assigned');
    assert.deepEqual(v.errors, []);
  } finally {
    await closeAll(v.context);
  }
});

test('an answer a language model writes streams in, then the stored message replaces it', async () => {
  // A fake OpenAI-compatible /v1/chat/completions that streams two pieces,
  // waits until the test has seen them in the widget, then finishes.
  let release;
  const released = new Promise((r) => (release = r));
  const llm = createServer(async (req, res) => {
    for await (const _ of req);
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404).end();
      return;
    }
    const chunk = (delta, finish = null) =>
      `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'fake', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk({ role: 'assistant', content: '' }));
    res.write(chunk({ content: 'Orders ship ' }));
    res.write(chunk({ content: 'within **48 hours**' }));
    await released;
    res.write(chunk({ content: ' of payment [1]' }));
    res.write(chunk({}, 'stop'));
    res.end('data: [DONE]\n\n');
  });
  await new Promise((r) => llm.listen(0, '127.0.0.1', r));
  let server;
  let v;
  try {
    server = await startKefu({
      env: {
        KEFU_LLM__URL: `http://127.0.0.1:${llm.address().port}/v1`,
        KEFU_LLM__MODEL: 'fake',
        KEFU_LLM__TIMEOUT_MS: '30000',
        KEFU_LLM__FIRST_TOKEN_TIMEOUT_MS: '30000',
      },
    });
    const t = await login(server.base, server.owner.email);
    const w = server.owner.workspaceId;
    const a = await api(server.base, 'POST', `/api/v1/workspaces/${w}/kb/articles`, { token: t, body: ARTICLE_EN });
    assert.equal(a.status, 201);
    await until(async () => (await api(server.base, 'GET', `/api/v1/workspaces/${w}/kb/status`, { token: t })).body.pending === 0, 'indexing');
    const inbox = await createInbox(server.base, t, w, { bot_enabled: true });
    v = await visitor(inbox.widget_key, { url: `${server.base}/demo?key=${inbox.widget_key}` });
    const { page } = v;
    await send(page, 'How long does shipping take?');

    // While it streams, the text as written (Markdown is rendered once complete).
    const stream = page.locator('[data-testid=message][data-stream]');
    await stream.filter({ hasText: 'Orders ship within **48 hours**' }).waitFor({ timeout: WAIT });
    assert.equal(await stream.getAttribute('data-sender'), 'bot');
    release();

    const final = message(page, 'Orders ship within 48 hours of payment [1]', 'bot');
    await final.waitFor({ timeout: WAIT });
    await stream.waitFor({ state: 'detached', timeout: WAIT });
    assert.equal(await message(page, 'Orders ship', 'bot').count(), 1, 'the pieces are replaced, not repeated');
    assert.equal(await final.getAttribute('data-id') !== null, true);
    assert.equal(await final.locator('.bub strong').textContent(), '48 hours');
    assert.doesNotMatch(await final.locator('.bub').textContent(), /\*\*/);
    assert.deepEqual(await final.getByTestId('citation').allTextContents(), ['Shipping times']);
    assert.deepEqual(v.errors, []);
  } finally {
    release();
    await closeAll(v?.context);
    await server?.stop();
    llm.closeAllConnections?.();
    await new Promise((r) => llm.close(r));
  }
});

test('offline and back: everything arrives once and in order; what was typed offline is sent', async () => {
  const inbox = await newInbox({ bot_enabled: false });
  const v = await visitor(inbox.widget_key);
  try {
    const { page, context } = v;
    await send(page, 'first, online');
    await message(page, 'first, online', 'visitor').locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });
    const conv = await conversationOf(inbox);

    await context.setOffline(true);
    await page.getByTestId('conn').waitFor({ state: 'visible', timeout: WAIT });
    for (const n of [1, 2, 3]) await agentSay(conv.id, `agent message ${n}`);
    await send(page, 'typed while offline');
    const offlineMsg = message(page, 'typed while offline', 'visitor');
    await offlineMsg.locator('[data-testid=tick][data-state=pending]').waitFor();
    // Nothing arrived while offline.
    assert.equal(await message(page, 'agent message', 'agent').count(), 0);
    const outbox = await page.evaluate((k) => JSON.parse(localStorage.getItem(`kefu:${k}:outbox`)), inbox.widget_key);
    assert.equal(outbox.length, 1);
    assert.equal(outbox[0].body, 'typed while offline');

    await context.setOffline(false);
    await offlineMsg.locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });
    await message(page, 'agent message 3', 'agent').waitFor({ timeout: WAIT });
    await page.getByTestId('conn').waitFor({ state: 'hidden', timeout: WAIT });

    assert.deepEqual(await shownSeqs(page), [1, 2, 3, 4, 5]);
    const texts = await page.locator('[data-testid=message][data-seq] [class=bub]').allTextContents();
    assert.deepEqual(texts.map((t) => t.trim()), [
      'first, online', 'agent message 1', 'agent message 2', 'agent message 3', 'typed while offline',
    ]);
    assert.equal(await page.locator('[data-testid=message][data-pending]').count(), 0);

    const stored = await messagesOf(conv.id);
    const offline = stored.filter((m) => m.body === 'typed while offline');
    assert.equal(offline.length, 1, 'stored exactly once');
    assert.equal(offline[0].client_msg_id, outbox[0].cid, 'with its original client_msg_id');
    assert.equal(stored.length, 5);
    assert.deepEqual(
      await page.evaluate((k) => JSON.parse(localStorage.getItem(`kefu:${k}:outbox`)), inbox.widget_key),
      [],
    );
    assert.deepEqual(v.errors, []);
  } finally {
    await closeAll(v.context);
  }
});

/**
 * Passes the widget's sockets through to the real server, except that the
 * first `message.send`s of a message whose body is a key of `refusals` are
 * answered with the `error` frames listed there (one per send) instead of
 * being forwarded. Records every socket opened and every `message.send`
 * (`socket`: its number, from 1; `at`: ms; `refused`: the code sent back).
 */
async function refusingSockets(page, refusals) {
  const sockets = [];
  const sends = [];
  const left = new Map(Object.entries(refusals).map(([body, codes]) => [body, [...codes]]));
  await page.routeWebSocket(/\/ws\?/, (route) => {
    const server = route.connectToServer();
    const socket = sockets.push(route);
    route.onMessage((text) => {
      let f = null;
      try { f = JSON.parse(text); } catch {}
      if (f?.type === 'message.send') {
        const code = left.get(f.body)?.shift();
        sends.push({ socket, cid: f.client_msg_id, body: f.body, at: Date.now(), refused: code ?? null });
        if (code) {
          route.send(JSON.stringify({ type: 'error', code, message: `refused by the test (${code})`, ref: f.client_msg_id }));
          return;
        }
      }
      server.send(text);
    });
  });
  return { sockets, sends, of: (body) => sends.filter((s) => s.body === body) };
}

test('a send refused for a passing reason (internal, rate_limited) is resent on the same socket with back-off until stored', async () => {
  const inbox = await newInbox({ bot_enabled: false });
  const text = 'sent during a database hiccup';
  let ws;
  const v = await visitor(inbox.widget_key, {
    setup: async (page) => { ws = await refusingSockets(page, { [text]: ['internal', 'rate_limited'] }); },
  });
  try {
    const { page } = v;
    await send(page, 'before the hiccup');
    await message(page, 'before the hiccup', 'visitor').locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });

    await send(page, text);
    const mine = message(page, text, 'visitor');
    // Refused once: still pending (not "failed", no retry button) while it waits.
    await until(() => ws.of(text).length >= 1, 'the first send');
    await page.waitForTimeout(100);
    assert.equal(await mine.getByTestId('tick').getAttribute('data-state'), 'pending');
    assert.equal(await mine.getByTestId('retry').count(), 0);

    await mine.locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });
    const tries = ws.of(text);
    assert.deepEqual(tries.map((s) => s.refused), ['internal', 'rate_limited', null], 'resent until accepted');
    assert.equal(new Set(tries.map((s) => s.cid)).size, 1, 'always with the same client_msg_id');
    assert.equal(ws.sockets.length, 1, 'on the socket it had: no reconnect');
    assert.deepEqual(tries.map((s) => s.socket), [1, 1, 1]);
    // Backing off (1 s then 2 s, each at least half of it), not at once.
    const gaps = [tries[1].at - tries[0].at, tries[2].at - tries[1].at];
    assert.ok(gaps[0] >= 450, `first resend after ${gaps[0]} ms`);
    assert.ok(gaps[1] >= 950, `second resend after ${gaps[1]} ms`);

    const conv = await conversationOf(inbox);
    const stored = (await messagesOf(conv.id)).filter((m) => m.body === text);
    assert.equal(stored.length, 1, 'stored once');
    assert.equal(stored[0].client_msg_id, tries[0].cid);
    assert.deepEqual(await page.evaluate((k) => JSON.parse(localStorage.getItem(`kefu:${k}:outbox`)), inbox.widget_key), []);
    assert.equal(await page.locator('[data-testid=message][data-pending]').count(), 0);
    assert.deepEqual(v.errors, []);
  } finally {
    await closeAll(v.context);
  }
});

test('a send refused as invalid is not resent by itself: it shows "not sent" until the visitor retries', async () => {
  const inbox = await newInbox({ bot_enabled: false });
  const text = 'refused as invalid once';
  let ws;
  const v = await visitor(inbox.widget_key, {
    setup: async (page) => { ws = await refusingSockets(page, { [text]: ['validation_failed'] }); },
  });
  try {
    const { page } = v;
    await send(page, text);
    const mine = message(page, text, 'visitor');
    await mine.locator('[data-testid=tick][data-state=failed]').waitFor({ timeout: WAIT });
    await mine.getByTestId('retry').waitFor();
    // Longer than the first two back-off steps of a passing failure (≤ 1 s, ≤ 2 s).
    await page.waitForTimeout(3500);
    assert.equal(ws.of(text).length, 1, 'not resent automatically');
    assert.equal(await mine.getByTestId('tick').getAttribute('data-state'), 'failed');
    const convs = await api(kefu.base, 'GET', wsPath('/conversations?limit=100'), { token });
    assert.equal(convs.body.items.some((c) => c.inbox_id === inbox.id), false, 'nothing stored');

    // The retry button sends it again, with the same client_msg_id.
    await mine.getByTestId('retry').click();
    await mine.locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });
    const tries = ws.of(text);
    assert.deepEqual(tries.map((s) => s.refused), ['validation_failed', null]);
    assert.equal(tries[0].cid, tries[1].cid);
    assert.equal(ws.sockets.length, 1);
    const conv = await conversationOf(inbox);
    const stored = await messagesOf(conv.id);
    assert.deepEqual(stored.map((m) => [m.body, m.client_msg_id]), [[text, tries[0].cid]]);
    assert.deepEqual(v.errors, []);
  } finally {
    await closeAll(v.context);
  }
});

test('two tabs offline: what each queued is delivered once, even after one tab is closed', async () => {
  const inbox = await newInbox({ bot_enabled: false });
  const v = await visitor(inbox.widget_key);
  try {
    const { context, page: a } = v;
    await send(a, 'tab A, online');
    await message(a, 'tab A, online', 'visitor').locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });
    const b = await context.newPage();
    await b.goto(`${kefu.base}/demo?key=${inbox.widget_key}`);
    await b.getByTestId('launcher').click();
    await message(b, 'tab A, online', 'visitor').waitFor({ timeout: WAIT });

    await context.setOffline(true);
    await a.getByTestId('conn').waitFor({ state: 'visible', timeout: WAIT });
    await b.getByTestId('conn').waitFor({ state: 'visible', timeout: WAIT });
    await send(a, 'queued in tab A');
    await message(a, 'queued in tab A', 'visitor').locator('[data-testid=tick][data-state=pending]').waitFor();
    await send(b, 'queued in tab B');
    await message(b, 'queued in tab B', 'visitor').locator('[data-testid=tick][data-state=pending]').waitFor();
    const outbox = () => b.evaluate((k) => JSON.parse(localStorage.getItem(`kefu:${k}:outbox`)).map((o) => o.body), inbox.widget_key);
    assert.deepEqual((await outbox()).sort(), ['queued in tab A', 'queued in tab B']);

    await a.close(); // tab A never comes back online
    await context.setOffline(false);
    await message(b, 'queued in tab A', 'visitor').locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });
    await message(b, 'queued in tab B', 'visitor').locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });
    await until(async () => (await outbox()).length === 0, 'an empty outbox');

    const conv = await conversationOf(inbox);
    const bodies = (await messagesOf(conv.id)).map((m) => m.body);
    assert.deepEqual(bodies.slice().sort(), ['queued in tab A', 'queued in tab B', 'tab A, online'].sort());
    assert.equal(await b.locator('[data-testid=message][data-sender=visitor]').count(), 3);
    assert.deepEqual(v.errors, []);
  } finally {
    await closeAll(v.context);
  }
});

test('an expired visitor token is replaced by a new session that keeps the history', async () => {
  const server = await startKefu({ env: { KEFU_CHAT__VISITOR_TOKEN_TTL_SECS: '2' } });
  let v;
  try {
    const t = await login(server.base, server.owner.email);
    const w = server.owner.workspaceId;
    const inbox = await createInbox(server.base, t, w, { bot_enabled: false });
    v = await visitor(inbox.widget_key, { url: `${server.base}/demo?key=${inbox.widget_key}` });
    const { page, context } = v;
    await send(page, 'before the token expires');
    await message(page, 'before the token expires', 'visitor').locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });

    // Away for longer than the token lives; the agent answers meanwhile.
    await context.setOffline(true);
    await page.getByTestId('conn').waitFor({ state: 'visible', timeout: WAIT });
    const list = await api(server.base, 'GET', `/api/v1/workspaces/${w}/conversations`, { token: t });
    const conv = list.body.items[0];
    const said = await api(server.base, 'POST', `/api/v1/workspaces/${w}/conversations/${conv.id}/messages`, {
      token: t,
      body: { body: 'answered while you were away', client_msg_id: randomUUID() },
    });
    assert.equal(said.status, 201);
    await page.waitForTimeout(2500); // the token's lifetime passes (a precondition, not an assertion)
    await context.setOffline(false);

    await message(page, 'answered while you were away', 'agent').waitFor({ timeout: WAIT });
    await send(page, 'after the token expired');
    await message(page, 'after the token expired', 'visitor').locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });
    const after = await api(server.base, 'GET', `/api/v1/workspaces/${w}/conversations`, { token: t });
    assert.equal(after.body.items.length, 1, 'the same visitor, the same conversation');
    const msgs = await api(server.base, 'GET', `/api/v1/workspaces/${w}/conversations/${conv.id}/messages`, { token: t });
    assert.deepEqual(msgs.body.items.map((m) => m.body), [
      'before the token expires', 'answered while you were away', 'after the token expired',
    ]);
    assert.deepEqual(await shownSeqs(page), [1, 2, 3]);
    assert.deepEqual(v.errors, []);
  } finally {
    await closeAll(v?.context);
    await server.stop();
  }
});

test('embedded in a page of another origin, untouched by its aggressive CSS', async () => {
  const inbox = await newInbox({ bot_enabled: false });
  const html = `<!doctype html><html lang="en"><head><title>Another site</title><style>
    * { color: red !important; font-size: 40px !important; font-family: serif !important; }
    div, button, textarea { display: block !important; background: yellow !important; border: 5px solid lime !important; }
    body { margin: 0; }
  </style></head><body><h1>Someone else's shop</h1>
  <script src="${kefu.base}/widget.js" data-key="${inbox.widget_key}" async></script></body></html>`;
  const site = await foreignSite(html);
  const hostUrl = site.url;
  assert.notEqual(new URL(hostUrl).origin, new URL(kefu.base).origin);
  let v;
  try {
    v = await visitor(inbox.widget_key, { url: hostUrl });
    const { page } = v;
    // The widget's API calls: a content-type only on those with a body.
    const calls = [];
    page.on('request', (r) => r.url().startsWith(`${kefu.base}/api/v1/widget/`) &&
      calls.push({ method: r.method(), path: new URL(r.url()).pathname, type: r.headers()['content-type'] ?? null }));
    await send(page, 'Hello from another site');
    await message(page, 'Hello from another site', 'visitor').locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });
    const conv = await conversationOf(inbox);
    await agentSay(conv.id, 'Hello, other site!');
    const reply = message(page, 'Hello, other site!', 'agent');
    await reply.waitFor({ timeout: WAIT });

    const style = await reply.locator('.bub').evaluate((el) => {
      const s = getComputedStyle(el);
      return { color: s.color, fontSize: s.fontSize, background: s.backgroundColor, font: s.fontFamily };
    });
    assert.notEqual(style.color, 'rgb(255, 0, 0)');
    assert.equal(style.fontSize, '14px');
    assert.notEqual(style.background, 'rgb(255, 255, 0)');
    assert.doesNotMatch(style.font, /^serif$/);
    const launcher = await page.getByTestId('launcher').evaluate((el) => {
      return { w: el.offsetWidth, h: el.offsetHeight, bg: getComputedStyle(el).backgroundColor };
    });
    assert.equal(launcher.w, 56);
    assert.notEqual(launcher.bg, 'rgb(255, 255, 0)');
    // Ours does not leak out: the host page's heading is still as it styled it.
    assert.equal(await page.locator('h1').evaluate((el) => getComputedStyle(el).fontSize), '40px');

    // A reload opens a session (a POST with a body) and reads the conversation list (a GET).
    await page.reload();
    await message(page, 'Hello, other site!', 'agent').waitFor({ timeout: WAIT });
    const gets = calls.filter((c) => c.method === 'GET');
    assert.ok(gets.some((c) => c.path === '/api/v1/widget/conversations'), JSON.stringify(calls));
    assert.deepEqual(gets.filter((c) => c.type !== null), [], 'no content-type on a GET');
    const posts = calls.filter((c) => c.method !== 'GET');
    assert.ok(posts.length > 0, JSON.stringify(calls));
    for (const c of posts) assert.equal(c.type, 'application/json', `${c.method} ${c.path}`);
    assert.deepEqual(v.errors, []);
  } finally {
    await closeAll(v?.context);
    await site.close();
  }
});

/** Serves `html` on 127.0.0.1 (another origin than Kefu's): { url, close() }. */
async function foreignSite(html) {
  const host = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise((r) => host.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${host.address().port}/`, close: () => new Promise((r) => host.close(r)) };
}

// The offline form's `PUT /api/v1/widget/contact` is preflighted on other
// sites: the widget API's CORS must allow PUT.
test('the offline form works on another origin too', async () => {
  const inbox = await newInbox({ bot_enabled: false, offline_mode: 'form' });
  const site = await foreignSite(`<!doctype html><html lang="en"><body><h1>Elsewhere</h1>
    <script src="${kefu.base}/widget.js" data-key="${inbox.widget_key}" async></script></body></html>`);
  let v;
  try {
    v = await visitor(inbox.widget_key, { url: site.url });
    const { page } = v;
    await page.getByTestId('offline-form').waitFor({ timeout: WAIT });
    await page.getByTestId('offline-email').fill('far@example.com');
    await page.getByTestId('offline-message').fill('Written on another site');
    await page.getByTestId('offline-submit').click();
    // Thanks, or the error a refused request shows.
    await page.locator('[data-testid=offline-thanks], [data-testid=offline-error]:not(:empty)').first().waitFor({ timeout: WAIT });
    assert.equal(await page.locator('[data-testid=offline-error]:not(:empty)').count(), 0, 'no error shown');
    const conv = await conversationOf(inbox);
    const contact = await api(kefu.base, 'GET', wsPath(`/contacts/${conv.contact_id}`), { token });
    assert.equal(contact.body.email, 'far@example.com');
  } finally {
    await closeAll(v?.context);
    await site.close();
  }
});

test('a resolved conversation asks for a rating; 5 stars and a comment are stored', async () => {
  const inbox = await newInbox({ bot_enabled: false });
  const v = await visitor(inbox.widget_key);
  try {
    const { page } = v;
    await send(page, 'My parcel arrived, thanks.');
    await message(page, 'My parcel arrived', 'visitor').locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });
    const conv = await conversationOf(inbox);
    await agentSay(conv.id, 'Glad to hear it!');
    await message(page, 'Glad to hear it!', 'agent').waitFor({ timeout: WAIT });

    const resolved = await api(kefu.base, 'POST', wsPath(`/conversations/${conv.id}/resolve`), { token });
    assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
    await page.getByTestId('rating').waitFor({ state: 'visible', timeout: WAIT });
    await page.locator('[data-testid=rating-star][data-value="5"]').click();
    await page.getByTestId('rating-comment').fill('Quick and friendly');
    await page.getByTestId('rating-submit').click();
    await page.getByTestId('rating-thanks').waitFor({ timeout: WAIT });

    const stored = await until(async () => {
      const c = await getConversation(conv.id);
      return c.rating && c;
    }, 'the rating on the conversation');
    assert.equal(stored.rating.score, 5);
    assert.equal(stored.rating.comment, 'Quick and friendly');
    // The widget learns it was stored (a reload shows the rating given).
    await page.reload();
    await page.getByTestId('rating-done').waitFor({ timeout: WAIT });
    // And it counts in the analytics (other tests add no ratings).
    const summary = await api(kefu.base, 'GET', wsPath('/analytics/summary'), { token });
    assert.equal(summary.status, 200, JSON.stringify(summary.body));
    assert.equal(summary.body.csat.count, 1);
    assert.equal(summary.body.csat.distribution[4], 1);
    assert.deepEqual(v.errors, []);
  } finally {
    await closeAll(v.context);
  }
});

test('nobody available and the inbox wants a form: the visitor leaves contact details and a message', async () => {
  const inbox = await newInbox({ bot_enabled: false, offline_mode: 'form' });
  const v = await visitor(inbox.widget_key);
  try {
    const { page } = v;
    const form = page.getByTestId('offline-form');
    await form.waitFor({ timeout: WAIT });
    await page.getByTestId('composer').waitFor({ state: 'hidden' });
    // A way to answer is required.
    await page.getByTestId('offline-name').fill('Li Lei');
    await page.getByTestId('offline-message').fill('Please call me about a bulk order.');
    await page.getByTestId('offline-submit').click();
    assert.notEqual((await page.getByTestId('offline-error').textContent()).trim(), '');

    await page.getByTestId('offline-email').fill('lilei@example.com');
    await page.getByTestId('offline-submit').click();
    await page.getByTestId('offline-thanks').waitFor({ timeout: WAIT });
    await form.waitFor({ state: 'hidden' });
    await page.getByTestId('composer').waitFor({ state: 'visible' });
    await message(page, 'bulk order', 'visitor').locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });

    const conv = await conversationOf(inbox);
    assert.deepEqual((await messagesOf(conv.id)).map((m) => m.body), ['Please call me about a bulk order.']);
    const contact = await api(kefu.base, 'GET', wsPath(`/contacts/${conv.contact_id}`), { token });
    assert.equal(contact.status, 200, JSON.stringify(contact.body));
    assert.equal(contact.body.name, 'Li Lei');
    assert.equal(contact.body.email, 'lilei@example.com');

    // Once given, the details are not asked for again. (The chat was open:
    // it stays open across pages of the site.)
    await page.reload();
    await page.getByTestId('panel').waitFor({ state: 'visible', timeout: WAIT });
    await message(page, 'bulk order', 'visitor').waitFor({ timeout: WAIT });
    assert.equal(await page.getByTestId('offline-form').count(), 0);
    assert.deepEqual(v.errors, []);
  } finally {
    await closeAll(v.context);
  }
});

for (const [locale, question, expect] of [
  ['zh-CN', '多久发货？', { launcher: '打开在线客服', cite: '发货时间' }],
  ['en', 'How long does shipping take?', { launcher: 'Open chat', cite: 'Shipping times' }],
]) {
  test(`in ${locale}: the words follow the browser's language (screenshot widget-${locale})`, async () => {
    const inbox = await newInbox({ bot_enabled: true, name: locale === 'zh-CN' ? '茶壶商店' : 'Teapot & Co.' });
    const v = await visitor(inbox.widget_key, { locale });
    try {
      const { page } = v;
      assert.equal(await page.getByTestId('launcher').getAttribute('aria-label'), locale === 'zh-CN' ? '关闭在线客服' : 'Close chat');
      await send(page, question);
      const answer = page.locator('[data-testid=message][data-sender=bot]').filter({ has: page.getByTestId('citation') });
      await answer.waitFor({ timeout: WAIT });
      assert.deepEqual(await answer.getByTestId('citation').allTextContents(), [expect.cite]);
      await page.getByTestId('handoff').waitFor({ state: 'visible' });
      await page.mouse.move(0, 0);
      await screenshot(page, `widget-${locale}`);
      await page.getByTestId('close').click();
      assert.equal(await page.getByTestId('launcher').getAttribute('aria-label'), expect.launcher);
      assert.deepEqual(v.errors, []);
    } finally {
      await closeAll(v.context);
    }
  });
}

test('on a 360 px phone the panel is full-screen', async () => {
  const inbox = await newInbox({ bot_enabled: false });
  const v = await visitor(inbox.widget_key, { viewport: { width: 360, height: 640 } });
  try {
    const box = await v.page.getByTestId('panel').boundingBox();
    assert.deepEqual([box.x, box.y, box.width, box.height], [0, 0, 360, 640]);
    await send(v.page, 'from my phone');
    await message(v.page, 'from my phone', 'visitor').locator('[data-testid=tick][data-state=sent]').waitFor({ timeout: WAIT });
    await v.page.getByTestId('close').click();
    await v.page.getByTestId('launcher').waitFor({ state: 'visible' });
  } finally {
    await closeAll(v.context);
  }
});
