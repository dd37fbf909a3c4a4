// Inboxes: the list (with each inbox's embed snippet and demo link), the
// create/edit form (name, greeting, bot, allowed origins, business hours,
// offline mode, automation) and, while the workspace has no inbox, the first-run guide.
//
// Routes: #/admin/inboxes (list), #/admin/inboxes/new, #/admin/inboxes/{id}.

import { firstRunGuide } from '../first-run.js';
import { automationEditor } from './inbox-automation.js';
import { h, clear, toast } from '../../lib/dom.js';
import { t, fmtDate } from '../../lib/i18n.js';
import {
  wsPath, pageFrame, card, field, input, select, toggle, busy, copyBlock, confirmAction,
  loadingEl, errorEl, showFieldErrors, clearErrors, lines, lifecycle,
} from './common.js';

const PATH = '#/admin/inboxes';

/** The copy-paste embed snippet for a widget key. */
export function snippetFor(key) {
  return `<script src="${location.origin}/widget.js" data-key="${key}" async></script>`;
}

/** The demo page that embeds the widget of `key`. */
export function demoUrl(key) {
  return `/demo?key=${encodeURIComponent(key)}`;
}

export default {
  path: PATH,
  nav: 'nav.inboxes',
  roles: ['owner', 'admin'],
  render(root, ctx) {
    const life = lifecycle();
    const [id] = ctx.params || [];
    if (id === 'new') renderForm(root, ctx, life, null);
    else if (id) renderEdit(root, ctx, life, id);
    else renderList(root, ctx, life);
    return life.stop;
  },
};

// ---------- list ----------

async function renderList(root, ctx, life) {
  const { toolbar, body } = pageFrame(root, t('admin.inboxes.title'), t('admin.inboxes.intro'));
  toolbar.append(h('a', { class: 'btn btn-primary', href: `${PATH}/new` }, t('admin.inboxes.new')));
  body.append(loadingEl());
  let inboxes;
  try {
    inboxes = await ctx.api('GET', wsPath(ctx, '/inboxes'));
  } catch (e) {
    if (life.alive()) clear(body).append(errorEl(e, () => renderList(root, ctx, life)));
    return;
  }
  if (!life.alive()) return;
  clear(body);
  if (!inboxes.length) {
    body.append(firstRunGuide(ctx.workspace.role));
    return;
  }
  for (const inbox of inboxes) body.append(inboxCard(ctx, inbox, () => renderList(root, ctx, life)));
}

/** One inbox in the list: facts, the snippet, demo link, edit and delete. */
function inboxCard(ctx, inbox, reload) {
  const c = card(inbox.name);
  c.el.classList.add('inbox-card');
  c.el.dataset.inboxId = inbox.id;
  c.actions.append(
    h('a', { class: 'btn btn-sm', href: `${PATH}/${inbox.id}` }, t('admin.edit')),
    h('button', {
      class: 'btn btn-sm btn-danger',
      'on:click': (e) => deleteInbox(ctx, inbox, e.currentTarget, reload),
    }, t('admin.delete')),
  );
  c.body.append(
    h('div', { class: 'row' },
      h('span', { class: inbox.bot_enabled ? 'badge badge-ok' : 'badge badge-muted' },
        inbox.bot_enabled ? t('admin.inboxes.botOn') : t('admin.inboxes.botOff')),
      h('span', { class: 'badge badge-info' }, t(`admin.inboxes.offline.${inbox.offline_mode}`)),
      h('span', { class: 'badge badge-muted' },
        inbox.business_hours ? t('admin.inboxes.hoursSet') : t('admin.inboxes.alwaysOpen')),
      h('span', { class: 'muted small' }, t('admin.createdAt', { date: fmtDate(inbox.created_at) })),
    ),
    installBlock(inbox),
  );
  return c.el;
}

/** The snippet to paste into a site, and the demo page link. */
function installBlock(inbox) {
  return h('div', { class: 'stack-sm install' },
    h('p', { class: 'label' }, t('admin.inboxes.snippet')),
    copyBlock(snippetFor(inbox.widget_key), t('admin.inboxes.snippet'), { 'data-snippet': '' }),
    h('p', { class: 'hint' }, inbox.allowed_origins.length
      ? t('admin.inboxes.originsList', { origins: inbox.allowed_origins.join(', ') })
      : t('admin.inboxes.originsAny')),
    h('div', { class: 'row' },
      h('a', { class: 'btn btn-sm demo-link', href: demoUrl(inbox.widget_key), target: '_blank', rel: 'noopener' },
        t('admin.inboxes.openDemo'), h('span', { 'aria-hidden': 'true' }, ' ↗')),
      h('span', { class: 'hint' }, t('admin.inboxes.demoHint'))),
    // The demo page is served from here: with a list of allowed sites that
    // leaves this origin out, the widget would refuse to start on it.
    inbox.allowed_origins.length && !inbox.allowed_origins.includes(location.origin)
      ? h('p', { class: 'callout callout-warn small demo-warning' }, t('admin.inboxes.demoBlocked', { origin: location.origin }))
      : null,
  );
}

async function deleteInbox(ctx, inbox, btn, reload) {
  const ok = await confirmAction(t('admin.inboxes.deleteTitle'), t('admin.inboxes.deleteConfirm', { name: inbox.name }), t('admin.delete'));
  if (!ok) return;
  await busy(btn, async () => {
    await ctx.api('DELETE', wsPath(ctx, `/inboxes/${inbox.id}`));
    toast(t('admin.deleted'), 'success');
    reload();
  });
}

// ---------- edit ----------

async function renderEdit(root, ctx, life, id) {
  clear(root).append(h('div', { class: 'page' }, loadingEl()));
  let inbox;
  try {
    inbox = await ctx.api('GET', wsPath(ctx, `/inboxes/${encodeURIComponent(id)}`));
  } catch (e) {
    if (life.alive()) clear(root).append(h('div', { class: 'page' }, errorEl(e, () => renderEdit(root, ctx, life, id))));
    return;
  }
  if (life.alive()) renderForm(root, ctx, life, inbox);
}

/** The create (inbox null) or edit form. */
function renderForm(root, ctx, life, inbox) {
  const creating = !inbox;
  const { toolbar, body } = pageFrame(root, creating ? t('admin.inboxes.new') : inbox.name);
  toolbar.append(h('a', { class: 'btn', href: PATH }, t('admin.back')));
  if (!creating) {
    const install = card(t('admin.inboxes.install'), installBlock(inbox));
    install.el.classList.add('install-card');
    body.append(install.el);
  }

  const name = input('name', inbox?.name, { required: true, maxlength: 100, autocomplete: 'off' });
  const greeting = h('textarea', { class: 'textarea', name: 'greeting', rows: 2, maxlength: 500 }, inbox?.greeting || '');
  const bot = toggle('bot_enabled', t('admin.inboxes.botEnabled'), inbox ? inbox.bot_enabled : true);
  const origins = h('textarea', { class: 'textarea', name: 'allowed_origins', rows: 3, placeholder: 'https://shop.example.com' },
    (inbox?.allowed_origins || []).join('\n'));
  const offline = select('offline_mode', [
    ['queue', t('admin.inboxes.offline.queue')],
    ['form', t('admin.inboxes.offline.form')],
  ], inbox?.offline_mode || 'queue');
  const hours = businessHoursEditor(inbox?.business_hours || null);
  const automation = automationEditor(inbox);
  const error = h('div', { class: 'form-error', role: 'alert' });
  const save = h('button', { class: 'btn btn-primary', type: 'submit' }, creating ? t('admin.create') : t('action.save'));

  const form = h('form', { class: 'stack inbox-form', novalidate: true },
    field(t('admin.inboxes.name'), name),
    field(t('admin.inboxes.greeting'), greeting, t('admin.inboxes.greetingHint')),
    h('div', { class: 'field' }, bot, h('p', { class: 'hint' }, t('admin.inboxes.botHint'))),
    field(t('admin.inboxes.origins'), origins, t('admin.inboxes.originsHint')),
    field(t('admin.inboxes.offlineMode'), offline, t('admin.inboxes.offlineHint')),
    hours.el,
    automation.el,
    error,
    h('div', { class: 'row' }, save),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form, error);
    if (!name.value.trim()) {
      showFieldErrors(form, error, { code: 'validation_failed', details: { fields: { name: 'required' } } });
      name.focus();
      return;
    }
    const hoursValue = hours.value();
    if (hoursValue === undefined) {
      error.textContent = t('admin.hours.invalid');
      return;
    }
    const auto = automation.value();
    if (auto === undefined) {
      error.textContent = t('admin.auto.invalid');
      return;
    }
    const payload = {
      ...auto,
      name: name.value.trim(),
      greeting: greeting.value.trim() || null,
      bot_enabled: bot.input.checked,
      allowed_origins: lines(origins.value),
      offline_mode: offline.value,
      business_hours: hoursValue,
    };
    await busy(save, async () => {
      if (creating) {
        const created = await ctx.api('POST', wsPath(ctx, '/inboxes'), { channel: 'web', ...payload });
        toast(t('admin.inboxes.created'), 'success');
        ctx.navigate(`${PATH}/${created.id}`);
      } else {
        await ctx.api('PATCH', wsPath(ctx, `/inboxes/${inbox.id}`), payload);
        toast(t('admin.saved'), 'success');
        if (life.alive()) renderEdit(root, ctx, life, inbox.id);
      }
    }, (err) => showFieldErrors(form, error, err));
  });

  const settings = card(t('admin.inboxes.settings'), form);
  body.append(settings.el);
  if (!creating && inbox.identity_secret) body.append(identityCard(inbox));
  if (creating) name.focus();
}

/** The identity secret (identified visitors), hidden until asked for. */
function identityCard(inbox) {
  const c = card(t('admin.inboxes.identity'),
    h('p', { class: 'muted' }, t('admin.inboxes.identityHint')),
    h('details', null, h('summary', null, t('admin.inboxes.showSecret')),
      copyBlock(inbox.identity_secret, t('admin.inboxes.identity'))));
  return c.el;
}

// ---------- business hours ----------

const DAYS = [1, 2, 3, 4, 5, 6, 7];
const TIME = /^(([01]\d|2[0-3]):[0-5]\d|24:00)$/;

/**
 * "Always open" or a time zone with intervals (days + open/close).
 * `value()` is null (always open), the business_hours object, or undefined
 * when something is invalid (the bad inputs are marked).
 */
function businessHoursEditor(initial) {
  const always = h('input', { type: 'checkbox', name: 'always_open', checked: !initial });
  const zone = input('time_zone', initial?.time_zone || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC', {
    list: 'kefu-time-zones', autocomplete: 'off', spellcheck: 'false',
  });
  const zones = h('datalist', { id: 'kefu-time-zones' },
    (Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : []).map((z) => h('option', { value: z })));
  const rows = h('div', { class: 'stack-sm hours-rows' });
  const add = h('button', { type: 'button', class: 'btn btn-sm', 'on:click': () => rows.append(intervalRow()) }, t('admin.hours.add'));
  const details = h('div', { class: 'stack-sm hours-details' }, field(t('admin.hours.zone'), zone), zones, rows, h('div', null, add));
  const sync = () => { details.hidden = always.checked; };
  always.addEventListener('change', () => {
    sync();
    if (!always.checked && !rows.children.length) rows.append(intervalRow({ days: [1, 2, 3, 4, 5], open: '09:00', close: '18:00' }));
  });
  for (const iv of initial?.intervals || []) rows.append(intervalRow(iv));
  sync();

  const el = h('fieldset', { class: 'fieldset hours' },
    h('legend', { class: 'label' }, t('admin.hours.title')),
    h('label', { class: 'check' }, always, t('admin.hours.always')),
    details);

  function value() {
    if (always.checked) return null;
    let ok = true;
    const intervals = [];
    for (const row of rows.children) {
      const iv = row.read();
      if (!iv) ok = false;
      else intervals.push(iv);
    }
    if (!zone.value.trim()) { zone.setAttribute('aria-invalid', 'true'); ok = false; }
    return ok ? { time_zone: zone.value.trim(), intervals } : undefined;
  }
  return { el, value };
}

/** One opening interval: weekday checkboxes, open and close times, remove. */
function intervalRow(iv = { days: [], open: '09:00', close: '18:00' }) {
  const boxes = DAYS.map((d) => {
    const box = h('input', { type: 'checkbox', value: String(d), checked: iv.days.includes(d) });
    return { d, box, el: h('label', { class: 'check day-check' }, box, t(`admin.day.${d}`)) };
  });
  const open = input('open', iv.open, { class: 'input input-sm time-input', placeholder: '09:00', inputmode: 'numeric', 'aria-label': t('admin.hours.open') });
  const close = input('close', iv.close, { class: 'input input-sm time-input', placeholder: '18:00', inputmode: 'numeric', 'aria-label': t('admin.hours.close') });
  const row = h('div', { class: 'hours-row' },
    h('div', { class: 'row', role: 'group', 'aria-label': t('admin.hours.days') }, boxes.map((b) => b.el)),
    h('div', { class: 'row' }, open, h('span', { 'aria-hidden': 'true' }, '–'), close,
      h('button', { type: 'button', class: 'btn btn-sm btn-ghost', 'aria-label': t('admin.hours.remove'), 'on:click': () => row.remove() }, '✕')));
  row.read = () => {
    const days = boxes.filter((b) => b.box.checked).map((b) => b.d);
    const good = [open, close].map((i) => {
      const v = i.value.trim();
      const valid = TIME.test(v);
      if (valid) i.removeAttribute('aria-invalid');
      else i.setAttribute('aria-invalid', 'true');
      return valid;
    });
    if (!days.length || !good.every(Boolean) || close.value.trim() <= open.value.trim()) return null;
    return { days, open: open.value.trim(), close: close.value.trim() };
  };
  return row;
}
