// The console's one small, safe Markdown renderer: the knowledge-base
// editor's preview, "test the bot", and the bot's answers in the
// conversation thread.
//
// Safety model: the source is parsed into a small tree of the few tags the
// renderer knows (h1-h6, p, br, strong, em, code, pre, ul, ol, li, a, hr,
// blockquote), and `renderInto()` builds DOM nodes from it: what the author
// (or a language model) wrote only ever becomes text nodes, never HTML, so
// it cannot become a tag or an attribute. Links are kept only for http(s)
// URLs; anything else (javascript:, data:, relative paths) stays plain text.
//
// Supported: ATX headings (# …), paragraphs, **bold**, *italic* / _italic_,
// `inline code`, fenced code blocks (```), "-"/"*"/"+" and "1." lists (one
// level), > quotes, --- rules, [text](http://…) links and bare http(s) URLs.
// `parseMarkdown()` needs no DOM: tests import it from Node.

// A node is a string (text) or {tag, href?, kids: [node]}.
const node = (tag, kids = [], href) => ({ tag, kids, href });

// One pass over a line, left to right; the earliest match wins:
// `code` | [text](url) | bare URL | **bold** | __bold__ | *italic* | _italic_.
// A link's text and URL have a length bound: without one, every `[` of a
// line of thousands would scan the rest of the line (seconds for 50,000).
const INLINE = /`([^`\n]+)`|\[([^\]\n]{1,500})\]\(([^)\s]{1,2000})\)|\b(https?:\/\/[^\s<>]*[^\s<>.,;:!?)])|\*\*([^*\n]+)\*\*|__([^_\n]+)__|\*([^*\n]+)\*|(?<!\w)_([^_\n]+)_(?!\w)/gi;

/** The inline nodes of one line (`inLink`: no links inside a link). */
function inline(text, inLink = false) {
  const out = [];
  // (Text next to text is one string.)
  const add = (n) => (typeof n === 'string' && typeof out[out.length - 1] === 'string' ? (out[out.length - 1] += n) : out.push(n));
  const re = new RegExp(INLINE.source, INLINE.flags);
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    if (m.index > last) add(text.slice(last, m.index));
    last = re.lastIndex;
    const [whole, code, label, url, bare, b1, b2, i1, i2] = m;
    if (code) add(node('code', [code]));
    else if (label) {
      // [text](url): http(s) only; otherwise it stays as written.
      add(!inLink && /^https?:\/\//i.test(url) ? node('a', inline(label, true), url) : whole);
    } else if (bare) add(inLink ? bare : node('a', [bare], bare));
    else if (b1 || b2) add(node('strong', inline(b1 || b2, inLink)));
    else add(node('em', inline(i1 || i2, inLink)));
  }
  if (last < text.length) add(text.slice(last));
  return out;
}

/** Lines joined with <br>, each rendered inline. */
function inlineLines(lines) {
  return lines.flatMap((l, i) => (i ? [node('br'), ...inline(l)] : inline(l)));
}

const LIST_ITEM = /^\s*(?:([-*+])|(\d{1,9})[.)])\s+(.*)$/;

// Quotes nest by recursion: deeper `>` markers stay text, so that a line of
// thousands of them cannot overflow the stack (or cost depth × length).
const MAX_QUOTE_DEPTH = 16;

/** Parses Markdown source into block nodes (`depth`: quotes around it). */
export function parseMarkdown(source, depth = 0) {
  const lines = String(source ?? '').replace(/\u0000/g, '').replace(/\r\n?/g, '\n').split('\n');
  const out = [];
  let para = [];
  let list = null; // { tag: 'ul' | 'ol', items: [] }
  let quote = [];

  const flushPara = () => {
    if (para.length) out.push(node('p', inlineLines(para)));
    para = [];
  };
  const flushList = () => {
    if (list) out.push(node(list.tag, list.items.map((i) => node('li', inline(i)))));
    list = null;
  };
  const flushQuote = () => {
    if (quote.length) out.push(node('blockquote', parseMarkdown(quote.join('\n'), depth + 1)));
    quote = [];
  };
  const flushAll = () => { flushPara(); flushList(); flushQuote(); };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^\s*```/.test(line)) {
      flushAll();
      const code = [];
      for (i++; i < lines.length && !/^\s*```/.test(lines[i]); i++) code.push(lines[i]);
      out.push(node('pre', [node('code', [code.join('\n')])]));
      continue;
    }
    if (/^\s*$/.test(line)) { flushAll(); continue; }
    const quoted = depth < MAX_QUOTE_DEPTH && line.match(/^\s*>\s?(.*)$/);
    if (quoted) { flushPara(); flushList(); quote.push(quoted[1]); continue; }
    flushQuote();
    const heading = line.match(/^\s*(#{1,6})\s+(.*?)\s*#*\s*$/);
    if (heading) {
      flushPara(); flushList();
      out.push(node(`h${heading[1].length}`, inline(heading[2])));
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { flushPara(); flushList(); out.push(node('hr')); continue; }
    const item = line.match(LIST_ITEM);
    if (item) {
      flushPara();
      const tag = item[1] ? 'ul' : 'ol';
      if (list && list.tag !== tag) flushList();
      if (!list) list = { tag, items: [] };
      list.items.push(item[3]);
      continue;
    }
    if (list && /^\s{2,}\S/.test(line)) {
      // A continuation line of the last item.
      list.items[list.items.length - 1] += ` ${line.trim()}`;
      continue;
    }
    flushList();
    para.push(line);
  }
  flushAll();
  return out;
}

function toDom(n) {
  if (typeof n === 'string') return document.createTextNode(n);
  const el = document.createElement(n.tag);
  if (n.tag === 'a') {
    el.setAttribute('href', n.href);
    el.target = '_blank';
    el.rel = 'noopener noreferrer';
  }
  for (const k of n.kids) el.append(toDom(k));
  return el;
}

/** Replaces the children of `el` with the rendered Markdown `source`; returns `el`. */
export function renderInto(el, source) {
  el.replaceChildren(...parseMarkdown(source).map(toDom));
  return el;
}
