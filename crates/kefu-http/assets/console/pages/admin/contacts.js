// Contacts: the list (search by name, e-mail, phone or the site's user id;
// filter by one attribute; a page at a time), and one contact with their
// conversations, merging another contact into them (owner, admin,
// supervisor), blocking them (owner, admin, supervisor) and erasing their
// personal data (owner, admin); the CSV export (owner, admin) and the
// blocked address ranges (owner, admin, supervisor).

import { h, clear, toast } from '../../lib/dom.js';
import { t, fmtDateTime } from '../../lib/i18n.js';
import { contactLabel } from '../../lib/directory.js';
import { statusBadge } from '../inbox-parts.js';
import { errorText } from '../../lib/errors.js';
import {
  wsPath, hasRole, pageFrame, card, field, input, busy, confirmAction, loadingEl, errorEl, lifecycle,
} from './common.js';

const PATH = '#/contacts';

export default {
  path: PATH,
  nav: 'nav.contacts',
  render(root, ctx) {
    const life = lifecycle();
    const [id] = ctx.params || [];
    if (id) renderContact(root, ctx, life, id);
    else renderList(root, ctx, life);
    return life.stop;
  },
};

const contactHref = (id) => `${PATH}/${encodeURIComponent(id)}`;

function renderList(root, ctx, life) {
  const { toolbar, body } = pageFrame(root, t('contacts.title'), t('contacts.intro'));
  const exportLink = h('a', { class: 'btn', href: '#', download: '', 'data-testid': 'contacts-export' }, t('contacts.export'));
  const q = h('input', {
    class: 'input', type: 'search', name: 'q', placeholder: t('contacts.search'), 'aria-label': t('contacts.search'),
  });
  const attribute = input('attribute', '', {
    placeholder: t('contacts.attributePlaceholder'), 'aria-label': t('contacts.attribute'), autocomplete: 'off',
  });
  const form = h('form', { class: 'row contacts-filters', role: 'search' }, q, attribute,
    h('button', { class: 'btn', type: 'submit' }, t('contacts.find')));
  const rows = h('tbody');
  const table = h('div', { class: 'scroll-x' }, h('table', { class: 'table contacts-table' },
    h('thead', null, h('tr', null,
      h('th', null, t('contacts.name')), h('th', null, t('contacts.email')),
      h('th', null, t('contacts.phone')), h('th', null, t('contacts.created')))),
    rows));
  const status = h('div', { role: 'status', 'aria-live': 'polite' });
  const more = h('button', { class: 'btn', type: 'button', hidden: true }, t('contacts.more'));
  body.append(card(t('contacts.title'), form, status, table, more).el);
  // The export follows the filters shown (the session cookie authenticates the download).
  const syncExport = () => {
    const p = new URLSearchParams();
    if (q.value.trim()) p.set('q', q.value.trim());
    if (attribute.value.trim()) p.set('attribute', attribute.value.trim());
    exportLink.href = `/api/v1${wsPath(ctx, `/contacts/export.csv${p.size ? `?${p}` : ''}`)}`;
  };
  if (hasRole(ctx, 'owner', 'admin')) {
    toolbar.append(exportLink);
    syncExport();
  }
  if (hasRole(ctx, 'owner', 'admin', 'supervisor')) body.append(rangesCard(ctx, life));

  let cursor = null;
  let generation = 0;
  async function load(reset) {
    const mine = reset ? ++generation : generation;
    const p = new URLSearchParams({ limit: '50' });
    if (q.value.trim()) p.set('q', q.value.trim());
    if (attribute.value.trim()) p.set('attribute', attribute.value.trim());
    if (!reset && cursor) p.set('cursor', cursor);
    if (reset) {
      clear(rows);
      clear(status).append(loadingEl());
    }
    let page;
    try {
      page = await ctx.api('GET', wsPath(ctx, `/contacts?${p}`));
    } catch (e) {
      if (life.alive() && mine === generation) clear(status).append(errorEl(e, () => load(true)));
      return;
    }
    if (!life.alive() || mine !== generation) return;
    clear(status);
    for (const c of page.items) rows.append(contactRow(c));
    if (!rows.children.length) status.append(h('div', { class: 'empty' }, t('contacts.empty')));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    syncExport();
    load(true);
  });
  more.addEventListener('click', () => busy(more, () => load(false)));
  load(true);
}

function contactRow(c) {
  return h('tr', { dataset: { contactId: c.id } },
    h('td', null, h('a', { href: contactHref(c.id) }, contactLabel(c, t('contacts.visitor')))),
    h('td', null, c.email || ''),
    h('td', null, c.phone || ''),
    h('td', { class: 'muted small' }, fmtDateTime(new Date(c.created_at))));
}

async function renderContact(root, ctx, life, id) {
  const { toolbar, body } = pageFrame(root, t('contacts.contact'));
  toolbar.append(h('a', { class: 'btn', href: PATH }, t('admin.back')));
  body.append(loadingEl());
  let contact;
  let conversations;
  try {
    [contact, conversations] = await Promise.all([
      ctx.api('GET', wsPath(ctx, `/contacts/${encodeURIComponent(id)}`)),
      ctx.api('GET', wsPath(ctx, `/contacts/${encodeURIComponent(id)}/conversations`)),
    ]);
  } catch (e) {
    if (life.alive()) clear(body).append(errorEl(e, () => renderContact(root, ctx, life, id)));
    return;
  }
  if (!life.alive()) return;
  const reload = () => renderContact(root, ctx, life, id);
  clear(body);
  if (contact.merged_into) {
    body.append(h('div', { class: 'callout', role: 'status' }, t('contacts.mergedInto'), ' ',
      h('a', { href: contactHref(contact.merged_into) }, t('contacts.openSurvivor'))));
  }
  if (contact.erased_at) {
    body.append(h('div', { class: 'callout', role: 'status' },
      t('contacts.erasedAt', { date: fmtDateTime(new Date(contact.erased_at)) })));
  }
  if (contact.blocked_at) {
    body.append(h('div', { class: 'callout callout-warn contact-blocked', role: 'status' },
      t('contacts.blockedAt', { date: fmtDateTime(new Date(contact.blocked_at)) })));
  }
  if (!contact.merged_into && hasRole(ctx, 'owner', 'admin', 'supervisor')) {
    const blocked = !!contact.blocked_at;
    const btn = h('button', { class: ['btn', blocked ? '' : 'btn-danger'], type: 'button', 'data-testid': 'contact-block' },
      t(blocked ? 'contacts.unblock' : 'contacts.block'));
    btn.addEventListener('click', async () => {
      if (!blocked && !(await confirmAction(t('contacts.block'), t('contacts.blockConfirm'), t('contacts.block')))) return;
      await busy(btn, async () => {
        await ctx.api('POST', wsPath(ctx, `/contacts/${encodeURIComponent(contact.id)}/${blocked ? 'unblock' : 'block'}`));
        toast(t(blocked ? 'contacts.unblocked' : 'contacts.blocked'), 'success');
        reload();
      });
    });
    toolbar.append(btn);
  }
  body.append(profileCard(contact), conversationsCard(conversations));
  if (!contact.merged_into && hasRole(ctx, 'owner', 'admin', 'supervisor')) body.append(mergeCard(ctx, contact, reload));
  if (!contact.merged_into && hasRole(ctx, 'owner', 'admin')) body.append(eraseCard(ctx, contact, reload));
}

function profileCard(c) {
  const row = (label, value) => h('div', { class: 'contact-field' },
    h('dt', { class: 'muted small' }, label), h('dd', null, value || '—'));
  const attrs = Object.entries(c.attributes || {});
  return card(contactLabel(c, t('contacts.visitor')),
    h('dl', { class: 'contact-profile' },
      row(t('contacts.name'), c.name),
      row(t('contacts.email'), c.email),
      row(t('contacts.phone'), c.phone),
      row(t('contacts.externalId'), c.external_id),
      row(t('contacts.created'), fmtDateTime(new Date(c.created_at))),
      attrs.map(([k, v]) => row(k, String(v))))).el;
}

function conversationsCard(items) {
  const list = h('ul', { class: 'contact-conversations stack-sm' },
    items.map((c) => h('li', { class: 'row' },
      statusBadge(c.status),
      h('a', { href: `#/inbox/${encodeURIComponent(c.id)}` }, fmtDateTime(new Date(c.created_at))))));
  return card(t('contacts.conversations'),
    items.length ? list : h('div', { class: 'empty' }, t('contacts.noConversations'))).el;
}

/** Finds another contact by name, e-mail or phone, and merges it into this one. */
function mergeCard(ctx, contact, reload) {
  const q = h('input', {
    class: 'input', type: 'search', name: 'merge-q', placeholder: t('contacts.search'), 'aria-label': t('contacts.mergeSearch'),
  });
  const results = h('ul', { class: 'stack-sm merge-results' });
  const form = h('form', { class: 'row merge-form', role: 'search' }, q, h('button', { class: 'btn', type: 'submit' }, t('contacts.find')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = q.value.trim();
    clear(results);
    if (!text) return;
    let page;
    try {
      page = await ctx.api('GET', wsPath(ctx, `/contacts?${new URLSearchParams({ q: text, limit: '10' })}`));
    } catch (err) {
      results.append(errorEl(err));
      return;
    }
    const others = page.items.filter((c) => c.id !== contact.id);
    if (!others.length) results.append(h('li', { class: 'muted' }, t('contacts.empty')));
    for (const other of others) {
      const btn = h('button', { class: 'btn btn-sm', type: 'button' }, t('contacts.mergeThis'));
      btn.addEventListener('click', () => merge(ctx, contact, other, btn, reload));
      results.append(h('li', { class: 'row', dataset: { contactId: other.id } },
        h('span', null, contactLabel(other, t('contacts.visitor'))),
        h('span', { class: 'muted small' }, [other.email, other.phone].filter(Boolean).join(' · ')),
        btn));
    }
  });
  return card(t('contacts.merge'), h('p', { class: 'muted' }, t('contacts.mergeIntro')), form, results).el;
}

async function merge(ctx, contact, other, btn, reload) {
  const ok = await confirmAction(t('contacts.merge'),
    t('contacts.mergeConfirm', { other: contactLabel(other, t('contacts.visitor')), into: contactLabel(contact, t('contacts.visitor')) }),
    t('contacts.mergeThis'), false);
  if (!ok) return;
  await busy(btn, async () => {
    await ctx.api('POST', wsPath(ctx, `/contacts/${encodeURIComponent(contact.id)}/merge`), { from_contact_id: other.id });
    toast(t('contacts.merged'), 'success');
    reload();
  });
}

function eraseCard(ctx, contact, reload) {
  const btn = h('button', { class: 'btn btn-danger', type: 'button' }, t('contacts.erase'));
  btn.addEventListener('click', async () => {
    if (!(await confirmAction(t('contacts.erase'), t('contacts.eraseConfirm'), t('contacts.erase')))) return;
    await busy(btn, async () => {
      await ctx.api('POST', wsPath(ctx, `/contacts/${encodeURIComponent(contact.id)}/erase`));
      toast(t('contacts.erased'), 'success');
      reload();
    });
  });
  return card(t('contacts.erase'), h('p', { class: 'muted' }, t('contacts.eraseIntro')), h('div', { class: 'row' }, btn)).el;
}

/** The address ranges whose visitors are refused: the list, add one, remove one. */
function rangesCard(ctx, life) {
  const list = h('ul', { class: 'stack-sm blocked-ranges' });
  const cidr = input('cidr', '', { placeholder: '203.0.113.0/24', 'aria-label': t('contacts.rangeCidr'), autocomplete: 'off', spellcheck: 'false' });
  const note = input('note', '', { placeholder: t('contacts.rangeNote'), 'aria-label': t('contacts.rangeNote'), maxlength: 200 });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const add = h('button', { class: 'btn', type: 'submit' }, t('contacts.rangeAdd'));
  const form = h('form', { class: 'row ranges-form' }, cidr, note, add);
  async function load() {
    let page;
    try {
      page = await ctx.api('GET', wsPath(ctx, '/blocked-ranges'));
    } catch (e) {
      if (life.alive()) clear(list).append(errorEl(e, load));
      return;
    }
    if (!life.alive()) return;
    clear(list);
    if (!page.items.length) list.append(h('li', { class: 'muted' }, t('contacts.noRanges')));
    for (const r of page.items) {
      const remove = h('button', { class: 'btn btn-sm btn-ghost', type: 'button', 'aria-label': t('contacts.rangeRemove') }, '✕');
      remove.addEventListener('click', () => busy(remove, async () => {
        await ctx.api('DELETE', wsPath(ctx, `/blocked-ranges/${encodeURIComponent(r.id)}`));
        load();
      }));
      list.append(h('li', { class: 'row', dataset: { cidr: r.cidr } },
        h('code', null, r.cidr), r.note ? h('span', { class: 'muted small' }, r.note) : null, remove));
    }
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    if (!cidr.value.trim()) return cidr.focus();
    await busy(add, async () => {
      await ctx.api('POST', wsPath(ctx, '/blocked-ranges'), { cidr: cidr.value.trim(), note: note.value.trim() || null });
      cidr.value = '';
      note.value = '';
      load();
    }, (err) => { error.textContent = err.status === 422 ? t('contacts.rangeInvalid') : errorText(err); });
  });
  load();
  return card(t('contacts.ranges'), h('p', { class: 'muted' }, t('contacts.rangesIntro')), form, error, list).el;
}
