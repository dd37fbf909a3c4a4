// The browser's Markdown renderers against hostile input (no browser): the
// console's `parseMarkdown()`/`renderInto()` (console/lib/markdown.js) and
// the widget's `markdown()`/`inline()` (widget.js, evaluated from its own
// source against a small stand-in DOM). Both get the shared corpus
// (tests/corpus/markdown-hostile.json, which the Rust stripper's test reads
// too) and then seeded random mixes of its pieces, and must keep to the
// same safety rules:
//
// - only the elements and attributes the renderer knows (no <script>, no
//   <img>, no style, no on* attribute, no event listener);
// - a link's href, read the way a browser's URL parser reads it (leading
//   and trailing spaces and controls dropped, tabs and newlines removed,
//   scheme case-folded), is http(s) (the widget: or mailto) — never
//   javascript:, vbscript:, data: or a relative path;
// - the serialised HTML holds no raw tag but the known ones;
// - each input renders within a time bound (no catastrophic backtracking,
//   no recursion that overflows the stack).
//
// Run: cd tests/browser && node --test markdown.test.mjs
// A failing random case prints its seed: KEFU_MD_SEED=<seed> reruns it.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CORPUS = JSON.parse(readFileSync(join(REPO, 'tests/corpus/markdown-hostile.json'), 'utf8'));
/** Every corpus input: the literal ones, then the generated long ones. */
const INPUTS = [
  ...CORPUS.inputs.map((s, i) => [`inputs[${i}]`, s]),
  ...CORPUS.generated.map((g) => [g.name, (g.head ?? '') + g.unit.repeat(g.times) + g.tail]),
];
/** Slowest acceptable render of one input (50,000 characters at most). */
const MAX_MS = 1500;
const RANDOM_CASES = Number(process.env.KEFU_MD_CASES ?? 1500);

// ------------------------------------------------------------ a tiny DOM

class Text {
  constructor(data) { this.data = String(data); }
}
class Element {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.attrs = new Map();
    this.childNodes = [];
    this.listeners = [];
  }
  setAttribute(k, v) { this.attrs.set(String(k).toLowerCase(), String(v)); }
  getAttribute(k) { return this.attrs.get(k) ?? null; }
  // The console sets these as properties.
  set target(v) { this.setAttribute('target', v); }
  set rel(v) { this.setAttribute('rel', v); }
  set className(v) { this.setAttribute('class', v); }
  addEventListener(type) { this.listeners.push(type); }
  appendChild(c) {
    if (c instanceof Fragment) this.childNodes.push(...c.childNodes);
    else this.childNodes.push(c);
    return c;
  }
  append(...cs) { for (const c of cs) this.appendChild(typeof c === 'string' ? new Text(c) : c); }
  replaceChildren(...cs) { this.childNodes = []; this.append(...cs); }
  get lastChild() { return this.childNodes[this.childNodes.length - 1] ?? null; }
  set textContent(v) { this.childNodes = [new Text(v)]; }
}
class Fragment extends Element {
  constructor() { super('#fragment'); }
}
const fakeDocument = {
  createElement: (tag) => new Element(tag),
  createTextNode: (s) => new Text(s),
  createDocumentFragment: () => new Fragment(),
};

const escapeText = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const escapeAttr = (s) => escapeText(s).replace(/"/g, '&quot;');

/** The HTML a browser's serialiser would give for `n`. */
function html(n) {
  if (n instanceof Text) return escapeText(n.data);
  const tag = n.tagName.toLowerCase();
  const attrs = [...n.attrs].map(([k, v]) => ` ${k}="${escapeAttr(v)}"`).join('');
  return `<${tag}${attrs}>${n.childNodes.map(html).join('')}</${tag}>`;
}

/** The scheme a browser's URL parser finds in `href` (lower case), or null for a relative URL. */
function scheme(href) {
  // WHATWG URL: strip leading/trailing C0 controls and spaces, remove tabs and newlines.
  const s = href.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '').replace(/[\t\n\r]/g, '');
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(s);
  return m ? m[1].toLowerCase() : null;
}

// --------------------------------------------------------- the renderers

const CONSOLE_TAGS = new Set(['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'br', 'strong', 'em', 'code', 'pre', 'ul', 'ol', 'li', 'a', 'hr', 'blockquote', 'div']);
const WIDGET_TAGS = new Set(['h4', 'h5', 'h6', 'p', 'strong', 'em', 'code', 'pre', 'ul', 'ol', 'li', 'a', 'span', 'div']);

let renderers;

/** A function of the widget's source (its closing brace sits alone at two spaces' indent). */
function widgetFunction(source, name) {
  const start = source.indexOf(`  function ${name}(`);
  assert.ok(start >= 0, `widget.js has no function ${name}`);
  const end = source.indexOf('\n  }\n', start);
  assert.ok(end > start, `the end of function ${name}`);
  return source.slice(start, end + 4);
}

before(async () => {
  const { renderInto } = await import(join(REPO, 'crates/kefu-http/assets/console/lib/markdown.js'));
  const widget = readFileSync(join(REPO, 'crates/kefu-http/assets/widget.js'), 'utf8');
  // The real code, evaluated with the stand-in DOM.
  const widgetMarkdown = new Function(
    'document',
    `'use strict';\n${['h', 'markdown', 'inline'].map((f) => widgetFunction(widget, f)).join('\n')}\nreturn markdown;`,
  )(fakeDocument);
  globalThis.document = fakeDocument;
  renderers = [
    { name: 'console', tags: CONSOLE_TAGS, schemes: new Set(['http', 'https']), render: (src) => renderInto(new Element('div'), src) },
    { name: 'widget', tags: WIDGET_TAGS, schemes: new Set(['http', 'https', 'mailto']), render: (src) => widgetMarkdown(new Element('div'), src) },
  ];
});

/** Renders `src` with `r` and asserts the safety rules; `what` names the input in failures. */
function check(r, src, what) {
  const t0 = performance.now();
  let root;
  try {
    root = r.render(src);
  } catch (e) {
    assert.fail(`${r.name}: ${what}: threw ${e}`);
  }
  const ms = performance.now() - t0;
  assert.ok(ms < MAX_MS, `${r.name}: ${what}: ${ms.toFixed(0)} ms (over ${MAX_MS} ms)`);
  const walk = (n) => {
    if (n instanceof Text) return;
    const tag = n.tagName.toLowerCase();
    assert.ok(r.tags.has(tag), `${r.name}: ${what}: element <${tag}>`);
    assert.deepEqual(n.listeners, [], `${r.name}: ${what}: event listener on <${tag}>`);
    for (const [k, v] of n.attrs) {
      assert.ok(['href', 'target', 'rel', 'class'].includes(k), `${r.name}: ${what}: attribute ${k}`);
      if (k === 'href') {
        assert.equal(tag, 'a', `${r.name}: ${what}: href on <${tag}>`);
        assert.ok(r.schemes.has(scheme(v)), `${r.name}: ${what}: link to ${JSON.stringify(v)}`);
      }
    }
    if (tag === 'a') {
      assert.equal(n.getAttribute('target'), '_blank', `${r.name}: ${what}: link target`);
      assert.match(n.getAttribute('rel') ?? '', /noopener/, `${r.name}: ${what}: link rel`);
    }
    n.childNodes.forEach(walk);
  };
  walk(root);
  const out = html(root);
  // Belt and braces on the serialised form: no tag but the known ones, no
  // event-handler attribute, no dangerous scheme in an attribute.
  for (const m of out.matchAll(/<\/?([a-zA-Z][^\s>/]*)/g)) {
    assert.ok(r.tags.has(m[1].toLowerCase()), `${r.name}: ${what}: raw <${m[1]}> in ${out.slice(0, 200)}`);
  }
  assert.doesNotMatch(out, /<[^>]*\son[a-z]+\s*=/i, `${r.name}: ${what}: on* attribute`);
  assert.doesNotMatch(out, /<[^>]*\s(?:href|src)="\s*(?:javascript|vbscript|data):/i, `${r.name}: ${what}: dangerous URL`);
  return root;
}

test('every corpus input renders safely and in bounded time in both renderers', () => {
  for (const r of renderers) {
    for (const [what, src] of INPUTS) check(r, src, what);
  }
});

test('the safe parts of the corpus still render as Markdown', () => {
  // The rules above could be met by rendering nothing: a known-good link,
  // bold text and code still come out as elements.
  for (const r of renderers) {
    const root = check(r, '**bold** [ok](https://ok.example/a) `x`', 'sanity');
    const found = (n, tag) => n instanceof Element && (n.tagName === tag || n.childNodes.some((c) => found(c, tag)));
    for (const tag of ['STRONG', 'A', 'CODE']) assert.ok(found(root, tag), `${r.name}: no <${tag.toLowerCase()}>`);
    const link = check(r, '[x](javascript:alert(1))', 'dangerous link');
    assert.ok(!found(link, 'A'), `${r.name}: a javascript: link became an <a>`);
  }
});

// ------------------------------------------------------ property cases

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Markup tokens and hostile fragments the random inputs are built from. */
const PIECES = [
  '[', ']', '(', ')', '](', '![', '**', '__', '*', '_', '`', '```', '~~~', '<', '>', '> ', '- ', '1. ', '# ', '\\',
  '\n', '\n\n', '\r', '\t', ' ', '  ', '|', '&', '&#', '&#x6A;', ';', ':', '"', "'", '=',
  'javascript:', 'JaVaScRiPt:', 'java\tscript:', 'vbscript:', 'data:text/html,', 'mailto:', 'https://', 'http://', 'https:',
  'ok.example/', 'alert(1)', '<script>', '</script>', '<img src=x onerror=alert(1)>', ' onclick=', 'onmouseover="',
  '中文', 'مرحبا', '\u202e', '\u200b', '\u0000', '\u0001', '😀', 'e\u0301',
];

function randomInput(next) {
  const corpusBias = next() < 0.3;
  let s = corpusBias ? CORPUS.inputs[Math.floor(next() * CORPUS.inputs.length)] : '';
  const n = 1 + Math.floor(next() * 40);
  for (let i = 0; i < n; i++) {
    const piece = PIECES[Math.floor(next() * PIECES.length)];
    // Insert anywhere, so corpus entries get mutated rather than only extended.
    const at = Math.floor(next() * (s.length + 1));
    s = s.slice(0, at) + piece + s.slice(at);
  }
  return s;
}

test('seeded random mixes of markup and hostile pieces render safely', () => {
  const base = Number(process.env.KEFU_MD_SEED ?? 20261207);
  const cases = process.env.KEFU_MD_SEED ? 1 : RANDOM_CASES;
  for (let k = 0; k < cases; k++) {
    const seed = base + k;
    const src = randomInput(rng(seed));
    for (const r of renderers) check(r, src, `seed ${seed} ${JSON.stringify(src).slice(0, 300)}`);
  }
});
