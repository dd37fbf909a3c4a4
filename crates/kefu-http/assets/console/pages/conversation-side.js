// The side panel of a conversation: bot suggestions for the agent, the
// conversation's priority, labels and assignment, the visitor's rating,
// the contact with attributes (and its edit form), and the contact's past
// conversations.

import { h, clear, replace, toast, icon } from '../lib/dom.js';
import { t, has, fmtDate, fmtDateTime } from '../lib/i18n.js';
import { errorText } from '../lib/errors.js';
import { contactLabel } from '../lib/directory.js';
import { statusBadge, PRIORITIES, priorityName } from './inbox-parts.js';

const SUPERVISORS = ['owner', 'admin', 'supervisor'];
const CONTACT_FIELDS = [
  // [field, input type, the server's max length]
  ['name', 'text', 200],
  ['email', 'email', 254],
  ['phone', 'tel', 40],
];
// The server's rule for attribute names (contacts.rs checked_patch):
// letters, digits, `_`, `-`, `.`; at most 64 bytes of UTF-8.
const ATTR_KEY = /^[\p{Alphabetic}\p{N}_.-]+$/u;
const ATTR_KEY_BYTES = 64;
const ATTR_VALUE_CHARS = 1000;

/** {el, update(conv), refreshSuggestions(), destroy()} */
export function createSide({ ctx, dir, conversationId, insert, onChanged }) {
  const base = `${dir.base}/conversations/${conversationId}`;
  const isSupervisor = SUPERVISORS.includes(ctx.workspace.role);
  let conv = null;
  let contactLoaded = false;
  let contact = null; // as last loaded or saved
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

  /** Shows contact `c` (read-only, with an Edit button); returns that button. */
  function renderContact(c) {
    contact = c;
    const row = (key, value) => (value ? h('div', { class: 'side-row' }, h('span', { class: 'muted' }, t(key)), h('span', { class: 'side-value' }, value)) : null);
    const attrs = Object.entries(c.attributes || {});
    const edit = h('button', {
      class: 'btn btn-sm',
      type: 'button',
      'aria-label': t('contact.editTitle'),
      title: t('contact.editTitle'),
      'on:click': () => editContact(c),
    }, t('contact.edit'));
    replace(
      contactBox,
      h('div', { class: 'row-between contact-head' }, h('div', { class: 'contact-name' }, contactLabel(c, t('inbox.visitor'))), edit),
      row('contact.email', c.email),
      row('contact.phone', c.phone),
      row('contact.externalId', c.external_id),
      row('contact.since', fmtDate(c.created_at)),
      h('div', { class: 'muted small' }, t('contact.attributes')),
      attrs.length
        ? h(
            'dl',
            { class: 'attrs' },
            attrs.map(([k, v]) => [h('dt', null, k), h('dd', null, attrText(v))]),
          )
        : h('p', { class: 'muted small' }, t('contact.noAttributes')),
      visitEl(c.last_visit),
    );
    return edit;
  }

  /** Where the visitor is: page, referrer, browser, OS, language, zone, pages of the visit. */
  function visitEl(v) {
    if (!v) return null;
    const link = (url, text) => h('a', { href: url, target: '_blank', rel: 'noopener noreferrer nofollow', class: 'side-value visit-link' }, text || url);
    const row = (key, value) => (value ? h('div', { class: 'side-row' }, h('span', { class: 'muted' }, t(key)), typeof value === 'string' ? h('span', { class: 'side-value' }, value) : value) : null);
    const pages = (v.pages || []).slice().reverse();
    return h('section', { class: 'visit', 'aria-label': t('visit.title') },
      h('div', { class: 'muted small' }, t('visit.title'), ' · ', fmtDateTime(v.at)),
      row('visit.page', v.url ? link(v.url, v.title) : null),
      row('visit.referrer', v.referrer ? link(v.referrer) : null),
      row('visit.browser', [v.browser, v.os].filter(Boolean).join(' · ')),
      row('visit.locale', [v.locale, v.time_zone].filter(Boolean).join(' · ')),
      pages.length > 1
        ? h('details', { class: 'visit-pages' },
          h('summary', { class: 'small' }, t('visit.pages', { n: pages.length })),
          h('ol', { class: 'small' }, pages.map((p) => h('li', null, link(p.url, p.title), ' ', h('span', { class: 'muted' }, fmtDateTime(p.at))))))
        : null,
    );
  }

  /**
   * The edit form: name, e-mail, phone and the attributes as key/value rows.
   * Save sends only what changed (a cleared field as null, a removed
   * attribute as null); the server's field errors show next to the fields.
   */
  function editContact(c) {
    const fid = `contact-${conversationId}`;
    const errorBoxes = new Map(); // field name → its .field-error
    const fields = CONTACT_FIELDS.map(([name, type, max]) => {
      const id = `${fid}-${name}`;
      const input = h('input', {
        class: 'input input-sm',
        id,
        name,
        type,
        maxlength: String(max),
        value: c[name] || '',
        autocomplete: 'off',
        'aria-describedby': `${id}-err`,
      });
      const err = h('p', { class: 'field-error', id: `${id}-err`, hidden: true });
      errorBoxes.set(name, err);
      return h('div', { class: 'field' }, h('label', { class: 'label', for: id }, t('contact.' + name)), input, err);
    });

    const removed = new Set(); // stored keys the agent removed
    let rowSeq = 0;
    const rows = h('div', { class: 'attr-rows' });
    const attrsError = h('p', { class: 'field-error', id: `${fid}-attrs-err`, hidden: true });
    errorBoxes.set('attributes', attrsError);

    /** One key/value row: `key` is a stored key (shown, not editable) or null (a new row). */
    function attrRow(key, value) {
      const n = ++rowSeq;
      const vid = `${fid}-attr-${n}`;
      const err = h('p', { class: 'field-error', id: `${vid}-err`, hidden: true });
      const valueInput = h('input', {
        class: 'input input-sm attr-value',
        id: vid,
        type: 'text',
        maxlength: String(ATTR_VALUE_CHARS),
        value: key === null ? '' : attrText(value),
        'aria-describedby': `${vid}-err`,
        'aria-label': key === null ? t('contact.attrValue') : null,
        placeholder: key === null ? t('contact.attrValue') : null,
      });
      const keyEl = key === null
        ? h('input', {
            class: 'input input-sm attr-key-input',
            type: 'text',
            maxlength: String(ATTR_KEY_BYTES),
            'aria-label': t('contact.attrKey'),
            placeholder: t('contact.attrKey'),
            'aria-describedby': `${vid}-err`,
          })
        : h('label', { class: 'attr-key', for: vid, title: key }, key);
      const el = h(
        'div',
        { class: 'attr-row', dataset: key === null ? { new: '' } : { key } },
        keyEl,
        valueInput,
        h('button', {
          class: 'btn btn-sm btn-ghost icon-btn',
          type: 'button',
          'aria-label': key === null ? t('contact.removeRow') : t('contact.removeAttribute', { key }),
          title: key === null ? t('contact.removeRow') : t('contact.removeAttribute', { key }),
          'on:click': () => {
            if (key !== null) removed.add(key);
            const next = el.nextElementSibling;
            el.remove();
            (next ? next.querySelector('input') : addBtn).focus();
          },
        }, icon('x')),
        err,
      );
      el.keyInput = key === null ? keyEl : null;
      el.valueInput = valueInput;
      el.error = err;
      return el;
    }

    for (const [k, v] of Object.entries(c.attributes || {})) rows.append(attrRow(k, v));
    const addBtn = h('button', {
      class: 'btn btn-sm',
      type: 'button',
      'on:click': () => {
        const r = attrRow(null);
        rows.append(r);
        r.keyInput.focus();
      },
    }, icon('plus'), t('contact.addAttribute'));

    const formError = h('p', { class: 'form-error', role: 'alert' });
    const saveBtn = h('button', { class: 'btn btn-sm btn-primary', type: 'submit' }, t('action.save'));
    const cancel = () => renderContact(contact).focus();
    const form = h(
      'form',
      {
        class: 'contact-form stack-sm',
        novalidate: true,
        'aria-label': t('contact.editTitle'),
        'on:submit': (e) => {
          e.preventDefault();
          save();
        },
        'on:keydown': (e) => {
          if (e.key !== 'Escape') return;
          e.stopPropagation();
          cancel();
        },
      },
      fields,
      h(
        'fieldset',
        { class: 'attr-set', 'aria-describedby': attrsError.id },
        h('legend', { class: 'label' }, t('contact.attributes')),
        rows,
        attrsError,
        h('div', null, addBtn),
      ),
      formError,
      h('div', { class: 'row' }, saveBtn, h('button', { class: 'btn btn-sm', type: 'button', 'on:click': cancel }, t('action.cancel'))),
    );

    /**
     * Shows `problems` ([error box, control or null, field, reason]) and the
     * form-wide `text`; the focus goes to the first control in error.
     */
    function showErrors(problems, text) {
      for (const box of form.querySelectorAll('.field-error')) {
        box.hidden = true;
        box.textContent = '';
      }
      for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
      let first = null;
      for (const [box, control, field, reason] of problems) {
        box.textContent = reasonText(field, reason);
        box.hidden = false;
        if (control) control.setAttribute('aria-invalid', 'true');
        first = first || control || rows.querySelector('input') || addBtn;
      }
      formError.textContent = text || '';
      if (first) first.focus();
    }

    async function save() {
      const patch = {};
      for (const [name] of CONTACT_FIELDS) {
        const v = form.elements[name].value.trim();
        if (v !== (c[name] || '')) patch[name] = v || null;
      }
      const stored = c.attributes || {};
      const attrs = {};
      for (const k of removed) attrs[k] = null;
      const problems = [];
      const seen = new Set();
      for (const r of rows.children) {
        const value = r.valueInput.value;
        if (!r.keyInput) {
          // A stored value (a number, say) is left as it is unless edited.
          const k = r.dataset.key;
          seen.add(k);
          if (value !== attrText(stored[k])) attrs[k] = value.trim();
          continue;
        }
        const k = r.keyInput.value.trim();
        const bad = (reason) => problems.push([r.error, r.keyInput, 'key', reason]);
        if (!k && !value.trim()) continue;
        if (!k) bad('key_required');
        else if (!ATTR_KEY.test(k) || new TextEncoder().encode(k).length > ATTR_KEY_BYTES) bad('invalid_key');
        else if (seen.has(k)) bad('duplicate');
        else {
          seen.add(k);
          attrs[k] = value.trim();
        }
      }
      if (problems.length) {
        showErrors(problems, '');
        return;
      }
      if (Object.keys(attrs).length) patch.attributes = attrs;
      if (!Object.keys(patch).length) {
        cancel();
        return;
      }
      saveBtn.disabled = true;
      saveBtn.setAttribute('aria-busy', 'true');
      try {
        const updated = await ctx.api('PATCH', `${dir.base}/contacts/${c.id}`, patch);
        if (destroyed) return;
        dir.setContact(updated);
        renderContact(updated).focus();
        toast(t('contact.saved'), 'success');
        // The header and the list row show the contact's name: tell them.
        if (conv) onChanged({ ...conv, contact: { name: updated.name, email: updated.email, phone: updated.phone } });
      } catch (e) {
        if (destroyed) return;
        const reasons = (e.code === 'validation_failed' && e.details && e.details.fields) || {};
        const placed = Object.entries(reasons)
          .filter(([field]) => errorBoxes.has(field))
          .map(([field, reason]) => [errorBoxes.get(field), field === 'attributes' ? null : form.elements[field], field, reason]);
        showErrors(placed, placed.length ? '' : errorText(e));
      } finally {
        saveBtn.disabled = false;
        saveBtn.removeAttribute('aria-busy');
      }
    }

    replace(contactBox, form);
    form.elements.name.focus();
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

/** An attribute's value as the panel shows it (numbers and booleans as written). */
function attrText(v) {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** A contact field's validation reason in words (`contact.reason.*`). */
function reasonText(field, reason) {
  for (const key of [`contact.reason.${field}.${reason}`, `contact.reason.${reason}`]) if (has(key)) return t(key);
  return t('contact.reason.invalid');
}
