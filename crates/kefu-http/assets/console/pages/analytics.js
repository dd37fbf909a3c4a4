// Analytics: GET …/analytics/summary?from=&to=&time_zone= for a date range
// (presets 7 / 30 days, or any from–to), shown as figures (the bot's
// verified resolution with its definition, as a tooltip on its figure and
// as a note in the bot card), bar charts
// (pages/charts.js: inline SVG with table fallbacks) and per-agent and
// per-team tables. Medians, averages and rates are null without data:
// shown as "—", and a chart without data says so instead of drawing.
//
// The range lives in the hash (#/analytics?from=2025-01-01&to=2025-01-07)
// so a view can be bookmarked; changing it replaces the history entry.

import '../i18n/analytics.js';
import { h, clear } from '../lib/dom.js';
import { t, has, locale, fmtDuration, fmtNumber } from '../lib/i18n.js';
import { errorText } from '../lib/errors.js';
import { barChart, rateMeter } from './charts.js';

const PATH = '#/analytics';
const PRESETS = [7, 30];
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const MAX_RANGE_DAYS = 366; // the server's limit (analytics_summary)

export default {
  path: PATH,
  nav: 'nav.analytics',
  roles: ['owner', 'admin', 'supervisor'],
  render(root, ctx) {
    let alive = true;
    renderPage(root, ctx, () => alive);
    return () => { alive = false; };
  },
};

// ---------- dates ----------

/** A local calendar date as YYYY-MM-DD. */
export function isoDate(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The last `days` days up to today, inclusive. */
export function lastDays(days, now = new Date()) {
  const from = new Date(now.getFullYear(), now.getMonth(), now.getDate() - (days - 1));
  return { from: isoDate(from), to: isoDate(now) };
}

/** Whole days from one YYYY-MM-DD to another. */
function daysBetween(a, b) {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);
}

/** The browser's IANA time zone (the server counts days and hours in it). */
function timeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** The range from the hash query, else the last 7 days. */
function initialRange(query) {
  const from = query && query.get('from');
  const to = query && query.get('to');
  if (DATE.test(from || '') && DATE.test(to || '') && from <= to) return { from, to };
  return lastDays(7);
}

/** Which preset (7, 30) the range is, if any. */
function presetOf(range) {
  return PRESETS.find((n) => {
    const p = lastDays(n);
    return p.from === range.from && p.to === range.to;
  }) || null;
}

// ---------- formatting ----------

const pct = (r) => (r === null || r === undefined ? '—' : fmtNumber(r, { style: 'percent', maximumFractionDigits: 1 }));
const avg = (a) => (a === null || a === undefined ? '—' : fmtNumber(a, { minimumFractionDigits: 1, maximumFractionDigits: 2 }));
const int = (n) => fmtNumber(n ?? 0);

/** `key`, or its `.one` form (singular) when `n` is 1 and the locale has one. */
function plural(key, n, vars) {
  return t(n === 1 && has(`${key}.one`) ? `${key}.one` : key, vars);
}

/** 'YYYY-MM-DD' → short and long labels in the current locale. */
function dayLabels(dates) {
  const short = new Intl.DateTimeFormat(locale(), { month: 'numeric', day: 'numeric', timeZone: 'UTC' });
  const long = new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeZone: 'UTC' });
  const at = (s) => new Date(`${s}T00:00:00Z`);
  return { labels: dates.map((s) => short.format(at(s))), tips: dates.map((s) => long.format(at(s))) };
}

// ---------- page ----------

function renderPage(root, ctx, alive) {
  let range = initialRange(ctx.query);
  const tz = timeZone();

  const from = h('input', { class: 'input input-sm', type: 'date', name: 'from', value: range.from, max: range.to, 'aria-label': t('analytics.from') });
  const to = h('input', { class: 'input input-sm', type: 'date', name: 'to', value: range.to, min: range.from, max: isoDate(new Date()), 'aria-label': t('analytics.to') });
  const presetBtns = PRESETS.map((n) => h('button', {
    type: 'button', class: 'btn btn-sm', dataset: { days: String(n) }, 'aria-pressed': 'false',
    'on:click': () => { range = lastDays(n); from.value = range.from; to.value = range.to; load(); },
  }, t('analytics.lastDays', { n })));
  const apply = h('button', { type: 'submit', class: 'btn btn-sm btn-primary' }, t('action.apply'));
  const rangeError = h('span', { class: 'field-error', role: 'alert' });
  const form = h('form', { class: 'toolbar range-form', 'aria-label': t('analytics.range') },
    h('div', { class: 'row', role: 'group', 'aria-label': t('analytics.presets') }, presetBtns),
    h('label', { class: 'row range-field' }, h('span', { class: 'small' }, t('analytics.from')), from),
    h('label', { class: 'row range-field' }, h('span', { class: 'small' }, t('analytics.to')), to),
    apply, rangeError);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!DATE.test(from.value) || !DATE.test(to.value) || from.value > to.value) {
      rangeError.textContent = t('analytics.badRange');
      return;
    }
    if (daysBetween(from.value, to.value) >= MAX_RANGE_DAYS) {
      rangeError.textContent = t('analytics.tooLong', { n: MAX_RANGE_DAYS });
      return;
    }
    range = { from: from.value, to: to.value };
    load();
  });
  from.addEventListener('change', () => { to.min = from.value; });
  to.addEventListener('change', () => { from.max = to.value; });

  const summaryLine = h('p', { class: 'muted small analytics-summary', 'aria-live': 'polite' });
  const body = h('div', { class: 'stack-lg analytics-body', 'aria-busy': 'false' });
  clear(root).append(h('div', { class: 'page analytics-page' },
    h('div', { class: 'page-header' }, h('h1', null, t('analytics.title')), form),
    summaryLine, body));

  let seq = 0;
  async function load() {
    rangeError.textContent = '';
    const mine = ++seq;
    for (const b of presetBtns) b.setAttribute('aria-pressed', String(Number(b.dataset.days) === presetOf(range)));
    history.replaceState(null, '', `${PATH}?from=${range.from}&to=${range.to}`);
    body.setAttribute('aria-busy', 'true');
    if (!body.firstChild) body.append(h('div', { class: 'empty', role: 'status' }, t('common.loading')));
    const q = new URLSearchParams({ from: range.from, to: range.to, time_zone: tz });
    let data;
    try {
      data = await ctx.api('GET', `/workspaces/${encodeURIComponent(ctx.workspace.id)}/analytics/summary?${q}`);
    } catch (e) {
      if (!alive() || mine !== seq) return;
      body.setAttribute('aria-busy', 'false');
      clear(body).append(h('div', { class: 'callout callout-danger row-between', role: 'alert' },
        h('span', null, rangeErrorText(e) || errorText(e)), h('button', { class: 'btn btn-sm', type: 'button', 'on:click': load }, t('action.retry'))));
      return;
    }
    if (!alive() || mine !== seq) return;
    body.setAttribute('aria-busy', 'false');
    summaryLine.textContent = t('analytics.period', { from: data.from, to: data.to, tz: data.time_zone });
    clear(body).append(...renderSummary(data));
  }
  load();
}

/** A refused range (422 on `from`/`to`) in words, else null. */
function rangeErrorText(e) {
  const fields = e && e.code === 'validation_failed' && e.details && e.details.fields;
  if (!fields || !(fields.from || fields.to)) return null;
  return (fields.to || fields.from) === 'range_too_long' ? t('analytics.tooLong', { n: MAX_RANGE_DAYS }) : t('analytics.badRange');
}

/** Every section of the summary. */
export function renderSummary(d) {
  const conv = d.conversations || { total: 0, by_day: [], by_hour: [] };
  const fr = d.first_response_secs || {};
  const rs = d.resolution_secs || {};
  const bot = d.bot || {};
  // Bot conversations whose outcome is known (the rate's denominator).
  const decided = (bot.conversations ?? 0) - (bot.pending ?? 0);
  const csat = d.csat || { count: 0, distribution: [0, 0, 0, 0, 0] };
  const days = dayLabels((conv.by_day || []).map((x) => x.date));
  const hours = Array.from({ length: 24 }, (_, i) => i);

  const kpis = h('section', { class: 'grid kpis', 'aria-label': t('analytics.figures') },
    kpi('conversations', t('analytics.kpi.conversations'), int(conv.total), null),
    kpi('first-response', t('analytics.kpi.firstResponse'), fmtDuration(fr.median),
      plural('analytics.kpi.p90', fr.count, { v: fmtDuration(fr.p90), n: int(fr.count) })),
    kpi('resolution', t('analytics.kpi.resolution'), fmtDuration(rs.median),
      plural('analytics.kpi.p90', rs.count, { v: fmtDuration(rs.p90), n: int(rs.count) })),
    kpi('containment', t('analytics.kpi.containment'), pct(bot.containment_rate),
      plural('analytics.kpi.containedOf', bot.conversations, { n: int(bot.contained), total: int(bot.conversations) }),
      rateMeter(t('analytics.kpi.containment'), bot.containment_rate)),
    kpi('bot-resolution', t('analytics.kpi.botResolution'), pct(bot.resolution_rate),
      plural('analytics.kpi.resolvedOf', decided, { n: int(bot.resolved), total: int(decided), pending: int(bot.pending) }),
      rateMeter(t('analytics.kpi.botResolution'), bot.resolution_rate), resolutionDefinition(bot)),
    kpi('handoff', t('analytics.kpi.handoff'), pct(bot.handoff_rate),
      plural('analytics.kpi.handedOffOf', bot.conversations, { n: int(bot.handed_off), total: int(bot.conversations) }),
      rateMeter(t('analytics.kpi.handoff'), bot.handoff_rate)),
    kpi('csat', t('analytics.kpi.csat'), csat.average == null ? '—' : `${avg(csat.average)} / 5`,
      plural('analytics.kpi.ratings', csat.count, { n: int(csat.count) })),
  );

  const charts = h('div', { class: 'grid-2 charts' },
    chartCard(barChart({
      title: t('analytics.chart.byDay'),
      labels: days.labels,
      tipLabels: days.tips,
      values: (conv.by_day || []).map((x) => x.count),
      labelName: t('analytics.col.date'),
      valueName: t('analytics.col.conversations'),
      className: 'chart-by-day',
    })),
    chartCard(barChart({
      title: t('analytics.chart.byHour'),
      labels: hours.map(String),
      tipLabels: hours.map((i) => `${String(i).padStart(2, '0')}:00–${String(i + 1).padStart(2, '0')}:00`),
      values: conv.by_hour || [],
      labelName: t('analytics.col.hour'),
      valueName: t('analytics.col.conversations'),
      className: 'chart-by-hour',
    })),
    chartCard(barChart({
      title: t('analytics.chart.csat'),
      labels: [1, 2, 3, 4, 5].map((n) => `${n}★`),
      tipLabels: [1, 2, 3, 4, 5].map((n) => t('analytics.stars', { n })),
      values: csat.distribution || [],
      labelName: t('analytics.col.score'),
      valueName: t('analytics.col.ratings'),
      className: 'chart-csat',
    })),
    botCard(bot),
  );

  return [
    kpis,
    charts,
    breakdown('agents', t('analytics.agents'), t('analytics.col.agent'), d.agents || [], (r) => r.name || t('analytics.unknownAgent')),
    breakdown('teams', t('analytics.teams'), t('analytics.col.team'), d.teams || [], (r) => r.name || t('analytics.noTeam')),
  ];
}

function kpi(id, label, value, sub, extra, tip) {
  return h('div', { class: 'card kpi', dataset: { kpi: id }, title: tip || null },
    h('span', { class: 'kpi-label' }, label),
    h('span', { class: 'kpi-value' }, value),
    sub ? h('span', { class: 'kpi-sub' }, sub) : null,
    extra || null);
}

function chartCard(figure) {
  return h('section', { class: 'card chart-card' }, figure);
}

/** What "resolved by the bot" means, with the server's window. */
function resolutionDefinition(bot) {
  return t('analytics.bot.resolutionExplain', { hours: int(bot.resolution_window_hours ?? 24) });
}

/**
 * The bot's conversations: contained vs handed off, and verified
 * resolution (confirmed, silent, pending) with its definition.
 */
function botCard(bot) {
  const rows = [
    ['conversations', t('analytics.bot.conversations'), int(bot.conversations)],
    ['contained', t('analytics.bot.contained'), int(bot.contained)],
    ['handed-off', t('analytics.bot.handedOff'), int(bot.handed_off)],
    ['containment-rate', t('analytics.kpi.containment'), pct(bot.containment_rate)],
    ['handoff-rate', t('analytics.kpi.handoff'), pct(bot.handoff_rate)],
    ['resolved', t('analytics.bot.resolved'), int(bot.resolved)],
    ['confirmed', t('analytics.bot.confirmed'), int(bot.confirmed)],
    ['silent', t('analytics.bot.silent'), int(bot.silent)],
    ['pending', t('analytics.bot.pending'), int(bot.pending)],
    ['resolution-rate', t('analytics.kpi.botResolution'), pct(bot.resolution_rate)],
  ];
  return h('section', { class: 'card chart-card bot-card', 'aria-labelledby': 'bot-card-title' },
    h('h2', { class: 'chart-caption', id: 'bot-card-title' }, t('analytics.bot.title')),
    h('p', { class: 'muted small' }, t('analytics.bot.explain')),
    h('p', { class: 'muted small', dataset: { definition: 'bot-resolution' } }, resolutionDefinition(bot)),
    h('table', { class: 'table' }, h('tbody', null, rows.map(([id, k, v]) =>
      h('tr', { dataset: { row: id } }, h('th', { scope: 'row' }, k), h('td', { class: 'num' }, v))))));
}

/** The per-agent or per-team table. */
function breakdown(id, title, firstCol, rows, nameOf) {
  const body = rows.length
    ? h('div', { class: 'scroll-x' }, h('table', { class: `table breakdown-${id}` },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, firstCol),
        h('th', { scope: 'col', class: 'num' }, t('analytics.col.conversations')),
        h('th', { scope: 'col', class: 'num' }, t('analytics.col.firstResponse')),
        h('th', { scope: 'col', class: 'num' }, t('analytics.col.resolution')),
        h('th', { scope: 'col', class: 'num' }, t('analytics.col.csat')))),
      h('tbody', null, rows.map((r) => h('tr', null,
        h('th', { scope: 'row' }, nameOf(r)),
        h('td', { class: 'num' }, int(r.conversations)),
        h('td', { class: 'num' }, fmtDuration(r.first_response_median_secs)),
        h('td', { class: 'num' }, fmtDuration(r.resolution_median_secs)),
        h('td', { class: 'num' }, r.csat_average == null ? '—' : t('analytics.csatCell', { avg: avg(r.csat_average), n: int(r.csat_count) })))))))
    : h('p', { class: 'muted' }, t('analytics.noRows'));
  return h('section', { class: 'card', 'aria-labelledby': `${id}-title`, dataset: { breakdown: id } },
    h('div', { class: 'card-header' }, h('h2', { class: 'card-title', id: `${id}-title` }, title)),
    body);
}
