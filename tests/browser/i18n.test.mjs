// The console's translation tables (no browser): zh-CN and en have the
// same keys, every key the code uses exists in both, and `has()` answers
// for the current locale only.
//
// Run: cd tests/browser && node --test i18n.test.mjs

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO } from './lib/harness.mjs';

const CONSOLE = join(REPO, 'crates/kefu-http/assets/console');
let i18n;

before(async () => {
  // What lib/i18n.js reads at import time, as a browser would have it.
  const store = new Map();
  globalThis.localStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, String(v)) };
  globalThis.document = { documentElement: {} };
  Object.defineProperty(globalThis, 'navigator', { value: { language: 'en', languages: ['en'] }, configurable: true });
  i18n = await import(join(CONSOLE, 'lib/i18n.js'));
  for (const table of ['core', 'admin', 'analytics']) await import(join(CONSOLE, `i18n/${table}.js`));
});

/** Every .js file of the console, as [path relative to the console, text]. */
function sources(dir = CONSOLE) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.js') ? [[relative(CONSOLE, p), readFileSync(p, 'utf8')]] : [];
  });
}

test('zh-CN and en have the same keys', () => {
  const zh = new Set(i18n.messageKeys('zh-CN'));
  const en = new Set(i18n.messageKeys('en'));
  assert.ok(zh.size > 100, `${zh.size} keys`);
  assert.deepEqual([...zh].filter((k) => !en.has(k)), [], 'only in zh-CN');
  assert.deepEqual([...en].filter((k) => !zh.has(k)), [], 'only in en');
});

test('every key the code names exists in both locales', () => {
  const both = (k) => i18n.messageKeys('zh-CN').includes(k) && i18n.messageKeys('en').includes(k);
  const missing = [];
  for (const [file, text] of sources()) {
    if (file.startsWith('i18n/')) continue;
    // t('a.b'), t('a.b', vars), has('a.b'); and registry entries' nav: 'a.b'.
    for (const m of text.matchAll(/\b(?:t|has)\(\s*'([^']+)'\s*[,)]/g)) if (!both(m[1])) missing.push(`${file}: ${m[1]}`);
    for (const m of text.matchAll(/\bnav:\s*'([^']+)'/g)) if (!both(m[1])) missing.push(`${file}: ${m[1]}`);
  }
  // Keys built from a value: every value the code can give.
  const families = {
    'conv.status.': ['bot', 'queued', 'assigned', 'resolved', 'closed'],
    'conv.priority.': ['urgent', 'high', 'normal', 'low'],
    'conv.sender.': ['agent', 'visitor', 'bot', 'system'],
    'inbox.view.': ['mine', 'unassigned', 'team', 'all', 'resolved'],
    'shell.conn.': ['connecting', 'open', 'closed'],
    'status.': ['online', 'away', 'offline'],
    'lang.': ['zh-CN', 'en'],
    'admin.role.': ['owner', 'admin', 'supervisor', 'agent'],
    'notify.permission.': ['granted', 'denied'],
    // The synonym list's refusals (kefu_service::kb::synonyms).
    'admin.kb.syn.err.': [
      'synonym_group_too_small', 'synonym_group_too_large', 'synonym_term_too_long',
      'synonym_term_invalid', 'synonym_term_unsearchable', 'synonym_groups_too_many',
    ],
    // Contact edit errors: the server's reasons (contacts.rs checked_patch) and the form's own.
    'contact.reason.': [
      'invalid', 'required', 'too_long', 'invalid_characters', 'email.invalid', 'phone.invalid',
      'invalid_key', 'invalid_value', 'too_many', 'key_required', 'duplicate',
    ],
  };
  for (const [prefix, values] of Object.entries(families)) {
    for (const v of values) if (!both(prefix + v)) missing.push(prefix + v);
  }
  assert.deepEqual(missing, []);
});

test('has() answers for the current locale only', () => {
  i18n.setLocale('en');
  i18n.registerMessages('en', { 'test.onlyEn': 'English only' });
  assert.equal(i18n.has('test.onlyEn'), true);
  assert.equal(i18n.has('error.unauthorized'), true);
  i18n.setLocale('zh-CN');
  assert.equal(i18n.has('test.onlyEn'), false, 'a key only in en is not in zh-CN');
  assert.equal(i18n.has('error.unauthorized'), true);
  assert.equal(i18n.has('toString'), false, 'not fooled by Object.prototype');
  // t() still falls back rather than show nothing.
  assert.equal(i18n.t('test.onlyEn'), 'English only');
});
