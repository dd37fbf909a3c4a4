// Helpers shared by the admin pages: paths, page frame, form fields,
// copy-to-clipboard, confirmation, busy buttons and error display.

import { h, clear, toast, modal } from '../../lib/dom.js';
import { t } from '../../lib/i18n.js';
import { errorText } from '../../lib/errors.js';

export const ROLES = ['owner', 'admin', 'supervisor', 'agent'];

/** `/workspaces/{id}{rest}` for ctx.api. */
export function wsPath(ctx, rest = '') {
  return `/workspaces/${encodeURIComponent(ctx.workspace.id)}${rest}`;
}

/** Whether the signed-in member's role is one of `roles`. */
export function hasRole(ctx, ...roles) {
  return roles.includes(ctx.workspace.role);
}

/**
 * The standard page frame: `.page` with a header (h1 + toolbar) and a body.
 * Returns {page, toolbar, body}.
 */
export function pageFrame(root, title, intro) {
  const toolbar = h('div', { class: 'toolbar' });
  const body = h('div', { class: 'stack-lg' });
  const page = h('div', { class: 'page admin-page' },
    h('div', { class: 'page-header' }, h('h1', null, title), toolbar),
    intro ? h('p', { class: 'muted admin-intro' }, intro) : null,
    body,
  );
  clear(root).append(page);
  return { page, toolbar, body };
}

/** A card with a title row (title + optional actions) and a body. */
export function card(title, ...children) {
  const actions = h('div', { class: 'toolbar' });
  const body = h('div', { class: 'card-body' }, children);
  const el = h('section', { class: 'card', 'aria-label': title },
    h('div', { class: 'card-header' }, h('h2', { class: 'card-title' }, title), actions),
    body,
  );
  return { el, body, actions };
}

let fieldSeq = 0;

/**
 * A labelled form field. `control` is an input/select/textarea (gets an id
 * if it has none); `hint` an optional help text. Returns the .field element;
 * its `.error` element shows a per-field error (see showFieldErrors).
 */
export function field(label, control, hint) {
  if (!control.id) control.id = `f-${++fieldSeq}`;
  const hintEl = hint ? h('p', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  const error = h('p', { class: 'field-error', id: `${control.id}-err`, hidden: true });
  control.setAttribute('aria-describedby', [hintEl && hintEl.id, error.id].filter(Boolean).join(' '));
  const el = h('div', { class: 'field', dataset: { field: control.name || '' } },
    h('label', { class: 'label', for: control.id }, label), control, hintEl, error);
  el.error = error;
  return el;
}

/** A text input. */
export function input(name, value = '', attrs = {}) {
  return h('input', { class: 'input', name, value: value ?? '', type: 'text', ...attrs });
}

/** A <select> of `[value, label]` pairs. */
export function select(name, options, value, attrs = {}) {
  return h('select', { class: 'select', name, ...attrs },
    options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

/** A checkbox styled as a switch, inside its label. */
export function toggle(name, label, checked) {
  const box = h('input', { type: 'checkbox', name, checked: !!checked });
  const el = h('label', { class: 'switch' }, box, h('span', null, label));
  el.input = box;
  return el;
}

/**
 * Shows a 422's `details.fields` next to the fields of `form` (matched by
 * `name`), and anything else in `errorBox`. Returns the text shown.
 */
export function showFieldErrors(form, errorBox, err) {
  for (const f of form.querySelectorAll('.field-error')) {
    f.hidden = true;
    f.textContent = '';
  }
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
  const fields = err && err.details && err.details.fields;
  if (fields && typeof fields === 'object') {
    for (const [name, reason] of Object.entries(fields)) {
      const control = form.querySelector(`[name="${CSS.escape(name.split('.')[0].split('[')[0])}"]`);
      const box = control && control.closest('.field') && control.closest('.field').querySelector('.field-error');
      if (!box) continue;
      control.setAttribute('aria-invalid', 'true');
      box.textContent = reasonText(reason);
      box.hidden = false;
    }
  }
  const text = err ? errorText(err) : '';
  if (errorBox) errorBox.textContent = err ? text : '';
  return text;
}

/** A validation reason (`required`, `too_long`, …) in words. */
export function reasonText(reason) {
  const key = `admin.reason.${reason}`;
  const s = t(key);
  return s === key ? t('admin.reason.invalid') : s;
}

/** Clears errors shown by showFieldErrors. */
export function clearErrors(form, errorBox) {
  showFieldErrors(form, errorBox, null);
}

/**
 * Runs `fn` with `btn` disabled (and aria-busy); an error becomes an error
 * toast unless `onError` handles it. Resolves to fn's result (undefined on error).
 */
export async function busy(btn, fn, onError) {
  if (btn) {
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
  }
  try {
    return await fn();
  } catch (e) {
    if (onError) onError(e);
    else toast(errorText(e), 'error');
    return undefined;
  } finally {
    if (btn) {
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
    }
  }
}

/** Copies `text`; a toast says whether it worked. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t('admin.copied'), 'success');
  } catch {
    toast(t('admin.copyFailed'), 'error');
  }
}

/** A read-only code block with a copy button. `label` names it for ARIA. */
export function copyBlock(text, label, attrs = {}) {
  const code = h('pre', { class: 'code copy-code', tabindex: '0', 'aria-label': label, ...attrs }, text);
  const btn = h('button', { type: 'button', class: 'btn btn-sm', 'on:click': () => copyText(text) }, t('admin.copy'));
  btn.setAttribute('aria-label', `${t('admin.copy')}: ${label}`);
  return h('div', { class: 'copy-block' }, code, btn);
}

/** Asks a yes/no question in a modal; resolves true for yes. */
export async function confirmAction(title, message, confirmLabel, danger = true) {
  const result = await modal(title, h('p', null, message), [
    h('button', { class: 'btn', value: 'cancel' }, t('action.cancel')),
    h('button', { class: ['btn', danger ? 'btn-danger' : 'btn-primary'], value: 'ok' }, confirmLabel),
  ]);
  return result === 'ok';
}

/** A loading placeholder. */
export function loadingEl() {
  return h('div', { class: 'empty', role: 'status' }, t('common.loading'));
}

/** An error placeholder with a retry button. */
export function errorEl(err, retry) {
  return h('div', { class: 'callout callout-danger row-between', role: 'alert' },
    h('span', null, errorText(err)),
    retry ? h('button', { class: 'btn btn-sm', 'on:click': retry }, t('action.retry')) : null);
}

/** The role in words. */
export function roleLabel(role) {
  return t(`admin.role.${role}`);
}

/** Splits a textarea's lines into trimmed, non-empty strings. */
export function lines(text) {
  return String(text || '').split('\n').map((s) => s.trim()).filter(Boolean);
}

/** Splits "a, b，c" (ASCII or Chinese commas) into trimmed strings. */
export function commaList(text) {
  return String(text || '').split(/[,，]/).map((s) => s.trim()).filter(Boolean);
}

/**
 * Loads every page of a cursor-paged list (`{items, next_cursor}`), up to
 * `max` items.
 */
export async function loadAll(ctx, path, max = 2000) {
  const items = [];
  let cursor = '';
  const sep = path.includes('?') ? '&' : '?';
  do {
    const page = await ctx.api('GET', `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

/**
 * A lifecycle guard for async rendering: `alive()` is false once the page
 * is gone (its cleanup ran), so late answers do not touch a detached DOM.
 */
export function lifecycle() {
  let on = true;
  const cleanups = [];
  return {
    alive: () => on,
    add: (fn) => cleanups.push(fn),
    stop: () => {
      on = false;
      for (const fn of cleanups.splice(0)) {
        try { fn(); } catch (e) { console.error(e); }
      }
    },
  };
}
