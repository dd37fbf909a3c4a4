// The knowledge-base article editor: title, Markdown body with a live
// preview, alternative questions, tags, category, locale, external id;
// save (as draft or published), publish/unpublish, delete, and the
// version history (view an old version, load it back into the form).
//
// Saving an existing article sends the version it was loaded at, so a
// colleague's newer save is never overwritten silently (409
// version_conflict → the user reloads).

import { h, clear, toast } from '../../lib/dom.js';
import { t, fmtDateTime } from '../../lib/i18n.js';
import {
  wsPath, pageFrame, card, field, input, select, busy, confirmAction, loadingEl, errorEl,
  showFieldErrors, clearErrors, lines, commaList,
} from './common.js';
import { renderInto } from '../../lib/markdown.js';

export const KB_PATH = '#/admin/kb';

/** Published / draft badge. */
export function statusBadge(status) {
  return h('span', { class: `badge ${status === 'published' ? 'badge-ok' : 'badge-muted'}` }, t(`admin.kb.status.${status}`));
}

/** Renders the editor for article `id` (null: a new one). */
export async function renderEditor(root, ctx, life, id) {
  if (!id) return editorForm(root, ctx, life, null);
  clear(root).append(h('div', { class: 'page' }, loadingEl()));
  try {
    const article = await ctx.api('GET', wsPath(ctx, `/kb/articles/${encodeURIComponent(id)}`));
    if (life.alive()) editorForm(root, ctx, life, article);
  } catch (e) {
    if (life.alive()) {
      clear(root).append(h('div', { class: 'page stack' },
        h('a', { class: 'btn', href: KB_PATH }, t('admin.back')),
        errorEl(e, () => renderEditor(root, ctx, life, id))));
    }
  }
}

function editorForm(root, ctx, life, article) {
  const creating = !article;
  const { toolbar, body } = pageFrame(root, creating ? t('admin.kb.new') : t('admin.kb.editTitle'));
  toolbar.append(h('a', { class: 'btn', href: KB_PATH }, t('admin.back')));
  if (!creating) toolbar.prepend(statusBadge(article.status), h('span', { class: 'muted small' }, `v${article.version}`));

  const title = input('title', article?.title, { required: true, maxlength: 300, autocomplete: 'off' });
  const text = h('textarea', { class: 'textarea md-source', name: 'body', rows: 16, spellcheck: 'true' }, article?.body || '');
  const preview = h('div', { class: 'md md-preview', 'aria-live': 'off', tabindex: '0', 'aria-label': t('admin.kb.preview') });
  const questions = h('textarea', { class: 'textarea', name: 'questions', rows: 4 }, (article?.questions || []).join('\n'));
  const tags = input('tags', (article?.tags || []).join(', '), { autocomplete: 'off' });
  const category = input('category', article?.category || '', { autocomplete: 'off' });
  const locales = [['', t('admin.kb.localeAuto')], ['zh-CN', '中文 (zh-CN)'], ['en', 'English (en)']];
  // Keep an article's other locale (e.g. from an import) selectable.
  if (article?.locale && !locales.some(([v]) => v === article.locale)) locales.push([article.locale, article.locale]);
  const locale = select('locale', locales, article?.locale || '');
  const externalId = input('external_id', article?.external_id || '', { autocomplete: 'off', spellcheck: 'false' });
  const error = h('div', { class: 'form-error', role: 'alert' });

  // The preview follows the text (debounced a little for long articles).
  let timer = null;
  const refresh = () => renderInto(preview, text.value);
  text.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(refresh, 120); });
  refresh();

  const state = { version: article?.version ?? null, status: article?.status || 'draft' };
  const form = h('form', { class: 'stack kb-form', novalidate: true },
    field(t('admin.kb.fTitle'), title),
    h('div', { class: 'md-editor' },
      field(t('admin.kb.fBody'), text, t('admin.kb.bodyHint')),
      h('div', { class: 'field' }, h('span', { class: 'label', 'aria-hidden': 'true' }, t('admin.kb.preview')), preview)),
    field(t('admin.kb.fQuestions'), questions, t('admin.kb.questionsHint')),
    h('div', { class: 'grid kb-meta' },
      field(t('admin.kb.fTags'), tags, t('admin.kb.tagsHint')),
      field(t('admin.kb.fCategory'), category),
      field(t('admin.kb.fLocale'), locale),
      field(t('admin.kb.fExternalId'), externalId, t('admin.kb.externalIdHint'))),
    error);

  /** The request body from the form, with `status`. */
  const payload = (status) => ({
    title: title.value.trim(),
    body: text.value,
    questions: lines(questions.value),
    tags: commaList(tags.value),
    category: category.value.trim() || null,
    locale: locale.value || null,
    external_id: externalId.value.trim() || null,
    status,
    ...(creating ? {} : { version: state.version }),
  });

  async function save(btn, status) {
    clearErrors(form, error);
    if (!title.value.trim()) {
      showFieldErrors(form, error, { code: 'validation_failed', details: { fields: { title: 'required' } } });
      title.focus();
      return;
    }
    await busy(btn, async () => {
      const saved = creating
        ? await ctx.api('POST', wsPath(ctx, '/kb/articles'), payload(status))
        : await ctx.api('PUT', wsPath(ctx, `/kb/articles/${article.id}`), payload(status));
      toast(status === 'published' ? t('admin.kb.publishedToast') : t('admin.kb.savedToast'), 'success');
      if (creating) ctx.navigate(`${KB_PATH}/${saved.id}`);
      else if (life.alive()) editorForm(root, ctx, life, saved);
    }, (err) => {
      showFieldErrors(form, error, err);
      if (err.code === 'version_conflict') {
        error.append(' ', h('button', {
          type: 'button', class: 'btn btn-sm', 'on:click': () => renderEditor(root, ctx, life, article.id),
        }, t('admin.kb.reload')));
      }
    });
  }

  const actions = h('div', { class: 'row kb-actions' });
  if (creating) {
    const draft = h('button', { type: 'button', class: 'btn', 'on:click': (e) => save(e.currentTarget, 'draft') }, t('admin.kb.saveDraft'));
    const publish = h('button', { type: 'button', class: 'btn btn-primary', 'on:click': (e) => save(e.currentTarget, 'published') }, t('admin.kb.publish'));
    actions.append(publish, draft);
  } else {
    const published = state.status === 'published';
    actions.append(
      h('button', { type: 'button', class: 'btn btn-primary', 'on:click': (e) => save(e.currentTarget, state.status) }, t('action.save')),
      h('button', { type: 'button', class: 'btn', 'on:click': (e) => save(e.currentTarget, published ? 'draft' : 'published') },
        published ? t('admin.kb.unpublish') : t('admin.kb.publish')),
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'btn btn-danger', 'on:click': (e) => remove(e.currentTarget) }, t('admin.delete')),
    );
  }
  form.append(actions);
  // Enter in a one-line field saves without publishing anything new: a new
  // article as a draft, an existing one with its current status.
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    save(actions.querySelector(creating ? '.btn:not(.btn-primary)' : '.btn-primary'), creating ? 'draft' : state.status);
  });

  async function remove(btn) {
    const ok = await confirmAction(t('admin.kb.deleteTitle'), t('admin.kb.deleteConfirm', { title: article.title }), t('admin.delete'));
    if (!ok) return;
    await busy(btn, async () => {
      await ctx.api('DELETE', wsPath(ctx, `/kb/articles/${article.id}`));
      toast(t('admin.deleted'), 'success');
      ctx.navigate(KB_PATH);
    });
  }

  const main = card(t('admin.kb.article'), form);
  body.append(main.el);
  if (!creating) body.append(historyCard(ctx, life, article, (v) => {
    title.value = v.title;
    text.value = v.body;
    questions.value = v.questions.join('\n');
    if (v.external_id !== undefined) externalId.value = v.external_id || '';
    refresh();
    title.focus();
    toast(t('admin.kb.restored', { version: v.version }), 'info');
  }));
  if (creating) title.focus();
}

/** The version history, loaded when opened; "load into the editor" per version. */
function historyCard(ctx, life, article, restore) {
  const list = h('div', { class: 'stack-sm' });
  const details = h('details', { class: 'kb-history' },
    h('summary', null, t('admin.kb.history')), list);
  let loaded = false;
  details.addEventListener('toggle', async () => {
    if (!details.open || loaded) return;
    loaded = true;
    list.append(loadingEl());
    try {
      const versions = await ctx.api('GET', wsPath(ctx, `/kb/articles/${article.id}/versions`));
      if (!life.alive()) return;
      clear(list).append(versionTable(versions.slice().reverse(), article.version, restore));
    } catch (e) {
      loaded = false;
      clear(list).append(errorEl(e));
    }
  });
  return h('section', { class: 'card' }, details);
}

function versionTable(versions, current, restore) {
  const view = h('div', { class: 'version-view' });
  const rows = versions.map((v) => h('tr', null,
    h('td', { class: 'num' }, `v${v.version}`),
    h('td', null, fmtDateTime(v.created_at)),
    h('td', null, t(`admin.actor.${v.author_kind}`)),
    h('td', null, v.deleted ? h('span', { class: 'badge badge-danger' }, t('admin.kb.deleted')) : statusBadge(v.status)),
    h('td', { class: 'truncate' }, v.title),
    h('td', null, h('div', { class: 'row' },
      h('button', { type: 'button', class: 'btn btn-sm', 'on:click': () => showVersion(view, v) }, t('admin.kb.view')),
      v.version !== current && !v.deleted
        ? h('button', { type: 'button', class: 'btn btn-sm', 'on:click': () => restore(v) }, t('admin.kb.loadVersion'))
        : null))));
  return h('div', { class: 'stack' },
    h('div', { class: 'scroll-x' }, h('table', { class: 'table' },
      h('thead', null, h('tr', null, ['version', 'date', 'author', 'status', 'title', 'actions']
        .map((k) => h('th', { scope: 'col' }, t(`admin.kb.vcol.${k}`))))),
      h('tbody', null, rows))),
    view);
}

function showVersion(view, v) {
  const md = renderInto(h('div', { class: 'md' }), v.body);
  clear(view).append(h('article', { class: 'card version-card stack-sm', 'aria-label': `v${v.version}` },
    h('h3', null, `v${v.version} · ${v.title}`),
    v.questions.length ? h('p', { class: 'muted small' }, t('admin.kb.fQuestions'), ': ', v.questions.join(' / ')) : null,
    md));
}
