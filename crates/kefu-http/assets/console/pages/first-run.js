// The first-run guide: five numbered steps from an empty workspace to a
// resolved conversation in analytics. Shown where a newcomer lands (the
// inbox, while the workspace has no inbox), on the admin Inboxes page while
// there is none, and on its own page (`#/start`), which the empty inbox
// links to afterwards. Its strings are in the core table (i18n/core.js):
// the inbox shows it before any admin module is loaded.

import { h, clear } from '../lib/dom.js';
import { t } from '../lib/i18n.js';

const ADMINS = ['owner', 'admin'];

/** The guide as a card; `role` decides whether step 1 offers to create an inbox. */
export function firstRunGuide(role) {
  const step = (n, title, text, action) =>
    h('li', { class: 'guide-step' },
      h('span', { class: 'guide-num', 'aria-hidden': 'true' }, String(n)),
      h('div', { class: 'stack-sm' }, h('strong', null, title), h('p', { class: 'muted' }, text), action));
  const create = ADMINS.includes(role)
    ? h('a', { class: 'btn btn-primary btn-sm', href: '#/admin/inboxes/new' }, t('guide.newInbox'))
    : h('p', { class: 'muted small' }, t('guide.askAdmin'));
  return h('section', { class: 'card first-run', 'aria-labelledby': 'first-run-title' },
    h('h2', { id: 'first-run-title', class: 'card-title' }, t('guide.title')),
    h('p', { class: 'muted' }, t('guide.intro')),
    h('ol', { class: 'guide' },
      step(1, t('guide.s1'), t('guide.s1text'), create),
      step(2, t('guide.s2'), t('guide.s2text')),
      step(3, t('guide.s3'), t('guide.s3text')),
      step(4, t('guide.s4'), t('guide.s4text'),
        h('a', { class: 'btn btn-sm', href: '#/inbox' }, t('guide.openInbox'))),
      step(5, t('guide.s5'), t('guide.s5text'),
        ADMINS.includes(role) || role === 'supervisor'
          ? h('a', { class: 'btn btn-sm', href: '#/analytics' }, t('guide.openAnalytics'))
          : null),
    ));
}

/** `#/start`: the guide on its own page, for every member. */
export default {
  path: '#/start',
  nav: null,
  render(root, ctx) {
    clear(root).append(h('div', { class: 'page' },
      h('div', { class: 'page-header' }, h('h1', null, t('guide.link'))),
      firstRunGuide(ctx.workspace.role)));
  },
};
