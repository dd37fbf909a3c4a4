// An inbox's automation, part of its form: auto-resolve (minutes without a
// visitor reply, an optional message), the away message and the pre-chat
// form (the contact's name, e-mail and phone, and custom fields).

import { h } from '../../lib/dom.js';
import { t } from '../../lib/i18n.js';
import { field, input, select, toggle } from './common.js';

const STANDARD = ['name', 'email', 'phone'];

/** `{el, value()}`; value() is `{auto_resolve, away_message, prechat_form}` (null clears). */
export function automationEditor(inbox) {
  const ar = inbox?.auto_resolve || null;
  const resolveOn = toggle('auto_resolve_on', t('admin.auto.resolve'), !!ar);
  const minutes = input('auto_resolve_minutes', ar ? String(Math.round(ar.after_secs / 60)) : '60', {
    type: 'number', min: '1', max: String(90 * 24 * 60), class: 'input input-sm', inputmode: 'numeric',
  });
  const resolveMsg = h('textarea', { class: 'textarea', name: 'auto_resolve.message', rows: 2, maxlength: 1000,
    placeholder: t('admin.auto.resolveMessagePlaceholder') }, ar?.message || '');
  const resolveDetails = h('div', { class: 'stack-sm auto-resolve-details' },
    field(t('admin.auto.resolveAfter'), minutes, t('admin.auto.resolveHint')),
    field(t('admin.auto.resolveMessage'), resolveMsg));
  const syncResolve = () => { resolveDetails.hidden = !resolveOn.input.checked; };
  resolveOn.input.addEventListener('change', syncResolve);
  syncResolve();

  const away = h('textarea', { class: 'textarea', name: 'away_message', rows: 2, maxlength: 1000,
    placeholder: t('admin.auto.awayPlaceholder') }, inbox?.away_message || '');

  const form = inbox?.prechat_form || null;
  const when = select('prechat_when', [
    ['off', t('admin.prechat.off')],
    ['always', t('admin.prechat.always')],
    ['offline', t('admin.prechat.offline')],
  ], form ? form.when : 'off');
  const rows = h('div', { class: 'stack-sm prechat-fields' });
  const has = (key) => form?.fields.find((f) => f.key === key);
  for (const key of STANDARD) rows.append(standardRow(key, has(key)));
  for (const f of form?.fields || []) if (!STANDARD.includes(f.key)) rows.append(customRow(f));
  const add = h('button', { type: 'button', class: 'btn btn-sm', 'on:click': () => rows.append(customRow()) },
    t('admin.prechat.addField'));
  const prechatDetails = h('div', { class: 'stack-sm' }, rows, h('div', null, add));
  const syncPrechat = () => { prechatDetails.hidden = when.value === 'off'; };
  when.addEventListener('change', syncPrechat);
  syncPrechat();

  const el = h('fieldset', { class: 'fieldset automation' },
    h('legend', { class: 'label' }, t('admin.auto.title')),
    h('div', { class: 'field' }, resolveOn, resolveDetails),
    field(t('admin.auto.away'), away, t('admin.auto.awayHint')),
    field(t('admin.prechat.title'), when, t('admin.prechat.hint')),
    prechatDetails);

  /** The settings, or undefined when something is invalid (marked). */
  function value() {
    let auto = null;
    if (resolveOn.input.checked) {
      const m = Number(minutes.value);
      if (!Number.isInteger(m) || m < 1) {
        minutes.setAttribute('aria-invalid', 'true');
        return undefined;
      }
      minutes.removeAttribute('aria-invalid');
      auto = { after_secs: m * 60, message: resolveMsg.value.trim() || null };
    }
    let prechat = null;
    if (when.value !== 'off') {
      const fields = [];
      for (const row of rows.children) {
        const f = row.read();
        if (f === undefined) return undefined;
        if (f) fields.push(f);
      }
      if (fields.length) prechat = { when: when.value, fields };
    }
    return { auto_resolve: auto, away_message: away.value.trim() || null, prechat_form: prechat };
  }
  return { el, value };
}

/** Name, e-mail or phone: asked or not, required or not. */
function standardRow(key, current) {
  const ask = h('input', { type: 'checkbox', name: `prechat.${key}`, checked: !!current });
  const req = h('input', { type: 'checkbox', name: `prechat.${key}.required`, checked: !!current?.required });
  const row = h('div', { class: 'row prechat-row' },
    h('label', { class: 'check' }, ask, t(`admin.prechat.field.${key}`)),
    h('label', { class: 'check muted' }, req, t('admin.prechat.required')));
  row.read = () => (ask.checked ? { key, required: req.checked } : null);
  return row;
}

/** A custom field: its attribute key, label and whether it is required. */
function customRow(f = { key: '', label: '', required: false }) {
  const key = input('prechat.key', f.key, { class: 'input input-sm', placeholder: 'order_no',
    'aria-label': t('admin.prechat.key'), spellcheck: 'false' });
  const label = input('prechat.label', f.label || '', { class: 'input input-sm', placeholder: t('admin.prechat.labelPlaceholder'),
    'aria-label': t('admin.prechat.label') });
  const req = h('input', { type: 'checkbox', checked: !!f.required });
  const row = h('div', { class: 'row prechat-row' }, key, label,
    h('label', { class: 'check muted' }, req, t('admin.prechat.required')),
    h('button', { type: 'button', class: 'btn btn-sm btn-ghost', 'aria-label': t('admin.hours.remove'), 'on:click': () => row.remove() }, '✕'));
  row.read = () => {
    const k = key.value.trim();
    const l = label.value.trim();
    if (!k && !l) return null;
    const ok = /^[\p{L}\p{N}_.-]{1,64}$/u.test(k) && !STANDARD.includes(k);
    key.toggleAttribute('aria-invalid', !ok);
    label.toggleAttribute('aria-invalid', !l);
    if (!ok || !l) return undefined;
    return { key: k, label: l, required: req.checked };
  };
  return row;
}
