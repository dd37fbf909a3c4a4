// "Test the bot": asks POST …/bot/ask (nothing is stored) and shows the
// decision, the confidence, the answer and its citations — what a visitor
// would get for this question — and the ranked hits the decision was made
// on: each article's score, confidence, passage anchor and snippet. Used on
// the knowledge-base and bot pages.

import { h, clear } from '../../lib/dom.js';
import { t } from '../../lib/i18n.js';
import { wsPath, busy, field, select, showFieldErrors } from './common.js';
import { renderInto } from '../../lib/markdown.js';

const DECISION_BADGE = { answer: 'badge-ok', suggest: 'badge-warn', handoff: 'badge-danger' };

/** The card element. */
export function askBox(ctx) {
  const question = h('input', {
    class: 'input', name: 'question', type: 'text', required: true, maxlength: 2000, autocomplete: 'off',
    placeholder: t('admin.ask.placeholder'),
  });
  const lang = select('locale', [['', t('admin.ask.localeAuto')], ['zh-CN', '中文'], ['en', 'English']], '');
  lang.classList.add('select-sm');
  const ask = h('button', { class: 'btn btn-primary', type: 'submit' }, t('admin.ask.submit'));
  const error = h('div', { class: 'form-error', role: 'alert' });
  const result = h('div', { class: 'ask-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'stack-sm ask-form', novalidate: true },
    field(t('admin.ask.question'), question),
    h('div', { class: 'row' }, field(t('admin.ask.locale'), lang), h('span', { class: 'spacer' }), ask),
    error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const q = question.value.trim();
    if (!q) {
      question.focus();
      return;
    }
    const body = { question: q, locale: lang.value || undefined };
    await busy(ask, async () => {
      const answer = await ctx.api('POST', wsPath(ctx, '/bot/ask'), body);
      clear(result).append(renderAnswer(answer));
    }, (err) => showFieldErrors(form, error, err));
  });
  return h('section', { class: 'card ask-card', 'aria-labelledby': 'ask-title' },
    h('div', { class: 'card-header' }, h('h2', { class: 'card-title', id: 'ask-title' }, t('admin.ask.title'))),
    h('div', { class: 'card-body' }, h('p', { class: 'muted small' }, t('admin.ask.intro')), form, result));
}

/** The bot's answer: decision, confidence, answer text, citations, suggestions, reason. */
function renderAnswer(a) {
  const pct = Math.round((a.confidence || 0) * 100);
  const refs = (title, list) => list && list.length
    ? h('div', { class: 'stack-sm' }, h('h3', null, title),
      h('ul', { class: 'ask-refs' }, list.map((r) => h('li', null,
        h('a', { href: `#/admin/kb/${encodeURIComponent(r.article_id)}` }, r.title),
        r.external_id ? h('span', { class: 'muted small' }, ` (${r.external_id})`) : null))))
    : null;
  const answer = renderInto(h('div', { class: 'md ask-answer' }), a.answer || '');
  return h('div', { class: 'stack-sm ask-answer-box', dataset: { decision: a.decision } },
    h('div', { class: 'row' },
      h('span', { class: `badge ${DECISION_BADGE[a.decision] || 'badge-muted'} ask-decision` }, t(`admin.ask.decision.${a.decision}`)),
      h('span', { class: 'small' }, t('admin.ask.confidence', { pct })),
      h('span', { class: 'meter ask-meter', role: 'img', 'aria-label': t('admin.ask.confidence', { pct }) },
        h('span', { class: 'meter-fill', style: { width: `${pct}%` } })),
      a.reason ? h('span', { class: 'muted small' }, t(`admin.ask.reason.${a.reason}`)) : null),
    a.answer ? answer : null,
    refs(t('admin.ask.citations'), a.citations),
    refs(t('admin.ask.suggestions'), a.suggestions),
    !a.answer && !(a.citations || []).length && !(a.suggestions || []).length
      ? h('p', { class: 'muted' }, t('admin.ask.nothing')) : null,
    hitList(a.hits));
}

/** The ranked hits: title, passage anchor, score, confidence and snippet. */
function hitList(hits) {
  if (!hits || !hits.length) return null;
  return h('div', { class: 'stack-sm' }, h('h3', null, t('admin.ask.hits')),
    h('ol', { class: 'ask-hits' }, hits.map((x) => h('li', { class: 'ask-hit', dataset: { articleId: x.article_id } },
      h('div', { class: 'row ask-hit-head' },
        h('a', { href: `#/admin/kb/${encodeURIComponent(x.article_id)}` }, x.title),
        x.anchor ? h('span', { class: 'mono small muted ask-hit-anchor', title: t('admin.ask.anchor') }, `#${x.anchor}`) : null,
        h('span', { class: 'spacer' }),
        h('span', { class: 'small muted ask-hit-score' }, t('admin.ask.score', { score: Number(x.score).toFixed(3) })),
        h('span', { class: 'small ask-hit-confidence' }, t('admin.ask.confidence', { pct: Math.round((x.confidence || 0) * 100) }))),
      x.snippet ? h('p', { class: 'small ask-snippet' }, x.snippet) : null))));
}
