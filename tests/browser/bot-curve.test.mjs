// The bot settings page in a real browser against a real server: an admin
// uploads an evaluation file, sees the threshold curve drawn as SVG with the
// current thresholds marked and the same numbers in a table, clicks a point
// and sees the threshold field take its value (then saves it); and "test the
// bot" shows the ranked hits with their scores, anchors and snippets.
//
// Run: cd tests/browser && KEFU_ASSETS_DIR=../../crates/kefu-http/assets node --test bot-curve.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKefu, api, launch, screenshot, PASSWORD, withConsole as sharedWithConsole } from './lib/harness.mjs';

const WAIT = 20000; // generous: CI runs on 2 cores

let kefu;
let browser;
let token;
let ws;

const ARTICLES = [
  {
    external_id: 'returns',
    title: 'Returning an item',
    body: '## Return window\n\nYou can return any item within 30 days of delivery.\n\n## How to return\n\nOpen My orders, choose the order and press Return. Print the label and drop the parcel at any post office.',
    questions: ['Can I send my order back?'],
    locale: 'en',
  },
  {
    external_id: 'invoice',
    title: '如何开具发票',
    body: '在订单详情页点击“申请发票”，填写发票抬头和税号，电子发票会发送到您的邮箱。',
    questions: ['怎么开发票'],
    locale: 'zh-CN',
  },
  {
    external_id: 'password',
    title: 'Reset your password',
    body: 'Open the sign-in page, click Forgot password and follow the link we e-mail you.',
    questions: ['I forgot my password'],
    locale: 'en',
  },
];

const EVAL = [
  { question: 'How do I return an item?', expected_external_id: 'returns', locale: 'en' },
  { question: '发票怎么开', expected_external_id: 'invoice', locale: 'zh-CN' },
  { question: 'I cannot remember my password', expected_external_id: 'password', locale: 'en' },
  { question: '今天北京天气怎么样', expected_external_id: null, locale: 'zh-CN' },
  { question: 'who won the football match yesterday', expected_external_id: null, locale: 'en' },
].map((c) => JSON.stringify(c)).join('\n') + '\n';

before(async () => {
  kefu = await startKefu();
  browser = await launch();
  const r = await api(kefu.base, 'POST', '/api/v1/auth/login', { body: { email: kefu.owner.email, password: PASSWORD } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  token = r.body.access_token;
  ws = kefu.owner.workspaceId;
  for (const a of ARTICLES) {
    const c = await api(kefu.base, 'POST', `/api/v1/workspaces/${ws}/kb/articles`, { token, body: a });
    assert.equal(c.status, 201, JSON.stringify(c.body));
  }
});

after(async () => {
  await browser?.close();
  await kefu?.stop();
});

/** Runs `fn(page)` in the owner's signed-in console page (see the harness). */
function withConsole(hash, opts, fn) {
  return sharedWithConsole(browser, kefu, hash, { wait: WAIT, height: 1000, ...opts }, fn);
}

async function upload(page, text = EVAL) {
  await page.setInputFiles('#bot-eval-file', {
    name: 'eval.jsonl', mimeType: 'application/x-ndjson', buffer: Buffer.from(text),
  });
}

test('the threshold curve: upload an evaluation file, see the curve with the thresholds marked, pick a threshold from it', async () => {
  await withConsole('#/admin/bot', {}, async (page) => {
    await page.locator('.bot-form').waitFor();
    await upload(page);
    const svg = page.locator('.curve-card svg.curve-svg');
    await svg.waitFor();
    assert.equal(await svg.getAttribute('role'), 'img');
    assert.match(await svg.locator('title').first().textContent(), /Coverage and off-topic hand-off/);
    // Two lines of 21 points each, axis labels and a legend.
    assert.equal(await svg.locator('polyline.curve-line').count(), 2);
    for (const cls of ['curve-coverage', 'curve-handoff']) {
      const pts = (await svg.locator(`polyline.${cls}`).getAttribute('points')).trim().split(/\s+/);
      assert.equal(pts.length, 21, cls);
    }
    assert.equal(await svg.locator('.curve-point').count(), 21);
    assert.ok(await svg.locator('text', { hasText: 'Threshold' }).count() >= 1, 'x axis label');
    assert.equal(await svg.locator('text', { hasText: 'Share of questions' }).count(), 1, 'y axis label');
    const legend = page.locator('.curve-card .curve-legend li');
    assert.equal(await legend.count(), 3);
    assert.match(await legend.first().textContent(), /Coverage/);
    const summary = await page.locator('.curve-report > p').first().textContent();
    assert.match(summary, /eval\.jsonl: 5 questions \(3 in scope, 2 off-topic\)/);

    // The current thresholds (0.8 answer, 0.4 suggest: the defaults) are marked, on the
    // chart and in the table.
    const suggestMark = svg.locator('.curve-marker-suggest');
    const answerMark = svg.locator('.curve-marker-answer');
    assert.equal(await suggestMark.getAttribute('data-value'), '0.40');
    assert.equal(await answerMark.getAttribute('data-value'), '0.80');
    const x = async (m) => Number(await m.locator('line').getAttribute('x1'));
    assert.ok(await x(suggestMark) < await x(answerMark));

    // The table has the same numbers as the API.
    const api_ = await page.evaluate(async ([path, body]) => {
      const csrf = document.cookie.split(';').map((c) => c.trim().split('=')).find(([k]) => k === 'kefu_csrf')[1];
      const r = await fetch(path, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson', 'x-csrf-token': decodeURIComponent(csrf) } });
      return r.json();
    }, [`/api/v1/workspaces/${ws}/kb/eval`, EVAL]);
    assert.equal(api_.curve.length, 21);
    const rows = page.locator('.curve-table tbody tr');
    assert.equal(await rows.count(), 21);
    const pct = (v) => `${(Math.round(v * 1000) / 10).toFixed(1)}%`;
    for (const i of [0, 4, 12, 20]) {
      const p = api_.curve[i];
      const cells = (await rows.nth(i).locator('td').allTextContents()).map((c) => c.trim());
      assert.deepEqual(cells.slice(0, 5),
        [pct(p.coverage), pct(p.off_topic_handoff), pct(p.outright), pct(p.answer_precision), String(p.answered)], `row ${i}`);
    }
    const current = page.locator('.curve-table tr.curve-row-current');
    assert.deepEqual(await current.evaluateAll((trs) => trs.map((tr) => tr.dataset.threshold)), ['0.40', '0.80']);
    // At 0 every in-scope question with a hit is covered.
    assert.equal((await rows.nth(0).locator('td').first().textContent()).trim(), '100.0%');

    // A click on the point at 0.35 puts it into the suggest field; the mark follows.
    const suggest = page.locator('.bot-form input[name=suggest_threshold]');
    const answer = page.locator('.bot-form input[name=answer_threshold]');
    await svg.locator('.curve-point[data-threshold="0.35"]').click();
    assert.equal(await suggest.inputValue(), '0.35');
    assert.equal(await answer.inputValue(), '0.8');
    await page.waitForFunction(() => document.querySelector('.curve-marker-suggest').dataset.value === '0.35');
    assert.match(await page.locator('.curve-status').textContent(), /Suggest threshold set to 0\.35/);

    // Switched to the answer threshold, a table row's button sets that one.
    await page.check('input[name=curve-target][value=answer]');
    await page.locator('.curve-table tr[data-threshold="0.90"] button').click();
    assert.equal(await answer.inputValue(), '0.90');
    assert.equal(await suggest.inputValue(), '0.35');
    await page.waitForFunction(() => document.querySelector('.curve-marker-answer').dataset.value === '0.90');
    await page.evaluate(() => document.querySelector('.curve-card').scrollIntoView());
    await screenshot(page, 'console-bot-curve');

    // Typing in the form moves the marks too.
    await suggest.fill('0.5');
    await page.waitForFunction(() => document.querySelector('.curve-marker-suggest').dataset.value === '0.50');

    // Saving is the form's, as before.
    await page.click('.bot-form button[type=submit]');
    const saved = async () => {
      const r = await api(kefu.base, 'GET', `/api/v1/workspaces/${ws}/bot/settings`, { token });
      return Math.abs(r.body.answer_threshold - 0.9) < 1e-6 && Math.abs(r.body.suggest_threshold - 0.5) < 1e-6;
    };
    const end = Date.now() + WAIT;
    while (!(await saved())) {
      assert.ok(Date.now() < end, 'the thresholds picked from the curve were saved');
      await new Promise((r) => setTimeout(r, 100));
    }

    // A file that is not JSON Lines: a message, no chart.
    await upload(page, '{"question": "ok", "expected_external_id": null}\nnot json\n');
    const alert = page.locator('.curve-card [role=alert]');
    await alert.waitFor();
    assert.match(await alert.textContent(), /eval\.jsonl/);
    assert.match(await alert.textContent(), /line 2/);
    assert.equal(await page.locator('.curve-card svg.curve-svg').count(), 0);
  });
});

test('the curve in Chinese: the same chart with zh-CN labels', async () => {
  await withConsole('#/admin/bot', { locale: 'zh-CN' }, async (page) => {
    await page.locator('.bot-form').waitFor();
    await upload(page);
    const svg = page.locator('.curve-card svg.curve-svg');
    await svg.waitFor();
    assert.equal(await svg.locator('text', { hasText: '问题占比' }).count(), 1);
    assert.match(await page.locator('.curve-card .card-title').textContent(), /阈值曲线/);
    // The saved thresholds (0.9, 0.5) are the ones marked now.
    assert.equal(await svg.locator('.curve-marker-answer').getAttribute('data-value'), '0.90');
    assert.equal(await svg.locator('.curve-marker-suggest').getAttribute('data-value'), '0.50');
  });
});

test('"test the bot" shows the decision and the ranked hits with score, confidence, anchor and snippet', async () => {
  await withConsole('#/admin/bot', {}, async (page) => {
    await page.fill('.ask-form input[name=question]', 'How long do I have to return an item?');
    await page.click('.ask-form button[type=submit]');
    const box = page.locator('.ask-answer-box');
    await box.waitFor();
    assert.ok(['answer', 'suggest', 'handoff'].includes(await box.getAttribute('data-decision')));
    const hits = box.locator('.ask-hit');
    await hits.first().waitFor();
    const returns = await api(kefu.base, 'GET', `/api/v1/workspaces/${ws}/kb/articles`, { token });
    const id = returns.body.items.find((a) => a.external_id === 'returns').id;
    const top = hits.first();
    assert.equal(await top.getAttribute('data-article-id'), id);
    assert.equal((await top.locator('a').textContent()).trim(), 'Returning an item');
    assert.match(await top.locator('.ask-hit-anchor').textContent(), /^#\S+/);
    assert.match(await top.locator('.ask-hit-score').textContent(), /^score \d+\.\d{3}$/);
    assert.match(await top.locator('.ask-hit-confidence').textContent(), /^Confidence \d+%$/);
    assert.match(await top.locator('.ask-snippet').textContent(), /return/i);
    await screenshot(page, 'console-bot-ask-hits');

    // A hand-off phrase: handed off before retrieval, so no hits.
    await page.fill('.ask-form input[name=question]', 'I want to talk to a real person');
    await page.click('.ask-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('.ask-answer-box')?.dataset.decision === 'handoff');
    assert.equal(await page.locator('.ask-hit').count(), 0);
  });
});
