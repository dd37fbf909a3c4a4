// The console's admin and analytics pages in a real browser against a real
// server: the first-run path (create an inbox, its snippet and demo link),
// the knowledge-base editor (Markdown preview, publish) with "test the
// bot" answering from the new article, and analytics showing a resolved
// conversation with its CSAT rating and the bot's verified resolution with
// its definition; screenshots in both languages.
//
// Run: cd tests/browser && KEFU_ASSETS_DIR=../../crates/kefu-http/assets node --test admin.test.mjs
//
// The tests share one server and run in order (node:test runs a file's
// tests sequentially): later ones use the inbox and article made earlier.
// The owner signs in through the console's login page; the conversation
// for analytics is made through the API (widget session and message, agent
// assign/reply/resolve, visitor rating).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startKefu, api, launch, screenshot, PASSWORD, withConsole as sharedWithConsole } from './lib/harness.mjs';
import { parseMarkdown } from '../../crates/kefu-http/assets/console/lib/markdown.js';

const WAIT = 20000; // generous: CI runs on 2 cores

let kefu;
let browser;
let token;
let me;
let ws;

before(async () => {
  kefu = await startKefu();
  browser = await launch();
  const r = await api(kefu.base, 'POST', '/api/v1/auth/login', { body: { email: kefu.owner.email, password: PASSWORD } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  token = r.body.access_token;
  me = r.body.user;
  ws = kefu.owner.workspaceId;
});

after(async () => {
  await browser?.close();
  await kefu?.stop();
});

// ------------------------------------------------------------- helpers

/** JSON call as the owner (or with `as`), asserting the status. */
async function call(method, path, body, status, as = token) {
  const r = await api(kefu.base, method, path, { token: as, body });
  assert.equal(r.status, status, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Runs `fn(page)` in a signed-in console page (see the harness): page
 * errors and CSP violations must stay empty, as the console runs under a
 * strict Content-Security-Policy. */
function withConsole(hash, opts, fn) {
  return sharedWithConsole(browser, kefu, hash, { wait: WAIT, ...opts }, fn);
}

/** Polls `fn` until it returns something truthy (the value), or fails. */
async function until(fn, what, timeout = WAIT) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ------------------------------------------------------------- tests

test('the Markdown renderer makes only its own tags, keeps only http(s) links and leaves HTML as text', () => {
  const tree = parseMarkdown('# Title\n\n**bold** *it* `<b>`\n\n- a\n- b\n\n[ok](https://example.com/?a=1&b=2) [bad](javascript:alert(1))\n\n<img src=x onerror=alert(1)>\n> quoted **too**\n\n```\n<script>x</script>\n```');
  // [tag, href?, ...children]; text is a string (renderInto makes it a text node).
  const shape = (n) => (typeof n === 'string' ? n : [n.tag, ...(n.href ? [n.href] : []), ...n.kids.map(shape)]);
  assert.deepEqual(tree.map(shape), [
    ['h1', 'Title'],
    ['p', ['strong', 'bold'], ' ', ['em', 'it'], ' ', ['code', '<b>']],
    ['ul', ['li', 'a'], ['li', 'b']],
    ['p', ['a', 'https://example.com/?a=1&b=2', 'ok'], ' [bad](javascript:alert(1))'],
    ['p', '<img src=x onerror=alert(1)>'],
    ['blockquote', ['p', 'quoted ', ['strong', 'too']]],
    ['pre', ['code', '<script>x</script>']],
  ]);
  // Whatever the source: only the renderer's tags, links only to http(s).
  const TAGS = new Set(['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'br', 'strong', 'em', 'code', 'pre', 'ul', 'ol', 'li', 'a', 'hr', 'blockquote']);
  const walk = (n) => {
    if (typeof n === 'string') return;
    assert.ok(TAGS.has(n.tag), n.tag);
    if (n.tag === 'a') assert.match(n.href, /^https?:\/\//i);
    n.kids.forEach(walk);
  };
  parseMarkdown('<a href="javascript:x">[x](data:text/html,1) [y](//evil) https://ok.example/p?q=<b> _a_b_ __c__\n---\n1. one\n  more\n').forEach(walk);
});

test('first run: the inbox shows the guide; create an inbox in the admin page, see its snippet and demo link', async () => {
  await withConsole('#/inbox', {}, async (page) => {
    // Where a newcomer lands, with no inbox yet: the guide, not an empty pane.
    const landing = page.locator('.inbox-conv .first-run');
    await landing.waitFor();
    assert.equal(await landing.locator('.guide-step').count(), 5);
    assert.equal(await landing.locator('a[href="#/admin/inboxes/new"]').count(), 1);
    await page.goto(`${kefu.base}/#/admin/inboxes`);
    // The admin page shows the same guide, whose first step creates one.
    const guide = page.locator('.first-run');
    await guide.waitFor();
    assert.equal(await guide.locator('.guide-step').count(), 5);
    await guide.locator('a[href="#/admin/inboxes/new"]').click();

    await page.fill('.inbox-form input[name=name]', 'Website');
    await page.fill('.inbox-form textarea[name=greeting]', 'Hi! How can we help?');
    await page.click('.inbox-form button[type=submit]');

    // The new inbox's page: the snippet to paste and the demo page link.
    const snippet = page.locator('.install-card [data-snippet]');
    await snippet.waitFor();
    const inboxes = await call('GET', `/api/v1/workspaces/${ws}/inboxes`, undefined, 200);
    assert.equal(inboxes.length, 1);
    const [inbox] = inboxes;
    assert.equal(inbox.name, 'Website');
    assert.equal(inbox.greeting, 'Hi! How can we help?');
    assert.equal(inbox.bot_enabled, true);
    assert.equal(
      (await snippet.textContent()).trim(),
      `<script src="${kefu.base}/widget.js" data-key="${inbox.widget_key}" async></script>`,
    );
    const demo = page.locator('.install-card a.demo-link');
    assert.equal(await demo.getAttribute('href'), `/demo?key=${inbox.widget_key}`);
    assert.equal(await demo.getAttribute('target'), '_blank');

    // The demo page embeds the widget with that key.
    const [popup] = await Promise.all([page.waitForEvent('popup'), demo.click()]);
    await popup.waitForLoadState('domcontentloaded');
    assert.equal(await popup.locator(`script[src$="/widget.js"][data-key="${inbox.widget_key}"]`).count(), 1);
    await popup.close();

    // The list shows it (and the guide is gone).
    await page.goto(`${kefu.base}/#/admin/inboxes`);
    await page.locator(`.inbox-card[data-inbox-id="${inbox.id}"] [data-snippet]`).waitFor();
    assert.equal(await page.locator('.first-run').count(), 0);

    // The inbox no longer shows it, but its empty list links to it.
    await page.goto(`${kefu.base}/#/inbox`);
    const link = page.locator('.list-status a[href="#/start"]');
    await link.waitFor();
    assert.equal(await page.locator('.inbox-conv .first-run').count(), 0);
    await link.click();
    await page.locator('.first-run .guide-step').first().waitFor();
    assert.equal(await page.locator('.first-run .guide-step').count(), 5);
  });
});

test('knowledge base: write and publish an article, then "test the bot" answers with it', async () => {
  const title = 'How do I return an item?';
  await withConsole('#/admin/kb/new', {}, async (page) => {
    await page.fill('.kb-form input[name=title]', title);
    await page.fill('.kb-form textarea[name=body]',
      'You can return any item within **30 days** of delivery.\n\n1. Open *My orders*\n2. Choose **Return**\n\nSee https://example.com/returns <script>alert(1)</script>');
    await page.fill('.kb-form textarea[name=questions]', 'Can I send my order back?\nWhat is the return policy?');
    await page.fill('.kb-form input[name=tags]', 'returns, orders');
    await page.fill('.kb-form input[name=category]', 'Orders');
    await page.selectOption('.kb-form select[name=locale]', 'en');

    // The live preview renders the Markdown, and never the HTML.
    const preview = page.locator('.md-preview');
    await preview.locator('strong', { hasText: '30 days' }).waitFor();
    assert.equal(await preview.locator('ol > li').count(), 2);
    assert.equal(await preview.locator('a[href="https://example.com/returns"]').count(), 1);
    assert.equal(await preview.locator('script').count(), 0);
    assert.match(await preview.textContent(), /<script>alert\(1\)<\/script>/);
    await screenshot(page, 'console-kb-editor');

    // Publish: the page becomes the saved article's editor.
    await page.click('.kb-actions .btn-primary');
    await page.waitForFunction(() => /^#\/admin\/kb\/[0-9a-f-]{36}$/.test(location.hash));
    await page.locator('.page-header .badge-ok').waitFor();
    const list = await call('GET', `/api/v1/workspaces/${ws}/kb/articles`, undefined, 200);
    assert.equal(list.items.length, 1);
    const article = list.items[0];
    assert.equal(article.title, title);
    assert.equal(article.status, 'published');
    assert.deepEqual(article.questions, ['Can I send my order back?', 'What is the return policy?']);
    assert.deepEqual(article.tags, ['returns', 'orders']);
    assert.equal(article.category, 'Orders');
    assert.equal(await page.evaluate(() => location.hash), `#/admin/kb/${article.id}`);

    // The list finds it by search, and the bot answers with it.
    await page.goto(`${kefu.base}/#/admin/kb`);
    await page.locator(`.kb-table tr[data-article-id="${article.id}"]`).waitFor();
    await page.fill('.kb-filters input[type=search]', 'return policy');
    assert.equal(await page.locator('.kb-table tbody tr').count(), 1);
    await page.fill('.kb-filters input[type=search]', 'no such thing');
    await page.locator('.kb-list .empty').waitFor();

    await page.fill('.ask-form input[name=question]', 'How can I return an item?');
    await page.click('.ask-form button[type=submit]');
    const answer = page.locator('.ask-answer-box');
    await answer.waitFor();
    assert.equal(await answer.getAttribute('data-decision'), 'answer', await answer.textContent());
    const cited = answer.locator(`.ask-refs a[href="#/admin/kb/${article.id}"]`);
    assert.equal(await cited.first().textContent(), title);

    // Import JSON Lines from a file: the good line is stored, the bad one reported.
    await page.fill('.kb-filters input[type=search]', '');
    await page.setInputFiles('#kb-import-file', {
      name: 'faq.jsonl',
      mimeType: 'application/x-ndjson',
      buffer: Buffer.from('{"title": "Shipping times", "body": "Orders ship within 2 days.", "external_id": "shipping"}\nnot json\n'),
    });
    const report = page.locator('.import-report');
    await report.waitFor();
    assert.match(await report.textContent(), /Lines stored: 1 \(1 created, 0 updated, 0 unchanged\)\. Lines failed: 1\./);
    assert.equal((await report.locator('tbody tr td').first().textContent()).trim(), '2');
    assert.equal((await report.locator('tbody tr td').nth(1).textContent()).trim(), 'invalid_json');
    await page.locator('.kb-table tbody tr', { hasText: 'Shipping times' }).waitFor();
  });
});

test('members and API tokens: an invitation link and a token secret are shown once; the invitee joins through the link', async () => {
  await withConsole('#/admin/members', {}, async (page) => {
    await page.fill('.invite-form input[name=email]', 'agent@example.com');
    await page.selectOption('.invite-form select[name=role]', 'supervisor');
    await page.click('.invite-form button[type=submit]');
    const linkEl = page.locator('[data-invitation-link]');
    await linkEl.waitFor();
    const link = (await linkEl.textContent()).trim();
    assert.match(link, new RegExp(`^${kefu.base.replace(/[.]/g, '\\.')}/#/accept\\?token=`));
    const invitations = await call('GET', `/api/v1/workspaces/${ws}/invitations`, undefined, 200);
    assert.deepEqual(invitations.map((i) => [i.email, i.role]), [['agent@example.com', 'supervisor']]);

    // The invitee, signed out in a browser of their own, opens the link.
    const invitee = await browser.newContext({ locale: 'en-US' });
    try {
      const p = await invitee.newPage();
      p.setDefaultTimeout(WAIT);
      const errors = [];
      p.on('pageerror', (e) => errors.push(e.message));
      await p.goto(link);
      await p.getByRole('heading', { name: 'Join the workspace' }).waitFor();
      await p.getByLabel('Your name').fill('Agent Wu');
      // Too short a password: said next to the field.
      await p.getByLabel('Password', { exact: true }).fill('short');
      await p.getByRole('button', { name: 'Join and sign in' }).click();
      await p.locator('#accept-password-error', { hasText: 'Too short.' }).waitFor();
      assert.equal(await p.getByLabel('Password', { exact: true }).getAttribute('aria-invalid'), 'true');
      await p.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await p.getByRole('button', { name: 'Join and sign in' }).click();
      // Joined and signed in: the console as a supervisor, the token gone from the address.
      await p.getByRole('tab', { name: 'All' }).waitFor();
      await p.locator('.user-menu summary', { hasText: 'Agent Wu' }).waitFor();
      assert.equal(new URL(p.url()).hash, '#/inbox');
      assert.equal(await p.getByRole('link', { name: 'Analytics' }).count(), 1);
      assert.equal(await p.getByRole('link', { name: 'Members' }).count(), 0);
      // The link is spent (pasted into this open console tab, it shows the page again).
      await p.goto(link);
      await p.getByRole('heading', { name: 'Join the workspace' }).waitFor();
      await p.getByLabel('Your name').fill('Agent Wu');
      await p.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await p.getByRole('button', { name: 'Join and sign in' }).click();
      await p.getByRole('alert').filter({ hasText: 'This invitation link no longer works' }).waitFor();
      assert.deepEqual(errors, []);
    } finally {
      await invitee.close();
    }
    await page.reload();
    await page.locator('.members-table tbody tr', { hasText: 'agent@example.com' }).waitFor();
    assert.equal(await page.locator('.members-table tbody tr', { hasText: 'agent@example.com' }).locator('td').first().textContent(), 'Agent Wu');

    await page.goto(`${kefu.base}/#/admin/tokens`);
    await page.fill('.token-form input[name=name]', 'CRM sync');
    await page.check('.token-form input[value="kb:read"]');
    await page.click('.token-form button[type=submit]');
    const secret = page.locator('[data-token-secret]');
    await secret.waitFor();
    const pat = (await secret.textContent()).trim();
    // The secret is a working API token with its scope.
    await call('GET', `/api/v1/workspaces/${ws}/kb/status`, undefined, 200, pat);
    await page.locator('.tokens-table tbody tr', { hasText: 'CRM sync' }).waitFor();
  });
});

test('members: "Require new password" signs the member out; they must choose a new one to sign in', async () => {
  const inv = await call('POST', `/api/v1/workspaces/${ws}/invitations`, { email: 'resetme@example.com', role: 'agent' }, 201);
  await call('POST', '/api/v1/invitations/accept', { token: inv.token, name: 'Reset Me', password: PASSWORD }, 201, null);
  const login = await call('POST', '/api/v1/auth/login', { email: 'resetme@example.com', password: PASSWORD }, 200, null);
  await withConsole('#/admin/members', {}, async (page) => {
    await page.getByRole('button', { name: 'Require Reset Me to set a new password' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Require new password' }).click();
    await page.getByText('Reset Me was signed out and must choose a new password at the next sign-in.').waitFor();
  });
  await call('GET', '/api/v1/me', undefined, 401, login.access_token);
  const again = await fetch(kefu.base + '/api/v1/auth/login', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'resetme@example.com', password: PASSWORD }),
  });
  assert.equal(again.status, 403);
  assert.equal((await again.json()).code, 'password_change_required');
});

test('analytics shows a resolved conversation with its CSAT rating', async () => {
  // A bot-less inbox: visitors' messages go to the queue. Two visitors,
  // each answered and resolved by the owner, rate 5 and 4.
  const inbox = await call('POST', `/api/v1/workspaces/${ws}/inboxes`, { name: 'Shop', channel: 'web', bot_enabled: false }, 201);
  for (const score of [5, 4]) {
    const session = await call('POST', '/api/v1/widget/sessions', { widget_key: inbox.widget_key, locale: 'en' }, 201, null);
    const vt = session.visitor_token;
    const msg = await call('POST', '/api/v1/widget/messages', { client_msg_id: randomUUID(), body: 'Where is my parcel?' }, 201, vt);
    const conv = `/api/v1/workspaces/${ws}/conversations/${msg.conversation_id}`;
    await call('POST', `${conv}/assign`, { assignee_id: me.id }, 200);
    await call('POST', `${conv}/messages`, { body: 'It ships today.', client_msg_id: randomUUID() }, 201);
    await call('POST', `${conv}/resolve`, undefined, 200);
    const rating = await call('POST', `/api/v1/widget/conversations/${msg.conversation_id}/rating`, { score, comment: 'Quick!' }, 200, vt);
    assert.equal(rating.score, score);
  }

  for (const [locale, timezoneId, shot] of [['zh-CN', 'Asia/Shanghai', 'console-analytics-zh-CN'], ['en-US', 'UTC', 'console-analytics-en']]) {
    await withConsole('#/analytics', { locale, timezoneId }, async (page) => {
      const csat = page.locator('[data-kpi=csat] .kpi-value');
      await csat.waitFor();
      assert.equal((await csat.textContent()).trim(), '4.5 / 5');
      // The whole range came from the API, in the browser's time zone.
      assert.equal((await page.locator('[data-kpi=conversations] .kpi-value').textContent()).trim(), '2');
      assert.match(await page.locator('.analytics-page > p.muted').textContent(), new RegExp(timezoneId.replace('/', '\\/')));
      assert.notEqual((await page.locator('[data-kpi=first-response] .kpi-value').textContent()).trim(), '—');
      assert.notEqual((await page.locator('[data-kpi=resolution] .kpi-value').textContent()).trim(), '—');

      // The charts: one bar per day, 24 per hour, 5 for the ratings; each
      // with a title and a table fallback.
      assert.equal(await page.locator('.chart-by-day .chart-bar').count(), 7);
      assert.equal(await page.locator('.chart-by-hour .chart-bar').count(), 24);
      assert.equal(await page.locator('.chart-csat .chart-bar').count(), 5);
      assert.equal(await page.locator('.chart-csat svg[role=img] title').first().textContent(), await page.locator('.chart-csat figcaption').textContent());
      const ratings = await page.locator('.chart-csat .chart-table tbody td').allTextContents();
      assert.deepEqual(ratings.map((s) => s.trim()), ['0', '0', '0', '1', '1']);

      // Per agent: the owner answered both and was rated twice.
      const row = page.locator('.breakdown-agents tbody tr', { hasText: 'Owner' });
      assert.equal((await row.locator('td').nth(0).textContent()).trim(), '2');
      assert.match(await row.locator('td').nth(3).textContent(), /4\.5.*2/);

      // The 30-day preset asks again and draws 30 days.
      await page.click('.range-form button[data-days="30"]');
      await page.waitForFunction(() => document.querySelectorAll('.chart-by-day .chart-bar').length === 30);
      assert.equal(await page.locator('.range-form button[data-days="30"]').getAttribute('aria-pressed'), 'true');
      await page.click('.range-form button[data-days="7"]');
      await page.waitForFunction(() => document.querySelectorAll('.chart-by-day .chart-bar').length === 7);
      await screenshot(page, shot);
    });
  }
});

test('analytics shows the bot\'s verified resolution with its definition', async () => {
  // A visitor on the bot's inbox asks; the bot answers from the article
  // written above, and the visitor marks the answer helpful: a confirmed
  // resolution, decided at once (no window to wait for).
  const inbox = (await call('GET', `/api/v1/workspaces/${ws}/inboxes`, undefined, 200)).find((i) => i.name === 'Website');
  const session = await call('POST', '/api/v1/widget/sessions', { widget_key: inbox.widget_key, locale: 'en' }, 201, null);
  const vt = session.visitor_token;
  const msg = await call('POST', '/api/v1/widget/messages', { client_msg_id: randomUUID(), body: 'How can I return an item?' }, 201, vt);
  const reply = await until(async () => {
    const page = await call('GET', `/api/v1/widget/conversations/${msg.conversation_id}/messages?after_seq=${msg.seq}`, undefined, 200, vt);
    return page.items.find((m) => m.sender.type === 'bot');
  }, 'the bot\'s answer');
  assert.equal(reply.decision, 'answer', JSON.stringify(reply));
  await call('POST', `/api/v1/widget/conversations/${msg.conversation_id}/messages/${reply.id}/feedback`, { helpful: true }, 200, vt);

  for (const [locale, definition] of [['zh-CN', /24 小时.*Intercom、Zendesk/], ['en-US', /within 24 hours of its last answer.*Intercom and Zendesk/]]) {
    await withConsole('#/analytics', { locale }, async (page) => {
      const figure = page.locator('[data-kpi=bot-resolution]');
      await figure.locator('.kpi-value').waitFor();
      assert.equal((await figure.locator('.kpi-value').textContent()).trim(), '100%');
      assert.equal(await figure.locator('[role=meter]').getAttribute('aria-valuenow'), '100');
      // The definition: a tooltip on the figure and a note in the bot card,
      // with the server's window (24 hours by default).
      assert.match(await figure.getAttribute('title'), definition);
      assert.match(await page.locator('.bot-card [data-definition=bot-resolution]').textContent(), definition);
      const cell = async (row) => (await page.locator(`.bot-card tr[data-row=${row}] td`).textContent()).trim();
      assert.deepEqual([await cell('resolved'), await cell('confirmed'), await cell('silent'), await cell('pending')], ['1', '1', '0', '0']);
      // Containment sits next to it, counted as before.
      assert.equal((await page.locator('[data-kpi=containment] .kpi-value').textContent()).trim(), '100%');
    });
  }
});

test('settings round trip: business hours, bot thresholds, a team, a canned response, article history', async () => {
  const inbox = (await call('GET', `/api/v1/workspaces/${ws}/inboxes`, undefined, 200)).find((i) => i.name === 'Website');
  await withConsole(`#/admin/inboxes/${inbox.id}`, {}, async (page) => {
    // Business hours: Monday to Friday 09:00-18:00 in Shanghai, then the offline form.
    await page.uncheck('.hours input[name=always_open]');
    await page.fill('.hours input[name=time_zone]', 'Asia/Shanghai');
    await page.fill('.hours-row input[name=close]', '24:00');
    await page.selectOption('.inbox-form select[name=offline_mode]', 'form');
    await page.click('.inbox-form button[type=submit]');
    await until(async () => (await call('GET', `/api/v1/workspaces/${ws}/inboxes/${inbox.id}`, undefined, 200)).offline_mode === 'form', 'the inbox saved');
    const saved = await call('GET', `/api/v1/workspaces/${ws}/inboxes/${inbox.id}`, undefined, 200);
    assert.deepEqual(saved.business_hours, { time_zone: 'Asia/Shanghai', intervals: [{ days: [1, 2, 3, 4, 5], open: '09:00', close: '24:00' }] });

    // Bot settings: a suggest threshold above the answer threshold is refused here.
    await page.goto(`${kefu.base}/#/admin/bot`);
    await page.fill('.bot-form input[name=answer_threshold]', '0.5');
    await page.fill('.bot-form input[name=suggest_threshold]', '0.7');
    await page.click('.bot-form button[type=submit]');
    await page.locator('.bot-form input[name=suggest_threshold][aria-invalid=true]').waitFor();
    await page.fill('.bot-form input[name=suggest_threshold]', '0.3');
    await page.fill('.bot-form textarea[name=handoff_phrases]', '找人工\nagent please');
    await page.click('.bot-form button[type=submit]');
    const bot = await until(async () => {
      const b = await call('GET', `/api/v1/workspaces/${ws}/bot/settings`, undefined, 200);
      return b.handoff_phrases.length === 2 && b;
    }, 'the bot settings saved');
    assert.equal(bot.answer_threshold, 0.5);
    assert.ok(Math.abs(bot.suggest_threshold - 0.3) < 1e-6);
    assert.deepEqual(bot.handoff_phrases, ['找人工', 'agent please']);

    // A team with the owner in it.
    await page.goto(`${kefu.base}/#/admin/teams`);
    const form = page.locator('.team-form[data-team-id=new]');
    await form.locator('input[name=name]').fill('Billing');
    await form.locator(`.member-checks input[value="${me.id}"]`).check();
    await form.locator('button[type=submit]').click();
    await page.locator('.team-form:not([data-team-id=new]) input[name=name]').waitFor();
    const teams = await call('GET', `/api/v1/workspaces/${ws}/teams`, undefined, 200);
    assert.deepEqual(teams.map((t) => [t.name, t.member_ids]), [['Billing', [me.id]]]);

    // A canned response for the composer's "/" menu.
    await page.goto(`${kefu.base}/#/admin/canned`);
    const canned = page.locator('.canned-form[data-canned-id=new]');
    await canned.locator('input[name=shortcut]').fill('/refund');
    await canned.locator('textarea[name=body]').fill('Your refund is on its way.');
    await canned.locator('button[type=submit]').click();
    await page.locator('.canned-form:not([data-canned-id=new])').waitFor();
    const { items } = await call('GET', `/api/v1/workspaces/${ws}/canned-responses`, undefined, 200);
    assert.deepEqual(items.map((c) => [c.shortcut, c.body]), [['refund', 'Your refund is on its way.']]);

    // Unpublish the article: version 2, and its history lists both versions.
    const [article] = (await call('GET', `/api/v1/workspaces/${ws}/kb/articles?status=published`, undefined, 200)).items
      .filter((a) => a.title === 'How do I return an item?');
    await page.goto(`${kefu.base}/#/admin/kb/${article.id}`);
    await page.locator('.kb-actions button', { hasText: 'Unpublish' }).click();
    await page.locator('.page-header .badge-muted', { hasText: 'Draft' }).waitFor();
    await page.click('.kb-history > summary');
    await page.locator('.kb-history tbody tr').nth(1).waitFor();
    assert.equal(await page.locator('.kb-history tbody tr').count(), 2);
  });
});

test('a first load fetches only the shell and the inbox; a page’s module, translations and styles come when it is opened', async () => {
  await withConsole('#/inbox', {}, async (page) => {
    const fetched = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith('/console/')) fetched.push(u.pathname);
    });
    await page.reload();
    await page.getByRole('tab', { name: 'All' }).waitFor();
    await page.waitForLoadState('networkidle');
    const lazy = /\/console\/(pages\/admin\/(?!index\.js)|pages\/analytics|pages\/charts|i18n\/admin|i18n\/analytics|admin\.css)/;
    assert.deepEqual(fetched.filter((p) => lazy.test(p)), [], 'nothing of the other pages on a first load');
    assert.ok(fetched.includes('/console/pages/inbox.js'));
    // The navigation is all there, translated, before any page module.
    const nav = page.getByRole('navigation');
    await nav.getByRole('link', { name: 'Members' }).click();
    await page.locator('.invite-form').waitFor();
    for (const p of ['/console/pages/admin/members.js', '/console/i18n/admin.js', '/console/admin.css']) {
      assert.ok(fetched.includes(p), `${p} loaded with the page`);
    }
    assert.equal(fetched.filter((p) => p.includes('/analytics')).length, 0);
    await nav.getByRole('link', { name: 'Analytics' }).click();
    await page.locator('[data-kpi=csat]').waitFor();
    assert.ok(fetched.includes('/console/pages/analytics.js'));
    // The admin styles apply (admin.css limits the invite form's width).
    await nav.getByRole('link', { name: 'Members' }).click();
    assert.equal(await page.locator('.invite-form').evaluate((el) => getComputedStyle(el).maxWidth), '820px');
  });
});

test('analytics and admin pages render at 360 px without horizontal page scroll', async () => {
  await withConsole('#/analytics', { width: 360 }, async (page) => {
    await page.locator('[data-kpi=csat] .kpi-value').waitFor();
    const overflow = await page.evaluate(() => document.querySelector('.main').scrollWidth - document.querySelector('.main').clientWidth);
    assert.ok(overflow <= 1, `analytics overflows by ${overflow}px`);
    await page.goto(`${kefu.base}/#/admin/kb`);
    await page.locator('.kb-table').waitFor();
    const kbOverflow = await page.evaluate(() => document.querySelector('.main').scrollWidth - document.querySelector('.main').clientWidth);
    assert.ok(kbOverflow <= 1, `knowledge base overflows by ${kbOverflow}px`);
  });
});
