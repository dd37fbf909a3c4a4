// API tokens: create with scopes and an optional expiry (the secret is
// shown once), list, revoke.

import { h, clear, toast } from '../../lib/dom.js';
import { t, fmtDate } from '../../lib/i18n.js';
import {
  wsPath, pageFrame, card, field, input, busy, copyBlock, confirmAction, loadingEl, errorEl, showFieldErrors,
  clearErrors, lifecycle,
} from './common.js';

export const SCOPES = [
  'workspace:read', 'workspace:admin', 'tokens:manage', 'audit:read',
  'conversations:read', 'conversations:write', 'kb:read', 'kb:write', 'analytics:read', 'export:read',
];

export default {
  path: '#/admin/tokens',
  nav: 'nav.tokens',
  roles: ['owner', 'admin'],
  render(root, ctx) {
    const life = lifecycle();
    const { body } = pageFrame(root, t('admin.tokens.title'), t('admin.tokens.intro'));
    const listBox = h('div');
    const reload = () => loadTokens(ctx, life, listBox);
    body.append(createCard(ctx, reload), card(t('admin.tokens.list'), listBox).el);
    reload();
    return life.stop;
  },
};

function createCard(ctx, reload) {
  const name = input('name', '', { required: true, maxlength: 100, autocomplete: 'off' });
  const expires = input('expires_in_days', '', { type: 'number', min: 1, max: 3650, step: 1, inputmode: 'numeric', placeholder: '90' });
  const boxes = SCOPES.map((s) => h('label', { class: 'check scope-check' },
    h('input', { type: 'checkbox', name: 'scopes', value: s }),
    h('span', { class: 'mono small' }, s), h('span', { class: 'muted small' }, t(`admin.scope.${s}`))));
  const error = h('div', { class: 'form-error', role: 'alert' });
  const result = h('div', { 'aria-live': 'polite' });
  const create = h('button', { class: 'btn btn-primary', type: 'submit' }, t('admin.create'));
  const form = h('form', { class: 'stack-sm token-form', novalidate: true },
    h('div', { class: 'grid-2' }, field(t('admin.tokens.name'), name), field(t('admin.tokens.expires'), expires, t('admin.tokens.expiresHint'))),
    h('fieldset', { class: 'field fieldset' }, h('legend', { class: 'label' }, t('admin.tokens.scopes')),
      h('div', { class: 'scope-checks' }, boxes),
      h('p', { class: 'field-error', hidden: true })),
    error, h('div', { class: 'row' }, create));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form, error);
    const scopes = [...form.querySelectorAll('input[name=scopes]:checked')].map((b) => b.value);
    const bad = {};
    if (!name.value.trim()) bad.name = 'required';
    if (!scopes.length) bad.scopes = 'required';
    if (Object.keys(bad).length) {
      showFieldErrors(form, error, { code: 'validation_failed', details: { fields: bad } });
      return;
    }
    const payload = { name: name.value.trim(), scopes };
    if (expires.value) payload.expires_in_days = Number(expires.value);
    await busy(create, async () => {
      const tok = await ctx.api('POST', wsPath(ctx, '/api-tokens'), payload);
      clear(result).append(h('div', { class: 'callout callout-warn stack-sm token-secret' },
        h('strong', null, t('admin.tokens.created', { name: tok.name })),
        h('p', { class: 'small' }, t('admin.tokens.once')),
        copyBlock(tok.token, t('admin.tokens.secret'), { 'data-token-secret': '' })));
      form.reset();
      reload();
    }, (err) => showFieldErrors(form, error, err));
  });
  return card(t('admin.tokens.new'), form, result).el;
}

async function loadTokens(ctx, life, box) {
  clear(box).append(loadingEl());
  let tokens;
  try {
    tokens = await ctx.api('GET', wsPath(ctx, '/api-tokens'));
  } catch (e) {
    if (life.alive()) clear(box).append(errorEl(e, () => loadTokens(ctx, life, box)));
    return;
  }
  if (!life.alive()) return;
  const reload = () => loadTokens(ctx, life, box);
  if (!tokens.length) {
    clear(box).append(h('p', { class: 'muted' }, t('admin.tokens.empty')));
    return;
  }
  clear(box).append(h('div', { class: 'scroll-x' }, h('table', { class: 'table tokens-table' },
    h('thead', null, h('tr', null, ['name', 'prefix', 'scopes', 'created', 'expires', 'lastUsed', 'state']
      .map((k) => h('th', { scope: 'col' }, t(`admin.tokens.col.${k}`))),
    h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, t('admin.actions'))))),
    h('tbody', null, tokens.map((tok) => tokenRow(ctx, tok, reload))))));
}

function tokenRow(ctx, tok, reload) {
  const expired = tok.expires_at && new Date(tok.expires_at) < new Date();
  const state = tok.revoked_at ? ['badge-danger', 'revoked'] : expired ? ['badge-warn', 'expired'] : ['badge-ok', 'active'];
  return h('tr', null,
    h('td', null, tok.name),
    h('td', { class: 'mono small' }, `${tok.prefix}…`),
    h('td', null, h('div', { class: 'row' }, tok.scopes.map((s) => h('span', { class: 'badge badge-muted mono' }, s)))),
    h('td', { class: 'small' }, fmtDate(tok.created_at)),
    h('td', { class: 'small' }, tok.expires_at ? fmtDate(tok.expires_at) : t('admin.tokens.never')),
    h('td', { class: 'small' }, tok.last_used_at ? fmtDate(tok.last_used_at) : t('admin.tokens.neverUsed')),
    h('td', null, h('span', { class: `badge ${state[0]}` }, t(`admin.tokens.state.${state[1]}`))),
    h('td', null, tok.revoked_at ? null : h('button', {
      class: 'btn btn-sm btn-danger',
      'aria-label': t('admin.tokens.revokeWho', { name: tok.name }),
      'on:click': async (e) => {
        const btn = e.currentTarget;
        if (!(await confirmAction(t('admin.tokens.revokeTitle'), t('admin.tokens.revokeConfirm', { name: tok.name }), t('admin.revoke')))) return;
        await busy(btn, async () => {
          await ctx.api('DELETE', wsPath(ctx, `/api-tokens/${tok.id}`));
          toast(t('admin.revoked'), 'success');
          reload();
        });
      },
    }, t('admin.revoke'))));
}
