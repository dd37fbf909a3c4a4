// Small pieces shared by the inbox list and the conversation pane.

import { h, icon } from '../lib/dom.js';
import { t } from '../lib/i18n.js';

const STATUS_KIND = { bot: 'info', queued: 'warn', assigned: 'ok', resolved: 'muted', closed: 'muted' };

export function statusBadge(status) {
  return h('span', { class: ['badge', 'badge-' + (STATUS_KIND[status] || 'muted'), 'status-' + status] }, t('conv.status.' + status));
}

/** Priority presets (the API takes any integer in -100..=100). */
export const PRIORITIES = [
  { value: 100, key: 'urgent' },
  { value: 50, key: 'high' },
  { value: 0, key: 'normal' },
  { value: -50, key: 'low' },
];

export function priorityName(p) {
  const preset = PRIORITIES.find((x) => x.value === p);
  if (preset) return t('conv.priority.' + preset.key);
  if (p >= 75) return t('conv.priority.urgent') + ` (${p})`;
  if (p > 0) return t('conv.priority.high') + ` (${p})`;
  return t('conv.priority.low') + ` (${p})`;
}

/** A badge for a non-normal priority; null for 0. */
export function priorityBadge(p) {
  if (!p) return null;
  return h('span', { class: ['badge', p >= 75 ? 'badge-danger' : p > 0 ? 'badge-warn' : 'badge-muted'], title: t('conv.priority') }, priorityName(p));
}

/** One line of a message for the list (a lock before a private note). */
export function previewText(p) {
  const text = (p.text || '').replace(/\s+/g, ' ').trim();
  return p.private ? [icon('lock', 'icon-sm'), ' ', text] : text;
}
