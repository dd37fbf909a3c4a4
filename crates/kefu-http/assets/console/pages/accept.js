// Accepting an invitation, signed out: `/#/accept?token=…` (the link the
// members page gives; in the hash, so the token is never sent to a server
// or kept in its logs). The invitee chooses a name and a password; we call
// POST /invitations/accept, then sign in with the invitation's e-mail.
//
// Someone who already has a Kefu account with that e-mail enters its
// password instead (the server checks it; the name is not changed).

import { api, login } from '../lib/api.js';
import { t, locale, setLocale, LOCALES } from '../lib/i18n.js';
import { h, clear, icon } from '../lib/dom.js';
import { errorText } from '../lib/errors.js';

/**
 * Fills `root` with the form for invitation `token`. `onJoined(user,
 * signedIn)` follows a successful accept: signedIn is false when the
 * sign-in after it did not work (a second factor asked for, say).
 */
export function renderAccept(root, { token, onJoined }) {
  clear(root);
  const error = h('div', { class: 'form-error', role: 'alert', 'aria-live': 'assertive', id: 'accept-error' });
  const nameError = h('p', { class: 'field-error', id: 'accept-name-error', hidden: true });
  const passwordError = h('p', { class: 'field-error', id: 'accept-password-error', hidden: true });
  const name = h('input', {
    class: 'input',
    type: 'text',
    name: 'name',
    id: 'accept-name',
    autocomplete: 'name',
    required: true,
    maxlength: '100',
    'aria-describedby': 'accept-name-error accept-error',
  });
  const password = h('input', {
    class: 'input',
    type: 'password',
    name: 'password',
    id: 'accept-password',
    autocomplete: 'new-password',
    required: true,
    'aria-describedby': 'accept-password-hint accept-password-error accept-error',
  });
  const submit = h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, t('accept.submit'));

  /** Shows the answer's field reasons next to the fields, the rest below. */
  function showErrors(err) {
    const fields = (err && err.details && err.details.fields) || {};
    for (const [input, box, key] of [[name, nameError, 'name'], [password, passwordError, 'password']]) {
      const reason = fields[key];
      box.hidden = !reason;
      box.textContent = reason ? reasonText(reason) : '';
      if (reason) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
    error.textContent = err ? messageFor(err) : '';
    error.hidden = !error.textContent;
  }
  showErrors(null);

  async function onSubmit(e) {
    e.preventDefault();
    showErrors(null);
    if (!name.value.trim()) {
      showErrors({ code: 'validation_failed', details: { fields: { name: 'required' } } });
      name.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t('accept.busy');
    let user;
    try {
      user = await api('POST', '/invitations/accept', { token, name: name.value.trim(), password: password.value });
    } catch (err) {
      showErrors(err);
      const fields = (err.details && err.details.fields) || {};
      (fields.name ? name : password).focus();
      submit.disabled = false;
      submit.textContent = t('accept.submit');
      return;
    }
    let signedIn = true;
    try {
      await login(user.email, password.value);
    } catch {
      signedIn = false;
    }
    onJoined(user, signedIn);
  }

  const langSelect = h(
    'select',
    { class: 'select select-sm', 'aria-label': t('shell.language'), 'on:change': (e) => setLocale(e.target.value) },
    LOCALES.map((l) => h('option', { value: l, selected: l === locale() }, t('lang.' + l))),
  );

  const body = token
    ? h(
      'form',
      // novalidate: our translated messages, not the browser's (in its own language).
      { class: 'stack', 'on:submit': onSubmit, novalidate: true, 'aria-label': t('accept.title') },
      h('div', { class: 'field' }, h('label', { class: 'label', for: 'accept-name' }, t('accept.name')), name, nameError),
      h(
        'div',
        { class: 'field' },
        h('label', { class: 'label', for: 'accept-password' }, t('accept.password')),
        password,
        h('p', { class: 'hint', id: 'accept-password-hint' }, t('accept.passwordHint')),
        passwordError,
      ),
      error,
      submit,
    )
    : h('p', { class: 'form-error', role: 'alert' }, t('accept.noToken'));

  root.append(
    h(
      'main',
      { class: 'login-page' },
      h(
        'div',
        { class: 'card login-card' },
        h('div', { class: 'login-head' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, icon('chat')), h('h1', null, t('accept.title'))),
        h('p', { class: 'muted' }, t('accept.subtitle')),
        body,
        h('div', { class: 'row-between' }, h('a', { href: '/' }, t('accept.toLogin')), langSelect),
      ),
    ),
  );
  if (token) name.focus();
}

/** The sentence for a refused accept. */
function messageFor(err) {
  if (err.code === 'invitation_not_found') return t('accept.invalid');
  if (err.code === 'invalid_credentials') return t('accept.wrongPassword');
  if (err.code === 'validation_failed') return '';
  return errorText(err);
}

/** A field's validation reason in words. */
function reasonText(reason) {
  return ['required', 'too_short', 'too_long', 'too_simple', 'too_common', 'too_similar', 'unchanged'].includes(reason)
    ? t('accept.reason.' + reason)
    : t('accept.reason.invalid');
}
