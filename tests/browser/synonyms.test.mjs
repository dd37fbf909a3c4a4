// The synonym list on the console's knowledge-base page: an admin writes
// groups one per line, a refused line is named and selected, a saved list
// comes back cleaned, and "test the bot" on the same page then finds an
// article by a word it does not use (退款 for an article about 退货); the
// API's search agrees.
//
// Run: cd tests/browser && KEFU_ASSETS_DIR=../../crates/kefu-http/assets node --test synonyms.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKefu, api, launch, screenshot, PASSWORD, withConsole as sharedWithConsole } from './lib/harness.mjs';

const WAIT = 20000; // generous: CI runs on 2 cores

let kefu;
let browser;
let token;
let ws;
let article;

/** JSON call as the owner, asserting the status. */
async function call(method, path, body, status) {
  const r = await api(kefu.base, method, path, { token, body });
  assert.equal(r.status, status, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** External ids of `kb/search` hits for `q`. */
async function search(q) {
  const r = await call('GET', `/api/v1/workspaces/${ws}/kb/search?q=${encodeURIComponent(q)}`, undefined, 200);
  return r.hits.map((hit) => hit.article_id);
}

before(async () => {
  kefu = await startKefu();
  browser = await launch();
  const r = await api(kefu.base, 'POST', '/api/v1/auth/login', { body: { email: kefu.owner.email, password: PASSWORD } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  token = r.body.access_token;
  ws = kefu.owner.workspaceId;
  // Only ever says 退货 (returns), never 退款 (refund).
  article = await call('POST', `/api/v1/workspaces/${ws}/kb/articles`, {
    title: '退货流程',
    body: '在订单详情页点击“申请退货”，寄回商品后三个工作日内处理完毕。',
    questions: ['怎么退货', '退货要多久'],
  }, 201);
});

after(async () => {
  await browser?.close();
  await kefu?.stop();
});

/** Runs `fn(page)` in the owner's signed-in console page (see the harness). */
function withConsole(hash, opts, fn) {
  return sharedWithConsole(browser, kefu, hash, { wait: WAIT, height: 900, ...opts }, fn);
}

/** Asks "test the bot" (after clearing the last answer) and returns the new answer box. */
async function ask(page, question) {
  await page.evaluate(() => document.querySelector('.ask-result').replaceChildren());
  await page.fill('.ask-form input[name=question]', question);
  await page.click('.ask-form button[type=submit]');
  const box = page.locator('.ask-answer-box');
  await box.waitFor();
  return box;
}

test('an admin edits the synonym list; a refused line is named, and the saved list changes what the bot finds', async () => {
  assert.ok(!(await search('退款')).includes(article.id), 'no synonyms yet: 退款 does not find the article');

  await withConsole('#/admin/kb', {}, async (page) => {
    const card = page.locator('.synonyms-card');
    const text = card.locator('textarea[name=synonyms]');
    await page.waitForFunction(() => {
      const t = document.querySelector('.synonyms-card textarea');
      return t && !t.disabled;
    });
    assert.equal(await text.inputValue(), '');
    assert.match(await card.locator('.hint').textContent(), /“\/”, “,”, “，” or “、”/);

    // Before: the bot finds nothing for 退款.
    let box = await ask(page, '退款');
    assert.equal(await box.locator(`.ask-refs a[href="#/admin/kb/${article.id}"]`).count(), 0, await box.textContent());

    // A group of one term is refused: the message names its line, which is selected.
    await text.fill('退货 / 退款\n发票\n');
    await card.locator('button[type=submit]').click();
    const error = card.locator('.synonyms-error');
    await page.waitForFunction(() => document.querySelector('.synonyms-error').textContent !== '');
    assert.equal(await error.textContent(), 'Line 2 has one term (发票); a group needs at least two.');
    assert.equal(await text.getAttribute('aria-invalid'), 'true');
    assert.equal(await text.evaluate((t) => t.value.slice(t.selectionStart, t.selectionEnd)), '发票');
    assert.deepEqual(await call('GET', `/api/v1/workspaces/${ws}/kb/synonyms`, undefined, 200), { groups: [] });

    // Fixed and saved (separators of every kind, a repeat): the list comes back cleaned.
    await text.fill('退货 / 退款 / 退款\n\n发票，开票, invoice\n快递、物流\n');
    await card.locator('button[type=submit]').click();
    await page.waitForFunction(() => document.querySelector('.synonyms-card textarea').value.startsWith('退货 / 退款\n'));
    assert.equal(await text.inputValue(), '退货 / 退款\n发票 / 开票 / invoice\n快递 / 物流');
    assert.equal(await error.textContent(), '');
    assert.equal(await text.getAttribute('aria-invalid'), null);
    assert.equal((await card.locator('.synonyms-count').textContent()).trim(), '3 groups');
    assert.deepEqual(await call('GET', `/api/v1/workspaces/${ws}/kb/synonyms`, undefined, 200), {
      groups: [['退货', '退款'], ['发票', '开票', 'invoice'], ['快递', '物流']],
    });
    await screenshot(page, 'console-kb-synonyms');

    // After: the bot on the same page cites the article for 退款, and search agrees.
    box = await ask(page, '退款');
    await box.locator(`.ask-refs a[href="#/admin/kb/${article.id}"]`).first().waitFor();
    assert.equal((await search('退款'))[0], article.id);

    // A reload shows the saved list.
    await page.reload();
    await page.waitForFunction(() => document.querySelector('.synonyms-card textarea')?.value.startsWith('退货 / 退款'));
  });
});

test('the synonym card speaks Chinese', async () => {
  await withConsole('#/admin/kb', { locale: 'zh-CN' }, async (page) => {
    const card = page.locator('.synonyms-card');
    await page.waitForFunction(() => {
      const t = document.querySelector('.synonyms-card textarea');
      return t && !t.disabled;
    });
    assert.equal((await card.locator('.card-title').textContent()).trim(), '同义词');
    assert.match(await card.locator('.hint').textContent(), /每行一组/);
    await card.locator('textarea[name=synonyms]').fill('退货 / 退款\n发票\n');
    await card.locator('button[type=submit]').click();
    await page.waitForFunction(() => document.querySelector('.synonyms-error').textContent !== '');
    assert.equal(await card.locator('.synonyms-error').textContent(), '第 2 行只有一个词（发票），每组至少需要两个词。');
  });
});
