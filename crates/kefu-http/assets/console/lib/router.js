// Hash routing over the page registry.
//
// A page: { path: '#/admin/members', nav: 'nav.members' | null,
//           roles: ['owner', 'admin'] | undefined (everyone),
//           render(root, ctx) → cleanup function | undefined,
//           routeChanged?(params) → true when the page handled it itself }.
// A hash matches the page with the longest `path` that equals it or is a
// prefix of it followed by '/'; the rest is `ctx.params` (decoded segments),
// e.g. '#/inbox/0193…' → inbox page with params ['0193…'].

/** Splits '#/a/b?x=1' into {path: '#/a/b', query: URLSearchParams}. */
export function parseHash(hash = location.hash) {
  const raw = hash || '#/';
  const q = raw.indexOf('?');
  return {
    path: q < 0 ? raw : raw.slice(0, q),
    query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)),
  };
}

/** Whether `role` may see `page`. */
export function allowed(page, role) {
  return !page.roles || page.roles.length === 0 || page.roles.includes(role);
}

/** The page for `path` among those `role` may see, with its params. */
export function match(pages, path, role) {
  let best = null;
  for (const page of pages) {
    if (!allowed(page, role)) continue;
    const p = page.path;
    if (path === p || path.startsWith(p + '/')) {
      if (!best || p.length > best.page.path.length) best = { page, rest: path.slice(p.length) };
    }
  }
  if (!best) return null;
  const params = best.rest.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: best.page, params };
}

/** Navigates to a hash ('#/inbox/…'). */
export function navigate(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}
