// The signed-in layout: sidebar navigation, top bar (workspace switcher,
// connection state, agent status, notifications, language, sign out) and
// the page area driven by the hash router.

import { api, logout } from './api.js';
import { t, locale, setLocale, LOCALES } from './i18n.js';
import { h, clear, replace, toast, icon } from './dom.js';
import { createSocket } from './ws.js';
import { parseHash, match, allowed, navigate } from './router.js';
import { statusControl } from './presence.js';
import { createNotifier } from './notify.js';
import { errorText } from './errors.js';
import { trackUnread } from './unread.js';

const WS_STORE = 'kefu.workspace';
const DEFAULT_ROUTE = '#/inbox';

/** Picks the remembered workspace, else the first. */
function pickWorkspace(workspaces) {
  const saved = localStorage.getItem(WS_STORE);
  return workspaces.find((w) => w.id === saved) || workspaces[0] || null;
}

/**
 * Mounts the shell in `root`. Returns {rerender(), destroy()}.
 * `me`: GET /me; `pages`: the registry; `onLogout`: after signing out.
 */
export function mountShell(root, { me, pages, onLogout }) {
  const socket = createSocket();
  socket.start();
  let workspace = pickWorkspace(me.workspaces || []);
  let current = null; // {page, cleanup}
  let teardown = []; // shell-level subscriptions of the current workspace
  let unread = null; // the title's unread total (lib/unread.js)
  const notifier = createNotifier({ me, socket });

  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' });

  function ctxFor(params, query) {
    return {
      me,
      workspace,
      api,
      t,
      navigate,
      socket,
      unread,
      params,
      query,
    };
  }

  function renderPage() {
    const { path, query } = parseHash();
    if (!workspace) {
      clear(main).append(h('div', { class: 'empty' }, t('shell.noWorkspace')));
      return;
    }
    const found = match(pages, path, workspace.role);
    if (!found) {
      // Unknown or forbidden route: go to the inbox.
      if (path !== DEFAULT_ROUTE) navigate(DEFAULT_ROUTE);
      return;
    }
    markNav(found.page);
    if (current && current.page === found.page && found.page.routeChanged) {
      if (found.page.routeChanged(found.params, query)) return;
    }
    stopPage();
    clear(main);
    main.className = 'main page-' + found.page.path.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '');
    let cleanup;
    try {
      cleanup = found.page.render(main, ctxFor(found.params, query));
    } catch (e) {
      console.error(e);
      main.append(h('div', { class: 'empty' }, t('error.generic')));
    }
    current = { page: found.page, cleanup };
    closeDrawer();
  }

  function stopPage() {
    if (current && typeof current.cleanup === 'function') {
      try {
        current.cleanup();
      } catch (e) {
        console.error(e);
      }
    }
    // A page's render may return a promise of its cleanup.
    if (current && current.cleanup && typeof current.cleanup.then === 'function') {
      current.cleanup.then((fn) => typeof fn === 'function' && fn()).catch(() => {});
    }
    current = null;
  }

  const navList = h('ul', { class: 'nav-list' });
  function markNav(page) {
    for (const a of navList.querySelectorAll('a')) {
      if (a.getAttribute('href') === page.path) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  function buildNav() {
    clear(navList);
    const role = workspace ? workspace.role : null;
    for (const page of pages) {
      if (!page.nav || !allowed(page, role)) continue;
      navList.append(h('li', null, h('a', { href: page.path, class: 'nav-link' }, t(page.nav))));
    }
  }

  const drawerBtn = h('button', {
    class: 'btn btn-ghost icon-btn nav-toggle',
    'aria-label': t('shell.menu'),
    'aria-expanded': 'false',
    'aria-controls': 'sidebar',
    'on:click': () => (shellEl.classList.contains('drawer-open') ? closeDrawer() : openDrawer()),
  }, icon('menu'));
  function openDrawer() {
    shellEl.classList.add('drawer-open');
    drawerBtn.setAttribute('aria-expanded', 'true');
    const first = navList.querySelector('a');
    if (first) first.focus();
  }
  function closeDrawer() {
    shellEl.classList.remove('drawer-open');
    drawerBtn.setAttribute('aria-expanded', 'false');
  }

  function workspaceSwitcher() {
    const list = me.workspaces || [];
    if (list.length <= 1) {
      return h('span', { class: 'ws-name', title: t('shell.workspace') }, workspace ? workspace.name : '');
    }
    return h(
      'select',
      {
        class: 'select select-sm ws-switch',
        'aria-label': t('shell.workspace'),
        'on:change': (e) => {
          workspace = list.find((w) => w.id === e.target.value) || workspace;
          localStorage.setItem(WS_STORE, workspace.id);
          rerender();
        },
      },
      list.map((w) => h('option', { value: w.id, selected: workspace && w.id === workspace.id }, w.name)),
    );
  }

  function languageSwitch() {
    return h(
      'select',
      { class: 'select select-sm', 'aria-label': t('shell.language'), 'on:change': (e) => setLocale(e.target.value) },
      LOCALES.map((l) => h('option', { value: l, selected: l === locale() }, t('lang.' + l))),
    );
  }

  /** The account menu: who is signed in, the language, sign out. */
  function userMenu() {
    return h(
      'details',
      { class: 'popover user-menu' },
      h(
        'summary',
        { class: 'btn btn-ghost btn-sm', 'aria-label': t('shell.account'), title: me.user.email },
        icon('user'),
        h('span', { class: 'user-name' }, me.user.name || me.user.email),
      ),
      h(
        'div',
        { class: 'popover-body' },
        h('div', null, h('div', { class: 'user-menu-name' }, me.user.name), h('div', { class: 'muted small' }, me.user.email)),
        h('label', { class: 'label' }, t('shell.language'), languageSwitch()),
        h('button', { class: 'btn btn-sm', type: 'button', 'on:click': changePassword }, t('account.changePassword')),
        h('button', { class: 'btn btn-sm', type: 'button', 'on:click': signOutEverywhere }, t('account.signOutEverywhere')),
        h('button', { class: 'btn btn-sm', type: 'button', 'on:click': signOut }, t('shell.logout')),
      ),
    );
  }

  const conn = h('span', { class: 'conn', role: 'status', 'aria-live': 'polite' });
  function showConn(status) {
    conn.dataset.state = status;
    conn.textContent = status === 'open' ? '' : t('shell.conn.' + status);
    conn.title = t('shell.conn.' + status);
  }
  const offConn = socket.on('status', showConn);

  /** "Change my password": the current one and a new one; other sessions end. */
  function changePassword() {
    const current = h('input', { class: 'input', type: 'password', id: 'pw-current', autocomplete: 'current-password', required: true });
    const fresh = h('input', {
      class: 'input', type: 'password', id: 'pw-new', autocomplete: 'new-password', required: true,
      'aria-describedby': 'pw-hint pw-error',
    });
    const error = h('div', { class: 'form-error', role: 'alert', id: 'pw-error', hidden: true });
    const dlg = h('dialog', { class: 'modal', 'aria-label': t('account.changePassword') },
      h('form', { class: 'modal-body', 'on:submit': onSubmit },
        h('h2', { class: 'modal-title' }, t('account.changePassword')),
        h('div', { class: 'field' }, h('label', { class: 'label', for: 'pw-current' }, t('account.currentPassword')), current),
        h('div', { class: 'field' }, h('label', { class: 'label', for: 'pw-new' }, t('login.newPassword')), fresh,
          h('p', { class: 'hint', id: 'pw-hint' }, t('login.newPasswordHint'))),
        error,
        h('div', { class: 'modal-actions' },
          h('button', { class: 'btn', type: 'button', 'on:click': () => dlg.close() }, t('action.cancel')),
          h('button', { class: 'btn btn-primary', type: 'submit' }, t('account.changePassword')))));
    async function onSubmit(e) {
      e.preventDefault();
      error.hidden = true;
      try {
        const r = await api('POST', '/me/password', { current_password: current.value, new_password: fresh.value });
        dlg.close();
        toast(t('account.passwordChanged', { n: r.sessions_ended }), 'success');
      } catch (err) {
        const f = (err.details && err.details.fields) || {};
        error.textContent = f.current_password ? t('account.wrongPassword')
          : f.new_password ? t('accept.reason.' + f.new_password) : errorText(err);
        error.hidden = false;
        (f.current_password ? current : fresh).focus();
      }
    }
    dlg.addEventListener('close', () => dlg.remove());
    document.body.append(dlg);
    dlg.showModal();
    current.focus();
  }

  /** "Sign out everywhere": every session of mine ends, this one too. */
  async function signOutEverywhere() {
    try {
      await api('POST', '/auth/sessions/revoke');
    } catch (e) {
      if (e.status !== 401) {
        toast(errorText(e), 'error');
        return;
      }
    }
    destroy();
    onLogout();
  }

  async function signOut() {
    try {
      await logout();
    } catch (e) {
      if (e.status !== 401) toast(errorText(e), 'error');
    }
    destroy();
    onLogout();
  }

  const topbar = h('header', { class: 'topbar' });
  // (data-pages: the whole registry is in the navigation; tests wait for it.)
  const sidebar = h('nav', { id: 'sidebar', class: 'sidebar', 'aria-label': t('shell.navigation'), dataset: { pages: 'all' } });
  const shellEl = h('div', { class: 'shell' });

  function build() {
    for (const off of teardown) off();
    teardown = [];
    buildNav();
    clear(sidebar).append(h('div', { class: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, icon('chat')), t('app.name')), navList);
    const status = workspace ? statusControl({ me, workspace, socket }) : null;
    if (status) teardown.push(status.destroy);
    unread = workspace ? trackUnread({ me, workspace, socket }) : null;
    if (unread) teardown.push(unread.destroy);
    showConn(socket.status);
    replace(
      topbar,
      drawerBtn,
      workspaceSwitcher(),
      h('span', { class: 'spacer' }),
      conn,
      status && status.el,
      notifier.button(),
      userMenu(),
    );
    drawerBtn.setAttribute('aria-label', t('shell.menu'));
    sidebar.setAttribute('aria-label', t('shell.navigation'));
    clear(shellEl).append(
      h('a', { class: 'skip-link', href: '#main', 'on:click': (e) => { e.preventDefault(); main.focus(); } }, t('shell.skip')),
      sidebar,
      h('div', { class: 'drawer-scrim', 'aria-hidden': 'true', 'on:click': closeDrawer }),
      h('div', { class: 'content' }, topbar, main),
    );
  }

  function rerender() {
    stopPage();
    build();
    renderPage();
  }

  const onHash = () => renderPage();
  const onKey = (e) => {
    if (e.key !== 'Escape') return;
    const open = document.querySelector('details.popover[open]');
    if (open) {
      open.open = false;
      open.querySelector('summary').focus();
    } else if (shellEl.classList.contains('drawer-open')) {
      closeDrawer();
      drawerBtn.focus();
    }
  };
  // A click outside an open popover closes it.
  const onClick = (e) => {
    for (const d of document.querySelectorAll('details.popover[open]')) {
      if (!d.contains(e.target)) d.open = false;
    }
  };
  window.addEventListener('hashchange', onHash);
  document.addEventListener('keydown', onKey);
  document.addEventListener('click', onClick);

  function destroy() {
    window.removeEventListener('hashchange', onHash);
    document.removeEventListener('keydown', onKey);
    document.removeEventListener('click', onClick);
    stopPage();
    for (const off of teardown) off();
    offConn();
    notifier.destroy();
    socket.stop();
    shellEl.remove();
  }

  clear(root).append(shellEl);
  if (!location.hash || location.hash === '#' || location.hash === '#/') history.replaceState(null, '', DEFAULT_ROUTE);
  build();
  renderPage();

  return { rerender, destroy };
}
