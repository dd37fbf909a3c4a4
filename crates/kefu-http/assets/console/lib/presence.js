// The agent's own status (online/away/offline) and capacity in the top bar:
// GET …/agents (to read them), PUT …/agents/me/status (to change them).

import { api } from './api.js';
import { t } from './i18n.js';
import { h, toast, icon } from './dom.js';
import { errorText } from './errors.js';

const STATUSES = ['online', 'away', 'offline'];

/** {el, destroy}: a status select plus a capacity field in a disclosure. */
export function statusControl({ me, workspace }) {
  const base = `/workspaces/${workspace.id}/agents`;
  let status = 'offline';
  let capacity = null;

  const dot = h('span', { class: 'status-dot', 'aria-hidden': 'true' });
  const select = h(
    'select',
    { class: 'select select-sm', 'aria-label': t('status.label'), 'on:change': () => save({ status: select.value }) },
    STATUSES.map((s) => h('option', { value: s }, t('status.' + s))),
  );
  const capInput = h('input', {
    class: 'input input-sm cap-input',
    type: 'number',
    min: '0',
    max: '1000',
    inputmode: 'numeric',
    'aria-label': t('status.capacity'),
  });
  const capForm = h(
    'form',
    {
      class: 'cap-form',
      'on:submit': (e) => {
        e.preventDefault();
        const n = Number(capInput.value);
        if (Number.isInteger(n) && n >= 0) save({ status, capacity: n });
      },
    },
    h('label', { class: 'label' }, t('status.capacity'), capInput),
    h('button', { class: 'btn btn-sm', type: 'submit' }, t('action.save')),
  );
  const details = h('details', { class: 'popover status-popover' }, h('summary', { class: 'btn btn-ghost btn-sm', 'aria-label': t('status.capacity'), title: t('status.capacity') }, icon('sliders')), h('div', { class: 'popover-body' }, capForm));
  const el = h('div', { class: 'status-control' }, dot, select, details);

  function show() {
    select.value = status;
    dot.dataset.status = status;
    if (capacity !== null) capInput.value = String(capacity);
  }

  async function load() {
    try {
      const agents = await api('GET', base);
      const mine = agents.find((a) => a.user_id === me.user.id);
      if (mine) {
        status = mine.status;
        capacity = mine.capacity;
      }
      show();
    } catch (e) {
      console.warn('agents', e);
    }
  }

  async function save(body) {
    const before = status;
    try {
      const res = await api('PUT', `${base}/me/status`, body);
      status = (res && res.status) || body.status;
      if (res && res.capacity !== undefined) capacity = res.capacity;
      else if (body.capacity !== undefined) capacity = body.capacity;
      show();
      toast(t('status.saved', { status: t('status.' + status) }), 'success');
      details.open = false;
    } catch (e) {
      status = before;
      show();
      toast(errorText(e), 'error');
    }
  }

  show();
  load();
  return { el, destroy() {} };
}
