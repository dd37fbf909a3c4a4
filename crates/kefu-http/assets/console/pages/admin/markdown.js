// A small, safe Markdown renderer for the knowledge-base editor's preview.
//
// Safety model: the source is HTML-escaped FIRST, so nothing the author
// typed can become a tag or an attribute; the renderer then only adds the
// few tags it knows (h1-h6, p, strong, em, code, pre, ul, ol, li, a, hr,
// blockquote). Links are kept only for http(s) URLs; anything else
// (javascript:, data:, relative paths) stays plain text.
//
// Supported: ATX headings (# …), paragraphs, **bold**, *italic* / _italic_,
// `inline code`, fenced code blocks (```), "-"/"*"/"+" and "1." lists (one
// level), > quotes, --- rules, [text](http://…) links and bare http(s) URLs.
// Pure functions, no DOM: also importable from Node for tests.

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes the five HTML-significant characters. */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// Placeholders for already-rendered fragments (code spans, links) so later
// inline rules do not touch them. \u0000 cannot appear in escaped text
// (it is stripped from the source first).
const HOLE = '\u0000';

/** Renders inline Markdown of one escaped line-group. */
function inline(escaped) {
  const held = [];
  const hold = (html) => `${HOLE}${held.push(html) - 1}${HOLE}`;
  let s = escaped;
  // `code` first: nothing inside it is formatted.
  s = s.replace(/`([^`\n]+)`/g, (_, code) => hold(`<code>${code}</code>`));
  // [text](url): http(s) only. The URL was escaped with the rest, so it
  // cannot close the attribute; `&amp;` inside href is valid HTML.
  s = s.replace(/\[([^\]\n]+)\]\(([^)\s]+)\)/g, (whole, text, url) =>
    /^https?:\/\//i.test(url)
      ? hold(`<a href="${url}" target="_blank" rel="noopener noreferrer">${text}</a>`)
      : whole,
  );
  // Bare URLs.
  s = s.replace(/\bhttps?:\/\/[^\s<]+[^\s<.,;:!?)]/gi, (url) =>
    hold(`<a href="${url}" target="_blank" rel="noopener noreferrer">${url}</a>`),
  );
  s = s.replace(/\*\*([^*\n]+)\*\*/g, '<strong>$1</strong>');
  s = s.replace(/__([^_\n]+)__/g, '<strong>$1</strong>');
  s = s.replace(/\*([^*\n]+)\*/g, '<em>$1</em>');
  s = s.replace(/(^|[^\w])_([^_\n]+)_(?!\w)/g, '$1<em>$2</em>');
  // Restore held fragments (links may hold code spans: loop until stable).
  const hole = new RegExp(`${HOLE}(\\d+)${HOLE}`, 'g');
  while (hole.test(s)) s = s.replace(hole, (_, i) => held[Number(i)]);
  return s;
}

const LIST_ITEM = /^\s*(?:([-*+])|(\d{1,9})[.)])\s+(.*)$/;

/** Renders Markdown source to an HTML string that is safe for innerHTML. */
export function renderMarkdown(source) {
  const lines = escapeHtml(String(source ?? '').replace(/\u0000/g, '').replace(/\r\n?/g, '\n')).split('\n');
  const out = [];
  let para = [];
  let list = null; // { tag: 'ul' | 'ol', items: [] }
  let quote = [];

  const flushPara = () => {
    if (para.length) out.push(`<p>${inline(para.join('\n')).replace(/\n/g, '<br>')}</p>`);
    para = [];
  };
  const flushList = () => {
    if (list) out.push(`<${list.tag}>${list.items.map((i) => `<li>${inline(i)}</li>`).join('')}</${list.tag}>`);
    list = null;
  };
  const flushQuote = () => {
    if (quote.length) out.push(`<blockquote>${renderMarkdownEscaped(quote)}</blockquote>`);
    quote = [];
  };
  const flushAll = () => { flushPara(); flushList(); flushQuote(); };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^\s*```/);
    if (fence) {
      flushAll();
      const code = [];
      for (i++; i < lines.length && !/^\s*```/.test(lines[i]); i++) code.push(lines[i]);
      out.push(`<pre><code>${code.join('\n')}</code></pre>`);
      continue;
    }
    if (/^\s*$/.test(line)) { flushAll(); continue; }
    const quoted = line.match(/^\s*&gt;\s?(.*)$/);
    if (quoted) { flushPara(); flushList(); quote.push(quoted[1]); continue; }
    flushQuote();
    const heading = line.match(/^\s*(#{1,6})\s+(.*?)\s*#*\s*$/);
    if (heading) {
      flushPara(); flushList();
      const n = heading[1].length;
      out.push(`<h${n}>${inline(heading[2])}</h${n}>`);
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { flushPara(); flushList(); out.push('<hr>'); continue; }
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
  return out.join('\n');
}

/** A quote's lines are already escaped: render them without escaping twice. */
function renderMarkdownEscaped(lines) {
  const unescaped = lines.join('\n').replace(/&(amp|lt|gt|quot|#39);/g, (e) =>
    ({ '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" })[e],
  );
  return renderMarkdown(unescaped);
}
