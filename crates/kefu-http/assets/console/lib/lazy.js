// Pages whose module is imported when first shown, so that the console's
// first load fetches only the shell, the inbox and their translations (and
// admin.css, the admin and analytics pages' styles, comes with them).

import { h } from './dom.js';
import { t } from './i18n.js';

/**
 * A stand-in for a page in the registry. `meta`: {path, nav, roles}, which
 * the shell needs before the module is loaded (navigation, access); `load()`
 * resolves to the page module (its default export has `render`), with the
 * translations it needs loaded too.
 *
 * Its render shows "Loading…", then the real page; its cleanup works at any
 * moment (a page left before its module arrived is never drawn). A failed
 * import (offline, say) is shown with a retry button.
 */
export function lazyPage(meta, load) {
  let loaded = null; // the import, once it succeeded
  return {
    ...meta,
    render(root, ctx) {
      let stopped = false;
      let cleanup = null;
      const show = () => {
        const status = h('div', { class: 'empty', role: 'status' }, t('common.loading'));
        root.replaceChildren(status);
        (loaded || load())
          .then((m) => {
            loaded = Promise.resolve(m);
            if (stopped) return;
            const page = m.default;
            if (page.path !== meta.path) console.warn('lazy page: the module says', page.path, 'the registry', meta.path);
            status.remove();
            try {
              cleanup = page.render(root, ctx);
            } catch (e) {
              console.error(e);
              root.append(h('div', { class: 'empty' }, t('error.generic')));
            }
          })
          .catch((e) => {
            if (stopped) return;
            console.error('page module not loaded:', meta.path, e);
            status.setAttribute('role', 'alert');
            status.replaceChildren(
              t('page.loadFailed'),
              ' ',
              h('button', { class: 'btn btn-sm', type: 'button', 'on:click': show }, t('action.retry')),
            );
          });
      };
      show();
      return () => {
        stopped = true;
        // A page's render returns its cleanup, or a promise of it.
        Promise.resolve(cleanup)
          .then((fn) => typeof fn === 'function' && fn())
          .catch((e) => console.error(e));
      };
    },
  };
}

const sheets = new Map(); // href → promise
/**
 * Adds a stylesheet `<link>` once; resolves when it has loaded (or failed:
 * a page without its styles still works, so that is not an error).
 */
export function stylesheet(href) {
  if (!sheets.has(href)) {
    sheets.set(href, new Promise((done) => {
      const link = h('link', { rel: 'stylesheet', href });
      link.addEventListener('load', done);
      link.addEventListener('error', done);
      document.head.append(link);
    }));
  }
  return sheets.get(href);
}
