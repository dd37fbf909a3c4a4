// The admin pages, in sidebar order (the shell imports `pages`).
// Inboxes come first: creating one is the first-run path.
//
// Each page's module (and the admin translations) is imported only when
// the page is first shown (lib/lazy.js); `path`, `nav` and `roles` are
// here so the navigation can be built before. They must match the
// modules' own (a mismatch is logged).

import { lazyPage, stylesheet } from '../../lib/lazy.js';

/** Imports a page module with the admin pages' translations and styles. */
const withMessages = (load) => () =>
  Promise.all([load(), import('../../i18n/admin.js'), stylesheet('/console/admin.css')]).then(([m]) => m);

const ADMINS = ['owner', 'admin'];
const SUPERVISORS = ['owner', 'admin', 'supervisor'];
const OWNERS = ['owner'];

export const pages = [
  lazyPage({ path: '#/contacts', nav: 'nav.contacts' }, withMessages(() => import('./contacts.js'))),
  lazyPage({ path: '#/admin/inboxes', nav: 'nav.inboxes', roles: ADMINS }, withMessages(() => import('./inboxes.js'))),
  lazyPage({ path: '#/admin/kb', nav: 'nav.kb', roles: SUPERVISORS }, withMessages(() => import('./kb.js'))),
  lazyPage({ path: '#/admin/bot', nav: 'nav.bot', roles: ADMINS }, withMessages(() => import('./bot.js'))),
  lazyPage({ path: '#/admin/canned', nav: 'nav.canned', roles: SUPERVISORS }, withMessages(() => import('./canned.js'))),
  lazyPage({ path: '#/admin/members', nav: 'nav.members', roles: ADMINS }, withMessages(() => import('./members.js'))),
  lazyPage({ path: '#/admin/teams', nav: 'nav.teams', roles: ADMINS }, withMessages(() => import('./teams.js'))),
  lazyPage({ path: '#/admin/tokens', nav: 'nav.tokens', roles: ADMINS }, withMessages(() => import('./tokens.js'))),
  lazyPage({ path: '#/admin/sso', nav: 'nav.sso', roles: ADMINS }, withMessages(() => import('./sso.js'))),
  lazyPage({ path: '#/admin/audit', nav: 'nav.audit', roles: ADMINS }, withMessages(() => import('./audit.js'))),
  lazyPage({ path: '#/admin/export', nav: 'nav.export', roles: OWNERS }, withMessages(() => import('./export.js'))),
];
