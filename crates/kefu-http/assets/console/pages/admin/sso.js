// Single sign-on (GET/PUT/DELETE …/sso/oidc): the workspace's OpenID
// provider — issuer, client id and secret (write-only: the server only
// says whether one is stored), scopes, on/off — and who may join on their
// first sign-in (verified e-mail domains, with a role). Shows the redirect
// URI to register at the provider and the sign-in link to hand out.

import { h, clear, toast } from '../../lib/dom.js';
import { t } from '../../lib/i18n.js';
import {
  wsPath, pageFrame, card, field, input, select, toggle, busy, copyBlock, confirmAction, loadingEl, errorEl,
  showFieldErrors, clearErrors, lifecycle,
} from './common.js';

export default {
  path: '#/admin/sso',
  nav: 'nav.sso',
  roles: ['owner', 'admin'],
  render(root, ctx) {
    const life = lifecycle();
    render(root, ctx, life);
    return life.stop;
  },
};

async function render(root, ctx, life) {
  const { body } = pageFrame(root, t('admin.sso.title'), t('admin.sso.intro'));
  body.append(loadingEl());
  let config = null;
  try {
    config = await ctx.api('GET', wsPath(ctx, '/sso/oidc'));
  } catch (e) {
    if (e.code !== 'oidc_config_not_found') {
      if (life.alive()) clear(body).append(errorEl(e, () => render(root, ctx, life)));
      return;
    }
  }
  if (!life.alive()) return;
  const rerender = () => render(root, ctx, life);
  clear(body).append(settingsForm(ctx, config, rerender));
  if (config) body.append(linksCard(config));
}

function settingsForm(ctx, c, rerender) {
  const issuer = input('issuer', c ? c.issuer : '', { type: 'url', required: true, placeholder: 'https://login.example.com', spellcheck: 'false' });
  const clientId = input('client_id', c ? c.client_id : '', { required: true, autocomplete: 'off', spellcheck: 'false' });
  const secret = input('client_secret', '', {
    type: 'password',
    autocomplete: 'new-password',
    placeholder: c && c.client_secret_set ? t('admin.sso.secretKept') : '',
  });
  const scopes = input('scopes', c ? c.scopes.join(' ') : 'openid email profile', { spellcheck: 'false' });
  const enabled = toggle('enabled', t('admin.sso.enabled'), c ? c.enabled : true);
  const domains = input('jit_domains', c ? c.jit_domains.join(', ') : '', { placeholder: 'example.com', spellcheck: 'false' });
  const role = select('jit_role', ['agent', 'supervisor', 'admin'].map((r) => [r, t(`admin.role.${r}`)]), c ? c.jit_role : 'agent');
  const error = h('div', { class: 'form-error', role: 'alert' });
  const save = h('button', { class: 'btn btn-primary', type: 'submit' }, t('action.save'));
  const remove = c
    ? h('button', {
      class: 'btn btn-danger',
      type: 'button',
      'on:click': async (e) => {
        const btn = e.currentTarget;
        if (!(await confirmAction(t('admin.sso.removeTitle'), t('admin.sso.removeConfirm'), t('admin.remove')))) return;
        await busy(btn, async () => {
          await ctx.api('DELETE', wsPath(ctx, '/sso/oidc'));
          toast(t('admin.deleted'), 'success');
          rerender();
        });
      },
    }, t('admin.sso.remove'))
    : null;
  const form = h('form', { class: 'stack-sm sso-form', novalidate: true },
    field(t('admin.sso.issuer'), issuer, t('admin.sso.issuerHint')),
    h('div', { class: 'grid-2' },
      field(t('admin.sso.clientId'), clientId),
      field(t('admin.sso.clientSecret'), secret, c && c.client_secret_set ? t('admin.sso.secretSet') : t('admin.sso.secretHint'))),
    field(t('admin.sso.scopes'), scopes, t('admin.sso.scopesHint')),
    enabled,
    h('fieldset', { class: 'field fieldset' }, h('legend', { class: 'label' }, t('admin.sso.jit')),
      h('p', { class: 'hint' }, t('admin.sso.jitHint')),
      h('div', { class: 'grid-2' }, field(t('admin.sso.domains'), domains, t('admin.sso.domainsHint')), field(t('admin.sso.role'), role))),
    error, h('div', { class: 'row' }, save, remove));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form, error);
    const payload = {
      issuer: issuer.value.trim(),
      client_id: clientId.value.trim(),
      scopes: scopes.value.split(/[\s,]+/).filter(Boolean),
      enabled: enabled.input.checked,
      jit_domains: domains.value.split(/[\s,;]+/).filter(Boolean),
      jit_role: role.value,
    };
    if (secret.value) payload.client_secret = secret.value;
    await busy(save, async () => {
      await ctx.api('PUT', wsPath(ctx, '/sso/oidc'), payload);
      toast(t('admin.saved'), 'success');
      rerender();
    }, (err) => showFieldErrors(form, error, err));
  });
  return card(t('admin.sso.provider'), form).el;
}

function linksCard(c) {
  return card(t('admin.sso.links'),
    h('p', { class: 'hint' }, t('admin.sso.redirectHint')),
    copyBlock(c.redirect_uri, t('admin.sso.redirectUri'), { 'data-sso-redirect': '' }),
    h('p', { class: 'hint' }, t('admin.sso.loginHint')),
    copyBlock(c.login_url, t('admin.sso.loginUrl'), { 'data-sso-login': '' }),
  ).el;
}
