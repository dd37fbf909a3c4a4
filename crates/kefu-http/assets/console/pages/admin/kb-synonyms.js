// The workspace's synonym list on the knowledge-base page: one group per
// line, terms separated by "/", ",", "，" or "、" (退货/退款; a tab too, as
// pasted from a spreadsheet). GET and PUT
// …/kb/synonyms; the saved list comes back cleaned and replaces the text.
// A refused list shows the API's reason for the line at fault (its
// `details.index` is the group's position among the lines sent).

import { h, toast } from '../../lib/dom.js';
import { t, has } from '../../lib/i18n.js';
import { ApiError } from '../../lib/api.js';
import { errorText } from '../../lib/errors.js';
import { wsPath, busy, field } from './common.js';

/** Splits the editor's text into groups; `lines[i]` is group i's line number (from 1). */
export function parseSynonyms(text) {
  const groups = [];
  const lines = [];
  String(text || '').split('\n').forEach((line, i) => {
    const terms = line.split(/[/,，、\t]/).map((s) => s.trim()).filter(Boolean);
    if (terms.length) {
      groups.push(terms);
      lines.push(i + 1);
    }
  });
  return { groups, lines };
}

/** Groups as the editor shows them: one a line, terms joined by " / ". */
export function formatSynonyms(groups) {
  return (groups || []).map((g) => g.join(' / ')).join('\n');
}

/** The card; loads the list itself. */
export function synonymsCard(ctx, life) {
  const text = h('textarea', {
    class: 'textarea synonyms-text', name: 'synonyms', rows: 6, spellcheck: 'false',
    placeholder: '退货 / 退款\n发票，开票', disabled: true,
  });
  const save = h('button', { class: 'btn btn-primary', type: 'submit', disabled: true }, t('admin.kb.syn.save'));
  const error = h('div', { class: 'form-error synonyms-error', role: 'alert' });
  const count = h('span', { class: 'muted small synonyms-count', 'aria-live': 'polite' });
  const form = h('form', { class: 'stack-sm synonyms-form', novalidate: true },
    field(t('admin.kb.syn.label'), text, t('admin.kb.syn.hint')),
    error,
    h('div', { class: 'row' }, count, h('span', { class: 'spacer' }), save));

  const show = (groups) => {
    text.value = formatSynonyms(groups);
    count.textContent = t('admin.kb.syn.count', { n: groups.length });
  };
  (async () => {
    try {
      const r = await ctx.api('GET', wsPath(ctx, '/kb/synonyms'));
      if (!life.alive()) return;
      show(r.groups);
      text.disabled = false;
      save.disabled = false;
    } catch (e) {
      if (life.alive()) error.textContent = errorText(e);
    }
  })();

  text.addEventListener('input', () => text.removeAttribute('aria-invalid'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    text.removeAttribute('aria-invalid');
    const { groups, lines } = parseSynonyms(text.value);
    await busy(save, async () => {
      const r = await ctx.api('PUT', wsPath(ctx, '/kb/synonyms'), { groups });
      if (!life.alive()) return;
      show(r.groups);
      toast(t('admin.kb.syn.saved'), 'success');
    }, (err) => {
      error.textContent = refusal(err, lines);
      const line = err instanceof ApiError && err.details ? lines[err.details.index] : undefined;
      if (line) {
        text.setAttribute('aria-invalid', 'true');
        selectLine(text, line);
      }
    });
  });

  return h('section', { class: 'card synonyms-card', 'aria-labelledby': 'synonyms-title' },
    h('div', { class: 'card-header' }, h('h2', { class: 'card-title', id: 'synonyms-title' }, t('admin.kb.syn.title'))),
    h('div', { class: 'card-body' }, h('p', { class: 'muted small' }, t('admin.kb.syn.intro')), form));
}

/** The refusal in the UI's language, with the line it is about; else the API's own message. */
function refusal(err, lines) {
  if (!(err instanceof ApiError)) return errorText(err);
  const key = `admin.kb.syn.err.${err.code}`;
  if (!has(key)) return err.message || errorText(err);
  const d = err.details || {};
  return t(key, { line: lines[d.index], limit: d.limit, count: d.count, term: d.term });
}

/** Selects line `n` (from 1) of a textarea and scrolls it into view. */
function selectLine(textarea, n) {
  const all = textarea.value.split('\n');
  const start = all.slice(0, n - 1).reduce((sum, l) => sum + l.length + 1, 0);
  textarea.focus();
  textarea.setSelectionRange(start, start + (all[n - 1] || '').length);
}
