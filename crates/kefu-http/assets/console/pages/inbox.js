// The inbox (issue 5, point 2): the conversation list with views, search
// and filters on the left, the open conversation (pages/conversation.js)
// on the right. On narrow screens they are separate views: the list at
// `#/inbox`, the conversation at `#/inbox/<id>`.
//
// Real time: the socket's `message.created`, `conversation.updated` and
// `conversation.hidden` frames update the list in place; after a reconnect
// the list is fetched again (socket events are only a doorbell).
//
// A list row shows the contact and the newest message, which the list API
// gives with each item (`contact`, `last_message`). Socket frames lack
// them, so a row keeps what it had; a conversation that enters the view from
// a socket event, never listed, has them fetched once.

import { h, clear, icon } from '../lib/dom.js';
import { t, fmtDate, fmtDateTime } from '../lib/i18n.js';
import { createDirectory, contactLabel } from '../lib/directory.js';
import { errorText } from '../lib/errors.js';
import { openConversation } from './conversation.js';
import { firstRunGuide } from './first-run.js';
import { statusBadge, priorityBadge, previewText } from './inbox-parts.js';

const VIEWS = ['mine', 'unassigned', 'team', 'all', 'snoozed', 'resolved'];
const VIEW_STORE = 'kefu.inbox.view';
const STATUSES = ['bot', 'queued', 'assigned', 'resolved', 'closed'];
const PAGE = 50;

let active = null; // the mounted inbox, for routeChanged

export default {
  path: '#/inbox',
  nav: 'nav.inbox',
  roles: undefined, // everyone
  render(root, ctx) {
    active = mountInbox(root, ctx);
    const mine = active;
    return () => {
      mine.destroy();
      if (active === mine) active = null;
    };
  },
  /** `#/inbox` ↔ `#/inbox/<id>` without rebuilding the list. */
  routeChanged(params) {
    if (!active) return false;
    active.open(params[0] || null);
    return true;
  },
};

function mountInbox(root, ctx) {
  const { me, workspace, socket } = ctx;
  const dir = createDirectory(workspace.id);
  const myId = me.user.id;
  const state = {
    view: VIEWS.includes(localStorage.getItem(VIEW_STORE)) ? localStorage.getItem(VIEW_STORE) : 'mine',
    status: '',
    label: '',
    high: false,
    q: '',
    team: '',
    myTeams: [],
    items: new Map(), // id → conversation, in the current view
    cursor: null,
    generation: 0, // bumps on each reload; stale answers are dropped
    openId: null,
    // Every conversation seen (listed, fetched or in an event), in or out of
    // the view: a message in a known one is judged without a request.
    known: new Map(),
    foreign: new Set(), // ids that are not this workspace's (or not visible)
  };
  let pane = null; // the open conversation
  const cleanups = [];
  let inboxIds = null; // this workspace's inbox ids, to ignore other workspaces' events

  // ---------- layout ----------
  const listEl = h('ul', { class: 'conv-list', id: 'conv-list', 'aria-label': t('inbox.list') });
  const listStatus = h('div', { class: 'list-status', role: 'status', 'aria-live': 'polite' });
  const moreBtn = h('button', { class: 'btn btn-ghost btn-block', hidden: true, 'on:click': () => load(true) }, t('action.loadMore'));
  const tabs = h('div', { class: 'tabs inbox-tabs', role: 'tablist', 'aria-label': t('inbox.views') });
  const search = h('input', {
    class: 'input',
    type: 'search',
    name: 'q',
    placeholder: t('inbox.searchPlaceholder'),
    'aria-label': t('inbox.search'),
    'on:input': debounce(() => {
      state.q = search.value.trim();
      load();
    }, 300),
  });
  const filters = h('details', { class: 'popover filter-popover' });
  const convPane = h('section', { class: 'inbox-conv', 'aria-label': t('conv.history') });
  const listPane = h(
    'section',
    { class: 'inbox-list', 'aria-label': t('inbox.list') },
    h('h1', { class: 'sr-only' }, t('inbox.title')),
    tabs,
    h('div', { class: 'inbox-search' }, search, filters),
    listStatus,
    listEl,
    moreBtn,
  );
  const layout = h('div', { class: 'inbox' }, listPane, convPane);
  root.append(layout);

  function buildTabs() {
    clear(tabs);
    for (const v of VIEWS) {
      const selected = v === state.view;
      tabs.append(
        h(
          'button',
          {
            class: 'tab',
            role: 'tab',
            type: 'button',
            'aria-selected': String(selected),
            'aria-controls': 'conv-list',
            tabindex: selected ? '0' : '-1',
            dataset: { view: v },
            'on:click': () => setView(v),
            'on:keydown': tabKeys,
          },
          t('inbox.view.' + v),
          h('span', { class: 'badge badge-count tab-unread', hidden: true }),
        ),
      );
    }
  }

  /** Arrow keys move between tabs (ARIA tabs pattern). */
  function tabKeys(e) {
    const i = VIEWS.indexOf(e.currentTarget.dataset.view);
    let j = null;
    if (e.key === 'ArrowRight') j = (i + 1) % VIEWS.length;
    if (e.key === 'ArrowLeft') j = (i + VIEWS.length - 1) % VIEWS.length;
    if (e.key === 'Home') j = 0;
    if (e.key === 'End') j = VIEWS.length - 1;
    if (j === null) return;
    e.preventDefault();
    setView(VIEWS[j]);
    tabs.querySelector(`[data-view="${VIEWS[j]}"]`).focus();
  }

  function setView(v) {
    if (v === state.view) return;
    state.view = v;
    localStorage.setItem(VIEW_STORE, v);
    buildTabs();
    buildFilters();
    load();
  }

  function buildFilters() {
    const statusOk = state.view === 'all' || state.view === 'team';
    if (!statusOk) state.status = '';
    const count = [state.status, state.label, state.high, state.view === 'team' && state.team].filter(Boolean).length;
    const statusSel = h(
      'select',
      { class: 'select', 'on:change': (e) => ((state.status = e.target.value), applyFilters()) },
      h('option', { value: '' }, t('inbox.filter.anyStatus')),
      STATUSES.map((s) => h('option', { value: s, selected: s === state.status }, t('conv.status.' + s))),
    );
    const labelIn = h('input', {
      class: 'input',
      type: 'text',
      value: state.label,
      'on:change': (e) => ((state.label = e.target.value.trim()), applyFilters()),
    });
    const high = h('input', { type: 'checkbox', checked: state.high, 'on:change': (e) => ((state.high = e.target.checked), applyFilters()) });
    const teamSel = h(
      'select',
      { class: 'select', 'on:change': (e) => ((state.team = e.target.value), applyFilters()) },
      state.myTeams.map((tm) => h('option', { value: tm.id, selected: tm.id === state.team }, tm.name)),
    );
    clear(filters).append(
      h('summary', { class: 'btn btn-sm', 'aria-label': t('inbox.filters') }, icon('filter'), t('inbox.filters'), count ? h('span', { class: 'badge badge-count' }, count) : null),
      h(
        'div',
        { class: 'popover-body' },
        state.view === 'team' && state.myTeams.length > 1 ? h('label', { class: 'label' }, t('inbox.filter.team'), teamSel) : null,
        statusOk ? h('label', { class: 'label' }, t('inbox.filter.status'), statusSel) : null,
        h('label', { class: 'label' }, t('inbox.filter.label'), labelIn),
        h('label', { class: 'check' }, high, t('inbox.filter.highPriority')),
        h('button', {
          class: 'btn btn-sm',
          type: 'button',
          'on:click': () => {
            state.status = '';
            state.label = '';
            state.high = false;
            applyFilters();
          },
        }, t('action.clear')),
      ),
    );
  }

  function applyFilters() {
    const open = filters.open;
    buildFilters();
    filters.open = open;
    load();
  }

  // ---------- the query of the current view ----------
  function query(cursor) {
    const p = new URLSearchParams();
    if (state.view === 'mine') {
      p.set('assignee_id', myId);
      p.set('status', 'assigned');
      p.set('snoozed', 'false');
    } else if (state.view === 'snoozed') {
      p.set('snoozed', 'true');
    } else if (state.view === 'unassigned') {
      p.set('status', 'queued');
    } else if (state.view === 'resolved') {
      p.set('status', 'resolved');
    } else if (state.view === 'team') {
      p.set('team_id', state.team);
    }
    if (state.status) p.set('status', state.status);
    if (state.label) p.set('label', state.label);
    if (state.q) p.set('q', state.q);
    if (cursor) p.set('cursor', cursor);
    p.set('limit', String(PAGE));
    return p.toString();
  }

  /** Whether a conversation belongs in the current view (as the server would say). */
  function matches(c) {
    const v = state.view;
    if (v === 'mine' && !(c.assignee_id === myId && c.status === 'assigned' && !c.snoozed_until)) return false;
    if (v === 'snoozed' && !c.snoozed_until) return false;
    if (v === 'unassigned' && c.status !== 'queued') return false;
    if (v === 'resolved' && c.status !== 'resolved') return false;
    if (v === 'team' && c.team_id !== state.team) return false;
    if (state.status && c.status !== state.status) return false;
    if (state.label && !(c.labels || []).includes(state.label)) return false;
    if (state.high && !(c.priority > 0)) return false;
    return true;
  }

  async function load(more = false) {
    const gen = more ? state.generation : ++state.generation;
    if (state.view === 'team' && !state.team) {
      if (!state.myTeams.length) {
        state.items.clear();
        renderList(t('inbox.noTeams'));
        return;
      }
      state.team = state.myTeams[0].id;
    }
    listStatus.textContent = t('common.loading');
    layout.setAttribute('aria-busy', 'true');
    try {
      const page = await ctx.api('GET', `${dir.base}/conversations?${query(more ? state.cursor : null)}`);
      if (gen !== state.generation) return;
      if (!more) state.items.clear();
      for (const c of page.items) {
        state.known.set(c.id, c);
        if (!state.high || c.priority > 0) state.items.set(c.id, c);
      }
      state.cursor = page.next_cursor || null;
      renderList();
    } catch (e) {
      if (gen !== state.generation) return;
      renderList(t('inbox.loadFailed') + ' ' + errorText(e));
    } finally {
      if (gen === state.generation) layout.removeAttribute('aria-busy');
    }
  }

  // ---------- the list ----------
  const itemEls = new Map(); // id → li

  /** Most recent activity first (times parsed: their fractions vary in length). */
  function sorted() {
    return [...state.items.values()].sort((a, b) => Date.parse(b.updated_at) - Date.parse(a.updated_at));
  }

  function renderList(message) {
    const list = sorted();
    listStatus.textContent = message || (list.length ? '' : t('inbox.empty'));
    if (!list.length && !message) listStatus.append(' ', h('a', { href: '#/start' }, t('guide.link')));
    listStatus.classList.toggle('empty', !list.length || Boolean(message));
    moreBtn.hidden = !state.cursor;
    list.forEach((c, i) => {
      let li = itemEls.get(c.id);
      if (!li) {
        li = h('li', { dataset: { id: c.id } });
        itemEls.set(c.id, li);
      }
      fillItem(li, c);
      if (listEl.children[i] !== li) listEl.insertBefore(li, listEl.children[i] || null);
    });
    for (const [id, li] of itemEls) {
      if (!state.items.has(id)) {
        li.remove();
        itemEls.delete(id);
      }
    }
    showTabUnread();
  }

  function showTabUnread() {
    const n = [...state.items.values()].reduce((s, c) => s + (c.unread_count || 0), 0);
    const badge = tabs.querySelector(`[data-view="${state.view}"] .tab-unread`);
    if (badge) {
      badge.hidden = n === 0;
      badge.textContent = n > 99 ? '99+' : String(n);
      badge.setAttribute('aria-label', t('inbox.unread', { n }));
    }
  }

  /** (Re)draws an item when what it shows changed (keeps focus otherwise). */
  function fillItem(li, c) {
    completeRow(c);
    const unread = c.unread_count || 0;
    const last = c.last_message;
    const who = contactLabel(c.contact, t('inbox.visitor'), c.contact_id);
    const sig = JSON.stringify([c.status, c.priority, c.labels, c.assignee_id, c.updated_at, unread, who, last && [last.seq, last.body], c.id === state.openId]);
    if (li.dataset.sig === sig) return;
    li.dataset.sig = sig;
    const assignee = h('span', { class: 'conv-assignee truncate muted small' });
    if (c.assignee_id && c.assignee_id !== myId) dir.memberName(c.assignee_id).then((n) => (assignee.textContent = n));
    const link = h(
      'a',
      {
        class: ['conv-item', unread ? 'is-unread' : ''],
        href: `#/inbox/${c.id}`,
        'aria-current': c.id === state.openId ? 'true' : null,
      },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, icon('user')),
      h(
        'span',
        { class: 'conv-main' },
        h('span', { class: 'conv-top' }, h('span', { class: 'conv-name truncate' }, who), h('time', { class: 'conv-time', datetime: c.updated_at, title: fmtDateTime(c.updated_at) }, fmtDate(c.updated_at))),
        h('span', { class: 'conv-preview truncate' }, last ? previewText({ text: last.body, private: last.private }) : '\u00a0'),
        h(
          'span',
          { class: 'conv-meta' },
          statusBadge(c.status),
          priorityBadge(c.priority),
          (c.labels || []).slice(0, 3).map((l) => h('span', { class: 'badge badge-muted label-chip' }, l)),
          assignee,
        ),
      ),
      unread ? h('span', { class: 'badge badge-count conv-unread', 'aria-label': t('inbox.unread', { n: unread }) }, unread > 99 ? '99+' : unread) : null,
    );
    li.replaceChildren(link);
  }

  /** Redraws conversation `id`'s row, if it is listed. */
  function refreshRow(id) {
    const li = itemEls.get(id);
    const c = state.items.get(id);
    if (li && c) fillItem(li, c);
  }

  /** Keeps `m` as `c`'s newest message unless it already has a newer one. */
  function setLast(c, m) {
    if (!c.last_message || c.last_message.seq <= m.seq) c.last_message = m;
  }

  /**
   * Keeps what the list gave a row (contact, newest message, unread count)
   * when a socket frame or a single-conversation fetch replaces it.
   */
  function carryOver(c, before) {
    if (!before) return;
    if (c.unread_count === undefined) c.unread_count = before.unread_count;
    if (!c.contact && before.contact) c.contact = before.contact;
    if (before.last_message) setLast(c, before.last_message);
  }

  // Rows completed already (or being completed), by conversation id.
  const completing = new Set();
  /**
   * A row the list API never gave (it came from a socket event) lacks the
   * contact and perhaps the newest message: fetch them, once.
   */
  function completeRow(c) {
    const needsContact = !c.contact;
    const needsLast = !c.last_message && c.last_seq > 0;
    if ((!needsContact && !needsLast) || completing.has(c.id)) return;
    completing.add(c.id);
    const id = c.id;
    if (needsContact) {
      dir.contact(c.contact_id).then((full) => {
        const cur = state.known.get(id);
        if (!cur || cur.contact) return;
        cur.contact = { name: full.name, email: full.email, phone: full.phone };
        refreshRow(id);
      }, () => {});
    }
    if (needsLast) {
      dir
        .queue(() => ctx.api('GET', `${dir.base}/conversations/${id}/messages?before_seq=${c.last_seq + 1}&limit=1`))
        .then((page) => {
          const m = page.items[page.items.length - 1];
          const cur = state.known.get(id);
          if (!m || !cur) return;
          setLast(cur, m);
          refreshRow(id);
        }, () => {});
    }
  }

  // ---------- real time ----------
  async function ours(c) {
    if (!inboxIds) {
      const list = await dir.inboxes();
      inboxIds = new Set(list.map((i) => i.id));
    }
    return inboxIds.has(c.inbox_id);
  }

  const fetching = new Map();
  /** A conversation we do not list yet: fetch it (404: not ours). */
  function fetchConversation(id) {
    if (!fetching.has(id)) {
      fetching.set(
        id,
        ctx.api('GET', `${dir.base}/conversations/${id}`).catch(() => null).finally(() => setTimeout(() => fetching.delete(id), 2000)),
      );
    }
    return fetching.get(id);
  }

  function upsert(c) {
    carryOver(c, state.known.get(c.id));
    state.known.set(c.id, c);
    if (matches(c)) {
      state.items.set(c.id, c);
      // Socket events carry no unread count (it is per reader): ask once.
      if (c.unread_count === undefined) {
        fetchConversation(c.id).then((fresh) => {
          const cur = state.items.get(c.id);
          if (fresh && cur && cur.unread_count === undefined) {
            cur.unread_count = fresh.unread_count;
            renderList();
          }
        });
      }
    } else {
      state.items.delete(c.id);
    }
    if (state.q) reloadSoon();
    renderList();
  }

  const reloadSoon = debounce(() => load(), 800);

  /** After a reconnect or missed events: fetch what we show again. */
  function resync() {
    load();
    if (pane) pane.resync();
  }

  cleanups.push(
    socket.on('message.created', async ({ conversation_id: id, message: m }) => {
      if (!m) return;
      const c = state.items.get(id);
      if (c) {
        c.last_seq = Math.max(c.last_seq, m.seq);
        if (Date.parse(m.created_at) > Date.parse(c.updated_at)) c.updated_at = m.created_at;
        const mine = m.sender && m.sender.type === 'agent' && m.sender.id === myId;
        const reading = id === state.openId && document.visibilityState === 'visible';
        if (!mine && !reading) c.unread_count = (c.unread_count || 0) + 1;
        setLast(c, m);
        renderList();
        return;
      }
      if (state.foreign.has(id)) return;
      const seen = state.known.get(id);
      if (seen) {
        // Out of the view until its status or assignment changes (which
        // comes as conversation.updated).
        seen.last_seq = Math.max(seen.last_seq, m.seq);
        if (Date.parse(m.created_at) > Date.parse(seen.updated_at)) seen.updated_at = m.created_at;
        setLast(seen, m);
        return;
      }
      const fresh = await fetchConversation(id);
      if (!fresh || !(await ours(fresh))) {
        state.foreign.add(id);
        return;
      }
      setLast(fresh, m);
      upsert(fresh);
    }),
    socket.on('conversation.updated', async ({ conversation: c }) => {
      if (!c || !(await ours(c))) return;
      state.foreign.delete(c.id);
      if (pane && pane.id === c.id) pane.updated(c);
      upsert({ ...c });
    }),
    socket.on('conversation.hidden', ({ conversation_id: id }) => {
      if (state.items.delete(id)) renderList();
      if (pane && pane.id === id) pane.hidden();
    }),
    socket.on('reconnected', resync),
    // The server dropped events for this socket (it read too slowly).
    socket.on('error', (f) => f.code === 'events_missed' && resync()),
  );

  // ---------- the open conversation ----------
  function open(id) {
    if (id === state.openId && pane) return;
    state.openId = id;
    if (pane) pane.destroy();
    pane = null;
    layout.classList.toggle('has-open', Boolean(id));
    for (const [cid, li] of itemEls) {
      const a = li.firstChild;
      if (a) {
        if (cid === id) a.setAttribute('aria-current', 'true');
        else a.removeAttribute('aria-current');
      }
    }
    clear(convPane);
    if (!id) {
      const placeholder = h('div', { class: 'empty conv-placeholder' }, t('inbox.pick'));
      convPane.append(placeholder);
      // A newcomer's workspace has no inbox yet: the first-run guide here,
      // where they land, instead of an empty pane.
      ctx.api('GET', `${dir.base}/inboxes`).then((list) => {
        if (!list.length && placeholder.isConnected) placeholder.replaceWith(firstRunGuide(workspace.role));
      }, () => {});
      return;
    }
    pane = openConversation(convPane, {
      ctx,
      dir,
      id,
      onRead(cid) {
        if (ctx.unread) ctx.unread.read(cid);
        const c = state.items.get(cid);
        if (c && c.unread_count) {
          c.unread_count = 0;
          renderList();
        }
      },
      onConversation(c) {
        // The pane's copy may carry an old unread count: the list keeps its own.
        const { unread_count: _stale, ...rest } = c;
        if (state.items.has(c.id) || matches(rest)) upsert(rest);
      },
    });
  }

  // ---------- start ----------
  buildTabs();
  dir.teams().then((teams) => {
    state.myTeams = teams.filter((tm) => (tm.member_ids || []).includes(myId));
    buildFilters();
    if (state.view === 'team') load();
  });
  buildFilters();
  if (state.view !== 'team') load();
  open(ctx.params[0] || null);

  return {
    open,
    destroy() {
      for (const off of cleanups) off();
      if (pane) pane.destroy();
    },
  };
}

function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
