// The conversation pane: header with the lifecycle actions, the message
// history (newest page first, older pages on scrolling up), the composer
// (pages/conversation-composer.js) and the side panel
// (pages/conversation-side.js).
//
// Messages are kept by `seq` (gap-free per conversation, private notes
// included for agents). The first page is the last 50 (`after_seq =
// last_seq - 50`, then forward until nothing is left); older pages come
// with `before_seq = <oldest held>` as the agent scrolls up. A socket
// message whose seq skips one triggers a fetch of what is missing; so does
// a reconnect.
//
// A separator ("Today", "Yesterday", "Monday, 3 March") starts each local
// calendar day of the thread; messages show only their time of day.

import { h, clear, toast, uid, icon, modal } from '../lib/dom.js';
import { t, fmtTime, fmtDateTime, dayKey, fmtDay } from '../lib/i18n.js';
import { contactLabel, shortId } from '../lib/directory.js';
import { errorText } from '../lib/errors.js';
import { apiUpload } from '../lib/api.js';
import { renderInto } from '../lib/markdown.js';
import { statusBadge } from './inbox-parts.js';
import { createComposer } from './conversation-composer.js';
import { createSide } from './conversation-side.js';

const PAGE = 50;
const SUPERVISORS = ['owner', 'admin', 'supervisor'];
/** How often an open conversation says it is being viewed, and how long a colleague's last word counts. */
const VIEWING_EVERY = 15000;
const VIEWING_TTL = 40000;
const TYPING_TTL = 8000;

/**
 * Opens conversation `id` in `container`.
 * hooks: onRead(id) after marking it read; onConversation(conv) after a change.
 * Returns {id, updated(conv), hidden(), resync(), destroy()}.
 */
export function openConversation(container, { ctx, dir, id, onRead, onConversation }) {
  const { me, socket, workspace } = ctx;
  const myId = me.user.id;
  const base = `${dir.base}/conversations/${id}`;
  const isSupervisor = SUPERVISORS.includes(workspace.role);
  let conv = null;
  let destroyed = false;
  const msgs = new Map(); // seq → message
  const order = []; // seqs, ascending, as rendered
  const pending = new Map(); // client_msg_id → {el, body, private}
  let oldest = Infinity;
  let newest = 0;
  let loadingOlder = false;
  let atStart = false; // the oldest message is in
  let topWatching = false; // the first page is in: scrolling up loads more
  let readSent = 0;
  const offs = [];

  // ---------- layout ----------
  const title = h('h2', { class: 'conv-title truncate' }, t('common.loading'));
  // Collision cues: colleagues typing in or viewing this conversation.
  const presence = h('div', { class: 'conv-presence small', 'aria-live': 'polite', hidden: true });
  const headMeta = h('div', { class: 'conv-head-meta' });
  const actions = h('div', { class: 'toolbar conv-actions' });
  const detailsBtn = h('button', {
    class: 'btn btn-sm btn-ghost side-toggle',
    type: 'button',
    'aria-expanded': 'false',
    'aria-controls': `side-${id}`,
    'on:click': () => toggleSide(),
  }, t('conv.details'));
  const header = h(
    'header',
    { class: 'conv-header' },
    h('a', { class: 'btn btn-ghost icon-btn conv-back', href: '#/inbox', 'aria-label': t('conv.back'), title: t('conv.back') }, icon('back')),
    h('div', { class: 'conv-head-main' }, title, headMeta, presence),
    actions,
    detailsBtn,
  );
  const top = h('div', { class: 'thread-top muted small' });
  const list = h('div', { class: 'msg-list' });
  const scroller = h(
    'div',
    { class: 'thread', role: 'log', 'aria-label': t('conv.history'), 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: '0' },
    top,
    list,
  );
  const jump = h('button', { class: 'btn btn-sm btn-primary jump-new', type: 'button', hidden: true, 'on:click': () => toBottom(true) }, icon('down'), t('inbox.newActivity'));
  const typing = h('div', { class: 'typing-line muted small', 'aria-live': 'polite' });
  const composer = createComposer({
    ctx,
    dir,
    conversationId: id,
    onSend: (body, isPrivate) => send(body, isPrivate),
    onAttach: (file, isPrivate) => sendFile(file, isPrivate),
  });
  const side = createSide({
    ctx,
    dir,
    conversationId: id,
    insert: (text) => {
      // Over the thread (narrow screens) the panel would hide the reply.
      if (window.matchMedia('(max-width: 1180px)').matches) toggleSide(false);
      composer.insert(text);
    },
    onChanged: (c) => updated(c),
  });
  side.el.id = `side-${id}`;
  const thread = h('div', { class: 'conv-thread' }, scroller, jump, typing, composer.el);
  const root = h('div', { class: 'conv' }, header, h('div', { class: 'conv-body' }, thread, side.el));
  clear(container).append(root);

  function toggleSide(open) {
    const show = open === undefined ? !root.classList.contains('side-open') : open;
    root.classList.toggle('side-open', show);
    detailsBtn.setAttribute('aria-expanded', String(show));
    if (show) side.el.focus();
  }

  // ---------- header ----------
  function renderHeader() {
    if (!conv) return;
    dir.contact(conv.contact_id).then(
      (c) => (title.textContent = contactLabel(c, t('inbox.visitor'))),
      () => (title.textContent = t('inbox.visitor') + ' ' + shortId(conv.contact_id)),
    );
    const assignee = h('span', { class: 'muted small' });
    if (conv.assignee_id) {
      if (conv.assignee_id === myId) assignee.textContent = `${t('conv.assignee')}: ${t('conv.you')}`;
      else dir.memberName(conv.assignee_id).then((n) => (assignee.textContent = `${t('conv.assignee')}: ${n}`));
    }
    const snoozed = conv.snoozed_until
      ? h('span', { class: 'badge badge-muted snoozed-badge' }, t('conv.snoozedUntil', { time: fmtDateTime(conv.snoozed_until) }))
      : null;
    clear(headMeta).append(statusBadge(conv.status), snoozed, assignee);
    clear(actions);
    const s = conv.status;
    const unassigned = !conv.assignee_id;
    if (s === 'bot') actions.append(actionBtn('conv.handoff', () => lifecycle('handoff')));
    if ((s === 'bot' || s === 'queued' || (s === 'assigned' && isSupervisor)) && conv.assignee_id !== myId && (unassigned || isSupervisor)) {
      actions.append(actionBtn('conv.assignToMe', assignToMe));
    }
    if (s === 'bot' || s === 'queued' || s === 'assigned') actions.append(actionBtn('conv.resolve', () => lifecycle('resolve'), 'btn-primary'));
    if (s === 'assigned' && !conv.snoozed_until) actions.append(actionBtn('conv.snooze', snooze));
    if (conv.snoozed_until) actions.append(actionBtn('conv.unsnooze', () => lifecycle('unsnooze')));
    if (s === 'resolved') actions.append(actionBtn('conv.reopen', () => lifecycle('reopen')));
    if (s !== 'closed') actions.append(actionBtn('conv.close', closeConversation));
    composer.setClosed(s === 'closed');
  }

  function actionBtn(key, fn, extra) {
    const b = h('button', { class: ['btn', 'btn-sm', extra], type: 'button' }, t(key));
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        await fn();
      } finally {
        b.disabled = false;
      }
    });
    return b;
  }

  /** Closing is final (a visitor message then starts a new conversation): asked first. */
  async function closeConversation() {
    const answer = await modal(t('conv.closeTitle'), h('p', null, t('conv.closeConfirm')), [
      h('button', { class: 'btn', value: 'cancel' }, t('action.cancel')),
      h('button', { class: 'btn btn-danger', value: 'ok' }, t('conv.close')),
    ]);
    if (answer === 'ok') await lifecycle('close');
  }

  /** Puts it aside until a time chosen from a few common ones or any. */
  async function snooze() {
    const at = (days, hour) => {
      const d = new Date();
      d.setDate(d.getDate() + days);
      d.setHours(hour, 0, 0, 0);
      return d;
    };
    const nextMonday = (8 - new Date().getDay()) % 7 || 7;
    const choices = [
      ['1h', new Date(Date.now() + 3600e3)],
      ['4h', new Date(Date.now() + 4 * 3600e3)],
      ['tomorrow', at(1, 9)],
      ['nextWeek', at(nextMonday, 9)],
    ];
    const custom = h('input', { class: 'input', type: 'datetime-local', name: 'snooze_until' });
    const picked = { value: null };
    const body = h('div', { class: 'stack-sm snooze-choices' },
      choices.map(([key, when]) => h('button', {
        type: 'button', class: 'btn', 'on:click': (e) => { picked.value = when; e.target.closest('dialog')?.close('ok'); },
      }, `${t(`conv.snooze.${key}`)} · ${fmtDateTime(when.toISOString())}`)),
      h('label', { class: 'label' }, t('conv.snooze.custom'), custom));
    const answer = await modal(t('conv.snoozeTitle'), body, [
      h('button', { class: 'btn', value: 'cancel' }, t('action.cancel')),
      h('button', { class: 'btn btn-primary', value: 'ok' }, t('conv.snooze')),
    ]);
    if (answer !== 'ok') return;
    const until = picked.value || (custom.value ? new Date(custom.value) : null);
    if (!until || Number.isNaN(until.getTime())) return;
    try {
      updated(await ctx.api('POST', `${base}/snooze`, { until: until.toISOString() }));
      toast(t('conv.snoozed'), 'success');
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }

  async function lifecycle(what) {
    try {
      const c = await ctx.api('POST', `${base}/${what}`);
      updated(c);
      if (what === 'resolve') toast(t('conv.resolved'), 'success');
      if (what === 'reopen') toast(t('conv.reopened'), 'success');
      if (what === 'close') toast(t('conv.closed'), 'success');
    } catch (e) {
      toast(errorText(e), 'error');
    }
  }

  async function assignToMe() {
    try {
      const c = await ctx.api('POST', `${base}/assign`, { assignee_id: myId, expected_assignee_id: conv.assignee_id || null });
      updated(c);
      toast(t('conv.assigned'), 'success');
    } catch (e) {
      toast(errorText(e), 'error');
      if (e.status === 409) refetch();
    }
  }

  // ---------- messages ----------
  function senderName(m, el) {
    const s = m.sender || {};
    if (s.type === 'agent') {
      if (s.id === myId) return t('conv.you');
      // The name they had when they sent it; older messages may lack it.
      if (s.name) return s.name;
      dir.memberName(s.id).then((n) => n && (el.textContent = n));
      return t('conv.sender.agent');
    }
    if (s.type === 'visitor') {
      dir.contact(conv ? conv.contact_id : '').then((c) => (el.textContent = contactLabel(c, t('conv.sender.visitor'))), () => {});
    }
    return t('conv.sender.' + (s.type || 'system'));
  }

  function messageEl(m) {
    const type = (m.sender && m.sender.type) || 'system';
    const mine = type === 'agent' && m.sender.id === myId;
    const who = h('span', { class: 'msg-who' });
    who.textContent = senderName(m, who);
    const cites = (m.citations || []).length
      ? h('div', { class: 'msg-cites small' }, t('conv.citations'), ' ', m.citations.map(citation))
      : null;
    const sugg = (m.suggestions || []).length
      ? h('div', { class: 'msg-cites small' }, m.suggestions.map((c) => h('span', { class: 'badge badge-muted' }, c.title)))
      : null;
    const reason = m.handoff_reason ? h('div', { class: 'small muted' }, t('conv.handoffReason', { reason: m.handoff_reason })) : null;
    return h(
      'article',
      {
        class: ['msg', 'msg-' + type, m.private ? 'msg-private' : '', mine ? 'msg-mine' : ''],
        dataset: { seq: String(m.seq), day: dayKey(m.created_at) },
        'aria-label': m.private ? t('conv.private') : null,
      },
      h(
        'div',
        { class: 'msg-head' },
        who,
        m.private ? h('span', { class: 'badge badge-warn' }, icon('lock'), t('conv.private')) : null,
        m.auto_reply ? h('span', { class: 'badge badge-muted auto-reply' }, t(`conv.auto.${m.auto_reply}`)) : null,
        h('time', { datetime: m.created_at, title: fmtDateTime(m.created_at) }, fmtTime(m.created_at)),
      ),
      // The bot answers in the article's Markdown (or a language model's);
      // people's messages are plain text.
      type === 'bot' ? renderInto(h('div', { class: 'msg-body md' }), m.body) : m.body ? h('div', { class: 'msg-body' }, m.body) : null,
      attachmentsEl(m.attachments),
      cites,
      sugg,
      reason,
      m.next_open_at ? h('div', { class: 'small muted' }, t('conv.nextOpen', { time: fmtDateTime(m.next_open_at) })) : null,
    );
  }

  /** A message's files: images inline (a click opens them large), others as cards to download. */
  function attachmentsEl(files) {
    if (!files || !files.length) return null;
    return h('div', { class: 'msg-files' }, files.map((a) => (a.content_type.startsWith('image/') && a.url
      ? h('button', { class: 'att-img', type: 'button', title: a.filename, 'on:click': () => lightbox(a) },
        h('img', { src: a.url, alt: a.filename, loading: 'lazy' }))
      : h('a', { class: 'att-file', href: a.url || '#', download: a.filename, rel: 'noopener' },
        icon('clip'), h('span', { class: 'att-name truncate' }, a.filename), h('span', { class: 'muted small' }, fmtBytes(a.bytes))))));
  }

  function lightbox(a) {
    modal(a.filename, h('div', { class: 'lightbox' }, h('img', { src: a.url, alt: a.filename })), [
      h('a', { class: 'btn', href: a.url, download: a.filename }, t('conv.download')),
      h('button', { class: 'btn btn-primary', value: 'close' }, t('action.close')),
    ]);
  }

  /** A file as its own message: uploaded, then sent with it (a failure says why and can be retried). */
  async function sendFile(file, isPrivate, cmid = uid('f')) {
    let p = pending.get(cmid);
    if (!p) {
      p = showPending(cmid, '', isPrivate, h('span', { class: 'att-file' }, icon('clip'), h('span', { class: 'att-name truncate' }, file.name), h('span', { class: 'muted small' }, fmtBytes(file.size))));
    }
    p.el.classList.remove('msg-failed');
    p.el.querySelector('.msg-state').textContent = t('conv.uploading');
    try {
      const up = p.uploaded || (p.uploaded = await apiUpload(`${dir.base}/attachments`, file));
      p.el.querySelector('.msg-state').textContent = t('conv.sending');
      const m = await ctx.api('POST', `${base}/messages`, { body: '', private: isPrivate, client_msg_id: cmid, attachment_ids: [up.id] });
      if (destroyed) return;
      const stick = nearBottom();
      add([m]);
      if (stick) toBottom();
    } catch (e) {
      if (destroyed || !pending.has(cmid)) return;
      p.el.classList.add('msg-failed');
      // A refused file (too large, a type not accepted) cannot succeed on a retry.
      const final = e.status === 413 || e.status === 415;
      p.el.querySelector('.msg-state').replaceChildren(final
        ? h('span', { class: 'badge badge-danger' }, errorText(e))
        : h('button', { class: 'btn btn-sm btn-danger', type: 'button', 'on:click': () => sendFile(file, isPrivate, cmid) }, t('conv.failed')));
      toast(errorText(e), 'error');
    }
  }

  /** A cited article: a link to its editor for those who may edit the knowledge base, else its title. */
  function citation(c) {
    // The editor's route: pages/admin/kb-editor.js (KB_PATH), open to supervisors and up.
    return isSupervisor && c.article_id
      ? h('a', { class: 'badge badge-info', href: `#/admin/kb/${encodeURIComponent(c.article_id)}`, title: t('conv.citationOpen') }, c.title)
      : h('span', { class: 'badge badge-info' }, c.title);
  }

  /** Index of the first rendered seq greater than `seq`. */
  function slot(seq) {
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (order[mid] < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds messages (any order, duplicates ignored). Returns how many were new. */
  function add(items) {
    let added = 0;
    let settled = false;
    for (const m of items) {
      if (m.client_msg_id && pending.has(m.client_msg_id)) {
        pending.get(m.client_msg_id).el.remove();
        pending.delete(m.client_msg_id);
        settled = true;
      }
      if (msgs.has(m.seq)) continue;
      msgs.set(m.seq, m);
      const i = slot(m.seq);
      const before = i < order.length ? list.querySelector(`[data-seq="${order[i]}"]`) : firstPending();
      list.insertBefore(messageEl(m), before);
      order.splice(i, 0, m.seq);
      oldest = Math.min(oldest, m.seq);
      newest = Math.max(newest, m.seq);
      added++;
    }
    if (added || settled) markDays();
    showTop();
    return added;
  }

  function daySep(day) {
    const label = fmtDay(day);
    return h('div', { class: 'day-sep', role: 'separator', 'aria-label': label, dataset: { day } }, h('span', null, label));
  }

  /**
   * Puts a day separator before the first message of each day (and only
   * there). Separators already right are kept, so the log's live region
   * does not announce them again; their labels are refreshed ("Today"
   * becomes "Yesterday" after midnight).
   */
  function markDays() {
    let prevDay = null;
    let sep = null; // a separator just passed, not yet matched to a message
    for (const el of [...list.children]) {
      if (el.classList.contains('day-sep')) {
        if (sep) sep.remove(); // two in a row: the first is stale
        sep = el;
        continue;
      }
      const day = el.dataset.day;
      if (!day) continue;
      if (day === prevDay) {
        if (sep) sep.remove();
      } else if (sep && sep.dataset.day === day) {
        const label = fmtDay(day);
        if (sep.firstChild.textContent !== label) {
          sep.firstChild.textContent = label;
          sep.setAttribute('aria-label', label);
        }
      } else {
        if (sep) sep.remove();
        list.insertBefore(daySep(day), el);
      }
      sep = null;
      prevDay = day;
    }
    if (sep) sep.remove();
  }

  function firstPending() {
    const p = pending.values().next();
    return p.done ? null : p.value.el;
  }

  function showTop() {
    if (oldest <= 1 || (conv && conv.last_seq === 0)) atStart = true;
    top.textContent = atStart ? t('conv.start') : loadingOlder ? t('conv.loadingOlder') : '';
  }

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  function toBottom(focusLast) {
    scroller.scrollTop = scroller.scrollHeight;
    jump.hidden = true;
    if (focusLast) markRead();
  }

  /** Fetches every message after `after` (several pages if needed). */
  async function fetchAfter(after) {
    // Busy: screen readers do not read a whole page of history aloud.
    scroller.setAttribute('aria-busy', 'true');
    try {
      await fetchPages(after);
    } finally {
      scroller.removeAttribute('aria-busy');
    }
  }

  async function fetchPages(after) {
    for (;;) {
      const page = await ctx.api('GET', `${base}/messages?after_seq=${after}&limit=${PAGE * 4}`);
      if (destroyed) return;
      const stick = nearBottom();
      add(page.items);
      if (stick) toBottom();
      if (page.items.length < PAGE * 4) return;
      after = page.items[page.items.length - 1].seq;
    }
  }

  async function loadOlder() {
    if (loadingOlder || atStart || !Number.isFinite(oldest)) return;
    loadingOlder = true;
    let failed = false;
    scroller.setAttribute('aria-busy', 'true');
    showTop();
    try {
      const page = await ctx.api('GET', `${base}/messages?before_seq=${oldest}&limit=${PAGE}`);
      if (destroyed) return;
      // A short page: nothing older is left.
      if (page.items.length < PAGE) atStart = true;
      // Keep the visible messages where they are while adding above them.
      const fromBottom = scroller.scrollHeight - scroller.scrollTop;
      add(page.items);
      scroller.scrollTop = scroller.scrollHeight - fromBottom;
    } catch (e) {
      failed = true;
      toast(errorText(e), 'error');
    } finally {
      loadingOlder = false;
      scroller.removeAttribute('aria-busy');
      showTop();
      // The observer only reports changes: still near the top, go on
      // (not after a failure: the next scroll tries again).
      if (!destroyed && !failed && scroller.scrollTop < 200) setTimeout(loadOlder, 0);
    }
  }

  const topWatch = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadOlder();
  }, { root: scroller, rootMargin: '200px 0px 0px 0px' });

  scroller.addEventListener('scroll', () => {
    // (After a failed page the observer stays quiet: scrolling retries.)
    if (scroller.scrollTop < 200 && topWatching) loadOlder();
    if (nearBottom()) {
      jump.hidden = true;
      markRead();
    }
  });

  /** Tells the server (and the visitor's ticks) we read up to `newest`. */
  function markRead() {
    if (newest <= readSent || document.visibilityState !== 'visible') return;
    readSent = newest;
    const frame = { type: 'read', conversation_id: id, seq: newest };
    if (!socket.send(frame)) ctx.api('POST', `${base}/read`, { seq: newest }).catch(() => {});
    onRead(id);
  }

  // ---------- sending ----------
  /** A message of mine on its way: shown at once, replaced by the stored one (or marked failed). */
  function showPending(cmid, body, isPrivate, content) {
    const el = h(
      'article',
      { class: ['msg', 'msg-agent', 'msg-mine', 'msg-pending', isPrivate ? 'msg-private' : ''], dataset: { day: dayKey(new Date()) } },
      h('div', { class: 'msg-head' }, h('span', { class: 'msg-who' }, t('conv.you')), isPrivate ? h('span', { class: 'badge badge-warn' }, icon('lock'), t('conv.private')) : null, h('span', { class: 'msg-state small' }, t('conv.sending'))),
      h('div', { class: 'msg-body' }, content),
    );
    const p = { el, body, private: isPrivate };
    pending.set(cmid, p);
    list.append(el);
    markDays();
    toBottom();
    return p;
  }

  function send(body, isPrivate, cmid = uid('c')) {
    let p = pending.get(cmid);
    if (!p) {
      p = showPending(cmid, body, isPrivate, body);
    }
    p.el.classList.remove('msg-failed');
    p.el.querySelector('.msg-state').textContent = t('conv.sending');
    ctx
      .api('POST', `${base}/messages`, { body, private: isPrivate, client_msg_id: cmid })
      .then((m) => {
        if (destroyed) return;
        const stick = nearBottom();
        add([m]);
        if (stick) toBottom();
        // A reply to a waiting conversation may have changed it; the
        // socket's conversation.updated brings that.
      })
      .catch((e) => {
        if (destroyed || !pending.has(cmid)) return;
        p.el.classList.add('msg-failed');
        const state = p.el.querySelector('.msg-state');
        state.replaceChildren(
          h('button', { class: 'btn btn-sm btn-danger', type: 'button', 'on:click': () => send(body, isPrivate, cmid) }, t('conv.failed')),
        );
        toast(errorText(e), 'error');
      });
  }

  // ---------- socket ----------
  let typingTimer = null;
  offs.push(
    socket.on('message.created', ({ conversation_id: cid, message: m }) => {
      if (cid !== id || !m) return;
      if (newest && m.seq > newest + 1) {
        fetchAfter(newest).catch(() => {});
        return;
      }
      const stick = nearBottom() || (m.sender && m.sender.id === myId);
      add([m]);
      if (m.sender && m.sender.type === 'visitor') {
        showTyping(false);
        side.refreshSuggestions();
      }
      if (conv && m.seq > conv.last_seq) conv.last_seq = m.seq;
      if (stick) {
        toBottom();
        markRead();
      } else {
        jump.hidden = false;
      }
    }),
    socket.on('typing', (f) => {
      if (f.conversation_id !== id || !f.who) return;
      if (f.who.type === 'visitor') showTyping(f.on);
      else if (f.who.type === 'agent' && f.who.id && f.who.id !== myId) {
        // Typing means viewing too; "stopped typing" says nothing about it
        // (a console that leaves says "not viewing" first, then stops typing).
        if (f.on) {
          colleagues.typing.set(f.who.id, { until: Date.now() + TYPING_TTL, note: Boolean(f.private) });
          colleagues.viewing.set(f.who.id, Date.now() + VIEWING_TTL);
        } else colleagues.typing.delete(f.who.id);
        renderPresence();
      }
    }),
    socket.on('viewing', (f) => {
      if (f.conversation_id !== id || !f.who || f.who.type !== 'agent' || !f.who.id || f.who.id === myId) return;
      if (f.on) colleagues.viewing.set(f.who.id, Date.now() + VIEWING_TTL);
      else {
        colleagues.viewing.delete(f.who.id);
        colleagues.typing.delete(f.who.id);
      }
      renderPresence();
    }),
    socket.on('read', (f) => {
      if (f.conversation_id === id && f.who && f.who.type === 'visitor') showVisitorRead(f.seq);
    }),
  );

  // Who else is here: each colleague's console says "viewing" when it
  // opens the conversation and again every VIEWING_EVERY while it stays
  // open, and "not viewing" when it leaves; one that falls silent (a
  // closed tab, a lost connection) is dropped after VIEWING_TTL. No state
  // on the server, so it holds across replicas.
  const colleagues = { viewing: new Map(), typing: new Map() }; // id → expiry / {until, note}
  let presenceGen = 0;
  function sayViewing(on) {
    socket.send({ type: 'viewing', conversation_id: id, on });
  }
  sayViewing(true);
  // Not yet connected on a first load, or after a reconnect: say it as soon
  // as the socket is there.
  offs.push(socket.on('open', () => sayViewing(true)));
  const viewingTimer = setInterval(() => {
    if (!document.hidden) sayViewing(true);
    const now = Date.now();
    let changed = false;
    for (const [who, until] of colleagues.viewing) if (until < now) changed = colleagues.viewing.delete(who) || changed;
    for (const [who, v] of colleagues.typing) if (v.until < now) changed = colleagues.typing.delete(who) || changed;
    if (changed) renderPresence();
  }, VIEWING_EVERY);

  async function renderPresence() {
    const gen = ++presenceGen;
    const typingIds = [...colleagues.typing.keys()];
    const viewingIds = [...colleagues.viewing.keys()].filter((who) => !colleagues.typing.has(who));
    const names = (ids) => Promise.all(ids.map((who) => dir.memberName(who).catch(() => t('conv.colleague'))));
    const [typers, viewers] = await Promise.all([names(typingIds), names(viewingIds)]);
    if (gen !== presenceGen || destroyed) return;
    const parts = [];
    if (typers.length) {
      const note = typingIds.some((who) => colleagues.typing.get(who)?.note);
      parts.push(h('span', { class: 'presence-typing' },
        t(typers.length === 1 ? 'conv.colleagueTyping' : 'conv.colleaguesTyping', { names: typers.join(t('conv.nameSep')) }),
        note ? ` (${t('conv.note')})` : ''));
    }
    if (viewers.length) {
      parts.push(h('span', { class: 'presence-viewing' },
        t(viewers.length === 1 ? 'conv.colleagueViewing' : 'conv.colleaguesViewing', { names: viewers.join(t('conv.nameSep')) })));
    }
    clear(presence).append(...parts);
    presence.hidden = parts.length === 0;
  }

  /** "Read" under the last reply the visitor has seen (socket `read` frames). */
  let readMark = null;
  function showVisitorRead(seq) {
    let last = null;
    for (const s of order) {
      if (s > seq) break;
      const m = msgs.get(s);
      if (m.sender && m.sender.type !== 'visitor' && !m.private) last = s;
    }
    const el = last && list.querySelector(`[data-seq="${last}"] .msg-head`);
    if (!el) return;
    if (!readMark) readMark = h('span', { class: 'msg-read small' }, icon('check', 'icon-sm'), t('conv.read'));
    el.append(readMark);
  }

  function showTyping(on) {
    clearTimeout(typingTimer);
    typing.textContent = on ? t('conv.typing') : '';
    if (on) typingTimer = setTimeout(() => (typing.textContent = ''), 8000);
  }

  const onVisible = () => document.visibilityState === 'visible' && nearBottom() && markRead();
  document.addEventListener('visibilitychange', onVisible);

  // ---------- lifecycle ----------
  function updated(c) {
    if (!c || c.id !== id) return;
    conv = { ...conv, ...c };
    renderHeader();
    side.update(conv);
    onConversation(conv);
  }

  async function refetch() {
    try {
      updated(await ctx.api('GET', base));
    } catch {
      /* shown by the next action */
    }
  }

  async function start() {
    try {
      conv = await ctx.api('GET', base);
    } catch (e) {
      if (destroyed) return;
      clear(container).append(h('div', { class: 'empty' }, e.status === 404 ? t('conv.notFound') : errorText(e), ' ', h('a', { href: '#/inbox' }, t('conv.back'))));
      return;
    }
    if (destroyed) return;
    renderHeader();
    side.update(conv);
    try {
      await fetchAfter(Math.max(0, conv.last_seq - PAGE));
    } catch (e) {
      toast(errorText(e), 'error');
    }
    if (destroyed) return;
    toBottom();
    markRead();
    topWatch.observe(top);
    topWatching = true;
    if (window.matchMedia('(min-width: 761px)').matches) composer.focus();
  }

  start();

  return {
    id,
    updated,
    hidden() {
      toast(t('conv.notFound'), 'info');
      composer.setClosed(true);
    },
    resync() {
      refetch();
      if (newest) fetchAfter(newest).catch(() => {});
      side.refreshSuggestions();
    },
    destroy() {
      destroyed = true;
      clearInterval(viewingTimer);
      sayViewing(false);
      for (const off of offs) off();
      topWatch.disconnect();
      clearTimeout(typingTimer);
      document.removeEventListener('visibilitychange', onVisible);
      composer.destroy();
      side.destroy();
    },
  };
}

/** 1536 → "1.5 KB". */
function fmtBytes(n) {
  if (!(n >= 0)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
