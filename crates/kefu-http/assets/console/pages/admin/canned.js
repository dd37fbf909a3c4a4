// Canned responses: the saved replies agents insert with "/shortcut" in
// the composer. Create, edit in place, delete (owner, admin, supervisor).

import { h, clear, toast } from '../../lib/dom.js';
import { t } from '../../lib/i18n.js';
import {
  wsPath, pageFrame, card, field, input, busy, confirmAction, loadingEl, errorEl, showFieldErrors, clearErrors, lifecycle,
} from './common.js';

const SHORTCUT = /^[A-Za-z0-9_-]{1,40}$/;

export default {
  path: '#/admin/canned',
  nav: 'nav.canned',
  roles: ['owner', 'admin', 'supervisor'],
  render(root, ctx) {
    const life = lifecycle();
    render(root, ctx, life);
    return life.stop;
  },
};

async function render(root, ctx, life) {
  const { body } = pageFrame(root, t('admin.canned.title'), t('admin.canned.intro'));
  body.append(loadingEl());
  let items;
  try {
    items = (await ctx.api('GET', wsPath(ctx, '/canned-responses'))).items;
  } catch (e) {
    if (life.alive()) clear(body).append(errorEl(e, () => render(root, ctx, life)));
    return;
  }
  if (!life.alive()) return;
  const reload = () => render(root, ctx, life);
  clear(body).append(cannedForm(ctx, null, reload));
  if (!items.length) body.append(h('div', { class: 'empty' }, t('admin.canned.empty')));
  for (const item of items) body.append(cannedForm(ctx, item, reload));
}

/** A card to create (item null) or edit one canned response. */
function cannedForm(ctx, item, reload) {
  const creating = !item;
  const shortcut = input('shortcut', item?.shortcut || '', { required: true, maxlength: 40, autocomplete: 'off', spellcheck: 'false', placeholder: 'refund' });
  const title = input('title', item?.title || '', { maxlength: 200, autocomplete: 'off' });
  const text = h('textarea', { class: 'textarea', name: 'body', rows: 3, maxlength: 5000, required: true }, item?.body || '');
  const error = h('div', { class: 'form-error', role: 'alert' });
  const save = h('button', { class: 'btn btn-primary', type: 'submit' }, creating ? t('admin.create') : t('action.save'));
  const form = h('form', { class: 'stack-sm canned-form', novalidate: true, dataset: { cannedId: item?.id || 'new' } },
    h('div', { class: 'grid-2' },
      field(t('admin.canned.shortcut'), shortcut, t('admin.canned.shortcutHint')),
      field(t('admin.canned.titleField'), title)),
    field(t('admin.canned.body'), text),
    error,
    h('div', { class: 'row' }, save, creating ? null : h('button', {
      type: 'button', class: 'btn btn-danger', 'on:click': (e) => remove(ctx, item, e.currentTarget, reload),
    }, t('admin.delete'))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form, error);
    const bad = {};
    const sc = shortcut.value.trim().replace(/^\//, '');
    if (!SHORTCUT.test(sc)) bad.shortcut = sc ? 'invalid_shortcut' : 'required';
    if (!text.value.trim()) bad.body = 'required';
    if (Object.keys(bad).length) {
      showFieldErrors(form, error, { code: 'validation_failed', details: { fields: bad } });
      return;
    }
    // An empty title clears it on PATCH; a new response simply has none.
    const payload = { shortcut: sc, title: title.value.trim() || (creating ? undefined : ''), body: text.value.trim() };
    await busy(save, async () => {
      if (creating) await ctx.api('POST', wsPath(ctx, '/canned-responses'), payload);
      else await ctx.api('PATCH', wsPath(ctx, `/canned-responses/${item.id}`), payload);
      toast(creating ? t('admin.canned.created') : t('admin.saved'), 'success');
      reload();
    }, (err) => showFieldErrors(form, error, err));
  });
  return card(creating ? t('admin.canned.new') : `/${item.shortcut}`, form).el;
}

async function remove(ctx, item, btn, reload) {
  if (!(await confirmAction(t('admin.canned.deleteTitle'), t('admin.canned.deleteConfirm', { shortcut: item.shortcut }), t('admin.delete')))) return;
  await busy(btn, async () => {
    await ctx.api('DELETE', wsPath(ctx, `/canned-responses/${item.id}`));
    toast(t('admin.deleted'), 'success');
    reload();
  });
}
