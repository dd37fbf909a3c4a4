// The unread total in the document title ("(3) Kefu"): unread messages in
// the conversations assigned to me in the current workspace, the ones I am
// expected to answer. Seeded from GET …/conversations?assignee_id=<me>&
// status=assigned (their `unread_count`), then kept up from the socket:
// a message from someone else adds one unless I am looking at that
// conversation; reading it (the conversation pane calls `read(id)`, or my
// other tab's read frame) clears it; assignments come and go with
// conversation.updated. After a reconnect it is seeded again.

import { api } from './api.js';
import { t } from './i18n.js';

const SEED_LIMIT = 200;

/** Starts tracking; returns {read(id), destroy()}. */
export function trackUnread({ me, workspace, socket }) {
  const myId = me.user.id;
  const base = `/workspaces/${workspace.id}/conversations`;
  let counts = new Map(); // conversation id → unread messages
  let generation = 0; // a newer seed makes older answers stale
  let stopped = false;

  function show() {
    if (stopped) return;
    let n = 0;
    for (const c of counts.values()) n += c;
    const app = t('app.name');
    document.title = n > 0 ? t('shell.titleUnread', { n: n > 99 ? '99+' : n, app }) : app;
  }

  async function seed() {
    const gen = ++generation;
    try {
      const page = await api('GET', `${base}?assignee_id=${myId}&status=assigned&limit=${SEED_LIMIT}`);
      if (gen !== generation) return;
      counts = new Map(page.items.map((c) => [c.id, c.unread_count || 0]));
      show();
    } catch {
      /* offline or no access: the title stays as it was */
    }
  }

  /** Whether I am reading conversation `id` right now. */
  function looking(id) {
    return document.visibilityState === 'visible' && location.hash === `#/inbox/${id}`;
  }

  const offs = [
    socket.on('message.created', ({ conversation_id: id, message: m }) => {
      if (!m || !counts.has(id)) return;
      const mine = m.sender && m.sender.type === 'agent' && m.sender.id === myId;
      if (mine || looking(id)) return;
      counts.set(id, counts.get(id) + 1);
      show();
    }),
    socket.on('conversation.updated', async ({ conversation: c }) => {
      if (!c) return;
      const ours = c.assignee_id === myId && c.status === 'assigned';
      if (!ours) {
        if (counts.delete(c.id)) show();
        return;
      }
      if (counts.has(c.id)) return;
      // Newly mine: its unread count is per reader, not in the frame (and a
      // conversation of another workspace answers 404 here).
      const gen = generation;
      try {
        const fresh = await api('GET', `${base}/${c.id}`);
        if (gen !== generation || counts.has(c.id)) return;
        counts.set(c.id, fresh.unread_count || 0);
        show();
      } catch {
        /* not this workspace's */
      }
    }),
    socket.on('conversation.hidden', ({ conversation_id: id }) => counts.delete(id) && show()),
    // My read in another tab.
    socket.on('read', (f) => {
      if (f.who && f.who.type === 'agent' && f.who.id === myId && counts.has(f.conversation_id)) {
        counts.set(f.conversation_id, 0);
        show();
      }
    }),
    socket.on('reconnected', seed),
  ];
  seed();

  return {
    /** I have read conversation `id` up to its newest message. */
    read(id) {
      if (counts.get(id)) {
        counts.set(id, 0);
        show();
      }
    },
    destroy() {
      stopped = true;
      generation++;
      for (const off of offs) off();
      document.title = t('app.name');
    },
  };
}
