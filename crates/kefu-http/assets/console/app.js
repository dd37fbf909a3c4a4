// Console entry point: loads the translation tables and the page registry,
// then shows the login page or the shell (lib/shell.js).
//
// Pages come from three places: ours (pages/inbox.js), the admin pages
// (pages/admin/index.js: `export const pages = [...]`) and the analytics page
// (pages/analytics.js: default export). The last two are imported
// defensively so the console works while they do not exist yet.

import './i18n/core.js';
import { api, onSessionEnded } from './lib/api.js';
import { onLocaleChange } from './lib/i18n.js';
import { clear, h } from './lib/dom.js';
import { errorText } from './lib/errors.js';
import inboxPage from './pages/inbox.js';
import { renderLogin } from './pages/login.js';
import { mountShell } from './lib/shell.js';

const root = document.getElementById('app');

/** Imports a module, or null when it is missing or broken. */
async function optional(path) {
  try {
    return await import(path);
  } catch (e) {
    console.warn('optional module not loaded:', path, e.message);
    return null;
  }
}

/** All pages, once the optional modules (and their messages) are in. */
async function loadPages() {
  const [admin, analytics] = await Promise.all([
    optional('./pages/admin/index.js'),
    optional('./pages/analytics.js'),
    optional('./i18n/admin.js'),
    optional('./i18n/analytics.js'),
  ]);
  const pages = [inboxPage];
  if (analytics && analytics.default) pages.push(analytics.default);
  if (admin && Array.isArray(admin.pages)) pages.push(...admin.pages);
  return pages;
}

// Fetched at once, in parallel with the session check, but the inbox does
// not wait for them: the shell adds them to the navigation when they land.
let allPages = null;

let shell = null;

function showLogin() {
  if (shell) {
    shell.destroy();
    shell = null;
  }
  clear(root);
  renderLogin(root, { onLoggedIn: () => start() });
}

async function start() {
  if (!allPages) allPages = loadPages();
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
  const mine = mountShell(root, { me, pages: [inboxPage], onLogout: showLogin });
  shell = mine;
  allPages.then((pages) => shell === mine && mine.setPages(pages, true));
}

// A refused refresh (logged out elsewhere, session revoked): back to login.
onSessionEnded(() => {
  if (shell) showLogin();
});

onLocaleChange(() => {
  if (shell) shell.rerender();
  else showLogin();
});

start();
