// The console's HTTP client: JSON over the cookie session.
//
// How the console session works (docs/api.md, routes/auth.rs):
// - POST /auth/login sets three cookies: `kefu_access` (HttpOnly, Path=/),
//   `kefu_refresh` (HttpOnly, Path=/api/v1/auth) and `kefu_csrf` (readable).
//   Every request rides on the access cookie; unsafe methods must echo the
//   CSRF cookie in `x-csrf-token` (double submit).
// - The access cookie lives 15 minutes. On a 401 we refresh once
//   (POST /auth/refresh with an empty body: the refresh cookie + CSRF header)
//   and retry. Refresh tokens are single-use and a second presentation ends
//   the session, so refreshes are serialised across tabs with the Web Locks
//   API, and a tab that finds another tab refreshed after its request failed
//   just retries instead of refreshing again.
// - The WebSocket rides on the same access cookie (the server accepts it on
//   an upgrade from its own origin). An expired cookie makes the upgrade
//   fail, which a browser cannot tell from a network error, so the socket
//   calls `checkSession()` (an ordinary request, refreshed on 401) before
//   trying again. No token is ever kept in JavaScript.

const BASE = '/api/v1';
const LOCK = 'kefu-auth-refresh';
const REFRESHED_AT = 'kefu.refreshedAt';

/** An HTTP error answer: `{status, code, message, details}`. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let refreshing = null; // this tab's in-flight refresh

/** Called with `false` once the session is over (refresh refused). */
let onSessionEnd = () => {};
export function onSessionEnded(fn) {
  onSessionEnd = fn;
}

function readCookie(name) {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return '';
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

function headersFor(method, contentType) {
  const headers = { accept: 'application/json' };
  if (contentType) headers['content-type'] = contentType;
  if (!SAFE.has(method)) headers['x-csrf-token'] = readCookie('kefu_csrf');
  return headers;
}

async function errorOf(res) {
  let body = {};
  try {
    body = await res.json();
  } catch {
    /* not JSON (a proxy's page): keep the status */
  }
  return new ApiError(res.status, body.code || 'http_' + res.status, body.message || res.statusText, body.details);
}

/**
 * Refreshes the session once for this tab (concurrent callers share it).
 * `failedAt`: when the request that got a 401 was sent; if another tab
 * refreshed after that, the cookies are already new and we only retry.
 * `force`: refresh even when another tab just did (tests use it to make
 * two tabs refresh head-on).
 * Resolves true when the caller should retry.
 */
export function refreshSession({ failedAt = 0, force = false } = {}) {
  if (!refreshing) {
    refreshing = withLock(() => doRefresh(failedAt, force)).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

// The Web Locks API exists in secure contexts (HTTPS, localhost), which the
// console needs anyway: its cookies are `Secure` unless configured off.
function withLock(fn) {
  return navigator.locks ? navigator.locks.request(LOCK, fn) : fn();
}

async function doRefresh(failedAt, force) {
  const last = Number(localStorage.getItem(REFRESHED_AT) || 0);
  if (!force && failedAt && last > failedAt) return true;
  let res;
  try {
    res = await fetch(BASE + '/auth/refresh', {
      method: 'POST',
      credentials: 'same-origin',
      headers: headersFor('POST', 'application/json'),
      body: '{}',
    });
  } catch {
    return false; // offline: the caller's request fails as it was
  }
  if (!res.ok) {
    if (res.status === 401) onSessionEnd();
    return false;
  }
  localStorage.setItem(REFRESHED_AT, String(Date.now()));
  return true;
}

async function send(method, path, body, contentType, { retried = false, signal } = {}) {
  const sentAt = Date.now();
  const res = await fetch(BASE + path, {
    method,
    credentials: 'same-origin',
    headers: headersFor(method, body === undefined ? null : contentType),
    body,
    signal,
  });
  // No CSRF cookie: no session to refresh (it lives as long as the refresh cookie).
  const refreshable = path !== '/auth/login' && path !== '/auth/refresh' && readCookie('kefu_csrf') !== '';
  if (res.status === 401 && !retried && refreshable) {
    if (await refreshSession({ failedAt: sentAt })) return send(method, path, body, contentType, { retried: true, signal });
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

/**
 * JSON request to `/api/v1${path}`. Resolves to the parsed body (undefined
 * for 204); throws ApiError on 4xx/5xx (TypeError when offline).
 */
export async function api(method, path, body) {
  const res = await send(method.toUpperCase(), path, body === undefined ? undefined : JSON.stringify(body), 'application/json');
  if (res.status === 204) return undefined;
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

/**
 * Uploads a file as `multipart/form-data` with one part `file` (the
 * browser writes the boundary): resolves to the JSON answer.
 */
export async function apiUpload(path, file) {
  const form = new FormData();
  form.append('file', file, file.name || 'file');
  const res = await send('POST', path, form, null);
  return res.json();
}

/** A non-JSON body (JSON Lines import/export): resolves to the text answer. */
export async function apiText(method, path, bodyText, contentType = 'application/x-ndjson') {
  const res = await send(method.toUpperCase(), path, bodyText, contentType);
  return res.status === 204 ? '' : res.text();
}

/**
 * GET `/api/v1${path}` for a download read as it arrives: resolves to the
 * Response once its headers are in (refreshing the session on a 401 like
 * any request); throws ApiError on 4xx/5xx. `signal` aborts it.
 */
export function apiDownload(path, signal) {
  return send('GET', path, undefined, null, { signal });
}

/** Signs in; throws ApiError (`invalid_credentials`, `totp_required`, …). */
export async function login(email, password, totp) {
  const body = { email, password };
  if (totp) body.totp = totp;
  const data = await api('POST', '/auth/login', body);
  localStorage.setItem(REFRESHED_AT, String(Date.now()));
  return data;
}

/** Signs in and sets a new password at once (after `password_change_required`). */
export async function loginWithNewPassword(email, password, totp, newPassword) {
  const body = { email, password, new_password: newPassword };
  if (totp) body.totp = totp;
  const data = await api('POST', '/auth/password', body);
  localStorage.setItem(REFRESHED_AT, String(Date.now()));
  return data;
}

/** Ends the session (the server clears the cookies). */
export async function logout() {
  await api('POST', '/auth/logout');
}

/**
 * Whether the session still works, refreshing the access cookie if it
 * expired (the socket asks after a failed upgrade). Resolves true when
 * signed in, false when the session is over or the server is unreachable.
 */
export async function checkSession() {
  try {
    await api('GET', '/me');
    return true;
  } catch {
    return false;
  }
}
