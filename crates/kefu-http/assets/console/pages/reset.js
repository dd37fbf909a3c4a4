// Setting a new password from an e-mailed reset link, signed out:
// `#/reset?token=…` (POST /auth/password-reset/confirm). Every session of
// the account ends; the page then offers the sign-in.

import { api } from '../lib/api.js';
import { t, locale, setLocale, LOCALES } from '../lib/i18n.js';
import { h, clear, icon } from '../lib/dom.js';
import { errorText } from '../lib/errors.js';

export function renderReset(root, { token, onDone }) {
  clear(root);
  const error = h('div', { class: 'form-error', role: 'alert', 'aria-live': 'assertive', id: 'reset-error' });
  const password = h('input', {
    class: 'input', type: 'password', name: 'new_password', id: 'reset-password',
    autocomplete: 'new-password', required: true, 'aria-describedby': 'reset-hint reset-error',
  });
  const again = h('input', {
    class: 'input', type: 'password', name: 'again', id: 'reset-again', autocomplete: 'new-password', required: true,
  });
  const submit = h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, t('reset.submit'));

  async function onSubmit(e) {
    e.preventDefault();
    error.textContent = '';
    if (!password.value) return password.focus();
    if (password.value !== again.value) {
      error.textContent = t('reset.mismatch');
      return again.focus();
    }
    submit.disabled = true;
    try {
      await api('POST', '/auth/password-reset/confirm', { token, new_password: password.value });
    } catch (err) {
      const reason = err.details && err.details.fields && err.details.fields.new_password;
      error.textContent = err.code === 'invalid_reset_token'
        ? t('reset.invalid')
        : reason ? t('accept.reason.' + reason) : errorText(err);
      submit.disabled = false;
      password.focus();
      return;
    }
    onDone();
  }

  const langSelect = h(
    'select',
    { class: 'select select-sm', 'aria-label': t('shell.language'), 'on:change': (e) => setLocale(e.target.value) },
    LOCALES.map((l) => h('option', { value: l, selected: l === locale() }, t('lang.' + l))),
  );
  const body = token
    ? h('form', { class: 'stack', 'on:submit': onSubmit, novalidate: true, 'aria-label': t('reset.title') },
      h('div', { class: 'field' }, h('label', { class: 'label', for: 'reset-password' }, t('reset.password')), password,
        h('p', { class: 'hint', id: 'reset-hint' }, t('accept.passwordHint'))),
      h('div', { class: 'field' }, h('label', { class: 'label', for: 'reset-again' }, t('reset.again')), again),
      error,
      submit)
    : h('p', { class: 'form-error', role: 'alert' }, t('reset.invalid'));
  root.append(
    h('main', { class: 'login-page' },
      h('div', { class: 'card login-card' },
        h('div', { class: 'login-head' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, icon('chat')), h('h1', null, t('reset.title'))),
        body,
        h('div', { class: 'row-between' }, h('a', { href: '/' }, t('accept.toLogin')), langSelect))),
  );
  if (token) password.focus();
}
