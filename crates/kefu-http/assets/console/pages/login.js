// The sign-in page: e-mail and password; when the server answers
// `totp_required` (or `invalid_totp`) a code field appears and the same
// request is sent again with `totp`. When an administrator required a new
// password (`password_change_required`) a new-password field appears and
// the form signs in through `POST /auth/password`. Errors are shown by
// their code (or the new password's reason), translated, in an alert
// region next to the form.
//
// "Sign in with SSO": the workspace's id (remembered in this browser, or
// given by a `#/login?sso=<id>` link) and off to
// /api/v1/auth/oidc/{id}/start; the identity provider sends the browser
// back signed in, or to `#/login?sso_error=<code>`, shown here translated.

import { api, login, loginWithNewPassword } from '../lib/api.js';
import { t, locale, setLocale, LOCALES } from '../lib/i18n.js';
import { h, clear, icon } from '../lib/dom.js';
import { errorText } from '../lib/errors.js';
import { parseHash } from '../lib/router.js';

const SSO_WORKSPACE = 'kefu.ssoWorkspace';

// Kept across a re-render (the language switch) so the e-mail stays typed.
let lastEmail = '';

/**
 * Fills `root` with the form; calls `onLoggedIn(tokenResponse)` on success.
 * `email` prefills the e-mail; `notice` is a line shown above the form.
 */
export function renderLogin(root, { onLoggedIn, email: presetEmail, notice }) {
  clear(root);
  if (presetEmail) lastEmail = presetEmail;
  const error = h('div', { class: 'form-error', role: 'alert', 'aria-live': 'assertive', id: 'login-error' });
  const email = h('input', {
    class: 'input',
    type: 'email',
    name: 'email',
    id: 'login-email',
    autocomplete: 'username',
    required: true,
    value: lastEmail,
    'aria-describedby': 'login-error',
    'on:input': (e) => (lastEmail = e.target.value),
  });
  const password = h('input', {
    class: 'input',
    type: 'password',
    name: 'password',
    id: 'login-password',
    autocomplete: 'current-password',
    required: true,
    'aria-describedby': 'login-error',
  });
  const totp = h('input', {
    class: 'input',
    type: 'text',
    name: 'totp',
    id: 'login-totp',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    'aria-describedby': 'login-totp-hint login-error',
  });
  const totpField = h(
    'div',
    { class: 'field', hidden: true },
    h('label', { class: 'label', for: 'login-totp' }, t('login.totp')),
    totp,
    h('p', { class: 'hint', id: 'login-totp-hint' }, t('login.totpHint')),
  );
  const newPassword = h('input', {
    class: 'input',
    type: 'password',
    name: 'new-password',
    id: 'login-new-password',
    autocomplete: 'new-password',
    'aria-describedby': 'login-new-password-hint login-error',
  });
  const newPasswordField = h(
    'div',
    { class: 'field', hidden: true },
    h('p', { class: 'callout', role: 'status' }, t('login.passwordChange')),
    h('label', { class: 'label', for: 'login-new-password' }, t('login.newPassword')),
    newPassword,
    h('p', { class: 'hint', id: 'login-new-password-hint' }, t('login.newPasswordHint')),
  );
  const submit = h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, t('login.submit'));
  const submitLabel = () => t(newPasswordField.hidden ? 'login.submit' : 'login.setPassword');

  function showError(text) {
    error.textContent = text;
    error.hidden = !text;
  }
  showError('');

  async function onSubmit(e) {
    e.preventDefault();
    showError('');
    submit.disabled = true;
    submit.textContent = t('login.busy');
    try {
      const code = totpField.hidden ? undefined : totp.value.trim();
      const data = newPasswordField.hidden
        ? await login(email.value.trim(), password.value, code)
        : await loginWithNewPassword(email.value.trim(), password.value, code, newPassword.value);
      if (location.pathname !== '/') history.replaceState(null, '', '/' + (location.hash || '#/inbox'));
      onLoggedIn(data);
      return;
    } catch (err) {
      if (err.code === 'totp_required' || err.code === 'invalid_totp') {
        const first = totpField.hidden;
        totpField.hidden = false;
        // Asking for the code is not a failure the first time.
        showError(first && err.code === 'totp_required' ? '' : errorText(err));
        totp.value = '';
        totp.focus();
      } else if (err.code === 'password_change_required') {
        newPasswordField.hidden = false;
        showError('');
        newPassword.focus();
      } else if (err.code === 'validation_failed' && err.details && err.details.fields && err.details.fields.new_password) {
        showError(t('accept.reason.' + err.details.fields.new_password));
        newPassword.select();
        newPassword.focus();
      } else {
        showError(errorText(err));
        if (err.code === 'invalid_credentials') {
          password.select();
          password.focus();
        }
      }
    } finally {
      submit.disabled = false;
      submit.textContent = submitLabel();
    }
  }

  const sso = ssoSection();

  const langSelect = h(
    'select',
    { class: 'select select-sm', 'aria-label': t('shell.language'), 'on:change': (e) => setLocale(e.target.value) },
    LOCALES.map((l) => h('option', { value: l, selected: l === locale() }, t('lang.' + l))),
  );

  root.append(
    h(
      'main',
      { class: 'login-page' },
      h(
        'div',
        { class: 'card login-card' },
        h('div', { class: 'login-head' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, icon('chat')), h('h1', null, t('login.title'))),
        h('p', { class: 'muted' }, t('login.subtitle')),
        notice ? h('p', { class: 'callout', role: 'status' }, notice) : null,
        h(
          'form',
          { class: 'stack', 'on:submit': onSubmit, novalidate: false, 'aria-label': t('login.title') },
          h('div', { class: 'field' }, h('label', { class: 'label', for: 'login-email' }, t('login.email')), email),
          h('div', { class: 'field' }, h('label', { class: 'label', for: 'login-password' }, t('login.password')), password),
          totpField,
          newPasswordField,
          error,
          submit,
        ),
        sso.el,
        forgotSection(email),
        h('div', { class: 'login-foot' }, langSelect),
      ),
    ),
  );
  if (sso.error) showError(sso.error);
  if (sso.open) sso.focus();
  else (lastEmail ? password : email).focus();
}

function readStored() {
  try {
    return localStorage.getItem(SSO_WORKSPACE) || '';
  } catch {
    return '';
  }
}

/** The "Sign in with SSO" part: {el, open, error, focus}. */
/** "Forgot your password?": the e-mail gets a reset link (if it is an account's). */
function forgotSection(emailInput) {
  const status = h('p', { class: 'muted small', role: 'status', 'aria-live': 'polite' });
  const send = h('button', { class: 'btn btn-block', type: 'submit', id: 'login-forgot-send' }, t('login.forgotSend'));
  const form = h('form', {
    class: 'stack-sm', hidden: true, 'aria-label': t('login.forgot'),
    'on:submit': async (e) => {
      e.preventDefault();
      const address = emailInput.value.trim();
      if (!address) return emailInput.focus();
      send.disabled = true;
      try {
        await api('POST', '/auth/password-reset', { email: address, locale: locale() });
        status.textContent = t('login.forgotSent', { email: address });
      } catch (err) {
        status.textContent = errorText(err);
      } finally {
        send.disabled = false;
      }
    },
  }, h('p', { class: 'hint' }, t('login.forgotHint')), send, status);
  const toggle = h('button', {
    class: 'btn btn-ghost btn-block', type: 'button', id: 'login-forgot', 'aria-expanded': 'false',
    'on:click': () => {
      form.hidden = !form.hidden;
      toggle.setAttribute('aria-expanded', String(!form.hidden));
      if (!form.hidden && !emailInput.value) emailInput.focus();
    },
  }, t('login.forgot'));
  return h('div', { class: 'stack-sm login-forgot' }, toggle, form);
}

function ssoSection() {
  const query = parseHash().query;
  const errorCode = query.get('sso_error');
  const given = query.get('sso') || '';
  const workspace = h('input', {
    class: 'input mono',
    type: 'text',
    name: 'sso-workspace',
    id: 'login-sso-workspace',
    autocomplete: 'off',
    spellcheck: 'false',
    value: given || readStored(),
    'aria-describedby': 'login-sso-hint login-error',
  });
  const go = h('button', { class: 'btn btn-block', type: 'submit', id: 'login-sso-continue' }, t('login.ssoContinue'));
  const form = h(
    'form',
    {
      class: 'stack-sm',
      hidden: !(given || errorCode),
      'aria-label': t('login.sso'),
      'on:submit': (e) => {
        e.preventDefault();
        const id = workspace.value.trim();
        if (!id) return workspace.focus();
        try {
          localStorage.setItem(SSO_WORKSPACE, id);
        } catch {
          /* private mode: not remembered */
        }
        go.disabled = true;
        location.assign(`/api/v1/auth/oidc/${encodeURIComponent(id)}/start`);
      },
    },
    h('div', { class: 'field' },
      h('label', { class: 'label', for: 'login-sso-workspace' }, t('login.ssoWorkspace')),
      workspace,
      h('p', { class: 'hint', id: 'login-sso-hint' }, t('login.ssoHint'))),
    go,
  );
  const toggle = h('button', {
    class: 'btn btn-ghost btn-block',
    type: 'button',
    id: 'login-sso',
    'aria-expanded': String(!form.hidden),
    'on:click': () => {
      form.hidden = !form.hidden;
      toggle.setAttribute('aria-expanded', String(!form.hidden));
      if (!form.hidden) workspace.focus();
    },
  }, t('login.sso'));
  // A one-time message: not again after a reload or a language switch.
  if (errorCode || given) history.replaceState(null, '', location.pathname + location.search + '#/login');
  return {
    el: h('div', { class: 'login-sso stack-sm' }, h('p', { class: 'muted small login-or' }, t('login.or')), toggle, form),
    open: !form.hidden,
    error: errorCode ? errorText({ code: errorCode }) : '',
    focus: () => workspace.focus(),
  };
}
