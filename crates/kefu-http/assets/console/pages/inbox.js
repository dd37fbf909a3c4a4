// The inbox (issue 5, point 2): conversation list with views, filters and
// search on the left, the conversation pane on the right.

import { h } from '../lib/dom.js';
import { t } from '../lib/i18n.js';

export default {
  path: '#/inbox',
  nav: 'nav.inbox',
  roles: undefined,
  render(root) {
    root.append(h('div', { class: 'page' }, h('h1', null, t('inbox.title'))));
  },
};
