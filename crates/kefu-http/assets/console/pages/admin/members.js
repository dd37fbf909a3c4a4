// Members and invitations: the member list with role changes and removal,
// pending invitations (revoke), and the invite form, which shows the
// invitation link (`/#/accept?token=…`, pages/accept.js) and its code
// once so they can be sent to the invitee.
//
// Role rules (enforced by the server, mirrored here to hide what would be
// refused): owners and admins manage members; only owners touch owners or
// grant the owner role; a workspace keeps one owner (409 last_owner).

import { h, clear, toast } from '../../lib/dom.js';
import { t, fmtDate, fmtDateTime, locale } from '../../lib/i18n.js';
import { errorText } from '../../lib/errors.js';
import {
  ROLES, wsPath, pageFrame, card, field, input, select, busy, copyBlock, confirmAction, loadingEl, errorEl,
  showFieldErrors, clearErrors, roleLabel, lifecycle,
} from './common.js';

export default {
  path: '#/admin/members',
  nav: 'nav.members',
  roles: ['owner', 'admin'],
  render(root, ctx) {
    const life = lifecycle();
    const { body } = pageFrame(root, t('admin.members.title'), t('admin.members.intro'));
    const membersBox = h('div');
    const invitesBox = h('div');
    const outboxBox = h('div');
    const reload = () => {
      loadMembers(ctx, life, membersBox);
      loadInvitations(ctx, life, invitesBox);
      loadOutbox(ctx, life, outboxBox);
    };
    const members = card(t('admin.members.list'), membersBox);
    const invites = card(t('admin.members.pending'), invitesBox);
    const outbox = card(t('admin.outbox.title'), h('p', { class: 'muted small' }, t('admin.outbox.intro')), outboxBox);
    body.append(inviteCard(ctx, reload), members.el, invites.el, outbox.el);
    reload();
    return life.stop;
  },
};

/** Roles the signed-in member may grant. */
function grantable(ctx) {
  return ctx.workspace.role === 'owner' ? ROLES : ROLES.filter((r) => r !== 'owner');
}

async function loadMembers(ctx, life, box) {
  clear(box).append(loadingEl());
  let members;
  try {
    members = await ctx.api('GET', wsPath(ctx, '/members'));
  } catch (e) {
    if (life.alive()) clear(box).append(errorEl(e, () => loadMembers(ctx, life, box)));
    return;
  }
  if (!life.alive()) return;
  const reload = () => loadMembers(ctx, life, box);
  clear(box).append(h('div', { class: 'scroll-x' }, h('table', { class: 'table members-table' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, t('admin.members.name')),
      h('th', { scope: 'col' }, t('admin.members.email')),
      h('th', { scope: 'col' }, t('admin.members.role')),
      h('th', { scope: 'col' }, t('admin.members.joined')),
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, t('admin.actions'))))),
    h('tbody', null, members.map((m) => memberRow(ctx, m, reload))))));
}

function memberRow(ctx, m, reload) {
  const self = m.user_id === ctx.me.user.id;
  // Admins cannot touch owners; nobody edits their own role here.
  const editable = !self && (ctx.workspace.role === 'owner' || m.role !== 'owner');
  const roleCell = editable
    ? select('role', grantable(ctx).map((r) => [r, roleLabel(r)]), m.role, {
      class: 'select select-sm',
      'aria-label': t('admin.members.roleOf', { name: m.name || m.email }),
      'on:change': (e) => changeRole(ctx, m, e.currentTarget, reload),
    })
    : h('span', { class: 'badge badge-muted' }, roleLabel(m.role));
  return h('tr', { dataset: { userId: m.user_id } },
    h('td', null, m.name, self ? h('span', { class: 'muted small' }, ` (${t('admin.members.you')})`) : null),
    h('td', { class: 'truncate' }, m.email),
    h('td', null, roleCell),
    h('td', { class: 'small muted' }, fmtDate(m.joined_at)),
    h('td', { class: 'row-actions' }, editable
      ? [
        h('button', {
          class: 'btn btn-sm',
          'aria-label': t('admin.members.resetWho', { name: m.name || m.email }),
          'on:click': (e) => requirePasswordChange(ctx, m, e.currentTarget),
        }, t('admin.members.reset')),
        h('button', {
          class: 'btn btn-sm btn-danger',
          'aria-label': t('admin.members.removeWho', { name: m.name || m.email }),
          'on:click': (e) => removeMember(ctx, m, e.currentTarget, reload),
        }, t('admin.remove')),
      ]
      : null));
}

/** POST …/members/{id}/require-password-change, after a confirmation. */
async function requirePasswordChange(ctx, m, btn) {
  const name = m.name || m.email;
  const ok = await confirmAction(t('admin.members.resetTitle'), t('admin.members.resetConfirm', { name }), t('admin.members.reset'));
  if (!ok) return;
  await busy(btn, async () => {
    await ctx.api('POST', wsPath(ctx, `/members/${m.user_id}/require-password-change`), {});
    toast(t('admin.members.resetDone', { name }), 'success');
  });
}

async function changeRole(ctx, m, sel, reload) {
  const role = sel.value;
  await busy(sel, async () => {
    await ctx.api('PATCH', wsPath(ctx, `/members/${m.user_id}`), { role });
    toast(t('admin.members.roleChanged', { name: m.name || m.email, role: roleLabel(role) }), 'success');
  }, (e) => {
    sel.value = m.role; // put it back
    toast(errorText(e), 'error');
  });
  reload();
}

async function removeMember(ctx, m, btn, reload) {
  const ok = await confirmAction(t('admin.members.removeTitle'), t('admin.members.removeConfirm', { name: m.name || m.email }), t('admin.remove'));
  if (!ok) return;
  await busy(btn, async () => {
    await ctx.api('DELETE', wsPath(ctx, `/members/${m.user_id}`));
    toast(t('admin.members.removed'), 'success');
    reload();
  });
}

async function loadInvitations(ctx, life, box) {
  clear(box).append(loadingEl());
  let list;
  try {
    list = await ctx.api('GET', wsPath(ctx, '/invitations'));
  } catch (e) {
    if (life.alive()) clear(box).append(errorEl(e, () => loadInvitations(ctx, life, box)));
    return;
  }
  if (!life.alive()) return;
  const reload = () => loadInvitations(ctx, life, box);
  if (!list.length) {
    clear(box).append(h('p', { class: 'muted' }, t('admin.members.noPending')));
    return;
  }
  clear(box).append(h('div', { class: 'scroll-x' }, h('table', { class: 'table' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, t('admin.members.email')),
      h('th', { scope: 'col' }, t('admin.members.role')),
      h('th', { scope: 'col' }, t('admin.members.expires')),
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, t('admin.actions'))))),
    h('tbody', null, list.map((inv) => h('tr', null,
      h('td', { class: 'truncate' }, inv.email),
      h('td', null, roleLabel(inv.role)),
      h('td', { class: 'small muted' }, fmtDate(inv.expires_at)),
      h('td', null, h('button', {
        class: 'btn btn-sm btn-danger',
        'aria-label': t('admin.members.revokeWho', { email: inv.email }),
        'on:click': async (e) => {
          const btn = e.currentTarget;
          if (!(await confirmAction(t('admin.members.revokeTitle'), t('admin.members.revokeConfirm', { email: inv.email }), t('admin.revoke')))) return;
          await busy(btn, async () => {
            await ctx.api('DELETE', wsPath(ctx, `/invitations/${inv.id}`));
            toast(t('admin.revoked'), 'success');
            reload();
          });
        },
      }, t('admin.revoke')))))))));
}

/** The link that opens the accept page (the token in the hash stays in the browser). */
export function acceptLink(token) {
  return `${location.origin}/#/accept?token=${encodeURIComponent(token)}`;
}

/** The invite form; on success the link and token are shown once with copy buttons. */
function inviteCard(ctx, reload) {
  const email = input('email', '', { type: 'email', required: true, autocomplete: 'off' });
  const role = select('role', grantable(ctx).map((r) => [r, roleLabel(r)]), 'agent');
  const error = h('div', { class: 'form-error', role: 'alert' });
  const result = h('div', { 'aria-live': 'polite' });
  const send = h('button', { class: 'btn btn-primary', type: 'submit' }, t('admin.members.invite'));
  const form = h('form', { class: 'stack-sm invite-form', novalidate: true },
    h('div', { class: 'invite-row' }, field(t('admin.members.email'), email), field(t('admin.members.role'), role),
      h('div', { class: 'invite-send' }, send)),
    error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form, error);
    if (!email.value.trim()) {
      showFieldErrors(form, error, { code: 'validation_failed', details: { fields: { email: 'required' } } });
      email.focus();
      return;
    }
    await busy(send, async () => {
      const inv = await ctx.api('POST', wsPath(ctx, '/invitations'), { email: email.value.trim(), role: role.value, locale: locale() });
      clear(result).append(h('div', { class: 'callout stack-sm invite-result' },
        h('strong', null, t('admin.members.invited', { email: inv.email, role: roleLabel(inv.role) })),
        inv.email_id ? h('p', { class: 'small' }, t('admin.members.emailed', { email: inv.email })) : null,
        h('p', { class: 'small' }, t('admin.members.tokenOnce', { date: fmtDate(inv.expires_at) })),
        copyBlock(acceptLink(inv.token), t('admin.members.link'), { 'data-invitation-link': '' }),
        h('p', { class: 'hint' }, t('admin.members.acceptHint')),
        h('details', { class: 'small' },
          h('summary', null, t('admin.members.token')),
          copyBlock(inv.token, t('admin.members.token'), { 'data-invitation-token': '' }))));
      email.value = '';
      reload();
    }, (err) => showFieldErrors(form, error, err));
  });
  return card(t('admin.members.inviteTitle'), form, result).el;
}

/** The workspace's recent e-mails and how sending went; a failed one can be retried. */
async function loadOutbox(ctx, life, box) {
  let page;
  try {
    page = await ctx.api('GET', wsPath(ctx, '/email-outbox?limit=20'));
  } catch (e) {
    if (life.alive()) clear(box).append(errorEl(e, () => loadOutbox(ctx, life, box)));
    return;
  }
  if (!life.alive()) return;
  if (!page.items.length) {
    clear(box).append(h('p', { class: 'empty' }, t('admin.outbox.empty')));
    return;
  }
  const badge = { sent: 'badge-ok', pending: 'badge-info', failed: 'badge-danger' };
  clear(box).append(h('div', { class: 'scroll-x' }, h('table', { class: 'table outbox-table' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, t('admin.outbox.to')),
      h('th', { scope: 'col' }, t('admin.outbox.subject')),
      h('th', { scope: 'col' }, t('admin.outbox.status')),
      h('th', { scope: 'col' }, t('admin.outbox.when')),
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, t('admin.actions'))))),
    h('tbody', null, page.items.map((e) => h('tr', { dataset: { emailId: e.id } },
      h('td', null, e.to),
      h('td', null, e.subject),
      h('td', null, h('span', { class: ['badge', badge[e.status]] }, t(`admin.outbox.${e.status}`)),
        e.last_error ? h('div', { class: 'muted small', title: e.last_error }, t('admin.outbox.attempts', { n: e.attempts }), ': ', e.last_error.slice(0, 120)) : null),
      h('td', { class: 'muted small' }, fmtDateTime(e.sent_at || e.created_at)),
      h('td', null, e.status === 'failed' ? h('button', {
        class: 'btn btn-sm', type: 'button',
        'on:click': (ev) => busy(ev.currentTarget, async () => {
          await ctx.api('POST', wsPath(ctx, `/email-outbox/${e.id}/retry`));
          toast(t('admin.outbox.retried'), 'success');
          loadOutbox(ctx, life, box);
        }),
      }, t('admin.outbox.retry')) : null)))))));
}
