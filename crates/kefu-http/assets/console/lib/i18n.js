// Translation tables and locale-aware formatting.
//
// Each module registers flat keys per locale (`registerMessages('en',
// {'inbox.title': 'Inbox'})`); `t(key, {name})` fills `{name}`
// placeholders. A key missing in the current locale falls back to the other
// locale, then to the key itself (so a gap is visible, never blank).
// The locale is zh-CN when the browser language starts with `zh`, else en;
// a choice made in the UI is kept in localStorage.

export const LOCALES = ['zh-CN', 'en'];
const STORE = 'kefu.locale';
const tables = { 'zh-CN': {}, en: {} };
const listeners = new Set();

function initialLocale() {
  const saved = localStorage.getItem(STORE);
  if (LOCALES.includes(saved)) return saved;
  const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
  return String(langs[0]).toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

let current = initialLocale();
document.documentElement.lang = current;

/** Adds (or overrides) messages for `locale` ('zh-CN' or 'en'). */
export function registerMessages(locale, dict) {
  if (!tables[locale]) tables[locale] = {};
  Object.assign(tables[locale], dict);
}

/** The current locale: 'zh-CN' or 'en'. */
export function locale() {
  return current;
}

/** Switches the locale, remembers it and asks listeners to re-render. */
export function setLocale(l) {
  if (!LOCALES.includes(l) || l === current) return;
  current = l;
  localStorage.setItem(STORE, l);
  document.documentElement.lang = l;
  for (const fn of listeners) fn(l);
}

/** Calls `fn(locale)` after each change; returns an unsubscribe function. */
export function onLocaleChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** The message for `key` with `{name}` placeholders filled from `vars`. */
export function t(key, vars) {
  let s = tables[current][key];
  if (s === undefined) s = tables[current === 'en' ? 'zh-CN' : 'en'][key];
  if (s === undefined) return key;
  if (!vars) return s;
  return s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined || vars[k] === null ? m : String(vars[k])));
}

/**
 * Whether the current locale has a message for `key` (e.g. to translate an
 * API error code). Only the current locale's table counts: `t()` would fall
 * back to the other language, which is not what a caller asking means.
 */
export function has(key) {
  return Object.prototype.hasOwnProperty.call(tables[current], key);
}

/** The keys registered for `locale` (tests compare the two locales). */
export function messageKeys(locale) {
  return Object.keys(tables[locale] || {});
}

const fmtCache = new Map();
function formatter(kind, opts) {
  const k = current + kind;
  if (!fmtCache.has(k)) fmtCache.set(k, new Intl.DateTimeFormat(current, opts));
  return fmtCache.get(k);
}

/** A date-time, short: today's as a time, this year's without the year. */
export function fmtDate(d) {
  if (d === null || d === undefined || d === '') return '';
  const date = d instanceof Date ? d : new Date(d);
  if (Number.isNaN(date.getTime())) return '';
  const now = new Date();
  if (date.toDateString() === now.toDateString()) {
    return formatter('t', { hour: '2-digit', minute: '2-digit' }).format(date);
  }
  if (date.getFullYear() === now.getFullYear()) {
    return formatter('md', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }).format(date);
  }
  return formatter('ymd', { year: 'numeric', month: 'short', day: 'numeric' }).format(date);
}

/** A time of day, "14:05" (messages under a day separator). */
export function fmtTime(d) {
  if (!d) return '';
  const date = d instanceof Date ? d : new Date(d);
  if (Number.isNaN(date.getTime())) return '';
  return formatter('t', { hour: '2-digit', minute: '2-digit' }).format(date);
}

/** The local calendar day of a date, "2025-03-09": equal keys, same day. */
export function dayKey(d) {
  const date = d instanceof Date ? d : new Date(d);
  if (Number.isNaN(date.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/**
 * A day for a separator, from its dayKey: "Today", "Yesterday", else the
 * weekday and date (with the year when it is not this year).
 */
export function fmtDay(key, now = new Date()) {
  const [y, m, d] = key.split('-').map(Number);
  const date = new Date(y, m - 1, d);
  if (key === dayKey(now)) return t('day.today');
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (key === dayKey(yesterday)) return t('day.yesterday');
  const opts = { weekday: 'long', month: 'long', day: 'numeric' };
  if (y !== now.getFullYear()) opts.year = 'numeric';
  return formatter(opts.year ? 'dayY' : 'day', opts).format(date);
}

/** A full date and time (for titles and tooltips). */
export function fmtDateTime(d) {
  if (!d) return '';
  return formatter('full', { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(d));
}

/** A duration in seconds: "45s", "3m 20s", "2h 5m" (localised); '—' for null. */
export function fmtDuration(secs) {
  if (secs === null || secs === undefined || Number.isNaN(Number(secs))) return '—';
  const s = Math.round(Number(secs));
  if (s < 60) return t('dur.s', { s });
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const r = s % 60;
    return r ? t('dur.ms', { m, s: r }) : t('dur.m', { m });
  }
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return m ? t('dur.hm', { h, m }) : t('dur.h', { h });
}

/** A number in the current locale (`opts` as Intl.NumberFormat). */
export function fmtNumber(n, opts) {
  if (n === null || n === undefined) return '—';
  return new Intl.NumberFormat(current, opts).format(n);
}

// Units used by fmtDuration, here so the formatter works on its own.
registerMessages('zh-CN', {
  'dur.s': '{s}秒',
  'dur.m': '{m}分钟',
  'dur.ms': '{m}分{s}秒',
  'dur.h': '{h}小时',
  'dur.hm': '{h}小时{m}分',
});
registerMessages('en', {
  'dur.s': '{s}s',
  'dur.m': '{m}m',
  'dur.ms': '{m}m {s}s',
  'dur.h': '{h}h',
  'dur.hm': '{h}h {m}m',
});
