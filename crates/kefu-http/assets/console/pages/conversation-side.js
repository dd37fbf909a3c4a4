// The side panel of a conversation: bot suggestions for the agent, the
// conversation's priority, labels and assignment, the visitor's rating,
// the contact with attributes, and the contact's past conversations.

import { h, clear, replace, toast, icon } from '../lib/dom.js';
import { t, fmtDate, fmtDateTime } from '../lib/i18n.js';
import { errorText } from '../lib/errors.js';
import { contactLabel } from '../lib/directory.js';
import { statusBadge, PRIORITIES, priorityName } from './inbox-parts.js';

const SUPERVISORS = ['owner', 'admin', 'supervisor'];

/** {el, update(conv), refreshSuggestions(), destroy()} */
export function createSide({ ctx, dir, conversationId, insert, onChanged }) {
  const base = `${dir.base}/conversations/${conversationId}`;
  const isSupervisor = SUPERVISORS.includes(ctx.workspace.role);
  let conv = null;
  let contactLoaded = false;
  let destroyed = false;

  const suggestBox = h('div', { class: 'stack-sm' });
  const convBox = h('div', { class: 'stack-sm' });
  const ratingBox = h('div');
  const contactBox = h('div', { class: 'stack-sm' });
  const pastBox = h('div');

  const section = (titleKey, body, extra) =>
    h('section', { class: ['side-section', extra] }, h('h3', { class: 'side-title' }, t(titleKey)), body);

  const el = h(
    'aside',
    { class: 'conv-side', tabindex: '-1', 'aria-label': t('conv.details') },
    section('conv.suggestions', suggestBox),
    section('conv.details', convBox),
    section('conv.rating', ratingBox, 'rating-section'),
    section('contact.title', contactBox),
    section('contact.past', pastBox),
  );

  // ---------- suggestions ----------
  let suggestSeq = 0;
  async function refreshSuggestions() {
    const mine = ++suggestSeq;
    try {
      const res = await ctx.api('GET', `${base}/suggestions`);
      if (destroyed || mine !== suggestSeq) return;
      renderSuggestions(res.hits || []);
    } catch {
      if (mine === suggestSeq) renderSuggestions([]);
    }
  }

  function renderSuggestions(hits) {
    clear(suggestBox);
    if (!hits.length) {
      suggestBox.append(h('p', { class: 'muted small' }, t('conv.suggestionsEmpty')));
      return;
    }
    for (const hit of hits.slice(0, 5)) {
      suggestBox.append(
        h(
          'div',
          { class: 'suggestion' },
          h('div', { class: 'suggestion-title' }, hit.title),
          hit.snippet ? h('div', { class: 'muted small suggestion-snippet' }, hit.snippet) : null,
          h('button', {
            class: 'btn btn-sm',
            type: 'button',
            title: t('conv.insertTitle', { title: hit.title }),
            'aria-label': t('conv.insertTitle', { title: hit.title }),
            'on:click': () => insertArticle(hit),
          }, t('conv.insert')),
        ),
      );
    }
  }

  /** Puts the article's text into the reply (its snippet if it cannot be read). */
  async function insertArticle(hit) {
    try {
      const a = await ctx.api('GET', `${dir.base}/kb/articles/${hit.article_id}`);
      insert(a.body || hit.snippet);
    } catch {
      insert(hit.snippet || hit.title);
    }
  }

  // ---------- conversation: priority, labels, assignment ----------
  async function patch(body) {
    try {
      const c = await ctx.api('PATCH', base, body);
      onChanged(c);
      toast(t('conv.saved'), 'success');
    } catch (e) {
      toast(errorText(e), 'error');
      onChanged(conv);
    }
  }

  function renderConv() {
    clear(convBox);
    const pid = `prio-${conversationId}`;
    const prio = h(
      'select',
      { class: 'select select-sm', id: pid, 'on:change': (e) => patch({ priority: Number(e.target.value) }) },
      PRIORITIES.map((p) => h('option', { value: String(p.value), selected: p.value === conv.priority }, t('conv.priority.' + p.key))),
      PRIORITIES.some((p) => p.value === conv.priority) ? null : h('option', { value: String(conv.priority), selected: true }, priorityName(conv.priority)),
    );
    replace(
      convBox,
      h('div', { class: 'side-row' }, h('span', { class: 'muted' }, t('inbox.filter.status')), statusBadge(conv.status)),
      h('div', { class: 'side-row' }, h('label', { class: 'muted', for: pid }, t('conv.priority')), prio),
      labelsEditor(),
      assignment(),
    );
  }

  function labelsEditor() {
    const labels = conv.labels || [];
    const input = h('input', {
      class: 'input input-sm label-input',
      type: 'text',
      maxlength: '50',
      placeholder: t('conv.addLabel'),
      'aria-label': t('conv.addLabel'),
    });
    const form = h(
      'form',
      {
        class: 'row',
        'on:submit': (e) => {
          e.preventDefault();
          const v = input.value.trim();
          if (v && !labels.includes(v)) patch({ labels: [...labels, v] });
          input.value = '';
        },
      },
      input,
      h('button', { class: 'btn btn-sm', type: 'submit', 'aria-label': t('conv.addLabel') }, icon('plus')),
    );
    return h(
      'div',
      { class: 'stack-sm' },
      h('span', { class: 'muted' }, t('conv.labels')),
      h(
        'div',
        { class: 'row label-chips' },
        labels.map((l) =>
          h(
            'span',
            { class: 'badge badge-info label-chip' },
            l,
            h('button', {
              class: 'chip-x',
              type: 'button',
              'aria-label': t('conv.removeLabel', { label: l }),
              'on:click': () => patch({ labels: labels.filter((x) => x !== l) }),
            }, icon('x')),
          ),
        ),
      ),
      form,
    );
  }

  /** Supervisors and above assign anyone and move to teams; agents see who has it. */
  function assignment() {
    const box = h('div', { class: 'stack-sm assign-box' });
    const who = h('span', { class: 'truncate' }, conv.assignee_id ? '' : t('conv.unassigned'));
    if (conv.assignee_id) dir.memberName(conv.assignee_id).then((n) => (who.textContent = n));
    const team = h('span', { class: 'truncate' }, conv.team_id ? '' : t('conv.noTeam'));
    if (conv.team_id) dir.teams().then((ts) => (team.textContent = (ts.find((x) => x.id === conv.team_id) || {}).name || ''));
    box.append(
      h('div', { class: 'side-row' }, h('span', { class: 'muted' }, t('conv.assignee')), who),
      h('div', { class: 'side-row' }, h('span', { class: 'muted' }, t('conv.team')), team),
    );
    if (!isSupervisor || conv.status === 'closed') return box;

    const aid = `assignee-${conversationId}`;
    const tid = `team-${conversationId}`;
    const memberSel = h('select', { class: 'select select-sm', id: aid }, h('option', { value: '' }, '—'));
    const teamSel = h('select', { class: 'select select-sm', id: tid }, h('option', { value: '' }, '—'));
    dir.members().then((ms) => {
      for (const m of ms) memberSel.append(h('option', { value: m.user_id, selected: m.user_id === conv.assignee_id }, m.name || m.email));
    });
    dir.teams().then((ts) => {
      for (const tm of ts) teamSel.append(h('option', { value: tm.id, selected: tm.id === conv.team_id }, tm.name));
    });
    const assign = async (body, okKey) => {
      try {
        const c = await ctx.api('POST', `${base}/assign`, { ...body, expected_assignee_id: conv.assignee_id || null });
        onChanged(c);
        toast(t(okKey), 'success');
      } catch (e) {
        toast(errorText(e), 'error');
      }
    };
    box.append(
      h(
        'div',
        { class: 'row' },
        h('label', { class: 'sr-only', for: aid }, t('conv.assignee')),
        memberSel,
        h('button', {
          class: 'btn btn-sm',
          type: 'button',
          'on:click': () => memberSel.value && assign({ assignee_id: memberSel.value }, 'conv.assigned'),
        }, t('conv.assign')),
      ),
      h(
        'div',
        { class: 'row' },
        h('label', { class: 'sr-only', for: tid }, t('conv.team')),
        teamSel,
        h('button', {
          class: 'btn btn-sm',
          type: 'button',
          title: t('conv.transferToTeam'),
          'on:click': () => teamSel.value && assign({ team_id: teamSel.value }, 'conv.transferred'),
        }, t('conv.transfer')),
      ),
    );
    return box;
  }

  // ---------- rating ----------
  function renderRating() {
    clear(ratingBox);
    const r = conv.rating;
    ratingBox.parentElement.hidden = !r;
    if (!r) return;
    replace(
      ratingBox,
      h('div', { class: 'rating', 'aria-label': t('conv.ratingValue', { score: r.score }) }, h('span', { class: 'stars', 'aria-hidden': 'true' }, [1, 2, 3, 4, 5].map((i) => icon('star', i <= r.score ? 'star-on' : 'star-off'))), ' ', t('conv.ratingValue', { score: r.score })),
      r.comment ? h('blockquote', { class: 'rating-comment' }, r.comment) : null,
      r.rated_at ? h('div', { class: 'muted small' }, fmtDateTime(r.rated_at)) : null,
    );
  }

  // ---------- contact ----------
  async function loadContact() {
    contactLoaded = true;
    clear(contactBox).append(h('p', { class: 'muted small' }, t('common.loading')));
    try {
      const c = await dir.contact(conv.contact_id);
      if (destroyed) return;
      renderContact(c);
    } catch (e) {
      clear(contactBox).append(h('p', { class: 'muted small' }, errorText(e)));
    }
    try {
      const past = await ctx.api('GET', `${dir.base}/contacts/${conv.contact_id}/conversations`);
      if (destroyed) return;
      renderPast(Array.isArray(past) ? past : past.items || []);
    } catch (e) {
      clear(pastBox).append(h('p', { class: 'muted small' }, errorText(e)));
    }
  }

  function renderContact(c) {
    const row = (key, value) => (value ? h('div', { class: 'side-row' }, h('span', { class: 'muted' }, t(key)), h('span', { class: 'side-value' }, value)) : null);
    const attrs = Object.entries(c.attributes || {});
    replace(
      contactBox,
      h('div', { class: 'contact-name' }, contactLabel(c, t('inbox.visitor'))),
      row('contact.email', c.email),
      row('contact.phone', c.phone),
      row('contact.externalId', c.external_id),
      row('contact.since', fmtDate(c.created_at)),
      h('div', { class: 'muted small' }, t('contact.attributes')),
      attrs.length
        ? h(
            'dl',
            { class: 'attrs' },
            attrs.map(([k, v]) => [h('dt', null, k), h('dd', null, typeof v === 'string' ? v : JSON.stringify(v))]),
          )
        : h('p', { class: 'muted small' }, t('contact.noAttributes')),
    );
  }

  function renderPast(items) {
    clear(pastBox);
    const others = items.filter((c) => c.id !== conversationId);
    if (!others.length) {
      pastBox.append(h('p', { class: 'muted small' }, t('contact.noPast')));
      return;
    }
    pastBox.append(
      h(
        'ul',
        { class: 'past-list' },
        others.slice(0, 20).map((c) =>
          h('li', null, h('a', { href: `#/inbox/${c.id}`, class: 'past-item' }, statusBadge(c.status), h('span', { class: 'muted small' }, fmtDate(c.created_at)))),
        ),
      ),
    );
  }

  return {
    el,
    update(c) {
      conv = c;
      renderConv();
      renderRating();
      if (!contactLoaded) {
        loadContact();
        refreshSuggestions();
      }
    },
    refreshSuggestions,
    destroy() {
      destroyed = true;
    },
  };
}
