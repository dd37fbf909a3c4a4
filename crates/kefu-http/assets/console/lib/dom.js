// Tiny DOM helpers: build elements without innerHTML (no injection, no
// inline handlers, CSP-friendly).

/**
 * Creates an element.
 *   h('button', {class: 'btn', 'on:click': fn, 'aria-label': 'Close', disabled: true}, 'Text', node, [more], null)
 * attrs: `class` (string or array), `on:event` or `onevent` handlers (a
 * function), `style` (an object of properties, set from JS so CSP allows
 * it), `dataset` (an object), boolean attributes (true → present, false /
 * null / undefined → absent), `value`/`checked`/`selected` as properties,
 * anything else as an attribute. children: strings, numbers, nodes, arrays,
 * null/undefined/false (skipped).
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) setAttr(el, k, v);
  }
  append(el, children);
  return el;
}

const PROPS = new Set(['value', 'checked', 'selected', 'indeterminate']);

function setAttr(el, k, v) {
  if (k.startsWith('on:')) {
    if (v) el.addEventListener(k.slice(3), v);
  } else if (k.startsWith('on') && typeof v === 'function') {
    el.addEventListener(k.slice(2).toLowerCase(), v);
  } else if (k === 'class' || k === 'className') {
    const cls = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    if (cls) el.className = cls;
  } else if (k === 'style' && v && typeof v === 'object') {
    for (const [p, val] of Object.entries(v)) {
      if (p.startsWith('--')) el.style.setProperty(p, val);
      else el.style[p] = val;
    }
  } else if (k === 'dataset' && v) {
    Object.assign(el.dataset, v);
  } else if (PROPS.has(k)) {
    el[k] = v;
  } else if (v === true) {
    el.setAttribute(k, '');
  } else if (v !== false && v !== null && v !== undefined) {
    el.setAttribute(k, String(v));
  }
}

/** Appends children (strings, nodes, nested arrays; null skipped). */
export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Removes every child of `el`. */
export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

let toastBox = null;

/**
 * A short message at the bottom of the screen, read by screen readers.
 * kind: 'info' (default), 'success', 'error'.
 */
export function toast(message, kind = 'info') {
  if (!toastBox || !toastBox.isConnected) {
    toastBox = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastBox);
  }
  const el = h('div', { class: ['toast', 'toast-' + kind] }, message);
  if (kind === 'error') el.setAttribute('role', 'alert');
  toastBox.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 6000 : 3500);
  return el;
}

/** A random id for `client_msg_id` and element ids. */
export function uid(prefix = 'c') {
  const rnd = crypto.randomUUID ? crypto.randomUUID() : Math.random().toString(36).slice(2) + Date.now().toString(36);
  return prefix + '-' + rnd;
}

/**
 * A modal dialog (native <dialog>): `modal(title, body, actions)` where
 * actions are buttons; resolves when closed with the dialog's returnValue.
 */
export function modal(title, body, actions = []) {
  const dlg = h(
    'dialog',
    { class: 'modal', 'aria-label': title },
    h('form', { method: 'dialog', class: 'modal-body' }, h('h2', { class: 'modal-title' }, title), body, h('div', { class: 'modal-actions' }, actions)),
  );
  document.body.append(dlg);
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue);
      dlg.remove();
    });
  });
}
