// The owner's data export in the console: the JSON Lines and CSV buttons
// stream the file (the status shows bytes and records as they arrive, then
// "Done"), save it as a download with the server's file name, and the
// downloaded file holds the workspace's records; only owners see the page.
//
// Run: cd tests/browser && KEFU_ASSETS_DIR=../../crates/kefu-http/assets node --test export.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { startKefu, api, launch, screenshot, PASSWORD, consoleAt as sharedConsoleAt } from './lib/harness.mjs';

const WAIT = 20000; // generous: CI runs on 2 cores
const CONVERSATIONS = 3;
const MESSAGES = 40; // per conversation, from the visitor

let kefu;
let browser;
let token;
let ws;

/** JSON call (as the owner unless `as`), asserting the status. */
async function call(method, path, body, status, as = token) {
  const r = await api(kefu.base, method, path, { token: as, body });
  assert.equal(r.status, status, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

before(async () => {
  kefu = await startKefu();
  browser = await launch();
  const r = await api(kefu.base, 'POST', '/api/v1/auth/login', { body: { email: kefu.owner.email, password: PASSWORD } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  token = r.body.access_token;
  ws = kefu.owner.workspaceId;
  // Visitors with Chinese names and messages, an agent's reply and a
  // private note in each conversation, and an article.
  const inbox = await call('POST', `/api/v1/workspaces/${ws}/inboxes`, { name: '官网', channel: 'web', bot_enabled: false }, 201);
  for (let c = 0; c < CONVERSATIONS; c++) {
    const session = await call('POST', '/api/v1/widget/sessions', { widget_key: inbox.widget_key, locale: 'zh-CN' }, 201, null);
    const vt = session.visitor_token;
    await call('PUT', '/api/v1/widget/contact', { name: `访客${c}, "老客户"`, email: `v${c}@example.cn` }, 200, vt);
    let conv;
    for (let i = 1; i <= MESSAGES; i++) {
      const m = await call('POST', '/api/v1/widget/messages', { client_msg_id: randomUUID(), body: `第${i}条：我的订单还没到` }, 201, vt);
      conv = m.conversation_id;
    }
    const base = `/api/v1/workspaces/${ws}/conversations/${conv}`;
    await call('POST', `${base}/messages`, { body: '马上为您查询', client_msg_id: randomUUID() }, 201);
    await call('POST', `${base}/messages`, { body: `内部备注 ${c}`, private: true, client_msg_id: randomUUID() }, 201);
  }
  await call('POST', `/api/v1/workspaces/${ws}/kb/articles`, { title: '如何申请退款', body: '在订单详情页点击“申请退款”。' }, 201);
});

after(async () => {
  await browser?.close();
  await kefu?.stop();
});

/** A signed-in console at `hash` (fresh context; page errors collected; see the harness). */
function consoleAt(hash, opts = {}) {
  return sharedConsoleAt(browser, kefu, hash, { wait: WAIT, width: 1280, height: 860, ...opts });
}

/**
 * Clicks the button named `label` and waits for the download; returns it
 * with every text the status showed on the way (a MutationObserver
 * records them, so even a quick stream's progress is seen).
 */
async function exportVia(page, label) {
  await page.evaluate(() => {
    window.__exportStatus = [];
    const el = document.querySelector('.export-status');
    new MutationObserver(() => window.__exportStatus.push(el.textContent))
      .observe(el, { childList: true, subtree: true, characterData: true });
  });
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: label }).click(),
  ]);
  await page.locator('.export-status[data-state=done]').waitFor();
  const seen = await page.evaluate(() => window.__exportStatus);
  return { download, seen, text: readFileSync(await download.path(), 'utf8') };
}

test('JSON Lines: the progress counts bytes and records, then the whole workspace is saved', async () => {
  const { context, page, errors } = await consoleAt('#/inbox');
  try {
    await page.getByRole('navigation').getByRole('link', { name: 'Data export' }).click();
    await page.getByRole('heading', { name: 'Export workspace data' }).waitFor();
    const { download, seen, text } = await exportVia(page, 'Download JSON Lines');

    assert.match(download.suggestedFilename(), new RegExp(`^kefu-export-${ws}-\\d{8}\\.jsonl$`));
    const records = text.trimEnd().split('\n').map((l) => JSON.parse(l));
    const count = (type) => records.filter((r) => r.type === type).length;
    const perConversation = MESSAGES + 2;
    assert.equal(count('contact'), CONVERSATIONS);
    assert.equal(count('conversation'), CONVERSATIONS);
    assert.equal(count('message'), CONVERSATIONS * perConversation);
    assert.equal(count('article'), 1);
    assert.ok(records.some((r) => r.type === 'message' && r.private && r.body === '内部备注 0'), 'private notes included');
    assert.ok(records.some((r) => r.type === 'contact' && r.name === '访客1, "老客户"'));
    // The same bytes the API serves.
    const res = await fetch(`${kefu.base}/api/v1/workspaces/${ws}/export`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(await res.text(), text);

    // Progress while receiving (bytes and a record count that only grows),
    // then "Done" with the file name and the totals.
    const receiving = seen.filter((s) => s.startsWith('Receiving:'));
    assert.ok(receiving.length >= 1, `progress shown: ${JSON.stringify(seen)}`);
    const counts = receiving.map((s) => Number(/, ([\d,]+) records/.exec(s)[1].replace(/,/g, '')));
    assert.deepEqual([...counts].sort((a, b) => a - b), counts, 'records counted up');
    assert.match(receiving[0], /^Receiving: [\d.,]+ (B|KB|MB), [\d,]+ records$/);
    const done = await page.locator('.export-status').textContent();
    const name = download.suggestedFilename().replace(/[.]/g, '\\.');
    assert.match(done, new RegExp(`^Done: ${name} \\([\\d.,]+ (B|KB|MB), ${records.length} records\\)$`));
    assert.ok(await page.getByRole('button', { name: 'Download CSV' }).isEnabled(), 'buttons usable again');
    await screenshot(page, 'console-export-en');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('CSV: one row per conversation, UTF-8 with a BOM, Chinese and quotes intact; in zh-CN', async () => {
  const { context, page, errors } = await consoleAt('#/admin/export', { locale: 'zh-CN' });
  try {
    await page.getByRole('heading', { name: '导出工作区数据' }).waitFor();
    const { download, seen, text } = await exportVia(page, '下载 CSV');
    assert.match(download.suggestedFilename(), /\.csv$/);
    assert.ok(text.startsWith('\uFEFF'), 'a byte-order mark for Excel');
    const rows = text.slice(1).trimEnd().split('\r\n');
    assert.equal(rows.length, 1 + CONVERSATIONS);
    assert.ok(rows[0].startsWith('id,status,inbox_id,inbox,contact_id,contact_name,contact_email,'), rows[0]);
    assert.ok(rows.some((r) => r.includes(',官网,') && r.includes('"访客2, ""老客户"""')), rows.join('\n'));
    assert.ok(seen.some((s) => s.startsWith('正在接收')), JSON.stringify(seen));
    assert.match(await page.locator('.export-status').textContent(), new RegExp(`^已完成：.*\\.csv（.+，${CONVERSATIONS} 条记录）$`));
    await screenshot(page, 'console-export-zh-CN');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
  // Every export is in the audit log (the console's two, and the first
  // test's own fetch for comparison).
  const log = await call('GET', `/api/v1/workspaces/${ws}/audit-log`, undefined, 200);
  assert.deepEqual(
    log.items.filter((e) => e.action === 'workspace.exported').map((e) => e.details.format),
    ['csv', 'jsonl', 'jsonl'],
  );
});

test('only owners have the page: an admin sees no link, and the API refuses them', async () => {
  const invitation = await call('POST', `/api/v1/workspaces/${ws}/invitations`, { email: 'admin@example.com', role: 'admin' }, 201);
  await call('POST', '/api/v1/invitations/accept', { token: invitation.token, name: 'Admin Li', password: PASSWORD }, 201, null);
  const { context, page, errors } = await consoleAt('#/admin/members', { email: 'admin@example.com' });
  try {
    const nav = page.getByRole('navigation');
    await nav.getByRole('link', { name: 'Audit log' }).waitFor();
    assert.equal(await nav.getByRole('link', { name: 'Data export' }).count(), 0);
    const status = await page.evaluate(async (path) => (await fetch(path)).status, `/api/v1/workspaces/${ws}/export`);
    assert.equal(status, 403);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
