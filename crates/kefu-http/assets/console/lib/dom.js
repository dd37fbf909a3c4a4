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

// Line icons (24×24, stroked with currentColor): drawn as SVG so they do
// not depend on an emoji or symbol font being installed.
const ICONS = {
  menu: 'M4 6h16M4 12h16M4 18h16',
  bell: 'M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9M10.3 21a1.94 1.94 0 0 0 3.4 0',
  sliders: 'M4 21v-7M4 10V3M12 21v-9M12 8V3M20 21v-5M20 12V3M1 14h6M9 8h6M17 16h6',
  user: 'M20 21v-2a4 4 0 0 0-4-4H8a4 4 0 0 0-4 4v2M12 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z',
  lock: 'M5 11h14v10H5zM8 11V7a4 4 0 0 1 8 0v4',
  back: 'M19 12H5M12 19l-7-7 7-7',
  filter: 'M22 3H2l8 9.46V19l4 2v-8.54L22 3z',
  down: 'M12 5v14M19 12l-7 7-7-7',
  chat: 'M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z',
  search: 'M11 19a8 8 0 1 0 0-16 8 8 0 0 0 0 16zM21 21l-4.35-4.35',
  plus: 'M12 5v14M5 12h14',
  x: 'M18 6 6 18M6 6l12 12',
  check: 'M20 6 9 17l-5-5',
  clip: 'M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48',
  star: 'M12 2l3.09 6.26L22 9.27l-5 4.87 1.18 6.88L12 17.77l-6.18 3.25L7 14.14 2 9.27l6.91-1.01L12 2z',
};

/** An inline SVG icon by name (see ICONS), decorative (aria-hidden). */
export function icon(name, cls = '') {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', ('icon ' + cls).trim());
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', ICONS[name] || '');
  svg.append(path);
  return svg;
}
