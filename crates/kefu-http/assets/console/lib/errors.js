// API errors to user-facing text: translated by `code` (i18n keys
// `error.<code>`), else a generic sentence with the HTTP status.

import { t, has } from './i18n.js';

/** The translated text for an ApiError, a network TypeError or anything else. */
export function errorText(e) {
  if (!e) return t('error.generic');
  if (e.code && has('error.' + e.code)) {
    const reason = e.details && e.details.reason;
    if (reason && has('error.' + e.code + '.' + reason)) return t('error.' + e.code + '.' + reason);
    return t('error.' + e.code);
  }
  if (e instanceof TypeError) return t('error.network');
  if (e.status) return t('error.status', { status: e.status });
  return t('error.generic');
}
