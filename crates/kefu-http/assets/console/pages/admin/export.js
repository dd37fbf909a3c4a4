// Data export (owners only): the whole workspace as JSON Lines, or its
// conversations as CSV, from GET …/export.
//
// The file is read as it streams (fetch + a body reader), so the page can
// say how much has arrived — bytes and records so far — and then saves it
// (a Blob and an <a download>). A record is a line of JSON Lines, or a CSV
// row: a line break outside quotes, less the header. A download that breaks
// off is not saved (the server cuts the connection when it fails midway).

import { h, clear, toast } from '../../lib/dom.js';
import { t, fmtNumber } from '../../lib/i18n.js';
import { apiDownload, ApiError } from '../../lib/api.js';
import { errorText } from '../../lib/errors.js';
import { wsPath, pageFrame, card, lifecycle } from './common.js';

const FORMATS = {
  jsonl: { type: 'application/x-ndjson', label: 'admin.export.jsonl', hint: 'admin.export.jsonlHint' },
  csv: { type: 'text/csv', label: 'admin.export.csv', hint: 'admin.export.csvHint' },
};

export default {
  path: '#/admin/export',
  nav: 'nav.export',
  roles: ['owner'],
  render(root, ctx) {
    const life = lifecycle();
    const { body } = pageFrame(root, t('admin.export.title'), t('admin.export.intro'));
    const status = h('div', { class: 'export-status', role: 'status', 'aria-live': 'polite' });
    const cancel = h('button', { class: 'btn', type: 'button', hidden: true }, t('action.cancel'));
    let running = null; // the AbortController of the download under way

    const buttons = Object.entries(FORMATS).map(([format, f]) => {
      const btn = h('button', { class: 'btn btn-primary', type: 'button', dataset: { format } }, t(f.label));
      btn.addEventListener('click', () => start(format));
      return h('div', { class: 'export-format stack-sm' }, btn, h('p', { class: 'hint' }, t(f.hint)));
    });
    const c = card(t('admin.export.card'), h('div', { class: 'export-formats' }, buttons),
      h('div', { class: 'row' }, status, cancel));
    body.append(c.el);

    cancel.addEventListener('click', () => running && running.abort());
    life.add(() => running && running.abort());

    async function start(format) {
      if (running) return;
      running = new AbortController();
      const controls = body.querySelectorAll('button[data-format]');
      for (const b of controls) b.disabled = true;
      cancel.hidden = false;
      clear(status).append(t('admin.export.starting'));
      try {
        const saved = await download(ctx, format, running.signal, (bytes, records) => {
          if (life.alive()) clear(status).append(t('admin.export.receiving', { bytes: fmtBytes(bytes), records: fmtNumber(records) }));
        });
        if (!life.alive()) return;
        clear(status).append(h('strong', null, t('admin.export.done', {
          file: saved.filename, bytes: fmtBytes(saved.bytes), records: fmtNumber(saved.records),
        })));
        status.dataset.state = 'done';
      } catch (e) {
        if (!life.alive()) return;
        const text = e && e.name === 'AbortError' ? t('admin.export.cancelled')
          : e instanceof ApiError ? errorText(e) : t('admin.export.broken');
        clear(status).append(text);
        status.dataset.state = 'failed';
        if (e && e.name !== 'AbortError') toast(text, 'error');
      } finally {
        running = null;
        for (const b of controls) b.disabled = false;
        cancel.hidden = true;
      }
    }
    return life.stop;
  },
};

/**
 * Streams the export into memory, telling `progress(bytes, records)` as
 * chunks arrive, then saves it. Resolves to {filename, bytes, records}.
 */
async function download(ctx, format, signal, progress) {
  const res = await apiDownload(wsPath(ctx, `/export?format=${format}`), signal);
  const filename = attachmentName(res.headers.get('content-disposition')) || `kefu-export.${format}`;
  const reader = res.body.getReader();
  const count = recordCounter(format);
  const chunks = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    bytes += value.byteLength;
    count.feed(value);
    progress(bytes, count.records());
  }
  const url = URL.createObjectURL(new Blob(chunks, { type: FORMATS[format].type }));
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return { filename, bytes, records: count.records() };
}

/**
 * Counts records in the bytes seen so far. The bytes of `"` and a line
 * feed never occur inside a multi-byte UTF-8 character, so counting bytes
 * is safe; JSON escapes line breaks inside strings, CSV quotes them.
 */
export function recordCounter(format) {
  let lines = 0;
  let quoted = false;
  return {
    feed(bytes) {
      if (format === 'csv') {
        for (const b of bytes) {
          if (b === 0x22) quoted = !quoted;
          else if (b === 0x0a && !quoted) lines += 1;
        }
      } else {
        for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) lines += 1;
      }
    },
    // CSV: the first row is the header.
    records: () => (format === 'csv' ? Math.max(0, lines - 1) : lines),
  };
}

/** The `filename` of a `Content-Disposition: attachment; filename="…"`. */
function attachmentName(header) {
  const m = /filename="([^"]+)"/.exec(header || '');
  return m ? m[1] : '';
}

/** 1234567 → "1.2 MB" (binary multiples, the locale's digits). */
export function fmtBytes(n) {
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${fmtNumber(n, { maximumFractionDigits: i ? 1 : 0 })} ${units[i]}`;
}
