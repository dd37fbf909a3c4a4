// The audit log, newest first, paged with the server's cursor ("load
// more"). Actors are shown by name when they are members; details as JSON.

import { h, clear } from '../../lib/dom.js';
import { t, fmtDateTime } from '../../lib/i18n.js';
import { wsPath, pageFrame, card, busy, loadingEl, errorEl, lifecycle } from './common.js';

const PAGE = 50;

export default {
  path: '#/admin/audit',
  nav: 'nav.audit',
  roles: ['owner', 'admin'],
  render(root, ctx) {
    const life = lifecycle();
    const { body } = pageFrame(root, t('admin.audit.title'), t('admin.audit.intro'));
    const tbody = h('tbody');
    const more = h('button', { class: 'btn', type: 'button' }, t('action.loadMore'));
    const status = h('div', { 'aria-live': 'polite' });
    const table = h('div', { class: 'scroll-x' }, h('table', { class: 'table audit-table' },
      h('thead', null, h('tr', null, ['time', 'actor', 'action', 'target', 'ip', 'details']
        .map((k) => h('th', { scope: 'col' }, t(`admin.audit.col.${k}`))))),
      tbody));
    body.append(card(t('admin.audit.entries'), table, status, h('div', { class: 'row' }, more)).el);

    let cursor = '';
    const names = new Map();
    more.hidden = true;

    async function loadPage() {
      const q = `?limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = await ctx.api('GET', wsPath(ctx, `/audit-log${q}`));
      if (!life.alive()) return;
      for (const e of page.items) tbody.append(entryRow(e, names));
      cursor = page.next_cursor || '';
      more.hidden = !cursor;
      if (!tbody.children.length) clear(status).append(h('p', { class: 'empty' }, t('admin.audit.empty')));
    }
    more.addEventListener('click', () => busy(more, loadPage));

    (async () => {
      status.append(loadingEl());
      try {
        // Member names for the actor column (the log stores ids).
        const members = await ctx.api('GET', wsPath(ctx, '/members')).catch(() => []);
        for (const m of members) names.set(m.user_id, m.name || m.email);
        await loadPage();
        if (life.alive() && tbody.children.length) clear(status);
      } catch (e) {
        if (life.alive()) clear(status).append(errorEl(e, () => ctx.navigate('#/admin/audit')));
      }
    })();
    return life.stop;
  },
};

function entryRow(e, names) {
  const actor = e.actor_kind === 'user' && e.actor_id
    ? names.get(e.actor_id) || shortId(e.actor_id)
    : `${t(`admin.actor.${e.actor_kind}`)}${e.actor_id ? ` ${shortId(e.actor_id)}` : ''}`;
  const hasDetails = e.details && typeof e.details === 'object' && Object.keys(e.details).length;
  return h('tr', { dataset: { seq: String(e.seq) } },
    h('td', { class: 'small nowrap' }, fmtDateTime(e.created_at)),
    h('td', { class: 'small' }, actor),
    h('td', null, h('span', { class: 'mono small' }, e.action)),
    h('td', { class: 'small' }, e.target_type ? `${e.target_type} ${e.target_id ? shortId(e.target_id) : ''}` : ''),
    h('td', { class: 'small mono' }, e.ip || ''),
    h('td', null, hasDetails
      ? h('details', null, h('summary', { class: 'small' }, t('admin.audit.show')),
        h('pre', { class: 'code audit-details' }, JSON.stringify(e.details, null, 2)))
      : null));
}

/** The first characters of an id (full id in a title would be noise). */
function shortId(id) {
  return String(id).slice(0, 8);
}
