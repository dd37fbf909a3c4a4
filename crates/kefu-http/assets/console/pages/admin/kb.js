// Knowledge base: the article list (search, status filter, index status),
// JSON Lines import and export, "test the bot" and the synonym list
// (kb-synonyms.js). The editor is in kb-editor.js.
//
// Routes: #/admin/kb (list), #/admin/kb/new, #/admin/kb/{id}.

import { h, clear, toast } from '../../lib/dom.js';
import { t, fmtDate } from '../../lib/i18n.js';
import { apiText, ApiError } from '../../lib/api.js';
import { errorText } from '../../lib/errors.js';
import { wsPath, pageFrame, card, busy, loadingEl, errorEl, loadAll, lifecycle } from './common.js';
import { askBox } from './bot-ask.js';
import { synonymsCard } from './kb-synonyms.js';
import { renderEditor, statusBadge, KB_PATH } from './kb-editor.js';

export default {
  path: KB_PATH,
  nav: 'nav.kb',
  roles: ['owner', 'admin', 'supervisor'],
  render(root, ctx) {
    const life = lifecycle();
    const [id] = ctx.params || [];
    if (id) renderEditor(root, ctx, life, id === 'new' ? null : id);
    else renderList(root, ctx, life);
    return life.stop;
  },
};

function renderList(root, ctx, life) {
  const { toolbar, body } = pageFrame(root, t('admin.kb.title'), t('admin.kb.intro'));
  const fileInput = h('input', {
    type: 'file', accept: '.jsonl,.ndjson,.json,.txt,application/x-ndjson', class: 'sr-only', id: 'kb-import-file',
    tabindex: '-1', 'aria-hidden': 'true',
  });
  const importBtn = h('button', { class: 'btn', type: 'button', 'on:click': () => fileInput.click() }, t('admin.kb.import'));
  const exportBtn = h('button', { class: 'btn', type: 'button', 'on:click': (e) => exportAll(ctx, e.currentTarget) }, t('admin.kb.export'));
  toolbar.append(
    h('a', { class: 'btn btn-primary', href: `${KB_PATH}/new` }, t('admin.kb.new')),
    importBtn, fileInput, exportBtn,
  );

  const status = h('div', { class: 'row kb-status', role: 'status', 'aria-live': 'polite' });
  const importResult = h('div', { class: 'import-result', 'aria-live': 'polite' });
  const search = h('input', {
    class: 'input', type: 'search', name: 'q', placeholder: t('admin.kb.search'), 'aria-label': t('admin.kb.search'),
  });
  const statusFilter = h('select', { class: 'select', name: 'status', 'aria-label': t('admin.kb.statusFilter') },
    h('option', { value: '' }, t('admin.kb.all')),
    h('option', { value: 'published' }, t('admin.kb.status.published')),
    h('option', { value: 'draft' }, t('admin.kb.status.draft')));
  const listBox = h('div', { class: 'kb-list' });
  const count = h('p', { class: 'muted small', 'aria-live': 'polite' });

  const articlesCard = card(t('admin.kb.articles'),
    h('div', { class: 'kb-filters' }, search, statusFilter), count, listBox);
  articlesCard.actions.append(status);
  body.append(importResult, h('div', { class: 'kb-layout' }, articlesCard.el,
    h('div', { class: 'stack-lg' }, askBox(ctx), synonymsCard(ctx, life))));

  let articles = [];
  const show = () => renderRows(listBox, count, articles, search.value);
  search.addEventListener('input', show);

  async function load() {
    clear(listBox).append(loadingEl());
    const q = statusFilter.value ? `?status=${statusFilter.value}` : '';
    try {
      articles = await loadAll(ctx, wsPath(ctx, `/kb/articles${q}`));
    } catch (e) {
      if (life.alive()) clear(listBox).append(errorEl(e, load));
      return;
    }
    if (life.alive()) show();
  }
  async function loadStatus() {
    try {
      const s = await ctx.api('GET', wsPath(ctx, '/kb/status'));
      if (!life.alive()) return;
      clear(status).append(
        h('span', { class: 'badge badge-info' }, t('admin.kb.statusPublished', { n: s.articles })),
        h('span', { class: 'badge badge-muted' }, t('admin.kb.statusIndexed', { n: s.indexed })),
        s.pending ? h('span', { class: 'badge badge-warn' }, t('admin.kb.statusPending', { n: s.pending }))
          : h('span', { class: 'badge badge-ok' }, t('admin.kb.statusReady')));
    } catch {
      clear(status);
    }
  }
  statusFilter.addEventListener('change', load);
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = '';
    if (!file) return;
    await importFile(ctx, file, importBtn, importResult);
    if (life.alive()) { load(); loadStatus(); }
  });
  load();
  loadStatus();
}

/** Fills the list with the articles matching `query` (title, questions, tags, category, body). */
function renderRows(listBox, count, articles, query) {
  const q = query.trim().toLowerCase();
  const hits = q ? articles.filter((a) => haystack(a).includes(q)) : articles;
  count.textContent = t('admin.kb.count', { n: hits.length, total: articles.length });
  clear(listBox);
  if (!articles.length) {
    listBox.append(h('div', { class: 'empty' }, t('admin.kb.empty'),
      h('div', null, h('a', { class: 'btn btn-primary btn-sm', href: `${KB_PATH}/new` }, t('admin.kb.new')))));
    return;
  }
  if (!hits.length) {
    listBox.append(h('div', { class: 'empty' }, t('admin.kb.noMatch')));
    return;
  }
  listBox.append(h('div', { class: 'scroll-x' }, h('table', { class: 'table kb-table' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, t('admin.kb.col.title')),
      h('th', { scope: 'col' }, t('admin.kb.col.status')),
      h('th', { scope: 'col' }, t('admin.kb.col.category')),
      h('th', { scope: 'col' }, t('admin.kb.col.locale')),
      h('th', { scope: 'col' }, t('admin.kb.col.updated')))),
    h('tbody', null, hits.map((a) => h('tr', { dataset: { articleId: a.id } },
      h('td', null, h('a', { href: `${KB_PATH}/${a.id}`, class: 'kb-title' }, a.title),
        a.tags.length ? h('div', { class: 'row kb-tags' }, a.tags.map((tag) => h('span', { class: 'badge badge-muted' }, tag))) : null),
      h('td', null, statusBadge(a.status)),
      h('td', null, a.category || ''),
      h('td', null, a.locale),
      h('td', { class: 'small muted' }, fmtDate(a.updated_at), ' · v', String(a.version))))))));
}

function haystack(a) {
  if (!a._hay) a._hay = [a.title, a.category, a.external_id, ...a.questions, ...a.tags, a.body].filter(Boolean).join('\n').toLowerCase();
  return a._hay;
}

/** POST …/kb/import with the file's text; shows the per-line result. */
async function importFile(ctx, file, btn, box) {
  clear(box);
  await busy(btn, async () => {
    const text = await file.text();
    const raw = await apiText('POST', wsPath(ctx, '/kb/import'), text, 'application/x-ndjson');
    box.append(importReport(file.name, JSON.parse(raw)));
    toast(t('admin.kb.imported'), 'success');
  }, (err) => {
    // The evaluation gate refused the import: its report is in details.
    const gate = err instanceof ApiError && err.code === 'eval_gate_failed' && err.details;
    box.append(h('div', { class: 'callout callout-danger stack-sm', role: 'alert' },
      h('strong', null, t('admin.kb.importFailed', { file: file.name })),
      h('p', null, errorText(err)),
      gate && gate.gate ? h('pre', { class: 'code' }, JSON.stringify(gate.gate, null, 2)) : null));
  });
}

/** The import's counts and its failed lines. */
function importReport(name, r) {
  const failed = r.failed || [];
  return h('section', { class: `callout ${failed.length ? 'callout-warn' : ''} stack-sm import-report`, 'aria-label': t('admin.kb.importResult') },
    h('strong', null, t('admin.kb.importDone', { file: name })),
    h('p', null, t('admin.kb.importCounts', {
      imported: r.imported, created: r.created, updated: r.updated, unchanged: r.unchanged, failed: failed.length,
    })),
    failed.length ? h('div', { class: 'scroll-x' }, h('table', { class: 'table' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col', class: 'num' }, t('admin.kb.line')),
        h('th', { scope: 'col' }, t('admin.kb.code')),
        h('th', { scope: 'col' }, t('admin.kb.message')))),
      h('tbody', null, failed.map((f) => h('tr', null,
        h('td', { class: 'num' }, String(f.line)),
        h('td', { class: 'mono small' }, f.code),
        h('td', null, f.message)))))) : null);
}

/** GET …/kb/export as a downloaded .jsonl file. */
async function exportAll(ctx, btn) {
  await busy(btn, async () => {
    const text = await apiText('GET', wsPath(ctx, '/kb/export'));
    const url = URL.createObjectURL(new Blob([text], { type: 'application/x-ndjson' }));
    const a = h('a', { href: url, download: `kefu-kb-${new Date().toISOString().slice(0, 10)}.jsonl`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
}
