// Teams: create, rename, choose members (checkboxes over the workspace's
// members), delete (its waiting conversations move to the general queue).

import { h, clear, toast } from '../../lib/dom.js';
import { t } from '../../lib/i18n.js';
import {
  wsPath, pageFrame, card, field, input, busy, confirmAction, loadingEl, errorEl, showFieldErrors, clearErrors,
  roleLabel, lifecycle,
} from './common.js';

export default {
  path: '#/admin/teams',
  nav: 'nav.teams',
  roles: ['owner', 'admin'],
  render(root, ctx) {
    const life = lifecycle();
    render(root, ctx, life);
    return life.stop;
  },
};

async function render(root, ctx, life) {
  const { body } = pageFrame(root, t('admin.teams.title'), t('admin.teams.intro'));
  body.append(loadingEl());
  let teams;
  let members;
  try {
    [teams, members] = await Promise.all([
      ctx.api('GET', wsPath(ctx, '/teams')),
      ctx.api('GET', wsPath(ctx, '/members')),
    ]);
  } catch (e) {
    if (life.alive()) clear(body).append(errorEl(e, () => render(root, ctx, life)));
    return;
  }
  if (!life.alive()) return;
  const reload = () => render(root, ctx, life);
  clear(body).append(teamForm(ctx, null, members, reload));
  if (!teams.length) body.append(h('div', { class: 'empty' }, t('admin.teams.empty')));
  for (const team of teams) body.append(teamForm(ctx, team, members, reload));
}

/** A card with the team's name and member checkboxes (team null: the "new team" card). */
function teamForm(ctx, team, members, reload) {
  const creating = !team;
  const name = input('name', team?.name || '', { required: true, maxlength: 100, autocomplete: 'off' });
  const chosen = new Set(team?.member_ids || []);
  const boxes = members.map((m) => {
    const box = h('input', { type: 'checkbox', value: m.user_id, checked: chosen.has(m.user_id) });
    return h('label', { class: 'check member-check' }, box,
      h('span', null, m.name || m.email), h('span', { class: 'muted small' }, roleLabel(m.role)));
  });
  const error = h('div', { class: 'form-error', role: 'alert' });
  const save = h('button', { class: 'btn btn-primary', type: 'submit' }, creating ? t('admin.create') : t('action.save'));
  const form = h('form', { class: 'stack-sm team-form', novalidate: true, dataset: { teamId: team?.id || 'new' } },
    field(t('admin.teams.name'), name),
    h('fieldset', { class: 'fieldset' }, h('legend', { class: 'label' }, t('admin.teams.members')),
      h('div', { class: 'member-checks' }, boxes)),
    error,
    h('div', { class: 'row' }, save,
      creating ? null : h('button', {
        type: 'button', class: 'btn btn-danger', 'on:click': (e) => remove(ctx, team, e.currentTarget, reload),
      }, t('admin.delete'))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form, error);
    if (!name.value.trim()) {
      showFieldErrors(form, error, { code: 'validation_failed', details: { fields: { name: 'required' } } });
      name.focus();
      return;
    }
    const memberIds = [...form.querySelectorAll('.member-checks input:checked')].map((b) => b.value);
    const payload = { name: name.value.trim(), member_ids: memberIds };
    await busy(save, async () => {
      if (creating) await ctx.api('POST', wsPath(ctx, '/teams'), payload);
      else await ctx.api('PATCH', wsPath(ctx, `/teams/${team.id}`), payload);
      toast(creating ? t('admin.teams.created') : t('admin.saved'), 'success');
      reload();
    }, (err) => showFieldErrors(form, error, err));
  });
  const c = card(creating ? t('admin.teams.new') : team.name, form);
  if (!creating) c.actions.append(h('span', { class: 'badge badge-muted' }, t('admin.teams.count', { n: team.member_ids.length })));
  return c.el;
}

async function remove(ctx, team, btn, reload) {
  if (!(await confirmAction(t('admin.teams.deleteTitle'), t('admin.teams.deleteConfirm', { name: team.name }), t('admin.delete')))) return;
  await busy(btn, async () => {
    await ctx.api('DELETE', wsPath(ctx, `/teams/${team.id}`));
    toast(t('admin.deleted'), 'success');
    reload();
  });
}
