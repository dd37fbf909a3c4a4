// Console entry point: loads the core translation table and the page
// registry, then shows the login page or the shell (lib/shell.js).
//
// The registry: the inbox (pages/inbox.js), which a first load shows, then
// the analytics and admin pages as stand-ins (lib/lazy.js) whose modules
// and translations are imported only when one is opened.

import './i18n/core.js';
import { api, onSessionEnded } from './lib/api.js';
import { onLocaleChange, t } from './lib/i18n.js';
import { clear, h } from './lib/dom.js';
import { errorText } from './lib/errors.js';
import { lazyPage, stylesheet } from './lib/lazy.js';
import inboxPage from './pages/inbox.js';
import startPage from './pages/first-run.js';
import { pages as adminPages } from './pages/admin/index.js';
import { renderLogin } from './pages/login.js';
import { parseHash } from './lib/router.js';
import { mountShell } from './lib/shell.js';

const root = document.getElementById('app');

const analyticsPage = lazyPage(
  { path: '#/analytics', nav: 'nav.analytics', roles: ['owner', 'admin', 'supervisor'] },
  () => Promise.all([import('./pages/analytics.js'), stylesheet('/console/admin.css')]).then(([m]) => m),
);

const pages = [inboxPage, startPage, analyticsPage, ...adminPages];

let shell = null;

function showLogin(opts = {}) {
  if (shell) {
    shell.destroy();
    shell = null;
  }
  clear(root);
  renderLogin(root, { ...opts, onLoggedIn: () => start() });
}

const ACCEPT = '#/accept';

/**
 * The signed-out invitation page (`#/accept?token=…`), loaded only when
 * opened. Whoever is signed in in this browser, the link is for the
 * invitee: accepting signs in as them.
 */
async function showAccept() {
  if (shell) {
    shell.destroy();
    shell = null;
  }
  let renderAccept;
  try {
    ({ renderAccept } = await import('./pages/accept.js'));
  } catch (e) {
    clear(root);
    root.append(h('p', { class: 'boot-error', role: 'alert' }, errorText(e)));
    setTimeout(start, 5000);
    return;
  }
  if (parseHash().path !== ACCEPT) return start();
  const token = parseHash().query.get('token') || '';
  renderAccept(root, {
    token,
    onJoined(user, signedIn) {
      // The token is spent: keep it out of the address bar and history.
      history.replaceState(null, '', '/#/inbox');
      if (signedIn) start();
      else showLogin({ email: user.email, notice: t('accept.joined') });
    },
  });
}

const RESET = '#/reset';

/** The signed-out page of an e-mailed password-reset link (`#/reset?token=…`). */
async function showReset() {
  if (shell) {
    shell.destroy();
    shell = null;
  }
  let renderReset;
  try {
    ({ renderReset } = await import('./pages/reset.js'));
  } catch (e) {
    clear(root);
    root.append(h('p', { class: 'boot-error', role: 'alert' }, errorText(e)));
    setTimeout(start, 5000);
    return;
  }
  if (parseHash().path !== RESET) return start();
  renderReset(root, {
    token: parseHash().query.get('token') || '',
    onDone() {
      // The token is spent: keep it out of the address bar and history.
      history.replaceState(null, '', '/#/inbox');
      showLogin({ notice: t('reset.done') });
    },
  });
}

async function start() {
  if (parseHash().path === ACCEPT) return showAccept();
  if (parseHash().path === RESET) return showReset();
  let me;
  try {
    me = await api('GET', '/me');
  } catch (e) {
    if (e.status === 401) return showLogin();
    // The server is unreachable: say so, and try again shortly.
    clear(root);
    root.append(h('p', { class: 'boot-error', role: 'alert' }, errorText(e)));
    setTimeout(start, 5000);
    return;
  }
  if (shell) shell.destroy();
  shell = mountShell(root, { me, pages, onLogout: showLogin });
}

// A refused refresh (logged out elsewhere, session revoked): back to login.
onSessionEnded(() => {
  if (shell) showLogin();
});

// An invitation link pasted into an open console tab (only the hash changes).
// Registered before the shell's own listener, which it stops.
window.addEventListener('hashchange', () => {
  if (parseHash().path === ACCEPT) showAccept();
});

onLocaleChange(() => {
  if (shell) shell.rerender();
  else if (parseHash().path === ACCEPT) showAccept();
  else showLogin();
});

start();
