// Per-workspace look-ups the inbox needs over and over: members (names),
// teams, inboxes, contacts. Each is fetched once and cached for the life
// of the page; a limited queue keeps the many small contact requests under
// the server's per-IP rate limit.

import { api } from './api.js';

/** Runs at most `n` async jobs at once. */
export function limiter(n) {
  let active = 0;
  const waiting = [];
  const next = () => {
    if (active >= n || waiting.length === 0) return;
    active++;
    const { job, ok, fail } = waiting.shift();
    job()
      .then(ok, fail)
      .finally(() => {
        active--;
        next();
      });
  };
  return (job) =>
    new Promise((ok, fail) => {
      waiting.push({ job, ok, fail });
      next();
    });
}

export function createDirectory(workspaceId) {
  const base = `/workspaces/${workspaceId}`;
  const queue = limiter(3);
  const once = new Map();
  const contacts = new Map();

  /** Caches one GET by key (a failure is forgotten so it can be retried). */
  function cached(key, path, fallback) {
    if (!once.has(key)) {
      const p = api('GET', base + path).catch((e) => {
        once.delete(key);
        if (fallback !== undefined) return fallback;
        throw e;
      });
      once.set(key, p);
    }
    return once.get(key);
  }

  return {
    base,
    queue,
    members: () => cached('members', '/members', []),
    teams: () => cached('teams', '/teams', []),
    inboxes: () => cached('inboxes', '/inboxes', []),
    cannedResponses: () => cached('canned', '/canned-responses', { items: [] }).then((r) => (r && r.items) || []),
    /** The contact (cached); rejects on error. */
    contact(id) {
      if (!contacts.has(id)) {
        const p = queue(() => api('GET', `${base}/contacts/${id}`)).catch((e) => {
          contacts.delete(id);
          throw e;
        });
        contacts.set(id, p);
      }
      return contacts.get(id);
    },
    /** Replaces a cached contact (after an edit). */
    setContact(c) {
      contacts.set(c.id, Promise.resolve(c));
    },
    /** The member's display name, from the cached list. */
    async memberName(userId) {
      if (!userId) return '';
      const list = await this.members();
      const m = list.find((x) => x.user_id === userId);
      return m ? m.name || m.email : '';
    },
  };
}

/**
 * A contact's display name: name, e-mail, phone or a short visitor tag
 * made from `id` (the contact's id; list rows' contacts carry none).
 */
export function contactLabel(contact, fallback, id = contact && contact.id) {
  const c = contact || {};
  return c.name || c.email || c.phone || (id ? `${fallback} ${shortId(id)}` : fallback);
}

/** The last 4 characters of an id, for telling anonymous visitors apart. */
export function shortId(id) {
  return id ? '#' + String(id).replace(/-/g, '').slice(-4).toUpperCase() : '';
}
